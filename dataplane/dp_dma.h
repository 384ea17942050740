/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Which image bytes may be handed to the port by reference (zero copy), and
 * at which IOVA: the one decision behind both zero-copy paths, the Frisbee
 * BLOCK payloads (dp_fris.c) and the TCP segment payloads (dp_tcp.c).
 *
 * A NIC reads an attached external buffer by DMA at the IOVA given with it.
 * That is only safe for memory DPDK knows: its own allocator's hugepages
 * (rte_malloc, memzones), or external memory registered with
 * rte_extmem_register() together with the IOVA of each page.  Everything
 * else is copied into the mbuf instead:
 *  - heap memory (malloc'd inline images: HTTP response headers, FTP
 *    listings; heap test images): with vfio in IOVA-as-VA mode it is not
 *    mapped in the IOMMU, and in PA mode its pages are neither pinned nor
 *    physically contiguous;
 *  - page-cache mappings of demoted images (MB_IMAGE_MEM_MMAP): file pages
 *    are not pinned, may be reclaimed or replaced under the transfer, and a
 *    NIC with checksum offload would checksum whatever it read;
 *  - a range that is not IOVA-contiguous (PA mode, crossing into a page that
 *    does not follow in IOVA space) or that leaves the image's allocation.
 * Whoever registers external memory for this purpose must also map it for
 * the device (rte_dev_dma_map) when the IOMMU is in use; DPDK's own memory
 * is mapped by EAL.
 *
 * Cost: the memory lookup is done once per image object (cached in it; image
 * objects are immutable, a demotion makes a new one); per segment it is a
 * mode test in IOVA-as-VA mode and one memseg lookup per page crossed in PA
 * mode.  Any lcore, never blocks, never logs.
 */
#ifndef _MB_DP_DMA_H_
#define _MB_DP_DMA_H_

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

#include "mb_image.h"

/* May bytes [off, off + len) of img be attached to an mbuf for the port to
 * read by DMA?  True with *ret_iova set to the IOVA of the first byte; false
 * when the caller must copy (len 0, a range outside img->alloc_len, memory
 * DPDK does not know, or not IOVA-contiguous). */
bool mb_dp_dma_iova(struct mb_image *img, uint64_t off, uint32_t len, rte_iova_t *ret_iova);

#endif /* _MB_DP_DMA_H_ */
