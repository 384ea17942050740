# SPDX-License-Identifier: BSD-3-Clause
"""
minibossd as the benchmarks use it: its configuration (including the Frisbee rate profile),
handing its DPDK port over from the kernel and back, waiting for its images, and what the
benchmarks ask it through minibossctl (sessions, health, sync).

The daemon owns the DPDK port: the kernel interface under it keeps no address and drops what
arrives (net_af_packet only taps the veth; the kernel would otherwise answer the dataplane's
TCP ports with resets), and its exception tap carries the address in the kernel so the master
server and FTP control, which use kernel sockets, are reachable. Images are given through a
state directory. Launching the process itself is daemon.py's job (through tools/mb-launch).
"""

import json
import os
import signal
import subprocess
import time

from .. import daemon
from ..measure import Window
from ..procs import Proc
from ..util import (NS_S, NS_R, IF_S, IF_R, ADDR_S, PREFIX, MiB, NotAvailable, sh, recv_addr)
from . import frisbee as stock

# Frisbee rate profiles: the config lines each adds to [frisbee]. 'unpaced' is what the push
# figures have always used, the engine alone: a session sends as fast as the port takes it and
# no node is moved to unicast. Both must be said since the adaptive rate and the unicast
# fallback became defaults: the saturated series' fris-flood never receives a BLOCK (the XDP
# sink drops them all), so every request it makes is a re-ask, which the adaptive rate rightly
# reads as loss (it backs off to its floor) and the fallback as a node the group does not reach.
# 'default' leaves the [frisbee] keys at the daemon's defaults (what a user runs); 'dynamic'
# says dynamic-rate = yes, today the default too.
RATE_PROFILES = {
    'unpaced': 'rate = 0\ndynamic-rate = no\nmax-fallback-nodes = 0\n',
    'default': '',
    'dynamic': 'dynamic-rate = yes\n',
}


class Miniboss:
    TAP = 'mbbt'
    starts = 0

    def __init__(self, env, ns=NS_S, ifname=IF_S, addr=ADDR_S, driver='af_packet',
                 rate='unpaced', vdev_args=''):
        self.env = env
        self.driver = driver
        self.rate = rate
        self.ns, self.ifname, self.addr = ns, ifname, addr
        self.http_port = 8081
        self.ftp_port = 2021
        self.dir = os.path.join(env.work, 'mb')
        self.d = daemon.Daemon(env, ns, ifname, addr, driver, self.TAP,
                               os.path.join(self.dir, 'control.sock'), vdev_args=vdev_args)

    @property
    def proc(self):
        return self.d.proc

    def require(self, part):
        if part == 'tcp':
            # the HTTP server lives in the dataplane: probe for its symbol in the binary
            if subprocess.run(['grep', '-q', 'mb_tcp_http', self.env.bins['minibossd']]
                              ).returncode != 0:
                raise NotAvailable('minibossd built without the HTTP/TCP data path')
        if part == 'sync':
            if not self.env.bins.get('mb-manifest'):
                raise NotAvailable('tools/mb-manifest not built')

    def ctl(self, *args, timeout=60, check=True):
        return self.d.ctl(*args, timeout=timeout, check=check)

    def tail(self):
        return self.d.tail()

    def write_conf(self, extra=''):
        conf = os.path.join(self.dir, 'mb.conf')
        with open(conf, 'w') as f:
            f.write('[server]\nstate-dir = %s/state\ncontrol-socket = %s\n'
                    'log-level = info\n\n[dpdk]\naddress = %s/%d\nexception-tap = %s\n'
                    'mbufs = 16383\nidle-sleep-us = 50\n\n[frisbee]\nmcast-base = 239.77.2.1\n'
                    '%s\n[tcp]\nhttp-port = %d\n%s' % (
                        self.dir, self.d.sock, self.addr, PREFIX, self.TAP,
                        RATE_PROFILES[self.rate], self.http_port, extra))
        return conf

    def start(self, images, extra_conf='', extra_mem=0):
        """images: {name: path}, put into a fresh state directory; returns once every image
        is verified and published."""
        os.makedirs(self.dir, exist_ok=True)
        daemon.write_state(self.env, os.path.join(self.dir, 'state'), images)
        conf = self.write_conf(extra_conf)
        # the daemon owns the port; netfilter's netdev ingress hook runs after the packet
        # socket's copy, so the dataplane still sees everything
        sh(['ip', 'addr', 'flush', 'dev', self.ifname], ns=self.ns)
        sh(['nft', '-f', '-'], ns=self.ns,
           input='table netdev mbbown { chain in { type filter hook ingress device %s '
                 'priority 0; policy drop; }\n}\n' % self.ifname)
        # veth leaves partial checksums in the clients' frames (offload): a real NIC never
        # delivers those, a DPDK port over a veth sees them as wrong. Only for miniboss runs;
        # the kernel peers keep offloads.
        sh(['ethtool', '-K', IF_R, 'tx', 'off'], ns=NS_R, check=False, quiet=True)
        Miniboss.starts += 1
        mem = 1024 + (extra_mem + sum(os.path.getsize(p) for p in images.values())) // MiB
        # ready means the store verified every image (large ones take a while)
        self.d.start(conf, mem, os.path.join(self.env.work, 'minibossd-%s-%s-%d.log' % (
            self.ns, self.driver, Miniboss.starts)), timeout=300)
        st = {i['name']: i.get('state') for i in self.images()}
        if any(st.get(n) != 'ok' for n in images):
            raise NotAvailable('minibossd did not take every image: %s' % st)

    def stop(self):
        self.d.stop()
        # give the kernel its address and its port back for the kernel peers
        sh(['nft', 'delete', 'table', 'netdev', 'mbbown'], ns=self.ns, check=False, quiet=True)
        sh(['ethtool', '-K', IF_R, 'tx', 'on'], ns=NS_R, check=False, quiet=True)
        sh(['ip', 'addr', 'replace', '%s/%d' % (self.addr, PREFIX), 'brd', '+', 'dev',
            self.ifname], ns=self.ns, check=False)

    # -- what the benchmarks ask it ------------------------------------------------------------

    def json(self, *args):
        try:
            return json.loads(self.ctl('--json', *args, check=False) or 'null')
        except ValueError:
            return None

    def images(self):
        v = self.json('images')
        return v if isinstance(v, list) else []

    def frisbee_config(self):
        """The rate keys of the running daemon ({key: value}), from "minibossctl config"."""
        fr = find_key(self.json('config'), 'frisbee')
        out = {}
        for k in ('rate', 'port-rate', 'dynamic-rate'):
            v = fr.get(k) if isinstance(fr, dict) else None
            if isinstance(v, dict) and 'value' in v:
                out[k] = v['value']
        return out

    def session_of(self, image):
        """(group, port) of the active session of image, or None."""
        sess = self.json('sessions')
        lst = []
        if isinstance(sess, dict):
            lst = (sess.get('dataplane') or []) + ((sess.get('master') or {}).get('sessions')
                                                   or [])
        for x in lst:
            if (x.get('image') == image and x.get('addr') and x.get('port') and
                    x.get('state', 'active') == 'active'):
                return (x['addr'], x['port'])
        return None

    def start_session(self, image='image', timeout=10):
        """The session of image, started by one stock client's GET through the master server
        if there is none yet (the client receives the whole image first)."""
        grp = self.session_of(image)
        if grp is None:
            try:
                sh(stock.client_cmd(recv_addr(0), '/dev/null', server=self.addr, image=image,
                                    timeout=10), ns=NS_R, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise NotAvailable('minibossd (%s): the stock client got no image in %d s '
                                   'through the master server' % (self.driver, timeout))
            grp = self.session_of(image)
        if grp is None:
            raise NotAvailable('no session for the load generator in "minibossctl sessions"')
        return grp

    def open_session(self, image='image', timeout=20):
        """The session of image, started by a stock client that is stopped as soon as the
        session is listed (a big image would take it long to receive)."""
        grp = self.session_of(image)
        if grp is not None:
            return grp
        p = Proc(stock.client_cmd(recv_addr(1), '/dev/null', server=self.addr, image=image),
                 ns=NS_R, log_path=os.path.join(self.env.work, 'session-starter.log'))
        end = time.monotonic() + timeout
        while grp is None and time.monotonic() < end:
            time.sleep(0.1)
            grp = self.session_of(image)
        p.stop(signal.SIGKILL, grace=1)
        if grp is None:
            raise NotAvailable('minibossd: no session for the image in %d s' % timeout)
        return grp

    def store(self):
        """What "minibossctl --json health" says about the store, or None."""
        s = find_key(self.json('health'), 'store')
        return s if isinstance(s, dict) else None

    def http_url(self, name):
        return 'http://%s:%d/images/%s' % (self.addr, self.http_port, name)

    def ftp_url(self, name):
        """FTP control on a kernel socket through the exception tap; the data connection on
        the dataplane."""
        return 'ftp://%s:%d/%s' % (self.addr, self.ftp_port, name)

    def probe_http(self, name, what=''):
        """NotAvailable unless the daemon answers a HEAD for name."""
        probe = subprocess.run(['ip', 'netns', 'exec', NS_R, 'curl', '-s', '-S', '-I', '-m', '5',
                                self.http_url(name)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        if probe.returncode != 0:
            raise NotAvailable('minibossd does not answer HTTP on port %d%s (%s)' % (
                self.http_port, what, ' '.join(probe.stdout.split())[:80]))

    def sync_once(self, tls, origin_url, name, size, publish):
        """Fresh daemon and store, synced to a manifest without the image; then the manifest
        changes to list it: time from that change ('sync --wait') to the image published."""
        self.stop()
        extra = ('\n[origin]\nurl = %s\nca-file = %s\nclient-cert = %s\nclient-key = %s\n'
                 'manifest-pubkey = %s\nsite = bench\ntimeout = 300s\ninterval = 86400s\n' % (
                     origin_url, tls['ca'], tls['cli_crt'], tls['cli_key'], tls['ops_pub']))
        publish(['tiny.raw'])
        # room in EAL memory for the image the sync will bring: without it the store
        # cannot hold it in hugepage memory and falls back to a second (file) pass
        self.start({}, extra, extra_mem=size)
        if not self.wait_image('tiny.raw', 60):
            raise NotAvailable('minibossd did not sync the first manifest: ' + self.tail())
        publish(['tiny.raw', name])
        w = Window([self.proc])
        t0 = time.monotonic()
        self.ctl('sync', '--wait', timeout=600, check=False)
        ok = self.wait_image(name, 600)
        wall = time.monotonic() - t0
        r = w.close()
        r['transfer_s'] = wall
        r['gbps'] = size * 8 / wall / 1e9
        if not ok:
            r['error'] = 'image not published: ' + self.tail()
        return r

    def wait_image(self, name, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if any(i.get('name') == name and i.get('state') == 'ok' for i in self.images()):
                return True
            time.sleep(0.02)
        return False


def find_key(obj, key):
    """The first value of key anywhere in a JSON document (health nests by contributor)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            x = find_key(v, key)
            if x is not None:
                return x
    return None
