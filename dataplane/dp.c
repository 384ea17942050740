/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane core: port setup, the poll loop, L2/L3 (ARP, ICMP echo,
 * IGMP, IPv4 checks, UDP/TCP classification), the exception path to the
 * kernel through a net_tap, the command ring from the control thread, the
 * events back to it (session and transfer ends as state the control thread
 * reaps, link changes on a ring), and the lock-free counter reads.
 *
 * The loop is run-to-completion on one lcore: receive a burst, classify each
 * frame (answer ARP/ICMP/IGMP here, Frisbee UDP to dp_fris.c, owned TCP
 * ports to the TCP hook, everything else to the TAP), forward what the
 * kernel sends on the TAP out of the port, apply control commands, let the
 * Frisbee engine send what its pacers allow, flush the TX backlog, announce
 * a quiescent state.  With nothing to do it goes RCU-offline and sleeps
 * (dpdk.idle-sleep-us, or less when a pacer is due sooner).
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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <urcu-qsbr.h>

#include "dp_priv.h"
#include "dp_tcp.h"
#include "mb_log.h"
#include "mb_time.h"

#define DP_TXQ_MAX 1024	       /* TX backlog (frames) */
#define DP_NEIGH_MAX 64
#define DP_NEIGH_REFRESH_S 60 /* a used entry this old is asked for again */
#define DP_NEIGH_TTL_S 120    /* an entry unconfirmed this long is dropped */
#define DP_ARP_WAIT_S 2	      /* a reply this soon after our request is its answer */
#define DP_PEND_MAX 64
#define DP_RING_SIZE 256
#define DP_EV_RING_SIZE 64
#define XFER_END_VALID (1ull << 63)
#define DP_ZC_POOL_MIN 8192u
/* net_af_xdp (22.11) receives into the RX mempool itself (its UMEM): it
 * keeps 2048 mbufs in the fill ring and up to 2048 sent ones in the
 * completion ring, on top of its RX and TX rings. */
#define DP_AF_XDP_FILL 2048u
#define DP_AF_XDP_COMP 2048u
#define DP_TAP_NAME "net_tap_mb"

enum dp_cmd {
	DP_CMD_START = 1,
	DP_CMD_STOP,
};

struct dp_neigh {
	uint32_t ip;
	struct rte_ether_addr mac;
	bool valid;
	uint64_t seen;	   /* TSC: last confirmed (valid), or slot taken */
	uint64_t next_req; /* TSC: rate limit for our ARP requests */
	uint64_t asked;	   /* TSC: our request awaiting its reply since, 0 = none */
};

struct dp_pend {
	struct rte_mbuf *m;
	uint32_t nexthop;
	uint64_t since;
};

static struct {
	bool initialised;
	_Atomic bool stop;
	_Atomic int owner; /* lcore id running the port, -1 none */

	/* configuration (copied at init; reloadable ones are atomics) */
	uint16_t port;
	uint32_t addr;
	uint32_t mask;
	uint32_t gateway;
	uint16_t mtu;
	uint16_t burst;
	uint64_t idle_sleep_us;
	bool zc;
	uint8_t mcast_ttl;
	_Atomic uint64_t fris_rate;
	_Atomic uint64_t port_rate_cfg;
	_Atomic uint64_t idle_timeout_s;
	_Atomic bool dynamic_rate;
	_Atomic uint64_t unicast_resend; /* percent */
	uint32_t max_sessions;

	struct rte_ether_addr mac;
	bool tx_ip_cksum;
	bool tx_multiseg;
	bool rx_ip_cksum;
	bool mc_list_ok;

	bool have_tap;
	uint16_t tap_port;

	struct rte_mempool *pool;
	struct rte_mempool *zc_pool;
	struct rte_ring *cmd;
	struct rte_ring *ev; /* link events only: state is in dp.link_up anyway */
	int efd;
	/* Events that free resources are state, not messages (see
	 * mb_dp_events_poll): ended session slots stay MB_DP_SESS_ENDED until
	 * the control thread reaps them, and each passive port holds the end
	 * of its newest transfer.  The flags only say where to look. */
	_Atomic bool sess_dirty;
	_Atomic bool xfer_dirty;
	_Atomic uint64_t *xfer_end; /* per passive port: XFER_END_VALID | ok << 32 | cookie */
	uint16_t pasv_min, npasv;

	uint64_t hz;
	_Atomic bool link_up;
	_Atomic uint64_t link_speed_bps;
	uint64_t next_slow; /* TSC */

	struct mb_tbucket port_tb;
	uint64_t port_rate;
	bool port_virtual; /* software port: its link speed is a made-up constant */
	bool port_af_xdp;  /* net_af_xdp: completions are reaped only inside tx_burst */

	struct rte_mbuf *txq[DP_TXQ_MAX];
	unsigned ntx;

	struct dp_neigh neigh[DP_NEIGH_MAX];
	struct dp_pend pend[DP_PEND_MAX];
	unsigned npend;
	uint16_t ip_id;

	struct mb_dp_sess *sess;
	uint32_t next_id;

	struct mb_dp_tcp *tcp; /* userspace TCP (dp_tcp.c), NULL if tcp.enable is off */
	bool tx_tcp_cksum;

#ifdef MB_FAULT_HOOKS
	_Atomic unsigned fault_rx, fault_tx, fault_reorder;
	uint64_t fault_seed;
#endif

	uint64_t ctr[MB_DP_C_MAX];
} dp = { .owner = -1, .efd = -1 };

static const char *const dp_ctr_names[] = {
#define MB_DP_X_NAME(n, h) #n,
	MB_DP_COUNTERS(MB_DP_X_NAME)
#undef MB_DP_X_NAME
};

static const char *const dp_sctr_names[] = {
#define MB_DP_X_NAME(n, h) #n,
	MB_DP_SESS_COUNTERS(MB_DP_X_NAME)
#undef MB_DP_X_NAME
};

/* ---- small services ------------------------------------------------------------ */

static inline void
dp_count(enum mb_dp_ctr c, uint64_t n)
{
	/* Single writer: a relaxed load/store pair is enough for readers. */
	__atomic_store_n(&dp.ctr[c], dp.ctr[c] + n, __ATOMIC_RELAXED);
}

void
mb_dp_count(enum mb_dp_ctr c, uint64_t n)
{
	dp_count(c, n);
}

uint64_t
mb_dp_tsc_hz(void)
{
	return dp.hz;
}

uint32_t
mb_dp_addr(void)
{
	return dp.addr;
}

const struct rte_ether_addr *
mb_dp_mac(void)
{
	return &dp.mac;
}

uint64_t
mb_dp_port_rate(void)
{
	return dp.port_rate;
}

uint8_t
mb_dp_mcast_ttl(void)
{
	return dp.mcast_ttl;
}

bool
mb_dp_tx_zc_enabled(void)
{
	return dp.zc;
}

struct mb_dp_sess *
mb_dp_sess_slot(uint32_t i)
{
	return &dp.sess[i];
}

uint32_t
mb_dp_sess_count(void)
{
	return dp.max_sessions;
}

/* TX callback of the TCP glue: its frames join the port's backlog. */
static uint16_t
dp_tcp_tx(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t i;

	(void)arg;
	for (i = 0; i < n && dp.ntx < DP_TXQ_MAX; i++)
		dp.txq[dp.ntx++] = pkts[i];
	return i;
}

static void dp_wake_control(void);

/* The control thread's FTP session answers 226/426 on this event (tcp).
 * The TCP glue reports only the newest transfer of a port, so the port's
 * slot keeps what the control thread waits for even when it reads late;
 * an older end it overwrites was of no interest any more. */
static void
dp_tcp_xfer_done(void *arg, uint16_t port, uint64_t cookie, bool ok)
{
	(void)arg;
	MB_LOG(DEBUG, DP, "FTP data transfer %" PRIu64 " %s", cookie, ok ? "done" : "failed");
	if (dp.xfer_end == NULL || port < dp.pasv_min || port - dp.pasv_min >= dp.npasv)
		return;
	atomic_store_explicit(&dp.xfer_end[port - dp.pasv_min],
			      XFER_END_VALID | (uint64_t)ok << 32 | (uint32_t)cookie,
			      memory_order_release);
	atomic_store_explicit(&dp.xfer_dirty, true, memory_order_release);
	dp_wake_control();
}

#ifdef MB_FAULT_HOOKS
void
mb_dp_fault_set(unsigned rx_pct, unsigned tx_pct)
{
	dp.fault_rx = rx_pct > 100 ? 100 : rx_pct;
	dp.fault_tx = tx_pct > 100 ? 100 : tx_pct;
}

static bool
dp_fault_drop(unsigned pct)
{
	/* xorshift64: cheap and good enough to spread test drops. */
	if (pct == 0)
		return false;
	dp.fault_seed ^= dp.fault_seed << 13;
	dp.fault_seed ^= dp.fault_seed >> 7;
	dp.fault_seed ^= dp.fault_seed << 17;
	return dp.fault_seed % 100 < pct;
}
#endif

struct rte_mbuf *
mb_dp_alloc(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp.pool);

	if (m == NULL)
		dp_count(MB_DP_C_no_mbuf, 1);
	return m;
}

int
mb_dp_alloc_bulk(struct rte_mbuf **m, unsigned n)
{
	if (rte_pktmbuf_alloc_bulk(dp.pool, m, n) != 0) {
		dp_count(MB_DP_C_no_mbuf, n);
		return -ENOMEM;
	}
	return 0;
}

unsigned
mb_dp_tx_room(void)
{
	return DP_TXQ_MAX - dp.ntx;
}

int
mb_dp_tx_frame(struct rte_mbuf *m)
{
#ifdef MB_FAULT_HOOKS
	if (dp_fault_drop(dp.fault_tx)) {
		dp_count(MB_DP_C_drop_fault, 1);
		rte_pktmbuf_free(m);
		return 0;
	}
#endif
	if (dp.ntx == DP_TXQ_MAX) {
		dp_count(MB_DP_C_tx_drop, 1);
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	dp.txq[dp.ntx++] = m;
	return 0;
}

/* Send the backlog; what the ring does not take stays for the next pass. */
static unsigned
dp_tx_flush(void)
{
	uint16_t sent = 0, n;
	uint64_t bytes = 0;
	unsigned i;

#ifdef MB_FAULT_HOOKS
	/* Reordering: swap neighbours in the backlog. */
	for (i = 0; i + 1 < dp.ntx; i++) {
		if (dp_fault_drop(dp.fault_reorder)) {
			struct rte_mbuf *t = dp.txq[i];

			dp.txq[i] = dp.txq[i + 1];
			dp.txq[i + 1] = t;
			dp_count(MB_DP_C_fault_reordered, 2);
			i++;
		}
	}
#endif
	while (sent < dp.ntx) {
		n = rte_eth_tx_burst(dp.port, 0, dp.txq + sent,
				     (uint16_t)RTE_MIN(dp.ntx - sent, 512u));
		if (n == 0)
			break;
		for (i = sent; i < (unsigned)sent + n; i++)
			bytes += dp.txq[i]->pkt_len;
		sent += n;
	}
	if (sent < dp.ntx) {
		dp_count(MB_DP_C_tx_full, dp.ntx - sent);
		memmove(dp.txq, dp.txq + sent, (dp.ntx - sent) * sizeof(dp.txq[0]));
	}
	dp.ntx -= sent;
	dp_count(MB_DP_C_tx_pkts, sent);
	dp_count(MB_DP_C_tx_bytes, bytes);
	return sent;
}

void
mb_dp_ip_cksum(struct rte_mbuf *m, struct rte_ipv4_hdr *ip)
{
	ip->hdr_checksum = 0;
	if (dp.tx_ip_cksum) {
		m->l2_len = sizeof(struct rte_ether_hdr);
		m->l3_len = rte_ipv4_hdr_len(ip);
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	} else {
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
}

/* ---- exception path ------------------------------------------------------------ */

static void
dp_to_kernel(struct rte_mbuf *m)
{
	if (!dp.have_tap || rte_eth_tx_burst(dp.tap_port, 0, &m, 1) != 1) {
		dp_count(MB_DP_C_exc_drop, 1);
		rte_pktmbuf_free(m);
		return;
	}
	dp_count(MB_DP_C_exc_to_kernel, 1);
}

static unsigned
dp_from_kernel(void)
{
	struct rte_mbuf *pkts[32];
	uint16_t n, i;

	if (!dp.have_tap)
		return 0;
	n = rte_eth_rx_burst(dp.tap_port, 0, pkts, 32);
	for (i = 0; i < n; i++) {
		if (mb_dp_tx_frame(pkts[i]) == 0)
			dp_count(MB_DP_C_exc_from_kernel, 1);
	}
	return n;
}

/* Give the kernel the TAP's address: same IPv4 and prefix as the dataplane,
 * link up.  The kernel then runs the TCP sockets of the control thread. */
static int
dp_tap_configure(const char *ifname)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int fd, rc = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = dp.addr;
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		rc = -errno;
	sin->sin_addr.s_addr = dp.mask;
	if (rc == 0 && ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		rc = -errno;
	if (rc == 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int
dp_tap_init(const char *ifname)
{
	struct rte_eth_conf conf;
	char args[128], mac[RTE_ETHER_ADDR_FMT_SIZE];
	uint16_t pid;
	int rc;

	rte_ether_format_addr(mac, sizeof(mac), &dp.mac);
	snprintf(args, sizeof(args), "iface=%s,mac=%s", ifname, mac);
	rc = rte_eal_hotplug_add("vdev", DP_TAP_NAME, args);
	if (rc < 0 && rc != -EEXIST) {
		MB_LOG(ERR, DP, "exception TAP %s: hotplug failed: %s", ifname, strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_get_port_by_name(DP_TAP_NAME, &pid);
	if (rc != 0) {
		MB_LOG(ERR, DP, "exception TAP %s: no port", ifname);
		return rc;
	}
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(pid, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(pid, 0, 256, rte_eth_dev_socket_id(pid), NULL, dp.pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(pid, 0, 256, rte_eth_dev_socket_id(pid), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(pid);
	if (rc != 0) {
		MB_LOG(ERR, DP, "exception TAP %s: setup failed: %s", ifname, strerror(-rc));
		return rc;
	}
	dp.tap_port = pid;
	dp.have_tap = true;
	rc = dp_tap_configure(ifname);
	if (rc != 0)
		MB_LOG(WARNING, DP, "exception TAP %s: cannot set address: %s", ifname,
		       strerror(-rc));
	MB_LOG(INFO, DP, "exception TAP %s is port %u", ifname, pid);
	return 0;
}

/* ---- neighbours ------------------------------------------------------------------ */

static struct dp_neigh *
dp_neigh_find(uint32_t ip)
{
	unsigned i;

	for (i = 0; i < DP_NEIGH_MAX; i++)
		if (dp.neigh[i].ip == ip && (dp.neigh[i].valid || dp.neigh[i].next_req))
			return &dp.neigh[i];
	return NULL;
}

/* The entry of ip, else a free slot, else (evict) the oldest entry, else
 * NULL. */
static struct dp_neigh *
dp_neigh_slot(uint32_t ip, bool evict)
{
	struct dp_neigh *n = dp_neigh_find(ip), *old = &dp.neigh[0];
	unsigned i;

	if (n != NULL)
		return n;
	for (i = 0; i < DP_NEIGH_MAX; i++) {
		n = &dp.neigh[i];
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
dp_on_link(uint32_t ip)
{
	return ((ip ^ dp.addr) & dp.mask) == 0;
}

static void dp_pend_flush(uint32_t ip, const struct rte_ether_addr *mac);
static void dp_arp_send(uint16_t op, uint32_t tip, const struct rte_ether_addr *tha,
			const struct rte_ether_addr *dst);

/* Ask for n's MAC (at most once a second): broadcast, or unicast to the MAC
 * we hold when re-confirming it. */
static void
dp_neigh_ask(struct dp_neigh *n, uint64_t now)
{
	static const struct rte_ether_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	static const struct rte_ether_addr zero;

	if (now < n->next_req)
		return;
	n->next_req = now + dp.hz;
	n->asked = now;
	dp_arp_send(RTE_ARP_OP_REQUEST, n->ip, &zero, n->valid ? &n->mac : &bcast);
}

/* An ARP reply from ip: the answer to our request (learned, true) or not. */
static bool
dp_neigh_answer(uint32_t ip, const struct rte_ether_addr *mac, uint64_t now)
{
	struct dp_neigh *n = dp_neigh_find(ip);

	if (n == NULL || n->asked == 0 || now - n->asked > DP_ARP_WAIT_S * dp.hz ||
	    !rte_is_unicast_ether_addr(mac) || rte_is_zero_ether_addr(mac))
		return false;
	n->mac = *mac;
	n->valid = true;
	n->seen = now;
	n->asked = 0; /* one answer per request: a second one is not ours */
	dp_count(MB_DP_C_arp_learn, 1);
	if (dp.npend > 0)
		dp_pend_flush(ip, mac);
	return true;
}

static void
dp_arp_send(uint16_t op, uint32_t tip, const struct rte_ether_addr *tha,
	    const struct rte_ether_addr *dst)
{
	struct rte_mbuf *m = mb_dp_alloc();
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (m == NULL)
		return;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	arp = (struct rte_arp_hdr *)(eth + 1);
	m->data_len = m->pkt_len = sizeof(*eth) + sizeof(*arp);
	eth->dst_addr = *dst;
	eth->src_addr = dp.mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	arp->arp_data.arp_sha = dp.mac;
	arp->arp_data.arp_sip = dp.addr;
	arp->arp_data.arp_tha = *tha;
	arp->arp_data.arp_tip = tip;
	if (mb_dp_tx_frame(m) == 0)
		dp_count(op == RTE_ARP_OP_REPLY ? MB_DP_C_arp_reply_tx : MB_DP_C_arp_req_tx, 1);
}

bool
mb_dp_neigh_resolve(uint32_t ip, struct rte_ether_addr *ret_mac)
{
	struct dp_neigh *n = dp_neigh_find(ip);
	uint64_t now = rte_rdtsc();

	if (n != NULL && n->valid) {
		uint64_t age = now - n->seen;

		if (age < DP_NEIGH_TTL_S * dp.hz) {
			if (age >= DP_NEIGH_REFRESH_S * dp.hz)
				dp_neigh_ask(n, now); /* still used meanwhile */
			*ret_mac = n->mac;
			return true;
		}
		n->valid = false; /* unconfirmed too long: ask anew */
	}
	if (n == NULL)
		n = dp_neigh_slot(ip, true);
	dp_neigh_ask(n, now);
	return false;
}

static void
dp_pend_flush(uint32_t ip, const struct rte_ether_addr *mac)
{
	unsigned i = 0;

	while (i < dp.npend) {
		struct dp_pend *p = &dp.pend[i];

		if (p->nexthop != ip) {
			i++;
			continue;
		}
		rte_pktmbuf_mtod(p->m, struct rte_ether_hdr *)->dst_addr = *mac;
		mb_dp_tx_frame(p->m);
		dp.pend[i] = dp.pend[--dp.npend];
	}
}

static void
dp_pend_expire(uint64_t now)
{
	unsigned i = 0;

	while (i < dp.npend) {
		if (now - dp.pend[i].since < 2 * dp.hz) {
			i++;
			continue;
		}
		rte_pktmbuf_free(dp.pend[i].m);
		dp_count(MB_DP_C_arp_pending_drop, 1);
		dp.pend[i] = dp.pend[--dp.npend];
	}
}

uint32_t
mb_dp_nexthop(uint32_t dst)
{
	return dp_on_link(dst) || dp.gateway == 0 ? dst : dp.gateway;
}

int
mb_dp_ip_output(struct rte_mbuf *m, uint32_t dst)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint32_t nh = mb_dp_nexthop(dst);

	eth->src_addr = dp.mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	if (mb_dp_neigh_resolve(nh, &eth->dst_addr))
		return mb_dp_tx_frame(m);
	if (dp.npend == DP_PEND_MAX) {
		dp_count(MB_DP_C_arp_pending_drop, 1);
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	dp.pend[dp.npend++] = (struct dp_pend){ .m = m, .nexthop = nh, .since = rte_rdtsc() };
	return 0;
}

/* ---- ARP / ICMP / IGMP ---------------------------------------------------------- */

static void
dp_arp_input(struct rte_mbuf *m, struct rte_ether_hdr *eth)
{
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	uint64_t now = rte_rdtsc();
	uint32_t sip;

	dp_count(MB_DP_C_arp_rx, 1);
	if (m->data_len < sizeof(*eth) + sizeof(*arp) ||
	    arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4) {
		dp_count(MB_DP_C_drop_arp, 1);
		rte_pktmbuf_free(m);
		return;
	}
	sip = arp->arp_data.arp_sip;
	if (sip != 0 && sip != dp.addr && dp_on_link(sip)) {
		const struct dp_neigh *n = dp_neigh_find(sip);
		bool ours = false;

		if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) &&
		    arp->arp_data.arp_tip == dp.addr)
			ours = dp_neigh_answer(sip, &arp->arp_data.arp_sha, now);
		if (!ours) {
			/* not learned: a request, a gratuitous ARP, or a reply we
			 * did not ask for (counted; a different MAC for a
			 * neighbour we hold is a conflict, maybe a spoofer) */
			if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
			    arp->arp_data.arp_tip == sip)
				dp_count(MB_DP_C_arp_unsolicited, 1);
			if (n != NULL && n->valid &&
			    !rte_is_same_ether_addr(&n->mac, &arp->arp_data.arp_sha))
				dp_count(MB_DP_C_arp_conflict, 1);
		}
	}
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) &&
	    arp->arp_data.arp_tip == dp.addr && sip != dp.addr) {
		dp_arp_send(RTE_ARP_OP_REPLY, sip, &arp->arp_data.arp_sha, &arp->arp_data.arp_sha);
		/* a node that talks to us is verified by asking for it in turn,
		 * so its MAC is known before we first send to it; only into a
		 * free slot (requests from many forged addresses must not evict
		 * the neighbours our sessions use) */
		if (sip != 0 && dp_on_link(sip)) {
			struct dp_neigh *n = dp_neigh_find(sip);

			if (n == NULL)
				n = dp_neigh_slot(sip, false);
			if (n != NULL && !n->valid)
				dp_neigh_ask(n, now);
		}
	}
	/* The kernel learns too (its replies for our address are identical). */
	dp_to_kernel(m);
}

static void
dp_icmp_input(struct rte_mbuf *m, struct rte_ether_hdr *eth, struct rte_ipv4_hdr *ip,
	      uint16_t l4_len)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)ip + rte_ipv4_hdr_len(ip));
	if (l4_len < sizeof(*icmp) || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST ||
	    ip->dst_addr != dp.addr) {
		dp_to_kernel(m);
		return;
	}
	if (rte_raw_cksum(icmp, l4_len) != 0xffff) {
		dp_count(MB_DP_C_drop_ip_cksum, 1);
		rte_pktmbuf_free(m);
		return;
	}
	/* Turn the request around in place. */
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	/* Recompute rather than patch: clearer, and echo payloads are small. */
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, l4_len);
	ip->dst_addr = ip->src_addr;
	ip->src_addr = dp.addr;
	ip->time_to_live = 64;
	mb_dp_ip_cksum(m, ip);
	eth->dst_addr = eth->src_addr;
	eth->src_addr = dp.mac;
	/* Trim Ethernet padding. */
	rte_pktmbuf_trim(m, m->pkt_len -
			       (uint32_t)(sizeof(*eth) + rte_be_to_cpu_16(ip->total_length)));
	if (mb_dp_tx_frame(m) == 0)
		dp_count(MB_DP_C_icmp_echo, 1);
}

static bool
dp_group_served(uint32_t group)
{
	uint32_t i;

	for (i = 0; i < dp.max_sessions; i++) {
		struct mb_dp_sess *s = &dp.sess[i];

		if (atomic_load_explicit(&s->state, memory_order_acquire) == MB_DP_SESS_ACTIVE &&
		    s->method == MB_FRIS_MULTICAST && s->addr == group)
			return true;
	}
	return false;
}

void
mb_dp_igmp_send(uint32_t group, bool leave)
{
	struct rte_mbuf *m = mb_dp_alloc();
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	uint8_t *opt, *igmp;
	uint32_t dst = leave ? rte_cpu_to_be_32(0xe0000002) : group; /* 224.0.0.2 */
	uint32_t hdst = rte_be_to_cpu_32(dst);

	if (m == NULL)
		return;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	opt = (uint8_t *)(ip + 1);
	igmp = opt + 4;
	m->data_len = m->pkt_len = sizeof(*eth) + 24 + 8;
	eth->dst_addr = (struct rte_ether_addr){{0x01, 0x00, 0x5e, (hdst >> 16) & 0x7f,
						 (hdst >> 8) & 0xff, hdst & 0xff}};
	eth->src_addr = dp.mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, 24);
	ip->version_ihl = 0x46; /* 24 bytes: Router Alert option (RFC 2236) */
	ip->total_length = rte_cpu_to_be_16(24 + 8);
	ip->packet_id = rte_cpu_to_be_16(dp.ip_id++);
	ip->time_to_live = 1;
	ip->next_proto_id = IPPROTO_IGMP;
	ip->src_addr = dp.addr;
	ip->dst_addr = dst;
	opt[0] = 0x94;
	opt[1] = 4;
	opt[2] = opt[3] = 0;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip); /* options: always in software */
	igmp[0] = leave ? 0x17 : 0x16;
	igmp[1] = 0;
	igmp[2] = igmp[3] = 0;
	memcpy(igmp + 4, &group, 4);
	{
		uint16_t c = (uint16_t)~rte_raw_cksum(igmp, 8);

		memcpy(igmp + 2, &c, 2);
	}
	if (mb_dp_tx_frame(m) == 0)
		dp_count(leave ? MB_DP_C_igmp_leave_tx : MB_DP_C_igmp_report_tx, 1);
}

static void
dp_igmp_input(struct rte_mbuf *m, struct rte_ipv4_hdr *ip, uint16_t l4_len)
{
	const uint8_t *igmp = (const uint8_t *)ip + rte_ipv4_hdr_len(ip);
	uint32_t group, i;

	if (l4_len >= 8 && igmp[0] == 0x11 && rte_raw_cksum(igmp, l4_len) == 0xffff) {
		dp_count(MB_DP_C_igmp_query, 1);
		memcpy(&group, igmp + 4, 4);
		/* General query (group 0) or group-specific; v3 queries get v2
		 * reports, as a v2 host would answer them.  We answer at once
		 * instead of after a random delay: there is one of us. */
		for (i = 0; i < dp.max_sessions; i++) {
			struct mb_dp_sess *s = &dp.sess[i];

			if (atomic_load_explicit(&s->state, memory_order_acquire) ==
				    MB_DP_SESS_ACTIVE &&
			    s->method == MB_FRIS_MULTICAST && (group == 0 || group == s->addr))
				mb_dp_igmp_send(s->addr, false);
		}
	}
	dp_to_kernel(m);
}

void
mb_dp_mcast_update(void)
{
	struct rte_ether_addr list[64];
	uint32_t i, n = 0;
	int rc;

	for (i = 0; i < dp.max_sessions && n < RTE_DIM(list); i++) {
		struct mb_dp_sess *s = &dp.sess[i];
		uint32_t h;

		if (atomic_load_explicit(&s->state, memory_order_acquire) != MB_DP_SESS_ACTIVE ||
		    s->method != MB_FRIS_MULTICAST)
			continue;
		h = rte_be_to_cpu_32(s->addr);
		list[n++] = (struct rte_ether_addr){{0x01, 0x00, 0x5e, (h >> 16) & 0x7f,
						     (h >> 8) & 0xff, h & 0xff}};
	}
	if (!dp.mc_list_ok)
		return; /* allmulticast is on */
	rc = rte_eth_dev_set_mc_addr_list(dp.port, n ? list : NULL, n);
	if (rc != 0) {
		MB_LOG(WARNING, DP, "multicast filter failed (%s), using allmulticast",
		       strerror(-rc));
		dp.mc_list_ok = false;
		(void)rte_eth_allmulticast_enable(dp.port);
	}
}

/* ---- classification ------------------------------------------------------------- */

static void
dp_drop(struct rte_mbuf *m, enum mb_dp_ctr c)
{
	dp_count(c, 1);
	rte_pktmbuf_free(m);
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
dp_l4_csum_complete(struct rte_ipv4_hdr *ip, uint16_t ihl, uint16_t l4_len)
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
	dp_count(MB_DP_C_rx_csum_partial, 1);
}

static void
dp_ipv4_input(struct rte_mbuf *m, struct rte_ether_hdr *eth, uint64_t now)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint32_t avail = m->data_len - (uint32_t)sizeof(*eth);
	uint16_t ihl, tot, l4_len;
	uint32_t dst;

	if (avail < sizeof(*ip) || (ip->version_ihl >> 4) != 4)
		return dp_drop(m, MB_DP_C_drop_ip_hdr);
	ihl = (uint16_t)((ip->version_ihl & 0xf) * 4);
	tot = rte_be_to_cpu_16(ip->total_length);
	if (ihl < sizeof(*ip) || ihl > avail || tot < ihl || tot > avail)
		return dp_drop(m, MB_DP_C_drop_ip_hdr);
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return dp_drop(m, MB_DP_C_drop_ip_cksum);
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	    rte_raw_cksum(ip, ihl) != 0xffff)
		return dp_drop(m, MB_DP_C_drop_ip_cksum);
	if ((ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG |
						   RTE_IPV4_HDR_OFFSET_MASK)) != 0)
		return dp_drop(m, MB_DP_C_drop_ip_frag);
	l4_len = tot - ihl;
	dst = ip->dst_addr;
	if (dp.port_virtual)
		dp_l4_csum_complete(ip, ihl, l4_len);

	switch (ip->next_proto_id) {
	case IPPROTO_UDP: {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + ihl);
		uint16_t ulen;

		if (l4_len < sizeof(*udp))
			return dp_drop(m, MB_DP_C_drop_udp);
		ulen = rte_be_to_cpu_16(udp->dgram_len);
		if (ulen < sizeof(*udp) || ulen > l4_len)
			return dp_drop(m, MB_DP_C_drop_udp);
		if (mb_dp_fris_input(m, eth, ip->src_addr, dst, rte_be_to_cpu_16(udp->src_port),
				     rte_be_to_cpu_16(udp->dst_port), (const uint8_t *)(udp + 1),
				     ulen - (uint32_t)sizeof(*udp), now)) {
			rte_pktmbuf_free(m);
			return;
		}
		break;
	}
	case IPPROTO_TCP: {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)((uint8_t *)ip + ihl);

		if (dst == dp.addr && l4_len >= sizeof(*tcp) && dp.tcp != NULL &&
		    mb_dp_tcp_wants(dp.tcp, rte_be_to_cpu_16(tcp->dst_port))) {
			dp_count(MB_DP_C_tcp_rx, 1);
			rte_pktmbuf_trim(m, m->pkt_len - (uint32_t)(sizeof(*eth) + tot));
			mb_dp_tcp_rx(dp.tcp, m, mb_time_mono_ns());
			return;
		}
		break;
	}
	case IPPROTO_ICMP:
		if (dst == dp.addr) {
			dp_icmp_input(m, eth, ip, l4_len);
			return;
		}
		break;
	case IPPROTO_IGMP:
		dp_igmp_input(m, ip, l4_len);
		return;
	default:
		break;
	}
	/* Not ours to handle: unicast to us, broadcast, or link-local multicast
	 * go to the kernel; other multicast and other hosts' traffic stop here. */
	if (dst == dp.addr || dst == 0xffffffff || dst == (dp.addr | ~dp.mask) ||
	    (rte_be_to_cpu_32(dst) & 0xffffff00) == 0xe0000000)
		return dp_to_kernel(m);
	if (IN_MULTICAST(rte_be_to_cpu_32(dst)) && dp_group_served(dst))
		return dp_drop(m, MB_DP_C_fris_no_session);
	dp_drop(m, MB_DP_C_drop_not_ours);
}

static void
dp_input(struct rte_mbuf *m, uint64_t now)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint16_t et;

#ifdef MB_FAULT_HOOKS
	if (dp_fault_drop(dp.fault_rx))
		return dp_drop(m, MB_DP_C_drop_fault);
#endif
	if (m->nb_segs != 1)
		return dp_drop(m, MB_DP_C_drop_multiseg);
	if (m->data_len < sizeof(*eth))
		return dp_drop(m, MB_DP_C_drop_l2);
	et = rte_be_to_cpu_16(eth->ether_type);
	if (et == RTE_ETHER_TYPE_IPV4)
		return dp_ipv4_input(m, eth, now);
	if (et == RTE_ETHER_TYPE_ARP)
		return dp_arp_input(m, eth);
	/* IPv6, LLDP, VLANs ...: the kernel's business. */
	dp_to_kernel(m);
}

/* ---- commands and events ------------------------------------------------------ */

static void
dp_wake_control(void)
{
	uint64_t one = 1;

	if (dp.efd >= 0)
		(void)!write(dp.efd, &one, sizeof(one));
}

/* Link events: a full ring loses one (counted), which costs nothing, as
 * the control thread reads the link state itself. */
static void
dp_event_post(enum mb_dp_event_type type, uint32_t id, bool up)
{
	uintptr_t v = (uintptr_t)type << 40 | (uintptr_t)up << 32 | id;

	if (rte_ring_enqueue(dp.ev, (void *)v) != 0)
		dp_count(MB_DP_C_ev_lost, 1);
	dp_wake_control();
}

/* The slot stays ENDED (its group, port and image still taken) until the
 * control thread reaps it in mb_dp_events_poll: no message to lose. */
void
mb_dp_fris_end(struct mb_dp_sess *s)
{
	bool mcast = s->method == MB_FRIS_MULTICAST;

	atomic_store_explicit(&s->state, MB_DP_SESS_ENDED, memory_order_release);
	if (mcast) {
		if (!dp_group_served(s->addr))
			mb_dp_igmp_send(s->addr, true);
		mb_dp_mcast_update();
	}
	dp_count(MB_DP_C_sessions_ended, 1);
	atomic_store_explicit(&dp.sess_dirty, true, memory_order_release);
	dp_wake_control();
}

static unsigned
dp_commands(uint64_t now)
{
	void *objs[16];
	unsigned n, i;

	n = rte_ring_dequeue_burst(dp.cmd, objs, RTE_DIM(objs), NULL);
	for (i = 0; i < n; i++) {
		uintptr_t v = (uintptr_t)objs[i];
		struct mb_dp_sess *s = &dp.sess[v & 0xffffffff];

		switch (v >> 32) {
		case DP_CMD_START:
			mb_dp_fris_activate(s, now);
			dp_count(MB_DP_C_sessions_started, 1);
			break;
		case DP_CMD_STOP:
			if (atomic_load_explicit(&s->state, memory_order_acquire) ==
			    MB_DP_SESS_ACTIVE)
				s->stop_req = true;
			break;
		}
	}
	return n;
}

static void
dp_link_poll(bool force)
{
	struct rte_eth_link link;
	bool up;

	if (rte_eth_link_get_nowait(dp.port, &link) != 0)
		return;
	up = link.link_status == RTE_ETH_LINK_UP;
	if (link.link_speed != RTE_ETH_SPEED_NUM_NONE &&
	    link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN)
		atomic_store(&dp.link_speed_bps, (uint64_t)link.link_speed * 1000000ULL);
	if (up != atomic_load(&dp.link_up) || force) {
		if (!force)
			dp_count(MB_DP_C_link_changes, 1);
		atomic_store(&dp.link_up, up);
		dp_event_post(MB_DP_EV_LINK, 0, up);
		MB_LOG(NOTICE, DP, "port %u link %s", dp.port, up ? "up" : "down");
	}
}

/* The port bucket: frisbee.port-rate, else the link speed.  A software port
 * (af_packet, af_xdp, null, tap...) reports a constant of its driver (10G),
 * not a wire: pacing to it would cap the kernel path below what it carries
 * (1.1 Mpps of BLOCKs), so it is paced only when port-rate is set; its TX
 * ring pushes back instead.  port_rate keeps the nominal rate (stats, the
 * dynamic rate's ceiling), 10 Gbit/s when the port reports none. */
static void
dp_port_rate_apply(uint64_t now)
{
	uint64_t cfg = atomic_load(&dp.port_rate_cfg), rate = cfg, pace;

	if (rate == 0)
		rate = atomic_load(&dp.link_speed_bps);
	if (rate == 0)
		rate = 10000000000ULL;
	pace = cfg == 0 && dp.port_virtual ? 0 : rate;
	if (rate == dp.port_rate && pace == dp.port_tb.rate)
		return;
	if (dp.port_rate == 0)
		(void)mb_tbucket_init(&dp.port_tb, pace, 0, dp.hz, now);
	else
		mb_tbucket_set_rate(&dp.port_tb, pace, 0, now);
	dp.port_rate = rate;
}

/* Port bucket for the engines: take `n` frames of `bits`, how many allowed. */
uint32_t
mb_dp_port_take(uint64_t bits, uint32_t n, uint64_t now)
{
	return mb_tbucket_take_n(&dp.port_tb, bits, n, now);
}

uint64_t
mb_dp_port_wait(uint64_t bits, uint64_t now)
{
	return mb_tbucket_wait(&dp.port_tb, bits, now);
}

uint64_t
mb_dp_cfg_idle_timeout(void)
{
	return atomic_load(&dp.idle_timeout_s);
}

/* ---- the loop ----------------------------------------------------------------------- */

int
mb_dp_lcore_main(void *arg)
{
	int expect = -1;
	unsigned lcore = rte_lcore_id();
	struct rte_mbuf *pkts[256];
	uint16_t burst = RTE_MIN(dp.burst, (uint16_t)RTE_DIM(pkts));

	(void)arg;
	if (!dp.initialised)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&dp.owner, &expect, (int)lcore)) {
		/* One lcore runs the port; the others wait for the stop. */
		while (!atomic_load(&dp.stop))
			usleep(100000);
		return 0;
	}
	rcu_register_thread();
	MB_LOG(INFO, DP, "lcore %u runs port %u", lcore, dp.port);
	dp.next_slow = 0;
	while (!atomic_load_explicit(&dp.stop, memory_order_relaxed)) {
		uint64_t now = rte_rdtsc(), wait = UINT64_MAX;
		unsigned work = 0;
		uint16_t n, i;

		work += dp_commands(now); /* first: a new session sees this burst */
		/* drain up to 8 bursts: a pass that sends a few hundred TCP
		 * segments gets as many ACKs back, and a ring left full drops
		 * them (af_packet: 512 frames) */
		for (unsigned b = 0; b < 8; b++) {
			n = rte_eth_rx_burst(dp.port, 0, pkts, burst);
			for (i = 0; i < n; i++) {
				dp_count(MB_DP_C_rx_pkts, 1);
				dp_count(MB_DP_C_rx_bytes, pkts[i]->pkt_len);
				dp_input(pkts[i], now);
			}
			work += n;
			if (n < burst)
				break;
		}
		work += dp_from_kernel();
		work += mb_dp_fris_tx(now, &wait);
		if (dp.tcp != NULL && mb_dp_tcp_poll(dp.tcp, mb_time_mono_ns()) > 0 &&
		    wait > dp.hz / 50000)
			wait = dp.hz / 50000; /* live connections: nap at most 20 us */
		if (now >= dp.next_slow) {
			dp.next_slow = now + dp.hz / 10;
			dp_link_poll(false);
			dp_port_rate_apply(now);
			dp_pend_expire(now);
			mb_dp_fris_timers(now);
		}
		if (dp.ntx > 0)
			work += dp_tx_flush();
		rcu_quiescent_state();
		if (work == 0 && dp.port_af_xdp) {
			/* net_af_xdp frees sent mbufs only inside tx_burst; with
			 * nothing to send they would stay in the completion ring
			 * and its RX refill (same pool) could starve: an empty
			 * burst reaps them. */
			(void)rte_eth_tx_burst(dp.port, 0, NULL, 0);
		}
		if (work == 0) {
			uint64_t us = dp.idle_sleep_us;

			if (wait != UINT64_MAX && wait * 1000000 / dp.hz < us)
				us = wait * 1000000 / dp.hz;
			if (us > 0) {
				rcu_thread_offline();
				usleep((useconds_t)us);
				rcu_thread_online();
			}
		}
	}
	dp_tx_flush();
	rcu_unregister_thread();
	atomic_store(&dp.owner, -1);
	return 0;
}

void
mb_dp_stop(void)
{
	atomic_store(&dp.stop, true);
}

/* ---- init / fini ----------------------------------------------------------------- */

int
mb_dp_init(const struct mb_config *cfg)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t port = (uint16_t)cfg->port_id, rxd, txd;
	unsigned nmbufs = (unsigned)cfg->mbufs, data_room;
	int rc, socket;

	if (dp.initialised)
		return -EALREADY;
	if (!rte_eth_dev_is_valid_port(port)) {
		MB_LOG(ERR, DP, "dpdk port %u does not exist (%u ports)", port,
		       rte_eth_dev_count_avail());
		return -ENODEV;
	}
	dp.port = port;
	dp.addr = cfg->address;
	dp.mask = cfg->prefixlen == 0 ? 0 : rte_cpu_to_be_32(~0u << (32 - cfg->prefixlen));
	dp.gateway = cfg->gateway;
	dp.mtu = (uint16_t)cfg->mtu;
	dp.burst = (uint16_t)RTE_MAX(cfg->burst, 1u);
	dp.idle_sleep_us = cfg->idle_sleep_us;
	dp.mcast_ttl = (uint8_t)cfg->mcast_ttl;
	dp.fris_rate = cfg->fris_rate;
	dp.port_rate_cfg = cfg->port_rate;
	dp.idle_timeout_s = cfg->fris_idle_timeout;
	dp.dynamic_rate = cfg->dynamic_rate;
	dp.unicast_resend = cfg->unicast_resend;
	dp.max_sessions = (uint32_t)RTE_MAX(cfg->max_sessions, 1u);
	dp.hz = rte_get_tsc_hz();
	dp.ip_id = (uint16_t)rte_rand();
	dp.next_id = 1;
#ifdef MB_FAULT_HOOKS
	/* Test builds: MB_FAULT_DROP_RX / MB_FAULT_DROP_TX = percent of frames
	 * to drop, so system tests can emulate loss without netem. */
	dp.fault_seed = rte_rand() | 1;
	{
		const char *rx = getenv("MB_FAULT_DROP_RX"), *tx = getenv("MB_FAULT_DROP_TX");

		const char *ro = getenv("MB_FAULT_REORDER");

		mb_dp_fault_set(rx ? (unsigned)atoi(rx) : 0, tx ? (unsigned)atoi(tx) : 0);
		dp.fault_reorder = ro ? RTE_MIN((unsigned)atoi(ro), 100u) : 0;
	}
	if (dp.fault_rx || dp.fault_tx || dp.fault_reorder)
		MB_LOG(WARNING, DP,
		       "fault hook: dropping %u%% of RX and %u%% of TX frames, reordering %u%%",
		       dp.fault_rx, dp.fault_tx, dp.fault_reorder);
#endif
	socket = rte_eth_dev_socket_id(port);
	if (socket < 0)
		socket = (int)rte_socket_id();

	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		goto fail;
	rc = rte_eth_macaddr_get(port, &dp.mac);
	if (rc != 0)
		goto fail;
	{
		static const char *const soft[] = { "net_af_packet", "net_af_xdp", "net_null",
			"net_tap", "net_ring", "net_pcap", "net_memif", "net_vhost",
			"net_virtio_user" };
		unsigned k;

		dp.port_virtual = false;
		for (k = 0; k < RTE_DIM(soft); k++)
			if (info.driver_name != NULL && strcmp(info.driver_name, soft[k]) == 0)
				dp.port_virtual = true;
		dp.port_af_xdp = info.driver_name != NULL &&
				 strcmp(info.driver_name, "net_af_xdp") == 0;
	}
	if (dp.port_af_xdp) {
		/* What the PMD holds must not starve our own allocations (nor
		 * its RX refill, which fails silently and stalls the port). */
		nmbufs += DP_AF_XDP_FILL + DP_AF_XDP_COMP + (unsigned)cfg->rx_desc +
			  (unsigned)cfg->tx_desc;
		MB_LOG(INFO, DP, "port %u is net_af_xdp: %u mbufs (dpdk.mbufs + what the "
		       "PMD keeps in its rings)", port, nmbufs);
	}

	/* One mbuf holds a whole frame of the MTU: the TCP glue copies full
	 * segments whenever a payload cannot be attached (copy mode, memory
	 * that is not DMA-safe), and RX needs no scatter for jumbo frames.
	 * A jumbo MTU therefore costs mbufs x (MTU + 14 + headroom) bytes. */
	data_room = RTE_MAX((unsigned)RTE_MBUF_DEFAULT_BUF_SIZE,
			    RTE_PKTMBUF_HEADROOM + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN +
			    (unsigned)cfg->mtu);
	dp.pool = rte_pktmbuf_pool_create("mb_dp_pool", RTE_MAX(nmbufs, 1024u), 256, 0,
					  (uint16_t)data_room, socket);
	if (dp.pool == NULL) {
		rc = -rte_errno;
		MB_LOG(ERR, DP, "cannot allocate %u mbufs of %u bytes for MTU %u: dpdk.mbufs "
		       "or dpdk.mtu is too large for the memory EAL has", RTE_MAX(nmbufs, 1024u),
		       data_room, dp.mtu);
		goto fail;
	}
	if (data_room > RTE_MBUF_DEFAULT_BUF_SIZE)
		MB_LOG(INFO, DP, "MTU %u: %u mbufs of %u bytes (%u MiB)", dp.mtu,
		       RTE_MAX(nmbufs, 1024u), data_room,
		       (unsigned)((uint64_t)RTE_MAX(nmbufs, 1024u) * data_room >> 20));
	dp.tx_multiseg = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
	dp.zc = cfg->tx_zero_copy && dp.tx_multiseg;
	if (cfg->tx_zero_copy && !dp.tx_multiseg)
		MB_LOG(NOTICE, DP, "port %u cannot send multi-segment frames: copying BLOCKs",
		       port);
	if (dp.zc) {
		/* Payload segments carry no data room: they only point into images. */
		dp.zc_pool = rte_pktmbuf_pool_create("mb_dp_zc", RTE_MAX(nmbufs, DP_ZC_POOL_MIN),
						     256, 0, 0, socket);
		if (dp.zc_pool == NULL) {
			rc = -rte_errno;
			goto fail;
		}
	}
	dp.sess = rte_zmalloc("mb_dp_sess", sizeof(*dp.sess) * dp.max_sessions,
			      RTE_CACHE_LINE_SIZE);
	dp.cmd = rte_ring_create("mb_dp_cmd", DP_RING_SIZE, SOCKET_ID_ANY,
				 RING_F_SP_ENQ | RING_F_SC_DEQ);
	/* Link events only; session and FTP transfer ends are state. */
	dp.ev = rte_ring_create("mb_dp_ev", DP_EV_RING_SIZE, SOCKET_ID_ANY,
				RING_F_SP_ENQ | RING_F_SC_DEQ);
	dp.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_store(&dp.sess_dirty, false);
	atomic_store(&dp.xfer_dirty, false);
	dp.xfer_end = NULL;
	dp.npasv = 0;
	if (cfg->tcp_enable) {
		dp.pasv_min = (uint16_t)cfg->ftp_pasv_min;
		dp.npasv = (uint16_t)(cfg->ftp_pasv_max - cfg->ftp_pasv_min + 1);
		dp.xfer_end = rte_zmalloc("mb_dp_xfer_end", sizeof(*dp.xfer_end) * dp.npasv, 0);
	}
	if (dp.sess == NULL || dp.cmd == NULL || dp.ev == NULL || dp.efd < 0 ||
	    (cfg->tcp_enable && dp.xfer_end == NULL)) {
		rc = -ENOMEM;
		goto fail;
	}

	memset(&conf, 0, sizeof(conf));
	dp.tx_ip_cksum = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
	dp.rx_ip_cksum = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
	if (dp.tx_ip_cksum)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
	if (dp.tx_multiseg)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	dp.tx_tcp_cksum = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
	if (dp.tx_ip_cksum && dp.tx_tcp_cksum)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	if (dp.rx_ip_cksum)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc != 0)
		goto fail;
	rxd = (uint16_t)cfg->rx_desc;
	txd = (uint16_t)cfg->tx_desc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	if (rc != 0)
		goto fail;
	rc = rte_eth_rx_queue_setup(port, 0, rxd, (unsigned)socket, NULL, dp.pool);
	if (rc != 0)
		goto fail;
	rc = rte_eth_tx_queue_setup(port, 0, txd, (unsigned)socket, NULL);
	if (rc != 0)
		goto fail;
	if (dp.mtu != 0 && rte_eth_dev_set_mtu(port, dp.mtu) != 0)
		MB_LOG(NOTICE, DP, "port %u: MTU %u not settable, keeping the default", port,
		       dp.mtu);
	rc = rte_eth_dev_start(port);
	if (rc != 0)
		goto fail;
	/* Prefer an exact multicast filter; fall back to allmulticast. */
	dp.mc_list_ok = rte_eth_dev_set_mc_addr_list(port, NULL, 0) == 0;
	if (!dp.mc_list_ok && rte_eth_allmulticast_enable(port) != 0)
		(void)rte_eth_promiscuous_enable(port);

	if (cfg->exception_tap != NULL && cfg->exception_tap[0] != '\0') {
		rc = dp_tap_init(cfg->exception_tap);
		if (rc != 0)
			goto fail;
	}
	if (cfg->tcp_enable) {
		struct mb_dp_tcp_conf tc = {
			.local_addr = dp.addr,
			.local_mac = dp.mac,
			.pool = dp.pool,
			.tx = dp_tcp_tx,
			.tx_cksum_offload = dp.tx_ip_cksum && dp.tx_tcp_cksum,
			.tx_multiseg = dp.zc, /* payload attached from the image cache */
			.xfer_done = dp_tcp_xfer_done,
			.mtu = dp.mtu,
		};

		dp.tcp = mb_dp_tcp_create(&tc, cfg);
		if (dp.tcp == NULL) {
			rc = -(errno ? errno : ENOMEM);
			goto fail;
		}
	}
	dp.initialised = true;
	dp_link_poll(true);
	dp_port_rate_apply(rte_rdtsc());
	MB_LOG(INFO, DP,
	       "port %u (%s) up: mac " RTE_ETHER_ADDR_PRT_FMT ", %u/%u descriptors, "
	       "tx zero-copy %s, ip checksum offload tx %s rx %s, mc filter %s",
	       port, info.driver_name, RTE_ETHER_ADDR_BYTES(&dp.mac), rxd, txd,
	       dp.zc ? "on" : "off", dp.tx_ip_cksum ? "yes" : "no", dp.rx_ip_cksum ? "yes" : "no",
	       dp.mc_list_ok ? "exact" : "allmulticast");
	return 0;
fail:
	MB_LOG(ERR, DP, "dataplane init on port %u failed: %s", port,
	       strerror(rc < 0 ? -rc : rc));
	mb_dp_fini();
	return rc < 0 ? rc : -EIO;
}

static void dp_release_slot(struct mb_dp_sess *s);

void
mb_dp_fini(void)
{
	uint32_t i;

	if (dp.sess != NULL) {
		for (i = 0; i < dp.max_sessions; i++)
			if (atomic_load(&dp.sess[i].state) != MB_DP_SESS_FREE)
				dp_release_slot(&dp.sess[i]);
	}
	mb_dp_tcp_free(dp.tcp);
	dp.tcp = NULL;
	for (i = 0; i < dp.npend; i++)
		rte_pktmbuf_free(dp.pend[i].m);
	dp.npend = 0;
	for (i = 0; i < dp.ntx; i++)
		rte_pktmbuf_free(dp.txq[i]);
	dp.ntx = 0;
	if (dp.initialised || dp.pool != NULL) {
		(void)rte_eth_dev_stop(dp.port);
		if (dp.have_tap) {
			(void)rte_eth_dev_stop(dp.tap_port);
			(void)rte_eth_dev_close(dp.tap_port);
			(void)rte_eal_hotplug_remove("vdev", DP_TAP_NAME);
			dp.have_tap = false;
		}
	}
	rte_ring_free(dp.cmd);
	rte_ring_free(dp.ev);
	dp.cmd = dp.ev = NULL;
	rte_free(dp.sess);
	dp.sess = NULL;
	rte_free(dp.xfer_end);
	dp.xfer_end = NULL;
	dp.npasv = 0;
	/* The pools stay until the port is closed (the driver may hold mbufs). */
	if (dp.initialised)
		(void)rte_eth_dev_close(dp.port);
	rte_mempool_free(dp.zc_pool);
	rte_mempool_free(dp.pool);
	dp.zc_pool = dp.pool = NULL;
	if (dp.efd >= 0)
		close(dp.efd);
	dp.efd = -1;
	dp.initialised = false;
	atomic_store(&dp.stop, false);
}

void
mb_dp_reconfig(const struct mb_config *cfg)
{
	atomic_store(&dp.fris_rate, cfg->fris_rate);
	atomic_store(&dp.port_rate_cfg, cfg->port_rate);
	atomic_store(&dp.idle_timeout_s, cfg->fris_idle_timeout);
	atomic_store(&dp.dynamic_rate, cfg->dynamic_rate);
	atomic_store(&dp.unicast_resend, cfg->unicast_resend);
}

/* ---- zero copy ---------------------------------------------------------------------- */

static void
dp_zc_free_cb(void *addr, void *opaque)
{
	struct mb_dp_zc *zc = opaque;

	(void)addr;
	mb_image_unref(zc->img);
	rte_free(zc);
}

struct mb_dp_zc *
mb_dp_zc_new(struct mb_image *img)
{
	struct mb_dp_zc *zc = rte_zmalloc("mb_dp_zc", sizeof(*zc), 0);

	if (zc == NULL)
		return NULL;
	zc->img = img;
	zc->shinfo.free_cb = dp_zc_free_cb;
	zc->shinfo.fcb_opaque = zc;
	rte_mbuf_ext_refcnt_set(&zc->shinfo, 1);
	return zc;
}

void
mb_dp_zc_put(struct mb_dp_zc *zc)
{
	if (zc != NULL && rte_mbuf_ext_refcnt_update(&zc->shinfo, -1) == 0)
		dp_zc_free_cb(NULL, zc);
}

struct rte_mbuf *
mb_dp_zc_mbuf(struct mb_dp_zc *zc, uint64_t off, uint16_t len, rte_iova_t iova)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp.zc_pool);
	uint8_t *addr = zc->img->data + off;

	if (m == NULL) {
		dp_count(MB_DP_C_no_mbuf, 1);
		return NULL;
	}
	rte_mbuf_ext_refcnt_update(&zc->shinfo, 1);
	rte_pktmbuf_attach_extbuf(m, addr, iova, len, &zc->shinfo);
	m->data_len = len;
	m->pkt_len = len;
	return m;
}

/* ---- control-thread API -------------------------------------------------------------- */

static void
dp_release_slot(struct mb_dp_sess *s)
{
	mb_fris_wq_free(s->wq);
	s->wq = NULL;
	rte_free(s->sent_map);
	s->sent_map = NULL;
	s->map_round = NULL;
	if (s->zc != NULL)
		mb_dp_zc_put(s->zc); /* the session's image reference */
	else if (s->img != NULL)
		mb_image_unref(s->img);
	s->zc = NULL;
	s->img = NULL;
	atomic_store_explicit(&s->state, MB_DP_SESS_FREE, memory_order_release);
}

int
mb_dp_fris_session_start(const struct mb_fris_session_params *p, uint32_t *ret_id)
{
	struct mb_dp_sess *s = NULL;
	uint32_t i, nfree = 0;
	uintptr_t cmd;

	if (!dp.initialised)
		return -ENODEV;
	if (p->img == NULL || p->img->data == NULL || p->img->size == 0 || p->port == 0)
		return -EINVAL;
	for (i = 0; i < dp.max_sessions; i++) {
		struct mb_dp_sess *t = &dp.sess[i];
		int st = atomic_load_explicit(&t->state, memory_order_acquire);

		if (st == MB_DP_SESS_FREE) {
			if (s == NULL)
				s = t;
			nfree++;
		} else if (st != MB_DP_SESS_ENDED && t->addr == p->addr && t->port == p->port) {
			return -EBUSY;
		}
	}
	if (s == NULL)
		return -ENOSPC;

	memset(s->ctr, 0, sizeof(s->ctr));
	memset(s->drop, 0, sizeof(s->drop));
	s->rd_bytes = s->rd_bps = 0;
	s->rd_tsc = rte_rdtsc(); /* the first read measures since the start */
	s->id = dp.next_id++;
	if (dp.next_id == 0)
		dp.next_id = 1;
	s->addr = p->addr;
	s->port = p->port;
	s->method = p->method;
	snprintf(s->name, sizeof(s->name), "%s", p->img->name);
	s->version = p->img->version;
	s->size = p->img->size;
	s->nblocks = (p->img->size + MB_FRIS_BLOCK_SIZE - 1) / MB_FRIS_BLOCK_SIZE;
	s->nchunks = (uint32_t)mb_fris_chunks_for_bytes(p->img->size);
	s->rate_bps = p->rate_bps ? p->rate_bps : atomic_load(&dp.fris_rate);
	s->idle_timeout_s = p->idle_timeout_s ? p->idle_timeout_s : atomic_load(&dp.idle_timeout_s);
	s->dynamic = atomic_load(&dp.dynamic_rate);
	s->stop_req = false;
	s->push_left = p->push_passes;
	/* a unicast session's output bound (dp_fris.c): the image once, the
	 * configured share of it again, and one chunk of final retries (not
	 * for the benchmarks' push mode, which no request drives) */
	s->budget = UINT64_MAX;
	if (p->method == MB_FRIS_UNICAST && p->push_passes == 0)
		s->budget = s->nblocks + s->nblocks * atomic_load(&dp.unicast_resend) / 100 +
			    MB_FRIS_CHUNK_BLOCKS;
	/* nblocks / 8 bytes (1/8192 of the image) plus 4 per chunk */
	s->sent_map = rte_zmalloc("mb_dp_sent", (size_t)s->nchunks * (MB_FRIS_MAP_BYTES + 4),
				  RTE_CACHE_LINE_SIZE);
	if (s->sent_map == NULL)
		return -ENOMEM;
	s->map_round = (uint32_t *)(s->sent_map + (size_t)s->nchunks * MB_FRIS_MAP_BYTES);
	s->wq = mb_fris_wq_create(s->nblocks, 0);
	if (s->wq == NULL) {
		int rc = -errno;

		rte_free(s->sent_map);
		s->sent_map = NULL;
		return rc;
	}
	s->img = p->img;
	s->zc = mb_dp_zc_new(p->img); /* the image reference moves into zc */
	if (s->zc == NULL) {
		mb_fris_wq_free(s->wq);
		s->wq = NULL;
		rte_free(s->sent_map);
		s->sent_map = NULL;
		s->img = NULL;
		return -ENOMEM;
	}
	atomic_store_explicit(&s->state, MB_DP_SESS_RESERVED, memory_order_release);
	cmd = (uintptr_t)DP_CMD_START << 32 | (uintptr_t)(s - dp.sess);
	if (rte_ring_enqueue(dp.cmd, (void *)cmd) != 0) {
		/* The caller keeps its reference: give ours back untouched. */
		rte_free(s->zc);
		s->zc = NULL;
		s->img = NULL;
		mb_fris_wq_free(s->wq);
		s->wq = NULL;
		rte_free(s->sent_map);
		s->sent_map = NULL;
		atomic_store(&s->state, MB_DP_SESS_FREE);
		return -EAGAIN;
	}
	atomic_fetch_add(&p->img->active_users, 1);
	/* Hugepage cache LRU (owner: cache): a session start counts as a use. */
	atomic_store_explicit(&p->img->last_served_ns, mb_time_mono_ns(), memory_order_relaxed);
	*ret_id = s->id;
	(void)nfree;
	return 0;
}

static struct mb_dp_sess *
dp_sess_by_id(uint32_t id)
{
	uint32_t i;

	for (i = 0; i < dp.max_sessions; i++) {
		int st = atomic_load_explicit(&dp.sess[i].state, memory_order_acquire);

		if (st != MB_DP_SESS_FREE && dp.sess[i].id == id)
			return &dp.sess[i];
	}
	return NULL;
}

int
mb_dp_fris_session_stop(uint32_t id)
{
	struct mb_dp_sess *s;
	uintptr_t cmd;

	if (!dp.initialised)
		return -ENODEV;
	s = dp_sess_by_id(id);
	if (s == NULL || atomic_load(&s->state) == MB_DP_SESS_ENDED)
		return -ENOENT;
	cmd = (uintptr_t)DP_CMD_STOP << 32 | (uintptr_t)(s - dp.sess);
	return rte_ring_enqueue(dp.cmd, (void *)cmd) == 0 ? 0 : -EAGAIN;
}

int
mb_dp_event_fd(void)
{
	return dp.efd;
}

/* An ended slot: account its use for the cache, release it.  Control thread. */
static void
dp_reap_slot(struct mb_dp_sess *s)
{
	if (s->img != NULL) {
		/* LRU and bytes for the cache, once per session. */
		atomic_fetch_add_explicit(&s->img->bytes_served,
					  s->ctr[MB_DP_S_blocks] * MB_FRIS_BLOCK_SIZE,
					  memory_order_relaxed);
		atomic_store_explicit(&s->img->last_served_ns, mb_time_mono_ns(),
				      memory_order_relaxed);
		atomic_fetch_sub(&s->img->active_users, 1);
	}
	dp_release_slot(s);
}

/*
 * The events for the control thread, built from state so none can be lost:
 * every session slot the lcore marked ENDED (reaped here: its work queue,
 * image reference and slot are released, and SESSION_END tells the master
 * server to free its group and port), the newest transfer end of each
 * passive port, then link events from the ring.  Each source is looked at
 * only when the lcore flagged it; whatever does not fit in `n` stays flagged
 * and the eventfd is made readable again.
 */
unsigned
mb_dp_events_poll(struct mb_dp_event *ev, unsigned n)
{
	unsigned k = 0;
	uint64_t cnt;
	void *obj;

	if (!dp.initialised)
		return 0;
	(void)!read(dp.efd, &cnt, sizeof(cnt));
	if (k < n && atomic_exchange_explicit(&dp.sess_dirty, false, memory_order_acq_rel)) {
		for (uint32_t i = 0; i < dp.max_sessions; i++) {
			struct mb_dp_sess *s = &dp.sess[i];

			if (atomic_load_explicit(&s->state, memory_order_acquire) !=
			    MB_DP_SESS_ENDED)
				continue;
			if (k == n) {
				atomic_store(&dp.sess_dirty, true); /* the rest next time */
				break;
			}
			ev[k++] = (struct mb_dp_event){ .type = MB_DP_EV_SESSION_END, .id = s->id };
			dp_reap_slot(s);
		}
	}
	if (k < n && atomic_exchange_explicit(&dp.xfer_dirty, false, memory_order_acq_rel)) {
		for (uint16_t p = 0; p < dp.npasv; p++) {
			uint64_t v;

			if (atomic_load_explicit(&dp.xfer_end[p], memory_order_acquire) == 0)
				continue;
			if (k == n) {
				atomic_store(&dp.xfer_dirty, true);
				break;
			}
			v = atomic_exchange_explicit(&dp.xfer_end[p], 0, memory_order_acq_rel);
			if (v & XFER_END_VALID)
				ev[k++] = (struct mb_dp_event){ .type = MB_DP_EV_FTP_XFER_END,
								 .id = (uint32_t)v,
								 .up = (v >> 32) & 1 };
		}
	}
	while (k < n && rte_ring_dequeue(dp.ev, &obj) == 0) {
		uintptr_t v = (uintptr_t)obj;

		ev[k].type = (enum mb_dp_event_type)(v >> 40);
		ev[k].up = (v >> 32) & 1;
		ev[k].id = (uint32_t)v;
		k++;
	}
	if (rte_ring_count(dp.ev) > 0 || atomic_load(&dp.sess_dirty) ||
	    atomic_load(&dp.xfer_dirty)) {
		cnt = 1;
		(void)!write(dp.efd, &cnt, sizeof(cnt));
	}
	return k;
}

bool
mb_dp_link_up(void)
{
	return atomic_load(&dp.link_up);
}

uint64_t
mb_dp_link_speed_bps(void)
{
	return atomic_load(&dp.link_speed_bps);
}

uint32_t
mb_dp_local_addr(void)
{
	return dp.addr;
}

static const char *
dp_method_name(enum mb_fris_method m)
{
	switch (m) {
	case MB_FRIS_UNICAST:
		return "unicast";
	case MB_FRIS_MULTICAST:
		return "multicast";
	case MB_FRIS_BROADCAST:
		return "broadcast";
	}
	return "?";
}

static uint64_t
rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Measured send rate (UDP payload bits/s) of a session between two reads at
 * least 100 ms apart; control thread only. */
static uint64_t
dp_sess_rate(struct mb_dp_sess *s, uint64_t now)
{
	uint64_t bytes = rd(&s->ctr[MB_DP_S_tx_bytes]);

	if (now - s->rd_tsc >= dp.hz / 10 || (s->rd_bytes == 0 && bytes > 0)) {
		if (now > s->rd_tsc)
			s->rd_bps = (uint64_t)((double)(bytes - s->rd_bytes) * 8 * (double)dp.hz /
					       (double)(now - s->rd_tsc));
		s->rd_bytes = bytes;
		s->rd_tsc = now;
	}
	return s->rd_bps;
}

json_t *
mb_dp_sessions_json(void)
{
	json_t *arr = json_array();
	uint32_t i, k;

	if (arr == NULL || !dp.initialised)
		return arr;
	for (i = 0; i < dp.max_sessions; i++) {
		struct mb_dp_sess *s = &dp.sess[i];
		int st = atomic_load_explicit(&s->state, memory_order_acquire);
		char a[INET_ADDRSTRLEN];
		json_t *o, *drops;

		if (st == MB_DP_SESS_FREE)
			continue;
		inet_ntop(AF_INET, &s->addr, a, sizeof(a));
		o = json_pack("{s:I,s:s,s:I,s:I,s:s,s:i,s:s,s:s,s:I,s:I,s:I}", "id",
			      (json_int_t)s->id, "image", s->name, "version",
			      (json_int_t)s->version, "size", (json_int_t)s->size, "addr", a,
			      "port", s->port, "method", dp_method_name(s->method), "state",
			      st == MB_DP_SESS_ACTIVE ? "active" :
			      st == MB_DP_SESS_ENDED ? "ended" : "starting",
			      "rate-bps", (json_int_t)dp_sess_rate(s, rte_rdtsc()),
			      "queue-depth", (json_int_t)atomic_load(&s->wq_depth),
			      "chunks", (json_int_t)s->nchunks);
		if (o == NULL)
			continue;
		for (k = 0; k < MB_DP_S_MAX; k++)
			json_object_set_new(o, dp_sctr_names[k],
					    json_integer((json_int_t)rd(&s->ctr[k])));
		drops = json_object();
		for (k = 1; k < MB_FRIS_RESULT_MAX; k++)
			json_object_set_new(drops, mb_fris_result_name((enum mb_fris_result)k),
					    json_integer((json_int_t)rd(&s->drop[k])));
		json_object_set_new(o, "drops-by-reason", drops);
		json_object_set_new(o, "pacing-bps",
				    json_integer((json_int_t)atomic_load(&s->cur_rate)));
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *
mb_dp_stats_json(void)
{
	json_t *o = json_object(), *c;
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	uint32_t k, active = 0;
	uint64_t rate = 0;

	if (o == NULL || !dp.initialised)
		return o;
	rte_ether_format_addr(mac, sizeof(mac), &dp.mac);
	json_object_set_new(o, "port", json_integer(dp.port));
	json_object_set_new(o, "mac", json_string(mac));
	json_object_set_new(o, "link", json_boolean(atomic_load(&dp.link_up)));
	json_object_set_new(o, "speed-bps",
			    json_integer((json_int_t)atomic_load(&dp.link_speed_bps)));
	json_object_set_new(o, "port-rate-bps", json_integer((json_int_t)rd(&dp.port_rate)));
	json_object_set_new(o, "tx-zero-copy", json_boolean(dp.zc));
	json_object_set_new(o, "mbuf-data-room", json_integer(rte_pktmbuf_data_room_size(dp.pool)));
	json_object_set_new(o, "mtu", json_integer(dp.mtu));
	json_object_set_new(o, "tx-ip-cksum-offload", json_boolean(dp.tx_ip_cksum));
	json_object_set_new(o, "mc-filter", json_string(dp.mc_list_ok ? "exact" : "allmulticast"));
	json_object_set_new(o, "exception-tap", json_boolean(dp.have_tap));
	for (k = 0; k < dp.max_sessions; k++)
		if (atomic_load(&dp.sess[k].state) == MB_DP_SESS_ACTIVE) {
			active++;
			rate += dp_sess_rate(&dp.sess[k], rte_rdtsc());
		}
	json_object_set_new(o, "sessions", json_integer(active));
	json_object_set_new(o, "rate-bps", json_integer((json_int_t)rate));
	c = json_object();
	for (k = 0; k < MB_DP_C_MAX; k++)
		json_object_set_new(c, dp_ctr_names[k], json_integer((json_int_t)rd(&dp.ctr[k])));
	json_object_set_new(o, "counters", c);
	/* The userspace TCP's counters (tcp_*, http_*) under their own key. */
	if (dp.tcp != NULL)
		json_object_set_new(o, "tcp", mb_dp_tcp_stats_json(dp.tcp));
	return o;
}
