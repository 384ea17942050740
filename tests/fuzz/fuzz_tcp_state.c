/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stateful libFuzzer harness for the TCP core (dataplane/tcp_*.c) serving
 * an image over the real HTTP server (dataplane/tcp_http.c).
 *
 * Where fuzz_tcp_input feeds segment records, this one decodes its input as
 * a sequence of peer actions against three peers (ports 40000..40002) and
 * checks invariants after every emitted segment and after every step, so a
 * broken one aborts at the step that broke it.
 *
 * Input: byte 0 picks our MSS (MTU - 40) and the initial window; then steps,
 * each an op byte (bits 0-2 op, bits 3-4 peer, bits 5-7 argument) and the
 * op's own bytes (missing bytes read as 0):
 *   0 SYN      options mask, MSS (2), window scale, window (2)
 *   1 DATA     template: GET, GET with a Range (2 + 2), raw bytes (length +
 *              bytes), HTTP/1.0 GET; ACKs what the peer has seen
 *   2 ACK      ack delta (signed 2, from the highest byte seen), window (2),
 *              argument = SACK blocks (0-2) below the highest byte seen
 *   3 REPLAY   index into the last 16 segments sent: reorder / duplicate
 *   4 RST      sequence delta (signed 1)
 *   5 FIN
 *   6 TIME     argument picks a step (1 us .. 400 s) of the clock
 *   7 TXFAIL   the next `argument` emits fail (-ENOBUFS)
 * Invariants (abort on violation):
 *   - no payload above the peer's MSS (our MSS, the timestamp option off),
 *     no frame above the MTU, payload inside its buffer;
 *   - every byte sent at a stream offset equals what was first sent there,
 *     from the same source (image offset or header), image bytes form runs
 *     of consecutive image offsets, and a run starts where the HTTP header
 *     before it (Content-Range, or 0 for 200) says;
 *   - new data ends inside the largest window the peer ever offered (plus
 *     one byte of zero-window probe);
 *   - counters: tx_segs / tx_fail / tx_bytes equal what the emit callback
 *     saw, connections within the table, accepted minus closed within the
 *     live connections, responses not above requests;
 *   - per connection: spans and scoreboard within their arrays, una <= nxt
 *     <= max <= end (+FIN), cwnd within MB_TCP_CWND_MAX, SACK entries
 *     inside [una, max]; an open tail loss probe episode never in recovery
 *     or after an RTO (both end it), its range inside what was sent; the
 *     remembered retransmission of the first hole only in recovery and
 *     inside what was sent; in SACK recovery the mark of resent holes
 *     (rexmt_nxt, RFC 6675's HighRxt) never moves back;
 *   - after the stack is freed every connection was closed and every image
 *     reference is back.
 * Also built by tests/unit/test_garbage.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_rd.h"
#include "fuzz_tcp_seg.h"
#include "http_host.h"
#include "tcp.h"
#include "tcp_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMG_LEN 12000u
#define NPEERS 3
#define SHADOW 65536u /* stream bytes checked per connection */
#define HIST 16
#define SEGMAX (60 + 512)

/* Source tag of a shadow byte: 0 = unknown, 1 = header, 2 + n = image byte n. */
struct peer {
	uint32_t isn;     /* of the current SYN */
	uint32_t seq;     /* next sequence number the peer sends */
	uint32_t srv_nxt; /* highest seq + len the server sent it */
	uint32_t tsval, tsecr;
	bool started;
	bool ts;           /* sends timestamps */
	uint8_t syn_ws;    /* largest scale it ever offered (15 = none) */
	uint32_t max_pmss; /* largest MSS it ever announced (536 if none) */
	/* the current incarnation's stream, keyed by our ISS */
	bool have_iss;
	uint32_t iss;
	uint64_t edge; /* largest right window edge offered, stream offset */
	uint32_t hi;   /* shadow bytes possibly set */
	uint8_t *byte;
	uint32_t *tag;
	/* the SACK recovery seen at the last check (its connection's ISS and
	 * recover) and its mark of resent holes then */
	bool rec_in;
	uint32_t rec_iss;
	uint64_t rec_recover, rec_nxt;
};

struct hseg {
	uint8_t buf[SEGMAX];
	size_t len;
	uint8_t peer;
};

struct env {
	struct http_host host; /* the context with the real HTTP server */
	struct mb_tcp_stack *s;
	struct mb_image *img;
	const uint8_t *imgb;
	uint16_t our_mss;
	struct peer peer[NPEERS];
	struct hseg hist[HIST];
	unsigned int nhist;
	uint64_t emits_ok, emits_fail, bytes_ok;
	uint32_t fail_next;
	uint64_t accepts, closes;
	/* the segment being delivered */
	int cur_peer;
	bool cur_ack;
	uint32_t cur_ackno;
	uint16_t cur_win;
};

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_tcp_state: invariant broken: %s (line %d)\n", #c,    \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void
shadow_reset(struct peer *p, uint32_t iss)
{
	memset(p->tag, 0, (size_t)p->hi * sizeof(p->tag[0]));
	p->hi = 0;
	p->iss = iss;
	p->have_iss = true;
	p->edge = 0;
}

/* Content-Range start (or 0 for a 200) of the header ending just before
 * stream offset `end` of p; -1 when no complete header is known there. */
static int64_t
header_start(const struct peer *p, uint32_t end)
{
	uint32_t b, i;
	char h[1024];
	const char *cr, *st = NULL;
	size_t n;

	if (end < 4 || memcmp(p->byte + end - 4, "\r\n\r\n", 4) != 0)
		return -1;
	for (i = end - 4; i > 0; i--) {
		if (p->tag[i - 1] != 1)
			break;
		if (i >= 4 && memcmp(p->byte + i - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	b = i;
	n = end - b < sizeof(h) - 1 ? end - b : sizeof(h) - 1;
	memcpy(h, p->byte + b, n);
	h[n] = '\0';
	/* the last response in the run (a 4xx body may come before it) */
	for (cr = strstr(h, "HTTP/1.1 "); cr != NULL; cr = strstr(cr + 1, "HTTP/1.1 "))
		st = cr;
	if (st == NULL)
		return -1;
	if (strncmp(st + 9, "200", 3) == 0)
		return 0;
	cr = strstr(st, "Content-Range: bytes ");
	if (cr == NULL)
		return -1;
	return strtoll(cr + 21, NULL, 10);
}

/* A payload segment of the current incarnation: compare with the shadow. */
static void
check_payload(struct env *e, struct peer *p, const struct mb_tcp_out *o)
{
	uint32_t s0 = o->seq - (p->iss + 1);
	bool img = o->buf == &e->img->sb;

	if (s0 >= SHADOW)
		return;
	for (uint32_t k = 0; k < o->len && s0 + k < SHADOW; k++) {
		uint32_t s = s0 + k;
		uint8_t b = o->buf->data[o->off + k];
		uint32_t tag = img ? 2 + (uint32_t)(o->off + k) : 1;

		if (img)
			CHECK(b == e->imgb[o->off + k]);
		if (p->tag[s] != 0) {
			CHECK(p->tag[s] == tag);
			CHECK(p->byte[s] == b);
			continue;
		}
		p->tag[s] = tag;
		p->byte[s] = b;
		if (s + 1 > p->hi)
			p->hi = s + 1;
		/* image runs are consecutive; a run begins where its header says */
		if (img && s > 0 && p->tag[s - 1] >= 2)
			CHECK(p->tag[s - 1] + 1 == tag);
		if (img && s > 0 && p->tag[s - 1] == 1) {
			int64_t st = header_start(p, s);

			if (st >= 0)
				CHECK((uint64_t)st == o->off + k);
		}
		if (!img && s + 1 < SHADOW && p->tag[s + 1] >= 2) {
			/* header completed after its body: check the body start */
			int64_t st = header_start(p, s + 1);

			if (st >= 0)
				CHECK((uint64_t)st + 2 == p->tag[s + 1]);
		}
	}
}

/* The right window edge of the segment being delivered to p, if it is p's. */
static void
edge_update(struct env *e, struct peer *p)
{
	uint32_t a;
	unsigned int sc = p->syn_ws > 14 ? 0 : p->syn_ws;
	uint64_t edge;

	if (!e->cur_ack || !p->have_iss || e->cur_peer < 0 || &e->peer[e->cur_peer] != p)
		return;
	a = e->cur_ackno - (p->iss + 1);
	if (a >= (1u << 30))
		return;
	edge = (uint64_t)a + ((uint64_t)e->cur_win << sc);
	if (edge > p->edge)
		p->edge = edge;
}

static int
emit(void *ctx, const struct mb_tcp_out *o)
{
	struct env *e = ctx;
	unsigned int pi = (unsigned int)(o->t.rport - 40000u);
	struct peer *p;
	uint8_t hdr[MB_TCP_HDR_MAX];
	unsigned int hl = mb_tcp_hdr_build(o, hdr);
	uint32_t end = o->seq + o->len + ((o->flags & (MB_TCP_SYN | MB_TCP_FIN)) ? 1 : 0);

	CHECK(pi < NPEERS);
	p = &e->peer[pi];
	/* the frame fits the MTU, the payload its buffer and the peer's MSS */
	CHECK(20 + hl + o->len <= (uint32_t)e->our_mss + 40);
	CHECK(o->len == 0 || o->buf != NULL);
	if (o->buf != NULL)
		CHECK(o->off <= o->buf->len && o->len <= o->buf->len - o->off);
	{
		uint32_t m = p->max_pmss < e->our_mss ? p->max_pmss : e->our_mss;

		m = o->opt_ts ? (m > 12 ? m - 12 : 0) : m;
		m = m < MB_TCP_MSS_MIN ? MB_TCP_MSS_MIN : m;
		CHECK(o->len <= m);
	}
	if (e->fail_next > 0) {
		e->fail_next--;
		e->emits_fail++;
		return -ENOBUFS;
	}
	e->emits_ok++;
	e->bytes_ok += o->len;
	if (o->conn != NULL) {
		if (!p->have_iss || p->iss != o->conn->iss)
			shadow_reset(p, o->conn->iss);
		edge_update(e, p);
		if (o->len > 0) {
			uint64_t s0 = (uint32_t)(o->seq - (p->iss + 1));

			/* new data only inside a window the peer offered (one
			 * byte more for a zero-window probe) */
			if (s0 < (1u << 30))
				CHECK(s0 + o->len <= p->edge + 1);
			check_payload(e, p, o);
		}
	}
	if ((int32_t)(end - p->srv_nxt) > 0 || !p->started) {
		p->srv_nxt = end;
		p->started = true;
	}
	if (o->opt_ts)
		p->tsecr = o->tsval;
	return 0;
}

static bool
listening(void *ctx, const struct mb_tcp_tuple *t)
{
	return http_host_ops.listening(&((struct env *)ctx)->host, t);
}

static int
accept_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct env *e = ctx;
	int rc = http_host_ops.accept(&e->host, s, c);

	if (rc == 0)
		e->accepts++;
	return rc;
}

static uint32_t
recv_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c, const uint8_t *d, uint32_t n)
{
	return http_host_ops.recv(&((struct env *)ctx)->host, s, c, d, n);
}

static void
sent_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (http_host_ops.sent != NULL)
		http_host_ops.sent(&((struct env *)ctx)->host, s, c);
}

static void
peer_fin(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (http_host_ops.peer_fin != NULL)
		http_host_ops.peer_fin(&((struct env *)ctx)->host, s, c);
}

static void
closed(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct env *e = ctx;

	e->closes++; /* the core calls this for accepted connections only */
	http_host_ops.closed(&e->host, s, c);
}

static const struct mb_tcp_ops ops = {
    .emit = emit,
    .listening = listening,
    .accept = accept_cb,
    .recv = recv_cb,
    .sent = sent_cb,
    .peer_fin = peer_fin,
    .closed = closed,
};

/* Options of a segment: bit 0 MSS, 1 WS, 2 SACK-permitted, 3 TS, and
 * nsack SACK blocks.  Returns the header length. */
static size_t
build_hdr(struct env *e, struct peer *p, unsigned int pi, uint8_t *seg, uint8_t flags, uint32_t seq,
          uint32_t ack, uint16_t win, uint8_t mask, uint16_t mss, uint8_t ws, unsigned int nsack)
{
	struct fuzz_tcp_opt o = {
	    .mask = mask,
	    .mss = mss,
	    .ws = ws,
	    .tsval = p->tsval,
	    .tsecr = p->tsecr,
	    .nsack = nsack,
	};

	for (unsigned int b = 0; b < nsack && b < 2; b++) {
		uint32_t l = p->srv_nxt - (uint32_t)e->our_mss * 2u * (b + 1);

		o.sack[b][0] = l;
		o.sack[b][1] = l + e->our_mss;
	}
	return fuzz_tcp_hdr(seg, (uint16_t)(40000 + pi), 80, seq, ack, flags, win, &o);
}

static void
deliver(struct env *e, unsigned int pi, const uint8_t *seg, size_t len, uint64_t now, bool keep)
{
	struct mb_tcp_tuple t = {
	    .laddr = 0x0100000a,
	    .raddr = 0x0200000a,
	    .lport = 80,
	    .rport = (uint16_t)(40000 + pi),
	};
	struct mb_tcp_seg g;

	if (keep && len <= SEGMAX) {
		struct hseg *h = &e->hist[e->nhist++ % HIST];

		memcpy(h->buf, seg, len);
		h->len = len;
		h->peer = (uint8_t)pi;
	}
	if (mb_tcp_parse(seg, len, &g) != MB_TCP_PARSE_OK)
		return;
	g.link = pi; /* each peer its own link neighbour (the cookie budget's shares) */
	e->cur_peer = (int)pi;
	e->cur_ack = (g.flags & MB_TCP_ACK) != 0;
	e->cur_ackno = g.ack;
	e->cur_win = g.win;
	edge_update(e, &e->peer[pi]);
	mb_tcp_input(e->s, &t, &g, now);
	/* the largest right edge the peer offered (in stream offsets), after
	 * the input so that the ACK opening a connection (SYN cookie) counts */
	{
		struct peer *p = &e->peer[pi];
		struct mb_tcp_conn *c = mb_tcp_lookup(e->s, &t);

		if (c != NULL && (!p->have_iss || p->iss != c->iss))
			shadow_reset(p, c->iss);
		edge_update(e, p);
	}
}

static void
check_state(struct env *e, const struct mb_tcp_params *prm)
{
	const struct mb_tcp_counters *c = mb_tcp_stack_counters(e->s);
	const struct mb_tcp_http_counters *h = &e->host.http.cnt;
	uint32_t live = 0;

	CHECK(c->tx_segs == e->emits_ok);
	CHECK(c->tx_fail == e->emits_fail);
	CHECK(c->tx_bytes == e->bytes_ok);
	CHECK(mb_tcp_stack_nconns(e->s) <= prm->max_conns);
	CHECK(c->conn_open <= c->syn_rcvd + c->syn_cookies_ok);
	CHECK(h->resp_200 + h->resp_206 + h->resp_304 + h->resp_4xx + h->resp_5xx <= h->requests);
	for (unsigned int i = 0; i < NPEERS; i++) {
		struct mb_tcp_tuple t = {
		    .laddr = 0x0100000a,
		    .raddr = 0x0200000a,
		    .lport = 80,
		    .rport = (uint16_t)(40000 + i),
		};
		struct mb_tcp_conn *k = mb_tcp_lookup(e->s, &t);

		if (k == NULL) {
			e->peer[i].rec_in = false;
			continue;
		}
		live++;
		CHECK(k->nspans <= MB_TCP_SPANS);
		CHECK(k->nsb <= MB_TCP_SCOREBOARD);
		CHECK(k->una <= k->nxt);
		CHECK(k->nxt <= k->max);
		CHECK(k->max <= k->end + 1);
		CHECK(k->cwnd <= MB_TCP_CWND_MAX);
		CHECK(k->mss >= MB_TCP_MSS_MIN && k->mss <= e->our_mss);
		for (unsigned int j = 0; j < k->nsb; j++)
			CHECK(k->sb[j].l < k->sb[j].r && k->sb[j].r <= k->max + 1);
		if (k->tlp_out) {
			uint32_t lo = k->tlp_lo - (k->iss + 1), hi = k->tlp_end - (k->iss + 1);

			CHECK(!k->in_recovery && k->nrexmt == 0);
			CHECK(lo < hi && hi <= k->max);
		}
		if (k->rack_on) {
			CHECK(k->in_recovery);
			CHECK(k->rack_mark <= k->max && k->rack_max <= k->max);
		}
		if (k->in_recovery && k->sack_ok) {
			struct peer *p = &e->peer[i];

			/* a hole is resent once per recovery: the mark of
			 * resent holes (RFC 6675 HighRxt) never moves back */
			if (p->rec_in && p->rec_iss == k->iss && p->rec_recover == k->recover)
				CHECK(k->rexmt_nxt >= p->rec_nxt);
			p->rec_in = true;
			p->rec_iss = k->iss;
			p->rec_recover = k->recover;
			p->rec_nxt = k->rexmt_nxt;
		} else {
			e->peer[i].rec_in = false;
		}
	}
	CHECK(mb_tcp_stack_nconns(e->s) == live);
	CHECK(e->accepts >= e->closes && e->accepts - e->closes <= live);
	CHECK(mb_tcp_src_conns(e->s, 0x0200000a) == live);
}

static const uint64_t tsteps[8] = {
    1000, 1000000, 30000000, 250000000, 1000000000, 5000000000, 60000000000, 400000000000,
};

static const uint16_t our_mss[4] = {1460, 536, 1200, 8960};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *bytes[NPEERS];
	static uint32_t *tags[NPEERS];
	static struct env e;
	struct mb_tcp_params prm;
	struct rd r = {data, size};
	uint8_t seg[SEGMAX], *img;
	uint64_t now = 1000000000;
	unsigned int steps = 0;
	uint8_t b0;

	if (size < 1)
		return 0;
	for (unsigned int i = 0; i < NPEERS; i++) {
		if (bytes[i] == NULL) {
			bytes[i] = malloc(SHADOW);
			tags[i] = calloc(SHADOW, sizeof(uint32_t));
			if (bytes[i] == NULL || tags[i] == NULL)
				abort();
		}
	}
	for (unsigned int i = 0; i < NPEERS; i++)
		if (e.peer[i].tag != NULL)
			memset(e.peer[i].tag, 0, (size_t)e.peer[i].hi * sizeof(uint32_t));
	memset(&e, 0, sizeof(e));
	img = malloc(IMG_LEN);
	if (img == NULL)
		abort();
	for (uint32_t i = 0; i < IMG_LEN; i++)
		img[i] = (uint8_t)(i * 7u + (i >> 8) * 13u);
	e.img = mb_image_new_heap("img", img, IMG_LEN);
	free(img);
	if (e.img == NULL)
		abort();
	e.imgb = e.img->sb.data;
	e.cur_peer = -1;
	for (unsigned int i = 0; i < NPEERS; i++) {
		e.peer[i].byte = bytes[i];
		e.peer[i].tag = tags[i];
		e.peer[i].isn = 1000000u + 0x7fff0000u * i;
		e.peer[i].seq = e.peer[i].isn;
		e.peer[i].syn_ws = 15;
		e.peer[i].max_pmss = 536;
		e.peer[i].tsval = 1;
	}
	b0 = rd8(&r);
	http_host_init(&e.host, e.img, 80, NULL, NULL);
	mb_tcp_params_default(&prm);
	memcpy(prm.secret, "0123456789abcdef", 16);
	prm.mss = our_mss[b0 & 3];
	prm.initial_window = 1 + ((b0 >> 2) & 15);
	prm.max_conns = 2;
	prm.syn_backlog = 1;
	prm.syn_cookies_always = (b0 & 0x40) != 0;
	if (b0 & 0x80) { /* a cookie budget a few SYNs exhaust */
		prm.syn_cookie_rate = 16;
	}
	prm.max_rexmt = 4;
	prm.idle_timeout_ns = 100000000000ull;
	e.our_mss = prm.mss;
	e.s = mb_tcp_stack_new(&prm, &ops, &e);
	if (e.s == NULL)
		abort();
	while (r.n > 0 && steps++ < 4096) {
		uint8_t op = rd8(&r);
		unsigned int pi = ((op >> 3) & 3) % NPEERS, arg = op >> 5;
		struct peer *p = &e.peer[pi];
		uint8_t mask = p->ts ? 8 : 0;
		size_t n;

		mb_tcp_timers(e.s, now);
		p->tsval += 1 + (uint32_t)(now >> 24);
		switch (op & 7) {
		case 0: { /* SYN */
			uint8_t m = rd8(&r);
			uint16_t mss = rd16(&r), win;
			uint8_t ws = rd8(&r);

			win = rd16(&r);
			p->isn += 0x01000193u;
			p->seq = p->isn + 1;
			p->ts = (m & 8) != 0;
			if (m & 1)
				p->max_pmss = mss > p->max_pmss ? mss : p->max_pmss;
			if ((m & 2) && (p->syn_ws == 15 || ws > p->syn_ws))
				p->syn_ws = ws > 14 ? 14 : ws;
			n = build_hdr(&e, p, pi, seg, MB_TCP_SYN, p->isn, 0, win, m & 15, mss, ws,
			              0);
			deliver(&e, pi, seg, n, now, true);
			break;
		}
		case 1: { /* DATA */
			uint8_t t = rd8(&r);
			char req[300];
			int len = 0;

			n = build_hdr(&e, p, pi, seg, MB_TCP_ACK | MB_TCP_PSH, p->seq, p->srv_nxt,
			              65535, mask, 0, 0, 0);
			switch (t & 3) {
			case 0:
				len = snprintf(req, sizeof(req),
				               "GET /images/img HTTP/1.1\r\nHost: m\r\n\r\n");
				break;
			case 1: {
				unsigned int a = rd16(&r), b = rd16(&r);

				len = snprintf(req, sizeof(req),
				               "GET /images/img HTTP/1.1\r\nHost: m\r\nRange: "
				               "bytes=%u-%u\r\n\r\n",
				               a % (IMG_LEN + 100), b % (IMG_LEN + 100));
				break;
			}
			case 2: {
				size_t raw;
				const uint8_t *from = rd_bytes(&r, rd8(&r), &raw);

				memcpy(req, from, raw);
				len = (int)raw;
				break;
			}
			default:
				len =
				    snprintf(req, sizeof(req), "GET /images/img HTTP/1.0\r\n\r\n");
				break;
			}
			if (len < 0 || (size_t)len > sizeof(req))
				abort();
			memcpy(seg + n, req, (size_t)len);
			p->seq += (uint32_t)len;
			deliver(&e, pi, seg, n + (size_t)len, now, true);
			break;
		}
		case 2: { /* ACK */
			int16_t d = (int16_t)rd16(&r);
			uint16_t win = rd16(&r);

			n = build_hdr(&e, p, pi, seg, MB_TCP_ACK, p->seq,
			              p->srv_nxt + (uint32_t)(int32_t)d, win, mask, 0, 0, arg % 3);
			deliver(&e, pi, seg, n, now, true);
			break;
		}
		case 3: { /* REPLAY */
			uint8_t i = rd8(&r);

			if (e.nhist > 0) {
				struct hseg *h =
				    &e.hist[(e.nhist - 1 - i % (e.nhist < HIST ? e.nhist : HIST)) %
				            HIST];

				memcpy(seg, h->buf, h->len);
				deliver(&e, h->peer, seg, h->len, now, false);
			}
			break;
		}
		case 4: { /* RST */
			int8_t d = (int8_t)rd8(&r);

			n = build_hdr(&e, p, pi, seg, MB_TCP_RST | (arg & 1 ? MB_TCP_ACK : 0),
			              p->seq + (uint32_t)(int32_t)d, p->srv_nxt, 0, 0, 0, 0, 0);
			deliver(&e, pi, seg, n, now, true);
			break;
		}
		case 5: /* FIN */
			n = build_hdr(&e, p, pi, seg, MB_TCP_FIN | MB_TCP_ACK, p->seq, p->srv_nxt,
			              65535, mask, 0, 0, 0);
			p->seq++;
			deliver(&e, pi, seg, n, now, true);
			break;
		case 6: /* TIME */
			now += tsteps[arg];
			break;
		default: /* TXFAIL */
			e.fail_next = arg;
			break;
		}
		mb_tcp_timers(e.s, now);
		check_state(&e, &prm);
	}
	e.fail_next = 0;
	/* Let every timer run out, then free what is left. */
	for (int i = 0; i < 8; i++) {
		now += 100000000000ull;
		mb_tcp_timers(e.s, now);
		check_state(&e, &prm);
	}
#ifdef MB_FUZZ_DEBUG
	fprintf(stderr,
	        "segs %llu bytes %llu fail %llu accepts %llu requests %llu 200 %llu 206 %llu\n",
	        (unsigned long long)e.emits_ok, (unsigned long long)e.bytes_ok,
	        (unsigned long long)e.emits_fail, (unsigned long long)e.accepts,
	        (unsigned long long)e.host.http.cnt.requests,
	        (unsigned long long)e.host.http.cnt.resp_200,
	        (unsigned long long)e.host.http.cnt.resp_206);
#endif
	mb_tcp_stack_free(e.s);
	CHECK(e.accepts == e.closes);
	CHECK(atomic_load(&e.img->sb.refcnt) == 1);
	mb_image_unref(e.img);
	return 0;
}
