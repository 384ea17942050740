/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The read-ahead thread for mmap images (mb_readahead.h): follow where the
 * dataplane reads each image, keep the page cache filled and the pages
 * mapped ahead of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mb_image.h"
#include "mb_readahead.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

#define RA_TICK_NS (10ull * 1000 * 1000)	 /* a pass while nothing is to read */
#define RA_IDLE_NS (2ull * 1000 * 1000 * 1000) /* an image unread this long is let go */
#define RA_STEPS_PER_TURN 8u			 /* steps of one stream before the next */

struct ra_stream {
	bool live;
	uint64_t origin; /* where the read-ahead started (page-aligned) */
	uint64_t ahead;	 /* bytes populated from origin on (wrapping for a whole image) */
	uint64_t advised; /* bytes advised from origin on (>= ahead) */
	uint64_t pos;	 /* the reader's latest position, as a distance from origin */
	uint64_t seen_ns;
	bool failed;	 /* a populate failed: nothing more for this stream */
};

struct ra_img {
	struct mb_image *img; /* our reference; NULL = free entry */
	uint64_t active_ns;
	bool whole;
	bool started; /* a stream was started since it is followed */
	bool in_table;
	struct ra_stream st[MB_RA_STREAMS];
};

static struct {
	pthread_t th;
	bool running;
	_Atomic bool stop;
	_Atomic uint64_t window;
	_Atomic uint64_t whole_max; /* mb_ra_set_whole */
	pthread_mutex_t lock; /* the sleep; stop wakes it */
	pthread_cond_t cond;
	struct ra_img img[MB_RA_IMAGES]; /* the thread's */
	uint64_t whole_bytes;		 /* sizes of the images read whole */
	bool no_populate;		 /* the kernel refused MADV_POPULATE_READ */
	/* figures (written by the thread, read anywhere) */
	_Atomic uint64_t pages_read, pages_cached, bytes, started, errors;
	_Atomic uint32_t images, streams, whole;
} R = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.whole_max = MB_RA_WHOLE_AUTO,
};

static inline uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* MemAvailable from /proc/meminfo, in bytes; 0 when unknown. */
static uint64_t
mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	uint64_t kb = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %" SCNu64 " kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static uint64_t
page_size(void)
{
	static uint64_t ps;

	if (ps == 0) {
		long v = sysconf(_SC_PAGESIZE);

		ps = v > 0 ? (uint64_t)v : 4096;
	}
	return ps;
}

static void
untrack(struct ra_img *e)
{
	if (e->whole)
		R.whole_bytes -= e->img->size;
	mb_image_unref(e->img);
	memset(e, 0, sizeof(*e));
}

static struct ra_img *
find(const struct mb_image *img)
{
	for (unsigned i = 0; i < MB_RA_IMAGES; i++)
		if (R.img[i].img == img)
			return &R.img[i];
	return NULL;
}

/* Follow img (a reference is taken inside the caller's read side); NULL
 * when MB_RA_IMAGES are followed already. */
static struct ra_img *
track(struct mb_image *img, uint64_t now)
{
	uint64_t avail;

	for (unsigned i = 0; i < MB_RA_IMAGES; i++) {
		struct ra_img *e = &R.img[i];

		if (e->img != NULL)
			continue;
		e->img = mb_image_ref(img);
		e->active_ns = now;
		avail = atomic_load(&R.whole_max);
		if (avail == MB_RA_WHOLE_AUTO)
			avail = mem_available() / 2;
		avail = avail > R.whole_bytes ? avail - R.whole_bytes : 0;
		if (img->size <= atomic_load(&R.window) || img->size <= avail) {
			e->whole = true;
			R.whole_bytes += img->size;
		}
		return e;
	}
	return NULL;
}

/* Are pages of [off, off + len) of e's image out of the page cache? */
static bool
absent(const struct ra_img *e, uint64_t off, uint64_t len)
{
	static unsigned char vec[MB_RA_STEP / 4096];
	uint64_t ps = page_size(), a = off & ~(ps - 1);

	len += off - a;
	if (len == 0 || ps != 4096 || len > MB_RA_STEP + ps ||
	    mincore(e->img->sb.data + a, (size_t)min_u64(len, MB_RA_STEP), vec) != 0)
		return false;
	for (uint64_t i = 0; i < (min_u64(len, MB_RA_STEP) + ps - 1) / ps; i++)
		if (!(vec[i] & 1))
			return true;
	return false;
}

/* A reader was seen at byte `p` of e's image: advance the stream it
 * belongs to, or start one. */
static void
note_pos(struct ra_img *e, uint64_t p, uint64_t now, uint64_t window)
{
	uint64_t size = e->img->size;
	struct ra_stream *s, *victim = NULL;

	if (size == 0 || p >= size)
		return;
	for (unsigned i = 0; i < MB_RA_STREAMS; i++) {
		uint64_t d;

		s = &e->st[i];
		if (!s->live) {
			if (victim == NULL || victim->live)
				victim = s;
			continue;
		}
		if (victim == NULL || (victim->live && s->seen_ns < victim->seen_ns))
			victim = s;
		if (e->whole)
			d = (p + size - s->origin) % size;
		else if (p >= s->origin)
			d = p - s->origin;
		else
			continue;
		if (d > s->ahead + window)
			continue; /* far from this one */
		s->seen_ns = now;
		if (d > s->ahead) {
			/* the reader ran past what was read (a sender faster than
			 * the disk): its own faults read where it is, so go on a
			 * step ahead of it rather than race it for the same pages */
			uint64_t end = e->whole ? size : size - s->origin;

			s->pos = d;
			s->ahead = min_u64(d + MB_RA_STEP, end) & ~(page_size() - 1);
			if (s->advised < s->ahead)
				s->advised = s->ahead;
		} else if (absent(e, p, min_u64(MB_RA_STEP, min_u64(s->ahead - d, size - p)))) {
			/* the kernel reclaimed what is right ahead of the reader
			 * since it was read: start again where it is */
			s->origin = p & ~(page_size() - 1);
			s->ahead = 0;
			s->advised = 0;
			s->pos = p - s->origin;
			s->failed = false;
		} else {
			s->pos = d;
		}
		return;
	}
	s = victim;
	memset(s, 0, sizeof(*s));
	s->live = true;
	s->origin = p & ~(page_size() - 1);
	s->pos = p - s->origin;
	s->seen_ns = now;
	atomic_fetch_add_explicit(&R.started, 1, memory_order_relaxed);
}

/* Look at the published table: the images being read, their positions.
 * Inside the read side; references are taken for the images followed. */
static void
sample(uint64_t now, uint64_t window)
{
	struct mb_image_table *t;

	for (unsigned i = 0; i < MB_RA_IMAGES; i++)
		R.img[i].in_table = false;
	rcu_read_lock();
	t = rcu_dereference(mb_image_table_current);
	for (uint32_t k = 0; t != NULL && k < t->count; k++) {
		struct mb_image *img = t->img[k];
		uint64_t hint;
		uint32_t users;
		struct ra_img *e;

		if (img->mem != MB_IMAGE_MEM_MMAP)
			continue;
		hint = atomic_exchange_explicit(&img->ra_hint, 0, memory_order_relaxed);
		users = atomic_load_explicit(&img->active_users, memory_order_relaxed);
		e = find(img);
		if (e == NULL && window > 0 && (hint != 0 || users > 0))
			e = track(img, now);
		if (e == NULL)
			continue;
		e->in_table = true;
		if (hint != 0 || users > 0)
			e->active_ns = now;
		if (hint != 0)
			note_pos(e, hint - 1, now, e->whole ? img->size : window);
		else if (users > 0 && e->whole && !e->started)
			/* a session that has not sent yet: read from 0 */
			note_pos(e, 0, now, img->size);
		if (hint != 0 || (users > 0 && e->whole))
			e->started = true;
	}
	rcu_read_unlock();
}

/* Let go of images withdrawn, idle, or all of them when off; count. */
static void
prune(uint64_t now, uint64_t window)
{
	uint32_t ni = 0, ns = 0, nw = 0;

	for (unsigned i = 0; i < MB_RA_IMAGES; i++) {
		struct ra_img *e = &R.img[i];

		if (e->img == NULL)
			continue;
		if (window == 0 || !e->in_table || now - e->active_ns > RA_IDLE_NS) {
			untrack(e);
			continue;
		}
		for (unsigned j = 0; j < MB_RA_STREAMS; j++) {
			struct ra_stream *s = &e->st[j];

			if (s->live && now - s->seen_ns > RA_IDLE_NS)
				s->live = false;
			ns += s->live;
		}
		ni++;
		nw += e->whole;
	}
	atomic_store(&R.images, ni);
	atomic_store(&R.streams, ns);
	atomic_store(&R.whole, nw);
}

/* Bytes of stream s still to read: up to `window` past the reader (the
 * whole image, wrapping, for a whole one), within the image. */
static uint64_t
todo(const struct ra_img *e, const struct ra_stream *s, uint64_t window)
{
	uint64_t size = e->img->size, lim;

	if (!s->live || s->failed)
		return 0;
	if (e->whole)
		lim = size;
	else
		lim = min_u64(s->pos + window, size - s->origin);
	return lim > s->ahead ? lim - s->ahead : 0;
}

/* Advise the next piece of stream s past its advised frontier, at most
 * MB_RA_STEP and not past `lim` (a distance from origin): count its pages
 * out of the page cache (the disk reads them for us) and in it, then
 * MADV_WILLNEED (the kernel queues the reads, asynchronously). */
static void
advise(struct ra_img *e, struct ra_stream *s, uint64_t lim)
{
	static unsigned char vec[MB_RA_STEP / 4096];
	uint64_t size = e->img->size, ps = page_size(), off, len, npages, in = 0;
	uint8_t *p;

	off = (s->origin + s->advised) % size;
	len = min_u64(min_u64(lim - s->advised, MB_RA_STEP), size - off);
	p = e->img->sb.data + off;
	npages = (len + ps - 1) / ps;
	if (ps == 4096 && mincore(p, (size_t)len, vec) == 0)
		for (uint64_t i = 0; i < npages; i++)
			in += vec[i] & 1;
	if (in < npages) /* all there: nothing to ask */
		(void)madvise(p, (size_t)len, MADV_WILLNEED);
	atomic_fetch_add_explicit(&R.pages_cached, in, memory_order_relaxed);
	atomic_fetch_add_explicit(&R.pages_read, npages - in, memory_order_relaxed);
	s->advised += len;
}

/* One step of stream s: advise up to MB_RA_DEPTH steps past it, then
 * populate the next MB_RA_STEP (less at the end of the image or of the
 * window).  Returns whether it did anything. */
static bool
step(struct ra_img *e, struct ra_stream *s, uint64_t window)
{
	uint64_t size = e->img->size, left = todo(e, s, window), lim, off, len;
	uint8_t *p;

	if (left == 0)
		return false;
	lim = s->ahead + left;
	if (s->advised < s->ahead)
		s->advised = s->ahead;
	while (s->advised < lim &&
	       s->advised < s->ahead + (uint64_t)(MB_RA_DEPTH + 1) * MB_RA_STEP)
		advise(e, s, lim);
	off = (s->origin + s->ahead) % size;
	len = min_u64(min_u64(left, MB_RA_STEP), size - off);
	p = e->img->sb.data + off;
	if (!R.no_populate && madvise(p, (size_t)len, MADV_POPULATE_READ) != 0) {
		if (errno == EINVAL) {
			R.no_populate = true; /* before Linux 5.14: advised only */
		} else if (errno != EINTR && errno != EAGAIN) {
			/* EFAULT: a page cannot be read (I/O error, truncated) */
			atomic_fetch_add_explicit(&R.errors, 1, memory_order_relaxed);
			s->failed = true;
			return true;
		} else {
			return true; /* again on the next turn */
		}
	}
	atomic_fetch_add_explicit(&R.bytes, len, memory_order_relaxed);
	s->ahead += len;
	return true;
}

/* A turn of reading: up to RA_STEPS_PER_TURN steps of every stream.
 * Returns whether anything was read. */
static bool
work(uint64_t window)
{
	bool did = false;

	for (unsigned i = 0; i < MB_RA_IMAGES; i++) {
		struct ra_img *e = &R.img[i];

		if (e->img == NULL || e->img->size == 0)
			continue;
		for (unsigned j = 0; j < MB_RA_STREAMS; j++)
			for (unsigned k = 0; k < RA_STEPS_PER_TURN; k++) {
				if (atomic_load(&R.stop) || !step(e, &e->st[j], window))
					break;
				did = true;
			}
	}
	return did;
}

static void
nap(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)RA_TICK_NS;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&R.lock);
	if (!atomic_load(&R.stop))
		(void)pthread_cond_timedwait(&R.cond, &R.lock, &ts);
	pthread_mutex_unlock(&R.lock);
}

static void *
ra_main(void *arg)
{
	(void)arg;
	rcu_register_thread();
	while (!atomic_load(&R.stop)) {
		uint64_t now = now_ns(), window = atomic_load(&R.window);
		bool did;

		rcu_thread_online();
		sample(now, window);
		rcu_thread_offline();
		prune(now, window);
		did = work(window);
		if (!did)
			nap();
	}
	for (unsigned i = 0; i < MB_RA_IMAGES; i++)
		if (R.img[i].img != NULL)
			untrack(&R.img[i]);
	atomic_store(&R.images, 0);
	atomic_store(&R.streams, 0);
	atomic_store(&R.whole, 0);
	rcu_unregister_thread();
	return NULL;
}

int
mb_ra_start(uint64_t window)
{
	pthread_condattr_t ca;
	int rc;

	if (R.running)
		return -EALREADY;
	atomic_store(&R.stop, false);
	atomic_store(&R.window, window);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&R.cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&R.th, NULL, ra_main, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&R.cond);
		return -rc;
	}
	(void)pthread_setname_np(R.th, "mb-readahead");
	R.running = true;
	return 0;
}

void
mb_ra_set_window(uint64_t window)
{
	atomic_store(&R.window, window);
}

void
mb_ra_set_whole(uint64_t max)
{
	atomic_store(&R.whole_max, max);
}

void
mb_ra_stop(void)
{
	if (!R.running)
		return;
	pthread_mutex_lock(&R.lock);
	atomic_store(&R.stop, true);
	pthread_cond_signal(&R.cond);
	pthread_mutex_unlock(&R.lock);
	pthread_join(R.th, NULL);
	pthread_cond_destroy(&R.cond);
	R.running = false;
}

void
mb_ra_stats_read(struct mb_ra_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->window = atomic_load(&R.window);
	ret->pages_read = atomic_load(&R.pages_read);
	ret->pages_cached = atomic_load(&R.pages_cached);
	ret->bytes = atomic_load(&R.bytes);
	ret->streams_started = atomic_load(&R.started);
	ret->errors = atomic_load(&R.errors);
	ret->images = atomic_load(&R.images);
	ret->streams = atomic_load(&R.streams);
	ret->whole = atomic_load(&R.whole);
}
