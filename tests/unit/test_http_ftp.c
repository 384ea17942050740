/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP request parser and response builder, and the FTP command parser,
 * path confinement and session replies: well-formed requests as curl, wget
 * and lftp send them, malformed and hostile ones (traversal, NUL, overlong,
 * folding, bad ranges), and random input that must never crash.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mb_ftp.h"
#include "mb_http.h"

static struct mb_image *
test_image(const char *name, uint64_t size)
{
	static uint8_t zero[4096];
	struct mb_image *img = mb_image_new_heap(name, zero, size < sizeof(zero) ? size : 0);

	assert_non_null(img);
	img->size = size;
	img->mtime = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
	for (int i = 0; i < MB_SHA256_LEN; i++)
		img->sha256[i] = (uint8_t)i;
	return img;
}

static int
parse(const char *s, struct mb_http_req *r)
{
	size_t used = 0;

	return mb_http_parse(s, strlen(s), r, &used);
}

static void
test_http_parse_ok(void **st)
{
	struct mb_http_req r;
	size_t used;
	const char *two = "GET /images/a/b.ndz HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n"
			  "HEAD /images/c HTTP/1.1\nHost: x\nConnection: close\n\n";

	(void)st;
	assert_int_equal(mb_http_parse(two, strlen(two), &r, &used), 0);
	assert_int_equal(r.method, MB_HTTP_GET);
	assert_int_equal(r.name_len, 7);
	assert_memory_equal(r.name, "a/b.ndz", 7);
	assert_true(r.keep_alive && r.has_range);
	assert_int_equal(r.range_first, 10);
	assert_int_equal(r.range_last, 19);
	/* pipelined: the second request follows */
	assert_int_equal(mb_http_parse(two + used, strlen(two) - used, &r, &used), 0);
	assert_int_equal(r.method, MB_HTTP_HEAD);
	assert_false(r.keep_alive);
	/* incomplete */
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\n", &r), -EAGAIN);
	assert_int_equal(parse("GET /ima", &r), -EAGAIN);
	/* HTTP/1.0: close unless asked; no Host needed; query ignored */
	assert_int_equal(parse("GET /images/a?x=1 HTTP/1.0\r\n\r\n", &r), 0);
	assert_false(r.keep_alive);
	assert_int_equal(r.name_len, 1);
	assert_int_equal(parse("GET /images/a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r), 0);
	assert_true(r.keep_alive);
	/* ranges */
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=5-\r\n\r\n", &r), 0);
	assert_true(r.has_range);
	assert_int_equal(r.range_last, UINT64_MAX);
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=-7\r\n\r\n", &r), 0);
	assert_true(r.has_range && r.range_suffix);
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2,4-5\r\n\r\n",
			       &r), 0);
	assert_false(r.has_range);
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=9-3\r\n\r\n", &r), 0);
	assert_false(r.has_range);
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: items=1-2\r\n\r\n", &r), 0);
	assert_false(r.has_range);
	/* several Range fields are all ignored, however many (fuzz: a third one
	 * used to turn the range back on) */
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\n"
			       "Range: bytes=3-4\r\nRange: bytes=5-6\r\n\r\n", &r), 0);
	assert_false(r.has_range);
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=9-3\r\n"
			       "Range: bytes=3-4\r\n\r\n", &r), 0);
	assert_false(r.has_range);
	/* conditionals */
	assert_int_equal(parse("GET /images/a HTTP/1.1\r\nHost: x\r\n"
			       "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n", &r), 0);
	assert_true(r.has_ims);
	assert_int_equal(r.ims, 1700000000);
}

static void
test_http_parse_bad(void **st)
{
	static const struct {
		const char *req;
		int status;
	} bad[] = {
		{ "POST /images/a HTTP/1.1\r\nHost: x\r\n\r\n", 405 },
		{ "DELETE /images/a HTTP/1.1\r\nHost: x\r\n\r\n", 405 },
		{ "G(T /images/a HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET /images/a HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET /images/a HTTP/1.1 \r\nHost: x\r\n\r\n", 400 },
		{ "GET /images/a\r\n\r\n", 400 },
		{ "GET /images/a HTTP/1.1\r\n\r\n", 400 }, /* no Host */
		{ "GET /images/a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400 },
		{ "GET /images/a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
		{ "GET /images/a HTTP/1.1\r\nHost x\r\n\r\n", 400 },
		{ "GET /images/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 400 },
		{ "GET /images/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
		{ "GET /images/../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
		{ "GET /images/a/../../x HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
		{ "GET /images/./a HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
		{ "GET /images/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
		{ "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
		{ "GET /images/ HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
		{ "GET http://x/images/a HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET /images/a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
	};
	struct mb_http_req r;
	char big[MB_HTTP_HDR_MAX + 100];

	(void)st;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].req, &r), -EINVAL);
		if (r.status != bad[i].status)
			fail_msg("'%s': %d, want %d", bad[i].req, r.status, bad[i].status);
	}
	/* NUL inside the request line */
	{
		const char nul[] = "GET /images/a\0b HTTP/1.1\r\nHost: x\r\n\r\n";
		size_t used;

		assert_int_equal(mb_http_parse(nul, sizeof(nul) - 1, &r, &used), -EINVAL);
		assert_int_equal(r.status, 400);
	}
	/* 414: a long target */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /images/", 12);
	memcpy(big + 2000, " HTTP/1.1\r\nHost: x\r\n\r\n", 23);
	assert_int_equal(parse(big, &r), -EINVAL);
	assert_int_equal(r.status, 414);
	/* 431: headers never end */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /images/a HTTP/1.1\r\nX: ", 27);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(big, &r), -EINVAL);
	assert_int_equal(r.status, 431);
	/* a request line that never ends */
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(big, &r), -EINVAL);
	assert_int_equal(r.status, 414);
}

static void
respond(const char *req, const struct mb_image *img, int want, uint64_t off, uint64_t len,
	const char *hdr)
{
	struct mb_http_req r;
	char buf[1024];
	uint64_t o, l;
	int st, n;

	assert_int_equal(parse(req, &r), 0);
	n = mb_http_respond(&r, img, buf, sizeof(buf), &o, &l, &st);
	assert_true(n > 0);
	assert_int_equal(st, want);
	assert_int_equal(o, off);
	assert_int_equal(l, len);
	if (want != 404) /* the error page carries a body */
		assert_memory_equal(buf + n - 4, "\r\n\r\n", 4);
	if (hdr != NULL && strstr(buf, hdr) == NULL)
		fail_msg("'%s' not in:\n%s", hdr, buf);
}

static void
test_http_respond(void **st)
{
	struct mb_image *img = test_image("a", 1000);
	const char *etag = "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"";
	char req[512];

	(void)st;
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\n\r\n", img, 200, 0, 1000,
		"Content-Length: 1000\r\n");
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\n\r\n", img, 200, 0, 1000,
		"Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n");
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\n\r\n", img, 200, 0, 1000, etag);
	respond("HEAD /images/a HTTP/1.1\r\nHost: x\r\n\r\n", img, 200, 0, 0,
		"Content-Length: 1000\r\n");
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199\r\n\r\n", img, 206, 100,
		100, "Content-Range: bytes 100-199/1000\r\n");
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=900-5000\r\n\r\n", img, 206, 900,
		100, "Content-Range: bytes 900-999/1000\r\n");
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=-10\r\n\r\n", img, 206, 990, 10,
		"Content-Length: 10\r\n");
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=-5000\r\n\r\n", img, 206, 0, 1000,
		NULL);
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\n\r\n", img, 416, 0, 0,
		"Content-Range: bytes */1000\r\n");
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=-0\r\n\r\n", img, 416, 0, 0, NULL);
	snprintf(req, sizeof(req), "GET /images/a HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\", %s\r\n\r\n",
		 etag);
	respond(req, img, 304, 0, 0, "ETag: ");
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\"\r\n"
		"If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n", img, 200, 0, 1000, NULL);
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\n"
		"If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n", img, 304, 0, 0, NULL);
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\n"
		"If-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n\r\n", img, 200, 0, 1000, NULL);
	respond("GET /images/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", img, 200, 0, 1000,
		"Connection: close\r\n");
	respond("GET /images/zz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 404, 0, 0, NULL);
	{
		char buf[512];
		int n = mb_http_error(405, true, buf, sizeof(buf));

		assert_true(n > 0);
		assert_non_null(strstr(buf, "Allow: GET, HEAD\r\n"));
		assert_int_equal(mb_http_error(400, true, buf, 20), -ENOSPC);
	}
	mb_image_unref(img);
}

/* ---- FTP ---------------------------------------------------------------------- */

static struct mb_image *ftp_imgs[2];

static const struct mb_image *
lk_image(void *ctx, const char *name)
{
	(void)ctx;
	for (int i = 0; i < 2; i++)
		if (strcmp(ftp_imgs[i]->name, name) == 0)
			return ftp_imgs[i];
	return NULL;
}

static bool
lk_dir(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "emulab-ops") == 0;
}

static const struct mb_ftp_lookup lk = { lk_image, lk_dir, NULL };

static char reply[MB_FTP_REPLY_MAX];

static const char *
cmd(struct mb_ftp_session *s, const char *line, struct mb_ftp_action *act)
{
	size_t n = mb_ftp_session_input(s, &lk, line, strlen(line), reply, sizeof(reply), act);

	reply[n] = '\0';
	return reply;
}

#define EXPECT(s, line, prefix)                                                                   \
	do {                                                                                      \
		const char *r_ = cmd(s, line, &act);                                              \
		if (strncmp(r_, prefix, strlen(prefix)) != 0)                                     \
			fail_msg("'%s' -> '%s', want '%s'", line, r_, prefix);                    \
	} while (0)

static void
test_ftp_session(void **st)
{
	struct mb_ftp_session s;
	struct mb_ftp_action act;
	char buf[256];

	(void)st;
	ftp_imgs[0] = test_image("emulab-ops/UBUNTU22-64-STD.ndz", 123456789);
	ftp_imgs[1] = test_image("top.ndz", 10);
	mb_ftp_session_init(&s);
	EXPECT(&s, "SYST", "215 ");
	EXPECT(&s, "PWD", "530 ");
	EXPECT(&s, "PASS x", "503 ");
	EXPECT(&s, "USER root", "530 ");
	EXPECT(&s, "USER anonymous", "331 ");
	EXPECT(&s, "PASS lftp@", "230 ");
	EXPECT(&s, "FEAT", "211-Features:\r\n EPSV\r\n");
	EXPECT(&s, "OPTS UTF8 ON", "200 ");
	EXPECT(&s, "TYPE I", "200 Switching to Binary");
	EXPECT(&s, "TYPE A", "200 Switching to ASCII");
	EXPECT(&s, "TYPE X", "504 ");
	EXPECT(&s, "MODE S", "200 ");
	EXPECT(&s, "MODE B", "504 ");
	EXPECT(&s, "STRU F", "200 ");
	EXPECT(&s, "pwd", "257 \"/\"");
	EXPECT(&s, "CWD emulab-ops", "250 ");
	EXPECT(&s, "PWD", "257 \"/emulab-ops\"");
	EXPECT(&s, "SIZE UBUNTU22-64-STD.ndz", "213 123456789\r\n");
	EXPECT(&s, "MDTM /top.ndz", "213 20231114221320\r\n");
	EXPECT(&s, "SIZE ../top.ndz", "213 10\r\n");
	EXPECT(&s, "SIZE nope", "550 ");
	/* traversal and garbage */
	EXPECT(&s, "CWD ../..", "550 ");
	assert_true(act.refused_path);
	EXPECT(&s, "RETR ../../etc/passwd", "550 ");
	assert_true(act.refused_path);
	EXPECT(&s, "CWD /..", "550 ");
	EXPECT(&s, "SIZE a/.hidden/../x", "550 ");
	{
		const char nul[] = "RETR a\0b";
		size_t n = mb_ftp_session_input(&s, &lk, nul, sizeof(nul) - 1, reply, sizeof(reply),
						&act);

		reply[n] = '\0';
		assert_memory_equal(reply, "500 ", 4);
	}
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "SIZE ", 5);
	buf[sizeof(buf) - 1] = '\0';
	EXPECT(&s, buf, "550 ");
	assert_true(act.refused_path);
	EXPECT(&s, "PORT 10,0,0,1,4,1", "502 ");
	EXPECT(&s, "EPRT |1|10.0.0.1|1025|", "502 ");
	EXPECT(&s, "SITE CHMOD 777 x", "502 ");
	EXPECT(&s, "STOR x", "502 ");
	EXPECT(&s, "", "500 ");
	EXPECT(&s, "RETRX", "500 ");
	/* transfers need a passive port first */
	EXPECT(&s, "RETR UBUNTU22-64-STD.ndz", "425 ");
	EXPECT(&s, "PASV", "");
	assert_int_equal(act.type, MB_FTP_ACT_PASV);
	EXPECT(&s, "REST 1000", "350 ");
	EXPECT(&s, "RETR UBUNTU22-64-STD.ndz", "");
	assert_int_equal(act.type, MB_FTP_ACT_RETR);
	assert_string_equal(act.path, "emulab-ops/UBUNTU22-64-STD.ndz");
	assert_int_equal(act.offset, 1000);
	EXPECT(&s, "EPSV 2", "522 ");
	EXPECT(&s, "EPSV", "");
	assert_int_equal(act.type, MB_FTP_ACT_EPSV);
	EXPECT(&s, "REST 11", "350 ");
	EXPECT(&s, "RETR /top.ndz", "554 ");
	EXPECT(&s, "REST x", "501 ");
	EXPECT(&s, "CDUP", "250 ");
	EXPECT(&s, "CDUP", "550 ");
	EXPECT(&s, "EPSV", "");
	EXPECT(&s, "LIST -la", "");
	assert_int_equal(act.type, MB_FTP_ACT_LIST);
	assert_string_equal(act.path, "");
	EXPECT(&s, "EPSV", "");
	EXPECT(&s, "MLSD emulab-ops", "");
	assert_int_equal(act.cmd, MB_FTP_MLSD);
	assert_string_equal(act.path, "emulab-ops");
	EXPECT(&s, "EPSV ALL", "200 ");
	EXPECT(&s, "PASV", "501 ");
	EXPECT(&s, "\xff\xf4\xff\xf2" "ABOR", "226 ");
	assert_int_equal(act.type, MB_FTP_ACT_ABOR);
	EXPECT(&s, "NOOP", "200 ");
	EXPECT(&s, "QUIT", "221 ");
	assert_int_equal(act.type, MB_FTP_ACT_QUIT);

	assert_true(mb_ftp_reply_pasv(0x0100000a, 50001, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "227 Entering Passive Mode (10,0,0,1,195,81).\r\n");
	assert_true(mb_ftp_reply_epsv(50001, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "229 Entering Extended Passive Mode (|||50001|)\r\n");
	assert_true(mb_ftp_list_entry(MB_FTP_MLSD, "top.ndz", false, 10, 1700000000, buf,
				      sizeof(buf)) > 0);
	assert_string_equal(buf, "type=file;size=10;modify=20231114221320; top.ndz\r\n");
	assert_true(mb_ftp_list_entry(MB_FTP_LIST, "top.ndz", false, 10, 1700000000, buf,
				      sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-r--r--r-- 1 ftp ftp"));
	mb_image_unref(ftp_imgs[0]);
	mb_image_unref(ftp_imgs[1]);
}

static void
test_ftp_resolve(void **st)
{
	char out[300];

	(void)st;
	assert_int_equal(mb_ftp_path_resolve("", "a/b", 3, out, sizeof(out)), 0);
	assert_string_equal(out, "a/b");
	assert_int_equal(mb_ftp_path_resolve("a", "../c", 4, out, sizeof(out)), 0);
	assert_string_equal(out, "c");
	assert_int_equal(mb_ftp_path_resolve("a", "/x//./y/", 8, out, sizeof(out)), 0);
	assert_string_equal(out, "x/y");
	assert_int_equal(mb_ftp_path_resolve("a", "..", 2, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(mb_ftp_path_resolve("", "..", 2, out, sizeof(out)), -EACCES);
	assert_int_equal(mb_ftp_path_resolve("a", "../..", 5, out, sizeof(out)), -EACCES);
	assert_int_equal(mb_ftp_path_resolve("", "/../etc", 7, out, sizeof(out)), -EACCES);
	assert_int_equal(mb_ftp_path_resolve("", "a b", 3, out, sizeof(out)), -EACCES);
	assert_int_equal(mb_ftp_path_resolve("", "a\0b", 3, out, sizeof(out)), -EACCES);
}

/* Random bytes into both parsers and the FTP session: no crash, and every
 * FTP reply is a CRLF-terminated line starting with a 3-digit code. */
static void
test_random(void **st)
{
	uint32_t x = 99;
	char buf[600];
	struct mb_http_req r;
	struct mb_ftp_session s;
	struct mb_ftp_action act;
	static const char *const seeds[] = {
		"GET /images/a HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\n\r\n",
		"RETR ../a", "USER anonymous", "PASS x", "EPSV", "LIST -l /a",
	};

	(void)st;
	ftp_imgs[0] = test_image("emulab-ops/x", 5);
	ftp_imgs[1] = test_image("top.ndz", 10);
	mb_ftp_session_init(&s);
	for (unsigned round = 0; round < 200000; round++) {
		size_t n, used;
		const char *seed = seeds[round % 6];

		x = x * 1103515245u + 12345u;
		n = strlen(seed);
		memcpy(buf, seed, n);
		for (unsigned k = 0; k < 1 + (x >> 28); k++) {
			x = x * 1103515245u + 12345u;
			if ((x >> 20) % 3 == 0 && n < sizeof(buf))
				buf[n++] = (char)(x >> 8);
			else
				buf[(x >> 8) % n] = (char)(x >> 16);
		}
		(void)mb_http_parse(buf, n, &r, &used);
		n = mb_ftp_session_input(&s, &lk, buf, n, reply, sizeof(reply), &act);
		if (n > 0) {
			assert_true(n >= 6 && reply[0] >= '1' && reply[0] <= '5');
			assert_memory_equal(reply + n - 2, "\r\n", 2);
		}
	}
	mb_image_unref(ftp_imgs[0]);
	mb_image_unref(ftp_imgs[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_parse_ok),
		cmocka_unit_test(test_http_parse_bad),
		cmocka_unit_test(test_http_respond),
		cmocka_unit_test(test_ftp_resolve),
		cmocka_unit_test(test_ftp_session),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
