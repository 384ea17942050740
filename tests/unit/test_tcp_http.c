/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP server over the TCP core, with a scripted peer that reassembles
 * what the core emits into a byte stream and acknowledges it: full GETs,
 * ranges, HEAD, pipelining beyond the span queue, Connection: close, a
 * half-closing client, malformed and hostile requests.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_host.h"
#include "tcp.h"
#include "tcp_http.h"

#define IMG_LEN 100000u
#define SEC 1000000000ULL
#define MS 1000000ULL
#define STREAM_MAX (4u << 20)

static struct mb_image *pub;

struct env {
	struct http_host host; /* the stack's context */
	struct mb_tcp_stack *s;
	struct mb_tcp_tuple t;
	uint64_t now;
	uint32_t iss, pseq;
	uint8_t *stream; /* what the server sent, by stream offset */
	uint64_t hi;	 /* bytes received (contiguous: no loss here) */
	bool fin;
	bool rst;
	uint32_t iss_of[65536]; /* by peer port, for several connections */
};

static int
emit(void *ctx, const struct mb_tcp_out *o)
{
	struct env *e = ctx;

	if (o->flags & MB_TCP_SYN) {
		e->iss = e->iss_of[o->t.rport] = o->seq;
		return 0;
	}
	if (o->flags & MB_TCP_RST)
		e->rst = true;
	if (o->len > 0) {
		uint64_t off = o->seq - (e->iss_of[o->t.rport] + 1);

		assert_true(off + o->len <= STREAM_MAX);
		memcpy(e->stream + off, o->buf->data + o->off, o->len);
		if (off + o->len > e->hi)
			e->hi = off + o->len;
	}
	if (o->flags & MB_TCP_FIN)
		e->fin = true;
	return 0;
}

static void
seg(struct env *e, uint8_t flags, const char *data)
{
	struct mb_tcp_seg g = { 0 };

	g.sport = e->t.rport;
	g.dport = e->t.lport;
	g.seq = e->pseq;
	g.ack = e->iss + 1 + (uint32_t)e->hi + e->fin;
	g.flags = flags;
	g.win = 65535;
	if (flags & MB_TCP_SYN) {
		g.has_mss = true;
		g.mss = 1460;
		g.ack = 0;
	}
	if (data != NULL) {
		g.payload = (const uint8_t *)data;
		g.plen = (uint32_t)strlen(data);
	}
	mb_tcp_input(e->s, &e->t, &g, e->now);
	e->pseq += g.plen + !!(flags & (MB_TCP_SYN | MB_TCP_FIN));
}

/* Acknowledge until the server has nothing more to send. */
static void
drain(struct env *e)
{
	for (int i = 0; i < 10000; i++) {
		uint64_t before = e->hi;
		bool fin = e->fin;

		e->now += MS;
		seg(e, MB_TCP_ACK, NULL);
		if (e->hi == before && e->fin == fin)
			return;
	}
	fail();
}

static struct env *
open_conn(void)
{
	struct env *e = calloc(1, sizeof(*e));
	struct mb_tcp_params p;

	mb_tcp_params_default(&p);
	p.max_conns = 8;
	http_host_init(&e->host, pub, 80, emit, e);
	e->s = mb_tcp_stack_new(&p, &http_host_ops, &e->host);
	e->stream = calloc(1, STREAM_MAX);
	e->now = 100 * SEC;
	e->t.lport = 80;
	e->t.rport = 33333;
	e->pseq = 7000;
	seg(e, MB_TCP_SYN, NULL);
	seg(e, MB_TCP_ACK, NULL);
	assert_int_equal(mb_tcp_lookup(e->s, &e->t)->state, MB_TCP_ESTABLISHED);
	return e;
}

static void
close_env(struct env *e)
{
	mb_tcp_stack_free(e->s);
	free(e->stream);
	free(e);
}

/* Parse the response at stream offset *pos: status, body length; checks the
 * body against the image at body_off.  Advances *pos. */
static int
response(struct env *e, uint64_t *pos, uint64_t body_off, bool head, char *hdr_out)
{
	const char *h = (const char *)e->stream + *pos;
	const char *end = strstr(h, "\r\n\r\n");
	const char *cl;
	uint64_t len;
	int status;

	assert_non_null(end);
	if (hdr_out != NULL) {
		memcpy(hdr_out, h, (size_t)(end - h + 4));
		hdr_out[end - h + 4] = '\0';
	}
	assert_int_equal(sscanf(h, "HTTP/1.1 %d", &status), 1);
	cl = strstr(h, "Content-Length: ");
	assert_true(cl != NULL && cl < end);
	len = strtoull(cl + 16, NULL, 10);
	*pos += (uint64_t)(end + 4 - h);
	if (head || status == 304)
		return status;
	if (status == 200 || status == 206)
		assert_memory_equal(e->stream + *pos, pub->sb.data + body_off, len);
	*pos += len;
	return status;
}

static void
test_get(void **st)
{
	struct env *e = open_conn();
	uint64_t pos = 0;
	char hdr[1024];

	(void)st;
	seg(e, MB_TCP_ACK | MB_TCP_PSH, "GET /images/emulab-ops/pub.ndz HTTP/1.1\r\nHost: m\r\n\r\n");
	drain(e);
	assert_int_equal(response(e, &pos, 0, false, hdr), 200);
	assert_non_null(strstr(hdr, "Content-Length: 100000\r\n"));
	assert_int_equal(pos, e->hi);
	assert_false(e->fin);
	/* pipelined range + HEAD + 404 in one segment */
	seg(e, MB_TCP_ACK | MB_TCP_PSH,
	    "GET /images/emulab-ops/pub.ndz HTTP/1.1\r\nHost: m\r\nRange: bytes=5000-5999\r\n\r\n"
	    "HEAD /images/emulab-ops/pub.ndz HTTP/1.1\r\nHost: m\r\n\r\n"
	    "GET /images/nope HTTP/1.1\r\nHost: m\r\n\r\n");
	drain(e);
	assert_int_equal(response(e, &pos, 5000, false, hdr), 206);
	assert_non_null(strstr(hdr, "Content-Range: bytes 5000-5999/100000\r\n"));
	assert_int_equal(response(e, &pos, 0, true, NULL), 200);
	assert_int_equal(response(e, &pos, 0, false, NULL), 404); /* keeps the connection */
	assert_int_equal(pos, e->hi);
	assert_false(e->fin);
	/* six pipelined requests: more than the span queue holds */
	{
		char many[2048] = "";

		for (int i = 0; i < 6; i++)
			snprintf(many + strlen(many), sizeof(many) - strlen(many),
				 "GET /images/emulab-ops/pub.ndz HTTP/1.1\r\nHost: m\r\n"
				 "Range: bytes=%d-%d\r\n\r\n", i * 100, i * 100 + 49);
		seg(e, MB_TCP_ACK | MB_TCP_PSH, many);
		drain(e);
		for (int i = 0; i < 6; i++)
			assert_int_equal(response(e, &pos, (uint64_t)i * 100, false, NULL), 206);
		assert_int_equal(pos, e->hi);
	}
	/* Connection: close -> FIN after the body */
	seg(e, MB_TCP_ACK | MB_TCP_PSH,
	    "GET /images/emulab-ops/pub.ndz HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n");
	drain(e);
	assert_int_equal(response(e, &pos, 0, false, NULL), 200);
	assert_true(e->fin);
	assert_int_equal(mb_tcp_lookup(e->s, &e->t)->state, MB_TCP_FIN_WAIT_2);
	assert_true(e->host.http.cnt.resp_206 >= 7);
	close_env(e);
}

static void
test_half_close(void **st)
{
	struct env *e = open_conn();
	uint64_t pos = 0;
	char hdr[1024];

	(void)st;
	/* request in pieces, then the client shuts its side (wget/curl -0 style) */
	seg(e, MB_TCP_ACK, "GET /images/emulab-ops/pub.ndz HT");
	assert_int_equal(e->hi, 0);
	seg(e, MB_TCP_ACK, "TP/1.1\r\nHost: m\r\n\r\n");
	seg(e, MB_TCP_ACK | MB_TCP_FIN, NULL);
	drain(e);
	assert_int_equal(response(e, &pos, 0, false, hdr), 200);
	assert_true(e->fin);
	assert_null(mb_tcp_lookup(e->s, &e->t)); /* LAST_ACK -> closed */
	close_env(e);
}

static void
test_bad_requests(void **st)
{
	static const struct {
		const char *req;
		int status;
	} bad[] = {
		{ "GET /images/../../etc/shadow HTTP/1.1\r\nHost: m\r\n\r\n", 404 },
		{ "BREW /images/emulab-ops/pub.ndz HTTP/1.1\r\nHost: m\r\n\r\n", 405 },
		{ "GET /images/emulab-ops/pub.ndz HTTP/1.1\r\n\r\n", 400 },
		{ "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n", 400 },
	};

	(void)st;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct env *e = open_conn();
		uint64_t pos = 0;

		seg(e, MB_TCP_ACK | MB_TCP_PSH, bad[i].req);
		drain(e);
		assert_int_equal(response(e, &pos, 0, false, NULL), bad[i].status);
		if (bad[i].status != 404) {
			assert_true(e->fin); /* errors close */
			/* what the client sends after the error is dropped quietly */
			seg(e, MB_TCP_ACK, "GET /images/emulab-ops/pub.ndz HTTP/1.1\r\n\r\n");
		}
		close_env(e);
	}
	/* headers that never end: 431 once the buffer is full */
	{
		struct env *e = open_conn();
		char junk[1001];
		uint64_t pos = 0;

		memset(junk, 'a', 1000);
		junk[1000] = '\0';
		seg(e, MB_TCP_ACK, "GET /images/emulab-ops/pub.ndz HTTP/1.1\r\nX-Long: ");
		for (int i = 0; i < 9 && !e->fin; i++)
			seg(e, MB_TCP_ACK, junk);
		drain(e);
		assert_int_equal(response(e, &pos, 0, false, NULL), 431);
		assert_true(e->fin);
		close_env(e);
	}
}

/* Partial requests pin a buffer each: one source holds at most its share
 * (max_app_per_src); the connection that would need one more is reset and
 * counted, another source is not affected, and a finished request gives the
 * buffer back. */
static void
test_partial_per_source(void **st)
{
	struct env *e = calloc(1, sizeof(*e));
	struct mb_tcp_params p;

	(void)st;
	mb_tcp_params_default(&p);
	p.max_conns = 16;
	p.max_app_per_src = 3;
	http_host_init(&e->host, pub, 80, emit, e);
	e->s = mb_tcp_stack_new(&p, &http_host_ops, &e->host);
	e->stream = calloc(1, STREAM_MAX);
	e->now = 100 * SEC;
	e->t.lport = 80;
	e->t.raddr = 0x0200000a;
	for (unsigned i = 0; i < 5; i++) {
		e->t.rport = (uint16_t)(20000 + i);
		e->pseq = 7000;
		e->hi = 0;
		e->rst = false;
		seg(e, MB_TCP_SYN, NULL);
		seg(e, MB_TCP_ACK, NULL);
		seg(e, MB_TCP_ACK, "GET /images/emulab-ops/pub.ndz HT"); /* and no more */
		if (i < 3) {
			assert_false(e->rst);
			assert_non_null(mb_tcp_lookup(e->s, &e->t));
		} else {
			assert_true(e->rst);
			assert_null(mb_tcp_lookup(e->s, &e->t));
		}
	}
	assert_int_equal(e->host.http.cnt.src_limit, 2);
	assert_int_equal(mb_tcp_src_units(e->s, e->t.raddr), 3);
	/* another source buffers its own partial request */
	e->t.raddr = 0x0300000a;
	e->pseq = 7000;
	e->rst = false;
	seg(e, MB_TCP_SYN, NULL);
	seg(e, MB_TCP_ACK, NULL);
	seg(e, MB_TCP_ACK, "GET /images/emulab-ops/pub.ndz HT");
	assert_false(e->rst);
	/* the first source finishes one request: its buffer is released, so a
	 * new connection of it may buffer again */
	e->t.raddr = 0x0200000a;
	e->t.rport = 20000;
	e->iss = e->iss_of[20000];
	e->pseq = 7000 + 1 + 33;
	e->hi = 0;
	seg(e, MB_TCP_ACK, "TP/1.1\r\nHost: m\r\n\r\n");
	assert_true(e->hi > 0);
	assert_int_equal(mb_tcp_src_units(e->s, e->t.raddr), 2);
	e->t.rport = 20009;
	e->pseq = 7000;
	e->hi = 0;
	e->fin = false;
	e->rst = false;
	seg(e, MB_TCP_SYN, NULL);
	seg(e, MB_TCP_ACK, NULL);
	seg(e, MB_TCP_ACK, "GET /images/emulab-ops/pub.ndz HT");
	assert_false(e->rst);
	assert_int_equal(mb_tcp_src_units(e->s, e->t.raddr), 3);
	close_env(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_partial_per_source),
	};
	uint8_t *bytes = malloc(IMG_LEN);
	int rc;

	for (unsigned i = 0; i < IMG_LEN; i++)
		bytes[i] = (uint8_t)(i * 13 + (i >> 8));
	pub = mb_image_new_heap("emulab-ops/pub.ndz", bytes, IMG_LEN);
	free(bytes);
	pub->mtime = 1700000000;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	mb_image_unref(pub);
	return rc;
}
