/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * proto/mb_sig: detached manifest signatures under hostile input.  Keys are
 * generated in the test (Ed25519, RSA-2048 for PSS, and the kinds that must
 * be refused: EC P-256, X25519, RSA-1024); signatures are flipped, truncated,
 * padded, swapped between keys; PEM text is truncated, binary, empty, huge,
 * or a private key where a public one belongs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mb_manifest.h"
#include "mb_sig.h"

static const char manifest[] =
	"{\"format\":1,\"generated\":1700000000,\"images\":[{\"name\":\"emulab-ops/UBUNTU22\","
	"\"version\":3,\"size\":123,\"sha256\":"
	"\"0000000000000000000000000000000000000000000000000000000000000000\","
	"\"mtime\":1700000000,\"sites\":[\"utah\"]}]}\n";

/* PEM text of a key (public or private); malloc'd, NUL-terminated. */
static char *
pem_of(EVP_PKEY *pk, int priv, size_t *ret_len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_non_null(b);
	if (priv)
		assert_int_equal(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(b, pk), 1);
	n = BIO_get_mem_data(b, &p);
	out = malloc((size_t)n + 1);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	*ret_len = (size_t)n;
	BIO_free(b);
	return out;
}

struct keypair {
	struct mb_sig_key *pub, *priv;
};

static void
load_pair(EVP_PKEY *pk, struct keypair *kp)
{
	size_t l;
	char *t;

	t = pem_of(pk, 0, &l);
	kp->pub = mb_sig_key_from_pem(t, l, 0);
	free(t);
	t = pem_of(pk, 1, &l);
	kp->priv = mb_sig_key_from_pem(t, l, 1);
	free(t);
	assert_non_null(kp->pub);
	assert_non_null(kp->priv);
}

static void
free_pair(struct keypair *kp)
{
	mb_sig_key_free(kp->pub);
	mb_sig_key_free(kp->priv);
}

static void
check_roundtrip(struct keypair *kp, size_t want_len)
{
	uint8_t *sig, *big;
	size_t slen;

	assert_int_equal(mb_sig_sign(kp->priv, manifest, strlen(manifest), &sig, &slen), 0);
	assert_int_equal(slen, want_len);
	assert_int_equal(mb_sig_key_siglen(kp->pub), want_len);
	assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest), sig, slen), 0);

	/* one changed byte of the manifest, first and last */
	char *m = strdup(manifest);

	m[0] = '[';
	assert_int_equal(mb_sig_verify(kp->pub, m, strlen(m), sig, slen), -EBADMSG);
	strcpy(m, manifest);
	m[strlen(m) - 1] = ' ';
	assert_int_equal(mb_sig_verify(kp->pub, m, strlen(m), sig, slen), -EBADMSG);
	/* the manifest with its newline cut: signature is over exact bytes */
	assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest) - 1, sig, slen),
			 -EBADMSG);
	free(m);

	/* every bit of the signature matters */
	for (size_t i = 0; i < slen; i += 7) {
		sig[i] ^= 0x01;
		assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest), sig, slen),
				 -EBADMSG);
		sig[i] ^= 0x01;
	}
	/* truncated, empty, padded, NULL */
	assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest), sig, slen - 1),
			 -EMSGSIZE);
	assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest), sig, 0), -EMSGSIZE);
	assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest), NULL, slen),
			 -EMSGSIZE);
	big = calloc(1, slen + 1);
	memcpy(big, sig, slen);
	assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest), big, slen + 1),
			 -EMSGSIZE);
	/* all zeros / all ones of the right length */
	memset(big, 0, slen);
	assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest), big, slen),
			 -EBADMSG);
	memset(big, 0xff, slen);
	assert_int_equal(mb_sig_verify(kp->pub, manifest, strlen(manifest), big, slen),
			 -EBADMSG);
	free(big);
	/* a public key cannot sign */
	assert_int_equal(mb_sig_sign(kp->pub, manifest, 1, &big, &slen), -EINVAL);
	free(sig);
}

static void
test_ed25519(void **state)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct keypair kp;

	(void)state;
	load_pair(pk, &kp);
	assert_int_equal(mb_sig_key_type(kp.pub), MB_SIG_ED25519);
	check_roundtrip(&kp, MB_SIG_ED25519_LEN);
	/* empty message signs and verifies too */
	uint8_t *sig;
	size_t slen;

	assert_int_equal(mb_sig_sign(kp.priv, "", 0, &sig, &slen), 0);
	assert_int_equal(mb_sig_verify(kp.pub, "", 0, sig, slen), 0);
	free(sig);
	free_pair(&kp);
	EVP_PKEY_free(pk);
}

static void
test_rsa_pss(void **state)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct keypair kp;

	(void)state;
	assert_non_null(pk);
	load_pair(pk, &kp);
	assert_int_equal(mb_sig_key_type(kp.pub), MB_SIG_RSA_PSS);
	check_roundtrip(&kp, 256);
	free_pair(&kp);
	EVP_PKEY_free(pk);
}

/* A signature made by another key (same type, or another type of the same
 * length) never verifies. */
static void
test_wrong_key(void **state)
{
	EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct keypair ka, kb;
	uint8_t *sig;
	size_t slen;

	(void)state;
	load_pair(a, &ka);
	load_pair(b, &kb);
	assert_int_equal(mb_sig_sign(ka.priv, manifest, strlen(manifest), &sig, &slen), 0);
	assert_int_equal(mb_sig_verify(kb.pub, manifest, strlen(manifest), sig, slen), -EBADMSG);
	assert_int_equal(mb_sig_verify(ka.pub, manifest, strlen(manifest), sig, slen), 0);
	free(sig);
	free_pair(&ka);
	free_pair(&kb);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void
expect_refused_type(EVP_PKEY *pk)
{
	size_t l;
	char *t;

	assert_non_null(pk);
	t = pem_of(pk, 0, &l);
	errno = 0;
	assert_null(mb_sig_key_from_pem(t, l, 0));
	assert_int_equal(errno, EPROTONOSUPPORT);
	free(t);
	t = pem_of(pk, 1, &l);
	errno = 0;
	assert_null(mb_sig_key_from_pem(t, l, 1));
	assert_int_equal(errno, EPROTONOSUPPORT);
	free(t);
	EVP_PKEY_free(pk);
}

static void
test_wrong_key_type(void **state)
{
	(void)state;
	expect_refused_type(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	expect_refused_type(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"));
	expect_refused_type(EVP_PKEY_Q_keygen(NULL, NULL, "ED448"));
	expect_refused_type(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024));
	assert_non_null(mb_sig_strerror(-EPROTONOSUPPORT));
}

static void
expect_garbage(const void *pem, size_t len, int priv, int want_errno)
{
	errno = 0;
	assert_null(mb_sig_key_from_pem(pem, len, priv));
	assert_int_equal(errno, want_errno);
}

static void
test_garbage_pem(void **state)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	static const char hdr[] = "-----BEGIN PUBLIC KEY-----\n";
	char *good, *bad;
	size_t l, biglen = MB_SIG_PEM_MAX + 1;

	(void)state;
	good = pem_of(pk, 0, &l);
	expect_garbage("", 0, 0, EINVAL);
	expect_garbage(NULL, 10, 0, EINVAL);
	expect_garbage("hello world\n", 12, 0, EINVAL);
	expect_garbage(hdr, strlen(hdr), 0, EINVAL);
	/* truncated in the middle of the base64 and just before the END line */
	expect_garbage(good, l / 2, 0, EINVAL);
	expect_garbage(good, l - 20, 0, EINVAL);
	/* a NUL inside (binary file) */
	bad = strdup(good);
	bad[30] = '\0';
	expect_garbage(bad, l, 0, EINVAL);
	/* one base64 character changed inside the key body */
	strcpy(bad, good);
	bad[strlen(hdr) + 4] = bad[strlen(hdr) + 4] == 'A' ? '!' : 'A';
	errno = 0;
	struct mb_sig_key *k = mb_sig_key_from_pem(bad, l, 0);

	/* either refused, or (changed bits of the DER) a different key; never a crash */
	mb_sig_key_free(k);
	free(bad);
	/* a private key PEM where a public one is expected, and vice versa */
	{
		size_t pl;
		char *priv = pem_of(pk, 1, &pl);

		expect_garbage(priv, pl, 0, EINVAL);
		expect_garbage(good, l, 1, EINVAL);
		free(priv);
	}
	/* far too large */
	bad = malloc(biglen);
	memset(bad, 'A', biglen);
	expect_garbage(bad, biglen, 0, EMSGSIZE);
	free(bad);
	/* the file path: missing, a directory, empty */
	errno = 0;
	assert_null(mb_sig_key_load("/nonexistent/ops.pub", 0));
	assert_int_equal(errno, ENOENT);
	assert_null(mb_sig_key_load("/", 0));
	assert_null(mb_sig_key_load("/dev/null", 0));
	free(good);
	EVP_PKEY_free(pk);
}

static void
test_load_file(void **state)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char path[] = "/tmp/mb-test-sig-XXXXXX";
	struct mb_sig_key *k;
	size_t l;
	char *t;
	int fd;

	(void)state;
	t = pem_of(pk, 0, &l);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, t, l), (ssize_t)l);
	close(fd);
	k = mb_sig_key_load(path, 0);
	assert_non_null(k);
	assert_int_equal(mb_sig_key_type(k), MB_SIG_ED25519);
	mb_sig_key_free(k);
	unlink(path);
	free(t);
	EVP_PKEY_free(pk);
}

/*
 * What the sync does with a fetched manifest: check the signature over the
 * exact bytes, then parse.  A correctly signed manifest may still be hostile
 * (a compromised or buggy ops script): the parser must refuse it cleanly.
 * And a good manifest with a bad signature is refused before parsing.
 */
#define H "0000000000000000000000000000000000000000000000000000000000000000"
#define E(name, rest) "{\"name\":" name ",\"version\":1,\"size\":10,\"sha256\":\"" H "\"," \
	"\"mtime\":1" rest "}"

static int
signed_then_parsed(struct keypair *kp, const char *text)
{
	struct mb_manifest_limits lim = { .max_bytes = 1 << 20, .max_images = 16,
					  .max_image_size = 1ull << 40 };
	struct mb_manifest m = { 0 };
	char err[MB_MANIFEST_ERRLEN];
	uint8_t *sig;
	size_t slen;
	int rc;

	assert_int_equal(mb_sig_sign(kp->priv, text, strlen(text), &sig, &slen), 0);
	assert_int_equal(mb_sig_verify(kp->pub, text, strlen(text), sig, slen), 0);
	free(sig);
	err[0] = '\0';
	rc = mb_manifest_parse(text, strlen(text), &lim, &m, err, sizeof(err));
	if (rc < 0)
		assert_true(err[0] != '\0'); /* a clear reason for the log line */
	mb_manifest_done(&m);
	return rc;
}

static void
test_signed_hostile_manifest(void **state)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	static const char *const bad[] = {
		/* huge numbers */
		"{\"format\":1,\"generated\":1,\"images\":[{\"name\":\"a\",\"version\":1,"
		"\"size\":99999999999999999999999,\"sha256\":\"" H "\",\"mtime\":1}]}",
		"{\"format\":1,\"generated\":1,\"images\":[{\"name\":\"a\",\"version\":-1,"
		"\"size\":10,\"sha256\":\"" H "\",\"mtime\":1}]}",
		"{\"format\":1,\"generated\":1,\"images\":[{\"name\":\"a\",\"version\":1,"
		"\"size\":2000000000000000,\"sha256\":\"" H "\",\"mtime\":1}]}",
		/* duplicate names */
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"a\"", "") "," E("\"a\"", "") "]}",
		/* path components */
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"../etc/passwd\"", "") "]}",
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"/abs\"", "") "]}",
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"a/./b\"", "") "]}",
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"a//b\"", "") "]}",
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"a\\u0000b\"", "") "]}",
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"\"", "") "]}",
		/* wrong types */
		"{\"format\":1,\"generated\":1,\"images\":[" E("7", "") "]}",
		"{\"format\":1,\"generated\":1,\"images\":{}}",
		"{\"format\":\"1\",\"generated\":1,\"images\":[]}",
		"{\"format\":1,\"generated\":1,\"images\":[{\"name\":\"a\",\"version\":\"1\","
		"\"size\":10,\"sha256\":\"" H "\",\"mtime\":1}]}",
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"a\"", ",\"sites\":\"utah\"") "]}",
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"a\"", ",\"sites\":[1]") "]}",
		"[]",
		"",
		"{\"format\":2,\"generated\":1,\"images\":[]}",
		/* bad hex */
		"{\"format\":1,\"generated\":1,\"images\":[{\"name\":\"a\",\"version\":1,"
		"\"size\":10,\"sha256\":\"XYZ\",\"mtime\":1}]}",
		/* truncated JSON */
		"{\"format\":1,\"generated\":1,\"images\":[" E("\"a\"", ""),
	};
	struct keypair kp;

	(void)state;
	load_pair(pk, &kp);
	assert_int_equal(signed_then_parsed(&kp, manifest), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = signed_then_parsed(&kp, bad[i]);

		if (rc == 0)
			fail_msg("hostile manifest %zu accepted: %s", i, bad[i]);
	}
	/* more images than max-images, all well formed */
	{
		size_t cap = 64 * 1024, o = 0;
		char *big = malloc(cap);

		o += (size_t)snprintf(big + o, cap - o,
				      "{\"format\":1,\"generated\":1,\"images\":[");
		for (int i = 0; i < 20; i++)
			o += (size_t)snprintf(big + o, cap - o, "%s" E("\"img%d\"", ""),
					      i ? "," : "", i);
		snprintf(big + o, cap - o, "]}");
		assert_true(signed_then_parsed(&kp, big) < 0);
		free(big);
	}
	free_pair(&kp);
	EVP_PKEY_free(pk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ed25519),
		cmocka_unit_test(test_rsa_pss),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_wrong_key_type),
		cmocka_unit_test(test_garbage_pem),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_signed_hostile_manifest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
