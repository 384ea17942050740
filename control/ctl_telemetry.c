/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands /miniboss/health, /miniboss/images,
 * /miniboss/config, /miniboss/stats and /miniboss/sessions.  They call the
 * same action functions as the control socket, but telemetry callbacks run
 * on DPDK's telemetry thread while the actions belong to the control thread,
 * so a callback posts its request into a one-slot mailbox, wakes the control
 * loop through an eventfd and waits (bounded, MAILBOX_WAIT_MS) for the reply
 * text.  A request that times out is
 * abandoned: the control thread sees the sequence number moved on and drops
 * its answer.
 *
 * The JSON result is converted into rte_tel_data, which in 22.11 nests only
 * one level: scalars at the top stay typed, objects and arrays become one
 * container each, and anything deeper is rendered as a (truncated) JSON
 * string.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_telemetry.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_log.h"

#define MAILBOX_WAIT_MS 2000

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t seq; /* of the request in the slot */
	bool pending; /* request waiting for the control thread */
	bool answered;
	char action[32];
	json_t *result; /* owned by the mailbox until taken */
	char *error;
	int efd;
	bool open;
} mb = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .efd = -1 };

static pthread_mutex_t tel_serial = PTHREAD_MUTEX_INITIALIZER;

/* Control thread: run the posted action. */
static void
mailbox_io(int fd, uint32_t events, void *arg)
{
	char action[32];
	uint64_t v, seq;
	json_t *r;
	char *err = NULL;

	(void)events;
	(void)arg;
	(void)!read(fd, &v, sizeof(v));
	pthread_mutex_lock(&mb.lock);
	if (!mb.pending) {
		pthread_mutex_unlock(&mb.lock);
		return;
	}
	memcpy(action, mb.action, sizeof(action));
	seq = mb.seq;
	mb.pending = false;
	pthread_mutex_unlock(&mb.lock);

	r = mb_ctl_action_run(action, NULL, &err);

	pthread_mutex_lock(&mb.lock);
	if (mb.seq == seq && !mb.answered) {
		mb.result = r;
		mb.error = err;
		mb.answered = true;
		pthread_cond_broadcast(&mb.cond);
	} else {
		json_decref(r);
		free(err);
	}
	pthread_mutex_unlock(&mb.lock);
}

static void
scalar_to_string(json_t *v, char *buf, size_t len)
{
	char *s;

	if (json_is_string(v)) {
		snprintf(buf, len, "%s", json_string_value(v));
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	snprintf(buf, len, "%s", s != NULL ? s : "?");
	free(s);
}

/* Telemetry accepts only [A-Za-z0-9_] in names: map the rest to '_'. */
static const char *
tel_key(const char *key, char *buf, size_t len)
{
	size_t i;

	for (i = 0; key[i] != '\0' && i < len - 1; i++) {
		char c = key[i];

		buf[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		             ? c
		             : '_';
	}
	buf[i] = '\0';
	return buf;
}

static void
add_dict_value(struct rte_tel_data *d, const char *rawkey, json_t *v)
{
	char buf[RTE_TEL_MAX_STRING_LEN], kb[RTE_TEL_MAX_STRING_LEN];
	const char *key = tel_key(rawkey, kb, sizeof(kb));

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		(void)rte_tel_data_add_dict_u64(d, key, (uint64_t)json_integer_value(v));
	else if (json_is_integer(v) && json_integer_value(v) >= -2147483647LL)
		(void)rte_tel_data_add_dict_int(d, key, (int)json_integer_value(v));
	else {
		scalar_to_string(v, buf, sizeof(buf));
		(void)rte_tel_data_add_dict_string(d, key, buf);
	}
}

/* One level of container: scalars inside, deeper values as strings. */
static struct rte_tel_data *
container_from_json(json_t *v)
{
	struct rte_tel_data *c = rte_tel_data_alloc();
	char buf[RTE_TEL_MAX_STRING_LEN];

	if (c == NULL)
		return NULL;
	if (json_is_object(v)) {
		const char *k;
		json_t *x;

		rte_tel_data_start_dict(c);
		json_object_foreach(v, k, x) add_dict_value(c, k, x);
	} else {
		size_t i;
		json_t *x;

		rte_tel_data_start_array(c, RTE_TEL_STRING_VAL);
		json_array_foreach(v, i, x)
		{
			scalar_to_string(x, buf, sizeof(buf));
			(void)rte_tel_data_add_array_string(c, buf);
		}
	}
	return c;
}

/*
 * The "sessions" result nests three levels (master table, dataplane array of
 * sessions, drops by reason); telemetry keeps one.  Reshape it: "master" =
 * the master server's counters, one "session_<id>" dict per dataplane
 * session with its drops flattened into "drop_<reason>" keys.
 */
static json_t *
sessions_for_tel(json_t *r)
{
	json_t *o = json_object(), *m = json_object_get(json_object_get(r, "master"), "counters");
	json_t *s;
	size_t i;

	if (o == NULL)
		return NULL;
	if (json_is_object(m))
		json_object_set(o, "master", m);
	json_array_foreach(json_object_get(r, "dataplane"), i, s)
	{
		json_t *f = json_object(), *v, *x;
		const char *k, *k2;
		char key[64];

		if (f == NULL)
			break;
		json_object_foreach(s, k, v)
		{
			if (!json_is_object(v)) {
				json_object_set(f, k, v);
				continue;
			}
			json_object_foreach(v, k2, x)
			{
				snprintf(key, sizeof(key), "drop_%s", k2);
				json_object_set(f, key, x);
			}
		}
		snprintf(key, sizeof(key), "session_%lld",
			 (long long)json_integer_value(json_object_get(s, "id")));
		json_object_set_new(o, key, f);
	}
	return o;
}

static int
to_tel(json_t *r, struct rte_tel_data *d)
{
	const char *k;
	json_t *v;

	rte_tel_data_start_dict(d);
	if (json_is_array(r)) {
		/* images: one container per element, keyed by its name. */
		size_t i;

		json_array_foreach(r, i, v)
		{
			json_t *name = json_object_get(v, "name");
			char key[RTE_TEL_MAX_STRING_LEN];
			struct rte_tel_data *c;

			if (json_is_string(name))
				snprintf(key, sizeof(key), "%s", json_string_value(name));
			else
				snprintf(key, sizeof(key), "%zu", i);
			c = container_from_json(v);
			if (c != NULL && rte_tel_data_add_dict_container(
			                     d, tel_key(key, key, sizeof(key)), c, 0) != 0)
				rte_tel_data_free(c);
		}
		return 0;
	}
	if (!json_is_object(r)) {
		add_dict_value(d, "result", r);
		return 0;
	}
	json_object_foreach(r, k, v)
	{
		if (json_is_object(v) || json_is_array(v)) {
			struct rte_tel_data *c = container_from_json(v);
			char kb[RTE_TEL_MAX_STRING_LEN];

			if (c != NULL && rte_tel_data_add_dict_container(
			                     d, tel_key(k, kb, sizeof(kb)), c, 0) != 0)
				rte_tel_data_free(c);
		} else {
			add_dict_value(d, k, v);
		}
	}
	return 0;
}

/* Telemetry thread. */
static int
tel_cb(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct timespec deadline;
	const char *action = strrchr(cmd, '/') + 1;
	uint64_t one = 1, seq;
	json_t *r = NULL;
	char *err = NULL;
	int rc = 0;

	(void)params;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += MAILBOX_WAIT_MS / 1000;
	/* DPDK runs one thread per telemetry client: one request at a time. */
	if (pthread_mutex_timedlock(&tel_serial, &deadline) != 0) {
		rte_tel_data_start_dict(d);
		(void)rte_tel_data_add_dict_string(d, "error", "control thread busy");
		return 0;
	}
	pthread_mutex_lock(&mb.lock);
	if (!mb.open) {
		pthread_mutex_unlock(&mb.lock);
		pthread_mutex_unlock(&tel_serial);
		return -ENODEV;
	}
	seq = ++mb.seq;
	snprintf(mb.action, sizeof(mb.action), "%s", action);
	mb.pending = true;
	mb.answered = false;
	(void)!write(mb.efd, &one, sizeof(one));
	while (!mb.answered && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&mb.cond, &mb.lock, &deadline);
	if (mb.answered && mb.seq == seq) {
		r = mb.result;
		err = mb.error;
		mb.result = NULL;
		mb.error = NULL;
	}
	mb.pending = false;
	mb.answered = true; /* a late answer for seq is dropped */
	pthread_mutex_unlock(&mb.lock);
	pthread_mutex_unlock(&tel_serial);

	if (r == NULL) {
		rte_tel_data_start_dict(d);
		(void)rte_tel_data_add_dict_string(d, "error",
		                                   err != NULL ? err : "control thread busy");
		free(err);
		return 0;
	}
	if (strcmp(action, "sessions") == 0) {
		json_t *t = sessions_for_tel(r);

		if (t != NULL) {
			json_decref(r);
			r = t;
		}
	}
	to_tel(r, d);
	json_decref(r);
	free(err);
	return 0;
}

static int
telemetry_start(const struct mb_config *cfg)
{
	static const char *const cmds[][2] = {
	    {"/miniboss/health", "miniboss health: state, version, uptime, subsystems"},
	    {"/miniboss/images", "miniboss images: version, state, memory"},
	    {"/miniboss/config", "miniboss live configuration"},
	    {"/miniboss/stats", "miniboss dataplane counters"},
	    {"/miniboss/sessions", "miniboss Frisbee sessions: master and dataplane counters"},
	};
	static bool registered;
	int rc;

	(void)cfg;
	mb.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mb.efd == -1)
		return -errno;
	rc = mb_ctl_loop_add(mb.efd, EPOLLIN, mailbox_io, NULL);
	if (rc != 0) {
		(void)close(mb.efd);
		mb.efd = -1;
		return rc;
	}
	pthread_mutex_lock(&mb.lock);
	mb.open = true;
	pthread_mutex_unlock(&mb.lock);
	/* Commands cannot be unregistered; register once per process. */
	if (!registered) {
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			rc = rte_telemetry_register_cmd(cmds[i][0], tel_cb, cmds[i][1]);
			if (rc != 0)
				MB_LOG(WARNING, CTL, "telemetry command '%s': %s, ignoring",
				       cmds[i][0], strerror(-rc));
		}
		registered = true;
	}
	return 0;
}

static void
telemetry_stop(void)
{
	pthread_mutex_lock(&mb.lock);
	mb.open = false;
	mb.answered = true;
	pthread_cond_broadcast(&mb.cond);
	json_decref(mb.result);
	free(mb.error);
	mb.result = NULL;
	mb.error = NULL;
	pthread_mutex_unlock(&mb.lock);
	if (mb.efd >= 0) {
		(void)mb_ctl_loop_del(mb.efd);
		(void)close(mb.efd);
	}
	mb.efd = -1;
}

const struct mb_ctl_subsys mb_ctl_subsys_telemetry = {
	.name = "telemetry",
	.title = "the DPDK telemetry commands",
	.start = telemetry_start,
	.stop = telemetry_stop,
};
