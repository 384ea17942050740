/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sync-probe: control/ctl_sync.c on the real control loop (ctl_loop.c,
 * ctl_action.c) against a real origin, without EAL or the dataplane, for the
 * sync system tests.  The image store is a small file-backed stand-in with
 * the same contract as ctl_store.c's install/retire: install renames the
 * verified .part into <state-dir>/images/<name> and rewrites the local
 * manifest.json atomically; retire removes both.  One-pass downloads fill
 * a heap object and install_filled checks that it holds exactly the file's
 * bytes then zeroes (the daemon's store keeps hugepages and has its own tests).
 *
 *   sync-probe CONFIG [--rounds N | --serve]
 *
 * Runs N sync rounds (default 1) through the "sync" action, then prints the
 * "sync" status JSON on stdout and exits 0 when the last round's result is
 * "ok", 1 otherwise.  Killing it mid-download is the crash test.  --serve
 * opens server.control-socket (control/ctl_sock.c) and runs the loop until
 * SIGTERM, for minibossctl.
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

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_config.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_manifest.h"

static struct mb_config cfg;
static struct mb_manifest local;
static char local_path[4096];

int
mb_ctl_store_install(const struct mb_manifest_entry *e, const char *verified_path)
{
	char dst[4096], dir[4096];
	int rc;

	snprintf(dst, sizeof(dst), "%s/images/%s", cfg.state_dir, e->name);
	/* make the parent directories of names with '/' */
	snprintf(dir, sizeof(dir), "%s", dst);
	for (char *p = dir + strlen(cfg.state_dir) + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(dir, 0755);
		*p = '/';
	}
	if (rename(verified_path, dst) == -1)
		return -errno;
	rc = mb_manifest_set(&local, e);
	if (rc == 0)
		rc = mb_manifest_write_file(&local, local_path);
	return rc;
}

static void
heap_release(struct mb_image *img)
{
	free(img->sb.data);
	free(img);
}

/* One-pass downloads fill this heap stand-in for the hugepage object
 * (SYNC_PROBE_FILE_ONLY=1: none, the download takes the file-only path). */
struct mb_image *
mb_ctl_store_image_alloc(const struct mb_manifest_entry *e)
{
	struct mb_image *img;

	if (getenv("SYNC_PROBE_FILE_ONLY") != NULL || (img = calloc(1, sizeof(*img))) == NULL)
		return NULL;
	snprintf(img->name, sizeof(img->name), "%s", e->name);
	img->version = e->version;
	img->size = e->size;
	memcpy(img->sha256, e->sha256, MB_SHA256_LEN);
	mb_image_init_buf(img, NULL, (e->size / MB_IMAGE_ALIGN + 1) * MB_IMAGE_ALIGN,
			  MB_SBUF_IOVA_NONE);
	img->sb.data = calloc(1, img->sb.len);
	if (img->sb.data == NULL) {
		free(img);
		return NULL;
	}
	img->mem = MB_IMAGE_MEM_HEAP;
	img->release = heap_release;
	return img;
}

/* The contract checked: the memory holds exactly the file's bytes, then zeroes. */
int
mb_ctl_store_install_filled(const struct mb_manifest_entry *e, const char *verified_path,
			    struct mb_image *img)
{
	uint8_t buf[65536];
	uint64_t off = 0;
	FILE *f = fopen(verified_path, "rb");
	size_t n;
	int rc = 0;

	if (f == NULL) {
		mb_image_unref(img);
		return -errno;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (off + n > img->size || memcmp(img->sb.data + off, buf, n) != 0)
			rc = -EIO;
		off += n;
	}
	fclose(f);
	if (off != img->size || img->size != e->size)
		rc = -EIO;
	for (uint64_t i = img->size; rc == 0 && i < img->sb.len; i++)
		if (img->sb.data[i] != 0)
			rc = -EIO;
	mb_image_unref(img);
	if (rc != 0) {
		fprintf(stderr, "sync-probe: image '%s': memory differs from the file\n",
			e->name);
		return rc;
	}
	fprintf(stderr, "sync-probe: image '%s': memory matches the file (%" PRIu64 " bytes)\n",
		e->name, off);
	return mb_ctl_store_install(e, verified_path);
}

int
mb_ctl_store_retire(const char *name)
{
	char p[4096];
	int rc;

	rc = mb_manifest_remove(&local, name);
	if (rc < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/images/%s", cfg.state_dir, name);
	(void)unlink(p);
	return mb_manifest_write_file(&local, local_path);
}

int
mb_ctl_store_set_downloading(const struct mb_manifest_entry *e, bool on)
{
	(void)e;
	(void)on;
	return 0;
}

int
mb_ctl_store_get_manifest(struct mb_manifest *ret)
{
	return mb_manifest_copy(ret, &local);
}

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

int
main(int argc, char **argv)
{
	char err[MB_CFG_ERRLEN], dir[4200];
	int rounds = 1, rc;
	json_t *st = NULL;

	if (argc < 2) {
		fprintf(stderr, "usage: sync-probe CONFIG [--rounds N]\n");
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
	snprintf(dir, sizeof(dir), "%s/images", cfg.state_dir);
	(void)mkdir(cfg.state_dir, 0755);
	(void)mkdir(dir, 0755);
	snprintf(local_path, sizeof(local_path), "%s/manifest.json", cfg.state_dir);
	rc = mb_manifest_load_file(local_path, &(struct mb_manifest_limits){ 0 }, &local, err,
				   sizeof(err));
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "sync-probe: local manifest: %s\n", err);
		return 2;
	}
	if (mb_ctl_loop_init() < 0)
		return 2;
	mb_ctl_set_config(&cfg);
	if (mb_ctl_sync_start(&cfg) < 0)
		return 2;
	if (rounds < 0) {
		signal(SIGTERM, on_term);
		if (mb_ctl_action_builtin_register() < 0 || mb_ctl_sock_open(&cfg) < 0)
			return 2;
		while (!stop)
			(void)mb_ctl_loop_run_once(200);
		mb_ctl_sock_close();
		mb_ctl_sync_stop();
		return 0;
	}
	for (int r = 0; r < rounds; r++) {
		json_t *a = json_object();
		char *e = NULL;

		if (r > 0) {
			json_t *x = mb_ctl_action_run("sync", a, &e);

			json_decref(x);
			free(e);
		}
		json_decref(a);
		/* the start timer (1 ms) begins the first round */
		for (int spins = 0; spins < 10; spins++)
			(void)mb_ctl_loop_run_once(10);
		for (;;) {
			json_decref(st);
			st = status();
			if (!json_is_true(json_object_get(st, "running")))
				break;
			(void)mb_ctl_loop_run_once(200);
		}
	}
	rc = strcmp(json_string_value(json_object_get(st, "result")), "ok") == 0 ? 0 : 1;
	json_dumpf(st, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
	printf("\n");
	json_decref(st);
	mb_ctl_sync_stop();
	mb_manifest_done(&local);
	mb_config_done(&cfg);
	return rc;
}
