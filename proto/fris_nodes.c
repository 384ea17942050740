/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The nodes of a Frisbee session: progress inference and unicast fallback
 * (see fris_nodes.h for the rules).  Index: open addressing on the address,
 * twice the table's size; the per-chunk cover maps are 16 words each, so a
 * run's bits are set and counted a word at a time.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fris_nodes.h"

#define RESOLVE_US 1500000ULL	  /* an ask answered and not repeated this long: done */
#define PEND_STALE_US 30000000ULL /* an ask never answered is forgotten */
#define JOIN_WIN_US 3000000ULL	  /* JOINs counted within this window */
#define JOIN_FALLBACK 4		  /* that many JOINs in the window: replies do not reach it */
#define FB_IDLE_US 30000000ULL	  /* a node served alone silent this long frees its slot */
#define LOSS_ABS_PPM 30000	  /* LOSS: above 3% ... */
#define LOSS_REL 4		  /* ... and 4 x the best member's */
#define LOSS_TICKS 20	  /* net bad ticks (up when over, down when not): 2 s */
#define UNREACHED_PPM 900000
#define UNREACHED_TICKS 10
#define UNREACHED_REASKS 2	  /* ... with re-ask evidence in this many of them */
#define REASK_MIN16 (64 * 16)	  /* smoothed re-ask evidence needed for a verdict (x16) */
#define STALL_TICKS 20
#define ACTIVE_US 2000000ULL	  /* a member heard from within this long takes part */
#define MIN_AGE_TICKS 3		  /* nor before it has been there this long */
#define MIN_SENT_PER_TICK 64	  /* BLOCKs per tick the group must send for a verdict */
#define COVER_FRESH_US 2000000ULL /* a first ask is evidence of a cover this recent */
#define FB_HOLD 10		  /* a node alone: intervals without increase after a cut */
#define FB_START_FLOOR 100000000ULL /* a node moved out starts at least here (bits/s) */
#define DELIV_WIN_US 1000000ULL	  /* window of a node's delivery rate */
#define PROBE_WAIT_US 1000000ULL  /* an ask unanswered this long, the group busy: probe */
#define PROBE_GAP_US 1000000ULL	  /* at most one probe a node this often */
#define PROBE_BLOCKS 256	  /* BLOCKs of a probe */
#define PROBE_QUEUE 4		  /* probes queued at most */

static const char *const reason_str[] = {
#define MB_FRIS_X_STR(n, s) s,
	MB_FRIS_NODE_REASONS(MB_FRIS_X_STR)
#undef MB_FRIS_X_STR
};

const char *
mb_fris_node_reason_str(enum mb_fris_node_reason r)
{
	return (unsigned)r < MB_FRIS_NODE_R_MAX ? reason_str[r] : "?";
}

static uint64_t
us(const struct mb_fris_nodes *t, uint64_t v)
{
	return (uint64_t)((unsigned __int128)t->hz * v / 1000000);
}

/* How long ago `then` was; 0 when the caller's clocks put it after `now`
 * (a datagram read after the clock of the tick). */
static inline uint64_t
since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

struct mb_fris_nodes *
mb_fris_nodes_create(uint64_t nblocks, uint32_t max_nodes, uint32_t max_fb, uint64_t fb_budget,
		     uint64_t hz, uint64_t wire_bits)
{
	struct mb_fris_nodes *t;
	uint64_t nchunks = (nblocks + MB_FRIS_CHUNK_BLOCKS - 1) / MB_FRIS_CHUNK_BLOCKS;
	uint32_t hsize = 2, i;

	if (nblocks == 0 || nchunks > (1u << 24) || max_nodes == 0 || max_nodes > 65535 ||
	    max_fb > max_nodes || hz == 0 || wire_bits == 0) {
		errno = EINVAL;
		return NULL;
	}
	while (hsize < 2 * max_nodes)
		hsize <<= 1;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->nblocks = nblocks;
	t->nchunks = (uint32_t)nchunks;
	t->hz = hz;
	t->wire_bits = wire_bits;
	t->max = max_nodes;
	t->mapwords = (t->nchunks + 63) / 64;
	t->hmask = hsize - 1;
	t->node = calloc(max_nodes, sizeof(*t->node));
	t->donemaps = calloc((size_t)max_nodes * t->mapwords, sizeof(uint64_t));
	t->hash = calloc(hsize, sizeof(*t->hash));
	t->last_send = calloc(t->nchunks, sizeof(uint64_t));
	t->sent_cnt = calloc(t->nchunks, sizeof(uint32_t));
	t->covered_at = calloc(t->nchunks, sizeof(uint64_t));
	t->cover_start = calloc(t->nchunks, sizeof(uint64_t));
	t->cover_cnt = calloc(t->nchunks, sizeof(uint16_t));
	t->cover_map = calloc((size_t)t->nchunks * (MB_FRIS_MAP_BYTES / 8), sizeof(uint64_t));
	t->fb_max = max_fb;
	t->fb = calloc(max_fb ? max_fb : 1, sizeof(*t->fb));
	t->fb_budget = fb_budget;
	t->probe_wq = mb_fris_wq_create(nblocks, PROBE_QUEUE);
	if (t->probe_wq == NULL || t->node == NULL || t->donemaps == NULL || t->hash == NULL ||
	    t->last_send == NULL || t->sent_cnt == NULL || t->covered_at == NULL || t->cover_start == NULL ||
	    t->cover_cnt == NULL ||
	    t->cover_map == NULL || t->fb == NULL)
		goto nomem;
	for (i = 0; i < max_fb; i++) {
		t->fb[i].node = -1;
		/* the stock client has at most 8 chunks in progress and asks for
		 * 2 ahead: 64 elements hold what one node can have asked for */
		t->fb[i].wq = mb_fris_wq_create(nblocks, MB_FRIS_NODES_FB_QUEUE);
		if (t->fb[i].wq == NULL)
			goto nomem;
	}
	for (i = 0; i < max_nodes; i++)
		t->node[i].fb = -1;
	return t;
nomem:
	mb_fris_nodes_free(t);
	errno = ENOMEM;
	return NULL;
}

void
mb_fris_nodes_free(struct mb_fris_nodes *t)
{
	if (t == NULL)
		return;
	for (uint32_t i = 0; t->fb != NULL && i < t->fb_max; i++)
		mb_fris_wq_free(t->fb[i].wq);
	free(t->fb);
	mb_fris_wq_free(t->probe_wq);
	free(t->cover_map);
	free(t->cover_cnt);
	free(t->cover_start);
	free(t->covered_at);
	free(t->sent_cnt);
	free(t->last_send);
	free(t->hash);
	free(t->donemaps);
	free(t->node);
	free(t);
}

/* A node's bucket holds 2 ms of its rate, at least 4 BLOCKs: a lcore that
 * sleeps a millisecond between passes loses none of its tokens (1 ms, as
 * before, held a node at a 24 Mbit/s rate to 2 BLOCKs a millisecond). */
static uint64_t
fb_burst(const struct mb_fris_nodes *t, uint64_t rate)
{
	uint64_t b = rate / 500;

	return b > 4 * t->wire_bits ? b : 4 * t->wire_bits;
}

void
mb_fris_nodes_set_rates(struct mb_fris_nodes *t, uint64_t start, uint64_t max, uint64_t now)
{
	t->fb_rate_max = max;
	t->fb_rate_start = start < max ? start : max;
	for (uint32_t i = 0; i < t->fb_max; i++) {
		struct mb_fris_fb *fb = &t->fb[i];

		if (fb->node < 0 || max == 0)
			continue;
		mb_rate_adapt_set_max(&fb->ra, max);
		mb_tbucket_set_rate(&fb->tb, fb->ra.rate, fb_burst(t, fb->ra.rate), now);
	}
}

static uint32_t
hslot(const struct mb_fris_nodes *t, uint32_t addr)
{
	/* Fibonacci hashing: addresses of one subnet differ in low bits */
	return (uint32_t)(((uint64_t)addr * 0x9e3779b97f4a7c15ULL) >> 32) & t->hmask;
}

struct mb_fris_node *
mb_fris_nodes_find(struct mb_fris_nodes *t, uint32_t addr)
{
	uint32_t h = hslot(t, addr);

	for (;;) {
		uint16_t v = t->hash[h];

		if (v == 0)
			return NULL;
		if (atomic_load_explicit(&t->node[v - 1].addr, memory_order_relaxed) == addr)
			return &t->node[v - 1];
		h = (h + 1) & t->hmask;
	}
}

struct mb_fris_node *
mb_fris_nodes_get(struct mb_fris_nodes *t, uint32_t addr, uint64_t now)
{
	struct mb_fris_node *nd;
	uint32_t h, n;

	if (addr == 0)
		return NULL;
	nd = mb_fris_nodes_find(t, addr);
	if (nd != NULL) {
		nd->last_seen = now;
		return nd;
	}
	n = atomic_load_explicit(&t->n, memory_order_relaxed);
	if (n == t->max) {
		t->st.untracked++;
		return NULL;
	}
	nd = &t->node[n];
	nd->first_seen = nd->last_seen = now;
	nd->dl_t = now;
	nd->fb = -1;
	h = hslot(t, addr);
	while (t->hash[h] != 0)
		h = (h + 1) & t->hmask;
	t->hash[h] = (uint16_t)(n + 1);
	/* readers see the entry complete once the address and count are there */
	atomic_store_explicit(&nd->addr, addr, memory_order_release);
	atomic_store_explicit(&t->n, n + 1, memory_order_release);
	return nd;
}

static uint64_t *
donemap(const struct mb_fris_nodes *t, const struct mb_fris_node *nd)
{
	return t->donemaps + (size_t)(nd - t->node) * t->mapwords;
}

bool
mb_fris_node_done(const struct mb_fris_nodes *t, const struct mb_fris_node *nd, uint32_t c)
{
	return c < t->nchunks && (donemap(t, nd)[c / 64] >> (c % 64) & 1);
}

static void
set_done(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint32_t c, uint64_t now)
{
	uint64_t *w = &donemap(t, nd)[c / 64], bit = 1ULL << (c % 64);

	if (*w & bit)
		return;
	*w |= bit;
	nd->done++;
	if (nd->method == MB_FRIS_NODE_MCAST)
		t->last_progress = now;
}

static void
clear_done(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint32_t c)
{
	uint64_t *w = &donemap(t, nd)[c / 64], bit = 1ULL << (c % 64);

	if (*w & bit) {
		*w &= ~bit;
		nd->done--;
	}
}

/* Move a node to its own queue and rate: a free slot, or counted. */
static void
fallback(struct mb_fris_nodes *t, struct mb_fris_node *nd, enum mb_fris_node_reason why,
	 uint64_t now)
{
	struct mb_fris_fb *fb = NULL;
	uint64_t max = t->fb_rate_max, start = t->fb_rate_start;

	if (nd->method == MB_FRIS_NODE_UCAST || nd->left || nd->no_fb)
		return;
	for (uint32_t i = 0; i < t->fb_max; i++) {
		if (t->fb[i].node < 0) {
			fb = &t->fb[i];
			break;
		}
	}
	if (fb == NULL || max == 0) {
		if (!nd->fb_refused)
			t->st.fallback_full++;
		nd->fb_refused = true;
		return;
	}
	mb_fris_wq_reset(fb->wq);
	fb->node = (int32_t)(nd - t->node);
	fb->run.in = false;
	fb->sent = fb->t_sent = 0;
	fb->budget = t->fb_budget;
	/* one the group does not reach at all (its port) at the group's
	 * rate; one that could not take the group's rate, or that the group
	 * stopped reaching, at what it took (its delivery rate), else a
	 * quarter of the group's; either at least at the floor: its own rate
	 * comes down to a slower link with its first cut, and creeps up from
	 * too low only slowly (fris_nodes.h) */
	if (why != MB_FRIS_NODE_R_JOIN) {
		start = nd->deliv_bps != 0 ? nd->deliv_bps : start / 4;
		if (start < FB_START_FLOOR)
			start = FB_START_FLOOR;
		if (start > max)
			start = max;
	}
	(void)mb_rate_adapt_init(&fb->ra, max, 0, start, t->hz, now);
	/* its evidence is its own re-asks, which come a re-request delay
	 * (1 s) after what they are of: a cut holds that long, and the rate
	 * creeps back by 1/32 an interval, no faster (see fris_nodes.h) */
	fb->ra.hold = FB_HOLD;
	fb->ra.creep_max = 1;
	/* loss that stays when its rate comes down is not its rate's doing:
	 * its port still gets the group's traffic (a node moved out for loss
	 * is still a member at the switch) and its BLOCKs get a share of its
	 * link in proportion to what it is sent; cutting on would lose that
	 * share (mcast-mixed-1g: its rate sat at 9-18 Mbit/s while the others
	 * loaded, and it took 57 s).  Any such loss is its noise floor. */
	fb->ra.noise_max_ppm = 1000000;
	(void)mb_tbucket_init(&fb->tb, fb->ra.rate, fb_burst(t, fb->ra.rate), t->hz, now);
	fb->t_idle = false;
	/* what was sent of its asks is counted from here on, to it alone
	 * (the group's send counts of its asks mean nothing now) */
	for (unsigned i = 0; i < nd->npend; i++)
		nd->pend_sent[i] = 0;
	nd->hist_n = nd->hist_next = 0;
	t->fb_n++;
	nd->fb = (int16_t)(fb - t->fb);
	nd->method = MB_FRIS_NODE_UCAST;
	nd->reason = (uint8_t)why;
	t->st.fallbacks++;
	t->st.fb_by_reason[why]++;
}

static void
fb_release(struct mb_fris_nodes *t, struct mb_fris_node *nd)
{
	struct mb_fris_fb *fb = mb_fris_nodes_fb(t, nd);

	if (fb == NULL)
		return;
	mb_fris_wq_reset(fb->wq);
	fb->node = -1;
	fb->run.in = false;
	nd->fb = -1;
	t->fb_n--;
	t->st.fb_released++;
}

bool
mb_fris_nodes_join(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint32_t clientid,
		   uint64_t now)
{
	/* a new run of the client on the node (after its LEAVE, or a client
	 * killed or rebooted without one: another client id) starts over; what
	 * the old run asked for is no evidence against the new one */
	bool fresh = nd->left || (nd->joins > 0 && clientid != nd->clientid);

	nd->joins++;
	nd->last_seen = now;
	nd->clientid = clientid;
	if (fresh) {
		nd->left = false;
		nd->reported = false;
		memset(donemap(t, nd), 0, t->mapwords * sizeof(uint64_t));
		nd->done = 0;
		nd->npend = 0;
		nd->first_seen = now;
		nd->first_ask = 0;
		nd->t_lost = nd->t_ref = 0;
		nd->ew_lost16 = nd->ew_ref16 = 0;
		nd->t_flost = nd->t_fref = 0;
		nd->ew_flost16 = nd->ew_fref16 = 0;
		nd->loss_ppm = 0;
		nd->bad_ticks = nd->unreached_ticks = nd->stall_ticks = 0;
		nd->reask_ticks = 0;
		nd->t_reask = false;
		nd->ra_sent16 = nd->ra_lost16 = 0;
		nd->hist_n = nd->hist_next = 0;
		nd->stall_mark = 0;
		nd->join_win.n = 0;
		nd->deliv_bps = 0;
		nd->dl_mark = 0;
		nd->dl_t = now;
		nd->wait_since = 0;
	}
	if (mb_cwin_hit(&nd->join_win, us(t, JOIN_WIN_US), now) >= JOIN_FALLBACK)
		fallback(t, nd, MB_FRIS_NODE_R_JOIN, now);
	return nd->fb >= 0;
}

/* An ask leaves the pending list: remember the group's send count at it
 * and what it asked for. */
static void
hist_push(struct mb_fris_node *nd, uint32_t chunk, uint32_t sent, uint16_t asked)
{
	nd->hist_chunk[nd->hist_next] = chunk;
	nd->hist_sent[nd->hist_next] = sent;
	nd->hist_asked[nd->hist_next] = asked;
	nd->hist_next = (uint8_t)((nd->hist_next + 1) % MB_FRIS_NODE_HIST);
	if (nd->hist_n < MB_FRIS_NODE_HIST)
		nd->hist_n++;
}

/* The group's send count at the node's last remembered ask of `chunk` and
 * what it asked for then (taken out of the ring), or false. */
static bool
hist_take(struct mb_fris_node *nd, uint32_t chunk, uint32_t *sent, uint32_t *asked)
{
	for (unsigned k = 1; k <= nd->hist_n; k++) {
		unsigned j = (nd->hist_next + MB_FRIS_NODE_HIST - k) % MB_FRIS_NODE_HIST;

		if (nd->hist_chunk[j] != chunk)
			continue;
		*sent = nd->hist_sent[j];
		*asked = nd->hist_asked[j];
		nd->hist_chunk[j] = UINT32_MAX; /* used up */
		return true;
	}
	return false;
}

/* Of the BLOCKs of a chunk sent since the node asked for `before` of it,
 * those it lacked: at most `before` (the rest it had; a whole chunk sent for
 * another node's request tells nothing of the 40 blocks this one lacked). */
static uint32_t
needed(uint32_t since, uint32_t before)
{
	return since < before ? since : before;
}

/* Of `need` BLOCKs sent that the node lacked, what it asks for again in
 * `now`: those it did not get (its ask shrank by what it got), at most what
 * it asks for. */
static uint32_t
reasked(uint32_t need, uint32_t before, uint32_t now)
{
	uint32_t got = before > now ? before - now : 0;
	uint32_t lost = need > got ? need - got : 0;

	return lost < now ? lost : now;
}

/* Did blocks of the chunk of pending ask i go out after the ask (to the
 * group; served alone: nothing of it is left in its queue)? */
static bool
pend_answered(struct mb_fris_nodes *t, const struct mb_fris_node *nd, unsigned i)
{
	struct mb_fris_fb *fb = mb_fris_nodes_fb(t, nd);
	uint32_t c = nd->pend_chunk[i];

	return fb != NULL ? !mb_fris_wq_queued(fb->wq, c) : t->last_send[c] > nd->pend_t[i];
}

void
mb_fris_nodes_ask(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint32_t chunk,
		  uint32_t nasked, bool retry, uint64_t now)
{
	bool alone = nd->method == MB_FRIS_NODE_UCAST;
	uint64_t lost = 0, ref = 0, of = 0;
	unsigned i, old = 0;

	if (chunk >= t->nchunks)
		return;
	nd->last_seen = nd->last_ask = now;
	if (nd->first_ask == 0)
		nd->first_ask = now;
	nd->t_asks++;
	nd->requests++;
	nd->blocks_asked += nasked;
	if (retry)
		nd->rerequests++;
	for (i = 0; i < nd->npend; i++) {
		if (nd->pend_chunk[i] == chunk)
			break;
		if (nd->pend_t[i] < nd->pend_t[old])
			old = i;
	}
	/* loss evidence: asked again for what went out since its last ask of
	 * the chunk; a member's first ask, for a chunk the group sent whole
	 * while it was there */
	if (i < nd->npend) {
		uint32_t since_ask = alone ? nd->pend_sent[i] : t->sent_cnt[chunk] - nd->pend_sent[i];
		uint32_t need = needed(since_ask, nd->pend_asked[i]);

		lost = reasked(need, nd->pend_asked[i], nasked);
		ref = need;
		of = t->last_send[chunk];
		if (!alone && need > 0) {
			nd->ra_sent16 += (uint64_t)need * 16;
			nd->ra_lost16 += lost * 16;
			nd->t_reask = true;
		}
	} else {
		uint32_t at, before, since_ask;

		if (hist_take(nd, chunk, &at, &before)) {
			/* asked before, longer ago than the pending list keeps
			 * (alone: `at` counts what was sent to it since) */
			since_ask = needed(alone ? at : t->sent_cnt[chunk] - at, before);
			if (since_ask > 0) {
				lost = reasked(since_ask, before, nasked);
				ref = since_ask;
				of = t->last_send[chunk];
			}
			if (since_ask > 0 && !alone) {
				nd->ra_sent16 += (uint64_t)since_ask * 16;
				nd->ra_lost16 += lost * 16;
				nd->t_reask = true;
			}
		} else if (!alone && t->covered_at[chunk] > nd->first_ask &&
			   since(now, t->covered_at[chunk]) <= us(t, COVER_FRESH_US)) {
			lost = nasked;
			ref = mb_fris_chunk_blocks(t->nblocks, chunk);
			of = t->covered_at[chunk];
		}
	}
	nd->t_lost += lost;
	nd->t_ref += ref;
	/* of sends since the group's rate was last cut: its loss signal */
	if (!alone && of >= t->cut_t) {
		nd->t_flost += lost;
		nd->t_fref += ref;
	}
	nd->blocks_lost += lost;
	if (nd->left)
		return;
	clear_done(t, nd, chunk);
	if (i == nd->npend) {
		if (nd->npend < MB_FRIS_NODE_PEND) {
			nd->npend++;
		} else {
			/* make room: the oldest ask resolves early (done when
			 * answered), so a node asking fast keeps its progress */
			i = old;
			if (pend_answered(t, nd, i))
				set_done(t, nd, nd->pend_chunk[i], now);
			hist_push(nd, nd->pend_chunk[i], nd->pend_sent[i], nd->pend_asked[i]);
		}
	}
	nd->pend_chunk[i] = chunk;
	nd->pend_t[i] = now;
	nd->pend_sent[i] = alone ? 0 : t->sent_cnt[chunk];
	nd->pend_asked[i] = (uint16_t)(nasked < MB_FRIS_CHUNK_BLOCKS ? nasked : MB_FRIS_CHUNK_BLOCKS);
}

void
mb_fris_nodes_fb_sent(struct mb_fris_nodes *t, struct mb_fris_fb *fb, uint32_t chunk, uint32_t n)
{
	struct mb_fris_node *nd;

	fb->sent += n;
	fb->t_sent += n;
	if (fb->node < 0)
		return;
	nd = &t->node[fb->node];
	nd->ucast_blocks += n;
	for (unsigned i = 0; i < nd->npend; i++) {
		if (nd->pend_chunk[i] == chunk) {
			nd->pend_sent[i] += n;
			return;
		}
	}
	/* an ask pushed out of the pending list (a node with more chunks in
	 * progress than it keeps) whose blocks are still going out */
	for (unsigned k = 1; k <= nd->hist_n; k++) {
		unsigned j = (nd->hist_next + MB_FRIS_NODE_HIST - k) % MB_FRIS_NODE_HIST;

		if (nd->hist_chunk[j] == chunk) {
			nd->hist_sent[j] += n;
			return;
		}
	}
}

bool
mb_fris_nodes_group_lacks(const struct mb_fris_nodes *t, uint32_t chunk)
{
	uint32_t nn = atomic_load_explicit(&t->n, memory_order_relaxed);

	if (chunk >= t->nchunks)
		return false;
	for (uint32_t i = 0; i < nn; i++) {
		const struct mb_fris_node *nd = &t->node[i];

		if (nd->method == MB_FRIS_NODE_MCAST && !nd->left && nd->first_ask != 0 &&
		    !mb_fris_node_done(t, nd, chunk))
			return true;
	}
	return false;
}

void
mb_fris_nodes_leave(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint64_t now)
{
	nd->last_seen = now;
	nd->left = true;
	nd->npend = 0;
	fb_release(t, nd);
}

void
mb_fris_nodes_report(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint32_t chunks_in,
		     uint64_t bytes_out, uint64_t now)
{
	nd->last_seen = now;
	nd->reported = true;
	nd->rep_chunks = chunks_in < t->nchunks ? chunks_in : t->nchunks;
	nd->rep_bytes = bytes_out;
}

/* Set bits [first, first + n) of a 16-word map; how many were clear. */
static uint32_t
map_fill(uint64_t *m, uint32_t first, uint32_t n)
{
	uint32_t fresh = 0, end = first + n;

	while (first < end) {
		uint32_t w = first / 64, lo = first % 64;
		uint32_t cnt = end - first < 64 - lo ? end - first : 64 - lo;
		uint64_t mask = (cnt == 64 ? ~0ULL : ((1ULL << cnt) - 1)) << lo;

		fresh += (uint32_t)__builtin_popcountll(mask & ~m[w]);
		m[w] |= mask;
		first += cnt;
	}
	return fresh;
}

void
mb_fris_nodes_sent(struct mb_fris_nodes *t, uint32_t chunk, uint32_t first, uint32_t n,
		   uint64_t now)
{
	uint64_t *m;
	uint32_t fresh, cb, i, nn;

	if (chunk >= t->nchunks || n == 0 || first >= MB_FRIS_CHUNK_BLOCKS ||
	    n > MB_FRIS_CHUNK_BLOCKS - first)
		return;
	t->t_sent += n;
	t->sent_cnt[chunk] += n;
	t->last_send[chunk] = now;
	m = t->cover_map + (size_t)chunk * (MB_FRIS_MAP_BYTES / 8);
	if (t->cover_cnt[chunk] == 0)
		t->cover_start[chunk] = now;
	fresh = map_fill(m, first, n);
	t->cover_cnt[chunk] = (uint16_t)(t->cover_cnt[chunk] + fresh);
	cb = mb_fris_chunk_blocks(t->nblocks, chunk);
	if (t->cover_cnt[chunk] < cb)
		return;
	/* every block of the chunk went to the group since cover_start: done
	 * for the members that were there then */
	t->st.covers++;
	t->covered_at[chunk] = now;
	nn = atomic_load_explicit(&t->n, memory_order_relaxed);
	for (i = 0; i < nn; i++) {
		struct mb_fris_node *nd = &t->node[i];

		if (nd->method == MB_FRIS_NODE_MCAST && !nd->left && nd->first_ask != 0 &&
		    nd->first_ask <= t->cover_start[chunk])
			set_done(t, nd, chunk, now);
	}
	memset(m, 0, MB_FRIS_MAP_BYTES);
	t->cover_cnt[chunk] = 0;
}

/* Pending asks of a node: answered and not repeated for RESOLVE_US, done. */
static void
resolve(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint64_t now)
{
	unsigned i = 0;

	while (i < nd->npend) {
		uint32_t c = nd->pend_chunk[i];
		uint64_t ta = nd->pend_t[i];
		bool answered = pend_answered(t, nd, i);

		if (since(now, ta) >= us(t, RESOLVE_US) &&
		    (answered || since(now, ta) >= us(t, PEND_STALE_US))) {
			if (answered)
				set_done(t, nd, c, now);
			hist_push(nd, c, nd->pend_sent[i], nd->pend_asked[i]);
			nd->npend--;
			nd->pend_chunk[i] = nd->pend_chunk[nd->npend];
			nd->pend_t[i] = nd->pend_t[nd->npend];
			nd->pend_sent[i] = nd->pend_sent[nd->npend];
			nd->pend_asked[i] = nd->pend_asked[nd->npend];
			continue;
		}
		i++;
	}
}

/* Its delivery rate: every DELIV_WIN_US, the chunks its progress grew by
 * (reported, else inferred); a window without growth (it got nothing, or
 * asked again for what was inferred done) leaves the last measure. */
static void
deliv_tick(struct mb_fris_nodes *t, struct mb_fris_node *nd, uint64_t now)
{
	uint32_t prog = nd->reported ? nd->rep_chunks : nd->done;
	uint64_t dt = since(now, nd->dl_t), bps;

	if (dt < us(t, DELIV_WIN_US))
		return;
	if (prog > nd->dl_mark) {
		bps = (uint64_t)((unsigned __int128)(prog - nd->dl_mark) * MB_FRIS_CHUNK_BLOCKS *
				 t->wire_bits * t->hz / dt);
		nd->deliv_bps = nd->deliv_bps == 0 ? bps : (nd->deliv_bps + bps) / 2;
	}
	nd->dl_mark = prog;
	nd->dl_t = now;
}

static bool
member(const struct mb_fris_nodes *t, const struct mb_fris_node *nd, uint64_t now)
{
	return nd->method == MB_FRIS_NODE_MCAST && !nd->left &&
	       since(now, nd->first_seen) >= us(t, MIN_AGE_TICKS * MB_FRIS_NODES_TICK_US) &&
	       since(now, nd->last_seen) <= us(t, ACTIVE_US);
}

/* A pending ask of the node for a whole chunk, nothing of which went to
 * the group since (it waits in the queue, or the node asked for it again
 * since), or -1.  Whole: the node has none of it, so whatever a probe
 * sends of it is what it lacks, and its next ask says what it got (of a
 * chunk it has some of, a probe might send what it has, and its next ask
 * would read as loss). */
static int
waiting_ask(const struct mb_fris_nodes *t, const struct mb_fris_node *nd)
{
	for (unsigned i = 0; i < nd->npend; i++) {
		uint32_t c = nd->pend_chunk[i];

		if (t->last_send[c] <= nd->pend_t[i] &&
		    nd->pend_asked[i] >= mb_fris_chunk_blocks(t->nblocks, c))
			return (int)i;
	}
	return -1;
}

/* One probe a tick at most: the first member (round robin) with an ask
 * waiting unanswered for PROBE_WAIT_US while the group was busy, not
 * probed in PROBE_GAP_US, that could still be served alone. */
static void
probe(struct mb_fris_nodes *t, uint32_t nn, bool busy, uint64_t now)
{
	if (nn == 0)
		return;
	for (uint32_t k = 0; k < nn; k++) {
		struct mb_fris_node *nd = &t->node[(t->probe_rr + k) % nn];
		int i = member(t, nd, now) && !nd->no_fb ? waiting_ask(t, nd) : -1;
		uint32_t c, n;

		if (i < 0) {
			nd->wait_since = 0;
			continue;
		}
		if (nd->wait_since == 0)
			nd->wait_since = now;
		if (!busy || t->fb_n >= t->fb_max ||
		    since(now, nd->wait_since) < us(t, PROBE_WAIT_US) ||
		    (nd->probe_t != 0 && since(now, nd->probe_t) < us(t, PROBE_GAP_US)))
			continue;
		c = nd->pend_chunk[i];
		n = mb_fris_chunk_blocks(t->nblocks, c);
		if (mb_fris_wq_enqueue_range(t->probe_wq, c, 0,
					     n < PROBE_BLOCKS ? n : PROBE_BLOCKS) ==
		    MB_FRIS_WQ_DROPPED)
			return; /* the caller has not sent the last ones yet */
		nd->probe_t = now;
		t->st.probes++;
		t->probe_rr = (t->probe_rr + k + 1) % nn;
		return;
	}
}

uint32_t
mb_fris_nodes_tick(struct mb_fris_nodes *t, uint64_t now)
{
	uint32_t nn = atomic_load_explicit(&t->n, memory_order_relaxed), i;
	uint32_t lo = UINT32_MAX, hi = 0, known = 0, loss, flo = UINT32_MAX, fhi = 0;
	bool verdict;

	t->ew_sent16 = (t->ew_sent16 * 7 + t->t_sent * 16) / 8;
	t->ew_fsent16 = (t->ew_fsent16 * 7 + t->t_sent * 16) / 8;
	t->t_sent = 0;
	verdict = t->ew_sent16 >= MIN_SENT_PER_TICK * 16;
	/* each member's loss against what the group sent */
	for (i = 0; i < nn; i++) {
		struct mb_fris_node *nd = &t->node[i];
		uint64_t base;
		uint32_t fresh;

		deliv_tick(t, nd, now);
		nd->ew_lost16 = (nd->ew_lost16 * 7 + nd->t_lost * 16) / 8;
		nd->ew_ref16 = (nd->ew_ref16 * 7 + nd->t_ref * 16) / 8;
		nd->ew_flost16 = (nd->ew_flost16 * 7 + nd->t_flost * 16) / 8;
		nd->ew_fref16 = (nd->ew_fref16 * 7 + nd->t_fref * 16) / 8;
		/* against what the group sent, or the sends the evidence is of
		 * when those were more (sent at a higher pace than now) */
		base = nd->ew_ref16 > t->ew_sent16 ? nd->ew_ref16 : t->ew_sent16;
		nd->loss_ppm = mb_ppm(nd->ew_lost16, base);
		base = nd->ew_fref16 > t->ew_fsent16 ? nd->ew_fref16 : t->ew_fsent16;
		fresh = mb_ppm(nd->ew_flost16, base);
		if (!verdict || !member(t, nd, now))
			continue;
		known++;
		lo = nd->loss_ppm < lo ? nd->loss_ppm : lo;
		hi = nd->loss_ppm > hi ? nd->loss_ppm : hi;
		flo = fresh < flo ? fresh : flo;
		fhi = fresh > fhi ? fresh : fhi;
	}
	for (i = 0; i < nn; i++) {
		struct mb_fris_node *nd = &t->node[i];
		uint64_t thr;

		/* re-ask evidence, smoothed like the loss (about a second) */
		nd->ra_sent16 = nd->ra_sent16 * 7 / 8;
		nd->ra_lost16 = nd->ra_lost16 * 7 / 8;
		if (!member(t, nd, now)) {
			nd->bad_ticks = nd->unreached_ticks = nd->stall_ticks = 0;
			nd->reask_ticks = 0;
			nd->stall_mark = nd->done;
			goto next;
		}
		if (verdict) {
			thr = (uint64_t)lo * LOSS_REL;
			if (thr < LOSS_ABS_PPM)
				thr = LOSS_ABS_PPM;
			if (nd->loss_ppm > thr)
				nd->bad_ticks++;
			else if (nd->bad_ticks > 0)
				nd->bad_ticks--;
			if (known >= 2 && nd->bad_ticks >= LOSS_TICKS)
				fallback(t, nd, MB_FRIS_NODE_R_LOSS, now);
		}
		/* UNREACHED: over 90% of what was sent is asked for again, by the
		 * loss against the group's sends (needs the group busy) or by the
		 * re-asks themselves (any pace: a node alone in a group at its
		 * floor rate, whose loss against the group's smoothed sends swings
		 * with each re-ask); 1 s in a row, with re-asks in 2 ticks of it */
		if ((verdict && nd->loss_ppm > UNREACHED_PPM) ||
		    (nd->ra_sent16 >= REASK_MIN16 &&
		     nd->ra_lost16 * 1000000 > nd->ra_sent16 * (uint64_t)UNREACHED_PPM)) {
			nd->unreached_ticks++;
			if (nd->t_reask)
				nd->reask_ticks++;
		} else {
			nd->unreached_ticks = nd->reask_ticks = 0;
		}
		if (nd->method == MB_FRIS_NODE_MCAST && nd->unreached_ticks >= UNREACHED_TICKS &&
		    nd->reask_ticks >= UNREACHED_REASKS)
			fallback(t, nd, MB_FRIS_NODE_R_UNREACHED, now);
		/* asking, no progress, while another member progresses */
		if (nd->done != nd->stall_mark || nd->t_asks == 0) {
			if (nd->done != nd->stall_mark)
				nd->stall_ticks = 0;
			nd->stall_mark = nd->done;
		} else if (++nd->stall_ticks >= STALL_TICKS &&
			   since(now, t->last_progress) < us(t, STALL_TICKS * MB_FRIS_NODES_TICK_US) &&
			   known >= 2) {
			fallback(t, nd, MB_FRIS_NODE_R_STALL, now);
		}
next:
		resolve(t, nd, now);
		nd->t_asks = 0;
	}
	probe(t, nn, verdict, now);
	/* the nodes served alone: their rates, and slots of nodes gone */
	for (i = 0; i < t->fb_max; i++) {
		struct mb_fris_fb *fb = &t->fb[i];
		struct mb_fris_node *nd;

		if (fb->node < 0)
			continue;
		nd = &t->node[fb->node];
		/* its loss: of what was sent to it of the chunks it asks for
		 * again, what it lacks still (not against what went out this
		 * tick: its re-asks come in bursts, a re-request delay after
		 * the sends they are of); a tick it asked nothing again is a
		 * clean one, as for the group (a node that gets what it is sent
		 * asks only when a chunk completes: at a low rate, seldom).  Cut
		 * from what really left while its queue never ran dry. */
		loss = mb_ppm(nd->t_lost, nd->t_ref);
		fb->ra.backlogged = !fb->t_idle;
		if (mb_rate_adapt_judge(&fb->ra, now, fb->t_sent * t->wire_bits, loss))
			mb_tbucket_set_rate(&fb->tb, fb->ra.rate, fb_burst(t, fb->ra.rate), now);
		fb->loss_ppm = loss;
		fb->t_sent = 0;
		fb->t_idle = false;
		if (fb->sent >= fb->budget) {
			/* its budget is spent: the group serves it again (it gets
			 * what the others ask for, its requests go to the group)
			 * rather than nothing at all */
			fb_release(t, nd);
			nd->method = MB_FRIS_NODE_MCAST;
			nd->reason = MB_FRIS_NODE_R_NONE;
			nd->no_fb = true;
			nd->bad_ticks = nd->unreached_ticks = nd->stall_ticks = 0;
			for (unsigned j = 0; j < nd->npend; j++)
				nd->pend_sent[j] = t->sent_cnt[nd->pend_chunk[j]];
			nd->hist_n = nd->hist_next = 0;
			t->st.fb_returned++;
		} else if (since(now, nd->last_seen) > us(t, FB_IDLE_US) && !fb->run.in &&
			   mb_fris_wq_empty(fb->wq)) {
			fb_release(t, nd);
		}
	}
	for (i = 0; i < nn; i++) {
		t->node[i].t_lost = 0;
		t->node[i].t_ref = 0;
		t->node[i].t_flost = 0;
		t->node[i].t_fref = 0;
		t->node[i].t_reask = false;
	}
	t->last_tick = now;
	/* the loss signal: of fresh evidence only (mb_fris_nodes_rate_cut) */
	if (known == 0)
		t->group_loss_ppm = 0;
	else
		t->group_loss_ppm = t->fb_n < t->fb_max ? flo : fhi;
	return t->group_loss_ppm;
}

void
mb_fris_nodes_rate_cut(struct mb_fris_nodes *t, uint64_t now)
{
	uint32_t nn = atomic_load_explicit(&t->n, memory_order_relaxed);

	/* evidence of what went out before `now` arrives for a re-request
	 * delay yet, smoothed over a second more: counted against the lower
	 * rate's sends it cut the rate again and again on one burst of loss
	 * (a lone member 88% lossy behind 100 Mbit/s: 1.2 Gbit/s, 440, 52 and
	 * 9 Mbit/s within a second) */
	t->cut_t = now;
	t->ew_fsent16 = 0;
	for (uint32_t i = 0; i < nn; i++) {
		t->node[i].t_flost = t->node[i].t_fref = 0;
		t->node[i].ew_flost16 = t->node[i].ew_fref16 = 0;
	}
}

uint32_t
mb_fris_node_progress_ppm(const struct mb_fris_nodes *t, const struct mb_fris_node *nd)
{
	uint32_t c;

	if (nd->left)
		return 1000000;
	c = nd->reported ? nd->rep_chunks : nd->done;
	return (uint32_t)((uint64_t)c * 1000000 / t->nchunks);
}
