/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image store when the file under an mmap image goes bad, with real EAL
 * memory and an EAL worker lcore as the reader:
 *
 *  - demote: an image verified into hugepages has its file corrupted in
 *    place afterwards (same size, mtime put back, so the file looks
 *    unchanged); the cache then demotes it to an mmap of that file.  The
 *    corrupt bytes must never be published: the mapped bytes are verified
 *    first, the image is withdrawn and health says why.
 *  - truncate: an image demoted to an mmap of its file has the file
 *    truncated while an lcore reads it.  The process survives the SIGBUS, the lcore reads
 *    zeroes where the pages went, the image is withdrawn with the reason in
 *    health, the master server ends the session it started on it, and the
 *    dataplane is told to cut its HTTP and FTP transfers.
 *
 * One EAL for the binary, file prefix mbt-storefx; the control loop is
 * pumped by the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_config.h"
#include "mb_manifest.h"
#include "mb_mapguard.h"
#include "mb_time.h"
#include "ms_wire.h"
#include "store_fixture.h"

#define MIB (1024u * 1024u)
#define HOUR_NS (3600ull * MB_NS_PER_SEC)

static uint8_t
fx_byte(const char *name, size_t i)
{
	return (uint8_t)(i * 11 + (uint8_t)name[0] + (i >> 12));
}

static json_t *
health_store(void)
{
	char *err = NULL;
	json_t *h = mb_ctl_action_run("health", NULL, &err), *s;

	assert_non_null(h);
	s = json_incref(json_object_get(h, "store"));
	json_decref(h);
	return s;
}

static const char *
state_of(const char *name, char *buf, size_t len)
{
	json_t *s = health_store();
	json_t *row = json_object_get(json_object_get(s, "images"), name);

	snprintf(buf, len, "%s", row ? json_string_value(json_object_get(row, "state")) : "");
	json_decref(s);
	return buf;
}

/* Overwrite byte `off` of the image file, keeping its size and times, so the
 * store's identity check (inode, size, mtime) sees the file unchanged. */
static void
corrupt_in_place(const char *name, off_t off)
{
	char path[256];
	struct stat sb;
	struct timespec ts[2];
	uint8_t b;
	int fd;

	snprintf(path, sizeof(path), "%s/images/%s", dir, name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	b = (uint8_t)(fx_byte(name, (size_t)off) ^ 0x5a);
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	assert_int_equal(fsync(fd), 0);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static int
group_setup(void **state)
{
	(void)state;
	return fx_setup("storefx", 2 * MIB);
}

static int
group_teardown(void **state)
{
	(void)state;
	return fx_teardown();
}

static void
test_demote_verifies(void **state)
{
	uint64_t base = mb_time_mono_ns(), later = base + HOUR_NS;
	struct mb_image *d, *e;
	char err[256], st[512];

	(void)state;
	fx_add_image("d", 500000, FX_FILE_OK);
	fx_add_image("e", 600000, FX_FILE_OK);
	write_manifest();
	fx_start();
	pump();
	d = fx_lookup_ok("d");
	e = fx_lookup_ok("e");
	assert_int_equal(d->mem, MB_IMAGE_MEM_HUGEPAGE);
	assert_int_equal(e->mem, MB_IMAGE_MEM_HUGEPAGE);
	/* d was served long ago, e recently: d is the one to demote. */
	atomic_store(&d->last_served_ns, 1000);
	atomic_store(&e->last_served_ns, base);

	corrupt_in_place("d", 123457);
	cfg.hugepage_budget = 1 * MIB;
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	pump();
	mb_ctl_store_cache_tick(later);
	pump();

	/* The corrupt bytes are not served: d is withdrawn, and says why. */
	d = fx_lookup("d");
	if (d != NULL) {
		fx_check_bytes(d); /* fails when the mapped corruption is published */
		fail_msg("d is still published (%s)", d->mem == MB_IMAGE_MEM_MMAP ? "mmap" :
			 "hugepage");
	}
	state_of("d", st, sizeof(st));
	print_message("d: %s\n", st);
	assert_non_null(strstr(st, "failed:"));
	assert_non_null(strstr(st, "mismatch"));
	e = fx_lookup_ok("e");
	assert_int_equal(e->mem, MB_IMAGE_MEM_HUGEPAGE);
	fx_check_bytes(e);
}

/* ---- an lcore reading an mmap image ------------------------------------------ */

static struct mb_image *reading;
static _Atomic bool reader_stop;
static _Atomic uint64_t reader_passes, reader_zero_pages;

static int
reader_main(void *arg)
{
	const volatile uint8_t *p = reading->sb.data;
	uint64_t n = reading->size;

	(void)arg;
	while (!atomic_load(&reader_stop)) {
		uint64_t zero = 0;

		for (uint64_t off = 0; off < n; off += 4096) {
			uint8_t want = fx_byte(reading->name, off), got = p[off];

			if (got != want) {
				if (got != 0)
					return -1; /* neither the file's byte nor a zero page */
				zero++;
			}
		}
		atomic_store(&reader_zero_pages, zero);
		atomic_fetch_add(&reader_passes, 1);
	}
	return 0;
}

static void
test_truncate_under_mapping(void **state)
{
	uint64_t passes, end;
	unsigned worker = rte_get_next_lcore(-1, 1, 0);
	char path[256], st[512];
	json_t *s;

	(void)state;
	if (worker >= RTE_MAX_LCORE)
		skip();
	/* cmocka sets its own SIGBUS handler around each test: the store's
	 * guard goes back on top (chaining to cmocka's). */
	assert_true(mb_mapguard_init() >= 0);
	/* t is verified into hugepages, then demoted (its mapping verified) when
	 * the budget shrinks: it is served from an mmap of its file. */
	fx_add_image("t", 3 * MIB + 12345, FX_FILE_OK);
	write_manifest();
	{
		char err[256];

		cfg.hugepage_budget = 8 * MIB;
		assert_int_equal(fx_reload(err, sizeof(err)), 0);
		pump();
		assert_int_equal(fx_lookup_ok("t")->mem, MB_IMAGE_MEM_HUGEPAGE);
		atomic_store(&fx_lookup_ok("t")->last_served_ns, 1000);
		cfg.hugepage_budget = 1 * MIB;
		assert_int_equal(fx_reload(err, sizeof(err)), 0);
		pump();
		mb_ctl_store_cache_tick(mb_time_mono_ns() + HOUR_NS);
		pump();
	}
	reading = mb_image_ref(fx_lookup_ok("t")); /* the session's reference */
	assert_int_equal(reading->mem, MB_IMAGE_MEM_MMAP);
	{
		/* a Frisbee session on it, started by the master server */
		struct mb_ms_get_request req = { .methods = MB_MS_METHOD_MULTICAST, .idlen = 1 };
		struct mb_ms_get_reply rep;

		strcpy(req.imageid, "t");
		mbt_sess_reset(500);
		assert_int_equal(mbt_ms_request(mb_ctl_master_port(), NULL, &req, &rep), 0);
		assert_int_equal(rep.error, 0);
		assert_int_equal(mbt_sess.starts, 1);
	}
	assert_int_equal(fx_lookup_ok("e")->mem, MB_IMAGE_MEM_HUGEPAGE);
	fx_check_bytes(reading);

	atomic_store(&reader_stop, false);
	assert_int_equal(rte_eal_remote_launch(reader_main, NULL, worker), 0);
	end = mb_time_mono_ns() + 5 * MB_NS_PER_SEC;
	while (atomic_load(&reader_passes) < 2 && mb_time_mono_ns() < end)
		usleep(1000);
	assert_true(atomic_load(&reader_passes) >= 2);

	snprintf(path, sizeof(path), "%s/images/t", dir);
	assert_int_equal(truncate(path, 0), 0);
	/* The lcore keeps reading (zero pages now) and the control loop learns
	 * of the fault. */
	passes = atomic_load(&reader_passes);
	end = mb_time_mono_ns() + 10 * MB_NS_PER_SEC;
	while ((atomic_load(&reader_passes) < passes + 2 || fx_lookup("t") != NULL) &&
	       mb_time_mono_ns() < end)
		(void)mb_ctl_loop_run_once(10);
	atomic_store(&reader_stop, true);
	assert_int_equal(rte_eal_wait_lcore(worker), 0);
	print_message("reader: %llu passes, %llu zero pages in the last\n",
		      (unsigned long long)atomic_load(&reader_passes),
		      (unsigned long long)atomic_load(&reader_zero_pages));
	assert_true(atomic_load(&reader_passes) >= passes + 2);
	assert_true(atomic_load(&reader_zero_pages) > 0);

	/* Withdrawn, health says why, its sessions are ended. */
	assert_null(fx_lookup("t"));
	state_of("t", st, sizeof(st));
	print_message("t: %s\n", st);
	assert_non_null(strstr(st, "failed:"));
	assert_non_null(strstr(st, "truncated"));
	assert_int_equal(mbt_sess.stops, 1);
	assert_int_equal(mbt_sess.stopped_id, 500);
	/* and its HTTP/FTP transfers are cut, not left sending zeroes */
	assert_int_equal(mbt_dp.aborts, 1);
	assert_string_equal(mbt_dp.aborted, "t");
	s = health_store();
	assert_true(json_integer_value(json_object_get(s, "failed")) >= 1);
	assert_true(json_integer_value(json_object_get(s, "mapping-faults")) >= 1);
	json_decref(s);
	mb_image_unref(reading);
	reading = NULL;
	pump();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demote_verifies),
		cmocka_unit_test(test_truncate_under_mapping),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
