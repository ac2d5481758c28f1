/* SPDX-License-Identifier: MIT */
/*
 * pipe_capacity.c - a pipe holds exactly the capacity it was created with:
 *  - stream, capacities 1, 100, 4096, 4097, 65549 and 1 MiB: with no reader
 *    attached a writer puts exactly L bytes in without waiting (timeout 0,
 *    in several writes, and in one write of L bytes); one more byte is
 *    -EAGAIN with timeout 0 and -ETIMEDOUT after >= 0.19 s with 200 ms;
 *    after a reader takes k bytes exactly k more fit; the bytes come out in
 *    order; a write of L + 1 bytes with timeout 0 is a longer-than-capacity
 *    write and goes in partly (returns L);
 *  - message, capacities 16, 100, 4096, 4097, 65549 and 1 MiB: messages of
 *    len bytes take 8 + round8(len) bytes each, so exactly
 *    capacity / (8 + round8(len)) fit, then the largest message the rest
 *    can hold, then nothing; reading one message makes room for exactly one
 *    more; a message of (capacity - 8) rounded down to 8 fits an empty
 *    pipe, and one byte more is -EMSGSIZE at once, even with timeout -1 on
 *    a full pipe;
 *  - shmpipe_capacity() and shmpipe_kind() report what was created;
 *    capacity 0 (or no config) gives SHMPIPE_DEFAULT_CAPACITY; a bad kind,
 *    unknown flags, a message capacity below 16 are -EINVAL and a capacity
 *    too large to map -EFBIG, none of them leaving an object behind.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>

#define CHUNK 4093 /* not a divisor of any capacity tested */

static const size_t capacities[] = { 1, 100, 4096, 4097, 65536 + 13, 1 << 20 };

static unsigned char *buf; /* 1 MiB + 1: the largest unit tested */

static unsigned char byte_at(uint64_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static void fill(unsigned char *to, uint64_t from, size_t len)
{
	for (size_t i = 0; i < len; i++)
		to[i] = byte_at(from + i);
}

static void create(const char *name, size_t capacity, unsigned kind)
{
	struct shmpipe_config cfg = { .capacity = capacity, .kind = kind };
	T_OK(shmpipe_create(name, &cfg));
}

/* One more byte does not fit: at once with timeout 0 and, if @timed,
 * after the timeout with 200 ms. */
static void expect_full(shmpipe *w, int timed)
{
	unsigned char b = 0;
	double t0 = t_now();
	T_ERR(shmpipe_write(w, &b, 1, 0), EAGAIN);
	T_ASSERT(t_now() - t0 < 1);
	if (!timed)
		return;
	t0 = t_now();
	T_ERR(shmpipe_write(w, &b, 1, 200), ETIMEDOUT);
	double took = t_now() - t0;
	if (took < 0.19 || took >= 5)
		t_fail(__FILE__, __LINE__, "200 ms write took %.3f s", took);
}

/* Read exactly @len bytes and check they are bytes @from.. of the stream
 * (byte i is byte_at(i)). */
static void read_exact(shmpipe *r, uint64_t from, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = shmpipe_read(r, buf, len - done, 0);
		T_ASSERT(n > 0);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != byte_at(from + done + (size_t)i))
				t_fail(__FILE__, __LINE__,
				       "byte %llu: %u, want %u",
				       (unsigned long long)(from + done + i),
				       buf[i], byte_at(from + done + i));
		done += (size_t)n;
	}
}

static void test_stream(const char *name, size_t cap)
{
	create(name, cap, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	T_EQ(shmpipe_capacity(w), cap);
	T_EQ(shmpipe_kind(w), SHMPIPE_STREAM);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.readers, 0); /* nobody to make room */

	/* Exactly L bytes, in several writes, none of which waits; room()
	 * says how much more fits at each step. */
	uint64_t written = 0;
	while (written < cap) {
		T_EQ(shmpipe_room(w), cap - written);
		size_t n = cap - written < CHUNK ? cap - written : CHUNK;
		fill(buf, written, n);
		T_EQ(shmpipe_write(w, buf, n, 0), n);
		written += n;
	}
	T_EQ(shmpipe_room(w), 0);
	expect_full(w, 1);

	/* A reader takes k bytes: exactly k more fit. */
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	size_t k = cap < 37 ? cap : 37;
	read_exact(r, 0, k);
	fill(buf, written, k);
	T_EQ(shmpipe_write(w, buf, k, 0), k);
	written += k;
	expect_full(w, 0);
	read_exact(r, k, cap);
	T_ERR(shmpipe_read(r, buf, 1, 0), EAGAIN);

	/* All of L in one write, on an empty pipe, without waiting. */
	fill(buf, written, cap);
	T_EQ(shmpipe_write(w, buf, cap, 0), cap);
	expect_full(w, 0);
	read_exact(r, written, cap);
	written += cap;

	/* L + 1 bytes are more than fits at all: the write goes in pieces
	 * and, with timeout 0, stops after the first L. */
	fill(buf, written, cap + 1);
	T_EQ(shmpipe_write(w, buf, cap + 1, 0), cap);
	read_exact(r, written, cap);
	T_ERR(shmpipe_read(r, buf, 1, 0), EAGAIN);

	shmpipe_close(r);
	shmpipe_close(w);
	T_OK(shmpipe_unlink(name));
}

static size_t span(size_t len)
{
	return 8 + ((len + 7) & ~(size_t)7);
}

/* Write messages of @len until the pipe refuses one: how many went in. */
static size_t fill_messages(shmpipe *w, size_t len)
{
	size_t n = 0;
	for (;;) {
		memset(buf, (int)(n & 0xff), len);
		ssize_t r = shmpipe_write(w, buf, len, 0);
		if (r == -EAGAIN)
			return n;
		T_EQ(r, len);
		n++;
	}
}

static void test_message(const char *name, size_t cap)
{
	create(name, cap, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	T_EQ(shmpipe_capacity(w), cap);
	T_EQ(shmpipe_kind(r), SHMPIPE_MESSAGE);
	const size_t largest = (cap - 8) & ~(size_t)7;

	static const size_t lens[] = { 1, 8, 13, 100, 1000 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		if (len > largest)
			continue;
		T_EQ(fill_messages(w, len), cap / span(len));
		size_t room = cap - cap / span(len) * span(len);
		if (room >= span(1)) { /* the largest message the rest holds */
			size_t last = (room - 8) & ~(size_t)7;
			T_EQ(shmpipe_room(w), last);
			T_EQ(shmpipe_write(w, buf, last, 0), last);
		}
		T_EQ(shmpipe_room(w), 0);
		expect_full(w, 0);
		/* One message out: room for exactly one more of its size. */
		T_EQ(shmpipe_read(r, buf, len, 0), len);
		T_EQ(buf[0], 0);
		T_EQ(shmpipe_write(w, buf, len, 0), len);
		expect_full(w, i == 0);
		/* Too large: -EMSGSIZE at once, though -1 would wait. */
		double t0 = t_now();
		T_ERR(shmpipe_write(w, buf, largest + 1, -1), EMSGSIZE);
		T_ASSERT(t_now() - t0 < 1);
		ssize_t got;
		while ((got = shmpipe_read(r, buf, cap, 0)) > 0)
			;
		T_EQ(got, -EAGAIN);
	}

	/* The largest message fits an empty pipe and comes out whole. */
	fill(buf, 0, largest);
	T_EQ(shmpipe_write(w, buf, largest, 0), largest);
	T_ERR(shmpipe_write(w, buf, largest + 1, -1), EMSGSIZE);
	memset(buf, 0, largest);
	T_EQ(shmpipe_read(r, buf, cap, 0), largest);
	for (size_t i = 0; i < largest; i++)
		T_EQ(buf[i], byte_at(i));
	T_ERR(shmpipe_write(w, buf, largest + 1, 0), EMSGSIZE);
	T_ERR(shmpipe_write(w, buf, cap, -1), EMSGSIZE);
	T_ERR(shmpipe_read(r, buf, cap, 0), EAGAIN);

	shmpipe_close(r);
	shmpipe_close(w);
	T_OK(shmpipe_unlink(name));
}

static void test_config(const char *name)
{
	/* No config, or capacity 0: the default capacity, stream. */
	T_OK(shmpipe_create(name, NULL));
	shmpipe *p = t_pipe_open(name, SHMPIPE_READ);
	T_EQ(shmpipe_capacity(p), SHMPIPE_DEFAULT_CAPACITY);
	T_EQ(shmpipe_kind(p), SHMPIPE_STREAM);
	shmpipe_close(p);
	T_OK(shmpipe_unlink(name));
	create(name, 0, SHMPIPE_MESSAGE);
	p = t_pipe_open(name, SHMPIPE_WRITE);
	T_EQ(shmpipe_capacity(p), SHMPIPE_DEFAULT_CAPACITY);
	T_EQ(shmpipe_kind(p), SHMPIPE_MESSAGE);
	shmpipe_close(p);
	T_OK(shmpipe_unlink(name));

	struct shmpipe_config cfg = { .capacity = 4096, .kind = 2 };
	T_ERR(shmpipe_create(name, &cfg), EINVAL);
	cfg.kind = 0xffffffffu;
	T_ERR(shmpipe_create(name, &cfg), EINVAL);
	cfg.kind = SHMPIPE_STREAM;
	cfg.flags = 0x100;
	T_ERR(shmpipe_create(name, &cfg), EINVAL);
	cfg.flags = SHMPIPE_REPLACE | 0x80000000u;
	T_ERR(shmpipe_create(name, &cfg), EINVAL);
	cfg.flags = 0;
	cfg.kind = SHMPIPE_MESSAGE;
	for (size_t c = 1; c < 16; c++) {
		cfg.capacity = c;
		T_ERR(shmpipe_create(name, &cfg), EINVAL);
	}
	cfg.capacity = SIZE_MAX / 2;
	T_ERR(shmpipe_create(name, &cfg), EFBIG);
	T_ASSERT(!t_shm_exists("shmpipe.", name));

	/* 16 is the smallest message pipe: one message of up to 8 bytes. */
	cfg.capacity = 16;
	T_OK(shmpipe_create(name, &cfg));
	p = t_pipe_open(name, SHMPIPE_WRITE);
	T_EQ(shmpipe_capacity(p), 16);
	T_EQ(shmpipe_write(p, "12345678", 8, 0), 8);
	T_ERR(shmpipe_write(p, "1", 1, 0), EAGAIN);
	shmpipe_close(p);
	T_OK(shmpipe_unlink(name));
}

int main(void)
{
	const char *name = t_name("cap");
	buf = malloc((1 << 20) + 1);
	T_ASSERT(buf);
	test_config(name);
	for (size_t i = 0; i < sizeof(capacities) / sizeof(capacities[0]); i++)
		test_stream(name, capacities[i]);
	for (size_t i = 0; i < sizeof(capacities) / sizeof(capacities[0]); i++)
		test_message(name, capacities[i] < 16 ? 16 : capacities[i]);
	free(buf);
	return T_PASS;
}
