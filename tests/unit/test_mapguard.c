/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SIGBUS guard of file mappings (common/mb_mapguard.c) with real files
 * and a real truncation: a thread reading a guarded mapping of a file that
 * is truncated under it reads zeroes instead of dying, the region is marked
 * faulted at the first lost page and the eventfd is readable; a region no
 * longer guarded (and any other SIGBUS) still kills, as without the guard
 * (checked in a child process).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mb_mapguard.h"

#define LEN (64 * 4096)

static char path[64];

static uint8_t *
map_test_file(int *ret_fd)
{
	uint8_t buf[4096];
	uint8_t *m;
	int fd;

	snprintf(path, sizeof(path), "/tmp/mbt-mapguard-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (int i = 0; i < LEN / 4096; i++) {
		memset(buf, 0x40 + i, sizeof(buf));
		assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	}
	m = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(m != MAP_FAILED);
	*ret_fd = fd;
	return m;
}

static const volatile uint8_t *rd;
static unsigned zero_pages;

static void *
reader(void *arg)
{
	(void)arg;
	zero_pages = 0;
	for (int i = 0; i < LEN / 4096; i++) {
		uint8_t b = rd[i * 4096];

		if (b == 0)
			zero_pages++;
		else if (b != 0x40 + i)
			return (void *)1;
	}
	return NULL;
}

static void
test_truncated_reads_zeroes(void **state)
{
	int fd, efd, slot;
	uint8_t *m;
	uint64_t off = 0, v;
	pthread_t th;
	void *ret;
	struct pollfd p;

	(void)state;
	efd = mb_mapguard_init();
	assert_true(efd >= 0);
	m = map_test_file(&fd);
	slot = mb_mapguard_add(m, LEN);
	assert_true(slot >= 0);
	rd = m;
	/* Pages 0-9 stay in the file, the rest goes. */
	assert_int_equal(ftruncate(fd, 10 * 4096), 0);
	assert_int_equal(pthread_create(&th, NULL, reader, NULL), 0);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
	assert_int_equal(zero_pages, LEN / 4096 - 10);
	assert_true(mb_mapguard_faulted(slot, &off));
	assert_int_equal(off, 10 * 4096);
	assert_true(mb_mapguard_faults() >= 1);
	p = (struct pollfd){ .fd = efd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_true(mb_mapguard_init() == efd); /* the same eventfd */

	/* Unguarded: the fault kills, as it would without the guard. */
	mb_mapguard_remove(slot);
	assert_false(mb_mapguard_faulted(slot, NULL));
	(void)munmap(m, LEN);
	m = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(m != MAP_FAILED);
	{
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			signal(SIGBUS, SIG_DFL); /* cmocka's handler would report */
			(void)mb_mapguard_init();
			(void)*(const volatile uint8_t *)(m + 20 * 4096);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGBUS);
	}
	(void)munmap(m, LEN);
	close(fd);
	unlink(path);
	assert_int_equal(mb_mapguard_add(NULL, 10), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated_reads_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
