/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fill queue (see mb_fillq.h): a ring of datagram slots from the
 * dataplane's lcores to the control thread, with an eventfd wakeup.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mb_fillq.h"

struct mb_fillq *
mb_fillq_new(unsigned int nslots, uint32_t server, uint16_t port, uint32_t group)
{
	struct mb_fillq *q;

	if (nslots < 2 || (nslots & (nslots - 1)) != 0 || nslots > (1u << 20)) {
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof(*q) + (size_t)nslots * sizeof(q->slots[0]));
	if (q == NULL)
		return NULL;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd == -1) {
		int e = errno;

		free(q);
		errno = e;
		return NULL;
	}
	q->server = server;
	q->group = group;
	q->port = port;
	q->mask = nslots - 1;
	atomic_flag_clear(&q->plock);
	atomic_store(&q->want_wake, true); /* the first push wakes the consumer */
	return q;
}

void
mb_fillq_free(struct mb_fillq *q)
{
	if (q == NULL)
		return;
	if (q->efd >= 0)
		(void)close(q->efd);
	free(q);
}

static void
free_cb(struct rcu_head *h)
{
	mb_fillq_free(caa_container_of(h, struct mb_fillq, rcu));
}

void
mb_fillq_free_deferred(struct mb_fillq *q)
{
	if (q != NULL)
		call_rcu(&q->rcu, free_cb);
}

bool
mb_fillq_push(struct mb_fillq *q, uint32_t src, uint16_t sport, const void *data, size_t len)
{
	struct mb_fillq_slot *s;
	uint32_t h;
	uint64_t one = 1;

	if (len > MB_FILLQ_DATA_MAX) {
		atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
		return false;
	}
	while (atomic_flag_test_and_set_explicit(&q->plock, memory_order_acquire))
		;
	h = atomic_load_explicit(&q->head, memory_order_relaxed);
	if (h - atomic_load_explicit(&q->tail, memory_order_acquire) > q->mask) {
		atomic_flag_clear_explicit(&q->plock, memory_order_release);
		atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
		return false;
	}
	s = &q->slots[h & q->mask];
	s->src = src;
	s->sport = sport;
	s->len = (uint16_t)len;
	memcpy(s->data, data, len);
	/* seq_cst: ordered before the load of want_wake below (see arm) */
	atomic_store(&q->head, h + 1);
	atomic_flag_clear_explicit(&q->plock, memory_order_release);
	atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
	if (atomic_load(&q->want_wake) && atomic_exchange(&q->want_wake, false)) {
		atomic_fetch_add_explicit(&q->wakeups, 1, memory_order_relaxed);
		(void)!write(q->efd, &one, sizeof(one));
	}
	return true;
}

unsigned int
mb_fillq_peek(struct mb_fillq *q, const struct mb_fillq_slot **out, unsigned int max)
{
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	unsigned int n = 0;

	while (t != h && n < max)
		out[n++] = &q->slots[t++ & q->mask];
	return n;
}

void
mb_fillq_release(struct mb_fillq *q, unsigned int n)
{
	atomic_fetch_add_explicit(&q->tail, n, memory_order_release);
}

bool
mb_fillq_arm(struct mb_fillq *q)
{
	uint64_t v;

	(void)!read(q->efd, &v, sizeof(v));
	/* seq_cst store, then seq_cst load of head: a producer that published
	 * after our load sees want_wake set and writes the eventfd */
	atomic_store(&q->want_wake, true);
	return atomic_load(&q->head) != atomic_load_explicit(&q->tail, memory_order_relaxed);
}
