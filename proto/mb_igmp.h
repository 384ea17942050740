/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An IGMPv2 querier for the serving segment (RFC 2236 section 3 and 7),
 * which also reads IGMPv3 reports, as pure logic on a caller's clock: when
 * to send a general query, and the election against other queriers.  frisbee.igmp-querier (doc/multicast.md,
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
 * Leaves (RFC 2236 sections 3 and 6): while we are the querier (not idle,
 * not yielding), a Leave for a group starts a check of that group: Last
 * Member Query Count (default 2, the robustness variable) group-specific
 * queries, the first at once, each next a Last Member Query Interval
 * (default 1 s, also their max response time) later; the check ends one
 * interval after the last query (mb_igmp_querier_last_member sets both).
 * A report for the group heard during the check means members remain;
 * none, that the last member left (counted, for groups whose reports the
 * caller hears; nothing else follows from it).  Every query of a check is
 * sent whatever is heard: a snooping switch cuts every port's membership
 * of the group short on a group-specific query, and a member whose report
 * to the first was lost keeps its port by answering the next.  A Leave for
 * a group already being checked changes nothing.  At most MB_IGMP_GSQ_MAX
 * groups are checked at once; a Leave beyond that is counted as limited and
 * answered by nothing, so a Leave flood makes us send at most
 * MB_IGMP_GSQ_MAX queries in any last member query interval (each check's
 * queries are an interval apart and a check holds its slot for an interval
 * after its last query).  Yielding or going idle ends the checks under way
 * without a verdict: a non-querier sends no group-specific queries; the
 * slot of a check ended so stays taken until its next query would have
 * been due, which keeps that bound whatever the state does.
 *
 * IGMPv3 reports (RFC 3376 section 4.2): mb_igmp_decode validates the
 * whole report (checksum, then every group record's length within the
 * message and its group) and mb_igmp_v3_next walks the records.  We keep no
 * source lists, so each record means one of three things for the checks
 * (enum mb_igmp_v3_effect): the host may have left the group (TO_IN or
 * IS_IN with no sources; BLOCK of some sources, which may have been its
 * last: the check finds out) and the record starts a check as a v2 Leave
 * does; the host keeps the group (IS_EX, TO_EX, TO_IN/IS_IN/ALLOW with
 * sources) and the record counts as a report for a check under way; or
 * nothing (ALLOW/BLOCK of no sources, an unknown record type, a group in
 * 224.0.0.0/24, which is never checked).
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

#define MB_IGMP_GSQ_MAX 16	 /* groups checked at once after Leaves */
#define MB_IGMP_LMQC 2		 /* last member query count: the default */
#define MB_IGMP_LMQC_MAX 10	 /* and its bound */
#define MB_IGMP_LMQI_TENTHS 10 /* last member query interval = their max response,
				* 1/10 s: the default (1 s) */
#define MB_IGMP_LMQI_TENTHS_MAX 255 /* the max response field's bound (25.5 s) */

/* IGMP message types (RFC 2236, RFC 3376). */
#define MB_IGMP_QUERY 0x11
#define MB_IGMP_V1_REPORT 0x12
#define MB_IGMP_V2_REPORT 0x16
#define MB_IGMP_V2_LEAVE 0x17
#define MB_IGMP_V3_REPORT 0x22

/* IGMPv3 group record types (RFC 3376 section 4.2.12). */
#define MB_IGMP_V3_IS_IN 1
#define MB_IGMP_V3_IS_EX 2
#define MB_IGMP_V3_TO_IN 3
#define MB_IGMP_V3_TO_EX 4
#define MB_IGMP_V3_ALLOW 5
#define MB_IGMP_V3_BLOCK 6

/* A decoded IGMP message (mb_igmp_decode). */
struct mb_igmp_msg {
	uint8_t type;
	uint8_t max_resp_tenths; /* v1/v2 queries (v3: the raw code); 0 otherwise */
	uint32_t group;		 /* network order; v3 reports: 0 */
	uint16_t nrec;		 /* v3 reports: group records (all validated) */
};

/* What one IGMPv3 group record means for the group checks (see above). */
enum mb_igmp_v3_effect {
	MB_IGMP_V3_NONE = 0,
	MB_IGMP_V3_MEMBER, /* the host keeps the group: a report */
	MB_IGMP_V3_LEAVE,  /* the host may have left it: a Leave */
};

/* One IGMPv3 group record (mb_igmp_v3_next). */
struct mb_igmp_v3_rec {
	uint8_t type;
	uint16_t nsrc;
	uint32_t group; /* network order */
	enum mb_igmp_v3_effect effect;
};

/* A walk over a v3 report's records: mb_igmp_v3_begin, then mb_igmp_v3_next
 * until it returns 0. */
struct mb_igmp_v3_walk {
	const uint8_t *buf;
	size_t len;
	size_t off;
	uint16_t left; /* records still to read */
};

/* One group being checked after a Leave. */
struct mb_igmp_gsq {
	uint32_t group;	/* network order; 0: the slot is free */
	uint32_t left;	/* group-specific queries still to send */
	uint64_t next;	/* clock of the next query; with none left, the check's end */
	bool listen;	/* the caller hears the group's reports */
	bool reported;	/* a report for it since the check began */
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
	/* checks of groups after Leaves */
	uint64_t lmqi;		/* last member query interval, ticks */
	uint32_t lmqi_tenths;	/* the same in 1/10 s: the queries' max response */
	uint32_t lmqc;		/* last member query count */
	struct mb_igmp_gsq gsq[MB_IGMP_GSQ_MAX];
	uint64_t leaves;	/* Leaves heard (valid) */
	uint64_t leaves_not_querier; /* heard while idle or yielding: no queries */
	uint64_t leaves_limited; /* every slot busy: no queries */
	uint64_t gsq_sent;	/* group-specific queries sent */
	uint64_t checks_members; /* checks a report answered: members remain */
	uint64_t checks_empty;	/* checks no report answered: the last member left */
};

/* Set up (or change at reload, keeping the election's state): `qi_s` the
 * query interval in seconds (>= 1). */
void mb_igmp_querier_config(struct mb_igmp_querier *q, enum mb_igmp_querier_mode mode,
			    uint32_t addr, uint64_t qi_s, uint64_t hz, uint64_t now);
/* The Last Member Query Count (1..MB_IGMP_LMQC_MAX) and Interval (1/10 s,
 * 1..MB_IGMP_LMQI_TENTHS_MAX), values out of range are clamped;
 * mb_igmp_querier_config sets the defaults (MB_IGMP_LMQC,
 * MB_IGMP_LMQI_TENTHS) the first time, and keeps them after.  Checks under
 * way keep the count they began with; their next query follows the new
 * interval. */
void mb_igmp_querier_last_member(struct mb_igmp_querier *q, uint32_t count, uint32_t lmqi_tenths);
/* Groups to keep alive (true) or none (false). */
void mb_igmp_querier_activate(struct mb_igmp_querier *q, bool active, uint64_t now);
/* A membership query from `src` (network order) was heard. */
void mb_igmp_querier_heard(struct mb_igmp_querier *q, uint32_t src, uint64_t now);
/* Is a general query due now?  True: the caller sends one (and the next is
 * scheduled).  Also ends a yield whose other querier went away. */
bool mb_igmp_querier_due(struct mb_igmp_querier *q, uint64_t now);
/* A Leave for `group` (network order, validated by mb_igmp_decode) was
 * heard; `listen`: the caller hears reports for the group (so a check's
 * verdict means something).  0: a check begins (the caller then sends what
 * mb_igmp_querier_gsq_due gives at once); -EALREADY: the group is being
 * checked (or its check just ended by a yield still holds its slot); -EAGAIN: not the querier now; -ENOSPC: every slot is busy
 * (counted as limited). */
int mb_igmp_querier_leave(struct mb_igmp_querier *q, uint32_t group, bool listen, uint64_t now);
/* What mb_igmp_querier_v3 made of a report's records. */
struct mb_igmp_v3_result {
	unsigned leaves;  /* records that may leave a group (Leaves) */
	unsigned started; /* of them, checks begun (mb_igmp_querier_leave 0) */
	unsigned limited; /* of them, every slot busy (-ENOSPC) */
	unsigned members; /* records that keep a group (reports) */
};
/* A v3 report that mb_igmp_decode accepted (buf, len as given to it) was
 * heard: each record that leaves a group is a Leave for it
 * (mb_igmp_querier_leave, `listen(arg, group)` its listen argument, asked
 * only when the check starts, so at most MB_IGMP_GSQ_MAX times a report;
 * listen NULL: true), each that keeps one a report (mb_igmp_querier_report), in
 * their order; *ret says what came of them.  When started > 0 the caller
 * sends what mb_igmp_querier_gsq_due gives at once. */
void mb_igmp_querier_v3(struct mb_igmp_querier *q, const uint8_t *buf, size_t len,
			bool (*listen)(void *arg, uint32_t group), void *arg, uint64_t now,
			struct mb_igmp_v3_result *ret);
/* A membership report for `group` was heard (members remain if it is being
 * checked). */
void mb_igmp_querier_report(struct mb_igmp_querier *q, uint32_t group);
/* Is a group-specific query due now?  True and *ret_group: the caller sends
 * one to that group (call again until false).  Also ends the checks whose
 * time is over, and all of them when we are no longer the querier. */
bool mb_igmp_querier_gsq_due(struct mb_igmp_querier *q, uint64_t now, uint32_t *ret_group);
/* Groups being checked now. */
unsigned mb_igmp_querier_checking(const struct mb_igmp_querier *q);
/* Ticks until the next decision (UINT64_MAX if idle). */
uint64_t mb_igmp_querier_wait(const struct mb_igmp_querier *q, uint64_t now);
/* Encode an IGMPv2 membership query (8 bytes) for `group` (0 = general),
 * max response time in 1/10 s, checksum filled in.  8 or -ENOSPC. */
int mb_igmp_encode_query(uint8_t *buf, size_t cap, uint32_t group, uint8_t max_resp_tenths);
/* Decode and validate an IGMP message (the IPv4 payload, len bytes): at
 * least 8 bytes and the checksum over all of them; for v1/v2 reports and
 * Leaves the group must be a multicast group outside 224.0.0.0/24 (those
 * are never reported, RFC 2236 section 6); a query is 8 bytes (v1/v2) or
 * at least 12 with room for its sources (v3, RFC 3376 section 7.1); a v3
 * report's every group record must lie within the message (its header, its
 * sources and its aux data; trailing bytes after the last are ignored) and
 * name a multicast group.  0 and *ret; -EBADMSG (short, checksum, a query
 * of another length), -EINVAL (a group not multicast, or link-local in a
 * v1/v2 report or Leave), -EMSGSIZE (a v3 record past the end). */
int mb_igmp_decode(const uint8_t *buf, size_t len, struct mb_igmp_msg *ret);
/* Start a walk over the records of a v3 report that mb_igmp_decode
 * accepted (buf, len as given to it). */
void mb_igmp_v3_begin(struct mb_igmp_v3_walk *w, const uint8_t *buf, size_t len);
/* The next record: 1 and *ret, 0 when all are read; -EMSGSIZE or -EINVAL
 * as mb_igmp_decode (never for a report it accepted; the walk ends). */
int mb_igmp_v3_next(struct mb_igmp_v3_walk *w, struct mb_igmp_v3_rec *ret);
/* Parse a string "off", "on", "auto": 0 and *ret, or -EINVAL. */
int mb_igmp_querier_mode_parse(const char *s, enum mb_igmp_querier_mode *ret);
const char *mb_igmp_querier_mode_str(enum mb_igmp_querier_mode m);
const char *mb_igmp_querier_state_str(enum mb_igmp_querier_state s);

#endif /* _MB_IGMP_H_ */
