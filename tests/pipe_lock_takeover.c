/* SPDX-License-Identifier: MIT */
/*
 * pipe_lock_takeover.c - a process SIGKILLed while it holds a side lock of
 * a pipe blocks nobody for long, and leaves nothing half done.
 *
 *  1. Writer lock: a writer is killed between shmpipe_reserve() and
 *     shmpipe_commit() (the writer lock held, half a message in the ring).
 *     Three writers already asleep on the lock with no timeout at all, and
 *     a fourth that arrives later, all finish within a few seconds; a
 *     reader then gets exactly their four messages, never the dead one's
 *     half; stats show the dead writer attached with alive=0.
 *  2. The same on a stream pipe with nobody else: nothing of the dead
 *     writer's reserved bytes is ever readable (a reader sees end of file).
 *  3. Reader lock: a reader is killed between shmpipe_peek() and
 *     shmpipe_release(). Two readers asleep on the lock (no timeout) get
 *     the first two messages, the dead reader's one included (at least
 *     once), the rest follow in order, each exactly once; stats show the
 *     dead reader with alive=0.
 *  4. An exclusive writer (its lock held for the handle's life) killed: a
 *     new exclusive writer gets -EBUSY while it lives, and opens once it
 *     is gone.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define WAITERS		 3
#define TAKEOVER_SECONDS 5.0 /* "within a few seconds" */
#define HALF_MARK	 'H' /* what the dead writer leaves in the ring */

/* The pid's entry in @st: its alive flag (0/1), or -1 when not attached. */
static int proc_alive_in(const struct shmpipe_stats *st, pid_t pid,
			 unsigned role)
{
	for (unsigned i = 0; i < st->nprocs; i++)
		if (st->procs[i].pid == pid && st->procs[i].role == role)
			return st->procs[i].alive;
	return -1;
}

/* A child that holds the writer lock forever: reserve, half a message. */
static void hold_writer_lock(const char *name, int ready_fd)
{
	shmpipe *p;
	void *at;
	if (shmpipe_open(&p, name, SHMPIPE_WRITE) < 0 ||
	    shmpipe_reserve(p, &at, 100, 1000) != 100)
		_exit(T_FAIL);
	memset(at, HALF_MARK, 50);
	t_say(ready_fd, 'r');
	for (;;)
		pause();
}

/* A writer child: announce, then write "writer N" with no timeout. */
static void blocked_writer(const char *name, int n, int ready_fd)
{
	shmpipe *p;
	if (shmpipe_open(&p, name, SHMPIPE_WRITE) < 0)
		_exit(T_FAIL);
	char msg[32];
	int len = snprintf(msg, sizeof(msg), "writer %d", n);
	t_say(ready_fd, 'r');
	if (shmpipe_write(p, msg, (size_t)len, -1) != len)
		_exit(T_FAIL);
	shmpipe_close(p);
	_exit(T_PASS);
}

static void test_writer_lock(void)
{
	const char *name = t_name("wlock");
	struct shmpipe_config cfg = { .capacity = 4096,
				      .kind = SHMPIPE_MESSAGE };
	T_OK(shmpipe_create(name, &cfg));
	int fds[2];
	T_OK(pipe(fds));

	pid_t holder = t_spawn();
	if (holder == 0)
		hold_writer_lock(name, fds[1]);
	T_EQ(t_hear(fds[0]), 'r');
	pid_t waiters[WAITERS];
	for (int i = 0; i < WAITERS; i++) {
		waiters[i] = t_spawn();
		if (waiters[i] == 0)
			blocked_writer(name, i, fds[1]);
		T_EQ(t_hear(fds[0]), 'r');
	}
	/* They called shmpipe_write(); give them time to get stuck in it. */
	t_sleep_ms(300);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.writer_lock_holder, holder);
	T_EQ(st.messages_in, 0);
	for (int i = 0; i < WAITERS; i++)
		T_ASSERT(t_running(waiters[i])); /* still blocked */

	double killed_at = t_now();
	t_kill_and_reap(holder);
	T_OK(shmpipe_stat(name, &st));
	T_EQ(proc_alive_in(&st, holder, SHMPIPE_WRITE), 0);

	for (int i = 0; i < WAITERS; i++)
		T_EQ(t_wait_within(waiters[i], TAKEOVER_SECONDS), T_PASS);
	double took = t_now() - killed_at;
	printf("writer lock: %d blocked writers went on %.3f s after the "
	       "holder's death\n",
	       WAITERS, took);
	T_ASSERT(took < TAKEOVER_SECONDS);

	/* A writer arriving now, with a timeout, is not held up either. */
	shmpipe *w;
	T_OK(shmpipe_open(&w, name, SHMPIPE_WRITE));
	double t0 = t_now();
	T_EQ(shmpipe_write(w, "late", 4, (int)(TAKEOVER_SECONDS * 1000)), 4);
	T_ASSERT(t_now() - t0 < TAKEOVER_SECONDS);
	shmpipe_close(w);

	/* Every message whole, the dead one's half nowhere. */
	shmpipe *r;
	T_OK(shmpipe_open(&r, name, SHMPIPE_READ));
	int seen[WAITERS] = { 0 }, late = 0;
	char buf[4097];
	ssize_t n;
	while ((n = shmpipe_read(r, buf, sizeof(buf) - 1, 2000)) > 0) {
		T_ASSERT(memchr(buf, HALF_MARK, (size_t)n) == NULL);
		int k;
		buf[n] = '\0';
		if (!strcmp(buf, "late"))
			late++;
		else if (sscanf(buf, "writer %d", &k) == 1 && k >= 0 &&
			 k < WAITERS)
			seen[k]++;
		else
			t_fail(__FILE__, __LINE__, "unexpected message '%s'",
			       buf);
	}
	T_EQ(n, 0); /* end of file: the dead writer is not counted */
	for (int i = 0; i < WAITERS; i++)
		T_EQ(seen[i], 1);
	T_EQ(late, 1);
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.messages_in, WAITERS + 1);
	T_EQ(st.messages_out, WAITERS + 1);
	T_EQ(st.writer_lock_holder, 0);
	/* The reader's end-of-file check freed the dead writer's slot. */
	T_EQ(proc_alive_in(&st, holder, SHMPIPE_WRITE), -1);
	shmpipe_close(r);
	close(fds[0]);
	close(fds[1]);
	T_OK(shmpipe_unlink(name));
}

static void test_stream_reserve(void)
{
	const char *name = t_name("sres");
	struct shmpipe_config cfg = { .capacity = 4096 };
	T_OK(shmpipe_create(name, &cfg));
	int fds[2];
	T_OK(pipe(fds));
	pid_t holder = t_spawn();
	if (holder == 0)
		hold_writer_lock(name, fds[1]);
	T_EQ(t_hear(fds[0]), 'r');
	t_kill_and_reap(holder);

	shmpipe *r;
	T_OK(shmpipe_open(&r, name, SHMPIPE_READ));
	char buf[256];
	double t0 = t_now();
	/* Empty, its only writer dead: end of file, not the reserved bytes. */
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 5000), 0);
	T_ASSERT(t_now() - t0 < TAKEOVER_SECONDS);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.bytes_in, 0);
	T_EQ(st.bytes_buffered, 0);
	shmpipe_close(r);

	/* The next writer takes the dead one's lock and writes normally. */
	shmpipe *w;
	T_OK(shmpipe_open(&w, name, SHMPIPE_WRITE));
	T_EQ(shmpipe_write(w, "abc", 3, 5000), 3);
	T_OK(shmpipe_open(&r, name, SHMPIPE_READ));
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 1000), 3);
	T_ASSERT(memcmp(buf, "abc", 3) == 0);
	shmpipe_close(r);
	shmpipe_close(w);
	close(fds[0]);
	close(fds[1]);
	T_OK(shmpipe_unlink(name));
}

/* A child that holds the reader lock forever: peek, never release. */
static void hold_reader_lock(const char *name, int ready_fd)
{
	shmpipe *p;
	const void *at;
	if (shmpipe_open(&p, name, SHMPIPE_READ) < 0 ||
	    shmpipe_peek(p, &at, 1000) <= 0)
		_exit(T_FAIL);
	t_say(ready_fd, 'r');
	for (;;)
		pause();
}

/* A reader child: announce, read one message with no timeout, pass it to
 * the parent through @out_fd. */
static void blocked_reader(const char *name, int ready_fd, int out_fd)
{
	shmpipe *p;
	if (shmpipe_open(&p, name, SHMPIPE_READ) < 0)
		_exit(T_FAIL);
	t_say(ready_fd, 'r');
	char buf[64];
	ssize_t n = shmpipe_read(p, buf, sizeof(buf), -1);
	if (n <= 0 || write(out_fd, buf, (size_t)n) != n)
		_exit(T_FAIL);
	shmpipe_close(p);
	_exit(T_PASS);
}

static void test_reader_lock(void)
{
	const char *name = t_name("rlock");
	struct shmpipe_config cfg = { .capacity = 4096,
				      .kind = SHMPIPE_MESSAGE };
	T_OK(shmpipe_create(name, &cfg));
	shmpipe *w;
	T_OK(shmpipe_open(&w, name, SHMPIPE_WRITE));
	for (int i = 1; i <= 5; i++) {
		char m[8];
		snprintf(m, sizeof(m), "m%d", i);
		T_EQ(shmpipe_write(w, m, 2, 0), 2);
	}
	shmpipe_close(w);

	int ready[2], out[2];
	T_OK(pipe(ready));
	T_OK(pipe(out));
	pid_t holder = t_spawn();
	if (holder == 0)
		hold_reader_lock(name, ready[1]);
	T_EQ(t_hear(ready[0]), 'r');
	pid_t waiters[2];
	for (int i = 0; i < 2; i++) {
		waiters[i] = t_spawn();
		if (waiters[i] == 0)
			blocked_reader(name, ready[1], out[1]);
		T_EQ(t_hear(ready[0]), 'r');
	}
	t_sleep_ms(300);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.reader_lock_holder, holder);
	T_EQ(st.messages_out, 0);
	for (int i = 0; i < 2; i++)
		T_ASSERT(t_running(waiters[i]));

	double killed_at = t_now();
	t_kill_and_reap(holder);
	T_OK(shmpipe_stat(name, &st));
	T_EQ(proc_alive_in(&st, holder, SHMPIPE_READ), 0);
	for (int i = 0; i < 2; i++)
		T_EQ(t_wait_within(waiters[i], TAKEOVER_SECONDS), T_PASS);
	double took = t_now() - killed_at;
	printf("reader lock: 2 blocked readers went on %.3f s after the "
	       "holder's death\n",
	       took);
	T_ASSERT(took < TAKEOVER_SECONDS);

	/* Each wrote its 2-byte message: together m1 and m2, in some order. */
	char got[5] = { 0 };
	T_EQ(read(out[0], got, 4), 4);
	T_ASSERT(!strcmp(got, "m1m2") || !strcmp(got, "m2m1"));

	shmpipe *r;
	T_OK(shmpipe_open(&r, name, SHMPIPE_READ));
	char buf[64];
	for (int i = 3; i <= 5; i++) {
		char m[8];
		snprintf(m, sizeof(m), "m%d", i);
		T_EQ(shmpipe_read(r, buf, sizeof(buf), 1000), 2);
		T_ASSERT(memcmp(buf, m, 2) == 0);
	}
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 1000), 0);
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.messages_out, 5);
	T_EQ(st.reader_lock_holder, 0);
	shmpipe_close(r);
	close(ready[0]);
	close(ready[1]);
	close(out[0]);
	close(out[1]);
	T_OK(shmpipe_unlink(name));
}

static void test_exclusive_writer(void)
{
	const char *name = t_name("excl");
	T_OK(shmpipe_create(name, NULL));
	int fds[2];
	T_OK(pipe(fds));
	pid_t holder = t_spawn();
	if (holder == 0) {
		shmpipe *p;
		if (shmpipe_open(&p, name, SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE) <
		    0)
			_exit(T_FAIL);
		t_say(fds[1], 'r');
		for (;;)
			pause();
	}
	T_EQ(t_hear(fds[0]), 'r');
	shmpipe *w;
	T_ERR(shmpipe_open(&w, name, SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE), EBUSY);
	t_kill_and_reap(holder);
	double t0 = t_now();
	T_OK(shmpipe_open(&w, name, SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE));
	T_ASSERT(t_now() - t0 < TAKEOVER_SECONDS);
	T_EQ(shmpipe_write(w, "x", 1, 1000), 1);
	shmpipe_close(w);
	close(fds[0]);
	close(fds[1]);
	T_OK(shmpipe_unlink(name));
}

int main(void)
{
	test_writer_lock();
	test_stream_reserve();
	test_reader_lock();
	test_exclusive_writer();
	return T_PASS;
}
