/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The read-ahead thread for mmap images (common/mb_readahead.c) on real
 * files whose pages were dropped from the page cache, mapped as the store
 * maps them (read-only, private, over a zeroed reservation), published in
 * the real RCU image table.  The dataplane's part is played by storing
 * ra_hint as an lcore does.  Checked with mincore() on the file: a window
 * is read from the hinted position on and nothing far past it; a position
 * that moves on is followed; an image that fits the whole-image allowance
 * is read whole, and read again where the kernel reclaimed it; an image
 * nobody reads any more is let go; a file
 * truncated under the mapping makes the populate fail (counted), not a
 * SIGBUS.  The files lie in the build directory (tmpfs keeps its pages:
 * the test skips there).  Waits are polls bounded at 30 s; nothing timed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mb_image.h"
#include "mb_readahead.h"

#define MIB (1024ull * 1024)

struct fimg {
	char path[64];
	int fd;
	struct mb_image *img;
};

static void
release(struct mb_image *img)
{
	munmap(img->sb.data, img->sb.len);
	free(img);
}

/* A file of `mib` MiB (every page different), out of the page cache, and
 * an image over a mapping of it.  false when its pages cannot be dropped. */
static bool
fimg_make(struct fimg *f, const char *name, unsigned mib)
{
	static uint8_t buf[1 << 20];
	uint64_t len = mib * MIB;
	uint8_t *base;

	snprintf(f->path, sizeof(f->path), "mbt-ra-%s-%d", name, (int)getpid());
	f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(f->fd >= 0);
	for (unsigned m = 0; m < mib; m++) {
		for (unsigned p = 0; p < sizeof(buf); p += 8)
			*(uint64_t *)(buf + p) = (uint64_t)m * MIB + p;
		assert_int_equal(write(f->fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	}
	assert_int_equal(fsync(f->fd), 0);
	(void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
	base = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(base != MAP_FAILED);
	assert_true(mmap(base, len, PROT_READ, MAP_PRIVATE | MAP_FIXED, f->fd, 0) == base);
	f->img = calloc(1, sizeof(*f->img));
	assert_non_null(f->img);
	snprintf(f->img->name, sizeof(f->img->name), "ra/%s", name);
	f->img->size = len;
	f->img->mem = MB_IMAGE_MEM_MMAP;
	f->img->release = release;
	mb_image_init_buf(f->img, base, len, MB_SBUF_IOVA_NONE);
	return true;
}

static void
fimg_done(struct fimg *f)
{
	mb_image_unref(f->img); /* the creator's reference: unmapped and freed */
	close(f->fd);
	unlink(f->path);
}

/* Pages of [from, to) MiB of f's file in the page cache. */
static unsigned
resident(const struct fimg *f, uint64_t from, uint64_t to)
{
	static unsigned char vec[(64 * MIB) / 4096];
	uint64_t len = (to - from) * MIB;
	unsigned n = 0;
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, f->fd, (off_t)(from * MIB));

	assert_true(m != MAP_FAILED);
	assert_int_equal(mincore(m, len, vec), 0);
	for (uint64_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	munmap(m, len);
	return n;
}

static void
publish(struct fimg *a, struct fimg *b)
{
	struct mb_image_table *t = mb_image_table_alloc(2);

	assert_non_null(t);
	if (a != NULL)
		t->img[t->count++] = mb_image_ref(a->img);
	if (b != NULL)
		t->img[t->count++] = mb_image_ref(b->img);
	mb_image_table_sort(t);
	rcu_thread_offline(); /* the old table's grace period needs no reader of ours */
	mb_image_table_publish(t);
	rcu_thread_online();
}

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	rcu_thread_offline();
	nanosleep(&ts, NULL);
	rcu_thread_online();
}

static void
set_hint(struct fimg *f, uint64_t off)
{
	atomic_store(&f->img->ra_hint, off + 1);
}

/* Wait until the thread has populated `bytes` in all (30 s at most). */
static bool
wait_bytes(uint64_t bytes)
{
	struct mb_ra_stats st;

	for (unsigned i = 0; i < 3000; i++) {
		mb_ra_stats_read(&st);
		if (st.bytes >= bytes)
			return true;
		nap_ms(10);
	}
	return false;
}

static bool
cold(const struct fimg *f, unsigned mib)
{
	return resident(f, 0, mib) == 0;
}

static void
test_window_follows(void **state)
{
	struct fimg f;
	struct mb_ra_stats st;
	unsigned all = 8 * MIB / 4096;

	(void)state;
	fimg_make(&f, "win", 64);
	if (!cold(&f, 64)) {
		fimg_done(&f);
		skip(); /* a file system that keeps its pages (tmpfs) */
	}
	publish(&f, NULL);
	mb_ra_set_whole(0);
	assert_int_equal(mb_ra_start(8 * MIB), 0);
	assert_int_equal(mb_ra_start(8 * MIB), -EALREADY);

	/* a reader at 16 MiB: [16, 24) is read, [0, 8) and [40, 64) are not
	 * (the kernel's own read-around of a fault may add a few MiB on either
	 * side of the window, never 8 before nor 16 past it) */
	set_hint(&f, 16 * MIB);
	assert_true(wait_bytes(8 * MIB));
	assert_int_equal(resident(&f, 16, 24), all);
	assert_int_equal(resident(&f, 0, 8), 0);
	assert_int_equal(resident(&f, 40, 64), 0);
	mb_ra_stats_read(&st);
	assert_int_equal(st.images, 1);
	assert_int_equal(st.whole, 0);
	assert_int_equal(st.streams_started, 1);
	assert_true(st.pages_read > 0);
	/* what was counted was advised: the window, no more (kernel pages
	 * aside, which are no count of ours) */
	assert_int_equal(st.pages_read + st.pages_cached, 8 * MIB / 4096);
	assert_int_equal(st.errors, 0);

	/* the reader moves on to 30 MiB, past what was read (a sender faster
	 * than the disk): its stream follows, a step (4 MiB) ahead of it, where
	 * the reader's own faults are not reading: [34, 38) */
	set_hint(&f, 30 * MIB);
	assert_true(wait_bytes(12 * MIB));
	assert_int_equal(resident(&f, 34, 38), all / 2);
	mb_ra_stats_read(&st);
	assert_int_equal(st.streams_started, 1);

	/* nobody reads it: let go after 2 s (polled, 30 s at most) */
	for (unsigned i = 0; i < 3000; i++) {
		mb_ra_stats_read(&st);
		if (st.images == 0)
			break;
		nap_ms(10);
	}
	assert_int_equal(st.images, 0);
	mb_ra_stop();
	mb_ra_stop(); /* twice: harmless */
	publish(NULL, NULL);
	fimg_done(&f);
}

static void
test_whole_image(void **state)
{
	struct fimg f;
	struct mb_ra_stats st0, st;

	(void)state;
	fimg_make(&f, "whole", 24);
	if (!cold(&f, 24)) {
		fimg_done(&f);
		skip();
	}
	publish(&f, NULL);
	mb_ra_stats_read(&st0);
	mb_ra_set_whole(MB_RA_WHOLE_AUTO);
	assert_int_equal(mb_ra_start(4 * MIB), 0);
	/* active users and no position yet (a session that has not sent):
	 * read whole from the start */
	atomic_store(&f.img->active_users, 1);
	assert_true(wait_bytes(st0.bytes + 24 * MIB));
	assert_int_equal(resident(&f, 0, 24), 24 * MIB / 4096);
	mb_ra_stats_read(&st);
	assert_int_equal(st.whole, 1);

	/* the kernel reclaims the pages while the image is still followed (here:
	 * paged out, then dropped): the next reader position finds them gone
	 * and the image is read again from there */
	assert_int_equal(madvise(f.img->sb.data, 24 * MIB, MADV_PAGEOUT), 0);
	(void)posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED);
	assert_int_equal(resident(&f, 8, 24), 0);
	st0 = st;
	set_hint(&f, 8 * MIB);
	assert_true(wait_bytes(st0.bytes + 16 * MIB));
	assert_int_equal(resident(&f, 8, 24), 16 * MIB / 4096);
	mb_ra_stats_read(&st);
	assert_true(st.pages_read > st0.pages_read);
	atomic_store(&f.img->active_users, 0);
	mb_ra_stop();
	mb_ra_stats_read(&st);
	assert_int_equal(st.images, 0);
	publish(NULL, NULL);
	fimg_done(&f);
}

static void
test_truncated_file(void **state)
{
	struct fimg f;
	struct mb_ra_stats st0, st;

	(void)state;
	fimg_make(&f, "trunc", 16);
	publish(&f, NULL);
	/* the file loses its second half under the mapping: reading there
	 * would be a SIGBUS; the populate fails instead */
	assert_int_equal(ftruncate(f.fd, 4 * MIB), 0);
	mb_ra_stats_read(&st0);
	mb_ra_set_whole(0);
	assert_int_equal(mb_ra_start(8 * MIB), 0);
	set_hint(&f, 6 * MIB);
	for (unsigned i = 0; i < 3000; i++) {
		mb_ra_stats_read(&st);
		if (st.errors > st0.errors)
			break;
		nap_ms(10);
	}
	assert_true(st.errors > st0.errors);
	mb_ra_stop();
	publish(NULL, NULL);
	fimg_done(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_follows),
		cmocka_unit_test(test_whole_image),
		cmocka_unit_test(test_truncated_file),
	};
	int rc;

	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
