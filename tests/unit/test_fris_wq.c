/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of proto/fris_wq (frisbeed's work-queue rules, one by one) and
 * proto/mb_tbucket (token-bucket accuracy on a simulated clock from 10 Mbit/s
 * to 100 Gbit/s, and the -D controller's decisions).  No real time is read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fris_wq.h"
#include "mb_tbucket.h"

static void
expect_run(struct mb_fris_wq *wq, uint32_t chunk, uint32_t block, uint32_t count)
{
	struct mb_fris_wq_item it;

	assert_int_equal(mb_fris_wq_dequeue(wq, &it), 0);
	assert_int_equal(it.kind, MB_FRIS_WQ_BLOCKS);
	assert_int_equal(it.chunk, chunk);
	assert_int_equal(it.block, block);
	assert_int_equal(it.count, count);
}

static void
test_wq_fifo_and_runs(void **state)
{
	struct mb_fris_wq *wq = mb_fris_wq_create(10 * 1024, 0);
	struct mb_fris_wq_item it;
	uint8_t map[MB_FRIS_MAP_BYTES] = {0};

	(void)state;
	assert_non_null(wq);
	assert_int_equal(mb_fris_wq_nchunks(wq), 10);
	assert_int_equal(mb_fris_wq_dequeue(wq, &it), -ENOENT);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 3, 0, 1024), MB_FRIS_WQ_APPENDED);
	mb_fris_map_set_range(map, 10, 5);
	mb_fris_map_set_range(map, 100, 2);
	assert_int_equal(mb_fris_wq_enqueue_map(wq, 5, map), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_depth(wq), 2);
	/* FIFO; a full chunk in one run; partial elements run by run. */
	expect_run(wq, 3, 0, 1024);
	expect_run(wq, 5, 10, 5);
	expect_run(wq, 5, 100, 2);
	assert_int_equal(mb_fris_wq_dequeue(wq, &it), -ENOENT);
	assert_true(mb_fris_wq_empty(wq));
	assert_int_equal(mb_fris_wq_stats(wq)->runs, 3);
	assert_int_equal(mb_fris_wq_stats(wq)->blocks, 1031);
	mb_fris_wq_free(wq);
	mb_fris_wq_free(NULL);
}

static void
test_wq_joins_first(void **state)
{
	struct mb_fris_wq *wq = mb_fris_wq_create(2048, 0);
	struct mb_fris_wq_item it;
	unsigned int i;

	(void)state;
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 0, 0, 1024), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_join(wq, 1, 42), 0);
	assert_int_equal(mb_fris_wq_enqueue_join(wq, 2, 43), 0);
	assert_int_equal(mb_fris_wq_enqueue_join(wq, 2, 43), 0); /* duplicate */
	assert_int_equal(mb_fris_wq_dequeue(wq, &it), 0);
	assert_int_equal(it.kind, MB_FRIS_WQ_JOIN);
	assert_int_equal(it.version, 1);
	assert_int_equal(it.clientid, 42);
	assert_int_equal(mb_fris_wq_dequeue(wq, &it), 0);
	assert_int_equal(it.version, 2);
	assert_int_equal(it.clientid, 43);
	expect_run(wq, 0, 0, 1024);
	assert_int_equal(mb_fris_wq_stats(wq)->join_dups, 1);
	for (i = 0; i < MB_FRIS_WQ_MAX_JOINS; i++)
		assert_int_equal(mb_fris_wq_enqueue_join(wq, 1, i), 0);
	assert_int_equal(mb_fris_wq_enqueue_join(wq, 1, 1000), -ENOSPC);
	assert_int_equal(mb_fris_wq_stats(wq)->join_drops, 1);
	mb_fris_wq_free(wq);
}

static void
test_wq_merge(void **state)
{
	struct mb_fris_wq *wq = mb_fris_wq_create(10 * 1024, 0);
	uint8_t map[MB_FRIS_MAP_BYTES] = {0};

	(void)state;
	/* Two partial requests for one chunk become one element. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 4, 0, 10), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 7, 0, 1), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 4, 20, 10), MB_FRIS_WQ_MERGED);
	mb_fris_map_set_range(map, 5, 10); /* overlaps and bridges 10..14 */
	assert_int_equal(mb_fris_wq_enqueue_map(wq, 4, map), MB_FRIS_WQ_MERGED);
	assert_int_equal(mb_fris_wq_depth(wq), 2);
	/* Merged in place: chunk 4 keeps its place ahead of chunk 7. */
	expect_run(wq, 4, 0, 15);
	expect_run(wq, 4, 20, 10);
	expect_run(wq, 7, 0, 1);

	/* A full-chunk element absorbs everything. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 2, 0, 1024), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 2, 500, 3), MB_FRIS_WQ_MERGED);
	assert_int_equal(mb_fris_wq_stats(wq)->absorbed, 1);
	/* A partial element turned full by a full request. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 3, 500, 3), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 3, 0, 1024), MB_FRIS_WQ_MERGED);
	expect_run(wq, 2, 0, 1024);
	expect_run(wq, 3, 0, 1024);
	assert_true(mb_fris_wq_empty(wq));
	assert_int_equal(mb_fris_wq_stats(wq)->merged, 4);
	assert_int_equal(mb_fris_wq_stats(wq)->appended, 4);
	mb_fris_wq_free(wq);
}

static void
test_wq_inflight(void **state)
{
	struct mb_fris_wq *wq = mb_fris_wq_create(10 * 1024, 0);

	(void)state;
	/* Head element in flight: runs 0..9 sent, 100..109 remain. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 1, 0, 10), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 1, 100, 10), MB_FRIS_WQ_MERGED);
	expect_run(wq, 1, 0, 10);
	/* Starts beyond the run in flight: merged into the head. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 1, 50, 2), MB_FRIS_WQ_MERGED);
	/* Starts inside the run in flight: appended, sent again later. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 1, 5, 2), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_depth(wq), 2);
	/* The newest element of chunk 1 is now the tail: it takes merges. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 1, 0, 1), MB_FRIS_WQ_MERGED);
	expect_run(wq, 1, 50, 2);
	expect_run(wq, 1, 100, 10);
	expect_run(wq, 1, 0, 1);
	expect_run(wq, 1, 5, 2);
	assert_true(mb_fris_wq_empty(wq));

	/* A full request for the chunk being sent in full is dropped... */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 6, 0, 1024), MB_FRIS_WQ_APPENDED);
	expect_run(wq, 6, 0, 1024);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 6, 0, 1024), MB_FRIS_WQ_DROPPED);
	assert_int_equal(mb_fris_wq_stats(wq)->dropped_inflight, 1);
	/* ...but a partial one is queued, and once the run is done a full
	 * one is too. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 6, 3, 1), MB_FRIS_WQ_APPENDED);
	mb_fris_wq_idle(wq);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 6, 0, 1024), MB_FRIS_WQ_MERGED);
	expect_run(wq, 6, 0, 1024);
	mb_fris_wq_free(wq);
}

static void
test_wq_short_last_chunk_and_bounds(void **state)
{
	/* 2.5 chunks: chunk 2 has 512 blocks. */
	struct mb_fris_wq *wq = mb_fris_wq_create(2 * 1024 + 512, 0);
	struct mb_fris_wq *small;
	uint8_t map[MB_FRIS_MAP_BYTES];
	uint32_t c;

	(void)state;
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 2, 0, 1024), MB_FRIS_WQ_APPENDED);
	expect_run(wq, 2, 0, 512);
	/* Full request for the (short) chunk in flight is dropped. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 2, 0, 512), MB_FRIS_WQ_DROPPED);
	/* Blocks past the end only: nothing to send. */
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 2, 600, 10), MB_FRIS_WQ_DROPPED);
	memset(map, 0xff, sizeof(map));
	mb_fris_wq_idle(wq);
	assert_int_equal(mb_fris_wq_enqueue_map(wq, 2, map), MB_FRIS_WQ_APPENDED);
	expect_run(wq, 2, 0, 512);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 3, 0, 1), MB_FRIS_WQ_DROPPED);
	assert_int_equal(mb_fris_wq_stats(wq)->dropped_empty, 2);

	/* Natural bound: every chunk queued once, plus the head in flight. */
	mb_fris_wq_reset(wq);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 0, 0, 10), MB_FRIS_WQ_APPENDED);
	expect_run(wq, 0, 0, 5 + 5);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 1, 0, 10), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_range(wq, 1, 20, 10), MB_FRIS_WQ_MERGED);
	expect_run(wq, 1, 0, 10); /* head in flight keeps 20..29 */
	for (c = 0; c < 3; c++)
		assert_int_not_equal(mb_fris_wq_enqueue_range(wq, c, 0, 2), MB_FRIS_WQ_DROPPED);
	assert_int_equal(mb_fris_wq_depth(wq), 4);
	assert_int_equal(mb_fris_wq_stats(wq)->dropped_full, 0);
	mb_fris_wq_free(wq);

	/* An explicit smaller bound turns the excess into counted drops. */
	small = mb_fris_wq_create(100 * 1024, 2);
	assert_int_equal(mb_fris_wq_enqueue_range(small, 1, 0, 1), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_range(small, 2, 0, 1), MB_FRIS_WQ_APPENDED);
	assert_int_equal(mb_fris_wq_enqueue_range(small, 3, 0, 1), MB_FRIS_WQ_DROPPED);
	assert_int_equal(mb_fris_wq_enqueue_range(small, 2, 5, 1), MB_FRIS_WQ_MERGED);
	assert_int_equal(mb_fris_wq_stats(small)->dropped_full, 1);
	mb_fris_wq_free(small);

	errno = 0;
	assert_null(mb_fris_wq_create(0, 0));
	assert_int_equal(errno, EINVAL);
}

/* ---- token bucket ---------------------------------------------------------- */

/* Send 1114-byte frames as fast as the bucket allows for `secs` simulated
 * seconds, stepping the clock by `step` ns; return the achieved rate. */
static double
simulate(uint64_t rate, uint64_t hz, uint64_t step, double secs)
{
	struct mb_tbucket tb;
	const uint64_t bits = 1114 * 8;
	uint64_t t = 1000, end = t + (uint64_t)(secs * (double)hz), sent = 0;

	assert_int_equal(mb_tbucket_init(&tb, rate, 0, hz, t), 0);
	/* Start empty so the burst does not count. */
	tb.tokens = 0;
	while (t < end) {
		sent += mb_tbucket_take_n(&tb, bits, 4096, t);
		t += step;
	}
	return (double)sent * bits / secs;
}

static void
test_tbucket_accuracy(void **state)
{
	static const uint64_t rates[] = {10000000ULL, 100000000ULL, 1000000000ULL,
					 10000000000ULL, 40000000000ULL, 100000000000ULL};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		/* ns clock polled every 1-10 us; and a 2.3 GHz TSC. */
		double secs = rates[i] >= 10000000000ULL ? 0.05 : 0.5;
		double r1 = simulate(rates[i], 1000000000ULL, 1000 + 7 * i, secs);
		double r2 = simulate(rates[i], 2300000000ULL, 23000, secs);
		double err1 = (r1 - (double)rates[i]) / (double)rates[i];
		double err2 = (r2 - (double)rates[i]) / (double)rates[i];

		if (err1 < 0)
			err1 = -err1;
		if (err2 < 0)
			err2 = -err2;
		print_message("rate %llu: ns %.5f%%, tsc %.5f%%\n",
			      (unsigned long long)rates[i], err1 * 100, err2 * 100);
		assert_true(err1 < 0.002);
		assert_true(err2 < 0.002);
	}
}

static void
test_tbucket_basics(void **state)
{
	struct mb_tbucket tb;

	(void)state;
	assert_int_equal(mb_tbucket_init(&tb, 1000, 100, 0, 0), -EINVAL);
	/* 1000 bit/s, burst 100 bits, ns clock. */
	assert_int_equal(mb_tbucket_init(&tb, 1000, 100, 1000000000ULL, 0), 0);
	assert_true(mb_tbucket_take(&tb, 100, 0));
	assert_false(mb_tbucket_take(&tb, 1, 0));
	assert_int_equal(mb_tbucket_wait(&tb, 10, 0), 10000000); /* 10 ms */
	assert_false(mb_tbucket_take(&tb, 10, 9999999));
	assert_true(mb_tbucket_take(&tb, 10, 10000000));
	/* Long idle: capped at the burst. */
	mb_tbucket_refill(&tb, 100ULL * 1000000000ULL);
	assert_int_equal(tb.tokens, 100);
	/* Clock going backwards adds nothing. */
	mb_tbucket_refill(&tb, 5);
	assert_int_equal(tb.tokens, 100);
	/* Unlimited. */
	mb_tbucket_set_rate(&tb, 0, 0, 100ULL * 1000000000ULL);
	assert_true(mb_tbucket_take(&tb, 1ULL << 40, 100ULL * 1000000000ULL));
	assert_int_equal(mb_tbucket_take_n(&tb, 8000, 32, 100ULL * 1000000000ULL), 32);
}

/* The counted window: a fresh one starts at the first event, counts to
 * the end of its length, starts again after it, saturates, and takes a
 * clock read before its start as inside it. */
static void
test_cwin(void **state)
{
	struct mb_cwin w = { 0 };
	(void)state;

	assert_int_equal(mb_cwin_hit(&w, 100, 5000), 1);
	assert_int_equal(w.start, 5000);
	assert_int_equal(mb_cwin_hit(&w, 100, 5050), 2);
	assert_int_equal(mb_cwin_hit(&w, 100, 4990), 3); /* behind start */
	assert_int_equal(mb_cwin_hit(&w, 100, 5099), 4);
	assert_int_equal(mb_cwin_hit(&w, 100, 5100), 1); /* a new window */
	assert_int_equal(w.start, 5100);
	w.n = UINT32_MAX;
	assert_int_equal(mb_cwin_hit(&w, 100, 5101), UINT32_MAX);
	w.n = 0; /* reset: the next event begins a window wherever it is */
	assert_int_equal(mb_cwin_hit(&w, 100, 5102), 1);
	assert_int_equal(w.start, 5102);
}

static void
test_tbucket_dyn(void **state)
{
	struct mb_tbucket_dyn d;
	const uint64_t hz = 1000000000ULL, half = hz / 2;
	uint64_t t = 0, max = 100 * MB_TBUCKET_DYN_STEP;

	(void)state;
	assert_int_equal(mb_tbucket_dyn_init(&d, max, 0, 0, hz, t), 0);
	assert_true(d.rate == max);
	assert_false(mb_tbucket_dyn_tick(&d, t + half - 1));
	/* Quiet interval at the cap: no change. */
	assert_false(mb_tbucket_dyn_tick(&d, t += half));
	/* Overrun: x0.9. */
	mb_tbucket_dyn_note_overrun(&d);
	assert_true(mb_tbucket_dyn_tick(&d, t += half));
	assert_true(d.rate == max / 10 * 9);
	/* Quiet: + one step. */
	assert_true(mb_tbucket_dyn_tick(&d, t += half));
	assert_true(d.rate == max / 10 * 9 + MB_TBUCKET_DYN_STEP);
	/* Retries drive it down to the floor (one step), never below. */
	for (int i = 0; i < 100; i++) {
		mb_tbucket_dyn_note_retry(&d);
		(void)mb_tbucket_dyn_tick(&d, t += half);
	}
	assert_true(d.rate == MB_TBUCKET_DYN_STEP);
	/* Small rates drop by at least one step: 3 steps -> 2 steps. */
	d.rate = 3 * MB_TBUCKET_DYN_STEP;
	mb_tbucket_dyn_note_retry(&d);
	assert_true(mb_tbucket_dyn_tick(&d, t += half));
	assert_true(d.rate == 2 * MB_TBUCKET_DYN_STEP);
	/* And climb back to the cap. */
	for (int i = 0; i < 200; i++)
		(void)mb_tbucket_dyn_tick(&d, t += half);
	assert_true(d.rate == max);
	assert_int_equal(mb_tbucket_dyn_init(&d, 0, 0, 0, hz, 0), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wq_fifo_and_runs),
		cmocka_unit_test(test_wq_joins_first),
		cmocka_unit_test(test_wq_merge),
		cmocka_unit_test(test_wq_inflight),
		cmocka_unit_test(test_wq_short_last_chunk_and_bounds),
		cmocka_unit_test(test_tbucket_accuracy),
		cmocka_unit_test(test_tbucket_basics),
		cmocka_unit_test(test_tbucket_dyn),
		cmocka_unit_test(test_cwin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
