/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sync decision and the ranged-fetch arithmetic (ctl_sync_plan.h).  Lookups are linear: a manifest has
 * at most images.max-images entries and a round runs every few minutes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl_sync_plan.h"

bool
mb_sync_same(const struct mb_manifest_entry *a, const struct mb_manifest_entry *b)
{
	return strcmp(a->name, b->name) == 0 && a->version == b->version && a->size == b->size &&
	       memcmp(a->sha256, b->sha256, MB_SHA256_LEN) == 0;
}

static const struct mb_sync_local *
local_of(const struct mb_sync_plan_in *in, const char *name)
{
	for (size_t i = 0; i < in->nlocal; i++)
		if (strcmp(in->local[i].e->name, name) == 0)
			return &in->local[i];
	return NULL;
}

static const struct mb_sync_track *
track_of(const struct mb_sync_plan_in *in, const char *name)
{
	for (size_t i = 0; i < in->ntrack; i++)
		if (strcmp(in->track[i].want->name, name) == 0)
			return &in->track[i];
	return NULL;
}

/* The ops entry for `name` that this site takes, or NULL. */
static const struct mb_manifest_entry *
wanted(const struct mb_sync_plan_in *in, const char *name)
{
	const struct mb_manifest_entry *e = mb_manifest_find(in->remote, name);

	return e != NULL && mb_manifest_entry_for_site(e, in->site) ? e : NULL;
}

static struct mb_sync_step
decide(const struct mb_sync_plan_in *in, const struct mb_manifest_entry *e)
{
	const struct mb_sync_local *l = local_of(in, e->name);
	const struct mb_sync_track *t = track_of(in, e->name);
	struct mb_sync_step s = { .e = e };

	if (t != NULL && !mb_sync_same(t->want, e)) {
		/* it followed another version: that attempt's history is moot */
		if (t->running) {
			s.v = MB_SYNC_RESTART;
			return s;
		}
		t = NULL;
	}
	/* The store's copy counts only while its file verifies (or is being
	 * verified): a copy that failed is fetched again. */
	if (l != NULL && mb_sync_same(l->e, e) &&
	    (l->state == MB_CTL_STORE_OK || l->state == MB_CTL_STORE_LOADING)) {
		s.v = MB_SYNC_KEEP;
		return s;
	}
	if (t != NULL && t->running) {
		s.v = MB_SYNC_WAIT;
		return s;
	}
	if (t != NULL && t->failures > 0 && in->now_ms + in->slack_ms < t->retry_at_ms) {
		s.v = MB_SYNC_BACKOFF;
		s.retry_at_ms = t->retry_at_ms;
		return s;
	}
	s.v = MB_SYNC_FETCH;
	return s;
}

size_t
mb_sync_plan(const struct mb_sync_plan_in *in, struct mb_sync_step *out, size_t cap)
{
	size_t n = 0;

#define EMIT(step)                                                                             \
	do {                                                                                   \
		if (n < cap)                                                                   \
			out[n] = (step);                                                       \
		n++;                                                                           \
	} while (0)

	for (uint32_t i = 0; i < in->remote->count; i++) {
		const struct mb_manifest_entry *e = &in->remote->entries[i];

		if (mb_manifest_entry_for_site(e, in->site))
			EMIT(decide(in, e));
	}
	for (size_t i = 0; i < in->nlocal; i++)
		if (wanted(in, in->local[i].e->name) == NULL)
			EMIT(((struct mb_sync_step){
			    .v = in->keep_local ? MB_SYNC_KEEP_LOCAL : MB_SYNC_RETIRE,
			    .e = in->local[i].e }));
	for (size_t i = 0; i < in->ntrack; i++)
		if (wanted(in, in->track[i].want->name) == NULL)
			EMIT(((struct mb_sync_step){ .v = MB_SYNC_DROP, .e = in->track[i].want }));
#undef EMIT
	return n;
}

uint64_t
mb_sync_backoff_ms(unsigned failures, uint64_t interval_ms)
{
	unsigned shift = failures > 1 ? failures - 1 : 0;
	uint64_t cap = interval_ms > MB_SYNC_BACKOFF_CAP_MS ? interval_ms : MB_SYNC_BACKOFF_CAP_MS;
	uint64_t d;

	if (shift > MB_SYNC_BACKOFF_MAX_SHIFT)
		shift = MB_SYNC_BACKOFF_MAX_SHIFT;
	d = interval_ms << shift;
	return d < cap ? d : cap;
}

/* ---- ranged fetch ------------------------------------------------------------------ */

unsigned
mb_sync_range_split(uint64_t start, uint64_t size, unsigned want, uint64_t min_len,
		    struct mb_sync_range *out)
{
	uint64_t len, step, at;
	unsigned n;

	if (start >= size)
		return 0;
	len = size - start;
	if (want < 1)
		want = 1;
	if (want > MB_SYNC_RANGES_MAX)
		want = MB_SYNC_RANGES_MAX;
	if (min_len < 1)
		min_len = 1;
	n = len / min_len < want ? (unsigned)(len / min_len) : want;
	if (n < 1)
		n = 1;
	step = len / n / MB_SYNC_RANGE_ALIGN * MB_SYNC_RANGE_ALIGN;
	if (step == 0) /* under a MiB each: one range */
		n = 1;
	at = start;
	for (unsigned i = 0; i < n; i++) {
		out[i].pos = at;
		out[i].end = i + 1 == n ? size : at + step;
		at = out[i].end;
	}
	return n;
}

uint64_t
mb_sync_range_frontier(const struct mb_sync_range *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (r[i].pos < r[i].end)
			return r[i].pos;
	return r[n - 1].end;
}

int
mb_sync_range_spec(const struct mb_sync_range *r, char *out, size_t outlen)
{
	int len;

	if (r->pos >= r->end)
		return -EINVAL;
	len = snprintf(out, outlen, "%" PRIu64 "-%" PRIu64, r->pos, r->end - 1);
	if (len < 0 || (size_t)len >= outlen)
		return -EINVAL;
	return 0;
}

int
mb_sync_range_take(struct mb_sync_range *r, uint64_t n)
{
	if (n > r->end - r->pos)
		return -EMSGSIZE;
	r->pos += n;
	return 0;
}

uint64_t
mb_sync_rate_share(uint64_t max_rate, unsigned transfers)
{
	uint64_t share;

	if (max_rate == 0)
		return 0;
	share = max_rate / (transfers > 0 ? transfers : 1);
	return share > 0 ? share : 1;
}
