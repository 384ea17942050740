/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The frames of the Frisbee engine (dp_fris_frame.c): Ethernet, IPv4 and
 * UDP headers for a session's datagrams, their UDP checksum, and the
 * per-frame path of BLOCKs, which is the engine's hot loop.
 *
 * A BLOCK's 66 bytes of headers differ from one frame of a run to the next
 * only in the IPv4 id, the block number and the two checksums.  So a burst
 * starts from a template (struct dp_fris_tmpl: the headers built once, with
 * the one's complement sums of their constant parts), and each frame is the
 * template copied in, the three fields written, and both checksums made by
 * adding the varying words to the template's sums: no header is read back
 * from the frame (reading back bytes just written in smaller stores stalls
 * on store forwarding) and the payload's 1 KiB is summed once per block of
 * the image (its cached sum, mb_image.h blk_sum), not per frame.
 *
 * Lcore functions of the port's queue; nothing blocks, logs or allocates
 * except mbufs from the pools.
 */
#ifndef _MB_DP_FRIS_FRAME_H_
#define _MB_DP_FRIS_FRAME_H_

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "dp_priv.h"

/* Ethernet + IPv4 + UDP */
#define DP_FRIS_HDRS_LEN                                                                   \
	(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))
/* ... + the BLOCK's Frisbee header, chunk and block: what precedes the payload */
#define DP_FRIS_BLOCK_HDRS_LEN (DP_FRIS_HDRS_LEN + MB_FRIS_BLOCK_DATA_OFF) /* 66 */

/* A burst of BLOCKs of one run: one session (or node served alone), one
 * destination MAC, one chunk. */
struct dp_fris_tmpl {
	uint8_t hdr[RTE_ALIGN_CEIL(DP_FRIS_BLOCK_HDRS_LEN, 16)] __rte_aligned(16);
	uint32_t ip_sum;      /* the IPv4 header's sum, id and checksum 0 */
	uint32_t udp_sum;     /* pseudo header, UDP and Frisbee headers, block 0 */
	uint64_t ol_flags;    /* IPv4 checksum offload, when the port has it */
	uint64_t tx_offload;  /* l2_len, l3_len for it */
	const struct mb_image *img;
	uint32_t chunk;
};

/* Write Ethernet, IPv4 and UDP headers for `plen` bytes of UDP payload of
 * session s to dmac at the start of m (IPv4 checksum set or offloaded, UDP
 * checksum 0); returns where the payload goes. */
uint8_t *dp_fris_headers(struct mb_dp_lcore *lc, const struct mb_dp_sess *s, struct rte_mbuf *m,
			 const struct rte_ether_addr *dmac, uint16_t plen);

/* Set the UDP checksum of a frame of dp_fris_headers() whose payload is in
 * place (in m and any segments chained to it). */
void dp_fris_udp_cksum(struct rte_mbuf *m);

/* Build the template of the BLOCKs of `chunk` of session s to dmac. */
void dp_fris_tmpl_init(struct dp_fris_tmpl *t, struct mb_dp_lcore *lc, const struct mb_dp_sess *s,
		       const struct rte_ether_addr *dmac, uint32_t chunk);

/* Build BLOCKs [block, block + n) of t's chunk in the n mbufs of mb (each
 * fresh from the pool, taken) and queue them for the port (dp_tx_frame).
 * Returns how many were queued; the first frame that cannot be built stops
 * the burst and its mbuf and the rest are freed (counted where the cause
 * is: a full TX backlog in dp_tx_frame). */
unsigned dp_fris_blocks(struct mb_dp_lcore *lc, struct mb_dp_sess *s, const struct dp_fris_tmpl *t,
			struct rte_mbuf **mb, unsigned n, uint32_t block);

#endif /* _MB_DP_FRIS_FRAME_H_ */
