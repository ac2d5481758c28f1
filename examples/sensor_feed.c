/* SPDX-License-Identifier: MIT */
/*
 * sensor_feed.c - several producer processes feed one consumer through a
 * message pipe; the consumer proves that nothing was lost.
 *
 *     build/examples/sensor_feed sensors 4 100000
 *
 * creates the message pipe "sensors", forks 4 producers that each send
 * 100000 readings (one small struct per message), and consumes them in an
 * epoll loop that also prints a summary once a second. At end of file (the
 * last producer has closed, or died) it checks every producer's sequence
 * numbers and ends with the line "received 400000 readings from 4
 * producers, none lost, in order per producer" only if that is true;
 * otherwise it says what is missing and exits 1. Kill a producer (`kill -9
 * PID`, the pids are printed at the start) and the feed still ends,
 * reporting exactly what that producer got through. Ctrl-C or SIGTERM
 * stops everything; the pipe is removed in every case.
 *
 * What it shows, in order of appearance below:
 *  1. a message layout shared by processes: fixed-width fields, no padding;
 *  2. producers after fork(): each opens its own writer handle (a handle
 *     must not be used across fork), and dies with the consumer;
 *  3. end of file with many writers: the consumer starts reading only once
 *     every producer has attached, so one producer finishing early does
 *     not look like the end of the feed;
 *  4. an epoll loop over shmpipe_fd() (the pipe), a timerfd (the summary)
 *     and the shmpipe_shutdown fd (SIGINT, SIGTERM, SIGHUP);
 *  5. the check: per producer, sequences 0, 1, 2, ... with no gap.
 *
 * Exit status: 0 all readings arrived in order, 1 otherwise (or on an
 * error, or when stopped by a signal), 2 on a usage error.
 */
#define _GNU_SOURCE
#include "shmpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------- the message */

/*
 * One reading, one message. Every process must agree on the layout, so
 * only fixed-width fields, ordered so that the compiler adds no padding.
 * time_ns is CLOCK_MONOTONIC, the same clock in every process of the
 * machine: the consumer can subtract it from its own now.
 */
struct reading {
	uint32_t producer; /* 0 .. producers-1 */
	uint32_t reserved; /* zero */
	uint64_t sequence; /* 0, 1, 2, ... per producer */
	uint64_t time_ns;  /* when it was taken */
	double value;	   /* the measurement (pretend degrees Celsius) */
};
_Static_assert(sizeof(struct reading) == 32,
	       "the reading's layout is shared by every process");

/* The pipe has 64 attachment slots; one is the consumer's. */
#define MAX_PRODUCERS 32

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------- the producer */

/*
 * A producer process. @ready is the write end of a pipe(2) shared by every
 * producer: it is closed once this producer is attached (or gone), and the
 * consumer waits until all ends are closed before it reads. Returns the
 * child's exit status.
 */
static int produce(const char *name, uint32_t id, uint64_t count,
		   long interval_us, int ready, pid_t consumer)
{
	/* Die with the consumer: a producer blocked on a full pipe nobody
	 * reads any more would otherwise wait forever. The getppid() check
	 * covers a consumer that died before the prctl(). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != consumer)
		return 1;

	shmpipe *w;
	int r = shmpipe_open(&w, name, SHMPIPE_WRITE);
	close(ready); /* attached, or never will be: the consumer may go on */
	if (r < 0) {
		fprintf(stderr,
			"sensor_feed: producer %u: cannot open pipe "
			"'%s' for writing: %s\n",
			id, name, shmpipe_strerror(r));
		return 1;
	}
	int status = 0;
	struct timespec pause = { .tv_sec = interval_us / 1000000,
				  .tv_nsec = interval_us % 1000000 * 1000 };
	for (uint64_t seq = 0; seq < count; seq++) {
		struct reading rd = {
			.producer = id,
			.sequence = seq,
			.time_ns = now_ns(),
			.value =
				20.0 + (double)((seq * 7 + id * 13) % 100) / 10,
		};
		/* One write is one message, whole or not at all: a producer
		 * killed here never leaves half a reading in the pipe. A full
		 * pipe blocks (-1: no timeout) rather than drop anything. */
		ssize_t n = shmpipe_write(w, &rd, sizeof(rd), -1);
		if (n < 0) {
			fprintf(stderr,
				"sensor_feed: producer %u: cannot "
				"write to pipe '%s': %s\n",
				id, name, shmpipe_strerror((int)n));
			status = 1;
			break;
		}
		if (interval_us)
			clock_nanosleep(CLOCK_MONOTONIC, 0, &pause, NULL);
	}
	/* When the last producer closes, the consumer sees end of file once
	 * it has read everything. */
	shmpipe_close(w);
	return status;
}

/* ---------------------------------------------------------- the consumer */

struct producer {
	pid_t pid;	    /* 0 once reaped */
	int status;	    /* its wait status, once reaped */
	uint64_t received;  /* readings received */
	uint64_t next;	    /* the sequence expected next */
	uint64_t missing;   /* readings skipped over (a gap before one) */
	uint64_t backwards; /* readings older than one already received */
};

struct feed {
	const char *name;
	unsigned producers;
	uint64_t count; /* readings per producer */
	struct producer *p;
	uint64_t total;	    /* readings received */
	uint64_t malformed; /* messages that are no reading of ours */
	uint64_t start_ns, tick_ns, tick_total;
	uint64_t max_latency_ns; /* since the last summary */
};

static void take_reading(struct feed *f, const struct reading *rd)
{
	if (rd->producer >= f->producers) {
		f->malformed++;
		return;
	}
	struct producer *p = &f->p[rd->producer];
	if (rd->sequence > p->next)
		p->missing += rd->sequence - p->next;
	else if (rd->sequence < p->next)
		p->backwards++;
	if (rd->sequence >= p->next)
		p->next = rd->sequence + 1;
	p->received++;
	f->total++;
	uint64_t now = now_ns();
	if (now > rd->time_ns && now - rd->time_ns > f->max_latency_ns)
		f->max_latency_ns = now - rd->time_ns;
}

/*
 * The pipe is readable: take what is there without waiting (timeout 0),
 * but at most a batch, so that the timer and the signals are served too
 * (epoll is level triggered: we are called again). Returns 1 at end of
 * file, 0 to go on, or an error.
 */
static int drain(struct feed *f, shmpipe *r)
{
	for (int i = 0; i < 4096; i++) {
		/* Room for more than a reading, to tell a longer message
		 * (someone else's) from ours. */
		unsigned char buf[2 * sizeof(struct reading)];
		ssize_t n = shmpipe_read(r, buf, sizeof(buf), 0);
		if (n == -EAGAIN)
			return 0; /* a spurious wake-up, or all taken */
		if (n == -EMSGSIZE) {
			/* Far too long to be ours: look at it in place and
			 * drop it, as read cannot take it. */
			const void *big;
			if (shmpipe_peek(r, &big, 0) > 0)
				shmpipe_release(r, 1);
			f->malformed++;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 1;
		if ((size_t)n != sizeof(struct reading)) {
			f->malformed++;
			continue;
		}
		struct reading rd;
		memcpy(&rd, buf, sizeof(rd));
		take_reading(f, &rd);
	}
	return 0;
}

/* Once a second: how many so far, the rate, and who is keeping up. */
static void print_summary(struct feed *f)
{
	uint64_t now = now_ns();
	double secs = (double)(now - f->tick_ns) / 1e9;
	printf("%6.1f s: %" PRIu64 " readings (%.0f/s), max latency %" PRIu64
	       " us; per producer:",
	       (double)(now - f->start_ns) / 1e9, f->total,
	       secs > 0 ? (double)(f->total - f->tick_total) / secs : 0.0,
	       f->max_latency_ns / 1000);
	for (unsigned i = 0; i < f->producers; i++)
		printf(" %" PRIu64, f->p[i].received);
	printf("\n");
	f->tick_ns = now;
	f->tick_total = f->total;
	f->max_latency_ns = 0;
}

/*
 * The event loop. Returns 0 at end of file, the signal number when stopped
 * by one, or a negative error.
 */
static int consume(struct feed *f, shmpipe *r, shmpipe_shutdown *sd)
{
	enum { EV_PIPE, EV_TIMER, EV_SIGNAL };
	int result = -1;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	/* The summary timer: a file descriptor, so that the one epoll_wait
	 * below is the only place where this process waits. */
	int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (timer < 0) {
		result = -errno;
		goto close_epoll;
	}
	struct itimerspec every_second = { .it_interval = { 1, 0 },
					   .it_value = { 1, 0 } };
	timerfd_settime(timer, 0, &every_second, NULL);
	/* The pipe's fd: readable when data or end of file is there. The
	 * handle owns it; we must not close it. */
	int pipe_fd = shmpipe_fd(r);
	if (pipe_fd < 0) {
		result = pipe_fd;
		goto close_timer;
	}
	int fds[] = { pipe_fd, timer, shmpipe_shutdown_fd(sd) };
	for (uint32_t i = EV_PIPE; i <= EV_SIGNAL; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			result = -errno;
			goto close_timer;
		}
	}
	for (;;) {
		struct epoll_event evs[3];
		int n = epoll_wait(ep, evs, 3, -1);
		if (n < 0 && errno != EINTR) {
			result = -errno;
			break;
		}
		/* Signals first: the handler only made the fd readable; we
		 * decide here, between two batches, to stop. */
		int sig = shmpipe_shutdown_signal(sd);
		if (sig) {
			result = sig;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == EV_TIMER) {
				uint64_t expirations;
				(void)!read(timer, &expirations,
					    sizeof(expirations));
				print_summary(f);
			} else if (evs[i].data.u32 == EV_PIPE) {
				int d = drain(f, r);
				if (d != 0) {
					result = d < 0 ? d : 0; /* 1: EOF */
					goto close_timer;
				}
			}
		}
	}
close_timer:
	close(timer);
close_epoll:
	close(ep);
	return result;
}

/* ------------------------------------------------------- the processes */

/* Fork the producers; wait until each is attached to the pipe (or gone).
 * Returns the number started (they are in f->p[].pid), or an error. */
static int start_producers(struct feed *f, long interval_us,
			   shmpipe_shutdown *sd)
{
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	/* What we printed must not be printed again by a child. */
	fflush(NULL);
	pid_t consumer = getpid();
	unsigned started = 0;
	for (; started < f->producers; started++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			close(ready[0]);
			/* _exit: the consumer's atexit handlers and stdio
			 * buffers are not ours. */
			_exit(produce(f->name, started, f->count, interval_us,
				      ready[1], consumer));
		}
		f->p[started].pid = pid;
		printf("producer %u: pid %d\n", started, (int)pid);
	}
	int err = started < f->producers ? -errno : 0;
	close(ready[1]);
	/* End of file on ready[0] once every producer has closed its copy of
	 * ready[1]: it has attached (or failed, or died). Until then, one
	 * producer that finished could look like the end of the feed. */
	char c;
	while (read(ready[0], &c, 1) < 0 && errno == EINTR &&
	       !shmpipe_shutdown_signal(sd))
		;
	close(ready[0]);
	return err < 0 ? err : (int)started;
}

/* Reap every producer; with @stop, SIGTERM those still running first. */
static void reap_producers(struct feed *f, bool stop)
{
	for (unsigned i = 0; i < f->producers; i++) {
		struct producer *p = &f->p[i];
		if (!p->pid)
			continue;
		if (stop)
			kill(p->pid, SIGTERM);
		while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
	}
}

static void describe_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "wait status %#x", (unsigned)status);
}

/* The verdict: one line per producer, then the final line. Returns true if
 * every reading of every producer arrived, in order. */
static bool report(const struct feed *f)
{
	bool all = f->malformed == 0;
	uint64_t missing = 0, backwards = 0;
	for (unsigned i = 0; i < f->producers; i++) {
		const struct producer *p = &f->p[i];
		char how[64];
		describe_exit(p->status, how, sizeof(how));
		bool complete =
			p->received == f->count && !p->missing && !p->backwards;
		bool ok = complete && WIFEXITED(p->status) &&
			  WEXITSTATUS(p->status) == 0;
		printf("producer %u: %" PRIu64 " of %" PRIu64 " readings, %s; "
		       "%s\n",
		       i, p->received, f->count,
		       p->missing || p->backwards ? "OUT OF SEQUENCE"
		       : complete		  ? "all in order"
						  : "in order, then nothing",
		       how);
		all = all && ok;
		/* What never came: gaps, and the end that was cut off. */
		missing += p->missing +
			   (f->count > p->next ? f->count - p->next : 0);
		backwards += p->backwards;
	}
	double secs = (double)(now_ns() - f->start_ns) / 1e9;
	printf("%.2f s, %.0f readings/s\n", secs,
	       secs > 0 ? (double)f->total / secs : 0.0);
	if (all) {
		printf("received %" PRIu64 " readings from %u producers, none "
		       "lost, in order per producer\n",
		       f->total, f->producers);
	} else {
		printf("received %" PRIu64 " readings from %u producers; NOT "
		       "complete: %" PRIu64 " missing, %" PRIu64
		       " out of order, %" PRIu64 " malformed\n",
		       f->total, f->producers, missing, backwards,
		       f->malformed);
	}
	return all;
}

/* ---------------------------------------------------------------- main */

static const char usage[] =
	"usage: sensor_feed [--interval-us US] PIPE [PRODUCERS] [COUNT]\n"
	"Create the message pipe PIPE, fork PRODUCERS processes (default 4)\n"
	"that each write COUNT readings (default 100000) into it, read them\n"
	"all and check that none was lost. The pipe is removed at the end.\n"
	"  --interval-us US   each producer pauses US microseconds between\n"
	"                     two readings (default 0)\n";

static bool parse_number(const char *s, unsigned long long min,
			 unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interval-us", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long producers = 4, count = 100000, interval_us = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c != 'i' ||
		    !parse_number(optarg, 0, 10000000, &interval_us)) {
			fputs(usage, stderr);
			return 2;
		}
	}
	int nargs = argc - optind;
	if (nargs < 1 || nargs > 3 ||
	    (nargs > 1 &&
	     !parse_number(argv[optind + 1], 1, MAX_PRODUCERS, &producers)) ||
	    (nargs > 2 &&
	     !parse_number(argv[optind + 2], 1, UINT64_MAX / 2, &count))) {
		fprintf(stderr, "%sPRODUCERS: 1 to %d; COUNT: at least 1\n",
			usage, MAX_PRODUCERS);
		return 2;
	}
	/* One line at a time, even into a pipe or a file: whoever watches
	 * us sees each summary when it is made. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct feed f = { .name = argv[optind],
			  .producers = (unsigned)producers,
			  .count = count };
	f.p = calloc(f.producers, sizeof(*f.p));
	if (!f.p) {
		fprintf(stderr, "sensor_feed: out of memory\n");
		return 1;
	}
	/* First, so that a signal from now on is caught, never fatal. The
	 * producers inherit it as if it were not there: a signal ends them. */
	shmpipe_shutdown *sd;
	int r = shmpipe_shutdown_open(&sd, 0);
	if (r < 0) {
		fprintf(stderr, "sensor_feed: cannot catch signals: %s\n",
			shmpipe_strerror(r));
		goto fail_free;
	}
	struct shmpipe_config cfg = { .kind = SHMPIPE_MESSAGE };
	r = shmpipe_create(f.name, &cfg);
	if (r < 0) {
		fprintf(stderr, "sensor_feed: cannot create pipe '%s': %s\n",
			f.name, shmpipe_strerror(r));
		goto fail_shutdown;
	}
	/* Removed by shmpipe_shutdown_close() on every way out below. */
	r = shmpipe_shutdown_register(sd, f.name, SHMPIPE_OBJECT_REGION);
	if (r < 0) {
		fprintf(stderr,
			"sensor_feed: cannot register pipe '%s' for "
			"removal: %s\n",
			f.name, shmpipe_strerror(r));
		shmpipe_unlink(f.name);
		goto fail_shutdown;
	}

	f.start_ns = f.tick_ns = now_ns();
	r = start_producers(&f, (long)interval_us, sd);
	if (r < 0) {
		fprintf(stderr, "sensor_feed: cannot start the producers: %s\n",
			shmpipe_strerror(r));
		goto fail_producers;
	}
	int sig = shmpipe_shutdown_signal(sd);
	if (sig)
		goto stopped;
	/* A single consumer: EXCLUSIVE holds the reader lock for the handle's
	 * life, so each read is one acquire load, with no lock to take. */
	shmpipe *reader;
	r = shmpipe_open(&reader, f.name, SHMPIPE_READ | SHMPIPE_EXCLUSIVE);
	if (r < 0) {
		fprintf(stderr,
			"sensor_feed: cannot open pipe '%s' for "
			"reading: %s\n",
			f.name, shmpipe_strerror(r));
		goto fail_producers;
	}
	struct shmpipe_stats st;
	if (shmpipe_stat_handle(reader, &st) == 0 && !st.writers_ever) {
		/* No producer ever attached: a reader would wait for the
		 * first writer forever. Their messages say why. */
		fprintf(stderr,
			"sensor_feed: no producer could open pipe "
			"'%s'\n",
			f.name);
		shmpipe_close(reader);
		goto fail_producers;
	}
	r = consume(&f, reader, sd);
	shmpipe_close(reader);
	if (r < 0) {
		fprintf(stderr, "sensor_feed: reading pipe '%s': %s\n", f.name,
			shmpipe_strerror(r));
		goto fail_producers;
	}
	sig = r;
	if (sig)
		goto stopped;
	/* End of file: every producer has closed (or died); reap them. */
	reap_producers(&f, false);
	bool ok = report(&f);
	shmpipe_shutdown_close(sd); /* removes the pipe */
	free(f.p);
	return ok ? 0 : 1;

stopped:
	reap_producers(&f, true);
	printf("stopped by signal %d (%s)\n", sig, strsignal(sig));
	report(&f);
	shmpipe_shutdown_close(sd);
	free(f.p);
	return 1;

fail_producers:
	reap_producers(&f, true);
fail_shutdown:
	shmpipe_shutdown_close(sd);
fail_free:
	free(f.p);
	return 1;
}
