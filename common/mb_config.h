/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration: one table describes every key (section, name, type,
 * bounds, default, reloadable, help, what kind of path it names).  Parsing,
 * `minibossd -n`, `minibossd -E`, `minibossctl config`, the reload check and
 * the miniboss.conf(5) man page all come from that table.
 *
 * A struct mb_config is a plain value: parse into a fresh one, check, then
 * publish.  It holds no pointers except owned strings, freed by
 * mb_config_done().  Besides the values it remembers where each key was set
 * (line) and how it was spelled there (text), so every message can point at
 * file:line and `minibossctl config` can show "64M" rather than 67108864.
 * DPDK-free; never logs: problems come back as diagnostics (struct mb_diags)
 * or, through the older one-message calls, as text.
 */
#ifndef _MB_CONFIG_H_
#define _MB_CONFIG_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define MB_CFG_ERRLEN 256
/* Room for the key table's rows (checked by a static assertion). */
#define MB_CFG_MAX_KEYS 160
/* Longest line and file accepted (bounds, not expectations). */
#define MB_CFG_MAX_LINE 8192
#define MB_CFG_MAX_FILE (1u << 20)

struct mb_config {
	/* [server] */
	char *state_dir;
	bool create_state_dir;	/* create state-dir when missing */
	char *control_socket;
	char *control_socket_mode;  /* octal permission bits of control_socket */
	char *control_socket_group; /* "" = root's group */
	bool drop_privileges;	    /* keep only the run-time capabilities after start */
	char *eal_args;
	char *log_level;
	uint64_t max_control_clients;
	uint64_t control_timeout; /* seconds a control client may idle */
	uint64_t open_files;	  /* RLIMIT_NOFILE the daemon raises itself to */

	/* [dpdk] */
	uint64_t port_id;
	uint32_t address;	/* IPv4, network byte order */
	uint64_t prefixlen;	/* from "a.b.c.d/len" */
	uint32_t gateway;	/* network byte order, 0 = none */
	uint64_t mtu;
	char *exception_tap;	/* "" = no exception path */
	uint64_t rx_desc;
	uint64_t tx_desc;
	uint64_t mbufs;
	uint64_t burst;
	uint64_t idle_sleep_us;
	uint64_t workers; /* dpdk.workers: dataplane lcores */
	bool tx_zero_copy;
	bool tso;

	/* [images] */
	uint64_t hugepage_budget; /* bytes, 0 = unlimited */
	uint64_t max_images;
	uint64_t max_image_size;
	uint64_t readahead; /* bytes read ahead of each reader of an mmap image, 0 = off */

	/* [frisbee] */
	bool fris_enable;
	uint32_t mcast_base;	/* network byte order */
	uint64_t mcast_count;
	uint64_t fris_port_base;
	uint64_t fris_port_count;
	char *fris_methods;	/* "mcast,ucast,bcast" subset */
	uint64_t fris_rate;	/* bits/s cap per session, 0 = port rate */
	uint64_t port_rate;	/* bits/s for the port, 0 = link speed */
	bool dynamic_rate;
	uint64_t fris_idle_timeout; /* seconds */
	char *fris_linger;	/* "idle", "never" or "leave" */
	uint64_t max_sessions;
	uint64_t master_port;	/* 0 disables the master server */
	char *master_listen;
	uint64_t mcast_ttl;
	uint64_t tryagain_wait;	/* seconds a GET for a fetching image answers TRYAGAIN */
	bool master_proxy;	/* GET with hostip != peer (proxy) allowed from anyone */
	char *master_proxies;	/* addresses/prefixes that may proxy */
	uint64_t unicast_resend; /* percent of an image a unicast session may send again */
	uint64_t master_per_source;	/* concurrent master-server connections per address */
	uint64_t sessions_per_source;	/* sessions one requesting address may have started */
	uint64_t max_unicast_sessions;	/* 0 = half of max_sessions (all: ucast only) */
	uint64_t max_nodes;		/* nodes tracked per session */
	uint64_t max_fallback_nodes;	/* nodes per session served alone by unicast */
	char *igmp_querier;		/* "off", "on", "auto" */
	uint64_t igmp_query_interval;	/* seconds */
	uint64_t igmp_lmqc;		/* last member query count */
	uint64_t igmp_lmqi_ms;		/* last member query interval, ms (a multiple of 100) */

	/* [tcp] */
	bool tcp_enable;
	uint64_t http_port;
	uint64_t ftp_port;
	uint64_t ftp_pasv_min;
	uint64_t ftp_pasv_max;
	uint64_t ftp_per_source;	/* concurrent FTP control connections per address */
	uint64_t max_connections;
	uint64_t tcp_idle_timeout;
	char *tcp_cc;
	uint64_t initial_window;
	uint64_t syn_backlog;
	uint64_t syn_cookie_rate;      /* cookie SYN-ACKs per second, 0 = no limit */
	uint64_t max_conns_per_src;    /* 0 = no limit */
	uint64_t partial_reqs_per_src; /* HTTP request buffers per source, 0 = no limit */

	/* [origin] */
	char *origin_url;
	char *origin_ca_file;
	char *origin_client_cert;
	char *origin_client_key;
	char *manifest_pubkey;
	char *origin_site;
	uint64_t sync_interval;
	uint64_t sync_max_rate;	/* bytes/s, 0 = unlimited */
	uint64_t sync_concurrency;
	uint64_t sync_ranges;	/* Range requests per image download */
	uint64_t max_manifest_size;
	uint64_t sync_timeout;
	char *parent_methods;	/* mfrisbee:// origin: methods asked of the parent */
	bool parent_proxy;	/* ask on behalf of the node (hostip) */
	uint64_t parent_revalidate; /* seconds a parent's GETSTATUS answer counts */
	bool parent_cut_through;	/* serve a fetching image as its chunks arrive */
	bool parent_redirect;	/* send nodes to the parent's non-unicast session (stock -R) */
	char *origin_local_images; /* "keep" or "withdraw" */

	/* [control] */
	char *tls_listen;
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	char *metrics_listen;

	/* Where each key (index into mb_cfg_keys) was set: the line (0 = not
	 * set, default) and the value as written there (NULL = default); the
	 * file of the last parse.  Owned. */
	char *source;
	uint32_t line[MB_CFG_MAX_KEYS];
	char *text[MB_CFG_MAX_KEYS];
};

enum mb_cfg_type {
	MB_CFG_STRING,
	MB_CFG_UINT,	 /* decimal, bounded */
	MB_CFG_BOOL,	 /* yes/no/true/false/on/off/1/0 */
	MB_CFG_IPV4,	 /* dotted quad */
	MB_CFG_IPV4_PREFIX, /* dotted quad "/len"; len goes to the next uint field */
	MB_CFG_SIZE,	 /* bytes: 64M, 1.5G, 512KiB (K/M/G/T = powers of 1024) */
	MB_CFG_RATE,	 /* bits/s: 1G, 500Mbit/s, 10Gbps (k/M/G/T = powers of 1000) */
	MB_CFG_DURATION, /* seconds: 30s, 5m, 1h30m, 2d */
	MB_CFG_BYTERATE, /* bytes/s: 10M, 10MiB/s (K/M/G/T = powers of 1024) */
};

/* What a string key names, for the checks of -n, start-up and reload. */
enum mb_cfg_flag {
	MB_CFG_F_FILE = 1u << 0,   /* a file that must exist and be readable */
	MB_CFG_F_DIR = 1u << 1,	   /* a directory that must exist and be writable */
	MB_CFG_F_SECRET = 1u << 2, /* a private key: warn when others may read it */
	MB_CFG_F_CERT = 1u << 3,   /* PEM certificate(s) */
	MB_CFG_F_PUBKEY = 1u << 4, /* PEM public key */
	MB_CFG_F_SOCKET = 1u << 5, /* a Unix socket path (its directory is made) */
	MB_CFG_F_UNBUILT = 1u << 6, /* nothing reads it yet: refused when set (help says why) */
};

struct mb_cfg_key {
	const char *section;
	const char *name;
	enum mb_cfg_type type;
	size_t offset;
	uint64_t min;
	uint64_t max;
	const char *def;	/* default, in the config file's own syntax */
	bool reloadable;
	const char *help;
	unsigned flags;		/* enum mb_cfg_flag bits */
};

/* ---- diagnostics --------------------------------------------------------- */

enum mb_diag_level {
	MB_DIAG_ERROR,
	MB_DIAG_WARNING,
};

struct mb_diag {
	enum mb_diag_level level;
	char *file;	/* NULL: not about one file */
	uint32_t line;	/* 0: not about one line */
	char *msg;
};

/* Every problem of one check, in the order found.  Zero-initialise it (or
 * mb_diags_init) and free with mb_diags_done. */
struct mb_diags {
	struct mb_diag *v;
	size_t n, cap;
	unsigned errors, warnings;
};

void mb_diags_init(struct mb_diags *d);
void mb_diags_done(struct mb_diags *d);
/* Add one message (copies file and the formatted text; out of memory drops
 * the text but still counts it). */
void mb_diags_add(struct mb_diags *d, enum mb_diag_level level, const char *file, uint32_t line,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Order by file, then line (stable: one line's messages keep their order);
 * messages without a line first. */
void mb_diags_sort(struct mb_diags *d);
/* "file:line: error: msg" (file or line left out when unknown) into buf. */
int mb_diag_format(const struct mb_diag *g, char *buf, size_t len);
/* One line each on f, every line prefixed with `prefix` (may be ""). */
void mb_diags_print(const struct mb_diags *d, FILE *f, const char *prefix);
/* [ "file:line: error: msg", ... ] of one level (or both: level < 0).  New
 * reference or NULL. */
json_t *mb_diags_json(const struct mb_diags *d, int level);

/* The table, terminated by a NULL name. */
extern const struct mb_cfg_key mb_cfg_keys[];

/* Fill *cfg with defaults.  Returns 0 or -ENOMEM. */
/* origin.url "mfrisbee://HOST[:PORT][/]" (a parent master server): HOST
 * into host (NUL-terminated), PORT (default 64494) into *ret_port.  0, or
 * -EINVAL when url is not such a URL. */
int mb_config_parent_url(const char *url, char *host, size_t hostlen, uint16_t *ret_port);

int mb_config_defaults(struct mb_config *cfg);

/*
 * Parse a file (or a string named `name` in messages) over *cfg, reporting
 * every problem into d: syntax, unknown sections and keys (with "did you
 * mean"), duplicate keys, bad values and bounds.  The file syntax is the one
 * mb_config_print_syntax() documents.  Returns 0 when no error was added,
 * -EINVAL when some were, -errno when the file cannot be read, -ENOMEM.
 * Keys that parsed are set even when others failed.
 */
int mb_config_parse_file(struct mb_config *cfg, const char *path, struct mb_diags *d);
int mb_config_parse_string(struct mb_config *cfg, const char *text, const char *name,
			   struct mb_diags *d);

/* What mb_config_check looks at besides the values themselves. */
enum mb_cfg_check {
	MB_CFG_CHECK_FILES = 1u << 0, /* paths exist, have the right type and access */
};

/*
 * Cross-key checks (required keys, ranges that depend on each other) and,
 * with MB_CFG_CHECK_FILES, every path the configuration names: files
 * readable, directories present and writable (state-dir: unless
 * create-state-dir), private keys not readable by others (a warning).
 * Content checks (certificates, keys) are the caller's: see
 * mb_ctl_config_check_files.  Returns 0 when no error was added, else
 * -EINVAL.  Blocks on the file system.
 */
int mb_config_check(const struct mb_config *cfg, unsigned what, struct mb_diags *d);

/* The one-message forms: the first error as "file:line: message" in err. */
int mb_config_load_file(struct mb_config *cfg, const char *path, char *err, size_t errlen);
int mb_config_load_string(struct mb_config *cfg, const char *text, char *err, size_t errlen);
/* mb_config_check without file checks, first error in err. */
int mb_config_validate(const struct mb_config *cfg, char *err, size_t errlen);

#define MB_CFG_IPV4_LIST_MAX 64
/* Parse a list of `A.B.C.D` or `A.B.C.D/len` items separated by commas
 * and/or spaces (frisbee.master-proxies) into addresses and masks, host
 * order.  Returns how many (0 for an empty list), -EINVAL for an item that
 * is neither (*ret_bad, if not NULL, points at it), -E2BIG above max.  Pure. */
int mb_config_ipv4_list_parse(const char *s, uint32_t *addrs, uint32_t *masks, unsigned max,
			      const char **ret_bad);

/* The index of k in mb_cfg_keys. */
size_t mb_config_key_index(const struct mb_cfg_key *k);
/* Whether cfg's value of k differs from k's default. */
bool mb_config_is_default(const struct mb_config *cfg, const struct mb_cfg_key *k);
/* Name of a type ("size", "rate"...). */
const char *mb_config_type_name(enum mb_cfg_type t);
/* Free owned strings. */
void mb_config_done(struct mb_config *cfg);
/* Deep copy. */
int mb_config_copy(struct mb_config *dst, const struct mb_config *src);
/* Format one key's value as a plain number (sizes in bytes, rates in bit/s,
 * durations as "Ns"): the machine form, also in the JSON "value". */
int mb_config_format(const struct mb_config *cfg, const struct mb_cfg_key *k, char *buf,
		     size_t len);
/* Format one key's value for people: as written in the file when it was
 * set there, else the shortest exact unit spelling (64M, 1G, 5m). */
int mb_config_format_human(const struct mb_config *cfg, const struct mb_cfg_key *k, char *buf,
			   size_t len);
const struct mb_cfg_key *mb_config_find(const char *section, const char *name);
/* JSON: {"section": {"key": {"value":..., "default":..., "type":..., "reloadable":..,
 * "help":..., "text":..., "line":...}}} ("text": as written, "line": where,
 * both only for keys set in the file).  Keys nothing reads yet
 * (MB_CFG_F_UNBUILT) are left out.  New reference. */
json_t *mb_config_to_json(const struct mb_config *cfg);
/* Which keys differ between a and b that are not reloadable (first one), or NULL. */
const struct mb_cfg_key *mb_config_nonreloadable_change(const struct mb_config *a,
							const struct mb_config *b);
/* Print an annotated example config (all keys, defaults, help) to f, after
 * the syntax summary. */
void mb_config_print_example(FILE *f);
/* The file syntax and the spellings of sizes, rates and durations, as
 * comment lines starting with `lead` ("# " for -E). */
void mb_config_print_syntax(FILE *f, const char *lead);
/* miniboss.conf(5) in man(7) roff, generated from the table. */
void mb_config_print_man(FILE *f);

/* Value parsers, exported for tests and tools.  Return 0 or -EINVAL/-ERANGE. */
int mb_parse_uint(const char *s, uint64_t *ret);
int mb_parse_bool(const char *s, bool *ret);
int mb_parse_size(const char *s, uint64_t *ret);
int mb_parse_rate(const char *s, uint64_t *ret);
int mb_parse_duration(const char *s, uint64_t *ret);
/* The same spellings in milliseconds, fractions allowed: 500ms, 1.5s, 2m. */
int mb_parse_duration_ms(const char *s, uint64_t *ret_ms);
int mb_parse_byterate(const char *s, uint64_t *ret);
/* Human spellings (exact): 64M, 1536K, 1G (bit/s), 1h30m.  Return snprintf's. */
int mb_format_size(uint64_t v, char *buf, size_t len);
int mb_format_rate(uint64_t v, char *buf, size_t len);
int mb_format_duration(uint64_t v, char *buf, size_t len);
int mb_parse_ipv4(const char *s, uint32_t *ret_be);
int mb_parse_ipv4_prefix(const char *s, uint32_t *ret_be, uint64_t *ret_len);

#endif /* _MB_CONFIG_H_ */
