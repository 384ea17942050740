/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scope-bound cleanup for control-plane code (systemd's _cleanup_ idiom).
 * Not for dataplane code: there, DPDK's explicit goto-unwind style applies.
 */
#ifndef _MB_CLEANUP_H_
#define _MB_CLEANUP_H_

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void
mb_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(mb_freep)

static inline void
mb_closep(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
}
#define _cleanup_close_ _cleanup_(mb_closep)

static inline void
mb_fclosep(FILE **f)
{
	if (*f != NULL)
		(void)fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(mb_fclosep)

/* Hand ownership out of a cleanup-scoped variable. */
#define MB_TAKE_PTR(p) ({ __typeof__(p) _tp = (p); (p) = NULL; _tp; })
#define MB_TAKE_FD(fd) ({ int _tf = (fd); (fd) = -1; _tf; })

#define MB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* _MB_CLEANUP_H_ */
