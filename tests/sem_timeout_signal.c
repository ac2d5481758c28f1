/* SPDX-License-Identifier: MIT */
/*
 * sem_timeout_signal - signals do not cut waits short: a timed wait hit by
 * signals (handler without SA_RESTART) still times out at its deadline,
 * not early and not late, and waits hit by signals still get a post.
 */
#include "helpers.h"

#include <errno.h>
#include <unistd.h>

static void test_timeout(shmpipe_sem *s, int every_ms)
{
	t_alarms_start(300, every_ms);
	double t0 = t_now();
	T_ERR(shmpipe_sem_wait(s, 1000), ETIMEDOUT);
	double took = t_now() - t0;
	t_alarms_stop();
	fprintf(stderr, "1 s wait, alarms every %d ms: %.3f s, %d signals\n",
		every_ms, took, t_alarms());
	T_ASSERT(t_alarms() >= 1); /* or this tested nothing */
	if (took < 0.95 || took >= 5)
		t_fail(__FILE__, __LINE__, "1000 ms wait took %.3f s", took);
}

/* A wait hit by signals, then posted by a child, succeeds. */
static void test_posted(shmpipe_sem *s, int timeout_ms)
{
	t_alarms_start(100, 50);
	pid_t pid = t_fork();
	if (pid == 0) {
		t_alarms_stop();
		t_sleep_ms(700);
		T_OK(shmpipe_sem_post(s));
		_exit(T_PASS);
	}
	double t0 = t_now();
	T_OK(shmpipe_sem_wait(s, timeout_ms));
	double took = t_now() - t0;
	t_alarms_stop();
	int seen = t_alarms();
	fprintf(stderr, "wait(%d) posted after %.3f s, %d signals\n",
		timeout_ms, took, seen);
	T_EQ(t_wait(pid), T_PASS);
	T_ASSERT(seen >= 1);
	T_ASSERT(took < 5);
	T_EQ(shmpipe_sem_value(s), 0);
}

int main(void)
{
	const char *name = t_name("sig");
	shmpipe_sem *s;
	T_OK(shmpipe_sem_create(&s, name, 0, 0, 0));
	test_timeout(s, 0);
	test_timeout(s, 20);
	test_posted(s, -1);
	test_posted(s, 20000);
	shmpipe_sem_close(s);
	T_OK(shmpipe_sem_unlink(name));
	return T_PASS;
}
