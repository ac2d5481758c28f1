/* SPDX-License-Identifier: MIT */
/*
 * sigbus.c - shared mappings that another process truncates.
 *
 * Anyone allowed to write a shared-memory object can ftruncate() it; from
 * then on every access of the lost pages in every process that maps it
 * raises SIGBUS, which kills by default. A library must not let a peer kill
 * its user that way, so the mappings of pipes are guarded: a SIGBUS whose
 * address lies in a guarded range replaces the whole range with private
 * zero pages (mmap MAP_FIXED, one system call, safe in a signal handler on
 * Linux) and raises the range's flag; the faulting instruction then runs
 * again on the zero pages and the library, which checks the flag, reports
 * -EBADMSG. Every other SIGBUS goes to the handler that was installed
 * before ours (or, if that was the default, kills as it would have).
 *
 * The handler is installed once, at the first guard, with SA_SIGINFO and
 * SA_ONSTACK. A program that installs its own SIGBUS handler later must
 * call the previous one for addresses it does not know, as ours does.
 *
 * The table is a fixed array of atomics so the handler needs no lock:
 * state 0 free, 1 being filled or emptied, 2 in use (release/acquire).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#define GUARDS 1024

static struct guard {
	_Atomic int state;
	_Atomic uintptr_t start;
	_Atomic size_t len;
	_Atomic(_Atomic int *) flag;
} guards[GUARDS];

static struct sigaction previous;
static pthread_once_t installed = PTHREAD_ONCE_INIT;
static int install_error;

static void on_sigbus(int sig, siginfo_t *info, void *ctx)
{
	uintptr_t a = (uintptr_t)info->si_addr;
	for (int i = 0; i < GUARDS; i++) {
		struct guard *g = &guards[i];
		if (atomic_load_explicit(&g->state, memory_order_acquire) != 2)
			continue;
		uintptr_t start = atomic_load(&g->start);
		size_t len = atomic_load(&g->len);
		if (a - start >= len)
			continue;
		int saved = errno;
		void *m = mmap((void *)start, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		errno = saved;
		if (m == MAP_FAILED)
			break; /* cannot repair: die as we would have */
		atomic_store(atomic_load(&g->flag), 1);
		return;
	}
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, info, ctx);
	} else if (previous.sa_handler != SIG_DFL &&
		   previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
	} else {
		/* The default: on return the access faults again and the
		 * kernel kills the process with SIGBUS, as without us. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigaction(SIGBUS, &dfl, NULL);
	}
}

static void install(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO | SA_ONSTACK };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous) < 0)
		install_error = -errno;
}

int shmpipe__sigbus_guard(void *addr, size_t len, _Atomic int *flag)
{
	pthread_once(&installed, install);
	if (install_error)
		return install_error;
	for (int i = 0; i < GUARDS; i++) {
		int free_state = 0;
		if (!atomic_compare_exchange_strong(&guards[i].state,
						    &free_state, 1))
			continue;
		atomic_store(&guards[i].start, (uintptr_t)addr);
		atomic_store(&guards[i].len, len);
		atomic_store(&guards[i].flag, flag);
		atomic_store_explicit(&guards[i].state, 2, memory_order_release);
		return i;
	}
	return -ENOSPC;
}

void shmpipe__sigbus_unguard(int slot)
{
	if (slot < 0 || slot >= GUARDS)
		return;
	atomic_store(&guards[slot].state, 1);
	atomic_store(&guards[slot].start, 0);
	atomic_store(&guards[slot].len, 0);
	atomic_store(&guards[slot].state, 0);
}
