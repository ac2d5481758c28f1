/* SPDX-License-Identifier: MIT */
/*
 * state_wait.c - shmpipe_state_wait(s, seen, timeout) returns when the
 * generation differs from seen:
 *  - at once when it already differs (whatever the timeout);
 *  - -ETIMEDOUT at once for timeout 0, and after the timeout (>= 0.29 s
 *    for 300 ms) when nothing changes;
 *  - forked waiters blocked in wait(-1) are all woken by one unlock in
 *    another process;
 *  - a waiter SIGKILLed while waiting holds nothing: lock and unlock work
 *    for the others, and the other waiters are still woken.
 */
#include "helpers.h"

#include <errno.h>
#include <unistd.h>

#define WAITERS 3

static void lock_unlock(shmpipe_state *s)
{
	T_EQ(shmpipe_state_lock(s, 1000), 0);
	T_OK(shmpipe_state_unlock(s));
}

/* Fork a process that unlocks once, as an unrelated process would: it
 * opens the state by name. */
static void unlock_in_other_process(const char *name)
{
	pid_t pid = t_fork();
	if (pid == 0) {
		shmpipe_state *o;
		T_OK(shmpipe_state_open(&o, name));
		lock_unlock(o);
		shmpipe_state_close(o);
		exit(T_PASS);
	}
	T_EQ(t_wait_within(pid, 10), T_PASS);
}

/* Fork a waiter for a change from @seen; it says 'w' on @fd first and
 * exits T_PASS when woken with the generation changed. */
static pid_t fork_waiter(shmpipe_state *s, uint64_t seen, int fd)
{
	pid_t pid = t_fork();
	if (pid == 0) {
		t_say(fd, 'w');
		T_EQ(shmpipe_state_wait(s, seen, -1), 0);
		T_ASSERT(shmpipe_state_generation(s) != seen);
		exit(T_PASS);
	}
	return pid;
}

static void test_no_wait_needed(shmpipe_state *s)
{
	uint64_t gen = shmpipe_state_generation(s);
	double t0 = t_now();
	T_EQ(shmpipe_state_wait(s, gen + 1, -1), 0);
	T_EQ(shmpipe_state_wait(s, gen + 1, 0), 0);
	T_EQ(shmpipe_state_wait(s, gen + 1, 5000), 0);
	T_ERR(shmpipe_state_wait(s, gen, 0), ETIMEDOUT);
	lock_unlock(s);
	T_EQ(shmpipe_state_wait(s, gen, -1), 0);
	T_EQ(shmpipe_state_wait(s, gen, 5000), 0);
	T_ASSERT(t_now() - t0 < 1.0);
}

static void test_timeout(shmpipe_state *s)
{
	uint64_t gen = shmpipe_state_generation(s);
	double t0 = t_now();
	T_ERR(shmpipe_state_wait(s, gen, 300), ETIMEDOUT);
	double waited = t_now() - t0;
	T_ASSERT(waited >= 0.29);
	T_ASSERT(waited < 5);
	/* A lock without unlock is no change either. */
	T_EQ(shmpipe_state_lock(s, 0), 0);
	T_ERR(shmpipe_state_wait(s, gen, 100), ETIMEDOUT);
	T_OK(shmpipe_state_unlock(s));
	T_EQ(shmpipe_state_wait(s, gen, 100), 0);
}

static void test_woken_by_other_process(shmpipe_state *s, const char *name)
{
	uint64_t gen = shmpipe_state_generation(s);
	int p[2];
	T_OK(pipe(p));
	pid_t pids[WAITERS];
	for (int i = 0; i < WAITERS; i++)
		pids[i] = fork_waiter(s, gen, p[1]);
	for (int i = 0; i < WAITERS; i++)
		T_EQ(t_hear(p[0]), 'w');
	/* Nothing changed: they must all still be waiting. */
	t_sleep_ms(200);
	for (int i = 0; i < WAITERS; i++)
		T_ASSERT(t_running(pids[i]));

	unlock_in_other_process(name);
	for (int i = 0; i < WAITERS; i++)
		T_EQ(t_wait_within(pids[i], 5), T_PASS);
	T_EQ(shmpipe_state_generation(s), gen + 1);
	close(p[0]);
	close(p[1]);
}

static void test_killed_waiter(shmpipe_state *s, const char *name)
{
	uint64_t gen = shmpipe_state_generation(s);
	int p[2];
	T_OK(pipe(p));
	pid_t victim = fork_waiter(s, gen, p[1]);
	pid_t other = fork_waiter(s, gen, p[1]);
	T_EQ(t_hear(p[0]), 'w');
	T_EQ(t_hear(p[0]), 'w');
	t_sleep_ms(100);
	T_ASSERT(t_running(victim));
	t_kill_and_reap(victim);

	/* The dead waiter held nothing: no verdict, no wait. */
	T_EQ(shmpipe_state_lock(s, 1000), 0);
	T_EQ(shmpipe_state_generation(s), gen);
	T_EQ(shmpipe_state_unlock(s), (int)gen + 1);
	T_EQ(t_wait_within(other, 5), T_PASS);

	/* And the others go on locking and waiting as before. */
	uint64_t now = shmpipe_state_generation(s);
	pid_t waiter = fork_waiter(s, now, p[1]);
	T_EQ(t_hear(p[0]), 'w');
	unlock_in_other_process(name);
	T_EQ(t_wait_within(waiter, 5), T_PASS);
	T_EQ(shmpipe_state_generation(s), now + 1);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const char *name = t_name("wait");
	shmpipe_state *s;
	T_OK(shmpipe_state_create(&s, name, 64, 0, 0));
	test_no_wait_needed(s);
	test_timeout(s);
	test_woken_by_other_process(s, name);
	test_killed_waiter(s, name);
	shmpipe_state_close(s);
	return T_PASS;
}
