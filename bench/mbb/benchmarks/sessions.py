# SPDX-License-Identifier: BSD-3-Clause
"""
Many sessions at once: the engine (tests/dpdk/dp_serve on net_null, as in the cost benchmark)
serving 64 images (16 MiB each, every one its own copy in memory) to 64 multicast groups, each
session pushing its image unrequested, next to one session of one such image: the aggregate
BLOCK rate, the lcore's CPU per BLOCK, and the memory per session: the preallocated session
slot (sizeof struct mb_dp_sess, frisbee.max-sessions of them), what starting a session
allocates (its work queue, node table and sent map: DPDK heap and malloc), and what the
process's resident set grows by per session while they run, images excluded (they are loaded
before the sessions start; the mbuf pools' pages the first frames touch count in it, which the
one-session line shows).
"""

import os

from ..measure import Series
from ..util import MiB
from .cost import engine_run, fmt

IMAGE = 16 * MiB
PLAN = ((1, 200), (64, 6))     # (sessions, passes over each image)


def run(env, runs, dur):
    img = env.make_file('sessions-image.raw', IMAGE)
    out = []
    for n, passes in PLAN:
        if env.quick:
            passes = max(2, passes // 3)
        s = Series('sessions-engine-null-x%d' % n, 'sessions', 'sessions', 'dp_serve', False,
                   port_type='net_null', mode='copy', images=n, image_bytes=IMAGE)

        def one(i, n=n, passes=passes):
            return engine_run(env, img, 'net_null0', passes, 'heap',
                              'mbb-sess-%d-%d-%d' % (os.getpid(), n, i), sessions=n)
        s.repeat(runs, one, fmt)
        out.append(s)
    return out
