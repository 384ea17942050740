# SPDX-License-Identifier: BSD-3-Clause
"""
Frisbee push: one image (256 MiB; 64 MiB in --quick) of random bytes, raw mode, multicast.

Peers: stock frisbeed to 1 and 4 stock clients and to 1..64 receivers of the load generator,
to one mb-frisbee, two images at once, its sender capacity (fris-flood), and udpcast to one
receiver. minibossd on net_af_packet, unpaced (rate = 0): the same receivers (stock clients
through its master server, the load generator on the session's group), two images, sender
capacity; then the same daemon on net_af_xdp (one receiver, sender capacity), with the XDP
guard around it; then minibossd with its default rate settings and with the adaptive rate
(dynamic-rate), each as its own series.
"""

import os
import time

from .. import loadgen, push
from ..measure import Series
from ..peers import frisbee as stock
from ..peers import udpcast
from ..peers.minibossd import Miniboss
from ..util import FRIS_PORT, MCAST, MiB, NotAvailable, recv_addr

KIND_CLIENT = {'stock': 'frisbee', 'loadgen': 'mb-fris-loadgen'}
# minibossd's push plan: (receiver kind, receivers)
MB_PLAN = [('stock', 1), ('stock', 4), ('loadgen', 1), ('loadgen', 4), ('loadgen', 16),
           ('loadgen', 64)]
# the same for the rate profiles other than unpaced
RATE_PLAN = [('stock', 1), ('stock', 4), ('loadgen', 1)]
RATES = ('default', 'dynamic')


def run(env, runs, dur):
    stock.require()
    size = (64 if env.quick else 256) * MiB
    img = env.make_file('image.raw', size)
    out = []
    out += frisbeed_push(env, runs, img, size, [1, 4], 'stock')
    out += frisbeed_push(env, runs, img, size, [1, 4, 16, 64], 'loadgen')
    out.append(frisbeed_mb_frisbee(env, runs, img, size))
    out.append(frisbeed_two(env, runs, img, size))
    out.append(frisbeed_saturated(env, runs, dur, img, size))
    out.append(udpcast_push(env, runs, img, size))
    out += miniboss_push(env, runs, img, size, dur)
    return out


def push_series(name, server, n, client, port_type='kernel', rate=None, images=1, size=None):
    return Series(name, 'frisbee', 'push', server, server != 'minibossd', client=client,
                  port_type=port_type, receivers=n, images=images, rate=rate,
                  image_bytes=size)


def sat_series(name, server, port_type, rate=None):
    return Series(name, 'frisbee', 'senders', server, server != 'minibossd',
                  client='fris-flood', port_type=port_type, mode='saturated', rate=rate)


# -- the stock server ---------------------------------------------------------------------------


def frisbeed_cmds(env, n, port, outs, kind, group=MCAST):
    """n stock clients (one process and address each), or n receivers in the load generator."""
    if kind == 'stock':
        return [stock.client_cmd(recv_addr(k), outs[k], group=group, port=port)
                for k in range(n)]
    return [loadgen.loadgen_cmd(env, n, group, port)]


def frisbeed_push(env, runs, img, size, nrecvs, kind):
    out = []
    for n in nrecvs:
        s = push_series('frisbeed-%sx%d' % ('stock-' if kind == 'stock' else '', n), 'frisbeed',
                        n, KIND_CLIENT[kind], size=size)

        def one(i, n=n):
            port = FRIS_PORT + 10 + i
            outs = [os.path.join(env.work, 'out0')] + ['/dev/null'] * (n - 1)
            cmds = frisbeed_cmds(env, n, port, outs, kind)
            srv = stock.start_frisbeed(env, img, port)
            try:
                _settle()
                return push.receivers(env, [srv], cmds, size, 120, outs, nrecv=n)
            finally:
                srv.stop()
        out.append(s.repeat(runs, one, push.fmt_push))
    return out


def frisbeed_mb_frisbee(env, runs, img, size):
    """frisbeed to one mb-frisbee: the miniboss receiver checked against the stock server."""
    s = push_series('frisbeed-mb-frisbee-x1', 'frisbeed', 1, 'mb-frisbee', size=size)

    def one(i):
        port = FRIS_PORT + 20 + i
        out = os.path.join(env.work, 'out0')
        cmd = loadgen.mb_frisbee_cmd(env, out, port=port)
        srv = stock.start_frisbeed(env, img, port)
        try:
            _settle()
            return push.receivers(env, [srv], [cmd], size, 120, [out])
        finally:
            srv.stop()
    return s.repeat(runs, one, push.fmt_push)


def frisbeed_two(env, runs, img, size):
    """Two images at once: two frisbeed (own group and port each), one stock client each."""
    s = push_series('frisbeed-2images', 'frisbeed', 2, 'frisbee', images=2, size=size)
    img2 = env.make_file('image2.raw', size)

    def one(i):
        srvs, cmds = [], []
        try:
            for k, path in enumerate((img, img2)):
                port = FRIS_PORT + 30 + 2 * i + k
                grp = '239.77.1.%d' % (10 + k)
                srvs.append(stock.start_frisbeed(env, path, port, group=grp))
                cmds.append(stock.client_cmd(recv_addr(k), '/dev/null', group=grp, port=port))
            _settle()
            return push.two_images(push.receivers(env, srvs, cmds, size, 120,
                                                  ['/dev/null'] * 2), size)
        finally:
            for p in srvs:
                p.stop()
    return s.repeat(runs, one, push.fmt_push)


def frisbeed_saturated(env, runs, dur, img, size):
    s = sat_series('frisbeed-saturated', 'frisbeed', 'kernel')

    def one(i):
        port = FRIS_PORT + 40 + i
        srv = stock.start_frisbeed(env, img, port)
        try:
            _settle()
            return push.saturated(env, [srv], MCAST, port, dur, size)
        finally:
            srv.stop()
    return s.repeat(runs, one, push.fmt_sat)


def udpcast_push(env, runs, img, size):
    s = push_series('udpcast-x1', 'udp-sender', 1, 'udp-receiver', size=size)
    try:
        udpcast.require()
    except NotAvailable as e:
        s.unavailable(str(e))
        return s

    def one(i):
        out = os.path.join(env.work, 'out-udpcast')
        base = 9000 + 10 * i
        srv = udpcast.start_sender(env, img, base)
        _settle()
        r = push.receivers(env, [srv], [udpcast.receiver_cmd(out, base)], size, 120, [out])
        if srv.wait(5) is None:
            srv.stop()
        return r
    return s.repeat(runs, one, push.fmt_push)


def _settle():
    """Give a just-started server time to open its sockets and join its group."""
    time.sleep(0.3)


# -- minibossd ----------------------------------------------------------------------------------


def mb_cmds(env, mb, n, outs, kind):
    """Stock clients through the master server, or the load generator on the session's group
    and port (from "minibossctl sessions"; a stock client's GET starts it)."""
    if kind == 'stock':
        return [stock.client_cmd(recv_addr(k), outs[k], server=mb.addr, image='image')
                for k in range(n)]
    if not env.bins.get('mb-fris-loadgen'):
        raise NotAvailable('mb-fris-loadgen not built')
    grp = mb.start_session('image')
    return [loadgen.loadgen_cmd(env, n, grp[0], grp[1])]


def mb_push(env, mb, s, runs, size, n, kind):
    def one(i):
        outs = [os.path.join(env.work, 'out0')] + ['/dev/null'] * (n - 1)
        return push.receivers(env, [mb.proc], mb_cmds(env, mb, n, outs, kind), size, 120, outs,
                              nrecv=n)
    return s.repeat(runs, one, push.fmt_push, why=mb.tail)


def mb_name(port_type, kind, n, rate='unpaced'):
    r = '' if rate == 'unpaced' else '%s-rate-' % rate
    return 'miniboss-%s-%s%sx%d' % (port_type, r, 'stock-' if kind == 'stock' else '', n)


def miniboss_push(env, runs, img, size, dur):
    """minibossd on net_af_packet (unpaced): stock clients, the load generator, two images,
    sender capacity; then net_af_xdp; then the other rate profiles."""
    plan = [push_series(mb_name('af_packet', k, n), 'minibossd', n, KIND_CLIENT[k],
                        'af_packet', 'unpaced', size=size) for k, n in MB_PLAN]
    two = push_series('miniboss-af_packet-2images', 'minibossd', 2, 'frisbee', 'af_packet',
                      'unpaced', images=2, size=size)
    sat = sat_series('miniboss-af_packet-saturated', 'minibossd', 'af_packet', 'unpaced')
    xdp1 = push_series('miniboss-af_xdp-x1', 'minibossd', 1, 'mb-fris-loadgen', 'af_xdp',
                       'unpaced', size=size)
    xsat = sat_series('miniboss-af_xdp-saturated', 'minibossd', 'af_xdp', 'unpaced')
    rated = {rate: [push_series(mb_name('af_packet', k, n, rate), 'minibossd', n,
                                KIND_CLIENT[k], 'af_packet', rate, size=size)
                    for k, n in RATE_PLAN] for rate in RATES}
    out = plan + [two, sat, xdp1, xsat] + [s for r in RATES for s in rated[r]]
    mb = None
    try:
        mb = Miniboss(env)
        img2 = env.make_file('image2.raw', size)
        mb.start({'image': img, 'image2': img2})
        for (kind, n), s in zip(MB_PLAN, plan):
            mb_push(env, mb, s, runs, size, n, kind)
        miniboss_two(env, mb, two, runs, size)
        sat.repeat(runs, lambda i: push.saturated(env, [mb.proc], *_session(mb), dur, size),
                   push.fmt_sat, why=mb.tail)
        mb.stop()
        miniboss_af_xdp(env, xdp1, xsat, runs, img, size, dur)
        for rate in RATES:
            miniboss_rate(env, rated[rate], rate, runs, img, size)
    except NotAvailable as e:
        for s in out:
            if not s.runs and not s.error and not s.not_available:
                s.unavailable(str(e))
    finally:
        if mb is not None:
            mb.stop()
    return out


def _session(mb):
    grp = mb.session_of('image')
    if grp is None:
        raise NotAvailable('no session for the load generator')
    return grp


def miniboss_two(env, mb, s, runs, size):
    def one(i):
        cmds = [stock.client_cmd(recv_addr(k), '/dev/null', server=mb.addr, image=name)
                for k, name in enumerate(('image', 'image2'))]
        return push.two_images(push.receivers(env, [mb.proc], cmds, size, 120,
                                              ['/dev/null'] * 2), size)
    return s.repeat(runs, one, push.fmt_push, why=mb.tail)


def miniboss_af_xdp(env, s1, s, runs, img, size, dur):
    """The same daemon on net_af_xdp over the same veth: one receiver, sender capacity."""
    try:
        with env.af_xdp_user('minibossd on net_af_xdp'):
            mx = Miniboss(env, driver='af_xdp')
            try:
                mx.start({'image': img})
                s1.repeat(runs, lambda i: push.receivers(
                    env, [mx.proc], mb_cmds(env, mx, 1, ['/dev/null'], 'loadgen'), size, 120,
                    ['/dev/null'], nrecv=1), push.fmt_push, why=mx.tail)
                s.repeat(runs, lambda i: push.saturated(env, [mx.proc], *_session(mx), dur,
                                                        size), push.fmt_sat, why=mx.tail)
            finally:
                mx.stop()
    except NotAvailable as e:
        for x in (s, s1):
            if not x.runs:
                x.unavailable(str(e))
    except RuntimeError as e:
        for x in (s, s1):
            x.failed(str(e))


def miniboss_rate(env, series, rate, runs, img, size):
    """A fresh daemon with rate profile rate: the RATE_PLAN pushes."""
    mr = Miniboss(env, rate=rate)
    try:
        mr.start({'image': img})
        cfg = mr.frisbee_config()
        for (kind, n), s in zip(RATE_PLAN, series):
            s['rate_config'] = cfg
            mb_push(env, mr, s, runs, size, n, kind)
    except NotAvailable as e:
        for s in series:
            if not s.runs:
                s.unavailable(str(e))
    finally:
        mr.stop()

