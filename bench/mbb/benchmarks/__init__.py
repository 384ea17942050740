# SPDX-License-Identifier: BSD-3-Clause
"""
One module per benchmark. Each has run(env, runs, dur) -> [measure.Series] and is listed in
ORDER, the order a full run takes them in (and the names --only accepts, with those in
EXTRA, which only --only runs).
"""

from . import ceiling, udp, frisbee, mcast, http, sync, scaling, tcpmem, lcores, cost, sessions
from . import imagesize, xdp

ORDER = ['ceiling', 'udp', 'frisbee', 'mcast', 'http', 'sync', 'scaling', 'tcpmem', 'lcores',
         'cost', 'sessions', 'imagesize']
MODULES = {'ceiling': ceiling, 'udp': udp, 'frisbee': frisbee, 'mcast': mcast, 'http': http,
           'sync': sync,
           'scaling': scaling, 'tcpmem': tcpmem, 'lcores': lcores, 'cost': cost,
           'sessions': sessions, 'imagesize': imagesize, 'xdp': xdp}
# run only when --only names them: development aids, not figures of a full run
EXTRA = ['xdp']
