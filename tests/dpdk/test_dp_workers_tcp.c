/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP over two workers (dpdk.workers = 2) on a multi-queue port: net_tap
 * with two queue pairs, whose kernel side (a multi-queue TUN device) spreads
 * the flows over the queues itself.  Each worker runs a TCP stack; a
 * segment that arrives on the queue of the worker that does not own its
 * flow is handed to the owner (the flow hash of the peer's address and
 * port).  The peer is curl in a network namespace this process creates for
 * itself (unshare): 16 parallel downloads of one image over HTTP, each
 * file byte-identical to the image.  With 16 connections both workers
 * carry some (the chance that the hash puts all on one is 2 in 65536); the
 * per-worker counters sum to the port's and every frame handed over was
 * taken by its owner.
 *
 * Needs root (the namespace, the TAP) and curl; skips without.  EAL:
 * --no-huge -m 256 --no-pci --vdev=net_tap0,iface=mbwk0
 * --file-prefix=mbt-dpwtcp-<pid> --lcores (0-2)@(0-1).
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dp.h"
#include "dp_harness.h"
#include "mb_image.h"
#include "rte_image.h"

#define IMG_LEN (3u << 20)
#define NDL 16

static uint8_t *bytes;
static char dir[] = "/tmp/mbt-dpwtcp-XXXXXX";
static struct mb_dp_stats st; /* large: not on the stack */

/* The file equals the image (the first difference reported). */
static void
check_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[IMG_LEN + 1];
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n != IMG_LEN)
		fail_msg("%s: %zu bytes, the image has %u", path, n, IMG_LEN);
	for (size_t i = 0; i < n; i++)
		if (buf[i] != bytes[i])
			fail_msg("%s: byte %zu differs: 0x%02x, the image has 0x%02x", path, i,
				 buf[i], bytes[i]);
}

static void
test_parallel_downloads(void **state)
{
	struct mb_image *im = mbt_rte_image("wk", bytes, IMG_LEN);
	char cmd[8192];
	size_t len;

	(void)state;
	assert_non_null(im);
	assert_int_equal(dph_publish_ref(im), 0);
	len = (size_t)snprintf(cmd, sizeof(cmd),
			       "curl -sS --fail --max-time 60 --parallel --parallel-max %d", NDL);
	for (int i = 0; i < NDL; i++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
					" -o %s/f%d http://" OUR_IP "/images/wk", dir, i);
	assert_true(len < sizeof(cmd));
	assert_int_equal(system(cmd), 0);
	for (int i = 0; i < NDL; i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		check_file(path);
		unlink(path);
	}
	assert_int_equal(mb_dp_stats_read(&st), 0);
	print_message("rss %s; worker 0: %llu TCP segments in, %llu handed over; worker 1: "
		      "%llu in, %llu handed over; %llu dropped (inbox full); %llu retransmitted "
		      "bytes\n",
		      st.rss ? "on" : "off",
		      (unsigned long long)st.worker[0].ctr[MB_DP_C_tcp_rx],
		      (unsigned long long)st.worker[0].ctr[MB_DP_C_dispatch_out],
		      (unsigned long long)st.worker[1].ctr[MB_DP_C_tcp_rx],
		      (unsigned long long)st.worker[1].ctr[MB_DP_C_dispatch_out],
		      (unsigned long long)st.ctr[MB_DP_C_dispatch_drop],
		      (unsigned long long)st.tcp.core.rexmt_bytes);
	assert_int_equal(st.workers, 2);
	assert_true(st.worker[0].ctr[MB_DP_C_tcp_rx] > 0);
	assert_true(st.worker[1].ctr[MB_DP_C_tcp_rx] > 0);
	/* what was handed over was taken (a full inbox, on a machine that
	 * starves a worker, drops and counts instead) */
	assert_int_equal(st.worker[0].ctr[MB_DP_C_dispatch_in] +
				 st.worker[1].ctr[MB_DP_C_dispatch_in],
			 st.worker[0].ctr[MB_DP_C_dispatch_out] +
				 st.worker[1].ctr[MB_DP_C_dispatch_out]);
	for (unsigned k = 0; k < MB_DP_C_MAX; k++)
		assert_int_equal(st.ctr[k], st.worker[0].ctr[k] + st.worker[1].ctr[k]);
	mb_image_unref(im);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parallel_downloads),
	};
	struct mb_config cfg;
	int rc;

	(void)argc;
	if (getuid() != 0) {
		fprintf(stderr, "needs root for a network namespace and the TAP, skipping\n");
		return 77;
	}
	if (system("curl --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "no curl, skipping\n");
		return 77;
	}
	/* before EAL's threads: they, the TAP and curl live in it */
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s, skipping\n", strerror(errno));
		return 77;
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	rc = dph_setup_vdev_lcores("dpwtcp", argv[0], "net_tap0,iface=mbwk0", "(0-2)@(0-1)");
	if (rc != 0)
		return rc;
	bytes = malloc(IMG_LEN);
	if (bytes == NULL)
		return 1;
	for (unsigned i = 0; i < IMG_LEN; i++)
		bytes[i] = (uint8_t)(i * 151u + (i >> 10) + (i >> 19));
	dph_config(&cfg);
	cfg.tcp_enable = true;
	cfg.mtu = 1500;
	cfg.workers = 2;
	if (dph_start(&cfg) != 0)
		return 1;
	/* the kernel's side of the TAP (another MAC than the port's, or the
	 * dataplane drops the kernel's frames as its own) */
	if (system("ip link set lo up && ip link set mbwk0 address 02:00:00:00:00:02 && "
		   "ip link set mbwk0 up && ip addr add " PEER_IP "/24 dev mbwk0") != 0) {
		fprintf(stderr, "cannot configure mbwk0\n");
		dph_finish();
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dph_finish();
	mb_config_done(&cfg);
	free(bytes);
	rmdir(dir);
	return rc;
}
