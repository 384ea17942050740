/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The calls tmcd.c makes into libmbsel (the hooks apply-tmcd-patch inserts).
 * This header names no MySQL type, so tmcd.c needs nothing else to use it.
 * The functions run on tmcd's own database connection (its mydb_query and
 * mydb_update) and log with tmcd's info()/error(); they never touch the
 * network.
 */
#ifndef _MBSEL_TMCD_H_
#define _MBSEL_TMCD_H_

#include <stddef.h>

/* Room for the keys mbsel_tmcd_loadinfo adds to one loadinfo line. */
#define MBSEL_TMCD_KEYS_MAX 1024

/*
 * For one loadinfo line of a local node (the physical node for a vnode):
 * when the node is served by minibosses, overwrite `server` (tmcd's
 * SERVER= value, serverlen bytes) with the chosen miniboss, or with boss_ip
 * after a failure report or when no miniboss qualifies, and write the
 * protocol-41 keys (" IMAGEURL=... IMAGESHA256=...") into keys, which is
 * empty otherwise and always for vers < 41.  pid, imagename and version
 * are the image's (NULL allowed).  On a database error tmcd's answer stays.
 */
void mbsel_tmcd_loadinfo(const char *node, int vers, const char *pid, const char *imagename,
			 const char *version, const char *boss_ip, char *server,
			 size_t serverlen, char *keys, size_t keyslen);

/*
 * `imageserverfail <server> <imageid> <reason>` from node: record it and
 * write the reply line into reply ("STATUS=recorded\n", or "STATUS=refused
 * WHY=...\n" for bad arguments, "STATUS=failed\n" on a database error).
 * Returns 0 when recorded, non-zero otherwise (tmcd's handler convention).
 */
int mbsel_tmcd_imageserverfail(const char *node, const char *args, char *reply,
			       size_t replylen);

#endif /* _MBSEL_TMCD_H_ */
