/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SIGBUS guard for file mappings (see mb_mapguard.h).  Slots are a flat
 * array scanned by the handler; a slot is claimed by a compare-and-swap on
 * its base, so adding and removing need no lock and the handler never sees
 * a half-written slot (it checks the base again after reading the length).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mb_mapguard.h"

#define FAULT_NONE UINT64_MAX

struct slot {
	_Atomic uintptr_t base; /* 0 = free, 1 = being claimed */
	_Atomic size_t len;
	_Atomic uint64_t fault_off; /* FAULT_NONE until a fault */
};

static struct slot *slots;
static _Atomic unsigned high; /* slots in use are below this */
static int notify_fd = -1;
static struct sigaction prev_act;
static _Atomic uint64_t faults;
static uintptr_t page_size;

static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	unsigned n = atomic_load(&high);
	int saved = errno;

	for (unsigned i = 0; i < n; i++) {
		uintptr_t base = atomic_load(&slots[i].base);
		size_t len;
		uintptr_t page;
		uint64_t one = 1, off, old;

		if (base <= 1 || a < base)
			continue;
		len = atomic_load(&slots[i].len);
		if (a - base >= len || atomic_load(&slots[i].base) != base)
			continue;
		page = a & ~(page_size - 1);
		/* Zero pages from here to the end of the region: a truncated file
		 * lost everything after its new end, and one fault per page
		 * would be a storm. */
		if (mmap((void *)page, base + len - page, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			break;
		off = page - base;
		old = atomic_load(&slots[i].fault_off);
		while (off < old && !atomic_compare_exchange_weak(&slots[i].fault_off, &old, off))
			;
		atomic_fetch_add(&faults, 1);
		(void)!write(notify_fd, &one, sizeof(one));
		errno = saved;
		return;
	}
	/* Not a guarded region: the previous disposition handles it. */
	if ((prev_act.sa_flags & SA_SIGINFO) && prev_act.sa_sigaction != NULL) {
		prev_act.sa_sigaction(sig, si, uc);
	} else if (prev_act.sa_handler != SIG_DFL && prev_act.sa_handler != SIG_IGN &&
		   prev_act.sa_handler != NULL) {
		prev_act.sa_handler(sig);
	} else {
		/* Returning re-executes the access, which faults again into the
		 * default action (a core dump), as without this handler. */
		(void)sigaction(SIGBUS, &prev_act, NULL);
	}
	errno = saved;
}

static int
install(void)
{
	struct sigaction sa, cur;

	if (sigaction(SIGBUS, NULL, &cur) == -1)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &prev_act) == -1)
		return -errno;
	return 0;
}

int
mb_mapguard_init(void)
{
	void *p;
	int rc;

	if (notify_fd >= 0) {
		/* Someone replaced the handler since (a test harness does around
		 * each test): put it back, chaining to theirs. */
		rc = install();
		return rc < 0 ? rc : notify_fd;
	}
	page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
	/* Reserved, not committed: pages appear as slots are used. */
	p = mmap(NULL, sizeof(*slots) * MB_MAPGUARD_MAX, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	slots = p;
	notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (notify_fd == -1) {
		rc = -errno;
		(void)munmap(p, sizeof(*slots) * MB_MAPGUARD_MAX);
		slots = NULL;
		return rc;
	}
	rc = install();
	if (rc < 0) {
		(void)close(notify_fd);
		notify_fd = -1;
		return rc;
	}
	return notify_fd;
}

int
mb_mapguard_add(void *base, size_t len)
{
	uintptr_t b = (uintptr_t)base;

	if (slots == NULL || b <= 1 || len == 0 || (b & (page_size - 1)) != 0)
		return -EINVAL;
	len = (len + page_size - 1) & ~(page_size - 1);
	for (unsigned i = 0; i < MB_MAPGUARD_MAX; i++) {
		uintptr_t expect = 0;

		if (!atomic_compare_exchange_strong(&slots[i].base, &expect, 1))
			continue;
		atomic_store(&slots[i].len, len);
		atomic_store(&slots[i].fault_off, FAULT_NONE);
		atomic_store(&slots[i].base, b);
		for (unsigned h = atomic_load(&high); h < i + 1;)
			if (atomic_compare_exchange_weak(&high, &h, i + 1))
				break;
		return (int)i;
	}
	return -ENOSPC;
}

void
mb_mapguard_remove(int slot)
{
	if (slot < 0 || slots == NULL || (unsigned)slot >= MB_MAPGUARD_MAX)
		return;
	atomic_store(&slots[slot].base, 1); /* held while it is cleared */
	atomic_store(&slots[slot].len, 0);
	atomic_store(&slots[slot].fault_off, FAULT_NONE);
	atomic_store(&slots[slot].base, 0);
}

bool
mb_mapguard_faulted(int slot, uint64_t *ret_off)
{
	uint64_t off;

	if (slot < 0 || slots == NULL || (unsigned)slot >= MB_MAPGUARD_MAX)
		return false;
	off = atomic_load(&slots[slot].fault_off);
	if (off == FAULT_NONE)
		return false;
	if (ret_off != NULL)
		*ret_off = off;
	return true;
}

uint64_t
mb_mapguard_faults(void)
{
	return atomic_load(&faults);
}
