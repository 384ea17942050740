/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libmbsel: which server a node loads an image from, decided from what
 * mb-healthd wrote into boss's database (miniboss.sql).  It never touches
 * the network and never waits on anything but its own SQL queries, so tmcd
 * can call it while it answers `loadinfo`.
 *
 * For a node and the image version it must load:
 *   - the node is not served by minibosses (no non-disabled subbosses row
 *     for service 'frisbee' naming a miniboss): MBSEL_NONE, tmcd keeps its
 *     own answer;
 *   - else a miniboss of the node's site that is healthy (a fresh poll that
 *     said ok or degraded), serves that image name and version, and is not
 *     excluded for the node; the least loaded one, ties spread by node:
 *     MBSEL_MINIBOSS with its serving address and an ftp:// or http:// URL;
 *   - else MBSEL_FALLBACK: boss for Frisbee and the ops URL (if configured).
 *
 * A node's `imageserverfail` report (mbsel_report_failure) excludes it from
 * the miniboss it names (by default from every miniboss of its site) for
 * exclusion_seconds.
 *
 * The library reaches the database only through struct mbsel_db, so tmcd
 * (mbsel_tmcd.c, over tmcd's own connection) and the tests use the same
 * code.  It does not log; reasons come back as text.  Not thread-safe per
 * connection (tmcd is one process per request).
 */
#ifndef _MBSEL_H_
#define _MBSEL_H_

#include <stddef.h>

#include <mysql.h>

struct mbsel_db {
	/* Run a SELECT; NULL on error.  The result belongs to the caller. */
	MYSQL_RES *(*query)(void *arg, const char *sql);
	/* Run a statement; 0 on success. */
	int (*exec)(void *arg, const char *sql);
	void *arg;
};

enum mbsel_kind {
	MBSEL_NONE = 0,	/* not a miniboss node: keep tmcd's answer */
	MBSEL_MINIBOSS, /* load from the chosen miniboss */
	MBSEL_FALLBACK, /* load from boss (Frisbee) / ops (URL) */
};

#define MBSEL_URL_MAX 512

struct mbsel_answer {
	enum mbsel_kind kind;
	char server[16];	   /* dotted quad for SERVER= */
	char url[MBSEL_URL_MAX];   /* ftp:// or http:// URL, "" = none */
	char sha256[65];	   /* SHA-256 of the image file, "" = unknown */
	char miniboss[33];	   /* subboss_id of the choice, "" for boss */
	char why[160];		   /* a line for tmcd's log */
};

/*
 * Choose where `node` loads image pid/imagename version `version` (decimal
 * text; NULL or "" = whatever version a miniboss has is not acceptable, so
 * only an exact match counts and an unknown version never names a
 * miniboss).  boss_ip is the dotted quad of boss's Frisbee master server.
 * Returns 0 with *ans filled (kind MBSEL_NONE on bad input too), or -EIO
 * when the database failed (then *ans says MBSEL_NONE).
 */
int mbsel_choose(const struct mbsel_db *db, const char *node, const char *pid,
		 const char *imagename, const char *version, const char *boss_ip,
		 struct mbsel_answer *ans);

/*
 * Record `imageserverfail <server> <imageid> <reason>` from `node`: a row
 * in miniboss_failures, and, when server is a miniboss's serving address,
 * an exclusion of that miniboss for the node until now + exclusion_seconds.
 * args is the request's argument text (tokens separated by blanks).
 * Returns 0, -EINVAL (bad arguments; err says why) or -EIO.
 */
int mbsel_report_failure(const struct mbsel_db *db, const char *node, const char *args,
			 char *err, size_t errlen);

/* The protocol-41 keys for an answer (" IMAGEURL=... IMAGESHA256=..."),
 * empty for MBSEL_NONE or vers < 41.  Returns the length written. */
size_t mbsel_format_keys(const struct mbsel_answer *ans, int vers, char *buf, size_t len);

/* Input checks, exported for tests. */
int mbsel_valid_word(const char *s, size_t max);   /* [A-Za-z0-9._+-], 1..max */
int mbsel_valid_ipv4(const char *s);		   /* dotted quad */

/* First protocol version that gets the URL keys. */
#define MBSEL_URL_VERSION 41

#endif /* _MBSEL_H_ */
