/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Published images and the RCU-protected table of them.
 *
 * An image is immutable once published: (name, version, size, sha256, mtime)
 * and its bytes never change; a new version is a new struct mb_image.  The
 * control thread is the only writer of the table: it builds a new table and
 * swaps the pointer (rcu_assign_pointer); the old table is freed after a
 * grace period (call_rcu).  Readers (dataplane lcores, control actions) look
 * images up inside an RCU read side (liburcu-qsbr: between quiescent states)
 * and take a reference with mb_image_ref() if they keep the pointer beyond
 * their current loop pass (a Frisbee session, a TCP connection).
 *
 * Image memory is the embedded send buffer `sb` (common/mb_sbuf.h): sb.data
 * holds `size` bytes followed by zeroes up to sb.len, which is rounded up to
 * a whole Frisbee chunk (1 MiB) so the final BLOCK can be sent zero-copy.  It
 * lives in hugepages (rte_malloc) or, when the budget is short, in an mmap
 * of the file.  The buffer's reference count is the image's; the allocator
 * that made it provides `release`, called exactly once, when the last
 * reference goes (mb_image_init_buf wires the buffer's release to it).  Only
 * hugepage memory is handed to the NIC by reference (sb.iova is
 * MB_SBUF_IOVA_DERIVE); the dataplane copies mmap and heap bytes
 * (MB_SBUF_IOVA_NONE, dataplane/dp_dma.h).
 *
 * This header is DPDK-free; rte_malloc is only called through `release`.
 */
#ifndef _MB_IMAGE_H_
#define _MB_IMAGE_H_

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <urcu-qsbr.h>

#include "mb_sbuf.h"

#define MB_IMAGE_NAME_MAX 255 /* fits the master server's 256-byte imageid */
#define MB_SHA256_LEN 32
#define MB_IMAGE_ALIGN (1024u * 1024u) /* one Frisbee chunk */

enum mb_image_mem {
	MB_IMAGE_MEM_NONE = 0, /* not loaded (metadata only) */
	MB_IMAGE_MEM_HUGEPAGE,
	MB_IMAGE_MEM_MMAP,
	MB_IMAGE_MEM_HEAP, /* unit tests and tools */
};

struct mb_image;
typedef void (*mb_image_release_fn)(struct mb_image *img);

struct mb_image {
	struct mb_sbuf sb; /* the bytes and the reference count (see above) */
	char name[MB_IMAGE_NAME_MAX + 1];
	uint64_t version;
	uint64_t size;
	uint8_t sha256[MB_SHA256_LEN];
	int64_t mtime; /* seconds since the epoch, from the manifest */
	/* Cut-through (an image served while it is still being received): one
	 * bit per 1 MiB chunk, set (release) once every byte of the chunk is in
	 * place; NULL = every chunk is.  malloc'd, freed with the image. */
	uint8_t *present;
	/* Bumped (release) after each bit of `present` is set: a session that
	 * holds requests for absent chunks (dataplane/dp_fris.c, parked)
	 * looks at its bitmap again only when this changed. */
	_Atomic uint64_t fill_gen;
	/* The Frisbee sender's cache of each 1 KiB block's 16-bit one's
	 * complement sum (0x10000 | sum once computed, 0 = not yet), so a BLOCK's
	 * UDP checksum costs its 32 header bytes, not the payload's 1 KiB again
	 * on every round.  Written by the lcores (relaxed: every writer stores
	 * the same value); calloc'd by the constructor, NULL = no cache; freed
	 * with the image. */
	uint32_t *blk_sum;

	enum mb_image_mem mem;
	mb_image_release_fn release;
	void *release_arg; /* allocator's own handle (memzone, fd, ...) */

	_Atomic uint64_t last_served_ns;  /* LRU for the hugepage budget */
	_Atomic uint64_t bytes_served;
	_Atomic uint32_t active_users;	  /* sessions + connections using it now */
	/* Where the dataplane reads it: 1 + the byte offset at which an lcore
	 * last started reading (a Frisbee run of blocks, a TCP segment), 0 =
	 * none since the read-ahead thread last looked (it swaps 0 in).  A
	 * hint for common/mb_readahead.c, relaxed stores, last writer wins. */
	_Atomic uint64_t ra_hint;

	struct rcu_head rcu;
};

#define MB_IMAGE_SUM_BLOCK 1024 /* bytes per blk_sum entry: a Frisbee block */

/* A blk_sum table for an image of `size` bytes (NULL when out of memory:
 * the sender then sums every payload). */
static inline uint32_t *
mb_image_sum_table(uint64_t size)
{
	return (uint32_t *)calloc((size_t)((size + MB_IMAGE_SUM_BLOCK - 1) / MB_IMAGE_SUM_BLOCK) + 1,
				  sizeof(uint32_t));
}

/* Is chunk `c` of img in place (see present)?  Any thread. */
static inline bool
mb_image_chunk_present(const struct mb_image *img, uint64_t c)
{
	return img->present == NULL ||
	       (__atomic_load_n(&img->present[c >> 3], __ATOMIC_ACQUIRE) & (1u << (c & 7))) != 0;
}

/* The filler: chunk `c`'s bytes are all written.  The bit, then the fill
 * generation (both release: whoever sees the new generation sees the bit,
 * and whoever sees the bit sees the bytes). */
static inline void
mb_image_chunk_set_present(struct mb_image *img, uint64_t c)
{
	__atomic_fetch_or(&img->present[c >> 3], (uint8_t)(1u << (c & 7)), __ATOMIC_RELEASE);
	atomic_fetch_add_explicit(&img->fill_gen, 1, memory_order_release);
}

/* The fill generation (see fill_gen).  Any thread. */
static inline uint64_t
mb_image_fill_gen(const struct mb_image *img)
{
	return atomic_load_explicit((_Atomic uint64_t *)&img->fill_gen, memory_order_acquire);
}

/* Table of published images, sorted by name (binary search). */
struct mb_image_table {
	uint32_t count;
	uint64_t generation; /* bumps on every publish */
	struct mb_image *img[];
};

/* The published table; read with rcu_dereference() inside a read side. */
extern struct mb_image_table *mb_image_table_current;

/* Take a reference (on img->sb).  Only valid on a pointer obtained inside an
 * RCU read side or from an existing reference.  Any thread, never blocks. */
static inline struct mb_image *
mb_image_ref(struct mb_image *img)
{
	mb_sbuf_ref(&img->sb);
	return img;
}

/* Drop a reference; the last one calls img->release(img), which frees the
 * bytes and the struct.  NULL is ignored.  Any thread; release must not
 * block for long. */
void mb_image_unref(struct mb_image *img);

/* Give a new image object its memory: sb covers `alloc_len` bytes at data
 * (may be NULL and filled in later by the allocator), `iova` as in
 * mb_sbuf.h, one reference (the caller's).  The buffer's release calls
 * img->release.  Allocators (the store, mb_image_new_heap, tests) call it
 * once, before the image is shared. */
void mb_image_init_buf(struct mb_image *img, uint8_t *data, uint64_t alloc_len, uint64_t iova);

/* The image a send buffer belongs to, or NULL for a buffer that is not an
 * image's (a response header, a listing).  For per-image accounting in
 * the dataplane (bytes served, last use). */
struct mb_image *mb_image_of_buf(struct mb_sbuf *sb);

/* Look up by exact name (len bytes, need not be NUL-terminated).  Caller is
 * inside an RCU read side; the result is valid until its next quiescent state
 * unless it takes a reference.  Never blocks. */
struct mb_image *mb_image_lookup(const char *name, size_t len);

/* Control thread only: publish `tbl` (ownership moves to RCU; each image in it
 * must carry the table's reference), and retire the old table: images absent
 * from the new table lose the old table's reference after a grace period.
 * Never blocks (uses call_rcu). */
void mb_image_table_publish(struct mb_image_table *tbl);

/* Allocate an empty table with room for n images.  Returns NULL with errno. */
struct mb_image_table *mb_image_table_alloc(uint32_t n);

/* Sort a table's images by name (call before publish). */
void mb_image_table_sort(struct mb_image_table *tbl);

/* Valid image name: 1..255 bytes of [A-Za-z0-9._+-] with '/' separating
 * non-empty components, none of them "." or "..".  Never touches the disk. */
bool mb_image_name_valid(const char *name, size_t len);

/* Heap-backed image for tests and tools: copies `len` bytes.  Returns a new
 * image with refcnt 1, or NULL with errno. */
struct mb_image *mb_image_new_heap(const char *name, const void *bytes, uint64_t len);

#endif /* _MB_IMAGE_H_ */
