#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Take one file's pages out of the page cache, also where a running process maps them:
    evict_pages.py PID FILE     -> prints the share of FILE still resident (0.0 .. 1.0)
    evict_pages.py - FILE       -> only prints that share

POSIX_FADV_DONTNEED alone skips pages a process has mapped (minibossd maps its mmap images
and verified them through the mapping, so every page is mapped), so first the ranges of
PID's mappings of FILE (/proc/PID/maps) are paged out with process_madvise(MADV_PAGEOUT)
(Linux 5.10, root), which unmaps and drops clean file pages; then the file's unmapped pages
are dropped with POSIX_FADV_DONTNEED.  Only this file's pages, never the machine's caches.
Exit 2 when the kernel has no process_madvise or pidfd_open (the caller skips).
"""
import ctypes
import errno
import mmap
import os
import sys
import time

SYS_PIDFD_OPEN = 434
SYS_PROCESS_MADVISE = 440
MADV_PAGEOUT = 21

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class Iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]


def mappings(pid, path):
    """(start, end) of PID's mappings of path."""
    real = os.path.realpath(path)
    st = os.stat(real)
    out = []
    with open('/proc/%d/maps' % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) < 6:
                continue
            dev_ino = int(parts[4])
            if dev_ino != st.st_ino or os.path.realpath(parts[5].strip()) != real:
                continue
            a, b = (int(x, 16) for x in parts[0].split('-'))
            out.append((a, b))
    return out


def pageout(pid, ranges):
    fd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), 'pidfd_open')
    try:
        for a, b in ranges:
            # process_madvise takes at most UIO_MAXIOV vectors and may advise less than
            # asked: go on from where it stopped
            while a < b:
                iov = Iovec(a, b - a)
                n = libc.syscall(SYS_PROCESS_MADVISE, fd, ctypes.byref(iov), 1, MADV_PAGEOUT, 0)
                if n < 0:
                    raise OSError(ctypes.get_errno(), 'process_madvise')
                if n == 0:
                    break
                a += n
    finally:
        os.close(fd)


def resident(path):
    """The share of path's pages in the page cache (mincore over a fresh mapping, which
    faults nothing in)."""
    size = os.path.getsize(path)
    if size == 0:
        return 0.0
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    fd = os.open(path, os.O_RDONLY)
    try:
        p = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if p is None or p == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), 'mmap')
    finally:
        os.close(fd)
    try:
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = ctypes.create_string_buffer(pages)
        if libc.mincore(p, size, vec) != 0:
            raise OSError(ctypes.get_errno(), 'mincore')
        return sum(b & 1 for b in vec.raw[:pages]) / pages
    finally:
        libc.munmap(p, size)


def main():
    pid, path = sys.argv[1], sys.argv[2]
    if pid != '-':
        try:
            pageout(int(pid), mappings(int(pid), path))
        except OSError as e:
            if e.errno in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
                print('no process_madvise here: %s' % e, file=sys.stderr)
                sys.exit(2)
            raise
        fd = os.open(path, os.O_RDONLY)
        try:
            # twice: pages still in another CPU's LRU batches are skipped by the first
            for _ in range(2):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                time.sleep(0.1)
        finally:
            os.close(fd)
    print('%.4f' % resident(path))


if __name__ == '__main__':
    main()
