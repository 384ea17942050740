#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
bench/idle-conns.py: open N idle HTTP keep-alive connections to one server and hold them.

Used by bench/run's tcpmem figure (memory per idle TCP connection). It raises its own open-file
limit, connects N times (from the --src addresses in turn, a bounded number of connects in
flight), optionally sends one HEAD on each and reads the response headers, then prints one JSON
line ({"open": n, "errors": e, ...}) and holds every connection. Each "check" line on stdin
prints how many are still open (the server has not closed them); end of stdin closes them all
and exits.
"""

import argparse
import asyncio
import json
import resource
import sys


async def one(args, k, sem, conns, errs):
    async with sem:
        try:
            src = None
            if args.src:
                # rotate source addresses: each has its own ephemeral port range, and the
                # TIME_WAITs of a previous run do not run one range out
                src = (args.src[k % len(args.src)], 0)
            r, w = await asyncio.wait_for(asyncio.open_connection(args.host, args.port,
                                                                  local_addr=src), 30)
            if args.path:
                w.write(('HEAD %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (args.path, args.host)).encode())
                await w.drain()
                hdr = await asyncio.wait_for(r.readuntil(b'\r\n\r\n'), 30)
                if not hdr.startswith(b'HTTP/1.1 200') and not hdr.startswith(b'HTTP/1.0 200'):
                    errs.append('status: %r' % hdr[:40])
            conns.append((r, w))
        except Exception as e:  # counted, reported in the JSON line
            errs.append(repr(e)[:120])


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('host')
    ap.add_argument('port', type=int)
    ap.add_argument('-n', type=int, required=True, help='connections')
    ap.add_argument('--path', default=None, help='send one HEAD for this path on each')
    ap.add_argument('--inflight', type=int, default=256)
    ap.add_argument('--src', action='append', default=[], help='local address (repeatable)')
    args = ap.parse_args()
    want = args.n + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    conns, errs = [], []
    sem = asyncio.Semaphore(args.inflight)
    await asyncio.gather(*(one(args, k, sem, conns, errs) for k in range(args.n)))
    print(json.dumps({'open': len(conns), 'errors': len(errs),
                      'first_error': errs[0] if errs else None}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        if line.strip() == 'check':
            await asyncio.sleep(0)
            alive = sum(1 for r, w in conns if not r.at_eof() and not w.is_closing())
            print(json.dumps({'still_open': alive}), flush=True)
    for r, w in conns:
        w.close()


if __name__ == '__main__':
    asyncio.run(main())
