/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane on net_null with nothing to do (issue 17): net_null's RX
 * hands out a full burst of 64-byte frames of zeroes on every call, frames
 * that are no traffic at all (zero source MAC).  The lcore must treat them
 * as no work and sleep dpdk.idle-sleep-us between passes instead of
 * spinning, and must drop them before the exception TAP instead of flooding
 * the kernel with them.  Measured: the CPU time of the lcore's thread over
 * 3 s, and the frames the TAP's kernel interface received.  Needs root for
 * the TAP (skips without).  EAL: --no-huge -m 256 --no-pci
 * --vdev=net_null0 --file-prefix=mbt-dpnull-<pid> -l 0-1.
 */
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
#include "mb_time.h"

static char tap[16];

/* What the TAP's kernel side received (frames the dataplane gave it). */
static uint64_t
tap_rx(void)
{
	char path[96];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/rx_packets", tap);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llu", &v), 1);
	fclose(f);
	return v;
}

static void
test_null_idle(void **state)
{
	uint64_t c0, t0, k0, bad0, exc0, sleeps0, c1, t1;
	unsigned pct;

	(void)state;
	dph_sleep_ms(500); /* past the start-up: the TAP came up, the kernel spoke */
	c0 = dph_lcore_cpu_ns();
	t0 = mb_time_mono_ns();
	k0 = tap_rx();
	bad0 = port_ctr("drop_bad_src");
	exc0 = port_ctr("exc_to_kernel");
	sleeps0 = port_ctr("idle_sleeps");
	dph_sleep_ms(3000);
	c1 = dph_lcore_cpu_ns();
	t1 = mb_time_mono_ns();
	pct = (unsigned)((c1 - c0) * 100 / (t1 - t0));
	print_message("net_null, nothing to do: lcore %u%% of a CPU, %llu frames dropped, "
		      "%llu to the TAP, %llu idle sleeps\n", pct,
		      (unsigned long long)(port_ctr("drop_bad_src") - bad0),
		      (unsigned long long)(tap_rx() - k0),
		      (unsigned long long)(port_ctr("idle_sleeps") - sleeps0));
	assert_true(port_ctr("drop_bad_src") - bad0 > 1000); /* net_null did deliver */
	assert_int_equal(port_ctr("exc_to_kernel") - exc0, 0);
	assert_int_equal(tap_rx() - k0, 0);
	/* it slept between passes (each sleep may last far longer than asked
	 * on a busy machine: only that there were many is checked) */
	assert_true(port_ctr("idle_sleeps") - sleeps0 > 100);
	/* dpdk.idle-sleep-us = 50: a pass of a few microseconds, then a sleep;
	 * spinning was ~90% */
	assert_true(pct <= 30);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_idle),
	};
	struct mb_config cfg;
	int rc;

	(void)argc;
	if (getuid() != 0) {
		fprintf(stderr, "needs root for the exception TAP, skipping\n");
		return 77;
	}
	rc = dph_setup_vdev("dpnull", argv[0], "net_null0");
	if (rc != 0)
		return rc;
	snprintf(tap, sizeof(tap), "mbtn%u", (unsigned)getpid() % 100000);
	dph_config(&cfg);
	free(cfg.exception_tap);
	cfg.exception_tap = strdup(tap);
	if (dph_start(&cfg) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dph_finish();
	mb_config_done(&cfg);
	return rc;
}
