/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The scaffolding the control-loop harnesses share (fuzz_ctl_loop.c,
 * fuzz_ctl_tls.c, fuzz_ctl_origin.c, fuzz_ctl_sync.c): each runs the real
 * control loop (control/ctl_loop.c) with its timers and descriptors in the
 * harness's process, on its thread, and checks after every input that the
 * descriptors and live timers are back where they were after start.
 *
 * What is here:
 *  - the clock: this file defines clock_gettime, so every CLOCK_MONOTONIC
 *    (and BOOTTIME) reading of the code linked into the harness is ahead of
 *    the real one by mono_offset_ns, which a harness's "time" step adds to;
 *    other clocks (wall time, certificates' validity) are untouched;
 *  - a log sink that drops everything (the harnesses check state, not log
 *    lines), and fail(), which reports a broken invariant and aborts;
 *  - descriptor counting (pipes and devices left out: libFuzzer starts its
 *    symbolizer, two pipes and /dev/null, in the middle of a run, and
 *    OpenSSL opens /dev/urandom), the baseline taken after start
 *    (fz_baseline) and the check against it (fz_at_baseline);
 *  - pumping the loop: a number of passes, until a pass finds nothing
 *    ready, or until a condition holds with the clock moved past the
 *    harness's deadlines;
 *  - a control action run in process, and closing a client socket (with a
 *    reset when asked).
 *
 * Include it once per program (it defines clock_gettime), after defining
 * FUZZ_NAME (the prefix of fail()'s message).  Everything else is static
 * inline, so a harness that does not use a helper gets no warning.
 */
#ifndef _MB_FUZZ_CTL_COMMON_H_
#define _MB_FUZZ_CTL_COMMON_H_

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_imgmem.h"
#include "ctl_priv.h"
#include "mb_log.h"
#include "mb_time.h"

#ifndef FUZZ_NAME
#error "define FUZZ_NAME (the harness's name, for fail()) before including fuzz_ctl_common.h"
#endif

/* The harness's entry (libFuzzer, or tests/unit/test_garbage.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the clock ---------------------------------------------------------------- */

static uint64_t mono_offset_ns;

int clock_gettime(clockid_t id, struct timespec *ts);

/* Every CLOCK_MONOTONIC reading of the code linked in here is ahead of the
 * real one by mono_offset_ns; other clocks are untouched. */
int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int rc;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	if (real == NULL)
		abort();
	rc = real(id, ts);
	if (rc == 0 && mono_offset_ns != 0 &&
	    (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE ||
	     id == CLOCK_MONOTONIC_RAW || id == CLOCK_BOOTTIME)) {
		uint64_t ns = (uint64_t)ts->tv_sec * MB_NS_PER_SEC + (uint64_t)ts->tv_nsec +
			      mono_offset_ns;

		ts->tv_sec = (time_t)(ns / MB_NS_PER_SEC);
		ts->tv_nsec = (long)(ns % MB_NS_PER_SEC);
	}
	return rc;
}

/* ---- reporting ------------------------------------------------------------------ */

static inline void
quiet_sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt, va_list ap)
{
	(void)level;
	(void)mod;
	(void)fmt;
	(void)ap;
}

/* A broken invariant: the message to stderr, then abort (libFuzzer keeps
 * the input as a crash). */
static inline __attribute__((noreturn, format(printf, 1, 2))) void
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(FUZZ_NAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* ---- descriptors and timers ------------------------------------------------------ */

/* Open descriptors, except pipes and devices (see the top).  The loop's
 * sockets, eventfds, epoll set and any file it opens are counted. */
static inline int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		fail("opendir /proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char path[300], to[64];
		ssize_t len;

		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		len = readlink(path, to, sizeof(to) - 1);
		to[len > 0 ? len : 0] = '\0';
		if (strncmp(to, "pipe:", 5) != 0 && strncmp(to, "/dev/", 5) != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* What each open descriptor is, to stderr (for a failure's report). */
static inline void
list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char path[300], to[256];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, to, sizeof(to) - 1);
		to[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "  fd %s -> %s\n", de->d_name, to);
	}
	if (d != NULL)
		closedir(d);
}

/* Descriptors and live timers after start, which every input returns to. */
static int fz_base_fds;
static unsigned fz_base_timers;

static inline void
fz_baseline(void)
{
	fz_base_fds = count_fds();
	fz_base_timers = mb_ctl_timer_count();
}

static inline bool
fz_at_baseline(void)
{
	return count_fds() <= fz_base_fds && mb_ctl_timer_count() <= fz_base_timers;
}

/* ---- the loop ----------------------------------------------------------------------- */

static inline void
pump(int passes)
{
	for (int i = 0; i < passes; i++)
		(void)mb_ctl_loop_run_once(0);
}

/* Run the loop until a pass finds no descriptor ready: whatever the
 * clients wrote has been read (a server takes a few KiB per pass). */
static inline void
pump_quiet(void)
{
	for (int i = 0; i < 100000; i++)
		if (mb_ctl_loop_run_once(0) <= 0)
			return;
	fail("the loop is still busy after 100000 passes");
}

/* The loop on this thread, image memory from the heap, and the fake
 * dataplane (tests/fakes) answering as 127.0.0.1: what a harness with the
 * image store sets up before it starts the control plane. */
static inline void
fz_loop_start_heap(void)
{
	mb_imgmem_set_ops(&mb_imgmem_heap);
	if (mb_ctl_loop_init() != 0)
		fail("loop init");
	mb_ctl_loop_set_rcu(true);
	mbt_dp.local_addr = htonl(INADDR_LOOPBACK);
	mb_ctl_dp_set(&mbt_dp_ops);
}

/* Pump until `done`, moving the clock on by step_ns (past the harness's
 * deadlines) when passes alone do not get there.  False when it never
 * did. */
static inline bool
settle(bool (*done)(void), uint64_t step_ns)
{
	for (int round = 0; round < 4; round++) {
		pump_quiet();
		for (int i = 0; i < 64; i++) {
			if (done())
				return true;
			(void)mb_ctl_loop_run_once(i < 32 ? 0 : 1);
		}
		mono_offset_ns += step_ns;
	}
	return done();
}

/* A control action run in process; its reply (never NULL: a failure
 * aborts). */
static inline json_t *
action(const char *name)
{
	char *err = NULL;
	json_t *j = mb_ctl_action_run(name, NULL, &err);

	if (j == NULL)
		fail("action %s: %s", name, err != NULL ? err : "?");
	return j;
}

/* ---- clients ------------------------------------------------------------------------ */

/* A client of the Unix socket at `path`: a non-blocking descriptor, or -1. */
static inline int
fz_dial_unix(const char *path)
{
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(su.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memcpy(su.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&su, sizeof(su)) == -1) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* A TCP client of 127.0.0.1:port, its connect under way: from 127.0.0.(1 +
 * (src & 3)) when src >= 0 (the servers' per-source limits see four
 * sources), else from whatever the kernel picks.  A non-blocking
 * descriptor, or -1. */
static inline int
fz_dial_tcp(uint16_t port, int src)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in me = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(src & 3));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((src >= 0 && bind(fd, (struct sockaddr *)&me, sizeof(me)) == -1) ||
	    (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno != EINPROGRESS)) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* Close *fd (a reset when asked: SO_LINGER 0) and set it to -1. */
static inline void
close_fd(int *fd, bool reset)
{
	if (*fd < 0)
		return;
	if (reset) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	(void)close(*fd);
	*fd = -1;
}

#endif /* _MB_FUZZ_CTL_COMMON_H_ */
