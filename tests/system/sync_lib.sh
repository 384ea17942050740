# SPDX-License-Identifier: BSD-3-Clause
#
# Ops side of the sync tests (sourced by sync.sh and sync_daemon.sh): test
# certificates (a CA, a server cert for 127.0.0.1/localhost, a client cert,
# and a rogue CA with its own server cert), a real nginx with mutual TLS on
# its own config and prefix, started and stopped by PID, and images plus a
# manifest signed by mb-manifest.  Needs T (temp dir), PORT, MANI
# (mb-manifest), a fail() function; NGX_EXEC runs nginx/curl in a namespace,
# NGX_ADDR is nginx's address (default 127.0.0.1, also in the server cert).

# ---- certificates: a CA, a server cert for 127.0.0.1/localhost, a client
# cert; and a rogue CA with its own server cert for the same names.
mkcerts() {
	local d=$T/pki
	mkdir -p "$d"
	(
	cd "$d" || exit 1
	for ca in ca rogue; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=mbs test $ca" -keyout $ca.key -out $ca.crt 2>/dev/null
	done
	printf 'subjectAltName=IP:%s,DNS:localhost\n' "${NGX_ADDR:-127.0.0.1}" > srv.ext
	printf 'extendedKeyUsage=clientAuth\n' > cli.ext
	for who in srv:ca rsrv:rogue cli:ca; do
		n=${who%%:*}; ca=${who##*:}
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=mbs $n" -keyout $n.key -out $n.csr 2>/dev/null
		ext=srv.ext; [ $n = cli ] && ext=cli.ext
		openssl x509 -req -in $n.csr -CA $ca.crt -CAkey $ca.key -CAcreateserial \
			-days 2 -extfile $ext -out $n.crt 2>/dev/null
	done
	) || fail "openssl"
}

# ---- the miniboss side: the [origin] keys that point it at this nginx with
# this PKI and the ops key (the section header is the caller's).
origin_conf() {
	cat <<EOF
url = https://${NGX_ADDR:-127.0.0.1}:$PORT
ca-file = $T/pki/ca.crt
client-cert = $T/pki/cli.crt
client-key = $T/pki/cli.key
manifest-pubkey = $T/ops.pub
site = utah
timeout = 5s
EOF
}

# ---- nginx: $1 = server cert name (srv|rsrv), $2 = extra location config
ngx_conf() {
	local cert=${1:-srv} extra=${2:-}
	mkdir -p "$T"/ngx/tmp
	cat > "$T"/ngx/nginx.conf <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $T/ngx/error.log info;
pid $T/ngx/nginx.pid;
events { worker_connections 64; }
http {
	client_body_temp_path $T/ngx/tmp/body;
	proxy_temp_path $T/ngx/tmp/proxy;
	fastcgi_temp_path $T/ngx/tmp/fcgi;
	uwsgi_temp_path $T/ngx/tmp/uwsgi;
	scgi_temp_path $T/ngx/tmp/scgi;
	log_format mbs '\$request \$status range=\$http_range sent=\$body_bytes_sent';
	access_log $T/ngx/access.log mbs;
	types { application/json json; }
	default_type application/octet-stream;
	server {
		listen ${NGX_ADDR:-127.0.0.1}:$PORT ssl;
		ssl_certificate $T/pki/$cert.crt;
		ssl_certificate_key $T/pki/$cert.key;
		ssl_client_certificate $T/pki/ca.crt;
		ssl_verify_client on;
		ssl_protocols TLSv1.2 TLSv1.3;
		root $T/www;
		etag on;
		$extra
	}
}
EOF
}
ngx_start() {
	ngx_conf "$@"
	${NGX_EXEC:-} nginx -c "$T"/ngx/nginx.conf -p "$T"/ngx >"$T"/ngx/stdout 2>&1 &
	NGINX_PID=$!
	for _ in $(seq 100); do
		${NGX_EXEC:-} curl -s -k -o /dev/null --cert "$T"/pki/cli.crt \
			--key "$T"/pki/cli.key "https://${NGX_ADDR:-127.0.0.1}:$PORT/" && return 0
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T"/ngx/error.log "$T"/ngx/stdout
	fail "nginx did not start"
}
ngx_stop() {
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=
}

# ---- the ops side: images + signed manifest
publish() {	# $1 = version for all images, $2 = "generated" (default: now)
	local mtime=$((1700000000 + ${1:-1}))
	"$MANI" build "$T"/www --site utah=emulab-ops/A,emulab-ops/B,C \
		--site other=OTHER --version-from "${1:-1}" ${2:+--generated "$2"} \
		-o "$T"/www/manifest.json >/dev/null || fail "mb-manifest build"
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"
	"$MANI" verify --pubkey "$T"/ops.pub "$T"/www/manifest.json >/dev/null || fail "verify"
	# nginx's ETag is mtime-size and Last-Modified has 1 s resolution: a new
	# manifest of the same size written in the same second as the last fetch
	# would get a 304.  Give each version (and each "generated") its own mtime.
	[ -n "${2:-}" ] && mtime=$((1700000100 + $2 % 1000))
	touch -d "@$mtime" "$T"/www/manifest.json
}
# publish_more EXTRA VERSION: the manifest of mkimages' images and the ones
# EXTRA adds for utah (",E,F": already in $T/www), every image at VERSION,
# built and signed; unlike publish, the manifest keeps the mtime of its
# writing.  Restarting nginx (to serve a new image slowly) is the caller's.
publish_more() {
	"$MANI" build "$T"/www --site utah=emulab-ops/A,emulab-ops/B,C$1 --site other=OTHER \
		--version-from "$2" -o "$T"/www/manifest.json >/dev/null || fail "mb-manifest build"
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"
}
# A 4 MB image D added for utah, every image at version $1, and nginx
# restarted to serve D at 100 kB/s; $2 starts nginx (ngx_start or a wrapper).
publish_slow_d() {
	head -c 4000000 /dev/urandom > "$T"/www/D
	publish_more ,D "$1"
	ngx_stop
	"$2" srv "location = /D { limit_rate 100k; }"
}
mkimages() {
	mkdir -p "$T"/www/emulab-ops
	head -c 300000 /dev/urandom > "$T"/www/emulab-ops/A
	head -c 70000 /dev/urandom > "$T"/www/emulab-ops/B
	head -c 5000 /dev/urandom > "$T"/www/C
	head -c 1000 /dev/urandom > "$T"/www/OTHER
	"$MANI" keygen "$T"/ops.key "$T"/ops.pub >/dev/null || fail "keygen"
	publish 1
}

# part_past FILE BYTES: true once FILE (a download's .part) holds more than
# BYTES, polled for up to 30 s; its last size in PART_BYTES (0: no file).
part_past() {
	for _ in $(seq 300); do
		PART_BYTES=$(stat -c %s "$1" 2>/dev/null || echo 0)
		[ "$PART_BYTES" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# images_ok NAME...: every NAME published, state ok, with the SHA-256 of
# $T/www/NAME (minibossctl images).
images_ok() {
	mb_ctl --json images >"$T"/images.json || return 1
	python3 - "$T" "$@" <<'EOP'
import hashlib, json, sys
t, names = sys.argv[1], sys.argv[2:]
imgs = {i["name"]: i for i in json.load(open(t + "/images.json"))}
for n in names:
    i = imgs.get(n)
    want = hashlib.sha256(open(t + "/www/" + n, "rb").read()).hexdigest()
    if i is None or i.get("state") != "ok" or i.get("sha256") != want:
        sys.exit(1)
EOP
}
# wait_images NAME...: images_ok within 150 polls, WAIT_IMAGES_POLL (0.2 s)
# apart; fails otherwise.
wait_images() {
	for _ in $(seq 150); do images_ok "$@" && return 0; sleep "${WAIT_IMAGES_POLL:-0.2}"; done
	fail "images $* not published: $(cat "$T"/images.json)"
}
