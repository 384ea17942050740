/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dropping capabilities in every thread (see mb_priv.h).
 *
 * capset(2), PR_CAPBSET_DROP and PR_SET_NO_NEW_PRIVS act on the calling
 * thread only, and by the time minibossd has started EAL has made its
 * lcore, interrupt, multi-process and telemetry threads, the control plane
 * its own thread and the store's worker.  libcap's libpsx reaches every
 * thread only if it wraps pthread_create at link time, which does not see
 * the threads made inside the DPDK shared libraries; so this file does what
 * libpsx does, over /proc/self/task: the calling thread drops directly, and
 * every other thread gets a real-time signal (tgkill) whose handler makes
 * the same three raw system calls (all async-signal-safe).  Each thread's
 * CapEff, CapPrm, CapBnd and NoNewPrivs are then read back from
 * /proc/self/task/<tid>/status; a thread that did not comply is signalled
 * again, and named in the log if it never does.  Threads created afterwards
 * inherit the reduced sets from their creator.
 *
 * liburcu's call_rcu thread blocks every signal, so it cannot be reached
 * this way; mb_priv_prepare() makes it, before anything else runs, from a
 * helper thread that already holds only the final set.
 *
 * The handler uses SA_RESTART; the threads it interrupts either restart
 * (read, accept, recvmsg) or treat EINTR as a spurious wake-up (epoll_wait
 * in the control loop and EAL's interrupt thread, nanosleep in the
 * dataplane's idle sleep).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include <urcu-qsbr.h>

#include "mb_log.h"
#include "mb_priv.h"

static uint64_t target;	 /* the set every thread keeps */
static int last_cap = 40; /* /proc/sys/kernel/cap_last_cap */
static bool can_bset;	 /* CAP_SETPCAP held: the bounding set can shrink */
static atomic_int handler_errno;

#define CAP_SETPCAP_BIT 8

/* The drop in the calling thread: async-signal-safe (raw system calls). */
static int
apply_self(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	for (int c = 0; can_bset && c <= last_cap && c < 64; c++) {
		if (target & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == -1)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 && errno != EINVAL)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -errno;
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)target;
	d[1].effective = d[1].permitted = (uint32_t)(target >> 32);
	if (syscall(SYS_capset, &h, d) == -1)
		return -errno;
	return 0;
}

static void
drop_handler(int sig)
{
	int saved = errno, rc;

	(void)sig;
	rc = apply_self();
	if (rc != 0)
		atomic_store(&handler_errno, -rc);
	errno = saved;
}

/* What /proc/<tid>/status says of a thread's privileges. */
struct tstatus {
	uint64_t eff, prm, bnd;
	unsigned nnp;
	char name[32];
};

/* Read the status file at @path into @ret; false when the thread is gone. */
static bool
read_status(const char *path, struct tstatus *ret)
{
	char line[256];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return false;
	memset(ret, 0, sizeof(*ret));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Name: %31s", ret->name) == 1 ||
		    sscanf(line, "CapEff: %" SCNx64, &ret->eff) == 1 ||
		    sscanf(line, "CapPrm: %" SCNx64, &ret->prm) == 1 ||
		    sscanf(line, "CapBnd: %" SCNx64, &ret->bnd) == 1 ||
		    sscanf(line, "NoNewPrivs: %u", &ret->nnp) == 1)
			continue;
	}
	fclose(f);
	return true;
}

static uint64_t
all_caps(void)
{
	return last_cap >= 63 ? UINT64_MAX : (1ULL << (last_cap + 1)) - 1;
}

static bool
status_done(const struct tstatus *s)
{
	return s->eff == target && s->prm == target &&
	       (!can_bset || (s->bnd & all_caps()) == target) && s->nnp == 1;
}

static void
read_last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int v;

	if (f != NULL) {
		if (fscanf(f, "%d", &v) == 1 && v > 0 && v < 64)
			last_cap = v;
		fclose(f);
	}
}

/* Set target (@keep within the calling thread's permitted set: it can only
 * shrink) and can_bset. */
static void
set_target(uint64_t keep)
{
	struct tstatus s;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
	if (!read_status(path, &s))
		memset(&s, 0, sizeof(s));
	target = keep & s.prm;
	can_bset = (s.eff & (1ULL << CAP_SETPCAP_BIT)) != 0;
}

static void *
prepare_main(void *arg)
{
	intptr_t rc = apply_self();

	(void)arg;
	if (rc == 0 && get_default_call_rcu_data() == NULL)
		rc = -ENOMEM;
	return (void *)rc;
}

int
mb_priv_prepare(uint64_t keep)
{
	pthread_t t;
	void *ret;
	int rc;

	read_last_cap();
	set_target(keep);
	rc = pthread_create(&t, NULL, prepare_main, NULL);
	if (rc != 0)
		return -rc;
	if (pthread_join(t, &ret) != 0)
		return -EINVAL;
	return (int)(intptr_t)ret;
}

/* One pass over the threads: count those not yet reduced, signal them when
 * @send, name them in the log when @last; returns the count. */
static int
signal_pass(pid_t pid, pid_t self, int *ret_err, bool send, bool last, int sig)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int pending = 0;

	if (dir == NULL) {
		*ret_err = -errno;
		return 0;
	}
	while ((de = readdir(dir)) != NULL) {
		char path[300];
		struct tstatus s;
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
		if (!read_status(path, &s) || status_done(&s))
			continue;
		if (last) {
			MB_LOG(ERR, MAIN, "thread %d (%s) kept capabilities %#" PRIx64
			       " (bounding %#" PRIx64 ", no_new_privs %u)", (int)tid, s.name, s.eff,
			       s.bnd, s.nnp);
			*ret_err = -EPERM;
			continue;
		}
		pending++;
		if (!send)
			continue;
		if (tid == self) {
			int rc = apply_self();

			if (rc != 0)
				*ret_err = rc;
		} else if (syscall(SYS_tgkill, pid, tid, sig) == -1 && errno != ESRCH) {
			*ret_err = -errno;
		}
	}
	closedir(dir);
	return pending;
}

int
mb_priv_drop(uint64_t keep)
{
	struct sigaction sa = {.sa_handler = drop_handler, .sa_flags = SA_RESTART};
	const struct timespec tick = {.tv_sec = 0, .tv_nsec = 2 * 1000 * 1000};
	int sig = SIGRTMIN + 4, err = 0, pass, pending = 1;
	pid_t pid = getpid(), self = (pid_t)syscall(SYS_gettid);
	sigset_t one;

	read_last_cap();
	set_target(keep);
	if (!can_bset)
		MB_LOG(WARNING, MAIN, "no CAP_SETPCAP: the bounding set stays as it is");
	atomic_store(&handler_errno, 0);
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) == -1)
		return -errno;
	sigemptyset(&one);
	sigaddset(&one, sig);
	(void)pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	/* A busy-polling lcore on a loaded machine may wait long for the CPU
	 * that runs its handler: check every 2 ms, signal who is left every
	 * 0.2 s, give up after 10 s. */
	for (pass = 0; pass < 5000 && pending > 0 && err == 0; pass++) {
		pending = signal_pass(pid, self, &err, pass % 100 == 0, false, sig);
		if (pending > 0)
			(void)nanosleep(&tick, NULL);
	}
	if (err == 0 && pending > 0)
		(void)signal_pass(pid, self, &err, false, true, sig);
	if (err == 0 && atomic_load(&handler_errno) != 0)
		err = -atomic_load(&handler_errno);
	/* A late signal must not kill: ignore it from now on. */
	sa.sa_handler = SIG_IGN;
	(void)sigaction(sig, &sa, NULL);
	return err;
}

void
mb_priv_names(uint64_t caps, char *buf, size_t len)
{
	static const char *const names[64] = {
		[0] = "CAP_CHOWN", [1] = "CAP_DAC_OVERRIDE", [2] = "CAP_DAC_READ_SEARCH",
		[3] = "CAP_FOWNER", [5] = "CAP_KILL", [6] = "CAP_SETGID", [7] = "CAP_SETUID",
		[8] = "CAP_SETPCAP", [10] = "CAP_NET_BIND_SERVICE", [12] = "CAP_NET_ADMIN",
		[13] = "CAP_NET_RAW", [14] = "CAP_IPC_LOCK", [17] = "CAP_SYS_RAWIO",
		[21] = "CAP_SYS_ADMIN", [24] = "CAP_SYS_RESOURCE", [38] = "CAP_PERFMON",
		[39] = "CAP_BPF",
	};
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (int c = 0; c < 64; c++) {
		int n;

		if (!(caps & (1ULL << c)))
			continue;
		if (names[c] != NULL)
			n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", names[c]);
		else
			n = snprintf(buf + off, len - off, "%scap %d", off ? ", " : "", c);
		if (n < 0 || (size_t)n >= len - off)
			return;
		off += (size_t)n;
	}
	if (off == 0)
		snprintf(buf, len, "none");
}
