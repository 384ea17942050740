/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of proto/mb_igmp: the querier's schedule (startup queries, then
 * one per interval, only while active), the election in auto (stand aside for
 * a lower address or a switch's proxy querier, not for a higher one; take over
 * when the other goes quiet), on and off, the counters, and the encoding.  Simulated
 * clock in microseconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mb_igmp.h"

#define HZ 1000000ULL
#define S HZ
#define T0 (1000 * S)

static uint32_t
ip(const char *s)
{
	return inet_addr(s);
}

/* Queries sent from `from` to `to`, polling every 10 ms. */
static unsigned
run(struct mb_igmp_querier *q, uint64_t from, uint64_t to)
{
	unsigned n = 0;

	for (uint64_t t = from; t < to; t += 10000)
		n += mb_igmp_querier_due(q, t);
	return n;
}

static void
test_schedule(void **state)
{
	struct mb_igmp_querier q = {0};

	(void)state;
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_AUTO, ip("10.0.0.10"), 8, HZ, T0);
	assert_int_equal(q.state, MB_IGMP_Q_IDLE);
	assert_int_equal(run(&q, T0, T0 + 20 * S), 0); /* nothing to keep alive */
	mb_igmp_querier_activate(&q, true, T0 + 20 * S);
	assert_int_equal(q.state, MB_IGMP_Q_QUERIER);
	/* a query at once, the second a quarter interval later, then 1 / 8 s */
	assert_true(mb_igmp_querier_due(&q, T0 + 20 * S));
	assert_false(mb_igmp_querier_due(&q, T0 + 21 * S));
	assert_true(mb_igmp_querier_due(&q, T0 + 22 * S));
	assert_int_equal(run(&q, T0 + 22 * S + 1, T0 + 62 * S + 10001), 5);
	assert_int_equal(q.sent, 7);
	/* answers within half the interval (4 s), at most 10 s */
	assert_int_equal(q.qri_tenths, 40);
	mb_igmp_querier_activate(&q, false, T0 + 63 * S);
	assert_int_equal(run(&q, T0 + 63 * S, T0 + 100 * S), 0);
	assert_int_equal(mb_igmp_querier_wait(&q, T0 + 100 * S), UINT64_MAX);
}

static void
test_election(void **state)
{
	struct mb_igmp_querier q = {0};
	uint64_t t = T0;

	(void)state;
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_AUTO, ip("10.0.0.10"), 2, HZ, t);
	mb_igmp_querier_activate(&q, true, t);
	assert_true(mb_igmp_querier_due(&q, t));
	/* a higher address: we stay */
	mb_igmp_querier_heard(&q, ip("10.0.0.20"), t);
	mb_igmp_querier_heard(&q, q.addr, t); /* our own, looped back */
	assert_int_equal(q.state, MB_IGMP_Q_QUERIER);
	assert_int_equal(q.heard, 1);
	/* a lower address: we stand aside, our queries are suppressed */
	mb_igmp_querier_heard(&q, ip("10.0.0.2"), t + S);
	assert_int_equal(q.state, MB_IGMP_Q_YIELDING);
	assert_int_equal(q.yields, 1);
	assert_int_equal(q.other, ip("10.0.0.2"));
	/* it keeps querying every 2 s: we keep quiet */
	for (unsigned k = 1; k <= 10; k++) {
		assert_int_equal(run(&q, t + k * 2 * S - 2 * S + S, t + k * 2 * S + S), 0);
		mb_igmp_querier_heard(&q, ip("10.0.0.2"), t + k * 2 * S + S);
	}
	assert_true(q.suppressed >= 5);
	assert_int_equal(q.state, MB_IGMP_Q_YIELDING);
	/* it goes quiet: after 2 intervals + half a response interval we take
	 * over at once */
	t += 21 * S;
	assert_int_equal(run(&q, t, t + 4 * S), 0);
	assert_int_equal(run(&q, t + 4 * S, t + 5 * S + 1), 1);
	assert_int_equal(q.state, MB_IGMP_Q_QUERIER);
	assert_int_equal(q.resumes, 1);
	assert_int_equal(q.other, 0);
}

/* A snooping switch's proxy querier (source 0.0.0.0) keeps the memberships
 * alive: auto stands aside for it too, and takes over when it goes quiet. */
static void
test_proxy_querier(void **state)
{
	struct mb_igmp_querier q = {0};

	(void)state;
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_AUTO, ip("10.0.0.10"), 2, HZ, T0);
	mb_igmp_querier_activate(&q, true, T0);
	assert_true(mb_igmp_querier_due(&q, T0));
	mb_igmp_querier_heard(&q, 0, T0 + S);
	assert_int_equal(q.state, MB_IGMP_Q_YIELDING);
	assert_int_equal(q.other, 0);
	assert_int_equal(q.yields, 1);
	/* a lower routed address does not replace it: 0.0.0.0 is lowest */
	mb_igmp_querier_heard(&q, ip("10.0.0.1"), T0 + 2 * S);
	assert_int_equal(q.other, 0);
	assert_int_equal(run(&q, T0 + S, T0 + 5 * S), 0);
	/* silent for 2 intervals + half a response interval: take over */
	assert_int_equal(run(&q, T0 + 5 * S, T0 + 7 * S), 1);
	assert_int_equal(q.resumes, 1);
}

static void
test_present_at_start_and_modes(void **state)
{
	struct mb_igmp_querier q = {0};

	(void)state;
	/* another querier heard before any session: standing aside from the
	 * start is a yield, its startup query suppressed */
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_AUTO, ip("10.0.0.10"), 2, HZ, T0);
	mb_igmp_querier_heard(&q, ip("10.0.0.1"), T0);
	mb_igmp_querier_activate(&q, true, T0 + S);
	assert_int_equal(q.state, MB_IGMP_Q_YIELDING);
	assert_int_equal(q.yields, 1);
	assert_int_equal(q.suppressed, 1);
	assert_false(mb_igmp_querier_due(&q, T0 + S));
	/* on: queries whatever else queries */
	memset(&q, 0, sizeof(q));
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_ON, ip("10.0.0.10"), 2, HZ, T0);
	mb_igmp_querier_activate(&q, true, T0);
	mb_igmp_querier_heard(&q, ip("10.0.0.1"), T0);
	assert_int_equal(q.state, MB_IGMP_Q_QUERIER);
	assert_true(run(&q, T0, T0 + 10 * S) >= 5);
	/* off: never */
	memset(&q, 0, sizeof(q));
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_OFF, ip("10.0.0.10"), 2, HZ, T0);
	mb_igmp_querier_activate(&q, true, T0);
	assert_int_equal(run(&q, T0, T0 + 10 * S), 0);
}

static void
test_encode_and_parse(void **state)
{
	uint8_t b[8];
	uint32_t sum = 0;
	enum mb_igmp_querier_mode m;

	(void)state;
	assert_int_equal(mb_igmp_encode_query(b, 7, 0, 10), -ENOSPC);
	assert_int_equal(mb_igmp_encode_query(b, sizeof(b), 0, 100), 8);
	assert_int_equal(b[0], 0x11);
	assert_int_equal(b[1], 100);
	assert_int_equal(b[4] | b[5] | b[6] | b[7], 0);
	for (unsigned i = 0; i < 8; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff); /* the checksum checks */
	assert_int_equal(mb_igmp_querier_mode_parse("auto", &m), 0);
	assert_int_equal(m, MB_IGMP_QUERIER_AUTO);
	assert_int_equal(mb_igmp_querier_mode_parse("On", &m), -EINVAL);
	assert_string_equal(mb_igmp_querier_state_str(MB_IGMP_Q_YIELDING), "yielding");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_election),
		cmocka_unit_test(test_proxy_querier),
		cmocka_unit_test(test_present_at_start_and_modes),
		cmocka_unit_test(test_encode_and_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
