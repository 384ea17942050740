/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The libcurl-to-epoll adapter (ctl_curl.h), after curl's own
 * docs/examples/ephiperfifo.c: socket callbacks add, change and remove
 * loop descriptors; the timer callback re-arms one loop timer ("0" means
 * the next loop pass: curl forbids calling socket_action from inside it);
 * after every socket_action the finished transfers are read from
 * curl_multi_info_read and handed to the owner.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "ctl.h"
#include "ctl_curl.h"

#define FAR_MS (24ull * 3600 * 1000) /* "no timeout": park the timer */

struct mb_curl {
	CURLM *multi;
	struct mb_ctl_timer *timer;
	mb_curl_done_fn done;
	void *arg;
};

static void
check_done(struct mb_curl *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			c->done(msg->easy_handle, msg->data.result, c->arg);
}

static void
fd_io(int fd, uint32_t events, void *arg)
{
	struct mb_curl *c = arg;
	int flags = 0, running;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
}

static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct mb_curl *c = userp;
	uint32_t ev = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (socketp != NULL)
			(void)mb_ctl_loop_del(s);
		curl_multi_assign(c->multi, s, NULL);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EPOLLOUT;
	if (socketp == NULL) {
		if (mb_ctl_loop_add(s, ev, fd_io, c) == 0)
			curl_multi_assign(c->multi, s, (void *)1);
	} else {
		(void)mb_ctl_loop_mod(s, ev);
	}
	return 0;
}

static void
timer_fire(void *arg)
{
	struct mb_curl *c = arg;
	int running;

	(void)mb_ctl_timer_rearm(c->timer, FAR_MS, 0);
	(void)curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct mb_curl *c = userp;

	(void)m;
	(void)mb_ctl_timer_rearm(c->timer, timeout_ms < 0 ? FAR_MS : (uint64_t)timeout_ms, 0);
	return 0;
}

struct mb_curl *
mb_curl_new(mb_curl_done_fn done, void *arg)
{
	struct mb_curl *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(c);
		errno = EIO;
		return NULL;
	}
	c->done = done;
	c->arg = arg;
	c->multi = curl_multi_init();
	c->timer = mb_ctl_timer_new(FAR_MS, 0, timer_fire, c);
	if (c->multi == NULL || c->timer == NULL) {
		mb_curl_free(c);
		errno = ENOMEM;
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

void
mb_curl_free(struct mb_curl *c)
{
	if (c == NULL)
		return;
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	mb_ctl_timer_free(c->timer);
	curl_global_cleanup();
	free(c);
}

int
mb_curl_add(struct mb_curl *c, CURL *easy)
{
	return curl_multi_add_handle(c->multi, easy) == CURLM_OK ? 0 : -ENOMEM;
}

void
mb_curl_remove(struct mb_curl *c, CURL *easy)
{
	(void)curl_multi_remove_handle(c->multi, easy);
}

void
mb_curl_unpause(struct mb_curl *c, CURL *easy)
{
	(void)curl_easy_pause(easy, CURLPAUSE_CONT);
	(void)mb_ctl_timer_rearm(c->timer, 0, 0);
}
