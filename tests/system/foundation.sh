#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# minibossd end to end without a Frisbee client (owner: foundation): start the
# daemon in a network namespace on net_af_packet over a veth pair, with a
# generated state dir (two images, one of them 3 MiB); check `minibossctl
# health` and `images` (text and --json); feed the control socket garbage
# (bad JSON, binary, a 100 KB line, more clients than allowed, a client that
# asks a lot and never reads) and check it still answers; corrupt an image on
# disk and reload (reported failed, withdrawn, health degraded); SIGHUP
# reload; SIGTERM gives exit 0 within a few seconds.  Everything it creates
# carries the prefix mbf and is removed on exit.
set -u

B=${MB_BUILD:-$(pwd)/build}
D=$B/server/minibossd
C=$B/tools/minibossctl
L=$(cd "$(dirname "$0")/../.." && pwd)/tools/mb-launch
RUN=$$
NS=mbf-srv$RUN
VA=mbfa$RUN
VB=mbfb$RUN
T=
PID=

fail() {
	echo "FAIL: $*" >&2
	[ -n "$T" ] && [ -f "$T/log" ] && { echo "--- minibossd log ---" >&2; tail -n 40 "$T/log" >&2; }
	exit 1
}
skip() { echo "SKIP: $*" >&2; exit 77; }

cleanup() {
	[ -n "$PID" ] && "$L" stop -p "$PID" -S KILL -t 5 2>/dev/null
	ip link del "$VB" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "/var/run/dpdk/mbf-sys$RUN"
	[ -n "$T" ] && [ -z "${MB_KEEP:-}" ] && rm -rf "$T"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null || skip "iproute2 not installed"
command -v python3 >/dev/null || skip "python3 not installed"
[ -x "$D" ] || fail "no $D (build minibossd first)"
[ -x "$C" ] || fail "no $C"

T=$(mktemp -d /tmp/mbf-sys.XXXXXX)
SOCK=$T/run/control.sock
ctl() { "$C" -s "$SOCK" "$@"; }

ip netns add "$NS" || fail "netns add"
ip link add "$VA" type veth peer name "$VB" || fail "veth add"
ip link set "$VA" netns "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link set "$VA" up
ip link set "$VB" up

# State dir: two images and a manifest in the ops format, by mb-manifest.
mkdir -p "$T/state/images/proj"
head -c $((3 * 1024 * 1024 + 7)) /dev/urandom > "$T/state/images/proj/big"
printf 'small image\n' > "$T/state/images/small"
touch -d @1700000000 "$T/state/images/proj/big" "$T/state/images/small"
"$B/tools/mb-manifest" build "$T/state/images" --version-from 3 --generated 1700000001 \
	-o "$T/state/manifest.json" >/dev/null || fail "manifest"

cat > "$T/mb.conf" <<CONF
[server]
state-dir = $T/state
control-socket = $SOCK
max-control-clients = 8
control-timeout = 5s
eal-args = --no-huge -m 512 --no-pci -l 0 --file-prefix=mbf-sys$RUN --vdev=net_af_packet0,iface=$VA --log-level=lib.*:notice
[dpdk]
address = 10.77.0.1/24
exception-tap =
mbufs = 4095
[frisbee]
master-port = 0
[tcp]
enable = no
CONF

"$D" -- -c "$T/mb.conf" -n >/dev/null || fail "-n rejects the config"
echo "[server]" > "$T/bad.conf"; echo "nonsense = 1" >> "$T/bad.conf"
"$D" -- -c "$T/bad.conf" -n 2>/dev/null && fail "-n accepted a bad config"

ctl health >/dev/null 2>&1
[ $? = 2 ] || fail "minibossctl without a daemon should exit 2"
ctl health 2>&1 | grep -q "not running" || fail "no clear message without a daemon"

# EAL arguments from the configuration's eal-args; ready means both
# images are verified.
out=$("$L" start -c "$T/mb.conf" -D "$T" -o "$T/log" -N "$NS" -B "$B" -t 30s)
rc=$?
eval "$out"
PID=${MB_PID:-}
[ $rc = 0 ] || fail "minibossd not ready (mb-launch start: $rc)"
[ -S "$SOCK" ] || fail "no control socket"
# The open-descriptor limit was raised: to server.open-files (65536 by
# default), or as far as the hard limit goes where it cannot be raised.
python3 - "$PID" <<'PY' || fail "open-descriptor limit not raised: $(grep 'open files' /proc/$PID/limits)"
import resource, sys
soft = [l.split()[3] for l in open(f"/proc/{sys.argv[1]}/limits") if l.startswith("Max open files")][0]
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
assert soft == "unlimited" or int(soft) >= want, (soft, want)
PY
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "socket mode is not 0600 (root only)"

ctl health > "$T/health.txt" || { cat "$T/health.txt"; fail "health not ok"; }
grep -Eq "^ +State: ok$" "$T/health.txt" || fail "health text: $(cat "$T/health.txt")"
ctl --json health | python3 -c '
import json, sys
h = json.load(sys.stdin)
assert h["state"] == "ok", h
for k in ("version", "uptime", "pid", "store", "control"):
    assert k in h, k
assert h["store"]["ok"] == 2, h["store"]
' || fail "health --json"
# The same action through DPDK telemetry.
python3 - "/var/run/dpdk/mbf-sys$RUN/dpdk_telemetry.v2" <<'PY' || fail "telemetry /miniboss/health"
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(10)
s.connect(sys.argv[1])
s.recv(16384)
s.send(b"/miniboss/health")
r = json.loads(s.recv(65536))["/miniboss/health"]
assert r["state"] == "ok" and r["store"]["ok"] == 2, r
s.send(b"/miniboss/images")
r = json.loads(s.recv(65536))["/miniboss/images"]
assert "proj_big" in r and "small" in r, r
PY
ctl images > "$T/images.txt" || fail "images"
grep -q "^NAME" "$T/images.txt" || fail "images table header: $(cat "$T/images.txt")"
grep -E -q "^proj/big +3 +3.0 MiB +ok" "$T/images.txt" || fail "images table: $(cat "$T/images.txt")"
ctl --json images | python3 -c '
import json, sys
imgs = {i["name"]: i for i in json.load(sys.stdin)}
assert imgs["small"]["state"] == "ok" and imgs["small"]["version"] == 3, imgs
assert imgs["proj/big"]["mem"] in ("hugepage", "mmap"), imgs
' || fail "images --json"
ctl config >/dev/null || fail "config"
ctl nosuchverb 2>/dev/null; [ $? = 1 ] || fail "unknown verb should exit 1"

# Garbage on the control socket; the daemon must keep answering.
python3 - "$SOCK" <<'PY' || fail "socket abuse"
import json, socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(10)
    return s
def line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return buf
for req in (b"{bad json\n", b"[1,2,3]\n", b"\"health\"\n", b"{\"cmd\":7}\n",
            b"\x00\xff\xfe\x01binary\n", b"{\"cmd\":\"health\",\"args\":[1]}\n"):
    s = conn(); s.sendall(req); r = json.loads(line(s))
    assert r["ok"] is False and r["error"], (req, r)
    s.close()
# A 100 KB line: an error, then the connection closes.
s = conn()
try:
    s.sendall(b"x" * 100000 + b"\n")
except OSError:
    pass
r = line(s)
assert b"too long" in r, r
s.close()
# More clients than max-control-clients (8): the extra ones are told so.
held = [conn() for _ in range(8)]
time.sleep(0.3)
extra = conn()
r = line(extra)
assert b"too many" in r, r
extra.close()
for h in held:
    h.close()
time.sleep(0.3)
# A client that asks for a lot and never reads.
hog = conn()
hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
hog.setblocking(False)
for _ in range(20000):
    try:
        hog.send(b"{\"cmd\":\"config\"}\n")
    except BlockingIOError:
        time.sleep(0.001)
    except OSError:
        break
# Meanwhile a well-behaved client is served.
s = conn(); s.sendall(b"{\"cmd\":\"health\"}\n"); r = json.loads(line(s))
assert r["ok"] is True, r
s.close()
hog.close()
PY
ctl health >/dev/null || fail "health after socket abuse"
kill -0 "$PID" || fail "daemon died"

# Corrupt one image in place (same manifest entry) and reload.
printf 'X' | dd of="$T/state/images/small" bs=1 seek=0 conv=notrunc 2>/dev/null
ctl reload >/dev/null || fail "reload"
for _ in $(seq 1 100); do
	ctl --json images | grep -q '"loading"' || break
	sleep 0.1
done
ctl --json images | python3 -c '
import json, sys
imgs = {i["name"]: i for i in json.load(sys.stdin)}
assert imgs["small"]["state"].startswith("failed:checksum"), imgs["small"]
assert imgs["small"]["published"] is False, imgs["small"]
assert imgs["proj/big"]["state"] == "ok", imgs["proj/big"]
' || fail "corrupt image not reported failed"
ctl health >/dev/null; [ $? = 1 ] || fail "health should be degraded (exit 1)"
ctl --json health | grep -q '"degraded"' || fail "health state not degraded"
grep -q "image 'small' v3 refused: checksum mismatch" "$T/log" || fail "no refusal log line"

# A non-reloadable change is refused with the key's name; SIGHUP reloads.
sed -i "s|^max-control-clients = 8|max-control-clients = 9|" "$T/mb.conf"
kill -HUP "$PID"
sleep 0.5
grep -q "configuration and manifest reloaded" "$T/log" || fail "SIGHUP reload"
sed -i "s|^address = 10.77.0.1/24|address = 10.77.0.2/24|" "$T/mb.conf"
ctl reload 2>"$T/err"; [ $? = 1 ] || fail "non-reloadable change accepted"
grep -q "address" "$T/err" || fail "reload error does not name the key: $(cat "$T/err")"

"$L" stop -D "$T" -t 10
rc=$?
PID=
[ $rc = 124 ] && fail "still running 10 s after SIGTERM"
[ $rc = 0 ] || fail "exit status $rc after SIGTERM"
[ -e "$SOCK" ] && fail "control socket left behind"
echo "PASS: foundation system test"
exit 0
