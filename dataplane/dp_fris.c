/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Frisbee engine: one session per (address, port), each serving one
 * image with the stock frisbeed's behaviour (doc/frisbee-protocol.md).
 *
 * Receive: a datagram for the session is decoded (proto/fris_wire), checked
 * against the sender's address and port, then JOIN and JOIN2 are answered at
 * once (not paced, to the group), REQUEST and PREQUEST go into the session's
 * work queue (proto/fris_wq, with frisbeed's merge rules), LEAVE, LEAVE2 and
 * PROGRESS reports are counted; our own looped-back packets, replies and
 * other servers' BLOCKs are ignored.  Every rejected datagram counts under
 * its decode reason.
 *
 * Send: each loop pass, every session takes the next run from its queue and
 * sends as many BLOCKs as both its own token bucket and the port's allow
 * (bits on the wire, Ethernet preamble, FCS and gap included).  A BLOCK is a
 * 66-byte header mbuf (Ethernet, IPv4, UDP, Frisbee header, chunk, block)
 * with, when the port takes chained mbufs and the image's memory may be
 * DMA'd (mb_dp_dma_iova, dp_dma.h), the 1 KiB payload attached as an
 * external buffer pointing into the image (zero copy), else copied.  The
 * UDP checksum is left 0, which IPv4 allows; the IPv4 header checksum is
 * offloaded when the port can.
 *
 * Lifetime: a session lives while it makes progress, not while packets
 * arrive.  Progress is sending a block that is new to the session's current
 * round; a round ends when every block of the image has been sent once
 * since it began (so a late joiner's requests are new again in the next
 * round).  A session that makes no progress for frisbee.idle-timeout ends,
 * whatever JOINs, REQUESTs or PROGRESS reports keep coming: requests for
 * data it has just sent, repeated without end, cannot hold a slot.  The
 * bookkeeping is a bit per block (1/8192 of the image), cleared lazily per
 * chunk when a new round begins.
 *
 * Output bound: a unicast session sends to one address, and a spoofed
 * 28-byte REQUEST asks for a whole 1 MiB chunk; so a unicast session sends
 * at most (1 + frisbee.unicast-resend/100) copies of its image plus one
 * chunk in all ("budget"), after which its requests are refused and counted
 * and, making no progress, it ends.  Multicast and broadcast sessions send
 * to the group or subnet, not to an address a requester picks.
 *
 * Everything here runs on the port's lcore; nothing allocates per packet
 * except mbufs from the pools.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "dp_dma.h"
#include "dp_priv.h"

#define FRIS_HDRS_LEN (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + \
		       sizeof(struct rte_udp_hdr)) /* 42 */
#define FRIS_WIRE_BITS ((uint64_t)MB_FRIS_ETH_BLOCK_BYTES * 8) /* 8912 */
#define FRIS_PASS_MAX 64 /* BLOCKs one session may queue per loop pass */
#define FRIS_PREFETCH_AHEAD 8 /* blocks of the image loaded ahead of the copy */

static uint32_t fris_rr; /* round-robin start among sessions */

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

/* Blocks [block, block + n) of `chunk` went out: those not yet sent this
 * round are progress; the last of them ends the round. */
static void
fris_progress(struct mb_dp_sess *s, uint32_t chunk, uint32_t block, uint32_t n, uint64_t now)
{
	uint8_t *map;
	uint32_t fresh = 0, b;

	if (chunk >= s->nchunks || n == 0)
		return;
	map = s->sent_map + (size_t)chunk * MB_FRIS_MAP_BYTES;
	if (s->map_round[chunk] != s->round) {
		memset(map, 0, MB_FRIS_MAP_BYTES);
		s->map_round[chunk] = s->round;
	}
	for (b = block; b < block + n && b < MB_FRIS_CHUNK_BLOCKS; b++) {
		if (!mb_fris_map_test(map, b)) {
			mb_fris_map_set(map, b);
			fresh++;
		}
	}
	if (fresh == 0)
		return;
	s->last_progress = now;
	s->round_left -= RTE_MIN((uint64_t)fresh, s->round_left);
	if (s->round_left == 0) {
		s->round++;
		s->round_left = s->nblocks;
		fris_sctr(s, MB_DP_S_rounds, 1);
	}
}

/* Destination MAC of the session's frames; false if a unicast client (or the
 * gateway towards it) is not resolved yet (an ARP request went out). */
static bool
fris_dmac(struct mb_dp_sess *s, struct rte_ether_addr *mac)
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
	return mb_dp_neigh_resolve(mb_dp_nexthop(s->addr), mac);
}

/* Write Ethernet, IPv4 and UDP headers for `plen` bytes of UDP payload. */
static uint8_t *
fris_headers(struct mb_dp_sess *s, struct rte_mbuf *m, const struct rte_ether_addr *dmac,
	     uint16_t plen)
{
	static uint16_t ip_id;
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	eth->dst_addr = *dmac;
	eth->src_addr = *mb_dp_mac();
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + sizeof(*udp) + plen));
	ip->packet_id = rte_cpu_to_be_16(ip_id++);
	ip->fragment_offset = 0;
	ip->time_to_live = s->method == MB_FRIS_MULTICAST ? mb_dp_mcast_ttl() : 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = mb_dp_addr();
	ip->dst_addr = s->addr;
	mb_dp_ip_cksum(m, ip);
	udp->src_port = rte_cpu_to_be_16(s->port);
	udp->dst_port = rte_cpu_to_be_16(s->port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + plen));
	udp->dgram_cksum = 0; /* optional in IPv4; the BLOCK payload is not ours to touch */
	return (uint8_t *)(udp + 1);
}

static void
fris_join_reply(struct mb_dp_sess *s, uint32_t version, uint32_t clientid)
{
	struct rte_ether_addr dmac;
	struct rte_mbuf *m;
	uint16_t plen = version == 2 ? MB_FRIS_JOIN2_LEN : MB_FRIS_JOIN_LEN;
	uint8_t *p;
	int n;

	if (!fris_dmac(s, &dmac))
		return; /* the client repeats its JOIN; ARP is on its way */
	m = mb_dp_alloc();
	if (m == NULL)
		return;
	p = fris_headers(s, m, &dmac, plen);
	if (version == 2)
		n = mb_fris_encode_join2_reply(p, plen, mb_dp_addr(), clientid, s->size);
	else
		n = mb_fris_encode_join_reply(p, plen, mb_dp_addr(), (uint32_t)s->nblocks);
	if (n != plen) {
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = m->pkt_len = (uint32_t)(FRIS_HDRS_LEN + plen);
	if (mb_dp_tx_frame(m) == 0) {
		fris_sctr(s, MB_DP_S_tx_pkts, 1);
		fris_sctr(s, MB_DP_S_tx_bytes, plen);
	}
}

static struct mb_dp_sess *
fris_lookup(uint32_t src, uint32_t dst, uint16_t dport)
{
	uint32_t i, n = mb_dp_sess_count();

	for (i = 0; i < n; i++) {
		struct mb_dp_sess *s = mb_dp_sess_slot(i);

		if (s->port != dport || !fris_active(s))
			continue;
		if (dst == s->addr && s->method != MB_FRIS_UNICAST)
			return s;
		if (dst == mb_dp_addr() && (s->method != MB_FRIS_UNICAST || src == s->addr))
			return s;
	}
	return NULL;
}

bool
mb_dp_fris_input(struct rte_mbuf *m, const struct rte_ether_hdr *eth, uint32_t src,
		 uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *payload,
		 uint32_t len, uint64_t now)
{
	struct mb_dp_sess *s = fris_lookup(src, dst, dport);
	enum mb_fris_wq_verdict v;
	enum mb_fris_result r;
	struct mb_fris_msg msg;

	(void)m;
	if (s == NULL)
		return false;
	mb_dp_count(MB_DP_C_fris_rx, 1);
	fris_sctr(s, MB_DP_S_rx_pkts, 1);
	if (src == mb_dp_addr()) {
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
	 * an ARP exchange we start (mb_dp_neigh_resolve), so a node that
	 * spoofs the client's address cannot redirect its session.  Nor does
	 * a datagram keep the session alive (`now` unused: see the lifetime
	 * rule). */
	(void)eth;
	(void)now;

	switch (msg.kind) {
	case MB_FRIS_K_JOIN_REQ:
		fris_sctr(s, MB_DP_S_joins, 1);
		fris_join_reply(s, 1, msg.u.join.clientid);
		break;
	case MB_FRIS_K_JOIN2_REQ:
		fris_sctr(s, MB_DP_S_joins2, 1);
		fris_join_reply(s, 2, msg.u.join2.clientid);
		break;
	case MB_FRIS_K_REQUEST:
		fris_sctr(s, MB_DP_S_requests, 1);
		if (fris_budget_spent(s)) {
			fris_sctr(s, MB_DP_S_budget_refused, 1);
			break;
		}
		v = mb_fris_wq_enqueue_range(s->wq, msg.u.request.chunk, msg.u.request.block,
					     msg.u.request.count);
		goto queued;
	case MB_FRIS_K_PREQUEST:
		fris_sctr(s, MB_DP_S_prequests, 1);
		if (fris_budget_spent(s)) {
			fris_sctr(s, MB_DP_S_budget_refused, 1);
			break;
		}
		v = mb_fris_wq_enqueue_map(s->wq, msg.u.prequest.chunk, msg.u.prequest.map);
		if (msg.u.prequest.retries != 0 && v == MB_FRIS_WQ_APPENDED) {
			fris_sctr(s, MB_DP_S_rerequests, 1);
			if (s->dynamic)
				mb_tbucket_dyn_note_retry(&s->dyn);
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
		break;
	case MB_FRIS_K_PROGRESS_REPORT:
		/* counted only: a report is not progress (see the lifetime rule) */
		fris_sctr(s, MB_DP_S_progress, 1);
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

void
mb_dp_fris_activate(struct mb_dp_sess *s, uint64_t now)
{
	uint64_t hz = mb_dp_tsc_hz();

	(void)mb_tbucket_init(&s->tb, s->rate_bps, s->rate_bps ? fris_burst_bits(s->rate_bps) : 0,
			      hz, now);
	if (s->dynamic) {
		uint64_t max = s->rate_bps ? s->rate_bps : mb_dp_port_rate();

		(void)mb_tbucket_dyn_init(&s->dyn, max, 0, 0, hz, now);
		if (s->rate_bps == 0) {
			s->rate_bps = max;
			mb_tbucket_set_rate(&s->tb, max, fris_burst_bits(max), now);
		}
	}
	atomic_store(&s->cur_rate, s->rate_bps);
	s->in_run = false;
	s->last_progress = now;
	s->round = 0;
	s->round_left = s->nblocks;
	s->next_arp = 0;
	atomic_store_explicit(&s->state, MB_DP_SESS_ACTIVE, memory_order_release);
	if (s->method == MB_FRIS_MULTICAST) {
		/* Unsolicited reports, as a host joining a group sends them, so a
		 * snooping switch forwards the clients' requests to us. */
		mb_dp_igmp_send(s->addr, false);
		s->igmp_repeats = 2;
		s->next_igmp = now + hz;
		mb_dp_mcast_update();
	}
}

/* Build and queue one BLOCK in `m` (taken, freed on error). */
static int
fris_send_block(struct mb_dp_sess *s, struct rte_mbuf *m, const struct rte_ether_addr *dmac,
		uint32_t chunk, uint32_t block)
{
	uint64_t off = ((uint64_t)chunk * MB_FRIS_CHUNK_BLOCKS + block) * MB_FRIS_BLOCK_SIZE;
	struct mb_image *img = s->zc->img;
	struct rte_mbuf *pay;
	rte_iova_t iova;
	bool zc = false;
	uint8_t *p;

	p = fris_headers(s, m, dmac, MB_FRIS_BLOCK_LEN);
	(void)mb_fris_encode_block(p, MB_FRIS_BLOCK_LEN, mb_dp_addr(), chunk, block, NULL);
	if (mb_dp_tx_zc_enabled()) {
		zc = mb_dp_dma_iova(img, off, MB_FRIS_BLOCK_SIZE, &iova);
		if (!zc)
			mb_dp_count(MB_DP_C_tx_copy_nodma, 1);
	}
	if (zc) {
		pay = mb_dp_zc_mbuf(s->zc, off, MB_FRIS_BLOCK_SIZE, iova);
		if (pay == NULL) {
			rte_pktmbuf_free(m);
			return -ENOMEM;
		}
		m->data_len = FRIS_HDRS_LEN + MB_FRIS_BLOCK_DATA_OFF;
		m->next = pay;
		m->nb_segs = 2;
		m->pkt_len = m->data_len + MB_FRIS_BLOCK_SIZE;
	} else {
		uint8_t *d = p + MB_FRIS_BLOCK_DATA_OFF;
		uint64_t have = off < img->alloc_len ? img->alloc_len - off : 0;

		if (have > MB_FRIS_BLOCK_SIZE)
			have = MB_FRIS_BLOCK_SIZE;
		memcpy(d, img->data + off, have);
		memset(d + have, 0, MB_FRIS_BLOCK_SIZE - have);
		m->data_len = m->pkt_len = FRIS_HDRS_LEN + MB_FRIS_BLOCK_LEN;
	}
	return mb_dp_tx_frame(m); /* the caller counts the burst */
}

/* Start loading a block of the image into the cache a few blocks ahead of
 * its copy: the image streams from DRAM and crosses a page every 4 blocks,
 * which the hardware prefetcher does not follow. */
static inline void
fris_prefetch(struct mb_dp_sess *s, uint32_t chunk, uint32_t block)
{
	uint64_t off = ((uint64_t)chunk * MB_FRIS_CHUNK_BLOCKS + block) * MB_FRIS_BLOCK_SIZE;
	const uint8_t *p = s->zc->img->data + off;
	unsigned k;

	if (off + MB_FRIS_BLOCK_SIZE > s->zc->img->alloc_len)
		return;
	for (k = 0; k < MB_FRIS_BLOCK_SIZE; k += RTE_CACHE_LINE_SIZE)
		rte_prefetch0(p + k);
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

/* One session's share of a loop pass. */
static unsigned
fris_session_tx(struct mb_dp_sess *s, uint64_t now, uint64_t *wait)
{
	struct rte_ether_addr dmac;
	struct rte_mbuf *mb[FRIS_PASS_MAX];
	struct mb_fris_wq_item it;
	unsigned sent = 0;

	if (s->stop_req) {
		mb_dp_fris_end(s);
		return 1;
	}
	while (sent < FRIS_PASS_MAX) {
		uint32_t want, ok, port_ok, i;

		if (!s->in_run) {
			if (mb_fris_wq_dequeue(s->wq, &it) != 0) {
				mb_fris_wq_idle(s->wq);
				if (s->push_left == 0)
					break;
				fris_push_all(s);
				continue;
			}
			if (it.kind == MB_FRIS_WQ_JOIN) {
				fris_join_reply(s, it.version, it.clientid);
				continue;
			}
			s->in_run = true;
			s->run_chunk = it.chunk;
			s->run_block = it.block;
			s->run_left = it.count;
		}
		if (fris_budget_spent(s)) {
			/* unicast output bound: what is queued is dropped */
			fris_sctr(s, MB_DP_S_budget_refused, 1);
			mb_fris_wq_reset(s->wq);
			s->in_run = false;
			break;
		}
		if (!fris_dmac(s, &dmac)) {
			fris_sctr(s, MB_DP_S_no_neigh, 1);
			break;
		}
		if (mb_dp_tx_room() < FRIS_PASS_MAX) {
			fris_sctr(s, MB_DP_S_overruns, 1);
			if (s->dynamic)
				mb_tbucket_dyn_note_overrun(&s->dyn);
			break;
		}
		want = RTE_MIN(s->run_left, FRIS_PASS_MAX - sent);
		if (s->budget - s->ctr[MB_DP_S_blocks] < want)
			want = (uint32_t)(s->budget - s->ctr[MB_DP_S_blocks]);
		ok = s->tb.rate ? mb_tbucket_take_n(&s->tb, FRIS_WIRE_BITS, want, now) : want;
		port_ok = ok ? mb_dp_port_take(FRIS_WIRE_BITS, ok, now) : 0;
		if (port_ok < ok) /* hand back what the port refused */
			s->tb.tokens = RTE_MIN(s->tb.burst,
					       s->tb.tokens + (ok - port_ok) * FRIS_WIRE_BITS);
		if (port_ok == 0) {
			uint64_t w = mb_dp_port_wait(FRIS_WIRE_BITS, now);

			if (s->tb.rate)
				w = RTE_MAX(w, mb_tbucket_wait(&s->tb, FRIS_WIRE_BITS, now));
			*wait = RTE_MIN(*wait, w);
			break;
		}
		/* One bulk allocation per burst; the header lines are loaded
		 * while the previous frames are built. */
		if (mb_dp_alloc_bulk(mb, port_ok) != 0)
			break;
		for (i = 0; i < port_ok; i++)
			rte_prefetch0(rte_pktmbuf_mtod(mb[i], void *));
		for (i = 0; i < port_ok; i++) {
			if (FRIS_PREFETCH_AHEAD < s->run_left)
				fris_prefetch(s, s->run_chunk, s->run_block + FRIS_PREFETCH_AHEAD);
			if (fris_send_block(s, mb[i], &dmac, s->run_chunk, s->run_block) != 0) {
				rte_pktmbuf_free_bulk(mb + i + 1, port_ok - i - 1);
				break;
			}
			s->run_block++;
			s->run_left--;
		}
		fris_sctr(s, MB_DP_S_tx_pkts, i);
		fris_sctr(s, MB_DP_S_tx_bytes, (uint64_t)i * MB_FRIS_BLOCK_LEN);
		fris_sctr(s, MB_DP_S_blocks, i);
		fris_progress(s, s->run_chunk, s->run_block - i, i, now);
		sent += i;
		if (s->run_left == 0)
			s->in_run = false;
		if (i < port_ok)
			break;
	}
	atomic_store_explicit(&s->wq_depth, mb_fris_wq_depth(s->wq), memory_order_relaxed);
	return sent;
}

unsigned
mb_dp_fris_tx(uint64_t now, uint64_t *ret_wait)
{
	uint32_t n = mb_dp_sess_count(), i;
	unsigned work = 0;

	*ret_wait = UINT64_MAX;
	for (i = 0; i < n; i++) {
		struct mb_dp_sess *s = mb_dp_sess_slot((fris_rr + i) % n);

		if (fris_active(s))
			work += fris_session_tx(s, now, ret_wait);
	}
	fris_rr++;
	return work;
}

void
mb_dp_fris_timers(uint64_t now)
{
	uint32_t n = mb_dp_sess_count(), i;
	uint64_t hz = mb_dp_tsc_hz();

	for (i = 0; i < n; i++) {
		struct mb_dp_sess *s = mb_dp_sess_slot(i);

		if (!fris_active(s))
			continue;
		if (s->method == MB_FRIS_MULTICAST && s->igmp_repeats > 0 && now >= s->next_igmp) {
			mb_dp_igmp_send(s->addr, false);
			s->igmp_repeats--;
			s->next_igmp = now + hz;
		}
		if (s->dynamic && mb_tbucket_dyn_tick(&s->dyn, now)) {
			mb_tbucket_set_rate(&s->tb, s->dyn.rate, fris_burst_bits(s->dyn.rate), now);
			atomic_store(&s->cur_rate, s->dyn.rate);
		}
		/* the lifetime rule (file comment): progress, not packets */
		if (s->idle_timeout_s != 0 && now - s->last_progress > s->idle_timeout_s * hz)
			mb_dp_fris_end(s);
	}
}
