# SPDX-License-Identifier: BSD-3-Clause
"""
HTTP / FTP: N parallel downloads (N = 1, 8, 32, 256) of a file of total/N bytes by one curl
process in mbb-r, from nginx, vsftpd and minibossd (HTTP, and FTP with its data connections on
the dataplane), with the veth's offloads on (total 4 GiB; 2 GiB in --quick) and off (1 GiB;
512 MiB), MTU 1500. minibossd runs on net_af_packet and on net_af_xdp over the same veth, one
daemon per port type serving both protocols. bench/run's --http-levels, --http-offload and
--http-no-ftp measure a subset.
"""

import os
import signal
import time

from ..measure import Series, Window
from ..peers import curl, nginx, vsftpd
from ..peers.minibossd import Miniboss
from ..procs import tree_rss
from ..util import MiB, NotAvailable

LEVELS = [1, 8, 32, 256]


def subset(env):
    """(levels, offload settings, with FTP) from bench/run's --http-* options."""
    a = env.args
    levels = getattr(a, 'http_levels', None) or LEVELS
    offl = {'on': (True,), 'off': (False,)}.get(getattr(a, 'http_offload', 'both'), (True, False))
    return levels, offl, not getattr(a, 'http_no_ftp', False)


def run(env, runs, dur):
    out = []
    levels, offloads, ftp = subset(env)
    for offload in offloads:
        tag = 'offload' if offload else 'nooffload'
        # bytes per run: about a second of transfer at the rate kernel peers reach here
        total = (2048 if offload else 512) * MiB * (1 if env.quick else 2)
        env.setup_net(offload=offload, mtu=1500)
        d = env.public_dir('www')
        files = {}
        for n in levels:
            fsize = max(MiB, total // n)
            name = 'file-%d.raw' % fsize
            env.public_file(d, name, fsize)
            files[n] = (name, fsize)
        for server, mod in (('nginx', nginx), ('vsftpd', vsftpd))[:2 if ftp else 1]:
            # vsftpd stalls with more than ~64 logins at once from one client: its
            # 256-download figure runs at most 64 at a time (said in the table)
            pmax = vsftpd.FTP_PMAX if server == 'vsftpd' else 300
            series = [Series('%s-%s-c%d' % (server, tag, n), 'http', 'http', server, True,
                             port_type='kernel', connections=n, offload=offload, mtu=1500,
                             mode='ftp' if server == 'vsftpd' else 'http',
                             file_bytes=files[n][1],
                             params={'client_parallel_max': min(n, pmax)}) for n in levels]
            out += series
            try:
                sp = mod.start(env, d)
            except NotAvailable as e:
                for s in series:
                    s.unavailable(str(e))
                continue
            try:
                for n, s in zip(levels, series):
                    name, fsize = files[n]
                    s.repeat(runs, lambda i: transfer(env, [sp], [mod.url(name)] * n, fsize,
                                                      pmax=pmax), fmt)
            finally:
                sp.stop()
        out += miniboss_http(env, runs, tag, offload, files, d, levels, ftp)
    env.setup_net()
    return out


def fmt(r):
    return '%.2f Gbit/s, %.2f machine-cpu-s, %s' % (r.get('gbps', 0), r['machine_cpu_s'],
                                                   r.get('error', 'ok'))


def transfer(env, server_procs, urls, fsize, timeout=120, extra=(), pmax=300):
    """One parallel download of urls (each fsize bytes) by one curl, measured."""
    w = Window(server_procs)
    t0 = time.monotonic()
    c, lp = curl.parallel(env, urls, extra, pmax)
    rc = c.wait(timeout)
    wall = time.monotonic() - t0
    r = w.close()
    if rc is None:
        c.stop(signal.SIGKILL)
        r['error'] = 'curl timed out after %ds' % timeout
        return r
    got = sum(int(x) for x in open(lp).read().split() if x.isdigit())
    want = fsize * len(urls)
    r['bytes'] = got
    if rc != 0 or got != want:
        r['error'] = 'curl rc %s, %d of %d bytes: %s' % (
            rc, got, want, open(curl.err_log(env)).read()[-200:])
    r['transfer_s'] = wall
    r['gbps'] = got * 8 / wall / 1e9
    r['client_cpu_s'] = c.cpu()
    r['server_cpu_s_per_gb'] = r['proc_cpu_s'] / (got / 1e9) if got else None
    r['machine_cpu_s_per_gb'] = r['machine_cpu_s'] / (got / 1e9) if got else None
    # the figure the targets use: Gbit/s per CPU-second of the whole machine
    r['gbit_per_machine_cpu_s'] = got * 8 / 1e9 / r['machine_cpu_s'] if r['machine_cpu_s'] else None
    r['server_rss_bytes'] = sum(tree_rss(p.pid) for p in server_procs)
    return r


def miniboss_http(env, runs, tag, offload, files, d, levels=LEVELS, ftp=True):
    """minibossd on each port type: HTTP then FTP from one daemon. Series names: the
    af_packet HTTP ones keep the names of the first bench (miniboss-<tag>-cN), the others say
    what differs (miniboss-af_xdp-<tag>-cN, miniboss[-af_xdp]-ftp-<tag>-cN)."""
    out = []
    for driver in ('af_packet', 'af_xdp'):
        port = '' if driver == 'af_packet' else '-af_xdp'
        hs = [Series('miniboss%s-%s-c%d' % (port, tag, n), 'http', 'http', 'minibossd', False,
                     port_type=driver, connections=n, offload=offload, mtu=1500, mode='http',
                     file_bytes=files[n][1]) for n in levels]
        # as for vsftpd: at most FTP_PMAX logins at once from the one client
        fs = [Series('miniboss%s-ftp-%s-c%d' % (port, tag, n), 'http', 'http', 'minibossd',
                     False, port_type=driver, connections=n, offload=offload, mtu=1500,
                     mode='ftp', file_bytes=files[n][1],
                     params={'client_parallel_max': min(n, vsftpd.FTP_PMAX)})
              for n in (levels if ftp else [])]
        out += hs + fs
        try:
            if driver == 'af_xdp':
                with env.af_xdp_user('minibossd on net_af_xdp (%s)' % tag):
                    miniboss_on(env, runs, files, d, driver, hs, fs, levels)
            else:
                miniboss_on(env, runs, files, d, driver, hs, fs, levels)
        except NotAvailable as e:
            for s in hs + fs:
                if not s.runs:
                    s.unavailable(str(e))
    return out


def miniboss_on(env, runs, files, d, driver, hs, fs, levels=LEVELS):
    mb = None
    try:
        mb = Miniboss(env, driver=driver)
        mb.require('tcp')
        # one client address holds every FTP control connection
        conf = 'ftp-port = %d\nftp-max-per-source = 256\n' % mb.ftp_port
        # probe with the smallest file first: loading the big ones takes a while
        small = files[levels[-1]][0]
        mb.start({small: os.path.join(d, small)}, conf)
        mb.probe_http(small, ' yet')
        mb.stop()
        mb.start({files[n][0]: os.path.join(d, files[n][0]) for n in levels}, conf)
        for n, s in zip(levels, hs):
            name, fsize = files[n]
            s.repeat(runs, lambda i: transfer(env, [mb.proc], [mb.http_url(name)] * n, fsize),
                     fmt, why=mb.tail)
        for n, s in zip(levels, fs):
            name, fsize = files[n]
            s.repeat(runs, lambda i: transfer(env, [mb.proc], [mb.ftp_url(name)] * n, fsize,
                                              pmax=vsftpd.FTP_PMAX), fmt, why=mb.tail)
    finally:
        if mb is not None:
            mb.stop()
