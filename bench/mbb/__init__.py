# SPDX-License-Identifier: BSD-3-Clause
"""
mbb: the miniboss benchmark suite behind bench/run.

Three layers, each only calling down:

- the harness: util (constants, logging, commands), procs (processes we start and their CPU),
  env (namespaces, veths, XDP sink and guard, bpffs, hugepages, teardown), measure (measurement
  windows, series records, repetitions, min/median/max);
- the parts under test: daemon (the one place that launches minibossd), peers/ (one module per
  program miniboss is compared with, and minibossd's own control), loadgen (our load tools),
  push (Frisbee push measurements shared by two benchmarks), benchmarks/ (one module per
  benchmark, each returning series records);
- report/: reads the records (results.json, or the first format still found in old result
  directories) and writes the ratios, the Markdown tables, the plots, bench/latest/ and the
  README section.
"""
