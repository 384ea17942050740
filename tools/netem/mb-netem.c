/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-netem: an emulated network path between two interfaces, for tests and
 * benchmarks on a kernel without sch_netem.
 *
 * It opens one AF_PACKET socket on each interface and forwards every frame
 * received on one out of the other, through the impairments of that
 * direction (tools/netem/nm_path.c: loss, duplication, corruption, a rate
 * limit with its queue, delay, jitter, reordering) and a link flap common
 * to both.  Typically the two interfaces are veth ends in a namespace of
 * their own, whose peers are the two hosts of a test (tests/system/wan.sh
 * builds that).
 *
 * The I/O path: a TPACKET_V2 receive ring per socket, which the kernel
 * fills in the softirq of whoever sent the frame (on a veth, often the
 * other CPU), so receiving costs this thread one copy from the ring into
 * the frame pool of the direction and no system call per frame; then
 * sendmmsg() from the pool when a frame is due.  Not TPACKET_V3: its blocks
 * reach user space only when full or after a timeout of at least a
 * millisecond, which would add that much delay to a quiet path.
 * PACKET_VNET_HDR tells us which frames carry a partial checksum (a veth
 * sender with tx checksum offload leaves the TCP/UDP checksum for hardware
 * that a veth does not have) and which are GSO super-frames; the first are
 * completed here, the second dropped and counted, with a warning saying
 * which offloads to turn off.  VLAN tags that the kernel took out of a
 * frame come in the ring's frame header and are put back.
 * PACKET_IGNORE_OUTGOING keeps each socket from seeing the frames we send,
 * and promiscuous mode makes the forwarder a true L2 wire on real NICs too.
 *
 * One thread runs everything: ppoll() with a nanosecond timeout for the
 * earliest due frame (timer slack set to 1 us), the next flap edge or the
 * next periodic report; a signalfd for SIGINT/SIGTERM (report, exit),
 * SIGUSR1 (a flap) and SIGUSR2 (report).  While frames keep arriving the
 * loop polls with a zero timeout and does not sleep, so a loaded forwarder
 * costs no extra wakeups and still sees its signals.
 * What it cannot do is listed in --help (nm_opt.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mb_bytes.h"
#include "mb_time.h"
#include "nm_opt.h"
#include "nm_path.h"
#include "nm_pkt.h"

#define BATCH 64		/* frames per sendmmsg; also the pool's spare slots */
#define RX_BUDGET 128		/* frames taken from one ring before looking elsewhere */
#define TX_ROUNDS 16		/* batches sent from one path per loop pass */
#define RING_BYTES (32 << 20)	/* receive ring per socket: bursts while we send */
#define RING_BLOCK (1 << 20)
#define SNDBUF (8 << 20)
#define MAX_FRAME 16384		/* as --max-frame allows */
#define DEFAULT_FLAP_NS MB_NS_PER_SEC
/* Where the kernel puts the sockaddr_ll of a frame in a TPACKET_V2 slot. */
#define RING_SLL_OFF TPACKET_ALIGN(sizeof(struct tpacket2_hdr))

/* One interface: its socket and receive ring, the path of frames it
 * receives (`in`) and of frames it sends (`out`), and the send batch. */
struct port {
	const char *name;
	int ifindex;
	int fd;
	unsigned int mtu;
	struct nm_path *in;
	struct nm_path *out;
	bool warned_gso;
	int last_tx_errno;
	/* receive ring: frame_nr slots of frame_size bytes, next one to read */
	uint8_t *ring;
	size_t ring_len;
	uint32_t frame_size;
	uint32_t frame_nr;
	uint32_t rx_head;
	/* send batch: frames popped from `out` and not yet taken by the kernel */
	struct mmsghdr tmsg[BATCH];
	struct iovec tiov[BATCH][2];
	uint32_t tslot[BATCH];
	uint32_t tcount;
	bool tx_blocked;	/* EAGAIN: wait for POLLOUT */
};

struct netem {
	struct nm_conf conf;
	struct nm_path path[2];	/* [NM_AB], [NM_BA] */
	struct port port[2];	/* A receives ab and sends ba; B the reverse */
	uint32_t max_frame;
	uint32_t slot_size;
	int sfd;
	uint64_t t0;
	bool quit;
	/* the link flap */
	bool down;
	uint64_t down_until;
	uint64_t next_flap;
	uint64_t flaps;
	uint64_t next_stats;
};

/* Sent in front of every frame: no offload requested. */
static const struct virtio_net_hdr vnet_none;

static bool quiet;

static void
msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
msg(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	fputs("mb-netem: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("mb-netem: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ---- interfaces ------------------------------------------------------------ */

/* Set interface `name` up or down (carrier flaps).  Returns 0 or -errno. */
static int
if_set_up(int fd, const char *name, bool up)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
		return -errno;
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) == -1)
		return -errno;
	return 0;
}

/* Best effort: a larger buffer than the sysctl maximum needs CAP_NET_ADMIN. */
static void
set_buf(int fd, int force_opt, int opt, int size)
{
	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

/*
 * Open, configure and bind the packet socket of `pt` and map its receive
 * ring, with slots for frames of up to `max_frame` bytes (0: from the MTU,
 * which is then read here).  Exits with a message on any failure (this
 * runs only at start).  All options are set before bind() so no frame is
 * queued without them; PACKET_VNET_HDR must come before the ring.
 */
static void
port_open(struct port *pt, uint32_t max_frame)
{
	struct tpacket_req req;
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	struct ifreq ifr;
	int one = 1, v2 = TPACKET_V2, i;

	if (strlen(pt->name) >= IFNAMSIZ)
		die("interface name '%s' too long", pt->name);
	pt->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pt->fd == -1)
		die("packet socket: %s (needs CAP_NET_RAW)", strerror(errno));
	pt->ifindex = (int)if_nametoindex(pt->name);
	if (pt->ifindex == 0)
		die("no interface '%s' in this namespace", pt->name);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", pt->name);
	if (ioctl(pt->fd, SIOCGIFHWADDR, &ifr) == -1)
		die("'%s': SIOCGIFHWADDR: %s", pt->name, strerror(errno));
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		die("'%s' is not an Ethernet interface", pt->name);
	if (ioctl(pt->fd, SIOCGIFMTU, &ifr) == -1)
		die("'%s': SIOCGIFMTU: %s", pt->name, strerror(errno));
	pt->mtu = (unsigned int)ifr.ifr_mtu;
	if (setsockopt(pt->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == -1)
		die("'%s': PACKET_VNET_HDR: %s", pt->name, strerror(errno));
	/* Older kernels lack it; rx_one() also skips PACKET_OUTGOING frames. */
	if (setsockopt(pt->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) == -1)
		msg("'%s': PACKET_IGNORE_OUTGOING: %s, filtering by packet type",
		    pt->name, strerror(errno));
	set_buf(pt->fd, SO_SNDBUFFORCE, SO_SNDBUF, SNDBUF);

	/* A slot holds the frame header, the sockaddr_ll, the vnet header and
	 * the frame (the kernel puts the MAC header at an aligned offset of
	 * at least 16 bytes past the sockaddr, plus the vnet header); a
	 * larger frame arrives cut short and is dropped as such. */
	if (max_frame == 0)
		max_frame = pt->mtu + NM_ETH_HLEN + 4;
	if (max_frame > MAX_FRAME)
		die("'%s': MTU %u too large for %d-byte frames; set --max-frame", pt->name,
		    pt->mtu, MAX_FRAME);
	if (setsockopt(pt->fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2)) == -1)
		die("'%s': TPACKET_V2: %s", pt->name, strerror(errno));
	pt->frame_size = TPACKET_ALIGN(TPACKET2_HDRLEN + 16 + sizeof(struct virtio_net_hdr) +
				       max_frame);
	memset(&req, 0, sizeof(req));
	req.tp_block_size = RING_BLOCK;
	req.tp_block_nr = RING_BYTES / RING_BLOCK;
	req.tp_frame_size = pt->frame_size;
	req.tp_frame_nr = (RING_BLOCK / pt->frame_size) * req.tp_block_nr;
	if (setsockopt(pt->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) == -1)
		die("'%s': receive ring: %s", pt->name, strerror(errno));
	pt->frame_nr = req.tp_frame_nr;
	pt->ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
	pt->ring = mmap(NULL, pt->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, pt->fd, 0);
	if (pt->ring == MAP_FAILED)
		die("'%s': mmap of the receive ring: %s", pt->name, strerror(errno));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = pt->ifindex;
	if (bind(pt->fd, (struct sockaddr *)&sll, sizeof(sll)) == -1)
		die("'%s': bind: %s", pt->name, strerror(errno));
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = pt->ifindex;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(pt->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1)
		die("'%s': promiscuous mode: %s", pt->name, strerror(errno));

	for (i = 0; i < BATCH; i++) {
		struct msghdr *t = &pt->tmsg[i].msg_hdr;

		pt->tiov[i][0].iov_base = (void *)&vnet_none;
		pt->tiov[i][0].iov_len = sizeof(vnet_none);
		t->msg_iov = pt->tiov[i];
		t->msg_iovlen = 2;
	}
}

/* Frames the kernel dropped on this socket since the last call. */
static uint64_t
port_kernel_drops(struct port *pt)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	if (getsockopt(pt->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == -1)
		return 0;
	return st.tp_drops;
}

/* ---- the link flap ------------------------------------------------------------ */

static void
carrier(struct netem *nm, bool up)
{
	int i, r;

	for (i = 0; i < 2; i++) {
		r = if_set_up(nm->port[i].fd, nm->port[i].name, up);
		if (r < 0)
			msg("cannot set '%s' %s: %s, ignoring", nm->port[i].name,
			    up ? "up" : "down", strerror(-r));
	}
}

static void
flap_start(struct netem *nm, uint64_t now)
{
	uint64_t len = nm->conf.flap_down_ns ? nm->conf.flap_down_ns : DEFAULT_FLAP_NS;

	nm->down = true;
	nm->down_until = now + len;
	nm->flaps++;
	if (nm->conf.flap_carrier)
		carrier(nm, false);
}

/* Move the flap state to `now`: end a down period, start a scheduled one. */
static void
flap_tick(struct netem *nm, uint64_t now)
{
	if (nm->down && now >= nm->down_until) {
		nm->down = false;
		if (nm->conf.flap_carrier)
			carrier(nm, true);
	}
	if (!nm->down && nm->conf.flap_every_ns && now >= nm->next_flap) {
		flap_start(nm, now);
		nm->next_flap += nm->conf.flap_every_ns;
		if (nm->next_flap <= now)
			nm->next_flap = now + nm->conf.flap_every_ns;
	}
}

static uint64_t
flap_next_event(const struct netem *nm)
{
	if (nm->down)
		return nm->down_until;
	return nm->conf.flap_every_ns ? nm->next_flap : UINT64_MAX;
}

/* ---- reports --------------------------------------------------------------------- */

/* A JSON string of an interface name (which may hold quotes). */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* One JSON line with every counter on stdout. */
static void
report(struct netem *nm, const char *event, uint64_t now)
{
	static const char *const dname[2] = { "ab", "ba" };
	int d, i;

	for (i = 0; i < 2; i++)
		nm->port[i].in->ctr[NM_CTR_kernel_drops] += port_kernel_drops(&nm->port[i]);
	printf("{\"event\":\"%s\",\"t\":%.3f,\"a\":", event, (double)(now - nm->t0) / 1e9);
	json_str(stdout, nm->conf.if_a);
	printf(",\"b\":");
	json_str(stdout, nm->conf.if_b);
	printf(",\"flaps\":%" PRIu64 ",\"down\":%s", nm->flaps, nm->down ? "true" : "false");
	for (d = 0; d < 2; d++) {
		const struct nm_path *p = &nm->path[d];

		printf(",\"%s\":{", dname[d]);
		for (i = 0; i < NM_CTR_COUNT; i++)
			printf("%s\"%s\":%" PRIu64, i ? "," : "", nm_ctr_names[i], p->ctr[i]);
		printf(",\"held\":%" PRIu32 "}", p->held);
	}
	printf("}\n");
	fflush(stdout);
}

/* ---- receive ---------------------------------------------------------------------- */

static inline struct tpacket2_hdr *
ring_frame(const struct port *pt, uint32_t i)
{
	uint32_t per_block = RING_BLOCK / pt->frame_size;

	return (struct tpacket2_hdr *)(pt->ring + (size_t)(i / per_block) * RING_BLOCK +
				       (size_t)(i % per_block) * pt->frame_size);
}

/*
 * When frame `h` reached the interface, on CLOCK_MONOTONIC: the kernel's
 * receive timestamp (CLOCK_REALTIME) moved by `real_off` (realtime minus
 * monotonic, read just before), so that a forwarder that reads its ring
 * late does not add that lateness to the delay.  A timestamp in the future
 * or more than a second old (a clock step) counts as `now`.
 */
static uint64_t
arrival(const struct tpacket2_hdr *h, uint64_t now, int64_t real_off)
{
	int64_t t = (int64_t)h->tp_sec * (int64_t)MB_NS_PER_SEC + h->tp_nsec - real_off;

	if (t <= 0 || (uint64_t)t > now || now - (uint64_t)t > MB_NS_PER_SEC)
		return now;
	return (uint64_t)t;
}

/* Ring slot `h`, which the kernel has handed over: check the frame, copy
 * it into a pool slot, finish its checksum, restore its VLAN tag, and hand
 * it to the path with its arrival time.  The caller gives the ring slot
 * back afterwards. */
static void
rx_one(struct netem *nm, struct port *pt, const struct tpacket2_hdr *h, uint64_t now,
       int64_t real_off)
{
	struct nm_path *p = pt->in;
	const struct sockaddr_ll *sll = (const void *)((const uint8_t *)h + RING_SLL_OFF);
	const uint8_t *data = (const uint8_t *)h + h->tp_mac;
	struct virtio_net_hdr vh;
	uint32_t idx, len = h->tp_snaplen;
	struct nm_frame *fr;
	uint8_t *buf;

	if (sll->sll_pkttype == PACKET_OUTGOING)
		return;
	/* The kernel keeps tp_mac inside the slot; check anyway before use. */
	if (h->tp_mac < sizeof(vh) || h->tp_mac > pt->frame_size ||
	    len > pt->frame_size - h->tp_mac)
		return;
	memcpy(&vh, data - sizeof(vh), sizeof(vh));
	idx = nm_path_get(p);
	if (idx == NM_NONE) {
		/* Cannot happen (nm_path.h: the pool keeps spare slots). */
		p->ctr[NM_CTR_rx_frames]++;
		p->ctr[NM_CTR_drop_limit]++;
		return;
	}
	if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		if (!pt->warned_gso)
			msg("dropping GSO frames (%" PRIu32 " bytes) that arrive on '%s': turn "
			    "off tso, gso and tx-udp-segmentation on its peer (ethtool -K)",
			    h->tp_len, pt->name);
		pt->warned_gso = true;
		nm_path_reject(p, idx, h->tp_len, NM_CTR_drop_gso);
		return;
	}
	if (len != h->tp_len || len < NM_ETH_HLEN || len > nm->max_frame) {
		nm_path_reject(p, idx, h->tp_len, NM_CTR_drop_bad);
		return;
	}
	buf = nm_path_buf(p, idx);
	memcpy(buf + NM_HEADROOM, data, len);
	if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (nm_pkt_csum_complete(buf + NM_HEADROOM, len, vh.csum_start,
					 vh.csum_offset) < 0) {
			nm_path_reject(p, idx, len, NM_CTR_drop_bad);
			return;
		}
		p->ctr[NM_CTR_csum_completed]++;
	}
	fr = nm_path_frame(p, idx);
	fr->off = NM_HEADROOM;
	fr->len = (uint16_t)len;
	if (h->tp_status & TP_STATUS_VLAN_VALID) {
		uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ?
			h->tp_vlan_tpid : ETH_P_8021Q;

		/* The slot has NM_HEADROOM bytes in front: move the MACs there. */
		memmove(buf, buf + NM_HEADROOM, 12);
		mb_bytes_put_be16(buf + 12, tpid);
		mb_bytes_put_be16(buf + 14, h->tp_vlan_tci);
		fr->off = 0;
		fr->len = (uint16_t)(len + 4);
		p->ctr[NM_CTR_vlan_restored]++;
	}
	nm_path_input(p, idx, arrival(h, now, real_off), nm->down);
}

/*
 * Take what the ring of `pt` holds, at most RX_BUDGET frames, into its
 * path.  Returns true if any frame came.  An error on the socket (ENETDOWN
 * during our own carrier flap) is read and cleared, or poll() would report
 * it forever.
 */
static bool
port_rx(struct netem *nm, struct port *pt, uint64_t now, bool err)
{
	uint64_t mono = mb_time_mono_ns();
	int64_t real_off = (int64_t)(mb_time_real_ns() - mono);
	unsigned int n;

	if (err) {
		int e;
		socklen_t el = sizeof(e);

		(void)getsockopt(pt->fd, SOL_SOCKET, SO_ERROR, &e, &el);
	}
	for (n = 0; n < RX_BUDGET; n++) {
		struct tpacket2_hdr *h = ring_frame(pt, pt->rx_head);

		if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		rx_one(nm, pt, h, now, real_off);
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		if (++pt->rx_head == pt->frame_nr)
			pt->rx_head = 0;
	}
	return n > 0;
}

/* ---- send -------------------------------------------------------------------------- */

/*
 * Send the frames of `pt->out` that are due at `now`, in batches.  Frames
 * the kernel refuses for good (ENOBUFS when the peer's backlog is full,
 * ENETDOWN, EMSGSIZE) are dropped and counted; on EAGAIN the rest wait in
 * the batch for POLLOUT, in order.
 */
static void
port_tx(struct netem *nm, struct port *pt, uint64_t now)
{
	struct nm_path *p = pt->out;
	unsigned int round, i, sent;
	uint32_t idx;
	int r;

	pt->tx_blocked = false;
	for (round = 0; round < TX_ROUNDS; round++) {
		while (pt->tcount < BATCH && (idx = nm_path_pop(p, now)) != NM_NONE) {
			if (nm->down)
				nm_path_drop(p, idx, NM_CTR_drop_flap);
			else
				pt->tslot[pt->tcount++] = idx;
		}
		if (pt->tcount == 0)
			return;
		for (i = 0; i < pt->tcount; i++) {
			const struct nm_frame *fr = nm_path_frame(p, pt->tslot[i]);

			pt->tiov[i][1].iov_base = nm_path_buf(p, pt->tslot[i]) + fr->off;
			pt->tiov[i][1].iov_len = fr->len;
		}
		sent = 0;
		while (sent < pt->tcount) {
			r = sendmmsg(pt->fd, pt->tmsg + sent, pt->tcount - sent, MSG_DONTWAIT);
			if (r > 0) {
				for (i = sent; i < sent + (unsigned int)r; i++)
					nm_path_sent(p, pt->tslot[i]);
				sent += (unsigned int)r;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				pt->tx_blocked = true;
				break;
			}
			if (errno != pt->last_tx_errno && errno != ENETDOWN)
				msg("'%s': send: %s, dropping", pt->name, strerror(errno));
			pt->last_tx_errno = errno;
			nm_path_drop(p, pt->tslot[sent++], NM_CTR_drop_tx);
		}
		memmove(pt->tslot, pt->tslot + sent, (pt->tcount - sent) * sizeof(pt->tslot[0]));
		pt->tcount -= sent;
		if (pt->tx_blocked)
			return;
	}
}

/* ---- signals and the loop ------------------------------------------------------------- */

static void
signals(struct netem *nm, uint64_t now)
{
	struct signalfd_siginfo si;

	while (read(nm->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			nm->quit = true;
			break;
		case SIGUSR1:
			if (!nm->down)
				flap_start(nm, now);
			break;
		case SIGUSR2:
			report(nm, "stats", now);
			break;
		default:
			break;
		}
	}
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void
run(struct netem *nm)
{
	struct pollfd pfd[3] = { 0 };
	struct timespec ts;
	uint64_t now, deadline;
	bool busy = false;
	int i;

	while (!nm->quit) {
		now = mb_time_mono_ns();
		flap_tick(nm, now);
		for (i = 0; i < 2; i++)
			port_tx(nm, &nm->port[i], now);
		if (nm->conf.stats_every_ns && now >= nm->next_stats) {
			report(nm, "stats", now);
			nm->next_stats = now + nm->conf.stats_every_ns;
		}
		/* Sleep until the next event, or only look (signals, POLLOUT,
		 * errors) while frames keep coming. */
		deadline = busy ? now : flap_next_event(nm);
		if (nm->conf.stats_every_ns)
			deadline = min64(deadline, nm->next_stats);
		for (i = 0; i < 2; i++) {
			struct port *pt = &nm->port[i];

			pfd[i].fd = pt->fd;
			pfd[i].events = POLLIN | (pt->tx_blocked ? POLLOUT : 0);
			if (!pt->tx_blocked)
				deadline = min64(deadline, nm_path_next_due(pt->out));
		}
		pfd[2].fd = nm->sfd;
		pfd[2].events = POLLIN;
		if (deadline != UINT64_MAX) {
			deadline = deadline > now ? deadline - now : 0;
			ts.tv_sec = (time_t)(deadline / MB_NS_PER_SEC);
			ts.tv_nsec = (long)(deadline % MB_NS_PER_SEC);
		}
		if (ppoll(pfd, 3, deadline == UINT64_MAX ? NULL : &ts, NULL) == -1) {
			if (errno != EINTR)
				die("ppoll: %s", strerror(errno));
			memset(pfd, 0, sizeof(pfd));
		}
		now = mb_time_mono_ns();
		if (pfd[2].revents & POLLIN)
			signals(nm, now);
		busy = false;
		for (i = 0; i < 2; i++)
			busy |= port_rx(nm, &nm->port[i], now, pfd[i].revents & POLLERR);
	}
}

int
main(int argc, char **argv)
{
	struct netem *nm;
	char err[256];
	sigset_t mask;
	int r, i, d;

	nm = calloc(1, sizeof(*nm));
	if (!nm)
		die("out of memory");
	r = nm_opt_parse(argc, argv, &nm->conf, err, sizeof(err));
	if (r != 0) {
		free(nm);
		if (r == NM_OPT_HELP)
			nm_opt_usage(stdout);
		else if (r == NM_OPT_VERSION)
			printf("mb-netem %s\n", MB_VERSION);
		else
			fprintf(stderr, "mb-netem: %s\nTry 'mb-netem --help'.\n", err);
		return r < 0 ? 2 : 0;
	}
	quiet = nm->conf.quiet;
	if (!nm->conf.seed_set && getrandom(&nm->conf.seed, sizeof(nm->conf.seed), 0) !=
	    (ssize_t)sizeof(nm->conf.seed))
		nm->conf.seed = mb_time_real_ns();

	nm->port[0].name = nm->conf.if_a;
	nm->port[1].name = nm->conf.if_b;
	nm->port[0].in = nm->port[1].out = &nm->path[NM_AB];
	nm->port[1].in = nm->port[0].out = &nm->path[NM_BA];
	for (i = 0; i < 2; i++)
		port_open(&nm->port[i], nm->conf.max_frame);
	nm->max_frame = nm->conf.max_frame;
	if (nm->max_frame == 0)
		nm->max_frame = (nm->port[0].mtu > nm->port[1].mtu ? nm->port[0].mtu :
				 nm->port[1].mtu) + NM_ETH_HLEN + 4;
	/* Each ring takes the frames of its own interface; the pool of either
	 * direction those of the larger MTU.  The headroom takes a VLAN tag
	 * put back; slots are rounded to cache lines. */
	nm->slot_size = (nm->max_frame + NM_HEADROOM + 63) & ~63U;
	for (d = 0; d < 2; d++) {
		r = nm_path_init(&nm->path[d], &nm->conf.dir[d], nm->slot_size, BATCH,
				 nm->conf.seed + (uint64_t)d * 0x9e3779b97f4a7c15ULL);
		if (r < 0)
			die("frame pool of %" PRIu32 " frames: %s", nm->conf.dir[d].limit,
			    strerror(-r));
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		die("sigprocmask: %s", strerror(errno));
	nm->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (nm->sfd == -1)
		die("signalfd: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	/* Timeouts end within a microsecond of the due time, not 50. */
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

	nm->t0 = mb_time_mono_ns();
	nm->next_flap = nm->t0 + nm->conf.flap_every_ns;
	nm->next_stats = nm->t0 + nm->conf.stats_every_ns;
	msg("ready: a='%s' b='%s' seed=%" PRIu64 " max-frame=%" PRIu32 " ab: limit %" PRIu32
	    " queue %" PRIu64 "us, ba: limit %" PRIu32 " queue %" PRIu64 "us",
	    nm->conf.if_a, nm->conf.if_b, nm->conf.seed, nm->max_frame, nm->conf.dir[0].limit,
	    nm->conf.dir[0].queue_ns / 1000, nm->conf.dir[1].limit,
	    nm->conf.dir[1].queue_ns / 1000);
	run(nm);

	if (nm->down && nm->conf.flap_carrier)
		carrier(nm, true);
	for (i = 0; i < 2; i++) {
		struct port *pt = &nm->port[i];

		while (pt->tcount)
			nm_path_drop(pt->out, pt->tslot[--pt->tcount], NM_CTR_drop_exit);
		nm_path_flush(pt->out);
	}
	report(nm, "exit", mb_time_mono_ns());
	for (i = 0; i < 2; i++) {
		munmap(nm->port[i].ring, nm->port[i].ring_len);
		close(nm->port[i].fd);
		nm_path_done(&nm->path[i]);
	}
	close(nm->sfd);
	free(nm);
	return 0;
}
