/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sync's decision (control/ctl_sync_plan.c) on hand-made tables: what ops
 * lists for this site is kept when the store holds it and its file
 * verifies, fetched when it does not (also when the local entry matches
 * but the file failed verification), left to run, restarted when another
 * version downloads, held back while its backoff runs; what ops no longer
 * lists is retired or dropped, or kept with origin.local-images = keep; the
 * backoff doubles per failure up to its bounds; an image split into ranges,
 * resumed per range, and the receive cap shared by the transfers.  No I/O,
 * no clock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_sync_plan.h"

static char utah[] = "utah", boston[] = "boston";
static char *only_utah[] = { utah };
static char *only_boston[] = { boston };

static struct mb_manifest_entry
ent(const char *name, uint64_t version, uint8_t sha)
{
	struct mb_manifest_entry e;

	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.version = version;
	e.size = 1000 + version;
	memset(e.sha256, sha, sizeof(e.sha256));
	e.mtime = 1700000000;
	return e;
}

/* ops: A v2, B v1 (utah only), C v1 (boston only), D v3 */
static struct mb_manifest_entry rent[4];
static struct mb_manifest remote = { .count = 4, .cap = 4, .entries = rent };

static void
reset_remote(void)
{
	rent[0] = ent("A", 2, 0xa2);
	rent[1] = ent("B", 1, 0xb1);
	rent[1].nsites = 1;
	rent[1].sites = only_utah;
	rent[2] = ent("C", 1, 0xc1);
	rent[2].nsites = 1;
	rent[2].sites = only_boston;
	rent[3] = ent("D", 3, 0xd3);
}

static uint64_t slack;
static bool keep_local;

static size_t
plan(const struct mb_sync_local *l, size_t nl, const struct mb_sync_track *t, size_t nt,
     uint64_t now, struct mb_sync_step *out, size_t cap)
{
	struct mb_sync_plan_in in = {
		.remote = &remote, .site = "utah", .local = l, .nlocal = nl, .track = t,
		.ntrack = nt, .now_ms = now, .slack_ms = slack, .keep_local = keep_local,
	};

	return mb_sync_plan(&in, out, cap);
}

/* The verdict for `name` among the steps (-1: none). */
static int
verdict(const struct mb_sync_step *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].e->name, name) == 0)
			return (int)s[i].v;
	return -1;
}

static void
test_fresh(void **state)
{
	struct mb_sync_step s[8];
	size_t n;

	(void)state;
	reset_remote();
	n = plan(NULL, 0, NULL, 0, 1000, s, 8);
	assert_int_equal(n, 3); /* A, B, D: C is boston's */
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_FETCH);
	assert_int_equal(verdict(s, n, "B"), MB_SYNC_FETCH);
	assert_int_equal(verdict(s, n, "C"), -1);
	assert_int_equal(verdict(s, n, "D"), MB_SYNC_FETCH);
	/* in manifest order */
	assert_string_equal(s[0].e->name, "A");
	assert_string_equal(s[2].e->name, "D");
}

/* The local copy counts while its file verifies (or is being verified); a
 * copy whose file failed is fetched again even though the entry matches. */
static void
test_local_state(void **state)
{
	struct mb_manifest_entry a = ent("A", 2, 0xa2), b = ent("B", 1, 0xb1),
				 d = ent("D", 3, 0xd3);
	struct mb_sync_local l[] = {
		{ &a, MB_CTL_STORE_OK },
		{ &b, MB_CTL_STORE_LOADING },
		{ &d, MB_CTL_STORE_FAILED },
	};
	struct mb_sync_step s[8];
	size_t n;

	(void)state;
	reset_remote();
	n = plan(l, 3, NULL, 0, 1000, s, 8);
	assert_int_equal(n, 3);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_KEEP);
	assert_int_equal(verdict(s, n, "B"), MB_SYNC_KEEP);
	assert_int_equal(verdict(s, n, "D"), MB_SYNC_FETCH);
	/* mtime is presentation: a local entry differing only there is kept */
	a.mtime++;
	n = plan(l, 3, NULL, 0, 1000, s, 8);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_KEEP);
	/* another version, size or digest is not the same image */
	a = ent("A", 1, 0xa2);
	b.size++;
	n = plan(l, 3, NULL, 0, 1000, s, 8);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_FETCH);
	assert_int_equal(verdict(s, n, "B"), MB_SYNC_FETCH);
	d = ent("D", 3, 0xd3);
	d.sha256[7] ^= 1;
	l[2].state = MB_CTL_STORE_OK;
	n = plan(l, 3, NULL, 0, 1000, s, 8);
	assert_int_equal(verdict(s, n, "D"), MB_SYNC_FETCH);
}

static void
test_downloads(void **state)
{
	struct mb_manifest_entry a = ent("A", 2, 0xa2), b_old = ent("B", 0, 0xb0),
				 d = ent("D", 3, 0xd3);
	struct mb_sync_local l[] = { { &d, MB_CTL_STORE_FAILED } };
	struct mb_sync_track t[] = {
		{ .want = &a, .running = true },
		{ .want = &b_old, .running = true },
		{ .want = &d, .running = true },
	};
	struct mb_sync_step s[8];
	size_t n;

	(void)state;
	reset_remote();
	n = plan(l, 1, t, 3, 1000, s, 8);
	assert_int_equal(n, 3);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_WAIT);
	assert_int_equal(verdict(s, n, "B"), MB_SYNC_RESTART); /* v0 runs, ops has v1 */
	assert_int_equal(verdict(s, n, "D"), MB_SYNC_WAIT);    /* refetch of a failed copy */
	/* a record of another version that is not running is no obstacle */
	t[1].running = false;
	t[1].failures = 3;
	t[1].retry_at_ms = 99999;
	n = plan(l, 1, t, 3, 1000, s, 8);
	assert_int_equal(verdict(s, n, "B"), MB_SYNC_FETCH);
}

static void
test_backoff(void **state)
{
	struct mb_manifest_entry a = ent("A", 2, 0xa2);
	struct mb_sync_track t[] = { { .want = &a, .failures = 2, .retry_at_ms = 5000 } };
	struct mb_sync_step s[8];
	size_t n;
	int i;

	(void)state;
	reset_remote();
	n = plan(NULL, 0, t, 1, 4999, s, 8);
	for (i = 0; strcmp(s[i].e->name, "A") != 0; i++)
		;
	assert_int_equal(s[i].v, MB_SYNC_BACKOFF);
	assert_int_equal(s[i].retry_at_ms, 5000);
	n = plan(NULL, 0, t, 1, 5000, s, 8);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_FETCH);
	/* no failure yet: retry_at is not looked at */
	t[0].failures = 0;
	n = plan(NULL, 0, t, 1, 0, s, 8);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_FETCH);
	/* a retry due within the slack (half a round) is taken this round */
	t[0].failures = 1;
	slack = 2500;
	n = plan(NULL, 0, t, 1, 2500, s, 8);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_FETCH);
	n = plan(NULL, 0, t, 1, 2499, s, 8);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_BACKOFF);
	slack = 0;
}

static void
test_retire_drop(void **state)
{
	struct mb_manifest_entry a = ent("A", 2, 0xa2), c = ent("C", 1, 0xc1),
				 x = ent("X", 1, 0x11), y = ent("Y", 1, 0x22);
	struct mb_sync_local l[] = { { &a, MB_CTL_STORE_OK }, { &c, MB_CTL_STORE_OK },
				     { &x, MB_CTL_STORE_FAILED } };
	struct mb_sync_track t[] = { { .want = &y, .running = true }, { .want = &a } };
	struct mb_sync_step s[8];
	size_t n;

	(void)state;
	reset_remote();
	n = plan(l, 3, t, 2, 1000, s, 8);
	assert_int_equal(n, 3 + 2 + 1);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_KEEP);
	assert_int_equal(verdict(s, n, "C"), MB_SYNC_RETIRE); /* boston's, not ours */
	assert_int_equal(verdict(s, n, "X"), MB_SYNC_RETIRE);
	assert_int_equal(verdict(s, n, "Y"), MB_SYNC_DROP);
	/* retire and drop come after every ops entry */
	assert_int_equal(s[3].v, MB_SYNC_RETIRE);
	assert_int_equal(s[5].v, MB_SYNC_DROP);
	/* too little room: the count is still whole, the prefix written */
	memset(s, 0, sizeof(s));
	assert_int_equal(plan(l, 3, t, 2, 1000, s, 2), 6);
	assert_string_equal(s[0].e->name, "A");
	assert_null(s[2].e);
}

/* origin.local-images = keep: what ops does not list for this site is kept
 * (KEEP_LOCAL), in the place RETIRE takes; what ops lists is decided as
 * before, and a download nobody wants is still dropped. */
static void
test_keep_local(void **state)
{
	struct mb_manifest_entry a = ent("A", 1, 0xa1), c = ent("C", 1, 0xc1),
				 x = ent("X", 1, 0x11), y = ent("Y", 1, 0x22);
	struct mb_sync_local l[] = { { &a, MB_CTL_STORE_OK }, { &c, MB_CTL_STORE_OK },
				     { &x, MB_CTL_STORE_OK } };
	struct mb_sync_track t[] = { { .want = &y, .running = true } };
	struct mb_sync_step s[8];
	size_t n;

	(void)state;
	reset_remote();
	keep_local = true;
	n = plan(l, 3, t, 1, 1000, s, 8);
	keep_local = false;
	assert_int_equal(n, 3 + 2 + 1);
	assert_int_equal(verdict(s, n, "A"), MB_SYNC_FETCH); /* ops has v2 */
	assert_int_equal(verdict(s, n, "D"), MB_SYNC_FETCH);
	assert_int_equal(verdict(s, n, "C"), MB_SYNC_KEEP_LOCAL); /* boston's: ours stays */
	assert_int_equal(verdict(s, n, "X"), MB_SYNC_KEEP_LOCAL);
	assert_int_equal(verdict(s, n, "Y"), MB_SYNC_DROP);
	assert_int_equal(s[3].v, MB_SYNC_KEEP_LOCAL);
	assert_int_equal(s[4].v, MB_SYNC_KEEP_LOCAL);
	/* the same tables with withdraw: retired */
	n = plan(l, 3, t, 1, 1000, s, 8);
	assert_int_equal(verdict(s, n, "C"), MB_SYNC_RETIRE);
	assert_int_equal(verdict(s, n, "X"), MB_SYNC_RETIRE);
}

static void
test_backoff_ms(void **state)
{
	(void)state;
	assert_int_equal(mb_sync_backoff_ms(1, 300000), 300000);
	assert_int_equal(mb_sync_backoff_ms(2, 300000), 600000);
	assert_int_equal(mb_sync_backoff_ms(3, 300000), 1200000);
	assert_int_equal(mb_sync_backoff_ms(6, 300000), 32 * 300000);
	assert_int_equal(mb_sync_backoff_ms(7, 300000), 32 * 300000);
	assert_int_equal(mb_sync_backoff_ms(1000, 300000), 32 * 300000);
	/* never over six hours, unless the interval itself is longer */
	assert_int_equal(mb_sync_backoff_ms(6, 3600000), MB_SYNC_BACKOFF_CAP_MS);
	assert_int_equal(mb_sync_backoff_ms(1, 86400000), 86400000);
	assert_int_equal(mb_sync_backoff_ms(9, 86400000), 86400000);
	assert_int_equal(mb_sync_backoff_ms(3, 5000), 20000);
}

#define MiB (1ull << 20)

/* The split: bounded count, ranges of at least the minimum on MiB
 * boundaries, contiguous, covering [start, size) exactly. */
static void
test_range_split(void **state)
{
	struct mb_sync_range r[MB_SYNC_RANGES_MAX];
	unsigned n;

	(void)state;

	/* 256 MiB in 4: 64 MiB each */
	n = mb_sync_range_split(0, 256 * MiB, 4, MB_SYNC_RANGE_MIN, r);
	assert_int_equal(n, 4);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(r[i].pos, i * 64 * MiB);
		assert_int_equal(r[i].end, (i + 1) * 64 * MiB);
	}
	/* an odd size: the last range takes the remainder */
	n = mb_sync_range_split(0, 100 * MiB + 12345, 3, MB_SYNC_RANGE_MIN, r);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].end, 33 * MiB);
	assert_int_equal(r[1].pos, 33 * MiB);
	assert_int_equal(r[2].end, 100 * MiB + 12345);
	/* not enough bytes for the ranges asked: fewer, each >= the minimum */
	n = mb_sync_range_split(0, 20 * MiB, 8, MB_SYNC_RANGE_MIN, r);
	assert_int_equal(n, 2);
	assert_true(r[0].end - r[0].pos >= MB_SYNC_RANGE_MIN);
	assert_true(r[1].end - r[1].pos >= MB_SYNC_RANGE_MIN);
	n = mb_sync_range_split(0, 5 * MiB, 8, MB_SYNC_RANGE_MIN, r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].pos, 0);
	assert_int_equal(r[0].end, 5 * MiB);
	/* a resumed .part: the split starts where it ends */
	n = mb_sync_range_split(10 * MiB + 7, 74 * MiB + 7, 2, MB_SYNC_RANGE_MIN, r);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].pos, 10 * MiB + 7);
	assert_int_equal(r[0].end, 42 * MiB + 7);
	assert_int_equal(r[1].end, 74 * MiB + 7);
	/* bounded: never more than MB_SYNC_RANGES_MAX, 0 and huge counts clamp */
	n = mb_sync_range_split(0, 1024 * MiB, 1000, MB_SYNC_RANGE_MIN, r);
	assert_int_equal(n, MB_SYNC_RANGES_MAX);
	assert_int_equal(r[MB_SYNC_RANGES_MAX - 1].end, 1024 * MiB);
	n = mb_sync_range_split(0, 1024 * MiB, 0, MB_SYNC_RANGE_MIN, r);
	assert_int_equal(n, 1);
	/* tiny images and nothing left */
	n = mb_sync_range_split(0, 1, 4, 1, r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].end, 1);
	assert_int_equal(mb_sync_range_split(5, 5, 4, MB_SYNC_RANGE_MIN, r), 0);
	assert_int_equal(mb_sync_range_split(6, 5, 4, MB_SYNC_RANGE_MIN, r), 0);
}

/* Receiving, failing and resuming: the frontier is what arrived without a
 * gap; a failed range is asked again from where it stopped; more bytes
 * than a range asked for are refused. */
static void
test_range_resume(void **state)
{
	struct mb_sync_range r[MB_SYNC_RANGES_MAX];
	char spec[64];
	unsigned n;

	(void)state;

	n = mb_sync_range_split(0, 32 * MiB, 4, MB_SYNC_RANGE_MIN, r);
	assert_int_equal(n, 4);
	assert_int_equal(mb_sync_range_frontier(r, n), 0);
	assert_int_equal(mb_sync_range_spec(&r[1], spec, sizeof(spec)), 0);
	assert_string_equal(spec, "8388608-16777215");
	/* ranges 1 and 2 run ahead: the frontier stays at range 0 */
	assert_int_equal(mb_sync_range_take(&r[1], 8 * MiB), 0);
	assert_int_equal(mb_sync_range_take(&r[2], 3 * MiB), 0);
	assert_int_equal(mb_sync_range_frontier(r, n), 0);
	/* range 0 gets 5 MiB then its connection drops: asked again from there */
	assert_int_equal(mb_sync_range_take(&r[0], 5 * MiB), 0);
	assert_int_equal(mb_sync_range_frontier(r, n), 5 * MiB);
	assert_int_equal(mb_sync_range_spec(&r[0], spec, sizeof(spec)), 0);
	assert_string_equal(spec, "5242880-8388607");
	/* the rest of range 0 arrives: the frontier skips the complete range 1
	 * and stops in range 2 */
	assert_int_equal(mb_sync_range_take(&r[0], 3 * MiB), 0);
	assert_int_equal(mb_sync_range_frontier(r, n), 19 * MiB);
	/* a server sending past the range is refused, the range unchanged */
	assert_int_equal(mb_sync_range_take(&r[2], 5 * MiB + 1), -EMSGSIZE);
	assert_int_equal(r[2].pos, 19 * MiB);
	assert_int_equal(mb_sync_range_take(&r[2], 5 * MiB), 0);
	assert_int_equal(mb_sync_range_spec(&r[2], spec, sizeof(spec)), -EINVAL);
	assert_int_equal(mb_sync_range_take(&r[2], 1), -EMSGSIZE);
	assert_int_equal(mb_sync_range_frontier(r, n), 24 * MiB);
	assert_int_equal(mb_sync_range_take(&r[3], 8 * MiB), 0);
	assert_int_equal(mb_sync_range_frontier(r, n), 32 * MiB);
	/* too small an output buffer */
	r[0].pos = 0;
	assert_int_equal(mb_sync_range_spec(&r[0], spec, 4), -EINVAL);
}

/* origin.max-rate shared by the transfers that run. */
static void
test_rate_share(void **state)
{
	(void)state;
	assert_int_equal(mb_sync_rate_share(0, 4), 0);
	assert_int_equal(mb_sync_rate_share(1000000, 1), 1000000);
	assert_int_equal(mb_sync_rate_share(1000000, 4), 250000);
	assert_int_equal(mb_sync_rate_share(1000000, 0), 1000000);
	assert_int_equal(mb_sync_rate_share(3, 8), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh),	     cmocka_unit_test(test_local_state),
		cmocka_unit_test(test_downloads),    cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_retire_drop),  cmocka_unit_test(test_keep_local),
		cmocka_unit_test(test_backoff_ms),   cmocka_unit_test(test_range_split),
		cmocka_unit_test(test_range_resume), cmocka_unit_test(test_rate_share),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
