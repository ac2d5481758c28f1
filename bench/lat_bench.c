/* SPDX-License-Identifier: MIT */
/*
 * lat_bench.c - shmpipe against the kernel's IPC, side by side in one run:
 * the round-trip latency of a 64-byte ping-pong, and many writer
 * processes feeding one reader.
 *
 *   lat_bench [--runs N] [--quick] [--pin] [--csv FILE]
 *             [--case latency|writers|all]
 *
 * Both cases use bench_cell() (bench.h): the contenders alternate run by
 * run (A B C A B C ...), so drift on a noisy machine hits all of them; a
 * table shows each one's median over the runs, min-max and the ratio to a
 * baseline; every run is written to the CSV file. Every run checks all the
 * data it moved and the program dies (exit 1, no figure) when anything is
 * wrong. Each run creates its channels afresh and forks its processes;
 * only the shmpipe public API and the kernel's are used.
 *
 * Case "latency" (param 64). Two processes: the timer sends a 64-byte
 * message, the echo process receives it and sends it back. Each round trip
 * is timed with clock_gettime(CLOCK_MONOTONIC); a run is WARMUP_TRIPS
 * untimed trips (page faults, first wake-ups) and then K timed ones
 * (20000, or 5000 with --quick: the p99.9 then rests on the 20 or 5
 * slowest trips), sorted; the run's median, p99 and p99.9 (nearest rank)
 * in microseconds are the metrics median_us, p99_us, p999_us. The table
 * ranks the runs' medians (ratio = pipe / x); the tails follow below it.
 * Every message carries its trip number in every word, checked by both
 * processes. With --pin the timer runs on CPU 0 and the echo process on
 * CPU 1, so every message needs a wake-up across CPUs (30-50 us on the
 * 2-CPU VM this was written on, where an idle CPU halts). Unpinned, the
 * kernel often keeps both processes on one CPU: a sleeping round trip is
 * then two context switches (about 5 us there), while a spinning reader
 * burns its whole budget with its peer unable to run (about 200 us a
 * trip), so unpinned figures jump between those modes from run to run.
 *   shmpipe       two message pipes of 64 KiB, one each way, both ends
 *                 opened SHMPIPE_EXCLUSIVE (one writer and one reader: the
 *                 lock-free path); blocking shmpipe_write/shmpipe_read
 *                 that sleep in the kernel (futex) at once
 *   shmpipe-spin  the same, both readers with shmpipe_set_spin(h, 100):
 *                 they watch the pipe for up to 100 us before sleeping
 *   pipe          two anonymous pipes (the baseline)
 *   socketpair    an AF_UNIX SOCK_STREAM socketpair
 *   tcp           a TCP connection over 127.0.0.1 (ephemeral port),
 *                 TCP_NODELAY on both ends
 *   mq            two POSIX message queues (64-byte messages); their
 *                 names are removed as soon as they are open, so nothing
 *                 is left in /dev/mqueue even if the bench is killed
 *   eventfd       two eventfds: the 8-byte counter carries the trip
 *                 number; a wake-up without a 64-byte payload, a floor
 *                 for what the kernel's wake-up costs
 *
 * Case "writers" (param W = 1, 2, 4, 8 writer processes, one reader
 * process). Each writer sends N/W records (N = 50000 per run, 20000 with
 * --quick) of 512 bytes (<= PIPE_BUF, so a kernel pipe write of one is
 * atomic): writer id, a magic word, sequence number, a body that differs
 * per record and a checksum of all that. The reader checks that every
 * record is whole (checksum), that each writer's sequence arrives in order
 * with none lost, and the total. The writers attach first and then wait
 * on a start line (a pipe closed by the reader), so the clock runs from
 * the start to the last record received: metric
 * mmsgs, million records per second. They keep their handles until the
 * reader has every record; once they have closed and exited, the reader
 * checks that nothing more comes (end of file; no datagram left). With
 * --pin the reader runs on CPU 0 and the writers alternate CPUs 1, 0, 1,
 * 0, ... (writer 0 on CPU 1), so on two CPUs half of the writers share
 * the reader's.
 *   shmpipe       a stream pipe of 8 MiB; each writer opens its own write
 *                 handle and writes one record per shmpipe_write (a stream
 *                 write that fits the capacity is atomic); the reader
 *                 (SHMPIPE_EXCLUSIVE) reads 64 KiB chunks with
 *                 shmpipe_read and splits them into records
 *   pipe          one anonymous pipe of the default size shared by all the
 *                 writers, one write(2) per record; the reader reads 64 KiB
 *                 chunks (the baseline)
 *   unix-dgram    an AF_UNIX SOCK_DGRAM socket bound to a path in a
 *                 mkdtemp() directory; each datagram is one record (atomic
 *                 by nature); the reader recv()s one datagram at a time.
 *                 Each writer connect()s to the path before the start (as
 *                 syslog clients do) and sends with sendto() on the
 *                 connected socket, so the path and its directory are
 *                 removed before the clock starts and an unconnected
 *                 sendto() does not pay a path lookup per datagram.
 *                 The reader's SO_RCVBUF is raised as far as allowed,
 *                 which hardly matters: see dgram_bind().
 *
 * The pipes are named "bench-<pid>-ping", "-pong" and "-w", created with
 * SHMPIPE_REPLACE, registered with bench_cleanup_pipe() and unlinked as
 * soon as both sides have them open. A run that does not finish within
 * RUN_DEADLINE seconds kills the bench (a hung peer), and every child
 * dies with the parent (PR_SET_PDEATHSIG).
 *
 * Time on that 2-CPU VM: --runs 5 takes 20-40 s (latency, at most 35 s
 * when every trip crosses CPUs, and the writers case 10-15 s), --quick
 * --runs 3 about 6 s.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "shmpipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RUN_DEADLINE 30 /* seconds: a run taking longer has hung */

static char ping_name[64], pong_name[64], writers_name[64];
static pid_t main_pid;

/* Fails with a description of @err (an errno of our own choosing). */
static void __attribute__((noreturn)) fail(const char *what, int err)
{
	errno = err;
	bench_die(what, 0);
}

/* The other process of a run has gone. In a child that means the parent
 * stopped (and reports why, or was interrupted): leave quietly. */
static void __attribute__((noreturn)) peer_gone(const char *what)
{
	if (getpid() != main_pid)
		_exit(1);
	fail(what, EPIPE);
}

/* The start of every child: die with the parent, then take @cpu. */
static void child_start(int cpu)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != main_pid) /* the parent died before prctl */
		_exit(1);
	bench_place(cpu);
}

static void make_pipe(const char *name, size_t capacity, unsigned kind)
{
	struct shmpipe_config c = { .capacity = capacity,
				    .kind = kind,
				    .flags = SHMPIPE_REPLACE };
	int r = shmpipe_create(name, &c);
	if (r < 0)
		bench_die("shmpipe_create", r);
}

static void open_pipe(shmpipe **p, const char *name, unsigned flags)
{
	int r = shmpipe_open(p, name, flags);
	if (r < 0)
		bench_die("shmpipe_open", r);
}

static void write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("write", 0);
		p += n, len -= (size_t)n;
	}
}

static void read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			bench_die("read", 0);
		if (n == 0)
			peer_gone("read: the other process is gone");
		p += n, len -= (size_t)n;
	}
}

/* ------------------------------------------------------ the temp socket */

/* The writers case's socket path, removed by the handlers below if the
 * bench is interrupted or hangs before it is removed as usual. */
static char dgram_dir[64], dgram_path[96];
static volatile sig_atomic_t dgram_exists;
static struct sigaction prev_int, prev_term;

static void dgram_remove(void)
{
	if (!dgram_exists || getpid() != main_pid)
		return;
	dgram_exists = 0;
	unlink(dgram_path);
	rmdir(dgram_dir);
}

/* SIGINT/SIGTERM: remove the socket, then do what bench.h does (remove
 * the pipes and die by the signal). */
static void on_stop(int sig)
{
	dgram_remove();
	struct sigaction *prev = sig == SIGINT ? &prev_int : &prev_term;
	if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
		prev->sa_handler(sig);
	} else {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

/* The run deadline. A run prints nothing (it only flushes before a fork),
 * so bench_die's stdio is safe here. */
static void on_alarm(int sig)
{
	(void)sig;
	dgram_remove();
	bench_die("a run did not finish in time (a process hung)", -ETIMEDOUT);
}

static void install_handlers(void)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &prev_int);
	sigaction(SIGTERM, &sa, &prev_term);
	signal(SIGALRM, on_alarm);
}

/* ============================================================= latency */

#define MSG_SIZE     64
#define MSG_WORDS    (MSG_SIZE / 8)
#define WARMUP_TRIPS 200
#define SPIN_US	     100

enum lat_kind {
	LAT_SHMPIPE,
	LAT_SHMPIPE_SPIN,
	LAT_PIPE,
	LAT_SOCKETPAIR,
	LAT_TCP,
	LAT_MQ,
	LAT_EVENTFD,
	LAT_COUNT
};

static int trips; /* timed round trips per run */

/* One end of the ping-pong: how its process sends and receives. */
struct lat_end {
	enum lat_kind kind;
	int in, out; /* fds (a socket's end is both; an mqd_t is an fd) */
	shmpipe *from, *to; /* the shmpipe kinds: opened by lat_attach() */
	size_t size;	    /* bytes per message: 64, or 8 for eventfd */
};

/* The message of trip @i: every word differs and none is 0, so a stale,
 * torn or mixed-up message shows. */
static void msg_fill(uint64_t *m, size_t size, uint64_t i)
{
	for (size_t j = 0; j < size / 8; j++)
		m[j] = i * MSG_WORDS + j + 1;
}

static int msg_ok(const uint64_t *m, size_t size, uint64_t i)
{
	for (size_t j = 0; j < size / 8; j++)
		if (m[j] != i * MSG_WORDS + j + 1)
			return 0;
	return 1;
}

/* A connected TCP pair over loopback: @sv[0] connected, @sv[1] accepted. */
static void tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &len) < 0)
		bench_die("tcp listen", 0);
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof(a)) < 0)
		bench_die("tcp connect", 0);
	sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (sv[1] < 0)
		bench_die("tcp accept", 0);
	close(l);
	for (int i = 0; i < 2; i++)
		if (setsockopt(sv[i], IPPROTO_TCP, TCP_NODELAY, &one,
			       sizeof(one)) < 0)
			bench_die("TCP_NODELAY", 0);
}

/* A POSIX message queue for one message of MSG_SIZE at a time, its name
 * removed at once (the descriptor keeps it). Returns it or -errno. */
static int mq_make(const char *suffix)
{
	char name[64];
	snprintf(name, sizeof(name), "/bench-%ld-%s", (long)main_pid, suffix);
	struct mq_attr at = { .mq_maxmsg = 1, .mq_msgsize = MSG_SIZE };
	mqd_t q =
		mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &at);
	if (q == (mqd_t)-1)
		return -errno;
	mq_unlink(name);
	return q;
}

/* Creates the channels of @kind, before the fork. */
static void lat_open(enum lat_kind kind, struct lat_end *parent,
		     struct lat_end *child)
{
	*parent = (struct lat_end){
		.kind = kind, .in = -1, .out = -1, .size = MSG_SIZE
	};
	*child = *parent;
	int a[2], b[2];
	switch (kind) {
	case LAT_SHMPIPE:
	case LAT_SHMPIPE_SPIN:
		make_pipe(ping_name, 1u << 16, SHMPIPE_MESSAGE);
		make_pipe(pong_name, 1u << 16, SHMPIPE_MESSAGE);
		return;
	case LAT_PIPE:
		if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
			bench_die("pipe", 0);
		parent->out = a[1], child->in = a[0];
		child->out = b[1], parent->in = b[0];
		return;
	case LAT_SOCKETPAIR:
	case LAT_TCP:
		if (kind == LAT_TCP)
			tcp_pair(a);
		else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) <
			 0)
			bench_die("socketpair", 0);
		parent->in = parent->out = a[0];
		child->in = child->out = a[1];
		return;
	case LAT_MQ:
		if ((a[0] = mq_make("ping")) < 0)
			bench_die("mq_open", a[0]);
		if ((a[1] = mq_make("pong")) < 0)
			bench_die("mq_open", a[1]);
		parent->out = child->in = a[0];
		child->out = parent->in = a[1];
		return;
	case LAT_EVENTFD:
		a[0] = eventfd(0, EFD_CLOEXEC);
		a[1] = eventfd(0, EFD_CLOEXEC);
		if (a[0] < 0 || a[1] < 0)
			bench_die("eventfd", 0);
		parent->out = child->in = a[0];
		child->out = parent->in = a[1];
		parent->size = child->size = 8;
		return;
	case LAT_COUNT:
		break;
	}
	abort();
}

static int end_uses(const struct lat_end *e, int fd)
{
	return fd == e->in || fd == e->out;
}

/* After the fork: close the fds only the other process uses, so that a
 * peer that dies gives end of file rather than a hang. */
static void lat_close_other(const struct lat_end *mine,
			    const struct lat_end *other)
{
	if (other->in >= 0 && !end_uses(mine, other->in))
		close(other->in);
	if (other->out >= 0 && other->out != other->in &&
	    !end_uses(mine, other->out))
		close(other->out);
}

/* After the fork, the shmpipe kinds open their handles (never inherit). */
static void lat_attach(struct lat_end *e, int is_echo)
{
	if (e->kind != LAT_SHMPIPE && e->kind != LAT_SHMPIPE_SPIN)
		return;
	unsigned ex = SHMPIPE_EXCLUSIVE;
	open_pipe(&e->from, is_echo ? ping_name : pong_name, SHMPIPE_READ | ex);
	open_pipe(&e->to, is_echo ? pong_name : ping_name, SHMPIPE_WRITE | ex);
	if (e->kind == LAT_SHMPIPE_SPIN)
		shmpipe_set_spin(e->from, SPIN_US);
}

static void lat_detach(struct lat_end *e)
{
	shmpipe_close(e->from);
	shmpipe_close(e->to);
	if (e->in >= 0)
		close(e->in);
	if (e->out >= 0 && e->out != e->in)
		close(e->out);
}

static void lat_send(struct lat_end *e, const uint64_t *m)
{
	switch (e->kind) {
	case LAT_SHMPIPE:
	case LAT_SHMPIPE_SPIN: {
		ssize_t r = shmpipe_write(e->to, m, e->size, -1);
		if (r != (ssize_t)e->size)
			bench_die("shmpipe_write", r < 0 ? r : -EIO);
		return;
	}
	case LAT_MQ:
		if (mq_send(e->out, (const char *)m, e->size, 0) < 0)
			bench_die("mq_send", 0);
		return;
	default:
		write_full(e->out, m, e->size);
	}
}

static void lat_recv(struct lat_end *e, uint64_t *m)
{
	switch (e->kind) {
	case LAT_SHMPIPE:
	case LAT_SHMPIPE_SPIN: {
		ssize_t r = shmpipe_read(e->from, m, e->size, -1);
		if (r != (ssize_t)e->size)
			bench_die("shmpipe_read", r < 0 ? r : -EPIPE);
		return;
	}
	case LAT_MQ: {
		ssize_t r = mq_receive(e->in, (char *)m, MSG_SIZE, NULL);
		if (r < 0)
			bench_die("mq_receive", 0);
		if (r != (ssize_t)e->size)
			fail("mq_receive: a message of the wrong size",
			     EBADMSG);
		return;
	}
	default:
		read_full(e->in, m, e->size);
	}
}

/* The echo process: @total trips, each message checked and sent back. */
static void __attribute__((noreturn)) lat_echo(struct lat_end *e, int total)
{
	uint64_t m[MSG_WORDS];
	for (int i = 0; i < total; i++) {
		lat_recv(e, m);
		if (!msg_ok(m, e->size, (uint64_t)i))
			fail("echo: a wrong message", EBADMSG);
		lat_send(e, m);
	}
	lat_detach(e);
	_exit(0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank quantile @per10k / 10000 of the @n sorted values. */
static double quantile(const double *sorted, int n, int per10k)
{
	long rank = ((long)n * per10k + 9999) / 10000;
	return sorted[rank < 1 ? 0 : rank - 1];
}

static void lat_run(const void *arg, double *out)
{
	enum lat_kind kind = *(const enum lat_kind *)arg;
	struct lat_end parent, child;
	lat_open(kind, &parent, &child);
	int total = WARMUP_TRIPS + trips;
	pid_t pid = bench_fork();
	if (pid == 0) {
		child_start(1);
		lat_close_other(&child, &parent);
		lat_attach(&child, 1);
		lat_echo(&child, total);
	}
	bench_place(0);
	lat_close_other(&parent, &child);
	lat_attach(&parent, 0);

	static double *rtt;
	if (!rtt && !(rtt = malloc(sizeof(*rtt) * (size_t)trips)))
		bench_die("malloc", -ENOMEM);
	uint64_t m[MSG_WORDS];
	alarm(RUN_DEADLINE);
	for (int i = 0; i < total; i++) {
		msg_fill(m, parent.size, (uint64_t)i);
		double t0 = bench_now();
		lat_send(&parent, m);
		lat_recv(&parent, m);
		double t1 = bench_now();
		if (!msg_ok(m, parent.size, (uint64_t)i))
			fail("ping-pong: a wrong message back", EBADMSG);
		if (i >= WARMUP_TRIPS)
			rtt[i - WARMUP_TRIPS] = (t1 - t0) * 1e6;
		if (i == 0 && parent.from) { /* the echo has both open now */
			shmpipe_unlink(ping_name);
			shmpipe_unlink(pong_name);
		}
	}
	alarm(0);
	lat_detach(&parent);
	bench_wait_ok(pid, "echo process");

	qsort(rtt, (size_t)trips, sizeof(*rtt), cmp_double);
	out[0] = quantile(rtt, trips, 5000);
	out[1] = quantile(rtt, trips, 9900);
	out[2] = quantile(rtt, trips, 9990);
}

static double median_of(const struct bench_entry *e, int metric)
{
	double v[BENCH_MAX_RUNS];
	for (int r = 0; r < bench_runs; r++)
		v[r] = e->v[r][metric];
	return bench_median(v, bench_runs);
}

static void run_latency(void)
{
	static enum lat_kind kinds[LAT_COUNT]; /* each entry's run() arg */
	/* in enum lat_kind order */
	struct bench_entry e[LAT_COUNT] = {
		{ .transport = "shmpipe", .label = "shmpipe, sleeping" },
		{ .transport = "shmpipe-spin",
		  .label = "shmpipe, spin budget 100 us" },
		{ .transport = "pipe", .label = "kernel pipe pair" },
		{ .transport = "socketpair",
		  .label = "AF_UNIX stream socketpair" },
		{ .transport = "tcp", .label = "TCP 127.0.0.1, TCP_NODELAY" },
		{ .transport = "mq", .label = "POSIX message queue pair" },
		{ .transport = "eventfd", .label = "eventfd (8-byte signal)" },
	};
	for (int i = 0; i < LAT_COUNT; i++) {
		kinds[i] = (enum lat_kind)i;
		e[i].run = lat_run, e[i].arg = &kinds[i];
	}
	int q = mq_make("probe");
	static char why[96];
	if (q < 0) {
		snprintf(why, sizeof(why),
			 "POSIX message queues unavailable: %s",
			 shmpipe_strerror(q));
		e[LAT_MQ].skip = why;
	} else {
		close(q);
	}

	static char title[128];
	snprintf(title, sizeof(title),
		 "Round trip, 64-byte ping-pong between two processes, "
		 "%d trips per run",
		 trips);
	struct bench_table t = {
		.title = title,
		.csv_case = "latency",
		.param = MSG_SIZE,
		.nmetrics = 3,
		.metrics = { "median_us", "p99_us", "p999_us" },
		.unit = "us, each run's median round trip",
		.higher_better = 0,
		.baseline = LAT_PIPE,
	};
	bench_cell(&t, e, LAT_COUNT);

	printf("  tails (median over the runs)      %10s %10s %10s\n", "median",
	       "p99", "p99.9");
	for (int i = 0; i < LAT_COUNT; i++)
		if (!e[i].skip)
			printf("  %-34s %10.3f %10.3f %10.3f\n", e[i].label,
			       median_of(&e[i], 0), median_of(&e[i], 1),
			       median_of(&e[i], 2));

	double shm = median_of(&e[LAT_SHMPIPE], 0);
	double pipe_pair = median_of(&e[LAT_PIPE], 0);
	double spin = median_of(&e[LAT_SHMPIPE_SPIN], 0);
	printf("  target: shmpipe sleeping no slower than the pipe pair "
	       "(median): %.3f vs %.3f us: %s (%+.1f%%)\n",
	       shm, pipe_pair, shm <= pipe_pair ? "met" : "missed",
	       (shm / pipe_pair - 1) * 100);
	printf("  target: shmpipe-spin median < 2 us: %.3f us: %s\n", spin,
	       spin < 2.0 ? "met" : "missed");
	fflush(stdout);
}

/* ============================================================= writers */

#define RECORD_SIZE  512
#define RECORD_MAGIC 0x5245434fu /* a record read from mid-way shows */
#define MAX_WRITERS  8
#define CHUNK	     (1u << 16)

struct record {
	uint32_t writer;
	uint32_t magic;
	uint64_t seq;
	unsigned char body[RECORD_SIZE - 24];
	uint64_t sum; /* record_sum() of everything before it */
};
_Static_assert(sizeof(struct record) == RECORD_SIZE, "record layout");

enum wr_kind { WR_SHMPIPE, WR_PIPE, WR_DGRAM, WR_COUNT };

struct wr_case {
	enum wr_kind kind;
	int writers;
};

static uint64_t records_per_run; /* N: all writers together */

static uint64_t record_sum(const struct record *r)
{
	const unsigned char *p = (const unsigned char *)r;
	uint64_t h = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < offsetof(struct record, sum); i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	return h;
}

static void record_make(struct record *r, uint32_t writer, uint64_t seq)
{
	size_t off = (size_t)((seq * 131 + writer * 4099) % BENCH_PATTERN);
	r->writer = writer;
	r->magic = RECORD_MAGIC;
	r->seq = seq;
	memcpy(r->body, bench_pattern + off, sizeof(r->body));
	r->sum = record_sum(r);
}

struct wr_reader {
	const struct wr_case *c;
	int fd;
	shmpipe *pipe;
	uint64_t per_writer, count;
	uint64_t next[MAX_WRITERS]; /* each writer's next sequence number */
};

static const char *const wr_names[WR_COUNT] = { "shmpipe", "pipe",
						"unix-dgram" };

/* Fails saying which transport and how many writers. */
static void __attribute__((noreturn))
wr_fail(const struct wr_case *c, const char *what, long r)
{
	static char msg[160];
	snprintf(msg, sizeof(msg), "writers %s W=%d: %s", wr_names[c->kind],
		 c->writers, what);
	if (r >= 0)
		errno = (int)r;
	bench_die(msg, r < 0 ? r : 0);
}

static void record_check(struct wr_reader *rd, const unsigned char *p)
{
	const struct record *r = (const struct record *)p;
	if (r->magic != RECORD_MAGIC || record_sum(r) != r->sum)
		wr_fail(rd->c, "a torn or corrupt record", EBADMSG);
	if (r->writer >= (uint32_t)rd->c->writers)
		wr_fail(rd->c, "a record from no such writer", EBADMSG);
	if (r->seq != rd->next[r->writer] || r->seq >= rd->per_writer)
		wr_fail(rd->c, "records out of order, lost or repeated",
			EBADMSG);
	rd->next[r->writer]++;
	rd->count++;
}

/* Receives and checks every record; returns when all have come. */
static void wr_receive(struct wr_reader *rd, uint64_t total)
{
	static struct record records[CHUNK / RECORD_SIZE]; /* aligned */
	unsigned char *buf = (unsigned char *)records;
	size_t have = 0; /* bytes in buf: whole records, then a part */
	while (rd->count < total) {
		ssize_t n;
		switch (rd->c->kind) {
		case WR_SHMPIPE:
			n = shmpipe_read(rd->pipe, buf + have, CHUNK - have,
					 -1);
			if (n < 0)
				wr_fail(rd->c, "shmpipe_read", n);
			break;
		case WR_PIPE:
			n = read(rd->fd, buf + have, CHUNK - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				wr_fail(rd->c, "read", errno);
			break;
		default:
			n = recv(rd->fd, buf, RECORD_SIZE, MSG_TRUNC);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				wr_fail(rd->c, "recv", errno);
			if (n != RECORD_SIZE)
				wr_fail(rd->c, "a datagram of the wrong size",
					EBADMSG);
			break;
		}
		if (n == 0 && rd->pipe && shmpipe_next_size(rd->pipe, 0) > 0)
			wr_fail(rd->c,
				"shmpipe_read gave end of file with "
				"records still in the pipe",
				EPIPE);
		if (n == 0)
			wr_fail(rd->c, "end of file before every record came",
				EPIPE);
		have += (size_t)n;
		size_t whole = have - have % RECORD_SIZE;
		for (size_t off = 0; off < whole; off += RECORD_SIZE)
			record_check(rd, buf + off);
		if (have > whole && whole)
			memmove(buf, buf + whole, have - whole);
		have -= whole;
	}
	if (have)
		wr_fail(rd->c, "more bytes than the writers sent", EBADMSG);
}

/* The reader socket: bound to a fresh path; its SO_RCVBUF raised as far
 * as net.core.rmem_max allows (the kernel caps the request silently).
 * For AF_UNIX datagrams that hardly matters: the queue is bounded by
 * net.unix.max_dgram_qlen datagrams (10 by default; 11 are queued here
 * whatever SO_RCVBUF says) and by the sender's SO_SNDBUF, so a writer
 * finding the queue full sleeps until the reader takes one. */
static int dgram_bind(void)
{
	snprintf(dgram_dir, sizeof(dgram_dir), "/tmp/lat_bench.XXXXXX");
	if (!mkdtemp(dgram_dir))
		bench_die("mkdtemp", 0);
	snprintf(dgram_path, sizeof(dgram_path), "%s/sock", dgram_dir);
	dgram_exists = 1;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", dgram_path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int size = 64 << 20;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		dgram_remove();
		bench_die("unix socket bind", 0);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return fd;
}

static int dgram_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", dgram_path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		bench_die("unix socket connect", 0);
	return fd;
}

/* Writer @id: attach, say ready, wait for the start, send its records,
 * and keep its handle until the reader has them all (@done closed). */
static void __attribute__((noreturn))
writer_main(const struct wr_case *c, int id, int fd, int ready, int go,
	    int done, uint64_t count)
{
	shmpipe *w = NULL;
	if (c->kind == WR_SHMPIPE)
		open_pipe(&w, writers_name, SHMPIPE_WRITE);
	else if (c->kind == WR_DGRAM)
		fd = dgram_connect();
	char byte = 1;
	write_full(ready, &byte, 1);
	close(ready);
	if (read(go, &byte, 1) != 0) /* the reader closes it: start */
		wr_fail(c, "start line", EPROTO);
	struct record rec;
	for (uint64_t seq = 0; seq < count; seq++) {
		record_make(&rec, (uint32_t)id, seq);
		ssize_t n;
		if (c->kind == WR_SHMPIPE) {
			n = shmpipe_write(w, &rec, sizeof(rec), -1);
			if (n != (ssize_t)sizeof(rec))
				bench_die("shmpipe_write", n < 0 ? n : -EIO);
			continue;
		}
		do { /* one call per record: each is atomic */
			if (c->kind == WR_PIPE)
				n = write(fd, &rec, sizeof(rec));
			else
				n = sendto(fd, &rec, sizeof(rec), 0, NULL, 0);
		} while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == ECONNREFUSED || errno == EPIPE))
			peer_gone("the reader is gone");
		if (n != (ssize_t)sizeof(rec))
			bench_die(c->kind == WR_PIPE ? "write" : "sendto", 0);
	}
	if (read(done, &byte, 1) != 0)
		wr_fail(c, "end line", EPROTO);
	shmpipe_close(w);
	_exit(0);
}

static void wr_run(const void *arg, double *out)
{
	const struct wr_case *c = arg;
	struct wr_reader rd = { .c = c, .fd = -1 };
	rd.per_writer = records_per_run / (uint64_t)c->writers;
	uint64_t total = rd.per_writer * (uint64_t)c->writers;
	int data[2] = { -1, -1 }, ready[2], go[2], done[2];
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 ||
	    pipe2(done, O_CLOEXEC) < 0)
		bench_die("pipe", 0);
	if (c->kind == WR_SHMPIPE)
		make_pipe(writers_name, 8u << 20, SHMPIPE_STREAM);
	else if (c->kind == WR_PIPE && pipe2(data, O_CLOEXEC) < 0)
		bench_die("pipe", 0);
	else if (c->kind == WR_DGRAM)
		data[0] = dgram_bind();

	pid_t pid[MAX_WRITERS];
	for (int k = 0; k < c->writers; k++) {
		pid[k] = bench_fork();
		if (pid[k] == 0) {
			child_start(k % 2 ? 0 : 1);
			close(ready[0]);
			close(go[1]);
			close(done[1]);
			if (data[0] >= 0)
				close(data[0]);
			writer_main(c, k, data[1], ready[1], go[0], done[0],
				    rd.per_writer);
		}
	}
	bench_place(0);
	close(ready[1]);
	close(go[0]);
	close(done[0]);
	if (data[1] >= 0)
		close(data[1]);
	rd.fd = data[0];
	if (c->kind == WR_SHMPIPE)
		open_pipe(&rd.pipe, writers_name,
			  SHMPIPE_READ | SHMPIPE_EXCLUSIVE);

	alarm(RUN_DEADLINE);
	char byte[MAX_WRITERS];
	for (int k = 0; k < c->writers; k++) /* wait until all are attached */
		if (read(ready[0], byte, 1) != 1) {
			dgram_remove();
			wr_fail(c, "a writer died before the start", ECHILD);
		}
	close(ready[0]);
	shmpipe_unlink(writers_name);
	dgram_remove();

	double t0 = bench_now();
	close(go[1]);
	wr_receive(&rd, total);
	double t1 = bench_now();

	close(done[1]); /* the writers may close and exit now */
	for (int k = 0; k < c->writers; k++)
		bench_wait_ok(pid[k], "writer process");
	alarm(0);
	for (int k = 0; k < c->writers; k++)
		if (rd.next[k] != rd.per_writer)
			wr_fail(c, "a writer's records are missing", EBADMSG);
	/* Nothing more may come: end of file (every writer has closed and
	 * exited), or no datagram left. */
	int more;
	if (c->kind == WR_SHMPIPE)
		more = shmpipe_read(rd.pipe, byte, 1, 0) != 0;
	else if (c->kind == WR_PIPE)
		more = read(rd.fd, byte, 1) != 0;
	else
		more = recv(rd.fd, byte, 1, MSG_DONTWAIT) >= 0 ||
		       errno != EAGAIN;
	if (more)
		wr_fail(c, "more data than the writers sent", EBADMSG);
	shmpipe_close(rd.pipe);
	if (rd.fd >= 0)
		close(rd.fd);
	out[0] = (double)total / (t1 - t0) / 1e6;
}

static void run_writers(void)
{
	static const int counts[] = { 1, 2, 4, 8 };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int w = counts[i];
		struct wr_case cases[WR_COUNT] = {
			{ WR_SHMPIPE, w },
			{ WR_PIPE, w },
			{ WR_DGRAM, w },
		};
		struct bench_entry e[WR_COUNT] = {
			{ .transport = "shmpipe",
			  .label = "shmpipe stream 8 MiB" },
			{ .transport = "pipe",
			  .label = "kernel pipe (shared, 64 KiB)" },
			{ .transport = "unix-dgram",
			  .label = "AF_UNIX datagram socket" },
		};
		for (int k = 0; k < WR_COUNT; k++)
			e[k].run = wr_run, e[k].arg = &cases[k];
		char title[160];
		snprintf(title, sizeof(title),
			 "%d writer process%s -> 1 reader, 512-byte records, "
			 "%llu per run",
			 w, w > 1 ? "es" : "",
			 (unsigned long long)(records_per_run / (uint64_t)w *
					      (uint64_t)w));
		struct bench_table t = {
			.title = title,
			.csv_case = "writers",
			.param = (uint64_t)w,
			.nmetrics = 1,
			.metrics = { "mmsgs" },
			.unit = "M records/s",
			.higher_better = 1,
			.baseline = WR_PIPE,
		};
		bench_cell(&t, e, WR_COUNT);
	}
}

/* ================================================================ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lat_bench [--runs N] [--quick] [--pin] [--csv FILE]\n"
		"                 [--case latency|writers|all]\n"
		"  latency  64-byte ping-pong round trips: shmpipe\n"
		"           (sleeping, and with a 100 us spin), pipe pair\n"
		"           (baseline), socketpair, TCP loopback, POSIX mq,\n"
		"           eventfd\n"
		"  writers  1, 2, 4, 8 writer processes -> one reader,\n"
		"           512-byte records: shmpipe stream, pipe\n"
		"           (baseline), AF_UNIX datagrams\n"
		"  --runs N    runs per cell, contenders alternating\n"
		"              (default 5)\n"
		"  --quick     5000 trips, 20000 records per run (default\n"
		"              20000 trips, 50000 records)\n"
		"  --pin       latency: CPUs 0 and 1; writers: reader on\n"
		"              CPU 0, writers on 1, 0, 1, ... (default:\n"
		"              unpinned)\n"
		"  --csv FILE  append rows case,transport,param,\n"
		"              placement,run,metric,value,note\n");
}

int main(int argc, char **argv)
{
	argc = bench_parse_common(argc, argv);
	const char *which = "all";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--case") && i + 1 < argc) {
			which = argv[++i];
		} else if (!strcmp(argv[i], "--help") ||
			   !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	int latency = !strcmp(which, "latency") || !strcmp(which, "all");
	int writers = !strcmp(which, "writers") || !strcmp(which, "all");
	if (!latency && !writers) {
		usage(stderr);
		return 2;
	}

	main_pid = getpid();
	snprintf(ping_name, sizeof(ping_name), "bench-%ld-ping",
		 (long)main_pid);
	snprintf(pong_name, sizeof(pong_name), "bench-%ld-pong",
		 (long)main_pid);
	snprintf(writers_name, sizeof(writers_name), "bench-%ld-w",
		 (long)main_pid);
	bench_cleanup_pipe(ping_name);
	bench_cleanup_pipe(pong_name);
	bench_cleanup_pipe(writers_name);
	install_handlers();

	trips = bench_quick ? 5000 : 20000;
	records_per_run = bench_quick ? 20000 : 50000;
	if (latency)
		run_latency();
	if (writers)
		run_writers();
	return 0;
}
