/* SPDX-License-Identifier: MIT */
/*
 * state_kill_random.c - a holder SIGKILLed at a random instruction never
 * hides a half-done update. A child updates a pair (a, b) from (n, n) to
 * (n + 1, n + 1) one word at a time under the lock, in a loop, until it is
 * killed at a random moment. The next locker must then find:
 *   0 or SHMPIPE_STATE_OWNER_DIED  a == b == generation (every committed
 *                                  update complete, nothing half done);
 *   SHMPIPE_STATE_TORN             generation <= b <= a <= generation + 1.
 * It completes the update either way, so after its unlock the invariant
 * a == b == generation holds again for the next round. Most kills land in
 * the middle of an update; the test also checks some were told TORN.
 */
#include "helpers.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS  400
#define MAX_SECONDS 3.0

struct pair {
	uint64_t a;
	uint64_t b;
};

static void run_updater(shmpipe_state *s, int ready_fd)
{
	struct pair *d = shmpipe_state_data(s);
	for (unsigned long i = 0;; i++) {
		if (shmpipe_state_lock(s, -1) != 0)
			exit(T_FAIL); /* the parent left it clean */
		d->a++;
		sched_yield(); /* a wide window for the kill to land in */
		d->b++;
		shmpipe_state_unlock(s);
		if (i == 0)
			(void)!write(ready_fd, "r", 1);
	}
}

int main(void)
{
	const char *name = t_name("random");
	shmpipe_state *s;
	T_OK(shmpipe_state_create(&s, name, sizeof(struct pair), 0, 0));
	struct pair *d = shmpipe_state_data(s);
	int p[2];
	T_OK(pipe(p));
	int verdicts[3] = {0};
	srand((unsigned)getpid());
	double end = t_now() + MAX_SECONDS;
	int rounds;
	for (rounds = 0; rounds < MAX_ROUNDS && t_now() < end; rounds++) {
		pid_t pid = t_fork();
		if (pid == 0)
			run_updater(s, p[1]);
		/* Wait for its first update, then let it run a little. */
		T_EQ(t_hear(p[0]), 'r');
		struct timespec ts = {0, (rand() % 2000) * 1000L};
		nanosleep(&ts, NULL);
		t_kill_and_reap(pid);

		int verdict = shmpipe_state_lock(s, 2000);
		T_OK(verdict);
		T_ASSERT(verdict <= SHMPIPE_STATE_TORN);
		verdicts[verdict]++;
		uint64_t gen = shmpipe_state_generation(s);
		if (verdict == SHMPIPE_STATE_TORN) {
			T_ASSERT(gen <= d->b);
			T_ASSERT(d->b <= d->a);
			T_ASSERT(d->a <= gen + 1);
			/* Repair: complete the update the dead holder began. */
			d->a = d->b = gen + 1;
		} else {
			T_EQ(d->a, gen);
			T_EQ(d->b, gen);
			d->a++;
			d->b++;
		}
		T_EQ(shmpipe_state_unlock(s), (int)(gen + 1));
	}
	printf("%d rounds: %d unlocked, %d owner died, %d torn\n", rounds,
	       verdicts[0], verdicts[SHMPIPE_STATE_OWNER_DIED],
	       verdicts[SHMPIPE_STATE_TORN]);
	T_ASSERT(rounds >= 20);
	T_ASSERT(verdicts[SHMPIPE_STATE_TORN] > 0);
	close(p[0]);
	close(p[1]);
	shmpipe_state_close(s);
	return T_PASS;
}
