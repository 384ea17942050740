# SPDX-License-Identifier: BSD-3-Clause
"""
The one place the bench launches minibossd: the state directory, the command line, readiness,
the exception tap's address, minibossctl, and stopping.

It does what tests/system/lib.sh's mb_daemon_start / mb_daemon_wait_ready / mb_daemon_stop /
mb_ctl do for the system tests, with the bench's EAL memory and lcores. When the project has a
single launcher shared by tests, demo and bench, this module is what gets replaced by a call to
it; nothing else in the bench starts the daemon or knows how readiness is detected.
"""

import os
import shutil
import signal
import time

from .procs import Proc
from .util import NotAvailable, PREFIX, sh, tail


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


class Daemon:
    """One minibossd process on one DPDK port (net_af_packet or net_af_xdp over ifname in
    namespace ns), its exception tap carrying addr for the kernel-socket services."""

    def __init__(self, env, ns, ifname, addr, driver, tap, sock):
        for b in ('minibossd', 'minibossctl'):
            if not env.bins.get(b):
                raise NotAvailable('%s not built' % b)
        self.env = env
        self.ns, self.ifname, self.addr, self.driver, self.tap = ns, ifname, addr, driver, tap
        self.sock = sock
        self.proc = None
        self.log = None

    def vdev(self):
        if self.driver == 'af_packet':
            return 'net_af_packet0,iface=%s' % self.ifname
        return 'net_af_xdp0,iface=%s,start_queue=0,queue_count=1' % self.ifname

    def start(self, conf, mem_mb, log_path, timeout=60):
        """Start with config file conf and mem_mb MiB of EAL memory; return once the daemon
        logs that it is ready and its tap carries the address (NotAvailable otherwise)."""
        self.log = log_path
        self.proc = Proc([self.env.bins['minibossd'], '-l', '0,1'] + self.env.eal_mem(mem_mb) +
                         ['--no-pci', '--file-prefix=mbb-mb%d' % os.getpid(),
                          '--vdev=' + self.vdev(), '--', '-c', conf],
                         ns=self.ns, log_path=log_path)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.proc.alive():
                raise NotAvailable('minibossd exited at start: ' + self.tail())
            if 'ready' in open(log_path, errors='replace').read().lower():
                break
            time.sleep(0.1)
        else:
            raise NotAvailable('minibossd not ready in %d s: %s' % (timeout, self.tail()))
        if sh(['ip', 'link', 'show', self.tap], ns=self.ns, check=False, quiet=True):
            sh(['ip', 'link', 'set', self.tap, 'up'], ns=self.ns)
            sh(['ip', 'addr', 'replace', '%s/%d' % (self.addr, PREFIX), 'brd', '+', 'dev',
                self.tap], ns=self.ns)
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
