/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Image memory (ctl_imgmem.h): the pinned allocator and its budget, file
 * mappings with their SIGBUS guard, and the image constructors.  The budget
 * counter is atomic because releases run on any thread (the last reference
 * may be a dataplane mbuf's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctl_imgmem.h"
#include "mb_cleanup.h"
#include "mb_mapguard.h"

static const struct mb_imgmem_ops *pinned_ops;
static uint64_t budget;
static _Atomic uint64_t used;
static bool guarded;

/* ---- the heap allocator ------------------------------------------------------- */

static void *
heap_alloc(uint64_t len)
{
	void *p = NULL;

	return posix_memalign(&p, 4096, (size_t)len) == 0 ? p : NULL;
}

const struct mb_imgmem_ops mb_imgmem_heap = {
	.alloc = heap_alloc,
	.free = free,
	.iova = MB_SBUF_IOVA_NONE,
};

/* ---- budget ------------------------------------------------------------------ */

void
mb_imgmem_set_ops(const struct mb_imgmem_ops *ops)
{
	pinned_ops = ops;
}

void
mb_imgmem_set_budget(uint64_t b)
{
	budget = b;
}

uint64_t
mb_imgmem_budget(void)
{
	return budget;
}

uint64_t
mb_imgmem_used(void)
{
	return atomic_load(&used);
}

uint64_t
mb_imgmem_len(uint64_t size)
{
	uint64_t a = (size + MB_IMAGE_ALIGN - 1) / MB_IMAGE_ALIGN * MB_IMAGE_ALIGN;

	return a != 0 ? a : MB_IMAGE_ALIGN;
}

bool
mb_imgmem_fits(uint64_t len)
{
	return budget == 0 || atomic_load(&used) + len <= budget;
}

/* ---- the object ----------------------------------------------------------------- */

/* An object with id's identity and no memory yet. */
static struct mb_image *
shell(const struct mb_image_ident *id, uint64_t iova)
{
	struct mb_image *img;

	if (strlen(id->name) > MB_IMAGE_NAME_MAX) {
		errno = EINVAL;
		return NULL;
	}
	img = calloc(1, sizeof(*img));
	if (img == NULL)
		return NULL;
	memcpy(img->name, id->name, strlen(id->name) + 1);
	img->version = id->version;
	img->size = id->size;
	memcpy(img->sha256, id->sha256, MB_SHA256_LEN);
	img->mtime = id->mtime;
	img->blk_sum = mb_image_sum_table(id->size);
	mb_image_init_buf(img, NULL, mb_imgmem_len(id->size), iova);
	return img;
}

/* Free a shell that never got its memory (what shell() allocated). */
static void
shell_free(struct mb_image *img)
{
	int e = errno;

	free(img->blk_sum);
	free(img);
	errno = e;
}

static void
release_pinned(struct mb_image *img)
{
	const struct mb_imgmem_ops *ops = img->release_arg;

	atomic_fetch_sub(&used, img->sb.len);
	ops->free(img->sb.data);
	free(img);
}

struct mb_image *
mb_imgmem_pinned(const struct mb_image_ident *id)
{
	const struct mb_imgmem_ops *ops = pinned_ops;
	struct mb_image *img;
	uint64_t len = mb_imgmem_len(id->size);

	if (ops == NULL || !mb_imgmem_fits(len)) {
		errno = ops == NULL ? ENOMEM : ENOSPC;
		return NULL;
	}
	img = shell(id, ops->iova);
	if (img == NULL)
		return NULL;
	img->sb.data = ops->alloc(len);
	if (img->sb.data == NULL) {
		shell_free(img);
		errno = ENOMEM;
		return NULL;
	}
	atomic_fetch_add(&used, len);
	memset(img->sb.data + img->size, 0, img->sb.len - img->size);
	img->mem = MB_IMAGE_MEM_HUGEPAGE;
	img->release = release_pinned;
	img->release_arg = (void *)ops;
	return img;
}

/* The guard slot of a mapped object (release_arg holds slot + 1), or -1. */
static int
guard_of(const struct mb_image *img)
{
	if (img == NULL || img->mem != MB_IMAGE_MEM_MMAP || img->release_arg == NULL)
		return -1;
	return (int)(intptr_t)img->release_arg - 1;
}

static void
release_mapped(struct mb_image *img)
{
	mb_mapguard_remove(guard_of(img));
	(void)munmap(img->sb.data, img->sb.len);
	free(img);
}

/* Map `size` bytes of path read-only over a zeroed anonymous region of
 * alloc_len bytes, so the padding after the last byte reads as zeroes, and
 * guard the file's pages.  *ret_guard gets the guard slot + 1.  NULL with
 * errno. */
static uint8_t *
map_file(const char *path, uint64_t size, uint64_t alloc_len, void **ret_guard)
{
	_cleanup_close_ int fd = -1;
	uint8_t *base, *m;
	int g, e;

	*ret_guard = NULL;
	if (!guarded) {
		errno = ENOTSUP; /* no SIGBUS guard: a bad disk would kill us */
		return NULL;
	}
	base = mmap(NULL, alloc_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (size == 0)
		return base;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		goto fail;
	m = mmap(base, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	g = mb_mapguard_add(base, (size_t)size);
	if (g < 0) {
		errno = -g;
		goto fail;
	}
	*ret_guard = (void *)(intptr_t)(g + 1);
	return base;
fail:
	e = errno;
	(void)munmap(base, alloc_len);
	errno = e;
	return NULL;
}

struct mb_image *
mb_imgmem_mapped(const struct mb_image_ident *id, const char *path)
{
	struct mb_image *img = shell(id, MB_SBUF_IOVA_NONE); /* page cache: never attached */

	if (img == NULL)
		return NULL;
	img->sb.data = map_file(path, id->size, img->sb.len, &img->release_arg);
	if (img->sb.data == NULL) {
		shell_free(img);
		return NULL;
	}
	img->mem = MB_IMAGE_MEM_MMAP;
	img->release = release_mapped;
	return img;
}

struct mb_image *
mb_imgmem_new(const struct mb_image_ident *id, const char *path)
{
	struct mb_image *img = mb_imgmem_pinned(id);

	if (img != NULL || path == NULL)
		return img;
	return mb_imgmem_mapped(id, path);
}

int
mb_imgmem_guard_init(void)
{
	int fd = mb_mapguard_init();

	guarded = fd >= 0;
	return fd;
}

bool
mb_imgmem_faulted(const struct mb_image *img, uint64_t *ret_off)
{
	return mb_mapguard_faulted(guard_of(img), ret_off);
}

const char *
mb_imgmem_kind(const struct mb_image *img)
{
	if (img == NULL)
		return "none";
	switch (img->mem) {
	case MB_IMAGE_MEM_HUGEPAGE:
		return "hugepage";
	case MB_IMAGE_MEM_MMAP:
		return "mmap";
	case MB_IMAGE_MEM_HEAP:
		return "heap";
	default:
		return "none";
	}
}
