/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hugepage cache policy (control/ctl_cache.c) on hand-made snapshots:
 * victims are idle warm images, least recently used first, only as many as
 * needed and none when they cannot free enough; busy, fixed and cold images
 * are never victims; the promotion candidate is the most recently used busy
 * or wanted cold image that fits the budget.  No EAL, no clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ctl_cache.h"

#define MIB (1024u * 1024u)

static void
test_busy(void **state)
{
	uint64_t now = 100 * MB_NS_PER_SEC;

	(void)state;
	assert_true(mb_cache_busy(1, 0, now));
	assert_false(mb_cache_busy(0, 0, now)); /* never served */
	assert_true(mb_cache_busy(0, now - 1, now));
	assert_true(mb_cache_busy(0, now - MB_CACHE_HOT_NS + 1, now));
	assert_false(mb_cache_busy(0, now - MB_CACHE_HOT_NS, now));
	assert_false(mb_cache_busy(0, 5, now));
}

static void
test_victims_lru(void **state)
{
	struct mb_cache_ent e[] = {
		{ .len = MIB, .last_use_ns = 300, .warm = true },
		{ .len = MIB, .last_use_ns = 100, .warm = true },
		{ .len = MIB, .last_use_ns = 200, .warm = true },
		{ .len = MIB, .last_use_ns = 50, .warm = false }, /* cold: nothing to free */
	};
	size_t pick[4];

	(void)state;
	assert_int_equal(mb_cache_pick_victims(e, 4, 1, UINT64_MAX, pick), 1);
	assert_int_equal(pick[0], 1);
	assert_int_equal(mb_cache_pick_victims(e, 4, MIB + 1, UINT64_MAX, pick), 2);
	assert_int_equal(pick[0], 1);
	assert_int_equal(pick[1], 2);
	assert_int_equal(mb_cache_pick_victims(e, 4, 3 * MIB, UINT64_MAX, pick), 3);
	/* Not enough to free: nothing is demoted for nothing. */
	assert_int_equal(mb_cache_pick_victims(e, 4, 3 * MIB + 1, UINT64_MAX, pick), 0);
	assert_int_equal(mb_cache_pick_victims(e, 4, 0, UINT64_MAX, pick), 0);
	/* Only images used before the candidate. */
	assert_int_equal(mb_cache_pick_victims(e, 4, MIB, 150, pick), 1);
	assert_int_equal(pick[0], 1);
	assert_int_equal(mb_cache_pick_victims(e, 4, 2 * MIB, 150, pick), 0);
	assert_int_equal(mb_cache_pick_victims(e, 0, MIB, UINT64_MAX, pick), 0);
}

static void
test_victims_skip_busy_fixed(void **state)
{
	struct mb_cache_ent e[] = {
		{ .len = MIB, .last_use_ns = 10, .warm = true, .busy = true },
		{ .len = MIB, .last_use_ns = 20, .warm = true, .fixed = true },
		{ .len = 2 * MIB, .last_use_ns = 30, .warm = true },
		{ .len = MIB, .last_use_ns = 30, .warm = true },
	};
	size_t pick[4];

	(void)state;
	/* Same age: the bigger one first. */
	assert_int_equal(mb_cache_pick_victims(e, 4, MIB, UINT64_MAX, pick), 1);
	assert_int_equal(pick[0], 2);
	assert_int_equal(mb_cache_pick_victims(e, 4, 3 * MIB, UINT64_MAX, pick), 2);
	assert_int_equal(mb_cache_pick_victims(e, 4, 4 * MIB, UINT64_MAX, pick), 0);
}

static void
test_candidate(void **state)
{
	struct mb_cache_ent e[] = {
		{ .len = MIB, .last_use_ns = 900, .warm = true, .busy = true }, /* warm */
		{ .len = MIB, .last_use_ns = 500, .busy = true },		 /* candidate */
		{ .len = MIB, .last_use_ns = 800, .busy = true, .fixed = true }, /* in flight */
		{ .len = 8 * MIB, .last_use_ns = 950, .busy = true },		 /* too big */
		{ .len = MIB, .last_use_ns = 990 },				 /* idle */
		{ .len = MIB, .last_use_ns = 400, .want = true },		 /* displaced */
	};

	(void)state;
	assert_int_equal(mb_cache_pick_candidate(e, 6, 4 * MIB), 1);
	assert_int_equal(mb_cache_pick_candidate(e, 6, 0), 3); /* no budget: any size */
	e[1].busy = false;
	assert_int_equal(mb_cache_pick_candidate(e, 6, 4 * MIB), 5);
	e[5].want = false;
	assert_int_equal(mb_cache_pick_candidate(e, 6, 4 * MIB), -1);
	assert_int_equal(mb_cache_pick_candidate(e, 0, 4 * MIB), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_victims_lru),
		cmocka_unit_test(test_victims_skip_busy_fixed),
		cmocka_unit_test(test_candidate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
