/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frisbee receiver state machine; see fris_rx.h.  The rules follow the stock
 * client's RequestChunk/GotBlock (spec 1.7 items 4-8), except that blocks
 * are accepted for any unfinished chunk (the caller writes them straight to
 * their place, so there are no chunk buffers to run out of).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fris_rx.h"
#include "mb_time.h"

#define TICK_NS (MB_FRIS_PKTRCV_TIMEOUT_US * MB_NS_PER_US)
#define REDO_NS (MB_FRIS_REDO_DELAY_US * MB_NS_PER_US)
#define MAX_BACKOFF 33		/* ticks, about 1 s */

int
mb_frx_init(struct mb_frx *rx, uint64_t bytes, bool whole_chunks, uint32_t myip, bool inorder,
	    unsigned int seed, mb_frx_send_fn send, void *arg)
{
	uint32_t i, a, b, t;

	memset(rx, 0, sizeof(*rx));
	if (bytes == 0 || mb_fris_chunks_for_bytes(bytes) > (1u << 24))
		return -EINVAL;
	rx->nchunks = (uint32_t)mb_fris_chunks_for_bytes(bytes);
	if (whole_chunks)
		bytes = (uint64_t)rx->nchunks * MB_FRIS_CHUNK_SIZE;
	rx->bytes = bytes;
	rx->nblocks = (bytes + MB_FRIS_BLOCK_SIZE - 1) / MB_FRIS_BLOCK_SIZE;
	rx->myip = myip;
	rx->send = send;
	rx->send_arg = arg;
	rx->chunks = calloc(rx->nchunks, sizeof(*rx->chunks));
	rx->order = calloc(rx->nchunks, sizeof(*rx->order));
	if (rx->chunks == NULL || rx->order == NULL) {
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
	rx->chunks = NULL;
	rx->order = NULL;
}

static uint32_t
chunk_blocks(const struct mb_frx *rx, uint32_t c)
{
	return mb_fris_chunk_blocks(rx->nblocks, c);
}

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
	ch->asked = true;
	ch->stamp = now;
}

/*
 * RequestChunk: re-request the missing blocks of chunks in progress (after
 * a completion only those nobody asked for within the redo delay), then open
 * new chunks from the shuffled list while fewer than MAXREADAHEAD are asked
 * for but not started and fewer than MAXINPROGRESS are in progress.
 */
static void
request_chunks(struct mb_frx *rx, bool timedout, uint64_t now)
{
	uint8_t buf[MB_FRIS_REQUEST_LEN];
	struct mb_frx_chunk *ch;
	uint32_t c, ahead = 0;

	for (c = 0; c < rx->nchunks; c++) {
		ch = &rx->chunks[c];
		if (ch->state == MB_FRX_CH_DONE || (ch->state == MB_FRX_CH_NONE && !ch->asked))
			continue;
		if (ch->state == MB_FRX_CH_NONE)
			ahead++;
		if (timedout || now - ch->stamp >= REDO_NS)
			send_prequest(rx, c, now);
	}
	while (ahead < MB_FRIS_MAXREADAHEAD && rx->filling + ahead < MB_FRIS_MAXINPROGRESS) {
		if (rx->next < rx->nchunks) {
			c = rx->order[rx->next++];
		} else {
			/* Second pass: chunks skipped because others had just
			 * asked for them. */
			for (c = 0; c < rx->nchunks; c++)
				if (rx->chunks[c].state == MB_FRX_CH_NONE && !rx->chunks[c].asked &&
				    now - rx->chunks[c].stamp >= REDO_NS)
					break;
			if (c == rx->nchunks)
				break;
		}
		ch = &rx->chunks[c];
		if (ch->state != MB_FRX_CH_NONE || ch->asked)
			continue;
		ahead++;
		/* Someone asked for it very recently: count it, skip it. */
		if (ch->stamp != 0 && now - ch->stamp < REDO_NS)
			continue;
		rx->send(rx->send_arg, buf,
			 mb_fris_encode_request(buf, sizeof(buf), rx->myip, c, 0,
						chunk_blocks(rx, c)));
		rx->requests++;
		ch->ours = true;
		ch->asked = true;
		ch->stamp = now;
	}
	rx->last_req = now;
}

void
mb_frx_start(struct mb_frx *rx, uint64_t now)
{
	rx->last_useful = now;
	request_chunks(rx, false, now);
}

void
mb_frx_tick(struct mb_frx *rx, uint64_t now)
{
	uint64_t since = rx->last_useful > rx->last_req ? rx->last_useful : rx->last_req;

	if (mb_frx_complete(rx))
		return;
	/* Idle ticks: 3 without a useful block, plus one per idle round. */
	if (now - since >= (MB_FRIS_IDLETIMER_COUNT + rx->backoff) * TICK_NS) {
		request_chunks(rx, true, now);
		if (rx->backoff < MAX_BACKOFF)
			rx->backoff++;
	}
}

void
mb_frx_snoop(struct mb_frx *rx, uint32_t chunk, uint64_t now)
{
	if (chunk < rx->nchunks) {
		rx->chunks[chunk].stamp = now;
		rx->snooped++;
	}
}

uint32_t
mb_frx_block(struct mb_frx *rx, uint32_t c, uint32_t b, uint64_t now, uint64_t *ret_off)
{
	struct mb_frx_chunk *ch;
	uint64_t off = ((uint64_t)c * MB_FRIS_CHUNK_BLOCKS + b) * MB_FRIS_BLOCK_SIZE;
	uint32_t len;

	if (c >= rx->nchunks || b >= chunk_blocks(rx, c) || off >= rx->bytes)
		return 0;
	ch = &rx->chunks[c];
	ch->stamp = now;
	if (ch->state == MB_FRX_CH_DONE || mb_fris_map_test(ch->have, b)) {
		rx->dupblocks++;
		return 0;
	}
	len = rx->bytes - off < MB_FRIS_BLOCK_SIZE ? (uint32_t)(rx->bytes - off) :
						     MB_FRIS_BLOCK_SIZE;
	mb_fris_map_set(ch->have, b);
	rx->blocks++;
	rx->rbytes += len;
	rx->last_useful = now;
	rx->backoff = 0;
	ch->asked = false;
	if (ch->state == MB_FRX_CH_NONE) {
		ch->state = MB_FRX_CH_FILLING;
		rx->filling++;
	}
	if (++ch->nrecv == chunk_blocks(rx, c)) {
		ch->state = MB_FRX_CH_DONE;
		rx->filling--;
		rx->done++;
		request_chunks(rx, false, now);
	}
	*ret_off = off;
	return len;
}
