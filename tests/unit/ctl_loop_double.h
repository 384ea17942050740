/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A minimal control loop behind the ctl.h loop and timer API, for the unit
 * tests that run control-plane modules (ctl_master.c, ctl_ftp.c) on loopback
 * without the daemon's ctl_loop.c: an epoll set indexed by fd and a list of
 * one-shot timers, driven by the test calling loop_once().  It defines the
 * ctl.h functions themselves, so include it in exactly one file of a test
 * executable that does not link ctl_loop.c.  The test creates `epfd`
 * (epoll_create1) before starting the module and closes it at the end.
 * Periodic timers fire once: the tests need no more.
 */
#ifndef _MB_TEST_CTL_LOOP_DOUBLE_H_
#define _MB_TEST_CTL_LOOP_DOUBLE_H_

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

#include "ctl.h"

#define NFD 1024
static int epfd = -1;
static struct {
	mb_ctl_fd_fn fn;
	void *arg;
} fds[NFD];

struct mb_ctl_timer {
	uint64_t due_ms;
	mb_ctl_timer_fn fn;
	void *arg;
	struct mb_ctl_timer *next;
	bool dead;
};
static struct mb_ctl_timer *timers;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
mb_ctl_loop_add(int fd, uint32_t events, mb_ctl_fd_fn fn, void *arg)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (fd < 0 || fd >= NFD)
		return -EINVAL;
	fds[fd].fn = fn;
	fds[fd].arg = arg;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1 ? -errno : 0;
}

int
mb_ctl_loop_mod(int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1 ? -errno : 0;
}

int
mb_ctl_loop_del(int fd)
{
	fds[fd].fn = NULL;
	return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) == -1 ? -errno : 0;
}

struct mb_ctl_timer *
mb_ctl_timer_new(uint64_t first_ms, uint64_t period_ms, mb_ctl_timer_fn fn, void *arg)
{
	struct mb_ctl_timer *t = calloc(1, sizeof(*t));

	(void)period_ms;
	if (t == NULL)
		return NULL;
	t->due_ms = now_ms() + first_ms;
	t->fn = fn;
	t->arg = arg;
	t->next = timers;
	timers = t;
	return t;
}

void
mb_ctl_timer_free(struct mb_ctl_timer *t)
{
	if (t != NULL)
		t->dead = true; /* reaped by the loop: safe from inside its callback */
}

/* One epoll_wait of at most `ms`, then the due timers, then reap the dead. */
static void
loop_once(int ms)
{
	struct epoll_event ev[16];
	struct mb_ctl_timer **pp, *t;
	uint64_t now;
	int i, n;

	n = epoll_wait(epfd, ev, 16, ms);
	for (i = 0; i < n; i++)
		if (fds[ev[i].data.fd].fn != NULL)
			fds[ev[i].data.fd].fn(ev[i].data.fd, ev[i].events, fds[ev[i].data.fd].arg);
	now = now_ms();
	for (t = timers; t != NULL; t = t->next)
		if (!t->dead && t->due_ms <= now) {
			t->dead = true;
			t->fn(t->arg);
		}
	for (pp = &timers; *pp != NULL;) {
		t = *pp;
		if (t->dead) {
			*pp = t->next;
			free(t);
		} else {
			pp = &t->next;
		}
	}
}

#endif /* _MB_TEST_CTL_LOOP_DOUBLE_H_ */
