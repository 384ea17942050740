/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every reloadable dataplane key really applies after a reload: the real
 * dataplane on a ring port (dp_harness.h), a configuration changed and
 * handed to mb_dp_reconfig() as the control thread does on SIGHUP, and the
 * new behaviour observed on the wire or in the lcore's CPU time:
 *
 *   dpdk.idle-sleep-us       the idle lcore's CPU time (busy poll at 0)
 *   frisbee.mcast-ttl        the TTL of a running session's frames
 *   frisbee.rate             the pace of a session started afterwards
 *   frisbee.port-rate        the pace of a session already running
 *   frisbee.idle-timeout     a session started afterwards ends that soon
 *   frisbee.dynamic-rate     a session started afterwards backs off on re-requests,
 *                            or (no) keeps its rate
 *   frisbee.unicast-resend   the output bound of a unicast session started afterwards
 *   tcp.idle-timeout         an idle connection open before the reload is reset
 *   tcp.initial-window       the first flight of a connection opened afterwards
 *   tcp.congestion-control   a connection opened afterwards runs CUBIC
 *
 * (frisbee.max-sessions is not reloadable: tests/unit/test_config.c.)  Timed checks only bound what a
 * limit makes slow, with margins for a loaded machine.  EAL: --no-huge
 * -m 256 --no-pci --file-prefix=mbt-dpreload-<pid> -l 0-1.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_mbuf.h>

#include <cmocka.h>

#include "dp.h"
#include "dp_harness.h"
#include "fris_wire.h"
#include "mb_time.h"
#include "tcp.h"

#define IMG_SIZE (1536 * 1024 + 100) /* 1537 blocks in 2 chunks */
#define NBLOCKS 1537u
#define FPORT 7100

static struct mb_image *img;
static struct mb_config cfg; /* what the "configuration file" says now */

/* The control thread's reload, and time for the lcore's 100 ms tick. */
static void
reload(void)
{
	mb_dp_reconfig(&cfg);
	dph_sleep_ms(300);
}

static uint64_t
now_ns(void)
{
	return mb_time_mono_ns();
}

/* Ask for a whole chunk of session `port` (a multicast group), and how long
 * its 1024 BLOCKs took to leave (ns, from the first to the last). */
static uint64_t
chunk_time(const char *group, uint16_t port)
{
	uint8_t pl[64], out[128];
	uint64_t first = 0, last = 0, end = now_ns() + 10 * MB_NS_PER_SEC;
	unsigned blocks = 0;
	int len;

	drain();
	len = mb_fris_encode_request(pl, sizeof(pl), ip4(PEER_IP), 0, 0, 1024);
	send_fris_to(ip4(PEER_IP), group, port, &peer_mac, pl, (size_t)len);
	while (blocks < 1024 && now_ns() < end) {
		struct rte_mbuf *m = recv_mbuf_ms(500);
		size_t n;

		if (m == NULL)
			continue;
		n = mbuf_copy(m, out, sizeof(out));
		rte_pktmbuf_free(m);
		if (!is_block_to(out, n, port))
			continue;
		last = now_ns();
		if (blocks++ == 0)
			first = last;
	}
	assert_int_equal(blocks, 1024);
	return last - first;
}

/* ---- dpdk.idle-sleep-us ---------------------------------------------------------- */

/* CPU share (percent) of the lcore over `ms` of idleness. */
static unsigned
lcore_cpu_pct(unsigned ms)
{
	uint64_t c0 = dph_lcore_cpu_ns(), t0 = now_ns(), c1, t1;

	dph_sleep_ms(ms);
	c1 = dph_lcore_cpu_ns();
	t1 = now_ns();
	return (unsigned)((c1 - c0) * 100 / (t1 - t0));
}

static void
test_idle_sleep(void **state)
{
	unsigned busy, idle;
	uint64_t s0, s1, s2, s3;

	(void)state;
	cfg.idle_sleep_us = 0; /* busy poll */
	reload();
	s0 = port_ctr("idle_sleeps");
	busy = lcore_cpu_pct(1000);
	s1 = port_ctr("idle_sleeps");
	cfg.idle_sleep_us = 20000;
	reload();
	s2 = port_ctr("idle_sleeps");
	idle = lcore_cpu_pct(2000);
	s3 = port_ctr("idle_sleeps");
	print_message("idle lcore: %u%% of a CPU and %llu sleeps in 1 s busy-polling, %u%% and "
		      "%llu sleeps in 2 s sleeping 20 ms\n", busy, (unsigned long long)(s1 - s0),
		      idle, (unsigned long long)(s3 - s2));
	/* The lcore's own account (passes that slept), not its CPU share,
	 * which a loaded machine moves: busy polling never sleeps; 20 ms naps
	 * are up to 100 in 2 s, a few even on a loaded machine. */
	assert_int_equal(s1 - s0, 0);
	assert_true(s3 - s2 >= 5);
	assert_true(idle <= 10); /* asleep is asleep, loaded or not */
	cfg.idle_sleep_us = 50;
	reload();
}

/* ---- frisbee.mcast-ttl ------------------------------------------------------------ */

static bool
is_join_reply(const uint8_t *f, size_t n)
{
	return is_fris(f, n) && ntohs(*(const uint16_t *)(f + 34)) == FPORT &&
	       !is_block_to(f, n, FPORT);
}

/* The TTL of the session's reply to a JOIN. */
static unsigned
join_ttl(const char *group)
{
	uint8_t pl[64], out[256];
	int len = mb_fris_encode_join(pl, sizeof(pl), ip4(PEER_IP), 77);

	drain();
	send_fris_to(ip4(PEER_IP), group, FPORT, &peer_mac, pl, (size_t)len);
	assert_true(recv_match(out, sizeof(out), is_join_reply) > 0);
	return out[22];
}

static void
test_mcast_ttl(void **state)
{
	uint32_t id;

	(void)state;
	id = start_session("239.1.3.1", FPORT, MB_FRIS_MULTICAST, img, 0);
	assert_int_equal(join_ttl("239.1.3.1"), 5);
	cfg.mcast_ttl = 9;
	reload();
	assert_int_equal(join_ttl("239.1.3.1"), 9); /* the running session too */
	cfg.mcast_ttl = 5;
	reload();
	stop_session(id);
}

/* ---- frisbee.rate and frisbee.port-rate ------------------------------------------- */

static void
test_fris_rate(void **state)
{
	uint32_t fast, slow;
	uint64_t t;

	(void)state;
	/* adaptive (the default) starts at the cap: frisbee.rate here */
	cfg.fris_rate = 1000000000;
	reload();
	fast = start_session("239.1.3.2", FPORT + 1, MB_FRIS_MULTICAST, img, 0);
	assert_int_equal(sess_info(fast)->pacing_bps, 1000000000ULL);
	cfg.fris_rate = 20000000; /* 1024 BLOCKs of 8912 bits: 0.46 s */
	reload();
	slow = start_session("239.1.3.3", FPORT + 2, MB_FRIS_MULTICAST, img, 0);
	assert_int_equal(sess_info(slow)->pacing_bps, 20000000ULL);
	t = chunk_time("239.1.3.3", FPORT + 2);
	print_message("a chunk at frisbee.rate 20M: %llu ms\n", (unsigned long long)(t / 1000000));
	assert_true(t >= 300 * MB_NS_PER_MS);
	/* a session keeps the rate it started with */
	assert_int_equal(sess_info(fast)->pacing_bps, 1000000000ULL);
	/* without a cap a session starts at the port's rate (nominal 10 Gbit/s
	 * on this ring port, which reports no speed) */
	cfg.fris_rate = 0;
	reload();
	stop_session(fast);
	fast = start_session("239.1.3.2", FPORT + 1, MB_FRIS_MULTICAST, img, 0);
	assert_int_equal(sess_info(fast)->pacing_bps, 10000000000ULL);
	stop_session(fast);
	stop_session(slow);
}

static void
test_port_rate(void **state)
{
	static struct mb_dp_stats st;
	uint32_t id;
	uint64_t t;

	(void)state;
	id = start_session("239.1.3.4", FPORT + 3, MB_FRIS_MULTICAST, img, 0);
	cfg.port_rate = 20000000;
	reload();
	assert_int_equal(mb_dp_stats_read(&st), 0);
	assert_int_equal(st.port_rate_bps, 20000000ULL);
	t = chunk_time("239.1.3.4", FPORT + 3);
	print_message("a chunk at frisbee.port-rate 20M: %llu ms\n",
		      (unsigned long long)(t / 1000000));
	assert_true(t >= 300 * MB_NS_PER_MS);
	cfg.port_rate = 0;
	reload();
	stop_session(id);
}

/* ---- frisbee.idle-timeout ---------------------------------------------------------- */

static void
test_fris_idle_timeout(void **state)
{
	uint64_t t0;
	uint32_t id;

	(void)state;
	cfg.fris_idle_timeout = 1;
	reload();
	t0 = now_ns();
	id = start_session("239.1.3.5", FPORT + 4, MB_FRIS_MULTICAST, img, 0); /* the default */
	assert_true(wait_end(id, 8000)); /* 3600 s before the reload */
	assert_true(now_ns() - t0 >= 900 * MB_NS_PER_MS);
	cfg.fris_idle_timeout = 3600;
	reload();
}

/* ---- frisbee.dynamic-rate ---------------------------------------------------------- */

/* A receiver that asks again, for 1.5 s at most, for all of chunk 0, which
 * the session sent in full before; the session's pacing at the end. */
static uint64_t
asked_again(const char *group, uint16_t port, uint32_t id, uint64_t below)
{
	uint8_t pl[256], map[MB_FRIS_MAP_BYTES];
	uint64_t end, pacing = 0;

	(void)chunk_time(group, port); /* chunk 0 went out whole */
	memset(map, 0xff, sizeof(map));
	end = now_ns() + 3 * MB_NS_PER_SEC / 2;
	while (now_ns() < end) {
		int len = mb_fris_encode_prequest(pl, sizeof(pl), ip4(PEER_IP), 0, 1, map);

		send_fris_to(ip4(PEER_IP), group, port, &peer_mac, pl, (size_t)len);
		usleep(20000);
		drain();
		pacing = sess_info(id)->pacing_bps;
		if (pacing < below)
			break;
	}
	return pacing;
}

/* The adaptive rate, on by default, backs a session off when its receiver
 * keeps asking again for what it was sent; with dynamic-rate = no a
 * session started afterwards keeps its rate whatever the receivers ask. */
static void
test_dynamic_rate(void **state)
{
	uint32_t id;

	(void)state;
	cfg.fris_rate = 100000000;
	reload();
	id = start_session("239.1.3.6", FPORT + 5, MB_FRIS_MULTICAST, img, 0);
	assert_int_equal(sess_info(id)->pacing_bps, 100000000ULL);
	assert_true(asked_again("239.1.3.6", FPORT + 5, id, 100000000ULL) < 100000000ULL);
	assert_true(sess_ctr_of(id, "rate_cuts", NULL) >= 1);
	stop_session(id);
	cfg.dynamic_rate = false;
	reload();
	id = start_session("239.1.3.9", FPORT + 9, MB_FRIS_MULTICAST, img, 0);
	assert_int_equal(asked_again("239.1.3.9", FPORT + 9, id, 100000000ULL), 100000000ULL);
	assert_int_equal(sess_ctr_of(id, "rate_cuts", NULL), 0);
	stop_session(id);
	cfg.dynamic_rate = true;
	cfg.fris_rate = 0;
	reload();
}

/* ---- frisbee.unicast-resend ------------------------------------------------------- */

#define CLIENT_IP "10.9.0.8"
static const struct rte_ether_addr client_mac = {{0x02, 0, 0, 0, 0, 0x08}};

static bool
is_arp_request(const uint8_t *f, size_t n)
{
	return n >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == RTE_ARP_OP_REQUEST;
}

/* Blocks a unicast session sends for repeated requests of every chunk,
 * until it stops sending (its output bound). */
static uint64_t
unicast_total(uint16_t port)
{
	static bool learned;
	uint8_t pl[64], out[128];
	uint32_t id;
	uint64_t blocks;
	int len;

	id = start_session(CLIENT_IP, port, MB_FRIS_UNICAST, img, 0);
	for (int r = 0; r < 8; r++) {
		uint64_t before;

		for (uint32_t c = 0; c < 2; c++) {
			len = mb_fris_encode_request(pl, sizeof(pl), ip4(CLIENT_IP), c, 0, 1024);
			send_fris_to(ip4(CLIENT_IP), OUR_IP, port, &client_mac, pl, (size_t)len);
		}
		if (!learned) {
			/* the session asks who the client is; the client answers */
			assert_true(recv_match(out, sizeof(out), is_arp_request) > 0);
			send_arp(RTE_ARP_OP_REPLY, &client_mac, CLIENT_IP, OUR_IP, &our_mac);
			learned = true;
		}
		do {
			before = sess_ctr_of(id, "blocks", NULL);
			usleep(100000);
			drain();
		} while (sess_ctr_of(id, "blocks", NULL) != before);
	}
	blocks = sess_ctr_of(id, "blocks", NULL);
	stop_session(id);
	return blocks;
}

static void
test_unicast_resend(void **state)
{
	(void)state;
	/* the default (100%): the image twice and a chunk */
	assert_int_equal(unicast_total(FPORT + 6), 2 * NBLOCKS + 1024);
	cfg.unicast_resend = 0;
	reload();
	assert_int_equal(unicast_total(FPORT + 7), NBLOCKS + 1024);
	cfg.unicast_resend = 100;
	reload();
}

/* ---- tcp.idle-timeout and tcp.initial-window -------------------------------------- */

static uint64_t
tcp_stat(size_t off)
{
	static struct mb_dp_stats st;

	assert_int_equal(mb_dp_stats_read(&st), 0);
	return *(const uint64_t *)((const uint8_t *)&st.tcp.core + off);
}

/* The TCP segments the dataplane sent to peer port sport within ms:
 * how many carried data, whether one was a RST, the SYN-ACK's ISS. */
struct flight {
	unsigned data, rst;
	uint32_t iss;
};

static void
collect(uint16_t sport, unsigned ms, struct flight *f)
{
	uint64_t end = now_ns() + ms * MB_NS_PER_MS;
	uint8_t out[2048];

	while (now_ns() < end) {
		struct rte_mbuf *m = recv_mbuf_ms(50);
		struct mb_tcp_seg g;
		size_t n;

		if (m == NULL)
			continue;
		n = mbuf_copy(m, out, sizeof(out));
		rte_pktmbuf_free(m);
		if (n < 54 || out[23] != IPPROTO_TCP ||
		    mb_tcp_parse(out + 34, n - 34, &g) != MB_TCP_PARSE_OK || g.dport != sport)
			continue;
		if ((g.flags & (MB_TCP_SYN | MB_TCP_ACK)) == (MB_TCP_SYN | MB_TCP_ACK))
			f->iss = g.seq;
		f->data += g.plen > 0;
		f->rst += (g.flags & MB_TCP_RST) != 0;
	}
}

/* Open a connection from sport: SYN, SYN-ACK, ACK.  The server's ISS. */
static uint32_t
tcp_open(uint16_t sport)
{
	struct flight f = { 0 };

	tcp_send(sport, MB_TCP_SYN, 1000, 0, 1460, NULL);
	collect(sport, 300, &f);
	assert_true(f.iss != 0);
	tcp_send(sport, MB_TCP_ACK, 1001, f.iss + 1, 0, NULL);
	return f.iss;
}

static void
test_tcp_idle_timeout(void **state)
{
	size_t off = offsetof(struct mb_tcp_counters, conn_idle);
	struct flight f = { 0 };
	uint64_t idle0;

	(void)state;
	drain();
	(void)tcp_open(42000);
	idle0 = tcp_stat(off);
	collect(42000, 1500, &f); /* 300 s: nothing happens */
	assert_int_equal(f.rst, 0);
	cfg.tcp_idle_timeout = 1;
	mb_dp_reconfig(&cfg);
	collect(42000, 3000, &f); /* the open connection is reset */
	assert_int_equal(f.rst, 1);
	assert_int_equal(tcp_stat(off), idle0 + 1);
	cfg.tcp_idle_timeout = 300;
	reload();
}

/* Data segments of a connection's first flight (nothing acknowledged). */
static unsigned
first_flight(uint16_t sport)
{
	const char *req = "GET /images/test/img HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n";
	struct flight f = { 0 };
	uint32_t iss = tcp_open(sport);

	tcp_send(sport, MB_TCP_ACK | MB_TCP_PSH, 1001, iss + 1, 0, req);
	collect(sport, 500, &f);
	tcp_send(sport, MB_TCP_RST, 1001 + (uint32_t)strlen(req), 0, 0, NULL);
	return f.data;
}

static void
test_initial_window(void **state)
{
	unsigned before, after;

	(void)state;
	drain();
	before = first_flight(42100);
	cfg.initial_window = 2;
	reload();
	after = first_flight(42101);
	print_message("first flight: %u segments at iw 10, %u at iw 2\n", before, after);
	assert_true(before >= 8);
	assert_true(after >= 1 && after <= 3);
	cfg.initial_window = 10;
	reload();
}

/* Open a connection from sport and reset it once the dataplane counted it
 * open; returns how many of the opened ones ran CUBIC so far. */
static uint64_t
open_counted(uint16_t sport)
{
	size_t open = offsetof(struct mb_tcp_counters, conn_open);
	uint64_t o0 = tcp_stat(open), end = now_ns() + 3000 * MB_NS_PER_MS;
	uint32_t iss = tcp_open(sport);

	while (tcp_stat(open) == o0 && now_ns() < end)
		dph_sleep_ms(10);
	assert_int_equal(tcp_stat(open), o0 + 1);
	tcp_send(sport, MB_TCP_RST, 1001, iss + 1, 0, NULL);
	return tcp_stat(offsetof(struct mb_tcp_counters, conn_cubic));
}

/* A connection opened after the reload runs CUBIC (counted at the
 * handshake), one opened before it NewReno; and back. */
static void
test_congestion_control(void **state)
{
	uint64_t c0;

	(void)state;
	drain();
	c0 = open_counted(42200);
	free(cfg.tcp_cc);
	cfg.tcp_cc = strdup("cubic");
	assert_non_null(cfg.tcp_cc);
	reload();
	assert_int_equal(open_counted(42201), c0 + 1);
	free(cfg.tcp_cc);
	cfg.tcp_cc = strdup("newreno");
	assert_non_null(cfg.tcp_cc);
	reload();
	assert_int_equal(open_counted(42202), c0 + 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_sleep), /* first: no connection is open yet */
		cmocka_unit_test(test_mcast_ttl),
		cmocka_unit_test(test_fris_rate),
		cmocka_unit_test(test_port_rate),
		cmocka_unit_test(test_fris_idle_timeout),
		cmocka_unit_test(test_dynamic_rate),
		cmocka_unit_test(test_unicast_resend),
		cmocka_unit_test(test_tcp_idle_timeout),
		cmocka_unit_test(test_initial_window),
		cmocka_unit_test(test_congestion_control),
	};
	uint8_t *bytes;
	int rc;

	(void)argc;
	rc = dph_setup("dpreload", argv[0]);
	if (rc != 0)
		return rc;
	bytes = malloc(IMG_SIZE);
	if (bytes == NULL)
		return 1;
	for (unsigned i = 0; i < IMG_SIZE; i++)
		bytes[i] = (uint8_t)(i * 11);
	img = mb_image_new_heap("test/img", bytes, IMG_SIZE);
	free(bytes);
	if (img == NULL)
		return 1;
	dph_config(&cfg);
	cfg.tcp_enable = true;
	cfg.max_connections = 64;
	if (dph_publish(img) != 0 || dph_start(&cfg) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dph_finish();
	mb_image_unref(img);
	mb_config_done(&cfg);
	return rc;
}
