/* SPDX-License-Identifier: MIT */
/*
 * pipe_message.c - a message pipe keeps boundaries:
 *  - messages of random sizes (1 byte up to the largest that fits) written
 *    and read many times round the ring, in one process and between two,
 *    come out one per read, each with its own size and bytes;
 *  - three reader processes sharing one writer's 20000 messages get each
 *    message exactly once, whole;
 *  - a read into a buffer smaller than the next message is -EMSGSIZE and
 *    consumes nothing: shmpipe_next_size() tells the size (as often as
 *    asked, consuming nothing) and a read with a big enough buffer (exactly
 *    the size, or more) gets it;
 *  - a zero-length write returns 0 and adds no message;
 *  - a full pipe blocks the next message: -EAGAIN, -ETIMEDOUT after the
 *    timeout, and a writer process waiting with timeout 5 s goes on only
 *    when a message is read.
 */
#include "helpers.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------- messages */

/* Message @seq: its length, from 1 to @max (mostly small), and bytes. */
static size_t message_len(uint64_t seq, size_t max)
{
	uint64_t s = seq * 3 + 1;
	uint64_t x = t_random(&s);
	size_t limit = x % 4 ? (max < 64 ? max : 64) : max;
	return 1 + (size_t)(t_random(&s) % limit);
}

static unsigned char message_byte(uint64_t seq, size_t i)
{
	return (unsigned char)(seq * 131 + i * 7 + (i >> 8));
}

static void message_fill(unsigned char *buf, uint64_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = message_byte(seq, i);
}

static void message_check(const unsigned char *buf, uint64_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != message_byte(seq, i))
			t_fail(__FILE__, __LINE__,
			       "message %llu byte %zu: got %u, want %u",
			       (unsigned long long)seq, i, buf[i],
			       message_byte(seq, i));
}

static size_t span(size_t len)
{
	return 8 + ((len + 7) & ~(size_t)7);
}

/* ---------------------------------------------------------------- tests */

static void test_boundaries_one_process(size_t cap, uint64_t count)
{
	const char *name = t_pipe_create("one", cap, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	const size_t largest = (cap - 8) & ~(size_t)7;
	unsigned char *buf = malloc(cap);
	T_ASSERT(buf);
	uint64_t wseq = 0, rseq = 0, fill = 0, seed = cap;
	while (rseq < count) {
		size_t len = message_len(wseq, largest);
		if (wseq < count && span(len) <= cap - fill &&
		    t_random(&seed) % 3) {
			message_fill(buf, wseq, len);
			T_EQ(shmpipe_write(w, buf, len, 0), len);
			fill += span(len);
			wseq++;
		} else if (rseq < wseq) {
			size_t want = message_len(rseq, largest);
			/* A buffer of exactly the size, or a bigger one. */
			size_t room = rseq % 2 ? want : cap;
			T_EQ(shmpipe_read(r, buf, room, 0), want);
			message_check(buf, rseq, want);
			fill -= span(want);
			rseq++;
		} else {
			/* The next message cannot fit even an empty pipe:
			 * then message_len() is wrong. */
			T_ASSERT(span(len) <= cap);
		}
	}
	T_ERR(shmpipe_read(r, buf, cap, 0), EAGAIN);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.messages_in, count);
	T_EQ(st.messages_out, count);
	free(buf);
	shmpipe_close(r);
	shmpipe_close(w);
	T_OK(shmpipe_unlink(name));
}

static void test_boundaries_two_processes(void)
{
	const size_t cap = 10000;
	const size_t largest = (cap - 8) & ~(size_t)7;
	const uint64_t count = 20000;
	const char *name = t_pipe_create("two", cap, SHMPIPE_MESSAGE);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		unsigned char *buf = malloc(cap);
		for (uint64_t seq = 0; seq < count; seq++) {
			size_t len = message_len(seq, largest);
			message_fill(buf, seq, len);
			T_EQ(shmpipe_write(w, buf, len, 10000), len);
		}
		free(buf);
		shmpipe_close(w);
		_exit(T_PASS);
	}
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char *buf = malloc(cap);
	T_ASSERT(buf);
	uint64_t seq = 0;
	ssize_t got;
	while ((got = shmpipe_read(r, buf, cap, 10000)) > 0) {
		T_ASSERT(seq < count);
		T_EQ(got, message_len(seq, largest));
		message_check(buf, seq, (size_t)got);
		seq++;
	}
	T_EQ(got, 0);
	T_EQ(seq, count);
	T_EQ(t_wait_within(pid, 10), T_PASS);
	free(buf);
	shmpipe_close(r);
}

static void test_too_small_buffer(void)
{
	const char *name = t_pipe_create("small", 1000, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char buf[1000];
	message_fill(buf, 1, 100);
	T_EQ(shmpipe_write(w, buf, 100, 0), 100);
	message_fill(buf, 2, 5);
	T_EQ(shmpipe_write(w, buf, 5, 0), 5);

	memset(buf, 0, sizeof(buf));
	T_ERR(shmpipe_read(r, buf, 99, 0), EMSGSIZE);
	T_ERR(shmpipe_read(r, buf, 1, -1), EMSGSIZE);
	T_EQ(buf[0], 0); /* nothing copied */
	T_EQ(shmpipe_next_size(r, 0), 100);
	T_EQ(shmpipe_next_size(r, 1000), 100);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.messages_out, 0);
	T_EQ(st.messages_buffered, 2);
	T_EQ(shmpipe_read(r, buf, 100, 0), 100);
	message_check(buf, 1, 100);

	/* The next one is intact too. */
	T_EQ(shmpipe_next_size(r, 0), 5);
	T_ERR(shmpipe_read(r, buf, 4, 0), EMSGSIZE);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 5);
	message_check(buf, 2, 5);
	T_ERR(shmpipe_next_size(r, 0), EAGAIN);
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_zero_length(void)
{
	const char *name = t_pipe_create("zero", 100, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	char c = 'x';
	T_EQ(shmpipe_write(w, &c, 0, 0), 0);
	T_EQ(shmpipe_write(w, &c, 0, -1), 0);
	T_ERR(shmpipe_next_size(r, 0), EAGAIN);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.messages_in, 0);
	T_EQ(st.bytes_buffered, 0);
	/* A real message after them is the first one there. */
	T_EQ(shmpipe_write(w, "y", 1, 0), 1);
	T_EQ(shmpipe_read(r, &c, 1, 0), 1);
	T_EQ(c, 'y');
	T_ERR(shmpipe_read(r, &c, 1, 0), EAGAIN);
	shmpipe_close(r);
	shmpipe_close(w);
}

static void test_full_blocks(void)
{
	/* Room for 5 messages of 20. */
	const char *name = t_pipe_create("full", 160, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	unsigned char buf[100];
	for (uint64_t seq = 0; seq < 5; seq++) {
		message_fill(buf, seq, 20);
		T_EQ(shmpipe_write(w, buf, 20, 0), 20);
	}
	message_fill(buf, 5, 20);
	T_ERR(shmpipe_write(w, buf, 20, 0), EAGAIN);
	T_ERR(shmpipe_write(w, buf, 1, 0), EAGAIN);
	double t0 = t_now();
	T_ERR(shmpipe_write(w, buf, 20, 300), ETIMEDOUT);
	double took = t_now() - t0;
	T_ASSERT(took >= 0.29 && took < 5);

	/* Another writer waits for room, and gets it when one is read. */
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *w2 = t_pipe_open(name, SHMPIPE_WRITE);
		message_fill(buf, 5, 20);
		T_EQ(shmpipe_write(w2, buf, 20, 5000), 20);
		shmpipe_close(w2);
		_exit(T_PASS);
	}
	t_sleep_ms(300);
	T_ASSERT(t_running(pid));
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 20);
	message_check(buf, 0, 20);
	T_EQ(t_wait_within(pid, 5), T_PASS);
	for (uint64_t seq = 1; seq <= 5; seq++) {
		T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 20);
		message_check(buf, seq, 20);
	}
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	shmpipe_close(r);
	shmpipe_close(w);
}

/* Three reader processes share one writer's messages: each message goes to
 * exactly one of them, whole. */
static void test_many_readers(void)
{
	const size_t cap = 4096;
	const size_t largest = (cap - 8) & ~(size_t)7;
	enum { READERS = 3, COUNT = 20000 };
	const char *name = t_pipe_create("many", cap, SHMPIPE_MESSAGE);
	_Atomic uint32_t *seen =
		mmap(NULL, COUNT * sizeof(*seen), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(seen != MAP_FAILED);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	pid_t pids[READERS];
	for (int i = 0; i < READERS; i++) {
		pids[i] = t_spawn();
		if (pids[i] == 0) {
			shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
			unsigned char *buf = malloc(cap);
			ssize_t got;
			uint64_t seq;
			while ((got = shmpipe_read(r, buf, cap, 10000)) > 0) {
				T_ASSERT(got >= 8);
				memcpy(&seq, buf, sizeof(seq));
				T_ASSERT(seq < COUNT);
				T_EQ(got, message_len(seq, largest - 8) + 8);
				message_check(buf + 8, seq, (size_t)got - 8);
				atomic_fetch_add(&seen[seq], 1);
			}
			T_EQ(got, 0);
			free(buf);
			shmpipe_close(r);
			_exit(T_PASS);
		}
	}
	unsigned char *buf = malloc(cap);
	T_ASSERT(buf);
	for (uint64_t seq = 0; seq < COUNT; seq++) {
		size_t len = message_len(seq, largest - 8);
		memcpy(buf, &seq, sizeof(seq));
		message_fill(buf + 8, seq, len);
		T_EQ(shmpipe_write(w, buf, len + 8, 10000), len + 8);
	}
	shmpipe_close(w);
	for (int i = 0; i < READERS; i++)
		T_EQ(t_wait_within(pids[i], 10), T_PASS);
	for (uint64_t seq = 0; seq < COUNT; seq++)
		if (seen[seq] != 1)
			t_fail(__FILE__, __LINE__, "message %llu read %u times",
			       (unsigned long long)seq, seen[seq]);
	free(buf);
	munmap(seen, COUNT * sizeof(*seen));
}

int main(void)
{
	test_boundaries_one_process(16, 5000);
	test_boundaries_one_process(100, 20000);
	test_boundaries_one_process(4096, 20000);
	test_boundaries_one_process(5000, 20000);
	test_boundaries_two_processes();
	test_many_readers();
	test_too_small_buffer();
	test_zero_length();
	test_full_blocks();
	return T_PASS;
}
