# SPDX-License-Identifier: BSD-3-Clause
"""
The benchmark environment: what the harness sets up on this machine and restores afterwards.

- the helper programs (from a meson build directory, or compiled here when there is none);
- the path: namespaces mbb-s and mbb-r joined by the veth pair mbbs0 <-> mbbr0, offloads and MTU
  as a benchmark asks;
- the sink: an XDP program (or an nftables ingress rule) on mbbr0 that drops UDP frames of
  BLOCK size, so the peer's rx_packets count what crossed the path at no socket cost;
- the XDP guard: an AF_XDP user (testpmd or minibossd on net_af_xdp) leaves its XDP program on
  the interface when it dies without cleaning up, and the next AF_XDP user on that interface
  then fails or runs against a stale socket map. The guard detaches whatever is attached before
  and after each AF_XDP user, and says so on stderr and in the results;
- mounts (bpffs, hugetlbfs) made only when missing, the hugepage reservation raised only with
  --hugepages, both restored at teardown, and the work directory for files and logs.
"""

import glob
import json
import os
import shutil
import subprocess
import tempfile

from . import procs
from .util import (HERE, ROOT, NS_S, NS_R, IF_S, IF_R, ADDR_S, ADDR_R, PREFIX, RECV_ADDRS, MiB,
                   NotAvailable, log, sh, recv_addr)

# IFLA_XDP_ATTACHED values, and the ip-link keyword that detaches each mode
XDP_MODES = {1: 'xdpdrv', 2: 'xdpgeneric', 3: 'xdpoffload'}


class Env:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.work = tempfile.mkdtemp(prefix='mbb-')
        self.mounts = []
        self.hugepages_saved = None
        self.build = None
        self.bins = {}
        self.xdp_events = []
        self.offload = True
        self.mtu = 1500

    # -- helpers built here or found in a build directory --------------------------------------

    def find_build(self):
        cands = []
        if self.args.build_dir:
            cands.append(self.args.build_dir)
        cands += [os.path.join(ROOT, 'build-bench'), os.path.join(ROOT, 'build')]
        cands += sorted(glob.glob(os.path.join(ROOT, 'build*')))
        for c in cands:
            if os.path.isfile(os.path.join(c, 'build.ninja')):
                self.build = c
                break
        log('build directory:', self.build)

    def bin_in_build(self, rel):
        if self.build and os.access(os.path.join(self.build, rel), os.X_OK):
            return os.path.join(self.build, rel)
        return None

    def prepare_helpers(self):
        self.find_build()
        b = self.bin_in_build('bench/udp-blast')
        if not b:
            b = os.path.join(self.work, 'udp-blast')
            sh(['cc', '-O2', '-D_GNU_SOURCE', '-o', b, os.path.join(HERE, 'udp-blast.c')])
        self.bins['udp-blast'] = b
        f = self.bin_in_build('bench/fris-flood')
        if not f:
            f = os.path.join(self.work, 'fris-flood')
            try:
                sh(['cc', '-O2', '-D_GNU_SOURCE', '-I', os.path.join(ROOT, 'proto'), '-I',
                    os.path.join(ROOT, 'common'), '-I', ROOT, '-o', f,
                    os.path.join(HERE, 'fris-flood.c'), os.path.join(ROOT, 'proto',
                                                                      'fris_wire.c')])
            except RuntimeError as e:
                log('no fris-flood: %s' % e)
                f = None
        self.bins['fris-flood'] = f
        x = os.path.join(self.build, 'bench/xdp_udp_drop.bpf.o') if self.build else ''
        if not os.path.isfile(x):
            x = os.path.join(self.work, 'xdp_udp_drop.bpf.o')
            try:
                sh(['clang', '-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu',
                    '-c', os.path.join(HERE, 'xdp_udp_drop.bpf.c'), '-o', x])
            except Exception as e:
                log('no XDP sink (%s): the peer will drop with nftables instead' % e)
                x = None
        self.bins['xdp'] = x
        for name, rel in (('minibossd', 'server/minibossd'), ('minibossctl', 'tools/minibossctl'),
                          ('mb-frisbee', 'tools/mb-frisbee'),
                          ('mb-fris-loadgen', 'tools/mb-fris-loadgen'),
                          ('mb-manifest', 'tools/mb-manifest')):
            self.bins[name] = self.bin_in_build(rel)
        log('helpers:', json.dumps(self.bins))

    # -- the path ------------------------------------------------------------------------------

    def setup_net(self, offload=True, mtu=1500):
        """(Re)create both namespaces and the veth pair; offloads on or off on both ends."""
        self.teardown_net()
        sh(['ip', 'netns', 'add', NS_S])
        sh(['ip', 'netns', 'add', NS_R])
        sh(['ip', 'link', 'add', IF_S, 'netns', NS_S, 'type', 'veth', 'peer', 'name', IF_R,
            'netns', NS_R])
        for ns, ifn, addr in ((NS_S, IF_S, ADDR_S), (NS_R, IF_R, ADDR_R)):
            sh(['ip', 'link', 'set', 'lo', 'up'], ns=ns)
            sh(['ip', 'link', 'set', ifn, 'mtu', str(mtu)], ns=ns)
            sh(['ip', 'addr', 'add', '%s/%d' % (addr, PREFIX), 'brd', '+', 'dev', ifn], ns=ns)
            sh(['ip', 'link', 'set', ifn, 'up'], ns=ns)
            sh(['ip', 'route', 'add', '224.0.0.0/4', 'dev', ifn], ns=ns)
            onoff = 'on' if offload else 'off'
            sh(['ethtool', '-K', ifn, 'tso', onoff, 'gso', onoff, 'gro', onoff], ns=ns,
               check=False, quiet=True)
        for i in range(RECV_ADDRS):
            sh(['ip', 'addr', 'add', '%s/%d' % (recv_addr(i), PREFIX), 'dev', IF_R], ns=NS_R)
        self.offload = offload
        self.mtu = mtu
        self.peer_mac = json.loads(sh(['ip', '-j', 'link', 'show', IF_R], ns=NS_R))[0]['address']
        self.srv_mac = json.loads(sh(['ip', '-j', 'link', 'show', IF_S], ns=NS_S))[0]['address']

    def teardown_net(self):
        for ns in (NS_S, NS_R):
            subprocess.run(['ip', 'netns', 'del', ns], stderr=subprocess.DEVNULL)

    # -- the sink at the peer ------------------------------------------------------------------

    def sink_on(self):
        """Drop UDP at the peer as early as possible (XDP), counting it in rx_packets."""
        if self.bins.get('xdp'):
            sh(['ip', 'link', 'set', 'dev', IF_R, 'xdpdrv', 'obj', self.bins['xdp'], 'sec',
                'xdp'], ns=NS_R)
            return 'xdp-drop'
        rules = ('table netdev mbbsink { chain in { type filter hook ingress device %s '
                 'priority 0; meta l4proto udp meta length >= 498 drop; } }' % IF_R)
        sh(['nft', '-f', '-'], ns=NS_R, input=rules)
        return 'nft-ingress-drop'

    def sink_off(self):
        sh(['ip', 'link', 'set', 'dev', IF_R, 'xdpdrv', 'off'], ns=NS_R, check=False, quiet=True)
        sh(['nft', 'delete', 'table', 'netdev', 'mbbsink'], ns=NS_R, check=False, quiet=True)

    # -- the XDP guard around AF_XDP users -----------------------------------------------------

    def xdp_attached(self, ns, ifname):
        """The XDP programs attached to ifname in ns: [(mode keyword, prog id, prog name)]."""
        try:
            j = json.loads(sh(['ip', '-d', '-j', 'link', 'show', 'dev', ifname], ns=ns,
                              quiet=True) or '[]')
        except (RuntimeError, ValueError):
            return []
        x = (j[0] if j else {}).get('xdp') or {}
        ents = x.get('attached') or ([x] if x.get('prog') else [])
        out = []
        for e in ents:
            prog = e.get('prog') or {}
            out.append((XDP_MODES.get(e.get('mode'), 'xdp'), prog.get('id'), prog.get('name')))
        return out

    def xdp_clear(self, ns, ifname, when):
        """Detach every XDP program on ifname, saying so; NotAvailable when one stays."""
        found = self.xdp_attached(ns, ifname)
        for mode, pid, name in found:
            msg = ('XDP guard: %s in %s had XDP program %s (id %s, %s) attached %s: detaching' %
                   (ifname, ns, name, pid, mode, when))
            log(msg)
            self.xdp_events.append(msg)
            sh(['ip', 'link', 'set', 'dev', ifname, mode, 'off'], ns=ns, check=False)
        if found:
            left = self.xdp_attached(ns, ifname)
            if left:
                raise NotAvailable('%s in %s keeps XDP program(s) %s after detaching them %s' % (
                    ifname, ns, ', '.join('%s (id %s, %s)' % (n, i, m) for m, i, n in left),
                    when))
        return found

    def af_xdp_user(self, who, ns=NS_S, ifname=IF_S):
        """Context manager around one AF_XDP user of ifname: the guard before and after."""
        env = self

        class Guard:
            def __enter__(self):
                env.mount_if_missing('/sys/fs/bpf', 'bpf')
                env.xdp_clear(ns, ifname, 'before ' + who)
                return self

            def __exit__(self, *exc):
                env.xdp_clear(ns, ifname, 'after ' + who)
                return False
        return Guard()

    # -- mounts and hugepages ------------------------------------------------------------------

    def mount_if_missing(self, path, fstype):
        os.makedirs(path, exist_ok=True)
        if subprocess.run(['mountpoint', '-q', path]).returncode != 0:
            sh(['mount', '-t', fstype, fstype if fstype == 'bpf' else 'nodev', path])
            self.mounts.append(path)

    def eal_mem(self, mb):
        """EAL memory options: --no-huge by default; with --hugepages, reserve 2 MiB pages
        for this process (mounting hugetlbfs if needed) and let EAL use them."""
        if not self.args.hugepages:
            return ['--no-huge', '-m', str(min(mb, 8192))]
        self.mount_if_missing('/dev/hugepages', 'hugetlbfs')
        self.hugepages((mb + 1) // 2 + 64)
        return ['-m', str(mb), '--huge-unlink']

    def hugepages(self, n):
        """Reserve n 2 MiB pages (only raise, never lower); restored at teardown."""
        p = '/proc/sys/vm/nr_hugepages'
        cur = int(open(p).read())
        if cur >= n:
            return
        if self.hugepages_saved is None:
            self.hugepages_saved = cur
        with open(p, 'w') as f:
            f.write(str(n))

    # -- files ---------------------------------------------------------------------------------

    def make_file(self, name, size):
        """A file of size random bytes under the work directory (kept if it already fits)."""
        path = os.path.join(self.work, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            with open('/dev/urandom', 'rb') as r, open(path, 'wb') as w:
                left = size
                chunk = r.read(4 * MiB)
                while left > 0:
                    n = min(left, len(chunk))
                    w.write(chunk[:n])
                    left -= n
        return path

    def public_dir(self, name):
        """A directory under the work directory that servers running as other users can read."""
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        os.chmod(self.work, 0o755)
        os.chmod(d, 0o755)
        return d

    def public_file(self, d, name, size):
        """make_file in directory d (under the work directory), readable by everyone."""
        path = os.path.join(d, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            self.make_file(os.path.relpath(path, self.work), size)
            os.chmod(path, 0o644)
        return path

    # -- teardown ------------------------------------------------------------------------------

    def teardown(self):
        procs.kill_all()
        self.teardown_net()
        if self.hugepages_saved is not None:
            with open('/proc/sys/vm/nr_hugepages', 'w') as f:
                f.write(str(self.hugepages_saved))
            self.hugepages_saved = None
        for m in reversed(self.mounts):
            subprocess.run(['umount', m], stderr=subprocess.DEVNULL)
        # DPDK leaves its runtime directory behind: remove the ones of this run's prefixes
        for d in glob.glob('/var/run/dpdk/mbb-*%d' % os.getpid()):
            shutil.rmtree(d, ignore_errors=True)
        self.mounts = []
        if os.environ.get('MBB_KEEP'):
            log('kept the work directory %s (MBB_KEEP)' % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)
