# SPDX-License-Identifier: BSD-3-Clause
"""
Several lcores (dpdk.workers): the Frisbee engine alone on net_null, whose TX frees every frame
at once, so what is measured is the engine's own cost of building and handing over BLOCKs. The
build's tests/dpdk/dp_serve pushes one image per session, unrequested (DP_SERVE_PUSH), with
1 worker and 1 session, then 2 workers and 2 sessions (the dataplane puts one on each; each
session has its own copy of the image). net_null has as many queues as asked and RSS, so each
worker has its own TX and RX queue. Figures: BLOCKs/s of all sessions over the wall time
BLOCKs flowed (sampled every 100 ms), and the workers' CPU time per BLOCK.

The same on a multi-queue virtual port: net_af_packet over the bench's veth with one queue
pair per worker (qpairs=N), counted at the peer's sink over the usual window (frames/s there,
and the dp_serve process's CPU time per frame delivered, the kernel's send path included). The 2-worker
figure can only reach 2x when the machine gives each worker a CPU of its own: the run notes
the machine's load average next to it, and runs the two settings alternately (run i of each
back to back) so that a ratio pairs figures taken under the same load. The CPU time per BLOCK
does not depend on the load as much: equal with 1 and 2 workers means the engine itself
scales (nothing shared costs more), whatever the machine lets the rate be.
"""

import os
import subprocess
import time

from ..measure import Series, Window, wait_traffic
from ..procs import Proc
from ..util import ADDR_S, FRIS_PORT, IF_S, NS_S, log, tail

IMAGE_BYTES = 64 << 20
PASSES = {False: 24, True: 8}  # full, quick


def fmt(r):
    if 'error' in r:
        return r['error']
    return '%.3f M BLOCKs/s, %.1f ns/BLOCK (load %.1f)' % (
        r['blocks_per_s'] / 1e6, r['ns_per_block'], r['loadavg'])


def one_run(env, exe, path, workers, passes, i):
    ncpu = os.cpu_count() or 1
    eal = env.eal_mem(1024) + [
        '--no-pci', '--file-prefix=mbb-lcores-%d-%d' % (os.getpid(), i),
        '--lcores', '(0-%d)@(0-%d)' % (workers, ncpu - 1), '--vdev=net_null0',
        '--log-level=*:warning']
    e = dict(os.environ, DP_SERVE_WORKERS=str(workers), DP_SERVE_SESSIONS=str(workers),
             DP_SERVE_PUSH=str(passes))
    load0 = os.getloadavg()[0]
    p = subprocess.run([exe] + eal + ['--', '10.77.0.1/24', path, '239.77.0.1', '7000', '0',
                                      '1', '120'], env=e, capture_output=True, text=True,
                       timeout=300)
    vals = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(' ')
        vals[k] = v
    if p.returncode != 0 or 'rate.blocks_per_sec' not in vals:
        return {'error': 'dp_serve exit %d: %s' % (p.returncode, (p.stderr or '')[-300:])}
    blocks = int(vals.get('session.blocks', '0'))
    want = passes * workers * ((IMAGE_BYTES + 1023) // 1024)
    if blocks != want:
        return {'error': 'sent %d BLOCKs, expected %d' % (blocks, want)}
    return {'blocks_per_s': float(vals['rate.blocks_per_sec']),
            'ns_per_block': float(vals['lcore.ns_per_block']),
            'blocks': blocks, 'workers': workers,
            'worker_tx': [int(vals.get('worker.%d.tx_pkts' % w, '0')) for w in range(workers)],
            'loadavg': max(load0, os.getloadavg()[0])}


def af_packet_run(env, exe, path, workers, dur, i):
    ncpu = os.cpu_count() or 1
    eal = env.eal_mem(1024) + [
        '--no-pci', '--file-prefix=mbb-lcaf-%d-%d' % (os.getpid(), i),
        '--lcores', '(0-%d)@(0-%d)' % (workers, ncpu - 1),
        '--vdev=net_af_packet0,iface=%s,qpairs=%d' % (IF_S, workers), '--log-level=*:warning']
    e = dict(os.environ, DP_SERVE_WORKERS=str(workers), DP_SERVE_SESSIONS=str(workers),
             DP_SERVE_PUSH='1000')
    lp = os.path.join(env.work, 'lcores-af_packet-w%d-%d.log' % (workers, i))
    load0 = os.getloadavg()[0]
    p = Proc([exe] + eal + ['--', ADDR_S + '/24', path, '239.77.0.1', str(FRIS_PORT), '0', '1',
                            str(int(dur) + 6)], ns=NS_S, log_path=lp, env=e)
    try:
        if not wait_traffic(15):
            return {'error': 'no traffic: ' + tail(lp, 300)}
        time.sleep(0.5)
        w = Window([p])
        time.sleep(dur)
        r = w.close()
    finally:
        # it stops its sessions after dur + 6 s and exits (EAL cleaned up);
        # a signal only if it does not
        if p.wait(20) is None:
            p.stop(grace=5)
    r['blocks_per_s'] = r['peer_rx_pps']
    r['ns_per_block'] = r['proc_cpu_s'] * 1e9 / max(r['peer_rx_frames'], 1)
    r['loadavg'] = max(load0, os.getloadavg()[0])
    r['workers'] = workers
    return r


def run(env, runs, dur):
    exe = env.bin_in_build('tests/dpdk/dp_serve')
    series = [Series('lcores-null-w%d' % w, 'lcores', 'lcores', 'minibossd', False,
                     port_type='null', mode='push', images=w, image_bytes=IMAGE_BYTES,
                     params={'workers': w}) for w in (1, 2)]
    series += [Series('lcores-af_packet-w%d' % w, 'lcores', 'lcores', 'minibossd', False,
                      port_type='af_packet', mode='push', images=w, image_bytes=IMAGE_BYTES,
                      params={'workers': w}) for w in (1, 2)]
    if exe is None:
        for s in series:
            s.unavailable('tests/dpdk/dp_serve is not built')
        return series
    if (os.cpu_count() or 1) < 2:
        series[1].unavailable('one CPU: 2 workers cannot run side by side')
        series[3].unavailable('one CPU: 2 workers cannot run side by side')
    path = env.make_file('lcores.img', IMAGE_BYTES)
    passes = PASSES[env.args.quick]
    live = [s for s in series[:2] if not s.not_available]
    for i in range(runs):
        for s in live:
            if s.error:
                continue
            w = s.params['workers']
            log('lcores: %d worker(s), %d sessions, %d passes each' % (w, w, passes))
            s.repeat(1, lambda _, w=w, i=i: one_run(env, exe, path, w, passes, i), fmt)
    live = [s for s in series[2:] if not s.not_available]
    sink = env.sink_on()
    try:
        for i in range(runs):
            for s in live:
                if s.error:
                    continue
                s['sink'] = sink
                w = s.params['workers']
                log('lcores: af_packet, %d worker(s), %d queue pair(s)' % (w, w))
                s.repeat(1, lambda _, w=w, i=i: af_packet_run(env, exe, path, w, dur, i), fmt)
    finally:
        env.sink_off()
    return series
