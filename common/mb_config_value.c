/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The spellings of configuration values: unsigned integers, booleans,
 * sizes (64M, 1.5G, 512KiB: powers of 1024), rates (500Mbit/s, 10Gbps:
 * powers of 1000), byte rates (10MiB/s), durations (1h30m, 500ms), IPv4
 * addresses and prefixes; and the shortest exact spelling of a value for
 * people.  A parser that refuses says why in a hint the configuration's
 * messages quote.  Pure functions; never logs.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_config_priv.h"

#define OFF(f) offsetof(struct mb_config, f)
#define U64MAX UINT64_MAX

/* ---- value spellings ---------------------------------------------------------- */

int
mb_parse_uint(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int
mb_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* A decimal number with an optional fraction ("12", "1.5") at *sp: integer
 * part, fraction numerator and denominator (10^digits, at most 9 digits).
 * Advances *sp.  0, -EINVAL (no number) or -ERANGE. */
static int
parse_decimal(const char **sp, uint64_t *ret_int, uint64_t *ret_fnum, uint64_t *ret_fden)
{
	const char *s = *sp;
	uint64_t v = 0, fn = 0, fd = 1;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned dg = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - dg) / 10)
			return -ERANGE;
		v = v * 10 + dg;
	}
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		for (; isdigit((unsigned char)*s); s++) {
			if (fd >= 1000000000u)
				return -EINVAL;
			fn = fn * 10 + (uint64_t)(*s - '0');
			fd *= 10;
		}
	}
	*sp = s;
	*ret_int = v;
	*ret_fnum = fn;
	*ret_fden = fd;
	return 0;
}

/* int.frac * mult, exactly: -EDOM when not a whole number, -ERANGE. */
static int
scale(uint64_t ip, uint64_t fn, uint64_t fd, uint64_t mult, uint64_t *ret)
{
	unsigned __int128 v = (unsigned __int128)ip * mult;
	unsigned __int128 f = (unsigned __int128)fn * mult;

	if (f % fd != 0)
		return -EDOM;
	v += f / fd;
	if (v > UINT64_MAX)
		return -ERANGE;
	*ret = (uint64_t)v;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;
};

#define KI (1ULL << 10)
#define MI (1ULL << 20)
#define GI (1ULL << 30)
#define TI (1ULL << 40)

static const struct unit size_units[] = {
	{ "", 1 },	 { "b", 1 },	   { "k", KI },	     { "kb", KI },     { "kib", KI },
	{ "m", MI },	 { "mb", MI },	   { "mib", MI },    { "g", GI },      { "gb", GI },
	{ "gib", GI },	 { "t", TI },	   { "tb", TI },     { "tib", TI },    { NULL, 0 },
};

static const struct unit rate_prefixes[] = {
	{ "", 1 }, { "k", 1000ULL }, { "m", 1000000ULL }, { "g", 1000000000ULL },
	{ "t", 1000000000000ULL }, { NULL, 0 },
};

static const char *const rate_suffixes[] = { "", "bit", "bits", "bit/s", "bits/s", "bps", "b/s",
					     NULL };

static const struct unit duration_units[] = {
	{ "ms", 1 },	       { "msec", 1 },	      { "s", 1000 },	       { "sec", 1000 },
	{ "secs", 1000 },      { "second", 1000 },    { "seconds", 1000 },     { "m", 60000 },
	{ "min", 60000 },      { "mins", 60000 },     { "minute", 60000 },     { "minutes", 60000 },
	{ "h", 3600000 },      { "hr", 3600000 },     { "hrs", 3600000 },      { "hour", 3600000 },
	{ "hours", 3600000 },  { "d", 86400000 },     { "day", 86400000 },     { "days", 86400000 },
	{ "w", 604800000 },    { "week", 604800000 }, { "weeks", 604800000 },  { NULL, 0 },
};

static const struct unit *
unit_find(const struct unit *u, const char *name, size_t len)
{
	for (; u->name != NULL; u++)
		if (strlen(u->name) == len && strncasecmp(u->name, name, len) == 0)
			return u;
	return NULL;
}

const char *
mb_cfg_skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The parsers below return 0, -EINVAL, -ERANGE or -EDOM (not a whole
 * number of the base unit) and may write a hint for the message. */
static void
hint_set(char *hint, size_t hlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
hint_set(char *hint, size_t hlen, const char *fmt, ...)
{
	va_list ap;

	if (hint == NULL || hlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(hint, hlen, fmt, ap);
	va_end(ap);
}

int
mb_cfg_size_ex(const char *s, uint64_t *ret, bool per_second, char *hint, size_t hlen)
{
	uint64_t ip, fn, fd;
	const struct unit *u;
	const char *p = s;
	size_t ulen;
	int r;

	r = parse_decimal(&p, &ip, &fn, &fd);
	if (r < 0)
		return r;
	p = mb_cfg_skip_space(p);
	ulen = strlen(p);
	if (per_second && ulen >= 2 && strcmp(p + ulen - 2, "/s") == 0)
		ulen -= 2;
	if (strcasestr(p, "bit") != NULL) {
		hint_set(hint, hlen, "%s counts bytes, not bits (1 byte = 8 bits)",
			 per_second ? "this rate" : "a size");
		return -EINVAL;
	}
	if (per_second && ulen >= 3 && strncasecmp(p + ulen - 3, "bps", 3) == 0) {
		hint_set(hint, hlen, "write bytes per second as e.g. 100M or 100MiB/s");
		return -EINVAL;
	}
	u = unit_find(size_units, p, ulen);
	if (u == NULL) {
		hint_set(hint, hlen, "unknown unit '%s' (use K, M, G or T: powers of 1024)", p);
		return -EINVAL;
	}
	r = scale(ip, fn, fd, u->mult, ret);
	if (r == -EDOM)
		hint_set(hint, hlen, "not a whole number of bytes");
	return r;
}

int
mb_cfg_rate_ex(const char *s, uint64_t *ret, char *hint, size_t hlen)
{
	uint64_t ip, fn, fd;
	const struct unit *u = &rate_prefixes[0];
	const char *p = s, *suf;
	int r;

	r = parse_decimal(&p, &ip, &fn, &fd);
	if (r < 0)
		return r;
	p = mb_cfg_skip_space(p);
	suf = p;
	if (*p != '\0' && strchr("kKmMgGtT", *p) != NULL) {
		u = unit_find(rate_prefixes, p, 1);
		suf = p + 1;
	}
	if (*suf == 'B' || (strlen(suf) >= 3 && strcmp(suf + strlen(suf) - 3, "Bps") == 0)) {
		hint_set(hint, hlen, "rates here are in bits per second: 100 MB/s is 800M");
		return -EINVAL;
	}
	for (size_t i = 0;; i++) {
		if (rate_suffixes[i] == NULL) {
			hint_set(hint, hlen,
				 "unknown unit '%s' (use k, M, G or T, powers of 1000, optionally "
				 "followed by bit/s or bps)", p);
			return -EINVAL;
		}
		if (strcasecmp(suf, rate_suffixes[i]) == 0)
			break;
	}
	r = scale(ip, fn, fd, u->mult, ret);
	if (r == -EDOM)
		hint_set(hint, hlen, "not a whole number of bits per second");
	return r;
}

/* A duration in milliseconds into *ret_ms (no whole-second rule). */
static int
duration_ms_ex(const char *s, uint64_t *ret_ms, char *hint, size_t hlen)
{
	unsigned __int128 total = 0;
	const char *p = s;
	unsigned parts = 0;

	for (;;) {
		uint64_t ip, fn, fd, ms;
		const struct unit *u;
		const char *w;
		int r;

		p = mb_cfg_skip_space(p);
		if (*p == '\0')
			break;
		r = parse_decimal(&p, &ip, &fn, &fd);
		if (r < 0)
			return r;
		p = mb_cfg_skip_space(p);
		w = p;
		while (isalpha((unsigned char)*p))
			p++;
		if (p == w) {
			/* A bare number means seconds, but only on its own. */
			if (parts > 0 || *mb_cfg_skip_space(p) != '\0') {
				hint_set(hint, hlen, "give every number a unit (s, m, h, d)");
				return -EINVAL;
			}
			u = unit_find(duration_units, "s", 1);
		} else {
			u = unit_find(duration_units, w, (size_t)(p - w));
			if (u == NULL) {
				hint_set(hint, hlen, "unknown unit '%.*s' (use s, m, h, d or w)",
					 (int)(p - w), w);
				return -EINVAL;
			}
		}
		r = scale(ip, fn, fd, u->mult, &ms);
		if (r == -ERANGE)
			return r;
		if (r == -EDOM) {
			hint_set(hint, hlen, "not a whole number of seconds");
			return r;
		}
		total += ms;
		if (total > (unsigned __int128)UINT64_MAX)
			return -ERANGE;
		parts++;
	}
	if (parts == 0)
		return -EINVAL;
	*ret_ms = (uint64_t)total;
	return 0;
}

int
mb_cfg_duration_ex(const char *s, uint64_t *ret, char *hint, size_t hlen)
{
	uint64_t ms;
	int r = duration_ms_ex(s, &ms, hint, hlen);

	if (r < 0)
		return r;
	if (ms % 1000 != 0) {
		hint_set(hint, hlen, "not a whole number of seconds");
		return -EDOM;
	}
	*ret = ms / 1000;
	return 0;
}

static int
public_rc(int r)
{
	return r == -EDOM ? -EINVAL : r;
}

int
mb_parse_size(const char *s, uint64_t *ret)
{
	return public_rc(mb_cfg_size_ex(s, ret, false, NULL, 0));
}

int
mb_parse_byterate(const char *s, uint64_t *ret)
{
	return public_rc(mb_cfg_size_ex(s, ret, true, NULL, 0));
}

int
mb_parse_rate(const char *s, uint64_t *ret)
{
	return public_rc(mb_cfg_rate_ex(s, ret, NULL, 0));
}

int
mb_parse_duration(const char *s, uint64_t *ret)
{
	return public_rc(mb_cfg_duration_ex(s, ret, NULL, 0));
}

int
mb_parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	return public_rc(duration_ms_ex(s, ret_ms, NULL, 0));
}

/* v in the largest of the n units (largest first) that divides it. */
static int
format_exact(uint64_t v, const struct unit *u, size_t n, char *buf, size_t len)
{
	for (size_t i = 0; v != 0 && i < n; i++)
		if (v % u[i].mult == 0)
			return snprintf(buf, len, "%" PRIu64 "%s", v / u[i].mult, u[i].name);
	return snprintf(buf, len, "%" PRIu64, v);
}

int
mb_format_size(uint64_t v, char *buf, size_t len)
{
	static const struct unit u[] = { { "T", TI }, { "G", GI }, { "M", MI }, { "K", KI } };

	return format_exact(v, u, MB_ARRAY_SIZE(u), buf, len);
}

int
mb_format_rate(uint64_t v, char *buf, size_t len)
{
	static const struct unit u[] = {
		{ "T", 1000000000000ULL }, { "G", 1000000000ULL }, { "M", 1000000ULL }, { "k", 1000ULL },
	};

	return format_exact(v, u, MB_ARRAY_SIZE(u), buf, len);
}

int
mb_format_duration(uint64_t v, char *buf, size_t len)
{
	static const struct unit u[] = { { "d", 86400 }, { "h", 3600 }, { "m", 60 }, { "s", 1 } };
	size_t off = 0;

	if (v == 0)
		return snprintf(buf, len, "0s");
	for (size_t i = 0; i < MB_ARRAY_SIZE(u) && v != 0; i++) {
		if (v >= u[i].mult) {
			int n = snprintf(buf + off, off < len ? len - off : 0, "%" PRIu64 "%s",
					 v / u[i].mult, u[i].name);

			if (n < 0)
				return n;
			off += (size_t)n;
			v %= u[i].mult;
		}
	}
	return (int)off;
}

int
mb_parse_ipv4(const char *s, uint32_t *ret_be)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret_be = a.s_addr;
	return 0;
}

int
mb_parse_ipv4_prefix(const char *s, uint32_t *ret_be, uint64_t *ret_len)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	uint64_t len = 32;
	size_t n;

	if (slash == NULL)
		return -EINVAL;
	n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (mb_parse_uint(slash + 1, &len) < 0 || len < 1 || len > 32)
		return -EINVAL;
	if (mb_parse_ipv4(buf, ret_be) < 0)
		return -EINVAL;
	*ret_len = len;
	return 0;
}
