/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frisbee receiver state machine; see fris_rx.h.  The rules follow the stock
 * client's behaviour (doc/frisbee-protocol.md), except that blocks are accepted
 * for any unfinished chunk (the caller writes them straight to their place,
 * so there are no chunk buffers to run out of).
 *
 * What keeps the server from sending the same blocks many times over is
 * patience: a receiver only repeats itself when the group has gone quiet
 * (idle ticks count silence, not the absence of useful blocks: a block that
 * is useless to us is still proof that the server is busy with requests,
 * ours among them), and nobody asks for a chunk that somebody asked for in
 * the last second unless it timed out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fris_rx.h"
#include "mb_time.h"

#define TICK_NS (MB_FRIS_PKTRCV_TIMEOUT_US * MB_NS_PER_US)
#define REDO_NS (MB_FRIS_REDO_DELAY_US * MB_NS_PER_US)
#define MAX_BACKOFF 33		/* ticks, about 1 s (TIMEOUT_HZ) */

int
mb_frx_init(struct mb_frx *rx, uint64_t bytes, bool whole_blocks, uint32_t myip, bool inorder,
	    unsigned int seed, mb_frx_send_fn send, void *arg)
{
	uint32_t i, a, b, t;

	memset(rx, 0, sizeof(*rx));
	if (bytes == 0 || mb_fris_chunks_for_bytes(bytes) > (1u << 24))
		return -EINVAL;
	rx->nchunks = (uint32_t)mb_fris_chunks_for_bytes(bytes);
	/* JOIN v1 knows blocks, not bytes: the last block counts whole.  The
	 * last chunk has the blocks the count leaves it, as the stock client
	 * and the servers count it (not 1024: an image that is not a multiple
	 * of 1 MiB would then wait for blocks that never come). */
	if (whole_blocks)
		bytes = (bytes + MB_FRIS_BLOCK_SIZE - 1) / MB_FRIS_BLOCK_SIZE * MB_FRIS_BLOCK_SIZE;
	rx->bytes = bytes;
	rx->nblocks = (bytes + MB_FRIS_BLOCK_SIZE - 1) / MB_FRIS_BLOCK_SIZE;
	rx->myip = myip;
	rx->send = send;
	rx->send_arg = arg;
	rx->idle = MB_FRIS_IDLETIMER_COUNT;
	rx->chunks = calloc(rx->nchunks, sizeof(*rx->chunks));
	rx->order = calloc(rx->nchunks, sizeof(*rx->order));
	rx->fill = calloc(rx->nchunks, sizeof(*rx->fill));
	if (rx->chunks == NULL || rx->order == NULL || rx->fill == NULL) {
		mb_frx_done(rx);
		return -ENOMEM;
	}
	for (i = 0; i < rx->nchunks; i++)
		rx->order[i] = i;
	/* 50 * N random swaps, as the stock client does. */
	if (!inorder && rx->nchunks > 1) {
		for (i = 0; i < 50 * rx->nchunks; i++) {
			a = (uint32_t)rand_r(&seed) % rx->nchunks;
			b = (uint32_t)rand_r(&seed) % rx->nchunks;
			t = rx->order[a];
			rx->order[a] = rx->order[b];
			rx->order[b] = t;
		}
	}
	return 0;
}

void
mb_frx_done(struct mb_frx *rx)
{
	free(rx->chunks);
	free(rx->order);
	free(rx->fill);
	rx->chunks = NULL;
	rx->order = NULL;
	rx->fill = NULL;
}

static uint32_t
chunk_blocks(const struct mb_frx *rx, uint32_t c)
{
	return mb_fris_chunk_blocks(rx->nblocks, c);
}

/* A chunk asked for by anyone (or answered) within the redo delay. */
static bool
recently_asked(const struct mb_frx_chunk *ch, uint64_t now)
{
	return ch->stamp != 0 && now - ch->stamp < REDO_NS;
}

/* PREQUEST of every block of chunk c we lack (all of it if none yet). */
static void
send_prequest(struct mb_frx *rx, uint32_t c, uint64_t now)
{
	struct mb_frx_chunk *ch = &rx->chunks[c];
	uint8_t map[MB_FRIS_MAP_BYTES], buf[MB_FRIS_PREQUEST_LEN];
	uint32_t cb = chunk_blocks(rx, c), i;

	for (i = 0; i < MB_FRIS_MAP_BYTES; i++)
		map[i] = (uint8_t)~ch->have[i];
	for (i = cb; i < MB_FRIS_CHUNK_BLOCKS; i++)	/* clip to the real length */
		mb_fris_map_clear(map, i);
	rx->send(rx->send_arg, buf,
		 mb_fris_encode_prequest(buf, sizeof(buf), rx->myip, c, ch->ours ? 1 : 0, map));
	if (ch->ours)
		rx->rerequests++;
	rx->prequests++;
	ch->ours = true;
	ch->stamp = now;
}

/* The whole chunk: a REQUEST the first time, a PREQUEST (retry) after. */
static void
send_request(struct mb_frx *rx, uint32_t c, uint64_t now)
{
	struct mb_frx_chunk *ch = &rx->chunks[c];
	uint8_t buf[MB_FRIS_REQUEST_LEN];

	if (ch->ours) {
		send_prequest(rx, c, now);
		return;
	}
	rx->send(rx->send_arg, buf,
		 mb_fris_encode_request(buf, sizeof(buf), rx->myip, c, 0, chunk_blocks(rx, c)));
	rx->requests++;
	ch->ours = true;
	ch->stamp = now;
}

/*
 * RequestChunk: re-request the missing blocks of the partial chunks (after
 * a completion only those nobody asked for within the redo delay), then,
 * unless MAXINPROGRESS chunks are partial, walk the shuffled list for the
 * first MAXREADAHEAD chunks not seen yet and ask for those not asked for
 * within the redo delay (all of them after a timeout).  A chunk somebody
 * else asked for still counts as readahead: it is on its way.
 */
static void
request_chunks(struct mb_frx *rx, bool timedout, uint64_t now)
{
	uint32_t i, j, c, nfill = rx->nfill;

	for (i = 0; i < nfill; i++) {
		c = rx->fill[i];
		if (timedout || !recently_asked(&rx->chunks[c], now))
			send_prequest(rx, c, now);
	}
	if (nfill >= MB_FRIS_MAXINPROGRESS)
		return;
	while (rx->head < rx->nchunks && rx->chunks[rx->order[rx->head]].state != MB_FRX_CH_NONE)
		rx->head++;
	for (i = rx->head, j = 0; i < rx->nchunks && j < MB_FRIS_MAXREADAHEAD; i++) {
		c = rx->order[i];
		if (rx->chunks[c].state != MB_FRX_CH_NONE)
			continue;
		if (timedout || !recently_asked(&rx->chunks[c], now))
			send_request(rx, c, now);
		j++;
	}
}

void
mb_frx_start(struct mb_frx *rx, uint64_t now)
{
	rx->last_heard = now;
	rx->idle = MB_FRIS_IDLETIMER_COUNT;
	request_chunks(rx, false, now);
}

void
mb_frx_heard(struct mb_frx *rx, uint64_t now)
{
	if (now > rx->last_heard)
		rx->last_heard = now;
}

void
mb_frx_tick(struct mb_frx *rx, uint64_t now)
{
	if (mb_frx_complete(rx) || now < rx->last_heard + TICK_NS)
		return;
	/* One tick per call: a late caller does not fire a burst of them. */
	rx->last_heard = now;
	if (--rx->idle > 0)
		return;
	rx->timeouts++;
	request_chunks(rx, true, now);
	rx->idle = MB_FRIS_IDLETIMER_COUNT;
	if (rx->backoff++ != 0) {
		rx->idle += (int)rx->backoff;
		if (rx->backoff > MAX_BACKOFF)
			rx->backoff = MAX_BACKOFF;
	}
}

/* Stamp chunk c if a request for it brings blocks we lack; true if so.
 * `want` (NULL = the whole chunk) is the requested map. */
static bool
snoop_stamp(struct mb_frx *rx, uint32_t c, const uint8_t *want, uint64_t now)
{
	struct mb_frx_chunk *ch;
	uint32_t i;
	bool useful = false;

	if (c >= rx->nchunks)
		return false;
	mb_frx_heard(rx, now);
	ch = &rx->chunks[c];
	if (ch->state == MB_FRX_CH_DONE)
		return false;
	if (want == NULL || ch->state == MB_FRX_CH_NONE) {
		useful = want == NULL || mb_fris_map_count(want, chunk_blocks(rx, c)) != 0;
	} else {
		for (i = 0; i < MB_FRIS_MAP_BYTES && !useful; i++)
			useful = (want[i] & (uint8_t)~ch->have[i]) != 0;
	}
	if (!useful)
		return false;
	ch->stamp = now;
	rx->snooped++;
	/* Data we need is on its way: no need to ask ourselves yet. */
	rx->idle = MB_FRIS_IDLETIMER_COUNT;
	return true;
}

void
mb_frx_snoop_request(struct mb_frx *rx, uint32_t c, uint32_t block, uint32_t count,
		     uint64_t now)
{
	uint8_t want[MB_FRIS_MAP_BYTES];
	uint32_t cb;

	if (c >= rx->nchunks) {
		mb_frx_heard(rx, now);
		return;
	}
	cb = chunk_blocks(rx, c);
	if (block == 0 && count >= cb) {
		(void)snoop_stamp(rx, c, NULL, now);
		return;
	}
	if (block >= cb) {
		mb_frx_heard(rx, now);
		return;
	}
	if (count > cb - block)
		count = cb - block;
	memset(want, 0, sizeof(want));
	mb_fris_map_set_range(want, block, count);
	(void)snoop_stamp(rx, c, want, now);
}

void
mb_frx_snoop_prequest(struct mb_frx *rx, uint32_t c, const uint8_t *map, uint64_t now)
{
	(void)snoop_stamp(rx, c, map, now);
}

bool
mb_frx_snoop(struct mb_frx *rx, const struct mb_fris_msg *m, uint64_t now)
{
	switch (m->kind) {
	case MB_FRIS_K_REQUEST:
		mb_frx_snoop_request(rx, m->u.request.chunk, m->u.request.block,
				     m->u.request.count, now);
		return true;
	case MB_FRIS_K_PREQUEST:
		mb_frx_snoop_prequest(rx, m->u.prequest.chunk, m->u.prequest.map, now);
		return true;
	default:
		mb_frx_heard(rx, now);
		return false;
	}
}

uint32_t
mb_frx_block(struct mb_frx *rx, uint32_t c, uint32_t b, uint64_t now, uint64_t *ret_off)
{
	struct mb_frx_chunk *ch;
	uint64_t off = ((uint64_t)c * MB_FRIS_CHUNK_BLOCKS + b) * MB_FRIS_BLOCK_SIZE;
	uint32_t len, last;

	/* Any block from the server ends the back-off: it is alive. */
	mb_frx_heard(rx, now);
	rx->backoff = 0;
	if (c >= rx->nchunks || b >= chunk_blocks(rx, c) || off >= rx->bytes)
		return 0;
	ch = &rx->chunks[c];
	if (ch->state == MB_FRX_CH_DONE || mb_fris_map_test(ch->have, b)) {
		rx->dupblocks++;
		return 0;
	}
	len = rx->bytes - off < MB_FRIS_BLOCK_SIZE ? (uint32_t)(rx->bytes - off) :
						     MB_FRIS_BLOCK_SIZE;
	mb_fris_map_set(ch->have, b);
	rx->blocks++;
	rx->rbytes += len;
	rx->idle = MB_FRIS_IDLETIMER_COUNT;
	/* The rest of what was asked for is presumably on its way. */
	ch->stamp = now;
	if (ch->state == MB_FRX_CH_NONE) {
		ch->state = MB_FRX_CH_FILLING;
		ch->fillpos = rx->nfill;
		rx->fill[rx->nfill++] = c;
	}
	if (++ch->nrecv == chunk_blocks(rx, c)) {
		ch->state = MB_FRX_CH_DONE;
		last = rx->fill[--rx->nfill];
		rx->fill[ch->fillpos] = last;
		rx->chunks[last].fillpos = ch->fillpos;
		rx->done++;
		request_chunks(rx, false, now);
	}
	*ret_off = off;
	return len;
}
