# SPDX-License-Identifier: BSD-3-Clause
"""
Multicast as a user runs it: minibossd with every [frisbee] key at its default (adaptive rate,
IGMP querier auto, unicast fallback) against the stock frisbeed, one image (256 MiB; 64 MiB in
--quick) pushed to 1, 4 and 16 stock clients (one process and address each, raw mode), on two
links:

- 'unlimited': the plain veth; frisbeed at -W 10 Gbit/s, as the push figures run it (a cap it
  never reaches);
- 'link-1g': the same veth shaped to 1 Gbit/s at the server's egress (tbf, 256 KiB burst,
  20 ms of queue: a 1 GbE port with a switch's buffer); frisbeed at -W 1 Gbit/s, the setting
  an administrator gives it for such a link (its best case).

minibossd runs on net_af_packet with qdisc_bypass=0 on both links, so its frames go through
the same qdisc as frisbeed's and the two links differ only in the shaper. The table is
"Multicast, default configuration" (records with table 'mcast', mode = the link).
"""

import os

from .. import push
from ..peers import frisbee as stock
from ..peers.minibossd import Miniboss
from ..util import FRIS_PORT, IF_S, NS_S, MiB, NotAvailable, sh
from .frisbee import KIND_CLIENT, _settle, frisbeed_cmds, mb_push, push_series

LINKS = [('unlimited', None, 10000000000), ('link-1g', '1gbit', 1000000000)]
CLIENTS = [1, 4, 16]


def series(link, server, n, size):
    s = push_series('mcast-%s-%s-stock-x%d' % (
        link, 'frisbeed' if server == 'frisbeed' else 'miniboss-default', n), server, n,
        'frisbee', 'kernel' if server == 'frisbeed' else 'af_packet',
        None if server == 'frisbeed' else 'default', size=size)
    s['table'] = 'mcast'
    s['mode'] = link
    return s


def shape(rate):
    """The server side's egress shaped to rate (None: no shaper)."""
    sh(['tc', 'qdisc', 'del', 'dev', IF_S, 'root'], ns=NS_S, check=False, quiet=True)
    if rate:
        sh(['tc', 'qdisc', 'add', 'dev', IF_S, 'root', 'tbf', 'rate', rate, 'burst', '256kb',
            'latency', '20ms'], ns=NS_S)


def run(env, runs, dur):
    stock.require()
    size = (64 if env.quick else 256) * MiB
    img = env.make_file('image.raw', size)
    out = []
    try:
        for link, rate, bw in LINKS:
            shape(rate)
            for n in CLIENTS:
                out.append(frisbeed(env, runs, img, size, n, link, bw))
            out += miniboss(env, runs, img, size, link)
    finally:
        shape(None)
    return out


def frisbeed(env, runs, img, size, n, link, bw):
    s = series(link, 'frisbeed', n, size)
    s['frisbeed_bw'] = bw

    def one(i):
        port = FRIS_PORT + 40 + i
        outs = [os.path.join(env.work, 'out0')] + ['/dev/null'] * (n - 1)
        srv = stock.start_frisbeed(env, img, port, bw=bw)
        try:
            _settle()
            return push.receivers(env, [srv], frisbeed_cmds(env, n, port, outs, 'stock'),
                                  size, 120, outs, nrecv=n)
        finally:
            srv.stop()
    return s.repeat(runs, one, push.fmt_push)


def miniboss(env, runs, img, size, link):
    ss = [series(link, 'minibossd', n, size) for n in CLIENTS]
    mb = None
    try:
        mb = Miniboss(env, rate='default', vdev_args=',qdisc_bypass=0')
        mb.start({'image': img})
        cfg = mb.frisbee_config()
        for n, s in zip(CLIENTS, ss):
            s['rate_config'] = cfg
            mb_push(env, mb, s, runs, size, n, 'stock')
    except NotAvailable as e:
        for s in ss:
            if not s.runs:
                s.unavailable(str(e))
    finally:
        if mb is not None:
            mb.stop()
    return ss
