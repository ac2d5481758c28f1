/* SPDX-License-Identifier: MIT */
/*
 * pipe_bench.c - the buffered pipe against a kernel pipe, side by side in
 * one run: throughput of 64 KiB writes, rate of 64-byte messages, and the
 * round-trip latency of a 64-byte ping-pong. Writer and reader are separate
 * processes. The transports alternate run by run (A B A B ...) so that
 * drift on a noisy machine hits both; each cell is the median of RUNS runs
 * (min-max shown), and every run checks the bytes it received.
 *
 *   pipe_bench [--runs N] [--quick] [--pin]
 * --pin puts the two processes on CPUs 0 and 1 (default: unpinned, what
 * users get). Uses only the public API.
 */
#define _GNU_SOURCE
#include "shmpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int runs = 5, quick, pin;
static char pipe_name[64], pipe_name2[64];

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, long r)
{
	fprintf(stderr, "pipe_bench: %s: %s\n", what,
		r < 0 ? shmpipe_strerror((int)r) : strerror(errno));
	shmpipe_unlink(pipe_name);
	shmpipe_unlink(pipe_name2);
	exit(1);
}

static void place(int cpu)
{
	if (!pin)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void make_pipe(const char *name, size_t cap, unsigned kind)
{
	struct shmpipe_config c = { .capacity = cap, .kind = kind,
				    .flags = SHMPIPE_REPLACE };
	int r = shmpipe_create(name, &c);
	if (r < 0)
		die("create", r);
}

static void wait_child(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("writer process failed", 0);
}

/* --------------------------------------------------------- throughput */

static unsigned char block[1 << 16];

/* Both readers take at most this much per call: the size of the writes,
 * so each side moves 64 KiB units and the reader's buffer stays in cache. */
#ifndef READ_SIZE
#define READ_SIZE (1 << 16)
#endif

/* Check that @n received bytes at stream offset @pos repeat block[]. */
static int check_stream(const unsigned char *p, size_t n, uint64_t pos)
{
	while (n) {
		size_t off = pos % sizeof(block), k = sizeof(block) - off;
		if (k > n)
			k = n;
		if (memcmp(p, block + off, k))
			return -1;
		p += k;
		n -= k;
		pos += k;
	}
	return 0;
}

/* GB/s of @total bytes in @wsize writes through a shmpipe stream pipe,
 * read with peek/release (zero-copy) or, with @copy, shmpipe_read into a
 * buffer as a kernel pipe reader must. */
static double tput_shm(size_t wsize, uint64_t total, unsigned flags, int copy)
{
	make_pipe(pipe_name, 8u << 20, SHMPIPE_STREAM);
	pid_t pid = fork();
	if (pid == 0) {
		place(1);
		shmpipe *w;
		int r = shmpipe_open(&w, pipe_name, SHMPIPE_WRITE | flags);
		if (r < 0)
			die("open writer", r);
		for (uint64_t done = 0; done < total; done += wsize)
			if (shmpipe_write(w, block, wsize, -1) != (ssize_t)wsize)
				_exit(1);
		shmpipe_close(w);
		_exit(0);
	}
	place(0);
	shmpipe *rd;
	int r = shmpipe_open(&rd, pipe_name, SHMPIPE_READ | flags);
	if (r < 0)
		die("open reader", r);
	double t0 = now();
	uint64_t got = 0;
	static unsigned char buf[READ_SIZE];
	while (copy) {
		ssize_t n = shmpipe_read(rd, buf, sizeof(buf), -1);
		if (n < 0)
			die("read", n);
		if (n == 0)
			break;
		if (check_stream(buf, (size_t)n, got) < 0)
			die("received bytes differ from those sent", 0);
		got += (uint64_t)n;
	}
	/* zero-copy read: check the bytes where they lie, then release */
	while (!copy) {
		const void *p;
		ssize_t n = shmpipe_peek(rd, &p, -1);
		if (n < 0)
			die("peek", n);
		if (n == 0)
			break;
		if (check_stream(p, (size_t)n, got) < 0)
			die("received bytes differ from those sent", 0);
		shmpipe_release(rd, (size_t)n);
		got += (uint64_t)n;
	}
	double dt = now() - t0;
	shmpipe_close(rd);
	wait_child(pid);
	shmpipe_unlink(pipe_name);
	if (got != total)
		die("short transfer", 0);
	return (double)total / dt / 1e9;
}

static double tput_kernel(size_t wsize, uint64_t total, int pipe_size)
{
	int fd[2];
	if (pipe(fd) < 0)
		die("pipe", 0);
	if (pipe_size && fcntl(fd[1], F_SETPIPE_SZ, pipe_size) < 0)
		die("F_SETPIPE_SZ", 0);
	pid_t pid = fork();
	if (pid == 0) {
		place(1);
		close(fd[0]);
		for (uint64_t done = 0; done < total;) {
			ssize_t n = write(fd[1], block, wsize);
			if (n <= 0)
				_exit(1);
			done += (uint64_t)n;
		}
		_exit(0);
	}
	place(0);
	close(fd[1]);
	static unsigned char buf[READ_SIZE];
	double t0 = now();
	uint64_t got = 0;
	ssize_t n;
	while ((n = read(fd[0], buf, sizeof(buf))) > 0) {
		if (check_stream(buf, (size_t)n, got) < 0)
			die("received bytes differ from those sent", 0);
		got += (uint64_t)n;
	}
	double dt = now() - t0;
	close(fd[0]);
	wait_child(pid);
	if (got != total)
		die("short transfer", 0);
	return (double)total / dt / 1e9;
}

/* ----------------------------------------------------------- messages */

/* Millions of 64-byte messages per second; each carries its number. */
static double msgs_shm(uint64_t count, unsigned flags)
{
	make_pipe(pipe_name, 8u << 20, SHMPIPE_MESSAGE);
	pid_t pid = fork();
	if (pid == 0) {
		place(1);
		shmpipe *w;
		int r = shmpipe_open(&w, pipe_name, SHMPIPE_WRITE | flags);
		if (r < 0)
			die("open writer", r);
		uint64_t msg[8] = { 0 };
		for (uint64_t i = 0; i < count; i++) {
			msg[0] = i;
			if (shmpipe_write(w, msg, sizeof(msg), -1) != 64)
				_exit(1);
		}
		shmpipe_close(w);
		_exit(0);
	}
	place(0);
	shmpipe *rd;
	int r = shmpipe_open(&rd, pipe_name, SHMPIPE_READ | flags);
	if (r < 0)
		die("open reader", r);
	uint64_t msg[8], i = 0;
	double t0 = now();
	ssize_t n;
	while ((n = shmpipe_read(rd, msg, sizeof(msg), -1)) > 0) {
		if (n != 64 || msg[0] != i)
			die("message out of order or torn", 0);
		i++;
	}
	double dt = now() - t0;
	shmpipe_close(rd);
	wait_child(pid);
	shmpipe_unlink(pipe_name);
	if (i != count)
		die("messages lost", 0);
	return (double)count / dt / 1e6;
}

static double msgs_kernel(uint64_t count)
{
	int fd[2];
	if (pipe(fd) < 0)
		die("pipe", 0);
	pid_t pid = fork();
	if (pid == 0) {
		place(1);
		close(fd[0]);
		uint64_t msg[8] = { 0 };
		for (uint64_t i = 0; i < count; i++) {
			msg[0] = i;
			if (write(fd[1], msg, sizeof(msg)) != 64)
				_exit(1);
		}
		_exit(0);
	}
	place(0);
	close(fd[1]);
	uint64_t msg[8], i = 0;
	double t0 = now();
	ssize_t n;
	/* one read per message: a pipe keeps no boundaries, but 64-byte
	 * writes are atomic and whole 64-byte reads get exactly one */
	while ((n = read(fd[0], msg, sizeof(msg))) > 0) {
		if (n != 64 || msg[0] != i)
			die("message out of order or torn", 0);
		i++;
	}
	double dt = now() - t0;
	close(fd[0]);
	wait_child(pid);
	if (i != count)
		die("messages lost", 0);
	return (double)count / dt / 1e6;
}

/* ----------------------------------------------------------- latency */

/* Round trip of a 64-byte message, median in microseconds. */
static double pingpong_shm(int iters, unsigned spin_us)
{
	make_pipe(pipe_name, 1u << 16, SHMPIPE_MESSAGE);
	make_pipe(pipe_name2, 1u << 16, SHMPIPE_MESSAGE);
	unsigned ex = SHMPIPE_EXCLUSIVE;
	pid_t pid = fork();
	if (pid == 0) { /* echo: read ping, write pong */
		place(1);
		shmpipe *in, *out;
		if (shmpipe_open(&in, pipe_name, SHMPIPE_READ | ex) < 0 ||
		    shmpipe_open(&out, pipe_name2, SHMPIPE_WRITE | ex) < 0)
			_exit(1);
		shmpipe_set_spin(in, spin_us);
		uint64_t msg[8];
		ssize_t n;
		while ((n = shmpipe_read(in, msg, sizeof(msg), -1)) > 0)
			if (shmpipe_write(out, msg, (size_t)n, -1) != n)
				_exit(1);
		shmpipe_close(out);
		shmpipe_close(in);
		_exit(0);
	}
	place(0);
	shmpipe *out = NULL, *in = NULL;
	int r = shmpipe_open(&out, pipe_name, SHMPIPE_WRITE | ex);
	if (r < 0 || (r = shmpipe_open(&in, pipe_name2, SHMPIPE_READ | ex)) < 0)
		die("open", r);
	shmpipe_set_spin(in, spin_us);
	double *rtt = malloc(sizeof(double) * (size_t)iters);
	uint64_t msg[8] = { 0 };
	for (int i = 0; i < iters; i++) {
		msg[0] = (uint64_t)i;
		double t0 = now();
		if (shmpipe_write(out, msg, 64, -1) != 64 ||
		    shmpipe_read(in, msg, 64, -1) != 64 || msg[0] != (uint64_t)i)
			die("ping-pong", 0);
		rtt[i] = (now() - t0) * 1e6;
	}
	shmpipe_close(out);
	shmpipe_close(in);
	wait_child(pid);
	shmpipe_unlink(pipe_name);
	shmpipe_unlink(pipe_name2);
	double m = median(rtt, iters);
	free(rtt);
	return m;
}

static double pingpong_kernel(int iters)
{
	int a[2], b[2];
	if (pipe(a) < 0 || pipe(b) < 0)
		die("pipe", 0);
	pid_t pid = fork();
	if (pid == 0) {
		place(1);
		close(a[1]);
		close(b[0]);
		uint64_t msg[8];
		ssize_t n;
		while ((n = read(a[0], msg, 64)) > 0)
			if (write(b[1], msg, (size_t)n) != n)
				_exit(1);
		_exit(0);
	}
	place(0);
	close(a[0]);
	close(b[1]);
	double *rtt = malloc(sizeof(double) * (size_t)iters);
	uint64_t msg[8] = { 0 };
	for (int i = 0; i < iters; i++) {
		msg[0] = (uint64_t)i;
		double t0 = now();
		if (write(a[1], msg, 64) != 64 || read(b[0], msg, 64) != 64 ||
		    msg[0] != (uint64_t)i)
			die("ping-pong", 0);
		rtt[i] = (now() - t0) * 1e6;
	}
	close(a[1]);
	close(b[0]);
	wait_child(pid);
	double m = median(rtt, iters);
	free(rtt);
	return m;
}

/* --------------------------------------------------------------- driver */

#define MAX_RUNS 64
#define MAX_CONTENDERS 4

struct contender {
	const char *label;
	double (*run)(int which);
	double v[MAX_RUNS];
};

static uint64_t tput_total, msg_count;
static int pp_iters;

static double c_tput_shm(int w) { (void)w; return tput_shm(1 << 16, tput_total, 0, 1); }
static double c_tput_shm_x(int w) { (void)w; return tput_shm(1 << 16, tput_total, SHMPIPE_EXCLUSIVE, 1); }
static double c_tput_shm_zc(int w) { (void)w; return tput_shm(1 << 16, tput_total, 0, 0); }
static double c_tput_pipe(int w) { (void)w; return tput_kernel(1 << 16, tput_total, 1 << 20); }
static double c_msgs_shm(int w) { (void)w; return msgs_shm(msg_count, 0); }
static double c_msgs_shm_x(int w) { (void)w; return msgs_shm(msg_count, SHMPIPE_EXCLUSIVE); }
static double c_msgs_pipe(int w) { (void)w; return msgs_kernel(msg_count); }
static double c_pp_shm(int w) { (void)w; return pingpong_shm(pp_iters, 0); }
static double c_pp_shm_spin(int w) { (void)w; return pingpong_shm(pp_iters, 100); }
static double c_pp_pipe(int w) { (void)w; return pingpong_kernel(pp_iters); }

/* Run every contender @runs times, alternating, and print the table.
 * @higher_better: GB/s, msgs/s (ratio = x / baseline) or latency
 * (ratio = baseline / x), the baseline being the last contender. */
static void compare(const char *title, const char *unit,
		    struct contender *c, int n, int higher_better)
{
	for (int r = 0; r < runs; r++)
		for (int i = 0; i < n; i++)
			c[i].v[r] = c[i].run(r);
	printf("\n%s (%s, %d runs, %s)\n", title, unit, runs,
	       pin ? "pinned to CPUs 0 and 1" : "unpinned");
	double base = median(c[n - 1].v, runs);
	for (int i = 0; i < n; i++) {
		double m = median(c[i].v, runs);
		printf("  %-34s median %9.3f  min %9.3f  max %9.3f  x%.2f\n",
		       c[i].label, m, c[i].v[0], c[i].v[runs - 1],
		       higher_better ? m / base : base / m);
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--pin"))
			pin = 1;
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: pipe_bench [--runs N] [--quick] [--pin]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS)
		runs = 5;
	snprintf(pipe_name, sizeof(pipe_name), "bench-%ld-a", (long)getpid());
	snprintf(pipe_name2, sizeof(pipe_name2), "bench-%ld-b", (long)getpid());
	srand(1);
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (unsigned char)rand();
	tput_total = quick ? 1ull << 30 : 4ull << 30;
	msg_count = quick ? 1000000 : 4000000;
	pp_iters = quick ? 20000 : 100000;

	struct contender t[] = {
		{ "shmpipe stream 8 MiB, read()", c_tput_shm, { 0 } },
		{ "shmpipe ... exclusive, read()", c_tput_shm_x, { 0 } },
		{ "shmpipe ... peek/release", c_tput_shm_zc, { 0 } },
		{ "kernel pipe, F_SETPIPE_SZ 1 MiB", c_tput_pipe, { 0 } },
	};
	compare("Throughput, 64 KiB writes, one writer and one reader process",
		"GB/s, higher is better", t, 4, 1);
	struct contender m[] = {
		{ "shmpipe message pipe", c_msgs_shm, { 0 } },
		{ "shmpipe message pipe, exclusive", c_msgs_shm_x, { 0 } },
		{ "kernel pipe, one write per message", c_msgs_pipe, { 0 } },
	};
	compare("Message rate, 64-byte messages", "M msgs/s, higher is better",
		m, 3, 1);
	struct contender l[] = {
		{ "shmpipe, sleeping", c_pp_shm, { 0 } },
		{ "shmpipe, spin budget 100 us", c_pp_shm_spin, { 0 } },
		{ "kernel pipe pair", c_pp_pipe, { 0 } },
	};
	compare("Round trip, 64-byte ping-pong over two pipes",
		"median us per run, lower is better; ratio = pipe / x", l, 3, 0);
	return 0;
}
