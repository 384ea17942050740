/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of proto/mb_igmp: the querier's schedule (startup queries, then
 * one per interval, only while active), the election in auto (stand aside for
 * a lower address or a switch's proxy querier, not for a higher one; take over
 * when the other goes quiet), on and off, the counters, and the encoding.  Leaves:
 * two group-specific queries a second apart while we are the querier, none
 * while idle or yielding (and a yield ends the checks under way), the
 * verdict (members remain / the last left), a Leave flood bounded to 16
 * queries in any second, malformed messages rejected.  IGMPv3 reports:
 * the records that leave a group start a check, those that keep one count
 * as reports during it, malformed reports (cut records, record, source and
 * aux counts past the end, groups not multicast) refused whole; v3 query
 * lengths; the last member query count and interval set, bounded and kept
 * at a reload.  Simulated clock in microseconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* ---- IGMPv3 reports (RFC 3376 4.2) ---- */

/* One group record to build: type, sources, aux data words, group. */
struct rec {
	uint8_t type;
	uint16_t nsrc;
	uint8_t aux;
	const char *group;
};

/* The checksum of b (len bytes) set. */
static void
cksum(uint8_t *b, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	b[2] = b[3] = 0;
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (i < len)
		sum += (uint32_t)b[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	b[2] = (uint8_t)(~sum >> 8);
	b[3] = (uint8_t)~sum;
}

/* A v3 report of the n records r (sources 10.0.0.1..., aux data zero) in
 * b, its record count nrec, checksum set: its length. */
static size_t
v3(uint8_t *b, size_t cap, const struct rec *r, unsigned n, uint16_t nrec)
{
	size_t o = 8;

	memset(b, 0, cap);
	b[0] = MB_IGMP_V3_REPORT;
	b[6] = (uint8_t)(nrec >> 8);
	b[7] = (uint8_t)nrec;
	for (unsigned i = 0; i < n; i++) {
		uint32_t g = ip(r[i].group);

		assert_true(o + 8 + 4 * (size_t)r[i].nsrc + 4 * (size_t)r[i].aux <= cap);
		b[o] = r[i].type;
		b[o + 1] = r[i].aux;
		b[o + 2] = (uint8_t)(r[i].nsrc >> 8);
		b[o + 3] = (uint8_t)r[i].nsrc;
		memcpy(b + o + 4, &g, 4);
		o += 8;
		for (unsigned k = 0; k < r[i].nsrc; k++, o += 4) {
			uint32_t src = htonl(0x0a000001u + k);

			memcpy(b + o, &src, 4);
		}
		o += 4 * (size_t)r[i].aux;
	}
	cksum(b, o);
	return o;
}

/* Decode a v3 report and give it to the querier at t. */
static struct mb_igmp_v3_result
hear_v3(struct mb_igmp_querier *q, const uint8_t *b, size_t len, uint64_t t)
{
	struct mb_igmp_v3_result res;
	struct mb_igmp_msg m;

	assert_int_equal(mb_igmp_decode(b, len, &m), 0);
	assert_int_equal(m.type, MB_IGMP_V3_REPORT);
	mb_igmp_querier_v3(q, b, len, NULL, NULL, t, &res);
	return res;
}

static bool
deaf(void *arg, uint32_t group)
{
	(void)group;
	return *(uint32_t *)arg != group;
}

/* A v3 host leaves with TO_IN{} (CHANGE_TO_INCLUDE_MODE, no sources): the
 * same check a v2 Leave starts (two group-specific queries a second apart,
 * the last member left); IS_IN{} and BLOCK of sources leave too; a record
 * that keeps the group (IS_EX, TO_EX, ALLOW or TO_IN of sources) heard
 * during a check means members remain; ALLOW/BLOCK of nothing, unknown
 * types and link-local groups change nothing. */
static void
test_v3_leave(void **state)
{
	struct mb_igmp_querier q;
	struct mb_igmp_v3_result res;
	uint8_t b[256];
	uint32_t g = 0, deaf_group = ip("239.5.5.5");
	uint64_t t0 = T0 + 5 * S;
	size_t n;

	(void)state;
	querier(&q);
	/* TO_IN{}: a check; nobody answers: the last member left */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "239.1.2.3" }, 1, 1);
	assert_int_equal(n, 16);
	res = hear_v3(&q, b, n, t0);
	assert_int_equal(res.leaves, 1);
	assert_int_equal(res.started, 1);
	assert_int_equal(res.members, 0);
	assert_int_equal(gsq_at(&q, t0, &g), 1);
	assert_int_equal(g, ip("239.1.2.3"));
	/* its repeat (hosts send a state change robustness times) is the same
	 * check */
	res = hear_v3(&q, b, n, t0 + S / 2);
	assert_int_equal(res.leaves, 1);
	assert_int_equal(res.started, 0);
	assert_int_equal(gsq_at(&q, t0 + S - 1, &g), 0);
	assert_int_equal(gsq_at(&q, t0 + S, &g), 1);
	assert_int_equal(gsq_at(&q, t0 + 2 * S, &g), 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 0);
	assert_int_equal(q.checks_empty, 1);
	assert_int_equal(q.checks_members, 0);
	assert_int_equal(q.leaves, 2);

	/* again; another host answers the first query with IS_EX{} (a v3
	 * current-state report): members remain */
	t0 += 10 * S;
	res = hear_v3(&q, b, n, t0);
	assert_int_equal(res.started, 1);
	assert_int_equal(gsq_at(&q, t0, &g), 1);
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_IS_EX, 0, 0, "239.1.2.3" }, 1, 1);
	res = hear_v3(&q, b, n, t0 + S / 10);
	assert_int_equal(res.members, 1);
	assert_int_equal(res.leaves, 0);
	assert_int_equal(gsq_at(&q, t0 + S, &g), 1); /* the second goes out anyway */
	assert_int_equal(gsq_at(&q, t0 + 2 * S, &g), 0);
	assert_int_equal(q.checks_members, 1);
	assert_int_equal(q.checks_empty, 1);

	/* the records that keep a group, each during a check of its own */
	static const struct rec keep[] = {
		{ MB_IGMP_V3_IS_EX, 2, 0, "239.1.2.3" },
		{ MB_IGMP_V3_TO_EX, 0, 0, "239.1.2.3" },
		{ MB_IGMP_V3_ALLOW, 1, 0, "239.1.2.3" },
		{ MB_IGMP_V3_TO_IN, 1, 0, "239.1.2.3" },
		{ MB_IGMP_V3_IS_IN, 3, 1, "239.1.2.3" },
	};
	for (unsigned i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		uint64_t members = q.checks_members;

		t0 += 10 * S;
		assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, t0), 0);
		assert_int_equal(gsq_at(&q, t0, &g), 1);
		n = v3(b, sizeof(b), &keep[i], 1, 1);
		res = hear_v3(&q, b, n, t0 + 1);
		assert_int_equal(res.members, 1);
		assert_int_equal(gsq_at(&q, t0 + S, &g), 1);
		assert_int_equal(gsq_at(&q, t0 + 2 * S, &g), 0);
		assert_int_equal(q.checks_members, members + 1);
	}

	/* several records in one report: IS_IN{} and BLOCK{S} leave two
	 * groups, the rest change nothing; a group whose reports the caller
	 * does not hear is queried without a verdict */
	static const struct rec several[] = {
		{ MB_IGMP_V3_IS_IN, 0, 0, "239.2.0.1" },
		{ MB_IGMP_V3_ALLOW, 0, 0, "239.2.0.2" },
		{ MB_IGMP_V3_BLOCK, 0, 0, "239.2.0.3" },
		{ MB_IGMP_V3_BLOCK, 2, 0, "239.2.0.4" },
		{ 7, 1, 1, "239.2.0.5" },			/* unknown type */
		{ MB_IGMP_V3_TO_IN, 0, 0, "224.0.0.251" },	/* link-local */
		{ MB_IGMP_V3_TO_IN, 0, 2, "239.5.5.5" },	/* deaf */
	};
	t0 += 10 * S;
	n = v3(b, sizeof(b), several, 7, 7);
	{
		struct mb_igmp_msg m;

		assert_int_equal(mb_igmp_decode(b, n, &m), 0);
		assert_int_equal(m.nrec, 7);
		mb_igmp_querier_v3(&q, b, n, deaf, &deaf_group, t0, &res);
	}
	assert_int_equal(res.leaves, 3);
	assert_int_equal(res.started, 3);
	assert_int_equal(res.members, 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 3);
	assert_int_equal(gsq_at(&q, t0, &g), 3);
	{
		uint64_t empty = q.checks_empty, members = q.checks_members;

		assert_int_equal(gsq_at(&q, t0 + S, &g), 3);
		assert_int_equal(gsq_at(&q, t0 + 2 * S, &g), 0);
		assert_int_equal(q.checks_empty, empty + 2); /* the deaf one: none */
		assert_int_equal(q.checks_members, members);
	}

	/* not the querier (yielding to a v3 querier below us): no check */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "239.1.2.3" }, 1, 1);
	{
		uint8_t qv3[12] = { MB_IGMP_QUERY, 100, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0 };
		struct mb_igmp_msg m;
		uint64_t nq = q.leaves_not_querier;

		cksum(qv3, 12);
		assert_int_equal(mb_igmp_decode(qv3, 12, &m), 0);
		assert_int_equal(m.type, MB_IGMP_QUERY);
		mb_igmp_querier_heard(&q, ip("10.0.0.9"), t0 + 3 * S);
		assert_int_equal(q.state, MB_IGMP_Q_YIELDING);
		res = hear_v3(&q, b, n, t0 + 4 * S);
		assert_int_equal(res.leaves, 1);
		assert_int_equal(res.started, 0);
		assert_int_equal(q.leaves_not_querier, nq + 1);
		assert_int_equal(gsq_at(&q, t0 + 4 * S, &g), 0);
	}
}

/* The caller's listen is asked only for a check that starts: a full-size
 * report of 180 records each leaving a group (a 1500-byte frame holds
 * that many) costs at most MB_IGMP_GSQ_MAX calls, and none while every slot
 * is busy or while we are not the querier (dp_l3's listen walks every
 * session slot: per record it made one frame cost 180 such walks). */
static unsigned listen_calls;

static bool
listen_count(void *arg, uint32_t group)
{
	(void)arg;
	(void)group;
	listen_calls++;
	return true;
}

static void
test_v3_listen_bound(void **state)
{
	static struct rec recs[180];
	static char names[180][16];
	struct mb_igmp_querier q;
	struct mb_igmp_v3_result res;
	uint8_t b[1500];
	uint64_t t0 = T0 + 5 * S;
	size_t n;

	(void)state;
	for (unsigned i = 0; i < 180; i++) {
		snprintf(names[i], sizeof(names[i]), "239.3.%u.%u", i / 200, i % 200 + 1);
		recs[i] = (struct rec){ MB_IGMP_V3_TO_IN, 0, 0, names[i] };
	}
	n = v3(b, sizeof(b), recs, 180, 180);
	assert_true(n <= 1500 - 24);
	querier(&q);
	listen_calls = 0;
	mb_igmp_querier_v3(&q, b, n, listen_count, NULL, t0, &res);
	assert_int_equal(res.leaves, 180);
	assert_int_equal(res.started, MB_IGMP_GSQ_MAX);
	assert_int_equal(res.limited, 180 - MB_IGMP_GSQ_MAX);
	assert_int_equal(listen_calls, MB_IGMP_GSQ_MAX);
	/* every slot busy: no call at all */
	listen_calls = 0;
	mb_igmp_querier_v3(&q, b, n, listen_count, NULL, t0 + 1, &res);
	assert_int_equal(res.started, 0);
	assert_int_equal(listen_calls, 0);
	/* the checks' listen is what the caller said */
	for (unsigned i = 0; i < MB_IGMP_GSQ_MAX; i++)
		assert_true(q.gsq[i].listen);
	/* not the querier: none either */
	mb_igmp_querier_heard(&q, ip("10.0.0.9"), t0 + 3 * S);
	assert_int_equal(q.state, MB_IGMP_Q_YIELDING);
	listen_calls = 0;
	mb_igmp_querier_v3(&q, b, n, listen_count, NULL, t0 + 4 * S, &res);
	assert_int_equal(res.started, 0);
	assert_int_equal(listen_calls, 0);
}

/* Malformed v3 reports are refused whole, by reason, and the walk never
 * reads past the message: a cut record header, a record count above what
 * the message holds, a source count or aux data length past the end, a
 * group that is not multicast, the checksum; trailing bytes after the last
 * record are ignored.  v3 queries: 12 bytes and more with room for their
 * sources; 9 to 11 bytes is no query. */
static void
test_v3_malformed(void **state)
{
	uint8_t b[512];
	struct mb_igmp_msg m;
	struct mb_igmp_v3_walk w;
	struct mb_igmp_v3_rec r;
	size_t n;

	(void)state;
	/* no records at all: valid, nothing to walk */
	n = v3(b, sizeof(b), NULL, 0, 0);
	assert_int_equal(n, 8);
	assert_int_equal(mb_igmp_decode(b, n, &m), 0);
	assert_int_equal(m.nrec, 0);
	assert_int_equal(m.group, 0);
	mb_igmp_v3_begin(&w, b, n);
	assert_int_equal(mb_igmp_v3_next(&w, &r), 0);
	/* two records claimed, one there */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "239.1.2.3" }, 1, 2);
	assert_int_equal(mb_igmp_decode(b, n, &m), -EMSGSIZE);
	mb_igmp_v3_begin(&w, b, n);
	assert_int_equal(mb_igmp_v3_next(&w, &r), 1);
	assert_int_equal(r.effect, MB_IGMP_V3_LEAVE);
	assert_int_equal(mb_igmp_v3_next(&w, &r), -EMSGSIZE);
	assert_int_equal(mb_igmp_v3_next(&w, &r), 0); /* the walk has ended */
	/* 65535 records claimed in 16 bytes */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "239.1.2.3" }, 1, 65535);
	assert_int_equal(mb_igmp_decode(b, n, &m), -EMSGSIZE);
	/* a record header cut short: only 4 of its 8 bytes */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "239.1.2.3" }, 1, 1);
	cksum(b, n - 4);
	assert_int_equal(mb_igmp_decode(b, n - 4, &m), -EMSGSIZE);
	/* a huge source count: 65535 sources (262 KB) in a 24-byte message */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_IS_EX, 2, 0, "239.1.2.3" }, 1, 1);
	b[10] = b[11] = 0xff;
	cksum(b, n);
	assert_int_equal(mb_igmp_decode(b, n, &m), -EMSGSIZE);
	/* one source more than there is */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_IS_EX, 2, 0, "239.1.2.3" }, 1, 1);
	b[11] = 3;
	cksum(b, n);
	assert_int_equal(mb_igmp_decode(b, n, &m), -EMSGSIZE);
	/* aux data past the end (255 words claimed, 1 there) */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_IS_EX, 1, 1, "239.1.2.3" }, 1, 1);
	assert_int_equal(mb_igmp_decode(b, n, &m), 0);
	b[9] = 255;
	cksum(b, n);
	assert_int_equal(mb_igmp_decode(b, n, &m), -EMSGSIZE);
	/* the second record past the end of a valid first one */
	{
		static const struct rec two[] = {
			{ MB_IGMP_V3_TO_IN, 0, 0, "239.1.2.3" },
			{ MB_IGMP_V3_IS_EX, 1, 0, "239.1.2.4" },
		};

		n = v3(b, sizeof(b), two, 2, 2);
		assert_int_equal(mb_igmp_decode(b, n, &m), 0);
		cksum(b, n - 1);
		assert_int_equal(mb_igmp_decode(b, n - 1, &m), -EMSGSIZE);
	}
	/* a record whose group is not multicast */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "10.1.2.3" }, 1, 1);
	assert_int_equal(mb_igmp_decode(b, n, &m), -EINVAL);
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "0.0.0.0" }, 1, 1);
	assert_int_equal(mb_igmp_decode(b, n, &m), -EINVAL);
	/* the checksum */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "239.1.2.3" }, 1, 1);
	b[15] ^= 1;
	assert_int_equal(mb_igmp_decode(b, n, &m), -EBADMSG);
	/* trailing bytes after the last record: ignored */
	n = v3(b, sizeof(b), &(struct rec){ MB_IGMP_V3_TO_IN, 0, 0, "239.1.2.3" }, 1, 1);
	memset(b + n, 0xee, 6);
	cksum(b, n + 6);
	assert_int_equal(mb_igmp_decode(b, n + 6, &m), 0);
	/* queries: 8 bytes, or 12 and more with their sources */
	memset(b, 0, 32);
	b[0] = MB_IGMP_QUERY;
	b[1] = 100;
	for (size_t len = 8; len <= 20; len++) {
		b[11] = 2; /* two sources: 20 bytes */
		cksum(b, len);
		assert_int_equal(mb_igmp_decode(b, len, &m), len == 8 || len == 20 ? 0 : -EBADMSG);
		b[11] = 0;
		cksum(b, len);
		assert_int_equal(mb_igmp_decode(b, len, &m), len == 8 || len >= 12 ? 0 : -EBADMSG);
	}
}

/* The last member query count and interval: 3 queries half a second apart
 * (max response 5 tenths); bounds clamped; a Leave flood is bounded to 16
 * queries in any interval. */
static void
test_last_member(void **state)
{
	struct mb_igmp_querier q;
	uint32_t g = 0;
	uint64_t t0 = T0 + 5 * S;

	(void)state;
	querier(&q);
	assert_int_equal(q.lmqc, MB_IGMP_LMQC);
	assert_int_equal(q.lmqi_tenths, MB_IGMP_LMQI_TENTHS);
	mb_igmp_querier_last_member(&q, 3, 5);
	assert_int_equal(mb_igmp_querier_leave(&q, ip("239.1.2.3"), true, t0), 0);
	assert_int_equal(gsq_at(&q, t0, &g), 1);
	assert_int_equal(gsq_at(&q, t0 + S / 2 - 1, &g), 0);
	assert_int_equal(gsq_at(&q, t0 + S / 2, &g), 1);
	assert_int_equal(gsq_at(&q, t0 + S, &g), 1);
	assert_int_equal(mb_igmp_querier_checking(&q), 1);
	assert_int_equal(gsq_at(&q, t0 + 3 * S / 2 - 1, &g), 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 1);
	assert_int_equal(gsq_at(&q, t0 + 3 * S / 2, &g), 0);
	assert_int_equal(mb_igmp_querier_checking(&q), 0);
	assert_int_equal(q.checks_empty, 1);
	/* a reload of the query interval keeps them */
	mb_igmp_querier_config(&q, MB_IGMP_QUERIER_AUTO, ip("10.0.0.10"), 60, HZ, t0 + 2 * S);
	assert_int_equal(q.lmqc, 3);
	assert_int_equal(q.lmqi, S / 2);
	/* bounds */
	mb_igmp_querier_last_member(&q, 0, 0);
	assert_int_equal(q.lmqc, 1);
	assert_int_equal(q.lmqi_tenths, 1);
	mb_igmp_querier_last_member(&q, 1000, 1000);
	assert_int_equal(q.lmqc, MB_IGMP_LMQC_MAX);
	assert_int_equal(q.lmqi_tenths, MB_IGMP_LMQI_TENTHS_MAX);
	/* a flood at 0.2 s: at most MB_IGMP_GSQ_MAX queries in any 0.2 s */
	querier(&q);
	mb_igmp_querier_last_member(&q, 2, 2);
	{
		uint64_t at[1024];
		unsigned n = 0;

		for (uint64_t t = t0; t < t0 + 5 * S; t += 10000) {
			char grp[32];

			snprintf(grp, sizeof(grp), "239.9.%u.%u", (unsigned)(t / 10000 % 250),
				 (unsigned)(t / 7 % 250));
			(void)mb_igmp_querier_leave(&q, ip(grp), true, t);
			while (mb_igmp_querier_gsq_due(&q, t, &g)) {
				assert_true(n < 1024);
				at[n++] = t;
			}
		}
		assert_true(n > MB_IGMP_GSQ_MAX);
		for (unsigned i = MB_IGMP_GSQ_MAX; i < n; i++)
			assert_true(at[i] - at[i - MB_IGMP_GSQ_MAX] >= S / 5);
	}
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
		cmocka_unit_test(test_v3_leave),
		cmocka_unit_test(test_v3_malformed),
		cmocka_unit_test(test_v3_listen_bound),
		cmocka_unit_test(test_last_member),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
