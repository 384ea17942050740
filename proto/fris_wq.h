/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-session Frisbee work queue with the stock frisbeed's rules (doc/frisbee-protocol.md).
 *
 * JOIN replies go ahead of everything else.  REQUEST and PREQUEST become
 * 1024-bit block maps (clipped to the chunk's real length) and are merged
 * into the newest queued element of the same chunk, where a full-chunk
 * element absorbs everything; the head element, whose run is in flight, only
 * takes requests that start beyond the run; a full-chunk request for the
 * chunk now being sent in full is dropped; otherwise the request is appended
 * at the tail.  Dequeue yields the head element's first contiguous run of
 * set blocks; the element stays at the head until it is empty.
 *
 * The stock server finds the element to merge with by scanning the queue
 * newest to oldest; here a per-chunk index of the newest element gives the
 * same answer in O(1).  Storage is one allocation per session, sized by the
 * chunk count: at most one element per chunk plus the head in flight can be
 * queued, so the ring never needs more than nchunks + 1 slots (a smaller
 * `max_elems` bound turns the excess into counted drops).
 *
 * Not thread-safe: one owner (a dataplane lcore, or a test) per queue.  Never
 * logs, never blocks, no DPDK.
 */
#ifndef _MB_FRIS_WQ_H_
#define _MB_FRIS_WQ_H_

#include <stdbool.h>
#include <stdint.h>

#include "fris_wire.h"

/* Pending JOIN replies; further JOINs (not duplicates) are dropped and counted. */
#define MB_FRIS_WQ_MAX_JOINS 64

struct mb_fris_wq_stats {
	uint64_t joins;		/* JOIN replies queued */
	uint64_t join_dups;	/* JOIN already pending for that client/version */
	uint64_t join_drops;	/* JOIN reply list full */
	uint64_t appended;	/* requests that created an element */
	uint64_t merged;	/* requests merged into an existing element */
	uint64_t absorbed;	/* merged into a full-chunk element (subset of merged) */
	uint64_t dropped_inflight; /* full-chunk request for the chunk sent in full */
	uint64_t dropped_full;	/* no free element (max_elems) */
	uint64_t dropped_empty;	/* request with no block inside the chunk */
	uint64_t runs;		/* runs dequeued */
	uint64_t blocks;	/* blocks dequeued */
};

/* What mb_fris_wq_enqueue_*() did with a request. */
enum mb_fris_wq_verdict {
	MB_FRIS_WQ_APPENDED = 0,
	MB_FRIS_WQ_MERGED,
	MB_FRIS_WQ_DROPPED,
};

enum mb_fris_wq_item_kind {
	MB_FRIS_WQ_JOIN = 1,	/* send a JOIN (version 1) or JOIN2 (2) reply */
	MB_FRIS_WQ_BLOCKS,	/* send blocks [block, block + count) of chunk */
};

struct mb_fris_wq_item {
	enum mb_fris_wq_item_kind kind;
	uint32_t version;	/* JOIN: 1 or 2 */
	uint32_t clientid;	/* JOIN */
	uint32_t chunk;		/* BLOCKS */
	uint32_t block;
	uint32_t count;
};

struct mb_fris_wq;

/*
 * Create a queue for an image of `nblocks` 1 KiB blocks (the chunk count and
 * the last chunk's length follow).  `max_elems` bounds the queued chunk
 * elements (0 = nchunks + 1, the natural bound).  Returns NULL with errno
 * EINVAL (no blocks, too many) or ENOMEM.  The caller owns the queue and
 * frees it with mb_fris_wq_free().
 */
struct mb_fris_wq *mb_fris_wq_create(uint64_t nblocks, uint32_t max_elems);
void mb_fris_wq_free(struct mb_fris_wq *wq);
/* Forget everything queued and in flight (counters are kept). */
void mb_fris_wq_reset(struct mb_fris_wq *wq);

/* Queue a JOIN reply (version 1 or 2) for `clientid` ahead of all blocks;
 * a duplicate of a pending one is merged.  0, or -ENOSPC (counted). */
int mb_fris_wq_enqueue_join(struct mb_fris_wq *wq, uint32_t version, uint32_t clientid);
/* REQUEST(chunk, block, count), already validated by mb_fris_decode(). */
enum mb_fris_wq_verdict mb_fris_wq_enqueue_range(struct mb_fris_wq *wq, uint32_t chunk,
						 uint32_t block, uint32_t count);
/* PREQUEST(chunk, map); `map` is MB_FRIS_MAP_BYTES, LSB first. */
enum mb_fris_wq_verdict mb_fris_wq_enqueue_map(struct mb_fris_wq *wq, uint32_t chunk,
					       const uint8_t *map);

/*
 * Next thing to send: a pending JOIN reply first, else the first run of the
 * head element.  The returned run is "in flight" until the next call to
 * mb_fris_wq_dequeue() or mb_fris_wq_idle().  0 and *ret filled, or -ENOENT
 * when the queue is empty.
 */
int mb_fris_wq_dequeue(struct mb_fris_wq *wq, struct mb_fris_wq_item *ret);
/* The caller finished sending the run in flight and found nothing to do. */
void mb_fris_wq_idle(struct mb_fris_wq *wq);

bool mb_fris_wq_empty(const struct mb_fris_wq *wq);
/* Is work for `chunk` queued, or its run in flight? */
bool mb_fris_wq_queued(const struct mb_fris_wq *wq, uint32_t chunk);
/* Queued chunk elements (JOIN replies not included). */
uint32_t mb_fris_wq_depth(const struct mb_fris_wq *wq);
uint32_t mb_fris_wq_nchunks(const struct mb_fris_wq *wq);
const struct mb_fris_wq_stats *mb_fris_wq_stats(const struct mb_fris_wq *wq);

#endif /* _MB_FRIS_WQ_H_ */
