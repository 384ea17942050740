# SPDX-License-Identifier: BSD-3-Clause
"""
Reading results.json of the first format (before the records had explicit fields).

That format kept a dict {series name: {runs, summary, status, some descriptive keys}} and
left the rest to be inferred from the name. This module is the only place that parses series
names, and only these known ones, to give each old series the fields a record has today; it
never writes the old format. Unknown names are kept, with no table.
"""

import re

from ..records import FIELDS, FORMAT, close



class G(int):
    """In PATTERNS: the value of a field is this regex group of the name."""


# (pattern, fields)
PATTERNS = [
    (r'testpmd-(af_packet|af_xdp)$',
     dict(benchmark='ceiling', table='senders', server='testpmd', port_type=G(1), mode='txonly')),
    (r'udp-(sendto|gso)$',
     dict(benchmark='udp', table='senders', server='udp-blast', port_type='kernel', mode=G(1))),
    (r'frisbeed-saturated$',
     dict(benchmark='frisbee', table='senders', server='frisbeed', port_type='kernel',
          mode='saturated', client='fris-flood')),
    (r'miniboss-(af_packet|af_xdp)-saturated$',
     dict(benchmark='frisbee', table='senders', server='minibossd', port_type=G(1),
          mode='saturated', client='fris-flood', rate='unpaced')),
    (r'frisbeed-2images$',
     dict(benchmark='frisbee', table='push', server='frisbeed', port_type='kernel', images=2,
          receivers=2, client='frisbee')),
    (r'frisbeed-mb-frisbee-x1$',
     dict(benchmark='frisbee', table='push', server='frisbeed', port_type='kernel', images=1,
          receivers=1, client='mb-frisbee')),
    (r'frisbeed-(stock-)?x(\d+)$',
     dict(benchmark='frisbee', table='push', server='frisbeed', port_type='kernel', images=1)),
    (r'udpcast-x1$',
     dict(benchmark='frisbee', table='push', server='udp-sender', port_type='kernel',
          images=1, receivers=1, client='udp-receiver')),
    (r'miniboss-af_packet-2images$',
     dict(benchmark='frisbee', table='push', server='minibossd', port_type='af_packet',
          images=2, receivers=2, client='frisbee', rate='unpaced')),
    (r'miniboss-(af_packet|af_xdp)-(stock-)?x(\d+)$',
     dict(benchmark='frisbee', table='push', server='minibossd', port_type=G(1), images=1,
          rate='unpaced')),
    (r'(nginx|vsftpd|miniboss)-(offload|nooffload)-c(\d+)$',
     dict(benchmark='http', table='http', mtu=1500)),
    (r'curl-tls$',
     dict(benchmark='sync', table='sync', server='nginx', client='curl', port_type='kernel')),
    (r'miniboss-sync$',
     dict(benchmark='sync', table='sync', server='nginx', client='minibossd',
          port_type='kernel')),
    (r'scaling-(frisbeed|miniboss)-\d+[MG]$',
     dict(benchmark='scaling', table='scaling', client='mb-fris-loadgen', receivers=1,
          images=1)),
    (r'tcpmem-(nginx|miniboss)-n(\d+)$',
     dict(benchmark='tcpmem', table='tcpmem')),
]

BENCHES = ('ceiling', 'udp', 'frisbee', 'http', 'sync', 'scaling', 'tcpmem')


def _server(word):
    return 'minibossd' if word == 'miniboss' else word


def fields_of(name, old):
    """The record fields of old series name (old: its dict in the first format)."""
    f = {k: None for k in FIELDS}
    f['series'] = name
    for pat, given in PATTERNS:
        m = re.match(pat, name)
        if not m:
            continue
        for k, v in given.items():
            f[k] = m.group(v) if isinstance(v, G) else v
        if f['table'] == 'push' and f['receivers'] is None:
            stock_, n = m.group(m.lastindex - 1), m.group(m.lastindex)
            f['receivers'] = int(n)
            f['client'] = 'frisbee' if stock_ else 'mb-fris-loadgen'
        if f['table'] == 'http':
            f['server'] = _server(m.group(1))
            f['offload'] = m.group(2) == 'offload'
            f['connections'] = int(m.group(3))
            f['port_type'] = 'af_packet' if f['server'] == 'minibossd' else 'kernel'
        if f['table'] == 'scaling':
            f['server'] = _server(m.group(1))
            f['port_type'] = 'af_packet' if f['server'] == 'minibossd' else 'kernel'
            if f['server'] == 'minibossd':
                f['rate'] = 'unpaced'
        if f['table'] == 'tcpmem':
            f['server'] = _server(m.group(1))
            f['connections'] = int(m.group(2))
            f['port_type'] = 'af_packet' if f['server'] == 'minibossd' else 'kernel'
        break
    else:
        if name in BENCHES:
            f['benchmark'] = name
    # what the old dict said explicitly wins over what the name implies
    for k in ('receivers', 'connections', 'offload', 'image_bytes', 'file_bytes', 'sink',
              'images', 'client', 'server'):
        if old.get(k) is not None:
            f[k] = old[k]
    f['peer'] = f['server'] not in ('minibossd', None) and f['client'] != 'minibossd'
    return f


def convert(res):
    """A first-format results dict as a current one (the old data is not changed)."""
    series = []
    for name, old in res.get('series', {}).items():
        rec = fields_of(name, old)
        params = {k: v for k, v in old.items()
                  if k not in FIELDS and k not in ('runs', 'summary', 'status', 'error',
                                                   'not_available', 'exception', 'driver')}
        rec.update(params=params, runs=old.get('runs') or [])
        for k in ('error', 'not_available', 'exception'):
            if old.get(k):
                rec[k] = old[k]
        series.append(close(rec))
    return {'format': FORMAT, 'meta': dict(res.get('meta', {}), converted_from_format=1),
            'series': series, 'errors': res.get('errors', {}), 'ratios': res.get('ratios', [])}
