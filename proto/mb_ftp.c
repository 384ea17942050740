/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * FTP command parsing, path confinement and the per-client reply logic (see
 * mb_ftp.h).  Replies follow RFC 959's codes; the texts are close to what
 * vsftpd says so that scripts written against it keep working.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mb_ftp.h"

static const struct {
	const char *verb;
	enum mb_ftp_cmd cmd;
} verbs[] = {
	{ "USER", MB_FTP_USER }, { "PASS", MB_FTP_PASS }, { "SYST", MB_FTP_SYST },
	{ "FEAT", MB_FTP_FEAT }, { "OPTS", MB_FTP_OPTS }, { "TYPE", MB_FTP_TYPE },
	{ "MODE", MB_FTP_MODE }, { "STRU", MB_FTP_STRU }, { "PWD", MB_FTP_PWD },
	{ "XPWD", MB_FTP_PWD },	 { "CWD", MB_FTP_CWD },	  { "XCWD", MB_FTP_CWD },
	{ "CDUP", MB_FTP_CDUP }, { "XCUP", MB_FTP_CDUP }, { "SIZE", MB_FTP_SIZE },
	{ "MDTM", MB_FTP_MDTM }, { "REST", MB_FTP_REST }, { "PASV", MB_FTP_PASV },
	{ "EPSV", MB_FTP_EPSV }, { "RETR", MB_FTP_RETR }, { "LIST", MB_FTP_LIST },
	{ "NLST", MB_FTP_NLST }, { "MLSD", MB_FTP_MLSD }, { "ABOR", MB_FTP_ABOR },
	{ "NOOP", MB_FTP_NOOP }, { "QUIT", MB_FTP_QUIT }, { "PORT", MB_FTP_PORT },
	{ "EPRT", MB_FTP_EPRT },
};

int
mb_ftp_parse(const char *line, size_t len, struct mb_ftp_line *l)
{
	size_t i = 0, v;

	memset(l, 0, sizeof(*l));
	/* Telnet IAC IP / IAC DM (and any IAC pair) before ABOR */
	while (i + 1 < len && (unsigned char)line[i] == 0xff)
		i += 2;
	if (len - i == 0 || len > MB_FTP_LINE_MAX - 2)
		return -EINVAL;
	for (size_t k = i; k < len; k++)
		if ((unsigned char)line[k] < 0x20 || line[k] == 0x7f)
			return -EINVAL;
	for (v = 0; v < 4 && i + v < len && line[i + v] != ' '; v++) {
		char ch = line[i + v];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
			return -EINVAL;
		l->verb[v] = (char)(ch & ~0x20);
	}
	if (v < 3 || (i + v < len && line[i + v] != ' '))
		return -EINVAL;
	if (i + v < len) {
		l->arg = line + i + v + 1;
		l->arg_len = len - i - v - 1;
	}
	for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (strcmp(verbs[k].verb, l->verb) == 0) {
			l->cmd = verbs[k].cmd;
			return 0;
		}
	return -ENOENT;
}

int
mb_ftp_path_resolve(const char *cwd, const char *arg, size_t alen, char *out, size_t cap)
{
	char buf[2 * MB_IMAGE_NAME_MAX + 4];
	size_t n = 0, i = 0;

	if (alen > MB_IMAGE_NAME_MAX + 1)
		return -ENAMETOOLONG;
	if (memchr(arg, '\0', alen) != NULL)
		return -EACCES;
	if (alen == 0 || arg[0] != '/') {
		n = strlen(cwd);
		memcpy(buf, cwd, n);
	}
	while (i < alen) {
		size_t j = i;

		while (j < alen && arg[j] != '/')
			j++;
		if (j - i == 0 || (j - i == 1 && arg[i] == '.')) {
			/* empty component or "." */
		} else if (j - i == 2 && arg[i] == '.' && arg[i + 1] == '.') {
			if (n == 0)
				return -EACCES; /* above the root */
			while (n > 0 && buf[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			if (n > 0)
				buf[n++] = '/';
			memcpy(buf + n, arg + i, j - i);
			n += j - i;
		}
		i = j + 1;
	}
	if (n > MB_IMAGE_NAME_MAX || n + 1 > cap)
		return -ENAMETOOLONG;
	if (n > 0 && !mb_image_name_valid(buf, n))
		return -EACCES;
	memcpy(out, buf, n);
	out[n] = '\0';
	return 0;
}

void
mb_ftp_session_init(struct mb_ftp_session *s)
{
	memset(s, 0, sizeof(*s));
	s->binary = true;
}

#define REPLY(...) ((size_t)snprintf(reply, cap, __VA_ARGS__))

static size_t
clamp(size_t n, size_t cap)
{
	return n >= cap ? (cap ? cap - 1 : 0) : n;
}

/* Resolve the argument (or the cwd when absent) into act->path. */
static int
resolve(struct mb_ftp_session *s, const struct mb_ftp_line *l, struct mb_ftp_action *act)
{
	int rc = mb_ftp_path_resolve(s->cwd, l->arg ? l->arg : "", l->arg ? l->arg_len : 0,
				     act->path, sizeof(act->path));

	if (rc < 0)
		act->refused_path = true;
	return rc;
}

static size_t
session_input(struct mb_ftp_session *s, const struct mb_ftp_lookup *lk, const char *line,
	      size_t len, char *reply, size_t cap, struct mb_ftp_action *act)
{
	struct mb_ftp_line l;
	const struct mb_image *img;
	int rc;

	memset(act, 0, sizeof(*act));
	rc = mb_ftp_parse(line, len, &l);
	if (rc == -EINVAL)
		return REPLY("500 Syntax error, command unrecognized.\r\n");
	act->cmd = l.cmd;
	if (rc == -ENOENT)
		return REPLY("502 Command not implemented.\r\n");
	if (!s->logged_in && l.cmd != MB_FTP_USER && l.cmd != MB_FTP_PASS &&
	    l.cmd != MB_FTP_QUIT && l.cmd != MB_FTP_FEAT && l.cmd != MB_FTP_SYST &&
	    l.cmd != MB_FTP_NOOP && l.cmd != MB_FTP_OPTS)
		return REPLY("530 Please login with USER and PASS.\r\n");

	switch (l.cmd) {
	case MB_FTP_USER:
		if (l.arg && ((l.arg_len == 9 && strncasecmp(l.arg, "anonymous", 9) == 0) ||
			      (l.arg_len == 3 && strncasecmp(l.arg, "ftp", 3) == 0))) {
			s->user_ok = true;
			s->logged_in = false;
			return REPLY("331 Please specify the password.\r\n");
		}
		s->user_ok = false;
		return REPLY("530 This server is anonymous only.\r\n");
	case MB_FTP_PASS:
		if (s->logged_in)
			return REPLY("230 Already logged in.\r\n");
		if (!s->user_ok)
			return REPLY("503 Login with USER first.\r\n");
		s->logged_in = true;
		return REPLY("230 Login successful.\r\n");
	case MB_FTP_SYST:
		return REPLY("215 UNIX Type: L8\r\n");
	case MB_FTP_FEAT:
		return REPLY("211-Features:\r\n EPSV\r\n MDTM\r\n MLSD\r\n PASV\r\n"
			     " REST STREAM\r\n SIZE\r\n UTF8\r\n"
			     " MLST type*;size*;modify*;\r\n211 End\r\n");
	case MB_FTP_OPTS:
		if (l.arg && l.arg_len >= 4 && strncasecmp(l.arg, "UTF8", 4) == 0 &&
		    (l.arg_len == 4 || (l.arg_len == 7 && strncasecmp(l.arg + 4, " ON", 3) == 0)))
			return REPLY("200 Always in UTF8 mode.\r\n");
		return REPLY("501 Option not understood.\r\n");
	case MB_FTP_TYPE:
		if (l.arg && l.arg_len >= 1 && (l.arg[0] == 'I' || l.arg[0] == 'i') &&
		    l.arg_len == 1) {
			s->binary = true;
			return REPLY("200 Switching to Binary mode.\r\n");
		}
		if (l.arg && l.arg_len == 3 && strncasecmp(l.arg, "L 8", 3) == 0) {
			s->binary = true;
			return REPLY("200 Switching to Binary mode.\r\n");
		}
		if (l.arg && (l.arg_len == 1 || (l.arg_len == 3 && strncasecmp(l.arg + 1, " N", 2)
						  == 0)) && (l.arg[0] == 'A' || l.arg[0] == 'a')) {
			s->binary = false;
			return REPLY("200 Switching to ASCII mode.\r\n");
		}
		return REPLY("504 Command not implemented for that parameter.\r\n");
	case MB_FTP_MODE:
		if (l.arg && l.arg_len == 1 && (l.arg[0] == 'S' || l.arg[0] == 's'))
			return REPLY("200 Mode set to S.\r\n");
		return REPLY("504 Only stream mode is supported.\r\n");
	case MB_FTP_STRU:
		if (l.arg && l.arg_len == 1 && (l.arg[0] == 'F' || l.arg[0] == 'f'))
			return REPLY("200 Structure set to F.\r\n");
		return REPLY("504 Only file structure is supported.\r\n");
	case MB_FTP_PWD:
		return REPLY("257 \"/%s\" is the current directory\r\n", s->cwd);
	case MB_FTP_CWD:
	case MB_FTP_CDUP:
		if (l.cmd == MB_FTP_CDUP) {
			l.arg = "..";
			l.arg_len = 2;
		}
		if (!l.arg)
			return REPLY("501 CWD needs a directory.\r\n");
		if (resolve(s, &l, act) < 0)
			return REPLY("550 Failed to change directory.\r\n");
		if (act->path[0] != '\0' && !lk->is_dir(lk->ctx, act->path))
			return REPLY("550 Failed to change directory.\r\n");
		memcpy(s->cwd, act->path, strlen(act->path) + 1);
		return REPLY("250 Directory successfully changed.\r\n");
	case MB_FTP_SIZE:
	case MB_FTP_MDTM:
		if (!l.arg || resolve(s, &l, act) < 0 ||
		    (img = lk->image(lk->ctx, act->path)) == NULL)
			return REPLY("550 Could not get file %s.\r\n",
				     l.cmd == MB_FTP_SIZE ? "size" : "modification time");
		if (l.cmd == MB_FTP_SIZE)
			return REPLY("213 %" PRIu64 "\r\n", img->size);
		{
			struct tm tm;
			time_t t = (time_t)img->mtime;
			char ts[32];

			if (gmtime_r(&t, &tm) == NULL)
				return REPLY("550 Could not get file modification time.\r\n");
			strftime(ts, sizeof(ts), "%Y%m%d%H%M%S", &tm);
			return REPLY("213 %s\r\n", ts);
		}
	case MB_FTP_REST: {
		uint64_t v = 0;

		if (!l.arg || l.arg_len == 0 || l.arg_len > 19)
			return REPLY("501 REST needs a byte offset.\r\n");
		for (size_t i = 0; i < l.arg_len; i++) {
			if (l.arg[i] < '0' || l.arg[i] > '9')
				return REPLY("501 REST needs a byte offset.\r\n");
			v = v * 10 + (uint64_t)(l.arg[i] - '0');
		}
		s->rest = v;
		return REPLY("350 Restart position accepted (%" PRIu64 ").\r\n", v);
	}
	case MB_FTP_PASV:
		if (s->epsv_all)
			return REPLY("501 PASV not allowed after EPSV ALL.\r\n");
		act->type = MB_FTP_ACT_PASV;
		s->passive = true;
		return 0;
	case MB_FTP_EPSV:
		if (l.arg && l.arg_len == 3 && strncasecmp(l.arg, "ALL", 3) == 0) {
			s->epsv_all = true;
			return REPLY("200 EPSV ALL ok.\r\n");
		}
		if (l.arg && !(l.arg_len == 1 && l.arg[0] == '1'))
			return REPLY("522 Network protocol not supported, use (1)\r\n");
		act->type = MB_FTP_ACT_EPSV;
		s->passive = true;
		return 0;
	case MB_FTP_RETR:
		if (!l.arg || resolve(s, &l, act) < 0 ||
		    (img = lk->image(lk->ctx, act->path)) == NULL) {
			s->rest = 0;
			return REPLY("550 Failed to open file.\r\n");
		}
		if (!s->passive)
			return REPLY("425 Use PASV or EPSV first.\r\n");
		if (s->rest > img->size) {
			s->rest = 0;
			return REPLY("554 Restart position beyond the end of the file.\r\n");
		}
		act->type = MB_FTP_ACT_RETR;
		act->offset = s->rest;
		s->rest = 0;
		s->passive = false;
		return 0;
	case MB_FTP_LIST:
	case MB_FTP_NLST:
	case MB_FTP_MLSD:
		/* "LIST -la" and friends: options are ignored */
		if (l.arg && l.arg_len > 0 && l.arg[0] == '-' && l.cmd != MB_FTP_MLSD) {
			const char *sp = memchr(l.arg, ' ', l.arg_len);

			if (sp == NULL) {
				l.arg = NULL;
			} else {
				l.arg_len -= (size_t)(sp + 1 - l.arg);
				l.arg = sp + 1;
			}
		}
		if (resolve(s, &l, act) < 0)
			return REPLY("550 Permission denied.\r\n");
		if (act->path[0] != '\0' && !lk->is_dir(lk->ctx, act->path) &&
		    (l.cmd == MB_FTP_MLSD || lk->image(lk->ctx, act->path) == NULL))
			return REPLY("550 No such directory.\r\n");
		if (!s->passive)
			return REPLY("425 Use PASV or EPSV first.\r\n");
		act->type = MB_FTP_ACT_LIST;
		s->passive = false;
		return 0;
	case MB_FTP_ABOR:
		act->type = MB_FTP_ACT_ABOR;
		s->passive = false;
		return REPLY("226 Abort successful.\r\n");
	case MB_FTP_NOOP:
		return REPLY("200 NOOP ok.\r\n");
	case MB_FTP_QUIT:
		act->type = MB_FTP_ACT_QUIT;
		return REPLY("221 Goodbye.\r\n");
	case MB_FTP_PORT:
	case MB_FTP_EPRT:
		return REPLY("502 Active mode is not supported; use PASV or EPSV.\r\n");
	default:
		return REPLY("502 Command not implemented.\r\n");
	}
}

size_t
mb_ftp_session_input(struct mb_ftp_session *s, const struct mb_ftp_lookup *lk, const char *line,
		     size_t len, char *reply, size_t cap, struct mb_ftp_action *act)
{
	return clamp(session_input(s, lk, line, len, reply, cap, act), cap);
}

int
mb_ftp_reply_pasv(uint32_t addr, uint16_t port, char *buf, size_t cap)
{
	const uint8_t *a = (const uint8_t *)&addr;
	int n = snprintf(buf, cap, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).\r\n", a[0], a[1],
			 a[2], a[3], port >> 8, port & 0xff);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int
mb_ftp_reply_epsv(uint16_t port, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "229 Entering Extended Passive Mode (|||%u|)\r\n", port);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int
mb_ftp_list_entry(enum mb_ftp_cmd cmd, const char *name, bool is_dir, uint64_t size,
		  int64_t mtime, char *buf, size_t cap)
{
	struct tm tm;
	time_t t = (time_t)mtime;
	char ts[32];
	int n;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	switch (cmd) {
	case MB_FTP_NLST:
		n = snprintf(buf, cap, "%s\r\n", name);
		break;
	case MB_FTP_MLSD:
		strftime(ts, sizeof(ts), "%Y%m%d%H%M%S", &tm);
		if (is_dir)
			n = snprintf(buf, cap, "type=dir;modify=%s; %s\r\n", ts, name);
		else
			n = snprintf(buf, cap, "type=file;size=%" PRIu64 ";modify=%s; %s\r\n", size,
				     ts, name);
		break;
	default:
		strftime(ts, sizeof(ts), "%b %d %Y", &tm);
		n = snprintf(buf, cap, "%s 1 ftp ftp %12" PRIu64 " %s %s\r\n",
			     is_dir ? "dr-xr-xr-x" : "-r--r--r--", is_dir ? (uint64_t)0 : size, ts,
			     name);
		break;
	}
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}
