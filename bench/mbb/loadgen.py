# SPDX-License-Identifier: BSD-3-Clause
"""
The project's own load tools as the benchmarks run them: mb-fris-loadgen (N Frisbee receivers
in one process), mb-frisbee (the project's receiver) and fris-flood (a requester that keeps a
Frisbee server sending at full rate; bench/fris-flood.c).
"""

import os

from .procs import Proc
from .util import NS_R, MCAST, MiB, RECV_ADDRS, NotAvailable, recv_addr

# whole-chunk requests per second from fris-flood: ~2 M blocks/s asked for
SAT_RATE = 2000


def loadgen_cmd(env, n, group, port, timeout=60):
    """mb-fris-loadgen: n receivers of the session on group:port, each from its own address
    (recv_addr(0) on; beyond RECV_ADDRS receivers share them round robin), as n hosts: a
    server that tracks its clients by address (minibossd bounds JOIN answers per address)
    must see n nodes, not one."""
    if not env.bins.get('mb-fris-loadgen'):
        raise NotAvailable('mb-fris-loadgen not built (tools/mb-fris-loadgen)')
    return [env.bins['mb-fris-loadgen'], '-N', '-i', recv_addr(0), '-a', str(min(n, RECV_ADDRS)),
            '-m', group, '-p', str(port), '-n', str(n), '-T', str(timeout)]


def mb_frisbee_cmd(env, out, group=MCAST, port=None):
    if not env.bins.get('mb-frisbee'):
        raise NotAvailable('mb-frisbee not built (tools/mb-frisbee)')
    return [env.bins['mb-frisbee'], '-q', '-N', '-i', recv_addr(0), '-T', '30', '-m', group,
            '-p', str(port), out]


def start_flood(env, group, port, size, dur):
    """fris-flood joined to group:port asking for every chunk of a size-byte image."""
    if not env.bins.get('fris-flood'):
        raise NotAvailable('bench/fris-flood not built')
    return Proc([env.bins['fris-flood'], '-i', recv_addr(0), '-m', group, '-p', str(port),
                 '-c', str((size + MiB - 1) // MiB), '-r', str(SAT_RATE), '-t',
                 str(int(dur) + 30)], ns=NS_R, log_path=os.path.join(env.work, 'flood.log'))
