/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP segmentation offload on a real port: the whole dataplane on net_tap,
 * which offers RTE_ETH_TX_OFFLOAD_TCP_TSO and cuts TSO frames in software
 * (librte_gso) before writing them to its kernel interface.  The peer is
 * the kernel's own TCP stack, a socket in a network namespace this process
 * creates for itself (unshare), downloading images over HTTP from the
 * dataplane: every byte it receives must equal the image's at its offset,
 * for an image in DPDK memory (payload attached to the frames) and one on
 * the heap (payload copied into chained mbufs).  The kernel drops any
 * segment that exceeds the interface's MTU or carries a bad checksum, so a
 * complete, equal download proves what reached the wire.  The counters
 * show TSO frames were sent and none refused.
 *
 * With the argument "off" the same runs with dpdk.tso = no: the port must
 * not enable the offload and no segment exceeds the MSS.
 *
 * Needs root (the namespace, the TAP); skips without.  EAL: --no-huge -m
 * 256 --no-pci --vdev=net_tap0,iface=mbtso0 --file-prefix=mbt-dptso-<pid>
 * -l 0-1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dp.h"
#include "dp_harness.h"
#include "mb_image.h"
#include "rte_image.h"

#define IMG_LEN (6u << 20)

static bool tso_on;		  /* dpdk.tso of this run */
static uint8_t *bytes;		  /* the images' content */
static uint8_t *got;		  /* a download's body */
static struct mb_dp_stats st; /* large: not on the stack */

/* Download /images/name from the dataplane with a kernel socket into got;
 * returns the body's length (the response must be 200 with the right
 * Content-Length). */
static size_t
download(const char *name)
{
	static char buf[1 << 16];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct timeval tv = { .tv_sec = 20 };
	char req[400];
	size_t have = 0, body = 0, hdr = 0, clen = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	assert_true(fd >= 0);
	inet_pton(AF_INET, OUR_IP, &sa.sin_addr);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		/* a signal of EAL's threads: the connection goes on, wait for it */
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int err = errno;
		socklen_t el = sizeof(err);

		while (err == EINTR && poll(&pfd, 1, 20000) < 0 && errno == EINTR)
			;
		if (err == EINTR && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err != 0 && err != EINTR)
			fail_msg("connect to %s:80: %s", OUR_IP, strerror(err));
	}
	snprintf(req, sizeof(req),
		 "GET /images/%s HTTP/1.1\r\nHost: " OUR_IP "\r\nConnection: close\r\n\r\n", name);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	/* the header, then the body straight into got */
	while (hdr == 0) {
		char *end;

		n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail_msg("response header: %s", n == 0 ? "connection closed" : strerror(errno));
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL)
			hdr = (size_t)(end + 4 - buf);
		else
			assert_true(have < sizeof(buf) - 1);
	}
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	{
		const char *cl = strcasestr(buf, "\r\ncontent-length:");

		assert_non_null(cl);
		clen = strtoul(cl + 17, NULL, 10);
	}
	assert_true(clen <= IMG_LEN);
	body = have - hdr;
	assert_true(body <= clen);
	memcpy(got, buf + hdr, body);
	while ((n = recv(fd, got + body, IMG_LEN + 1 - body, 0)) > 0 || (n < 0 && errno == EINTR))
		body += n > 0 ? (size_t)n : 0;
	if (n < 0)
		fail_msg("after %zu of %zu bytes: %s", body, clen, strerror(errno));
	close(fd);
	assert_int_equal(body, clen);
	return body;
}

/* got[0, len) equals bytes[0, len); the first difference is reported. */
static void
check_body(size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != bytes[i])
			fail_msg("byte %zu differs: 0x%02x, the image has 0x%02x", i, got[i], bytes[i]);
}

static uint64_t
tcp_tso_frames(void)
{
	assert_int_equal(mb_dp_stats_read(&st), 0);
	return st.tcp.core.tx_tso;
}

/* One image published, downloaded twice by the kernel; the bytes, and the
 * counters of what the dataplane sent. */
static void
serve(struct mb_image *im, bool attached)
{
	uint64_t tso0 = tcp_tso_frames(), zc0 = st.tcp.glue[MB_DP_T_tx_zerocopy];
	uint64_t cp0 = st.tcp.glue[MB_DP_T_tx_copied];

	assert_int_equal(dph_publish_ref(im), 0);
	for (int r = 0; r < 2; r++) {
		assert_int_equal(download(im->name), IMG_LEN);
		check_body(IMG_LEN);
	}
	(void)tcp_tso_frames();
	print_message("%s: tso %s, %llu TSO frames, %llu attached, %llu copied, "
		      "%llu retransmitted bytes, %llu refused by tx_prepare\n",
		      im->name, st.tx_tso ? "on" : "off",
		      (unsigned long long)(st.tcp.core.tx_tso - tso0),
		      (unsigned long long)(st.tcp.glue[MB_DP_T_tx_zerocopy] - zc0),
		      (unsigned long long)(st.tcp.glue[MB_DP_T_tx_copied] - cp0),
		      (unsigned long long)st.tcp.core.rexmt_bytes,
		      (unsigned long long)port_ctr("tx_prepare_drop"));
	assert_int_equal(st.tx_tso, tso_on);
	if (tso_on) {
		/* 2 x 6 MiB in frames of up to 64 KiB: many TSO frames */
		assert_true(st.tcp.core.tx_tso - tso0 >= 2 * IMG_LEN / (64u << 10));
		if (attached)
			assert_true(st.tcp.glue[MB_DP_T_tx_zerocopy] - zc0 > 0);
		else
			assert_true(st.tcp.glue[MB_DP_T_tx_copied] - cp0 > 0);
	} else {
		assert_int_equal(st.tcp.core.tx_tso - tso0, 0);
	}
	assert_int_equal(port_ctr("tx_prepare_drop"), 0);
	assert_int_equal(st.tcp.glue[MB_DP_T_tx_oversize], 0);
}

static void
test_tso_dpdk_memory(void **state)
{
	struct mb_image *im = mbt_rte_image("tso-dpdk", bytes, IMG_LEN);

	(void)state;
	assert_non_null(im);
	serve(im, true);
	mb_image_unref(im);
}

static void
test_tso_heap(void **state)
{
	struct mb_image *im = mb_image_new_heap("tso-heap", bytes, IMG_LEN);

	(void)state;
	assert_non_null(im);
	serve(im, false);
	mb_image_unref(im);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tso_dpdk_memory),
		cmocka_unit_test(test_tso_heap),
	};
	struct mb_config cfg;
	int rc;

	tso_on = !(argc > 1 && strcmp(argv[1], "off") == 0);
	if (getuid() != 0) {
		fprintf(stderr, "needs root for a network namespace and the TAP, skipping\n");
		return 77;
	}
	/* before EAL's threads: they, the TAP and every socket live in it */
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s, skipping\n", strerror(errno));
		return 77;
	}
	rc = dph_setup_vdev(tso_on ? "dptso" : "dptsooff", argv[0], "net_tap0,iface=mbtso0");
	if (rc != 0)
		return rc;
	bytes = malloc(IMG_LEN);
	got = malloc(IMG_LEN + 1);
	if (bytes == NULL || got == NULL)
		return 1;
	for (unsigned i = 0; i < IMG_LEN; i++)
		bytes[i] = (uint8_t)(i * 131u + (i >> 9) + (i >> 17));
	dph_config(&cfg);
	cfg.tcp_enable = true;
	cfg.tso = tso_on;
	cfg.mtu = 1500;
	if (dph_start(&cfg) != 0)
		return 1;
	/* the kernel's side of the TAP: the peer's address, in this namespace */
	/* (net_tap gives its kernel side the port's MAC: another one, or the
	 * dataplane drops the kernel's frames as its own) */
	if (system("ip link set lo up && ip link set mbtso0 address 02:00:00:00:00:02 && "
		   "ip link set mbtso0 up && "
		   "ip addr add " PEER_IP "/24 dev mbtso0") != 0) {
		fprintf(stderr, "cannot configure mbtso0\n");
		dph_finish();
		return 1;
	}
	rc = cmocka_run_group_tests_name(tso_on ? "dp_tso" : "dp_tso (dpdk.tso = no)", tests, NULL,
					 NULL);
	dph_finish();
	mb_config_done(&cfg);
	free(bytes);
	free(got);
	return rc;
}
