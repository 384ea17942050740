/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-tmcd: a small daemon that speaks tmcd's wire protocol for the three
 * commands disk loading needs -- loadinfo, imageserverfail and state -- so
 * the whole boss path (database, libmbsel, the stock tmcc client, the node's
 * loader) runs in tests without a full Emulab.  It is a test stand-in for
 * tmcd, not a replacement: the loadinfo line is built like upstream tmcd's
 * for a local node (protocol >= 33: ADDR= empty, SERVER=, IMAGEID=, and
 * IMAGEMTIME/IMAGECHUNKS from 38) from a reduced schema
 * (tmcd-patch/emulab-subset.sql), and the miniboss part goes through the
 * very hooks (mbsel_tmcd.c) the patched tmcd calls.
 *
 * Wire protocol (as tmcd): TCP and UDP on one port.  A request is one line
 * of blank-separated tokens: optional tags (VERSION=n, VNODEID=, PRIVKEY=,
 * IDKEY=, PROXYFOR=, REDIRECT=, USEUDP=; only VERSION is used, a missing
 * one means 2), the command and its arguments.  TCP requests end at EOF (the
 * client shuts down its side) or after READ_TIMO_MS; the reply is
 * KEY=VALUE lines and the connection closes.  UDP: one datagram each way.
 * A TCP client may first send the tag ISPEAKSSL_TMCDV10 and then speak TLS
 * (server certificate --cert/--key; the client's must chain to --ca);
 * without --cert such clients are closed.  Nodes are identified by source
 * address (interfaces.role='ctrl'), as tmcd does.
 *
 * Each TCP connection is served by a forked child (at most MAX_CHILDREN at
 * once, like tmcd's pre-forked pool), with a hard alarm; UDP is answered
 * by the parent.  Requests are bounded to MAX_REQ bytes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mbsel.h"
#include "mbsel_tmcd.h"

#define MAX_REQ 0x8000 /* tmcd's MAXTMCDPACKET */
#define MAX_REPLY 8192 /* one UDP datagram, as tmcd */
#define READ_TIMO_MS 3000
#define CHILD_ALARM_S 15
#define MAX_CHILDREN 16
#define SSL_TAG "ISPEAKSSL_TMCDV10"

static struct {
	const char *listen, *db_socket, *db_name, *db_user, *boss_ip;
	const char *cert, *key, *ca;
	unsigned port;
	bool verbose;
	bool provenance; /* IMAGEID=...:version from protocol 39, as tmcd built with it */
} opt = { .listen = "0.0.0.0", .db_name = "tbdb", .db_user = "root", .port = 7777 };

static MYSQL *conn;
static SSL_CTX *ssl_ctx;
static volatile sig_atomic_t stop;
static int nchildren;

/* ---- what mbsel_tmcd.c expects from tmcd ------------------------------------ */

void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
MYSQL_RES *mydb_query(char *query, int ncols, ...);
int mydb_update(char *query, ...);

static void
vlog(const char *lvl, const char *fmt, va_list ap)
{
	char ts[16];
	time_t t = time(NULL);

	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&t));
	fprintf(stderr, "mb-tmcd %s %s: ", ts, lvl);
	vfprintf(stderr, fmt, ap);
	if (fmt[0] != '\0' && fmt[strlen(fmt) - 1] != '\n')
		fputc('\n', stderr);
}

void
info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("info", fmt, ap);
	va_end(ap);
}

void
error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("error", fmt, ap);
	va_end(ap);
}

static bool
db_connect(void)
{
	unsigned int to = 5;

	if (conn != NULL)
		return true;
	conn = mysql_init(NULL);
	if (conn == NULL)
		return false;
	mysql_options(conn, MYSQL_OPT_CONNECT_TIMEOUT, &to);
	mysql_options(conn, MYSQL_OPT_READ_TIMEOUT, &to);
	mysql_options(conn, MYSQL_OPT_WRITE_TIMEOUT, &to);
	if (mysql_real_connect(conn, NULL, opt.db_user, NULL, opt.db_name, 0, opt.db_socket, 0) ==
	    NULL) {
		error("database: %s", mysql_error(conn));
		mysql_close(conn);
		conn = NULL;
		return false;
	}
	return true;
}

static int
run(const char *fmt, va_list ap)
{
	char sql[8192];
	int n = vsnprintf(sql, sizeof(sql), fmt, ap);

	if (n < 0 || (size_t)n >= sizeof(sql)) {
		error("query too long");
		return -1;
	}
	if (!db_connect())
		return -1;
	if (mysql_real_query(conn, sql, (unsigned long)n) != 0) {
		error("query failed: %s", mysql_error(conn));
		mysql_close(conn);
		conn = NULL;
		return -1;
	}
	return 0;
}

MYSQL_RES *
mydb_query(char *query, int ncols, ...)
{
	MYSQL_RES *res;
	va_list ap;
	int rc;

	va_start(ap, ncols);
	rc = run(query, ap);
	va_end(ap);
	if (rc != 0)
		return NULL;
	res = mysql_store_result(conn);
	if (res == NULL) {
		error("store_result: %s", mysql_error(conn));
		return NULL;
	}
	if (ncols != 0 && ncols != (int)mysql_num_fields(res)) {
		mysql_free_result(res);
		return NULL;
	}
	return res;
}

int
mydb_update(char *query, ...)
{
	va_list ap;
	int rc;

	va_start(ap, query);
	rc = run(query, ap);
	va_end(ap);
	return rc == 0 ? 0 : 1;
}

/* ---- commands ------------------------------------------------------------------ */

struct req {
	char node[33];
	int vers;
	char cmd[32];
	const char *args;
};

static bool
word_ok(const char *s)
{
	return mbsel_valid_word(s, 64);
}

/* loadinfo: one line per current_reloads row, tmcd's layout for a local
 * node, SERVER= and the protocol-41 keys from libmbsel. */
static void
do_loadinfo(const struct req *r, char *out, size_t outlen)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	size_t used = 0;

	out[0] = '\0';
	res = mydb_query("select iv.loadpart,iv.OS,r.mustwipe,iv.mbr_version,r.prepare,"
			 "i.imagename,i.pid,i.gid,iv.osversion,iv.size,"
			 "unix_timestamp(iv.updated),r.imageid_version,"
			 "(select attrvalue from node_attributes as a where a.node_id=r.node_id"
			 " and a.attrkey='disktype')"
			 " from current_reloads as r"
			 " left join images as i on i.imageid=r.image_id"
			 " left join image_versions as iv on iv.imageid=i.imageid"
			 " and iv.version=r.imageid_version"
			 " where r.node_id='%s' order by r.idx",
			 13, r->node);
	if (res == NULL)
		return;
	while ((row = mysql_fetch_row(res)) != NULL) {
		char server[64], keys[MBSEL_TMCD_KEYS_MAX], line[2048];
		unsigned long long size = row[9] ? strtoull(row[9], NULL, 10) : 0;
		int n;

		if (row[5] == NULL || row[6] == NULL || row[7] == NULL) {
			error("%s: image without name, pid or gid", r->node);
			continue;
		}
		snprintf(server, sizeof(server), "%s", opt.boss_ip);
		mbsel_tmcd_loadinfo(r->node, r->vers, row[6], row[5], row[11], opt.boss_ip, server,
				    sizeof(server), keys, sizeof(keys));
		n = snprintf(line, sizeof(line), "ADDR= PART=%s PARTOS=%s", row[0] ? row[0] : "0",
			     row[1] ? row[1] : "Linux");
		if (r->vers >= 31)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " SERVER=%s", server);
		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      " OSVERSION=%s DISK=%s0 ZFILL=%s ACPI=unknown MBRVERS=%s ASF=unknown"
			      " PREPARE=%s NOCLFLUSH=unknown DOM0MEM=1024M IMAGEID=%s,%s,%s",
			      row[8] ? row[8] : "0", row[12] ? row[12] : "ad",
			      row[2] ? row[2] : "0", row[3] ? row[3] : "1", row[4] ? row[4] : "0",
			      row[6], row[7], row[5]);
		if (opt.provenance && r->vers >= 39 && row[11] != NULL)
			n += snprintf(line + n, sizeof(line) - (size_t)n, ":%s", row[11]);
		if (r->vers >= 38)
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      " IMAGEMTIME=%s IMAGECHUNKS=%llu", row[10] ? row[10] : "0",
				      (size + 1048575) / 1048576);
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s\n", keys);
		if (n < 0 || (size_t)n >= sizeof(line) || used + (size_t)n >= outlen) {
			error("%s: loadinfo reply too long", r->node);
			break;
		}
		memcpy(out + used, line, (size_t)n + 1);
		used += (size_t)n;
	}
	mysql_free_result(res);
	if (opt.verbose)
		info("%s: loadinfo v%d: %s", r->node, r->vers, out);
}

static void
do_state(const struct req *r, char *out, size_t outlen)
{
	char st[129];
	const char *p = r->args;
	size_t n = 0;

	out[0] = '\0';
	(void)outlen;
	while (*p == ' ')
		p++;
	while (p[n] != '\0' && p[n] != ' ' && p[n] != '\n' && n < sizeof(st) - 1) {
		if (!isalnum((unsigned char)p[n]) && p[n] != '_' && p[n] != '-') {
			error("%s: bad state name", r->node);
			return;
		}
		st[n] = p[n];
		n++;
	}
	st[n] = '\0';
	if (n == 0 || n == sizeof(st) - 1) {
		error("%s: bad state arguments", r->node);
		return;
	}
	/* stated's part: record it (tests read mb_tmcd_states). */
	if (mydb_update("insert into mb_tmcd_states (node_id,state,at)"
			" values ('%s','%s',unix_timestamp(now(6)))",
			r->node, st) != 0)
		error("%s: cannot record state %s", r->node, st);
	else
		info("%s: state %s", r->node, st);
}

/* Parse the request, identify the node, run the command into out. */
static void
handle(const char *reqbuf, size_t len, struct in_addr peer, bool tcp, char *out, size_t outlen)
{
	char buf[MAX_REQ + 1], ip[INET_ADDRSTRLEN];
	struct req r = { .vers = 2 };
	MYSQL_RES *res;
	MYSQL_ROW row;
	char *p, *tok;

	out[0] = '\0';
	memcpy(buf, reqbuf, len);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		error("request with a NUL byte, ignored");
		return;
	}
	p = buf;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		tok = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
		if (tok == p) {
			error("empty request");
			return;
		}
		if (strncmp(tok, "VERSION=", 8) == 0) {
			r.vers = atoi(tok + 8);
			if (r.vers < 0 || r.vers > 1000)
				r.vers = 2;
			continue;
		}
		if (strncmp(tok, "VNODEID=", 8) == 0 || strncmp(tok, "PRIVKEY=", 8) == 0 ||
		    strncmp(tok, "IDKEY=", 6) == 0 || strncmp(tok, "PROXYFOR=", 9) == 0 ||
		    strncmp(tok, "REDIRECT=", 9) == 0 || strncmp(tok, "USEUDP=", 7) == 0)
			continue;
		break;
	}
	if ((size_t)(p - tok) >= sizeof(r.cmd)) {
		error("unknown command");
		return;
	}
	memcpy(r.cmd, tok, (size_t)(p - tok));
	r.cmd[p - tok] = '\0';
	r.args = p;
	inet_ntop(AF_INET, &peer, ip, sizeof(ip));
	res = mydb_query("select node_id from interfaces where IP='%s' and role='ctrl'", 1, ip);
	if (res == NULL)
		return;
	row = mysql_fetch_row(res);
	if (row == NULL || row[0] == NULL || !word_ok(row[0]) || strlen(row[0]) >= sizeof(r.node)) {
		mysql_free_result(res);
		error("no node with control address %s", ip);
		return;
	}
	snprintf(r.node, sizeof(r.node), "%s", row[0]);
	mysql_free_result(res);
	if (opt.verbose)
		info("%s (%s, %s): vers %d %s%s", r.node, ip, tcp ? "tcp" : "udp", r.vers, r.cmd,
		     r.args);
	if (strcmp(r.cmd, "loadinfo") == 0)
		do_loadinfo(&r, out, outlen);
	else if (strcmp(r.cmd, "imageserverfail") == 0)
		(void)mbsel_tmcd_imageserverfail(r.node, r.args, out, outlen);
	else if (strcmp(r.cmd, "state") == 0)
		do_state(&r, out, outlen);
	else
		error("%s: command '%s' not served by mb-tmcd", r.node, r.cmd);
}

/* ---- transports ------------------------------------------------------------------ */

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Read until EOF, MAX_REQ or READ_TIMO_MS.  Returns the length or -1. */
static ssize_t
read_plain(int fd, char *buf, size_t have)
{
	double end = mono_ms() + READ_TIMO_MS;

	while (have < MAX_REQ) {
		struct pollfd pf = { fd, POLLIN, 0 };
		int left = (int)(end - mono_ms());
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, left) <= 0)
			break; /* take what came, as tmcd does on its read timeout */
		n = recv(fd, buf + have, MAX_REQ - have, 0);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		have += (size_t)n;
	}
	return (ssize_t)have;
}

/* 1 when the connection starts with the TLS tag, 0 when not (or the client
 * sent less and stopped), -1 on error or timeout with nothing sent.  Only
 * peeks: nothing is consumed. */
static int
peek_tag(int fd)
{
	double end = mono_ms() + READ_TIMO_MS;
	char buf[sizeof(SSL_TAG) - 1];

	for (;;) {
		struct pollfd pf = { fd, POLLIN, 0 };
		int left = (int)(end - mono_ms());
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n == 0)
			return -1; /* EOF before anything */
		if (n > 0 && memcmp(buf, SSL_TAG, (size_t)n) != 0)
			return 0;
		if (n == (ssize_t)sizeof(buf))
			return 1;
		if (left <= 0)
			return n > 0 ? 0 : -1;
		/* a prefix of the tag so far: wait for more (or the end) */
		if (poll(&pf, 1, left > 50 ? 50 : left) < 0 && errno != EINTR)
			return -1;
	}
}

static void
serve_tcp(int fd, struct in_addr peer)
{
	static char req[MAX_REQ + 1], out[64 * 1024];
	struct timeval tv = { READ_TIMO_MS / 1000, 0 };
	ssize_t n;

	/* Peek at the first bytes: the TLS tag, or the start of a plain request
	 * (a TLS client sends its ClientHello right after the tag). */
	n = peek_tag(fd);
	if (n < 0)
		return;
	if (n == 1) {
		SSL *ssl;
		int r;

		if (ssl_ctx == NULL) {
			error("TLS client but no --cert: closing");
			return;
		}
		if (recv(fd, req, sizeof(SSL_TAG) - 1, 0) != (ssize_t)sizeof(SSL_TAG) - 1)
			return;
		/* The tag is all the client sends before its handshake. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		ssl = SSL_new(ssl_ctx);
		if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
			char es[200];

			ERR_error_string_n(ERR_get_error(), es, sizeof(es));
			error("TLS handshake failed: %s", es);
			SSL_free(ssl);
			return;
		}
		r = SSL_read(ssl, req, MAX_REQ);
		if (r > 0) {
			handle(req, (size_t)r, peer, true, out, sizeof(out));
			if (out[0] != '\0')
				(void)SSL_write(ssl, out, (int)strlen(out));
		}
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
		return;
	}
	n = read_plain(fd, req, 0);
	if (n <= 0)
		return;
	handle(req, (size_t)n, peer, true, out, sizeof(out));
	for (size_t off = 0, len = strlen(out); off < len;) {
		ssize_t w = send(fd, out + off, len - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static void
serve_udp(int fd)
{
	static char req[MAX_REQ + 1], out[MAX_REPLY];
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	ssize_t n = recvfrom(fd, req, MAX_REQ, MSG_DONTWAIT, (struct sockaddr *)&sa, &sl);

	if (n <= 0 || sa.sin_family != AF_INET)
		return;
	handle(req, (size_t)n, sa.sin_addr, false, out, sizeof(out));
	/* An empty answer is a legal answer: send the empty datagram. */
	(void)sendto(fd, out, strlen(out), 0, (struct sockaddr *)&sa, sl);
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
on_chld(int sig)
{
	(void)sig;
}

static int
open_socket(int type)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	int fd, one = 1;

	if (inet_pton(AF_INET, opt.listen, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (type == SOCK_STREAM && listen(fd, 128) == -1)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: mb-tmcd --boss-ip A.B.C.D [--port 7777] [--listen 0.0.0.0]\n"
		   "              [--db-socket PATH] [--db-name tbdb] [--db-user root]\n"
		   "              [--cert PEM --key PEM --ca PEM] [--provenance] [-v]\n"
		   "--provenance: IMAGEID=pid,gid,name:version for protocol >= 39 (tmcd\n"
		   "built with IMAGEPROVENANCE)\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "boss-ip", 1, NULL, 'b' },   { "port", 1, NULL, 'p' },
		{ "listen", 1, NULL, 'l' },    { "db-socket", 1, NULL, 's' },
		{ "db-name", 1, NULL, 'd' },   { "db-user", 1, NULL, 'u' },
		{ "cert", 1, NULL, 'c' },      { "key", 1, NULL, 'k' },
		{ "ca", 1, NULL, 'C' },	       { "verbose", 0, NULL, 'v' },
		{ "provenance", 0, NULL, 'P' },
		{ "help", 0, NULL, 'h' },      { NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_signal }, sc = { .sa_handler = on_chld };
	int c, tfd, ufd;

	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'b': opt.boss_ip = optarg; break;
		case 'p': opt.port = (unsigned)atoi(optarg); break;
		case 'l': opt.listen = optarg; break;
		case 's': opt.db_socket = optarg; break;
		case 'd': opt.db_name = optarg; break;
		case 'u': opt.db_user = optarg; break;
		case 'c': opt.cert = optarg; break;
		case 'k': opt.key = optarg; break;
		case 'C': opt.ca = optarg; break;
		case 'v': opt.verbose = true; break;
		case 'P': opt.provenance = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (opt.boss_ip == NULL || !mbsel_valid_ipv4(opt.boss_ip) || opt.port == 0 ||
	    opt.port > 65535) {
		usage(stderr);
		return 2;
	}
	if (opt.cert != NULL) {
		ssl_ctx = SSL_CTX_new(TLS_server_method());
		if (ssl_ctx == NULL ||
		    SSL_CTX_use_certificate_chain_file(ssl_ctx, opt.cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ssl_ctx, opt.key ? opt.key : opt.cert,
						SSL_FILETYPE_PEM) != 1 ||
		    (opt.ca != NULL && SSL_CTX_load_verify_locations(ssl_ctx, opt.ca, NULL) != 1)) {
			error("TLS credentials cannot be loaded");
			return 1;
		}
		if (opt.ca != NULL)
			SSL_CTX_set_verify(ssl_ctx,
					   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	tfd = open_socket(SOCK_STREAM);
	ufd = open_socket(SOCK_DGRAM);
	if (tfd < 0 || ufd < 0) {
		error("cannot listen on %s:%u: %s", opt.listen, opt.port, strerror(errno));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGCHLD, &sc, NULL);
	signal(SIGPIPE, SIG_IGN);
	info("serving tmcd protocol on %s:%u (tcp, udp), boss %s", opt.listen, opt.port,
	     opt.boss_ip);
	while (!stop) {
		struct pollfd pf[2] = { { tfd, POLLIN, 0 }, { ufd, POLLIN, 0 } };

		while (waitpid(-1, NULL, WNOHANG) > 0)
			nchildren--;
		/* At the child limit new connections wait in the backlog (not
		 * polled, so the loop does not spin on them). */
		if (nchildren >= MAX_CHILDREN)
			pf[0].fd = -1;
		if (poll(pf, 2, 1000) <= 0)
			continue;
		if (pf[1].revents & POLLIN)
			serve_udp(ufd);
		if ((pf[0].revents & POLLIN) && nchildren < MAX_CHILDREN) {
			struct sockaddr_in peer;
			socklen_t pl = sizeof(peer);
			int cfd = accept4(tfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
			pid_t pid;

			if (cfd == -1)
				continue;
			pid = fork();
			if (pid == 0) {
				/* the parent's connection is not ours: a new one */
				conn = NULL;
				close(tfd);
				close(ufd);
				signal(SIGCHLD, SIG_DFL);
				alarm(CHILD_ALARM_S);
				serve_tcp(cfd, peer.sin_addr);
				close(cfd);
				if (conn != NULL)
					mysql_close(conn);
				_exit(0);
			}
			if (pid > 0)
				nchildren++;
			close(cfd);
		}
	}
	while (nchildren > 0 && wait(NULL) > 0)
		nchildren--;
	return 0;
}
