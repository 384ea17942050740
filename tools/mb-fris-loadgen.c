/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-fris-loadgen: N Frisbee receivers in one process, for benchmarks.
 *
 * Each logical receiver has its own client id, JOIN, shuffled chunk order,
 * bitmaps, requests and completion time (the state machine of fris_rx.c, the
 * same as mb-frisbee's).  They share one multicast receive socket.  With
 * -a A, receiver k sends its JOIN, requests and LEAVE from address
 * myip + (k mod A) (A consecutive addresses, which must exist on the host),
 * one send socket per address, as A separate hosts would: a server that
 * tracks its clients by address (minibossd answers at most two JOINs per
 * 100 ms per address, and keeps its loss evidence per address) sees A
 * nodes.  With the default -a 1 every receiver shares myip.  Requests
 * of one receiver are shown to the others as if snooped on the group, as
 * separate hosts would see them, and every packet on the group breaks the
 * silence for all of them, as it would for hosts behind one switch; so N
 * logical receivers ask for what N stock clients would.  Nothing is written:
 * blocks only update the bitmaps, so 64 receivers fit on one core.
 * Multicast only.  Like mb-frisbee, the shared socket drops and re-adds its
 * group membership after -K seconds (default 1) without a valid packet,
 * with back-off, so a lost IGMP report does not stall everyone.
 *
 * Output: one JSON object on stdout with per-receiver completion times and
 * the aggregate throughput.  Exit 0 when all finished, 3 on timeout, 2 on
 * usage, 5 on a local error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fris_rx.h"
#include "fris_wire.h"
#include "mb_time.h"

#define MAX_RECEIVERS 1024
#define MAX_ADDRS 1024
/*
 * The shared receive socket's buffer.  One process receives for all N: when
 * the scheduler holds it back (a loaded machine), the buffer must carry what
 * the server sends meanwhile, or all N lose the same blocks at once, which N
 * hosts would not.  32 MiB (the kernel doubles it) holds about 100 ms of
 * BLOCKs at 1.5 Gbit/s.  -B MiB changes it, -B 0 keeps the system default.
 */
#define DEFAULT_RCVBUF_MIB 32
#define MAX_RCVBUF_MIB 1024
#define JOIN_RESEND_NS (500 * MB_NS_PER_MS)
#define KA_MAX_NS (8 * MB_NS_PER_SEC)
#define GAP_NS (10 * MB_NS_PER_MS)

enum lr_state {
	LR_WAIT = 0,	/* before its start time */
	LR_JOINING,
	LR_RUNNING,
	LR_DONE,
};

struct lr {
	struct mb_frx st;
	unsigned int id;
	uint32_t clientid;
	uint32_t ip;		/* network order: its source address */
	int ssock;		/* the send socket of that address */
	enum lr_state state;
	uint64_t start_at;
	uint64_t last_join;
	uint64_t joined_at;
	uint64_t done_at;
};

static struct {
	uint32_t myip, group;
	uint16_t port;
	unsigned int n;
	unsigned int naddr;
	unsigned int rcvbuf_mib;
	bool raw;
	double stagger;
	unsigned int timeout_s;
	unsigned int keepalive_s;
	int rsock, *ssock;
	struct sockaddr_in dst;
	struct lr *lr;
	uint64_t t0;
	uint64_t last_valid, ka_at, ka_wait;
	uint64_t blocks_rx, drops, rejoins;
	/* where the time went: first and last BLOCK, and the silences between
	 * BLOCKs longer than GAP_NS (the server idle, or waiting for us) */
	uint64_t first_block, last_block, gaps, gap_ns;
} g;

static void
usage_to(FILE *f, int status)
{
	fprintf(f, "usage: mb-fris-loadgen -i myip -m group -p port -n receivers [-N]\n"
		   "                       [-a addrs] [-B rcvbuf_mib] [-r stagger_secs]\n"
		   "                       [-T timeout_secs] [-K secs]\n");
	if (f == stdout)
		fprintf(f, "\nRun N emulated Frisbee receivers on one group and port; print a "
			   "JSON report.\n-a A: receiver k sends from myip + (k mod A) "
			   "(default 1).\n-B MiB: the receive socket's buffer (default %d, 0 = the "
			   "system's).\n(For benchmarks.)\n", DEFAULT_RCVBUF_MIB);
	exit(status);
}

static void
usage(void)
{
	usage_to(stderr, 2);
}

/*
 * A UDP socket bound to addr:port with a receive buffer of `rcvbuf` bytes
 * (0: the system's default): SO_RCVBUFFORCE when we may (CAP_NET_ADMIN: the
 * benchmarks run as root), else SO_RCVBUF, which net.core.rmem_max caps
 * (212992 on a stock Debian: about 100 BLOCKs).
 */
static int
udp_socket(uint32_t addr, uint16_t port, int rcvbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = addr,
				 .sin_port = htons(port)};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		perror("mb-fris-loadgen: bind");
		close(fd);
		return -1;
	}
	return fd;
}

static void
send_raw(const struct lr *l, const void *buf, int len)
{
	if (len > 0)
		(void)sendto(l->ssock, buf, (size_t)len, 0, (struct sockaddr *)&g.dst,
			     sizeof(g.dst));
}

/* A request seen on the group (or sent by one of ours) reaches every
 * running receiver but `me` (NULL: all). */
static void
snoop_all(const struct lr *me, const struct mb_fris_msg *m, uint64_t now)
{
	unsigned int i;

	for (i = 0; i < g.n; i++) {
		struct mb_frx *st = &g.lr[i].st;

		if (&g.lr[i] == me || g.lr[i].state != LR_RUNNING)
			continue;
		if (m->kind == MB_FRIS_K_REQUEST)
			mb_frx_snoop_request(st, m->u.request.chunk, m->u.request.block,
					     m->u.request.count, now);
		else if (m->kind == MB_FRIS_K_PREQUEST)
			mb_frx_snoop_prequest(st, m->u.prequest.chunk, m->u.prequest.map, now);
		else
			mb_frx_heard(st, now);
	}
}

/* A receiver's request goes on the wire and is "snooped" by the others. */
static void
lr_send(void *arg, const void *buf, int len)
{
	struct mb_fris_msg m;

	send_raw(arg, buf, len);
	if (len > 0 && mb_fris_decode(buf, (size_t)len, MB_FRIS_NCHUNKS_ANY, &m) == MB_FRIS_OK)
		snoop_all(arg, &m, mb_time_mono_ns());
}

/* The shared socket's group membership: dropped and re-added after
 * keepalive_s without a valid packet, doubling up to KA_MAX_NS. */
static void
keepalive(uint64_t now)
{
	struct ip_mreq mr = {.imr_multiaddr.s_addr = g.group, .imr_interface.s_addr = g.myip};
	uint64_t base = g.keepalive_s * MB_NS_PER_SEC, since;

	if (base == 0)
		return;
	if (g.last_valid > g.ka_at)
		g.ka_wait = base;
	since = g.last_valid > g.ka_at ? g.last_valid : g.ka_at;
	if (now - since < g.ka_wait)
		return;
	(void)setsockopt(g.rsock, IPPROTO_IP, IP_DROP_MEMBERSHIP, &mr, sizeof(mr));
	if (setsockopt(g.rsock, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1)
		perror("mb-fris-loadgen: re-adding the group membership");
	g.rejoins++;
	g.ka_at = now;
	g.ka_wait *= 2;
	if (g.ka_wait > KA_MAX_NS)
		g.ka_wait = base > KA_MAX_NS ? base : KA_MAX_NS;
}

static void
lr_joined(struct lr *l, uint64_t bytes, uint64_t now)
{
	if (mb_frx_init(&l->st, bytes, !g.raw, l->ip, false,
			l->clientid ^ (uint32_t)now, lr_send, l) < 0) {
		fprintf(stderr, "mb-fris-loadgen: cannot track %llu bytes\n",
			(unsigned long long)bytes);
		exit(5);
	}
	l->state = LR_RUNNING;
	l->joined_at = now;
	mb_frx_start(&l->st, now);
}

static void
lr_finish(struct lr *l, uint64_t now)
{
	uint8_t buf[MB_FRIS_LEAVE2_LEN];

	l->state = LR_DONE;
	l->done_at = now;
	send_raw(l, buf, mb_fris_encode_leave2(buf, sizeof(buf), l->ip, l->clientid,
					    (uint32_t)((now - l->start_at) / MB_NS_PER_SEC),
					    NULL));
}

static void
parse_args(int argc, char **argv)
{
	struct in_addr a;
	int c;

	g.keepalive_s = 1;
	g.naddr = 1;
	g.rcvbuf_mib = DEFAULT_RCVBUF_MIB;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0)
			usage_to(stdout, 0);
	while ((c = getopt(argc, argv, "i:m:p:n:Na:B:r:T:K:h")) != -1) {
		switch (c) {
		case 'i':
			if (inet_pton(AF_INET, optarg, &a) != 1)
				usage();
			g.myip = a.s_addr;
			break;
		case 'm':
			if (inet_pton(AF_INET, optarg, &a) != 1 || (ntohl(a.s_addr) >> 28) != 14)
				usage();
			g.group = a.s_addr;
			break;
		case 'p': g.port = (uint16_t)atoi(optarg); break;
		case 'n': g.n = (unsigned int)atoi(optarg); break;
		case 'N': g.raw = true; break;
		case 'a': g.naddr = (unsigned int)atoi(optarg); break;
		case 'B': g.rcvbuf_mib = (unsigned int)atoi(optarg); break;
		case 'r': g.stagger = atof(optarg); break;
		case 'T': g.timeout_s = (unsigned int)atoi(optarg); break;
		case 'K': g.keepalive_s = (unsigned int)atoi(optarg); break;
		case 'h': usage_to(stdout, 0); break;
		default: usage();
		}
	}
	if (optind != argc || g.myip == 0 || g.group == 0 || g.port == 0 || g.n == 0 ||
	    g.n > MAX_RECEIVERS || g.stagger < 0 || g.naddr == 0 || g.naddr > MAX_ADDRS ||
	    g.rcvbuf_mib > MAX_RCVBUF_MIB ||
	    ntohl(g.myip) + (uint64_t)g.naddr - 1 > UINT32_MAX)
		usage();
	if (g.timeout_s == 0)
		g.timeout_s = 60;
}

static void
report(uint64_t now, bool all_done)
{
	json_t *j = json_object(), *arr = json_array();
	double max_s = 0, sum_s = 0, wall = (double)(now - g.t0) / 1e9, joined_s = 0;
	uint64_t bytes = 0, dups = 0, done = 0, tmo = 0;
	struct rusage ru;
	socklen_t sl = sizeof(int);
	int rcvbuf = 0;
	unsigned int i;

	for (i = 0; i < g.n; i++) {
		struct lr *l = &g.lr[i];
		json_t *o = json_object();
		double s = l->state == LR_DONE ? (double)(l->done_at - l->start_at) / 1e9 : -1;

		json_object_set_new(o, "id", json_integer(i));
		json_object_set_new(o, "clientid", json_integer(l->clientid));
		json_object_set_new(o, "start_s", json_real((double)(l->start_at - g.t0) / 1e9));
		json_object_set_new(o, "done", json_boolean(l->state == LR_DONE));
		json_object_set_new(o, "seconds", json_real(s));
		json_object_set_new(o, "dup_blocks", json_integer((json_int_t)l->st.dupblocks));
		json_object_set_new(o, "requests", json_integer((json_int_t)l->st.requests));
		json_object_set_new(o, "prequests", json_integer((json_int_t)l->st.prequests));
		json_object_set_new(o, "idle_timeouts", json_integer((json_int_t)l->st.timeouts));
		json_array_append_new(arr, o);
		if (l->state >= LR_RUNNING && (double)(l->joined_at - g.t0) / 1e9 > joined_s)
			joined_s = (double)(l->joined_at - g.t0) / 1e9;
		if (l->state == LR_DONE) {
			done++;
			bytes += l->st.bytes;
			sum_s += s;
			if (s > max_s)
				max_s = s;
		}
		dups += l->st.dupblocks;
		tmo += l->st.timeouts;
	}
	json_object_set_new(j, "receivers", json_integer(g.n));
	json_object_set_new(j, "completed", json_integer((json_int_t)done));
	json_object_set_new(j, "mode", json_string(g.raw ? "join2" : "join1"));
	json_object_set_new(j, "addresses", json_integer(g.naddr));
	json_object_set_new(j, "image_bytes",
			    json_integer(g.n ? (json_int_t)g.lr[0].st.bytes : 0));
	json_object_set_new(j, "wall_seconds", json_real(wall));
	json_object_set_new(j, "mean_seconds", json_real(done ? sum_s / (double)done : -1));
	json_object_set_new(j, "max_seconds", json_real(done ? max_s : -1));
	json_object_set_new(j, "aggregate_mbit_per_s",
			    json_real(wall > 0 ? (double)bytes * 8 / wall / 1e6 : 0));
	json_object_set_new(j, "blocks_received", json_integer((json_int_t)g.blocks_rx));
	json_object_set_new(j, "dup_blocks_total", json_integer((json_int_t)dups));
	json_object_set_new(j, "drops", json_integer((json_int_t)g.drops));
	json_object_set_new(j, "idle_timeouts_total", json_integer((json_int_t)tmo));
	json_object_set_new(j, "igmp_rejoins", json_integer((json_int_t)g.rejoins));
	json_object_set_new(j, "last_joined_s", json_real(joined_s));
	json_object_set_new(j, "first_block_s", json_real(g.first_block ?
		(double)(g.first_block - g.t0) / 1e9 : -1));
	json_object_set_new(j, "last_block_s", json_real(g.last_block ?
		(double)(g.last_block - g.t0) / 1e9 : -1));
	json_object_set_new(j, "block_gaps", json_integer((json_int_t)g.gaps));
	json_object_set_new(j, "block_gap_seconds", json_real((double)g.gap_ns / 1e9));
	/* Is this one process the bottleneck?  Its CPU against wall_seconds. */
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		json_object_set_new(j, "cpu_user_s", json_real((double)ru.ru_utime.tv_sec +
								(double)ru.ru_utime.tv_usec / 1e6));
		json_object_set_new(j, "cpu_sys_s", json_real((double)ru.ru_stime.tv_sec +
							       (double)ru.ru_stime.tv_usec / 1e6));
	}
	if (getsockopt(g.rsock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &sl) == 0)
		json_object_set_new(j, "rcvbuf_bytes", json_integer(rcvbuf));
	json_object_set_new(j, "per_receiver", arr);
	json_object_set_new(j, "ok", json_boolean(all_done));
	json_dumpf(j, stdout, JSON_INDENT(1));
	putchar('\n');
	json_decref(j);
}

int
main(int argc, char **argv)
{
	uint8_t buf[MB_FRIS_PKT_MAX + 64];
	struct ip_mreq mr;
	struct in_addr ifa;
	struct sockaddr_in from;
	struct mb_fris_msg m;
	struct pollfd pfd;
	unsigned char ttl = MB_FRIS_MCAST_TTL, loop = 0;
	uint64_t now;
	unsigned int i, remaining, active;
	socklen_t sl;
	ssize_t n;

	parse_args(argc, argv);
	g.lr = calloc(g.n, sizeof(*g.lr));
	if (g.lr == NULL)
		return 5;
	/* Addresses beyond the receivers would never send. */
	if (g.naddr > g.n)
		g.naddr = g.n;
	g.ssock = calloc(g.naddr, sizeof(*g.ssock));
	if (g.ssock == NULL)
		return 5;
	g.rsock = udp_socket(g.group, g.port, (int)(g.rcvbuf_mib << 20));
	if (g.rsock < 0)
		return 5;
	for (i = 0; i < g.naddr; i++) {
		ifa.s_addr = htonl(ntohl(g.myip) + i);
		g.ssock[i] = udp_socket(ifa.s_addr, g.port, 0);
		if (g.ssock[i] < 0)
			return 5;
		(void)setsockopt(g.ssock[i], IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa));
		(void)setsockopt(g.ssock[i], IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
		(void)setsockopt(g.ssock[i], IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
	}
	mr.imr_multiaddr.s_addr = g.group;
	mr.imr_interface.s_addr = g.myip;
	if (setsockopt(g.rsock, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1) {
		perror("mb-fris-loadgen: IP_ADD_MEMBERSHIP");
		return 5;
	}
	g.dst.sin_family = AF_INET;
	g.dst.sin_addr.s_addr = g.group;
	g.dst.sin_port = htons(g.port);

	g.t0 = g.last_valid = mb_time_mono_ns();
	srand((unsigned int)(g.t0 ^ (uint64_t)getpid()));
	for (i = 0; i < g.n; i++) {
		g.lr[i].id = i;
		g.lr[i].ip = htonl(ntohl(g.myip) + i % g.naddr);
		g.lr[i].ssock = g.ssock[i % g.naddr];
		if (getrandom(&g.lr[i].clientid, 4, 0) != 4)
			g.lr[i].clientid = (uint32_t)rand();
		g.lr[i].start_at = g.t0 + (uint64_t)(g.stagger * 1e9 * rand() / RAND_MAX);
	}
	remaining = g.n;
	pfd.fd = g.rsock;
	pfd.events = POLLIN;
	while (remaining > 0) {
		now = mb_time_mono_ns();
		if (now - g.last_valid > g.timeout_s * MB_NS_PER_SEC) {
			fprintf(stderr, "mb-fris-loadgen: no valid packet for %us\n", g.timeout_s);
			report(now, false);
			return 3;
		}
		active = 0;
		for (i = 0; i < g.n; i++) {
			struct lr *l = &g.lr[i];

			if (l->state == LR_WAIT && now >= l->start_at) {
				l->state = LR_JOINING;
				if (l->start_at == g.t0)
					g.last_valid = now;
			}
			if (l->state == LR_JOINING && now - l->last_join >= JOIN_RESEND_NS) {
				send_raw(l, buf, g.raw ? mb_fris_encode_join2(buf, sizeof(buf), l->ip,
									 l->clientid) :
						    mb_fris_encode_join(buf, sizeof(buf), l->ip,
									l->clientid));
				l->last_join = now;
			} else if (l->state == LR_RUNNING) {
				mb_frx_tick(&l->st, now);
			}
			if (l->state == LR_JOINING || l->state == LR_RUNNING)
				active++;
		}
		if (active > 0)
			keepalive(now);
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		/* Drain what is queued before the next round of ticks. */
		for (;;) {
			sl = sizeof(from);
			n = recvfrom(g.rsock, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &sl);
			if (n <= 0)
				break;
			if (mb_fris_decode(buf, (size_t)n, MB_FRIS_NCHUNKS_ANY, &m) != MB_FRIS_OK ||
			    mb_fris_check_source(&m, from.sin_addr.s_addr, ntohs(from.sin_port),
						 g.port, g.group, false) != MB_FRIS_OK) {
				g.drops++;
				continue;
			}
			now = mb_time_mono_ns();
			g.last_valid = now;
			if (m.kind != MB_FRIS_K_BLOCK)
				snoop_all(NULL, &m, now);
			for (i = 0; i < g.n; i++) {
				struct lr *l = &g.lr[i];
				uint64_t off;

				if (l->state == LR_JOINING) {
					if (!g.raw && m.kind == MB_FRIS_K_JOIN_REPLY)
						lr_joined(l, (uint64_t)m.u.join_reply.blockcount *
							     MB_FRIS_BLOCK_SIZE, now);
					else if (g.raw && m.kind == MB_FRIS_K_JOIN2_REPLY &&
						 m.u.join2.clientid == l->clientid)
						lr_joined(l, m.u.join2.bytecount, now);
					continue;
				}
				if (l->state != LR_RUNNING)
					continue;
				if (m.kind == MB_FRIS_K_BLOCK)
					(void)mb_frx_block(&l->st, m.u.block.chunk,
							   m.u.block.block, now, &off);
				if (mb_frx_complete(&l->st)) {
					lr_finish(l, now);
					remaining--;
				}
			}
			if (m.kind == MB_FRIS_K_BLOCK) {
				g.blocks_rx++;
				if (g.first_block == 0)
					g.first_block = now;
				else if (now - g.last_block > GAP_NS) {
					g.gaps++;
					g.gap_ns += now - g.last_block;
				}
				g.last_block = now;
			}
		}
	}
	report(mb_time_mono_ns(), true);
	for (i = 0; i < g.n; i++)
		mb_frx_done(&g.lr[i].st);
	free(g.lr);
	free(g.ssock);
	return 0;
}
