/* SPDX-License-Identifier: BSD-3-Clause */
/* The dataplane tests' harness (see dp_harness.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_arp.h>
#include <rte_udp.h>

#include <cmocka.h>
#include <urcu-qsbr.h>

#include "dp_harness.h"
#include "fris_wire.h"
#include "mb_time.h"
#include "mbt_eal.h"

struct rte_ring *rx_r, *tx_r;
struct rte_ring *tx_rs[DPH_TX_MAX];
unsigned tx_n;
struct rte_mempool *tpool;
struct rte_ether_addr our_mac;
const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 2}};

static int port_id = -1;
static clockid_t lcore_clock;
static _Atomic bool clock_ready;

int
dph_setup(const char *name, const char *argv0)
{
	return dph_setup_vdev(name, argv0, NULL);
}

int
dph_setup_rings(const char *name, const char *argv0, unsigned ntx, const char *lcores)
{
	char *eal[] = { (char *)argv0, "--no-huge", "-m", "256", "--no-pci",
			mbt_eal_prefix_arg(name), "--lcores", (char *)lcores,
			"--log-level=*:warning", NULL };

	if (ntx == 0 || ntx > DPH_TX_MAX)
		return 1;
	if (rte_eal_init((int)RTE_DIM(eal) - 1, eal) < 0)
		return 77; /* no EAL here (e.g. no /dev/shm): skip */
	rx_r = rte_ring_create("mbt_rx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	for (unsigned q = 0; q < ntx; q++) {
		char rn[32];

		snprintf(rn, sizeof(rn), "mbt_tx%u", q);
		tx_rs[q] = rte_ring_create(rn, 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (tx_rs[q] == NULL)
			return 1;
	}
	tx_n = ntx;
	tx_r = tx_rs[0];
	tpool = rte_pktmbuf_pool_create("mbt_pool", 2048, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	port_id = rte_eth_from_rings("mbt_ring", &rx_r, 1, tx_rs, ntx, 0);
	return rx_r == NULL || tpool == NULL || port_id < 0 ? 1 : 0;
}

int
dph_setup_vdev(const char *name, const char *argv0, const char *vdev)
{
	return dph_setup_vdev_lcores(name, argv0, vdev, "0-1");
}

int
dph_setup_vdev_lcores(const char *name, const char *argv0, const char *vdev, const char *lcores)
{
	char vdev_arg[128];
	char *eal[] = { (char *)argv0, "--no-huge", "-m", "256", "--no-pci",
			mbt_eal_prefix_arg(name), "--lcores", (char *)lcores,
			"--log-level=*:warning", vdev_arg, NULL };
	int n = (int)RTE_DIM(eal) - 1;

	if (vdev != NULL)
		snprintf(vdev_arg, sizeof(vdev_arg), "--vdev=%s", vdev);
	else
		n--;
	if (rte_eal_init(n, eal) < 0)
		return 77; /* no EAL here (e.g. no /dev/shm): skip */
	if (vdev != NULL) {
		port_id = 0; /* the only port */
		return rte_eth_dev_count_avail() == 1 ? 0 : 1;
	}
	rx_r = rte_ring_create("mbt_rx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	tx_r = rte_ring_create("mbt_tx", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	tx_rs[0] = tx_r;
	tx_n = 1;
	tpool = rte_pktmbuf_pool_create("mbt_pool", 2048, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	port_id = rte_eth_from_rings("mbt_ring", &rx_r, 1, &tx_r, 1, 0);
	return rx_r == NULL || tx_r == NULL || tpool == NULL || port_id < 0 ? 1 : 0;
}

void
dph_config(struct mb_config *cfg)
{
	assert_int_equal(mb_config_defaults(cfg), 0);
	cfg->port_id = (uint64_t)port_id;
	mb_parse_ipv4_prefix(OUR_IP "/24", &cfg->address, &cfg->prefixlen);
	cfg->gateway = ip4("10.9.0.254");
	free(cfg->exception_tap);
	cfg->exception_tap = strdup("");
	cfg->fris_idle_timeout = 3600;
	cfg->mbufs = 4096;
}

/* The loop, with its thread's CPU clock published first. */
static int
lcore_run(void *arg)
{
	(void)arg;
	/* the CPU clock of the first worker lcore (the one alone before
	 * dpdk.workers) */
	if (rte_lcore_id() == rte_get_next_lcore(-1, 1, 0) &&
	    pthread_getcpuclockid(pthread_self(), &lcore_clock) == 0)
		atomic_store(&clock_ready, true);
	return mb_dp_lcore_main(NULL);
}

int
dph_start(const struct mb_config *cfg)
{
	if (mb_dp_init(cfg) != 0)
		return 1;
	rte_eth_macaddr_get((uint16_t)port_id, &our_mac);
	if (rte_eal_mp_remote_launch(lcore_run, NULL, SKIP_MAIN) != 0)
		return 1;
	for (int i = 0; i < 1000 && !atomic_load(&clock_ready); i++)
		usleep(1000);
	return 0;
}

static bool published;

/* Publish a table of the one image im (its reference moves in). */
static int
publish_one(struct mb_image *im)
{
	struct mb_image_table *tbl = mb_image_table_alloc(1);

	if (tbl == NULL) {
		mb_image_unref(im);
		return -1;
	}
	tbl->img[0] = im;
	tbl->count = 1;
	/* the test thread is the table's writer, offline but while it writes */
	if (!published)
		rcu_register_thread();
	else
		rcu_thread_online();
	mb_image_table_publish(tbl);
	rcu_thread_offline();
	published = true;
	return 0;
}

int
dph_publish(const struct mb_image *img)
{
	struct mb_image *copy = mb_image_new_heap(img->name, img->sb.data, img->size);

	return copy != NULL ? publish_one(copy) : -1;
}

int
dph_publish_ref(struct mb_image *im)
{
	return publish_one(mb_image_ref(im));
}

void
dph_finish(void)
{
	mb_dp_stop();
	rte_eal_mp_wait_lcore();
	mb_dp_fini();
	if (published) {
		rcu_thread_online();
		mb_image_table_publish(NULL);
		rcu_thread_offline();
		rcu_barrier(); /* the retired table's references go now */
		rcu_unregister_thread();
		published = false;
	}
	rte_eal_cleanup();
	mbt_eal_rm_runtime();
}

void
dph_sleep_ms(unsigned ms)
{
	uint64_t end = mb_time_mono_ns() + ms * MB_NS_PER_MS, now;

	while ((now = mb_time_mono_ns()) < end) {
		struct timespec ts = { .tv_sec = (time_t)((end - now) / MB_NS_PER_SEC),
				       .tv_nsec = (long)((end - now) % MB_NS_PER_SEC) };

		(void)nanosleep(&ts, NULL);
	}
}

uint64_t
dph_lcore_cpu_ns(void)
{
	struct timespec ts;

	assert_true(atomic_load(&clock_ready));
	assert_int_equal(clock_gettime(lcore_clock, &ts), 0);
	return (uint64_t)ts.tv_sec * MB_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint32_t
ip4(const char *s)
{
	uint32_t a;

	inet_pton(AF_INET, s, &a);
	return a;
}

void
inject(const void *buf, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(tpool);

	assert_non_null(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), buf, len);
	assert_int_equal(rte_ring_enqueue(rx_r, m), 0);
}

/* From TX queue q, or any (q = tx_n, round robin). */
static struct rte_mbuf *
recv_from(unsigned q, unsigned ms)
{
	static unsigned next;
	uint64_t end = mb_time_mono_ns() + ms * 1000000ULL;
	void *obj;

	for (;;) {
		for (unsigned k = 0; k < tx_n; k++) {
			unsigned r = q < tx_n ? q : (next + k) % tx_n;

			if (rte_ring_dequeue(tx_rs[r], &obj) == 0) {
				const char *why = NULL;

				if (q >= tx_n)
					next = r; /* keep draining this ring in order */
				if (rte_mbuf_check(obj, 1, &why) != 0)
					fail_msg("transmitted mbuf fails rte_mbuf_check: %s", why);
				return obj;
			}
			if (q < tx_n)
				break;
		}
		if (mb_time_mono_ns() >= end)
			return NULL;
		usleep(500);
	}
}

struct rte_mbuf *
recv_mbuf_ms(unsigned ms)
{
	return recv_from(tx_n, ms);
}

struct rte_mbuf *
recv_mbuf_q_ms(unsigned q, unsigned ms)
{
	return recv_from(q, ms);
}

size_t
mbuf_copy(const struct rte_mbuf *m, uint8_t *out, size_t cap)
{
	size_t n = RTE_MIN((size_t)m->pkt_len, cap);
	const void *p = rte_pktmbuf_read(m, 0, (uint32_t)n, out);

	if (p != out)
		memcpy(out, p, n);
	return n;
}

size_t
recv_frame(uint8_t *out, size_t cap)
{
	struct rte_mbuf *m = recv_mbuf_ms(2000);
	size_t len;

	if (m == NULL)
		return 0;
	len = mbuf_copy(m, out, cap);
	rte_pktmbuf_free(m);
	return len;
}

size_t
recv_match(uint8_t *out, size_t cap, bool (*pred)(const uint8_t *, size_t))
{
	for (int i = 0; i < 64; i++) {
		size_t n = recv_frame(out, cap);

		if (n == 0)
			return 0;
		if (pred(out, n))
			return n;
	}
	return 0;
}

void
drain(void)
{
	void *obj;

	usleep(20000);
	for (unsigned q = 0; q < tx_n; q++)
		while (rte_ring_dequeue(tx_rs[q], &obj) == 0)
			rte_pktmbuf_free(obj);
}

size_t
build_ip(uint8_t *buf, uint8_t proto, uint32_t src, uint32_t dst, const struct rte_ether_addr *dmac,
	 const void *l4, size_t l4len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);

	memset(buf, 0, 34);
	eth->dst_addr = *dmac;
	eth->src_addr = peer_mac;
	eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = 0x45;
	ip->total_length = htons((uint16_t)(20 + l4len));
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->src_addr = src;
	ip->dst_addr = dst;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	memcpy(ip + 1, l4, l4len);
	return 34 + l4len;
}

size_t
build_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
	  const void *pl, size_t plen)
{
	uint8_t l4[1600];
	struct rte_udp_hdr *u = (struct rte_udp_hdr *)l4;
	uint32_t h = ntohl(dst);
	struct rte_ether_addr dmac = our_mac;

	if ((h >> 28) == 14)
		dmac = (struct rte_ether_addr){{1, 0, 0x5e, (h >> 16) & 0x7f, (h >> 8) & 0xff,
						h & 0xff}};
	u->src_port = htons(sport);
	u->dst_port = htons(dport);
	u->dgram_len = htons((uint16_t)(8 + plen));
	u->dgram_cksum = 0;
	memcpy(l4 + 8, pl, plen);
	return build_ip(buf, IPPROTO_UDP, src, dst, &dmac, l4, 8 + plen);
}

bool
is_fris(const uint8_t *f, size_t n)
{
	return n >= 42 + 16 && f[12] == 0x08 && f[13] == 0 && f[23] == IPPROTO_UDP;
}

/* ---- frames from the peer ---------------------------------------------------------- */

static uint8_t frame[10000];

bool
is_block_to(const uint8_t *f, size_t n, uint16_t port)
{
	return is_fris(f, n) && ntohs(*(const uint16_t *)(f + 36)) == port &&
	       mb_fris_get32(f + 42) == MB_FRIS_PKT_REQUEST;
}

void
send_fris_to(uint32_t src, const char *dst, uint16_t port, const struct rte_ether_addr *smac,
	     const void *pl, size_t plen)
{
	size_t n = build_udp(frame, src, ip4(dst), port, port, pl, plen);

	memcpy(frame + 6, smac, 6);
	inject(frame, n);
}

/* A TCP segment from the peer to our HTTP port. */
void
tcp_send(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t mss,
	 const char *data)
{
	struct mb_tcp_out o = { 0 };
	uint8_t th[MB_TCP_HDR_MAX], l4[MB_TCP_HDR_MAX + 512];
	size_t dl = data ? strlen(data) : 0;
	unsigned thl;
	uint16_t ck;

	o.t.lport = sport;
	o.t.rport = 80;
	o.flags = flags;
	o.seq = seq;
	o.ack = ack;
	o.win = 65535;
	o.opt_mss = mss != 0;
	o.mss = mss;
	thl = mb_tcp_hdr_build(&o, th);
	memcpy(l4, th, thl);
	if (dl > 0)
		memcpy(l4 + thl, data, dl);
	ck = mb_tcp_cksum(ip4(PEER_IP), ip4(OUR_IP), l4, thl + dl);
	l4[16] = (uint8_t)(ck >> 8);
	l4[17] = (uint8_t)ck;
	inject(frame, build_ip(frame, IPPROTO_TCP, ip4(PEER_IP), ip4(OUR_IP), &our_mac, l4,
			       thl + dl));
}

size_t
build_arp(uint8_t *f, uint16_t op, const struct rte_ether_addr *sha, const char *sip,
	  const char *tip, const struct rte_ether_addr *edst)
{
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(f + 14);

	memset(f, 0, 60);
	memcpy(f, edst, 6);
	memcpy(f + 6, sha, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	a->arp_hardware = htons(1);
	a->arp_protocol = htons(0x0800);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = htons(op);
	a->arp_data.arp_sha = *sha;
	a->arp_data.arp_sip = ip4(sip);
	if (op == RTE_ARP_OP_REPLY)
		a->arp_data.arp_tha = our_mac;
	a->arp_data.arp_tip = ip4(tip);
	return 60;
}

void
send_arp(uint16_t op, const struct rte_ether_addr *sha, const char *sip, const char *tip,
	 const struct rte_ether_addr *edst)
{
	uint8_t f[60];

	inject(f, build_arp(f, op, sha, sip, tip, edst));
}

/* ---- counters ------------------------------------------------------------------ */

static struct mb_dp_sess_info sinfo[64];

const struct mb_dp_sess_info *
sess_info(uint32_t id)
{
	unsigned n = mb_dp_sessions_read(sinfo, RTE_DIM(sinfo));

	for (unsigned i = 0; i < n; i++)
		if (sinfo[i].id == id)
			return &sinfo[i];
	return NULL;
}

uint64_t
sess_ctr_of(uint32_t id, const char *key, const char *reason)
{
	const struct mb_dp_sess_info *s = sess_info(id);

	if (s == NULL)
		return 0;
	for (unsigned k = 1; reason != NULL && k < MB_FRIS_RESULT_MAX; k++)
		if (strcmp(mb_fris_result_name((enum mb_fris_result)k), reason) == 0)
			return s->drop[k];
	for (unsigned k = 0; reason == NULL && k < MB_DP_S_MAX; k++)
		if (strcmp(mb_dp_sctr_desc[k].name, key) == 0)
			return s->ctr[k];
	fail_msg("no session counter '%s'", reason ? reason : key);
	return 0;
}

uint64_t
port_ctr(const char *key)
{
	static struct mb_dp_stats st;

	assert_int_equal(mb_dp_stats_read(&st), 0);
	for (unsigned k = 0; k < MB_DP_C_MAX; k++)
		if (strcmp(mb_dp_ctr_desc[k].name, key) == 0)
			return st.ctr[k];
	fail_msg("no port counter '%s'", key);
	return 0;
}

uint64_t
wait_ctr(uint64_t (*get)(void), uint64_t want)
{
	uint64_t end = mb_time_mono_ns() + 2 * MB_NS_PER_SEC, v = get();

	while (v < want && mb_time_mono_ns() < end) {
		usleep(1000);
		v = get();
	}
	return v;
}

/* ---- sessions ------------------------------------------------------------------ */

uint32_t
start_session(const char *addr, uint16_t port, enum mb_fris_method method, struct mb_image *im,
	      uint64_t idle_s)
{
	return start_session_linger(addr, port, method, im, idle_s, 0);
}

uint32_t
start_session_linger(const char *addr, uint16_t port, enum mb_fris_method method,
		     struct mb_image *im, uint64_t idle_s, int linger)
{
	struct mb_fris_session_params p = {
		.addr = ip4(addr), .port = port, .method = method, .idle_timeout_s = idle_s,
		.linger = (enum mb_fris_linger)linger,
	};
	uint64_t end = mb_time_mono_ns() + 2 * MB_NS_PER_SEC;
	const struct mb_dp_sess_info *s;
	uint32_t id;

	p.img = mb_image_ref(im);
	assert_int_equal(mb_dp_fris_session_start(&p, &id), 0);
	while ((s = sess_info(id)) == NULL || s->state != MB_DP_SESS_ACTIVE) {
		assert_true(mb_time_mono_ns() < end);
		usleep(1000);
	}
	return id;
}

bool
wait_end(uint32_t id, unsigned ms)
{
	struct pollfd pfd = { .fd = mb_dp_event_fd(), .events = POLLIN };
	uint64_t end = mb_time_mono_ns() + ms * 1000000ULL;
	struct mb_dp_event ev[8];

	while (mb_time_mono_ns() < end) {
		unsigned n;

		(void)poll(&pfd, 1, 50);
		n = mb_dp_events_poll(ev, 8);
		for (unsigned i = 0; i < n; i++)
			if (ev[i].type == MB_DP_EV_SESSION_END && ev[i].u.session.id == id)
				return true;
	}
	return false;
}

void
stop_session(uint32_t id)
{
	assert_int_equal(mb_dp_fris_session_stop(id), 0);
	assert_true(wait_end(id, 5000));
}
