# SPDX-License-Identifier: BSD-3-Clause
"""
udpcast: udp-sender in mbb-s and udp-receiver in mbb-r moving one file with 1048-byte blocks
over multicast. The sender waits for the receiver's handshake, so a transfer's time includes
the rendezvous.
"""

import os
import shutil

from ..procs import Proc
from ..util import NS_S, IF_S, IF_R, MCAST, BLOCK, NotAvailable


def require():
    if not shutil.which('udp-sender'):
        raise NotAvailable('udpcast not installed')


def start_sender(env, img, portbase):
    return Proc(['udp-sender', '--file', img, '--interface', IF_S, '--nokbd',
                 '--min-receivers', '1', '--blocksize', str(BLOCK), '--portbase', str(portbase),
                 '--mcast-data-address', MCAST, '--no-progress'], ns=NS_S,
                log_path=os.path.join(env.work, 'udp-sender.log'))


def receiver_cmd(out, portbase):
    return ['udp-receiver', '--file', out, '--interface', IF_R, '--nokbd',
            '--portbase', str(portbase), '--no-progress']
