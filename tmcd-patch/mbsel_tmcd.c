/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libmbsel on tmcd's database connection: struct mbsel_db over tmcd's
 * mydb_query()/mydb_update() (exported by tmcd.c; mb-tmcd provides the same
 * two functions), and the two hooks of mbsel_tmcd.h.  Logging goes through
 * tmcd's info()/error().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mbsel.h"
#include "mbsel_tmcd.h"

/* tmcd.c's (non-static) database functions and log. */
MYSQL_RES *mydb_query(char *query, int ncols, ...);
int mydb_update(char *query, ...);
void info(const char *fmt, ...);
void error(const char *fmt, ...);

static MYSQL_RES *
tmcd_query(void *arg, const char *sql)
{
	(void)arg;
	return mydb_query("%s", 0, sql);
}

static int
tmcd_exec(void *arg, const char *sql)
{
	(void)arg;
	return mydb_update("%s", sql) == 0 ? 0 : -1;
}

static const struct mbsel_db tmcd_db = { tmcd_query, tmcd_exec, NULL };

void
mbsel_tmcd_loadinfo(const char *node, int vers, const char *pid, const char *imagename,
		    const char *version, const char *boss_ip, char *server, size_t serverlen,
		    char *keys, size_t keyslen)
{
	struct mbsel_answer ans;

	if (keyslen > 0)
		keys[0] = '\0';
	if (mbsel_choose(&tmcd_db, node, pid, imagename, version, boss_ip, &ans) != 0) {
		error("miniboss: %s: database error choosing a server, keeping %s\n", node,
		      server);
		return;
	}
	if (ans.kind == MBSEL_NONE)
		return;
	if (strlen(ans.server) >= serverlen) {
		error("miniboss: %s: server buffer too small, keeping %s\n", node, server);
		return;
	}
	snprintf(server, serverlen, "%s", ans.server);
	(void)mbsel_format_keys(&ans, vers, keys, keyslen);
	info("miniboss: %s: %s/%s:%s from %s: %s\n", node, pid ? pid : "?",
	     imagename ? imagename : "?", version ? version : "?", ans.server, ans.why);
}

int
mbsel_tmcd_imageserverfail(const char *node, const char *args, char *reply,
			   size_t replylen)
{
	char err[160] = "";
	int rc = mbsel_report_failure(&tmcd_db, node, args, err, sizeof(err));

	if (rc == 0) {
		info("miniboss: %s: imageserverfail %s\n", node, args);
		snprintf(reply, replylen, "STATUS=recorded\n");
		return 0;
	}
	if (rc == -EINVAL) {
		char why[160];
		size_t i;

		/* One token for the reply: blanks become '_'. */
		for (i = 0; err[i] != '\0' && i < sizeof(why) - 1; i++)
			why[i] = (err[i] == ' ' || err[i] == '=') ? '_' : err[i];
		why[i] = '\0';
		error("miniboss: %s: imageserverfail refused: %s\n", node, err);
		snprintf(reply, replylen, "STATUS=refused WHY=%s\n", why);
		return 1;
	}
	error("miniboss: %s: imageserverfail: database error\n", node);
	snprintf(reply, replylen, "STATUS=failed\n");
	return 1;
}
