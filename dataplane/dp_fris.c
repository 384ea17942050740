/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Frisbee engine: one session per (address, port), each serving one
 * image with the stock frisbeed's behaviour (doc/frisbee-protocol.md).
 *
 * Receive: a datagram for the session is decoded (proto/fris_wire), checked
 * against the sender's address and port, and noted against its node (the
 * session's node table, proto/fris_nodes: progress, loss evidence); then
 * JOIN and JOIN2 are answered at once (not paced, but bounded per node:
 * fris_join_allowed; to the group, or to the
 * node alone when it is served alone), REQUEST and PREQUEST go into the
 * session's work queue (proto/fris_wq, with frisbeed's merge rules) or into
 * the queue of the node when it is served alone (a request for a chunk of
 * an image still being filled that is not in place yet is parked instead,
 * and queued when the chunk arrives: fris_park), LEAVE, LEAVE2 and PROGRESS
 * reports update the node; our own looped-back packets, replies and other
 * servers' BLOCKs are ignored.  Every rejected datagram counts under its
 * decode reason.
 *
 * Send: each loop pass, every session takes the next run from its queue and
 * sends as many BLOCKs as both its own token bucket and the port's allow
 * (bits on the wire, Ethernet preamble, FCS and gap included); then each
 * node served alone gets the same from its own queue and bucket, its
 * frames addressed to its MAC (learned by ARP) with the group as IP
 * destination, so the stock client's multicast socket takes them and a
 * switch forwards them as any unicast frame.  A BLOCK is a 66-byte header
 * mbuf (Ethernet, IPv4, UDP, Frisbee header, chunk, block) followed by the
 * 1 KiB payload through the dataplane's one payload path (dp_zc.h):
 * attached from the image's memory when the port chains mbufs and the
 * memory may be DMA'd, else copied.  Every datagram carries a UDP
 * checksum, as the stock frisbeed's (kernel sockets) do: a BLOCK damaged on
 * the way is dropped by the receiver's kernel and requested again, where a
 * zero checksum let it be written into the node's disk (found by the
 * corruption case of tests/system/faults.sh).  The IPv4 header checksum is
 * offloaded when the port can.  The frames are built in dp_fris_frame.c:
 * a burst of BLOCKs from one template of their headers, both checksums
 * made from the template's sums and the payload's cached sum.
 *
 * Rate: with frisbee.dynamic-rate (the default) the group's bucket follows
 * the adaptive rate (proto/mb_tbucket.h: starts at the cap, cut by the
 * group's loss signal from the node table, creeping back); each node
 * served alone has its own.  Without it the bucket runs at frisbee.rate
 * (0 = unpaced).
 *
 * Lifetime: a session lives while it makes progress, not while packets
 * arrive.  Progress is sending a block that is new to the session's current
 * round, or re-sending a chunk for the first time in the round (a member
 * recovering what it lost asks each lost chunk again); a round ends when
 * every block of the image has been sent once since it began (so a late
 * joiner's requests are new again in the next round).  A session that
 * makes no progress for frisbee.idle-timeout ends, whatever JOINs,
 * REQUESTs or PROGRESS reports keep coming: requests for data it has just
 * sent, repeated without end, cannot hold a slot (a chunk's re-sends count
 * once a round).  The bookkeeping is a bit per block (1/8192 of the image),
 * cleared lazily per chunk when a new round begins, and a round number per
 * chunk for its re-sends.  frisbee.linger changes the rule: "never"
 * drops it (a session ends only when stopped), "leave" adds one, as
 * frisbeed's -T -1: the session keeps the ids of the clients that JOINed
 * (up to MB_DP_SESS_CLIENTS; with more it cannot tell and keeps to the idle
 * rule) and ends MB_DP_LEAVE_LINGER_S after a LEAVE took the last one away,
 * unless a JOIN comes first.  A LEAVE names its client id, so it removes
 * only a client the session saw join; one with an id nobody joined with is
 * ignored.
 *
 * Output bound: a unicast session sends to one address, and a spoofed
 * 28-byte REQUEST asks for a whole 1 MiB chunk; so a unicast session sends
 * at most (1 + frisbee.unicast-resend/100) copies of its image plus one
 * chunk in all ("budget"), after which its requests are refused and counted
 * and, making no progress, it ends.  Multicast and broadcast sessions send
 * to the group or subnet, not to an address a requester picks.
 *
 * Workers: a session belongs to one worker (s->owner, dp_chan.c picks it
 * when it starts), which alone receives its datagrams (the others hand
 * them over, dp_lcore.c), sends its frames on its own TX queue and runs
 * its timers; only the port's bucket is shared.  Everything here runs on
 * the owning worker, except the slot preparation and release
 * (dp_fris_slot_*), which the control thread does for the channel
 * (dp_chan.c); nothing allocates per packet except mbufs from the pools.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "dp_fris_frame.h"
#include "dp_priv.h"
#include "mb_log.h"
#include "mb_time.h"

#define FRIS_WIRE_BITS ((uint64_t)MB_FRIS_ETH_BLOCK_BYTES * 8) /* 8912 */
#define FRIS_PASS_MAX 64 /* BLOCKs one session may queue per loop pass */

static bool
fris_active(struct mb_dp_sess *s)
{
	return atomic_load_explicit(&s->state, memory_order_acquire) == MB_DP_SESS_ACTIVE;
}

static void
fris_sctr(struct mb_dp_sess *s, enum mb_dp_sctr c, uint64_t n)
{
	__atomic_store_n(&s->ctr[c], s->ctr[c] + n, __ATOMIC_RELAXED);
}

static void
fris_drop(struct mb_dp_sess *s, enum mb_fris_result r)
{
	__atomic_store_n(&s->drop[r], s->drop[r] + 1, __ATOMIC_RELAXED);
	fris_sctr(s, MB_DP_S_drops, 1);
}

/* Is the unicast output budget spent? */
static inline bool
fris_budget_spent(const struct mb_dp_sess *s)
{
	return s->ctr[MB_DP_S_blocks] >= s->budget;
}

/* Set bits [first, first + n) of a 16-word block map; how many were clear. */
static inline uint32_t
fris_map_fill(uint64_t *m, uint32_t first, uint32_t n)
{
	uint32_t fresh = 0, end = first + n;

	while (first < end) {
		uint32_t w = first / 64, lo = first % 64;
		uint32_t cnt = RTE_MIN(end - first, 64 - lo);
		uint64_t mask = (cnt == 64 ? ~0ULL : ((1ULL << cnt) - 1)) << lo;

		fresh += (uint32_t)__builtin_popcountll(mask & ~m[w]);
		m[w] |= mask;
		first += cnt;
	}
	return fresh;
}

/* Blocks [block, block + n) of `chunk` went out: those not yet sent this
 * round are progress; the last of them ends the round.  So is the first
 * re-send of a chunk in a round (a member recovering what it lost: each
 * chunk it lost is re-sent at least once); a chunk re-sent again in the
 * same round is not, so re-asks of the same data cannot hold a slot. */
static void
fris_progress(struct mb_dp_sess *s, uint32_t chunk, uint32_t block, uint32_t n, uint64_t now)
{
	uint64_t *map;
	uint32_t fresh;

	if (chunk >= s->nchunks || n == 0 || block >= MB_FRIS_CHUNK_BLOCKS)
		return;
	n = RTE_MIN(n, MB_FRIS_CHUNK_BLOCKS - block);
	map = s->sent_map + (size_t)chunk * (MB_FRIS_MAP_BYTES / 8);
	if (s->map_round[chunk] != s->round) {
		memset(map, 0, MB_FRIS_MAP_BYTES);
		s->map_round[chunk] = s->round;
	}
	fresh = fris_map_fill(map, block, n);
	if (fresh == 0) {
		if (s->resend_round[chunk] != s->round + 1) {
			s->resend_round[chunk] = s->round + 1;
			s->last_progress = now;
		}
		return;
	}
	s->last_progress = now;
	s->round_left -= RTE_MIN((uint64_t)fresh, s->round_left);
	if (s->round_left == 0) {
		s->round++;
		s->round_left = s->nblocks;
		fris_sctr(s, MB_DP_S_rounds, 1);
	}
}

/*
 * Cut-through: a request for a chunk that is not in place yet is parked,
 * not dropped.  The session keeps a bit per chunk (two maps: chunks a
 * member of the group asked for, chunks a node served alone asked for),
 * set by the request; nothing else is kept, because no block of an absent
 * chunk has left this session, so whoever asked for any of it still lacks
 * all of it: the chunk goes into the queue whole.  Each send pass looks at
 * the image's fill generation (one load) while something is parked; when
 * it moved, the maps are walked and every parked chunk now present is
 * queued: to the group, and to each node served alone that has not got it.
 * The state is bounded by the image's chunk count, allocated with the
 * session.
 */
static void
fris_park(struct mb_dp_sess *s, uint32_t chunk, bool alone)
{
	uint64_t *w, bit = 1ULL << (chunk % 64);

	if (s->parked == NULL || chunk >= s->nchunks)
		return;
	w = &s->parked[(alone ? s->pk_words : 0) + chunk / 64];
	if (*w & bit)
		return; /* parked already: this request is merged into it */
	*w |= bit;
	s->nparked++;
	fris_sctr(s, MB_DP_S_parked, 1);
}

/* Queue a parked chunk that arrived: whole, to the group or to every node
 * served alone that lacks it, within the output bounds. */
static void
fris_unpark_chunk(struct mb_dp_sess *s, uint32_t chunk, bool alone)
{
	struct mb_fris_nodes *t = s->nodes;

	fris_sctr(s, MB_DP_S_unparked, 1);
	if (!alone) {
		if (fris_budget_spent(s))
			fris_sctr(s, MB_DP_S_budget_refused, 1);
		else if (mb_fris_wq_enqueue_range(s->wq, chunk, 0, MB_FRIS_CHUNK_BLOCKS) ==
			 MB_FRIS_WQ_DROPPED)
			fris_sctr(s, MB_DP_S_wq_drops, 1);
		return;
	}
	if (t == NULL)
		return;
	for (uint32_t k = 0; k < t->fb_max; k++) {
		struct mb_fris_fb *fb = &t->fb[k];

		if (fb->node < 0 || mb_fris_node_done(t, &t->node[fb->node], chunk))
			continue;
		if (fb->sent >= fb->budget)
			fris_sctr(s, MB_DP_S_fb_budget_refused, 1);
		else if (mb_fris_wq_enqueue_range(fb->wq, chunk, 0, MB_FRIS_CHUNK_BLOCKS) ==
			 MB_FRIS_WQ_DROPPED)
			fris_sctr(s, MB_DP_S_wq_drops, 1);
	}
}

/* Once a send pass, while chunks are parked: queue those that arrived
 * since the fill generation last moved. */
static void
fris_unpark(struct mb_dp_sess *s)
{
	uint64_t gen;

	if (s->nparked == 0)
		return;
	gen = mb_image_fill_gen(s->img);
	if (gen == s->parked_gen)
		return;
	s->parked_gen = gen;
	for (uint32_t i = 0; i < 2 * s->pk_words; i++) {
		uint64_t w = s->parked[i];

		while (w != 0) {
			uint32_t b = (uint32_t)__builtin_ctzll(w);
			uint32_t chunk = (i % s->pk_words) * 64 + b;

			w &= w - 1;
			if (!mb_image_chunk_present(s->img, chunk))
				continue;
			s->parked[i] &= ~(1ULL << b);
			s->nparked--;
			fris_unpark_chunk(s, chunk, i >= s->pk_words);
		}
	}
}

/* Destination MAC of the session's frames; false if a unicast client (or the
 * gateway towards it) is not resolved yet (an ARP request went out). */
static bool
fris_dmac(struct mb_dp_lcore *lc, struct mb_dp_sess *s, struct rte_ether_addr *mac)
{
	uint32_t h = rte_be_to_cpu_32(s->addr);

	switch (s->method) {
	case MB_FRIS_MULTICAST:
		*mac = (struct rte_ether_addr){{0x01, 0x00, 0x5e, (h >> 16) & 0x7f,
						(h >> 8) & 0xff, h & 0xff}};
		return true;
	case MB_FRIS_BROADCAST:
		memset(mac, 0xff, sizeof(*mac));
		return true;
	case MB_FRIS_UNICAST:
		break;
	}
	return dp_neigh_resolve(lc, dp_nexthop(lc->port, s->addr), mac);
}

/* A JOIN or JOIN2 reply to the session's destination, or, with `to`, to
 * that node's MAC alone (the IP destination stays the session's). */
static void
fris_join_reply(struct mb_dp_lcore *lc, struct mb_dp_sess *s, uint32_t version,
		uint32_t clientid, const struct rte_ether_addr *to)
{
	struct rte_ether_addr dmac;
	struct rte_mbuf *m;
	uint16_t plen = version == 2 ? MB_FRIS_JOIN2_LEN : MB_FRIS_JOIN_LEN;
	uint8_t *p;
	int n;

	if (to != NULL)
		dmac = *to;
	else if (!fris_dmac(lc, s, &dmac))
		return; /* the client repeats its JOIN; ARP is on its way */
	m = dp_alloc(lc);
	if (m == NULL)
		return;
	p = dp_fris_headers(lc, s, m, &dmac, plen);
	if (version == 2)
		n = mb_fris_encode_join2_reply(p, plen, lc->port->addr, clientid, s->size);
	else
		n = mb_fris_encode_join_reply(p, plen, lc->port->addr, (uint32_t)s->nblocks);
	if (n != plen) {
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = m->pkt_len = (uint32_t)(DP_FRIS_HDRS_LEN + plen);
	dp_fris_udp_cksum(m);
	if (dp_tx_frame(lc, m) == 0) {
		fris_sctr(s, MB_DP_S_tx_pkts, 1);
		fris_sctr(s, MB_DP_S_tx_bytes, plen);
		if (to != NULL)
			fris_sctr(s, MB_DP_S_fb_joins, 1);
	}
}

/* JOIN replies are bounded: each goes to the whole group (or to a node
 * alone), so forged JOINs from many addresses would turn every datagram
 * into a frame to every member (abuse.sh fris-flood, long run: 26,000 a
 * second held a real client back up to 60 s).  A tracked node is answered
 * at most twice per 100 ms (a JOIN and a JOIN2, or a JOIN repeated while
 * ARP resolved; the stock client repeats an unanswered JOIN after a
 * second); nodes beyond the node table share 16 answers per 100 ms per
 * session.  What is not answered is counted (join_limited). */
#define JOIN_WIN_DIV 10 /* the window: 1/10 s */
#define JOIN_NODE_SHARE 2
#define JOIN_UNTRACKED_SHARE 16

static bool
fris_join_allowed(struct mb_dp_lcore *lc, struct mb_dp_sess *s, struct mb_fris_node *nd,
		  uint64_t now)
{
	uint64_t win = lc->hz / JOIN_WIN_DIV;

	if (nd != NULL ? mb_cwin_hit(&nd->join_replies, win, now) <= JOIN_NODE_SHARE
		       : mb_cwin_hit(&s->join_untracked, win, now) <= JOIN_UNTRACKED_SHARE)
		return true;
	fris_sctr(s, MB_DP_S_join_limited, 1);
	return false;
}

/* The MAC of a node served alone; false while ARP is on its way. */
static bool
fris_node_mac(struct mb_dp_lcore *lc, uint32_t addr, struct rte_ether_addr *mac)
{
	return dp_neigh_resolve(lc, addr, mac);
}

static struct mb_dp_sess *
fris_lookup(struct mb_dp_lcore *lc, uint32_t src, uint32_t dst, uint16_t dport)
{
	const struct mb_dp_fris *f = &lc->dp->fris;
	uint32_t i;

	for (i = 0; i < f->max; i++) {
		struct mb_dp_sess *s = &f->sess[i];

		if (s->port != dport || !fris_active(s))
			continue;
		if (dst == s->addr && s->method != MB_FRIS_UNICAST)
			return s;
		if (dst == lc->port->addr && (s->method != MB_FRIS_UNICAST || src == s->addr))
			return s;
	}
	return NULL;
}

int
dp_fris_owner(struct mb_dp_lcore *lc, uint32_t src, uint32_t dst, uint16_t dport)
{
	const struct mb_dp_sess *s = fris_lookup(lc, src, dst, dport);

	return s != NULL ? s->owner : -1;
}

/* Linger LEAVE bookkeeping (file comment): a JOIN adds its client and
 * cancels a scheduled end. */
static void
fris_client_join(struct mb_dp_sess *s, uint32_t id)
{
	uint32_t i;

	s->leave_end = 0;
	for (i = 0; i < s->nclients; i++)
		if (s->clients[i] == id)
			return;
	if (s->nclients == MB_DP_SESS_CLIENTS) {
		s->clients_lost = true;
		return;
	}
	s->clients[s->nclients++] = id;
}

/* A LEAVE removes its client; the last one gone schedules the end. */
static void
fris_client_leave(struct mb_dp_lcore *lc, struct mb_dp_sess *s, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < s->nclients; i++) {
		if (s->clients[i] != id)
			continue;
		s->clients[i] = s->clients[--s->nclients];
		if (s->nclients == 0 && !s->clients_lost && s->linger == MB_FRIS_LINGER_LEAVE)
			s->leave_end = rte_rdtsc() + MB_DP_LEAVE_LINGER_S * lc->hz;
		return;
	}
}

/* The node a client datagram is from (NULL: untracked, counted). */
static struct mb_fris_node *
fris_node(struct mb_dp_lcore *lc, struct mb_dp_sess *s, uint32_t addr, uint64_t now)
{
	struct mb_fris_node *nd;
	uint32_t before;

	if (s->nodes == NULL)
		return NULL;
	before = s->nodes->n;
	nd = mb_fris_nodes_get(s->nodes, addr, now);
	if (nd == NULL) {
		fris_sctr(s, MB_DP_S_nodes_untracked, 1);
		return NULL;
	}
	if (s->nodes->n != before && dp_nexthop(lc->port, addr) != addr)
		nd->no_fb = true; /* off-link: frames to its MAC would go to the gateway */
	return nd;
}

/* Fallback moves happen in the node table; the counters follow it. */
static void
fris_fb_count(struct mb_dp_sess *s)
{
	const struct mb_fris_nodes_stats *st = &s->nodes->st;

	if (st->fallbacks != s->ctr[MB_DP_S_fallbacks])
		__atomic_store_n(&s->ctr[MB_DP_S_fallbacks], st->fallbacks, __ATOMIC_RELAXED);
	if (st->fallback_full != s->ctr[MB_DP_S_fb_refused])
		__atomic_store_n(&s->ctr[MB_DP_S_fb_refused], st->fallback_full, __ATOMIC_RELAXED);
	if (st->fb_returned != s->ctr[MB_DP_S_fb_returned])
		__atomic_store_n(&s->ctr[MB_DP_S_fb_returned], st->fb_returned, __ATOMIC_RELAXED);
	if (st->probes != s->ctr[MB_DP_S_probes])
		__atomic_store_n(&s->ctr[MB_DP_S_probes], st->probes, __ATOMIC_RELAXED);
}

/* A request of a node served alone: into its own queue, within its
 * output bound. */
static enum mb_fris_wq_verdict
fris_fb_enqueue(struct mb_dp_sess *s, struct mb_fris_fb *fb, const struct mb_fris_msg *msg)
{
	if (fb->sent >= fb->budget) {
		fris_sctr(s, MB_DP_S_fb_budget_refused, 1);
		return MB_FRIS_WQ_DROPPED;
	}
	fris_sctr(s, MB_DP_S_fb_requests, 1);
	if (msg->kind == MB_FRIS_K_REQUEST)
		return mb_fris_wq_enqueue_range(fb->wq, msg->u.request.chunk, msg->u.request.block,
						msg->u.request.count);
	return mb_fris_wq_enqueue_map(fb->wq, msg->u.prequest.chunk, msg->u.prequest.map);
}

bool
dp_fris_input(struct mb_dp_lcore *lc, uint32_t src, uint32_t dst, uint16_t sport,
	      uint16_t dport, const uint8_t *payload, uint32_t len)
{
	struct mb_dp_sess *s = fris_lookup(lc, src, dst, dport);
	struct rte_ether_addr mac;
	struct mb_fris_node *nd = NULL;
	struct mb_fris_fb *fb = NULL;
	enum mb_fris_wq_verdict v;
	enum mb_fris_result r;
	struct mb_fris_msg msg;
	uint64_t now;
	uint32_t chunk, nasked;

	if (s == NULL)
		return false;
	dp_count(lc, MB_DP_C_fris_rx, 1);
	fris_sctr(s, MB_DP_S_rx_pkts, 1);
	if (src == lc->port->addr) {
		fris_sctr(s, MB_DP_S_ignored, 1);
		return true;
	}
	r = mb_fris_decode(payload, len, s->nchunks, &msg);
	if (r == MB_FRIS_OK)
		r = mb_fris_check_source(&msg, src, sport, s->port,
					 s->method == MB_FRIS_MULTICAST ? s->addr : 0, false);
	if (r != MB_FRIS_OK) {
		fris_drop(s, r);
		return true;
	}
	/* No neighbour is learned from a datagram: the client's MAC comes from
	 * an ARP exchange we start (dp_neigh_resolve), so a node that spoofs
	 * the client's address cannot redirect its session.  Nor does a
	 * datagram keep the session alive (see the lifetime rule). */
	now = rte_rdtsc();
	switch (msg.kind) {
	case MB_FRIS_K_JOIN_REQ:
	case MB_FRIS_K_JOIN2_REQ:
	case MB_FRIS_K_REQUEST:
	case MB_FRIS_K_PREQUEST:
	case MB_FRIS_K_LEAVE:
	case MB_FRIS_K_LEAVE2:
		nd = fris_node(lc, s, src, now);
		break;
	case MB_FRIS_K_PROGRESS_REPORT:
		/* a proxy reports for `who` */
		nd = fris_node(lc, s, msg.u.progress.who != 0 ? msg.u.progress.who : src, now);
		break;
	default:
		break;
	}
	if (nd != NULL)
		fb = mb_fris_nodes_fb(s->nodes, nd);

	switch (msg.kind) {
	case MB_FRIS_K_JOIN_REQ:
	case MB_FRIS_K_JOIN2_REQ:
		fris_sctr(s, msg.kind == MB_FRIS_K_JOIN_REQ ? MB_DP_S_joins : MB_DP_S_joins2, 1);
		fris_client_join(s, msg.kind == MB_FRIS_K_JOIN_REQ ? msg.u.join.clientid :
								      msg.u.join2.clientid);
		if (!fris_join_allowed(lc, s, nd, now))
			break;
		if (nd != NULL &&
		    mb_fris_nodes_join(s->nodes, nd,
				       msg.kind == MB_FRIS_K_JOIN_REQ ? msg.u.join.clientid :
									msg.u.join2.clientid,
				       now)) {
			fris_fb_count(s);
			/* the group does not reach it: answer it alone */
			if (fris_node_mac(lc, src, &mac))
				fris_join_reply(lc, s, msg.kind == MB_FRIS_K_JOIN_REQ ? 1 : 2,
						msg.kind == MB_FRIS_K_JOIN_REQ ?
							msg.u.join.clientid :
							msg.u.join2.clientid,
						&mac);
			else
				fris_sctr(s, MB_DP_S_fb_no_neigh, 1);
			break;
		}
		fris_join_reply(lc, s, msg.kind == MB_FRIS_K_JOIN_REQ ? 1 : 2,
				msg.kind == MB_FRIS_K_JOIN_REQ ? msg.u.join.clientid :
								 msg.u.join2.clientid,
				NULL);
		break;
	case MB_FRIS_K_REQUEST:
	case MB_FRIS_K_PREQUEST:
		if (msg.kind == MB_FRIS_K_REQUEST) {
			fris_sctr(s, MB_DP_S_requests, 1);
			chunk = msg.u.request.chunk;
			nasked = msg.u.request.count;
		} else {
			fris_sctr(s, MB_DP_S_prequests, 1);
			chunk = msg.u.prequest.chunk;
			nasked = mb_fris_map_count(msg.u.prequest.map,
						   mb_fris_chunk_blocks(s->nblocks, chunk));
		}
		if (nd != NULL)
			mb_fris_nodes_ask(s->nodes, nd, chunk, nasked,
					  msg.kind == MB_FRIS_K_PREQUEST &&
						  msg.u.prequest.retries != 0,
					  now);
		if (!mb_image_chunk_present(s->img, chunk)) {
			/* cut-through: never send what is not there; it is
			 * queued when it comes (fris_park) */
			fris_sctr(s, MB_DP_S_not_yet, 1);
			fris_park(s, chunk, fb != NULL);
			break;
		}
		if (fb != NULL) {
			v = fris_fb_enqueue(s, fb, &msg);
			/* The others heard this request on the group and will not
			 * ask for the chunk for a second, counting on it coming:
			 * when a member still lacks it, it goes to the group too
			 * (whole: work the group needs anyway, so nobody waits). */
			if (v != MB_FRIS_WQ_DROPPED && !fris_budget_spent(s) &&
			    mb_fris_nodes_group_lacks(s->nodes, chunk) &&
			    mb_fris_wq_enqueue_range(s->wq, chunk, 0, MB_FRIS_CHUNK_BLOCKS) !=
				    MB_FRIS_WQ_DROPPED)
				fris_sctr(s, MB_DP_S_fb_group, 1);
			goto queued;
		}
		if (fris_budget_spent(s)) {
			fris_sctr(s, MB_DP_S_budget_refused, 1);
			break;
		}
		if (msg.kind == MB_FRIS_K_REQUEST) {
			v = mb_fris_wq_enqueue_range(s->wq, chunk, msg.u.request.block,
						     msg.u.request.count);
		} else {
			v = mb_fris_wq_enqueue_map(s->wq, chunk, msg.u.prequest.map);
			if (msg.u.prequest.retries != 0 && v == MB_FRIS_WQ_APPENDED)
				fris_sctr(s, MB_DP_S_rerequests, 1);
		}
queued:
		if (v == MB_FRIS_WQ_MERGED)
			fris_sctr(s, MB_DP_S_merged, 1);
		else if (v == MB_FRIS_WQ_DROPPED)
			fris_sctr(s, MB_DP_S_wq_drops, 1);
		break;
	case MB_FRIS_K_LEAVE:
	case MB_FRIS_K_LEAVE2:
		fris_sctr(s, MB_DP_S_leaves, 1);
		fris_client_leave(lc, s, msg.u.leave.clientid);
		if (nd != NULL)
			mb_fris_nodes_leave(s->nodes, nd, now);
		break;
	case MB_FRIS_K_PROGRESS_REPORT:
		/* a report is not progress for the session (see the lifetime
		 * rule), but it is the node's own word on its progress */
		fris_sctr(s, MB_DP_S_progress, 1);
		if (nd != NULL && msg.u.progress.full)
			mb_fris_nodes_report(s->nodes, nd, msg.u.progress.chunks_in,
					     msg.u.progress.bytes_out, now);
		break;
	default:
		/* Replies, BLOCKs and PROGRESS requests of another server. */
		fris_sctr(s, MB_DP_S_ignored, 1);
		break;
	}
	return true;
}

static uint64_t
fris_burst_bits(uint64_t rate)
{
	/* 2 ms of rate, at least 4 frames: one idle sleep never loses tokens. */
	return RTE_MAX(rate / 500, 4 * FRIS_WIRE_BITS);
}

/* The session's ceiling: frisbee.rate, else the port's rate. */
static uint64_t
fris_cap(struct mb_dp_lcore *lc, const struct mb_dp_sess *s)
{
	return s->rate_bps ? s->rate_bps : atomic_load(&lc->port->rate);
}

void
dp_fris_activate(struct mb_dp_lcore *lc, struct mb_dp_sess *s, uint64_t now)
{
	uint64_t hz = lc->hz, rate = s->rate_bps;

	s->cap = fris_cap(lc, s);
	if (s->dynamic) {
		/* start high: at the cap, and let the receivers pull it down */
		(void)mb_rate_adapt_init(&s->ra, s->cap, 0, s->cap, hz, now);
		rate = s->ra.rate;
	}
	(void)mb_tbucket_init(&s->tb, rate, rate ? fris_burst_bits(rate) : 0, hz, now);
	if (s->nodes != NULL)
		mb_fris_nodes_set_rates(s->nodes, rate ? rate : s->cap, s->cap, now);
	atomic_store(&s->cur_rate, rate);
	s->t_bits = 0;
	s->t_overrun = false;
	s->fb_seen = s->nodes != NULL ? s->nodes->st.fallbacks : 0;
	s->run.in = false;
	s->last_progress = now;
	s->nclients = 0;
	s->clients_lost = false;
	s->leave_end = 0;
	s->join_untracked.n = 0;
	s->round = 0;
	s->round_left = s->nblocks;
	s->end_posted = false;
	s->nparked = 0;
	s->parked_gen = 0;
	atomic_store_explicit(&s->state, MB_DP_SESS_ACTIVE, memory_order_release);
	if (s->method == MB_FRIS_MULTICAST) {
		/* Unsolicited reports, as a host joining a group sends them, so a
		 * snooping switch forwards the clients' requests to us. */
		dp_igmp_send(lc, s->addr, false);
		s->igmp_repeats = 2;
		s->next_igmp = now + hz;
		dp_mc_changed(lc);
	}
}

/* Benchmark mode: queue every chunk once, as if all were requested. */
static void
fris_push_all(struct mb_dp_sess *s)
{
	uint32_t c;

	s->push_left--;
	for (c = 0; c < s->nchunks; c++)
		(void)mb_fris_wq_enqueue_range(s->wq, c, 0, MB_FRIS_CHUNK_BLOCKS);
}

/*
 * Send up to `max` BLOCKs of the run `run` (refilled from `wq`) to `dmac`,
 * paced by `tb` (rate 0: unpaced) and the port's bucket.  `budget` and
 * `used` bound what may go out in all.  Group runs (fb NULL) count as the
 * session's progress and its nodes' covers; runs to a node alone count as
 * its.  Returns the BLOCKs queued; *stop is set when the session should
 * not go on with other sends this pass (TX backlog full, no mbufs).
 */
static unsigned
fris_send_runs(struct mb_dp_lcore *lc, struct mb_dp_sess *s, struct mb_fris_fb *fb,
	       struct mb_fris_wq *wq, struct mb_fris_run *run, struct mb_tbucket *tb,
	       const struct rte_ether_addr *dmac, uint64_t budget, uint64_t used,
	       unsigned max, uint64_t now, uint64_t *wait, bool *stop)
{
	struct rte_mbuf *mb[FRIS_PASS_MAX];
	struct dp_fris_tmpl tmpl;
	struct mb_fris_wq_item it;
	unsigned sent = 0;

	while (sent < max) {
		uint32_t want, ok, port_ok, i;

		if (!run->in) {
			if (mb_fris_wq_dequeue(wq, &it) != 0) {
				mb_fris_wq_idle(wq);
				if (fb != NULL || s->push_left == 0)
					break;
				fris_push_all(s);
				continue;
			}
			if (it.kind == MB_FRIS_WQ_JOIN) {
				fris_join_reply(lc, s, it.version, it.clientid, fb ? dmac : NULL);
				continue;
			}
			/* cut-through: a chunk not there yet is never sent,
			 * whatever queue it came from (a member's request is
			 * checked on arrival; a probe picks from the members'
			 * asks, which are recorded before that check) */
			if (!mb_image_chunk_present(s->img, it.chunk)) {
				fris_sctr(s, MB_DP_S_not_yet, 1);
				continue;
			}
			run->in = true;
			run->chunk = it.chunk;
			/* where the read-ahead follows this image (mb_image.h) */
			atomic_store_explicit(&s->img->ra_hint,
					      (uint64_t)it.chunk * MB_IMAGE_ALIGN +
						      (uint64_t)it.block * MB_FRIS_BLOCK_SIZE + 1,
					      memory_order_relaxed);
			run->block = it.block;
			run->left = it.count;
		}
		if (used + sent >= budget) {
			/* output bound: what is queued is dropped */
			fris_sctr(s, fb ? MB_DP_S_fb_budget_refused : MB_DP_S_budget_refused, 1);
			mb_fris_wq_reset(wq);
			run->in = false;
			break;
		}
		/* Hand the backlog to the driver once it holds a burst: with many
		 * sessions in one pass the mbufs in flight stay few and in the
		 * cache (1024 frames of backlog are more than the L2 holds). */
		if (lc->ntx >= FRIS_PASS_MAX)
			(void)dp_tx_flush(lc);
		if (dp_tx_room(lc) < FRIS_PASS_MAX) {
			fris_sctr(s, MB_DP_S_overruns, 1);
			s->t_overrun = true;
			*stop = true;
			break;
		}
		want = RTE_MIN(run->left, max - sent);
		if (budget - used - sent < want)
			want = (uint32_t)(budget - used - sent);
		ok = tb->rate ? mb_tbucket_take_n(tb, FRIS_WIRE_BITS, want, now) : want;
		port_ok = ok ? dp_port_take(lc->port, FRIS_WIRE_BITS, ok, now) : 0;
		if (port_ok < ok) /* hand back what the port refused */
			tb->tokens = RTE_MIN(tb->burst, tb->tokens + (ok - port_ok) * FRIS_WIRE_BITS);
		if (port_ok == 0) {
			uint64_t w = dp_port_wait(lc->port, FRIS_WIRE_BITS, now);

			if (tb->rate)
				w = RTE_MAX(w, mb_tbucket_wait(tb, FRIS_WIRE_BITS, now));
			*wait = RTE_MIN(*wait, w);
			break;
		}
		/* One bulk allocation per burst; the header lines are loaded
		 * while the previous frames are built. */
		if (dp_alloc_bulk(lc, mb, port_ok) != 0) {
			*stop = true;
			break;
		}
		for (i = 0; i < port_ok; i++)
			rte_prefetch0(rte_pktmbuf_mtod(mb[i], void *));
		dp_fris_tmpl_init(&tmpl, lc, s, dmac, run->chunk);
		i = dp_fris_blocks(lc, s, &tmpl, mb, port_ok, run->block);
		run->block += i;
		run->left -= i;
		fris_sctr(s, MB_DP_S_tx_pkts, i);
		fris_sctr(s, MB_DP_S_tx_bytes, (uint64_t)i * MB_FRIS_BLOCK_LEN);
		fris_sctr(s, MB_DP_S_blocks, i);
		fris_progress(s, run->chunk, run->block - i, i, now);
		if (fb != NULL) {
			fris_sctr(s, MB_DP_S_fb_blocks, i);
			mb_fris_nodes_fb_sent(s->nodes, fb, run->chunk, i);
		} else {
			s->t_bits += (uint64_t)i * FRIS_WIRE_BITS;
			if (s->nodes != NULL)
				mb_fris_nodes_sent(s->nodes, run->chunk, run->block - i, i, now);
		}
		sent += i;
		if (run->left == 0) {
			run->in = false;
			/* the run is over: a new full request for its chunk is new
			 * work again even if no dequeue follows this pass */
			if (mb_fris_wq_empty(wq))
				mb_fris_wq_idle(wq);
		}
		if (i < port_ok) {
			*stop = true;
			break;
		}
	}
	return sent;
}

/* The nodes served alone: each sends from its own queue at its own rate,
 * FRIS_PASS_MAX at most per pass, round robin. */
static unsigned
fris_fb_tx(struct mb_dp_lcore *lc, struct mb_dp_sess *s, uint64_t now, uint64_t *wait)
{
	struct mb_fris_nodes *t = s->nodes;
	unsigned sent = 0;
	bool stop = false;

	if (t == NULL || t->fb_n == 0)
		return 0;
	for (uint32_t k = 0; k < t->fb_max && !stop; k++) {
		struct mb_fris_fb *fb = &t->fb[(s->fb_rr + k) % t->fb_max];
		struct rte_ether_addr mac;

		if (fb->node < 0)
			continue;
		if (fb->run.in || !mb_fris_wq_empty(fb->wq)) {
			if (!fris_node_mac(lc, t->node[fb->node].addr, &mac)) {
				fris_sctr(s, MB_DP_S_fb_no_neigh, 1);
				continue;
			}
			sent += fris_send_runs(lc, s, fb, fb->wq, &fb->run, &fb->tb, &mac,
					       fb->budget, fb->sent, FRIS_PASS_MAX, now, wait, &stop);
		}
		/* its queue ran dry: what it is sent this interval is what it
		 * asked, not what its rate allows (mb_rate_adapt's backlogged) */
		if (!fb->run.in && mb_fris_wq_empty(fb->wq))
			fb->t_idle = true;
	}
	s->fb_rr++;
	return sent;
}

/* One session's share of a loop pass. */
static unsigned
fris_session_tx(struct mb_dp_lcore *lc, struct mb_dp_sess *s, uint64_t now, uint64_t *wait)
{
	struct rte_ether_addr dmac;
	unsigned sent = 0;
	bool stop = false;

	if (s->stop_req) {
		dp_fris_end(lc, s);
		return 1;
	}
	fris_unpark(s);
	/* the destination is resolved only when there is something to send: a
	 * unicast client's MAC is asked for then, not before */
	if (s->run.in || !mb_fris_wq_empty(s->wq) || s->push_left > 0 ||
	    (s->nodes != NULL && (s->nodes->probe_run.in || !mb_fris_wq_empty(s->nodes->probe_wq)))) {
		if (!fris_dmac(lc, s, &dmac)) {
			fris_sctr(s, MB_DP_S_no_neigh, 1);
		} else {
			/* probes first: slices of chunks a member waits for,
			 * ahead of the queue (fris_nodes.h) */
			if (s->nodes != NULL && s->push_left == 0)
				sent = fris_send_runs(lc, s, NULL, s->nodes->probe_wq,
						      &s->nodes->probe_run, &s->tb, &dmac, s->budget,
						      s->ctr[MB_DP_S_blocks], FRIS_PASS_MAX, now,
						      wait, &stop);
			if (!stop && !(s->nodes != NULL && s->nodes->probe_run.in))
				sent += fris_send_runs(lc, s, NULL, s->wq, &s->run, &s->tb,
						       &dmac, s->budget, s->ctr[MB_DP_S_blocks],
						       FRIS_PASS_MAX - sent, now, wait, &stop);
		}
	}
	/* it ran out of work: what it sent this interval is what was asked,
	 * not what it could send (mb_rate_adapt's backlogged) */
	if (!s->run.in && mb_fris_wq_empty(s->wq) && s->push_left == 0)
		s->t_idle = true;
	if (!stop)
		sent += fris_fb_tx(lc, s, now, wait);
	atomic_store_explicit(&s->wq_depth, mb_fris_wq_depth(s->wq), memory_order_relaxed);
	return sent;
}

unsigned
dp_fris_tx(struct mb_dp_lcore *lc, uint64_t now, uint64_t *ret_wait)
{
	struct mb_dp_fris *f = &lc->dp->fris;
	uint32_t n = f->max, i;
	unsigned work = 0;

	*ret_wait = UINT64_MAX;
	for (i = 0; i < n; i++) {
		struct mb_dp_sess *s = &f->sess[(lc->rr + i) % n];

		if (fris_active(s) && s->owner == lc->queue)
			work += fris_session_tx(lc, s, now, ret_wait);
	}
	lc->rr++;
	return work;
}

/* Every 100 ms: the node table's tick (fallback moves, pending asks, the
 * rates of nodes alone), then the group's adaptive rate on its loss signal. */
static void
fris_rate_tick(struct mb_dp_lcore *lc, struct mb_dp_sess *s, uint64_t now)
{
	uint64_t cap = fris_cap(lc, s), lost = 0;
	uint32_t loss = 0;

	if (s->nodes != NULL) {
		loss = mb_fris_nodes_tick(s->nodes, now);
		fris_fb_count(s);
		lost = (uint64_t)((unsigned __int128)s->t_bits * loss / 1000000);
	}
	if (s->dynamic) {
		if (cap != s->cap) {
			s->cap = cap; /* the port's rate changed (link, port-rate) */
			mb_rate_adapt_set_max(&s->ra, cap);
		}
		/* A node moved out of the group since the last tick (it could
		 * not take the group's rate, or the group did not reach it):
		 * the cuts its loss made no longer hold, and creeping back from
		 * its pace would hold the others to it for seconds.  Start
		 * high again, as a new session does: the next cut goes to what
		 * the remaining members take of what really left. */
		if (s->nodes != NULL && s->nodes->st.fallbacks != s->fb_seen) {
			s->fb_seen = s->nodes->st.fallbacks;
			if (s->ra.rate < cap) {
				MB_LOG(DEBUG, DP, "session %u: a node moved out: rate %" PRIu64
				       " -> %" PRIu64, s->id, s->ra.rate, cap);
				mb_rate_adapt_restart(&s->ra, now);
				mb_fris_nodes_rate_cut(s->nodes, now);
			}
		}
		s->ra.backlogged = !s->t_idle;
		if (mb_rate_adapt_tick(&s->ra, now, s->t_bits, lost, s->t_overrun) ||
		    s->ra.rate != s->tb.rate) {
			MB_LOG(DEBUG, DP,
			       "session %u: rate %" PRIu64 " -> %" PRIu64 " (sent %" PRIu64
			       " bits, loss %u ppm%s)",
			       s->id, s->tb.rate, s->ra.rate, s->t_bits, loss,
			       s->t_overrun ? ", TX backlog full" : "");
			fris_sctr(s, s->ra.rate < s->tb.rate ? MB_DP_S_rate_cuts : MB_DP_S_rate_raises,
				  1);
			/* the loss signal from here on is of what is sent at
			 * the new rate (mb_fris_nodes_rate_cut) */
			if (s->ra.rate < s->tb.rate && s->nodes != NULL)
				mb_fris_nodes_rate_cut(s->nodes, now);
			mb_tbucket_set_rate(&s->tb, s->ra.rate, fris_burst_bits(s->ra.rate), now);
			atomic_store(&s->cur_rate, s->ra.rate);
		}
	}
	s->t_bits = 0;
	s->t_overrun = false;
	s->t_idle = false;
	if (s->nodes != NULL)
		mb_fris_nodes_set_rates(s->nodes, s->tb.rate ? s->tb.rate : cap, cap, now);
	atomic_store_explicit(&s->loss_ppm, loss, memory_order_relaxed);
}

void
dp_fris_timers(struct mb_dp_lcore *lc, uint64_t now)
{
	struct mb_dp_fris *f = &lc->dp->fris;
	uint64_t hz = lc->hz;
	uint32_t i;

	for (i = 0; i < f->max; i++) {
		struct mb_dp_sess *s = &f->sess[i];

		if (!fris_active(s) || s->owner != lc->queue)
			continue;
		if (s->method == MB_FRIS_MULTICAST && s->igmp_repeats > 0 && now >= s->next_igmp) {
			dp_igmp_send(lc, s->addr, false);
			s->igmp_repeats--;
			s->next_igmp = now + hz;
		}
		fris_rate_tick(lc, s, now);
		/* the lifetime rule (file comment): progress, not packets */
		if (s->linger != MB_FRIS_LINGER_NEVER && s->idle_timeout_s != 0 &&
		    now - s->last_progress > s->idle_timeout_s * hz)
			dp_fris_end(lc, s);
		else if (s->leave_end != 0 && now >= s->leave_end)
			dp_fris_end(lc, s);
	}
}

/* The slot stays ENDED (its group, port and image still taken) until the
 * control thread reaps it on the SESSION_END event (dp_chan.c), which the
 * channel keeps pending while the event ring is full. */
void
dp_fris_end(struct mb_dp_lcore *lc, struct mb_dp_sess *s)
{
	atomic_store_explicit(&s->state, MB_DP_SESS_ENDED, memory_order_release);
	if (s->method == MB_FRIS_MULTICAST) {
		if (!dp_group_served(lc->dp, s->addr))
			dp_igmp_send(lc, s->addr, true);
		dp_mc_changed(lc);
	}
	dp_count(lc, MB_DP_C_sessions_ended, 1);
	dp_chan_post_session_end(lc, s);
}

/* ---- slots, control thread ---------------------------------------------------------- */

int
dp_fris_slot_prepare(struct mb_dp *dp, struct mb_dp_sess *s,
		     const struct mb_fris_session_params *p)
{
	struct mb_dp_tunables *tun = &dp->tun;

	memset(s->ctr, 0, sizeof(s->ctr));
	memset(s->drop, 0, sizeof(s->drop));
	s->rd_bytes = s->rd_bps = 0;
	s->rd_tsc = rte_rdtsc(); /* the first read measures since the start */
	s->addr = p->addr;
	s->port = p->port;
	s->method = p->method;
	snprintf(s->name, sizeof(s->name), "%s", p->img->name);
	s->version = p->img->version;
	s->size = p->img->size;
	s->nblocks = (p->img->size + MB_FRIS_BLOCK_SIZE - 1) / MB_FRIS_BLOCK_SIZE;
	s->nchunks = (uint32_t)mb_fris_chunks_for_bytes(p->img->size);
	/* what the session fixes at its start comes from the settings now */
	s->rate_bps = p->rate_bps ? p->rate_bps : atomic_load(&tun->fris_rate);
	s->idle_timeout_s = p->idle_timeout_s ? p->idle_timeout_s :
						atomic_load(&tun->fris_idle_timeout_s);
	s->linger = p->linger != MB_FRIS_LINGER_DEFAULT ? p->linger :
							  (enum mb_fris_linger)atomic_load(&tun->fris_linger);
	s->dynamic = atomic_load(&tun->dynamic_rate);
	s->stop_req = false;
	s->push_left = p->push_passes;
	/* a unicast session's output bound (file comment): the image once, the
	 * configured share of it again, and one chunk of final retries (not
	 * for the benchmarks' push mode, which no request drives) */
	s->budget = UINT64_MAX;
	if (p->method == MB_FRIS_UNICAST && p->push_passes == 0)
		s->budget = s->nblocks + s->nblocks * atomic_load(&tun->unicast_resend) / 100 +
			    MB_FRIS_CHUNK_BLOCKS;
	/* nblocks / 8 bytes (1/8192 of the image) plus 8 per chunk; for an
	 * image still being filled, two bits per chunk more (fris_park) */
	s->pk_words = p->img->present != NULL ? (s->nchunks + 63) / 64 : 0;
	s->sent_map = rte_zmalloc("mb_dp_sent",
				  (size_t)s->nchunks * (MB_FRIS_MAP_BYTES + 8) +
					  (size_t)s->pk_words * 2 * sizeof(uint64_t),
				  RTE_CACHE_LINE_SIZE);
	if (s->sent_map == NULL)
		return -ENOMEM;
	s->map_round = (uint32_t *)(s->sent_map + (size_t)s->nchunks * (MB_FRIS_MAP_BYTES / 8));
	s->resend_round = s->map_round + s->nchunks;
	s->parked = s->pk_words != 0 ? (uint64_t *)(s->resend_round + s->nchunks) : NULL;
	s->wq = mb_fris_wq_create(s->nblocks, 0);
	/* the nodes: a unicast session has one and no fallback; a node served
	 * alone has the output bound of a unicast session */
	s->nodes = s->wq == NULL ? NULL :
		   mb_fris_nodes_create(s->nblocks, (uint32_t)atomic_load(&tun->max_nodes),
					p->method == MB_FRIS_UNICAST || p->push_passes != 0 ?
						0 : (uint32_t)atomic_load(&tun->max_fallback),
					s->nblocks + s->nblocks * atomic_load(&tun->unicast_resend) /
							     100 + MB_FRIS_CHUNK_BLOCKS,
					rte_get_tsc_hz(), FRIS_WIRE_BITS);
	if (s->wq == NULL || s->nodes == NULL) {
		int rc = -(errno ? errno : ENOMEM);

		mb_fris_wq_free(s->wq);
		s->wq = NULL;
		rte_free(s->sent_map);
		s->sent_map = NULL;
		s->parked = NULL;
		return rc;
	}
	s->img = p->img; /* the caller's reference: the slot's once START is posted */
	return 0;
}

void
dp_fris_slot_unprepare(struct mb_dp_sess *s)
{
	mb_fris_nodes_free(s->nodes);
	s->nodes = NULL;
	mb_fris_wq_free(s->wq);
	s->wq = NULL;
	rte_free(s->sent_map);
	s->sent_map = NULL;
	s->map_round = NULL;
	s->resend_round = NULL;
	s->parked = NULL;
	s->pk_words = 0;
	s->img = NULL;
	atomic_store_explicit(&s->state, MB_DP_SESS_FREE, memory_order_release);
}

void
dp_fris_slot_release(struct mb_dp_sess *s)
{
	mb_image_unref(s->img); /* the session's reference */
	dp_fris_slot_unprepare(s);
}
