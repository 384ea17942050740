/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sync's view of the local side (control thread):
 *  - the plan's inputs, built once from the store's manifest and the images
 *    sync follows (sync_plan_build), for the round that acts on the plan
 *    (sync_reconcile) and for `minibossctl sync --plan` alike, so the plan
 *    shown is the one the next round computes (mb_sync_plan, the pure
 *    function of ctl_sync_plan.c);
 *  - images the ops manifest does not list for this site: withdrawn or kept
 *    by origin.local-images, with a warning naming them either way;
 *  - orphan files: files under <state-dir>/images that neither the store's
 *    manifest nor the ops manifest names.  They are reported (warning, sync
 *    status, --plan, metrics) and never deleted: an operator decides.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_sync_plan.h"
#include "ctl_sync_priv.h"
#include "mb_log.h"
#include "mb_manifest.h"

int
sync_plan_build(struct sync_plan_run *p)
{
	struct mb_sync_plan_in in = {
		.remote = &S.remote,
		.site = S.cfg->origin_site,
		.now_ms = sync_now_ms(),
		.slack_ms = S.cfg->sync_interval * 1000 / 2,
		.keep_local = strcmp(S.cfg->origin_local_images, "keep") == 0,
	};
	size_t cap;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!S.have_remote)
		return -ENOENT;
	rc = mb_ctl_store_get_manifest(&p->local);
	if (rc < 0)
		return rc;
	p->lv = calloc(p->local.count + 1, sizeof(*p->lv));
	p->tv = calloc(S.n_imgs + 1, sizeof(*p->tv));
	cap = p->local.count + S.remote.count + S.n_imgs + 1;
	p->steps = calloc(cap, sizeof(*p->steps));
	if (p->lv == NULL || p->tv == NULL || p->steps == NULL) {
		sync_plan_run_done(p);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < p->local.count; i++)
		p->lv[i] = (struct mb_sync_local){ &p->local.entries[i],
						   mb_ctl_store_state(p->local.entries[i].name) };
	for (size_t i = 0; i < S.n_imgs; i++)
		p->tv[i] = (struct mb_sync_track){ &S.imgs[i]->want, S.imgs[i]->dl != NULL,
						   S.imgs[i]->failures, S.imgs[i]->retry_at_ms };
	in.local = p->lv;
	in.nlocal = p->local.count;
	in.track = p->tv;
	in.ntrack = S.n_imgs;
	p->n = mb_sync_plan(&in, p->steps, cap);
	return 0;
}

void
sync_plan_run_done(struct sync_plan_run *p)
{
	free(p->steps);
	free(p->tv);
	free(p->lv);
	mb_manifest_done(&p->local);
	memset(p, 0, sizeof(*p));
}

/* ---- local images the ops manifest does not list --------------------------------- */

static char *kept_warned; /* the names last warned about as kept, joined */

void
sync_local_kept(const struct sync_plan_run *p)
{
	char *names = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&names, &len);
	unsigned n = 0;

	if (f == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].v == MB_SYNC_KEEP_LOCAL)
			fprintf(f, "%s'%s'", n++ ? ", " : "", p->steps[i].e->name);
	if (fclose(f) != 0) {
		free(names);
		return;
	}
	if (n > 0 && (kept_warned == NULL || strcmp(kept_warned, names) != 0))
		MB_LOG(WARNING, SYNC, "%u image(s) not in the ops manifest for site '%s' kept and "
		       "served (origin.local-images = keep): %s", n, S.cfg->origin_site, names);
	free(kept_warned);
	kept_warned = n > 0 ? names : NULL;
	if (n == 0)
		free(names);
}

void
sync_local_reset(void)
{
	free(kept_warned);
	kept_warned = NULL;
}

void
sync_local_withdrawn(const char *name)
{
	MB_LOG(WARNING, SYNC, "image '%s' is not in the ops manifest for site '%s': withdrawn "
	       "(origin.local-images = withdraw; set keep to serve local images on)", name,
	       S.cfg->origin_site);
}

void
sync_local_withdraw_failed(const char *name, int rc)
{
	char why[SYNC_REASON_MAX];
	struct statvfs sv;

	if (rc == -ENOSPC || rc == -EDQUOT) {
		bool have = statvfs(S.cfg->state_dir, &sv) == 0;

		sync_set_reason(why, "withdrawal failed: rewriting %s/manifest.json: %s (%" PRIu64
				" MiB, %" PRIu64 " inodes free): free space there or move "
				"server.state-dir to a larger filesystem; the image is still "
				"served and listed, the next round withdraws it", S.cfg->state_dir,
				strerror(-rc), have ? ((uint64_t)sv.f_bavail * sv.f_frsize) >> 20 : 0,
				have ? (uint64_t)sv.f_favail : 0);
	} else {
		sync_set_reason(why, "withdrawal failed: %s; the image is still served and listed, "
				"the next round tries again", strerror(-rc));
	}
	MB_LOG(ERR, SYNC, "image '%s' is not in the ops manifest for site '%s': %s", name,
	       S.cfg->origin_site, why);
	if (S.withdraw_failed == NULL)
		S.withdraw_failed = json_object();
	if (S.withdraw_failed != NULL)
		json_object_set_new(S.withdraw_failed, name, json_string(why));
}

/* ---- orphan files ----------------------------------------------------------------- */

#define ORPHANS_SHOWN 50	 /* names kept for status and --plan */
#define ORPHAN_WALK_MAX 100000 /* directory entries looked at, at most */

static struct {
	const struct mb_manifest *local, *remote;
	size_t base;	/* strlen("<state-dir>/images/") */
	json_t *names;
	uint64_t more;
	uint64_t seen;
	bool truncated;
} W;

static int
walk_fn(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel;

	(void)sb;
	(void)ftw;
	if (++W.seen > ORPHAN_WALK_MAX) {
		W.truncated = true;
		return FTW_STOP;
	}
	if (type == FTW_D || type == FTW_DP || strlen(path) <= W.base)
		return FTW_CONTINUE;
	rel = path + W.base;
	if ((W.local != NULL && mb_manifest_find(W.local, rel) != NULL) ||
	    (W.remote != NULL && mb_manifest_find(W.remote, rel) != NULL))
		return FTW_CONTINUE;
	if (json_array_size(W.names) < ORPHANS_SHOWN)
		json_array_append_new(W.names, json_string(rel));
	else
		W.more++;
	return FTW_CONTINUE;
}

int
sync_orphans_scan(json_t **ret_names, uint64_t *ret_more)
{
	struct mb_manifest local = { 0 };
	bool have_local = mb_ctl_store_get_manifest(&local) == 0;
	char dir[4096];
	int rc;

	snprintf(dir, sizeof(dir), "%s/images/", S.cfg->state_dir);
	W = (typeof(W)){ .local = have_local ? &local : NULL,
			 .remote = S.have_remote ? &S.remote : NULL,
			 .base = strlen(dir),
			 .names = json_array() };
	if (W.names == NULL) {
		rc = -ENOMEM;
	} else {
		/* 16 descriptors: nftw closes and reopens deeper directories */
		rc = nftw(dir, walk_fn, 16, FTW_PHYS | FTW_ACTIONRETVAL);
		rc = rc == -1 && errno != ENOENT ? -errno : 0;
	}
	if (have_local)
		mb_manifest_done(&local);
	if (rc < 0) {
		json_decref(W.names);
		return rc;
	}
	*ret_names = W.names;
	*ret_more = W.more + (W.truncated ? 1 : 0);
	W.names = NULL;
	return 0;
}

/* The scan every round (and at start): the result is kept for status and
 * metrics, and a change is logged once. */
void
sync_orphans_update(void)
{
	json_t *names = NULL;
	uint64_t more = 0;

	if (sync_orphans_scan(&names, &more) < 0)
		return;
	if ((json_array_size(names) > 0 || more > 0) &&
	    (S.orphans == NULL || !json_equal(S.orphans, names) || S.orphans_more != more)) {
		char *list = json_dumps(names, JSON_COMPACT);

		MB_LOG(WARNING, SYNC, "%zu%s file(s) in %s/images that no manifest names (left "
		       "alone; remove them or add them with mb-manifest): %s",
		       json_array_size(names) + (size_t)more, more > 0 ? "+" : "",
		       S.cfg->state_dir, list != NULL ? list : "");
		free(list);
	}
	json_decref(S.orphans);
	S.orphans = names;
	S.orphans_more = more;
}

/* ---- minibossctl sync --plan ------------------------------------------------------ */

static json_t *
entry_json(const struct mb_manifest_entry *e, const char *why)
{
	json_t *o = json_pack("{s:s,s:I,s:I}", "name", e->name, "version", (json_int_t)e->version,
			      "size", (json_int_t)e->size);

	if (o != NULL && why != NULL)
		json_object_set_new(o, "why", json_string(why));
	return o;
}

/* Why a FETCH: what the store holds of the image. */
static const char *
fetch_why(const struct sync_plan_run *p, const struct mb_manifest_entry *e)
{
	const struct mb_manifest_entry *l = mb_manifest_find(&p->local, e->name);

	if (l == NULL)
		return "new";
	if (!mb_sync_same(l, e))
		return l->version < e->version ? "newer version" : "other content";
	return "the local copy failed verification";
}

json_t *
sync_plan_json(char **ret_err)
{
	struct sync_plan_run p;
	json_t *r, *a[7], *orph = NULL;
	uint64_t more = 0, now = sync_now_ms();
	int rc = sync_plan_build(&p);
	enum { FETCH, RUNNING, BACKOFF, KEEP, KEEPL, WITHDRAW, DROP };
	static const char *const keys[] = { "fetch", "running", "backoff", "keep",
					    "keep-local", "withdraw", "drop" };

	if (rc == -ENOENT) {
		*ret_err = strdup("no verified ops manifest yet (the first round has not finished, "
				  "or a reload dropped it): run 'minibossctl sync --wait' first");
		return NULL;
	}
	if (rc < 0) {
		*ret_err = strdup(strerror(-rc));
		return NULL;
	}
	/* "checked": when the round that verified (or revalidated) the
	 * manifest ended; the next round fetches it again */
	r = json_pack("{s:I,s:I,s:s,s:s}", "generated", (json_int_t)S.remote.generated, "checked",
		      (json_int_t)S.last_sync, "site", S.cfg->origin_site, "local-images",
		      S.cfg->origin_local_images);
	for (size_t k = 0; k < 7; k++)
		a[k] = json_array();
	for (size_t i = 0; i < p.n; i++) {
		const struct mb_sync_step *s = &p.steps[i];
		json_t *o;

		switch (s->v) {
		case MB_SYNC_FETCH:
			json_array_append_new(a[FETCH], entry_json(s->e, fetch_why(&p, s->e)));
			break;
		case MB_SYNC_RESTART:
			json_array_append_new(a[FETCH], entry_json(s->e, "another version was "
								   "downloading: restart"));
			break;
		case MB_SYNC_WAIT:
			json_array_append_new(a[RUNNING], entry_json(s->e, "downloading"));
			break;
		case MB_SYNC_BACKOFF:
			o = entry_json(s->e, NULL);
			json_object_set_new(o, "retry-in-s",
					    json_integer((json_int_t)((s->retry_at_ms > now ?
									s->retry_at_ms - now : 0) /
								       1000 + 1)));
			json_array_append_new(a[BACKOFF], o);
			break;
		case MB_SYNC_KEEP:
			json_array_append_new(a[KEEP], entry_json(s->e, NULL));
			break;
		case MB_SYNC_KEEP_LOCAL:
			json_array_append_new(a[KEEPL], entry_json(s->e, "not in the ops manifest"));
			break;
		case MB_SYNC_RETIRE:
			json_array_append_new(a[WITHDRAW], entry_json(s->e, "not in the ops "
									    "manifest"));
			break;
		case MB_SYNC_DROP:
			/* an image the store holds is shown by its local step */
			if (mb_manifest_find(&p.local, s->e->name) != NULL)
				break;
			json_array_append_new(a[DROP], entry_json(s->e, "download no longer wanted"));
			break;
		}
	}
	for (size_t k = 0; k < 7; k++)
		json_object_set_new(r, keys[k], a[k]);
	if (sync_orphans_scan(&orph, &more) == 0) {
		json_object_set_new(r, "orphans", orph);
		json_object_set_new(r, "orphans-more", json_integer((json_int_t)more));
	}
	sync_plan_run_done(&p);
	return r;
}
