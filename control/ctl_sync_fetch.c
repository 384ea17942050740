/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sync's image downloads, pipelined: libcurl reads the socket and decrypts
 * on the control thread's loop, the write callback copies each piece into
 * the image's final memory (mb_ctl_store_image_alloc: pinned, when it fits)
 * or into one of two staging buffers (file only), and the shared worker
 * (ctl_worker.h) writes the received bytes to the .part and hashes them,
 * one batch of at least FETCH_FLUSH bytes at a time, while the next ones
 * arrive.  With final memory, the .part is written with O_DIRECT from that
 * memory (whole 4 KiB blocks; the last one through the page cache): the
 * memory already holds the bytes, and a second copy into the page cache
 * cost the worker more than hashing did.  One work per download is in flight at a time, so the hash sees
 * the bytes in order; the file-only path pauses the transfer when both
 * staging buffers are full (CURL_WRITEFUNC_PAUSE) and resumes it when the
 * worker catches up.
 *
 * A leftover .part is resumed: the worker reads its prefix once (into the
 * final memory, when there is one) while hashing it, then a Range request
 * asks for the rest; a .part that is already whole is checked without a
 * request; a server that answers 200 instead of 206 starts over.  At the
 * end the worker finishes the digest and fsyncs the .part; when size and
 * digest match the manifest, the file goes to the store
 * (mb_ctl_store_install_filled publishes the memory filled on the way,
 * without reading the file again; mb_ctl_store_install verifies the file).
 * A digest that does not match after a resume is retried once from byte 0
 * (the prefix may be another version's); any other failure leaves the
 * image failed, retried after its backoff, its .part kept unless the body
 * was hostile.
 *
 * Ranged: when the image has final memory and origin.ranges > 1, the rest
 * of the file (after a resumed prefix) is split into up to origin.ranges
 * ranges of at least MB_SYNC_RANGE_MIN (ctl_sync_plan.h), each its own
 * request with its own Range header, all in the multi handle at once.  Each
 * writes its bytes at their offset in the final memory (no second copy);
 * the worker writes and hashes the frontier, the bytes received without a
 * gap from the start, so the hash still sees them in order and the .part
 * stays a prefix of the file (a failed attempt resumes from it as above).
 * A range whose request fails is asked again from the byte where it
 * stopped, up to RANGE_RETRIES times in a row without progress; a range
 * that gets more bytes than it asked for, or another start, fails the
 * attempt as a hostile body; an origin that answers a Range request with
 * 200 gets one plain request on the next attempt.  The whole file is still
 * verified against the manifest's SHA-256 before it is published.
 *
 * Chunk checks: when the manifest entry lists "chunk_sha256" and the image
 * has final memory, every 1 MiB chunk is hashed by the worker as soon as
 * all its bytes are in memory (ranges finish chunks out of order; a
 * resumed prefix counts), one check in flight at a time, the others queued.
 * A chunk that matches gets its bit in the image's presence bitmap
 * (mb_image.present), so a Frisbee session started on the image while it
 * downloads (cut-through, sync_fetch_cut_through) sends it; one that does
 * not is counted, its bytes forgotten, and asked for again with its own
 * Range request after CHUNK_RETRY_MS (doubling), CHUNK_TRIES times at most
 * before the attempt fails.  A chunk that never matched is never marked, so
 * never sent.  The worker's in-order write and hash of the .part stops at
 * the first chunk not verified, so what the stream hash and the .part hold
 * is only checked bytes, and a re-fetched chunk enters them once; the
 * whole-file SHA-256 is still compared at the end.  A bad chunk inside a
 * resumed prefix (already in the stream hash) restarts the image from
 * byte 0.  A download that fails or is abandoned ends the sessions serving
 * its memory (they would wait forever for the rest).
 *
 * origin.max-rate is shared by every image request running: each gets
 * max-rate / (requests running) as CURLOPT_MAX_RECV_SPEED_LARGE, set again
 * on all of them whenever one starts or ends.
 *
 * A download owns its descriptor, memory, staging buffers and hash; when it
 * is abandoned while the worker holds its work, the work is cancelled and
 * the download freed by the work's completion.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ctl.h"
#include "ctl_curl.h"
#include "ctl_sync_plan.h"
#include "ctl_sync_priv.h"
#include "ctl_worker.h"
#include "mb_log.h"

#define FETCH_FLUSH (1u << 20) /* the worker takes received bytes in >= 1 MiB batches */
#define FETCH_STAGE (2u << 20) /* file only: each of the two staging buffers */

/* requests of one range in a row that bring no byte before it fails the attempt */
#define RANGE_RETRIES 3
/* requests of one range at most per attempt, progress or not */
#define RANGE_REQUESTS_MAX 64

#define CHUNK MB_MANIFEST_CHUNK
/* failed checks of one chunk before the attempt fails */
#define CHUNK_TRIES 6
/* a failed chunk is asked for again after this, doubling with each failure */
#define CHUNK_RETRY_MS 1000

/* A chunk's state, with chunk checks. */
enum { CH_WANT, CH_FULL, CH_CHECKING, CH_OK };

enum dl_work { W_PREFIX, W_BODY, W_FINAL };

struct dl;

/* One request of a download: the whole rest of the file, or one range. */
struct dl_range {
	struct sync_http h; /* first: libcurl's private pointer is &h */
	struct dl *dl;
	struct mb_sync_range *r; /* ranged: what it still wants (in dl->ranges) */
	uint64_t req;		/* ranged: r.pos when its request went out */
	unsigned retries;	/* ranged: failed requests in a row without progress */
	unsigned requests;	/* ranged: requests so far */
	bool checked;		/* status and Content-Range checked on the first body bytes */
	bool fix;		/* the re-fetch of one chunk (dl->fix) */
};

struct dl {
	struct img *img;      /* NULL once abandoned (the worker still holds it) */
	char path[4096];      /* the .part */
	int fd;
	int dfd;	      /* the .part with O_DIRECT (final memory only; -1: none) */
	struct mb_hash hash;
	struct mb_image *mem; /* the final memory filled as bytes arrive (NULL: file only) */
	uint64_t start;	      /* .part bytes when the request went out */
	uint64_t off;	      /* bytes received without a gap, prefix included */
	uint64_t recv;	      /* body bytes received by this attempt */
	uint64_t done;	      /* bytes the worker wrote and hashed */
	bool ended;	      /* libcurl finished well: the rest is the worker's */
	bool ranged;	      /* several requests with their own Range (final memory only) */
	bool refused;	      /* ranged: the origin ignored Range (HTTP 200) */
	uint8_t *stage[2];    /* file only */
	size_t fill[2];
	int cur;	      /* the staging buffer curl fills */
	bool paused;
	struct mb_work w;     /* the one work in flight */
	enum dl_work wkind;
	char url[2600];
	unsigned nr; /* requests: 1, or the ranges */
	struct dl_range rg[MB_SYNC_RANGES_MAX];
	struct mb_sync_range ranges[MB_SYNC_RANGES_MAX];
	/* chunk checks (see the top): on when the entry lists chunk digests
	 * and mem is not NULL */
	bool chk;
	uint64_t nchunks;
	uint32_t *cgot;	      /* bytes of each chunk in memory */
	uint8_t *cst;	      /* each chunk's CH_* */
	uint8_t *cfail;	      /* failed checks of each chunk */
	uint32_t *q;	      /* ring of nchunks: chunks CH_FULL, in the order they filled */
	uint64_t qh, qn;
	uint32_t *fq;	      /* ring of nchunks: chunks failed, waiting for a re-fetch */
	uint64_t fh, fn;
	uint64_t vok;	      /* chunks verified without a gap from chunk 0 */
	struct mb_work cw;    /* the check in flight */
	struct mb_hash chash;
	bool chash_init;
	uint32_t cchunk;
	struct dl_range fix;  /* the re-fetch in flight (one at a time) */
	struct mb_sync_range fixr;
	struct mb_ctl_timer *fix_timer;
	bool fatal; /* a check could not start: the timer fails the attempt */
};

static void pump(struct dl *dl);

/* ---- life of a download -------------------------------------------------------- */

/* origin.max-rate shared by every image request running. */
static void
rate_rebalance(void)
{
	uint64_t share = mb_sync_rate_share(S.cfg->sync_max_rate, S.transfers);

	if (S.cfg->sync_max_rate == 0)
		return;
	for (size_t i = 0; i < S.n_imgs; i++) {
		struct dl *dl = S.imgs[i]->dl;

		if (dl == NULL)
			continue;
		for (unsigned k = 0; k < dl->nr; k++)
			if (dl->rg[k].h.added)
				curl_easy_setopt(dl->rg[k].h.easy, CURLOPT_MAX_RECV_SPEED_LARGE,
						 (curl_off_t)share);
		if (dl->fix.h.added)
			curl_easy_setopt(dl->fix.h.easy, CURLOPT_MAX_RECV_SPEED_LARGE,
					 (curl_off_t)share);
	}
}

/* A request is over (or abandoned): out of the multi handle, freed. */
static void
xfer_done(struct dl_range *rg)
{
	if (rg->h.added)
		S.transfers--;
	sync_http_done(&rg->h);
}

static void
dl_stop_requests(struct dl *dl)
{
	for (unsigned k = 0; k < dl->nr; k++)
		xfer_done(&dl->rg[k]);
	xfer_done(&dl->fix);
	mb_ctl_timer_free(dl->fix_timer);
	dl->fix_timer = NULL;
}

static void
dl_free(struct dl *dl)
{
	dl_stop_requests(dl);
	if (dl->fd >= 0)
		(void)close(dl->fd);
	if (dl->dfd >= 0)
		(void)close(dl->dfd);
	mb_hash_done(&dl->hash);
	if (dl->chash_init)
		mb_hash_done(&dl->chash);
	mb_image_unref(dl->mem);
	free(dl->stage[0]);
	free(dl->stage[1]);
	free(dl->cgot);
	free(dl->cst);
	free(dl->cfail);
	free(dl->q);
	free(dl->fq);
	free(dl);
}

/* The image lets go of its download (finished, failed or abandoned): the
 * transfer stops now; the struct goes now, or when the worker returns it. */
static void
dl_detach(struct dl *dl)
{
	struct img *im = dl->img;

	if (im != NULL) {
		im->dl = NULL;
		S.active--;
		/* sessions serving the memory cut-through would wait forever
		 * for the rest (after an install, mem is the store's: NULL) */
		if (dl->chk && dl->mem != NULL)
			mb_ctl_master_stop_image(im->want.name, im->want.version);
	}
	dl->img = NULL;
	dl_stop_requests(dl);
	rate_rebalance();
	if (dl->w.busy || dl->cw.busy) {
		mb_worker_cancel(&dl->w);
		mb_worker_cancel(&dl->cw);
	} else {
		dl_free(dl);
	}
}

void
sync_fetch_abandon(struct img *im)
{
	if (im->dl != NULL)
		dl_detach(im->dl);
}

uint64_t
sync_fetch_progress(const struct img *im)
{
	const struct dl *dl = im->dl;

	if (dl == NULL)
		return 0;
	return dl->ranged ? dl->start + dl->recv : dl->off;
}

void
sync_img_fail(struct img *im, const char *why, bool count)
{
	uint64_t wait_ms;

	im->state = IMG_FAILED;
	(void)mb_ctl_store_set_downloading(&im->want, false);
	sync_set_reason(im->reason, "%s", why);
	if (count)
		S.refusals++;
	im->failures++;
	wait_ms = mb_sync_backoff_ms(im->failures, S.cfg->sync_interval * 1000);
	im->retry_at_ms = sync_now_ms() + wait_ms;
	MB_LOG(WARNING, SYNC, "image '%s' version %" PRIu64 " refused: %s, retrying in %" PRIu64
	       "s", im->want.name, im->want.version, why, (wait_ms + 999) / 1000);
}

/* The attempt is over: detach and fail, then let the round go on. */
static void
dl_fail(struct dl *dl, const char *why, bool count)
{
	struct img *im = dl->img;

	dl_detach(dl);
	sync_img_fail(im, why, count);
	sync_downloads_kick();
	sync_round_maybe_finish();
}

/*
 * The reason for a failed write or fsync of the .part: the error, and for a
 * full filesystem (ENOSPC, EDQUOT) also the directory, its free space, what
 * the image still needs and the fix, since only the operator can make room.
 */
static void
write_reason(char *why, const struct dl *dl, const char *what, int rc, const char *err)
{
	char dir[4096];
	const char *slash = strrchr(dl->path, '/');
	struct statvfs sv;
	uint64_t left = dl->img->want.size > dl->done ? dl->img->want.size - dl->done : 0;
	uint64_t avail;

	if (rc != -ENOSPC && rc != -EDQUOT) {
		sync_set_reason(why, "%s: %s", what, err);
		return;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash != NULL ? (int)(slash - dl->path) : 1,
		 slash != NULL ? dl->path : ".");
	avail = statvfs(dir, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : 0;
	sync_set_reason(why, "%s: %s in %s (%" PRIu64 " MiB free, %" PRIu64 " MiB more needed): "
			"free space there or move server.state-dir to a larger filesystem; "
			"the next round resumes", what, strerror(-rc), dir, avail >> 20,
			(left + (1u << 20) - 1) >> 20);
}

/* ---- the worker's part ----------------------------------------------------------- */

static void work_done(struct mb_work *w);

static void
submit(struct dl *dl, enum dl_work kind)
{
	dl->wkind = kind;
	dl->w.hash = &dl->hash;
	dl->w.done = work_done;
	dl->w.arg = dl;
	mb_worker_submit(&dl->w);
}

/* The bytes the worker may write and hash in order: received without a gap
 * from byte 0, and with chunk checks, verified too. */
static uint64_t
ready_bytes(const struct dl *dl)
{
	uint64_t v;

	if (!dl->chk)
		return dl->off;
	v = dl->vok * CHUNK;
	return v < dl->img->want.size ? v : dl->img->want.size;
}

/* Hand the worker the next batch of received bytes, if one is due. */
static void
pump(struct dl *dl)
{
	if (dl->w.busy)
		return;
	if (dl->mem != NULL) {
		/* whole blocks until the end, so the .part is written with
		 * O_DIRECT but for its last block */
		uint64_t ready = ready_bytes(dl);
		uint64_t upto = dl->ended ? ready : ready / MB_WORK_DIRECT_ALIGN *
			MB_WORK_DIRECT_ALIGN;
		uint64_t pending = upto > dl->done ? upto - dl->done : 0;

		/* with checks, whole verified chunks: no reason to wait */
		if (pending >= FETCH_FLUSH || ((dl->ended || dl->chk) && pending > 0)) {
			mb_work_init(&dl->w);
			dl->w.src = dl->mem->sb.data + dl->done;
			dl->w.len = pending;
			dl->w.out_fd = dl->fd;
			dl->w.out_dfd = dl->dfd;
			dl->w.out_off = dl->done;
			submit(dl, W_BODY);
		}
	} else if (dl->fill[dl->cur] >= FETCH_FLUSH || (dl->ended && dl->fill[dl->cur] > 0)) {
		mb_work_init(&dl->w);
		dl->w.src = dl->stage[dl->cur];
		dl->w.len = dl->fill[dl->cur];
		dl->w.out_fd = dl->fd;
		dl->w.out_off = dl->done;
		dl->cur ^= 1; /* curl fills the other one meanwhile */
		dl->fill[dl->cur] = 0;
		submit(dl, W_BODY);
	}
}

/* Every byte is on disk and hashed: finish the digest, fsync the .part. */
static void
finish(struct dl *dl)
{
	if (dl->off != dl->img->want.size) {
		dl_fail(dl, "truncated body", true); /* the .part stays: the next try resumes */
		return;
	}
	mb_work_init(&dl->w);
	dl->w.out_fd = dl->fd;
	dl->w.flags = MB_WORK_FINAL | MB_WORK_FSYNC;
	memcpy(dl->w.want, dl->img->want.sha256, MB_SHA256_LEN);
	submit(dl, W_FINAL);
}

/* Size and digest match and the .part is durable: hand it to the store. */
static void
install(struct dl *dl)
{
	struct img *im = dl->img;
	struct mb_image *mem = dl->mem;
	char why[SYNC_REASON_MAX];
	int rc;

	(void)close(dl->fd);
	dl->fd = -1;
	if (dl->dfd >= 0)
		(void)close(dl->dfd);
	dl->dfd = -1;
	dl->mem = NULL;
	(void)mb_ctl_store_set_downloading(&im->want, false);
	if (mem != NULL) /* verified as it was filled: publish this memory, no second pass */
		rc = mb_ctl_store_install_filled(&im->want, dl->path, mem);
	else
		rc = mb_ctl_store_install(&im->want, dl->path);
	if (rc == -ENOSPC || rc == -EDQUOT) {
		/* nothing was installed; the verified .part stays for the next
		 * round, which checks it without a request */
		sync_set_reason(why, "store install failed: %s (journaling it in %s/tmp or "
				"rewriting %s/manifest.json, or images.max-images reached): free "
				"space there; the next round installs the verified download",
				strerror(-rc), S.cfg->state_dir, S.cfg->state_dir);
		dl_fail(dl, why, false);
		return;
	}
	if (rc < 0) {
		(void)unlink(dl->path);
		sync_set_reason(why, "store install failed: %s", strerror(-rc));
		dl_fail(dl, why, false);
		return;
	}
	dl_detach(dl);
	im->state = IMG_OK;
	im->reason[0] = '\0';
	im->failures = 0;
	im->retry_from_zero = false;
	MB_LOG(NOTICE, SYNC, "image '%s' version %" PRIu64 " (%" PRIu64 " bytes) fetched and "
	       "installed", im->want.name, im->want.version, im->want.size);
	sync_downloads_kick();
	sync_round_maybe_finish();
}

static void
final_done(struct dl *dl, int rc)
{
	struct img *im = dl->img;
	char why[SYNC_REASON_MAX];

	if (rc == -EBADMSG) {
		(void)unlink(dl->path);
		if (dl->start > 0 && !im->retry_from_zero) {
			/* the prefix may be an older version's: one clean retry */
			MB_LOG(NOTICE, SYNC, "image '%s': sha256 mismatch after resume, "
			       "restarting from byte 0", im->want.name);
			dl_detach(dl);
			im->retry_from_zero = true;
			im->state = IMG_QUEUED;
			sync_downloads_kick();
			sync_round_maybe_finish();
			return;
		}
		dl_fail(dl, "sha256 mismatch", true);
		return;
	}
	if (rc != 0) {
		write_reason(why, dl, "fsync of the .part failed", rc, dl->w.err);
		dl_fail(dl, why, false);
		return;
	}
	install(dl);
}

/* Every request ended well, the worker wrote and hashed every byte, every
 * chunk checked: finish.  A body that ended before the image's last byte
 * (a well-framed short or empty answer) finishes, that is fails as
 * truncated, once what came is on disk: with chunk checks, once every
 * chunk that came whole is checked and the verified ones written (waiting
 * for the rest, as for a whole file, would wait for good: no transfer is
 * left to bring it). */
static void
maybe_finish(struct dl *dl)
{
	if (!dl->ended || dl->w.busy)
		return;
	if (dl->off != dl->img->want.size) {
		if (dl->done == ready_bytes(dl) && (!dl->chk || (!dl->cw.busy && dl->qn == 0)))
			finish(dl);
		return;
	}
	if (dl->done == dl->off && (!dl->chk || dl->vok == dl->nchunks))
		finish(dl);
}

static uint64_t
chunk_len(const struct dl *dl, uint64_t c)
{
	uint64_t lo = c * CHUNK, size = dl->img->want.size;

	return size - lo < CHUNK ? size - lo : CHUNK;
}

static void chunk_done(struct mb_work *w);
static void fix_fire(void *arg);

/* The next full chunk to the worker for its check, if none is there. */
static void
check_next(struct dl *dl)
{
	uint32_t c;

	if (dl->cw.busy || dl->qn == 0)
		return;
	c = dl->q[dl->qh];
	dl->qh = (dl->qh + 1) % dl->nchunks;
	dl->qn--;
	if (mb_hash_reset(&dl->chash) != 0) {
		/* maybe inside libcurl's write callback: fail from the timer */
		dl->fatal = true;
		dl->fn = 0;
		if (dl->fix_timer != NULL)
			(void)mb_ctl_timer_rearm(dl->fix_timer, 0, 0);
		else
			dl->fix_timer = mb_ctl_timer_new(0, 0, fix_fire, dl);
		return;
	}
	dl->cst[c] = CH_CHECKING;
	dl->cchunk = c;
	mb_work_init(&dl->cw);
	dl->cw.src = dl->mem->sb.data + (uint64_t)c * CHUNK;
	dl->cw.len = chunk_len(dl, c);
	dl->cw.hash = &dl->chash;
	dl->cw.flags = MB_WORK_FINAL;
	memcpy(dl->cw.want, dl->img->want.chunks[c], MB_SHA256_LEN);
	dl->cw.done = chunk_done;
	dl->cw.arg = dl;
	mb_worker_submit(&dl->cw);
}

/* n bytes at `at` arrived: into the memory of the chunks still wanted
 * (never over a chunk full, being checked or verified), counted; a chunk
 * whose every byte is in place is queued for its check. */
static void
chunks_put(struct dl *dl, uint64_t at, const uint8_t *p, uint64_t n)
{
	while (n > 0) {
		uint64_t c = at / CHUNK;
		uint64_t hi = c * CHUNK + chunk_len(dl, c);
		uint64_t take = n < hi - at ? n : hi - at;

		if (dl->cst[c] == CH_WANT) {
			if (p != NULL)
				memcpy(dl->mem->sb.data + at, p, take);
			dl->cgot[c] += (uint32_t)take;
			if (dl->cgot[c] == chunk_len(dl, c)) {
				dl->cst[c] = CH_FULL;
				dl->q[(dl->qh + dl->qn) % dl->nchunks] = (uint32_t)c;
				dl->qn++;
			}
		}
		at += take;
		n -= take;
		if (p != NULL)
			p += take;
	}
	check_next(dl);
}

static int range_request(struct dl_range *rg);

/*
 * Puts the request of rg in the multi handle, from where its range stands
 * (again, after a request that ended short), and shares the rate anew; when
 * it cannot, the attempt fails with "cannot <what>: <error>" and rg and its
 * download are gone.  Control thread; does not block.
 */
static void
range_ask(struct dl_range *rg, const char *what)
{
	char why[SYNC_REASON_MAX];

	if (range_request(rg) < 0) {
		sync_set_reason(why, "cannot %s: %s", what, strerror(errno));
		dl_fail(rg->dl, why, false);
		return;
	}
	rate_rebalance();
}

/* The re-fetch timer: ask for the first failed chunk again. */
static void
fix_fire(void *arg)
{
	struct dl *dl = arg;
	uint32_t c;

	if (dl->img == NULL)
		return;
	if (dl->fatal) {
		dl_fail(dl, "cannot reset a SHA-256 state", false);
		return;
	}
	if (dl->fn == 0 || dl->fix.h.added)
		return;
	c = dl->fq[dl->fh];
	dl->fh = (dl->fh + 1) % dl->nchunks;
	dl->fn--;
	dl->fixr.pos = (uint64_t)c * CHUNK;
	dl->fixr.end = dl->fixr.pos + chunk_len(dl, c);
	dl->fix.requests = 0;
	dl->fix.retries = 0;
	S.chunk_refetches++;
	MB_LOG(INFO, SYNC, "image '%s': asking again for chunk %u (bytes %" PRIu64 "-%" PRIu64
	       ")", dl->img->want.name, c, dl->fixr.pos, dl->fixr.end - 1);
	range_ask(&dl->fix, "re-fetch a chunk");
}

/* Arm the re-fetch of the first failed chunk, unless one runs. */
static void
fix_kick(struct dl *dl)
{
	uint64_t wait;
	unsigned f;

	if (dl->fn == 0 || dl->fix.h.added)
		return;
	f = dl->cfail[dl->fq[dl->fh]];
	wait = (uint64_t)CHUNK_RETRY_MS << (f > 0 ? f - 1 : 0);
	if (dl->fix_timer == NULL)
		dl->fix_timer = mb_ctl_timer_new(wait, 0, fix_fire, dl);
	else
		(void)mb_ctl_timer_rearm(dl->fix_timer, wait, 0);
	if (dl->fix_timer == NULL)
		dl_fail(dl, "out of memory", false);
}

/* A chunk's check came back (control thread). */
static void
chunk_done(struct mb_work *w)
{
	struct dl *dl = w->arg;
	struct img *im = dl->img;
	uint32_t c = dl->cchunk;
	char why[SYNC_REASON_MAX];

	if (im == NULL) { /* abandoned meanwhile */
		if (!dl->w.busy)
			dl_free(dl);
		return;
	}
	if (w->rc == -ECANCELED)
		return; /* the worker stopped: sync stops next and frees it */
	if (w->rc == 0) {
		dl->cst[c] = CH_OK;
		mb_image_chunk_set_present(dl->mem, c);
		S.chunks_ok++;
		while (dl->vok < dl->nchunks && dl->cst[dl->vok] == CH_OK)
			dl->vok++;
		pump(dl);
		maybe_finish(dl);
		if (dl->img != NULL)
			check_next(dl);
		return;
	}
	if (w->rc != -EBADMSG) {
		sync_set_reason(why, "checking chunk %u: %s", c, w->err);
		dl_fail(dl, why, false);
		return;
	}
	S.chunk_failures++;
	dl->cfail[c]++;
	MB_LOG(WARNING, SYNC, "image '%s' version %" PRIu64 ": chunk %u (bytes %" PRIu64 "-%" PRIu64
	       ") does not match its SHA-256 in the manifest (%u time%s)", im->want.name,
	       im->want.version, c, (uint64_t)c * CHUNK, (uint64_t)c * CHUNK + chunk_len(dl, c) - 1,
	       dl->cfail[c], dl->cfail[c] > 1 ? "s" : "");
	if ((uint64_t)c * CHUNK < dl->start) {
		/* part of a resumed prefix, already in the stream hash */
		MB_LOG(NOTICE, SYNC, "image '%s': chunk %u of the resumed download does not "
		       "match, restarting from byte 0", im->want.name, c);
		(void)unlink(dl->path);
		dl_detach(dl);
		im->retry_from_zero = true;
		im->state = IMG_QUEUED;
		sync_downloads_kick();
		sync_round_maybe_finish();
		return;
	}
	if (dl->cfail[c] >= CHUNK_TRIES) {
		sync_set_reason(why, "chunk %u did not match its SHA-256 %u times", c, dl->cfail[c]);
		dl_fail(dl, why, true);
		return;
	}
	dl->cst[c] = CH_WANT;
	dl->cgot[c] = 0;
	dl->fq[(dl->fh + dl->fn) % dl->nchunks] = c;
	dl->fn++;
	fix_kick(dl);
	if (dl->img != NULL)
		check_next(dl);
}

/*
 * The retry budget of a range (or chunk re-fetch) whose request ended short:
 * a request that brought bytes clears the run of failures, then this one is
 * counted.  Past RANGE_RETRIES failures in a row, or RANGE_REQUESTS_MAX
 * requests in all, the attempt fails with 'reason' (marking ops unreachable
 * when curl says so) and true is returned: rg and its download are gone.
 * Otherwise false: the caller asks again.  Control thread; does not block.
 */
static bool
range_budget_spent(struct dl_range *rg, CURLcode res, const char *reason)
{
	if (rg->r->pos > rg->req)
		rg->retries = 0;
	if (++rg->retries <= RANGE_RETRIES && rg->requests < RANGE_REQUESTS_MAX)
		return false;
	if (sync_unreachable(res))
		S.ops_unreachable = true;
	dl_fail(rg->dl, reason, true);
	return true;
}

static void
fix_curl_done(struct dl_range *rg, CURLcode res)
{
	struct dl *dl = rg->dl;
	char reason[SYNC_REASON_MAX];
	long code = 0;

	curl_easy_getinfo(rg->h.easy, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_OK && code == 206 && rg->r->pos == rg->r->end) {
		xfer_done(rg);
		rate_rebalance();
		fix_kick(dl);
		return;
	}
	sync_http_reason(&rg->h, res, reason);
	if (rg->h.reason[0] != '\0' || res == CURLE_FILESIZE_EXCEEDED) {
		dl_fail(dl, reason, true);
		return;
	}
	if (range_budget_spent(rg, res, reason))
		return;
	xfer_done(rg);
	range_ask(rg, "re-fetch a chunk");
}

static int request(struct dl *dl);

/* The worker returned a download's work (control thread). */
static void
work_done(struct mb_work *w)
{
	struct dl *dl = w->arg;
	char why[SYNC_REASON_MAX];

	if (dl->img == NULL) { /* abandoned meanwhile */
		if (!dl->cw.busy)
			dl_free(dl);
		return;
	}
	if (w->rc == -ECANCELED)
		return; /* the worker stopped: sync stops next and frees it */
	switch (dl->wkind) {
	case W_PREFIX:
		if (w->rc != 0) {
			MB_LOG(WARNING, SYNC, "image '%s': cannot read the partial download (%s), "
			       "restarting from byte 0", dl->img->want.name, w->err);
			if (ftruncate(dl->fd, 0) == -1 || mb_hash_reset(&dl->hash) != 0) {
				dl_fail(dl, "cannot reset the partial download", false);
				return;
			}
			dl->start = 0;
		}
		dl->off = dl->done = dl->start;
		if (dl->chk && dl->start > 0)
			chunks_put(dl, 0, NULL, dl->start); /* in memory already */
		if (dl->img == NULL)
			return;
		if (request(dl) < 0) {
			sync_set_reason(why, "cannot start the download: %s", strerror(errno));
			dl_fail(dl, why, false);
		}
		return;
	case W_BODY:
		if (w->rc != 0) {
			write_reason(why, dl, "write to .part", w->rc, w->err);
			dl_fail(dl, why, false);
			return;
		}
		dl->done += w->moved;
		if (dl->paused) {
			dl->paused = false;
			mb_curl_unpause(S.curl, dl->rg[0].h.easy);
		}
		pump(dl);
		maybe_finish(dl);
		return;
	case W_FINAL:
		final_done(dl, w->rc);
		return;
	}
}

/* ---- libcurl's part ----------------------------------------------------------------- */

/* The first body bytes: is this the answer to what was asked? */
static bool
check_status(struct dl_range *rg)
{
	struct dl *dl = rg->dl;
	long code = 0;

	curl_easy_getinfo(rg->h.easy, CURLINFO_RESPONSE_CODE, &code);
	if (rg->fix) {
		if (code == 206 && rg->h.cr_start == (int64_t)rg->r->pos)
			return true;
		sync_set_reason(rg->h.reason, "unexpected HTTP %ld to the re-fetch of bytes %"
				PRIu64 "- (Content-Range start %" PRId64 ")", code, rg->r->pos,
				rg->h.cr_start);
		return false;
	}
	if (dl->ranged) {
		if (code == 206 && rg->h.cr_start == (int64_t)rg->r->pos)
			return true;
		if (code == 200) {
			dl->refused = true;
			sync_set_reason(rg->h.reason, "the origin ignored a Range request (HTTP 200); "
					"the next attempt asks for the whole file");
		} else {
			sync_set_reason(rg->h.reason, "unexpected HTTP %ld to range %" PRIu64 "- "
					"(Content-Range start %" PRId64 ")", code, rg->r->pos,
					rg->h.cr_start);
		}
		return false;
	}
	if (code == 206 && dl->start > 0 && rg->h.cr_start == (int64_t)dl->start)
		return true;
	if (code == 200) {
		/* the server sent the whole file: start over (no work is in
		 * flight: the prefix was done before the request went out) */
		if (dl->start > 0 && (ftruncate(dl->fd, 0) == -1 || mb_hash_reset(&dl->hash) != 0)) {
			sync_set_reason(rg->h.reason, "cannot restart .part: %s", strerror(errno));
			return false;
		}
		dl->off = dl->done = 0;
		/* with checks: chunks full or verified keep their bytes (the
		 * worker writes the .part again from memory); a chunk the
		 * prefix filled in part is counted again from its start */
		for (uint64_t c = 0; dl->chk && c < dl->nchunks; c++)
			if (dl->cst[c] == CH_WANT)
				dl->cgot[c] = 0;
		return true;
	}
	if (code >= 300 && code < 400)
		sync_set_reason(rg->h.reason, "redirect (HTTP %ld) refused", code);
	else
		sync_set_reason(rg->h.reason, "unexpected HTTP %ld (range start %" PRId64 ")", code,
				rg->h.cr_start);
	return false;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct dl_range *rg = arg;
	struct dl *dl = rg->dl;

	n *= size;
	if (!rg->checked) {
		if (!check_status(rg))
			return 0;
		rg->checked = true;
	}
	if (dl->ranged || rg->fix) {
		uint64_t at = rg->r->pos;

		if (mb_sync_range_take(rg->r, n) != 0) {
			sync_set_reason(rg->h.reason, "body longer than the range %" PRIu64 "-%" PRIu64
					" asked for", rg->req, rg->r->end - 1);
			return 0;
		}
		/* at its offset in the final memory; the worker takes the frontier */
		if (dl->chk)
			chunks_put(dl, at, (const uint8_t *)p, n);
		else
			memcpy(dl->mem->sb.data + at, p, n);
		S.bytes_fetched += n;
		if (rg->fix) /* not progress: these bytes were counted once */
			return n;
		dl->off = mb_sync_range_frontier(dl->ranges, dl->nr);
		dl->recv += n;
		pump(dl);
		return n;
	}
	if (n > dl->img->want.size - dl->off) {
		sync_set_reason(rg->h.reason, "body longer than the manifest size %" PRIu64,
				dl->img->want.size);
		return 0;
	}
	if (dl->chk) {
		chunks_put(dl, dl->off, (const uint8_t *)p, n);
	} else if (dl->mem != NULL) {
		/* one pass: into the final memory; the worker writes and hashes it */
		memcpy(dl->mem->sb.data + dl->off, p, n);
	} else {
		if (dl->fill[dl->cur] + n > FETCH_STAGE) {
			pump(dl);
			if (dl->fill[dl->cur] + n > FETCH_STAGE) {
				/* both buffers full: the worker is behind the network */
				dl->paused = true;
				return CURL_WRITEFUNC_PAUSE;
			}
		}
		memcpy(dl->stage[dl->cur] + dl->fill[dl->cur], p, n);
		dl->fill[dl->cur] += n;
	}
	dl->off += n;
	dl->recv += n;
	S.bytes_fetched += n;
	pump(dl);
	return n;
}

/* Every request ended well: the rest is the worker's. */
static void
all_received(struct dl *dl)
{
	dl->ended = true;
	pump(dl);
	maybe_finish(dl);
}

/* A range's request ended: the range is complete (and maybe the file), or
 * it is asked again from where it stopped, or the attempt fails. */
static void
range_curl_done(struct dl_range *rg, CURLcode res)
{
	struct dl *dl = rg->dl;
	char reason[SYNC_REASON_MAX];
	long code = 0;
	bool hostile;

	curl_easy_getinfo(rg->h.easy, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_OK && code == 206 && rg->r->pos == rg->r->end) {
		xfer_done(rg);
		rate_rebalance();
		for (unsigned k = 0; k < dl->nr; k++)
			if (dl->rg[k].r->pos < dl->rg[k].r->end)
				return;
		all_received(dl);
		return;
	}
	sync_http_reason(&rg->h, res, reason);
	hostile = !dl->refused && (rg->h.reason[0] != '\0' || res == CURLE_FILESIZE_EXCEEDED);
	if (hostile || dl->refused) {
		if (dl->refused)
			dl->img->no_ranges = true;
		if (hostile)
			(void)unlink(dl->path);
		dl_fail(dl, reason, true);
		return;
	}
	if (range_budget_spent(rg, res, reason))
		return;
	MB_LOG(INFO, SYNC, "image '%s': range %" PRIu64 "-%" PRIu64 " stopped at byte %" PRIu64
	       " (%s), asking again from there", dl->img->want.name, rg->req, rg->r->end - 1,
	       rg->r->pos, reason);
	xfer_done(rg);
	range_ask(rg, "restart a range");
}

void
sync_fetch_curl_done(struct sync_http *h, CURLcode res)
{
	struct dl_range *rg = (struct dl_range *)h; /* h is its first member */
	struct dl *dl = rg->dl;
	char reason[SYNC_REASON_MAX];
	long code = 0;

	if (rg->fix) {
		fix_curl_done(rg, res);
		return;
	}
	if (dl->ranged) {
		range_curl_done(rg, res);
		return;
	}
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_OK && (code == 200 || code == 206)) {
		xfer_done(rg); /* the transfer is over; the worker finishes */
		rate_rebalance();
		all_received(dl);
		return;
	}
	sync_http_reason(h, res, reason);
	if (sync_unreachable(res))
		S.ops_unreachable = true;
	/* a hostile or broken body is not resumed */
	if (res != CURLE_OK && (h->reason[0] != '\0' || res == CURLE_FILESIZE_EXCEEDED))
		(void)unlink(dl->path);
	dl_fail(dl, reason, true);
}

/* A new easy handle for rg, in the multi handle.  0, or -1 with errno. */
static int
xfer_start(struct dl_range *rg)
{
	int rc;

	rg->h.kind = HTTP_IMAGE;
	rg->h.reason[0] = rg->h.errbuf[0] = '\0';
	rg->checked = false;
	rc = sync_http_setup(&rg->h, rg->dl->url);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	curl_easy_setopt(rg->h.easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(rg->h.easy, CURLOPT_WRITEDATA, rg);
	return 0;
}

static int
xfer_add(struct dl_range *rg)
{
	if (mb_curl_add(S.curl, rg->h.easy) != 0) {
		sync_http_done(&rg->h);
		errno = ENOMEM;
		return -1;
	}
	rg->h.added = true;
	S.transfers++;
	return 0;
}

/* Ask for the rest of one range.  0, or -1 with errno. */
static int
range_request(struct dl_range *rg)
{
	char spec[64];

	if (mb_sync_range_spec(rg->r, spec, sizeof(spec)) != 0) {
		errno = EINVAL;
		return -1;
	}
	if (xfer_start(rg) < 0)
		return -1;
	rg->req = rg->r->pos;
	rg->requests++;
	curl_easy_setopt(rg->h.easy, CURLOPT_RANGE, spec);
	/* each range on its own TCP connection: HTTP/2 would multiplex them
	 * all over one, and one stream's loss would stall them all */
	curl_easy_setopt(rg->h.easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(rg->h.easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(rg->r->end - rg->r->pos));
	return xfer_add(rg);
}

/* The prefix is hashed (or there is none): ask for the rest, in ranges when
 * they apply, or finish when the .part is already whole.  0, or -1 with
 * errno. */
static int
request(struct dl *dl)
{
	struct img *im = dl->img;
	struct mb_sync_range r[MB_SYNC_RANGES_MAX];
	char base[2048];
	unsigned n = 1;

	if (dl->start == im->want.size) {
		/* complete already (crash after the last byte): verify (each
		 * chunk too, with checks) and install */
		dl->ended = true;
		maybe_finish(dl);
		return 0;
	}
	snprintf(dl->url, sizeof(dl->url), "%s/%s", sync_origin_base(base, sizeof(base)),
		 im->want.name);
	if (dl->mem != NULL && !im->no_ranges && S.cfg->sync_ranges > 1)
		n = mb_sync_range_split(dl->start, im->want.size, (unsigned)S.cfg->sync_ranges,
					MB_SYNC_RANGE_MIN, r);
	if (n > 1) {
		dl->ranged = true;
		dl->nr = n;
		for (unsigned k = 0; k < n; k++) {
			dl->ranges[k] = r[k];
			if (range_request(&dl->rg[k]) < 0) {
				int e = errno;

				dl_stop_requests(dl);
				errno = e;
				return -1;
			}
		}
		rate_rebalance();
		MB_LOG(INFO, SYNC, "image '%s': bytes %" PRIu64 "-%" PRIu64 " in %u ranges",
		       im->want.name, dl->start, im->want.size - 1, n);
		return 0;
	}
	dl->nr = 1;
	if (xfer_start(&dl->rg[0]) < 0)
		return -1;
	curl_easy_setopt(dl->rg[0].h.easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)im->want.size);
	if (dl->start > 0)
		curl_easy_setopt(dl->rg[0].h.easy, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)dl->start);
	if (xfer_add(&dl->rg[0]) < 0)
		return -1;
	rate_rebalance();
	if (dl->start > 0)
		MB_LOG(INFO, SYNC, "image '%s': resuming at byte %" PRIu64 " of %" PRIu64,
		       im->want.name, dl->start, im->want.size);
	return 0;
}

/* Chunk checks for dl (mem set, e lists its chunks): the tables, and the
 * presence bitmap on the memory, before anything can see it.  0 or
 * -ENOMEM. */
static int
chk_init(struct dl *dl, const struct mb_manifest_entry *e)
{
	uint64_t n = e->nchunks;

	if (n == 0 || n != mb_manifest_chunks_for(e->size))
		return 0; /* the parser guarantees it; nothing to check otherwise */
	dl->cgot = calloc(n, sizeof(dl->cgot[0]));
	dl->cst = calloc(n, sizeof(dl->cst[0]));
	dl->cfail = calloc(n, sizeof(dl->cfail[0]));
	dl->q = calloc(n, sizeof(dl->q[0]));
	dl->fq = calloc(n, sizeof(dl->fq[0]));
	/* freed with the image (mb_image.c) */
	dl->mem->present = calloc(1, (size_t)(n + 7) / 8 + 1);
	if (dl->cgot == NULL || dl->cst == NULL || dl->cfail == NULL || dl->q == NULL ||
	    dl->fq == NULL || dl->mem->present == NULL || mb_hash_init(&dl->chash) != 0)
		return -ENOMEM;
	dl->chash_init = true;
	dl->nchunks = n;
	dl->chk = true;
	return 0;
}

struct mb_image *
sync_fetch_cut_through(const char *name, uint64_t *ret_version)
{
	for (size_t i = 0; i < S.n_imgs; i++) {
		struct dl *dl = S.imgs[i]->dl;

		if (dl != NULL && dl->chk && dl->mem != NULL &&
		    strcmp(S.imgs[i]->want.name, name) == 0) {
			*ret_version = S.imgs[i]->want.version;
			return dl->mem;
		}
	}
	return NULL;
}

int
sync_fetch_start(struct img *im)
{
	struct dl *dl;
	struct stat st;
	int rc;

	dl = calloc(1, sizeof(*dl));
	if (dl == NULL)
		return -ENOMEM;
	dl->fd = -1;
	dl->dfd = -1;
	for (unsigned k = 0; k < MB_SYNC_RANGES_MAX; k++) {
		dl->rg[k].dl = dl;
		dl->rg[k].r = &dl->ranges[k];
		dl->rg[k].h.cr_start = -1;
	}
	dl->fix.dl = dl;
	dl->fix.r = &dl->fixr;
	dl->fix.fix = true;
	dl->fix.h.cr_start = -1;
	dl->nr = 1;
	mb_work_init(&dl->w);
	mb_work_init(&dl->cw);
	rc = sync_part_path(im->want.name, dl->path, sizeof(dl->path));
	if (rc == 0 && mb_hash_init(&dl->hash) != 0)
		rc = -ENOMEM;
	if (rc < 0)
		goto err;
	dl->fd = open(dl->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (dl->fd == -1 || fstat(dl->fd, &st) == -1) {
		rc = -errno;
		goto err;
	}
	if ((uint64_t)st.st_size > im->want.size || im->retry_from_zero) {
		if (ftruncate(dl->fd, 0) == -1) {
			rc = -errno;
			goto err;
		}
		st.st_size = 0;
	}
	dl->start = (uint64_t)st.st_size;
	dl->mem = mb_ctl_store_image_alloc(&im->want);
	if (dl->mem != NULL) {
		/* the memory is the cache: the .part's bytes need not pass
		 * through the page cache too (where O_DIRECT is refused, the
		 * worker writes through dl->fd) */
		dl->dfd = open(dl->path, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);
		if (dl->dfd == -1)
			MB_LOG(DEBUG, SYNC, "image '%s': no O_DIRECT on the .part (%s)",
			       im->want.name, strerror(errno));
	}
	if (dl->mem == NULL && ((dl->stage[0] = malloc(FETCH_STAGE)) == NULL ||
				(dl->stage[1] = malloc(FETCH_STAGE)) == NULL)) {
		rc = -ENOMEM;
		goto err;
	}
	if (dl->mem != NULL && im->want.chunks != NULL) {
		rc = chk_init(dl, &im->want);
		if (rc < 0)
			goto err;
	}
	dl->img = im;
	im->dl = dl;
	im->state = IMG_DOWNLOADING;
	(void)mb_ctl_store_set_downloading(&im->want, true);
	S.active++;
	if (dl->start == 0) {
		if (request(dl) < 0) {
			rc = -errno;
			dl_detach(dl);
			return rc;
		}
		return 0;
	}
	/* resume: the worker reads the prefix once (into the final memory, when
	 * there is one) while hashing it */
	mb_work_init(&dl->w);
	dl->w.src_fd = dl->fd;
	dl->w.dst = dl->mem != NULL ? dl->mem->sb.data : NULL;
	dl->w.len = dl->start;
	submit(dl, W_PREFIX);
	return 0;
err:
	dl_free(dl);
	return rc;
}

void
sync_downloads_kick(void)
{
	for (size_t i = 0; i < S.n_imgs && S.active < S.cfg->sync_concurrency; i++) {
		struct img *im = S.imgs[i];
		int rc;

		if (im->state != IMG_QUEUED)
			continue;
		rc = sync_fetch_start(im);
		if (rc < 0) {
			char why[SYNC_REASON_MAX];

			sync_set_reason(why, "cannot start the download: %s", strerror(-rc));
			sync_img_fail(im, why, false);
		}
	}
}
