/* SPDX-License-Identifier: MIT */
/*
 * pipe_stream.c - a stream pipe behaves like a pipe of bytes:
 *  - a read returns 1..len bytes as soon as any are there: a reader blocked
 *    for 1000 bytes returns the 3 another process wrote, while that
 *    process still holds the rest back;
 *  - small reads (1 byte, 7 bytes) drain the bytes in order;
 *  - random-size writes and reads through a pipe many times over (capacity
 *    a whole number of pages, and not), one process and two, give back the
 *    writer's byte stream (a PRNG stream) exactly; hundreds of the reads
 *    straddle the end of the ring;
 *  - a write longer than the capacity goes in pieces while a reader process
 *    drains it, and returns the full count;
 *  - a write of 0 bytes returns 0 and adds nothing;
 *  - a write that does not fit in time (timeout 0 or 200 ms) writes nothing:
 *    the reader later sees the earlier bytes and not one of the refused.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------- the stream */

/* Byte @i of the test stream. */
static unsigned char stream_byte(uint64_t i)
{
	uint64_t s = i / 8;
	return (unsigned char)(t_random(&s) >> (i % 8 * 8));
}

static void stream_fill(unsigned char *buf, uint64_t from, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = stream_byte(from + i);
}

/* Check @len bytes read at stream offset @from. */
static void stream_check(const unsigned char *buf, uint64_t from, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != stream_byte(from + i))
			t_fail(__FILE__, __LINE__, "byte %llu: got %u, want %u",
			       (unsigned long long)(from + i), buf[i],
			       stream_byte(from + i));
}

static size_t page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (n + page - 1) / page * page;
}

/* ---------------------------------------------------------------- tests */

static void test_read_returns_what_is_there(void)
{
	const char *name = t_pipe_create("some", 4096, SHMPIPE_STREAM);
	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t pid = t_spawn();
	if (pid == 0) {
		close(sv[0]);
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		T_EQ(t_hear(sv[1]), 'g');
		T_EQ(shmpipe_write(w, "abc", 3, 0), 3);
		/* Hold the rest back until the parent has read. */
		T_EQ(t_hear(sv[1]), 'm');
		T_EQ(shmpipe_write(w, "defgh", 5, 0), 5);
		T_EQ(t_hear(sv[1]), 'q');
		shmpipe_close(w);
		_exit(T_PASS);
	}
	close(sv[1]);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char buf[1000];
	t_say(sv[0], 'g');
	double t0 = t_now();
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 5000), 3);
	T_ASSERT(t_now() - t0 < 5);
	T_ASSERT(memcmp(buf, "abc", 3) == 0);
	t_say(sv[0], 'm');
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 5000), 5);
	T_ASSERT(memcmp(buf, "defgh", 5) == 0);
	t_say(sv[0], 'q');
	T_EQ(t_wait_within(pid, 10), T_PASS);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 5000), 0); /* writer gone */
	shmpipe_close(r);
	close(sv[0]);
}

static void test_small_reads(void)
{
	const char *name = t_pipe_create("small", 1000, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char buf[1000];
	stream_fill(buf, 0, 1000);
	T_EQ(shmpipe_write(w, buf, 1000, 0), 1000);
	uint64_t at = 0;
	for (int i = 0; i < 300; i++, at++) { /* one byte at a time */
		T_EQ(shmpipe_read(r, buf, 1, 0), 1);
		stream_check(buf, at, 1);
	}
	while (at < 1000) { /* then seven */
		ssize_t n = shmpipe_read(r, buf, 7, 0);
		T_EQ(n, at + 7 <= 1000 ? 7 : 1000 - at);
		stream_check(buf, at, (size_t)n);
		at += (uint64_t)n;
	}
	T_ERR(shmpipe_read(r, buf, 1, 0), EAGAIN);
	shmpipe_close(r);
	shmpipe_close(w);
}

/* One process writes and reads random sizes through the pipe, @total
 * bytes in all. Returns how many reads straddled the end of the ring. */
static int churn(shmpipe *w, shmpipe *r, size_t cap, uint64_t total,
		 uint64_t seed)
{
	size_t ring = page_round(cap);
	unsigned char *buf = malloc(cap);
	T_ASSERT(buf);
	uint64_t wpos = 0, rpos = 0;
	int straddles = 0;
	while (rpos < total) {
		size_t fill = (size_t)(wpos - rpos);
		/* Mostly small, sometimes up to the whole capacity. */
		uint64_t x = t_random(&seed);
		size_t max = x % 4 ? cap / 8 + 1 : cap;
		size_t n = 1 + (size_t)(t_random(&seed) % max);
		if (wpos < total && n <= cap - fill && x % 3) {
			if (n > total - wpos)
				n = (size_t)(total - wpos);
			stream_fill(buf, wpos, n);
			T_EQ(shmpipe_write(w, buf, n, 0), n);
			wpos += n;
		} else if (fill) {
			ssize_t got = shmpipe_read(r, buf, n, 0);
			T_EQ(got, n < fill ? n : fill);
			stream_check(buf, rpos, (size_t)got);
			straddles += rpos % ring + (size_t)got > ring;
			rpos += (uint64_t)got;
		}
	}
	T_ERR(shmpipe_read(r, buf, 1, 0), EAGAIN);
	free(buf);
	return straddles;
}

static void test_integrity_one_process(void)
{
	static const size_t caps[] = { 8192, 5000, 4097, 100 };
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		const char *name =
			t_pipe_create("wrap", caps[i], SHMPIPE_STREAM);
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
		/* 300 trips round the ring (mapped: whole pages). */
		uint64_t total = page_round(caps[i]) * 300ull;
		int straddles = churn(w, r, caps[i], total, i + 1);
		fprintf(stderr,
			"capacity %zu: %llu bytes, %d reads straddled\n",
			caps[i], (unsigned long long)total, straddles);
		T_ASSERT(straddles >= 100);
		shmpipe_close(r);
		shmpipe_close(w);
		T_OK(shmpipe_unlink(name));
	}
}

/* A writer process streams @total bytes in random-size writes; this one
 * reads random sizes up to end of file. */
static void test_integrity_two_processes(void)
{
	const size_t cap = 12345;
	const uint64_t total = 8u << 20;
	const char *name = t_pipe_create("pair", cap, SHMPIPE_STREAM);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		unsigned char *buf = malloc(cap);
		uint64_t seed = 42, pos = 0;
		while (pos < total) {
			size_t n = 1 + t_random(&seed) % cap;
			if (n > total - pos)
				n = (size_t)(total - pos);
			stream_fill(buf, pos, n);
			T_EQ(shmpipe_write(w, buf, n, 10000), n);
			pos += n;
		}
		free(buf);
		shmpipe_close(w);
		_exit(T_PASS);
	}
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char *buf = malloc(cap);
	T_ASSERT(buf);
	uint64_t seed = 7, pos = 0;
	for (;;) {
		size_t n = 1 + t_random(&seed) % (cap + 100);
		ssize_t got = shmpipe_read(r, buf, n, 10000);
		T_OK(got);
		if (got == 0)
			break;
		T_ASSERT((size_t)got <= n);
		stream_check(buf, pos, (size_t)got);
		pos += (uint64_t)got;
	}
	T_EQ(pos, total);
	T_EQ(t_wait_within(pid, 10), T_PASS);
	free(buf);
	shmpipe_close(r);
}

static void test_long_write(void)
{
	const size_t cap = 4096, len = 100000;
	const char *name = t_pipe_create("long", cap, SHMPIPE_STREAM);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
		unsigned char buf[1500];
		uint64_t pos = 0;
		ssize_t got;
		while ((got = shmpipe_read(r, buf, sizeof(buf), 10000)) > 0) {
			stream_check(buf, pos, (size_t)got);
			pos += (uint64_t)got;
		}
		T_EQ(got, 0);
		T_EQ(pos, len);
		shmpipe_close(r);
		_exit(T_PASS);
	}
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	unsigned char *buf = malloc(len);
	T_ASSERT(buf);
	stream_fill(buf, 0, len);
	T_EQ(shmpipe_write(w, buf, len, 10000), len);
	shmpipe_close(w);
	T_EQ(t_wait_within(pid, 10), T_PASS);
	free(buf);
}

static void test_zero_write(void)
{
	const char *name = t_pipe_create("zero", 100, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char c = 'x';
	T_EQ(shmpipe_write(w, &c, 0, 0), 0);
	T_EQ(shmpipe_write(w, &c, 0, -1), 0);
	T_ERR(shmpipe_read(r, &c, 1, 0), EAGAIN);
	T_ERR(shmpipe_next_size(r, 0), EAGAIN);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.bytes_in, 0);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_refused_write_writes_nothing(void)
{
	const char *name = t_pipe_create("refuse", 100, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char buf[100];
	stream_fill(buf, 0, 60);
	T_EQ(shmpipe_write(w, buf, 60, 0), 60);
	memset(buf, 0xee, sizeof(buf));
	T_ERR(shmpipe_write(w, buf, 50, 0), EAGAIN);
	T_ERR(shmpipe_write(w, buf, 41, 200), ETIMEDOUT);
	T_ERR(shmpipe_write(w, buf, 100, 0), EAGAIN);
	T_EQ(shmpipe_next_size(r, 0), 60);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 60);
	stream_check(buf, 0, 60);
	T_ERR(shmpipe_read(r, buf, 1, 0), EAGAIN);
	/* The pipe is fine afterwards: the refused size fits now. */
	stream_fill(buf, 60, 50);
	T_EQ(shmpipe_write(w, buf, 50, 0), 50);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 50);
	stream_check(buf, 60, 50);
	shmpipe_close(r);
	shmpipe_close(w);
}

int main(void)
{
	test_read_returns_what_is_there();
	test_small_reads();
	test_integrity_one_process();
	test_integrity_two_processes();
	test_long_write();
	test_zero_write();
	test_refused_write_writes_nothing();
	return T_PASS;
}
