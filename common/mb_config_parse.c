/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading a configuration: the INI file parser, line by line so every
 * problem names its line (sections, keys, "did you mean" for typos,
 * duplicates, inline comments), and the checks of `minibossd -n` that look
 * beyond one value (combinations of keys, the files and directories the
 * keys name).  Problems come back as diagnostics; never logs.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_config_priv.h"
#include "mb_file.h"

#define OFF(f) offsetof(struct mb_config, f)
#define U64MAX UINT64_MAX

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
	if (*mb_cfg_skip_space(close + 1) != '\0') {
		PERR(ctx, ln, "text after the section header '[%s]'", s + 1);
		return;
	}
	s = (char *)mb_cfg_skip_space(s + 1);
	rtrim(s);
	if (!mb_cfg_section_known(s)) {
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
	value = (char *)mb_cfg_skip_space(eq + 1);
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
		if (*mb_cfg_skip_space(q + 1) != '\0') {
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
	r = mb_cfg_set_key(ctx->cfg, k, value, msg, sizeof(msg));
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
			s = (char *)mb_cfg_skip_space(line);
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
		mb_cfg_first_error(&d, err, errlen);
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
		mb_cfg_first_error(&d, err, errlen);
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

int
mb_config_ipv4_list_parse(const char *s, uint32_t *addrs, uint32_t *masks, unsigned max,
			  const char **ret_bad)
{
	unsigned n = 0;

	while (*s != '\0') {
		size_t k = strcspn(s, ", ");
		char item[32], *slash, *end;
		struct in_addr ia;
		unsigned long len = 32;

		if (k == 0) {
			s++;
			continue;
		}
		if (ret_bad != NULL)
			*ret_bad = s;
		if (k >= sizeof(item))
			return -EINVAL;
		memcpy(item, s, k);
		item[k] = '\0';
		slash = strchr(item, '/');
		if (slash != NULL) {
			*slash = '\0';
			if (!isdigit((unsigned char)slash[1]))
				return -EINVAL;
			errno = 0;
			len = strtoul(slash + 1, &end, 10);
			if (errno != 0 || *end != '\0' || len > 32)
				return -EINVAL;
		}
		if (inet_pton(AF_INET, item, &ia) != 1)
			return -EINVAL;
		if (n >= max)
			return -E2BIG;
		masks[n] = len == 0 ? 0 : 0xffffffffu << (32 - len);
		addrs[n] = ntohl(ia.s_addr) & masks[n];
		n++;
		s += k;
	}
	return (int)n;
}

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
	if (strcmp(cfg->tcp_cc, "newreno") != 0 && strcmp(cfg->tcp_cc, "cubic") != 0)
		CERR("tcp", "congestion-control",
		     "[tcp] congestion-control: '%s' is not newreno or cubic", cfg->tcp_cc);
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
	{
		uint32_t pa[MB_CFG_IPV4_LIST_MAX], pm[MB_CFG_IPV4_LIST_MAX];
		const char *bad = NULL;
		int n = mb_config_ipv4_list_parse(cfg->master_proxies, pa, pm,
						  MB_CFG_IPV4_LIST_MAX, &bad);

		if (n == -E2BIG)
			CERR("frisbee", "master-proxies", "[frisbee] master-proxies: more than %d items",
			     MB_CFG_IPV4_LIST_MAX);
		else if (n < 0)
			CERR("frisbee", "master-proxies",
			     "[frisbee] master-proxies: '%.*s' is not A.B.C.D or A.B.C.D/len",
			     (int)strcspn(bad, ", "), bad);
	}
	if (strcmp(cfg->fris_linger, "idle") != 0 && strcmp(cfg->fris_linger, "never") != 0 &&
	    strcmp(cfg->fris_linger, "leave") != 0)
		CERR("frisbee", "linger", "[frisbee] linger: '%s' is not idle, never or leave",
		     cfg->fris_linger);
	if (strcmp(cfg->igmp_querier, "off") != 0 && strcmp(cfg->igmp_querier, "on") != 0 &&
	    strcmp(cfg->igmp_querier, "auto") != 0)
		CERR("frisbee", "igmp-querier", "[frisbee] igmp-querier: '%s' is not off, on or auto",
		     cfg->igmp_querier);
	if (cfg->igmp_lmqi_ms % 100 != 0)
		CERR("frisbee", "igmp-last-member-interval-ms",
		     "[frisbee] igmp-last-member-interval-ms: %" PRIu64
		     " is not a multiple of 100 (IGMP counts it in tenths of a second)",
		     cfg->igmp_lmqi_ms);
	if (cfg->max_fallback_nodes > cfg->max_nodes)
		CERR("frisbee", "max-fallback-nodes",
		     "[frisbee] max-fallback-nodes is above max-nodes");
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
	if (strncmp(cfg->origin_url, "mfrisbee://", 11) == 0) {
		char host[256];
		uint16_t pport;
		const char *pm = cfg->parent_methods;

		if (mb_config_parent_url(cfg->origin_url, host, sizeof(host), &pport) != 0)
			CERR("origin", "url", "[origin] url '%s': expected mfrisbee://HOST[:PORT]",
			     cfg->origin_url);
		while (*pm != '\0') {
			size_t n = strcspn(pm, ", ");

			if (n > 0 && !((n == 5 && (strncmp(pm, "mcast", 5) == 0 ||
						   strncmp(pm, "ucast", 5) == 0 ||
						   strncmp(pm, "bcast", 5) == 0)))) {
				CERR("origin", "parent-methods", "[origin] parent-methods: '%.*s' is "
				     "not one of mcast, ucast, bcast", (int)n, pm);
				break;
			}
			pm += n;
			pm += strspn(pm, ", ");
		}
	}
	if (strcmp(cfg->origin_local_images, "keep") != 0 &&
	    strcmp(cfg->origin_local_images, "withdraw") != 0)
		CERR("origin", "local-images", "[origin] local-images: '%s' is neither keep nor "
		     "withdraw", cfg->origin_local_images);
	if (cfg->metrics_listen[0] != '\0') {
		const char *colon = strrchr(cfg->metrics_listen, ':');
		uint64_t port = 0;
		char host[64];
		struct in_addr ma;

		if (colon == NULL || colon == cfg->metrics_listen ||
		    mb_parse_uint(colon + 1, &port) < 0 || port == 0 || port > 65535) {
			CERR("control", "metrics-listen",
			     "[control] metrics-listen: '%s' is not address:port (e.g. "
			     "127.0.0.1:9464)", cfg->metrics_listen);
		} else {
			snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg->metrics_listen),
				 cfg->metrics_listen);
			if (inet_pton(AF_INET, host, &ma) == 1 && cfg->address != 0 &&
			    ma.s_addr == cfg->address)
				CERR("control", "metrics-listen",
				     "[control] metrics-listen: %s is the serving address ([dpdk] "
				     "address); use a management address such as 127.0.0.1", host);
			else if (inet_pton(AF_INET, host, &ma) == 1 && ma.s_addr == htonl(INADDR_ANY))
				CWARN("control", "metrics-listen",
				      "[control] metrics-listen: %s listens on every kernel address, "
				      "including the exception TAP's; prefer a management address",
				      host);
		}
	}
	/* Keys nothing reads yet: refused when the file sets them. */
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++)
		if ((k->flags & MB_CFG_F_UNBUILT) != 0 && line_of(cfg, k->section, k->name) != 0)
			CERR(k->section, k->name, "[%s] %s is %s; remove the key", k->section,
			     k->name, k->help);
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
	{
		const char *sm = cfg->control_socket_mode;
		char *end = NULL;
		unsigned long mode = strtoul(sm, &end, 8);

		if (sm[0] < '0' || sm[0] > '7' || end == NULL || *end != '\0' || mode > 0777 ||
		    (mode & 0600) != 0600 || (mode & 0111) != 0)
			CERR("server", "control-socket-mode",
			     "[server] control-socket-mode: '%s' is not an octal mode with "
			     "owner read and write and no execute bits (e.g. 0600, 0660)", sm);
		else if ((mode & 0006) != 0)
			CWARN("server", "control-socket-mode",
			      "[server] control-socket-mode %s lets every local user drain, reload "
			      "and sync the daemon", sm);
	}
	if (cfg->control_socket_group[0] != '\0' && getgrnam(cfg->control_socket_group) == NULL)
		CERR("server", "control-socket-group",
		     "[server] control-socket-group: no group '%s'", cfg->control_socket_group);
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
			v = *(char *const *)mb_cfg_cfield(cfg, k);
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
		mb_cfg_first_error(&d, err, errlen);
	mb_diags_done(&d);
	return r;
}
