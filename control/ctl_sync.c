/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Image sync from ops over mutual TLS, on the control thread.
 *
 * Every origin.interval (and on the "sync" action) one round runs: a
 * conditional GET of <origin.url>/manifest.json (If-None-Match /
 * If-Modified-Since from the last verified copy), then manifest.json.sig,
 * the Ed25519/RSA-PSS check against the pinned origin.manifest-pubkey, the
 * parse (proto/mb_manifest.c, hostile-input bounded), and a reconcile with
 * the store's local manifest: entries for origin.site whose name, version,
 * size or sha256 differ are downloaded, entries gone are retired.
 *
 * Downloads go to <state-dir>/tmp/<name, '/' as %2F>.part (a hash of the name
 * when that would exceed NAME_MAX, see part_path), in one pass: each
 * chunk libcurl delivers is copied into the image's final hugepage memory
 * (mb_ctl_store_image_alloc, when it fits the budget), hashed from that copy
 * and written to the .part from it in batches; on resume the existing prefix
 * is read once into memory while it is re-hashed, and the rest is fetched
 * with a Range request.  Size and digest are checked, the file is fsync'd and
 * handed to mb_ctl_store_install_filled(), which renames it into images/ and
 * publishes the already-filled memory with RCU without reading the file
 * again (the digest covers exactly the bytes in memory and on disk).  When
 * the image does not fit in hugepages the download only writes the file and
 * mb_ctl_store_install() verifies and loads it.  Until the new version is
 * published the old one serves, and nothing partial is ever under images/.
 *
 * libcurl runs through its multi interface, driven by the control loop
 * (CURLMOPT_SOCKETFUNCTION adds the sockets to epoll, CURLMOPT_TIMERFUNCTION
 * arms one loop timer), so nothing here blocks on the network.  Rehashing a
 * .part prefix when a download resumes runs in 32 MiB slices from a loop
 * timer; the only synchronous disk work is the final fsync of a .part.
 *
 * The signature is what must hold even when TLS does not: so a 304 counts
 * only against the verified manifest whose validators the request carried
 * (never after a restart or a reload dropped it), and a signed manifest
 * older than the last one accepted (lower "generated", persisted in
 * <state-dir>/sync-accepted.json, or a lower image version) is refused as a
 * replay.
 *
 * Refusals (bad signature, replay, hash mismatch, truncated body, redirect,
 * oversized response, TLS failure) are logged once, recorded in the "sync"
 * health entry, and change nothing already published.  Ops unreachable marks the
 * images "stale" and degrades health; it never removes a good image.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "ctl.h"
#include "mb_cleanup.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_manifest.h"
#include "mb_sig.h"

#define SYNC_REASON_MAX 200
#define SYNC_FAR_MS (24ull * 3600 * 1000)
#define SYNC_CURL_BUFSIZE (512L * 1024) /* libcurl's receive buffer (its maximum) */
#define SYNC_FLUSH (1u << 20)		/* .part writes from memory in >= 1 MiB batches */

enum img_state {
	IMG_OK,		 /* installed and matching the ops manifest */
	IMG_QUEUED,	 /* wanted, waiting for a download slot */
	IMG_DOWNLOADING, /* transfer running */
	IMG_FAILED,	 /* last attempt refused; retried next round */
};

static const char *const img_state_names[] = {
	[IMG_OK] = "ok",
	[IMG_QUEUED] = "queued",
	[IMG_DOWNLOADING] = "downloading",
	[IMG_FAILED] = "failed",
};

enum xfer_kind { X_MANIFEST, X_SIG, X_IMAGE };

struct img;

/* One libcurl transfer.  Owned by the sync state; freed by xfer_free. */
struct xfer {
	enum xfer_kind kind;
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	char reason[SYNC_REASON_MAX]; /* set when a callback aborts */
	/* manifest / sig: body in memory, capped */
	char *buf;
	size_t len, cap, max;
	char etag[256];
	char last_modified[128];
	/* image */
	struct img *img;
	int fd;
	EVP_MD_CTX *md;
	uint64_t start; /* bytes already in the .part when the request went out */
	uint64_t off;	/* bytes in the .part now */
	int64_t cr_start; /* Content-Range start, -1 if none */
	bool checked;	  /* status/Content-Range checked on the first body bytes */
	struct mb_ctl_timer *hash_timer; /* resume: prefix hashing in progress */
	uint64_t hashed;		 /* prefix bytes hashed so far */
	bool resumed;
	struct mb_image *mem; /* final memory filled as bytes arrive (NULL: file only) */
	uint64_t flushed;     /* with mem: bytes of mem->data written to the .part */
	/* manifest: sent with the validators of the verified manifest of
	 * generation man_gen (a 304 may only ever mean that one) */
	bool conditional;
	uint64_t man_gen;
};

struct img {
	struct mb_manifest_entry want; /* owned copy of the ops entry */
	enum img_state state;
	char reason[SYNC_REASON_MAX];
	struct xfer *x;
	bool seen; /* in the latest verified ops manifest */
	bool retry_from_zero;
};

static struct {
	bool started;
	const struct mb_config *cfg;
	CURLM *multi;
	struct mb_ctl_timer *curl_timer;
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
	bool retried_304; /* this round re-fetched after a 304 it could not use */
	/* the round in progress */
	struct xfer *man_x;   /* manifest then sig */
	char *pending_body;   /* manifest body fetched, waiting for its sig */
	size_t pending_len;
	char pending_etag[256], pending_lm[128];
	bool round_active;
	bool round_again;
	char round_err[SYNC_REASON_MAX];
	/* images */
	struct img **imgs;
	size_t n_imgs;
	unsigned active;
	/* health */
	int64_t last_sync; /* wall clock seconds of the last finished round */
	char last_result[SYNC_REASON_MAX];
	bool ops_unreachable;
	uint64_t bytes_fetched;
	uint64_t rounds, refusals;
} S;

static void round_maybe_finish(void);
static void tmp_sweep(void);
static void downloads_kick(void);
static int img_request(struct xfer *x);

/* ---- helpers ------------------------------------------------------------------ */

static int64_t
wall_now(void)
{
	return (int64_t)time(NULL);
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
static int
part_path(const char *name, char *out, size_t outlen)
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

		if (EVP_Digest(name, strlen(name), md, NULL, EVP_sha256(), NULL) != 1)
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

static const char *
origin_base(char *out, size_t outlen)
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

static void
set_reason(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
set_reason(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, SYNC_REASON_MAX, fmt, ap);
	va_end(ap);
}

/* ---- libcurl <-> control loop ------------------------------------------------- */

static void
multi_check_done(void);

static void
curl_fd_io(int fd, uint32_t events, void *arg)
{
	int flags = 0, running;

	(void)arg;
	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(S.multi, fd, flags, &running);
	multi_check_done();
}

static int
curl_sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	uint32_t ev = 0;

	(void)e;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (socketp != NULL)
			(void)mb_ctl_loop_del(s);
		curl_multi_assign(S.multi, s, NULL);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EPOLLOUT;
	if (socketp == NULL) {
		if (mb_ctl_loop_add(s, ev, curl_fd_io, NULL) == 0)
			curl_multi_assign(S.multi, s, (void *)1);
	} else {
		(void)mb_ctl_loop_mod(s, ev);
	}
	return 0;
}

static void
curl_timer_fire(void *arg)
{
	int running;

	(void)arg;
	(void)mb_ctl_timer_rearm(S.curl_timer, SYNC_FAR_MS, 0);
	(void)curl_multi_socket_action(S.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	multi_check_done();
}

static int
curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	(void)userp;
	/* -1 deletes the timer: park it far away.  0 means "as soon as
	 * possible", which the loop runs on its next pass (never inline: curl
	 * forbids calling socket_action from this callback). */
	(void)mb_ctl_timer_rearm(S.curl_timer, timeout_ms < 0 ? SYNC_FAR_MS : (uint64_t)timeout_ms,
				 0);
	return 0;
}

/* ---- transfers ------------------------------------------------------------------- */

static void
xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy != NULL) {
		curl_multi_remove_handle(S.multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	free(x->buf);
	if (x->fd >= 0)
		(void)close(x->fd);
	EVP_MD_CTX_free(x->md);
	mb_ctl_timer_free(x->hash_timer);
	if (x->mem != NULL)
		mb_image_unref(x->mem);
	free(x);
}

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
	struct xfer *x = arg;
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

/* manifest / sig bodies into memory, never beyond x->max */
static size_t
mem_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	long code = 0;

	n *= size;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 300 && code < 400 && code != 304) {
		set_reason(x->reason, "redirect (HTTP %ld) refused", code);
		return 0;
	}
	if (n > x->max - x->len) {
		set_reason(x->reason, "response larger than %zu bytes", x->max);
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
			set_reason(x->reason, "out of memory");
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

/* With x->mem: write the bytes received since the last flush to the .part.
 * 0 or -errno. */
static int
part_flush(struct xfer *x)
{
	uint64_t from = x->flushed;

	while (x->flushed < x->off) {
		ssize_t w = pwrite(x->fd, x->mem->sb.data + x->flushed, (size_t)(x->off - x->flushed),
				   (off_t)x->flushed);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return w == 0 ? -EIO : -errno;
		x->flushed += (uint64_t)w;
	}
	/* start the writeback now, so the final fsync has little left to wait for */
	if (x->flushed > from)
		(void)sync_file_range(x->fd, (off_t)from, (off_t)(x->flushed - from),
				      SYNC_FILE_RANGE_WRITE);
	return 0;
}

static size_t
file_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct img *im = x->img;
	size_t done = 0;
	long code = 0;

	n *= size;
	if (!x->checked) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code == 206 && x->start > 0 && x->cr_start == (int64_t)x->start) {
			x->resumed = true;
		} else if (code == 200) {
			/* the server sent the whole file: start over */
			if (x->start > 0 && (ftruncate(x->fd, 0) == -1 ||
					     lseek(x->fd, 0, SEEK_SET) == -1 ||
					     EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1)) {
				set_reason(x->reason, "cannot restart .part: %s", strerror(errno));
				return 0;
			}
			x->off = x->flushed = 0;
		} else if (code >= 300 && code < 400) {
			set_reason(x->reason, "redirect (HTTP %ld) refused", code);
			return 0;
		} else {
			set_reason(x->reason, "unexpected HTTP %ld (range start %" PRId64 ")", code,
				   x->cr_start);
			return 0;
		}
		x->checked = true;
	}
	if (n > im->want.size - x->off) {
		set_reason(x->reason, "body longer than the manifest size %" PRIu64,
			   im->want.size);
		return 0;
	}
	if (x->mem != NULL) {
		int rc;

		/* one pass: into the final memory, hashed from there, to disk in batches */
		memcpy(x->mem->sb.data + x->off, p, n);
		EVP_DigestUpdate(x->md, x->mem->sb.data + x->off, n);
		x->off += n;
		S.bytes_fetched += n;
		if (x->off - x->flushed >= SYNC_FLUSH && (rc = part_flush(x)) < 0) {
			set_reason(x->reason, "write to .part: %s", strerror(-rc));
			return 0;
		}
		return n;
	}
	while (done < n) {
		ssize_t w = write(x->fd, p + done, n - done);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			set_reason(x->reason, "write to .part: %s", strerror(errno));
			return 0;
		}
		done += (size_t)w;
	}
	EVP_DigestUpdate(x->md, p, n);
	x->off += n;
	S.bytes_fetched += n;
	return n;
}

static int
easy_setup(struct xfer *x, const char *url)
{
	const struct mb_config *c = S.cfg;
	CURL *e = curl_easy_init();

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

static struct xfer *
xfer_new(enum xfer_kind kind)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->kind = kind;
	x->fd = -1;
	x->cr_start = -1;
	return x;
}

/* Start fetching manifest.json (sig = false) or manifest.json.sig.  The
 * manifest request carries the validators of the verified manifest held, if
 * any; `revalidate` sends none and asks caches on the way not to answer for
 * the origin. */
static int
meta_fetch(bool sig, bool revalidate)
{
	char base[2048], url[2200];
	struct xfer *x;
	int rc;

	x = xfer_new(sig ? X_SIG : X_MANIFEST);
	if (x == NULL)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s/manifest.json%s", origin_base(base, sizeof(base)),
		 sig ? ".sig" : "");
	rc = easy_setup(x, url);
	if (rc < 0) {
		xfer_free(x);
		return rc;
	}
	x->max = sig ? MB_SIG_MAX_LEN + 1 : S.cfg->max_manifest_size;
	curl_easy_setopt(x->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, mem_write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	if (!sig && !revalidate && S.man_buf != NULL && S.have_remote &&
	    (S.etag[0] != '\0' || S.last_modified[0] != '\0')) {
		char h[512];

		if (S.etag[0] != '\0') {
			snprintf(h, sizeof(h), "If-None-Match: %s", S.etag);
			x->hdrs = curl_slist_append(x->hdrs, h);
		}
		if (S.last_modified[0] != '\0') {
			snprintf(h, sizeof(h), "If-Modified-Since: %s", S.last_modified);
			x->hdrs = curl_slist_append(x->hdrs, h);
		}
		curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
		x->conditional = true;
	} else if (!sig && revalidate) {
		x->hdrs = curl_slist_append(x->hdrs, "Cache-Control: no-cache");
		x->hdrs = curl_slist_append(x->hdrs, "Pragma: no-cache");
		curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	}
	x->man_gen = S.man_gen;
	if (curl_multi_add_handle(S.multi, x->easy) != CURLM_OK) {
		xfer_free(x);
		return -ENOMEM;
	}
	S.man_x = x;
	return 0;
}

/* ---- the round: manifest -> sig -> verify -> reconcile -> downloads ------------- */

static void
round_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
round_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(S.round_err, sizeof(S.round_err), fmt, ap);
	va_end(ap);
	S.refusals++;
	MB_LOG(WARNING, SYNC, "sync from '%s' refused: %s, retrying in %" PRIu64 "s",
	       S.cfg->origin_url, S.round_err, S.cfg->sync_interval);
}

/* Drop image records the new manifest no longer wants, retire them in the
 * store, and queue downloads for new/changed entries. */
static void
reconcile(void)
{
	struct mb_manifest local_copy = { 0 };
	const struct mb_manifest *local = NULL;
	const char *site = S.cfg->origin_site;
	char path[4096];

	if (mb_ctl_store_get_manifest(&local_copy) == 0)
		local = &local_copy;

	for (size_t i = 0; i < S.n_imgs; i++)
		S.imgs[i]->seen = false;

	for (uint32_t i = 0; i < S.remote.count; i++) {
		const struct mb_manifest_entry *e = &S.remote.entries[i];
		const struct mb_manifest_entry *le;
		struct img *im;

		if (!mb_manifest_entry_for_site(e, site))
			continue;
		im = img_find(e->name);
		if (im != NULL && !mb_manifest_entry_same(&im->want, e)) {
			/* A new version.  If the old one was downloading here, its
			 * .part is surely stale; any other .part (left by a crash
			 * while fetching some version) is resumed, and a wrong
			 * prefix is caught by the hash and restarted from 0. */
			if (im->x != NULL) {
				xfer_free(im->x);
				im->x = NULL;
				S.active--;
				if (part_path(im->want.name, path, sizeof(path)) == 0)
					(void)unlink(path);
			}
			im->retry_from_zero = false;
			mb_manifest_entry_done(&im->want);
			if (mb_manifest_entry_copy(&im->want, e) < 0)
				continue;
			im->state = IMG_QUEUED;
		}
		if (im == NULL) {
			struct img **ni = realloc(S.imgs, (S.n_imgs + 1) * sizeof(*ni));

			im = calloc(1, sizeof(*im));
			if (ni == NULL || im == NULL || mb_manifest_entry_copy(&im->want, e) < 0) {
				free(im);
				if (ni != NULL)
					S.imgs = ni;
				MB_LOG(ERR, SYNC, "out of memory tracking '%s', ignoring", e->name);
				continue;
			}
			S.imgs = ni;
			S.imgs[S.n_imgs++] = im;
			im->state = IMG_QUEUED;
		}
		im->seen = true;
		le = local != NULL ? mb_manifest_find(local, e->name) : NULL;
		if (le != NULL && le->version == e->version && le->size == e->size &&
		    memcmp(le->sha256, e->sha256, MB_SHA256_LEN) == 0) {
			im->state = IMG_OK;
			im->reason[0] = '\0';
		} else if (im->state == IMG_OK || im->state == IMG_FAILED) {
			im->state = IMG_QUEUED;
		}
	}

	/* images gone from the ops manifest (for this site) */
	for (size_t i = 0; i < S.n_imgs;) {
		struct img *im = S.imgs[i];

		if (im->seen) {
			i++;
			continue;
		}
		if (im->x != NULL) {
			xfer_free(im->x);
			S.active--;
			(void)mb_ctl_store_set_downloading(&im->want, false);
		}
		if (part_path(im->want.name, path, sizeof(path)) == 0)
			(void)unlink(path);
		mb_manifest_entry_done(&im->want);
		free(im);
		S.imgs[i] = S.imgs[--S.n_imgs];
	}
	if (local != NULL) {
		/* collect first: retire changes the local manifest */
		char **gone = calloc(local->count + 1, sizeof(*gone));
		size_t ng = 0;

		for (uint32_t i = 0; gone != NULL && i < local->count; i++) {
			const struct mb_manifest_entry *le = &local->entries[i];
			const struct mb_manifest_entry *re = mb_manifest_find(&S.remote, le->name);

			if (re == NULL || !mb_manifest_entry_for_site(re, site))
				gone[ng++] = strdup(le->name);
		}
		for (size_t i = 0; i < ng; i++) {
			if (gone[i] != NULL && mb_ctl_store_retire(gone[i]) == 0)
				MB_LOG(NOTICE, SYNC,
				       "image '%s' no longer in the ops manifest, retired", gone[i]);
			free(gone[i]);
		}
		free(gone);
		mb_manifest_done(&local_copy);
	}
	downloads_kick();
}

/* ---- rollback protection ------------------------------------------------------ */

static void
floor_path(char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/sync-accepted.json", S.cfg->state_dir);
}

/* At start: the last manifest accepted before, if any. */
static void
floor_load(void)
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

/* A manifest was accepted: it is the new floor, in memory and on disk. */
static void
floor_raise(const struct mb_manifest *m)
{
	char path[4200];
	int rc;

	if (S.have_floor)
		mb_manifest_done(&S.floor);
	S.have_floor = mb_manifest_copy(&S.floor, m) == 0;
	if (!S.have_floor)
		return;
	floor_path(path, sizeof(path));
	rc = mb_manifest_write_file(&S.floor, path);
	if (rc < 0)
		MB_LOG(ERR, SYNC, "cannot write '%s': %s: a restart would forget the manifest "
		       "generation accepted, continuing", path, strerror(-rc));
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
		round_fail("manifest rejected: %s", err);
		free(body);
		return;
	}
	if (rollback_check(&m, err, sizeof(err)) < 0) {
		round_fail("manifest rejected: %s", err);
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
	reconcile();
	tmp_sweep();
}

/* Why a transfer failed, in one phrase. */
static void
xfer_reason(struct xfer *x, CURLcode res, char *out)
{
	long code = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (x->reason[0] != '\0')
		set_reason(out, "%s", x->reason);
	else if (res == CURLE_HTTP_RETURNED_ERROR && code == 400)
		set_reason(out, "HTTP 400 (nginx sends this when the client certificate is missing "
			   "or not accepted: check origin.client-cert)");
	else if (res == CURLE_HTTP_RETURNED_ERROR)
		set_reason(out, "HTTP %ld", code);
	else if (res == CURLE_FILESIZE_EXCEEDED)
		set_reason(out, "response larger than allowed");
	else if (res == CURLE_OK && code >= 300 && code < 400 && code != 304)
		set_reason(out, "redirect (HTTP %ld) refused", code);
	else
		set_reason(out, "%s%s%s", curl_easy_strerror(res), x->errbuf[0] ? ": " : "",
			   x->errbuf);
}

static bool
unreachable(CURLcode res)
{
	return res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
	       res == CURLE_OPERATION_TIMEDOUT || res == CURLE_RECV_ERROR ||
	       res == CURLE_SEND_ERROR || res == CURLE_GOT_NOTHING;
}

static void
meta_done(struct xfer *x, CURLcode res)
{
	char reason[SYNC_REASON_MAX];
	long code = 0;

	S.man_x = NULL;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res != CURLE_OK || (code != 200 && !(x->kind == X_MANIFEST && code == 304))) {
		xfer_reason(x, res, reason);
		S.ops_unreachable = unreachable(res);
		round_fail("%s: %s", x->kind == X_SIG ? "manifest.json.sig" : "manifest.json",
			   reason);
		free(S.pending_body);
		S.pending_body = NULL;
		xfer_free(x);
		round_maybe_finish();
		return;
	}
	S.ops_unreachable = false;
	if (x->kind == X_MANIFEST && code == 304) {
		/* "Not modified" only means something against the verified
		 * manifest whose validators the request carried.  Without one
		 * (after a restart, or a reload that dropped it) there is nothing
		 * to keep, and reconciling against an empty set would withdraw
		 * every image on the word of an unsigned reply: fetch the body
		 * instead, once, and refuse the round if ops insists. */
		bool usable = x->conditional && S.have_remote && x->man_gen == S.man_gen;

		xfer_free(x);
		if (usable) {
			MB_LOG(DEBUG, SYNC, "ops manifest unchanged");
			reconcile();
		} else if (!S.retried_304) {
			S.retried_304 = true;
			MB_LOG(NOTICE, SYNC, "HTTP 304 for manifest.json without a verified manifest "
			       "held, fetching it unconditionally");
			if (meta_fetch(false, true) < 0)
				round_fail("cannot start the manifest request");
		} else {
			round_fail("HTTP 304 (not modified) to an unconditional manifest request: "
				   "no verified manifest to keep, nothing changed");
		}
		round_maybe_finish();
		return;
	}
	if (x->kind == X_MANIFEST) {
		free(S.pending_body);
		S.pending_body = x->buf;
		S.pending_len = x->len;
		x->buf = NULL;
		snprintf(S.pending_etag, sizeof(S.pending_etag), "%s", x->etag);
		snprintf(S.pending_lm, sizeof(S.pending_lm), "%s", x->last_modified);
		xfer_free(x);
		if (meta_fetch(true, false) < 0) {
			round_fail("cannot start the signature request");
			free(S.pending_body);
			S.pending_body = NULL;
		}
		round_maybe_finish();
		return;
	}
	/* the signature: check it over the exact manifest bytes */
	if (S.key == NULL) {
		round_fail("no usable manifest-pubkey: %s", S.key_err);
		free(S.pending_body);
	} else {
		int rc = mb_sig_verify(S.key, S.pending_body, S.pending_len, x->buf, x->len);

		if (rc < 0) {
			round_fail("manifest signature: %s", mb_sig_strerror(rc));
			free(S.pending_body);
		} else {
			manifest_accept(S.pending_body, S.pending_len, S.pending_etag,
					S.pending_lm);
		}
	}
	S.pending_body = NULL;
	xfer_free(x);
	round_maybe_finish();
}

/* ---- image downloads ------------------------------------------------------------ */

static void
img_fail(struct img *im, const char *why, bool count)
{
	im->state = IMG_FAILED;
	(void)mb_ctl_store_set_downloading(&im->want, false);
	set_reason(im->reason, "%s", why);
	if (count)
		S.refusals++;
	MB_LOG(WARNING, SYNC, "image '%s' version %" PRIu64 " refused: %s, retrying in %" PRIu64
	       "s", im->want.name, im->want.version, why, S.cfg->sync_interval);
}

/* Size and digest match: fsync and hand to the store. */
static void
img_finish(struct img *im, struct xfer *x)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char path[4096];
	int rc;

	(void)part_path(im->want.name, path, sizeof(path));
	if (x->mem != NULL && (rc = part_flush(x)) < 0) {
		char why[SYNC_REASON_MAX];

		set_reason(why, "write to .part: %s", strerror(-rc));
		img_fail(im, why, false);
		return;
	}
	if (x->off != im->want.size) {
		img_fail(im, "truncated body", true);
		return; /* keep the .part: the next round resumes it */
	}
	EVP_DigestFinal_ex(x->md, md, &mdlen);
	if (mdlen != MB_SHA256_LEN || memcmp(md, im->want.sha256, MB_SHA256_LEN) != 0) {
		(void)unlink(path);
		if (x->start > 0 && !im->retry_from_zero) {
			/* the prefix may be an older version's: one clean retry */
			MB_LOG(NOTICE, SYNC, "image '%s': sha256 mismatch after resume, "
			       "restarting from byte 0", im->want.name);
			im->retry_from_zero = true;
			im->state = IMG_QUEUED;
			return;
		}
		img_fail(im, "sha256 mismatch", true);
		return;
	}
	im->retry_from_zero = false;
	if (fsync(x->fd) == -1) {
		img_fail(im, "fsync of the .part failed", false);
		return;
	}
	(void)close(x->fd);
	x->fd = -1;
	(void)mb_ctl_store_set_downloading(&im->want, false);
	if (x->mem != NULL) {
		/* verified as it was filled: publish this memory, no second pass */
		rc = mb_ctl_store_install_filled(&im->want, path, x->mem);
		x->mem = NULL;
	} else {
		rc = mb_ctl_store_install(&im->want, path);
	}
	if (rc < 0) {
		char why[SYNC_REASON_MAX];

		(void)unlink(path);
		set_reason(why, "store install failed: %s", strerror(-rc));
		img_fail(im, why, false);
		return;
	}
	im->state = IMG_OK;
	im->reason[0] = '\0';
	MB_LOG(NOTICE, SYNC, "image '%s' version %" PRIu64 " (%" PRIu64 " bytes) fetched and "
	       "installed", im->want.name, im->want.version, im->want.size);
}

static void
img_done(struct xfer *x, CURLcode res)
{
	struct img *im = x->img;
	char reason[SYNC_REASON_MAX];

	S.active--;
	im->x = NULL;
	if (res == CURLE_OK) {
		long code = 0;

		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200 && code != 206 && x->start != im->want.size) {
			xfer_reason(x, res, reason);
			img_fail(im, reason, true);
		} else {
			img_finish(im, x);
		}
	} else {
		xfer_reason(x, res, reason);
		if (unreachable(res))
			S.ops_unreachable = true;
		/* a hostile or broken body is not resumed */
		if (x->reason[0] != '\0' || res == CURLE_FILESIZE_EXCEEDED) {
			char path[4096];

			if (part_path(im->want.name, path, sizeof(path)) == 0)
				(void)unlink(path);
		}
		img_fail(im, reason, true);
	}
	xfer_free(x);
	downloads_kick();
	round_maybe_finish();
}

#define HASH_SLICE (1u << 20)
#define HASH_SLICES_PER_TICK 32 /* 32 MiB per loop pass */

/* Timer callback: hash the next slices of the .part prefix (resume); when
 * done, issue the Range request.  A prefix that cannot be read is dropped
 * and the download starts from byte 0. */
static void
hash_step(void *arg)
{
	static uint8_t buf[HASH_SLICE];
	struct xfer *x = arg;
	struct img *im = x->img;
	bool bad = false;
	int rc;

	for (int i = 0; i < HASH_SLICES_PER_TICK && x->hashed < x->start; i++) {
		size_t want = x->start - x->hashed < HASH_SLICE ? (size_t)(x->start - x->hashed) :
								   HASH_SLICE;
		/* with final memory, the prefix is read straight into it, once */
		uint8_t *dst = x->mem != NULL ? x->mem->sb.data + x->hashed : buf;
		ssize_t n = pread(x->fd, dst, want, (off_t)x->hashed);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			bad = true;
			break;
		}
		EVP_DigestUpdate(x->md, dst, (size_t)n);
		x->hashed += (uint64_t)n;
	}
	if (bad) {
		MB_LOG(WARNING, SYNC, "image '%s': cannot read the partial download, "
		       "restarting from byte 0", im->want.name);
		if (ftruncate(x->fd, 0) == -1 ||
		    EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1) {
			mb_ctl_timer_free(x->hash_timer);
			x->hash_timer = NULL;
			S.active--;
			im->x = NULL;
			xfer_free(x);
			img_fail(im, "cannot reset the partial download", false);
			goto out;
		}
		x->start = x->hashed = 0;
	}
	if (x->hashed < x->start) {
		(void)mb_ctl_timer_rearm(x->hash_timer, 0, 0);
		return;
	}
	/* freeing the timer from its own callback is allowed (ctl_loop.c) */
	mb_ctl_timer_free(x->hash_timer);
	x->hash_timer = NULL;
	rc = img_request(x);
	if (rc < 0) {
		char why[SYNC_REASON_MAX];

		set_reason(why, "cannot start the download: %s", strerror(-rc));
		img_fail(im, why, false);
	}
out:
	downloads_kick();
	round_maybe_finish();
}

static int
img_start(struct img *im)
{
	char path[4096];
	struct xfer *x;
	struct stat st;
	int rc;

	rc = part_path(im->want.name, path, sizeof(path));
	if (rc < 0)
		return rc;
	x = xfer_new(X_IMAGE);
	if (x == NULL)
		return -ENOMEM;
	x->img = im;
	x->md = EVP_MD_CTX_new();
	if (x->md == NULL || EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1) {
		xfer_free(x);
		return -ENOMEM;
	}
	x->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (x->fd == -1 || fstat(x->fd, &st) == -1) {
		rc = -errno;
		xfer_free(x);
		return rc;
	}
	if ((uint64_t)st.st_size > im->want.size || im->retry_from_zero) {
		if (ftruncate(x->fd, 0) == -1) {
			rc = -errno;
			xfer_free(x);
			return rc;
		}
		st.st_size = 0;
	}
	x->start = (uint64_t)st.st_size;
	x->mem = mb_ctl_store_image_alloc(&im->want);
	im->x = x;
	im->state = IMG_DOWNLOADING;
	(void)mb_ctl_store_set_downloading(&im->want, true);
	S.active++;
	if (x->start == 0)
		return img_request(x);
	/* resume: hash the existing prefix once, in slices from a loop timer,
	 * so a big .part does not stall the control thread */
	x->hash_timer = mb_ctl_timer_new(0, 0, hash_step, x);
	if (x->hash_timer == NULL) {
		rc = -errno;
		S.active--;
		im->x = NULL;
		xfer_free(x);
		return rc;
	}
	return 0;
}

/* The prefix is hashed (or there is none): ask for the rest, or finish when
 * the .part is already complete.  0 or -errno (x freed, slot released). */
static int
img_request(struct xfer *x)
{
	struct img *im = x->img;
	char base[2048], url[2600];
	int rc;

	x->off = x->flushed = x->start;
	if (lseek(x->fd, (off_t)x->start, SEEK_SET) == -1) {
		rc = -errno;
		S.active--;
		im->x = NULL;
		xfer_free(x);
		return rc;
	}
	if (x->start == im->want.size) {
		/* complete already (crash after the last byte): verify and install */
		S.active--;
		im->x = NULL;
		img_finish(im, x);
		xfer_free(x);
		return 0;
	}
	snprintf(url, sizeof(url), "%s/%s", origin_base(base, sizeof(base)), im->want.name);
	rc = easy_setup(x, url);
	if (rc < 0) {
		S.active--;
		im->x = NULL;
		xfer_free(x);
		return rc;
	}
	curl_easy_setopt(x->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)im->want.size);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, file_write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	if (x->start > 0)
		curl_easy_setopt(x->easy, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x->start);
	if (S.cfg->sync_max_rate > 0)
		curl_easy_setopt(x->easy, CURLOPT_MAX_RECV_SPEED_LARGE,
				 (curl_off_t)(S.cfg->sync_max_rate / S.cfg->sync_concurrency));
	if (curl_multi_add_handle(S.multi, x->easy) != CURLM_OK) {
		S.active--;
		im->x = NULL;
		xfer_free(x);
		return -ENOMEM;
	}
	if (x->start > 0)
		MB_LOG(INFO, SYNC, "image '%s': resuming at byte %" PRIu64 " of %" PRIu64,
		       im->want.name, x->start, im->want.size);
	return 0;
}

static void
downloads_kick(void)
{
	for (size_t i = 0; i < S.n_imgs && S.active < S.cfg->sync_concurrency; i++) {
		struct img *im = S.imgs[i];
		int rc;

		if (im->state != IMG_QUEUED)
			continue;
		rc = img_start(im);
		/* a complete .part that failed its check is retried from byte 0 */
		if (rc == 0 && im->state == IMG_QUEUED)
			rc = img_start(im);
		if (rc < 0) {
			char why[SYNC_REASON_MAX];

			set_reason(why, "cannot start the download: %s", strerror(-rc));
			img_fail(im, why, false);
		}
	}
}

static void
multi_check_done(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(S.multi, &left)) != NULL) {
		struct xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x == NULL)
			continue;
		if (x->kind == X_IMAGE)
			img_done(x, msg->data.result);
		else
			meta_done(x, msg->data.result);
	}
}

static void
round_maybe_finish(void)
{
	if (!S.round_active || S.man_x != NULL || S.active > 0)
		return;
	for (size_t i = 0; i < S.n_imgs; i++)
		if (S.imgs[i]->state == IMG_QUEUED)
			return;
	S.round_active = false;
	S.last_sync = wall_now();
	S.rounds++;
	if (S.round_err[0] != '\0') {
		set_reason(S.last_result, "%s", S.round_err);
	} else {
		size_t failed = 0;

		for (size_t i = 0; i < S.n_imgs; i++)
			failed += S.imgs[i]->state == IMG_FAILED;
		if (failed > 0)
			set_reason(S.last_result, "%zu image(s) failed", failed);
		else
			set_reason(S.last_result, "ok");
	}
	if (S.round_again) {
		S.round_again = false;
		(void)mb_ctl_timer_rearm(S.poll_timer, 0, S.cfg->sync_interval * 1000);
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
	S.round_err[0] = '\0';
	S.retried_304 = false;
	if (meta_fetch(false, false) < 0) {
		round_fail("cannot start the manifest request");
		round_maybe_finish();
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
static void
tmp_sweep(void)
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
			if (part_path(S.imgs[i]->want.name, want, sizeof(want)) == 0 &&
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
 * they show as "ok" (or "stale" while ops is unreachable). */
static void
seed_from_store(void)
{
	struct mb_manifest local = { 0 };

	if (mb_ctl_store_get_manifest(&local) < 0)
		return;
	for (uint32_t i = 0; i < local.count; i++) {
		struct img **ni = realloc(S.imgs, (S.n_imgs + 1) * sizeof(*ni));
		struct img *im = calloc(1, sizeof(*im));

		if (ni != NULL)
			S.imgs = ni;
		if (ni == NULL || im == NULL ||
		    mb_manifest_entry_copy(&im->want, &local.entries[i]) < 0) {
			free(im);
			break;
		}
		im->state = IMG_OK;
		S.imgs[S.n_imgs++] = im;
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
	json_object_set_new(o, "last_sync", json_integer(S.last_sync));
	json_object_set_new(o, "result", json_string(S.last_sync ? S.last_result : "never"));
	json_object_set_new(o, "ops_reachable", json_boolean(!S.ops_unreachable));
	json_object_set_new(o, "bytes_fetched", json_integer((json_int_t)S.bytes_fetched));
	json_object_set_new(o, "rounds", json_integer((json_int_t)S.rounds));
	json_object_set_new(o, "refusals", json_integer((json_int_t)S.refusals));
	if (S.have_remote)
		json_object_set_new(o, "manifest_generated", json_integer(S.remote.generated));
	for (size_t i = 0; i < S.n_imgs; i++) {
		struct img *im = S.imgs[i];
		json_t *e = json_object();
		const char *st = img_state_names[im->state];
		uint64_t got = im->state == IMG_OK ? im->want.size : 0;

		if (im->x != NULL)
			got = im->x->off;
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
			w = MB_HEALTH_DEGRADED;
		}
		done += got;
		total += im->want.size;
		json_object_set_new(imgs, im->want.name, e);
	}
	json_object_set_new(o, "images", imgs);
	json_object_set_new(o, "bytes_done", json_integer((json_int_t)done));
	json_object_set_new(o, "bytes_total", json_integer((json_int_t)total));
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

	if (!S.started) {
		*ret_err = strdup("sync is not configured (origin.url is empty)");
		return NULL;
	}
	if (st != NULL && !json_is_boolean(st)) {
		*ret_err = strdup("'status' must be a boolean");
		return NULL;
	}
	if (!json_is_true(st))
		round_start();
	return status_json(NULL);
}

static void
key_load(void)
{
	mb_sig_key_free(S.key);
	S.key = mb_sig_key_load(S.cfg->manifest_pubkey, 0);
	if (S.key == NULL) {
		int e = errno;

		set_reason(S.key_err, "'%s': %s", S.cfg->manifest_pubkey,
			   e == ENOENT || e == EACCES ? strerror(e) : mb_sig_strerror(-e));
		MB_LOG(ERR, SYNC, "origin.manifest-pubkey %s, every manifest will be refused",
		       S.key_err);
	}
}

static void sync_stop(void);

static int
sync_start(const struct mb_config *cfg)
{
	S.cfg = cfg;
	if (cfg->origin_url[0] == '\0' || strncmp(cfg->origin_url, "https://", 8) != 0) {
		MB_LOG(INFO, SYNC, "no https origin.url, sync from ops disabled");
		return 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		MB_LOG(ERR, SYNC, "libcurl initialisation failed");
		return -EIO;
	}
	S.multi = curl_multi_init();
	if (S.multi == NULL)
		return -ENOMEM;
	curl_multi_setopt(S.multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(S.multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	S.curl_timer = mb_ctl_timer_new(SYNC_FAR_MS, 0, curl_timer_fire, NULL);
	S.poll_timer = mb_ctl_timer_new(1, cfg->sync_interval * 1000, poll_fire, NULL);
	if (S.curl_timer == NULL || S.poll_timer == NULL) {
		int rc = -errno;

		sync_stop();
		MB_LOG(ERR, SYNC, "cannot create sync timers: %s", strerror(-rc));
		return rc;
	}
	key_load();
	floor_load();
	tmp_prepare();
	seed_from_store();
	S.started = true;
	MB_LOG(INFO, SYNC, "syncing from '%s' every %" PRIu64 "s (site '%s')", cfg->origin_url,
	       cfg->sync_interval, cfg->origin_site);
	return 0;
}

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
	(void)mb_ctl_timer_rearm(S.poll_timer, cfg->sync_interval * 1000,
				 cfg->sync_interval * 1000);
	return 0;
}

static void
sync_stop(void)
{
	for (size_t i = 0; i < S.n_imgs; i++) {
		xfer_free(S.imgs[i]->x);
		mb_manifest_entry_done(&S.imgs[i]->want);
		free(S.imgs[i]);
	}
	free(S.imgs);
	S.imgs = NULL;
	S.n_imgs = 0;
	S.active = 0;
	xfer_free(S.man_x);
	S.man_x = NULL;
	mb_ctl_timer_free(S.poll_timer);
	mb_ctl_timer_free(S.curl_timer);
	S.poll_timer = S.curl_timer = NULL;
	if (S.multi != NULL) {
		curl_multi_cleanup(S.multi);
		curl_global_cleanup();
	}
	S.multi = NULL;
	free(S.man_buf);
	free(S.pending_body);
	S.man_buf = S.pending_body = NULL;
	if (S.have_remote)
		mb_manifest_done(&S.remote);
	S.have_remote = false;
	if (S.have_floor)
		mb_manifest_done(&S.floor);
	S.have_floor = false;
	mb_sig_key_free(S.key);
	S.key = NULL;
	S.started = false;
}

static const struct mb_ctl_action sync_actions[] = {
	{ "sync", action_sync, "fetch the ops manifest now and download changes; "
			       "{\"status\":true} only reports progress" },
};

const struct mb_ctl_subsys mb_ctl_subsys_sync = {
	.name = "sync",
	.title = "sync from ops",
	.start = sync_start,
	.reconfig = sync_reconfig,
	.stop = sync_stop,
	.actions = sync_actions,
	.n_actions = 1,
	.health_key = "sync",
	.health = health_sync,
	.without = "serving the local store only",
};
