#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Install every Debian 12 package that miniboss's build, tests, demo and
# benchmarks use.  Idempotent and quiet when everything is present.  Services
# that packages would start on install (nginx, vsftpd, mariadb, prometheus) are kept from starting:
# the tests start their own instances in namespaces.
#
# --package adds what building and checking the Debian packages needs
# (debhelper, lintian, debootstrap; tools/run-tests.sh --package).
set -euo pipefail

PKGS=(
    # build
    gcc pkg-config meson ninja-build
    libdpdk-dev dpdk-dev liburcu-dev libssl-dev libjansson-dev
    libcurl4-openssl-dev libcmocka-dev libsystemd-dev
    # the dataplane queries and detaches XDP programs (net_af_xdp leftovers)
    libbpf-dev
    # boss side (tmcd-patch): MariaDB client library; tests run a private server
    libmariadb-dev mariadb-server mariadb-client
    # run and test
    iproute2 python3 nftables openssl procps psmisc kmod ethtool
    curl wget lftp nginx vsftpd udpcast tcpdump valgrind
    # sync-fsync-dir watches the store's renames and fsyncs
    strace
    # the systemd unit (systemd-analyze), manual pages (man, mandoc)
    systemd man-db mandoc
    # promtool checks the Prometheus exposition (sync-daemon-metrics); the
    # package's own server is kept from starting like the services above
    prometheus
    # bench
    gnuplot-nox
)

if [ "${1:-}" = --package ]; then
    PKGS+=(dpkg-dev debhelper lintian debootstrap fakeroot git)
fi

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
# Keep package maintainer scripts from starting daemons (no systemd here).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
