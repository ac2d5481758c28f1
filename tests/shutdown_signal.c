/* SPDX-License-Identifier: MIT */
/*
 * shutdown_signal.c - in event-loop mode (no flags), SIGTERM, SIGINT and
 * SIGHUP each make the shutdown fd readable; shmpipe_shutdown_signal()
 * names the first one received (later ones do not replace it); blocking
 * calls are interrupted (the handlers have no SA_RESTART: a read() from an
 * empty pipe returns EINTR instead of being restarted, and so does
 * nanosleep); and shmpipe_shutdown_close() removes the registered region
 * and semaphore (returns 2) before the child exits 0.
 */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static void ignore(int sig)
{
	(void)sig;
}

static void run_child(int sig, const char *region_name, const char *sem_name,
		      int fd)
{
	/* A harmless handler underneath: close restores it, so the parent's
	 * late signals cannot kill us after close. */
	struct sigaction sa = {.sa_handler = ignore};
	sigemptyset(&sa.sa_mask);
	T_OK(sigaction(SIGINT, &sa, NULL));
	T_OK(sigaction(SIGTERM, &sa, NULL));
	T_OK(sigaction(SIGHUP, &sa, NULL));

	shmpipe_shutdown *h;
	T_OK(shmpipe_shutdown_open(&h, 0));
	T_EQ(shmpipe_shutdown_signal(h), 0);
	struct pollfd p = {.fd = shmpipe_shutdown_fd(h), .events = POLLIN};
	T_EQ(poll(&p, 1, 0), 0); /* nothing yet */

	struct shmpipe_region_config cfg = {.size = 4096};
	shmpipe_region *r;
	shmpipe_sem *sem;
	T_OK(shmpipe_region_create(&r, region_name, &cfg));
	T_OK(shmpipe_sem_create(&sem, sem_name, 0, 0, 0));
	T_OK(shmpipe_shutdown_register(h, region_name, SHMPIPE_OBJECT_REGION));
	T_OK(shmpipe_shutdown_register(h, sem_name, SHMPIPE_OBJECT_SEM));
	t_say(fd, 'r');

	/* The event loop: wait for the fd, as a program would. */
	int n;
	while ((n = poll(&p, 1, 10000)) < 0 && errno == EINTR)
		;
	T_EQ(n, 1);
	T_ASSERT(p.revents & POLLIN);
	T_EQ(shmpipe_shutdown_signal(h), sig);
	T_ASSERT(t_shm_exists("shmpipe.", region_name));
	T_ASSERT(t_shm_exists("sem.shmpipe.", sem_name));

	/* Now the parent sends another signal over and over. */
	t_say(fd, 'p');
	int empty[2];
	T_OK(pipe(empty));
	char c;
	errno = 0;
	T_EQ(read(empty[0], &c, 1), -1);
	T_EQ(errno, EINTR);
	struct timespec ts = {10, 0};
	errno = 0;
	T_EQ(nanosleep(&ts, NULL), -1);
	T_EQ(errno, EINTR);
	T_EQ(shmpipe_shutdown_signal(h), sig); /* still the first one */

	shmpipe_region_close(r);
	shmpipe_sem_close(sem);
	T_EQ(shmpipe_shutdown_close(h), 2);
	T_ASSERT(!t_shm_exists("shmpipe.", region_name));
	T_ASSERT(!t_shm_exists("sem.shmpipe.", sem_name));
	exit(T_PASS);
}

static void test_signal(int sig, int other, const char *tag)
{
	char region_tag[32], sem_tag[32];
	snprintf(region_tag, sizeof(region_tag), "%s-region", tag);
	snprintf(sem_tag, sizeof(sem_tag), "%s-sem", tag);
	const char *region_name = t_name(region_tag);
	const char *sem_name = t_name(sem_tag);
	int p[2];
	T_OK(pipe(p));
	pid_t pid = t_fork();
	if (pid == 0)
		run_child(sig, region_name, sem_name, p[1]);
	T_EQ(t_hear(p[0]), 'r');
	T_OK(kill(pid, sig));
	T_EQ(t_hear(p[0]), 'p');
	/* Until it exits: a signal sent before it blocks is not lost on the
	 * test, the next one interrupts the blocking call. */
	double end = t_now() + 10;
	while (t_running(pid) && t_now() < end) {
		kill(pid, other);
		t_sleep_ms(50);
	}
	if (t_running(pid)) {
		kill(pid, SIGKILL);
		t_wait(pid);
		t_fail(__FILE__, __LINE__, "%s: blocking call not interrupted",
		       tag);
	}
	T_EQ(t_wait(pid), T_PASS);
	T_ASSERT(!t_shm_exists("shmpipe.", region_name));
	T_ASSERT(!t_shm_exists("sem.shmpipe.", sem_name));
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	test_signal(SIGTERM, SIGHUP, "term");
	test_signal(SIGINT, SIGTERM, "int");
	test_signal(SIGHUP, SIGINT, "hup");
	return T_PASS;
}
