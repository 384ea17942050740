# SPDX-License-Identifier: BSD-3-Clause
"""
Processes the harness starts, and CPU and memory accounting.

Every process is started in its own session and registered, so teardown can stop exactly the
processes of this run, by pid (never by name: other people run the same programs on this
machine). CPU of a process comes from /proc/<pid>/stat of its whole tree while it runs and from
its rusage once reaped; CPU of the machine from /proc/stat.
"""

import os
import signal
import subprocess
import time

from .util import ROOT

_PROCS = []

CLK_TCK = os.sysconf('SC_CLK_TCK')
PAGE = os.sysconf('SC_PAGE_SIZE')


class _Process:
    """What Proc and Launched share: waiting for the end (alive() reaps or reads it)."""

    def wait(self, timeout):
        """The exit status once the process ended within timeout seconds, else None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                return self.rc
            time.sleep(0.02)
        return None


class Proc(_Process):
    """A process we started: killed by pid at teardown; CPU from /proc or from its rusage."""

    def __init__(self, cmd, ns=None, log_path=None, stdin=subprocess.DEVNULL, env=None,
                 stdout=None):
        if ns:
            cmd = ['ip', 'netns', 'exec', ns] + cmd
        self.cmd = cmd
        self.log_path = log_path
        out = open(log_path, 'ab') if log_path else subprocess.DEVNULL
        self.p = subprocess.Popen(cmd, stdin=stdin, stdout=stdout if stdout else out,
                                  stderr=out, env=env, start_new_session=True)
        self.pid = self.p.pid
        self.rusage = None
        self.rc = None
        _PROCS.append(self)

    def alive(self):
        if self.rc is not None:
            return False
        pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.rusage = ru
        self.rc = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.rc
        return False

    def cpu(self):
        """CPU seconds of the process tree so far (or of the whole life once reaped)."""
        if self.rusage is not None:
            return self.rusage.ru_utime + self.rusage.ru_stime
        return tree_cpu(self.pid)

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Send sig; after grace seconds SIGKILL the process group. Returns the exit status."""
        if not self.alive():
            return self.rc
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        if self.wait(grace) is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait(5)
        return self.rc

    def kill(self):
        """SIGKILL the process group."""
        os.killpg(self.pid, signal.SIGKILL)


class Launched(_Process):
    """A minibossd that tools/mb-launch started: not our child (mb-launch's supervisor is its
    parent and records its exit status in the run directory), so liveness and CPU come from
    /proc, and stop() is `mb-launch stop`. Killed by pid at teardown like a Proc."""

    LAUNCH = os.path.join(ROOT, 'tools', 'mb-launch')

    def __init__(self, pid, run_dir):
        self.pid = pid
        self.dir = run_dir
        self.rc = None
        self.last_cpu = 0.0
        _PROCS.append(self)

    def alive(self):
        if self.rc is not None:
            return False
        try:
            if proc_stat(self.pid)['state'] not in 'ZX':
                return True
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(os.path.join(self.dir, 'minibossd.exit')) as f:
                self.rc = int(f.read())
        except (OSError, ValueError):
            self.rc = -1
        return False

    def cpu(self):
        """CPU seconds of the daemon so far (the last reading once it has ended)."""
        if self.alive():
            self.last_cpu = tree_cpu(self.pid)
        return self.last_cpu

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        if self.alive():
            subprocess.run([self.LAUNCH, 'stop', '-D', self.dir, '-S', signal.Signals(sig).name[3:],
                            '-t', str(max(1, int(grace)))], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=grace + 15)
        return self.rc if not self.alive() else None

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)


def kill_all():
    """Stop every process this run started that still runs: SIGTERM, then SIGKILL."""
    for p in reversed(_PROCS):
        try:
            if p.alive():
                os.kill(p.pid, signal.SIGTERM)
        except (ProcessLookupError, ChildProcessError):
            pass
    for p in reversed(_PROCS):
        try:
            if p.wait(3) is None:
                p.kill()
                p.wait(2)
        except (ProcessLookupError, ChildProcessError, PermissionError):
            pass


def proc_stat(pid):
    with open('/proc/%d/stat' % pid) as f:
        s = f.read()
    rest = s[s.rindex(')') + 2:].split()
    # rest[0] is field 3 (state); utime is field 14 -> rest[11]
    return {'state': rest[0], 'ppid': int(rest[1]), 'utime': int(rest[11]),
            'stime': int(rest[12]),
            'cutime': int(rest[13]), 'cstime': int(rest[14]), 'rss_pages': int(rest[21])}


def tree_pids(pid):
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            kids.setdefault(proc_stat(int(d))['ppid'], []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu(pid):
    """CPU of a process tree: live members' own time plus what reaped children left in their
    parents' cutime/cstime (vsftpd forks a process per session), so a delta over a window counts
    a child that exited inside it exactly once."""
    t = 0
    for p in tree_pids(pid):
        try:
            st = proc_stat(p)
            t += st['utime'] + st['stime'] + st['cutime'] + st['cstime']
        except (OSError, ValueError, IndexError):
            pass
    return t / CLK_TCK


def tree_rss(pid):
    """Resident bytes of a process tree."""
    t = 0
    for p in tree_pids(pid):
        try:
            t += proc_stat(p)['rss_pages'] * PAGE
        except (OSError, ValueError, IndexError):
            pass
    return t


def proc_mem(pid):
    """Resident memory of one process from /proc/<pid>/status (bytes): VmRSS, VmHWM (peak),
    RssAnon, RssFile, RssShmem."""
    out = {}
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                k = line.split(':')[0]
                if k in ('VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'RssShmem'):
                    out[k] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def machine_cpu():
    """Busy CPU seconds of the whole machine: user+system+irq+softirq of all CPUs.

    The user time of niced processes ("nice" in /proc/stat) is left out and returned
    apart: the benchmark runs nothing niced, so that is other work sharing the machine
    (builds and tests run under nice -n 19 while a benchmark runs); their system time
    cannot be told apart and still counts."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = v[:7]
    return {'busy': (user + system + irq + softirq) / CLK_TCK, 'nice': nice / CLK_TCK,
            'softirq': softirq / CLK_TCK, 'idle': (idle + iowait) / CLK_TCK}


CPU_ACCOUNTING = ('machine: /proc/stat user+system+irq+softirq, all CPUs (the user time of '
                  'niced processes, other work sharing the machine, left out); process: '
                  '/proc/<pid>/stat utime+stime of the process tree, or rusage of a reaped child')
