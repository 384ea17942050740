/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading a small regular file whole: the manifest, its signature and a PEM
 * key are each read with one bound, refused when they are not a regular file
 * or larger than the bound, and handed back in one malloc'd buffer.  Not for
 * images (the store maps or streams those).  And the directories leading to
 * a file the daemon creates (its control socket, its lock).  Library code:
 * never logs.
 */
#ifndef _MB_FILE_H_
#define _MB_FILE_H_

#include <stddef.h>
#include <stdint.h>

/*
 * Read the regular file `path` of at most `max` bytes.  On success returns 0,
 * *ret_buf is a new buffer the caller frees, holding *ret_len bytes followed
 * by a NUL (not counted), and *ret_len is the file's length (less only if the
 * file shrank while being read).  Otherwise returns -errno from
 * open/fstat/read, -EINVAL when `path` is not a regular file, -EFBIG when it
 * is larger than `max` (then *ret_len holds its size, *ret_buf is untouched),
 * or -ENOMEM.  May block on the file system; any thread.
 */
int mb_file_read_all(const char *path, uint64_t max, char **ret_buf, size_t *ret_len);

/*
 * Create, mode 0755, every missing directory on the way to the last
 * component of `path` (that component itself is not created), as
 * `mkdir -p "$(dirname path)"`.  Returns 0, -ENAMETOOLONG for a path of
 * PATH_MAX bytes or more, -ENOTDIR when something other than a directory
 * stands in the way, or -errno of the mkdir that failed.
 */
int mb_file_mkdir_parents(const char *path);

#endif /* _MB_FILE_H_ */
