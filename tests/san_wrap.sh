#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# san_wrap.sh: run one test under the sanitizer build's rules and fail it
# on any AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer
# report of any instrumented process it started.
#
#   san_wrap.sh TEST [ARGS...]
#
# A system test starts many of our programs (minibossd in a namespace,
# minibossctl, mb-manifest, mb-frisbee, sync-probe...), often in the
# background, and a report from one of them may never reach the test's exit
# status: the daemon's leak report is written as it exits in the test's
# cleanup.  So each instrumented process writes its reports to a file of
# its own (log_path=DIR/report, which the runtime suffixes with the PID),
# every report fails (halt_on_error, and every UBSan check is fatal in a
# build with -fno-sanitize-recover=all), leaks are reported at exit
# (detect_leaks), and after the test this wrapper prints every report file
# into the test's log and turns the result into a failure (exit 1) if there
# is one, whatever the test said (a skip included).  Uninstrumented programs
# (nginx, curl, the stock Frisbee tools) ignore the variables.
#
# DIR is a fresh directory under MB_SAN_DIR (default /tmp), mode 1777 so a
# daemon that dropped its user can still write there; it is removed when
# empty and kept (with its path in the log) when it holds a report.
# Leaks inside libraries we do not build are suppressed by name in
# tests/lsan.supp (each with the reason).  The caller's ASAN_OPTIONS,
# UBSAN_OPTIONS and LSAN_OPTIONS come first; what this wrapper appends
# overrides the same keys.  meson's test setup "sanitize"
# (tests/meson.build) uses it: `meson test -C build-asan --setup sanitize`.
set -u

[ $# -ge 1 ] || { echo "usage: san_wrap.sh TEST [ARGS...]" >&2; exit 2; }
base=${MB_SAN_DIR:-/tmp}
mkdir -p "$base" || exit 2
dir=$(mktemp -d "$base/san.XXXXXX") || exit 2
chmod 1777 "$dir"

# Append to the caller's options: later keys win.
asan="halt_on_error=1:detect_leaks=1:log_path=$dir/report"
ubsan="halt_on_error=1:print_stacktrace=1:log_path=$dir/report"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}$ubsan"
supp=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lsan.supp
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$supp:print_suppressions=0"

"$@"
rc=$?

shopt -s nullglob
reports=("$dir"/report*)
if [ ${#reports[@]} -gt 0 ]; then
	echo "san_wrap: ${#reports[@]} sanitizer report(s) (test status $rc), kept in $dir:" >&2
	for f in "${reports[@]}"; do
		echo "---- $f" >&2
		head -c 20000 "$f" >&2
	done
	exit 1
fi
rmdir "$dir" 2>/dev/null
exit $rc
