/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * FTP control connections on the control thread: a kernel listening socket
 * on tcp.ftp-port (the dataplane's exception path brings the client's
 * packets to the host kernel), one mb_ftp_session per client, and the
 * hand-off of every data transfer to the dataplane's TCP: PASV/EPSV open a
 * passive port there with mb_dp_tcp_expect(port, peer, NULL...), RETR and
 * the listings supply the bytes (the image, or a listing generated into a
 * heap send buffer), and the dataplane's MB_DP_EV_FTP_XFER_END event (with
 * the transfer's 64-bit cookie) turns into the 226/426 reply.  The data never passes through this thread.
 *
 * Limits: FTP_MAX_CLIENTS clients, tcp.ftp-max-per-source of them from one
 * address (the next gets 421, counted), one command line of MB_FTP_LINE_MAX
 * bytes, replies sent with one non-blocking send (a client that does not
 * read its replies is dropped), an idle timeout.  Paths outside the image
 * namespace are refused (550), counted, and logged at most 10 times in 10 s
 * (then with the count of lines left out).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_dp.h"
#include "mb_ftp.h"
#include "mb_image.h"
#include "mb_log.h"

#define FTP_MAX_CLIENTS 256
#define FTP_IDLE_MS (300u * 1000u)
#define FTP_LIST_MAX (1u << 20)

struct ftp_client {
	int fd;
	uint32_t peer;	/* network order */
	uint32_t local; /* network order: the address the client reached */
	struct mb_ftp_session sess;
	char in[MB_FTP_LINE_MAX];
	size_t inlen;
	bool discarding; /* an overlong line: skip to its end */
	uint16_t data_port;
	uint64_t cookie;
	bool xfer; /* RETR/LIST handed to the dataplane, 226 pending */
	char xfer_what[MB_IMAGE_NAME_MAX + 1]; /* for health: what is being sent */
	uint64_t xfer_len;
	struct mb_ctl_timer *idle; /* owned: created at accept, freed by client_close */
	struct mb_ctl_defer reap;  /* frees the struct after the handler on the stack */
	struct ftp_client *next;
};

static struct {
	int lfd;
	uint16_t port; /* the one listened on */
	uint16_t pasv_min, pasv_max, next_port;
	uint8_t *port_used;
	struct ftp_client *clients;
	unsigned nclients;
	uint64_t next_cookie;
	unsigned max_per_source; /* tcp.ftp-max-per-source */
	uint64_t refused, dropped, refused_draining, refused_source;
} F = { .lfd = -1 };

static void client_close(struct ftp_client *c, bool defer);

static void
fmt_peer(uint32_t a, char *buf, size_t cap)
{
	struct in_addr in = { .s_addr = a };

	if (inet_ntop(AF_INET, &in, buf, (socklen_t)cap) == NULL)
		snprintf(buf, cap, "?");
}

static bool
reply(struct ftp_client *c, const char *s, size_t n)
{
	ssize_t w;

	if (n == 0)
		return true;
	w = send(c->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w == -1 || (size_t)w != n) {
		F.dropped++;
		client_close(c, true);
		return false;
	}
	return true;
}

static bool
replys(struct ftp_client *c, const char *s)
{
	return reply(c, s, strlen(s));
}

/* ---- passive ports ---------------------------------------------------------- */

static void
port_release(struct ftp_client *c)
{
	if (c->data_port != 0)
		F.port_used[c->data_port - F.pasv_min] = 0;
	c->data_port = 0;
}

static uint16_t
port_alloc(void)
{
	unsigned n = (unsigned)(F.pasv_max - F.pasv_min) + 1;

	for (unsigned i = 0; i < n; i++) {
		uint16_t p = (uint16_t)(F.pasv_min + (F.next_port + i) % n);

		if (!F.port_used[p - F.pasv_min]) {
			F.port_used[p - F.pasv_min] = 1;
			F.next_port = (uint16_t)((F.next_port + i + 1) % n);
			return p;
		}
	}
	return 0;
}

/* ---- image namespace --------------------------------------------------------- */

static const struct mb_image *
lk_image(void *ctx, const char *name)
{
	(void)ctx;
	return mb_image_lookup(name, strlen(name));
}

static bool
lk_is_dir(void *ctx, const char *name)
{
	struct mb_image_table *tbl = rcu_dereference(mb_image_table_current);
	size_t n = strlen(name);

	(void)ctx;
	if (n == 0)
		return true;
	if (tbl == NULL)
		return false;
	for (uint32_t i = 0; i < tbl->count; i++)
		if (strncmp(tbl->img[i]->name, name, n) == 0 && tbl->img[i]->name[n] == '/')
			return true;
	return false;
}

static const struct mb_ftp_lookup lookup = { lk_image, lk_is_dir, NULL };

/* The listing of `dir` (or of one image) in the format of cmd, as a heap
 * send buffer with one reference (the caller's), or NULL.  Inside a read
 * side. */
static struct mb_sbuf *
listing(enum mb_ftp_cmd cmd, const char *dir)
{
	struct mb_image_table *tbl = rcu_dereference(mb_image_table_current);
	size_t cap = 4096, len = 0, dl = strlen(dir);
	char *buf = malloc(cap), last[MB_IMAGE_NAME_MAX + 1] = "";
	const struct mb_image *one = dl ? mb_image_lookup(dir, dl) : NULL;
	struct mb_sbuf *sb;

	if (buf == NULL)
		return NULL;
	for (uint32_t i = 0; tbl != NULL && i < tbl->count; i++) {
		const struct mb_image *im = tbl->img[i];
		const char *rest, *slash;
		char ent[MB_IMAGE_NAME_MAX + 1];
		char line[MB_IMAGE_NAME_MAX + 128];
		bool is_dir;
		int n;

		if (one != NULL) {
			if (im != one)
				continue;
			rest = strrchr(im->name, '/');
			rest = rest ? rest + 1 : im->name;
		} else if (dl == 0) {
			rest = im->name;
		} else if (strncmp(im->name, dir, dl) == 0 && im->name[dl] == '/') {
			rest = im->name + dl + 1;
		} else {
			continue;
		}
		slash = strchr(rest, '/');
		is_dir = slash != NULL;
		n = is_dir ? (int)(slash - rest) : (int)strlen(rest);
		snprintf(ent, sizeof(ent), "%.*s", n, rest);
		if (is_dir && strcmp(ent, last) == 0)
			continue; /* the table is sorted: a directory's images are adjacent */
		snprintf(last, sizeof(last), "%s", ent);
		n = mb_ftp_list_entry(cmd, ent, is_dir, im->size, im->mtime, line, sizeof(line));
		if (n < 0)
			continue;
		if (len + (size_t)n > FTP_LIST_MAX)
			break;
		if (len + (size_t)n > cap) {
			char *nb = realloc(buf, cap * 2 + (size_t)n);

			if (nb == NULL)
				break;
			buf = nb;
			cap = cap * 2 + (size_t)n;
		}
		memcpy(buf + len, line, (size_t)n);
		len += (size_t)n;
	}
	sb = mb_sbuf_new_copy(buf, len);
	free(buf);
	return sb;
}

/* ---- commands ------------------------------------------------------------------ */

/* The idle timer: it stays the client's, and client_close frees it (the
 * loop allows a timer to be freed from its own callback). */
static void
idle_expired(void *arg)
{
	struct ftp_client *c = arg;

	if (replys(c, "421 Timeout.\r\n"))
		client_close(c, true);
}

/* Hand bytes [off, off+len) of sb (our reference) to the open data port. */
static bool
start_xfer(struct ftp_client *c, struct mb_sbuf *sb, uint64_t off, uint64_t len,
	   const char *what)
{
	char buf[MB_IMAGE_NAME_MAX + 128];
	int rc;

	rc = mb_ctl_dp()->tcp_expect(c->data_port, c->peer, sb, off, len, c->cookie);
	if (rc < 0) {
		static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 10);

		mb_sbuf_unref(sb);
		port_release(c);
		MB_LOG_RL(&rl, WARNING, CTL, "ftp: data transfer not started: %s, ignoring",
			  strerror(-rc));
		return replys(c, "425 Cannot open data connection.\r\n");
	}
	c->xfer = true;
	snprintf(c->xfer_what, sizeof(c->xfer_what), "%s", what);
	c->xfer_len = len;
	snprintf(buf, sizeof(buf),
		 "150 Opening BINARY mode data connection for %s (%llu bytes).\r\n", what,
		 (unsigned long long)len);
	return replys(c, buf);
}

static void
handle_line(struct ftp_client *c, const char *line, size_t len)
{
	char out[MB_FTP_REPLY_MAX], addr[INET_ADDRSTRLEN];
	struct mb_ftp_action act;
	struct mb_image *img = NULL;
	struct mb_sbuf *sb;
	size_t n;
	uint16_t port;

	rcu_read_lock();
	n = mb_ftp_session_input(&c->sess, &lookup, line, len, out, sizeof(out), &act);
	if (act.refused_path) {
		static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 10);

		F.refused++;
		fmt_peer(c->peer, addr, sizeof(addr));
		MB_LOG_RL(&rl, NOTICE, CTL, "ftp: %s: path outside the image namespace refused",
			  addr);
	}
	switch (act.type) {
	case MB_FTP_ACT_PASV:
	case MB_FTP_ACT_EPSV:
		if (c->xfer) {
			rcu_read_unlock();
			(void)replys(c, "425 A transfer is already running.\r\n");
			return;
		}
		port_release(c);
		port = port_alloc();
		c->cookie = ++F.next_cookie;
		if (port == 0 || mb_ctl_dp()->tcp_expect(port, c->peer, NULL, 0, 0, c->cookie) < 0) {
			if (port != 0)
				F.port_used[port - F.pasv_min] = 0;
			rcu_read_unlock();
			(void)replys(c, "425 Cannot open passive port.\r\n");
			return;
		}
		c->data_port = port;
		if (act.type == MB_FTP_ACT_PASV) {
			uint32_t a = mb_ctl_dp()->local_addr();

			n = (size_t)mb_ftp_reply_pasv(a ? a : c->local, port, out, sizeof(out));
		} else {
			n = (size_t)mb_ftp_reply_epsv(port, out, sizeof(out));
		}
		break;
	case MB_FTP_ACT_RETR:
		img = (struct mb_image *)mb_image_lookup(act.path, strlen(act.path));
		if (img == NULL) {
			rcu_read_unlock();
			(void)replys(c, "550 Failed to open file.\r\n");
			return;
		}
		mb_image_ref(img);
		rcu_read_unlock();
		(void)start_xfer(c, &img->sb, act.offset, img->size - act.offset, act.path);
		return;
	case MB_FTP_ACT_LIST:
		sb = listing(act.cmd, act.path);
		rcu_read_unlock();
		if (sb == NULL) {
			(void)replys(c, "451 Out of memory.\r\n");
			return;
		}
		(void)start_xfer(c, sb, 0, sb->len, "the directory listing");
		return;
	case MB_FTP_ACT_ABOR:
		if (c->xfer) {
			/* the dataplane finishes or times out on its own; its event is
			 * ignored once the cookie moved on */
			c->xfer = false;
			c->cookie = ++F.next_cookie;
			port_release(c);
			rcu_read_unlock();
			if (!replys(c, "426 Transfer aborted.\r\n"))
				return;
			(void)reply(c, out, n);
			return;
		}
		break;
	case MB_FTP_ACT_QUIT:
		rcu_read_unlock();
		if (reply(c, out, n))
			client_close(c, true);
		return;
	default:
		break;
	}
	rcu_read_unlock();
	(void)reply(c, out, n);
}

static void
client_read(int fd, uint32_t events, void *arg)
{
	struct ftp_client *c = arg;
	char buf[2048];
	ssize_t r;

	(void)events;
	r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
		client_close(c, true);
		return;
	}
	if (r == -1)
		return;
	(void)mb_ctl_timer_rearm(c->idle, FTP_IDLE_MS, 0);
	for (ssize_t i = 0; i < r; i++) {
		char ch = buf[i];

		if (ch == '\n') {
			size_t l = c->inlen;

			if (c->discarding) {
				c->discarding = false;
				c->inlen = 0;
				if (!replys(c, "500 Command line too long.\r\n"))
					return;
				continue;
			}
			if (l > 0 && c->in[l - 1] == '\r')
				l--;
			c->inlen = 0;
			handle_line(c, c->in, l);
			if (c->fd < 0)
				return; /* closed while handling */
			continue;
		}
		if (c->discarding)
			continue;
		if (c->inlen >= sizeof(c->in)) {
			c->discarding = true;
			continue;
		}
		c->in[c->inlen++] = ch;
	}
}

static void
client_free(void *arg)
{
	free(arg);
}

/* Close and unlink now, with everything the client holds (descriptor, idle
 * timer, passive port); free the struct now, or (defer) once the handler
 * running returns, because the caller's stack may still hold the pointer (a
 * reply failing mid-command, the idle timer's own callback). */
static void
client_close(struct ftp_client *c, bool defer)
{
	struct ftp_client **pp;

	if (c->fd < 0)
		return;
	(void)mb_ctl_loop_del(c->fd);
	close(c->fd);
	c->fd = -1;
	port_release(c);
	mb_ctl_timer_free(c->idle);
	c->idle = NULL;
	for (pp = &F.clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	F.nclients--;
	if (defer)
		mb_ctl_defer(&c->reap, client_free, c);
	else
		free(c); /* stop: nothing on the stack uses it */
}

/* Control connections open from `peer` (network order). */
static unsigned
clients_from(uint32_t peer)
{
	unsigned n = 0;

	for (struct ftp_client *c = F.clients; c != NULL; c = c->next)
		n += c->peer == peer;
	return n;
}

static void
on_accept(int fd, uint32_t events, void *arg)
{
	struct sockaddr_in sa, la;
	socklen_t sl, ll;
	struct ftp_client *c;
	int cfd;

	(void)events;
	(void)arg;
	/* A bounded batch per wake-up; the listener is level-triggered. */
	for (int k = 0; k < 16; k++) {
		sl = sizeof(sa);
		ll = sizeof(la);
		cfd = mb_ctl_accept(fd, (struct sockaddr *)&sa, &sl);
		if (cfd == -1)
			return; /* nothing pending, or paused (out of descriptors) */
		if (mb_ctl_draining()) {
			static const char drain[] = "421 Service not available, draining.\r\n";

			(void)send(cfd, drain, sizeof(drain) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(cfd);
			F.refused_draining++;
			continue;
		}
		if (F.nclients >= FTP_MAX_CLIENTS) {
			static const char busy[] = "421 Too many users, try again later.\r\n";

			(void)send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(cfd);
			F.dropped++;
			continue;
		}
		if (clients_from(sa.sin_addr.s_addr) >= F.max_per_source) {
			static const char busy[] =
				"421 Too many connections from your address, try again later.\r\n";
			static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 10);
			char addr[INET_ADDRSTRLEN];

			(void)send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(cfd);
			F.refused_source++;
			fmt_peer(sa.sin_addr.s_addr, addr, sizeof(addr));
			MB_LOG_RL(&rl, NOTICE, CTL, "ftp: %s has %u control connections already, "
				  "refusing its next one", addr, F.max_per_source);
			continue;
		}
		if (getsockname(cfd, (struct sockaddr *)&la, &ll) == -1)
			la.sin_addr.s_addr = 0;
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->peer = sa.sin_addr.s_addr;
		c->local = la.sin_addr.s_addr;
		mb_ftp_session_init(&c->sess);
		c->idle = mb_ctl_timer_new(FTP_IDLE_MS, 0, idle_expired, c);
		if (c->idle == NULL || mb_ctl_loop_add(cfd, EPOLLIN, client_read, c) < 0) {
			mb_ctl_timer_free(c->idle);
			close(cfd);
			free(c);
			continue;
		}
		c->next = F.clients;
		F.clients = c;
		F.nclients++;
		(void)replys(c, "220 miniboss FTP server ready.\r\n");
	}
}

void
mb_ctl_ftp_xfer_done(uint64_t cookie, bool ok)
{
	for (struct ftp_client *c = F.clients; c != NULL; c = c->next) {
		if (c->cookie != cookie || !c->xfer)
			continue;
		c->xfer = false;
		port_release(c);
		(void)replys(c, ok ? "226 Transfer complete.\r\n"
				   : "426 Connection closed; transfer aborted.\r\n");
		return;
	}
}

static void
on_event(const struct mb_dp_event *ev, void *arg)
{
	(void)arg;
	mb_ctl_ftp_xfer_done(ev->u.xfer.cookie, ev->u.xfer.ok);
}

static json_t *
health_ftp(enum mb_health_state *worst, void *arg)
{
	(void)worst;
	(void)arg;
	return F.lfd >= 0 ? mb_ctl_ftp_json() : NULL; /* off: no section */
}

/* tcp.ftp-max-per-source: the next connection. */
static int
ftp_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	F.max_per_source = cfg->ftp_per_source != 0 ? (unsigned)cfg->ftp_per_source :
						      FTP_MAX_CLIENTS;
	return 0;
}

static int
ftp_start(const struct mb_config *cfg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int one = 1, rc;

	if (cfg->ftp_port == 0 || !cfg->tcp_enable)
		return 0;
	(void)ftp_reconfig(cfg, NULL, 0);
	F.pasv_min = (uint16_t)cfg->ftp_pasv_min;
	F.pasv_max = (uint16_t)cfg->ftp_pasv_max;
	F.port_used = calloc((size_t)(F.pasv_max - F.pasv_min) + 1, 1);
	if (F.port_used == NULL)
		return -ENOMEM;
	F.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (F.lfd == -1) {
		rc = -errno;
		goto err;
	}
	(void)setsockopt(F.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons(cfg->ftp_port == MB_CTL_PORT_ANY ? 0 : (uint16_t)cfg->ftp_port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(F.lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(F.lfd, 64) == -1 ||
	    getsockname(F.lfd, (struct sockaddr *)&sa, &salen) == -1) {
		rc = -errno;
		goto err;
	}
	rc = mb_ctl_loop_add(F.lfd, EPOLLIN, on_accept, NULL);
	if (rc < 0)
		goto err;
	F.port = ntohs(sa.sin_port);
	MB_LOG(INFO, CTL, "ftp: listening on port %u, passive ports %u-%u", (unsigned)F.port,
	       F.pasv_min, F.pasv_max);
	return 0;
err:
	MB_LOG(ERR, CTL, "ftp: cannot listen on port %u: %s", (unsigned)cfg->ftp_port,
	       strerror(-rc));
	if (F.lfd != -1)
		close(F.lfd);
	F.lfd = -1;
	free(F.port_used);
	F.port_used = NULL;
	return rc;
}

uint16_t
mb_ctl_ftp_port(void)
{
	return F.lfd >= 0 ? F.port : 0;
}

static void
ftp_stop(void)
{
	while (F.clients != NULL)
		client_close(F.clients, false);
	if (F.lfd != -1) {
		(void)mb_ctl_loop_del(F.lfd);
		close(F.lfd);
		F.lfd = -1;
	}
	free(F.port_used);
	F.port_used = NULL;
}

json_t *
mb_ctl_ftp_json(void)
{
	json_t *xfers = json_array();
	char addr[INET_ADDRSTRLEN];

	for (struct ftp_client *c = F.clients; xfers != NULL && c != NULL; c = c->next) {
		if (!c->xfer)
			continue;
		fmt_peer(c->peer, addr, sizeof(addr));
		json_array_append_new(xfers, json_pack("{s:s,s:s,s:I}", "peer", addr, "what",
						       c->xfer_what, "bytes",
						       (json_int_t)c->xfer_len));
	}
	return json_pack("{s:b,s:i,s:i,s:I,s:i,s:I,s:I,s:I,s:o}", "listening", F.lfd >= 0,
			 "clients", (int)F.nclients, "max-clients", FTP_MAX_CLIENTS,
			 "refused-draining", (json_int_t)F.refused_draining, "max-per-source",
			 (int)F.max_per_source, "refused-source", (json_int_t)F.refused_source,
			 "refused-paths", (json_int_t)F.refused, "dropped", (json_int_t)F.dropped,
			 "transfers", xfers != NULL ? xfers : json_array());
}

const struct mb_ctl_subsys mb_ctl_subsys_ftp = {
	.name = "ftp",
	.title = "FTP control",
	.start = ftp_start,
	.reconfig = ftp_reconfig,
	.stop = ftp_stop,
	.health_key = "ftp",
	.health = health_ftp,
	.events = { { MB_DP_EV_FTP_XFER_END, on_event } },
	.without = "continuing without FTP",
};
