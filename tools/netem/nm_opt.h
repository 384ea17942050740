/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-netem's command line: value parsers (times, percentages, rates,
 * sizes), the options scoped by --dir, and the defaults derived from them
 * (the rate limiter's queue, the frame limit).  Kept apart from the
 * forwarder so the unit tests can check every parser and the scoping
 * without sockets.  Nothing here prints except nm_opt_usage(); errors come
 * back as a message in the caller's buffer.
 */
#ifndef _NM_OPT_H_
#define _NM_OPT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nm_path.h"

enum { NM_AB = 0, NM_BA = 1 };

struct nm_conf {
	const char *if_a;		/* points into argv */
	const char *if_b;
	struct nm_dir_conf dir[2];	/* [NM_AB]: frames in on A, out on B */
	uint64_t flap_down_ns;		/* length of a down period; 0 = none */
	uint64_t flap_every_ns;		/* period of scheduled flaps; 0 = SIGUSR1 only */
	bool flap_carrier;		/* also take both interfaces down */
	uint64_t seed;
	bool seed_set;
	uint32_t max_frame;		/* 0 = the larger MTU of A and B plus 18 */
	uint64_t stats_every_ns;	/* 0 = only on SIGUSR2 and at exit */
	bool quiet;
	/* Raw --queue values until nm_opt_parse() resolves them. */
	uint64_t queue_bytes[2];
};

/* nm_opt_parse() results besides 0 and -EINVAL. */
#define NM_OPT_HELP 1
#define NM_OPT_VERSION 2

/*
 * Parse argv into *ret and fill in the defaults.  Returns 0, NM_OPT_HELP
 * (-h), NM_OPT_VERSION (-V), or -EINVAL with a one-line reason in `err`.
 * Uses getopt_long (resets optind first), so it is not reentrant.
 */
int nm_opt_parse(int argc, char **argv, struct nm_conf *ret, char *err, size_t errlen);

/* The --help text. */
void nm_opt_usage(FILE *out);

/* Value parsers, exported for the tests.  Each accepts the whole string or
 * returns -EINVAL; none accepts a sign, NaN or infinity. */

/* "20ms", "1.5s", "250us", "100ns", "0".  At most one hour. */
int nm_parse_time(const char *s, uint64_t *ret_ns);
/* "1%", "0.5%", "1" (percent), 0..100, to a fraction of 2^32. */
int nm_parse_prob(const char *s, uint64_t *ret_p);
/* Bits per second: "1G", "500M", "64k", "1.5Gbit", "2000000".  8000..1T. */
int nm_parse_rate(const char *s, uint64_t *ret_bps);
/* Bytes: "1500", "64k", "4M", "1G" (powers of 1024), optional "B". */
int nm_parse_size(const char *s, uint64_t *ret_bytes);

#endif /* _NM_OPT_H_ */
