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

/* fork() that fails the test on error; the child's exit code is its own. */
pid_t t_fork(void);
/* Wait for @pid: its exit status, or 128+signal when killed. */
int t_wait(pid_t pid);
/* Seconds since an arbitrary point, CLOCK_MONOTONIC. */
double t_now(void);
/* Sleep @ms milliseconds. */
void t_sleep_ms(int ms);
/* The mode bits (07777) of /dev/shm/<prefix><name>, or -1. */
int t_shm_mode(const char *prefix, const char *name);
/* Whether /dev/shm/<prefix><name> exists. */
int t_shm_exists(const char *prefix, const char *name);

#endif
