/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Whole-file reads for small trusted-by-signature inputs (mb_file.h).  The
 * size comes from fstat of the open descriptor, so the bound is checked
 * before any allocation; a file that grows meanwhile is read only up to the
 * size seen.  No logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb_file.h"

int
mb_file_read_all(const char *path, uint64_t max, char **ret_buf, size_t *ret_len)
{
	struct stat st;
	size_t size, got = 0;
	char *buf;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1) {
		rc = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto err_close;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		*ret_len = (size_t)st.st_size;
		rc = -EFBIG;
		goto err_close;
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = -errno;
			goto err_free;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	(void)close(fd);
	buf[got] = '\0';
	*ret_buf = buf;
	*ret_len = got;
	return 0;

err_free:
	explicit_bzero(buf, got); /* it may be a private key */
	free(buf);
err_close:
	(void)close(fd);
	return rc;
}

int
mb_file_mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	struct stat st;
	char *s;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s", path);
	s = strrchr(buf, '/');
	if (s == NULL || s == buf)
		return 0;
	*s = '\0';
	for (char *q = buf + 1; *q != '\0'; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	if (mkdir(buf, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(buf, &st) == -1)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
