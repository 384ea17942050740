/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Detached signatures over the ops manifest (manifest.json + manifest.json.sig).
 *
 * The signature file holds the raw signature bytes over the exact bytes of
 * manifest.json, nothing else (no base64, no PEM, no trailing newline).  The
 * miniboss pins one public key in PEM (origin.manifest-pubkey).  Ed25519 is
 * the scheme ops uses (64-byte signatures, EVP_DigestSign with a NULL
 * digest); RSA-PSS over SHA-256 (salt = digest length) is accepted as an
 * alternative for sites whose key policy demands RSA (2048 bits or more).
 * Every other key type (EC, DSA, X25519, RSA-1024...) is refused, so a key
 * file swapped for another kind fails loudly instead of weakening checks.
 *
 * This is library code: it never logs and never touches DPDK.  Errors come
 * back as negative errno values; mb_sig_strerror() gives the sentence the
 * caller logs once.  Keys are immutable after load and may be shared by
 * threads; signing is only for the mb-manifest tool and tests.
 */
#ifndef _MB_SIG_H_
#define _MB_SIG_H_

#include <stddef.h>
#include <stdint.h>

#define MB_SIG_ED25519_LEN 64
#define MB_SIG_MAX_LEN 1024	   /* RSA-8192: 1024 bytes, the largest we accept */
#define MB_SIG_PEM_MAX (64 * 1024) /* a key file larger than this is not a key */

enum mb_sig_type {
	MB_SIG_ED25519 = 1,
	MB_SIG_RSA_PSS,
};

struct mb_sig_key;

/*
 * Load a public (or, with `private`, a private) key from PEM text of `len`
 * bytes.  Returns a new key the caller owns (mb_sig_key_free), or NULL with
 * errno: EINVAL (not PEM / garbage / empty), EPROTONOSUPPORT (a key type we
 * do not accept, or RSA under 2048 bits), EMSGSIZE (text over MB_SIG_PEM_MAX),
 * ENOMEM.
 */
struct mb_sig_key *mb_sig_key_from_pem(const void *pem, size_t len, int is_private);
/* The same from a file; errno also carries open/read errors (ENOENT...). */
struct mb_sig_key *mb_sig_key_load(const char *path, int is_private);
void mb_sig_key_free(struct mb_sig_key *k);
enum mb_sig_type mb_sig_key_type(const struct mb_sig_key *k);
/* Expected signature length in bytes for this key. */
size_t mb_sig_key_siglen(const struct mb_sig_key *k);

/*
 * Verify `sig` (siglen bytes) over msg.  0 when it matches; -EMSGSIZE when
 * siglen is not exactly the key's signature size (truncated or padded sig),
 * -EBADMSG when it does not verify, -EINVAL on bad arguments, -ENOMEM.
 * Constant work for a given key; never reads past the given lengths.
 */
int mb_sig_verify(const struct mb_sig_key *k, const void *msg, size_t len, const void *sig,
		  size_t siglen);

/*
 * Sign msg with a private key.  On success *ret_sig is a malloc'd buffer the
 * caller frees and *ret_siglen its length; 0 or -EINVAL/-ENOMEM/-EIO.
 */
int mb_sig_sign(const struct mb_sig_key *k, const void *msg, size_t len, uint8_t **ret_sig,
		size_t *ret_siglen);

/* Human sentence for an error returned by this module (negative errno). */
const char *mb_sig_strerror(int rc);

#endif /* _MB_SIG_H_ */
