#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Hostile peers for tests/system/abuse.sh: each mode runs for a bounded
time against one address inside the test's namespaces, then prints one JSON
line of what it did.

  fris DST PORT SECS SPOOF_BASE N_SPOOF [KINDS]
      JOINs, JOIN2s and REQUESTs for chunks past the image's end, as fast as
      one thread sends them, to a Frisbee session (DST = the daemon, PORT =
      the session's): half from our own address through a UDP socket bound to
      the session port (as a real client is), half from N_SPOOF forged
      addresses SPOOF_BASE, SPOOF_BASE+1, ... through a raw socket.  KINDS
      (default join,join2,request) limits the flood to those kinds.
  idle DST PORT N SECS SRC...
      N TCP connections opened (spread over the SRC addresses) and left idle
      for SECS; prints how many were open at the end.
  syn DST PORT SECS SPOOF_BASE N_SPOOF
      SYNs from forged addresses and ports as fast as one thread sends them.
  synbad DST PORT SECS SPOOF_BASE N_SPOOF
      The same SYNs with a wrong TCP checksum: what the flood costs the
      machine and the daemon's receive path when nothing is answered (the
      control for syn).
  slowhttp DST PORT N SECS
      N connections each sending an HTTP request one byte per second.
  slowftp DST PORT N SECS
      N FTP control connections each sending a command one byte per second.
  pasv DST PORT N_CONN N_PASV
      N_CONN FTP sessions, each logging in and sending N_PASV PASV commands
      in one write; counts the 227 replies read back.
  ctl SOCKET SECS
      garbage on the control socket: random bytes, lines longer than the
      request limit, a line of 8 MiB, many clients at once.
"""
import json
import os
import random
import resource
import select
import socket
import struct
import sys
import time
import traceback


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip_hdr(src, dst, proto, plen):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + plen, random.randrange(65536), 0, 64, proto,
                    0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def udp_pkt(src, dst, sport, dport, payload):
    ulen = 8 + len(payload)
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, ulen)
    u = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(ph + u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    return ip_hdr(src, dst, 17, ulen) + u


def fris_msg(subtype, srcip, body, mtype=1):
    # little-endian header fields but srcip, which is in network order
    return struct.pack("<III", mtype, subtype, len(body)) + socket.inet_aton(srcip) + body


def mode_fris(dst, port, secs, spoof_base, n_spoof, kinds="join,join2,request"):
    me = None
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    u.bind(("0.0.0.0", port))
    u.connect((dst, port))
    me = u.getsockname()[0]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    base = struct.unpack("!I", socket.inet_aton(spoof_base))[0]
    spoofs = [socket.inet_ntoa(struct.pack("!I", base + i)) for i in range(n_spoof)]
    sent = {"join": 0, "join2": 0, "request": 0, "spoofed": 0, "errors": 0}
    order = [k for k, name in enumerate(("join", "join2", "request"))
             if name in kinds.split(",")]
    end = time.time() + secs
    i = 0
    while time.time() < end:
        i += 1
        k = order[i % len(order)]
        if k == 0:
            body, st, name = struct.pack("<I", random.randrange(1 << 32)), 1, "join"
        elif k == 1:
            body = struct.pack("<IIIIQ", random.randrange(1 << 32), 0, 1024, 1024, 0)
            st, name = 7, "join2"
        else:
            # chunk far past the end, then a block/count out of range
            body = struct.pack("<III", 1000000 + i % 1000, 0, 1024)
            st, name = 4, "request"
        try:
            if i % 2:
                u.send(fris_msg(st, me, body))
            else:
                s = spoofs[i % len(spoofs)]
                raw.sendto(udp_pkt(s, dst, port, port, fris_msg(st, s, body)), (dst, 0))
                sent["spoofed"] += 1
            sent[name] += 1
        except OSError:
            sent["errors"] += 1
    return sent


def mode_idle(dst, port, n, secs, srcs):
    """The connections are spread over as many processes as the descriptor
    limit needs (a long run opens more than a common hard limit of 20000,
    which root in a container may not raise), each holding its share."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    per = max(1, min(n, hard - 100))
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, per + 100), hard))
    kids = []
    for k in range((n + per - 1) // per):
        share = min(per, n - k * per)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            try:
                r = idle_share(dst, port, share, secs, srcs, k * per)
                os.write(wfd, json.dumps(r).encode())
            except BaseException:
                traceback.print_exc()
            os._exit(0)
        os.close(wfd)
        kids.append((pid, rfd))
    out = {"opened": 0, "failed": 0, "open_at_end": 0, "processes": len(kids)}
    for pid, rfd in kids:
        data = b""
        while True:
            b = os.read(rfd, 4096)
            if not b:
                break
            data += b
        os.close(rfd)
        os.waitpid(pid, 0)
        if not data:
            raise RuntimeError("an idle-connection process failed")
        for key, v in json.loads(data).items():
            out[key] += v
    return out


def idle_share(dst, port, n, secs, srcs, first):
    socks = []
    fails = 0
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((srcs[(first + i) % len(srcs)], 0))
            s.connect_ex((dst, port))
        except OSError:
            fails += 1
            s.close()
            continue
        socks.append(s)
    # wait for the handshakes
    deadline = time.time() + 20
    pending = {s.fileno(): s for s in socks}
    while pending and time.time() < deadline:
        p = select.poll()
        for fd in pending:
            p.register(fd, select.POLLOUT)
        for fd, _ in p.poll(500):
            pending.pop(fd, None)
    pending = set(pending.values())
    time.sleep(max(0, secs))
    open_now = 0
    for s in socks:
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and s not in pending:
            try:
                s.getpeername()
                open_now += 1
            except OSError:
                pass
        s.close()
    return {"opened": len(socks), "failed": fails, "open_at_end": open_now}


def mode_syn(dst, port, secs, spoof_base, n_spoof, badsum=False):
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    base = struct.unpack("!I", socket.inet_aton(spoof_base))[0]
    sent = 0
    end = time.time() + secs
    while time.time() < end:
        src = socket.inet_ntoa(struct.pack("!I", base + sent % n_spoof))
        sport = 1024 + (sent * 7919) % 60000
        # SYN with an MSS option
        tcp = struct.pack("!HHIIBBHHH", sport, port, random.randrange(1 << 32), 0, 6 << 4, 0x02,
                          64240, 0, 0) + struct.pack("!BBH", 2, 4, 1460)
        ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp) ^ (0x5a5a if badsum else 0)) + tcp[18:]
        try:
            raw.sendto(ip_hdr(src, dst, 6, len(tcp)) + tcp, (dst, 0))
            sent += 1
        except OSError:
            pass
    return {"syns": sent}


def slow(dst, port, n, secs, text, greet):
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection((dst, port), timeout=5)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    pos = 0
    closed = 0
    end = time.time() + secs
    while time.time() < end and socks:
        for s in list(socks):
            try:
                if greet:
                    try:
                        s.recv(4096)
                    except BlockingIOError:
                        pass
                s.send(text[pos % len(text):pos % len(text) + 1])
            except OSError:
                socks.remove(s)
                closed += 1
                s.close()
        pos += 1
        time.sleep(1)
    left = len(socks)
    for s in socks:
        s.close()
    return {"connections": left + closed, "closed_by_server": closed, "still_open": left}


def mode_pasv(dst, port, nconn, npasv):
    replies = 0
    for _ in range(nconn):
        s = socket.create_connection((dst, port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"USER anonymous\r\n")
        f.readline()
        s.sendall(b"PASS x@\r\n")
        f.readline()
        s.sendall(b"PASV\r\n" * npasv)
        s.settimeout(3)
        got = 0
        try:
            while got < npasv:
                line = f.readline()
                if not line:
                    break
                if line.startswith(b"227"):
                    got += 1
                    replies += 1
        except OSError:
            pass
        s.close()
    return {"pasv_sent": nconn * npasv, "pasv_227": replies}


def mode_ctl(path, secs):
    out = {"clients": 0, "replies": 0, "closed": 0}
    end = time.time() + secs
    payloads = [os.urandom(4096), b"{" * 70000 + b"\n", b"x" * (8 << 20), b"\0" * 100000 + b"\n",
                b'{"cmd":"health"}' + b" " * 100000 + b"\n", b"[" * 10000 + b"\n"]
    while time.time() < end:
        socks = []
        for p in payloads:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
            except OSError:
                continue
            out["clients"] += 1
            s.settimeout(5)
            try:
                s.sendall(p)
            except OSError:
                out["closed"] += 1
            socks.append(s)
        for s in socks:
            try:
                if s.recv(65536):
                    out["replies"] += 1
            except OSError:
                out["closed"] += 1
            s.close()
    return out


def main():
    m, a = sys.argv[1], sys.argv[2:]
    if m == "fris":
        r = mode_fris(a[0], int(a[1]), float(a[2]), a[3], int(a[4]), *a[5:6])
    elif m == "idle":
        r = mode_idle(a[0], int(a[1]), int(a[2]), float(a[3]), a[4:])
    elif m in ("syn", "synbad"):
        r = mode_syn(a[0], int(a[1]), float(a[2]), a[3], int(a[4]), m == "synbad")
    elif m == "slowhttp":
        r = slow(a[0], int(a[1]), int(a[2]), float(a[3]),
                 b"GET /images/x HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: y\r\n" * 1000, False)
    elif m == "slowftp":
        r = slow(a[0], int(a[1]), int(a[2]), float(a[3]), b"USER anonymous" * 100, True)
    elif m == "pasv":
        r = mode_pasv(a[0], int(a[1]), int(a[2]), int(a[3]))
    elif m == "ctl":
        r = mode_ctl(a[0], float(a[1]))
    else:
        sys.exit("unknown mode " + m)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
