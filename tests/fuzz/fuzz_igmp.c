/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the IGMP querier (proto/mb_igmp.c): its decoder and
 * its state machine fed what a segment's hosts send.
 *
 * The first byte picks the mode and whether sessions run; then each record
 * is [len][ticks][src] followed by len bytes (at most 96) of IGMP message:
 * the clock advances ticks x 10 ms, the message is decoded and, if valid,
 * given to the querier as a Leave, a report, an IGMPv3 report (its group
 * records, the odd groups heard) or a query from 10.0.0.src (src 255 also
 * turns the sessions on or off; src 254 sets the last member query count
 * to 1 + len % 12 and interval to ticks tenths, out-of-range values
 * included); after each record the querier's general and group-specific
 * queries due are taken.  Every message is also walked as a v3 report
 * whatever its type, decoded or not.  Invariants: a decoded report or
 * Leave names a multicast group outside 224.0.0.0/24; a decoded v3 report
 * walks to its record count, every record inside the message and naming a
 * multicast group; a walk never passes the message's end nor its record
 * count; no more than MB_IGMP_GSQ_MAX groups are checked; group-specific
 * queries only while the querier, each for a group being checked, never
 * more than MB_IGMP_GSQ_MAX in any last member query interval (the
 * shortest set so far).  Also built by tests/unit/test_garbage.c.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mb_igmp.h"

#define HZ 1000000ULL
#define WINDOW (MB_IGMP_GSQ_MAX + 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The listen callback: odd groups are heard; counts its calls (asked only
 * of a check that starts: the invariant below). */
static unsigned odd_calls;

static bool
odd_heard(void *arg, uint32_t group)
{
	(void)arg;
	odd_calls++;
	return (ntohl(group) & 1) != 0;
}

/* Walk b as a v3 report: the records read, -1 on an error; aborts if the
 * walk passes the end or its record count. */
static int
walk(const uint8_t *b, size_t len)
{
	struct mb_igmp_v3_walk w;
	struct mb_igmp_v3_rec r;
	unsigned n = 0, max = len >= 8 ? (unsigned)(b[6] << 8 | b[7]) : 0;
	int rc;

	mb_igmp_v3_begin(&w, b, len);
	while ((rc = mb_igmp_v3_next(&w, &r)) > 0) {
		if (++n > max || w.off > len || (ntohl(r.group) >> 28) != 0xe)
			abort();
	}
	return rc < 0 ? -1 : (int)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_igmp_querier q;
	struct mb_igmp_msg m;
	uint64_t now = 1000 * HZ, sent_at[WINDOW] = {0}, min_lmqi;
	unsigned nsent = 0;
	size_t o = 1;

	if (size < 1)
		return 0;
	memset(&q, 0, sizeof(q));
	mb_igmp_querier_config(&q, (enum mb_igmp_querier_mode)(data[0] % 3), inet_addr("10.0.0.10"),
			       1 + (data[0] >> 4), HZ, now);
	mb_igmp_querier_activate(&q, (data[0] & 8) != 0, now);
	min_lmqi = q.lmqi;
	while (o + 3 <= size) {
		uint8_t lenb = data[o];
		size_t len = lenb % 97;
		uint64_t ticks = data[o + 1];
		uint8_t host = data[o + 2];
		uint32_t src = htonl(0x0a000000u | host), group;
		const uint8_t *b = data + o + 3;

		o += 3;
		if (len > size - o)
			len = size - o;
		o += len;
		now += ticks * HZ / 100;
		if (host == 254) {
			mb_igmp_querier_last_member(&q, 1 + (uint32_t)(lenb % 12),
						    (uint32_t)ticks);
			if (q.lmqi < min_lmqi)
				min_lmqi = q.lmqi;
		}
		(void)walk(b, len);
		if (mb_igmp_decode(b, len, &m) == 0) {
			uint32_t h = ntohl(m.group);

			switch (m.type) {
			case MB_IGMP_V2_LEAVE:
			case MB_IGMP_V1_REPORT:
			case MB_IGMP_V2_REPORT:
				if ((h >> 28) != 0xe || (h & 0xffffff00) == 0xe0000000)
					abort();
				if (m.type == MB_IGMP_V2_LEAVE)
					(void)mb_igmp_querier_leave(&q, m.group, (src & 1) != 0, now);
				else
					mb_igmp_querier_report(&q, m.group);
				break;
			case MB_IGMP_QUERY:
				mb_igmp_querier_heard(&q, src, now);
				break;
			case MB_IGMP_V3_REPORT: {
				struct mb_igmp_v3_result res;

				if (walk(b, len) != (int)m.nrec)
					abort();
				odd_calls = 0;
				mb_igmp_querier_v3(&q, b, len, odd_heard, NULL, now, &res);
				if (res.started + res.limited > res.leaves ||
				    res.leaves + res.members > m.nrec || odd_calls != res.started ||
				    res.started > MB_IGMP_GSQ_MAX)
					abort();
				break;
			}
			default:
				break;
			}
		}
		if (host == 255) /* sessions start or end */
			mb_igmp_querier_activate(&q, !q.active, now);
		(void)mb_igmp_querier_due(&q, now);
		(void)mb_igmp_querier_wait(&q, now);
		while (mb_igmp_querier_gsq_due(&q, now, &group)) {
			unsigned k;

			if (q.state != MB_IGMP_Q_QUERIER || group == 0)
				abort();
			for (k = 0; k < MB_IGMP_GSQ_MAX && q.gsq[k].group != group; k++)
				;
			if (k == MB_IGMP_GSQ_MAX)
				abort();
			/* the (GSQ_MAX + 1)th last query must be an interval old */
			if (nsent >= WINDOW - 1 && now - sent_at[(nsent + 1) % WINDOW] < min_lmqi)
				abort();
			sent_at[nsent++ % WINDOW] = now;
		}
		if (mb_igmp_querier_checking(&q) > MB_IGMP_GSQ_MAX)
			abort();
	}
	return 0;
}
