/* SPDX-License-Identifier: MIT */
/*
 * pipe_eof.c - end of file as on a FIFO, and data that outlives its writer:
 *  - after the last writer closes, the reader first gets every byte in
 *    order, then 0 (again and again; next_size and peek say 0 too);
 *  - after the only writer is SIGKILLed, a reader process blocked in
 *    read(-1) gets the data and then 0 within a few seconds;
 *  - the same when the killed writer is this reader's own child, not yet
 *    reaped (a zombie holds nothing and never writes again);
 *  - with two writers, end of file only once both are gone: one closes (the
 *    reader still times out), the other is killed (now 0);
 *  - on a pipe no writer has ever opened, a read with timeout 300 waits and
 *    gets -ETIMEDOUT (not end of file), and a read(-1) in another process
 *    waits through a writer's open until it writes;
 *  - a writer fills the pipe and exits (closing, or not), nobody has the
 *    pipe open, and a reader started later gets every byte, then 0.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------- pipes */

/* Read the bytes "0123456789" (written in any pieces), then end of file,
 * all within @secs seconds. */
static void read_digits_then_eof(shmpipe *r, int secs)
{
	char buf[32];
	size_t have = 0;
	double end = t_now() + secs;
	ssize_t n;
	while ((n = shmpipe_read(r, buf + have, sizeof(buf) - have,
				 secs * 1000)) > 0) {
		have += (size_t)n;
		T_ASSERT(have <= 10);
	}
	T_EQ(n, 0);
	T_ASSERT(t_now() < end);
	T_EQ(have, 10);
	T_ASSERT(memcmp(buf, "0123456789", 10) == 0);
}

/* ---------------------------------------------------------------- tests */

static void test_closed(void)
{
	const char *name = t_pipe_create("closed", 100, SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	T_EQ(shmpipe_write(w, "0123", 4, 0), 4);
	T_EQ(shmpipe_write(w, "456789", 6, 0), 6);
	shmpipe_close(w);
	char c;
	T_EQ(shmpipe_read(r, &c, 1, 0), 1); /* data first, in order */
	T_EQ(c, '0');
	T_EQ(shmpipe_next_size(r, 0), 9);
	char buf[16];
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 9);
	T_ASSERT(memcmp(buf, "123456789", 9) == 0);
	for (int i = 0; i < 3; i++) {
		T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 0);
		T_EQ(shmpipe_read(r, buf, sizeof(buf), -1), 0);
	}
	T_EQ(shmpipe_next_size(r, -1), 0);
	const void *ptr;
	T_EQ(shmpipe_peek(r, &ptr, -1), 0);
	T_ERR(shmpipe_release(r, 1), EINVAL); /* nothing was peeked */
	shmpipe_close(r);
}

/* The writer process is SIGKILLed and reaped; a reader process blocked in
 * read(-1) must see end of file. */
static void test_killed_writer(void)
{
	const char *name = t_pipe_create("killed", 100, SHMPIPE_STREAM);
	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t writer = t_spawn();
	if (writer == 0) {
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		T_EQ(shmpipe_write(w, "0123456789", 10, 0), 10);
		t_say(sv[1], 'w');
		pause();
		_exit(T_FAIL);
	}
	T_EQ(t_hear(sv[0]), 'w');
	pid_t reader = t_spawn();
	if (reader == 0) {
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
		char buf[32];
		T_EQ(shmpipe_read(r, buf, sizeof(buf), -1), 10);
		t_say(sv[1], 'r');
		T_EQ(shmpipe_read(r, buf, sizeof(buf), -1), 0);
		shmpipe_close(r);
		_exit(T_PASS);
	}
	T_EQ(t_hear(sv[0]), 'r');
	t_sleep_ms(200); /* into its second read(-1) */
	T_ASSERT(t_running(reader));
	t_kill_and_reap(writer);
	double t0 = t_now();
	T_EQ(t_wait_within(reader, 5), T_PASS);
	fprintf(stderr, "end of file %.3f s after the writer died\n",
		t_now() - t0);
	close(sv[0]);
	close(sv[1]);
}

/* The writer is this process's child and kills itself: this process,
 * blocked in a read, has not reaped it (it is a zombie) and must still
 * see end of file. */
static void test_killed_writer_not_reaped(void)
{
	const char *name = t_pipe_create("zombie", 100, SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	pid_t writer = t_spawn();
	if (writer == 0) {
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		T_EQ(shmpipe_write(w, "01234", 5, 0), 5);
		t_sleep_ms(200);
		T_EQ(shmpipe_write(w, "56789", 5, 0), 5);
		raise(SIGKILL);
		_exit(T_FAIL);
	}
	read_digits_then_eof(r, 5);
	T_EQ(t_wait(writer), 128 + SIGKILL);
	shmpipe_close(r);
}

static void test_two_writers(void)
{
	const char *name = t_pipe_create("two", 100, SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t closer = t_spawn();
	if (closer == 0) {
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		t_say(sv[1], 'o');
		T_EQ(t_hear(sv[1]), 'c');
		T_EQ(shmpipe_write(w, "a", 1, 0), 1);
		shmpipe_close(w);
		_exit(T_PASS);
	}
	T_EQ(t_hear(sv[0]), 'o');
	pid_t victim = t_spawn();
	if (victim == 0) {
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		T_EQ(shmpipe_write(w, "b", 1, 0), 1);
		t_say(sv[1], 'o');
		pause();
		_exit(T_FAIL);
	}
	T_EQ(t_hear(sv[0]), 'o');
	t_say(sv[0], 'c');
	T_EQ(t_wait_within(closer, 5), T_PASS);
	char buf[4];
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 1000), 2);
	T_ASSERT(memcmp(buf, "ba", 2) == 0);
	/* One writer is still there: no end of file. */
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 300), ETIMEDOUT);
	t_kill_and_reap(victim);
	double t0 = t_now();
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 5000), 0);
	T_ASSERT(t_now() - t0 < 5);
	shmpipe_close(r);
	close(sv[0]);
	close(sv[1]);
}

static void test_never_opened(void)
{
	const char *name = t_pipe_create("never", 100, SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[16];
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	double t0 = t_now();
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 300), ETIMEDOUT);
	double took = t_now() - t0;
	T_ASSERT(took >= 0.29 && took < 5);
	shmpipe_close(r);

	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t reader = t_spawn();
	if (reader == 0) {
		shmpipe *r2 = t_pipe_open(name, SHMPIPE_READ);
		t_say(sv[1], 'o');
		T_EQ(shmpipe_read(r2, buf, sizeof(buf), -1), 5);
		T_ASSERT(memcmp(buf, "hello", 5) == 0);
		shmpipe_close(r2);
		_exit(T_PASS);
	}
	T_EQ(t_hear(sv[0]), 'o');
	t_sleep_ms(300);
	T_ASSERT(t_running(reader)); /* no writer yet: waits */
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	t_sleep_ms(300);
	T_ASSERT(t_running(reader)); /* a writer, no data: waits */
	T_EQ(shmpipe_write(w, "hello", 5, 0), 5);
	T_EQ(t_wait_within(reader, 5), T_PASS);
	shmpipe_close(w);
	close(sv[0]);
	close(sv[1]);
}

/* A writer process fills the pipe and exits; then nobody has it open;
 * then a reader process gets all of it, then end of file. */
static void test_persistence(int writer_closes)
{
	const size_t cap = 70000;
	const char *name = t_pipe_create(writer_closes ? "keep" : "keep-exit",
					 cap, SHMPIPE_STREAM);
	pid_t writer = t_spawn();
	if (writer == 0) {
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		unsigned char buf[1000];
		for (size_t at = 0; at < cap; at += sizeof(buf)) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = (unsigned char)((at + i) % 251);
			T_EQ(shmpipe_write(w, buf, sizeof(buf), 0), 1000);
		}
		T_ERR(shmpipe_write(w, buf, 1, 0), EAGAIN);
		if (writer_closes)
			shmpipe_close(w);
		exit(T_PASS);
	}
	T_EQ(t_wait_within(writer, 10), T_PASS);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.bytes_buffered, cap);
	T_EQ(st.writers, 0);
	T_EQ(st.readers, 0);
	T_EQ(st.nprocs, writer_closes ? 0 : 1);
	t_sleep_ms(100);

	pid_t reader = t_spawn();
	if (reader == 0) {
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
		unsigned char buf[777];
		size_t at = 0;
		ssize_t n;
		while ((n = shmpipe_read(r, buf, sizeof(buf), 5000)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				T_EQ(buf[i], (at + (size_t)i) % 251);
			at += (size_t)n;
		}
		T_EQ(n, 0);
		T_EQ(at, cap);
		shmpipe_close(r);
		_exit(T_PASS);
	}
	T_EQ(t_wait_within(reader, 10), T_PASS);
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.bytes_buffered, 0);
	T_EQ(st.bytes_out, cap);
}

int main(void)
{
	test_closed();
	test_killed_writer();
	test_killed_writer_not_reaped();
	test_two_writers();
	test_never_opened();
	test_persistence(1);
	test_persistence(0);
	return T_PASS;
}
