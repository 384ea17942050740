# SPDX-License-Identifier: BSD-3-Clause
#
# Shared shell library for miniboss system tests (source it; bash only).
#
# It builds a small, disposable testbed out of network namespaces: one
# namespace holding a Linux bridge with IGMP snooping and a querier (a
# snooping switch), and one namespace per host (the minibossd server,
# clients) joined to the bridge by a veth pair.  Every name carries a prefix
# and a random run id so parallel runs and other engineers never collide, and
# an EXIT trap removes everything this run created (processes by PID,
# namespaces, temp files) whatever way the test ends.  Loss is emulated with
# nftables in the bridge namespace.  minibossd runs inside the server
# namespace on net_af_packet over that namespace's veth.
#
# It does not decide what a test checks: tests call mb_fail/mb_skip/mb_pass.
#
# Usage:
#   MB_PREFIX=mbm            # namespace/interface prefix of the test's owner
#   . "$(dirname "$0")/lib.sh"
#   mb_init                   # root check, run id, temp dir, trap
#   mb_bridge_up              # bridge namespace
#   mb_host srv 10.77.0.1/24  # namespace "$(mb_ns srv)" with eth0 on the bridge
#   mb_host c1 10.77.0.11/24
#   mb_state_add_image "$MB_TMP/state" proj/img file [version] [mtime]
#   mb_conf_write > "$MB_TMP/mb.conf"   (then append [frisbee] keys etc.)
#   mb_daemon_start srv "$MB_TMP/mb.conf"; mb_daemon_wait_ready
#   mb_in c1 some-command ...
# Environment: MB_BUILD (meson build dir, default ./build), MB_SRC (source
# dir), MB_FRISBEE_BIN (stock tools, default <source>/../shared/peers/emulab-frisbee/bin),
# MB_KEEP=1 keeps the temp dir for debugging.

set -u

MB_PREFIX=${MB_PREFIX:-mbx}
MB_BUILD=${MB_BUILD:-$(pwd)/build}
MB_SRC=${MB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$MB_SRC/tools/netbed.sh"
MB_FRISBEE_BIN=${MB_FRISBEE_BIN:-$(cd "$MB_SRC/.." && pwd)/shared/peers/emulab-frisbee/bin}
MB_PIDS=()
MB_NETNS=()
MB_LAUNCHED=()
MB_DAEMON_PID=
MB_DAEMON_LOG=
MB_DAEMON_NS=

mb_log() { echo "# $(date +%H:%M:%S) $*" >&2; }
# mb_fail MSG: fail the test.  MB_FAIL_HOOK: a command a test sets to print
# its own diagnostics (daemon state) after the message, before the log tail.
mb_fail() { local h=${MB_FAIL_HOOK:-}; MB_FAIL_HOOK=; echo "FAIL: $*" >&2; [ -n "$h" ] && $h >&2
	[ -n "${MB_DAEMON_LOG:-}" ] && [ -f "$MB_DAEMON_LOG" ] &&
	{ echo "--- minibossd log (tail) ---" >&2; tail -n 30 "$MB_DAEMON_LOG" >&2; }; exit 1; }
mb_skip() { echo "SKIP: $*" >&2; exit 77; }
mb_pass() { echo "PASS: ${*:-ok}" >&2; exit 0; }

# mb_require_cmd cmd... : skip if a tool is missing.
mb_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || mb_skip "'$c' not installed"
	done
}

# mb_require_frisbee: the stock Emulab tools, skip only if their dir is absent.
mb_require_frisbee() {
	[ -d "$MB_FRISBEE_BIN" ] || mb_skip "stock Frisbee tools not at '$MB_FRISBEE_BIN'"
	[ -x "$MB_FRISBEE_BIN/frisbee" ] || mb_fail "'$MB_FRISBEE_BIN/frisbee' not executable"
}

# mb_any_alive PID...: true if one of them still runs.
mb_any_alive() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && return 0
	done
	return 1
}

mb_cleanup() {
	local rc=$? p n d
	trap - EXIT INT TERM
	set +e
	for d in "${MB_LAUNCHED[@]}"; do
		"$MB_SRC/tools/mb-launch" stop -D "$d" -t 5 2>/dev/null
	done
	# TERM first: timeout(1) passes it on to the program it runs.
	for p in "${MB_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for _ in $(seq 20); do
		mb_any_alive "${MB_PIDS[@]}" || break
		sleep 0.1
	done
	for p in "${MB_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	for n in "${MB_NETNS[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	# EAL's runtime directory of the daemon this run started (its file prefix).
	[ -n "${MB_RID:-}" ] && rm -rf "/var/run/dpdk/${MB_PREFIX}${MB_RID}"
	if [ "${MB_KEEP:-0}" = 1 ]; then
		echo "# kept $MB_TMP" >&2
	else
		rm -rf "$MB_TMP"
	fi
	exit $rc
}

# mb_init: root check, run id, temp dir, cleanup trap.
mb_init() {
	[ "$(id -u)" = 0 ] || mb_skip "needs root (network namespaces)"
	mb_require_cmd ip nft timeout python3 sha256sum
	MB_RID=$(od -An -N2 -tx2 /dev/urandom | tr -d ' ')
	MB_TMP=$(mktemp -d "/tmp/${MB_PREFIX}-${MB_RID}.XXXXXX")
	trap mb_cleanup EXIT
	trap 'exit 130' INT TERM
	mb_log "run ${MB_PREFIX}${MB_RID}, temp dir $MB_TMP"
}

# mb_ns NAME: the namespace name of a host.
mb_ns() { echo "${MB_PREFIX}${MB_RID}-$1"; }

# mb_in NAME cmd...: run in a host's namespace.
mb_in() { local n=$1; shift; ip netns exec "$(mb_ns "$n")" "$@"; }

# mb_bridge_up: namespace "br" with bridge br0, IGMP snooping and a fast
# querier (tools/netbed.sh).
mb_bridge_up() {
	mb_netbed_bridge "$(mb_ns br)" || mb_fail "cannot create the bridge in $(mb_ns br)"
	MB_NHOST=0
}

# mb_host NAME ADDR/LEN [noaddr]: a namespace with eth0 plugged into br0.
# With "noaddr" the kernel gets no address on eth0 (a DPDK port uses it).
mb_host() {
	local name=$1 addr=$2 mode=${3:-} bport
	MB_NHOST=$((MB_NHOST + 1))
	bport="${MB_PREFIX}${MB_RID}p${MB_NHOST}"
	mb_netbed_host "$(mb_ns br)" "$(mb_ns "$name")" "$bport" \
		"$([ "$mode" = noaddr ] || echo "$addr")" ||
		mb_fail "cannot set up host $name (namespace $(mb_ns "$name"), veth $bport, $addr)"
	eval "MB_PORT_$name=$bport"
	eval "MB_ADDR_$name=${addr%/*}"
}

# mb_port_deaf HOST: HOST's kernel drops what arrives on its eth0, which a
# DPDK port owns: net_af_packet only taps the veth, and the kernel, which
# has the daemon's address on the exception TAP, would answer the
# dataplane's TCP ports with resets.  Netfilter's ingress hook runs after
# the packet socket took its copy.
mb_port_deaf() {
	printf 'table netdev mbdeaf {\n chain in {\n  type filter hook ingress device eth0 priority 0; policy drop;\n }\n}\n' |
		mb_in "$1" nft -f - || mb_fail "nft in $1"
}

# mb_client NAME ADDR/LEN: a host (mb_host) whose eth0 sends full
# checksums: veth leaves partial ones in the frames (offload), which a real
# NIC never delivers and a DPDK port over a veth sees as wrong.
mb_client() {
	mb_host "$1" "$2"
	mb_in "$1" ethtool -K eth0 tx off >/dev/null 2>&1 ||
		mb_fail "cannot turn off tx offload on $1"
}

# mb_bed_clients NET [N]: the usual bed: the bridge, host "srv" at NET.1 with
# no kernel address and a deaf kernel on eth0 (mb_port_deaf: the daemon's
# DPDK port owns it), and clients c1..cN (default 3) at NET.11, NET.12...
# sending full checksums (mb_client).  NET is the first three octets.
mb_bed_clients() {
	local net=$1 n=${2:-3} i
	mb_bridge_up
	mb_host srv "$net.1/24" noaddr
	mb_port_deaf srv
	for i in $(seq "$n"); do
		mb_client "c$i" "$net.$((10 + i))/24"
	done
}

# mb_bridge_port NAME: the bridge-side interface of a host.
mb_bridge_port() { eval "echo \$MB_PORT_$1"; }
# mb_addr NAME: a host's address.
mb_addr() { eval "echo \$MB_ADDR_$1"; }

# mb_nft RULESET: load an nftables ruleset into the bridge namespace.
mb_nft() { printf '%s\n' "$1" | ip netns exec "$(mb_ns br)" nft -f - || mb_fail "nft: $1"; }

# mb_loss PCT [HOST]: drop PCT% of UDP frames forwarded by the bridge (only
# those to HOST, if given).  nftables bridge family, in the bridge namespace.
mb_loss() {
	local pct=$1 host=${2:-} sel=""
	if [ -n "$host" ]; then
		sel="oifname \"$(mb_bridge_port "$host")\""
	fi
	mb_nft "table bridge mbloss {
	chain mbl {
		type filter hook forward priority 0; policy accept;
		ip protocol udp $sel numgen random mod 100 < $pct counter drop
	}
}"
}

# mb_loss_dropped: frames the loss rule dropped so far.
mb_loss_dropped() {
	ip netns exec "$(mb_ns br)" nft list table bridge mbloss 2>/dev/null |
		grep -o 'counter packets [0-9]*' | awk '{s += $3} END {print s + 0}'
}

# mb_loss_clear: remove the loss rules.
mb_loss_clear() { ip netns exec "$(mb_ns br)" nft delete table bridge mbloss 2>/dev/null; true; }

# mb_bg NAME cmd...: run in a namespace in the background; PID in MB_LAST_PID.
mb_bg() {
	local n=$1; shift
	ip netns exec "$(mb_ns "$n")" "$@" &
	MB_LAST_PID=$!
	MB_PIDS+=("$MB_LAST_PID")
}

# mb_make_file PATH MIB [SEED]: MIB MiB of deterministic pseudo-random bytes.
mb_make_file() {
	python3 - "$1" "$2" "${3:-1}" <<-'EOF'
		import hashlib, sys
		path, mib, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
		with open(path, "wb") as f:
		    block = hashlib.sha256(seed).digest() * 32  # 1 KiB
		    for i in range(mib * 1024):
		        # vary every KiB so block mix-ups show
		        f.write(i.to_bytes(8, "little") + block[8:])
	EOF
}

# mb_make_fs_file PATH MIB: a file that compresses (text, zero runs) for imagezip -f.
mb_make_fs_file() {
	python3 - "$1" "$2" <<-'EOF'
		import random, sys
		path, mib = sys.argv[1], int(sys.argv[2])
		r = random.Random(7)
		with open(path, "wb") as f:
		    for i in range(mib * 16):
		        if i % 4 == 3:
		            f.write(bytes(65536))
		        else:
		            f.write(bytes(r.getrandbits(8) & 0x3f | 0x20 for _ in range(65536)))
	EOF
}

# mb_sha FILE: its SHA-256.
mb_sha() { sha256sum "$1" | cut -d' ' -f1; }

# mb_json_get FILE KEY...: one value of a JSON file, as JSON (true, 42, "s").
mb_json_get() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(json.dumps(v))' "$@"
}

# mb_json_eval EXPR: a python expression over the JSON on stdin (as j; a
# {"result":...} reply is unwrapped), printed.
mb_json_eval() {
	python3 -c "import json,sys; j=json.load(sys.stdin)
if isinstance(j, dict) and 'result' in j: j = j['result']
print($1)"
}

# mb_require_fault_hooks: skip unless the running daemon was built with the
# test-only fault hooks (-Dfault_hooks=true).
mb_require_fault_hooks() {
	[ "$(mb_ctl --json health | mb_json_eval "j['build']['fault_hooks']")" = True ] ||
		mb_skip "minibossd built without fault hooks"
}

# mb_state_add_image STATEDIR NAME FILE [VERSION] [MTIME]: put FILE into the
# store layout (<state>/images/<name>, modified at MTIME) and rebuild
# <state>/manifest.json from the files with mb-manifest build, the other
# images keeping their versions.
mb_state_add_image() {
	local st=$1 name=$2 file=$3 ver=${4:-1} mtime=${5:-1700000000} keep=()
	mkdir -p "$st/images/$(dirname "$name")"
	cp "$file" "$st/images/$name"
	touch -d "@$mtime" "$st/images/$name"
	[ -f "$st/manifest.json" ] && keep=(--versions-from "$st/manifest.json")
	"$MB_BUILD/tools/mb-manifest" build "$st/images" "${keep[@]}" --version "$name=$ver" \
		-o "$st/manifest.json" >/dev/null || mb_fail "mb-manifest build '$st/images'"
}

# mb_conf_write ADDR/LEN: a minimal config on stdout, state and socket in
# MB_TMP.  Append more sections (or repeat [frisbee]) after it.
mb_conf_write() {
	cat <<-EOF
		[server]
		state-dir = $MB_TMP/state
		control-socket = $MB_TMP/control.sock
		log-level = debug

		[dpdk]
		address = $1
		exception-tap = ${MB_PREFIX}${MB_RID}t
		mbufs = 8191
		idle-sleep-us = 200
	EOF
}

# mb_vdev: the --vdev argument for the port driver chosen by MB_VDEV
# (af_packet, the default, or af_xdp) over the daemon namespace's eth0.
mb_vdev() {
	case "${MB_VDEV:-af_packet}" in
	af_packet) echo "net_af_packet0,iface=eth0" ;;
	af_xdp) echo "net_af_xdp0,iface=eth0,start_queue=0,queue_count=1" ;;
	*) mb_fail "MB_VDEV='$MB_VDEV': expected af_packet or af_xdp" ;;
	esac
}

# mb_require_af_xdp: skip unless this kernel can bind an AF_XDP socket (the
# PMD needs one per queue).  "ip netns exec" remounts /sys, so the daemon
# mounts its own bpffs for libxdp inside that private mount namespace.
mb_require_af_xdp() {
	python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW, 0).close()' \
		2>/dev/null || mb_skip "kernel without AF_XDP sockets (address family 44)"
	grep -q -w bpf /proc/filesystems || mb_skip "kernel without bpffs (libxdp needs it)"
}

# mb_launch DIR HOST [mb-launch start options...]: start a minibossd in
# HOST's namespace through tools/mb-launch (the one launcher of the tests,
# the demo and the bench), without waiting; DIR is its run directory (pid,
# exit status, by default the log).  Sets MB_PID, MB_LOG, MB_SOCKET; the
# cleanup trap stops it.
mb_launch() {
	local dir=$1 host=$2 out
	shift 2
	mkdir -p "$dir"
	MB_LAUNCHED+=("$dir")
	out=$("$MB_SRC/tools/mb-launch" start -n -D "$dir" -N "$(mb_ns "$host")" -B "$MB_BUILD" \
		"$@") || mb_fail "mb-launch start failed"
	eval "$out"
}

# mb_launch_wait DIR [SECONDS] [ready|ok]: until the daemon of DIR is ready
# (minibossctl wait, through mb-launch); fails the test when it exits first
# or is not ready in time.
mb_launch_wait() {
	local dir=$1 t=${2:-20} st=${3:-ready} out rc
	out=$("$MB_SRC/tools/mb-launch" wait -D "$dir" -t "${t}s" -s "$st")
	rc=$?
	eval "$out"
	case $rc in
	0) return 0 ;;
	3) mb_fail "minibossd exited with status ${MB_EXIT:-?} during startup" ;;
	*) mb_fail "minibossd not ready after ${t}s" ;;
	esac
}

# mb_launch_stop DIR [SIGNAL] [SECONDS]: SIGNAL (TERM), wait for the exit
# (SECONDS, 10), SIGKILL after that; returns the exit status (124 killed).
mb_launch_stop() {
	"$MB_SRC/tools/mb-launch" stop -D "$1" -S "${2:-TERM}" -t "${3:-10}"
}

# mb_daemon_start HOST CONF [EAL extra...]: start minibossd in HOST's
# namespace on net_af_packet (or MB_VDEV=af_xdp: net_af_xdp) over its eth0,
# debug log in MB_DAEMON_LOG, run directory MB_TMP.  MB_DAEMON_WRAPPER: a
# command (split at blanks) the daemon runs under, e.g. valgrind.
mb_daemon_start() {
	local host=$1 conf=$2
	shift 2
	[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
	case "${MB_VDEV:-af_packet}" in
	af_packet) ;;
	af_xdp) mb_require_af_xdp ;;
	*) mb_fail "MB_VDEV='$MB_VDEV': expected af_packet or af_xdp" ;;
	esac
	mkdir -p "$MB_TMP/state"
	MB_DAEMON_NS=$host
	MB_DAEMON_LOG=$MB_TMP/minibossd.log
	mb_launch "$MB_TMP" "$host" -c "$conf" -o "$MB_DAEMON_LOG" -i eth0 -x "${MB_VDEV:-af_packet}" \
		-q "${MB_QPAIRS:-1}" -P "${MB_PREFIX}${MB_RID}" -m 512 -d \
		${MB_DAEMON_WRAPPER:+-W "$MB_DAEMON_WRAPPER"} -- "$@"
	MB_DAEMON_PID=$MB_PID
}

# mb_daemon_wait_ready [SECONDS] [ready|ok]: until minibossd is ready (what
# it reports to systemd): the dataplane runs, the store verified its images.
mb_daemon_wait_ready() { mb_launch_wait "$MB_TMP" "${1:-20}" "${2:-ready}"; }

# mb_daemon_wait_exit [SECONDS]: minibossd must exit before it is ready (a
# refused start); its exit status in MB_EXIT.
mb_daemon_wait_exit() {
	local out rc
	out=$("$MB_SRC/tools/mb-launch" wait -D "$MB_TMP" -t "${1:-10}s" 2>/dev/null)
	rc=$?
	eval "$out"
	MB_DAEMON_PID=
	[ $rc = 3 ] || mb_fail "minibossd did not exit (mb-launch wait: $rc)"
}

# mb_daemon_stop [SIGNAL]: SIGTERM (or SIGNAL), wait up to 10 s; returns the
# exit status (124: it had to be killed).
mb_daemon_stop() {
	local rc
	[ -n "$MB_DAEMON_PID" ] || return 0
	mb_launch_stop "$MB_TMP" "${1:-TERM}"
	rc=$?
	MB_DAEMON_PID=
	return $rc
}

# mb_ctl ARGS...: minibossctl against this run's daemon.
mb_ctl() {
	mb_in "$MB_DAEMON_NS" "$MB_BUILD/tools/minibossctl" -s "$MB_TMP/control.sock" "$@"
}

# mb_wait_tcp HOST ADDR PORT [SECONDS]: wait until HOST can connect.
mb_wait_tcp() {
	local host=$1 a=$2 p=$3 t=${4:-15}
	for _ in $(seq $((t * 5))); do
		mb_in "$host" timeout 1 bash -c "exec 3<>/dev/tcp/$a/$p" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
