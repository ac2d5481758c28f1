/* SPDX-License-Identifier: MIT */
/*
 * sem_basic - named semaphores: counting, trywait and timed waits, a waiter
 * in another process released by post, exclusive creation, open and unlink
 * errors, refusing objects that are not semaphores, and interoperation
 * with glibc's sem_open().
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void test_counting(void)
{
	const char *name = t_name("count");
	shmpipe_sem *s = (shmpipe_sem *)1;
	T_OK(shmpipe_sem_create(&s, name, 2, 0, 0));
	T_ASSERT(s != NULL);
	T_ASSERT(t_shm_exists("sem.shmpipe.", name));
	T_EQ(shmpipe_sem_value(s), 2);
	T_OK(shmpipe_sem_wait(s, -1));
	T_EQ(shmpipe_sem_value(s), 1);
	T_OK(shmpipe_sem_wait(s, 1000));
	T_EQ(shmpipe_sem_value(s), 0);
	T_ERR(shmpipe_sem_trywait(s), EAGAIN);
	T_ERR(shmpipe_sem_wait(s, 0), EAGAIN);

	double t0 = t_now();
	T_ERR(shmpipe_sem_wait(s, 200), ETIMEDOUT);
	double took = t_now() - t0;
	if (took < 0.19 || took >= 5)
		t_fail(__FILE__, __LINE__, "200 ms wait took %.3f s", took);
	T_EQ(shmpipe_sem_value(s), 0);

	T_OK(shmpipe_sem_post(s));
	T_EQ(shmpipe_sem_value(s), 1);
	T_OK(shmpipe_sem_trywait(s));
	T_EQ(shmpipe_sem_value(s), 0);
	T_OK(shmpipe_sem_post(s));
	T_OK(shmpipe_sem_post(s));
	T_OK(shmpipe_sem_wait(s, 0));
	T_OK(shmpipe_sem_wait(s, 200));
	T_ERR(shmpipe_sem_wait(s, 1), ETIMEDOUT);

	/* Exclusive creation; the existing one is untouched. */
	shmpipe_sem *s2 = (shmpipe_sem *)1;
	T_ERR(shmpipe_sem_create(&s2, name, 5, 0, 0), EEXIST);
	T_ASSERT(s2 == NULL);
	T_OK(shmpipe_sem_open(&s2, name));
	T_EQ(shmpipe_sem_value(s2), 0);
	T_OK(shmpipe_sem_post(s2));
	T_EQ(shmpipe_sem_value(s), 1);
	shmpipe_sem_close(s2);

	/* Unlink: gone by name, the handle keeps working. */
	T_OK(shmpipe_sem_unlink(name));
	T_ASSERT(!t_shm_exists("sem.shmpipe.", name));
	T_ERR(shmpipe_sem_open(&s2, name), ENOENT);
	T_ERR(shmpipe_sem_unlink(name), ENOENT);
	T_OK(shmpipe_sem_trywait(s));
	T_OK(shmpipe_sem_post(s));
	T_EQ(shmpipe_sem_value(s), 1);
	shmpipe_sem_close(s);
	shmpipe_sem_close(NULL);
}

static void test_arguments(void)
{
	const char *name = t_name("args");
	shmpipe_sem *s = (shmpipe_sem *)1;
	T_ERR(shmpipe_sem_open(&s, name), ENOENT);
	T_ASSERT(s == NULL);
	T_ERR(shmpipe_sem_create(NULL, name, 0, 0, 0), EINVAL);
	T_ERR(shmpipe_sem_open(NULL, name), EINVAL);
	T_ERR(shmpipe_sem_create(&s, name, (unsigned)SEM_VALUE_MAX + 1, 0, 0),
	      EINVAL);
	T_ERR(shmpipe_sem_create(&s, name, UINT_MAX, 0, 0), EINVAL);
	T_ERR(shmpipe_sem_create(&s, name, 0, 0, 0x100), EINVAL);
	T_ASSERT(!t_shm_exists("sem.shmpipe.", name));

	/* The largest value works, and one more post overflows. */
	T_OK(shmpipe_sem_create(&s, name, SEM_VALUE_MAX, 0, 0));
	T_EQ(shmpipe_sem_value(s), SEM_VALUE_MAX);
	T_ERR(shmpipe_sem_post(s), EOVERFLOW);
	T_EQ(shmpipe_sem_value(s), SEM_VALUE_MAX);
	shmpipe_sem_close(s);
	T_OK(shmpipe_sem_unlink(name));
}

static void test_cross_process(void)
{
	const char *name = t_name("xproc");
	shmpipe_sem *s;
	T_OK(shmpipe_sem_create(&s, name, 0, 0, 0));
	pid_t pid = t_fork();
	if (pid == 0) {
		alarm(30); /* never released: die, do not hang */
		shmpipe_sem *c;
		T_OK(shmpipe_sem_open(&c, name));
		T_OK(shmpipe_sem_wait(c, -1));
		T_EQ(shmpipe_sem_value(c), 0);
		shmpipe_sem_close(c);
		_exit(T_PASS);
	}
	/* The child cannot get past the wait before we post. */
	t_sleep_ms(300);
	T_ASSERT(t_running(pid));
	T_EQ(shmpipe_sem_value(s), 0);
	double t0 = t_now();
	T_OK(shmpipe_sem_post(s));
	T_EQ(t_wait(pid), T_PASS);
	T_ASSERT(t_now() - t0 < 5);
	T_EQ(shmpipe_sem_value(s), 0);

	/* And the other way: the child posts, a timed wait here gets it. */
	pid = t_fork();
	if (pid == 0) {
		t_sleep_ms(100);
		T_OK(shmpipe_sem_post(s)); /* the inherited handle */
		_exit(T_PASS);
	}
	T_OK(shmpipe_sem_wait(s, 10000));
	T_EQ(t_wait(pid), T_PASS);
	shmpipe_sem_close(s);
	T_OK(shmpipe_sem_unlink(name));
}

static void test_not_semaphores(void)
{
	const char *name = t_name("bad");
	char path[512];
	snprintf(path, sizeof(path), "/dev/shm/sem.shmpipe.%s", name);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0);
	T_EQ(write(fd, "7 bytes", 7), 7);
	shmpipe_sem *s = (shmpipe_sem *)1;
	T_ERR(shmpipe_sem_open(&s, name), EBADMSG);
	T_ASSERT(s == NULL);
	T_EQ(ftruncate(fd, 0), 0);
	T_ERR(shmpipe_sem_open(&s, name), EBADMSG);
	T_EQ(ftruncate(fd, sizeof(sem_t) + 1), 0);
	T_ERR(shmpipe_sem_open(&s, name), EBADMSG);
	T_EQ(ftruncate(fd, 1 << 20), 0);
	T_ERR(shmpipe_sem_open(&s, name), EBADMSG);
	close(fd);
	/* Create does not clobber it. */
	T_ERR(shmpipe_sem_create(&s, name, 1, 0, 0), EEXIST);
	T_OK(shmpipe_sem_unlink(name));

	/* Gone, file and name. */
	T_ERR(shmpipe_sem_open(&s, name), ENOENT);

	/* A symlink to a good semaphore is not followed. */
	const char *target = t_name("target");
	char target_path[512];
	snprintf(target_path, sizeof(target_path), "/dev/shm/sem.shmpipe.%s",
		 target);
	shmpipe_sem *t;
	T_OK(shmpipe_sem_create(&t, target, 3, 0, 0));
	T_EQ(symlink(target_path, path), 0);
	T_ERR(shmpipe_sem_open(&s, name), ELOOP);
	T_ERR(shmpipe_sem_create(&s, name, 1, 0, 0), EEXIST);
	T_OK(shmpipe_sem_unlink(name)); /* the link, not the target */
	T_ASSERT(t_shm_exists("sem.shmpipe.", target));
	T_EQ(shmpipe_sem_value(t), 3);
	shmpipe_sem_close(t);
	T_OK(shmpipe_sem_unlink(target));
}

static void test_glibc(void)
{
	const char *name = t_name("glibc");
	char posix_name[128];
	snprintf(posix_name, sizeof(posix_name), "/shmpipe.%s", name);
	shmpipe_sem *s;
	T_OK(shmpipe_sem_create(&s, name, 0, 0, 0));

	sem_t *g = sem_open(posix_name, 0);
	T_ASSERT(g != SEM_FAILED);
	T_EQ(sem_trywait(g), -1);
	T_EQ(errno, EAGAIN);
	T_OK(shmpipe_sem_post(s));
	T_EQ(sem_trywait(g), 0);
	T_EQ(shmpipe_sem_value(s), 0);
	T_EQ(sem_post(g), 0);
	T_EQ(sem_post(g), 0);
	T_EQ(shmpipe_sem_value(s), 2);
	T_OK(shmpipe_sem_trywait(s));
	int v = -1;
	T_EQ(sem_getvalue(g, &v), 0);
	T_EQ(v, 1);
	T_EQ(sem_close(g), 0);
	shmpipe_sem_close(s);

	/* glibc's sem_unlink and ours remove the same name. */
	T_EQ(sem_unlink(posix_name), 0);
	T_ERR(shmpipe_sem_unlink(name), ENOENT);

	/* The other way round: made by glibc, opened by us. */
	g = sem_open(posix_name, O_CREAT | O_EXCL, 0600, 4);
	T_ASSERT(g != SEM_FAILED);
	T_OK(shmpipe_sem_open(&s, name));
	T_EQ(shmpipe_sem_value(s), 4);
	T_OK(shmpipe_sem_wait(s, 1000));
	v = -1;
	T_EQ(sem_getvalue(g, &v), 0);
	T_EQ(v, 3);
	T_EQ(sem_close(g), 0);
	shmpipe_sem_close(s);
	T_OK(shmpipe_sem_unlink(name));
}

int main(void)
{
	test_counting();
	test_arguments();
	test_cross_process();
	test_not_semaphores();
	test_glibc();
	return T_PASS;
}
