# SPDX-License-Identifier: BSD-3-Clause
"""
results.json: writing it, reading it back in either format, and selecting records.

The current format is {"format": 2, "meta": {...}, "series": [record, ...], "ratios": [...],
"errors": {benchmark: traceback}}, records as records.py describes them, in the order the
run produced them. A file without "format" is the first format and is converted on reading
(legacy.py); the stored file is left as it is.
"""

import json
import os

from ..records import FORMAT
from . import legacy

# the order of values within each field when a table or plot sorts by it
RANK = {
    'server': ['testpmd', 'udp-blast', 'frisbeed', 'udp-sender', 'nginx', 'vsftpd',
               'minibossd'],
    'port_type': ['af_packet', 'af_xdp', 'kernel'],
    'mode': ['txonly', 'sendto', 'gso', 'saturated', 'unlimited', 'link-1g', 'http', 'ftp'],
    'rate': [None, 'unpaced', 'default', 'dynamic'],
    'client': ['frisbee', 'mb-fris-loadgen', 'mb-frisbee', 'udp-receiver', 'curl', 'minibossd',
               'fris-flood'],
}


def rank(rec, field):
    v = rec.get(field)
    order = RANK[field]
    return order.index(v) if v in order else len(order)


def load(d):
    with open(os.path.join(d, 'results.json')) as f:
        res = json.load(f)
    if res.get('format') is None:
        res = legacy.convert(res)
    elif res['format'] > FORMAT:
        raise ValueError('%s/results.json has format %s; this bench reads up to %d' % (
            d, res['format'], FORMAT))
    return res


def save(res, d):
    res['format'] = FORMAT
    with open(os.path.join(d, 'results.json'), 'w') as f:
        json.dump(res, f, indent=1, sort_keys=True)


def by_name(res):
    return {r['series']: r for r in res['series']}


def select(res, **want):
    """The records whose fields have the values given."""
    return [r for r in res['series'] if all(r.get(k) == v for k, v in want.items())]


def metric(rec, m, scale=1.0):
    """(median, min, max) of metric m scaled, or None."""
    v = (rec.get('metrics') or {}).get(m)
    return None if not v else (v['median'] * scale, v['min'] * scale, v['max'] * scale)
