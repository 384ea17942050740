/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the master-server codec (proto/ms_wire.c) against the
 * GETSTATUS exchange captured between a stock frisbee client and a stock
 * mfrisbeed (tests/data/master-getstatus.pcap, Ethernet/IPv4/TCP, one
 * request and one reply), plus round trips and hostile input.  The pcap is
 * read with a tiny parser here: the test needs no libpcap.
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

#include "ms_wire.h"

#ifndef MB_TEST_DATA
#define MB_TEST_DATA "tests/data"
#endif

static uint8_t cap_req[512], cap_rep[512];
static size_t cap_req_len, cap_rep_len;

static uint32_t
le32(const uint8_t *p)
{
	return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Pull the TCP payloads to and from port 64494 out of the capture. */
static int
load_capture(void **state)
{
	static uint8_t file[16384];
	size_t n, off = 24;
	FILE *f;

	(void)state;
	f = fopen(MB_TEST_DATA "/master-getstatus.pcap", "rb");
	if (f == NULL)
		return -1;
	n = fread(file, 1, sizeof(file), f);
	fclose(f);
	if (n < 24 || le32(file) != 0xa1b2c3d4 || le32(file + 20) != 1)
		return -1;
	while (off + 16 <= n) {
		size_t caplen = le32(file + off + 8);
		const uint8_t *pkt = file + off + 16;
		size_t ihl, thl, iplen, plen;
		uint16_t sport, dport;

		if (off + 16 + caplen > n)
			return -1;
		off += 16 + caplen;
		if (caplen < 14 + 20 || pkt[12] != 0x08 || pkt[13] != 0x00 || pkt[23] != 6)
			continue;
		ihl = (pkt[14] & 0x0f) * 4;
		iplen = (pkt[16] << 8) | pkt[17];
		thl = (pkt[14 + ihl + 12] >> 4) * 4;
		sport = (pkt[14 + ihl] << 8) | pkt[14 + ihl + 1];
		dport = (pkt[14 + ihl + 2] << 8) | pkt[14 + ihl + 3];
		if (iplen < ihl + thl || 14 + iplen > caplen)
			return -1;
		plen = iplen - ihl - thl;
		if (plen == 0 || plen > sizeof(cap_req))
			continue;
		if (dport == MB_MS_PORT) {
			memcpy(cap_req, pkt + 14 + ihl + thl, plen);
			cap_req_len = plen;
		} else if (sport == MB_MS_PORT) {
			memcpy(cap_rep, pkt + 14 + ihl + thl, plen);
			cap_rep_len = plen;
		}
	}
	return cap_req_len && cap_rep_len ? 0 : -1;
}

static void
test_capture_request(void **state)
{
	struct mb_ms_get_request req;
	uint8_t again[MB_MS_GETREQ_LEN];
	const char *why = NULL;

	(void)state;
	assert_int_equal(cap_req_len, MB_MS_GETREQ_LEN);
	assert_int_equal(mb_ms_msg_len(cap_req, cap_req_len, NULL), MB_MS_GETREQ_LEN);
	assert_int_equal(mb_ms_get_request_decode(cap_req, cap_req_len, &req, &why), 0);
	assert_int_equal(req.hostip, 0);
	assert_int_equal(req.methods, MB_MS_METHOD_ANY);
	assert_int_equal(req.status, 1);
	assert_int_equal(req.idlen, 10);
	assert_string_equal(req.imageid, "test64.ndz");
	/* Re-encoding gives the captured bytes back. */
	assert_int_equal(mb_ms_get_request_encode(&req, again, sizeof(again)), 0);
	assert_memory_equal(again, cap_req, MB_MS_GETREQ_LEN);
}

static void
test_capture_reply(void **state)
{
	struct mb_ms_get_reply rep;
	uint8_t again[MB_MS_GETREPLY_LEN];

	(void)state;
	assert_int_equal(cap_rep_len, MB_MS_GETREPLY_LEN);
	assert_int_equal(mb_ms_get_reply_decode(cap_rep, cap_rep_len, &rep, NULL), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST);
	assert_int_equal(rep.isrunning, 0);
	assert_int_equal(rep.error, MB_MS_ERROR_NONE);
	assert_int_equal(rep.sigtype, MB_MS_SIG_MTIME);
	assert_int_equal(mb_ms_reply_mtime(&rep), 0x6b0631af);
	assert_int_equal(rep.size, 0x01900000);
	assert_int_equal(mb_ms_get_reply_encode(&rep, again, sizeof(again)), 0);
	assert_memory_equal(again, cap_rep, MB_MS_GETREPLY_LEN);
}

static void
test_reply_roundtrip(void **state)
{
	struct mb_ms_get_reply a, b;
	uint8_t buf[MB_MS_GETREPLY_LEN];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.method = MB_MS_METHOD_MULTICAST;
	a.isrunning = 1;
	a.servaddr = 0x0a4d0001;
	a.addr = 0xea050601;
	a.port = 3564;
	a.size = 0x123456789aULL;
	mb_ms_reply_set_mtime(&a, 1700000000);
	assert_int_equal(mb_ms_get_reply_encode(&a, buf, sizeof(buf)), 0);
	/* Explicit offsets: addr at 8+8, port at 8+12, hisize at 8+272. */
	assert_int_equal(buf[16], 0xea);
	assert_int_equal(buf[20], 3564 >> 8);
	assert_int_equal(buf[8 + 272 + 3], 0x12);
	/* MTIME: bytes 4-7 of the signature are zero. */
	assert_int_equal(buf[8 + 16 + 4] | buf[8 + 16 + 5] | buf[8 + 16 + 6] | buf[8 + 16 + 7], 0);
	assert_int_equal(mb_ms_get_reply_decode(buf, sizeof(buf), &b, NULL), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(mb_ms_get_reply_encode(&a, buf, sizeof(buf) - 1), -ENOSPC);
}

static void
test_reject(void **state)
{
	struct mb_ms_get_request req;
	uint8_t buf[MB_MS_MSG_MAX + 8];
	const char *why;

	(void)state;
	memcpy(buf, cap_req, MB_MS_GETREQ_LEN);
	/* header incomplete */
	assert_int_equal(mb_ms_msg_len(buf, 7, NULL), -EAGAIN);
	/* short and long */
	why = NULL;
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN - 1, &req, &why), -EBADMSG);
	assert_non_null(why);
	assert_int_equal(mb_ms_get_request_decode(buf, 3, &req, &why), -EBADMSG);
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN + 1, &req, &why), -EBADMSG);
	/* bad version */
	buf[1] = '2';
	assert_int_equal(mb_ms_msg_len(buf, MB_MS_GETREQ_LEN, &why), -EBADMSG);
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN, &req, &why), -EBADMSG);
	buf[1] = '0';
	/* unknown type */
	buf[7] = 9;
	assert_int_equal(mb_ms_msg_len(buf, MB_MS_GETREQ_LEN, &why), -EBADMSG);
	buf[7] = MB_MS_GETREPLY; /* a reply where a request belongs */
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN, &req, &why), -EBADMSG);
	buf[7] = MB_MS_GETREQUEST;
	/* idlen 0, > 256, longer than the id (embedded NUL) */
	buf[14] = 0;
	buf[15] = 0;
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN, &req, &why), -EBADMSG);
	buf[14] = 1;
	buf[15] = 1;
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN, &req, &why), -EBADMSG);
	buf[14] = 0;
	buf[15] = 11;
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN, &req, &why), -EBADMSG);
	/* non-printable id byte */
	buf[15] = 10;
	buf[16 + 3] = 0x07;
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN, &req, &why), -EBADMSG);
	buf[16 + 3] = 't';
	/* bad status flag */
	buf[13] = 2;
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN, &req, &why), -EBADMSG);
	buf[13] = 1;
	assert_int_equal(mb_ms_get_request_decode(buf, MB_MS_GETREQ_LEN, &req, &why), 0);
	/* NULL and empty */
	assert_int_equal(mb_ms_get_request_decode(NULL, 0, &req, &why), -EBADMSG);
	/* encoder refuses an idlen longer than the string */
	req.idlen = 200;
	assert_int_equal(mb_ms_get_request_encode(&req, buf, sizeof(buf)), -EINVAL);
}

/* Every truncation and every single-byte corruption of the capture decodes
 * or fails cleanly (run under valgrind/asan this catches overreads). */
static void
test_fuzz_lite(void **state)
{
	struct mb_ms_get_request req;
	struct mb_ms_get_reply rep;
	uint8_t buf[MB_MS_GETREQ_LEN];
	size_t i, len;
	int v;

	(void)state;
	for (len = 0; len <= MB_MS_GETREQ_LEN; len++) {
		memcpy(buf, cap_req, sizeof(buf));
		v = mb_ms_get_request_decode(buf, len, &req, NULL);
		assert_true(len == MB_MS_GETREQ_LEN ? v == 0 : v == -EBADMSG);
		(void)mb_ms_msg_len(buf, len, NULL);
		(void)mb_ms_get_reply_decode(buf, len, &rep, NULL);
	}
	for (i = 0; i < 32; i++) {
		for (v = 0; v < 256; v += 17) {
			memcpy(buf, cap_req, sizeof(buf));
			buf[i] = (uint8_t)v;
			if (mb_ms_get_request_decode(buf, sizeof(buf), &req, NULL) == 0)
				assert_true(req.idlen >= 1 && req.idlen <= 256 &&
					    strlen(req.imageid) == req.idlen);
		}
	}
}

static void
test_put_and_names(void **state)
{
	struct mb_ms_put_reply pr, pr2;
	struct mb_ms_put_request pq;
	uint8_t buf[MB_MS_PUTREQ_LEN];

	(void)state;
	memset(&pr, 0, sizeof(pr));
	pr.error = MB_MS_ERROR_NOTIMPL;
	{
		uint8_t out[MB_MS_PUTREPLY_LEN];

		assert_int_equal(mb_ms_put_reply_encode(&pr, out, sizeof(out)), 0);
		assert_int_equal(mb_ms_msg_len(out, sizeof(out), NULL), MB_MS_PUTREPLY_LEN);
		assert_int_equal(mb_ms_put_reply_decode(out, sizeof(out), &pr2, NULL), 0);
		assert_int_equal(pr2.error, MB_MS_ERROR_NOTIMPL);
	}
	/* A hand-made PUTSTATUS request. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "V01", 4);
	buf[7] = MB_MS_PUTREQUEST;
	buf[8 + 4] = 1;
	buf[8 + 6] = 3;
	memcpy(buf + 8 + 7, "a/b", 3);
	buf[8 + 271 + 3] = 42;
	assert_int_equal(mb_ms_msg_len(buf, sizeof(buf), NULL), MB_MS_PUTREQ_LEN);
	assert_int_equal(mb_ms_put_request_decode(buf, sizeof(buf), &pq, NULL), 0);
	assert_string_equal(pq.imageid, "a/b");
	assert_int_equal(pq.mtime, 42);
	assert_string_equal(mb_ms_error_name(MB_MS_ERROR_TRYAGAIN), "TRYAGAIN");
	assert_string_equal(mb_ms_error_name(99), "UNKNOWN");
	assert_true(mb_ms_method_single(MB_MS_METHOD_BROADCAST));
	assert_false(mb_ms_method_single(3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_request),
		cmocka_unit_test(test_capture_reply),
		cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_fuzz_lite),
		cmocka_unit_test(test_put_and_names),
	};

	return cmocka_run_group_tests(tests, load_capture, NULL);
}
