/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Which bytes of a send buffer (mb_sbuf.h) may be handed to the port by
 * reference (zero copy), and at which IOVA: the decision behind the one
 * payload path (dp_zc.c) that Frisbee BLOCKs and TCP segments share.
 *
 * A NIC reads an attached external buffer by DMA at the IOVA given with it.
 * That is only safe for memory DPDK knows: its own allocator's hugepages
 * (rte_malloc, memzones), or external memory registered with
 * rte_extmem_register() together with the IOVA of each page.  Everything
 * else is copied into the mbuf instead:
 *  - buffers marked MB_SBUF_IOVA_NONE by their allocator: heap memory (HTTP
 *    response headers, FTP listings, heap test images; with vfio in
 *    IOVA-as-VA mode it is not mapped in the IOMMU, and in PA mode its
 *    pages are neither pinned nor physically contiguous) and page-cache
 *    mappings of demoted images (file pages are not pinned, may be
 *    reclaimed or replaced under the transfer, and a NIC with checksum
 *    offload would checksum whatever it read);
 *  - MB_SBUF_IOVA_DERIVE memory DPDK does not know;
 *  - a range that is not IOVA-contiguous (PA mode, crossing into a page that
 *    does not follow in IOVA space) or that leaves the image's allocation.
 * Whoever registers external memory for this purpose must also map it for
 * the device (rte_dev_dma_map) when the IOMMU is in use; DPDK's own memory
 * is mapped by EAL.
 *
 * A buffer with a known IOVA (any other value of sb->iova) is contiguous in
 * IOVA space by its allocator's promise.
 *
 * Cost: the memory lookup is done once per buffer (cached in sb->dma_cache;
 * buffers are immutable, a demoted image is a new one); per segment it is a
 * mode test in IOVA-as-VA mode and one memseg lookup per page crossed in PA
 * mode.  Any lcore, never blocks, never logs.
 */
#ifndef _MB_DP_DMA_H_
#define _MB_DP_DMA_H_

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

#include "mb_sbuf.h"

/* May bytes [off, off + len) of sb be attached to an mbuf for the port to
 * read by DMA?  True with *ret_iova set to the IOVA of the first byte; false
 * when the caller must copy (len 0, a range outside sb->len, memory marked
 * or found unfit, or not IOVA-contiguous). */
bool mb_dp_dma_iova(struct mb_sbuf *sb, uint64_t off, uint32_t len, rte_iova_t *ret_iova);
/* The same for the longest attachable prefix of [off, off + len): how many
 * bytes from off lie at IOVA-contiguous addresses starting at *ret_iova (a
 * chain of attached pieces covers a range that is not contiguous as a
 * whole), or 0 when the first byte cannot be attached. */
uint32_t mb_dp_dma_iova_run(struct mb_sbuf *sb, uint64_t off, uint32_t len, rte_iova_t *ret_iova);

#endif /* _MB_DP_DMA_H_ */
