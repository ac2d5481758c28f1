/* SPDX-License-Identifier: MIT */
/*
 * shutdown.c - SIGINT/SIGTERM/SIGHUP to a readable fd, and removal of the
 * objects a process registered, so Ctrl-C never leaves stale objects.
 *
 * A self-pipe rather than signalfd: signalfd needs the signals blocked in
 * every thread, and a blocked SIGINT would no longer interrupt the blocking
 * calls of a simple program. The handler only does async-signal-safe work:
 * write() one byte, and in EXIT mode unlink() precomputed paths, restore
 * the default action and re-raise the signal.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_OBJECTS 64

static const int handled[] = { SIGINT, SIGTERM, SIGHUP };

struct shmpipe_shutdown {
	unsigned flags;
	pid_t owner; /* the process that opened it; a fork()ed child is not */
	int pipe_fds[2];
	struct sigaction old[SHMPIPE__ARRAY_SIZE(handled)];
	/* Entries are complete before count covers them (the handler may run
	 * between two registrations). */
	char paths[MAX_OBJECTS][SHMPIPE__PATH_MAX];
	volatile sig_atomic_t count;
	volatile sig_atomic_t first_signal;
};

/* The one helper of this process, for the handler. */
static struct shmpipe_shutdown *volatile current;

static int remove_registered(struct shmpipe_shutdown *h)
{
	int removed = 0;
	for (sig_atomic_t i = 0; i < h->count; i++)
		if (unlink(h->paths[i]) == 0)
			removed++;
	return removed;
}

static void on_signal(int sig)
{
	int saved = errno;
	struct shmpipe_shutdown *h = current;
	if (h && getpid() != h->owner) {
		/* A fork()ed child inherited the handler but not the job: act
		 * as if the signal were not caught (and touch nothing). */
		signal(sig, SIG_DFL);
		raise(sig);
	} else if (h) {
		if (!h->first_signal)
			h->first_signal = sig;
		unsigned char b = (unsigned char)sig;
		(void)!write(h->pipe_fds[1], &b, 1); /* full pipe: already readable */
		if (h->flags & SHMPIPE_SHUTDOWN_EXIT) {
			remove_registered(h);
			signal(sig, SIG_DFL);
			raise(sig); /* delivered when the handler returns */
		}
	}
	errno = saved;
}

SHMPIPE_API int shmpipe_shutdown_open(shmpipe_shutdown **out, unsigned flags)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (flags & ~SHMPIPE_SHUTDOWN_EXIT)
		return -EINVAL;
	if (current)
		return -EBUSY;
	struct shmpipe_shutdown *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->flags = flags;
	h->owner = getpid();
	if (pipe2(h->pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		int r = -errno;
		free(h);
		return r;
	}
	current = h;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < SHMPIPE__ARRAY_SIZE(handled); i++)
		sigaddset(&sa.sa_mask, handled[i]);
	sa.sa_flags = 0; /* no SA_RESTART: blocking calls see EINTR */
	for (size_t i = 0; i < SHMPIPE__ARRAY_SIZE(handled); i++)
		sigaction(handled[i], &sa, &h->old[i]);
	*out = h;
	return 0;
}

SHMPIPE_API int shmpipe_shutdown_fd(const shmpipe_shutdown *h)
{
	return h->pipe_fds[0];
}

SHMPIPE_API int shmpipe_shutdown_signal(shmpipe_shutdown *h)
{
	return h->first_signal;
}

SHMPIPE_API int shmpipe_shutdown_register(shmpipe_shutdown *h,
					  const char *name, int kind)
{
	const char *prefix = kind == SHMPIPE_OBJECT_REGION ? SHMPIPE__PREFIX
			     : kind == SHMPIPE_OBJECT_SEM  ? SHMPIPE__SEM_PREFIX
							   : NULL;
	if (!prefix)
		return -EINVAL;
	if (h->count >= MAX_OBJECTS)
		return -ENOSPC;
	int r = shmpipe__shm_path(h->paths[h->count], prefix, name);
	if (r < 0)
		return r;
	h->count = h->count + 1;
	return 0;
}

SHMPIPE_API int shmpipe_shutdown_close(shmpipe_shutdown *h)
{
	if (!h)
		return 0;
	for (size_t i = 0; i < SHMPIPE__ARRAY_SIZE(handled); i++)
		sigaction(handled[i], &h->old[i], NULL);
	current = NULL;
	/* Only the process that registered the objects removes them. */
	int removed = getpid() == h->owner ? remove_registered(h) : 0;
	close(h->pipe_fds[0]);
	close(h->pipe_fds[1]);
	free(h);
	return removed;
}
