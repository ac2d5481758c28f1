/* SPDX-License-Identifier: MIT */
/*
 * cmd_stat.c - `shmpipe stat` (and `stat --watch`, a live view of pipes)
 * and `shmpipe ls`.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* @extra: more members (",\"rates\":{...}") before "procs", or "". */
static void print_json(const char *name, const struct shmpipe_stats *st,
		       const char *extra)
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
	       ",\"idle_closed\":%" PRIu64 "}%s,\"procs\":[",
	       kind_name(st->kind), st->capacity, st->bytes_in, st->bytes_out,
	       st->bytes_buffered, st->messages_in, st->messages_out,
	       st->messages_buffered, st->fill, st->high_water, st->writers,
	       st->readers,
	       st->writers_ever ? "true" : "false", (int)st->writer_lock_holder,
	       (int)st->reader_lock_holder, pipe_state(st), (int)st->bridge_pid,
	       st->bridge.accepted, st->bridge.refused, st->bridge.active,
	       st->bridge.units, st->bridge.bytes, st->bridge.partial_discarded,
	       st->bridge.token_failures, st->bridge.oversize,
	       st->bridge.idle_closed, extra);
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
		       " token failures, %" PRIu64 " oversize, %" PRIu64
		       " closed idle\n",
		       (int)st->bridge_pid, bs->active, bs->accepted, bs->refused,
		       bs->units, bs->bytes, bs->partial_discarded,
		       bs->token_failures, bs->oversize, bs->idle_closed);
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

/* ------------------------------------------------------------- stat --watch
 *
 * Every interval: a sample of each pipe (named, or all of them), then a
 * view of it. On a terminal the view is redrawn in place on the alternate
 * screen, each line cut to the width (re-read at every redraw, and at once
 * on SIGWINCH); otherwise (or with --json) lines are printed, flushed at
 * each interval. Rates are the changes of the counters between samples.
 *
 * The signals that end or change the view are blocked except inside the
 * ppoll() that waits between samples, so a handler never interrupts a
 * redraw, and a signal arriving just before the wait still wakes it.
 */
enum { RATE_BYTES_IN, RATE_BYTES_OUT, RATE_MSGS_IN, RATE_MSGS_OUT, RATES };

struct watch_pipe {
	char *name;
	int err;      /* of the last shmpipe_stat(); 0: st holds a sample */
	bool sampled; /* st and ns hold an earlier sample */
	bool seen;    /* in this round */
	bool removed; /* gone: shown as "(removed)" this round, then dropped */
	bool rated;   /* rate[] holds the change since the earlier sample */
	uint64_t ns;
	struct shmpipe_stats st;
	double rate[RATES]; /* per second */
};

struct watch {
	char **names; /* the pipes asked for; NULL: all */
	int nnames;
	int interval_ms;
	bool tty, json;
	struct watch_pipe *pipes;
	size_t n, cap;
	struct timespec when; /* wall clock time of the last round */
	bool clear;	      /* clear the whole screen before the next frame */
};

static volatile sig_atomic_t watch_quit;    /* the signal that ends it */
static volatile sig_atomic_t watch_resized; /* SIGWINCH */
static volatile sig_atomic_t watch_suspend; /* SIGTSTP */

static void watch_on_signal(int sig)
{
	if (sig == SIGWINCH)
		watch_resized = 1;
	else if (sig == SIGTSTP)
		watch_suspend = 1;
	else
		watch_quit = sig;
}

static struct watch_pipe *watch_find(struct watch *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->pipes[i].name, name))
			return &w->pipes[i];
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 16;
		struct watch_pipe *np = realloc(w->pipes, ncap * sizeof(*np));
		if (!np)
			return NULL;
		w->pipes = np;
		w->cap = ncap;
	}
	struct watch_pipe *e = &w->pipes[w->n];
	*e = (struct watch_pipe){ .name = strdup(name) };
	if (!e->name)
		return NULL;
	w->n++;
	return e;
}

/* One pipe of this round (a shmpipe_list() callback). */
static int watch_visit(const char *name, void *arg)
{
	struct watch *w = arg;
	struct shmpipe_stats st;
	int r = shmpipe_stat(name, &st);
	uint64_t now = cli_now_ns();
	if (r == -ENOENT || r == -EPROTO || r == -EINVAL || r == -ENAMETOOLONG)
		return 0; /* gone, or no pipe */
	struct watch_pipe *e = watch_find(w, name);
	if (!e)
		return -ENOMEM;
	e->seen = true;
	e->err = r;
	if (r < 0)
		return 0;
	const struct shmpipe_stats *was = &e->st;
	/* a pipe replaced under the same name starts its counters again */
	e->rated = e->sampled && now > e->ns && st.bytes_in >= was->bytes_in &&
		   st.bytes_out >= was->bytes_out &&
		   st.messages_in >= was->messages_in &&
		   st.messages_out >= was->messages_out;
	if (e->rated) {
		double secs = (double)(now - e->ns) / 1e9;
		e->rate[RATE_BYTES_IN] =
			(double)(st.bytes_in - was->bytes_in) / secs;
		e->rate[RATE_BYTES_OUT] =
			(double)(st.bytes_out - was->bytes_out) / secs;
		e->rate[RATE_MSGS_IN] =
			(double)(st.messages_in - was->messages_in) / secs;
		e->rate[RATE_MSGS_OUT] =
			(double)(st.messages_out - was->messages_out) / secs;
	}
	e->st = st;
	e->ns = now;
	e->sampled = true;
	return 0;
}

static int by_pipe_name(const void *a, const void *b)
{
	return strcmp(((const struct watch_pipe *)a)->name,
		      ((const struct watch_pipe *)b)->name);
}

/* A round: drop what was shown removed, sample, mark what went away. */
static int watch_sample(struct watch *w)
{
	size_t kept = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (w->pipes[i].removed) {
			free(w->pipes[i].name);
			continue;
		}
		w->pipes[kept] = w->pipes[i];
		w->pipes[kept++].seen = false;
	}
	w->n = kept;
	clock_gettime(CLOCK_REALTIME, &w->when);
	int r = 0;
	if (w->names)
		for (int i = 0; i < w->nnames && r == 0; i++)
			r = watch_visit(w->names[i], w);
	else
		r = shmpipe_list(watch_visit, w);
	if (r < 0)
		return r;
	for (size_t i = 0; i < w->n; i++)
		w->pipes[i].removed = !w->pipes[i].seen;
	qsort(w->pipes, w->n, sizeof(*w->pipes), by_pipe_name);
	return 0;
}

static const char *count_rate(double per_second, char buf[32])
{
	if (per_second < 10000)
		snprintf(buf, 32, "%.0f/s", per_second);
	else if (per_second < 10000000)
		snprintf(buf, 32, "%.1fk/s", per_second / 1e3);
	else
		snprintf(buf, 32, "%.1fM/s", per_second / 1e6);
	return buf;
}

static double fill_percent(const struct shmpipe_stats *st)
{
	return st->capacity ? 100.0 * (double)st->fill / (double)st->capacity
			    : 0;
}

/* ----------------------------------------------- the view on a terminal */

enum {
	COL_NAME,
	COL_KIND,
	COL_CAPACITY,
	COL_BAR,
	COL_FILL,
	COL_IN,
	COL_OUT,
	COL_MSGS_IN,
	COL_MSGS_OUT,
	COL_PROCS,
	COL_BRIDGE,
	COLS
};
static const char *const col_title[COLS] = {
	"NAME", "KIND",	  "CAPACITY", "",    "FILL",   "IN",
	"OUT",	"MSG IN", "MSG OUT",  "W/R", "BRIDGE",
};
/* usual widths, so that columns do not jump as the numbers change */
static const size_t col_min_width[COLS] = {
	[COL_CAPACITY] = 8, [COL_BAR] = 10, [COL_FILL] = 6,
	[COL_IN] = 10,	    [COL_OUT] = 10, [COL_MSGS_IN] = 7,
	[COL_MSGS_OUT] = 7,
};
static const bool col_left[COLS] = { [COL_NAME] = true,
				     [COL_KIND] = true,
				     [COL_BAR] = true,
				     [COL_BRIDGE] = true };
/* What goes first when the terminal is too narrow; NAME and FILL stay. */
static const int col_drop_order[] = {
	COL_KIND,   COL_CAPACITY, COL_BAR, COL_MSGS_IN,
	COL_BRIDGE, COL_PROCS,	  COL_OUT, COL_IN,
};
#define COL_GAP 2
#define BAR_MAX 22

struct cells {
	char text[COLS][32]; /* all but the name (and the bar, drawn last) */
};

static void watch_cells(const struct watch_pipe *e, struct cells *c)
{
	const struct shmpipe_stats *st = &e->st;
	memset(c, 0, sizeof(*c));
	snprintf(c->text[COL_KIND], 32, "%s", kind_name(st->kind));
	cli_human_size(st->capacity, c->text[COL_CAPACITY]);
	snprintf(c->text[COL_FILL], 32, "%.1f%%", fill_percent(st));
	for (int i = 0; i < 2; i++) {
		char *t = c->text[i ? COL_OUT : COL_IN];
		if (e->rated)
			cli_human_rate(
				e->rate[i ? RATE_BYTES_OUT : RATE_BYTES_IN], t);
		else
			strcpy(t, "-");
		if (st->kind != SHMPIPE_MESSAGE)
			continue;
		t = c->text[i ? COL_MSGS_OUT : COL_MSGS_IN];
		if (e->rated)
			count_rate(e->rate[i ? RATE_MSGS_OUT : RATE_MSGS_IN],
				   t);
		else
			strcpy(t, "-");
	}
	snprintf(c->text[COL_PROCS], 32, "%u/%u", st->writers, st->readers);
	if (st->bridge_pid)
		snprintf(c->text[COL_BRIDGE], 32, "%" PRIu64 " conn%s",
			 st->bridge.active, st->bridge.active == 1 ? "" : "s");
}

/* Append @s to @line (of @size) padded to @width, left or right aligned,
 * cut to @width. */
static void put_cell(char *line, size_t size, const char *s, size_t width,
		     bool left)
{
	size_t len = strlen(line), slen = strlen(s);
	if (slen > width)
		slen = width;
	if (len + width + 1 > size)
		return;
	size_t pad = width - slen;
	if (!left)
		memset(line + len, ' ', pad), len += pad;
	memcpy(line + len, s, slen), len += slen;
	if (left)
		memset(line + len, ' ', pad), len += pad;
	line[len] = '\0';
}

static void emit_line(char *line, size_t room)
{
	/* trailing blanks of a left-aligned last column are not drawn */
	size_t len = cli_term_fit(line, room);
	while (len && line[len - 1] == ' ')
		line[--len] = '\0';
	fputs(line, stdout);
	fputs(CLI_TERM_CLEAR_EOL "\n", stdout);
}

static void watch_draw(struct watch *w)
{
	unsigned cols, rows;
	cli_term_size(1, &cols, &rows);
	size_t room = cols > 1 ? cols - 1 : 1; /* never the last column */
	if (room > 1000)
		room = 1000;
	size_t lines = rows > 1 ? rows - 1 : 1; /* the last line would scroll */
	char line[1024], buf[64], clock[16];

	fputs(w->clear ? CLI_TERM_HOME "\033[2J" : CLI_TERM_HOME, stdout);
	w->clear = false;

	/* the title: what, how often, how many; the time on the right */
	struct tm tm;
	localtime_r(&w->when.tv_sec, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	snprintf(line, sizeof(line),
		 "shmpipe stat --watch: every %gs, %zu pipe%s",
		 w->interval_ms / 1000.0, w->n, w->n == 1 ? "" : "s");
	size_t len = strlen(line);
	if (len + 2 + strlen(clock) <= room)
		snprintf(line + len, sizeof(line) - len, "%*s",
			 (int)(room - len), clock);
	emit_line(line, room);
	if (lines < 2) {
		fputs(CLI_TERM_CLEAR_EOS, stdout);
		return;
	}

	/* which columns fit, and how wide each is */
	size_t width[COLS] = { 0 };
	bool use[COLS] = { 0 }, any_message = false, any_bridge = false;
	for (int c = 0; c < COLS; c++) {
		width[c] = strlen(col_title[c]);
		if (width[c] < col_min_width[c])
			width[c] = col_min_width[c];
	}
	for (size_t i = 0; i < w->n; i++) {
		const struct watch_pipe *e = &w->pipes[i];
		size_t nlen = strlen(e->name);
		if (nlen > width[COL_NAME])
			width[COL_NAME] = nlen;
		if (e->removed || e->err)
			continue;
		struct cells c;
		watch_cells(e, &c);
		for (int k = 0; k < COLS; k++)
			if (strlen(c.text[k]) > width[k])
				width[k] = strlen(c.text[k]);
		any_message |= e->st.kind == SHMPIPE_MESSAGE;
		any_bridge |= e->st.bridge_pid != 0;
	}
	for (int c = 0; c < COLS; c++)
		use[c] = true;
	use[COL_MSGS_IN] = use[COL_MSGS_OUT] = any_message;
	use[COL_BRIDGE] = any_bridge;
	size_t total = 0;
	for (int c = 0; c < COLS; c++)
		total += use[c] ? width[c] + COL_GAP : 0;
	total -= COL_GAP;
	for (size_t d = 0; total > room &&
			   d < sizeof(col_drop_order) / sizeof(*col_drop_order);
	     d++) {
		int c = col_drop_order[d];
		for (int k = c; k <= (c == COL_MSGS_IN ? COL_MSGS_OUT : c);
		     k++) {
			if (use[k])
				total -= width[k] + COL_GAP;
			use[k] = false;
		}
	}
	if (total > room) { /* even NAME and FILL: shorten the names */
		size_t rest = total - width[COL_NAME];
		width[COL_NAME] = room > rest + 4 ? room - rest : 4;
		total = rest + width[COL_NAME];
	}
	if (use[COL_BAR] && total < room) {
		size_t more = room - total;
		size_t most = BAR_MAX - width[COL_BAR];
		width[COL_BAR] += more < most ? more : most;
	}

	/* the header, then a line per pipe while the screen has room */
	line[0] = '\0';
	for (int c = 0; c < COLS; c++) {
		if (!use[c])
			continue;
		if (c != COL_NAME)
			put_cell(line, sizeof(line), "", COL_GAP, true);
		put_cell(line, sizeof(line), col_title[c], width[c],
			 col_left[c]);
	}
	emit_line(line, room);
	size_t shown = w->n;
	if (shown > lines - 2)
		shown = lines > 3 ? lines - 3 : 0; /* and a line "N more" */
	for (size_t i = 0; i < shown; i++) {
		const struct watch_pipe *e = &w->pipes[i];
		line[0] = '\0';
		put_cell(line, sizeof(line), e->name, width[COL_NAME], true);
		if (e->removed || e->err) {
			snprintf(line + strlen(line),
				 sizeof(line) - strlen(line), "  %s",
				 e->removed ? "(removed)"
					    : shmpipe_strerror(e->err));
			emit_line(line, room);
			continue;
		}
		struct cells c;
		watch_cells(e, &c);
		for (int k = 1; k < COLS; k++) {
			if (!use[k])
				continue;
			put_cell(line, sizeof(line), "", COL_GAP, true);
			const char *t = c.text[k];
			if (k == COL_BAR)
				t = cli_term_bar(
					buf,
					width[k] < sizeof(buf) ? width[k] : 0,
					fill_percent(&e->st) / 100);
			put_cell(line, sizeof(line), t, width[k], col_left[k]);
		}
		emit_line(line, room);
	}
	if (shown < w->n && lines > 2) {
		snprintf(line, sizeof(line),
			 "... %zu more (a taller terminal shows them)",
			 w->n - shown);
		emit_line(line, room);
	}
	if (!w->n) {
		snprintf(line, sizeof(line), "(no pipes)");
		emit_line(line, room);
	}
	fputs(CLI_TERM_CLEAR_EOS, stdout);
}

/* -------------------------------------------- the view as lines of text */

static void watch_print_lines(const struct watch *w)
{
	char stamp[48], a[32], b[32];
	struct tm tm;
	localtime_r(&w->when.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ld",
		 w->when.tv_nsec / 1000000);
	for (size_t i = 0; i < w->n; i++) {
		const struct watch_pipe *e = &w->pipes[i];
		const struct shmpipe_stats *st = &e->st;
		printf("%s %s", stamp, e->name);
		if (e->removed || e->err) {
			printf(" %s\n", e->removed ? "(removed)"
						   : shmpipe_strerror(e->err));
			continue;
		}
		printf(" %s capacity %s fill %.1f%%", kind_name(st->kind),
		       cli_human_size(st->capacity, a), fill_percent(st));
		if (e->rated)
			printf(" in %s out %s",
			       cli_human_rate(e->rate[RATE_BYTES_IN], a),
			       cli_human_rate(e->rate[RATE_BYTES_OUT], b));
		else
			printf(" in - out -");
		if (st->kind == SHMPIPE_MESSAGE && e->rated)
			printf(" messages in %s out %s",
			       count_rate(e->rate[RATE_MSGS_IN], a),
			       count_rate(e->rate[RATE_MSGS_OUT], b));
		else if (st->kind == SHMPIPE_MESSAGE)
			printf(" messages in - out -");
		printf(" writers %u readers %u", st->writers, st->readers);
		if (st->bridge_pid)
			printf(" bridge %" PRIu64 " connection%s",
			       st->bridge.active,
			       st->bridge.active == 1 ? "" : "s");
		putchar('\n');
	}
}

/* An object a round: {"time":T,"pipes":[stat --json, "rates"],"removed":[]} */
static void watch_print_json(const struct watch *w)
{
	printf("{\"time\":%lld.%03ld,\"pipes\":[", (long long)w->when.tv_sec,
	       w->when.tv_nsec / 1000000);
	int count = 0;
	for (size_t i = 0; i < w->n; i++) {
		const struct watch_pipe *e = &w->pipes[i];
		if (e->removed)
			continue;
		printf("%s", count++ ? "," : "");
		if (e->err) {
			printf("{\"name\":");
			cli_json_string(stdout, e->name);
			printf(",\"error\":\"%s\"}", shmpipe_errname(e->err));
			continue;
		}
		char rates[256] = ",\"rates\":null";
		if (e->rated)
			snprintf(rates, sizeof(rates),
				 ",\"rates\":{\"bytes_in\":%.1f,"
				 "\"bytes_out\":%.1f,"
				 "\"messages_in\":%.1f,\"messages_out\":%.1f}",
				 e->rate[RATE_BYTES_IN],
				 e->rate[RATE_BYTES_OUT], e->rate[RATE_MSGS_IN],
				 e->rate[RATE_MSGS_OUT]);
		print_json(e->name, &e->st, rates);
	}
	printf("],\"removed\":[");
	count = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (!w->pipes[i].removed)
			continue;
		printf("%s", count++ ? "," : "");
		cli_json_string(stdout, w->pipes[i].name);
	}
	printf("]}\n");
}

static void watch_show(struct watch *w)
{
	if (w->json)
		watch_print_json(w);
	else if (w->tty)
		watch_draw(w);
	else
		watch_print_lines(w);
	fflush(stdout);
}

static void watch_screen(const struct watch *w, bool on)
{
	if (!w->tty || w->json)
		return;
	fputs(on ? CLI_TERM_ALT_SCREEN CLI_TERM_HIDE_CURSOR
		 : CLI_TERM_SHOW_CURSOR CLI_TERM_MAIN_SCREEN,
	      stdout);
	fflush(stdout);
}

/* Ctrl-Z: put the terminal back, stop, and take it again on SIGCONT. */
static void watch_stop_self(struct watch *w, const struct sigaction *sa)
{
	sigset_t tstp;
	sigemptyset(&tstp);
	sigaddset(&tstp, SIGTSTP);
	watch_screen(w, false);
	signal(SIGTSTP, SIG_DFL);
	raise(SIGTSTP);			       /* pending: blocked */
	sigprocmask(SIG_UNBLOCK, &tstp, NULL); /* stops here */
	sigprocmask(SIG_BLOCK, &tstp, NULL);
	sigaction(SIGTSTP, sa, NULL);
	watch_screen(w, true);
	w->clear = true;
}

static int watch_run(struct watch *w)
{
	bool live = w->tty && !w->json; /* redrawn in place */
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP };
	int nsigs = live ? 5 : 3;
	struct sigaction sa = { .sa_handler = watch_on_signal }, old_sa;
	sigset_t block, unblocked;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (int i = 0; i < nsigs; i++) {
		/* a signal ignored by who started us stays ignored */
		sigaction(sigs[i], NULL, &old_sa);
		if (old_sa.sa_handler == SIG_IGN && sigs[i] != SIGWINCH)
			continue;
		sigaddset(&block, sigs[i]);
		sigaction(sigs[i], &sa, NULL);
	}
	sigprocmask(SIG_BLOCK, &block, &unblocked);
	/* a frame in one write: no half-drawn screen */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	w->clear = true;
	watch_screen(w, true);

	int status = EXIT_OK;
	uint64_t step = (uint64_t)w->interval_ms * 1000000u;
	uint64_t next = cli_now_ns();
	while (!watch_quit) {
		int r = watch_sample(w);
		if (r < 0) {
			watch_screen(w, false);
			cli_error(r, "stat --watch");
			status = EXIT_ERROR;
			break;
		}
		watch_show(w);
		if (ferror(stdout)) { /* the terminal or the reader went away */
			status = EXIT_ERROR;
			break;
		}
		uint64_t now = cli_now_ns();
		next += step;
		if (next < now) /* fell behind (stopped, or a slow system) */
			next = now + step;
		while (!watch_quit && (now = cli_now_ns()) < next) {
			struct timespec ts = {
				.tv_sec = (time_t)((next - now) / 1000000000u),
				.tv_nsec = (long)((next - now) % 1000000000u)
			};
			ppoll(NULL, 0, &ts, &unblocked);
			if (watch_suspend) {
				watch_suspend = 0;
				watch_stop_self(w, &sa);
				watch_resized = 1;
			}
			if (watch_resized) {
				watch_resized = 0;
				w->clear = true;
				watch_show(w);
			}
		}
	}
	watch_screen(w, false);
	fflush(stdout);
	sigprocmask(SIG_SETMASK, &unblocked, NULL);
	if (watch_quit == SIGTERM || watch_quit == SIGHUP) {
		/* die of it as without a handler, the terminal restored */
		signal(watch_quit, SIG_DFL);
		raise(watch_quit);
	}
	for (size_t i = 0; i < w->n; i++)
		free(w->pipes[i].name);
	free(w->pipes);
	return status;
}

/* The interval right after --watch, when the next word is a number. */
static bool looks_like_number(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	return (*s >= '0' && *s <= '9') || *s == '.';
}

static const char stat_help[] =
	"Usage: shmpipe stat NAME [--json]\n"
	"       shmpipe stat [NAME]... --watch [SECONDS] [--json]\n"
	"Show the pipe NAME: kind, capacity, bytes and messages in, out and\n"
	"buffered, high-water mark, attached writers and readers (pids, dead\n"
	"ones marked) and who holds its locks. Takes no lock, attaches nothing.\n\n"
	"  -j, --json            one JSON object\n"
	"  -w, --watch [SECONDS] a live view of the pipes NAME (of every pipe\n"
	"                        without a NAME), again every SECONDS (the word\n"
	"                        after --watch, when a number; default 1,\n"
	"                        fractions allowed) until Ctrl-C: a line per pipe\n"
	"                        with its kind, capacity, fill level, bytes (and\n"
	"                        messages) in and out per second since the last\n"
	"                        time, live writers/readers (W/R) and the\n"
	"                        connections of a bridge serving it. A pipe that\n"
	"                        goes shows \"(removed)\" once; new ones appear.\n"
	"                        On a terminal it is redrawn in place, fitted to\n"
	"                        its width; otherwise a line per pipe and time,\n"
	"                        after a timestamp; with --json an object per\n"
	"                        time: {\"time\",\"pipes\":[...],\"removed\":[...]}\n"
	"  -h, --help            show this help\n";

int cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "watch", optional_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct watch w = { .interval_ms = 1000 };
	bool watch = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jw::h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			w.json = true;
			break;
		case 'w': {
			const char *arg = optarg;
			if (!arg && optind < argc && looks_like_number(argv[optind]))
				arg = argv[optind++];
			if (arg && (cli_parse_seconds(arg, &w.interval_ms) < 0 ||
				    w.interval_ms <= 0))
				return cli_usage_error("stat", "bad interval '%s' (seconds, more than 0)",
						       arg);
			watch = true;
			break;
		}
		case 'h':
			fputs(stat_help, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error("stat", "bad option");
		}
	}
	if (watch) {
		w.names = optind < argc ? argv + optind : NULL;
		w.nnames = argc - optind;
		for (int i = 0; i < w.nnames; i++) {
			struct shmpipe_stats st;
			int r = shmpipe_stat(w.names[i], &st);
			if (r < 0) {
				cli_pipe_error(r, "stat", w.names[i]);
				return EXIT_ERROR;
			}
		}
		w.tty = cli_term_is_tty(1);
		return watch_run(&w);
	}
	if (optind != argc - 1)
		return cli_usage_error("stat", "expected one pipe NAME");
	const char *name = argv[optind];
	struct shmpipe_stats st;
	int r = shmpipe_stat(name, &st);
	if (r < 0) {
		cli_pipe_error(r, "stat", name);
		return EXIT_ERROR;
	}
	if (w.json) {
		print_json(name, &st, "");
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
			print_json(name, &st, "");
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
