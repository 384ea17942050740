/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One fetch of the parent origin (see ctl_origin.c for the whole): the GET
 * to the parent (TRYAGAIN asked again every 5 s), the reply checked and
 * bounded (ctl_origin_plan.c), the image memory (pinned, or the .part
 * mapped when over the budget), a Frisbee receiver in the control loop
 * (proto/fris_rx.c; JOIN2, the byte count must match) fed by the
 * dataplane's fill queue, or by kernel UDP sockets where the session does
 * not come through the port (multicast groups handed to the kernel by the
 * dataplane; the socket also sends the requests), cut-through's
 * presence bits as chunks complete, then the worker writes, hashes and
 * fsyncs the .part, the file gets the parent's mtime and the store
 * publishes it.  Failures end sessions on a partial image and back off.
 *
 * Control thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_dp.h"
#include "ctl_master.h"
#include "ctl_origin_plan.h"
#include "ctl_origin_priv.h"
#include "ctl_worker.h"
#include "fris_rx.h"
#include "fris_wire.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_manifest.h"
#include "mb_time.h"
#include "ms_wire.h"

/* ---- fetches: the receiver ----------------------------------------------------------------- */

static void fetch_fail(struct fetch *f, unsigned int perr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Close the receiving sockets; the dataplane keeps the group no longer. */
static void
rx_close(struct fetch *f)
{
	if (f->kgroup && mb_ctl_dp()->kernel_group != NULL)
		(void)mb_ctl_dp()->kernel_group(f->group, false);
	f->kgroup = false;
	if (f->fq != NULL) {
		(void)mb_ctl_loop_del(f->fq->efd);
		if (mb_ctl_dp()->fill_del != NULL)
			mb_ctl_dp()->fill_del(f->fq); /* freed after the lcores' grace period */
		else
			mb_fillq_free(f->fq);
		f->fq = NULL;
	}
	if (f->rsock >= 0) {
		if (f->krx)
			(void)mb_ctl_loop_del(f->rsock);
		(void)close(f->rsock);
	}
	f->krx = false;
	if (f->ssock >= 0 && f->ssock != f->rsock)
		(void)close(f->ssock);
	f->rsock = f->ssock = -1;
}

static void
fetch_free(struct fetch *f)
{
	origin_pexch_free(f->x);
	rx_close(f);
	mb_ctl_timer_free(f->timer);
	mb_ctl_timer_free(f->ready_timer);
	if (f->rx_init)
		mb_frx_done(&f->rx);
	mb_image_unref(f->mem);
	if (f->map != NULL)
		(void)munmap(f->map, f->e.size);
	if (f->fd >= 0)
		(void)close(f->fd);
	if (f->path[0] != '\0')
		(void)unlink(f->path);
	if (f->hash_init)
		mb_hash_done(&f->hash);
	free(f);
}

/* The image lets go of its fetch; freed now, or by the worker's completion. */
void
origin_fetch_detach(struct fetch *f)
{
	struct oimg *im = f->im;

	if (im != NULL) {
		im->fetch = NULL;
		mb_origin.active--;
	}
	f->im = NULL;
	if (f->w.busy)
		mb_worker_cancel(&f->w);
	else
		fetch_free(f);
	if (im != NULL && origin_waits())
		mb_ctl_master_origin_ready(); /* GETs waiting for its session */
}

static void
fetch_fail(struct fetch *f, unsigned int perr, const char *fmt, ...)
{
	struct oimg *im = f->im;
	uint64_t wait;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(im->reason, sizeof(im->reason), fmt, ap);
	va_end(ap);
	/* sessions serving it cut-through would wait forever for the rest */
	if (f->mem != NULL && f->mem->present != NULL)
		mb_ctl_master_stop_image(f->e.name, f->e.version);
	origin_fetch_detach(f);
	mb_origin.cnt.fetch_failures++;
	im->failures++;
	im->failed_err = perr;
	wait = mb_origin_backoff_ms(im->failures, ORIGIN_FAIL_BASE_MS, ORIGIN_FAIL_MAX_MS);
	im->retry_at_ms = origin_now_ms() + wait;
	MB_LOG(WARNING, CTL, "parent: fetching '%s' failed: %s; not before %" PRIu64 "s", im->name,
	       im->reason, (wait + 999) / 1000);
}

static void
frx_send(void *arg, const void *buf, int len)
{
	struct fetch *f = arg;

	if (len > 0)
		(void)sendto(f->ssock, buf, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&f->dst,
		             sizeof(f->dst));
}

static void fetch_finish(struct fetch *f);

/* One datagram of the session.  false when the fetch failed (f is gone). */
static bool
rx_pkt(struct fetch *f, const uint8_t *buf, size_t len, const struct sockaddr_in *from,
       uint64_t now)
{
	struct mb_fris_msg m;
	enum mb_fris_result r;
	uint64_t off;
	uint32_t n;

	r = mb_fris_decode(buf, len, f->rx_init ? f->rx.nchunks : MB_FRIS_NCHUNKS_ANY, &m);
	if (r == MB_FRIS_OK)
		r = mb_fris_check_source(&m, from->sin_addr.s_addr, ntohs(from->sin_port), f->port,
		                         f->group, false);
	if (r != MB_FRIS_OK) {
		f->drops++;
		mb_origin.cnt.rx_drops++;
		return true;
	}
	f->last_valid_ns = now;
	if (f->phase == F_JOIN) {
		if (m.kind != MB_FRIS_K_JOIN2_REPLY || m.u.join2.clientid != f->clientid ||
		    m.hdr.srcip != f->server)
			return true;
		if (m.u.join2.bytecount != f->e.size) {
			fetch_fail(f, 0,
			           "the parent's session serves %" PRIu64 " bytes, its GET "
			           "said %" PRIu64,
			           (uint64_t)m.u.join2.bytecount, f->e.size);
			return false;
		}
		if (mb_frx_init(&f->rx, f->e.size, false, f->myip, false, f->clientid, frx_send,
		                f) != 0) {
			fetch_fail(f, 0, "out of memory for the receiver");
			return false;
		}
		f->rx_init = true;
		f->phase = F_RECV;
		f->join_ns = now;
		mb_frx_start(&f->rx, now);
		if (f->mem != NULL && f->mem->present != NULL)
			mb_ctl_master_origin_ready(); /* GETs waiting for the session */
		return true;
	}
	switch (m.kind) {
	case MB_FRIS_K_BLOCK:
		if (m.hdr.srcip != f->server || from->sin_addr.s_addr != f->server) {
			f->foreign++;
			mb_frx_heard(&f->rx, now);
			break;
		}
		n = mb_frx_block(&f->rx, m.u.block.chunk, m.u.block.block, now, &off);
		if (n != 0) {
			memcpy(f->into + off, m.u.block.data, n);
			mb_origin.cnt.bytes += n;
			if (f->mem != NULL && f->mem->present != NULL &&
			    f->rx.chunks[m.u.block.chunk].state == MB_FRX_CH_DONE)
				mb_image_chunk_set_present(f->mem, m.u.block.chunk);
		}
		break;
	default:
		(void)mb_frx_snoop(&f->rx, &m, now);
		break;
	}
	return true;
}

static bool fill_drain(struct fetch *f);

static void
rx_io(int fd, uint32_t events, void *arg)
{
	struct fetch *f = arg;
	struct mmsghdr msg[ORIGIN_RX_BATCH];
	struct iovec iov[ORIGIN_RX_BATCH];
	struct sockaddr_in from[ORIGIN_RX_BATCH];
	static uint8_t buf[ORIGIN_RX_BATCH][MB_FRIS_PKT_MAX + 64];
	uint64_t now;
	int i, n, b;

	(void)events;
	/* the same datagrams may come both ways (a software port whose kernel
	 * interface sees the frames too): the dataplane's first */
	if (f->fq != NULL && !f->via_dp && (!fill_drain(f) || !f->krx))
		return;
	for (b = 0; b < ORIGIN_RX_BATCHES; b++) {
		for (i = 0; i < ORIGIN_RX_BATCH; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof(buf[i]);
			memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
			msg[i].msg_hdr.msg_name = &from[i];
			msg[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, msg, ORIGIN_RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		now = mb_time_mono_ns();
		f->k_pkts += (uint64_t)n;
		mb_origin.cnt.rx_kernel += (uint64_t)n;
		for (i = 0; i < n; i++) {
			if (!rx_pkt(f, buf[i], msg[i].msg_len, &from[i], now))
				return; /* failed: f is gone */
			if (f->phase == F_RECV && mb_frx_complete(&f->rx)) {
				fetch_finish(f);
				return;
			}
		}
		if (n < ORIGIN_RX_BATCH)
			return;
	}
}

/* The session reaches us through the dataplane: the kernel socket (kept
 * for sending) is read no more.  Where the dataplane also hands the kernel
 * a copy (a software port whose kernel interface sees the frames too) that
 * copy only fills the socket buffer, shrunk to the minimum. */
static void
kernel_rx_stop(struct fetch *f)
{
	int rb = 0;

	f->via_dp = true;
	if (f->krx) {
		(void)mb_ctl_loop_del(f->rsock);
		(void)setsockopt(f->rsock, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
		f->krx = false;
	}
	MB_LOG(DEBUG, CTL, "parent: '%s': the session arrives through the dataplane",
	       f->e.name);
}

/* The dataplane's fill queue has datagrams: handle them in place, at most
 * ORIGIN_FILL_BATCHES x ORIGIN_FILL_BATCH per loop pass (the eventfd is
 * left readable when more wait, so the loop comes back after its other
 * work); arm the wakeup when it is empty.  false when the receiver is gone
 * (the fetch failed: f is freed; or it finished: its sockets are closed). */
static bool
fill_drain(struct fetch *f)
{
	struct mb_fillq *q = f->fq;
	const struct mb_fillq_slot *s[ORIGIN_FILL_BATCH];
	struct sockaddr_in from = {.sin_family = AF_INET};
	uint64_t now, one = 1;
	unsigned int i, n, b;

	for (b = 0; b < ORIGIN_FILL_BATCHES; b++) {
		n = mb_fillq_peek(q, s, ORIGIN_FILL_BATCH);
		if (n == 0) {
			if (!mb_fillq_arm(q))
				return true; /* empty: the next push wakes us */
			continue;
		}
		now = mb_time_mono_ns();
		f->dp_pkts += n;
		mb_origin.cnt.rx_dataplane += n;
		for (i = 0; i < n; i++) {
			from.sin_addr.s_addr = s[i]->src;
			from.sin_port = htons(s[i]->sport);
			/* a fetch that fails or finishes lets go of q (freed
			 * after the lcores' grace period): neither is touched
			 * after that */
			if (!rx_pkt(f, s[i]->data, s[i]->len, &from, now))
				return false; /* failed: f is gone */
			if (!f->via_dp && f->last_valid_ns == now)
				kernel_rx_stop(f);
			if (f->phase == F_RECV && mb_frx_complete(&f->rx)) {
				fetch_finish(f);
				return false;
			}
		}
		mb_fillq_release(q, n);
	}
	(void)!write(q->efd, &one, sizeof(one)); /* more wait */
	return true;
}

static void
fill_io(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	(void)fill_drain(arg);
}

/* Ask the dataplane for the session's datagrams (a fill queue): where the
 * parent is reached through the serving port they come that way, ahead of
 * the TAP and the kernel.  Without it (no dataplane offers it, all its
 * queues in use) the kernel sockets receive alone. */
static void
fill_open(struct fetch *f)
{
	const struct mb_ctl_dp_ops *dp = mb_ctl_dp();
	int rc;

	if (dp->fill_add == NULL)
		return;
	f->fq = mb_fillq_new(ORIGIN_FILLQ_SLOTS, f->server, f->port, f->group);
	if (f->fq == NULL) {
		MB_LOG(WARNING, CTL, "parent: no fill queue (%s): kernel sockets only",
		       strerror(errno));
		return;
	}
	if (mb_ctl_loop_add(f->fq->efd, EPOLLIN, fill_io, f) != 0) {
		mb_fillq_free(f->fq);
		f->fq = NULL;
		return;
	}
	rc = dp->fill_add(f->fq);
	if (rc != 0) {
		MB_LOG(WARNING, CTL, "parent: the dataplane takes no fill queue (%s): kernel "
		       "sockets only", strerror(-rc));
		(void)mb_ctl_loop_del(f->fq->efd);
		mb_fillq_free(f->fq);
		f->fq = NULL;
	}
}

static void
rx_tick(void *arg)
{
	struct fetch *f = arg;
	uint64_t now = mb_time_mono_ns();
	uint8_t pkt[MB_FRIS_PKT_MAX];

	if (now - f->last_valid_ns > mb_origin.cfg->sync_timeout * MB_NS_PER_SEC) {
		fetch_fail(f, 0, "nothing from the parent's session for %" PRIu64 "s (%s)",
		           mb_origin.cfg->sync_timeout,
		           f->phase == F_JOIN ? "no JOIN reply" : "receiving");
		return;
	}
	if (f->phase == F_JOIN) {
		if (now - f->last_join_ns >= ORIGIN_JOIN_RESEND_MS * MB_NS_PER_MS) {
			frx_send(f, pkt,
			         mb_fris_encode_join2(pkt, sizeof(pkt), f->myip, f->clientid));
			f->last_join_ns = now;
		}
		return;
	}
	mb_frx_tick(&f->rx, now);
}

static int
udp_socket(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd, one = 1, rb = ORIGIN_RCVBUF;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
	sa.sin_addr.s_addr = addr;
	sa.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		int e = errno;

		(void)close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Sockets as the stock client opens them: multicast receives on
 * group:port and sends from myip:port; unicast and broadcast use one
 * socket on port.  0 or -errno. */
static int
rx_open(struct fetch *f)
{
	unsigned char ttl = MB_FRIS_MCAST_TTL, loop = 0;
	int one = 1;

	f->dst.sin_family = AF_INET;
	f->dst.sin_port = htons(f->port);
	if (f->rep.method == MB_MS_METHOD_MULTICAST) {
		struct ip_mreq mr = {.imr_multiaddr.s_addr = f->group,
		                     .imr_interface.s_addr = f->myip};
		struct in_addr ifa = {.s_addr = f->myip};

		f->dst.sin_addr.s_addr = f->group;
		f->rsock = udp_socket(f->group, f->port);
		if (f->rsock < 0)
			return -errno;
		if (setsockopt(f->rsock, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1)
			return -errno;
		/* the dataplane drops groups it does not serve: not this one */
		if (mb_ctl_dp()->kernel_group != NULL) {
			int rc = mb_ctl_dp()->kernel_group(f->group, true);

			if (rc != 0)
				return rc;
			f->kgroup = true;
		}
		(void)setsockopt(f->rsock, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
		f->ssock = udp_socket(f->myip, f->port);
		if (f->ssock < 0)
			return -errno;
		(void)setsockopt(f->ssock, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
		(void)setsockopt(f->ssock, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
		(void)setsockopt(f->ssock, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa));
	} else {
		f->dst.sin_addr.s_addr =
		    f->rep.method == MB_MS_METHOD_BROADCAST ? htonl(f->rep.addr) : f->server;
		f->rsock = udp_socket(INADDR_ANY, f->port);
		if (f->rsock < 0)
			return -errno;
		if (f->rep.method == MB_MS_METHOD_BROADCAST)
			(void)setsockopt(f->rsock, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
		f->ssock = f->rsock;
	}
	if (mb_ctl_loop_add(f->rsock, EPOLLIN, rx_io, f) != 0)
		return -ENOMEM;
	f->krx = true;
	fill_open(f);
	return 0;
}

/* Create <state-dir>/tmp/parent-N.part into f->path and f->fd.  0 or -errno. */
static int
part_open(struct fetch *f)
{
	char dir[4096];
	int n, e;

	n = snprintf(dir, sizeof(dir), "%s/tmp", mb_origin.cfg->state_dir);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return -errno;
	snprintf(f->path, sizeof(f->path), "%s/parent-%" PRIu64 ".part", dir, ++mb_origin.seq);
	f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (f->fd == -1) {
		e = errno;
		f->path[0] = '\0';
		return -e;
	}
	return 0;
}

/* ---- fetches: the parent's GET ---------------------------------------------------------- */

static void
get_retry(void *arg)
{
	struct fetch *f = arg;
	struct oimg *im = f->im;

	f->x = origin_pexch_start(im, false, mb_origin.cfg->parent_proxy ? im->client : 0);
	if (f->x == NULL) {
		fetch_fail(f, 0, "cannot ask the parent: %s", strerror(errno));
		return;
	}
	f->phase = F_GET;
}

/* The version the store records: N of a versioned id "pid/name:N" (the
 * master server compares it with what the node asks for), else the next
 * number after the store's. */
static uint64_t
next_version(const char *name, const char *id)
{
	const char *colon = strrchr(id, ':');
	struct mb_manifest man;
	const struct mb_manifest_entry *e;
	uint64_t v = 1;

	if (colon != NULL && colon[1] != '\0' && strlen(colon + 1) <= 10 &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1))
		return strtoull(colon + 1, NULL, 10);

	if (mb_ctl_store_get_manifest(&man) != 0)
		return v;
	e = mb_manifest_find(&man, name);
	if (e != NULL)
		v = e->version + 1;
	mb_manifest_done(&man);
	return v;
}

void
origin_get_done(struct fetch *f, int rc, const struct mb_ms_get_reply *rep)
{
	struct oimg *im = f->im;
	const char *why = NULL;
	int r;

	if (rc != 0) {
		char w[ORIGIN_REASON_MAX];

		origin_set_reason(w, "no answer to GET: %s", strerror(-rc));
		origin_parent_down(w);
		fetch_fail(f, 0, "%s", w);
		return;
	}
	origin_parent_up();
	if (rep->error == MB_MS_ERROR_TRYAGAIN) {
		mb_origin.cnt.parent_tryagain++;
		if (++f->tryagains > ORIGIN_TRYAGAIN_MAX) {
			fetch_fail(f, 0, "the parent answered TRYAGAIN for an hour");
			return;
		}
		f->phase = F_GET_WAIT;
		if (origin_waits())
			mb_ctl_master_origin_ready(); /* they get TRYAGAIN now */
		if (f->timer == NULL)
			f->timer = mb_ctl_timer_new(ORIGIN_TRYAGAIN_MS, 0, get_retry, f);
		if (f->timer == NULL)
			fetch_fail(f, 0, "out of memory");
		else
			(void)mb_ctl_timer_rearm(f->timer, ORIGIN_TRYAGAIN_MS, 0);
		return;
	}
	if (rep->error != MB_MS_ERROR_NONE) {
		fetch_fail(f, rep->error, "the parent answered %s", mb_ms_error_name(rep->error));
		return;
	}
	r = mb_origin_check_get(rep, mb_origin.methods, mb_origin.cfg->max_image_size, &why);
	if (r != 0) {
		fetch_fail(f, r == -EFBIG ? MB_MS_ERROR_TOOBIG : 0, "%s (size %" PRIu64 ")", why,
		           rep->size);
		return;
	}
	mb_ctl_timer_free(f->timer);
	f->timer = NULL;
	f->rep = *rep;
	f->server = htonl(rep->servaddr);
	f->group = rep->method == MB_MS_METHOD_MULTICAST ? htonl(rep->addr) : 0;
	f->port = rep->port;
	memset(&f->e, 0, sizeof(f->e));
	snprintf(f->e.name, sizeof(f->e.name), "%s", im->name);
	f->e.version = next_version(im->name, im->id);
	f->e.size = rep->size;
	f->e.mtime = mb_ms_reply_mtime(rep);
	/* what GETSTATUS reported may have moved on: the GET's session decides */
	im->p_size = f->e.size;
	im->p_mtime = f->e.mtime;
	if (f->port >= mb_origin.cfg->fris_port_base &&
	    f->port < mb_origin.cfg->fris_port_base + mb_origin.cfg->fris_port_count)
		MB_LOG(WARNING, CTL,
		       "parent: its session port %u is one of ours "
		       "(frisbee.port-base): while a local session holds it, this fetch hears "
		       "nothing; give the parent another port range",
		       f->port);
	f->mem = mb_ctl_store_image_alloc(&f->e);
	if (f->mem != NULL) {
		f->into = f->mem->sb.data;
		/* freed with the image (mb_image.c); no session sees the image
		 * before this is set */
		if (mb_origin.cfg->parent_cut_through)
			f->mem->present =
			    calloc(1, (size_t)((mb_fris_chunks_for_bytes(f->e.size) + 7) / 8));
	} else {
		/* over the hugepage budget: into the .part, mapped; the store
		 * maps or promotes it once installed.  Its blocks are allocated
		 * now: a store into a hole of a mapping the filesystem has no
		 * room for is a SIGBUS, a refused allocation is an error. */
		r = part_open(f);
		if (r == 0 && f->e.size > 0)
			r = -posix_fallocate(f->fd, 0, (off_t)f->e.size);
		if (r == 0) {
			f->map =
			    mmap(NULL, f->e.size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
			if (f->map == MAP_FAILED) {
				f->map = NULL;
				r = -errno;
			}
		}
		if (r == -ENOSPC || r == -EDQUOT) {
			fetch_fail(f, 0, "no image memory and no room for its %" PRIu64 " bytes in "
				   "%s/tmp: %s: free space there or move server.state-dir to a "
				   "larger filesystem", f->e.size, mb_origin.cfg->state_dir,
				   strerror(-r));
			return;
		}
		if (r != 0) {
			fetch_fail(f, 0, "no image memory and no .part for %" PRIu64 " bytes: %s",
			           f->e.size, strerror(-r));
			return;
		}
		f->into = f->map;
	}
	r = rx_open(f);
	if (r != 0) {
		fetch_fail(f, 0, "cannot open the receiving sockets on port %u: %s", f->port,
		           strerror(-r));
		return;
	}
	f->timer = mb_ctl_timer_new(0, ORIGIN_TICK_MS, rx_tick, f);
	if (f->timer == NULL) {
		fetch_fail(f, 0, "out of memory");
		return;
	}
	f->phase = F_JOIN;
	f->last_valid_ns = mb_time_mono_ns();
	if (mb_origin.cfg->parent_redirect)
		mb_ctl_master_origin_ready(); /* GETs waiting: to the parent's session,
		                               * or (unicast) on as without redirect */
	MB_LOG(INFO, CTL,
	       "parent: fetching '%s' (%" PRIu64 " bytes, mtime %" PRId64 ") by %s "
	       "from %u.%u.%u.%u port %u",
	       im->name, f->e.size, f->e.mtime,
	       rep->method == MB_MS_METHOD_UNICAST     ? "unicast"
	       : rep->method == MB_MS_METHOD_MULTICAST ? "multicast"
	                                               : "broadcast",
	       rep->servaddr >> 24, (rep->servaddr >> 16) & 0xff, (rep->servaddr >> 8) & 0xff,
	       rep->servaddr & 0xff, f->port);
}

/* ---- fetches: finishing ------------------------------------------------------------------ */

static void
work_done(struct mb_work *w)
{
	struct fetch *f = w->arg;
	struct oimg *im = f->im;
	struct timespec ts[2];
	bool rc_mapped;
	uint64_t ms;
	int rc;

	if (im == NULL) { /* abandoned meanwhile */
		fetch_free(f);
		return;
	}
	if (w->rc == -ECANCELED)
		return; /* stopping: the subsystem's stop frees it */
	/* No digest was expected (want is zero): -EBADMSG only says so, got
	 * holds the SHA-256 of the bytes received, written and synced. */
	if (w->rc == -ENOSPC || w->rc == -EDQUOT) {
		fetch_fail(f, 0, "writing the image to %s/tmp: %s: free space there or move "
			   "server.state-dir to a larger filesystem", mb_origin.cfg->state_dir,
			   strerror(-w->rc));
		return;
	}
	if (w->rc != 0 && w->rc != -EBADMSG) {
		fetch_fail(f, 0, "writing the image: %s", w->err);
		return;
	}
	if (f->map != NULL && !f->synced) {
		/* mapped: hashed; now the fsync, on the worker too */
		memcpy(f->e.sha256, w->got, MB_SHA256_LEN);
		f->synced = true;
		mb_work_init(&f->w);
		f->w.out_fd = f->fd;
		f->w.flags = MB_WORK_FSYNC;
		f->w.done = work_done;
		f->w.arg = f;
		mb_worker_submit(&f->w);
		return;
	}
	if (f->map != NULL) {
		(void)munmap(f->map, f->e.size);
		f->map = NULL;
	} else {
		memcpy(f->e.sha256, w->got, MB_SHA256_LEN);
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)f->e.mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (futimens(f->fd, ts) == -1) {
		fetch_fail(f, 0, "cannot set the mtime: %s", strerror(errno));
		return;
	}
	(void)close(f->fd);
	f->fd = -1;
	rc_mapped = f->mem == NULL;
	if (f->mem != NULL) {
		memcpy(f->mem->sha256, f->e.sha256, MB_SHA256_LEN);
		rc = mb_ctl_store_install_filled(&f->e, f->path, f->mem);
		f->mem = NULL; /* consumed */
	} else {
		rc = mb_ctl_store_install(&f->e, f->path); /* the store verifies the file */
	}
	if (rc == -ENOSPC || rc == -EDQUOT) {
		/* nothing installed: manifest.json and images/ as they were */
		fetch_fail(f, 0, "the store could not install the image: %s (journaling it in "
			   "%s/tmp or rewriting %s/manifest.json, or images.max-images "
			   "reached): free space there or move server.state-dir to a larger "
			   "filesystem", strerror(-rc), mb_origin.cfg->state_dir,
			   mb_origin.cfg->state_dir);
		return;
	}
	if (rc < 0) {
		fetch_fail(f, 0, "the store refused the image: %s", strerror(-rc));
		return;
	}
	f->path[0] = '\0'; /* installed: not ours to remove */
	ms = (mb_time_mono_ns() - f->start_ns) / MB_NS_PER_MS;
	im->fills++;
	im->last_fill_ms = ms;
	im->last_fill_bytes = f->e.size;
	im->failures = 0;
	im->failed_err = 0;
	im->reason[0] = '\0';
	mb_origin.cnt.fills++;
	MB_LOG(NOTICE, CTL,
	       "parent: '%s' v%" PRIu64 " filled: %" PRIu64 " bytes in %" PRIu64 " ms (%s, %" PRIu64
	       " ms receiving; %" PRIu64 " requests, %" PRIu64 " idle "
	       "timeouts, %" PRIu64 " duplicate blocks, %" PRIu64 " datagrams dropped; "
	       "%" PRIu64 " datagrams through the dataplane, %" PRIu64 " through kernel sockets)",
	       f->e.name, f->e.version, f->e.size, ms,
	       rc_mapped ? "into the mapped .part" : "into image memory",
	       (uint64_t)((f->last_valid_ns - f->join_ns) / MB_NS_PER_MS), f->nreq, f->ntimeouts,
	       f->ndup, f->drops, f->dp_pkts, f->k_pkts);
	origin_fetch_detach(f);
}

/* Every chunk arrived: leave the session, have the worker write and hash. */
static void
fetch_finish(struct fetch *f)
{
	uint8_t pkt[MB_FRIS_PKT_MAX];
	int rc;

	frx_send(f, pkt,
	         mb_fris_encode_leave2(pkt, sizeof(pkt), f->myip, f->clientid,
	                               (uint32_t)((mb_time_mono_ns() - f->join_ns) / MB_NS_PER_SEC),
	                               NULL));
	rx_close(f);
	mb_ctl_timer_free(f->timer);
	f->timer = NULL;
	f->nreq = f->rx.requests + f->rx.prequests;
	f->ntimeouts = f->rx.timeouts;
	f->ndup = f->rx.dupblocks;
	mb_frx_done(&f->rx);
	f->rx_init = false;
	f->phase = F_FINISH;

	if (f->fd < 0 && (rc = part_open(f)) != 0) {
		fetch_fail(f, 0, "cannot create the .part: %s", strerror(-rc));
		return;
	}
	if (mb_hash_init(&f->hash) != 0) {
		fetch_fail(f, 0, "out of memory");
		return;
	}
	f->hash_init = true;
	mb_work_init(&f->w);
	f->w.src = f->into;
	f->w.len = f->e.size;
	f->w.out_fd = f->map != NULL ? -1 : f->fd; /* mapped: the bytes are in the file */
	f->w.out_off = 0;
	f->w.hash = &f->hash;
	f->w.flags = MB_WORK_FINAL | (f->map != NULL ? 0 : MB_WORK_FSYNC);
	f->w.done = work_done;
	f->w.arg = f;
	mb_worker_submit(&f->w);
}

static void
ready_fire(void *arg)
{
	(void)arg;
	mb_ctl_master_origin_ready();
}

int
origin_fetch_start(struct oimg *im)
{
	struct fetch *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -ENOMEM;
	f->rsock = f->ssock = f->fd = -1;
	mb_work_init(&f->w);
	f->im = im;
	f->start_ns = mb_time_mono_ns();
	if (getrandom(&f->clientid, sizeof(f->clientid), GRND_NONBLOCK) != sizeof(f->clientid))
		f->clientid = (uint32_t)f->start_ns ^ (uint32_t)getpid();
	f->x = origin_pexch_start(im, false, mb_origin.cfg->parent_proxy ? im->client : 0);
	if (f->x == NULL) {
		int e = errno;

		free(f);
		return -e;
	}
	/* myip: the address our connection to the parent leaves from, as the
	 * stock subboss passes -i; known once connected (get_done runs after) */
	if (origin_waits()) {
		f->ready_timer = mb_ctl_timer_new(ORIGIN_CUT_WAIT_MS + 10, 0, ready_fire, NULL);
		if (f->ready_timer == NULL) {
			origin_pexch_free(f->x);
			free(f);
			return -ENOMEM;
		}
	}
	im->fetch = f;
	mb_origin.active++;
	mb_origin.cnt.fetches++;
	return 0;
}
