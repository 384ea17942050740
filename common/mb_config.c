/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Table-driven configuration (Redis standardConfig style).  Every key is one
 * row of mb_cfg_keys[]; the parser, the defaults, the checks of `minibossd
 * -n`, the JSON dump for `minibossctl config`, the reload check, the example
 * file of `minibossd -E` and the miniboss.conf(5) page all walk that table,
 * so a key cannot be documented in one place and parsed differently in
 * another.
 *
 * The file syntax is INI, read here line by line rather than with inih: the
 * checks must name the line of every problem (inih tells its handler no line
 * number), a value may be as long as its key allows (inih cuts lines at 200
 * bytes without a word), an indented line must not silently continue the
 * previous value, and `# comments` may follow a value (inih strips only `;`).
 * What is accepted is what mb_config_print_syntax() prints.
 *
 * This file does not log: problems come back as diagnostics.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_file.h"

#define OFF(f) offsetof(struct mb_config, f)
#define U64MAX UINT64_MAX

/* clang-format off */
const struct mb_cfg_key mb_cfg_keys[] = {
	/* section, name, type, offset, min, max, default, reloadable, help[, flags] */
	{ "server", "state-dir", MB_CFG_STRING, OFF(state_dir), 1, 4095, "/var/lib/miniboss", false,
	  "directory holding images/ and manifest.json; must exist unless create-state-dir is set",
	  MB_CFG_F_DIR },
	{ "server", "create-state-dir", MB_CFG_BOOL, OFF(create_state_dir), 0, 1, "no", false,
	  "create state-dir (and its parents) when it does not exist, instead of refusing to start" },
	{ "server", "control-socket", MB_CFG_STRING, OFF(control_socket), 1, 107,
	  "/run/miniboss/control.sock", false, "Unix socket for minibossctl (newline-delimited JSON)",
	  MB_CFG_F_SOCKET },
	{ "server", "eal-args", MB_CFG_STRING, OFF(eal_args), 0, 4095, "", false,
	  "EAL arguments used when none are given on the command line" },
	{ "server", "log-level", MB_CFG_STRING, OFF(log_level), 1, 16, "info", true,
	  "error, warning, notice, info or debug" },
	{ "server", "max-control-clients", MB_CFG_UINT, OFF(max_control_clients), 1, 1024, "32", true,
	  "concurrent control-socket clients" },
	{ "server", "control-timeout", MB_CFG_DURATION, OFF(control_timeout), 1, 3600, "30s", true,
	  "idle control clients are closed after this long" },
	{ "server", "open-files", MB_CFG_UINT, OFF(open_files), 1024, 1048576, "65536", false,
	  "open-descriptor limit (RLIMIT_NOFILE) the daemon raises itself to at start; "
	  "at least what the client limits need" },

	{ "dpdk", "port", MB_CFG_UINT, OFF(port_id), 0, 1023, "0", false,
	  "DPDK port id of the serving NIC" },
	{ "dpdk", "address", MB_CFG_IPV4_PREFIX, OFF(address), 0, 0, "", false,
	  "our IPv4 address and prefix on the serving port, e.g. 10.1.0.1/24 (required)" },
	{ "dpdk", "gateway", MB_CFG_IPV4, OFF(gateway), 0, 0, "0.0.0.0", false,
	  "IPv4 next hop for off-subnet peers, 0.0.0.0 = none" },
	{ "dpdk", "mtu", MB_CFG_UINT, OFF(mtu), 576, 9000, "1500", false,
	  "IP MTU of the port; every packet mbuf is sized to hold a whole frame, so a jumbo MTU "
	  "costs dpdk.mbufs x (mtu + 150) bytes" },
	{ "dpdk", "exception-tap", MB_CFG_STRING, OFF(exception_tap), 0, 15, "mb0", false,
	  "TAP interface for traffic the dataplane does not own; empty = drop it" },
	{ "dpdk", "rx-desc", MB_CFG_UINT, OFF(rx_desc), 64, 16384, "1024", false, "RX ring size" },
	{ "dpdk", "tx-desc", MB_CFG_UINT, OFF(tx_desc), 64, 16384, "1024", false, "TX ring size" },
	{ "dpdk", "mbufs", MB_CFG_UINT, OFF(mbufs), 1023, 4194303, "16383", false,
	  "mbufs in the packet pool" },
	{ "dpdk", "burst", MB_CFG_UINT, OFF(burst), 1, 256, "32", false, "RX/TX burst size" },
	{ "dpdk", "idle-sleep-us", MB_CFG_UINT, OFF(idle_sleep_us), 0, 100000, "50", true,
	  "sleep this long when a poll loop pass found no work (0 = busy poll)" },
	{ "dpdk", "tx-zero-copy", MB_CFG_BOOL, OFF(tx_zero_copy), 0, 1, "yes", false,
	  "attach cached image data to TX mbufs instead of copying it" },

	{ "images", "hugepage-budget", MB_CFG_SIZE, OFF(hugepage_budget), 0, U64MAX, "0", true,
	  "bytes of hugepage memory for cached images, 0 = as much as EAL has" },
	{ "images", "max-images", MB_CFG_UINT, OFF(max_images), 1, 65536, "1024", true,
	  "images in the store" },
	{ "images", "max-image-size", MB_CFG_SIZE, OFF(max_image_size), 1, U64MAX, "64G", true,
	  "largest image accepted" },

	{ "frisbee", "enable", MB_CFG_BOOL, OFF(fris_enable), 0, 1, "yes", false,
	  "serve Frisbee multicast" },
	{ "frisbee", "mcast-base", MB_CFG_IPV4, OFF(mcast_base), 0, 0, "234.5.6.1", false,
	  "first multicast group handed out by the master server" },
	{ "frisbee", "mcast-count", MB_CFG_UINT, OFF(mcast_count), 1, 65536, "254", false,
	  "number of consecutive groups from mcast-base" },
	{ "frisbee", "port-base", MB_CFG_UINT, OFF(fris_port_base), 1024, 65535, "3564", false,
	  "first UDP port for sessions" },
	{ "frisbee", "port-count", MB_CFG_UINT, OFF(fris_port_count), 1, 16384, "256", false,
	  "number of UDP ports from port-base" },
	{ "frisbee", "methods", MB_CFG_STRING, OFF(fris_methods), 1, 64, "mcast,ucast", true,
	  "methods the master server offers: any of mcast, ucast, bcast" },
	/* Unpaced, a stock client overflows its 1 MiB socket buffer, re-requests
	 * and waits out its 1 s redo delay: 5x slower than paced near its link
	 * (measured).  1 Gbit/s matches the common node NIC; stock frisbeed's
	 * default is 72 Mbit/s. */
	{ "frisbee", "rate", MB_CFG_RATE, OFF(fris_rate), 0, U64MAX, "1G", true,
	  "bits/s cap per session on the wire, 0 = unpaced (port rate)" },
	{ "frisbee", "port-rate", MB_CFG_RATE, OFF(port_rate), 0, U64MAX, "0", true,
	  "bits/s cap for all sessions on the port, 0 = link speed" },
	{ "frisbee", "dynamic-rate", MB_CFG_BOOL, OFF(dynamic_rate), 0, 1, "no", true,
	  "back off when clients re-request, creep back up (frisbeed -D)" },
	{ "frisbee", "idle-timeout", MB_CFG_DURATION, OFF(fris_idle_timeout), 1, 86400, "600s", true,
	  "a session that sends no block new to its current round for this long ends "
	  "(requests and reports that bring no new data do not keep it alive)" },
	{ "frisbee", "max-sessions", MB_CFG_UINT, OFF(max_sessions), 1, 4096, "64", false,
	  "concurrent Frisbee sessions (the dataplane's slots are made at start)" },
	{ "frisbee", "master-port", MB_CFG_UINT, OFF(master_port), 0, 65535, "64494", false,
	  "TCP port of the master-server (GET) protocol, 0 = off" },
	{ "frisbee", "master-listen", MB_CFG_STRING, OFF(master_listen), 1, 63, "0.0.0.0", false,
	  "kernel address the master server listens on" },
	{ "frisbee", "mcast-ttl", MB_CFG_UINT, OFF(mcast_ttl), 1, 255, "5", true,
	  "IP TTL of multicast BLOCKs" },
	{ "frisbee", "tryagain-wait", MB_CFG_DURATION, OFF(tryagain_wait), 0, 86400, "30s", true,
	  "how long a GET for an image still syncing answers TRYAGAIN before NOIMAGE" },
	{ "frisbee", "master-proxy", MB_CFG_BOOL, OFF(master_proxy), 0, 1, "no", true,
	  "answer master-server requests made on behalf of another node (frisbee -P)" },
	{ "frisbee", "unicast-resend", MB_CFG_UINT, OFF(unicast_resend), 0, 10000, "100", true,
	  "percent of its image a unicast session may send beyond one copy (plus one chunk); "
	  "bounds what spoofed requests make us send to one address" },
	{ "frisbee", "master-max-per-source", MB_CFG_UINT, OFF(master_per_source), 1, 256, "16", true,
	  "concurrent master-server connections from one address (more are closed at once)" },
	{ "frisbee", "max-sessions-per-source", MB_CFG_UINT, OFF(sessions_per_source), 1, 4096, "8",
	  true, "running sessions one requesting address may have started (joining a running "
	  "session is free); a proxy (master-proxy) counts as one address" },
	{ "frisbee", "max-unicast-sessions", MB_CFG_UINT, OFF(max_unicast_sessions), 0, 4096, "0",
	  true, "session slots unicast (one session per client) may hold, so nodes with many "
	  "addresses cannot take those multicast needs; 0 = half of max-sessions, or all of them "
	  "when methods offers only ucast" },

	{ "tcp", "enable", MB_CFG_BOOL, OFF(tcp_enable), 0, 1, "yes", false,
	  "serve HTTP and FTP data from the dataplane TCP" },
	{ "tcp", "http-port", MB_CFG_UINT, OFF(http_port), 0, 65535, "80", false,
	  "HTTP port owned by the dataplane, 0 = off" },
	{ "tcp", "ftp-port", MB_CFG_UINT, OFF(ftp_port), 0, 65535, "21", false,
	  "FTP control port, 0 = off" },
	{ "tcp", "ftp-pasv-min", MB_CFG_UINT, OFF(ftp_pasv_min), 1024, 65535, "50000", false,
	  "first FTP passive data port" },
	{ "tcp", "ftp-pasv-max", MB_CFG_UINT, OFF(ftp_pasv_max), 1024, 65535, "50999", false,
	  "last FTP passive data port" },
	{ "tcp", "ftp-max-per-source", MB_CFG_UINT, OFF(ftp_per_source), 1, 256, "8", true,
	  "concurrent FTP control connections from one address (more get 421)" },
	{ "tcp", "max-connections", MB_CFG_UINT, OFF(max_connections), 1, 1048576, "65536", false,
	  "concurrent TCP connections" },
	{ "tcp", "idle-timeout", MB_CFG_DURATION, OFF(tcp_idle_timeout), 1, 86400, "300s", true,
	  "idle TCP connections are reset after this long" },
	{ "tcp", "congestion-control", MB_CFG_STRING, OFF(tcp_cc), 1, 16, "newreno", true,
	  "newreno (the only one implemented; cubic is refused until it exists)" },
	{ "tcp", "initial-window", MB_CFG_UINT, OFF(initial_window), 1, 64, "10", true,
	  "initial congestion window in segments" },
	{ "tcp", "syn-backlog", MB_CFG_UINT, OFF(syn_backlog), 16, 1048576, "4096", false,
	  "half-open connections before SYN cookies take over" },
	{ "tcp", "max-connections-per-source", MB_CFG_UINT, OFF(max_conns_per_src), 0, 1048576,
	  "4096", false, "TCP connections (any state) one peer address may hold, 0 = no limit" },
	{ "tcp", "partial-requests-per-source", MB_CFG_UINT, OFF(partial_reqs_per_src), 0,
	  1048576, "64", false,
	  "HTTP connections of one peer address that may hold a buffered request (8 KiB each), "
	  "0 = no limit" },

	{ "origin", "url", MB_CFG_STRING, OFF(origin_url), 0, 2047, "", true,
	  "https URL of the ops image directory (manifest.json lives there); empty = no sync" },
	{ "origin", "ca-file", MB_CFG_STRING, OFF(origin_ca_file), 0, 4095, "", true,
	  "CA bundle that signs the ops server certificate", MB_CFG_F_FILE | MB_CFG_F_CERT },
	{ "origin", "client-cert", MB_CFG_STRING, OFF(origin_client_cert), 0, 4095, "", true,
	  "client certificate (PEM) presented to ops", MB_CFG_F_FILE | MB_CFG_F_CERT },
	{ "origin", "client-key", MB_CFG_STRING, OFF(origin_client_key), 0, 4095, "", true,
	  "private key of client-cert", MB_CFG_F_FILE | MB_CFG_F_SECRET },
	{ "origin", "manifest-pubkey", MB_CFG_STRING, OFF(manifest_pubkey), 0, 4095, "", true,
	  "pinned public key (PEM) that signs manifest.json", MB_CFG_F_FILE | MB_CFG_F_PUBKEY },
	{ "origin", "site", MB_CFG_STRING, OFF(origin_site), 0, 255, "", true,
	  "site name; images with a site list are synced only when it names this site" },
	{ "origin", "interval", MB_CFG_DURATION, OFF(sync_interval), 5, 86400, "300s", true,
	  "manifest poll interval" },
	{ "origin", "max-rate", MB_CFG_BYTERATE, OFF(sync_max_rate), 0, U64MAX, "0", true,
	  "bytes/s cap for sync downloads, 0 = none" },
	{ "origin", "concurrency", MB_CFG_UINT, OFF(sync_concurrency), 1, 16, "2", true,
	  "parallel image downloads" },
	{ "origin", "max-manifest-size", MB_CFG_SIZE, OFF(max_manifest_size), 1024, 1073741824,
	  "16M", true, "largest manifest accepted" },
	{ "origin", "timeout", MB_CFG_DURATION, OFF(sync_timeout), 1, 86400, "60s", true,
	  "a transfer that moves no byte for this long is aborted" },

	{ "control", "tls-listen", MB_CFG_STRING, OFF(tls_listen), 0, 63, "", false,
	  "address:port of the TLS control socket for boss, empty = off" },
	{ "control", "tls-cert", MB_CFG_STRING, OFF(tls_cert), 0, 4095, "", true,
	  "server certificate of the TLS control socket", MB_CFG_F_FILE | MB_CFG_F_CERT },
	{ "control", "tls-key", MB_CFG_STRING, OFF(tls_key), 0, 4095, "", true,
	  "key of tls-cert", MB_CFG_F_FILE | MB_CFG_F_SECRET },
	{ "control", "tls-ca", MB_CFG_STRING, OFF(tls_ca), 0, 4095, "", true,
	  "CA that signs boss's client certificate", MB_CFG_F_FILE | MB_CFG_F_CERT },
	{ NULL, NULL, 0, 0, 0, 0, NULL, false, NULL, 0 },
};
/* clang-format on */

static const char *const type_names[] = {
	[MB_CFG_STRING] = "string",	   [MB_CFG_UINT] = "uint",     [MB_CFG_BOOL] = "bool",
	[MB_CFG_IPV4] = "ipv4",		   [MB_CFG_IPV4_PREFIX] = "ipv4/len",
	[MB_CFG_SIZE] = "size",		   [MB_CFG_RATE] = "rate",     [MB_CFG_DURATION] = "duration",
	[MB_CFG_BYTERATE] = "byte rate",
};

_Static_assert(sizeof(mb_cfg_keys) / sizeof(mb_cfg_keys[0]) <= MB_CFG_MAX_KEYS + 1,
	       "raise MB_CFG_MAX_KEYS: the key table outgrew the per-key arrays");

/* Diagnostics kept per check; the rest are only counted (a hostile file
 * cannot make us keep one message per line). */
#define MAX_DIAGS 200

const char *
mb_config_type_name(enum mb_cfg_type t)
{
	return (unsigned)t < MB_ARRAY_SIZE(type_names) ? type_names[t] : "?";
}

/* ---- diagnostics ------------------------------------------------------------ */

void
mb_diags_init(struct mb_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void
mb_diags_done(struct mb_diags *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

void
mb_diags_add(struct mb_diags *d, enum mb_diag_level level, const char *file, uint32_t line,
	     const char *fmt, ...)
{
	struct mb_diag g = { .level = level, .line = line };
	va_list ap;
	int r;

	if (level == MB_DIAG_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->n >= MAX_DIAGS)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct mb_diag *v = realloc(d->v, cap * sizeof(*v));

		if (v == NULL)
			return;
		d->v = v;
		d->cap = cap;
	}
	va_start(ap, fmt);
	r = vasprintf(&g.msg, fmt, ap);
	va_end(ap);
	if (r == -1)
		return;
	if (file != NULL) {
		g.file = strdup(file);
		if (g.file == NULL) {
			free(g.msg);
			return;
		}
	}
	d->v[d->n++] = g;
}

void
mb_diags_sort(struct mb_diags *d)
{
	/* Insertion sort: stable, and the lists are short (MAX_DIAGS). */
	for (size_t i = 1; i < d->n; i++) {
		struct mb_diag g = d->v[i];
		size_t j = i;

		while (j > 0) {
			const struct mb_diag *p = &d->v[j - 1];
			int fc = strcmp(p->file ? p->file : "", g.file ? g.file : "");

			if (fc < 0 || (fc == 0 && p->line <= g.line))
				break;
			d->v[j] = *p;
			j--;
		}
		d->v[j] = g;
	}
}

static int
diag_format(const struct mb_diag *g, bool level, char *buf, size_t len)
{
	const char *lv = !level ? "" : g->level == MB_DIAG_ERROR ? "error: " : "warning: ";

	if (g->file != NULL && g->line > 0)
		return snprintf(buf, len, "%s:%" PRIu32 ": %s%s", g->file, g->line, lv, g->msg);
	if (g->file != NULL)
		return snprintf(buf, len, "%s: %s%s", g->file, lv, g->msg);
	return snprintf(buf, len, "%s%s", lv, g->msg);
}

int
mb_diag_format(const struct mb_diag *g, char *buf, size_t len)
{
	return diag_format(g, true, buf, len);
}

void
mb_diags_print(const struct mb_diags *d, FILE *f, const char *prefix)
{
	char buf[2048];
	unsigned kept = (unsigned)d->n, all = d->errors + d->warnings;

	for (size_t i = 0; i < d->n; i++) {
		mb_diag_format(&d->v[i], buf, sizeof(buf));
		fprintf(f, "%s%s\n", prefix, buf);
	}
	if (all > kept)
		fprintf(f, "%s... and %u more\n", prefix, all - kept);
}

json_t *
mb_diags_json(const struct mb_diags *d, int level)
{
	json_t *a = json_array();
	char buf[2048];

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		if (level >= 0 && (int)d->v[i].level != level)
			continue;
		mb_diag_format(&d->v[i], buf, sizeof(buf));
		if (json_array_append_new(a, json_string(buf)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The first error as "file:line: message" (the one-message API). */
static void
first_error(const struct mb_diags *d, char *err, size_t errlen)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].level == MB_DIAG_ERROR) {
			diag_format(&d->v[i], false, err, errlen);
			return;
		}
	}
	if (d->errors > 0)
		snprintf(err, errlen, "out of memory");
}

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

static const char *
skip_space(const char *s)
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

static int
size_ex(const char *s, uint64_t *ret, bool per_second, char *hint, size_t hlen)
{
	uint64_t ip, fn, fd;
	const struct unit *u;
	const char *p = s;
	size_t ulen;
	int r;

	r = parse_decimal(&p, &ip, &fn, &fd);
	if (r < 0)
		return r;
	p = skip_space(p);
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

static int
rate_ex(const char *s, uint64_t *ret, char *hint, size_t hlen)
{
	uint64_t ip, fn, fd;
	const struct unit *u = &rate_prefixes[0];
	const char *p = s, *suf;
	int r;

	r = parse_decimal(&p, &ip, &fn, &fd);
	if (r < 0)
		return r;
	p = skip_space(p);
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

		p = skip_space(p);
		if (*p == '\0')
			break;
		r = parse_decimal(&p, &ip, &fn, &fd);
		if (r < 0)
			return r;
		p = skip_space(p);
		w = p;
		while (isalpha((unsigned char)*p))
			p++;
		if (p == w) {
			/* A bare number means seconds, but only on its own. */
			if (parts > 0 || *skip_space(p) != '\0') {
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

static int
duration_ex(const char *s, uint64_t *ret, char *hint, size_t hlen)
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
	return public_rc(size_ex(s, ret, false, NULL, 0));
}

int
mb_parse_byterate(const char *s, uint64_t *ret)
{
	return public_rc(size_ex(s, ret, true, NULL, 0));
}

int
mb_parse_rate(const char *s, uint64_t *ret)
{
	return public_rc(rate_ex(s, ret, NULL, 0));
}

int
mb_parse_duration(const char *s, uint64_t *ret)
{
	return public_rc(duration_ex(s, ret, NULL, 0));
}

int
mb_parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	return public_rc(duration_ms_ex(s, ret_ms, NULL, 0));
}

int
mb_format_size(uint64_t v, char *buf, size_t len)
{
	static const struct unit u[] = { { "T", TI }, { "G", GI }, { "M", MI }, { "K", KI } };

	for (size_t i = 0; v != 0 && i < MB_ARRAY_SIZE(u); i++)
		if (v % u[i].mult == 0)
			return snprintf(buf, len, "%" PRIu64 "%s", v / u[i].mult, u[i].name);
	return snprintf(buf, len, "%" PRIu64, v);
}

int
mb_format_rate(uint64_t v, char *buf, size_t len)
{
	static const struct unit u[] = {
		{ "T", 1000000000000ULL }, { "G", 1000000000ULL }, { "M", 1000000ULL }, { "k", 1000ULL },
	};

	for (size_t i = 0; v != 0 && i < MB_ARRAY_SIZE(u); i++)
		if (v % u[i].mult == 0)
			return snprintf(buf, len, "%" PRIu64 "%s", v / u[i].mult, u[i].name);
	return snprintf(buf, len, "%" PRIu64, v);
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

/* ---- keys ------------------------------------------------------------------------- */

static void *
field(struct mb_config *cfg, const struct mb_cfg_key *k)
{
	return (char *)cfg + k->offset;
}

static const void *
cfield(const struct mb_config *cfg, const struct mb_cfg_key *k)
{
	return (const char *)cfg + k->offset;
}

size_t
mb_config_key_index(const struct mb_cfg_key *k)
{
	return (size_t)(k - mb_cfg_keys);
}

const struct mb_cfg_key *
mb_config_find(const char *section, const char *name)
{
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++)
		if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static bool
section_known(const char *section)
{
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++)
		if (strcmp(k->section, section) == 0)
			return true;
	return false;
}

/* A bound in the key's own units, for messages. */
static void
format_bound(const struct mb_cfg_key *k, uint64_t v, char *buf, size_t len)
{
	switch (k->type) {
	case MB_CFG_SIZE:
	case MB_CFG_BYTERATE:
		mb_format_size(v, buf, len);
		break;
	case MB_CFG_RATE:
		mb_format_rate(v, buf, len);
		break;
	case MB_CFG_DURATION:
		mb_format_duration(v, buf, len);
		break;
	default:
		snprintf(buf, len, "%" PRIu64, v);
		break;
	}
}

/* Parse one value into its field, checking bounds; the message (without
 * the place) into err.  0, -EINVAL, -ERANGE or -ENOMEM. */
static int
set_key(struct mb_config *cfg, const struct mb_cfg_key *k, const char *value, char *err,
	size_t errlen)
{
	char hint[160] = "";
	uint64_t u = 0;
	int r = 0;

	switch (k->type) {
	case MB_CFG_STRING: {
		size_t len = strlen(value);
		char **p = field(cfg, k);
		char *dup;

		if (len > k->max || len < k->min) {
			snprintf(err, errlen,
				 "[%s] %s: %s is %zu characters long, allowed %" PRIu64 "..%" PRIu64,
				 k->section, k->name, len == 0 ? "an empty value" : "the value", len,
				 k->min, k->max);
			return -EINVAL;
		}
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) {
				snprintf(err, errlen, "[%s] %s: control character in value",
					 k->section, k->name);
				return -EINVAL;
			}
		}
		dup = strdup(value);
		if (dup == NULL)
			return -ENOMEM;
		free(*p);
		*p = dup;
		return 0;
	}
	case MB_CFG_BOOL:
		r = mb_parse_bool(value, (bool *)field(cfg, k));
		if (r < 0)
			snprintf(err, errlen, "[%s] %s: '%s' is not yes or no", k->section, k->name,
				 value);
		return r;
	case MB_CFG_IPV4:
		r = mb_parse_ipv4(value, (uint32_t *)field(cfg, k));
		if (r < 0)
			snprintf(err, errlen, "[%s] %s: '%s' is not an IPv4 address", k->section,
				 k->name, value);
		return r;
	case MB_CFG_IPV4_PREFIX:
		if (value[0] == '\0') {
			*(uint32_t *)field(cfg, k) = 0;
			cfg->prefixlen = 0;
			return 0;
		}
		r = mb_parse_ipv4_prefix(value, (uint32_t *)field(cfg, k), &cfg->prefixlen);
		if (r < 0)
			snprintf(err, errlen, "[%s] %s: '%s' is not an address and prefix length "
				 "like 10.1.0.1/24", k->section, k->name, value);
		return r;
	case MB_CFG_UINT:
		r = mb_parse_uint(value, &u);
		if (r == -EINVAL && isdigit((unsigned char)value[0]))
			snprintf(hint, sizeof(hint), "this key takes a plain number, no unit");
		break;
	case MB_CFG_SIZE:
		r = size_ex(value, &u, false, hint, sizeof(hint));
		break;
	case MB_CFG_BYTERATE:
		r = size_ex(value, &u, true, hint, sizeof(hint));
		break;
	case MB_CFG_RATE:
		r = rate_ex(value, &u, hint, sizeof(hint));
		break;
	case MB_CFG_DURATION:
		r = duration_ex(value, &u, hint, sizeof(hint));
		break;
	}
	if (r == -ERANGE) {
		snprintf(err, errlen, "[%s] %s: '%s' is too large", k->section, k->name, value);
		return -ERANGE;
	}
	if (r < 0) {
		snprintf(err, errlen, "[%s] %s: '%s' is not a valid %s%s%s", k->section, k->name,
			 value, type_names[k->type], hint[0] ? ": " : "", hint);
		return -EINVAL;
	}
	if (u < k->min || u > k->max) {
		char b[32];

		format_bound(k, u < k->min ? k->min : k->max, b, sizeof(b));
		snprintf(err, errlen, "[%s] %s: '%s' is %s the %s %s", k->section, k->name, value,
			 u < k->min ? "below" : "above", u < k->min ? "minimum" : "maximum", b);
		return -ERANGE;
	}
	*(uint64_t *)field(cfg, k) = u;
	return 0;
}

static void
where_clear(struct mb_config *cfg)
{
	for (size_t i = 0; i < MB_CFG_MAX_KEYS; i++) {
		free(cfg->text[i]);
		cfg->text[i] = NULL;
		cfg->line[i] = 0;
	}
	free(cfg->source);
	cfg->source = NULL;
}

void
mb_config_done(struct mb_config *cfg)
{
	if (cfg == NULL)
		return;
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		if (k->type == MB_CFG_STRING) {
			char **p = field(cfg, k);

			free(*p);
			*p = NULL;
		}
	}
	where_clear(cfg);
}

int
mb_config_defaults(struct mb_config *cfg)
{
	char err[MB_CFG_ERRLEN];

	memset(cfg, 0, sizeof(*cfg));
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		if (set_key(cfg, k, k->def, err, sizeof(err)) < 0) {
			mb_config_done(cfg);
			return -ENOMEM; /* defaults are checked by the unit tests */
		}
	}
	return 0;
}

int
mb_config_copy(struct mb_config *dst, const struct mb_config *src)
{
	*dst = *src;
	/* Null every owned pointer first so done() frees only what we copied. */
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++)
		if (k->type == MB_CFG_STRING)
			*(char **)field(dst, k) = NULL;
	for (size_t i = 0; i < MB_CFG_MAX_KEYS; i++)
		dst->text[i] = NULL;
	dst->source = NULL;
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		const char *s;

		if (k->type != MB_CFG_STRING)
			continue;
		s = *(char *const *)cfield(src, k);
		if ((*(char **)field(dst, k) = strdup(s != NULL ? s : "")) == NULL)
			goto err;
	}
	for (size_t i = 0; i < MB_CFG_MAX_KEYS; i++)
		if (src->text[i] != NULL && (dst->text[i] = strdup(src->text[i])) == NULL)
			goto err;
	if (src->source != NULL && (dst->source = strdup(src->source)) == NULL)
		goto err;
	return 0;
err:
	mb_config_done(dst);
	return -ENOMEM;
}

/* ---- "did you mean" ------------------------------------------------------------ */

/* Optimal string alignment distance, case-insensitive, '_' equal to '-';
 * capped at 9 for long strings (only small distances matter). */
static unsigned
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned d[33][33];

	if (la > 32 || lb > 32)
		return 9;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)(a[i - 1] == '_' ? '-' : a[i - 1]));
			int cb = tolower((unsigned char)(b[j - 1] == '_' ? '-' : b[j - 1]));
			unsigned c = d[i - 1][j - 1] + (ca != cb);

			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < c)
				c = d[i - 2][j - 2] + 1;
			d[i][j] = c;
		}
	}
	return d[la][lb];
}

/* How far a misspelling may be from a name to be suggested. */
static unsigned
near_enough(const char *name)
{
	size_t n = strlen(name);

	return n <= 3 ? 1 : n <= 8 ? 2 : 3;
}

/* ", did you mean ..." for an unknown key (empty when nothing is close). */
static void
suggest_key(const char *section, const char *name, char *buf, size_t len)
{
	const struct mb_cfg_key *best = NULL, *elsewhere = NULL;
	unsigned bd = UINT_MAX;

	buf[0] = '\0';
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		unsigned dist = edit_distance(name, k->name);

		if (strcmp(k->section, section) != 0) {
			if (dist == 0 && elsewhere == NULL)
				elsewhere = k;
			continue;
		}
		if (dist < bd) {
			bd = dist;
			best = k;
		}
	}
	if (elsewhere != NULL && (best == NULL || bd > 0))
		snprintf(buf, len, "; '%s' belongs in [%s]", elsewhere->name, elsewhere->section);
	else if (best != NULL && bd <= near_enough(name))
		snprintf(buf, len, "; did you mean '%s'?", best->name);
}

static void
suggest_section(const char *section, char *buf, size_t len)
{
	const char *best = NULL;
	unsigned bd = UINT_MAX;

	buf[0] = '\0';
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		unsigned dist = edit_distance(section, k->section);

		if (dist < bd) {
			bd = dist;
			best = k->section;
		}
	}
	if (best != NULL && bd <= near_enough(section))
		snprintf(buf, len, "; did you mean [%s]?", best);
	else if (mb_config_find("server", section) == NULL) {
		/* A key written as a section header, "[state-dir]"? */
		for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
			if (strcmp(k->name, section) == 0) {
				snprintf(buf, len, "; '%s' is a key of [%s]", k->name, k->section);
				break;
			}
		}
	}
}

/* ---- the parser -------------------------------------------------------------------- */

struct parse_ctx {
	struct mb_config *cfg;
	struct mb_diags *d;
	const char *file;
	char section[64];
	bool have_section, section_ok;
	uint32_t seen[MB_CFG_MAX_KEYS]; /* line of each key in this parse */
	bool nomem;
};

#define PERR(ctx, line, ...) mb_diags_add((ctx)->d, MB_DIAG_ERROR, (ctx)->file, (line), __VA_ARGS__)

static char *
rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Cut an inline comment: '#' or ';' at the start or after a blank. */
static void
cut_comment(char *s)
{
	for (char *p = s; *p != '\0'; p++) {
		if ((*p == '#' || *p == ';') && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
	rtrim(s);
}

static void
parse_section(struct parse_ctx *ctx, char *s, uint32_t ln)
{
	char *close = strchr(s, ']'), sug[96];

	ctx->have_section = true;
	ctx->section_ok = false;
	if (close == NULL) {
		PERR(ctx, ln, "section header without ']'");
		return;
	}
	*close = '\0';
	cut_comment(close + 1);
	if (*skip_space(close + 1) != '\0') {
		PERR(ctx, ln, "text after the section header '[%s]'", s + 1);
		return;
	}
	s = (char *)skip_space(s + 1);
	rtrim(s);
	if (!section_known(s)) {
		suggest_section(s, sug, sizeof(sug));
		PERR(ctx, ln, "unknown section '[%s]'%s", s, sug);
		return;
	}
	snprintf(ctx->section, sizeof(ctx->section), "%s", s);
	ctx->section_ok = true;
}

static void
parse_key(struct parse_ctx *ctx, char *s, uint32_t ln)
{
	const struct mb_cfg_key *k;
	char *eq = strchr(s, '='), *name, *value, msg[MB_CFG_ERRLEN + 160], sug[96];
	size_t idx;
	int r;

	if (eq == NULL) {
		cut_comment(s);
		PERR(ctx, ln, "expected 'key = value', found '%.40s%s'", s,
		     strlen(s) > 40 ? "..." : "");
		return;
	}
	*eq = '\0';
	name = rtrim(s);
	value = (char *)skip_space(eq + 1);
	if (*name == '\0') {
		PERR(ctx, ln, "missing key name before '='");
		return;
	}
	if (*value == '"') {
		char *q = strchr(value + 1, '"');

		if (q == NULL) {
			PERR(ctx, ln, "[%s] %s: no closing '\"'", ctx->section, name);
			return;
		}
		*q = '\0';
		cut_comment(q + 1);
		if (*skip_space(q + 1) != '\0') {
			PERR(ctx, ln, "[%s] %s: text after the closing '\"'", ctx->section, name);
			return;
		}
		value++;
	} else {
		cut_comment(value);
	}
	if (!ctx->have_section) {
		PERR(ctx, ln, "key '%s' outside any section (put a [section] line above it)",
		     name);
		return;
	}
	if (!ctx->section_ok)
		return; /* the section header was reported */
	k = mb_config_find(ctx->section, name);
	if (k == NULL) {
		suggest_key(ctx->section, name, sug, sizeof(sug));
		PERR(ctx, ln, "unknown key '%s' in [%s]%s", name, ctx->section, sug);
		return;
	}
	idx = mb_config_key_index(k);
	if (ctx->seen[idx] != 0) {
		PERR(ctx, ln, "[%s] %s is set twice (first on line %" PRIu32 ")", k->section,
		     k->name, ctx->seen[idx]);
		return;
	}
	ctx->seen[idx] = ln;
	r = set_key(ctx->cfg, k, value, msg, sizeof(msg));
	if (r == -ENOMEM) {
		ctx->nomem = true;
		return;
	}
	if (r < 0) {
		PERR(ctx, ln, "%s", msg);
		return;
	}
	ctx->cfg->line[idx] = ln;
	free(ctx->cfg->text[idx]);
	ctx->cfg->text[idx] = strdup(value);
	if (ctx->cfg->text[idx] == NULL)
		ctx->nomem = true;
}

static int
parse_text(struct mb_config *cfg, const char *text, size_t len, const char *name,
	   struct mb_diags *d)
{
	struct parse_ctx ctx = { .cfg = cfg, .d = d, .file = name };
	unsigned errors = d->errors;
	const char *p = text, *end = text + len;
	char *line;
	uint32_t ln = 0;

	line = malloc(MB_CFG_MAX_LINE + 1);
	if (line == NULL)
		return -ENOMEM;
	free(cfg->source);
	cfg->source = strdup(name);
	if (cfg->source == NULL)
		ctx.nomem = true;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3; /* UTF-8 byte order mark */
	while (p < end && !ctx.nomem) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl != NULL ? nl : end) - p);
		char *s;

		ln++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > MB_CFG_MAX_LINE) {
			PERR(&ctx, ln, "line longer than %u characters", MB_CFG_MAX_LINE);
		} else if (memchr(p, '\0', n) != NULL) {
			PERR(&ctx, ln, "NUL byte in line");
		} else {
			memcpy(line, p, n);
			line[n] = '\0';
			s = (char *)skip_space(line);
			rtrim(s);
			if (*s == '\0' || *s == '#' || *s == ';')
				; /* blank or comment */
			else if (*s == '[')
				parse_section(&ctx, s, ln);
			else
				parse_key(&ctx, s, ln);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	free(line);
	if (ctx.nomem) {
		mb_diags_add(d, MB_DIAG_ERROR, name, 0, "out of memory");
		return -ENOMEM;
	}
	return d->errors > errors ? -EINVAL : 0;
}

int
mb_config_parse_file(struct mb_config *cfg, const char *path, struct mb_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = mb_file_read_all(path, MB_CFG_MAX_FILE, &buf, &len);
	if (r == -EFBIG) {
		mb_diags_add(d, MB_DIAG_ERROR, path, 0, "larger than %u bytes", MB_CFG_MAX_FILE);
		return -EFBIG;
	}
	if (r == -EINVAL) {
		mb_diags_add(d, MB_DIAG_ERROR, path, 0, "not a regular file");
		return -EINVAL;
	}
	if (r < 0) {
		mb_diags_add(d, MB_DIAG_ERROR, path, 0, "%s", strerror(-r));
		return r;
	}
	r = parse_text(cfg, buf, len, path, d);
	free(buf);
	return r;
}

int
mb_config_parse_string(struct mb_config *cfg, const char *text, const char *name,
		       struct mb_diags *d)
{
	return parse_text(cfg, text, strlen(text), name != NULL ? name : "<string>", d);
}

int
mb_config_load_file(struct mb_config *cfg, const char *path, char *err, size_t errlen)
{
	struct mb_diags d;
	int r;

	mb_diags_init(&d);
	r = mb_config_parse_file(cfg, path, &d);
	if (r != 0)
		first_error(&d, err, errlen);
	mb_diags_done(&d);
	return r;
}

int
mb_config_load_string(struct mb_config *cfg, const char *text, char *err, size_t errlen)
{
	struct mb_diags d;
	int r;

	mb_diags_init(&d);
	r = mb_config_parse_string(cfg, text, NULL, &d);
	if (r != 0)
		first_error(&d, err, errlen);
	mb_diags_done(&d);
	return r;
}

/* ---- checks ------------------------------------------------------------------------ */

static uint32_t
line_of(const struct mb_config *cfg, const char *section, const char *name)
{
	const struct mb_cfg_key *k = mb_config_find(section, name);

	return k != NULL ? cfg->line[mb_config_key_index(k)] : 0;
}

#define CERR(sec, name, ...)                                                                 \
	mb_diags_add(d, MB_DIAG_ERROR, cfg->source, line_of(cfg, sec, name), __VA_ARGS__)
#define CWARN(sec, name, ...)                                                                \
	mb_diags_add(d, MB_DIAG_WARNING, cfg->source, line_of(cfg, sec, name), __VA_ARGS__)

static void
check_values(const struct mb_config *cfg, struct mb_diags *d)
{
	uint32_t base = ntohl(cfg->mcast_base), a = ntohl(cfg->address);
	struct in_addr ia;
	const char *m;

	if (cfg->address == 0)
		CERR("dpdk", "address", "[dpdk] address is required (e.g. address = 10.1.0.1/24)");
	else if ((a >> 28) == 14 || a == 0xffffffffu || (a >> 24) == 127 || (a >> 24) == 0)
		CERR("dpdk", "address", "[dpdk] address must be a unicast address");
	if ((base >> 28) != 14 || ((uint64_t)base + cfg->mcast_count - 1) >> 28 != 14)
		CERR("frisbee", "mcast-base",
		     "[frisbee] mcast-base..+mcast-count must stay in 224.0.0.0/4");
	if (cfg->fris_port_base + cfg->fris_port_count - 1 > 65535)
		CERR("frisbee", "port-count", "[frisbee] port-base + port-count exceeds 65535");
	if (cfg->max_unicast_sessions > cfg->max_sessions)
		CERR("frisbee", "max-unicast-sessions",
		     "[frisbee] max-unicast-sessions is above max-sessions");
	if (cfg->ftp_pasv_min > cfg->ftp_pasv_max)
		CERR("tcp", "ftp-pasv-min", "[tcp] ftp-pasv-min is above ftp-pasv-max");
	if (cfg->tcp_enable && cfg->http_port != 0 && cfg->http_port == cfg->ftp_port)
		CERR("tcp", "ftp-port", "[tcp] http-port and ftp-port are both %" PRIu64,
		     cfg->http_port);
	if (strcmp(cfg->tcp_cc, "newreno") != 0)
		CERR("tcp", "congestion-control",
		     "[tcp] congestion-control: '%s' is not implemented%s, use newreno", cfg->tcp_cc,
		     strcmp(cfg->tcp_cc, "cubic") == 0 ? " yet" : "");
	if (strcasecmp(cfg->log_level, "error") != 0 && strcasecmp(cfg->log_level, "warning") != 0 &&
	    strcasecmp(cfg->log_level, "notice") != 0 && strcasecmp(cfg->log_level, "info") != 0 &&
	    strcasecmp(cfg->log_level, "debug") != 0)
		CERR("server", "log-level",
		     "[server] log-level: '%s' is not error, warning, notice, info or debug",
		     cfg->log_level);
	for (m = cfg->fris_methods; *m != '\0';) {
		size_t n = strcspn(m, ", ");

		if (n > 0 && !((n == 5 && strncmp(m, "mcast", 5) == 0) ||
			       (n == 5 && strncmp(m, "ucast", 5) == 0) ||
			       (n == 5 && strncmp(m, "bcast", 5) == 0))) {
			CERR("frisbee", "methods",
			     "[frisbee] methods: '%.*s' is not mcast, ucast or bcast", (int)n, m);
			break;
		}
		m += n;
		m += strspn(m, ", ");
	}
	if (inet_pton(AF_INET, cfg->master_listen, &ia) != 1)
		CERR("frisbee", "master-listen", "[frisbee] master-listen: '%s' is not an IPv4 address",
		     cfg->master_listen);
	if (cfg->exception_tap[0] != '\0' &&
	    (strcmp(cfg->exception_tap, ".") == 0 || strcmp(cfg->exception_tap, "..") == 0 ||
	     strpbrk(cfg->exception_tap, "/: \t") != NULL))
		CERR("dpdk", "exception-tap", "[dpdk] exception-tap: '%s' is not an interface name",
		     cfg->exception_tap);
	if (cfg->origin_url[0] != '\0' && strncmp(cfg->origin_url, "https://", 8) != 0 &&
	    strncmp(cfg->origin_url, "mfrisbee://", 11) != 0)
		CERR("origin", "url", "[origin] url must start with https:// (or mfrisbee://)");
	if (cfg->origin_url[0] != '\0' && strncmp(cfg->origin_url, "https://", 8) == 0 &&
	    cfg->manifest_pubkey[0] == '\0')
		CERR("origin", "url", "[origin] manifest-pubkey is required with an https url");
	if (cfg->origin_client_key[0] != '\0' && cfg->origin_client_cert[0] == '\0')
		CWARN("origin", "client-key", "[origin] client-key is set without client-cert: no "
		      "client certificate is presented to ops, ignoring the key");
	if (cfg->tls_listen[0] != '\0' &&
	    (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0' || cfg->tls_ca[0] == '\0'))
		CERR("control", "tls-listen",
		     "[control] tls-listen needs tls-cert, tls-key and tls-ca");
	if (cfg->tls_listen[0] != '\0') {
		const char *colon = strrchr(cfg->tls_listen, ':');
		uint64_t port = 0;

		if (colon == NULL || colon == cfg->tls_listen ||
		    mb_parse_uint(colon + 1, &port) < 0 || port == 0 || port > 65535)
			CERR("control", "tls-listen",
			     "[control] tls-listen: '%s' is not address:port", cfg->tls_listen);
	}
}

static void
check_dir(const struct mb_config *cfg, const struct mb_cfg_key *k, const char *path,
	  struct mb_diags *d)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		if (errno == ENOENT && cfg->create_state_dir)
			return; /* created at start */
		if (errno == ENOENT)
			CERR(k->section, k->name,
			     "[%s] %s: directory '%s' does not exist; create it "
			     "(install -d -m 0755 '%s') or set create-state-dir = yes",
			     k->section, k->name, path, path);
		else
			CERR(k->section, k->name, "[%s] %s: '%s': %s", k->section, k->name, path,
			     strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		CERR(k->section, k->name, "[%s] %s: '%s' is not a directory", k->section, k->name,
		     path);
		return;
	}
	if (access(path, W_OK | X_OK) == -1)
		CERR(k->section, k->name, "[%s] %s: '%s' is not writable: %s", k->section, k->name,
		     path, strerror(errno));
}

static void
check_file(const struct mb_config *cfg, const struct mb_cfg_key *k, const char *path,
	   struct mb_diags *d)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		CERR(k->section, k->name, "[%s] %s: cannot read '%s': %s", k->section, k->name,
		     path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		CERR(k->section, k->name, "[%s] %s: '%s' is not a regular file", k->section,
		     k->name, path);
	} else if (st.st_size == 0) {
		CERR(k->section, k->name, "[%s] %s: '%s' is empty", k->section, k->name, path);
	} else if ((k->flags & MB_CFG_F_SECRET) && (st.st_mode & S_IROTH)) {
		CWARN(k->section, k->name,
		      "[%s] %s: private key '%s' is readable by every user (mode %04o); "
		      "chmod o-r it", k->section, k->name, path, (unsigned)(st.st_mode & 07777));
	}
	(void)close(fd);
}

static void
check_socket(const struct mb_config *cfg, const struct mb_cfg_key *k, const char *path,
	     struct mb_diags *d)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (path[0] != '/')
		CWARN(k->section, k->name, "[%s] %s: '%s' is relative to the daemon's directory",
		      k->section, k->name, path);
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		CERR(k->section, k->name, "[%s] %s: '%s' exists and is not a socket", k->section,
		     k->name, path);
		return;
	}
	if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
		CERR(k->section, k->name, "[%s] %s: '%s' is not a directory", k->section, k->name,
		     dir);
}

int
mb_config_check(const struct mb_config *cfg, unsigned what, struct mb_diags *d)
{
	unsigned errors = d->errors;

	check_values(cfg, d);
	if (what & MB_CFG_CHECK_FILES) {
		for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
			const char *v;

			if (k->type != MB_CFG_STRING || k->flags == 0)
				continue;
			v = *(char *const *)cfield(cfg, k);
			if (v == NULL || v[0] == '\0')
				continue;
			if (k->flags & MB_CFG_F_DIR)
				check_dir(cfg, k, v, d);
			else if (k->flags & MB_CFG_F_FILE)
				check_file(cfg, k, v, d);
			else if (k->flags & MB_CFG_F_SOCKET)
				check_socket(cfg, k, v, d);
		}
	}
	return d->errors > errors ? -EINVAL : 0;
}

int
mb_config_validate(const struct mb_config *cfg, char *err, size_t errlen)
{
	struct mb_diags d;
	int r;

	mb_diags_init(&d);
	r = mb_config_check(cfg, 0, &d);
	if (r != 0)
		first_error(&d, err, errlen);
	mb_diags_done(&d);
	return r;
}

/* ---- formatting ------------------------------------------------------------------- */

int
mb_config_format(const struct mb_config *cfg, const struct mb_cfg_key *k, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	const void *p = cfield(cfg, k);

	switch (k->type) {
	case MB_CFG_STRING:
		return snprintf(buf, len, "%s", *(char *const *)p ? *(char *const *)p : "");
	case MB_CFG_BOOL:
		return snprintf(buf, len, "%s", *(const bool *)p ? "yes" : "no");
	case MB_CFG_IPV4:
		inet_ntop(AF_INET, p, ip, sizeof(ip));
		return snprintf(buf, len, "%s", ip);
	case MB_CFG_IPV4_PREFIX:
		if (*(const uint32_t *)p == 0)
			return snprintf(buf, len, "%s", "");
		inet_ntop(AF_INET, p, ip, sizeof(ip));
		return snprintf(buf, len, "%s/%" PRIu64, ip, cfg->prefixlen);
	case MB_CFG_DURATION:
		return snprintf(buf, len, "%" PRIu64 "s", *(const uint64_t *)p);
	case MB_CFG_UINT:
	case MB_CFG_SIZE:
	case MB_CFG_RATE:
	case MB_CFG_BYTERATE:
		return snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p);
	}
	return -EINVAL;
}

int
mb_config_format_human(const struct mb_config *cfg, const struct mb_cfg_key *k, char *buf,
		       size_t len)
{
	const char *t = cfg->text[mb_config_key_index(k)];

	if (t != NULL)
		return snprintf(buf, len, "%s", t);
	switch (k->type) {
	case MB_CFG_SIZE:
	case MB_CFG_BYTERATE:
		return mb_format_size(*(const uint64_t *)cfield(cfg, k), buf, len);
	case MB_CFG_RATE:
		return mb_format_rate(*(const uint64_t *)cfield(cfg, k), buf, len);
	case MB_CFG_DURATION:
		return mb_format_duration(*(const uint64_t *)cfield(cfg, k), buf, len);
	default:
		return mb_config_format(cfg, k, buf, len);
	}
}

bool
mb_config_is_default(const struct mb_config *cfg, const struct mb_cfg_key *k)
{
	struct mb_config def;
	char a[4096], b[4096];

	if (mb_config_defaults(&def) != 0)
		return false;
	mb_config_format(cfg, k, a, sizeof(a));
	mb_config_format(&def, k, b, sizeof(b));
	mb_config_done(&def);
	return strcmp(a, b) == 0;
}

json_t *
mb_config_to_json(const struct mb_config *cfg)
{
	json_t *root = json_object();
	struct mb_config def;
	bool have_def;

	if (root == NULL)
		return NULL;
	have_def = mb_config_defaults(&def) == 0;
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		size_t idx = mb_config_key_index(k);
		char v[4096], dv[4096];
		json_t *sec = json_object_get(root, k->section);
		json_t *ent;

		if (sec == NULL) {
			sec = json_object();
			if (sec == NULL || json_object_set_new(root, k->section, sec) < 0)
				goto err;
		}
		mb_config_format(cfg, k, v, sizeof(v));
		if (have_def)
			mb_config_format(&def, k, dv, sizeof(dv));
		else
			snprintf(dv, sizeof(dv), "%s", k->def);
		ent = json_pack("{s:s, s:s, s:s, s:b, s:s}", "value", v, "default", dv, "type",
				type_names[k->type], "reloadable", k->reloadable, "help", k->help);
		if (ent == NULL || json_object_set_new(sec, k->name, ent) < 0)
			goto err;
		if (cfg->text[idx] != NULL &&
		    (json_object_set_new(ent, "text", json_string(cfg->text[idx])) < 0 ||
		     json_object_set_new(ent, "line", json_integer(cfg->line[idx])) < 0))
			goto err;
	}
	if (have_def)
		mb_config_done(&def);
	return root;
err:
	if (have_def)
		mb_config_done(&def);
	json_decref(root);
	return NULL;
}

const struct mb_cfg_key *
mb_config_nonreloadable_change(const struct mb_config *a, const struct mb_config *b)
{
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		char va[4096], vb[4096];

		if (k->reloadable)
			continue;
		mb_config_format(a, k, va, sizeof(va));
		mb_config_format(b, k, vb, sizeof(vb));
		if (strcmp(va, vb) != 0)
			return k;
	}
	return NULL;
}

/* ---- documentation: -E, the syntax summary, miniboss.conf(5) --------------------- */

/* The syntax, once, for -E (as comments) and the man page (as paragraphs;
 * "" separates paragraphs, a leading "=" marks a heading). */
static const char *const syntax_text[] = {
	"=File syntax",
	"A line \"[section]\" opens a section; \"key = value\" sets a key in it.",
	"Blank lines and lines starting with '#' or ';' are comments, and a '#'",
	"or ';' after a blank starts a comment too: \"exception-tap = mb0  # tap\"",
	"sets 'mb0'.  Double quotes keep a value literally, with '#', ';' or",
	"blanks in it: url = \"https://ops.example.net/images/#x\".  Indentation",
	"is ignored and a value never continues on the next line.  A key may",
	"be set only once; unknown sections and keys are errors, and the",
	"message names the closest known name.",
	"",
	"=Values",
	"size: bytes, e.g. 1048576, 64M, 1.5G, 512KiB.  K, M, G and T are",
	"powers of 1024 (K = KB = KiB); case does not matter.",
	"",
	"rate: bits per second, e.g. 1G, 500M, 10Gbit/s, 100Mbps.  k, M, G and",
	"T are powers of 1000, optionally followed by bit/s, bit or bps.",
	"Byte rates (MB/s, MBps) are refused: 100 MB/s is 800M.",
	"",
	"byte rate: bytes per second, spelled like a size with an optional",
	"\"/s\": 10M, 10MiB/s.",
	"",
	"duration: seconds, e.g. 30 (= 30s), 90s, 5m, 1h30m, 2d; units ms, s,",
	"m (min), h, d and w, summed; the total must be whole seconds.",
	"",
	"bool: yes/no, true/false, on/off or 1/0.",
	NULL,
};

void
mb_config_print_syntax(FILE *f, const char *lead)
{
	for (size_t i = 0; syntax_text[i] != NULL; i++) {
		const char *t = syntax_text[i];

		if (t[0] == '=')
			fprintf(f, "%s%s:\n", lead, t + 1);
		else if (t[0] == '\0')
			fprintf(f, "%s\n", lead[0] == '#' ? "#" : "");
		else
			fprintf(f, "%s  %s\n", lead, t);
	}
}

void
mb_config_print_example(FILE *f)
{
	const char *sec = "";

	fprintf(f, "# miniboss.conf: every key with its default.  Generated from the key table.\n"
		   "#\n");
	mb_config_print_syntax(f, "# ");
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		if (strcmp(sec, k->section) != 0) {
			fprintf(f, "\n[%s]\n", k->section);
			sec = k->section;
		}
		fprintf(f, "# %s (%s%s)\n%s%s = %s\n", k->help, type_names[k->type],
			k->reloadable ? ", reloadable" : "", k->def[0] == '\0' ? "#" : "", k->name,
			k->def);
	}
}

/* roff-safe text: backslashes doubled, a leading '.' or '\'' guarded;
 * `minus`: '-' as \- (names and values a reader types). */
static void
roff(FILE *f, const char *s, bool minus)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-' && minus)
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

static const struct {
	const char *name, *what;
} section_docs[] = {
	{ "server", "The daemon itself: state directory, control socket, logging, EAL "
		    "arguments." },
	{ "dpdk", "The serving port: its address, rings, mbufs, the exception TAP that hands "
		  "the kernel what the dataplane does not own." },
	{ "images", "The image cache in hugepage memory." },
	{ "frisbee", "Frisbee multicast sessions and the master-server (GET) protocol the "
		     "stock client speaks." },
	{ "tcp", "HTTP and FTP over the dataplane's userspace TCP." },
	{ "origin", "Sync from ops: the signed manifest and the image files, over HTTPS "
		    "with a client certificate." },
	{ "control", "The TLS control socket that boss polls for health." },
};

static void
man_key(FILE *f, const struct mb_cfg_key *k)
{
	char b1[32], b2[32];

	fputs(".TP\n.B ", f);
	roff(f, k->name, true);
	fprintf(f, "\n(%s", type_names[k->type]);
	switch (k->type) {
	case MB_CFG_UINT:
	case MB_CFG_SIZE:
	case MB_CFG_RATE:
	case MB_CFG_DURATION:
	case MB_CFG_BYTERATE:
		format_bound(k, k->min, b1, sizeof(b1));
		format_bound(k, k->max, b2, sizeof(b2));
		if (k->max == UINT64_MAX)
			fprintf(f, ", at least %s", b1);
		else
			fprintf(f, ", %s to %s", b1, b2);
		break;
	case MB_CFG_STRING:
		fprintf(f, ", up to %" PRIu64 " characters", k->max);
		break;
	default:
		break;
	}
	fprintf(f, "%s) ", k->reloadable ? "; reloadable" : "; needs a restart");
	fputs("Default: ", f);
	if (k->def[0] == '\0') {
		fputs("empty", f);
	} else {
		fputs("\\fB", f);
		roff(f, k->def, true);
		fputs("\\fR", f);
	}
	fputs(".\n", f);
	/* The help as a sentence. */
	if (k->help[0] != '\0') {
		char first[2] = { (char)toupper((unsigned char)k->help[0]), '\0' };

		roff(f, first, false);
		roff(f, k->help + 1, false);
	}
	fputs(".", f);
	if (k->flags & MB_CFG_F_DIR)
		fputs("  Checked at start, on reload and by \\fBminibossd \\-n\\fR: the directory "
		      "must exist and be writable.", f);
	else if (k->flags & MB_CFG_F_FILE)
		fprintf(f, "  Checked at start, on reload and by \\fBminibossd \\-n\\fR: the file "
			   "must be readable%s.",
			(k->flags & MB_CFG_F_CERT)	 ? " and hold PEM certificates"
			: (k->flags & MB_CFG_F_PUBKEY) ? " and hold a PEM public key"
			: (k->flags & MB_CFG_F_SECRET) ? " and hold an unencrypted PEM private key "
							 "(a warning when every user may read it)"
							 : "");
	fputs("\n", f);
}

void
mb_config_print_man(FILE *f)
{
	const char *sec = "", *sde = getenv("SOURCE_DATE_EPOCH");
	time_t when = sde != NULL ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
	char date[32] = "";
	bool para = false;
	struct tm tm;

	/* The build's date, or SOURCE_DATE_EPOCH's for reproducible builds. */
	if (gmtime_r(&when, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	fprintf(f, ".\\\" Generated from the key table in common/mb_config.c; do not edit.\n"
		   ".TH MINIBOSS.CONF 5 \"%s\" \"miniboss %s\" \"File Formats\"\n"
		   ".SH NAME\nminiboss.conf \\- configuration file of minibossd\n"
		   ".SH SYNOPSIS\n/etc/miniboss/miniboss.conf\n"
		   ".SH DESCRIPTION\n"
		   "\\fBminibossd\\fR(8) reads its configuration from this file at start, on "
		   "SIGHUP and on \\fBminibossctl reload\\fR.  A reload applies the keys marked "
		   "reloadable below; changing any other key is refused with its name, and "
		   "needs a restart.\n"
		   ".PP\n"
		   "\\fBminibossd \\-n\\fR reads the file and every file and directory it names "
		   "(certificates, keys, the state directory), prints every problem as "
		   "\\fIfile\\fB:\\fIline\\fB: error:\\fR or \\fBwarning:\\fR and exits 1 when "
		   "there was an error.  The daemon runs the same checks before it starts and "
		   "on every reload.  \\fBminibossd \\-E\\fR prints every key with its default, "
		   "a complete example file.\n",
		date, MB_VERSION);
	for (size_t i = 0; syntax_text[i] != NULL; i++) {
		const char *t = syntax_text[i];

		if (t[0] == '=') {
			fputs(".SH ", f);
			for (const char *c = t + 1; *c != '\0'; c++)
				fputc(toupper((unsigned char)*c), f);
			fputs("\n", f);
			para = false; /* .SH starts a paragraph */
		} else if (t[0] == '\0') {
			para = true;
		} else {
			if (para)
				fputs(".PP\n", f);
			para = false;
			roff(f, t, false);
			fputs("\n", f);
		}
	}
	fputs(".SH KEYS\nEach key with its type, bounds, default and whether a reload "
	      "applies it.\n", f);
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		if (strcmp(sec, k->section) != 0) {
			sec = k->section;
			fprintf(f, ".SS [%s]\n", sec);
			for (size_t i = 0; i < MB_ARRAY_SIZE(section_docs); i++)
				if (strcmp(section_docs[i].name, sec) == 0)
					fprintf(f, "%s\n", section_docs[i].what);
		}
		man_key(f, k);
	}
	fputs(".SH EXAMPLE\n"
	      "A miniboss serving 10.1.0.0/24 on the first DPDK port and syncing from ops:\n"
	      ".PP\n.nf\n.RS\n"
	      "[server]\n"
	      "eal\\-args = \\-l 0\\-1 \\-a 0000:03:00.0 \\-\\-file\\-prefix=miniboss\n"
	      "\n[dpdk]\n"
	      "address = 10.1.0.1/24   # the nodes reach us here\n"
	      "gateway = 10.1.0.254\n"
	      "\n[images]\n"
	      "hugepage\\-budget = 16G\n"
	      "\n[frisbee]\n"
	      "rate = 1G\n"
	      "\n[origin]\n"
	      "url = https://ops.example.net/miniboss/\n"
	      "ca\\-file = /etc/miniboss/ops\\-ca.pem\n"
	      "client\\-cert = /etc/miniboss/client.pem\n"
	      "client\\-key = /etc/miniboss/client.key\n"
	      "manifest\\-pubkey = /etc/miniboss/manifest.pub\n"
	      "site = homenet\n"
	      "interval = 5m\n"
	      ".RE\n.fi\n"
	      ".SH FILES\n"
	      ".TP\n.I /etc/miniboss/miniboss.conf\nthe configuration\n"
	      ".TP\n.I /usr/share/doc/miniboss/examples/miniboss.conf\nan example with every key\n"
	      ".TP\n.I /var/lib/miniboss\nthe default state directory (images/ and "
	      "manifest.json)\n"
	      ".SH SEE ALSO\n"
	      "\\fBminibossd\\fR(8), \\fBminibossctl\\fR(8), \\fBmb\\-manifest\\fR(1)\n",
	      f);
}
