# SPDX-License-Identifier: BSD-3-Clause
"""
results.md: the ratios and one table per report table (the records' "table" field), rows
ordered by the records' fields, cells min / median / max over the runs.
"""

import glob
import os

from ..util import IF_S, IF_R, NS_S, NS_R, MiB
from .results import rank


def f3(x):
    if x is None:
        return '-'
    if abs(x) >= 100:
        return '%.0f' % x
    if abs(x) >= 10:
        return '%.1f' % x
    return '%.3g' % x


def mmm(s, m, scale=1.0):
    v = (s.get('metrics') or {}).get(m)
    if not v:
        return '-'
    if v['n'] == 1:
        return f3(v['median'] * scale)
    return '%s / %s / %s' % (f3(v['min'] * scale), f3(v['median'] * scale), f3(v['max'] * scale))


def status_cell(s):
    st = s.get('status', '?')
    if st == 'not available':
        return 'not available: ' + ' '.join(s.get('not_available', '').split())[:100]
    if st == 'failed':
        why = ' '.join((s.get('error') or s.get('exception') or '').split())
        return 'FAILED: ' + why[-100:].replace('|', '/')
    return 'ok (%d runs)' % len(s.get('runs', []))


def size_mib(s, field):
    return f3(s[field] / MiB) if s.get(field) else '-'


def rows(res, table, key):
    return sorted([r for r in res['series'] if r.get('table') == table], key=key)


# -- the tables: (table, heading, intro lines, header, sort key, row cells) ---------------------


def senders_key(s):
    return (rank(s, 'server'), rank(s, 'port_type'), rank(s, 'mode'), rank(s, 'rate'))


def push_key(s):
    return (rank(s, 'server'), rank(s, 'rate'), rank(s, 'port_type'), s.get('images') or 1,
            rank(s, 'client'), s.get('receivers') or 0)


def http_key(s):
    return (not s.get('offload'), rank(s, 'server'), rank(s, 'mode'), rank(s, 'port_type'),
            s.get('connections') or 0)


def senders_row(s):
    return [mmm(s, 'peer_rx_pps', 1e-6), mmm(s, 'peer_rx_gbps'), mmm(s, 'proc_cpu_s'),
            mmm(s, 'machine_cpu_s')]


def push_row(s):
    return [mmm(s, 'goodput_gbps'), mmm(s, 'aggregate_gbps'), mmm(s, 'last_done_s'),
            mmm(s, 'peer_rx_pps', 1e-6), mmm(s, 'extra_frames'), mmm(s, 'server_cpu_s_per_gb'),
            mmm(s, 'machine_cpu_s_per_gb')]


def http_row(s):
    return [size_mib(s, 'file_bytes'), mmm(s, 'gbps'), mmm(s, 'gbit_per_machine_cpu_s'),
            mmm(s, 'server_cpu_s_per_gb'), mmm(s, 'machine_cpu_s_per_gb'),
            mmm(s, 'server_rss_bytes', 1 / MiB)]


def sync_row(s):
    return [size_mib(s, 'file_bytes'), mmm(s, 'gbps'), mmm(s, 'transfer_s'),
            mmm(s, 'machine_cpu_s')]


def scaling_row(s):
    run = (s.get('runs') or [{}])[0]
    mb = s.get('server') == 'minibossd'
    anon = ('%s / %s / %s' % (mmm(s, 'rss_anon_bytes', 1 / MiB), mmm(s, 'rss_file_bytes', 1 / MiB),
                              mmm(s, 'rss_shmem_bytes', 1 / MiB)) if mb else '-')
    store = ('%s, %s / %s' % (run.get('store_mem', '-'), mmm(s, 'store_hugepage_bytes', 1 / MiB),
                              mmm(s, 'store_cache_used_bytes', 1 / MiB)) if mb else '-')
    return [size_mib(s, 'image_bytes'), mmm(s, 'goodput_gbps'), mmm(s, 'server_cpu_s_per_gb'),
            '%s (%s)' % (mmm(s, 'server_rss_bytes', 1 / MiB), mmm(s, 'server_hwm_bytes', 1 / MiB)),
            anon, store]


def tcpmem_row(s):
    run = (s.get('runs') or [{}])[-1]
    p = s.get('params') or {}
    tbl = ('%s (%s)' % (f3(p['table_bytes_per_conn']), p.get('max_connections'))
           if p.get('table_bytes_per_conn') else '-')
    return [s.get('connections', '-'), run.get('still_open', '-'),
            mmm(s, 'rss_delta_bytes', 1 / MiB), mmm(s, 'rss_delta_per_conn'), tbl,
            p.get('conn_struct_bytes') or '-']


def lcores_row(s):
    return [str((s.get('params') or {}).get('workers', '-')), mmm(s, 'blocks_per_s', 1e-6),
            mmm(s, 'ns_per_block'), mmm(s, 'loadavg')]


def cost_row(s):
    from ..benchmarks.cost import LINKS, cores
    v = (s.get('metrics') or {}).get('ns_per_frame')
    proj = ['%.2f' % cores(v['median'], link) if v else '-' for link in LINKS]
    return [s.get('port_type') or '-', s.get('mode') or '-', mmm(s, 'ns_per_frame'),
            mmm(s, 'frames_per_s', 1e-6), mmm(s, 'lcore_share'), mmm(s, 'load_avg_1m')] + proj


def sessions_row(s):
    run = (s.get('runs') or [{}])[-1]
    return [s.get('images') or '-', mmm(s, 'aggregate_gbps'), mmm(s, 'frames_per_s', 1e-6),
            mmm(s, 'ns_per_frame'), f3(run.get('slot_bytes')),
            mmm(s, 'start_alloc_per_session'), mmm(s, 'rss_growth_per_session'),
            mmm(s, 'load_avg_1m')]


def imagesize_row(s):
    return [size_mib(s, 'image_bytes'), s.get('mode') or '-', mmm(s, 'goodput_gbps'),
            mmm(s, 'ns_per_frame'), mmm(s, 'lcore_share'), mmm(s, 'lcore_major_faults'),
            mmm(s, 'ra_pages_read'), mmm(s, 'resident_before'), mmm(s, 'load_avg_1m')]


def table(L, heading, intro, header, recs, cells):
    L.append(heading)
    L.append('')
    for line in intro:
        L.append(line)
        L.append('')
    L.append('| ' + ' | '.join(['series'] + header + ['status']) + ' |')
    L.append('|' + '---|' * (len(header) + 2))
    for s in recs:
        L.append('| ' + ' | '.join(str(c) for c in [s['series']] + cells(s) + [status_cell(s)])
                 + ' |')
    L.append('')


def ratio_lines(res):
    L = ['## Ratios (miniboss / peer measured in the same run)', '',
         '| ratio | min / median / max | target | met | measures |', '|---|---|---|---|---|']
    for r in res['ratios']:
        if r['status'] == 'ok' and r['n'] == 1:
            cell = f3(r['median'])
            met = '-' if r['target'] is None else ('yes' if r['met'] else 'no')
        elif r['status'] == 'ok':
            cell = '%s / %s / %s' % (f3(r['min']), f3(r['median']), f3(r['max']))
            met = '-' if r['target'] is None else ('yes' if r['met'] else 'no')
        else:
            cell = 'not available (%s)' % r['why']
            met = '-'
        tgt = ('-' if r['target'] is None else
               '<= %g' % -r['target'] if r['target'] < 0 else '>= %g' % r['target'])
        L.append('| %s | %s | %s | %s | %s |' % (r['name'], cell, tgt, met, r['what']))
    return L


def rate_note(res):
    """What the rate profiles of the push series were, when any is not unpaced."""
    seen = {}
    for s in res['series']:
        if s.get('table') == 'push' and s.get('rate') not in (None, 'unpaced'):
            cfg = (s.get('params') or {}).get('rate_config')
            seen.setdefault(s['rate'], cfg)
    if not seen:
        return []
    parts = ['`%s`: %s' % (k, ', '.join('%s = %s' % kv for kv in sorted(v.items()))
                           if v else 'the daemon\'s rate keys unchanged')
             for k, v in sorted(seen.items())]
    return ['minibossd\'s series without a rate in their name run unpaced (`rate = 0`); the '
            '`-rate-` series use another Frisbee rate profile, as the running daemon reported '
            'it: ' + '; '.join(parts) + '.']


def write(res, path):
    L = []
    meta = res['meta']
    frame, block = meta.get('frame_bytes', 1090), meta.get('block_bytes', 1048)
    L.append('# miniboss benchmark results, %s' % meta['timestamp'])
    L.append('')
    L.append('Mode: %s, %d run(s) per figure; cells are min / median / max over the runs. '
             'Machine: %s CPUs, kernel %s. Path: veth %s <-> %s (namespaces %s, %s), '
             'frames of %d bytes (%d-byte Frisbee BLOCK). %s' % (
                 meta['mode'], meta['runs'], meta['cpus'], meta['kernel'], IF_S, IF_R, NS_S,
                 NS_R, frame, block, meta.get('note', '')))
    L.append('')
    for ev in meta.get('xdp_detached') or []:
        L.append('- ' + ev)
    if meta.get('xdp_detached'):
        L.append('')
    L += ratio_lines(res)
    L.append('')
    table(L, '## Sender capacity: raw ceiling, kernel UDP senders, Frisbee servers '
          '(peer drops BLOCK-sized UDP in XDP)', [],
          ['Mpps at peer', 'Gbit/s at peer (frames)', 'sender CPU-s', 'machine CPU-s'],
          rows(res, 'senders', senders_key), senders_row)
    table(L, '## Frisbee push (one image, raw mode / JOIN2, receivers in %s)' % NS_R,
          rate_note(res),
          ['goodput Gbit/s', 'aggregate Gbit/s', 'last receiver done (s)', 'Mpps at peer',
           'extra frames', 'server CPU-s/GB', 'machine CPU-s/GB'],
          rows(res, 'push', push_key), push_row)
    mc = rows(res, 'mcast', lambda s: (rank(s, 'mode'), s.get('receivers') or 0,
                                       rank(s, 'server')))
    if mc:
        table(L, '## Multicast, default configuration: minibossd vs frisbeed, stock clients',
              ['minibossd with every [frisbee] key at its default (adaptive rate, IGMP '
               'querier, unicast fallback); frisbeed at -W 10 Gbit/s on the unlimited veth and '
               '-W 1 Gbit/s on the veth shaped to 1 Gbit/s (tbf at the server\'s egress). '
               'Series names carry the link (`unlimited`, `link-1g`).'],
              ['goodput Gbit/s', 'aggregate Gbit/s', 'last receiver done (s)', 'Mpps at peer',
               'extra frames', 'server CPU-s/GB', 'machine CPU-s/GB'], mc, push_row)
    table(L, '## HTTP / FTP: parallel downloads (one curl process in %s)' % NS_R, [],
          ['file MiB', 'Gbit/s', 'Gbit per machine CPU-s', 'server CPU-s/GB', 'machine CPU-s/GB',
           'server RSS MiB'], rows(res, 'http', http_key), http_row)
    table(L, '## Sync over TLS with client certificates (nginx in %s)' % NS_S, [],
          ['file MiB', 'Gbit/s', 'seconds', 'machine CPU-s'],
          rows(res, 'sync', lambda s: (not s.get('peer'), rank(s, 'client'))), sync_row)
    sc = rows(res, 'scaling', lambda s: (s.get('image_bytes') or 0, rank(s, 'server')))
    if sc:
        table(L, '## Scaling with image size (one receiver, the load generator)',
              ['One run per point. Memory is the server process after the push: RSS (peak '
               'RSS), and for minibossd its anonymous / file-backed / shared split (EAL\'s '
               '--no-huge memory is shared) and what '
               '`minibossctl --json health` says the store holds (EAL memory: %s).' % (
                   'hugepages' if meta.get('eal_memory') == 'hugepages' else
                   '--no-huge -m 1024')],
              ['image MiB', 'goodput Gbit/s', 'server CPU-s/GB', 'RSS MiB (peak)',
               'RSS anon / file / shmem MiB', 'store mem, hugepage / cache-used MiB'],
              sc, scaling_row)
    tm = rows(res, 'tcpmem', lambda s: (s.get('connections') or 0, bool(s.get('peer'))))
    if tm:
        table(L, '## Memory per idle TCP connection (HTTP keep-alive, one HEAD each)',
              ['RSS delta = server RSS (all its processes) with the connections held minus '
               'before. minibossd preallocates its connection table (tcp.max-connections), '
               'so its delta is near 0: the table column is the preallocated bytes / '
               'max-connections, the struct column sizeof(struct mb_tcp_conn). Targets: '
               '<= 2048 bytes per idle connection, <= 512 bytes of TCP state.'],
              ['connections', 'open at end', 'RSS delta MiB', 'RSS delta B/conn',
               'table B/conn (max-connections)', 'struct B'], tm, tcpmem_row)
    lc = rows(res, 'lcores', lambda s: (rank(s, 'port_type'),
                                         (s.get('params') or {}).get('workers', 0)))
    if lc:
        table(L, '## Several lcores: the engine alone on net_null (dpdk.workers)',
              ['tests/dpdk/dp_serve pushes one 64 MiB image per session, one session per '
               'worker, on net_null (a TX queue and an RX queue per worker), and on '
               'net_af_packet over %s with a queue pair per worker (BLOCKs/s at the sink, '
               'the process\'s CPU per frame delivered). 2 workers reach 2x only with a CPU '
               'each: the load column is the machine\'s load average during the run.' % IF_S],
              ['workers', 'M BLOCKs/s', 'ns CPU/BLOCK', 'load'], lc, lcores_row)
    co = rows(res, 'cost', lambda s: (bool(s.get('peer')), s['series']))
    if co:
        table(L, '## Sender cost per BLOCK frame, and cores for 10 / 25 / 100 GbE',
              ['CPU time of the sending thread or process per 1 KiB BLOCK frame (1114 bytes on '
               'the wire), min / median / max; the core columns are the median x the BLOCK '
               'rate of the link (1.12, 2.81, 11.2 Mframes/s). The engine (dp_serve) on '
               'net_null: building and handing over a frame (payload copied: net_null does '
               'not chain); on net_memif into dpdk-testpmd rxonly: plus the PMD\'s copy into '
               'the shared ring and polling while the receiver is behind. Kernel senders and '
               'frisbeed: their CPU per datagram at the XDP sink, the veth transmit included. '
               'The machine is shared (load average per run in its column).'],
              ['port', 'payload', 'ns/frame', 'Mframes/s', 'sender on CPU', 'load 1m',
               'cores 10G', 'cores 25G', 'cores 100G'], co, cost_row)
    se = rows(res, 'sessions', lambda s: s.get('images') or 0)
    if se:
        table(L, '## Many sessions at once (the engine on net_null, one image per session)',
              ['Each session pushes its own 16 MiB image to its own group. Memory per session: '
               'the preallocated slot, what starting it allocates (work queue, node table, '
               'sent map), and the process\'s RSS growth per session while they run (images '
               'excluded; the first frames\' mbuf pages count in it, see the one-session line).'],
              ['sessions', 'aggregate Gbit/s', 'Mframes/s', 'ns/frame', 'slot B',
               'start alloc B/session', 'RSS growth B/session', 'load 1m'], se, sessions_row)
    im = rows(res, 'imagesize', lambda s: (s.get('image_bytes') or 0, s.get('mode') or ''))
    if im:
        table(L, '## Image size, warm and cold (the engine on net_null)',
              ['dpdk: the image in DPDK memory (the daemon\'s hugepage images); mmap-warm: a '
               'mapping of the file, all in the page cache; mmap-cold: the same after the '
               'file\'s pages were dropped (resident share before the run in its column), '
               'pushed once, every page read from the disk by a fault on the lcore; '
               'mmap-cold-ra: cold, with the daemon\'s read-ahead thread reading ahead of the '
               'lcore; -noka: the kernel\'s read-around on a fault off for the mapping '
               '(MADV_RANDOM: a disk without read-ahead, or a reader that jumps about); '
               'disk-direct / disk-buffered: the same file read cold by dd (4 MiB '
               'O_DIRECT reads / through the page cache), Gbit/s of file bytes. Rate over the '
               'sending window (wall); CPU per BLOCK of the lcore; the lcore thread\'s major '
               'faults; pages the read-ahead found out of the cache and read in.'],
              ['image MiB', 'mode', 'BLOCK Gbit/s', 'ns/frame', 'lcore on CPU',
               'lcore major faults', 'read-ahead pages', 'resident before', 'load 1m'], im,
              imagesize_row)
    other = [s for s in res['series'] if not s.get('table')]
    if other:
        L.append('## Benchmarks that did not run')
        L.append('')
        for s in other:
            L.append('- %s: %s' % (s['series'], status_cell(s)))
        L.append('')
    plots = sorted(os.path.basename(p) for p in glob.glob(os.path.join(os.path.dirname(path),
                                                                        '*.png')))
    if plots:
        L.append('## Plots')
        L.append('')
        for p in plots:
            L.append('![%s](%s)' % (p, p))
        L.append('')
    with open(path, 'w') as f:
        f.write('\n'.join(L))
    return '\n'.join(L)
