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
- mmap-cold-ra: cold as above, with the daemon's read-ahead thread (common/mb_readahead.c,
  DP_SERVE_READAHEAD = images.readahead's default) reading the file in ahead of the lcore, as
  minibossd does for its mmap images;
- mmap-cold-noka, mmap-cold-noka-ra: both again with the kernel's read-around on a fault
  turned off for the mapping (MADV_RANDOM), as on a disk whose read_ahead_kb is small or for
  a reader that jumps about: each fault on the lcore then reads one 4 KiB page (this machine's
  disk has read_ahead_kb = 8192, which makes plain mmap-cold a best case); up to 1 GiB;
- disk-direct, disk-buffered: what the disk gives for the same file, cold: dd with 4 MiB
  O_DIRECT reads, and with reads through the page cache (the kernel's read-ahead); what bounds
  a cold image once the lcore no longer faults.

Figures: BLOCKs per second over the sending window (wall: what bounds a cold image is the disk
and the faults, which the lcore's CPU time does not show), the lcore's CPU per BLOCK and its
share of the window, the lcore thread's major faults and the pages the read-ahead read in.
The file is removed afterwards.
"""

import os
import re
import subprocess
import time

from ..measure import Series
from ..util import MiB, GiB
from .cost import engine_run, fmt

SIZES = [64 * MiB, 256 * MiB, GiB, 4 * GiB]
DPDK_MAX = GiB
RA_WINDOW = 256 * MiB  # images.readahead's default
MODES = ('dpdk', 'mmap-warm', 'mmap-cold', 'mmap-cold-ra', 'mmap-cold-noka',
         'mmap-cold-noka-ra', 'disk-direct', 'disk-buffered')
NOKA_MAX = GiB  # 4 KiB per fault: minutes for more


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


def disk_read(path, direct):
    """Read the whole file cold with dd (4 MiB reads, O_DIRECT or through the page cache);
    the rate as the imagesize figures have it."""
    drop_cache(path)
    res0 = resident(path)
    cmd = ['dd', 'if=' + path, 'of=/dev/null', 'bs=4M'] + (['iflag=direct'] if direct else [])
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=900)
    wall = time.monotonic() - t0
    m = re.search(r'^(\d+) bytes', p.stderr, re.M)
    if p.returncode != 0 or not m:
        return {'error': 'dd rc %d: %s' % (p.returncode, p.stderr.strip()[-200:])}
    nbytes = int(m.group(1))
    return {'goodput_gbps': nbytes * 8 / wall / 1e9, 'frames_per_s': nbytes / 1024 / wall,
            'resident_before': res0, 'load_avg_1m': os.getloadavg()[0]}


def fmt_disk(r):
    if 'error' in r:
        return 'ERROR ' + r['error']
    return '%.2f Gbit/s read, load %.1f' % (r['goodput_gbps'], r['load_avg_1m'])


def run(env, runs, dur):
    sizes = SIZES[:2] if env.quick else SIZES
    out = []
    path = os.path.join(env.work, 'size-image.raw')
    try:
        for size in sizes:
            tag = size_tag(size)
            env.make_file('size-image.raw', size)
            nruns = runs if size <= 256 * MiB else 1
            for mode in MODES:
                s = Series('imagesize-%s-%s' % (mode, tag), 'imagesize', 'imagesize', 'dp_serve',
                           False, port_type='net_null', mode=mode, images=1, image_bytes=size)
                out.append(s)
                if mode == 'dpdk' and size > DPDK_MAX:
                    s.unavailable('dpdk memory only up to %s here' % size_tag(DPDK_MAX))
                    continue
                if mode.startswith('mmap-cold-noka') and size > NOKA_MAX:
                    s.unavailable('4 KiB faults only up to %s' % size_tag(NOKA_MAX))
                    continue
                if mode.startswith('disk-'):
                    s.repeat(nruns, lambda i, d=(mode == 'disk-direct'): disk_read(path, d),
                             fmt_disk)
                    continue

                def one(i, mode=mode, size=size):
                    cold = mode.startswith('mmap-cold')
                    if cold:
                        drop_cache(path)
                    else:
                        warm_cache(path)
                    res0 = resident(path)
                    # warm: 4 GiB in all at least, a window long enough to time
                    passes = 1 if cold else max(2, 4 * GiB // size)
                    xenv = {'DP_SERVE_COLD': '1' if cold else '0'}
                    if mode.endswith('-ra'):
                        xenv['DP_SERVE_READAHEAD'] = str(RA_WINDOW)
                    if mode.startswith('mmap-cold-noka'):
                        xenv['DP_SERVE_MADV'] = 'random'
                    r = engine_run(env, path, 'net_null0', passes,
                                   'dpdk' if mode == 'dpdk' else 'mmap',
                                   'mbb-size-%d-%d' % (os.getpid(), i), timeout=900,
                                   mem_mb=(size // MiB + 512) if mode == 'dpdk' else 768,
                                   extra_env=xenv)
                    r['resident_before'] = res0
                    if r.get('frames_per_s'):
                        r['goodput_gbps'] = r['frames_per_s'] * 1024 * 8 / 1e9
                    return r
                s.repeat(nruns, one, fmt)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return out
