/* SPDX-License-Identifier: MIT */
/*
 * shared_state.c - an alarm panel shared by several processes, that
 * survives any one of them being killed at any moment.
 *
 * Start a few on the same name, in different terminals or in the
 * background:
 *
 *     build/examples/shared_state --name panel --remove &
 *     build/examples/shared_state --name panel --remove &
 *     build/examples/shared_state --name panel --remove --hold-ms 10000
 *
 * Each takes a reading from one of four (pretend) sensors every
 * --interval-ms, records it on the panel under the lock, prints a line, and
 * stops cleanly on Ctrl-C, SIGTERM or SIGHUP. The last one holds the lock for
 * ten seconds in the middle of each update: `kill -9` it then, and the next
 * process to take the lock is told SHMPIPE_STATE_TORN, repairs the panel and
 * carries on. Nobody waits forever for the dead process's lock.
 *
 * What it shows, in order of appearance below:
 *  1. a struct in shared memory: fixed-width fields, and all-zero bytes are
 *     a valid empty panel, since a new state is zero-filled: nobody has to
 *     initialise it, so nobody can die half way through initialising it;
 *  2. a redundant field (total, the sum of the per-sensor counts) that lets
 *     a locker check, and repair, what a dead holder left half done;
 *  3. the lock protocol: shmpipe_state_lock, change the data,
 *     shmpipe_state_unlock, and what to do with each verdict lock returns;
 *  4. create-or-open: the first process creates the state, the others
 *     open it;
 *  5. clean shutdown with the shmpipe_shutdown helper: signals become a
 *     readable fd, the event loop polls it between updates (never in the
 *     middle of one), and --remove has the helper unlink the state on the
 *     way out, so Ctrl-C leaves nothing behind in /dev/shm.
 *
 * Exit status: 0 when stopped by a signal or after --updates updates, 1 on
 * an error, 2 on a usage error.
 */
#define _GNU_SOURCE
#include "shmpipe.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ the panel */

#define SENSORS 4

/*
 * The shared data. Only fixed-width fields: every process that maps it must
 * agree on the layout. Read and written only under the state's lock, so
 * plain (non-atomic) fields are fine.
 */
struct alarm_panel {
	uint64_t readings[SENSORS];  /* readings recorded, per sensor */
	int64_t last_value[SENSORS]; /* the latest reading of each sensor */
	uint64_t total;		     /* always the sum of readings[] */
	uint64_t last_update_ns;     /* wall clock time of the last update */
	uint32_t last_pid;	     /* who made the last complete update */
	uint32_t updating_pid;	     /* who is updating now (0: nobody) */
	uint32_t repairs;	     /* torn updates repaired so far */
	uint32_t reserved;
};
_Static_assert(sizeof(struct alarm_panel) == 96,
	       "the panel's layout is shared by every process using it");

static uint64_t sum_of_readings(const struct alarm_panel *p)
{
	uint64_t sum = 0;
	for (int i = 0; i < SENSORS; i++)
		sum += p->readings[i];
	return sum;
}

/* ---------------------------------------------------------------- options */

struct options {
	const char *name;
	unsigned long updates; /* 0: until a signal */
	int interval_ms;
	int hold_ms;
	bool remove;
};

static const char usage[] =
	"usage: shared_state [--name NAME] [--updates N] [--interval-ms MS]\n"
	"                    [--hold-ms MS] [--remove]\n"
	"Update an alarm panel shared with other processes under a crash-safe\n"
	"lock, until Ctrl-C (or SIGTERM, SIGHUP).\n"
	"  --name NAME        the shared state's name (default alarm-panel)\n"
	"  --updates N        stop after N updates (default 0: until a "
	"signal)\n"
	"  --interval-ms MS   pause between two updates (default 500)\n"
	"  --hold-ms MS       hold the lock this long in the middle of each\n"
	"                     update, to give you time to kill -9 this "
	"process\n"
	"  --remove           remove the state when this process exits\n";

static bool parse_number(const char *s, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

/* Returns -1 to go on, else the exit status (0 after --help, 2 on error). */
static int parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"name", required_argument, NULL, 'n'},
		{"updates", required_argument, NULL, 'u'},
		{"interval-ms", required_argument, NULL, 'i'},
		{"hold-ms", required_argument, NULL, 'H'},
		{"remove", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	long v;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->name = optarg;
			break;
		case 'u':
			if (!parse_number(optarg, LONG_MAX, &v))
				goto bad_number;
			o->updates = (unsigned long)v;
			break;
		case 'i':
		case 'H':
			if (!parse_number(optarg, INT_MAX, &v))
				goto bad_number;
			*(c == 'i' ? &o->interval_ms : &o->hold_ms) = (int)v;
			break;
		case 'r':
			o->remove = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shared_state: unexpected argument '%s'\n%s",
			argv[optind], usage);
		return 2;
	}
	return -1;

bad_number:
	fprintf(stderr,
		"shared_state: '%s' is not a number of the right size\n",
		optarg);
	return 2;
}

/* ------------------------------------------------------- signals and time */

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	}
	return "a signal";
}

/*
 * The heart of the event loop: sleep up to @ms, waking at once if a
 * shutdown signal arrives (or has arrived already). Returns true when it is
 * time to stop. The handler only makes the fd readable; the decision what
 * to do about it is made here, between updates, where it is safe.
 */
static bool sleep_unless_stopped(shmpipe_shutdown *sd, int ms)
{
	struct pollfd p = {.fd = shmpipe_shutdown_fd(sd), .events = POLLIN};
	int r = poll(&p, 1, ms);
	/* r < 0 is EINTR: a signal came, and the next check will see it. */
	(void)r;
	return shmpipe_shutdown_signal(sd) != 0;
}

static void format_time(uint64_t realtime_ns, char *buf, size_t len)
{
	time_t secs = (time_t)(realtime_ns / 1000000000u);
	struct tm tm;
	if (!realtime_ns || !localtime_r(&secs, &tm)) {
		snprintf(buf, len, "never");
		return;
	}
	size_t n = strftime(buf, len, "%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03u",
		 (unsigned)(realtime_ns / 1000000u % 1000u));
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------ the lock protocol */

/*
 * Deal with what shmpipe_state_lock() told us. We hold the lock in all
 * three cases; only a torn update needs work.
 */
static void after_lock(struct alarm_panel *p, int verdict)
{
	pid_t me = getpid();
	if (verdict == SHMPIPE_STATE_OWNER_DIED) {
		/* It died before or after an update, not in one. */
		printf("[pid %d] the previous lock holder died, but not in the "
		       "middle of an update: nothing to repair\n",
		       (int)me);
	} else if (verdict == SHMPIPE_STATE_TORN) {
		/*
		 * The holder died between lock and unlock: any field may be
		 * old or new. Our panel can tell: total must be the sum of the
		 * readings. Trust the parts and recompute the whole. (A real
		 * program might instead roll back to a copy, or mark the
		 * record as suspect.)
		 */
		uint64_t sum = sum_of_readings(p);
		printf("[pid %d] the lock holder (pid %u) died in the middle "
		       "of "
		       "an update: panel total %llu, but the sensors add up to "
		       "%llu; repaired\n",
		       (int)me, p->updating_pid, (unsigned long long)p->total,
		       (unsigned long long)sum);
		p->total = sum;
		p->repairs++;
		p->updating_pid = 0;
	}
}

/*
 * Take the lock. While another process holds it, check every second
 * whether we were asked to stop, and give up if so (-EINTR): a process
 * stuck behind a slow holder still answers Ctrl-C.
 */
static int lock_panel(shmpipe_state *s, shmpipe_shutdown *sd)
{
	bool said = false;
	for (;;) {
		int r = shmpipe_state_lock(s, 1000);
		if (r >= 0) {
			after_lock(shmpipe_state_data(s), r);
			return 0;
		}
		if (r != -ETIMEDOUT)
			return r;
		if (shmpipe_shutdown_signal(sd))
			return -EINTR;
		if (!said)
			printf("[pid %d] waiting for the lock...\n",
			       (int)getpid());
		said = true;
	}
}

/*
 * One update: record a reading of one sensor. The order of the writes is
 * deliberate: a crash after the first one leaves total behind the sum of
 * the readings, which the next locker will see and repair.
 */
static int update_panel(shmpipe_state *s, shmpipe_shutdown *sd,
			const struct options *o, unsigned long n)
{
	pid_t me = getpid();
	int sensor = (int)(((unsigned long)me + n) % SENSORS);
	int64_t value = (int64_t)(((unsigned long)me * 31u + n * 17u) % 100u);

	int r = lock_panel(s, sd);
	if (r < 0)
		return r;
	struct alarm_panel *p = shmpipe_state_data(s);
	p->updating_pid = (uint32_t)me;
	p->readings[sensor]++;
	if (o->hold_ms > 0) {
		printf("[pid %d] update %lu: holding lock for %d ms\n", (int)me,
		       n + 1, o->hold_ms);
		/* A signal now cuts the wait short, but we still finish the
		 * update: never leave shared data half changed on purpose. */
		sleep_unless_stopped(sd, o->hold_ms);
	}
	p->last_value[sensor] = value;
	p->last_update_ns = realtime_ns();
	p->last_pid = (uint32_t)me;
	p->total++;
	p->updating_pid = 0;
	uint64_t total = p->total;
	/* Unlock completes the update: the generation moves on. */
	r = shmpipe_state_unlock(s);
	if (r < 0)
		return r;
	printf("[pid %d] update %lu: sensor %d reads %lld, panel total %llu\n",
	       (int)me, n + 1, sensor, (long long)value,
	       (unsigned long long)total);
	return 0;
}

/* Print a copy of the panel taken under the lock: the lock is held only
 * for the copy, never while printing. */
static void print_panel(shmpipe_state *s, const char *name,
			unsigned long updates, int sig)
{
	pid_t me = getpid();
	int r = shmpipe_state_lock(s, 2000);
	if (r < 0) {
		printf("[pid %d] cannot read the panel: %s\n", (int)me,
		       shmpipe_strerror(r));
		return;
	}
	after_lock(shmpipe_state_data(s), r);
	struct alarm_panel p = *(struct alarm_panel *)shmpipe_state_data(s);
	shmpipe_state_unlock(s);

	char when[32];
	format_time(p.last_update_ns, when, sizeof(when));
	uint64_t sum = sum_of_readings(&p);
	if (sig)
		printf("[pid %d] stopping on %s", (int)me, signal_name(sig));
	else
		printf("[pid %d] finished", (int)me);
	printf("; alarm panel '%s':\n", name);
	printf("    sensor  readings  last value\n");
	for (int i = 0; i < SENSORS; i++)
		printf("    %6d  %8llu  %10lld\n", i,
		       (unsigned long long)p.readings[i],
		       (long long)p.last_value[i]);
	printf("    last update by pid %u at %s\n", p.last_pid, when);
	printf("[pid %d] done: %lu updates by this process; panel total %llu, "
	       "sensors sum %llu (%s), %u repair(s)\n",
	       (int)me, updates, (unsigned long long)p.total,
	       (unsigned long long)sum,
	       p.total == sum ? "consistent" : "INCONSISTENT", p.repairs);
}

/* ---------------------------------------------------------- create or open */

/*
 * The first process creates the state (zero-filled: an empty panel), the
 * others open it. The loop covers a race: the state may be removed between
 * our create (-EEXIST) and our open (-ENOENT).
 */
static int create_or_open(shmpipe_state **s, const char *name, bool *created)
{
	for (int tries = 0; tries < 5; tries++) {
		int r = shmpipe_state_create(
			s, name, sizeof(struct alarm_panel), 0600, 0);
		*created = r == 0;
		if (r != -EEXIST)
			return r;
		r = shmpipe_state_open(s, name);
		if (r != -ENOENT)
			return r;
	}
	return -EAGAIN;
}

int main(int argc, char **argv)
{
	struct options o = {.name = "alarm-panel", .interval_ms = 500};
	int status = parse_options(&o, argc, argv);
	if (status >= 0)
		return status;
	/* One line at a time, even into a pipe or a file: other programs
	 * (such as the demo) watch what we print. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* First, so that a signal from now on is caught, never fatal. */
	shmpipe_shutdown *sd;
	int r = shmpipe_shutdown_open(&sd, 0);
	if (r < 0) {
		fprintf(stderr, "shared_state: cannot catch signals: %s\n",
			shmpipe_strerror(r));
		return 1;
	}
	shmpipe_state *s;
	bool created;
	r = create_or_open(&s, o.name, &created);
	if (r < 0) {
		fprintf(stderr,
			"shared_state: cannot create or open state '%s': %s\n",
			o.name, shmpipe_strerror(r));
		goto fail_shutdown;
	}
	if (shmpipe_state_size(s) < sizeof(struct alarm_panel)) {
		fprintf(stderr,
			"shared_state: state '%s' is not an alarm panel "
			"(%zu bytes of data)\n",
			o.name, shmpipe_state_size(s));
		goto fail_state;
	}
	if (o.remove) {
		r = shmpipe_shutdown_register(sd, o.name,
					      SHMPIPE_OBJECT_REGION);
		if (r < 0) {
			fprintf(stderr,
				"shared_state: cannot register state '%s' for "
				"removal: %s\n",
				o.name, shmpipe_strerror(r));
			goto fail_state;
		}
	}
	printf("[pid %d] %s alarm panel '%s'\n", (int)getpid(),
	       created ? "created" : "opened", o.name);

	unsigned long done = 0;
	status = 0;
	while (!o.updates || done < o.updates) {
		r = update_panel(s, sd, &o, done);
		if (r == -EINTR)
			break; /* asked to stop while waiting for the lock */
		if (r < 0) {
			fprintf(stderr,
				"shared_state: cannot update state '%s': %s\n",
				o.name, shmpipe_strerror(r));
			status = 1;
			break;
		}
		done++;
		if (o.updates && done == o.updates)
			break;
		if (sleep_unless_stopped(sd, o.interval_ms))
			break;
	}
	print_panel(s, o.name, done, shmpipe_shutdown_signal(sd));
	shmpipe_state_close(s);
	/* Removes the state if --remove registered it; other processes that
	 * have it open keep working on it. */
	shmpipe_shutdown_close(sd);
	return status;

fail_state:
	shmpipe_state_close(s);
fail_shutdown:
	shmpipe_shutdown_close(sd);
	return 1;
}
