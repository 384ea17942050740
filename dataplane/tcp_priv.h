/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of the TCP core, shared by its parts: the connection table
 * and stack lifecycle (tcp_conn.c), segment input and the state machine
 * (tcp_input.c), segment output and retransmission (tcp_output.c), the timer
 * wheel (tcp_timer.c) and RTT, SACK and congestion control (tcp_cc.c).  Not
 * for the core's users: they have tcp.h.
 *
 * Deferred output: while the core is inside mb_tcp_input or mb_tcp_timers
 * (depth > 0) the application's send/close calls only queue; the caller of
 * the core's entry point runs tcp_output once the segment is processed, so
 * a reply carries the acknowledgement of the request it answers.
 */
#ifndef _MB_TCP_PRIV_H_
#define _MB_TCP_PRIV_H_

#include <stdbool.h>
#include <stdint.h>

#include "tcp.h"

#define WHEEL_BITS 12
#define WHEEL_SLOTS (1u << WHEEL_BITS)
#define WHEEL_TICK_NS 1000000ULL /* 1 ms: a revolution is about 4 s */
#define SYNACK_MAX_REXMT 4
#define COOKIE_PERIOD_NS (64ULL * 1000000000ULL)
#define RTO_G_US 1000u
#define TX_RETRY_NS 1000000ULL /* glue TX queue full, nothing in flight */
#define MB_TCP_CK_LINKS 64     /* cookie budget buckets by link neighbour */
#define PTO_MIN_US 10000u      /* tail loss probe: at least 10 ms after the last ACK */
#define PTO_DELACK_US 200000u  /* a lone segment may wait for the peer's delayed ACK */

/* A token bucket of cookie SYN-ACKs: tokens, when last refilled. */
struct ck_bucket {
	uint32_t tokens;
	uint64_t refill_ns;
};

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
	/* the SYN cookie budget (params): all links', and each link
	 * bucket's share (mb_tcp_seg.link modulo MB_TCP_CK_LINKS) */
	struct ck_bucket ck_all;
	struct ck_bucket ck_link[MB_TCP_CK_LINKS];
	uint32_t wheel[WHEEL_SLOTS]; /* list heads, conn index + 1 */
	uint64_t wheel_tick;	     /* next tick to process */
	uint64_t now;
	int depth; /* inside input/timers: defer output */
	struct mb_tcp_counters cnt;
};

/* ---- sequence and window arithmetic ---------------------------------------- */

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

/* ---- connection table (tcp_conn.c) ------------------------------------------ */

/* May addr open one more connection (tcp.max-connections-per-source)? */
bool tcp_src_full(const struct mb_tcp_stack *s, uint32_t addr);
/* A free connection filed under tuple t (zeroed, CLOSED), or NULL (counted
 * drop_full). */
struct mb_tcp_conn *tcp_conn_alloc(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t);
/* Remove c from the table and give its slot back; runs `closed` if the
 * application saw the connection.  Nothing for a CLOSED one. */
void tcp_conn_free(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
/* Drop every queued span's buffer reference. */
void tcp_spans_release(struct mb_tcp_conn *c);

/* ---- timers (tcp_timer.c) ---------------------------------------------------- */

void tcp_timer_unlink(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
/* File c under the earliest of its deadlines (or none). */
void tcp_timer_update(struct mb_tcp_stack *s, struct mb_tcp_conn *c);

/* ---- output (tcp_output.c) --------------------------------------------------- */

/* Hand one segment to the glue, counted.  0 or <0 (tx_fail). */
int tcp_emit(struct mb_tcp_stack *s, struct mb_tcp_out *o);
/* Header fields of a segment of c at stream offset off. */
void tcp_out_init(const struct mb_tcp_stack *s, const struct mb_tcp_conn *c,
		  struct mb_tcp_out *o, uint8_t flags, uint64_t off);
void tcp_send_synack(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
void tcp_send_ack(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
/* RST for a segment that has no connection (RFC 9293 §3.10.7.1). */
void tcp_send_rst_for(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t,
		      const struct mb_tcp_seg *g);
/* Up to maxlen bytes at stream offset off; payload bytes sent (0: none). */
uint32_t tcp_send_data(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t off,
		       uint32_t maxlen);
/* How much a retransmission at stream offset off (una <= off < the bytes
 * sent) may carry: an MSS, and only bytes that were sent (a runt goes out
 * as it was, not grown past what the peer's window took). */
static inline uint32_t
tcp_rexmt_len(const struct mb_tcp_conn *c, uint64_t off)
{
	uint64_t hi = c->max < c->end ? c->max : c->end;

	return hi > off ? (uint32_t)(hi - off < c->mss ? hi - off : c->mss) : 0;
}
/* Resend the first hole at or after `from`; bytes sent, 0 if none. */
uint32_t tcp_rexmt_hole(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t from);
/* The retransmission timer at now + RTO (not a probe). */
void tcp_arm_rexmt(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
/* With data in flight: the tail loss probe's timer when the connection may
 * have one, else the RTO (tcp_output.c). */
void tcp_arm_pto(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
/* Send the tail loss probe (the last segment sent) and open its episode
 * (tlp_out, tlp_lo, tlp_end); true if it went out. */
bool tcp_send_probe(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
/* Send what the windows allow, FIN, owed ACK; set the RTO/persist timer. */
void tcp_output(struct mb_tcp_stack *s, struct mb_tcp_conn *c);

/* ---- RTT, SACK and congestion control (tcp_cc.c) ------------------------------ */

/* The new ssthresh on a loss: the flight times beta (NewReno 0.5, CUBIC
 * 0.7), at least two segments. */
uint32_t tcp_cc_ssthresh(const struct mb_tcp_conn *c);
/* The congestion response to a retransmission timeout. */
void tcp_cc_on_rto(struct mb_tcp_conn *c);
/* Process the acknowledgement field of an acceptable segment (window,
 * SACK, RTT, span release, NewReno).  false if the segment must be
 * dropped (or the connection went away in a callback). */
bool tcp_ack_input(struct mb_tcp_stack *s, struct mb_tcp_conn *c, const struct mb_tcp_seg *g);

#endif /* _MB_TCP_PRIV_H_ */
