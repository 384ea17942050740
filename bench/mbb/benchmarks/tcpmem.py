# SPDX-License-Identifier: BSD-3-Clause
"""
Memory per idle HTTP keep-alive connection: N = 1000 and 10000 idle connections (one HEAD
each, bench/idle-conns.py) from one client in mbb-r to nginx and to minibossd's HTTP port, a
fresh server for every run (memory a previous run freed would otherwise be reused without
showing in the RSS delta). For minibossd the series also carry what its TCP core preallocates
(the connection table for tcp.max-connections) and sizeof(struct mb_tcp_conn).
"""

import json
import os
import signal
import subprocess
import time

from ..measure import Series
from ..peers import nginx
from ..peers.minibossd import Miniboss
from ..procs import Proc, tree_rss
from ..util import HERE, ROOT, NS_R, ADDR_S, MiB, RECV_ADDRS, sh, recv_addr

TCPMEM_N = [1000, 10000]
TCPMEM_MAXCONN = 65536


def run(env, runs, dur):
    out = []
    d = env.public_dir('www')
    small = env.public_file(d, 'tcpmem.raw', MiB)
    conn_size = tcp_conn_size(env)
    for n in TCPMEM_N:
        s = Series('tcpmem-nginx-n%d' % n, 'tcpmem', 'tcpmem', 'nginx', True,
                   port_type='kernel', connections=n)

        def one(i, n=n):
            ngx = nginx.start(env, d, worker_conns=2 * max(TCPMEM_N) + 1024)
            try:
                return hold_conns(env, [ngx], ADDR_S, nginx.HTTP_PORT, n, '/tcpmem.raw', 'nginx')
            finally:
                ngx.stop()
        out.append(s.repeat(runs, one, fmt))
    for n in TCPMEM_N:
        s = Series('tcpmem-miniboss-n%d' % n, 'tcpmem', 'tcpmem', 'minibossd', False,
                   port_type='af_packet', connections=n,
                   params={'max_connections': TCPMEM_MAXCONN, 'conn_struct_bytes': conn_size})
        if conn_size:
            s['table_bytes'] = table_bytes(conn_size, TCPMEM_MAXCONN)
            s['table_bytes_per_conn'] = s.params['table_bytes'] / TCPMEM_MAXCONN
        out.append(miniboss_series(env, s, runs, n, small, conn_size))
    return out


def fmt(r):
    v = r.get('rss_delta_per_conn')
    return '%s B/conn (RSS delta) %s' % ('-' if v is None else '%.0f' % v, r.get('error', 'ok'))


def miniboss_series(env, s, runs, n, small, conn_size):
    mbs = []

    def one(i):
        mb = Miniboss(env)
        mbs.append(mb)
        mb.require('tcp')
        mb.start({'tcpmem.raw': small}, 'max-connections = %d\n' % TCPMEM_MAXCONN)
        mb.probe_http('tcpmem.raw')
        r = hold_conns(env, [mb.proc], mb.addr, mb.http_port, n, '/images/tcpmem.raw',
                       'miniboss')
        r['conn_struct_bytes'] = conn_size
        r['table_bytes_per_conn'] = s.params.get('table_bytes_per_conn')
        if 'error' in r:
            r['error'] += ' ' + mb.tail()
        mb.stop()
        return r
    try:
        s.repeat(runs, one, fmt)
    finally:
        for mb in mbs:
            mb.stop()
    return s


def tcp_conn_size(env):
    """sizeof(struct mb_tcp_conn), from dataplane/tcp.h (it has no DPDK includes)."""
    src = os.path.join(env.work, 'connsize.c')
    exe = os.path.join(env.work, 'connsize')
    with open(src, 'w') as f:
        f.write('#include <stdio.h>\n#include "tcp.h"\n'
                'int main(void) { printf("%zu\\n", sizeof(struct mb_tcp_conn)); return 0; }\n')
    try:
        sh(['cc', '-I', os.path.join(ROOT, 'dataplane'), '-I', os.path.join(ROOT, 'common'),
            '-o', exe, src])
        return int(sh([exe]).strip())
    except (RuntimeError, ValueError):
        return None


def table_bytes(conn_size, max_conns):
    """What mb_tcp_stack_create preallocates (dataplane/tcp.c): the connection array, a hash
    of 4-byte slots (a power of two, at least 16 and 2 x max), the per-source index (as many
    16-byte entries as slots) and a 4-byte free list."""
    nslots = 16
    while nslots < 2 * max_conns:
        nslots <<= 1
    return conn_size * max_conns + (4 + 16) * nslots + 4 * max_conns


def hold_conns(env, server_procs, url_host, port, n, path, label):
    """Open n idle keep-alive connections (one HEAD each) from mbb-r and measure the server's
    RSS (all its processes) before and while they are held."""
    time.sleep(0.5)
    rss0 = sum(tree_rss(p.pid) for p in server_procs)
    lp = os.path.join(env.work, 'idle-%s-%d.out' % (label, n))
    errlog = os.path.join(env.work, 'idle-conns.err')
    srcs = [a for i in range(RECV_ADDRS) for a in ('--src', recv_addr(i))]
    c = Proc(['python3', os.path.join(HERE, 'idle-conns.py'), url_host, str(port), '-n', str(n),
              '--path', path] + srcs, ns=NS_R, log_path=errlog,
             stdin=subprocess.PIPE, stdout=open(lp, 'w'))
    r = {'connections': n}
    try:
        end = time.monotonic() + 120
        line = None
        while time.monotonic() < end and c.alive():
            txt = open(lp).read()
            if txt.strip():
                line = json.loads(txt.splitlines()[0])
                break
            time.sleep(0.2)
        if line is None:
            r['error'] = 'the client did not open its connections: ' + ' '.join(
                open(errlog).read()[-200:].split())
            return r
        time.sleep(1.0)     # let the server settle (lazy allocations, timers)
        rss1 = sum(tree_rss(p.pid) for p in server_procs)
        c.p.stdin.write(b'check\n')
        c.p.stdin.flush()
        still = None
        for _ in range(50):
            lines = open(lp).read().splitlines()
            if len(lines) > 1:
                still = json.loads(lines[1]).get('still_open')
                break
            time.sleep(0.1)
        r.update({'open_conns': line['open'], 'conn_errors': line['errors'],
                  'still_open': still, 'rss_before_bytes': rss0, 'rss_held_bytes': rss1,
                  'rss_delta_bytes': rss1 - rss0,
                  'rss_delta_per_conn': (rss1 - rss0) / max(1, line['open'])})
        if line['open'] != n or (still is not None and still != n):
            r['error'] = '%d of %d connections opened, %s still open at the end (%s)' % (
                line['open'], n, still, line.get('first_error'))
        return r
    finally:
        try:
            c.p.stdin.close()
        except OSError:
            pass
        if c.wait(10) is None:
            c.stop(signal.SIGKILL, grace=1)

