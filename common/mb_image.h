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
 * Image memory: `data` holds `size` bytes followed by zeroes up to
 * `alloc_len`, which is rounded up to a whole Frisbee chunk (1 MiB) so the
 * final BLOCK can be sent zero-copy.  It lives in hugepages (rte_malloc) or,
 * when the budget is short, in an mmap of the file.  The allocator that made
 * it provides `release`, called exactly once, when the last reference goes.
 * Only hugepage memory is handed to the NIC by reference; the dataplane
 * copies mmap and heap bytes (dataplane/dp_dma.h).
 *
 * This header is DPDK-free; rte_malloc is only called through `release`.
 */
#ifndef _MB_IMAGE_H_
#define _MB_IMAGE_H_

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu-qsbr.h>

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
	char name[MB_IMAGE_NAME_MAX + 1];
	uint64_t version;
	uint64_t size;
	uint8_t sha256[MB_SHA256_LEN];
	int64_t mtime; /* seconds since the epoch, from the manifest */

	uint8_t *data;	    /* owned; size bytes then zero padding */
	uint64_t alloc_len; /* bytes at data, multiple of MB_IMAGE_ALIGN */
	uint64_t iova;	    /* informational; the dataplane derives IOVAs itself */
	enum mb_image_mem mem;
	mb_image_release_fn release;
	void *release_arg; /* allocator's own handle (memzone, fd, ...) */

	_Atomic uint32_t refcnt;	  /* table holds one; sessions/conns one each */
	_Atomic uint64_t last_served_ns;  /* LRU for the hugepage budget */
	_Atomic uint64_t bytes_served;
	_Atomic uint32_t active_users;	  /* sessions + connections using it now */
	/* The dataplane's cache of where `data` lives for DMA (dataplane/
	 * dp_dma.c); 0 until first looked up.  Zero-filled at creation. */
	_Atomic uintptr_t dma_msl;

	struct rcu_head rcu;
};

/* Table of published images, sorted by name (binary search). */
struct mb_image_table {
	uint32_t count;
	uint64_t generation; /* bumps on every publish */
	struct mb_image *img[];
};

/* The published table; read with rcu_dereference() inside a read side. */
extern struct mb_image_table *mb_image_table_current;

/* Take a reference.  Only valid on a pointer obtained inside an RCU read side
 * or from an existing reference.  Any thread, never blocks. */
static inline struct mb_image *
mb_image_ref(struct mb_image *img)
{
	atomic_fetch_add_explicit(&img->refcnt, 1, memory_order_relaxed);
	return img;
}

/* Drop a reference; the last one calls img->release(img), which frees data
 * and the struct.  Any thread; release must not block for long. */
void mb_image_unref(struct mb_image *img);

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

/* A small heap image of `len` bytes in the same allocation as the struct,
 * followed by a NUL (not counted), no alignment padding: generated text such
 * as response headers and FTP listings that travel the image send path.
 * `label` (may be NULL) becomes its name, truncated, and is not validated.
 * Returns a new image with refcnt 1 the caller owns, or NULL with errno. */
struct mb_image *mb_image_new_inline(const char *label, const void *bytes, size_t len);

#endif /* _MB_IMAGE_H_ */
