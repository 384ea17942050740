/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image manifest: the list of images a store holds, in exactly the format
 * ops publishes, so the local <state-dir>/manifest.json and the one fetched
 * from ops share this parser and writer:
 *
 *   {"format":1,"generated":<unix s>,"images":[{"name":"emulab-ops/UBUNTU22",
 *    "version":3,"size":123,"sha256":"<64 lowercase hex>","mtime":1700000000,
 *    "sites":["utah"]}]}
 *
 * "sites" is optional and unknown keys are ignored.  Also optional,
 * "chunk_sha256": the SHA-256 of each 1 MiB chunk of the image (a Frisbee
 * chunk; the last one is the remainder), as 64 lowercase hex digits each, in
 * order: exactly ceil(size / 1 MiB) of them.  Sync verifies each chunk with
 * it as it arrives and serves it before the whole image is there.  The
 * parser treats its input as hostile: the byte size, the image count, each
 * size, the sites and the chunk list are bounded before anything is
 * allocated for them, and every error comes back as one line of text.  Also here: incremental file verification
 * (size + SHA-256) so a caller can hash a big file in slices.  DPDK-free,
 * never logs.
 */
#ifndef _MB_MANIFEST_H_
#define _MB_MANIFEST_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mb_image.h"

#define MB_MANIFEST_FORMAT 1
#define MB_MANIFEST_MAX_SITES 64
#define MB_MANIFEST_SITE_MAX 255
#define MB_MANIFEST_ERRLEN 256
#define MB_MANIFEST_CHUNK (UINT64_C(1) << 20) /* "chunk_sha256": bytes per chunk */
#define MB_MANIFEST_MAX_CHUNKS (1u << 20) /* ... at most this many (1 TiB) */

struct mb_manifest_entry {
	char name[MB_IMAGE_NAME_MAX + 1];
	uint64_t version;
	uint64_t size;
	uint8_t sha256[MB_SHA256_LEN];
	int64_t mtime;
	uint32_t nsites;
	char **sites; /* owned; NULL when the entry has no "sites" key */
	/* "chunk_sha256": nchunks digests, ceil(size / MB_MANIFEST_CHUNK) of
	 * them; owned; NULL (and 0) when the entry has none */
	uint32_t nchunks;
	uint8_t (*chunks)[MB_SHA256_LEN];
};

struct mb_manifest {
	int64_t generated;
	uint32_t count;
	uint32_t cap;
	struct mb_manifest_entry *entries; /* owned, in file order */
};

struct mb_manifest_limits {
	uint64_t max_bytes;	 /* of the serialized manifest, 0 = 64 MiB */
	uint64_t max_images;	 /* 0 = 65536 */
	uint64_t max_image_size; /* 0 = unlimited */
};

/* Parse `len` bytes at `buf` into *ret (which the caller later frees with
 * mb_manifest_done; on error *ret is left empty).  0 or -EINVAL/-E2BIG/
 * -ENOMEM with a message in err. */
int mb_manifest_parse(const char *buf, size_t len, const struct mb_manifest_limits *lim,
		      struct mb_manifest *ret, char *err, size_t errlen);
/* Read and parse a file.  -ENOENT when it does not exist (err set too). */
int mb_manifest_load_file(const char *path, const struct mb_manifest_limits *lim,
			  struct mb_manifest *ret, char *err, size_t errlen);
/* The manifest as JSON (new reference) or NULL on ENOMEM. */
json_t *mb_manifest_to_json(const struct mb_manifest *m);
/* Write atomically: <path>.tmp, fsync, rename over path, fsync the directory.
 * The rename is the commit: 0 written; -errno nothing changed (path holds
 * what it held, the temporary file is gone); 1 written, but the fsync of
 * the directory after the rename failed (path has the new content, which a
 * power loss might still undo), so a caller must not act as if it failed. */
int mb_manifest_write_file(const struct mb_manifest *m, const char *path);
void mb_manifest_done(struct mb_manifest *m);
/* Deep copies. 0 or -ENOMEM. */
int mb_manifest_copy(struct mb_manifest *dst, const struct mb_manifest *src);
int mb_manifest_entry_copy(struct mb_manifest_entry *dst, const struct mb_manifest_entry *src);
void mb_manifest_entry_done(struct mb_manifest_entry *e);
/* Lookup by name, NULL if absent. */
struct mb_manifest_entry *mb_manifest_find(const struct mb_manifest *m, const char *name);
/* Add (deep copy) or replace the entry of the same name.  0 or -ENOMEM. */
int mb_manifest_set(struct mb_manifest *m, const struct mb_manifest_entry *e);
/* Remove by name.  0 or -ENOENT. */
int mb_manifest_remove(struct mb_manifest *m, const char *name);
/* True if the entry applies to `site` (no sites list, empty site, or listed). */
bool mb_manifest_entry_for_site(const struct mb_manifest_entry *e, const char *site);
/* Chunks of 1 MiB an image of `size` bytes has (what "chunk_sha256" lists). */
static inline uint64_t
mb_manifest_chunks_for(uint64_t size)
{
	return (size + MB_MANIFEST_CHUNK - 1) / MB_MANIFEST_CHUNK;
}
/* Same name, version, size, sha256 and mtime (the chunk list follows from
 * the content the sha256 names, so it is not compared). */
bool mb_manifest_entry_same(const struct mb_manifest_entry *a, const struct mb_manifest_entry *b);

/* Hex helpers: 64 lowercase hex chars <-> 32 bytes.  decode: 0 or -EINVAL. */
int mb_sha256_from_hex(const char *hex, size_t len, uint8_t out[MB_SHA256_LEN]);
void mb_sha256_to_hex(const uint8_t in[MB_SHA256_LEN], char out[2 * MB_SHA256_LEN + 1]);

/*
 * Incremental verification of a file against (size, sha256).  open checks
 * that the file exists and has exactly `size` bytes; each step hashes up to
 * `slice` bytes (and, when `copy_to` is not NULL, copies them to
 * copy_to + offset); the last step compares the digest.  Steps return 1 when
 * finished and verified, 0 when more remains, or -errno with a reason in
 * v->err (-EIO read error, -EBADMSG checksum mismatch, -EFBIG/-ENODATA the
 * file grew/shrank).  Not thread-safe per object; done() always frees.
 */
struct mb_verify {
	int fd;
	void *md; /* EVP_MD_CTX */
	uint64_t size;
	uint64_t off;
	uint8_t want[MB_SHA256_LEN];
	char err[MB_MANIFEST_ERRLEN];
};

int mb_verify_open(struct mb_verify *v, const char *path, uint64_t size,
		   const uint8_t want[MB_SHA256_LEN]);
int mb_verify_step(struct mb_verify *v, uint8_t *copy_to, size_t slice);
void mb_verify_done(struct mb_verify *v);
/* Whole file in one call (tests, tools).  0 or -errno, reason in err. */
int mb_verify_file(const char *path, uint64_t size, const uint8_t want[MB_SHA256_LEN], char *err,
		   size_t errlen);

#endif /* _MB_MANIFEST_H_ */
