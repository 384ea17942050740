/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP state machine, connection table, timer wheel and congestion
 * control (see tcp.h for what is and is not implemented).
 *
 * The table is an array of preallocated connections plus an open-addressing
 * index (linear probing, backward-shift delete) keyed by a SipHash of the
 * 4-tuple, so a flood of crafted tuples cannot build long probe chains.  A
 * second index of the same kind, keyed by the peer address, counts what each
 * source holds (connections in any state, application units such as HTTP
 * request buffers) for the per-source limits.  Each
 * connection sits in at most one slot of a hashed timer wheel under the
 * earliest of its deadlines; a later deadline leaves it where it is and the
 * wheel re-files it when the early slot comes round, so refreshing the idle
 * timer on every segment costs nothing.
 *
 * Callbacks may call mb_tcp_send/close/abort.  Output is deferred while the
 * core is inside mb_tcp_input or mb_tcp_timers so that a reply carries the
 * acknowledgement of the request it answers; a connection aborted from a
 * callback is recognised by its state turning CLOSED.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

#define WHEEL_BITS 12
#define WHEEL_SLOTS (1u << WHEEL_BITS)
#define WHEEL_TICK_NS 1000000ULL /* 1 ms: a revolution is about 4 s */
#define SYNACK_MAX_REXMT 4
#define COOKIE_PERIOD_NS (64ULL * 1000000000ULL)
#define RTO_G_US 1000u
#define TX_RETRY_NS 1000000ULL /* glue TX queue full, nothing in flight */

/* What one peer address holds; a slot is in use while conns > 0. */
struct src_ent {
	uint32_t addr;
	uint32_t conns;
	uint32_t units;
	uint32_t hash;
};

struct mb_tcp_stack {
	struct mb_tcp_params p;
	struct mb_tcp_ops ops;
	void *ctx;
	struct mb_tcp_conn *conns;
	uint32_t *slots; /* conn index + 1, 0 = empty */
	uint32_t slot_mask;
	struct src_ent *srcs; /* slot_mask + 1 entries: never more sources than conns */
	uint32_t *freelist;
	uint32_t nfree;
	uint32_t nsynq;
	uint32_t wheel[WHEEL_SLOTS]; /* list heads, conn index + 1 */
	uint64_t wheel_tick;	     /* next tick to process */
	uint64_t now;
	int depth; /* inside input/timers: defer output */
	struct mb_tcp_counters cnt;
};

/* Cookie MSS table: what common paths carry. */
static const uint16_t cookie_mss[8] = { 536, 1200, 1360, 1400, 1440, 1452, 1460, 8960 };

static void output(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
static void timer_update(struct mb_tcp_stack *s, struct mb_tcp_conn *c);

void
mb_tcp_params_default(struct mb_tcp_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_conns = 1024;
	p->syn_backlog = 256;
	p->mss = 1460;
	p->initial_window = 10;
	p->rcv_wnd = 65535;
	p->idle_timeout_ns = 300ULL * 1000000000ULL;
	p->timewait_ns = 2ULL * 1000000000ULL;
	p->rto_min_us = 200000;
	p->rto_max_us = 60000000;
	p->rto_init_us = 1000000;
	p->max_rexmt = 12;
}

const char *
mb_tcp_state_name(enum mb_tcp_state st)
{
	static const char *const n[] = { "CLOSED", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT",
					 "FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "LAST_ACK",
					 "TIME_WAIT" };

	return (unsigned)st < sizeof(n) / sizeof(n[0]) ? n[st] : "?";
}

/* ---- sequence helpers ---------------------------------------------------- */

static inline bool
seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool
seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

/* Stream offset -> sequence number: byte 0 follows the SYN. */
static inline uint32_t
seq_of(const struct mb_tcp_conn *c, uint64_t off)
{
	return c->iss + 1 + (uint32_t)off;
}

/* Sequence number -> stream offset near una (within +-2^31). */
static inline uint64_t
off_of(const struct mb_tcp_conn *c, uint32_t seq)
{
	int32_t d = (int32_t)(seq - seq_of(c, c->una));

	if (d < 0 && (uint64_t)(-(int64_t)d) > c->una)
		return 0;
	return c->una + d;
}

static inline uint32_t
now_ms(const struct mb_tcp_stack *s)
{
	return (uint32_t)(s->now / 1000000ULL);
}

static inline uint32_t
min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint32_t
max32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* Every change of the congestion window goes through these two, so it
 * saturates at MB_TCP_CWND_MAX instead of wrapping. */
static inline void
cwnd_set(struct mb_tcp_conn *c, uint64_t v)
{
	c->cwnd = (uint32_t)(v > MB_TCP_CWND_MAX ? MB_TCP_CWND_MAX : v);
}

static inline void
cwnd_add(struct mb_tcp_conn *c, uint64_t n)
{
	cwnd_set(c, (uint64_t)c->cwnd + n);
}

/* ---- table ----------------------------------------------------------------- */

static uint32_t
tuple_hash(const struct mb_tcp_stack *s, const struct mb_tcp_tuple *t)
{
	uint8_t k[12];

	memcpy(k, &t->laddr, 4);
	memcpy(k + 4, &t->raddr, 4);
	memcpy(k + 8, &t->lport, 2);
	memcpy(k + 10, &t->rport, 2);
	return (uint32_t)mb_tcp_siphash(s->p.secret, k, sizeof(k));
}

static inline bool
tuple_eq(const struct mb_tcp_tuple *a, const struct mb_tcp_tuple *b)
{
	return a->laddr == b->laddr && a->raddr == b->raddr && a->lport == b->lport &&
	       a->rport == b->rport;
}

struct mb_tcp_conn *
mb_tcp_lookup(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t)
{
	uint32_t i = tuple_hash(s, t) & s->slot_mask;

	while (s->slots[i] != 0) {
		struct mb_tcp_conn *c = &s->conns[s->slots[i] - 1];

		if (tuple_eq(&c->t, t))
			return c;
		i = (i + 1) & s->slot_mask;
	}
	return NULL;
}

/* ---- per-source counts ------------------------------------------------------ */

static uint32_t
src_hash(const struct mb_tcp_stack *s, uint32_t addr)
{
	return (uint32_t)mb_tcp_siphash(s->p.secret, &addr, sizeof(addr));
}

/* The entry of addr, or NULL. */
static struct src_ent *
src_find(const struct mb_tcp_stack *s, uint32_t addr)
{
	uint32_t i = src_hash(s, addr) & s->slot_mask;

	while (s->srcs[i].conns != 0) {
		if (s->srcs[i].addr == addr)
			return &s->srcs[i];
		i = (i + 1) & s->slot_mask;
	}
	return NULL;
}

/* May addr open one more connection? */
static bool
src_full(const struct mb_tcp_stack *s, uint32_t addr)
{
	const struct src_ent *e;

	if (s->p.max_conns_per_src == 0)
		return false;
	e = src_find(s, addr);
	return e != NULL && e->conns >= s->p.max_conns_per_src;
}

/* Count a new connection of addr (the table never holds more sources than
 * connections, so a free slot always exists). */
static void
src_add(struct mb_tcp_stack *s, uint32_t addr)
{
	uint32_t h = src_hash(s, addr), i = h & s->slot_mask;

	while (s->srcs[i].conns != 0) {
		if (s->srcs[i].addr == addr) {
			s->srcs[i].conns++;
			return;
		}
		i = (i + 1) & s->slot_mask;
	}
	s->srcs[i] = (struct src_ent){ .addr = addr, .conns = 1, .units = 0, .hash = h };
}

/* A connection of addr is gone; the last one removes the entry
 * (backward-shift delete, as for the connection index). */
static void
src_del(struct mb_tcp_stack *s, uint32_t addr)
{
	struct src_ent *e = src_find(s, addr);
	uint32_t i, j;

	if (e == NULL)
		return;
	if (--e->conns > 0)
		return;
	i = (uint32_t)(e - s->srcs);
	j = i;
	for (;;) {
		uint32_t home;

		j = (j + 1) & s->slot_mask;
		if (s->srcs[j].conns == 0)
			break;
		home = s->srcs[j].hash & s->slot_mask;
		if (((j - home) & s->slot_mask) >= ((j - i) & s->slot_mask)) {
			s->srcs[i] = s->srcs[j];
			i = j;
		}
	}
	memset(&s->srcs[i], 0, sizeof(s->srcs[i]));
}

bool
mb_tcp_src_take(struct mb_tcp_stack *s, const struct mb_tcp_conn *c)
{
	struct src_ent *e = src_find(s, c->t.raddr);

	if (e == NULL)
		return false; /* not a live connection */
	if (s->p.max_app_per_src != 0 && e->units >= s->p.max_app_per_src) {
		s->cnt.app_src_limit++;
		return false;
	}
	e->units++;
	return true;
}

void
mb_tcp_src_put(struct mb_tcp_stack *s, const struct mb_tcp_conn *c)
{
	struct src_ent *e = src_find(s, c->t.raddr);

	if (e != NULL && e->units > 0)
		e->units--;
}

uint32_t
mb_tcp_src_conns(const struct mb_tcp_stack *s, uint32_t raddr)
{
	const struct src_ent *e = src_find(s, raddr);

	return e != NULL ? e->conns : 0;
}

uint32_t
mb_tcp_src_units(const struct mb_tcp_stack *s, uint32_t raddr)
{
	const struct src_ent *e = src_find(s, raddr);

	return e != NULL ? e->units : 0;
}

static struct mb_tcp_conn *
conn_alloc(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t)
{
	struct mb_tcp_conn *c;
	uint32_t idx, i;

	if (s->nfree == 0) {
		s->cnt.drop_full++;
		return NULL;
	}
	idx = s->freelist[--s->nfree];
	c = &s->conns[idx];
	memset(c, 0, sizeof(*c));
	c->t = *t;
	c->hash = tuple_hash(s, t);
	i = c->hash & s->slot_mask;
	while (s->slots[i] != 0)
		i = (i + 1) & s->slot_mask;
	s->slots[i] = idx + 1;
	src_add(s, t->raddr);
	return c;
}

static void
timer_unlink(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (c->timer_at == 0)
		return;
	if (c->tw_prev)
		s->conns[c->tw_prev - 1].tw_next = c->tw_next;
	else
		s->wheel[(c->timer_at / WHEEL_TICK_NS) & (WHEEL_SLOTS - 1)] = c->tw_next;
	if (c->tw_next)
		s->conns[c->tw_next - 1].tw_prev = c->tw_prev;
	c->tw_next = c->tw_prev = 0;
	c->timer_at = 0;
}

/* File c under deadline `at`; a deadline whose slot has already passed goes
 * into the next slot processed. */
static void
timer_link(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t at)
{
	uint32_t idx = (uint32_t)(c - s->conns) + 1;
	/* round up to a tick boundary: when the wheel reaches the slot, the
	 * deadline has passed, so nothing is skipped for a whole revolution */
	uint64_t tick = (at + WHEEL_TICK_NS - 1) / WHEEL_TICK_NS;
	uint32_t slot;

	at = tick * WHEEL_TICK_NS;
	if (tick < s->wheel_tick) {
		tick = s->wheel_tick;
		at = tick * WHEEL_TICK_NS;
	}
	if (at == 0)
		at = 1;
	slot = tick & (WHEEL_SLOTS - 1);
	c->timer_at = at;
	c->tw_prev = 0;
	c->tw_next = s->wheel[slot];
	if (c->tw_next)
		s->conns[c->tw_next - 1].tw_prev = idx;
	s->wheel[slot] = idx;
}

static uint64_t
conn_deadline(const struct mb_tcp_conn *c)
{
	uint64_t d = 0;
	const uint64_t v[3] = { c->t_rexmt, c->t_idle, c->t_wait };

	for (int i = 0; i < 3; i++)
		if (v[i] != 0 && (d == 0 || v[i] < d))
			d = v[i];
	return d;
}

static void
timer_update(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t d = conn_deadline(c);

	if (d == 0) {
		timer_unlink(s, c);
		return;
	}
	if (c->timer_at != 0 && c->timer_at <= d)
		return; /* fires early and is re-filed then */
	timer_unlink(s, c);
	timer_link(s, c, d);
}

static void
spans_release(struct mb_tcp_conn *c)
{
	while (c->nspans > 0) {
		mb_image_unref(c->span[c->span_head].img);
		c->span[c->span_head].img = NULL;
		c->span_head = (c->span_head + 1) % MB_TCP_SPANS;
		c->nspans--;
	}
}

/* Remove c from the table and give its slot back.  Runs `closed` if the
 * application saw the connection. */
static void
conn_free(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint32_t idx = (uint32_t)(c - s->conns);
	uint32_t i, j;

	if (c->state == MB_TCP_CLOSED)
		return;
	if (c->state == MB_TCP_SYN_RCVD)
		s->nsynq--;
	timer_unlink(s, c);
	i = c->hash & s->slot_mask;
	while (s->slots[i] != idx + 1)
		i = (i + 1) & s->slot_mask;
	/* backward-shift delete keeps every probe chain unbroken */
	j = i;
	for (;;) {
		uint32_t home;

		j = (j + 1) & s->slot_mask;
		if (s->slots[j] == 0)
			break;
		home = s->conns[s->slots[j] - 1].hash & s->slot_mask;
		if (((j - home) & s->slot_mask) >= ((j - i) & s->slot_mask)) {
			s->slots[i] = s->slots[j];
			i = j;
		}
	}
	s->slots[i] = 0;
	c->state = MB_TCP_CLOSED;
	spans_release(c);
	if (c->accepted && s->ops.closed != NULL)
		s->ops.closed(s->ctx, s, c);
	c->app = NULL;
	src_del(s, c->t.raddr); /* after `closed`: it may still put units */
	s->freelist[s->nfree++] = idx;
}

/* ---- emitting ------------------------------------------------------------- */

static int
emit(struct mb_tcp_stack *s, struct mb_tcp_out *o)
{
	int rc = s->ops.emit(s->ctx, o);

	if (rc < 0) {
		s->cnt.tx_fail++;
		return rc;
	}
	s->cnt.tx_segs++;
	s->cnt.tx_bytes += o->len;
	return 0;
}

static void
out_init(const struct mb_tcp_stack *s, const struct mb_tcp_conn *c, struct mb_tcp_out *o,
	 uint8_t flags, uint64_t off)
{
	memset(o, 0, sizeof(*o));
	o->conn = (struct mb_tcp_conn *)(uintptr_t)c;
	o->t = c->t;
	o->flags = flags;
	o->seq = seq_of(c, off);
	o->ack = c->rcv_nxt;
	o->win = (uint16_t)min32(c->rcv_wnd >> c->rcv_wscale, 65535);
	if (c->ts_ok) {
		o->opt_ts = true;
		o->tsval = now_ms(s);
		o->tsecr = c->ts_recent;
	}
}

static void
send_synack(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_tcp_out o;

	out_init(s, c, &o, MB_TCP_SYN | MB_TCP_ACK, 0);
	o.seq = c->iss;
	o.opt_mss = true;
	o.mss = s->p.mss;
	o.opt_ws = c->ws_ok;
	o.wscale = c->rcv_wscale;
	o.opt_sackok = c->sack_ok;
	(void)emit(s, &o);
}

static void
send_ack(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_tcp_out o;

	out_init(s, c, &o, MB_TCP_ACK, c->nxt);
	(void)emit(s, &o);
	c->ack_now = 0;
}

/* RST for a segment that has no connection (RFC 9293 §3.10.7.1). */
static void
send_rst_for(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, const struct mb_tcp_seg *g)
{
	struct mb_tcp_out o;

	if (g->flags & MB_TCP_RST)
		return;
	memset(&o, 0, sizeof(o));
	o.t = *t;
	if (g->flags & MB_TCP_ACK) {
		o.flags = MB_TCP_RST;
		o.seq = g->ack;
	} else {
		o.flags = MB_TCP_RST | MB_TCP_ACK;
		o.ack = g->seq + g->plen + !!(g->flags & MB_TCP_SYN) + !!(g->flags & MB_TCP_FIN);
	}
	if (emit(s, &o) == 0)
		s->cnt.conn_reset_tx++;
}

static int
span_find(const struct mb_tcp_conn *c, uint64_t off)
{
	for (unsigned k = 0; k < c->nspans; k++) {
		unsigned i = (c->span_head + k) % MB_TCP_SPANS;

		if (off >= c->span[i].start && off < c->span[i].start + c->span[i].len)
			return (int)i;
	}
	return -1;
}

/* Send up to maxlen bytes at stream offset off, cut at the span end and at
 * the next SACKed range.  Returns the payload length sent (0 on failure). */
static uint32_t
send_data(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t off, uint32_t maxlen)
{
	struct mb_tcp_out o;
	int i = span_find(c, off);
	uint64_t rem;
	uint32_t len;

	if (i < 0)
		return 0;
	rem = c->span[i].start + c->span[i].len - off;
	len = (uint32_t)(rem < maxlen ? rem : maxlen);
	for (unsigned k = 0; k < c->nsb; k++)
		if (c->sb[k].l > off && c->sb[k].l - off < len)
			len = (uint32_t)(c->sb[k].l - off);
	out_init(s, c, &o, MB_TCP_ACK, off);
	o.img = c->span[i].img;
	o.off = c->span[i].off + (off - c->span[i].start);
	o.len = len;
	if (off + len >= c->end || off + len == c->span[i].start + c->span[i].len)
		o.flags |= MB_TCP_PSH;
	if (emit(s, &o) < 0)
		return 0;
	/* Hugepage cache LRU (owner: cache): one relaxed store per segment. */
	atomic_store_explicit(&o.img->last_served_ns, s->now, memory_order_relaxed);
	c->ack_now = 0;
	if (off < c->max) {
		s->cnt.rexmt_bytes += len;
		c->rtt_start_ns = 0; /* Karn: no sample across a retransmission */
	} else if (c->rtt_start_ns == 0 && !c->ts_ok) {
		c->rtt_start_ns = s->now;
		c->rtt_off = off;
	}
	return len;
}

static void
send_fin(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_tcp_out o;

	out_init(s, c, &o, MB_TCP_FIN | MB_TCP_ACK, c->end);
	if (emit(s, &o) == 0)
		c->ack_now = 0;
}

static inline bool
sacked(const struct mb_tcp_conn *c, uint64_t off, uint64_t *ret_r)
{
	for (unsigned k = 0; k < c->nsb; k++)
		if (off >= c->sb[k].l && off < c->sb[k].r) {
			*ret_r = c->sb[k].r;
			return true;
		}
	return false;
}

/* Retransmit the first hole at or after `from` (below max); returns bytes
 * sent, 0 if there was none. */
static uint32_t
rexmt_hole(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t from)
{
	uint64_t off = from < c->una ? c->una : from, r;
	uint32_t n;

	uint64_t lim = c->max;

	/* RFC 6675 IsLost: past the first hole, only bytes below the highest
	 * SACKed byte are presumed lost; the rest is still in flight */
	if (off > c->una && c->nsb > 0) {
		lim = c->una;
		for (unsigned k = 0; k < c->nsb; k++)
			if (c->sb[k].r > lim)
				lim = c->sb[k].r;
	} else if (off > c->una) {
		return 0; /* no SACK news: only the first segment is known lost */
	}
	while (off < lim && sacked(c, off, &r))
		off = r;
	if (off >= lim)
		return 0;
	if (off >= c->end) {
		send_fin(s, c);
		c->rexmt_nxt = c->end + 1;
		return 1;
	}
	n = send_data(s, c, off, c->mss);
	if (n > 0)
		c->rexmt_nxt = off + n;
	return n;
}

static void
arm_rexmt(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t rto = (uint64_t)c->rto_us * 1000ULL;

	c->t_rexmt = s->now + rto;
}

/* Send what the windows allow, the FIN when everything is queued, an ACK if
 * one is owed and nothing carried it; then set the retransmission or persist
 * timer. */
static void
output(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint32_t wnd;
	bool blocked = false;

	if (c->state == MB_TCP_CLOSED)
		return;
	if (c->state == MB_TCP_SYN_RCVD || c->state == MB_TCP_TIME_WAIT ||
	    c->state == MB_TCP_FIN_WAIT_2) {
		if (c->ack_now)
			send_ack(s, c);
		timer_update(s, c);
		return;
	}
	wnd = min32(c->cwnd, c->snd_wnd);
	for (;;) {
		uint64_t inflight = c->nxt - c->una;
		uint32_t n, room;

		if (c->nxt < c->end) {
			if (inflight >= wnd)
				break;
			room = (uint32_t)(wnd - inflight);
			/* sender-side silly window avoidance: no runt while data is in
			 * flight unless it finishes a span */
			if (room < c->mss && inflight > 0 && c->end - c->nxt > room)
				break;
			n = send_data(s, c, c->nxt, min32(room, c->mss));
			if (n == 0) {
				blocked = true;
				break;
			}
			c->nxt += n;
			if (c->nxt > c->max)
				c->max = c->nxt;
			continue;
		}
		if (c->fin_queued && c->nxt == c->end) {
			send_fin(s, c);
			c->nxt = c->end + 1;
			if (c->nxt > c->max)
				c->max = c->nxt;
			if (c->state == MB_TCP_ESTABLISHED)
				c->state = MB_TCP_FIN_WAIT_1;
			else if (c->state == MB_TCP_CLOSE_WAIT)
				c->state = MB_TCP_LAST_ACK;
		}
		break;
	}
	if (c->ack_now)
		send_ack(s, c);

	/* timers: persist while the peer's window is shut and we have something
	 * to say; otherwise RTO while anything is unacknowledged */
	if (c->snd_wnd == 0 && (c->una < c->end || (c->fin_queued && c->max <= c->end))) {
		if (!c->persist) {
			c->persist = 1;
			arm_rexmt(s, c);
		}
	} else if (c->max > c->una) {
		if (c->persist || c->t_rexmt == 0) {
			c->persist = 0;
			arm_rexmt(s, c);
		}
	} else {
		/* the glue's TX queue was full with nothing of ours in flight:
		 * no ACK will come to restart us, so retry shortly */
		c->persist = 0;
		c->t_rexmt = blocked ? s->now + TX_RETRY_NS : 0;
	}
	timer_update(s, c);
}

static void
maybe_output(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (s->depth == 0)
		output(s, c);
}

/* ---- application side ------------------------------------------------------ */

int
mb_tcp_send(struct mb_tcp_stack *s, struct mb_tcp_conn *c, struct mb_image *img, uint64_t off,
	    uint64_t len)
{
	unsigned i;

	if (c->state != MB_TCP_ESTABLISHED && c->state != MB_TCP_CLOSE_WAIT)
		return -EPIPE;
	if (c->fin_queued)
		return -EPIPE;
	if (off > img->size || len > img->size - off)
		return -EINVAL;
	if (c->nspans >= MB_TCP_SPANS)
		return -ENOSPC;
	if (len == 0) {
		mb_image_unref(img);
		return 0;
	}
	i = (c->span_head + c->nspans) % MB_TCP_SPANS;
	c->span[i].img = img;
	c->span[i].off = off;
	c->span[i].len = len;
	c->span[i].start = c->end;
	c->end += len;
	c->nspans++;
	maybe_output(s, c);
	return 0;
}

int
mb_tcp_close(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (c->state != MB_TCP_ESTABLISHED && c->state != MB_TCP_CLOSE_WAIT)
		return -EPIPE;
	if (c->fin_queued)
		return -EPIPE;
	c->fin_queued = 1;
	maybe_output(s, c);
	return 0;
}

void
mb_tcp_abort(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_tcp_out o;

	if (c->state == MB_TCP_CLOSED)
		return;
	out_init(s, c, &o, MB_TCP_RST | MB_TCP_ACK, c->nxt);
	if (c->state == MB_TCP_SYN_RCVD)
		o.seq = c->iss + 1;
	if (emit(s, &o) == 0)
		s->cnt.conn_reset_tx++;
	conn_free(s, c);
}

/* ---- RTT and congestion ---------------------------------------------------- */

static void
rtt_sample(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t r_us)
{
	uint32_t r = r_us > 60000000 ? 60000000 : (uint32_t)(r_us ? r_us : 1);
	uint64_t rto;

	if (c->srtt_us == 0) {
		c->srtt_us = r;
		c->rttvar_us = r / 2;
	} else {
		uint32_t delta = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;

		c->rttvar_us = (3 * c->rttvar_us + delta) / 4;
		c->srtt_us = (7 * (uint64_t)c->srtt_us + r) / 8;
	}
	rto = (uint64_t)c->srtt_us + max32(RTO_G_US, 4 * c->rttvar_us);
	if (rto < s->p.rto_min_us)
		rto = s->p.rto_min_us;
	if (rto > s->p.rto_max_us)
		rto = s->p.rto_max_us;
	c->rto_us = (uint32_t)rto;
}

static uint32_t
flight_half(const struct mb_tcp_conn *c)
{
	uint64_t f = c->max - c->una;

	return max32((uint32_t)(f / 2 > UINT32_MAX ? UINT32_MAX : f / 2), 2u * c->mss);
}

/* Merge SACK blocks from the peer into the scoreboard (stream offsets,
 * clipped to (una, max]).  Keeps the highest MB_TCP_SCOREBOARD ranges. */
static void
sack_update(struct mb_tcp_conn *c, const struct mb_tcp_seg *g)
{
	for (unsigned b = 0; b < g->nsack; b++) {
		int32_t dl = (int32_t)(g->sack[b].left - seq_of(c, c->una));
		int32_t dr = (int32_t)(g->sack[b].right - seq_of(c, c->una));
		uint64_t l, r;
		unsigned k;

		if (dr <= 0 || (uint64_t)dr > c->max - c->una)
			continue; /* D-SACK, old, or beyond what we sent */
		l = c->una + (dl < 0 ? 0 : (uint64_t)dl);
		r = c->una + (uint64_t)dr;
		/* merge with overlapping entries */
		for (k = 0; k < c->nsb;) {
			if (c->sb[k].r >= l && c->sb[k].l <= r) {
				if (c->sb[k].l < l)
					l = c->sb[k].l;
				if (c->sb[k].r > r)
					r = c->sb[k].r;
				c->sb[k] = c->sb[--c->nsb];
			} else {
				k++;
			}
		}
		if (c->nsb < MB_TCP_SCOREBOARD) {
			c->sb[c->nsb].l = l;
			c->sb[c->nsb].r = r;
			c->nsb++;
		} else {
			unsigned lo = 0;

			for (k = 1; k < c->nsb; k++)
				if (c->sb[k].l < c->sb[lo].l)
					lo = k;
			if (c->sb[lo].l < l) {
				c->sb[lo].l = l;
				c->sb[lo].r = r;
			}
		}
	}
}

static void
sack_prune(struct mb_tcp_conn *c)
{
	for (unsigned k = 0; k < c->nsb;) {
		if (c->sb[k].r <= c->una) {
			c->sb[k] = c->sb[--c->nsb];
			continue;
		}
		if (c->sb[k].l < c->una)
			c->sb[k].l = c->una;
		k++;
	}
}

static uint64_t
sacked_bytes(const struct mb_tcp_conn *c)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < c->nsb; k++)
		n += c->sb[k].r - c->sb[k].l;
	return n;
}

static void
enter_recovery(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	c->ssthresh = flight_half(c);
	c->recover = c->max;
	c->in_recovery = 1;
	c->rexmt_nxt = c->una;
	s->cnt.rexmt_fast++;
	(void)rexmt_hole(s, c, c->una);
	cwnd_set(c, (uint64_t)c->ssthresh + 3u * c->mss);
	arm_rexmt(s, c);
}

/* Process the acknowledgement field of an acceptable segment.  Returns false
 * if the segment must be dropped. */
static bool
ack_input(struct mb_tcp_stack *s, struct mb_tcp_conn *c, const struct mb_tcp_seg *g)
{
	int32_t d = (int32_t)(g->ack - seq_of(c, c->una));
	uint32_t new_wnd = (uint32_t)g->win << c->snd_wscale;
	uint32_t old_wnd = c->snd_wnd;
	bool wnd_same = new_wnd == old_wnd;
	bool sack_news = false; /* this ACK SACKed bytes not SACKed before */
	unsigned freed = 0;

	if (d > 0 && (uint64_t)d > c->max - c->una) {
		s->cnt.drop_ack++;
		c->ack_now = 1;
		return false;
	}
	/* window update (RFC 9293 §3.10.7.4) */
	if (d >= 0 && (seq_lt(c->snd_wl1, g->seq) ||
		       (c->snd_wl1 == g->seq && seq_leq(c->snd_wl2, g->ack)))) {
		if (c->snd_wnd == 0 && new_wnd > 0)
			c->t_idle = s->now + s->p.idle_timeout_ns;
		c->snd_wnd = new_wnd;
		c->snd_wl1 = g->seq;
		c->snd_wl2 = g->ack;
	}
	if (c->sack_ok && g->nsack > 0) {
		uint64_t before = sacked_bytes(c);

		sack_update(c, g);
		sack_news = sacked_bytes(c) > before;
	}

	if (d > 0) {
		uint64_t acked = (uint64_t)d;

		c->t_idle = s->now + s->p.idle_timeout_ns;
		if (c->ts_ok && g->has_ts && g->tsecr != 0)
			rtt_sample(s, c, (uint64_t)(uint32_t)(now_ms(s) - g->tsecr) * 1000ULL);
		else if (c->rtt_start_ns != 0 && c->una + acked > c->rtt_off) {
			rtt_sample(s, c, (s->now - c->rtt_start_ns) / 1000ULL);
			c->rtt_start_ns = 0;
		}
		c->una += acked;
		c->nrexmt = 0;
		if (c->nxt < c->una)
			c->nxt = c->una;
		sack_prune(c);
		while (c->nspans > 0) {
			struct mb_tcp_span *sp = &c->span[c->span_head];

			if (sp->start + sp->len > c->una)
				break;
			atomic_fetch_add_explicit(&sp->img->bytes_served, sp->len,
						  memory_order_relaxed);
			mb_image_unref(sp->img);
			sp->img = NULL;
			c->span_head = (c->span_head + 1) % MB_TCP_SPANS;
			c->nspans--;
			freed++;
		}
		if (c->in_recovery) {
			if (c->una >= c->recover) {
				uint64_t fl = c->max - c->una;
				uint32_t fl32 = (uint32_t)(fl > UINT32_MAX ? UINT32_MAX : fl);

				cwnd_set(c, min32(c->ssthresh, fl32) + (uint64_t)c->mss);
				c->in_recovery = 0;
				c->dupacks = 0;
			} else {
				/* partial ACK (RFC 6582 §3.2 step 5) */
				(void)rexmt_hole(s, c, c->una);
				cwnd_set(c, (c->cwnd > acked ? c->cwnd - acked : 0) + c->mss);
				arm_rexmt(s, c);
			}
		} else {
			c->dupacks = 0;
			/* byte counting (RFC 3465, L = 2 SMSS in slow start); in
			 * congestion avoidance a stretch ACK (GRO/LRO at the
			 * receiver) grows the window by the bytes it covers, not
			 * by one ACK's worth */
			if (c->cwnd < c->ssthresh) {
				cwnd_add(c, acked < 2u * c->mss ? acked : 2u * c->mss);
			} else {
				uint64_t inc = (uint64_t)c->mss * acked / c->cwnd;

				cwnd_add(c, inc > 0 ? inc : 1);
			}
		}
		c->t_rexmt = c->max > c->una ? s->now + (uint64_t)c->rto_us * 1000ULL : 0;
		c->persist = 0;
		if (freed && s->ops.sent != NULL) {
			s->ops.sent(s->ctx, s, c);
			if (c->state == MB_TCP_CLOSED)
				return false;
		}
	} else if (d == 0 && g->plen == 0 && !(g->flags & (MB_TCP_SYN | MB_TCP_FIN)) &&
		   (c->sack_ok && g->nsack > 0 ? sack_news : wnd_same || new_wnd > old_wnd) &&
		   c->max > c->una) {
		/* duplicate ACK (RFC 5681 §2), except that a window that grew
		 * does not disqualify it (receivers that autotune their buffer,
		 * Linux, open it on nearly every ACK); with SACK, only an ACK
		 * that SACKs new bytes counts (RFC 6675 §2): a D-SACK for a
		 * duplicate we sent must not trigger another retransmission */
		c->dupacks = c->dupacks < 255 ? c->dupacks + 1 : 255;
		if (!c->in_recovery) {
			bool sack_loss = c->sack_ok && sacked_bytes(c) >= 3u * c->mss;
			/* early retransmit (RFC 5827): with fewer than four segments
			 * out and nothing new to send, three dup ACKs never come */
			uint64_t segs = (c->max - c->una + c->mss - 1) / c->mss;
			unsigned thresh = 3;

			if (segs < 4 && c->nxt >= c->end)
				thresh = segs > 1 ? (unsigned)segs - 1 : 1;
			if ((c->dupacks >= thresh || sack_loss) && c->una >= c->recover)
				enter_recovery(s, c);
		} else if (c->sack_ok && rexmt_hole(s, c, c->rexmt_nxt) > 0) {
			/* a hole went out in place of inflation */
		} else {
			cwnd_add(c, c->mss); /* inflation (RFC 6582 §3.2 step 4) */
		}
	}
	return true;
}

/* ---- input ------------------------------------------------------------------ */

static uint32_t
make_iss(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t)
{
	uint8_t k[20];

	memcpy(k, t, 12);
	memcpy(k + 12, &s->now, 8);
	return (uint32_t)mb_tcp_siphash(s->p.secret, k, sizeof(k));
}

static uint32_t
cookie_hash(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, uint32_t irs, uint32_t count,
	    unsigned mi)
{
	uint8_t k[21];

	memcpy(k, &t->laddr, 4);
	memcpy(k + 4, &t->raddr, 4);
	memcpy(k + 8, &t->lport, 2);
	memcpy(k + 10, &t->rport, 2);
	memcpy(k + 12, &irs, 4);
	memcpy(k + 16, &count, 4);
	k[20] = (uint8_t)(0xc0 | mi); /* the MSS index is authenticated too */
	return (uint32_t)mb_tcp_siphash(s->p.secret, k, sizeof(k)) & 0xffffff;
}

/* SYN-ACK without state: ISS = hash24 | count5 | mss3; window scale and
 * SACK-permitted ride in the low 5 bits of our timestamp when the peer uses
 * timestamps (otherwise the connection gets neither). */
static void
send_cookie(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, const struct mb_tcp_seg *g)
{
	struct mb_tcp_out o;
	uint32_t count = (uint32_t)(s->now / COOKIE_PERIOD_NS);
	uint16_t pmss = g->has_mss ? g->mss : 536;
	unsigned mi = 0;

	for (unsigned i = 0; i < 8; i++)
		if (cookie_mss[i] <= pmss)
			mi = i;
	memset(&o, 0, sizeof(o));
	o.t = *t;
	o.flags = MB_TCP_SYN | MB_TCP_ACK;
	o.seq = cookie_hash(s, t, g->seq, count, mi) << 8 | (count & 0x1f) << 3 | mi;
	o.ack = g->seq + 1;
	o.win = (uint16_t)min32(s->p.rcv_wnd, 65535);
	o.opt_mss = true;
	o.mss = s->p.mss;
	if (g->has_ts) {
		o.opt_ts = true;
		o.tsval = (now_ms(s) & ~0x1fu) | (g->has_ws ? g->wscale : 0xf) |
			  (g->sack_ok ? 0x10 : 0);
		o.tsecr = g->tsval;
		o.opt_ws = g->has_ws;
		o.wscale = 0;
		o.opt_sackok = g->sack_ok;
	}
	if (emit(s, &o) == 0)
		s->cnt.syn_cookies_sent++;
}

static void
conn_setup(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint32_t irs, uint32_t iss,
	   uint16_t pmss, int ws, bool sack_ok, bool ts, uint32_t tsval)
{
	c->irs = irs;
	c->rcv_nxt = irs + 1;
	c->iss = iss;
	c->snd_wscale = ws >= 0 ? (uint8_t)ws : 0;
	c->rcv_wscale = 0;
	c->sack_ok = sack_ok;
	c->ts_ok = ts;
	c->ts_recent = tsval;
	/* The timestamp option takes 12 bytes of every segment.  Subtract it
	 * without wrapping (a peer may announce an MSS of 1), then floor at
	 * MB_TCP_MSS_MIN; mb_tcp_stack_new keeps our own MSS above floor +
	 * options, so the result never exceeds what our MTU carries. */
	{
		uint32_t opt = ts ? 12 : 0, m = min32(pmss, s->p.mss);

		m = m > opt ? m - opt : 0;
		c->mss = (uint16_t)max32(m, MB_TCP_MSS_MIN);
	}
	c->rcv_wnd = min32(s->p.rcv_wnd, 65535);
	cwnd_set(c, (uint64_t)s->p.initial_window * c->mss);
	c->ssthresh = UINT32_MAX;
	c->rto_us = s->p.rto_init_us;
	c->t_idle = s->now + s->p.idle_timeout_ns;
	c->snd_wl1 = irs;
	c->snd_wl2 = iss;
}

static bool
establish(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (c->state == MB_TCP_SYN_RCVD)
		s->nsynq--;
	c->state = MB_TCP_ESTABLISHED;
	c->t_rexmt = 0;
	c->nrexmt = 0;
	c->accepted = 1;
	s->cnt.conn_open++;
	if (s->ops.accept != NULL && s->ops.accept(s->ctx, s, c) < 0) {
		c->accepted = 0;
		mb_tcp_abort(s, c);
		return false;
	}
	return c->state != MB_TCP_CLOSED;
}

/* A segment for no connection: SYN opens, an ACK may carry a cookie. */
static struct mb_tcp_conn *
input_listen(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, const struct mb_tcp_seg *g)
{
	struct mb_tcp_conn *c;

	if (g->flags & MB_TCP_RST) {
		s->cnt.drop_noconn++;
		return NULL;
	}
	if (s->ops.listening != NULL && !s->ops.listening(s->ctx, t)) {
		s->cnt.drop_noconn++;
		send_rst_for(s, t, g);
		return NULL;
	}
	if ((g->flags & (MB_TCP_SYN | MB_TCP_ACK)) == MB_TCP_SYN) {
		if (s->nfree == 0) {
			s->cnt.drop_full++;
			return NULL;
		}
		if (src_full(s, t->raddr)) {
			s->cnt.drop_src_limit++;
			send_rst_for(s, t, g);
			return NULL;
		}
		if (s->p.syn_cookies_always || s->nsynq >= s->p.syn_backlog) {
			send_cookie(s, t, g);
			return NULL;
		}
		c = conn_alloc(s, t);
		if (c == NULL)
			return NULL;
		conn_setup(s, c, g->seq, make_iss(s, t), g->has_mss ? g->mss : 536,
			   g->has_ws ? g->wscale : -1, g->sack_ok, g->has_ts, g->tsval);
		c->state = MB_TCP_SYN_RCVD;
		c->snd_wnd = g->win; /* never scaled in a SYN */
		c->ws_ok = g->has_ws;
		s->nsynq++;
		s->cnt.syn_rcvd++;
		send_synack(s, c);
		arm_rexmt(s, c);
		timer_update(s, c);
		return NULL;
	}
	if ((g->flags & (MB_TCP_SYN | MB_TCP_ACK)) == MB_TCP_ACK) {
		uint32_t ck = g->ack - 1, irs = g->seq - 1;
		uint32_t count = (uint32_t)(s->now / COOKIE_PERIOD_NS);
		bool ok = false;
		int ws = -1;
		bool sack = false;

		for (uint32_t back = 0; back < 2 && !ok; back++) {
			uint32_t cn = count - back;

			ok = ((ck >> 3) & 0x1f) == (cn & 0x1f) &&
			     (ck >> 8) == cookie_hash(s, t, irs, cn, ck & 7);
		}
		if (!ok) {
			s->cnt.drop_cookie++;
			send_rst_for(s, t, g);
			return NULL;
		}
		if (g->has_ts) {
			unsigned w = g->tsecr & 0xf;

			ws = w == 0xf ? -1 : (int)w;
			sack = (g->tsecr & 0x10) != 0;
		}
		if (src_full(s, t->raddr)) {
			s->cnt.drop_src_limit++;
			send_rst_for(s, t, g);
			return NULL;
		}
		c = conn_alloc(s, t);
		if (c == NULL)
			return NULL;
		conn_setup(s, c, irs, ck, cookie_mss[ck & 7], ws, sack, g->has_ts, g->tsval);
		c->ws_ok = ws >= 0;
		c->snd_wnd = (uint32_t)g->win << c->snd_wscale;
		c->snd_wl1 = g->seq;
		c->snd_wl2 = g->ack;
		c->state = MB_TCP_SYN_RCVD; /* establish() moves it on */
		s->nsynq++;
		s->cnt.syn_cookies_ok++;
		if (!establish(s, c))
			return NULL;
		return c;
	}
	s->cnt.drop_noconn++;
	send_rst_for(s, t, g);
	return NULL;
}

static bool
seq_acceptable(const struct mb_tcp_conn *c, const struct mb_tcp_seg *g)
{
	uint32_t slen = g->plen + !!(g->flags & MB_TCP_SYN) + !!(g->flags & MB_TCP_FIN);
	uint32_t w = c->rcv_wnd;

	if (slen == 0) {
		if (w == 0)
			return g->seq == c->rcv_nxt;
		return seq_leq(c->rcv_nxt, g->seq) && seq_lt(g->seq, c->rcv_nxt + w);
	}
	if (w == 0)
		return false;
	return (seq_leq(c->rcv_nxt, g->seq) && seq_lt(g->seq, c->rcv_nxt + w)) ||
	       (seq_leq(c->rcv_nxt, g->seq + slen - 1) &&
		seq_lt(g->seq + slen - 1, c->rcv_nxt + w));
}

static void
to_time_wait(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	c->state = MB_TCP_TIME_WAIT;
	c->t_rexmt = 0;
	c->persist = 0;
	c->t_idle = 0;
	c->t_wait = s->now + s->p.timewait_ns;
	spans_release(c);
}

static void
input_conn(struct mb_tcp_stack *s, struct mb_tcp_conn *c, const struct mb_tcp_seg *g)
{
	uint32_t seq = g->seq, plen = g->plen;
	const uint8_t *data = g->payload;
	bool fin = g->flags & MB_TCP_FIN;

	if (c->state == MB_TCP_SYN_RCVD) {
		if (g->flags & MB_TCP_RST) {
			if (seq == c->rcv_nxt) {
				s->cnt.conn_reset_rx++;
				conn_free(s, c);
			} else {
				s->cnt.drop_seq++;
			}
			return;
		}
		if (g->flags & MB_TCP_SYN) {
			if (seq == c->irs)
				send_synack(s, c); /* our SYN-ACK was lost */
			else
				s->cnt.drop_seq++;
			return;
		}
		if (!(g->flags & MB_TCP_ACK) || g->ack != c->iss + 1) {
			s->cnt.drop_ack++;
			send_rst_for(s, &c->t, g);
			return;
		}
		c->snd_wnd = (uint32_t)g->win << c->snd_wscale;
		c->snd_wl1 = seq;
		c->snd_wl2 = g->ack;
		if (!establish(s, c))
			return;
	}

	/* RST (RFC 5961 §3): exact sequence resets, in-window challenges */
	if (g->flags & MB_TCP_RST) {
		if (c->state == MB_TCP_TIME_WAIT) {
			s->cnt.drop_seq++; /* RFC 1337 */
			return;
		}
		if (seq == c->rcv_nxt) {
			s->cnt.conn_reset_rx++;
			conn_free(s, c);
		} else if (seq_acceptable(c, g)) {
			s->cnt.challenge_acks++;
			send_ack(s, c);
		} else {
			s->cnt.drop_seq++;
		}
		return;
	}
	/* PAWS (RFC 7323 §5) */
	if (c->ts_ok && g->has_ts && (int32_t)(g->tsval - c->ts_recent) < 0) {
		s->cnt.drop_paws++;
		send_ack(s, c);
		return;
	}
	if (g->flags & MB_TCP_SYN) {
		if (c->state == MB_TCP_TIME_WAIT && seq_lt(c->rcv_nxt, seq)) {
			/* a new incarnation: the old one is done */
			struct mb_tcp_tuple t = c->t;

			s->cnt.conn_closed++;
			conn_free(s, c);
			(void)input_listen(s, &t, g);
			return;
		}
		s->cnt.challenge_acks++; /* RFC 5961 §4 */
		send_ack(s, c);
		return;
	}
	if (!seq_acceptable(c, g)) {
		s->cnt.drop_seq++;
		send_ack(s, c);
		return;
	}
	if (!(g->flags & MB_TCP_ACK)) {
		s->cnt.drop_flags++;
		return;
	}
	if (c->ts_ok && g->has_ts && seq_leq(seq, c->rcv_nxt))
		c->ts_recent = g->tsval;
	if (c->state == MB_TCP_TIME_WAIT) {
		/* retransmitted FIN or stray ACK: acknowledge, restart 2MSL */
		if (fin)
			c->t_wait = s->now + s->p.timewait_ns;
		send_ack(s, c);
		return;
	}
	if (!ack_input(s, c, g))
		goto out;

	/* our FIN acknowledged? */
	if (c->fin_queued && c->una > c->end) {
		switch (c->state) {
		case MB_TCP_FIN_WAIT_1:
			c->state = MB_TCP_FIN_WAIT_2;
			c->t_rexmt = 0;
			break;
		case MB_TCP_CLOSING:
			to_time_wait(s, c);
			break;
		case MB_TCP_LAST_ACK:
			s->cnt.conn_closed++;
			conn_free(s, c);
			return;
		default:
			break;
		}
	}

	/* trim to the window */
	if (seq_lt(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;

		if (skip >= plen) {
			data += plen;
			plen = 0;
		} else {
			data += skip;
			plen -= skip;
		}
		seq = c->rcv_nxt;
	}
	if (plen > c->rcv_wnd) {
		plen = c->rcv_wnd;
		fin = false;
	}
	if (plen > 0 || fin) {
		if (seq != c->rcv_nxt) {
			s->cnt.drop_ooo++;
			c->ack_now = 1;
			goto out;
		}
	}
	if (plen > 0) {
		if (c->state == MB_TCP_ESTABLISHED || c->state == MB_TCP_FIN_WAIT_1 ||
		    c->state == MB_TCP_FIN_WAIT_2) {
			uint32_t took = plen;

			if (s->ops.recv != NULL)
				took = s->ops.recv(s->ctx, s, c, data, plen);
			if (c->state == MB_TCP_CLOSED)
				return;
			if (took > plen)
				took = plen;
			c->rcv_nxt += took;
			c->t_idle = s->now + s->p.idle_timeout_ns;
			c->ack_now = 1;
			if (took < plen)
				fin = false;
		} else {
			c->ack_now = 1; /* data after the peer's FIN: ignored */
			fin = false;
		}
	}
	if (fin) {
		c->rcv_nxt++;
		c->ack_now = 1;
		switch (c->state) {
		case MB_TCP_ESTABLISHED:
			c->state = MB_TCP_CLOSE_WAIT;
			c->peer_fin = 1;
			if (s->ops.peer_fin != NULL)
				s->ops.peer_fin(s->ctx, s, c);
			if (c->state == MB_TCP_CLOSED)
				return;
			break;
		case MB_TCP_FIN_WAIT_1:
			c->state = MB_TCP_CLOSING;
			break;
		case MB_TCP_FIN_WAIT_2:
			to_time_wait(s, c);
			break;
		default:
			break;
		}
	}
out:
	output(s, c);
}

void
mb_tcp_input(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, const struct mb_tcp_seg *g,
	     uint64_t now)
{
	struct mb_tcp_conn *c;

	s->now = now;
	s->cnt.rx_segs++;
	s->depth++;
	c = mb_tcp_lookup(s, t);
	if (c == NULL) {
		c = input_listen(s, t, g);
		if (c != NULL) {
			/* the cookie ACK may carry data (and a FIN) */
			struct mb_tcp_seg g2 = *g;

			input_conn(s, c, &g2);
		}
	} else {
		input_conn(s, c, g);
	}
	s->depth--;
}

/* ---- timers ----------------------------------------------------------------- */

static void
rto_expire(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t rto;

	if (c->state == MB_TCP_SYN_RCVD) {
		if (++c->nrexmt > SYNACK_MAX_REXMT) {
			s->cnt.conn_timeout++;
			conn_free(s, c);
			return;
		}
		send_synack(s, c);
		c->rto_us = min32(c->rto_us * 2, s->p.rto_max_us);
		arm_rexmt(s, c);
		return;
	}
	if (c->persist) {
		/* zero-window probe: one byte past the window (RFC 9293 §3.8.6.1) */
		s->cnt.persist_probes++;
		if (c->una < c->end) {
			uint32_t n = send_data(s, c, c->una, 1);

			if (c->una + n > c->max)
				c->max = c->una + n;
		} else {
			send_ack(s, c);
		}
		c->rto_us = min32(c->rto_us * 2, s->p.rto_max_us);
		arm_rexmt(s, c);
		return;
	}
	if (c->max <= c->una) {
		/* nothing in flight: a retry after the glue refused a segment */
		c->t_rexmt = 0;
		output(s, c);
		return;
	}
	if (++c->nrexmt > s->p.max_rexmt) {
		s->cnt.conn_timeout++;
		mb_tcp_abort(s, c);
		return;
	}
	s->cnt.rexmt_rto++;
	if (c->nrexmt == 1)
		c->ssthresh = flight_half(c);
	c->cwnd = c->mss;
	c->recover = c->max;
	c->in_recovery = 0;
	c->dupacks = 0;
	c->nsb = 0; /* the receiver may have reneged (RFC 2018 §8) */
	c->nxt = c->una;
	c->rtt_start_ns = 0;
	rto = (uint64_t)c->rto_us * 2;
	c->rto_us = (uint32_t)(rto > s->p.rto_max_us ? s->p.rto_max_us : rto);
	c->t_rexmt = 0;
	output(s, c);
	if (c->state != MB_TCP_CLOSED && c->t_rexmt == 0 && c->max > c->una)
		arm_rexmt(s, c);
}

static void
conn_timer(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t now = s->now;

	if (c->t_wait != 0 && now >= c->t_wait) {
		s->cnt.conn_closed++;
		conn_free(s, c);
		return;
	}
	if (c->t_idle != 0 && now >= c->t_idle) {
		s->cnt.conn_idle++;
		mb_tcp_abort(s, c);
		return;
	}
	if (c->t_rexmt != 0 && now >= c->t_rexmt) {
		rto_expire(s, c);
		if (c->state == MB_TCP_CLOSED)
			return;
	}
	timer_update(s, c);
}

void
mb_tcp_timers(struct mb_tcp_stack *s, uint64_t now)
{
	uint64_t cur = now / WHEEL_TICK_NS;
	uint32_t n = 0;

	s->now = now;
	if (s->wheel_tick == 0)
		s->wheel_tick = cur > WHEEL_SLOTS ? cur - WHEEL_SLOTS : 0;
	s->depth++;
	while (s->wheel_tick <= cur && n < WHEEL_SLOTS) {
		uint32_t slot = s->wheel_tick & (WHEEL_SLOTS - 1);
		uint32_t i = s->wheel[slot];

		s->wheel_tick++;
		n++;
		while (i != 0) {
			struct mb_tcp_conn *c = &s->conns[i - 1];

			i = c->tw_next;
			if (c->timer_at > now)
				continue; /* a later revolution */
			timer_unlink(s, c);
			conn_timer(s, c);
		}
	}
	if (s->wheel_tick <= cur)
		s->wheel_tick = cur + 1; /* skipped a whole revolution: all slots done */
	s->depth--;
}

/* ---- lifecycle ---------------------------------------------------------------- */

struct mb_tcp_stack *
mb_tcp_stack_new(const struct mb_tcp_params *p, const struct mb_tcp_ops *ops, void *ctx)
{
	struct mb_tcp_stack *s;
	uint32_t nslots = 16;

	if (p->max_conns == 0 || p->max_conns > (1u << 24) || ops->emit == NULL ||
	    p->mss < MB_TCP_MSS_MIN + 12 || p->mss > MB_TCP_MSS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->p = *p;
	s->ops = *ops;
	s->ctx = ctx;
	while (nslots < 2 * p->max_conns)
		nslots <<= 1;
	s->slot_mask = nslots - 1;
	s->conns = aligned_alloc(64, sizeof(*s->conns) * p->max_conns);
	s->slots = calloc(nslots, sizeof(*s->slots));
	s->srcs = calloc(nslots, sizeof(*s->srcs));
	s->freelist = calloc(p->max_conns, sizeof(*s->freelist));
	if (s->conns == NULL || s->slots == NULL || s->srcs == NULL || s->freelist == NULL) {
		free(s->conns);
		free(s->slots);
		free(s->srcs);
		free(s->freelist);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	memset(s->conns, 0, sizeof(*s->conns) * p->max_conns);
	for (uint32_t i = 0; i < p->max_conns; i++)
		s->freelist[i] = p->max_conns - 1 - i;
	s->nfree = p->max_conns;
	return s;
}

void
mb_tcp_stack_free(struct mb_tcp_stack *s)
{
	if (s == NULL)
		return;
	s->depth++;
	for (uint32_t i = 0; i < s->p.max_conns; i++)
		if (s->conns[i].state != MB_TCP_CLOSED)
			conn_free(s, &s->conns[i]);
	free(s->conns);
	free(s->slots);
	free(s->srcs);
	free(s->freelist);
	free(s);
}

const struct mb_tcp_counters *
mb_tcp_stack_counters(const struct mb_tcp_stack *s)
{
	return &s->cnt;
}

uint32_t
mb_tcp_stack_nconns(const struct mb_tcp_stack *s)
{
	return s->p.max_conns - s->nfree;
}
