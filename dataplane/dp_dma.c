/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The zero-copy decision (see dp_dma.h): find the memseg list holding a
 * buffer's bytes once per buffer, then per range derive the IOVA from the
 * memsegs and check that it is contiguous.
 */
#include <stdatomic.h>

#include <rte_eal.h>
#include <rte_memory.h>

#include "dp_dma.h"

/* Cached in sb->dma_cache: 0 = not looked up yet, DMA_NONE = copy always,
 * else the struct rte_memseg_list holding the whole allocation. */
#define DMA_NONE ((uintptr_t)1)

static const struct rte_memseg_list *
buf_msl(struct mb_sbuf *sb)
{
	uintptr_t v = atomic_load_explicit(&sb->dma_cache, memory_order_relaxed);

	if (v == 0) {
		const struct rte_memseg_list *msl = NULL;

		/* A page-cache mapping or heap memory is never attached,
		 * whatever DPDK knows. */
		if (sb->iova != MB_SBUF_IOVA_NONE && sb->data != NULL && sb->len > 0) {
			msl = rte_mem_virt2memseg_list(sb->data);
			if (msl != NULL && rte_mem_virt2memseg_list(sb->data + sb->len - 1) != msl)
				msl = NULL; /* not one allocation of DPDK's: copy */
		}
		v = msl != NULL ? (uintptr_t)msl : DMA_NONE;
		/* Any lcore may race here: all compute the same value. */
		atomic_store_explicit(&sb->dma_cache, v, memory_order_relaxed);
	}
	return v == DMA_NONE ? NULL : (const struct rte_memseg_list *)v;
}

/* IOVA of addr inside msl, or RTE_BAD_IOVA (a page not allocated, or one
 * registered without an IOVA). */
static rte_iova_t
page_iova(const struct rte_memseg_list *msl, const uint8_t *addr)
{
	const struct rte_memseg *ms = rte_mem_virt2memseg(addr, msl);

	/* EAL zeroes the memseg of a page it does not hold */
	if (ms == NULL || ms->addr == NULL || ms->len == 0 || ms->iova == RTE_BAD_IOVA)
		return RTE_BAD_IOVA;
	return ms->iova + (rte_iova_t)((uintptr_t)addr - (uintptr_t)ms->addr);
}

uint32_t
mb_dp_dma_iova_run(struct mb_sbuf *sb, uint64_t off, uint32_t len, rte_iova_t *ret_iova)
{
	const struct rte_memseg_list *msl;
	const uint8_t *addr, *p, *end;
	rte_iova_t iova;

	if (len == 0 || off > sb->len || len > sb->len - off || sb->iova == MB_SBUF_IOVA_NONE)
		return 0;
	if (sb->iova != MB_SBUF_IOVA_DERIVE) {
		*ret_iova = (rte_iova_t)(sb->iova + off); /* contiguous by its allocator */
		return len;
	}
	msl = buf_msl(sb);
	if (msl == NULL)
		return 0;
	addr = sb->data + off;
	/* EAL's own memory in IOVA-as-VA mode: the IOVA is the address (EAL
	 * maps every page it allocates for the device). */
	if (!msl->external && rte_eal_iova_mode() == RTE_IOVA_VA) {
		*ret_iova = (rte_iova_t)(uintptr_t)addr;
		return len;
	}
	iova = page_iova(msl, addr);
	if (iova == RTE_BAD_IOVA)
		return 0;
	/* the pages that follow in IOVA space, up to the first that does not */
	end = addr + len;
	p = RTE_PTR_ALIGN_FLOOR(addr, msl->page_sz);
	for (p = p + msl->page_sz; p < end; p += msl->page_sz)
		if (page_iova(msl, p) != iova + (rte_iova_t)(p - addr))
			break;
	*ret_iova = iova;
	return p < end ? (uint32_t)(p - addr) : len;
}

bool
mb_dp_dma_iova(struct mb_sbuf *sb, uint64_t off, uint32_t len, rte_iova_t *ret_iova)
{
	return mb_dp_dma_iova_run(sb, off, len, ret_iova) == len && len > 0;
}
