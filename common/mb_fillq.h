/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fill queue: datagrams of one Frisbee session that the dataplane
 * receives for a receiver on the control thread (the parent origin's fill),
 * copied into fixed slots of a ring so that no mbuf is held while the
 * control thread is busy elsewhere, and no kernel socket or TAP is on the
 * way.
 *
 * Producers are the dataplane's lcores (any number: a small spin lock
 * serialises them; with one lcore it is never contended); the one consumer
 * is the control thread, which peeks a batch of slots, handles them in
 * place and releases them.  The consumer sleeps in its epoll loop on the
 * queue's eventfd: after it found the queue empty it arms the wakeup
 * (mb_fillq_arm), and the next push writes the eventfd once.  Arm and push
 * are ordered like Dekker's flags (both sequentially consistent), so a
 * datagram pushed while the consumer arms is never left without a wakeup.
 *
 * A full ring drops the datagram (counted); the receiver asks for what it
 * lacks again, as it does for any loss.  DPDK-free: the dataplane only
 * matches datagrams against the queue's key and pushes (dp_fill.c).
 */
#ifndef _MB_FILLQ_H_
#define _MB_FILLQ_H_

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu-qsbr.h>

#define MB_FILLQ_DATA_MAX 1088 /* a Frisbee packet (1080) fits */

struct mb_fillq_slot {
	uint32_t src;	/* sender's address, network order */
	uint16_t sport; /* sender's port, host order */
	uint16_t len;
	uint8_t data[MB_FILLQ_DATA_MAX];
};

struct mb_fillq {
	/* the key, fixed at mb_fillq_new: UDP to `port` from `server` (to
	 * us or broadcast), or to `group` (0: none) from anyone */
	uint32_t server; /* network order */
	uint32_t group;	 /* network order, 0 = unicast/broadcast */
	uint16_t port;	 /* host order */
	int efd;	 /* the consumer's wakeup, nonblocking */
	uint32_t mask;	 /* slots - 1 */
	_Atomic uint32_t head;	    /* next slot a producer fills */
	_Atomic uint32_t tail;	    /* next slot the consumer reads */
	_Atomic bool want_wake;	    /* the consumer armed: the next push wakes it */
	atomic_flag plock;	    /* producers */
	_Atomic uint64_t pushed;    /* datagrams queued */
	_Atomic uint64_t dropped;   /* ring full or too long */
	_Atomic uint64_t wakeups;   /* eventfd writes */
	struct rcu_head rcu;	    /* deferred free after the lcores let go */
	struct mb_fillq_slot slots[];
};

/* A queue of `nslots` (a power of two, at least 2) for the key.  NULL with
 * errno (EINVAL, ENOMEM, or eventfd's). */
struct mb_fillq *mb_fillq_new(unsigned int nslots, uint32_t server, uint16_t port,
			      uint32_t group);
/* Free q (NULL is fine).  Only when no producer can reach it any more. */
void mb_fillq_free(struct mb_fillq *q);
/* Free q after an RCU grace period (liburcu-qsbr call_rcu): for a queue a
 * producer may still hold until its next quiescent state. */
void mb_fillq_free_deferred(struct mb_fillq *q);

/* Does a datagram from src to dst:dport (network order addresses, dst the
 * packet's destination; `local` our address) belong to q?  Any thread. */
static inline bool
mb_fillq_match(const struct mb_fillq *q, uint32_t src, uint32_t dst, uint16_t dport,
	       uint32_t local, uint32_t bcast)
{
	if (dport != q->port)
		return false;
	if (q->group != 0 && dst == q->group)
		return true; /* the session's group: blocks and other receivers' requests */
	return src == q->server && (dst == local || dst == bcast || dst == 0xffffffffu);
}

/* Producer: queue a copy of the datagram.  false when it was dropped
 * (ring full, or longer than MB_FILLQ_DATA_MAX), counted. */
bool mb_fillq_push(struct mb_fillq *q, uint32_t src, uint16_t sport, const void *data,
		   size_t len);

/* Consumer: up to max queued slots into out[], oldest first; they stay
 * valid until mb_fillq_release.  The count. */
unsigned int mb_fillq_peek(struct mb_fillq *q, const struct mb_fillq_slot **out,
			   unsigned int max);
/* Consumer: give back the first n slots of the last peek. */
void mb_fillq_release(struct mb_fillq *q, unsigned int n);
/* Consumer: reset the eventfd, then arm the wakeup.  false: the queue is
 * empty and the next push will wake the consumer; true: datagrams are
 * already there (peek them; no wakeup is owed for them). */
bool mb_fillq_arm(struct mb_fillq *q);

#endif /* _MB_FILLQ_H_ */
