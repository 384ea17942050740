/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hugepage cache policy, as pure functions over a snapshot of the
 * store's images: which images are busy, which warm images to demote to an
 * mmap copy when the budget is short (least recently served first, never a
 * busy one), and which cold image to promote back into hugepages.  The store
 * (ctl_store.c) builds the snapshot on the control thread, applies the
 * decisions and owns every side effect; nothing here allocates, logs or
 * touches DPDK, so the unit tests (and valgrind) exercise the policy alone.
 */
#ifndef _MB_CTL_CACHE_H_
#define _MB_CTL_CACHE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_time.h"

/* How often the control thread re-evaluates the cache. */
#define MB_CACHE_TICK_MS 1000u
/* An image served within this window (or with a session/connection on it)
 * is busy: never demoted, and promoted when it sits in an mmap. */
#define MB_CACHE_HOT_NS (10 * MB_NS_PER_SEC)

/* One image as the policy sees it. */
struct mb_cache_ent {
	uint64_t len;	      /* hugepage bytes it holds or would need (alloc_len) */
	uint64_t last_use_ns; /* CLOCK_MONOTONIC; 0 = never served */
	bool warm;	      /* its published object lives in hugepages */
	bool busy;	      /* see mb_cache_busy() */
	bool fixed;	      /* may not change now (a load or promotion in flight) */
	bool want;	      /* asked to be warm (it displaced others when loaded) */
};

/* Busy: a session or connection is on it, or it was served within
 * MB_CACHE_HOT_NS before now_ns. */
static inline bool
mb_cache_busy(uint32_t active_users, uint64_t last_served_ns, uint64_t now_ns)
{
	if (active_users > 0)
		return true;
	return last_served_ns != 0 && last_served_ns + MB_CACHE_HOT_NS > now_ns;
}

/*
 * Choose warm, idle (not busy), not fixed entries last used strictly before
 * before_ns, least recently used first, until their lengths add up to at
 * least `need` bytes.  Writes their indices to ret (room for n) and returns
 * how many; returns 0 and chooses nothing when they cannot add up to `need`
 * (demoting some would only cost copies), or when need is 0.
 */
size_t mb_cache_pick_victims(const struct mb_cache_ent *e, size_t n, uint64_t need,
			     uint64_t before_ns, size_t *ret);

/*
 * The entry to promote: cold (not warm), not fixed, busy or wanted, with
 * len <= budget (0 = any), most recently used first (the store stamps a
 * wanted entry's last_use_ns when it was loaded).  Returns its index, or -1
 * when there is none.
 */
long mb_cache_pick_candidate(const struct mb_cache_ent *e, size_t n, uint64_t budget);

#endif /* _MB_CTL_CACHE_H_ */
