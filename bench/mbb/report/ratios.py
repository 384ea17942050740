# SPDX-License-Identifier: BSD-3-Clause
"""
The ratios: each miniboss figure against a peer measured in the same run, run i paired with
run i, min / median / max over the pairs, checked against its target where it has one.
"""

import statistics

# (name, numerator series, metric, denominator series, metric, target, what); a negative
# target is an upper bound ("at most")
RATIOS = [
    ('push vs frisbeed (sender capacity)', 'miniboss-af_packet-saturated', 'peer_rx_pps',
     'frisbeed-saturated', 'peer_rx_pps', 10.0, 'BLOCK frames/s at the XDP sink'),
    ('push vs frisbeed, end to end', 'miniboss-af_packet-x1', 'goodput_gbps', 'frisbeed-x1',
     'goodput_gbps', None, 'image goodput, 1 receiver (load generator)'),
    ('push vs frisbeed, stock client', 'miniboss-af_packet-stock-x1', 'goodput_gbps',
     'frisbeed-stock-x1', 'goodput_gbps', None, 'image goodput, 1 stock frisbee client'),
    ('push at default rate vs frisbeed, stock client',
     'miniboss-af_packet-default-rate-stock-x1', 'goodput_gbps', 'frisbeed-stock-x1',
     'goodput_gbps', None, 'image goodput, 1 stock frisbee client, minibossd\'s default rate'),
    ('push at default rate vs frisbeed, 4 stock clients',
     'miniboss-af_packet-default-rate-stock-x4', 'goodput_gbps', 'frisbeed-stock-x4',
     'goodput_gbps', None, 'image goodput, 4 stock frisbee clients, minibossd\'s default rate'),
    ('push with dynamic rate vs frisbeed, stock client',
     'miniboss-af_packet-dynamic-rate-stock-x1', 'goodput_gbps', 'frisbeed-stock-x1',
     'goodput_gbps', None, 'image goodput, 1 stock frisbee client, dynamic-rate = yes'),
    ('push vs kernel UDP+GSO', 'miniboss-af_packet-saturated', 'peer_rx_pps', 'udp-gso',
     'peer_rx_pps', 2.0, '1090-byte frames/s at the XDP sink'),
    ('push vs testpmd af_packet', 'miniboss-af_packet-saturated', 'peer_rx_pps',
     'testpmd-af_packet', 'peer_rx_pps', 0.9, '1090-byte frames/s at the XDP sink'),
    ('push on af_xdp vs testpmd af_xdp', 'miniboss-af_xdp-saturated', 'peer_rx_pps',
     'testpmd-af_xdp', 'peer_rx_pps', 0.9, '1090-byte frames/s at the XDP sink'),
    ('push on af_xdp vs kernel UDP+GSO', 'miniboss-af_xdp-saturated', 'peer_rx_pps', 'udp-gso',
     'peer_rx_pps', 2.0, '1090-byte frames/s at the XDP sink'),
    ('push on af_xdp vs frisbeed (sender capacity)', 'miniboss-af_xdp-saturated', 'peer_rx_pps',
     'frisbeed-saturated', 'peer_rx_pps', 10.0, 'BLOCK frames/s at the XDP sink'),
    ('engine CPU per BLOCK (net_null) vs kernel UDP+GSO', 'cost-engine-null', 'ns_per_frame',
     'cost-udp-gso', 'ns_per_frame', None, 'CPU ns per frame, lower is cheaper (bench cost)'),
    ('engine CPU per BLOCK (net_null) vs frisbeed', 'cost-engine-null', 'ns_per_frame',
     'cost-frisbeed', 'ns_per_frame', None, 'CPU ns per frame, lower is cheaper (bench cost)'),
    ('push vs udpcast', 'miniboss-af_packet-stock-x1', 'goodput_gbps', 'udpcast-x1',
     'goodput_gbps', 3.0, 'image goodput, 1 receiver writing a file (stock frisbee vs '
     'udp-receiver)'),
    ('push 16 vs 1 receiver (time)', 'miniboss-af_packet-x16', 'last_done_s',
     'miniboss-af_packet-x1', 'last_done_s', -1.2, 'time until the last receiver is done'),
    ('push 64 receivers vs frisbeed 64', 'miniboss-af_packet-x64', 'goodput_gbps', 'frisbeed-x64',
     'goodput_gbps', None, 'image goodput, 64 receivers (load generator)'),
    ('push two images vs frisbeed', 'miniboss-af_packet-2images', 'aggregate_gbps',
     'frisbeed-2images', 'aggregate_gbps', None, 'aggregate goodput, 2 sessions'),
    ('HTTP c1 vs nginx (offload)', 'miniboss-offload-c1', 'gbps', 'nginx-offload-c1', 'gbps',
     1.0, 'Gbit/s'),
    ('HTTP c32 vs nginx (offload)', 'miniboss-offload-c32', 'gbit_per_machine_cpu_s',
     'nginx-offload-c32', 'gbit_per_machine_cpu_s', 1.5, 'Gbit per machine CPU-second'),
    ('HTTP c32 vs nginx (no offload)', 'miniboss-nooffload-c32', 'gbit_per_machine_cpu_s',
     'nginx-nooffload-c32', 'gbit_per_machine_cpu_s', 1.5, 'Gbit per machine CPU-second'),
    ('HTTP c1 on af_xdp vs nginx (no offload)', 'miniboss-af_xdp-nooffload-c1',
     'gbit_per_machine_cpu_s', 'nginx-nooffload-c1', 'gbit_per_machine_cpu_s', 1.0,
     'Gbit per machine CPU-second'),
    ('HTTP c32 on af_xdp vs nginx (no offload)', 'miniboss-af_xdp-nooffload-c32',
     'gbit_per_machine_cpu_s', 'nginx-nooffload-c32', 'gbit_per_machine_cpu_s', 1.0,
     'Gbit per machine CPU-second'),
    ('HTTP c1 on af_xdp vs nginx (offload)', 'miniboss-af_xdp-offload-c1',
     'gbit_per_machine_cpu_s', 'nginx-offload-c1', 'gbit_per_machine_cpu_s', None,
     'Gbit per machine CPU-second'),
    ('HTTP c32 on af_xdp vs nginx (offload)', 'miniboss-af_xdp-offload-c32',
     'gbit_per_machine_cpu_s', 'nginx-offload-c32', 'gbit_per_machine_cpu_s', None,
     'Gbit per machine CPU-second'),
    ('HTTP c1 vs nginx (no offload)', 'miniboss-nooffload-c1', 'gbit_per_machine_cpu_s',
     'nginx-nooffload-c1', 'gbit_per_machine_cpu_s', None, 'Gbit per machine CPU-second'),
    ('FTP c32 vs vsftpd (no offload)', 'miniboss-ftp-nooffload-c32', 'gbit_per_machine_cpu_s',
     'vsftpd-nooffload-c32', 'gbit_per_machine_cpu_s', None, 'Gbit per machine CPU-second'),
    ('FTP c32 on af_xdp vs vsftpd (no offload)', 'miniboss-af_xdp-ftp-nooffload-c32',
     'gbit_per_machine_cpu_s', 'vsftpd-nooffload-c32', 'gbit_per_machine_cpu_s', None,
     'Gbit per machine CPU-second'),
    ('HTTP c256 vs nginx (offload)', 'miniboss-offload-c256', 'gbit_per_machine_cpu_s',
     'nginx-offload-c256', 'gbit_per_machine_cpu_s', 1.5, 'Gbit per machine CPU-second'),
    ('sync vs curl over TLS', 'miniboss-sync', 'gbps', 'curl-tls', 'gbps', 0.9, 'Gbit/s'),
    ('scaling 256 MiB: push vs frisbeed', 'scaling-miniboss-256M', 'goodput_gbps',
     'scaling-frisbeed-256M', 'goodput_gbps', None, 'image goodput, 1 receiver (loadgen)'),
    ('scaling 4 GiB: push vs frisbeed', 'scaling-miniboss-4G', 'goodput_gbps',
     'scaling-frisbeed-4G', 'goodput_gbps', None, 'image goodput, 1 receiver (loadgen)'),
    ('idle TCP memory, 10000 conns, vs nginx', 'tcpmem-miniboss-n10000', 'rss_delta_per_conn',
     'tcpmem-nginx-n10000', 'rss_delta_per_conn', None,
     'server RSS growth per idle keep-alive connection'),
    ('2 workers vs 1 on net_null', 'lcores-null-w2', 'blocks_per_s', 'lcores-null-w1',
     'blocks_per_s', 1.8, 'BLOCKs/s of the engine alone, one session per worker'),
    ('2 workers vs 1 on af_packet (a queue pair each)', 'lcores-af_packet-w2', 'peer_rx_pps',
     'lcores-af_packet-w1', 'peer_rx_pps', None, 'BLOCK frames/s at the XDP sink'),
    ('2 workers vs 1 on net_null, CPU per BLOCK', 'lcores-null-w2', 'ns_per_block',
     'lcores-null-w1', 'ns_per_block', -1.11, 'CPU ns per BLOCK (at most 1.11: 1.8x with a '
     'CPU per worker)'),
    ('image 256 MiB: mmap cold vs warm', 'imagesize-mmap-cold-256M', 'goodput_gbps',
     'imagesize-mmap-warm-256M', 'goodput_gbps', None, 'BLOCK Gbit/s of the engine on net_null'),
    ('image 256 MiB: mmap cold with read-ahead vs warm', 'imagesize-mmap-cold-ra-256M',
     'goodput_gbps', 'imagesize-mmap-warm-256M', 'goodput_gbps', None,
     'BLOCK Gbit/s of the engine on net_null'),
    ('image 256 MiB, no fault read-around: mmap cold with read-ahead vs without',
     'imagesize-mmap-cold-noka-ra-256M', 'goodput_gbps', 'imagesize-mmap-cold-noka-256M',
     'goodput_gbps', None, 'BLOCK Gbit/s of the engine on net_null, MADV_RANDOM'),
    ('image 256 MiB: mmap cold with read-ahead vs the disk (O_DIRECT)',
     'imagesize-mmap-cold-ra-256M', 'goodput_gbps', 'imagesize-disk-direct-256M', 'goodput_gbps',
     None, 'BLOCK Gbit/s against dd\'s cold read of the file'),
    # context: the peers against the ceiling
    ('(context) frisbeed vs testpmd af_packet', 'frisbeed-saturated', 'peer_rx_pps',
     'testpmd-af_packet', 'peer_rx_pps', None, 'frames/s'),
    ('(context) kernel UDP+GSO vs testpmd af_packet', 'udp-gso', 'peer_rx_pps',
     'testpmd-af_packet', 'peer_rx_pps', None, 'frames/s'),
    ('(context) testpmd af_xdp vs af_packet', 'testpmd-af_xdp', 'peer_rx_pps',
     'testpmd-af_packet', 'peer_rx_pps', None, 'frames/s'),
    ('(context) vsftpd vs nginx c32 (offload)', 'vsftpd-offload-c32', 'gbit_per_machine_cpu_s',
     'nginx-offload-c32', 'gbit_per_machine_cpu_s', None, 'Gbit per machine CPU-second'),
]


def compute(series):
    """The ratio rows from {series name: record}."""
    out = []
    for name, a, am, b, bm, target, what in RATIOS:
        sa, sb = series.get(a), series.get(b)
        row = {'name': name, 'numerator': '%s.%s' % (a, am), 'denominator': '%s.%s' % (b, bm),
               'target': target, 'what': what}
        if sa is None or sb is None or sa.get('status') != 'ok' or sb.get('status') != 'ok':
            why = []
            for nm, s in ((a, sa), (b, sb)):
                if s is None:
                    why.append('%s not run' % nm)
                elif s.get('status') != 'ok':
                    why.append('%s %s' % (nm, s.get('status')))
            row['status'] = 'not available'
            row['why'] = '; '.join(why)
        else:
            # pair run i with run i: both were measured in the same invocation
            xs = []
            for ra, rb in zip(sa['runs'], sb['runs']):
                if ra.get(am) and rb.get(bm):
                    xs.append(ra[am] / rb[bm])
            if xs:
                row.update({'status': 'ok', 'min': min(xs), 'median': statistics.median(xs),
                            'max': max(xs), 'n': len(xs)})
                if target is not None:
                    row['met'] = (row['median'] <= -target if target < 0 else
                                  row['median'] >= target)
            else:
                row['status'] = 'not available'
                row['why'] = 'no paired runs'
        out.append(row)
    return out
