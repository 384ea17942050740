/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Descriptors and the real control loop (control/ctl_loop.c, not a test
 * double): the control socket (ctl_sock.c), the master server (ctl_master.c)
 * and FTP control (ctl_ftp.c) run on a loop thread exactly as on the
 * daemon's control thread, started through the control library's subsystem
 * table, with only the dataplane faked (tests/fakes), while the test thread
 * plays the clients.
 *
 *  - cycles: thousands of FTP connect/220/QUIT/221 cycles, master-server
 *    probes and control-socket requests; the count of open descriptors
 *    (/proc/self/fd) must come back to where it started.
 *  - log flood: 1000 refused master-server requests and 1000 FTP paths
 *    outside the image namespace produce a bounded number of log lines.
 *  - source limits: one address gets at most its share of master-server and
 *    FTP control connections, counted, while another one is served.
 *  - emfile: the process runs out of descriptors while clients wait in the
 *    three listening sockets' backlogs.  The loop thread must not spin (its
 *    CPU time over two seconds is measured), and once descriptors are free
 *    again every waiting client is served (FTP greeting, a master-server
 *    GETSTATUS reply, a control-socket health reply); the pause is counted.
 *
 * Log lines are counted by a sink instead of printed, so a flood cannot
 * drown the output.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "mbt_net.h"
#include "ctl_priv.h"
#include "mb_cleanup.h"
#include "dp.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_time.h"
#include "ms_wire.h"

/* ---- log lines are counted, the first few printed ------------------------- */

static _Atomic unsigned log_lines;

static void
count_sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt, va_list ap)
{
	if (atomic_fetch_add(&log_lines, 1) < 20) {
		char buf[512];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		fprintf(stderr, "log %d %s: %s\n", (int)level, mb_log_module_name(mod), buf);
	}
}

/* ---- the loop thread ----------------------------------------------------------- */

static struct mb_config cfg;
static char sock_path[108];
static pthread_t loop_thread;
static uint16_t ftp_port, master_port; /* the kernel picked them */

/* ---- clients ----------------------------------------------------------------------- */

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static bool
ftp_cycle(void)
{
	char buf[512];
	int fd = mbt_dial_tcp_from(NULL, ftp_port);
	bool ok;

	if (fd < 0)
		return false;
	ok = mbt_read_until(fd, buf, sizeof(buf), "220 ") &&
	     send(fd, "QUIT\r\n", 6, MSG_NOSIGNAL) == 6 &&
	     mbt_read_until(fd, buf, sizeof(buf), "221 ") && mbt_read_eof(fd);
	close(fd);
	return ok;
}

static size_t
make_getstatus(uint8_t *buf)
{
	struct mb_ms_get_request r = { .methods = 7, .status = 1 };

	r.idlen = (uint16_t)strlen("test/img");
	memcpy(r.imageid, "test/img", r.idlen);
	(void)mb_ms_get_request_encode(&r, buf, MB_MS_GETREQ_LEN);
	return MB_MS_GETREQ_LEN;
}

static bool
master_exchange(int fd)
{
	uint8_t req[MB_MS_GETREQ_LEN], rep[MB_MS_MSG_MAX];
	struct mb_ms_get_reply r;
	size_t got = 0;
	ssize_t n;

	make_getstatus(req);
	if (send(fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return false;
	while ((n = recv(fd, rep + got, sizeof(rep) - got, 0)) > 0)
		got += (size_t)n;
	return got == MB_MS_GETREPLY_LEN && mb_ms_get_reply_decode(rep, got, &r, NULL) == 0 &&
	       r.error == 0 && r.size == 4096;
}

static bool
ctl_exchange(int fd, char *buf, size_t cap)
{
	static const char req[] = "{\"cmd\":\"health\"}\n";

	return send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1 &&
	       mbt_read_until(fd, buf, cap, "\n");
}

/* ---- tests ------------------------------------------------------------------------------- */

static void
test_cycles(void **state)
{
	static char buf[1 << 16];
	int before, after = -1;

	(void)state;
	for (int i = 0; i < 20; i++)
		assert_true(ftp_cycle());
	before = count_fds();
	for (int i = 0; i < 3000; i++)
		if (!ftp_cycle())
			fail_msg("FTP cycle %d failed (descriptors open: %d, at start: %d)", i,
				 count_fds(), before);
	for (int i = 0; i < 500; i++) {
		int fd = mbt_dial_tcp_from(NULL, master_port);

		assert_true(fd >= 0);
		if (i % 2 == 0)
			assert_true(master_exchange(fd));
		close(fd);
		fd = mbt_dial_unix(sock_path);
		assert_true(fd >= 0);
		assert_true(ctl_exchange(fd, buf, sizeof(buf)));
		close(fd);
	}
	/* The loop closes the last connections on its next passes. */
	for (int i = 0; i < 300; i++) {
		after = count_fds();
		if (after <= before)
			break;
		usleep(10000);
	}
	print_message("descriptors: %d before, %d after 3000 FTP, 500 master and 500 control "
		      "connections\n", before, after);
	assert_int_equal(after, before);
}

/* A peer floods what the daemon logs per request: refused master-server
 * requests (an unknown image) and FTP paths outside the image namespace.
 * The log gets a bounded number of lines, and a later line says how many
 * were suppressed. */
static void
test_log_flood(void **state)
{
	static char buf[1 << 16];
	unsigned before = atomic_load(&log_lines), during;
	struct mb_ms_get_request r = { .methods = 7 };
	uint8_t req[MB_MS_GETREQ_LEN], rep[MB_MS_MSG_MAX];
	size_t got;
	int fd;

	(void)state;
	r.idlen = 6;
	memcpy(r.imageid, "nosuch", 6);
	(void)mb_ms_get_request_encode(&r, req, sizeof(req));
	for (int i = 0; i < 1000; i++) {
		ssize_t n;

		fd = mbt_dial_tcp_from(NULL, master_port);
		assert_true(fd >= 0);
		assert_int_equal(send(fd, req, sizeof(req), MSG_NOSIGNAL), (ssize_t)sizeof(req));
		got = 0;
		while ((n = recv(fd, rep + got, sizeof(rep) - got, 0)) > 0)
			got += (size_t)n;
		assert_int_equal(got, MB_MS_GETREPLY_LEN);
		close(fd);
	}
	/* One FTP session asking for 1000 paths outside the namespace. */
	fd = mbt_dial_tcp_from(NULL, ftp_port);
	assert_true(fd >= 0);
	assert_true(mbt_read_until(fd, buf, sizeof(buf), "220 "));
	assert_int_equal(send(fd, "USER anonymous\r\nPASS x\r\n", 24, MSG_NOSIGNAL), 24);
	assert_true(mbt_read_until(fd, buf, sizeof(buf), "230 "));
	for (int i = 0; i < 1000; i++) {
		static const char cmd[] = "RETR ../../etc/passwd\r\n";

		assert_int_equal(send(fd, cmd, sizeof(cmd) - 1, MSG_NOSIGNAL),
				 (ssize_t)sizeof(cmd) - 1);
		assert_true(mbt_read_until(fd, buf, sizeof(buf), "550 "));
	}
	close(fd);
	during = atomic_load(&log_lines) - before;
	print_message("log lines for 1000 refused master requests and 1000 refused FTP paths: "
		      "%u\n", during);
	assert_true(during <= 40);
	assert_true(during >= 2);
}

static json_t *
health(void)
{
	static char buf[1 << 16];
	json_t *h;
	int fd = mbt_dial_unix(sock_path);

	assert_true(fd >= 0);
	assert_true(ctl_exchange(fd, buf, sizeof(buf)));
	close(fd);
	h = json_loads(buf, 0, NULL);
	assert_non_null(h);
	return h;
}

/* One address may hold at most frisbee.master-max-per-source (16 by
 * default) master-server connections and tcp.ftp-max-per-source (8) FTP
 * control connections; the next one is closed at once (FTP: 421 first)
 * and counted, while another address is still served. */
static void
test_source_limits(void **state)
{
	int m[17], f[9], fd;
	char buf[512];
	json_t *h;

	(void)state;
	for (int i = 0; i < 16; i++)
		assert_true((m[i] = mbt_dial_tcp_from("127.0.0.1", master_port)) >= 0);
	for (int i = 0; i < 8; i++) {
		assert_true((f[i] = mbt_dial_tcp_from("127.0.0.1", ftp_port)) >= 0);
		assert_true(mbt_read_until(f[i], buf, sizeof(buf), "220 "));
	}
	/* The 17th master-server connection and the 9th FTP one: refused. */
	assert_true((m[16] = mbt_dial_tcp_from("127.0.0.1", master_port)) >= 0);
	mbt_set_timeouts(m[16], 2000); /* an accepted one would wait 5 s for its request */
	assert_true(mbt_read_eof(m[16]));
	assert_true((f[8] = mbt_dial_tcp_from("127.0.0.1", ftp_port)) >= 0);
	assert_true(mbt_read_until(f[8], buf, sizeof(buf), "421 "));
	assert_true(mbt_read_eof(f[8]));
	/* Another address is served meanwhile. */
	assert_true((fd = mbt_dial_tcp_from("127.0.0.2", master_port)) >= 0);
	assert_true(master_exchange(fd));
	close(fd);
	assert_true((fd = mbt_dial_tcp_from("127.0.0.2", ftp_port)) >= 0);
	assert_true(mbt_read_until(fd, buf, sizeof(buf), "220 "));
	close(fd);
	for (int i = 0; i < 17; i++)
		close(m[i]);
	for (int i = 0; i < 9; i++)
		close(f[i]);
	h = health(); /* the loop handled the closes before this request */
	{
		char *ms = json_dumps(json_object_get(json_object_get(json_object_get(h, "result"),
								      "master"), "counters"),
				      JSON_COMPACT);
		char *fs = json_dumps(json_object_get(json_object_get(h, "result"), "ftp"),
				      JSON_COMPACT);

		print_message("master counters: %s\nftp: %s\n", ms, fs);
		free(ms);
		free(fs);
	}
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(
			 json_object_get(h, "result"), "master"), "counters"), "conn_refused_source")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(h,
			 "result"), "ftp"), "refused-source")), 1);
	json_decref(h);
}

static double
thread_cpu_s(pthread_t th)
{
	struct timespec ts;
	clockid_t cid;

	assert_int_equal(pthread_getcpuclockid(th, &cid), 0);
	assert_int_equal(clock_gettime(cid, &ts), 0);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child (its own descriptor table): connect to all three listeners while
 * the server has none left, tell the parent, then wait for the answers. */
static int
emfile_child(int tell)
{
	static char buf[1 << 16];
	int f = mbt_dial_tcp_from(NULL, ftp_port), m = mbt_dial_tcp_from(NULL, master_port);
	int c = mbt_dial_unix(sock_path);

	if (f < 0 || m < 0 || c < 0)
		return 10;
	mbt_set_timeouts(f, 20000);
	mbt_set_timeouts(m, 20000);
	mbt_set_timeouts(c, 20000);
	if (write(tell, "c", 1) != 1)
		return 11;
	if (!mbt_read_until(f, buf, sizeof(buf), "220 "))
		return 12;
	if (!master_exchange(m))
		return 13;
	if (!ctl_exchange(c, buf, sizeof(buf)))
		return 14;
	return 0;
}

static void
test_emfile(void **state)
{
	static char buf[1 << 16];
	static int filler[1 << 16];
	struct rlimit saved, lim;
	int nfill = 0, tell[2], devnull, status = -1, fd;
	double cpu0, cpu1;
	json_t *h, *loop;
	pid_t pid;
	char c;

	(void)state;
	/* valgrind emulates RLIMIT_NOFILE with descriptors of its own at the
	 * top of the table: lowering the limit there is not what runs here. */
	if (getenv("LD_PRELOAD") != NULL && strstr(getenv("LD_PRELOAD"), "vgpreload") != NULL) {
		print_message("under valgrind: descriptor exhaustion not tested\n");
		return;
	}
	assert_int_equal(pipe2(tell, O_CLOEXEC), 0);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(devnull >= 0);
	/* A small table is quick to fill. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	lim = saved;
	lim.rlim_cur = (rlim_t)count_fds() + 64;
	if (lim.rlim_cur > saved.rlim_cur)
		lim.rlim_cur = saved.rlim_cur;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	while (nfill < (int)(sizeof(filler) / sizeof(filler[0])) &&
	       (fd = fcntl(devnull, F_DUPFD_CLOEXEC, 0)) >= 0)
		filler[nfill++] = fd;
	assert_int_equal(errno, EMFILE);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < nfill; i++)
			close(filler[i]);
		(void)setrlimit(RLIMIT_NOFILE, &saved);
		_exit(emfile_child(tell[1]));
	}
	{
		struct pollfd p = { .fd = tell[0], .events = POLLIN };

		assert_int_equal(poll(&p, 1, 10000), 1);
		assert_int_equal(read(tell[0], &c, 1), 1);
	}
	/* Three clients wait in the backlogs; accept fails with EMFILE. */
	cpu0 = thread_cpu_s(loop_thread);
	sleep(2);
	cpu1 = thread_cpu_s(loop_thread);
	for (int i = 0; i < nfill; i++)
		close(filler[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	print_message("loop thread CPU while out of descriptors: %.3f s in 2 s\n", cpu1 - cpu0);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(100000);
	}
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(tell[0]);
	close(tell[1]);
	close(devnull);
	assert_true(cpu1 - cpu0 < 0.4);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* The pauses were counted. */
	fd = mbt_dial_unix(sock_path);
	assert_true(fd >= 0);
	assert_true(ctl_exchange(fd, buf, sizeof(buf)));
	close(fd);
	h = json_loads(buf, 0, NULL);
	assert_non_null(h);
	loop = json_object_get(json_object_get(h, "result"), "loop");
	assert_non_null(loop);
	{
		char *l = json_dumps(loop, JSON_COMPACT);

		print_message("health.loop: %s\n", l);
		free(l);
	}
	assert_true(json_integer_value(json_object_get(loop, "accept-pauses")) >= 1);
	json_decref(h);
}

static int
setup(void **state)
{
	char err[MB_CFG_ERRLEN];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	mb_log_set_sink(count_sink);
	assert_int_equal(mbt_heap_images_publish((const char *const[]){ "test/img" }, 1, 4096), 0);

	snprintf(sock_path, sizeof(sock_path), "/tmp/mbt-fds-%d.sock", (int)getpid());
	assert_int_equal(mb_config_defaults(&cfg), 0);
	assert_int_equal(mb_config_load_string(&cfg, "[dpdk]\naddress = 127.0.0.1/8\n", err,
					       sizeof(err)), 0);
	free(cfg.control_socket);
	cfg.control_socket = strdup(sock_path);
	free(cfg.master_listen);
	cfg.master_listen = strdup("127.0.0.1");
	free(cfg.state_dir);
	cfg.state_dir = strdup(""); /* the master server keeps no cursors */
	cfg.master_port = MB_CTL_PORT_ANY;
	cfg.ftp_port = MB_CTL_PORT_ANY;
	cfg.ftp_pasv_min = 41000 + (uint64_t)(getpid() % 1000) * 10;
	cfg.ftp_pasv_max = cfg.ftp_pasv_min + 9;
	{
		static const struct mb_ctl_subsys *const tab[] = {
			&mb_ctl_subsys_sock, &mb_ctl_subsys_dataplane, &mb_ctl_subsys_master,
			&mb_ctl_subsys_ftp,
		};

		assert_int_equal(mbt_ctl_thread_start(&cfg, tab, MB_ARRAY_SIZE(tab), &loop_thread),
				 0);
	}
	ftp_port = mb_ctl_ftp_port();
	master_port = mb_ctl_master_port();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mbt_ctl_thread_stop();
	mbt_heap_images_unpublish();
	mb_config_done(&cfg);
	(void)unlink(sock_path);
	print_message("log lines: %u\n", atomic_load(&log_lines));
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_log_flood),
		cmocka_unit_test(test_source_limits),
		cmocka_unit_test(test_emfile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
