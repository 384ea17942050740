/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The health reply for people (see mb_status.h).  Every field is optional:
 * a section that a daemon does not have (no sync configured, no master
 * server) is left out of the summary, and an unknown shape prints nothing
 * rather than failing, so an older or newer daemon still gets a summary.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mb_status.h"

/* v in the largest of the n units (each `base` times the one before, the
 * first `base` times `unit0`) that keeps it at least 1: "1.5 MiB", "12 Gbit/s". */
static int
human(uint64_t v, unsigned base, const char *unit0, const char *const *units, size_t n,
      char *buf, size_t len)
{
	double d = (double)v;
	size_t u = 0;

	if (v < base)
		return snprintf(buf, len, "%" PRIu64 " %s", v, unit0);
	d /= base;
	while (d >= base && u + 1 < n) {
		d /= base;
		u++;
	}
	return snprintf(buf, len, d < 10 ? "%.1f %s" : "%.0f %s", d, units[u]);
}

int
mb_human_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };

	return human(v, 1024, "B", units, sizeof(units) / sizeof(units[0]), buf, len);
}

int
mb_human_rate(uint64_t bps, char *buf, size_t len)
{
	static const char *const units[] = { "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s" };

	return human(bps, 1000, "bit/s", units, sizeof(units) / sizeof(units[0]), buf, len);
}

int
mb_human_duration(uint64_t s, char *buf, size_t len)
{
	if (s < 60)
		return snprintf(buf, len, "%" PRIu64 "s", s);
	if (s < 3600)
		return snprintf(buf, len, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
	if (s < 86400)
		return snprintf(buf, len, "%" PRIu64 "h %" PRIu64 "m", s / 3600, s % 3600 / 60);
	return snprintf(buf, len, "%" PRIu64 "d %" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

/* ---- field access: absent or mistyped fields read as 0 / "" / false ---------- */

static int64_t
jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return 0;
}

static uint64_t
juint(json_t *o, const char *key)
{
	int64_t v = jint(o, key);

	return v > 0 ? (uint64_t)v : 0;
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static bool
jtrue(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static void
add_reason(json_t *arr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add_reason(json_t *arr, const char *fmt, ...)
{
	char buf[512];
	size_t i;
	json_t *v;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(v), buf) == 0)
			return;
	json_array_append_new(arr, json_string(buf));
}

/* "failed:checksum mismatch" -> "checksum mismatch". */
static const char *
failed_reason(const char *state)
{
	if (strncmp(state, "failed:", 7) == 0)
		return state + 7;
	if (strncmp(state, "failed", 6) == 0)
		return state[6] != '\0' ? state + 6 : "failed";
	return NULL;
}

/* A reason without its "(sha256 <actual>)" tail (the detail lines show it):
 * into buf; the actual digest into got (or ""). */
static const char *
split_digest(const char *why, char *buf, size_t len, char *got, size_t glen)
{
	const char *p = strstr(why, " (sha256 ");

	got[0] = '\0';
	if (p == NULL)
		return why;
	snprintf(buf, len, "%.*s", (int)(p - why), why);
	snprintf(got, glen, "%.*s", (int)strcspn(p + 9, ")"), p + 9);
	return buf;
}

/* A daemon's own reason that only names a section ("store is degraded"),
 * when this summary derived a specific one for that section. */
static bool
generic_for(const char *why, const bool covered[4])
{
	static const char *const secs[4] = { "dataplane", "store", "master", "sync" };
	static const char *const states[] = { "degraded", "down", "draining" };

	for (size_t i = 0; i < 4; i++) {
		size_t n = strlen(secs[i]);

		if (!covered[i] || strncmp(why, secs[i], n) != 0 || strncmp(why + n, " is ", 4) != 0)
			continue;
		for (size_t j = 0; j < sizeof(states) / sizeof(states[0]); j++)
			if (strcmp(why + n + 4, states[j]) == 0)
				return true;
	}
	return false;
}

json_t *
mb_status_reasons(json_t *h)
{
	json_t *r = json_array(), *store = json_object_get(h, "store");
	json_t *dp = json_object_get(h, "dataplane"), *sync = json_object_get(h, "sync");
	json_t *master = json_object_get(h, "master"), *v;
	bool covered[4] = { false }; /* dataplane, store, master, sync */
	const char *name;
	size_t i, n;

	if (r == NULL)
		return NULL;
	if (json_is_object(dp) && json_object_get(dp, "link") != NULL && !jtrue(dp, "link")) {
		add_reason(r, "link down on the serving port");
		covered[0] = true;
	}
	n = json_array_size(r);
	json_object_foreach(json_object_get(store, "images"), name, v) {
		const char *why = failed_reason(jstr(v, "state"));
		char short_why[256], got[80];

		if (why != NULL)
			add_reason(r, "image '%s' v%" PRId64 " failed: %s", name, jint(v, "version"),
				   split_digest(why, short_why, sizeof(short_why), got, sizeof(got)));
	}
	if (json_is_object(store) && jint(store, "ok") + jint(store, "failed") +
	    jint(store, "loading") + jint(store, "downloading") == 0 && !json_is_object(sync))
		add_reason(r, "no images: the store is empty and no [origin] url is set");
	covered[1] = json_array_size(r) > n;
	if (json_is_object(master) && jtrue(master, "enabled") &&
	    json_object_get(master, "listening") != NULL && !jtrue(master, "listening")) {
		add_reason(r, "the master server is not listening");
		covered[2] = true;
	}
	n = json_array_size(r);
	if (json_is_object(sync)) {
		const char *res = jstr(sync, "result");

		if (json_object_get(sync, "ops_reachable") != NULL && !jtrue(sync, "ops_reachable"))
			add_reason(r, "ops unreachable: %s", res[0] ? res : "no answer");
		else if (res[0] != '\0' && strcmp(res, "ok") != 0 && strcmp(res, "never") != 0)
			add_reason(r, "last sync failed: %s", res);
		json_object_foreach(json_object_get(sync, "images"), name, v) {
			if (strcmp(jstr(v, "state"), "failed") == 0)
				add_reason(r, "sync of '%s' failed: %s", name, jstr(v, "reason"));
		}
		if (jstr(sync, "floor_unsaved")[0] != '\0')
			add_reason(r, "%s", jstr(sync, "floor_unsaved"));
		json_object_foreach(json_object_get(sync, "withdraw_failed"), name, v)
			add_reason(r, "'%s': %s", name, json_is_string(v) ? json_string_value(v) : "");
	}
	covered[3] = json_array_size(r) > n;
	/* The daemon's own reasons (draining, shutting down, ...) first. */
	n = 0;
	json_array_foreach(json_object_get(h, "reasons"), i, v) {
		const char *why = json_is_object(v) ? jstr(v, "why") : json_string_value(v);
		size_t before = json_array_size(r);

		if (why == NULL || why[0] == '\0' || generic_for(why, covered))
			continue;
		add_reason(r, "%s", why);
		if (json_array_size(r) > before) {
			json_t *last = json_incref(json_array_get(r, before));

			json_array_remove(r, before);
			json_array_insert_new(r, n++, last);
		}
	}
	return r;
}

/* ---- the one line --------------------------------------------------------------- */

int
mb_status_line(json_t *h, int64_t now, char *buf, size_t len)
{
	json_t *store = json_object_get(h, "store"), *dp = json_object_get(h, "dataplane");
	json_t *sync = json_object_get(h, "sync"), *reasons = mb_status_reasons(h);
	json_t *cache = json_object_get(store, "cache");
	size_t off = 0, nr = json_array_size(reasons);
	char rate[32], age[32];

#define ADD(...)                                                                             \
	do {                                                                                 \
		if (off < len)                                                               \
			off += (size_t)snprintf(buf + off, len - off, __VA_ARGS__);          \
	} while (0)

	ADD("%s", json_string_value(json_object_get(h, "state")) ?: "unknown");
	if (nr > 0)
		ADD(": %s%s", json_string_value(json_array_get(reasons, 0)),
		    nr > 1 ? " (and more)" : "");
	ADD("; %" PRId64 " image%s", jint(store, "ok"), jint(store, "ok") == 1 ? "" : "s");
	if (json_is_object(cache))
		ADD(" (%" PRId64 " warm)", jint(cache, "warm"));
	if (jint(store, "failed") > 0)
		ADD(", %" PRId64 " failed", jint(store, "failed"));
	if (jint(store, "loading") + jint(store, "downloading") > 0)
		ADD(", %" PRId64 " loading", jint(store, "loading") + jint(store, "downloading"));
	mb_human_rate(juint(dp, "rate-bps"), rate, sizeof(rate));
	ADD("; %" PRId64 " session%s", jint(dp, "sessions"), jint(dp, "sessions") == 1 ? "" : "s");
	if (jint(dp, "sessions") > 0)
		ADD(" at %s", rate);
	if (json_object_get(dp, "tcp-connections") != NULL)
		ADD(", %" PRId64 " TCP", jint(dp, "tcp-connections"));
	if (json_is_object(sync)) {
		if (jtrue(sync, "running"))
			ADD("; sync running");
		else if (jint(sync, "last_sync") == 0)
			ADD("; never synced");
		else {
			int64_t a = now - jint(sync, "last_sync");

			mb_human_duration(a > 0 ? (uint64_t)a : 0, age, sizeof(age));
			ADD("; sync %s %s ago",
			    strcmp(jstr(sync, "result"), "ok") == 0 ? "ok" : "failed", age);
		}
	}
#undef ADD
	json_decref(reasons);
	return (int)off;
}

/* ---- the summary ------------------------------------------------------------------ */

#define LABEL "%10s: "
#define INDENT "            "

static void
print_serving(json_t *h, FILE *f)
{
	json_t *dp = json_object_get(h, "dataplane");
	char speed[32];

	if (!json_is_object(dp))
		return;
	fprintf(f, LABEL "%s", "Serving", jstr(dp, "address")[0] ? jstr(dp, "address") : "?");
	if (json_object_get(dp, "port") != NULL)
		fprintf(f, " on DPDK port %" PRId64, jint(dp, "port"));
	if (jstr(dp, "driver")[0] != '\0')
		fprintf(f, " (%s)", jstr(dp, "driver"));
	if (jtrue(dp, "link")) {
		mb_human_rate(juint(dp, "speed-bps"), speed, sizeof(speed));
		fprintf(f, ", link up at %s", speed);
	} else {
		fprintf(f, ", link DOWN");
	}
	fputc('\n', f);
	if (json_object_get(dp, "exception-tap") != NULL)
		fprintf(f, INDENT "exception TAP %s\n",
			jstr(dp, "exception-tap")[0] ? jstr(dp, "exception-tap") : "off");
}

static void
print_images(json_t *h, FILE *f)
{
	json_t *store = json_object_get(h, "store"), *cache = json_object_get(store, "cache");
	json_t *sync = json_object_get(h, "sync"), *v;
	char used[32], budget[32], size[32];
	const char *name;

	if (!json_is_object(store))
		return;
	fprintf(f, LABEL "%" PRId64 " ok", "Images", jint(store, "ok"));
	if (json_is_object(cache))
		fprintf(f, " (%" PRId64 " warm in hugepages, %" PRId64 " cold)", jint(cache, "warm"),
			jint(cache, "cold"));
	if (jint(store, "failed") > 0)
		fprintf(f, ", %" PRId64 " failed", jint(store, "failed"));
	if (jint(store, "loading") > 0)
		fprintf(f, ", %" PRId64 " verifying", jint(store, "loading"));
	if (jint(store, "downloading") > 0)
		fprintf(f, ", %" PRId64 " downloading", jint(store, "downloading"));
	fputc('\n', f);
	mb_human_bytes(juint(store, "hugepage-bytes"), used, sizeof(used));
	if (juint(store, "hugepage-budget") > 0) {
		mb_human_bytes(juint(store, "hugepage-budget"), budget, sizeof(budget));
		fprintf(f, INDENT "%s in hugepages of a %s budget\n", used, budget);
	} else {
		fprintf(f, INDENT "%s in hugepages (no budget set)\n", used);
	}
	/* One block per image that is not serving: what, where, what we want. */
	json_object_foreach(json_object_get(store, "images"), name, v) {
		const char *st = jstr(v, "state"), *why = failed_reason(st);
		char short_why[256], got[80] = "";

		if (strcmp(st, "ok") == 0)
			continue;
		if (why != NULL)
			why = split_digest(why, short_why, sizeof(short_why), got, sizeof(got));
		mb_human_bytes(juint(v, "size"), size, sizeof(size));
		if (why != NULL)
			fprintf(f, INDENT "FAILED %s v%" PRId64 " (%s): %s\n", name,
				jint(v, "version"), size, why);
		else
			fprintf(f, INDENT "%s %s v%" PRId64 " (%s)\n", st, name, jint(v, "version"),
				size);
		if (why == NULL)
			continue;
		if (jstr(v, "path")[0] != '\0')
			fprintf(f, INDENT "  file %s\n", jstr(v, "path"));
		if (jstr(v, "sha256")[0] != '\0')
			fprintf(f, INDENT "  expected sha256 %s\n", jstr(v, "sha256"));
		if (got[0] != '\0')
			fprintf(f, INDENT "  but the file has %s\n", got);
	}
	json_object_foreach(json_object_get(sync, "images"), name, v) {
		const char *st = jstr(v, "state");

		if (strcmp(st, "downloading") != 0 && strcmp(st, "queued") != 0)
			continue;
		mb_human_bytes(juint(v, "total"), size, sizeof(size));
		fprintf(f, INDENT "  %s v%" PRId64 ": %s, %" PRIu64 "%% of %s\n", name,
			jint(v, "version"), st,
			juint(v, "total") ? juint(v, "bytes") * 100 / juint(v, "total") : 0, size);
	}
}

static void
print_sessions(json_t *h, FILE *f)
{
	json_t *dp = json_object_get(h, "dataplane"), *master = json_object_get(h, "master");
	char rate[32];

	if (!json_is_object(dp))
		return;
	fprintf(f, LABEL "%" PRId64 " Frisbee", "Sessions", jint(dp, "sessions"));
	if (jint(dp, "sessions") > 0) {
		mb_human_rate(juint(dp, "rate-bps"), rate, sizeof(rate));
		fprintf(f, " at %s", rate);
	}
	if (json_object_get(dp, "tcp-connections") != NULL)
		fprintf(f, ", %" PRId64 " TCP connection%s", jint(dp, "tcp-connections"),
			jint(dp, "tcp-connections") == 1 ? "" : "s");
	fputc('\n', f);
	if (json_is_object(master))
		fprintf(f, INDENT "master server %s\n",
			!jtrue(master, "enabled")	 ? "off"
			: jtrue(master, "listening") ? "listening"
						     : "NOT listening");
}

static void
print_sync(json_t *h, int64_t now, FILE *f)
{
	json_t *sync = json_object_get(h, "sync");
	char age[32], got[32];

	if (!json_is_object(sync)) {
		fprintf(f, LABEL "off (no [origin] url)\n", "Sync");
		return;
	}
	if (jtrue(sync, "running")) {
		uint64_t done = juint(sync, "bytes_done"), total = juint(sync, "bytes_total");

		mb_human_bytes(total, got, sizeof(got));
		fprintf(f, LABEL "running (%" PRIu64 "%% of %s)", "Sync",
			total ? done * 100 / total : 0, got);
	} else if (jint(sync, "last_sync") == 0) {
		fprintf(f, LABEL "never synced yet", "Sync");
	} else {
		int64_t a = now - jint(sync, "last_sync");

		mb_human_duration(a > 0 ? (uint64_t)a : 0, age, sizeof(age));
		if (strcmp(jstr(sync, "result"), "ok") == 0)
			fprintf(f, LABEL "ok %s ago", "Sync", age);
		else
			fprintf(f, LABEL "last round %s ago FAILED: %s", "Sync", age,
				jstr(sync, "result"));
	}
	if (json_object_get(sync, "ops_reachable") != NULL && !jtrue(sync, "ops_reachable"))
		fprintf(f, ", ops UNREACHABLE");
	fputc('\n', f);
	mb_human_bytes(juint(sync, "bytes_fetched"), got, sizeof(got));
	fprintf(f, INDENT "from %s; %" PRId64 " round%s, %s fetched\n", jstr(sync, "origin"),
		jint(sync, "rounds"), jint(sync, "rounds") == 1 ? "" : "s", got);
}

void
mb_status_print(json_t *h, int64_t now, FILE *f)
{
	json_t *reasons = mb_status_reasons(h), *v, *ctl = json_object_get(h, "control");
	const char *state = jstr(h, "state");
	char up[32];
	size_t i;

	mb_human_duration(juint(h, "uptime"), up, sizeof(up));
	fprintf(f, "minibossd %s (pid %" PRId64 "), up %s\n", jstr(h, "version"), jint(h, "pid"),
		up);
	fprintf(f, LABEL "%s\n", "State", state[0] ? state : "unknown");
	json_array_foreach(reasons, i, v)
		fprintf(f, INDENT "%s%s\n", strcmp(state, "ok") == 0 ? "note: " : "",
			json_string_value(v));
	print_serving(h, f);
	print_images(h, f);
	print_sessions(h, f);
	print_sync(h, now, f);
	if (json_is_object(ctl))
		fprintf(f, LABEL "%" PRId64 " client%s (at most %" PRId64 ")\n", "Control",
			jint(ctl, "clients"), jint(ctl, "clients") == 1 ? "" : "s",
			jint(ctl, "max-clients"));
	json_decref(reasons);
}
