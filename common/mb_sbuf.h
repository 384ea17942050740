/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A send buffer: bytes the dataplane transmits by reference, with the
 * reference count that keeps them alive while segments or frames point into
 * them.  Every payload the dataplane sends is one: an image's memory
 * (struct mb_image embeds one), an HTTP response header, an FTP listing.
 * The TCP core queues (buffer, offset, length) spans of them and the
 * zero-copy path attaches their bytes to mbufs or copies them
 * (dataplane/dp_zc.c); neither needs to know what kind of buffer it holds.
 *
 * Fields:
 *  - data, len: `len` readable bytes (an image's includes its zero padding
 *    up to the chunk boundary, so the last Frisbee BLOCK is whole);
 *  - iova: MB_SBUF_IOVA_NONE when the bytes must never be read by a device
 *    (heap, page-cache mappings), else MB_SBUF_IOVA_DERIVE: the dataplane
 *    derives the IOVA of each range from DPDK's memory map and caches what
 *    it learned in `dma_cache` (dataplane/dp_dma.h);
 *  - refcnt, release: the last mb_sbuf_unref calls release(sb), which frees
 *    the bytes and whatever holds the struct.
 *
 * Immutable once shared: nobody writes data after the first reference left
 * its creator.  DPDK-free; any thread may ref and unref.
 */
#ifndef _MB_SBUF_H_
#define _MB_SBUF_H_

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MB_SBUF_IOVA_NONE UINT64_MAX	    /* never attached: always copied */
#define MB_SBUF_IOVA_DERIVE (UINT64_MAX - 1) /* ask DPDK's memory map */

struct mb_sbuf;
typedef void (*mb_sbuf_release_fn)(struct mb_sbuf *sb);

struct mb_sbuf {
	uint8_t *data;
	uint64_t len;
	uint64_t iova;
	_Atomic uint32_t refcnt;
	mb_sbuf_release_fn release;
	/* The dataplane's cache of where `data` lives for DMA (dp_dma.c); 0
	 * until first looked up. */
	_Atomic uintptr_t dma_cache;
};

/* Fill sb for `len` bytes at data with one reference (the caller's).  The
 * caller owns sb's storage; release frees it when the last reference goes. */
static inline void
mb_sbuf_init(struct mb_sbuf *sb, void *data, uint64_t len, uint64_t iova,
	     mb_sbuf_release_fn release)
{
	sb->data = data;
	sb->len = len;
	sb->iova = iova;
	sb->release = release;
	atomic_init(&sb->refcnt, 1);
	atomic_init(&sb->dma_cache, 0);
}

/* Take a reference on a buffer the caller holds one of (or reads inside an
 * RCU read side that keeps it alive).  Any thread, never blocks. */
static inline struct mb_sbuf *
mb_sbuf_ref(struct mb_sbuf *sb)
{
	atomic_fetch_add_explicit(&sb->refcnt, 1, memory_order_relaxed);
	return sb;
}

/* Drop a reference; the last one calls sb->release(sb).  NULL is ignored.
 * Any thread (a mbuf free callback, say); release must not block. */
static inline void
mb_sbuf_unref(struct mb_sbuf *sb)
{
	if (sb != NULL && atomic_fetch_sub_explicit(&sb->refcnt, 1, memory_order_acq_rel) == 1 &&
	    sb->release != NULL)
		sb->release(sb);
}

/* A heap buffer holding a copy of `len` bytes (one allocation with the
 * struct, followed by a NUL not counted in len): generated text such as
 * HTTP response headers and FTP listings.  Never attached (heap memory).
 * Returns a new buffer with one reference, the caller's, or NULL with
 * errno. */
struct mb_sbuf *mb_sbuf_new_copy(const void *bytes, size_t len);

#endif /* _MB_SBUF_H_ */
