/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fill queue (common/mb_fillq.c): the key matches what the parent's
 * session sends us and nothing else; slots come out in order with their
 * sender; a full ring drops and counts; the eventfd wakeup is written once
 * per arm and never lost: two producer threads push 200,000 datagrams while
 * the consumer sleeps in poll() on the eventfd between batches, and every
 * datagram arrives, each producer's in order.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mb_fillq.h"

#define A(a, b, c, d) ((uint32_t)((a) | (b) << 8 | (c) << 16 | (uint32_t)(d) << 24))

static void
test_match(void **state)
{
	uint32_t srv = A(10, 0, 0, 1), me = A(10, 0, 0, 2), bc = A(10, 0, 0, 255);
	uint32_t grp = A(239, 1, 2, 3);
	struct mb_fillq *u = mb_fillq_new(4, srv, 4564, 0);
	struct mb_fillq *m = mb_fillq_new(4, srv, 4564, grp);

	(void)state;
	assert_non_null(u);
	assert_non_null(m);
	assert_true(mb_fillq_match(u, srv, me, 4564, me, bc));
	assert_true(mb_fillq_match(u, srv, bc, 4564, me, bc));
	assert_false(mb_fillq_match(u, srv, me, 4565, me, bc));     /* another port */
	assert_false(mb_fillq_match(u, A(10, 0, 0, 9), me, 4564, me, bc)); /* not the server */
	assert_false(mb_fillq_match(u, srv, A(10, 0, 0, 7), 4564, me, bc)); /* not to us */
	assert_false(mb_fillq_match(u, srv, grp, 4564, me, bc)); /* no group */
	/* the group: the server's blocks and other receivers' requests */
	assert_true(mb_fillq_match(m, srv, grp, 4564, me, bc));
	assert_true(mb_fillq_match(m, A(10, 0, 0, 9), grp, 4564, me, bc));
	assert_false(mb_fillq_match(m, A(10, 0, 0, 9), A(239, 1, 2, 4), 4564, me, bc));
	mb_fillq_free(u);
	mb_fillq_free(m);
}

static void
test_order_full(void **state)
{
	struct mb_fillq *q = mb_fillq_new(4, 1, 1, 0);
	const struct mb_fillq_slot *s[8];
	uint8_t big[MB_FILLQ_DATA_MAX + 1];
	uint32_t v;

	(void)state;
	assert_null(mb_fillq_new(3, 1, 1, 0)); /* not a power of two */
	assert_non_null(q);
	assert_false(mb_fillq_arm(q)); /* empty */
	for (v = 0; v < 4; v++)
		assert_true(mb_fillq_push(q, 100 + v, (uint16_t)(200 + v), &v, sizeof(v)));
	assert_false(mb_fillq_push(q, 1, 1, &v, sizeof(v))); /* full */
	memset(big, 0, sizeof(big));
	assert_false(mb_fillq_push(q, 1, 1, big, sizeof(big))); /* too long */
	assert_int_equal(atomic_load(&q->dropped), 2);
	assert_int_equal(atomic_load(&q->wakeups), 1); /* once, for the armed queue */
	assert_true(mb_fillq_arm(q));                   /* not empty */
	assert_int_equal(mb_fillq_peek(q, s, 3), 3);
	for (v = 0; v < 3; v++) {
		assert_int_equal(s[v]->src, 100 + v);
		assert_int_equal(s[v]->sport, 200 + v);
		assert_int_equal(s[v]->len, sizeof(v));
		assert_memory_equal(s[v]->data, &v, sizeof(v));
	}
	mb_fillq_release(q, 2); /* the third stays */
	assert_int_equal(mb_fillq_peek(q, s, 8), 2);
	assert_int_equal(s[0]->src, 102);
	assert_int_equal(s[1]->src, 103);
	mb_fillq_release(q, 2);
	assert_int_equal(mb_fillq_peek(q, s, 8), 0);
	/* wraps: 4 more fit again */
	for (v = 0; v < 4; v++)
		assert_true(mb_fillq_push(q, v, 0, &v, sizeof(v)));
	assert_int_equal(mb_fillq_peek(q, s, 8), 4);
	assert_int_equal(s[3]->src, 3);
	mb_fillq_release(q, 4);
	mb_fillq_free(q);
}

#define PER_PRODUCER 100000

struct prod {
	struct mb_fillq *q;
	uint32_t id;
};

static void *
producer(void *arg)
{
	struct prod *p = arg;
	uint32_t v[2] = {p->id, 0};

	while (v[1] < PER_PRODUCER) {
		if (mb_fillq_push(p->q, p->id, 0, v, sizeof(v)))
			v[1]++;
		else
			usleep(10); /* full: the consumer is behind */
	}
	return NULL;
}

static void
test_threads_wakeup(void **state)
{
	struct mb_fillq *q = mb_fillq_new(256, 1, 1, 0);
	struct prod p[2] = {{q, 0}, {q, 1}};
	const struct mb_fillq_slot *s[64];
	uint32_t next[2] = {0, 0}, v[2];
	pthread_t t[2];
	unsigned int n, i, got = 0;
	int timeouts = 0;

	(void)state;
	assert_non_null(q);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, producer, &p[i]), 0);
	while (got < 2 * PER_PRODUCER) {
		n = mb_fillq_peek(q, s, 64);
		if (n == 0) {
			struct pollfd pfd = {.fd = q->efd, .events = POLLIN};

			if (mb_fillq_arm(q))
				continue;
			/* a lost wakeup would sleep here for good */
			if (poll(&pfd, 1, 5000) == 0)
				timeouts++;
			assert_int_equal(timeouts, 0);
			continue;
		}
		for (i = 0; i < n; i++) {
			memcpy(v, s[i]->data, sizeof(v));
			assert_true(v[0] < 2);
			assert_int_equal(v[1], next[v[0]]); /* in order, none lost */
			next[v[0]]++;
		}
		mb_fillq_release(q, n);
		got += n;
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(next[0], PER_PRODUCER);
	assert_int_equal(next[1], PER_PRODUCER);
	assert_int_equal(atomic_load(&q->pushed), 2 * PER_PRODUCER);
	mb_fillq_free(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_order_full),
	    cmocka_unit_test(test_threads_wakeup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
