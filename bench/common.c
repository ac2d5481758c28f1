/* SPDX-License-Identifier: MIT */
/*
 * common.c - the parts every benchmark shares (see bench.h).
 */
#define _GNU_SOURCE
#include "bench.h"
#include "shmpipe.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int bench_runs = 5, bench_quick, bench_pinned;
unsigned char bench_pattern[BENCH_PATTERN + (1 << 20)];

static FILE *csv;
static char cleanup_names[8][64];
static int cleanup_count;
static pid_t main_pid;
static pid_t children[256]; /* what bench_die ends */
static int nchildren;

static void fill_pattern(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < BENCH_PATTERN; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		bench_pattern[i] = (unsigned char)x;
	}
	/* The tail repeats the start, so any offset has 1 MiB in a row. */
	for (size_t i = BENCH_PATTERN; i < sizeof(bench_pattern); i++)
		bench_pattern[i] = bench_pattern[i % BENCH_PATTERN];
}

int bench_check(const unsigned char *p, size_t n, uint64_t pos)
{
	while (n) {
		size_t off = pos % BENCH_PATTERN;
		size_t k = n < (1 << 20) ? n : (1 << 20);
		if (memcmp(p, bench_pattern + off, k))
			return -1;
		p += k, n -= k, pos += k;
	}
	return 0;
}

/* Only pids that are still our unreaped children are signalled: one
 * reaped elsewhere may have been reused by a stranger. */
static void end_children(void)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0 && waitpid(children[i], NULL, WNOHANG) == 0)
			kill(children[i], SIGKILL);
		else
			children[i] = 0;
	while (nchildren)
		if (children[--nchildren] > 0)
			waitpid(children[nchildren], NULL, 0);
}

static void cleanup(void)
{
	if (getpid() != main_pid)
		return;
	for (int i = 0; i < cleanup_count; i++)
		shmpipe_unlink(cleanup_names[i]);
}

static void on_signal(int sig)
{
	if (getpid() == main_pid) {
		end_children();
		cleanup();
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void bench_cleanup_pipe(const char *name)
{
	if (cleanup_count < 8)
		snprintf(cleanup_names[cleanup_count++], sizeof(cleanup_names[0]),
			 "%s", name);
}

void bench_die(const char *what, long r)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
		r < 0 ? shmpipe_strerror((int)r) : strerror(errno));
	if (getpid() != main_pid)
		_exit(1); /* a child: the main process cleans up */
	end_children();
	cleanup();
	exit(1); /* atexit handlers of the bench run too */
}

pid_t bench_fork(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork", 0);
	if (pid > 0 && getpid() == main_pid) {
		/* Reuse the slot of a child already reaped, else append. */
		int i = 0;
		while (i < nchildren && children[i] > 0 &&
		       waitpid(children[i], NULL, WNOHANG) == 0)
			i++;
		if (i == nchildren && nchildren < 256)
			nchildren++;
		if (i < 256)
			children[i] = pid;
	}
	return pid;
}

void bench_wait_ok(pid_t pid, const char *who)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			bench_die("waitpid", 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		errno = ECHILD;
		bench_die(who, 0);
	}
}

double bench_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void bench_place(int cpu)
{
	if (!bench_pinned)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

const char *bench_placement(void)
{
	return bench_pinned ? "pinned" : "unpinned";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_csv_open(const char *path)
{
	csv = fopen(path, "a");
	return csv ? 0 : -errno;
}

int bench_parse_common(int argc, char **argv)
{
	int out = 1;
	main_pid = getpid();
	fill_pattern();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			bench_runs = atoi(argv[++i]);
			if (bench_runs < 1 || bench_runs > BENCH_MAX_RUNS) {
				fprintf(stderr, "--runs: 1 to %d\n", BENCH_MAX_RUNS);
				exit(2);
			}
		} else if (!strcmp(argv[i], "--quick")) {
			bench_quick = 1;
		} else if (!strcmp(argv[i], "--pin")) {
			bench_pinned = 1;
		} else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
			if (bench_csv_open(argv[++i]) < 0) {
				perror(argv[i]);
				exit(2);
			}
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	return out;
}

void bench_csv_row(const char *csv_case, const char *transport,
		   uint64_t param, int run, const char *metric, double value,
		   const char *note)
{
	if (!csv)
		return;
	fprintf(csv, "%s,%s,%llu,%s,%d,%s,", csv_case, transport,
		(unsigned long long)param, bench_placement(), run, metric);
	if (!isnan(value))
		fprintf(csv, "%.6g", value);
	fprintf(csv, ",%s\n", note ? note : "");
	fflush(csv);
}

static void csv_row(const struct bench_table *t, const struct bench_entry *e,
		    int run, const char *metric, double value, const char *note)
{
	bench_csv_row(t->csv_case, e->transport, t->param, run, metric, value,
		      note);
}

void bench_cell(const struct bench_table *t, struct bench_entry *e, int n)
{
	for (int r = 0; r < bench_runs; r++)
		for (int i = 0; i < n; i++)
			if (!e[i].skip)
				e[i].run(e[i].arg, e[i].v[r]);

	double base = NAN;
	double med[n];
	for (int i = 0; i < n; i++) {
		double v[BENCH_MAX_RUNS];
		for (int r = 0; r < bench_runs; r++)
			v[r] = e[i].v[r][0];
		med[i] = e[i].skip ? NAN : bench_median(v, bench_runs);
	}
	if (t->baseline >= 0 && t->baseline < n)
		base = med[t->baseline];

	printf("\n%s (%s, %s%s, %d runs, %s)\n", t->title, t->unit,
	       t->higher_better ? "higher" : "lower", " is better", bench_runs,
	       bench_placement());
	for (int i = 0; i < n; i++) {
		if (e[i].skip) {
			printf("  %-34s impossible: %s\n", e[i].label, e[i].skip);
			csv_row(t, &e[i], 0, "skip", NAN, e[i].skip);
			continue;
		}
		double v[BENCH_MAX_RUNS];
		for (int r = 0; r < bench_runs; r++)
			v[r] = e[i].v[r][0];
		bench_median(v, bench_runs);
		double ratio = t->higher_better ? med[i] / base : base / med[i];
		printf("  %-34s median %10.3f  min %10.3f  max %10.3f", e[i].label,
		       med[i], v[0], v[bench_runs - 1]);
		if (!isnan(ratio))
			printf("  x%.2f", ratio);
		putchar('\n');
		for (int r = 0; r < bench_runs; r++)
			for (int m = 0; m < t->nmetrics; m++)
				csv_row(t, &e[i], r, t->metrics[m], e[i].v[r][m],
					NULL);
	}
	fflush(stdout);
}
