/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An IGMPv2 querier for the serving segment (RFC 2236 section 3 and 7),
 * as pure logic on a caller's clock: when to send a general query, and the
 * election against other queriers.  frisbee.igmp-querier (doc/multicast.md,
 * "IGMP querier"):
 *
 *   off   never query;
 *   on    query whatever else queries;
 *   auto  query unless another querier with a lower address is present
 *         (the IGMP election): on hearing one we stop, and resume with a
 *         general query when its "other querier present interval" (2 x the
 *         query interval + half the response interval) passes without a
 *         query from it.  Queries from higher addresses do not make us
 *         yield (the lowest address wins); queries from 0.0.0.0 (a
 *         snooping switch's own proxy querier, RFC 4541 2.1.1) do: that
 *         switch keeps the memberships alive, and a second querier would
 *         only make it flood while it re-learns them.
 *
 * The querier runs only while it has something to keep alive (the caller
 * says so: multicast sessions on the port): it then sends a general query
 * at once and another a quarter interval later (the startup queries), then
 * one per query interval.  A query that falls due while we yield is counted
 * as suppressed.  Queries ask for answers within min(10 s, half the query
 * interval), so hosts answer before the next one.
 *
 * One owner, never logs, no DPDK.
 */
#ifndef _MB_IGMP_H_
#define _MB_IGMP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mb_igmp_querier_mode {
	MB_IGMP_QUERIER_OFF = 0,
	MB_IGMP_QUERIER_ON,
	MB_IGMP_QUERIER_AUTO,
};

enum mb_igmp_querier_state {
	MB_IGMP_Q_IDLE = 0,  /* off, or nothing to keep alive */
	MB_IGMP_Q_QUERIER,   /* we query */
	MB_IGMP_Q_YIELDING,  /* another querier with a lower address is present */
};

struct mb_igmp_querier {
	enum mb_igmp_querier_mode mode;
	enum mb_igmp_querier_state state;
	uint32_t addr;		/* ours, network order */
	uint64_t hz;
	uint64_t qi;		/* query interval, ticks */
	uint32_t qri_tenths;	/* query response interval, 1/10 s */
	uint64_t oqpi;		/* other querier present interval, ticks */
	bool active;		/* the caller has groups to keep alive */
	uint64_t next;		/* clock of the next query (querier state) */
	uint32_t startup_left;	/* startup queries still to send */
	uint32_t other;		/* lowest other querier heard, network order (0.0.0.0
				 * a switch's proxy querier); present until other_until */
	uint64_t other_until;	/* its present interval ends */
	/* counters */
	uint64_t sent;		/* general queries sent */
	uint64_t suppressed;	/* queries not sent: yielding */
	uint64_t heard;		/* queries from other queriers */
	uint64_t yields;	/* times we stood aside for a lower address (stopped
				 * querying, or did not start) */
	uint64_t resumes;	/* times we took over again */
};

/* Set up (or change at reload, keeping the election's state): `qi_s` the
 * query interval in seconds (>= 1). */
void mb_igmp_querier_config(struct mb_igmp_querier *q, enum mb_igmp_querier_mode mode,
			    uint32_t addr, uint64_t qi_s, uint64_t hz, uint64_t now);
/* Groups to keep alive (true) or none (false). */
void mb_igmp_querier_activate(struct mb_igmp_querier *q, bool active, uint64_t now);
/* A membership query from `src` (network order) was heard. */
void mb_igmp_querier_heard(struct mb_igmp_querier *q, uint32_t src, uint64_t now);
/* Is a general query due now?  True: the caller sends one (and the next is
 * scheduled).  Also ends a yield whose other querier went away. */
bool mb_igmp_querier_due(struct mb_igmp_querier *q, uint64_t now);
/* Ticks until the next decision (UINT64_MAX if idle). */
uint64_t mb_igmp_querier_wait(const struct mb_igmp_querier *q, uint64_t now);
/* Encode an IGMPv2 membership query (8 bytes) for `group` (0 = general),
 * max response time in 1/10 s, checksum filled in.  8 or -ENOSPC. */
int mb_igmp_encode_query(uint8_t *buf, size_t cap, uint32_t group, uint8_t max_resp_tenths);
/* Parse a string "off", "on", "auto": 0 and *ret, or -EINVAL. */
int mb_igmp_querier_mode_parse(const char *s, enum mb_igmp_querier_mode *ret);
const char *mb_igmp_querier_mode_str(enum mb_igmp_querier_mode m);
const char *mb_igmp_querier_state_str(enum mb_igmp_querier_state s);

#endif /* _MB_IGMP_H_ */
