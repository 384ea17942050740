/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the files of sync from ops share (all on the control thread):
 *  - ctl_sync.c: the state, the round (manifest, plan, downloads), the
 *    status and health, start/reconfig/stop, the HTTP helpers;
 *  - ctl_sync_meta.c: manifest.json and its signature, the replay floor;
 *  - ctl_sync_fetch.c: image downloads, pipelined through the worker;
 *  - ctl_sync_plan.c: the decision (pure), ctl_curl.c: libcurl on the loop;
 *  - ctl_sync_local.c: the plan's inputs (for the round and `sync --plan`),
 *    the origin.local-images warnings, orphan files.
 */
#ifndef _MB_CTL_SYNC_PRIV_H_
#define _MB_CTL_SYNC_PRIV_H_

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctl.h"
#include "ctl_curl.h"
#include "mb_manifest.h"
#include "mb_sig.h"

#define SYNC_REASON_MAX 320

enum img_state {
	IMG_OK,		 /* installed and matching the ops manifest */
	IMG_QUEUED,	 /* wanted, waiting for a download slot */
	IMG_DOWNLOADING, /* transfer running */
	IMG_FAILED,	 /* last attempt refused; retried after its backoff */
};

enum http_kind { HTTP_MANIFEST, HTTP_SIG, HTTP_IMAGE };

/* What every transfer has: the easy handle and what the headers said. */
struct sync_http {
	enum http_kind kind;
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	char reason[SYNC_REASON_MAX]; /* set when a callback aborts */
	char etag[256];
	char last_modified[128];
	int64_t cr_start; /* Content-Range start, -1 if none */
	bool added;	  /* in the multi handle */
};

struct dl;

/* One image sync follows. */
struct img {
	struct mb_manifest_entry want; /* owned copy of the ops entry */
	enum img_state state;
	char reason[SYNC_REASON_MAX];
	struct dl *dl;	       /* the download in progress, or NULL */
	bool retry_from_zero;  /* the .part held another version: start clean */
	bool no_ranges;	       /* the origin answered a Range request with 200: one request */
	unsigned failures;     /* consecutive failed attempts at `want` */
	uint64_t retry_at_ms;  /* with failures: not before (monotonic ms) */
};

struct xfer; /* ctl_sync_meta.c */

struct sync {
	bool started;
	const struct mb_config *cfg;
	struct mb_curl *curl;
	struct mb_ctl_timer *poll_timer;
	struct mb_sig_key *key;
	char key_err[SYNC_REASON_MAX];
	/* the last verified manifest, for conditional GETs */
	char *man_buf;
	size_t man_len;
	char etag[256];
	char last_modified[128];
	struct mb_manifest remote;
	bool have_remote;
	uint64_t man_gen; /* bumps whenever the verified manifest (or its validators) changes */
	/* Rollback floor: the last manifest accepted, persisted in
	 * <state-dir>/sync-accepted.json so a restart does not forget it. */
	struct mb_manifest floor;
	bool have_floor;
	/* set while the floor in memory is newer than sync-accepted.json (its
	 * write failed): why, retried every round */
	char floor_err[SYNC_REASON_MAX];
	bool retried_304; /* this round re-fetched after a 304 it could not use */
	/* the round in progress */
	struct xfer *man_x;  /* manifest then sig */
	char *pending_body;  /* manifest body fetched, waiting for its sig */
	size_t pending_len;
	char pending_etag[256], pending_lm[128];
	bool round_active;
	bool round_again;
	bool check_only; /* this round only fetches and verifies the manifest (sync --plan) */
	char round_err[SYNC_REASON_MAX];
	/* images */
	struct img **imgs;
	size_t n_imgs;
	unsigned active; /* downloads running */
	unsigned transfers; /* image requests in the multi handle (ranges count each) */
	/* health */
	int64_t last_sync; /* wall clock seconds of the last finished round */
	char last_result[SYNC_REASON_MAX];
	bool ops_unreachable;
	uint64_t bytes_fetched;
	uint64_t rounds, refusals;
	/* chunk checks (manifest "chunk_sha256") and cut-through */
	uint64_t chunks_ok, chunk_failures, chunk_refetches, cut_through;
	uint32_t failures; /* rounds failed in a row (round backoff) */
	/* progress of the running round: when it started, bytes fetched then */
	uint64_t round_start_ms, round_start_bytes;
	/* files under images/ no manifest names (ctl_sync_local.c) */
	json_t *orphans; /* array of names, at most ORPHANS_SHOWN */
	uint64_t orphans_more;
	/* withdrawals the last reconcile could not record (name -> reason):
	 * those images are still served and listed, retried every round */
	json_t *withdraw_failed;
};

extern struct sync S;

/* ctl_sync.c */
void sync_set_reason(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sync_origin_base(char *out, size_t outlen);
int sync_part_path(const char *name, char *out, size_t outlen);
uint64_t sync_now_ms(void);
/* A new easy handle for url with the origin's TLS settings, headers into h,
 * its private pointer h.
 * 0 or -ENOMEM. */
int sync_http_setup(struct sync_http *h, const char *url);
/* Remove from the multi handle and free the easy handle and headers. */
void sync_http_done(struct sync_http *h);
/* Why a transfer failed, in one phrase. */
void sync_http_reason(struct sync_http *h, CURLcode res, char *out);
bool sync_unreachable(CURLcode res);
void sync_round_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sync_round_maybe_finish(void);
/* A verified manifest (or a 304 for the one held): act on the plan. */
void sync_reconcile(void);
/* Write the floor again if its last write failed (S.floor_err). */
void sync_floor_retry(void);
void sync_tmp_sweep(void);

/* ctl_sync_local.c */
#include "ctl_sync_plan.h"
/* The plan for the verified ops manifest, with the inputs it points into. */
struct sync_plan_run {
	struct mb_manifest local; /* the store's manifest */
	struct mb_sync_local *lv;
	struct mb_sync_track *tv;
	struct mb_sync_step *steps;
	size_t n;
};
/* Build the inputs from the store and S.imgs and run mb_sync_plan.  0,
 * -ENOENT (no verified ops manifest held) or -errno; on 0 the caller calls
 * sync_plan_run_done. */
int sync_plan_build(struct sync_plan_run *p);
void sync_plan_run_done(struct sync_plan_run *p);
/* Warn (once per change of the set) about the KEEP_LOCAL images of p. */
void sync_local_kept(const struct sync_plan_run *p);
/* Forget what was warned about (sync stops). */
void sync_local_reset(void);
/* Warn that `name` was withdrawn for not being in the ops manifest. */
void sync_local_withdrawn(const char *name);
/* The store could not withdraw `name` (rc from mb_ctl_store_retire; nothing
 * changed): log why with the fix and keep it in S.withdraw_failed. */
void sync_local_withdraw_failed(const char *name, int rc);
/* The orphan files under <state-dir>/images: a new array of at most
 * ORPHANS_SHOWN names and how many more.  0 or -errno. */
int sync_orphans_scan(json_t **ret_names, uint64_t *ret_more);
/* Scan, keep the result in S.orphans, warn when it changed. */
void sync_orphans_update(void);
/* The "sync" action with {"plan":true}: what the next round would do. */
json_t *sync_plan_json(char **ret_err);

/* ctl_sync_meta.c */
/* Start fetching manifest.json (sig = false) or manifest.json.sig;
 * `revalidate` sends no validators and asks caches not to answer.  0 or
 * -errno. */
int sync_meta_fetch(bool sig, bool revalidate);
void sync_meta_done(struct xfer *x, CURLcode res);
void sync_meta_free(struct xfer *x);
void sync_floor_load(void);

/* ctl_sync_fetch.c */
/* Start downloading im->want (state QUEUED -> DOWNLOADING).  0 or -errno. */
int sync_fetch_start(struct img *im);
/* Stop im's download now (its .part stays); the worker's part, if any,
 * finishes on its own and is freed then. */
void sync_fetch_abandon(struct img *im);
void sync_fetch_curl_done(struct sync_http *h, CURLcode res);
/* The memory of the download of `name` that checks its chunks (so a
 * Frisbee session may serve it as chunks arrive, see mb_image.present), and
 * its version; NULL if none.  Borrowed: valid until the control thread's
 * next handler. */
struct mb_image *sync_fetch_cut_through(const char *name, uint64_t *ret_version);
/* Bytes of im's download so far. */
uint64_t sync_fetch_progress(const struct img *im);
/* A failed attempt: state FAILED with `why`, backoff armed. */
void sync_img_fail(struct img *im, const char *why, bool count);
/* Start what the concurrency allows. */
void sync_downloads_kick(void);

#endif /* _MB_CTL_SYNC_PRIV_H_ */
