/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RCU-published image table (see mb_image.h for the contract).  The
 * writer is the control thread; readers are any thread registered with
 * liburcu-qsbr.  Nothing here allocates on the read side.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>
#include <urcu/rculist.h>

#include "mb_image.h"

struct mb_image_table *mb_image_table_current;

void
mb_image_unref(struct mb_image *img)
{
	if (img != NULL)
		mb_sbuf_unref(&img->sb);
}

/* The buffer's release of every image: the image allocator's. */
static void
image_buf_release(struct mb_sbuf *sb)
{
	struct mb_image *img = caa_container_of(sb, struct mb_image, sb);

	free(img->present);
	img->present = NULL;
	free(img->blk_sum);
	img->blk_sum = NULL;
	if (img->release != NULL)
		img->release(img);
}

void
mb_image_init_buf(struct mb_image *img, uint8_t *data, uint64_t alloc_len, uint64_t iova)
{
	mb_sbuf_init(&img->sb, data, alloc_len, iova, image_buf_release);
}

struct mb_image *
mb_image_of_buf(struct mb_sbuf *sb)
{
	return sb->release == image_buf_release ? caa_container_of(sb, struct mb_image, sb) :
						  NULL;
}

static int
name_cmp(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

struct mb_image *
mb_image_lookup(const char *name, size_t len)
{
	struct mb_image_table *t = rcu_dereference(mb_image_table_current);
	uint32_t lo = 0, hi;

	if (t == NULL)
		return NULL;
	hi = t->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(name, len, t->img[mid]->name);

		if (c == 0)
			return t->img[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

struct mb_image_table *
mb_image_table_alloc(uint32_t n)
{
	struct mb_image_table *t = calloc(1, sizeof(*t) + (size_t)n * sizeof(t->img[0]));

	return t;
}

static int
img_cmp(const void *a, const void *b)
{
	const struct mb_image *x = *(struct mb_image *const *)a;
	const struct mb_image *y = *(struct mb_image *const *)b;

	return strcmp(x->name, y->name);
}

void
mb_image_table_sort(struct mb_image_table *tbl)
{
	qsort(tbl->img, tbl->count, sizeof(tbl->img[0]), img_cmp);
}

/* Old tables are freed after a grace period; the extra space holds the
 * rcu_head so struct mb_image_table stays a plain flexible array. */
struct retired_table {
	struct rcu_head rcu;
	struct mb_image_table *tbl;
};

static void
free_table_rcu(struct rcu_head *head)
{
	struct retired_table *r = caa_container_of(head, struct retired_table, rcu);

	for (uint32_t i = 0; i < r->tbl->count; i++)
		mb_image_unref(r->tbl->img[i]);
	free(r->tbl);
	free(r);
}

void
mb_image_table_publish(struct mb_image_table *tbl)
{
	struct mb_image_table *old = mb_image_table_current;
	struct retired_table *r;

	if (tbl != NULL)
		tbl->generation = old != NULL ? old->generation + 1 : 1;
	rcu_assign_pointer(mb_image_table_current, tbl);
	if (old == NULL)
		return;
	r = malloc(sizeof(*r));
	if (r == NULL) {
		/* Cannot defer: wait for the grace period here instead. */
		synchronize_rcu();
		for (uint32_t i = 0; i < old->count; i++)
			mb_image_unref(old->img[i]);
		free(old);
		return;
	}
	r->tbl = old;
	call_rcu(&r->rcu, free_table_rcu);
}

bool
mb_image_name_valid(const char *name, size_t len)
{
	size_t comp = 0;

	if (len == 0 || len > MB_IMAGE_NAME_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? name[i] : '/';

		if (c == '/') {
			if (comp == 0)
				return false;
			if ((comp == 1 && name[i - 1] == '.') ||
			    (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
				return false;
			comp = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '+'))
			return false;
		comp++;
	}
	return true;
}

static void
heap_release(struct mb_image *img)
{
	free(img->sb.data);
	free(img);
}

struct mb_image *
mb_image_new_heap(const char *name, const void *bytes, uint64_t len)
{
	struct mb_image *img;
	size_t nlen = strlen(name);
	uint64_t alloc_len;
	uint8_t *data;

	if (nlen > MB_IMAGE_NAME_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	img = calloc(1, sizeof(*img));
	if (img == NULL)
		return NULL;
	alloc_len = (len + MB_IMAGE_ALIGN - 1) / MB_IMAGE_ALIGN * MB_IMAGE_ALIGN;
	if (alloc_len == 0)
		alloc_len = MB_IMAGE_ALIGN;
	data = calloc(1, alloc_len);
	if (data == NULL) {
		free(img);
		return NULL;
	}
	memcpy(data, bytes, len);
	memcpy(img->name, name, nlen + 1);
	img->size = len;
	img->blk_sum = mb_image_sum_table(len);
	img->mem = MB_IMAGE_MEM_HEAP;
	img->release = heap_release;
	mb_image_init_buf(img, data, alloc_len, MB_SBUF_IOVA_NONE);
	return img;
}
