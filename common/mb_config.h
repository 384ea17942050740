/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration: one table describes every key (section, name, type,
 * bounds, default, reloadable, help).  Parsing (inih), `minibossd -n`,
 * `minibossctl config` and the man page all come from that table.
 *
 * A struct mb_config is a plain value: parse into a fresh one, validate, then
 * publish.  It holds no pointers except owned strings, freed by
 * mb_config_done().  DPDK-free; never logs (errors come back as text).
 */
#ifndef _MB_CONFIG_H_
#define _MB_CONFIG_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define MB_CFG_ERRLEN 256

struct mb_config {
	/* [server] */
	char *state_dir;
	char *control_socket;
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
	bool tx_zero_copy;

	/* [images] */
	uint64_t hugepage_budget; /* bytes, 0 = unlimited */
	uint64_t max_images;
	uint64_t max_image_size;

	/* [frisbee] */
	bool fris_enable;
	uint32_t mcast_base;	/* network byte order */
	uint64_t mcast_count;
	uint64_t fris_port_base;
	uint64_t fris_port_count;
	char *fris_methods;	/* "mcast,ucast,bcast" subset */
	uint64_t fris_rate;	/* bits/s per session, 0 = port line rate */
	uint64_t port_rate;	/* bits/s for the port, 0 = link speed */
	bool dynamic_rate;
	uint64_t fris_idle_timeout; /* seconds */
	uint64_t max_sessions;
	uint64_t master_port;	/* 0 disables the master server */
	char *master_listen;
	uint64_t mcast_ttl;
	uint64_t tryagain_wait;	/* seconds a GET for a fetching image answers TRYAGAIN */
	bool master_proxy;	/* GET with hostip != peer (proxy) allowed */
	uint64_t unicast_resend; /* percent of an image a unicast session may send again */
	uint64_t master_per_source;	/* concurrent master-server connections per address */
	uint64_t sessions_per_source;	/* sessions one requesting address may have started */
	uint64_t max_unicast_sessions;	/* 0 = half of max_sessions (all: ucast only) */

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
	uint64_t max_manifest_size;
	uint64_t sync_timeout;

	/* [control] */
	char *tls_listen;
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
};

enum mb_cfg_type {
	MB_CFG_STRING,
	MB_CFG_UINT,	 /* decimal, bounded */
	MB_CFG_BOOL,	 /* yes/no/true/false/on/off/1/0 */
	MB_CFG_IPV4,	 /* dotted quad */
	MB_CFG_IPV4_PREFIX, /* dotted quad "/len"; len goes to the next uint field */
	MB_CFG_SIZE,	 /* bytes with optional K/M/G/T (binary) suffix */
	MB_CFG_RATE,	 /* bits/s with optional k/M/G (decimal) suffix */
	MB_CFG_DURATION, /* seconds with optional s/m/h suffix */
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
};

/* The table, terminated by a NULL name. */
extern const struct mb_cfg_key mb_cfg_keys[];

/* Fill *cfg with defaults.  Returns 0 or -ENOMEM. */
int mb_config_defaults(struct mb_config *cfg);
/* Parse a file (or a string) over defaults.  On error returns -EINVAL (or
 * -errno for I/O) and writes "file:line: message" into err. */
int mb_config_load_file(struct mb_config *cfg, const char *path, char *err, size_t errlen);
int mb_config_load_string(struct mb_config *cfg, const char *text, char *err, size_t errlen);
/* Cross-key checks (ranges that depend on each other, required keys). */
int mb_config_validate(const struct mb_config *cfg, char *err, size_t errlen);
/* Free owned strings. */
void mb_config_done(struct mb_config *cfg);
/* Deep copy. */
int mb_config_copy(struct mb_config *dst, const struct mb_config *src);
/* Format one key's value as the config file would spell it. */
int mb_config_format(const struct mb_config *cfg, const struct mb_cfg_key *k, char *buf,
		     size_t len);
const struct mb_cfg_key *mb_config_find(const char *section, const char *name);
/* JSON: {"section": {"key": {"value":..., "default":..., "type":..., "reloadable":..,
 * "help":...}}}.  New reference. */
json_t *mb_config_to_json(const struct mb_config *cfg);
/* Which keys differ between a and b that are not reloadable (first one), or NULL. */
const struct mb_cfg_key *mb_config_nonreloadable_change(const struct mb_config *a,
							const struct mb_config *b);
/* Print an annotated example config (all keys, defaults, help) to f. */
void mb_config_print_example(FILE *f);

/* Value parsers, exported for tests and tools.  Return 0 or -EINVAL/-ERANGE. */
int mb_parse_uint(const char *s, uint64_t *ret);
int mb_parse_bool(const char *s, bool *ret);
int mb_parse_size(const char *s, uint64_t *ret);
int mb_parse_rate(const char *s, uint64_t *ret);
int mb_parse_duration(const char *s, uint64_t *ret);
int mb_parse_ipv4(const char *s, uint32_t *ret_be);
int mb_parse_ipv4_prefix(const char *s, uint32_t *ret_be, uint64_t *ret_len);

#endif /* _MB_CONFIG_H_ */
