# SPDX-License-Identifier: BSD-3-Clause
"""
The report step: from the result records of a run (or of a stored results directory) to the
ratios, results.md, the plots, bench/latest/ and bench/README.md's table. It reads only the
records' fields; it needs no root and starts nothing but gnuplot.
"""

import glob
import os
import tempfile

from ..util import log
from . import markdown, plots, publish, ratios, results


def write(res, outdir, readme=True, store=True):
    """Complete res (ratios), write results.json (store), the plots and results.md into outdir;
    with readme, publish to bench/latest/ and the README. Returns the Markdown."""
    res['ratios'] = ratios.compute(results.by_name(res))
    if store:
        results.save(res, outdir)
    for f in glob.glob(os.path.join(outdir, '*.png')):
        os.unlink(f)
    try:
        if publish.is_latest(outdir):
            with tempfile.TemporaryDirectory(prefix='mbb-plots-') as tmp:
                plots.write(res, outdir, tmp)
        else:
            plots.write(res, outdir)
    except Exception as e:  # a broken plot must not cost the table
        log('plots failed: %r' % e)
    md = markdown.write(res, os.path.join(outdir, 'results.md'))
    if readme:
        publish.readme(md, publish.latest(outdir))
    return md


def replot(d, readme=True):
    """Redo the report of a stored results directory (either results.json format); the
    stored results.json is not rewritten."""
    res = results.load(d)
    if res['meta'].get('converted_from_format'):
        log('%s/results.json is in the first format: read through the converter' % d)
    return write(res, d, readme=readme, store=False)
