/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Image sync from ops over mutual TLS, on the control thread.
 *
 * Every origin.interval (and on the "sync" action) one round runs: the
 * signed manifest is fetched and verified (ctl_sync_meta.c), then the plan
 * (ctl_sync_plan.c, a pure function of the ops manifest, what the store
 * holds and whether its files verified, what sync follows and when each
 * failed image may retry) says, per image, keep, fetch, let run, restart,
 * back off, retire (or keep, origin.local-images) or drop; this file acts
 * on it, and the downloads run in ctl_sync_fetch.c, at most
 * origin.concurrency at a time.  The plan's inputs are built in
 * ctl_sync_local.c, for the round and for `sync --plan` alike; a "check"
 * round (the action's {"check":true}) only fetches and verifies the
 * manifest, so --plan can show what the next round does.
 *
 * Downloads go to <state-dir>/tmp/<name, '/' as %2F>.part (a hash of the
 * name when that would exceed NAME_MAX, see sync_part_path); until the new
 * version is published the old one serves, and nothing partial is ever
 * under images/.  A failed image is retried after a backoff that doubles
 * per consecutive failure (mb_sync_backoff_ms), resuming its .part.
 *
 * libcurl runs through its multi interface on the loop (ctl_curl.c); the
 * bytes are hashed, written and fsync'd on the shared worker, so nothing
 * here blocks on the network or the disk.
 *
 * Cut-through: an image whose manifest entry lists chunk digests is
 * checked chunk by chunk as it downloads (ctl_sync_fetch.c); a master
 * server GET for it while no version of it is published is answered with a
 * session on the memory being filled (sync_master_origin, the master's
 * origin seam), which sends each chunk once it is verified.
 *
 * Refusals (bad signature, replay, hash mismatch, truncated body, redirect,
 * oversized response, TLS failure) are logged once, recorded in the "sync"
 * health entry, and change nothing already published.  Ops unreachable
 * marks the images "stale" and degrades health; it never removes a good
 * image.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctl.h"
#include "ctl_curl.h"
#include "ctl_master.h"
#include "ctl_sync_plan.h"
#include "ctl_sync_priv.h"
#include "ctl_worker.h"
#include "mb_cleanup.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_manifest.h"
#include "mb_sig.h"
#include "mb_time.h"

#define SYNC_CURL_BUFSIZE (512L * 1024) /* libcurl's receive buffer (its maximum) */

static const char *const img_state_names[] = {
	[IMG_OK] = "ok",
	[IMG_QUEUED] = "queued",
	[IMG_DOWNLOADING] = "downloading",
	[IMG_FAILED] = "failed",
};

struct sync S;

/* ---- helpers ------------------------------------------------------------------ */

static int64_t
wall_now(void)
{
	return (int64_t)time(NULL);
}

uint64_t
sync_now_ms(void)
{
	return mb_time_mono_ns() / MB_NS_PER_MS;
}

void
sync_set_reason(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, SYNC_REASON_MAX, fmt, ap);
	va_end(ap);
}

/*
 * The .part file of image `name`: "<state-dir>/tmp/a%2Fb.part" for "a/b"
 * (readable in logs and listings) when that fits in one file name (NAME_MAX
 * bytes), else "<state-dir>/tmp/%H<sha256 of the name in hex>.part".  A
 * valid name is up to 255 bytes and each '/' takes three, so the readable
 * form can reach 255 + 2 * 127 + 5 bytes; the hashed form is always 71.
 * The two never collide: names contain no '%', and a readable part name
 * holds '%' only in "%2F", never "%H".  0 or -ENAMETOOLONG (state dir).
 */
int
sync_part_path(const char *name, char *out, size_t outlen)
{
	size_t o, base;
	int n;

	n = snprintf(out, outlen, "%s/tmp/", S.cfg->state_dir);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	o = base = (size_t)n;
	for (const char *p = name; *p != '\0' && o - base <= NAME_MAX; p++) {
		if (o + 4 >= outlen)
			return -ENAMETOOLONG;
		if (*p == '/') {
			memcpy(out + o, "%2F", 3);
			o += 3;
		} else {
			out[o++] = *p;
		}
	}
	if (o - base + 5 > NAME_MAX) {
		uint8_t md[MB_SHA256_LEN];
		char hex[2 * MB_SHA256_LEN + 1];

		if (mb_sha256(name, strlen(name), md) != 0)
			return -ENOMEM;
		mb_sha256_to_hex(md, hex);
		o = base;
		if (o + 2 + 2 * MB_SHA256_LEN + 6 > outlen)
			return -ENAMETOOLONG;
		memcpy(out + o, "%H", 2);
		memcpy(out + o + 2, hex, 2 * MB_SHA256_LEN);
		o += 2 + 2 * MB_SHA256_LEN;
	}
	if (o + 6 > outlen)
		return -ENAMETOOLONG;
	memcpy(out + o, ".part", 6);
	return 0;
}

const char *
sync_origin_base(char *out, size_t outlen)
{
	size_t l;

	snprintf(out, outlen, "%s", S.cfg->origin_url);
	l = strlen(out);
	while (l > 0 && out[l - 1] == '/')
		out[--l] = '\0';
	return out;
}

static struct img *
img_find(const char *name)
{
	for (size_t i = 0; i < S.n_imgs; i++)
		if (strcmp(S.imgs[i]->want.name, name) == 0)
			return S.imgs[i];
	return NULL;
}

/* ---- HTTP ------------------------------------------------------------------------ */

static size_t
hdr_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), vl;

	if (n <= nl || strncasecmp(line, name, nl) != 0)
		return 0;
	line += nl;
	n -= nl;
	while (n > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	vl = n < outlen - 1 ? n : outlen - 1;
	memcpy(out, line, vl);
	out[vl] = '\0';
	return vl;
}

static size_t
header_cb(char *line, size_t size, size_t n, void *arg)
{
	struct sync_http *x = arg;
	char v[64];

	n *= size;
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* a new response (e.g. after 100-continue): forget the old headers */
		x->etag[0] = x->last_modified[0] = '\0';
		x->cr_start = -1;
		return n;
	}
	(void)hdr_value(line, n, "ETag:", x->etag, sizeof(x->etag));
	(void)hdr_value(line, n, "Last-Modified:", x->last_modified, sizeof(x->last_modified));
	if (hdr_value(line, n, "Content-Range:", v, sizeof(v)) > 0) {
		unsigned long long a;

		if (sscanf(v, "bytes %llu-", &a) == 1)
			x->cr_start = (int64_t)a;
	}
	return n;
}

int
sync_http_setup(struct sync_http *x, const char *url)
{
	const struct mb_config *c = S.cfg;
	CURL *e = curl_easy_init();

	x->cr_start = -1;
	if (e == NULL)
		return -ENOMEM;
	x->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->origin_ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, c->origin_ca_file);
	if (c->origin_client_cert[0] != '\0')
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->origin_client_cert);
	if (c->origin_client_key[0] != '\0')
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->origin_client_key);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->sync_timeout);
	/* abort when under 1 byte/s for origin.timeout seconds */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)c->sync_timeout);
	curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "minibossd/" MB_VERSION);
	/* fewer, larger write callbacks and socket reads per loop wake-up */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, SYNC_CURL_BUFSIZE);
	return 0;
}

void
sync_http_done(struct sync_http *h)
{
	if (h->easy != NULL) {
		if (h->added)
			mb_curl_remove(S.curl, h->easy);
		curl_easy_cleanup(h->easy);
	}
	h->easy = NULL;
	h->added = false;
	curl_slist_free_all(h->hdrs);
	h->hdrs = NULL;
}

/* Why a transfer failed, in one phrase. */
void
sync_http_reason(struct sync_http *x, CURLcode res, char *out)
{
	long code = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (x->reason[0] != '\0')
		sync_set_reason(out, "%s", x->reason);
	else if (res == CURLE_HTTP_RETURNED_ERROR && code == 400)
		sync_set_reason(out, "HTTP 400 (nginx sends this when the client certificate is missing "
			   "or not accepted: check origin.client-cert)");
	else if (res == CURLE_HTTP_RETURNED_ERROR)
		sync_set_reason(out, "HTTP %ld", code);
	else if (res == CURLE_FILESIZE_EXCEEDED)
		sync_set_reason(out, "response larger than allowed");
	else if (res == CURLE_OK && code >= 300 && code < 400 && code != 304)
		sync_set_reason(out, "redirect (HTTP %ld) refused", code);
	else if (res == CURLE_OK && (code == 200 || code == 206)) /* well framed, short */
		sync_set_reason(out, "HTTP %ld ended before the bytes asked for", code);
	else if (res == CURLE_OK) /* curl saw the transfer end well: not what was asked */
		sync_set_reason(out, "unexpected HTTP %ld", code);
	else
		sync_set_reason(out, "%s%s%s", curl_easy_strerror(res), x->errbuf[0] ? ": " : "",
			   x->errbuf);
}

bool
sync_unreachable(CURLcode res)
{
	return res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
	       res == CURLE_OPERATION_TIMEDOUT || res == CURLE_RECV_ERROR ||
	       res == CURLE_SEND_ERROR || res == CURLE_GOT_NOTHING;
}

/* libcurl finished a transfer: the manifest's, the signature's or an image's. */
static void
curl_done(CURL *easy, CURLcode res, void *arg)
{
	struct sync_http *h = NULL;

	(void)arg;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&h);
	if (h == NULL)
		return;
	if (h->kind == HTTP_IMAGE)
		sync_fetch_curl_done(h, res);
	else
		sync_meta_done((struct xfer *)h, res); /* h is its first member */
}

/* ---- the round: manifest -> sig -> verify -> plan -> downloads ------------------- */

/* The wait before the next periodic round after `failures` rounds failed
 * in a row (ops unreachable, the manifest refused): the interval doubled
 * per failure, up to 8 x (at most an hour, never below the interval).
 * Images that fail have their own backoff (mb_sync_backoff_ms). */
static uint64_t
round_backoff_s(uint32_t failures)
{
	uint64_t iv = S.cfg->sync_interval, cap = iv * 8, d = iv;

	if (cap > 3600)
		cap = iv > 3600 ? iv : 3600;
	for (uint32_t i = 0; i < failures && d < cap; i++)
		d *= 2;
	return d < cap ? d : cap;
}

void
sync_round_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(S.round_err, sizeof(S.round_err), fmt, ap);
	va_end(ap);
	S.refusals++;
	MB_LOG(WARNING, SYNC, "sync from '%s' refused: %s, retrying in %" PRIu64 "s",
	       S.cfg->origin_url, S.round_err, round_backoff_s(S.failures + 1));
}

void
sync_round_maybe_finish(void)
{
	if (!S.round_active || S.man_x != NULL || S.active > 0)
		return;
	for (size_t i = 0; i < S.n_imgs; i++)
		if (S.imgs[i]->state == IMG_QUEUED)
			return;
	S.round_active = false;
	S.check_only = false;
	S.last_sync = wall_now();
	S.rounds++;
	if (S.round_err[0] != '\0') {
		sync_set_reason(S.last_result, "%s", S.round_err);
	} else {
		size_t failed = 0;

		for (size_t i = 0; i < S.n_imgs; i++)
			failed += S.imgs[i]->state == IMG_FAILED;
		if (S.withdraw_failed != NULL)
			failed += json_object_size(S.withdraw_failed);
		if (failed > 0)
			sync_set_reason(S.last_result, "%zu image(s) failed", failed);
		else
			sync_set_reason(S.last_result, "ok");
	}
	{
		uint32_t before = S.failures;

		S.failures = S.round_err[0] != '\0' ? S.failures + 1 : 0;
		if (S.failures != before)
			(void)mb_ctl_timer_rearm(S.poll_timer, round_backoff_s(S.failures) * 1000,
						 round_backoff_s(S.failures) * 1000);
	}
	if (S.round_again) {
		S.round_again = false;
		(void)mb_ctl_timer_rearm(S.poll_timer, 0, round_backoff_s(S.failures) * 1000);
	}
}

static void
round_start(void)
{
	if (!S.started)
		return;
	if (S.round_active) {
		S.round_again = true;
		return;
	}
	S.round_active = true;
	S.round_start_ms = sync_now_ms();
	S.round_start_bytes = S.bytes_fetched;
	S.round_err[0] = '\0';
	S.retried_304 = false;
	if (sync_meta_fetch(false, false) < 0) {
		sync_round_fail("cannot start the manifest request");
		sync_round_maybe_finish();
	}
}

/* The periodic timer skips a beat while a round (long downloads) runs; only
 * the action queues a second round. */
static void
poll_fire(void *arg)
{
	(void)arg;
	if (!S.round_active)
		round_start();
}

/* ---- acting on the plan -------------------------------------------------------- */

static struct img *
img_add(const struct mb_manifest_entry *e, enum img_state state)
{
	struct img **ni = realloc(S.imgs, (S.n_imgs + 1) * sizeof(*ni));
	struct img *im = calloc(1, sizeof(*im));

	if (ni != NULL)
		S.imgs = ni;
	if (ni == NULL || im == NULL || mb_manifest_entry_copy(&im->want, e) < 0) {
		free(im);
		MB_LOG(ERR, SYNC, "out of memory tracking '%s', ignoring", e->name);
		return NULL;
	}
	im->state = state;
	S.imgs[S.n_imgs++] = im;
	return im;
}

/* im now follows e (another version): what it knew of the old one goes. */
static int
img_retarget(struct img *im, const struct mb_manifest_entry *e)
{
	if (mb_sync_same(&im->want, e))
		return 0;
	mb_manifest_entry_done(&im->want);
	im->failures = 0;
	im->retry_from_zero = false;
	return mb_manifest_entry_copy(&im->want, e);
}

static void
part_unlink(const char *name)
{
	char path[4096];

	if (sync_part_path(name, path, sizeof(path)) == 0)
		(void)unlink(path);
}

static void
img_drop(struct img *im)
{
	for (size_t i = 0; i < S.n_imgs; i++) {
		if (S.imgs[i] != im)
			continue;
		if (im->dl != NULL) {
			sync_fetch_abandon(im);
			(void)mb_ctl_store_set_downloading(&im->want, false);
		}
		part_unlink(im->want.name);
		mb_manifest_entry_done(&im->want);
		free(im);
		S.imgs[i] = S.imgs[--S.n_imgs];
		return;
	}
}

/* One remote step. */
static void
act(const struct mb_sync_step *s)
{
	struct img *im = img_find(s->e->name);

	if (im == NULL && (im = img_add(s->e, IMG_QUEUED)) == NULL)
		return;
	switch (s->v) {
	case MB_SYNC_KEEP:
		if (im->dl != NULL) { /* the store has it after all */
			sync_fetch_abandon(im);
			part_unlink(im->want.name);
		}
		if (img_retarget(im, s->e) < 0)
			return;
		im->state = IMG_OK;
		im->reason[0] = '\0';
		im->failures = 0;
		break;
	case MB_SYNC_RESTART:
		/* Its old version was downloading here: that .part is surely
		 * stale.  Any other .part (left by a crash while fetching some
		 * version) is resumed, and a wrong prefix is caught by the hash
		 * and restarted from 0. */
		sync_fetch_abandon(im);
		part_unlink(im->want.name);
		/* fall through */
	case MB_SYNC_FETCH:
		if (img_retarget(im, s->e) < 0)
			return;
		if (im->state != IMG_DOWNLOADING)
			im->state = IMG_QUEUED;
		break;
	case MB_SYNC_WAIT:
	case MB_SYNC_BACKOFF:
	default:
		break;
	}
}

void
sync_reconcile(void)
{
	struct sync_plan_run p;
	char **gone = NULL;
	size_t ng = 0;
	int rc = sync_plan_build(&p);

	if (rc < 0) {
		if (rc == -ENOMEM)
			MB_LOG(ERR, SYNC, "out of memory planning the sync, retrying in %" PRIu64
			       "s", S.cfg->sync_interval);
		return;
	}
	gone = calloc(p.n + 1, sizeof(*gone));
	if (gone == NULL) {
		MB_LOG(ERR, SYNC, "out of memory planning the sync, retrying in %" PRIu64 "s",
		       S.cfg->sync_interval);
		goto out;
	}
	sync_local_kept(&p);
	sync_floor_retry();
	if (S.withdraw_failed != NULL)
		json_object_clear(S.withdraw_failed);
	/* Names first: acting changes the local manifest and the tracked
	 * images the steps point into. */
	for (size_t i = 0; i < p.n; i++)
		if (p.steps[i].v == MB_SYNC_RETIRE || p.steps[i].v == MB_SYNC_DROP)
			gone[ng++] = strdup(p.steps[i].e->name);
	for (size_t i = 0; i < p.n; i++)
		if (p.steps[i].v != MB_SYNC_RETIRE && p.steps[i].v != MB_SYNC_DROP &&
		    p.steps[i].v != MB_SYNC_KEEP_LOCAL)
			act(&p.steps[i]);
	for (size_t i = 0, g = 0; i < p.n; i++) {
		const char *name;
		struct img *im;

		if (p.steps[i].v != MB_SYNC_RETIRE && p.steps[i].v != MB_SYNC_DROP)
			continue;
		name = gone[g++];
		if (name == NULL)
			continue;
		if (p.steps[i].v == MB_SYNC_DROP) {
			if ((im = img_find(name)) != NULL)
				img_drop(im);
		} else if ((rc = mb_ctl_store_retire(name)) == 0) {
			sync_local_withdrawn(name);
		} else if (rc != -ENOENT) {
			sync_local_withdraw_failed(name, rc);
		}
	}
	sync_downloads_kick();
out:
	for (size_t i = 0; i < ng; i++)
		free(gone[i]);
	free(gone);
	sync_plan_run_done(&p);
	sync_orphans_update();
}

/* ---- leftovers, health, action, lifecycle -------------------------------------- */

/* At start: make <state-dir>/tmp, drop stray temp files; .part files stay
 * until the first verified manifest says whether they are wanted (resume)
 * and are removed then if not. */
static void
tmp_prepare(void)
{
	char dir[4096];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", S.cfg->state_dir);
	if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
		MB_LOG(ERR, SYNC, "cannot create '%s': %s", dir, strerror(errno));
		return;
	}
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (l > 5 && strcmp(de->d_name + l - 5, ".part") == 0) {
			MB_LOG(INFO, SYNC, "found partial download '%s', resuming if still wanted",
			       de->d_name);
			continue;
		}
	}
	closedir(d);
}

/* After a verified manifest: .part files of images not wanted go. */
void
sync_tmp_sweep(void)
{
	char dir[4096], want[4096], full[4400];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", S.cfg->state_dir);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		bool keep = false;

		if (l <= 5 || strcmp(de->d_name + l - 5, ".part") != 0)
			continue;
		for (size_t i = 0; i < S.n_imgs && !keep; i++) {
			if (sync_part_path(S.imgs[i]->want.name, want, sizeof(want)) == 0 &&
			    strcmp(want + strlen(dir) + 1, de->d_name) == 0 &&
			    S.imgs[i]->state != IMG_OK)
				keep = true;
		}
		if (!keep) {
			snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
			(void)unlink(full);
			MB_LOG(INFO, SYNC, "removed stale partial download '%s'", de->d_name);
		}
	}
	closedir(d);
}

/* Until ops answers, the images the store already has are what we know:
 * they show as "ok" (or "stale" while ops is unreachable), or "failed" when
 * their file did not verify (the first round fetches them again). */
static void
seed_from_store(void)
{
	struct mb_manifest local = { 0 };

	if (mb_ctl_store_get_manifest(&local) < 0)
		return;
	for (uint32_t i = 0; i < local.count; i++) {
		const struct mb_manifest_entry *e = &local.entries[i];
		bool bad = mb_ctl_store_state(e->name) == MB_CTL_STORE_FAILED;
		struct img *im = img_add(e, bad ? IMG_FAILED : IMG_OK);

		if (im == NULL)
			break;
		if (bad)
			sync_set_reason(im->reason, "the local copy failed verification");
	}
	mb_manifest_done(&local);
}

static json_t *
status_json(enum mb_health_state *worst)
{
	json_t *o = json_object(), *imgs = json_object();
	enum mb_health_state w = MB_HEALTH_OK;
	uint64_t done = 0, total = 0;

	json_object_set_new(o, "origin", json_string(S.cfg->origin_url));
	json_object_set_new(o, "running", json_boolean(S.round_active));
	if (S.round_active && S.check_only)
		json_object_set_new(o, "checking", json_true());
	json_object_set_new(o, "last_sync", json_integer(S.last_sync));
	json_object_set_new(o, "result", json_string(S.last_sync ? S.last_result : "never"));
	json_object_set_new(o, "ops_reachable", json_boolean(!S.ops_unreachable));
	json_object_set_new(o, "bytes_fetched", json_integer((json_int_t)S.bytes_fetched));
	json_object_set_new(o, "rounds", json_integer((json_int_t)S.rounds));
	json_object_set_new(o, "refusals", json_integer((json_int_t)S.refusals));
	json_object_set_new(o, "chunks_verified", json_integer((json_int_t)S.chunks_ok));
	json_object_set_new(o, "chunk_failures", json_integer((json_int_t)S.chunk_failures));
	json_object_set_new(o, "chunk_refetches", json_integer((json_int_t)S.chunk_refetches));
	json_object_set_new(o, "cut_through", json_integer((json_int_t)S.cut_through));
	json_object_set_new(o, "failures", json_integer((json_int_t)S.failures));
	json_object_set_new(o, "next_round_s", json_integer((json_int_t)round_backoff_s(S.failures)));
	if (S.have_remote)
		json_object_set_new(o, "manifest_generated", json_integer(S.remote.generated));
	for (size_t i = 0; i < S.n_imgs; i++) {
		struct img *im = S.imgs[i];
		json_t *e = json_object();
		const char *st = img_state_names[im->state];
		uint64_t got = im->state == IMG_OK ? im->want.size : 0;

		if (im->dl != NULL)
			got = sync_fetch_progress(im);
		if (im->state == IMG_OK && S.ops_unreachable)
			st = "stale";
		json_object_set_new(e, "state", json_string(st));
		json_object_set_new(e, "version", json_integer((json_int_t)im->want.version));
		if (im->state == IMG_DOWNLOADING || im->state == IMG_QUEUED) {
			json_object_set_new(e, "bytes", json_integer((json_int_t)got));
			json_object_set_new(e, "total", json_integer((json_int_t)im->want.size));
		}
		if (im->state == IMG_FAILED) {
			json_object_set_new(e, "reason", json_string(im->reason));
			if (im->failures > 0 && im->retry_at_ms > sync_now_ms())
				json_object_set_new(e, "retry-in-s",
						    json_integer((json_int_t)((im->retry_at_ms -
									 sync_now_ms()) /
									1000 + 1)));
			w = MB_HEALTH_DEGRADED;
		}
		done += got;
		total += im->want.size;
		json_object_set_new(imgs, im->want.name, e);
	}
	json_object_set_new(o, "images", imgs);
	json_object_set_new(o, "bytes_done", json_integer((json_int_t)done));
	json_object_set_new(o, "bytes_total", json_integer((json_int_t)total));
	json_object_set_new(o, "local-images", json_string(S.cfg->origin_local_images));
	if (S.round_active) {
		/* this round's average rate, and the rest of what is queued or
		 * downloading at that rate */
		uint64_t ms = sync_now_ms() - S.round_start_ms;
		uint64_t got = S.bytes_fetched - S.round_start_bytes;
		uint64_t rate = ms > 0 ? got * 1000 / ms : 0;

		json_object_set_new(o, "rate-Bps", json_integer((json_int_t)rate));
		if (rate > 0 && total > done)
			json_object_set_new(o, "eta-s",
					    json_integer((json_int_t)((total - done) / rate + 1)));
		for (size_t i = 0; i < S.n_imgs; i++)
			if (S.imgs[i]->state == IMG_DOWNLOADING) {
				json_object_set_new(o, "current", json_string(S.imgs[i]->want.name));
				break;
			}
	}
	if (S.orphans != NULL) {
		json_object_set_new(o, "orphans", json_incref(S.orphans));
		json_object_set_new(o, "orphans-more", json_integer((json_int_t)S.orphans_more));
	}
	if (S.floor_err[0] != '\0') {
		json_object_set_new(o, "floor_unsaved", json_string(S.floor_err));
		w = MB_HEALTH_DEGRADED;
	}
	if (S.withdraw_failed != NULL && json_object_size(S.withdraw_failed) > 0) {
		json_object_set_new(o, "withdraw_failed", json_incref(S.withdraw_failed));
		w = MB_HEALTH_DEGRADED;
	}
	if (S.last_sync != 0 && strcmp(S.last_result, "ok") != 0)
		w = MB_HEALTH_DEGRADED;
	if (S.ops_unreachable || S.key == NULL)
		w = MB_HEALTH_DEGRADED;
	if (worst != NULL && *worst < w)
		*worst = w;
	return o;
}

static json_t *
health_sync(enum mb_health_state *worst, void *arg)
{
	(void)arg;
	return S.started ? status_json(worst) : NULL; /* off: no section */
}

/* "sync": {"wait":bool,"status":bool}.  Starts a round unless status is
 * true; returns the status at once (clients poll for --wait). */
static json_t *
action_sync(json_t *args, char **ret_err)
{
	json_t *st = args != NULL ? json_object_get(args, "status") : NULL;
	json_t *plan = args != NULL ? json_object_get(args, "plan") : NULL;
	json_t *check = args != NULL ? json_object_get(args, "check") : NULL;

	if (!S.started) {
		*ret_err = strdup("sync is not configured (origin.url is empty)");
		return NULL;
	}
	if (plan != NULL && !json_is_boolean(plan)) {
		*ret_err = strdup("'plan' must be a boolean");
		return NULL;
	}
	if (json_is_true(plan)) /* what the next round would do; nothing starts */
		return sync_plan_json(ret_err);
	if (check != NULL && !json_is_boolean(check)) {
		*ret_err = strdup("'check' must be a boolean");
		return NULL;
	}
	if (json_is_true(check)) {
		/* fetch and verify the manifest, act on nothing (sync --plan
		 * then plans against it); a round in progress verifies one too */
		if (!S.round_active) {
			S.check_only = true;
			round_start();
		}
		return status_json(NULL);
	}
	if (st != NULL && !json_is_boolean(st)) {
		*ret_err = strdup("'status' must be a boolean");
		return NULL;
	}
	if (!json_is_true(st)) {
		/* asked for now: failed images do not wait out their backoff */
		for (size_t i = 0; i < S.n_imgs; i++)
			S.imgs[i]->retry_at_ms = 0;
		round_start();
	}
	return status_json(NULL);
}

static void
key_load(void)
{
	mb_sig_key_free(S.key);
	S.key = mb_sig_key_load(S.cfg->manifest_pubkey, 0);
	if (S.key == NULL) {
		int e = errno;

		sync_set_reason(S.key_err, "'%s': %s", S.cfg->manifest_pubkey,
			   e == ENOENT || e == EACCES ? strerror(e) : mb_sig_strerror(-e));
		MB_LOG(ERR, SYNC, "origin.manifest-pubkey %s, every manifest will be refused",
		       S.key_err);
	}
}

static void sync_stop(void);

/* The master server's origin seam: a GET for an image no version of which
 * is published, while a download that checks its chunks runs, is served
 * from that download's memory (cut-through); anything else goes on as
 * usual (GETSTATUS: pending, method 0, not running). */
static int
sync_master_origin(const char *name, const struct mb_ms_get_request *req, uint32_t client,
		   struct mb_ms_get_reply *rep, struct mb_image **ret_img, void *arg)
{
	struct mb_master_id id;
	struct mb_image *img;
	uint64_t version = 0;

	(void)client;
	(void)rep;
	(void)arg;
	if (req->status || mb_image_lookup(name, strlen(name)) != NULL)
		return MB_MASTER_LOCAL;
	img = sync_fetch_cut_through(name, &version);
	if (img == NULL)
		return MB_MASTER_LOCAL;
	/* a versioned id names that version only */
	if (mb_master_canon_id(req->imageid, req->idlen, &id) == 0 && id.has_version &&
	    id.version != version)
		return MB_MASTER_LOCAL;
	*ret_img = img;
	S.cut_through++;
	return MB_MASTER_SERVE;
}

static int
sync_start(const struct mb_config *cfg)
{
	S.cfg = cfg;
	if (cfg->origin_url[0] == '\0' || strncmp(cfg->origin_url, "https://", 8) != 0) {
		MB_LOG(INFO, SYNC, "no https origin.url, sync from ops disabled");
		return 0;
	}
	S.curl = mb_curl_new(curl_done, NULL);
	if (S.curl == NULL) {
		MB_LOG(ERR, SYNC, "libcurl initialisation failed");
		return -EIO;
	}
	S.poll_timer = mb_ctl_timer_new(1, cfg->sync_interval * 1000, poll_fire, NULL);
	if (S.poll_timer == NULL) {
		int rc = -errno;

		sync_stop();
		MB_LOG(ERR, SYNC, "cannot create sync timers: %s", strerror(-rc));
		return rc;
	}
	key_load();
	sync_floor_load();
	tmp_prepare();
	seed_from_store();
	sync_orphans_update();
	S.started = true;
	mb_ctl_master_set_origin(sync_master_origin, NULL);
	MB_LOG(INFO, SYNC, "syncing from '%s' every %" PRIu64 "s (site '%s')", cfg->origin_url,
	       cfg->sync_interval, cfg->origin_site);
	return 0;
}

/* Every [origin] key: the next round and the next transfer use them (url,
 * TLS files, site, rates, sizes, timeout); the key is loaded again, and the
 * poll timer follows origin.interval at once. */
static int
sync_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	S.cfg = cfg;
	if (!S.started) {
		/* origin.url set by this reload: start now */
		if (strncmp(cfg->origin_url, "https://", 8) == 0)
			return sync_start(cfg);
		return 0;
	}
	if (strncmp(cfg->origin_url, "https://", 8) != 0) {
		/* origin.url emptied by this reload: stop syncing (downloads
		 * keep their .part for a later resume; the store keeps serving) */
		for (size_t i = 0; i < S.n_imgs; i++)
			if (S.imgs[i]->dl != NULL)
				(void)mb_ctl_store_set_downloading(&S.imgs[i]->want, false);
		sync_stop();
		MB_LOG(NOTICE, SYNC, "origin.url emptied, sync from ops stopped");
		return 0;
	}
	key_load();
	/* The origin or the key may have changed: the manifest verified under
	 * the old ones is dropped with its validators, and the next round
	 * fetches and verifies one unconditionally (a 304 is then refused). */
	free(S.man_buf);
	S.man_buf = NULL;
	S.etag[0] = S.last_modified[0] = '\0';
	if (S.have_remote)
		mb_manifest_done(&S.remote);
	S.have_remote = false;
	S.man_gen++;
	S.failures = 0; /* the operator may have fixed what failed: no backoff */
	(void)mb_ctl_timer_rearm(S.poll_timer, cfg->sync_interval * 1000,
				 cfg->sync_interval * 1000);
	return 0;
}

static void
sync_stop(void)
{
	mb_ctl_master_clear_origin(sync_master_origin);
	for (size_t i = 0; i < S.n_imgs; i++) {
		sync_fetch_abandon(S.imgs[i]); /* the .part stays for a later resume */
		mb_manifest_entry_done(&S.imgs[i]->want);
		free(S.imgs[i]);
	}
	free(S.imgs);
	S.imgs = NULL;
	S.n_imgs = 0;
	S.active = 0;
	sync_meta_free(S.man_x);
	S.man_x = NULL;
	mb_ctl_timer_free(S.poll_timer);
	S.poll_timer = NULL;
	mb_curl_free(S.curl);
	S.curl = NULL;
	free(S.man_buf);
	free(S.pending_body);
	S.man_buf = S.pending_body = NULL;
	if (S.have_remote)
		mb_manifest_done(&S.remote);
	S.have_remote = false;
	if (S.have_floor)
		mb_manifest_done(&S.floor);
	S.have_floor = false;
	S.floor_err[0] = '\0';
	mb_sig_key_free(S.key);
	S.key = NULL;
	S.round_active = S.round_again = false;
	json_decref(S.orphans);
	S.orphans = NULL;
	json_decref(S.withdraw_failed);
	S.withdraw_failed = NULL;
	S.orphans_more = 0;
	sync_local_reset();
	S.check_only = false;
	S.started = false;
}


static const struct mb_ctl_action sync_actions[] = {
	{ "sync", action_sync, "fetch the ops manifest now and download changes; "
			       "{\"status\":true} only reports progress, {\"check\":true} only "
			       "fetches and verifies the manifest, {\"plan\":true} what the next "
			       "round would fetch, keep and withdraw" },
};

const struct mb_ctl_subsys mb_ctl_subsys_sync = {
	.name = "sync",
	.title = "sync from ops",
	.start = sync_start,
	.reconfig = sync_reconfig,
	.stop = sync_stop,
	.actions = sync_actions,
	.n_actions = MB_ARRAY_SIZE(sync_actions),
	.health_key = "sync",
	.health = health_sync,
	.without = "serving the local store only",
};
