/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * minibossd: options, configuration, EAL, threads, signals, shutdown.
 *
 *   minibossd [EAL options] -- [-c FILE] [-d] [-n]
 *
 * -n loads and validates the configuration and exits (0 "configuration OK",
 * 1 with the error) without starting EAL; -d logs at debug level.  With no
 * EAL options on the command line the `eal-args` key supplies them.  The
 * process never daemonizes (systemd or the shell does that) and writes
 * nothing but the state directory and the control socket (and what EAL
 * itself keeps under its runtime directory).
 *
 * Threads: the main lcore runs the dataplane loop, worker lcores too; one
 * DPDK control thread runs the control plane (control/ctl.c), which also
 * reads the signals, blocked here before rte_eal_init so every EAL thread
 * inherits the mask.  Fatal exits happen only before "ready".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "dp.h"
#include "mb_config.h"
#include "mb_log.h"

#define DEFAULT_CONFIG "/etc/miniboss/miniboss.conf"
#define MAX_EAL_ARGS 64

RTE_LOG_REGISTER(mb_logtype_main, user.miniboss.main, INFO);
RTE_LOG_REGISTER(mb_logtype_cfg, user.miniboss.cfg, INFO);
RTE_LOG_REGISTER(mb_logtype_ctl, user.miniboss.ctl, INFO);
RTE_LOG_REGISTER(mb_logtype_dp, user.miniboss.dp, INFO);
RTE_LOG_REGISTER(mb_logtype_fris, user.miniboss.fris, INFO);
RTE_LOG_REGISTER(mb_logtype_tcp, user.miniboss.tcp, INFO);
RTE_LOG_REGISTER(mb_logtype_sync, user.miniboss.sync, INFO);
RTE_LOG_REGISTER(mb_logtype_store, user.miniboss.store, INFO);

static int
logtype_of(enum mb_log_module mod)
{
	switch (mod) {
	case MB_MOD_CFG:
		return mb_logtype_cfg;
	case MB_MOD_CTL:
		return mb_logtype_ctl;
	case MB_MOD_DP:
		return mb_logtype_dp;
	case MB_MOD_FRIS:
		return mb_logtype_fris;
	case MB_MOD_TCP:
		return mb_logtype_tcp;
	case MB_MOD_SYNC:
		return mb_logtype_sync;
	case MB_MOD_STORE:
		return mb_logtype_store;
	default:
		return mb_logtype_main;
	}
}

/* MB_LOG after EAL init: one rte_log line "minibossd: <module>: msg". */
static void
rte_sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt, va_list ap)
{
	char buf[1024];
	int type = logtype_of(mod);

	if (!rte_log_can_log((uint32_t)type, (uint32_t)level))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	rte_log((uint32_t)level, (uint32_t)type, "minibossd: %s: %s%s\n", mb_log_module_name(mod),
	        level <= MB_LOG_ERR ? "error: " : (level == MB_LOG_WARNING ? "warning: " : ""),
	        buf);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: minibossd [EAL options] -- [-c FILE] [-d] [-n] [-E] [-V]\n"
	           "  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
	           "  -d       debug log level (runs in the foreground, as always)\n"
	           "  -n       check the configuration and exit\n"
	           "  -E       print every configuration key with its default and help\n"
	           "  -V       print the version and exit\n");
}

/*
 * Raise the open-descriptor limit (RLIMIT_NOFILE) before anything opens
 * descriptors: a distribution's default soft limit of 1024 is less than the
 * client limits add up to.  The target is server.open-files, but never less
 * than what the limits need: master-server and FTP control connections,
 * control clients, sync transfers, and a reserve for EAL (hugepage
 * segments, telemetry), the event loop, the store and the exception TAP.
 * The soft limit goes up to the target, the hard one too when we may
 * (root); otherwise as high as the hard limit allows, with a warning when
 * that is below the need.  Never lowers a limit.
 */
static void
raise_nofile(const struct mb_config *cfg)
{
	uint64_t need = 256 + 256 + cfg->max_control_clients + 4 * cfg->sync_concurrency + 512;
	uint64_t want = cfg->open_files > need ? cfg->open_files : need;
	struct rlimit rl, nrl;
	rlim_t old;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	old = rl.rlim_cur;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= want)
		return;
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	nrl = rl;
	nrl.rlim_cur = (rlim_t)want;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		nrl.rlim_max = (rlim_t)want;
	if (setrlimit(RLIMIT_NOFILE, &nrl) == -1) {
		/* Not allowed to raise the hard limit: as far as it goes. */
		nrl.rlim_cur = rl.rlim_max;
		nrl.rlim_max = rl.rlim_max;
		if (nrl.rlim_cur <= old || setrlimit(RLIMIT_NOFILE, &nrl) == -1)
			nrl.rlim_cur = old;
	}
	if (nrl.rlim_cur < need)
		MB_LOG(WARNING, MAIN, "open-descriptor limit %llu is below the %llu the client "
		       "limits need (hard limit %llu), continuing", (unsigned long long)nrl.rlim_cur,
		       (unsigned long long)need, (unsigned long long)rl.rlim_max);
	else if (nrl.rlim_cur != old)
		MB_LOG(INFO, MAIN, "open-descriptor limit raised from %llu to %llu",
		       (unsigned long long)old, (unsigned long long)nrl.rlim_cur);
}

/* Split `s` on spaces into argv (pointers into a strdup kept by the caller). */
static int
split_args(char *s, char **argv, int max)
{
	int n = 0;

	for (char *tok = strtok(s, " \t"); tok != NULL; tok = strtok(NULL, " \t")) {
		if (n == max)
			return -E2BIG;
		argv[n++] = tok;
	}
	return n;
}

int
main(int argc, char **argv)
{
	const char *config_path = DEFAULT_CONFIG;
	char *eal_argv[MAX_EAL_ARGS + 2];
	char err[MB_CFG_ERRLEN] = "";
	struct mb_config cfg;
	char *eal_copy = NULL;
	bool check_only = false, debug = false;
	int eal_argc = 0, app_start = 1, opt, rc, status = 0;
	sigset_t set;

	/* Everything before "--" is EAL's; without "--" all options are ours. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			app_start = i + 1;
			break;
		}
	}
	eal_argv[eal_argc++] = argv[0];
	for (int i = 1; i < app_start - 1 && eal_argc <= MAX_EAL_ARGS; i++)
		eal_argv[eal_argc++] = argv[i];

	argv[app_start - 1] = argv[0];
	optind = 1;
	while ((opt = getopt(argc - app_start + 1, argv + app_start - 1, "c:dnhEV")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'n':
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'E':
			mb_config_print_example(stdout);
			return 0;
		case 'V':
#ifdef MB_FAULT_HOOKS
			printf("minibossd %s (test build: fault hooks)\n", MB_VERSION);
#else
			printf("minibossd %s\n", MB_VERSION);
#endif
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - app_start + 1) {
		usage(stderr);
		return 2;
	}

	if (debug)
		mb_log_set_level(MB_LOG_DEBUG);
	rc = mb_config_defaults(&cfg);
	if (rc == 0)
		rc = mb_config_load_file(&cfg, config_path, err, sizeof(err));
	if (rc == 0)
		rc = mb_config_validate(&cfg, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "minibossd: %s\n", err[0] ? err : strerror(-rc));
		mb_config_done(&cfg);
		return 1;
	}
	if (check_only) {
		printf("configuration OK\n");
		mb_config_done(&cfg);
		return 0;
	}
	if (!debug) {
		int lvl = mb_log_level_parse(cfg.log_level);

		if (lvl > 0)
			mb_log_set_level((enum mb_log_level)lvl);
	}

	if (eal_argc == 1 && cfg.eal_args[0] != '\0') {
		eal_copy = strdup(cfg.eal_args);
		if (eal_copy == NULL)
			return 1;
		rc = split_args(eal_copy, eal_argv + 1, MAX_EAL_ARGS);
		if (rc < 0) {
			fprintf(stderr, "minibossd: eal-args: too many arguments\n");
			return 1;
		}
		eal_argc += rc;
	}
	eal_argv[eal_argc] = NULL;
	raise_nofile(&cfg);

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		fprintf(stderr, "minibossd: cannot block signals\n");
		return 1;
	}

	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0) {
		fprintf(stderr, "minibossd: EAL initialisation failed: %s\n",
		        rte_strerror(rte_errno));
		return 1;
	}
	(void)rte_openlog_stream(stderr);
	mb_log_set_sink(rte_sink);
	(void)rte_log_set_level_pattern("user.miniboss.*", (uint32_t)mb_log_get_level());
	mb_ctl_keep_debug(debug);

	rc = mb_dp_init(&cfg);
	if (rc != 0) {
		MB_LOG(CRIT, MAIN, "dataplane initialisation failed: %s", strerror(-rc));
		status = 1;
		goto out_eal;
	}
	rc = mb_ctl_start(&cfg, config_path);
	if (rc != 0) {
		MB_LOG(CRIT, MAIN, "control thread failed to start: %s", strerror(-rc));
		status = 1;
		goto out_dp;
	}
	rc = rte_eal_mp_remote_launch(mb_dp_lcore_main, NULL, SKIP_MAIN);
	if (rc != 0) {
		MB_LOG(CRIT, MAIN, "cannot launch the dataplane lcores: %s", strerror(-rc));
		mb_dp_stop();
		status = 1;
		goto out_ctl;
	}
	MB_LOG(NOTICE, MAIN, "ready");
	rc = mb_dp_lcore_main(NULL);
	if (rc != 0 || !mb_ctl_quit_requested()) {
		MB_LOG(ERR, MAIN, "dataplane loop ended unexpectedly (%d), shutting down", rc);
		mb_dp_stop();
		status = 1;
	}
out_ctl:
	rte_eal_mp_wait_lcore();
	mb_ctl_stop();
out_dp:
	mb_dp_fini();
out_eal:
	mb_config_done(&cfg);
	free(eal_copy);
	MB_LOG(NOTICE, MAIN, "stopped");
	mb_log_set_sink(NULL);
	(void)rte_eal_cleanup();
	return status;
}
