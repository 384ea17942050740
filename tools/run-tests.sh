#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The test command of README.md: install what is missing, build, run every
# suite (unit, dpdk, system), then run the unit and dpdk suites and a set of
# system tests covering every subsystem again in a second build under
# AddressSanitizer and UndefinedBehaviorSanitizer, and print "N passed, N
# failed, N skipped" over all runs, computed from meson's testlog files.
# Exit status is non-zero on any failure.
#
# Usage: tools/run-tests.sh [--package] [--long] [--asan-system] [meson test args...]
#   --package  also build the Debian packages, lint them and install them on
#              a clean Debian 12 (test package-debian, a few minutes more)
#   --long     the long versions of the abuse tests (abuse-*: a minute each
#              with ten times the connections, about 10 minutes more), the
#              soak (2 h instead of 90 s; test timeouts times 30) and the
#              whole system suite under the sanitizers (--asan-system)
#   --asan-system  the whole system suite in the sanitizer stage, not only
#              the set below (about 25 minutes more on two idle cores)
# Env:   BUILD_DIR (default build), ASAN_BUILD_DIR (default build-asan),
#        CI=true adds -Werror,
#        MB_ASAN=0/1: skip/force the sanitizer stage (default: run it on a
#        full run, i.e. without meson test args, with its own suite choice).
#
# The sanitizer build (gcc, -Db_sanitize=address,undefined, every UBSan check
# fatal) instruments our code only: Debian's DPDK is not instrumented, so
# memory from rte_malloc and the mempools is not checked by ASan.  That is
# why the dataplane tests also assert rte_mbuf_check() on every frame they
# read back.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=${BUILD_DIR:-build}
asan_build=${ASAN_BUILD_DIR:-build-asan}

deps=()
asan_system=subset
long=()
while [ $# -gt 0 ]; do
    case "$1" in
    --package)
        export MB_PACKAGE_TEST=1
        deps=(--package)
        ;;
    --long)
        export MB_ABUSE_LONG=1 MB_SOAK_LONG=1
        long=(--timeout-multiplier 30)
        asan_system=all
        ;;
    --asan-system) asan_system=all ;;
    *) break ;;
    esac
    shift
done
bash tools/install-deps.sh "${deps[@]}" || exit 1

werror=false
[ "${CI:-}" = "true" ] && werror=true
# fault_hooks: the dataplane's test-only loss/reordering hooks (read from the
# environment, off unless a test sets MB_FAULT_*), used by the system tests.
opts=(-Ddeveloper_werror=$werror -Dfault_hooks=true)

# setup_build DIR [extra setup options...]: configure (or reconfigure) DIR.
setup_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "${opts[@]}" "$@" >/dev/null || return 1
    else
        meson configure "$dir" "${opts[@]}" "$@" >/dev/null || return 1
    fi
}

setup_build "$build" || exit 1
ninja -C "$build" || exit 1

rm -f "$build/meson-logs/testlog.json"
meson test -C "$build" --print-errorlogs --num-processes 2 "${long[@]}" "$@"
rc=$?

asan=${MB_ASAN:-}
if [ -z "$asan" ]; then
    asan=0
    [ $# -eq 0 ] && asan=1
fi
logs=("$build/meson-logs/testlog.json")
# The system tests of the sanitizer stage on a default run: one or more per
# subsystem, about 4 minutes together on a loaded machine (the whole suite,
# 31 minutes: --asan-system).
# Frisbee with the stock client (multicast, unicast, loss, two workers),
# mb-frisbee; HTTP and FTP over the userspace TCP (one and two workers); sync from nginx (the library and the
# daemon, a swap under a client); the control socket, SIGHUP and SIGTERM
# (foundation), reload; the control TLS listener for boss (boss-health);
# a parent master server as origin; garbage on the control socket; the
# hugepage cache.
asan_system_tests=(fris-mcast-4-raw fris-ucast fris-loss-5pct mb-frisbee-vs-frisbeed
    fris-workers tcp-http tcp-ftp tcp-parallel-workers sync-initial sync-daemon-basic
    sync-daemon-swap foundation startup-reload boss-health origin-fill abuse-ctl cache)

if [ "$asan" = 1 ]; then
    echo "== sanitizer stage: $asan_build (address,undefined)"
    if setup_build "$asan_build" -Db_sanitize=address,undefined \
            -Dc_args=-fno-sanitize-recover=all &&
        ninja -C "$asan_build"; then
        # Test setup "sanitize" (tests/meson.build, tests/san_wrap.sh):
        # every report of any of our programs a test starts (halt_on_error,
        # leaks at exit) goes to a file of its own and fails the test.
        # Its logs are meson-logs/testlog-N-sanitize.json, the reports
        # of a failed test under meson-logs/sanitizer/.
        case $asan_build in
        /*) san_dir=$asan_build/meson-logs/sanitizer ;;
        *) san_dir=$here/$asan_build/meson-logs/sanitizer ;;
        esac
        export MB_SAN_DIR=${MB_SAN_DIR:-$san_dir}
        rm -f "$asan_build"/meson-logs/testlog*.json
        n=0
        if [ $# -gt 0 ]; then
            # the user's choice, forced with MB_ASAN=1
            runs=("$*")
        else
            runs=("--suite unit --suite dpdk")
            if [ "$asan_system" = all ]; then
                runs+=("--suite system")
            else
                runs+=("${asan_system_tests[*]}")
            fi
        fi
        for r in "${runs[@]}"; do
            echo "== sanitizer stage: meson test --setup sanitize $r"
            # shellcheck disable=SC2086
            meson test -C "$asan_build" --setup sanitize --print-errorlogs \
                --num-processes 2 "${long[@]}" --logbase "testlog-$((n += 1))" $r || rc=1
            logs+=("$asan_build/meson-logs/testlog-$n-sanitize.json")
        done
    else
        echo "sanitizer build failed"
        rc=1
        logs+=("$asan_build/meson-logs/testlog.json.missing")
    fi
fi

python3 - "${logs[@]}" <<'PY'
import json, sys
tp = tf = ts = 0
for path in sys.argv[1:]:
    p = f = s = 0
    try:
        with open(path) as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line).get("result", "")
                if r in ("OK", "EXPECTEDFAIL"):
                    p += 1
                elif r == "SKIP":
                    s += 1
                else:
                    f += 1
    except FileNotFoundError:
        f += 1
    print(f"{path.split('/meson-logs/')[0]} ({path.rsplit('/', 1)[-1]}): "
          f"{p} passed, {f} failed, {s} skipped")
    tp, tf, ts = tp + p, tf + f, ts + s
print(f"{tp} passed, {tf} failed, {ts} skipped")
PY
exit $rc
