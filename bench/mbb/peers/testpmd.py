# SPDX-License-Identifier: BSD-3-Clause
"""
dpdk-testpmd in txonly mode: the raw ceiling of a DPDK port on the benchmark veth.

One forwarding lcore, bursts of 32, 1090-byte frames (a Frisbee BLOCK with its UDP, IPv4 and
Ethernet headers) to the peer's MAC and the Frisbee port, on net_af_packet or net_af_xdp over
mbbs0, with the EAL memory the harness chooses (--no-huge -m 512 by default).
"""

import os
import shutil

from ..procs import Proc
from ..util import NS_S, IF_S, ADDR_S, ADDR_R, FRIS_PORT, FRAME, NotAvailable


def require():
    if shutil.which('dpdk-testpmd') is None:
        raise NotAvailable('dpdk-testpmd not installed (package dpdk-dev)')


def cmd(env, driver, prefix):
    if driver == 'af_packet':
        vdev = 'net_af_packet0,iface=%s,qpairs=1' % IF_S
    else:
        vdev = 'net_af_xdp0,iface=%s,start_queue=0,queue_count=1' % IF_S
    return ['dpdk-testpmd', '-l', '0,1'] + env.eal_mem(512) + ['--no-pci',
            '--file-prefix', prefix, '--vdev', vdev, '--',
            '--forward-mode=txonly', '--txpkts=%d' % FRAME, '--stats-period=1',
            '--tx-ip=%s,%s' % (ADDR_S, ADDR_R), '--tx-udp=%d,%d' % (FRIS_PORT, FRIS_PORT),
            '--eth-peer=0,%s' % env.peer_mac, '--nb-cores=1', '--rxq=1', '--txq=1',
            '--burst=32', '--txd=1024', '--rxd=1024', '--total-num-mbufs=16384']


def start(env, driver, log_path):
    """testpmd sending from mbbs0 until stopped (SIGINT makes it clean up its port)."""
    return Proc(cmd(env, driver, 'mbb-tp-%d' % os.getpid()), ns=NS_S, log_path=log_path)
