/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sync-probe: sync from ops (control/ctl_sync*.c) with the real image store,
 * on the real control loop and subsystem table of the control library,
 * against a real origin, without EAL or the dataplane, for the sync system
 * tests.  The store's pinned memory is the heap (mb_imgmem_heap) standing in
 * for hugepages, so one-pass downloads fill image memory as in the daemon;
 * SYNC_PROBE_FILE_ONLY=1 gives it none, and every download takes the
 * file-only path (the store then verifies the file and maps it).
 *
 *   sync-probe CONFIG [--rounds N | --serve]
 *
 * Runs N sync rounds (default 1) through the "sync" action, then checks that
 * every published image's memory holds exactly its file's bytes ("image
 * 'X': memory matches the file"), prints the "sync" status JSON on stdout
 * and exits 0 when the last round's result is "ok", 1 otherwise; on stderr,
 * "sync-probe: rounds took S s" times the start and the rounds alone,
 * without that check (bench/sync-wan.sh reads it).  Killing it
 * mid-download is the crash test.  --serve also opens server.control-socket
 * and runs the loop until SIGTERM, for minibossctl (sync, reload: the same
 * reload as the daemon's, re-reading CONFIG).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_imgmem.h"
#include "ctl_priv.h"
#include "mb_config.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_time.h"

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static json_t *
status(void)
{
	json_t *args = json_pack("{s:b}", "status", 1);
	char *err = NULL;
	json_t *r = mb_ctl_action_run("sync", args, &err);

	json_decref(args);
	if (r == NULL) {
		fprintf(stderr, "sync-probe: %s\n", err);
		exit(2);
	}
	return r;
}

/* Every published image holds exactly its file's bytes, then zeroes.
 * 0, or -EIO after saying which one differs. */
static int
check_memory(const char *state_dir)
{
	struct mb_image_table *t;
	int rc = 0;

	rcu_read_lock();
	t = rcu_dereference(mb_image_table_current);
	for (uint32_t i = 0; t != NULL && i < t->count; i++) {
		const struct mb_image *img = t->img[i];
		uint8_t buf[65536];
		char path[4400];
		uint64_t off = 0;
		bool same = true;
		size_t n;
		FILE *f;

		snprintf(path, sizeof(path), "%s/images/%s", state_dir, img->name);
		f = fopen(path, "rb");
		if (f == NULL) {
			same = false;
		} else {
			while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
				if (off + n > img->size || memcmp(img->sb.data + off, buf, n) != 0)
					same = false;
				off += n;
			}
			fclose(f);
		}
		for (uint64_t k = img->size; same && k < img->sb.len; k++)
			same = img->sb.data[k] == 0;
		if (!same || off != img->size) {
			fprintf(stderr, "sync-probe: image '%s': memory differs from the file\n",
				img->name);
			rc = -EIO;
		} else {
			fprintf(stderr, "sync-probe: image '%s': memory matches the file (%" PRIu64
				" bytes, %s)\n", img->name, off, img->mem == MB_IMAGE_MEM_HUGEPAGE ?
				"pinned" : "mapped");
		}
	}
	rcu_read_unlock();
	return rc;
}

/* Run the loop until no round runs and the store verified what it got. */
static json_t *
until_idle(void)
{
	json_t *st = NULL;

	for (;;) {
		json_decref(st);
		st = status();
		if (!json_is_true(json_object_get(st, "running")) && mb_ctl_store_busy() == 0)
			return st;
		(void)mb_ctl_loop_run_once(200); /* offline while it waits */
	}
}

int
main(int argc, char **argv)
{
	static const struct mb_ctl_subsys *const rounds_tab[] = { &mb_ctl_subsys_store,
								  &mb_ctl_subsys_sync };
	static const struct mb_ctl_subsys *const serve_tab[] = {
		&mb_ctl_subsys_sock, &mb_ctl_subsys_store, &mb_ctl_subsys_sync
	};
	struct mb_config cfg;
	char err[MB_CFG_ERRLEN];
	int rounds = 1, rc;
	uint64_t t0;
	json_t *st = NULL;

	if (argc < 2) {
		fprintf(stderr, "usage: sync-probe CONFIG [--rounds N | --serve]\n");
		return 2;
	}
	if (argc == 4 && strcmp(argv[2], "--rounds") == 0)
		rounds = atoi(argv[3]);
	if (argc == 3 && strcmp(argv[2], "--serve") == 0)
		rounds = -1;
	if (mb_config_defaults(&cfg) < 0 ||
	    mb_config_load_file(&cfg, argv[1], err, sizeof(err)) < 0 ||
	    mb_config_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "sync-probe: %s\n", err);
		return 2;
	}
	mb_log_set_level(MB_LOG_DEBUG);
	mb_imgmem_set_ops(getenv("SYNC_PROBE_FILE_ONLY") != NULL ? NULL : &mb_imgmem_heap);
	rcu_register_thread();
	if (mb_ctl_loop_init() < 0)
		return 2;
	mb_ctl_loop_set_rcu(true);
	if (rounds < 0) {
		signal(SIGTERM, on_term);
		if (mb_ctl_core_start(&cfg, argv[1], serve_tab, 3) < 0) {
			mb_config_done(&cfg);
			return 2;
		}
		while (!stop)
			(void)mb_ctl_loop_run_once(200);
		mb_ctl_core_stop();
		mb_ctl_loop_fini();
		rcu_unregister_thread();
		mb_config_done(&cfg);
		return 0;
	}
	t0 = mb_time_mono_ns();
	if (mb_ctl_core_start(&cfg, argv[1], rounds_tab, 2) < 0) {
		mb_config_done(&cfg);
		return 2;
	}
	for (int r = 0; r < rounds; r++) {
		if (r > 0) {
			json_t *a = json_object(), *x;
			char *e = NULL;

			x = mb_ctl_action_run("sync", a, &e);
			json_decref(x);
			json_decref(a);
			free(e);
		}
		/* the start timer (1 ms) begins the first round */
		for (int spins = 0; spins < 10; spins++)
			(void)mb_ctl_loop_run_once(10);
		json_decref(st);
		st = until_idle();
	}
	fprintf(stderr, "sync-probe: rounds took %.3f s\n", (double)(mb_time_mono_ns() - t0) / 1e9);
	rc = strcmp(json_string_value(json_object_get(st, "result")), "ok") == 0 ? 0 : 1;
	if (check_memory(cfg.state_dir) != 0)
		rc = 1;
	json_dumpf(st, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
	printf("\n");
	json_decref(st);
	mb_ctl_core_stop();
	mb_ctl_loop_fini();
	rcu_unregister_thread();
	mb_config_done(&cfg);
	return rc;
}
