#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The test command of README.md: install what is missing, build, run every
# suite (unit, dpdk, system), and print "N passed, N failed, N skipped"
# computed from meson's testlog.json.  Exit status is non-zero on any failure.
#
# Usage: tools/run-tests.sh [meson test args...]   (e.g. --suite unit)
# Env:   BUILD_DIR (default build), CI=true adds -Werror.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=${BUILD_DIR:-build}

bash tools/install-deps.sh || exit 1

werror=false
[ "${CI:-}" = "true" ] && werror=true
# fault_hooks: the dataplane's test-only loss/reordering hooks (read from the
# environment, off unless a test sets MB_FAULT_*), used by the system tests.
opts=(-Ddeveloper_werror=$werror -Dfault_hooks=true)
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "${opts[@]}" >/dev/null || exit 1
else
    meson configure "$build" "${opts[@]}" >/dev/null || exit 1
fi
ninja -C "$build" || exit 1

rm -f "$build/meson-logs/testlog.json"
meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
rc=$?

python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
try:
    with open(sys.argv[1]) as fh:
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
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $rc
