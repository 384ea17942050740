/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Manifest parsing and writing, and incremental file verification (see
 * mb_manifest.h).  Parsing goes through jansson with JSON_REJECT_DUPLICATES
 * after a byte-size check, so a hostile manifest costs at most max_bytes of
 * parse tree; the entries array is sized from a bounded count.  Nothing here
 * logs or touches anything but the files it is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "mb_cleanup.h"
#include "mb_file.h"
#include "mb_manifest.h"

#define DEF_MAX_BYTES (64ULL << 20)
#define DEF_MAX_IMAGES 65536

/* The error, one printable line: jansson's text quotes the bytes it choked
 * on, which come from the peer (ops, a parent, the disk) and end up in the
 * log and in health; control bytes become '?'. */
static int
seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		for (char *p = err; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return rc;
}

void
mb_manifest_entry_done(struct mb_manifest_entry *e)
{
	for (uint32_t i = 0; i < e->nsites; i++)
		free(e->sites[i]);
	free(e->sites);
	e->sites = NULL;
	e->nsites = 0;
	free(e->chunks);
	e->chunks = NULL;
	e->nchunks = 0;
}

void
mb_manifest_done(struct mb_manifest *m)
{
	for (uint32_t i = 0; i < m->count; i++)
		mb_manifest_entry_done(&m->entries[i]);
	free(m->entries);
	memset(m, 0, sizeof(*m));
}

int
mb_sha256_from_hex(const char *hex, size_t len, uint8_t out[MB_SHA256_LEN])
{
	if (len != 2 * MB_SHA256_LEN)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = hex[i];
		int v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -EINVAL;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

void
mb_sha256_to_hex(const uint8_t in[MB_SHA256_LEN], char out[2 * MB_SHA256_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < MB_SHA256_LEN; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * MB_SHA256_LEN] = '\0';
}

/* A non-negative JSON integer. */
static int
get_u64(json_t *o, const char *key, bool required, uint64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return required ? -ENOENT : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

/* "chunk_sha256" of e (size known): absent, or exactly the chunk count in
 * valid hex. */
static int
parse_chunks(json_t *o, struct mb_manifest_entry *e, char *err, size_t errlen)
{
	json_t *arr = json_object_get(o, "chunk_sha256");
	uint64_t want = mb_manifest_chunks_for(e->size);
	size_t n;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return seterr(err, errlen, -EINVAL, "image '%s': \"chunk_sha256\" is not an array",
		              e->name);
	n = json_array_size(arr);
	if (n > MB_MANIFEST_MAX_CHUNKS)
		return seterr(err, errlen, -E2BIG, "image '%s': %zu chunk digests, limit %u",
		              e->name, n, MB_MANIFEST_MAX_CHUNKS);
	if (n != want)
		return seterr(err, errlen, -EINVAL,
		              "image '%s': \"chunk_sha256\" lists %zu chunks, its size %" PRIu64
		              " makes %" PRIu64, e->name, n, e->size, want);
	if (n == 0)
		return 0;
	e->chunks = calloc(n, sizeof(e->chunks[0]));
	if (e->chunks == NULL)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);

		if (!json_is_string(v) || mb_sha256_from_hex(json_string_value(v),
		                                             json_string_length(v), e->chunks[i]) != 0)
			return seterr(err, errlen, -EINVAL,
			              "image '%s': chunk_sha256[%zu] must be 64 lowercase hex digits",
			              e->name, i);
	}
	e->nchunks = (uint32_t)n;
	return 0;
}

static int
parse_entry(json_t *o, uint32_t idx, const struct mb_manifest_limits *lim,
            struct mb_manifest_entry *e, char *err, size_t errlen)
{
	json_t *v, *sites;
	const char *name;
	size_t nlen;
	int rc;

	if (!json_is_object(o))
		return seterr(err, errlen, -EINVAL, "images[%u]: not an object", idx);
	v = json_object_get(o, "name");
	if (!json_is_string(v))
		return seterr(err, errlen, -EINVAL, "images[%u]: \"name\" missing or not a string",
		              idx);
	name = json_string_value(v);
	nlen = json_string_length(v);
	if (strlen(name) != nlen || !mb_image_name_valid(name, nlen))
		return seterr(err, errlen, -EINVAL, "images[%u]: invalid image name", idx);
	memcpy(e->name, name, nlen + 1);

	rc = get_u64(o, "version", true, &e->version);
	if (rc != 0)
		return seterr(err, errlen, -EINVAL,
		              "image '%s': \"version\" missing or not a non-negative integer",
		              e->name);
	rc = get_u64(o, "size", true, &e->size);
	if (rc != 0)
		return seterr(err, errlen, -EINVAL,
		              "image '%s': \"size\" missing or not a non-negative integer",
		              e->name);
	if (lim->max_image_size != 0 && e->size > lim->max_image_size)
		return seterr(err, errlen, -E2BIG, "image '%s': size %" PRIu64 " exceeds %" PRIu64,
		              e->name, e->size, lim->max_image_size);
	v = json_object_get(o, "sha256");
	if (!json_is_string(v) ||
	    mb_sha256_from_hex(json_string_value(v), json_string_length(v), e->sha256) != 0)
		return seterr(err, errlen, -EINVAL,
		              "image '%s': \"sha256\" must be 64 lowercase hex digits", e->name);
	v = json_object_get(o, "mtime");
	if (!json_is_integer(v))
		return seterr(err, errlen, -EINVAL,
		              "image '%s': \"mtime\" missing or not an integer", e->name);
	e->mtime = (int64_t)json_integer_value(v);
	rc = parse_chunks(o, e, err, errlen);
	if (rc != 0)
		return rc;

	sites = json_object_get(o, "sites");
	if (sites == NULL)
		return 0;
	if (!json_is_array(sites))
		return seterr(err, errlen, -EINVAL, "image '%s': \"sites\" is not an array",
		              e->name);
	if (json_array_size(sites) > MB_MANIFEST_MAX_SITES)
		return seterr(err, errlen, -E2BIG, "image '%s': more than %d sites", e->name,
		              MB_MANIFEST_MAX_SITES);
	e->sites = calloc(json_array_size(sites) + 1, sizeof(e->sites[0]));
	if (e->sites == NULL)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(sites); i++) {
		v = json_array_get(sites, i);
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > MB_MANIFEST_SITE_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return seterr(err, errlen, -EINVAL,
			              "image '%s': sites[%zu] is not a site name", e->name, i);
		e->sites[e->nsites] = strdup(json_string_value(v));
		if (e->sites[e->nsites] == NULL)
			return seterr(err, errlen, -ENOMEM, "out of memory");
		e->nsites++;
	}
	return 0;
}

int
mb_manifest_parse(const char *buf, size_t len, const struct mb_manifest_limits *lim_in,
                  struct mb_manifest *ret, char *err, size_t errlen)
{
	struct mb_manifest_limits lim = {0};
	struct mb_manifest m = {0};
	json_error_t jerr;
	json_auto_t *root = NULL;
	json_t *v, *images;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (lim_in != NULL)
		lim = *lim_in;
	if (lim.max_bytes == 0)
		lim.max_bytes = DEF_MAX_BYTES;
	if (lim.max_images == 0)
		lim.max_images = DEF_MAX_IMAGES;
	if (len > lim.max_bytes)
		return seterr(err, errlen, -E2BIG, "manifest is %zu bytes, limit %" PRIu64, len,
		              lim.max_bytes);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return seterr(err, errlen, -EINVAL, "line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(root))
		return seterr(err, errlen, -EINVAL, "top level is not an object");
	v = json_object_get(root, "format");
	if (!json_is_integer(v) || json_integer_value(v) != MB_MANIFEST_FORMAT)
		return seterr(err, errlen, -EINVAL, "\"format\" must be %d", MB_MANIFEST_FORMAT);
	v = json_object_get(root, "generated");
	if (v != NULL && !json_is_integer(v))
		return seterr(err, errlen, -EINVAL, "\"generated\" is not an integer");
	m.generated = v != NULL ? (int64_t)json_integer_value(v) : 0;
	images = json_object_get(root, "images");
	if (!json_is_array(images))
		return seterr(err, errlen, -EINVAL, "\"images\" missing or not an array");
	if (json_array_size(images) > lim.max_images)
		return seterr(err, errlen, -E2BIG, "%zu images, limit %" PRIu64,
		              json_array_size(images), lim.max_images);
	m.cap = (uint32_t)json_array_size(images);
	m.entries = calloc(m.cap ? m.cap : 1, sizeof(m.entries[0]));
	if (m.entries == NULL)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < m.cap; i++) {
		struct mb_manifest_entry *e = &m.entries[i];

		rc = parse_entry(json_array_get(images, i), i, &lim, e, err, errlen);
		m.count++; /* so done() frees a half-parsed entry too */
		if (rc != 0)
			goto fail;
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(m.entries[j].name, e->name) == 0) {
				rc = seterr(err, errlen, -EINVAL, "image '%s' listed twice",
				            e->name);
				goto fail;
			}
		}
	}
	*ret = m;
	return 0;
fail:
	mb_manifest_done(&m);
	return rc;
}

int
mb_manifest_load_file(const char *path, const struct mb_manifest_limits *lim,
                      struct mb_manifest *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t max = lim != NULL && lim->max_bytes != 0 ? lim->max_bytes : DEF_MAX_BYTES;
	size_t got;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = mb_file_read_all(path, max, &buf, &got);
	if (rc == -EINVAL)
		return seterr(err, errlen, rc, "'%s': not a regular file", path);
	if (rc == -EFBIG)
		return seterr(err, errlen, -E2BIG, "'%s': %zu bytes, limit %" PRIu64, path, got,
		              max);
	if (rc < 0)
		return seterr(err, errlen, rc, "'%s': %s", path, strerror(-rc));
	return mb_manifest_parse(buf, got, lim, ret, err, errlen);
}

json_t *
mb_manifest_to_json(const struct mb_manifest *m)
{
	json_auto_t *root = json_object();
	json_t *arr = json_array();
	char hex[2 * MB_SHA256_LEN + 1];

	if (root == NULL || arr == NULL || json_object_set_new(root, "images", arr) != 0)
		return NULL;
	json_object_set_new(root, "format", json_integer(MB_MANIFEST_FORMAT));
	json_object_set_new(root, "generated", json_integer(m->generated));
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mb_manifest_entry *e = &m->entries[i];
		json_t *o;

		mb_sha256_to_hex(e->sha256, hex);
		o = json_pack("{s:s,s:I,s:I,s:s,s:I}", "name", e->name, "version",
		              (json_int_t)e->version, "size", (json_int_t)e->size, "sha256", hex,
		              "mtime", (json_int_t)e->mtime);
		if (o == NULL || json_array_append_new(arr, o) != 0)
			return NULL;
		if (e->sites != NULL) {
			json_t *s = json_array();

			if (s == NULL)
				return NULL;
			for (uint32_t j = 0; j < e->nsites; j++)
				json_array_append_new(s, json_string(e->sites[j]));
			json_object_set_new(o, "sites", s);
		}
		if (e->chunks != NULL) {
			json_t *c = json_array();

			if (c == NULL || json_object_set_new(o, "chunk_sha256", c) != 0)
				return NULL;
			for (uint32_t j = 0; j < e->nchunks; j++) {
				mb_sha256_to_hex(e->chunks[j], hex);
				if (json_array_append_new(c, json_string(hex)) != 0)
					return NULL;
			}
		}
	}
	return MB_TAKE_PTR(root);
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
mb_manifest_write_file(const struct mb_manifest *m, const char *path)
{
	json_auto_t *root = mb_manifest_to_json(m);
	_cleanup_free_ char *text = NULL, *tmp = NULL, *dcopy = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	int rc;

	if (root == NULL)
		return -ENOMEM;
	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (text == NULL || asprintf(&tmp, "%s.tmp", path) == -1)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return -errno;
	rc = write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) == -1)
		rc = -errno;
	if (rc != 0) {
		(void)unlink(tmp);
		return rc;
	}
	if (rename(tmp, path) == -1) {
		rc = -errno;
		(void)unlink(tmp);
		return rc;
	}
	dcopy = strdup(path);
	if (dcopy == NULL)
		return 1;
	dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || fsync(dfd) == -1)
		return 1; /* renamed: the new content is what path holds now */
	return 0;
}

int
mb_manifest_entry_copy(struct mb_manifest_entry *dst, const struct mb_manifest_entry *src)
{
	*dst = *src;
	dst->sites = NULL;
	dst->nsites = 0;
	dst->chunks = NULL;
	dst->nchunks = 0;
	if (src->chunks != NULL) {
		dst->chunks = malloc((size_t)src->nchunks * sizeof(dst->chunks[0]));
		if (dst->chunks == NULL)
			return -ENOMEM;
		memcpy(dst->chunks, src->chunks, (size_t)src->nchunks * sizeof(dst->chunks[0]));
		dst->nchunks = src->nchunks;
	}
	if (src->sites == NULL)
		return 0;
	dst->sites = calloc(src->nsites + 1, sizeof(dst->sites[0]));
	if (dst->sites == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < src->nsites; i++) {
		dst->sites[i] = strdup(src->sites[i]);
		if (dst->sites[i] == NULL) {
			mb_manifest_entry_done(dst);
			return -ENOMEM;
		}
		dst->nsites++;
	}
	return 0;
}

int
mb_manifest_copy(struct mb_manifest *dst, const struct mb_manifest *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->generated = src->generated;
	dst->entries = calloc(src->count ? src->count : 1, sizeof(dst->entries[0]));
	if (dst->entries == NULL)
		return -ENOMEM;
	dst->cap = src->count ? src->count : 1;
	for (uint32_t i = 0; i < src->count; i++) {
		if (mb_manifest_entry_copy(&dst->entries[i], &src->entries[i]) != 0) {
			mb_manifest_done(dst);
			return -ENOMEM;
		}
		dst->count++;
	}
	return 0;
}

struct mb_manifest_entry *
mb_manifest_find(const struct mb_manifest *m, const char *name)
{
	for (uint32_t i = 0; i < m->count; i++)
		if (strcmp(m->entries[i].name, name) == 0)
			return &m->entries[i];
	return NULL;
}

int
mb_manifest_set(struct mb_manifest *m, const struct mb_manifest_entry *e)
{
	struct mb_manifest_entry copy, *old = mb_manifest_find(m, e->name);

	if (mb_manifest_entry_copy(&copy, e) != 0)
		return -ENOMEM;
	if (old != NULL) {
		mb_manifest_entry_done(old);
		*old = copy;
		return 0;
	}
	if (m->count == m->cap) {
		uint32_t ncap = m->cap ? m->cap * 2 : 8;
		struct mb_manifest_entry *n = reallocarray(m->entries, ncap, sizeof(*n));

		if (n == NULL) {
			mb_manifest_entry_done(&copy);
			return -ENOMEM;
		}
		m->entries = n;
		m->cap = ncap;
	}
	m->entries[m->count++] = copy;
	return 0;
}

int
mb_manifest_remove(struct mb_manifest *m, const char *name)
{
	struct mb_manifest_entry *e = mb_manifest_find(m, name);
	size_t idx;

	if (e == NULL)
		return -ENOENT;
	idx = (size_t)(e - m->entries);
	mb_manifest_entry_done(e);
	memmove(e, e + 1, (m->count - idx - 1) * sizeof(*e));
	m->count--;
	return 0;
}

bool
mb_manifest_entry_for_site(const struct mb_manifest_entry *e, const char *site)
{
	if (e->sites == NULL || site == NULL || site[0] == '\0')
		return true;
	for (uint32_t i = 0; i < e->nsites; i++)
		if (strcmp(e->sites[i], site) == 0)
			return true;
	return false;
}

bool
mb_manifest_entry_same(const struct mb_manifest_entry *a, const struct mb_manifest_entry *b)
{
	return strcmp(a->name, b->name) == 0 && a->version == b->version && a->size == b->size &&
	       a->mtime == b->mtime && memcmp(a->sha256, b->sha256, MB_SHA256_LEN) == 0;
}

/* ---- verification ------------------------------------------------------- */

int
mb_verify_open(struct mb_verify *v, const char *path, uint64_t size,
               const uint8_t want[MB_SHA256_LEN])
{
	struct stat st;

	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->size = size;
	memcpy(v->want, want, MB_SHA256_LEN);
	v->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (v->fd == -1) {
		int rc = -errno;

		return seterr(v->err, sizeof(v->err), rc, "%s",
		              rc == -ENOENT ? "missing" : strerror(-rc));
	}
	if (fstat(v->fd, &st) == -1)
		return seterr(v->err, sizeof(v->err), -errno, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return seterr(v->err, sizeof(v->err), -EINVAL, "not a regular file");
	if ((uint64_t)st.st_size < size)
		return seterr(v->err, sizeof(v->err), -ENODATA,
		              "truncated (%jd of %" PRIu64 " bytes)", (intmax_t)st.st_size, size);
	if ((uint64_t)st.st_size > size)
		return seterr(v->err, sizeof(v->err), -EFBIG,
		              "size mismatch (%jd bytes, manifest says %" PRIu64 ")",
		              (intmax_t)st.st_size, size);
	v->md = EVP_MD_CTX_new();
	if (v->md == NULL || EVP_DigestInit_ex(v->md, EVP_sha256(), NULL) != 1)
		return seterr(v->err, sizeof(v->err), -ENOMEM, "cannot set up SHA-256");
	return 0;
}

int
mb_verify_step(struct mb_verify *v, uint8_t *copy_to, size_t slice)
{
	uint8_t buf[65536];
	size_t todo = slice;

	while (todo > 0 && v->off < v->size) {
		size_t want = v->size - v->off;
		uint8_t *dst;
		ssize_t n;

		if (want > todo)
			want = todo;
		if (copy_to == NULL && want > sizeof(buf))
			want = sizeof(buf);
		dst = copy_to != NULL ? copy_to + v->off : buf;
		n = pread(v->fd, dst, want, (off_t)v->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return seterr(v->err, sizeof(v->err), -EIO, "read error: %s",
			              strerror(errno));
		if (n == 0)
			return seterr(v->err, sizeof(v->err), -ENODATA,
			              "truncated while reading (at %" PRIu64 " of %" PRIu64 ")",
			              v->off, v->size);
		if (EVP_DigestUpdate(v->md, dst, (size_t)n) != 1)
			return seterr(v->err, sizeof(v->err), -EIO, "SHA-256 update failed");
		v->off += (uint64_t)n;
		todo -= (size_t)n;
	}
	if (v->off < v->size)
		return 0;
	{
		uint8_t got[EVP_MAX_MD_SIZE];
		unsigned int glen = 0;
		uint8_t extra;

		/* The file must not have grown since open. */
		if (pread(v->fd, &extra, 1, (off_t)v->size) == 1)
			return seterr(v->err, sizeof(v->err), -EFBIG, "file grew while reading");
		if (EVP_DigestFinal_ex(v->md, got, &glen) != 1 || glen != MB_SHA256_LEN)
			return seterr(v->err, sizeof(v->err), -EIO, "SHA-256 final failed");
		if (memcmp(got, v->want, MB_SHA256_LEN) != 0) {
			char hex[2 * MB_SHA256_LEN + 1];

			mb_sha256_to_hex(got, hex);
			return seterr(v->err, sizeof(v->err), -EBADMSG,
			              "checksum mismatch (sha256 %s)", hex);
		}
	}
	return 1;
}

void
mb_verify_done(struct mb_verify *v)
{
	if (v->md != NULL)
		EVP_MD_CTX_free(v->md);
	v->md = NULL;
	if (v->fd >= 0)
		(void)close(v->fd);
	v->fd = -1;
}

int
mb_verify_file(const char *path, uint64_t size, const uint8_t want[MB_SHA256_LEN], char *err,
               size_t errlen)
{
	struct mb_verify v;
	int rc = mb_verify_open(&v, path, size, want);

	while (rc == 0)
		rc = mb_verify_step(&v, NULL, 1 << 20);
	if (rc < 0)
		(void)seterr(err, errlen, rc, "%s", v.err);
	mb_verify_done(&v);
	return rc < 0 ? rc : 0;
}
