/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What sync does with a verified ops manifest, decided by one pure function
 * (ctl_sync_plan.c) beside the code that acts on it (ctl_sync.c): for every
 * image ops lists for this site, keep it, fetch it, let its download run,
 * restart it, or wait out its backoff; for every local image ops no longer
 * lists for this site, retire it; for every download nobody wants any more,
 * drop it.  No I/O, no clock, no allocation: the inputs say what the store
 * holds (and whether its file verified), what sync follows (target, running,
 * consecutive failures, when it may retry) and the time; the unit tests
 * (tests/unit/test_sync_plan.c) call it with tables.
 *
 * The decision is per image, so a fetch engine with several ranged
 * requests per image, or another origin (a parent master server) producing
 * the manifest, acts on the same steps.
 */
#ifndef _MB_CTL_SYNC_PLAN_H_
#define _MB_CTL_SYNC_PLAN_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"
#include "mb_manifest.h"

/* One image of the local store. */
struct mb_sync_local {
	const struct mb_manifest_entry *e;
	enum mb_ctl_store_state state; /* OK, LOADING or FAILED (its file did not verify) */
};

/* One image sync follows. */
struct mb_sync_track {
	const struct mb_manifest_entry *want; /* the ops entry it fetches or fetched */
	bool running;			      /* a download of `want` is in progress */
	unsigned failures;		      /* consecutive failed attempts at `want` */
	uint64_t retry_at_ms;		      /* with failures: not before (monotonic ms) */
};

struct mb_sync_plan_in {
	const struct mb_manifest *remote; /* the verified ops manifest */
	const char *site;		  /* origin.site ("" = none) */
	const struct mb_sync_local *local;
	size_t nlocal;
	const struct mb_sync_track *track; /* at most one per name */
	size_t ntrack;
	uint64_t now_ms;
	/* A retry due within slack_ms is taken now: rounds come every
	 * origin.interval, and one due just after a round would otherwise
	 * wait a whole interval more (sync passes half the interval). */
	uint64_t slack_ms;
	/* origin.local-images = keep: a local image ops does not list for
	 * this site is kept (KEEP_LOCAL) instead of retired. */
	bool keep_local;
};

enum mb_sync_verdict {
	/* for an ops entry of this site (step.e is it) */
	MB_SYNC_KEEP,	 /* the store holds it, verified or being verified */
	MB_SYNC_FETCH,	 /* download it (a .part of it is resumed) */
	MB_SYNC_RESTART, /* a download of another version runs: drop it and its .part, fetch */
	MB_SYNC_WAIT,	 /* its download runs */
	MB_SYNC_BACKOFF, /* its last attempts failed: not before step.retry_at_ms */
	/* for a local entry ops does not list for this site (step.e is it):
	 * RETIRE it, or with keep_local KEEP_LOCAL (serve it on) */
	MB_SYNC_RETIRE,
	MB_SYNC_KEEP_LOCAL,
	/* for a tracked image ops no longer lists for this site (step.e: its want) */
	MB_SYNC_DROP,
};

struct mb_sync_step {
	enum mb_sync_verdict v;
	const struct mb_manifest_entry *e;
	uint64_t retry_at_ms; /* MB_SYNC_BACKOFF */
};

/* Same content: name, version, size and SHA-256 (mtime is presentation). */
bool mb_sync_same(const struct mb_manifest_entry *a, const struct mb_manifest_entry *b);

/*
 * The steps for `in`, in this order: one per ops entry of the site (in
 * manifest order), then RETIRE (or KEEP_LOCAL) per unwanted local entry, then DROP per
 * unwanted tracked image.  Writes at most `cap` steps to out; returns how
 * many there are (more than cap: call again with room).
 */
size_t mb_sync_plan(const struct mb_sync_plan_in *in, struct mb_sync_step *out, size_t cap);

/* How long an image waits after its n-th consecutive failure (n >= 1):
 * interval_ms doubled per failure after the first, at most
 * MB_SYNC_BACKOFF_MAX_SHIFT doublings and never over
 * max(interval_ms, MB_SYNC_BACKOFF_CAP_MS). */
#define MB_SYNC_BACKOFF_MAX_SHIFT 5
#define MB_SYNC_BACKOFF_CAP_MS (6ull * 3600 * 1000)
uint64_t mb_sync_backoff_ms(unsigned failures, uint64_t interval_ms);

/*
 * Ranged fetch: one image as several HTTP Range requests in parallel.  A
 * range is [pos, end): pos is the next byte it wants, so a range that
 * fails is asked again from pos ("Range: bytes=pos-(end-1)") and nothing it
 * received is fetched twice.  The ranges are contiguous and in order, so
 * the bytes received without a gap from the start of the first range end
 * at the pos of the first range not yet complete (the frontier): what the
 * worker may write and hash in order.
 */
#define MB_SYNC_RANGES_MAX 16		 /* origin.ranges upper bound */
#define MB_SYNC_RANGE_MIN (8ull << 20)	 /* no range is shorter (but the only one) */
#define MB_SYNC_RANGE_ALIGN (1ull << 20) /* range boundaries fall on MiB */

struct mb_sync_range {
	uint64_t pos; /* next byte wanted */
	uint64_t end; /* one past its last byte */
};

/* Split [start, size) into at most `want` (1..MB_SYNC_RANGES_MAX) ranges of
 * at least min_len bytes each, boundaries on MB_SYNC_RANGE_ALIGN, the last
 * taking the remainder.  Writes out[] (room for MB_SYNC_RANGES_MAX); returns
 * how many (0 when start >= size). */
unsigned mb_sync_range_split(uint64_t start, uint64_t size, unsigned want, uint64_t min_len,
			     struct mb_sync_range *out);

/* End of the bytes received without a gap: the pos of the first incomplete
 * range, or the end of the last one when all are complete.  n >= 1. */
uint64_t mb_sync_range_frontier(const struct mb_sync_range *r, unsigned n);

/* The Range header value asking for the rest of r ("pos-last"), into out;
 * -EINVAL when r is complete or out too small, else 0. */
int mb_sync_range_spec(const struct mb_sync_range *r, char *out, size_t outlen);

/* Account n more body bytes to r: 0, or -EMSGSIZE (and r unchanged) when
 * they would run past its end (a hostile or broken server). */
int mb_sync_range_take(struct mb_sync_range *r, uint64_t n);

/* Each transfer's share of a total receive cap shared fairly by `transfers`
 * running at once: 0 (none) when the cap is 0, never below 1 byte/s. */
uint64_t mb_sync_rate_share(uint64_t max_rate, unsigned transfers);

#endif /* _MB_CTL_SYNC_PLAN_H_ */
