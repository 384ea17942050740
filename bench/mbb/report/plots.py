# SPDX-License-Identifier: BSD-3-Clause
"""
The plots (gnuplot, PNG), each from records chosen by their fields:

- senders.png: frames per second at the peer of every sender (the senders table and the
  single-receiver, single-image pushes);
- http-gbps.png, http-efficiency.png: HTTP/FTP throughput and Gbit per machine CPU-second
  against parallel downloads, one line per server and offload setting;
- push-receivers.png: push goodput against receivers (load generator), one line per server,
  port type and rate profile with at least two points;
- scaling.png: push goodput against image size, one line per server.

The data (*.dat) and the script (plots.gp) stay next to the PNGs, except in bench/latest/
(which keeps only what a reader needs).
"""

import os
import shutil
import subprocess

from ..util import MiB, log
from .markdown import push_key, senders_key, http_key
from .results import metric, rank


def label(s):
    """A short name for the line or bar of record s's server."""
    if s.get('server') != 'minibossd':
        return s['server']
    return 'miniboss-ftp' if s.get('mode') == 'ftp' else 'miniboss'


def write_dat(path, pts, fmt):
    with open(path, 'w') as f:
        for p in pts:
            f.write(fmt % p)


def senders_job(res, outdir, datadir):
    sat = [s for s in res['series'] if s.get('table') == 'senders']
    push1 = [s for s in res['series'] if s.get('table') == 'push' and s.get('receivers') == 1
             and (s.get('images') or 1) == 1]
    recs = (sorted([s for s in sat if s.get('mode') != 'saturated'], key=senders_key) +
            sorted(push1, key=push_key) +
            sorted([s for s in sat if s.get('mode') == 'saturated'], key=senders_key))
    rows = [(s['series'], metric(s, 'peer_rx_pps', 1e-6)) for s in recs]
    rows = [(k, v) for k, v in rows if v]
    if not rows:
        return None
    # room under the bars for the longest name, rotated
    bmargin = max(17, int(max(len(k) for k, _ in rows) * 0.45) + 1)
    dat = os.path.join(datadir, 'senders.dat')
    write_dat(dat, [(i, k, m, lo, hi) for i, (k, (m, lo, hi)) in enumerate(rows)],
              '%d "%s" %f %f %f\n')
    return '''
set output "%(d)s/senders.png"
set title "1090-byte frames per second at the peer (median, min-max bars)"
set ylabel "Mpps"
set style fill solid 0.6
set boxwidth 0.6
set xtics rotate by 90 right
set bmargin %(b)d
set yrange [0:*]
plot "%(f)s" using 1:3:xtic(2) with boxes notitle, \\
     "%(f)s" using 1:3:4:5 with yerrorbars notitle lc rgb "black"
''' % {'d': outdir, 'f': dat, 'b': bmargin}


def groups(recs, key, order):
    """recs grouped by key(rec), groups in the order of order(first rec of the group)."""
    g = {}
    for s in recs:
        g.setdefault(key(s), []).append(s)
    return sorted(g.items(), key=lambda kv: order(kv[1][0]))


def http_jobs(res, outdir, datadir):
    jobs = []
    recs = [s for s in res['series'] if s.get('table') == 'http']

    def name(s):
        port = '' if s.get('port_type') in ('af_packet', 'kernel') else '-' + s['port_type']
        return '%s%s-%s' % (label(s), port, 'offload' if s.get('offload') else 'nooffload')
    for m, fname, ylabel in (('gbps', 'http-gbps', 'Gbit/s'),
                             ('gbit_per_machine_cpu_s', 'http-efficiency',
                              'Gbit per machine CPU-second')):
        lines = []
        for g, members in groups(recs, name, lambda s: (rank(s, 'server'), rank(s, 'mode'),
                                                        rank(s, 'port_type'),
                                                        not s.get('offload'))):
            pts = [(s['connections'],) + metric(s, m)
                   for s in sorted(members, key=http_key) if metric(s, m)]
            if pts:
                dat = os.path.join(datadir, '%s-%s.dat' % (fname, g))
                write_dat(dat, pts, '%d %f %f %f\n')
                lines.append('"%s" using 1:2:3:4 with yerrorlines title "%s"' % (
                    dat, g.replace('-offload', ' offload').replace('-nooffload', ' nooffload')))
        if lines:
            jobs.append('''
set output "%s/%s.png"
set title "%s against parallel downloads"
set logscale x 2
set xlabel "parallel downloads"
set ylabel "%s"
set yrange [0:*]
set xtics (1, 8, 32, 256)
set xrange [0.7:370]
plot %s
unset logscale x
''' % (outdir, fname, ylabel, ylabel, ', '.join(lines)))
    return jobs


def push_job(res, outdir, datadir):
    recs = [s for s in res['series'] if s.get('table') == 'push' and
            s.get('client') == 'mb-fris-loadgen' and (s.get('images') or 1) == 1]

    def name(s):
        if s.get('server') != 'minibossd':
            return s['server']
        r = '' if s.get('rate') in (None, 'unpaced') else '-%s-rate' % s['rate']
        return 'miniboss-%s%s' % (s.get('port_type'), r)
    lines = []
    for g, members in groups(recs, name, push_key):
        pts = [(s['receivers'],) + metric(s, 'goodput_gbps')
               for s in sorted(members, key=push_key) if metric(s, 'goodput_gbps')]
        if len(pts) >= 2:
            dat = os.path.join(datadir, 'push-%s.dat' % g)
            write_dat(dat, pts, '%d %f %f %f\n')
            lines.append('"%s" using 1:2:3:4 with yerrorlines title "%s"' % (dat, g))
    if not lines:
        return None
    return '''
set output "%s/push-receivers.png"
set title "Frisbee push: image goodput until the last receiver finishes"
set logscale x 2
set xlabel "receivers"
set ylabel "Gbit/s"
set yrange [0:*]
set xtics (1, 4, 16, 64)
set xrange [0.7:92]
plot %s
unset logscale x
''' % (outdir, ', '.join(lines))


def scaling_job(res, outdir, datadir):
    recs = [s for s in res['series'] if s.get('table') == 'scaling']
    lines = []
    for g, members in groups(recs, label, lambda s: rank(s, 'server')):
        pts = [(s['image_bytes'] // MiB,) + metric(s, 'goodput_gbps')
               for s in sorted(members, key=lambda s: s.get('image_bytes') or 0)
               if s.get('image_bytes') and metric(s, 'goodput_gbps')]
        if pts:
            dat = os.path.join(datadir, 'scaling-%s.dat' % g)
            write_dat(dat, pts, '%d %f %f %f\n')
            lines.append('"%s" using 1:2 with linespoints title "%s"' % (dat, g))
    if not lines:
        return None
    return '''
set output "%s/scaling.png"
set title "Frisbee push to one receiver: goodput against image size"
set logscale x 2
set xlabel "image MiB"
set ylabel "Gbit/s"
set yrange [0:*]
set xtics (64, 256, 1024, 4096)
set xrange [45:6000]
plot %s
unset logscale x
''' % (outdir, ', '.join(lines))


def has_pngcairo():
    r = subprocess.run(['gnuplot', '-e', 'set terminal'], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return 'pngcairo' in r.stdout


def write(res, outdir, datadir=None):
    """The PNGs into outdir; the data and the script into datadir (default: outdir)."""
    if not shutil.which('gnuplot'):
        log('gnuplot missing: no plots (apt-get install gnuplot-nox)')
        return
    datadir = datadir or outdir
    jobs = ([senders_job(res, outdir, datadir)] + http_jobs(res, outdir, datadir) +
            [push_job(res, outdir, datadir), scaling_job(res, outdir, datadir)])
    jobs = [j for j in jobs if j]
    if not jobs:
        return
    script = os.path.join(datadir, 'plots.gp')
    with open(script, 'w') as f:
        f.write('set terminal pngcairo size 900,520 noenhanced\n' if has_pngcairo() else
                'set terminal png size 900,520 noenhanced\n')
        f.write('set grid\nset key top left\n')
        for j in jobs:
            f.write('reset\nset grid\nset key top left\n' + j)
    r = subprocess.run(['gnuplot', script], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        log('gnuplot failed: ' + r.stderr[-500:])
