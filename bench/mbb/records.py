# SPDX-License-Identifier: BSD-3-Clause
"""
The result record: what results.json holds for each series, shared by the harness that writes
it and the report that reads it.

A record has explicit fields saying what was measured (FIELDS: the series' name, benchmark,
report table, server program, whether it is a peer or miniboss, client, port type, mode,
receivers, images, connections, offload, MTU, Frisbee rate profile, image and file size, sink),
params (anything else a table shows), status (ok / failed / not available, with error,
not_available or exception), runs (each run's raw figures) and metrics: per metric its unit,
its value in each run (None for a failed run) and min / median / max / n over the runs that did
not fail.
"""

import statistics

FORMAT = 2

# every figure the tables, plots and ratios use, with its unit
METRICS = [
    ('peer_rx_pps', 'frames/s'),
    ('peer_rx_gbps', 'Gbit/s'),
    ('goodput_gbps', 'Gbit/s'),
    ('aggregate_gbps', 'Gbit/s'),
    ('last_done_s', 's'),
    ('extra_frames', 'frames'),
    ('proc_cpu_s', 'CPU-s'),
    ('machine_cpu_s', 'CPU-s'),
    ('server_cpu_s_per_gb', 'CPU-s/GB'),
    ('machine_cpu_s_per_gb', 'CPU-s/GB'),
    ('gbps', 'Gbit/s'),
    ('gbit_per_machine_cpu_s', 'Gbit/CPU-s'),
    ('server_rss_bytes', 'bytes'),
    ('client_cpu_s', 'CPU-s'),
    ('transfer_s', 's'),
    ('server_hwm_bytes', 'bytes'),
    ('rss_anon_bytes', 'bytes'),
    ('rss_file_bytes', 'bytes'),
    ('store_hugepage_bytes', 'bytes'),
    ('store_cache_used_bytes', 'bytes'),
    ('rss_shmem_bytes', 'bytes'),
    ('rss_delta_bytes', 'bytes'),
    ('rss_delta_per_conn', 'bytes/connection'),
    ('open_conns', 'connections'),
    ('blocks_per_s', 'BLOCKs/s'),
    ('ns_per_block', 'ns CPU/BLOCK'),
    ('loadavg', 'load'),
    ('ns_per_frame', 'ns/frame'),
    ('frames_per_s', 'frames/s'),
    ('lcore_share', 'share'),
    ('machine_ns_per_frame', 'ns/frame'),
    ('load_avg_1m', 'load'),
    ('start_alloc_per_session', 'bytes/session'),
    ('rss_growth_per_session', 'bytes/session'),
    ('resident_before', 'share'),
    ('lcore_major_faults', 'faults'),
    ('ra_pages_read', 'pages'),
]
UNITS = dict(METRICS)

# the fields that say what a series measured (None when they do not apply)
FIELDS = ('series', 'benchmark', 'table', 'server', 'peer', 'client', 'port_type', 'mode',
          'receivers', 'images', 'connections', 'offload', 'mtu', 'rate', 'image_bytes',
          'file_bytes', 'sink')


def stats(xs):
    return {'min': min(xs), 'median': statistics.median(xs), 'max': max(xs), 'n': len(xs)}


def close(rec):
    """Fill in a record's status and per-metric values and min / median / max from its runs
    (runs that report an error count in neither)."""
    runs = rec.get('runs') or []
    ok = [r for r in runs if 'error' not in r]
    metrics = {}
    for m, unit in METRICS:
        xs = [r[m] for r in ok if r.get(m) is not None]
        if xs:
            metrics[m] = dict(stats(xs), unit=unit,
                              values=[None if 'error' in r else r.get(m) for r in runs])
    if rec.get('not_available'):
        rec['status'] = 'not available'
    elif rec.get('error') or rec.get('exception') or not ok:
        rec['status'] = 'failed'
    else:
        rec['status'] = 'ok'
    rec['metrics'] = metrics
    return rec
