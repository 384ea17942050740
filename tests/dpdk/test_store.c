/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image store with real EAL memory: images verified into rte_malloc
 * memory (zero padded to a chunk), corrupt/truncated/missing files refused
 * and reported, a no-op reload keeping the same objects, an in-place
 * corruption caught on reload, images.max-image-size and max-images applied
 * on reload, the hugepage budget falling back to an mmap of
 * the file, install/retire for sync, and the telemetry commands answering
 * through the control-thread mailbox.  One EAL init for the whole binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_eal.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_config.h"
#include "mb_manifest.h"
#include "store_fixture.h"

static uint8_t
fx_byte(const char *name, size_t i)
{
	return (uint8_t)(i * 13 + name[0]);
}

static json_t *
image_row(const char *name)
{
	char *err = NULL;
	json_t *arr = mb_ctl_action_run("images", NULL, &err), *row, *r = NULL;
	size_t i;

	assert_non_null(arr);
	json_array_foreach(arr, i, row) {
		if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
			r = json_incref(row);
	}
	json_decref(arr);
	return r;
}

static const char *
state_of(const char *name, char *buf, size_t len)
{
	json_t *row = image_row(name);

	assert_non_null(row);
	snprintf(buf, len, "%s", json_string_value(json_object_get(row, "state")));
	json_decref(row);
	return buf;
}

/* Also: the store pads every image to a whole chunk. */
static void
check_bytes(const struct mb_image *img)
{
	fx_check_bytes(img);
	assert_int_equal(img->sb.len % MB_IMAGE_ALIGN, 0);
}

static int
group_setup(void **state)
{
	(void)state;
	return fx_setup("store", 0);
}

static int
group_teardown(void **state)
{
	(void)state;
	mb_ctl_subsys_telemetry.stop();
	return fx_teardown();
}

static void
test_load(void **state)
{
	struct mb_image *a, *b;
	char st[300];
	char *err = NULL;
	json_t *h;

	(void)state;
	fx_add_image("proj/a", 3 * 1024 * 1024 + 5, FX_FILE_OK);
	fx_add_image("b", 100, FX_FILE_OK);
	fx_add_image("corrupt", 5000, FX_FILE_CORRUPT);
	fx_add_image("short", 5000, FX_FILE_SHORT);
	fx_add_image("gone", 5000, FX_FILE_MISSING);
	write_manifest();
	fx_start();
	pump();
	a = fx_lookup_ok("proj/a");
	b = fx_lookup_ok("b");
	assert_int_equal(a->mem, MB_IMAGE_MEM_HUGEPAGE);
	check_bytes(a);
	check_bytes(b);
	assert_null(fx_lookup("corrupt"));
	assert_null(fx_lookup("short"));
	assert_null(fx_lookup("gone"));
	assert_string_equal(state_of("proj/a", st, sizeof(st)), "ok");
	assert_non_null(strstr(state_of("corrupt", st, sizeof(st)), "failed:checksum mismatch"));
	assert_non_null(strstr(state_of("short", st, sizeof(st)), "failed:truncated"));
	assert_string_equal(state_of("gone", st, sizeof(st)), "failed:missing");
	h = mb_ctl_action_run("health", NULL, &err);
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "state")), "degraded");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "store"), "ok")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(h, "store"), "mem")),
			    "hugepage");
	json_decref(h);
}

static void
test_reload(void **state)
{
	struct mb_image *a = fx_lookup("proj/a"), *b = fx_lookup("b");
	char err[256], st[300], path[256];
	FILE *f;

	(void)state;
	/* Nothing changed: the very same objects. */
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	pump();
	assert_ptr_equal(fx_lookup("proj/a"), a);
	assert_ptr_equal(fx_lookup("b"), b);

	/* Corrupt b on disk in place, same manifest: refused and withdrawn. */
	snprintf(path, sizeof(path), "%s/images/b", dir);
	usleep(10000);
	f = fopen(path, "r+");
	assert_non_null(f);
	fputc('!', f);
	fclose(f);
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	pump();
	assert_null(fx_lookup("b"));
	assert_non_null(strstr(state_of("b", st, sizeof(st)), "failed:checksum"));
	assert_ptr_equal(fx_lookup("proj/a"), a);

	/* A new version of proj/a is a new object. */
	man.entries[0].version = 2;
	write_manifest();
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	pump();
	assert_non_null(fx_lookup("proj/a"));
	assert_int_equal(fx_lookup("proj/a")->version, 2);

	/* A hostile manifest is refused and changes nothing. */
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	f = fopen(path, "w");
	fputs("{\"format\":1,\"images\":[{\"name\":\"../x\"}]}", f);
	fclose(f);
	assert_int_not_equal(fx_reload(err, sizeof(err)), 0);
	assert_non_null(fx_lookup("proj/a"));
	write_manifest();

	/* images.max-image-size and max-images apply on reload: a manifest over
	 * the new limit is refused (the table stays), and accepted again once
	 * the limit is back.  (images.hugepage-budget: test_cache.) */
	a = fx_lookup("proj/a");
	cfg.max_image_size = 4096; /* proj/a is 3 MiB + 5 */
	assert_int_not_equal(fx_reload(err, sizeof(err)), 0);
	assert_non_null(strstr(err, "image 'proj/a': size 3145733 exceeds 4096"));
	assert_ptr_equal(fx_lookup("proj/a"), a);
	cfg.max_image_size = 64ULL << 30;
	cfg.max_images = 1;
	assert_int_not_equal(fx_reload(err, sizeof(err)), 0);
	assert_non_null(strstr(err, "limit 1"));
	cfg.max_images = 1024;
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	pump();
	assert_ptr_equal(fx_lookup("proj/a"), a);
}

/* Readiness (READY=1, `minibossctl wait`) is "the store is not busy": a
 * timer that runs in the loop pass where the last verification completes
 * must already find the verified image published (the CI failure of
 * startup-notify: READY=1 with "no image published"). */
static int idle_checks, idle_unpublished;

static void
idle_probe(void *arg)
{
	if (mb_ctl_store_busy() != 0)
		return;
	idle_checks++;
	if (fx_lookup((const char *)arg) == NULL)
		idle_unpublished++;
}

static void
test_idle_means_published(void **state)
{
	struct mb_ctl_timer *t;
	char err[256];

	(void)state;
	fx_add_image("late", 200000, FX_FILE_OK);
	write_manifest();
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	assert_true(mb_ctl_store_busy() > 0);
	idle_checks = idle_unpublished = 0;
	t = mb_ctl_timer_new(1, 1, idle_probe, "late");
	assert_non_null(t);
	/* let the worker finish first, so its completion and the timer fall in
	 * one pass of the loop */
	usleep(300000);
	for (int i = 0; i < 200 && idle_checks < 3; i++)
		(void)mb_ctl_loop_run_once(5);
	mb_ctl_timer_free(t);
	pump();
	assert_true(idle_checks > 0);
	assert_int_equal(idle_unpublished, 0);
	assert_non_null(fx_lookup("late"));
	assert_int_equal(mb_manifest_remove(&man, "late"), 0);
	write_manifest();
	assert_int_equal(fx_reload(err, sizeof(err)), 0);
	pump();
	assert_null(fx_lookup("late"));
}

static void
test_budget_mmap(void **state)
{
	struct mb_image *a, *b;
	char err[256];
	json_t *h;
	char *e = NULL;

	(void)state;
	mb_ctl_core_stop();
	/* Restore b, then allow 1 MiB of hugepages: b fits, proj/a (4 MiB) maps. */
	mb_manifest_remove(&man, "b");
	mb_manifest_remove(&man, "corrupt");
	mb_manifest_remove(&man, "short");
	mb_manifest_remove(&man, "gone");
	fx_add_image("b", 100, FX_FILE_OK);
	write_manifest();
	cfg.hugepage_budget = 1024 * 1024;
	fx_start();
	pump();
	a = fx_lookup_ok("proj/a");
	b = fx_lookup_ok("b");
	assert_int_equal(a->mem, MB_IMAGE_MEM_MMAP);
	assert_int_equal(b->mem, MB_IMAGE_MEM_HUGEPAGE);
	check_bytes(a);
	check_bytes(b);
	h = mb_ctl_action_run("health", NULL, &e);
	assert_string_equal(json_string_value(json_object_get(json_object_get(h, "store"), "mem")),
			    "mixed");
	json_decref(h);
	(void)err;
}

static void
test_install_retire(void **state)
{
	struct mb_manifest_entry e = { 0 };
	char path[256];
	const char *text = "installed image bytes";
	unsigned int len;
	struct mb_manifest local;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/download.tmp", dir);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	snprintf(e.name, sizeof(e.name), "sync/new");
	e.version = 4;
	e.size = strlen(text);
	EVP_Digest(text, strlen(text), e.sha256, &len, EVP_sha256(), NULL);
	assert_int_equal(mb_ctl_store_set_downloading(&e, true), 0);
	{
		char st[300];

		assert_string_equal(state_of("sync/new", st, sizeof(st)), "downloading");
	}
	assert_int_equal(mb_ctl_store_install(&e, path), 0);
	pump();
	assert_non_null(fx_lookup("sync/new"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(mb_ctl_store_get_manifest(&local), 0);
	assert_non_null(mb_manifest_find(&local, "sync/new"));
	mb_manifest_done(&local);
	assert_int_equal(mb_ctl_store_retire("sync/new"), 0);
	pump();
	assert_null(fx_lookup("sync/new"));
	assert_int_equal(mb_ctl_store_retire("sync/new"), -ENOENT);
}

/* Install `name` (version 1, `text`) the way sync does, from a verified file. */
static void
install_text(const char *name, const char *text)
{
	struct mb_manifest_entry e = { 0 };
	char path[256];
	unsigned int len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/download.tmp", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.version = 1;
	e.size = strlen(text);
	EVP_Digest(text, strlen(text), e.sha256, &len, EVP_sha256(), NULL);
	assert_int_equal(mb_ctl_store_install(&e, path), 0);
	pump();
	assert_non_null(fx_lookup(name));
}

/* manifest.json on disk names `name`. */
static bool
disk_lists(const char *name)
{
	struct mb_manifest_limits lim = { 0 };
	struct mb_manifest m;
	char path[128], why[MB_MANIFEST_ERRLEN];
	bool r;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	assert_int_equal(mb_manifest_load_file(path, &lim, &m, why, sizeof(why)), 0);
	r = mb_manifest_find(&m, name) != NULL;
	mb_manifest_done(&m);
	return r;
}

/* The store's manifest names `name`. */
static bool
store_lists(const char *name)
{
	struct mb_manifest m;
	bool r;

	assert_int_equal(mb_ctl_store_get_manifest(&m), 0);
	r = mb_manifest_find(&m, name) != NULL;
	mb_manifest_done(&m);
	return r;
}

static bool
image_file_exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/images/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Files in <state-dir>/tmp whose name ends in `suffix`. */
static int
tmp_count(const char *suffix)
{
	char cmd[256], buf[32] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A %s/tmp 2>/dev/null | grep -c -- '%s$'", dir, suffix);
	p = popen(cmd, "r");
	assert_non_null(p);
	(void)!fgets(buf, sizeof(buf), p);
	pclose(p);
	return atoi(buf);
}

/*
 * A withdrawal whose rewrite of manifest.json fails (here: manifest.json.tmp
 * cannot be created, as on a full disk) changes nothing: the image stays
 * published, in the store's manifest, in manifest.json and under images/.
 * The same for an update of it.  Once the rewrite works, it is gone from
 * all four, with nothing left over.
 */
static void
test_retire_all_or_nothing(void **state)
{
	char tmp[128];

	(void)state;
	install_text("sync/old", "bytes of an image ops withdraws");
	snprintf(tmp, sizeof(tmp), "%s/manifest.json.tmp", dir);
	assert_int_equal(mkdir(tmp, 0755), 0); /* the rewrite's open fails */
	assert_true(mb_ctl_store_retire("sync/old") < 0);
	pump();
	assert_non_null(fx_lookup("sync/old"));
	assert_true(store_lists("sync/old"));
	assert_true(disk_lists("sync/old"));
	assert_true(image_file_exists("sync/old"));
	assert_int_equal(tmp_count(".retired"), 0);
	/* a reload (what a restart sees) keeps serving it from the same file */
	{
		char err[256];

		assert_int_equal(fx_reload(err, sizeof(err)), 0);
		pump();
		assert_non_null(fx_lookup("sync/old"));
	}
	/* an update that cannot be recorded changes nothing either: version
	 * 1 stays, from its file, the download is back where it was */
	{
		const char *v2 = "version 2 of the image";
		struct mb_manifest_entry e = { 0 };
		char path[256], buf[64] = "";
		unsigned int len;
		struct mb_image *img;
		FILE *f;

		snprintf(path, sizeof(path), "%s/download.tmp", dir);
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(v2, f);
		fclose(f);
		snprintf(e.name, sizeof(e.name), "sync/old");
		e.version = 2;
		e.size = strlen(v2);
		EVP_Digest(v2, strlen(v2), e.sha256, &len, EVP_sha256(), NULL);
		assert_true(mb_ctl_store_install(&e, path) < 0);
		pump();
		assert_int_equal(access(path, F_OK), 0);
		img = fx_lookup("sync/old");
		assert_non_null(img);
		assert_int_equal(img->version, 1);
		snprintf(path, sizeof(path), "%s/images/sync/old", dir);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_non_null(fgets(buf, sizeof(buf), f));
		fclose(f);
		assert_string_equal(buf, "bytes of an image ops withdraws");
		assert_int_equal(tmp_count(".retired"), 0);
		assert_int_equal(tmp_count("install.json"), 0);
	}
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(mb_ctl_store_retire("sync/old"), 0);
	pump();
	assert_null(fx_lookup("sync/old"));
	assert_false(store_lists("sync/old"));
	assert_false(disk_lists("sync/old"));
	assert_false(image_file_exists("sync/old"));
	assert_int_equal(tmp_count(".retired"), 0);
}

/* An image whose name is a directory of another's is refused, and the
 * other one's file stays where it is (it is not parked as "the old file"). */
static void
test_install_over_directory(void **state)
{
	struct mb_manifest_entry e = { 0 };
	char path[256];
	unsigned int len;
	FILE *f;

	(void)state;
	install_text("sync/dir/inner", "the image inside a directory");
	snprintf(path, sizeof(path), "%s/download.tmp", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
	snprintf(e.name, sizeof(e.name), "sync/dir");
	e.version = 1;
	e.size = 1;
	EVP_Digest("x", 1, e.sha256, &len, EVP_sha256(), NULL);
	assert_int_equal(mb_ctl_store_install(&e, path), -EISDIR);
	pump();
	assert_int_equal(access(path, F_OK), 0);
	assert_true(image_file_exists("sync/dir/inner"));
	assert_true(disk_lists("sync/dir/inner"));
	assert_false(disk_lists("sync/dir"));
	assert_non_null(fx_lookup("sync/dir/inner"));
	assert_int_equal(tmp_count(".retired"), 0);
	assert_int_equal(mb_ctl_store_retire("sync/dir/inner"), 0);
	pump();
	assert_false(image_file_exists("sync/dir/inner"));
}

/* Where a withdrawal parks an image's file until manifest.json no longer
 * names it: tmp/<SHA-256 of the name, hex>.retired. */
static void
retired_path(const char *name, char *buf, size_t len)
{
	uint8_t d[MB_SHA256_LEN];
	char hex[2 * MB_SHA256_LEN + 1];
	unsigned int dl;

	EVP_Digest(name, strlen(name), d, &dl, EVP_sha256(), NULL);
	mb_sha256_to_hex(d, hex);
	snprintf(buf, len, "%s/tmp/%s.retired", dir, hex);
}

/*
 * A crash in the middle of a withdrawal: before manifest.json was rewritten
 * (the file parked, the record still naming it) the start puts the file
 * back and serves the image; after (the record no longer names it) the
 * start deletes the parked file.  Either way record and disk agree.
 */
static void
test_retire_crash_recovery(void **state)
{
	char img[256], parked[256], cmd[600];

	(void)state;
	install_text("sync/crash1", "killed before the record changed");
	install_text("sync/crash2", "killed after the record changed");
	mb_ctl_core_stop();
	/* crash1: parked, still recorded */
	snprintf(img, sizeof(img), "%s/images/sync/crash1", dir);
	retired_path("sync/crash1", parked, sizeof(parked));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/tmp && mv %s %s", dir, img, parked);
	assert_int_equal(system(cmd), 0);
	/* crash2: parked and no longer recorded */
	snprintf(img, sizeof(img), "%s/images/sync/crash2", dir);
	retired_path("sync/crash2", parked, sizeof(parked));
	snprintf(cmd, sizeof(cmd), "mv %s %s", img, parked);
	assert_int_equal(system(cmd), 0);
	{
		struct mb_manifest_limits lim = { 0 };
		struct mb_manifest m;
		char path[128], why[MB_MANIFEST_ERRLEN];

		snprintf(path, sizeof(path), "%s/manifest.json", dir);
		assert_int_equal(mb_manifest_load_file(path, &lim, &m, why, sizeof(why)), 0);
		assert_int_equal(mb_manifest_remove(&m, "sync/crash2"), 0);
		assert_int_equal(mb_manifest_write_file(&m, path), 0);
		mb_manifest_done(&m);
	}
	fx_start();
	pump();
	assert_non_null(fx_lookup("sync/crash1"));
	assert_true(image_file_exists("sync/crash1"));
	assert_true(disk_lists("sync/crash1"));
	assert_null(fx_lookup("sync/crash2"));
	assert_false(image_file_exists("sync/crash2"));
	assert_int_equal(tmp_count(".retired"), 0);
	assert_int_equal(mb_ctl_store_retire("sync/crash1"), 0);
	pump();
	assert_false(image_file_exists("sync/crash1"));
}

static void
test_telemetry(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[16384];
	ssize_t n;
	int fd;

	(void)state;
	assert_int_equal(mb_ctl_subsys_telemetry.start(&cfg), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/dpdk_telemetry.v2",
		 rte_eal_get_runtime_dir());
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		skip();
	}
	n = read(fd, buf, sizeof(buf) - 1); /* the greeting */
	assert_true(n > 0);
	for (int c = 0; c < 2; c++) {
		const char *cmd = c == 0 ? "/miniboss/health" : "/miniboss/images";
		struct pollfd p = { .fd = fd, .events = POLLIN };

		assert_int_equal(write(fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
		/* The telemetry thread waits for our loop to run the action. */
		for (int i = 0; i < 500 && poll(&p, 1, 0) == 0; i++)
			(void)mb_ctl_loop_run_once(10);
		n = read(fd, buf, sizeof(buf) - 1);
		assert_true(n > 0);
		buf[n] = '\0';
		assert_non_null(strstr(buf, cmd));
		if (c == 0) {
			assert_non_null(strstr(buf, "\"state\":\"ok\""));
			assert_non_null(strstr(buf, "\"version\""));
		} else {
			assert_non_null(strstr(buf, "proj/a"));
		}
	}
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_idle_means_published),
		cmocka_unit_test(test_budget_mmap),
		cmocka_unit_test(test_install_retire),
		cmocka_unit_test(test_retire_all_or_nothing),
		cmocka_unit_test(test_retire_crash_recovery),
		cmocka_unit_test(test_install_over_directory),
		cmocka_unit_test(test_telemetry),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
