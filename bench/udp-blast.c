/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * udp-blast: the kernel-socket UDP sender that the Frisbee benchmarks compare miniboss against.
 * It sends datagrams of a Frisbee BLOCK's size (1048 bytes of payload by default) to a unicast
 * or multicast address for a bounded time or a bounded number of bytes, either the way the stock
 * frisbeed does (one sendto() per datagram) or the fastest way a kernel socket offers (UDP GSO:
 * one UDP_SEGMENT super-datagram carries up to 64 KiB, and sendmmsg() hands a batch of them to the
 * kernel per system call). The payload carries a sequence number in its first eight bytes so a
 * capture can tell datagrams apart. It prints one JSON object with what it sent, so bench/run can
 * compare it with what arrived at the peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define BLAST_MAX_GSO_BYTES 65000
#define BLAST_MAX_SEGS 64
#define BLAST_MAX_BATCH 64

static volatile sig_atomic_t blast_stop;

static void
blast_on_signal(int sig)
{
	(void)sig;
	blast_stop = 1;
}

static double
blast_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
blast_usage(FILE *f)
{
	fprintf(f,
		"usage: udp-blast -d ADDR [-p PORT] [-I IFADDR] [-l LEN] [-m sendto|gso]\n"
		"                 [-t SECONDS] [-n BYTES] [-s SEGS] [-b BATCH]\n"
		"  -d ADDR     destination IPv4 address (unicast or multicast)\n"
		"  -p PORT     destination UDP port (default 6000)\n"
		"  -I IFADDR   local address: bind to it and send multicast through it\n"
		"  -l LEN      datagram payload length (default 1048, a Frisbee BLOCK)\n"
		"  -m MODE     sendto: one sendto() per datagram; gso: UDP_SEGMENT + sendmmsg()\n"
		"  -t SECONDS  stop after this long (default 5)\n"
		"  -n BYTES    stop after this many payload bytes (default: time only)\n"
		"  -s SEGS     datagrams per GSO super-datagram (default: as many as fit 64 KiB)\n"
		"  -b BATCH    super-datagrams per sendmmsg() (default 8)\n");
}

int
main(int argc, char **argv)
{
	const char *dst = NULL, *ifaddr = NULL, *mode = "sendto";
	unsigned int port = 6000, len = 1048, segs = 0, batch = 8;
	double seconds = 5.0;
	unsigned long long max_bytes = 0, sent_dgrams = 0, sent_bytes = 0, errors = 0, calls = 0;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct mmsghdr msgs[BLAST_MAX_BATCH];
	struct iovec iovs[BLAST_MAX_BATCH];
	char cbufs[BLAST_MAX_BATCH][CMSG_SPACE(sizeof(uint16_t))];
	unsigned char *buf;
	bool gso;
	double t0, t1;
	int opt, fd, one = 1;

	while ((opt = getopt(argc, argv, "d:p:I:l:m:t:n:s:b:h")) != -1) {
		switch (opt) {
		case 'd': dst = optarg; break;
		case 'p': port = strtoul(optarg, NULL, 0); break;
		case 'I': ifaddr = optarg; break;
		case 'l': len = strtoul(optarg, NULL, 0); break;
		case 'm': mode = optarg; break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'n': max_bytes = strtoull(optarg, NULL, 0); break;
		case 's': segs = strtoul(optarg, NULL, 0); break;
		case 'b': batch = strtoul(optarg, NULL, 0); break;
		case 'h': blast_usage(stdout); return 0;
		default: blast_usage(stderr); return 2;
		}
	}
	if (dst == NULL || inet_pton(AF_INET, dst, &sin.sin_addr) != 1 || port == 0 ||
	    port > 65535 || len < 16 || len > 8192 || seconds <= 0) {
		blast_usage(stderr);
		return 2;
	}
	if (strcmp(mode, "sendto") == 0) {
		gso = false;
	} else if (strcmp(mode, "gso") == 0) {
		gso = true;
	} else {
		blast_usage(stderr);
		return 2;
	}
	if (segs == 0 || segs > BLAST_MAX_SEGS || segs * len > BLAST_MAX_GSO_BYTES)
		segs = BLAST_MAX_GSO_BYTES / len < BLAST_MAX_SEGS ? BLAST_MAX_GSO_BYTES / len :
								     BLAST_MAX_SEGS;
	if (batch == 0 || batch > BLAST_MAX_BATCH)
		batch = 8;
	if (!gso) {
		segs = 1;
		batch = 1;
	}
	sin.sin_port = htons(port);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udp-blast: socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ifaddr != NULL) {
		struct sockaddr_in me = { .sin_family = AF_INET };
		struct in_addr ia;

		if (inet_pton(AF_INET, ifaddr, &ia) != 1) {
			blast_usage(stderr);
			return 2;
		}
		me.sin_addr = ia;
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
			perror("udp-blast: bind");
			return 1;
		}
		if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ia, sizeof(ia)) < 0) {
			perror("udp-blast: IP_MULTICAST_IF");
			return 1;
		}
	}
	{
		int ttl = 1, sndbuf = 4 << 20;

		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	}

	buf = calloc(BLAST_MAX_BATCH, (size_t)segs * len);
	if (buf == NULL) {
		perror("udp-blast: calloc");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (unsigned int i = 0; i < batch; i++) {
		iovs[i].iov_base = buf + (size_t)i * segs * len;
		iovs[i].iov_len = (size_t)segs * len;
		msgs[i].msg_hdr.msg_name = &sin;
		msgs[i].msg_hdr.msg_namelen = sizeof(sin);
		msgs[i].msg_hdr.msg_iov = &iovs[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		if (gso) {
			struct cmsghdr *cm;

			msgs[i].msg_hdr.msg_control = cbufs[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(cbufs[i]);
			cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)(void *)CMSG_DATA(cm) = (uint16_t)len;
		}
	}

	signal(SIGINT, blast_on_signal);
	signal(SIGTERM, blast_on_signal);
	t0 = blast_now();
	while (!blast_stop) {
		int n;

		/* Stamp a sequence number into every datagram of the next batch. */
		for (unsigned int i = 0; i < batch * segs; i++) {
			uint64_t seq = sent_dgrams + i;

			memcpy(buf + (size_t)i * len, &seq, sizeof(seq));
		}
		if (gso)
			n = sendmmsg(fd, msgs, batch, 0);
		else
			n = sendto(fd, buf, len, 0, (struct sockaddr *)&sin, sizeof(sin)) < 0 ? -1 : 1;
		if (n < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				perror("udp-blast: send");
				return 1;
			}
			errors++;
		} else {
			sent_dgrams += (unsigned long long)n * segs;
			sent_bytes += (unsigned long long)n * segs * len;
		}
		if (max_bytes != 0 && sent_bytes >= max_bytes)
			break;
		/* Reading the clock every 64 calls keeps its cost out of the measurement. */
		if ((gso || (++calls & 63) == 0) && blast_now() - t0 >= seconds)
			break;
	}
	t1 = blast_now();
	printf("{\"tool\": \"udp-blast\", \"mode\": \"%s\", \"payload_len\": %u, "
	       "\"segs_per_send\": %u, \"batch\": %u, \"datagrams\": %llu, \"bytes\": %llu, "
	       "\"send_errors\": %llu, \"seconds\": %.6f}\n",
	       mode, len, segs, batch, sent_dgrams, sent_bytes, errors, t1 - t0);
	free(buf);
	close(fd);
	return 0;
}
