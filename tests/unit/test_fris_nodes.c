/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of proto/fris_nodes (who multicast reaches, per-node progress)
 * and of the noise floor of proto/mb_tbucket's adaptive rate.  Each case
 * plays a session on a simulated clock (microseconds), a tick every 100 ms
 * as the dataplane does: nodes ask the way the stock client does (a request
 * for what it lacks, again after its re-request delay for what did not come),
 * the group sends what was asked, and the table's verdicts are checked: a node
 * that keeps asking again for what was sent, or that makes no progress while
 * the others do, is moved to unicast; a node that is merely slow, a little
 * lossy, late, or as lossy as everybody else stays in the group.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fris_nodes.h"
#include "fris_wq.h"
#include "mb_tbucket.h"

#define HZ 1000000ULL		/* the clock counts microseconds */
#define TICK MB_FRIS_NODES_TICK_US
#define WIRE 8976ULL		/* bits of a BLOCK on the wire */
#define CB MB_FRIS_CHUNK_BLOCKS
#define T0 1000000ULL		/* clocks start at 1 s (0 means "never") */

static struct mb_fris_nodes *
mk(uint32_t nchunks, uint32_t max_fb)
{
	struct mb_fris_nodes *t = mb_fris_nodes_create((uint64_t)nchunks * CB, 16, max_fb,
						      1u << 20, HZ, WIRE);

	assert_non_null(t);
	mb_fris_nodes_set_rates(t, 100000000ULL, 1000000000ULL, T0);
	return t;
}

static struct mb_fris_node *
node(struct mb_fris_nodes *t, uint32_t host, uint64_t now)
{
	struct mb_fris_node *nd = mb_fris_nodes_get(t, 0x0a000000u | host, now);

	assert_non_null(nd);
	return nd;
}

/* a and b ask for chunks 0..n-1, one a tick, and the group sends each
 * whole; then b LEAVEs.  Returns the clock after. */
static uint64_t
load_then_leave(struct mb_fris_nodes *t, struct mb_fris_node *a, struct mb_fris_node *b,
		uint32_t n, uint64_t now)
{
	for (uint32_t k = 0; k < n; k++) {
		now += TICK;
		mb_fris_nodes_ask(t, a, k, CB, false, now);
		mb_fris_nodes_ask(t, b, k, CB, false, now);
		mb_fris_nodes_sent(t, k, 0, CB, now + 1);
		(void)mb_fris_nodes_tick(t, now);
	}
	mb_fris_nodes_leave(t, b, now);
	return now;
}

/*
 * A session of `nn` nodes over `ticks` ticks.  Tick k, every node asks for
 * chunk k (whole, before it goes out: a clean receiver) and the group sends
 * it whole.  Node i also asks again for lose[i] blocks of the chunk of the
 * tick before (what it lost of it), and the group resends those.  Returns
 * the clock after the last tick.
 */
static uint64_t
play(struct mb_fris_nodes *t, struct mb_fris_node **nd, unsigned nn, const uint32_t *lose,
     unsigned ticks, uint64_t now, uint32_t first_chunk)
{
	for (unsigned k = 0; k < ticks; k++) {
		uint32_t c = first_chunk + k;

		now += TICK;
		for (unsigned i = 0; i < nn; i++) {
			if (nd[i]->method == MB_FRIS_NODE_UCAST)
				continue;
			mb_fris_nodes_ask(t, nd[i], c, CB, false, now);
			if (k > 0 && lose[i] > 0) {
				mb_fris_nodes_ask(t, nd[i], c - 1, lose[i], true, now);
				mb_fris_nodes_sent(t, c - 1, 0, lose[i], now + 1);
			}
		}
		mb_fris_nodes_sent(t, c, 0, CB, now + 1);
		(void)mb_fris_nodes_tick(t, now);
	}
	return now;
}

/* A node that asks again for every block the session sent it (multicast
 * does not reach it) moves to unicast within 3 s; the clean ones stay;
 * counters say why. */
static void
test_rerequests_move_to_unicast(void **state)
{
	struct mb_fris_nodes *t = mk(64, 4);
	struct mb_fris_node *nd[3];
	uint32_t lose[3] = {0, 0, CB};
	uint64_t now = T0;

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		nd[i] = node(t, i + 1, now);
	now = play(t, nd, 3, lose, 30, now, 0);
	assert_int_equal(nd[2]->method, MB_FRIS_NODE_UCAST);
	assert_true(nd[2]->reason == MB_FRIS_NODE_R_LOSS ||
		    nd[2]->reason == MB_FRIS_NODE_R_UNREACHED);
	assert_non_null(mb_fris_nodes_fb(t, nd[2]));
	assert_int_equal(nd[0]->method, MB_FRIS_NODE_MCAST);
	assert_int_equal(nd[1]->method, MB_FRIS_NODE_MCAST);
	assert_int_equal(t->st.fallbacks, 1);
	assert_int_equal(t->st.fb_by_reason[nd[2]->reason], 1);
	assert_int_equal(t->fb_n, 1);
	/* loss evidence is what it asked for again, counted per node */
	assert_true(nd[2]->blocks_lost >= 4 * CB);
	assert_int_equal(nd[2]->blocks_lost, (uint64_t)nd[2]->rerequests * CB);
	assert_int_equal(nd[0]->blocks_lost, 0);
	assert_int_equal(nd[0]->rerequests, 0);
	/* the clean ones got every chunk, by covers */
	assert_int_equal(nd[0]->done, 30);
	assert_true(mb_fris_node_progress_ppm(t, nd[0]) >= 30 * 1000000u / 64);
	/* the group's loss signal is its best member's while slots are free */
	assert_int_equal(t->group_loss_ppm, 0);

	/* Served alone, what it asks again for, of what went to it alone, is
	 * its loss: its own rate comes down, the group's is not involved. */
	struct mb_fris_fb *fb = mb_fris_nodes_fb(t, nd[2]);
	uint64_t r0 = fb->ra.rate;

	/* it could not take the group's rate: it starts at what it took, at
	 * least at the floor of 100 Mbit/s (a quarter of the group's 100
	 * Mbit/s is below it) */
	assert_int_equal(r0, 100000000ULL);

	for (unsigned k = 0; k < 10; k++) {
		now += TICK;
		mb_fris_nodes_ask(t, nd[2], 60, CB, true, now);
		mb_fris_nodes_fb_sent(t, fb, 60, CB);
		(void)mb_fris_nodes_tick(t, now);
	}
	assert_true(fb->ra.rate < r0);
	assert_int_equal(fb->sent, 10 * CB);
	assert_int_equal(nd[2]->ucast_blocks, 10 * CB);
	/* a LEAVE frees its slot and completes it */
	mb_fris_nodes_leave(t, nd[2], now);
	assert_int_equal(t->fb_n, 0);
	assert_int_equal(t->st.fb_released, 1);
	assert_int_equal(mb_fris_node_progress_ppm(t, nd[2]), 1000000);
	mb_fris_nodes_free(t);
}

/* A node served alone whose output budget runs out is served by the group
 * again, for good, rather than starved; a node moved for JOIN starts at the
 * group's rate. */
static void
test_budget_spent_returns_to_group(void **state)
{
	struct mb_fris_nodes *t = mb_fris_nodes_create(16 * CB, 8, 2, 4 * CB, HZ, WIRE);
	struct mb_fris_node *a;
	struct mb_fris_fb *fb;
	uint64_t now = T0;

	(void)state;
	assert_non_null(t);
	mb_fris_nodes_set_rates(t, 100000000ULL, 1000000000ULL, now);
	a = node(t, 1, now);
	for (unsigned i = 0; i < 4; i++)
		(void)mb_fris_nodes_join(t, a, 7, now += 100000);
	fb = mb_fris_nodes_fb(t, a);
	assert_non_null(fb);
	assert_int_equal(fb->ra.rate, 100000000ULL);
	mb_fris_nodes_ask(t, a, 1, CB, false, now);
	mb_fris_nodes_fb_sent(t, fb, 1, CB);
	(void)mb_fris_nodes_tick(t, now += TICK);
	assert_int_equal(a->method, MB_FRIS_NODE_UCAST);
	for (unsigned c = 2; c < 5; c++)
		mb_fris_nodes_fb_sent(t, fb, c, CB);
	(void)mb_fris_nodes_tick(t, now += TICK);
	assert_int_equal(a->method, MB_FRIS_NODE_MCAST);
	assert_null(mb_fris_nodes_fb(t, a));
	assert_int_equal(t->fb_n, 0);
	assert_int_equal(t->st.fb_returned, 1);
	assert_int_equal(t->st.fb_released, 1);
	/* for good: more JOINs do not move it again */
	for (unsigned i = 0; i < 6; i++)
		assert_false(mb_fris_nodes_join(t, a, 7, now += 100000));
	assert_int_equal(t->st.fallbacks, 1);
	mb_fris_nodes_free(t);
}

/* A lone node that hears nothing (nobody to compare it with) still moves:
 * UNREACHED needs no other member.  Like the stock client it has a few
 * chunks in progress and asks again for all of them after its re-request
 * delay (1 s); the group sends what it asks. */
static void
test_lone_unreached(void **state)
{
	struct mb_fris_nodes *t = mk(64, 4);
	struct mb_fris_node *nd = node(t, 9, T0);
	uint64_t now = T0;
	unsigned k;

	(void)state;
	for (k = 0; k < 60 && nd->method == MB_FRIS_NODE_MCAST; k++) {
		now += TICK;
		if (k % 10 != 0)
			goto tick;
		for (uint32_t c = 0; c < 8; c++) {
			mb_fris_nodes_ask(t, nd, c, CB, k > 0, now);
			mb_fris_nodes_sent(t, c, 0, CB, now + 1);
		}
tick:
		(void)mb_fris_nodes_tick(t, now);
	}
	assert_int_equal(nd->method, MB_FRIS_NODE_UCAST);
	assert_int_equal(nd->reason, MB_FRIS_NODE_R_UNREACHED);
	assert_true(k > 20 && k <= 50); /* not at once, within 5 s */
	mb_fris_nodes_free(t);
}

/*
 * mcast-progress's starvation (a stock client: "No messages from server
 * after 20 seconds"): the switch stops giving the group to a node mid-load
 * (its membership report was lost, and the flooding that had fed it ends)
 * and the other member finishes and leaves.  The node, alone, lacks part of
 * 4 chunks and asks for what it lacks again every 0.8-1.4 s (the stock
 * client's re-request delay and back-off); the group's rate is at its floor
 * (one step, about 100 BLOCKs a tick) and sends only what was asked, in
 * order.  Nothing arrives: every re-ask asks again for all that was sent of
 * the chunk since.  It must be served alone within a few seconds (before,
 * its loss against the group's smoothed sends swung between 40% and 100%
 * with each re-ask, never 10 ticks over 90% in a row: it stayed in the
 * group, unreached, until the client gave up).
 */
static void
test_lone_unreached_slow_group(void **state)
{
	static const unsigned gap[] = {8, 12, 10, 14, 9, 13};
	struct mb_fris_nodes *t = mk(48, 4);
	struct mb_fris_node *a, *b;
	uint32_t missing[4] = {400, 300, 500, 350}, queued[4] = {0}, next = 0;
	uint64_t now = T0;
	unsigned k, g = 0, ask_at;

	(void)state;
	/* the group's rate at its floor (one step) */
	mb_fris_nodes_set_rates(t, MB_TBUCKET_DYN_STEP, 1000000000ULL, now);
	a = node(t, 1, now);
	b = node(t, 2, now);
	/* both load chunks 0..39 by the group; b then LEAVEs */
	now = load_then_leave(t, a, b, 40, now);
	ask_at = 0;
	for (k = 0; k < 100 && a->method == MB_FRIS_NODE_MCAST; k++) {
		uint32_t budget = 100;

		now += TICK;
		if (k == ask_at) {
			/* what it lacks of chunks 40..43, again */
			for (uint32_t c = 0; c < 4; c++) {
				mb_fris_nodes_ask(t, a, 40 + c, missing[c], true, now);
				queued[c] = missing[c]; /* merged: the whole map is queued */
			}
			ask_at = k + gap[g++ % 6];
		}
		/* the group sends what is queued, in order, 100 BLOCKs a tick */
		for (uint32_t n = 0; n < 4 && budget > 0; n++) {
			uint32_t c = (next + n) % 4, m = queued[c] < budget ? queued[c] : budget;

			if (m == 0)
				continue;
			mb_fris_nodes_sent(t, 40 + c, CB - queued[c], m, now + 1);
			queued[c] -= m;
			budget -= m;
			next = c;
		}
		(void)mb_fris_nodes_tick(t, now);
	}
	assert_int_equal(a->method, MB_FRIS_NODE_UCAST);
	assert_int_equal(a->reason, MB_FRIS_NODE_R_UNREACHED);
	assert_true(k <= 50); /* within 5 s of being alone */
	/* served alone at what it took in the group (10 chunks a second,
	 * 92 Mbit/s), at least at the floor of 100 Mbit/s: not at a quarter
	 * of the group's floor (2.2 Mbit/s, a chunk in 4 s) */
	assert_int_equal(mb_fris_nodes_fb(t, a)->ra.rate, 100000000ULL);
	mb_fris_nodes_free(t);
}

/* Alone and congested, not unreached: a lone node that gets 40% of every
 * resend (asks again for 60% of what went out since its last ask) stays in
 * the group (the rate is the remedy); one that lost a burst whole once and
 * got the resend stays too. */
static void
test_lone_lossy_stays(void **state)
{
	struct mb_fris_nodes *t = mk(64, 4);
	struct mb_fris_node *a = node(t, 1, T0), *b;
	uint32_t want = CB;
	uint64_t now = T0;

	(void)state;
	for (unsigned k = 0; k < 80; k++) {
		now += TICK;
		if (k % 5 == 0) {
			mb_fris_nodes_ask(t, a, 3, want, k > 0, now);
			mb_fris_nodes_sent(t, 3, 0, want, now + 1);
			want = want * 6 / 10 > 8 ? want * 6 / 10 : CB;
		}
		(void)mb_fris_nodes_tick(t, now);
	}
	assert_int_equal(a->method, MB_FRIS_NODE_MCAST);
	assert_true(a->blocks_lost > 0);
	mb_fris_nodes_leave(t, a, now);
	b = node(t, 2, now);
	for (unsigned k = 0; k < 40; k++) {
		now += TICK;
		mb_fris_nodes_ask(t, b, 10 + k, CB, false, now);
		mb_fris_nodes_sent(t, 10 + k, 0, CB, now + 1);
		if (k == 10) { /* all of chunk 19 lost once, sent again, got */
			mb_fris_nodes_ask(t, b, 19, CB, true, now);
			mb_fris_nodes_sent(t, 19, 0, CB, now + 1);
		}
		(void)mb_fris_nodes_tick(t, now);
	}
	assert_int_equal(b->method, MB_FRIS_NODE_MCAST);
	assert_int_equal(t->st.fallbacks, 0);
	mb_fris_nodes_free(t);
}

/*
 * mcast-mixed's starvation (CI: the throttled stock client, the last member,
 * "No messages from server after 20 seconds"): a node throttled to a quarter
 * of the group's rate got a quarter of every chunk while the others loaded;
 * they finish and leave.  Alone, it has 56 chunks in progress and, on each
 * idle timeout (every 0.8-1.4 s with the stock client's back-off), asks
 * again for what it lacks of every one of them: 56 PREQUESTs a round, more
 * than the node's memory of its asks held (the stock client keeps up to 64
 * chunks in progress).  The group, at its floor (about
 * 100 BLOCKs a tick), works through its queue of those chunks in order (a
 * re-ask merges into the queued element), so a chunk is reached again only
 * every half minute.  `got` of every 100 BLOCKs sent reach the node (0: the
 * group does not reach it).  Returns the ticks it took to be moved out, or
 * `limit` when it stayed; `extra_lost` is the loss evidence it gave, past
 * its first round, beyond what the group sent meanwhile; `max_loss` the
 * highest loss signal the group's rate got while it was alone.
 */
#define LM_INPROG 56

/* The same, the node lacking `lack0` BLOCKs of each chunk in progress;
 * `whole`: the group's queue holds each of those chunks whole (another
 * node's request, which the node's re-asks merge into; then `got` must be
 * 0), sent at `pace` BLOCKs a tick. */
static unsigned
last_member_run(uint32_t lack0, bool whole, uint32_t pace, unsigned got, unsigned limit,
		uint64_t *extra_lost, uint32_t *max_loss, struct mb_fris_nodes **tp,
		struct mb_fris_node **ap)
{
	static const unsigned gap[] = {8, 12, 10, 14, 9, 13};
	struct mb_fris_nodes *t = mk(64, 4);
	struct mb_fris_node *a, *b;
	uint32_t lack[LM_INPROG], queued[LM_INPROG], next = 0;
	uint64_t now = T0, sent = 0, lost0 = 0;
	unsigned k, g = 0, ask_at = 0, rounds = 0;
	uint32_t loss;

	*max_loss = 0;
	a = node(t, 1, now);
	b = node(t, 2, now);
	/* both load the image by the group at its high rate: b gets it all,
	 * a a quarter of each of chunks 0..55 and all of 56..63; b LEAVEs */
	now = load_then_leave(t, a, b, 64, now);
	for (unsigned c = 0; c < LM_INPROG; c++) {
		lack[c] = lack0;
		queued[c] = 0;
	}
	for (k = 0; k < limit && a->method == MB_FRIS_NODE_MCAST; k++) {
		uint32_t budget = pace;

		now += TICK;
		if (k == ask_at) {
			/* what it lacks of each chunk in progress, again */
			for (uint32_t c = 0; c < LM_INPROG; c++) {
				if (lack[c] == 0)
					continue;
				mb_fris_nodes_ask(t, a, c, lack[c], true, now);
				if (queued[c] < lack[c])
					queued[c] = whole ? CB : lack[c]; /* merged */
			}
			if (++rounds == 1)
				lost0 = a->blocks_lost;
			ask_at = k + gap[g++ % 6];
		}
		/* the group sends what is queued, in order, `pace` BLOCKs a
		 * tick; the node gets `got` of every 100 */
		for (uint32_t n = 0; n < LM_INPROG && budget > 0; n++) {
			uint32_t c = (next + n) % LM_INPROG, m = queued[c] < budget ? queued[c] : budget;

			if (m == 0)
				continue;
			mb_fris_nodes_sent(t, c, CB - queued[c], m, now + 1);
			if (rounds > 0)
				sent += m;
			queued[c] -= m;
			budget -= m;
			lack[c] -= lack[c] < m * got / 100 ? lack[c] : m * got / 100;
			next = c;
		}
		loss = mb_fris_nodes_tick(t, now);
		if (loss > *max_loss)
			*max_loss = loss;
	}
	*extra_lost = a->blocks_lost - lost0 > sent ? a->blocks_lost - lost0 - sent : 0;
	*tp = t;
	*ap = a;
	return k;
}

static unsigned
last_member_round(unsigned got, unsigned limit, uint64_t *extra_lost, uint32_t *max_loss,
		  struct mb_fris_nodes **tp, struct mb_fris_node **ap)
{
	return last_member_run(CB - CB / 4, false, 100, got, limit, extra_lost, max_loss, tp, ap);
}

/* The last member that receives nothing is moved out well within the stock
 * client's 20 s, by UNREACHED; its loss evidence is only what was sent and
 * asked for again (before: its 56 re-asks a round were more than the node
 * remembered, each counted whole as a loss of the chunk's cover long ago,
 * its loss stayed at 100% of the group's sends, the group's rate at its
 * floor, and no re-ask ever counted for UNREACHED: it starved). */
static void
test_last_member_long_queue(void **state)
{
	struct mb_fris_nodes *t;
	struct mb_fris_node *a;
	uint64_t extra;
	uint32_t max_loss;
	unsigned k;

	(void)state;
	k = last_member_round(0, 200, &extra, &max_loss, &t, &a);
	assert_int_equal(a->method, MB_FRIS_NODE_UCAST);
	assert_int_equal(a->reason, MB_FRIS_NODE_R_UNREACHED);
	assert_true(k <= 80); /* within 8 s of being alone */
	assert_int_equal(extra, 0);
	mb_fris_nodes_free(t);
}

/* mcast-mixed-1g's starvation (with the fix above): the last member lacks
 * 40 BLOCKs of each chunk in progress, and the group sends those chunks
 * whole (a departed member asked for them whole, the node's re-asks merged
 * in), at a fair pace; it gets nothing.  Each re-ask asks again for all 40
 * it lacked, which the group sent: it is moved (before: what was sent of a
 * chunk since its ask counted whole, 1024 BLOCKs against its 40 re-asked,
 * a loss of 4 %: it stayed, "reached", until the stock client gave up). */
static void
test_last_member_whole_resends(void **state)
{
	struct mb_fris_nodes *t;
	struct mb_fris_node *a;
	uint64_t extra;
	uint32_t max_loss;
	unsigned k;

	(void)state;
	k = last_member_run(40, true, 2000, 0, 200, &extra, &max_loss, &t, &a);
	assert_int_equal(a->method, MB_FRIS_NODE_UCAST);
	assert_int_equal(a->reason, MB_FRIS_NODE_R_UNREACHED);
	assert_true(k <= 80);
	assert_int_equal(extra, 0);
	mb_fris_nodes_free(t);
}

/* The same last member reached, or reached by half of what is sent (its
 * path loses: the rate is the remedy), stays in the group, and the group's
 * rate hears what it lost of what was sent (3/4 of the load at the high
 * pace, then what it loses now), not 100% (before: its re-asks for what it
 * lost at the high pace counted against the group's sends at the floor
 * said "all lost": the rate went to its floor and stayed there, and the
 * node was moved out after 2 s). */
static void
test_last_member_reached_stays(void **state)
{
	static const unsigned got[] = {100, 50};
	struct mb_fris_nodes *t;
	struct mb_fris_node *a;
	uint64_t extra;
	uint32_t max_loss;

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		unsigned k = last_member_round(got[i], 200, &extra, &max_loss, &t, &a);

		assert_int_equal(k, 200);
		assert_true(max_loss <= 800000);
		if (got[i] == 100)
			assert_int_equal(t->group_loss_ppm, 0);
		assert_int_equal(a->method, MB_FRIS_NODE_MCAST);
		assert_int_equal(t->st.fallbacks, 0);
		assert_int_equal(extra, 0);
		mb_fris_nodes_free(t);
	}
}

/*
 * Repairs only (partial sends, no covers): two nodes' asks are answered and
 * resolve, so they progress; the third asks for one block of one chunk over
 * and over, answered each time, and its progress never moves: STALL, although
 * its loss against what the group sends is tiny.
 */
static void
test_no_progress_while_others_progress(void **state)
{
	struct mb_fris_nodes *t = mk(64, 4);
	struct mb_fris_node *a, *b, *c;
	uint64_t now = T0;

	(void)state;
	a = node(t, 1, now);
	b = node(t, 2, now);
	c = node(t, 3, now);
	for (unsigned k = 0; k < 40 && c->method == MB_FRIS_NODE_MCAST; k++) {
		now += TICK;
		mb_fris_nodes_ask(t, a, k, CB - 8, false, now);
		mb_fris_nodes_sent(t, k, 0, CB - 8, now + 1); /* a partial map: no cover */
		mb_fris_nodes_ask(t, b, k, CB - 8, false, now);
		mb_fris_nodes_ask(t, c, 50, 1, k > 0, now);
		mb_fris_nodes_sent(t, 50, 7, 1, now + 1);
		(void)mb_fris_nodes_tick(t, now);
	}
	assert_int_equal(t->st.covers, 0);
	assert_int_equal(c->method, MB_FRIS_NODE_UCAST);
	assert_int_equal(c->reason, MB_FRIS_NODE_R_STALL);
	assert_int_equal(c->done, 0);
	assert_true(c->loss_ppm < 30000);
	assert_true(a->done > 0);
	assert_int_equal(a->method, MB_FRIS_NODE_MCAST);
	assert_int_equal(b->method, MB_FRIS_NODE_MCAST);
	assert_int_equal(t->st.fb_by_reason[MB_FRIS_NODE_R_STALL], 1);
	mb_fris_nodes_free(t);
}

/* A slow node (a new chunk every half second, each answered) progresses,
 * slowly: it stays in the group while faster ones progress. */
static void
test_slow_node_stays(void **state)
{
	struct mb_fris_nodes *t = mk(64, 4);
	struct mb_fris_node *a, *b, *s;
	uint64_t now = T0;

	(void)state;
	a = node(t, 1, now);
	b = node(t, 2, now);
	s = node(t, 3, now);
	for (unsigned k = 0; k < 60; k++) {
		now += TICK;
		mb_fris_nodes_ask(t, a, k, CB - 8, false, now);
		mb_fris_nodes_ask(t, b, k, CB - 8, false, now);
		mb_fris_nodes_sent(t, k, 0, CB - 8, now + 1);
		/* asks again for what it has not got yet of its current chunk
		 * every tick (nothing came of it yet: not loss), a new one
		 * every five */
		mb_fris_nodes_ask(t, s, 100 / 2 + k / 5, 4, false, now);
		if (k % 5 == 4)
			mb_fris_nodes_sent(t, 50 + k / 5, 0, 4, now + 1);
		(void)mb_fris_nodes_tick(t, now);
	}
	assert_int_equal(s->method, MB_FRIS_NODE_MCAST);
	assert_true(s->done > 0);
	assert_int_equal(t->st.fallbacks, 0);
	mb_fris_nodes_free(t);
}

/* Lossy, but not so as to move: 2% (under 3%), everybody equally lossy
 * (10% each: the group's rate is the remedy, not unicast), a late joiner
 * asking for what went out before it came, a burst of loss for a few ticks. */
static void
test_lossy_not_moved(void **state)
{
	struct mb_fris_node *nd[3];
	struct mb_fris_nodes *t;
	uint64_t now;

	(void)state;
	/* 2% */
	{
		uint32_t lose[3] = {0, 0, CB / 50};

		t = mk(128, 4);
		for (unsigned i = 0; i < 3; i++)
			nd[i] = node(t, i + 1, T0);
		(void)play(t, nd, 3, lose, 60, T0, 0);
		assert_int_equal(nd[2]->method, MB_FRIS_NODE_MCAST);
		assert_true(nd[2]->blocks_lost > 0);
		assert_int_equal(t->st.fallbacks, 0);
		mb_fris_nodes_free(t);
	}
	/* all 10%: nobody is worse than the others; the group signal says 10% */
	{
		uint32_t lose[3] = {CB / 10, CB / 10, CB / 10};

		t = mk(128, 4);
		for (unsigned i = 0; i < 3; i++)
			nd[i] = node(t, i + 1, T0);
		(void)play(t, nd, 3, lose, 60, T0, 0);
		assert_int_equal(t->st.fallbacks, 0);
		assert_true(t->group_loss_ppm > 50000 && t->group_loss_ppm < 150000);
		mb_fris_nodes_free(t);
	}
	/* a late joiner: chunks 0..29 went out before it came; asking for
	 * them is not loss */
	{
		uint32_t lose[3] = {0, 0, 0};
		struct mb_fris_node *late;

		t = mk(128, 4);
		for (unsigned i = 0; i < 2; i++)
			nd[i] = node(t, i + 1, T0);
		now = play(t, nd, 2, lose, 30, T0, 0);
		late = node(t, 3, now);
		for (unsigned k = 0; k < 30; k++) {
			now += TICK;
			mb_fris_nodes_ask(t, late, k, CB, false, now);
			mb_fris_nodes_sent(t, k, 0, CB, now + 1);
			(void)mb_fris_nodes_tick(t, now);
		}
		assert_int_equal(late->blocks_lost, 0);
		assert_int_equal(late->method, MB_FRIS_NODE_MCAST);
		assert_true(late->done >= 28);
		assert_int_equal(t->st.fallbacks, 0);
		mb_fris_nodes_free(t);
	}
	/* a burst: 30% for three ticks, then clean */
	{
		uint32_t clean[3] = {0, 0, 0}, burst[3] = {0, 0, CB * 3 / 10};

		t = mk(128, 4);
		for (unsigned i = 0; i < 3; i++)
			nd[i] = node(t, i + 1, T0);
		now = play(t, nd, 3, clean, 10, T0, 0);
		now = play(t, nd, 3, burst, 4, now, 10);
		(void)play(t, nd, 3, clean, 30, now, 14);
		assert_int_equal(nd[2]->method, MB_FRIS_NODE_MCAST);
		assert_int_equal(t->st.fallbacks, 0);
		mb_fris_nodes_free(t);
	}
}

/*
 * Where a node moved out starts.  A node moved for loss that reported its
 * progress (PROGRESS: 2 chunks a tick, about 184 Mbit/s) starts at what it
 * took, not at a quarter of the group's 1 Gbit/s (250 Mbit/s); one moved
 * while the group is at its floor (one step, 9 Mbit/s) starts at the floor
 * of 100 Mbit/s, not at 2.2 Mbit/s; the ceiling (the port's rate) caps
 * both.
 */
static void
test_fb_start_rate(void **state)
{
	struct mb_fris_nodes *t;
	struct mb_fris_node *nd[3];
	struct mb_fris_fb *fb;
	uint64_t now = T0;
	unsigned k;

	(void)state;
	for (unsigned pass = 0; pass < 3; pass++) {
		uint64_t group = pass == 1 ? MB_TBUCKET_DYN_STEP : 1000000000ULL;
		uint64_t max = pass == 2 ? 50000000ULL : 10000000000ULL;

		t = mk(128, 4);
		now = T0;
		mb_fris_nodes_set_rates(t, group, max, now);
		for (unsigned i = 0; i < 3; i++)
			nd[i] = node(t, i + 1, now);
		/* nd[2] loses half of every chunk and says what it has */
		for (k = 0; k < 100 && nd[2]->method == MB_FRIS_NODE_MCAST; k++) {
			now += TICK;
			for (unsigned i = 0; i < 3; i++)
				mb_fris_nodes_ask(t, nd[i], k, CB, false, now);
			if (k > 0) {
				mb_fris_nodes_ask(t, nd[2], k - 1, CB / 2, true, now);
				mb_fris_nodes_sent(t, k - 1, 0, CB / 2, now + 1);
			}
			mb_fris_nodes_sent(t, k, 0, CB, now + 1);
			if (pass != 1)
				mb_fris_nodes_report(t, nd[2], 2 * k, 2ULL * k << 20, now);
			(void)mb_fris_nodes_tick(t, now);
		}
		fb = mb_fris_nodes_fb(t, nd[2]);
		assert_non_null(fb);
		assert_int_not_equal(nd[2]->reason, MB_FRIS_NODE_R_JOIN);
		print_message("group %" PRIu64 " max %" PRIu64 ": moved (%s) after %u ticks, "
			      "delivery %" PRIu64 ", starts at %" PRIu64 " bit/s\n", group, max,
			      mb_fris_node_reason_str(nd[2]->reason), k, nd[2]->deliv_bps,
			      fb->ra.rate);
		if (pass == 0) /* what it took: 2 chunks of 9.19 Mbit a tick */
			assert_true(fb->ra.rate >= 150000000ULL && fb->ra.rate <= 210000000ULL);
		else if (pass == 1) /* no report, the group at its floor */
			assert_true(fb->ra.rate >= 100000000ULL && fb->ra.rate <= 200000000ULL);
		else
			assert_int_equal(fb->ra.rate, max);
		mb_fris_nodes_free(t);
	}
}

/*
 * The group busy with another member's chunks (a asks a new one every tick
 * from 102 on, sent whole), node x asks for chunks 100 and 101, which wait in the queue
 * behind a's for the whole run, and asks for them again every second.  If
 * `deaf`, x hears nothing of the group; else it gets what goes out of its
 * chunks (the probes) and asks again only for the rest.  The probes the
 * table queues are sent at the next tick.  Returns the ticks played (at
 * most `limit`, fewer when x was moved).
 */
static unsigned
waiting_run(struct mb_fris_nodes *t, struct mb_fris_node *a, struct mb_fris_node *x, bool deaf,
	    unsigned limit)
{
	uint32_t lack[2] = {CB, CB};
	uint64_t now = T0;
	unsigned k;

	for (k = 0; k < limit && x->method == MB_FRIS_NODE_MCAST; k++) {
		struct mb_fris_wq_item it;

		now += TICK;
		mb_fris_nodes_ask(t, a, 102 + k, CB, false, now);
		mb_fris_nodes_sent(t, 102 + k, 0, CB, now + 1);
		if (k % 10 == 0)
			for (uint32_t j = 0; j < 2; j++)
				mb_fris_nodes_ask(t, x, 100 + j, lack[j], k > 0, now);
		/* the probes go out ahead of the queue */
		while (mb_fris_wq_dequeue(t->probe_wq, &it) == 0) {
			mb_fris_nodes_sent(t, it.chunk, it.block, it.count, now + 2);
			if (!deaf && it.chunk >= 100 && it.chunk < 102)
				lack[it.chunk - 100] = CB - it.block - it.count;
		}
		mb_fris_wq_idle(t->probe_wq);
		(void)mb_fris_nodes_tick(t, now);
	}
	return k;
}

/* A member the group does not reach, whose chunks wait in the queue behind
 * the others', is moved (UNREACHED) within a few seconds of its first ask,
 * before its turn comes: probes of its chunks show it gets nothing of them
 * (before: no evidence at all until its chunks went out; in this run, never
 * in 10 s). */
static void
test_deaf_waiting_moved(void **state)
{
	struct mb_fris_nodes *t = mk(256, 4);
	struct mb_fris_node *a = node(t, 1, T0), *x = node(t, 2, T0);
	unsigned k;

	(void)state;
	k = waiting_run(t, a, x, true, 100);
	print_message("deaf and waiting: moved (%s) after %u ticks, %" PRIu64 " probes\n",
		      mb_fris_node_reason_str(x->reason), k, t->st.probes);
	assert_int_equal(x->method, MB_FRIS_NODE_UCAST);
	assert_int_equal(x->reason, MB_FRIS_NODE_R_UNREACHED);
	assert_true(k <= 50);
	assert_int_equal(a->method, MB_FRIS_NODE_MCAST);
	/* bounded: one probe a second for it at most */
	assert_true(t->st.probes >= 1 && t->st.probes <= k / 10 + 1);
	mb_fris_nodes_free(t);
}

/* The same member reached (merely waiting its turn) stays in the group:
 * the probes of its chunks reach it, it asks again only for the rest. */
static void
test_waiting_turn_stays(void **state)
{
	struct mb_fris_nodes *t = mk(256, 4);
	struct mb_fris_node *a = node(t, 1, T0), *x = node(t, 2, T0);
	unsigned k;

	(void)state;
	k = waiting_run(t, a, x, false, 150);
	print_message("reached and waiting: %u ticks, %" PRIu64 " probes, loss evidence %" PRIu64
		      "\n", k, t->st.probes, x->blocks_lost);
	assert_int_equal(k, 150);
	assert_int_equal(x->method, MB_FRIS_NODE_MCAST);
	assert_int_equal(t->st.fallbacks, 0);
	assert_int_equal(x->blocks_lost, 0);
	assert_true(t->st.probes >= 1 && t->st.probes <= 16);
	mb_fris_nodes_free(t);
}

/* Loss that persists (8%, over both thresholds) does move the node; with no
 * slot free the candidate stays in the group, counted once, and the group's
 * signal becomes its worst member's (the group must slow down for it). */
static void
test_persistent_loss_and_full_slots(void **state)
{
	struct mb_fris_nodes *t = mk(128, 1);
	struct mb_fris_node *nd[4];
	uint32_t lose[4] = {0, 0, CB * 8 / 100, CB * 8 / 100};

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		nd[i] = node(t, i + 1, T0);
	(void)play(t, nd, 4, lose, 40, T0, 0);
	assert_int_equal(t->st.fallbacks, 1);
	assert_int_equal(t->st.fb_by_reason[MB_FRIS_NODE_R_LOSS], 1);
	assert_int_equal(t->st.fallback_full, 1);
	assert_true((nd[2]->method == MB_FRIS_NODE_UCAST) != (nd[3]->method == MB_FRIS_NODE_UCAST));
	assert_true(nd[2]->fb_refused || nd[3]->fb_refused);
	assert_true(t->group_loss_ppm > 50000);
	assert_int_equal(nd[0]->method, MB_FRIS_NODE_MCAST);
	mb_fris_nodes_free(t);
}

/* JOINs: four within 3 s (our replies do not reach it) move it; three, or
 * more spread wider, do not.  A node set no_fb (off-link) never moves. */
static void
test_joins(void **state)
{
	struct mb_fris_nodes *t = mk(16, 4);
	struct mb_fris_node *a = node(t, 1, T0), *b = node(t, 2, T0), *c = node(t, 3, T0);

	(void)state;
	/* two replies lost or late (three JOINs 0.5 s apart), then answered;
	 * and JOINs spread wider */
	for (unsigned i = 0; i < 3; i++)
		assert_false(mb_fris_nodes_join(t, a, 7, T0 + i * 500000ULL));
	for (unsigned i = 0; i < 3; i++)
		assert_false(mb_fris_nodes_join(t, a, 7, T0 + 4000000ULL + i * 2000000ULL));
	assert_int_equal(a->method, MB_FRIS_NODE_MCAST);
	/* the stock client's resends, none answered: moved at the fourth */
	for (unsigned i = 0; i < 3; i++)
		assert_false(mb_fris_nodes_join(t, b, 7, T0 + i * 500000ULL));
	assert_true(mb_fris_nodes_join(t, b, 7, T0 + 1500000));
	assert_int_equal(b->method, MB_FRIS_NODE_UCAST);
	assert_int_equal(b->reason, MB_FRIS_NODE_R_JOIN);
	assert_int_equal(b->joins, 4);
	c->no_fb = true;
	for (unsigned i = 0; i < 5; i++)
		assert_false(mb_fris_nodes_join(t, c, 7, T0 + i * 100000ULL));
	assert_int_equal(c->method, MB_FRIS_NODE_MCAST);
	assert_int_equal(t->st.fallbacks, 1);
	assert_string_equal(mb_fris_node_reason_str(MB_FRIS_NODE_R_JOIN), "join");
	assert_string_equal(mb_fris_node_reason_str(MB_FRIS_NODE_R_MAX), "?");
	mb_fris_nodes_free(t);
}

/* A client killed without LEAVE and started again on the node (a new client
 * id): the old run's asks and covers are no evidence against the new run,
 * which asks again for everything the old one got. */
static void
test_restart_without_leave(void **state)
{
	struct mb_fris_nodes *t = mk(64, 4);
	struct mb_fris_node *nd[2];
	uint32_t lose[2] = {0, 0};
	uint64_t now = T0;

	(void)state;
	nd[0] = node(t, 1, now);
	nd[1] = node(t, 2, now);
	(void)mb_fris_nodes_join(t, nd[0], 1, now);
	(void)mb_fris_nodes_join(t, nd[1], 2, now);
	now = play(t, nd, 2, lose, 20, now, 0);
	assert_int_equal(nd[1]->done, 20);
	/* node 2's client dies; a new one joins and asks for chunks 0..19 again
	 * while node 1 keeps going */
	(void)mb_fris_nodes_join(t, nd[1], 3, now);
	assert_int_equal(nd[1]->done, 0);
	for (unsigned k = 0; k < 40; k++) {
		now += TICK;
		mb_fris_nodes_ask(t, nd[0], 20 + k, CB, false, now);
		mb_fris_nodes_sent(t, 20 + k, 0, CB, now + 1);
		if (k < 20) {
			mb_fris_nodes_ask(t, nd[1], k, CB, false, now);
			mb_fris_nodes_sent(t, k, 0, CB, now + 1);
		}
		(void)mb_fris_nodes_tick(t, now);
	}
	assert_int_equal(nd[1]->blocks_lost, 0);
	assert_int_equal(nd[1]->method, MB_FRIS_NODE_MCAST);
	assert_int_equal(t->st.fallbacks, 0);
	/* the same client id again (a JOIN retry) is not a new run */
	(void)mb_fris_nodes_join(t, nd[1], 3, now);
	assert_true(nd[1]->done > 0);
	mb_fris_nodes_free(t);
}

/* Progress: inferred from asks answered and not repeated (1.5 s), cleared by
 * asking again; a PROGRESS report is taken at its word; the group lacks a
 * chunk while a member that asked has not got it. */
static void
test_progress_inference(void **state)
{
	struct mb_fris_nodes *t = mk(10, 4);
	struct mb_fris_node *a = node(t, 1, T0), *r = node(t, 2, T0);
	uint64_t now = T0 + TICK;

	(void)state;
	assert_false(mb_fris_nodes_group_lacks(t, 3)); /* nobody asked yet */
	mb_fris_nodes_ask(t, a, 3, 100, false, now);
	assert_true(mb_fris_nodes_group_lacks(t, 3));
	mb_fris_nodes_sent(t, 3, 0, 100, now + 1000);
	for (unsigned k = 0; k < 14; k++)
		(void)mb_fris_nodes_tick(t, now += TICK);
	assert_false(mb_fris_node_done(t, a, 3)); /* 1.4 s: it may still ask */
	for (unsigned k = 0; k < 2; k++)
		(void)mb_fris_nodes_tick(t, now += TICK);
	assert_true(mb_fris_node_done(t, a, 3));
	assert_int_equal(mb_fris_node_progress_ppm(t, a), 100000);
	assert_false(mb_fris_nodes_group_lacks(t, 3));
	mb_fris_nodes_ask(t, a, 3, 1, true, now);
	assert_false(mb_fris_node_done(t, a, 3));
	assert_int_equal(a->done, 0);
	/* an ask never answered is forgotten after 30 s, not made done */
	mb_fris_nodes_ask(t, a, 5, 10, false, now);
	for (unsigned k = 0; k < 310; k++)
		(void)mb_fris_nodes_tick(t, now += TICK);
	assert_false(mb_fris_node_done(t, a, 5));
	assert_int_equal(a->npend, 0);
	/* reports */
	mb_fris_nodes_report(t, r, 7, 7u << 20, now);
	assert_int_equal(mb_fris_node_progress_ppm(t, r), 700000);
	mb_fris_nodes_report(t, r, 1000, 0, now);
	assert_int_equal(mb_fris_node_progress_ppm(t, r), 1000000);
	/* out-of-range chunks are ignored */
	mb_fris_nodes_ask(t, a, 10, 1, false, now);
	mb_fris_nodes_sent(t, 10, 0, 1, now + 1);
	mb_fris_nodes_sent(t, 2, 1000, 100, now + 1);
	assert_false(mb_fris_nodes_group_lacks(t, 10));
	assert_int_equal(a->requests, 3);
	mb_fris_nodes_free(t);
}

static void
test_table_bounds(void **state)
{
	struct mb_fris_nodes *t;

	(void)state;
	errno = 0;
	assert_null(mb_fris_nodes_create(0, 4, 1, 0, HZ, WIRE));
	assert_int_equal(errno, EINVAL);
	assert_null(mb_fris_nodes_create(CB, 0, 0, 0, HZ, WIRE));
	assert_null(mb_fris_nodes_create(CB, 4, 5, 0, HZ, WIRE));
	assert_null(mb_fris_nodes_create(CB, 70000, 1, 0, HZ, WIRE));
	t = mb_fris_nodes_create(CB, 2, 1, 0, HZ, WIRE);
	assert_non_null(t);
	assert_null(mb_fris_nodes_get(t, 0, T0));
	assert_non_null(mb_fris_nodes_get(t, 1, T0));
	assert_non_null(mb_fris_nodes_get(t, 2, T0));
	assert_ptr_equal(mb_fris_nodes_get(t, 1, T0), mb_fris_nodes_find(t, 1));
	assert_null(mb_fris_nodes_get(t, 3, T0));
	assert_null(mb_fris_nodes_get(t, 4, T0));
	assert_int_equal(t->st.untracked, 2);
	assert_int_equal(t->n, 2);
	mb_fris_nodes_free(t);
	mb_fris_nodes_free(NULL);
}

/*
 * The adaptive rate under loss that does not follow the rate (a lossy link,
 * 6% whatever we send): after the first cut the loss stays, becomes the
 * noise floor, and the rate stops falling far above the floor; loss that does
 * follow the rate (a full link) is still cut down to it.
 */
static void
test_rate_noise_floor(void **state)
{
	struct mb_rate_adapt ra;
	const uint64_t max = 1000000000ULL, iv = MB_RATE_ADAPT_INTERVAL_US;
	uint64_t now = T0;

	(void)state;
	assert_int_equal(mb_rate_adapt_init(&ra, max, 0, max, HZ, now), 0);
	for (unsigned k = 0; k < 100; k++) {
		uint64_t sent = ra.rate / 10;

		now += iv;
		(void)mb_rate_adapt_tick(&ra, now, sent, sent * 6 / 100, false);
	}
	assert_true(ra.noise_ppm > 40000);
	assert_true(ra.rate > max / 2);
	assert_true(ra.decreases <= 3);

	/* a 300 Mbit/s bottleneck: what is over it is lost */
	assert_int_equal(mb_rate_adapt_init(&ra, max, 0, max, HZ, now), 0);
	for (unsigned k = 0; k < 100; k++) {
		uint64_t sent = ra.rate / 10, cap = 30000000ULL;

		now += iv;
		(void)mb_rate_adapt_tick(&ra, now, sent, sent > cap ? sent - cap : 0, false);
	}
	assert_true(ra.rate < 400000000ULL);
	assert_true(ra.rate > 150000000ULL);
}

/*
 * After a cut the receivers' evidence of the new rate comes a re-request
 * delay later (1 s, MB_RATE_ADAPT_LAG intervals): until then clean
 * intervals let the rate creep by 1/32, not accelerate (before: 1/32 to
 * 4/32 from the fourth interval on, the rate tripled before the first
 * re-ask of what it sent); after the lag it accelerates as before.  The
 * verdict on the cut waits within the lag for an interval with evidence:
 * loss that comes back after intervals with little or none is still noise
 * (before: the first interval after the hold, with 2%, said it went).
 */
static void
test_rate_creep_after_cut(void **state)
{
	struct mb_rate_adapt ra;
	const uint64_t max = 1000000000ULL, iv = MB_RATE_ADAPT_INTERVAL_US;
	uint64_t now = T0, r;
	unsigned k;

	(void)state;
	assert_int_equal(mb_rate_adapt_init(&ra, max, 0, max, HZ, now), 0);
	now += iv;
	assert_true(mb_rate_adapt_tick(&ra, now, ra.rate / 10, ra.rate / 20, false));
	assert_true(ra.rate < max / 2);
	/* the hold, then 1/32 an interval up to the lag's end */
	for (k = 2; k <= MB_RATE_ADAPT_LAG; k++) {
		r = ra.rate;
		now += iv;
		(void)mb_rate_adapt_tick(&ra, now, ra.rate / 10, 0, false);
		if (k <= MB_RATE_ADAPT_HOLD)
			assert_int_equal(ra.rate, r);
		else
			assert_int_equal(ra.rate, r + r / 32);
	}
	/* past the lag: it accelerates */
	for (; k <= MB_RATE_ADAPT_LAG + 4; k++) {
		r = ra.rate;
		now += iv;
		(void)mb_rate_adapt_tick(&ra, now, ra.rate / 10, 0, false);
	}
	assert_true(ra.rate - r >= r / 32 * 3);

	/* a cut on 8%; 2% (between the thresholds: no creep, no cut) after
	 * its hold, then 7% within the lag: noise */
	assert_int_equal(mb_rate_adapt_init(&ra, max, 0, max, HZ, now), 0);
	now += iv;
	assert_true(mb_rate_adapt_tick(&ra, now, ra.rate / 10, ra.rate / 10 * 8 / 100, false));
	r = ra.rate;
	for (k = 2; k <= MB_RATE_ADAPT_LAG; k++) {
		uint64_t sent = ra.rate / 10;

		now += iv;
		(void)mb_rate_adapt_tick(&ra, now, sent, k < 7 ? sent * 2 / 100 : sent * 7 / 100,
					 false);
	}
	assert_true(ra.noise_ppm >= 60000);
	assert_true(ra.rate >= r); /* 7% is under the noise's thresholds: no cut */

	/* below ~290 Mbit/s a whole step (9 Mbit/s) is more than 1/32: within
	 * the lag the creep is 1/32 or an eighth of a step, not a step (after a
	 * cut from 50 to 19 Mbit/s the rate was back at 50 within 0.6 s, before
	 * any evidence of the cut rate came: dp test_rate_cut saw it) */
	assert_int_equal(mb_rate_adapt_init(&ra, 50000000ULL, 0, 50000000ULL, HZ, now), 0);
	now += iv;
	assert_true(mb_rate_adapt_tick(&ra, now, ra.rate / 10, ra.rate / 10 / 2, false));
	assert_true(ra.rate < 30000000ULL);
	for (k = 2; k <= MB_RATE_ADAPT_LAG; k++) {
		uint64_t st;

		r = ra.rate;
		now += iv;
		(void)mb_rate_adapt_tick(&ra, now, ra.rate / 10, 0, false);
		st = r / 32 > MB_TBUCKET_DYN_STEP / 8 ? r / 32 : MB_TBUCKET_DYN_STEP / 8;
		assert_int_equal(ra.rate, k <= MB_RATE_ADAPT_HOLD ? r : r + st);
	}
	assert_true(ra.rate < 40000000ULL);
}

/*
 * A sender that cannot reach its rate (the cap is the port's 10 Gbit/s, the
 * lcore sends 3 Gbit/s) in front of a 1 Gbit/s link: what is over the link
 * is lost.  The cut goes to what got through of what was really sent, so the
 * rate comes down to the link within a few cuts and stays near it; cutting
 * from the nominal rate left it above what the sender reached, the loss
 * stayed, was taken for noise, and the rate settled at twice the link
 * (the 1 GbE node case of mcast-mixed-1g).  Then a slow member holds the
 * rate to its pace and moves out: mb_rate_adapt_restart() starts at the
 * cap again and the next cuts find the link.
 */
static void
test_rate_sender_bound(void **state)
{
	struct mb_rate_adapt ra;
	const uint64_t max = 10000000000ULL, iv = MB_RATE_ADAPT_INTERVAL_US;
	const uint64_t can = 300000000ULL, link = 100000000ULL; /* bits per interval */
	uint64_t now = T0, lost = 0, hi = 0;

	(void)state;
	assert_int_equal(mb_rate_adapt_init(&ra, max, 0, max, HZ, now), 0);
	for (unsigned k = 0; k < 100; k++) {
		uint64_t sent = ra.rate / 10 < can ? ra.rate / 10 : can;

		now += iv;
		/* the evidence of one interval arrives with the next */
		ra.backlogged = true;
		(void)mb_rate_adapt_tick(&ra, now, sent, lost, false);
		lost = sent > link ? sent - link : 0;
		if (k >= 30 && ra.rate > hi)
			hi = ra.rate;
	}
	/* after 3 s, never more than 1.3 Gbit/s, and not starved */
	assert_true(hi < 1300000000ULL);
	assert_true(ra.rate > 600000000ULL);
	assert_true(ra.noise_ppm < 40000);

	/* held to a slow member's 60 Mbit/s, which then moves out: the
	 * restart finds the 1 Gbit/s link within a few intervals */
	for (unsigned k = 0; k < 50; k++) {
		uint64_t sent = ra.rate / 10 < can ? ra.rate / 10 : can;

		now += iv;
		ra.backlogged = true;
		(void)mb_rate_adapt_tick(&ra, now, sent, lost, false);
		lost = sent > link / 16 ? sent - link / 16 : 0;
	}
	assert_true(ra.rate < 100000000ULL);
	mb_rate_adapt_restart(&ra, now);
	assert_int_equal(ra.rate, max);
	lost = 0;
	for (unsigned k = 0; k < 5; k++) {
		uint64_t sent = ra.rate / 10 < can ? ra.rate / 10 : can;

		now += iv;
		ra.backlogged = true;
		(void)mb_rate_adapt_tick(&ra, now, sent, lost, false);
		lost = sent > link ? sent - link : 0;
	}
	assert_true(ra.rate > 800000000ULL && ra.rate < 1300000000ULL);

	/* a sender that ran out of work (5 Mbit/s of what was asked, at a
	 * 1 Gbit/s rate) seeing 10% loss: the cut goes from the rate, or the
	 * next load would start starved */
	assert_int_equal(mb_rate_adapt_init(&ra, max, 0, 1000000000ULL, HZ, now), 0);
	now += iv;
	ra.backlogged = false;
	(void)mb_rate_adapt_tick(&ra, now, 500000ULL, 50000ULL, false);
	assert_true(ra.rate > 800000000ULL && ra.rate < 1000000000ULL);
}

/*
 * A node served alone behind a slow link, simulated a millisecond at a
 * time: the dataplane sends from the node's queue as its bucket allows, at
 * most `cpu` bits/s (the lcore's reach); the node's link is a tbf of `link`
 * bits/s with 20 ms of queue (mcast.sh's shaping), which drops what does
 * not fit; the node is the stock client (doc/frisbee-protocol.md): it
 * keeps at most 8 chunks filling (plus those it started while in the
 * group), asks for 2 new ones ahead, and after 90 ms without a useful block
 * asks again for what it lacks of every chunk it has started; a completed
 * chunk makes it ask again for the others not served in the last second.
 */
#define SIM_CHUNKS 160u
#define SIM_QLEN 512u

struct sim {
	struct mb_fris_nodes *t;
	struct mb_fris_node *nd;
	struct mb_fris_fb *fb;
	uint64_t have[SIM_CHUNKS][CB / 64];
	uint32_t got[SIM_CHUNKS];
	uint64_t stamp[SIM_CHUNKS];
	bool started[SIM_CHUNKS], full[SIM_CHUNKS];
	uint32_t next_new, filling, nfull;
	uint64_t last_useful;
	/* the link: a tbf queue of BLOCKs (chunk << 16 | block) */
	uint32_t q[SIM_QLEN], qh, qn, qmax;
	uint64_t link_bits;	/* tokens of the link, bits */
	uint64_t link, cpu;	/* bits/s */
	uint64_t cpu_bits;	/* tokens of the sender, bits */
	unsigned lossy_pct;	/* the link also loses this many in 100, at random */
	uint64_t rate_lo;	/* the lowest rate seen (sim_run) */
	uint64_t flood_until;	/* until this clock the group's traffic fills the link */
	uint64_t group_bps;	/* until then, the group's BLOCKs into the same queue */
	uint64_t group_bits;
	uint32_t rnd;
	struct mb_fris_run run;
	/* the group (sim_group_setup): the session's queue, bucket and
	 * adaptive rate, run as dp_fris runs them; the node a member of it
	 * until it is moved out */
	bool group;
	struct mb_fris_wq *gwq;
	struct mb_tbucket gtb;
	struct mb_rate_adapt gra;
	struct mb_fris_run grun;
	uint64_t cap;		/* the session's ceiling (the port's rate) */
	uint64_t g_tbits;	/* bits to the group since the last tick */
	bool g_idle;		/* its queue ran dry since the last tick */
	uint64_t fb_seen;	/* fallbacks seen (the rate restarts on one) */
	uint64_t g_hi, g_lo;	/* its highest and lowest rate (sim_group_run) */
	uint64_t last_rx, silent_max; /* a BLOCK last reached the node; the longest gap */
	/* measured */
	uint64_t sent, dropped, useful;
};

static void
sim_ask(struct sim *s, uint32_t c, bool retry, uint64_t now)
{
	uint8_t map[MB_FRIS_MAP_BYTES];
	uint32_t miss = 0;

	memset(map, 0, sizeof(map));
	for (uint32_t b = 0; b < CB; b++) {
		if (!(s->have[c][b / 64] >> (b % 64) & 1)) {
			map[b / 8] |= (uint8_t)(1u << (b % 8));
			miss++;
		}
	}
	if (miss == 0)
		return;
	mb_fris_nodes_ask(s->t, s->nd, c, miss, retry, now);
	if (s->group && s->nd->method == MB_FRIS_NODE_MCAST)
		(void)mb_fris_wq_enqueue_map(s->gwq, c, map);
	else
		(void)mb_fris_wq_enqueue_map(mb_fris_nodes_fb(s->t, s->nd)->wq, c, map);
	s->stamp[c] = now;
}

/* The stock client's RequestChunk(timedout). */
static void
sim_request(struct sim *s, bool timedout, uint64_t now)
{
	unsigned ahead = 0;

	for (uint32_t c = 0; c < SIM_CHUNKS; c++)
		if (s->started[c] && !s->full[c] && (timedout || now - s->stamp[c] >= 1000000))
			sim_ask(s, c, true, now);
	while (s->filling < 8 && ahead < 2 && s->next_new < SIM_CHUNKS) {
		uint32_t c = s->next_new++;

		if (s->started[c])
			continue;
		s->started[c] = true;
		s->filling++;
		ahead++;
		sim_ask(s, c, false, now);
	}
}

static void
sim_block(struct sim *s, uint32_t c, uint32_t b, uint64_t now)
{
	if (s->full[c] || (s->have[c][b / 64] >> (b % 64) & 1))
		return;
	if (!s->started[c]) {
		s->started[c] = true;
		s->filling++;
	}
	s->have[c][b / 64] |= 1ULL << (b % 64);
	s->useful++;
	s->stamp[c] = now;
	s->last_useful = now;
	if (++s->got[c] == CB) {
		s->full[c] = true;
		s->filling--;
		s->nfull++;
		sim_request(s, false, now);
	}
}

/* The sender's pass over one queue: as many BLOCKs as its bucket and the
 * lcore's reach allow, into the link's queue (tail drop); `fb` NULL: the
 * group's, counted for the table as dp_fris does. */
static void
sim_send(struct sim *s, struct mb_fris_wq *wq, struct mb_fris_run *run, struct mb_tbucket *tb,
	 struct mb_fris_fb *fb, uint64_t now)
{
	while (s->cpu_bits >= WIRE) {
		struct mb_fris_wq_item it;

		if (!run->in) {
			if (mb_fris_wq_dequeue(wq, &it) != 0) {
				mb_fris_wq_idle(wq);
				if (fb != NULL)
					fb->t_idle = true;
				else
					s->g_idle = true;
				break;
			}
			if (it.kind != MB_FRIS_WQ_BLOCKS)
				continue;
			*run = (struct mb_fris_run){true, it.chunk, it.block, it.count};
		}
		if (tb->rate && !mb_tbucket_take(tb, WIRE, now))
			break;
		s->cpu_bits -= WIRE;
		if (s->qn < s->qmax)
			s->q[(s->qh + s->qn++) % SIM_QLEN] = run->chunk << 16 | run->block;
		else
			s->dropped++;
		s->sent++;
		if (fb != NULL) {
			mb_fris_nodes_fb_sent(s->t, fb, run->chunk, 1);
		} else {
			mb_fris_nodes_sent(s->t, run->chunk, run->block, 1, now);
			s->g_tbits += WIRE;
		}
		run->block++;
		if (--run->left == 0)
			run->in = false;
	}
}

/* One millisecond: the sender, the link, the client; a tick every 100. */
static void
sim_ms(struct sim *s, uint64_t now)
{
	uint64_t before = s->sent;
	struct mb_fris_fb *fb = mb_fris_nodes_fb(s->t, s->nd);

	s->cpu_bits += s->cpu / 1000;
	if (s->group)
		sim_send(s, s->gwq, &s->grun, &s->gtb, NULL, now);
	if (fb != NULL)
		sim_send(s, fb->wq, &s->run, &fb->tb, fb, now);
	if (s->sent == before && s->cpu_bits > 4 * WIRE)
		s->cpu_bits = 4 * WIRE; /* an idle sender saves nothing up */
	if (now < s->flood_until && s->group_bps != 0) {
		/* the group's BLOCKs share the link's queue (tail drop) */
		s->group_bits += s->group_bps / 1000;
		while (s->group_bits >= WIRE) {
			s->group_bits -= WIRE;
			if (s->qn < s->qmax)
				s->q[(s->qh + s->qn++) % SIM_QLEN] = UINT32_MAX;
		}
	}
	s->link_bits += now < s->flood_until && s->group_bps == 0 ? 0 : s->link / 1000;
	while (s->qn > 0 && s->link_bits >= WIRE) {
		uint32_t v = s->q[s->qh];

		s->qh = (s->qh + 1) % SIM_QLEN;
		s->qn--;
		s->link_bits -= WIRE;
		if (v == UINT32_MAX)
			continue; /* the group's */
		if (now - s->last_rx > s->silent_max)
			s->silent_max = now - s->last_rx;
		s->last_rx = now;
		s->rnd = s->rnd * 1103515245u + 12345u;
		if ((s->rnd >> 16) % 100 < s->lossy_pct)
			continue; /* lost on the way */
		sim_block(s, v >> 16, v & 0xffff, now);
	}
	if (s->qn == 0 && s->link_bits > 4 * WIRE)
		s->link_bits = 4 * WIRE;
	if (now - s->last_useful >= 90000) {
		s->last_useful = now;
		sim_request(s, true, now);
	}
}

/* The node's side of a simulation: `partial` chunks started with a quarter
 * of each, its link (`link` bits/s, 20 ms of queue, `lossy_pct` lost at
 * random), the sender's reach `cpu`. */
static void
sim_node(struct sim *s, uint32_t partial, uint64_t link, uint64_t cpu, unsigned lossy_pct)
{
	for (uint32_t c = 0; c < partial; c++) {
		s->started[c] = true;
		s->filling++;
		for (uint32_t b = 0; b < CB; b += 4) {
			s->have[c][b / 64] |= 1ULL << (b % 64);
			s->got[c]++;
		}
	}
	s->next_new = partial;
	s->link = link;
	s->cpu = cpu;
	s->lossy_pct = lossy_pct;
	s->rnd = 12345;
	s->qmax = (uint32_t)(link / 50 / WIRE); /* 20 ms of the link */
}

/* Set a node up served alone (moved out for JOIN: its replies did not
 * reach it), having started `partial` chunks in the group with a quarter
 * of each. */
static uint64_t
sim_setup(struct sim *s, uint32_t partial, uint64_t link, uint64_t cpu, unsigned lossy_pct)
{
	uint64_t now = T0;

	memset(s, 0, sizeof(*s));
	s->t = mb_fris_nodes_create((uint64_t)SIM_CHUNKS * CB, 16, 4, 1u << 22, HZ, WIRE);
	assert_non_null(s->t);
	/* the group at 1 Gbit/s under a 10 Gbit/s port */
	mb_fris_nodes_set_rates(s->t, 1000000000ULL, 10000000000ULL, now);
	s->nd = node(s->t, 5, now);
	for (unsigned i = 0; i < 4; i++)
		(void)mb_fris_nodes_join(s->t, s->nd, 7, now += 100000);
	s->fb = mb_fris_nodes_fb(s->t, s->nd);
	assert_non_null(s->fb);
	sim_node(s, partial, link, cpu, lossy_pct);
	s->last_useful = now;
	return now;
}

/* Run the simulation until the node has every chunk or `limit_ms`; the
 * counters from `from_ms` on go to *after (sent, dropped, useful), the
 * highest rate from then to *hi, the lowest to s->rate_lo.  Returns the
 * milliseconds it took.  MB_SIM_TRACE=1 in the environment prints every
 * tick (rate, sent, loss evidence and what it is of, queue, chunks). */
static unsigned
sim_run(struct sim *s, uint64_t now, unsigned limit_ms, unsigned from_ms, uint64_t *after,
	uint64_t *hi)
{
	unsigned ms;

	*hi = 0;
	sim_request(s, true, now);
	for (ms = 1; ms <= limit_ms && s->nfull < SIM_CHUNKS; ms++) {
		now += 1000;
		sim_ms(s, now);
		if (ms % 100 == 0) {
			uint64_t ts = s->fb->t_sent, tl = s->nd->t_lost, tr = s->nd->t_ref;

			(void)mb_fris_nodes_tick(s->t, now);
			if (getenv("MB_SIM_TRACE") != NULL)
				print_message("%u: rate %" PRIu64 " sent %" PRIu64 " lost %" PRIu64
					      " of %" PRIu64 " queued %u full %u\n", ms,
					      s->fb->ra.rate, ts, tl, tr,
					      mb_fris_wq_depth(s->fb->wq), s->nfull);
			if (ms >= from_ms && s->fb->ra.rate > *hi)
				*hi = s->fb->ra.rate;
			if (ms >= from_ms && (s->rate_lo == 0 || s->fb->ra.rate < s->rate_lo))
				s->rate_lo = s->fb->ra.rate;
		}
		if (ms == from_ms) {
			after[0] = s->sent;
			after[1] = s->dropped;
			after[2] = s->useful;
		}
	}
	after[0] = s->sent - after[0];
	after[1] = s->dropped - after[1];
	after[2] = s->useful - after[2];
	print_message("alone, link %" PRIu64 " Mbit/s, lossy %u%%: %u ms, %u/%u chunks, sent %"
		      PRIu64 " dropped %" PRIu64 " (after %u ms: sent %" PRIu64 " dropped %"
		      PRIu64 " useful %" PRIu64 ", rate at most %" PRIu64 "), rate %" PRIu64
		      ", loss evidence %" PRIu64 "\n",
		      s->link / 1000000, s->lossy_pct, ms - 1, s->nfull, SIM_CHUNKS, s->sent,
		      s->dropped, from_ms, after[0], after[1], after[2], *hi, s->fb->ra.rate,
		      s->nd->blocks_lost);
	return ms - 1;
}

/* The same node a member of a group sending at most `cpu` bits/s under a
 * ceiling of `cap` (the port's rate), the group's rate adaptive from
 * `cap`; it started `partial` chunks with a quarter of each. */
static uint64_t
sim_group_setup(struct sim *s, uint32_t partial, uint64_t link, uint64_t cpu, uint64_t cap,
		unsigned lossy_pct)
{
	uint64_t now = T0;

	memset(s, 0, sizeof(*s));
	s->t = mb_fris_nodes_create((uint64_t)SIM_CHUNKS * CB, 16, 4, 1u << 22, HZ, WIRE);
	assert_non_null(s->t);
	s->group = true;
	s->cap = cap;
	s->gwq = mb_fris_wq_create((uint64_t)SIM_CHUNKS * CB, 0);
	assert_non_null(s->gwq);
	assert_int_equal(mb_rate_adapt_init(&s->gra, cap, 0, cap, HZ, now), 0);
	assert_int_equal(mb_tbucket_init(&s->gtb, cap, cap / 500, HZ, now), 0);
	mb_fris_nodes_set_rates(s->t, cap, cap, now);
	s->nd = node(s->t, 5, now);
	assert_false(mb_fris_nodes_join(s->t, s->nd, 7, now));
	sim_node(s, partial, link, cpu, lossy_pct);
	s->last_useful = s->last_rx = now;
	return now;
}

/* The tick of a group session, as dp_fris's fris_rate_tick: the table's
 * (fallbacks, the rates of nodes alone), then the group's rate on the loss
 * signal, started again at the ceiling when a node moved out. */
static void
sim_group_tick(struct sim *s, uint64_t now)
{
	uint64_t tl = s->nd->t_lost, tr = s->nd->t_ref;
	uint32_t loss = mb_fris_nodes_tick(s->t, now);
	uint64_t lost = (uint64_t)((unsigned __int128)s->g_tbits * loss / 1000000);

	if (s->t->st.fallbacks != s->fb_seen) {
		s->fb_seen = s->t->st.fallbacks;
		if (s->gra.rate < s->cap) {
			mb_rate_adapt_restart(&s->gra, now);
			mb_fris_nodes_rate_cut(s->t, now);
		}
	}
	s->gra.backlogged = !s->g_idle;
	if (mb_rate_adapt_tick(&s->gra, now, s->g_tbits, lost, false) || s->gra.rate != s->gtb.rate) {
		uint64_t b = s->gra.rate / 500;

		if (s->gra.rate < s->gtb.rate)
			mb_fris_nodes_rate_cut(s->t, now);
		mb_tbucket_set_rate(&s->gtb, s->gra.rate, b > 4 * WIRE ? b : 4 * WIRE, now);
	}
	if (getenv("MB_SIM_TRACE") != NULL)
		print_message("%" PRIu64 ": group rate %" PRIu64 " sent %" PRIu64 " loss %u"
			      " (lost %" PRIu64 " of %" PRIu64 ") queued %u, node %s alone-rate %"
			      PRIu64 " full %u\n", (uint64_t)((now - T0) / 1000), s->gra.rate,
			      (uint64_t)(s->g_tbits / WIRE), loss, tl, tr,
			      mb_fris_wq_depth(s->gwq),
			      s->nd->method == MB_FRIS_NODE_MCAST ? "mcast" : "ucast",
			      mb_fris_nodes_fb(s->t, s->nd) ? mb_fris_nodes_fb(s->t, s->nd)->ra.rate : 0,
			      s->nfull);
	s->g_tbits = 0;
	s->g_idle = false;
	mb_fris_nodes_set_rates(s->t, s->gtb.rate, s->cap, now);
}

/* Run it until the node has every chunk or `limit_ms`; the group's
 * highest and lowest rate from `from_ms` on go to s->g_hi and s->g_lo, the
 * longest the node got no BLOCK to s->silent_max.  Returns the
 * milliseconds it took (MB_SIM_TRACE=1 prints every tick). */
static unsigned
sim_group_run(struct sim *s, uint64_t now, unsigned limit_ms, unsigned from_ms)
{
	unsigned ms;

	sim_request(s, true, now);
	for (ms = 1; ms <= limit_ms && s->nfull < SIM_CHUNKS; ms++) {
		now += 1000;
		sim_ms(s, now);
		if (ms % 100 != 0)
			continue;
		sim_group_tick(s, now);
		if (ms >= from_ms && s->nd->method == MB_FRIS_NODE_MCAST) {
			if (s->gra.rate > s->g_hi)
				s->g_hi = s->gra.rate;
			if (s->g_lo == 0 || s->gra.rate < s->g_lo)
				s->g_lo = s->gra.rate;
		}
	}
	if (now - s->last_rx > s->silent_max)
		s->silent_max = now - s->last_rx;
	print_message("last member, link %" PRIu64 " Mbit/s, lossy %u%%: %u ms, %u/%u chunks, "
		      "sent %" PRIu64 " dropped %" PRIu64 " useful %" PRIu64 ", group rate %"
		      PRIu64 "-%" PRIu64 " after %u ms, longest silence %" PRIu64 " ms, %s (%s)\n",
		      s->link / 1000000, s->lossy_pct, ms - 1, s->nfull, SIM_CHUNKS, s->sent,
		      s->dropped, s->useful, s->g_lo, s->g_hi, from_ms,
		      (uint64_t)(s->silent_max / 1000),
		      s->nd->method == MB_FRIS_NODE_MCAST ? "in the group" : "served alone",
		      mb_fris_node_reason_str(s->nd->reason));
	return ms - 1;
}

static void
sim_free(struct sim *s)
{
	mb_fris_wq_free(s->gwq);
	mb_fris_nodes_free(s->t);
}

/*
 * mcast-mixed's known flake: the throttled stock client, the last member
 * of the group, behind a 100 Mbit/s link (a quarter of what a client alone
 * gets), the lcore reaching 900 Mbit/s under a 10 Gbit/s port.  Of what the
 * group sends at its high rate it gets a ninth: its loss (about 88%) is
 * under UNREACHED's 90%, and LOSS needs another member, so the group's
 * rate is the only remedy.  The rate must come down to its link and stay
 * near it, not saw between the floor and the sender's reach (its evidence
 * comes a re-request delay, about 1 s, after the sends it is of, while the
 * rate crept back by up to 4/32 a tick), and the node must finish in about
 * what its link allows and never wait anywhere near the stock client's
 * 20 s without a BLOCK.
 */
static void
test_last_member_lossy_paced(void **state)
{
	/* started 48 chunks in the group or none; a clean or a 5% lossy
	 * link; the time it may take */
	static const struct {
		uint32_t partial;
		unsigned lossy, limit_ms;
	} run[] = {{48, 0, 17500}, {0, 0, 19500}, {48, 5, 19500}};
	static struct sim s;
	const uint64_t link = 100000000ULL;

	(void)state;
	for (unsigned i = 0; i < sizeof(run) / sizeof(run[0]); i++) {
		uint64_t now = sim_group_setup(&s, run[i].partial, link, 900000000ULL,
					       10000000000ULL, run[i].lossy);
		unsigned ms = sim_group_run(&s, now, 60000, 5000);

		assert_int_equal(s.nfull, SIM_CHUNKS);
		/* 160 MiB at 100 Mbit/s: 13.4 s (before: 20.7-22.0 s) */
		assert_true(ms <= run[i].limit_ms);
		/* still in the group: paced to its link, never at the floor
		 * nor far above (before: 9 to 295 Mbit/s) */
		assert_int_equal(s.nd->method, MB_FRIS_NODE_MCAST);
		assert_true(s.g_lo >= link * 7 / 10);
		assert_true(s.g_hi <= link * 2);
		assert_true(s.silent_max < 1000000);
		sim_free(&s);
	}
}

/*
 * The throttled client of mcast-mixed, moved out of the group: a 100 Mbit/s
 * link, 48 chunks started in the group, a sender that reaches 670 Mbit/s.
 * Its own rate comes down to its link and stays near it, and it gets most
 * of its link: it completes.  Before, its rate followed its loss against
 * what went out in the tick its re-asks came in (they come in bursts when
 * its queue runs dry, a re-request delay after the sends they are of): each
 * burst read as 100% and cut the rate to an eighth, a rate creeping back
 * from there held to 2 BLOCKs a millisecond by a 1 ms bucket, and the
 * re-asks of chunks pushed out of its 16 pending asks were no evidence at
 * all; in this run it was sent 670 Mbit/s for 0.6 s, then sawed between
 * 9 and 340 Mbit/s and sat at 24 Mbit/s: 116 of 160 chunks in 30 s.
 */
static void
test_alone_paced_to_link(void **state)
{
	static struct sim s;
	const uint64_t link = 100000000ULL;
	uint64_t now = sim_setup(&s, 48, link, 670000000ULL, 0), after[3], hi;
	unsigned ms;

	(void)state;
	ms = sim_run(&s, now, 30000, 5000, after, &hi);
	/* it completes: 160 MiB at 100 Mbit/s is 13.4 s */
	assert_int_equal(s.nfull, SIM_CHUNKS);
	assert_true(ms <= 20000);
	/* after the first 5 s: at most 1 BLOCK in 5 dropped at its link, its
	 * rate never above twice the link, and it got 3/4 of its link */
	assert_true(after[1] * 5 <= after[0]);
	assert_true(hi <= link * 2);
	assert_true(after[2] * WIRE * 4 >= link * 3 * (ms - 5000) / 1000);
	/* its loss evidence is what its link dropped (and a few in flight
	 * in the link's queue when it asked again), no more */
	assert_true(s.nd->blocks_lost <= s.dropped + s.dropped / 100);
	assert_true(s.nd->blocks_lost * 10 >= s.dropped * 9);
	mb_fris_nodes_free(s.t);
}

/*
 * mcast-mixed-1g's throttled client, moved out for loss while the group
 * still sent to the others: the group's traffic filled its 100 Mbit/s link
 * for the first 5 s (nothing of its own got through), then the others
 * finished.  Its rate must find the link again within a few seconds, not
 * creep for tens of seconds (in a system run it sat at 9-18 Mbit/s and
 * took 57 s for 128 MiB): it completes within 5 s of what the link allows
 * after the flood.  Then the group's 400 Mbit/s share its link's queue for
 * 10 s: loss that does not follow its own rate is its noise floor, and it
 * keeps the share its BLOCKs get (before that floor, cut to one step, it
 * got next to nothing until the group went quiet).
 */
static void
test_alone_after_flood(void **state)
{
	static struct sim s;
	uint64_t now = sim_setup(&s, 0, 100000000ULL, 670000000ULL, 0), after[3], hi;
	unsigned ms;

	(void)state;
	s.flood_until = now + 5000000;
	ms = sim_run(&s, now, 40000, 5000, after, &hi);
	assert_int_equal(s.nfull, SIM_CHUNKS);
	assert_true(ms <= 5000 + 13400 + 5000);
	mb_fris_nodes_free(s.t);

	/* the group's 400 Mbit/s share its queue for 10 s: its BLOCKs get a
	 * share of the link in proportion to what it is sent, and cutting
	 * its rate on a loss that does not follow it would lose that share */
	now = sim_setup(&s, 48, 100000000ULL, 670000000ULL, 0);
	s.flood_until = now + 10000000;
	s.group_bps = 400000000ULL;
	ms = sim_run(&s, now, 60000, 10000, after, &hi);
	assert_int_equal(s.nfull, SIM_CHUNKS);
	print_message("shared with the group for 10 s: %u ms\n", ms);
	assert_true(ms <= 25000);
	mb_fris_nodes_free(s.t);
}

/* Served alone on a 1 Gbit/s link, the node gets what the sender reaches
 * (the rate does not sit low); on one that loses 5% at any rate (not a full
 * link), the rate does not follow that loss down (the noise floor): the
 * stock client's re-request pattern, not the rate, makes that load slower
 * (it asks again 90 ms after its queue ran dry, or when a chunk completes,
 * 8 chunks at most in progress). */
static void
test_alone_fast_and_lossy_links(void **state)
{
	static struct sim s;
	uint64_t now, after[3], hi;
	unsigned ms;

	(void)state;
	now = sim_setup(&s, 0, 1000000000ULL, 670000000ULL, 0);
	ms = sim_run(&s, now, 20000, 1000, after, &hi);
	assert_int_equal(s.nfull, SIM_CHUNKS);
	assert_true(ms <= 3000); /* 160 MiB at 670 Mbit/s: 2.2 s */
	mb_fris_nodes_free(s.t);

	now = sim_setup(&s, 0, 1000000000ULL, 670000000ULL, 5);
	ms = sim_run(&s, now, 20000, 1000, after, &hi);
	assert_int_equal(s.nfull, SIM_CHUNKS);
	assert_true(ms <= 10000);
	assert_true(s.rate_lo >= 670000000ULL); /* never below what the sender reaches */
	mb_fris_nodes_free(s.t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rerequests_move_to_unicast),
		cmocka_unit_test(test_budget_spent_returns_to_group),
		cmocka_unit_test(test_lone_unreached),
		cmocka_unit_test(test_lone_unreached_slow_group),
		cmocka_unit_test(test_lone_lossy_stays),
		cmocka_unit_test(test_last_member_long_queue),
		cmocka_unit_test(test_last_member_reached_stays),
		cmocka_unit_test(test_last_member_whole_resends),
		cmocka_unit_test(test_no_progress_while_others_progress),
		cmocka_unit_test(test_slow_node_stays),
		cmocka_unit_test(test_lossy_not_moved),
		cmocka_unit_test(test_persistent_loss_and_full_slots),
		cmocka_unit_test(test_fb_start_rate),
		cmocka_unit_test(test_deaf_waiting_moved),
		cmocka_unit_test(test_waiting_turn_stays),
		cmocka_unit_test(test_joins),
		cmocka_unit_test(test_restart_without_leave),
		cmocka_unit_test(test_progress_inference),
		cmocka_unit_test(test_table_bounds),
		cmocka_unit_test(test_rate_noise_floor),
		cmocka_unit_test(test_rate_sender_bound),
		cmocka_unit_test(test_rate_creep_after_cut),
		cmocka_unit_test(test_alone_paced_to_link),
		cmocka_unit_test(test_alone_fast_and_lossy_links),
		cmocka_unit_test(test_alone_after_flood),
		cmocka_unit_test(test_last_member_lossy_paced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
