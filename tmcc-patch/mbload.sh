# SPDX-License-Identifier: BSD-3-Clause
#
# mbload.sh: the node side of miniboss image loading, as a POSIX sh library
# (sourced by mb-load and, through apply-rcfrisbee-patch, by the upstream
# Linux and FreeBSD rc.frisbee).  It loads one image from the server that
# loadinfo named, with bounded waits everywhere, and when that fails tells
# boss (`tmcc imageserverfail <server> <imageid> <reason>`), asks loadinfo
# again and loads from the fallback it then names (boss's Frisbee master
# server, or the ops URL).
#
# Failures that trigger the fallback: the master server refuses the
# connection or cannot be reached, does not answer within
# MBLOAD_CONNECT_TIMEOUT, answers an error, or answers TRYAGAIN more than
# MBLOAD_TRYAGAIN_MAX times; the transfer stalls for MBLOAD_STALL_TIMEOUT
# (frisbee -T, wget/curl read timeout); an FTP/HTTP download fails or its
# SHA-256 differs from IMAGESHA256; frisbee or imageunzip exits non-zero.
#
# loadinfo keys are split on the first '=' (a URL value keeps its own).
# Protocol 41 lines carry IMAGEURL= (ftp:// or http://) and IMAGESHA256=.
#
# Settings (environment, or /etc/emulab/mbload.conf sourced if present):
#   MBLOAD_TMCC            tmcc command [$BINDIR/tmcc]
#   MBLOAD_FRISBEE         frisbee client [$BINDIR/frisbee]
#   MBLOAD_IMAGEUNZIP      imageunzip [$BINDIR/imageunzip]
#   MBLOAD_VERSION         tmcd protocol for loadinfo [41]
#   MBLOAD_METHOD          frisbee | url: how to load when both are offered
#                          [frisbee]; a line without IMAGEID uses its URL
#   MBLOAD_CONNECT_TIMEOUT seconds for the master server's answer [3]
#   MBLOAD_STALL_TIMEOUT   seconds without data before giving up [4]
#   MBLOAD_TRYAGAIN_MAX    TRYAGAIN answers accepted [6]
#   MBLOAD_TRYAGAIN_WAIT   seconds between them [5]
#   MBLOAD_FALLBACKS       fallback rounds after the first server [2]
#   MBLOAD_DIR             where URL downloads are kept [/images]
#   MBLOAD_FRISBEE_OPTS    extra frisbee options (e.g. -i <myip>)
#   MBLOAD_RAW             1: the image is raw bytes (frisbee -N, no unzip)
#   MBLOAD_FETCH_OPTS      extra wget (or curl) options, e.g. --limit-rate=

[ -r /etc/emulab/mbload.conf ] && . /etc/emulab/mbload.conf
: "${BINDIR:=/etc/testbed}"
: "${MBLOAD_TMCC:=$BINDIR/tmcc}"
: "${MBLOAD_FRISBEE:=$BINDIR/frisbee}"
: "${MBLOAD_IMAGEUNZIP:=$BINDIR/imageunzip}"
: "${MBLOAD_VERSION:=41}"
: "${MBLOAD_METHOD:=frisbee}"
: "${MBLOAD_CONNECT_TIMEOUT:=3}"
: "${MBLOAD_STALL_TIMEOUT:=4}"
: "${MBLOAD_TRYAGAIN_MAX:=6}"
: "${MBLOAD_TRYAGAIN_WAIT:=5}"
: "${MBLOAD_FALLBACKS:=2}"
: "${MBLOAD_DIR:=/images}"
: "${MBLOAD_FRISBEE_OPTS:=}"
: "${MBLOAD_RAW:=0}"
: "${MBLOAD_FETCH_OPTS:=}"
MBLOAD_WHY=

mbload_log() {
	echo "mbload: $(date '+%H:%M:%S') $*" >&2
}

# mbload_key KEY LINE: the value of KEY in a loadinfo line (split on the
# first '='), or nothing.
mbload_key() {
	_mk_key=$1
	for _mk_kv in $2; do
		case $_mk_kv in
		"$_mk_key"=*)
			echo "${_mk_kv#*=}"
			return 0
			;;
		esac
	done
	return 0
}

# mbload_fid IMAGEID: pid,gid,name[:v] -> pid/name[:v] (frisbee's -F).
mbload_fid() {
	case $1 in
	*,*,*) echo "${1%%,*}/${1##*,}" ;;
	*) echo "$1" ;;
	esac
}

# mbload_sha FILE: its SHA-256 in hex.
mbload_sha() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	elif command -v sha256 >/dev/null 2>&1; then
		sha256 -q "$1"
	else
		openssl dgst -sha256 "$1" | sed 's/.*= *//'
	fi
}

# mbload_loadinfo FILE: loadinfo (protocol MBLOAD_VERSION) into FILE,
# retrying an empty answer for up to 30 s as rc.frisbee does.
mbload_loadinfo() {
	_ml_t=30
	while [ $_ml_t -gt 0 ]; do
		$MBLOAD_TMCC -v "$MBLOAD_VERSION" loadinfo >"$1" 2>/dev/null
		[ -s "$1" ] && return 0
		sleep 1
		_ml_t=$((_ml_t - 1))
	done
	return 1
}

# mbload_line IMAGEID FILE: the loadinfo line in FILE for IMAGEID.
mbload_line() {
	while read -r _mn_line; do
		if [ "$(mbload_key IMAGEID "$_mn_line")" = "$1" ]; then
			echo "$_mn_line"
			return 0
		fi
	done <"$2"
	return 1
}

# mbload_report SERVER IMAGEID REASON: tell boss.
mbload_report() {
	mbload_log "reporting $1 for $2: $3"
	$MBLOAD_TMCC -v "$MBLOAD_VERSION" imageserverfail "$1" "$2" "$3" >/dev/null 2>&1 ||
		mbload_log "imageserverfail not accepted, going on"
}

# mbload__tick: a short sleep (fractions where sleep has them).
mbload__tick() {
	sleep 0.2 2>/dev/null || sleep 1
}

# mbload_frisbee SERVER FID DEV OPTS: one Frisbee load through the master
# server.  0, or 1 with MBLOAD_WHY set.
mbload_frisbee() {
	_mf_server=$1 _mf_fid=$2 _mf_dev=$3 _mf_opts=$4 _mf_try=0
	_mf_log=${TMPDIR:-/tmp}/mbload.frisbee.$$
	[ "$MBLOAD_RAW" = 1 ] && _mf_opts="$_mf_opts -N"
	while :; do
		mbload_log "frisbee -S $_mf_server -F $_mf_fid -> $_mf_dev"
		# shellcheck disable=SC2086
		$MBLOAD_FRISBEE -S "$_mf_server" -T "$MBLOAD_STALL_TIMEOUT" $MBLOAD_FRISBEE_OPTS \
			$_mf_opts -F "$_mf_fid" "$_mf_dev" >/dev/null 2>"$_mf_log" &
		_mf_pid=$!
		_mf_n=0 _mf_killed=
		# The master-server exchange has MBLOAD_CONNECT_TIMEOUT; after the
		# reply ("address: ...") frisbee's own -T bounds every stall.
		while kill -0 $_mf_pid 2>/dev/null; do
			if [ -z "$_mf_killed" ] && ! grep -q 'address: ' "$_mf_log" 2>/dev/null &&
			   [ $_mf_n -ge $((MBLOAD_CONNECT_TIMEOUT * 5)) ]; then
				kill $_mf_pid 2>/dev/null
				_mf_killed=connect
			fi
			mbload__tick
			_mf_n=$((_mf_n + 1))
		done
		wait $_mf_pid
		_mf_rc=$?
		cat "$_mf_log" >&2
		if [ -n "$_mf_killed" ]; then
			MBLOAD_WHY=master-timeout
		elif [ $_mf_rc -eq 0 ]; then
			rm -f "$_mf_log"
			return 0
		elif grep -q 'image busy, try again later' "$_mf_log"; then
			_mf_try=$((_mf_try + 1))
			if [ $_mf_try -le "$MBLOAD_TRYAGAIN_MAX" ]; then
				mbload_log "TRYAGAIN $_mf_try/$MBLOAD_TRYAGAIN_MAX, waiting ${MBLOAD_TRYAGAIN_WAIT}s"
				sleep "$MBLOAD_TRYAGAIN_WAIT"
				continue
			fi
			MBLOAD_WHY=tryagain-exhausted
		elif grep -q 'Connection refused' "$_mf_log"; then
			MBLOAD_WHY=connect-refused
		elif grep -q -i -E 'unreachable|No route' "$_mf_log"; then
			MBLOAD_WHY=unreachable
		elif grep -q 'No messages from server' "$_mf_log"; then
			MBLOAD_WHY=stalled
		elif grep -q 'server returned error' "$_mf_log"; then
			MBLOAD_WHY=master-error-$(sed -n 's/.*server returned error: //p' "$_mf_log" |
				head -n 1 | tr -c 'A-Za-z0-9\n' '-' | cut -c1-32)
		else
			MBLOAD_WHY=frisbee-exit-$_mf_rc
		fi
		rm -f "$_mf_log"
		return 1
	done
}

# mbload_url URL SHA DEV UNZIPOPTS: download URL (resuming a partial file of
# the same SHA-256), verify, unpack to DEV.  0, or 1 with MBLOAD_WHY.
mbload_url() {
	_mu_url=$1 _mu_sha=$2 _mu_dev=$3 _mu_opts=$4
	mkdir -p "$MBLOAD_DIR" 2>/dev/null
	_mu_file=$MBLOAD_DIR/${_mu_url##*/}
	# A partial download is only continued from a file of the same
	# checksum (the fallback serves the same bytes).
	if [ -z "$_mu_sha" ] || [ "$(cat "$_mu_file.sha" 2>/dev/null)" != "$_mu_sha" ]; then
		rm -f "$_mu_file"
	fi
	echo "$_mu_sha" >"$_mu_file.sha"
	mbload_log "fetching $_mu_url -> $_mu_file${_mu_sha:+ (sha256 $_mu_sha)}"
	# The fetcher runs in the background and is stopped when the file has
	# not grown for MBLOAD_STALL_TIMEOUT (its own read timeout may count
	# twice on FTP: data, then control connection).
	if command -v wget >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		wget -q -T "$MBLOAD_STALL_TIMEOUT" -t 1 -c $MBLOAD_FETCH_OPTS -O "$_mu_file" \
			"$_mu_url" &
	else
		# shellcheck disable=SC2086
		curl -sSf --connect-timeout "$MBLOAD_CONNECT_TIMEOUT" -y "$MBLOAD_STALL_TIMEOUT" \
			-Y 1 -C - $MBLOAD_FETCH_OPTS -o "$_mu_file" "$_mu_url" &
	fi
	_mu_pid=$! _mu_n=0 _mu_last=-1 _mu_still=0 _mu_killed=
	while kill -0 $_mu_pid 2>/dev/null; do
		_mu_size=$(wc -c <"$_mu_file" 2>/dev/null || echo 0)
		if [ "$_mu_size" = "$_mu_last" ]; then
			_mu_still=$((_mu_still + 1))
		else
			_mu_still=0
			_mu_last=$_mu_size
		fi
		if [ $_mu_still -ge $((MBLOAD_STALL_TIMEOUT * 5)) ]; then
			kill $_mu_pid 2>/dev/null
			_mu_killed=1
		fi
		mbload__tick
	done
	wait $_mu_pid
	_mu_rc=$?
	if [ -n "$_mu_killed" ]; then
		MBLOAD_WHY=stalled
		_mu_rc=1
	elif command -v wget >/dev/null 2>&1; then
		case $_mu_rc in
		0) ;;
		4) MBLOAD_WHY=network-error ;;
		8) MBLOAD_WHY=server-error ;;
		*) MBLOAD_WHY=fetch-exit-$_mu_rc ;;
		esac
	else
		case $_mu_rc in
		0) ;;
		7) MBLOAD_WHY=connect-refused ;;
		28) MBLOAD_WHY=stalled ;;
		22) MBLOAD_WHY=server-error ;;
		*) MBLOAD_WHY=fetch-exit-$_mu_rc ;;
		esac
	fi
	[ $_mu_rc -eq 0 ] || return 1
	if [ -n "$_mu_sha" ] && [ "$(mbload_sha "$_mu_file")" != "$_mu_sha" ]; then
		rm -f "$_mu_file" "$_mu_file.sha"
		MBLOAD_WHY=checksum-mismatch
		return 1
	fi
	if [ "$MBLOAD_RAW" = 1 ]; then
		cp "$_mu_file" "$_mu_dev" || { MBLOAD_WHY=write-failed; return 1; }
	else
		# shellcheck disable=SC2086
		$MBLOAD_IMAGEUNZIP -o $_mu_opts "$_mu_file" "$_mu_dev" >/dev/null ||
			{ MBLOAD_WHY=unzip-failed; return 1; }
	fi
	rm -f "$_mu_file" "$_mu_file.sha"
	return 0
}

# mbload__unzipopts FRISBEEOPTS: the options imageunzip shares (-s N -D N -z).
mbload__unzipopts() {
	_mo_out= _mo_next=
	for _mo_o in $1; do
		if [ -n "$_mo_next" ]; then
			_mo_out="$_mo_out $_mo_next $_mo_o"
			_mo_next=
			continue
		fi
		case $_mo_o in
		-s | -D) _mo_next=$_mo_o ;;
		-z) _mo_out="$_mo_out -z" ;;
		esac
	done
	echo "$_mo_out"
}

# mbload_try LINE DEV OPTS: one attempt from what LINE names.  Sets
# MBLOAD_SERVER (what failed, for the report).  0 or 1 with MBLOAD_WHY.
mbload_try() {
	_mt_line=$1 _mt_dev=$2 _mt_opts=$3
	_mt_id=$(mbload_key IMAGEID "$_mt_line")
	_mt_url=$(mbload_key IMAGEURL "$_mt_line")
	_mt_sha=$(mbload_key IMAGESHA256 "$_mt_line")
	MBLOAD_SERVER=$(mbload_key SERVER "$_mt_line")
	[ -n "$MBLOAD_SERVER" ] || MBLOAD_SERVER=${BOSSIP:-}
	if [ -n "$_mt_url" ] && { [ "$MBLOAD_METHOD" = url ] || [ -z "$_mt_id" ]; }; then
		# the server to report is the URL's host
		MBLOAD_SERVER=${_mt_url#*://}
		MBLOAD_SERVER=${MBLOAD_SERVER%%/*}
		MBLOAD_SERVER=${MBLOAD_SERVER%%:*}
		mbload_url "$_mt_url" "$_mt_sha" "$_mt_dev" "$(mbload__unzipopts "$_mt_opts")"
		return $?
	fi
	if [ -z "$_mt_id" ] || [ -z "$MBLOAD_SERVER" ]; then
		MBLOAD_WHY=no-source
		return 1
	fi
	mbload_frisbee "$MBLOAD_SERVER" "$(mbload_fid "$_mt_id")" "$_mt_dev" "$_mt_opts"
}

# mbload_image LINE DEV OPTS: load the image of LINE onto DEV (OPTS: frisbee
# options such as -s N -D N -z -M MB); on a failure report it, ask
# loadinfo again and load from the fallback it names, up to MBLOAD_FALLBACKS
# rounds.  Prints "mbload: fallback started at <epoch.ns>" when a fallback
# load begins (failover measurements; GNU date).  0 on success.
mbload_image() {
	_mi_line=$1 _mi_dev=$2 _mi_opts=$3 _mi_round=0
	_mi_id=$(mbload_key IMAGEID "$_mi_line")
	[ -n "$_mi_id" ] || _mi_id=$(mbload_key IMAGEURL "$_mi_line")
	while :; do
		MBLOAD_WHY=
		if mbload_try "$_mi_line" "$_mi_dev" "$_mi_opts"; then
			mbload_log "loaded $_mi_id from ${MBLOAD_SERVER:-?}"
			return 0
		fi
		mbload_log "loading $_mi_id from ${MBLOAD_SERVER:-?} failed: $MBLOAD_WHY"
		if [ $_mi_round -ge "$MBLOAD_FALLBACKS" ]; then
			return 1
		fi
		_mi_round=$((_mi_round + 1))
		[ -n "$MBLOAD_SERVER" ] && mbload_report "$MBLOAD_SERVER" "$_mi_id" "$MBLOAD_WHY"
		_mi_li=${TMPDIR:-/tmp}/mbload.loadinfo.$$
		if ! mbload_loadinfo "$_mi_li"; then
			mbload_log "no loadinfo for the fallback"
			rm -f "$_mi_li"
			return 1
		fi
		_mi_new=$(mbload_line "$(mbload_key IMAGEID "$_mi_line")" "$_mi_li")
		[ -n "$_mi_new" ] || _mi_new=$(head -n 1 "$_mi_li")
		rm -f "$_mi_li"
		_mi_line=$_mi_new
		echo "mbload: fallback started at $(date +%s.%N) from" \
			"$(mbload_key SERVER "$_mi_line") $(mbload_key IMAGEURL "$_mi_line")" >&2
	done
}

# Hooks for rc.frisbee (apply-rcfrisbee-patch).  The loader's own option
# words go through; -B (an endless TRYAGAIN wait) and -S/-F are ours.

# mbload_rc_loadinfo FILE: after rc.frisbee fetched loadinfo, fetch it again
# at protocol MBLOAD_VERSION into FILE (kept as it was if that fails).
mbload_rc_loadinfo() {
	_mr_t=${TMPDIR:-/tmp}/mbload.rcli.$$
	if $MBLOAD_TMCC -v "$MBLOAD_VERSION" loadinfo >"$_mr_t" 2>/dev/null && [ -s "$_mr_t" ]; then
		cat "$_mr_t" >"$1"
	fi
	rm -f "$_mr_t"
	return 0
}

# mbload_rc_frisbee IMAGEID SERVER DEV OPTS: rc.frisbee's Frisbee step.
# IMAGEID as loadinfo gives it (pid,gid,name) or frisbee's (pid/name); the
# line is looked up in MBLOAD_LOADINFO (default /tmp/loadinfo.out) or built.
mbload_rc_frisbee() {
	_mc_id=$1 _mc_server=$2 _mc_dev=$3 _mc_opts=
	_mc_skip=
	for _mc_o in $4; do
		if [ -n "$_mc_skip" ]; then
			_mc_skip=
			continue
		fi
		case $_mc_o in
		-B | -S | -F) _mc_skip=1 ;;
		*) _mc_opts="$_mc_opts $_mc_o" ;;
		esac
	done
	_mc_line=
	[ -r "${MBLOAD_LOADINFO:-/tmp/loadinfo.out}" ] &&
		_mc_line=$(mbload_line "$_mc_id" "${MBLOAD_LOADINFO:-/tmp/loadinfo.out}")
	[ -n "$_mc_line" ] || _mc_line="IMAGEID=$_mc_id SERVER=$_mc_server"
	mbload_image "$_mc_line" "$_mc_dev" "$_mc_opts"
}
