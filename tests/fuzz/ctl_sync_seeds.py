#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
#
# The named seeds of fuzz_ctl_sync (tests/fuzz/corpus/ctl_sync/), written
# anew: python3 tests/fuzz/ctl_sync_seeds.py tests/fuzz/corpus/ctl_sync
# The input format is the harness's (see the top of fuzz_ctl_sync.c): a
# configuration byte, the reply tape's length over 4, the steps, the tape.
# Steps used here: 0 publish (op, unused, then publish's own bytes), 1 the
# sync action, 2 loop passes, 3 the clock, 5 a leftover .part, 6 a reload,
# 7 a real wait.  A tape byte >= 0x80 picks an odd answer: 0x86 is raw
# bytes (a 16-bit length, then the bytes) followed by a close.
import os, sys
d = sys.argv[1]
# a dozen real waits and loop passes
def wait(n=12):
    s = b''
    for i in range(n):
        s += bytes([7, 3, 2, 15])
    return s
# one manifest entry: name 0-2, size index 0-6, bytes variant, version,
# chunk digests (0 none, 1 right, 3 one wrong), sha256 (0 right, 2 the other
# variant's, 3 garbage), sites (1 this one, 3 another)
def entry(ni, si, var, ver, chunks=0, sha=0, sites=0):
    return bytes([ni | (si << 2) | (var << 5), ver | (chunks << 3) | (sites << 5), sha << 4])
# a manifest: its entries, the signature (0 right, 2 a byte flipped or cut,
# 3 raw), "generated" moved by gen, pad: white space after it, 32 x pad bytes
def publish(entries, sig=0, gen=1, empty=False, pad=None):
    n = len(entries) - 1 if entries else 0
    f = (n << 3) | (sig << 6) | (0x20 if empty else 0) | (6 if pad is not None else 0)
    b = bytes([0, 0, f, gen & 0xff])
    for e in entries: b += e
    if pad is not None:
        b += bytes([pad])
    return b
def sd(cfg, body, tape=b''):
    assert len(tape) % 4 == 0
    return bytes([cfg, len(tape) // 4]) + body + tape
seeds = {
 'two-small': sd(0x00, publish([entry(0, 2, 0, 1), entry(1, 4, 0, 1, chunks=1)]) + bytes([1, 0]) + wait()),
 'ranged-chunks': sd(0x01, publish([entry(2, 6, 0, 2, chunks=1)]) + bytes([1, 0]) + wait(30)),
 'file-only': sd(0x10, publish([entry(0, 5, 1, 3), entry(1, 1, 0, 0)]) + bytes([1, 0]) + wait()),
 'bad-sha': sd(0x00, publish([entry(0, 3, 0, 1, sha=2), entry(1, 2, 0, 1, sha=3)]) + bytes([1, 0]) + wait()),
 'bad-chunk': sd(0x02, publish([entry(1, 5, 0, 1, chunks=3)]) + bytes([1, 0]) + wait(20)),
 'bad-sig': sd(0x00, publish([entry(0, 2, 0, 1)], sig=2) + bytes([1, 1, 3]) + bytes([1, 0]) + wait()),
 'resume-part': sd(0x00, bytes([5, 0x08 | 0, 0x08, 0x00]) + publish([entry(0, 2, 0, 1)]) + bytes([1, 0]) + wait()),
 'resume-wrong': sd(0x00, bytes([5, 0x80 | 0x08, 0x08, 0x00]) + publish([entry(0, 2, 0, 1)]) + bytes([1, 0]) + wait()),
 'replay': sd(0x00, publish([entry(0, 2, 0, 3)], gen=2) + bytes([1, 0]) + wait() + publish([entry(0, 2, 1, 1)], gen=0xfe) + bytes([1, 0]) + wait()),
 'update-withdraw': sd(0x00, publish([entry(0, 1, 0, 1), entry(1, 2, 0, 1)]) + bytes([1, 0]) + wait() + publish([entry(0, 1, 1, 2)], gen=1) + bytes([1, 0]) + wait() + bytes([3, 6]) + wait()),
 'other-site': sd(0x00, publish([entry(0, 2, 0, 1, sites=3), entry(1, 2, 0, 1, sites=1)]) + bytes([1, 0]) + wait()),
 'empty-manifest': sd(0x00, publish([], empty=True) + bytes([1, 0]) + wait()),
 'reload': sd(0x00, publish([entry(0, 4, 0, 1)]) + bytes([1, 0, 6, 3]) + wait() + bytes([1, 0]) + wait()),
    # regression: a well-framed empty 200 for an image with chunk digests
    # hung the download (and the round) for good
    'empty-body-chunks': sd(0x00, publish([entry(1, 4, 0, 1, chunks=1)]) + bytes([1, 0]) + wait(),
        tape=bytes([0, 0, 0x86, 0, 38]) + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" + b"\0"),
    # the same with a short body: 10 bytes of a 1 MiB + 1 image
    'short-body-chunks': sd(0x00, publish([entry(1, 4, 0, 1, chunks=1)]) + bytes([1, 0]) + wait(),
        tape=bytes([0, 0, 0x86, 0, 49]) + b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789" + b"\0\0"),
    # regression: an answer curl takes as a success but sync does not (204)
    # was refused for the reason 'No error'
    'status-204': sd(0x00, publish([entry(0, 2, 0, 1)]) + bytes([1, 0]) + wait(),
        tape=bytes([0, 0, 0x86, 0, 46]) + b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n" + b"\0"),
    # a manifest over origin.max-manifest-size (4096 in the harness)
    'oversize-manifest': sd(0x00, publish([entry(0, 2, 0, 1)], pad=255) + bytes([1, 0]) + wait()),
    # the same in chunked encoding: no length to refuse up front
    'oversize-manifest-chunked': sd(0x00, publish([entry(0, 2, 0, 1)], pad=255) + bytes([1, 0]) + wait(),
        tape=bytes([0x85, 0, 0, 0])),
}
os.makedirs(d, exist_ok=True)
for k, v in seeds.items():
    open(os.path.join(d, k), 'wb').write(v)
