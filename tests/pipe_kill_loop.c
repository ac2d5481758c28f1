/* SPDX-License-Identifier: MIT */
/*
 * pipe_kill_loop.c - writers and readers SIGKILLed at random moments, over
 * and over, never lose, tear, invent or reorder a unit, and never hang.
 *
 * A supervisor runs WRITERS writer and READERS reader processes on one pipe
 * and, at random moments, SIGKILLs one of them and starts a replacement;
 * first on a message pipe (units of random length, written with
 * shmpipe_write or shmpipe_reserve + shmpipe_commit), then on a stream pipe
 * where every write is one fixed-size record. Each unit carries its writer
 * id, a sequence number and a checksum.
 *
 * Bookkeeping, in an anonymous shared mapping that outlives the processes:
 *  - a writer stores the seq it is about to write in attempting[w] and,
 *    right after the write returns, in committed[w]. A writer killed in
 *    between leaves that one seq "in doubt" (it may or may not be in the
 *    pipe); the next writer of that id goes on from attempting[w] + 1.
 *  - a reader uses peek, then appends the unit to a delivery log, then
 *    release (at-least-once). The log is appended under the reader lock, so
 *    its order is the pipe's order.
 * At the end the writers stop, the readers stop, and a last reader drains
 * the pipe to end of file. Then:
 *  - every unit with seq <= committed[w] that is not in doubt was
 *    delivered at least once; nothing delivered has seq > attempting[w];
 *  - per writer, seqs are non-decreasing in delivery order;
 *  - a unit delivered twice was delivered, the first time, as the last
 *    unit of a reader that was then killed, and again right after it (at
 *    most one duplicate per reader kill);
 *  - readers checked every unit (length, writer id, checksum) as it came;
 *  - every blocking call has a timeout and returned within it (plus slack);
 *    every process kept making calls (a heartbeat); the test is bounded.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WRITERS		    3
#define READERS		    2
#define ROLES		    (WRITERS + READERS)
#define KILLS_PER_PHASE	    130
#define MIN_KILLS_PER_PHASE 100
#define PHASE_SECONDS	    25.0 /* kills stop after this, however many */
#define CALL_TIMEOUT_MS	    200
#define CALL_SLACK_MS	    2500  /* a call may overrun its timeout this much */
#define STALE_SECONDS	    10.0  /* no call returned for this long: hung */
#define READ_RATE	    20000 /* units per second per reader, at most */
#define LOG_MAX		    (1u << 20)
#define MAX_INCARNATIONS    2048
#define MAX_UNIT	    256
#define RECORD		    32 /* stream phase: every write is one record */

struct unit_head {
	uint32_t writer;
	uint32_t len; /* of the whole unit, head included */
	uint64_t seq;
	uint64_t sum; /* of the unit with this field zero */
};
_Static_assert(sizeof(struct unit_head) == 24, "unit layout");

struct log_entry {
	uint32_t writer;
	uint32_t incarnation; /* of the reader that logged it */
	_Atomic uint64_t seq; /* stored last; 0: the reader died storing it */
};

struct shared {
	_Atomic int stop_writers, stop_readers;
	_Atomic uint64_t attempting[WRITERS], committed[WRITERS];
	_Atomic uint64_t heartbeat[MAX_INCARNATIONS];
	_Atomic uint32_t log_next;
	_Atomic int failed;
	char why[512];
	struct log_entry log[LOG_MAX];
};

static struct shared *sh;
static int stream_phase; /* 0: message pipe, 1: stream pipe */

struct child {
	pid_t pid;
	unsigned incarnation;
	uint64_t last_beat;
	double beat_at;
};
static struct child kids[ROLES];
static pid_t supervisor_pid;

/* ----------------------------------------------------------- children */

static void child_fail(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
static void child_fail(const char *fmt, ...)
{
	int expect = 0;
	if (atomic_compare_exchange_strong(&sh->failed, &expect, 1)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
		va_end(ap);
	}
	_exit(T_FAIL);
}

static uint64_t fnv1a(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t unit_sum(const void *unit, size_t len)
{
	struct unit_head h;
	memcpy(&h, unit, sizeof(h));
	h.sum = 0;
	return fnv1a(&h, sizeof(h)) ^
	       fnv1a((const char *)unit + sizeof(h), len - sizeof(h));
}

/* Build unit (@w, @seq) of @len bytes at @buf. */
static void make_unit(void *buf, uint32_t w, uint64_t seq, uint32_t len)
{
	struct unit_head h = { .writer = w, .len = len, .seq = seq };
	unsigned char *p = buf;
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + w;
	for (size_t i = sizeof(h); i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p[i] = (unsigned char)x;
	}
	memcpy(p, &h, sizeof(h));
	h.sum = unit_sum(p, len);
	memcpy(p, &h, sizeof(h));
}

/* Check a unit as a reader receives it; its head. */
static struct unit_head check_unit(const void *unit, size_t len)
{
	struct unit_head h;
	if (len < sizeof(h))
		child_fail("torn unit: %zu bytes", len);
	memcpy(&h, unit, sizeof(h));
	if (h.len != len || h.writer >= WRITERS || h.seq == 0)
		child_fail("torn or foreign unit: %zu bytes, head says writer "
			   "%u, len %u, seq %llu",
			   len, h.writer, h.len, (unsigned long long)h.seq);
	if (unit_sum(unit, len) != h.sum)
		child_fail("checksum mismatch in unit writer %u seq %llu",
			   h.writer, (unsigned long long)h.seq);
	return h;
}

static double now_ms(void)
{
	return t_now() * 1000;
}

/* Fail when a call that began at @t0 with @timeout_ms took far longer. */
static void check_duration(const char *what, double t0, int timeout_ms)
{
	double took = now_ms() - t0;
	if (took > timeout_ms + CALL_SLACK_MS)
		child_fail("%s with timeout %d ms took %.0f ms", what,
			   timeout_ms, took);
}

static int transient(ssize_t r)
{
	return r == -ETIMEDOUT || r == -EAGAIN;
}

static void run_writer(const char *name, uint32_t w, unsigned inc)
{
	srand((unsigned)getpid());
	shmpipe *p;
	int r = shmpipe_open(&p, name, SHMPIPE_WRITE);
	if (r < 0)
		child_fail("writer open: %s", shmpipe_strerror(r));
	uint64_t seq = atomic_load(&sh->attempting[w]) + 1;
	unsigned char unit[MAX_UNIT];
	while (!atomic_load(&sh->stop_writers)) {
		/* Keep the log bounded: no more once half of it is used. */
		if (atomic_load(&sh->log_next) > LOG_MAX / 2) {
			t_sleep_ms(1);
			atomic_fetch_add(&sh->heartbeat[inc], 1);
			continue;
		}
		uint32_t len = stream_phase
				       ? RECORD
				       : (uint32_t)(sizeof(struct unit_head) +
						    rand() % (MAX_UNIT - 23));
		make_unit(unit, w, seq, len);
		atomic_store(&sh->attempting[w], seq);
		ssize_t n;
		double t0 = now_ms();
		if (!stream_phase && rand() % 2) {
			void *at;
			n = shmpipe_reserve(p, &at, len, CALL_TIMEOUT_MS);
			if (n == len) {
				memcpy(at, unit, len);
				n = shmpipe_commit(p, len);
			}
		} else {
			n = shmpipe_write(p, unit, len, CALL_TIMEOUT_MS);
		}
		check_duration("write", t0, CALL_TIMEOUT_MS);
		atomic_fetch_add(&sh->heartbeat[inc], 1);
		if (n == len) {
			atomic_store(&sh->committed[w], seq);
			seq++;
		} else if (!transient(n)) {
			child_fail("writer %u: write returned %zd (%s)", w, n,
				   shmpipe_strerror((int)n));
		}
		/* else: retry the same seq (it is not in the pipe) */
	}
	/* This writer's last attempt timed out: it is not in the pipe. */
	if (atomic_load(&sh->attempting[w]) == seq)
		atomic_store(&sh->attempting[w], seq - 1);
	shmpipe_close(p);
	_exit(T_PASS);
}

static void log_unit(const struct unit_head *h, unsigned inc)
{
	uint32_t i = atomic_fetch_add(&sh->log_next, 1);
	if (i >= LOG_MAX)
		child_fail("delivery log full");
	struct log_entry *e = &sh->log[i];
	e->writer = h->writer;
	e->incarnation = inc;
	atomic_store_explicit(&e->seq, h->seq, memory_order_release);
}

/* Read until told to stop (@drain: until end of file). */
static void run_reader(const char *name, unsigned inc, int drain)
{
	shmpipe *p;
	int r = shmpipe_open(&p, name, SHMPIPE_READ);
	if (r < 0)
		child_fail("reader open: %s", shmpipe_strerror(r));
	double start = t_now();
	uint64_t units = 0;
	for (;;) {
		if (!drain && atomic_load(&sh->stop_readers))
			break;
		const void *at;
		double t0 = now_ms();
		ssize_t n = shmpipe_peek(p, &at, CALL_TIMEOUT_MS);
		check_duration("peek", t0, CALL_TIMEOUT_MS);
		atomic_fetch_add(&sh->heartbeat[inc], 1);
		if (n == 0 && drain)
			break;
		if (n == 0) {
			/* Every writer dead right now: end of file until the
			 * supervisor starts another. */
			t_sleep_ms(1);
			continue;
		}
		if (transient(n)) {
			if (drain)
				child_fail("drain: %s before end of file",
					   shmpipe_strerror((int)n));
			continue;
		}
		if (n < 0)
			child_fail("peek returned %zd (%s)", n,
				   shmpipe_strerror((int)n));
		size_t len = (size_t)n;
		if (stream_phase) {
			/* Only whole records ever go in and come out. */
			if (len % RECORD)
				child_fail(
					"stream holds %zu bytes, not a whole "
					"number of %d-byte records",
					len, RECORD);
			len = RECORD;
		}
		struct unit_head h = check_unit(at, len);
		log_unit(&h, inc);
		/* The readers are the bottleneck, so the pipe is full and the
		 * writers wait in their writes; and they pause, when ahead of
		 * the rate, right in the window between log and release that
		 * a kill must find. */
		if (++units > (t_now() - start) * READ_RATE)
			t_sleep_ms(1);
		r = shmpipe_release(p, len);
		if (r < 0)
			child_fail("release: %s", shmpipe_strerror(r));
	}
	shmpipe_close(p);
	_exit(T_PASS);
}

/* --------------------------------------------------------- supervisor */

static unsigned next_incarnation;
static unsigned char reader_killed[MAX_INCARNATIONS];
static uint64_t in_doubt[WRITERS][2 * KILLS_PER_PHASE];
static unsigned in_doubt_count[WRITERS];

static void kill_all(void)
{
	if (getpid() != supervisor_pid)
		return;
	for (int i = 0; i < ROLES; i++)
		if (kids[i].pid > 0) {
			kill(kids[i].pid, SIGKILL);
			waitpid(kids[i].pid, NULL, 0);
			kids[i].pid = 0;
		}
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: pipe_kill_loop ran out of time\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	exit(T_FAIL); /* atexit: kill_all, then t_cleanup */
}

/* Fail, showing what a child reported. */
static void supervisor_fail(int line, const char *what)
{
	t_fail(__FILE__, line, "%s%s%s", what, sh->failed ? ": " : "",
	       sh->failed ? sh->why : "");
}

static void spawn(const char *name, int role)
{
	T_ASSERT(next_incarnation < MAX_INCARNATIONS);
	unsigned inc = next_incarnation++;
	pid_t pid = t_fork();
	if (pid == 0) {
		if (role < WRITERS)
			run_writer(name, (uint32_t)role, inc);
		run_reader(name, inc, 0);
	}
	kids[role] = (struct child){ .pid = pid,
				     .incarnation = inc,
				     .last_beat = 0,
				     .beat_at = t_now() };
}

/* Every child still running, and each made a call recently. */
static void check_children(void)
{
	for (int i = 0; i < ROLES; i++) {
		struct child *c = &kids[i];
		int st;
		if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
			c->pid = 0;
			supervisor_fail(__LINE__, "a child ended by itself");
		}
		uint64_t beat = atomic_load(&sh->heartbeat[c->incarnation]);
		if (beat != c->last_beat) {
			c->last_beat = beat;
			c->beat_at = t_now();
		} else if (t_now() - c->beat_at > STALE_SECONDS) {
			supervisor_fail(__LINE__, "a child is stuck in a call");
		}
	}
}

static void kill_one(const char *name, int *reader_kills)
{
	int role = rand() % ROLES;
	struct child *c = &kids[role];
	T_OK(kill(c->pid, SIGKILL));
	int st = t_wait(c->pid);
	c->pid = 0;
	if (st != 128 + SIGKILL)
		supervisor_fail(__LINE__, "a child ended before its kill");
	if (role < WRITERS) {
		uint64_t a = atomic_load(&sh->attempting[role]);
		if (a > atomic_load(&sh->committed[role]))
			in_doubt[role][in_doubt_count[role]++] = a;
	} else {
		reader_killed[c->incarnation] = 1;
		(*reader_kills)++;
	}
	spawn(name, role);
}

/* Wait for the children of roles [from, to) to exit 0 within @seconds. */
static void await_exit(int from, int to, double seconds)
{
	double end = t_now() + seconds;
	for (int i = from; i < to; i++) {
		for (;;) {
			int st;
			pid_t r = waitpid(kids[i].pid, &st, WNOHANG);
			if (r == kids[i].pid) {
				kids[i].pid = 0;
				if (!WIFEXITED(st) || WEXITSTATUS(st) != T_PASS)
					supervisor_fail(__LINE__,
							"a child failed");
				break;
			}
			if (t_now() > end)
				supervisor_fail(__LINE__,
						"a child did not stop in time");
			t_sleep_ms(5);
		}
	}
}

static int is_in_doubt(uint32_t w, uint64_t seq)
{
	for (unsigned i = 0; i < in_doubt_count[w]; i++)
		if (in_doubt[w][i] == seq)
			return 1;
	return 0;
}

/* Check the delivery log against the writers' records; units verified. */
static uint32_t verify(int reader_kills, int *duplicates_out)
{
	uint32_t entries = atomic_load(&sh->log_next);
	T_ASSERT(entries <= LOG_MAX);
	unsigned char *delivered[WRITERS];
	uint64_t last_seq[WRITERS] = { 0 };
	for (int w = 0; w < WRITERS; w++) {
		delivered[w] = calloc(atomic_load(&sh->attempting[w]) + 1, 1);
		T_ASSERT(delivered[w]);
	}
	/* Last log index of each reader incarnation. */
	static int64_t last_of[MAX_INCARNATIONS];
	for (unsigned i = 0; i < MAX_INCARNATIONS; i++)
		last_of[i] = -1;
	for (uint32_t i = 0; i < entries; i++)
		if (atomic_load(&sh->log[i].seq))
			last_of[sh->log[i].incarnation] = i;

	int64_t prev = -1;
	int duplicates = 0, unfinished = 0;
	uint32_t units = 0;
	for (uint32_t i = 0; i < entries; i++) {
		struct log_entry *e = &sh->log[i];
		uint64_t seq = atomic_load(&e->seq);
		if (!seq) {
			unfinished++; /* its reader died while logging */
			continue;
		}
		units++;
		uint32_t w = e->writer;
		T_ASSERT(w < WRITERS);
		if (seq > atomic_load(&sh->attempting[w]))
			t_fail(__FILE__, __LINE__,
			       "delivered writer %u seq %llu, never written "
			       "(last attempted %llu)",
			       w, (unsigned long long)seq,
			       (unsigned long long)atomic_load(
				       &sh->attempting[w]));
		if (seq < last_seq[w])
			t_fail(__FILE__, __LINE__,
			       "writer %u: seq %llu delivered after %llu", w,
			       (unsigned long long)seq,
			       (unsigned long long)last_seq[w]);
		last_seq[w] = seq;
		if (delivered[w][seq]) {
			/* Only right after a reader that logged it and died. */
			struct log_entry *p = prev >= 0 ? &sh->log[prev] : NULL;
			if (!p || p->writer != w ||
			    atomic_load(&p->seq) != seq ||
			    p->incarnation == e->incarnation ||
			    !reader_killed[p->incarnation] ||
			    last_of[p->incarnation] != prev)
				t_fail(__FILE__, __LINE__,
				       "writer %u seq %llu delivered again at "
				       "log %u, not right after a killed "
				       "reader's last unit",
				       w, (unsigned long long)seq, i);
			duplicates++;
		}
		delivered[w][seq] = 1;
		prev = i;
	}
	T_ASSERT(duplicates <= reader_kills);
	*duplicates_out = duplicates;
	T_ASSERT(unfinished <= reader_kills);

	uint64_t lost_doubtful = 0;
	for (int w = 0; w < WRITERS; w++) {
		uint64_t committed = atomic_load(&sh->committed[w]);
		for (uint64_t s = 1; s <= committed; s++) {
			if (delivered[w][s])
				continue;
			if (!is_in_doubt((uint32_t)w, s))
				t_fail(__FILE__, __LINE__,
				       "writer %d seq %llu committed but never "
				       "delivered",
				       w, (unsigned long long)s);
			lost_doubtful++;
		}
		free(delivered[w]);
	}
	printf("  %u units verified (%d duplicates after reader kills, %d "
	       "log entries cut by a kill, %llu units whose writer died "
	       "inside the write and that never went in)\n",
	       units, duplicates, unfinished,
	       (unsigned long long)lost_doubtful);
	return units;
}

static int run_phase(const char *name, int phase)
{
	stream_phase = phase;
	struct shmpipe_config cfg = {
		.capacity = phase ? 200 * RECORD + 13 : 20000,
		.kind = phase ? SHMPIPE_STREAM : SHMPIPE_MESSAGE,
	};
	T_OK(shmpipe_create(name, &cfg));
	uint32_t used = atomic_load(&sh->log_next);
	memset(sh->log, 0,
	       (used < LOG_MAX ? used : LOG_MAX) * sizeof(*sh->log));
	memset(sh, 0, offsetof(struct shared, log));
	memset(in_doubt_count, 0, sizeof(in_doubt_count));
	memset(reader_killed, 0, sizeof(reader_killed));
	next_incarnation = 0;

	for (int i = 0; i < ROLES; i++)
		spawn(name, i);
	int kills = 0, reader_kills = 0;
	double end = t_now() + PHASE_SECONDS;
	while (kills < KILLS_PER_PHASE && t_now() < end) {
		t_sleep_ms(rand() % 25);
		check_children();
		kill_one(name, &reader_kills);
		kills++;
	}
	check_children();

	atomic_store(&sh->stop_writers, 1);
	await_exit(0, WRITERS, 15);
	atomic_store(&sh->stop_readers, 1);
	await_exit(WRITERS, ROLES, 15);
	/* A last reader drains the pipe to end of file. */
	unsigned inc = next_incarnation++;
	pid_t pid = t_fork();
	if (pid == 0)
		run_reader(name, inc, 1);
	kids[0] = (struct child){ .pid = pid, .incarnation = inc };
	await_exit(0, 1, 60);

	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.bytes_buffered, 0);
	T_EQ(st.messages_buffered, 0);
	T_EQ(st.writers, 0);
	T_EQ(st.readers, 0);
	printf("%s pipe: %d kills (%d readers, %d writers)\n",
	       phase ? "stream" : "message", kills, reader_kills,
	       kills - reader_kills);
	int duplicates;
	uint32_t units = verify(reader_kills, &duplicates);
	T_ASSERT(kills >= MIN_KILLS_PER_PHASE);
	T_ASSERT(units >= 1000); /* the processes really worked */
	/* Some kills did land between a reader's log and its release. */
	T_ASSERT(reader_kills < 10 || duplicates > 0);
	T_OK(shmpipe_unlink(name));
	return kills;
}

int main(void)
{
	const char *msg_name = t_name("kill-msg");
	const char *stream_name = t_name("kill-stream");
	supervisor_pid = getpid();
	atexit(kill_all); /* after t_name's t_cleanup: runs before it */
	signal(SIGALRM, on_alarm);
	alarm(200);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	T_ASSERT(sh != MAP_FAILED);
	srand((unsigned)getpid());
	int kills = run_phase(msg_name, 0);
	kills += run_phase(stream_name, 1);
	printf("%d kills in all\n", kills);
	T_ASSERT(kills >= 200);
	return T_PASS;
}
