/* SPDX-License-Identifier: MIT */
/*
 * pipe_stats.c - shmpipe_stat() and shmpipe_stat_handle() after known
 * traffic:
 *  - a new pipe: its capacity and kind, every counter 0, writers_ever 0,
 *    no process, no lock holder; writers_ever stays 0 while only readers
 *    are attached;
 *  - stream: bytes in/out/buffered, write and read calls (messages in/out)
 *    and the high-water mark, exactly, step by step; stat by name and by
 *    handle agree;
 *  - message: messages and payload bytes in/out/buffered; the high-water
 *    mark counts the ring bytes the messages took (8-byte header plus the
 *    payload rounded up to 8 each), which is what fills the capacity;
 *  - attached processes: readers and writers counted, each listed with its
 *    pid and role; a SIGKILLed one (not reaped yet, then reaped) is listed
 *    with alive = 0 and no longer counted;
 *  - the writer lock holder is the pid of a process with a reservation open
 *    and 0 after its commit; the reader lock holder likewise around a peek;
 *  - shmpipe_list() calls back with the pipe's name, and stops early when
 *    the callback returns non-zero.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------- stats */

/* The entry for @pid in @st, or NULL. */
static const struct shmpipe_proc *proc_of(const struct shmpipe_stats *st,
					  pid_t pid)
{
	T_ASSERT(st->nprocs <= SHMPIPE_STAT_MAX_PROCS);
	for (unsigned i = 0; i < st->nprocs; i++)
		if (st->procs[i].pid == pid)
			return &st->procs[i];
	return NULL;
}

/* stat by name and by handle, which must agree; returns the first. */
static struct shmpipe_stats stat_both(const char *name, shmpipe *p)
{
	struct shmpipe_stats a, b;
	T_OK(shmpipe_stat(name, &a));
	T_OK(shmpipe_stat_handle(p, &b));
	T_EQ(a.capacity, b.capacity);
	T_EQ(a.kind, b.kind);
	T_EQ(a.bytes_in, b.bytes_in);
	T_EQ(a.bytes_out, b.bytes_out);
	T_EQ(a.bytes_buffered, b.bytes_buffered);
	T_EQ(a.messages_in, b.messages_in);
	T_EQ(a.messages_out, b.messages_out);
	T_EQ(a.messages_buffered, b.messages_buffered);
	T_EQ(a.high_water, b.high_water);
	T_EQ(a.writers, b.writers);
	T_EQ(a.readers, b.readers);
	T_EQ(a.writers_ever, b.writers_ever);
	T_EQ(a.nprocs, b.nprocs);
	return a;
}

#define EXPECT_TRAFFIC(st, bin, bout, min, mout, high)                         \
	do {                                                                   \
		T_EQ((st).bytes_in, bin);                                      \
		T_EQ((st).bytes_out, bout);                                    \
		T_EQ((st).bytes_buffered, (bin) - (bout));                     \
		T_EQ((st).messages_in, min);                                   \
		T_EQ((st).messages_out, mout);                                 \
		T_EQ((st).high_water, high);                                   \
	} while (0)

/* ---------------------------------------------------------------- tests */

static void test_new_pipe(void)
{
	const char *name = t_pipe_create("new", 5000, SHMPIPE_MESSAGE);
	struct shmpipe_stats st;
	memset(&st, 0xff, sizeof(st));
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.capacity, 5000);
	T_EQ(st.kind, SHMPIPE_MESSAGE);
	EXPECT_TRAFFIC(st, 0, 0, 0, 0, 0);
	T_EQ(st.messages_buffered, 0);
	T_EQ(st.writers, 0);
	T_EQ(st.readers, 0);
	T_EQ(st.writers_ever, 0);
	T_EQ(st.writer_lock_holder, 0);
	T_EQ(st.reader_lock_holder, 0);
	T_EQ(st.nprocs, 0);

	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	shmpipe *r2 = t_pipe_open(name, SHMPIPE_READ);
	st = stat_both(name, r);
	T_EQ(st.readers, 2);
	T_EQ(st.writers, 0);
	T_EQ(st.writers_ever, 0);
	T_EQ(st.nprocs, 2);
	for (unsigned i = 0; i < 2; i++) {
		T_EQ(st.procs[i].pid, getpid());
		T_EQ(st.procs[i].role, SHMPIPE_READ);
		T_EQ(st.procs[i].alive, 1);
	}
	shmpipe_close(r2);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	st = stat_both(name, r);
	T_EQ(st.readers, 1);
	T_EQ(st.writers, 1);
	T_EQ(st.writers_ever, 1);
	shmpipe_close(w);
	st = stat_both(name, r);
	T_EQ(st.writers, 0);
	T_EQ(st.writers_ever, 1); /* ever */
	T_EQ(st.nprocs, 1);
	T_ERR(shmpipe_stat(name, NULL), EINVAL);
	T_ERR(shmpipe_stat_handle(r, NULL), EINVAL);
	shmpipe_close(r);
}

static void test_stream_traffic(void)
{
	const char *name = t_pipe_create("stream", 1000, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[1000] = { 0 };
	struct shmpipe_stats st;

	T_EQ(shmpipe_write(w, buf, 300, 0), 300);
	T_EQ(shmpipe_write(w, buf, 200, 0), 200);
	st = stat_both(name, r);
	T_EQ(st.capacity, 1000);
	T_EQ(st.kind, SHMPIPE_STREAM);
	EXPECT_TRAFFIC(st, 500, 0, 2, 0, 500);
	T_EQ(shmpipe_read(r, buf, 100, 0), 100);
	st = stat_both(name, r);
	EXPECT_TRAFFIC(st, 500, 100, 2, 1, 500);
	T_EQ(shmpipe_write(w, buf, 600, 0), 600);
	st = stat_both(name, r);
	EXPECT_TRAFFIC(st, 1100, 100, 3, 1, 1000);
	T_EQ(shmpipe_read(r, buf, 1000, 0), 1000);
	st = stat_both(name, r);
	EXPECT_TRAFFIC(st, 1100, 1100, 3, 2, 1000);
	T_EQ(shmpipe_write(w, buf, 10, 0), 10);
	st = stat_both(name, w);
	EXPECT_TRAFFIC(st, 1110, 1100, 4, 2, 1000);
	/* Refused and empty calls count nothing. */
	T_ERR(shmpipe_write(w, buf, 991, 0), EAGAIN);
	T_EQ(shmpipe_write(w, buf, 0, 0), 0);
	T_EQ(shmpipe_read(r, buf, 0, 0), 0);
	st = stat_both(name, w);
	EXPECT_TRAFFIC(st, 1110, 1100, 4, 2, 1000);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_message_traffic(void)
{
	const char *name = t_pipe_create("msgs", 1000, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[1000] = { 0 };
	struct shmpipe_stats st;
	T_EQ(shmpipe_write(w, buf, 10, 0), 10); /* 8 + 16 */
	T_EQ(shmpipe_write(w, buf, 20, 0), 20); /* 8 + 24 */
	T_EQ(shmpipe_write(w, buf, 3, 0), 3);	/* 8 + 8 */
	st = stat_both(name, r);
	EXPECT_TRAFFIC(st, 33, 0, 3, 0, 72);
	T_EQ(st.messages_buffered, 3);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 10);
	st = stat_both(name, r);
	EXPECT_TRAFFIC(st, 33, 10, 3, 1, 72);
	T_EQ(st.messages_buffered, 2);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 20);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 3);
	T_EQ(shmpipe_write(w, buf, 992, 0), 992); /* the whole capacity */
	st = stat_both(name, r);
	EXPECT_TRAFFIC(st, 1025, 33, 4, 3, 1000);
	T_EQ(st.messages_buffered, 1);
	shmpipe_close(r);
	shmpipe_close(w);
}

/* A writer child that reserves and commits on command, and is killed in
 * the end: stats show it all the way. */
static void test_processes_and_locks(void)
{
	const char *name = t_pipe_create("procs", 1000, SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		void *space;
		t_say(sv[1], 'o');
		T_EQ(t_hear(sv[1]), 'r');
		T_EQ(shmpipe_reserve(w, &space, 10, 0), 10);
		memcpy(space, "0123456789", 10);
		t_say(sv[1], 'r');
		T_EQ(t_hear(sv[1]), 'c');
		T_EQ(shmpipe_commit(w, 10), 10);
		t_say(sv[1], 'c');
		pause();
		_exit(T_FAIL);
	}
	T_EQ(t_hear(sv[0]), 'o');
	struct shmpipe_stats st = stat_both(name, r);
	T_EQ(st.writers, 1);
	T_EQ(st.readers, 1);
	T_EQ(st.writers_ever, 1);
	T_EQ(st.nprocs, 2);
	const struct shmpipe_proc *me = proc_of(&st, getpid());
	const struct shmpipe_proc *child = proc_of(&st, pid);
	T_ASSERT(me && child);
	T_EQ(me->role, SHMPIPE_READ);
	T_EQ(me->alive, 1);
	T_EQ(child->role, SHMPIPE_WRITE);
	T_EQ(child->alive, 1);
	T_EQ(st.writer_lock_holder, 0);

	t_say(sv[0], 'r');
	T_EQ(t_hear(sv[0]), 'r');
	st = stat_both(name, r);
	T_EQ(st.writer_lock_holder, pid);
	T_EQ(st.reader_lock_holder, 0);
	T_EQ(st.bytes_in, 0);
	t_say(sv[0], 'c');
	T_EQ(t_hear(sv[0]), 'c');
	st = stat_both(name, r);
	T_EQ(st.writer_lock_holder, 0);
	T_EQ(st.bytes_in, 10);

	const void *ptr;
	T_EQ(shmpipe_peek(r, &ptr, 0), 10);
	st = stat_both(name, r);
	T_EQ(st.reader_lock_holder, getpid());
	T_EQ(shmpipe_release(r, 4), 0);
	st = stat_both(name, r);
	T_EQ(st.reader_lock_holder, 0);
	T_EQ(st.bytes_out, 4);
	T_EQ(st.bytes_buffered, 6);

	/* Killed and not yet reaped: listed, dead, not counted. */
	T_EQ(kill(pid, SIGKILL), 0);
	double end = t_now() + 5;
	do {
		t_sleep_ms(10);
		st = stat_both(name, r);
		child = proc_of(&st, pid);
		T_ASSERT(child);
	} while (child->alive && t_now() < end);
	T_EQ(child->alive, 0);
	T_EQ(child->role, SHMPIPE_WRITE);
	T_EQ(st.writers, 0);
	T_EQ(st.readers, 1);
	T_EQ(t_wait_within(pid, 5), 128 + SIGKILL);
	st = stat_both(name, r);
	child = proc_of(&st, pid);
	if (child) /* a reader's end-of-file check may have freed its slot */
		T_EQ(child->alive, 0);
	T_EQ(st.writers, 0);
	T_EQ(st.writers_ever, 1);
	shmpipe_close(r);
	close(sv[0]);
	close(sv[1]);
}

struct list_arg {
	const char *want;
	int seen, calls;
};

static int on_name(const char *name, void *arg)
{
	struct list_arg *a = arg;
	a->calls++;
	a->seen += strcmp(name, a->want) == 0;
	return 0;
}

static int stop_at_first(const char *name, void *arg)
{
	(void)name;
	++*(int *)arg;
	return 42;
}

static void test_list(void)
{
	const char *name = t_pipe_create("listed", 100, SHMPIPE_STREAM);
	struct list_arg a = { .want = name };
	T_EQ(shmpipe_list(on_name, &a), 0);
	T_EQ(a.seen, 1);
	int calls = 0;
	T_EQ(shmpipe_list(stop_at_first, &calls), 42);
	T_EQ(calls, 1);
	T_ERR(shmpipe_list(NULL, NULL), EINVAL);
	T_OK(shmpipe_unlink(name));
	a.seen = 0;
	T_EQ(shmpipe_list(on_name, &a), 0);
	T_EQ(a.seen, 0);
}

int main(void)
{
	test_new_pipe();
	test_stream_traffic();
	test_message_traffic();
	test_processes_and_locks();
	test_list();
	return T_PASS;
}
