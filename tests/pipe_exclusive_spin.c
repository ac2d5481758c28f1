/* SPDX-License-Identifier: MIT */
/*
 * pipe_exclusive_spin.c - SHMPIPE_EXCLUSIVE handles and spinning waits:
 *  - an exclusive writer and an exclusive reader in two processes play
 *    ping-pong over two message pipes, 10000 64-byte messages each way,
 *    every one checked, sleeping in the kernel and with
 *    shmpipe_set_spin(p, 50);
 *  - while an exclusive writer (reader) is open in another process, a
 *    second exclusive open of that side is -EBUSY within about a second;
 *    a plain writer's write waits for the side and times out (-EAGAIN,
 *    -ETIMEDOUT after >= 0.29 s); once the exclusive handle closes, both
 *    work;
 *  - an exclusive writer SIGKILLed: a new exclusive writer opens within a
 *    couple of seconds and its data reaches the reader.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUNDS 10000
#define MSG    64

/* ------------------------------------------------------------- messages */

static void make_message(unsigned char *m, uint32_t round, uint32_t from)
{
	for (size_t i = 0; i < MSG; i++)
		m[i] = (unsigned char)(round * 31 + from * 101 + i);
	memcpy(m, &round, sizeof(round));
}

static void check_message(const unsigned char *m, uint32_t round, uint32_t from)
{
	unsigned char want[MSG];
	make_message(want, round, from);
	if (memcmp(m, want, MSG) != 0)
		t_fail(__FILE__, __LINE__, "round %u: wrong message from %u",
		       round, from);
}

/* ---------------------------------------------------------------- tests */

static void test_ping_pong(unsigned spin_us)
{
	const char *ping = t_pipe_create(spin_us ? "ping-spin" : "ping", 4096,
					 SHMPIPE_MESSAGE);
	const char *pong = t_pipe_create(spin_us ? "pong-spin" : "pong", 4096,
					 SHMPIPE_MESSAGE);
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *in =
			t_pipe_open(ping, SHMPIPE_READ | SHMPIPE_EXCLUSIVE);
		shmpipe *out =
			t_pipe_open(pong, SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE);
		T_OK(shmpipe_set_spin(in, spin_us));
		T_OK(shmpipe_set_spin(out, spin_us));
		unsigned char m[MSG];
		for (uint32_t i = 0; i < ROUNDS; i++) {
			T_EQ(shmpipe_read(in, m, sizeof(m), 10000), MSG);
			check_message(m, i, 0);
			make_message(m, i, 1);
			T_EQ(shmpipe_write(out, m, sizeof(m), 10000), MSG);
		}
		T_EQ(shmpipe_read(in, m, sizeof(m), 10000), 0);
		shmpipe_close(out);
		shmpipe_close(in);
		_exit(T_PASS);
	}
	shmpipe *out = t_pipe_open(ping, SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE);
	shmpipe *in = t_pipe_open(pong, SHMPIPE_READ | SHMPIPE_EXCLUSIVE);
	T_OK(shmpipe_set_spin(in, spin_us));
	T_OK(shmpipe_set_spin(out, spin_us));
	unsigned char m[MSG];
	double t0 = t_now();
	for (uint32_t i = 0; i < ROUNDS; i++) {
		make_message(m, i, 0);
		T_EQ(shmpipe_write(out, m, sizeof(m), 10000), MSG);
		T_EQ(shmpipe_read(in, m, sizeof(m), 10000), MSG);
		check_message(m, i, 1);
	}
	double took = t_now() - t0;
	shmpipe_close(out);
	T_EQ(shmpipe_read(in, m, sizeof(m), 10000), 0);
	T_EQ(t_wait_within(pid, 10), T_PASS);
	fprintf(stderr, "spin %u us: %d round trips in %.3f s\n", spin_us,
		ROUNDS, took);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(ping, &st));
	T_EQ(st.messages_in, ROUNDS);
	T_EQ(st.messages_out, ROUNDS);
	shmpipe_close(in);
}

/* Another process holds the side exclusively until told 'c' (close) on
 * @sv[0], or killed. */
static pid_t hold_exclusive(const char *name, unsigned side, int sv[2])
{
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *p = t_pipe_open(name, side | SHMPIPE_EXCLUSIVE);
		if (side == SHMPIPE_WRITE)
			T_EQ(shmpipe_write(p, "held", 4, 0), 4);
		t_say(sv[1], 'o');
		T_EQ(t_hear(sv[1]), 'c');
		shmpipe_close(p);
		t_say(sv[1], 'c');
		_exit(T_PASS);
	}
	T_EQ(t_hear(sv[0]), 'o');
	return pid;
}

static void expect_busy(const char *name, unsigned flags)
{
	shmpipe *p = (shmpipe *)1;
	double t0 = t_now();
	T_ERR(shmpipe_open(&p, name, flags), EBUSY);
	double took = t_now() - t0;
	T_ASSERT(p == NULL);
	if (took >= 3)
		t_fail(__FILE__, __LINE__, "-EBUSY after %.3f s", took);
}

static void test_busy(void)
{
	const char *name = t_pipe_create("busy", 4096, SHMPIPE_STREAM);
	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	shmpipe *plain_w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *plain_r = t_pipe_open(name, SHMPIPE_READ);

	/* The writer side. */
	pid_t pid = hold_exclusive(name, SHMPIPE_WRITE, sv);
	expect_busy(name, SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE);
	T_ERR(shmpipe_write(plain_w, "x", 1, 0), EAGAIN);
	double t0 = t_now();
	T_ERR(shmpipe_write(plain_w, "x", 1, 300), ETIMEDOUT);
	double took = t_now() - t0;
	T_ASSERT(took >= 0.29 && took < 5);
	void *space;
	T_ERR(shmpipe_reserve(plain_w, &space, 1, 0), EAGAIN);
	/* The reader side is not held. */
	char buf[8];
	T_EQ(shmpipe_read(plain_r, buf, sizeof(buf), 1000), 4);
	t_say(sv[0], 'c');
	T_EQ(t_hear(sv[0]), 'c');
	T_EQ(t_wait_within(pid, 5), T_PASS);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE);
	T_EQ(shmpipe_write(w, "ex", 2, 0), 2);
	expect_busy(name, SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE);
	shmpipe_close(w);
	T_EQ(shmpipe_write(plain_w, "pl", 2, 0), 2);
	T_EQ(shmpipe_read(plain_r, buf, sizeof(buf), 0), 4);
	T_ASSERT(memcmp(buf, "expl", 4) == 0);

	/* The reader side. */
	pid = hold_exclusive(name, SHMPIPE_READ, sv);
	expect_busy(name, SHMPIPE_READ | SHMPIPE_EXCLUSIVE);
	T_ERR(shmpipe_read(plain_r, buf, sizeof(buf), 0), EAGAIN);
	T_ERR(shmpipe_read(plain_r, buf, sizeof(buf), 300), ETIMEDOUT);
	T_EQ(shmpipe_write(plain_w, "y", 1, 0), 1); /* writers are free */
	t_say(sv[0], 'c');
	T_EQ(t_hear(sv[0]), 'c');
	T_EQ(t_wait_within(pid, 5), T_PASS);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ | SHMPIPE_EXCLUSIVE);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 1);
	shmpipe_close(r);
	shmpipe_close(plain_r);
	shmpipe_close(plain_w);
	close(sv[0]);
	close(sv[1]);
}

static void test_killed_exclusive(void)
{
	const char *name = t_pipe_create("killed", 4096, SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t pid = hold_exclusive(name, SHMPIPE_WRITE, sv);
	t_kill_and_reap(pid);
	double t0 = t_now();
	shmpipe *w = NULL;
	int e;
	while ((e = shmpipe_open(&w, name,
				 SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE)) ==
		       -EBUSY &&
	       t_now() - t0 < 5)
		;
	T_OK(e);
	double took = t_now() - t0;
	fprintf(stderr, "exclusive writer reopened %.3f s after the kill\n",
		took);
	T_ASSERT(took < 3);
	T_EQ(shmpipe_write(w, "new", 3, 0), 3);
	char buf[8];
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 1000), 7);
	T_ASSERT(memcmp(buf, "heldnew", 7) == 0);
	shmpipe_close(w);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 1000), 0);
	shmpipe_close(r);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	test_ping_pong(0);
	test_ping_pong(50);
	test_busy();
	test_killed_exclusive();
	return T_PASS;
}
