/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sync's manifest: a conditional GET of <origin.url>/manifest.json
 * (If-None-Match / If-Modified-Since from the last verified copy), then
 * manifest.json.sig, the Ed25519/RSA-PSS check against the pinned
 * origin.manifest-pubkey over the exact bytes, the parse (proto/mb_manifest.c,
 * hostile-input bounded), and the replay check; an accepted manifest goes to
 * sync_reconcile (ctl_sync.c), which acts on the plan.
 *
 * The signature is what must hold even when TLS does not: so a 304 counts
 * only against the verified manifest whose validators the request carried
 * (never after a restart or a reload dropped it), and a signed manifest
 * older than the last one accepted (lower "generated", persisted in
 * <state-dir>/sync-accepted.json, or a lower image version) is refused as a
 * replay.  Bodies are held in memory, never beyond their cap.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl.h"
#include "ctl_sync_priv.h"
#include "mb_log.h"
#include "mb_manifest.h"
#include "mb_sig.h"

/* manifest.json or its signature, the body in memory. */
struct xfer {
	struct sync_http h;
	char *buf;
	size_t len, cap, max;
	/* manifest: sent with the validators of the verified manifest of
	 * generation man_gen (a 304 may only ever mean that one) */
	bool conditional;
	uint64_t man_gen;
};

void
sync_meta_free(struct xfer *x)
{
	if (x == NULL)
		return;
	sync_http_done(&x->h);
	free(x->buf);
	free(x);
}

/* manifest / sig bodies into memory, never beyond x->max */
static size_t
mem_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	long code = 0;

	n *= size;
	curl_easy_getinfo(x->h.easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 300 && code < 400 && code != 304) {
		sync_set_reason(x->h.reason, "redirect (HTTP %ld) refused", code);
		return 0;
	}
	if (n > x->max - x->len) {
		sync_set_reason(x->h.reason, "response larger than %zu bytes", x->max);
		return 0;
	}
	if (x->len + n > x->cap) {
		size_t nc = x->cap ? x->cap : 4096;
		char *nb;

		while (nc < x->len + n)
			nc *= 2;
		if (nc > x->max)
			nc = x->max;
		nb = realloc(x->buf, nc);
		if (nb == NULL) {
			sync_set_reason(x->h.reason, "out of memory");
			return 0;
		}
		x->buf = nb;
		x->cap = nc;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	S.bytes_fetched += n;
	return n;
}

/* Start fetching manifest.json (sig = false) or manifest.json.sig.  The
 * manifest request carries the validators of the verified manifest held, if
 * any; `revalidate` sends none and asks caches on the way not to answer for
 * the origin. */
int
sync_meta_fetch(bool sig, bool revalidate)
{
	char base[2048], url[2200];
	struct xfer *x;
	int rc;

	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->h.kind = sig ? HTTP_SIG : HTTP_MANIFEST;
	snprintf(url, sizeof(url), "%s/manifest.json%s", sync_origin_base(base, sizeof(base)),
		 sig ? ".sig" : "");
	rc = sync_http_setup(&x->h, url);
	if (rc < 0) {
		sync_meta_free(x);
		return rc;
	}
	x->max = sig ? MB_SIG_MAX_LEN + 1 : S.cfg->max_manifest_size;
	curl_easy_setopt(x->h.easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	curl_easy_setopt(x->h.easy, CURLOPT_WRITEFUNCTION, mem_write_cb);
	curl_easy_setopt(x->h.easy, CURLOPT_WRITEDATA, x);
	if (!sig && !revalidate && S.man_buf != NULL && S.have_remote &&
	    (S.etag[0] != '\0' || S.last_modified[0] != '\0')) {
		char h[512];

		if (S.etag[0] != '\0') {
			snprintf(h, sizeof(h), "If-None-Match: %s", S.etag);
			x->h.hdrs = curl_slist_append(x->h.hdrs, h);
		}
		if (S.last_modified[0] != '\0') {
			snprintf(h, sizeof(h), "If-Modified-Since: %s", S.last_modified);
			x->h.hdrs = curl_slist_append(x->h.hdrs, h);
		}
		curl_easy_setopt(x->h.easy, CURLOPT_HTTPHEADER, x->h.hdrs);
		x->conditional = true;
	} else if (!sig && revalidate) {
		x->h.hdrs = curl_slist_append(x->h.hdrs, "Cache-Control: no-cache");
		x->h.hdrs = curl_slist_append(x->h.hdrs, "Pragma: no-cache");
		curl_easy_setopt(x->h.easy, CURLOPT_HTTPHEADER, x->h.hdrs);
	}
	x->man_gen = S.man_gen;
	if (mb_curl_add(S.curl, x->h.easy) != 0) {
		sync_meta_free(x);
		return -ENOMEM;
	}
	x->h.added = true;
	S.man_x = x;
	return 0;
}

/* ---- rollback protection ------------------------------------------------------ */

static void
floor_path(char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/sync-accepted.json", S.cfg->state_dir);
}

/* At start: the last manifest accepted before, if any. */
void
sync_floor_load(void)
{
	struct mb_manifest_limits lim = {
		.max_bytes = S.cfg->max_manifest_size,
		.max_images = 0,
	};
	char path[4200], err[MB_MANIFEST_ERRLEN];
	int rc;

	if (S.have_floor)
		return;
	floor_path(path, sizeof(path));
	rc = mb_manifest_load_file(path, &lim, &S.floor, err, sizeof(err));
	if (rc == 0) {
		S.have_floor = true;
		MB_LOG(INFO, SYNC, "last accepted ops manifest: generated %" PRId64 ", %u images",
		       S.floor.generated, S.floor.count);
	} else if (rc != -ENOENT) {
		MB_LOG(ERR, SYNC, "'%s' unreadable (%s): older manifests are refused only against "
		       "the installed versions until one is accepted, continuing", path, err);
	}
}

/* Write S.floor to sync-accepted.json; on failure keep why in S.floor_err
 * (health shows it, every round tries again).  The floor in memory stays
 * raised either way: it only ever refuses more, and the file lagging
 * behind costs only the protection a restart would have kept. */
static void
floor_save(void)
{
	char path[4200];
	int rc;

	floor_path(path, sizeof(path));
	rc = mb_manifest_write_file(&S.floor, path);
	if (rc < 0) {
		if (rc == -ENOSPC || rc == -EDQUOT)
			sync_set_reason(S.floor_err, "cannot write '%s': %s: free space in %s or "
					"move server.state-dir to a larger filesystem; until then a "
					"restart forgets the manifest generation accepted", path,
					strerror(-rc), S.cfg->state_dir);
		else
			sync_set_reason(S.floor_err, "cannot write '%s': %s: until then a restart "
					"forgets the manifest generation accepted", path,
					strerror(-rc));
		MB_LOG(ERR, SYNC, "%s; retrying every round", S.floor_err);
		return;
	}
	if (rc > 0)
		MB_LOG(WARNING, SYNC, "'%s' written, but the fsync of its directory failed", path);
	if (S.floor_err[0] != '\0')
		MB_LOG(NOTICE, SYNC, "'%s' written: the floor is saved again", path);
	S.floor_err[0] = '\0';
}

void
sync_floor_retry(void)
{
	if (S.have_floor && S.floor_err[0] != '\0')
		floor_save();
}

/* A manifest was accepted: it is the new floor, in memory and on disk. */
static void
floor_raise(const struct mb_manifest *m)
{
	if (S.have_floor)
		mb_manifest_done(&S.floor);
	S.have_floor = mb_manifest_copy(&S.floor, m) == 0;
	if (!S.have_floor)
		return;
	/* the floor is names, versions and "generated": no chunk digests,
	 * which would make it larger than the manifest they came in */
	for (uint32_t i = 0; i < S.floor.count; i++) {
		free(S.floor.entries[i].chunks);
		S.floor.entries[i].chunks = NULL;
		S.floor.entries[i].nchunks = 0;
	}
	floor_save();
}

/*
 * Replay protection: the signature says ops signed a manifest, not that it
 * is the current one, so an attacker who can answer for ops (TLS broken or
 * a compromised mirror) could replay an old signed manifest and undo every
 * update.  Refuse one generated before the last accepted (persisted, so a
 * restart does not reopen the window), or one naming an image of this site
 * at a lower version than the last accepted manifest or the store holds.
 * Ops rolls an image back by publishing the old bytes as a new version.
 * 0, or -EINVAL with the reason in why.
 */
static int
rollback_check(const struct mb_manifest *m, char *why, size_t whylen)
{
	struct mb_manifest local = { 0 };
	bool have_local = mb_ctl_store_get_manifest(&local) == 0;
	int rc = 0;

	if (S.have_floor && m->generated < S.floor.generated) {
		snprintf(why, whylen, "generated %" PRId64 " is older than the manifest accepted "
			 "before (generated %" PRId64 "): replay refused", m->generated,
			 S.floor.generated);
		rc = -EINVAL;
		goto out;
	}
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mb_manifest_entry *e = &m->entries[i];
		const struct mb_manifest_entry *f, *l;

		if (!mb_manifest_entry_for_site(e, S.cfg->origin_site))
			continue;
		f = S.have_floor ? mb_manifest_find(&S.floor, e->name) : NULL;
		l = have_local ? mb_manifest_find(&local, e->name) : NULL;
		if (f != NULL && e->version < f->version) {
			snprintf(why, whylen, "image '%.100s' version %" PRIu64 " is older than version %"
				 PRIu64 " accepted before: replay refused", e->name, e->version,
				 f->version);
			rc = -EINVAL;
			goto out;
		}
		if (l != NULL && e->version < l->version) {
			snprintf(why, whylen, "image '%.100s' version %" PRIu64 " is older than the "
				 "installed version %" PRIu64 ": replay refused", e->name, e->version,
				 l->version);
			rc = -EINVAL;
			goto out;
		}
	}
out:
	if (have_local)
		mb_manifest_done(&local);
	return rc;
}

static void
manifest_accept(char *body, size_t len, const char *etag, const char *lm)
{
	struct mb_manifest_limits lim = {
		.max_bytes = S.cfg->max_manifest_size,
		.max_images = S.cfg->max_images,
		.max_image_size = S.cfg->max_image_size,
	};
	struct mb_manifest m = { 0 };
	char err[MB_MANIFEST_ERRLEN];
	int rc;

	rc = mb_manifest_parse(body, len, &lim, &m, err, sizeof(err));
	if (rc < 0) {
		sync_round_fail("manifest rejected: %s", err);
		free(body);
		return;
	}
	if (rollback_check(&m, err, sizeof(err)) < 0) {
		sync_round_fail("manifest rejected: %s", err);
		mb_manifest_done(&m);
		free(body);
		return;
	}
	if (S.have_remote)
		mb_manifest_done(&S.remote);
	S.remote = m;
	S.have_remote = true;
	S.man_gen++;
	free(S.man_buf);
	S.man_buf = body;
	S.man_len = len;
	snprintf(S.etag, sizeof(S.etag), "%s", etag);
	snprintf(S.last_modified, sizeof(S.last_modified), "%s", lm);
	floor_raise(&m);
	MB_LOG(INFO, SYNC, "ops manifest verified: %u images, generated %" PRId64, m.count,
	       m.generated);
	if (!S.check_only) { /* a check for `sync --plan` only verifies it */
		sync_reconcile();
		sync_tmp_sweep();
	}
}

void
sync_meta_done(struct xfer *x, CURLcode res)
{
	char reason[SYNC_REASON_MAX];
	long code = 0;

	S.man_x = NULL;
	curl_easy_getinfo(x->h.easy, CURLINFO_RESPONSE_CODE, &code);
	if (res != CURLE_OK || (code != 200 && !(x->h.kind == HTTP_MANIFEST && code == 304))) {
		sync_http_reason(&x->h, res, reason);
		S.ops_unreachable = sync_unreachable(res);
		sync_round_fail("%s: %s", x->h.kind == HTTP_SIG ? "manifest.json.sig" : "manifest.json",
			   reason);
		free(S.pending_body);
		S.pending_body = NULL;
		sync_meta_free(x);
		sync_round_maybe_finish();
		return;
	}
	S.ops_unreachable = false;
	if (x->h.kind == HTTP_MANIFEST && code == 304) {
		/* "Not modified" only means something against the verified
		 * manifest whose validators the request carried.  Without one
		 * (after a restart, or a reload that dropped it) there is nothing
		 * to keep, and reconciling against an empty set would withdraw
		 * every image on the word of an unsigned reply: fetch the body
		 * instead, once, and refuse the round if ops insists. */
		bool usable = x->conditional && S.have_remote && x->man_gen == S.man_gen;

		sync_meta_free(x);
		if (usable) {
			MB_LOG(DEBUG, SYNC, "ops manifest unchanged");
			if (!S.check_only)
				sync_reconcile();
		} else if (!S.retried_304) {
			S.retried_304 = true;
			MB_LOG(NOTICE, SYNC, "HTTP 304 for manifest.json without a verified manifest "
			       "held, fetching it unconditionally");
			if (sync_meta_fetch(false, true) < 0)
				sync_round_fail("cannot start the manifest request");
		} else {
			sync_round_fail("HTTP 304 (not modified) to an unconditional manifest request: "
				   "no verified manifest to keep, nothing changed");
		}
		sync_round_maybe_finish();
		return;
	}
	if (x->h.kind == HTTP_MANIFEST) {
		free(S.pending_body);
		S.pending_body = x->buf;
		S.pending_len = x->len;
		x->buf = NULL;
		snprintf(S.pending_etag, sizeof(S.pending_etag), "%s", x->h.etag);
		snprintf(S.pending_lm, sizeof(S.pending_lm), "%s", x->h.last_modified);
		sync_meta_free(x);
		if (sync_meta_fetch(true, false) < 0) {
			sync_round_fail("cannot start the signature request");
			free(S.pending_body);
			S.pending_body = NULL;
		}
		sync_round_maybe_finish();
		return;
	}
	/* the signature: check it over the exact manifest bytes */
	if (S.key == NULL) {
		sync_round_fail("no usable manifest-pubkey: %s", S.key_err);
		free(S.pending_body);
	} else {
		int rc = mb_sig_verify(S.key, S.pending_body, S.pending_len, x->buf, x->len);

		if (rc < 0) {
			sync_round_fail("manifest signature: %s", mb_sig_strerror(rc));
			free(S.pending_body);
		} else {
			manifest_accept(S.pending_body, S.pending_len, S.pending_etag,
					S.pending_lm);
		}
	}
	S.pending_body = NULL;
	sync_meta_free(x);
	sync_round_maybe_finish();
}

