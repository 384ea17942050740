/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * L3 of an lcore: the neighbour table and the ARP pending queue, ARP, ICMP
 * echo and IGMP.
 *
 * ARP: we answer for dpdk.address ourselves and keep a small table of the
 * neighbours our unicast output goes to (Frisbee unicast sessions, routed
 * frames).  A MAC is learned only from a reply to a request we sent, within
 * DP_ARP_WAIT_S of sending it: never from a datagram, a gratuitous ARP, an
 * unsolicited reply or a request (a request for our address from a node we
 * do not know makes us ask for it in turn).  Entries are re-asked with a
 * unicast request after DP_NEIGH_REFRESH_S and dropped when unconfirmed for
 * DP_NEIGH_TTL_S.  So an on-link node cannot redirect another node's
 * traffic by announcing itself; it would have to win the race to answer our
 * own request, which ARP cannot prevent.  Every ARP frame is also given to
 * the kernel so that its own neighbour cache (used by the master server and
 * FTP control sockets) stays right.  The TAP carries the port's MAC and our
 * address, so whichever side answers, the answer is the same.
 *
 * IGMP: queries are answered at once with v2 reports for every active
 * group (there is one of us: no random delay); the frame also goes to the
 * kernel.  While multicast sessions run, the port is also the segment's
 * IGMP querier (frisbee.igmp-querier, proto/mb_igmp.h: off, on, or auto,
 * which yields to a querier with a lower address and takes over when it
 * goes quiet), so a snooping switch keeps its memberships, and with them
 * the groups, alive however long a load takes.  As the querier it answers a
 * Leave with two group-specific queries to the group a second apart, so a
 * snooping switch stops sending the group to a port whose last member left
 * (it cuts the group's memberships short on such a query and keeps the
 * ports that report again).  An IGMPv3 report's group records count the
 * same way (proto/mb_igmp.h): one that leaves a group (TO_IN of no
 * sources...) is a Leave, one that keeps it a report.  Reports and Leaves
 * are validated (length, checksum, group, every v3 record within the
 * message, an on-link source: RFC 2236's defence against forged Leaves)
 * and dropped counted by reason otherwise.  The last member query count
 * and interval are tunables (frisbee.igmp-last-member-count, -interval-ms).
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include "dp_priv.h"

#define DP_NEIGH_REFRESH_S 60 /* a used entry this old is asked for again */
#define DP_NEIGH_TTL_S 120    /* an entry unconfirmed this long is dropped */
#define DP_ARP_WAIT_S 2	      /* a reply this soon after our request is its answer */
#define DP_PEND_TIMEOUT_S 2   /* a frame waits this long for ARP */

static struct dp_neigh *
neigh_find(struct mb_dp_lcore *lc, uint32_t ip)
{
	unsigned i;

	for (i = 0; i < DP_NEIGH_MAX; i++)
		if (lc->neigh[i].ip == ip && (lc->neigh[i].valid || lc->neigh[i].next_req))
			return &lc->neigh[i];
	return NULL;
}

/* The entry of ip, else a free slot, else (evict) the oldest entry, else
 * NULL. */
static struct dp_neigh *
neigh_slot(struct mb_dp_lcore *lc, uint32_t ip, bool evict)
{
	struct dp_neigh *n = neigh_find(lc, ip), *old = &lc->neigh[0];
	unsigned i;

	if (n != NULL)
		return n;
	for (i = 0; i < DP_NEIGH_MAX; i++) {
		n = &lc->neigh[i];
		if (!n->valid && n->next_req == 0)
			break;
		if (n->seen < old->seen)
			old = n;
	}
	if (i == DP_NEIGH_MAX) {
		if (!evict)
			return NULL;
		n = old;
	}
	memset(n, 0, sizeof(*n));
	n->ip = ip;
	n->seen = rte_rdtsc();
	return n;
}

static bool
on_link(const struct mb_dp_port *port, uint32_t ip)
{
	return ((ip ^ port->addr) & port->mask) == 0;
}

static void
arp_send(struct mb_dp_lcore *lc, uint16_t op, uint32_t tip, const struct rte_ether_addr *tha,
	 const struct rte_ether_addr *dst)
{
	struct rte_mbuf *m = dp_alloc(lc);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (m == NULL)
		return;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	arp = (struct rte_arp_hdr *)(eth + 1);
	m->data_len = m->pkt_len = sizeof(*eth) + sizeof(*arp);
	eth->dst_addr = *dst;
	eth->src_addr = lc->port->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	arp->arp_data.arp_sha = lc->port->mac;
	arp->arp_data.arp_sip = lc->port->addr;
	arp->arp_data.arp_tha = *tha;
	arp->arp_data.arp_tip = tip;
	if (dp_tx_frame(lc, m) == 0)
		dp_count(lc, op == RTE_ARP_OP_REPLY ? MB_DP_C_arp_reply_tx : MB_DP_C_arp_req_tx, 1);
}

/* Ask for n's MAC (at most once a second): broadcast, or unicast to the MAC
 * we hold when re-confirming it. */
static void
neigh_ask(struct mb_dp_lcore *lc, struct dp_neigh *n, uint64_t now)
{
	static const struct rte_ether_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	static const struct rte_ether_addr zero;

	if (now < n->next_req)
		return;
	n->next_req = now + lc->hz;
	n->asked = now;
	arp_send(lc, RTE_ARP_OP_REQUEST, n->ip, &zero, n->valid ? &n->mac : &bcast);
}

static void
pend_flush(struct mb_dp_lcore *lc, uint32_t ip, const struct rte_ether_addr *mac)
{
	unsigned i = 0;

	while (i < lc->npend) {
		struct dp_pend *p = &lc->pend[i];

		if (p->nexthop != ip) {
			i++;
			continue;
		}
		rte_pktmbuf_mtod(p->m, struct rte_ether_hdr *)->dst_addr = *mac;
		(void)dp_tx_frame(lc, p->m); /* takes it either way */
		lc->pend[i] = lc->pend[--lc->npend];
	}
}

/* An ARP reply from ip: the answer to our request (learned, true) or not. */
static bool
neigh_answer(struct mb_dp_lcore *lc, uint32_t ip, const struct rte_ether_addr *mac, uint64_t now)
{
	struct dp_neigh *n = neigh_find(lc, ip);

	if (n == NULL || n->asked == 0 || now - n->asked > DP_ARP_WAIT_S * lc->hz ||
	    !rte_is_unicast_ether_addr(mac) || rte_is_zero_ether_addr(mac))
		return false;
	n->mac = *mac;
	n->valid = true;
	n->seen = now;
	n->asked = 0; /* one answer per request: a second one is not ours */
	dp_count(lc, MB_DP_C_arp_learn, 1);
	if (lc->npend > 0)
		pend_flush(lc, ip, mac);
	return true;
}

bool
dp_neigh_resolve(struct mb_dp_lcore *lc, uint32_t ip, struct rte_ether_addr *ret_mac)
{
	struct dp_neigh *n = neigh_find(lc, ip);
	uint64_t now = rte_rdtsc();

	if (n != NULL && n->valid) {
		uint64_t age = now - n->seen;

		if (age < DP_NEIGH_TTL_S * lc->hz) {
			if (age >= DP_NEIGH_REFRESH_S * lc->hz)
				neigh_ask(lc, n, now); /* still used meanwhile */
			*ret_mac = n->mac;
			return true;
		}
		n->valid = false; /* unconfirmed too long: ask anew */
	}
	if (n == NULL)
		n = neigh_slot(lc, ip, true);
	neigh_ask(lc, n, now);
	return false;
}

void
dp_pend_expire(struct mb_dp_lcore *lc, uint64_t now)
{
	unsigned i = 0;

	while (i < lc->npend) {
		if (now - lc->pend[i].since < DP_PEND_TIMEOUT_S * lc->hz) {
			i++;
			continue;
		}
		rte_pktmbuf_free(lc->pend[i].m);
		dp_count(lc, MB_DP_C_arp_pending_drop, 1);
		lc->pend[i] = lc->pend[--lc->npend];
	}
}

void
dp_l3_fini(struct mb_dp_lcore *lc)
{
	for (unsigned i = 0; i < lc->npend; i++)
		rte_pktmbuf_free(lc->pend[i].m);
	lc->npend = 0;
}

uint32_t
dp_nexthop(const struct mb_dp_port *port, uint32_t dst)
{
	return on_link(port, dst) || port->gateway == 0 ? dst : port->gateway;
}

int
dp_ip_output(struct mb_dp_lcore *lc, struct rte_mbuf *m, uint32_t dst)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint32_t nh = dp_nexthop(lc->port, dst);

	eth->src_addr = lc->port->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	if (dp_neigh_resolve(lc, nh, &eth->dst_addr))
		return dp_tx_frame(lc, m);
	if (lc->npend == DP_PEND_MAX) {
		dp_count(lc, MB_DP_C_arp_pending_drop, 1);
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	lc->pend[lc->npend++] = (struct dp_pend){ .m = m, .nexthop = nh, .since = rte_rdtsc() };
	return 0;
}

/* ---- ARP / ICMP / IGMP ----------------------------------------------------------- */

void
dp_arp_input(struct mb_dp_lcore *lc, struct rte_mbuf *m, struct rte_ether_hdr *eth)
{
	const struct mb_dp_port *port = lc->port;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	uint64_t now = rte_rdtsc();
	uint32_t sip;

	dp_count(lc, MB_DP_C_arp_rx, 1);
	if (m->data_len < sizeof(*eth) + sizeof(*arp) ||
	    arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4) {
		dp_count(lc, MB_DP_C_drop_arp, 1);
		rte_pktmbuf_free(m);
		return;
	}
	sip = arp->arp_data.arp_sip;
	if (sip != 0 && sip != port->addr && on_link(port, sip)) {
		const struct dp_neigh *n = neigh_find(lc, sip);
		bool ours = false;

		if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) &&
		    arp->arp_data.arp_tip == port->addr)
			ours = neigh_answer(lc, sip, &arp->arp_data.arp_sha, now);
		if (!ours) {
			/* not learned: a request, a gratuitous ARP, or a reply we
			 * did not ask for (counted; a different MAC for a
			 * neighbour we hold is a conflict, maybe a spoofer) */
			if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
			    arp->arp_data.arp_tip == sip)
				dp_count(lc, MB_DP_C_arp_unsolicited, 1);
			if (n != NULL && n->valid &&
			    !rte_is_same_ether_addr(&n->mac, &arp->arp_data.arp_sha))
				dp_count(lc, MB_DP_C_arp_conflict, 1);
		}
	}
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) &&
	    arp->arp_data.arp_tip == port->addr && sip != port->addr) {
		arp_send(lc, RTE_ARP_OP_REPLY, sip, &arp->arp_data.arp_sha,
			 &arp->arp_data.arp_sha);
		/* a node that talks to us is verified by asking for it in turn,
		 * so its MAC is known before we first send to it; only into a
		 * free slot (requests from many forged addresses must not evict
		 * the neighbours our sessions use) */
		if (sip != 0 && on_link(port, sip)) {
			struct dp_neigh *n = neigh_find(lc, sip);

			if (n == NULL)
				n = neigh_slot(lc, sip, false);
			if (n != NULL && !n->valid)
				neigh_ask(lc, n, now);
		}
	}
	/* The kernel learns too (its replies for our address are identical). */
	dp_to_kernel(lc, m);
}

void
dp_icmp_input(struct mb_dp_lcore *lc, struct rte_mbuf *m, struct rte_ether_hdr *eth,
	      struct rte_ipv4_hdr *ip, uint16_t l4_len)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)ip + rte_ipv4_hdr_len(ip));

	if (l4_len < sizeof(*icmp) || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST ||
	    ip->dst_addr != lc->port->addr) {
		dp_to_kernel(lc, m);
		return;
	}
	if (rte_raw_cksum(icmp, l4_len) != 0xffff) {
		dp_count(lc, MB_DP_C_drop_ip_cksum, 1);
		rte_pktmbuf_free(m);
		return;
	}
	/* Turn the request around in place. */
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	/* Recompute rather than patch: clearer, and echo payloads are small. */
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, l4_len);
	ip->dst_addr = ip->src_addr;
	ip->src_addr = lc->port->addr;
	ip->time_to_live = 64;
	dp_ip_cksum(lc->port, m, ip);
	eth->dst_addr = eth->src_addr;
	eth->src_addr = lc->port->mac;
	/* Trim Ethernet padding. */
	rte_pktmbuf_trim(m, m->pkt_len -
			       (uint32_t)(sizeof(*eth) + rte_be_to_cpu_16(ip->total_length)));
	if (dp_tx_frame(lc, m) == 0)
		dp_count(lc, MB_DP_C_icmp_echo, 1);
}

bool
dp_group_served(const struct mb_dp *dp, uint32_t group)
{
	for (uint32_t i = 0; i < dp->fris.max; i++) {
		const struct mb_dp_sess *s = &dp->fris.sess[i];

		if (atomic_load_explicit(&s->state, memory_order_acquire) == MB_DP_SESS_ACTIVE &&
		    s->method == MB_FRIS_MULTICAST && s->addr == group)
			return true;
	}
	return false;
}

/*
 * Starts an IGMPv2 frame to the group address dst (network order) in a
 * fresh mbuf m: Ethernet to dst's multicast MAC, IPv4 from the port with
 * TTL 1 and the Router Alert option (RFC 2236), its checksum done, and room
 * for the 8-byte IGMP message; returns where the message goes, for the
 * caller to fill before it sends m.  Lcore thread; never blocks.
 */
static uint8_t *
igmp_frame(struct mb_dp_lcore *lc, struct rte_mbuf *m, uint32_t dst)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint8_t *opt = (uint8_t *)(ip + 1);
	uint32_t hdst = rte_be_to_cpu_32(dst);

	m->data_len = m->pkt_len = sizeof(*eth) + 24 + 8;
	eth->dst_addr = (struct rte_ether_addr){{0x01, 0x00, 0x5e, (hdst >> 16) & 0x7f,
						 (hdst >> 8) & 0xff, hdst & 0xff}};
	eth->src_addr = lc->port->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, 24);
	ip->version_ihl = 0x46; /* 24 bytes: Router Alert option (RFC 2236) */
	ip->total_length = rte_cpu_to_be_16(24 + 8);
	ip->packet_id = rte_cpu_to_be_16(lc->ip_id++);
	ip->time_to_live = 1;
	ip->next_proto_id = IPPROTO_IGMP;
	ip->src_addr = lc->port->addr;
	ip->dst_addr = dst;
	opt[0] = 0x94;
	opt[1] = 4;
	opt[2] = opt[3] = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip); /* options: always in software */
	return opt + 4;
}

void
dp_igmp_send(struct mb_dp_lcore *lc, uint32_t group, bool leave)
{
	struct rte_mbuf *m = dp_alloc(lc);
	uint32_t dst = leave ? rte_cpu_to_be_32(0xe0000002) : group; /* 224.0.0.2 */
	uint8_t *igmp;
	uint16_t c;

	if (m == NULL)
		return;
	igmp = igmp_frame(lc, m, dst);
	igmp[0] = leave ? 0x17 : 0x16;
	igmp[1] = 0;
	igmp[2] = igmp[3] = 0;
	memcpy(igmp + 4, &group, 4);
	c = (uint16_t)~rte_raw_cksum(igmp, 8);
	memcpy(igmp + 2, &c, 2);
	if (dp_tx_frame(lc, m) == 0)
		dp_count(lc, leave ? MB_DP_C_igmp_leave_tx : MB_DP_C_igmp_report_tx, 1);
}

/* Any multicast session active on the port? */
static bool
mcast_active(const struct mb_dp *dp)
{
	for (uint32_t i = 0; i < dp->fris.max; i++) {
		const struct mb_dp_sess *s = &dp->fris.sess[i];

		if (s->method == MB_FRIS_MULTICAST &&
		    atomic_load_explicit(&s->state, memory_order_acquire) == MB_DP_SESS_ACTIVE)
			return true;
	}
	return false;
}

/* An IGMPv2 general query to 224.0.0.1, TTL 1, Router Alert. */
static void
igmp_query_send(struct mb_dp_lcore *lc, uint8_t max_resp_tenths)
{
	struct rte_mbuf *m = dp_alloc(lc);

	if (m == NULL)
		return;
	/* to 224.0.0.1 (all hosts) */
	(void)mb_igmp_encode_query(igmp_frame(lc, m, rte_cpu_to_be_32(0xe0000001)), 8, 0,
				   max_resp_tenths);
	if (dp_tx_frame(lc, m) == 0)
		dp_count(lc, MB_DP_C_igmp_query_tx, 1);
}

/*
 * The group-specific queries due now (mb_igmp_querier_gsq_due), each to its
 * group, max response the last member query interval.  We answer none of
 * them with a report of ours, even for a group we serve: our port is the
 * querier's, which a snooping switch forwards every group to, and our
 * report would make the members cancel theirs (an IGMPv2 host does, on
 * hearing another's) wherever reports are flooded, hiding the members the
 * queries ask for.  Lcore of queue 0.
 */
static void
igmp_gsq_run(struct mb_dp_lcore *lc, uint64_t now)
{
	uint32_t group;

	while (mb_igmp_querier_gsq_due(&lc->dp->igmp.q, now, &group)) {
		struct rte_mbuf *m = dp_alloc(lc);

		if (m == NULL)
			continue; /* counted (no_mbuf); the check goes on */
		(void)mb_igmp_encode_query(igmp_frame(lc, m, group), 8, group,
					   (uint8_t)lc->dp->igmp.q.lmqi_tenths);
		if (dp_tx_frame(lc, m) == 0)
			dp_count(lc, MB_DP_C_igmp_gsq_tx, 1);
	}
}

void
dp_igmp_timers(struct mb_dp_lcore *lc, uint64_t now)
{
	struct dp_igmp *g = &lc->dp->igmp;
	struct mb_dp_tunables *tun = &lc->dp->tun;
	uint32_t mode = atomic_load_explicit(&tun->igmp_querier, memory_order_relaxed);
	uint64_t qi = atomic_load_explicit(&tun->igmp_query_interval_s, memory_order_relaxed);
	uint32_t lmqc = atomic_load_explicit(&tun->igmp_lmqc, memory_order_relaxed);
	uint32_t lmqi = atomic_load_explicit(&tun->igmp_lmqi_tenths, memory_order_relaxed);

	if (g->q.hz == 0 || mode != g->mode || qi != g->interval_s) {
		/* start-up, or a reload changed it: the election state stays */
		g->mode = mode;
		g->interval_s = qi;
		mb_igmp_querier_config(&g->q, (enum mb_igmp_querier_mode)mode, lc->port->addr, qi,
				       lc->hz, now);
	}
	if (lmqc == 0) /* tunables not applied: the defaults */
		lmqc = MB_IGMP_LMQC;
	if (lmqi == 0)
		lmqi = MB_IGMP_LMQI_TENTHS;
	if (lmqc != g->q.lmqc || lmqi != g->q.lmqi_tenths)
		mb_igmp_querier_last_member(&g->q, lmqc, lmqi); /* bounded there */
	mb_igmp_querier_activate(&g->q, mcast_active(lc->dp), now);
	if (mb_igmp_querier_due(&g->q, now))
		igmp_query_send(lc, (uint8_t)g->q.qri_tenths);
	igmp_gsq_run(lc, now);
}

/* Do we hear the reports for group (a check's verdict needs them)?  All
 * multicast comes in, or the exact filter has the group because we serve
 * it.  arg: the lcore. */
static bool
igmp_listen(void *arg, uint32_t group)
{
	const struct mb_dp_lcore *lc = arg;

	return !lc->port->mc_list_ok || dp_group_served(lc->dp, group);
}

/* Before a Leave is judged: a querier still idle although a multicast
 * session has started wakes now rather than at the next 100 ms timer pass
 * (a load shorter than that left before the querier woke, and its Leave
 * got no group-specific query).  Walks the session slots only while idle. */
static void
igmp_wake(struct mb_dp_lcore *lc, uint64_t now)
{
	struct mb_igmp_querier *q = &lc->dp->igmp.q;

	if (q->state == MB_IGMP_Q_IDLE && q->mode != MB_IGMP_QUERIER_OFF && q->hz != 0)
		mb_igmp_querier_activate(q, mcast_active(lc->dp), now);
}

/* A v1/v2 report or a v2 Leave (msg decoded, rc its mb_igmp_decode result):
 * false when it is dropped (counted; the caller frees it).  Lcore of
 * queue 0. */
static bool
igmp_member_input(struct mb_dp_lcore *lc, const struct rte_ipv4_hdr *ip,
		  const struct mb_igmp_msg *msg, int rc)
{
	struct mb_igmp_querier *q = &lc->dp->igmp.q;
	uint64_t now;

	if (rc != 0 || !on_link(lc->port, ip->src_addr) || ip->src_addr == lc->port->addr ||
	    (msg->type == MB_IGMP_V2_LEAVE && ip->dst_addr != rte_cpu_to_be_32(0xe0000002) &&
	     ip->dst_addr != msg->group)) {
		dp_count(lc, MB_DP_C_drop_igmp, 1);
		return false;
	}
	if (lc->queue != 0)
		return true; /* the querier is queue 0's (dp_lcore.c sends IGMP there) */
	if (msg->type != MB_IGMP_V2_LEAVE) {
		mb_igmp_querier_report(q, msg->group);
		return true;
	}
	dp_count(lc, MB_DP_C_igmp_leave, 1);
	now = rte_rdtsc();
	igmp_wake(lc, now);
	/* a check's verdict needs the group's reports (igmp_listen) */
	rc = mb_igmp_querier_leave(q, msg->group, igmp_listen(lc, msg->group), now);
	if (rc == -ENOSPC)
		dp_count(lc, MB_DP_C_igmp_leave_limited, 1);
	else if (rc == 0)
		igmp_gsq_run(lc, now);
	return true;
}

/* An IGMPv3 report (buf, len; rc its mb_igmp_decode result): false when it
 * is dropped (counted by reason; the caller frees it).  Its source must be
 * on-link or 0.0.0.0 (a host without an address yet: RFC 3376 4.2.13), its
 * destination 224.0.0.22.  Each group record that leaves a group starts a
 * check as a v2 Leave does; each that keeps one counts as its report.
 * Lcore of queue 0. */
static bool
igmp_v3_input(struct mb_dp_lcore *lc, const struct rte_ipv4_hdr *ip, const uint8_t *buf,
	      size_t len, int rc)
{
	struct mb_igmp_v3_result res;
	uint64_t now;

	if (rc == -EMSGSIZE) {
		dp_count(lc, MB_DP_C_drop_igmp_v3_len, 1);
		return false;
	}
	if (rc == -EINVAL) {
		dp_count(lc, MB_DP_C_drop_igmp_v3_group, 1);
		return false;
	}
	if (rc != 0 || ip->dst_addr != rte_cpu_to_be_32(0xe0000016) ||
	    ip->src_addr == lc->port->addr ||
	    (ip->src_addr != 0 && !on_link(lc->port, ip->src_addr))) {
		dp_count(lc, MB_DP_C_drop_igmp, 1);
		return false;
	}
	if (lc->queue != 0)
		return true; /* the querier is queue 0's (dp_lcore.c sends IGMP there) */
	dp_count(lc, MB_DP_C_igmp_v3_report, 1);
	now = rte_rdtsc();
	igmp_wake(lc, now);
	mb_igmp_querier_v3(&lc->dp->igmp.q, buf, len, igmp_listen, lc, now, &res);
	dp_count(lc, MB_DP_C_igmp_v3_leave, res.leaves);
	dp_count(lc, MB_DP_C_igmp_leave_limited, res.limited);
	if (res.started > 0)
		igmp_gsq_run(lc, now);
	return true;
}

void
dp_igmp_input(struct mb_dp_lcore *lc, struct rte_mbuf *m, struct rte_ipv4_hdr *ip,
	      uint16_t l4_len)
{
	const uint8_t *igmp = (const uint8_t *)ip + rte_ipv4_hdr_len(ip);
	const struct mb_dp_fris *f = &lc->dp->fris;
	struct mb_igmp_msg msg = {0};
	uint32_t group, i;
	int rc;

	rc = mb_igmp_decode(igmp, l4_len, &msg);
	if (l4_len >= 1 && (igmp[0] == MB_IGMP_V1_REPORT || igmp[0] == MB_IGMP_V2_REPORT ||
			    igmp[0] == MB_IGMP_V2_LEAVE)) {
		msg.type = igmp[0];
		if (!igmp_member_input(lc, ip, &msg, rc)) {
			rte_pktmbuf_free(m);
			return;
		}
	} else if (l4_len >= 1 && igmp[0] == MB_IGMP_V3_REPORT) {
		if (!igmp_v3_input(lc, ip, igmp, l4_len, rc)) {
			rte_pktmbuf_free(m);
			return;
		}
	} else if (rc == 0 && msg.type == MB_IGMP_QUERY) {
		dp_count(lc, MB_DP_C_igmp_query, 1);
		/* another querier (the election of our own, proto/mb_igmp.h) */
		if (lc->queue == 0)
			mb_igmp_querier_heard(&lc->dp->igmp.q, ip->src_addr, rte_rdtsc());
		group = msg.group;
		/* General query (group 0) or group-specific; v3 queries get v2
		 * reports, as a v2 host would answer them. */
		for (i = 0; i < f->max; i++) {
			const struct mb_dp_sess *s = &f->sess[i];

			if (atomic_load_explicit(&s->state, memory_order_acquire) ==
				    MB_DP_SESS_ACTIVE &&
			    s->method == MB_FRIS_MULTICAST && (group == 0 || group == s->addr))
				dp_igmp_send(lc, s->addr, false);
		}
	}
	dp_to_kernel(lc, m);
}
