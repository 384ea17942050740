/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker thread of ctl_worker.h: one pthread ("mb-work"), a queue of
 * works served round robin one MB_WORK_SLICE at a time, a completed list
 * and an eventfd that wakes the control loop to run the completions.  The
 * thread touches a work only between its pickup and its move to the
 * completed list, under no lock; the lists, `stop` and the counters are
 * under `lock`.  SHA-256 is OpenSSL's EVP interface, the only one the
 * control plane uses for image bytes.  A work with an O_DIRECT descriptor
 * (sync writing a .part from image memory) has the whole blocks of a slice
 * written by glibc's POSIX AIO while the slice is hashed; a work whose
 * blocks are still in flight when its turn comes again steps aside for one
 * that can run.
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ctl.h"
#include "ctl_worker.h"
#include "mb_log.h"
#include "mb_manifest.h"

static struct {
	pthread_t thread;
	bool started;
	int efd;
	pthread_mutex_t lock; /* todo, done, stop */
	pthread_cond_t cond;
	struct mb_work *todo, **todo_tail;
	struct mb_work *done, **done_tail;
	bool stop;
	unsigned pending; /* control thread: submitted, completion not run */
	uint8_t *bounce;  /* the thread's: file bytes with no memory destination */
} W = { .efd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* ---- SHA-256 ------------------------------------------------------------------ */

int
mb_hash_init(struct mb_hash *h)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		h->md = NULL;
		return -ENOMEM;
	}
	h->md = md;
	return 0;
}

int
mb_hash_reset(struct mb_hash *h)
{
	return EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

void
mb_hash_done(struct mb_hash *h)
{
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

int
mb_sha256(const void *p, size_t n, uint8_t out[MB_SHA256_LEN])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != MB_SHA256_LEN)
		return -EIO;
	return 0;
}

/* ---- one work, on the thread ------------------------------------------------------ */

static int
fail(struct mb_work *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int
fail(struct mb_work *w, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	w->rc = rc;
	return rc;
}

/* Read exactly n bytes of the source file at its offset pos into p. */
static int
read_full(struct mb_work *w, uint8_t *p, uint64_t n)
{
	uint64_t got = 0;

	while (got < n) {
		ssize_t r = pread(w->src_fd, p + got, (size_t)(n - got),
				  (off_t)(w->src_off + w->pos + got));

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return fail(w, -EIO, "read error: %s", strerror(errno));
		if (r == 0)
			return fail(w, -ENODATA, "truncated while reading (at %" PRIu64 " of %" PRIu64
				    ")", w->src_off + w->pos + got, w->src_off + w->len);
		got += (uint64_t)r;
	}
	return 0;
}

/* Write n bytes at p to fd at off, through the page cache. */
static int
write_at(struct mb_work *w, int fd, const uint8_t *p, uint64_t n, uint64_t off)
{
	uint64_t put = 0;

	while (put < n) {
		ssize_t r = pwrite(fd, p + put, (size_t)(n - put), (off_t)(off + put));

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) /* errno kept: ENOSPC and EDQUOT tell the caller what to say */
			return fail(w, r == 0 ? -EIO : -errno, "write error: %s",
				    r == 0 ? "no progress" : strerror(errno));
		put += (uint64_t)r;
	}
	/* start the writeback now, so a final fsync has little left to wait for */
	if (n > 0)
		(void)sync_file_range(fd, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WRITE);
	return 0;
}

static int
write_full(struct mb_work *w, const uint8_t *p, uint64_t n)
{
	return write_at(w, w->out_fd, p, n, w->out_off + w->pos);
}

static int
hash_update(struct mb_work *w, const uint8_t *p, uint64_t n)
{
	if (w->hash != NULL && EVP_DigestUpdate(w->hash->md, p, n) != 1)
		return fail(w, -EIO, "SHA-256 update failed");
	return 0;
}

/* Wait for w's O_DIRECT write in flight, if any; what it did not write
 * (refused: no O_DIRECT on this file system; failed; short) goes through
 * the page cache.  0 or <0 (w failed).  Any thread, while it holds w. */
static int
aio_settle(struct mb_work *w)
{
	const struct aiocb *list[1] = { &w->aio };
	ssize_t r;
	int e;

	if (!w->aio_busy)
		return 0;
	while ((e = aio_error(&w->aio)) == EINPROGRESS)
		(void)aio_suspend(list, 1, NULL);
	r = aio_return(&w->aio);
	w->aio_busy = false;
	if (e != 0 || r < 0)
		r = 0;
	if ((size_t)r >= w->aio.aio_nbytes)
		return 0;
	return write_at(w, w->out_fd, (const uint8_t *)(uintptr_t)w->aio.aio_buf + r,
			(uint64_t)(w->aio.aio_nbytes - (size_t)r),
			(uint64_t)w->aio.aio_offset + (uint64_t)r);
}

/* Write and hash n bytes of memory at p (out_dfd set): the head up to the
 * first aligned offset through the page cache, the whole blocks with
 * O_DIRECT in the background (glibc's POSIX AIO), the tail through the
 * page cache.  The blocks stay in flight while this slice is hashed and
 * while the worker serves other works, until w's next slice or its last;
 * nothing is written past them before they are on file, so the file stays
 * a prefix. */
static int
write_direct_hashed(struct mb_work *w, const uint8_t *p, uint64_t n)
{
	const uint64_t A = MB_WORK_DIRECT_ALIGN;
	uint64_t off = w->out_off + w->pos;
	uint64_t head = (A - off % A) % A, mid, tail;
	int rc;

	if ((rc = aio_settle(w)) != 0)
		return rc;
	if (head > n)
		head = n;
	mid = (n - head) / A * A;
	if (((uintptr_t)(p + head)) % A != 0)
		mid = 0; /* the memory is not aligned like the file */
	tail = n - head - mid;
	if ((rc = write_at(w, w->out_fd, p, head, off)) != 0)
		return rc;
	if (mid > 0) {
		memset(&w->aio, 0, sizeof(w->aio));
		w->aio.aio_fildes = w->out_dfd;
		w->aio.aio_buf = (void *)(uintptr_t)(p + head);
		w->aio.aio_nbytes = (size_t)mid;
		w->aio.aio_offset = (off_t)(off + head);
		w->aio.aio_sigevent.sigev_notify = SIGEV_NONE;
		if (aio_write(&w->aio) == 0)
			w->aio_busy = true;
		else if ((rc = write_at(w, w->out_fd, p + head, mid, off + head)) != 0)
			return rc;
	}
	if ((rc = hash_update(w, p, n)) != 0)
		return rc;
	if (tail > 0 || w->pos + n == w->len) {
		if ((rc = aio_settle(w)) != 0)
			return rc;
	}
	return write_at(w, w->out_fd, p + head + mid, tail, off + head + mid);
}

/* One slice of w.  0 while there is more, 1 when all bytes moved, <0 failed. */
static int
slice(struct mb_work *w)
{
	uint64_t n = w->len - w->pos < MB_WORK_SLICE ? w->len - w->pos : MB_WORK_SLICE;
	const uint8_t *bytes;
	int rc;

	if (n == 0)
		return 1;
	if (w->src_fd >= 0) {
		uint8_t *into = w->dst != NULL ? w->dst + w->pos : W.bounce;

		rc = read_full(w, into, n);
		if (rc != 0)
			return rc;
		bytes = into;
	} else if (w->dst != NULL) {
		memcpy(w->dst + w->pos, w->src + w->pos, n);
		bytes = w->dst + w->pos; /* what will be served is what is hashed */
	} else {
		bytes = w->src + w->pos;
	}
	if (w->out_fd >= 0 && w->out_dfd >= 0 && w->src_fd < 0) {
		if ((rc = write_direct_hashed(w, bytes, n)) != 0)
			return rc;
	} else {
		if (w->out_fd >= 0 && (rc = write_full(w, bytes, n)) != 0)
			return rc;
		if ((rc = hash_update(w, bytes, n)) != 0)
			return rc;
	}
	w->pos += n;
	w->moved = w->pos;
	return w->pos == w->len ? 1 : 0;
}

/* After the last byte: the file's end, the digest, the fsync. */
static int
finish(struct mb_work *w)
{
	unsigned int glen = 0;
	uint8_t extra;

	if ((w->flags & MB_WORK_EXACT) && w->src_fd >= 0 &&
	    pread(w->src_fd, &extra, 1, (off_t)(w->src_off + w->len)) == 1)
		return fail(w, -EFBIG, "file grew while reading");
	if (w->flags & MB_WORK_FSYNC) {
		if (fsync(w->out_fd) == -1)
			return fail(w, -errno, "fsync failed: %s", strerror(errno));
	}
	if (w->flags & MB_WORK_FINAL) {
		if (w->hash == NULL || EVP_DigestFinal_ex(w->hash->md, w->got, &glen) != 1 ||
		    glen != MB_SHA256_LEN)
			return fail(w, -EIO, "SHA-256 final failed");
		if (memcmp(w->got, w->want, MB_SHA256_LEN) != 0) {
			char hex[2 * MB_SHA256_LEN + 1];

			mb_sha256_to_hex(w->got, hex);
			return fail(w, -EBADMSG, "checksum mismatch (sha256 %s)", hex);
		}
	}
	return 0;
}

static void
complete_locked(struct mb_work *w)
{
	uint64_t one = 1;

	w->next = NULL;
	*W.done_tail = w;
	W.done_tail = &w->next;
	(void)!write(W.efd, &one, sizeof(one));
}

/* A queued work can run without waiting for the disk (under lock). */
static bool
others_ready_locked(void)
{
	for (const struct mb_work *x = W.todo; x != NULL; x = x->next)
		if (!x->aio_busy || aio_error(&x->aio) != EINPROGRESS)
			return true;
	return false;
}

static void *
worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.lock);
	for (;;) {
		struct mb_work *w;
		int rc;

		while (W.todo == NULL && !W.stop)
			pthread_cond_wait(&W.cond, &W.lock);
		if (W.stop)
			break;
		w = W.todo;
		W.todo = w->next;
		if (W.todo == NULL)
			W.todo_tail = &W.todo;
		if (w->aio_busy && !atomic_load(&w->cancel) && others_ready_locked() &&
		    aio_error(&w->aio) == EINPROGRESS) {
			/* its blocks are still on their way to the disk: serve
			 * the others meanwhile rather than wait */
			w->next = NULL;
			*W.todo_tail = w;
			W.todo_tail = &w->next;
			continue;
		}
		pthread_mutex_unlock(&W.lock);
		if (atomic_load(&w->cancel))
			rc = fail(w, -ECANCELED, "cancelled");
		else if ((rc = slice(w)) == 1)
			rc = finish(w);
		if (rc != 0)
			(void)aio_settle(w); /* its buffer is the submitter's again */
		pthread_mutex_lock(&W.lock);
		if (rc == 0 && w->pos < w->len) {
			/* more to do: behind the others */
			w->next = NULL;
			*W.todo_tail = w;
			W.todo_tail = &w->next;
			continue;
		}
		w->rc = rc;
		complete_locked(w);
	}
	pthread_mutex_unlock(&W.lock);
	return NULL;
}

/* ---- the control thread's side ----------------------------------------------------- */

static void
run_completion(struct mb_work *w)
{
	w->busy = false;
	W.pending--;
	w->done(w);
}

static void
done_io(int fd, uint32_t events, void *arg)
{
	struct mb_work *list, *w;
	uint64_t v;

	(void)events;
	(void)arg;
	(void)!read(fd, &v, sizeof(v));
	pthread_mutex_lock(&W.lock);
	list = W.done;
	W.done = NULL;
	W.done_tail = &W.done;
	pthread_mutex_unlock(&W.lock);
	while ((w = list) != NULL) {
		list = w->next;
		run_completion(w); /* may free w */
	}
}

void
mb_work_init(struct mb_work *w)
{
	memset(w, 0, sizeof(*w));
	w->src_fd = -1;
	w->out_fd = -1;
	w->out_dfd = -1;
}

int
mb_worker_start(void)
{
	int rc;

	if (W.started)
		return 0;
	W.todo = W.done = NULL;
	W.todo_tail = &W.todo;
	W.done_tail = &W.done;
	W.stop = false;
	W.bounce = malloc(MB_WORK_SLICE);
	W.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (W.bounce == NULL || W.efd == -1) {
		rc = W.bounce == NULL ? -ENOMEM : -errno;
		goto err;
	}
	rc = mb_ctl_loop_add(W.efd, EPOLLIN, done_io, NULL);
	if (rc != 0)
		goto err;
	rc = -pthread_create(&W.thread, NULL, worker_main, NULL);
	if (rc != 0) {
		(void)mb_ctl_loop_del(W.efd);
		goto err;
	}
	(void)pthread_setname_np(W.thread, "mb-work");
	W.started = true;
	return 0;
err:
	if (W.efd >= 0)
		(void)close(W.efd);
	W.efd = -1;
	free(W.bounce);
	W.bounce = NULL;
	return rc;
}

void
mb_worker_stop(void)
{
	struct mb_work *list, *w, **tail;

	if (!W.started)
		return;
	pthread_mutex_lock(&W.lock);
	W.stop = true;
	pthread_cond_broadcast(&W.cond);
	pthread_mutex_unlock(&W.lock);
	(void)pthread_join(W.thread, NULL);
	W.started = false;
	/* What finished first keeps its result; the rest is cancelled. */
	list = W.done;
	for (tail = &list; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = W.todo;
	for (w = W.todo; w != NULL; w = w->next) {
		(void)aio_settle(w);
		(void)fail(w, -ECANCELED, "cancelled");
	}
	W.todo = W.done = NULL;
	W.todo_tail = &W.todo;
	W.done_tail = &W.done;
	while ((w = list) != NULL) {
		list = w->next;
		run_completion(w);
	}
	(void)mb_ctl_loop_del(W.efd);
	(void)close(W.efd);
	W.efd = -1;
	free(W.bounce);
	W.bounce = NULL;
}

static void
complete_deferred(void *arg)
{
	run_completion(arg);
}

void
mb_worker_submit(struct mb_work *w)
{
	w->rc = 0;
	w->pos = w->moved = 0;
	w->err[0] = '\0';
	w->aio_busy = false;
	atomic_store(&w->cancel, false);
	w->busy = true;
	W.pending++;
	if (!W.started) {
		(void)fail(w, -ECANCELED, "no worker running");
		mb_ctl_defer(&w->defer, complete_deferred, w);
		return;
	}
	pthread_mutex_lock(&W.lock);
	w->next = NULL;
	*W.todo_tail = w;
	W.todo_tail = &w->next;
	pthread_cond_signal(&W.cond);
	pthread_mutex_unlock(&W.lock);
}

void
mb_worker_cancel(struct mb_work *w)
{
	if (w->busy)
		atomic_store(&w->cancel, true);
}

unsigned
mb_worker_pending(void)
{
	return W.pending;
}
