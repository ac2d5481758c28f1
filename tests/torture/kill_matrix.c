/* SPDX-License-Identifier: MIT */
/*
 * kill_matrix.c - guarantee 2, "no death blocks the others": a process
 * SIGKILLed at each place where a pipe call can block leaves every other
 * process free to go on within a few seconds, and a reader sees end of
 * file once the last writer is gone, however it died.
 *
 * The matrix: blocking point x role killed, ITERATIONS times each,
 * message and stream pipes in turn. Every process below is a child of
 * this one, stopped in a call of the library (its /proc state is 'S' and,
 * where it holds a side lock, `shmpipe_stat` names it the holder) before
 * the kill:
 *
 *   pipe full, writer killed   W1 blocked writing a big unit into a full
 *                              pipe (holding the writer lock), W2 queued
 *                              behind it with a small unit that fits:
 *                              W2 writes once W1 dies. Without W2 (every
 *                              other round), W1 was the last writer: a
 *                              reader gets the data, then end of file.
 *   pipe full, reader killed   W (big unit) and W2 (small) blocked on the
 *                              full pipe; the only reader dies. The
 *                              writers stay blocked (nothing dropped,
 *                              nothing refused) and go on as soon as a
 *                              new reader reads.
 *   pipe empty, writer killed  R1 blocked reading the empty pipe (holding
 *                              the reader lock), R2 queued behind it; the
 *                              only writer dies: both get end of file.
 *   pipe empty, reader killed  R1 blocked on the empty pipe dies; R2,
 *                              queued behind it, takes the reader lock
 *                              and gets the next unit written; or, every
 *                              other round, the writer dies too and R2
 *                              gets end of file.
 *   lock wait, writer killed   W1 holds the writer lock (reserve, half of
 *                              its unit written), W2 and W3 queued behind
 *                              it, R blocked on the empty pipe; one of
 *                              the queued writers dies. W1 commits, R gets
 *                              W1's unit, the other queued writer writes.
 *   lock wait, reader killed   R1 holds the reader lock (peek), R2 and R3
 *                              queued; one of them dies. R1 releases, the
 *                              other gets the second unit.
 *   lock held, writer killed   W1 dies between reserve and commit, R
 *                              blocked on the empty pipe; W2 queued on the
 *                              writer lock takes it over and R gets W2's
 *                              unit, never W1's half. Without W2, W1 was
 *                              the last writer: R gets end of file.
 *   lock held, reader killed   R1 dies between peek and release, R2 queued
 *                              on the reader lock gets the unit R1 peeked
 *                              (at least once); the room it frees lets a
 *                              writer blocked on the full pipe go on.
 *
 * Rounds alternate message and stream pipes, and the variants named
 * above; in every other pair of rounds the killed processes stay zombies
 * (unreaped) until the round ends, as when the parent of a dead process is
 * busy: kill(pid, 0) still succeeds on a zombie, and the library must see
 * through it.
 *
 * After each round a reader drains the pipe: exactly the units committed,
 * whole and in order (the dead writers' units nowhere), then end of file
 * within the limit; then a newcomer writer and reader pass one unit through
 * (taking over any lock a dead process still holds); the stats show no
 * live handle left.
 *
 * Recovery latency: from the kill to the survivor's call returning, as
 * the survivor saw it on CLOCK_MONOTONIC. The library looks at a lock
 * holder every 20 ms and at dead writers every 50 ms, so it is well under
 * a second on an idle machine; the test allows RECOVERY_LIMIT seconds (the
 * machine is small and shared) and prints the largest it saw.
 *
 * Figures: kill_matrix_kills, kill_matrix_max_recovery_ms.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ITERATIONS	20
#define CAPACITY	4096
#define PREFILL_UNITS	7
#define FILL_LEN	500 /* 7 of them leave room for SMALL, not BIG */
#define BIG_LEN		600
#define SMALL_LEN	100
#define MID_LEN		200
#define JUNK		'H' /* what a killed reserver leaves in the ring */
#define MAX_UNIT	1024
#define MAX_KIDS	4
#define RECOVERY_LIMIT	5.0   /* seconds: "within a few seconds" */
#define CALL_TIMEOUT_MS 20000 /* a survivor's call; far past the limit */
#define WAIT_SECONDS	10.0  /* for a child to finish or get stuck */

/* Each child leaves what its call returned, and when, in its slot. */
struct result {
	_Atomic int done;
	long ret;
	double at; /* t_now() right after the call returned */
	unsigned char data[MAX_UNIT];
};

enum script {
	WRITE,	      /* say ready, write one unit */
	RESERVE_HOLD, /* reserve, write junk, say ready; 'c': fill, commit */
	IDLE_WRITER,  /* say ready; 'w': write one unit; 'q': close */
	READ,	      /* say ready, read one unit (or end of file) */
	PEEK_HOLD,    /* peek, say ready; 'c': release the first unit */
	IDLE_READER,  /* say ready, then nothing */
};

struct unit {
	char letter;
	size_t len;
};

struct kid {
	pid_t pid;
	int cmd;    /* our end of its command pipe */
	int killed; /* a zombie, to reap at the end of the round */
};

static const char *pipe_name;
static unsigned kind;
static struct result *res; /* MAX_KIDS, shared with the children */
static int ready[2];
static pid_t main_pid;
static int current_cell = -1, current_round, finished;
static int keep_zombies; /* this round: reap the killed at its end only */
static int kills;
static double max_recovery;
static double cell_max[8];
static const char *const cell_names[8] = {
	"pipe full, writer killed",  "pipe full, reader killed",
	"pipe empty, writer killed", "pipe empty, reader killed",
	"lock wait, writer killed",  "lock wait, reader killed",
	"lock held, writer killed",  "lock held, reader killed",
};

/* ------------------------------------------------------------- units */

static void fill(void *buf, struct unit u)
{
	memset(buf, u.letter, u.len);
}

static struct unit unit_of(char letter, size_t len)
{
	return (struct unit){ letter, len };
}

static struct unit prefilled(int i)
{
	return unit_of((char)('a' + i), FILL_LEN);
}

/* ---------------------------------------------------------- children */

static void child_run(enum script s, int slot, struct unit u, int cmd)
{
	unsigned side = s <= IDLE_WRITER ? SHMPIPE_WRITE : SHMPIPE_READ;
	shmpipe *p;
	if (shmpipe_open(&p, pipe_name, side) < 0)
		_exit(T_FAIL);
	struct result *r = &res[slot];
	unsigned char buf[MAX_UNIT];
	ssize_t n = 0;
	switch (s) {
	case WRITE:
		fill(buf, u);
		t_say(ready[1], 'r');
		n = shmpipe_write(p, buf, u.len, CALL_TIMEOUT_MS);
		break;
	case RESERVE_HOLD: {
		void *at;
		if (shmpipe_reserve(p, &at, u.len, CALL_TIMEOUT_MS) !=
		    (ssize_t)u.len)
			_exit(T_FAIL);
		memset(at, JUNK, u.len / 2);
		t_say(ready[1], 'r');
		if (t_hear(cmd) != 'c')
			_exit(T_FAIL);
		fill(at, u);
		n = shmpipe_commit(p, u.len);
		break;
	}
	case IDLE_WRITER:
		t_say(ready[1], 'r');
		while (t_hear(cmd) == 'w') {
			fill(buf, u);
			n = shmpipe_write(p, buf, u.len, CALL_TIMEOUT_MS);
			r->ret = n;
			r->at = t_now();
		}
		break;
	case READ:
		t_say(ready[1], 'r');
		n = shmpipe_read(p, r->data,
				 kind == SHMPIPE_MESSAGE ? MAX_UNIT : u.len,
				 CALL_TIMEOUT_MS);
		break;
	case PEEK_HOLD: {
		const void *at;
		n = shmpipe_peek(p, &at, CALL_TIMEOUT_MS);
		if (n < (ssize_t)u.len)
			_exit(T_FAIL);
		memcpy(r->data, at, u.len);
		t_say(ready[1], 'r');
		if (t_hear(cmd) != 'c')
			_exit(T_FAIL);
		n = shmpipe_release(p, u.len) == 0 ? (ssize_t)u.len : -1;
		break;
	}
	case IDLE_READER:
		t_say(ready[1], 'r');
		t_hear(cmd);
		break;
	}
	r->ret = n;
	r->at = t_now();
	atomic_store(&r->done, 1);
	shmpipe_close(p);
	_exit(T_PASS);
}

/* Start a child on @script in result slot @slot; return once it is ready
 * (open, and about to make its call or past it). */
static struct kid start(enum script s, int slot, struct unit u)
{
	int fds[2];
	T_OK(pipe(fds));
	memset(&res[slot], 0, sizeof(res[slot]));
	pid_t pid = t_spawn();
	if (pid == 0) {
		close(fds[1]);
		child_run(s, slot, u, fds[0]);
	}
	close(fds[0]);
	T_EQ(t_hear(ready[0]), 'r');
	return (struct kid){ pid, fds[1], 0 };
}

static void tell(struct kid *k, char c)
{
	t_say(k->cmd, c);
}

/* SIGKILL @k and reap it, or in a zombie round leave it unreaped until
 * the round ends (a zombie looks alive to kill(pid, 0): the library must
 * see through it); the time of the kill. */
static double kill_now(struct kid *k)
{
	double t0 = t_now();
	kills++;
	if (!keep_zombies) {
		t_kill_and_reap(k->pid);
		k->pid = 0;
		return t0;
	}
	T_OK(kill(k->pid, SIGKILL));
	k->killed = 1;
	return t0;
}

/* Wait for @k to end by itself, successfully; its result. */
static struct result *finish(struct kid *k, int slot)
{
	T_EQ(t_wait_within(k->pid, WAIT_SECONDS), T_PASS);
	k->pid = 0;
	T_ASSERT(atomic_load(&res[slot].done));
	return &res[slot];
}

static void done_with(struct kid *k)
{
	if (k->killed && k->pid > 0) {
		T_EQ(t_wait(k->pid), 128 + SIGKILL);
		k->pid = 0;
	}
	if (k->cmd >= 0)
		close(k->cmd);
	k->cmd = -1;
}

/* The process state letter of @pid ('R', 'S', ...), 0 if unknown. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *s = strrchr(buf, ')');
	return s && s[1] == ' ' ? s[2] : 0;
}

/* Wait until @k sleeps in its call: still running, and asleep at three
 * looks in a row (it does nothing but that call after saying ready, so
 * a sleep is the library's wait). */
static void await_asleep(const struct kid *k)
{
	double end = t_now() + WAIT_SECONDS;
	for (int asleep = 0; asleep < 3;) {
		if (!t_running(k->pid))
			t_fail(__FILE__, __LINE__,
			       "pid %d returned from a call that should block",
			       (int)k->pid);
		asleep = proc_state(k->pid) == 'S' ? asleep + 1 : 0;
		if (t_now() > end)
			t_fail(__FILE__, __LINE__, "pid %d never blocked",
			       (int)k->pid);
		t_sleep_ms(2);
	}
}

/* The holder of the writer (@writer) or reader lock, as stats show it. */
static pid_t holder(int writer)
{
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(pipe_name, &st));
	return writer ? st.writer_lock_holder : st.reader_lock_holder;
}

/* Wait until @k holds the writer (@writer) or the reader lock. */
static void await_holder(const struct kid *k, int writer)
{
	double end = t_now() + WAIT_SECONDS;
	while (holder(writer) != k->pid) {
		if (!t_running(k->pid) || t_now() > end)
			t_fail(__FILE__, __LINE__,
			       "pid %d never held the %s lock", (int)k->pid,
			       writer ? "writer" : "reader");
		t_sleep_ms(1);
	}
}

/* ------------------------------------------------------------ checks */

static void recovered(int cell, double seconds, const char *what)
{
	if (seconds > RECOVERY_LIMIT)
		t_fail(__FILE__, __LINE__,
		       "%s: %s took %.3f s after the kill (limit %.1f s)",
		       cell_names[cell], what, seconds, RECOVERY_LIMIT);
	if (seconds > cell_max[cell])
		cell_max[cell] = seconds;
	if (seconds > max_recovery)
		max_recovery = seconds;
}

/* A call's result: @ret and, for a unit, its bytes. */
static void check_got(const struct result *r, long ret, struct unit u)
{
	if (r->ret != ret)
		t_fail(__FILE__, __LINE__, "call returned %ld, want %ld",
		       r->ret, ret);
	unsigned char want[MAX_UNIT];
	fill(want, u);
	if (ret > 0 && memcmp(r->data, want, u.len) != 0)
		t_fail(__FILE__, __LINE__,
		       "got a unit starting '%c', want %zu x '%c'", r->data[0],
		       u.len, u.letter);
}

static void write_units(const struct unit *u, int count)
{
	shmpipe *w = t_pipe_open(pipe_name, SHMPIPE_WRITE);
	unsigned char buf[MAX_UNIT];
	for (int i = 0; i < count; i++) {
		fill(buf, u[i]);
		T_EQ(shmpipe_write(w, buf, u[i].len, 0), u[i].len);
	}
	shmpipe_close(w);
}

static void prefill(void)
{
	struct unit u[PREFILL_UNITS];
	for (int i = 0; i < PREFILL_UNITS; i++)
		u[i] = prefilled(i);
	write_units(u, PREFILL_UNITS);
}

/* Read exactly @want (whole units, in order) and then end of file, each
 * within the limit. Returns when end of file came. */
static double drain(const struct unit *want, int count)
{
	shmpipe *r = t_pipe_open(pipe_name, SHMPIPE_READ);
	unsigned char buf[MAX_UNIT], expect[MAX_UNIT];
	const int limit_ms = (int)(RECOVERY_LIMIT * 1000);
	for (int i = 0; i < count; i++) {
		size_t len =
			kind == SHMPIPE_MESSAGE ? sizeof(buf) : want[i].len;
		ssize_t n = shmpipe_read(r, buf, len, limit_ms);
		fill(expect, want[i]);
		if (n != (ssize_t)want[i].len ||
		    memcmp(buf, expect, want[i].len) != 0)
			t_fail(__FILE__, __LINE__,
			       "drain unit %d: want %zu x '%c', got %zd "
			       "bytes starting '%c'",
			       i, want[i].len, want[i].letter, n,
			       n > 0 ? buf[0] : '-');
	}
	double t0 = t_now();
	ssize_t n = shmpipe_read(r, buf, sizeof(buf), limit_ms);
	double at = t_now();
	if (n != 0)
		t_fail(__FILE__, __LINE__,
		       "after the last unit: want end of file, got %zd%s%c", n,
		       n > 0 ? " bytes starting " : "", n > 0 ? buf[0] : ' ');
	T_ASSERT(at - t0 < RECOVERY_LIMIT);
	shmpipe_close(r);
	return at;
}

/* After the round: a new writer and reader pass a unit through (taking
 * over a lock a dead process may still hold), then nothing is left. */
static void newcomers(int cell)
{
	shmpipe *w = t_pipe_open(pipe_name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(pipe_name, SHMPIPE_READ);
	const int limit_ms = (int)(RECOVERY_LIMIT * 1000);
	unsigned char buf[MAX_UNIT];
	struct unit u = unit_of('N', MID_LEN);
	fill(buf, u);
	double t0 = t_now();
	T_EQ(shmpipe_write(w, buf, u.len, limit_ms), u.len);
	recovered(cell, t_now() - t0, "a newcomer's write");
	memset(buf, 0, sizeof(buf));
	t0 = t_now();
	T_EQ(shmpipe_read(r, buf, sizeof(buf), limit_ms), u.len);
	recovered(cell, t_now() - t0, "a newcomer's read");
	T_EQ(buf[0], 'N');
	shmpipe_close(w);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), limit_ms), 0);
	shmpipe_close(r);
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(pipe_name, &st));
	T_EQ(st.writers, 0);
	T_EQ(st.readers, 0);
	T_EQ(st.bytes_buffered, 0);
}

/* --------------------------------------------------------------- cells */

/* W1 blocked on the full pipe dies; W2 queued behind it (even rounds)
 * writes, or (odd) W1 was the last writer: end of file after the data. */
static void full_writer(int round)
{
	const int cell = 0, queued = round / 2 % 2 == 0;
	prefill();
	struct kid w1 = start(WRITE, 0, unit_of('B', BIG_LEN));
	await_holder(&w1, 1);
	await_asleep(&w1);
	struct kid w2 = { 0, -1, 0 };
	if (queued) {
		w2 = start(WRITE, 1, unit_of('S', SMALL_LEN));
		await_asleep(&w2);
		T_EQ(holder(1), w1.pid);
	}
	double t0 = kill_now(&w1);
	struct unit want[PREFILL_UNITS + 1];
	for (int i = 0; i < PREFILL_UNITS; i++)
		want[i] = prefilled(i);
	if (queued) {
		struct result *r = finish(&w2, 1);
		T_EQ(r->ret, SMALL_LEN);
		recovered(cell, r->at - t0, "the queued writer's write");
		want[PREFILL_UNITS] = unit_of('S', SMALL_LEN);
		drain(want, PREFILL_UNITS + 1);
	} else {
		recovered(cell, drain(want, PREFILL_UNITS) - t0,
			  "end of file after the blocked last writer died");
	}
	done_with(&w1);
	done_with(&w2);
}

/* The only reader dies while two writers wait on the full pipe: they stay
 * blocked, and go on as soon as a new reader reads. */
static void full_reader(int round)
{
	(void)round;
	const int cell = 1;
	prefill();
	struct kid r1 = start(IDLE_READER, 3, unit_of(0, 0));
	struct kid w = start(WRITE, 0, unit_of('B', BIG_LEN));
	await_holder(&w, 1);
	await_asleep(&w);
	struct kid w2 = start(WRITE, 1, unit_of('S', SMALL_LEN));
	await_asleep(&w2);
	kill_now(&r1);
	/* No reader now: the writers wait, they are not refused. */
	t_sleep_ms(50);
	T_ASSERT(t_running(w.pid));
	T_ASSERT(t_running(w2.pid));
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(pipe_name, &st));
	T_EQ(st.messages_in, PREFILL_UNITS);
	double t1 = t_now(); /* the new reader's first read frees room */
	struct unit want[PREFILL_UNITS + 2];
	for (int i = 0; i < PREFILL_UNITS; i++)
		want[i] = prefilled(i);
	want[PREFILL_UNITS] = unit_of('B', BIG_LEN);
	want[PREFILL_UNITS + 1] = unit_of('S', SMALL_LEN);
	drain(want, PREFILL_UNITS + 2);
	struct result *r = finish(&w, 0);
	T_EQ(r->ret, BIG_LEN);
	recovered(cell, r->at - t1, "the blocked writer's write");
	T_EQ(finish(&w2, 1)->ret, SMALL_LEN);
	done_with(&r1);
	done_with(&w);
	done_with(&w2);
}

/* The only writer dies while R1 waits on the empty pipe and R2 is queued
 * behind it: both get end of file. */
static void empty_writer(int round)
{
	(void)round;
	const int cell = 2;
	struct kid w = start(IDLE_WRITER, 0, unit_of('X', MID_LEN));
	struct kid r1 = start(READ, 1, unit_of(0, MID_LEN));
	await_holder(&r1, 0);
	await_asleep(&r1);
	struct kid r2 = start(READ, 2, unit_of(0, MID_LEN));
	await_asleep(&r2);
	T_EQ(holder(0), r1.pid);
	double t0 = kill_now(&w);
	for (int i = 1; i <= 2; i++) {
		struct result *r = finish(i == 1 ? &r1 : &r2, i);
		T_EQ(r->ret, 0);
		recovered(cell, r->at - t0, "end of file for a blocked reader");
	}
	drain(NULL, 0);
	done_with(&w);
	done_with(&r1);
	done_with(&r2);
}

/* R1 blocked on the empty pipe dies; R2 queued behind it gets the next
 * unit (even rounds), or end of file when the writer dies too (odd). */
static void empty_reader(int round)
{
	const int cell = 3, writes = round / 2 % 2 == 0;
	struct unit x = unit_of('X', MID_LEN);
	struct kid w = start(IDLE_WRITER, 0, x);
	struct kid r1 = start(READ, 1, x);
	await_holder(&r1, 0);
	await_asleep(&r1);
	struct kid r2 = start(READ, 2, x);
	await_asleep(&r2);
	double t0 = kill_now(&r1);
	if (writes) {
		tell(&w, 'w');
		struct result *r = finish(&r2, 2);
		check_got(r, MID_LEN, x);
		recovered(cell, r->at - t0, "the queued reader's read");
		T_EQ(res[0].ret, MID_LEN);
		tell(&w, 'q');
		T_EQ(t_wait_within(w.pid, WAIT_SECONDS), T_PASS);
		w.pid = 0;
	} else {
		kill_now(&w);
		struct result *r = finish(&r2, 2);
		T_EQ(r->ret, 0);
		recovered(cell, r->at - t0,
			  "end of file for the queued reader");
	}
	drain(NULL, 0);
	done_with(&w);
	done_with(&r1);
	done_with(&r2);
}

/* W1 holds the writer lock (reserve), W2 and W3 are queued behind it, R
 * waits on the empty pipe; one of the queued writers dies. W1 commits, R
 * gets its unit, the other queued writer writes. */
static void lockwait_writer(int round)
{
	const int cell = 4, first = round / 2 % 2 == 0;
	struct unit a = unit_of('A', MID_LEN), k = unit_of('K', MID_LEN),
		    c = unit_of('C', MID_LEN);
	struct kid w1 = start(RESERVE_HOLD, 0, a);
	await_holder(&w1, 1);
	struct kid r = start(READ, 3, a);
	await_holder(&r, 0);
	await_asleep(&r);
	struct kid w2 = start(WRITE, 1, first ? k : c);
	await_asleep(&w2);
	struct kid w3 = start(WRITE, 2, first ? c : k);
	await_asleep(&w3);
	T_EQ(holder(1), w1.pid);
	/* Kill the first queued writer, or the second. */
	double t0 = kill_now(first ? &w2 : &w3);
	struct kid *other = first ? &w3 : &w2;
	int other_slot = first ? 2 : 1;
	tell(&w1, 'c');
	T_EQ(finish(&w1, 0)->ret, MID_LEN);
	struct result *got = finish(&r, 3);
	check_got(got, MID_LEN, a);
	recovered(cell, got->at - t0, "the blocked reader's read");
	struct result *wr = finish(other, other_slot);
	T_EQ(wr->ret, MID_LEN);
	recovered(cell, wr->at - t0, "the other queued writer's write");
	drain(&c, 1);
	done_with(&w1);
	done_with(&w2);
	done_with(&w3);
	done_with(&r);
}

/* R1 holds the reader lock (peek), R2 and R3 are queued; one of them dies.
 * R1 releases, the other gets the second unit. */
static void lockwait_reader(int round)
{
	const int cell = 5, first = round / 2 % 2 == 0;
	struct unit u[3] = { unit_of('u', MID_LEN), unit_of('v', MID_LEN),
			     unit_of('w', MID_LEN) };
	write_units(u, 3);
	struct kid r1 = start(PEEK_HOLD, 0, u[0]);
	await_holder(&r1, 0);
	T_EQ(res[0].data[0], 'u');
	struct kid r2 = start(READ, 1, u[1]);
	await_asleep(&r2);
	struct kid r3 = start(READ, 2, u[1]);
	await_asleep(&r3);
	T_EQ(holder(0), r1.pid);
	double t0 = kill_now(first ? &r2 : &r3);
	struct kid *other = first ? &r3 : &r2;
	int other_slot = first ? 2 : 1;
	tell(&r1, 'c');
	T_EQ(finish(&r1, 0)->ret, MID_LEN);
	struct result *got = finish(other, other_slot);
	check_got(got, MID_LEN, u[1]);
	recovered(cell, got->at - t0, "the other queued reader's read");
	drain(&u[2], 1);
	done_with(&r1);
	done_with(&r2);
	done_with(&r3);
}

/* W1 dies between reserve and commit while R waits on the empty pipe: W2
 * queued on the writer lock (even rounds) takes it over and R gets W2's
 * unit, or (odd) W1 was the last writer and R gets end of file. */
static void hold_writer(int round)
{
	const int cell = 6, queued = round / 2 % 2 == 0;
	struct unit s = unit_of('S', MID_LEN);
	struct kid w1 = start(RESERVE_HOLD, 0, unit_of('Z', MID_LEN));
	await_holder(&w1, 1);
	struct kid r = start(READ, 1, s);
	await_holder(&r, 0);
	await_asleep(&r);
	struct kid w2 = { 0, -1, 0 };
	if (queued) {
		w2 = start(WRITE, 2, s);
		await_asleep(&w2);
		T_EQ(holder(1), w1.pid);
	}
	double t0 = kill_now(&w1);
	struct result *got = finish(&r, 1);
	if (queued) {
		check_got(got, MID_LEN, s);
		recovered(cell, got->at - t0, "the blocked reader's read");
		struct result *wr = finish(&w2, 2);
		T_EQ(wr->ret, MID_LEN);
		recovered(cell, wr->at - t0, "the queued writer's write");
	} else {
		T_EQ(got->ret, 0);
		recovered(cell, got->at - t0,
			  "end of file after the last writer died holding "
			  "the lock");
	}
	drain(NULL, 0);
	done_with(&w1);
	done_with(&w2);
	done_with(&r);
}

/* R1 dies between peek and release; R2 queued on the reader lock gets
 * the unit R1 peeked; with a writer blocked on the full pipe (even
 * rounds), the room R2 frees lets it write. */
static void hold_reader(int round)
{
	const int cell = 7, blocked = round / 2 % 2 == 0;
	prefill();
	struct kid w = { 0, -1, 0 };
	if (blocked) {
		w = start(WRITE, 0, unit_of('B', BIG_LEN));
		await_holder(&w, 1);
		await_asleep(&w);
	}
	struct kid r1 = start(PEEK_HOLD, 1, prefilled(0));
	await_holder(&r1, 0);
	T_EQ(res[1].data[0], 'a');
	struct kid r2 = start(READ, 2, prefilled(0));
	await_asleep(&r2);
	T_EQ(holder(0), r1.pid);
	double t0 = kill_now(&r1);
	struct result *got = finish(&r2, 2);
	check_got(got, FILL_LEN, prefilled(0)); /* at least once */
	recovered(cell, got->at - t0, "the queued reader's read");
	struct unit want[PREFILL_UNITS];
	for (int i = 1; i < PREFILL_UNITS; i++)
		want[i - 1] = prefilled(i);
	if (blocked) {
		struct result *wr = finish(&w, 0);
		T_EQ(wr->ret, BIG_LEN);
		recovered(cell, wr->at - t0, "the blocked writer's write");
		want[PREFILL_UNITS - 1] = unit_of('B', BIG_LEN);
	}
	drain(want, PREFILL_UNITS - 1 + blocked);
	done_with(&w);
	done_with(&r1);
	done_with(&r2);
}

/* ---------------------------------------------------------------- main */

/* On a failure: say where it happened. */
static void report_where(void)
{
	if (getpid() != main_pid || finished || current_cell < 0)
		return;
	fprintf(stderr, "  (in \"%s\", round %d: %s pipe%s)\n",
		cell_names[current_cell], current_round,
		kind == SHMPIPE_MESSAGE ? "message" : "stream",
		keep_zombies ? ", the killed left as zombies" : "");
}

static void on_signal(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: kill_matrix stopped by a signal\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	t_cleanup(); /* unlink(): async-signal-safe; children die with us */
	_exit(T_FAIL);
}

int main(void)
{
	static void (*const cells[8])(int) = {
		full_writer,	 full_reader,	  empty_writer, empty_reader,
		lockwait_writer, lockwait_reader, hold_writer,	hold_reader,
	};
	pipe_name = t_name("km");
	main_pid = getpid();
	atexit(report_where);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGALRM, on_signal);
	alarm(600);
	res = mmap(NULL, MAX_KIDS * sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(res != MAP_FAILED);
	T_OK(pipe(ready));
	double start_time = t_now();
	for (int cell = 0; cell < 8; cell++) {
		for (int round = 0; round < ITERATIONS; round++) {
			current_cell = cell;
			current_round = round;
			kind = round % 2 ? SHMPIPE_STREAM : SHMPIPE_MESSAGE;
			keep_zombies = round / 4 % 2;
			struct shmpipe_config cfg = { .capacity = CAPACITY,
						      .kind = kind };
			T_OK(shmpipe_create(pipe_name, &cfg));
			cells[cell](round);
			newcomers(cell);
			T_OK(shmpipe_unlink(pipe_name));
		}
		printf("%-27s %2d rounds, slowest recovery %4.0f ms\n",
		       cell_names[cell], ITERATIONS, cell_max[cell] * 1000);
	}
	printf("%d kills in %.1f s; slowest recovery %.0f ms (limit %.0f ms)\n",
	       kills, t_now() - start_time, max_recovery * 1000,
	       RECOVERY_LIMIT * 1000);
	finished = 1;
	printf("figure kill_matrix_kills %d\n", kills);
	printf("figure kill_matrix_max_recovery_ms %d\n",
	       (int)(max_recovery * 1000 + 0.5));
	return T_PASS;
}
