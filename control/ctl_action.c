/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The action table, health aggregation and the request-line handler.  One C
 * function per action serves the Unix socket, minibossctl and DPDK
 * telemetry; this file turns a request line into a reply line without
 * touching a socket, so the unit tests drive it directly, and keeps the
 * line and reply buffers that both control sockets (ctl_sock.c, ctl_tls.c)
 * use.
 *
 * Requests: {"cmd":"<name>","args":{...}} (args optional, an object).
 * Replies:  {"ok":true,"result":<value>} or {"ok":false,"error":"<text>"}.
 * Control thread only; DPDK-free.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_cleanup.h"
#include "mb_time.h"

#define MAX_ACTIONS 64
#define MAX_HEALTH 32

struct health_row {
	char key[32];
	mb_ctl_health_fn fn;
	void *arg;
};

static struct mb_ctl_action actions[MAX_ACTIONS];
static unsigned nactions;
static struct health_row health_rows[MAX_HEALTH];
static unsigned nhealth;
static const struct mb_config *live_cfg;
static uint64_t start_ns;
static enum mb_health_state health_floor = MB_HEALTH_OK;
static char health_floor_why[128];
static json_t *health_reasons; /* while mb_ctl_health_json runs */

const char *
mb_health_state_name(enum mb_health_state s)
{
	switch (s) {
	case MB_HEALTH_OK:
		return "ok";
	case MB_HEALTH_DEGRADED:
		return "degraded";
	case MB_HEALTH_DRAINING:
		return "draining";
	case MB_HEALTH_DOWN:
		return "down";
	}
	return "down";
}

int
mb_ctl_action_register(const struct mb_ctl_action *a)
{
	if (a == NULL || a->name == NULL || a->fn == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < nactions; i++)
		if (strcmp(actions[i].name, a->name) == 0)
			return -EEXIST;
	if (nactions == MAX_ACTIONS)
		return -ENOMEM;
	actions[nactions++] = *a;
	return 0;
}

json_t *
mb_ctl_action_run(const char *name, json_t *args, char **ret_err)
{
	*ret_err = NULL;
	for (unsigned i = 0; i < nactions; i++) {
		if (strcmp(actions[i].name, name) == 0) {
			json_t *r = actions[i].fn(args, ret_err);

			if (r == NULL && *ret_err == NULL)
				*ret_err = strdup("action failed");
			if (r != NULL && *ret_err != NULL) {
				free(*ret_err);
				*ret_err = NULL;
			}
			return r;
		}
	}
	if (asprintf(ret_err, "unknown command '%.64s'", name) == -1)
		*ret_err = NULL;
	return NULL;
}

int
mb_ctl_health_register(const char *key, mb_ctl_health_fn fn, void *arg)
{
	if (key == NULL || fn == NULL || strlen(key) >= sizeof(health_rows[0].key))
		return -EINVAL;
	for (unsigned i = 0; i < nhealth; i++)
		if (strcmp(health_rows[i].key, key) == 0)
			return -EEXIST;
	if (nhealth == MAX_HEALTH)
		return -ENOMEM;
	snprintf(health_rows[nhealth].key, sizeof(health_rows[0].key), "%s", key);
	health_rows[nhealth].fn = fn;
	health_rows[nhealth].arg = arg;
	nhealth++;
	return 0;
}

void
mb_ctl_registry_clear(void)
{
	nactions = 0;
	nhealth = 0;
	health_floor = MB_HEALTH_OK;
}

void
mb_ctl_set_config(const struct mb_config *cfg)
{
	live_cfg = cfg;
	if (start_ns == 0)
		start_ns = mb_time_mono_ns();
}

const struct mb_config *
mb_ctl_config(void)
{
	return live_cfg;
}

void
mb_ctl_health_set_floor(enum mb_health_state s)
{
	health_floor = s;
	health_floor_why[0] = '\0';
}

void
mb_ctl_health_set_floor_why(enum mb_health_state s, const char *why)
{
	health_floor = s;
	snprintf(health_floor_why, sizeof(health_floor_why), "%s", why != NULL ? why : "");
}

void
mb_ctl_health_reason(enum mb_health_state s, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (health_reasons == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(health_reasons, json_pack("{s:s,s:s}", "state",
							 mb_health_state_name(s), "why", buf));
}

json_t *
mb_ctl_health_json(enum mb_health_state *ret_state)
{
	enum mb_health_state worst = health_floor;
	json_t *r = json_object();
	json_t *reasons = json_array();

	if (r == NULL || reasons == NULL) {
		json_decref(r);
		json_decref(reasons);
		return NULL;
	}
	health_reasons = reasons;
	if (health_floor != MB_HEALTH_OK)
		mb_ctl_health_reason(health_floor, "%s",
				     health_floor_why[0] != '\0' ? health_floor_why :
				     health_floor == MB_HEALTH_DOWN ? "shutting down" : "draining");
	json_object_set_new(r, "state", json_string("ok")); /* placeholder keeps key order */
	json_object_set_new(r, "reasons", json_null());	    /* likewise */
	json_object_set_new(r, "version", json_string(MB_VERSION));
	json_object_set_new(
	    r, "uptime",
	    json_integer((json_int_t)((mb_time_mono_ns() - start_ns) / MB_NS_PER_SEC)));
	json_object_set_new(r, "pid", json_integer(getpid()));
	for (unsigned i = 0; i < nhealth; i++) {
		enum mb_health_state w = worst;
		size_t nr = json_array_size(reasons);
		json_t *v = health_rows[i].fn(&w, health_rows[i].arg);

		/* A contributor that raised the state without saying why gets
		 * a generic reason naming it. */
		if (w > worst && json_array_size(reasons) == nr)
			mb_ctl_health_reason(w, "%s is %s", health_rows[i].key,
					     mb_health_state_name(w));
		if (w > worst)
			worst = w;
		if (v != NULL) /* NULL: the subsystem is off, its section left out */
			json_object_set_new(r, health_rows[i].key, v);
	}
	json_object_set_new(r, "state", json_string(mb_health_state_name(worst)));
	health_reasons = NULL;
	json_object_set_new(r, "reasons", reasons);
	if (ret_state != NULL)
		*ret_state = worst;
	return r;
}

static json_t *
action_health(json_t *args, char **ret_err)
{
	(void)args;
	(void)ret_err;
	return mb_ctl_health_json(NULL);
}

static json_t *
action_config(json_t *args, char **ret_err)
{
	(void)args;
	if (live_cfg == NULL) {
		*ret_err = strdup("no configuration loaded");
		return NULL;
	}
	return mb_config_to_json(live_cfg);
}

static json_t *
action_help(json_t *args, char **ret_err)
{
	json_t *r = json_object();

	(void)args;
	(void)ret_err;
	for (unsigned i = 0; i < nactions; i++)
		json_object_set_new(r, actions[i].name,
		                    json_string(actions[i].help ? actions[i].help : ""));
	return r;
}

static const struct mb_ctl_action builtin_actions[] = {
    {"health", action_health, "state, version, uptime and one entry per subsystem"},
    {"config", action_config, "the live configuration, every key with its default"},
    {"help", action_help, "the list of commands"},
};

static json_t *
health_loop(enum mb_health_state *worst, void *arg)
{
	(void)worst;
	(void)arg;
	return mb_ctl_loop_health_json();
}

/* What this binary was built with, so tests can tell a missing feature from
 * a broken one. */
static json_t *
health_build(enum mb_health_state *worst, void *arg)
{
	(void)worst;
	(void)arg;
#ifdef MB_FAULT_HOOKS
	return json_pack("{s:b}", "fault_hooks", 1);
#else
	return json_pack("{s:b}", "fault_hooks", 0);
#endif
}

int
mb_ctl_action_builtin_register(void)
{
	int rc;

	for (size_t i = 0; i < MB_ARRAY_SIZE(builtin_actions); i++) {
		rc = mb_ctl_action_register(&builtin_actions[i]);
		if (rc != 0 && rc != -EEXIST)
			return rc;
	}
	rc = mb_ctl_health_register("loop", health_loop, NULL);
	if (rc == 0 || rc == -EEXIST)
		rc = mb_ctl_health_register("build", health_build, NULL);
	return rc == -EEXIST ? 0 : rc;
}

static char *
reply_line(json_t *reply)
{
	char *s = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	char *line;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (line == NULL) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *
mb_ctl_reply_error(const char *msg)
{
	json_auto_t *r = json_pack("{s:b,s:s}", "ok", 0, "error", msg);

	if (r == NULL) /* msg not UTF-8 */
		r = json_pack("{s:b,s:s}", "ok", 0, "error", "error");
	return r != NULL ? reply_line(r) : NULL;
}

char *
mb_ctl_request_handle(const char *line, size_t len)
{
	json_auto_t *req = NULL, *reply = NULL;
	json_error_t jerr;
	json_t *cmd, *args;
	_cleanup_free_ char *err = NULL;
	json_t *result;

	if (len > MB_CTL_MAX_LINE)
		return mb_ctl_reply_error("request line too long");
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (req == NULL) {
		char msg[200];

		snprintf(msg, sizeof(msg), "malformed JSON: %s", jerr.text);
		return mb_ctl_reply_error(msg);
	}
	if (!json_is_object(req))
		return mb_ctl_reply_error("request is not a JSON object");
	cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd) || json_string_length(cmd) == 0)
		return mb_ctl_reply_error("\"cmd\" missing or not a string");
	if (strlen(json_string_value(cmd)) != json_string_length(cmd))
		return mb_ctl_reply_error("\"cmd\" contains a NUL byte");
	args = json_object_get(req, "args");
	if (args != NULL && !json_is_object(args) && !json_is_null(args))
		return mb_ctl_reply_error("\"args\" is not an object");
	if (json_is_null(args))
		args = NULL;
	result = mb_ctl_action_run(json_string_value(cmd), args, &err);
	if (result == NULL)
		return mb_ctl_reply_error(err != NULL ? err : "out of memory");
	reply = json_pack("{s:b,s:o}", "ok", 1, "result", result);
	if (reply == NULL)
		return NULL;
	return reply_line(reply);
}

bool
mb_ctl_outq_push(struct mb_ctl_outq *q, char *line, size_t max)
{
	size_t n = strlen(line);
	char *o;

	if (q->len - q->off + n > max) {
		free(line);
		return false;
	}
	if (q->off > 0) {
		memmove(q->buf, q->buf + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	o = realloc(q->buf, q->len + n);
	if (o == NULL) {
		free(line);
		return false;
	}
	q->buf = o;
	memcpy(q->buf + q->len, line, n);
	q->len += n;
	free(line);
	return true;
}

int
mb_ctl_answer_lines(char *in, size_t *inlen, struct mb_ctl_outq *q, size_t max)
{
	int answered = 0;
	char *nl;

	while ((nl = memchr(in, '\n', *inlen)) != NULL) {
		size_t len = (size_t)(nl - in);
		char *reply;

		if (len > 0 && in[len - 1] == '\r')
			len--;
		reply = len == 0 ? NULL : mb_ctl_request_handle(in, len);
		memmove(in, nl + 1, *inlen - (size_t)(nl - in) - 1);
		*inlen -= (size_t)(nl - in) + 1;
		if (len == 0)
			continue;
		if (reply == NULL || !mb_ctl_outq_push(q, reply, max))
			return -1;
		answered++;
	}
	return answered;
}
