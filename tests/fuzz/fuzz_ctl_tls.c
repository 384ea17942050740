/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stateful fuzzing of the TLS control socket for boss and of the reload,
 * through the real control loop.  As in fuzz_ctl_loop.c, the event loop
 * (control/ctl_loop.c), its timers and descriptors run in this process on
 * this thread with the control library's subsystem table (log level, the
 * Unix control socket, the dataplane's event queue with the fake dataplane
 * of tests/fakes, the TLS control socket, boss's actions), started once on
 * the first input from a configuration file, so the reload is the daemon's
 * own: mb_ctl_reload (what SIGHUP and the "reload" command run) reads that
 * file again with every check of `minibossd -n`.
 *
 * The credentials are made at start in a directory under /tmp: CA ca1
 * signs the server's s1 and s2 and the client c1; CA ca2 signs c2.  The
 * server listens on 127.0.0.1 at a port free at start.
 *
 * Each input is a script of up to 512 steps over eight client slots, each
 * one of: the Unix control socket; a TLS client with c1 (the certificate
 * the server asks for), with no certificate, or with c2 (another CA); a raw
 * TCP client of the TLS port.  A TLS client may be held to TLS 1.2.  Steps:
 * connect, raw bytes on the TCP stream (under the TLS records: garbage
 * mid-session), application bytes (through TLS, or plain on the Unix and
 * raw slots), a well-formed control request (any of the actions, "reload"
 * among them), a run of up to 128 KiB of one byte (a line longer than the
 * 64 KiB limit), a recorded ClientHello truncated and with one byte changed,
 * close_notify or a half-close, reset (SO_LINGER 0), close, start or stop
 * reading replies (a client that does not read backs the server up), a TLS
 * 1.3 key update, run the loop, move the clock on (1 ms .. 3601 s: past the
 * 10 s handshake deadline and any control-timeout a reload can set), and
 * reload a configuration file of the base text followed by fuzzed text: a
 * reloadable or fixed key with a fuzzed value, raw bytes, or other
 * credentials (s2, a key that does not match, ca2, a missing file).  The
 * TLS clients are driven without blocking: after every step each one goes
 * on with its handshake, writes what it has queued as far as TLS takes it,
 * and reads what arrived if it reads; then the loop runs one pass.
 *
 * The clock: CLOCK_MONOTONIC is the real one plus an offset the "time" step
 * adds to (fuzz_ctl_common.h: this program's clock_gettime wraps the C
 * library's for the statically linked control library).
 *
 * Checked after every step: live timers within what eight clients hold,
 * TLS clients within the eight slots.  After every reload the harness runs:
 * a refused reload leaves the running configuration as it was (the
 * "config" reply unchanged).  After the clock passed every deadline (every
 * byte the clients sent read first), each client still open is closed by
 * its server.  After every input (all slots closed, the base file reloaded,
 * the clock moved past every deadline): the base reload succeeds and the
 * "config" reply is the one at start, open descriptors (/proc/self/fd,
 * pipes and devices aside) and live timers back to where they were after
 * start, no TLS client left, health answers on the Unix socket and over TLS
 * with c1, and a client without a certificate gets no reply.  A broken
 * invariant aborts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_cfgcheck.h"
#include "ctl_fakes.h"
#include "ctl_priv.h"
#include "dp.h"
#define FUZZ_NAME "fuzz_ctl_tls"
#include "fuzz_ctl_common.h"
#include "fuzz_rd.h"
#include "mb_config.h"
#include "mb_log.h"
#include "mb_time.h"

#define NSLOT 8
#define MAX_STEPS 512
/* settle(): the clock moves on by this when passes alone do not get there */
#define SETTLE_STEP_NS ((S.max_timeout_s + 1) * MB_NS_PER_SEC)
#define PER_CONN_TIMERS 2 /* a client's deadline or idle timer, with margin */
#define PEND_MAX (256u << 10)
#define HELLO_MAX 4096
#define BASE_MAX_CLIENTS 4

/* ---- the control plane, started once ------------------------------------------ */

enum kind { K_UNIX, K_CERT, K_NOCERT, K_BADCA, K_RAW, K__COUNT };

static struct {
	bool up;
	char dir[64];
	char conf[128];
	char sock_path[128];
	uint16_t port;
	char *base_text;
	json_t *base_config; /* the "config" reply at start */
	SSL_CTX *cctx[K__COUNT]; /* the client side of each TLS kind */
	uint8_t hello[HELLO_MAX];
	size_t hello_len;
	uint64_t max_timeout_s; /* the longest control-timeout of this input */
} S;

/* -- credentials -- */

static const char *const pki_files[] = {
	"ca1.pem", "ca1.key", "ca2.pem", "ca2.key", "s1.pem", "s1.key", "s2.pem",
	"s2.key",  "c1.pem",  "c1.key",  "c2.pem",  "c2.key", "ctl.sock", "minibossd.conf",
};

static void
cleanup(void)
{
	char path[256];

	for (size_t i = 0; i < sizeof(pki_files) / sizeof(pki_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", S.dir, pki_files[i]);
		(void)unlink(path);
	}
	(void)rmdir(S.dir);
}

static void
write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", S.dir, name, x != NULL ? "pem" : "key");
	f = fopen(path, "w");
	if (f != NULL && fchmod(fileno(f), 0600) != 0)
		fail("chmod %s", path);
	if (f == NULL || (x != NULL ? PEM_write_X509(f, x) :
				      PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)) != 1)
		fail("writing %s", path);
	fclose(f);
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (e == NULL || X509_add_ext(x, e, -1) != 1)
		fail("certificate extension %d", nid);
	X509_EXTENSION_free(e);
}

/* A P-256 key and its certificate `name` (CN mbt-<name>), signed by
 * issuer/ikey or self-signed as a CA; both written to DIR/name.pem, .key. */
static void
make_cert(const char *name, X509 *issuer, EVP_PKEY *ikey, X509 **ret_x, EVP_PKEY **ret_k)
{
	static long serial = 1;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	char cn[64];

	if (k == NULL || x == NULL)
		fail("key for %s", name);
	snprintf(cn, sizeof(cn), "mbt-%s", name);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
	if (issuer == NULL) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
	}
	if (X509_sign(x, ikey != NULL ? ikey : k, EVP_sha256()) == 0)
		fail("signing %s", name);
	write_pem(name, x, NULL);
	write_pem(name, NULL, k);
	*ret_x = x;
	*ret_k = k;
}

static void
make_pki(void)
{
	X509 *ca1, *ca2, *x;
	EVP_PKEY *k1, *k2, *k;
	static const char *const leaf[] = { "s1", "s2", "c1", "c2" };

	make_cert("ca1", NULL, NULL, &ca1, &k1);
	make_cert("ca2", NULL, NULL, &ca2, &k2);
	for (size_t i = 0; i < 4; i++) {
		make_cert(leaf[i], i == 3 ? ca2 : ca1, i == 3 ? k2 : k1, &x, &k);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	X509_free(ca1);
	X509_free(ca2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static SSL_CTX *
client_ctx(const char *who)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	char path[256];

	if (c == NULL)
		fail("client SSL_CTX");
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (who != NULL) {
		snprintf(path, sizeof(path), "%s/%s.pem", S.dir, who);
		if (SSL_CTX_use_certificate_file(c, path, SSL_FILETYPE_PEM) != 1)
			fail("client certificate %s", path);
		snprintf(path, sizeof(path), "%s/%s.key", S.dir, who);
		if (SSL_CTX_use_PrivateKey_file(c, path, SSL_FILETYPE_PEM) != 1)
			fail("client key %s", path);
	}
	return c;
}

/* What a client with c1 sends first (its ClientHello records). */
static void
record_hello(void)
{
	SSL *s = SSL_new(S.cctx[K_CERT]);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	int n;

	if (s == NULL || rb == NULL || wb == NULL)
		fail("recording a ClientHello");
	SSL_set_bio(s, rb, wb);
	(void)SSL_connect(s);
	n = BIO_read(wb, S.hello, (int)sizeof(S.hello));
	if (n <= 5)
		fail("no ClientHello");
	S.hello_len = (size_t)n;
	SSL_free(s);
}

/* -- the configuration file -- */

static void
write_conf(const char *text, size_t len)
{
	FILE *f = fopen(S.conf, "w");

	if (f == NULL || (len > 0 && fwrite(text, 1, len, f) != len) || fclose(f) != 0)
		fail("writing %s", S.conf);
}

/* A port free at this moment, below the kernel's ephemeral range (12000..
 * 19999: no outgoing connection takes it meanwhile; fuzz_ctl_origin's
 * parent listens above). */
static uint16_t
free_port(void)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		uint16_t port = (uint16_t)(12000 + (unsigned)rand() % 8000);
		bool ok;

		if (fd < 0)
			fail("socket: %s", strerror(errno));
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons(port);
		ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		(void)close(fd);
		if (ok)
			return port;
	}
	fail("no free port");
	return 0;
}

/* The control plane from a base configuration with the TLS socket on
 * `port`: true when it listens there (else stopped again). */
static bool
start_on(uint16_t port, const struct mb_ctl_subsys *const *tab, size_t ntab)
{
	struct mb_config cfg;
	struct mb_diags d;
	char text[2048];
	int n;

	S.port = port;
	n = snprintf(text, sizeof(text),
		     "[server]\nstate-dir = %s\ncontrol-socket = %s\n"
		     "max-control-clients = %d\ncontrol-timeout = 30s\n"
		     "[dpdk]\naddress = 192.0.2.1/24\n"
		     "[control]\ntls-listen = 127.0.0.1:%u\ntls-cert = %s/s1.pem\n"
		     "tls-key = %s/s1.key\ntls-ca = %s/ca1.pem\n",
		     S.dir, S.sock_path, BASE_MAX_CLIENTS, (unsigned)S.port, S.dir, S.dir, S.dir);
	S.base_text = strdup(text);
	write_conf(text, (size_t)n);
	mb_diags_init(&d);
	if (mb_config_defaults(&cfg) != 0 || mb_config_parse_file(&cfg, S.conf, &d) != 0 ||
	    mb_ctl_config_check_files(&cfg, &d) != 0 || d.errors > 0) {
		mb_diags_print(&d, stderr, "fuzz_ctl_tls: ");
		fail("the base configuration does not load");
	}
	mb_diags_done(&d);
	if (mb_ctl_core_start(&cfg, S.conf, tab, ntab) != 0)
		fail("control plane start");
	mb_config_done(&cfg);
	if (mb_ctl_tls_port() == S.port)
		return true;
	mb_ctl_core_stop();
	free(S.base_text);
	S.base_text = NULL;
	return false;
}

static void
start_once(void)
{
	static const struct mb_ctl_subsys *const tab[] = {
		&mb_ctl_subsys_log, &mb_ctl_subsys_sock, &mb_ctl_subsys_dataplane,
		&mb_ctl_subsys_tls, &mb_ctl_subsys_boss,
	};

	signal(SIGPIPE, SIG_IGN);
	mb_log_set_sink(quiet_sink);
	if (mbt_heap_images_publish((const char *const[]){ "test/img" }, 1, 4096) != 0)
		fail("publishing the image");
	rcu_thread_online();
	snprintf(S.dir, sizeof(S.dir), "/tmp/mbt-fuzztls.XXXXXX");
	if (mkdtemp(S.dir) == NULL)
		fail("mkdtemp: %s", strerror(errno));
	atexit(cleanup);
	make_pki();
	S.cctx[K_CERT] = client_ctx("c1");
	S.cctx[K_NOCERT] = client_ctx(NULL);
	S.cctx[K_BADCA] = client_ctx("c2");
	record_hello();
	snprintf(S.conf, sizeof(S.conf), "%s/minibossd.conf", S.dir);
	snprintf(S.sock_path, sizeof(S.sock_path), "%s/ctl.sock", S.dir);
	srand((unsigned)getpid());
	if (mb_ctl_loop_init() != 0)
		fail("loop init");
	mb_ctl_loop_set_rcu(true);
	mbt_dp.local_addr = htonl(INADDR_LOOPBACK);
	mb_ctl_dp_set(&mbt_dp_ops);
	mbt_sess_reset(1);
	/* Another program may take the port before the listener does: then
	 * again with another. */
	for (int tries = 0; tries < 20 && !S.up; tries++)
		S.up = start_on(free_port(), tab, sizeof(tab) / sizeof(tab[0]));
	if (!S.up)
		fail("the TLS control socket does not listen");
	pump(4);
	S.base_config = action("config");
	fz_baseline();
}

/* ---- clients -------------------------------------------------------------------- */

struct slot {
	int fd;
	enum kind kind;
	SSL *ssl;
	bool done;  /* the client's handshake finished */
	bool dead;  /* TLS failed or ended on the client's side: no more TLS calls */
	bool reads; /* reads what arrives */
	uint8_t *pend; /* application bytes TLS has not taken yet */
	size_t npend;
};

static struct slot slot[NSLOT];

static bool
is_tls(const struct slot *c)
{
	return c->kind == K_CERT || c->kind == K_NOCERT || c->kind == K_BADCA;
}

static int
dial(enum kind k)
{
	int fd, one = 1;

	if (k == K_UNIX)
		return fz_dial_unix(S.sock_path);
	fd = fz_dial_tcp(S.port, -1);
	/* No Nagle: a TLS client's Finished and first request are two
	 * small writes, and the second would wait for a delayed ACK. */
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
slot_close(struct slot *c, bool reset)
{
	if (c->fd < 0)
		return;
	if (reset) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	SSL_free(c->ssl);
	(void)close(c->fd);
	free(c->pend);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void
slot_open(struct slot *c, enum kind k, bool tls12)
{
	slot_close(c, false);
	c->fd = dial(k);
	if (c->fd < 0)
		return;
	c->kind = k;
	c->reads = true;
	if (is_tls(c)) {
		c->ssl = SSL_new(S.cctx[k]);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
			fail("client SSL");
		if (tls12)
			(void)SSL_set_max_proto_version(c->ssl, TLS1_2_VERSION);
		SSL_set_connect_state(c->ssl);
	}
}

/* Bytes on the TCP stream itself, under TLS on a TLS slot. */
static void
slot_raw(struct slot *c, const void *p, size_t n)
{
	if (c->fd >= 0 && n > 0)
		(void)send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Application bytes: through TLS (queued, written as TLS takes them) or
 * plain on the Unix and raw slots. */
static void
slot_app(struct slot *c, const void *p, size_t n)
{
	if (c->fd < 0 || n == 0)
		return;
	if (!is_tls(c)) {
		slot_raw(c, p, n);
		return;
	}
	if (n > PEND_MAX - c->npend)
		n = PEND_MAX - c->npend;
	if (c->pend == NULL && (c->pend = malloc(PEND_MAX)) == NULL)
		fail("out of memory");
	memcpy(c->pend + c->npend, p, n);
	c->npend += n;
}

/* A TLS call's result: true to go on, false when it would block; a failure
 * ends TLS on this slot. */
static bool
tls_ok(struct slot *c, int r)
{
	int e;

	if (r > 0)
		return true;
	e = SSL_get_error(c->ssl, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		c->dead = true;
	ERR_clear_error();
	return false;
}

/* One turn of a client: go on with the handshake, write what is queued,
 * read what arrived (if it reads). */
static void
slot_turn(struct slot *c)
{
	static char buf[65536];

	if (c->fd < 0)
		return;
	if (!is_tls(c)) {
		for (int k = 0; c->reads && k < 16; k++)
			if (recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
				break;
		return;
	}
	if (c->dead)
		return;
	if (!c->done) {
		ERR_clear_error();
		if (!tls_ok(c, SSL_do_handshake(c->ssl)))
			return;
		c->done = true;
	}
	while (c->npend > 0 && !c->dead) {
		int n;

		ERR_clear_error();
		n = SSL_write(c->ssl, c->pend, (int)c->npend);
		if (!tls_ok(c, n))
			break;
		memmove(c->pend, c->pend + n, c->npend - (size_t)n);
		c->npend -= (size_t)n;
	}
	for (int k = 0; c->reads && !c->dead && k < 16; k++) {
		ERR_clear_error();
		if (!tls_ok(c, SSL_read(c->ssl, buf, (int)sizeof(buf))))
			break;
	}
}

static void
turn_all(void)
{
	for (unsigned i = 0; i < NSLOT; i++)
		slot_turn(&slot[i]);
}

static const char *const cmds[] = {
	"{\"cmd\":\"health\"}\n",
	"{\"cmd\":\"help\"}\n",
	"{\"cmd\":\"config\"}\n",
	"{\"cmd\":\"stats\"}\n",
	"{\"cmd\":\"images\"}\n",
	"{\"cmd\":\"drain\",\"args\":{\"reason\":\"fuzz\"}}\n",
	"{\"cmd\":\"undrain\"}\n",
	"{\"cmd\":\"reload\"}\n",
	"{\"cmd\":\"health\"}\n{\"cmd\":\"health\"}\n{\"cmd\":\"nope\"}\n",
	"{\"cmd\":\"health\",\"args\":[]}\n",
	"{\"cmd\":\"config\",\"args\":{\"x\":1}}\n",
	"\n",
};

/* ---- the reload ------------------------------------------------------------------ */

/* Keys a fuzzed line may set: the ones reloadable here, and some that need
 * a restart (the reload must refuse them by name). */
static const char *const keys[][2] = {
	{ "server", "log-level" },	     { "server", "max-control-clients" },
	{ "server", "control-timeout" },     { "control", "tls-cert" },
	{ "control", "tls-key" },	     { "control", "tls-ca" },
	{ "control", "tls-listen" },	     { "server", "control-socket" },
	{ "server", "control-socket-mode" }, { "frisbee", "rate" },
	{ "frisbee", "port-rate" },	     { "frisbee", "max-sessions" },
	{ "tcp", "max-connections" },	     { "images", "max-images" },
	{ "dpdk", "idle-sleep-us" },	     { "origin", "url" },
};

static const char *const values[] = {
	"1", "0", "2", "debug", "err", "1s", "3600s", "3601", "99999999999999999999", "-1",
	"yes", "", "127.0.0.1:1", "%s/s2.pem", "%s/s2.key", "%s/s1.key", "%s/ca2.pem", "%s/c1.pem",
	"%s/none.pem", "%s", "/dev/null", "0600", "0777", "1G", "\"quoted\"", "a\tb",
};

/* The base text without the lines that set the keys named in `drop` (a
 * key set twice is an error of its own), into out; its length. */
static size_t
base_without(char *out, const char *const *drop, size_t ndrop)
{
	const char *p = S.base_text;
	size_t n = 0;

	while (*p != '\0') {
		const char *e = strchr(p, '\n');
		size_t len = e != NULL ? (size_t)(e - p) + 1 : strlen(p);
		bool skip = false;

		for (size_t i = 0; i < ndrop; i++) {
			size_t k = strlen(drop[i]);

			if (len > k + 2 && strncmp(p, drop[i], k) == 0 && p[k] == ' ' &&
			    p[k + 1] == '=')
				skip = true;
		}
		if (!skip) {
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
	}
	out[n] = '\0';
	return n;
}

/* The base file with the step's text, then mb_ctl_reload (as SIGHUP does).
 * A refused reload must leave the running configuration as it was. */
static void
reload_step(struct rd *r, uint8_t a)
{
	static const char *const tls_keys[] = { "tls-cert", "tls-key", "tls-ca" };
	size_t blen = strlen(S.base_text), n;
	char *text = malloc(blen + 1024), v[300];
	const uint8_t *p;
	json_t *before, *after, *warn = NULL;
	char *err = NULL;
	int rc;

	if (text == NULL)
		fail("out of memory");
	switch (a % 4) {
	case 0: /* raw text after the base */
		n = base_without(text, NULL, 0);
		p = rd_bytes(r, rd8(r), &blen);
		memcpy(text + n, p, blen);
		n += blen;
		break;
	case 1: /* a key and a canned value */
	case 2: /* a key and a fuzzed value */
	{
		unsigned k = rd8(r) % (sizeof(keys) / sizeof(keys[0]));

		if (a % 4 == 1) {
			snprintf(v, sizeof(v),
				 values[rd8(r) % (sizeof(values) / sizeof(values[0]))], S.dir);
		} else {
			size_t m;

			p = rd_bytes(r, rd8(r) % 200, &m);
			memcpy(v, p, m);
			v[m] = '\0';
			for (size_t i = 0; i < m; i++)
				if (v[i] == '\n' || v[i] == '\0')
					v[i] = ' ';
		}
		n = base_without(text, &keys[k][1], 1);
		n += (size_t)snprintf(text + n, 1024, "[%s]\n%s = %s\n", keys[k][0], keys[k][1], v);
		break;
	}
	default: /* other credentials */
	{
		static const char *const cred[] = {
			"tls-cert = %1$s/s2.pem\ntls-key = %1$s/s2.key\ntls-ca = %1$s/ca1.pem\n",
			"tls-cert = %1$s/s1.pem\ntls-key = %1$s/s2.key\ntls-ca = %1$s/ca1.pem\n",
			"tls-cert = %1$s/s1.pem\ntls-key = %1$s/s1.key\ntls-ca = %1$s/ca2.pem\n",
			"tls-cert = %1$s/none.pem\ntls-key = %1$s/s1.key\ntls-ca = %1$s/ca1.pem\n",
			"tls-cert = %1$s/s1.pem\ntls-key = %1$s/s1.key\ntls-ca = %1$s/s1.pem\n",
			"tls-cert = %1$s/c1.pem\ntls-key = %1$s/c1.key\ntls-ca = %1$s/ca1.pem\n",
			"tls-cert = %1$s/s2.pem\ntls-key = %1$s/s2.key\ntls-ca = %1$s/ca2.pem\n",
		};
		const char *f = cred[rd8(r) % (sizeof(cred) / sizeof(cred[0]))];

		n = base_without(text, tls_keys, 3);
		n += (size_t)snprintf(text + n, 1024, "[control]\n");
		n += (size_t)snprintf(text + n, 900, f, S.dir);
		break;
	}
	}
	write_conf(text, n);
	free(text);
	before = action("config");
	rc = mb_ctl_reload(&err, &warn);
	after = action("config");
	if (rc != 0 && !json_equal(before, after))
		fail("a refused reload (%s) changed the running configuration",
		     err != NULL ? err : "?");
	free(err);
	json_decref(warn);
	json_decref(before);
	json_decref(after);
}

/* ---- invariants ---------------------------------------------------------------------- */

static json_t *
tls_health(void)
{
	json_t *h = action("health");
	json_t *t = json_incref(json_object_get(h, "control-tls"));

	json_decref(h);
	if (t == NULL)
		fail("no control-tls section in health");
	return t;
}

static long long
tls_clients(void)
{
	json_t *t = tls_health();
	long long n = json_integer_value(json_object_get(t, "clients"));

	json_decref(t);
	return n;
}

static void
check_step(void)
{
	unsigned timers = mb_ctl_timer_count();
	const struct mb_config *cfg = mb_ctl_config();
	long long n;

	if (cfg->control_timeout > S.max_timeout_s)
		S.max_timeout_s = cfg->control_timeout;
	if (timers > fz_base_timers + NSLOT * PER_CONN_TIMERS)
		fail("%u live timers with %d slots (%u at start)", timers, NSLOT, fz_base_timers);
	n = tls_clients();
	if (n < 0 || n > NSLOT)
		fail("%lld TLS clients with %d slots", n, NSLOT);
}

/* After every byte the clients sent was read, then the clock moved past
 * every deadline and idle timeout, every client still open must be closed
 * by its server: read until EOF, a reset or the end of TLS. */
static void
check_idle_closed(void)
{
	static char buf[65536];

	for (unsigned i = 0; i < NSLOT; i++) {
		struct slot *c = &slot[i];
		int k;

		if (c->fd < 0)
			continue;
		for (k = 0; k < 4096; k++) {
			if (is_tls(c) && c->done && !c->dead) {
				ERR_clear_error();
				if (tls_ok(c, SSL_read(c->ssl, buf, (int)sizeof(buf))))
					continue;
				if (c->dead)
					break;
			} else {
				ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

				if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
					break;
				if (n > 0)
					continue;
			}
			(void)mb_ctl_loop_run_once(k < 64 ? 0 : 1);
		}
		if (k == 4096)
			fail("slot %u (kind %d) still open after every deadline", i, (int)c->kind);
		c->dead = true; /* the server closed it */
	}
}

/* "health" on a new client of kind k, the loop pumped: true when the
 * reply line says ok.  At most 5 s of real time. */
static bool
health_on(enum kind k)
{
	static const char req[] = "{\"cmd\":\"health\"}\n";
	struct slot c = { .fd = -1 };
	char buf[1 << 16];
	size_t got = 0;
	uint64_t end = mb_time_mono_ns() + 5 * MB_NS_PER_SEC;
	bool ok = false;

	slot_open(&c, k, false);
	if (c.fd < 0)
		return false;
	slot_app(&c, req, sizeof(req) - 1);
	c.reads = false;
	while (!ok && mb_time_mono_ns() < end) {
		int n;

		(void)mb_ctl_loop_run_once(1);
		slot_turn(&c);
		if (is_tls(&c)) {
			if (c.dead)
				break;
			if (!c.done)
				continue;
			ERR_clear_error();
			n = SSL_read(c.ssl, buf + got, (int)(sizeof(buf) - 1 - got));
			if (!tls_ok(&c, n)) {
				if (c.dead)
					break;
				continue;
			}
		} else {
			ssize_t m = recv(c.fd, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);

			if (m == 0 || (m < 0 && errno != EAGAIN))
				break;
			if (m < 0)
				continue;
			n = (int)m;
		}
		got += (size_t)n;
		buf[got] = '\0';
		ok = strstr(buf, "\"ok\":true") != NULL;
		if (got == sizeof(buf) - 1)
			break;
	}
	slot_close(&c, false);
	return ok;
}

static void
check_end(void)
{
	char *err = NULL;
	json_t *warn = NULL, *cfg;
	long long n;

	for (unsigned i = 0; i < NSLOT; i++)
		slot_close(&slot[i], false);
	write_conf(S.base_text, strlen(S.base_text));
	if (mb_ctl_reload(&err, &warn) != 0)
		fail("the base configuration does not reload: %s", err != NULL ? err : "?");
	json_decref(warn);
	cfg = action("config");
	if (!json_equal(cfg, S.base_config)) {
		char *a = json_dumps(cfg, JSON_COMPACT), *b = json_dumps(S.base_config, JSON_COMPACT);

		fail("the configuration after the base reload is not the one at start:\n%s\n%s", a,
		     b);
	}
	json_decref(cfg);
	if (!settle(fz_at_baseline, SETTLE_STEP_NS)) {
		list_fds();
		fail("after every client left: %d descriptors (%d at start), %u timers (%u)",
		     count_fds(), fz_base_fds, mb_ctl_timer_count(), fz_base_timers);
	}
	n = tls_clients();
	if (n != 0)
		fail("%lld TLS clients left", n);
	/* A drain a script asked for would stay across inputs. */
	json_decref(action("undrain"));
	if (!health_on(K_UNIX))
		fail("the control socket does not answer health");
	if (!health_on(K_CERT))
		fail("the TLS control socket does not answer health with a good certificate");
	if (health_on(K_NOCERT))
		fail("the TLS control socket answered a client without a certificate");
	if (health_on(K_BADCA))
		fail("the TLS control socket answered a certificate of another CA");
	if (!settle(fz_at_baseline, SETTLE_STEP_NS)) {
		list_fds();
		fail("after the checks: %d descriptors (%d at start), %u timers (%u)", count_fds(),
		     fz_base_fds, mb_ctl_timer_count(), fz_base_timers);
	}
}

/* ---- the script ------------------------------------------------------------------------- */

static const uint64_t time_steps_ms[8] = { 1, 100, 1000, 9999, 10001, 30001, 301000, 3601000 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };
	unsigned steps = 0;

	if (!S.up)
		start_once();
	for (unsigned i = 0; i < NSLOT; i++) {
		memset(&slot[i], 0, sizeof(slot[i]));
		slot[i].fd = -1;
	}
	S.max_timeout_s = mb_ctl_config()->control_timeout;
	while (r.n > 0 && steps++ < MAX_STEPS) {
		uint8_t op = rd8(&r), a = rd8(&r);
		struct slot *c = &slot[a & (NSLOT - 1)];

		switch (op % 14) {
		case 0: /* connect: kind, maybe held to TLS 1.2 */
			slot_open(c, (enum kind)((a >> 3) % K__COUNT), (a >> 6) & 1);
			break;
		case 1: { /* raw bytes on the TCP stream */
			size_t n;
			const uint8_t *p = rd_bytes(&r, rd8(&r), &n);

			slot_raw(c, p, n);
			break;
		}
		case 2: { /* application bytes */
			size_t n;
			const uint8_t *p = rd_bytes(&r, rd8(&r), &n);

			slot_app(c, p, n);
			break;
		}
		case 3: { /* a well-formed request */
			const char *s = cmds[rd8(&r) % (sizeof(cmds) / sizeof(cmds[0]))];

			slot_app(c, s, strlen(s));
			break;
		}
		case 4: { /* a long run of one byte (a line with no end) */
			static uint8_t run[1 << 17];
			uint8_t b = rd8(&r);
			size_t n = 1 + ((size_t)rd16(&r) << 1);

			memset(run, b, n);
			slot_app(c, run, n);
			break;
		}
		case 5: { /* the recorded ClientHello, cut and with one byte changed */
			uint8_t h[HELLO_MAX];
			size_t len = S.hello_len, at = rd16(&r) % S.hello_len;
			uint8_t x = rd8(&r);

			memcpy(h, S.hello, len);
			h[at] ^= x;
			if (a & 0x80)
				len = 1 + rd16(&r) % len;
			slot_raw(c, h, len);
			break;
		}
		case 6: /* close_notify, or a half-close of the TCP stream */
			if (c->fd >= 0 && is_tls(c) && c->done && !c->dead && (a & 0x80) == 0) {
				ERR_clear_error();
				(void)SSL_shutdown(c->ssl);
			} else if (c->fd >= 0) {
				(void)shutdown(c->fd, SHUT_WR);
			}
			break;
		case 7: /* reset */
			slot_close(c, true);
			break;
		case 8: /* close */
			slot_close(c, false);
			break;
		case 9: /* start or stop reading */
			c->reads = (a >> 3) & 1;
			break;
		case 10: /* a TLS 1.3 key update (the server must answer it) */
			if (c->fd >= 0 && is_tls(c) && c->done && !c->dead &&
			    SSL_version(c->ssl) == TLS1_3_VERSION)
				(void)SSL_key_update(c->ssl, (a >> 3) & 1 ? SSL_KEY_UPDATE_REQUESTED :
									  SSL_KEY_UPDATE_NOT_REQUESTED);
			break;
		case 11: /* let the loop run */
			pump(1 + (a >> 3) % 8);
			break;
		case 12: { /* move the clock on */
			uint64_t ms = time_steps_ms[(a >> 3) % 8];
			bool all = ms > S.max_timeout_s * 1000 && ms > 10000;

			if (all) { /* the servers have every byte sent */
				for (int k = 0; k < 8; k++) {
					turn_all();
					pump_quiet();
				}
			}
			mono_offset_ns += ms * MB_NS_PER_MS;
			pump(1);
			if (all)
				check_idle_closed();
			break;
		}
		default: /* reload a configuration file */
			reload_step(&r, a);
			break;
		}
		turn_all();
		pump(1);
		check_step();
	}
	check_end();
	return 0;
}
