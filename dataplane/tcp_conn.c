/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP core's connection table and the stack's lifecycle (see tcp.h for
 * what the core does and does not implement).
 *
 * The table is an array of preallocated connections plus an open-addressing
 * index (linear probing, backward-shift delete) keyed by a SipHash of the
 * 4-tuple, so a flood of crafted tuples cannot build long probe chains.  A
 * second index of the same kind, keyed by the peer address, counts what each
 * source holds (connections in any state, application units such as HTTP
 * request buffers) for the per-source limits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_priv.h"

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

int
mb_tcp_cc_parse(const char *name)
{
	if (strcmp(name, "newreno") == 0)
		return MB_TCP_CC_NEWRENO;
	if (strcmp(name, "cubic") == 0)
		return MB_TCP_CC_CUBIC;
	return -1;
}

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
bool
tcp_src_full(const struct mb_tcp_stack *s, uint32_t addr)
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

struct mb_tcp_conn *
tcp_conn_alloc(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t)
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

void
tcp_spans_release(struct mb_tcp_conn *c)
{
	while (c->nspans > 0) {
		mb_sbuf_unref(c->span[c->span_head].buf);
		c->span[c->span_head].buf = NULL;
		c->span_head = (c->span_head + 1) % MB_TCP_SPANS;
		c->nspans--;
	}
}

/* Remove c from the table and give its slot back.  Runs `closed` if the
 * application saw the connection. */
void
tcp_conn_free(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint32_t idx = (uint32_t)(c - s->conns);
	uint32_t i, j;

	if (c->state == MB_TCP_CLOSED)
		return;
	if (c->state == MB_TCP_SYN_RCVD)
		s->nsynq--;
	tcp_timer_unlink(s, c);
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
	tcp_spans_release(c);
	if (c->accepted && s->ops.closed != NULL)
		s->ops.closed(s->ctx, s, c);
	c->app = NULL;
	src_del(s, c->t.raddr); /* after `closed`: it may still put units */
	s->freelist[s->nfree++] = idx;
}

struct mb_tcp_stack *
mb_tcp_stack_new(const struct mb_tcp_params *p, const struct mb_tcp_ops *ops, void *ctx)
{
	struct mb_tcp_stack *s;
	uint32_t nslots = 16;

	if (p->max_conns == 0 || p->max_conns > (1u << 24) || ops->emit == NULL ||
	    p->mss < MB_TCP_MSS_MIN + 12 || p->mss > MB_TCP_MSS_MAX || p->cc > MB_TCP_CC_CUBIC ||
	    p->tso_max > MB_TCP_TSO_MAX) {
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
			tcp_conn_free(s, &s->conns[i]);
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

/* The reloadable parameters: new connections start with the new initial
 * window; a shorter idle timeout pulls every live idle deadline in at once
 * (a longer one applies from each connection's next segment). */
void
mb_tcp_stack_set_params(struct mb_tcp_stack *s, uint32_t initial_window, uint64_t idle_timeout_ns,
			int cc)
{
	if (initial_window != 0)
		s->p.initial_window = initial_window;
	if (cc == MB_TCP_CC_NEWRENO || cc == MB_TCP_CC_CUBIC)
		s->p.cc = (uint8_t)cc;
	if (idle_timeout_ns == 0 || idle_timeout_ns == s->p.idle_timeout_ns)
		return;
	s->p.idle_timeout_ns = idle_timeout_ns;
	for (uint32_t i = 0; i < s->p.max_conns; i++) {
		struct mb_tcp_conn *c = &s->conns[i];

		if (c->state != MB_TCP_CLOSED && c->t_idle != 0 &&
		    c->t_idle > s->now + idle_timeout_ns) {
			c->t_idle = s->now + idle_timeout_ns;
			tcp_timer_update(s, c);
		}
	}
}

static bool
conn_uses(const struct mb_tcp_conn *c, const struct mb_sbuf *sb)
{
	for (unsigned k = 0; k < c->nspans; k++)
		if (c->span[(c->span_head + k) % MB_TCP_SPANS].buf == sb)
			return true;
	return false;
}

unsigned
mb_tcp_abort_buf(struct mb_tcp_stack *s, const struct mb_sbuf *sb)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < s->p.max_conns; i++) {
		struct mb_tcp_conn *c = &s->conns[i];

		if (c->state != MB_TCP_CLOSED && conn_uses(c, sb)) {
			mb_tcp_abort(s, c);
			n++;
		}
	}
	s->cnt.conn_withdrawn += n;
	return n;
}
