/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Table-driven configuration (Redis standardConfig style).  Every key is one
 * row of mb_cfg_keys[]; the INI parser (inih), the defaults, the JSON dump for
 * `minibossctl config`, the reload check and the example file all walk that
 * table, so a key cannot be documented in one place and parsed differently in
 * another.  This file does not log: errors come back as text.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "mb_config.h"

#define OFF(f) offsetof(struct mb_config, f)
#define U64MAX UINT64_MAX

/* clang-format off */
const struct mb_cfg_key mb_cfg_keys[] = {
	/* section, name, type, offset, min, max, default, reloadable, help */
	{ "server", "state-dir", MB_CFG_STRING, OFF(state_dir), 1, 4095, "/var/lib/miniboss", false,
	  "directory holding images/ and manifest.json" },
	{ "server", "control-socket", MB_CFG_STRING, OFF(control_socket), 1, 107,
	  "/run/miniboss/control.sock", false, "Unix socket for minibossctl (newline-delimited JSON)" },
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
	{ "frisbee", "max-sessions", MB_CFG_UINT, OFF(max_sessions), 1, 4096, "64", true,
	  "concurrent Frisbee sessions" },
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
	  "newreno or cubic" },
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
	  "CA bundle that signs the ops server certificate" },
	{ "origin", "client-cert", MB_CFG_STRING, OFF(origin_client_cert), 0, 4095, "", true,
	  "client certificate (PEM) presented to ops" },
	{ "origin", "client-key", MB_CFG_STRING, OFF(origin_client_key), 0, 4095, "", true,
	  "private key of client-cert" },
	{ "origin", "manifest-pubkey", MB_CFG_STRING, OFF(manifest_pubkey), 0, 4095, "", true,
	  "pinned public key (PEM) that signs manifest.json" },
	{ "origin", "site", MB_CFG_STRING, OFF(origin_site), 0, 255, "", true,
	  "site name; images with a site list are synced only when it names this site" },
	{ "origin", "interval", MB_CFG_DURATION, OFF(sync_interval), 5, 86400, "300s", true,
	  "manifest poll interval" },
	{ "origin", "max-rate", MB_CFG_SIZE, OFF(sync_max_rate), 0, U64MAX, "0", true,
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
	  "server certificate of the TLS control socket" },
	{ "control", "tls-key", MB_CFG_STRING, OFF(tls_key), 0, 4095, "", true,
	  "key of tls-cert" },
	{ "control", "tls-ca", MB_CFG_STRING, OFF(tls_ca), 0, 4095, "", true,
	  "CA that signs boss's client certificate" },
	{ NULL, NULL, 0, 0, 0, 0, NULL, false, NULL },
};
/* clang-format on */

static const char *const type_names[] = {
	[MB_CFG_STRING] = "string", [MB_CFG_UINT] = "uint",	      [MB_CFG_BOOL] = "bool",
	[MB_CFG_IPV4] = "ipv4",	    [MB_CFG_IPV4_PREFIX] = "ipv4/len", [MB_CFG_SIZE] = "size",
	[MB_CFG_RATE] = "rate",	    [MB_CFG_DURATION] = "duration",
};

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

/* Number with a one-letter multiplier suffix chosen from `suffixes`. */
static int
parse_scaled(const char *s, const char *suffixes, const uint64_t *mults, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	uint64_t m = 1;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0') {
		const char *p = strchr(suffixes, *end);

		if (p == NULL || end[1] != '\0')
			return -EINVAL;
		m = mults[p - suffixes];
	}
	if (m != 1 && v > UINT64_MAX / m)
		return -ERANGE;
	*ret = v * m;
	return 0;
}

int
mb_parse_size(const char *s, uint64_t *ret)
{
	static const uint64_t mults[] = { 1ULL << 10, 1ULL << 10, 1ULL << 20, 1ULL << 30,
					  1ULL << 40, 1 };

	return parse_scaled(s, "kKMGTB", mults, ret);
}

int
mb_parse_rate(const char *s, uint64_t *ret)
{
	static const uint64_t mults[] = { 1000ULL, 1000ULL, 1000000ULL, 1000000000ULL };

	return parse_scaled(s, "kKMG", mults, ret);
}

int
mb_parse_duration(const char *s, uint64_t *ret)
{
	static const uint64_t mults[] = { 1, 60, 3600, 86400 };

	return parse_scaled(s, "smhd", mults, ret);
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

const struct mb_cfg_key *
mb_config_find(const char *section, const char *name)
{
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++)
		if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* Parse one value into its field, checking bounds; message into err. */
static int
set_key(struct mb_config *cfg, const struct mb_cfg_key *k, const char *value, char *err,
	size_t errlen)
{
	uint64_t u = 0;
	int r = 0;

	switch (k->type) {
	case MB_CFG_STRING: {
		size_t len = strlen(value);
		char **p = field(cfg, k);
		char *dup;

		if (len > k->max || len < k->min) {
			snprintf(err, errlen, "%s.%s: length %zu outside %" PRIu64 "..%" PRIu64,
				 k->section, k->name, len, k->min, k->max);
			return -EINVAL;
		}
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)value[i] < 0x20) {
				snprintf(err, errlen, "%s.%s: control character in value", k->section,
					 k->name);
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
			snprintf(err, errlen, "%s.%s: '%s' is not yes/no", k->section, k->name, value);
		return r;
	case MB_CFG_IPV4:
		r = mb_parse_ipv4(value, (uint32_t *)field(cfg, k));
		if (r < 0)
			snprintf(err, errlen, "%s.%s: '%s' is not an IPv4 address", k->section,
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
			snprintf(err, errlen, "%s.%s: '%s' is not a.b.c.d/len", k->section, k->name,
				 value);
		return r;
	case MB_CFG_UINT:
		r = mb_parse_uint(value, &u);
		break;
	case MB_CFG_SIZE:
		r = mb_parse_size(value, &u);
		break;
	case MB_CFG_RATE:
		r = mb_parse_rate(value, &u);
		break;
	case MB_CFG_DURATION:
		r = mb_parse_duration(value, &u);
		break;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s.%s: '%s' is not a valid %s", k->section, k->name, value,
			 type_names[k->type]);
		return -EINVAL;
	}
	if (u < k->min || u > k->max) {
		snprintf(err, errlen, "%s.%s: %" PRIu64 " outside %" PRIu64 "..%" PRIu64,
			 k->section, k->name, u, k->min, k->max);
		return -ERANGE;
	}
	*(uint64_t *)field(cfg, k) = u;
	return 0;
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

struct parse_ctx {
	struct mb_config *cfg;
	const char *file;
	char *err;
	size_t errlen;
	int rc;
};

static int
cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	const struct mb_cfg_key *k;
	char msg[MB_CFG_ERRLEN];
	int r;

	if (ctx->rc < 0)
		return 1; /* keep the first error */
	k = mb_config_find(section, name);
	if (k == NULL) {
		snprintf(ctx->err, ctx->errlen, "unknown key '%s' in section '[%s]'", name,
			 section);
		ctx->rc = -EINVAL;
		return 0;
	}
	r = set_key(ctx->cfg, k, value, msg, sizeof(msg));
	if (r < 0) {
		snprintf(ctx->err, ctx->errlen, "%s", r == -ENOMEM ? "out of memory" : msg);
		ctx->rc = r == -ENOMEM ? -ENOMEM : -EINVAL;
		return 0;
	}
	return 1;
}

static int
finish_parse(struct parse_ctx *ctx, int r)
{
	if (ctx->rc < 0) {
		/* inih reports the line of the first key our handler refused. */
		char msg[MB_CFG_ERRLEN];

		snprintf(msg, sizeof(msg), "%s", ctx->err);
		snprintf(ctx->err, ctx->errlen, "%s:%d: %s", ctx->file, r > 0 ? r : 0, msg);
		return ctx->rc;
	}
	if (r > 0) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: syntax error", ctx->file, r);
		return -EINVAL;
	}
	if (r == -2) {
		snprintf(ctx->err, ctx->errlen, "%s: out of memory", ctx->file);
		return -ENOMEM;
	}
	return 0;
}

int
mb_config_load_file(struct mb_config *cfg, const char *path, char *err, size_t errlen)
{
	struct parse_ctx ctx = { cfg, path, err, errlen, 0 };
	FILE *f = fopen(path, "re");
	int r;

	if (f == NULL) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	r = ini_parse_file(f, cfg_ini_handler, &ctx);
	fclose(f);
	return finish_parse(&ctx, r);
}

int
mb_config_load_string(struct mb_config *cfg, const char *text, char *err, size_t errlen)
{
	struct parse_ctx ctx = { cfg, "<string>", err, errlen, 0 };

	return finish_parse(&ctx, ini_parse_string(text, cfg_ini_handler, &ctx));
}

int
mb_config_validate(const struct mb_config *cfg, char *err, size_t errlen)
{
	uint32_t base = ntohl(cfg->mcast_base);
	const char *m;

	if (cfg->address == 0) {
		snprintf(err, errlen, "dpdk.address is required (e.g. address = 10.1.0.1/24)");
		return -EINVAL;
	}
	if ((ntohl(cfg->address) >> 28) == 14 || ntohl(cfg->address) == 0xffffffffu) {
		snprintf(err, errlen, "dpdk.address must be a unicast address");
		return -EINVAL;
	}
	if ((base >> 28) != 14 || ((uint64_t)base + cfg->mcast_count - 1) >> 28 != 14) {
		snprintf(err, errlen, "frisbee.mcast-base..+mcast-count must stay in 224.0.0.0/4");
		return -EINVAL;
	}
	if (cfg->fris_port_base + cfg->fris_port_count - 1 > 65535) {
		snprintf(err, errlen, "frisbee.port-base + port-count exceeds 65535");
		return -EINVAL;
	}
	if (cfg->max_unicast_sessions > cfg->max_sessions) {
		snprintf(err, errlen, "frisbee.max-unicast-sessions is above frisbee.max-sessions");
		return -EINVAL;
	}
	if (cfg->ftp_pasv_min > cfg->ftp_pasv_max) {
		snprintf(err, errlen, "tcp.ftp-pasv-min is above tcp.ftp-pasv-max");
		return -EINVAL;
	}
	if (strcmp(cfg->tcp_cc, "newreno") != 0 && strcmp(cfg->tcp_cc, "cubic") != 0) {
		snprintf(err, errlen, "tcp.congestion-control: '%s' is not newreno or cubic",
			 cfg->tcp_cc);
		return -EINVAL;
	}
	if (strcasecmp(cfg->log_level, "error") != 0 && strcasecmp(cfg->log_level, "warning") != 0 &&
	    strcasecmp(cfg->log_level, "notice") != 0 && strcasecmp(cfg->log_level, "info") != 0 &&
	    strcasecmp(cfg->log_level, "debug") != 0) {
		snprintf(err, errlen, "server.log-level: '%s' is not a level", cfg->log_level);
		return -EINVAL;
	}
	m = cfg->fris_methods;
	while (*m != '\0') {
		size_t n = strcspn(m, ", ");

		if (n > 0 && !((n == 5 && strncmp(m, "mcast", 5) == 0) ||
			       (n == 5 && strncmp(m, "ucast", 5) == 0) ||
			       (n == 5 && strncmp(m, "bcast", 5) == 0))) {
			snprintf(err, errlen, "frisbee.methods: '%.*s' is not mcast, ucast or bcast",
				 (int)n, m);
			return -EINVAL;
		}
		m += n;
		m += strspn(m, ", ");
	}
	if (cfg->origin_url[0] != '\0' && strncmp(cfg->origin_url, "https://", 8) != 0 &&
	    strncmp(cfg->origin_url, "mfrisbee://", 11) != 0) {
		snprintf(err, errlen, "origin.url must start with https:// (or mfrisbee://)");
		return -EINVAL;
	}
	if (cfg->origin_url[0] != '\0' && strncmp(cfg->origin_url, "https://", 8) == 0 &&
	    cfg->manifest_pubkey[0] == '\0') {
		snprintf(err, errlen, "origin.manifest-pubkey is required with an https origin");
		return -EINVAL;
	}
	if (cfg->tls_listen[0] != '\0' &&
	    (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0' || cfg->tls_ca[0] == '\0')) {
		snprintf(err, errlen, "control.tls-listen needs tls-cert, tls-key and tls-ca");
		return -EINVAL;
	}
	return 0;
}

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
		return snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p);
	}
	return -EINVAL;
}

int
mb_config_copy(struct mb_config *dst, const struct mb_config *src)
{
	*dst = *src;
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		if (k->type == MB_CFG_STRING) {
			char **d = field(dst, k);

			*d = strdup(*(char *const *)cfield(src, k));
			if (*d == NULL) {
				/* Null out the ones not yet copied so done() frees only ours. */
				for (const struct mb_cfg_key *j = k + 1; j->name != NULL; j++)
					if (j->type == MB_CFG_STRING)
						*(char **)field(dst, j) = NULL;
				mb_config_done(dst);
				return -ENOMEM;
			}
		}
	}
	return 0;
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
		char v[4096], d[4096];
		json_t *sec = json_object_get(root, k->section);
		json_t *ent;

		if (sec == NULL) {
			sec = json_object();
			if (sec == NULL || json_object_set_new(root, k->section, sec) < 0)
				goto err;
		}
		mb_config_format(cfg, k, v, sizeof(v));
		if (have_def)
			mb_config_format(&def, k, d, sizeof(d));
		else
			snprintf(d, sizeof(d), "%s", k->def);
		ent = json_pack("{s:s, s:s, s:s, s:b, s:s}", "value", v, "default", d, "type",
				type_names[k->type], "reloadable", k->reloadable, "help", k->help);
		if (ent == NULL || json_object_set_new(sec, k->name, ent) < 0)
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

void
mb_config_print_example(FILE *f)
{
	const char *sec = "";

	fprintf(f, "# miniboss.conf: every key with its default.  Generated from the key table.\n");
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
