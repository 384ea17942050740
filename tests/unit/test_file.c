/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * common/mb_file.c on a real temporary directory: mb_file_mkdir_parents
 * creates the missing directories leading to a path and not its last
 * component, accepts what exists, and reports a file in the way, a name
 * too long and a bare file name; mb_file_read_all reads a small file whole
 * and refuses one above its bound and a directory.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mb_file.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mbt-file.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
test_mkdir_parents(void **state)
{
	char p[256], q[256];
	struct stat st;
	FILE *f;

	(void)state;
	snprintf(p, sizeof(p), "%s/a/b/c/sock", dir);
	assert_int_equal(mb_file_mkdir_parents(p), 0);
	snprintf(q, sizeof(q), "%s/a/b/c", dir);
	assert_true(is_dir(q));
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(st.st_mode & 0777 & ~0755, 0);
	/* the last component is the caller's */
	assert_int_equal(access(p, F_OK), -1);
	/* all of it there already */
	assert_int_equal(mb_file_mkdir_parents(p), 0);
	/* a doubled slash, a trailing one (the directory itself is made) */
	snprintf(p, sizeof(p), "%s/a//d/e/", dir);
	assert_int_equal(mb_file_mkdir_parents(p), 0);
	snprintf(q, sizeof(q), "%s/a/d/e", dir);
	assert_true(is_dir(q));
	/* no directory part, or only the root */
	assert_int_equal(mb_file_mkdir_parents("sock"), 0);
	assert_int_equal(mb_file_mkdir_parents("/sock"), 0);
	/* a file where a directory should be */
	snprintf(p, sizeof(p), "%s/file", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/file/x/sock", dir);
	assert_int_equal(mb_file_mkdir_parents(p), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/file/sock", dir);
	assert_int_equal(mb_file_mkdir_parents(p), -ENOTDIR);
}

static void
test_mkdir_parents_too_long(void **state)
{
	char *p = malloc(PATH_MAX + 16);

	(void)state;
	assert_non_null(p);
	memset(p, 'a', PATH_MAX + 8);
	p[0] = '/';
	p[PATH_MAX + 8] = '\0';
	assert_int_equal(mb_file_mkdir_parents(p), -ENAMETOOLONG);
	free(p);
}

static void
test_read_all(void **state)
{
	char p[256], *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	snprintf(p, sizeof(p), "%s/small", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("hello\n", f);
	fclose(f);
	assert_int_equal(mb_file_read_all(p, 6, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "hello\n");
	free(buf);
	buf = NULL;
	assert_int_equal(mb_file_read_all(p, 5, &buf, &len), -EFBIG);
	assert_int_equal(len, 6);
	assert_null(buf);
	assert_int_equal(mb_file_read_all(dir, 4096, &buf, &len), -EINVAL);
	snprintf(p, sizeof(p), "%s/missing", dir);
	assert_int_equal(mb_file_read_all(p, 4096, &buf, &len), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mkdir_parents, setup, teardown),
	    cmocka_unit_test(test_mkdir_parents_too_long),
	    cmocka_unit_test_setup_teardown(test_read_all, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
