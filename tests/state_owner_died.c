/* SPDX-License-Identifier: MIT */
/*
 * state_owner_died.c - a holder that dies (SIGKILL) never blocks the state,
 * and the next locker is told what the dead holder left:
 *  - killed between lock and unlock: SHMPIPE_STATE_TORN, and the lock works
 *    normally once the update is repaired and unlocked;
 *  - the same while two other processes are already blocked in lock: one is
 *    told TORN, the other gets 0 after the repair, both finish;
 *  - killed after its unlock: plain 0, nothing to report;
 *  - killed while repairing (told TORN, not yet unlocked): the next locker
 *    is told TORN again;
 *  - killed inside shmpipe_state_lock after the mutex was taken, or inside
 *    shmpipe_state_unlock after the commit point: SHMPIPE_STATE_OWNER_DIED.
 *    No sequence of API calls can stop a process there, so this case stops
 *    the child there with ptrace (skipped where ptrace is not allowed). A
 *    process blocked in shmpipe_state_wait for that update still sees it
 *    (within a second or so), though its author died before waking anyone.
 *
 * The data is a pair that an update moves from (n, n) to (n + 1, n + 1) one
 * word at a time: a != b shows a half-done update.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/ptrace.h>

struct pair {
	uint64_t a;
	uint64_t b;
};

static shmpipe_state *new_state(const char *tag)
{
	shmpipe_state *s;
	T_OK(shmpipe_state_create(&s, t_name(tag), sizeof(struct pair), 0, 0));
	return s;
}

static struct pair *pair_of(shmpipe_state *s)
{
	return shmpipe_state_data(s);
}

/* Whether @pid is asleep in a system call (state S in /proc/PID/stat). */
static int asleep(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the command may hold spaces */
	return p && p[1] == ' ' && p[2] == 'S';
}

/* Fork a child that locks, does half an update, says so and waits to be
 * killed. */
static pid_t fork_torn_holder(shmpipe_state *s)
{
	int p[2];
	T_OK(pipe(p));
	pid_t pid = t_fork();
	if (pid == 0) {
		T_EQ(shmpipe_state_lock(s, -1), 0);
		pair_of(s)->a++;
		t_say(p[1], 'h');
		for (;;)
			pause();
	}
	T_EQ(t_hear(p[0]), 'h');
	close(p[0]);
	close(p[1]);
	return pid;
}

static void test_torn(void)
{
	shmpipe_state *s = new_state("torn");
	pid_t holder = fork_torn_holder(s);
	/* Alive, it still holds the lock. */
	T_ERR(shmpipe_state_lock(s, 0), EBUSY);
	t_kill_and_reap(holder);

	T_EQ(shmpipe_state_lock(s, 1000), SHMPIPE_STATE_TORN);
	struct pair *d = pair_of(s);
	T_EQ(d->a, 1); /* the half update is there to see */
	T_EQ(d->b, 0);
	T_EQ(shmpipe_state_generation(s), 0);
	d->b = d->a; /* repair */
	T_EQ(shmpipe_state_unlock(s), 1);
	T_EQ(shmpipe_state_generation(s), 1);

	/* Works normally again. */
	T_EQ(shmpipe_state_lock(s, 1000), 0);
	T_EQ(shmpipe_state_unlock(s), 2);
	T_EQ(shmpipe_state_lock(s, 0), 0);
	T_EQ(shmpipe_state_unlock(s), 3);
	shmpipe_state_close(s);
}

/* A survivor: block in lock, repair if told TORN, check, unlock. Exits with
 * 10 + the verdict. */
static void run_survivor(shmpipe_state *s, int ready_fd, int timeout_ms)
{
	t_say(ready_fd, 'w');
	int verdict = shmpipe_state_lock(s, timeout_ms);
	T_OK(verdict);
	struct pair *d = pair_of(s);
	if (verdict == SHMPIPE_STATE_TORN) {
		T_EQ(d->a, 1);
		T_EQ(d->b, 0);
		d->b = d->a;
	}
	T_EQ(d->a, 1);
	T_EQ(d->b, 1);
	T_OK(shmpipe_state_unlock(s));
	exit(10 + verdict);
}

static void test_blocked_survivors(void)
{
	shmpipe_state *s = new_state("blocked");
	pid_t holder = fork_torn_holder(s);
	int p[2];
	T_OK(pipe(p));
	/* One waits forever, the other with a (long) timeout: both paths. */
	pid_t w1 = t_fork();
	if (w1 == 0)
		run_survivor(s, p[1], -1);
	pid_t w2 = t_fork();
	if (w2 == 0)
		run_survivor(s, p[1], 20000);
	T_EQ(t_hear(p[0]), 'w');
	T_EQ(t_hear(p[0]), 'w');
	double end = t_now() + 5;
	while (!(asleep(w1) && asleep(w2)) && t_now() < end)
		t_sleep_ms(10);
	t_sleep_ms(100);
	/* Both are blocked: neither can have the lock, neither has exited. */
	T_ASSERT(t_running(w1));
	T_ASSERT(t_running(w2));

	t_kill_and_reap(holder);
	int r1 = t_wait_within(w1, 5);
	int r2 = t_wait_within(w2, 5);
	/* Exactly one was told TORN (and repaired), the other got 0. */
	T_EQ(r1 + r2, 10 + 10 + SHMPIPE_STATE_TORN);
	T_ASSERT(r1 == 10 || r1 == 10 + SHMPIPE_STATE_TORN);
	T_EQ(shmpipe_state_generation(s), 2);
	T_EQ(shmpipe_state_lock(s, 0), 0);
	T_EQ(pair_of(s)->a, 1);
	T_EQ(pair_of(s)->b, 1);
	T_EQ(shmpipe_state_unlock(s), 3);
	close(p[0]);
	close(p[1]);
	shmpipe_state_close(s);
}

static void test_killed_after_unlock(void)
{
	shmpipe_state *s = new_state("unlocked");
	int p[2];
	T_OK(pipe(p));
	pid_t pid = t_fork();
	if (pid == 0) {
		T_EQ(shmpipe_state_lock(s, -1), 0);
		pair_of(s)->a = 1;
		pair_of(s)->b = 1;
		T_EQ(shmpipe_state_unlock(s), 1);
		t_say(p[1], 'u');
		for (;;)
			pause();
	}
	T_EQ(t_hear(p[0]), 'u');
	t_kill_and_reap(pid);
	T_EQ(shmpipe_state_lock(s, 1000), 0);
	T_EQ(pair_of(s)->a, 1);
	T_EQ(pair_of(s)->b, 1);
	T_EQ(shmpipe_state_unlock(s), 2);
	close(p[0]);
	close(p[1]);
	shmpipe_state_close(s);
}

static void test_repairer_dies(void)
{
	shmpipe_state *s = new_state("repairer");
	t_kill_and_reap(fork_torn_holder(s));
	int p[2];
	T_OK(pipe(p));
	pid_t repairer = t_fork();
	if (repairer == 0) {
		/* Report the verdict, then die halfway through the repair. */
		char verdict = (char)('0' + shmpipe_state_lock(s, 1000));
		pair_of(s)->a = 7;
		t_say(p[1], verdict);
		for (;;)
			pause();
	}
	T_EQ(t_hear(p[0]), '0' + SHMPIPE_STATE_TORN);
	t_kill_and_reap(repairer);

	T_EQ(shmpipe_state_lock(s, 1000), SHMPIPE_STATE_TORN);
	T_EQ(shmpipe_state_generation(s), 0);
	struct pair *d = pair_of(s);
	T_EQ(d->a, 7);
	d->a = d->b = 1;
	T_EQ(shmpipe_state_unlock(s), 1);
	T_EQ(shmpipe_state_lock(s, 1000), 0);
	T_EQ(shmpipe_state_unlock(s), 2);
	close(p[0]);
	close(p[1]);
	shmpipe_state_close(s);
}

/*
 * Fork a child traced by us that stops itself (SIGSTOP) just before a call
 * to shmpipe_state_lock or, with @hold, just before the unlock that commits
 * its update of the pair to (1, 1). Returns 0 when ptrace is not allowed
 * here (the child is gone).
 */
static pid_t fork_traced(shmpipe_state *s, int hold)
{
	pid_t pid = t_fork();
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(T_SKIP);
		if (hold) {
			T_EQ(shmpipe_state_lock(s, -1), 0);
			pair_of(s)->a = pair_of(s)->b = 1;
		}
		raise(SIGSTOP);
		getppid(); /* a marker system call for the tracer */
		if (hold)
			shmpipe_state_unlock(s);
		else
			shmpipe_state_lock(s, -1);
		_exit(T_FAIL); /* never reached: killed on the way */
	}
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == T_SKIP)
		return 0;
	T_ASSERT(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
	T_OK(ptrace(PTRACE_SETOPTIONS, pid, NULL,
		    (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)));
	return pid;
}

/* Resume @pid with @request until the next stop; 0, or -1 if it ended. */
static int step(pid_t pid, enum __ptrace_request request)
{
	T_OK(ptrace(request, pid, NULL, NULL));
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFSTOPPED(st))
		return -1;
	/* Only our own traps are expected: the child blocks nothing else. */
	T_ASSERT((WSTOPSIG(st) & 0x7f) == SIGTRAP);
	return 0;
}

/* The number of the system call @pid is entering, or -1 for other stops. */
static long syscall_entering(pid_t pid)
{
	struct ptrace_syscall_info info;
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info),
			&info);
	T_OK(n);
	return info.op == PTRACE_SYSCALL_INFO_ENTRY ? (long)info.entry.nr : -1;
}

/*
 * Kill the child inside shmpipe_state_lock: after the mutex is taken, at
 * the gettid() that records the holding thread, before the update is marked
 * begun. White box: returns 0 if lock no longer makes that call.
 */
static int kill_inside_lock(pid_t pid)
{
	int marker = 0, found = 0;
	for (int i = 0; i < 1000 && !found; i++) {
		T_EQ(step(pid, PTRACE_SYSCALL), 0);
		long nr = syscall_entering(pid);
		if (nr == SYS_getppid)
			marker = 1;
		else if (marker && nr == SYS_gettid)
			found = 1;
		else if (marker && nr == SYS_exit_group)
			break;
	}
	t_kill_and_reap(pid);
	return found;
}

/* Kill the child inside shmpipe_state_unlock, one instruction after the
 * commit point (the generation changes), before the mutex is released. */
static void kill_inside_unlock(shmpipe_state *s, pid_t pid)
{
	uint64_t before = shmpipe_state_generation(s);
	int steps = 0;
	while (shmpipe_state_generation(s) == before) {
		T_ASSERT(++steps < 1000000);
		T_EQ(step(pid, PTRACE_SINGLESTEP), 0);
	}
	t_kill_and_reap(pid);
}

static void test_owner_died(void)
{
	shmpipe_state *s = new_state("ownerdied");
	pid_t pid = fork_traced(s, 0);
	if (!pid) {
		printf("ptrace not allowed here: OWNER_DIED cases skipped\n");
		shmpipe_state_close(s);
		return;
	}
	if (kill_inside_lock(pid)) {
		T_EQ(shmpipe_state_lock(s, 1000), SHMPIPE_STATE_OWNER_DIED);
		T_EQ(shmpipe_state_generation(s), 0);
		T_EQ(shmpipe_state_unlock(s), 1);
	} else {
		printf("lock makes no gettid() call: lock window skipped\n");
		T_EQ(shmpipe_state_lock(s, 1000), SHMPIPE_STATE_TORN);
		T_OK(shmpipe_state_unlock(s));
	}

	/* Now die after the commit point of an update of (1, 1), while
	 * another process waits for that update. */
	uint64_t before = shmpipe_state_generation(s);
	int p[2];
	T_OK(pipe(p));
	pid_t waiter = t_fork();
	if (waiter == 0) {
		t_say(p[1], 'w');
		T_EQ(shmpipe_state_wait(s, before, -1), 0);
		exit(T_PASS);
	}
	T_EQ(t_hear(p[0]), 'w');
	double end = t_now() + 5;
	while (!asleep(waiter) && t_now() < end)
		t_sleep_ms(10);
	pid = fork_traced(s, 1);
	T_ASSERT(pid > 0);
	kill_inside_unlock(s, pid);
	T_EQ(shmpipe_state_generation(s), before + 1);
	/* The update is committed: the waiter must see it, though its
	 * author died before it could wake anyone, and nobody locks. */
	T_EQ(t_wait_within(waiter, 5), T_PASS);
	close(p[0]);
	close(p[1]);
	T_EQ(shmpipe_state_lock(s, 1000), SHMPIPE_STATE_OWNER_DIED);
	T_EQ(pair_of(s)->a, 1);
	T_EQ(pair_of(s)->b, 1);
	T_EQ(shmpipe_state_unlock(s), (int)before + 2);
	T_EQ(shmpipe_state_lock(s, 0), 0);
	T_EQ(shmpipe_state_unlock(s), (int)before + 3);
	shmpipe_state_close(s);
}

int main(void)
{
	test_torn();
	test_blocked_survivors();
	test_killed_after_unlock();
	test_repairer_dies();
	test_owner_died();
	return T_PASS;
}
