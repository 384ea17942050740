/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-frisbee: a Frisbee receiver on kernel UDP sockets, for tests and
 * benchmarks of miniboss (and of the stock frisbeed).
 *
 * It speaks the client side of doc/frisbee-protocol.md: JOIN (v1) or JOIN2
 * (-N), requests chunks in a shuffled order within the readahead/inprogress
 * windows, re-requests missing blocks with PREQUEST after idle ticks with
 * back-off, snoops other clients' requests to avoid duplicate NAKs, and sends
 * one LEAVE2 at the end.  With -S/-F it first asks a master server where the
 * image is served (retrying TRYAGAIN every -B seconds).  It does not
 * decompress: it writes the served bytes (trimmed to the JOIN2 byte count;
 * with JOIN v1, which gives only a block count, whole 1 KiB blocks, the last
 * one as the server pads it) into the output (through a shared mapping
 * when the output can be mapped, else with pwrite), then computes their
 * SHA-256 and compares it with --sha256.  Single-threaded; one block is
 * written as soon as it arrives, so memory does not grow with the image.
 * Datagrams are read in batches (recvmmsg) so that a busy group costs few
 * system calls.
 *
 * Multicast keepalive (-K SECS, default 1, 0 = off): after SECS without a
 * valid packet while a member of the group, it drops and re-adds its
 * membership, which makes the kernel send a fresh unsolicited IGMP report;
 * a snooping switch that never saw (or forgot) our report learns the port
 * again.  Repeated with back-off (doubling, up to 8 s) while the silence
 * lasts; counted as igmp_rejoins.
 *
 * --status-file PATH keeps a one-line machine-readable status in PATH,
 * replaced atomically (tmp + rename) about 5 times a second and at the end:
 * "STATE RECEIVED_BYTES TOTAL_BYTES SECONDS", STATE one of join, recv,
 * verify, ok, mismatch, timeout (tools/demo.sh draws its progress from it).
 *
 * Exit status: 0 ok, 1 checksum mismatch, 2 usage, 3 timeout, 4 master
 * server error, 5 local error (socket, output file).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "fris_rx.h"
#include "fris_wire.h"
#include "mb_time.h"
#include "ms_wire.h"

#define EXIT_CSUM 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3
#define EXIT_MASTER 4
#define EXIT_LOCAL 5

#define JOIN_RESEND_NS (500 * MB_NS_PER_MS)
#define STATUS_EVERY_NS (200 * MB_NS_PER_MS)
#define KA_MAX_NS (8 * MB_NS_PER_SEC)	/* keepalive back-off ceiling */
#define RX_BATCH 32			/* datagrams per recvmmsg */

struct opts {
	uint32_t myip;		/* network order, 0 = unknown */
	uint32_t addr;		/* -m */
	uint16_t port;
	uint32_t server;	/* -S, network order */
	const char *imageid;
	uint16_t msport;
	bool raw;		/* -N: JOIN2 */
	bool bcast;
	bool inorder;
	unsigned int timeout_s;
	unsigned int keepalive_s;	/* -K, 0 = off */
	unsigned int heartbeat_s;	/* -H: PROGRESS reports, 0 = off */
	int tryagain_s;		/* -B, -1 = fail */
	const char *sha256;
	bool progress;
	bool json;
	bool quiet;
	const char *status_file;	/* --status-file, NULL = none */
	const char *output;
};

struct rx {
	struct opts o;
	int rsock, ssock, fd;
	uint8_t *map;		/* shared mapping of the output, NULL = pwrite */
	struct sockaddr_in dst;
	uint32_t group;		/* network order, 0 if not multicast */
	uint32_t clientid;

	uint64_t join_bytes;	/* from the JOIN reply */
	uint32_t nchunks;	/* 0 until joined */
	struct mb_frx st;	/* chunk state, after the JOIN */

	uint64_t start_ns, join_ns, last_valid, last_status, last_hb;
	uint16_t hb_seq;
	uint64_t ka_at, ka_wait;	/* last membership refresh, current wait */
	uint64_t joins, noise, foreign, rejoins;
	uint64_t drops[MB_FRIS_RESULT_MAX];
};

static void
usage_to(FILE *f, int status)
{
	fprintf(f,
		"usage: mb-frisbee [-i myip] (-m addr -p port | -S server -F imageid [-P msport])\n"
		"                  [-S server] [-b] [-N] [-O] [-B secs] [-T timeout] [-q]\n"
		"                  [-K keepalive_secs] [-H report_secs] [--sha256 HEX]\n"
		"                  [--progress] [--json]\n"
		"                  [--status-file PATH]\n"
		"                  OUTPUT\n");
	if (f == stdout)
		fprintf(f, "\nReceive an image over Frisbee (as the stock client does) and write "
			   "it to OUTPUT.\nSee mb-frisbee(1).\n");
	exit(status);
}

static void
usage(void)
{
	usage_to(stderr, EXIT_USAGE);
}

static uint32_t
parse_ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "mb-frisbee: bad IPv4 address '%s'\n", s);
		exit(EXIT_USAGE);
	}
	return a.s_addr;
}

static unsigned long
parse_num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v > max) {
		fprintf(stderr, "mb-frisbee: bad number '%s'\n", s);
		exit(EXIT_USAGE);
	}
	return v;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"sha256", required_argument, NULL, 1},
		{"progress", no_argument, NULL, 2},
		{"json", no_argument, NULL, 3},
		{"status-file", required_argument, NULL, 4},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->msport = MB_MS_PORT;
	o->tryagain_s = -1;
	o->keepalive_s = 1;
	while ((c = getopt_long(argc, argv, "i:m:p:S:F:P:NbOB:T:K:H:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o->myip = parse_ip(optarg); break;
		case 'm': o->addr = parse_ip(optarg); break;
		case 'p': o->port = (uint16_t)parse_num(optarg, 65535); break;
		case 'S': o->server = parse_ip(optarg); break;
		case 'F': o->imageid = optarg; break;
		case 'P': o->msport = (uint16_t)parse_num(optarg, 65535); break;
		case 'N': o->raw = true; break;
		case 'b': o->bcast = true; break;
		case 'O': o->inorder = true; break;
		case 'B': o->tryagain_s = (int)parse_num(optarg, 3600); break;
		case 'T': o->timeout_s = (unsigned int)parse_num(optarg, 86400 * 7); break;
		case 'K': o->keepalive_s = (unsigned int)parse_num(optarg, 3600); break;
		case 'H': o->heartbeat_s = (unsigned int)parse_num(optarg, 3600); break;
		case 'q': o->quiet = true; break;
		case 1:
			o->sha256 = optarg;
			if (strlen(optarg) != 64 ||
			    strspn(optarg, "0123456789abcdefABCDEF") != 64) {
				fprintf(stderr, "mb-frisbee: --sha256 wants 64 hex digits\n");
				exit(EXIT_USAGE);
			}
			break;
		case 2: o->progress = true; break;
		case 3: o->json = true; break;
		case 4: o->status_file = optarg; break;
		case 'h': usage_to(stdout, 0); break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	o->output = argv[optind];
	if (o->imageid != NULL) {
		if (o->server == 0) {
			fprintf(stderr, "mb-frisbee: -F needs -S server\n");
			exit(EXIT_USAGE);
		}
	} else if (o->addr == 0 || o->port == 0) {
		usage();
	}
}

/* ---- master server --------------------------------------------------------- */

/* Read exactly len bytes or fail; the socket has a receive timeout. */
static int
read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		got += (size_t)n;
	}
	return 0;
}

/* One GET; 0 with *rep filled, or -errno (connection or protocol). */
static int
master_get(struct opts *o, struct mb_ms_get_reply *rep)
{
	struct mb_ms_get_request req;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = o->timeout_s ? o->timeout_s : 30};
	uint8_t buf[MB_MS_MSG_MAX];
	const char *why = NULL;
	socklen_t sl = sizeof(sa);
	int fd, rc;

	memset(&req, 0, sizeof(req));
	req.methods = MB_MS_METHOD_ANY;
	req.status = 0;
	snprintf(req.imageid, sizeof(req.imageid), "%s", o->imageid);
	req.idlen = (uint16_t)strlen(req.imageid);
	rc = mb_ms_get_request_encode(&req, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	sa.sin_addr.s_addr = o->server;
	sa.sin_port = htons(o->msport);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		rc = -errno;
		goto out;
	}
	if (o->myip == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		o->myip = sa.sin_addr.s_addr;
	if (write(fd, buf, MB_MS_GETREQ_LEN) != MB_MS_GETREQ_LEN) {
		rc = -EIO;
		goto out;
	}
	rc = read_full(fd, buf, MB_MS_GETREPLY_LEN);
	if (rc < 0)
		goto out;
	rc = mb_ms_get_reply_decode(buf, MB_MS_GETREPLY_LEN, rep, &why);
	if (rc < 0)
		fprintf(stderr, "mb-frisbee: bad master server reply: %s\n", why ? why : "?");
out:
	close(fd);
	return rc;
}

static void
master_lookup(struct opts *o)
{
	struct mb_ms_get_reply rep;
	int rc;

	for (;;) {
		rc = master_get(o, &rep);
		if (rc < 0) {
			fprintf(stderr, "mb-frisbee: master server request failed: %s\n",
				strerror(-rc));
			exit(EXIT_MASTER);
		}
		if (rep.error != MB_MS_ERROR_TRYAGAIN)
			break;
		if (o->tryagain_s < 0) {
			fprintf(stderr, "mb-frisbee: master server says TRYAGAIN, no -B\n");
			exit(EXIT_MASTER);
		}
		if (!o->quiet)
			fprintf(stderr, "mb-frisbee: TRYAGAIN, retrying in %ds\n", o->tryagain_s);
		sleep((unsigned int)o->tryagain_s);
	}
	if (rep.error != MB_MS_ERROR_NONE) {
		fprintf(stderr, "mb-frisbee: master server error %s for '%s'\n",
			mb_ms_error_name(rep.error), o->imageid);
		exit(EXIT_MASTER);
	}
	if (rep.port == 0 || rep.servaddr == 0) {
		fprintf(stderr, "mb-frisbee: master server reply without address/port\n");
		exit(EXIT_MASTER);
	}
	o->server = htonl(rep.servaddr);
	o->addr = htonl(rep.method == MB_MS_METHOD_UNICAST ? rep.servaddr : rep.addr);
	o->port = rep.port;
	o->bcast = rep.method == MB_MS_METHOD_BROADCAST;
}

/* ---- sockets --------------------------------------------------------------- */

static int
udp_socket(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd, one = 1, buf = 4 << 20;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	sa.sin_addr.s_addr = addr;
	sa.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		fprintf(stderr, "mb-frisbee: bind %s:%u: %s\n", inet_ntoa(sa.sin_addr), port,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Without -i: the source address the kernel would use towards addr (our
 * srcip must match the IP source of what we send). 0 if unknown. */
static uint32_t
route_src(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = addr,
				 .sin_port = htons(port)};
	socklen_t sl = sizeof(sa);
	uint32_t ip = 0;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		ip = sa.sin_addr.s_addr;
	close(fd);
	return ip;
}

static int
net_init(struct rx *r)
{
	struct opts *o = &r->o;
	unsigned char ttl = MB_FRIS_MCAST_TTL, loop = 0;
	int one = 1;

	r->dst.sin_family = AF_INET;
	r->dst.sin_addr.s_addr = o->addr;
	r->dst.sin_port = htons(o->port);
	if ((ntohl(o->addr) >> 28) == 14) {
		struct ip_mreq mr = {.imr_multiaddr.s_addr = o->addr,
				     .imr_interface.s_addr = o->myip};
		struct in_addr ifa = {.s_addr = o->myip};

		r->group = o->addr;
		/* The stock production client: receive on group:port, send
		 * from myip:port so the UDP source is the session port. */
		r->rsock = udp_socket(o->addr, o->port);
		if (r->rsock < 0)
			return -1;
		if (setsockopt(r->rsock, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1) {
			perror("mb-frisbee: IP_ADD_MEMBERSHIP");
			return -1;
		}
		r->ssock = o->myip != 0 ? udp_socket(o->myip, o->port) : r->rsock;
		if (r->ssock < 0)
			return -1;
		(void)setsockopt(r->ssock, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
		(void)setsockopt(r->ssock, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
		(void)setsockopt(r->rsock, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
		if (o->myip != 0)
			(void)setsockopt(r->ssock, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa));
	} else {
		r->rsock = udp_socket(INADDR_ANY, o->port);
		if (r->rsock < 0)
			return -1;
		if (o->bcast)
			(void)setsockopt(r->rsock, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
		r->ssock = r->rsock;
	}
	return 0;
}

static void
send_pkt(struct rx *r, const void *buf, int len)
{
	if (len <= 0)
		return;
	if (sendto(r->ssock, buf, (size_t)len, 0, (struct sockaddr *)&r->dst,
		   sizeof(r->dst)) == -1 && !r->o.quiet)
		fprintf(stderr, "mb-frisbee: sendto: %s, ignoring\n", strerror(errno));
}

struct rxbatch {
	struct mmsghdr msg[RX_BATCH];
	struct iovec iov[RX_BATCH];
	struct sockaddr_in from[RX_BATCH];
	uint8_t buf[RX_BATCH][MB_FRIS_PKT_MAX + 64];
};

static int
recv_some(struct rx *r, struct rxbatch *b)
{
	int i, n;

	for (i = 0; i < RX_BATCH; i++) {
		b->iov[i].iov_base = b->buf[i];
		b->iov[i].iov_len = sizeof(b->buf[i]);
		memset(&b->msg[i].msg_hdr, 0, sizeof(b->msg[i].msg_hdr));
		b->msg[i].msg_hdr.msg_iov = &b->iov[i];
		b->msg[i].msg_hdr.msg_iovlen = 1;
		b->msg[i].msg_hdr.msg_name = &b->from[i];
		b->msg[i].msg_hdr.msg_namelen = sizeof(b->from[i]);
	}
	n = recvmmsg(r->rsock, b->msg, RX_BATCH, MSG_DONTWAIT, NULL);
	return n < 0 ? 0 : n;
}

/* Read what is queued (up to RX_BATCH datagrams), waiting up to timeout_ms
 * when nothing is; how many, 0 on timeout. */
static int
recv_batch(struct rx *r, struct rxbatch *b, int timeout_ms)
{
	struct pollfd pfd = {.fd = r->rsock, .events = POLLIN};
	int n;

	n = recv_some(r, b);
	if (n > 0)
		return n;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	return recv_some(r, b);
}

/*
 * Drop and re-add the group membership after keepalive_s without a valid
 * packet, then again after twice as long (up to KA_MAX_NS) while the silence
 * lasts: the kernel sends a fresh unsolicited IGMP report each time, so a
 * snooping switch that lost ours forwards the group to us again.
 */
static void
keepalive(struct rx *r, uint64_t now)
{
	struct ip_mreq mr = {.imr_multiaddr.s_addr = r->group,
			     .imr_interface.s_addr = r->o.myip};
	uint64_t base = r->o.keepalive_s * MB_NS_PER_SEC, since;

	if (r->group == 0 || base == 0)
		return;
	if (r->last_valid > r->ka_at)
		r->ka_wait = base;	/* heard something since: start over */
	since = r->last_valid > r->ka_at ? r->last_valid : r->ka_at;
	if (now - since < r->ka_wait)
		return;
	(void)setsockopt(r->rsock, IPPROTO_IP, IP_DROP_MEMBERSHIP, &mr, sizeof(mr));
	if (setsockopt(r->rsock, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1 &&
	    !r->o.quiet)
		fprintf(stderr, "mb-frisbee: re-adding the group membership: %s, retrying later\n",
			strerror(errno));
	r->rejoins++;
	r->ka_at = now;
	r->ka_wait *= 2;
	if (r->ka_wait > KA_MAX_NS)
		r->ka_wait = base > KA_MAX_NS ? base : KA_MAX_NS;
}

/* Decode and check addressing; true if the caller should look at m. */
static bool
accept_pkt(struct rx *r, const uint8_t *buf, size_t len, const struct sockaddr_in *from,
	   uint64_t now, struct mb_fris_msg *m)
{
	enum mb_fris_result res;

	res = mb_fris_decode(buf, len, r->nchunks ? r->nchunks : MB_FRIS_NCHUNKS_ANY, m);
	if (res == MB_FRIS_OK)
		res = mb_fris_check_source(m, from->sin_addr.s_addr, ntohs(from->sin_port),
					   r->o.port, r->group, false);
	r->drops[res]++;
	if (res != MB_FRIS_OK)
		return false;
	r->last_valid = now;
	return true;
}

/* Replace the --status-file line (best effort: a failure only loses a
 * progress update).  With force false, at most every STATUS_EVERY_NS. */
static void
status_write(struct rx *r, const char *state, uint64_t now, bool force)
{
	char tmp[4096], line[128];
	uint64_t from = r->join_ns ? r->join_ns : r->start_ns;
	int fd, len;

	if (r->o.status_file == NULL || (!force && now - r->last_status < STATUS_EVERY_NS))
		return;
	r->last_status = now;
	len = snprintf(line, sizeof(line), "%s %llu %llu %.3f\n", state,
		       (unsigned long long)r->st.rbytes, (unsigned long long)r->st.bytes,
		       (double)(now - from) / 1e9);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", r->o.status_file) >= sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	if (write(fd, line, (size_t)len) != len) {
		close(fd);
		(void)unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, r->o.status_file) == -1)
		(void)unlink(tmp);
}

static void
check_timeout(struct rx *r, uint64_t now)
{
	if (r->o.timeout_s != 0 && now - r->last_valid > r->o.timeout_s * MB_NS_PER_SEC) {
		status_write(r, "timeout", now, true);
		fprintf(stderr, "mb-frisbee: no valid packet for %us, giving up\n",
			r->o.timeout_s);
		exit(EXIT_TIMEOUT);
	}
}

/* ---- join ------------------------------------------------------------------ */

static void
join(struct rx *r, struct rxbatch *b)
{
	uint8_t buf[MB_FRIS_PKT_MAX];
	struct mb_fris_msg m;
	uint64_t now, last_send = 0;
	int n, i;

	for (;;) {
		now = mb_time_mono_ns();
		check_timeout(r, now);
		keepalive(r, now);
		status_write(r, "join", now, false);
		if (now - last_send >= JOIN_RESEND_NS) {
			if (r->o.raw)
				send_pkt(r, buf, mb_fris_encode_join2(buf, sizeof(buf), r->o.myip,
								      r->clientid));
			else
				send_pkt(r, buf, mb_fris_encode_join(buf, sizeof(buf), r->o.myip,
								     r->clientid));
			r->joins++;
			last_send = now;
		}
		n = recv_batch(r, b, 50);
		now = mb_time_mono_ns();
		for (i = 0; i < n; i++) {
			if (!accept_pkt(r, b->buf[i], b->msg[i].msg_len, &b->from[i], now, &m))
				continue;
			if (!r->o.raw && m.kind == MB_FRIS_K_JOIN_REPLY) {
				r->join_bytes = (uint64_t)m.u.join_reply.blockcount *
						MB_FRIS_BLOCK_SIZE;
				goto joined;
			}
			if (r->o.raw && m.kind == MB_FRIS_K_JOIN2_REPLY &&
			    m.u.join2.clientid == r->clientid) {
				r->join_bytes = m.u.join2.bytecount;
				goto joined;
			}
			r->noise++;
		}
	}
joined:
	if (r->o.server == 0)
		r->o.server = m.hdr.srcip;	/* BLOCKs must come from the JOIN replier */
	r->join_ns = mb_time_mono_ns();
}

static void
frx_send(void *arg, const void *buf, int len)
{
	send_pkt(arg, buf, len);
}

static void
progress_line(struct rx *r, uint64_t now, bool final)
{
	const struct mb_frx *st = &r->st;
	double secs = (double)(now - r->join_ns) / 1e9;
	double mbs = secs > 0 ? (double)st->rbytes / secs / 1e6 : 0;
	double pct = st->bytes ? 100.0 * (double)st->rbytes / (double)st->bytes : 100;
	double eta = mbs > 0 ? (double)(st->bytes - st->rbytes) / 1e6 / mbs : 0;

	fprintf(stderr, "\r%6.2f%% %8.2f MB/s  ETA %5.0fs  %u/%u chunks%s", pct, mbs, eta,
		st->done, st->nchunks, final ? "\n" : "");
}

/* One datagram of the session. */
static void
handle_pkt(struct rx *r, const uint8_t *buf, size_t n, const struct sockaddr_in *from,
	   uint64_t now)
{
	struct mb_fris_msg m;
	uint64_t off;
	uint32_t len;

	if (!accept_pkt(r, buf, n, from, now, &m))
		return;
	switch (m.kind) {
	case MB_FRIS_K_BLOCK:
		/* Only the server we joined may send blocks. */
		if (m.hdr.srcip != r->o.server) {
			r->foreign++;
			mb_frx_heard(&r->st, now);
			break;
		}
		len = mb_frx_block(&r->st, m.u.block.chunk, m.u.block.block, now, &off);
		if (len == 0)
			break;
		if (r->map != NULL) {
			memcpy(r->map + off, m.u.block.data, len);
		} else if (pwrite(r->fd, m.u.block.data, len, (off_t)off) != (ssize_t)len) {
			fprintf(stderr, "mb-frisbee: write '%s': %s\n", r->o.output,
				strerror(errno));
			exit(EXIT_LOCAL);
		}
		break;
	default:
		if (!mb_frx_snoop(&r->st, &m, now))
			r->noise++;
		break;
	}
}

/*
 * -H: every heartbeat_s, a full PROGRESS report (chunks in and written,
 * bytes written), as the 2020+ stock client sends with -H; the server takes
 * it as the node's own word on its progress.  It goes to the server's own
 * address on the session port, not to the group: older stock clients (a
 * 1056-byte receive buffer) log every 1076-byte report they hear as a bad
 * message.
 */
static void
heartbeat(struct rx *r, uint64_t now)
{
	struct sockaddr_in to = r->dst;
	uint8_t buf[MB_FRIS_PKT_MAX];
	int len;

	if (r->o.heartbeat_s == 0 || now - r->last_hb < r->o.heartbeat_s * MB_NS_PER_SEC)
		return;
	r->last_hb = now;
	len = mb_fris_encode_progress_report(buf, sizeof(buf), r->o.myip, r->clientid, r->o.myip,
					     (uint32_t)((now - r->join_ns) / MB_NS_PER_SEC),
					     MB_FRIS_PROGRESS_SUMMARY, r->hb_seq++, true,
					     r->st.done, r->st.done, r->st.rbytes);
	if (r->o.server != 0)
		to.sin_addr.s_addr = r->o.server;
	if (len > 0 && sendto(r->ssock, buf, (size_t)len, 0, (struct sockaddr *)&to,
			      sizeof(to)) == -1 && !r->o.quiet)
		fprintf(stderr, "mb-frisbee: sendto: %s, ignoring\n", strerror(errno));
}

static void
receive_loop(struct rx *r, struct rxbatch *b)
{
	uint64_t now, last_prog = 0;
	int n, i;

	mb_frx_start(&r->st, mb_time_mono_ns());
	while (!mb_frx_complete(&r->st)) {
		now = mb_time_mono_ns();
		check_timeout(r, now);
		keepalive(r, now);
		mb_frx_tick(&r->st, now);
		heartbeat(r, now);
		status_write(r, "recv", now, false);
		if (r->o.progress && now - last_prog >= 500 * MB_NS_PER_MS) {
			progress_line(r, now, false);
			last_prog = now;
		}
		n = recv_batch(r, b, MB_FRIS_PKTRCV_TIMEOUT_US / 1000);
		now = mb_time_mono_ns();
		for (i = 0; i < n && !mb_frx_complete(&r->st); i++)
			handle_pkt(r, b->buf[i], b->msg[i].msg_len, &b->from[i], now);
	}
	if (r->o.progress)
		progress_line(r, mb_time_mono_ns(), true);
}

/* ---- output ---------------------------------------------------------------- */

static int
file_sha256(int fd, uint64_t bytes, char *hex)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	static uint8_t buf[1 << 20];
	unsigned int mdlen = 0, i;
	uint64_t off = 0;
	ssize_t n;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	while (off < bytes) {
		size_t want = bytes - off < sizeof(buf) ? (size_t)(bytes - off) : sizeof(buf);

		n = pread(fd, buf, want, (off_t)off);
		if (n <= 0) {
			EVP_MD_CTX_free(ctx);
			return n == 0 ? -EIO : -errno;
		}
		(void)EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += (uint64_t)n;
	}
	(void)EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct rxbatch batch;
	static struct rx rx;
	struct rx *r = &rx;
	uint8_t buf[MB_FRIS_LEAVE2_LEN];
	char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
	struct stat st;
	double secs;
	bool ok = true;
	int rc;

	parse_args(argc, argv, &r->o);
	if (r->o.imageid != NULL)
		master_lookup(&r->o);
	if (getrandom(&r->clientid, sizeof(r->clientid), 0) != sizeof(r->clientid))
		r->clientid = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	if (r->o.myip == 0)
		r->o.myip = route_src(r->o.addr, r->o.port);
	if (net_init(r) < 0)
		return EXIT_LOCAL;
	r->fd = open(r->o.output, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (r->fd == -1) {
		fprintf(stderr, "mb-frisbee: open '%s': %s\n", r->o.output, strerror(errno));
		return EXIT_LOCAL;
	}
	r->start_ns = r->last_valid = mb_time_mono_ns();
	join(r, &batch);
	if (r->join_bytes == 0) {
		fprintf(stderr, "mb-frisbee: server reports an empty image\n");
		return EXIT_LOCAL;
	}
	rc = mb_frx_init(&r->st, r->join_bytes, !r->o.raw, r->o.myip, r->o.inorder,
			 (unsigned int)(r->o.myip ^ (uint32_t)time(NULL) ^ (uint32_t)getpid() ^
					r->clientid),
			 frx_send, r);
	if (rc < 0) {
		fprintf(stderr, "mb-frisbee: cannot track %llu bytes: %s\n",
			(unsigned long long)r->join_bytes, strerror(-rc));
		return EXIT_LOCAL;
	}
	r->nchunks = r->st.nchunks;
	if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode)) {
		void *p;

		if (ftruncate(r->fd, (off_t)r->st.bytes) == -1) {
			fprintf(stderr, "mb-frisbee: truncate '%s': %s\n", r->o.output,
				strerror(errno));
			return EXIT_LOCAL;
		}
		/* Blocks are copied into place without a system call each. */
		p = mmap(NULL, (size_t)r->st.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
		if (p != MAP_FAILED)
			r->map = p;
	}

	receive_loop(r, &batch);
	if (r->map != NULL) {
		(void)munmap(r->map, (size_t)r->st.bytes);
		r->map = NULL;
	}
	secs = (double)(mb_time_mono_ns() - r->join_ns) / 1e9;
	send_pkt(r, buf, mb_fris_encode_leave2(buf, sizeof(buf), r->o.myip, r->clientid,
					       (uint32_t)((mb_time_mono_ns() - r->start_ns) /
							  MB_NS_PER_SEC), NULL));
	status_write(r, "verify", mb_time_mono_ns(), true);
	if (fsync(r->fd) == -1 && errno != EINVAL)
		fprintf(stderr, "mb-frisbee: fsync: %s, ignoring\n", strerror(errno));
	rc = file_sha256(r->fd, r->st.bytes, hex);
	if (rc < 0) {
		fprintf(stderr, "mb-frisbee: reading back '%s': %s\n", r->o.output, strerror(-rc));
		return EXIT_LOCAL;
	}
	if (r->o.sha256 != NULL && strcasecmp(r->o.sha256, hex) != 0)
		ok = false;
	/* The final line keeps the transfer time, not the time spent hashing. */
	status_write(r, ok ? "ok" : "mismatch", r->join_ns + (uint64_t)(secs * 1e9), true);

	if (r->o.json) {
		json_t *j = json_object(), *d = json_object();
		unsigned int i;

		for (i = 1; i < MB_FRIS_RESULT_MAX; i++)
			if (r->drops[i] != 0)
				json_object_set_new(d, mb_fris_result_name(i),
						    json_integer((json_int_t)r->drops[i]));
		json_object_set_new(j, "bytes", json_integer((json_int_t)r->st.bytes));
		json_object_set_new(j, "seconds", json_real(secs));
		json_object_set_new(j, "mbit_per_s",
				    json_real(secs > 0 ? (double)r->st.bytes * 8 / secs / 1e6 : 0));
		json_object_set_new(j, "chunks", json_integer(r->nchunks));
		json_object_set_new(j, "blocks", json_integer((json_int_t)r->st.blocks));
		json_object_set_new(j, "dup_blocks", json_integer((json_int_t)r->st.dupblocks));
		json_object_set_new(j, "requests", json_integer((json_int_t)r->st.requests));
		json_object_set_new(j, "prequests", json_integer((json_int_t)r->st.prequests));
		json_object_set_new(j, "rerequests", json_integer((json_int_t)r->st.rerequests));
		json_object_set_new(j, "joins_sent", json_integer((json_int_t)r->joins));
		json_object_set_new(j, "snooped", json_integer((json_int_t)r->st.snooped));
		json_object_set_new(j, "idle_timeouts", json_integer((json_int_t)r->st.timeouts));
		json_object_set_new(j, "igmp_rejoins", json_integer((json_int_t)r->rejoins));
		json_object_set_new(j, "drops", d);
		json_object_set_new(j, "sha256", json_string(hex));
		json_object_set_new(j, "sha256_ok", r->o.sha256 ? json_boolean(ok) : json_null());
		json_object_set_new(j, "mode", json_string(r->o.raw ? "join2" : "join1"));
		json_dumpf(j, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(j);
	} else if (!r->o.quiet) {
		printf("%llu bytes in %.3f s = %.2f Mbit/s, %llu dup blocks, %llu requests "
		       "(%llu REQUEST + %llu PREQUEST), %llu IGMP rejoins, sha256 %s%s\n",
		       (unsigned long long)r->st.bytes, secs,
		       secs > 0 ? (double)r->st.bytes * 8 / secs / 1e6 : 0,
		       (unsigned long long)r->st.dupblocks,
		       (unsigned long long)(r->st.requests + r->st.prequests),
		       (unsigned long long)r->st.requests, (unsigned long long)r->st.prequests,
		       (unsigned long long)r->rejoins, hex,
		       r->o.sha256 == NULL ? "" : ok ? " (ok)" : " (MISMATCH)");
	}
	fflush(stdout);
	if (!ok) {
		fprintf(stderr, "mb-frisbee: checksum mismatch: got %s, want %s\n", hex,
			r->o.sha256);
		return EXIT_CSUM;
	}
	close(r->fd);
	return 0;
}
