/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fris-flood: keeps a Frisbee server sending at its full rate, for the sender-capacity
 * benchmark. It joins a session (JOIN2, as the stock client does in raw mode) and then asks for
 * whole chunks, round robin over the image, at a fixed request rate well above what any server
 * here can send, and never reads a BLOCK: the benchmark's receiving side drops BLOCK-sized
 * frames in XDP and counts them. Real receivers back off when blocks do not come; this one does
 * not, so the frames counted at the sink are the server's sustained send rate on the same path
 * and sink as the testpmd ceiling and the kernel UDP senders. It re-sends its JOIN2 every half
 * second, so a server that restarts or drops idle clients keeps it. Prints one JSON line of what
 * it sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fris_wire.h"

static volatile sig_atomic_t flood_stop;

static void
flood_on_signal(int sig)
{
	(void)sig;
	flood_stop = 1;
}

static double
flood_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
flood_usage(FILE *f)
{
	fprintf(f, "usage: fris-flood -i MYIP -m GROUP -p PORT -c CHUNKS [-r REQ_PER_S] [-t SECONDS]\n"
		   "  -c CHUNKS  chunks (1 MiB) in the image: requests cycle over 0..CHUNKS-1\n"
		   "  -r N       whole-chunk REQUESTs per second (default 2000)\n"
		   "  -t S       stop after S seconds (default 10)\n");
}

int
main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET }, me = { .sin_family = AF_INET };
	unsigned long chunks = 0, rate = 2000, sent = 0, errors = 0, joins = 0;
	double seconds = 10, t0, next_join = 0, next_tick;
	uint32_t clientid, chunk = 0;
	uint8_t buf[MB_FRIS_PKT_MAX];
	int opt, fd, len;

	while ((opt = getopt(argc, argv, "i:m:p:c:r:t:h")) != -1) {
		switch (opt) {
		case 'i':
			if (inet_pton(AF_INET, optarg, &me.sin_addr) != 1)
				goto usage;
			break;
		case 'm':
			if (inet_pton(AF_INET, optarg, &dst.sin_addr) != 1)
				goto usage;
			break;
		case 'p': dst.sin_port = htons((uint16_t)strtoul(optarg, NULL, 0)); break;
		case 'c': chunks = strtoul(optarg, NULL, 0); break;
		case 'r': rate = strtoul(optarg, NULL, 0); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'h': flood_usage(stdout); return 0;
		default: goto usage;
		}
	}
	if (me.sin_addr.s_addr == 0 || dst.sin_addr.s_addr == 0 || dst.sin_port == 0 ||
	    chunks == 0 || rate == 0 || rate > 1000000 || seconds <= 0)
		goto usage;

	/* Servers only accept messages from the session's port, as the stock client sends them. */
	me.sin_port = dst.sin_port;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &me.sin_addr, sizeof(me.sin_addr)) < 0) {
		perror("fris-flood: socket");
		return 1;
	}
	clientid = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	signal(SIGINT, flood_on_signal);
	signal(SIGTERM, flood_on_signal);
	t0 = flood_now();
	next_tick = t0;
	while (!flood_stop) {
		double now = flood_now();
		unsigned long due;

		if (now - t0 >= seconds)
			break;
		if (now >= next_join) {
			len = mb_fris_encode_join2(buf, sizeof(buf), me.sin_addr.s_addr, clientid);
			if (len > 0 && sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&dst,
					      sizeof(dst)) == len)
				joins++;
			next_join = now + 0.5;
		}
		/* One tick per millisecond: send what the rate owes since the start. */
		due = (unsigned long)((now - t0) * (double)rate);
		while (sent + errors < due && !flood_stop) {
			len = mb_fris_encode_request(buf, sizeof(buf), me.sin_addr.s_addr, chunk, 0,
						     MB_FRIS_CHUNK_BLOCKS);
			if (len > 0 && sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&dst,
					      sizeof(dst)) == len)
				sent++;
			else
				errors++;
			chunk = (uint32_t)((chunk + 1) % chunks);
		}
		next_tick += 0.001;
		if (next_tick > now) {
			struct timespec ts = { 0, (long)((next_tick - now) * 1e9) };

			nanosleep(&ts, NULL);
		}
	}
	printf("{\"tool\": \"fris-flood\", \"requests\": %lu, \"joins\": %lu, \"errors\": %lu, "
	       "\"seconds\": %.3f}\n", sent, joins, errors, flood_now() - t0);
	close(fd);
	return 0;
usage:
	flood_usage(stderr);
	return 2;
}
