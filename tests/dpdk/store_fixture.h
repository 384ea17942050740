/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fixture shared by the image store tests that run with real EAL memory
 * (test_store.c, test_cache.c): one EAL and one state directory for the
 * binary, a manifest built in memory and written next to the image files,
 * the control loop pumped until the store's worker is idle, and byte checks
 * of what the store published.  Each including test defines
 *
 *	static uint8_t fx_byte(const char *name, size_t i);
 *
 * the content of byte i of image `name`, so every image is recognisable and
 * the check needs no copy.  The store runs as it does in the daemon, a row
 * of the control library's subsystem table (with the dataplane's events
 * and the master server, against the fake dataplane of tests/fakes), its
 * image memory rte_malloc.
 */
#ifndef _MB_TEST_STORE_FIXTURE_H_
#define _MB_TEST_STORE_FIXTURE_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include <rte_eal.h>

#include <openssl/evp.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_imgmem.h"
#include "ctl_priv.h"
#include "dp.h"
#include "mb_config.h"
#include "mb_manifest.h"
#include "mbt_eal.h"

/* How fx_add_image leaves the file on disk; the manifest entry always
 * describes the good bytes. */
enum fx_file {
	FX_FILE_OK,
	FX_FILE_CORRUPT,	/* one byte flipped in the middle */
	FX_FILE_SHORT,		/* only the first half */
	FX_FILE_MISSING,	/* no file at all */
};

static uint8_t fx_byte(const char *name, size_t i);

static struct mb_config cfg;
static char dir[64];
static struct mb_manifest man;

/* The store, with what it talks to, started from cfg. */
static void
fx_start(void)
{
	static const struct mb_ctl_subsys *const tab[] = {
		&mb_ctl_subsys_store, &mb_ctl_subsys_dataplane, &mb_ctl_subsys_master,
	};

	assert_int_equal(mb_ctl_core_start(&cfg, NULL, tab, 3), 0);
}

/* A reload with cfg as it is now (images.* changed, or only the manifest). */
static int
fx_reload(char *err, size_t errlen)
{
	return mb_ctl_core_apply(&cfg, err, errlen);
}

/* Run the loop until the store's worker is idle, then let call_rcu drop the
 * retired tables' references. */
static void
pump(void)
{
	for (int i = 0; i < 5000 && mb_ctl_store_busy() > 0; i++)
		(void)mb_ctl_loop_run_once(10);
	assert_int_equal(mb_ctl_store_busy(), 0);
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
}

/* Add `name` (version 1) to the manifest and write its file as `how` says. */
static void
fx_add_image(const char *name, size_t size, enum fx_file how)
{
	struct mb_manifest_entry e = { 0 };
	uint8_t *data = malloc(size + 1);
	unsigned int len;
	char path[256];
	FILE *f;

	assert_non_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = fx_byte(name, i);
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.version = 1;
	e.size = size;
	e.mtime = 1700000000;
	assert_int_equal(EVP_Digest(data, size, e.sha256, &len, EVP_sha256(), NULL), 1);
	snprintf(path, sizeof(path), "%s/images/%s", dir, name);
	if (how != FX_FILE_MISSING) {
		size_t n = how == FX_FILE_SHORT ? size / 2 : size;
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname %s)\"", path);
		assert_int_equal(system(cmd), 0);
		if (how == FX_FILE_CORRUPT)
			data[size / 2] ^= 0x55;
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(data, 1, n, f), n);
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

/* The published image called `name`, or NULL. */
static struct mb_image *
fx_lookup(const char *name)
{
	struct mb_image *img;

	rcu_read_lock();
	img = mb_image_lookup(name, strlen(name));
	rcu_read_unlock();
	return img;
}

/* The published image called `name`, which must exist. */
static struct mb_image *
fx_lookup_ok(const char *name)
{
	struct mb_image *img = fx_lookup(name);

	assert_non_null(img);
	return img;
}

/* The image holds fx_byte's bytes, then zero padding up to alloc_len. */
static void
fx_check_bytes(const struct mb_image *img)
{
	for (size_t i = 0; i < img->size; i++)
		if (img->sb.data[i] != fx_byte(img->name, i))
			fail_msg("byte %zu of %s", i, img->name);
	for (size_t i = img->size; i < img->sb.len; i++)
		if (img->sb.data[i] != 0)
			fail_msg("padding byte %zu of %s", i, img->name);
}

/* EAL (--file-prefix=mbt-<name>), an empty state directory with images/, the
 * default configuration with a dataplane address, the control loop with RCU,
 * and the built-in actions.  `budget` is the hugepage budget, 0 for the
 * default.  Returns 0 or -1, as a cmocka group setup does. */
static int
fx_setup(const char *name, uint64_t budget)
{
	char arg0[32], prefix[96];
	char *args[] = { arg0, "--no-huge", "-m", "256", "--no-pci", "--vdev=net_null0", prefix,
			 "--log-level=lib.*:error", NULL };
	char err[MB_CFG_ERRLEN], path[128];

	snprintf(arg0, sizeof(arg0), "test_%s", name);
	snprintf(prefix, sizeof(prefix), "%s", mbt_eal_prefix_arg(name));
	if (rte_eal_init(8, args) < 0)
		return -1;
	rcu_register_thread();
	snprintf(dir, sizeof(dir), "/tmp/mbt-%s-XXXXXX", name);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/images", dir);
	if (mkdir(path, 0755) != 0)
		return -1;
	if (mb_config_defaults(&cfg) != 0 ||
	    mb_config_load_string(&cfg, "[dpdk]\naddress = 10.9.0.1/24\n", err, sizeof(err)) != 0)
		return -1;
	free(cfg.state_dir);
	cfg.state_dir = strdup(dir);
	free(cfg.master_listen);
	cfg.master_listen = strdup("127.0.0.1");
	cfg.master_port = MB_CTL_PORT_ANY;
	if (budget != 0)
		cfg.hugepage_budget = budget;
	if (mb_ctl_loop_init() != 0)
		return -1;
	mb_ctl_loop_set_rcu(true);
	mbt_dp.local_addr = htonl(0x0a090001);
	mb_ctl_dp_set(&mbt_dp_ops);
	mb_imgmem_set_ops(&mb_imgmem_rte);
	return 0;
}

/* Undo fx_setup after the test stopped what it started on top. */
static int
fx_teardown(void)
{
	char cmd[128];
	int rc;

	mb_ctl_core_stop();
	mb_ctl_loop_fini();
	mb_manifest_done(&man);
	mb_config_done(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	rcu_unregister_thread();
	rc = rte_eal_cleanup();
	mbt_eal_rm_runtime();
	return rc;
}

#endif /* _MB_TEST_STORE_FIXTURE_H_ */
