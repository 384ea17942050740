# SPDX-License-Identifier: BSD-3-Clause
"""
Sync over TLS with client certificates: one file (1 GiB; 128 MiB in --quick) from nginx in
mbb-s (as ops), to curl in mbb-r writing to disk, and to minibossd in mbb-r: time from
"minibossctl sync --wait" after the manifest starts listing the image to the image verified and
published, on a fresh store.

minibossd's sync uses kernel sockets over mbbr0, like curl; its DPDK port is a second, local
veth pair in that namespace (mbbd0/mbbd1), so it does not take mbbr0 from the kernel.
"""

import os
import shutil
import time

from ..measure import Series, Window
from ..peers import curl, nginx, pki
from ..peers.minibossd import Miniboss
from ..util import NS_R, ADDR_S, MiB, NotAvailable, sh


def run(env, runs, dur):
    size = (128 if env.quick else 1024) * MiB
    www = env.public_dir('ops-www')
    name = 'sync-image.raw'
    env.public_file(www, name, size)
    tls = pki.make(env)
    ngx = nginx.start(env, www, tls=tls)
    try:
        s = Series('curl-tls', 'sync', 'sync', 'nginx', True, client='curl',
                   port_type='kernel', file_bytes=size)
        dest = os.path.join(env.work, 'curl-dest')
        os.makedirs(dest, exist_ok=True)

        def one(i):
            target = os.path.join(dest, 'image.raw')
            w = Window([ngx])
            t0 = time.monotonic()
            c = curl.tls_get(env, tls, nginx.tls_url(name), target)
            rc = c.wait(300)
            wall = time.monotonic() - t0
            r = w.close()
            r['transfer_s'] = wall
            got = os.path.getsize(target) if os.path.exists(target) else 0
            if rc != 0 or got != size:
                r['error'] = 'curl rc %s, %d of %d bytes' % (rc, got, size)
            r['gbps'] = got * 8 / wall / 1e9
            r['client_cpu_s'] = c.cpu()
            if os.path.exists(target):
                os.unlink(target)
            return r
        s.repeat(runs, one, fmt)
        return [s, miniboss_sync(env, runs, tls, www, name, size)]
    finally:
        ngx.stop()


def fmt(r):
    return '%.2f Gbit/s %s' % (r.get('gbps', 0), r.get('error', 'ok'))


def miniboss_sync(env, runs, tls, www, name, size):
    s = Series('miniboss-sync', 'sync', 'sync', 'nginx', False, client='minibossd',
               port_type='kernel', file_bytes=size)
    mb = None
    try:
        mb = Miniboss(env, ns=NS_R, ifname='mbbd0', addr='10.78.0.1')
        mb.require('sync')
        sh(['ip', 'link', 'add', 'mbbd0', 'type', 'veth', 'peer', 'name', 'mbbd1'], ns=NS_R)
        for i in ('mbbd0', 'mbbd1'):
            sh(['ip', 'link', 'set', i, 'up'], ns=NS_R)
        pki.manifest_keys(env, tls)
        with open(os.path.join(www, 'tiny.raw'), 'wb') as f:
            f.write(os.urandom(4096))
        os.chmod(os.path.join(www, 'tiny.raw'), 0o644)
        publish = Publisher(env, www, tls)
        s.repeat(runs, lambda i: mb.sync_once(tls, 'https://%s:%d' % (ADDR_S, nginx.TLS_PORT),
                                              name, size, publish), fmt)
    except NotAvailable as e:
        s.unavailable(str(e))
    except RuntimeError as e:
        s.failed(str(e))
    finally:
        if mb is not None:
            mb.stop()
    return s


class Publisher:
    """ops' side: the signed manifest in the web root, listing the images given."""

    def __init__(self, env, www, tls):
        self.env, self.www, self.tls = env, www, tls
        self.built = {}

    def __call__(self, names):
        # build each manifest once (hashing the image), then swap it in atomically
        mani = self.env.bins['mb-manifest']
        key = ','.join(names)
        mf = os.path.join(self.env.work, 'manifest-%d.json' % len(names))
        if key not in self.built:
            sh([mani, 'build', self.www, '--site', 'bench=' + key, '--version-from', '1', '-o',
                mf], timeout=300)
            sh([mani, 'sign', '--key', self.tls['ops_key'], mf])
            self.built[key] = mf
        for suffix in ('.sig', ''):
            tmp = os.path.join(self.env.work, '.manifest.tmp')
            shutil.copyfile(self.built[key] + suffix, tmp)
            os.chmod(tmp, 0o644)
            os.rename(tmp, os.path.join(self.www, 'manifest.json' + suffix))
