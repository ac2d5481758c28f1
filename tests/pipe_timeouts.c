/* SPDX-License-Identifier: MIT */
/*
 * pipe_timeouts.c - reads and writes wait as long as they are told:
 *  - a read of an empty pipe with a writer attached: timeout 0 is -EAGAIN
 *    at once, 300 ms is -ETIMEDOUT after >= 0.29 s (and < 5 s); the same
 *    for a write to a full pipe, stream and message;
 *  - a read waiting for the reader lock (another reader process is blocked
 *    in read(-1) and holds it) times out the same way;
 *  - a child blocked in read(-1) is released by a write here, a child
 *    blocked in write(-1) by a read here (and not before);
 *  - signals (SIGALRM every 10 ms, handler without SA_RESTART) do not make
 *    a timed read, write or lock wait return early, nor stop a read(-1)
 *    from getting its data.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- pipes */

/* Wait (10 s at most) until @pid holds the @side lock of the pipe @name:
 * a process blocked in a read (write) holds the reader (writer) lock. */
static void await_lock_holder(const char *name, unsigned side, pid_t pid)
{
	double end = t_now() + 10;
	struct shmpipe_stats st;
	pid_t holder;
	do {
		t_sleep_ms(10);
		T_OK(shmpipe_stat(name, &st));
		holder = side == SHMPIPE_READ ? st.reader_lock_holder
					      : st.writer_lock_holder;
	} while (holder != pid && t_now() < end);
	T_EQ(holder, pid);
}

/* -EAGAIN at once from @call0, -ETIMEDOUT after 300 ms from @call300. */
#define EXPECT_TIMEOUTS(call0, call300)                                        \
	do {                                                                   \
		double t0_ = t_now();                                          \
		T_ERR(call0, EAGAIN);                                          \
		T_ASSERT(t_now() - t0_ < 1);                                   \
		t0_ = t_now();                                                 \
		T_ERR(call300, ETIMEDOUT);                                     \
		double took_ = t_now() - t0_;                                  \
		if (took_ < 0.29 || took_ >= 5)                                \
			t_fail(__FILE__, __LINE__, "300 ms wait took %.3f s",  \
			       took_);                                         \
	} while (0)

/* ---------------------------------------------------------------- tests */

static void test_empty_and_full(unsigned kind)
{
	const char *name = t_pipe_create(kind ? "ef-msg" : "ef", 64, kind);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[64];
	const void *ptr;
	EXPECT_TIMEOUTS(shmpipe_read(r, buf, sizeof(buf), 0),
			shmpipe_read(r, buf, sizeof(buf), 300));
	EXPECT_TIMEOUTS(shmpipe_next_size(r, 0), shmpipe_next_size(r, 300));
	EXPECT_TIMEOUTS(shmpipe_peek(r, &ptr, 0), shmpipe_peek(r, &ptr, 300));

	memset(buf, 'f', sizeof(buf));
	size_t unit = kind == SHMPIPE_MESSAGE ? 24 : 64; /* 2 x 32 or 64 */
	T_EQ(shmpipe_write(w, buf, unit, 0), unit);
	if (kind == SHMPIPE_MESSAGE)
		T_EQ(shmpipe_write(w, buf, unit, 0), unit);
	void *space;
	EXPECT_TIMEOUTS(shmpipe_write(w, buf, 1, 0),
			shmpipe_write(w, buf, 1, 300));
	EXPECT_TIMEOUTS(shmpipe_reserve(w, &space, 1, 0),
			shmpipe_reserve(w, &space, 1, 300));
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), unit);
	shmpipe_close(r);
	shmpipe_close(w);
}

/* A reader process blocked in read(-1) holds the reader lock: another
 * reader's timed read waits for the lock, and times out. */
static void test_lock_wait(void)
{
	const char *name = t_pipe_create("lock", 100, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
		char c;
		T_EQ(shmpipe_read(r, &c, 1, -1), 1);
		T_EQ(c, 'a');
		shmpipe_close(r);
		_exit(T_PASS);
	}
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	/* Until the child holds the lock, ours may get it: wait for that. */
	await_lock_holder(name, SHMPIPE_READ, pid);
	char c;
	EXPECT_TIMEOUTS(shmpipe_read(r, &c, 1, 0), shmpipe_read(r, &c, 1, 300));
	t_alarms_start(10, 10);
	double t0 = t_now();
	T_ERR(shmpipe_read(r, &c, 1, 300), ETIMEDOUT);
	double took = t_now() - t0;
	t_alarms_stop();
	T_ASSERT(took >= 0.29 && took < 5);
	T_ASSERT(t_alarms() >= 5);

	T_EQ(shmpipe_write(w, "ab", 2, 0), 2);
	T_EQ(t_wait_within(pid, 5), T_PASS);
	T_EQ(shmpipe_read(r, &c, 1, 1000), 1);
	T_EQ(c, 'b');
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_blocked_read_released(int with_signals)
{
	const char *name = t_pipe_create(with_signals ? "rd-sig" : "rd", 100,
					 SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
		if (with_signals)
			t_alarms_start(10, 10);
		char buf[10];
		T_EQ(shmpipe_read(r, buf, sizeof(buf), -1), 5);
		T_ASSERT(memcmp(buf, "hello", 5) == 0);
		T_ASSERT(!with_signals || t_alarms() >= 3);
		shmpipe_close(r);
		_exit(T_PASS);
	}
	await_lock_holder(name, SHMPIPE_READ, pid);
	t_sleep_ms(1000);
	T_ASSERT(t_running(pid));
	T_EQ(shmpipe_write(w, "hello", 5, 0), 5);
	T_EQ(t_wait_within(pid, 5), T_PASS);
	shmpipe_close(w);
}

static void test_blocked_write_released(int with_signals)
{
	const char *name = t_pipe_create(with_signals ? "wr-sig" : "wr", 100,
					 SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	char buf[100];
	memset(buf, 'x', sizeof(buf));
	T_EQ(shmpipe_write(w, buf, 90, 0), 90);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *w2 = t_pipe_open(name, SHMPIPE_WRITE);
		if (with_signals)
			t_alarms_start(10, 10);
		T_EQ(shmpipe_write(w2, "0123456789ab", 12, -1), 12);
		T_ASSERT(!with_signals || t_alarms() >= 3);
		shmpipe_close(w2);
		_exit(T_PASS);
	}
	await_lock_holder(name, SHMPIPE_WRITE, pid);
	t_sleep_ms(1000);
	T_ASSERT(t_running(pid));
	T_EQ(shmpipe_read(r, buf, 1, 0), 1); /* 11 free: not enough */
	t_sleep_ms(300);
	T_ASSERT(t_running(pid));
	T_EQ(shmpipe_read(r, buf, 1, 0), 1); /* 12 free */
	T_EQ(t_wait_within(pid, 5), T_PASS);
	T_EQ(shmpipe_read(r, buf, 88, 0), 88);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 12);
	T_ASSERT(memcmp(buf, "0123456789ab", 12) == 0);
	shmpipe_close(w);
	shmpipe_close(r);
}

static void test_signals_do_not_shorten(void)
{
	const char *name = t_pipe_create("sig", 16, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[16];
	t_alarms_start(10, 10);
	double t0 = t_now();
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 500), ETIMEDOUT);
	double took_read = t_now() - t0;
	T_EQ(shmpipe_write(w, "12345678", 8, 0), 8); /* full */
	t0 = t_now();
	T_ERR(shmpipe_write(w, "x", 1, 500), ETIMEDOUT);
	double took_write = t_now() - t0;
	t_alarms_stop();
	fprintf(stderr, "read %.3f s, write %.3f s, %d signals\n", took_read,
		took_write, t_alarms());
	T_ASSERT(t_alarms() >= 20);
	T_ASSERT(took_read >= 0.49 && took_read < 5);
	T_ASSERT(took_write >= 0.49 && took_write < 5);
	shmpipe_close(r);
	shmpipe_close(w);
}

int main(void)
{
	test_empty_and_full(SHMPIPE_STREAM);
	test_empty_and_full(SHMPIPE_MESSAGE);
	test_lock_wait();
	test_blocked_read_released(0);
	test_blocked_read_released(1);
	test_blocked_write_released(0);
	test_blocked_write_released(1);
	test_signals_do_not_shorten();
	return T_PASS;
}
