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
 *
 * This file holds the key table and what works on one key (setting it from
 * text, defaults, copies, formatting, JSON, the reload comparison); the
 * value spellings are in mb_config_value.c, the file parser and the checks
 * of -n in mb_config_parse.c, the diagnostics in mb_config_diag.c, and -E
 * and the man page in mb_config_doc.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_config_priv.h"

#define OFF(f) offsetof(struct mb_config, f)
#define U64MAX UINT64_MAX

#define OFF(f) offsetof(struct mb_config, f)
#define U64MAX UINT64_MAX
#define MB_PARENT_PORT_DEFAULT 64494 /* the master-server port */

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
	{ "server", "control-socket-mode", MB_CFG_STRING, OFF(control_socket_mode), 3, 4, "0600",
	  false, "octal permissions of the control socket; anyone who may connect to it may drain, "
	  "reload and sync the daemon, so widen it only together with control-socket-group" },
	{ "server", "control-socket-group", MB_CFG_STRING, OFF(control_socket_group), 0, 32, "",
	  false, "group owning the control socket (with control-socket-mode = 0660, its members "
	  "may use minibossctl), empty = root's" },
	{ "server", "drop-privileges", MB_CFG_BOOL, OFF(drop_privileges), 0, 1, "yes", false,
	  "once started, keep only the capabilities the running daemon still needs (in every "
	  "thread), empty the bounding set of the others and set no_new_privs" },
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
	{ "dpdk", "workers", MB_CFG_UINT, OFF(workers), 1, 16, "1", false,
	  "dataplane lcores (workers), each with its own TX queue, and its own RX queue "
	  "with RSS where the port offers it; Frisbee sessions are spread over them; needs "
	  "as many EAL lcores (-l); more than the port's TX queues is refused at start" },
	{ "dpdk", "tx-zero-copy", MB_CFG_BOOL, OFF(tx_zero_copy), 0, 1, "yes", false,
	  "attach cached image data to TX mbufs instead of copying it" },
	{ "dpdk", "tso", MB_CFG_BOOL, OFF(tso), 0, 1, "yes", false,
	  "TCP segmentation offload where the port offers it: up to 64 KiB per TCP frame" },

	{ "images", "hugepage-budget", MB_CFG_SIZE, OFF(hugepage_budget), 0, U64MAX, "0", true,
	  "bytes of hugepage memory for cached images, 0 = as much as EAL has" },
	{ "images", "max-images", MB_CFG_UINT, OFF(max_images), 1, 65536, "1024", true,
	  "images in the store" },
	{ "images", "max-image-size", MB_CFG_SIZE, OFF(max_image_size), 1, U64MAX, "64G", true,
	  "largest image accepted" },
	{ "images", "readahead", MB_CFG_SIZE, OFF(readahead), 0, U64MAX, "256M", true,
	  "bytes read into the page cache ahead of each reader of an image served from its "
	  "file (mmap), off the lcores; an image that fits in half the available memory is read "
	  "whole; 0 = off (the lcores fault the pages in from the disk)" },

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
	/* The rate follows the receivers by default (dynamic-rate): it starts at
	 * the port's rate and backs off on their re-requests, so a fixed
	 * default (1 Gbit/s used to be) is neither too slow for 10 GbE nodes
	 * nor too fast for 1 GbE ones; frisbee.rate stays as a cap.  Unpaced
	 * and without adaptation a stock client overflows its 1 MiB socket
	 * buffer and waits out its 1 s redo delay (measured 5x slower). */
	{ "frisbee", "rate", MB_CFG_RATE, OFF(fris_rate), 0, U64MAX, "0", true,
	  "bits/s cap per session on the wire, 0 = the port's rate (the adaptive rate "
	  "finds what the receivers take below it)" },
	{ "frisbee", "port-rate", MB_CFG_RATE, OFF(port_rate), 0, U64MAX, "0", true,
	  "bits/s cap for all sessions on the port, 0 = link speed" },
	{ "frisbee", "dynamic-rate", MB_CFG_BOOL, OFF(dynamic_rate), 0, 1, "yes", true,
	  "adaptive rate: start at the cap, back off when the receivers re-request what was "
	  "sent, creep back up; no = a fixed rate (frisbee.rate, else unpaced)" },
	{ "frisbee", "idle-timeout", MB_CFG_DURATION, OFF(fris_idle_timeout), 1, 86400, "600s", true,
	  "a session that sends no block new to its current round for this long ends "
	  "(requests and reports that bring no new data do not keep it alive)" },
	{ "frisbee", "linger", MB_CFG_STRING, OFF(fris_linger), 1, 8, "idle", true,
	  "how a session ends besides being stopped: idle (after idle-timeout without "
	  "progress), never, or leave (2 s after every client that joined has sent its LEAVE; "
	  "idle-timeout still ends it when clients vanish); new sessions take a reload" },
	{ "frisbee", "max-sessions", MB_CFG_UINT, OFF(max_sessions), 1, 4096, "64", false,
	  "concurrent Frisbee sessions (the dataplane's slots are made at start)" },
	{ "frisbee", "master-port", MB_CFG_UINT, OFF(master_port), 0, 65535, "64494", false,
	  "TCP port of the master-server (GET) protocol, 0 = off" },
	{ "frisbee", "master-listen", MB_CFG_STRING, OFF(master_listen), 1, 63, "0.0.0.0", false,
	  "kernel address the master server listens on" },
	{ "frisbee", "mcast-ttl", MB_CFG_UINT, OFF(mcast_ttl), 1, 255, "5", true,
	  "IP TTL of multicast BLOCKs" },
	{ "frisbee", "tryagain-wait", MB_CFG_DURATION, OFF(tryagain_wait), 0, 86400, "30s", false,
	  "not implemented: a GET for an image still loading or downloading answers TRYAGAIN "
	  "until it is ready", MB_CFG_F_UNBUILT },
	{ "frisbee", "master-proxy", MB_CFG_BOOL, OFF(master_proxy), 0, 1, "no", true,
	  "answer master-server requests made on behalf of another node (frisbee -P, a subboss "
	  "with -A) from any peer, as the stock null backend; prefer master-proxies" },
	{ "frisbee", "master-proxies", MB_CFG_STRING, OFF(master_proxies), 0, 1023, "", true,
	  "addresses or prefixes (A.B.C.D[/len], comma or space separated, at most 64) of the "
	  "subbosses that may ask on behalf of another node; 127.0.0.1 always may" },
	{ "frisbee", "unicast-resend", MB_CFG_UINT, OFF(unicast_resend), 0, 10000, "100", true,
	  "percent of its image a unicast session may send beyond one copy (plus one chunk); "
	  "bounds what spoofed requests make us send to one address" },
	{ "frisbee", "master-max-per-source", MB_CFG_UINT, OFF(master_per_source), 1, 256, "16", true,
	  "concurrent master-server connections from one address (more are closed at once)" },
	{ "frisbee", "max-sessions-per-source", MB_CFG_UINT, OFF(sessions_per_source), 1, 4096, "8",
	  true, "running sessions one requesting address may have started (joining a running "
	  "session is free); a proxy (master-proxy) counts as one address" },
	{ "frisbee", "max-nodes", MB_CFG_UINT, OFF(max_nodes), 1, 65535, "256", false,
	  "nodes tracked per session (progress, unicast fallback); more are served but not "
	  "tracked (counted)" },
	{ "frisbee", "max-fallback-nodes", MB_CFG_UINT, OFF(max_fallback_nodes), 0, 256, "8",
	  false, "nodes per multicast session served alone by unicast when multicast does not "
	  "reach them or they cannot keep up with the group; 0 = never" },
	{ "frisbee", "igmp-querier", MB_CFG_STRING, OFF(igmp_querier), 2, 4, "auto", true,
	  "IGMP querier on the serving segment while multicast sessions run: off, on, or auto "
	  "(only while no querier with a lower address, nor a switch's proxy querier, is "
	  "present)" },
	{ "frisbee", "igmp-query-interval", MB_CFG_DURATION, OFF(igmp_query_interval), 1, 3600,
	  "125s", true, "the querier's general query interval (snooping switches keep a "
	  "membership about 2 intervals)" },
	{ "frisbee", "igmp-last-member-count", MB_CFG_UINT, OFF(igmp_lmqc), 1, 10, "2", true,
	  "group-specific queries the querier sends after a Leave (the last member query "
	  "count, RFC 2236's robustness variable)" },
	{ "frisbee", "igmp-last-member-interval-ms", MB_CFG_UINT, OFF(igmp_lmqi_ms), 100, 25500,
	  "1000", true, "milliseconds between those queries, also their max response time "
	  "(a multiple of 100: IGMP counts it in tenths of a second)" },
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
	{ "tcp", "ftp-pasv-min", MB_CFG_UINT, OFF(ftp_pasv_min), 1024, 65535, "61000", false,
	  "first FTP passive data port (keep the range out of the kernel's ephemeral ports)" },
	{ "tcp", "ftp-pasv-max", MB_CFG_UINT, OFF(ftp_pasv_max), 1024, 65535, "61999", false,
	  "last FTP passive data port" },
	{ "tcp", "ftp-max-per-source", MB_CFG_UINT, OFF(ftp_per_source), 1, 256, "8", true,
	  "concurrent FTP control connections from one address (more get 421)" },
	{ "tcp", "max-connections", MB_CFG_UINT, OFF(max_connections), 1, 1048576, "65536", false,
	  "concurrent TCP connections" },
	{ "tcp", "idle-timeout", MB_CFG_DURATION, OFF(tcp_idle_timeout), 1, 86400, "300s", true,
	  "idle TCP connections are reset after this long" },
	{ "tcp", "congestion-control", MB_CFG_STRING, OFF(tcp_cc), 1, 16, "newreno", true,
	  "newreno or cubic (RFC 9438), for connections opened afterwards" },
	{ "tcp", "initial-window", MB_CFG_UINT, OFF(initial_window), 1, 64, "10", true,
	  "initial congestion window in segments" },
	{ "tcp", "syn-backlog", MB_CFG_UINT, OFF(syn_backlog), 16, 1048576, "4096", false,
	  "half-open connections before SYN cookies take over" },
	{ "tcp", "syn-cookie-rate", MB_CFG_UINT, OFF(syn_cookie_rate), 0, 10000000, "20000", false,
	  "SYN-ACKs carrying a SYN cookie per second (per lcore), the SYNs from one "
	  "link-layer neighbour at most a quarter of it; further SYNs are dropped and "
	  "counted; 0 = no limit" },
	{ "tcp", "max-connections-per-source", MB_CFG_UINT, OFF(max_conns_per_src), 0, 1048576,
	  "4096", false, "TCP connections (any state) one peer address may hold, 0 = no limit" },
	{ "tcp", "partial-requests-per-source", MB_CFG_UINT, OFF(partial_reqs_per_src), 0,
	  1048576, "64", false,
	  "HTTP connections of one peer address that may hold a buffered request (8 KiB each), "
	  "0 = no limit" },

	{ "origin", "url", MB_CFG_STRING, OFF(origin_url), 0, 2047, "", true,
	  "https URL of the ops image directory (manifest.json lives there: sync from ops), or "
	  "mfrisbee://HOST[:PORT] of a parent master server to fill the cache from on demand, "
	  "as a stock subboss does; empty = neither" },
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
	{ "origin", "ranges", MB_CFG_UINT, OFF(sync_ranges), 1, 16, "8", true,
	  "HTTP Range requests in parallel per image download (images held in memory, ranges "
	  "of at least 8 MiB); 1 = one request per image" },
	{ "origin", "max-manifest-size", MB_CFG_SIZE, OFF(max_manifest_size), 1024, 1073741824,
	  "16M", true, "largest manifest accepted" },
	{ "origin", "timeout", MB_CFG_DURATION, OFF(sync_timeout), 1, 86400, "60s", true,
	  "a transfer that moves no byte for this long is aborted" },
	{ "origin", "parent-methods", MB_CFG_STRING, OFF(parent_methods), 1, 64, "ucast", true,
	  "mfrisbee:// origin: methods asked of the parent, any of mcast, ucast, bcast; mcast "
	  "only where the parent's groups reach this miniboss's kernel" },
	{ "origin", "parent-proxy", MB_CFG_BOOL, OFF(parent_proxy), 0, 1, "no", true,
	  "mfrisbee:// origin: ask the parent on behalf of the node that asked us (its address "
	  "as hostip, like a stock subboss run with -A), for parents that authorise each node" },
	{ "origin", "revalidate", MB_CFG_DURATION, OFF(parent_revalidate), 0, 86400, "0s", true,
	  "mfrisbee:// origin: how long the parent's answer on an image (size, mtime) holds "
	  "before a GET asks it again; 0 = every GET, answers shared for 1 s (a stock subboss "
	  "in mirror mode)" },
	{ "origin", "cut-through", MB_CFG_BOOL, OFF(parent_cut_through), 0, 1, "yes", true,
	  "mfrisbee:// origin: a GET for an image being fetched into image memory starts (or "
	  "joins) a session at once that serves each chunk as it arrives, instead of TRYAGAIN; "
	  "requests for chunks not there yet are dropped and asked again by the client" },
	{ "origin", "redirect", MB_CFG_BOOL, OFF(parent_redirect), 0, 1, "no", true,
	  "mfrisbee:// origin: while an image is fetched from a multicast or broadcast "
	  "session of the parent, a node's GET is answered with that session (the parent's "
	  "group, port and server address), as a stock subboss run with -R, instead of "
	  "cut-through or TRYAGAIN" },
	{ "origin", "local-images", MB_CFG_STRING, OFF(origin_local_images), 1, 16, "withdraw", true,
	  "images in the store that the ops manifest does not list for this site: keep (serve "
	  "them on; ops withdraws nothing) or withdraw (ops' manifest is the whole store); a "
	  "warning names them either way" },

	{ "control", "tls-listen", MB_CFG_STRING, OFF(tls_listen), 0, 63, "", false,
	  "address:port of the TLS control socket for boss, empty = off" },
	{ "control", "tls-cert", MB_CFG_STRING, OFF(tls_cert), 0, 4095, "", true,
	  "server certificate of the TLS control socket", MB_CFG_F_FILE | MB_CFG_F_CERT },
	{ "control", "tls-key", MB_CFG_STRING, OFF(tls_key), 0, 4095, "", true,
	  "key of tls-cert", MB_CFG_F_FILE | MB_CFG_F_SECRET },
	{ "control", "tls-ca", MB_CFG_STRING, OFF(tls_ca), 0, 4095, "", true,
	  "CA that signs boss's client certificate", MB_CFG_F_FILE | MB_CFG_F_CERT },
	{ "control", "metrics-listen", MB_CFG_STRING, OFF(metrics_listen), 0, 63, "", false,
	  "address:port of the Prometheus endpoint (plain HTTP, GET /metrics) on a management "
	  "address, empty = off; never the serving address" },
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

const char *
mb_config_type_name(enum mb_cfg_type t)
{
	return (unsigned)t < MB_ARRAY_SIZE(type_names) ? type_names[t] : "?";
}

/* ---- keys ------------------------------------------------------------------------- */

static void *
field(struct mb_config *cfg, const struct mb_cfg_key *k)
{
	return (char *)cfg + k->offset;
}

const void *
mb_cfg_cfield(const struct mb_config *cfg, const struct mb_cfg_key *k)
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

bool
mb_cfg_section_known(const char *section)
{
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++)
		if (strcmp(k->section, section) == 0)
			return true;
	return false;
}

/* A bound in the key's own units, for messages. */
void
mb_cfg_format_bound(const struct mb_cfg_key *k, uint64_t v, char *buf, size_t len)
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
int
mb_cfg_set_key(struct mb_config *cfg, const struct mb_cfg_key *k, const char *value, char *err,
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
		r = mb_cfg_size_ex(value, &u, false, hint, sizeof(hint));
		break;
	case MB_CFG_BYTERATE:
		r = mb_cfg_size_ex(value, &u, true, hint, sizeof(hint));
		break;
	case MB_CFG_RATE:
		r = mb_cfg_rate_ex(value, &u, hint, sizeof(hint));
		break;
	case MB_CFG_DURATION:
		r = mb_cfg_duration_ex(value, &u, hint, sizeof(hint));
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

		mb_cfg_format_bound(k, u < k->min ? k->min : k->max, b, sizeof(b));
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
mb_config_parent_url(const char *url, char *host, size_t hostlen, uint16_t *ret_port)
{
	const char *h, *end, *colon;
	unsigned long port = MB_PARENT_PORT_DEFAULT;
	size_t n;

	if (strncmp(url, "mfrisbee://", 11) != 0)
		return -EINVAL;
	h = url + 11;
	end = h + strcspn(h, "/");
	if (*end == '/' && end[1] != '\0')
		return -EINVAL; /* no path */
	colon = memchr(h, ':', (size_t)(end - h));
	n = (size_t)((colon != NULL ? colon : end) - h);
	if (n == 0 || n >= hostlen)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-')
			return -EINVAL;
	if (colon != NULL) {
		char *e;

		if (colon + 1 == end || !isdigit((unsigned char)colon[1]))
			return -EINVAL;
		port = strtoul(colon + 1, &e, 10);
		if (e != end || port == 0 || port > 65535)
			return -EINVAL;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	*ret_port = (uint16_t)port;
	return 0;
}

int
mb_config_defaults(struct mb_config *cfg)
{
	char err[MB_CFG_ERRLEN];

	memset(cfg, 0, sizeof(*cfg));
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		if (mb_cfg_set_key(cfg, k, k->def, err, sizeof(err)) < 0) {
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
		s = *(char *const *)mb_cfg_cfield(src, k);
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

/* ---- formatting ------------------------------------------------------------------- */

int
mb_config_format(const struct mb_config *cfg, const struct mb_cfg_key *k, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	const void *p = mb_cfg_cfield(cfg, k);

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
		return mb_format_size(*(const uint64_t *)mb_cfg_cfield(cfg, k), buf, len);
	case MB_CFG_RATE:
		return mb_format_rate(*(const uint64_t *)mb_cfg_cfield(cfg, k), buf, len);
	case MB_CFG_DURATION:
		return mb_format_duration(*(const uint64_t *)mb_cfg_cfield(cfg, k), buf, len);
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

		if ((k->flags & MB_CFG_F_UNBUILT) != 0)
			continue; /* refused when set: never part of a running configuration */
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
