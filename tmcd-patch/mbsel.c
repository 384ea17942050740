/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libmbsel (see mbsel.h): the choice of image server for a node, from the
 * tables mb-healthd fills.  Every string that reaches SQL is first checked
 * against a small character set that cannot close a quote, so queries are
 * built with snprintf and no escaping; anything else is refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbsel.h"

#define SQL_MAX 2048
#define DEF_EXCLUSION 900
#define DEF_MAX_AGE 15

struct settings {
	unsigned exclusion;
	unsigned max_age;
	char ops_url[256];
	int scope_site; /* 1: a report sends the node to boss/ops */
};

int
mbsel_valid_word(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= max)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-'))
			return 0;
	}
	return n > 0;
}

int
mbsel_valid_ipv4(const char *s)
{
	struct in_addr a;
	char back[INET_ADDRSTRLEN];

	if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
		return 0;
	/* canonical form only: no leading zeros or other spellings */
	return inet_ntop(AF_INET, &a, back, sizeof(back)) != NULL && strcmp(back, s) == 0;
}

static int
valid_digits(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= max || s[n] < '0' || s[n] > '9')
			return 0;
	return n > 0;
}

/* A URL base from the settings: scheme ftp/http, then [A-Za-z0-9.:/_+-]. */
static int
valid_url_base(const char *s)
{
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "ftp://", 6) != 0)
		return 0;
	for (; *s != '\0'; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == ':' || c == '/' || c == '_' || c == '+' || c == '-'))
			return 0;
	}
	return 1;
}

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

static MYSQL_RES *
q(const struct mbsel_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static MYSQL_RES *
q(const struct mbsel_db *db, const char *fmt, ...)
{
	char sql[SQL_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return NULL;
	return db->query(db->arg, sql);
}

static int
x(const struct mbsel_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
x(const struct mbsel_db *db, const char *fmt, ...)
{
	char sql[SQL_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return -1;
	return db->exec(db->arg, sql);
}

static int
load_settings(const struct mbsel_db *db, struct settings *s)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	s->exclusion = DEF_EXCLUSION;
	s->max_age = DEF_MAX_AGE;
	s->ops_url[0] = '\0';
	s->scope_site = 1;
	res = q(db, "select name,value from miniboss_settings");
	if (res == NULL)
		return -EIO;
	while ((row = mysql_fetch_row(res)) != NULL) {
		if (row[0] == NULL || row[1] == NULL)
			continue;
		if (strcmp(row[0], "exclusion_seconds") == 0 && valid_digits(row[1], 7))
			s->exclusion = (unsigned)atoi(row[1]);
		else if (strcmp(row[0], "health_max_age") == 0 && valid_digits(row[1], 7))
			s->max_age = (unsigned)atoi(row[1]);
		else if (strcmp(row[0], "ops_url") == 0 && strlen(row[1]) < sizeof(s->ops_url) &&
			 (row[1][0] == '\0' || valid_url_base(row[1])))
			copy(s->ops_url, sizeof(s->ops_url), row[1]);
		else if (strcmp(row[0], "exclude_scope") == 0)
			s->scope_site = strcmp(row[1], "miniboss") != 0;
	}
	mysql_free_result(res);
	/* a trailing '/' would double in the URL */
	while (s->ops_url[0] != '\0' && s->ops_url[strlen(s->ops_url) - 1] == '/')
		s->ops_url[strlen(s->ops_url) - 1] = '\0';
	return 0;
}

/* The SHA-256 every miniboss agrees on for name/version, or "". */
static int
known_sha(const struct mbsel_db *db, const char *name, const char *version, char out[65])
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	out[0] = '\0';
	res = q(db,
		"select min(sha256),count(distinct sha256) from miniboss_images"
		" where name='%s' and version=%s",
		name, version);
	if (res == NULL)
		return -EIO;
	row = mysql_fetch_row(res);
	if (row != NULL && row[0] != NULL && row[1] != NULL && strcmp(row[1], "1") == 0 &&
	    strlen(row[0]) == 64)
		copy(out, 65, row[0]);
	mysql_free_result(res);
	return 0;
}

static void
fallback(struct mbsel_answer *ans, const struct settings *s, const char *name,
	 const char *boss_ip, const char *why)
{
	ans->kind = MBSEL_FALLBACK;
	copy(ans->server, sizeof(ans->server), boss_ip);
	ans->miniboss[0] = '\0';
	if (s->ops_url[0] != '\0')
		snprintf(ans->url, sizeof(ans->url), "%s/%s", s->ops_url, name);
	copy(ans->why, sizeof(ans->why), why);
}

int
mbsel_choose(const struct mbsel_db *db, const char *node, const char *pid,
	     const char *imagename, const char *version, const char *boss_ip,
	     struct mbsel_answer *ans)
{
	struct settings s;
	char site[65], name[160], excl[256];
	MYSQL_RES *res;
	MYSQL_ROW row;
	int rc;

	memset(ans, 0, sizeof(*ans));
	ans->kind = MBSEL_NONE;
	if (!mbsel_valid_word(node, 32) || !mbsel_valid_word(pid, 64) ||
	    !mbsel_valid_word(imagename, 64) || !mbsel_valid_ipv4(boss_ip)) {
		copy(ans->why, sizeof(ans->why), "input not acceptable, tmcd's own answer");
		return 0;
	}
	snprintf(name, sizeof(name), "%s/%s", pid, imagename);

	res = q(db,
		"select m.site from subbosses as s, minibosses as m"
		" where m.subboss_id=s.subboss_id and s.node_id='%s'"
		" and s.service='frisbee' and s.disabled=0",
		node);
	if (res == NULL)
		return -EIO;
	row = mysql_fetch_row(res);
	if (row == NULL || row[0] == NULL || !mbsel_valid_word(row[0], 64)) {
		mysql_free_result(res);
		copy(ans->why, sizeof(ans->why), "not served by a miniboss");
		return 0;
	}
	copy(site, sizeof(site), row[0]);
	mysql_free_result(res);

	rc = load_settings(db, &s);
	if (rc != 0)
		return rc;
	if (version != NULL && version[0] != '\0' && valid_digits(version, 10) &&
	    known_sha(db, name, version, ans->sha256) != 0)
		return -EIO;

	/* Site-wide exclusion after a report: boss/ops until it expires. */
	if (s.scope_site) {
		res = q(db,
			"select subboss_id from miniboss_exclusions where node_id='%s'"
			" and expires > unix_timestamp() limit 1",
			node);
		if (res == NULL)
			return -EIO;
		row = mysql_fetch_row(res);
		if (row != NULL) {
			char why[160];

			snprintf(why, sizeof(why), "node reported a failure of %.32s",
				 row[0] != NULL ? row[0] : "?");
			mysql_free_result(res);
			fallback(ans, &s, name, boss_ip, why);
			return 0;
		}
		mysql_free_result(res);
		excl[0] = '\0';
	} else {
		snprintf(excl, sizeof(excl),
			 " and not exists (select 1 from miniboss_exclusions as x"
			 " where x.node_id='%s' and x.subboss_id=m.subboss_id"
			 " and x.expires > unix_timestamp())",
			 node);
	}
	if (version == NULL || !valid_digits(version, 10)) {
		fallback(ans, &s, name, boss_ip, "image version unknown");
		return 0;
	}

	/* Healthy, fresh, has the version; least loaded, ties spread by node. */
	res = q(db,
		"select m.subboss_id,m.serve_ip,m.url_scheme,m.ftp_port,m.http_port,"
		"h.load_figure,i.sha256"
		" from minibosses as m, miniboss_health as h, miniboss_images as i"
		" where m.site='%s' and h.subboss_id=m.subboss_id and h.healthy=1"
		" and h.polled_at >= unix_timestamp() - %u"
		" and i.subboss_id=m.subboss_id and i.name='%s' and i.version=%s%s"
		" order by h.load_figure, crc32(concat('%s',m.subboss_id)) limit 1",
		site, s.max_age, name, version, excl, node);
	if (res == NULL)
		return -EIO;
	row = mysql_fetch_row(res);
	if (row == NULL || row[0] == NULL || row[1] == NULL || !mbsel_valid_ipv4(row[1]) ||
	    !mbsel_valid_word(row[0], 32)) {
		char why[160];

		mysql_free_result(res);
		snprintf(why, sizeof(why), "no healthy miniboss of site %.32s has %.64s:%.10s",
			 site, name, version);
		fallback(ans, &s, name, boss_ip, why);
		return 0;
	}
	ans->kind = MBSEL_MINIBOSS;
	copy(ans->miniboss, sizeof(ans->miniboss), row[0]);
	copy(ans->server, sizeof(ans->server), row[1]);
	if (row[6] != NULL && strlen(row[6]) == 64)
		copy(ans->sha256, sizeof(ans->sha256), row[6]);
	{
		int http = row[2] != NULL && strcmp(row[2], "http") == 0;
		const char *port = http ? row[4] : row[3];
		int dflt = port == NULL || strcmp(port, http ? "80" : "21") == 0;

		if (http)
			snprintf(ans->url, sizeof(ans->url), "http://%s%s%s/images/%s", row[1],
				 dflt ? "" : ":", dflt ? "" : port, name);
		else
			snprintf(ans->url, sizeof(ans->url), "ftp://%s%s%s/%s", row[1],
				 dflt ? "" : ":", dflt ? "" : port, name);
	}
	snprintf(ans->why, sizeof(ans->why), "miniboss %s (site %s, load %s)", row[0], site,
		 row[5] != NULL ? row[5] : "?");
	mysql_free_result(res);
	return 0;
}

/* Next blank-separated token of *p into buf (bounded); 0 if none or too long. */
static int
token(const char **p, char *buf, size_t len)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
		if (n + 1 >= len)
			return 0;
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	*p = s;
	return n > 0;
}

/* Image ids as nodes spell them: pid,gid,name[:v] or pid/name[:v]. */
static int
valid_imageid(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= 255)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-' || c == ',' || c == ':' ||
		      c == '/'))
			return 0;
	}
	return n > 0;
}

int
mbsel_report_failure(const struct mbsel_db *db, const char *node, const char *args,
		     char *err, size_t errlen)
{
	char server[64], imageid[256], reason[65], extra[8];
	struct settings s;
	MYSQL_RES *res;
	MYSQL_ROW row;
	char mb[33] = "";
	const char *p = args != NULL ? args : "";
	int rc;

	if (!mbsel_valid_word(node, 32)) {
		snprintf(err, errlen, "bad node id");
		return -EINVAL;
	}
	if (!token(&p, server, sizeof(server)) || !mbsel_valid_ipv4(server)) {
		snprintf(err, errlen, "usage: imageserverfail <server-ipv4> <imageid> <reason>");
		return -EINVAL;
	}
	if (!token(&p, imageid, sizeof(imageid)) || !valid_imageid(imageid)) {
		snprintf(err, errlen, "bad imageid");
		return -EINVAL;
	}
	if (!token(&p, reason, sizeof(reason)) || !mbsel_valid_word(reason, 64) ||
	    token(&p, extra, sizeof(extra))) {
		snprintf(err, errlen, "bad reason (one word of [A-Za-z0-9._+-], up to 64)");
		return -EINVAL;
	}
	rc = load_settings(db, &s);
	if (rc != 0)
		return rc;
	res = q(db, "select subboss_id from minibosses where serve_ip='%s'", server);
	if (res == NULL)
		return -EIO;
	row = mysql_fetch_row(res);
	if (row != NULL && row[0] != NULL && mbsel_valid_word(row[0], 32))
		copy(mb, sizeof(mb), row[0]);
	mysql_free_result(res);

	if (x(db,
	      "insert into miniboss_failures (node_id,server,subboss_id,imageid,reason,reported)"
	      " values ('%s','%s',%s%s%s,'%s','%s',unix_timestamp())",
	      node, server, mb[0] ? "'" : "", mb[0] ? mb : "NULL", mb[0] ? "'" : "", imageid,
	      reason) != 0)
		return -EIO;
	if (mb[0] == '\0')
		return 0; /* boss or a stranger failed: nothing to avoid */
	if (x(db,
	      "insert into miniboss_exclusions (node_id,subboss_id,created,expires,imageid,reason)"
	      " values ('%s','%s',unix_timestamp(),unix_timestamp()+%u,'%s','%s')"
	      " on duplicate key update created=values(created),expires=values(expires),"
	      "imageid=values(imageid),reason=values(reason)",
	      node, mb, s.exclusion, imageid, reason) != 0)
		return -EIO;
	return 0;
}

size_t
mbsel_format_keys(const struct mbsel_answer *ans, int vers, char *buf, size_t len)
{
	int n;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (ans->kind == MBSEL_NONE || vers < MBSEL_URL_VERSION)
		return 0;
	n = snprintf(buf, len, "%s%s%s%s", ans->url[0] ? " IMAGEURL=" : "", ans->url,
		     ans->sha256[0] ? " IMAGESHA256=" : "", ans->sha256);
	if (n < 0 || (size_t)n >= len || strchr(ans->url, '=') != NULL) {
		buf[0] = '\0'; /* never a cut or ambiguous key */
		return 0;
	}
	return (size_t)n;
}
