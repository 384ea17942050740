/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's worker (control/ctl_worker.c) on the real control
 * loop: a file read into memory and hashed against its digest (match,
 * mismatch, a file shorter or longer than said), memory copied and the copy
 * hashed, a chain of works writing memory ranges to a file under one hash
 * then finishing it with an fsync (how sync streams a download), the same
 * with O_DIRECT (page cache bypassed, edges and misaligned memory not), works
 * served round robin so a short one is not stuck behind long ones, a write
 * to a full disk failing with -ENOSPC, cancel,
 * and a stop that completes every work exactly once.
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
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "ctl_worker.h"

#define MIB (1024u * 1024u)

static char dir[] = "/tmp/mbt-worker-XXXXXX";
static unsigned completions;
static struct mb_work *order[8];

static void
on_done(struct mb_work *w)
{
	if (completions < 8)
		order[completions] = w;
	completions++;
}

static uint8_t *
pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 13));
	return p;
}

static void
wait_for(unsigned n)
{
	for (int i = 0; i < 2000 && completions < n; i++)
		(void)mb_ctl_loop_run_once(10);
	assert_int_equal(completions, n);
}

/* Submits w (prepared, completion on_done) and waits until it completes. */
static void
run_one(struct mb_work *w)
{
	completions = 0;
	mb_worker_submit(w);
	wait_for(1);
}

/* A file of n bytes; its descriptor (read-only). */
static int
file_of(const char *name, const uint8_t *p, size_t n)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	return fd;
}

static void
work_prepare(struct mb_work *w, struct mb_hash *h)
{
	mb_work_init(w);
	assert_int_equal(mb_hash_init(h), 0);
	w->hash = h;
	w->done = on_done;
}

static void
test_file_into_memory(void **state)
{
	size_t n = 9 * MIB + 12345;
	uint8_t *p = pattern(n, 1), *dst = calloc(1, n), sha[MB_SHA256_LEN];
	struct mb_hash h;
	struct mb_work w;
	int fd = file_of("a", p, n);

	(void)state;
	assert_int_equal(mb_sha256(p, n, sha), 0);
	/* the right digest: the bytes land in memory */
	work_prepare(&w, &h);
	w.src_fd = fd;
	w.dst = dst;
	w.len = n;
	w.flags = MB_WORK_FINAL | MB_WORK_EXACT;
	memcpy(w.want, sha, sizeof(sha));
	completions = 0;
	mb_worker_submit(&w);
	assert_int_equal(mb_worker_pending(), 1);
	wait_for(1);
	assert_int_equal(w.rc, 0);
	assert_int_equal(w.moved, n);
	assert_memory_equal(dst, p, n);
	assert_memory_equal(w.got, sha, sizeof(sha));
	assert_int_equal(mb_worker_pending(), 0);
	mb_hash_done(&h);
	/* another digest: refused, naming the one found */
	work_prepare(&w, &h);
	w.src_fd = fd;
	w.len = n;
	w.flags = MB_WORK_FINAL;
	run_one(&w);
	assert_int_equal(w.rc, -EBADMSG);
	assert_non_null(strstr(w.err, "checksum mismatch (sha256 "));
	mb_hash_done(&h);
	/* the file is shorter than said */
	work_prepare(&w, &h);
	w.src_fd = fd;
	w.len = n + 1;
	w.flags = MB_WORK_FINAL;
	run_one(&w);
	assert_int_equal(w.rc, -ENODATA);
	mb_hash_done(&h);
	/* ... or longer */
	work_prepare(&w, &h);
	w.src_fd = fd;
	w.len = n - 1;
	w.flags = MB_WORK_FINAL | MB_WORK_EXACT;
	run_one(&w);
	assert_int_equal(w.rc, -EFBIG);
	mb_hash_done(&h);
	close(fd);
	free(p);
	free(dst);
}

static void
test_copy(void **state)
{
	size_t n = 5 * MIB + 1;
	uint8_t *p = pattern(n, 2), *dst = calloc(1, n), sha[MB_SHA256_LEN];
	struct mb_hash h;
	struct mb_work w;

	(void)state;
	assert_int_equal(mb_sha256(p, n, sha), 0);
	work_prepare(&w, &h);
	w.src = p;
	w.dst = dst;
	w.len = n;
	w.flags = MB_WORK_FINAL;
	memcpy(w.want, sha, sizeof(sha));
	run_one(&w);
	assert_int_equal(w.rc, 0);
	assert_memory_equal(dst, p, n);
	mb_hash_done(&h);
	free(p);
	free(dst);
}

/* One link of a chain: bytes [from, to) of p written to fd at offset from
 * (whole blocks through dfd, O_DIRECT, when dfd >= 0) and hashed into h;
 * the work succeeds and moves every byte. */
static void
chain_write(int fd, int dfd, const uint8_t *p, size_t from, size_t to, struct mb_hash *h)
{
	struct mb_work w;

	mb_work_init(&w);
	w.src = p + from;
	w.len = to - from;
	w.out_fd = fd;
	w.out_dfd = dfd;
	w.out_off = from;
	w.hash = h;
	w.done = on_done;
	run_one(&w);
	assert_int_equal(w.rc, 0);
	assert_int_equal(w.moved, to - from);
}

/* The chain's end: the digest of h matches sha and fd is fsynced. */
static void
chain_final(int fd, struct mb_hash *h, const uint8_t *sha)
{
	struct mb_work w;

	mb_work_init(&w);
	w.out_fd = fd;
	w.hash = h;
	w.done = on_done;
	w.flags = MB_WORK_FINAL | MB_WORK_FSYNC;
	memcpy(w.want, sha, sizeof(w.want));
	run_one(&w);
	assert_int_equal(w.rc, 0);
}

/* How sync streams: ranges of memory written to the file at their offsets
 * under one hash, one work at a time, then the digest and an fsync. */
static void
test_chain_to_file(void **state)
{
	size_t n = 6 * MIB + 777, cut[] = { 0, 1 * MIB, 5 * MIB + 3, n };
	uint8_t *p = pattern(n, 3), *back = malloc(n), sha[MB_SHA256_LEN];
	char path[128];
	struct mb_hash h;
	int fd;

	(void)state;
	assert_int_equal(mb_sha256(p, n, sha), 0);
	snprintf(path, sizeof(path), "%s/chain", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(mb_hash_init(&h), 0);
	for (int i = 0; i < 3; i++)
		chain_write(fd, -1, p, cut[i], cut[i + 1], &h);
	chain_final(fd, &h, sha);
	assert_int_equal(pread(fd, back, n, 0), (ssize_t)n);
	assert_memory_equal(back, p, n);
	mb_hash_done(&h);
	close(fd);
	free(p);
	free(back);
}

/* The same chain with an O_DIRECT descriptor: the bytes on file and the
 * digest are the same, with cuts that fall inside blocks; the whole blocks
 * bypass the page cache (not resident after the writes); memory that is not
 * aligned like the file goes through the page cache, still correct. */
static void
test_chain_direct(void **state)
{
	size_t n = 6 * MIB + 777, cut[] = { 0, 1 * MIB + 5, 5 * MIB + 3, n };
	uint8_t *pat = pattern(n + 1, 5), *back = malloc(n), sha[MB_SHA256_LEN];
	uint8_t *mem = NULL;
	char path[128];
	struct mb_hash h;
	unsigned char vec[1];
	void *map;
	int fd, dfd;

	(void)state;
	assert_int_equal(posix_memalign((void **)&mem, 4096, n + 1), 0);
	for (int misaligned = 0; misaligned < 2; misaligned++) {
		uint8_t *p = mem + misaligned;

		memcpy(p, pat, n);
		assert_int_equal(mb_sha256(p, n, sha), 0);
		snprintf(path, sizeof(path), "%s/direct%d", dir, misaligned);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		dfd = open(path, O_WRONLY | O_DIRECT);
		if (dfd < 0) {
			print_message("no O_DIRECT in %s (%s): the page cache path only\n", dir,
				      strerror(errno));
		}
		assert_int_equal(mb_hash_init(&h), 0);
		for (int i = 0; i < 3; i++)
			chain_write(fd, dfd, p, cut[i], cut[i + 1], &h);
		if (dfd >= 0) {
			/* a whole block in the middle went past the page cache, or
			 * through it when the memory was not aligned */
			map = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
			assert_true(map != MAP_FAILED);
			assert_int_equal(mincore((uint8_t *)map + 3 * MIB, 4096, vec), 0);
			assert_int_equal(vec[0] & 1, misaligned ? 1 : 0);
			munmap(map, n);
		}
		chain_final(fd, &h, sha);
		assert_int_equal(pread(fd, back, n, 0), (ssize_t)n);
		assert_memory_equal(back, pat, n);
		assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)n);
		mb_hash_done(&h);
		close(fd);
		if (dfd >= 0)
			close(dfd);
	}
	free(mem);
	free(pat);
	free(back);
}

/* A write to a full filesystem (/dev/full) fails with -ENOSPC, not a bare
 * -EIO: sync tells the operator to make room from it. */
static void
test_write_full_disk(void **state)
{
	uint8_t *p = pattern(64 * 1024, 5);
	struct mb_work w;
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);

	(void)state;
	if (fd < 0) {
		free(p);
		skip();
	}
	mb_work_init(&w);
	w.src = p;
	w.len = 64 * 1024;
	w.out_fd = fd;
	w.done = on_done;
	run_one(&w);
	assert_int_equal(w.rc, -ENOSPC);
	assert_non_null(strstr(w.err, "No space left"));
	close(fd);
	free(p);
}

/* A short work submitted behind two long ones completes first.  The long
 * ones hash 256 MiB of zero pages each (no memory to speak of), long enough
 * that the three are queued together on a loaded machine too. */
static void
test_round_robin(void **state)
{
	size_t n = 64 * MB_WORK_SLICE;
	uint8_t *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct mb_hash h[3];
	struct mb_work w[3];

	(void)state;
	assert_true(p != MAP_FAILED);
	completions = 0;
	for (int i = 0; i < 3; i++) {
		work_prepare(&w[i], &h[i]);
		w[i].src = p;
		w[i].len = i < 2 ? n : 1;
	}
	for (int i = 0; i < 3; i++)
		mb_worker_submit(&w[i]);
	wait_for(3);
	assert_ptr_equal(order[0], &w[2]);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(w[i].rc, 0);
		mb_hash_done(&h[i]);
	}
	munmap(p, n);
}

static void
test_cancel_and_stop(void **state)
{
	size_t n = 16 * MB_WORK_SLICE;
	uint8_t *p = pattern(n, 5);
	struct mb_hash h[3];
	struct mb_work w[3];

	(void)state;
	/* cancel: it stops at a slice boundary and still completes once */
	work_prepare(&w[0], &h[0]);
	w[0].src = p;
	w[0].len = n;
	completions = 0;
	mb_worker_submit(&w[0]);
	mb_worker_cancel(&w[0]);
	wait_for(1);
	assert_int_equal(w[0].rc, -ECANCELED);
	assert_true(w[0].moved < n);
	mb_hash_done(&h[0]);
	/* stop: every work completes on the spot, cancelled */
	completions = 0;
	for (int i = 0; i < 3; i++) {
		work_prepare(&w[i], &h[i]);
		w[i].src = p;
		w[i].len = n;
		mb_worker_submit(&w[i]);
	}
	mb_worker_stop();
	assert_int_equal(completions, 3);
	assert_int_equal(mb_worker_pending(), 0);
	for (int i = 0; i < 3; i++) {
		assert_false(w[i].busy);
		assert_true(w[i].rc == -ECANCELED || w[i].rc == 0);
		mb_hash_done(&h[i]);
	}
	/* with no worker a submit completes after the running handler */
	completions = 0;
	work_prepare(&w[0], &h[0]);
	w[0].src = p;
	w[0].len = 10;
	mb_worker_submit(&w[0]);
	assert_int_equal(completions, 0);
	(void)mb_ctl_loop_run_once(0);
	assert_int_equal(completions, 1);
	assert_int_equal(w[0].rc, -ECANCELED);
	mb_hash_done(&h[0]);
	assert_int_equal(mb_worker_start(), 0);
	free(p);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL || mb_ctl_loop_init() != 0)
		return -1;
	return mb_worker_start();
}

static int
teardown(void **state)
{
	char cmd[64];

	(void)state;
	mb_worker_stop();
	mb_ctl_loop_fini();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_into_memory), cmocka_unit_test(test_copy),
		cmocka_unit_test(test_chain_to_file),	 cmocka_unit_test(test_chain_direct),
		cmocka_unit_test(test_write_full_disk),
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_cancel_and_stop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
