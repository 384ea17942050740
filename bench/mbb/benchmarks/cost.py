# SPDX-License-Identifier: BSD-3-Clause
"""
Sender cost per frame without the veth, as far as this kernel allows, and the cores it takes to
fill 10, 25 and 100 GbE with 1 KiB BLOCKs.

- The engine (tests/dpdk/dp_serve with DP_SERVE_PUSH: one session sending every chunk of a
  64 MiB image N times, unrequested) on net_null, whose TX frees each frame at once: the lcore's
  CPU time per BLOCK is the whole cost of building a BLOCK and handing it to a driver. net_null
  cannot chain mbufs, so the payload is copied (the mmap-image path).
- The same engine on net_memif into a second DPDK process (dpdk-testpmd rxonly, the memif
  client): the image in the heap (copied into the frame) and in DPDK memory (attached by
  reference; the memif PMD then copies it into its shared ring, which is what a NIC's DMA
  does without the CPU). The lcore's CPU per BLOCK includes the PMD's copy and the polling while
  the receiver is behind (its share of the window is printed).
- The kernel UDP senders (bench/udp-blast.c: one sendto() per datagram, and UDP GSO with
  sendmmsg()) and the stock frisbeed (saturated by fris-flood), into the veth whose peer drops
  every BLOCK-sized frame in XDP: the sender process's CPU (user + system) per datagram counted
  at the sink. The veth transmit and the peer's XDP drop run in the sender's system call (this
  kernel has no device that drops earlier), so they are in its figure.

ns_per_frame is per BLOCK frame (1090 bytes, 1114 on the wire with preamble, FCS and gap). The
table's cores column is ns_per_frame (median) x the BLOCK rate of the link / 1e9.
"""

import os
import re
import time

from .. import push
from ..measure import Series, Window, wait_traffic
from ..peers import frisbee as stock
from ..peers import testpmd, udpblast
from ..procs import Proc
from ..util import FRIS_PORT, MCAST, MiB, NotAvailable, log

WIRE_BITS = (1048 + 8 + 20 + 14 + 4 + 8 + 12) * 8   # a BLOCK on the wire: 8912 bits
LINKS = (10e9, 25e9, 100e9)
IMAGE = 64 * MiB


def frames_per_s(link_bps):
    return link_bps / WIRE_BITS


def cores(ns, link_bps):
    return ns * frames_per_s(link_bps) / 1e9


def parse_serve(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(session|port|lcore|mem|rate|ra)\.(\w+) (-?[0-9.]+)$', line.strip())
        if m:
            out['%s.%s' % (m.group(1), m.group(2))] = float(m.group(3))
    return out


def dp_serve_bin(env):
    b = env.bin_in_build('tests/dpdk/dp_serve')
    if not b:
        raise NotAvailable('tests/dpdk/dp_serve not built (meson build directory)')
    return b


def engine_run(env, img, vdev, passes, mem, prefix, peer_cmd=None, timeout=300, sessions=1,
               mem_mb=None, extra_env=None):
    """dp_serve pushing img `passes` times on vdev (and the peer process, started after it;
    with sessions > 1, as many copies of img to as many groups); its counters and the
    lcore's cost."""
    cmd = [dp_serve_bin(env), '-l', '0'] + env.eal_mem(mem_mb or 768 + sessions * 32) + [
        '--no-pci', '--file-prefix', prefix, '--vdev', vdev, '--log-level', 'lib.eal:warning',
        '--', '10.78.0.1/24', img, '239.78.1.1', str(FRIS_PORT), '0', '1', '120']
    penv = dict(os.environ, DP_SERVE_PUSH=str(passes), DP_SERVE_MEM=mem,
                DP_SERVE_SESSIONS=str(sessions), **(extra_env or {}))
    if sessions > 1:
        penv['DP_SERVE_GROUPS'] = '1'   # a multicast group each
    peer = None
    # dp_serve starts its session once the port's link is up (memif: the peer connected to
    # its socket), so the peer starts after it
    logp = os.path.join(env.work, 'cost-serve.log')
    srv = Proc(cmd, env=penv, log_path=logp)
    try:
        if peer_cmd:
            time.sleep(1.0)
            peer = Proc(peer_cmd, log_path=os.path.join(env.work, 'cost-peer.log'))
        rc = srv.wait(timeout)
        if rc is None:
            srv.stop()
    finally:
        if peer:
            peer.stop(sig=2)
    with open(logp) as f:
        text = f.read()
    os.unlink(logp)
    r = parse_serve(text)
    if rc != 0 or 'lcore.ns_per_block' not in r:
        return {'error': 'dp_serve rc %s: %s' % (rc, ' '.join(text.split()[-30:]))}
    out = {'ns_per_frame': r['lcore.ns_per_block'],
           'frames_per_s': r.get('rate.blocks_per_sec'),
           'lcore_share': r.get('lcore.cpu_share'),
           'frames': r.get('session.blocks'),
           'overruns': r.get('session.overruns'),
           'tx_copy_nodma': r.get('port.tx_copy_nodma'),
           'load_avg_1m': os.getloadavg()[0],
           'slot_bytes': r.get('mem.slot_bytes'),
           'start_alloc_per_session': r.get('mem.start_alloc_per_session'),
           'rss_growth_per_session': r.get('mem.rss_growth_per_session'),
           'lcore_major_faults': r.get('port.major_faults'),
           'ra_pages_read': r.get('ra.pages_read')}
    if out['frames_per_s']:
        out['aggregate_gbps'] = out['frames_per_s'] * 1048 * 8 / 1e9
    return out


def fmt(r):
    if 'error' in r:
        return 'ERROR ' + r['error']
    return '%.1f ns/frame, %.3f Mframes/s%s, load %.1f' % (
        r['ns_per_frame'], (r.get('frames_per_s') or 0) / 1e6,
        ', lcore on CPU %.0f%%' % (100 * r['lcore_share']) if r.get('lcore_share') else '',
        r.get('load_avg_1m', 0))


def cost_series(name, server, port_type, peer, mode, client=None):
    return Series(name, 'cost', 'cost', server, peer, port_type=port_type, mode=mode,
                  client=client, image_bytes=IMAGE)


def engine(env, runs, img):
    out = []
    passes = 30 if env.quick else 100
    s = cost_series('cost-engine-null', 'dp_serve', 'net_null', False, 'copy')
    s.repeat(runs, lambda i: engine_run(env, img, 'net_null0', passes, 'heap',
                                        'mbb-cost-%d-%d' % (os.getpid(), i)), fmt)
    out.append(s)
    try:
        testpmd.require()
    except NotAvailable as e:
        for mode in ('copy', 'attach'):
            s = cost_series('cost-engine-memif-' + mode, 'dp_serve', 'net_memif', False, mode)
            s.unavailable(str(e))
            out.append(s)
        return out
    for mode, mem in (('copy', 'heap'), ('attach', 'dpdk')):
        s = cost_series('cost-engine-memif-' + mode, 'dp_serve', 'net_memif', False, mode,
                        client='testpmd-rxonly')

        def one(i, mem=mem):
            sock = os.path.join(env.work, 'memif-%d.sock' % i)
            tp = ['dpdk-testpmd', '-l', '0,1'] + env.eal_mem(512) + [
                '--no-pci', '--file-prefix', 'mbb-costtp-%d-%d' % (os.getpid(), i),
                '--vdev', 'net_memif0,role=client,socket=%s' % sock, '--',
                '--forward-mode=rxonly', '--nb-cores=1', '--rxq=1', '--txq=1', '--burst=64',
                '--total-num-mbufs=16384', '--stats-period=1', '-a']
            return engine_run(env, img, 'net_memif0,role=server,socket=%s' % sock,
                              4 if env.quick else 8, mem,
                              'mbb-costms-%d-%d' % (os.getpid(), i), peer_cmd=tp)
        s.repeat(runs, one, fmt)
        out.append(s)
    return out


def kernel_window(p, dur):
    if not wait_traffic(5):
        return {'error': 'no traffic'}
    time.sleep(0.3)
    w = Window([p])
    time.sleep(dur)
    r = w.close()
    if not r['peer_rx_frames']:
        return {'error': 'nothing reached the sink'}
    r['ns_per_frame'] = r['proc_cpu_s'] * 1e9 / r['peer_rx_frames']
    r['frames_per_s'] = r['peer_rx_pps']
    r['machine_ns_per_frame'] = r['machine_cpu_s'] * 1e9 / r['peer_rx_frames']
    r['load_avg_1m'] = os.getloadavg()[0]
    return r


def kernel(env, runs, dur, img):
    out = []
    sink = env.sink_on()
    try:
        for mode in udpblast.MODES:
            s = cost_series('cost-udp-' + mode, 'udp-blast', 'kernel', True, mode)
            s['sink'] = sink

            def one(i, mode=mode):
                p = udpblast.start(env, mode, dur + 3)
                try:
                    return kernel_window(p, dur)
                finally:
                    p.stop()
            s.repeat(runs, one, fmt)
            out.append(s)
    finally:
        env.sink_off()
    s = cost_series('cost-frisbeed', 'frisbeed', 'kernel', True, 'saturated',
                    client='fris-flood')
    try:
        stock.require()

        def one(i):
            port = FRIS_PORT + 60 + i
            srv = stock.start_frisbeed(env, img, port)
            try:
                time.sleep(0.3)
                r = push.saturated(env, [srv], MCAST, port, dur, IMAGE)
            finally:
                srv.stop()
            if 'error' not in r and r.get('peer_rx_frames'):
                r['ns_per_frame'] = r['proc_cpu_s'] * 1e9 / r['peer_rx_frames']
                r['frames_per_s'] = r['peer_rx_pps']
                r['load_avg_1m'] = os.getloadavg()[0]
            return r
        s.repeat(runs, one, fmt)
    except NotAvailable as e:
        s.unavailable(str(e))
    out.append(s)
    return out


def run(env, runs, dur):
    img = env.make_file('cost-image.raw', IMAGE)
    out = engine(env, runs, img)
    out += kernel(env, runs, dur, img)
    for s in out:
        log('%s: %s' % (s.name, ', '.join('%.1f' % r['ns_per_frame'] for r in s.runs
                                          if 'ns_per_frame' in r)))
    return out
