/* SPDX-License-Identifier: MIT */
/*
 * sem_timeout_signal - signals do not cut waits short: a timed wait hit by
 * signals (handler without SA_RESTART) still times out at its deadline,
 * not early and not late, and waits hit by signals still get a post.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* SIGALRM after @first_ms, then every @every_ms (0: once). */
static void start_alarms(int first_ms, int every_ms)
{
	alarms = 0;
	struct itimerval it = {
		.it_value = {first_ms / 1000, (first_ms % 1000) * 1000},
		.it_interval = {every_ms / 1000, (every_ms % 1000) * 1000},
	};
	T_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void stop_alarms(void)
{
	struct itimerval it = {0};
	T_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void test_timeout(shmpipe_sem *s, int every_ms)
{
	start_alarms(300, every_ms);
	double t0 = t_now();
	T_ERR(shmpipe_sem_wait(s, 1000), ETIMEDOUT);
	double took = t_now() - t0;
	stop_alarms();
	fprintf(stderr, "1 s wait, alarms every %d ms: %.3f s, %d signals\n",
		every_ms, took, (int)alarms);
	T_ASSERT(alarms >= 1); /* or this tested nothing */
	if (took < 0.95 || took >= 5)
		t_fail(__FILE__, __LINE__, "1000 ms wait took %.3f s", took);
}

/* A wait hit by signals, then posted by a child, succeeds. */
static void test_posted(shmpipe_sem *s, int timeout_ms)
{
	start_alarms(100, 50);
	pid_t pid = t_fork();
	if (pid == 0) {
		stop_alarms();
		t_sleep_ms(700);
		T_OK(shmpipe_sem_post(s));
		_exit(T_PASS);
	}
	double t0 = t_now();
	T_OK(shmpipe_sem_wait(s, timeout_ms));
	double took = t_now() - t0;
	stop_alarms();
	int seen = alarms;
	fprintf(stderr, "wait(%d) posted after %.3f s, %d signals\n",
		timeout_ms, took, seen);
	T_EQ(t_wait(pid), T_PASS);
	T_ASSERT(seen >= 1);
	T_ASSERT(took < 5);
	T_EQ(shmpipe_sem_value(s), 0);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = 0; /* no SA_RESTART: sleeping calls get EINTR */
	sigemptyset(&sa.sa_mask);
	T_EQ(sigaction(SIGALRM, &sa, NULL), 0);

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
