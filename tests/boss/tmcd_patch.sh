#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tmcd-patch/apply-tmcd-patch against the upstream tmcd.c in shared/peers:
#   - the unmodified tmcd.c compiles (gcc -fsyntax-only with a config.h made
#     from config.h.in and the MariaDB headers), so the check is meaningful;
#   - the patched tmcd.c (and tmcd.h bumped to protocol 41) still compiles,
#     with every hook where it belongs;
#   - a second application, and files missing a place or with an ambiguous
#     one, are refused with a message naming the place, writing nothing;
#   - no line of the upstream tmcd.c, rc.frisbee or libsetup.pm is copied
#     into tmcd-patch/ or tmcc-patch/.
# Needs gcc, python3, libmariadb-dev; skips (77) without shared/peers.
set -u
SRC=${MB_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PEER=${MB_TMCD_PEER:-$(cd "$SRC/.." && pwd)/shared/peers/emulab-tmcd}
APPLY=$SRC/tmcd-patch/apply-tmcd-patch

fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$PEER/tmcd/tmcd.c" ] || { echo "SKIP: no upstream tmcd.c at $PEER" >&2; exit 77; }
[ -f /usr/include/mariadb/mysql.h ] || fail "libmariadb-dev not installed"
T=$(mktemp -d /tmp/mbtp.XXXXXX)
trap 'rm -rf "$T"' EXIT

# config.h from config.h.in: every "#undef NAME" becomes a string define,
# or 1 where NAME is used as a value in an #if expression of tmcd.c.
python3 - "$PEER/config.h.in" "$PEER/tmcd/tmcd.c" "$T/config.h" <<'PY'
import re, sys
src, tmcd, out = sys.argv[1:4]
body = open(tmcd).read()
ifexpr = set()
for line in body.splitlines():
    m = re.match(r"\s*#\s*(el)?if\s+(.*)", line)
    if m:
        ifexpr.update(re.findall(r"\b([A-Z_][A-Z0-9_]*)\b", re.sub(r"defined\s*\(?\s*\w+\s*\)?", "", m.group(2))))
with open(out, "w") as f:
    for line in open(src):
        m = re.match(r"#undef\s+(\w+)", line)
        if not m:
            f.write(line)
            continue
        n = m.group(1)
        if n in ifexpr:
            f.write(f"#define {n} 1\n")
        elif n.endswith("_IP") or n in ("IPBASE", "JAILIPBASE"):
            f.write(f'#define {n} "10.0.0.1"\n')
        else:
            f.write(f'#define {n} "x"\n')
PY
mkdir -p "$T/inc"
ln -s /usr/include/mariadb "$T/inc/mysql"

syntax() { # FILE TMCD_H_DIR
	gcc -fsyntax-only -w -Dlinux -I"$T" -I"$T/inc" -I"$2" -I"$PEER/tmcd" -I"$PEER/pxe" \
		-I"$PEER/clientside/lib/libtb" -I"$PEER/clientside/lib/event" \
		-I"$PEER/clientside/lib/tmcd" -I"$SRC/tmcd-patch" -I/usr/include/mariadb "$1"
}

cp "$PEER/tmcd/tmcd.c" "$T/orig.c"
syntax "$T/orig.c" "$PEER/clientside/lib/tmcd" 2>"$T/err" ||
	fail "the unmodified tmcd.c does not compile here: $(head -5 "$T/err")"

mkdir -p "$T/h"
cp "$PEER/clientside/lib/tmcd/tmcd.h" "$T/h/tmcd.h"
cp "$PEER/tmcd/tmcd.c" "$T/tmcd.c"
"$APPLY" --check "$T/tmcd.c" || fail "--check did not find every place"
"$APPLY" --tmcd-h "$T/h/tmcd.h" "$T/tmcd.c" || fail "apply-tmcd-patch failed"
# -I$T/h first so the bumped tmcd.h is the one seen
gcc -fsyntax-only -Wall -Wno-unused -Dlinux -I"$T/h" -I"$T" -I"$T/inc" -I"$PEER/tmcd" \
	-I"$PEER/pxe" -I"$PEER/clientside/lib/libtb" -I"$PEER/clientside/lib/event" \
	-I"$PEER/clientside/lib/tmcd" -I"$SRC/tmcd-patch" -I/usr/include/mariadb "$T/tmcd.c" \
	2>"$T/err2" || fail "the patched tmcd.c does not compile: $(grep -m5 error "$T/err2")"
# Warnings the patch introduced (the unmodified file's are ignored).
grep -n "mb_keys\|mbsel\|imageserverfail" "$T/err2" && fail "the hooks draw warnings"
grep -q '^#define CURRENT_VERSION[[:space:]]*41' "$T/h/tmcd.h" || fail "tmcd.h not at 41"

# Every hook where it belongs, the rest of the file unchanged.
python3 - "$PEER/tmcd/tmcd.c" "$T/tmcd.c" <<'PY' || fail "hooks misplaced"
import difflib, re, sys
a = open(sys.argv[1]).read().split("\n")
b = open(sys.argv[2]).read().split("\n")
added = []
for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
    assert op in ("equal", "insert"), f"upstream lines changed: {op} {a[i1:i2]}"
    if op == "insert":
        added.append((j1, b[j1:j2]))
text = "\n".join(b)
def body(name):
    i = b.index(f"COMMAND_PROTOTYPE({name})")
    j = next(k for k in range(i + 2, len(b)) if b[k] == "}")
    return "\n".join(b[i:j + 1])
lo = body("doloadinfo")
assert "mbsel_tmcd_loadinfo(" in lo and "row[8], row[7], row[19]" in lo, "loadinfo hook"
assert lo.index("strcpy(server_address, server);") < lo.index("mbsel_tmcd_loadinfo(")
assert lo.index('"%s", mb_keys') < lo.index("Tack on the newline") + 200
assert "mbsel_tmcd_imageserverfail(" in body("doimageserverfail")
assert re.search(r'\{ "imageserverfail", FULLCONFIG_NONE, 0, doimageserverfail\}', text)
assert len(added) == 7, f"{len(added)} insertions"
print(f"{sum(len(x) for _, x in added)} lines inserted in {len(added)} places")
PY

# A second application is refused, and writes nothing.
cp "$T/tmcd.c" "$T/again.c"
"$APPLY" "$T/again.c" 2>"$T/msg" && fail "a patched file was patched again"
grep -q "already carries the miniboss hooks" "$T/msg" || fail "message: $(cat "$T/msg")"
cmp -s "$T/tmcd.c" "$T/again.c" || fail "a refused run changed the file"

# A missing place, an ambiguous place, a missing column: refused by name.
refuse() { # SED-EXPR EXPECTED-MESSAGE
	sed "$1" "$PEER/tmcd/tmcd.c" >"$T/bad.c"
	cp "$T/bad.c" "$T/bad.orig"
	"$APPLY" "$T/bad.c" 2>"$T/msg" && fail "accepted a file where: $1"
	grep -q "$2" "$T/msg" || fail "for '$1' expected '$2', got: $(cat "$T/msg")"
	cmp -s "$T/bad.c" "$T/bad.orig" || fail "a refused run changed the file"
}
refuse 's/strcpy(server_address, server);/strncpy(server_address, server, 10);/' \
	"place not found: strcpy(server_address, server); in doloadinfo"
refuse 's/^COMMAND_PROTOTYPE(doloadinfo)$/COMMAND_PROTOTYPE(do_loadinfo)/' \
	"place not found: definition of doloadinfo"
refuse '/{ "loadinfo",/d' 'place not found: "loadinfo" row of command_array'
refuse 's/r.imageid_version "/r.imageid_version AS v "/' \
	"place not found: column r.imageid_version"
refuse 's/^#include "tmcd.h"/#include "tmcd.h"\n#include "tmcd.h"/' \
	'place is ambiguous: #include "tmcd.h"'

# No upstream line in our tree (lines of 24+ characters, blanks squeezed),
# except what any C program using the same API spells the same way: the
# MySQL client calls, main's signature, and the prototypes of tmcd's two
# exported database functions, which libmbsel's glue must match to link.
python3 - "$SRC" "$PEER" <<'PY' || fail "an upstream line was copied"
import os, re, sys
src, peer = sys.argv[1:3]
norm = lambda l: re.sub(r"\s+", " ", l.strip())
up = set()
for rel in ("tmcd/tmcd.c", "clientside/tmcc/linux/rc.frisbee",
            "clientside/tmcc/freebsd/rc.frisbee", "clientside/tmcc/common/libsetup.pm"):
    for l in open(os.path.join(peer, rel), errors="replace"):
        if len(norm(l)) >= 24:
            up.add(norm(l))
generic = [r"^\w+ = mysql_\w+\(\w+\);$", r"^(int )?main\(int argc, char \*\*argv\)$",
           r"^(MYSQL_RES \*|int )?mydb_(query|update)\(char \*query, (int ncols, )?\.\.\.\);?$"]
bad = []
for d in ("tmcd-patch", "tmcc-patch"):
    for root, _, files in os.walk(os.path.join(src, d)):
        for fn in files:
            p = os.path.join(root, fn)
            for n, l in enumerate(open(p, errors="replace"), 1):
                if norm(l) in up and not any(re.match(g, norm(l)) for g in generic):
                    bad.append(f"{p}:{n}: {l.strip()}")
if bad:
    print("\n".join(bad[:20]))
    sys.exit(1)
PY
echo "PASS: tmcd patch applies by identifier, compiles, refuses what it cannot place"
