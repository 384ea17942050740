# SPDX-License-Identifier: BSD-3-Clause
"""
vsftpd in mbb-s: anonymous, read-only, passive mode, use_sendfile=YES, on port 2121.

It stalls on this path with more than about 64 logins at once from one client, so the FTP
figures run at most FTP_PMAX downloads at a time (the table says so).
"""

import os
import shutil
import time

from ..procs import Proc
from ..util import NS_S, ADDR_S, NotAvailable, tail

PORT = 2121
FTP_PMAX = 64


def start(env, root):
    if not shutil.which('vsftpd'):
        raise NotAvailable('vsftpd not installed')
    os.makedirs('/var/run/vsftpd/empty', exist_ok=True)
    conf = os.path.join(env.work, 'vsftpd.conf')
    with open(conf, 'w') as f:
        f.write('\n'.join([
            'listen=YES', 'listen_ipv6=NO', 'listen_address=%s' % ADDR_S,
            'listen_port=%d' % PORT,
            'background=NO', 'anonymous_enable=YES', 'local_enable=NO', 'write_enable=NO',
            'anon_root=%s' % root, 'no_anon_password=YES', 'pasv_enable=YES',
            'pasv_min_port=40000', 'pasv_max_port=44999', 'max_clients=2000',
            'max_per_ip=2000', 'seccomp_sandbox=NO', 'isolate_network=NO', 'isolate=NO',
            'secure_chroot_dir=/var/run/vsftpd/empty', 'ftp_username=ftp',
            'xferlog_enable=NO', 'connect_from_port_20=NO', 'use_sendfile=YES',
            'pasv_address=%s' % ADDR_S, 'dirmessage_enable=NO', 'hide_ids=YES',
            'vsftpd_log_file=%s/vsftpd.log' % env.work, '']))
    lp = os.path.join(env.work, 'vsftpd.out')
    p = Proc(['vsftpd', conf], ns=NS_S, log_path=lp)
    time.sleep(0.3)
    if not p.alive():
        raise NotAvailable('vsftpd did not start: ' + tail(lp))
    return p


def url(name):
    return 'ftp://%s:%d/%s' % (ADDR_S, PORT, name)
