/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-netem's command line (see nm_opt.h).
 *
 * Impairment options are scoped: each applies to the directions chosen by
 * the last --dir before it (both at first), so one command line describes
 * an asymmetric path without a second syntax.  Values are parsed strictly
 * (the whole string, a unit where one is needed, bounds checked), because a
 * typo in a test's impairment should fail loudly rather than run a clean
 * path.  The help text is the reference for the syntax and also lists what
 * the forwarder cannot do; doc/testing.md repeats it in prose.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nm_opt.h"

#define NS_PER_SEC 1000000000ULL
#define NS_PER_MS 1000000ULL
#define MAX_TIME_NS (3600ULL * NS_PER_SEC)
#define MAX_LIMIT (1U << 22)
#define MAX_FRAME 16384
#define MIN_LIMIT 1024
/* Without --rate the limit assumes this rate: more than one forwarding
 * thread moves on the machines this was written for. */
#define ASSUMED_RATE 5000000000ULL

static const char usage_text[] =
"Usage: mb-netem -a IF_A -b IF_B [options]\n"
"\n"
"An emulated network path for tests: forwards every Ethernet frame received\n"
"on IF_A out of IF_B and every frame received on IF_B out of IF_A, through\n"
"impairments set per direction.  \"ab\" is the direction of frames that arrive\n"
"on A and leave on B, \"ba\" the other.  A and B are usually two veth ends in a\n"
"namespace of their own whose peers are the two hosts (tests/system/wan.sh).\n"
"\n"
"Scope:\n"
"  --dir ab|ba|both      the impairment options after it apply to that direction\n"
"                        (both until the first --dir); repeat to switch:\n"
"                        --delay 20ms --dir ab --rate 100M --dir ba --rate 10M\n"
"\n"
"Impairments, per direction, applied in this order:\n"
"  --loss P              lose P percent of the frames at random (\"1%\", \"0.5\")\n"
"  --loss-burst E:X[:L]  Gilbert-Elliott bursts: at each frame the path enters a\n"
"                        bad state with probability E% and leaves it with X%\n"
"                        (mean burst 100/X frames); L% of the frames are lost in\n"
"                        the bad state (default 100%), --loss in the good state\n"
"  --dup P               send P% of the frames twice; the copy then goes through\n"
"                        the queue, delay and reordering on its own\n"
"  --corrupt P           flip one byte (XOR with a random non-zero value) in P% of\n"
"                        the eligible frames\n"
"  --corrupt-in WHERE    where: payload (TCP/UDP payload; frames without one are not\n"
"                        eligible; the default), l4 (TCP/UDP header and payload),\n"
"                        ip (IP header to the end of the datagram), frame (any\n"
"                        byte), or A-B (bytes A to B of the frame, from 0)\n"
"  --corrupt-match PROTO[:PORT]\n"
"                        only tcp or udp frames, with PORT as source or destination\n"
"  --corrupt-csum keep|fix\n"
"                        keep (default): checksums stay as they were, so the\n"
"                        receiver's IP/TCP/UDP checksum catches the corruption;\n"
"                        fix: the IPv4 header and TCP/UDP checksums are recomputed,\n"
"                        so the corruption reaches the application as bad data\n"
"  --corrupt-skip N      spare the first N frames picked for corruption\n"
"  --corrupt-max N       corrupt at most N frames (default 0: no limit)\n"
"  --rate R              a link of R bits/s (\"1G\", \"100M\", \"512k\"): frames leave\n"
"                        one after another at that rate, from a FIFO queue\n"
"  --burst SIZE          bytes that may pass at once instead of taking their time\n"
"                        at the rate (token bucket depth; default 0: every frame\n"
"                        takes len x 8 / R, as on a real link)\n"
"  --queue SIZE|TIME     the queue in front of the rate limit, in bytes (\"256k\")\n"
"                        or time at the rate (\"30ms\"); a frame that would wait\n"
"                        longer is dropped (tail drop).  Default: one round trip\n"
"                        (delay ab + delay ba) at the rate, at least 10 ms and 16\n"
"                        full-size frames\n"
"  --delay T             one-way delay (\"20ms\", \"1.5ms\", \"500us\", \"1s\")\n"
"  --jitter T            add a uniform random -T..+T to each frame's delay; frames\n"
"                        keep their order (none leaves before the one ahead)\n"
"  --reorder P:T         hold P% of the frames back by an extra T, so that the\n"
"                        frames behind them overtake them\n"
"  --limit N             frames held at most in this direction (queue, delay line,\n"
"                        held-back frames); more are dropped (drop_limit).  Default:\n"
"                        what --rate (or 5 Gbit/s) fills in the longest hold time\n"
"                        (delay + jitter + reorder + queue) in 1500-byte frames,\n"
"                        times 1.5, at least 1024.  Memory: N x (max frame + 4),\n"
"                        touched only when used\n"
"\n"
"The link, both directions:\n"
"  --flap DOWN[/EVERY]   the link is down for DOWN every EVERY (\"200ms/10s\"), the\n"
"                        first time EVERY after the start; without /EVERY only\n"
"                        SIGUSR1 takes it down.  While it is down, frames that\n"
"                        arrive or come due are dropped (drop_flap)\n"
"  --flap-mode drop|carrier\n"
"                        carrier: also set A and B down, so the hosts see their\n"
"                        link lose carrier; drop (default): they only see loss\n"
"\n"
"Other:\n"
"  --seed N              seed of the random choices (default: random)\n"
"  --max-frame N         largest frame in bytes (default: the larger MTU of A and\n"
"                        B plus 18, for the Ethernet header and a VLAN tag);\n"
"                        larger frames are dropped (drop_bad)\n"
"  --stats-every T       also print the counters every T\n"
"  -q                    only errors on stderr\n"
"  -h, -V                this help, the version\n"
"\n"
"Signals: SIGUSR1 starts a down period (DOWN from --flap, 1 s without it);\n"
"SIGUSR2 prints the counters; SIGINT and SIGTERM print them and exit 0.\n"
"\n"
"Output: \"mb-netem: ready\" on stderr once it forwards; on stdout one JSON object\n"
"per line: {\"event\":\"start\"|\"stats\"|\"exit\",\"t\":SECONDS,\"flaps\":N,\"down\":BOOL,\n"
"\"ab\":{COUNTERS},\"ba\":{COUNTERS}} with, per direction, rx_frames, rx_bytes,\n"
"tx_frames, tx_bytes, drop_loss, drop_flap, drop_queue, drop_limit, drop_gso,\n"
"drop_bad, drop_tx, drop_exit, duplicated, reordered, corrupted, ge_bursts,\n"
"csum_completed, vlan_restored, kernel_drops, held_max and held.  Always\n"
"rx_frames + duplicated = tx_frames + drop_* + held.\n"
"Exit status: 0 after SIGINT/SIGTERM, 1 on a runtime error, 2 on a usage error.\n"
"\n"
"What it cannot do:\n"
"  - GSO/TSO super-frames are dropped (drop_gso, with a warning), not cut into\n"
"    segments: turn off tso, gso and tx-udp-segmentation on the peers of A and B\n"
"    (ethtool -K).  Partial checksums (tx checksum offload) are completed.\n"
"  - One thread and one copy in and one out of the kernel per frame: it forwards\n"
"    150,000-250,000 frames per second (1.6-3 Gbit/s of 1514-byte frames with\n"
"    20 ms of delay, measured on a busy two-core VM; one TCP stream through it\n"
"    0.6-1.2 Gbit/s at 40 ms RTT), and small frames give far fewer bits per\n"
"    second.  On veth its thread also runs the receiving host's stack.\n"
"  - Frames leave when the kernel wakes it, up to some tens of microseconds after\n"
"    their due time (more on a loaded machine): delays, jitter and rates are\n"
"    exact on average, not per frame at microsecond scale.\n"
"  - Jitter is uniform and never reorders; no delay distributions or correlated\n"
"    loss other than the Gilbert-Elliott model.\n"
"  - One FIFO queue per direction: no per-flow fairness, no AQM, no ECN marking.\n"
"  - The parser behind --corrupt-in and --corrupt-match knows Ethernet with up to\n"
"    two VLAN tags, IPv4, IPv6 without extension headers, TCP and UDP; IPv4\n"
"    fragments are not looked into.  With --corrupt-csum fix, a byte flipped in a\n"
"    checksum field is repaired at once.\n"
"  - Everything the namespace of A and B itself sends out of them (IPv6 router\n"
"    solicitations, for one) is forwarded too: disable IPv6 there.\n"
"  - Settings are fixed at start; only SIGUSR1 changes the link at run time.\n";

void
nm_opt_usage(FILE *out)
{
	fputs(usage_text, out);
}

/* ---- values ----------------------------------------------------------------- */

/* A non-negative finite number at the start of s; *ret_end after it. */
static int
parse_num(const char *s, double *ret, const char **ret_end)
{
	char *end;
	double v;

	if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	*ret = v;
	*ret_end = end;
	return 0;
}

int
nm_parse_time(const char *s, uint64_t *ret_ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = { { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 } };
	const char *end;
	double v;
	size_t i;

	if (parse_num(s, &v, &end) < 0)
		return -EINVAL;
	if (*end == '\0' && v == 0) {
		*ret_ns = 0;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			v *= units[i].ns;
			if (v > (double)MAX_TIME_NS)
				return -EINVAL;
			*ret_ns = (uint64_t)llround(v);
			return 0;
		}
	}
	return -EINVAL;
}

int
nm_parse_prob(const char *s, uint64_t *ret_p)
{
	const char *end;
	double v;

	if (parse_num(s, &v, &end) < 0)
		return -EINVAL;
	if (*end == '%')
		end++;
	if (*end != '\0' || v > 100)
		return -EINVAL;
	*ret_p = (uint64_t)llround(v / 100.0 * (double)NM_P_ONE);
	return 0;
}

int
nm_parse_rate(const char *s, uint64_t *ret_bps)
{
	const char *end;
	double v;

	if (parse_num(s, &v, &end) < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v *= 1e3; end++; break;
	case 'm': case 'M': v *= 1e6; end++; break;
	case 'g': case 'G': v *= 1e9; end++; break;
	case 't': case 'T': v *= 1e12; end++; break;
	default: break;
	}
	if (strcmp(end, "bit") == 0 || strcmp(end, "bps") == 0)
		end += 3;
	if (*end != '\0' || v < 8000 || v > 1e12)
		return -EINVAL;
	*ret_bps = (uint64_t)llround(v);
	return 0;
}

int
nm_parse_size(const char *s, uint64_t *ret_bytes)
{
	const char *end;
	double v;

	if (parse_num(s, &v, &end) < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end == 'B')
		end++;
	if (*end != '\0' || v > 1e15)
		return -EINVAL;
	*ret_bytes = (uint64_t)llround(v);
	return 0;
}

/* A whole decimal number in [0, max]. */
static int
parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "A:B" into two freshly split strings in buf (at most 3 parts). */
static int
split(const char *s, char *buf, size_t buflen, char *parts[3])
{
	int n = 1;
	char *p;

	if (strlen(s) >= buflen)
		return -EINVAL;
	strcpy(buf, s);
	parts[0] = buf;
	parts[1] = parts[2] = NULL;
	for (p = buf; *p; p++) {
		if (*p != ':')
			continue;
		if (n == 3)
			return -EINVAL;
		*p = '\0';
		parts[n++] = p + 1;
	}
	return n;
}

/* ---- options ------------------------------------------------------------------ */

enum {
	OPT_DIR = 256, OPT_DELAY, OPT_JITTER, OPT_LOSS, OPT_LOSS_BURST, OPT_DUP, OPT_REORDER,
	OPT_CORRUPT, OPT_CORRUPT_IN, OPT_CORRUPT_MATCH, OPT_CORRUPT_CSUM, OPT_CORRUPT_SKIP,
	OPT_CORRUPT_MAX, OPT_RATE, OPT_BURST, OPT_QUEUE, OPT_LIMIT, OPT_FLAP, OPT_FLAP_MODE,
	OPT_SEED, OPT_MAX_FRAME, OPT_STATS_EVERY,
};

static const struct option long_opts[] = {
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "delay", required_argument, NULL, OPT_DELAY },
	{ "jitter", required_argument, NULL, OPT_JITTER },
	{ "loss", required_argument, NULL, OPT_LOSS },
	{ "loss-burst", required_argument, NULL, OPT_LOSS_BURST },
	{ "dup", required_argument, NULL, OPT_DUP },
	{ "reorder", required_argument, NULL, OPT_REORDER },
	{ "corrupt", required_argument, NULL, OPT_CORRUPT },
	{ "corrupt-in", required_argument, NULL, OPT_CORRUPT_IN },
	{ "corrupt-match", required_argument, NULL, OPT_CORRUPT_MATCH },
	{ "corrupt-csum", required_argument, NULL, OPT_CORRUPT_CSUM },
	{ "corrupt-skip", required_argument, NULL, OPT_CORRUPT_SKIP },
	{ "corrupt-max", required_argument, NULL, OPT_CORRUPT_MAX },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "queue", required_argument, NULL, OPT_QUEUE },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "flap", required_argument, NULL, OPT_FLAP },
	{ "flap-mode", required_argument, NULL, OPT_FLAP_MODE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },
	{ "stats-every", required_argument, NULL, OPT_STATS_EVERY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* The option currently parsed, for error messages. */
static const char *
opt_name(int c)
{
	const struct option *o;

	for (o = long_opts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Marker for "--queue was given as a time" in queue_bytes. */
#define QUEUE_IS_TIME UINT64_MAX

/* Apply one scoped option to the directions in `mask`. */
static int
apply(struct nm_conf *cf, unsigned int mask, int c, const char *arg, char *err, size_t errlen)
{
	char buf[128], *parts[3];
	uint64_t v = 0, v2 = 0, v3 = NM_P_ONE, lo, hi;
	int n, d;

	for (d = 0; d < 2; d++) {
		struct nm_dir_conf *dc = &cf->dir[d];

		if (!(mask & (1U << d)))
			continue;
		switch (c) {
		case OPT_DELAY:
		case OPT_JITTER:
			if (nm_parse_time(arg, &v) < 0)
				goto bad;
			*(c == OPT_DELAY ? &dc->delay_ns : &dc->jitter_ns) = v;
			break;
		case OPT_LOSS:
		case OPT_DUP:
		case OPT_CORRUPT:
			if (nm_parse_prob(arg, &v) < 0)
				goto bad;
			*(c == OPT_LOSS ? &dc->loss : c == OPT_DUP ? &dc->dup : &dc->corrupt) = v;
			break;
		case OPT_LOSS_BURST:
			n = split(arg, buf, sizeof(buf), parts);
			if (n < 2 || nm_parse_prob(parts[0], &v) < 0 ||
			    nm_parse_prob(parts[1], &v2) < 0 ||
			    (n == 3 && nm_parse_prob(parts[2], &v3) < 0) || v == 0 || v2 == 0)
				return fail(err, errlen, "--loss-burst '%s': expected E%%:X%%[:L%%] "
					    "with E and X above 0", arg);
			dc->ge_enter = v;
			dc->ge_exit = v2;
			dc->ge_loss = v3;
			break;
		case OPT_REORDER:
			n = split(arg, buf, sizeof(buf), parts);
			if (n != 2 || nm_parse_prob(parts[0], &v) < 0 ||
			    nm_parse_time(parts[1], &v2) < 0 || v2 == 0)
				return fail(err, errlen, "--reorder '%s': expected P%%:TIME, "
					    "e.g. 2%%:5ms", arg);
			dc->reorder = v;
			dc->reorder_ns = v2;
			break;
		case OPT_CORRUPT_IN:
			if (strcmp(arg, "payload") == 0) {
				dc->corrupt_in = NM_IN_PAYLOAD;
			} else if (strcmp(arg, "l4") == 0) {
				dc->corrupt_in = NM_IN_L4;
			} else if (strcmp(arg, "ip") == 0) {
				dc->corrupt_in = NM_IN_IP;
			} else if (strcmp(arg, "frame") == 0) {
				dc->corrupt_in = NM_IN_FRAME;
			} else {
				const char *dash = strchr(arg, '-');

				if (!dash || (size_t)(dash - arg) >= sizeof(buf))
					goto bad;
				memcpy(buf, arg, (size_t)(dash - arg));
				buf[dash - arg] = '\0';
				if (parse_uint(buf, MAX_FRAME, &lo) < 0 ||
				    parse_uint(dash + 1, MAX_FRAME, &hi) < 0 || lo > hi)
					goto bad;
				dc->corrupt_in = NM_IN_RANGE;
				dc->corrupt_lo = (uint32_t)lo;
				dc->corrupt_hi = (uint32_t)hi;
			}
			break;
		case OPT_CORRUPT_MATCH:
			n = split(arg, buf, sizeof(buf), parts);
			if (n < 1 || n > 2)
				goto bad;
			if (strcmp(parts[0], "tcp") == 0)
				dc->corrupt_proto = IPPROTO_TCP;
			else if (strcmp(parts[0], "udp") == 0)
				dc->corrupt_proto = IPPROTO_UDP;
			else
				goto bad;
			dc->corrupt_port = NM_PORT_ANY;
			if (n == 2) {
				if (parse_uint(parts[1], 65535, &v) < 0)
					goto bad;
				dc->corrupt_port = (uint32_t)v;
			}
			break;
		case OPT_CORRUPT_CSUM:
			if (strcmp(arg, "keep") == 0)
				dc->corrupt_fix = false;
			else if (strcmp(arg, "fix") == 0)
				dc->corrupt_fix = true;
			else
				goto bad;
			break;
		case OPT_CORRUPT_SKIP:
		case OPT_CORRUPT_MAX:
			if (parse_uint(arg, UINT64_MAX, &v) < 0)
				goto bad;
			*(c == OPT_CORRUPT_SKIP ? &dc->corrupt_skip : &dc->corrupt_max) = v;
			break;
		case OPT_RATE:
			if (nm_parse_rate(arg, &dc->rate) < 0)
				goto bad;
			break;
		case OPT_BURST:
			if (nm_parse_size(arg, &dc->burst) < 0)
				goto bad;
			break;
		case OPT_QUEUE:
			if (nm_parse_time(arg, &v) == 0 && strspn(arg, "0123456789.") != strlen(arg)) {
				dc->queue_ns = v;
				cf->queue_bytes[d] = QUEUE_IS_TIME;
			} else if (nm_parse_size(arg, &v) == 0 && v > 0) {
				cf->queue_bytes[d] = v;
			} else {
				goto bad;
			}
			break;
		case OPT_LIMIT:
			if (parse_uint(arg, MAX_LIMIT, &v) < 0 || v == 0)
				goto bad;
			dc->limit = (uint32_t)v;
			break;
		default:
			return fail(err, errlen, "internal: option %d", c);
		}
	}
	return 0;
bad:
	return fail(err, errlen, "--%s: bad value '%s' (see --help)", opt_name(c), arg);
}

/* Defaults that depend on several options, once all are known. */
static int
finish(struct nm_conf *cf, char *err, size_t errlen)
{
	uint64_t rtt = cf->dir[NM_AB].delay_ns + cf->dir[NM_BA].delay_ns;
	int d;

	for (d = 0; d < 2; d++) {
		struct nm_dir_conf *dc = &cf->dir[d];
		const char *name = d == NM_AB ? "ab" : "ba";
		double hold, frames, rate;

		if (!dc->rate && (cf->queue_bytes[d] || dc->burst))
			return fail(err, errlen, "%s: --queue and --burst need --rate", name);
		if (dc->rate) {
			/* One round trip (the classic router buffer), but never less
			 * than 10 ms nor than 16 full-size frames at the rate. */
			uint64_t frames16 = (uint64_t)(16.0 * 1518 * 8 * NS_PER_SEC /
						       (double)dc->rate);

			if (cf->queue_bytes[d] == 0) {
				dc->queue_ns = rtt > 10 * NS_PER_MS ? rtt : 10 * NS_PER_MS;
				if (dc->queue_ns < frames16)
					dc->queue_ns = frames16;
			} else if (cf->queue_bytes[d] != QUEUE_IS_TIME) {
				dc->queue_ns = (uint64_t)((double)cf->queue_bytes[d] * 8 * NS_PER_SEC /
							  (double)dc->rate);
			}
			if (dc->queue_ns > MAX_TIME_NS)
				return fail(err, errlen, "%s: --queue longer than an hour", name);
		}
		if (dc->limit == 0) {
			hold = (double)(dc->delay_ns + dc->jitter_ns + dc->reorder_ns + dc->queue_ns)
				+ (double)NS_PER_MS;
			rate = (double)(dc->rate ? dc->rate : ASSUMED_RATE);
			frames = 1.5 * rate * hold / NS_PER_SEC / (1500 * 8);
			dc->limit = frames < MIN_LIMIT ? MIN_LIMIT :
				frames > MAX_LIMIT ? MAX_LIMIT : (uint32_t)frames;
		}
	}
	if (cf->flap_every_ns && cf->flap_every_ns <= cf->flap_down_ns)
		return fail(err, errlen, "--flap: the period must be longer than the down time");
	return 0;
}

int
nm_opt_parse(int argc, char **argv, struct nm_conf *ret, char *err, size_t errlen)
{
	unsigned int mask = 3;
	uint64_t v;
	char *slash;
	int c, d;

	memset(ret, 0, sizeof(*ret));
	for (d = 0; d < 2; d++)
		ret->dir[d].corrupt_port = NM_PORT_ANY;
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "a:b:qhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			ret->if_a = optarg;
			break;
		case 'b':
			ret->if_b = optarg;
			break;
		case 'q':
			ret->quiet = true;
			break;
		case 'h':
			return NM_OPT_HELP;
		case 'V':
			return NM_OPT_VERSION;
		case OPT_DIR:
			if (strcmp(optarg, "ab") == 0)
				mask = 1U << NM_AB;
			else if (strcmp(optarg, "ba") == 0)
				mask = 1U << NM_BA;
			else if (strcmp(optarg, "both") == 0)
				mask = 3;
			else
				return fail(err, errlen, "--dir '%s': expected ab, ba or both",
					    optarg);
			break;
		case OPT_FLAP:
			slash = strchr(optarg, '/');
			if (slash)
				*slash = '\0';
			if (nm_parse_time(optarg, &ret->flap_down_ns) < 0 || ret->flap_down_ns == 0 ||
			    (slash && nm_parse_time(slash + 1, &ret->flap_every_ns) < 0)) {
				if (slash)
					*slash = '/';
				return fail(err, errlen, "--flap '%s': expected DOWN[/EVERY], "
					    "e.g. 200ms/10s", optarg);
			}
			if (slash)
				*slash = '/';
			break;
		case OPT_FLAP_MODE:
			if (strcmp(optarg, "drop") == 0)
				ret->flap_carrier = false;
			else if (strcmp(optarg, "carrier") == 0)
				ret->flap_carrier = true;
			else
				return fail(err, errlen, "--flap-mode '%s': expected drop or carrier",
					    optarg);
			break;
		case OPT_SEED:
			if (parse_uint(optarg, UINT64_MAX, &ret->seed) < 0)
				return fail(err, errlen, "--seed '%s': expected a number", optarg);
			ret->seed_set = true;
			break;
		case OPT_MAX_FRAME:
			if (parse_uint(optarg, MAX_FRAME, &v) < 0 || v < 60)
				return fail(err, errlen, "--max-frame '%s': expected 60..%d", optarg,
					    MAX_FRAME);
			ret->max_frame = (uint32_t)v;
			break;
		case OPT_STATS_EVERY:
			if (nm_parse_time(optarg, &ret->stats_every_ns) < 0 ||
			    ret->stats_every_ns < NS_PER_MS)
				return fail(err, errlen, "--stats-every '%s': expected a time of "
					    "at least 1ms", optarg);
			break;
		case '?':
			if (optopt)
				return fail(err, errlen, "unknown option or missing value: -%c",
					    optopt);
			return fail(err, errlen, "unknown option or missing value: '%s'",
				    argv[optind - 1]);
		default:
			if (apply(ret, mask, c, optarg, err, errlen) < 0)
				return -EINVAL;
			break;
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (!ret->if_a || !ret->if_b)
		return fail(err, errlen, "-a and -b are required");
	if (strcmp(ret->if_a, ret->if_b) == 0)
		return fail(err, errlen, "-a and -b name the same interface");
	return finish(ret, err, errlen);
}
