# SPDX-License-Identifier: BSD-3-Clause
"""
Measurement windows, series and repetitions.

A Window brackets one measurement: wall time, whole-machine CPU, the CPU of the server
processes given and the peer interface's counters. A Series is one line of a table while a
benchmark builds it: its explicit fields (records.FIELDS), the runs, repeated by repeat() until
one fails; record() turns it into the result record the report reads (records.py).
"""

import time

from . import procs
from .records import FIELDS, close
from .util import NS_R, IF_R, NotAvailable, log, sh


def if_stats(ns=NS_R, ifname=IF_R):
    out = {}
    for k in ('rx_packets', 'rx_bytes', 'tx_packets', 'tx_bytes', 'rx_dropped'):
        out[k] = int(sh(['cat', '/sys/class/net/%s/statistics/%s' % (ifname, k)], ns=ns))
    return out


def wait_traffic(timeout=10.0, min_frames=1000):
    """Wait until frames flow to the peer; True when they do."""
    a = if_stats()['rx_packets']
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        time.sleep(0.1)
        if if_stats()['rx_packets'] - a >= min_frames:
            return True
    return False


class Window:
    """A measurement window: wall time, machine CPU and the peer's interface counters."""

    def __init__(self, server_procs=()):
        self.procs = list(server_procs)
        self.t0 = time.monotonic()
        self.m0 = procs.machine_cpu()
        self.i0 = if_stats()
        self.c0 = [p.cpu() for p in self.procs]

    def close(self):
        c1 = [p.cpu() for p in self.procs]
        i1 = if_stats()
        m1 = procs.machine_cpu()
        t1 = time.monotonic()
        wall = t1 - self.t0
        r = {'wall_s': wall,
             'machine_cpu_s': m1['busy'] - self.m0['busy'],
             'softirq_cpu_s': m1['softirq'] - self.m0['softirq'],
             'other_nice_cpu_s': m1['nice'] - self.m0['nice'],
             'peer_rx_frames': i1['rx_packets'] - self.i0['rx_packets'],
             'peer_rx_bytes': i1['rx_bytes'] - self.i0['rx_bytes']}
        r['peer_rx_pps'] = r['peer_rx_frames'] / wall
        # rx_bytes on veth excludes nothing: it is the Ethernet frame without FCS
        r['peer_rx_gbps'] = r['peer_rx_bytes'] * 8 / wall / 1e9
        r['proc_cpu_s'] = sum(b - a for a, b in zip(self.c0, c1))
        return r


class Series:
    """One line of a table, built while a benchmark runs.

    name: the series' identifier (unique in a run; the tables print it and the ratios look it
    up by it). fields: the FIELDS above; params: anything else a table shows about the series
    (struct sizes, limits)."""

    def __init__(self, name, benchmark, table, server, peer, **fields):
        unknown = set(fields) - set(FIELDS) - {'params'}
        if unknown:
            raise ValueError('unknown series fields %s' % sorted(unknown))
        self.name = name
        self.fields = {k: None for k in FIELDS}
        self.fields.update(series=name, benchmark=benchmark, table=table, server=server,
                           peer=peer)
        self.params = fields.pop('params', {}) or {}
        self.fields.update(fields)
        self.runs = []
        self.error = None
        self.not_available = None
        self.exception = None

    def __setitem__(self, k, v):
        if k in FIELDS:
            self.fields[k] = v
        else:
            self.params[k] = v

    def failed(self, msg):
        self.error = msg

    def unavailable(self, msg):
        self.not_available = msg

    def repeat(self, runs, fn, fmt=None, why=None):
        """Run fn(i) for i in range(runs), keeping each result; stop at the first run that
        reports an error (why() adds context to it, e.g. a daemon's log tail). A part that
        turns out not to be available marks the series so."""
        try:
            for i in range(runs):
                r = fn(i)
                self.runs.append(r)
                log('%s run %d: %s' % (self.name, i, fmt(r) if fmt else r.get('error', 'ok')))
                if 'error' in r:
                    self.error = r['error'] + (' ' + why() if why else '')
                    break
        except NotAvailable as e:
            self.not_available = str(e)
        return self

    def record(self):
        """The series as a result record (plain JSON)."""
        rec = dict(self.fields)
        rec.update(params=self.params, runs=self.runs)
        for k in ('error', 'not_available', 'exception'):
            if getattr(self, k):
                rec[k] = getattr(self, k)
        return close(rec)
