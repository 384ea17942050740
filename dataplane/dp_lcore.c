/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An lcore's context and its poll loop, with the classifier.
 *
 * The loop is run-to-completion: apply control commands, receive bursts
 * and classify each frame (ARP/ICMP/IGMP answered here, Frisbee UDP to
 * dp_fris.c, owned TCP ports to the TCP glue, everything else to the TAP),
 * forward what the kernel sent on the TAP, let the Frisbee engine send what
 * its pacers allow, run the TCP timers, the slow timers every 100 ms, flush
 * the TX backlog, announce a quiescent state.
 *
 * Workers (dp_priv.h): a frame another worker owns goes to that worker's
 * inbox before anything is done with it (dp_dispatch): a Frisbee datagram
 * to the worker of its session; a TCP segment for the HTTP port to the
 * worker its flow hashes to (tcp_owner: every worker runs a TCP stack with
 * its share of tcp.max-connections), one for an FTP passive port to worker
 * 0 (which holds the expectations); everything else (ARP, ICMP, IGMP, what
 * goes to the kernel) to worker 0.  A frame taken from the inbox is handled
 * where it arrived, never handed on again.  Worker 0 copies each ARP reply
 * to us to the other workers, whose own requests it may answer.  A full
 * inbox drops the frame (dispatch_drop).
 *
 * Idle: a pass that did no useful work goes RCU-offline and sleeps
 * dpdk.idle-sleep-us (re-read every pass, so a reload applies at once), or
 * less when a pacer is due sooner, at most 20 us while TCP connections are
 * open.  Frames that are not traffic at all are dropped before anything
 * else, counted in drop_bad_src, and are not work, so they neither keep the
 * lcore spinning nor reach the kernel through the TAP: a zero or multicast
 * source MAC (what net_null generates, or garbage on a wire), or our own
 * (our frames looped back by a software port, or handed out again by
 * net_null's RX, which returns pool mbufs with whatever they last held:
 * forwarding those to the kernel echoed the kernel's own frames back to it
 * without end).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_jhash.h>
#include <rte_random.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <urcu-qsbr.h>

#include "dp_priv.h"
#include "mb_log.h"
#include "mb_time.h"

#define RX_BURSTS_MAX 8 /* bursts drained per pass while they come full */

#ifdef MB_FAULT_HOOKS
bool
dp_fault_drop(struct mb_dp_lcore *lc, unsigned pct)
{
	/* xorshift64: cheap and good enough to spread test drops. */
	if (pct == 0)
		return false;
	lc->fault_seed ^= lc->fault_seed << 13;
	lc->fault_seed ^= lc->fault_seed >> 7;
	lc->fault_seed ^= lc->fault_seed << 17;
	return lc->fault_seed % 100 < pct;
}

static void
fault_init(struct mb_dp_lcore *lc)
{
	/* Test builds: MB_FAULT_DROP_RX / MB_FAULT_DROP_TX = percent of frames
	 * to drop, MB_FAULT_REORDER = percent swapped, so system tests can
	 * emulate loss without netem. */
	const char *rx = getenv("MB_FAULT_DROP_RX"), *tx = getenv("MB_FAULT_DROP_TX");
	const char *ro = getenv("MB_FAULT_REORDER");

	lc->fault_seed = rte_rand() | 1;
	lc->fault_rx = rx ? RTE_MIN((unsigned)atoi(rx), 100u) : 0;
	lc->fault_tx = tx ? RTE_MIN((unsigned)atoi(tx), 100u) : 0;
	lc->fault_reorder = ro ? RTE_MIN((unsigned)atoi(ro), 100u) : 0;
	if (lc->fault_rx || lc->fault_tx || lc->fault_reorder)
		MB_LOG(WARNING, DP,
		       "fault hook: dropping %u%% of RX and %u%% of TX frames, reordering %u%%",
		       lc->fault_rx, lc->fault_tx, lc->fault_reorder);
}
#endif

/* TX callback of the TCP glue: its frames join the lcore's backlog.  On a
 * port with TSO they pass the driver's rte_eth_tx_prepare first (some
 * drivers want their own header fix-ups for offloads); a frame it refuses
 * is dropped and counted, never sent half-prepared. */
static uint16_t
tcp_tx(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	struct mb_dp_lcore *lc = arg;
	uint16_t i, ok;

	n = (uint16_t)RTE_MIN((unsigned)n, DP_TXQ_MAX - lc->ntx);
	ok = n;
	if (lc->port->tx_tso && n > 0) {
		ok = rte_eth_tx_prepare(lc->port->id, lc->queue, pkts, n);
		if (ok < n) {
			/* pkts[ok] is the refused one: drop it, the rest retry */
			dp_count(lc, MB_DP_C_tx_prepare_drop, 1);
			rte_pktmbuf_free(pkts[ok]);
			pkts[ok] = NULL;
		}
	}
	for (i = 0; i < ok; i++)
		lc->txq[lc->ntx++] = pkts[i];
	return ok < n ? ok + 1 : ok;
}

int
dp_lcore_init(struct mb_dp *dp, struct mb_dp_lcore *lc, uint16_t q, const struct mb_config *cfg)
{
	memset(lc, 0, sizeof(*lc));
	lc->dp = dp;
	lc->port = &dp->port;
	lc->queue = q;
	lc->rx = q < dp->port.nrxq;
	atomic_store(&lc->lcore, -1);
	lc->hz = dp->hz;
	lc->ip_id = (uint16_t)rte_rand();
#ifdef MB_FAULT_HOOKS
	fault_init(lc);
#endif
	if (dp->port.ntxq > 1) {
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "mb_dp_inbox%u", (unsigned)q);
		lc->inbox = rte_ring_create(name, DP_INBOX, SOCKET_ID_ANY, RING_F_SC_DEQ);
		if (lc->inbox == NULL)
			return -ENOMEM;
	}
	if (cfg->tcp_enable) {
		struct mb_config wcfg = *cfg;
		struct mb_dp_tcp_conf tc = {
			.local_addr = dp->port.addr,
			.local_mac = dp->port.mac,
			.pool = dp->port.pool,
			.zc = dp->port.zc, /* payload attached from the image cache */
			.tx = tcp_tx,
			.tx_arg = lc,
			.tx_cksum_offload = dp->port.tx_ip_cksum && dp->port.tx_tcp_cksum,
			/* up to 64 KiB: the payload's pieces (a copy mbuf's
			 * room or more each, two partial ones) fit tso_segs */
			.tso_max = dp->port.tx_tso ? RTE_MIN(MB_TCP_TSO_MAX,
							     (dp->port.tso_segs - 3u) *
							     (rte_pktmbuf_data_room_size(dp->port.pool) -
							      RTE_PKTMBUF_HEADROOM)) : 0,
			.tso_segs = dp->port.tso_segs,
			.tso_l2_in_mtu = dp->port.tso_l2_in_mtu,
			.xfer_done = dp_chan_xfer_done,
			.xfer_arg = lc,
			.mtu = dp->port.mtu,
		};

		/* every worker a stack with its share of the connections */
		wcfg.max_connections = (cfg->max_connections + dp->port.ntxq - 1) / dp->port.ntxq;
		lc->tcp = mb_dp_tcp_create(&tc, &wcfg);
		if (lc->tcp == NULL)
			return -(errno ? errno : ENOMEM);
		lc->tcp_gen = atomic_load(&dp->tun.gen);
	}
	return 0;
}

void
dp_lcore_fini(struct mb_dp_lcore *lc)
{
	struct rte_mbuf *m;

	while (lc->inbox != NULL && rte_ring_dequeue(lc->inbox, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(lc->inbox);
	lc->inbox = NULL;
	mb_dp_tcp_free(lc->tcp);
	lc->tcp = NULL;
	dp_l3_fini(lc);
	for (unsigned i = 0; i < lc->ntx; i++)
		rte_pktmbuf_free(lc->txq[i]);
	lc->ntx = 0;
}

/* ---- classification ------------------------------------------------------------- */

static void
drop(struct mb_dp_lcore *lc, struct rte_mbuf *m, enum mb_dp_ctr c)
{
	dp_count(lc, c, 1);
	rte_pktmbuf_free(m);
}

void
dp_dispatch(struct mb_dp_lcore *lc, unsigned w, struct rte_mbuf *m)
{
	struct mb_dp_lcore *to = &lc->dp->lc[w];

	if (to->inbox == NULL || rte_ring_mp_enqueue(to->inbox, m) != 0)
		return drop(lc, m, MB_DP_C_dispatch_drop);
	dp_count(lc, MB_DP_C_dispatch_out, 1);
}

/* The worker that owns a TCP flow to our dport from (src, sport): worker 0
 * for the FTP passive ports, else a hash of the peer's address and port.
 * The same for every segment of the flow, whichever queue it came on. */
static unsigned
tcp_owner(const struct mb_dp *dp, uint32_t src, uint16_t sport, uint16_t dport)
{
	const struct mb_dp_chan *ch = &dp->chan;

	if (ch->npasv > 0 && dport >= ch->pasv_min && dport - ch->pasv_min < ch->npasv)
		return 0;
	return rte_jhash_2words(src, sport, 0x6d62) % dp->nlc;
}

/* Worker 0: a copy of an ARP reply for the other workers (file comment). */
static void
arp_copy_out(struct mb_dp_lcore *lc, struct rte_mbuf *m, const struct rte_ether_hdr *eth)
{
	const struct rte_arp_hdr *arp = (const struct rte_arp_hdr *)(eth + 1);

	if (m->data_len < sizeof(*eth) + sizeof(*arp) ||
	    arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REPLY) ||
	    arp->arp_data.arp_tip != lc->port->addr)
		return;
	for (unsigned w = 1; w < lc->dp->nlc; w++) {
		struct rte_mbuf *c = rte_pktmbuf_copy(m, lc->port->pool, 0, UINT32_MAX);

		if (c == NULL) {
			dp_count(lc, MB_DP_C_no_mbuf, 1);
			return;
		}
		dp_dispatch(lc, w, c);
	}
}

/*
 * A software link with checksum offload (a veth whose sender did not turn
 * "tx" off) delivers TCP and UDP frames whose checksum field holds only the
 * pseudo-header sum: the sending kernel left the rest to a NIC that does not
 * exist (CHECKSUM_PARTIAL), and af_packet and af_xdp hand the bytes over as
 * they are.  On a virtual port we complete such a checksum, so that our TCP
 * and the kernel behind the exception TAP accept the frame; real NICs never
 * deliver these, so the check is skipped there.  A correct checksum that
 * happens to equal the pseudo-header sum is recomputed to the same value.
 */
static void
l4_csum_complete(struct mb_dp_lcore *lc, struct rte_ipv4_hdr *ip, uint16_t ihl, uint16_t l4_len)
{
	uint8_t *l4 = (uint8_t *)ip + ihl;
	uint16_t *field;

	if (ip->next_proto_id == IPPROTO_TCP && l4_len >= sizeof(struct rte_tcp_hdr))
		field = &((struct rte_tcp_hdr *)l4)->cksum;
	else if (ip->next_proto_id == IPPROTO_UDP && l4_len >= sizeof(struct rte_udp_hdr))
		field = &((struct rte_udp_hdr *)l4)->dgram_cksum;
	else
		return;
	if (*field == 0 || *field != rte_ipv4_phdr_cksum(ip, 0))
		return;
	*field = 0;
	*field = rte_ipv4_udptcp_cksum(ip, l4); /* UDP: never 0 */
	dp_count(lc, MB_DP_C_rx_csum_partial, 1);
}

/* A UDP checksum over ulen bytes that does not add up (the datagram lies in
 * the first segment: ipv4_input checked tot against data_len). */
static bool
udp_cksum_bad(const struct rte_ipv4_hdr *ip, const struct rte_udp_hdr *udp, uint16_t ulen)
{
	uint32_t sum = rte_raw_cksum(udp, ulen);

	/* pseudo-header with the UDP length (the IP one may include padding) */
	sum += rte_raw_cksum(&ip->src_addr, 8);
	sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(ulen);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum != 0xffff;
}

/* A datagram for a fill queue (mb_dp_fill_add)?  Copied into it (or
 * dropped when it is full); true when it was one. */
static bool
fill_input(struct mb_dp_lcore *lc, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
	   const uint8_t *data, uint32_t len)
{
	const struct mb_dp_port *port = lc->port;

	for (unsigned i = 0; i < MB_DP_FILLS_MAX; i++) {
		struct mb_fillq *q = atomic_load_explicit(&lc->dp->fill[i], memory_order_acquire);

		if (q == NULL ||
		    !mb_fillq_match(q, src, dst, dport, port->addr, port->addr | ~port->mask))
			continue;
		if (mb_fillq_push(q, src, sport, data, len))
			dp_count(lc, MB_DP_C_fill_rx, 1);
		else
			dp_count(lc, MB_DP_C_fill_drop, 1);
		return true;
	}
	return false;
}

/* handed: m came from another worker's dispatch (handled here, whoever
 * owns it). */
static void
ipv4_input(struct mb_dp_lcore *lc, struct rte_mbuf *m, struct rte_ether_hdr *eth, bool handed)
{
	bool others = !handed && lc->dp->nlc > 1; /* may hand it on */
	const struct mb_dp_port *port = lc->port;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint32_t avail = m->data_len - (uint32_t)sizeof(*eth);
	uint16_t ihl, tot, l4_len;
	uint32_t dst;

	if (avail < sizeof(*ip) || (ip->version_ihl >> 4) != 4)
		return drop(lc, m, MB_DP_C_drop_ip_hdr);
	ihl = (uint16_t)((ip->version_ihl & 0xf) * 4);
	tot = rte_be_to_cpu_16(ip->total_length);
	if (ihl < sizeof(*ip) || ihl > avail || tot < ihl || tot > avail)
		return drop(lc, m, MB_DP_C_drop_ip_hdr);
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return drop(lc, m, MB_DP_C_drop_ip_cksum);
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	    rte_raw_cksum(ip, ihl) != 0xffff)
		return drop(lc, m, MB_DP_C_drop_ip_cksum);
	if ((ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG |
						   RTE_IPV4_HDR_OFFSET_MASK)) != 0)
		return drop(lc, m, MB_DP_C_drop_ip_frag);
	l4_len = tot - ihl;
	dst = ip->dst_addr;
	if (port->is_virtual)
		l4_csum_complete(lc, ip, ihl, l4_len);

	switch (ip->next_proto_id) {
	case IPPROTO_UDP: {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + ihl);
		uint16_t ulen;

		if (l4_len < sizeof(*udp))
			return drop(lc, m, MB_DP_C_drop_udp);
		ulen = rte_be_to_cpu_16(udp->dgram_len);
		if (ulen < sizeof(*udp) || ulen > l4_len)
			return drop(lc, m, MB_DP_C_drop_udp);
		/* 0 = the sender computed none (IPv4 allows it); else it must
		 * hold, as a kernel socket would require of a Frisbee request. */
		if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
		    (udp->dgram_cksum != 0 &&
		     (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
		     udp_cksum_bad(ip, udp, ulen)))
			return drop(lc, m, MB_DP_C_drop_udp_cksum);
		/* a fill queue's datagram is queued where it arrived (the
		 * queue takes any worker) */
		if (atomic_load_explicit(&lc->dp->nfill, memory_order_relaxed) != 0 &&
		    fill_input(lc, ip->src_addr, dst, rte_be_to_cpu_16(udp->src_port),
			       rte_be_to_cpu_16(udp->dst_port), (const uint8_t *)(udp + 1),
			       ulen - (uint32_t)sizeof(*udp))) {
			rte_pktmbuf_free(m);
			return;
		}
		if (others) {
			int w = dp_fris_owner(lc, ip->src_addr, dst, rte_be_to_cpu_16(udp->dst_port));

			if (w >= 0 && (unsigned)w != lc->queue)
				return dp_dispatch(lc, (unsigned)w, m);
			if (w < 0 && lc->queue != 0)
				return dp_dispatch(lc, 0, m);
		}
		if (dp_fris_input(lc, ip->src_addr, dst, rte_be_to_cpu_16(udp->src_port),
				  rte_be_to_cpu_16(udp->dst_port), (const uint8_t *)(udp + 1),
				  ulen - (uint32_t)sizeof(*udp))) {
			rte_pktmbuf_free(m);
			return;
		}
		break;
	}
	case IPPROTO_TCP: {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)((uint8_t *)ip + ihl);
		bool ours = dst == port->addr && l4_len >= sizeof(*tcp) && lc->tcp != NULL &&
			    mb_dp_tcp_wants(lc->tcp, rte_be_to_cpu_16(tcp->dst_port));

		if (others) {
			unsigned w = ours ? tcp_owner(lc->dp, ip->src_addr,
						      rte_be_to_cpu_16(tcp->src_port),
						      rte_be_to_cpu_16(tcp->dst_port)) : 0;

			if (w != lc->queue)
				return dp_dispatch(lc, w, m);
		}
		if (ours) {
			dp_count(lc, MB_DP_C_tcp_rx, 1);
			rte_pktmbuf_trim(m, m->pkt_len - (uint32_t)(sizeof(*eth) + tot));
			mb_dp_tcp_rx(lc->tcp, m, mb_time_mono_ns()); /* takes m */
			return;
		}
		break;
	}
	case IPPROTO_ICMP:
		if (others && lc->queue != 0)
			return dp_dispatch(lc, 0, m);
		if (dst == port->addr) {
			dp_icmp_input(lc, m, eth, ip, l4_len);
			return;
		}
		break;
	case IPPROTO_IGMP:
		if (others && lc->queue != 0)
			return dp_dispatch(lc, 0, m);
		dp_igmp_input(lc, m, ip, l4_len);
		return;
	default:
		break;
	}
	if (lc->queue != 0) {
		/* the TAP is worker 0's (only a handed-over frame gets here) */
		if (others)
			return dp_dispatch(lc, 0, m);
		return drop(lc, m, MB_DP_C_exc_drop);
	}
	/* Not ours to handle: unicast to us, broadcast, or link-local multicast
	 * go to the kernel; other multicast and other hosts' traffic stop here. */
	if (dst == port->addr || dst == 0xffffffff || dst == (port->addr | ~port->mask) ||
	    (rte_be_to_cpu_32(dst) & 0xffffff00) == 0xe0000000 || dp_group_kernel(lc->dp, dst))
		return dp_to_kernel(lc, m);
	if (IN_MULTICAST(rte_be_to_cpu_32(dst)) && dp_group_served(lc->dp, dst))
		return drop(lc, m, MB_DP_C_fris_no_session);
	drop(lc, m, MB_DP_C_drop_not_ours);
}

/* Classify one received frame (takes m; handed: from another worker's
 * dispatch).  false when it was not traffic at all (no useful work: see the
 * file comment). */
static bool
input(struct mb_dp_lcore *lc, struct rte_mbuf *m, bool handed)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint16_t et;

#ifdef MB_FAULT_HOOKS
	if (!handed && dp_fault_drop(lc, lc->fault_rx)) {
		drop(lc, m, MB_DP_C_drop_fault);
		return true;
	}
#endif
	if (m->nb_segs != 1) {
		drop(lc, m, MB_DP_C_drop_multiseg);
		return true;
	}
	if (m->data_len < sizeof(*eth)) {
		drop(lc, m, MB_DP_C_drop_l2);
		return true;
	}
	if (rte_is_zero_ether_addr(&eth->src_addr) || rte_is_multicast_ether_addr(&eth->src_addr) ||
	    rte_is_same_ether_addr(&eth->src_addr, &lc->port->mac)) {
		drop(lc, m, MB_DP_C_drop_bad_src);
		return false;
	}
	et = rte_be_to_cpu_16(eth->ether_type);
	if (et == RTE_ETHER_TYPE_IPV4) {
		ipv4_input(lc, m, eth, handed);
	} else if (lc->queue != 0 && !handed) {
		dp_dispatch(lc, 0, m); /* ARP and the kernel's business: worker 0 */
	} else if (et == RTE_ETHER_TYPE_ARP) {
		if (lc->queue == 0 && lc->dp->nlc > 1)
			arp_copy_out(lc, m, eth);
		dp_arp_input(lc, m, eth);
	} else if (lc->queue == 0) {
		dp_to_kernel(lc, m); /* IPv6, LLDP, VLANs ...: the kernel's business */
	} else {
		drop(lc, m, MB_DP_C_drop_l2);
	}
	return true;
}

/* ---- the loop ----------------------------------------------------------------------- */

/* Receive and classify; frames that were useful work. */
static unsigned
rx(struct mb_dp_lcore *lc, struct rte_mbuf **pkts, uint16_t burst)
{
	unsigned work = 0;

	/* drain up to RX_BURSTS_MAX bursts while they come full of traffic: a
	 * pass that sends a few hundred TCP segments gets as many ACKs back,
	 * and a ring left full drops them (af_packet: 512 frames) */
	for (unsigned b = 0; b < RX_BURSTS_MAX; b++) {
		uint16_t n = rte_eth_rx_burst(lc->port->id, lc->queue, pkts, burst);
		unsigned useful = 0;

		for (uint16_t i = 0; i < n; i++) {
			dp_count(lc, MB_DP_C_rx_pkts, 1);
			dp_count(lc, MB_DP_C_rx_bytes, pkts[i]->pkt_len);
			useful += input(lc, pkts[i], false);
		}
		work += useful;
		if (n < burst || useful == 0)
			break;
	}
	return work;
}

/* What other workers handed over, drained as the RX queue is (up to
 * RX_BURSTS_MAX bursts while they come full: the others may receive
 * several bursts a pass each); frames taken. */
static unsigned
inbox(struct mb_dp_lcore *lc, struct rte_mbuf **pkts, uint16_t burst)
{
	unsigned work = 0;

	for (unsigned b = 0; b < RX_BURSTS_MAX; b++) {
		unsigned n = rte_ring_sc_dequeue_burst(lc->inbox, (void **)pkts, burst, NULL);

		if (n == 0)
			break;
		dp_count(lc, MB_DP_C_dispatch_in, n);
		for (unsigned i = 0; i < n; i++)
			(void)input(lc, pkts[i], true);
		work += n;
		if (n < burst)
			break;
	}
	return work;
}

void
dp_mc_changed(struct mb_dp_lcore *lc)
{
	if (lc->queue == 0)
		dp_port_mc_update(lc->dp);
	else
		atomic_store(&lc->dp->kgroup_dirty, true);
}

/* Every 100 ms: link, pacing, ARP expiry, Frisbee timers, the IGMP querier,
 * reloaded TCP settings. */
static void
slow_timers(struct mb_dp_lcore *lc, uint64_t now)
{
	struct mb_dp_tunables *tun = &lc->dp->tun;
	struct rusage ru;
	uint32_t gen;

	lc->next_slow = now + lc->hz / 10;
	if (lc->queue == 0) {
		if (atomic_exchange(&lc->dp->kgroup_dirty, false))
			dp_port_mc_update(lc->dp);
		dp_port_link_poll(lc, false);
		dp_port_rate_apply(lc, now);
		dp_igmp_timers(lc, now);
	}
	dp_fris_timers(lc, now); /* its own sessions */
	dp_pend_expire(lc, now);
	/* Its thread's major faults so far: pages of an mmap image that were
	 * not in the page cache and stalled this loop while the disk read them
	 * (what the read-ahead, common/mb_readahead.c, is there to prevent).
	 * A value, not an increment: one writer, the sum over workers stays a
	 * counter. */
	if (getrusage(RUSAGE_THREAD, &ru) == 0)
		__atomic_store_n(&lc->ctr[MB_DP_C_major_faults], (uint64_t)ru.ru_majflt,
				 __ATOMIC_RELAXED);
	gen = atomic_load_explicit(&tun->gen, memory_order_acquire);
	if (lc->tcp != NULL && gen != lc->tcp_gen) {
		lc->tcp_gen = gen;
		mb_dp_tcp_set_params(lc->tcp, atomic_load(&tun->tcp_initial_window),
				     atomic_load(&tun->tcp_idle_timeout_ns),
				     atomic_load(&tun->tcp_cc));
	}
}

void
dp_lcore_run(struct mb_dp_lcore *lc)
{
	struct mb_dp *dp = lc->dp;
	struct rte_mbuf *pkts[256];
	uint16_t burst = RTE_MIN(lc->port->burst, (uint16_t)RTE_DIM(pkts));

	lc->next_slow = 0;
	lc->next_reap = 0;
	while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
		uint64_t now = rte_rdtsc(), wait = UINT64_MAX;
		unsigned work = 0;

		work += dp_chan_commands(lc, now); /* first: a new session sees this burst */
		if (lc->rx)
			work += rx(lc, pkts, burst);
		if (lc->inbox != NULL)
			work += inbox(lc, pkts, burst);
		if (lc->queue == 0 && lc->inbox != NULL &&
		    atomic_load_explicit(&dp->kgroup_dirty, memory_order_relaxed) &&
		    atomic_exchange(&dp->kgroup_dirty, false))
			dp_port_mc_update(dp); /* a session of another worker (de)activated */
		work += dp_from_kernel(lc);
		work += dp_fris_tx(lc, now, &wait);
		if (lc->tcp != NULL && mb_dp_tcp_poll(lc->tcp, mb_time_mono_ns()) > 0 &&
		    wait > lc->hz / 50000)
			wait = lc->hz / 50000; /* live connections: nap at most 20 us */
		if (now >= lc->next_slow)
			slow_timers(lc, now);
		dp_chan_flush(lc);
		if (lc->ntx > 0)
			work += dp_tx_flush(lc);
		rcu_quiescent_state();
		if (work > 0)
			continue;
		if (lc->port->is_af_xdp && now >= lc->next_reap) {
			/* net_af_xdp frees sent mbufs only inside tx_burst; with
			 * nothing to send they would stay in the completion ring
			 * and its RX refill (same pool) could starve: an empty
			 * burst reaps them.  At most once a millisecond: in copy
			 * mode every burst, empty or not, is a sendto() (the
			 * kernel always asks for the wakeup), and one on each
			 * idle pass was as many system calls as naps. */
			(void)rte_eth_tx_burst(lc->port->id, lc->queue, NULL, 0);
			lc->next_reap = now + lc->hz / 1000;
		}
		{
			uint64_t us = atomic_load_explicit(&dp->tun.idle_sleep_us,
							   memory_order_relaxed);

			if (wait != UINT64_MAX && wait * 1000000 / lc->hz < us)
				us = wait * 1000000 / lc->hz;
			if (us > 0) {
				dp_count(lc, MB_DP_C_idle_sleeps, 1);
				rcu_thread_offline();
				usleep((useconds_t)us);
				rcu_thread_online();
			}
		}
	}
	dp_tx_flush(lc);
}
