/* SPDX-License-Identifier: BSD-3-Clause */
/* Images in DPDK memory for the dpdk suite (see rte_image.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_malloc.h>

#include "rte_image.h"

static void
release_rte(struct mb_image *img)
{
	rte_free(img->sb.data);
	free(img);
}

struct mb_image *
mbt_rte_image(const char *name, const uint8_t *bytes, size_t len)
{
	struct mb_image *img = calloc(1, sizeof(*img));
	uint64_t alloc_len = RTE_ALIGN_CEIL(len, MB_IMAGE_ALIGN);
	uint8_t *data;

	if (img == NULL)
		return NULL;
	data = rte_zmalloc("mbt_img", alloc_len, 4096);
	if (data == NULL) {
		free(img);
		return NULL;
	}
	memcpy(data, bytes, len);
	snprintf(img->name, sizeof(img->name), "%s", name);
	img->size = len;
	img->blk_sum = mb_image_sum_table(len); /* the sender's path of the daemon */
	img->mem = MB_IMAGE_MEM_HUGEPAGE;
	img->release = release_rte;
	mb_image_init_buf(img, data, alloc_len, MB_SBUF_IOVA_DERIVE);
	return img;
}
