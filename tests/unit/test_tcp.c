/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP core driven by scripted segments: a fake peer feeds mb_tcp_input
 * with hand-built segments and a scripted clock, and the emit callback
 * records what the core sends.  Covers the handshake (with and without SYN
 * cookies), ACK clocking, fast retransmit/recovery with and without SACK,
 * RTO backoff, reordering, zero window + persist, RST in every state, both
 * FIN handshakes, TIME_WAIT, the idle timeout and the connection limit, and
 * the segment parser with malformed and random input.
 */
#include <errno.h>
#include <inttypes.h>
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
		assert_int_equal(mb_tcp_send(s, c, &mb_image_ref(e->img)->sb, 0, IMG_LEN), 0);
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
		      " rto, %" PRIu64 " bytes resent\n", loss, sack,
		      (double)(e->now - 1000 * SEC) / 1e9, k->rexmt_fast, k->rexmt_rto,
		      k->rexmt_bytes);
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
		cmocka_unit_test(test_timer_unaligned),
		cmocka_unit_test(test_zero_window_persist),
		cmocka_unit_test(test_rst_every_state),
		cmocka_unit_test(test_fin_server_first),
		cmocka_unit_test(test_fin_peer_first),
		cmocka_unit_test(test_syn_cookies),
		cmocka_unit_test(test_conn_limit),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_refuse_and_abort),
		cmocka_unit_test(test_paws_and_bad_ack),
		cmocka_unit_test(test_random_input),
		cmocka_unit_test(test_per_source_limit),
		cmocka_unit_test(test_per_source_churn),
		cmocka_unit_test(test_tiny_mss),
		cmocka_unit_test(test_cwnd_cap),
		cmocka_unit_test(test_lossy_transfer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
