/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of proto/mb_igmp: the querier's schedule (startup queries, then
 * one per interval, only while active), the election in auto (stand aside for
 * a lower address or a switch's proxy querier, not for a higher one; take over
 * when the other goes quiet), on and off, the counters, and the encoding.  Leaves:
 * two group-specific queries a second apart while we are the querier, none
 * while idle or yielding (and a yield ends the checks under way), the
 * verdict (members remain / the last left), a Leave flood bounded to 16
 * queries in any second, malformed messages rejected.  Simulated clock in
 * microseconds.
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

/* An IGMPv2 message (type, group) with its checksum. */
static void
msg(uint8_t *b, uint8_t type, const char *group)
{
	uint32_t g = ip(group), sum = 0;

	b[0] = type;
	b[1] = 0;
	b[2] = b[3] = 0;
	memcpy(b + 4, &g, 4);
	for (unsigned i = 0; i < 8; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	b[2] = (uint8_t)(~sum >> 8);
	b[3] = (uint8_t)~sum;
}

/* Group-specific queries due at t: how many, the last group in *g. */
static unsigned
gsq_at(struct mb_igmp_querier *q, uint64_t t, uint32_t *g)
{
	unsigned n = 0;

	while (mb_igmp_querier_gsq_due(q, t, g))
		n++;
	return n;
}

/* A querier (auto, 125 s) that has sent its first startup query at T0. */
static void
querier(struct mb_igmp_querier *q)
{
	memset(q, 0, sizeof(*q));
	mb_igmp_querier_config(q, MB_IGMP_QUERIER_AUTO, ip("10.0.0.10"), 125, HZ, T0);
	mb_igmp_querier_activate(q, true, T0);
	assert_true(mb_igmp_querier_due(q, T0));
	assert_int_equal(q->state, MB_IGMP_Q_QUERIER);
}

/* While we query: a Leave starts two group-specific queries to the group a
 * second apart, the first at once; the check ends a second after the last;
 * no report heard means the last member left. */
static void
test_leave_querier(void **state)
{
	struct mb_igmp_querier q;
	uint32_t g = 0, sent_at[4];
	unsigned n = 0;
	uint64_t t0 = T0 + 5 * S;

	(void)state;
	querier(&q);
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, t0), 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 1);
	assert_int_equal(mb_igmp_querier_wait(&q, t0), 0);
	/* a second Leave for it while it is checked changes nothing */
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, t0), -EALREADY);
	for (uint64_t t = t0; t < t0 + 5 * S; t += 10000) {
		unsigned k = gsq_at(&q, t, &g);

		assert_true(k <= 1);
		if (k == 1) {
			assert_true(n < 4);
			assert_int_equal(g, ip("239.1.2.3"));
			sent_at[n++] = (uint32_t)((t - t0) / 10000);
		}
	}
	assert_int_equal(n, MB_IGMP_LMQC);
	assert_int_equal(sent_at[0], 0);   /* at once */
	assert_int_equal(sent_at[1], 100); /* a second later */
	assert_int_equal(q.gsq_sent, 2);
	assert_int_equal(q.leaves, 2);
	assert_int_equal(q.checks_empty, 1);
	assert_int_equal(q.checks_members, 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 0);
	/* general queries go on as before */
	assert_int_equal(q.sent, 1);
	/* again, with a member answering the first query: members remain,
	 * and the second query still goes out */
	t0 += 10 * S;
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, t0), 0);
	assert_int_equal(gsq_at(&q, t0, &g), 1);
	mb_igmp_querier_report(&q, ip("239.1.2.4")); /* another group's */
	mb_igmp_querier_report(&q, ip("239.1.2.3"));
	assert_int_equal(gsq_at(&q, t0 + S - 1, &g), 0);
	assert_int_equal(gsq_at(&q, t0 + S, &g), 1);
	assert_int_equal(gsq_at(&q, t0 + 2 * S - 1, &g), 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 1);
	assert_int_equal(gsq_at(&q, t0 + 2 * S, &g), 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 0);
	assert_int_equal(q.checks_members, 1);
	assert_int_equal(q.checks_empty, 1);
	/* a group whose reports the caller does not hear: queried, no verdict */
	t0 += 10 * S;
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.9.9.9"), false, t0), 0);
	assert_int_equal(gsq_at(&q, t0, &g), 1);
	assert_int_equal(gsq_at(&q, t0 + S, &g), 1);
	assert_int_equal(gsq_at(&q, t0 + 2 * S, &g), 0);
	assert_int_equal(q.checks_members + q.checks_empty, 2);
	assert_int_equal(q.gsq_sent, 6);
}

/* A non-querier sends no group-specific queries: idle (nothing to keep
 * alive, or off) or yielding; and a yield ends the checks under way. */
static void
test_leave_not_querier(void **state)
{
	struct mb_igmp_querier q = {0};
	uint32_t g;

	(void)state;
	/* idle */
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_AUTO, ip("10.0.0.10"), 125, HZ, T0);
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, T0), -EAGAIN);
	assert_int_equal(gsq_at(&q, T0, &g), 0);
	/* off, with sessions */
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_OFF, ip("10.0.0.10"), 125, HZ, T0);
	mb_igmp_querier_activate(&q, true, T0);
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, T0), -EAGAIN);
	assert_int_equal(gsq_at(&q, T0 + S, &g), 0);
	assert_int_equal(q.leaves_not_querier, 2);
	/* yielding to a lower address */
	querier(&q);
	mb_igmp_querier_heard(&q, ip("10.0.0.1"), T0 + S);
	assert_int_equal(q.state, MB_IGMP_Q_YIELDING);
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, T0 + S), -EAGAIN);
	for (uint64_t t = T0 + S; t < T0 + 5 * S; t += 10000)
		assert_int_equal(gsq_at(&q, t, &g), 0);
	assert_int_equal(q.gsq_sent, 0);
	/* a check under way when another querier appears: no second query */
	querier(&q);
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, T0), 0);
	assert_int_equal(gsq_at(&q, T0, &g), 1);
	mb_igmp_querier_heard(&q, ip("10.0.0.1"), T0 + S / 2);
	for (uint64_t t = T0 + S / 2; t < T0 + 5 * S; t += 10000)
		assert_int_equal(gsq_at(&q, t, &g), 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 0);
	assert_int_equal(q.gsq_sent, 1);
	assert_int_equal(q.checks_members + q.checks_empty, 0);
	/* on stops at nothing: it checks whatever else queries */
	memset(&q, 0, sizeof(q));
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_ON, ip("10.0.0.10"), 125, HZ, T0);
	mb_igmp_querier_activate(&q, true, T0);
	mb_igmp_querier_heard(&q, ip("10.0.0.1"), T0);
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, T0), 0);
	assert_int_equal(gsq_at(&q, T0, &g), 1);
}

/* Leaves for ever new groups, 100 at once and then 10 every 10 ms for 5 s:
 * 16 groups checked at once, the rest limited, and never more than 16
 * group-specific queries in any second. */
static void
test_leave_flood(void **state)
{
	struct mb_igmp_querier q;
	static uint16_t per_tick[500];
	uint32_t g, next = 0, total = 0, accepted = 0;

	(void)state;
	querier(&q);
	for (unsigned k = 0; k < 100; k++, next++)
		accepted += mb_igmp_querier_leave(&q, htonl(0xef000100 + next), true, T0) == 0;
	assert_int_equal(accepted, MB_IGMP_GSQ_MAX);
	assert_int_equal(q.leaves_limited, 100 - MB_IGMP_GSQ_MAX);
	for (unsigned i = 0; i < 500; i++) {
		uint64_t t = T0 + i * 10000ULL;

		for (unsigned k = 0; i > 0 && k < 10; k++, next++)
			(void)mb_igmp_querier_leave(&q, htonl(0xef000100 + next), true, t);
		per_tick[i] = (uint16_t)gsq_at(&q, t, &g);
		total += per_tick[i];
	}
	assert_int_equal(per_tick[0], MB_IGMP_GSQ_MAX);
	for (unsigned i = 0; i + 100 <= 500; i++) {
		unsigned w = 0;

		for (unsigned j = i; j < i + 100; j++)
			w += per_tick[j];
		assert_true(w <= MB_IGMP_GSQ_MAX);
	}
	/* the table turns over every 2 s: checks keep going, bounded */
	assert_true(total >= 3 * MB_IGMP_GSQ_MAX && total <= 5 * MB_IGMP_GSQ_MAX);
	assert_int_equal(q.gsq_sent, total);
	assert_int_equal(q.leaves, 100 + 499 * 10);
	assert_true(q.leaves_limited >= q.leaves - 3 * MB_IGMP_GSQ_MAX);
}

/* The bound holds across state changes: 16 checks query at once, the
 * querier goes idle and comes back 200 ms later, and 16 Leaves for other
 * groups find the slots still held until a second after those queries. */
static void
test_leave_flood_restart(void **state)
{
	struct mb_igmp_querier q;
	uint32_t g;
	unsigned n = 0;

	(void)state;
	querier(&q);
	for (unsigned k = 0; k < MB_IGMP_GSQ_MAX; k++)
		assert_int_equal(mb_igmp_querier_leave(&q, htonl(0xef000100 + k), true, T0), 0);
	assert_int_equal(gsq_at(&q, T0, &g), MB_IGMP_GSQ_MAX);
	mb_igmp_querier_activate(&q, false, T0 + S / 10);
	assert_int_equal(gsq_at(&q, T0 + S / 10, &g), 0);
	mb_igmp_querier_activate(&q, true, T0 + S / 5);
	assert_int_equal(q.state, MB_IGMP_Q_QUERIER);
	for (unsigned k = 0; k < MB_IGMP_GSQ_MAX; k++)
		assert_int_equal(mb_igmp_querier_leave(&q, htonl(0xef000200 + k), true, T0 + S / 5),
				 -ENOSPC);
	for (uint64_t t = T0 + S / 5; t < T0 + S; t += 10000)
		n += gsq_at(&q, t, &g);
	assert_int_equal(n, 0);
	/* a second on, the slots are free again, and no verdict was counted
	 * for the checks the restart ended */
	assert_int_equal(mb_igmp_querier_leave(&q, htonl(0xef000300), true, T0 + S), 0);
	assert_int_equal(gsq_at(&q, T0 + S, &g), 1);
	assert_int_equal(q.checks_members + q.checks_empty, 0);
}

/* Malformed reports and Leaves are rejected: short, checksum, a group that
 * is no multicast group or is link-local; group-specific queries encode. */
static void
test_decode(void **state)
{
	uint8_t b[12];
	struct mb_igmp_msg m;

	(void)state;
	msg(b, MB_IGMP_V2_LEAVE, "239.1.2.3");
	assert_int_equal(mb_igmp_decode(b, 8, &m), 0);
	assert_int_equal(m.type, MB_IGMP_V2_LEAVE);
	assert_int_equal(m.group, ip("239.1.2.3"));
	assert_int_equal(mb_igmp_decode(b, 7, &m), -EBADMSG);
	/* trailing bytes are covered by the checksum */
	memset(b + 8, 0, 4);
	assert_int_equal(mb_igmp_decode(b, 12, &m), 0);
	b[9] = 1;
	assert_int_equal(mb_igmp_decode(b, 12, &m), -EBADMSG);
	assert_int_equal(mb_igmp_decode(b, 11, &m), -EBADMSG);
	msg(b, MB_IGMP_V2_LEAVE, "239.1.2.3");
	b[7] ^= 1;
	assert_int_equal(mb_igmp_decode(b, 8, &m), -EBADMSG);
	msg(b, MB_IGMP_V2_LEAVE, "224.0.0.5");
	assert_int_equal(mb_igmp_decode(b, 8, &m), -EINVAL);
	msg(b, MB_IGMP_V2_LEAVE, "10.0.0.1");
	assert_int_equal(mb_igmp_decode(b, 8, &m), -EINVAL);
	msg(b, MB_IGMP_V2_LEAVE, "0.0.0.0");
	assert_int_equal(mb_igmp_decode(b, 8, &m), -EINVAL);
	msg(b, MB_IGMP_V2_REPORT, "240.0.0.1");
	assert_int_equal(mb_igmp_decode(b, 8, &m), -EINVAL);
	msg(b, MB_IGMP_V1_REPORT, "224.0.1.1");
	assert_int_equal(mb_igmp_decode(b, 8, &m), 0);
	/* a group-specific query as we send it */
	assert_int_equal(mb_igmp_encode_query(b, 8, ip("239.1.2.3"), MB_IGMP_LMQI_TENTHS), 8);
	assert_int_equal(mb_igmp_decode(b, 8, &m), 0);
	assert_int_equal(m.type, MB_IGMP_QUERY);
	assert_int_equal(m.max_resp_tenths, 10);
	assert_int_equal(m.group, ip("239.1.2.3"));
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
		cmocka_unit_test(test_leave_querier),
		cmocka_unit_test(test_leave_not_querier),
		cmocka_unit_test(test_leave_flood),
		cmocka_unit_test(test_leave_flood_restart),
		cmocka_unit_test(test_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
