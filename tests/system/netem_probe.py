#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
#
# UDP and TCP probes for the mb-netem system tests (tests/system/netem.sh):
# ping is not installed here, and the tests need more than ping gives.
#
#   echo --bind A --port P              UDP echo server and TCP listener on A:P,
#                                       until killed
#   rtt --to A --port P --count N [--interval S]
#                                       N UDP round trips; JSON with every
#                                       sample, min, median, max, lost
#   connect --to A --port P --count N   N TCP connects; JSON with the times
#   send --to A --port P --count N --pps R [--size B]
#                                       N numbered datagrams at R per second
#   recv --bind A --port P --count N [--idle S] [--timeout S]
#                                       count numbered datagrams until N unique
#                                       ones came or nothing came for S seconds;
#                                       JSON: received, unique, dups, late
#                                       (first arrivals below the highest
#                                       sequence seen), the runs of missing
#                                       sequence numbers, and for each run
#                                       between two arrivals the time between
#                                       those (kernel receive timestamps, so a
#                                       receiver that reads late changes
#                                       nothing)
#   vlan-send --ifname I --dst MAC --vid V --count N
#                                       N raw frames tagged with VLAN V out of I
#   vlan-recv --ifname I --count N [--timeout S]
#                                       count those frames arriving on I and how
#                                       many still carry VLAN V (the kernel
#                                       strips the tag and reports it beside
#                                       the frame); JSON: received, vids
#
# Datagrams carry an 8-byte sequence number; the sender paces with a
# monotonic clock, so the rate holds on a loaded machine on average, and
# ends with ten end markers 50 ms apart, so the receiver stops half a
# second after the stream is over even when its last datagrams were lost
# (the idle timeout is only the fallback for a stream whose markers were
# all lost).
# Every result is one JSON object on stdout; exit 0 unless the arguments
# or a socket call fail.
import argparse
import json
import socket
import statistics
import struct
import sys
import time

# Linux's value (asm-generic); Python's socket module names it only from 3.14.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
END = (1 << 64) - 1


def cmd_echo(a):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((a.bind, a.port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((a.bind, a.port))
    t.listen(128)
    t.setblocking(False)
    print("ready", file=sys.stderr, flush=True)
    u.settimeout(0.05)
    while True:
        try:
            data, peer = u.recvfrom(65536)
            u.sendto(data, peer)
        except socket.timeout:
            pass
        while True:
            try:
                c, _ = t.accept()
                c.close()
            except BlockingIOError:
                break


def cmd_rtt(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(a.wait)
    samples, lost = [], 0
    for i in range(a.count):
        msg = struct.pack("!Q", i) + bytes(56)
        t0 = time.monotonic()
        s.sendto(msg, (a.to, a.port))
        deadline = t0 + a.wait
        got = False
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(2048)
            except socket.timeout:
                break
            if len(data) >= 8 and struct.unpack("!Q", data[:8])[0] == i:
                samples.append((time.monotonic() - t0) * 1000)
                got = True
                break
        if not got:
            lost += 1
        time.sleep(a.interval)
    out = {"count": a.count, "lost": lost, "samples_ms": [round(x, 3) for x in samples]}
    if samples:
        out.update(min_ms=round(min(samples), 3), median_ms=round(statistics.median(samples), 3),
                   max_ms=round(max(samples), 3))
    print(json.dumps(out))


def cmd_connect(a):
    times = []
    for _ in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        t0 = time.monotonic()
        s.connect((a.to, a.port))
        times.append((time.monotonic() - t0) * 1000)
        s.close()
        time.sleep(0.01)
    print(json.dumps({"count": a.count, "min_ms": round(min(times), 3),
                      "median_ms": round(statistics.median(times), 3),
                      "max_ms": round(max(times), 3)}))


def cmd_send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pad = bytes(max(0, a.size - 8))
    t0 = time.monotonic()
    for i in range(a.count):
        due = t0 + i / a.pps
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        s.sendto(struct.pack("!Q", i) + pad, (a.to, a.port))
    took = time.monotonic() - t0
    for _ in range(10):
        s.sendto(struct.pack("!Q", END) + pad, (a.to, a.port))
        time.sleep(0.05)
    print(json.dumps({"sent": a.count, "seconds": round(took, 3)}))


def cmd_recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((a.bind, a.port))
    print("ready", file=sys.stderr, flush=True)
    seen = {}
    received = dups = late = 0
    top = -1
    stamp = {}
    start = time.monotonic()
    first = None
    linger = None
    while len(seen) < a.count and time.monotonic() - start < a.timeout:
        wait = a.idle if first is not None else a.timeout
        if linger is not None:
            wait = linger - time.monotonic()
            if wait <= 0:
                break
        s.settimeout(wait)
        try:
            data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16))
        except socket.timeout:
            break
        now = time.monotonic()
        for level, kind, val in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(val) >= 16:
                sec, nsec = struct.unpack("qq", val[:16])
                now = sec + nsec / 1e9
        if first is None:
            first = now
        if len(data) < 8:
            continue
        seq = struct.unpack("!Q", data[:8])[0]
        if seq == END:
            # Datagrams held back (reordered) may still be on their way.
            if linger is None:
                linger = time.monotonic() + 0.5
            continue
        received += 1
        if seq in seen:
            dups += 1
            continue
        seen[seq] = True
        stamp[seq] = now
        if seq < top:
            late += 1
        top = max(top, seq)
    missing_runs, run_gaps = [], []
    run = 0
    for i in range(a.count):
        if i in seen:
            if run:
                missing_runs.append(run)
                if i - run - 1 in stamp:
                    run_gaps.append(round((stamp[i] - stamp[i - run - 1]) * 1000, 1))
            run = 0
        else:
            run += 1
    if run:
        missing_runs.append(run)
    print(json.dumps({"expected": a.count, "received": received, "unique": len(seen),
                      "dups": dups, "late": late, "missing": a.count - len(seen),
                      "missing_runs": missing_runs, "run_gaps_ms": run_gaps}))


ETH_P_ALL = 3
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
VLAN_MAGIC = b"mb-netem-vlan-probe"


def cmd_vlan_send(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a.ifname, 0))
    src = s.getsockname()[4]
    dst = bytes.fromhex(a.dst.replace(":", ""))
    for i in range(a.count):
        # 802.1Q tag, then a local experimental ethertype and our payload.
        frame = dst + src + struct.pack("!HHH", 0x8100, a.vid, 0x88B5) + VLAN_MAGIC
        s.send(frame + struct.pack("!I", i) + bytes(40))
        time.sleep(0.01)
    print(json.dumps({"sent": a.count}))


def cmd_vlan_recv(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((a.ifname, 0))
    print("ready", file=sys.stderr, flush=True)
    got, vids = 0, []
    end = time.monotonic() + a.timeout
    while got < a.count and time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            data, anc, _, _ = s.recvmsg(2048, socket.CMSG_SPACE(20))
        except socket.timeout:
            break
        if VLAN_MAGIC not in data:
            continue
        got += 1
        vid = None
        for level, kind, val in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(val) >= 20:
                status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", val[:20])
                if status & TP_STATUS_VLAN_VALID:
                    vid = tci & 0xFFF
        vids.append(vid)
    print(json.dumps({"received": got, "vids": vids}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--bind", required=True)
    e.add_argument("--port", type=int, required=True)
    r = sub.add_parser("rtt")
    r.add_argument("--to", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--count", type=int, default=20)
    r.add_argument("--interval", type=float, default=0.02)
    r.add_argument("--wait", type=float, default=2.0)
    c = sub.add_parser("connect")
    c.add_argument("--to", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--count", type=int, default=10)
    s = sub.add_parser("send")
    s.add_argument("--to", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--pps", type=float, required=True)
    s.add_argument("--size", type=int, default=64)
    v = sub.add_parser("recv")
    v.add_argument("--bind", required=True)
    v.add_argument("--port", type=int, required=True)
    v.add_argument("--count", type=int, required=True)
    v.add_argument("--idle", type=float, default=5.0)
    v.add_argument("--timeout", type=float, default=30.0)
    vs = sub.add_parser("vlan-send")
    vs.add_argument("--ifname", required=True)
    vs.add_argument("--dst", required=True)
    vs.add_argument("--vid", type=int, required=True)
    vs.add_argument("--count", type=int, default=5)
    vr = sub.add_parser("vlan-recv")
    vr.add_argument("--ifname", required=True)
    vr.add_argument("--count", type=int, default=5)
    vr.add_argument("--timeout", type=float, default=5.0)
    a = p.parse_args()
    {"echo": cmd_echo, "rtt": cmd_rtt, "connect": cmd_connect, "send": cmd_send,
     "recv": cmd_recv, "vlan-send": cmd_vlan_send, "vlan-recv": cmd_vlan_recv}[a.cmd](a)


if __name__ == "__main__":
    main()
