/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one payload path of the dataplane, for Frisbee BLOCKs and TCP
 * segments alike: bytes [off, off + len) of a send buffer (mb_sbuf.h) go
 * after the headers already in a frame's first mbuf, either attached by
 * reference (zero copy) or copied.
 *
 * Attached: an mbuf of the descriptor pool (no data room; its private area
 * holds the external-buffer shared info and the buffer pointer) points into
 * the bytes at the IOVA mb_dp_dma_iova gave (dp_dma.h), is chained after
 * the header mbuf, and holds one reference on the buffer until the driver
 * frees it (the free callback drops it, on any thread).
 *
 * A frame longer than the MTU (TCP segmentation offload) takes a chain of
 * such pieces, attached or copied piece by piece (mb_dp_zc_append_chain).
 *
 * Copied, the one fallback, when the port cannot chain mbufs (pool NULL),
 * the memory may not be read by a device (heap, page-cache mappings, a
 * range that is not IOVA-contiguous), or the descriptor pool is empty: the
 * bytes go into the header mbuf's tailroom, which the dataplane sizes for a
 * whole frame of the MTU; bytes past the buffer's end read as zeroes.
 *
 * Lcore functions; nothing blocks or logs.
 */
#ifndef _MB_DP_ZC_H_
#define _MB_DP_ZC_H_

#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mb_sbuf.h"

struct mb_dp_zc {
	struct rte_mempool *pool; /* descriptor mbufs, NULL: always copy */
};

enum mb_dp_zc_how {
	MB_DP_ZC_ATTACHED = 0,
	MB_DP_ZC_COPIED,	/* no descriptor, or attaching is off */
	MB_DP_ZC_COPIED_NODMA,	/* the memory may not be attached */
};

/* A pool of `n` descriptor mbufs for the port's socket; NULL with rte_errno. */
struct rte_mempool *mb_dp_zc_pool_create(const char *name, unsigned n, int socket);

/* Append bytes [off, off + len) of sb to the frame whose first (and only)
 * mbuf is m, after its data_len bytes of headers: attach or copy (see
 * above).  Returns how (enum mb_dp_zc_how), or -ENOSPC when a copy does
 * not fit m's tailroom (m unchanged).  sb stays the caller's; an attached
 * segment takes its own reference. */
int mb_dp_zc_append(const struct mb_dp_zc *zc, struct rte_mbuf *m, struct mb_sbuf *sb,
		    uint64_t off, uint32_t len);

#define MB_DP_ZC_BURST_MAX 64

/* mb_dp_zc_append's attach for a burst of frames at once: frame k of m
 * (headers only, hdr_len bytes of them) gets bytes [off + k * len,
 * off + (k + 1) * len) of sb attached, the descriptors taken in one bulk
 * allocation and their references on sb in one atomic add.  Attaches a
 * prefix of the burst (at most MB_DP_ZC_BURST_MAX frames) and returns its
 * length: 0 when the port does not chain or the pool is short, fewer than
 * n at the first range that may not be attached (the caller appends the
 * rest one by one, copying them).  The frames' data_len is the caller's. */
unsigned mb_dp_zc_attach_burst(const struct mb_dp_zc *zc, struct rte_mbuf **m, unsigned n,
			       struct mb_sbuf *sb, uint64_t off, uint32_t len, uint16_t hdr_len);

/* The payload of a large frame (TSO): bytes [off, off + len) of sb as a
 * chain of mbufs after m, each piece attached where the memory allows
 * (split where its IOVA stops being contiguous) or else copied into a
 * packet mbuf of `pool` (as many bytes as its data room holds); the frame
 * gets at most max_segs mbufs, m included.  Returns the bytes attached (the
 * rest were copied), or -ENOMEM (an mbuf missing) / -EMSGSIZE (more pieces
 * than max_segs), m unchanged then.  sb stays the caller's. */
int mb_dp_zc_append_chain(const struct mb_dp_zc *zc, struct rte_mempool *pool,
			  struct rte_mbuf *m, struct mb_sbuf *sb, uint64_t off, uint32_t len,
			  unsigned max_segs);

#endif /* _MB_DP_ZC_H_ */
