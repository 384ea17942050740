/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The FTP control protocol for anonymous, read-only image downloads, without
 * DPDK or sockets: command-line parsing (RFC 959, RFC 2428 EPSV, RFC 3659
 * SIZE/MDTM/REST), path resolution confined to the image namespace, and a
 * per-client session that answers each command line with a reply and, where
 * the control glue must act (passive data port, RETR, listings, ABOR, QUIT),
 * an action.  Active mode (PORT/EPRT) is refused with 502.
 *
 * The image namespace is the set of published image names: "/" is its root,
 * an image "a/b" makes "/a" a directory.  Any path leaving it ("..", NUL,
 * overlong, names mb_image_name_valid refuses) is answered 550 and flagged in
 * the action so the caller can log it once.
 *
 * Nothing here logs; the session never blocks and allocates nothing.
 */
#ifndef _MB_FTP_H_
#define _MB_FTP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_image.h"

#define MB_FTP_LINE_MAX 512 /* longest command line accepted, CRLF included */
#define MB_FTP_REPLY_MAX 512

enum mb_ftp_cmd {
	MB_FTP_UNKNOWN = 0,
	MB_FTP_USER, MB_FTP_PASS, MB_FTP_SYST, MB_FTP_FEAT, MB_FTP_OPTS, MB_FTP_TYPE,
	MB_FTP_MODE, MB_FTP_STRU, MB_FTP_PWD, MB_FTP_CWD, MB_FTP_CDUP, MB_FTP_SIZE,
	MB_FTP_MDTM, MB_FTP_REST, MB_FTP_PASV, MB_FTP_EPSV, MB_FTP_RETR, MB_FTP_LIST,
	MB_FTP_NLST, MB_FTP_MLSD, MB_FTP_ABOR, MB_FTP_NOOP, MB_FTP_QUIT, MB_FTP_PORT,
	MB_FTP_EPRT,
};

struct mb_ftp_line {
	enum mb_ftp_cmd cmd;
	char verb[5];	 /* upper-cased */
	const char *arg; /* after one space, not NUL-terminated; NULL if none */
	size_t arg_len;
};

/* Parse one command line (without its CRLF).  Leading Telnet IAC sequences
 * (sent before ABOR) are skipped.  0, or -EINVAL for an empty, overlong or
 * control-character line, -ENOENT for an unknown verb (line->verb set). */
int mb_ftp_parse(const char *line, size_t len, struct mb_ftp_line *ret);

/* Resolve arg (absolute or relative to cwd, "" = root) into an image-namespace
 * path without leading '/' ("" for the root).  0, or -EACCES when it escapes
 * the namespace or is not a valid name, -ENAMETOOLONG. */
int mb_ftp_path_resolve(const char *cwd, const char *arg, size_t arg_len, char *out, size_t cap);

/* What the session needs to know about images (the caller's image table). */
struct mb_ftp_lookup {
	/* the published image of that exact name, or NULL */
	const struct mb_image *(*image)(void *ctx, const char *name);
	/* is `name` a directory ("" always is)? */
	bool (*is_dir)(void *ctx, const char *name);
	void *ctx;
};

struct mb_ftp_session {
	bool user_ok;
	bool logged_in;
	bool binary;
	bool epsv_all;
	bool passive; /* a PASV/EPSV port is waiting for the next transfer */
	uint64_t rest;
	char cwd[MB_IMAGE_NAME_MAX + 1];
};

enum mb_ftp_act {
	MB_FTP_ACT_NONE = 0,
	MB_FTP_ACT_PASV,  /* glue: open a port, reply with mb_ftp_reply_pasv */
	MB_FTP_ACT_EPSV,  /* glue: open a port, reply with mb_ftp_reply_epsv */
	MB_FTP_ACT_RETR,  /* glue: transfer path from offset, reply 150/226 */
	MB_FTP_ACT_LIST,  /* glue: listing of directory path (kind = cmd) */
	MB_FTP_ACT_ABOR,  /* glue: stop any transfer; the reply is in reply */
	MB_FTP_ACT_QUIT,  /* glue: send the reply, close */
};

struct mb_ftp_action {
	enum mb_ftp_act type;
	enum mb_ftp_cmd cmd;
	bool refused_path; /* a path outside the namespace was refused (log it) */
	uint64_t offset;   /* RETR: REST position */
	char path[MB_IMAGE_NAME_MAX + 1];
};

void mb_ftp_session_init(struct mb_ftp_session *s);

/* Handle one command line.  Writes the reply (CRLF-terminated, possibly
 * multi-line) into reply, empty when the action's glue replies itself
 * (PASV/EPSV/RETR/LIST).  Returns the reply length. */
size_t mb_ftp_session_input(struct mb_ftp_session *s, const struct mb_ftp_lookup *lk,
			    const char *line, size_t len, char *reply, size_t cap,
			    struct mb_ftp_action *act);

/* "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).\r\n" (addr network order)
 * and "229 Entering Extended Passive Mode (|||port|)\r\n". */
int mb_ftp_reply_pasv(uint32_t addr, uint16_t port, char *buf, size_t cap);
int mb_ftp_reply_epsv(uint16_t port, char *buf, size_t cap);

/* One listing line (CRLF-terminated) in the format of cmd (LIST: ls -l
 * style, NLST: name only, MLSD: RFC 3659 facts). */
int mb_ftp_list_entry(enum mb_ftp_cmd cmd, const char *name, bool is_dir, uint64_t size,
		      int64_t mtime, char *buf, size_t cap);

#endif /* _MB_FTP_H_ */
