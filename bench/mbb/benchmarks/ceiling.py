# SPDX-License-Identifier: BSD-3-Clause
"""
The raw ceiling: dpdk-testpmd txonly, 1090-byte frames, on net_af_packet and on net_af_xdp
over mbbs0, counted at the peer's sink. Window: dur seconds after traffic started and 0.5 s
of warm-up. The XDP guard runs around every net_af_xdp testpmd.
"""

import contextlib
import os
import signal
import time

from ..measure import Series, Window, wait_traffic
from ..peers import testpmd
from ..util import NotAvailable, tail

DRIVERS = ('af_packet', 'af_xdp')


def fmt(r):
    return '%.3f Mpps %.2f Gbit/s' % (r['peer_rx_pps'] / 1e6, r['peer_rx_gbps'])


def run(env, runs, dur):
    series = [Series('testpmd-' + d, 'ceiling', 'senders', 'testpmd', True, port_type=d,
                     mode='txonly', params={'unit': 'frames at the peer'}) for d in DRIVERS]
    try:
        testpmd.require()
    except NotAvailable as e:
        for s in series:
            s.unavailable(str(e))
        return series
    env.mount_if_missing('/sys/fs/bpf', 'bpf')
    sink = env.sink_on()
    try:
        for s, driver in zip(series, DRIVERS):
            s['sink'] = sink

            def one(i, driver=driver):
                lp = os.path.join(env.work, 'testpmd-%s-%d.log' % (driver, i))
                guard = contextlib.nullcontext()
                if driver == 'af_xdp':
                    guard = env.af_xdp_user('testpmd on net_af_xdp, run %d' % i)
                with guard:
                    p = testpmd.start(env, driver, lp)
                    try:
                        if not wait_traffic(15):
                            return {'error': 'no traffic: ' + tail(lp, 400)}
                        time.sleep(0.5)
                        w = Window([p])
                        time.sleep(dur)
                        return w.close()
                    finally:
                        p.stop(signal.SIGINT, grace=10)
            s.repeat(runs, one, fmt)
    finally:
        env.sink_off()
    return series
