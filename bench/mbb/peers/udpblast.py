# SPDX-License-Identifier: BSD-3-Clause
"""
The kernel UDP senders (bench/udp-blast.c): 1048-byte datagrams from mbbs0 to the peer, either
one sendto() per datagram (what the stock frisbeed does) or UDP_SEGMENT super-datagrams of 62
blocks, 8 per sendmmsg() ("gso").
"""

import os

from ..procs import Proc
from ..util import NS_S, ADDR_S, ADDR_R, FRIS_PORT

MODES = ('sendto', 'gso')


def start(env, mode, seconds):
    return Proc([env.bins['udp-blast'], '-d', ADDR_R, '-p', str(FRIS_PORT), '-I', ADDR_S,
                 '-m', mode, '-t', str(seconds)], ns=NS_S,
                log_path=os.path.join(env.work, 'blast.log'))
