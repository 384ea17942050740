# SPDX-License-Identifier: BSD-3-Clause
"""
The programs miniboss is measured against, one module each (testpmd, the stock Frisbee tools,
the kernel UDP senders, udpcast, nginx, vsftpd, curl and the TLS material), and minibossd's own
configuration and control as the benchmarks drive it (minibossd.py; launching the process is
../daemon.py).
"""
