/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus text exposition (format 0.0.4) of the daemon's counters, for
 * the "metrics" action (`minibossctl metrics`) and the optional HTTP
 * endpoint on control.metrics-listen (ctl_metrics_http.c).
 *
 * The metric names and their help come from the same X-macro lists the
 * counters are declared with (dataplane/dp_counters.h, tcp.h, tcp_http.h,
 * ctl_master.h); the values from the snapshots the JSON replies are made
 * of (the dataplane's stats and sessions through mb_ctl_dp(), the master
 * server's counters, the health sections of the store and of sync), so a
 * counter added to a list shows up here with no second table to keep.  The
 * few counters of the control socket, FTP control, the TLS control socket
 * and the metrics endpoint, which have no list, are named in one table
 * (health_metrics) and read from their health sections.
 *
 * Naming: miniboss_<group>_<counter>, "pkts" spelled "packets", counters
 * ending in _total, byte counts in _bytes, times in _seconds, rates in
 * _bytes_per_second (bit rates are divided by 8).  Labels: port="<id>" on
 * the port's counters, session="<id>",image="<name>" per Frisbee session
 * (at most frisbee.max-sessions of them), image="<name>" per image (at most
 * images.max-images), code= and reason= for the bounded enumerations.
 * Control thread only; DPDK-free.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_dp.h"
#include "ctl_master.h"
#include "ctl_metrics.h"
#include "ctl_priv.h"
#include "dp_counters.h"
#include "mb_cleanup.h"
#include "mb_time.h"

struct counter_desc {
	const char *name;
	const char *help;
};

/* The lists, as tables of this file (the dataplane's name tables live in
 * the DPDK library; the X-macros are what both are made from). */
#define CTR_ROW(n, h) { #n, h },
static const struct counter_desc dp_ctrs[] = { MB_DP_COUNTERS(CTR_ROW) };
static const struct counter_desc sess_ctrs[] = { MB_DP_SESS_COUNTERS(CTR_ROW) };
static const struct counter_desc tcp_ctrs[] = { MB_TCP_COUNTERS(CTR_ROW) };
static const struct counter_desc glue_ctrs[] = { MB_DP_TCP_COUNTERS(CTR_ROW) };
static const struct counter_desc http_ctrs[] = { MB_TCP_HTTP_COUNTERS(CTR_ROW) };
static const struct counter_desc master_ctrs[] = { MB_MASTER_COUNTERS(CTR_ROW) };
#undef CTR_ROW

struct out {
	FILE *f;
};

/* "<prefix>_<counter>[suffix]" with "pkts" spelled out. */
static void
metric_name(char *buf, size_t len, const char *prefix, const char *counter, const char *suffix)
{
	char c[96];
	const char *p = strstr(counter, "pkts");

	if (p != NULL)
		snprintf(c, sizeof(c), "%.*spackets%s", (int)(p - counter), counter, p + 4);
	else
		snprintf(c, sizeof(c), "%s", counter);
	snprintf(buf, len, "%s_%s%s", prefix, c, suffix);
}

/*
 * s escaped as the exposition format wants: backslash and newline always,
 * the double quote too when quote (a label value; HELP text leaves it).
 */
static void
put_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	put_escaped(f, help, false);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

/* One sample; labels is NULL or "k1", "v1", "k2", "v2", ..., NULL. */
static void
sample(FILE *f, const char *name, const char *const *labels, uint64_t v)
{
	fputs(name, f);
	if (labels != NULL && labels[0] != NULL) {
		fputc('{', f);
		for (size_t i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
			fprintf(f, "%s%s=\"", i ? "," : "", labels[i]);
			put_escaped(f, labels[i + 1], true);
			fputc('"', f);
		}
		fputc('}', f);
	}
	fprintf(f, " %" PRIu64 "\n", v);
}

static uint64_t
jint(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_true(v))
		return 1;
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

static void
gauge1(FILE *f, const char *name, const char *help, const char *const *labels, uint64_t v)
{
	family(f, name, "gauge", help);
	sample(f, name, labels, v);
}

/* A counter family of one sample without labels. */
static void
counter1(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "counter", help);
	sample(f, name, NULL, v);
}

/* Counters of one list read from obj[<key_prefix><name>]. */
static void
counter_list(FILE *f, const struct counter_desc *d, size_t n, const char *prefix,
	     const json_t *obj, const char *key_prefix, const char *const *labels)
{
	for (size_t i = 0; i < n; i++) {
		char name[160], key[96];

		metric_name(name, sizeof(name), prefix, d[i].name, "_total");
		snprintf(key, sizeof(key), "%s%s", key_prefix, d[i].name);
		family(f, name, "counter", d[i].help);
		sample(f, name, labels, jint(obj, key));
	}
}

/* Each worker's own counters and sessions, labelled lcore="<worker>" (the
 * miniboss_dp_* families above are their sums). */
static void
worker_metrics(FILE *f, const char *port, const json_t *arr)
{
	size_t nw = json_array_size(arr);

	for (size_t i = 0; i <= MB_ARRAY_SIZE(dp_ctrs) && nw > 0; i++) {
		char name[160];

		if (i < MB_ARRAY_SIZE(dp_ctrs)) {
			metric_name(name, sizeof(name), "miniboss_dp_lcore", dp_ctrs[i].name,
				    "_total");
			family(f, name, "counter", dp_ctrs[i].help);
		} else {
			snprintf(name, sizeof(name), "miniboss_dp_lcore_sessions");
			family(f, name, "gauge", "active Frisbee sessions the worker runs");
		}
		for (size_t w = 0; w < nw; w++) {
			const json_t *wo = json_array_get(arr, w);
			char wid[16];
			const char *lab[] = { "port", port, "lcore", wid, NULL };

			snprintf(wid, sizeof(wid), "%" PRIu64, jint(wo, "worker"));
			sample(f, name, lab,
			       i < MB_ARRAY_SIZE(dp_ctrs) ?
				       jint(json_object_get(wo, "counters"), dp_ctrs[i].name) :
				       jint(wo, "sessions"));
		}
	}
}

static void
dataplane_metrics(FILE *f)
{
	json_t *st = mb_ctl_dp()->stats_json(), *tcp;
	char port[16];
	const char *lab[] = { "port", port, NULL };

	if (st == NULL || json_object_get(st, "counters") == NULL) {
		json_decref(st);
		return; /* the dataplane has not started */
	}
	snprintf(port, sizeof(port), "%" PRIu64, jint(st, "port"));
	counter_list(f, dp_ctrs, MB_ARRAY_SIZE(dp_ctrs), "miniboss_dp",
		     json_object_get(st, "counters"), "", lab);
	gauge1(f, "miniboss_dp_link_up", "1 when the serving port's link is up", lab,
	       jint(st, "link"));
	gauge1(f, "miniboss_dp_link_speed_bytes_per_second", "the port's link speed", lab,
	       jint(st, "speed-bps") / 8);
	gauge1(f, "miniboss_dp_send_rate_bytes_per_second",
	       "measured send rate of the Frisbee sessions, summed", lab, jint(st, "rate-bps") / 8);
	gauge1(f, "miniboss_dp_sessions", "active Frisbee sessions", lab, jint(st, "sessions"));
	worker_metrics(f, port, json_object_get(st, "lcores"));
	tcp = json_object_get(st, "tcp");
	if (json_is_object(tcp)) {
		counter_list(f, tcp_ctrs, MB_ARRAY_SIZE(tcp_ctrs), "miniboss_tcp", tcp, "tcp_",
			     lab);
		counter_list(f, glue_ctrs, MB_ARRAY_SIZE(glue_ctrs), "miniboss_tcp", tcp, "tcp_",
			     lab);
		counter_list(f, http_ctrs, MB_ARRAY_SIZE(http_ctrs), "miniboss_http", tcp,
			     "http_", lab);
		gauge1(f, "miniboss_tcp_connections", "open TCP connections (HTTP and FTP data)",
		       lab, jint(tcp, "tcp_conns"));
	}
	json_decref(st);
}

static void
session_labels(const json_t *s, char *id, size_t idlen, const char **lab)
{
	const char *img = json_string_value(json_object_get(s, "image"));

	snprintf(id, idlen, "%" PRIu64, jint(s, "id"));
	lab[0] = "session";
	lab[1] = id;
	lab[2] = "image";
	lab[3] = img != NULL ? img : "";
	lab[4] = NULL;
}

/* Per Frisbee session: counter-major, so each family is one block. */
static void
session_metrics(FILE *f, const json_t *sess)
{
	size_t n = json_array_size(sess);
	size_t i;
	const json_t *s;
	char id[24];
	const char *lab[7];

	if (n == 0)
		return;
	for (size_t k = 0; k < MB_ARRAY_SIZE(sess_ctrs); k++) {
		char name[160];

		metric_name(name, sizeof(name), "miniboss_session", sess_ctrs[k].name, "_total");
		family(f, name, "counter", sess_ctrs[k].help);
		json_array_foreach(sess, i, s) {
			session_labels(s, id, sizeof(id), lab);
			sample(f, name, lab, jint(s, sess_ctrs[k].name));
		}
	}
	family(f, "miniboss_session_dropped_by_reason_total", "counter",
	       "datagrams of the session dropped, by decode reason");
	json_array_foreach(sess, i, s) {
		const char *reason;
		json_t *v, *drops = json_object_get(s, "drops-by-reason");

		session_labels(s, id, sizeof(id), lab);
		json_object_foreach(drops, reason, v) {
			lab[4] = "reason";
			lab[5] = reason;
			lab[6] = NULL;
			sample(f, "miniboss_session_dropped_by_reason_total", lab,
			       jint(drops, reason));
		}
	}
	family(f, "miniboss_session_send_rate_bytes_per_second", "gauge",
	       "measured send rate of the session");
	json_array_foreach(sess, i, s) {
		session_labels(s, id, sizeof(id), lab);
		sample(f, "miniboss_session_send_rate_bytes_per_second", lab,
		       jint(s, "rate-bps") / 8);
	}
	family(f, "miniboss_session_size_bytes", "gauge", "size of the session's image");
	json_array_foreach(sess, i, s) {
		session_labels(s, id, sizeof(id), lab);
		sample(f, "miniboss_session_size_bytes", lab, jint(s, "size"));
	}
}

static void
master_metrics(FILE *f, const json_t *m)
{
	const json_t *errs = json_object_get(m, "errors");
	const char *code;
	json_t *v;

	counter_list(f, master_ctrs, MB_ARRAY_SIZE(master_ctrs), "miniboss_master",
		     json_object_get(m, "counters"), "", NULL);
	family(f, "miniboss_master_errors_total", "counter",
	       "master-server replies with an error, by code");
	json_object_foreach((json_t *)errs, code, v) {
		const char *lab[] = { "code", code, NULL };

		sample(f, "miniboss_master_errors_total", lab, jint(errs, code));
	}
}

static void
store_metrics(FILE *f, const json_t *st)
{
	static const char *const states[] = { "ok", "failed", "loading", "downloading" };
	const json_t *cache = json_object_get(st, "cache"), *imgs = json_object_get(st, "images");
	const char *name;
	json_t *v;

	family(f, "miniboss_images", "gauge", "images of the store, by state");
	for (size_t i = 0; i < MB_ARRAY_SIZE(states); i++) {
		const char *lab[] = { "state", states[i], NULL };

		sample(f, "miniboss_images", lab, jint(st, states[i]));
	}
	gauge1(f, "miniboss_cache_hugepage_bytes", "image bytes held in hugepages", NULL,
	       jint(st, "hugepage-bytes"));
	gauge1(f, "miniboss_cache_hugepage_budget_bytes", "hugepage budget for images", NULL,
	       jint(st, "hugepage-budget"));
	counter1(f, "miniboss_cache_evictions_total", "images moved out of hugepages to make room",
	         jint(cache, "evictions"));
	counter1(f, "miniboss_cache_promotions_total", "images copied into hugepages",
	         jint(cache, "promotions"));
	counter1(f, "miniboss_cache_mapping_faults_total",
	         "faults on mapped image files caught (file truncated under us)",
	         jint(st, "mapping-faults"));
	{
		const json_t *ra = json_object_get(st, "readahead");

		counter1(f, "miniboss_readahead_pages_read_total",
		         "pages of mmap images the read-ahead found out of the page cache and read",
		         jint(ra, "pages-read"));
		counter1(f, "miniboss_readahead_bytes_total",
		         "bytes of mmap images the read-ahead populated ahead of the lcores",
		         jint(ra, "bytes"));
		counter1(f, "miniboss_readahead_errors_total",
		         "read-ahead populates that failed (unreadable page, truncated file)",
		         jint(ra, "errors"));
		gauge1(f, "miniboss_readahead_streams", "read positions the read-ahead follows",
		       NULL, jint(ra, "streams"));
	}
	family(f, "miniboss_image_size_bytes", "gauge", "size of each image in the store");
	json_object_foreach((json_t *)imgs, name, v) {
		const char *lab[] = { "image", name, NULL };

		sample(f, "miniboss_image_size_bytes", lab, jint(v, "size"));
	}
	family(f, "miniboss_image_warm", "gauge", "1 when the image is served from hugepages");
	json_object_foreach((json_t *)imgs, name, v) {
		const char *lab[] = { "image", name, NULL };

		sample(f, "miniboss_image_warm", lab, jint(v, "warm"));
	}
}

static void
sync_metrics(FILE *f, const json_t *s)
{
	counter1(f, "miniboss_sync_fetched_bytes_total", "image bytes fetched from ops",
	         jint(s, "bytes_fetched"));
	counter1(f, "miniboss_sync_rounds_total", "sync rounds finished", jint(s, "rounds"));
	counter1(f, "miniboss_sync_refusals_total",
	         "sync rounds refused (manifest, signature, replay, ops unreachable)",
	         jint(s, "refusals"));
	counter1(f, "miniboss_sync_chunks_verified_total",
	         "1 MiB chunks that matched their manifest digest as they arrived",
	         jint(s, "chunks_verified"));
	counter1(f, "miniboss_sync_chunk_failures_total",
	         "chunks that did not match their manifest digest (never served)",
	         jint(s, "chunk_failures"));
	counter1(f, "miniboss_sync_chunk_refetches_total",
	         "Range requests for a chunk that failed its digest", jint(s, "chunk_refetches"));
	counter1(f, "miniboss_sync_cut_through_total",
	         "master-server GETs served from an image still being synced",
	         jint(s, "cut_through"));
	gauge1(f, "miniboss_sync_last_round_timestamp_seconds",
	       "UNIX time the last sync round finished, 0 = never", NULL, jint(s, "last_sync"));
	gauge1(f, "miniboss_sync_ops_reachable", "1 when the last request reached ops", NULL,
	       jint(s, "ops_reachable"));
	gauge1(f, "miniboss_sync_running", "1 while a sync round runs", NULL, jint(s, "running"));
	if (json_object_get(s, "orphans") != NULL)
		gauge1(f, "miniboss_sync_orphan_files",
		       "files in the state directory that no manifest names (never deleted)", NULL,
		       json_array_size(json_object_get(s, "orphans")) +
			       jint(s, "orphans-more"));
}

/* The control side's own counters, from their health sections (a section
 * is absent while its subsystem is off, and so are its metrics). */
static const struct health_metric {
	const char *section, *key, *name, *type, *help;
} health_metrics[] = {
	{ "control", "clients", "miniboss_control_clients", "gauge",
	  "clients of the local control socket" },
	{ "control", "rejected", "miniboss_control_rejected_total", "counter",
	  "control socket clients refused: too many" },
	{ "ftp", "clients", "miniboss_ftp_control_connections", "gauge",
	  "FTP control connections" },
	{ "ftp", "refused-paths", "miniboss_ftp_refused_paths_total", "counter",
	  "FTP requests for a path outside the image namespace" },
	{ "ftp", "refused-source", "miniboss_ftp_refused_source_total", "counter",
	  "FTP control connections refused: too many from that address" },
	{ "ftp", "refused-draining", "miniboss_ftp_refused_draining_total", "counter",
	  "FTP transfers refused while draining" },
	{ "ftp", "dropped", "miniboss_ftp_dropped_total", "counter",
	  "FTP control connections closed: too many, or a reply could not be written" },
	{ "tls", "clients", "miniboss_tls_control_clients", "gauge",
	  "clients of the TLS control socket (boss)" },
	{ "tls", "accepted", "miniboss_tls_control_accepted_total", "counter",
	  "TLS control connections accepted" },
	{ "tls", "rejected", "miniboss_tls_control_rejected_total", "counter",
	  "TLS control connections refused: too many, or no credentials" },
	{ "tls", "handshake-failed", "miniboss_tls_control_handshake_failures_total", "counter",
	  "TLS handshakes that failed (certificate not accepted, not TLS)" },
	{ "tls", "handshake-timeout", "miniboss_tls_control_handshake_timeouts_total", "counter",
	  "TLS handshakes that did not finish in time" },
	{ "tls", "requests", "miniboss_tls_control_requests_total", "counter",
	  "requests over the TLS control socket" },
	{ "metrics", "requests", "miniboss_metrics_requests_total", "counter",
	  "GET /metrics answered" },
	{ "metrics", "bad-requests", "miniboss_metrics_bad_requests_total", "counter",
	  "requests to the metrics endpoint answered with an error" },
};

static void
control_metrics(FILE *f, const json_t *health)
{
	for (size_t i = 0; i < MB_ARRAY_SIZE(health_metrics); i++) {
		const struct health_metric *m = &health_metrics[i];
		const json_t *sec = json_object_get(health, m->section);

		if (!json_is_object(sec) || json_object_get(sec, m->key) == NULL)
			continue;
		family(f, m->name, m->type, m->help);
		sample(f, m->name, NULL, jint(sec, m->key));
	}
}

char *
mb_ctl_metrics_text(size_t *ret_len)
{
	static const char *const hstates[] = { "ok", "degraded", "draining", "down" };
	enum mb_health_state hs = MB_HEALTH_OK;
	json_t *health = mb_ctl_health_json(&hs), *sess = NULL, *sub;
	char *err = NULL, *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *blab[] = { "version", MB_VERSION, NULL };

	if (f == NULL) {
		json_decref(health);
		return NULL;
	}
	gauge1(f, "miniboss_build_info", "the daemon's version (value 1)", blab, 1);
	gauge1(f, "miniboss_uptime_seconds", "seconds since the daemon started", NULL,
	       jint(health, "uptime"));
	family(f, "miniboss_health", "gauge", "1 for the daemon's health state, 0 for the others");
	for (size_t i = 0; i < MB_ARRAY_SIZE(hstates); i++) {
		const char *lab[] = { "state", hstates[i], NULL };

		sample(f, "miniboss_health", lab, strcmp(mb_health_state_name(hs), hstates[i]) == 0);
	}
	dataplane_metrics(f);
	sess = mb_ctl_action_run("sessions", NULL, &err);
	free(err);
	if (json_is_object(sess)) {
		session_metrics(f, json_object_get(sess, "dataplane"));
		if ((sub = json_object_get(sess, "master")) != NULL)
			master_metrics(f, sub);
	}
	json_decref(sess);
	if ((sub = json_object_get(health, "store")) != NULL)
		store_metrics(f, sub);
	if ((sub = json_object_get(health, "sync")) != NULL)
		sync_metrics(f, sub);
	control_metrics(f, health);
	json_decref(health);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	if (ret_len != NULL)
		*ret_len = len;
	return buf;
}

static json_t *
action_metrics(json_t *args, char **ret_err)
{
	size_t len;
	char *t = mb_ctl_metrics_text(&len);
	json_t *r;

	(void)args;
	if (t == NULL) {
		*ret_err = strdup("out of memory");
		return NULL;
	}
	r = json_stringn(t, len);
	free(t);
	return r;
}

const struct mb_ctl_action mb_ctl_metrics_action = {
	"metrics", action_metrics,
	"the counters in the Prometheus text format (a string; minibossctl prints it as is)"
};
