# SPDX-License-Identifier: BSD-3-Clause
"""
curl in mbb-r as the HTTP/FTP client and as the sync's peer.

- parallel(): one curl process downloading a list of URLs in parallel (--parallel, at most
  pmax at once), bodies to /dev/null, printing each transfer's size;
- tls_get(): one download over TLS with a client certificate, written to a file (what a
  testbed's sync from ops would do with curl).
"""

import os

from ..procs import Proc
from ..util import NS_R


def parallel(env, urls, extra=(), pmax=300):
    """Start the downloads; returns (proc, path of the per-transfer sizes)."""
    cfg = os.path.join(env.work, 'curl.cfg')
    with open(cfg, 'w') as f:
        for u in urls:
            f.write('url = "%s"\noutput = "/dev/null"\n' % u)
    cmd = ['curl', '-s', '-S', '--no-progress-meter', '--fail', '--parallel',
           '--parallel-immediate',
           '--parallel-max', str(min(pmax, len(urls))), '-w', '%{size_download}\\n',
           '-K', cfg] + list(extra)
    lp = os.path.join(env.work, 'curl.out')
    with open(lp, 'w'):
        pass
    p = Proc(cmd, ns=NS_R, log_path=err_log(env), stdout=open(lp, 'w'))
    return p, lp


def err_log(env):
    return os.path.join(env.work, 'curl.err')


def tls_get(env, tls, url, target):
    return Proc(['curl', '-s', '-S', '--fail', '--cacert', tls['ca'], '--cert', tls['cli_crt'],
                 '--key', tls['cli_key'], '-o', target, url], ns=NS_R,
                log_path=os.path.join(env.work, 'curl-tls.err'))
