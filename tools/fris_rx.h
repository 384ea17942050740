/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The request/receive state machine of one Frisbee receiver (spec 1.7),
 * shared by mb-frisbee (one receiver, real output) and mb-fris-loadgen
 * (many receivers in one process, no output).
 *
 * It keeps the per-chunk received bitmaps, the shuffled request order, the
 * readahead/inprogress windows, the snooping stamps and the idle back-off,
 * and decides which REQUEST/PREQUEST to send through a caller callback.  It
 * owns no socket and no file and never reads the clock: the caller passes
 * `now` (monotonic ns) and writes accepted blocks itself.  One thread.
 */
#ifndef _MB_FRIS_RX_H_
#define _MB_FRIS_RX_H_

#include <stdbool.h>
#include <stdint.h>

#include "fris_wire.h"

/* Send one encoded datagram (REQUEST or PREQUEST). */
typedef void (*mb_frx_send_fn)(void *arg, const void *buf, int len);

struct mb_frx_chunk {
	uint8_t state;		/* MB_FRX_CH_* */
	bool ours;		/* we requested it before */
	bool asked;		/* we asked and saw no block since */
	uint16_t nrecv;
	uint64_t stamp;		/* last request seen/sent or block received */
	uint8_t have[MB_FRIS_MAP_BYTES];
};

enum {
	MB_FRX_CH_NONE = 0,
	MB_FRX_CH_FILLING,
	MB_FRX_CH_DONE,
};

struct mb_frx {
	uint32_t myip;		/* network order, the srcip of our requests */
	uint64_t bytes;
	uint64_t nblocks;
	uint32_t nchunks;
	struct mb_frx_chunk *chunks;
	uint32_t *order;
	uint32_t next;
	uint32_t done;
	uint32_t filling;
	uint64_t last_useful;
	uint64_t last_req;
	unsigned int backoff;
	mb_frx_send_fn send;
	void *send_arg;

	uint64_t blocks, rbytes, dupblocks, requests, prequests, rerequests, snooped;
};

/* Set up for an image of `bytes` bytes (JOIN2) or, with `whole_chunks`, of
 * that many bytes rounded up to 1 MiB (JOIN v1).  `seed` shuffles the
 * request order unless `inorder`.  0, -EINVAL or -ENOMEM.  Free with
 * mb_frx_done(). */
int mb_frx_init(struct mb_frx *rx, uint64_t bytes, bool whole_chunks, uint32_t myip,
		bool inorder, unsigned int seed, mb_frx_send_fn send, void *arg);
void mb_frx_done(struct mb_frx *rx);

/* First requests; call once after the JOIN reply. */
void mb_frx_start(struct mb_frx *rx, uint64_t now);
/* Idle handling: re-request after 3 ticks (+ back-off) without useful data.
 * Call at least every tick (30 ms). */
void mb_frx_tick(struct mb_frx *rx, uint64_t now);
/* Another receiver's REQUEST/PREQUEST for `chunk` was seen. */
void mb_frx_snoop(struct mb_frx *rx, uint32_t chunk, uint64_t now);

/*
 * A BLOCK from the server (already decoded and checked).  Returns 0 if it
 * is a duplicate or outside the image, else the number of bytes of it that
 * belong to the image (1..1024; the caller writes them at *ret_off).  A
 * completed chunk triggers the next requests.
 */
uint32_t mb_frx_block(struct mb_frx *rx, uint32_t chunk, uint32_t block, uint64_t now,
		      uint64_t *ret_off);

static inline bool
mb_frx_complete(const struct mb_frx *rx)
{
	return rx->done == rx->nchunks;
}

#endif /* _MB_FRIS_RX_H_ */
