/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for manifest signatures (proto/mb_sig.c).
 *
 * The first input byte chooses the mode.  Even: the rest is a PEM public
 * key (hostile key files); any key that loads must report a type and a
 * signature length, and verify garbage without crashing.  Odd: the rest is
 * a signature (and the message it covers, split by the second byte) checked
 * against a fixed Ed25519 key generated once per process; only the real
 * signature may verify.  Also built by tests/unit/test_garbage.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mb_sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One Ed25519 key pair, the public half loaded through the module. */
static struct mb_sig_key *
test_key(void)
{
	static struct mb_sig_key *pub;
	EVP_PKEY *pk = NULL;
	BIO *b;
	char *pem;
	long n;

	if (pub != NULL)
		return pub;
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	b = BIO_new(BIO_s_mem());
	if (pk == NULL || b == NULL || PEM_write_bio_PUBKEY(b, pk) != 1)
		abort();
	n = BIO_get_mem_data(b, &pem);
	pub = mb_sig_key_from_pem(pem, (size_t)n, 0);
	BIO_free(b);
	EVP_PKEY_free(pk);
	if (pub == NULL)
		abort();
	return pub;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_sig_key *k;
	size_t split;
	int rc;

	if (size < 2)
		return 0;
	if ((data[0] & 1) == 0) {
		errno = 0;
		k = mb_sig_key_from_pem(data + 1, size - 1, data[1] & 1);
		if (k == NULL) {
			if (errno == 0)
				abort();
			return 0;
		}
		if (mb_sig_key_siglen(k) == 0 || mb_sig_key_type(k) == 0)
			abort();
		rc = mb_sig_verify(k, data, size, data, size);
		if (rc == 0)
			abort();
		mb_sig_key_free(k);
		return 0;
	}
	k = test_key();
	split = data[1] % (size - 1);
	rc = mb_sig_verify(k, data + 2 + split, size - 2 - split, data + 2, split);
	if (rc != -EMSGSIZE && rc != -EBADMSG)
		abort();
	if (rc == -EMSGSIZE && split == mb_sig_key_siglen(k))
		abort();
	(void)mb_sig_strerror(rc);
	return 0;
}
