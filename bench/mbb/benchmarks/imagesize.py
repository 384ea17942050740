# SPDX-License-Identifier: BSD-3-Clause
"""
Image size, warm and cold: the engine (tests/dpdk/dp_serve on net_null, as in the cost
benchmark) pushing one image of 64 MiB .. 4 GiB (--quick: 64 and 256 MiB) held three ways:

- dpdk: in DPDK memory (the daemon's hugepage images; --no-huge memory here unless
  --hugepages), pushed at least twice and 4 GiB in all; up to 1 GiB (the process holds a
  second copy while loading);
- mmap-warm: a shared mapping of the file with every page in the page cache, pushed as often
  (the first pass maps the pages, one minor fault per 4 KiB);
- mmap-cold: the same mapping after the file's pages were dropped from the page cache
  (POSIX_FADV_DONTNEED on this file only; its resident share before the run is recorded),
  pushed once: every page comes from the disk through a major fault on the lcore.

Figures: BLOCKs per second over the sending window (wall: what bounds a cold image is the disk
and the faults, which the lcore's CPU time does not show), the lcore's CPU per BLOCK and its
share of the window. The file is removed afterwards.
"""

import os
import subprocess
import time

from ..measure import Series
from ..util import MiB, GiB
from .cost import engine_run, fmt

SIZES = [64 * MiB, 256 * MiB, GiB, 4 * GiB]
DPDK_MAX = GiB


def size_tag(size):
    return '%dG' % (size // GiB) if size >= GiB else '%dM' % (size // MiB)


def resident(path):
    """The share of the file's bytes in the page cache (fincore), or None."""
    try:
        out = subprocess.run(['fincore', '--bytes', '--noheadings', '--output', 'RES', path],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=30).stdout.split()
        return int(out[0]) / os.path.getsize(path)
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def drop_cache(path):
    """Drop the file's clean pages from the page cache (this file only). Twice: pages still
    in another CPU's LRU batches are skipped by the first call."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        for _ in range(2):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            time.sleep(0.2)
    finally:
        os.close(fd)


def warm_cache(path):
    with open(path, 'rb') as f:
        while f.read(16 * MiB):
            pass


def run(env, runs, dur):
    sizes = SIZES[:2] if env.quick else SIZES
    out = []
    path = os.path.join(env.work, 'size-image.raw')
    try:
        for size in sizes:
            tag = size_tag(size)
            env.make_file('size-image.raw', size)
            nruns = runs if size <= 256 * MiB else 1
            for mode in ('dpdk', 'mmap-warm', 'mmap-cold'):
                s = Series('imagesize-%s-%s' % (mode, tag), 'imagesize', 'imagesize', 'dp_serve',
                           False, port_type='net_null', mode=mode, images=1, image_bytes=size)
                out.append(s)
                if mode == 'dpdk' and size > DPDK_MAX:
                    s.unavailable('dpdk memory only up to %s here' % size_tag(DPDK_MAX))
                    continue

                def one(i, mode=mode, size=size):
                    if mode == 'mmap-cold':
                        drop_cache(path)
                    else:
                        warm_cache(path)
                    res0 = resident(path)
                    # warm: 4 GiB in all at least, a window long enough to time
                    passes = 1 if mode == 'mmap-cold' else max(2, 4 * GiB // size)
                    r = engine_run(env, path, 'net_null0', passes,
                                   'dpdk' if mode == 'dpdk' else 'mmap',
                                   'mbb-size-%d-%d' % (os.getpid(), i), timeout=900,
                                   mem_mb=(size // MiB + 512) if mode == 'dpdk' else 768,
                                   extra_env={'DP_SERVE_COLD': '1' if mode == 'mmap-cold'
                                              else '0'})
                    r['resident_before'] = res0
                    if r.get('frames_per_s'):
                        r['goodput_gbps'] = r['frames_per_s'] * 1024 * 8 / 1e9
                    return r
                s.repeat(nruns, one, fmt)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return out
