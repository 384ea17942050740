/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The port: probing (driver, offloads, MAC), the mbuf pools (packets, and
 * the zero-copy descriptors when the port chains mbufs), queue setup and
 * start, the multicast filter, link state, the port's pacing bucket, and an
 * lcore's TX backlog on its queue.
 *
 * Pools: one packet mbuf holds a whole frame of the MTU, because every
 * payload that cannot be attached is copied (dp_zc.h) and RX needs no
 * scatter for jumbo frames; a jumbo MTU therefore costs
 * dpdk.mbufs x (MTU + 14 + headroom) bytes.  On net_af_xdp the PMD keeps
 * mbufs of the RX pool in its fill and completion rings (its UMEM), so the
 * pool grows by what it holds, and its objects are laid out the way the PMD
 * registers them (dp_pool_create): a page each at MTU 1500.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_memzone.h>
#include <rte_mempool.h>

#include "dp_priv.h"
#include "dp_xdp.h"
#include "mb_log.h"

#define DP_ZC_POOL_MIN 8192u
/* net_af_xdp (22.11) receives into the RX mempool itself (its UMEM): it
 * keeps 2048 mbufs in the fill ring and up to 2048 sent ones in the
 * completion ring, on top of its RX and TX rings. */
#define DP_AF_XDP_FILL 2048u
#define DP_AF_XDP_COMP 2048u

/* What an exact multicast filter always passes: 224.0.0.1 (all hosts:
 * general queries, which we answer and whose senders the querier's
 * election hears), 224.0.0.2 (all routers: the IGMPv2 Leaves our querier
 * answers with group-specific queries) and 224.0.0.22 (IGMPv3 reports,
 * whose records may leave a group too). */
static struct rte_ether_addr dp_mc_always[] = {
	{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}},
	{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x02}},
	{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x16}},
};

/* A socket for SIOCGIFFLAGS (the function's name: a local called socket
 * shadows socket(2) in port init). */
static int
ioctl_socket(void)
{
	return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

static bool
driver_is_virtual(const char *drv)
{
	static const char *const soft[] = { "net_af_packet", "net_af_xdp", "net_null", "net_tap",
					    "net_ring", "net_pcap", "net_memif", "net_vhost",
					    "net_virtio_user" };

	for (unsigned k = 0; drv != NULL && k < RTE_DIM(soft); k++)
		if (strcmp(drv, soft[k]) == 0)
			return true;
	return false;
}

struct umem_span {
	uintptr_t lo, hi;
	bool ok;
};

static void
umem_obj(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct umem_span *u = arg;
	uintptr_t start = (uintptr_t)obj - mp->header_size;

	(void)idx;
	if (start < u->lo || start + mp->header_size + mp->elt_size + mp->trailer_size > u->hi)
		u->ok = false;
}

bool
dp_pool_umem_ok(struct rte_mempool *mp)
{
	struct rte_mempool_memhdr *mh = STAILQ_FIRST(&mp->mem_list);
	uintptr_t pg = (uintptr_t)getpagesize(), first, base;
	struct umem_span u;

	if (mh == NULL)
		return false;
	/* what net_af_xdp (22.11) registers: from the first chunk's page,
	 * populated_size objects of calc_obj_size bytes, nothing else */
	first = (uintptr_t)mh->addr;
	base = first & ~(pg - 1);
	u.lo = base;
	u.hi = base + (first - base) +
	       (uintptr_t)mp->populated_size * (mp->header_size + mp->elt_size + mp->trailer_size);
	u.ok = true;
	rte_mempool_obj_iter(mp, umem_obj, &u);
	return u.ok;
}

static void
umem_free(struct rte_mempool_memhdr *mh, void *opaque)
{
	(void)mh;
	rte_memzone_free(opaque);
}

/*
 * The pool net_af_xdp registers as its UMEM.  The mempool's own layout does
 * not fit the PMD: it never lets an object straddle a page (4 KiB under
 * --no-huge, so a 2368-byte object took a page of its own) and it starts at
 * any cache line of a page, so the objects ran far past the span the PMD
 * registers (dp_pool_umem_ok).  Here every object is a whole number of
 * pages, back to back from a page boundary: nothing to skip on 4 KiB pages
 * or on hugepages, and the data room grows into what the gap wasted.  No
 * spreading over memory channels either (its padding breaks the multiple).
 * The PMD addresses the objects by virtual address only, never by IOVA, so
 * one chunk at the memzone's IOVA is enough.
 */
struct rte_mempool *
dp_pool_create(const char *name, unsigned n, unsigned data_room, bool umem, int socket)
{
	struct rte_pktmbuf_pool_private priv = { 0 };
	const struct rte_memzone *mz;
	struct rte_mempool_objsz sz;
	struct rte_mempool *mp;
	char mzname[RTE_MEMZONE_NAMESIZE];
	unsigned pg = (unsigned)getpagesize(), hdr, obj;
	int rc;

	if (!umem)
		return rte_pktmbuf_pool_create(name, n, 256, 0, (uint16_t)data_room, socket);
	(void)rte_mempool_calc_obj_size(sizeof(struct rte_mbuf) + data_room,
					RTE_MEMPOOL_F_NO_SPREAD, &sz);
	hdr = sz.header_size + (unsigned)sizeof(struct rte_mbuf);
	obj = RTE_ALIGN_CEIL(sz.total_size, pg);
	if (obj - hdr > UINT16_MAX) {
		rte_errno = EINVAL;
		return NULL;
	}
	priv.mbuf_data_room_size = (uint16_t)(obj - hdr);
	mp = rte_mempool_create_empty(name, n, sizeof(struct rte_mbuf) + priv.mbuf_data_room_size,
				      256, sizeof(priv), socket, RTE_MEMPOOL_F_NO_SPREAD);
	if (mp == NULL)
		return NULL;
	rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (rc != 0)
		goto err;
	rte_pktmbuf_pool_init(mp, &priv);
	snprintf(mzname, sizeof(mzname), "MBU_%s", name);
	mz = rte_memzone_reserve_aligned(mzname, (size_t)n * obj, socket, 0, pg);
	if (mz == NULL) {
		rc = -rte_errno;
		goto err;
	}
	rc = rte_mempool_populate_iova(mp, mz->addr, mz->iova, (size_t)n * obj, umem_free,
				       (void *)(uintptr_t)mz);
	if (rc < 0) {
		rte_memzone_free(mz);
		goto err;
	}
	(void)rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;

err:
	rte_mempool_free(mp);
	rte_errno = -rc;
	return NULL;
}

static int
port_pools(struct mb_dp_port *port, const struct mb_config *cfg, int socket)
{
	unsigned nmbufs = (unsigned)cfg->mbufs, data_room;

	if (port->is_af_xdp) {
		/* What the PMD holds must not starve our own allocations (nor
		 * its RX refill, which fails silently and stalls the port). */
		nmbufs += DP_AF_XDP_FILL + DP_AF_XDP_COMP + (unsigned)cfg->rx_desc +
			  (unsigned)cfg->tx_desc;
		MB_LOG(INFO, DP, "port %u is net_af_xdp: %u mbufs (dpdk.mbufs + what the "
		       "PMD keeps in its rings)", port->id, nmbufs);
	}
	nmbufs = RTE_MAX(nmbufs, 1024u);
	data_room = RTE_MAX((unsigned)RTE_MBUF_DEFAULT_BUF_SIZE,
			    RTE_PKTMBUF_HEADROOM + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN +
			    (unsigned)cfg->mtu);
	port->pool = dp_pool_create("mb_dp_pool", nmbufs, data_room, port->is_af_xdp, socket);
	if (port->pool == NULL) {
		MB_LOG(ERR, DP, "cannot allocate %u mbufs of %u bytes for MTU %u: dpdk.mbufs "
		       "or dpdk.mtu is too large for the memory EAL has", nmbufs, data_room,
		       port->mtu);
		return -rte_errno;
	}
	if (port->is_af_xdp && !dp_pool_umem_ok(port->pool)) {
		MB_LOG(ERR, DP, "port %u: the mbuf pool does not lie in one span of memory, "
		       "and net_af_xdp would drop the frames of the mbufs outside what it "
		       "registers: give EAL more memory (-m) or hugepages", port->id);
		return -ENOMEM;
	}
	if (data_room > RTE_MBUF_DEFAULT_BUF_SIZE)
		MB_LOG(INFO, DP, "MTU %u: %u mbufs of %u bytes (%u MiB)", port->mtu, nmbufs,
		       data_room, (unsigned)((uint64_t)nmbufs * data_room >> 20));
	if (cfg->tx_zero_copy && !port->tx_multiseg)
		MB_LOG(NOTICE, DP, "port %u cannot send multi-segment frames: copying payloads",
		       port->id);
	if (cfg->tx_zero_copy && port->tx_multiseg) {
		/* Payload segments carry no data room: they only point into
		 * send buffers. */
		port->zc.pool = mb_dp_zc_pool_create("mb_dp_zc", RTE_MAX(nmbufs, DP_ZC_POOL_MIN),
						     socket);
		if (port->zc.pool == NULL)
			return -rte_errno;
	}
	return 0;
}

/* Queues for dpdk.workers: a TX queue per worker (refused when the port
 * has fewer), an RX queue per worker when the port has that many, with
 * RSS over the IPv4 addresses and ports where it offers it (a software
 * port may spread flows itself: net_af_packet's fanout, net_tap's
 * multi-queue TUN), else one RX queue that worker 0 polls and dispatches
 * from.  Whatever queue a frame comes on, its owner gets it (dp_lcore.c). */
static int
port_queues(struct mb_dp_port *port, const struct mb_config *cfg,
	    const struct rte_eth_dev_info *info, struct rte_eth_conf *conf)
{
	uint16_t n = (uint16_t)RTE_MAX(cfg->workers, 1u);
	uint64_t hf = info->flow_type_rss_offloads &
		      (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
		       RTE_ETH_RSS_NONFRAG_IPV4_UDP);

	if (info->max_tx_queues < n) {
		MB_LOG(ERR, DP, "port %u (%s) has %u TX queues: dpdk.workers = %u needs one each",
		       port->id, info->driver_name, info->max_tx_queues, n);
		return -EINVAL;
	}
	port->ntxq = n;
	port->nrxq = 1;
	port->tb_shared = n > 1;
	rte_spinlock_init(&port->tb_lock);
	if (n > 1 && info->max_rx_queues >= n)
		port->nrxq = n;
	if (port->nrxq > 1 && (hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP) != 0) {
		port->rss = true;
		port->rss_hf = hf;
		conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf->rx_adv_conf.rss_conf.rss_hf = hf;
		conf->rx_adv_conf.rss_conf.rss_key = NULL; /* the driver's */
	}
	if (n > 1)
		MB_LOG(INFO, DP, "port %u: %u workers, %u TX queues, %s", port->id, n, n,
		       port->rss ? "an RX queue each (RSS)" :
		       port->nrxq > 1 ? "an RX queue each (no RSS: the port spreads or not)" :
					"one RX queue (worker 0 hands frames to their owner)");
	return 0;
}

int
dp_port_init(struct mb_dp_port *port, const struct mb_config *cfg)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t id = (uint16_t)cfg->port_id, rxd, txd;
	int rc, socket;

	memset(port, 0, sizeof(*port));
	port->id = id;
	if (!rte_eth_dev_is_valid_port(id)) {
		MB_LOG(ERR, DP, "dpdk port %u does not exist (%u ports)", id,
		       rte_eth_dev_count_avail());
		return -ENODEV;
	}
	port->addr = cfg->address;
	port->mask = cfg->prefixlen == 0 ? 0 : rte_cpu_to_be_32(~0u << (32 - cfg->prefixlen));
	port->gateway = cfg->gateway;
	port->mtu = (uint16_t)cfg->mtu;
	port->burst = (uint16_t)RTE_MAX(cfg->burst, 1u);
	socket = rte_eth_dev_socket_id(id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	rc = rte_eth_dev_info_get(id, &info);
	if (rc == 0)
		rc = rte_eth_macaddr_get(id, &port->mac);
	if (rc != 0)
		return rc;
	port->driver = info.driver_name;
	port->is_virtual = driver_is_virtual(info.driver_name);
	port->is_af_xdp = info.driver_name != NULL && strcmp(info.driver_name, "net_af_xdp") == 0;
	if (port->is_af_xdp) {
		/* before the queues exist: the PMD attaches its program then */
		rc = dp_xdp_check(id);
		if (rc != 0)
			return rc; /* logged */
	}
	port->tx_multiseg = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
	if (info.driver_name != NULL && (strcmp(info.driver_name, "net_af_packet") == 0 ||
					 port->is_af_xdp) &&
	    info.if_index != 0 && if_indextoname(info.if_index, port->kif_name) != NULL) {
		port->kif_fd = ioctl_socket();
		port->kif = port->kif_fd >= 0;
	}
	rc = port_pools(port, cfg, socket);
	if (rc != 0)
		return rc;

	memset(&conf, 0, sizeof(conf));
	port->tx_ip_cksum = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
	port->rx_ip_cksum = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
	port->tx_tcp_cksum = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
	if (port->tx_ip_cksum)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
	if (port->tx_multiseg)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	if (port->tx_ip_cksum && port->tx_tcp_cksum)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	if (port->rx_ip_cksum)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	/* TSO: the headers' mbuf chained to the payload's pieces, both
	 * checksums left to the port (dp_tcp.h) */
	if (cfg->tso && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO) &&
	    port->tx_ip_cksum && port->tx_tcp_cksum && port->tx_multiseg) {
		/* every segment the port cuts holds at most 1 + 2 pieces of a
		 * page or of a copy mbuf, plus the headers */
		port->tso_segs = (uint16_t)RTE_MIN(info.tx_desc_lim.nb_seg_max, 64u);
		if (port->tso_segs >= 8 && info.tx_desc_lim.nb_mtu_seg_max >= 4) {
			port->tx_tso = true;
			conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_TSO;
		}
		/* net_tap (22.11) segments in software and refuses a frame
		 * whose tso_segsz plus all its headers, the Ethernet one
		 * included, exceeds the MTU: such a frame would stay at the
		 * head of the TX queue for ever.  Its segments are cut 14
		 * bytes short of the MSS instead. */
		port->tso_l2_in_mtu = strcmp(info.driver_name, "net_tap") == 0;
	}
	rc = port_queues(port, cfg, &info, &conf);
	if (rc != 0)
		return rc;
	rc = rte_eth_dev_configure(id, port->nrxq, port->ntxq, &conf);
	if (rc != 0)
		return rc;
	rxd = (uint16_t)cfg->rx_desc;
	txd = (uint16_t)cfg->tx_desc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd);
	for (uint16_t q = 0; rc == 0 && q < port->nrxq; q++)
		rc = rte_eth_rx_queue_setup(id, q, rxd, (unsigned)socket, NULL, port->pool);
	for (uint16_t q = 0; rc == 0 && q < port->ntxq; q++)
		rc = rte_eth_tx_queue_setup(id, q, txd, (unsigned)socket, NULL);
	if (rc != 0)
		return rc;
	if (port->mtu != 0 && rte_eth_dev_set_mtu(id, port->mtu) != 0)
		MB_LOG(NOTICE, DP, "port %u: MTU %u not settable, keeping the default", id,
		       port->mtu);
	rc = rte_eth_dev_start(id);
	if (rc != 0)
		return rc;
	port->started = true;
	if (port->is_af_xdp)
		dp_xdp_record(id);
	/* Prefer an exact multicast filter; fall back to allmulticast. */
	port->mc_list_ok = rte_eth_dev_set_mc_addr_list(id, dp_mc_always,
							RTE_DIM(dp_mc_always)) == 0;
	if (!port->mc_list_ok && rte_eth_allmulticast_enable(id) != 0)
		(void)rte_eth_promiscuous_enable(id);
	MB_LOG(INFO, DP,
	       "port %u (%s) up: mac " RTE_ETHER_ADDR_PRT_FMT ", %u/%u descriptors, "
	       "tx zero-copy %s, ip checksum offload tx %s rx %s, tcp tso %s, mc filter %s",
	       id, info.driver_name, RTE_ETHER_ADDR_BYTES(&port->mac), rxd, txd,
	       port->zc.pool != NULL ? "on" : "off", port->tx_ip_cksum ? "yes" : "no",
	       port->rx_ip_cksum ? "yes" : "no", port->tx_tso ? "yes" : "no",
	       port->mc_list_ok ? "exact" : "allmulticast");
	return 0;
}

void
dp_port_fini(struct mb_dp_port *port)
{
	if (port->started) {
		(void)rte_eth_dev_stop(port->id);
		/* The pools stay until the port is closed (the driver may hold
		 * mbufs). */
		(void)rte_eth_dev_close(port->id);
		port->started = false;
	}
	if (port->kif)
		(void)close(port->kif_fd);
	port->kif = false;
	rte_mempool_free(port->zc.pool);
	rte_mempool_free(port->pool);
	port->zc.pool = NULL;
	port->pool = NULL;
}

void
dp_port_link_poll(struct mb_dp_lcore *lc, bool force)
{
	struct mb_dp_port *port = lc->port;
	struct rte_eth_link link;
	bool up;

	if (rte_eth_link_get_nowait(port->id, &link) != 0)
		return;
	up = link.link_status == RTE_ETH_LINK_UP;
	if (up && port->kif) {
		/* the PMD's link is a constant: the interface's carrier is not */
		struct ifreq ifr;

		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, port->kif_name, sizeof(port->kif_name));
		if (ioctl(port->kif_fd, SIOCGIFFLAGS, &ifr) == 0)
			up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
	}
	if (link.link_speed != RTE_ETH_SPEED_NUM_NONE &&
	    link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN)
		atomic_store(&port->link_speed_bps, (uint64_t)link.link_speed * 1000000ULL);
	if (up != atomic_load(&port->link_up) || force) {
		if (!force)
			dp_count(lc, MB_DP_C_link_changes, 1);
		atomic_store(&port->link_up, up);
		dp_chan_post_link(lc);
		MB_LOG(NOTICE, DP, "port %u link %s", port->id, up ? "up" : "down");
	}
}

/* The port bucket: frisbee.port-rate, else the link speed.  A software port
 * (af_packet, af_xdp, null, tap...) reports a constant of its driver (10G),
 * not a wire: pacing to it would cap the kernel path below what it carries
 * (1.1 Mpps of BLOCKs), so it is paced only when port-rate is set; its TX
 * ring pushes back instead.  port->rate keeps the nominal rate (stats, the
 * dynamic rate's ceiling), 10 Gbit/s when the port reports none. */
void
dp_port_rate_apply(struct mb_dp_lcore *lc, uint64_t now)
{
	struct mb_dp_port *port = lc->port;
	uint64_t cfg = atomic_load(&lc->dp->tun.port_rate), rate = cfg, pace, cur;

	if (rate == 0)
		rate = atomic_load(&port->link_speed_bps);
	if (rate == 0)
		rate = 10000000000ULL;
	pace = cfg == 0 && port->is_virtual ? 0 : rate;
	cur = atomic_load_explicit(&port->rate, memory_order_relaxed);
	if (rate == cur && pace == port->tb.rate)
		return;
	if (port->tb_shared)
		rte_spinlock_lock(&port->tb_lock);
	if (cur == 0)
		(void)mb_tbucket_init(&port->tb, pace, 0, lc->hz, now);
	else
		mb_tbucket_set_rate(&port->tb, pace, 0, now);
	if (port->tb_shared)
		rte_spinlock_unlock(&port->tb_lock);
	atomic_store_explicit(&port->rate, rate, memory_order_relaxed);
}

uint32_t
dp_port_take(struct mb_dp_port *port, uint64_t bits, uint32_t n, uint64_t now)
{
	uint32_t k;

	if (!port->tb_shared)
		return mb_tbucket_take_n(&port->tb, bits, n, now);
	if (__atomic_load_n(&port->tb.rate, __ATOMIC_RELAXED) == 0)
		return n; /* unpaced: no need to serialise the workers */
	rte_spinlock_lock(&port->tb_lock);
	k = mb_tbucket_take_n(&port->tb, bits, n, now);
	rte_spinlock_unlock(&port->tb_lock);
	return k;
}

uint64_t
dp_port_wait(struct mb_dp_port *port, uint64_t bits, uint64_t now)
{
	uint64_t w;

	if (!port->tb_shared)
		return mb_tbucket_wait(&port->tb, bits, now);
	rte_spinlock_lock(&port->tb_lock);
	w = mb_tbucket_wait(&port->tb, bits, now);
	rte_spinlock_unlock(&port->tb_lock);
	return w;
}

void
dp_port_mc_update(struct mb_dp *dp)
{
	struct mb_dp_port *port = &dp->port;
	struct rte_ether_addr list[64];
	uint32_t i, n = 0;
	int rc;

	if (!port->mc_list_ok)
		return; /* allmulticast is on */
	for (i = 0; i < RTE_DIM(dp_mc_always); i++)
		list[n++] = dp_mc_always[i];
	for (i = 0; i < dp->fris.max && n < RTE_DIM(list); i++) {
		struct mb_dp_sess *s = &dp->fris.sess[i];
		uint32_t h;

		if (atomic_load_explicit(&s->state, memory_order_acquire) != MB_DP_SESS_ACTIVE ||
		    s->method != MB_FRIS_MULTICAST)
			continue;
		h = rte_be_to_cpu_32(s->addr);
		list[n++] = (struct rte_ether_addr){{0x01, 0x00, 0x5e, (h >> 16) & 0x7f,
						     (h >> 8) & 0xff, h & 0xff}};
	}
	for (i = 0; i < MB_DP_KGROUPS_MAX && n < RTE_DIM(list); i++) {
		uint32_t h = rte_be_to_cpu_32(atomic_load(&dp->kgroup[i]));

		if (h != 0)
			list[n++] = (struct rte_ether_addr){{0x01, 0x00, 0x5e, (h >> 16) & 0x7f,
							     (h >> 8) & 0xff, h & 0xff}};
	}
	rc = rte_eth_dev_set_mc_addr_list(port->id, list, n);
	if (rc != 0) {
		MB_LOG(WARNING, DP, "multicast filter failed (%s), using allmulticast",
		       strerror(-rc));
		port->mc_list_ok = false;
		(void)rte_eth_allmulticast_enable(port->id);
	}
}

struct rte_mbuf *
dp_alloc(struct mb_dp_lcore *lc)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(lc->port->pool);

	if (m == NULL)
		dp_count(lc, MB_DP_C_no_mbuf, 1);
	return m;
}

int
dp_alloc_bulk(struct mb_dp_lcore *lc, struct rte_mbuf **m, unsigned n)
{
	if (rte_pktmbuf_alloc_bulk(lc->port->pool, m, n) != 0) {
		dp_count(lc, MB_DP_C_no_mbuf, n);
		return -ENOMEM;
	}
	return 0;
}

unsigned
dp_tx_room(const struct mb_dp_lcore *lc)
{
	return DP_TXQ_MAX - lc->ntx;
}

int
dp_tx_frame(struct mb_dp_lcore *lc, struct rte_mbuf *m)
{
#ifdef MB_FAULT_HOOKS
	if (dp_fault_drop(lc, lc->fault_tx)) {
		dp_count(lc, MB_DP_C_drop_fault, 1);
		rte_pktmbuf_free(m);
		return 0;
	}
#endif
	if (lc->ntx == DP_TXQ_MAX) {
		dp_count(lc, MB_DP_C_tx_drop, 1);
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	lc->txq[lc->ntx++] = m;
	return 0;
}

unsigned
dp_tx_flush(struct mb_dp_lcore *lc)
{
	uint16_t sent = 0, n;
	uint64_t bytes = 0;
	unsigned i;

#ifdef MB_FAULT_HOOKS
	/* Reordering: swap neighbours in the backlog. */
	for (i = 0; i + 1 < lc->ntx; i++) {
		if (dp_fault_drop(lc, lc->fault_reorder)) {
			struct rte_mbuf *t = lc->txq[i];

			lc->txq[i] = lc->txq[i + 1];
			lc->txq[i + 1] = t;
			dp_count(lc, MB_DP_C_fault_reordered, 2);
			i++;
		}
	}
#endif
	while (sent < lc->ntx) {
		/* mbufs the driver takes are its own; the rest stay ours */
		n = rte_eth_tx_burst(lc->port->id, lc->queue, lc->txq + sent,
				     (uint16_t)RTE_MIN(lc->ntx - sent, 512u));
		if (n == 0)
			break;
		for (i = sent; i < (unsigned)sent + n; i++)
			bytes += lc->txq[i]->pkt_len;
		sent += n;
	}
	if (sent < lc->ntx) {
		dp_count(lc, MB_DP_C_tx_full, lc->ntx - sent);
		memmove(lc->txq, lc->txq + sent, (lc->ntx - sent) * sizeof(lc->txq[0]));
	}
	lc->ntx -= sent;
	dp_count(lc, MB_DP_C_tx_pkts, sent);
	dp_count(lc, MB_DP_C_tx_bytes, bytes);
	return sent;
}

void
dp_ip_cksum(const struct mb_dp_port *port, struct rte_mbuf *m, struct rte_ipv4_hdr *ip)
{
	ip->hdr_checksum = 0;
	if (port->tx_ip_cksum) {
		m->l2_len = sizeof(struct rte_ether_hdr);
		m->l3_len = rte_ipv4_hdr_len(ip);
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	} else {
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
}
