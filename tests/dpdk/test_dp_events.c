/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Events that free resources are not lossy: the real dataplane on a ring
 * port (its lcore on a worker), the control thread's side played by the
 * test.  While the test does not read events (as when the control thread is
 * busy with a long batch, e.g. pipelined PASV commands from several FTP
 * clients), hundreds of FTP transfer ends pile up (passive ports reused by
 * new expectations end the old ones), far more than the event ring holds,
 * and then every Frisbee session ends.  When the events are read at last:
 * every session's SESSION_END arrives and its slot is free again (all of
 * them can be started anew), and for each passive port the newest ended
 * transfer is reported (the one the FTP control side waits for).
 *
 * EAL: --no-huge -m 256 --no-pci --file-prefix=mbt-dpev-<pid> -l 0-1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cmocka.h>

#include "dp.h"
#include "mb_config.h"
#include "mb_image.h"
#include "mb_time.h"
#include "mbt_eal.h"

#define NSESS 8
#define PASV_MIN 50000
#define NPORTS 4
#define NEXPECT 600 /* transfer ends: several times the event ring */
#define COOKIE_HI 0x5eedULL /* high half of every cookie: none is cut to 32 bits */

static struct rte_ring *rx_r, *tx_r;
static struct mb_image *img;

static uint64_t
port_ctr(enum mb_dp_ctr c)
{
	static struct mb_dp_stats st;

	assert_int_equal(mb_dp_stats_read(&st), 0);
	return st.ctr[c];
}

static void
drain_tx(void)
{
	void *obj;

	while (rte_ring_dequeue(tx_r, &obj) == 0)
		rte_pktmbuf_free(obj);
}

static void
start_all(uint32_t *ids)
{
	for (int i = 0; i < NSESS; i++) {
		struct mb_fris_session_params p = {
			.addr = htonl(0x0a090064u + (uint32_t)i), /* 10.9.0.100 + i */
			.port = (uint16_t)(7000 + i),
			.method = MB_FRIS_UNICAST,
		};

		p.img = mb_image_ref(img);
		assert_int_equal(mb_dp_fris_session_start(&p, &ids[i]), 0);
	}
}

static void
test_no_lost_ends(void **state)
{
	uint32_t ids[NSESS], again[NSESS];
	uint64_t newest[NPORTS] = { 0 }, started = port_ctr(MB_DP_C_sessions_started), end;
	bool ended[NSESS] = { false }, port_seen[NPORTS] = { false };
	struct mb_dp_event ev[32];
	unsigned nended = 0, n;
	int i;

	(void)state;
	start_all(ids);
	end = mb_time_mono_ns() + 5 * MB_NS_PER_SEC;
	while (port_ctr(MB_DP_C_sessions_started) < started + NSESS && mb_time_mono_ns() < end)
		usleep(1000);
	assert_int_equal(port_ctr(MB_DP_C_sessions_started), started + NSESS);

	/* The control thread is "busy": no events are read from here on.  Each
	 * new expectation on a passive port ends the one before it. */
	for (i = 1; i <= NEXPECT; i++) {
		uint16_t port = (uint16_t)(PASV_MIN + i % NPORTS);
		int rc;

		while ((rc = mb_dp_tcp_expect(port, htonl(0x0a090002u), NULL, 0, 0,
					      COOKIE_HI << 32 | (uint64_t)i)) == -EAGAIN)
			usleep(100);
		assert_int_equal(rc, 0);
		if (i + NPORTS <= NEXPECT)
			newest[i % NPORTS] = (uint64_t)i; /* ended by a later one */
		drain_tx();
	}
	usleep(200000); /* the lcore works through its expectation ring */
	for (i = 0; i < NSESS; i++)
		assert_int_equal(mb_dp_fris_session_stop(ids[i]), 0);
	end = mb_time_mono_ns() + 5 * MB_NS_PER_SEC;
	while (port_ctr(MB_DP_C_sessions_ended) < started + NSESS && mb_time_mono_ns() < end) {
		drain_tx();
		usleep(1000);
	}
	assert_int_equal(port_ctr(MB_DP_C_sessions_ended), started + NSESS);
	print_message("events the ring could not take while nobody read (kept): %llu\n",
		      (unsigned long long)port_ctr(MB_DP_C_ev_deferred));
	assert_true(port_ctr(MB_DP_C_ev_deferred) > 0); /* the ring did run full */

	/* The control thread reads at last. */
	for (int pass = 0; pass < 100; pass++) {
		while ((n = mb_dp_events_poll(ev, 32)) > 0) {
			for (unsigned k = 0; k < n; k++) {
				if (ev[k].type == MB_DP_EV_SESSION_END) {
					for (i = 0; i < NSESS; i++) {
						if (ev[k].u.session.id == ids[i] && !ended[i]) {
							ended[i] = true;
							nended++;
						}
					}
				} else if (ev[k].type == MB_DP_EV_FTP_XFER_END) {
					uint64_t ck = ev[k].u.xfer.cookie;
					unsigned p = (unsigned)(ck % NPORTS);

					assert_false(ev[k].u.xfer.ok); /* nobody connected */
					/* the 64-bit cookie arrives whole */
					assert_true(ck >> 32 == COOKIE_HI);
					if ((uint32_t)ck == newest[p])
						port_seen[p] = true;
				}
			}
		}
		if (nended == NSESS)
			break;
		usleep(10000);
	}
	assert_int_equal(nended, NSESS);
	for (i = 0; i < NPORTS; i++)
		if (!port_seen[i])
			fail_msg("the newest ended transfer on port %d (cookie %llu) was lost",
				 PASV_MIN + i, (unsigned long long)newest[i]);
	/* Every slot is free again: all sessions start anew. */
	start_all(again);
	for (i = 0; i < NSESS; i++)
		assert_int_equal(mb_dp_fris_session_stop(again[i]), 0);
	/* The dataplane gave the image references back once they end. */
	end = mb_time_mono_ns() + 5 * MB_NS_PER_SEC;
	while (atomic_load(&img->sb.refcnt) > 1 && mb_time_mono_ns() < end) {
		drain_tx();
		(void)mb_dp_events_poll(ev, 32);
		usleep(1000);
	}
	assert_int_equal(atomic_load(&img->sb.refcnt), 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_lost_ends),
	};
	char *eal[] = { argv[0], "--no-huge", "-m", "256", "--no-pci", mbt_eal_prefix_arg("dpev"),
			"-l", "0-1", "--log-level=*:warning", NULL };
	struct rte_mempool *tpool;
	static uint8_t bytes[200000];
	struct mb_config cfg;
	unsigned worker;
	int port, rc;

	(void)argc;
	if (rte_eal_init((int)RTE_DIM(eal) - 1, eal) < 0)
		return 77; /* no EAL here (e.g. no /dev/shm): skip */
	rx_r = rte_ring_create("mbt_rx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	tx_r = rte_ring_create("mbt_tx", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	tpool = rte_pktmbuf_pool_create("mbt_pool", 2048, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	port = rte_eth_from_rings("mbt_ring", &rx_r, 1, &tx_r, 1, 0);
	if (rx_r == NULL || tx_r == NULL || tpool == NULL || port < 0)
		return 1;
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 13);
	img = mb_image_new_heap("test/img", bytes, sizeof(bytes));
	if (mb_config_defaults(&cfg) != 0 || img == NULL)
		return 1;
	cfg.port_id = (uint64_t)port;
	mb_parse_ipv4_prefix("10.9.0.1/24", &cfg.address, &cfg.prefixlen);
	free(cfg.exception_tap);
	cfg.exception_tap = strdup("");
	cfg.tcp_enable = true;
	cfg.http_port = 0;
	cfg.ftp_pasv_min = PASV_MIN;
	cfg.ftp_pasv_max = PASV_MIN + NPORTS - 1;
	cfg.max_sessions = NSESS;
	cfg.fris_idle_timeout = 3600;
	cfg.mbufs = 4095;
	if (mb_dp_init(&cfg) != 0)
		return 1;
	worker = rte_get_next_lcore(-1, 1, 0);
	if (worker >= RTE_MAX_LCORE || rte_eal_remote_launch(mb_dp_lcore_main, NULL, worker) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	mb_dp_stop();
	rte_eal_wait_lcore(worker);
	mb_dp_fini();
	mb_image_unref(img);
	mb_config_done(&cfg);
	rte_eal_cleanup();
	mbt_eal_rm_runtime();
	return rc;
}
