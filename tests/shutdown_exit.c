/* SPDX-License-Identifier: MIT */
/*
 * shutdown_exit.c - the shutdown helper's exit mode and its API contract:
 *  - with SHMPIPE_SHUTDOWN_EXIT a child that just sleeps is ended by
 *    SIGTERM, SIGINT or SIGHUP as if the signal had not been caught (its
 *    status says killed by that signal), and its registered region and
 *    semaphore are gone;
 *  - open: NULL out or unknown flags -EINVAL, a second helper -EBUSY, a new
 *    one again once the first is closed;
 *  - register: bad kind -EINVAL, bad names -EINVAL/-ENAMETOOLONG (taking
 *    no slot), 64 names fit and the 65th is -ENOSPC;
 *  - close: NULL is fine, returns the number of objects really removed,
 *    and restores the previous dispositions (a custom SIGTERM handler
 *    installed before open handles SIGTERM again; SIG_IGN and SIG_DFL come
 *    back as they were, flags included).
 */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void test_exit_mode(int sig, const char *tag)
{
	char region_tag[32], sem_tag[32];
	snprintf(region_tag, sizeof(region_tag), "%s-region", tag);
	snprintf(sem_tag, sizeof(sem_tag), "%s-sem", tag);
	const char *region_name = t_name(region_tag);
	const char *sem_name = t_name(sem_tag);
	int p[2];
	T_OK(pipe(p));
	pid_t pid = t_fork();
	if (pid == 0) {
		shmpipe_shutdown *h;
		T_OK(shmpipe_shutdown_open(&h, SHMPIPE_SHUTDOWN_EXIT));
		struct shmpipe_region_config cfg = {.size = 4096};
		shmpipe_region *r;
		shmpipe_sem *sem;
		T_OK(shmpipe_region_create(&r, region_name, &cfg));
		T_OK(shmpipe_sem_create(&sem, sem_name, 1, 0, 0));
		T_OK(shmpipe_shutdown_register(h, region_name,
					       SHMPIPE_OBJECT_REGION));
		T_OK(shmpipe_shutdown_register(h, sem_name,
					       SHMPIPE_OBJECT_SEM));
		t_say(p[1], 'r');
		t_sleep_ms(60000); /* a program without an event loop */
		exit(T_FAIL);
	}
	T_EQ(t_hear(p[0]), 'r');
	T_ASSERT(t_shm_exists("shmpipe.", region_name));
	T_ASSERT(t_shm_exists("sem.shmpipe.", sem_name));
	T_OK(kill(pid, sig));
	T_EQ(t_wait_within(pid, 10), 128 + sig);
	T_ASSERT(!t_shm_exists("shmpipe.", region_name));
	T_ASSERT(!t_shm_exists("sem.shmpipe.", sem_name));
	close(p[0]);
	close(p[1]);
}

static void test_open_errors(void)
{
	shmpipe_shutdown *h = (shmpipe_shutdown *)1, *second;
	T_ERR(shmpipe_shutdown_open(NULL, 0), EINVAL);
	T_ERR(shmpipe_shutdown_open(&h, 0x2), EINVAL);
	T_ASSERT(h == NULL);
	T_ERR(shmpipe_shutdown_open(&h, ~0u), EINVAL);
	T_OK(shmpipe_shutdown_open(&h, 0));
	T_ERR(shmpipe_shutdown_open(&second, 0), EBUSY);
	T_ERR(shmpipe_shutdown_open(&second, SHMPIPE_SHUTDOWN_EXIT), EBUSY);
	T_ASSERT(shmpipe_shutdown_fd(h) >= 0);
	T_EQ(shmpipe_shutdown_signal(h), 0);
	T_EQ(shmpipe_shutdown_close(h), 0);
	/* Closed: the process may have a helper again. */
	T_OK(shmpipe_shutdown_open(&h, SHMPIPE_SHUTDOWN_EXIT));
	T_EQ(shmpipe_shutdown_close(h), 0);
	T_EQ(shmpipe_shutdown_close(NULL), 0);
}

static void test_register_errors(void)
{
	const char *real = t_name("real");
	struct shmpipe_region_config cfg = {.size = 4096};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, real, &cfg));
	shmpipe_region_close(r);

	shmpipe_shutdown *h;
	T_OK(shmpipe_shutdown_open(&h, 0));
	T_ERR(shmpipe_shutdown_register(h, real, 0), EINVAL);
	T_ERR(shmpipe_shutdown_register(h, real, 3), EINVAL);
	T_ERR(shmpipe_shutdown_register(h, real, -1), EINVAL);
	T_ERR(shmpipe_shutdown_register(h, "a/b", SHMPIPE_OBJECT_REGION),
	      EINVAL);
	T_ERR(shmpipe_shutdown_register(h, "", SHMPIPE_OBJECT_SEM), EINVAL);
	T_ERR(shmpipe_shutdown_register(h, "..", SHMPIPE_OBJECT_REGION),
	      EINVAL);
	T_ERR(shmpipe_shutdown_register(h, NULL, SHMPIPE_OBJECT_REGION),
	      EINVAL);
	char longname[SHMPIPE_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	T_ERR(shmpipe_shutdown_register(h, longname, SHMPIPE_OBJECT_REGION),
	      ENAMETOOLONG);

	/* None of those took a slot: 64 fit, the real one among them. */
	T_OK(shmpipe_shutdown_register(h, real, SHMPIPE_OBJECT_REGION));
	for (int i = 1; i < 64; i++) {
		char name[64];
		snprintf(name, sizeof(name), "t-%d-absent-%d", (int)getpid(),
			 i);
		T_OK(shmpipe_shutdown_register(h, name, i % 2 + 1));
	}
	T_ERR(shmpipe_shutdown_register(h, "one-more", SHMPIPE_OBJECT_REGION),
	      ENOSPC);
	T_ASSERT(t_shm_exists("shmpipe.", real));
	/* Only the one that existed counts as removed. */
	T_EQ(shmpipe_shutdown_close(h), 1);
	T_ASSERT(!t_shm_exists("shmpipe.", real));
}

static volatile sig_atomic_t custom_calls;

static void custom(int sig)
{
	(void)sig;
	custom_calls++;
}

static void test_dispositions_restored(void)
{
	struct sigaction sa = {.sa_handler = custom, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	T_OK(sigaction(SIGTERM, &sa, NULL));
	T_ASSERT(signal(SIGHUP, SIG_IGN) != SIG_ERR);
	T_ASSERT(signal(SIGINT, SIG_DFL) != SIG_ERR);

	shmpipe_shutdown *h;
	T_OK(shmpipe_shutdown_open(&h, 0));
	T_OK(raise(SIGTERM)); /* handled by the helper, not by custom() */
	T_EQ(custom_calls, 0);
	T_EQ(shmpipe_shutdown_signal(h), SIGTERM);
	struct pollfd p = {.fd = shmpipe_shutdown_fd(h), .events = POLLIN};
	T_EQ(poll(&p, 1, 0), 1);
	T_EQ(shmpipe_shutdown_close(h), 0);

	T_OK(raise(SIGTERM)); /* custom() again */
	T_EQ(custom_calls, 1);
	struct sigaction now;
	T_OK(sigaction(SIGTERM, NULL, &now));
	T_ASSERT(now.sa_handler == custom);
	T_ASSERT(now.sa_flags & SA_RESTART);
	T_OK(sigaction(SIGHUP, NULL, &now));
	T_ASSERT(now.sa_handler == SIG_IGN);
	T_OK(sigaction(SIGINT, NULL, &now));
	T_ASSERT(now.sa_handler == SIG_DFL);
	T_OK(raise(SIGHUP)); /* ignored, as before: we live on */
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
}

int main(void)
{
	test_exit_mode(SIGTERM, "term");
	test_exit_mode(SIGINT, "int");
	test_exit_mode(SIGHUP, "hup");
	test_open_errors();
	test_register_errors();
	test_dispositions_restored();
	return T_PASS;
}
