#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
bench/fris-pair.py: one minibossd push figure pair, cheaply and repeatedly, with the numbers
that split it.

It builds the path bench/run builds (MBB_NETNS names the namespaces), starts minibossd on
net_af_packet with a rate profile (unpaced, as the push figures) and runs the load generator
with each receiver count given, alternating (x1, x16, x1, x16, ...), --runs times. Per run it
prints and keeps (JSON on stdout at the end):

- last_done_s: until the load generator exits (bench/run's figure), and the ratio of each
  count's median to the first count's;
- send efficiency: BLOCK frames at the receivers' interface / the image's blocks (1.0 = each
  block sent once), the server's session counters before/after (minibossctl --json sessions);
- the load generator's own report: per-receiver seconds, duplicate blocks, idle timeouts,
  requests; its CPU seconds (one process: near the wall time means it is the bottleneck);
- UDP drops in the receivers' namespace (/proc/net/snmp RcvbufErrors, InErrors).

Usage: bench/fris-pair.py [--runs 3] [--size-mib 256] [--counts 1,16] [--rate unpaced]
                          [--lg-args "more mb-fris-loadgen options"]
Needs root and a build directory as bench/run does (--build-dir, else build-bench, build).
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mbb import procs, push  # noqa: E402
from mbb.benchmarks.frisbee import mb_cmds  # noqa: E402
from mbb.env import Env  # noqa: E402
from mbb.peers.minibossd import Miniboss  # noqa: E402
from mbb.util import NS_R, BLOCK, MiB, log, sh  # noqa: E402


def snmp_udp(ns=NS_R):
    """The Udp: line of /proc/net/snmp in namespace ns, as a dict."""
    lines = [ln.split() for ln in sh(['cat', '/proc/net/snmp'], ns=ns).splitlines()
             if ln.startswith('Udp:')]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def session_counters(mb):
    """The numeric fields of the dataplane session(s) of 'image' (summed), from minibossctl."""
    s = mb.json('sessions')
    out = {}
    for x in (s or {}).get('dataplane') or []:
        if x.get('image') != 'image':
            continue
        out['rate-control'] = x.get('rate-control')
        out['pacing-bps'] = x.get('pacing-bps')
        stack = [('', x)]
        while stack:
            pre, o = stack.pop()
            for k, v in o.items():
                if isinstance(v, dict):
                    stack.append((pre + k + '.', v))
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    out[pre + k] = out.get(pre + k, 0) + v
    return out


def one_run(env, mb, n, size, lg_args):
    lg = os.path.join(env.work, 'recv-0.json')
    outs = ['/dev/null'] * n
    cmds = [mb_cmds(env, mb, n, outs, 'loadgen')[0] + lg_args]
    u0, s0 = snmp_udp(), session_counters(mb)
    r = push.receivers(env, [mb.proc], cmds, size, 120, outs, nrecv=n)
    u1, s1 = snmp_udp(), session_counters(mb)
    r['udp'] = {k: u1[k] - u0.get(k, 0) for k in u1 if u1[k] != u0.get(k, 0)}
    r['session_delta'] = {k: s1[k] - s0.get(k, 0) for k in s1
                          if isinstance(s1[k], int) and s1[k] != s0.get(k, 0) and
                          k not in ('rate-bps', 'pacing-bps', 'queue-depth')}
    r['rate_control'] = '%s, pacing %s bit/s' % (s1.get('rate-control'), s1.get('pacing-bps'))
    nblocks = (size + 1023) // 1024
    r['send_efficiency'] = r['peer_rx_frames'] / nblocks
    try:
        j = json.load(open(lg))
        per = j.get('per_receiver') or []
        r['lg'] = {k: j.get(k) for k in ('max_seconds', 'mean_seconds', 'wall_seconds',
                                         'dup_blocks_total', 'drops', 'blocks_received',
                                         'idle_timeouts_total', 'igmp_rejoins')}
        secs = [p['seconds'] for p in per]
        r['lg']['min_seconds'] = min(secs) if secs else None
        r['lg']['requests'] = sum(p['requests'] for p in per)
        r['lg']['prequests'] = sum(p['prequests'] for p in per)
        for k in ('cpu_user_s', 'cpu_sys_s', 'rcvbuf_bytes', 'last_joined_s', 'first_block_s',
                  'last_block_s', 'block_gaps', 'block_gap_seconds'):
            if k in j:
                r['lg'][k] = j[k]
    except (OSError, ValueError, KeyError):
        pass
    return r


def fmt(n, r):
    if 'error' in r:
        return 'x%d ERROR %s' % (n, r['error'])
    lg = {k: -1 if v is None else v for k, v in r.get('lg', {}).items()}
    parts = ['x%-3d %.2fs (%s)' % (n, r['last_done_s'], r['rate_control']),
             'joined %.2f' % (lg.get('last_joined_s', -1)),
             'blocks %.2f..%.2f' % (lg.get('first_block_s', -1), lg.get('last_block_s', -1)),
             'gaps %s/%.2fs' % (lg.get('block_gaps'), lg.get('block_gap_seconds', -1)),
             'eff %.3f frames %d' % (r['send_efficiency'], r['peer_rx_frames']),
             'lg-cpu %.2fs (user %.2f sys %.2f)' % (r['receiver_cpu_s'], lg.get('cpu_user_s', -1),
                                                   lg.get('cpu_sys_s', -1)),
             'udp %s' % r['udp'],
             'lg: dup %s tmo %s req %s preq %s' % (lg.get('dup_blocks_total'),
                                                  lg.get('idle_timeouts_total'),
                                                  lg.get('requests'), lg.get('prequests')),
             'min/max %.2f/%.2f' % (lg.get('min_seconds', -1), lg.get('max_seconds', -1)),
             'srv-cpu %.2fs' % r['proc_cpu_s'],
             'sess %s' % r['session_delta']]
    return ' '.join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[1])
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--size-mib', type=int, default=256)
    ap.add_argument('--counts', default='1,16')
    ap.add_argument('--rate', default='unpaced', choices=('unpaced', 'default', 'dynamic'))
    ap.add_argument('--build-dir', default=None)
    ap.add_argument('--lg-args', default='',
                    help='more mb-fris-loadgen options, after the benchmarks\' ones (they win): '
                         'e.g. "-a 1 -B 4", the receivers as the benchmarks ran them before')
    args = ap.parse_args()
    args.quick = False
    args.hugepages = False
    counts = [int(x) for x in args.counts.split(',')]
    if os.geteuid() != 0:
        print('needs root', file=sys.stderr)
        return 77
    env = Env(args)
    res = {c: [] for c in counts}
    try:
        env.prepare_helpers()
        env.setup_net()
        size = args.size_mib * MiB
        img = env.make_file('image.raw', size)
        mb = Miniboss(env, rate=args.rate)
        mb.start({'image': img})
        mb.start_session('image')
        for i in range(args.runs):
            for n in counts:
                r = one_run(env, mb, n, size, args.lg_args.split())
                res[n].append(r)
                log('run %d %s' % (i, fmt(n, r)))
                time.sleep(0.5)
        mb.stop()
    finally:
        procs.kill_all()
        env.teardown()
    base = [r['last_done_s'] for r in res[counts[0]] if 'last_done_s' in r]
    summary = {}
    for n in counts:
        t = [r['last_done_s'] for r in res[n] if 'last_done_s' in r]
        if not t or not base:
            continue
        summary['x%d' % n] = {'min': min(t), 'median': statistics.median(t), 'max': max(t),
                              'ratio_median': statistics.median(t) / statistics.median(base)}
        log('x%d: last_done_s min/median/max %.2f/%.2f/%.2f; median / x%d median %.2f' % (
            n, min(t), statistics.median(t), max(t), counts[0],
            summary['x%d' % n]['ratio_median']))
    print(json.dumps({'lg_args': args.lg_args, 'summary': summary,
                      'runs': {str(k): v for k, v in res.items()}, 'block_bytes': BLOCK},
                     indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
