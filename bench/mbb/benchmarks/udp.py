# SPDX-License-Identifier: BSD-3-Clause
"""
The kernel UDP senders (peers/udpblast.py), one sendto() per datagram and GSO + sendmmsg,
counted at the peer's sink over the same window as the ceiling.
"""

import time

from ..measure import Series, Window, wait_traffic
from ..peers import udpblast


def fmt(r):
    return '%.3f Mpps %.2f Gbit/s' % (r['peer_rx_pps'] / 1e6, r['peer_rx_gbps'])


def run(env, runs, dur):
    series = []
    sink = env.sink_on()
    try:
        for mode in udpblast.MODES:
            s = Series('udp-' + mode, 'udp', 'senders', 'udp-blast', True, port_type='kernel',
                       mode=mode, sink=sink)
            series.append(s)

            def one(i, mode=mode):
                p = udpblast.start(env, mode, dur + 3)
                try:
                    if not wait_traffic(5):
                        return {'error': 'no traffic'}
                    time.sleep(0.3)
                    w = Window([p])
                    time.sleep(dur)
                    return w.close()
                finally:
                    p.stop()
            s.repeat(runs, one, fmt)
    finally:
        env.sink_off()
    return series
