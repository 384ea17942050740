/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log rate limiter (common/mb_ratelimit.c) with an explicit clock: the
 * burst passes, the rest of the interval is counted, the next allowed line
 * carries the count once, a new interval starts fresh, a clock that goes
 * backwards restarts the window, and MB_LOG_RL appends the count to the line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mb_log.h"
#include "mb_ratelimit.h"

#define MS 1000000ull

static void
test_window(void **state)
{
	struct mb_ratelimit rl = MB_RATELIMIT_INIT(1000, 3);
	uint64_t pending = 99;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_true(mb_ratelimit_ok(&rl, 5000 * MS + (uint64_t)i, &pending));
		assert_int_equal(pending, 0);
	}
	for (int i = 0; i < 1000; i++)
		assert_false(mb_ratelimit_ok(&rl, 5500 * MS, &pending));
	assert_int_equal(rl.suppressed, 1000);
	/* Still inside the interval. */
	assert_false(mb_ratelimit_ok(&rl, 5999 * MS, NULL));
	/* The next interval: the first line says what was left out. */
	assert_true(mb_ratelimit_ok(&rl, 6000 * MS, &pending));
	assert_int_equal(pending, 1001);
	assert_true(mb_ratelimit_ok(&rl, 6001 * MS, &pending));
	assert_int_equal(pending, 0);
	assert_int_equal(rl.suppressed, 1001);
	/* A clock that went backwards starts a new window instead of muting. */
	assert_true(mb_ratelimit_ok(&rl, 10 * MS, &pending));
	/* Burst 0 suppresses everything. */
	{
		struct mb_ratelimit none = MB_RATELIMIT_INIT(1000, 0);

		assert_false(mb_ratelimit_ok(&none, 1, NULL));
		assert_int_equal(none.suppressed, 1);
	}
}

static char last[512];
static unsigned lines;

static void
sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt, va_list ap)
{
	(void)level;
	(void)mod;
	vsnprintf(last, sizeof(last), fmt, ap);
	lines++;
}

static void
test_macro(void **state)
{
	struct mb_ratelimit rl = MB_RATELIMIT_INIT(200, 2);

	(void)state;
	mb_log_set_sink(sink);
	for (int i = 0; i < 50; i++)
		MB_LOG_RL(&rl, NOTICE, CTL, "refused %d from '%s'", i, "10.0.0.9");
	assert_int_equal(lines, 2);
	assert_string_equal(last, "refused 1 from '10.0.0.9'");
	/* After the interval the next line carries the count. */
	rl.begin_ns -= 200 * MS;
	MB_LOG_RL(&rl, NOTICE, CTL, "refused %d from '%s'", 50, "10.0.0.9");
	assert_int_equal(lines, 3);
	assert_string_equal(last, "refused 50 from '10.0.0.9' (48 similar lines suppressed)");
	mb_log_set_sink(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_macro),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
