/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `minibossctl wait`: block until minibossd is ready, the readiness signal
 * for scripts (tools/mb-launch, the system tests, the demo, the bench) and
 * for people starting the daemon by hand.
 *
 *   minibossctl [-s SOCKET | -c FILE] wait [--timeout DURATION] [--state ready|ok]
 *                                          [--pid PID] [--verbose] [--quiet]
 *
 * "Ready" is the health reply's "ready": true, which the daemon sets at the
 * moment it sends READY=1 to systemd: the dataplane runs and the store has
 * verified every image it found at start.  --state ok asks for more: ready
 * and the health state "ok" (no failed image, link up...).
 *
 * The control socket may not exist yet when we start (the daemon was just
 * launched): connecting is retried until the timeout.  With --pid, the
 * process is watched as well, so a daemon that dies during start-up is
 * reported at once instead of at the timeout; without it, a daemon that
 * answered once and then went away (the connection closes and the socket
 * refuses) is reported at once too.  A reply that refuses us (the socket's
 * client limit) is not an answer: we ask again until the timeout, which then
 * says why nothing answered.
 *
 * Exit status: 0 ready (the one-line health summary on stdout unless
 * --quiet); 1 still not ready at the timeout (the state and its reasons on
 * stderr); 2 usage error, the daemon died or never answered.  DPDK-free.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_client.h"
#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_status.h"
#include "mb_time.h"

#define WAIT_DEFAULT_MS 90000 /* systemd's default TimeoutStartSec= */
#define POLL_MIN_MS 20
#define POLL_MAX_MS 200
#define REQUEST_MAX_MS 2000 /* then ask again: a dead --pid is noticed meanwhile */

static void
wait_usage(FILE *f)
{
	fprintf(f,
		"usage: minibossctl [-s SOCKET | -c FILE] wait [--timeout DURATION] "
		"[--state ready|ok]\n"
		"                                          [--pid PID] [--verbose] [--quiet]\n"
		"\n"
		"Wait until minibossd is ready: the dataplane runs and the store verified its\n"
		"images (what the daemon reports to systemd as READY=1).\n"
		"\n"
		"  -t, --timeout DURATION  give up after this long (default 90s; 500ms, 2m...)\n"
		"      --state ready|ok    ready (default), or ready and health state ok\n"
		"  -p, --pid PID           the daemon's process: stop waiting at once if it dies\n"
		"  -v, --verbose           a line on stderr whenever what we wait for changes\n"
		"  -q, --quiet             print nothing when ready\n"
		"\n"
		"Exit status: 0 ready, 1 not ready at the timeout (with the reasons), 2 usage\n"
		"error, the daemon died, or nothing answered on the socket.\n");
}

/* Is pid still a running process (not gone, not a zombie)? */
static bool
pid_alive(pid_t pid)
{
	char path[64], buf[512];
	const char *rp;
	FILE *f;
	size_t n;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL) /* gone, unless there is no /proc here (a chroot) */
		return errno != ENOENT || access("/proc/self/stat", F_OK) != 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')' */
	rp = strrchr(buf, ')');
	return rp == NULL || rp[1] != ' ' || (rp[2] != 'Z' && rp[2] != 'X');
}

/* What we are still waiting for, in a few words, into buf. */
static void
pending(json_t *h, bool want_ok, char *buf, size_t len)
{
	json_t *store = json_object_get(h, "store");
	json_int_t loading = json_integer_value(json_object_get(store, "loading")) +
			     json_integer_value(json_object_get(store, "downloading"));
	const char *state = json_string_value(json_object_get(h, "state"));

	if (!json_is_true(json_object_get(h, "ready"))) {
		if (loading > 0)
			snprintf(buf, len, "not ready: the store is verifying %" JSON_INTEGER_FORMAT
				 " image%s", loading, loading == 1 ? "" : "s");
		else
			snprintf(buf, len, "not ready: starting");
	} else if (want_ok) {
		snprintf(buf, len, "ready, but the state is %s", state != NULL ? state : "unknown");
	} else {
		buf[0] = '\0';
	}
}

/* The health reply on stderr for the timeout message: state, what is
 * pending, and the reasons people see in `minibossctl health`. */
static void
print_last(json_t *h, bool want_ok)
{
	json_auto_t *reasons = mb_status_reasons(h);
	const char *state = json_string_value(json_object_get(h, "state"));
	char what[256];
	json_t *v;
	size_t i;

	pending(h, want_ok, what, sizeof(what));
	fprintf(stderr, "minibossctl: state %s, %s\n", state != NULL ? state : "unknown", what);
	json_array_foreach(reasons, i, v)
		fprintf(stderr, "  %s\n", json_string_value(v));
}

int
mb_ctl_wait_main(const char *sock, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"timeout", required_argument, NULL, 't'},
	    {"state", required_argument, NULL, 'S'},
	    {"pid", required_argument, NULL, 'p'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t timeout_ms = WAIT_DEFAULT_MS, t0, deadline;
	json_auto_t *last = NULL;
	bool want_ok = false, verbose = false, quiet = false, answered = false;
	const char *tstr = "90s";
	char said[256] = "", refused[256] = "";
	pid_t pid = 0;
	int opt, fd = -1, pause_ms = POLL_MIN_MS, rc = 2, qrc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "t:p:vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (mb_parse_duration_ms(optarg, &timeout_ms) != 0 ||
			    timeout_ms > 365ULL * 86400 * 1000) {
				fprintf(stderr, "minibossctl: wait: --timeout '%s' is not a duration "
					"(e.g. 30s, 500ms, 2m)\n", optarg);
				return 2;
			}
			tstr = optarg;
			break;
		case 'S':
			if (strcmp(optarg, "ok") == 0) {
				want_ok = true;
			} else if (strcmp(optarg, "ready") != 0) {
				fprintf(stderr, "minibossctl: wait: --state is ready or ok, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'p': {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX) {
				fprintf(stderr, "minibossctl: wait: --pid '%s' is not a process id\n",
					optarg);
				return 2;
			}
			pid = (pid_t)v;
			break;
		}
		case 'v':
			verbose = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			wait_usage(stdout);
			return 0;
		default:
			wait_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "minibossctl: wait: unexpected argument '%s'\n", argv[optind]);
		wait_usage(stderr);
		return 2;
	}

	t0 = mb_time_mono_ns();
	deadline = t0 + timeout_ms * MB_NS_PER_MS;
	for (;;) {
		json_auto_t *reply = NULL;
		json_t *h;
		uint64_t now, left;
		int r;

		if (pid > 0 && !pid_alive(pid)) {
			fprintf(stderr, "minibossctl: wait: minibossd (pid %d) %s before it was "
				"%s\n", (int)pid, answered ? "exited" : "exited or never started",
				want_ok ? "ready and ok" : "ready");
			if (last != NULL)
				print_last(last, want_ok);
			goto out;
		}
		if (fd < 0) {
			fd = mb_ctl_connect(sock, true);
			if (fd == -ENOENT || fd == -ECONNREFUSED) {
				if (answered && pid == 0) {
					fprintf(stderr, "minibossctl: wait: minibossd went away before "
						"it was %s (nothing listens on '%s' any more)\n",
						want_ok ? "ready and ok" : "ready", sock);
					goto out;
				}
			} else if (fd < 0) {
				(void)mb_ctl_connect(sock, false); /* says why */
				goto out;
			}
		}
		if (fd >= 0) {
			now = mb_time_mono_ns();
			left = now < deadline ? (deadline - now) / MB_NS_PER_MS : 0;
			r = left < REQUEST_MAX_MS ? (left > 100 ? (int)left : 100) : REQUEST_MAX_MS;
			reply = mb_ctl_request(fd, "health", NULL, r, true, &qrc);
			if (reply != NULL && !json_is_true(json_object_get(reply, "ok"))) {
				/* refused by the socket (its client limit): ask again */
				json_t *e = json_object_get(reply, "error");

				snprintf(refused, sizeof(refused), "%s",
					 json_is_string(e) ? json_string_value(e) : "error");
				json_decref(reply);
				reply = NULL;
			}
			if (reply == NULL) {
				/* closed or refused: find out on the next round */
				close(fd);
				fd = -1;
			}
		}
		h = json_object_get(reply, "result");
		if (json_is_object(h)) {
			const char *state = json_string_value(json_object_get(h, "state"));
			char what[256];

			answered = true;
			if (json_object_get(h, "ready") == NULL) {
				fprintf(stderr, "minibossctl: wait: this minibossd does not report "
					"readiness (health has no \"ready\")\n");
				goto out;
			}
			if (json_is_true(json_object_get(h, "ready")) &&
			    (!want_ok || (state != NULL && strcmp(state, "ok") == 0))) {
				if (!quiet) {
					char line[512];

					mb_status_line(h, (int64_t)time(NULL), line, sizeof(line));
					printf("ready: %s\n", line);
				}
				rc = 0;
				goto out;
			}
			pending(h, want_ok, what, sizeof(what));
			if (verbose && strcmp(what, said) != 0) {
				fprintf(stderr, "minibossctl: wait: %s (state %s)\n", what,
					state != NULL ? state : "unknown");
				snprintf(said, sizeof(said), "%s", what);
			}
			json_decref(last);
			last = json_incref(h);
		}
		now = mb_time_mono_ns();
		if (now >= deadline) {
			if (last == NULL) {
				fprintf(stderr, "minibossctl: wait: no daemon answered on '%s' within "
					"%s%s%s\n", sock, tstr, refused[0] ? ": " : "", refused);
			} else {
				fprintf(stderr, "minibossctl: wait: not %s after %s\n",
					want_ok ? "ready and ok" : "ready", tstr);
				print_last(last, want_ok);
				rc = 1;
			}
			goto out;
		}
		left = (deadline - now) / MB_NS_PER_MS;
		(void)poll(NULL, 0, (uint64_t)pause_ms < left ? pause_ms : (left > 0 ? (int)left : 1));
		pause_ms = pause_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause_ms * 2;
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
