# SPDX-License-Identifier: BSD-3-Clause
"""
Constants of the benchmark path and the small helpers every module uses: a timestamped log on
stderr, running a command (optionally inside a namespace) and the exception a part raises when
it cannot run on this machine.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # bench/
ROOT = os.path.dirname(HERE)
# the stock Emulab tools (frisbee, frisbeed): MB_FRISBEE_BIN, or next to the source tree
PEERS = os.environ.get('MB_FRISBEE_BIN') or os.path.join(os.path.dirname(ROOT), 'shared', 'peers',
                                                         'emulab-frisbee', 'bin')

# the path: namespace mbb-s (servers) and mbb-r (receivers, clients), one veth pair between;
# MBB_NETNS=<name> names them <name>-s and <name>-r instead (namespace names are global: two
# runs on one machine must not share them)
NS_S = os.environ.get('MBB_NETNS', 'mbb') + '-s'
NS_R = os.environ.get('MBB_NETNS', 'mbb') + '-r'
IF_S = 'mbbs0'
IF_R = 'mbbr0'
ADDR_S = '10.77.0.1'
ADDR_R = '10.77.0.2'
PREFIX = 24
MCAST = '239.77.1.1'
FRIS_PORT = 7000
# one extra receiver address per receiver process: 10.77.0.100 .. 10.77.0.163
RECV_ADDRS = 64


def recv_addr(k):
    """The k-th receiver address in mbb-r."""
    return '10.77.0.%d' % (100 + k)


BLOCK = 1048                      # Frisbee BLOCK payload
FRAME = BLOCK + 8 + 20 + 14       # + UDP + IPv4 + Ethernet = 1090

MiB = 1 << 20
GiB = 1 << 30


def log(*a):
    print('[bench %s]' % time.strftime('%H:%M:%S'), *a, file=sys.stderr, flush=True)


def sh(cmd, check=True, ns=None, quiet=False, timeout=60, input=None):
    """Run a command (a list), inside namespace ns if given, and return its stdout.

    check: raise RuntimeError on a non-zero exit; quiet: do not log a non-zero exit."""
    if ns:
        cmd = ['ip', 'netns', 'exec', ns] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise RuntimeError('%s: exit %d: %s' % (' '.join(cmd), r.returncode, r.stderr.strip()))
    if not quiet and r.returncode != 0:
        log('note: %s -> %d %s' % (' '.join(cmd), r.returncode, r.stderr.strip()[:200]))
    return r.stdout


class NotAvailable(Exception):
    """A part (a peer or a miniboss piece) is not runnable here: the table says so."""


def tail(path, n=300):
    """The last n characters of a log file on one line ('' when it cannot be read)."""
    try:
        with open(path, errors='replace') as f:
            return ' '.join(f.read()[-n:].split())
    except OSError:
        return ''
