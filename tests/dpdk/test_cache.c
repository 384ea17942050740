/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hugepage cache of the image store with real EAL memory (--no-huge):
 * a 2 MiB budget, images of one chunk each.  Two images fit; loading a third
 * demotes the least recently served idle one to an mmap copy, while a
 * reference held on the old hugepage object (a session in flight) keeps its
 * bytes valid and its memory counted until it is dropped; the displaced new
 * image is then promoted by the cache tick.  Also: a busy image is promoted
 * at the expense of an idle one, a lowered budget demotes the coldest, and a
 * file changed under its mapping is caught by the promotion's hash and
 * withdrawn.  The test drives the cache tick itself with explicit clocks (no
 * timing assertions); one EAL for the binary, file prefix mbt-cache.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_cache.h"
#include "ctl_priv.h"
#include "mb_config.h"
#include "mb_manifest.h"
#include "mb_time.h"
#include "store_fixture.h"

#define MIB (1024u * 1024u)
#define HOUR_NS (3600ull * MB_NS_PER_SEC)

static uint64_t base_ns; /* an hour before the test started: "long ago" */

static uint8_t
fx_byte(const char *name, size_t i)
{
	return (uint8_t)(i * 7 + (uint8_t)name[0]);
}

static void
write_manifest_and_reload(void)
{
	char err[256];

	write_manifest();
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	pump();
}

/* health.store.cache.<key> */
static json_int_t
cache_stat(const char *key)
{
	char *err = NULL;
	json_t *h = mb_ctl_action_run("health", NULL, &err), *v;
	json_int_t r;

	assert_non_null(h);
	v = json_object_get(json_object_get(json_object_get(h, "store"), "cache"), key);
	assert_non_null(v);
	r = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
	json_decref(h);
	return r;
}

static const char *
image_mem(const char *name, char *buf, size_t len)
{
	char *err = NULL;
	json_t *arr = mb_ctl_action_run("images", NULL, &err), *row;
	size_t i;

	assert_non_null(arr);
	buf[0] = '\0';
	json_array_foreach(arr, i, row) {
		if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
			snprintf(buf, len, "%s%s%s", json_string_value(json_object_get(row, "mem")),
				 json_is_true(json_object_get(row, "warm")) ? "+warm" : "",
				 json_is_true(json_object_get(row, "published")) ? "" :
				 json_string_value(json_object_get(row, "state")));
	}
	json_decref(arr);
	return buf;
}

static int
group_setup(void **state)
{
	(void)state;
	base_ns = mb_time_mono_ns();
	/* CLOCK_MONOTONIC counts from boot; a machine up for less than two hours
	 * still gets distinct, ordered "long ago" stamps this way. */
	base_ns = base_ns > 2 * HOUR_NS ? base_ns - HOUR_NS : 1000;
	return fx_setup("cache", 2 * MIB);
}

static int
group_teardown(void **state)
{
	(void)state;
	return fx_teardown();
}

/* Three images, two fit: the least recently served idle one is demoted, a
 * held reference keeps the old bytes, promotion waits for them to drain. */
static void
test_lru_demote_promote(void **state)
{
	struct mb_image *a, *b, *c, *held;
	char m[64];

	(void)state;
	fx_add_image("a", 300000, FX_FILE_OK);
	fx_add_image("b", 400000, FX_FILE_OK);
	write_manifest();
	fx_start();
	pump();
	a = fx_lookup_ok("a");
	b = fx_lookup_ok("b");
	assert_int_equal(a->mem, MB_IMAGE_MEM_HUGEPAGE);
	assert_int_equal(b->mem, MB_IMAGE_MEM_HUGEPAGE);
	assert_int_equal(cache_stat("used"), 2 * MIB);

	/* Both served long ago, a more recently than b; a session holds b. */
	atomic_store(&a->last_served_ns, base_ns + 2000);
	atomic_store(&b->last_served_ns, base_ns + 1000);
	held = mb_image_ref(b);

	fx_add_image("c", 500000, FX_FILE_OK);
	write_manifest_and_reload();
	a = fx_lookup_ok("a");
	b = fx_lookup_ok("b");
	c = fx_lookup_ok("c");
	assert_int_equal(a->mem, MB_IMAGE_MEM_HUGEPAGE);
	assert_int_equal(b->mem, MB_IMAGE_MEM_MMAP);
	assert_int_equal(c->mem, MB_IMAGE_MEM_MMAP);
	assert_ptr_not_equal(b, held);
	assert_int_equal(b->version, held->version);
	assert_int_equal(held->mem, MB_IMAGE_MEM_HUGEPAGE);
	fx_check_bytes(held);
	fx_check_bytes(b);
	fx_check_bytes(c);
	assert_int_equal(cache_stat("evictions"), 1);
	assert_string_equal(image_mem("a", m, sizeof(m)), "hugepage+warm");
	assert_string_equal(image_mem("b", m, sizeof(m)), "mmap");

	/* b's hugepages still count while held: c must wait, a stays. */
	assert_int_equal(cache_stat("used"), 2 * MIB);
	assert_int_equal(cache_stat("committed"), 1 * MIB);
	assert_int_equal(cache_stat("draining"), 1 * MIB);
	mb_ctl_store_cache_tick(mb_time_mono_ns());
	pump();
	assert_int_equal(fx_lookup_ok("c")->mem, MB_IMAGE_MEM_MMAP);
	assert_ptr_equal(fx_lookup_ok("a"), a);
	assert_int_equal(cache_stat("evictions"), 1);
	fx_check_bytes(held);

	/* The session ends: the old object goes, c is promoted. */
	mb_image_unref(held);
	assert_int_equal(cache_stat("used"), 1 * MIB);
	assert_int_equal(cache_stat("draining"), 0);
	mb_ctl_store_cache_tick(mb_time_mono_ns());
	pump();
	c = fx_lookup_ok("c");
	assert_int_equal(c->mem, MB_IMAGE_MEM_HUGEPAGE);
	fx_check_bytes(c);
	assert_ptr_equal(fx_lookup_ok("a"), a);
	assert_int_equal(cache_stat("promotions"), 1);
	assert_int_equal(cache_stat("used"), 2 * MIB);
	assert_string_equal(image_mem("c", m, sizeof(m)), "hugepage+warm");
}

/* A session starts on the mmap image b: it is promoted, and the idle image
 * served longest ago (a) makes room, not c. */
static void
test_busy_promoted(void **state)
{
	struct mb_image *b = mb_image_ref(fx_lookup_ok("b")), *a; /* the session's reference */
	uint64_t now = mb_time_mono_ns();

	(void)state;
	atomic_fetch_add(&b->active_users, 1);
	mb_ctl_store_cache_tick(now);
	pump();
	assert_int_equal(fx_lookup_ok("a")->mem, MB_IMAGE_MEM_MMAP);
	assert_int_equal(fx_lookup_ok("c")->mem, MB_IMAGE_MEM_HUGEPAGE);
	assert_int_equal(fx_lookup_ok("b")->mem, MB_IMAGE_MEM_MMAP); /* a's memory drained only now */
	mb_ctl_store_cache_tick(now);
	pump();
	assert_int_equal(fx_lookup_ok("b")->mem, MB_IMAGE_MEM_HUGEPAGE);
	fx_check_bytes(fx_lookup_ok("b"));
	a = fx_lookup_ok("a");
	fx_check_bytes(a);
	assert_int_equal(cache_stat("evictions"), 2);
	assert_int_equal(cache_stat("promotions"), 2);
	/* The session (on the old mmap object) ends. */
	atomic_fetch_sub(&b->active_users, 1);
	mb_image_unref(b);
}

/* A reload lowers the budget to one image: the coldest of b and c goes. */
static void
test_budget_lowered(void **state)
{
	uint64_t later = mb_time_mono_ns() + HOUR_NS; /* everything idle by then */
	char err[256];

	(void)state;
	/* b was in use more recently than c was loaded. */
	cfg.hugepage_budget = 1 * MIB;
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	pump();
	mb_ctl_store_cache_tick(later);
	pump();
	assert_int_equal(fx_lookup_ok("b")->mem, MB_IMAGE_MEM_HUGEPAGE);
	assert_int_equal(fx_lookup_ok("c")->mem, MB_IMAGE_MEM_MMAP);
	assert_int_equal(cache_stat("used"), 1 * MIB);
	assert_int_equal(cache_stat("evictions"), 3);
	/* Nothing wants hugepages now: a further tick changes nothing. */
	mb_ctl_store_cache_tick(later);
	pump();
	assert_int_equal(cache_stat("promotions"), 2);
	assert_int_equal(cache_stat("promoting"), 0);
}

/* The file under an mmap image is changed in place: the promotion's hash
 * catches it and the image is withdrawn rather than served. */
static void
test_promote_catches_corruption(void **state)
{
	struct mb_image *a = mb_image_ref(fx_lookup_ok("a")); /* a session's reference */
	char path[128], m[128];
	FILE *f;

	(void)state;
	cfg.hugepage_budget = 2 * MIB;
	{
		char err[256];

		assert_int_equal(fx_reload(err, sizeof(err)), 0);
	}
	snprintf(path, sizeof(path), "%s/images/a", dir);
	f = fopen(path, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 1000, SEEK_SET), 0);
	fputc(fx_byte("a", 1000) ^ 0xff, f);
	fclose(f);
	atomic_fetch_add(&a->active_users, 1);
	mb_ctl_store_cache_tick(mb_time_mono_ns());
	pump();
	atomic_fetch_sub(&a->active_users, 1);
	mb_image_unref(a);
	assert_int_equal(cache_stat("promotion-failures"), 1);
	{
		struct mb_image *x;

		rcu_read_lock();
		x = mb_image_lookup("a", 1);
		rcu_read_unlock();
		assert_null(x);
	}
	assert_non_null(strstr(image_mem("a", m, sizeof(m)), "failed:checksum mismatch"));
	assert_int_equal(cache_stat("used"), 1 * MIB);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru_demote_promote),
		cmocka_unit_test(test_busy_promoted),
		cmocka_unit_test(test_budget_lowered),
		cmocka_unit_test(test_promote_catches_corruption),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
