/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image store with real EAL memory: images verified into rte_malloc
 * memory (zero padded to a chunk), corrupt/truncated/missing files refused
 * and reported, a no-op reload keeping the same objects, an in-place
 * corruption caught on reload, the hugepage budget falling back to an mmap of
 * the file, install/retire for sync, and the telemetry commands answering
 * through the control-thread mailbox.  One EAL init for the whole binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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

/* The master server is not linked into this test. */
void
mb_ctl_master_set_pending(mb_ctl_pending_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
}

static struct mb_config cfg;
static char dir[64];
static struct mb_manifest man;

static void
pump(void)
{
	for (int i = 0; i < 5000 && mb_ctl_store_busy() > 0; i++)
		(void)mb_ctl_loop_run_once(10);
	assert_int_equal(mb_ctl_store_busy(), 0);
	/* Let call_rcu release retired tables. */
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
}

static void
add_image(const char *name, size_t size, int how)
{
	struct mb_manifest_entry e = { 0 };
	char path[256];
	uint8_t *data = malloc(size + 1);
	unsigned int len;
	FILE *f;

	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 13 + name[0]);
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.version = 1;
	e.size = size;
	e.mtime = 1700000000;
	assert_int_equal(EVP_Digest(data, size, e.sha256, &len, EVP_sha256(), NULL), 1);
	snprintf(path, sizeof(path), "%s/images/%s", dir, name);
	if (how != 3) { /* 3 = missing */
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname %s)\"", path);
		assert_int_equal(system(cmd), 0);
		if (how == 1) /* corrupt */
			data[size / 2] ^= 0x55;
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(data, 1, how == 2 ? size / 2 : size, f),
				 how == 2 ? size / 2 : size);
		fclose(f);
	}
	assert_int_equal(mb_manifest_set(&man, &e), 0);
	free(data);
}

static void
write_manifest(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	assert_int_equal(mb_manifest_write_file(&man, path), 0);
}

static struct mb_image *
lookup(const char *name)
{
	struct mb_image *img;

	rcu_read_lock();
	img = mb_image_lookup(name, strlen(name));
	rcu_read_unlock();
	return img;
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

static void
check_bytes(const struct mb_image *img)
{
	for (size_t i = 0; i < img->size; i++)
		if (img->data[i] != (uint8_t)(i * 13 + img->name[0]))
			fail_msg("byte %zu of %s", i, img->name);
	for (size_t i = img->size; i < img->alloc_len; i++)
		if (img->data[i] != 0)
			fail_msg("padding byte %zu of %s", i, img->name);
	assert_int_equal(img->alloc_len % MB_IMAGE_ALIGN, 0);
}

static int
group_setup(void **state)
{
	char *args[] = { "test_store", "--no-huge", "-m", "256", "--no-pci",
			 "--vdev=net_null0", "--file-prefix=mbt-store", "--log-level=lib.*:error",
			 NULL };
	char err[MB_CFG_ERRLEN];

	(void)state;
	if (rte_eal_init(8, args) < 0)
		return -1;
	rcu_register_thread();
	snprintf(dir, sizeof(dir), "/tmp/mbf-store-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	if (mb_config_defaults(&cfg) != 0 ||
	    mb_config_load_string(&cfg, "[dpdk]\naddress = 10.9.0.1/24\n", err, sizeof(err)) != 0)
		return -1;
	free(cfg.state_dir);
	cfg.state_dir = strdup(dir);
	if (mb_ctl_loop_init() != 0)
		return -1;
	mb_ctl_loop_set_rcu(true);
	mb_ctl_set_config(&cfg);
	return mb_ctl_action_builtin_register();
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	mb_ctl_telemetry_stop();
	mb_ctl_store_stop();
	mb_ctl_loop_fini();
	mb_manifest_done(&man);
	mb_config_done(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	rcu_unregister_thread();
	return rte_eal_cleanup();
}

static void
test_load(void **state)
{
	struct mb_image *a, *b;
	char st[300];
	char *err = NULL;
	json_t *h;

	(void)state;
	add_image("proj/a", 3 * 1024 * 1024 + 5, 0);
	add_image("b", 100, 0);
	add_image("corrupt", 5000, 1);
	add_image("short", 5000, 2);
	add_image("gone", 5000, 3);
	write_manifest();
	assert_int_equal(mb_ctl_store_start(&cfg), 0);
	pump();
	a = lookup("proj/a");
	b = lookup("b");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->mem, MB_IMAGE_MEM_HUGEPAGE);
	check_bytes(a);
	check_bytes(b);
	assert_null(lookup("corrupt"));
	assert_null(lookup("short"));
	assert_null(lookup("gone"));
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
	struct mb_image *a = lookup("proj/a"), *b = lookup("b");
	char err[256], st[300], path[256];
	FILE *f;

	(void)state;
	/* Nothing changed: the very same objects. */
	assert_int_equal(mb_ctl_store_reload(&cfg, err, sizeof(err)), 0);
	pump();
	assert_ptr_equal(lookup("proj/a"), a);
	assert_ptr_equal(lookup("b"), b);

	/* Corrupt b on disk in place, same manifest: refused and withdrawn. */
	snprintf(path, sizeof(path), "%s/images/b", dir);
	usleep(10000);
	f = fopen(path, "r+");
	assert_non_null(f);
	fputc('!', f);
	fclose(f);
	assert_int_equal(mb_ctl_store_reload(&cfg, err, sizeof(err)), 0);
	pump();
	assert_null(lookup("b"));
	assert_non_null(strstr(state_of("b", st, sizeof(st)), "failed:checksum"));
	assert_ptr_equal(lookup("proj/a"), a);

	/* A new version of proj/a is a new object. */
	man.entries[0].version = 2;
	write_manifest();
	assert_int_equal(mb_ctl_store_reload(&cfg, err, sizeof(err)), 0);
	pump();
	assert_non_null(lookup("proj/a"));
	assert_int_equal(lookup("proj/a")->version, 2);

	/* A hostile manifest is refused and changes nothing. */
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	f = fopen(path, "w");
	fputs("{\"format\":1,\"images\":[{\"name\":\"../x\"}]}", f);
	fclose(f);
	assert_int_not_equal(mb_ctl_store_reload(&cfg, err, sizeof(err)), 0);
	assert_non_null(lookup("proj/a"));
	write_manifest();
}

static void
test_budget_mmap(void **state)
{
	struct mb_image *a, *b;
	char err[256];
	json_t *h;
	char *e = NULL;

	(void)state;
	mb_ctl_store_stop();
	/* Restore b, then allow 1 MiB of hugepages: b fits, proj/a (4 MiB) maps. */
	mb_manifest_remove(&man, "b");
	mb_manifest_remove(&man, "corrupt");
	mb_manifest_remove(&man, "short");
	mb_manifest_remove(&man, "gone");
	add_image("b", 100, 0);
	write_manifest();
	cfg.hugepage_budget = 1024 * 1024;
	assert_int_equal(mb_ctl_store_start(&cfg), 0);
	pump();
	a = lookup("proj/a");
	b = lookup("b");
	assert_non_null(a);
	assert_non_null(b);
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
	assert_non_null(lookup("sync/new"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(mb_ctl_store_get_manifest(&local), 0);
	assert_non_null(mb_manifest_find(&local, "sync/new"));
	mb_manifest_done(&local);
	assert_int_equal(mb_ctl_store_retire("sync/new"), 0);
	pump();
	assert_null(lookup("sync/new"));
	assert_int_equal(mb_ctl_store_retire("sync/new"), -ENOENT);
}

static void
test_telemetry(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[16384];
	ssize_t n;
	int fd;

	(void)state;
	assert_int_equal(mb_ctl_telemetry_start(), 0);
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
		cmocka_unit_test(test_budget_mmap),
		cmocka_unit_test(test_install_retire),
		cmocka_unit_test(test_telemetry),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
