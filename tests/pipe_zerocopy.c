/* SPDX-License-Identifier: MIT */
/*
 * pipe_zerocopy.c - reserve/commit and peek/release:
 *  - bytes written in place between reserve and commit are read back;
 *    commit of fewer bytes than reserved publishes just those; commit(0)
 *    publishes nothing; in a message pipe the message has the committed
 *    size; a reservation that wraps the ring's end is contiguous;
 *  - -EINVAL: commit without a reservation (or on a reader), commit of more
 *    than reserved (the reservation stays usable), reserve of 0 or of more
 *    than the capacity, a NULL pointer; a message that can never fit is
 *    -EMSGSIZE; shmpipe_write or a second reserve while a reservation is
 *    open is -EBUSY;
 *  - peek shows every byte available, contiguous even across the ring's end
 *    (the mirror mapping); release(k) consumes k bytes of a stream;
 *    release(0) keeps everything; in a message pipe peek shows one message
 *    and any release > 0 consumes it whole; release without a peek or of
 *    more than was peeked is -EINVAL; read while peeking is -EBUSY;
 *  - delivery when processes die:
 *      a reader SIGKILLed between peek and release leaves the message for
 *      the next reader (at-least-once), which gets it within a few seconds
 *      (it takes the dead reader's lock over);
 *      a writer SIGKILLed between reserve and commit commits nothing, and
 *      the next writer proceeds within a few seconds, also when the dead
 *      writer is its own child, not yet reaped (a zombie), and signals
 *      interrupt its wait every 5 ms;
 *      a reader SIGKILLed right after shmpipe_read() returned has taken the
 *      message with it: the next reader gets the one after (at-most-once).
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------- processes and sync */

/* Run @fn in a child that tells us 's' when it is stopped at the point of
 * interest, then SIGKILL it there and reap it. */
static void kill_at(void (*fn)(const char *name, int fd), const char *name)
{
	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t pid = t_spawn();
	if (pid == 0) {
		close(sv[0]);
		fn(name, sv[1]);
		pause();
		_exit(T_FAIL);
	}
	close(sv[1]);
	char c = t_hear(sv[0]);
	t_kill_and_reap(pid);
	close(sv[0]);
	T_EQ(c, 's');
}

/* ----------------------------------------------------------------- data */

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed + i * 7 + i / 253);
}

static void check(const unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (unsigned char)(seed + i * 7 + i / 253))
			t_fail(__FILE__, __LINE__, "byte %zu of %u: %u", i,
			       seed, buf[i]);
}

/* ---------------------------------------------------------------- tests */

static void test_reserve_commit_stream(void)
{
	const size_t cap = 4096; /* exactly one page: the ring's end is known */
	const char *name = t_pipe_create("rc", cap, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char buf[4096];
	void *space;

	T_EQ(shmpipe_reserve(w, &space, 100, 0), 100);
	fill(space, 100, 1);
	T_EQ(shmpipe_commit(w, 100), 100);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 100);
	check(buf, 100, 1);

	/* Fewer than reserved: just those. */
	T_EQ(shmpipe_reserve(w, &space, 1000, 0), 1000);
	fill(space, 1000, 2);
	T_EQ(shmpipe_commit(w, 40), 40);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 40);
	check(buf, 40, 2);
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);

	/* Nothing. */
	T_EQ(shmpipe_reserve(w, &space, 50, 0), 50);
	memset(space, 0xee, 50);
	T_EQ(shmpipe_commit(w, 0), 0);
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.bytes_in, 140);

	/* Position 140: a reservation of 4000 runs past the ring's end and
	 * is one contiguous block all the same. */
	T_EQ(shmpipe_reserve(w, &space, 4000, 0), 4000);
	fill(space, 4000, 3);
	T_EQ(shmpipe_commit(w, 4000), 4000);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 4000);
	check(buf, 4000, 3);

	/* The whole capacity; then a reservation waits for room. */
	T_EQ(shmpipe_reserve(w, &space, cap, 0), cap);
	fill(space, cap, 4);
	T_EQ(shmpipe_commit(w, cap), cap);
	T_ERR(shmpipe_reserve(w, &space, 1, 0), EAGAIN);
	T_ERR(shmpipe_reserve(w, &space, 1, 200), ETIMEDOUT);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), cap);
	check(buf, cap, 4);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_reserve_commit_message(void)
{
	const char *name = t_pipe_create("rcm", 1000, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char buf[1000];
	void *space;
	T_EQ(shmpipe_reserve(w, &space, 200, 0), 200);
	fill(space, 200, 5);
	T_EQ(shmpipe_commit(w, 77), 77);
	T_EQ(shmpipe_reserve(w, &space, 10, 0), 10);
	fill(space, 10, 6);
	T_EQ(shmpipe_commit(w, 10), 10);
	T_EQ(shmpipe_reserve(w, &space, 10, 0), 10);
	T_EQ(shmpipe_commit(w, 0), 0);
	T_EQ(shmpipe_next_size(r, 0), 77);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 77);
	check(buf, 77, 5);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 10);
	check(buf, 10, 6);
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	/* The largest message; one byte more can never fit. */
	T_EQ(shmpipe_reserve(w, &space, 992, 0), 992);
	T_EQ(shmpipe_commit(w, 992), 992);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 992);
	T_ERR(shmpipe_reserve(w, &space, 993, -1), EMSGSIZE);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_write_errors(void)
{
	const char *name = t_pipe_create("werr", 100, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	void *space;
	char c;
	T_ERR(shmpipe_commit(w, 0), EINVAL); /* nothing reserved */
	T_ERR(shmpipe_commit(w, 1), EINVAL);
	T_ERR(shmpipe_reserve(w, &space, 0, 0), EINVAL);
	T_ERR(shmpipe_reserve(w, &space, 101, 0), EINVAL);
	T_ERR(shmpipe_reserve(w, &space, 101, -1), EINVAL);
	T_ERR(shmpipe_reserve(w, NULL, 10, 0), EINVAL);
	T_ERR(shmpipe_reserve(r, &space, 10, 0), EBADF);
	T_ERR(shmpipe_commit(r, 0), EINVAL);

	T_EQ(shmpipe_reserve(w, &space, 10, 0), 10);
	T_ERR(shmpipe_write(w, "x", 1, 0), EBUSY);
	T_ERR(shmpipe_reserve(w, &space, 10, 0), EBUSY);
	T_ERR(shmpipe_commit(w, 11), EINVAL);
	/* Still reserved after all that. */
	memcpy(space, "0123456789", 10);
	T_EQ(shmpipe_commit(w, 10), 10);
	T_ERR(shmpipe_commit(w, 10), EINVAL); /* once */
	T_EQ(shmpipe_write(w, "x", 1, 0), 1);
	char buf[16];
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 11);
	T_ASSERT(memcmp(buf, "0123456789x", 11) == 0);
	T_ERR(shmpipe_read(r, &c, 1, 0), EAGAIN);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_peek_release_stream(void)
{
	const size_t cap = 4096; /* = the ring */
	const char *name = t_pipe_create("pr", cap, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char buf[4096];
	const void *ptr;

	T_ERR(shmpipe_release(r, 0), EINVAL); /* nothing peeked */
	T_ERR(shmpipe_peek(r, NULL, 0), EINVAL);
	T_ERR(shmpipe_peek(w, &ptr, 0), EBADF);
	fill(buf, 3000, 0);
	T_EQ(shmpipe_write(w, buf, 3000, 0), 3000);
	T_EQ(shmpipe_read(r, buf, 3000, 0), 3000);

	/* 2500 bytes from position 3000: across the ring's end. */
	fill(buf, 2500, 7);
	T_EQ(shmpipe_write(w, buf, 1000, 0), 1000);
	T_EQ(shmpipe_write(w, buf + 1000, 1500, 0), 1500);
	T_EQ(shmpipe_peek(r, &ptr, 0), 2500);
	check(ptr, 2500, 7);
	T_ERR(shmpipe_read(r, buf, 1, 0), EBUSY);
	T_ERR(shmpipe_peek(r, &ptr, 0), EBUSY);
	T_ERR(shmpipe_release(r, 2501), EINVAL);
	T_EQ(shmpipe_release(r, 0), 0); /* keeps it all */
	T_EQ(shmpipe_peek(r, &ptr, 0), 2500);
	check(ptr, 2500, 7);
	T_EQ(shmpipe_release(r, 1000), 0);
	T_ERR(shmpipe_release(r, 0), EINVAL); /* once */
	T_EQ(shmpipe_peek(r, &ptr, 0), 1500);
	T_EQ(memcmp(ptr, buf + 1000, 1500), 0);
	T_EQ(shmpipe_release(r, 1500), 0);
	T_ERR(shmpipe_peek(r, &ptr, 0), EAGAIN);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.bytes_out, 5500);
	T_EQ(st.bytes_buffered, 0);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_peek_release_message(void)
{
	const char *name = t_pipe_create("prm", 100, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	const void *ptr;
	T_EQ(shmpipe_write(w, "aaa", 3, 0), 3);
	T_EQ(shmpipe_write(w, "bbbbb", 5, 0), 5);
	T_EQ(shmpipe_peek(r, &ptr, 0), 3);
	T_ASSERT(memcmp(ptr, "aaa", 3) == 0);
	T_ERR(shmpipe_release(r, 4), EINVAL);
	T_EQ(shmpipe_release(r, 0), 0);
	T_EQ(shmpipe_peek(r, &ptr, 0), 3);
	T_EQ(shmpipe_release(r, 1), 0); /* the whole message */
	T_EQ(shmpipe_peek(r, &ptr, 0), 5);
	T_ASSERT(memcmp(ptr, "bbbbb", 5) == 0);
	T_EQ(shmpipe_release(r, 5), 0);
	T_ERR(shmpipe_peek(r, &ptr, 0), EAGAIN);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.messages_out, 2);
	T_EQ(st.bytes_out, 8);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void peek_and_stop(const char *name, int fd)
{
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	const void *ptr;
	T_EQ(shmpipe_peek(r, &ptr, 5000), 5);
	T_ASSERT(memcmp(ptr, "first", 5) == 0);
	t_say(fd, 's');
}

static void read_and_stop(const char *name, int fd)
{
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[16];
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 5000), 5);
	T_ASSERT(memcmp(buf, "first", 5) == 0);
	t_say(fd, 's');
}

/* A reader dies between peek and release, another between read and using
 * what it read. */
static void test_reader_killed(void)
{
	const char *name = t_pipe_create("rk", 100, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	T_EQ(shmpipe_write(w, "first", 5, 0), 5);
	T_EQ(shmpipe_write(w, "second", 6, 0), 6);

	/* At-least-once: the peeked message is still there. */
	kill_at(peek_and_stop, name);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[16];
	double t0 = t_now();
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 5000), 5);
	T_ASSERT(t_now() - t0 < 5);
	T_ASSERT(memcmp(buf, "first", 5) == 0);
	shmpipe_close(r);

	/* At-most-once: a message that shmpipe_read() returned is gone,
	 * whether or not its reader lived to use it. */
	T_EQ(shmpipe_write(w, "first", 5, 0), 5);
	/* "second" is first in line now: take it out of the way. */
	r = t_pipe_open(name, SHMPIPE_READ);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 6);
	shmpipe_close(r);
	kill_at(read_and_stop, name);
	T_EQ(shmpipe_write(w, "third", 5, 0), 5);
	r = t_pipe_open(name, SHMPIPE_READ);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 5000), 5);
	T_ASSERT(memcmp(buf, "third", 5) == 0);
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void reserve_and_stop(const char *name, int fd)
{
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	void *space;
	T_EQ(shmpipe_reserve(w, &space, 50, 5000), 50);
	memset(space, 'J', 50);
	t_say(fd, 's');
}

static void test_writer_killed(unsigned kind)
{
	const char *name = t_pipe_create(kind ? "wkm" : "wk", 100, kind);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	T_EQ(shmpipe_write(w, "before", 6, 0), 6);
	kill_at(reserve_and_stop, name);
	double t0 = t_now();
	T_EQ(shmpipe_write(w, "after", 5, 5000), 5);
	double took = t_now() - t0;
	fprintf(stderr, "next write %.3f s after the writer died\n", took);
	T_ASSERT(took < 5);
	char buf[100];
	if (kind == SHMPIPE_MESSAGE) {
		T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 6);
		T_EQ(shmpipe_read(r, buf + 6, sizeof(buf) - 6, 0), 5);
	} else {
		T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 11);
	}
	T_ASSERT(memcmp(buf, "beforeafter", 11) == 0);
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat_handle(r, &st));
	T_EQ(st.messages_in, 2);
	T_EQ(st.writer_lock_holder, 0);
	shmpipe_close(w);
	shmpipe_close(r);
}

/* The same, harder: the dead writer is our own child, not reaped while we
 * wait for its lock (a zombie), and signals interrupt that wait every 5 ms
 * (as a profiler's would). */
static void test_writer_killed_not_reaped(void)
{
	const char *name = t_pipe_create("wkz", 100, SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *w2 = t_pipe_open(name, SHMPIPE_WRITE);
		void *space;
		T_EQ(shmpipe_reserve(w2, &space, 50, 5000), 50);
		memset(space, 'J', 50);
		raise(SIGKILL);
		_exit(T_FAIL);
	}
	double end = t_now() + 10;
	while (t_running(pid) && t_now() < end)
		t_sleep_ms(5);
	T_ASSERT(!t_running(pid)); /* dead, and not reaped */
	t_alarms_start(5, 5);
	double t0 = t_now();
	ssize_t n = shmpipe_write(w, "after", 5, 5000);
	double took = t_now() - t0;
	t_alarms_stop();
	fprintf(stderr, "next write %.3f s after the writer died, %d signals\n",
		took, t_alarms());
	T_EQ(n, 5);
	T_ASSERT(took < 5);
	T_ASSERT(t_alarms() > 0);
	T_EQ(t_wait(pid), 128 + SIGKILL);
	char buf[100];
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 5);
	T_ASSERT(memcmp(buf, "after", 5) == 0);
	shmpipe_close(w);
	shmpipe_close(r);
}

int main(void)
{
	test_reserve_commit_stream();
	test_reserve_commit_message();
	test_write_errors();
	test_peek_release_stream();
	test_peek_release_message();
	test_reader_killed();
	test_writer_killed(SHMPIPE_STREAM);
	test_writer_killed(SHMPIPE_MESSAGE);
	test_writer_killed_not_reaped();
	return T_PASS;
}
