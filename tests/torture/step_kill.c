/* SPDX-License-Identifier: MIT */
/*
 * step_kill.c - a process killed at ANY instruction of a pipe call leaves
 * the pipe whole: the proof of "no committed unit is lost, torn or
 * duplicated when any writer dies at any instruction", instruction by
 * instruction rather than at random moments (pipe_kill_loop does those).
 *
 * For each scenario below, a victim process is forked, attaches to the pipe
 * (or not: create), stops itself with SIGSTOP under ptrace (PTRACE_TRACEME)
 * just before ONE call, and is then driven instruction by instruction
 * through the whole call - the library's code, glibc's (memcpy, snprintf,
 * malloc, the system call stubs) and our lock and unlock - and SIGKILLed
 * after exactly N instructions, for EVERY N from 0 (at the entry) to the
 * last (after the return instruction). Nothing is sampled. One exception:
 * a call into the vDSO (clock_gettime, 1 or 2 per call in the create and
 * stale-lock cases) counts as one instruction and runs whole, because
 * single-stepping it makes it retry its read of the kernel's clock data at
 * random (a tick lands in the widened window) and so the victims'
 * instruction streams differ; it only reads the clock into the caller's
 * stack, so a kill inside it is the same as a kill at its entry.
 *
 * After each kill a fresh checker process asserts what the pipe holds:
 *  - shmpipe_write (stream, message, each also writing across the ring's
 *    end, and a message write that must first take the writer lock over
 *    from a dead process that had reserved space and scribbled in it), and
 *    shmpipe_reserve + copy + shmpipe_commit (message across the ring's
 *    end, stream): exactly the old units, or the old units plus the
 *    victim's whole unit; never part of it, never twice, never the dead
 *    reserver's scribbles; and nothing before commit is entered;
 *  - shmpipe_read (message, message across the ring's end, a 5-byte read
 *    of a stream): the unit is still there whole or gone whole
 *    (at-most-once: never duplicated, never torn);
 *  - shmpipe_peek then shmpipe_release (message; a stream releasing 5
 *    bytes): the same, and a kill anywhere before release is entered
 *    leaves the unit there (at-least-once);
 *  - shmpipe_create: afterwards either no object of the name, or a complete
 *    pipe that opens (no -EBADMSG) with the asked capacity, kind and mode
 *    0600; and no stray object in /dev/shm: no hidden
 *    /dev/shm/.shmpipe-tmp.<victim>.* file either where /dev/shm supports
 *    O_TMPFILE (the documented rule);
 *  - shmpipe_create with SHMPIPE_REPLACE over an existing pipe with data:
 *    the name always holds a complete pipe, either the old one with all
 *    its data or the new one, empty. Hidden temporaries that a kill leaves
 *    (documented as possible) are counted, reported and removed.
 * and then that the pipe is usable: a new writer opens and writes a unit
 * within 2 s (so the dead process's lock is taken over), a new reader reads
 * everything back, and reads end of file within 3 s once that writer closes
 * (so the dead writer's attachment is noticed and freed).
 * Across the kills of one scenario the outcome must change exactly once,
 * from "old" to "new", at the commit point (printed: the instruction
 * before it is the store that publishes, the link() or the rename()), and
 * be "old" at offset 0 and "new" after the return.
 * On this 2-core VM the whole program takes 15 s when the machine is
 * idle, 25-40 s beside other tests or two more copies of itself (11380
 * offsets; create_replace and the stale-lock write are the slowest: the
 * longest call, and a lock that spins 100 times before it looks at the
 * holder). Under ASan+UBSan (not run by make torture) about 2.5 min.
 * STEP_KILL_ONLY=WORD runs only the scenarios whose label has WORD.
 *
 * How the victim is driven: a first run single-steps the whole call and
 * records the instruction pointer and stack pointer after each instruction
 * (the trace). A run for offset N then puts a breakpoint (int3) at the
 * call's entry, continues to it, goes on to a nearby earlier offset by a
 * counted breakpoint (a loop's instruction is hit once per iteration) and
 * single-steps the rest, so the cost is about linear in N, not N steps
 * for every N; and it checks that the instruction and stack pointers
 * reached are those of the trace at N, so the kill lands where claimed.
 * That needs every victim to run the same instructions: the checker and
 * preparer work in forked children and the tracer itself allocates
 * nothing after a warm-up that ran every call once (lazy PLT binding, the
 * malloc state). A `rep movs`/`stos` iteration counts as one instruction
 * (the CPU traps after each under single-step), so a kill in the middle of
 * a string copy is covered. Page faults add nothing (a faulting instruction
 * restarts and is counted once), so the ring need not be pre-faulted. When
 * runs do not reach their trace point (seen: the victims' pids passed
 * 9999 or wrapped at pid_max, and the REPLACE temporary's name prints the
 * pid with another number of digits), the trace is recorded again and the
 * scenario resumes where the two traces part; the pipe is checked after
 * every run, those too.
 *
 * x86-64 only (registers and int3); skipped (77) elsewhere and where
 * ptrace is not permitted.
 * Figures: instruction_offsets_killed (kills at a verified offset, all
 * scenarios), step_kill_units_verified (units compared byte for byte by
 * the checkers), step_kill_replace_temps_left (hidden temporaries found
 * after REPLACE kills).
 */
#define _GNU_SOURCE
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <sys/user.h>
#define HAVE_STEPPER 1
#else
#define HAVE_STEPPER 0
#endif

#define CAPACITY	 4096 /* one page: the ring's end is easy to reach */
#define UNIT_LEN	 40   /* every unit of the data scenarios */
#define STREAM_TAKE	 5    /* a stream read or release takes 5 bytes */
#define REPLACE_CAPACITY 8192
#define MAX_TRACE	 60000
#define MAX_UNITS	 8
#define WINDOW		 512 /* how far back a checkpoint is looked for */
#define HIT_COST	 4   /* a breakpoint hit against one single step */
#define MAX_RETRACES	 50  /* per scenario */
#define MAX_MISSES	 8   /* runs in a row to one offset that go elsewhere */
#define WATCHDOG_SECONDS 120 /* for one victim run, or the warm-up */

enum op {
	OP_WRITE,	   /* shmpipe_write */
	OP_RESERVE_COMMIT, /* shmpipe_reserve, copy, shmpipe_commit */
	OP_READ,	   /* shmpipe_read */
	OP_PEEK_RELEASE,   /* shmpipe_peek, shmpipe_release */
	OP_CREATE,	   /* shmpipe_create */
	OP_CREATE_REPLACE, /* shmpipe_create with SHMPIPE_REPLACE */
};

struct scenario {
	const char *label;
	enum op op;
	unsigned kind;
	int wrap;  /* the victim's unit crosses the ring's end */
	int stale; /* a dead writer holds the writer lock (reserved) */
};

static const struct scenario scenarios[] = {
	{ "write_stream", OP_WRITE, SHMPIPE_STREAM, 0, 0 },
	{ "write_stream_wrap", OP_WRITE, SHMPIPE_STREAM, 1, 0 },
	{ "write_message", OP_WRITE, SHMPIPE_MESSAGE, 0, 0 },
	{ "write_message_wrap", OP_WRITE, SHMPIPE_MESSAGE, 1, 0 },
	{ "write_message_stale_lock", OP_WRITE, SHMPIPE_MESSAGE, 0, 1 },
	{ "reserve_commit_message", OP_RESERVE_COMMIT, SHMPIPE_MESSAGE, 1, 0 },
	{ "reserve_commit_stream", OP_RESERVE_COMMIT, SHMPIPE_STREAM, 0, 0 },
	{ "read_message", OP_READ, SHMPIPE_MESSAGE, 0, 0 },
	{ "read_message_wrap", OP_READ, SHMPIPE_MESSAGE, 1, 0 },
	{ "read_stream", OP_READ, SHMPIPE_STREAM, 0, 0 },
	{ "peek_release_message", OP_PEEK_RELEASE, SHMPIPE_MESSAGE, 0, 0 },
	{ "peek_release_stream", OP_PEEK_RELEASE, SHMPIPE_STREAM, 0, 0 },
	{ "create", OP_CREATE, SHMPIPE_MESSAGE, 0, 0 },
	{ "create_replace", OP_CREATE_REPLACE, SHMPIPE_STREAM, 0, 0 },
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* Filled by the checkers (forked children), read by the tracer. */
struct counters {
	_Atomic long units_verified;
	_Atomic long replace_temps;
};
static struct counters *counters;

static const char *pipe_name; /* the data scenarios' pipe */
static const char *made_name; /* what the create scenarios create */
static int have_tmpfile;      /* /dev/shm supports O_TMPFILE */

/* ------------------------------------------------------------- units */

static void unit_bytes(char *buf, size_t len, int tag)
{
	uint64_t seed = (uint64_t)tag * 1000003u;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)t_random(&seed);
}

/* The victim adds a unit (else it takes one, or creates). */
static int is_write(const struct scenario *s)
{
	return s->op == OP_WRITE || s->op == OP_RESERVE_COMMIT;
}

static int is_message(const struct scenario *s)
{
	return s->kind == SHMPIPE_MESSAGE;
}

static uint64_t span_of(const struct scenario *s, size_t len)
{
	return is_message(s) ? 8 + ((len + 7) & ~(size_t)7) : len;
}

/* Units already in the pipe before the victim's call. */
static int old_count(const struct scenario *s)
{
	return is_write(s) ? 2 : 3;
}

/* The pipe's content as a list of units (a stream's concatenated). */
struct content {
	int n;
	size_t len[MAX_UNITS];
	char data[MAX_UNITS][CAPACITY];
};

static void content_add(struct content *c, const char *buf, size_t len)
{
	T_ASSERT(c->n < MAX_UNITS && len <= CAPACITY);
	memcpy(c->data[c->n], buf, len);
	c->len[c->n++] = len;
}

/* Before (old) and after (new) the victim's call, as units. */
static void expected(const struct scenario *s, struct content *old,
		     struct content *new)
{
	char buf[UNIT_LEN];
	memset(old, 0, sizeof(*old));
	for (int i = 0; i < old_count(s); i++) {
		unit_bytes(buf, UNIT_LEN, 1 + i);
		content_add(old, buf, UNIT_LEN);
	}
	*new = *old;
	if (is_write(s)) {
		unit_bytes(buf, UNIT_LEN, 100);
		content_add(new, buf, UNIT_LEN);
	} else if (is_message(s)) { /* the first message taken */
		memmove(&new->len[0], &new->len[1],
			(MAX_UNITS - 1) * sizeof(new->len[0]));
		memmove(new->data[0], new->data[1],
			(MAX_UNITS - 1) * sizeof(new->data[0]));
		new->n--;
	} else { /* the stream's first STREAM_TAKE bytes taken */
		memmove(new->data[0], new->data[0] + STREAM_TAKE,
			UNIT_LEN - STREAM_TAKE);
		new->len[0] -= STREAM_TAKE;
	}
}

/* Flatten for a stream: units as one byte string. */
static size_t flatten(const struct content *c, char *out)
{
	size_t n = 0;
	for (int i = 0; i < c->n; i++) {
		memcpy(out + n, c->data[i], c->len[i]);
		n += c->len[i];
	}
	return n;
}

static int same(const struct scenario *s, const struct content *a,
		const struct content *b)
{
	if (is_message(s)) {
		if (a->n != b->n)
			return 0;
		for (int i = 0; i < a->n; i++)
			if (a->len[i] != b->len[i] ||
			    memcmp(a->data[i], b->data[i], a->len[i]))
				return 0;
		return 1;
	}
	static char fa[MAX_UNITS * CAPACITY], fb[MAX_UNITS * CAPACITY];
	size_t na = flatten(a, fa), nb = flatten(b, fb);
	return na == nb && !memcmp(fa, fb, na);
}

/* Read everything the pipe holds now (a stream's bytes as one unit). */
static void read_all(shmpipe *r, const struct scenario *s, struct content *c)
{
	static char buf[MAX_UNITS * CAPACITY];
	memset(c, 0, sizeof(*c));
	size_t have = 0;
	for (;;) {
		ssize_t n = shmpipe_read(r, buf + have, sizeof(buf) - have, 0);
		if (n == 0 || n == -EAGAIN)
			break;
		T_OK(n);
		if (is_message(s))
			content_add(c, buf + have, (size_t)n);
		else
			have += (size_t)n;
	}
	if (!is_message(s) && have) {
		T_ASSERT(have <= CAPACITY);
		content_add(c, buf, have);
	}
}

static void describe(const char *what, const struct content *c)
{
	fprintf(stderr, "  %s: %d unit(s):", what, c->n);
	for (int i = 0; i < c->n; i++)
		fprintf(stderr, " %zu", c->len[i]);
	fputc('\n', stderr);
}

/* ------------------------------------------------------ preparation */

/* Where the victim's unit starts when it must cross the ring's end. */
static uint64_t wrap_start(const struct scenario *s)
{
	uint64_t span = span_of(s, UNIT_LEN);
	return CAPACITY - ((span / 2 + 7) & ~(uint64_t)7);
}

static void write_unit(shmpipe *w, int tag)
{
	char buf[UNIT_LEN];
	unit_bytes(buf, UNIT_LEN, tag);
	T_EQ(shmpipe_write(w, buf, UNIT_LEN, 2000), UNIT_LEN);
}

/* A writer that reserves room for a unit, scribbles in it and dies
 * without committing: it leaves the writer lock held by a dead process. */
static void leave_stale_writer_lock(void)
{
	pid_t pid = t_spawn();
	if (pid == 0) {
		shmpipe *w = t_pipe_open(pipe_name, SHMPIPE_WRITE);
		void *ptr;
		T_EQ(shmpipe_reserve(w, &ptr, UNIT_LEN, 2000), UNIT_LEN);
		memset(ptr, 0xee, UNIT_LEN);
		_exit(0); /* no commit, no close */
	}
	T_EQ(t_wait(pid), 0); /* bounded by the reserve's timeout */
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(pipe_name, &st));
	T_EQ(st.writer_lock_holder, pid); /* a dead holder */
}

/* The pipe as the victim's call expects it. */
static void prepare_data(const struct scenario *s)
{
	shmpipe_unlink(pipe_name);
	struct shmpipe_config cfg = { .capacity = CAPACITY, .kind = s->kind };
	T_OK(shmpipe_create(pipe_name, &cfg));
	shmpipe *w = t_pipe_open(pipe_name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(pipe_name, SHMPIPE_READ);
	if (s->wrap) {
		uint64_t filler = wrap_start(s);
		if (is_write(s))
			filler -= (uint64_t)old_count(s) * span_of(s, UNIT_LEN);
		size_t len = is_message(s) ? filler - 8 : filler;
		static char buf[CAPACITY];
		unit_bytes(buf, len, 50);
		T_EQ(shmpipe_write(w, buf, len, 2000), (ssize_t)len);
		T_EQ(shmpipe_read(r, buf, sizeof(buf), 2000), (ssize_t)len);
	}
	for (int i = 0; i < old_count(s); i++)
		write_unit(w, 1 + i);
	shmpipe_close(r);
	if (s->stale)
		leave_stale_writer_lock();
	shmpipe_close(w);
}

static void prepare_create(const struct scenario *s)
{
	shmpipe_unlink(made_name);
	if (s->op != OP_CREATE_REPLACE)
		return;
	struct shmpipe_config cfg = { .capacity = CAPACITY,
				      .kind = SHMPIPE_MESSAGE };
	T_OK(shmpipe_create(made_name, &cfg));
	shmpipe *w = t_pipe_open(made_name, SHMPIPE_WRITE);
	write_unit(w, 1);
	write_unit(w, 2);
	shmpipe_close(w);
}

static void prepare(const struct scenario *s)
{
	if (s->op == OP_CREATE || s->op == OP_CREATE_REPLACE)
		prepare_create(s);
	else
		prepare_data(s);
}

/* --------------------------------------------------------- checking */

/* Usable: a new writer writes a unit (taking over any lock the dead left),
 * @r reads it, and reads end of file once that writer is gone. */
static void check_usable(const char *name, shmpipe *r)
{
	shmpipe *w;
	T_OK(shmpipe_open(&w, name, SHMPIPE_WRITE));
	char unit[UNIT_LEN], buf[CAPACITY];
	unit_bytes(unit, UNIT_LEN, 200);
	T_EQ(shmpipe_write(w, unit, UNIT_LEN, 2000), UNIT_LEN);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 2000), UNIT_LEN);
	T_ASSERT(!memcmp(buf, unit, UNIT_LEN));
	shmpipe_close(w);
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 3000), 0);
	atomic_fetch_add(&counters->units_verified, 1);
}

/* 10: the pipe holds the old content; 11: the new. */
static int check_data(const struct scenario *s)
{
	static struct content old, new, got;
	expected(s, &old, &new);
	shmpipe *r;
	T_OK(shmpipe_open(&r, pipe_name, SHMPIPE_READ));
	read_all(r, s, &got);
	int verdict = same(s, &got, &old) ? 10 : same(s, &got, &new) ? 11 : 0;
	if (!verdict) {
		describe("found", &got);
		describe("old", &old);
		describe("new", &new);
		t_fail(__FILE__, __LINE__,
		       "%s: the pipe holds neither the old "
		       "content nor the new",
		       s->label);
	}
	atomic_fetch_add(&counters->units_verified,
			 verdict == 10 ? old.n : new.n);
	check_usable(pipe_name, r);
	shmpipe_close(r);
	return verdict;
}

/* Count (and remove) the hidden temporaries of @victim; fail on any other
 * object of this test in /dev/shm than the two names it uses. */
static int scan_shm(pid_t victim)
{
	char tmp_prefix[64], mine[64], ok1[128], ok2[128];
	snprintf(tmp_prefix, sizeof(tmp_prefix), ".shmpipe-tmp.%ld.",
		 (long)victim);
	snprintf(mine, sizeof(mine), "t-%ld-", (long)getppid());
	snprintf(ok1, sizeof(ok1), "shmpipe.%s", pipe_name);
	snprintf(ok2, sizeof(ok2), "shmpipe.%s", made_name);
	DIR *d = opendir("/dev/shm");
	T_ASSERT(d);
	int temps = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strncmp(e->d_name, tmp_prefix, strlen(tmp_prefix))) {
			char path[512];
			snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
			unlink(path);
			temps++;
		} else if (strstr(e->d_name, mine) && strcmp(e->d_name, ok1) &&
			   strcmp(e->d_name, ok2)) {
			t_fail(__FILE__, __LINE__, "stray object /dev/shm/%s",
			       e->d_name);
		}
	}
	closedir(d);
	return temps;
}

static int check_create(const struct scenario *s, pid_t victim)
{
	int temps = scan_shm(victim);
	int replace = s->op == OP_CREATE_REPLACE;
	if (replace)
		atomic_fetch_add(&counters->replace_temps, temps);
	else if (have_tmpfile && temps)
		t_fail(__FILE__, __LINE__,
		       "create without REPLACE, killed, "
		       "left %d hidden temporary file(s)",
		       temps);
	if (!t_shm_exists("shmpipe.", made_name)) {
		T_ASSERT(!replace); /* the old one may never vanish */
		return 10;
	}
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(made_name, &st));
	T_EQ(t_shm_mode("shmpipe.", made_name), 0600);
	shmpipe *r;
	T_OK(shmpipe_open(&r, made_name, SHMPIPE_READ)); /* no -EBADMSG */
	int verdict = 11;
	if (replace && shmpipe_kind(r) == SHMPIPE_MESSAGE) {
		/* The old pipe, with its data. */
		static struct content old, new, got;
		struct scenario as_old = *s;
		as_old.kind = SHMPIPE_MESSAGE;
		as_old.op = OP_WRITE;
		expected(&as_old, &old, &new);
		T_EQ(shmpipe_capacity(r), CAPACITY);
		read_all(r, &as_old, &got);
		T_ASSERT(same(&as_old, &got, &old));
		atomic_fetch_add(&counters->units_verified, old.n);
		verdict = 10;
	} else if (replace) {
		T_EQ(shmpipe_kind(r), SHMPIPE_STREAM);
		T_EQ(shmpipe_capacity(r), REPLACE_CAPACITY);
		T_EQ(st.bytes_buffered, 0);
	} else {
		T_EQ(shmpipe_kind(r), SHMPIPE_MESSAGE);
		T_EQ(shmpipe_capacity(r), CAPACITY);
		T_EQ(st.bytes_buffered, 0);
	}
	check_usable(made_name, r);
	shmpipe_close(r);
	return verdict;
}

/* Where the victim was killed (for messages). */
static long victim_offset;
/* The children alive now, if any (for on_signal()). */
static volatile pid_t running_victim, running_helper;

/* In a forked child: check what the victim left (if @victim), then prepare
 * the pipe for the next victim. Exits with the verdict (10 old, 11 new), 0
 * when nothing was checked, 1 on failure. */
static int helper(const struct scenario *s, pid_t victim)
{
	fflush(stdout);
	pid_t pid = t_spawn();
	if (pid == 0) {
		alarm(60); /* a hang fails the test (SIGALRM kills it) */
		int verdict = 0;
		if (victim) {
			if (s->op == OP_CREATE || s->op == OP_CREATE_REPLACE)
				verdict = check_create(s, victim);
			else
				verdict = check_data(s);
		}
		prepare(s);
		fflush(NULL);
		_exit(verdict);
	}
	running_helper = pid;
	int rc = t_wait(pid); /* bounded by its alarm */
	running_helper = 0;
	if (rc != 0 && rc != 10 && rc != 11)
		t_fail(__FILE__, __LINE__,
		       "%s: checker failed (exit %d) after "
		       "victim %ld was killed at offset %ld",
		       s->label, rc, (long)victim, victim_offset);
	return rc;
}

/* ----------------------------------------------------------- victim */

/* Called through volatile pointers: the victim calls exactly the address
 * the tracer puts its breakpoint on (no clone or inlined copy). */
static __attribute__((noinline)) int peek_then_release(shmpipe *p, size_t take,
						       int timeout_ms)
{
	const void *ptr;
	ssize_t n = shmpipe_peek(p, &ptr, timeout_ms);
	if (n <= 0)
		return (int)n;
	return shmpipe_release(p, take ? take : (size_t)n);
}

static __attribute__((noinline)) ssize_t
reserve_then_commit(shmpipe *p, const void *unit, int timeout_ms)
{
	void *ptr;
	ssize_t n = shmpipe_reserve(p, &ptr, UNIT_LEN, timeout_ms);
	if (n < 0)
		return n;
	memcpy(ptr, unit, UNIT_LEN);
	return shmpipe_commit(p, UNIT_LEN);
}

static ssize_t (*volatile write_fn)(shmpipe *, const void *, size_t,
				    int) = shmpipe_write;
static ssize_t (*volatile read_fn)(shmpipe *, void *, size_t,
				   int) = shmpipe_read;
static int (*volatile peek_release_fn)(shmpipe *, size_t,
				       int) = peek_then_release;
static int (*volatile create_fn)(const char *, const struct shmpipe_config *) =
	shmpipe_create;
static ssize_t (*volatile reserve_commit_fn)(shmpipe *, const void *,
					     int) = reserve_then_commit;
/* Not called through: only their entries are looked for in the trace. */
static int (*volatile release_fn)(shmpipe *, size_t) = shmpipe_release;
static ssize_t (*volatile commit_fn)(shmpipe *, size_t) = shmpipe_commit;

static uintptr_t entry_of(const struct scenario *s)
{
	switch (s->op) {
	case OP_WRITE:
		return (uintptr_t)write_fn;
	case OP_READ:
		return (uintptr_t)read_fn;
	case OP_RESERVE_COMMIT:
		return (uintptr_t)reserve_commit_fn;
	case OP_PEEK_RELEASE:
		return (uintptr_t)peek_release_fn;
	default:
		return (uintptr_t)create_fn;
	}
}

static shmpipe *victim_handle;
static char victim_unit[UNIT_LEN], victim_buf[CAPACITY];
static struct shmpipe_config create_cfg, replace_cfg;

static void victim_setup(const struct scenario *s)
{
	if (is_write(s))
		victim_handle = t_pipe_open(pipe_name, SHMPIPE_WRITE);
	else if (s->op == OP_READ || s->op == OP_PEEK_RELEASE)
		victim_handle = t_pipe_open(pipe_name, SHMPIPE_READ);
}

/* The call. Victims pass -1 (wait forever): no deadline to compute, so
 * no clock read that could make runs differ (the tracer's watchdog bounds
 * them); the warm-up passes a timeout. */
static long victim_call(const struct scenario *s, int timeout_ms)
{
	size_t take = is_message(s) ? 0 : STREAM_TAKE;
	switch (s->op) {
	case OP_WRITE:
		return write_fn(victim_handle, victim_unit, UNIT_LEN,
				timeout_ms);
	case OP_READ:
		return read_fn(victim_handle, victim_buf,
			       is_message(s) ? sizeof(victim_buf) : take,
			       timeout_ms);
	case OP_RESERVE_COMMIT:
		return reserve_commit_fn(victim_handle, victim_unit,
					 timeout_ms);
	case OP_PEEK_RELEASE:
		return peek_release_fn(victim_handle, take, timeout_ms);
	case OP_CREATE:
		return create_fn(made_name, &create_cfg);
	default:
		return create_fn(made_name, &replace_cfg);
	}
}

/* The call whose entry must come before any change, if any. */
static uintptr_t guard_of(const struct scenario *s)
{
	if (s->op == OP_PEEK_RELEASE)
		return (uintptr_t)release_fn;
	if (s->op == OP_RESERVE_COMMIT)
		return (uintptr_t)commit_fn;
	return 0;
}

#if HAVE_STEPPER
/* ----------------------------------------------------------- tracer */

struct trace {
	long n; /* instructions from entry to after the return */
	uint64_t ip[MAX_TRACE + 1], sp[MAX_TRACE + 1];
	/* Checkpoints: position i is usable when it is a fresh arrival at
	 * its address, the address is no string-instruction repeat, and
	 * hits[i] is how many arrivals there (after position 0) it takes. */
	uint32_t hits[MAX_TRACE + 1];
	uint8_t usable[MAX_TRACE + 1];
	long guard_at;	 /* first position at the guard's entry, or -1 */
	long vdso_calls; /* steps that ran a vDSO function whole */
};
static struct trace trace_a, trace_b;

/* The vDSO's code (clock_gettime): [vdso_lo, vdso_hi). */
static uint64_t vdso_lo, vdso_hi;

static void find_vdso(void)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	if (!base)
		return;
	const ElfW(Ehdr) *eh = (const void *)base;
	const ElfW(Phdr) *ph = (const void *)(base + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD &&
		    base + ph[i].p_vaddr + ph[i].p_memsz > vdso_hi)
			vdso_hi = base + ph[i].p_vaddr + ph[i].p_memsz;
	vdso_lo = base;
}

static int in_vdso(uint64_t ip)
{
	return ip >= vdso_lo && ip < vdso_hi;
}

/* Addresses seen in a trace: open addressing, cleared per trace. */
#define TABLE_BITS 16
struct addr_slot {
	uint64_t addr;
	uint32_t count;
	uint8_t rep, bad;
};
static struct addr_slot table[1u << TABLE_BITS];
/* Addresses where a breakpoint cannot be written (kept across traces). */
static uint64_t bad_addrs[64];
static int bad_count;

static struct addr_slot *lookup(uint64_t addr)
{
	uint64_t h = (addr * 0x9e3779b97f4a7c15ull) >> (64 - TABLE_BITS);
	for (;;) {
		struct addr_slot *e = &table[h];
		if (e->addr == addr || e->addr == 0) {
			e->addr = addr;
			return e;
		}
		h = (h + 1) & ((1u << TABLE_BITS) - 1);
	}
}

static void index_trace(struct trace *t, uintptr_t guard_entry)
{
	memset(table, 0, sizeof(table));
	for (long i = 1; i <= t->n; i++)
		if (t->ip[i] == t->ip[i - 1])
			lookup(t->ip[i])->rep = 1;
	for (int b = 0; b < bad_count; b++)
		lookup(bad_addrs[b])->bad = 1;
	t->guard_at = -1;
	for (long i = 0; i <= t->n; i++) {
		struct addr_slot *e = lookup(t->ip[i]);
		int arrival = i == 0 || t->ip[i] != t->ip[i - 1];
		if (arrival && i > 0)
			e->count++;
		t->hits[i] = e->count;
		t->usable[i] = arrival && !e->rep && !e->bad;
		if (t->guard_at < 0 && t->ip[i] == guard_entry)
			t->guard_at = i;
	}
}

static int victim_reaped; /* wait_stop() saw it end */

static int wait_stop(pid_t pid, int *sig)
{
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFSTOPPED(st)) {
		victim_reaped = 1;
		return -1;
	}
	*sig = WSTOPSIG(st);
	return 0;
}

static int single_step(pid_t pid)
{
	T_OK(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL));
	int sig;
	return wait_stop(pid, &sig) == 0 && sig == SIGTRAP ? 0 : -1;
}

static void get_regs(pid_t pid, struct user_regs_struct *r)
{
	T_OK(ptrace(PTRACE_GETREGS, pid, NULL, r));
}

/*
 * Run @pid to its next arrival at @addr (not counting where it stands) by
 * a breakpoint, and leave it there with the instruction restored. 0, -1
 * when it went elsewhere (ended, or another stop), -2 when no breakpoint
 * can be written at @addr.
 */
static int run_to(pid_t pid, uint64_t addr)
{
	struct user_regs_struct r;
	get_regs(pid, &r);
	if (r.rip == addr && single_step(pid) < 0)
		return -1;
	uint64_t word_at = addr & ~(uint64_t)7;
	unsigned shift = (unsigned)(addr & 7) * 8;
	errno = 0;
	long orig = ptrace(PTRACE_PEEKTEXT, pid, (void *)word_at, NULL);
	if (errno)
		return -2;
	long with_bp = (long)(((uint64_t)orig & ~(0xffull << shift)) |
			      (0xccull << shift));
	if (ptrace(PTRACE_POKETEXT, pid, (void *)word_at, (void *)with_bp) < 0)
		return -2;
	T_OK(ptrace(PTRACE_CONT, pid, NULL, NULL));
	int sig;
	if (wait_stop(pid, &sig) < 0)
		return -1;
	T_OK(ptrace(PTRACE_POKETEXT, pid, (void *)word_at, (void *)orig));
	get_regs(pid, &r);
	if (sig != SIGTRAP || r.rip != addr + 1)
		return -1;
	r.rip = addr;
	T_OK(ptrace(PTRACE_SETREGS, pid, NULL, &r));
	return 0;
}

/* Fork a victim stopped (SIGSTOP) just before its call. 0 when ptrace is
 * not permitted. */
static __attribute__((noinline)) pid_t victim_start(const struct scenario *s)
{
	pid_t pid = t_spawn();
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(T_SKIP);
		victim_setup(s);
		raise(SIGSTOP);
		victim_call(s, -1);
		_exit(0);
	}
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == T_SKIP)
		return 0;
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		t_fail(__FILE__, __LINE__,
		       "%s: victim did not stop (status "
		       "%#x)",
		       s->label, st);
	T_OK(ptrace(PTRACE_SETOPTIONS, pid, NULL,
		    (void *)(long)PTRACE_O_EXITKILL));
	victim_reaped = 0;
	running_victim = pid;
	return pid;
}

static void kill_victim(pid_t pid)
{
	if (!victim_reaped) { /* else it ended by itself: a run gone astray */
		T_OK(kill(pid, SIGKILL));
		int st;
		T_EQ(waitpid(pid, &st, 0), pid);
		T_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	running_victim = 0;
}

/* Record the trace of the whole call of the victim @pid. */
static void record(pid_t pid, const struct scenario *s, struct trace *t)
{
	uint64_t entry = entry_of(s);
	T_EQ(run_to(pid, entry), 0);
	struct user_regs_struct r;
	get_regs(pid, &r);
	errno = 0;
	uint64_t ret =
		(uint64_t)ptrace(PTRACE_PEEKDATA, pid, (void *)r.rsp, NULL);
	T_EQ(errno, 0);
	uint64_t ret_sp = r.rsp + 8;
	t->n = 0;
	t->ip[0] = r.rip;
	t->sp[0] = r.rsp;
	t->vdso_calls = 0;
	for (;;) {
		if (in_vdso(r.rip)) {
			/* Run the vDSO's clock read whole (see above): it
			 * returns to the address its caller pushed. */
			errno = 0;
			uint64_t back = (uint64_t)ptrace(PTRACE_PEEKDATA, pid,
							 (void *)r.rsp, NULL);
			T_EQ(errno, 0);
			if (run_to(pid, back) < 0)
				t_fail(__FILE__, __LINE__,
				       "%s: the vDSO call "
				       "did not return",
				       s->label);
			t->vdso_calls++;
		} else if (single_step(pid) < 0) {
			t_fail(__FILE__, __LINE__,
			       "%s: victim stopped "
			       "unexpectedly while traced",
			       s->label);
		}
		get_regs(pid, &r);
		if (t->n == MAX_TRACE)
			t_fail(__FILE__, __LINE__,
			       "%s: call longer than %d "
			       "instructions",
			       s->label, MAX_TRACE);
		t->n++;
		t->ip[t->n] = r.rip;
		t->sp[t->n] = r.rsp;
		if (r.rip == ret && r.rsp == ret_sp)
			break;
	}
}

/* The cheapest way to offset @n: from checkpoint *@c, by *@hits
 * breakpoint hits, then single steps. */
static void plan(const struct trace *t, long n, long *c, uint32_t *hits)
{
	long best = 0, best_cost = n;
	for (long i = n; i > 0 && i >= n - WINDOW; i--) {
		if (!t->usable[i])
			continue;
		long cost = (long)t->hits[i] * HIT_COST + (n - i);
		if (cost < best_cost) {
			best_cost = cost;
			best = i;
		}
	}
	*c = best;
	*hits = best ? t->hits[best] : 0;
}

/* Drive @pid to offset @n of trace @t: 0 there, -1 elsewhere, or -2 with
 * *@bad an address where no breakpoint could be written. */
static int drive(pid_t pid, const struct trace *t, long n, uint64_t *bad)
{
	int r = run_to(pid, t->ip[0]);
	if (r == -2)
		t_fail(__FILE__, __LINE__,
		       "cannot set a breakpoint at the "
		       "entry %#llx",
		       (unsigned long long)t->ip[0]);
	if (r < 0)
		return r;
	long c;
	uint32_t hits;
	plan(t, n, &c, &hits);
	for (uint32_t h = 0; h < hits; h++) {
		r = run_to(pid, t->ip[c]);
		if (r == -2)
			*bad = t->ip[c];
		if (r < 0)
			return r;
	}
	for (long i = c; i < n; i++) {
		r = in_vdso(t->ip[i]) ? run_to(pid, t->ip[i + 1])
				      : single_step(pid);
		if (r < 0)
			return -1;
	}
	struct user_regs_struct regs;
	get_regs(pid, &regs);
	return regs.rip == t->ip[n] && regs.rsp == t->sp[n] ? 0 : -1;
}

/*
 * One victim: record the trace of its whole call into @t (@n < 0), or
 * kill it at offset @n of @t. Then check the pipe (whatever happened, it
 * must be whole) and prepare it for the next victim. Returns the checker's
 * verdict (10 old, 11 new) when the victim was where it should be, else
 * drive()'s -1 or -2. Recording and killing runs both come through here
 * from run_scenario(), so every victim is forked at the same stack depth
 * and runs its call at the same stack addresses.
 */
static __attribute__((noinline)) int
victim_run(const struct scenario *s, struct trace *t, long n, uint64_t *bad)
{
	pid_t pid = victim_start(s);
	T_ASSERT(pid > 0);
	int r = 0;
	if (n < 0)
		record(pid, s, t);
	else
		r = drive(pid, t, n, bad);
	kill_victim(pid);
	victim_offset = n < 0 ? t->n : n;
	int verdict = helper(s, pid);
	if (n < 0)
		index_trace(t, guard_of(s));
	return r < 0 ? r : verdict;
}

static long common_prefix(const struct trace *a, const struct trace *b)
{
	long i = 0;
	while (i <= a->n && i <= b->n && a->ip[i] == b->ip[i] &&
	       a->sp[i] == b->sp[i])
		i++;
	return i;
}

/* Where an instruction is, as OBJECT+OFFSET for addr2line -e OBJECT. */
struct code_place {
	uint64_t ip;
	const char *object;
	uint64_t offset;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct code_place *w = arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type != PT_LOAD || w->ip < lo ||
		    w->ip >= lo + ph->p_memsz)
			continue;
		const char *name = info->dlpi_name;
		const char *slash = strrchr(name, '/');
		w->object = !*name ? "step_kill" : slash ? slash + 1 : name;
		w->offset = w->ip - info->dlpi_addr;
		return 1;
	}
	return 0;
}

static void report_retrace(const struct scenario *s, long n,
			   const struct trace *old, const struct trace *new,
			   long keep)
{
	if (keep > old->n && keep > new->n)
		printf("%s: runs to offset %ld went elsewhere; traced again: "
		       "the same trace\n",
		       s->label, n);
	else
		printf("%s: runs to offset %ld went elsewhere; traced again: "
		       "%ld instructions, the same as before up to offset %ld "
		       "(ip %#llx, now %#llx)\n",
		       s->label, n, new->n, keep,
		       (unsigned long long)old->ip[keep],
		       (unsigned long long)new->ip[keep]);
}

static long offsets_killed;
static signed char verdicts[MAX_TRACE + 1];

static void run_scenario(const struct scenario *s)
{
	double start = t_now();
	/* The trace in use, and one for recording a new one. */
	struct trace *t = &trace_a, *spare = &trace_b, *x;
	int retraces = 0, misses = 0, trace_due = 1;
	long runs = 0, n = 0;
	uint64_t bad = 0;
	helper(s, 0);
	for (;;) {
		alarm(WATCHDOG_SECONDS);
		if (trace_due) {
			trace_due = 0;
			T_EQ(victim_run(s, spare, -1, &bad), 11);
			runs++;
			if (n > 0) {
				/* What lies before the traces part stays done.
				 */
				long keep = common_prefix(t, spare);
				report_retrace(s, n, t, spare, keep);
				if (n > keep)
					n = keep;
				if (++retraces > MAX_RETRACES)
					t_fail(__FILE__, __LINE__,
					       "%s: runs keep "
					       "leaving the trace (%d "
					       "retraces)",
					       s->label, retraces);
			}
			x = t, t = spare, spare = x;
			continue;
		}
		if (n > t->n)
			break;
		int r = victim_run(s, t, n, &bad);
		runs++;
		if (r > 0) {
			verdicts[n++] = (signed char)r;
			misses = 0;
		} else if (r == -2) {
			T_ASSERT(bad_count < 64);
			bad_addrs[bad_count++] = bad;
			index_trace(t, guard_of(s));
		} else if (++misses > MAX_MISSES) {
			t_fail(__FILE__, __LINE__,
			       "%s: %d runs in a row to "
			       "offset %ld went elsewhere",
			       s->label, misses, n);
		} else {
			/* Not where the trace says: once, try again (this
			 * run may be the odd one); then trace again (the
			 * victims changed: a pid with one digit more). */
			trace_due = misses >= 2;
		}
	}
	/* One change, from old to new, and the ends as they must be. */
	long commit = -1;
	for (long i = 0; i <= t->n; i++) {
		if (verdicts[i] == 11 && commit < 0)
			commit = i;
		if (verdicts[i] == 10 && commit >= 0)
			t_fail(__FILE__, __LINE__,
			       "%s: old content again at "
			       "offset %ld after the new at %ld",
			       s->label, i, commit);
	}
	T_EQ(verdicts[0], 10);
	T_EQ(verdicts[t->n], 11);
	if (guard_of(s)) {
		/* Nothing changes before release (commit) is entered: a
		 * peeked unit stays (at-least-once), a reservation is not
		 * visible. */
		T_ASSERT(t->guard_at > 0);
		if (commit <= t->guard_at)
			t_fail(__FILE__, __LINE__,
			       "%s: changed from offset %ld "
			       "on, before %s was entered at %ld",
			       s->label, commit,
			       s->op == OP_PEEK_RELEASE ? "release" : "commit",
			       t->guard_at);
	}
	/* Every offset of the final trace was killed at and checked (those
	 * before a retrace's parting point with the earlier trace). */
	offsets_killed += t->n + 1;
	char guard[64] = "";
	if (guard_of(s))
		snprintf(guard, sizeof(guard), "; %s entered at %ld",
			 s->op == OP_PEEK_RELEASE ? "release" : "commit",
			 t->guard_at);
	struct code_place at = { .ip = t->ip[commit - 1], .object = "?" };
	dl_iterate_phdr(find_object, &at);
	char vdso[48] = "";
	if (t->vdso_calls)
		snprintf(vdso, sizeof(vdso), " (%ld vDSO calls run whole)",
			 t->vdso_calls);
	printf("%-24s %4ld instructions%s: killed at offsets 0..%ld; changed "
	       "from %ld on, by the instruction at %s+%#llx%s; %ld runs, "
	       "%d retrace(s), %d address(es) refused a breakpoint, %.1f s\n",
	       s->label, t->n, vdso, t->n, commit, at.object,
	       (unsigned long long)at.offset, guard, runs, retraces, bad_count,
	       t_now() - start);
	fflush(stdout);
}

/* Run every call once in this process before tracing, so that the victims
 * forked from it find lazy bindings resolved and the same heap each time. */
static void warm_up(void)
{
	for (size_t i = 0; i < NSCENARIOS; i++) {
		const struct scenario *s = &scenarios[i];
		helper(s, 0);
		victim_setup(s);
		long r = victim_call(s, 5000);
		if (r < 0)
			t_fail(__FILE__, __LINE__,
			       "warm-up: %s: the call "
			       "failed: %s",
			       s->label, shmpipe_strerror((int)r));
		shmpipe_close(victim_handle);
		victim_handle = NULL;
	}
	shmpipe_unlink(pipe_name);
	shmpipe_unlink(made_name);
	kill(getpid(), 0);
}

/* A victim blocked for good (a lock never taken over, say) would block
 * the tracer in waitpid(): the watchdog (SIGALRM) fails the test instead.
 * It, SIGTERM (the runner's timeout) and SIGINT remove the test's objects
 * on the way out; the victims die with the tracer (PTRACE_O_EXITKILL). */
static void on_signal(int sig)
{
	static const char watchdog[] = "FAIL step_kill: no progress for a "
				       "long time (watchdog): a victim or a "
				       "checker is blocked\n";
	static const char killed[] = "FAIL step_kill: terminated\n";
	const char *msg = sig == SIGALRM ? watchdog : killed;
	if (write(2, msg, strlen(msg)) < 0) {
	}
	/* First stop whoever could still create the names. */
	pid_t children[] = { running_victim, running_helper };
	for (int i = 0; i < 2; i++)
		if (children[i] > 0 && kill(children[i], SIGKILL) == 0)
			waitpid(children[i], NULL, 0);
	t_cleanup();
	_exit(T_FAIL);
}

static int ptrace_permitted(void)
{
	pid_t pid = t_spawn();
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(T_SKIP);
		raise(SIGSTOP);
		_exit(0);
	}
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st))
		return 0;
	T_ASSERT(WIFSTOPPED(st));
	kill_victim(pid);
	return 1;
}
#endif

int main(void)
{
#if !HAVE_STEPPER
	t_skip("the instruction stepper is written for x86-64 only");
#else
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!ptrace_permitted())
		t_skip("ptrace is not permitted here");
	counters = mmap(NULL, sizeof(*counters), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(counters != MAP_FAILED);
	pipe_name = t_name("step");
	made_name = t_name("made");
	int fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	have_tmpfile = fd >= 0;
	if (fd >= 0)
		close(fd);
	unit_bytes(victim_unit, UNIT_LEN, 100);
	create_cfg = (struct shmpipe_config){ .capacity = CAPACITY,
					      .kind = SHMPIPE_MESSAGE };
	replace_cfg = (struct shmpipe_config){ .capacity = REPLACE_CAPACITY,
					       .kind = SHMPIPE_STREAM,
					       .flags = SHMPIPE_REPLACE };
	printf("step_kill: every instruction of each call, O_TMPFILE %s\n",
	       have_tmpfile ? "yes" : "no");
	find_vdso();
	signal(SIGALRM, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	alarm(WATCHDOG_SECONDS);
	warm_up();
	double start = t_now();
	const char *only = getenv("STEP_KILL_ONLY");
	for (size_t i = 0; i < NSCENARIOS; i++)
		if (!only || strstr(scenarios[i].label, only))
			run_scenario(&scenarios[i]);
	shmpipe_unlink(pipe_name);
	shmpipe_unlink(made_name);
	alarm(0);
	printf("all scenarios: %.1f s\n", t_now() - start);
	printf("figure instruction_offsets_killed %ld\n", offsets_killed);
	printf("figure step_kill_units_verified %ld\n",
	       atomic_load(&counters->units_verified));
	printf("figure step_kill_replace_temps_left %ld\n",
	       atomic_load(&counters->replace_temps));
	return T_PASS;
#endif
}
