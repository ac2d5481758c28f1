/* SPDX-License-Identifier: MIT */
/*
 * helpers.h - what every test program uses.
 *
 * A test is one program per behaviour: exit 0 pass, 1 fail, 77 skip
 * (T_PASS/T_FAIL/T_SKIP). Assertions print both values and the line, then
 * exit 1 after removing the objects the test registered with t_name(), so
 * a failing test leaves nothing in /dev/shm.
 */
#ifndef SHMPIPE_TEST_HELPERS_H
#define SHMPIPE_TEST_HELPERS_H

#define _GNU_SOURCE
#include "shmpipe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

/* A unique object name "t-<pid>-<tag>" (static storage, up to 32 at once),
 * registered for removal (region and semaphore namespaces) at exit. */
const char *t_name(const char *tag);
/* Remove every name t_name() gave out. Called at exit and on failure. */
void t_cleanup(void);

void t_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void t_skip(const char *why) __attribute__((noreturn));

/* Assertions. Each prints the expression and the values on failure. */
#define T_ASSERT(cond)                                                        \
	do {                                                                  \
		if (!(cond))                                                  \
			t_fail(__FILE__, __LINE__, "assertion failed: %s",    \
			       #cond);                                        \
	} while (0)
#define T_EQ(a, b)                                                            \
	do {                                                                  \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);       \
		if (t_a_ != t_b_)                                             \
			t_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld",  \
			       #a, #b, t_a_, t_b_);                           \
	} while (0)
/* A library call that must succeed (return >= 0). */
#define T_OK(expr)                                                            \
	do {                                                                  \
		long long t_r_ = (long long)(expr);                           \
		if (t_r_ < 0)                                                 \
			t_fail(__FILE__, __LINE__, "%s failed: %lld (%s)",    \
			       #expr, t_r_, shmpipe_strerror((int)t_r_));     \
	} while (0)
/* A library call that must fail with exactly -E. */
#define T_ERR(expr, e)                                                        \
	do {                                                                  \
		long long t_r_ = (long long)(expr);                           \
		if (t_r_ != -(e))                                             \
			t_fail(__FILE__, __LINE__,                            \
			       "%s: want -%s, got %lld (%s)", #expr, #e, t_r_,\
			       t_r_ < 0 ? shmpipe_errname((int)t_r_) : "ok"); \
	} while (0)

/* ------------------------------------------------------------ processes */

/* fork() that fails the test on error; the child's exit code is its own. */
pid_t t_fork(void);
/* t_fork() for a child that the kernel SIGKILLs when this process ends
 * (PR_SET_PDEATHSIG), so a test that fails, or is killed by the runner's
 * timeout, never leaves a child running or blocked in a pipe. */
pid_t t_spawn(void);
/* Wait for @pid: its exit status, or 128+signal when killed. */
int t_wait(pid_t pid);
/* t_wait() for at most @secs: a child still running then is a hang, so it
 * is killed and reaped and the test fails. Otherwise its status. */
int t_wait_within(pid_t pid, double secs);
/* Whether the child @pid has not exited yet. It is not reaped, so its
 * status is still there for t_wait(), and a zombie stays a zombie. Fails
 * the test when @pid is not a child of this process. */
int t_running(pid_t pid);
/* SIGKILL the child @pid and reap it; fails unless the kill ended it. */
void t_kill_and_reap(pid_t pid);

/* One-byte words between a parent and its child, over a socketpair or a
 * pipe: each side says what it has done and hears what to do next. */
void t_say(int fd, char c);
/* The next byte from @fd, or 0 when none comes within 10 s or the other
 * end is closed (a child that died). It does not fail by itself: callers
 * compare it, T_EQ(t_hear(fd), 'x'), so a failure names their line. */
char t_hear(int fd);

/* -------------------------------------------------------------- signals */

/* SIGALRM after @first_ms, then every @every_ms (0: only once), counted
 * from 0 by t_alarms(). The handler has no SA_RESTART, so a blocking call
 * it interrupts returns EINTR: what a timer or profiler in the program
 * would do to the library's waits. */
void t_alarms_start(int first_ms, int every_ms);
/* Stop the timer (the handler stays: a late SIGALRM is only counted). */
void t_alarms_stop(void);
/* The SIGALRMs received since t_alarms_start(). */
int t_alarms(void);

/* ---------------------------------------------------------------- pipes */

/* Create a pipe of @capacity and @kind under t_name(@tag); its name. */
const char *t_pipe_create(const char *tag, size_t capacity, unsigned kind);
/* shmpipe_open() that must succeed. */
shmpipe *t_pipe_open(const char *name, unsigned flags);

/* ---------------------------------------------- time, data and /dev/shm */

/* splitmix64: the next number of the sequence @state stands for. Tests
 * derive sizes and bytes from it that a writer and a reader process can
 * both recompute from the same seed. */
uint64_t t_random(uint64_t *state);
/* Seconds since an arbitrary point, CLOCK_MONOTONIC. */
double t_now(void);
/* Sleep @ms milliseconds. */
void t_sleep_ms(int ms);
/* The mode bits (07777) of /dev/shm/<prefix><name>, or -1. */
int t_shm_mode(const char *prefix, const char *name);
/* Whether /dev/shm/<prefix><name> exists. */
int t_shm_exists(const char *prefix, const char *name);

#endif
