/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP dataplane glue with EAL (--no-huge, no port): a scripted client
 * builds real Ethernet/IPv4/TCP frames in mbufs, feeds them to
 * mb_dp_tcp_rx, and checks every frame the glue transmits (MAC, IPv4 and TCP
 * checksums, parse) while it fetches an image over HTTP and over an FTP
 * passive data connection announced with mb_dp_tcp_expect; frames with bad
 * checksums, fragments and connections to unexpected ports are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cmocka.h>

#include "dp.h"
#include "dp_tcp.h"
#include "tcp_http.h"
#include "mbt_eal.h"

#define IMG_LEN 200000u
#define MS 1000000ULL
#define LOCAL_IP 0x0101a8c0u /* 192.168.1.1, network order on little endian */
#define PEER_IP 0x0201a8c0u

static struct rte_mempool *pool;
static struct mb_image *img;
static struct rte_mbuf *txq[4096];
static unsigned ntx;
static uint64_t now = 1000000ULL * MS;
static uint64_t done_cookie;
static unsigned multiseg_frames;
static int done_ok = -1;
static const struct rte_ether_addr local_mac = { { 2, 0, 0, 0, 0, 1 } };
static const struct rte_ether_addr peer_mac = { { 2, 0, 0, 0, 0, 2 } };

static uint16_t
tx(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	(void)arg;
	for (uint16_t i = 0; i < n; i++)
		txq[ntx++] = pkts[i];
	return n;
}

static void
xfer_done(void *arg, uint64_t cookie, bool ok)
{
	(void)arg;
	done_cookie = cookie;
	done_ok = ok;
}

static struct mb_image *
lookup(const char *name, size_t len)
{
	return len == 3 && memcmp(name, "img", 3) == 0 ? img : NULL;
}

struct peer {
	uint16_t sport, dport;
	uint32_t seq;	     /* next sequence number */
	uint32_t srv_iss;
	uint64_t hi;	     /* contiguous bytes received */
	bool fin;
	uint8_t *stream;
};

/* Build and deliver one frame from the peer. */
static void
send_frame(struct mb_dp_tcp *t, struct peer *p, uint8_t flags, const char *data, bool corrupt)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct mb_tcp_out o = { 0 };
	size_t dl = data ? strlen(data) : 0;
	uint8_t th[MB_TCP_HDR_MAX], *b;
	unsigned thl;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	uint16_t ck;

	assert_non_null(m);
	o.t.lport = p->sport;
	o.t.rport = p->dport;
	o.flags = flags;
	o.seq = p->seq;
	o.ack = (flags & MB_TCP_ACK) ? p->srv_iss + 1 + (uint32_t)p->hi + p->fin : 0;
	o.win = 65535;
	if (flags & MB_TCP_SYN) {
		o.opt_mss = true;
		o.mss = 1460;
	}
	thl = mb_tcp_hdr_build(&o, th);
	b = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(14 + 20 + thl + dl));
	eth = (struct rte_ether_hdr *)b;
	rte_ether_addr_copy(&local_mac, &eth->dst_addr);
	rte_ether_addr_copy(&peer_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + thl + dl));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = PEER_IP;
	ip->dst_addr = LOCAL_IP;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	memcpy(b + 34, th, thl);
	if (dl)
		memcpy(b + 34 + thl, data, dl);
	ck = mb_tcp_cksum(PEER_IP, LOCAL_IP, b + 34, thl + dl);
	b[34 + 16] = (uint8_t)(ck >> 8);
	b[34 + 17] = (uint8_t)(ck & 0xff);
	if (corrupt)
		b[34 + 4] ^= 1;
	p->seq += (uint32_t)dl + !!(flags & (MB_TCP_SYN | MB_TCP_FIN));
	mb_dp_tcp_rx(t, m, now);
}

/* Check and consume every transmitted frame; returns how many there were. */
static unsigned
take_frames(struct mb_dp_tcp *t, struct peer *p, uint8_t *ret_flags)
{
	unsigned n;

	(void)mb_dp_tcp_poll(t, now);
	n = ntx;
	*ret_flags = 0;
	for (unsigned i = 0; i < ntx; i++) {
		struct rte_mbuf *m = txq[i];
		static uint8_t frame[2048];
		uint8_t *b = (uint8_t *)rte_pktmbuf_read(m, 0, m->pkt_len, frame);
		struct rte_ether_hdr *eth = (struct rte_ether_hdr *)b;
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
		uint16_t tl = rte_be_to_cpu_16(ip->total_length);
		struct mb_tcp_seg g;

		assert_non_null(b);
		if (m->nb_segs > 1) {
			/* zero-copy: the second segment is the image itself */
			assert_int_equal(m->nb_segs, 2);
			assert_true(RTE_MBUF_HAS_EXTBUF(m->next));
			multiseg_frames++;
		}
		assert_true(rte_is_same_ether_addr(&eth->dst_addr, &peer_mac));
		assert_true(rte_is_same_ether_addr(&eth->src_addr, &local_mac));
		assert_int_equal(rte_raw_cksum(ip, 20), 0xffff);
		assert_int_equal(ip->src_addr, LOCAL_IP);
		assert_int_equal(ip->dst_addr, PEER_IP);
		assert_int_equal(rte_pktmbuf_pkt_len(m), 14 + tl);
		assert_int_equal(mb_tcp_cksum(ip->src_addr, ip->dst_addr, b + 34, tl - 20u), 0);
		assert_int_equal(mb_tcp_parse(b + 34, tl - 20u, &g), MB_TCP_PARSE_OK);
		assert_int_equal(g.dport, p->sport);
		*ret_flags |= g.flags;
		if (g.flags & MB_TCP_SYN)
			p->srv_iss = g.seq;
		if (g.plen > 0) {
			uint64_t off = g.seq - (p->srv_iss + 1);

			memcpy(p->stream + off, g.payload, g.plen);
			if (off == p->hi)
				p->hi += g.plen;
		}
		if ((g.flags & MB_TCP_FIN) && g.seq - (p->srv_iss + 1) == p->hi)
			p->fin = true;
		rte_pktmbuf_free(m);
	}
	ntx = 0;
	return n;
}

static struct mb_dp_tcp *
make(bool multiseg)
{
	struct mb_dp_tcp_conf c = { 0 };
	struct mb_config cfg;
	struct mb_dp_tcp *t;

	memset(&cfg, 0, sizeof(cfg));
	cfg.http_port = 80;
	cfg.ftp_pasv_min = 50000;
	cfg.ftp_pasv_max = 50009;
	cfg.max_connections = 64;
	cfg.syn_backlog = 16;
	cfg.initial_window = 10;
	cfg.tcp_idle_timeout = 300;
	c.local_addr = LOCAL_IP;
	c.local_mac = local_mac;
	c.pool = pool;
	c.tx = tx;
	c.xfer_done = xfer_done;
	c.tx_multiseg = multiseg;
	t = mb_dp_tcp_create(&c, &cfg);
	assert_non_null(t);
	return t;
}

static void
fetch(struct mb_dp_tcp *t, struct peer *p)
{
	uint8_t fl;

	for (int i = 0; i < 2000; i++) {
		now += MS;
		send_frame(t, p, MB_TCP_ACK, NULL, false);
		if (take_frames(t, p, &fl) == 0)
			return;
	}
	fail();
}

/* Fetch an FTP data transfer to its FIN: exactly `len` bytes of the image from
 * `off`, reported done and good under `cookie`. */
static void
fetch_xfer(struct mb_dp_tcp *t, struct peer *p, uint64_t off, uint32_t len, uint64_t cookie)
{
	fetch(t, p);
	assert_true(p->fin);
	assert_int_equal(p->hi, len);
	assert_memory_equal(p->stream, img->data + off, len);
	assert_int_equal(done_cookie, cookie);
	assert_int_equal(done_ok, 1);
}

static void
http(bool multiseg)
{
	struct mb_dp_tcp *t = make(multiseg);
	struct peer p = { .sport = 40000, .dport = 80, .seq = 555 };
	uint8_t fl;
	const char *hdr_end;

	multiseg_frames = 0;
	p.stream = calloc(1, 1 << 20);
	send_frame(t, &p, MB_TCP_SYN, NULL, false);
	assert_int_equal(take_frames(t, &p, &fl), 1);
	assert_int_equal(fl, MB_TCP_SYN | MB_TCP_ACK);
	send_frame(t, &p, MB_TCP_ACK, NULL, false);
	send_frame(t, &p, MB_TCP_ACK | MB_TCP_PSH,
		   "GET /images/img HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n", false);
	assert_true(take_frames(t, &p, &fl) >= 10);
	fetch(t, &p);
	assert_true(p.fin);
	assert_memory_equal(p.stream, "HTTP/1.1 200 OK\r\n", 17);
	hdr_end = strstr((char *)p.stream, "\r\n\r\n");
	assert_non_null(hdr_end);
	assert_int_equal(p.hi - (uint64_t)(hdr_end + 4 - (char *)p.stream), IMG_LEN);
	assert_memory_equal(hdr_end + 4, img->data, IMG_LEN);
	/* a corrupted frame is dropped, not answered, and counted */
	send_frame(t, &p, MB_TCP_ACK | MB_TCP_FIN, NULL, true);
	assert_int_equal(take_frames(t, &p, &fl), 0);
	{
		json_t *j = mb_dp_tcp_stats_json(t);

		assert_non_null(j);
		assert_int_equal(json_integer_value(json_object_get(j, "tcp_rx_bad_cksum")), 1);
		assert_true(json_integer_value(json_object_get(j, "tcp_conn_open")) >= 1);
		assert_true(json_integer_value(json_object_get(j, "http_resp_200")) >= 1);
		assert_true(json_integer_value(json_object_get(j, multiseg ? "tcp_tx_zerocopy"
									     : "tcp_tx_copied")) > 100);
		json_decref(j);
	}
	free(p.stream);
	mb_dp_tcp_free(t);
	if (multiseg)
		assert_true(multiseg_frames > IMG_LEN / 1460);
	else
		assert_int_equal(multiseg_frames, 0);
	/* every payload mbuf freed: its image reference went with it */
	assert_int_equal(atomic_load(&img->refcnt), 1);
}

static void
test_http(void **st)
{
	(void)st;
	http(false);
}

static void
test_http_zerocopy(void **st)
{
	(void)st;
	http(true);
}

static void
test_ftp_data(void **st)
{
	struct mb_dp_tcp *t = make(false);
	struct peer p = { .sport = 40001, .dport = 50003, .seq = 999 };
	struct peer q = { .sport = 40002, .dport = 50004, .seq = 1 };
	uint8_t fl;

	(void)st;
	p.stream = calloc(1, 1 << 20);
	q.stream = p.stream;
	/* nothing expected on 50004: RST */
	send_frame(t, &q, MB_TCP_SYN, NULL, false);
	assert_int_equal(take_frames(t, &q, &fl), 1);
	assert_true(fl & MB_TCP_RST);
	/* outside the passive range, or a bad image range */
	assert_int_equal(mb_dp_tcp_expect(40000, PEER_IP, img, 0, 1, 1), -EINVAL);
	assert_int_equal(mb_dp_tcp_expect(50003, PEER_IP, img, 10, IMG_LEN, 1), -EINVAL);
	assert_int_equal(mb_dp_tcp_expect(50003, PEER_IP, mb_image_ref(img), 100, 50000, 77), 0);
	(void)mb_dp_tcp_poll(t, now);
	send_frame(t, &p, MB_TCP_SYN, NULL, false);
	assert_int_equal(take_frames(t, &p, &fl), 1);
	assert_int_equal(fl, MB_TCP_SYN | MB_TCP_ACK);
	send_frame(t, &p, MB_TCP_ACK, NULL, false);
	take_frames(t, &p, &fl);
	fetch_xfer(t, &p, 100, 50000, 77);
	/* the expectation is used up: a second connection is refused */
	q.dport = 50003;
	send_frame(t, &q, MB_TCP_SYN, NULL, false);
	take_frames(t, &q, &fl);
	assert_true(fl & MB_TCP_RST);
	/* PASV first (port opened, the client connects at once), RETR later */
	{
		struct peer r = { .sport = 40003, .dport = 50006, .seq = 5 };

		r.stream = calloc(1, 1 << 20);
		assert_int_equal(mb_dp_tcp_expect(50006, PEER_IP, NULL, 0, 0, 90), 0);
		(void)mb_dp_tcp_poll(t, now);
		send_frame(t, &r, MB_TCP_SYN, NULL, false);
		assert_int_equal(take_frames(t, &r, &fl), 1);
		send_frame(t, &r, MB_TCP_ACK, NULL, false);
		assert_int_equal(take_frames(t, &r, &fl), 0); /* waits for RETR */
		assert_int_equal(mb_dp_tcp_expect(50006, PEER_IP, mb_image_ref(img), 7, 3000, 90),
				 0);
		assert_true(take_frames(t, &r, &fl) >= 1);
		fetch_xfer(t, &r, 7, 3000, 90);
		/* and a client that connects then leaves before RETR */
		r.sport++;
		r.seq = 5;
		r.hi = 0;
		r.fin = false;
		assert_int_equal(mb_dp_tcp_expect(50006, PEER_IP, NULL, 0, 0, 91), 0);
		(void)mb_dp_tcp_poll(t, now);
		send_frame(t, &r, MB_TCP_SYN, NULL, false);
		take_frames(t, &r, &fl);
		send_frame(t, &r, MB_TCP_ACK, NULL, false);
		send_frame(t, &r, MB_TCP_RST, NULL, false);
		take_frames(t, &r, &fl);
		assert_int_equal(done_cookie, 91);
		assert_int_equal(done_ok, 0);
		free(r.stream);
	}
	/* an expectation nobody uses expires and is reported as failed */
	assert_int_equal(mb_dp_tcp_expect(50005, PEER_IP, mb_image_ref(img), 0, 10, 78), 0);
	(void)mb_dp_tcp_poll(t, now);
	now += 61000 * MS;
	(void)mb_dp_tcp_poll(t, now);
	assert_int_equal(done_cookie, 78);
	assert_int_equal(done_ok, 0);
	free(p.stream);
	mb_dp_tcp_free(t);
	assert_int_equal(atomic_load(&img->refcnt), 1);
}

static int
setup(void **st)
{
	char *argv[] = { "test_dp_tcp", "--no-huge", "-m", "256", "--no-pci",
			 mbt_eal_prefix_arg("dptcp"), "--no-telemetry", "--log-level=error" };
	uint8_t *bytes = malloc(IMG_LEN);

	(void)st;
	if (rte_eal_init(8, argv) < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("mbt_tcp", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL)
		return -1;
	for (unsigned i = 0; i < IMG_LEN; i++)
		bytes[i] = (uint8_t)(i * 31 + (i >> 10));
	img = mb_image_new_heap("img", bytes, IMG_LEN);
	free(bytes);
	mb_tcp_http_set_lookup(lookup);
	return 0;
}

static int
teardown(void **st)
{
	(void)st;
	mb_image_unref(img);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	mbt_eal_rm_runtime();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_http_zerocopy),
		cmocka_unit_test(test_ftp_data),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
