/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what the benchmark programs share: the clock, CPU placement,
 * cleanup on failure, and the side-by-side runner.
 *
 * The runner measures a set of contenders ("entries") for one cell of a
 * table: run 1 of every entry, then run 2 of every entry, and so on
 * (A B C A B C ...), so drift on a noisy machine hits all of them alike.
 * It prints a table (median, min-max, ratio against a baseline entry) and
 * appends one CSV row per run and metric to the file given with
 * bench_csv_open():
 *   case,transport,param,placement,run,metric,value,note
 * bench/report.py turns those rows into BENCHMARKS.md and the plots.
 */
#ifndef SHMPIPE_BENCH_H
#define SHMPIPE_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define BENCH_MAX_RUNS 32
#define BENCH_MAX_METRICS 6

/* Set by bench_parse_common(): --runs N, --quick, --pin, --csv FILE. */
extern int bench_runs, bench_quick, bench_pinned;

/* Parses the options every bench takes and removes them from argv; the
 * rest is left for the program. Returns the new argc. */
int bench_parse_common(int argc, char **argv);

double bench_now(void);
/* With --pin, puts the calling process on CPU @cpu (mod the CPU count);
 * otherwise does nothing: unpinned is what users get. */
void bench_place(int cpu);
/* "pinned" or "unpinned", for titles and the CSV. */
const char *bench_placement(void);

/* Names removed when the bench dies or is interrupted (up to 8). */
void bench_cleanup_pipe(const char *name);
/* Prints "PROG: WHAT: cause" (@r < 0: shmpipe_strerror(r); else errno).
 * In the main process it ends the children bench_fork() made, removes the
 * registered pipes and exit(1)s (so atexit handlers run); in a child it
 * _exit(1)s. Used on every failed check: a broken run prints no figure. */
void bench_die(const char *what, long r) __attribute__((noreturn));
/* fork(), remembering the child so bench_die() and SIGINT/SIGTERM end
 * it; dies on failure. The bench stays in the caller's process group, so
 * Ctrl-C reaches it. */
pid_t bench_fork(void);
/* Waits for @pid; dies unless it exited 0. */
void bench_wait_ok(pid_t pid, const char *who);

/* One contender in a cell. @run measures once and stores one value per
 * metric of the table in @out (it dies if the data was wrong). @skip,
 * when set, says why the cell is impossible (e.g. a size above the mq
 * limit): it is printed and written instead of figures. */
struct bench_entry {
	const char *transport; /* CSV name, e.g. "shmpipe", "pipe-1m" */
	const char *label;     /* table label */
	void (*run)(const void *arg, double *out);
	const void *arg;
	const char *skip;
	double v[BENCH_MAX_RUNS][BENCH_MAX_METRICS]; /* filled by bench_cell */
};

struct bench_table {
	const char *title;   /* printed above the rows */
	const char *csv_case; /* "throughput", "latency", ... */
	uint64_t param;      /* write size, message size, writers, capacity */
	int nmetrics;
	const char *metrics[BENCH_MAX_METRICS]; /* CSV names, e.g. "gbps" */
	const char *unit;    /* of the first metric, for the table */
	int higher_better;   /* of the first metric: decides the ratio */
	int baseline;        /* index of the entry the ratios are against */
};

/* Runs the cell (bench_runs rounds, alternating), prints the table and
 * writes the CSV rows. */
void bench_cell(const struct bench_table *t, struct bench_entry *e, int n);

int bench_csv_open(const char *path);
/* One CSV row outside a table (placement from --pin; @value NAN: empty). */
void bench_csv_row(const char *csv_case, const char *transport,
		   uint64_t param, int run, const char *metric, double value,
		   const char *note);

/* The median of the first @n values (which it sorts). */
double bench_median(double *v, int n);

/* A repeating pattern of bytes that checks cheaply: byte at stream
 * offset @pos is bench_pattern[pos % BENCH_PATTERN]. */
#define BENCH_PATTERN 65521 /* prime: no write size aligns with it */
extern unsigned char bench_pattern[BENCH_PATTERN + (1 << 20)];
/* 0 when the @n bytes at @p equal the pattern at stream offset @pos. */
int bench_check(const unsigned char *p, size_t n, uint64_t pos);

#endif
