/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP header writer of the TCP fuzz harnesses (fuzz_tcp_input.c,
 * fuzz_tcp_state.c): they build each segment as bytes, from their script,
 * and hand it to mb_tcp_parse as the dataplane's glue does.  It writes what
 * it is told, well-formed or not (an MSS of 1, a SACK block past the data),
 * which is why it is not the stack's own mb_tcp_hdr_build.  No checksum: the
 * parser leaves that to the port.
 */
#ifndef _MB_FUZZ_TCP_SEG_H_
#define _MB_FUZZ_TCP_SEG_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mb_bytes.h"

/* The options of one segment. */
struct fuzz_tcp_opt {
	uint8_t mask;	       /* bit 0 MSS, 1 window scale, 2 SACK-permitted, 3 timestamps */
	uint16_t mss;	       /* with bit 0 */
	uint8_t ws;	       /* with bit 1 */
	uint32_t tsval, tsecr; /* with bit 3 */
	unsigned int nsack;    /* SACK blocks, 0 to 2 */
	uint32_t sack[2][2];   /* each block's left and right edge */
};

/*
 * A TCP header into seg (60 bytes at least): the ports, seq, ack, flags and
 * window, then the options of o in the order MSS, window scale,
 * SACK-permitted, timestamps, SACK, padded with NOPs to a 4-byte boundary.
 * Returns the header's length (at most 60).
 */
static inline size_t
fuzz_tcp_hdr(uint8_t *seg, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
	     uint8_t flags, uint16_t win, const struct fuzz_tcp_opt *o)
{
	unsigned int nsack = o->nsack < 2 ? o->nsack : 2;
	size_t n = 20;

	memset(seg, 0, 60);
	mb_bytes_put_be16(seg, sport);
	mb_bytes_put_be16(seg + 2, dport);
	mb_bytes_put_be32(seg + 4, seq);
	mb_bytes_put_be32(seg + 8, ack);
	seg[13] = flags;
	mb_bytes_put_be16(seg + 14, win);
	if (o->mask & 1) {
		seg[n++] = 2, seg[n++] = 4;
		mb_bytes_put_be16(seg + n, o->mss);
		n += 2;
	}
	if (o->mask & 2)
		seg[n++] = 3, seg[n++] = 3, seg[n++] = o->ws;
	if (o->mask & 4)
		seg[n++] = 4, seg[n++] = 2;
	if (o->mask & 8) {
		seg[n++] = 8, seg[n++] = 10;
		mb_bytes_put_be32(seg + n, o->tsval);
		mb_bytes_put_be32(seg + n + 4, o->tsecr);
		n += 8;
	}
	if (nsack > 0) {
		seg[n++] = 5, seg[n++] = (uint8_t)(2 + 8 * nsack);
		for (unsigned int b = 0; b < nsack; b++) {
			mb_bytes_put_be32(seg + n, o->sack[b][0]);
			mb_bytes_put_be32(seg + n + 4, o->sack[b][1]);
			n += 8;
		}
	}
	while (n & 3)
		seg[n++] = 1;
	seg[12] = (uint8_t)((n / 4) << 4);
	return n;
}

#endif /* _MB_FUZZ_TCP_SEG_H_ */
