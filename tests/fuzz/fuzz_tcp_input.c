/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the TCP state machine (dataplane/tcp.c).
 *
 * The input is a script of segments from one or two peers to a small stack
 * (4 connections, SYN backlog 2).  Its first byte picks the application:
 * odd = the real HTTP server (dataplane/tcp_http.c, image "/images/img"),
 * even = a toy one (below).  Then each record is 10 bytes and a payload:
 *   ctl  bits 0-2 time step, bit 3 second peer, bit 4 closed port,
 *        bit 5 absolute numbers (else relative to what each side sent)
 *   flags, seq (16-bit BE, signed delta or low bits), ack (same), window
 *   (16-bit BE), options mask (MSS, WS, SACK-permitted, TS, SACK 1/2
 *   blocks), option value, payload length (0-255)
 * The segment is built as bytes and goes through mb_tcp_parse like the
 * dataplane's glue does; the toy application answers "G" with the image,
 * "C" with a close, "A" with an abort, "P" by taking half.  At the end the stack
 * is freed: every image reference the connections held must be back.  Also
 * built by tests/unit/test_garbage.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_tcp_seg.h"
#include "http_host.h"
#include "tcp.h"
#include "tcp_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMG_LEN 20000u

struct peer {
	uint32_t seq;	  /* next sequence number the peer sends */
	uint32_t srv_nxt; /* highest seq + len the server sent it */
	bool started;
};

struct env {
	struct http_host host; /* the context with the real HTTP server */
	struct peer peer[2];
	struct mb_image *img;
	unsigned int emitted;
};

static int
emit(void *ctx, const struct mb_tcp_out *o)
{
	struct env *e = ctx;
	struct peer *p = &e->peer[o->t.rport & 1];
	uint32_t end = o->seq + o->len + ((o->flags & (MB_TCP_SYN | MB_TCP_FIN)) ? 1 : 0);

	if (o->buf != NULL && (o->off > o->buf->len || o->len > o->buf->len - o->off))
		abort();
	if ((int32_t)(end - p->srv_nxt) > 0 || !p->started) {
		p->srv_nxt = end;
		p->started = true;
	}
	e->emitted++;
	return 0;
}

static bool
listening(void *ctx, const struct mb_tcp_tuple *t)
{
	(void)ctx;
	return t->lport == 80;
}

static int
accept_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	(void)ctx;
	(void)s;
	c->app = c;
	return 0;
}

static uint32_t
recv_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c, const uint8_t *d, uint32_t n)
{
	struct env *e = ctx;

	if (n == 0)
		return 0;
	switch (d[0]) {
	case 'G':
		if (mb_tcp_send(s, c, &mb_image_ref(e->img)->sb, d[n - 1] * 7u, IMG_LEN / (1 + n)) != 0)
			mb_image_unref(e->img);
		return n;
	case 'C':
		(void)mb_tcp_close(s, c);
		return n;
	case 'A':
		mb_tcp_abort(s, c);
		return n;
	case 'P':
		return n / 2;
	default:
		return n;
	}
}

static void
peer_fin(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	(void)ctx;
	(void)mb_tcp_close(s, c);
}

static void
closed(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	(void)ctx;
	(void)s;
	if (c->app != NULL && c->app != c)
		abort();
	c->app = NULL;
}

static const struct mb_tcp_ops ops = {
	.emit = emit,
	.listening = listening,
	.accept = accept_cb,
	.recv = recv_cb,
	.sent = NULL,
	.peer_fin = peer_fin,
	.closed = closed,
};

static const uint64_t steps[8] = {
	0, 1000, 1000000, 50000000, 250000000, 1000000000, 5000000000, 400000000000,
};

/* Build the segment of one record into seg[]; returns its length. */
static size_t
build(struct env *e, const uint8_t *r, const uint8_t *payload, size_t plen, uint8_t *seg)
{
	struct peer *p = &e->peer[(r[0] >> 3) & 1];
	bool absolute = (r[0] & 0x20) != 0;
	uint16_t sq = (uint16_t)(r[2] << 8 | r[3]), ak = (uint16_t)(r[4] << 8 | r[5]);
	uint8_t mask = r[8], v = r[7];
	struct fuzz_tcp_opt opt = {
		.mask = mask,
		.mss = (uint16_t)(v * 8 + 1),
		.ws = v & 15,
		.tsval = v * 1000u,
		.tsecr = v & 1 ? 0 : v * 3u,
		.nsack = (mask & 0x30) ? ((mask & 0x20) ? 2 : 1) : 0,
	};
	size_t o;

	for (unsigned b = 0; b < opt.nsack; b++) {
		uint32_t l = p->srv_nxt - (uint32_t)(v + 1) * 1460u * (b + 1);

		opt.sack[b][0] = l;
		opt.sack[b][1] = l + 1460u * (1 + (mask >> 6));
	}
	o = fuzz_tcp_hdr(seg, (uint16_t)(40000 + ((r[0] >> 3) & 1)), (r[0] & 0x10) ? 81 : 80,
			 absolute ? sq * 65537u : p->seq + (uint32_t)(int16_t)sq,
			 absolute ? ak * 65537u : p->srv_nxt + (uint32_t)(int16_t)ak, r[1],
			 (uint16_t)(r[6] << 8 | r[7]), &opt);
	memcpy(seg + o, payload, plen);
	if (!absolute)
		p->seq += (uint32_t)plen + ((r[1] & (MB_TCP_SYN | MB_TCP_FIN)) ? 1 : 0);
	return o + plen;
}
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct env e = {0};
	struct mb_tcp_params prm;
	struct mb_tcp_stack *s;
	struct mb_tcp_seg seg;
	struct mb_tcp_tuple t;
	uint8_t buf[60 + 256], *img;
	uint64_t now = 1000000000;
	size_t plen, n;

	img = malloc(IMG_LEN);
	if (img == NULL)
		return 0;
	memset(img, 'x', IMG_LEN);
	e.img = mb_image_new_heap("img", img, IMG_LEN);
	free(img);
	if (e.img == NULL)
		abort();
	e.peer[0].seq = 1000000;
	e.peer[1].seq = 0xfffff000u;
	if (size < 1) {
		mb_image_unref(e.img);
		return 0;
	}
	http_host_init(&e.host, e.img, 80, emit, &e);
	mb_tcp_params_default(&prm);
	memcpy(prm.secret, "0123456789abcdef", 16);
	prm.max_conns = 4;
	prm.syn_backlog = 2;
	prm.max_rexmt = 3;
	prm.idle_timeout_ns = 30000000000ull;
	s = (data[0] & 1) ? mb_tcp_stack_new(&prm, &http_host_ops, &e.host) :
			    mb_tcp_stack_new(&prm, &ops, &e);
	data++;
	size--;
	if (s == NULL)
		abort();
	while (size >= 10) {
		plen = data[9];
		plen = plen > size - 10 ? size - 10 : plen;
		n = build(&e, data, data + 10, plen, buf);
		now += steps[data[0] & 7];
		t.laddr = 0x0100000a;
		t.raddr = 0x0200000a;
		t.lport = (uint16_t)((data[0] & 0x10) ? 81 : 80);
		t.rport = (uint16_t)(40000 + ((data[0] >> 3) & 1));
		mb_tcp_timers(s, now);
		if (mb_tcp_parse(buf, n, &seg) == MB_TCP_PARSE_OK)
			mb_tcp_input(s, &t, &seg, now);
		if (mb_tcp_stack_nconns(s) > prm.max_conns)
			abort();
		data += 10 + plen;
		size -= 10 + plen;
	}
	/* Let every timer run out, then free what is left. */
	for (int i = 0; i < 8; i++) {
		now += 100000000000ull;
		mb_tcp_timers(s, now);
	}
	mb_tcp_stack_free(s);
	if (atomic_load(&e.img->sb.refcnt) != 1)
		abort();
	mb_image_unref(e.img);
	return 0;
}
