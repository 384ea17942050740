/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hugepage cache policy (see ctl_cache.h): victim and candidate choice
 * over a snapshot the store builds.  The snapshot is small (at most
 * images.max-images entries) and the choice runs once a second or once per
 * image load, so a selection by repeated linear scans is plenty; it keeps
 * the functions free of allocation.  No side effects, no logging.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_cache.h"

static bool
victim_ok(const struct mb_cache_ent *x, uint64_t before_ns)
{
	return x->warm && !x->busy && !x->fixed && x->last_use_ns < before_ns;
}

size_t
mb_cache_pick_victims(const struct mb_cache_ent *e, size_t n, uint64_t need, uint64_t before_ns,
		      size_t *ret)
{
	uint64_t freed = 0, avail = 0;
	size_t k = 0;

	if (need == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (victim_ok(&e[i], before_ns))
			avail += e[i].len;
	if (avail < need)
		return 0;
	while (freed < need) {
		long best = -1;

		for (size_t i = 0; i < n; i++) {
			bool taken = false;

			if (!victim_ok(&e[i], before_ns))
				continue;
			for (size_t j = 0; j < k && !taken; j++)
				taken = ret[j] == i;
			if (taken)
				continue;
			/* Oldest first; among equals, the bigger frees more at once. */
			if (best < 0 || e[i].last_use_ns < e[best].last_use_ns ||
			    (e[i].last_use_ns == e[best].last_use_ns && e[i].len > e[best].len))
				best = (long)i;
		}
		if (best < 0)
			break; /* cannot happen: avail >= need */
		ret[k++] = (size_t)best;
		freed += e[best].len;
	}
	return k;
}

long
mb_cache_pick_candidate(const struct mb_cache_ent *e, size_t n, uint64_t budget)
{
	long best = -1;

	for (size_t i = 0; i < n; i++) {
		const struct mb_cache_ent *x = &e[i];

		if (x->warm || x->fixed || !(x->busy || x->want))
			continue;
		if (budget != 0 && x->len > budget)
			continue;
		if (best < 0 || x->last_use_ns > e[best].last_use_ns)
			best = (long)i;
	}
	return best;
}
