/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libcurl's multi interface driven by the control loop: curl's sockets are
 * watched by the loop (CURLMOPT_SOCKETFUNCTION), its one timeout is a loop
 * timer (CURLMOPT_TIMERFUNCTION), and each finished transfer is handed to
 * the owner's completion.  Nothing here blocks; the owner's callbacks
 * (write, header, completion) run on the control thread.  Used by sync
 * from ops; any other HTTP origin would use it the same way.
 */
#ifndef _MB_CTL_CURL_H_
#define _MB_CTL_CURL_H_

#include <curl/curl.h>

struct mb_curl;

/* A finished transfer: `easy` is still in the multi handle; the completion
 * removes it (mb_curl_remove) or frees it.  Control thread. */
typedef void (*mb_curl_done_fn)(CURL *easy, CURLcode result, void *arg);

/* A multi handle on the loop.  NULL with errno. */
struct mb_curl *mb_curl_new(mb_curl_done_fn done, void *arg);
/* Free the multi handle and its timer, after the caller removed its
 * transfers.  NULL is ignored. */
void mb_curl_free(struct mb_curl *c);
/* Start a transfer.  0 or -ENOMEM. */
int mb_curl_add(struct mb_curl *c, CURL *easy);
/* Stop one (safe on one not added). */
void mb_curl_remove(struct mb_curl *c, CURL *easy);
/* Resume a transfer whose write callback paused it (CURL_WRITEFUNC_PAUSE):
 * curl delivers the data it held on the next loop pass. */
void mb_curl_unpause(struct mb_curl *c, CURL *easy);

#endif /* _MB_CTL_CURL_H_ */
