/* SPDX-License-Identifier: MIT */
/*
 * soak.c - guarantee 3, the random-kill soak: 4 writer and 2 reader
 * processes on one pipe while a killer SIGKILLs one of them every 1-20 ms
 * and a supervisor starts a new one in its place; at the end every unit
 * that was committed is there exactly once, in order, and whole, except
 * where the delivery rules of shmpipe.h allow otherwise, unit by unit.
 *
 * SOAK seconds (env, default 60) split in two phases: a message pipe
 * (units of random length) and a stream pipe (fixed-size records: a stream
 * keeps no boundaries, so a plain read of a unit of unknown length could
 * cut it, and two competing readers would then each get a piece).
 *
 * Units: a head (writer id, length, sequence number, checksum) and bytes
 * that are a function of (writer, seq), as is the length. A reader checks
 * each unit as it arrives: length, head and every byte; a torn, foreign or
 * corrupt unit fails the test at once. Writers use shmpipe_write or
 * reserve + commit at random, at most RATE units a second each; each
 * reader incarnation reads fast or slowly at random, so the pipe is now
 * full (writers wait on it), now empty (readers wait), and kills land in
 * every one of those waits as well as in the side locks.
 *
 * Bookkeeping, in shared memory that outlives the processes:
 *  - writer slot w: `attempting` (the seq about to be written, stored
 *    before the call) and `committed` (stored after a write, or reserve +
 *    commit, returned success). A writer killed with attempting >
 *    committed leaves that seq *in doubt*: it may or may not be in the
 *    pipe. A restarted writer goes on from attempting + 1, so a seq is
 *    never written twice and an in-doubt one is present at most once. A
 *    call that timed out wrote nothing: the same seq is tried again.
 *  - reader 0 uses plain reads (at-most-once). It sets `in_read` before
 *    the call and clears it after logging the unit (entry, then the log
 *    count, one store). Killed with in_read set, it may have taken one
 *    unit from the pipe without logging it: *in flight at its death*.
 *  - reader 1 uses peek + release (at-least-once). It stores the unit in
 *    `pending`, logs it, releases it, then clears pending. Killed with
 *    pending set, that very unit may be delivered once more.
 * The supervisor reaps each killed process before reading its books, so
 * what it reads is final.
 *
 * At the end: no more kills, the writers stop and close, the readers read
 * until end of file (the drain) and exit, and then:
 *  - no unit was delivered that was never written (seq > attempting);
 *  - per writer, the seqs in each reader's log never go down, and repeat
 *    only for a unit a peek reader died holding;
 *  - each unit is delivered at most 1 + (times a peek reader died holding
 *    it) times;
 *  - each committed unit (not in doubt) is delivered at least once,
 *    except units lost in flight at the plain reader's death: each such
 *    loss must be explained by a distinct kill of the plain reader during
 *    a read, at a place in its log where that unit fits the writer's order
 *    (the last seq of that writer it logged before the kill < the lost
 *    seq < the first it logged after);
 *  - the pipe is empty, no live handle is left;
 *  - every call returned within its timeout plus slack, the pipe never
 *    went STALL_SECONDS without progress (no death blocked the others),
 *    and the drain finished within the time allowed.
 *
 * Figures: soak_kills, soak_units_verified (distinct units delivered and
 * checked), soak_seconds.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define WRITERS		4
#define READERS		2
#define ROLES		(WRITERS + READERS)
#define PLAIN		0 /* reader slots */
#define PEEKER		1
#define MAX_UNIT	512
#define RECORD		40 /* stream phase: every unit this long */
#define MSG_CAPACITY	8192
#define STREAM_CAPACITY 4093 /* records wrap at odd places */
#define CALL_TIMEOUT_MS 200
#define CALL_SLACK_MS	5000 /* a call may overrun its timeout this much */
#define RATE		4000 /* units per second per writer, at most */
#define STALL_SECONDS	10.0
#define STOP_SECONDS	15.0 /* for the writers to stop, the readers to drain */
#define KILL_MIN_MS	1
#define KILL_MAX_MS	20

struct unit_head {
	uint32_t writer;
	uint32_t len; /* of the whole unit, head included */
	uint64_t seq;
	uint64_t sum; /* FNV-1a of the unit with this field zero */
};
_Static_assert(sizeof(struct unit_head) == 24, "unit layout");

/* A log entry names a unit: seq << 3 | writer (never 0: seqs start at 1). */
#define ENTRY(w, seq)	((uint64_t)(seq) << 3 | (uint64_t)(w))
#define ENTRY_WRITER(e) ((uint32_t)((e)&7))
#define ENTRY_SEQ(e)	((e) >> 3)

struct shared {
	_Atomic int stop_writers, writers_done;
	_Atomic int failed;
	char why[512];
	/* Calls that waited a millisecond or more: writes (on a full pipe or
	 * the writer lock), reads and peeks (empty pipe or reader lock). */
	_Atomic uint64_t write_waits, read_waits;
	double phase_start;
	uint64_t seed;
	unsigned kind;
	struct {
		_Atomic uint64_t attempting, committed;
	} w[WRITERS];
	struct {
		_Atomic uint64_t count;	  /* entries logged */
		_Atomic uint64_t in_read; /* plain reader: 1 in the window */
		_Atomic uint64_t pending; /* peek reader: the unit held */
	} r[READERS];
};

static struct shared *sh;
static uint64_t *logs; /* READERS * log_max entries */
static uint64_t log_max;
static const char *pipe_name;
static pid_t supervisor;

/* ------------------------------------------------------------- units */

static uint64_t fnv1a(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t unit_sum(const unsigned char *unit, size_t len)
{
	struct unit_head h;
	memcpy(&h, unit, sizeof(h));
	h.sum = 0;
	uint64_t x = fnv1a(0xcbf29ce484222325ull, &h, sizeof(h));
	return fnv1a(x, unit + sizeof(h), len - sizeof(h));
}

/* The length of unit (@w, @seq): random, but the reader can tell it. */
static uint32_t unit_len(uint32_t w, uint64_t seq)
{
	if (sh->kind == SHMPIPE_STREAM)
		return RECORD;
	uint64_t x = sh->seed ^ (seq * 0x9e3779b97f4a7c15ull + w);
	return (uint32_t)(sizeof(struct unit_head) +
			  t_random(&x) %
				  (MAX_UNIT - sizeof(struct unit_head) + 1));
}

static void make_unit(unsigned char *buf, uint32_t w, uint64_t seq)
{
	uint32_t len = unit_len(w, seq);
	uint64_t x = sh->seed ^ (seq << 8 | w);
	for (size_t i = sizeof(struct unit_head); i < len; i += 8) {
		uint64_t v = t_random(&x);
		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
	struct unit_head h = { .writer = w, .len = len, .seq = seq };
	memcpy(buf, &h, sizeof(h));
	h.sum = unit_sum(buf, len);
	memcpy(buf, &h, sizeof(h));
}

/* ---------------------------------------------------------- children */

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

/* Check a unit as a reader gets it: its log entry. */
static uint64_t check_unit(const void *unit, size_t len)
{
	struct unit_head h;
	if (len < sizeof(h))
		child_fail("torn unit: %zu bytes", len);
	memcpy(&h, unit, sizeof(h));
	if (h.writer >= WRITERS || h.seq == 0 || h.len != len ||
	    unit_len(h.writer, h.seq) != len)
		child_fail("torn or foreign unit of %zu bytes: head says "
			   "writer %u, seq %llu, len %u",
			   len, h.writer, (unsigned long long)h.seq, h.len);
	if (unit_sum(unit, len) != h.sum)
		child_fail("checksum mismatch: writer %u seq %llu", h.writer,
			   (unsigned long long)h.seq);
	unsigned char want[MAX_UNIT];
	make_unit(want, h.writer, h.seq);
	if (memcmp(want, unit, len) != 0)
		child_fail("bytes differ: writer %u seq %llu", h.writer,
			   (unsigned long long)h.seq);
	return ENTRY(h.writer, h.seq);
}

static double now_ms(void)
{
	return t_now() * 1000;
}

static void check_duration(const char *what, double t0, _Atomic uint64_t *waits)
{
	double took = now_ms() - t0;
	if (took > CALL_TIMEOUT_MS + CALL_SLACK_MS)
		child_fail("%s with timeout %d ms took %.0f ms", what,
			   CALL_TIMEOUT_MS, took);
	if (took >= 1)
		atomic_fetch_add_explicit(waits, 1, memory_order_relaxed);
}

static int transient(ssize_t r)
{
	return r == -ETIMEDOUT || r == -EAGAIN;
}

static shmpipe *child_open(unsigned flags)
{
	shmpipe *p;
	int r = shmpipe_open(&p, pipe_name, flags);
	if (r < 0)
		child_fail("open: %s", shmpipe_strerror(r));
	return p;
}

static void run_writer(uint32_t w)
{
	uint64_t rnd = (uint64_t)getpid() << 20 ^ sh->seed;
	shmpipe *p = child_open(SHMPIPE_WRITE);
	uint64_t seq = atomic_load(&sh->w[w].attempting) + 1;
	unsigned char unit[MAX_UNIT];
	while (!atomic_load(&sh->stop_writers)) {
		/* At most RATE units a second, and never past the logs. */
		double elapsed = t_now() - sh->phase_start;
		if (seq > elapsed * RATE ||
		    atomic_load(&sh->r[PLAIN].count) +
				    atomic_load(&sh->r[PEEKER].count) >
			    log_max / 2) {
			t_sleep_ms(1);
			continue;
		}
		make_unit(unit, w, seq);
		uint32_t len = unit_len(w, seq);
		atomic_store(&sh->w[w].attempting, seq);
		ssize_t n;
		double t0 = now_ms();
		if (t_random(&rnd) % 2) {
			void *at;
			n = shmpipe_reserve(p, &at, len, CALL_TIMEOUT_MS);
			if (n == len) {
				memcpy(at, unit, len);
				n = shmpipe_commit(p, len);
			}
		} else {
			n = shmpipe_write(p, unit, len, CALL_TIMEOUT_MS);
		}
		check_duration("write", t0, &sh->write_waits);
		if (n == len) {
			atomic_store(&sh->w[w].committed, seq);
			seq++;
		} else if (!transient(n)) {
			child_fail("writer %u: write returned %zd (%s)", w, n,
				   shmpipe_strerror((int)n));
		} /* else: nothing went in; try the same seq again */
	}
	/* The last attempt, if it timed out, is not in the pipe. */
	atomic_store(&sh->w[w].attempting, seq - 1);
	shmpipe_close(p);
	_exit(T_PASS);
}

static void log_entry(int slot, uint64_t e)
{
	uint64_t i = atomic_load(&sh->r[slot].count);
	if (i >= log_max)
		child_fail("reader %d: log full", slot);
	logs[(uint64_t)slot * log_max + i] = e;
	atomic_store_explicit(&sh->r[slot].count, i + 1, memory_order_release);
}

/* Some incarnations read slowly (the pipe fills, writers block on it),
 * others as fast as they can (readers block on the empty pipe). */
static void pace(uint64_t *rnd, int slow)
{
	if (slow && t_random(rnd) % 4 == 0)
		t_sleep_ms(1);
}

static void run_plain_reader(void)
{
	uint64_t rnd = (uint64_t)getpid() << 20 ^ sh->seed;
	int slow = t_random(&rnd) % 2;
	shmpipe *p = child_open(SHMPIPE_READ);
	size_t want = sh->kind == SHMPIPE_MESSAGE ? MAX_UNIT : RECORD;
	unsigned char buf[MAX_UNIT];
	for (;;) {
		atomic_store(&sh->r[PLAIN].in_read, 1);
		double t0 = now_ms();
		ssize_t n = shmpipe_read(p, buf, want, CALL_TIMEOUT_MS);
		check_duration("read", t0, &sh->read_waits);
		if (n > 0)
			log_entry(PLAIN, check_unit(buf, (size_t)n));
		atomic_store(&sh->r[PLAIN].in_read, 0);
		if (n == 0 && atomic_load(&sh->writers_done))
			break;
		if (n == 0)
			t_sleep_ms(1); /* every writer dead at this moment */
		else if (n < 0 && !transient(n))
			child_fail("read returned %zd (%s)", n,
				   shmpipe_strerror((int)n));
		pace(&rnd, slow);
	}
	shmpipe_close(p);
	_exit(T_PASS);
}

static void run_peek_reader(void)
{
	uint64_t rnd = (uint64_t)getpid() << 20 ^ sh->seed;
	int slow = t_random(&rnd) % 2;
	shmpipe *p = child_open(SHMPIPE_READ);
	for (;;) {
		const void *at;
		double t0 = now_ms();
		ssize_t n = shmpipe_peek(p, &at, CALL_TIMEOUT_MS);
		check_duration("peek", t0, &sh->read_waits);
		if (n == 0 && atomic_load(&sh->writers_done))
			break;
		if (n == 0) {
			t_sleep_ms(1);
			continue;
		}
		if (n < 0) {
			if (!transient(n))
				child_fail("peek returned %zd (%s)", n,
					   shmpipe_strerror((int)n));
			continue;
		}
		size_t len = (size_t)n;
		if (sh->kind == SHMPIPE_STREAM) {
			if (len % RECORD)
				child_fail("stream holds %zu bytes, not whole "
					   "%d-byte records",
					   len, RECORD);
			len = RECORD;
		}
		uint64_t e = check_unit(at, len);
		atomic_store(&sh->r[PEEKER].pending, e);
		log_entry(PEEKER, e);
		pace(&rnd, slow); /* a kill may land between log and release */
		int r = shmpipe_release(p, len);
		if (r < 0)
			child_fail("release: %s", shmpipe_strerror(r));
		atomic_store(&sh->r[PEEKER].pending, 0);
	}
	shmpipe_close(p);
	_exit(T_PASS);
}

/* --------------------------------------------------------- supervisor */

struct book {
	/* in-doubt seqs, per writer */
	uint64_t *doubt[WRITERS];
	size_t doubt_count[WRITERS], doubt_cap[WRITERS];
	/* log positions of plain-reader kills inside a read */
	uint64_t *plain_kill;
	size_t plain_kills, plain_cap;
	/* units a peek reader died holding */
	uint64_t *held;
	size_t helds, held_cap;
	int kills, writer_kills, plain_reader_kills, peek_reader_kills;
};

static pid_t kids[ROLES];

static void push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*a = realloc(*a, *cap * sizeof(**a));
		T_ASSERT(*a);
	}
	(*a)[(*n)++] = v;
}

static void kill_all(void)
{
	if (getpid() != supervisor)
		return;
	for (int i = 0; i < ROLES; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
}

static void on_signal(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: soak stopped by a signal or ran "
				  "out of time\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	t_cleanup(); /* unlink() only; the children die with us */
	_exit(T_FAIL);
}

static void supervisor_fail(int line, const char *what)
{
	t_fail(__FILE__, line, "%s%s%s", what, sh->failed ? ": " : "",
	       sh->failed ? sh->why : "");
}

static void spawn(int role)
{
	pid_t pid = t_spawn();
	if (pid == 0) {
		if (role < WRITERS)
			run_writer((uint32_t)role);
		if (role == WRITERS + PLAIN)
			run_plain_reader();
		run_peek_reader();
	}
	kids[role] = pid;
}

static void check_children(void)
{
	for (int i = 0; i < ROLES; i++) {
		int st;
		if (waitpid(kids[i], &st, WNOHANG) == kids[i]) {
			kids[i] = 0;
			supervisor_fail(__LINE__, "a child ended by itself");
		}
	}
}

static void kill_one(int role, struct book *b)
{
	T_OK(kill(kids[role], SIGKILL));
	if (t_wait(kids[role]) != 128 + SIGKILL)
		supervisor_fail(__LINE__, "a child ended before its kill");
	kids[role] = 0;
	b->kills++;
	/* Dead and reaped: its books are final. */
	if (role < WRITERS) {
		b->writer_kills++;
		uint64_t a = atomic_load(&sh->w[role].attempting);
		uint64_t c = atomic_load(&sh->w[role].committed);
		size_t nd = b->doubt_count[role];
		T_ASSERT(a >= c);
		/* (An earlier incarnation's in-doubt seq is never committed:
		 * the slot goes on after it.) */
		if (a > c && (!nd || b->doubt[role][nd - 1] != a))
			push(&b->doubt[role], &b->doubt_count[role],
			     &b->doubt_cap[role], a);
	} else if (role == WRITERS + PLAIN) {
		b->plain_reader_kills++;
		if (atomic_load(&sh->r[PLAIN].in_read))
			push(&b->plain_kill, &b->plain_kills, &b->plain_cap,
			     atomic_load(&sh->r[PLAIN].count));
		atomic_store(&sh->r[PLAIN].in_read, 0);
	} else {
		b->peek_reader_kills++;
		uint64_t e = atomic_load(&sh->r[PEEKER].pending);
		if (e)
			push(&b->held, &b->helds, &b->held_cap, e);
		atomic_store(&sh->r[PEEKER].pending, 0);
	}
	spawn(role);
}

/* Wait for the children of roles [from, to) to exit 0. */
static void await_exit(int from, int to, double seconds, const char *what)
{
	double end = t_now() + seconds;
	for (int i = from; i < to; i++) {
		for (;;) {
			int st;
			pid_t r = waitpid(kids[i], &st, WNOHANG);
			if (r == kids[i]) {
				kids[i] = 0;
				if (!WIFEXITED(st) || WEXITSTATUS(st) != T_PASS)
					supervisor_fail(__LINE__,
							"a child failed");
				break;
			}
			if (t_now() > end)
				supervisor_fail(__LINE__, what);
			t_sleep_ms(5);
		}
	}
}

static uint64_t progress(void)
{
	uint64_t n = 0;
	for (int w = 0; w < WRITERS; w++)
		n += atomic_load(&sh->w[w].committed);
	for (int r = 0; r < READERS; r++)
		n += atomic_load(&sh->r[r].count);
	return n;
}

/* ------------------------------------------------------------- verify */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int sorted_has(const uint64_t *a, size_t n, uint64_t v)
{
	return n && bsearch(&v, a, n, sizeof(*a), cmp_u64) != NULL;
}

static size_t sorted_count(const uint64_t *a, size_t n, uint64_t v)
{
	size_t c = 0;
	const uint64_t *p = n ? bsearch(&v, a, n, sizeof(*a), cmp_u64) : NULL;
	if (!p)
		return 0;
	while (p > a && p[-1] == v)
		p--;
	while (p < a + n && *p == v)
		p++, c++;
	return c;
}

/* The plain reader's log positions of writer @w's entries, in order. */
struct positions {
	uint64_t *at;
	size_t n;
};

/* Whether the lost unit (@w, @seq) fits at the plain reader's log
 * position @kill_pos: the last seq of @w logged before < seq < the first
 * logged at or after it. */
static int loss_fits(const struct positions *pos, const uint64_t *plain,
		     uint32_t w, uint64_t seq, uint64_t kill_pos)
{
	const struct positions *p = &pos[w];
	size_t lo = 0, hi = p->n; /* first index with at >= kill_pos */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p->at[mid] < kill_pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t before = lo ? ENTRY_SEQ(plain[p->at[lo - 1]]) : 0;
	uint64_t after = lo < p->n ? ENTRY_SEQ(plain[p->at[lo]]) : UINT64_MAX;
	return before < seq && seq < after;
}

/* Kuhn's augmenting path: match lost unit @i to a kill. */
static int match(size_t i, char **fits, size_t kills, long *kill_of, char *seen)
{
	for (size_t k = 0; k < kills; k++) {
		if (!fits[i][k] || seen[k])
			continue;
		seen[k] = 1;
		if (kill_of[k] < 0 ||
		    match((size_t)kill_of[k], fits, kills, kill_of, seen)) {
			kill_of[k] = (long)i;
			return 1;
		}
	}
	return 0;
}

/* Check the readers' logs against the writers' books. The number of
 * distinct units verified. */
static uint64_t verify(struct book *b)
{
	uint64_t attempted[WRITERS];
	uint8_t *seen[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		attempted[w] = atomic_load(&sh->w[w].attempting);
		seen[w] = calloc(attempted[w] + 1, 1);
		T_ASSERT(seen[w]);
		/* Pushed in increasing order: sorted already. */
		size_t nd = b->doubt_count[w];
		T_ASSERT(attempted[w] == atomic_load(&sh->w[w].committed) ||
			 (nd && b->doubt[w][nd - 1] == attempted[w]));
	}
	qsort(b->held, b->helds, sizeof(uint64_t), cmp_u64);

	/* Each reader's log: only written units, per writer in order. */
	for (int r = 0; r < READERS; r++) {
		const uint64_t *log = logs + (uint64_t)r * log_max;
		uint64_t n = atomic_load(&sh->r[r].count);
		uint64_t last[WRITERS] = { 0 };
		for (uint64_t i = 0; i < n; i++) {
			uint64_t e = log[i];
			uint32_t w = ENTRY_WRITER(e);
			uint64_t s = ENTRY_SEQ(e);
			if (w >= WRITERS || s == 0 || s > attempted[w])
				t_fail(__FILE__, __LINE__,
				       "reader %d log %llu: writer %u seq %llu "
				       "was never written",
				       r, (unsigned long long)i, w,
				       (unsigned long long)s);
			if (s < last[w] ||
			    (s == last[w] && !sorted_has(b->held, b->helds, e)))
				t_fail(__FILE__, __LINE__,
				       "reader %d log %llu: writer %u seq %llu "
				       "after seq %llu",
				       r, (unsigned long long)i, w,
				       (unsigned long long)s,
				       (unsigned long long)last[w]);
			last[w] = s;
			if (seen[w][s] < 255)
				seen[w][s]++;
		}
	}

	/* Exactly once, but for the rules' exceptions. */
	uint64_t distinct = 0, duplicates = 0, doubt_absent = 0;
	uint64_t *lost = NULL;
	size_t losts = 0, lost_cap = 0;
	for (uint32_t w = 0; w < WRITERS; w++) {
		for (uint64_t s = 1; s <= attempted[w]; s++) {
			unsigned n = seen[w][s];
			size_t held =
				sorted_count(b->held, b->helds, ENTRY(w, s));
			if (n > 1 + held)
				t_fail(__FILE__, __LINE__,
				       "writer %u seq %llu delivered %u times "
				       "(a peek reader died holding it %zu "
				       "times)",
				       w, (unsigned long long)s, n, held);
			duplicates += n > 1 ? n - 1 : 0;
			distinct += n > 0;
			if (n)
				continue;
			if (sorted_has(b->doubt[w], b->doubt_count[w], s))
				doubt_absent++; /* its writer died writing */
			else
				push(&lost, &losts, &lost_cap, ENTRY(w, s));
		}
		free(seen[w]);
	}

	/* Each committed unit not delivered: one distinct plain-reader kill
	 * inside a read, where the unit fits that reader's order. */
	if (losts) {
		const uint64_t *plain = logs + (uint64_t)PLAIN * log_max;
		uint64_t n = atomic_load(&sh->r[PLAIN].count);
		struct positions pos[WRITERS] = { 0 };
		size_t caps[WRITERS] = { 0 };
		for (uint64_t i = 0; i < n; i++) {
			uint32_t w = ENTRY_WRITER(plain[i]);
			push(&pos[w].at, &pos[w].n, &caps[w], i);
		}
		char **fits = calloc(losts, sizeof(*fits));
		long *kill_of = malloc((b->plain_kills + 1) * sizeof(long));
		char *tried = malloc(b->plain_kills + 1);
		T_ASSERT(fits && kill_of && tried);
		for (size_t k = 0; k < b->plain_kills; k++)
			kill_of[k] = -1;
		for (size_t i = 0; i < losts; i++) {
			fits[i] = calloc(b->plain_kills + 1, 1);
			T_ASSERT(fits[i]);
			for (size_t k = 0; k < b->plain_kills; k++)
				fits[i][k] = (char)loss_fits(
					pos, plain, ENTRY_WRITER(lost[i]),
					ENTRY_SEQ(lost[i]), b->plain_kill[k]);
			memset(tried, 0, b->plain_kills + 1);
			if (!match(i, fits, b->plain_kills, kill_of, tried))
				t_fail(__FILE__, __LINE__,
				       "writer %u seq %llu was committed and "
				       "never delivered, and no kill of the "
				       "plain reader explains it (%zu lost, "
				       "%zu kills inside a read)",
				       ENTRY_WRITER(lost[i]),
				       (unsigned long long)ENTRY_SEQ(lost[i]),
				       losts, b->plain_kills);
		}
		for (size_t i = 0; i < losts; i++)
			free(fits[i]);
		free(fits);
		free(kill_of);
		free(tried);
		for (int w = 0; w < WRITERS; w++)
			free(pos[w].at);
	}
	printf("  %llu units verified; %llu duplicates (peek reader died "
	       "holding %zu units), %zu lost in flight at the plain "
	       "reader's death (%zu of its kills inside a read), %llu in "
	       "doubt never went in\n",
	       (unsigned long long)distinct, (unsigned long long)duplicates,
	       b->helds, losts, b->plain_kills,
	       (unsigned long long)doubt_absent);
	free(lost);
	return distinct;
}

/* ------------------------------------------------------------- phases */

static void book_free(struct book *b)
{
	for (int w = 0; w < WRITERS; w++)
		free(b->doubt[w]);
	free(b->plain_kill);
	free(b->held);
}

static int run_phase(unsigned kind, double seconds, uint64_t *units)
{
	struct shmpipe_config cfg = {
		.capacity = kind == SHMPIPE_MESSAGE ? MSG_CAPACITY
						    : STREAM_CAPACITY,
		.kind = kind,
	};
	T_OK(shmpipe_create(pipe_name, &cfg));
	memset(sh, 0, sizeof(*sh));
	sh->kind = kind;
	sh->seed = t_random(
		&(uint64_t){ (uint64_t)getpid() ^ (uint64_t)(t_now() * 1e6) });
	sh->phase_start = t_now();
	struct book b = { 0 };
	uint64_t rnd = sh->seed;

	for (int i = 0; i < ROLES; i++)
		spawn(i);
	double end = t_now() + seconds, last_change = t_now();
	uint64_t last_progress = 0;
	while (t_now() < end) {
		t_sleep_ms(KILL_MIN_MS +
			   (int)(t_random(&rnd) %
				 (KILL_MAX_MS - KILL_MIN_MS + 1)));
		check_children();
		uint64_t now_progress = progress();
		if (now_progress != last_progress) {
			last_progress = now_progress;
			last_change = t_now();
		} else if (t_now() - last_change > STALL_SECONDS) {
			supervisor_fail(__LINE__,
					"no unit written or read for a while: "
					"a death blocked the others");
		}
		kill_one((int)(t_random(&rnd) % ROLES), &b);
	}
	check_children();
	double stop_at = t_now();
	atomic_store(&sh->stop_writers, 1);
	await_exit(0, WRITERS, STOP_SECONDS, "a writer did not stop in time");
	atomic_store(&sh->writers_done, 1);
	await_exit(WRITERS, ROLES, STOP_SECONDS,
		   "a reader did not reach end of file in time");
	double drained = t_now() - stop_at;

	struct shmpipe_stats st;
	T_OK(shmpipe_stat(pipe_name, &st));
	T_EQ(st.fill, 0);
	T_EQ(st.writers, 0);
	T_EQ(st.readers, 0);
	printf("%s pipe: %.0f s, %d kills (%d writers, %d plain reader, %d "
	       "peek reader), stopped and drained in %.1f s\n",
	       kind == SHMPIPE_MESSAGE ? "message" : "stream", seconds, b.kills,
	       b.writer_kills, b.plain_reader_kills, b.peek_reader_kills,
	       drained);
	/* The blocking points were visited: the pipe was full, and calls
	 * waited (on a full or empty pipe, or a side lock). */
	printf("  high water %llu of %llu bytes; %llu writes and %llu reads "
	       "waited 1 ms or more\n",
	       (unsigned long long)st.high_water,
	       (unsigned long long)st.capacity,
	       (unsigned long long)atomic_load(&sh->write_waits),
	       (unsigned long long)atomic_load(&sh->read_waits));
	*units = verify(&b);
	T_ASSERT(*units >= 1000);	  /* the processes really worked */
	T_ASSERT(b.kills >= seconds * 5); /* the killer really worked */
	book_free(&b);
	T_OK(shmpipe_unlink(pipe_name));
	return b.kills;
}

int main(void)
{
	const char *env = getenv("SOAK");
	int soak = env && *env ? atoi(env) : 60;
	if (soak < 2)
		soak = 2;
	pipe_name = t_name("soak");
	supervisor = getpid();
	setvbuf(stdout, NULL, _IOLBF, 0); /* in order with failures */
	atexit(kill_all); /* registered after t_name's: runs before it */
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGALRM, on_signal);
	alarm((unsigned)(2 * soak + 120));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(sh != MAP_FAILED);
	/* Room for every unit the writers may write in a phase, twice. */
	log_max = (uint64_t)RATE * WRITERS * (uint64_t)(soak / 2 + 2) * 2;
	logs = mmap(NULL, READERS * log_max * sizeof(*logs),
		    PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	T_ASSERT(logs != MAP_FAILED);

	double start = t_now();
	uint64_t units_message, units_stream;
	double half = soak / 2.0;
	int kills = run_phase(SHMPIPE_MESSAGE, half, &units_message);
	kills += run_phase(SHMPIPE_STREAM, soak - half, &units_stream);
	printf("%d kills, %llu units verified in %.1f s\n", kills,
	       (unsigned long long)(units_message + units_stream),
	       t_now() - start);
	printf("figure soak_kills %d\n", kills);
	printf("figure soak_units_verified %llu\n",
	       (unsigned long long)(units_message + units_stream));
	printf("figure soak_seconds %d\n", soak);
	return T_PASS;
}
