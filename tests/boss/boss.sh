#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Boss integration end to end, in network namespaces behind one bridge:
#
#   boss  10.79.0.2   MariaDB (private socket and datadir), mb-tmcd (tmcd's
#                     wire protocol, TCP and UDP 7777), mb-healthd
#   bfs   10.79.0.3   minibossd standing in for boss's Frisbee master server
#   ops   10.79.0.4   nginx: the fallback URL http://10.79.0.4/images/...
#   mb1   10.79.0.11  minibossd (TLS control socket 7443, FTP, HTTP, Frisbee)
#   mb2   10.79.0.12  minibossd (select)
#   n1,n2 10.79.0.21- nodes: the stock tmcc and frisbee, mb-load / rc.frisbee
#
# One case per run (meson lists each):
#   load          healthy mb1: loadinfo names it; Frisbee via the master
#                 server, FTP and HTTP via IMAGEURL; RELOADING/RELOADDONE
#                 recorded; protocol 40 never sees the new keys; stock tmcc
#                 over TCP, UDP and TLS (the ISPEAKSSL tag); imageserverfail
#                 checks, exclusion expiry, a stopped poller; garbage at
#                 tmcd's port
#   down          mb1 dies before the load (poller paused, so boss still
#                 names it): the node reports, gets boss, completes;
#                 failover time printed
#   kill-frisbee  mb1 killed mid-load (Frisbee): report, boss, identical
#   kill-ftp      mb1 killed mid-load (FTP): report, ops URL (resumed),
#                 identical
#   corrupt       mb1 serves bytes that differ from its manifest (the file
#                 under its mmap changed): the FTP download fails the
#                 IMAGESHA256 check, is reported, and ops serves the load
#   tryagain      mb1's only session slot is busy: its master server answers
#                 TRYAGAIN; the loader waits a bounded number of times, then
#                 reports it and loads from boss
#   select        mb1 lacks the image, then has an older version: not
#                 named; mb1 and mb2, mb1 loaded: mb2 named; mb2 drained:
#                 not named, its running load finishes, new GET/HTTP/FTP
#                 refused; undrained: named again
#   health        answers late, malformed, from a certificate another CA
#                 signed, or from nobody: unhealthy; the TLS listener
#                 refuses clients without a good certificate and reloads
#                 its certificate on SIGHUP
#   rcfrisbee     the upstream Linux rc.frisbee run for real with the stock
#                 tmcc and frisbee (IMAGEID with :version): unmodified, it
#                 loads from mb1; patched, it loads from mb1, then with mb1
#                 dead reports it and falls back to boss
# Needs root, MariaDB server, nginx, the stock peers (skip 77 if absent).
set -u
MB_PREFIX=mbb
. "$(dirname "$0")/../system/lib.sh"

CASE=${1:-load}
NET=10.79.0
BOSS=$NET.2
BFS=$NET.3
OPS=$NET.4
MB1=$NET.11
MB2=$NET.12
TMCC_DIR=${MB_TMCC_BIN:-$(cd "$MB_SRC/.." && pwd)/shared/peers/emulab-tmcd/bin}
TMCC=$TMCC_DIR/tmcc
FRIS=$MB_FRISBEE_BIN/frisbee
IMG=emulab-ops/FS
MIB=${MB_TEST_MIB:-16}

mb_require_frisbee
[ -x "$TMCC" ] || mb_skip "stock tmcc not at '$TMCC'"
[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built"
for p in tmcd-patch/mb-tmcd tmcd-patch/mb-healthd; do
	[ -x "$MB_BUILD/$p" ] || mb_skip "$p not built"
done
mb_init
mb_require_cmd mariadbd mariadb-install-db mariadb nginx openssl wget ethtool

DAEMONS=()
boss_cleanup() {
	local rc=$? d
	for d in "${DAEMONS[@]}"; do
		rm -rf "/var/run/dpdk/${MB_PREFIX}${MB_RID}$d"
	done
	[ -f "$MB_TMP/db/pid" ] && kill "$(cat "$MB_TMP/db/pid")" 2>/dev/null
	[ -f "$MB_TMP/ops/nginx.pid" ] && kill "$(cat "$MB_TMP/ops/nginx.pid")" 2>/dev/null
	(exit $rc)
	mb_cleanup
}
trap boss_cleanup EXIT

sql() { mariadb --no-defaults -S "$MB_TMP/db/sock" -u root -N -B tbdb -e "$1"; }

# ---- boss: database, tmcd, poller ------------------------------------------

db_start() {
	mkdir -p "$MB_TMP/db"
	mariadb-install-db --no-defaults --datadir="$MB_TMP/db/data" --user=root \
		--auth-root-authentication-method=normal --skip-test-db >"$MB_TMP/db/install.log" 2>&1 ||
		mb_fail "mariadb-install-db: $(tail -3 "$MB_TMP/db/install.log")"
	mb_bg boss mariadbd --no-defaults --datadir="$MB_TMP/db/data" --socket="$MB_TMP/db/sock" \
		--skip-networking --user=root --pid-file="$MB_TMP/db/pid" \
		--log-error="$MB_TMP/db/err.log" --innodb-buffer-pool-size=16M --skip-log-bin
	for _ in $(seq 100); do
		mariadb --no-defaults -S "$MB_TMP/db/sock" -u root -e 'select 1' >/dev/null 2>&1 && break
		sleep 0.2
	done
	mariadb --no-defaults -S "$MB_TMP/db/sock" -u root -e 'create database tbdb' ||
		mb_fail "MariaDB did not start: $(tail -5 "$MB_TMP/db/err.log")"
	mariadb --no-defaults -S "$MB_TMP/db/sock" -u root tbdb <"$MB_SRC/tmcd-patch/miniboss.sql" ||
		mb_fail "miniboss.sql"
	mariadb --no-defaults -S "$MB_TMP/db/sock" -u root tbdb \
		<"$MB_SRC/tmcd-patch/emulab-subset.sql" || mb_fail "emulab-subset.sql"
}

tmcd_start() {
	mb_bg boss "$MB_BUILD/tmcd-patch/mb-tmcd" --boss-ip "$BFS" --db-socket "$MB_TMP/db/sock" \
		--cert "$MB_TMP/pki/$BOSS.pem" --key "$MB_TMP/pki/$BOSS.key" --ca "$MB_TMP/pki/ca.pem" \
		-v ${PROVENANCE:+--provenance}
	TMCD_PID=$MB_LAST_PID
	mb_wait_tcp n1 "$BOSS" 7777 10 || mb_fail "mb-tmcd not reachable"
}

# healthd_start [extra options]: the poller, every second, 1.5 s timeout.
healthd_start() {
	mb_bg boss "$MB_BUILD/tmcd-patch/mb-healthd" --db-socket "$MB_TMP/db/sock" \
		--ca "$MB_TMP/pki/ca.pem" --cert "$MB_TMP/pki/boss.pem" --key "$MB_TMP/pki/boss.key" \
		--interval 1 --timeout 1.5 "$@"
	HEALTHD_PID=$MB_LAST_PID
}

# wait_sql QUERY EXPECTED [SECONDS]: until the query prints EXPECTED.
wait_sql() {
	local i got
	for i in $(seq $((${3:-20} * 5))); do
		got=$(sql "$1" 2>/dev/null)
		[ "$got" = "$2" ] && return 0
		sleep 0.2
	done
	echo "# wait_sql: '$1' gave '$got', wanted '$2'" >&2
	return 1
}

# ---- certificates ------------------------------------------------------------

pki() {
	local d=$MB_TMP/pki n
	mkdir -p "$d"
	mkca() { # NAME
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=$1" -keyout "$d/$1.key" -out "$d/$1.pem" >/dev/null 2>&1 ||
			mb_fail "openssl CA $1"
	}
	mkcert() { # NAME CA SAN
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
			-keyout "$d/$1.key" -out "$d/$1.csr" >/dev/null 2>&1 &&
		openssl x509 -req -in "$d/$1.csr" -CA "$d/$2.pem" -CAkey "$d/$2.key" \
			-CAcreateserial -days 2 -extfile <(printf 'subjectAltName=%s\n' "$3") \
			-out "$d/$1.pem" >/dev/null 2>&1 || mb_fail "openssl cert $1"
	}
	mkca ca
	mkca rogue
	mkcert boss ca "DNS:boss"
	mkcert rogueboss rogue "DNS:boss"
	for n in mb1 mb2; do
		mkcert "$n" ca "IP:$(eval echo \$"$(echo "$n" | tr a-z A-Z)")"
	done
	mkcert mb1b ca "IP:$MB1"      # a second certificate for the reload check
	mkcert fake ca "IP:127.0.0.1"
	# tmcd's certificate: the stock tmcc wants its CN to resolve to boss
	mkcert "$BOSS" ca "IP:$BOSS"
	mkcert node ca "DNS:n1"
	cat "$d/node.pem" "$d/node.key" >"$d/client.pem"
	mkcert fakerogue rogue "IP:127.0.0.1"
}

# ---- images, ops, minibosses -------------------------------------------------

images() {
	mb_make_fs_file "$MB_TMP/fs.img" "$MIB"
	"$MB_FRISBEE_BIN/imagezip" -f "$MB_TMP/fs.img" "$MB_TMP/fs.ndz" >/dev/null 2>&1 ||
		mb_fail "imagezip"
	"$MB_FRISBEE_BIN/imageunzip" "$MB_TMP/fs.ndz" "$MB_TMP/fs.unz" >/dev/null 2>&1 ||
		mb_fail "imageunzip"
	WANT=$(mb_sha "$MB_TMP/fs.unz")
	NDZSHA=$(mb_sha "$MB_TMP/fs.ndz")
	mb_log "image $IMG: $(stat -c %s "$MB_TMP/fs.ndz") bytes compressed, sha256 $NDZSHA"
}

ops_start() {
	local d=$MB_TMP/ops
	mkdir -p "$d/images/emulab-ops" "$d/tmp"
	cp "$MB_TMP/fs.ndz" "$d/images/$IMG"
	cat >"$d/nginx.conf" <<-EOF
		daemon off;
		user root;
		pid $d/nginx.pid;
		error_log $d/error.log;
		worker_processes 1;
		events { worker_connections 64; }
		http {
		    access_log $d/access.log;
		    client_body_temp_path $d/tmp; proxy_temp_path $d/tmp;
		    fastcgi_temp_path $d/tmp; uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
		    server { listen $OPS:80; location /images/ { root $d; } }
		}
	EOF
	mb_bg ops nginx -c "$d/nginx.conf" -p "$d"
	mb_wait_tcp n1 "$OPS" 80 10 || mb_fail "nginx (ops) not reachable"
}

# mbd_start NAME ADDR [extra config text]: minibossd in namespace NAME
# serving the image (version ${VER:-1}) unless NOIMG=1.
mbd_start() {
	local n=$1 a=$2 extra=${3:-} d=$MB_TMP/$1 tap="${MB_PREFIX}${MB_RID}$1"
	mkdir -p "$d/state"
	[ "${NOIMG:-0}" = 1 ] || mb_state_add_image "$d/state" "$IMG" "$MB_TMP/fs.ndz" "${VER:-1}" \
		1700000000
	if [ "${NOIMG:-0}" = 1 ]; then
		mb_make_file "$MB_TMP/other" 1 9
		mb_state_add_image "$d/state" "emulab-ops/OTHER" "$MB_TMP/other" 1 1700000000
	fi
	cat >"$d/mb.conf" <<-EOF
		[server]
		state-dir = $d/state
		control-socket = $d/control.sock
		log-level = info
		[dpdk]
		address = $a/24
		exception-tap = $tap
		mbufs = 8191
		idle-sleep-us = 200
		[frisbee]
		idle-timeout = 20s
		mcast-base = ${MCAST:-234.5.6.1}
		${FRATE:+rate = $FRATE}
		[tcp]
		http-port = 80
		ftp-port = 21
		idle-timeout = 30s
		[control]
		tls-listen = 0.0.0.0:7443
		tls-cert = $MB_TMP/pki/$n.pem
		tls-key = $MB_TMP/pki/$n.key
		tls-ca = $MB_TMP/pki/ca.pem
		$extra
	EOF
	[ -f "$MB_TMP/pki/$n.pem" ] || cp "$MB_TMP/pki/mb1.pem" "$MB_TMP/pki/$n.pem"
	[ -f "$MB_TMP/pki/$n.key" ] || cp "$MB_TMP/pki/mb1.key" "$MB_TMP/pki/$n.key"
	mb_in "$n" nft delete table netdev mbdeaf 2>/dev/null
	mb_port_deaf "$n"
	mb_launch "$d" "$n" -c "$d/mb.conf" -o "$d/log" -i eth0 -P "${MB_PREFIX}${MB_RID}$n" -m 384 -d
	eval "PID_$n=$MB_PID"
	DAEMONS+=("$n")
	mb_launch_wait "$d" 30
	mb_wait_tcp n1 "$a" 64494 15 || mb_fail "$n master server not reachable"
}

# mbd_stop NAME [SIGNAL]: stop a miniboss (SIGTERM, or SIGNAL) and wait
# until it is gone.
mbd_stop() {
	mb_launch_stop "$MB_TMP/$1" "${2:-TERM}" >/dev/null
	eval "PID_$1="
}

# mbctl NAME ARGS...: minibossctl on a miniboss's Unix socket.
mbctl() {
	local n=$1
	shift
	mb_in "$n" "$MB_BUILD/tools/minibossctl" -s "$MB_TMP/$n/control.sock" "$@"
}

# wait_published NAME IMAGE: until the master server has the image.
wait_published() {
	local i a
	a=$(mb_addr "$1")
	for i in $(seq 75); do
		mb_in n1 timeout 5 "$FRIS" -i "$(mb_addr n1)" -S "$a" -Q "$2" 2>&1 |
			grep -q '^error=0' && return 0
		sleep 0.2
	done
	mb_fail "$1 does not publish $2"
}

# register NAME ADDR [SCHEME]: the miniboss in boss's tables, site "west".
register() {
	sql "insert into minibosses (subboss_id,site,serve_ip,control_host,control_port,url_scheme)
	     values ('$1','west','$2','$2',7443,'${3:-ftp}')"
}

# node NAME ADDR [VERSION]: a node in boss's tables that must load $IMG
# (image version VERSION, default 1) and is served by site west (its
# subbosses row names mb1).
node() {
	mb_client "$1" "$2/24"
	sql "insert into interfaces values ('$1','$2','ctrl');
	     insert into subbosses values ('$1','frisbee','mb1',0);
	     insert into current_reloads values ('$1',0,10,${3:-1},0,0);"
}

setup_common() {
	pki
	images
	mb_bridge_up
	mb_host boss "$BOSS/24"
	mb_host ops "$OPS/24"
	mb_host bfs "$BFS/24" noaddr
	mb_host mb1 "$MB1/24" noaddr
	db_start
	sql "insert into images values (10,'emulab-ops','emulab-ops','FS');
	     insert into image_versions values (10,1,0,'Linux','22','1',$(stat -c %s "$MB_TMP/fs.ndz"),now());
	     insert into image_versions values (10,2,0,'Linux','22','1',$(stat -c %s "$MB_TMP/fs.ndz"),now());
	     insert into miniboss_settings values ('ops_url','http://$OPS/images');
	     insert into miniboss_settings values ('health_max_age','${MAXAGE:-6}');"
	node n1 "$NET.21"
	ops_start
	tmcd_start
	# Frisbee servers on one segment need groups of their own.
	MCAST=234.5.8.1 mbd_start bfs "$BFS"
	wait_published bfs "$IMG"
}

# tmcc_n NODE ARGS...: the stock tmcc on a node, against mb-tmcd, no TLS.
tmcc_n() {
	local n=$1
	shift
	mb_in "$n" timeout 20 "$TMCC" -s "$BOSS" -p 7777 -i -t 10 "$@"
}

# load NODE METHOD OUT [MBLOAD_*=... env]: mb-load on a node, log in OUT.log.
load() {
	local n=$1 m=$2 out=$3
	shift 3
	mb_in "$n" env MBLOAD_TMCC="$TMCC -s $BOSS -p 7777 -i -t 10" MBLOAD_FRISBEE="$FRIS" \
		MBLOAD_IMAGEUNZIP="$MB_FRISBEE_BIN/imageunzip" MBLOAD_DIR="$MB_TMP/$n.dl" \
		MBLOAD_FRISBEE_OPTS="-i $(mb_addr "$n")" TMPDIR="$MB_TMP" "$@" \
		timeout 120 sh "$MB_SRC/tmcc-patch/mb-load" -m "$m" -o "$out" >"$out.log" 2>&1
}

same() { # FILE
	[ -f "$1" ] || mb_fail "'$1' missing"
	[ "$(mb_sha "$1")" = "$WANT" ] || mb_fail "'$1' differs from the image"
}

states_of() { sql "select group_concat(state order by idx) from mb_tmcd_states where node_id='$1'"; }

healthy_wait() { # NAME...
	local n
	for n in "$@"; do
		wait_sql "select healthy from miniboss_health where subboss_id='$n'" 1 20 ||
			mb_fail "$n never healthy: $(sql "select state,reason from miniboss_health where subboss_id='$n'")"
	done
}

loadinfo_has() { # NODE VERSION REGEX
	local li
	li=$(tmcc_n "$1" -v "$2" loadinfo) || mb_fail "tmcc loadinfo on $1"
	echo "$li" | grep -q -E "$3" || mb_fail "$1 v$2 loadinfo lacks /$3/: $li"
}

# ms since the epoch, and the failover time: from T0 (ms) to the
# "fallback started at" line of a load log.
now_ms() { date +%s%3N; }
failover_ms() { # LOG T0_MS
	local t
	t=$(sed -n 's/^mbload: fallback started at \([0-9.]*\).*/\1/p' "$1" | head -n 1)
	[ -n "$t" ] || mb_fail "no fallback in $1: $(tail -5 "$1")"
	python3 -c "import sys; print(int(float(sys.argv[1]) * 1000) - int(sys.argv[2]))" "$t" "$2"
}

# ---- cases ----------------------------------------------------------------------

case_load() {
	setup_common
	mbd_start mb1 "$MB1"
	wait_published mb1 "$IMG"
	register mb1 "$MB1" ftp
	healthd_start
	healthy_wait mb1
	[ "$(sql "select count(*) from miniboss_images where subboss_id='mb1' and name='$IMG' and version=1 and sha256='$NDZSHA'")" = 1 ] ||
		mb_fail "poller did not record mb1's image: $(sql 'select * from miniboss_images')"

	# Protocol 41: SERVER=mb1, IMAGEURL on mb1, IMAGESHA256; TCP and UDP.
	loadinfo_has n1 41 "SERVER=$MB1 .*IMAGEID=emulab-ops,emulab-ops,FS .*IMAGEURL=ftp://$MB1/$IMG IMAGESHA256=$NDZSHA\$"
	li=$(tmcc_n n1 -u -v 41 loadinfo) || mb_fail "tmcc -u"
	echo "$li" | grep -q "SERVER=$MB1 .*IMAGEURL=ftp://$MB1/$IMG" || mb_fail "UDP loadinfo: $li"
	# Protocol 40 and the default: SERVER=mb1 but never the new keys.
	for v in 40 "" 33; do
		li=$(tmcc_n n1 ${v:+-v $v} loadinfo) || mb_fail "tmcc v$v"
		echo "$li" | grep -q "SERVER=$MB1" || mb_fail "v$v loadinfo without SERVER=$MB1: $li"
		echo "$li" | grep -q "IMAGEURL\|IMAGESHA256" && mb_fail "v$v sees the new keys: $li"
		li=$(tmcc_n n1 -u ${v:+-v $v} loadinfo) || mb_fail "tmcc -u v$v"
		echo "$li" | grep -q "IMAGEURL\|IMAGESHA256" && mb_fail "v$v UDP sees the new keys"
	done

	# Frisbee through mb1's master server.
	load n1 frisbee "$MB_TMP/out.fris" || mb_fail "frisbee load: $(tail -20 "$MB_TMP/out.fris.log")"
	same "$MB_TMP/out.fris"
	grep -q "loaded emulab-ops,emulab-ops,FS from $MB1" "$MB_TMP/out.fris.log" ||
		mb_fail "not loaded from mb1: $(tail -5 "$MB_TMP/out.fris.log")"
	[ "$(states_of n1)" = RELOADSETUP,RELOADING,RELOADDONE ] || mb_fail "states: $(states_of n1)"
	# FTP via IMAGEURL.
	load n1 url "$MB_TMP/out.ftp" || mb_fail "ftp load: $(tail -20 "$MB_TMP/out.ftp.log")"
	same "$MB_TMP/out.ftp"
	grep -q "fetching ftp://$MB1/$IMG" "$MB_TMP/out.ftp.log" || mb_fail "not over FTP"
	# HTTP via IMAGEURL.
	sql "update minibosses set url_scheme='http' where subboss_id='mb1'"
	loadinfo_has n1 41 "IMAGEURL=http://$MB1/images/$IMG "
	load n1 url "$MB_TMP/out.http" || mb_fail "http load: $(tail -20 "$MB_TMP/out.http.log")"
	same "$MB_TMP/out.http"
	grep -q "fetching http://$MB1/images/$IMG" "$MB_TMP/out.http.log" || mb_fail "not over HTTP"
	grep -q "fallback" "$MB_TMP"/out.*.log && mb_fail "a healthy load fell back"
	[ "$(sql 'select count(*) from miniboss_failures')" = 0 ] || mb_fail "failures recorded"
	# state over UDP too
	tmcc_n n1 -u state TESTUDP >/dev/null
	wait_sql "select count(*) from mb_tmcd_states where state='TESTUDP'" 1 5 || mb_fail "UDP state"

	# imageserverfail: bad arguments refused; a report sends the node to
	# boss/ops until the exclusion expires.
	for bad in "10.79.0.11" "10.79.0.011 emulab-ops,emulab-ops,FS x" \
		"10.79.0.11 emulab-ops,emulab-ops,FS bad'reason" "10.79.0.11 a b c"; do
		r=$(tmcc_n n1 imageserverfail $bad)
		echo "$r" | grep -q "^STATUS=refused" || mb_fail "imageserverfail $bad: $r"
	done
	[ "$(sql 'select count(*) from miniboss_failures')" = 0 ] || mb_fail "a refused report was recorded"
	r=$(tmcc_n n1 -v 41 imageserverfail "$MB1" emulab-ops,emulab-ops,FS manual-test)
	[ "$r" = STATUS=recorded ] || mb_fail "imageserverfail: $r"
	loadinfo_has n1 41 "SERVER=$BFS .*IMAGEURL=http://$OPS/images/$IMG IMAGESHA256=$NDZSHA\$"
	loadinfo_has n1 40 "SERVER=$BFS "
	sql "update miniboss_exclusions set expires=unix_timestamp()-1"
	loadinfo_has n1 41 "SERVER=$MB1 "
	# The poller stops: its rows age out and boss is named.
	kill -STOP "$HEALTHD_PID"
	sleep 7
	loadinfo_has n1 41 "SERVER=$BFS "
	kill -CONT "$HEALTHD_PID"
	healthy_wait mb1
	sleep 1
	loadinfo_has n1 41 "SERVER=$MB1 "

	# The stock tmcc with TLS (the ISPEAKSSL_TMCDV10 tag): its client
	# certificate and boss's CA where tmcc looks, in a private /etc.
	li=$(mb_in n1 unshare -m sh -c '
		mount --make-rprivate / &&
		mkdir -p '"$MB_TMP/tu $MB_TMP/tw"' &&
		mount -t overlay overlay -o lowerdir=/etc,upperdir='"$MB_TMP/tu"',workdir='"$MB_TMP/tw"' /etc &&
		mkdir -p /etc/emulab && cp '"$MB_TMP/pki/client.pem"' /etc/emulab/client.pem &&
		cp '"$MB_TMP/pki/ca.pem"' /etc/emulab/emulab.pem &&
		exec timeout 20 '"$TMCC"' -s '"$BOSS"' -p 7777 -t 10 -v 41 loadinfo' 2>"$MB_TMP/tls.err") ||
		mb_fail "tmcc over TLS: $(cat "$MB_TMP/tls.err")"
	echo "$li" | grep -q "SERVER=$MB1 .*IMAGEURL=" || mb_fail "TLS loadinfo: $li $(cat "$MB_TMP/tls.err")"

	# Garbage at tmcd's port (TCP and UDP), then it still answers.
	mb_in n1 python3 - "$BOSS" <<-'EOF' || mb_fail "garbage sender"
		import os, socket, sys
		b = sys.argv[1]
		for payload in (os.urandom(70000), b"\0" * 100, b"VERSION=99999999999999 loadinfo",
		                b"loadinfo " + b"x " * 20000, b"ISPEAKSSL_TMCDV10" + os.urandom(300),
		                b"VERSION=41 imageserverfail " + b"A" * 5000, b""):
		    s = socket.create_connection((b, 7777), timeout=10)
		    try:
		        s.sendall(payload)
		        s.shutdown(socket.SHUT_WR)
		        s.recv(100000)
		    except OSError:
		        pass
		    s.close()
		    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		    u.settimeout(2)
		    u.sendto(payload[:60000], (b, 7777))
		    try:
		        u.recv(9000)
		    except OSError:
		        pass
		    u.close()
	EOF
	kill -0 "$TMCD_PID" || mb_fail "mb-tmcd died on garbage"
	loadinfo_has n1 41 "SERVER=$MB1 "
	li=$(tmcc_n n1 -u -v 41 loadinfo) || mb_fail "UDP after garbage"
	echo "$li" | grep -q "SERVER=$MB1" || mb_fail "UDP loadinfo after garbage: $li"
	[ "$(sql "select count(*) from miniboss_failures")" = 1 ] || mb_fail "garbage recorded a failure"
	mb_pass "loads from a healthy miniboss: Frisbee, FTP, HTTP; v40 never sees IMAGEURL"
}

case_down() {
	MAXAGE=60 setup_common
	mbd_start mb1 "$MB1"
	wait_published mb1 "$IMG"
	register mb1 "$MB1" ftp
	healthd_start
	healthy_wait mb1
	# The poller is paused so boss still believes mb1 healthy: the node
	# must find out itself.
	kill -STOP "$HEALTHD_PID"
	mbd_stop mb1 KILL
	loadinfo_has n1 41 "SERVER=$MB1 "
	t0=$(now_ms)
	load n1 frisbee "$MB_TMP/out" || mb_fail "load: $(tail -20 "$MB_TMP/out.log")"
	same "$MB_TMP/out"
	fo=$(failover_ms "$MB_TMP/out.log" "$t0")
	grep -q "loaded emulab-ops,emulab-ops,FS from $BFS" "$MB_TMP/out.log" ||
		mb_fail "not loaded from boss: $(tail -5 "$MB_TMP/out.log")"
	[ "$(sql "select count(*) from miniboss_exclusions where node_id='n1' and subboss_id='mb1' and expires > unix_timestamp()")" = 1 ] ||
		mb_fail "no exclusion recorded"
	why=$(sql "select reason from miniboss_failures where node_id='n1'")
	loadinfo_has n1 41 "SERVER=$BFS .*IMAGEURL=http://$OPS/images/$IMG "
	loadinfo_has n1 40 "SERVER=$BFS "
	[ "$(states_of n1)" = RELOADSETUP,RELOADING,RELOADDONE ] || mb_fail "states: $(states_of n1)"
	echo "FAILOVER down-before-load: ${fo} ms from the load's start to the fallback load (reason $why)" >&2
	kill -CONT "$HEALTHD_PID"
	mb_pass "miniboss down before the load: reported ($why), boss named, completed; failover ${fo} ms"
}

# kill_mid METHOD: start a slow load from mb1, kill mb1 once bytes flow.
kill_mid() {
	local m=$1 i size
	MAXAGE=60 FRATE=16M setup_common
	FRATE=16M mbd_start mb1 "$MB1"
	wait_published mb1 "$IMG"
	register mb1 "$MB1" ftp
	healthd_start
	healthy_wait mb1
	kill -STOP "$HEALTHD_PID"
	load n1 "$m" "$MB_TMP/out" MBLOAD_FETCH_OPTS=--limit-rate=1500k &
	LPID=$!
	# mid-load: the output (Frisbee; blocks written, as frisbee sizes the
	# file at once) or the download (FTP) has 1-4 MB
	for i in $(seq 200); do
		size=$( { stat -c '%b %B' "$MB_TMP/out" "$MB_TMP/n1.dl/FS" 2>/dev/null || true; } |
			python3 -c 'import sys; print(max([0] + [int(a) * int(b) for a, b in (l.split() for l in sys.stdin)]))')
		[ "${size:-0}" -gt 1000000 ] && break
		sleep 0.05
	done
	[ "${size:-0}" -gt 1000000 ] || mb_fail "the load never started: $(tail -5 "$MB_TMP/out.log")"
	t0=$(now_ms)
	mbd_stop mb1 KILL
	mb_log "mb1 killed with $size bytes loaded"
	wait "$LPID" || mb_fail "load after the kill: $(tail -20 "$MB_TMP/out.log")"
	same "$MB_TMP/out"
	fo=$(failover_ms "$MB_TMP/out.log" "$t0")
	why=$(sql "select reason from miniboss_failures where node_id='n1'")
	[ -n "$why" ] || mb_fail "no failure reported"
	echo "FAILOVER killed-mid-load ($m): ${fo} ms from the kill to the fallback load (reason $why)" >&2
}

case_kill_frisbee() {
	kill_mid frisbee
	grep -q "loaded emulab-ops,emulab-ops,FS from $BFS" "$MB_TMP/out.log" ||
		mb_fail "not finished from boss"
	mb_pass "miniboss killed mid-load (Frisbee): boss finished it, identical; failover ${fo} ms"
}

case_kill_ftp() {
	kill_mid url
	grep -q "fetching http://$OPS/images/$IMG" "$MB_TMP/out.log" || mb_fail "not from ops"
	grep -q "GET /images/$IMG" "$MB_TMP/ops/access.log" || mb_fail "ops served nothing"
	# resumed: ops sent less than the whole file (a 206 for the rest)
	grep -q '" 206 ' "$MB_TMP/ops/access.log" || mb_fail "ops did not resume: $(cat "$MB_TMP/ops/access.log")"
	mb_pass "miniboss killed mid-load (FTP): ops URL resumed it, identical; failover ${fo} ms"
}

case_corrupt() {
	setup_common
	# a tiny hugepage budget: the image is served from an mmap of its file
	mbd_start mb1 "$MB1" "[images]
hugepage-budget = 1M"
	wait_published mb1 "$IMG"
	register mb1 "$MB1" ftp
	healthd_start
	healthy_wait mb1
	printf 'XXXXXXXX' | dd of="$MB_TMP/mb1/state/images/$IMG" bs=1 seek=5000000 conv=notrunc \
		2>/dev/null
	load n1 url "$MB_TMP/out" || mb_fail "load: $(tail -20 "$MB_TMP/out.log")"
	same "$MB_TMP/out"
	grep -q "fetching ftp://$MB1/$IMG" "$MB_TMP/out.log" || mb_fail "not tried on mb1 first"
	[ "$(sql "select reason from miniboss_failures where node_id='n1'")" = checksum-mismatch ] ||
		mb_fail "reason: $(sql 'select * from miniboss_failures')"
	grep -q "fetching http://$OPS/images/$IMG" "$MB_TMP/out.log" || mb_fail "not from ops"
	mb_pass "a download that fails IMAGESHA256 is reported and loaded from ops"
}

case_tryagain() {
	MAXAGE=60 setup_common
	node n2 "$NET.22"
	mb_make_file "$MB_TMP/other" 16 5
	FRATE=8M mbd_start mb1 "$MB1" "[frisbee]
max-sessions = 1"
	mb_state_add_image "$MB_TMP/mb1/state" emulab-ops/OTHER "$MB_TMP/other" 1 1700000000
	mbctl mb1 reload >/dev/null || mb_fail "reload"
	wait_published mb1 emulab-ops/OTHER
	wait_published mb1 "$IMG"
	register mb1 "$MB1" ftp
	healthd_start
	healthy_wait mb1
	kill -STOP "$HEALTHD_PID" # boss keeps naming mb1
	# n2 holds mb1's only session (16 MiB at 8 Mbit/s)
	mb_bg n2 timeout 60 "$FRIS" -i "$NET.22" -S "$MB1" -T 10 -N -F emulab-ops/OTHER "$MB_TMP/other.out"
	sleep 1
	load n1 frisbee "$MB_TMP/out" MBLOAD_TRYAGAIN_MAX=2 MBLOAD_TRYAGAIN_WAIT=1 ||
		mb_fail "load: $(tail -20 "$MB_TMP/out.log")"
	same "$MB_TMP/out"
	grep -q "TRYAGAIN 2/2" "$MB_TMP/out.log" || mb_fail "no bounded TRYAGAIN: $(grep mbload "$MB_TMP/out.log")"
	grep -q "TRYAGAIN 3/" "$MB_TMP/out.log" && mb_fail "more TRYAGAINs than allowed"
	[ "$(sql "select reason from miniboss_failures where node_id='n1'")" = tryagain-exhausted ] ||
		mb_fail "reason: $(sql 'select * from miniboss_failures')"
	grep -q "loaded emulab-ops,emulab-ops,FS from $BFS" "$MB_TMP/out.log" || mb_fail "not from boss"
	kill -CONT "$HEALTHD_PID"
	mb_pass "TRYAGAIN answered a bounded number of times, then reported; boss finished the load"
}

case_select() {
	setup_common
	node n2 "$NET.22"
	mb_host mb2 "$MB2/24" noaddr
	# mb1 lacks the image: not named, boss and ops instead.
	NOIMG=1 mbd_start mb1 "$MB1"
	register mb1 "$MB1" ftp
	healthd_start
	healthy_wait mb1
	loadinfo_has n1 41 "SERVER=$BFS .*IMAGEURL=http://$OPS/images/$IMG"
	# mb1 has version 1, the node needs 2: not named.
	mbd_stop mb1 TERM
	rm -rf "$MB_TMP/mb1"
	FRATE=8M mbd_start mb1 "$MB1"
	wait_published mb1 "$IMG"
	healthy_wait mb1
	wait_sql "select count(*) from miniboss_images where subboss_id='mb1' and name='$IMG'" 1 ||
		mb_fail "mb1's image not recorded"
	sql "update current_reloads set imageid_version=2 where node_id='n1'"
	loadinfo_has n1 41 "SERVER=$BFS "
	sql "update current_reloads set imageid_version=1 where node_id='n1'"
	loadinfo_has n1 41 "SERVER=$MB1 "

	# Two minibosses for the same site; mb1 busy with a slow load for n2.
	MCAST=234.5.7.1 FRATE=8M mbd_start mb2 "$MB2"
	wait_published mb2 "$IMG"
	register mb2 "$MB2" ftp
	healthy_wait mb2
	mb_bg n2 timeout 60 "$FRIS" -i "$NET.22" -S "$MB1" -T 10 -F "$IMG" "$MB_TMP/busy.out"
	BUSY=$MB_LAST_PID
	wait_sql "select load_figure > (select load_figure from miniboss_health where subboss_id='mb2') from miniboss_health where subboss_id='mb1'" 1 20 ||
		mb_fail "mb1 never more loaded than mb2: $(sql 'select subboss_id,load_figure,sessions,tx_bps from miniboss_health')"
	loadinfo_has n1 41 "SERVER=$MB2 .*IMAGEURL=ftp://$MB2/$IMG"
	wait "$BUSY" || mb_fail "n2's load from mb1"

	# Drain mb2 while n2 loads from it (Frisbee at 8 Mbit/s, FTP at 1 MB/s):
	# never named again, both loads finish, new sessions and connections
	# are refused.
	mb_bg n2 timeout 60 "$FRIS" -i "$NET.22" -S "$MB2" -T 10 -F "$IMG" "$MB_TMP/n2.fris"
	RUN1=$MB_LAST_PID
	mb_bg n2 curl -sSf --max-time 60 --limit-rate 1M -o "$MB_TMP/n2.ftp" "ftp://$MB2/$IMG"
	RUN2=$MB_LAST_PID
	for _ in $(seq 100); do
		[ "$(stat -c %s "$MB_TMP/n2.ftp" 2>/dev/null || echo 0)" -gt 100000 ] && break
		sleep 0.1
	done
	kill -0 "$RUN1" 2>/dev/null || mb_fail "n2's Frisbee load from mb2 ended early"
	mbctl mb2 drain >/dev/null || mb_fail "drain"
	wait_sql "select state from miniboss_health where subboss_id='mb2'" draining 10 ||
		mb_fail "poller did not see the drain"
	loadinfo_has n1 41 "SERVER=$MB1 "
	# a GET that needs a new session: FAILED; FTP login: 421; HTTP: refused
	mb_in n1 timeout 10 "$FRIS" -i "$NET.21" -S "$MB2" -T 5 -F emulab-ops/NOPE /dev/null \
		>"$MB_TMP/get.out" 2>&1 && mb_fail "GET accepted while draining"
	mb_in n1 timeout 10 "$FRIS" -i "$NET.21" -S "$MB2" -X ucast -T 5 -F "$IMG" "$MB_TMP/x" \
		>"$MB_TMP/get2.out" 2>&1 && mb_fail "a new unicast session while draining"
	grep -q "server returned error" "$MB_TMP/get2.out" || mb_fail "GET: $(cat "$MB_TMP/get2.out")"
	mb_in n1 curl -s --max-time 5 "ftp://$MB2/$IMG" -o /dev/null &&
		mb_fail "FTP login accepted while draining"
	mb_in n1 curl -s --max-time 5 "http://$MB2/images/$IMG" -o /dev/null &&
		mb_fail "HTTP accepted while draining"
	mbctl mb2 --json health >"$MB_TMP/h.json"
	python3 - "$MB_TMP/h.json" <<-'EOF' || mb_fail "health while draining: $(head -c 600 "$MB_TMP/h.json")"
		import json, sys
		h = json.load(open(sys.argv[1]))
		assert h["state"] == "draining" and h["boss"]["draining"] is True
		assert any("draining" in r["why"] for r in h["reasons"]), h["reasons"]
		assert h["boss"]["connections"]["ftp"]["refused-draining"] >= 1
		assert h["master"]["counters"]["refused_draining"] >= 1
		# the running Frisbee session is still listed
		assert any(s["state"] == "active" for s in h["boss"]["sessions"]), h["boss"]["sessions"]
	EOF
	wait "$RUN1" || mb_fail "n2's running Frisbee load did not finish"
	same "$MB_TMP/n2.fris"
	wait "$RUN2" || mb_fail "n2's running FTP download did not finish"
	[ "$(mb_sha "$MB_TMP/n2.ftp")" = "$NDZSHA" ] || mb_fail "n2's FTP download differs"
	mbctl mb2 undrain >/dev/null || mb_fail "undrain"
	healthy_wait mb2
	# exclude_scope=miniboss: a report about mb1 leaves mb2 for the node.
	sql "insert into miniboss_settings values ('exclude_scope','miniboss')"
	r=$(tmcc_n n1 imageserverfail "$MB1" emulab-ops,emulab-ops,FS scope-test)
	[ "$r" = STATUS=recorded ] || mb_fail "imageserverfail: $r"
	loadinfo_has n1 41 "SERVER=$MB2 "
	mb_pass "lacking/older image not named; the less loaded miniboss named; drained: not named, running load finished"
}

# A fake miniboss on boss's loopback: python TLS server answering MODE.
fake() { # PORT CERT MODE
	[ -f "$MB_TMP/fake.py" ] || fake_script >"$MB_TMP/fake.py"
	mb_bg boss python3 "$MB_TMP/fake.py" "$1" "$MB_TMP/pki/$2.pem" "$MB_TMP/pki/$2.key" \
		"$MB_TMP/pki/ca.pem" "$3"
}

fake_script() {
	cat <<-'EOF'
		import json, socket, ssl, sys, time
		port, cert, key, ca, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		ctx.load_cert_chain(cert, key)
		ctx.load_verify_locations(ca)
		ctx.verify_mode = ssl.CERT_REQUIRED
		ok = {"ok": True, "result": {"state": "ok", "version": "0.1.0", "reasons": [],
		      "boss": {"draining": False, "load": 0.0, "tx": {"rate-bps": 0, "cap-bps": 1},
		               "sessions": [], "connections": {"tcp": 0},
		               "images": [{"name": "emulab-ops/FS", "version": 1, "size": 1,
		                           "sha256": "0" * 64, "mtime": 1, "warm": True}]}}}
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		s.bind(("127.0.0.1", int(port)))
		s.listen(8)
		while True:
		    c, _ = s.accept()
		    try:
		        t = ctx.wrap_socket(c, server_side=True)
		        t.recv(4096)
		        if mode == "late":
		            time.sleep(3)
		            t.sendall((json.dumps(ok) + "\n").encode())
		        elif mode == "malformed":
		            t.sendall(b'{"ok":true,"result":{"state":"ok","boss":{"images":7}}}\n')
		        else:
		            t.sendall((json.dumps(ok) + "\n").encode())
		        t.close()
		    except Exception:
		        c.close()
	EOF
}

case_health() {
	pki
	images
	mb_bridge_up
	mb_host boss "$BOSS/24"
	mb_host mb1 "$MB1/24" noaddr
	mb_host n1 "$NET.21/24"
	db_start
	fake 7501 fake good
	fake 7502 fake late
	fake 7503 fake malformed
	fake 7504 fakerogue good
	mbd_start mb1 "$MB1" "[server]
max-control-clients = 4
control-timeout = 3s"
	wait_published mb1 "$IMG"
	register mb1 "$MB1"
	for p in 1 2 3 4 5; do
		sql "insert into minibosses (subboss_id,site,serve_ip,control_host,control_port)
		     values ('f$p','west','10.79.1.$p','127.0.0.1',750$p)"
	done
	sleep 0.5
	mb_in boss "$MB_BUILD/tmcd-patch/mb-healthd" --db-socket "$MB_TMP/db/sock" \
		--ca "$MB_TMP/pki/ca.pem" --cert "$MB_TMP/pki/boss.pem" --key "$MB_TMP/pki/boss.key" \
		--timeout 1.5 --once 2>"$MB_TMP/healthd.log" && mb_fail "--once said all healthy"
	got=$(sql "select concat(subboss_id,':',healthy,':',state) from miniboss_health order by subboss_id" | tr '\n' ' ')
	[ "$got" = "f1:1:ok f2:0:timeout f3:0:malformed f4:0:tls f5:0:unreachable mb1:1:ok " ] ||
		mb_fail "health states: $got; $(cat "$MB_TMP/healthd.log")"
	grep -q "f4: tls: .*certificate" "$MB_TMP/healthd.log" || mb_fail "f4 reason: $(cat "$MB_TMP/healthd.log")"
	[ "$(sql "select count(*) from miniboss_images where subboss_id in ('f2','f3','f4','f5')")" = 0 ] ||
		mb_fail "images recorded for unhealthy minibosses"

	# The real listener: no client certificate, or one the CA did not sign,
	# fails the handshake; boss's certificate works.
	tls() { # CERT: one health request over TLS from n1's namespace
		mb_in n1 timeout 10 python3 - "$MB1" "$MB_TMP/pki/ca.pem" "$@" <<-'EOF'
			import socket, ssl, sys
			ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
			ctx.load_verify_locations(sys.argv[2])
			if len(sys.argv) > 3:
			    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
			s = ctx.wrap_socket(socket.create_connection((sys.argv[1], 7443), timeout=5),
			                    server_hostname=sys.argv[1])
			s.sendall(b'{"cmd":"health"}\n')
			data = b""
			while not data.endswith(b"\n"):
			    d = s.recv(65536)
			    if not d:
			        break
			    data += d
			print(s.getpeercert()["subject"], data[:60])
			sys.exit(0 if b'"ok":true' in data else 1)
		EOF
	}
	tls "$MB_TMP/pki/boss.pem" "$MB_TMP/pki/boss.key" >"$MB_TMP/t1" 2>&1 || mb_fail "boss cert refused: $(cat "$MB_TMP/t1")"
	tls >"$MB_TMP/t2" 2>&1 && mb_fail "a client without a certificate was answered"
	tls "$MB_TMP/pki/rogueboss.pem" "$MB_TMP/pki/rogueboss.key" >"$MB_TMP/t3" 2>&1 &&
		mb_fail "a client certificate of another CA was answered"
	# Plain bytes, a half handshake and a silent client: closed, the daemon
	# goes on (the silent one by the handshake deadline).
	mb_in n1 python3 - "$MB1" <<-'EOF' || mb_fail "garbage sender"
		import os, socket, sys
		for payload in (os.urandom(100000), b"{\"cmd\":\"health\"}\n", b"\x16\x03\x01\x02\x00" + os.urandom(50)):
		    s = socket.create_connection((sys.argv[1], 7443), timeout=5)
		    try:
		        s.sendall(payload)
		        s.recv(1000)
		    except OSError:
		        pass
		    s.close()
	EOF
	kill -0 "$PID_mb1" || mb_fail "minibossd died on TLS garbage"
	# The bounds: 4 clients (the 5th is closed at once), 64 KiB lines, a
	# 3 s handshake deadline and idle timeout (control-timeout = 3s).
	mb_in n1 timeout 60 python3 - "$MB1" "$MB_TMP/pki" <<-'EOF' || mb_fail "TLS bounds"
		import socket, ssl, sys, time
		a, pki = sys.argv[1], sys.argv[2]
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
		ctx.load_verify_locations(pki + "/ca.pem")
		ctx.load_cert_chain(pki + "/boss.pem", pki + "/boss.key")
		def tls():
		    return ctx.wrap_socket(socket.create_connection((a, 7443), timeout=10),
		                           server_hostname=a)
		def closed_within(s, secs):
		    t0 = time.time()
		    s.settimeout(secs)
		    try:
		        while s.recv(65536):
		            pass
		    except (ConnectionResetError, ssl.SSLError):
		        pass
		    return time.time() - t0
		held = [tls() for _ in range(4)]
		extra = socket.create_connection((a, 7443), timeout=5)
		assert closed_within(extra, 5) < 2, "a 5th client was kept"
		for s in held:
		    s.close()
		time.sleep(0.5)
		s = tls()
		s.sendall(b"x" * 70000)
		data = b""
		s.settimeout(10)
		while True:
		    d = s.recv(65536)
		    if not d:
		        break
		    data += d
		assert b"request line too long" in data, data[:200]
		s = socket.create_connection((a, 7443), timeout=10)
		t = closed_within(s, 10)
		assert 2 < t < 8, f"handshake deadline after {t:.1f} s"
		s = tls()
		t = closed_within(s, 10)
		assert 2 < t < 8, f"idle timeout after {t:.1f} s"
	EOF
	# The certificate is reloaded on SIGHUP.
	grep -q "commonName', 'mb1')" "$MB_TMP/t1" || mb_fail "subject: $(cat "$MB_TMP/t1")"
	cp "$MB_TMP/pki/mb1b.pem" "$MB_TMP/pki/mb1.pem"
	cp "$MB_TMP/pki/mb1b.key" "$MB_TMP/pki/mb1.key"
	kill -HUP "$PID_mb1"
	sleep 1
	tls "$MB_TMP/pki/boss.pem" "$MB_TMP/pki/boss.key" >"$MB_TMP/t4" 2>&1 || mb_fail "after reload: $(cat "$MB_TMP/t4")"
	grep -q "commonName', 'mb1b')" "$MB_TMP/t4" || mb_fail "certificate not reloaded: $(cat "$MB_TMP/t4")"
	mbctl mb1 --json health >"$MB_TMP/h.json" || true
	python3 - "$MB_TMP/h.json" <<-'EOF' || mb_fail "health JSON: $(head -c 400 "$MB_TMP/h.json")"
		import json, sys
		h = json.load(open(sys.argv[1]))
		b = h["boss"]
		assert h["state"] == "ok" and h["reasons"] == [], h["reasons"]
		assert b["link"]["up"] is True and b["draining"] is False
		assert 0 <= b["load"] <= 1 and b["tx"]["cap-bps"] > 0
		img = b["images"][0]
		assert img["name"] == "emulab-ops/FS" and len(img["sha256"]) == 64 and "warm" in img
		t = h["control-tls"]
		assert t["handshake-failed"] >= 4 and t["reloads"] >= 1 and t["clients"] == 0, t
		assert t["rejected"] >= 1 and t["handshake-timeout"] >= 1, t
	EOF
	mb_pass "late, malformed, wrongly signed, unreachable answers are unhealthy; listener checks and reloads certificates"
}

case_rcfrisbee() {
	# IMAGEID=...:version, as tmcd built with IMAGEPROVENANCE sends it: the
	# stock loader asks the master servers for pid/name:version.
	PROVENANCE=1 setup_common
	mbd_start mb1 "$MB1"
	wait_published mb1 "$IMG"
	register mb1 "$MB1" ftp
	healthd_start
	healthy_wait mb1
	local r=$MB_TMP/rc b
	b=$r/bin
	mkdir -p "$b" "$r/boot" "$r/etc" "$r/up" "$r/work" "$r/stub" "$r/tmp"
	cp "$TMCC_DIR/../clientside/tmcc/linux/rc.frisbee" "$r/rc.frisbee" || mb_fail "no rc.frisbee"
	cp "$r/rc.frisbee" "$r/rc.frisbee.upstream"
	cp "$MB_SRC/tmcc-patch/mbload.sh" "$b/"
	printf '#!/bin/sh\nexec %s -s %s -p 7777 -i -t 10 "$@"\n' "$TMCC" "$BOSS" >"$b/tmcc"
	ln -s "$FRIS" "$b/frisbee"
	ln -s "$MB_FRISBEE_BIN/imageunzip" "$b/imageunzip"
	# The node's "disk" is a file: DISK=mbdisk maps to it through the stub
	# freebsd_to_linux_disk; zapdisk, slicefix, growdisk, sysctl and free
	# are harmless stubs so nothing outside the test is touched.
	printf '#!/bin/sh\necho ../%s\n' "${r#/}/disk" >"$b/freebsd_to_linux_disk"
	for s in zapdisk slicefix; do printf '#!/bin/sh\necho stub %s "$@"\n' "$s" >"$b/$s"; done
	printf '#!/bin/sh\necho stub growdisk "$@"\n' >"$r/stub/growdisk"
	printf '#!/bin/sh\n[ "$1" = -n ] && echo 4194304\nexit 0\n' >"$r/stub/sysctl"
	printf '#!/bin/sh\necho "              total        used        free"\necho "  Mem:         1000000      100000      300000"\n' >"$r/stub/free"
	chmod +x "$b"/* "$r/stub"/*
	echo "$NET.21" >"$r/boot/myip"
	sql "insert into node_attributes values ('n1','disktype','mbdisk')"
	run_rc() { # LOG [SCRIPT]
		mb_in n1 unshare -m sh -c '
			mount --make-rprivate / &&
			mount -t overlay overlay -o lowerdir=/etc,upperdir='"$r/up"',workdir='"$r/work"' /etc &&
			mkdir -p /etc/emulab &&
			printf "BINDIR=%s\nBOOTDIR=%s\nETCDIR=%s\n" '"$b $r/boot $r/etc"' >/etc/emulab/paths.sh &&
			printf "MBLOAD_STALL_TIMEOUT=4\nMBLOAD_DIR=%s\nTMPDIR=%s\n" '"$r/dl $r/tmp"' >/etc/emulab/mbload.conf &&
			PATH='"$r/stub"':$PATH exec timeout 120 sh '"${2:-$r/rc.frisbee}"' -noreboot' >"$1" 2>&1
	}
	# The unmodified loader already loads from the miniboss (SERVER=).
	run_rc "$r/run0.log" "$r/rc.frisbee.upstream" || mb_fail "upstream rc.frisbee: $(tail -20 "$r/run0.log")"
	[ "$(mb_sha "$r/disk")" = "$WANT" ] || mb_fail "disk differs after the upstream rc.frisbee"
	grep -q "frisbee -S $MB1 -B 30 -F emulab-ops/FS:1 " "$r/run0.log" || mb_fail "upstream not from mb1"
	rm -f "$r/disk"
	sql "delete from mb_tmcd_states"
	"$MB_SRC/tmcc-patch/apply-rcfrisbee-patch" "$r/rc.frisbee" >/dev/null || mb_fail "patch"
	run_rc "$r/run1.log" || mb_fail "rc.frisbee: $(tail -20 "$r/run1.log")"
	[ -f "$r/disk" ] || mb_fail "nothing written: $(tail -20 "$r/run1.log")"
	[ "$(mb_sha "$r/disk")" = "$WANT" ] || mb_fail "disk differs after rc.frisbee"
	grep -q "frisbee -S $MB1 -F emulab-ops/FS:1 " "$r/run1.log" || mb_fail "not from mb1: $(grep mbload "$r/run1.log")"
	[ "$(states_of n1)" = RELOADSETUP,RELOADING,RELOADDONE ] || mb_fail "states: $(states_of n1)"
	# mb1 dies; the poller is paused so boss still names it.
	rm -f "$r/disk"
	kill -STOP "$HEALTHD_PID"
	sql "update miniboss_settings set value='60' where name='health_max_age'"
	mbd_stop mb1 KILL
	run_rc "$r/run2.log" || mb_fail "rc.frisbee with mb1 dead: $(tail -20 "$r/run2.log")"
	[ "$(mb_sha "$r/disk")" = "$WANT" ] || mb_fail "disk differs after the fallback"
	grep -q "loaded emulab-ops,emulab-ops,FS:1 from $BFS" "$r/run2.log" || mb_fail "no fallback: $(grep mbload "$r/run2.log")"
	[ "$(sql "select count(*) from miniboss_failures where node_id='n1'")" = 1 ] || mb_fail "no report"
	kill -CONT "$HEALTHD_PID"
	mb_pass "Linux rc.frisbee: unmodified and patched load from the miniboss; patched falls back to boss when it is dead"
}

case "$CASE" in
load) case_load ;;
down) case_down ;;
kill-frisbee) case_kill_frisbee ;;
kill-ftp) case_kill_ftp ;;
tryagain) case_tryagain ;;
corrupt) case_corrupt ;;
select) case_select ;;
health) case_health ;;
rcfrisbee) case_rcfrisbee ;;
*) mb_fail "unknown case '$CASE'" ;;
esac
