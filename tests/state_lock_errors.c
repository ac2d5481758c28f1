/* SPDX-License-Identifier: MIT */
/*
 * state_lock_errors.c - every way lock and unlock refuse, and the basics
 * they rest on:
 *  - create: size 0 -EINVAL, bad or long names, an existing name -EEXIST;
 *    open: a missing name -ENOENT, a plain region -EPROTO;
 *  - the data: exactly the size asked, 64-byte aligned, zero-filled;
 *  - lock(0) while another process holds it -EBUSY, lock(300) -ETIMEDOUT
 *    after at least 0.29 s; the same from another thread of the holder's
 *    process;
 *  - unlock by a non-holder (other process, other thread, twice) -EPERM,
 *    and the generation does not move;
 *  - relock by the holding thread -EDEADLK whatever the timeout, and the
 *    lock is still held (unlock works) afterwards;
 *  - the generation counts unlocks, and unlock returns the new one.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define DATA_SIZE 100

static void test_create_open_errors(void)
{
	const char *name = t_name("errs");
	shmpipe_state *s = (shmpipe_state *)1;
	T_ERR(shmpipe_state_create(&s, name, 0, 0, 0), EINVAL);
	T_ASSERT(s == NULL);
	T_ASSERT(!t_shm_exists("shmpipe.", name));
	T_ERR(shmpipe_state_open(&s, name), ENOENT);
	T_ERR(shmpipe_state_create(&s, "a/b", 8, 0, 0), EINVAL);
	T_ERR(shmpipe_state_create(&s, "", 8, 0, 0), EINVAL);
	char longname[SHMPIPE_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	T_ERR(shmpipe_state_create(&s, longname, 8, 0, 0), ENAMETOOLONG);

	T_OK(shmpipe_state_create(&s, name, 8, 0, 0));
	shmpipe_state *again;
	T_ERR(shmpipe_state_create(&again, name, 8, 0, 0), EEXIST);
	shmpipe_state_close(s);

	/* A plain region of the same layer is not a state. */
	const char *plain = t_name("plain");
	struct shmpipe_region_config cfg = {.size = 4096};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, plain, &cfg));
	T_ERR(shmpipe_state_open(&s, plain), EPROTO);
	shmpipe_region_close(r);
	shmpipe_state_close(NULL); /* NULL is fine */
}

static void test_data(shmpipe_state *s, const char *name)
{
	T_EQ(shmpipe_state_size(s), DATA_SIZE);
	unsigned char *d = shmpipe_state_data(s);
	T_EQ((uintptr_t)d % 64, 0);
	for (size_t i = 0; i < DATA_SIZE; i++)
		T_EQ(d[i], 0);
	T_EQ(shmpipe_state_lock(s, 0), 0);
	memset(d, 0xa5, DATA_SIZE); /* all of it is ours */
	T_EQ(shmpipe_state_unlock(s), 1);

	/* Another handle (as another process would) sees the same bytes. */
	shmpipe_state *o;
	T_OK(shmpipe_state_open(&o, name));
	T_EQ(shmpipe_state_size(o), DATA_SIZE);
	T_EQ(shmpipe_state_generation(o), 1);
	unsigned char *od = shmpipe_state_data(o);
	T_EQ((uintptr_t)od % 64, 0);
	T_EQ(od[0], 0xa5);
	T_EQ(od[DATA_SIZE - 1], 0xa5);
	shmpipe_state_close(o);
}

struct thread_arg {
	shmpipe_state *s;
	int busy, timed_out, unlock;
	double waited;
};

static void *other_thread(void *p)
{
	struct thread_arg *a = p;
	a->busy = shmpipe_state_lock(a->s, 0);
	double t0 = t_now();
	a->timed_out = shmpipe_state_lock(a->s, 300);
	a->waited = t_now() - t0;
	a->unlock = shmpipe_state_unlock(a->s);
	return NULL;
}

static void test_held_elsewhere(shmpipe_state *s)
{
	uint64_t gen = shmpipe_state_generation(s);
	int to_parent[2], to_child[2];
	T_OK(pipe(to_parent));
	T_OK(pipe(to_child));
	pid_t pid = t_fork();
	if (pid == 0) {
		T_EQ(shmpipe_state_lock(s, -1), 0);
		t_say(to_parent[1], 'l');
		T_EQ(t_hear(to_child[0]), 'u');
		T_EQ(shmpipe_state_unlock(s), (int)gen + 1);
		exit(T_PASS);
	}
	T_EQ(t_hear(to_parent[0]), 'l');

	T_ERR(shmpipe_state_lock(s, 0), EBUSY);
	double t0 = t_now();
	T_ERR(shmpipe_state_lock(s, 300), ETIMEDOUT);
	double waited = t_now() - t0;
	T_ASSERT(waited >= 0.29);
	T_ASSERT(waited < 5);
	/* Not the holder: refused, and nothing is committed. */
	T_ERR(shmpipe_state_unlock(s), EPERM);
	T_EQ(shmpipe_state_generation(s), gen);

	t_say(to_child[1], 'u');
	T_EQ(t_wait(pid), T_PASS);
	T_EQ(shmpipe_state_generation(s), gen + 1);
	/* Not held by anyone now: still refused, still not committed. */
	T_ERR(shmpipe_state_unlock(s), EPERM);
	T_EQ(shmpipe_state_generation(s), gen + 1);
	close(to_parent[0]);
	close(to_parent[1]);
	close(to_child[0]);
	close(to_child[1]);
}

static void test_held_by_this_process(shmpipe_state *s)
{
	uint64_t gen = shmpipe_state_generation(s);
	T_EQ(shmpipe_state_lock(s, -1), 0);
	/* The holding thread itself: -EDEADLK, whatever the timeout. */
	T_ERR(shmpipe_state_lock(s, -1), EDEADLK);
	T_ERR(shmpipe_state_lock(s, 100), EDEADLK);
	T_ERR(shmpipe_state_lock(s, 0), EDEADLK);

	/* Another thread of this process is just another locker. */
	struct thread_arg a = {.s = s};
	pthread_t t;
	T_EQ(pthread_create(&t, NULL, other_thread, &a), 0);
	T_EQ(pthread_join(t, NULL), 0);
	T_EQ(a.busy, -EBUSY);
	T_EQ(a.timed_out, -ETIMEDOUT);
	T_ASSERT(a.waited >= 0.29);
	T_EQ(a.unlock, -EPERM);
	T_EQ(shmpipe_state_generation(s), gen);

	/* Still ours after all of that. */
	T_EQ(shmpipe_state_unlock(s), (int)gen + 1);
	T_ERR(shmpipe_state_unlock(s), EPERM);
	T_EQ(shmpipe_state_generation(s), gen + 1);
}

static void test_generation_counts_unlocks(shmpipe_state *s)
{
	uint64_t gen = shmpipe_state_generation(s);
	for (int i = 1; i <= 5; i++) {
		T_EQ(shmpipe_state_lock(s, i % 2 ? 0 : 1000), 0);
		T_EQ(shmpipe_state_generation(s), gen + i - 1); /* not yet */
		T_EQ(shmpipe_state_unlock(s), (int)gen + i);
		T_EQ(shmpipe_state_generation(s), gen + i);
	}
	/* Failed locks count nothing. */
	T_EQ(shmpipe_state_lock(s, 0), 0);
	T_ERR(shmpipe_state_lock(s, 0), EDEADLK);
	T_EQ(shmpipe_state_unlock(s), (int)gen + 6);
	T_EQ(shmpipe_state_generation(s), gen + 6);
}

int main(void)
{
	test_create_open_errors();

	const char *name = t_name("lock");
	shmpipe_state *s;
	T_OK(shmpipe_state_create(&s, name, DATA_SIZE, 0, 0));
	T_EQ(shmpipe_state_generation(s), 0);
	test_data(s, name);
	test_held_elsewhere(s);
	test_held_by_this_process(s);
	test_generation_counts_unlocks(s);
	shmpipe_state_close(s);
	return T_PASS;
}
