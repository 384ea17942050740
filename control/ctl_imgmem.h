/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Image memory: the only place that allocates the bytes of a struct
 * mb_image in the daemon, and the constructors that return a whole object
 * (identity, memory, release) rather than a struct to fill in.
 *
 * Two kinds of memory:
 *  - pinned ("hugepage") memory from the installed allocator, counted
 *    against images.hugepage-budget (0 = no budget: whatever the allocator
 *    has); the daemon's allocator is rte_malloc (mb_imgmem_rte, DMA-able:
 *    the dataplane attaches it to mbufs), programs without EAL may install
 *    mb_imgmem_heap (page-aligned heap, never attached) or none at all;
 *  - a read-only mmap of the image's file over a zeroed anonymous region,
 *    guarded against SIGBUS (common/mb_mapguard.h): a read error or a
 *    truncation under it reads zeroes and flags the image, never kills the
 *    thread that reads it.  Never attached (page cache).
 *
 * Either way the object holds `size` bytes then zeroes up to a whole
 * MB_IMAGE_ALIGN chunk, so the last Frisbee BLOCK is whole, and its release
 * gives the memory back (and the budget) when the last reference goes, on
 * whatever thread that is.
 *
 * Control thread, except the releases (any thread).
 */
#ifndef _MB_CTL_IMGMEM_H_
#define _MB_CTL_IMGMEM_H_

#include <stdbool.h>
#include <stdint.h>

#include "mb_image.h"
#include "mb_manifest.h"

/* Where pinned memory comes from. */
struct mb_imgmem_ops {
	void *(*alloc)(uint64_t len); /* page-aligned; NULL when there is none */
	void (*free)(void *p);	      /* any thread */
	uint64_t iova;		      /* MB_SBUF_IOVA_DERIVE or MB_SBUF_IOVA_NONE */
};

/* rte_malloc (control/ctl_dpdk.c, library mb_ctl_eal). */
extern const struct mb_imgmem_ops mb_imgmem_rte;
/* The heap, for programs without EAL (tests, sync-probe). */
extern const struct mb_imgmem_ops mb_imgmem_heap;

/* What an image is, without its bytes. */
struct mb_image_ident {
	const char *name;
	uint64_t version;
	uint64_t size;
	const uint8_t *sha256;
	int64_t mtime;
};

static inline struct mb_image_ident
mb_image_ident_entry(const struct mb_manifest_entry *e)
{
	return (struct mb_image_ident){ e->name, e->version, e->size, e->sha256, e->mtime };
}

static inline struct mb_image_ident
mb_image_ident_of(const struct mb_image *img)
{
	return (struct mb_image_ident){ img->name, img->version, img->size, img->sha256,
					img->mtime };
}

/* Install the pinned-memory allocator (borrowed for the process's life;
 * NULL: none, every image is mapped).  Before the first allocation. */
void mb_imgmem_set_ops(const struct mb_imgmem_ops *ops);
/* images.hugepage-budget (0 = none). */
void mb_imgmem_set_budget(uint64_t budget);
uint64_t mb_imgmem_budget(void);
/* Pinned bytes allocated now (objects still held by sessions included). */
uint64_t mb_imgmem_used(void);
/* The memory an image of `size` bytes takes: whole chunks, at least one. */
uint64_t mb_imgmem_len(uint64_t size);
/* Would `len` more pinned bytes stay within the budget now? */
bool mb_imgmem_fits(uint64_t len);

/* Install the SIGBUS guard that mappings need (without it nothing is
 * mapped) and return its eventfd, readable after a fault; -errno. */
int mb_imgmem_guard_init(void);
/* Did a fault hit this (mapped) image?  *ret_off: where. */
bool mb_imgmem_faulted(const struct mb_image *img, uint64_t *ret_off);

/*
 * Constructors.  Each returns a new object with one reference (the
 * caller's), its identity from `id`, not published; NULL with errno.
 *  - pinned: memory within the budget (ENOSPC over it, ENOMEM when the
 *    allocator has none), the padding zeroed, the bytes for the caller to
 *    fill (a worker copy, a download) before anyone else sees the object;
 *  - mapped: `path` mapped (its first id->size bytes) with zero padding;
 *  - new: pinned if it fits, else mapped (path NULL: pinned or nothing).
 */
struct mb_image *mb_imgmem_pinned(const struct mb_image_ident *id);
struct mb_image *mb_imgmem_mapped(const struct mb_image_ident *id, const char *path);
struct mb_image *mb_imgmem_new(const struct mb_image_ident *id, const char *path);

/* "hugepage", "mmap", "heap" or "none" (no object). */
const char *mb_imgmem_kind(const struct mb_image *img);

#endif /* _MB_CTL_IMGMEM_H_ */
