/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frisbee work queue: a fixed ring of chunk elements (136 bytes each) plus a
 * per-chunk index of the newest element, and a small FIFO of JOIN replies
 * served before any block.  See fris_wq.h for the rules; they follow
 * frisbeed's WorkQueueEnqueue/WorkQueueDequeue.  Elements are only ever
 * removed at the head, so a ring suffices; a chunk has at most one queued
 * element besides the head in flight, hence the nchunks + 1 bound.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fris_wq.h"

/* 2^24 chunks = 16 TiB: far beyond any disk image, keeps sizes in int32. */
#define WQ_MAX_CHUNKS (1u << 24)

struct wq_elem {
	uint32_t chunk;
	uint32_t nset;			/* set bits in map */
	uint8_t map[MB_FRIS_MAP_BYTES];
};

struct wq_join {
	uint32_t version;
	uint32_t clientid;
};

struct mb_fris_wq {
	uint64_t nblocks;		/* image size in blocks */
	uint32_t nchunks;
	uint32_t cap;			/* ring slots */
	uint32_t head;
	uint32_t count;
	int32_t *newest;		/* per chunk: ring slot of its newest element, or -1 */
	struct wq_elem *ring;

	struct wq_join joins[MB_FRIS_WQ_MAX_JOINS];
	uint32_t jhead;
	uint32_t jcount;

	/* The run returned by the last dequeue, until the next one. */
	bool inflight;
	bool inflight_full;		/* it is a whole chunk */
	bool head_inflight;		/* ring[head] holds the rest of that chunk's element */
	uint32_t if_chunk;
	uint32_t if_block;
	uint32_t if_count;

	struct mb_fris_wq_stats st;
};

struct mb_fris_wq *
mb_fris_wq_create(uint64_t nblocks, uint32_t max_elems)
{
	struct mb_fris_wq *wq;
	uint64_t nchunks = (nblocks + MB_FRIS_CHUNK_BLOCKS - 1) / MB_FRIS_CHUNK_BLOCKS;

	if (nblocks == 0 || nchunks > WQ_MAX_CHUNKS) {
		errno = EINVAL;
		return NULL;
	}
	wq = calloc(1, sizeof(*wq));
	if (wq == NULL)
		return NULL;
	wq->nblocks = nblocks;
	wq->nchunks = (uint32_t)nchunks;
	wq->cap = wq->nchunks + 1;
	if (max_elems != 0 && max_elems < wq->cap)
		wq->cap = max_elems;
	wq->newest = malloc(sizeof(*wq->newest) * wq->nchunks);
	wq->ring = malloc(sizeof(*wq->ring) * wq->cap);
	if (wq->newest == NULL || wq->ring == NULL) {
		mb_fris_wq_free(wq);
		errno = ENOMEM;
		return NULL;
	}
	mb_fris_wq_reset(wq);
	return wq;
}

void
mb_fris_wq_free(struct mb_fris_wq *wq)
{
	if (wq == NULL)
		return;
	free(wq->newest);
	free(wq->ring);
	free(wq);
}

void
mb_fris_wq_reset(struct mb_fris_wq *wq)
{
	memset(wq->newest, 0xff, sizeof(*wq->newest) * wq->nchunks);
	wq->head = 0;
	wq->count = 0;
	wq->jhead = 0;
	wq->jcount = 0;
	wq->inflight = false;
	wq->inflight_full = false;
	wq->head_inflight = false;
}

int
mb_fris_wq_enqueue_join(struct mb_fris_wq *wq, uint32_t version, uint32_t clientid)
{
	uint32_t i;

	for (i = 0; i < wq->jcount; i++) {
		const struct wq_join *j = &wq->joins[(wq->jhead + i) % MB_FRIS_WQ_MAX_JOINS];

		if (j->version == version && j->clientid == clientid) {
			wq->st.join_dups++;
			return 0;
		}
	}
	if (wq->jcount == MB_FRIS_WQ_MAX_JOINS) {
		wq->st.join_drops++;
		return -ENOSPC;
	}
	i = (wq->jhead + wq->jcount) % MB_FRIS_WQ_MAX_JOINS;
	wq->joins[i].version = version;
	wq->joins[i].clientid = clientid;
	wq->jcount++;
	wq->st.joins++;
	return 0;
}

/* Clip `map` to the blocks chunk `chunk` really has; returns the set bits. */
static uint32_t
clip_map(const struct mb_fris_wq *wq, uint32_t chunk, uint8_t *map, uint32_t *ret_cb)
{
	uint32_t cb = mb_fris_chunk_blocks(wq->nblocks, chunk);
	uint32_t b;

	*ret_cb = cb;
	if (cb < MB_FRIS_CHUNK_BLOCKS) {
		for (b = cb; b < MB_FRIS_CHUNK_BLOCKS && (b & 7) != 0; b++)
			mb_fris_map_clear(map, b);
		if (b < MB_FRIS_CHUNK_BLOCKS)
			memset(map + b / 8, 0, (MB_FRIS_CHUNK_BLOCKS - b) / 8);
	}
	return mb_fris_map_count(map, cb);
}

static enum mb_fris_wq_verdict
enqueue(struct mb_fris_wq *wq, uint32_t chunk, uint8_t *map)
{
	struct wq_elem *e;
	uint32_t cb, nset, first, slot;
	int32_t idx;
	bool full;

	if (chunk >= wq->nchunks) {
		wq->st.dropped_empty++;
		return MB_FRIS_WQ_DROPPED;
	}
	nset = clip_map(wq, chunk, map, &cb);
	if (nset == 0) {
		wq->st.dropped_empty++;
		return MB_FRIS_WQ_DROPPED;
	}
	full = nset == cb;
	if (full && wq->inflight && wq->inflight_full && wq->if_chunk == chunk) {
		wq->st.dropped_inflight++;
		return MB_FRIS_WQ_DROPPED;
	}

	idx = wq->newest[chunk];
	if (idx >= 0) {
		e = &wq->ring[idx];
		if ((uint32_t)idx == wq->head && wq->head_inflight) {
			/* Only what lies beyond the run being sent may join the
			 * head element; anything else is sent again later. */
			(void)mb_fris_map_first_run(map, 0, cb, &first);
			if (first < wq->if_block + wq->if_count)
				goto append;
		}
		wq->st.merged++;
		if (e->nset == cb) {
			wq->st.absorbed++;
			return MB_FRIS_WQ_MERGED;
		}
		for (first = 0; first < MB_FRIS_MAP_BYTES; first++)
			e->map[first] |= map[first];
		e->nset = full ? cb : mb_fris_map_count(e->map, cb);
		return MB_FRIS_WQ_MERGED;
	}

append:
	if (wq->count == wq->cap) {
		wq->st.dropped_full++;
		return MB_FRIS_WQ_DROPPED;
	}
	slot = (wq->head + wq->count) % wq->cap;
	e = &wq->ring[slot];
	e->chunk = chunk;
	e->nset = nset;
	memcpy(e->map, map, MB_FRIS_MAP_BYTES);
	wq->count++;
	wq->newest[chunk] = (int32_t)slot;
	wq->st.appended++;
	return MB_FRIS_WQ_APPENDED;
}

enum mb_fris_wq_verdict
mb_fris_wq_enqueue_range(struct mb_fris_wq *wq, uint32_t chunk, uint32_t block, uint32_t count)
{
	uint8_t map[MB_FRIS_MAP_BYTES] = {0};

	if (block >= MB_FRIS_CHUNK_BLOCKS || count > MB_FRIS_CHUNK_BLOCKS - block) {
		wq->st.dropped_empty++;
		return MB_FRIS_WQ_DROPPED;
	}
	mb_fris_map_set_range(map, block, count);
	return enqueue(wq, chunk, map);
}

enum mb_fris_wq_verdict
mb_fris_wq_enqueue_map(struct mb_fris_wq *wq, uint32_t chunk, const uint8_t *map)
{
	uint8_t m[MB_FRIS_MAP_BYTES];

	memcpy(m, map, sizeof(m));
	return enqueue(wq, chunk, m);
}

void
mb_fris_wq_idle(struct mb_fris_wq *wq)
{
	wq->inflight = false;
	wq->inflight_full = false;
	wq->head_inflight = false;
}

int
mb_fris_wq_dequeue(struct mb_fris_wq *wq, struct mb_fris_wq_item *ret)
{
	struct wq_elem *e;
	uint32_t cb, first, n, b;

	mb_fris_wq_idle(wq);
	if (wq->jcount > 0) {
		const struct wq_join *j = &wq->joins[wq->jhead];

		ret->kind = MB_FRIS_WQ_JOIN;
		ret->version = j->version;
		ret->clientid = j->clientid;
		ret->chunk = ret->block = ret->count = 0;
		wq->jhead = (wq->jhead + 1) % MB_FRIS_WQ_MAX_JOINS;
		wq->jcount--;
		return 0;
	}
	if (wq->count == 0)
		return -ENOENT;

	e = &wq->ring[wq->head];
	cb = mb_fris_chunk_blocks(wq->nblocks, e->chunk);
	n = mb_fris_map_first_run(e->map, 0, cb, &first);
	for (b = first; b < first + n; b++)
		mb_fris_map_clear(e->map, b);
	e->nset -= n;

	ret->kind = MB_FRIS_WQ_BLOCKS;
	ret->version = 0;
	ret->clientid = 0;
	ret->chunk = e->chunk;
	ret->block = first;
	ret->count = n;

	wq->inflight = true;
	wq->inflight_full = n == cb;
	wq->if_chunk = e->chunk;
	wq->if_block = first;
	wq->if_count = n;
	if (e->nset == 0) {
		if (wq->newest[e->chunk] == (int32_t)wq->head)
			wq->newest[e->chunk] = -1;
		wq->head = (wq->head + 1) % wq->cap;
		wq->count--;
	} else {
		wq->head_inflight = true;
	}
	wq->st.runs++;
	wq->st.blocks += n;
	return 0;
}

bool
mb_fris_wq_empty(const struct mb_fris_wq *wq)
{
	return wq->count == 0 && wq->jcount == 0;
}

bool
mb_fris_wq_queued(const struct mb_fris_wq *wq, uint32_t chunk)
{
	if (chunk >= wq->nchunks)
		return false;
	return wq->newest[chunk] >= 0 || (wq->inflight && wq->if_chunk == chunk);
}

uint32_t
mb_fris_wq_depth(const struct mb_fris_wq *wq)
{
	return wq->count;
}

uint32_t
mb_fris_wq_nchunks(const struct mb_fris_wq *wq)
{
	return wq->nchunks;
}

const struct mb_fris_wq_stats *
mb_fris_wq_stats(const struct mb_fris_wq *wq)
{
	return &wq->st;
}
