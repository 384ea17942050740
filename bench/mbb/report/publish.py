# SPDX-License-Identifier: BSD-3-Clause
"""
Publishing a run: its table, plots and results.json copied to bench/latest/ (the timestamped
results/ directories are not kept in git), and bench/README.md's "latest results" section
rewritten from the table.
"""

import glob
import os
import shutil

from ..util import HERE

BEGIN, END = '<!-- latest-results:begin -->', '<!-- latest-results:end -->'


def is_latest(d):
    return os.path.realpath(d) == os.path.realpath(os.path.join(HERE, 'latest'))


def latest(resdir):
    """Copy the run's table, plots and results to bench/latest/; returns that directory.
    Replotting bench/latest itself leaves it in place."""
    dst = os.path.join(HERE, 'latest')
    if is_latest(resdir):
        return dst
    os.makedirs(dst, exist_ok=True)
    for old in glob.glob(os.path.join(dst, '*')):
        os.unlink(old)
    for f in glob.glob(os.path.join(resdir, '*.png')) + [os.path.join(resdir, 'results.md'),
                                                          os.path.join(resdir, 'results.json')]:
        if os.path.exists(f):
            shutil.copy(f, dst)
    return dst


def readme(md, resdir):
    path = os.path.join(HERE, 'README.md')
    rel = os.path.relpath(resdir, HERE)
    body = md.replace('](', '](%s/' % rel)
    body = '\n'.join('##' + line if line.startswith('## ') else line for line in body.split('\n'))
    body = body.replace('# miniboss benchmark results,', '### Run', 1)
    text = open(path).read() if os.path.exists(path) else ''
    block = '%s\n%s\n\n(copied from the run\'s results directory to `bench/%s/`)\n%s' % (
        BEGIN, body, rel, END)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text += '\n## Latest results\n\n' + block + '\n'
    with open(path, 'w') as f:
        f.write(text)
