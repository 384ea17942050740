# SPDX-License-Identifier: BSD-3-Clause
"""
The net_af_xdp send path alone, for work on it (not part of a full run: `--only xdp`).

Per run, back to back: dpdk-testpmd txonly on net_af_xdp (as the ceiling's testpmd-af_xdp)
and minibossd's sender capacity on net_af_xdp (fris-flood against an unpaced daemon, as the
frisbee benchmark's miniboss-af_xdp-saturated), so that "push on af_xdp vs testpmd af_xdp"
pairs figures taken under the same load; on a shared machine the load moves more between
benchmarks minutes apart than between these two. The two cannot run at once (one XDP program
per interface): the daemon is started for each of its runs and stopped before testpmd's next.

MBB_XDP_B=DIR adds a third series, miniboss-af_xdp-saturated-b, from the minibossd of build
directory DIR in the same alternation (an A/B of a change); MBB_XDP_B_SET="key=value ..."
changes keys of that daemon's configuration file (keys the harness writes, e.g.
idle-sleep-us=0; with MBB_XDP_B naming this build, an A/B of a setting).
MBB_XDP_PERF=FILE records `perf record -g` of each sender (testpmd, the daemon: all its
threads) over its window into FILE.<series>.<run>, and `perf stat` of the same with its
sendto and clock_nanosleep calls into FILE.<series>.<run>.stat.
"""

import contextlib
import os
import re
import signal
import subprocess
import time

from .. import push
from ..measure import Series, Window, wait_traffic
from ..peers import testpmd
from ..peers.minibossd import Miniboss
from ..util import IF_R, IF_S, NS_R, NS_S, MiB, NotAvailable, log, sh, tail
from .ceiling import fmt as fmt_tp


def _perf(env, pid, base, dur):
    """perf record -g and perf stat of pid for about dur seconds, in the background."""
    if not base or not pid:
        return []
    # the VM has no hardware counters; the system calls say sends per burst and naps
    ev = ('task-clock,context-switches,syscalls:sys_enter_sendto,'
          'syscalls:sys_enter_clock_nanosleep,syscalls:sys_enter_poll')
    return [subprocess.Popen(['perf', 'record', '-g', '-q', '-o', base, '-p', str(pid), '--',
                              'sleep', str(dur)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL),
            subprocess.Popen(['perf', 'stat', '-e', ev, '-o', base + '.stat', '-p', str(pid),
                              '--', 'sleep', str(dur)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)]


def _path():
    """What each end of the veth counted: frames the sender's side took and dropped, frames
    the peer received and dropped (a frame dropped on the way costs the sender as much as
    one delivered; the peer's count is the figure)."""
    out = {}
    for ns, ifn, keys in ((NS_S, IF_S, ('tx_packets', 'tx_dropped')),
                          (NS_R, IF_R, ('rx_packets', 'rx_dropped'))):
        for k in keys:
            with contextlib.suppress(Exception):
                out['%s_%s' % (ifn, k)] = int(sh(['cat', '/sys/class/net/%s/statistics/%s' % (
                    ifn, k)], ns=ns, quiet=True))
    return out


def _delta(a, b):
    return {k: b[k] - a.get(k, 0) for k in b}


def _override(mx, sets):
    """mx writes its configuration with the keys of sets ("key=value") changed."""
    orig = mx.write_conf

    def write_conf(extra=''):
        path = orig(extra)
        with open(path) as f:
            text = f.read()
        for kv in sets:
            k, _, v = kv.partition('=')
            text, n = re.subn(r'(?m)^%s\s*=.*$' % re.escape(k.strip()),
                              '%s = %s' % (k.strip(), v.strip()), text)
            if n == 0:
                raise NotAvailable('MBB_XDP_B_SET: %s is not in the configuration' % k)
        with open(path, 'w') as f:
            f.write(text)
        return path
    mx.write_conf = write_conf


def _wait(ps):
    for p in ps:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run(env, runs, dur):
    size = (64 if env.quick else 256) * MiB
    img = env.make_file('image.raw', size)
    perf = os.environ.get('MBB_XDP_PERF', '')
    tp = Series('testpmd-af_xdp', 'ceiling', 'senders', 'testpmd', True, port_type='af_xdp',
                mode='txonly', params={'unit': 'frames at the peer'})
    builds = [('miniboss-af_xdp-saturated', None)]
    if os.environ.get('MBB_XDP_B'):
        builds.append(('miniboss-af_xdp-saturated-b', os.environ['MBB_XDP_B']))
    mbs = [Series(name, 'frisbee', 'senders', 'minibossd', False, client='fris-flood',
                  port_type='af_xdp', mode='saturated', rate='unpaced',
                  params={'build': b or env.build}) for name, b in builds]
    try:
        testpmd.require()
    except NotAvailable as e:
        tp.unavailable(str(e))
    env.mount_if_missing('/sys/fs/bpf', 'bpf')

    def one_tp(i):
        lp = os.path.join(env.work, 'testpmd-af_xdp-%d.log' % i)
        env.sink_on()
        try:
            with env.af_xdp_user('testpmd on net_af_xdp, run %d' % i):
                p = testpmd.start(env, 'af_xdp', lp)
                try:
                    if not wait_traffic(15):
                        return {'error': 'no traffic: ' + tail(lp, 400)}
                    time.sleep(0.5)
                    pf = _perf(env, p.pid, perf and '%s.testpmd.%d' % (perf, i), dur)
                    p0 = _path()
                    w = Window([p])
                    time.sleep(dur)
                    r = w.close()
                    r['path'] = _delta(p0, _path())
                    _wait(pf)
                    return r
                finally:
                    p.stop(signal.SIGINT, grace=10)
        finally:
            env.sink_off()

    def one_mb(i, s, build, sets=()):
        keep = (env.build, dict(env.bins))
        if build:
            env.build = build
            env.bins['minibossd'] = os.path.join(build, 'server/minibossd')
            env.bins['minibossctl'] = os.path.join(build, 'tools/minibossctl')
        try:
            with env.af_xdp_user('minibossd on net_af_xdp (%s)' % s.name):
                mx = Miniboss(env, driver='af_xdp')
                if sets:
                    _override(mx, sets)
                try:
                    mx.start({'image': img})
                    grp = mx.open_session('image')
                    pf = []
                    if perf:
                        # started with the window's traffic: fris-flood needs 0.5 s or so
                        pf = _perf(env, mx.proc.pid, '%s.%s.%d' % (perf, s.name, i), dur + 1)
                    c0, p0 = _counters(mx), _path()
                    r = push.saturated(env, [mx.proc], grp[0], grp[1], dur, size)
                    c1 = _counters(mx)
                    r['path'] = _delta(p0, _path())
                    _wait(pf)
                    # around the flood (its start and the warm-up included)
                    r['counters'] = {k: c1[k] - c0.get(k, 0) for k in c1}
                    return r
                finally:
                    mx.stop()
        finally:
            env.build, env.bins = keep[0], keep[1]

    def keep(s, i, r, fmt):
        """Series.repeat's bookkeeping for one run: a run with an error ends the series."""
        s.runs.append(r)
        log('%s run %d: %s' % (s.name, i, fmt(r)))
        if 'error' in r:
            s.error = r['error']

    sets = os.environ.get('MBB_XDP_B_SET', '').split()
    for i in range(runs):
        if not tp.not_available and not tp.error:
            keep(tp, i, one_tp(i), lambda r: r.get('error') or fmt_tp(r))
        for s, (name, build) in zip(mbs, builds):
            if s.not_available or s.error:
                continue
            try:
                keep(s, i, one_mb(i, s, build, sets if build else ()), push.fmt_sat)
            except NotAvailable as e:
                s.unavailable(str(e))
    return [tp] + mbs


def _counters(mx):
    """The daemon's counters that say how the lcore spent its time (minibossctl stats)."""
    want = ('tx_pkts', 'tx_full', 'idle_sleeps', 'no_mbuf', 'tx_drop', 'rx_pkts', 'overruns')
    out = {}

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k in want and isinstance(x, (int, float)):
                    out[k] = max(out.get(k, 0), x)  # the total, not it plus its parts
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    with contextlib.suppress(Exception):
        walk(mx.json('stats'))
    return out
