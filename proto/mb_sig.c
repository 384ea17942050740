/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Detached manifest signatures with OpenSSL 3 EVP; see mb_sig.h.  The key
 * type is checked once at load time, so verification cannot silently fall
 * back to a weaker scheme.  OpenSSL's error queue is cleared on every
 * failure path: callers see one errno, not a stale queue on a later call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "mb_file.h"
#include "mb_sig.h"

struct mb_sig_key {
	EVP_PKEY *pkey;
	enum mb_sig_type type;
	size_t siglen;
	int is_private;
};

struct mb_sig_key *
mb_sig_key_from_pem(const void *pem, size_t len, int is_private)
{
	struct mb_sig_key *k;
	EVP_PKEY *pkey;
	BIO *bio;
	int id;

	if (pem == NULL || len == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (len > MB_SIG_PEM_MAX) {
		errno = EMSGSIZE;
		return NULL;
	}
	/* PEM text is ASCII: an embedded NUL means a binary or truncated file. */
	if (memchr(pem, '\0', len) != NULL) {
		errno = EINVAL;
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (is_private)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	else
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (pkey == NULL) {
		errno = EINVAL;
		return NULL;
	}

	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		EVP_PKEY_free(pkey);
		errno = ENOMEM;
		return NULL;
	}
	k->pkey = pkey;
	k->is_private = is_private;
	id = EVP_PKEY_get_base_id(pkey);
	if (id == EVP_PKEY_ED25519) {
		k->type = MB_SIG_ED25519;
		k->siglen = MB_SIG_ED25519_LEN;
	} else if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) &&
		   EVP_PKEY_get_bits(pkey) >= 2048 && EVP_PKEY_get_size(pkey) > 0 &&
		   EVP_PKEY_get_size(pkey) <= MB_SIG_MAX_LEN) {
		k->type = MB_SIG_RSA_PSS;
		k->siglen = (size_t)EVP_PKEY_get_size(pkey);
	} else {
		mb_sig_key_free(k);
		errno = EPROTONOSUPPORT;
		return NULL;
	}
	return k;
}

struct mb_sig_key *
mb_sig_key_load(const char *path, int is_private)
{
	struct mb_sig_key *k;
	size_t got;
	char *buf;
	int rc, err;

	rc = mb_file_read_all(path, MB_SIG_PEM_MAX, &buf, &got);
	if (rc < 0) {
		errno = rc == -EFBIG ? EMSGSIZE : -rc;
		return NULL;
	}
	if (got == 0) {
		free(buf);
		errno = EINVAL;
		return NULL;
	}
	k = mb_sig_key_from_pem(buf, got, is_private);
	err = errno;
	OPENSSL_cleanse(buf, got);
	free(buf);
	errno = err;
	return k;
}

void
mb_sig_key_free(struct mb_sig_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum mb_sig_type
mb_sig_key_type(const struct mb_sig_key *k)
{
	return k->type;
}

size_t
mb_sig_key_siglen(const struct mb_sig_key *k)
{
	return k->siglen;
}

/* Set up ctx for the key's scheme; sign or verify. */
static int
sig_init(const struct mb_sig_key *k, EVP_MD_CTX *ctx, int sign)
{
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = k->type == MB_SIG_ED25519 ? NULL : EVP_sha256();
	int rc;

	if (sign)
		rc = EVP_DigestSignInit(ctx, &pctx, md, NULL, k->pkey);
	else
		rc = EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k->pkey);
	if (rc != 1)
		return -EIO;
	if (k->type == MB_SIG_RSA_PSS) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)
			return -EIO;
	}
	return 0;
}

int
mb_sig_verify(const struct mb_sig_key *k, const void *msg, size_t len, const void *sig,
	      size_t siglen)
{
	EVP_MD_CTX *ctx;
	int rc;

	if (k == NULL || (msg == NULL && len > 0))
		return -EINVAL;
	if (sig == NULL || siglen != k->siglen)
		return -EMSGSIZE;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	rc = sig_init(k, ctx, 0);
	if (rc == 0)
		rc = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1 ? 0 : -EBADMSG;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int
mb_sig_sign(const struct mb_sig_key *k, const void *msg, size_t len, uint8_t **ret_sig,
	    size_t *ret_siglen)
{
	EVP_MD_CTX *ctx;
	uint8_t *sig;
	size_t siglen;
	int rc;

	if (k == NULL || !k->is_private || (msg == NULL && len > 0))
		return -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	rc = sig_init(k, ctx, 1);
	siglen = k->siglen;
	sig = rc == 0 ? malloc(siglen) : NULL;
	if (rc == 0 && sig == NULL)
		rc = -ENOMEM;
	if (rc == 0 && EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1)
		rc = -EIO;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	if (rc != 0) {
		free(sig);
		return rc;
	}
	*ret_sig = sig;
	*ret_siglen = siglen;
	return 0;
}

const char *
mb_sig_strerror(int rc)
{
	switch (rc) {
	case 0:
		return "signature ok";
	case -EMSGSIZE:
		return "signature has the wrong length (truncated or not a signature)";
	case -EBADMSG:
		return "signature does not match the manifest";
	case -EPROTONOSUPPORT:
		return "key type not accepted (need Ed25519 or RSA >= 2048 bits)";
	case -EINVAL:
		return "not a PEM key (garbage, empty or wrong kind)";
	case -ENOMEM:
		return "out of memory";
	case -ENOENT:
		return "key file not found";
	default:
		return "signature check failed";
	}
}
