/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * minibossctl: talk to minibossd's local control socket, and prepare a host
 * for it.
 *
 *   minibossctl [-s SOCKET] [--json] [-a] COMMAND [key=value ...]
 *   minibossctl wait [--timeout DURATION] [--state ready|ok] [--pid PID]
 *   minibossctl setup [--check] [--hugepages SIZE] [--bind PCI] ...
 *
 * Sends one request line {"cmd":...,"args":{...}} and prints the reply for
 * people: `health` a short summary in the manner of `systemctl status`
 * (state and why, serving address, link, images, sessions, sync, in human
 * units); `stats` the counters that are not zero (all with -a), the
 * dataplane's and those the health reply carries; `config` the keys that
 * differ from their defaults, as written in the file (all with -a);
 * `images` and `sessions` tables; `sync --wait` a progress line with rate,
 * ETA and the image being fetched.  --json prints the daemon's result as
 * it is, for machines.  `wait` blocks until the daemon is ready
 * (tools/ctl_wait.c); the socket client is tools/ctl_client.c.  `setup`
 * does not talk to the daemon (tools/mb_setup.c).
 *
 * Exit status: 0 ok, 1 the daemon answered an error (or health is not
 * "ok"), 2 usage error or no daemon to talk to.  DPDK-free.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_client.h"
#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_setup.h"
#include "mb_status.h"
#include "mb_time.h"

#define DEFAULT_SOCKET "/run/miniboss/control.sock"

static bool opt_all;

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: minibossctl [-s SOCKET] [--json] [-a] COMMAND [key=value ...]\n"
	        "       minibossctl setup [--check] [--hugepages SIZE] [--page-size 2M|1G]\n"
	        "                         [--bind PCI] [--driver DRIVER] [--dry-run]\n"
	        "\n"
	        "Commands (ask the daemon with 'help' for its full list):\n"
	        "  health         state and why, serving address, images, sessions, sync\n"
	        "  images         the images in the store\n"
	        "  sessions       Frisbee sessions (master-server table and dataplane)\n"
	        "  stats          counters that are not zero (-a: all)\n"
	        "  config         keys that differ from the defaults, as written (-a: all)\n"
	        "  reload         re-read the configuration and the manifest (like SIGHUP)\n"
	        "  sync [--wait]  fetch the ops manifest now; --wait shows progress to the end\n"
	        "  wait [--timeout DURATION] [--state ready|ok] [--pid PID]\n"
	        "                 block until the daemon is ready (what systemd gets as READY=1)\n"
	        "  sync --plan    check the ops manifest, then say what the next round would\n"
	        "                 fetch, keep and withdraw, and the files of the state directory\n"
	        "                 no manifest names (nothing is downloaded or withdrawn)\n"
	        "  metrics        the counters in the Prometheus text format\n"
	        "  setup          prepare this host: hugepages, NIC binding, IOMMU (see below)\n"
	        "\n"
	        "Options:\n"
	        "  -s, --socket PATH  control socket (default " DEFAULT_SOCKET ")\n"
	        "  -c, --config FILE  use the control socket that minibossd's configuration names\n"
	        "  -j, --json         print the daemon's JSON result as it is\n"
	        "  -a, --all          stats: zero counters too; config: every key\n"
	        "  -w, --wait         with sync: follow the round to its end\n"
	        "  -h, --help         this text\n"
	        "\n"
	        "setup (as root; without options it only checks):\n"
	        "  --check            report hugepages, IOMMU, vfio and NICs; exit 1 if not ready\n"
	        "  --hugepages SIZE   reserve SIZE of hugepages (e.g. 2G; 0 releases them) and\n"
	        "                     mount hugetlbfs on /dev/hugepages if nothing is mounted\n"
	        "  --page-size SIZE   2M (default) or 1G pages\n"
	        "  --bind PCI         bind a NIC to vfio-pci (or --driver) with dpdk-devbind.py\n"
	        "  --dry-run          say what would change, change nothing\n"
	        "\n"
	        "Exit status: 0 ok, 1 error or not healthy, 2 usage error or no daemon.\n"
	        "See minibossctl(8).\n");
}

static int64_t
jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

/* ---- generic printing ------------------------------------------------------------ */

static void
print_scalar(FILE *f, json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		fputs(json_string_value(v), f);
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	fputs(s != NULL ? s : "?", f);
	free(s);
}

static void
print_object(json_t *o, int indent)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		if (json_is_object(v) && json_object_size(v) > 0 && indent < 4) {
			printf("%*s%s:\n", indent, "", k);
			print_object(v, indent + 2);
		} else {
			printf("%*s%s: ", indent, "", k);
			print_scalar(stdout, v);
			putchar('\n');
		}
	}
}

static char *
xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	return s;
}

static char *
human_bytes(uint64_t v)
{
	char b[32];

	mb_human_bytes(v, b, sizeof(b));
	return strdup(b);
}

static char *
human_rate(uint64_t v)
{
	char b[32];

	mb_human_rate(v, b, sizeof(b));
	return strdup(b);
}

/* ---- tables ------------------------------------------------------------------------- */

/* How a column shows its row's field `key`. */
enum col_kind {
	COL_STR,      /* the string */
	COL_INT,      /* the integer */
	COL_BYTES,    /* the integer, as bytes for people */
	COL_RATE,     /* the integer, bits/s for people */
	COL_ADDR,     /* "addr:port" (no key) */
	COL_REQUESTS, /* "requests/rerequests" (no key) */
	COL_FN,       /* what fn returns */
};

/* A column of a table: its title and how each row's cell is made. */
struct col {
	const char *title;
	enum col_kind kind;
	const char *key;
	char *(*fn)(json_t *row);
};

/* The cell of row r in column c: a malloc'd string, NULL for "-". */
static char *
cell(json_t *r, const struct col *c)
{
	switch (c->kind) {
	case COL_STR:
		return strdup(jstr(r, c->key));
	case COL_INT:
		return xasprintf("%" PRId64, jint(r, c->key));
	case COL_BYTES:
		return human_bytes((uint64_t)jint(r, c->key));
	case COL_RATE:
		return human_rate((uint64_t)jint(r, c->key));
	case COL_ADDR:
		return xasprintf("%s:%" PRId64, jstr(r, "addr"), jint(r, "port"));
	case COL_REQUESTS:
		return xasprintf("%" PRId64 "/%" PRId64, jint(r, "requests"),
		                 jint(r, "rerequests"));
	case COL_FN:
		return c->fn(r);
	}
	return NULL;
}

/* A table of the rows of an array, in the columns cols.  Columns are as
 * wide as their widest cell, at most 64. */
static void
print_table(json_t *rows, const struct col *cols, size_t ncols)
{
	size_t width[32], i;
	json_t *row;

	if (json_array_size(rows) == 0) {
		printf("(none)\n");
		return;
	}
	for (size_t c = 0; c < ncols && c < 32; c++) {
		width[c] = strlen(cols[c].title);
		json_array_foreach(rows, i, row) {
			char *s = cell(row, &cols[c]);
			size_t n = s != NULL ? strlen(s) : 1;

			if (n > width[c])
				width[c] = n > 64 ? 64 : n;
			free(s);
		}
	}
	for (size_t c = 0; c < ncols && c < 32; c++)
		printf("%-*s%s", (int)width[c], cols[c].title, c + 1 < ncols ? "  " : "\n");
	json_array_foreach(rows, i, row) {
		for (size_t c = 0; c < ncols && c < 32; c++) {
			char *s = cell(row, &cols[c]);

			printf("%-*.*s%s", (int)width[c], 64, s != NULL ? s : "-",
			       c + 1 < ncols ? "  " : "\n");
			free(s);
		}
	}
}

/* ---- images ------------------------------------------------------------------------- */

static char *
image_state(json_t *r)
{
	const char *st = jstr(r, "state");

	return strncmp(st, "failed", 6) == 0 ? strdup("failed") : strdup(st);
}

static char *
image_sha(json_t *r)
{
	return xasprintf("%.12s", jstr(r, "sha256"));
}

static void
print_images(json_t *arr)
{
	static const struct col cols[] = {
		{"NAME", COL_STR, "name", NULL},
		{"VERSION", COL_INT, "version", NULL},
		{"SIZE", COL_BYTES, "size", NULL},
		{"STATE", COL_FN, NULL, image_state},
		{"MEM", COL_STR, "mem", NULL},
		{"SHA256", COL_FN, NULL, image_sha},
	};
	size_t i;
	json_t *row;

	print_table(arr, cols, MB_ARRAY_SIZE(cols));
	/* The whole story of each image that does not serve. */
	json_array_foreach(arr, i, row) {
		const char *st = jstr(row, "state");

		if (strncmp(st, "failed", 6) != 0)
			continue;
		printf("\n%s v%" PRId64 " failed: %s\n", jstr(row, "name"), jint(row, "version"),
		       st[6] == ':' ? st + 7 : st);
		if (jstr(row, "path")[0] != '\0')
			printf("  file             %s\n", jstr(row, "path"));
		printf("  expected sha256  %s\n", jstr(row, "sha256"));
		printf("  expected size    %" PRId64 " bytes\n", jint(row, "size"));
	}
}

/* ---- sessions ------------------------------------------------------------------------ */

/* The drops of a dataplane session by reason, the nonzero ones. */
static char *
dp_drops(json_t *r)
{
	json_t *d = json_object_get(r, "drops-by-reason"), *v;
	char buf[256] = "";
	size_t len = 0;
	const char *k;

	json_object_foreach(d, k, v) {
		if (json_integer_value(v) != 0 && len < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s=%lld",
			                        len ? "," : "", k, (long long)json_integer_value(v));
	}
	return strdup(len ? buf : "-");
}

/* How a node of a session is served. */
static char *
node_served(json_t *r)
{
	if (strcmp(jstr(r, "method"), "ucast") == 0)
		return xasprintf("unicast (%s)", jstr(r, "fallback"));
	return strdup("multicast");
}

static char *
node_progress(json_t *r)
{
	return xasprintf("%.1f%% (%s)", 100.0 * json_number_value(json_object_get(r, "progress")),
	                 jstr(r, "progress-from"));
}

static char *
node_loss(json_t *r)
{
	return xasprintf("%.1f%%", 100.0 * json_number_value(json_object_get(r, "loss")));
}

static char *
node_last_heard(json_t *r)
{
	return xasprintf("%.1fs", (double)jint(r, "last-seen-ms") / 1000.0);
}

static void
print_sessions(json_t *r)
{
	static const struct col mcols[] = {
		{"ID", COL_INT, "id", NULL},
		{"IMAGE", COL_STR, "image", NULL},
		{"VERSION", COL_INT, "version", NULL},
		{"METHOD", COL_STR, "method", NULL},
		{"GROUP:PORT", COL_ADDR, NULL, NULL},
		{"CLIENT", COL_STR, "client", NULL},
	};
	static const struct col dcols[] = {
		{"ID", COL_INT, "id", NULL},
		{"IMAGE", COL_STR, "image", NULL},
		{"ADDR:PORT", COL_ADDR, NULL, NULL},
		{"METHOD", COL_STR, "method", NULL},
		{"STATE", COL_STR, "state", NULL},
		{"SENT", COL_BYTES, "tx_bytes", NULL},
		{"RATE", COL_RATE, "rate-bps", NULL},
		{"REQUESTS/REPEATED", COL_REQUESTS, NULL, NULL},
		{"DROPS", COL_FN, NULL, dp_drops},
	};
	/* a node of a session (the row carries its session's id as "session") */
	static const struct col ncols[] = {
		{"SESSION", COL_INT, "session", NULL},
		{"NODE", COL_STR, "addr", NULL},
		{"SERVED", COL_FN, NULL, node_served},
		{"PROGRESS", COL_FN, NULL, node_progress},
		{"LOSS", COL_FN, NULL, node_loss},
		{"REQUESTS/REPEATED", COL_REQUESTS, NULL, NULL},
		{"LAST HEARD", COL_FN, NULL, node_last_heard},
	};
	json_t *nodes = json_array(), *s, *n;
	json_t *m = json_object_get(r, "master");
	size_t i, k;

	if (json_is_object(m)) {
		printf("Master server (GET/GETSTATUS on TCP 64494):\n");
		print_table(json_object_get(m, "sessions"), mcols, MB_ARRAY_SIZE(mcols));
		putchar('\n');
	}
	printf("Dataplane:\n");
	print_table(json_object_get(r, "dataplane"), dcols, MB_ARRAY_SIZE(dcols));
	/* each session's nodes: how each is served and how far it got */
	json_array_foreach(json_object_get(r, "dataplane"), i, s) {
		json_array_foreach(json_object_get(s, "nodes"), k, n) {
			json_t *row = json_deep_copy(n);

			if (row == NULL)
				continue;
			json_object_set(row, "session", json_object_get(s, "id"));
			json_array_append_new(nodes, row);
		}
	}
	if (nodes != NULL && json_array_size(nodes) > 0) {
		printf("\nNodes:\n");
		print_table(nodes, ncols, MB_ARRAY_SIZE(ncols));
	}
	json_decref(nodes);
}

/* ---- stats ----------------------------------------------------------------------------- */

/* Counters of one object: name and value pairs, zero ones only with -a,
 * nested objects flattened as "outer.inner".  Returns how many printed. */
static unsigned
print_counters(const char *title, json_t *o, const char *prefix, bool header)
{
	const char *k;
	json_t *v;
	unsigned n = 0;

	json_object_foreach(o, k, v) {
		char name[160];

		snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "." : "", k);
		if (json_is_object(v)) {
			unsigned m = print_counters(title, v, name, header && n == 0);

			if (m > 0)
				header = false;
			n += m;
			continue;
		}
		if (!json_is_integer(v) || (!opt_all && json_integer_value(v) == 0))
			continue;
		if (header) {
			printf("%s:\n", title);
			header = false;
		}
		printf("  %-32s %" JSON_INTEGER_FORMAT "\n", name, json_integer_value(v));
		n++;
	}
	return n;
}

static int
cmd_stats(int fd)
{
	json_auto_t *st = NULL, *h = NULL;
	json_t *v;
	const char *k;
	unsigned n = 0;
	int rc;

	st = mb_ctl_call(fd, "stats", NULL, &rc);
	if (st == NULL)
		return rc;
	h = mb_ctl_call(fd, "health", NULL, &rc);
	printf("Port %" PRId64 " (%s), link %s", jint(st, "port"), jstr(st, "mac"),
	       json_is_true(json_object_get(st, "link")) ? "up" : "DOWN");
	json_object_foreach(st, k, v) {
		if (json_is_boolean(v) && strcmp(k, "link") != 0)
			printf(", %s %s", k, json_is_true(v) ? "yes" : "no");
		else if (json_is_string(v) && strcmp(k, "mac") != 0)
			printf(", %s %s", k, json_string_value(v));
	}
	printf("\n\n");
	n += print_counters("Dataplane", json_object_get(st, "counters"), "", true);
	if (json_array_size(json_object_get(st, "lcores")) > 1) {
		/* each worker's own share of the counters above */
		size_t i;

		json_array_foreach(json_object_get(st, "lcores"), i, v) {
			char title[96];

			snprintf(title, sizeof(title), "Worker %" PRId64 " (lcore %" PRId64
				 ", %" PRId64 " sessions)", jint(v, "worker"), jint(v, "lcore"),
				 jint(v, "sessions"));
			n += print_counters(title, json_object_get(v, "counters"), "", true);
		}
	}
	n += print_counters("TCP, HTTP", json_object_get(st, "tcp"), "", true);
	/* the querier's counters (its intervals and count are settings) */
	v = json_deep_copy(json_object_get(st, "igmp-querier"));
	(void)json_object_del(v, "interval-s");
	(void)json_object_del(v, "last-member-count");
	(void)json_object_del(v, "last-member-interval-ms");
	n += print_counters("IGMP querier", v, "", true);
	json_decref(v);
	if (h != NULL) {
		json_t *m = json_object_get(h, "master"), *s = json_object_get(h, "store");
		json_t *sy = json_object_get(h, "sync"), *c = json_object_get(h, "control");

		n += print_counters("Master server", json_object_get(m, "counters"), "", true);
		n += print_counters("Master server replies", json_object_get(m, "errors"), "", true);
		n += print_counters("Image cache", json_object_get(s, "cache"), "", true);
		if (json_is_object(sy)) {
			json_t *flat = json_pack(
			    "{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "rounds",
			    json_object_get(sy, "rounds"), "refusals", json_object_get(sy, "refusals"),
			    "bytes_fetched", json_object_get(sy, "bytes_fetched"), "chunks_verified",
			    json_object_get(sy, "chunks_verified"), "chunk_failures",
			    json_object_get(sy, "chunk_failures"), "chunk_refetches",
			    json_object_get(sy, "chunk_refetches"), "cut_through",
			    json_object_get(sy, "cut_through"));

			n += print_counters("Sync", flat, "", true);
			json_decref(flat);
		}
		if (json_is_object(c)) {
			json_t *flat = json_pack("{s:O?}", "rejected", json_object_get(c, "rejected"));

			n += print_counters("Control socket", flat, "", true);
			json_decref(flat);
		}
	}
	if (n == 0)
		printf("(every counter is zero; -a shows them)\n");
	else if (!opt_all)
		printf("\n(zero counters left out; -a shows them)\n");
	return 0;
}

/* ---- config ------------------------------------------------------------------------------ */

/* A machine value back in the key's units ("67108864" size -> "64M"). */
static void
config_human(const char *type, const char *value, char *buf, size_t len)
{
	uint64_t v;
	char *end;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno != 0 || end == value || (*end != '\0' && strcmp(end, "s") != 0)) {
		snprintf(buf, len, "%s", value);
		return;
	}
	if (strcmp(type, "size") == 0 || strcmp(type, "byte rate") == 0)
		mb_format_size(v, buf, len);
	else if (strcmp(type, "rate") == 0)
		mb_format_rate(v, buf, len);
	else if (strcmp(type, "duration") == 0)
		mb_format_duration(v, buf, len);
	else
		snprintf(buf, len, "%s", value);
}

static int
cmd_config(int fd)
{
	json_auto_t *r = NULL;
	const char *sec, *key;
	json_t *keys, *e;
	unsigned shown = 0;
	int rc;

	r = mb_ctl_call(fd, "config", NULL, &rc);
	if (r == NULL)
		return rc;
	printf("# %s of the running configuration\n",
	       opt_all ? "every key" : "keys that differ from their defaults (-a: every key)");
	json_object_foreach(r, sec, keys) {
		bool header = false;

		if (!json_is_object(keys))
			continue;
		json_object_foreach(keys, key, e) {
			const char *value = jstr(e, "value"), *def = jstr(e, "default");
			bool same = strcmp(value, def) == 0;
			char shown_v[4096], def_v[256];

			if (same && !opt_all)
				continue;
			if (!header) {
				printf("\n[%s]\n", sec);
				header = true;
			}
			if (json_is_string(json_object_get(e, "text")))
				snprintf(shown_v, sizeof(shown_v), "%s", jstr(e, "text"));
			else
				config_human(jstr(e, "type"), value, shown_v, sizeof(shown_v));
			config_human(jstr(e, "type"), def, def_v, sizeof(def_v));
			if (shown_v[0] == '\0' || strpbrk(shown_v, "#;") != NULL)
				printf("%s = \"%s\"", key, shown_v);
			else
				printf("%s = %s", key, shown_v);
			if (!same || json_is_integer(json_object_get(e, "line"))) {
				printf("\t#");
				if (!same)
					printf(" default %s", def_v[0] ? def_v : "empty");
				if (json_is_integer(json_object_get(e, "line")))
					printf("%s line %" PRId64, same ? "" : ",", jint(e, "line"));
			}
			putchar('\n');
			shown++;
		}
	}
	if (shown == 0)
		printf("# (every key has its default)\n");
	return 0;
}

/* ---- reload --------------------------------------------------------------------------- */

static int
cmd_reload(int fd)
{
	json_auto_t *r = NULL;
	json_t *w;
	size_t i;
	int rc;

	r = mb_ctl_call(fd, "reload", NULL, &rc);
	if (r == NULL)
		return rc;
	json_array_foreach(json_object_get(r, "warnings"), i, w)
		printf("warning: %s\n", json_string_value(w));
	printf("reloaded");
	if (jint(r, "verifying") > 0)
		printf(", %" PRId64 " image%s being verified", jint(r, "verifying"),
		       jint(r, "verifying") == 1 ? "" : "s");
	if (json_array_size(json_object_get(r, "warnings")) > 0)
		printf(" (%zu warning%s)", json_array_size(json_object_get(r, "warnings")),
		       json_array_size(json_object_get(r, "warnings")) == 1 ? "" : "s");
	putchar('\n');
	return 0;
}

/* ---- sync --plan ------------------------------------------------------------------------ */

/* Before --plan: have the daemon fetch and verify the ops manifest (acting
 * on nothing), so the plan is against what ops publishes now; wait for that
 * (or the round in progress) to end, at most two minutes.  A failed check
 * is said on stderr; the plan is then against the last verified manifest.
 * 0, or 1/2 when the daemon refused or the socket failed. */
static int
sync_check(int fd)
{
	json_auto_t *a = json_pack("{s:b}", "check", 1), *st = json_pack("{s:b}", "status", 1);
	json_t *r;
	int rc;

	r = mb_ctl_call(fd, "sync", a, &rc);
	for (int i = 0; r != NULL && json_is_true(json_object_get(r, "running")) && i < 1200; i++) {
		(void)poll(NULL, 0, 100);
		json_decref(r);
		r = mb_ctl_call(fd, "sync", st, &rc);
	}
	if (r == NULL)
		return rc;
	if (json_is_true(json_object_get(r, "running")))
		fprintf(stderr, "minibossctl: the manifest check is still running; planning against "
			"the last verified manifest\n");
	else if (!json_is_true(json_object_get(r, "ops_reachable")) ||
		 strncmp(jstr(r, "result"), "manifest", 8) == 0)
		fprintf(stderr, "minibossctl: checking the ops manifest: %s; planning against the "
			"last verified manifest\n", jstr(r, "result"));
	json_decref(r);
	return 0;
}

/* One line per image and verdict, then the orphan files. */
static void
print_plan(json_t *r)
{
	static const char *const kinds[] = { "fetch", "running", "backoff", "keep", "keep-local",
					     "withdraw", "drop" };
	json_t *orph = json_object_get(r, "orphans");
	size_t i, n = 0;
	json_t *v;

	int64_t checked = jint(r, "checked"), now = (int64_t)time(NULL);
	char age[48] = "during the round in progress";

	if (checked > 0 && now >= checked) {
		mb_human_duration((uint64_t)(now - checked), age, sizeof(age) - 4);
		strcat(age, " ago");
	}
	printf("plan against the ops manifest generated %" PRId64 ", checked %s (site '%s', "
	       "local-images = %s); the next round fetches the manifest again\n",
	       jint(r, "generated"), age, jstr(r, "site"), jstr(r, "local-images"));
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		json_array_foreach(json_object_get(r, kinds[k]), i, v) {
			char sz[32] = "";
			const char *why = jstr(v, "why");

			if (json_object_get(v, "size") != NULL)
				mb_human_bytes((uint64_t)jint(v, "size"), sz, sizeof(sz));
			printf("  %-10s  %s  v%" PRId64 "%s%s%s%s%s\n", kinds[k], jstr(v, "name"),
			       jint(v, "version"), sz[0] ? "  " : "", sz, why[0] ? "  (" : "", why,
			       why[0] ? ")" : "");
			n++;
		}
	}
	if (n == 0)
		printf("  nothing: the store holds no image and ops lists none for this site\n");
	json_array_foreach(orph, i, v)
		printf("  %-10s  %s  (no manifest names it; never deleted)\n", "orphan",
		       json_string_value(v));
	if (jint(r, "orphans-more") > 0)
		printf("  ... and %" PRId64 " more orphan files\n", jint(r, "orphans-more"));
}

/* ---- sync --wait ------------------------------------------------------------------------ */

/*
 * Follow the round the "sync" action just started, by polling
 * {"cmd":"sync","args":{"status":true}} on the same connection (after 10 ms,
 * then at doubling intervals up to every 200 ms).  The round counts as ours
 * once "rounds" passed the value of the start reply and nothing runs.  The
 * bar covers only what this round fetches: the images seen downloading or
 * queued while we watch (an image that was already there does not count),
 * so a round never starts at the previous round's 100%, and a failed round
 * never shows 100%.  Rate is the average over the last seconds, ETA the rest
 * at that rate, and the line names the image being fetched.
 * Exit 0 when the round's result is "ok", 1 otherwise, 2 on socket trouble.
 */
struct seen {
	char *name;
	uint64_t total, done;
	bool failed, finished;
};

static int
sync_wait(int fd, json_t *start)
{
	bool tty = isatty(STDOUT_FILENO);
	/* A round that could not even start ended inside the action. */
	int64_t rounds0 = jint(start, "rounds") -
			  (json_is_true(json_object_get(start, "running")) ? 0 : 1);
	struct seen *seen = NULL;
	size_t nseen = 0;
	int pause_ms = 10, rc = 2;
	uint64_t t0 = mb_time_mono_ns(), hist_ns[16] = {0}, hist_b[16] = {0};
	unsigned hist_n = 0;
	json_auto_t *stargs = json_pack("{s:b}", "status", 1);

	for (;;) {
		json_auto_t *r = NULL;
		json_t *imgs, *v;
		const char *name, *current = NULL;
		uint64_t total = 0, done = 0, now = mb_time_mono_ns(), rate = 0;
		unsigned nfail = 0, nact = 0, nok = 0;
		int64_t rounds;
		bool running;

		(void)poll(NULL, 0, pause_ms);
		pause_ms = pause_ms * 2 > 200 ? 200 : pause_ms * 2;
		r = mb_ctl_call(fd, "sync", stargs, &rc);
		if (r == NULL)
			goto out;
		imgs = json_object_get(r, "images");
		json_object_foreach(imgs, name, v) {
			const char *st = jstr(v, "state");
			bool active = strcmp(st, "downloading") == 0 || strcmp(st, "queued") == 0;
			struct seen *s = NULL;

			for (size_t i = 0; i < nseen; i++)
				if (strcmp(seen[i].name, name) == 0)
					s = &seen[i];
			if (s == NULL && active) {
				struct seen *ns = realloc(seen, (nseen + 1) * sizeof(*ns));

				if (ns == NULL)
					goto out;
				seen = ns;
				s = &seen[nseen++];
				*s = (struct seen){.name = strdup(name)};
			}
			if (s == NULL)
				continue;
			if (active) {
				s->total = (uint64_t)jint(v, "total");
				s->done = (uint64_t)jint(v, "bytes");
				if (strcmp(st, "downloading") == 0 && current == NULL)
					current = s->name;
			} else if (strcmp(st, "failed") == 0) {
				s->failed = true;
			} else if (!s->failed) {
				s->finished = true;
				s->done = s->total;
			}
		}
		for (size_t i = 0; i < nseen; i++) {
			total += seen[i].total;
			done += seen[i].failed ? 0 : seen[i].done;
			nfail += seen[i].failed;
			nok += seen[i].finished;
			nact += !seen[i].failed && !seen[i].finished;
		}
		/* The rate over the last samples (up to 16, i.e. a few seconds). */
		hist_ns[hist_n % 16] = now;
		hist_b[hist_n % 16] = done;
		hist_n++;
		if (hist_n > 1) {
			unsigned oldest = hist_n > 16 ? hist_n % 16 : 0;
			uint64_t dt = now - hist_ns[oldest], db = done - hist_b[oldest];

			if (dt > 0 && done >= hist_b[oldest])
				rate = (uint64_t)((double)db * 1e9 / (double)dt);
		}
		running = json_is_true(json_object_get(r, "running"));
		rounds = jint(r, "rounds");
		if (total > 0) {
			unsigned pct = (unsigned)(done * 100 / total);
			char bar[21], d[32], t[32], rt[32], eta[32] = "";

			if (pct == 100 && (running || nfail > 0))
				pct = 99; /* 100% only for a finished, good round */
			memset(bar, '.', 20);
			memset(bar, '#', pct * 20 / 100);
			bar[20] = '\0';
			mb_human_bytes(done, d, sizeof(d));
			mb_human_bytes(total, t, sizeof(t));
			mb_human_bytes(rate, rt, sizeof(rt));
			if (rate > 0 && running && total > done)
				mb_human_duration((total - done) / rate + 1, eta, sizeof(eta));
			printf("%s[%s] %3u%%  %s of %s  %s/s%s%s%s%.32s%s", tty ? "\r\033[K" : "", bar,
			       pct, d, t, rt, eta[0] ? "  ETA " : "", eta, current ? "  " : "",
			       current ? current : "", tty ? "" : "\n");
		} else if (running) {
			char el[32];

			mb_human_duration((now - t0) / MB_NS_PER_SEC, el, sizeof(el));
			printf("%schecking the manifest at %s (%s)%s", tty ? "\r\033[K" : "",
			       jstr(r, "origin"), el, tty ? "" : "\n");
		}
		fflush(stdout);
		if (!running && rounds > rounds0) {
			const char *res = jstr(r, "result");

			if (tty && (total > 0 || nseen > 0))
				putchar('\n');
			else if (tty)
				printf("\r\033[K");
			if (total == 0 && strcmp(res, "ok") == 0)
				printf("sync: ok, nothing to fetch (up to date)\n");
			else
				printf("sync: %s (%u image%s fetched, %u failed)\n", res[0] ? res : "?",
				       nok, nok == 1 ? "" : "s", nfail);
			for (size_t i = 0; i < nseen; i++) {
				json_t *e = json_object_get(imgs, seen[i].name);

				if (seen[i].failed)
					printf("  %s: %s\n", seen[i].name, jstr(e, "reason"));
			}
			rc = strcmp(res, "ok") == 0 ? 0 : 1;
			goto out;
		}
	}
out:
	for (size_t i = 0; i < nseen; i++)
		free(seen[i].name);
	free(seen);
	return rc;
}

/* ---- main ---------------------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 's'},
	    {"config", required_argument, NULL, 'c'},
	    {"all", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {"wait", no_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	const char *sock = DEFAULT_SOCKET, *cmd, *config = NULL;
	struct mb_config cfg = {0};
	json_auto_t *args = NULL, *result = NULL;
	_cleanup_close_ int fd = -1;
	bool raw = false, wait = false;
	int opt, rc;

	/* setup has options of its own. */
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-') {
			if (strcmp(argv[i], "setup") == 0)
				return mb_setup_main(argc - i, argv + i);
			break;
		}
		if (strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--socket") == 0 ||
		    strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
			i++;
	}
	while ((opt = getopt_long(argc, argv, "+s:c:jahw", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'j':
			raw = true;
			break;
		case 'a':
			opt_all = true;
			break;
		case 'w':
			wait = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (config != NULL) {
		/* Only the socket's path matters here: the daemon judges the rest
		 * (a reload reports every problem of the file). */
		struct mb_diags d;

		mb_diags_init(&d);
		if (mb_config_defaults(&cfg) == 0 &&
		    mb_config_parse_file(&cfg, config, &d) != -ENOMEM && cfg.control_socket != NULL)
			sock = cfg.control_socket;
		if (d.errors > 0 && d.n > 0 && d.v[0].line == 0) { /* unreadable */
			char buf[1024];

			mb_diag_format(&d.v[0], buf, sizeof(buf));
			fprintf(stderr, "minibossctl: %s\n", buf);
			mb_diags_done(&d);
			mb_config_done(&cfg);
			return 2;
		}
		mb_diags_done(&d);
	}
	if (strcmp(cmd, "wait") == 0) {
		/* wait has options of its own; argv[optind - 1] is "wait". */
		rc = mb_ctl_wait_main(sock, argc - optind + 1, argv + optind - 1);
		mb_config_done(&cfg);
		return rc;
	}
	args = json_object();
	for (; optind < argc; optind++) {
		char *eq = strchr(argv[optind], '=');
		char *end;
		long long n;

		if (strcmp(argv[optind], "--wait") == 0 || strcmp(argv[optind], "-w") == 0) {
			wait = true;
			continue;
		}
		if (strcmp(argv[optind], "--plan") == 0) {
			json_object_set_new(args, "plan", json_true());
			continue;
		}
		if (strcmp(argv[optind], "-a") == 0 || strcmp(argv[optind], "--all") == 0) {
			opt_all = true;
			continue;
		}
		if (strcmp(argv[optind], "--json") == 0 || strcmp(argv[optind], "-j") == 0) {
			raw = true;
			continue;
		}
		if (eq == NULL || eq == argv[optind]) {
			fprintf(stderr, "minibossctl: argument '%s' is not key=value\n",
			        argv[optind]);
			return 2;
		}
		*eq = '\0';
		n = strtoll(eq + 1, &end, 10);
		json_object_set_new(args, argv[optind],
		                    eq[1] != '\0' && *end == '\0' ? json_integer(n)
		                                                  : json_string(eq + 1));
	}
	fd = mb_ctl_connect(sock, false);
	mb_config_done(&cfg);
	if (fd < 0)
		return 2;
	if (!raw && json_object_size(args) == 0) {
		if (strcmp(cmd, "stats") == 0)
			return cmd_stats(fd);
		if (strcmp(cmd, "config") == 0)
			return cmd_config(fd);
		if (strcmp(cmd, "reload") == 0)
			return cmd_reload(fd);
	}
	if (strcmp(cmd, "sync") == 0 && json_is_true(json_object_get(args, "plan")) &&
	    (rc = sync_check(fd)) != 0)
		return rc;
	result = mb_ctl_call(fd, cmd, args, &rc);
	if (result == NULL)
		return rc;
	if (wait && strcmp(cmd, "sync") == 0 && !raw)
		return sync_wait(fd, result);
	if (!raw && strcmp(cmd, "metrics") == 0 && json_is_string(result)) {
		/* the exposition text as it is, for promtool or a file collector */
		fwrite(json_string_value(result), 1, json_string_length(result), stdout);
	} else if (!raw && strcmp(cmd, "sync") == 0 && json_is_true(json_object_get(args, "plan")) &&
		   json_is_object(result)) {
		print_plan(result);
	} else if (raw) {
		char *s =
		    json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

		if (s != NULL)
			puts(s);
		free(s);
	} else if (strcmp(cmd, "health") == 0 && json_is_object(result)) {
		mb_status_print(result, (int64_t)time(NULL), stdout);
	} else if (strcmp(cmd, "images") == 0 && json_is_array(result)) {
		print_images(result);
	} else if (strcmp(cmd, "sessions") == 0 && json_is_object(result)) {
		print_sessions(result);
	} else if (json_is_object(result)) {
		print_object(result, 0);
	} else {
		print_scalar(stdout, result);
		putchar('\n');
	}
	if (strcmp(cmd, "health") == 0) {
		json_t *s = json_object_get(result, "state");

		if (!json_is_string(s) || strcmp(json_string_value(s), "ok") != 0)
			return 1;
	}
	return 0;
}
