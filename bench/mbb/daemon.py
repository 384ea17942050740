# SPDX-License-Identifier: BSD-3-Clause
"""
The one place the bench launches minibossd: the state directory and the daemon itself, both
with the project's own tools. The state directory is built by mb-manifest; the daemon is
started, waited for and stopped by tools/mb-launch, the launcher the system tests and the demo
use too: it waits with `minibossctl wait` (the state the daemon reports to systemd as READY=1),
and the daemon sets its exception tap's address itself. Nothing else in the bench starts the
daemon or knows how readiness is detected.
"""

import os
import shlex
import shutil
import signal
import subprocess

from .procs import Launched
from .util import NotAvailable, sh, tail


def write_state(env, state_dir, images):
    """A fresh state directory holding images ({name: path}, hard-linked when possible) and
    the manifest.json the store reads, built by mb-manifest from the files."""
    if not env.bins.get('mb-manifest'):
        raise NotAvailable('tools/mb-manifest not built')
    shutil.rmtree(state_dir, ignore_errors=True)
    idir = os.path.join(state_dir, 'images')
    os.makedirs(idir)
    for name, path in images.items():
        dst = os.path.join(idir, name)
        try:
            os.link(path, dst)
        except OSError:
            shutil.copyfile(path, dst)
            shutil.copystat(path, dst)
    sh([env.bins['mb-manifest'], 'build', idir, '--version-from', '1', '-o',
        os.path.join(state_dir, 'manifest.json')], timeout=600)


def parse_vars(text):
    """mb-launch's NAME='value' lines as a dict."""
    out = {}
    for line in text.splitlines():
        for word in shlex.split(line):
            k, _, v = word.partition('=')
            out[k] = v
    return out


class Daemon:
    """One minibossd process on one DPDK port (net_af_packet or net_af_xdp over ifname in
    namespace ns); its exception tap carries addr for the kernel-socket services."""

    def __init__(self, env, ns, ifname, addr, driver, tap, sock, vdev_args=''):
        for b in ('minibossd', 'minibossctl'):
            if not env.bins.get(b):
                raise NotAvailable('%s not built' % b)
        self.env = env
        self.ns, self.ifname, self.addr, self.driver, self.tap = ns, ifname, addr, driver, tap
        self.sock = sock
        self.vdev_args = vdev_args  # appended to the --vdev string (',key=value...')
        self.proc = None
        self.log = None

    def port_args(self):
        """mb-launch's port options: -i/-x, unless vdev_args needs the --vdev written out."""
        return [] if self.vdev_args else ['-i', self.ifname, '-x', self.driver]

    def port_eal(self):
        """The port as extra EAL arguments when vdev_args is set (mb-launch has no option
        for PMD arguments)."""
        if not self.vdev_args:
            return []
        if self.driver == 'af_packet':
            vdev = 'net_af_packet0,iface=%s%s' % (self.ifname, self.vdev_args)
        else:
            vdev = 'net_af_xdp0,iface=%s,start_queue=0,queue_count=1%s' % (self.ifname,
                                                                          self.vdev_args)
        return ['--', '--no-pci', '--vdev=' + vdev]

    def start(self, conf, mem_mb, log_path, timeout=60):
        """Start with config file conf and mem_mb MiB of EAL memory (hugepages with the
        bench's --hugepages); return once the daemon is ready (NotAvailable otherwise)."""
        self.log = log_path
        mem = self.env.eal_mem(mem_mb)      # reserves the hugepages when asked
        args = ['-m', mem[mem.index('-m') + 1]] + (['-H'] if '--huge-unlink' in mem else [])
        run_dir = os.path.dirname(conf)
        r = subprocess.run([Launched.LAUNCH, 'start', '-c', conf, '-D', run_dir, '-o', log_path,
                            '-N', self.ns] + self.port_args() + ['-l', '0,1',
                            '-P', 'mbb-mb%d' % os.getpid(), '--setsid',
                            '-B', self.env.build, '-t', '%ds' % timeout] + args +
                           self.port_eal(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout + 30)
        v = parse_vars(r.stdout)
        if v.get('MB_PID'):
            self.proc = Launched(int(v['MB_PID']), run_dir)
        if r.returncode != 0:
            why = {1: 'not ready in %d s' % timeout, 3: 'exited at start (status %s)' %
                   v.get('MB_EXIT', '?')}.get(r.returncode, 'mb-launch exit %d' % r.returncode)
            self.stop()
            raise NotAvailable('minibossd %s: %s %s' % (why, r.stderr.strip()[-300:],
                                                        self.tail()))
        return self.proc

    def ctl(self, *args, timeout=60, check=True):
        """minibossctl against this daemon; its stdout."""
        return sh([self.env.bins['minibossctl'], '-s', self.sock] + list(args), ns=self.ns,
                  timeout=timeout, check=check, quiet=True)

    def tail(self):
        return tail(self.log) if self.log else ''

    def stop(self):
        if self.proc:
            self.proc.stop(signal.SIGTERM, grace=10)
            self.proc = None
