/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The request/receive state machine of one Frisbee receiver (doc/frisbee-protocol.md),
 * shared by mb-frisbee (one receiver, real output) and mb-fris-loadgen
 * (many receivers in one process, no output).
 *
 * It keeps the per-chunk received bitmaps, the shuffled request order, the
 * readahead/inprogress windows, the request stamps and the idle counter, and
 * decides which REQUEST/PREQUEST to send through a caller callback.  The
 * rules are the stock client's: the idle counter runs down only on ticks of
 * silence (30 ms without any packet from the group), so no request goes out
 * while the server is still sending; a useful block or a snooped request
 * for blocks we need winds it up again; every request seen, sent or answered
 * with a useful block stamps its chunk, and a stamped chunk is not asked for
 * again within the redo delay (1 s) except after an idle timeout.  It owns
 * no socket and no file and never reads the clock: the caller passes `now`
 * (monotonic ns) and writes accepted blocks itself.  One thread.
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
	uint16_t nrecv;
	uint32_t fillpos;	/* index in mb_frx.fill while FILLING */
	uint64_t stamp;		/* last useful request seen/sent or block; 0 = never */
	uint8_t have[MB_FRIS_MAP_BYTES];
};

enum {
	MB_FRX_CH_NONE = 0,	/* no block yet ("not seen") */
	MB_FRX_CH_FILLING,
	MB_FRX_CH_DONE,
};

struct mb_frx {
	uint32_t myip;		/* network order, the srcip of our requests */
	uint64_t bytes;
	uint64_t nblocks;
	uint32_t nchunks;
	struct mb_frx_chunk *chunks;
	uint32_t *order;	/* shuffled request order */
	uint32_t head;		/* order[0..head) are all seen */
	uint32_t *fill;		/* chunks FILLING, unordered */
	uint32_t nfill;
	uint32_t done;
	int idle;		/* silent ticks left before a timed-out request */
	unsigned int backoff;	/* extra ticks, +1 per consecutive timeout */
	uint64_t last_heard;	/* last packet, or last silent tick counted */
	mb_frx_send_fn send;
	void *send_arg;

	uint64_t blocks, rbytes, dupblocks, requests, prequests, rerequests, snooped;
	uint64_t timeouts;	/* idle timeouts that sent requests */
};

/* Set up for an image of `bytes` bytes (JOIN2) or, with `whole_blocks`, of
 * that many bytes rounded up to a whole 1 KiB block (JOIN v1: block count x
 * 1024; the last chunk may be short, as with JOIN2).  `seed` shuffles the
 * request order unless `inorder`.  0, -EINVAL or -ENOMEM.  Free with
 * mb_frx_done(). */
int mb_frx_init(struct mb_frx *rx, uint64_t bytes, bool whole_blocks, uint32_t myip,
		bool inorder, unsigned int seed, mb_frx_send_fn send, void *arg);
void mb_frx_done(struct mb_frx *rx);

/* First requests; call once after the JOIN reply. */
void mb_frx_start(struct mb_frx *rx, uint64_t now);
/*
 * Count ticks of silence: every 30 ms since the last packet (or the last
 * counted tick) takes one off the idle counter; at zero the missing blocks
 * of every partial chunk and the readahead window are asked for again, and
 * the counter restarts at 3 ticks plus a back-off growing by one per
 * consecutive timeout (up to 33).  Call often (at least every tick).
 */
void mb_frx_tick(struct mb_frx *rx, uint64_t now);
/* Any valid packet of the session arrived (breaks the silence).  Blocks and
 * requests passed to the functions below count already. */
void mb_frx_heard(struct mb_frx *rx, uint64_t now);
/* Another receiver's REQUEST (block, count) or PREQUEST (map) was seen: it
 * stamps the chunk if it asks for blocks we lack. */
void mb_frx_snoop_request(struct mb_frx *rx, uint32_t chunk, uint32_t block, uint32_t count,
			  uint64_t now);
void mb_frx_snoop_prequest(struct mb_frx *rx, uint32_t chunk, const uint8_t *map, uint64_t now);
/* A decoded message of the session other than a BLOCK (the caller checks
 * a BLOCK's source and writes it, mb_frx_block): a REQUEST or PREQUEST is
 * snooped as above, anything else (JOIN replies, LEAVEs, other receivers'
 * JOINs, PROGRESS) only breaks the silence.  true when it was a request. */
bool mb_frx_snoop(struct mb_frx *rx, const struct mb_fris_msg *m, uint64_t now);

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
