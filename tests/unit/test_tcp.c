/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP core driven by scripted segments: a fake peer feeds mb_tcp_input
 * with hand-built segments and a scripted clock, and the emit callback
 * records what the core sends.  Covers the handshake (with and without SYN
 * cookies), ACK clocking, fast retransmit/recovery with and without SACK,
 * RTO backoff, reordering, zero window + persist, RST in every state, both
 * FIN handshakes, TIME_WAIT, the idle timeout and the connection limit, and
 * the segment parser with malformed and random input; CUBIC's window against
 * RFC 9438's formulas, computed here independently of the core.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcp.h"

#define MAXREC 8192
#define PEER_ISS 1000000u
#define IMG_LEN 300000u
#define SEC 1000000000ULL
#define MS 1000000ULL

struct env {
	struct mb_tcp_stack *s;
	struct mb_tcp_params p;
	struct mb_tcp_out rec[MAXREC];
	unsigned nrec;
	struct mb_image *img;
	uint64_t now;
	struct mb_tcp_tuple t;
	uint32_t iss;	   /* server's ISS, from the SYN-ACK */
	uint32_t pseq;	   /* peer's next sequence number */
	bool ts;
	uint32_t tsval;
	uint32_t last_ts; /* our latest tsval, echoed by the peer */
	unsigned accepts, closes, fins;
	bool close_after; /* app closes after queueing the reply */
	bool close_on_fin;
	bool refuse;
	unsigned listen_port;
	uint16_t syn_mss; /* MSS option of the peer's SYN, 0 = 1460 */
	uint32_t len;	  /* bytes of img a GET answers with */
	uint32_t link;	  /* mb_tcp_seg.link of the peer's segments */
};

static int
rec_emit(void *ctx, const struct mb_tcp_out *o)
{
	struct env *e = ctx;

	if (o->opt_ts)
		e->last_ts = o->tsval;
	if (e->nrec < MAXREC)
		e->rec[e->nrec++] = *o;
	return 0;
}

static bool
rec_listening(void *ctx, const struct mb_tcp_tuple *t)
{
	struct env *e = ctx;

	return t->lport == e->listen_port;
}

static int
app_accept(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct env *e = ctx;

	(void)s;
	e->accepts++;
	c->app = e;
	return e->refuse ? -EPERM : 0;
}

static uint32_t
app_recv(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c, const uint8_t *d, uint32_t n)
{
	struct env *e = ctx;

	if (n >= 3 && memcmp(d, "GET", 3) == 0) {
		assert_int_equal(mb_tcp_send(s, c, &mb_image_ref(e->img)->sb, 0, e->len), 0);
		if (e->close_after)
			assert_int_equal(mb_tcp_close(s, c), 0);
	}
	return n;
}

static void
app_fin(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct env *e = ctx;

	e->fins++;
	if (e->close_on_fin)
		(void)mb_tcp_close(s, c);
}

static void
app_closed(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct env *e = ctx;

	(void)s;
	assert_ptr_equal(c->app, e);
	e->closes++;
}

static const struct mb_tcp_ops ops = {
	.emit = rec_emit,
	.listening = rec_listening,
	.accept = app_accept,
	.recv = app_recv,
	.sent = NULL,
	.peer_fin = app_fin,
	.closed = app_closed,
};

static struct env *
env_new(void (*tweak)(struct mb_tcp_params *))
{
	struct env *e = calloc(1, sizeof(*e));
	uint8_t *buf = malloc(IMG_LEN);

	assert_non_null(e);
	for (unsigned i = 0; i < IMG_LEN; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 9));
	e->img = mb_image_new_heap("img", buf, IMG_LEN);
	e->len = IMG_LEN;
	free(buf);
	mb_tcp_params_default(&e->p);
	memcpy(e->p.secret, "0123456789abcdef", 16);
	e->p.max_conns = 64;
	if (tweak)
		tweak(&e->p);
	e->s = mb_tcp_stack_new(&e->p, &ops, e);
	assert_non_null(e->s);
	e->now = 1000 * SEC;
	e->t.laddr = 0x0100000a;
	e->t.raddr = 0x0200000a;
	e->t.lport = 80;
	e->t.rport = 40000;
	e->listen_port = 80;
	e->ts = true;
	e->tsval = 5000;
	return e;
}

static void
env_free(struct env *e)
{
	mb_tcp_stack_free(e->s);
	/* every span reference came back: only ours is left */
	assert_int_equal(atomic_load(&e->img->sb.refcnt), 1);
	mb_image_unref(e->img);
	free(e);
}

static struct mb_tcp_out *
last(struct env *e)
{
	assert_true(e->nrec > 0);
	return &e->rec[e->nrec - 1];
}

/* Send a segment from the peer. */
static void
peer(struct env *e, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, const char *data)
{
	struct mb_tcp_seg g;

	memset(&g, 0, sizeof(g));
	g.sport = e->t.rport;
	g.dport = e->t.lport;
	g.seq = seq;
	g.ack = ack;
	g.flags = flags;
	g.win = win;
	g.link = e->link;
	if (e->ts) {
		g.has_ts = true;
		g.tsval = e->tsval++;
		g.tsecr = e->last_ts;
	}
	if (flags & MB_TCP_SYN) {
		g.has_mss = true;
		g.mss = e->syn_mss ? e->syn_mss : 1460;
		g.has_ws = true;
		g.wscale = 2;
		g.sack_ok = true;
	}
	if (data) {
		g.payload = (const uint8_t *)data;
		g.plen = (uint32_t)strlen(data);
	}
	mb_tcp_input(e->s, &e->t, &g, e->now);
}

static void
peer_sack(struct env *e, uint32_t ack, uint16_t win, uint32_t l, uint32_t r)
{
	struct mb_tcp_seg g;

	memset(&g, 0, sizeof(g));
	g.sport = e->t.rport;
	g.dport = e->t.lport;
	g.seq = e->pseq;
	g.ack = ack;
	g.flags = MB_TCP_ACK;
	g.win = win;
	g.has_ts = e->ts;
	g.tsval = e->tsval++;
	g.nsack = 1;
	g.sack[0].left = l;
	g.sack[0].right = r;
	mb_tcp_input(e->s, &e->t, &g, e->now);
}

static struct mb_tcp_conn *
conn(struct env *e)
{
	return mb_tcp_lookup(e->s, &e->t);
}

/* Three-way handshake; returns the connection. */
static struct mb_tcp_conn *
handshake(struct env *e)
{
	struct mb_tcp_out *o;

	e->nrec = 0;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	o = last(e);
	assert_int_equal(o->flags, MB_TCP_SYN | MB_TCP_ACK);
	assert_int_equal(o->ack, PEER_ISS + 1);
	assert_true(o->opt_mss);
	e->iss = o->seq;
	e->pseq = PEER_ISS + 1;
	assert_int_equal(conn(e)->state, MB_TCP_SYN_RCVD);
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1, 16384, NULL);
	assert_non_null(conn(e));
	assert_int_equal(conn(e)->state, MB_TCP_ESTABLISHED);
	return conn(e);
}

/* Handshake + "GET" request: the server starts sending the image. */
static struct mb_tcp_conn *
request(struct env *e)
{
	struct mb_tcp_conn *c = handshake(e);

	e->nrec = 0;
	peer(e, MB_TCP_ACK | MB_TCP_PSH, e->pseq, e->iss + 1, 16384, "GET");
	e->pseq += 3;
	return c;
}

static unsigned
count_data(struct env *e, unsigned from)
{
	unsigned n = 0;

	for (unsigned i = from; i < e->nrec; i++)
		n += e->rec[i].len > 0;
	return n;
}

/* Byte offset (stream) of a recorded data segment. */
static uint32_t
soff(struct env *e, const struct mb_tcp_out *o)
{
	return o->seq - (e->iss + 1);
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_handshake(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_out *o;
	struct mb_tcp_conn *c;

	(void)st;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	o = last(e);
	assert_int_equal(o->flags, MB_TCP_SYN | MB_TCP_ACK);
	assert_true(o->opt_ws && o->opt_sackok && o->opt_ts);
	assert_int_equal(o->tsecr, 5000);
	assert_int_equal(o->mss, 1460);
	e->iss = o->seq;
	/* retransmitted SYN: same SYN-ACK again */
	e->tsval = 5000;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	assert_int_equal(last(e)->seq, e->iss);
	assert_int_equal(e->accepts, 0);
	/* wrong ACK number: RST, connection stays half open */
	peer(e, MB_TCP_ACK, PEER_ISS + 1, e->iss + 7, 100, NULL);
	assert_int_equal(last(e)->flags, MB_TCP_RST);
	assert_int_equal(conn(e)->state, MB_TCP_SYN_RCVD);
	peer(e, MB_TCP_ACK, PEER_ISS + 1, e->iss + 1, 100, NULL);
	c = conn(e);
	assert_int_equal(c->state, MB_TCP_ESTABLISHED);
	assert_int_equal(e->accepts, 1);
	assert_int_equal(c->snd_wscale, 2);
	assert_int_equal(c->snd_wnd, 400);
	assert_int_equal(c->mss, 1460 - 12);
	assert_true(c->sack_ok && c->ts_ok);
	/* SYN to a closed port: RST|ACK */
	e->t.lport = 81;
	peer(e, MB_TCP_SYN, 5, 0, 100, NULL);
	assert_int_equal(last(e)->flags, MB_TCP_RST | MB_TCP_ACK);
	assert_int_equal(last(e)->ack, 6);
	env_free(e);
}

static void
test_ack_clocking(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	uint32_t acked = 0, mss;
	unsigned rounds = 0;

	(void)st;
	e->close_after = true;
	c = request(e);
	mss = c->mss;
	/* initial window: 10 segments, the first one acknowledges "GET" */
	assert_int_equal(count_data(e, 0), 10);
	assert_int_equal(e->rec[0].ack, PEER_ISS + 4);
	assert_int_equal(e->rec[0].len, mss);
	assert_ptr_equal(e->rec[0].buf, &e->img->sb);
	assert_int_equal(e->rec[0].off, 0);
	/* ack everything as it comes; slow start doubles per round */
	while (acked < IMG_LEN && rounds < 100) {
		unsigned n = e->nrec, i;
		uint32_t hi = acked;

		for (i = 0; i < n; i++)
			if (e->rec[i].len && soff(e, &e->rec[i]) + e->rec[i].len > hi)
				hi = soff(e, &e->rec[i]) + e->rec[i].len;
		e->nrec = 0;
		e->now += 10 * MS;
		acked = hi;
		peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + acked, 65535, NULL);
		rounds++;
		if (rounds == 1)
			assert_int_equal(count_data(e, 0), 12); /* RFC 3465: L = 2 MSS per ACK */
	}
	assert_int_equal(acked, IMG_LEN);
	assert_true(c->srtt_us >= 9000 && c->srtt_us <= 11000);
	/* the FIN follows the last byte */
	assert_int_equal(c->max, (uint64_t)IMG_LEN + 1); /* the FIN went out */
	assert_int_equal(c->state, MB_TCP_FIN_WAIT_1);
	env_free(e);
}

static void
acked_to(struct env *e, uint32_t off)
{
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + off, 65535, NULL);
}

static void
test_fast_retransmit(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	uint32_t mss;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

	(void)st;
	e->ts = false;
	c = request(e);
	mss = c->mss;
	/* segment 0 lost: segments 1..3 produce dup ACKs for 0 (the first
	 * one also opens the window: still a duplicate) */
	e->nrec = 0;
	acked_to(e, 0);
	acked_to(e, 0);
	assert_int_equal(count_data(e, 0), 0);
	assert_int_equal(k->rexmt_fast, 0);
	acked_to(e, 0);
	assert_int_equal(k->rexmt_fast, 1);
	assert_true(c->in_recovery);
	assert_int_equal(soff(e, &e->rec[0]), 0);
	assert_int_equal(e->rec[0].len, mss);
	assert_int_equal(c->ssthresh, 5 * mss);
	assert_int_equal(c->cwnd, 8 * mss);
	/* more dup ACKs inflate the window: new data goes out */
	e->nrec = 0;
	for (int i = 0; i < 4; i++)
		acked_to(e, 0);
	assert_true(count_data(e, 0) >= 1);
	/* partial ACK (segment 3 also lost): retransmit it at once */
	e->nrec = 0;
	acked_to(e, 3 * mss);
	assert_true(c->in_recovery);
	assert_int_equal(soff(e, &e->rec[0]), 3 * mss);
	/* full ACK ends recovery with cwnd = ssthresh */
	acked_to(e, (uint32_t)c->recover);
	assert_false(c->in_recovery);
	assert_true(c->cwnd <= c->ssthresh);
	assert_int_equal(k->rexmt_rto, 0);
	env_free(e);
}

static void
test_reordering(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

	(void)st;
	e->ts = false;
	c = request(e);
	acked_to(e, 0);
	acked_to(e, 0); /* two dup ACKs: reordering, not loss */
	acked_to(e, 4 * c->mss);
	assert_int_equal(k->rexmt_fast, 0);
	assert_int_equal(c->dupacks, 0);
	assert_int_equal(k->rexmt_bytes, 0);
	env_free(e);
}

static void
test_sack_recovery(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	uint32_t m, base;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

	(void)st;
	c = request(e);
	m = c->mss;
	base = e->iss + 1;
	/* segments 0 and 2 lost; SACK reports 1, then 3..5 */
	e->nrec = 0;
	peer_sack(e, base, 65535, base + m, base + 2 * m);
	assert_int_equal(k->rexmt_fast, 0);
	/* SACKed bytes reach 3 MSS: recovery starts without a third dup ACK */
	peer_sack(e, base, 65535, base + 3 * m, base + 6 * m);
	assert_int_equal(k->rexmt_fast, 1);
	assert_int_equal(c->dupacks, 2);
	assert_int_equal(soff(e, &e->rec[0]), 0);
	assert_int_equal(e->rec[0].len, m);
	/* the next dup ACK sends the second hole, skipping what is SACKed */
	e->nrec = 0;
	peer_sack(e, base, 65535, base + 3 * m, base + 7 * m);
	assert_int_equal(soff(e, &e->rec[0]), 2 * m);
	assert_int_equal(e->rec[0].len, m);
	env_free(e);
}

static void
test_rto_backoff(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint64_t t0;

	(void)st;
	c = request(e);
	assert_int_equal(c->rto_us, 1000000);
	t0 = e->now;
	e->nrec = 0;
	mb_tcp_timers(e->s, t0 + 999 * MS);
	assert_int_equal(e->nrec, 0);
	mb_tcp_timers(e->s, t0 + 1001 * MS);
	assert_int_equal(k->rexmt_rto, 1);
	assert_int_equal(e->nrec, 1);
	assert_int_equal(soff(e, &e->rec[0]), 0);
	assert_int_equal(c->cwnd, c->mss);
	assert_int_equal(c->rto_us, 2000000);
	/* the next expiry comes 2 s later */
	mb_tcp_timers(e->s, t0 + 2900 * MS);
	assert_int_equal(k->rexmt_rto, 1);
	mb_tcp_timers(e->s, t0 + 3100 * MS);
	assert_int_equal(k->rexmt_rto, 2);
	assert_int_equal(c->rto_us, 4000000);
	/* an ACK restarts slow start from one segment */
	e->now = t0 + 3200 * MS;
	e->nrec = 0;
	acked_to(e, c->mss);
	assert_int_equal(c->nrexmt, 0);
	assert_int_equal(count_data(e, 0), 2);
	/* give up after max_rexmt: RST */
	c->nrexmt = (uint8_t)e->p.max_rexmt;
	mb_tcp_timers(e->s, e->now + 70 * SEC);
	assert_int_equal(k->conn_timeout, 1);
	assert_true(last(e)->flags & MB_TCP_RST);
	assert_null(conn(e));
	assert_int_equal(e->closes, 1);
	env_free(e);
}

/* Tail loss probe: when every ACK of a flight is lost (a receive ring that
 * overflowed during a SYN flood), the last segment goes out again 2 SRTT
 * (at least 10 ms) after the last ACK instead of waiting for the RTO (200 ms
 * at least) and restarting from one segment; its ACK covers the flight and
 * the transfer goes on at the same window.  One probe per flight: if its ACK
 * is lost too, the RTO follows as before. */
static void
test_tail_loss_probe(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint64_t t0, hi;
	uint32_t cwnd;

	(void)st;
	c = request(e);
	assert_true(c->sack_ok);
	/* the first two segments acknowledged 2 ms later: an RTT sample */
	e->now += 2 * MS;
	e->nrec = 0;
	acked_to(e, 2u * c->mss);
	assert_true(c->srtt_us >= 1000 && c->srtt_us <= 3000);
	assert_true(c->tlp_armed);
	/* the rest of the flight's ACKs are lost */
	hi = c->max;
	cwnd = c->cwnd;
	t0 = e->now;
	e->nrec = 0;
	mb_tcp_timers(e->s, t0 + 9 * MS);
	assert_int_equal(e->nrec, 0);
	mb_tcp_timers(e->s, t0 + 11 * MS);
	assert_int_equal(k->tlp_probes, 1);
	assert_int_equal(k->rexmt_rto, 0);
	assert_int_equal(e->nrec, 1);
	assert_int_equal(e->rec[0].len, c->mss);
	assert_int_equal(soff(e, &e->rec[0]) + e->rec[0].len, hi); /* the last segment */
	assert_int_equal(c->cwnd, cwnd);
	assert_false(c->tlp_armed);
	/* its ACK covers the whole flight, with a D-SACK of the probe (the
	 * original arrived, only ACKs were lost): more data at once, no RTO,
	 * no cut, and the probe's episode is over */
	e->now = t0 + 12 * MS;
	e->nrec = 0;
	peer_sack(e, e->iss + 1 + (uint32_t)hi, 65535, e->iss + 1 + (uint32_t)hi - c->mss,
		  e->iss + 1 + (uint32_t)hi);
	assert_int_equal(c->una, hi);
	assert_true(count_data(e, 0) >= 2);
	assert_true(c->cwnd >= cwnd);
	assert_false(c->tlp_out);
	assert_true(c->tlp_armed);
	/* the next flight: its ACKs and the probe's are lost: one probe, then
	 * the RTO (200 ms, rto_min) after it */
	hi = c->max;
	t0 = e->now;
	e->nrec = 0;
	mb_tcp_timers(e->s, t0 + 11 * MS);
	assert_int_equal(k->tlp_probes, 2);
	assert_int_equal(e->nrec, 1);
	assert_int_equal(soff(e, &e->rec[0]) + e->rec[0].len, hi);
	assert_true(c->tlp_out);
	e->nrec = 0;
	mb_tcp_timers(e->s, t0 + 150 * MS);
	assert_int_equal(e->nrec, 0);
	mb_tcp_timers(e->s, t0 + 215 * MS);
	assert_int_equal(k->tlp_probes, 2);
	assert_int_equal(k->rexmt_rto, 1);
	assert_int_equal(soff(e, &e->rec[0]), c->una); /* go back to the first unacked */
	assert_int_equal(c->cwnd, c->mss);
	/* after the RTO (nrexmt > 0) no probe is armed; the RTO ended the
	 * probe's episode (its own response cut the window) */
	assert_false(c->tlp_armed);
	assert_false(c->tlp_out);
	assert_int_equal(k->tlp_recoveries, 0);
	env_free(e);
}

/* A flight whose ACKs are lost after an RTT sample, then its tail loss
 * probe (the last segment again, 2 SRTT later).  Returns the flight's end
 * (stream offset). */
static uint32_t
tlp_flight_probed(struct env *e, struct mb_tcp_conn *c)
{
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint64_t p0 = k->tlp_probes;
	uint32_t hi;

	e->now += 2 * MS;
	acked_to(e, 2u * c->mss);
	assert_true(c->tlp_armed);
	hi = (uint32_t)c->max;
	e->nrec = 0;
	e->now += 11 * MS;
	mb_tcp_timers(e->s, e->now);
	assert_int_equal(k->tlp_probes, p0 + 1);
	assert_int_equal(e->nrec, 1);
	assert_int_equal(soff(e, &e->rec[0]) + e->rec[0].len, hi);
	assert_true(c->tlp_out);
	return hi;
}

/* RFC 8985 section 7.4: the probe filled a hole (the flight's last segment
 * was lost, with the ACKs of the rest): its ACK covers the flight and
 * carries no D-SACK.  That alone is not yet a loss (the D-SACK may come
 * next); the first ACK past the probe's SND.NXT with none before it is,
 * and cuts ssthresh and cwnd as fast recovery would, from the flight
 * before that ACK, for NewReno (1/2) and CUBIC (0.7, W_max = the window
 * before).  No retransmission: the hole is already filled.  Before, the
 * window went on growing as if nothing had been lost. */
static void
tlp_cubic(struct mb_tcp_params *p)
{
	p->cc = MB_TCP_CC_CUBIC;
}

static void
test_tlp_repaired_loss(void **st)
{
	for (int cubic = 0; cubic < 2; cubic++) {
		struct env *e = env_new(cubic ? tlp_cubic : NULL);
		const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
		struct mb_tcp_conn *c;
		uint32_t hi, cwnd, flight, want;

		(void)st;
		c = request(e);
		assert_int_equal(c->cc_cubic, cubic);
		hi = tlp_flight_probed(e, c);
		e->now += 1 * MS;
		e->nrec = 0;
		acked_to(e, hi);
		assert_true(c->tlp_out);
		assert_int_equal(k->tlp_recoveries, 0);
		assert_int_equal(c->ssthresh, UINT32_MAX);
		assert_true(count_data(e, 0) >= 2); /* the next flight */
		/* no second probe while the episode is open: the RTO is armed */
		assert_false(c->tlp_armed);
		assert_true(c->t_rexmt != 0);
		cwnd = c->cwnd;
		flight = (uint32_t)(c->max - c->una);
		assert_true(flight > 4u * c->mss);
		e->now += 2 * MS;
		e->nrec = 0;
		acked_to(e, hi + c->mss);
		assert_int_equal(k->tlp_recoveries, 1);
		assert_false(c->tlp_out);
		want = cubic ? flight * 7 / 10 : flight / 2;
		assert_int_equal(c->ssthresh, want);
		assert_int_equal(c->cwnd, want < cwnd ? want : cwnd);
		if (cubic)
			assert_int_equal(c->cubic.w_max, cwnd);
		assert_int_equal(k->rexmt_fast, 0);
		assert_int_equal(k->rexmt_rto, 0);
		assert_false(c->in_recovery);
		/* nothing was resent; the episode over, the next flight may be
		 * probed again */
		for (unsigned i = 0; i < e->nrec; i++)
			assert_true(soff(e, &e->rec[i]) >= hi || e->rec[i].len == 0);
		assert_true(c->tlp_armed);
		env_free(e);
	}
}

/* The probe and the original both arrived (only the flight's ACKs were
 * lost): the receiver reports the probe as a duplicate with a D-SACK
 * (RFC 2883: a first SACK block below the cumulative ACK).  The episode
 * ends without a cut, later ACKs cut nothing, and the next flight gets a
 * probe again.  A D-SACK of some other range (a duplicate made by the
 * network) says nothing about the probe. */
static void
test_tlp_dsack_no_loss(void **st)
{
	struct env *e = env_new(NULL);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	struct mb_tcp_conn *c;
	uint32_t hi, base, cwnd;

	(void)st;
	c = request(e);
	base = e->iss + 1;
	hi = tlp_flight_probed(e, c);
	/* the original's ACK, late, with a D-SACK of the flight's first
	 * segment: not the probe, the episode stays open */
	e->now += 1 * MS;
	peer_sack(e, base + hi, 65535, base, base + c->mss);
	assert_true(c->tlp_out);
	/* the probe's D-SACK */
	peer_sack(e, base + hi, 65535, base + hi - c->mss, base + hi);
	assert_false(c->tlp_out);
	assert_int_equal(k->tlp_recoveries, 0);
	/* the next flight's ACK past the probe: no cut */
	cwnd = c->cwnd;
	e->now += 2 * MS;
	acked_to(e, hi + c->mss);
	assert_int_equal(k->tlp_recoveries, 0);
	assert_int_equal(c->ssthresh, UINT32_MAX);
	assert_true(c->cwnd > cwnd);
	assert_true(c->tlp_armed);
	env_free(e);
}

/* A receiver without D-SACK: the original's ACK arrives late (after the
 * probe went out), then the probe, a duplicate, draws a duplicate ACK of
 * the same number that says nothing else (no data, no SACK, the same
 * window).  Both arrived: the episode ends without a cut.  Any other ACK
 * at that number (here, one that changes the window) does not end it. */
static void
test_tlp_dupack_no_loss(void **st)
{
	struct env *e = env_new(NULL);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	struct mb_tcp_conn *c;
	uint32_t hi, cwnd;

	(void)st;
	c = request(e);
	hi = tlp_flight_probed(e, c);
	e->now += 1 * MS;
	acked_to(e, hi);
	assert_true(c->tlp_out);
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + hi, 60000, NULL); /* a window update */
	assert_true(c->tlp_out);
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + hi, 60000, NULL); /* the probe's dup ACK */
	assert_false(c->tlp_out);
	assert_int_equal(k->tlp_recoveries, 0);
	cwnd = c->cwnd;
	e->now += 2 * MS;
	acked_to(e, hi + c->mss);
	assert_int_equal(k->tlp_recoveries, 0);
	assert_int_equal(c->ssthresh, UINT32_MAX);
	assert_true(c->cwnd > cwnd);
	env_free(e);
}

/* Without SACK the probe's ACK could not tell what else is missing: no
 * probe, the RTO as before. */
static void
test_tail_loss_probe_needs_sack(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

	(void)st;
	c = request(e);
	c->sack_ok = 0; /* as if the SYN had not offered it */
	e->now += 2 * MS;
	acked_to(e, 2u * c->mss);
	assert_false(c->tlp_armed);
	e->nrec = 0;
	mb_tcp_timers(e->s, e->now + 100 * MS);
	assert_int_equal(e->nrec, 0);
	mb_tcp_timers(e->s, e->now + 205 * MS);
	assert_int_equal(k->tlp_probes, 0);
	assert_int_equal(k->rexmt_rto, 1);
	env_free(e);
}

/* A retransmission carries only bytes that were sent: a runt (the peer's
 * window of 100 bytes, nothing in flight) that is retransmitted goes out as
 * the same 100 bytes.  Before, the hole's retransmission took a whole MSS
 * from the image, past what had been sent and past the peer's window; a
 * peer whose window had grown meanwhile could take those bytes, and its
 * ACK of them would be dropped as acknowledging data never sent
 * (drop_ack) until the RTO. */
static void
test_rexmt_within_sent(void **st)
{
	struct env *e = env_new(NULL);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	struct mb_tcp_conn *c;
	uint32_t hi, n = 0;

	(void)st;
	e->ts = false;
	c = request(e);
	hi = (uint32_t)c->max;
	/* everything acknowledged, the window down to 100 bytes (25 << 2) */
	e->nrec = 0;
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + hi, 25, NULL);
	assert_int_equal(count_data(e, 0), 1);
	assert_int_equal(e->rec[0].len, 100);
	assert_int_equal(c->max, hi + 100);
	/* three duplicate ACKs: the runt goes out again, as it was */
	e->nrec = 0;
	for (int i = 0; i < 3; i++)
		peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + hi, 25, NULL);
	assert_int_equal(k->rexmt_fast, 1);
	for (unsigned i = 0; i < e->nrec; i++)
		if (e->rec[i].len > 0) {
			assert_int_equal(soff(e, &e->rec[i]), hi);
			n += e->rec[i].len;
		}
	assert_int_equal(n, 100);
	assert_int_equal(c->max, hi + 100);
	/* its ACK is taken */
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + hi + 100, 25, NULL);
	assert_int_equal(k->drop_ack, 0);
	assert_int_equal(c->una, hi + 100);
	env_free(e);
}

/* RACK's rule for a lost retransmission (RFC 8985 section 6.2): in SACK
 * recovery the first hole's retransmission is lost as well.  Once
 * something sent after it is SACKed (here the retransmission of a second
 * hole) and RTT + RTT / 4 has passed since it went out, it goes out again
 * at once; before, only the RTO (200 ms at least, then slow start from one
 * segment) resent it.  A SACK sooner than that is taken for reordering:
 * nothing is resent (there is no reordering timer: a later SACK or the RTO
 * decides). */
static void
test_rack_lost_rexmt(void **st)
{
	for (int late = 0; late < 2; late++) {
		struct env *e = env_new(NULL);
		const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
		struct mb_tcp_conn *c;
		uint32_t m, base, u;
		unsigned resent = 0;

		(void)st;
		c = request(e);
		m = c->mss;
		base = e->iss + 1;
		e->now += 2 * MS;
		acked_to(e, 2u * m); /* an RTT sample: 2 ms */
		assert_int_equal(c->srtt_us, 2000);
		u = 2 * m;
		assert_true(c->max >= u + 8u * m);
		/* segments u and u + 4m lost: the SACK of the three after the
		 * first starts recovery and resends it */
		e->now += 1 * MS;
		e->nrec = 0;
		peer_sack(e, base + u, 65535, base + u + m, base + u + 4 * m);
		assert_int_equal(k->rexmt_fast, 1);
		assert_true(c->in_recovery);
		assert_int_equal(soff(e, &e->rec[0]), u);
		/* the SACK of the segment after the second hole resends that */
		e->nrec = 0;
		peer_sack(e, base + u, 65535, base + u + 5 * m, base + u + 6 * m);
		assert_true(e->nrec >= 1);
		assert_int_equal(soff(e, &e->rec[0]), u + 4 * m);
		/* the second hole's retransmission arrives, the first one's was
		 * lost: SACKed 1 ms (too soon) or 3 ms (past 2.5 ms) later */
		e->now += late ? 3 * MS : 1 * MS;
		e->nrec = 0;
		peer_sack(e, base + u, 65535, base + u + m, base + u + 6 * m);
		for (unsigned i = 0; i < e->nrec; i++)
			resent += e->rec[i].len > 0 && soff(e, &e->rec[i]) == u;
		assert_int_equal(resent, late ? 1 : 0);
		assert_int_equal(k->rexmt_lost, late ? 1 : 0);
		assert_int_equal(k->rexmt_fast, 1);
		assert_int_equal(k->rexmt_rto, 0);
		if (late) {
			/* it arrives: the recovery ends without an RTO */
			e->now += 3 * MS;
			acked_to(e, (uint32_t)c->max);
			assert_false(c->in_recovery);
			assert_false(c->rack_on);
			assert_int_equal(k->rexmt_rto, 0);
		}
		env_free(e);
	}
}

/* Retransmissions of hole [h, h + m) among the recorded segments from `from`. */
static unsigned
resends_of(struct env *e, unsigned from, uint32_t h, uint32_t m)
{
	unsigned n = 0;

	for (unsigned i = from; i < e->nrec; i++)
		n += e->rec[i].len > 0 && soff(e, &e->rec[i]) >= h && soff(e, &e->rec[i]) < h + m;
	return n;
}

/* A partial ACK in SACK recovery (RFC 6675: NextSeg resends only holes
 * above HighRxt, the highest resent).  Four holes; the first two were
 * resent when the ACK of the first one's retransmission arrives, the
 * second's still on its way.  The partial ACK must not resend the second
 * hole (it went out 0.2 ms before, an RTT is 2 ms), nor make the holes
 * already resent eligible again: each hole goes out once and the recovery
 * completes without an RTO.  Before, the partial ACK resent the hole at
 * una and moved the marker of resent holes back to it.  With `lost`, the
 * second hole's retransmission is lost as well: RACK's rule still resends
 * it once something sent after the partial ACK is SACKed RTT + RTT / 4
 * later (3 ms), and only then. */
static void
test_partial_ack_no_double_rexmt(void **st)
{
	for (int lost = 0; lost < 2; lost++) {
		struct env *e = env_new(NULL);
		const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
		struct mb_tcp_conn *c;
		uint32_t m, base, u, h[4], hi;

		(void)st;
		c = request(e);
		m = c->mss;
		base = e->iss + 1;
		e->now += 2 * MS;
		acked_to(e, 2u * m); /* an RTT sample: 2 ms */
		assert_int_equal(c->srtt_us, 2000);
		u = 2 * m;
		assert_true(c->max >= u + 10u * m);
		for (unsigned i = 0; i < 4; i++)
			h[i] = u + 2 * i * m; /* lost; the segments between arrive */
		/* the SACKs of the segments after the first three holes: the
		 * third starts recovery (3 MSS SACKed) and resends hole 0, the
		 * fourth resends hole 1 */
		e->now += 1 * MS;
		e->nrec = 0;
		for (unsigned i = 0; i < 3; i++)
			peer_sack(e, base + u, 65535, base + h[i] + m, base + h[i] + 2 * m);
		assert_int_equal(k->rexmt_fast, 1);
		assert_true(c->in_recovery);
		e->now += MS / 5;
		peer_sack(e, base + u, 65535, base + h[3] + m, base + h[3] + 2 * m);
		assert_int_equal(resends_of(e, 0, h[0], m), 1);
		assert_int_equal(resends_of(e, 0, h[1], m), 1);
		assert_int_equal(resends_of(e, 0, h[2], m), 0);
		/* hole 0's retransmission arrives: the partial ACK, 2 ms after
		 * it went out (1.8 ms after hole 1's) */
		e->now += 18 * MS / 10;
		peer_sack(e, base + h[1], 65535, base + h[3] + m, base + h[3] + 2 * m);
		assert_true(c->in_recovery);
		assert_int_equal(c->una, h[1]);
		assert_int_equal(resends_of(e, 0, h[1], m), 1);
		/* the holes not yet resent go out, one per ACK, each once */
		e->now += MS / 5;
		peer_sack(e, base + h[1], 65535, base + h[3] + m, base + h[3] + 3 * m);
		e->now += MS / 5;
		peer_sack(e, base + h[1], 65535, base + h[3] + m, base + h[3] + 4 * m);
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(resends_of(e, 0, h[i], m), 1);
		assert_int_equal(k->rexmt_lost, 0);
		if (!lost) {
			/* hole 1's retransmission arrives 2 ms after it left,
			 * then the others' */
			e->now += 12 * MS / 10;
			peer_sack(e, base + h[2], 65535, base + h[3] + m, base + h[3] + 4 * m);
			e->now += MS / 2;
			hi = (uint32_t)c->max;
			acked_to(e, hi);
		} else {
			/* the retransmissions of holes 2 and 3 (sent at and
			 * after the partial ACK) are SACKed 3 ms after it, hole
			 * 1's is missing: resent once, then everything arrives */
			e->now += 2 * MS + 6 * MS / 10;
			peer_sack(e, base + h[1], 65535, base + h[2], base + h[3] + 4 * m);
			assert_int_equal(k->rexmt_lost, 1);
			assert_int_equal(resends_of(e, 0, h[1], m), 2);
			e->now += 2 * MS;
			hi = (uint32_t)c->max;
			acked_to(e, hi);
		}
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(resends_of(e, 0, h[i], m), i == 1 && lost ? 2 : 1);
		assert_false(c->in_recovery);
		assert_int_equal(c->una, hi);
		assert_int_equal(k->rexmt_fast, 1);
		assert_int_equal(k->rexmt_rto, 0);
		env_free(e);
	}
}

/* Deadlines that fall inside a wheel tick must still fire on time (a real
 * clock is never tick-aligned). */
static void
test_timer_unaligned(void **st)
{
	struct env *e = env_new(NULL);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint64_t t0, t;

	(void)st;
	e->now += 123457; /* 0.123 ms past a tick */
	request(e);
	t0 = e->now;
	for (t = t0; t < t0 + 1100 * MS && k->rexmt_rto == 0; t += 250000)
		mb_tcp_timers(e->s, t);
	assert_int_equal(k->rexmt_rto, 1);
	assert_true(t <= t0 + 1002 * MS);
	env_free(e);
}

static void
test_zero_window_persist(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint32_t hi = 0;

	(void)st;
	c = request(e);
	for (unsigned i = 0; i < e->nrec; i++)
		if (soff(e, &e->rec[i]) + e->rec[i].len > hi)
			hi = soff(e, &e->rec[i]) + e->rec[i].len;
	/* everything acknowledged, window shut */
	e->nrec = 0;
	e->now += 10 * MS;
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + hi, 0, NULL);
	assert_int_equal(count_data(e, 0), 0);
	assert_true(c->persist);
	mb_tcp_timers(e->s, e->now + 2 * SEC);
	assert_int_equal(k->persist_probes, 1);
	assert_int_equal(last(e)->len, 1);
	assert_int_equal(soff(e, last(e)), hi);
	/* probe refused: still shut; backoff doubles */
	e->now += 2 * SEC;
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + hi, 0, NULL);
	assert_true(c->persist);
	mb_tcp_timers(e->s, e->now + 5 * SEC);
	assert_int_equal(k->persist_probes, 2);
	/* window opens: data flows again, persist off */
	e->now += 5 * SEC;
	e->nrec = 0;
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + hi + 1, 8192, NULL);
	assert_false(c->persist);
	assert_true(count_data(e, 0) >= 1);
	assert_int_equal(soff(e, &e->rec[0]), hi + 1);
	assert_int_equal(k->conn_timeout, 0);
	env_free(e);
}

/* Drive a connection into `st`; returns it. */
static struct mb_tcp_conn *
to_state(struct env *e, enum mb_tcp_state want)
{
	struct mb_tcp_conn *c;

	if (want == MB_TCP_SYN_RCVD) {
		peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
		e->iss = last(e)->seq;
		e->pseq = PEER_ISS + 1;
		return conn(e);
	}
	c = handshake(e);
	switch (want) {
	case MB_TCP_ESTABLISHED:
		break;
	case MB_TCP_CLOSE_WAIT:
		peer(e, MB_TCP_ACK | MB_TCP_FIN, e->pseq, e->iss + 1, 100, NULL);
		e->pseq++;
		break;
	case MB_TCP_LAST_ACK:
		peer(e, MB_TCP_ACK | MB_TCP_FIN, e->pseq, e->iss + 1, 100, NULL);
		e->pseq++;
		assert_int_equal(mb_tcp_close(e->s, c), 0);
		break;
	case MB_TCP_FIN_WAIT_1:
		assert_int_equal(mb_tcp_close(e->s, c), 0);
		break;
	case MB_TCP_FIN_WAIT_2:
		assert_int_equal(mb_tcp_close(e->s, c), 0);
		peer(e, MB_TCP_ACK, e->pseq, e->iss + 2, 100, NULL);
		break;
	case MB_TCP_CLOSING:
		assert_int_equal(mb_tcp_close(e->s, c), 0);
		peer(e, MB_TCP_ACK | MB_TCP_FIN, e->pseq, e->iss + 1, 100, NULL);
		e->pseq++;
		break;
	case MB_TCP_TIME_WAIT:
		assert_int_equal(mb_tcp_close(e->s, c), 0);
		peer(e, MB_TCP_ACK | MB_TCP_FIN, e->pseq, e->iss + 2, 100, NULL);
		e->pseq++;
		break;
	default:
		fail();
	}
	assert_int_equal(c->state, want);
	return c;
}

static void
test_rst_every_state(void **st)
{
	static const enum mb_tcp_state states[] = {
		MB_TCP_SYN_RCVD,   MB_TCP_ESTABLISHED, MB_TCP_CLOSE_WAIT, MB_TCP_FIN_WAIT_1,
		MB_TCP_FIN_WAIT_2, MB_TCP_CLOSING,     MB_TCP_LAST_ACK,	  MB_TCP_TIME_WAIT,
	};

	(void)st;
	for (unsigned i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		struct env *e = env_new(NULL);
		struct mb_tcp_conn *c = to_state(e, states[i]);
		const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

		/* in window but not exact: challenge ACK, connection stays */
		if (states[i] != MB_TCP_SYN_RCVD && states[i] != MB_TCP_TIME_WAIT) {
			e->nrec = 0;
			peer(e, MB_TCP_RST, e->pseq + 10, 0, 0, NULL);
			assert_int_equal(k->challenge_acks, 1);
			assert_int_equal(last(e)->flags, MB_TCP_ACK);
			assert_int_equal(c->state, states[i]);
			/* a SYN in a synchronised state: challenge ACK too */
			peer(e, MB_TCP_SYN, e->pseq + 5, 0, 0, NULL);
			assert_int_equal(k->challenge_acks, 2);
			assert_int_equal(c->state, states[i]);
		}
		/* outside the window: dropped */
		peer(e, MB_TCP_RST, e->pseq + 100000, 0, 0, NULL);
		assert_non_null(conn(e));
		peer(e, MB_TCP_RST, e->pseq, 0, 0, NULL);
		if (states[i] == MB_TCP_TIME_WAIT) {
			assert_non_null(conn(e)); /* RFC 1337 */
		} else {
			assert_null(conn(e));
			assert_int_equal(k->conn_reset_rx, 1);
			assert_int_equal(e->closes, states[i] == MB_TCP_SYN_RCVD ? 0 : 1);
		}
		env_free(e);
	}
}

static void
test_fin_server_first(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;

	(void)st;
	c = to_state(e, MB_TCP_FIN_WAIT_1);
	assert_true(last(e)->flags & MB_TCP_FIN);
	assert_int_equal(last(e)->seq, e->iss + 1);
	/* FIN lost: RTO resends it */
	e->nrec = 0;
	mb_tcp_timers(e->s, e->now + 1100 * MS);
	assert_int_equal(last(e)->flags, MB_TCP_FIN | MB_TCP_ACK);
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 2, 100, NULL);
	assert_int_equal(c->state, MB_TCP_FIN_WAIT_2);
	peer(e, MB_TCP_ACK | MB_TCP_FIN, e->pseq, e->iss + 2, 100, NULL);
	assert_int_equal(c->state, MB_TCP_TIME_WAIT);
	assert_int_equal(last(e)->ack, e->pseq + 1);
	/* retransmitted FIN in TIME_WAIT: ACKed again */
	e->nrec = 0;
	peer(e, MB_TCP_ACK | MB_TCP_FIN, e->pseq, e->iss + 2, 100, NULL);
	assert_int_equal(last(e)->flags, MB_TCP_ACK);
	/* short TIME_WAIT, then gone */
	mb_tcp_timers(e->s, e->now + e->p.timewait_ns - MS);
	assert_non_null(conn(e));
	mb_tcp_timers(e->s, e->now + e->p.timewait_ns + 10 * MS);
	assert_null(conn(e));
	assert_int_equal(e->closes, 1);
	assert_int_equal(mb_tcp_stack_counters(e->s)->conn_closed, 1);
	env_free(e);
}

/* A SYN that ends a TIME_WAIT opens a new incarnation whose ISS is past
 * everything the old one sent, also at the same instant (the ISS was a
 * hash of the tuple and the time: the same ISS again, so a late segment of
 * the old connection fell into the new one's window; found by fuzz_tcp_state). */
static void
test_timewait_reopen_iss_ahead(void **st)
{
	struct env *e = env_new(NULL);
	uint32_t old_iss, new_iss;

	(void)st;
	(void)to_state(e, MB_TCP_TIME_WAIT);
	old_iss = e->iss;
	e->nrec = 0;
	peer(e, MB_TCP_SYN, e->pseq + 1000, 0, 65535, NULL);
	assert_non_null(conn(e));
	assert_int_equal(conn(e)->state, MB_TCP_SYN_RCVD);
	assert_int_equal(last(e)->flags, MB_TCP_SYN | MB_TCP_ACK);
	new_iss = last(e)->seq;
	/* the old incarnation used old_iss .. old_iss + 1 (its FIN) */
	assert_true((int32_t)(new_iss - (old_iss + 2)) >= 0);
	env_free(e);
}

static void
test_fin_peer_first(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;

	(void)st;
	e->close_on_fin = true;
	c = handshake(e);
	e->nrec = 0;
	peer(e, MB_TCP_ACK | MB_TCP_FIN, e->pseq, e->iss + 1, 100, NULL);
	e->pseq++;
	assert_int_equal(e->fins, 1);
	/* the app closed in its callback: FIN+ACK in one segment */
	assert_int_equal(e->nrec, 1);
	assert_int_equal(last(e)->flags, MB_TCP_FIN | MB_TCP_ACK);
	assert_int_equal(last(e)->ack, e->pseq);
	assert_int_equal(c->state, MB_TCP_LAST_ACK);
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 2, 100, NULL);
	assert_null(conn(e));
	assert_int_equal(e->closes, 1);
	env_free(e);
}

static void
tweak_cookies(struct mb_tcp_params *p)
{
	p->syn_cookies_always = true;
}

static void
test_syn_cookies(void **st)
{
	struct env *e = env_new(tweak_cookies);
	struct mb_tcp_conn *c;
	uint32_t cookie;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

	(void)st;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	assert_int_equal(k->syn_cookies_sent, 1);
	assert_null(conn(e));
	cookie = last(e)->seq;
	assert_true(last(e)->opt_ws && last(e)->opt_sackok && last(e)->opt_ts);
	/* a forged ACK: RST, nothing created */
	peer(e, MB_TCP_ACK, PEER_ISS + 1, cookie + 2, 100, NULL);
	assert_null(conn(e));
	assert_int_equal(k->drop_cookie, 1);
	/* the real one, a minute later, carrying the request */
	e->now += 60 * SEC;
	e->nrec = 0;
	e->iss = cookie;
	{
		struct mb_tcp_seg g = { 0 };

		g.sport = e->t.rport;
		g.dport = 80;
		g.seq = PEER_ISS + 1;
		g.ack = cookie + 1;
		g.flags = MB_TCP_ACK | MB_TCP_PSH;
		g.win = 1000;
		g.has_ts = true;
		g.tsval = 9000;
		g.tsecr = e->rec[0].tsval;
		g.payload = (const uint8_t *)"GET";
		g.plen = 3;
		/* the cookie SYN-ACK is rec[] of before the reset: rebuild tsecr */
		g.tsecr = (g.tsecr & ~0x1fu) | 2 | 0x10;
		mb_tcp_input(e->s, &e->t, &g, e->now);
	}
	c = conn(e);
	assert_int_equal(k->syn_cookies_ok, 1);
	assert_non_null(c);
	assert_int_equal(c->state, MB_TCP_ESTABLISHED);
	assert_int_equal(c->mss, 1460 - 12);
	assert_int_equal(c->snd_wscale, 2);
	assert_true(c->sack_ok);
	assert_int_equal(c->snd_wnd, 4000);
	assert_int_equal(e->accepts, 1);
	assert_true(count_data(e, 0) >= 1);
	assert_int_equal(e->rec[0].ack, PEER_ISS + 4);
	/* too old (more than two periods): rejected */
	e->t.rport++;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	cookie = last(e)->seq;
	e->now += 200 * SEC;
	peer(e, MB_TCP_ACK, PEER_ISS + 1, cookie + 1, 100, NULL);
	assert_null(conn(e));
	assert_int_equal(k->drop_cookie, 2);
	env_free(e);
}

/* The SYN-ACK's timestamp is the first the peer keeps (TS.Recent), and the
 * peer drops as old duplicates (PAWS, RFC 7323 section 5) every later
 * segment whose timestamp is below it.  A cookie's timestamp carries the
 * window scale and SACK-permitted in its low 5 bits, so it must never run
 * ahead of the clock the connection's segments are stamped with: at each of
 * the 32 positions of the clock within those bits, a connection opened from a
 * cookie sends its reply with timestamps at or past the SYN-ACK's.  (Before,
 * the bits were or-ed into the clock, up to 31 ms ahead: a Linux client
 * dropped the whole first flight of the reply and waited for our RTO.) */
static void
test_syn_cookie_ts_monotonic(void **st)
{
	struct env *e = env_new(tweak_cookies);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint64_t base = e->now - e->now % (32 * MS);

	(void)st;
	e->len = 3000; /* a reply of a few segments */
	for (unsigned i = 0; i < 32; i++) {
		uint32_t syn_ts, ms;
		unsigned data = 0;

		e->now = base + 64 * MS * (i + 1) + i * MS + 300000; /* clock at i ms (mod 32) */
		ms = (uint32_t)(e->now / MS);
		e->t.rport = (uint16_t)(40000 + i);
		e->nrec = 0;
		peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
		assert_int_equal(e->nrec, 1);
		assert_int_equal(last(e)->flags, MB_TCP_SYN | MB_TCP_ACK);
		syn_ts = last(e)->tsval;
		/* never ahead of the clock, at most one period of the bits behind */
		assert_true((int32_t)(ms - syn_ts) >= 0 && ms - syn_ts < 32);
		e->iss = last(e)->seq;
		e->last_ts = syn_ts;
		e->pseq = PEER_ISS + 1;
		/* the ACK carrying the request 100 us later: the reply goes out at once */
		e->now += 100000;
		e->nrec = 0;
		peer(e, MB_TCP_ACK | MB_TCP_PSH, e->pseq, e->iss + 1, 16384, "GET");
		assert_non_null(conn(e));
		/* the options the cookie's timestamp carried (ws 2, SACK) */
		assert_int_equal(conn(e)->snd_wscale, 2);
		assert_true(conn(e)->sack_ok);
		for (unsigned j = 0; j < e->nrec; j++) {
			if (e->rec[j].len == 0)
				continue;
			data++;
			assert_true(e->rec[j].opt_ts);
			if ((int32_t)(e->rec[j].tsval - syn_ts) < 0)
				fail_msg("clock at %u ms of 32: the SYN-ACK's timestamp %u, a reply "
					 "segment's %u (the peer's PAWS drops it)",
					 i, syn_ts, e->rec[j].tsval);
		}
		assert_true(data >= 1);
	}
	assert_int_equal(k->syn_cookies_ok, 32);
	env_free(e);
}

static void
tweak_small(struct mb_tcp_params *p)
{
	p->max_conns = 2;
	p->syn_backlog = 1;
}

static void
test_conn_limit(void **st)
{
	struct env *e = env_new(tweak_small);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

	(void)st;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	assert_int_equal(k->syn_rcvd, 1);
	/* backlog (1) full: the second SYN gets a cookie */
	e->t.rport++;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	assert_int_equal(k->syn_cookies_sent, 1);
	assert_null(conn(e));
	e->t.rport--;
	handshake(e); /* the SYN is a retransmission: same SYN-ACK */
	e->t.rport += 2;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	assert_int_equal(k->syn_rcvd, 2);
	assert_int_equal(mb_tcp_stack_nconns(e->s), 2);
	/* table full: the third is dropped silently */
	e->t.rport++;
	e->nrec = 0;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	assert_int_equal(e->nrec, 0);
	assert_int_equal(k->drop_full, 1);
	assert_int_equal(mb_tcp_stack_nconns(e->s), 2);
	env_free(e);
}

static void
test_idle_timeout(void **st)
{
	struct env *e = env_new(NULL);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

	(void)st;
	handshake(e);
	mb_tcp_timers(e->s, e->now + e->p.idle_timeout_ns - SEC);
	assert_non_null(conn(e));
	mb_tcp_timers(e->s, e->now + e->p.idle_timeout_ns + SEC);
	assert_null(conn(e));
	assert_int_equal(k->conn_idle, 1);
	assert_true(last(e)->flags & MB_TCP_RST);
	env_free(e);
}

static void
test_refuse_and_abort(void **st)
{
	struct env *e = env_new(NULL);

	(void)st;
	e->refuse = true;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	e->iss = last(e)->seq;
	peer(e, MB_TCP_ACK, PEER_ISS + 1, e->iss + 1, 100, NULL);
	assert_null(conn(e));
	assert_true(last(e)->flags & MB_TCP_RST);
	assert_int_equal(e->closes, 0);
	env_free(e);
}

static void
test_paws_and_bad_ack(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);

	(void)st;
	c = request(e);
	e->tsval -= 100;
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + c->mss, 100, NULL);
	assert_int_equal(k->drop_paws, 1);
	assert_int_equal(c->una, 0);
	e->tsval += 200;
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + 10000000, 100, NULL);
	assert_int_equal(k->drop_ack, 1);
	assert_int_equal(c->una, 0);
	/* out-of-order data is not queued: dup ACK */
	e->nrec = 0;
	peer(e, MB_TCP_ACK, e->pseq + 5, e->iss + 1, 100, "xyz");
	assert_int_equal(k->drop_ooo, 1);
	assert_int_equal(last(e)->ack, e->pseq);
	env_free(e);
}

/* The host reorders a peer's pure ACKs now and then (seen in abuse.sh
 * syn-flood, each overtaken ACK one segment behind the one that overtook
 * it; most likely Linux's window updates from the reading process and ACKs
 * from the receive softirq, on two CPUs, through a veth's per-CPU
 * backlogs).  An overtaken ACK stamped in an
 * earlier millisecond fails PAWS (RFC 7323 section 5.3 R1): dropped,
 * counted drop_paws and answered with an ACK, and it changes nothing, as
 * the ACK that overtook it carried all it said and more.  One stamped in
 * the same millisecond passes and is an old ACK, ignored. */
static void
test_paws_reordered_ack(void **st)
{
	struct env *e = env_new(NULL);
	struct mb_tcp_conn *c;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint32_t ts, cwnd, wnd;
	uint64_t max;

	(void)st;
	c = request(e);
	ts = e->tsval;
	e->tsval = ts + 1; /* the later ACK, sent in the next millisecond */
	e->now += 1 * MS;
	acked_to(e, 2u * c->mss);
	cwnd = c->cwnd;
	wnd = c->snd_wnd;
	max = c->max;
	e->nrec = 0;
	e->tsval = ts; /* the earlier one, overtaken */
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + c->mss, 60000, NULL);
	assert_int_equal(k->drop_paws, 1);
	assert_int_equal(e->nrec, 1);
	assert_int_equal(e->rec[0].len, 0);
	assert_true(e->rec[0].flags & MB_TCP_ACK);
	assert_int_equal(c->una, 2u * c->mss);
	assert_int_equal(c->cwnd, cwnd);
	assert_int_equal(c->snd_wnd, wnd);
	assert_int_equal(c->max, max);
	assert_int_equal(c->dupacks, 0);
	/* the same millisecond: passes PAWS, an old ACK */
	e->tsval = ts + 1;
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + c->mss, 60000, NULL);
	assert_int_equal(k->drop_paws, 1);
	assert_int_equal(c->una, 2u * c->mss);
	assert_int_equal(c->snd_wnd, wnd);
	assert_int_equal(c->dupacks, 0);
	env_free(e);
}

/* ---- parser ------------------------------------------------------------------ */

static size_t
build(uint8_t *b, uint8_t flags, const uint8_t *opts, unsigned olen)
{
	memset(b, 0, 80);
	b[0] = 0x9c;
	b[1] = 0x40;
	b[3] = 80;
	b[7] = 1;
	b[12] = (uint8_t)(((20 + olen + 3) / 4) << 4);
	b[13] = flags;
	b[15] = 0xff;
	if (olen > 0)
		memcpy(b + 20, opts, olen);
	return 20 + (olen + 3) / 4 * 4;
}

static void
test_parse(void **st)
{
	uint8_t b[128];
	struct mb_tcp_seg g;
	struct mb_tcp_out o = { 0 };
	const uint8_t syn_opts[] = { 2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0 };
	const uint8_t sack[] = { 1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20 };
	size_t n;

	(void)st;
	n = build(b, MB_TCP_SYN, syn_opts, sizeof(syn_opts));
	assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_OK);
	assert_true(g.has_mss && g.has_ws && g.sack_ok && g.has_ts);
	assert_int_equal(g.mss, 1460);
	assert_int_equal(g.wscale, 7);
	assert_int_equal(g.tsval, 1);
	assert_int_equal(g.sport, 40000);
	assert_int_equal(g.dport, 80);
	n = build(b, MB_TCP_ACK, sack, sizeof(sack));
	assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_OK);
	assert_int_equal(g.nsack, 1);
	assert_int_equal(g.sack[0].right, 20);
	/* MSS on a non-SYN */
	n = build(b, MB_TCP_ACK, syn_opts, sizeof(syn_opts));
	assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_OPT);
	/* bad lengths */
	{
		const uint8_t bad[][8] = {
			{ 2, 3, 5, 0 },		  /* MSS length 3 */
			{ 3, 2, 0, 0 },		  /* WS length 2 */
			{ 8, 9, 0, 0 },		  /* TS length 9 */
			{ 5, 9, 0, 0 },		  /* SACK not a block multiple */
			{ 99, 0, 0, 0 },	  /* length 0 */
			{ 1, 1, 1, 99 },	  /* length byte missing */
			{ 99, 40, 0, 0 },	  /* runs past the header */
			{ 2, 4, 0, 0 },		  /* MSS 0 */
			{ 4, 2, 4, 2 },		  /* SACK-permitted twice */
		};

		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			n = build(b, MB_TCP_SYN, bad[i], 4);
			if (i == 3)
				n = build(b, MB_TCP_ACK, bad[i], 4);
			assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_OPT);
		}
	}
	/* header length */
	n = build(b, MB_TCP_ACK, NULL, 0);
	b[12] = 0x40;
	assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_HDRLEN);
	b[12] = 0xf0;
	assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_HDRLEN);
	assert_int_equal(mb_tcp_parse(b, 19, &g), MB_TCP_PARSE_SHORT);
	/* flags */
	n = build(b, MB_TCP_SYN | MB_TCP_FIN, NULL, 0);
	assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_FLAGS);
	n = build(b, MB_TCP_FIN, NULL, 0);
	assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_FLAGS);
	/* builder round trip and checksum */
	o.t.lport = 80;
	o.t.rport = 40000;
	o.flags = MB_TCP_SYN | MB_TCP_ACK;
	o.seq = 123;
	o.ack = 456;
	o.win = 999;
	o.opt_mss = o.opt_ws = o.opt_sackok = o.opt_ts = true;
	o.mss = 1400;
	o.wscale = 3;
	o.tsval = 77;
	o.tsecr = 88;
	n = mb_tcp_hdr_build(&o, b);
	assert_int_equal(n, 20 + 4 + 4 + 4 + 12);
	{
		uint16_t ck = mb_tcp_cksum(0x0100000a, 0x0200000a, b, n);

		b[16] = ck >> 8;
		b[17] = ck & 0xff;
		assert_int_equal(mb_tcp_cksum(0x0100000a, 0x0200000a, b, n), 0);
	}
	assert_int_equal(mb_tcp_parse(b, n, &g), MB_TCP_PARSE_OK);
	assert_int_equal(g.seq, 123);
	assert_int_equal(g.ack, 456);
	assert_int_equal(g.mss, 1400);
	assert_int_equal(g.wscale, 3);
	assert_int_equal(g.tsecr, 88);
	assert_true(g.sack_ok);
}

/* Random segments, parsed and (when valid) fed to a stack: nothing may crash
 * and every reply must be well formed. */
static void
test_random_input(void **st)
{
	struct env *e = env_new(NULL);
	uint8_t b[200];
	uint32_t x = 12345;

	(void)st;
	for (unsigned round = 0; round < 200000; round++) {
		size_t n;
		struct mb_tcp_seg g;

		for (unsigned i = 0; i < sizeof(b); i++) {
			x = x * 1103515245u + 12345u;
			b[i] = (uint8_t)(x >> 16);
		}
		n = (x >> 8) % sizeof(b);
		if (round & 1) {
			b[12] = (uint8_t)((5 + (x % 11)) << 4); /* plausible offsets */
			b[2] = 0;
			b[3] = 80;
		}
		if (mb_tcp_parse(b, n, &g) != MB_TCP_PARSE_OK)
			continue;
		e->t.rport = g.sport;
		e->t.lport = g.dport;
		e->nrec = 0;
		e->now += MS;
		mb_tcp_input(e->s, &e->t, &g, e->now);
		mb_tcp_timers(e->s, e->now);
	}
	mb_tcp_timers(e->s, e->now + 3600 * SEC);
	assert_int_equal(mb_tcp_stack_nconns(e->s), 0);
	env_free(e);
}

static void
tweak_cookie_budget(struct mb_tcp_params *p)
{
	p->syn_cookies_always = true;
	p->syn_cookie_rate = 1000; /* a burst of 100 */
}

/* Every SYN past the SYN queue would cost a cookie SYN-ACK, so they are
 * budgeted: at most syn_cookie_rate a second (a tenth of a second's worth
 * at once).  What is not answered is counted.  Once the flood pauses the
 * budget is back, a real client's SYN is answered and the connection
 * opens from the cookie. */
static void
test_syn_cookie_budget(void **st)
{
	struct env *e = env_new(tweak_cookie_budget);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	unsigned answered = 0;
	uint64_t sent0;

	(void)st;
	/* 5000 SYNs from 1000 forged sources behind 8 link neighbours in 50 ms
	 * (each neighbour's share, a quarter of the rate, is more than an
	 * eighth of it): the burst of 100 plus 50 ms of refill are answered */
	for (unsigned i = 0; i < 5000; i++) {
		e->t.raddr = 0x0000100a | (uint32_t)(i % 1000) << 16;
		e->t.rport = (uint16_t)(1024 + i / 1000);
		e->link = i % 8;
		e->nrec = 0;
		peer(e, MB_TCP_SYN, PEER_ISS + i, 0, 65535, NULL);
		answered += e->nrec;
		e->now += 10000; /* 10 us */
	}
	print_message("5000 SYNs in 50 ms: %u answered, %" PRIu64 " over the budget\n", answered,
		      k->drop_syn_rate);
	assert_int_equal(k->syn_cookies_sent, answered);
	assert_true(answered >= 148 && answered <= 151);
	assert_int_equal(answered + k->drop_syn_rate + k->drop_syn_link, 5000);
	/* a whole second of it: the rate, no more */
	sent0 = k->syn_cookies_sent;
	for (unsigned i = 0; i < 100000; i++) {
		e->t.raddr = 0x0000100a | (uint32_t)(i % 4000) << 16;
		e->t.rport = 1030;
		e->link = i % 8;
		peer(e, MB_TCP_SYN, PEER_ISS + i, 0, 65535, NULL);
		e->now += 10000;
	}
	print_message("a second of 100000 SYNs: %" PRIu64 " answered\n",
		      k->syn_cookies_sent - sent0);
	assert_true(k->syn_cookies_sent - sent0 >= 990 && k->syn_cookies_sent - sent0 <= 1001);
	/* 20 ms without SYNs: a real client's SYN is answered ... */
	e->now += 20 * MS;
	e->t.raddr = 0x0300000a;
	e->t.rport = 40000;
	e->nrec = 0;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	assert_int_equal(e->nrec, 1);
	assert_int_equal(last(e)->flags, MB_TCP_SYN | MB_TCP_ACK);
	e->iss = last(e)->seq;
	e->last_ts = last(e)->tsval;
	/* ... and the cookie opens the connection */
	e->pseq = PEER_ISS + 1;
	peer(e, MB_TCP_ACK, e->pseq, e->iss + 1, 1000, NULL);
	assert_non_null(conn(e));
	assert_int_equal(k->syn_cookies_ok, 1);
	env_free(e);
}

/* The same flood from one link neighbour (forged addresses, one MAC): it
 * gets its share of the budget, a quarter of the rate, and the SYNs of
 * another neighbour are answered all along (before the share, the flood
 * emptied the budget and a real client's SYN was dropped with the forged
 * ones until its TCP retried). */
static void
test_syn_cookie_budget_per_link(void **st)
{
	struct env *e = env_new(tweak_cookie_budget);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint64_t flood = 0;
	unsigned real = 0;

	(void)st;
	/* a second of 100000 SYNs from link 1; every 10 ms a SYN from link 2 */
	for (unsigned i = 0; i < 100000; i++) {
		e->t.raddr = 0x0000100a | (uint32_t)(i % 4000) << 16;
		e->t.rport = (uint16_t)(1024 + i % 50000);
		e->link = 1;
		e->nrec = 0;
		peer(e, MB_TCP_SYN, PEER_ISS + i, 0, 65535, NULL);
		flood += e->nrec;
		if (i % 1000 == 999) {
			e->t.raddr = 0x0300000a;
			e->t.rport = (uint16_t)(40000 + i / 1000);
			e->link = 2;
			e->nrec = 0;
			peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
			if (e->nrec == 1 && last(e)->flags == (MB_TCP_SYN | MB_TCP_ACK))
				real++;
		}
		e->now += 10000;
	}
	print_message("a second of 100000 SYNs from one neighbour: %" PRIu64 " answered, "
		      "%u of 100 from another\n", flood, real);
	/* the flood's share: 250 a second plus its burst of 25 */
	assert_true(flood >= 249 && flood <= 276);
	assert_int_equal(real, 100);
	assert_int_equal(k->drop_syn_rate, 0);
	assert_int_equal(k->drop_syn_link, 100000 - flood);
	env_free(e);
}

static void
tweak_per_src(struct mb_tcp_params *p)
{
	p->max_conns = 16;
	p->max_conns_per_src = 3;
	p->max_app_per_src = 2;
}

/* One source cannot hold most of the table: past max_conns_per_src its SYNs
 * (and cookie ACKs) are answered with RST and counted, other sources still
 * get in, and a closed connection gives its share back. */
static void
test_per_source_limit(void **st)
{
	struct env *e = env_new(tweak_per_src);
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	struct mb_tcp_conn *c[3];

	(void)st;
	for (unsigned i = 0; i < 3; i++) {
		e->t.rport = (uint16_t)(40000 + i);
		c[i] = handshake(e);
	}
	assert_int_equal(mb_tcp_src_conns(e->s, e->t.raddr), 3);
	/* the fourth from the same address: RST, nothing created */
	e->t.rport = 40003;
	e->nrec = 0;
	peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
	assert_null(conn(e));
	assert_int_equal(k->drop_src_limit, 1);
	assert_int_equal(last(e)->flags, MB_TCP_RST | MB_TCP_ACK);
	/* from another address: accepted */
	e->t.raddr = 0x0300000a;
	handshake(e);
	assert_int_equal(mb_tcp_stack_nconns(e->s), 4);
	/* application units: two per source, then refused and counted */
	assert_true(mb_tcp_src_take(e->s, c[0]));
	assert_true(mb_tcp_src_take(e->s, c[1]));
	assert_false(mb_tcp_src_take(e->s, c[2]));
	assert_int_equal(k->app_src_limit, 1);
	assert_true(mb_tcp_src_take(e->s, conn(e))); /* the other source's own share */
	mb_tcp_src_put(e->s, c[1]);
	assert_true(mb_tcp_src_take(e->s, c[2]));
	mb_tcp_src_put(e->s, c[0]);
	mb_tcp_src_put(e->s, c[2]);
	mb_tcp_src_put(e->s, conn(e));
	/* a connection of the first source ends (peer RST): its slot is back */
	e->t.raddr = 0x0200000a;
	e->t.rport = 40001;
	peer(e, MB_TCP_RST, e->pseq, 0, 0, NULL);
	assert_int_equal(mb_tcp_src_conns(e->s, e->t.raddr), 2);
	e->t.rport = 40003;
	handshake(e);
	assert_int_equal(mb_tcp_src_conns(e->s, e->t.raddr), 3);
	assert_int_equal(k->drop_src_limit, 1);
	env_free(e);

	/* the same through SYN cookies: the ACK that would open a fourth
	 * connection is refused */
	e = env_new(tweak_per_src);
	e->p.syn_cookies_always = true;
	mb_tcp_stack_free(e->s);
	e->s = mb_tcp_stack_new(&e->p, &ops, e);
	k = mb_tcp_stack_counters(e->s);
	for (unsigned i = 0; i < 4; i++) {
		uint32_t cookie;

		e->t.rport = (uint16_t)(41000 + i);
		e->ts = false;
		peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
		cookie = last(e)->seq;
		peer(e, MB_TCP_ACK, PEER_ISS + 1, cookie + 1, 1000, NULL);
		if (i < 3)
			assert_non_null(conn(e));
	}
	assert_null(conn(e));
	assert_int_equal(k->drop_src_limit, 1);
	assert_int_equal(mb_tcp_src_conns(e->s, e->t.raddr), 3);
	env_free(e);
}

/* The per-source index stays exact under churn: many sources whose hashes
 * collide in a small table, connections opened and reset in random order. */
static void
test_per_source_churn(void **st)
{
	struct env *e = env_new(tweak_per_src);
	uint32_t held[16][2], n = 0, x = 777;
	unsigned counts[8] = { 0 };

	(void)st;
	for (unsigned round = 0; round < 4000; round++) {
		x = x * 1103515245u + 12345u;
		if (n > 0 && ((x >> 16) % 3 == 0 || n == 16)) {
			unsigned i = (x >> 8) % n;

			e->t.raddr = held[i][0];
			e->t.rport = (uint16_t)held[i][1];
			assert_non_null(conn(e));
			peer(e, MB_TCP_RST, conn(e)->rcv_nxt, 0, 0, NULL);
			assert_null(conn(e));
			counts[(held[i][0] >> 24) - 1]--;
			held[i][0] = held[n - 1][0];
			held[i][1] = held[n - 1][1];
			n--;
		} else {
			unsigned a = (x >> 4) % 8;

			e->t.raddr = 0x0000000a | (a + 1) << 24;
			e->t.rport = (uint16_t)(1024 + round);
			e->nrec = 0;
			peer(e, MB_TCP_SYN, PEER_ISS, 0, 65535, NULL);
			if (counts[a] < 3) {
				assert_non_null(conn(e));
				counts[a]++;
				held[n][0] = e->t.raddr;
				held[n][1] = e->t.rport;
				n++;
			} else {
				assert_null(conn(e));
			}
		}
		for (unsigned a = 0; a < 8; a++)
			assert_int_equal(mb_tcp_src_conns(e->s, 0x0000000a | (a + 1) << 24),
					 counts[a]);
	}
	env_free(e);
}

/* ---- lengths derived from the peer's MSS ------------------------------------ */

/* IP total length of what the glue would build for o: 20 + TCP header + payload. */
static unsigned
ip_total(const struct mb_tcp_out *o)
{
	uint8_t h[MB_TCP_HDR_MAX];

	return 20 + mb_tcp_hdr_build(o, h) + o->len;
}

/* A SYN announcing a tiny MSS (1..11 with timestamps once wrapped the
 * effective MSS to ~65525): the connection's MSS stays within ours minus the
 * option space, no segment is longer than it, and no frame is longer than the
 * MTU (our MSS + 40), for the whole transfer. */
static void
test_tiny_mss(void **st)
{
	static const uint16_t mss[] = { 1, 5, 11, 12, 13, 63, 64, 76, 100, 536, 1460, 9000 };

	(void)st;
	for (unsigned ts = 0; ts < 2; ts++) {
		for (unsigned i = 0; i < sizeof(mss) / sizeof(mss[0]); i++) {
			struct env *e = env_new(NULL);
			struct mb_tcp_conn *c;
			unsigned opt = ts ? 12 : 0, rounds = 0, want;
			uint32_t acked = 0;

			e->ts = ts;
			e->syn_mss = mss[i];
			e->close_after = true;
			c = request(e);
			want = (mss[i] < e->p.mss ? mss[i] : e->p.mss);
			want = want > opt + 64 ? want - opt : 64;
			assert_int_equal(c->mss, want);
			assert_true(c->mss + opt <= e->p.mss);
			while (acked < IMG_LEN && rounds++ < 20000) {
				uint32_t hi = acked;

				for (unsigned k = 0; k < e->nrec; k++) {
					const struct mb_tcp_out *o = &e->rec[k];

					assert_true(o->len <= c->mss);
					assert_true(ip_total(o) <= e->p.mss + 40u);
					if (o->len && soff(e, o) + o->len > hi)
						hi = soff(e, o) + o->len;
				}
				e->nrec = 0;
				e->now += 10 * MS;
				acked = hi;
				peer(e, MB_TCP_ACK, e->pseq, e->iss + 1 + acked, 65535, NULL);
			}
			assert_int_equal(acked, IMG_LEN);
			env_free(e);
		}
	}
}

/* The congestion window is capped (it once grew without bound and wrapped
 * at 2^32, stalling the connection): slow start, congestion avoidance and
 * dup-ACK inflation all saturate at MB_TCP_CWND_MAX. */
static void
test_cwnd_cap(void **st)
{
	struct env *e;
	struct mb_tcp_conn *c;
	uint32_t before;

	(void)st;
	/* slow start and congestion avoidance near the cap: a new ACK must not
	 * wrap the window */
	for (unsigned ca = 0; ca < 2; ca++) {
		e = env_new(NULL);
		c = request(e);
		c->cwnd = MB_TCP_CWND_MAX - 10;
		c->ssthresh = ca ? 1000 : UINT32_MAX;
		e->now += 10 * MS;
		acked_to(e, c->mss);
		assert_true(c->cwnd >= MB_TCP_CWND_MAX - 10);
		assert_true(c->cwnd <= MB_TCP_CWND_MAX);
		/* and from far beyond it (a cap lowered by a newer version) */
		c->cwnd = UINT32_MAX - 100;
		acked_to(e, 2 * c->mss);
		assert_true(c->cwnd <= MB_TCP_CWND_MAX);
		env_free(e);
	}

	/* dup-ACK inflation during recovery, as a receiver (or an attacker)
	 * can send without end: 3.2 million dup ACKs add more than 2^32 */
	e = env_new(NULL);
	e->ts = false;
	c = request(e);
	acked_to(e, 0);
	acked_to(e, 0);
	acked_to(e, 0);
	assert_true(c->in_recovery);
	before = c->cwnd;
	for (unsigned i = 0; i < 3200000; i++) {
		acked_to(e, 0);
		e->nrec = 0;
		if (c->cwnd < before)
			fail_msg("cwnd fell from %u to %u at dup ACK %u", before, c->cwnd, i);
		before = c->cwnd;
	}
	assert_true(c->in_recovery);
	assert_int_equal(c->cwnd, MB_TCP_CWND_MAX);
	/* the connection still works: the full ACK ends recovery */
	acked_to(e, (uint32_t)c->recover);
	assert_false(c->in_recovery);
	assert_true(c->cwnd >= 2u * c->mss);
	env_free(e);
}


/* ---- segmentation offload ------------------------------------------------------ */

static void
tso_params(struct mb_tcp_params *p)
{
	p->tso_max = MB_TCP_TSO_MAX;
}

static void
tso_small_params(struct mb_tcp_params *p)
{
	p->tso_max = 3 * (1460 - 12) + 100;
}

/* With tso_max, new data leaves in segments of whole MSS multiples up to
 * tso_max (a span's or the stream's last bytes excepted), counted in
 * tx_tso; the congestion and peer windows bound them as ever; a hole is
 * retransmitted one MSS at a time; without tso_max nothing exceeds the
 * MSS. */
static void
test_tso_segments(void **st)
{
	void (*tweaks[])(struct mb_tcp_params *) = { tso_params, tso_small_params, NULL };

	(void)st;
	for (unsigned k = 0; k < 3; k++) {
		struct env *e = env_new(tweaks[k]);
		struct mb_tcp_conn *c = request(e);
		const struct mb_tcp_counters *cnt = mb_tcp_stack_counters(e->s);
		uint32_t mss = c->mss, seg_max = e->p.tso_max ? e->p.tso_max - e->p.tso_max % mss : mss;
		uint64_t tso = 0, acked = 0;
		unsigned rounds = 0;

		/* the first flight: the initial window, in one segment if it may */
		assert_int_equal(e->rec[0].len, k == 2 ? mss : seg_max < 10 * mss ? seg_max : 10 * mss);
		while (acked < IMG_LEN && rounds++ < 200) {
			uint64_t hi = acked;

			for (unsigned i = 0; i < e->nrec; i++) {
				const struct mb_tcp_out *o = &e->rec[i];
				uint64_t off = soff(e, o);

				if (o->len == 0)
					continue;
				assert_true(o->len <= seg_max);
				/* whole segments of the MSS, but the stream's end */
				if (off + o->len < IMG_LEN)
					assert_int_equal(o->len % mss, 0);
				tso += o->len > mss;
				if (off + o->len > hi)
					hi = off + o->len;
			}
			/* never more in flight than the windows allow */
			assert_true(c->nxt - c->una <= (c->cwnd < c->snd_wnd ? c->cwnd : c->snd_wnd));
			if (rounds == 3) {
				/* lose the first segment of the flight: three duplicate
				 * ACKs, and its retransmission is one MSS */
				uint64_t una = c->una;

				e->nrec = 0;
				for (int d = 0; d < 3; d++)
					acked_to(e, (uint32_t)una);
				assert_true(c->in_recovery);
				assert_int_equal(soff(e, &e->rec[0]), una);
				assert_int_equal(e->rec[0].len, mss);
				hi = c->max;
			}
			e->nrec = 0;
			e->now += 10 * MS;
			acked = hi;
			acked_to(e, (uint32_t)acked);
		}
		assert_int_equal(acked, IMG_LEN);
		assert_int_equal(cnt->tx_tso, tso);
		if (k == 2)
			assert_int_equal(tso, 0);
		else
			assert_true(tso >= 5);
		env_free(e);
	}
}

/* ---- CUBIC (RFC 9438) ---------------------------------------------------------- */

#define CUBIC_LEN (48u << 20)

/* RFC 9438's constants and formulas, written here from the RFC and not
 * shared with the core: W_cubic(t) = C (t - K)^3 + W_max (figure 1),
 * K = cbrt((W_max - cwnd_epoch) / C) (figure 2), in segments and seconds. */
#define RFC_C 0.4
#define RFC_BETA 0.7
#define RFC_ALPHA (3.0 * (1.0 - RFC_BETA) / (1.0 + RFC_BETA))

static double
w_cubic(double t, double k, double wmax)
{
	return RFC_C * pow(t - k, 3) + wmax;
}

static void
cubic_params(struct mb_tcp_params *p)
{
	p->cc = MB_TCP_CC_CUBIC;
}

/* A CUBIC connection sending CUBIC_LEN bytes, its window set to w
 * segments in congestion avoidance and that window in flight (the peer
 * advertises 256 KiB). */
static struct mb_tcp_conn *
cubic_conn(struct env *e, unsigned w)
{
	struct mb_tcp_conn *c;
	uint8_t *buf = calloc(1, CUBIC_LEN);

	assert_non_null(buf);
	mb_image_unref(e->img);
	e->img = mb_image_new_heap("img", buf, CUBIC_LEN);
	free(buf);
	assert_non_null(e->img);
	e->len = CUBIC_LEN;
	c = request(e);
	assert_true(c->cc_cubic);
	c->cwnd = w * c->mss;
	c->ssthresh = c->cwnd;
	acked_to(e, 0); /* the window opens: the flight fills it */
	assert_int_equal(c->max - c->una, (uint64_t)w * c->mss);
	return c;
}

/* One round trip: rtt_ms later the peer acknowledges what was in flight,
 * every second segment (per_ack 2) or all of it at once (per_ack 0: a
 * stretch ACK, as GRO at a receiver makes). */
static void
round_trip(struct env *e, struct mb_tcp_conn *c, unsigned rtt_ms, unsigned per_ack)
{
	uint64_t a = c->una, hi = c->nxt;

	e->now += rtt_ms * MS;
	e->nrec = 0;
	while (a < hi) {
		a = per_ack == 0 || hi - a < (uint64_t)per_ack * c->mss ? hi : a + per_ack * c->mss;
		acked_to(e, (uint32_t)a);
	}
}

/* A congestion event: three duplicate ACKs, then the ACK that ends the
 * recovery.  Returns the flight at the loss. */
static uint64_t
lose_one(struct env *e, struct mb_tcp_conn *c)
{
	uint64_t flight = c->max - c->una;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint64_t fast = k->rexmt_fast;

	for (int i = 0; i < 3; i++)
		acked_to(e, (uint32_t)c->una);
	assert_int_equal(k->rexmt_fast, fast + 1);
	assert_true(c->in_recovery);
	return flight;
}

/* From the recovery's end, slow start back to ssthresh (an ACK per
 * segment, a round trip of rtt_ms), then, one round trip later, the stretch
 * ACK of everything in flight, which starts the congestion avoidance stage:
 * ret_epoch is its time, ret_cwnd_epoch the window it found. */
static void
to_epoch(struct env *e, struct mb_tcp_conn *c, unsigned rtt_ms, uint64_t *ret_epoch,
	 double *ret_cwnd_epoch)
{
	uint64_t a, hi;

	e->now += rtt_ms * MS;
	acked_to(e, (uint32_t)c->recover);
	assert_false(c->in_recovery);
	a = c->una;
	hi = c->nxt;
	while (c->cwnd < c->ssthresh) {
		if (a >= hi) {
			e->now += rtt_ms * MS;
			hi = c->nxt;
		}
		a = a + c->mss < hi ? a + c->mss : hi;
		acked_to(e, (uint32_t)a);
	}
	*ret_cwnd_epoch = (double)c->cwnd / c->mss;
	round_trip(e, c, rtt_ms, 0);
	*ret_epoch = e->now;
}

/* RFC 9438's window on one ACK of new data in congestion avoidance, from
 * the window w0 (segments) before it: the Reno-friendly estimate grows by
 * alpha_cubic x segments_acked / cwnd (alpha 1 once W_est reaches the
 * window of the last reduction) and sets the window while W_cubic(t) is
 * below it (4.3); otherwise the window moves by (target - cwnd) / cwnd per
 * segment acknowledged, target = W_cubic(t + RTT) clamped to [cwnd,
 * 1.5 cwnd] (4.2, 4.4, 4.5). */
struct cubic_model {
	double wmax, k, west, prior;
	bool reno; /* the last ACK fell in the Reno-friendly region */
};

static double
model_ack(struct cubic_model *m, double w0, double segs, double t, double rtt)
{
	double target;

	m->west += (m->west >= m->prior ? 1.0 : RFC_ALPHA) * segs / w0;
	m->reno = w_cubic(t, m->k, m->wmax) < m->west;
	if (m->reno)
		return m->west > w0 ? m->west : w0;
	target = w_cubic(t + rtt, m->k, m->wmax);
	target = target < w0 ? w0 : target > 1.5 * w0 ? 1.5 * w0 : target;
	return w0 + (target - w0) / w0 * segs;
}

/* Round trips of rtt_ms in congestion avoidance from the stage that
 * started at `epoch`: the peer acknowledges per_ack segments at a time (0:
 * a stretch ACK of the whole flight), and after every ACK the window must
 * be the model's.  Returns how many ACKs fell in the Reno-friendly region. */
static unsigned
ca_rounds(struct env *e, struct mb_tcp_conn *c, struct cubic_model *m, uint64_t epoch,
	  unsigned rounds, unsigned rtt_ms, unsigned per_ack, unsigned *ret_acks)
{
	double mss = c->mss;
	unsigned reno = 0, acks = 0;

	for (unsigned r = 1; r <= rounds; r++) {
		uint64_t a = c->una, hi = c->nxt;

		e->now += rtt_ms * MS;
		e->nrec = 0;
		while (a < hi) {
			uint64_t prev = a;
			double w0 = c->cwnd / mss, want, t;

			a = per_ack == 0 || hi - a < (uint64_t)per_ack * c->mss ? hi
										   : a + per_ack * c->mss;
			acked_to(e, (uint32_t)a);
			t = (double)(e->now - epoch) / 1e9;
			want = model_ack(m, w0, (double)(a - prev) / mss, t, c->srtt_us / 1e6);
			reno += m->reno;
			acks++;
			if (fabs(c->cwnd / mss - want) > 0.001)
				fail_msg("round %u, t %.3f s: cwnd %.4f segments, RFC 9438 %.4f "
					 "(W_cubic(t) %.4f, W_est %.4f)", r, t, c->cwnd / mss, want,
					 w_cubic(t, m->k, m->wmax), m->west);
		}
	}
	if (ret_acks != NULL)
		*ret_acks = acks;
	return reno;
}

/* The window after a loss, ACK by ACK against the RFC's rules, with an ACK
 * per two segments and with stretch ACKs (GRO at the receiver): concave
 * below W_max, flat around t = K, convex past it.  With a 100 ms round trip
 * the cubic region holds most of the stage. */
static void
test_cubic_curve(void **st)
{
	(void)st;
	for (unsigned per_ack = 0; per_ack <= 2; per_ack += 2) {
		struct env *e = env_new(cubic_params);
		struct mb_tcp_conn *c = cubic_conn(e, 100);
		struct cubic_model m = { .wmax = 100, .prior = 100 };
		double mss = c->mss, cwe, w;
		uint64_t flight, epoch;
		unsigned reno;

		flight = lose_one(e, c);
		/* 4.6: ssthresh = flight x beta_cubic; W_max = the window before */
		assert_int_equal(c->ssthresh, flight * 7 / 10);
		assert_int_equal(c->cubic.w_max, 100 * c->mss);
		to_epoch(e, c, 100, &epoch, &cwe);
		m.k = cbrt((m.wmax - cwe) / RFC_C);
		assert_true(fabs(c->cubic.k_us / 1e6 - m.k) < 1e-3);
		/* the stage's first ACK grew W_est from cwnd_epoch */
		m.west = c->cubic.w_est / 65536.0 / mss;
		assert_true(m.west > cwe && m.west < cwe + 1);
		/* to t = K - 0.5 s: concave, below W_max */
		reno = ca_rounds(e, c, &m, epoch, (unsigned)((m.k - 0.5) * 10), 100, per_ack, NULL);
		w = c->cwnd / mss;
		assert_true(w < m.wmax && w > m.wmax - 3);
		/* across t = K: the plateau */
		reno += ca_rounds(e, c, &m, epoch, 10, 100, per_ack, NULL);
		assert_true(fabs(c->cwnd / mss - m.wmax) < 3);
		/* to 9 s: convex, far above W_max */
		reno += ca_rounds(e, c, &m, epoch, 90 - (unsigned)((m.k - 0.5) * 10) - 10, 100,
				  per_ack, NULL);
		assert_true(c->cwnd / mss > m.wmax + 20);
		print_message("per_ack %u: K %.3f s, cwnd_epoch %.2f, at 9 s %.2f segments, %u "
			      "ACKs Reno-friendly\n", per_ack, m.k, cwe, c->cwnd / mss, reno);
		env_free(e);
	}
}

/* A short round trip: W_cubic(t) stays below the Reno-friendly estimate,
 * which then sets the window (4.3), alpha_cubic turning 1 once W_est has
 * passed the window of the last reduction. */
static void
test_cubic_reno_friendly(void **st)
{
	struct env *e = env_new(cubic_params);
	struct mb_tcp_conn *c = cubic_conn(e, 100);
	struct cubic_model m = { .wmax = 100, .prior = 100 };
	double cwe, mss = c->mss;
	uint64_t epoch;
	unsigned reno, acks;

	(void)st;
	(void)lose_one(e, c);
	to_epoch(e, c, 2, &epoch, &cwe);
	m.k = cbrt((m.wmax - cwe) / RFC_C);
	m.west = c->cubic.w_est / 65536.0 / mss;
	assert_true(m.west > cwe && m.west < cwe + 1);
	reno = ca_rounds(e, c, &m, epoch, 100, 2, 2, &acks);
	/* every ACK was Reno-friendly, and W_est passed cwnd_prior */
	assert_int_equal(reno, acks);
	assert_true(m.west > m.prior + 10);
	assert_true(fabs(c->cwnd / mss - m.west) < 0.001);
	env_free(e);
}

/* Fast convergence (4.7): a loss below the previous W_max lowers W_max to
 * cwnd (1 + beta) / 2; one at or above it takes cwnd. */
static void
test_cubic_fast_convergence(void **st)
{
	struct env *e = env_new(cubic_params);
	struct mb_tcp_conn *c = cubic_conn(e, 100);
	uint64_t epoch;
	double cwe;
	uint32_t w;

	(void)st;
	(void)lose_one(e, c);
	assert_int_equal(c->cubic.w_max, 100 * c->mss);
	to_epoch(e, c, 100, &epoch, &cwe);
	for (int r = 0; r < 5; r++)
		round_trip(e, c, 100, 2);
	w = c->cwnd;
	assert_true(w < 100 * c->mss);
	(void)lose_one(e, c);
	assert_int_equal(c->cubic.w_max, (uint32_t)((uint64_t)w * 17 / 20));
	assert_int_equal(c->cubic.cwnd_prior, w);
	/* grown past that W_max, the next loss remembers the window itself */
	to_epoch(e, c, 100, &epoch, &cwe);
	for (int r = 0; r < 60 && c->cwnd <= c->cubic.w_max; r++)
		round_trip(e, c, 100, 2);
	w = c->cwnd;
	assert_true(w > c->cubic.w_max);
	(void)lose_one(e, c);
	assert_int_equal(c->cubic.w_max, w);
	env_free(e);
}

/* A timeout (4.8): ssthresh = flight x beta_cubic, the window restarts at
 * one segment, and the congestion avoidance stage after it grows from
 * K = 0 with W_max = cwnd_epoch: W_cubic(t) = C t^3 + cwnd_epoch.  NewReno
 * on the same loss halves the flight. */
static void
test_cubic_rto(void **st)
{
	(void)st;
	for (unsigned cubic = 0; cubic < 2; cubic++) {
		struct env *e = env_new(cubic ? tlp_cubic : NULL);
		struct mb_tcp_conn *c;
		struct cubic_model m;
		uint64_t flight, epoch;
		double cwe, mss, prior;

		if (!cubic) {
			e->len = IMG_LEN;
			c = request(e);
			c->cwnd = 100 * c->mss;
			c->ssthresh = c->cwnd;
			acked_to(e, 0);
		} else {
			c = cubic_conn(e, 100);
		}
		mss = c->mss;
		flight = c->max - c->una;
		prior = c->cwnd / mss;
		e->now += 2 * SEC;
		mb_tcp_timers(e->s, e->now);
		assert_int_equal(mb_tcp_stack_counters(e->s)->rexmt_rto, 1);
		assert_int_equal(c->ssthresh, cubic ? flight * 7 / 10 : flight / 2);
		assert_int_equal(c->cwnd, c->mss);
		if (!cubic) {
			env_free(e);
			continue;
		}
		assert_true(c->cc_rto);
		/* slow start back to ssthresh, then the stage */
		c->recover = c->nxt;
		to_epoch(e, c, 100, &epoch, &cwe);
		assert_int_equal(c->cubic.k_us, 0);
		assert_true(fabs(c->cubic.w_max / mss - cwe) < 1e-9);
		m.wmax = cwe;
		m.k = 0;
		m.prior = prior;
		m.west = c->cubic.w_est / 65536.0 / mss;
		(void)ca_rounds(e, c, &m, epoch, 40, 100, 2, NULL);
		/* past the Reno-friendly start, C t^3 took over */
		assert_false(m.reno);
		assert_true(c->cwnd / mss > cwe + 20);
		env_free(e);
	}
}

/* ---- a lossy transfer, end to end ------------------------------------------- */

struct wire_seg {
	uint64_t at;
	bool to_server;
	struct mb_tcp_out o; /* server -> peer */
	uint32_t ack;	     /* peer -> server */
	uint8_t flags;
	uint8_t nsack;
	struct mb_tcp_sack_block sack[3];
};

struct sim {
	struct wire_seg q[16384];
	unsigned nq;
	uint64_t iv[64][2]; /* received intervals above rcv, sorted */
	unsigned niv;
	uint64_t rcv;	    /* contiguous bytes received */
	bool fin;
	uint32_t rnd;
};

static bool
chance(struct sim *m, unsigned pct)
{
	m->rnd = m->rnd * 1103515245u + 12345u;
	return (m->rnd >> 16) % 100 < pct;
}

static void
sim_take(struct env *e, struct sim *m, unsigned loss)
{
	for (unsigned i = 0; i < e->nrec; i++) {
		if (chance(m, loss) || m->nq >= 16384)
			continue;
		m->q[m->nq].at = e->now + 5 * MS;
		m->q[m->nq].to_server = false;
		m->q[m->nq].o = e->rec[i];
		m->nq++;
	}
	e->nrec = 0;
}

static void
sim_peer_rx(struct env *e, struct sim *m, const struct mb_tcp_out *o, unsigned loss)
{
	uint64_t a = soff(e, o), b = a + o->len;
	struct wire_seg *w;

	/* bytes must be the image's own at that stream offset */
	if (o->len > 0) {
		assert_ptr_equal(o->buf, &e->img->sb);
		assert_int_equal(o->off, a);
	}
	if (o->len > 0 && b > m->rcv) {
		unsigned k;

		if (a < m->rcv)
			a = m->rcv;
		/* insert [a,b) and merge */
		for (k = 0; k < m->niv && m->iv[k][0] < a; k++)
			;
		assert_true(m->niv < 64);
		memmove(m->iv[k + 1], m->iv[k], (m->niv - k) * sizeof(m->iv[0]));
		m->iv[k][0] = a;
		m->iv[k][1] = b;
		m->niv++;
		for (k = 0; k + 1 < m->niv;) {
			if (m->iv[k][1] >= m->iv[k + 1][0]) {
				if (m->iv[k + 1][1] > m->iv[k][1])
					m->iv[k][1] = m->iv[k + 1][1];
				memmove(m->iv[k + 1], m->iv[k + 2], (m->niv - k - 2) * sizeof(m->iv[0]));
				m->niv--;
			} else {
				k++;
			}
		}
		while (m->niv > 0 && m->iv[0][0] <= m->rcv) {
			if (m->iv[0][1] > m->rcv)
				m->rcv = m->iv[0][1];
			memmove(m->iv[0], m->iv[1], (m->niv - 1) * sizeof(m->iv[0]));
			m->niv--;
		}
	}
	if ((o->flags & MB_TCP_FIN) && soff(e, o) == m->rcv)
		m->fin = true;
	if (chance(m, loss) || m->nq >= 16384)
		return;
	w = &m->q[m->nq++];
	memset(w, 0, sizeof(*w));
	w->at = e->now + 5 * MS;
	w->to_server = true;
	w->ack = e->iss + 1 + (uint32_t)m->rcv + m->fin;
	w->flags = MB_TCP_ACK | (m->fin ? MB_TCP_FIN : 0);
	for (unsigned k = 0; k < m->niv && k < 3; k++) {
		w->sack[k].left = e->iss + 1 + (uint32_t)m->iv[k][0];
		w->sack[k].right = e->iss + 1 + (uint32_t)m->iv[k][1];
		w->nsack++;
	}
}

static void
lossy_transfer(unsigned loss, bool sack)
{
	struct env *e = env_new(NULL);
	struct sim *m = calloc(1, sizeof(*m));
	struct mb_tcp_conn *c;
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(e->s);
	uint64_t end;

	e->close_after = true;
	m->rnd = 4242 + loss;
	c = request(e);
	if (!sack)
		c->sack_ok = 0;
	end = e->now + 600 * SEC;
	while (e->now < end && conn(e) != NULL && c->state != MB_TCP_TIME_WAIT) {
		sim_take(e, m, loss);
		e->now += MS;
		for (unsigned i = 0; i < m->nq;) {
			struct wire_seg w = m->q[i];

			if (w.at > e->now) {
				i++;
				continue;
			}
			m->q[i] = m->q[--m->nq];
			if (!w.to_server) {
				sim_peer_rx(e, m, &w.o, loss);
			} else {
				struct mb_tcp_seg g = { 0 };

				g.sport = e->t.rport;
				g.dport = e->t.lport;
				g.seq = e->pseq;
				g.ack = w.ack;
				g.flags = w.flags;
				g.win = 65535;
				g.has_ts = true;
				g.tsval = e->tsval++;
				g.tsecr = e->last_ts;
				g.nsack = sack ? w.nsack : 0;
				memcpy(g.sack, w.sack, sizeof(w.sack));
				mb_tcp_input(e->s, &e->t, &g, e->now);
				sim_take(e, m, loss);
			}
		}
		mb_tcp_timers(e->s, e->now);
	}
	assert_int_equal(m->rcv, IMG_LEN);
	assert_true(m->fin);
	assert_true(conn(e) == NULL || c->state == MB_TCP_TIME_WAIT);
	if (loss == 0)
		assert_int_equal(k->rexmt_bytes, 0);
	else
		assert_true(k->rexmt_bytes > 0);
	print_message("loss %u%% sack %d: %.1f s simulated, %" PRIu64 " fast, %" PRIu64
		      " rto, %" PRIu64 " bytes resent, %" PRIu64 " lost retransmissions resent, %" PRIu64
		      " probes (%" PRIu64 " repaired a loss)\n", loss, sack,
		      (double)(e->now - 1000 * SEC) / 1e9, k->rexmt_fast, k->rexmt_rto,
		      k->rexmt_bytes, k->rexmt_lost, k->tlp_probes, k->tlp_recoveries);
	free(m);
	env_free(e);
}

static void
test_lossy_transfer(void **st)
{
	(void)st;
	lossy_transfer(0, true);
	lossy_transfer(2, true);
	lossy_transfer(5, true);
	lossy_transfer(5, false);
	lossy_transfer(20, true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_ack_clocking),
		cmocka_unit_test(test_fast_retransmit),
		cmocka_unit_test(test_reordering),
		cmocka_unit_test(test_sack_recovery),
		cmocka_unit_test(test_rto_backoff),
		cmocka_unit_test(test_tail_loss_probe),
		cmocka_unit_test(test_tail_loss_probe_needs_sack),
		cmocka_unit_test(test_tlp_repaired_loss),
		cmocka_unit_test(test_tlp_dsack_no_loss),
		cmocka_unit_test(test_tlp_dupack_no_loss),
		cmocka_unit_test(test_rack_lost_rexmt),
		cmocka_unit_test(test_partial_ack_no_double_rexmt),
		cmocka_unit_test(test_rexmt_within_sent),
		cmocka_unit_test(test_timer_unaligned),
		cmocka_unit_test(test_zero_window_persist),
		cmocka_unit_test(test_rst_every_state),
		cmocka_unit_test(test_fin_server_first),
		cmocka_unit_test(test_timewait_reopen_iss_ahead),
		cmocka_unit_test(test_fin_peer_first),
		cmocka_unit_test(test_syn_cookies),
		cmocka_unit_test(test_syn_cookie_ts_monotonic),
		cmocka_unit_test(test_conn_limit),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_refuse_and_abort),
		cmocka_unit_test(test_paws_and_bad_ack),
		cmocka_unit_test(test_paws_reordered_ack),
		cmocka_unit_test(test_random_input),
		cmocka_unit_test(test_per_source_limit),
		cmocka_unit_test(test_syn_cookie_budget),
		cmocka_unit_test(test_syn_cookie_budget_per_link),
		cmocka_unit_test(test_per_source_churn),
		cmocka_unit_test(test_tiny_mss),
		cmocka_unit_test(test_cwnd_cap),
		cmocka_unit_test(test_tso_segments),
		cmocka_unit_test(test_cubic_curve),
		cmocka_unit_test(test_cubic_reno_friendly),
		cmocka_unit_test(test_cubic_fast_convergence),
		cmocka_unit_test(test_cubic_rto),
		cmocka_unit_test(test_lossy_transfer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
