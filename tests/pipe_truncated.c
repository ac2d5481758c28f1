/* SPDX-License-Identifier: MIT */
/*
 * pipe_truncated.c - a peer that truncates the shared object under us
 * (anyone with write access can ftruncate it) never gets a SIGBUS to the
 * user: every call on the pipe reports -EBADMSG instead, including
 *  - read, write, peek, room, stat_handle on handles opened before;
 *  - a reader blocked on an empty pipe (it returns -EBADMSG, not hangs);
 *  - memory the user touches between peek and release, or between
 *    reserve and commit (zero pages; release/commit say -EBADMSG);
 *  - shmpipe_stat() and shmpipe_open() of the truncated name.
 * And our SIGBUS handler changes nothing else: a SIGBUS on memory that is
 * not a pipe's still reaches the program's own handler, or kills with
 * SIGBUS when there is none.
 */
#define _GNU_SOURCE
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The peer: truncate /dev/shm/shmpipe.NAME to @size, from a child. */
static void truncate_object(const char *name, off_t size)
{
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		char path[512];
		snprintf(path, sizeof(path), "/dev/shm/shmpipe.%s", name);
		int fd = open(path, O_RDWR | O_NOFOLLOW);
		_exit(fd >= 0 && ftruncate(fd, size) == 0 ? 0 : 1);
	}
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_handles(off_t to)
{
	const char *name = t_pipe_create(to ? "part" : "zero", 1 << 20,
					 SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	T_EQ(shmpipe_write(w, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	truncate_object(name, to);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), -EBADMSG);
	T_EQ(shmpipe_write(w, buf, sizeof(buf), 0), -EBADMSG);
	const void *p;
	T_EQ(shmpipe_peek(r, &p, 0), -EBADMSG);
	T_EQ(shmpipe_room(w), -EBADMSG);
	struct shmpipe_stats st;
	T_EQ(shmpipe_stat_handle(r, &st), -EBADMSG);
	T_EQ(shmpipe_stat(name, &st), -EBADMSG);
	shmpipe *again;
	T_EQ(shmpipe_open(&again, name, SHMPIPE_READ), -EBADMSG);
	shmpipe_close(w);
	shmpipe_close(r);
	T_OK(shmpipe_unlink(name));
}

static void test_zero_copy(void)
{
	const char *name = t_pipe_create("zc", 1 << 20, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	T_EQ(shmpipe_write(w, "hello", 5, 0), 5);
	const void *seen;
	T_EQ(shmpipe_peek(r, &seen, 0), 5);
	void *room;
	T_EQ(shmpipe_reserve(w, &room, 100, 0), 100);
	truncate_object(name, 0);
	/* The user's own accesses of the peeked and reserved memory. */
	volatile const char *c = seen;
	T_EQ(c[0], 0); /* zero pages now, and no SIGBUS */
	memset(room, 'y', 100);
	T_EQ(shmpipe_release(r, 5), -EBADMSG);
	T_EQ(shmpipe_commit(w, 100), -EBADMSG);
	shmpipe_close(w);
	shmpipe_close(r);
	T_OK(shmpipe_unlink(name));
}

/* A reader blocked on an empty pipe returns -EBADMSG (as exit status 3). */
static void test_blocked_reader(void)
{
	const char *name = t_pipe_create("blocked", 1 << 20, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
		char buf[64];
		ssize_t n = shmpipe_read(r, buf, sizeof(buf), 30000);
		_exit(n == -EBADMSG ? 3 : 4);
	}
	t_sleep_ms(300); /* let it block */
	truncate_object(name, 0);
	T_EQ(t_wait_within(pid, 5), 3);
	shmpipe_close(w);
	T_OK(shmpipe_unlink(name));
}

static sigjmp_buf jump;
static volatile sig_atomic_t own_handler_ran;

static void own_handler(int sig)
{
	(void)sig;
	own_handler_ran = 1;
	siglongjmp(jump, 1);
}

/* A mapping of a file of ours, then the file truncated: touching it
 * raises a SIGBUS that is none of the library's business. */
static volatile char *foreign_mapping(void)
{
	char path[] = "/tmp/pipe_truncated.XXXXXX";
	int fd = mkstemp(path);
	T_ASSERT(fd >= 0);
	unlink(path);
	T_EQ(ftruncate(fd, 8192), 0);
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_ASSERT(m != MAP_FAILED);
	T_EQ(ftruncate(fd, 0), 0);
	close(fd);
	return m;
}

static void test_foreign_sigbus(const char *name)
{
	/* The program's own handler, installed before a pipe is opened. */
	pid_t pid = t_spawn();
	if (pid == 0) {
		signal(SIGBUS, own_handler);
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ); /* ours goes in */
		volatile char *m = foreign_mapping();
		if (sigsetjmp(jump, 1) == 0)
			(void)m[0];
		shmpipe_close(r);
		_exit(own_handler_ran ? 0 : 5);
	}
	T_EQ(t_wait_within(pid, 10), 0);

	/* No handler of its own: it dies of SIGBUS, as it would without us. */
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
		volatile char *m = foreign_mapping();
		(void)m[0];
		shmpipe_close(r);
		_exit(6);
	}
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
#ifdef __SANITIZE_ADDRESS__
	/* ASan's own SIGBUS handler reports the fault and exits non-zero. */
	T_ASSERT(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0 &&
				     WEXITSTATUS(st) != 6));
#else
	T_ASSERT(WIFSIGNALED(st));
	T_EQ(WTERMSIG(st), SIGBUS);
#endif
}

int main(void)
{
	test_handles(0);
	test_handles(sysconf(_SC_PAGESIZE)); /* the header stays, the ring goes */
	test_zero_copy();
	test_blocked_reader();
	const char *name = t_pipe_create("foreign", 64 << 10, SHMPIPE_STREAM);
	test_foreign_sigbus(name);
	T_OK(shmpipe_unlink(name));
	return 0;
}
