/* SPDX-License-Identifier: MIT */
/*
 * state_counter.c - the state lock is a real mutual exclusion between
 * processes: K forked processes each add 1 to a shared counter N times with
 * a read-modify-write deliberately split in two (read, sometimes yield the
 * CPU, write), so any update that slipped past the lock would be lost. The
 * counter must end at exactly K*N, and so must the generation (one per
 * unlock).
 */
#include "helpers.h"

#include <sched.h>

#define PROCS  4
#define ROUNDS 20000

struct counter {
	uint64_t value;
};

static int run_child(const char *name)
{
	shmpipe_state *s;
	T_OK(shmpipe_state_open(&s, name));
	struct counter *c = shmpipe_state_data(s);
	int last = -1;
	for (int i = 0; i < ROUNDS; i++) {
		T_EQ(shmpipe_state_lock(s, -1), 0);
		uint64_t v = c->value;
		if (i % 1000 == 0)
			sched_yield(); /* give the others every chance to race
					*/
		c->value = v + 1;
		int gen = shmpipe_state_unlock(s);
		T_OK(gen);
		T_ASSERT(gen > last); /* generations only grow */
		last = gen;
	}
	shmpipe_state_close(s);
	return T_PASS;
}

int main(void)
{
	const char *name = t_name("counter");
	shmpipe_state *s;
	T_OK(shmpipe_state_create(&s, name, sizeof(struct counter), 0, 0));
	T_EQ(shmpipe_state_generation(s), 0);

	pid_t pids[PROCS];
	for (int i = 0; i < PROCS; i++) {
		pids[i] = t_fork();
		if (pids[i] == 0)
			exit(run_child(name));
	}
	for (int i = 0; i < PROCS; i++)
		T_EQ(t_wait(pids[i]), 0);

	T_EQ(shmpipe_state_lock(s, 0), 0);
	struct counter *c = shmpipe_state_data(s);
	T_EQ(c->value, (uint64_t)PROCS * ROUNDS);
	T_EQ(shmpipe_state_generation(s), (uint64_t)PROCS * ROUNDS);
	T_EQ(shmpipe_state_unlock(s), PROCS * ROUNDS + 1);
	shmpipe_state_close(s);
	return T_PASS;
}
