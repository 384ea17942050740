#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tools/mb-manifest end to end on temporary directories: build (an empty
# directory, which a rollback test and a store without images use, and two
# images in order of name with their SHA-256), sign and verify, and verify
# refusing a changed manifest.  Built under the sanitizers it also holds the
# tool to its memory and UB checks: `build` of an empty directory once
# passed a null array to qsort (UBSan: nonnull argument).
set -u
MANI=${MB_BUILD:-build}/tools/mb-manifest
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$T/empty" "$T/two/sub"
"$MANI" build "$T/empty" --generated 1700000000 -o "$T/empty.json" ||
	fail "build of an empty directory"
python3 - "$T/empty.json" <<'EOP' || fail "empty manifest: $(cat "$T/empty.json")"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["images"] == [] and m["generated"] == 1700000000, m
EOP
printf 'hello' >"$T/two/sub/B"
printf 'world!' >"$T/two/A"
"$MANI" build "$T/two" --version-from 7 -o "$T/two.json" || fail "build of two images"
python3 - "$T/two.json" <<'EOP' || fail "two images: $(cat "$T/two.json")"
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
got = [(i["name"], i["size"], i["sha256"], i["version"]) for i in m["images"]]
want = [("A", 6, hashlib.sha256(b"world!").hexdigest(), 7),
        ("sub/B", 5, hashlib.sha256(b"hello").hexdigest(), 7)]
assert got == want, got
EOP
"$MANI" keygen "$T/ops.key" "$T/ops.pub" >/dev/null || fail "keygen"
"$MANI" sign --key "$T/ops.key" "$T/two.json" >/dev/null || fail "sign"
"$MANI" verify --pubkey "$T/ops.pub" "$T/two.json" >/dev/null || fail "verify"
sed -i 's/"version": 7/"version": 8/' "$T/two.json"
"$MANI" verify --pubkey "$T/ops.pub" "$T/two.json" >/dev/null 2>&1 &&
	fail "verify accepted a changed manifest"
echo "PASS"
