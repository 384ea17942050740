# SPDX-License-Identifier: BSD-3-Clause
"""
Scaling with image size: one image of 64 MiB .. 4 GiB (--quick: 64 and 256 MiB) pushed to one
receiver (the load generator) by frisbeed and by minibossd (net_af_packet, a fresh daemon holding
only that image): goodput, server CPU per GB and the server's memory after the push (and for
minibossd what its store reports). One run per point (a 4 GiB push takes half a minute); the
image file is removed afterwards.
"""

import os
import time

from .. import loadgen, push
from ..measure import Series
from ..peers import frisbee as stock
from ..peers.minibossd import Miniboss
from ..procs import proc_mem
from ..util import FRIS_PORT, MCAST, MiB, GiB, NotAvailable

SIZES = [64 * MiB, 256 * MiB, GiB, 4 * GiB]


def size_tag(size):
    return '%dG' % (size // GiB) if size >= GiB else '%dM' % (size // MiB)


def run(env, runs, dur):
    sizes = SIZES[:2] if env.quick else SIZES
    out = []
    try:
        for size in sizes:
            tag = size_tag(size)
            img = env.make_file('scale-image.raw', size)
            tmo = int(30 + size * 8 / 0.2e9)    # even at 0.2 Gbit/s
            out.append(frisbeed_point(env, tag, img, size, tmo))
            out.append(miniboss_point(env, tag, img, size, tmo))
    finally:
        p = os.path.join(env.work, 'scale-image.raw')
        if os.path.exists(p):
            os.unlink(p)
    return out


def point_series(name, server, port_type, size):
    return Series(name, 'scaling', 'scaling', server, server != 'minibossd',
                  client='mb-fris-loadgen', port_type=port_type, receivers=1, images=1,
                  image_bytes=size, rate='unpaced' if server == 'minibossd' else None)


def frisbeed_point(env, tag, img, size, tmo):
    s = point_series('scaling-frisbeed-%s' % tag, 'frisbeed', 'kernel', size)

    def one(i):
        port = FRIS_PORT + 50
        cmd = loadgen.loadgen_cmd(env, 1, MCAST, port, tmo)
        srv = stock.start_frisbeed(env, img, port)
        try:
            time.sleep(0.3)
            r = push.receivers(env, [srv], [cmd], size, tmo + 10, ['/dev/null'], nrecv=1)
            m = proc_mem(srv.pid)
        finally:
            srv.stop()
        r['server_rss_bytes'] = m.get('VmRSS')
        r['server_hwm_bytes'] = m.get('VmHWM')
        return r
    return s.repeat(1, one, fmt)


def fmt(r):
    line = '%s, RSS %.1f MiB' % (push.fmt_push(r), (r.get('server_rss_bytes') or 0) / MiB)
    if 'store_mem' in r:
        line += ', store %s' % r['store_mem']
    return line


def miniboss_point(env, tag, img, size, tmo):
    s = point_series('scaling-miniboss-%s' % tag, 'minibossd', 'af_packet', size)
    mb = None
    try:
        mb = Miniboss(env)
        mb.start({'image': img})
        # what Miniboss.start asks EAL for (eal_mem caps it at 1024 with --no-huge)
        s['eal_memory_mb'] = (1024 + size // MiB if env.args.hugepages else 1024)
        grp = mb.open_session('image')

        def one(i):
            cmd = loadgen.loadgen_cmd(env, 1, grp[0], grp[1], tmo)
            r = push.receivers(env, [mb.proc], [cmd], size, tmo + 10, ['/dev/null'], nrecv=1)
            m = proc_mem(mb.proc.pid)
            r['server_rss_bytes'] = m.get('VmRSS')
            r['server_hwm_bytes'] = m.get('VmHWM')
            r['rss_anon_bytes'] = m.get('RssAnon')
            r['rss_file_bytes'] = m.get('RssFile')
            r['rss_shmem_bytes'] = m.get('RssShmem')
            store = mb.store()
            if store is not None:
                cache = store.get('cache') or {}
                r['store_mem'] = store.get('mem')
                r['store_hugepage_bytes'] = store.get('hugepage-bytes')
                r['store_budget_bytes'] = store.get('hugepage-budget')
                r['store_cache_used_bytes'] = cache.get('used')
                r['store_cache_committed_bytes'] = cache.get('committed')
            return r
        s.repeat(1, one, fmt, why=mb.tail)
    except NotAvailable as e:
        s.unavailable(str(e))
    finally:
        if mb is not None:
            mb.stop()
    return s

