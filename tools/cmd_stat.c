/* SPDX-License-Identifier: MIT */
/*
 * cmd_stat.c - `shmpipe stat` and `shmpipe ls`.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_name(unsigned kind)
{
	return kind == SHMPIPE_MESSAGE ? "message" : "stream";
}

/* "live", "idle" (nobody attached), or "dead" (attached, all dead). */
static const char *pipe_state(const struct shmpipe_stats *st)
{
	if (st->nprocs == 0)
		return "idle";
	return st->readers + st->writers ? "live" : "dead";
}

static void print_json(const char *name, const struct shmpipe_stats *st)
{
	printf("{\"name\":");
	cli_json_string(stdout, name);
	printf(",\"kind\":\"%s\",\"capacity\":%" PRIu64
	       ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
	       ",\"bytes_buffered\":%" PRIu64 ",\"messages_in\":%" PRIu64
	       ",\"messages_out\":%" PRIu64 ",\"messages_buffered\":%" PRIu64
	       ",\"fill\":%" PRIu64 ",\"high_water\":%" PRIu64
	       ",\"writers\":%u,\"readers\":%u,\"writers_ever\":%s"
	       ",\"writer_lock_holder\":%d,\"reader_lock_holder\":%d"
	       ",\"state\":\"%s\",\"bridge_pid\":%d,\"bridge\":{\"accepted\":%" PRIu64
	       ",\"refused\":%" PRIu64 ",\"active\":%" PRIu64 ",\"units\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"partial_discarded\":%" PRIu64
	       ",\"token_failures\":%" PRIu64 ",\"oversize\":%" PRIu64
	       "},\"procs\":[",
	       kind_name(st->kind), st->capacity, st->bytes_in, st->bytes_out,
	       st->bytes_buffered, st->messages_in, st->messages_out,
	       st->messages_buffered, st->fill, st->high_water, st->writers,
	       st->readers,
	       st->writers_ever ? "true" : "false", (int)st->writer_lock_holder,
	       (int)st->reader_lock_holder, pipe_state(st), (int)st->bridge_pid,
	       st->bridge.accepted, st->bridge.refused, st->bridge.active,
	       st->bridge.units, st->bridge.bytes, st->bridge.partial_discarded,
	       st->bridge.token_failures, st->bridge.oversize);
	for (unsigned i = 0; i < st->nprocs; i++)
		printf("%s{\"pid\":%d,\"role\":\"%s\",\"alive\":%s}",
		       i ? "," : "", (int)st->procs[i].pid,
		       st->procs[i].role == SHMPIPE_WRITE ? "writer" : "reader",
		       st->procs[i].alive ? "true" : "false");
	printf("]}");
}

static void print_procs(const struct shmpipe_stats *st, unsigned role)
{
	for (unsigned i = 0; i < st->nprocs; i++)
		if (st->procs[i].role == role)
			printf(" %d%s", (int)st->procs[i].pid,
			       st->procs[i].alive ? "" : " (dead)");
}

/* "held by PID (dead: the next locker takes it over)" and its NUL */
#define HOLDER_TEXT 64

static const char *holder(const struct shmpipe_stats *st, pid_t pid,
			  char buf[HOLDER_TEXT])
{
	if (!pid)
		return "free";
	int dead = 0;
	for (unsigned i = 0; i < st->nprocs; i++)
		dead |= st->procs[i].pid == pid && !st->procs[i].alive;
	snprintf(buf, HOLDER_TEXT, "held by %d%s", (int)pid,
		 dead ? " (dead: the next locker takes it over)" : "");
	return buf;
}

static void print_human(const char *name, const struct shmpipe_stats *st)
{
	char a[32], b[32];
	double pct = st->capacity ? 100.0 * (double)st->fill /
					    (double)st->capacity
				  : 0;
	printf("pipe %s: %s, capacity %" PRIu64 " (%s), %s\n", name,
	       kind_name(st->kind), st->capacity,
	       cli_human_size(st->capacity, a), pipe_state(st));
	printf("  buffered   %" PRIu64 " bytes", st->bytes_buffered);
	if (st->kind == SHMPIPE_MESSAGE)
		printf(" in %" PRIu64 " messages", st->messages_buffered);
	printf(" (%.1f%% full); high water %s\n", pct,
	       cli_human_size(st->high_water, b));
	printf("  in         %" PRIu64 " bytes, %" PRIu64 " messages\n",
	       st->bytes_in, st->messages_in);
	printf("  out        %" PRIu64 " bytes, %" PRIu64 " messages\n",
	       st->bytes_out, st->messages_out);
	printf("  writers    %u:", st->writers);
	print_procs(st, SHMPIPE_WRITE);
	printf("%s\n", st->writers_ever ? "" : " (no writer has opened it yet)");
	printf("  readers    %u:", st->readers);
	print_procs(st, SHMPIPE_READ);
	char h1[HOLDER_TEXT], h2[HOLDER_TEXT];
	printf("\n  locks      writer %s, reader %s\n",
	       holder(st, st->writer_lock_holder, h1),
	       holder(st, st->reader_lock_holder, h2));
	if (st->bridge_pid) {
		const struct shmpipe_bridge_stats *bs = &st->bridge;
		printf("  bridge     pid %d: %" PRIu64 " connections active, %" PRIu64
		       " accepted, %" PRIu64 " refused; %" PRIu64
		       " units, %" PRIu64 " bytes; %" PRIu64
		       " partial units discarded, %" PRIu64
		       " token failures, %" PRIu64 " oversize\n",
		       (int)st->bridge_pid, bs->active, bs->accepted, bs->refused,
		       bs->units, bs->bytes, bs->partial_discarded,
		       bs->token_failures, bs->oversize);
	}
}

static int parse_json_flag(const char *cmd, int argc, char **argv, int *json,
			   const char *help)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	*json = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j') {
			*json = 1;
		} else if (c == 'h') {
			fputs(help, stdout);
			return -1;
		} else {
			return cli_usage_error(cmd, "bad option");
		}
	}
	return 0;
}

int cmd_stat(int argc, char **argv)
{
	int json;
	int r = parse_json_flag(
		"stat", argc, argv, &json,
		"Usage: shmpipe stat NAME [--json]\n"
		"Show the pipe NAME: kind, capacity, bytes and messages in, out and\n"
		"buffered, high-water mark, attached writers and readers (pids, dead\n"
		"ones marked) and who holds its locks. Takes no lock, attaches nothing.\n\n"
		"  -j, --json  one JSON object\n"
		"  -h, --help  show this help\n");
	if (r)
		return r < 0 ? EXIT_OK : r;
	if (optind != argc - 1)
		return cli_usage_error("stat", "expected one pipe NAME");
	const char *name = argv[optind];
	struct shmpipe_stats st;
	r = shmpipe_stat(name, &st);
	if (r < 0) {
		cli_pipe_error(r, "stat", name);
		return EXIT_ERROR;
	}
	if (json) {
		print_json(name, &st);
		putchar('\n');
	} else {
		print_human(name, &st);
	}
	return EXIT_OK;
}

struct ls_ctx {
	int json;
	unsigned count;
	char **names;
	size_t n, cap;
};

static int collect(const char *name, void *arg)
{
	struct ls_ctx *c = arg;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 32;
		char **nn = realloc(c->names, ncap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		c->names = nn;
		c->cap = ncap;
	}
	c->names[c->n] = strdup(name);
	return c->names[c->n++] ? 0 : -ENOMEM;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ls_one(struct ls_ctx *c, const char *name)
{
	struct shmpipe_stats st;
	int r = shmpipe_stat(name, &st);
	if (r == -EPROTO || r == -ENOENT)
		return; /* another kind of object, or gone meanwhile */
	if (c->json) {
		printf("%s", c->count++ ? "," : "");
		if (r < 0) {
			printf("{\"name\":");
			cli_json_string(stdout, name);
			printf(",\"error\":\"%s\"}", shmpipe_errname(r));
		} else {
			print_json(name, &st);
		}
		return;
	}
	c->count++;
	if (r < 0) {
		printf("%-24s %-8s %s\n", name, "?", shmpipe_strerror(r));
		return;
	}
	char cap[32], buf[32];
	printf("%-24s %-8s %10s %10s %3u %3u  %s\n", name, kind_name(st.kind),
	       cli_human_size(st.capacity, cap),
	       cli_human_size(st.bytes_buffered, buf), st.writers, st.readers,
	       pipe_state(&st));
}

int cmd_ls(int argc, char **argv)
{
	struct ls_ctx c = { 0 };
	int r = parse_json_flag(
		"ls", argc, argv, &c.json,
		"Usage: shmpipe ls [--json]\n"
		"List the pipes in /dev/shm: name, kind, capacity, bytes buffered,\n"
		"live writers (W) and readers (R), and a state: live, idle (nobody\n"
		"attached) or dead (attached processes that have all died: left by\n"
		"crashed programs; `shmpipe rm` removes it).\n\n"
		"  -j, --json  a JSON array\n"
		"  -h, --help  show this help\n");
	if (r)
		return r < 0 ? EXIT_OK : r;
	if (optind != argc)
		return cli_usage_error("ls", "takes no NAME");
	r = shmpipe_list(collect, &c);
	if (r < 0) {
		cli_error(r, "ls: /dev/shm");
		return EXIT_ERROR;
	}
	qsort(c.names, c.n, sizeof(*c.names), by_name);
	if (c.json)
		printf("[");
	else
		printf("%-24s %-8s %10s %10s %3s %3s  %s\n", "NAME", "KIND",
		       "CAPACITY", "BUFFERED", "W", "R", "STATE");
	for (size_t i = 0; i < c.n; i++) {
		ls_one(&c, c.names[i]);
		free(c.names[i]);
	}
	free(c.names);
	if (c.json)
		printf("]\n");
	return EXIT_OK;
}
