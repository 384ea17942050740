#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A stand-in for systemd's side of sd_notify, for tests/system/startup.sh.

Binds a datagram socket at PATH (what NOTIFY_SOCKET names), writes every
notification it receives to OUT as a JSON line {"t": monotonic seconds,
"msg": text}, and when the first READY=1 arrives runs COMMAND at once and
records its output as {"t": ..., "ready_check": stdout} (the test asks the
daemon, at that moment, whether health says ready and its images are
verified).  Exits after a STOPPING=1 (plus a moment for the last datagrams)
or after 120 s.

usage: notify_listen.py PATH OUT COMMAND...
"""
import json
import os
import socket
import subprocess
import sys
import time

path, out, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
s.settimeout(0.2)
ready = False
stop_at = None
end = time.monotonic() + 120
with open(out, "w", buffering=1) as f:
    while time.monotonic() < end and (stop_at is None or time.monotonic() < stop_at):
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        msg = data.decode("utf-8", "replace")
        f.write(json.dumps({"t": time.monotonic(), "msg": msg}) + "\n")
        fields = msg.split("\n")
        if "READY=1" in fields and not ready:
            ready = True
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            f.write(json.dumps({"t": time.monotonic(), "ready_check": r.stdout}) + "\n")
        if "STOPPING=1" in fields and stop_at is None:
            stop_at = time.monotonic() + 1.0
