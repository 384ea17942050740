/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * minibossctl: talk to minibossd's local control socket.
 *
 *   minibossctl [-s SOCKET] [--json] health|images|config|reload|stats|
 *               sessions|sync|<cmd> [key=value ...]
 *
 * Sends one request line {"cmd":...,"args":{...}} and prints the reply:
 * readable text by default (tables for lists of objects), the raw result
 * with --json.  Exit status: 0 ok, 1 the daemon answered an error (or health
 * is not "ok"), 2 usage error or no daemon to talk to.  DPDK-free.
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
#include <unistd.h>

#include <jansson.h>

#include "mb_cleanup.h"

#define DEFAULT_SOCKET "/run/miniboss/control.sock"
#define REPLY_MAX (64u << 20)
#define TIMEOUT_MS 30000

static void
usage(FILE *f)
{
	fprintf(f, "usage: minibossctl [-s SOCKET] [--json] COMMAND [key=value ...]\n"
	           "commands: health images config reload stats sessions sync [--wait] help\n"
	           "  -s SOCKET  control socket (default " DEFAULT_SOCKET ")\n"
	           "  --json     print the raw JSON result\n");
}

/* Read one line; returns malloc'd text without the newline or NULL. */
static char *
read_line(int fd, const char **why)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	if (buf == NULL) {
		*why = "out of memory";
		return NULL;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *nl;
		ssize_t n;

		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			*why = "timed out waiting for the daemon";
			break;
		}
		if (len == cap) {
			char *nb;

			if (cap >= REPLY_MAX) {
				*why = "reply too long";
				break;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				*why = "out of memory";
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = "the daemon closed the connection";
			break;
		}
		len += (size_t)n;
		nl = memchr(buf, '\n', len);
		if (nl != NULL) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

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

	json_object_foreach(o, k, v)
	{
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

/* A table of an array of objects: columns are the keys of the first row
 * (`cols` to pick and order some). */
static void
print_table(json_t *arr, const char *const *cols, size_t ncols)
{
	const char *keys[32];
	size_t nk = 0, width[32];
	size_t i;
	json_t *row;

	if (json_array_size(arr) == 0) {
		printf("(none)\n");
		return;
	}
	if (cols != NULL) {
		for (i = 0; i < ncols && nk < 32; i++)
			keys[nk++] = cols[i];
	} else {
		const char *k;
		json_t *v;

		json_object_foreach(json_array_get(arr, 0), k, v)
		{
			if (nk < 32)
				keys[nk++] = k;
		}
	}
	for (size_t c = 0; c < nk; c++) {
		width[c] = strlen(keys[c]);
		json_array_foreach(arr, i, row)
		{
			json_t *v = json_object_get(row, keys[c]);
			char *s = v == NULL ? NULL
			          : json_is_string(v)
			              ? strdup(json_string_value(v))
			              : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			if (s != NULL && strlen(s) > width[c])
				width[c] = strlen(s) > 60 ? 60 : strlen(s);
			free(s);
		}
	}
	for (size_t c = 0; c < nk; c++) {
		char up[64];
		size_t j;

		for (j = 0; keys[c][j] != '\0' && j < sizeof(up) - 1; j++)
			up[j] = (char)(keys[c][j] >= 'a' && keys[c][j] <= 'z' ? keys[c][j] - 32
			                                                      : keys[c][j]);
		up[j] = '\0';
		printf("%-*s%s", (int)width[c], up, c + 1 < nk ? "  " : "\n");
	}
	json_array_foreach(arr, i, row)
	{
		for (size_t c = 0; c < nk; c++) {
			json_t *v = json_object_get(row, keys[c]);
			char *s = v == NULL ? strdup("-")
			          : json_is_string(v)
			              ? strdup(json_string_value(v))
			              : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			printf("%-*.*s%s", (int)width[c], 60, s != NULL ? s : "?",
			       c + 1 < nk ? "  " : "\n");
			free(s);
		}
	}
}

static void
print_images(json_t *arr)
{
	static const char *const cols[] = {"name", "version", "size", "state", "mem", "sha256"};
	size_t i;
	json_t *row;

	/* Shorten the digest for the table. */
	json_array_foreach(arr, i, row)
	{
		json_t *h = json_object_get(row, "sha256");

		if (json_is_string(h) && json_string_length(h) > 12) {
			char s[13];

			memcpy(s, json_string_value(h), 12);
			s[12] = '\0';
			json_object_set_new(row, "sha256", json_string(s));
		}
	}
	print_table(arr, cols, MB_ARRAY_SIZE(cols));
}

/* Dataplane sessions: the counters an operator reads, drops by reason
 * folded into "reason=n" pairs (non-zero only). */
static void
print_dp_sessions(json_t *arr)
{
	static const char *const cols[] = {"id",	 "image",     "addr",	  "port",
					   "method",	 "state",     "rx_pkts",  "tx_pkts",
					   "tx_bytes",	 "requests",  "prequests", "merged",
					   "rerequests", "drops",     "rate-bps", "drop-reasons"};
	size_t i;
	json_t *row;

	json_array_foreach(arr, i, row)
	{
		json_t *d = json_object_get(row, "drops-by-reason"), *v;
		char buf[256] = "";
		size_t len = 0;
		const char *k;

		json_object_foreach(d, k, v)
		{
			if (json_integer_value(v) != 0 && len < sizeof(buf))
				len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s=%lld",
							len ? "," : "", k,
							(long long)json_integer_value(v));
		}
		json_object_set_new(row, "drop-reasons", json_string(len ? buf : "-"));
	}
	print_table(arr, cols, MB_ARRAY_SIZE(cols));
}

static void
print_human(const char *cmd, json_t *r)
{
	if (strcmp(cmd, "images") == 0 && json_is_array(r)) {
		print_images(r);
	} else if (strcmp(cmd, "sessions") == 0 && json_is_object(r)) {
		const char *k;
		json_t *v;

		json_object_foreach(r, k, v)
		{
			printf("%s:\n", k);
			if (json_is_array(v) && strcmp(k, "dataplane") == 0)
				print_dp_sessions(v);
			else if (json_is_array(v))
				print_table(v, NULL, 0);
			else if (json_is_object(v))
				print_object(v, 2);
			else {
				print_scalar(stdout, v);
				putchar('\n');
			}
		}
	} else if (json_is_array(r) && json_array_size(r) > 0 &&
	           json_is_object(json_array_get(r, 0))) {
		print_table(r, NULL, 0);
	} else if (json_is_object(r)) {
		print_object(r, 0);
	} else {
		print_scalar(stdout, r);
		putchar('\n');
	}
}

/*
 * `sync --wait` (owner: sync): after the "sync" action started a round, poll
 * {"cmd":"sync","args":{"status":true}} on the same connection, first after
 * 10 ms and then at doubling intervals up to every 200 ms (a small image is
 * published well before a fixed 200 ms tick), and draw a progress bar from
 * bytes_done/bytes_total until the round ends.
 * Exit 0 when the round's result is "ok", 1 otherwise, 2 on socket trouble.
 */
static int
sync_wait(int fd)
{
	static const char req[] = "{\"cmd\":\"sync\",\"args\":{\"status\":true}}\n";
	bool tty = isatty(STDOUT_FILENO);
	int pause_ms = 10;

	for (;;) {
		json_auto_t *reply = NULL;
		_cleanup_free_ char *line = NULL;
		const char *why = "", *name;
		json_t *r, *v;
		uint64_t done, total;
		unsigned nok = 0, ndl = 0, nfail = 0, pct;
		char bar[41];

		(void)poll(NULL, 0, pause_ms);
		pause_ms = pause_ms * 2 > 200 ? 200 : pause_ms * 2;
		if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
			fprintf(stderr, "\nminibossctl: cannot send: %s\n", strerror(errno));
			return 2;
		}
		line = read_line(fd, &why);
		if (line == NULL) {
			fprintf(stderr, "\nminibossctl: %s\n", why);
			return 2;
		}
		reply = json_loads(line, 0, NULL);
		r = json_object_get(reply, "result");
		if (!json_is_object(r)) {
			fprintf(stderr, "\nminibossctl: malformed reply from the daemon\n");
			return 2;
		}
		done = (uint64_t)json_integer_value(json_object_get(r, "bytes_done"));
		total = (uint64_t)json_integer_value(json_object_get(r, "bytes_total"));
		json_object_foreach(json_object_get(r, "images"), name, v)
		{
			const char *st = json_string_value(json_object_get(v, "state"));

			if (st == NULL)
				continue;
			nok += strcmp(st, "ok") == 0;
			ndl += strcmp(st, "downloading") == 0 || strcmp(st, "queued") == 0;
			nfail += strcmp(st, "failed") == 0;
		}
		pct = total > 0 ? (unsigned)(done * 100 / total) : 100;
		memset(bar, '.', 40);
		memset(bar, '#', pct * 40 / 100);
		bar[40] = '\0';
		printf("%s[%s] %3u%% %8.1f/%.1f MiB  %u ok, %u downloading, %u failed%s",
		       tty ? "\r" : "", bar, pct, done / 1048576.0, total / 1048576.0, nok, ndl,
		       nfail, tty ? "" : "\n");
		fflush(stdout);
		if (!json_is_true(json_object_get(r, "running"))) {
			const char *res = json_string_value(json_object_get(r, "result"));

			printf("%ssync: %s\n", tty ? "\n" : "", res != NULL ? res : "?");
			return res != NULL && strcmp(res, "ok") == 0 ? 0 : 1;
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {"wait", no_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *sock = DEFAULT_SOCKET, *cmd, *why = "";
	json_auto_t *req = NULL, *reply = NULL, *args = NULL;
	_cleanup_free_ char *text = NULL, *line = NULL;
	_cleanup_close_ int fd = -1;
	bool raw = false, wait = false;
	json_error_t jerr;
	json_t *ok, *result;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			raw = true;
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
	args = json_object();
	for (; optind < argc; optind++) {
		char *eq = strchr(argv[optind], '=');
		char *end;
		long long n;

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
	req = json_pack("{s:s,s:O}", "cmd", cmd, "args", args);
	if (req == NULL) {
		fprintf(stderr, "minibossctl: command is not valid UTF-8\n");
		return 2;
	}
	text = json_dumps(req, JSON_COMPACT);
	if (strlen(sock) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "minibossctl: socket path too long\n");
		return 2;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr,
			        "minibossctl: minibossd is not running (no daemon on '%s')\n",
			        sock);
		else
			fprintf(stderr, "minibossctl: cannot connect to '%s': %s\n", sock,
			        strerror(errno));
		return 2;
	}
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) != (ssize_t)strlen(text) ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		fprintf(stderr, "minibossctl: cannot send to '%s': %s\n", sock, strerror(errno));
		return 2;
	}
	line = read_line(fd, &why);
	if (line == NULL) {
		fprintf(stderr, "minibossctl: %s\n", why);
		return 2;
	}
	reply = json_loads(line, 0, &jerr);
	ok = json_object_get(reply, "ok");
	if (!json_is_boolean(ok)) {
		fprintf(stderr, "minibossctl: malformed reply from the daemon\n");
		return 2;
	}
	if (!json_is_true(ok)) {
		json_t *e = json_object_get(reply, "error");

		fprintf(stderr, "minibossctl: %s: %s\n", cmd,
		        json_is_string(e) ? json_string_value(e) : "error");
		return 1;
	}
	result = json_object_get(reply, "result");
	if (wait && strcmp(cmd, "sync") == 0 && !raw)
		return sync_wait(fd);
	if (raw) {
		char *s =
		    json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

		if (s != NULL)
			puts(s);
		free(s);
	} else {
		print_human(cmd, result);
	}
	if (strcmp(cmd, "health") == 0) {
		json_t *s = json_object_get(result, "state");

		if (!json_is_string(s) || strcmp(json_string_value(s), "ok") != 0)
			return 1;
	}
	return 0;
}
