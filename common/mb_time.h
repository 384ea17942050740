/* SPDX-License-Identifier: BSD-3-Clause */
/* Monotonic and wall clocks in nanoseconds, without DPDK. */
#ifndef _MB_TIME_H_
#define _MB_TIME_H_

#include <stdint.h>
#include <time.h>

#define MB_NS_PER_SEC 1000000000ULL
#define MB_NS_PER_MS 1000000ULL
#define MB_NS_PER_US 1000ULL

static inline uint64_t
mb_time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * MB_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
mb_time_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * MB_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif /* _MB_TIME_H_ */
