#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tmcc-patch/apply-rcfrisbee-patch on the upstream Linux and FreeBSD
# rc.frisbee in shared/peers: the hooks land where they belong, the result
# parses (sh -n, dash -n), only lines are inserted, a second application
# and files missing a place are refused writing nothing; mbload.sh and
# mb-load parse.  (The Linux one is run for real in boss.sh rcfrisbee.)
set -u
SRC=${MB_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PEER=${MB_TMCD_PEER:-$(cd "$SRC/.." && pwd)/shared/peers/emulab-tmcd}
APPLY=$SRC/tmcc-patch/apply-rcfrisbee-patch
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -d "$PEER/clientside/tmcc" ] || { echo "SKIP: no upstream rc.frisbee at $PEER" >&2; exit 77; }
T=$(mktemp -d /tmp/mbrp.XXXXXX)
trap 'rm -rf "$T"' EXIT

for f in "$SRC/tmcc-patch/mbload.sh" "$SRC/tmcc-patch/mb-load"; do
	sh -n "$f" || fail "$f does not parse"
	! command -v dash >/dev/null || dash -n "$f" || fail "$f does not parse with dash"
done

for os in linux freebsd; do
	cp "$PEER/clientside/tmcc/$os/rc.frisbee" "$T/$os"
	"$APPLY" --check "$T/$os" || fail "$os: --check"
	"$APPLY" "$T/$os" || fail "$os: apply"
	sh -n "$T/$os" || fail "$os: patched script does not parse"
	! command -v dash >/dev/null || dash -n "$T/$os" || fail "$os: dash -n"
	python3 - "$PEER/clientside/tmcc/$os/rc.frisbee" "$T/$os" "$os" <<-'PY' || fail "$os: hooks"
		import difflib, sys
		a = open(sys.argv[1]).read().split("\n")
		b = open(sys.argv[2]).read().split("\n")
		ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
		assert all(o[0] in ("equal", "insert") for o in ops), "upstream lines changed"
		t = "\n".join(b)
		assert t.index(". $BINDIR/mbload.sh") > t.index("/etc/emulab/paths.sh")
		calls = lambda f: sum(1 for l in b if l.strip().startswith(f + " "))
		assert calls("mbload_rc_frisbee") == 1 and calls("mbload_rc_loadinfo") == 1
		fr = "$BINDIR/frisbee -S $server" if sys.argv[3] == "linux" else "$BINDIR/frisbee -S $SERVER"
		# the frisbee command sits between our else and fi
		i = next(k for k, l in enumerate(b) if l.strip().startswith(fr))
		assert b[i - 1].strip() == "else" and b[i + 1].strip().startswith("fi"), b[i - 2:i + 2]
		assert sum(1 for o in ops if o[0] == "insert") == 4
	PY
	"$APPLY" "$T/$os" 2>"$T/msg" && fail "$os: patched twice"
	grep -q "already carries" "$T/msg" || fail "$os: message $(cat "$T/msg")"
done

refuse() { # OS SED EXPECTED
	sed "$2" "$PEER/clientside/tmcc/$1/rc.frisbee" >"$T/bad"
	cp "$T/bad" "$T/bad.orig"
	"$APPLY" "$T/bad" 2>"$T/msg" && fail "$1: accepted a file where $2"
	grep -q "$3" "$T/msg" || fail "$1: expected '$3', got $(cat "$T/msg")"
	cmp -s "$T/bad" "$T/bad.orig" || fail "$1: a refused run wrote"
}
refuse linux 's/\$BINDIR\/frisbee -S \$server/$BINDIR\/frisbee.new -S $server/' \
	"place not found: the frisbee command of write_image"
refuse linux 's/^if ! get_loadinfo; then/if ! get_loadinfo2; then/' \
	"place not found: the .if ! get_loadinfo. block"
refuse freebsd 's/^loadone() {/load_one() {/' "neither the Linux"
refuse freebsd 's/^set -- `\$BINDIR\/tmcc loadinfo`/set -- `tmcc loadinfo`/' \
	"place not found: set --"
refuse linux 's/^if \[ -r \/etc\/emulab\/paths.sh \]; then/if [ -r \/etc\/paths.sh ]; then/' \
	"place not found: the paths.sh block"
echo "PASS: rc.frisbee patches (Linux, FreeBSD) insert the mbload hooks by identifier"
