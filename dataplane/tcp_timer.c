/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP core's timers: a hashed wheel of 1 ms ticks holding each
 * connection in at most one slot, under the earliest of its deadlines
 * (retransmission or persist, idle, TIME_WAIT).  A later deadline leaves it
 * where it is and the wheel re-files it when the early slot comes round, so
 * refreshing the idle timer on every segment costs nothing.  What expires:
 * tail loss probes (tcp_arm_pto), RTO (with backoff and the congestion
 * response of tcp_cc.c), zero-window probes, SYN-ACK retries, idle
 * connections, TIME_WAIT.
 */
#include <stdint.h>

#include "tcp_priv.h"

void
tcp_timer_unlink(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
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

void
tcp_timer_update(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t d = conn_deadline(c);

	if (d == 0) {
		tcp_timer_unlink(s, c);
		return;
	}
	if (c->timer_at != 0 && c->timer_at <= d)
		return; /* fires early and is re-filed then */
	tcp_timer_unlink(s, c);
	timer_link(s, c, d);
}

static void
rto_expire(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t rto;

	if (c->state == MB_TCP_SYN_RCVD) {
		if (++c->nrexmt > SYNACK_MAX_REXMT) {
			s->cnt.conn_timeout++;
			tcp_conn_free(s, c);
			return;
		}
		tcp_send_synack(s, c);
		c->rto_us = min32(c->rto_us * 2, s->p.rto_max_us);
		tcp_arm_rexmt(s, c);
		return;
	}
	if (c->persist) {
		/* zero-window probe: one byte past the window (RFC 9293 §3.8.6.1) */
		s->cnt.persist_probes++;
		if (c->una < c->end) {
			uint32_t n = tcp_send_data(s, c, c->una, 1);

			if (c->una + n > c->max)
				c->max = c->una + n;
		} else {
			tcp_send_ack(s, c);
		}
		c->rto_us = min32(c->rto_us * 2, s->p.rto_max_us);
		tcp_arm_rexmt(s, c);
		return;
	}
	if (c->max <= c->una) {
		/* nothing in flight: a retry after the glue refused a segment */
		c->t_rexmt = 0;
		c->tlp_armed = 0;
		tcp_output(s, c);
		return;
	}
	if (c->tlp_armed && c->nrexmt == 0) {
		/* the tail loss probe (tcp_arm_pto), then the RTO behind it */
		c->tlp_armed = 0;
		if (tcp_send_probe(s, c))
			s->cnt.tlp_probes++;
		tcp_arm_rexmt(s, c);
		return;
	}
	if (++c->nrexmt > s->p.max_rexmt) {
		s->cnt.conn_timeout++;
		mb_tcp_abort(s, c);
		return;
	}
	s->cnt.rexmt_rto++;
	tcp_cc_on_rto(c);
	c->nxt = c->una;
	c->rtt_start_ns = 0;
	rto = (uint64_t)c->rto_us * 2;
	c->rto_us = (uint32_t)(rto > s->p.rto_max_us ? s->p.rto_max_us : rto);
	c->t_rexmt = 0;
	tcp_output(s, c);
	if (c->state != MB_TCP_CLOSED && c->t_rexmt == 0 && c->max > c->una)
		tcp_arm_rexmt(s, c);
}

static void
conn_timer(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t now = s->now;

	if (c->t_wait != 0 && now >= c->t_wait) {
		s->cnt.conn_closed++;
		tcp_conn_free(s, c);
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
	tcp_timer_update(s, c);
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
			tcp_timer_unlink(s, c);
			conn_timer(s, c);
		}
	}
	if (s->wheel_tick <= cur)
		s->wheel_tick = cur + 1; /* skipped a whole revolution: all slots done */
	s->depth--;
}
