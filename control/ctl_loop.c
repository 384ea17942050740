/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread's event loop: one epoll set, one timerfd per timer, an
 * eventfd to stop.  Handlers are looked up by fd in a growable array and
 * carry a generation number in the epoll cookie, so an event already returned
 * by epoll_wait for a handler that was deleted (or replaced on a reused fd)
 * within the same pass is dropped instead of reaching the wrong owner.
 *
 * Single-threaded: every function except mb_ctl_loop_stop() runs on the
 * control thread.  When that thread is a liburcu-qsbr reader it goes offline
 * while it waits in epoll_wait, so it never holds up a grace period.  It
 * does not handle signals; ctl.c watches a signalfd.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_priv.h"

struct handler {
	mb_ctl_fd_fn fn;
	void *arg;
	uint32_t gen;
	bool used;
};

struct mb_ctl_timer {
	int fd;
	mb_ctl_timer_fn fn;
	void *arg;
};

static int loop_epfd = -1;
static int loop_stopfd = -1;
static struct handler *handlers;
static size_t nhandlers;
static uint32_t gen_next = 1;
static _Atomic bool loop_stopping;
static bool loop_rcu;

static void
stop_io(int fd, uint32_t events, void *arg)
{
	uint64_t v;

	(void)events;
	(void)arg;
	(void)!read(fd, &v, sizeof(v));
	atomic_store(&loop_stopping, true);
}

int
mb_ctl_loop_init(void)
{
	int rc;

	loop_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop_epfd == -1)
		return -errno;
	loop_stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop_stopfd == -1) {
		rc = -errno;
		(void)close(loop_epfd);
		loop_epfd = -1;
		return rc;
	}
	atomic_store(&loop_stopping, false);
	return mb_ctl_loop_add(loop_stopfd, EPOLLIN, stop_io, NULL);
}

void
mb_ctl_loop_fini(void)
{
	if (loop_stopfd >= 0) {
		(void)mb_ctl_loop_del(loop_stopfd);
		(void)close(loop_stopfd);
	}
	if (loop_epfd >= 0)
		(void)close(loop_epfd);
	loop_stopfd = loop_epfd = -1;
	free(handlers);
	handlers = NULL;
	nhandlers = 0;
}

int
mb_ctl_loop_add(int fd, uint32_t events, mb_ctl_fd_fn fn, void *arg)
{
	struct epoll_event ev = {.events = events};

	if (fd < 0 || fn == NULL || loop_epfd < 0)
		return -EINVAL;
	if ((size_t)fd >= nhandlers) {
		size_t n = nhandlers ? nhandlers : 64;
		struct handler *h;

		while (n <= (size_t)fd)
			n *= 2;
		h = reallocarray(handlers, n, sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		memset(h + nhandlers, 0, (n - nhandlers) * sizeof(*h));
		handlers = h;
		nhandlers = n;
	}
	if (handlers[fd].used)
		return -EEXIST;
	handlers[fd] = (struct handler){.fn = fn, .arg = arg, .gen = gen_next++, .used = true};
	ev.data.u64 = (uint64_t)handlers[fd].gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop_epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		handlers[fd].used = false;
		return -errno;
	}
	return 0;
}

int
mb_ctl_loop_mod(int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};

	if (fd < 0 || (size_t)fd >= nhandlers || !handlers[fd].used)
		return -ENOENT;
	ev.data.u64 = (uint64_t)handlers[fd].gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop_epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		return -errno;
	return 0;
}

int
mb_ctl_loop_del(int fd)
{
	if (fd < 0 || (size_t)fd >= nhandlers || !handlers[fd].used)
		return -ENOENT;
	handlers[fd].used = false;
	if (epoll_ctl(loop_epfd, EPOLL_CTL_DEL, fd, NULL) == -1)
		return -errno;
	return 0;
}

void
mb_ctl_loop_stop(void)
{
	uint64_t one = 1;

	atomic_store(&loop_stopping, true);
	if (loop_stopfd >= 0)
		(void)!write(loop_stopfd, &one, sizeof(one));
}

bool
mb_ctl_loop_stopping(void)
{
	return atomic_load(&loop_stopping);
}

void
mb_ctl_loop_set_rcu(bool registered)
{
	loop_rcu = registered;
}

int
mb_ctl_loop_run_once(int timeout_ms)
{
	struct epoll_event evs[32];
	int n;

	/* A registered liburcu-qsbr reader must not hold up grace periods while
	 * it sleeps: offline across the wait (handlers then run online, as
	 * one read-side section per pass). */
	if (loop_rcu)
		rcu_thread_offline();
	n = epoll_wait(loop_epfd, evs, 32, timeout_ms);
	if (loop_rcu)
		rcu_thread_online();

	if (n == -1)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct handler h;

		if ((size_t)fd >= nhandlers || !handlers[fd].used || handlers[fd].gen != gen)
			continue;
		h = handlers[fd];
		h.fn(fd, evs[i].events, h.arg);
	}
	return n;
}

int
mb_ctl_loop_run(void)
{
	while (!atomic_load(&loop_stopping)) {
		int rc = mb_ctl_loop_run_once(-1);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- timers --------------------------------------------------------------- */

static void
timer_io(int fd, uint32_t events, void *arg)
{
	struct mb_ctl_timer *t = arg;
	uint64_t expirations;

	(void)events;
	if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	/* fn may free t: touch nothing after it. */
	t->fn(t->arg);
}

static void
ms_to_ts(uint64_t ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

int
mb_ctl_timer_rearm(struct mb_ctl_timer *t, uint64_t first_ms, uint64_t period_ms)
{
	struct itimerspec its = {0};

	/* 0 would disarm the timerfd: "after 0 ms" means as soon as possible. */
	ms_to_ts(first_ms ? first_ms : 0, &its.it_value);
	if (first_ms == 0)
		its.it_value.tv_nsec = 1;
	ms_to_ts(period_ms, &its.it_interval);
	if (timerfd_settime(t->fd, 0, &its, NULL) == -1)
		return -errno;
	return 0;
}

struct mb_ctl_timer *
mb_ctl_timer_new(uint64_t first_ms, uint64_t period_ms, mb_ctl_timer_fn fn, void *arg)
{
	struct mb_ctl_timer *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd == -1) {
		rc = errno;
		free(t);
		errno = rc;
		return NULL;
	}
	rc = mb_ctl_timer_rearm(t, first_ms, period_ms);
	if (rc == 0)
		rc = mb_ctl_loop_add(t->fd, EPOLLIN, timer_io, t);
	if (rc != 0) {
		(void)close(t->fd);
		free(t);
		errno = -rc;
		return NULL;
	}
	return t;
}

void
mb_ctl_timer_free(struct mb_ctl_timer *t)
{
	if (t == NULL)
		return;
	(void)mb_ctl_loop_del(t->fd);
	(void)close(t->fd);
	free(t);
}
