/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RTT estimation (RFC 6298), the SACK scoreboard, and congestion control:
 * slow start with byte counting (RFC 3465), SACK-steered loss recovery
 * (RFC 6582's NewReno recovery, RFC 6675's IsLost rule and NextSeg's
 * HighRxt, rexmt_nxt: a hole is resent once), early retransmit
 * (RFC 5827), the loss detection of the tail loss probe (RFC 8985 section
 * 7.4, below), and one of two congestion avoidance and reduction rules per
 * connection: NewReno (RFC 5681: +1 MSS per window, ssthresh = flight / 2)
 * or CUBIC (RFC 9438, below).  tcp_ack_input is where an acceptable
 * segment's acknowledgement is processed; tcp_cc_on_rto is the response to
 * a retransmission timeout.
 *
 * CUBIC, as RFC 9438 gives it (section numbers below are its own): on a
 * congestion event ssthresh = flight x beta_cubic (0.7) and W_max = the
 * window before the cut, lowered to cwnd x (1 + beta) / 2 when it is below
 * the previous W_max (fast convergence, 4.7); the first RTO of a series sets
 * ssthresh the same way and the next stage grows from K = 0 with W_max =
 * its starting window (4.8).  A congestion avoidance stage starts at the
 * first ACK past ssthresh (t = 0, cwnd_epoch = cwnd, K = cbrt((W_max -
 * cwnd_epoch) / C), W_est = cwnd_epoch); each ACK of new data then moves
 * cwnd toward target = W_cubic(t + RTT) = C (t + RTT - K)^3 + W_max, clamped
 * to [cwnd, 1.5 cwnd], by (target - cwnd) / cwnd per segment acknowledged
 * (4.2, 4.4, 4.5), unless W_cubic(t) is below the Reno-friendly estimate
 * W_est, grown by alpha_cubic per window (1 once it passes the window of
 * the last reduction), whose value cwnd takes then (4.3).  A stage that
 * runs out of data (everything acknowledged) ends; the next one restarts t.
 * Windows are kept in bytes and converted to segments of the connection's
 * MSS for the formulas; the arithmetic is double precision.  Not done: the
 * undo of spurious reductions (4.9), HyStart++.
 *
 * The tail loss probe's episode (RFC 8985 7.4): a probe (tcp_output.c) is a
 * retransmission of the flight's last segment, so when it fills a hole its
 * ACK looks like any other and the loss would go unanswered.  The episode
 * remembers the probe's range and SND.NXT when it went out (tlp_end) and
 * ends on the first ACK that tells: a D-SACK of the probe (RFC 2883: the
 * original and the probe both arrived, only ACKs were lost: no loss), a
 * duplicate ACK at tlp_end that says nothing new (the same from a receiver
 * without D-SACK: no loss), or an ACK beyond tlp_end with neither before it
 * (the probe repaired a loss: ssthresh and cwnd are cut as on entering fast
 * recovery, from the flight before that ACK, counted tlp_recoveries).  An
 * ACK of exactly tlp_end is not enough: the probe's D-SACK may still follow
 * it.  An RTO or fast recovery ends the episode (they have their own
 * response), and no other probe goes out while it is open.
 *
 * A lost retransmission, RACK's way (RFC 8985 section 6.2) for the one
 * retransmission that matters most: in SACK recovery the connection
 * remembers when the first hole (at una) was last resent and where what
 * went out after it starts (holes resent after it, new data).  When an ACK
 * SACKs some of that and RTT + RTT / 4 (RACK's reordering window) has
 * passed since, the hole's retransmission is presumed lost and goes out
 * again (rexmt_lost), instead of waiting for the RTO and slow start from
 * one segment.  Not the rest of RACK: it needs every segment's transmit
 * time, and a connection here keeps no per-segment state (it sends from
 * the image and fits 512 bytes), so other holes are found by the SACK
 * rules above and time-based detection has no timer of its own: an ACK
 * that comes too soon is taken for reordering, and a later ACK or the RTO
 * decides.
 */
#include <math.h>
#include <stdint.h>

#include "tcp_priv.h"

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

/* RFC 9438 4.1.1: C in segments per second cubed, beta_cubic; 4.3:
 * alpha_cubic = 3 (1 - beta) / (1 + beta). */
#define CUBIC_C 0.4
#define CUBIC_BETA 0.7
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA))
#define FRAC 65536.0 /* w_est and cwnd_frac: 1/65536 byte */

uint32_t
tcp_cc_ssthresh(const struct mb_tcp_conn *c)
{
	uint64_t f = c->max - c->una;
	uint64_t v = c->cc_cubic ? f * 7 / 10 : f / 2;

	return max32((uint32_t)(v > UINT32_MAX ? UINT32_MAX : v), 2u * c->mss);
}

/* CUBIC at a congestion event, before the window is cut: W_max with fast
 * convergence (4.7), and the window alpha_cubic compares W_est with. */
static void
cubic_reduce(struct mb_tcp_conn *c)
{
	c->cubic.cwnd_prior = c->cwnd;
	if (c->cwnd < c->cubic.w_max)
		c->cubic.w_max = (uint32_t)((uint64_t)c->cwnd * 17 / 20); /* (1 + 0.7) / 2 */
	else
		c->cubic.w_max = c->cwnd;
	c->cc_epoch = 0;
}

/* The start of a congestion avoidance stage (4.2, 4.3, 4.8). */
static void
cubic_epoch(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	double k;

	if (c->cc_rto || c->cubic.w_max == 0)
		c->cubic.w_max = c->cwnd; /* after a timeout: K = 0 */
	c->cc_rto = 0;
	c->cc_epoch = 1;
	c->cubic.epoch_ms = now_ms(s);
	k = cbrt(((double)c->cubic.w_max - (double)c->cwnd) / c->mss / CUBIC_C);
	/* |K| < 2100 s: windows stay below 2^30 bytes and MSS above 63 */
	c->cubic.k_us = (int32_t)(k * 1e6);
	c->cubic.w_est = (uint64_t)c->cwnd << 16;
	c->cubic.cwnd_frac = 0;
}

/* Congestion avoidance on `acked` new bytes acknowledged. */
static void
cubic_ack(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t acked)
{
	double mss = c->mss, cw = c->cwnd / mss, segs = (double)acked / mss;
	double t, k, wmax, rtt, w_cubic, target, inc, alpha;
	uint64_t est, frac;

	if (!c->cc_epoch)
		cubic_epoch(s, c);
	t = (double)(uint32_t)(now_ms(s) - c->cubic.epoch_ms) / 1e3;
	k = c->cubic.k_us / 1e6;
	rtt = c->srtt_us / 1e6;
	wmax = c->cubic.w_max / mss;
	/* the Reno-friendly estimate grows alpha_cubic segments per window */
	alpha = c->cubic.w_est >= (uint64_t)c->cubic.cwnd_prior << 16 ? 1.0 : CUBIC_ALPHA;
	est = c->cubic.w_est + (uint64_t)(alpha * segs / cw * mss * FRAC);
	c->cubic.w_est = est < (uint64_t)MB_TCP_CWND_MAX << 16 ? est : (uint64_t)MB_TCP_CWND_MAX << 16;
	w_cubic = CUBIC_C * (t - k) * (t - k) * (t - k) + wmax;
	if (w_cubic * mss * FRAC < (double)c->cubic.w_est) {
		/* Reno-friendly region: cwnd takes W_est */
		if ((c->cubic.w_est >> 16) > c->cwnd)
			cwnd_set(c, c->cubic.w_est >> 16);
		return;
	}
	target = CUBIC_C * (t + rtt - k) * (t + rtt - k) * (t + rtt - k) + wmax;
	if (target < cw)
		target = cw;
	if (target > 1.5 * cw)
		target = 1.5 * cw;
	inc = (target - cw) / cw * segs * mss * FRAC; /* bytes x 65536 */
	frac = c->cubic.cwnd_frac + (uint64_t)inc;
	c->cubic.cwnd_frac = (uint32_t)(frac & 0xffff);
	cwnd_add(c, frac >> 16);
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

/* Is g's first SACK block a D-SACK (RFC 2883 section 4) of a byte of the
 * open probe?  Only the form below the cumulative ACK can be: it is asked
 * once the ACK has reached tlp_end, above all of the probe. */
static bool
dsack_of_probe(const struct mb_tcp_conn *c, const struct mb_tcp_seg *g)
{
	const struct mb_tcp_sack_block *b = &g->sack[0];

	if (g->nsack == 0 || !seq_lt(b->left, b->right) || !seq_leq(b->right, g->ack))
		return false;
	return seq_lt(b->left, c->tlp_end) && seq_lt(c->tlp_lo, b->right);
}

/* An acceptable ACK during the probe's episode (c->tlp_out; see the top of
 * the file): ends the episode when the ACK tells whether the probe repaired
 * a loss; true if it did.  d: the ACK past una; dup_quiet: no data, SYN,
 * FIN, window change or SACK news. */
static bool
tlp_episode_ack(struct mb_tcp_conn *c, const struct mb_tcp_seg *g, int32_t d, bool dup_quiet)
{
	if (seq_lt(g->ack, c->tlp_end))
		return false; /* the flight before the probe is not yet acknowledged */
	if (dsack_of_probe(c, g)) {
		c->tlp_out = 0; /* original and probe arrived */
		return false;
	}
	if (seq_lt(c->tlp_end, g->ack)) {
		c->tlp_out = 0; /* past the probe and no D-SACK of it: it filled a hole */
		return true;
	}
	if (d == 0 && dup_quiet)
		c->tlp_out = 0; /* the probe's duplicate ACK, no D-SACK receiver */
	return false;
}

/* The probe repaired a loss: the reduction of a fast recovery, from the
 * flight before this ACK, without its retransmission (the hole is filled). */
static void
tlp_loss(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (c->cc_cubic)
		cubic_reduce(c);
	c->ssthresh = tcp_cc_ssthresh(c);
	cwnd_set(c, min32(c->cwnd, c->ssthresh));
	s->cnt.tlp_recoveries++;
}

/* SACKed bytes of the scoreboard inside [lo, hi). */
static uint64_t
sacked_in(const struct mb_tcp_conn *c, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < c->nsb; k++) {
		uint64_t l = c->sb[k].l > lo ? c->sb[k].l : lo;
		uint64_t r = c->sb[k].r < hi ? c->sb[k].r : hi;

		if (l < r)
			n += r - l;
	}
	return n;
}

/* SACKed bytes that went out after the first hole's last retransmission:
 * holes resent since (rack_mark up to rexmt_nxt) and new data (from
 * rack_max). */
static uint64_t
sacked_after_rexmt(const struct mb_tcp_conn *c)
{
	return sacked_in(c, c->rack_mark, c->rexmt_nxt) + sacked_in(c, c->rack_max, UINT64_MAX);
}

/* The first hole's retransmission goes out now (on: RACK's rule watches
 * it): remember when, and where what goes out after it starts (the holes
 * resent from rexmt_nxt on, new data from max). */
static void
rack_mark_now(struct mb_tcp_stack *s, struct mb_tcp_conn *c, bool on)
{
	c->rack_on = on;
	c->rack_ns = s->now;
	c->rack_mark = c->rexmt_nxt;
	c->rack_max = c->max;
}

/* The first hole (at una) was just retransmitted in recovery (n bytes). */
static void
rack_note(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint32_t n)
{
	rack_mark_now(s, c, n > 0 && c->sack_ok);
}

/* RACK's rule (RFC 8985 section 6.2) for the first hole's retransmission:
 * something sent after it was SACKed (the caller saw that), so if it has
 * not been acknowledged RTT + RTT / 4 (the reordering window) after it
 * went out, it was lost too: send it again, counted rexmt_lost.  Without
 * an RTT sample nothing is presumed; the RTO stays the fallback. */
static bool
rack_rexmt_lost(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t wait_ns = ((uint64_t)c->srtt_us + c->srtt_us / 4) * 1000ULL;
	uint32_t n = tcp_rexmt_len(c, c->una);

	if (c->srtt_us == 0 || s->now - c->rack_ns < wait_ns || n == 0)
		return false;
	n = tcp_send_data(s, c, c->una, n);
	if (n == 0)
		return false;
	s->cnt.rexmt_lost++;
	rack_mark_now(s, c, true); /* the holes resent so far went out before it */
	return true;
}

/* A partial ACK in recovery (una moved, still below recover): one segment
 * goes out.  Without SACK it is the first unacknowledged one (RFC 6582
 * section 3.2 step 5).  With SACK, rexmt_nxt is RFC 6675's HighRxt: every
 * byte below it that is not SACKed was resent in this recovery, and
 * NextSeg resends only holes above it.  So when the ACK stops below
 * rexmt_nxt, the new first hole is one already resent (its
 * retransmission may still be on its way) and the next hole not yet
 * resent goes out instead, if the IsLost rule presumes one lost; only
 * RACK's rule (a later ACK) or the RTO resends the first hole again.
 * Its retransmission went out before this ACK but when is not kept, so
 * RACK's clock restarts now and only what goes out from now on counts as
 * sent after it: later than the exact rule, never sooner.  When the ACK
 * reaches rexmt_nxt, the hole at una was not resent yet: it goes out, as
 * without SACK. */
static void
partial_ack(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (!c->sack_ok || c->una >= c->rexmt_nxt) {
		rack_note(s, c, tcp_rexmt_hole(s, c, c->una));
		return;
	}
	rack_mark_now(s, c, true);
	(void)tcp_rexmt_hole(s, c, c->rexmt_nxt);
}

static void
enter_recovery(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	c->tlp_out = 0; /* fast recovery ends a probe's episode (RFC 8985 7.4.1) */
	if (c->cc_cubic)
		cubic_reduce(c);
	c->ssthresh = tcp_cc_ssthresh(c);
	c->recover = c->max;
	c->in_recovery = 1;
	c->rexmt_nxt = c->una;
	s->cnt.rexmt_fast++;
	rack_note(s, c, tcp_rexmt_hole(s, c, c->una));
	cwnd_set(c, (uint64_t)c->ssthresh + 3u * c->mss);
	tcp_arm_rexmt(s, c);
}

/* Process the acknowledgement field of an acceptable segment.  Returns false
 * if the segment must be dropped. */
bool
tcp_ack_input(struct mb_tcp_stack *s, struct mb_tcp_conn *c, const struct mb_tcp_seg *g)
{
	int32_t d = (int32_t)(g->ack - seq_of(c, c->una));
	uint32_t new_wnd = (uint32_t)g->win << c->snd_wscale;
	uint32_t old_wnd = c->snd_wnd;
	bool wnd_same = new_wnd == old_wnd;
	bool sack_news = false; /* this ACK SACKed bytes not SACKed before */
	bool tlp_cut = false;	/* the tail loss probe repaired a loss */
	bool rack_news = false; /* ... and some sent after the first hole's last resend */
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
		uint64_t after0 = c->rack_on ? sacked_after_rexmt(c) : 0;

		sack_update(c, g);
		sack_news = sacked_bytes(c) > before;
		rack_news = c->rack_on && sacked_after_rexmt(c) > after0;
	}
	if (c->tlp_out &&
	    tlp_episode_ack(c, g, d,
			    g->plen == 0 && !(g->flags & (MB_TCP_SYN | MB_TCP_FIN)) && wnd_same &&
				    !sack_news)) {
		tlp_cut = true;
		tlp_loss(s, c);
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
			struct mb_image *img = mb_image_of_buf(sp->buf);

			if (img != NULL)
				atomic_fetch_add_explicit(&img->bytes_served, sp->len,
							  memory_order_relaxed);
			mb_sbuf_unref(sp->buf);
			sp->buf = NULL;
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
				c->rack_on = 0;
				c->dupacks = 0;
			} else {
				/* partial ACK (RFC 6582 §3.2 step 5) */
				partial_ack(s, c);
				cwnd_set(c, (c->cwnd > acked ? c->cwnd - acked : 0) + c->mss);
				tcp_arm_rexmt(s, c);
			}
		} else {
			c->dupacks = 0;
			/* byte counting (RFC 3465, L = 2 SMSS in slow start); in
			 * congestion avoidance a stretch ACK (GRO/LRO at the
			 * receiver) grows the window by the bytes it covers, not
			 * by one ACK's worth; not on the ACK that cut it */
			if (tlp_cut) {
				/* the window was just reduced */
			} else if (c->cwnd < c->ssthresh) {
				cwnd_add(c, acked < 2u * c->mss ? acked : 2u * c->mss);
			} else if (c->cc_cubic) {
				cubic_ack(s, c, acked);
			} else {
				uint64_t inc = (uint64_t)c->mss * acked / c->cwnd;

				cwnd_add(c, inc > 0 ? inc : 1);
			}
		}
		if (c->una >= c->end)
			c->cc_epoch = 0; /* out of data: the next stage restarts CUBIC's clock */
		c->persist = 0;
		if (c->max > c->una) {
			tcp_arm_pto(s, c);
		} else {
			c->t_rexmt = 0;
			c->tlp_armed = 0;
		}
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
		} else if (rack_news && rack_rexmt_lost(s, c)) {
			/* the first hole's retransmission was lost: it went out again */
		} else if (c->sack_ok && tcp_rexmt_hole(s, c, c->rexmt_nxt) > 0) {
			/* a hole went out in place of inflation */
		} else {
			cwnd_add(c, c->mss); /* inflation (RFC 6582 §3.2 step 4) */
		}
	}
	return true;
}

void
tcp_cc_on_rto(struct mb_tcp_conn *c)
{
	if (c->nrexmt == 1) {
		if (c->cc_cubic) {
			cubic_reduce(c);
			c->cc_rto = 1;
		}
		c->ssthresh = tcp_cc_ssthresh(c);
	}
	c->cwnd = c->mss;
	c->recover = c->max;
	c->in_recovery = 0;
	c->dupacks = 0;
	c->tlp_out = 0; /* an RTO ends a probe's episode (RFC 8985 7.4.1) */
	c->rack_on = 0;
	c->nsb = 0; /* the receiver may have reneged (RFC 2018 §8) */
}
