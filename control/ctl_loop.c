/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread's event loop: one epoll set, an eventfd to stop, and
 * timers kept in a binary heap whose earliest deadline bounds each
 * epoll_wait, so a timer costs no descriptor.  That matters: a loop whose
 * timers need descriptors cannot arm the very timer that waits for
 * descriptors to come back, and every per-client timer would double what a
 * client costs.
 *
 * Handlers are looked up by fd in a growable array and carry a generation
 * number in the epoll cookie, so an event already returned by epoll_wait for
 * a handler that was deleted (or replaced on a reused fd) within the same
 * pass is dropped instead of reaching the wrong owner.
 *
 * Ownership rules (ctl.h):
 *  - a timer, one-shot or periodic, belongs to its creator from
 *    mb_ctl_timer_new until mb_ctl_timer_free; firing never frees it (a
 *    fired one-shot is merely disarmed and can be rearmed);
 *  - "free this object after the handler that is running returns" is
 *    mb_ctl_defer, whose node lives in the object: it cannot fail and needs
 *    nothing freed afterwards.
 * The loop counts live timers (mb_ctl_timer_count) so tests see a leak.
 *
 * Listening sockets accept through mb_ctl_accept: when the process (or the
 * system) is out of descriptors, accept4 fails while the connection stays in
 * the backlog, so a level-triggered listener would wake the loop forever.
 * Instead the listener is taken out of the epoll set's interest for
 * ACCEPT_PAUSE_MS, the pause is counted and logged (rate-limited), and the
 * waiting clients are served once descriptors are back.
 *
 * Single-threaded: every function except mb_ctl_loop_stop() runs on the
 * control thread.  When that thread is a liburcu-qsbr reader it goes offline
 * while it waits in epoll_wait, so it never holds up a grace period.  It
 * does not handle signals; ctl.c watches a signalfd.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_log.h"
#include "mb_time.h"

#define ACCEPT_PAUSE_MS 100
#define NOT_ARMED SIZE_MAX

struct handler {
	mb_ctl_fd_fn fn;
	void *arg;
	uint32_t gen;
	uint32_t events; /* what the owner asked for (kept while paused) */
	bool used;
	bool paused;	 /* a listener out of descriptors: no events until resumed */
};

struct mb_ctl_timer {
	uint64_t due;	 /* CLOCK_MONOTONIC ns */
	uint64_t period; /* ns, 0 = one-shot */
	mb_ctl_timer_fn fn;
	void *arg;
	size_t idx; /* in the heap, NOT_ARMED when disarmed */
};

static int loop_epfd = -1;
static int loop_stopfd = -1;
static struct handler *handlers;
static size_t nhandlers;
static uint32_t gen_next = 1;
static _Atomic bool loop_stopping;
static bool loop_rcu;

static struct mb_ctl_timer **heap; /* min-heap on due */
static size_t heap_len, heap_cap;
static unsigned ntimers;
static bool in_timer_pass;
static uint64_t pass_now; /* the clock the running timer pass fires against */

static struct mb_ctl_defer *defer_head, **defer_tail = &defer_head;

static struct mb_ctl_timer *accept_timer;
static unsigned npaused;
static uint64_t accept_pauses;

static void
stop_io(int fd, uint32_t events, void *arg)
{
	uint64_t v;

	(void)events;
	(void)arg;
	(void)!read(fd, &v, sizeof(v));
	atomic_store(&loop_stopping, true);
}

static void accept_resume(void *arg);

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
	npaused = 0;
	accept_pauses = 0;
	accept_timer = mb_ctl_timer_new(0, 0, accept_resume, NULL);
	if (accept_timer == NULL)
		return -errno;
	mb_ctl_timer_disarm(accept_timer);
	return mb_ctl_loop_add(loop_stopfd, EPOLLIN, stop_io, NULL);
}

static void defer_run_all(void);

void
mb_ctl_loop_fini(void)
{
	/* Deferred frees still queued belong to objects already unlinked. */
	defer_run_all();
	mb_ctl_timer_free(accept_timer);
	accept_timer = NULL;
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
	if (ntimers != 0)
		MB_LOG(WARNING, CTL, "event loop: %u timer(s) never freed by their owner, ignoring",
		       ntimers);
	/* The heap array only: the timers in it belong to their creators. */
	free(heap);
	heap = NULL;
	heap_len = heap_cap = 0;
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
	handlers[fd] = (struct handler){
		.fn = fn, .arg = arg, .gen = gen_next++, .events = events, .used = true};
	ev.data.u64 = (uint64_t)handlers[fd].gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop_epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		handlers[fd].used = false;
		return -errno;
	}
	return 0;
}

static int
epoll_set(int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};

	ev.data.u64 = (uint64_t)handlers[fd].gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop_epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		return -errno;
	return 0;
}

int
mb_ctl_loop_mod(int fd, uint32_t events)
{
	if (fd < 0 || (size_t)fd >= nhandlers || !handlers[fd].used)
		return -ENOENT;
	handlers[fd].events = events;
	if (handlers[fd].paused)
		return 0; /* applied when the pause ends */
	return epoll_set(fd, events);
}

int
mb_ctl_loop_del(int fd)
{
	if (fd < 0 || (size_t)fd >= nhandlers || !handlers[fd].used)
		return -ENOENT;
	handlers[fd].used = false;
	if (handlers[fd].paused) {
		handlers[fd].paused = false;
		npaused--;
	}
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

/* ---- timers --------------------------------------------------------------- */

static bool
heap_less(size_t a, size_t b)
{
	return heap[a]->due < heap[b]->due;
}

static void
heap_swap(size_t a, size_t b)
{
	struct mb_ctl_timer *t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->idx = a;
	heap[b]->idx = b;
}

static void
heap_up(size_t i)
{
	while (i > 0 && heap_less(i, (i - 1) / 2)) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < heap_len && heap_less(l, m))
			m = l;
		if (r < heap_len && heap_less(r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

/* Room for every live timer was reserved by mb_ctl_timer_new: never fails. */
static void
heap_push(struct mb_ctl_timer *t)
{
	t->idx = heap_len;
	heap[heap_len++] = t;
	heap_up(t->idx);
}

static void
heap_remove(struct mb_ctl_timer *t)
{
	size_t i = t->idx;

	if (i == NOT_ARMED)
		return;
	t->idx = NOT_ARMED;
	if (i != --heap_len) {
		heap[i] = heap[heap_len];
		heap[i]->idx = i;
		heap_down(i);
		heap_up(i);
	}
}

static uint64_t
ms_to_ns(uint64_t ms)
{
	return ms > UINT64_MAX / 2 / 1000000ull ? UINT64_MAX / 2 : ms * 1000000ull;
}

int
mb_ctl_timer_rearm(struct mb_ctl_timer *t, uint64_t first_ms, uint64_t period_ms)
{
	uint64_t now = mb_time_mono_ns();

	if (t == NULL)
		return -EINVAL;
	heap_remove(t);
	t->due = now + ms_to_ns(first_ms);
	/* Armed by a timer callback: not before the next pass, so a timer that
	 * rearms itself at 0 ms yields to the descriptors instead of looping. */
	if (in_timer_pass && t->due <= pass_now)
		t->due = pass_now + 1;
	t->period = ms_to_ns(period_ms);
	heap_push(t);
	return 0;
}

void
mb_ctl_timer_disarm(struct mb_ctl_timer *t)
{
	if (t != NULL)
		heap_remove(t);
}

struct mb_ctl_timer *
mb_ctl_timer_new(uint64_t first_ms, uint64_t period_ms, mb_ctl_timer_fn fn, void *arg)
{
	struct mb_ctl_timer *t;

	if (fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (heap_cap < (size_t)ntimers + 1) {
		size_t n = heap_cap ? heap_cap * 2 : 64;
		struct mb_ctl_timer **h = reallocarray(heap, n, sizeof(*h));

		if (h == NULL)
			return NULL;
		heap = h;
		heap_cap = n;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->idx = NOT_ARMED;
	ntimers++;
	(void)mb_ctl_timer_rearm(t, first_ms, period_ms);
	return t;
}

void
mb_ctl_timer_free(struct mb_ctl_timer *t)
{
	if (t == NULL)
		return;
	heap_remove(t);
	ntimers--;
	free(t);
}

unsigned
mb_ctl_timer_count(void)
{
	return ntimers;
}

/* Fire every timer due at the start of the pass.  A callback may free or
 * rearm any timer, itself included: the heap is re-read after each one. */
static void
timers_run(void)
{
	pass_now = mb_time_mono_ns();
	in_timer_pass = true;
	while (heap_len > 0 && heap[0]->due <= pass_now) {
		struct mb_ctl_timer *t = heap[0];

		heap_remove(t);
		if (t->period != 0) {
			t->due += t->period;
			if (t->due <= pass_now) /* missed beats fire once */
				t->due = pass_now + t->period;
			heap_push(t);
		}
		t->fn(t->arg);
	}
	in_timer_pass = false;
}

/* Milliseconds until the next timer (rounded up), capped by timeout_ms
 * (-1 = no cap). */
static int
wait_ms(int timeout_ms)
{
	uint64_t now, ms;

	if (defer_head != NULL)
		return 0;
	if (heap_len == 0)
		return timeout_ms;
	now = mb_time_mono_ns();
	if (heap[0]->due <= now)
		return 0;
	ms = (heap[0]->due - now + 999999) / 1000000;
	if (ms > INT_MAX)
		ms = INT_MAX;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms < ms)
		return timeout_ms;
	return (int)ms;
}

/* ---- deferred calls ------------------------------------------------------------ */

void
mb_ctl_defer(struct mb_ctl_defer *d, mb_ctl_timer_fn fn, void *arg)
{
	if (d->queued)
		return;
	d->fn = fn;
	d->arg = arg;
	d->next = NULL;
	d->queued = true;
	*defer_tail = d;
	defer_tail = &d->next;
}

/* Run what was deferred before this call (what those calls defer waits for
 * the next pass). */
static void
defer_run_all(void)
{
	struct mb_ctl_defer *d = defer_head;

	defer_head = NULL;
	defer_tail = &defer_head;
	while (d != NULL) {
		struct mb_ctl_defer *next = d->next;

		d->queued = false;
		d->fn(d->arg); /* may free d */
		d = next;
	}
}

/* ---- accepting without spinning ------------------------------------------------ */

static void
accept_resume(void *arg)
{
	(void)arg;
	for (size_t fd = 0; fd < nhandlers && npaused > 0; fd++) {
		if (!handlers[fd].used || !handlers[fd].paused)
			continue;
		handlers[fd].paused = false;
		npaused--;
		(void)epoll_set((int)fd, handlers[fd].events);
	}
}

static void
accept_pause(int lfd, int err)
{
	static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 3);

	accept_pauses++;
	MB_LOG_RL(&rl, WARNING, CTL,
		  "accept: %s: not accepting for %u ms (%" PRIu64 " pauses so far), retrying",
		  strerror(err), ACCEPT_PAUSE_MS, accept_pauses);
	if ((size_t)lfd < nhandlers && handlers[lfd].used && !handlers[lfd].paused) {
		handlers[lfd].paused = true;
		npaused++;
		(void)epoll_set(lfd, 0);
	}
	if (accept_timer != NULL && accept_timer->idx == NOT_ARMED)
		(void)mb_ctl_timer_rearm(accept_timer, ACCEPT_PAUSE_MS, 0);
}

int
mb_ctl_accept(int lfd, struct sockaddr *sa, socklen_t *salen)
{
	for (;;) {
		int fd = accept4(lfd, sa, salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int err = errno;

		if (fd >= 0)
			return fd;
		switch (err) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			accept_pause(lfd, err);
			errno = EAGAIN;
			return -1;
		default:
			errno = err;
			return -1;
		}
	}
}

json_t *
mb_ctl_loop_health_json(void)
{
	struct rlimit rl;
	json_int_t lim = -1;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		lim = (json_int_t)rl.rlim_cur;
	return json_pack("{s:I,s:i,s:i,s:I}", "accept-pauses", (json_int_t)accept_pauses,
			 "listeners-paused", (int)npaused, "timers", (int)ntimers, "fd-limit",
			 lim);
}

/* ---- the loop ---------------------------------------------------------------------- */

int
mb_ctl_loop_run_once(int timeout_ms)
{
	struct epoll_event evs[32];
	int n, tmo = wait_ms(timeout_ms);

	/* A registered liburcu-qsbr reader must not hold up grace periods while
	 * it sleeps: offline across the wait (handlers then run online, as
	 * one read-side section per pass). */
	if (loop_rcu)
		rcu_thread_offline();
	n = epoll_wait(loop_epfd, evs, 32, tmo);
	if (loop_rcu)
		rcu_thread_online();

	if (n == -1) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct handler h;

		if ((size_t)fd >= nhandlers || !handlers[fd].used || handlers[fd].gen != gen)
			continue;
		h = handlers[fd];
		h.fn(fd, evs[i].events, h.arg);
	}
	timers_run();
	defer_run_all();
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

int
mb_ctl_listen_tcp(const char *spec, int backlog)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char host[64];
	const char *colon = strrchr(spec, ':'), *h;
	int fd, one = 1, rc;
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return -EINVAL;
	h = spec;
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	rc = getaddrinfo(hl == 0 || strcmp(host, "*") == 0 ? NULL : host, colon + 1, &hints, &ai);
	if (rc != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		rc = -errno;
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, backlog) == -1) {
		rc = -errno;
		(void)close(fd);
		goto out;
	}
	rc = fd;
out:
	freeaddrinfo(ai);
	return rc;
}
