/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane on a thread of its own for tests whose main thread plays
 * the clients (ctl_fakes.h): registered as an RCU reader, the real loop and
 * subsystem table, the fake dataplane in place of the real one, exactly as
 * the daemon's control thread runs them; and the published image table such
 * a test serves from.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_priv.h"
#include "mb_image.h"
#include "mb_time.h"

static struct {
	const struct mb_config *cfg;
	const struct mb_ctl_subsys *const *tab;
	size_t n;
	pthread_t thread;
	_Atomic int state; /* 0 starting, 1 running, -1 failed */
} T;

static void *
thread_main(void *arg)
{
	(void)arg;
	rcu_register_thread();
	if (mb_ctl_loop_init() != 0)
		goto fail;
	mb_ctl_loop_set_rcu(true);
	mbt_dp.local_addr = htonl(INADDR_LOOPBACK);
	mb_ctl_dp_set(&mbt_dp_ops);
	if (mb_ctl_core_start(T.cfg, NULL, T.tab, T.n) != 0) {
		mb_ctl_loop_fini();
		goto fail;
	}
	atomic_store(&T.state, 1);
	(void)mb_ctl_loop_run();
	mb_ctl_core_stop();
	mb_ctl_loop_fini();
	rcu_unregister_thread();
	return NULL;
fail:
	rcu_unregister_thread();
	atomic_store(&T.state, -1);
	return NULL;
}

int
mbt_ctl_thread_start(const struct mb_config *cfg, const struct mb_ctl_subsys *const *tab,
		     size_t n, pthread_t *ret_thread)
{
	uint64_t end = mb_time_mono_ns() + 10 * MB_NS_PER_SEC;

	T.cfg = cfg;
	T.tab = tab;
	T.n = n;
	atomic_store(&T.state, 0);
	if (pthread_create(&T.thread, NULL, thread_main, NULL) != 0)
		return -1;
	while (atomic_load(&T.state) == 0 && mb_time_mono_ns() < end)
		usleep(1000);
	if (atomic_load(&T.state) != 1) {
		mb_ctl_loop_stop();
		pthread_join(T.thread, NULL);
		return -1;
	}
	if (ret_thread != NULL)
		*ret_thread = T.thread;
	return 0;
}

void
mbt_ctl_thread_stop(void)
{
	mb_ctl_loop_stop();
	pthread_join(T.thread, NULL);
}

int
mbt_heap_images_publish(const char *const *names, size_t n, size_t size)
{
	struct mb_image_table *tbl;
	void *bytes = calloc(1, size != 0 ? size : 1);
	int rc = -1;

	rcu_register_thread();
	tbl = mb_image_table_alloc((uint32_t)n);
	if (bytes == NULL || tbl == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		tbl->img[i] = mb_image_new_heap(names[i], bytes, size);
		if (tbl->img[i] == NULL)
			goto out;
		tbl->count++;
	}
	mb_image_table_sort(tbl);
	mb_image_table_publish(tbl);
	tbl = NULL;
	rc = 0;
out:
	for (uint32_t i = 0; tbl != NULL && i < tbl->count; i++)
		mb_image_unref(tbl->img[i]);
	free(tbl);
	free(bytes);
	rcu_thread_offline();
	return rc;
}

void
mbt_heap_images_unpublish(void)
{
	rcu_thread_online();
	mb_image_table_publish(NULL);
	rcu_thread_offline();
	rcu_barrier();
	rcu_unregister_thread();
}
