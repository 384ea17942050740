# SPDX-License-Identifier: BSD-3-Clause
"""
Frisbee push measurements, used by the frisbee and scaling benchmarks with any server.

- receivers(): start receiver processes together and measure until the last one is done:
  goodput, frames at the peer, extra frames (resends, duplicates), server and machine CPU.
- saturated(): sender capacity, a requester that never backs off (fris-flood) and BLOCKs
  dropped at the peer's sink; frames at the sink over the window are the server's sustained
  rate on the same path and sink as the testpmd ceiling and the kernel UDP senders.
"""

import json
import os
import signal
import time

from . import loadgen
from .measure import Window, wait_traffic
from .procs import Proc
from .util import NS_R, BLOCK


def receivers(env, server_procs, cmds, size, timeout, outs, nrecv=None):
    """Start receivers (cmds, one process each) together; measure until the last finishes.

    outs: the files they write (checked for size; /dev/null is not); nrecv: logical receivers
    when one process is many (the load generator)."""
    nrecv = nrecv or len(cmds)
    w = Window(server_procs)
    t0 = time.monotonic()
    jouts = [os.path.join(env.work, 'recv-%d.json' % i) for i in range(len(cmds))]
    rs = [Proc(c, ns=NS_R, log_path=os.path.join(env.work, 'recv.log'),
               stdout=open(jo, 'w')) for c, jo in zip(cmds, jouts)]
    done = {}
    end = t0 + timeout
    while len(done) < len(rs) and time.monotonic() < end:
        for i, p in enumerate(rs):
            if i not in done and not p.alive():
                done[i] = time.monotonic() - t0
        time.sleep(0.01)
    r = w.close()
    failed = [i for i, p in enumerate(rs) if i not in done or p.rc != 0]
    for p in rs:
        p.stop(signal.SIGKILL, grace=1)
    r['receivers'] = nrecv
    r['receiver_processes'] = len(rs)
    if failed:
        r['error'] = '%d of %d receiver processes failed or timed out (first rc %s)' % (
            len(failed), len(rs), rs[failed[0]].rc)
        return r
    for o in outs:
        if o != '/dev/null' and os.path.exists(o) and os.path.getsize(o) != size:
            r['error'] = 'output %s has %d bytes, want %d' % (o, os.path.getsize(o), size)
    r['last_done_s'] = max(done.values())
    r['first_done_s'] = min(done.values())
    if len(rs) == 1 and nrecv > 1:
        try:
            j = json.load(open(jouts[0]))
            r['loadgen'] = {k: j.get(k) for k in ('max_seconds', 'mean_seconds',
                                                   'dup_blocks_total', 'drops', 'completed')}
        except (OSError, ValueError):
            pass
    r['goodput_gbps'] = size * 8 / r['last_done_s'] / 1e9
    r['aggregate_gbps'] = size * 8 * nrecv / r['last_done_s'] / 1e9
    r['receiver_cpu_s'] = sum(p.cpu() for p in rs)
    r['image_bytes'] = size
    # frames beyond one copy of the image (BLOCK granularity) were resends or duplicates
    r['extra_frames'] = r['peer_rx_frames'] - (size + BLOCK - 1) // BLOCK
    r['server_cpu_s_per_gb'] = r['proc_cpu_s'] / (size / 1e9)
    r['machine_cpu_s_per_gb'] = r['machine_cpu_s'] / (size * nrecv / 1e9)
    return r


def two_images(r, size):
    """Two different images at once: the aggregate is what the server pushed."""
    if 'error' not in r:
        r['aggregate_gbps'] = 2 * size * 8 / r['last_done_s'] / 1e9
    return r


def saturated(env, server_procs, group, port, dur, size):
    """Sender capacity: fris-flood asks for whole chunks round robin at SAT_RATE per second
    and never backs off; the sink drops every BLOCK-sized frame (small protocol replies pass)."""
    fl = None
    env.sink_on()
    try:
        fl = loadgen.start_flood(env, group, port, size, dur)
        if not wait_traffic(10):
            return {'error': 'no BLOCKs reached the sink'}
        time.sleep(0.5)
        w = Window(server_procs)
        time.sleep(dur)
        r = w.close()
        r['requests_per_s'] = loadgen.SAT_RATE
        r['block_gbps'] = r['peer_rx_pps'] * BLOCK * 8 / 1e9
        r['server_cpu_s_per_gb'] = r['proc_cpu_s'] / (r['peer_rx_frames'] * BLOCK / 1e9)
        return r
    finally:
        if fl:
            fl.stop()
        env.sink_off()


def fmt_sat(r):
    if 'error' in r:
        return 'ERROR ' + r['error']
    return '%.3f Mpps %.2f Gbit/s of BLOCKs, server %.2f cpu-s' % (
        r['peer_rx_pps'] / 1e6, r['block_gbps'], r['proc_cpu_s'])


def fmt_push(r):
    if 'error' in r:
        return 'ERROR ' + r['error']
    return '%.2fs %.2f Gbit/s wire %.3f Mpps srv %.2f cpu-s' % (
        r['last_done_s'], r['goodput_gbps'], r['peer_rx_pps'] / 1e6, r['proc_cpu_s'])
