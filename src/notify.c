/* SPDX-License-Identifier: MIT */
/*
 * notify.c - a pollable file descriptor for a pipe handle.
 *
 * Another process's write cannot touch our file descriptors, so readiness
 * is mirrored into an eventfd by a thread of the handle, made on the first
 * shmpipe_fd() call. The thread sleeps on the pipe's futex words like any
 * waiter (counted in readers_waiting / writers_waiting, so the other side
 * wakes it) and keeps the eventfd level-triggered:
 *   reader handle: counter 1 (POLLIN) while data or end of file is there,
 *                  drained to 0 when the pipe is empty;
 *   writer handle: counter 0 (POLLOUT) while there is room; when full the
 *                  counter is raised to its maximum - 1, which is exactly
 *                  the value at which an eventfd stops being writable.
 */
#define _GNU_SOURCE
#include "pipe.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NOTIFY_SLICE_MS 50
#define EVENTFD_FULL 0xfffffffffffffffeull

static void set_level(int fd, uint64_t want)
{
	uint64_t v;
	/* Drain, then add what we want: the counter ends exactly at want. */
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	if (want)
		while (write(fd, &want, sizeof(want)) < 0 && errno == EINTR)
			;
}

/* Sleep until *@pos moves from @seen, as a counted waiter, at most a slice. */
static void sleep_on(shmpipe *p, _Atomic uint64_t *pos, uint64_t seen,
		     _Atomic uint32_t *seq, _Atomic uint32_t *waiting)
{
	struct timespec slice;
	shmpipe__deadline(&slice, NOTIFY_SLICE_MS);
	uint32_t s = atomic_load_explicit(seq, memory_order_acquire);
	atomic_store(&p->notify_waiting_on, seq);
	atomic_fetch_add(waiting, 1); /* seq_cst, see pipe.c "Waiting" */
	if (atomic_load(pos) == seen && !atomic_load(&p->notify_stop))
		shmpipe__futex_wait(seq, s, &slice);
	atomic_fetch_sub(waiting, 1);
	atomic_store(&p->notify_waiting_on, NULL);
}

/* While ready, the thread does not follow every write and read of the
 * pipe (that would cost the other side a futex wake per call): it sleeps
 * until this handle finds nothing to do (a poke from pipe.c), or a slice
 * passes. Readiness may thus stay set up to a slice after another process
 * emptied (or filled) the pipe: a spurious readiness, as on any fd. */
static void sleep_ready(shmpipe *p)
{
	struct timespec slice;
	shmpipe__deadline(&slice, NOTIFY_SLICE_MS);
	uint32_t s = atomic_load_explicit(&p->notify_poke, memory_order_acquire);
	atomic_store(&p->notify_waiting_on, &p->notify_poke);
	if (!atomic_load(&p->notify_stop))
		shmpipe__futex_wait(&p->notify_poke, s, &slice);
	atomic_store(&p->notify_waiting_on, NULL);
}

static int initial_level(shmpipe *p)
{
	return p->role == ROLE_READ
		       ? shmpipe__pipe_readable(p, &p->notify_last_reap_ns)
		       : shmpipe__pipe_writable(p);
}

static uint64_t level_value(const shmpipe *p, int ready)
{
	if (p->role == ROLE_READ)
		return ready ? 1 : 0;
	return ready ? 0 : EVENTFD_FULL;
}

static void *notify_main(void *arg)
{
	shmpipe *p = arg;
	struct pipe_shared *sh = p->sh;
	int level = p->notify_level;
	while (!atomic_load(&p->notify_stop)) {
		uint64_t tail = atomic_load(&sh->tail);
		uint64_t head = atomic_load(&sh->head);
		if (p->role == ROLE_READ) {
			int ready = shmpipe__pipe_readable(
				p, &p->notify_last_reap_ns);
			if (ready != level)
				set_level(p->notify_fd, level_value(p, ready));
			level = ready;
			if (ready)
				sleep_ready(p);
			else /* wait for a writer */
				sleep_on(p, &sh->tail, tail, &sh->data_seq,
					 &sh->readers_waiting);
		} else {
			int ready = shmpipe__pipe_writable(p);
			if (ready != level)
				set_level(p->notify_fd, level_value(p, ready));
			level = ready;
			if (ready)
				sleep_ready(p);
			else /* wait for a reader to make room */
				sleep_on(p, &sh->head, head, &sh->space_seq,
					 &sh->writers_waiting);
		}
	}
	return NULL;
}

SHMPIPE_API int shmpipe_fd(shmpipe *p)
{
	if (p->notify_fd >= 0)
		return p->notify_fd;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	p->notify_fd = fd;
	atomic_store(&p->notify_stop, 0);
	/* The first level is set here, so a poll right after this call
	 * already sees it. */
	p->notify_level = initial_level(p);
	set_level(fd, level_value(p, p->notify_level));
	/* The thread must not take the process's signals. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&p->notify_thread, NULL, notify_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		close(fd);
		p->notify_fd = -1;
		return -r;
	}
	return fd;
}

void shmpipe__notify_stop(shmpipe *p)
{
	if (p->notify_fd < 0)
		return;
	atomic_store(&p->notify_stop, 1);
	_Atomic uint32_t *seq = atomic_load(&p->notify_waiting_on);
	if (seq) {
		atomic_fetch_add(seq, 1);
		shmpipe__futex_wake(seq, INT_MAX);
	}
	pthread_join(p->notify_thread, NULL);
	close(p->notify_fd);
	p->notify_fd = -1;
}
