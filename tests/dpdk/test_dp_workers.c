/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk.workers = 2 on a ring port with one RX ring and two TX rings (one per
 * worker; the ring port has no RSS, so worker 0 receives everything and
 * hands over what the other worker owns).  Two sessions land on the two
 * workers (a multicast one on worker 0, a unicast one on worker 1); their
 * requests all arrive on worker 0's RX queue.  Proved: each worker sends
 * only its own session's BLOCKs, on its own TX queue, every one with the
 * right headers and the image's bytes, each block of the requested chunk
 * exactly once; worker 1 resolves its client's MAC with its own ARP request
 * on its own queue and learns it from the reply worker 0 copies to it; the
 * per-worker counters sum to the port's; both session ends come back as
 * events.  Also: a configuration asking for more workers than the port
 * has TX queues or EAL has lcores is refused at init.
 *
 * EAL: --no-huge -m 256 --no-pci --file-prefix=mbt-dpwork-<pid>
 * --lcores (0-2)@(0-1) (the test thread and two workers on the machine's
 * first two CPUs).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cmocka.h>

#include "dp.h"
#include "dp_harness.h"
#include "fris_wire.h"
#include "mb_config.h"
#include "mb_image.h"
#include "mb_time.h"

#define GROUP "239.1.2.9"
#define CLIENT_IP "10.9.0.7"
#define FPORT_A 7100 /* the multicast session: worker 0 */
#define FPORT_B 7101 /* the unicast session: worker 1 */
#define IMG_SIZE (1024 * 1024 + 5000) /* 2 chunks */

static const struct rte_ether_addr client_mac = {{0x02, 0, 0, 0, 0, 7}};
static struct mb_image *img_a, *img_b;
static uint8_t frame[2048];
static struct mb_config cfg;

static struct mb_image *
image(const char *name, unsigned salt)
{
	uint8_t *b = malloc(IMG_SIZE);
	struct mb_image *im;

	assert_non_null(b);
	for (unsigned i = 0; i < IMG_SIZE; i++)
		b[i] = (uint8_t)(i * salt + i / 1024 + salt);
	im = mb_image_new_heap(name, b, IMG_SIZE);
	free(b);
	assert_non_null(im);
	return im;
}

static void
stats(struct mb_dp_stats *st)
{
	assert_int_equal(mb_dp_stats_read(st), 0);
}

/* A BLOCK of session port `port` for (chunk, block) of im, headers and
 * payload checked; its block number within the chunk, or -1 if f is not a
 * Frisbee datagram at all. */
static int
check_block(const uint8_t *f, size_t n, uint16_t port, const struct mb_image *im,
	    const struct rte_ether_addr *dmac)
{
	struct mb_fris_msg m;
	uint64_t off;
	uint8_t exp[1024] = { 0 };

	if (!is_fris(f, n))
		return -1;
	assert_int_equal(n, 42 + MB_FRIS_BLOCK_LEN);
	assert_int_equal(ntohs(*(const uint16_t *)(f + 34)), port);
	assert_int_equal(ntohs(*(const uint16_t *)(f + 36)), port);
	assert_memory_equal(f, dmac, 6);
	assert_memory_equal(f + 6, &our_mac, 6);
	assert_int_equal(rte_ipv4_cksum((const struct rte_ipv4_hdr *)(f + 14)), 0);
	{
		uint32_t sum = (uint32_t)rte_raw_cksum(f + 34, n - 34) +
			       rte_ipv4_phdr_cksum((const struct rte_ipv4_hdr *)(f + 14), 0);

		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		assert_int_equal(sum, 0xffff);
	}
	assert_int_equal(mb_fris_decode(f + 42, n - 42, 2, &m), MB_FRIS_OK);
	assert_int_equal(m.kind, MB_FRIS_K_BLOCK);
	assert_int_equal(m.u.block.chunk, 0);
	off = (uint64_t)m.u.block.block * 1024;
	memcpy(exp, im->sb.data + off, 1024);
	assert_memory_equal(m.u.block.data, exp, 1024);
	return (int)m.u.block.block;
}

static bool
is_arp_req(const uint8_t *f, size_t n)
{
	const struct rte_arp_hdr *a = (const struct rte_arp_hdr *)(f + 14);

	return n >= 42 && f[12] == 0x08 && f[13] == 0x06 &&
	       a->arp_opcode == htons(RTE_ARP_OP_REQUEST);
}

static uint32_t id_a, id_b;

static void
test_two_workers(void **state)
{
	const struct rte_ether_addr grp_mac = {{0x01, 0x00, 0x5e, 0x01, 0x02, 0x09}};
	struct rte_ether_addr dst_b = client_mac;
	static struct mb_dp_stats st;
	uint8_t pl[64], out[2048];
	bool seen_a[1024] = { false }, seen_b[1024] = { false };
	unsigned got_a = 0, got_b = 0, arp_b = 0;
	uint64_t end;
	int len;

	(void)state;
	id_a = start_session(GROUP, FPORT_A, MB_FRIS_MULTICAST, img_a, 0);
	id_b = start_session(CLIENT_IP, FPORT_B, MB_FRIS_UNICAST, img_b, 0);
	stats(&st);
	assert_int_equal(st.workers, 2);
	assert_false(st.rss); /* net_ring: one RX queue */
	assert_int_equal(st.worker[0].sessions, 1);
	assert_int_equal(st.worker[1].sessions, 1);
	assert_true(st.worker[0].lcore >= 1 && st.worker[1].lcore >= 1);
	assert_int_not_equal(st.worker[0].lcore, st.worker[1].lcore);
	assert_true(st.worker[0].rx);
	assert_false(st.worker[1].rx);
	drain();

	/* a whole chunk asked of each: A to the group, B from its client */
	len = mb_fris_encode_request(pl, sizeof(pl), ip4(PEER_IP), 0, 0, 1024);
	inject(frame, build_udp(frame, ip4(PEER_IP), ip4(GROUP), FPORT_A, FPORT_A, pl,
				(size_t)len));
	len = mb_fris_encode_request(pl, sizeof(pl), ip4(CLIENT_IP), 0, 0, 1024);
	inject(frame, build_udp(frame, ip4(CLIENT_IP), ip4(OUR_IP), FPORT_B, FPORT_B, pl,
				(size_t)len));

	end = mb_time_mono_ns() + 20 * MB_NS_PER_SEC;
	while ((got_a < 1024 || got_b < 1024) && mb_time_mono_ns() < end) {
		for (unsigned q = 0; q < 2; q++) {
			struct rte_mbuf *m = recv_mbuf_q_ms(q, 5);
			size_t n;
			int b;

			if (m == NULL)
				continue;
			n = mbuf_copy(m, out, sizeof(out));
			rte_pktmbuf_free(m);
			if (q == 1 && is_arp_req(out, n)) {
				const struct rte_arp_hdr *a = (const struct rte_arp_hdr *)(out + 14);

				/* worker 1 asks for its client on its own queue */
				assert_int_equal(a->arp_data.arp_tip, ip4(CLIENT_IP));
				if (arp_b++ == 0)
					send_arp(RTE_ARP_OP_REPLY, &client_mac, CLIENT_IP, OUR_IP,
						 &our_mac);
				continue;
			}
			b = q == 0 ? check_block(out, n, FPORT_A, img_a, &grp_mac) :
				     check_block(out, n, FPORT_B, img_b, &dst_b);
			if (b < 0)
				continue; /* IGMP reports of A's group on queue 0 */
			if (q == 0) {
				assert_false(seen_a[b]); /* each block once */
				seen_a[b] = true;
				got_a++;
			} else {
				assert_false(seen_b[b]);
				seen_b[b] = true;
				got_b++;
			}
		}
	}
	print_message("worker 0 sent %u BLOCKs of A, worker 1 %u of B (%u ARP requests)\n",
		      got_a, got_b, arp_b);
	assert_int_equal(got_a, 1024);
	assert_int_equal(got_b, 1024);
	assert_true(arp_b >= 1);
	drain();
	assert_int_equal(sess_ctr_of(id_a, "blocks", NULL), 1024);
	assert_int_equal(sess_ctr_of(id_b, "blocks", NULL), 1024);

	/* the workers' counters: each its share, the port's their sum */
	stats(&st);
	assert_true(st.worker[0].ctr[MB_DP_C_dispatch_out] >= 2); /* B's REQUEST, ARP copy */
	assert_int_equal(st.worker[1].ctr[MB_DP_C_dispatch_out], 0);
	assert_int_equal(st.worker[1].ctr[MB_DP_C_dispatch_in],
			 st.worker[0].ctr[MB_DP_C_dispatch_out]);
	assert_int_equal(st.ctr[MB_DP_C_dispatch_drop], 0);
	assert_int_equal(st.worker[1].ctr[MB_DP_C_rx_pkts], 0);
	assert_true(st.worker[0].ctr[MB_DP_C_tx_pkts] >= 1024);
	assert_true(st.worker[1].ctr[MB_DP_C_tx_pkts] >= 1024 + 1);
	assert_int_equal(st.worker[1].ctr[MB_DP_C_arp_learn], 1);
	for (unsigned k = 0; k < MB_DP_C_MAX; k++)
		assert_int_equal(st.ctr[k], st.worker[0].ctr[k] + st.worker[1].ctr[k]);
}

static void
test_ends(void **state)
{
	static struct mb_dp_stats st;

	(void)state;
	stop_session(id_b); /* each waits for its SESSION_END event */
	stop_session(id_a);
	stats(&st);
	assert_int_equal(st.sessions, 0);
	assert_int_equal(st.worker[0].ctr[MB_DP_C_sessions_ended], 1);
	assert_int_equal(st.worker[1].ctr[MB_DP_C_sessions_ended], 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_workers),
		cmocka_unit_test(test_ends),
	};
	int rc;

	(void)argc;
	rc = dph_setup_rings("dpwork", argv[0], 2, "(0-2)@(0-1)");
	if (rc != 0)
		return rc;
	img_a = image("test/a", 7);
	img_b = image("test/b", 13);
	dph_config(&cfg);
	cfg.mbufs = 8192;
	/* refused: more workers than TX queues, more than EAL's lcores */
	cfg.workers = 3;
	if (mb_dp_init(&cfg) != -EINVAL) {
		fprintf(stderr, "3 workers on 2 TX queues were not refused\n");
		return 1;
	}
	cfg.workers = 4;
	if (mb_dp_init(&cfg) != -EINVAL) {
		fprintf(stderr, "4 workers on 3 lcores were not refused\n");
		return 1;
	}
	cfg.workers = 2;
	if (dph_start(&cfg) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dph_finish();
	mb_image_unref(img_a);
	mb_image_unref(img_b);
	mb_config_done(&cfg);
	return rc;
}
