#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
#
# The node half of tools/demo.sh: start one Frisbee client per simulated node
# (each in its own network namespace, already created by demo.sh), draw their
# progress live, wait for them, check every node's copy against the image's
# SHA-256 and print the summary table.  Exit 0 only if every client exited 0
# and every copy matches.
#
# Progress comes from mb-frisbee's --status-file (one line "STATE RECEIVED
# TOTAL SECONDS", replaced atomically about 5 times a second) or, for the
# stock Emulab client (--stock), from the disk blocks its output file holds
# (it writes the image sparsely as chunks complete).  On a terminal the table
# (one line per node: bar, percent, MB/s, state) is redrawn in place; when
# stdout is not a terminal, plain lines are printed every few seconds.
#
# Each client runs under timeout(1), which puts it in a process group of its
# own: a Ctrl-C reaches this script only, which then stops the clients (TERM,
# then KILL) before exiting 130.  Every client's PID is also appended to
# --pid-file so demo.sh's EXIT trap can stop any that are left if this
# script dies; the file is removed once every client has been reaped.
#
# It does not create or remove namespaces, and it does not talk to minibossd.

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

EXIT_NAMES = {1: "checksum mismatch", 2: "usage", 3: "timeout", 4: "master server error",
              5: "local error", 124: "killed by timeout", 137: "killed"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--client", required=True, help="client binary")
    p.add_argument("--stock", action="store_true", help="the client is the stock frisbee")
    p.add_argument("--server", required=True, help="miniboss address")
    p.add_argument("--image", required=True, help="image id")
    p.add_argument("--sha256", required=True)
    p.add_argument("--total", type=int, required=True, help="image bytes")
    p.add_argument("--workdir", required=True, help="outputs, status files, logs")
    p.add_argument("--pid-file", required=True)
    p.add_argument("--timeout", type=int, default=300, help="hard limit per client, s")
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--plain-every", type=float, default=2.0)
    p.add_argument("--tty", choices=["auto", "yes", "no"], default="auto")
    p.add_argument("node", nargs="+", help="NAME:NAMESPACE:ADDRESS")
    return p.parse_args()


class Node:
    def __init__(self, spec, a):
        self.name, self.ns, self.ip = spec.split(":")
        self.out = os.path.join(a.workdir, self.name + ".img")
        self.status = os.path.join(a.workdir, self.name + ".status")
        self.log = os.path.join(a.workdir, self.name + ".log")
        self.proc = None
        self.start = None
        self.end = None
        self.rc = None
        self.state = "start"
        self.got = 0
        self.secs = None        # transfer time the client reports
        self.sha_ok = None
        self.hist = []          # (time, bytes) of the last second, for the live rate

    def command(self, a):
        cmd = ["ip", "netns", "exec", self.ns, "timeout", "-k", "5", str(a.timeout), a.client,
               "-i", self.ip, "-S", a.server, "-F", a.image, "-N", "-T", "30"]
        if not a.stock:
            cmd += ["--sha256", a.sha256, "--status-file", self.status]
        return cmd + [self.out]

    def poll(self, a, now):
        if self.proc is not None and self.rc is None:
            rc = self.proc.poll()
            if rc is not None:
                self.rc, self.end = rc, now
        if not a.stock:
            try:
                with open(self.status) as f:
                    st, got, _total, secs = f.read().split()
                self.state, self.got, self.secs = st, int(got), float(secs)
            except (OSError, ValueError):
                pass
        else:
            try:
                self.got = min(os.stat(self.out).st_blocks * 512, a.total)
                self.state = "recv" if self.got > 0 else "join"
            except OSError:
                pass
            if self.rc is not None and self.secs is None:
                self.secs = self.end - self.start
        if self.rc is not None:
            if self.rc != 0:
                self.state = "exit %d" % self.rc
            elif a.stock or self.state in ("join", "recv", "verify"):
                self.state = "done"

    def elapsed(self, now):
        return self.secs if self.secs is not None else now - self.start

    def rate(self, now):
        """Average MB/s once finished, else over about the last second."""
        if self.rc is None and self.state == "recv":
            self.hist.append((now, self.got))
            while len(self.hist) > 2 and now - self.hist[1][0] >= 1.0:
                self.hist.pop(0)
            t0, b0 = self.hist[0]
            if now - t0 >= 0.3:
                return (self.got - b0) / (now - t0) / 1e6
        t = self.elapsed(now)
        return self.got / t / 1e6 if t > 0 else 0.0


def bar(frac, width):
    n = int(frac * width + 0.5)
    return "#" * n + "." * (width - n)


def render(nodes, a, now, t0):
    """The table, fitted to the terminal so that no line wraps (the redraw
    moves the cursor up one row per line)."""
    cols = shutil.get_terminal_size((80, 24)).columns
    width = max(8, min(32, cols - 58))
    lines = []
    agg = 0.0
    for n in nodes:
        frac = n.got / a.total if a.total else 1.0
        mbs = n.rate(now)
        if n.rc is None:
            agg += mbs
        lines.append("  %-4s %-12s [%s] %6.1f%% %8.1f MB/s  %s"
                     % (n.name, n.ip, bar(frac, width), 100 * frac, mbs, n.state))
    done = sum(1 for n in nodes if n.rc is not None)
    lines.append("  %5.1f s elapsed, %d/%d nodes finished" % (now - t0, done, len(nodes)))
    return [l[:cols - 1] for l in lines]


def stop_all(nodes):
    for n in nodes:
        if n.proc is not None and n.proc.poll() is None:
            n.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 3
    for n in nodes:
        if n.proc is None:
            continue
        try:
            n.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            n.proc.kill()
            n.proc.wait()


def sha256_file(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while True:
                b = f.read(4 << 20)
                if not b:
                    break
                h.update(b)
    except OSError:
        return None
    return h.hexdigest()


def main():
    a = parse_args()
    tty = sys.stdout.isatty() if a.tty == "auto" else a.tty == "yes"
    nodes = [Node(s, a) for s in a.node]
    interrupted = False

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.monotonic()
    drawn = 0
    last_plain = t0
    try:
        with open(a.pid_file, "a") as pf:
            for n in nodes:
                n.start = time.monotonic()
                with open(n.log, "wb") as log:
                    n.proc = subprocess.Popen(n.command(a), stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL)
                pf.write("%d\n" % n.proc.pid)
                pf.flush()
        print("%d nodes loading %s (%d MiB) from %s with %s:" % (
            len(nodes), a.image, a.total >> 20, a.server,
            "the stock Emulab frisbee" if a.stock else "mb-frisbee"), flush=True)
        while True:
            now = time.monotonic()
            for n in nodes:
                n.poll(a, now)
            finished = all(n.rc is not None for n in nodes)
            if tty:
                lines = render(nodes, a, now, t0)
                if drawn:
                    sys.stdout.write("\033[%dA" % drawn)
                sys.stdout.write("".join("\r\033[K" + l + "\n" for l in lines))
                sys.stdout.flush()
                drawn = len(lines)
            elif finished or now - last_plain >= a.plain_every:
                last_plain = now
                for n in nodes:
                    print("[%6.1fs] %-4s %6.1f%% %8.1f MB/s  %s" % (
                        now - t0, n.name, 100.0 * n.got / a.total, n.rate(now), n.state))
                sys.stdout.flush()
            if finished:
                break
            time.sleep(a.interval)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop_all(nodes)
        # All reaped: nothing left for demo.sh's trap to kill (and no stale
        # PID it could hit after reuse).
        try:
            os.unlink(a.pid_file)
        except OSError:
            pass
    if interrupted:
        print("\ninterrupted: clients stopped", file=sys.stderr)
        return 130

    print("\nverifying every node's copy (SHA-256 against the image)...", flush=True)
    with ThreadPoolExecutor(max_workers=2) as ex:
        sums = list(ex.map(lambda n: sha256_file(n.out), nodes))
    for n, s in zip(nodes, sums):
        n.sha_ok = s == a.sha256
    ok = True
    print("\n  %-4s %-12s %12s %9s %10s  %s" % ("node", "address", "bytes", "seconds", "Mbit/s",
                                              "checksum"))
    for n in nodes:
        try:
            size = os.path.getsize(n.out)
        except OSError:
            size = 0
        secs = n.secs if n.secs is not None else (n.end or time.monotonic()) - n.start
        mbit = size * 8 / secs / 1e6 if secs > 0 else 0.0
        verdict = "OK" if n.sha_ok else "FAIL"
        if n.rc != 0:
            verdict = "FAIL (client exit %d: %s)" % (n.rc, EXIT_NAMES.get(n.rc, "error"))
        ok = ok and n.sha_ok and n.rc == 0
        print("  %-4s %-12s %12d %9.2f %10.1f  %s" % (n.name, n.ip, size, secs, mbit, verdict))
    print("  image %s sha256 %s" % (a.image, a.sha256))
    if not a.stock:
        print("  (seconds: from JOIN to the last block, as the client measured it)")
    else:
        print("  (seconds: whole client run, master-server lookup included)")
    if not ok:
        for n in nodes:
            if n.rc != 0 or not n.sha_ok:
                print("--- %s client log (%s), tail ---" % (n.name, n.log), file=sys.stderr)
                try:
                    with open(n.log, errors="replace") as f:
                        sys.stderr.write("".join(f.readlines()[-10:]))
                except OSError:
                    pass
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # while verifying: the clients are gone already
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
