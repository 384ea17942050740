/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the image store shows: the "images" action (one object per image:
 * identity, state, memory, use) and the "store" health section (counts by
 * state, the hugepage budget, the cache's figures, mapping faults).
 * Control thread only; reads the store's items, changes nothing.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_imgmem.h"
#include "ctl_store_priv.h"
#include "mb_mapguard.h"
#include "mb_readahead.h"
#include "mb_time.h"

static json_t *
item_json(const struct item *it)
{
	char hex[2 * MB_SHA256_LEN + 1];
	char state[MB_MANIFEST_ERRLEN + 16];
	json_t *o;

	mb_sha256_to_hex(it->e.sha256, hex);
	switch (it->state) {
	case ITEM_OK:
		snprintf(state, sizeof(state), "ok");
		break;
	case ITEM_LOADING:
		snprintf(state, sizeof(state), "loading");
		break;
	case ITEM_DOWNLOADING:
		snprintf(state, sizeof(state), "downloading");
		break;
	default:
		snprintf(state, sizeof(state), "failed:%s", it->reason);
		break;
	}
	o = json_pack("{s:s,s:I,s:I,s:s,s:I,s:s,s:s,s:b}", "name", it->e.name, "version",
		      (json_int_t)it->e.version, "size", (json_int_t)it->e.size, "sha256", hex,
		      "mtime", (json_int_t)it->e.mtime, "state", state, "mem",
		      mb_imgmem_kind(it->img), "published", it->img != NULL);
	if (o != NULL && st.state_dir != NULL) { /* where the file is, for people */
		char path[4096 + MB_IMAGE_NAME_MAX + 16];

		store_image_path(it, path, sizeof(path));
		json_object_set_new(o, "path", json_string(path));
	}
	if (o != NULL && it->img != NULL) {
		json_object_set_new(o, "warm", json_boolean(it->img->mem == MB_IMAGE_MEM_HUGEPAGE));
		if (it->last_use_ns != 0) {
			uint64_t now = mb_time_mono_ns();

			json_object_set_new(o, "idle-ms",
					    json_integer(now > it->last_use_ns ?
							 (json_int_t)((now - it->last_use_ns) /
								      MB_NS_PER_MS) : 0));
		}
		json_object_set_new(o, "served-version",
				    json_integer((json_int_t)it->img->version));
		json_object_set_new(o, "bytes-served",
				    json_integer((json_int_t)atomic_load(&it->img->bytes_served)));
		json_object_set_new(o, "active-users",
				    json_integer(atomic_load(&it->img->active_users)));
	}
	return o;
}

static int
item_name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct item *const *)a)->e.name, (*(struct item *const *)b)->e.name);
}

json_t *
store_action_images(json_t *args, char **ret_err)
{
	struct item **v;
	size_t n = 0, i = 0;
	json_t *arr;

	(void)args;
	for (struct item *it = st.items; it != NULL; it = it->next)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	arr = json_array();
	if (v == NULL || arr == NULL) {
		free(v);
		json_decref(arr);
		*ret_err = strdup("out of memory");
		return NULL;
	}
	for (struct item *it = st.items; it != NULL; it = it->next)
		v[i++] = it;
	qsort(v, n, sizeof(*v), item_name_cmp);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, item_json(v[i]));
	free(v);
	return arr;
}

/* The cache's figures: budget, bytes in hugepages (used: allocated;
 * committed: what the store keeps; draining: demoted or replaced objects
 * that sessions still hold), warm/cold image counts and the
 * eviction/promotion counters. */
static json_t *
cache_json(unsigned warm, unsigned cold)
{
	uint64_t used = mb_imgmem_used(), committed = store_cache_committed(NULL);

	return json_pack("{s:I,s:I,s:I,s:I,s:i,s:i,s:I,s:I,s:I,s:b}", "budget",
			 (json_int_t)mb_imgmem_budget(), "used", (json_int_t)used, "committed",
			 (json_int_t)committed, "draining",
			 (json_int_t)(used > committed ? used - committed : 0), "warm", warm,
			 "cold", cold, "evictions", (json_int_t)st.evictions, "promotions",
			 (json_int_t)st.promotions, "promotion-failures",
			 (json_int_t)st.promote_failed, "promoting", st.promoting);
}

/* The read-ahead thread's figures (mb_readahead.h). */
static json_t *
readahead_json(void)
{
	struct mb_ra_stats r;

	mb_ra_stats_read(&r);
	return json_pack("{s:I,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:I}", "window", (json_int_t)r.window,
			 "images", (int)r.images, "streams", (int)r.streams, "whole", (int)r.whole,
			 "streams-started", (json_int_t)r.streams_started, "pages-read",
			 (json_int_t)r.pages_read, "pages-cached", (json_int_t)r.pages_cached,
			 "bytes", (json_int_t)r.bytes, "errors", (json_int_t)r.errors);
}

json_t *
store_health(enum mb_health_state *worst, void *arg)
{
	unsigned ok = 0, failed = 0, loading = 0, downloading = 0, huge = 0, mapped = 0;
	json_t *imgs = json_object();
	const char *mem;

	(void)arg;
	for (struct item *it = st.items; it != NULL; it = it->next) {
		switch (it->state) {
		case ITEM_OK:
			ok++;
			break;
		case ITEM_FAILED:
			failed++;
			break;
		case ITEM_LOADING:
			loading++;
			break;
		case ITEM_DOWNLOADING:
			downloading++;
			break;
		}
		if (it->img != NULL && it->img->mem == MB_IMAGE_MEM_HUGEPAGE)
			huge++;
		else if (it->img != NULL)
			mapped++;
		json_object_set_new(imgs, it->e.name, item_json(it));
	}
	if (failed > 0 && *worst < MB_HEALTH_DEGRADED)
		*worst = MB_HEALTH_DEGRADED;
	mem = huge > 0 && mapped > 0 ? "mixed" : (mapped > 0 ? "mmap" : "hugepage");
	return json_pack("{s:i,s:i,s:i,s:i,s:s,s:I,s:I,s:I,s:o,s:o,s:o}", "ok", ok, "failed", failed,
			 "loading", loading, "downloading", downloading, "mem", mem,
			 "hugepage-bytes", (json_int_t)mb_imgmem_used(),
			 "hugepage-budget", (json_int_t)mb_imgmem_budget(),
			 "mapping-faults", (json_int_t)mb_mapguard_faults(),
			 "cache", cache_json(huge, mapped), "readahead", readahead_json(),
			 "images", imgs);
}
