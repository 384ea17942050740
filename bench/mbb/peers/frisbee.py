# SPDX-License-Identifier: BSD-3-Clause
"""
The stock Emulab Frisbee tools: the frisbeed server and the frisbee client, taken from
$MB_FRISBEE_BIN or ../shared/peers/emulab-frisbee/bin next to the source tree.

Both run in raw mode (-N, JOIN2) on the benchmark path; frisbeed with -W 10000000000 (a
bandwidth cap it never reaches), the client with its own source address per process.
"""

import os

from ..procs import Proc
from ..util import PEERS, NS_S, ADDR_S, MCAST, NotAvailable


def require():
    if not os.access(os.path.join(PEERS, 'frisbeed'), os.X_OK):
        raise NotAvailable('no stock Emulab frisbee/frisbeed in %s (set MB_FRISBEE_BIN)' % PEERS)


def start_frisbeed(env, img, port, group=MCAST, bw=10000000000):
    """frisbeed serving img on group:port from mbb-s at -W bw bits/s (log: frisbeed.log)."""
    return Proc([os.path.join(PEERS, 'frisbeed'), '-i', ADDR_S, '-m', group, '-p', str(port),
                 '-W', str(bw), img], ns=NS_S,
                log_path=os.path.join(env.work, 'frisbeed.log'))


def client_cmd(addr, out, group=None, port=None, server=None, image=None, timeout=30):
    """A stock client bound to addr writing to out: on group:port, or through the master
    server at server asking for image (as testbed nodes do)."""
    cmd = [os.path.join(PEERS, 'frisbee'), '-q', '-N', '-i', addr, '-T', str(timeout)]
    if server:
        cmd += ['-S', server, '-F', image]
    else:
        cmd += ['-m', group, '-p', str(port)]
    return cmd + [out]
