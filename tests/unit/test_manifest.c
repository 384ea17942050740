/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The manifest parser against good and hostile input, the atomic writer
 * (round trip), and file verification: good, corrupt, truncated, grown and
 * missing files, whole and in slices.
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
#include <openssl/evp.h>

#include "mb_manifest.h"

#define HEX0 "0000000000000000000000000000000000000000000000000000000000000000"
#define ENTRY(name, size)                                                                          \
	"{\"name\":\"" name "\",\"version\":3,\"size\":" size ",\"sha256\":\"" HEX0                \
	"\",\"mtime\":1700000000}"

static const struct mb_manifest_limits lim = {
    .max_bytes = 1 << 20, .max_images = 4, .max_image_size = 1000};

static void
test_good(void **state)
{
	static const char text[] =
	    "{\"format\":1,\"generated\":1700000001,\"future\":{\"x\":[1,2]},\"images\":["
	    "{\"name\":\"emulab-ops/UBUNTU22\",\"version\":3,\"size\":123,\"sha256\":\"" HEX0
	    "\",\"mtime\":1700000000,\"sites\":[\"utah\",\"wisc\"],\"extra\":true}," ENTRY(
	        "b", "0") "]}";
	struct mb_manifest m;
	char err[MB_MANIFEST_ERRLEN];

	(void)state;
	assert_int_equal(mb_manifest_parse(text, strlen(text), &lim, &m, err, sizeof(err)), 0);
	assert_int_equal(m.count, 2);
	assert_int_equal(m.generated, 1700000001);
	assert_string_equal(m.entries[0].name, "emulab-ops/UBUNTU22");
	assert_int_equal(m.entries[0].version, 3);
	assert_int_equal(m.entries[0].size, 123);
	assert_int_equal(m.entries[0].nsites, 2);
	assert_true(mb_manifest_entry_for_site(&m.entries[0], "wisc"));
	assert_false(mb_manifest_entry_for_site(&m.entries[0], "cmu"));
	assert_true(mb_manifest_entry_for_site(&m.entries[1], "cmu"));
	assert_null(m.entries[1].sites);
	mb_manifest_done(&m);
}

static void
expect_bad(const char *text, const char *needle)
{
	struct mb_manifest m;
	char err[MB_MANIFEST_ERRLEN] = "";

	if (mb_manifest_parse(text, strlen(text), &lim, &m, err, sizeof(err)) == 0)
		fail_msg("accepted: %s", text);
	assert_int_equal(m.count, 0);
	assert_null(m.entries);
	if (needle != NULL && strstr(err, needle) == NULL)
		fail_msg("error '%s' lacks '%s' for %s", err, needle, text);
}

static void
test_hostile(void **state)
{
	char *big;

	(void)state;
	expect_bad("", NULL);
	expect_bad("[]", "object");
	expect_bad("{\"format\":1}", "images");
	expect_bad("{\"format\":2,\"images\":[]}", "format");
	expect_bad("{\"format\":\"1\",\"images\":[]}", "format");
	expect_bad("{\"format\":1,\"images\":{}}", "images");
	expect_bad("{\"format\":1,\"format\":1,\"images\":[]}", NULL);
	expect_bad("{\"format\":1,\"images\":[1]}", "not an object");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("a", "1") "," ENTRY("a", "2") "]}", "twice");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("../etc/passwd", "1") "]}", "name");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("/abs", "1") "]}", "name");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("a\\u0000b", "1") "]}", NULL);
	expect_bad("{\"format\":1,\"images\":[" ENTRY("a", "1001") "]}", "exceeds");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("a", "-1") "]}", "size");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("a", "1.5") "]}", "size");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("a", "\"1\"") "]}", "size");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("a", "99999999999999999999999") "]}", NULL);
	expect_bad("{\"format\":1,\"images\":[{\"name\":\"a\",\"version\":1,\"size\":1,"
	           "\"sha256\":\"ABCDEF\",\"mtime\":1}]}",
	           "sha256");
	expect_bad("{\"format\":1,\"images\":[{\"name\":\"a\",\"version\":1,\"size\":1,"
	           "\"sha256\":\"" HEX0 "\",\"mtime\":\"x\"}]}",
	           "mtime");
	expect_bad("{\"format\":1,\"images\":[{\"name\":\"a\",\"version\":1,\"size\":1,"
	           "\"sha256\":\""
	           "F000000000000000000000000000000000000000000000000000000000000000"
	           "\",\"mtime\":1}]}",
	           "sha256");
	expect_bad("{\"format\":1,\"images\":[{\"name\":\"a\",\"version\":1,\"size\":1,"
	           "\"sha256\":\"" HEX0 "\",\"mtime\":1,\"sites\":\"utah\"}]}",
	           "sites");
	expect_bad("{\"format\":1,\"images\":[{\"name\":\"a\",\"version\":1,\"size\":1,"
	           "\"sha256\":\"" HEX0 "\",\"mtime\":1,\"sites\":[3]}]}",
	           "sites");
	expect_bad("{\"format\":1,\"images\":[" ENTRY("a", "1") "," ENTRY("b", "1") "," ENTRY(
	               "c", "1") "," ENTRY("d", "1") "," ENTRY("e", "1") "]}",
	           "limit");
	/* Over the byte limit: refused before parsing. */
	big = malloc((1 << 20) + 10);
	assert_non_null(big);
	memset(big, ' ', (1 << 20) + 9);
	big[(1 << 20) + 9] = '\0';
	expect_bad(big, "limit");
	/* Deep nesting is bounded by jansson's depth limit. */
	memset(big, '[', 100000);
	big[100000] = '\0';
	expect_bad(big, NULL);
	free(big);
}

static char tmpdir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mbf-manifest-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static void
test_roundtrip(void **state)
{
	struct mb_manifest m = {0}, r;
	struct mb_manifest_entry e = {0};
	char path[128], err[MB_MANIFEST_ERRLEN];
	char *sites[] = {"utah"};

	(void)state;
	snprintf(path, sizeof(path), "%s/manifest.json", tmpdir);
	snprintf(e.name, sizeof(e.name), "proj/img");
	e.version = 7;
	e.size = 5;
	e.mtime = -3;
	memset(e.sha256, 0xab, sizeof(e.sha256));
	e.sites = sites;
	e.nsites = 1;
	assert_int_equal(mb_manifest_set(&m, &e), 0);
	e.sites = NULL;
	e.nsites = 0;
	snprintf(e.name, sizeof(e.name), "other");
	assert_int_equal(mb_manifest_set(&m, &e), 0);
	e.version = 8;
	assert_int_equal(mb_manifest_set(&m, &e), 0); /* replaces */
	assert_int_equal(m.count, 2);
	m.generated = 42;
	assert_int_equal(mb_manifest_write_file(&m, path), 0);
	assert_int_equal(mb_manifest_load_file(path, &lim, &r, err, sizeof(err)), 0);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.generated, 42);
	assert_true(mb_manifest_entry_same(&r.entries[0], &m.entries[0]));
	assert_int_equal(r.entries[0].nsites, 1);
	assert_string_equal(r.entries[0].sites[0], "utah");
	assert_int_equal(mb_manifest_find(&r, "other")->version, 8);
	assert_int_equal(mb_manifest_remove(&r, "proj/img"), 0);
	assert_int_equal(mb_manifest_remove(&r, "proj/img"), -ENOENT);
	assert_int_equal(r.count, 1);
	mb_manifest_done(&r);
	mb_manifest_done(&m);
	snprintf(path, sizeof(path), "%s/manifest.json.tmp", tmpdir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/none.json", tmpdir);
	assert_int_equal(mb_manifest_load_file(path, &lim, &r, err, sizeof(err)), -ENOENT);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void
sha(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
}

static void
test_verify(void **state)
{
	size_t n = 3 * 65536 + 17;
	uint8_t *data = malloc(n), *copy = calloc(1, n), want[32];
	char path[128], err[MB_MANIFEST_ERRLEN];
	struct mb_verify v;
	int rc, steps = 0;

	(void)state;
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7);
	sha(data, n, want);
	snprintf(path, sizeof(path), "%s/img", tmpdir);
	write_file(path, data, n);
	assert_int_equal(mb_verify_file(path, n, want, err, sizeof(err)), 0);

	/* In slices, copying. */
	assert_int_equal(mb_verify_open(&v, path, n, want), 0);
	while ((rc = mb_verify_step(&v, copy, 50000)) == 0)
		steps++;
	assert_int_equal(rc, 1);
	assert_true(steps >= 3);
	assert_memory_equal(copy, data, n);
	mb_verify_done(&v);

	/* Corrupt one byte. */
	data[n / 2] ^= 1;
	write_file(path, data, n);
	assert_int_equal(mb_verify_file(path, n, want, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "checksum"));
	/* Truncated, grown, missing. */
	write_file(path, data, n - 1);
	assert_int_equal(mb_verify_file(path, n, want, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "truncated"));
	write_file(path, data, n);
	assert_int_equal(mb_verify_file(path, n - 1, want, err, sizeof(err)), -EFBIG);
	unlink(path);
	assert_int_equal(mb_verify_file(path, n, want, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "missing");
	/* Empty image. */
	sha("", 0, want);
	write_file(path, "", 0);
	assert_int_equal(mb_verify_file(path, 0, want, err, sizeof(err)), 0);
	free(data);
	free(copy);
}

static void
test_hex(void **state)
{
	uint8_t b[32];
	char hex[65];

	(void)state;
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(i * 9);
	mb_sha256_to_hex(b, hex);
	memset(b, 0, sizeof(b));
	assert_int_equal(mb_sha256_from_hex(hex, 64, b), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(b[i], (uint8_t)(i * 9));
	assert_int_equal(mb_sha256_from_hex(hex, 63, b), -EINVAL);
	hex[5] = 'g';
	assert_int_equal(mb_sha256_from_hex(hex, 64, b), -EINVAL);
}

#define HEX1 "1111111111111111111111111111111111111111111111111111111111111111"
#define CHUNKED(size, list)                                                                        \
	"{\"format\":1,\"images\":[{\"name\":\"c\",\"version\":1,\"size\":" size                \
	",\"sha256\":\"" HEX0 "\",\"mtime\":1,\"chunk_sha256\":" list "}]}"

static const struct mb_manifest_limits chunk_lim = {.max_bytes = 16 << 20, .max_images = 4};

static void
expect_chunks_bad(const char *text, const char *needle)
{
	struct mb_manifest m;
	char err[MB_MANIFEST_ERRLEN] = "";

	if (mb_manifest_parse(text, strlen(text), &chunk_lim, &m, err, sizeof(err)) == 0)
		fail_msg("accepted: %.200s", text);
	assert_int_equal(m.count, 0);
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' lacks '%s' for %.200s", err, needle, text);
}

/* "chunk_sha256": exactly ceil(size / 1 MiB) digests in lowercase hex,
 * kept through copy and the writer; without it an entry has none. */
static void
test_chunks(void **state)
{
	static const char good[] = CHUNKED("3145729", "[\"" HEX0 "\",\"" HEX1 "\",\"" HEX0
	                                   "\",\"" HEX1 "\"]");
	struct mb_manifest m, r;
	struct mb_manifest_entry c;
	char path[128], err[MB_MANIFEST_ERRLEN];
	char *many;
	size_t n, len;

	(void)state;
	assert_int_equal(mb_manifest_chunks_for(0), 0);
	assert_int_equal(mb_manifest_chunks_for(1), 1);
	assert_int_equal(mb_manifest_chunks_for(1 << 20), 1);
	assert_int_equal(mb_manifest_chunks_for((1 << 20) + 1), 2);
	assert_int_equal(mb_manifest_parse(good, strlen(good), &chunk_lim, &m, err, sizeof(err)), 0);
	assert_int_equal(m.entries[0].nchunks, 4);
	assert_int_equal(m.entries[0].chunks[1][0], 0x11);
	assert_int_equal(m.entries[0].chunks[2][31], 0x00);
	assert_int_equal(mb_manifest_entry_copy(&c, &m.entries[0]), 0);
	assert_ptr_not_equal(c.chunks, m.entries[0].chunks);
	assert_memory_equal(c.chunks, m.entries[0].chunks, 4 * MB_SHA256_LEN);
	mb_manifest_entry_done(&c);
	snprintf(path, sizeof(path), "%s/chunks.json", tmpdir);
	assert_int_equal(mb_manifest_write_file(&m, path), 0);
	assert_int_equal(mb_manifest_load_file(path, &chunk_lim, &r, err, sizeof(err)), 0);
	assert_int_equal(r.entries[0].nchunks, 4);
	assert_memory_equal(r.entries[0].chunks, m.entries[0].chunks, 4 * MB_SHA256_LEN);
	mb_manifest_done(&r);
	mb_manifest_done(&m);
	/* an empty image has no chunks: an empty list is its exact list */
	assert_int_equal(mb_manifest_parse(CHUNKED("0", "[]"), strlen(CHUNKED("0", "[]")),
	                                   &chunk_lim, &m, err, sizeof(err)), 0);
	assert_int_equal(m.entries[0].nchunks, 0);
	assert_null(m.entries[0].chunks);
	mb_manifest_done(&m);

	/* count against the size */
	expect_chunks_bad(CHUNKED("3145729", "[\"" HEX0 "\",\"" HEX1 "\",\"" HEX0 "\"]"),
	                  "lists 3 chunks, its size 3145729 makes 4");
	expect_chunks_bad(CHUNKED("1", "[]"), "lists 0 chunks");
	expect_chunks_bad(CHUNKED("1", "[\"" HEX0 "\",\"" HEX0 "\"]"), "lists 2 chunks");
	/* hex */
	expect_chunks_bad(CHUNKED("1", "[\"" HEX0 "0\"]"), "chunk_sha256[0] must be 64");
	expect_chunks_bad(CHUNKED("1", "[\"ABCDEF0000000000000000000000000000000000000000000000000000"
	                               "000000\"]"),
	                  "chunk_sha256[0] must be 64");
	expect_chunks_bad(CHUNKED("2000000", "[\"" HEX0 "\",\"" HEX0 "x\"]"),
	                  "chunk_sha256[1] must be 64");
	expect_chunks_bad(CHUNKED("1", "[1]"), "chunk_sha256[0] must be 64");
	expect_chunks_bad(CHUNKED("1", "[null]"), "chunk_sha256[0] must be 64");
	expect_chunks_bad(CHUNKED("1", "\"" HEX0 "\""), "is not an array");
	expect_chunks_bad(CHUNKED("1", "{}"), "is not an array");
	/* too many: refused on the count, before any digest is looked at */
	n = MB_MANIFEST_MAX_CHUNKS + 1;
	len = 200 + 2 * n;
	many = malloc(len);
	assert_non_null(many);
	len = (size_t)snprintf(many, len,
	                       "{\"format\":1,\"images\":[{\"name\":\"c\",\"version\":1,\"size\":"
	                       "%llu,\"sha256\":\"" HEX0 "\",\"mtime\":1,\"chunk_sha256\":[",
	                       (unsigned long long)n << 20);
	for (size_t i = 0; i < n; i++) {
		many[len++] = '0';
		many[len++] = i + 1 < n ? ',' : ']';
	}
	memcpy(many + len, "}]}", 4);
	expect_chunks_bad(many, "1048577 chunk digests, limit 1048576");
	free(many);
}

/* The error of a manifest that is not JSON quotes what jansson choked on:
 * never raw, so a log line or health reason made from it stays one printable
 * line (found by fuzz_ctl_sync: a control byte from the body reached the
 * log). */
static void
test_error_printable(void **state)
{
	static const char *const bodies[] = {
		"\x03", "{\"format\": 1, \"images\": [\x01]}", "\n\x1b[31mfake log line\n",
		"{\"format\": \"\x7f\"}", "[\r\n\x02",
	};
	struct mb_manifest m;
	char err[MB_MANIFEST_ERRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		memset(err, 0, sizeof(err));
		assert_int_not_equal(mb_manifest_parse(bodies[i], strlen(bodies[i]), &lim, &m, err,
						       sizeof(err)), 0);
		assert_true(err[0] != '\0');
		for (const unsigned char *p = (const unsigned char *)err; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				fail_msg("body %zu: error '%s' holds byte 0x%02x", i, err, *p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),      cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_verify),
	    cmocka_unit_test(test_hex),       cmocka_unit_test(test_chunks),
	    cmocka_unit_test(test_error_printable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
