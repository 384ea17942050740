/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The nodes of one Frisbee session, as a server can know them: who asked
 * (by IPv4 source), what each one got as far as its requests and our sends
 * tell, and whether multicast reaches it.  Pure logic on a caller's clock,
 * used by the dataplane's Frisbee engine (doc/multicast.md).
 *
 * Progress.  A node that sends PROGRESS reports (2020+ clients, mb-frisbee
 * -H) is taken at its word (chunks in / chunks of the image).  Otherwise it
 * is inferred, one bit per chunk and node ("done"):
 *   - a chunk the group sent in full (every block once, a "cover") is done
 *     for every node that had made its first request when that cover
 *     began (a node that only JOINs may not be hearing us), unless the
 *     node is served alone;
 *   - a chunk the node asked for is pending until blocks of it went out
 *     after the ask and the node did not ask again for 1.5 s (longer than
 *     the stock client's 1 s re-request delay); then it is done;
 *   - asking for a chunk again clears its bit ("asked and not re-asked");
 *   - with 16 asks pending, a new one resolves the oldest early (done when
 *     answered), so a node asking fast does not lose progress.
 * A LEAVE (sent by the stock client when it finished) makes it complete; a
 * JOIN after it, or with a new client id, starts the node over.
 *
 * Unicast fallback.  A node is served alone (its requests go to its own
 * work queue, its BLOCKs to its MAC only, at its own adaptive rate) when
 *   - JOIN: it sent 4 JOINs within 3 s (our replies to the group do not
 *     reach it: its port does not get the group; the stock client sends one
 *     every 0.5 s until answered, so one or two replies lost or late on a
 *     lossy or busy path do not move it);
 *   - LOSS: its loss was over 3% of what the group sent, and over 4 times
 *     the best member's, for 2 s net (+1 a tick over, -1 a tick not: a
 *     burst of a few hundred ms does not move it; it cannot keep up, or its
 *     link loses: it must not slow the group);
 *   - UNREACHED: for 10 ticks (1 s), with asks again in at least 2 of
 *     them, it asked again for more than 90% of what the group sent, or,
 *     what does not depend on the group's pace, its re-asks asked again for
 *     more than 90% of what the group sent of those chunks since its last
 *     ask of each (nothing gets through, whatever the rate; a node alone in
 *     the group included, which no other rule can compare);
 *   - STALL: it kept asking for 2 s and its inferred progress did not move
 *     while another member's did.
 * A member none of whose chunks the group sends (they wait in its queue
 * behind the others') gives no evidence for UNREACHED: a node that hears
 * the group and one that does not ask alike (the stock client asks again
 * for the same chunks about once a second either way).  So when one of its
 * asks for a whole chunk has waited unanswered for 1 s while the group was
 * busy (it sent
 * other chunks), a probe -- the first 256 BLOCKs of that chunk -- goes to
 * the group ahead of its queue (at most one a tick per session, one a
 * second per node, only while a fallback slot is free): a node that hears
 * the group gets them and asks again only for the rest (it was waiting its
 * turn, and got a quarter of its chunk early); one that does not asks for
 * all of it again, which is re-ask evidence, and UNREACHED moves it within
 * a few seconds instead of when its turn comes.
 * Loss evidence is what a node asks for again although it was sent: when it
 * asks again for a chunk it asked for before (its last 16 asks, and the 64
 * before them), the blocks of that chunk sent since (to the group, or to it
 * alone), at most as many as it lacked then (a whole chunk sent for another
 * node tells nothing of the 40 blocks this one lacked), less what its ask
 * shrank by (what it got of them), at most the blocks it asks for; when a
 * member asks for a chunk for the first time, all it asks for if the group
 * sent the whole chunk since the member's first request and within the
 * last 2 s (a cover longer ago was lost at another pace, and counting it
 * against what the group sends now would say "all lost" of a node that gets
 * all it is sent).  A member is judged on its loss against what the group
 * sent, smoothed over about a second, or against the sends its evidence is
 * of when those were more (a node re-asking, after the others left, for
 * what it lost at the group's pace then: what it lost of those, not 100% of
 * what the group sends at its lower pace now).  At most `max_fb` nodes are
 * served alone at once (more candidates stay in the group, counted); a slot
 * frees when its node LEAVEs or is silent for 30 s.
 * A node moved for JOIN starts at the group's rate (its port lacks the
 * group; its path may be fine).  One moved for LOSS, UNREACHED or STALL
 * starts at its delivery rate (what it took while in the group: its
 * progress over the last windows of 1 s that had any, from its PROGRESS
 * reports, else inferred) when that is known, else at a quarter of the
 * group's rate (it could not take the group's), and at least at 100 Mbit/s
 * (Fast Ethernet, the slowest node link of a testbed): its own rate finds
 * a slower link with one cut, to what got through (below), while creeping
 * up from too low takes seconds (1/32 an interval: 7.5 s for 10x), and a
 * quarter of a group at its floor (9 Mbit/s) starved the node.  Never above
 * the ceiling.  A node whose output budget (`fb_budget` BLOCKs) runs out is
 * served by the group again, for good (counted): starving it would be worse.
 *
 * A node served alone has its own rate (mb_rate_adapt), decided on its own
 * loss each tick it asked for something: of the BLOCKs sent to it of the
 * chunks it asks for again (since its last ask of each, at most what it
 * lacked then; its last 16 asks and the 64 before them), those it still
 * lacks -- not against what went out in that tick: its re-asks come in
 * bursts, when its queue runs dry or a chunk completes, a re-request delay
 * after the sends they are of.  A cut goes to what got through of what
 * really left while its queue never ran dry (`t_idle`, set by the caller),
 * holds for 1 s (its evidence lags that much), and the rate creeps back by
 * 1/32 an interval, no faster.  Loss that stays when its rate comes down
 * is its noise floor, whatever its size: its port may still get the
 * group's traffic, and its BLOCKs then get a share of its link in
 * proportion to what it is sent.  Its bucket holds 2 ms of its rate.
 *
 * The group's loss signal for the rate controller is the loss of its best
 * member while fallback slots remain (the worse ones are moving out), else
 * of its worst member (they cannot move out, so the group must slow down),
 * each counted of fresh evidence only: of chunks last sent to the group
 * after the group's rate was last cut or started again (the caller says so:
 * mb_fris_nodes_rate_cut), against what the group sent since, both
 * smoothed alike from the cut.  Evidence comes a re-request delay after the
 * sends it is of; counted against the lower rate's sends after a cut, one
 * burst of loss cut the rate again and again (a lone member 88% lossy
 * behind 100 Mbit/s: 1.2 Gbit/s, 440, 52, then 9 Mbit/s within a second).
 * The fallback rules judge all evidence, as above.
 *
 * Bounded: `max_nodes` nodes per session (more are served but not tracked,
 * counted); all memory is allocated at create; nothing here allocates
 * afterwards.  One owner (the lcore); the control thread may read the node
 * array while it is written (relaxed word reads; a node's address is
 * written last, with release order, and read first).  Never logs, no DPDK.
 */
#ifndef _MB_FRIS_NODES_H_
#define _MB_FRIS_NODES_H_

#include <stdbool.h>
#include <stdint.h>

#include "fris_wire.h"
#include "fris_wq.h"
#include "mb_tbucket.h"

#define MB_FRIS_NODE_PEND 16	      /* outstanding asks remembered per node */
#define MB_FRIS_NODE_HIST 64	      /* older asks remembered (the stock client's chunk buffers) */
#define MB_FRIS_NODES_TICK_US 100000  /* the caller ticks this often */
#define MB_FRIS_NODES_FB_QUEUE 64     /* queued chunk elements per node served alone */

enum mb_fris_node_method {
	MB_FRIS_NODE_MCAST = 0, /* served by the group */
	MB_FRIS_NODE_UCAST,	/* served alone (unicast fallback) */
};

#define MB_FRIS_NODE_REASONS(X)                                                \
	X(NONE, "-")                                                           \
	X(JOIN, "join")                                                        \
	X(LOSS, "loss")                                                        \
	X(UNREACHED, "unreached")                                              \
	X(STALL, "stall")

enum mb_fris_node_reason {
#define MB_FRIS_X_ENUM(n, s) MB_FRIS_NODE_R_##n,
	MB_FRIS_NODE_REASONS(MB_FRIS_X_ENUM)
#undef MB_FRIS_X_ENUM
	MB_FRIS_NODE_R_MAX
};

const char *mb_fris_node_reason_str(enum mb_fris_node_reason r);

struct mb_fris_node {
	_Atomic uint32_t addr;	/* network order; 0 = free entry */
	uint8_t method;		/* enum mb_fris_node_method */
	uint8_t reason;		/* enum mb_fris_node_reason */
	bool left;		/* LEAVE seen: finished */
	bool reported;		/* PROGRESS report seen */
	bool fb_refused;	/* a candidate with no fallback slot (counted once) */
	bool no_fb;		/* never served alone (set by the caller: off-link) */
	int16_t fb;		/* fallback slot, -1 none */
	uint8_t npend;
	uint64_t first_seen;	/* caller's clock */
	uint64_t last_seen;
	uint64_t last_ask;
	uint64_t first_ask;	/* clock of its first request, 0 = none yet */
	uint32_t clientid;	/* of its last JOIN */
	uint32_t joins, requests, rerequests; /* JOINs, REQUEST+PREQUEST, retries set */
	uint64_t blocks_asked;	/* in all requests */
	uint64_t blocks_lost;	/* loss evidence, in all */
	uint32_t done;		/* chunks inferred done */
	uint32_t rep_chunks;	/* PROGRESS: chunks received */
	uint64_t rep_bytes;	/* PROGRESS: bytes written */
	uint64_t ucast_blocks;	/* BLOCKs sent to it alone */
	/* its delivery rate: progress (reported, else inferred) over windows
	 * of 1 s, those with progress only, smoothed; 0 = none measured */
	uint64_t deliv_bps;	/* wire bits/s */
	uint64_t dl_t;		/* start of the window */
	uint32_t dl_mark;	/* progress (chunks) at its start */
	uint64_t wait_since;	/* clock since which an ask of it waits unanswered, 0 = none */
	uint64_t probe_t;	/* clock of the last probe for it */
	/* classification (tick) */
	uint64_t t_lost;	/* loss evidence since the last tick */
	uint64_t t_ref;		/* the BLOCKs sent that the evidence is of */
	uint32_t t_asks;	/* requests since the last tick */
	uint64_t ew_lost16;	/* smoothed loss evidence per tick, x16 */
	uint64_t ew_ref16;	/* smoothed t_ref, x16 */
	/* the same of the evidence that is fresh: of chunks last sent to the
	 * group after the group's rate was last cut (the rest is of sends the
	 * cut answered already); forgotten at each cut */
	uint64_t t_flost, t_fref, ew_flost16, ew_fref16;
	uint32_t loss_ppm;	/* its loss against the group's sends, last tick */
	uint16_t bad_ticks, unreached_ticks, stall_ticks;
	uint16_t reask_ticks;	/* ticks of the UNREACHED streak with re-ask evidence */
	bool t_reask;		/* re-ask evidence since the last tick */
	/* re-ask evidence (UNREACHED): of the BLOCKs of a chunk the group sent
	 * since the node last asked for it, those it asks for again; both
	 * smoothed alike (x16, 7/8 a tick), so their ratio only moves when it
	 * asks, whatever the group's pace */
	uint64_t ra_sent16, ra_lost16;
	uint32_t stall_mark;	/* done when the stall count began */
	struct mb_cwin join_win; /* JOINs in the window (JOIN_WIN_US) */
	struct mb_cwin join_replies; /* the caller's: JOINs it answered */
	/* outstanding asks: the chunk, when, the BLOCKs of it sent since
	 * (to the group: its send count then; alone: counted here) and how
	 * many it asked for */
	uint32_t pend_chunk[MB_FRIS_NODE_PEND];
	uint64_t pend_t[MB_FRIS_NODE_PEND];
	uint32_t pend_sent[MB_FRIS_NODE_PEND];
	uint16_t pend_asked[MB_FRIS_NODE_PEND];
	/* asks resolved or pushed out of the list above: the chunk, the
	 * group's send count at the ask and how many it asked for, so that a
	 * re-ask after a longer back-off, or one of the up to 64 chunks a stock
	 * client has in progress, is still evidence (a ring, newest at
	 * hist_next - 1) */
	uint32_t hist_chunk[MB_FRIS_NODE_HIST];
	uint32_t hist_sent[MB_FRIS_NODE_HIST];
	uint16_t hist_asked[MB_FRIS_NODE_HIST];
	uint8_t hist_n, hist_next;
};

/* A run of BLOCKs being sent: [block, block + left) of chunk. */
struct mb_fris_run {
	bool in;
	uint32_t chunk, block, left;
};

/* A node served alone: its queue, pace and the run being sent to it. */
struct mb_fris_fb {
	int32_t node;		/* index of its node, -1 = free */
	struct mb_fris_wq *wq;
	struct mb_tbucket tb;
	struct mb_rate_adapt ra;
	struct mb_fris_run run;
	uint64_t sent;		/* BLOCKs sent to it */
	uint64_t t_sent;	/* since the last tick */
	bool t_idle;		/* set by the caller: its queue ran dry since the last tick */
	uint32_t loss_ppm;	/* its loss, last tick it asked (see the file comment) */
	uint64_t budget;	/* BLOCKs it may be sent in all */
};

struct mb_fris_nodes_stats {
	uint64_t untracked;	/* datagrams from addresses not tracked (table full) */
	uint64_t fallbacks;	/* nodes moved to unicast, all reasons */
	uint64_t fb_by_reason[MB_FRIS_NODE_R_MAX];
	uint64_t fallback_full;	/* candidates left in the group: no slot free */
	uint64_t covers;	/* chunks the group sent in full */
	uint64_t fb_released;	/* slots freed (LEAVE, silence, budget) */
	uint64_t fb_returned;	/* nodes back in the group: their output budget ran out */
	uint64_t probes;	/* probes queued (a slice of a waiting node's chunk) */
};

struct mb_fris_nodes {
	uint64_t nblocks;
	uint32_t nchunks;
	uint64_t hz;
	uint64_t wire_bits;	/* bits of one BLOCK on the wire (rates) */
	uint32_t max;
	_Atomic uint32_t n;	/* tracked nodes (entries 0..n-1) */
	struct mb_fris_node *node;
	uint64_t *donemaps;	/* max maps of mapwords words */
	uint32_t mapwords;
	uint16_t *hash;		/* node index + 1, 0 = empty */
	uint32_t hmask;
	/* per chunk */
	uint64_t *last_send;	/* clock of its last BLOCK to the group */
	uint32_t *sent_cnt;	/* BLOCKs of it sent to the group, wrapping */
	uint64_t *covered_at;	/* clock its last cover completed, 0 = never */
	uint64_t *cover_start;	/* clock the cover in progress began */
	uint16_t *cover_cnt;	/* blocks in the cover in progress */
	uint64_t *cover_map;	/* 16 words per chunk */
	/* served alone */
	struct mb_fris_fb *fb;
	uint32_t fb_max, fb_n;
	uint64_t fb_rate_max;	/* ceiling of their rates, bits/s */
	uint64_t fb_rate_start;
	uint64_t fb_budget;
	/* the group */
	uint64_t t_sent;	/* BLOCKs to the group since the last tick */
	uint64_t ew_sent16;
	uint64_t ew_fsent16;	/* the same since the group's rate was last cut */
	uint64_t last_tick;
	uint64_t last_progress;	/* clock a member's done last grew */
	/* probes: slices of chunks members wait for, sent to the group ahead
	 * of its queue (the caller sends from here first) */
	struct mb_fris_wq *probe_wq;
	struct mb_fris_run probe_run;
	uint32_t probe_rr;	/* the node to look at first */
	uint32_t group_loss_ppm;
	uint64_t cut_t;		/* clock the group's rate was last cut, 0 = never */
	struct mb_fris_nodes_stats st;
};

/*
 * Create the table of a session of `nblocks` 1 KiB blocks: at most
 * `max_nodes` nodes (1..65535), `max_fb` of them served alone at once
 * (0 = no fallback), each of which may be sent `fb_budget` BLOCKs in all;
 * `hz` is the caller's clock, `wire_bits` the bits a BLOCK takes on the
 * wire.  NULL with errno EINVAL or ENOMEM.  The caller owns the result
 * (mb_fris_nodes_free).
 */
struct mb_fris_nodes *mb_fris_nodes_create(uint64_t nblocks, uint32_t max_nodes, uint32_t max_fb,
					   uint64_t fb_budget, uint64_t hz, uint64_t wire_bits);
void mb_fris_nodes_free(struct mb_fris_nodes *t);
/* The rates a node moved out starts at and may reach (bits/s). */
void mb_fris_nodes_set_rates(struct mb_fris_nodes *t, uint64_t start, uint64_t max, uint64_t now);

/* The node of `addr` (network order), or NULL. */
struct mb_fris_node *mb_fris_nodes_find(struct mb_fris_nodes *t, uint32_t addr);
/* Find or add; NULL for address 0 or a full table (counted). */
struct mb_fris_node *mb_fris_nodes_get(struct mb_fris_nodes *t, uint32_t addr, uint64_t now);
/* Its fallback slot, or NULL when it is served by the group. */
static inline struct mb_fris_fb *
mb_fris_nodes_fb(struct mb_fris_nodes *t, const struct mb_fris_node *nd)
{
	return nd->fb >= 0 ? &t->fb[nd->fb] : NULL;
}

/* A JOIN from the node, of client `clientid`.  True when it is to be
 * answered alone.  A JOIN after the node's LEAVE, or with another client id
 * than its last (a client restarted without LEAVE), starts the node over:
 * progress and loss evidence of the old run are forgotten. */
bool mb_fris_nodes_join(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint32_t clientid,
			uint64_t now);
/* A REQUEST or PREQUEST for `nasked` blocks of `chunk` (already validated);
 * `retry` = the PREQUEST's retries field was set. */
void mb_fris_nodes_ask(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint32_t chunk,
		       uint32_t nasked, bool retry, uint64_t now);
void mb_fris_nodes_leave(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint64_t now);
void mb_fris_nodes_report(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint32_t chunks_in,
			  uint64_t bytes_out, uint64_t now);

/* BLOCKs [first, first + n) of `chunk` went to the group (one run, within
 * the chunk). */
void mb_fris_nodes_sent(struct mb_fris_nodes *t, uint32_t chunk, uint32_t first, uint32_t n,
			uint64_t now);
/* n BLOCKs of `chunk` went to a node served alone. */
void mb_fris_nodes_fb_sent(struct mb_fris_nodes *t, struct mb_fris_fb *fb, uint32_t chunk,
			   uint32_t n);
/* Does a member served by the group still lack `chunk` (inference)? */
bool mb_fris_nodes_group_lacks(const struct mb_fris_nodes *t, uint32_t chunk);

/*
 * Every MB_FRIS_NODES_TICK_US: classify (moves nodes out), resolve
 * pending asks, run the rates of the nodes served alone, free slots of
 * nodes gone.  Returns the group's loss signal in parts per million of
 * what it sent (see the file comment).
 */
uint32_t mb_fris_nodes_tick(struct mb_fris_nodes *t, uint64_t now);

/* The group's rate was cut (or started again) at `now`: loss evidence of
 * what the group sent before is no longer its loss signal (the cut
 * answered it), only evidence of chunks sent since is. */
void mb_fris_nodes_rate_cut(struct mb_fris_nodes *t, uint64_t now);

/* Progress of a node in parts per million of the image. */
uint32_t mb_fris_node_progress_ppm(const struct mb_fris_nodes *t, const struct mb_fris_node *nd);
/* Is chunk c done for the node (inference)? */
bool mb_fris_node_done(const struct mb_fris_nodes *t, const struct mb_fris_node *nd, uint32_t c);

#endif /* _MB_FRIS_NODES_H_ */
