/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * FTP control (control/ctl_ftp.c) on loopback, without EAL, against the real
 * curl and lftp, on the real control loop (ctl_loop.c), started through the
 * control library's subsystem table: this test provides a published image
 * table (liburcu-qsbr), and, in the fake dataplane of tests/fakes, an FTP
 * data expectation that serves each transfer from a kernel socket on the
 * passive port, so everything but the userspace TCP is the code the daemon
 * runs.  Checks RETR (EPSV and PASV), REST resume,
 * LIST/NLST/MLSD, and that traversal, PORT and garbage are refused while the
 * session goes on.  Skips (77) when curl is absent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_priv.h"
#include "mb_file.h"
#include "mb_image.h"
#include "mb_time.h"

extern char **environ;

static uint64_t
now_ms(void)
{
	return mb_time_mono_ns() / MB_NS_PER_MS;
}

/* ---- the dataplane stand-in: a kernel socket per passive port ------------ */

struct fake_port {
	int lfd;
	uint64_t cookie;
	struct mb_sbuf *sb;
	uint64_t off, len;
};
static struct fake_port ports[65536];
static unsigned transfers;

static void
fake_accept(int fd, uint32_t events, void *arg)
{
	struct fake_port *p = arg;
	int c = accept(fd, NULL, NULL);
	uint64_t done = 0;

	(void)events;
	if (c == -1)
		return;
	while (done < p->len) {
		ssize_t w = send(c, p->sb->data + p->off + done, p->len - done, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		done += (uint64_t)w;
	}
	close(c);
	mb_ctl_loop_del(fd);
	close(fd);
	p->lfd = -1;
	mb_sbuf_unref(p->sb);
	p->sb = NULL;
	transfers++;
	mb_ctl_ftp_xfer_done(p->cookie, done == p->len);
}

static int
ftp_expect(uint16_t port, uint32_t peer, struct mb_sbuf *sb, uint64_t off, uint64_t len,
	   uint64_t cookie)
{
	struct fake_port *p = &ports[port];

	assert_int_equal(peer, htonl(INADDR_LOOPBACK));
	if (sb == NULL) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
		int one = 1;

		if (p->lfd > 0) {
			mb_ctl_loop_del(p->lfd);
			close(p->lfd);
		}
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(p->lfd, 4) == -1)
			return -errno;
		p->cookie = cookie;
		return 0;
	}
	assert_true(p->lfd > 0);
	assert_int_equal(p->cookie, cookie);
	p->sb = sb;
	p->off = off;
	p->len = len;
	return mb_ctl_loop_add(p->lfd, EPOLLIN, fake_accept, p);
}

/* ---- helpers ------------------------------------------------------------------ */

static uint16_t ftp_port;
static char workdir[] = "/tmp/mbt-ftp-XXXXXX";
static struct mb_image *img1, *img2;

static int
run(const char *const argv[])
{
	pid_t pid;
	int status = -1;
	uint64_t end = now_ms() + 20000;

	assert_int_equal(posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ), 0);
	while (now_ms() < end) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		(void)mb_ctl_loop_run_once(20);
	}
	kill(pid, 9);
	waitpid(pid, &status, 0);
	fail_msg("%s timed out", argv[0]);
	return -1;
}

/* The whole file, NUL-terminated (caller frees), or NULL. */
static char *
slurp(const char *path, size_t *ret_len)
{
	char *buf = NULL;

	return mb_file_read_all(path, UINT64_MAX, &buf, ret_len) == 0 ? buf : NULL;
}

static void
check_file(const char *path, const struct mb_image *img, uint64_t off)
{
	size_t n;
	char *b = slurp(path, &n);

	assert_non_null(b);
	assert_int_equal(n, img->size - off);
	assert_memory_equal(b, img->sb.data + off, n);
	free(b);
}

/* Raw control session: send lines, collect everything received. */
static void
raw_session(const char *lines, char *out, size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(ftp_port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t got = 0;
	uint64_t end;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	(void)mb_ctl_loop_run_once(10);
	assert_int_equal(send(fd, lines, strlen(lines), 0), (ssize_t)strlen(lines));
	end = now_ms() + 2000;
	while (now_ms() < end) {
		ssize_t r;

		(void)mb_ctl_loop_run_once(10);
		r = recv(fd, out + got, cap - 1 - got, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			got += (size_t)r;
	}
	out[got] = '\0';
	close(fd);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_curl(void **st)
{
	char url[256], rng[32];
	size_t n;
	char *b;

	(void)st;
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%u/emulab-ops/UBUNTU22-STD.ndz", ftp_port);
	{
		const char *a[] = { "curl", "-sS", "-o", "mbt-ftp-1", url, NULL };

		assert_int_equal(run(a), 0);
		check_file("mbt-ftp-1", img1, 0);
	}
	{
		const char *a[] = { "curl", "-sS", "--disable-epsv", "-o", "mbt-ftp-2", url, NULL };

		assert_int_equal(run(a), 0);
		check_file("mbt-ftp-2", img1, 0);
	}
	snprintf(rng, sizeof(rng), "%u", 12345);
	{
		const char *a[] = { "curl", "-sS", "-C", rng, "-o", "mbt-ftp-3", url, NULL };

		/* resume: the file holds the first 12345 bytes already */
		FILE *f = fopen("mbt-ftp-3", "wb");

		fwrite(img1->sb.data, 1, 12345, f);
		fclose(f);
		assert_int_equal(run(a), 0);
		check_file("mbt-ftp-3", img1, 0);
	}
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%u/emulab-ops/", ftp_port);
	{
		const char *a[] = { "curl", "-sS", "-o", "mbt-ftp-4", url, NULL };

		assert_int_equal(run(a), 0);
		b = slurp("mbt-ftp-4", &n);
		assert_non_null(strstr(b, "UBUNTU22-STD.ndz"));
		assert_non_null(strstr(b, "-r--r--r--"));
		free(b);
	}
	{
		const char *a[] = { "curl", "-sS", "-l", "-o", "mbt-ftp-5", url, NULL };

		assert_int_equal(run(a), 0);
		b = slurp("mbt-ftp-5", &n);
		/* curl turns CRLF into LF in ASCII mode */
		assert_true(strcmp(b, "UBUNTU22-STD.ndz\r\n") == 0 ||
			    strcmp(b, "UBUNTU22-STD.ndz\n") == 0);
		free(b);
	}
	/* traversal: curl must fail, the server answers 550 */
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%u/../../etc/passwd", ftp_port);
	{
		const char *a[] = { "curl", "-sS", "--path-as-is", "-o", "mbt-ftp-6", url, NULL };

		assert_int_not_equal(run(a), 0);
	}
	assert_true(transfers >= 5);
}

static void
test_lftp(void **st)
{
	char cmd[512];

	(void)st;
	if (access("/usr/bin/lftp", X_OK) != 0) {
		print_message("lftp absent, skipped\n");
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "set cmd:fail-exit yes; set xfer:clobber on; set ftp:passive-mode on; "
		 "set net:max-retries 1; "
		 "open -p %u 127.0.0.1; get /top.img -o mbt-ftp-7; cd emulab-ops; "
		 "get UBUNTU22-STD.ndz -o mbt-ftp-8; cls -1 > mbt-ftp-9; bye",
		 ftp_port);
	{
		const char *a[] = { "lftp", "-c", cmd, NULL };

		assert_int_equal(run(a), 0);
	}
	check_file("mbt-ftp-7", img2, 0);
	check_file("mbt-ftp-8", img1, 0);
}

static void
test_refusals(void **st)
{
	char out[8192];

	(void)st;
	raw_session("USER anonymous\r\nPASS x\r\nCWD ../..\r\nRETR ../../etc/passwd\r\n"
		    "PORT 127,0,0,1,4,1\r\nSTOR x\r\nSIZE /top.img\r\nQUIT\r\n",
		    out, sizeof(out));
	assert_non_null(strstr(out, "220 "));
	assert_non_null(strstr(out, "230 "));
	assert_non_null(strstr(out, "550 Failed to change directory"));
	assert_non_null(strstr(out, "550 Failed to open file"));
	assert_non_null(strstr(out, "502 Active mode"));
	assert_non_null(strstr(out, "502 Command not implemented"));
	assert_non_null(strstr(out, "213 7777\r\n"));
	assert_non_null(strstr(out, "221 "));
	/* an overlong line, then a normal command on the same session */
	{
		char big[2000];

		memset(big, 'A', sizeof(big));
		memcpy(big + sizeof(big) - 12, "\r\nNOOP\r\n", 9);
		raw_session(big, out, sizeof(out));
		assert_non_null(strstr(out, "500 Command line too long"));
		assert_non_null(strstr(out, "200 NOOP")); /* the session goes on */
	}
}

static int
setup(void **st)
{
	static const struct mb_ctl_subsys *const tab[] = { &mb_ctl_subsys_ftp };
	struct mb_config cfg;
	struct mb_image_table *tbl;
	uint8_t *bytes = malloc(300000);
	int rc;

	(void)st;
	if (access("/usr/bin/curl", X_OK) != 0)
		exit(77);
	/* The downloads land in a directory of this run (other runs on the
	 * machine use the same names). */
	if (mkdtemp(workdir) == NULL || chdir(workdir) != 0)
		return -1;
	if (mb_ctl_loop_init() != 0)
		return -1;
	rcu_register_thread();
	for (unsigned i = 0; i < 300000; i++)
		bytes[i] = (uint8_t)(i * 17 + (i >> 11));
	img1 = mb_image_new_heap("emulab-ops/UBUNTU22-STD.ndz", bytes, 300000);
	img2 = mb_image_new_heap("top.img", bytes + 5, 7777);
	img1->mtime = img2->mtime = 1700000000;
	free(bytes);
	tbl = mb_image_table_alloc(2);
	tbl->img[0] = mb_image_ref(img1);
	tbl->img[1] = mb_image_ref(img2);
	tbl->count = 2;
	mb_image_table_sort(tbl);
	mb_image_table_publish(tbl);
	if (mb_config_defaults(&cfg) != 0)
		return -1;
	cfg.ftp_port = MB_CTL_PORT_ANY;
	/* Above the kernel's ephemeral range (32768-60999 by default): a port
	 * in it can be taken by any outgoing connection on the machine, and the
	 * stand-in's bind then fails and curl gets a 425. */
	cfg.ftp_pasv_min = 61000 + (uint64_t)(getpid() % 450) * 10;
	cfg.ftp_pasv_max = cfg.ftp_pasv_min + 9;
	mbt_dp.local_addr = 0; /* PASV answers the control connection's address */
	mbt_dp.expect = ftp_expect;
	mb_ctl_dp_set(&mbt_dp_ops);
	rc = mb_ctl_core_start(&cfg, NULL, tab, 1);
	mb_config_done(&cfg);
	ftp_port = mb_ctl_ftp_port();
	return rc != 0 || ftp_port == 0 ? -1 : 0;
}

static int
teardown(void **st)
{
	(void)st;
	mb_ctl_core_stop();
	mb_ctl_loop_fini();
	mb_image_unref(img1);
	mb_image_unref(img2);
	for (int i = 1; i <= 9; i++) {
		char p[32];

		snprintf(p, sizeof(p), "mbt-ftp-%d", i);
		(void)unlink(p);
	}
	if (chdir("/") == 0)
		(void)rmdir(workdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_curl),
		cmocka_unit_test(test_lftp),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
