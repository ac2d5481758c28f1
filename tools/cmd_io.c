/* SPDX-License-Identifier: MIT */
/*
 * cmd_io.c - `shmpipe write` (stdin into a pipe) and `shmpipe read` (a pipe
 * to stdout).
 *
 * Units: raw chunks, --lines (newline-terminated lines) or --len32 (frames
 * with a 4-byte big-endian length). Each unit goes into the pipe with one
 * atomic write. In a message pipe the framing becomes the message boundary
 * (a line without its newline, a frame without its length); in a stream
 * pipe the bytes stay as they are (newline and length included), so
 * `read --lines/--len32` finds the same units again.
 *
 * read takes each unit with peek and releases it only after stdout took it
 * (at-least-once), so a reader stopped by a closed stdout or a signal loses
 * nothing.
 *
 * --progress draws a line on stderr while data moves (see "progress").
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum framing { FRAME_RAW, FRAME_LINES, FRAME_LEN32 };

struct io_opts {
	const char *name;
	enum framing framing;
	int timeout_ms; /* -1: none */
	uint64_t count; /* 0: no limit */
	const char *connect; /* remote bridge address, or NULL */
	const char *token_file;
	bool progress;
};

static int parse_io_opts(const char *cmd, int argc, char **argv,
			 struct io_opts *o, void (*usage)(void))
{
	static const struct option opts[] = {
		{ "lines", no_argument, NULL, 'l' },
		{ "len32", no_argument, NULL, '4' },
		{ "timeout", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "connect", required_argument, NULL, 'c' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, is_read = !strcmp(cmd, "read");
	o->framing = FRAME_RAW;
	o->timeout_ms = -1;
	o->count = 0;
	o->connect = o->token_file = NULL;
	o->progress = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, is_read ? "lt:n:h" : "lt:h", opts,
				NULL)) != -1) {
		switch (c) {
		case 'l':
		case '4':
			if (o->framing != FRAME_RAW)
				return cli_usage_error(cmd, "--lines and --len32 exclude each other");
			o->framing = c == 'l' ? FRAME_LINES : FRAME_LEN32;
			break;
		case 't':
			if (cli_parse_seconds(optarg, &o->timeout_ms) < 0)
				return cli_usage_error(cmd, "bad timeout '%s' (seconds)", optarg);
			break;
		case 'n':
			if (!is_read || cli_parse_count(optarg, &o->count) < 0 ||
			    !o->count)
				return cli_usage_error(cmd, "bad count '%s'", optarg);
			break;
		case 'c':
			o->connect = optarg;
			break;
		case 'T':
			o->token_file = optarg;
			break;
		case 'P':
			o->progress = true;
			break;
		case 'h':
			usage();
			return -1;
		default:
			return cli_usage_error(cmd, "bad option");
		}
	}
	if (o->token_file && !o->connect)
		return cli_usage_error(cmd, "--token-file goes with --connect");
	if (o->connect) {
		if (optind != argc)
			return cli_usage_error(cmd, "with --connect, no pipe NAME: the bridge at the address names it");
		o->name = o->connect;
		return 0;
	}
	if (optind != argc - 1)
		return cli_usage_error(cmd, "expected one pipe NAME");
	o->name = argv[optind];
	return 0;
}

/* --------------------------------------------------------------- progress
 *
 * --progress: a line on stderr, redrawn in place every PROGRESS_REDRAW_NS
 * or so, when stderr is a terminal (nothing at all otherwise): bytes so
 * far, the rate over about the last second, the average, the time, and
 * the pipe's fill level; at the end a line with the totals.
 *
 * The data path only counts: progress_count() adds and decrements a
 * countdown, and reads the clock (vDSO, no system call) when it runs out;
 * the countdown adapts so that this happens every 20-100 ms whatever the
 * size and pace of the calls. A wait on the pipe (full for a writer, empty
 * for a reader) is cut into PROGRESS_SLICE_MS slices, so a stall shows as
 * it happens. Bytes are those of stdin (write) and stdout (read), framing
 * included, as a count of the input or output would give.
 */
#define PROGRESS_REDRAW_NS 250000000u
#define PROGRESS_SLICE_MS  250
#define PROGRESS_WINDOW	   4 /* samples, one per redraw: about a second */
#define PROGRESS_MAX_EVERY (1u << 16)

struct progress {
	bool on;
	bool shown;	  /* a line is on the screen, the cursor at its end */
	const char *verb; /* "wrote", "read" */
	shmpipe *pipe;	  /* for the fill level; NULL with --connect */
	uint64_t bytes;
	unsigned countdown, every; /* calls until the next look at the clock,
				      and between two looks */
	uint64_t start_ns, check_ns, draw_ns;
	struct {
		uint64_t ns, bytes;
	} window[PROGRESS_WINDOW]; /* the rate is taken over these */
	unsigned oldest;
};

static void progress_emit(struct progress *p, const char *line, bool last)
{
	char buf[320];
	int n = snprintf(buf, sizeof(buf), "\r%s" CLI_TERM_CLEAR_EOL "%s", line,
			 last ? "\n" : "");
	if (n > 0)
		cli_write_all(2, buf,
			      (size_t)n < sizeof(buf) ? (size_t)n
						      : sizeof(buf) - 1);
	p->shown = !last;
}

enum { P_RATE = 1, P_AVG = 2, P_TIME = 4, P_FILL = 8, P_BAR = 16 };

static void progress_draw(struct progress *p, uint64_t now)
{
	double secs = (double)(now - p->start_ns) / 1e9;
	uint64_t then_ns = p->window[p->oldest].ns;
	uint64_t then_bytes = p->window[p->oldest].bytes;
	double rate = now > then_ns ? (double)(p->bytes - then_bytes) * 1e9 /
					      (double)(now - then_ns)
				    : 0;
	p->window[p->oldest].ns = now;
	p->window[p->oldest].bytes = p->bytes;
	p->oldest = (p->oldest + 1) % PROGRESS_WINDOW;
	p->draw_ns = now;

	double fill = -1;
	struct shmpipe_stats st;
	if (p->pipe && shmpipe_stat_handle(p->pipe, &st) == 0 && st.capacity)
		fill = (double)st.fill / (double)st.capacity;

	unsigned cols;
	cli_term_size(2, &cols, NULL);
	size_t room = cols > 1 ? cols - 1 : 1; /* never the last column */
	if (room > 200)
		room = 200;
	char size[32], now_rate[32], avg[32], elapsed[32], bar[32], line[256];
	cli_human_size(p->bytes, size);
	cli_human_rate(rate, now_rate);
	cli_human_rate(secs > 0 ? (double)p->bytes / secs : 0, avg);
	cli_human_duration(secs, elapsed);
	static const unsigned shapes[] = {
		P_RATE | P_AVG | P_TIME | P_FILL | P_BAR,
		P_RATE | P_AVG | P_TIME | P_FILL,
		P_RATE | P_TIME | P_FILL,
		P_RATE | P_FILL,
		P_RATE,
		0,
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(*shapes); i++) {
		unsigned s = shapes[i];
		if (fill < 0)
			s &= ~(unsigned)(P_FILL | P_BAR);
		/* padded to the usual widths, so the line does not jitter */
		int n = snprintf(line, sizeof(line), "%8s", size);
		if (s & P_RATE)
			n += snprintf(line + n, sizeof(line) - n, "  %10s",
				      now_rate);
		if (s & P_AVG)
			n += snprintf(line + n, sizeof(line) - n, "  avg %10s",
				      avg);
		if (s & P_TIME)
			n += snprintf(line + n, sizeof(line) - n, "  %5s",
				      elapsed);
		if (s & P_FILL)
			n += snprintf(line + n, sizeof(line) - n,
				      "  fill %3.0f%%", fill * 100);
		if (s & P_BAR) {
			size_t left = room > (size_t)n + 1 ? room - n - 1 : 0;
			if (left < 10)
				continue; /* no room for a useful bar */
			snprintf(
				line + n, sizeof(line) - n, " %s",
				cli_term_bar(bar, left < 22 ? left : 22, fill));
		}
		if (strlen(line) <= room)
			break;
	}
	cli_term_fit(line, room);
	progress_emit(p, line, false);
}

/* The clock, every p->every calls: redraw when due, and adapt p->every. */
static void progress_tick(struct progress *p)
{
	uint64_t now = cli_now_ns(), since = now - p->check_ns;
	if (since > 500000000u)
		p->every = 1; /* slowed down a lot: look at every call */
	else if (since > 100000000u && p->every > 1)
		p->every /= 2;
	else if (since < 20000000u && p->every < PROGRESS_MAX_EVERY)
		p->every *= 2;
	p->countdown = p->every;
	p->check_ns = now;
	if (now - p->draw_ns >= PROGRESS_REDRAW_NS)
		progress_draw(p, now);
}

static inline void progress_count(struct progress *p, uint64_t n)
{
	p->bytes += n;
	if (p->on && !--p->countdown)
		progress_tick(p);
}

/*
 * The timeout of one call that @timeout_ms bounds (-1: none): itself, or
 * with the line on, 0 for the @first try (a call with a timeout reads the
 * clock, which the data path must not do at every call) and slices of it
 * for the waits after that.
 */
static int progress_slice(const struct progress *p, int timeout_ms, bool first)
{
	if (!p->on || timeout_ms == 0)
		return timeout_ms;
	if (first)
		return 0;
	if (timeout_ms > 0 && timeout_ms <= PROGRESS_SLICE_MS)
		return timeout_ms;
	return PROGRESS_SLICE_MS;
}

/* A slice of a wait ended with nothing moved. */
static void progress_waited(struct progress *p)
{
	if (p->on)
		progress_tick(p);
}

static void progress_start(struct progress *p, bool wanted, const char *verb,
			   shmpipe *pipe)
{
	*p = (struct progress){ .on = wanted && cli_term_is_tty(2),
				.verb = verb,
				.pipe = pipe,
				.countdown = 1,
				.every = 1 };
	p->start_ns = p->check_ns = cli_now_ns();
	for (unsigned i = 0; i < PROGRESS_WINDOW; i++)
		p->window[i].ns = p->start_ns;
	if (p->on)
		progress_draw(p, p->start_ns);
}

/* Take the line away, before an error message. */
static void progress_clear(struct progress *p)
{
	static const char clear[] = "\r" CLI_TERM_CLEAR_EOL;
	if (p->on && p->shown)
		cli_write_all(2, clear, sizeof(clear) - 1);
	p->shown = false;
}

/* The final line: totals, and a newline. */
static void progress_end(struct progress *p)
{
	if (!p->on)
		return;
	uint64_t now = cli_now_ns();
	double secs = (double)(now - p->start_ns) / 1e9;
	char size[32], avg[32], elapsed[32], line[256];
	unsigned cols;
	cli_term_size(2, &cols, NULL);
	size_t room = cols > 1 ? cols - 1 : 1;
	cli_human_size(p->bytes, size);
	cli_human_rate(secs > 0 ? (double)p->bytes / secs : 0, avg);
	cli_human_duration(secs, elapsed);
	unsigned long long n = (unsigned long long)p->bytes;
	for (int shape = 0; shape < 4; shape++) {
		if (shape == 0)
			snprintf(line, sizeof(line),
				 "%s %llu bytes (%s) in %s, avg %s", p->verb, n,
				 size, elapsed, avg);
		else if (shape == 1)
			snprintf(line, sizeof(line),
				 "%s %llu bytes in %s, avg %s", p->verb, n,
				 elapsed, avg);
		else if (shape == 2)
			snprintf(line, sizeof(line), "%s %llu bytes in %s",
				 p->verb, n, elapsed);
		else
			snprintf(line, sizeof(line), "%s %llu bytes", p->verb,
				 n);
		if (strlen(line) <= room)
			break;
	}
	cli_term_fit(line, room);
	progress_emit(p, line, true);
}

/* --connect: the client of a remote `shmpipe serve`. The bridge does the
 * framing; the client moves bytes. write sends stdin, then half-closes and
 * waits for the bridge to close, so that exit 0 means the bridge has read
 * everything (and committed every whole unit); read copies until the
 * bridge closes (or --timeout). */
static int remote_open(struct io_opts *o, const char *cmd)
{
	char token[4097];
	size_t tlen = 0;
	if (o->token_file) {
		int r = cli_read_token(o->token_file, token, sizeof(token), &tlen);
		if (r < 0) {
			cli_error(r == -ENODATA ? 0 : r, "%s: token file '%s'%s",
				  cmd, o->token_file,
				  r == -ENODATA ? ": its first line is empty" : "");
			return -1;
		}
	}
	int fd = shmpipe_bridge_connect(o->connect, o->token_file ? token : NULL,
					tlen);
	if (fd < 0)
		cli_error(fd, "%s: connect %s", cmd, o->connect);
	return fd;
}

/* Copy until end of file (0), an error (-errno) or @timeout_ms without
 * data (1); p->bytes counts what was copied. */
static int copy_fd(int from, int to, int timeout_ms, struct progress *p)
{
	static char buf[1 << 16];
	int left = timeout_ms;
	for (;;) {
		if (timeout_ms >= 0) {
			int slice = progress_slice(p, left, false);
			struct pollfd pfd = { .fd = from, .events = POLLIN };
			int r = poll(&pfd, 1, slice);
			if (r == 0 && slice != left) {
				progress_waited(p);
				left -= slice;
				continue;
			}
			if (r == 0)
				return 1; /* timed out */
			left = timeout_ms;
		}
		ssize_t n = read(from, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		int r = cli_write_all(to, buf, (size_t)n);
		if (r < 0)
			return r;
		progress_count(p, (uint64_t)n);
	}
}

static int remote_write(struct io_opts *o)
{
	int fd = remote_open(o, "write");
	if (fd < 0)
		return EXIT_ERROR;
	struct progress progress;
	progress_start(&progress, o->progress, "wrote", NULL);
	int r = copy_fd(0, fd, -1, &progress);
	if (r == 0) {
		/* The bridge sends nothing: wait for its close. */
		char sink[256];
		ssize_t n;
		shutdown(fd, SHUT_WR);
		while ((n = read(fd, sink, sizeof(sink))) > 0 ||
		       (n < 0 && errno == EINTR))
			;
		r = n < 0 ? -errno : 0;
	}
	close(fd);
	if (r < 0)
		progress_clear(&progress);
	if (r == -ECONNRESET || r == -EPIPE) {
		/* a reset, not an orderly close: the bridge refused or cut
		 * off a unit */
		fprintf(stderr, "shmpipe: write: %s reset the connection: not "
				"everything sent went in (a wrong token, or a "
				"unit too large or cut off: its log says which)\n",
			o->connect);
		progress_end(&progress);
		return EXIT_ERROR;
	}
	if (r < 0)
		cli_error(r, "write: sending to %s", o->connect);
	progress_end(&progress);
	return r < 0 ? EXIT_ERROR : EXIT_OK;
}

static int remote_read(struct io_opts *o)
{
	int fd = remote_open(o, "read");
	if (fd < 0)
		return EXIT_ERROR;
	shutdown(fd, SHUT_WR);
	struct progress progress;
	progress_start(&progress, o->progress, "read", NULL);
	int r = copy_fd(fd, 1, o->timeout_ms, &progress);
	close(fd);
	int status = EXIT_OK;
	if (r < 0 && r != -EPIPE) {
		progress_clear(&progress);
		cli_error(r, "read: from %s", o->connect);
		status = EXIT_ERROR;
	} else if (r == 1 && !progress.bytes) {
		progress_clear(&progress);
		fprintf(stderr, "shmpipe: read %s: timed out with no data\n",
			o->connect);
		status = EXIT_ERROR;
	}
	progress_end(&progress);
	return status;
}

/* ------------------------------------------------------------------ write */

static void write_usage(void)
{
	printf("Usage: shmpipe write NAME [--lines|--len32] [--timeout SECONDS] [--progress]\n"
	       "       shmpipe write --connect ADDR [--token-file F] [--progress]\n"
	       "Copy stdin into the pipe NAME until end of input. Each unit goes in\n"
	       "with one atomic write, never interleaved with other writers':\n\n"
	       "      (default)      raw chunks as they are read\n"
	       "  -l, --lines        each line (a message pipe gets it without the\n"
	       "                     newline; empty lines carry nothing there)\n"
	       "      --len32        frames of a 4-byte big-endian length and that many\n"
	       "                     bytes (a message pipe gets the bytes as a message;\n"
	       "                     empty frames carry nothing there)\n"
	       "  -t, --timeout S    give up when the pipe stays full for S seconds\n"
	       "                     (default: wait; a full pipe never drops data)\n"
	       "      --connect ADDR send stdin to a remote `shmpipe serve` at ADDR\n"
	       "                     (tcp://HOST:PORT, tcp://[V6]:PORT, unix:PATH)\n"
	       "                     instead; the bridge does the framing. Exit 0\n"
	       "                     once the bridge has read it all\n"
	       "      --token-file F with --connect: send the first line of F first\n"
	       "      --progress     when stderr is a terminal, a line there redrawn\n"
	       "                     while data moves: bytes of stdin so far, rate\n"
	       "                     (last second, average), time and how full the\n"
	       "                     pipe is; then the totals (nothing without a\n"
	       "                     terminal)\n"
	       "  -h, --help         show this help\n\n"
	       "A unit larger than the pipe can hold is an error. A last line\n"
	       "without a newline is written; a frame cut short by end of input is\n"
	       "not (error). Exit status: 0 all input written, 1 error, 2 usage.\n");
}

struct writer {
	shmpipe *pipe;
	struct io_opts *o;
	size_t max_unit; /* largest unit one write takes */
	int message;
	uint64_t units;
	struct progress progress;
};

static int put_unit(struct writer *w, const char *buf, size_t len)
{
	int left = w->o->timeout_ms;
	ssize_t n;
	/* a unit never goes in part way: trying again is safe */
	for (bool first = true;; first = false) {
		int slice = progress_slice(&w->progress, left, first);
		n = shmpipe_write(w->pipe, buf, len, slice);
		if ((n != -ETIMEDOUT && n != -EAGAIN) || slice == left)
			break;
		if (!first) {
			progress_waited(&w->progress);
			if (left > 0)
				left -= slice;
		}
	}
	if (n < 0) {
		progress_clear(&w->progress);
		cli_pipe_error((int)n, "write", w->o->name);
		return -1;
	}
	w->units++;
	return 0;
}

/* Complete units at the start of buf[0..len): how many bytes they take;
 * *too_big set when the next unit can never fit. Lines in a stream pipe
 * are batched: several whole lines in one write are still never torn. */
static size_t write_units(struct writer *w, char *buf, size_t len, int *err)
{
	size_t done = 0;
	while (done < len) {
		char *p = buf + done;
		size_t left = len - done, unit, skip = 0;
		if (w->o->framing == FRAME_LINES) {
			char *nl = memchr(p, '\n', left);
			if (!nl)
				break;
			unit = (size_t)(nl - p) + 1;
			if (w->message) {
				if (unit - 1 > w->max_unit)
					return *err = 2, done;
				if (put_unit(w, p, unit - 1) < 0)
					return *err = 1, done;
				done += unit;
				continue;
			}
			/* stream: take every whole line that fits */
			char *last = memrchr(p, '\n',
					     left < w->max_unit ? left : w->max_unit);
			if (last)
				unit = (size_t)(last - p) + 1;
		} else {
			if (left < 4)
				break;
			uint32_t be;
			memcpy(&be, p, 4);
			size_t flen = ntohl(be);
			if (w->message && flen > w->max_unit)
				return *err = 2, done;
			if (left < 4 + flen)
				break;
			unit = 4 + flen;
			skip = w->message ? 4 : 0;
		}
		if (unit - skip > w->max_unit)
			return *err = 2, done;
		if (put_unit(w, p + skip, unit - skip) < 0)
			return *err = 1, done;
		done += unit;
	}
	return done;
}

static int write_loop(struct writer *w)
{
	size_t cap = w->o->framing == FRAME_RAW
			     ? (w->max_unit < (1u << 20) ? w->max_unit : 1u << 20)
			     : w->max_unit + 5;
	size_t size = cap < (1u << 16) ? cap : 1u << 16, used = 0;
	char *buf = malloc(size);
	if (!buf)
		return cli_error(-ENOMEM, "write '%s'", w->o->name), EXIT_ERROR;
	int status = EXIT_OK;
	for (;;) {
		if (used == size && size < cap) {
			size_t nsize = size * 2 < cap ? size * 2 : cap;
			char *nb = realloc(buf, nsize);
			if (!nb) {
				progress_clear(&w->progress);
				cli_error(-ENOMEM, "write '%s'", w->o->name);
				status = EXIT_ERROR;
				break;
			}
			buf = nb;
			size = nsize;
		}
		ssize_t n = read(0, buf + used, size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			progress_clear(&w->progress);
			cli_error(-errno, "write '%s': reading stdin", w->o->name);
			status = EXIT_ERROR;
			break;
		}
		if (w->o->framing == FRAME_RAW) {
			if (n == 0)
				break;
			if (put_unit(w, buf, (size_t)n) < 0)
				return free(buf), EXIT_ERROR;
			progress_count(&w->progress, (uint64_t)n);
			continue;
		}
		used += (size_t)n;
		int err = 0;
		size_t done = write_units(w, buf, used, &err);
		progress_count(&w->progress, done);
		if (err == 1) {
			status = EXIT_ERROR;
			break;
		}
		if (err == 2 || (used - done == size && size == cap)) {
			progress_clear(&w->progress);
			fprintf(stderr,
				"shmpipe: write '%s': unit %llu is larger than the "
				"pipe can hold (%zu bytes); nothing of it was written\n",
				w->o->name, (unsigned long long)w->units + 1,
				w->max_unit);
			status = EXIT_ERROR;
			break;
		}
		memmove(buf, buf + done, used - done);
		used -= done;
		if (n == 0) { /* end of input */
			if (!used)
				break;
			if (w->o->framing == FRAME_LINES) {
				if (put_unit(w, buf, used) < 0)
					status = EXIT_ERROR;
				else
					progress_count(&w->progress, used);
			} else {
				progress_clear(&w->progress);
				fprintf(stderr,
					"shmpipe: write '%s': input ended inside a "
					"frame (%zu bytes of it); it was not written\n",
					w->o->name, used);
				status = EXIT_ERROR;
			}
			break;
		}
	}
	free(buf);
	return status;
}

int cmd_write(int argc, char **argv)
{
	struct io_opts o;
	int r = parse_io_opts("write", argc, argv, &o, write_usage);
	if (r)
		return r < 0 ? EXIT_OK : r;
	signal(SIGPIPE, SIG_IGN);
	if (o.connect)
		return remote_write(&o);
	struct writer w = { .o = &o };
	r = shmpipe_open(&w.pipe, o.name, SHMPIPE_WRITE);
	if (r < 0) {
		cli_pipe_error(r, "open", o.name);
		return EXIT_ERROR;
	}
	w.message = shmpipe_kind(w.pipe) == SHMPIPE_MESSAGE;
	w.max_unit = shmpipe_capacity(w.pipe);
	if (w.message) /* 8-byte header, length rounded up to 8 */
		w.max_unit = (w.max_unit - 8) & ~(size_t)7;
	progress_start(&w.progress, o.progress, "wrote", w.pipe);
	int status = write_loop(&w);
	progress_end(&w.progress);
	shmpipe_close(w.pipe);
	return status;
}

/* ------------------------------------------------------------------- read */

static void read_usage(void)
{
	printf("Usage: shmpipe read NAME [--lines|--len32] [--count N] [--timeout SECONDS]\n"
	       "                         [--progress]\n"
	       "       shmpipe read --connect ADDR [--token-file F] [--timeout SECONDS]\n"
	       "                         [--progress]\n"
	       "Copy the pipe NAME to stdout until end of file: the pipe is empty and\n"
	       "no writer has it open (a pipe no writer has opened yet is waited for).\n\n"
	       "  -l, --lines        message pipe: write each message and a newline;\n"
	       "                     stream pipe: count lines (for --count)\n"
	       "      --len32        message pipe: write each message after its 4-byte\n"
	       "                     big-endian length; stream: count such frames\n"
	       "  -n, --count N      stop after N units: messages, lines or frames\n"
	       "                     (raw stream: N bytes)\n"
	       "  -t, --timeout S    stop after S seconds in all (with --connect: after\n"
	       "                     S seconds without data)\n"
	       "      --connect ADDR read from a remote `shmpipe serve --out` at ADDR\n"
	       "                     instead, until it closes\n"
	       "      --token-file F with --connect: send the first line of F first\n"
	       "      --progress     when stderr is a terminal, a line there redrawn\n"
	       "                     while data moves: bytes of stdout so far, rate\n"
	       "                     (last second, average), time and how full the\n"
	       "                     pipe is; then the totals (nothing without a\n"
	       "                     terminal)\n"
	       "  -h, --help         show this help\n\n"
	       "Each unit is removed from the pipe only once stdout has taken it.\n"
	       "Exit status: 0 end of file, count or timeout reached (with data),\n"
	       "1 error or a timeout with no data at all, 2 usage.\n");
}

struct reader {
	shmpipe *pipe;
	struct io_opts *o;
	int message;
	uint64_t units;
	/* stream --len32 counting: bytes of the current frame still to come,
	 * and its length header as far as seen */
	uint64_t frame_left;
	unsigned hdr_have;
	unsigned char hdr[4];
	struct progress progress;
};

/* Stream: how many of @len bytes to write to finish at most the units
 * still allowed by --count, updating the unit counter. */
static size_t stream_take(struct reader *rd, const unsigned char *p, size_t len)
{
	uint64_t limit = rd->o->count;
	if (rd->o->framing == FRAME_RAW) {
		size_t n = len;
		if (limit && n > limit - rd->units)
			n = (size_t)(limit - rd->units);
		rd->units += n;
		return n;
	}
	size_t i = 0;
	while (i < len && (!limit || rd->units < limit)) {
		if (rd->o->framing == FRAME_LINES) {
			const unsigned char *nl = memchr(p + i, '\n', len - i);
			if (!nl)
				return len;
			i = (size_t)(nl - p) + 1;
			rd->units++;
			continue;
		}
		if (rd->hdr_have < 4) {
			rd->hdr[rd->hdr_have++] = p[i++];
			if (rd->hdr_have == 4)
				rd->frame_left = (uint64_t)rd->hdr[0] << 24 |
						 rd->hdr[1] << 16 | rd->hdr[2] << 8 |
						 rd->hdr[3];
		} else {
			size_t n = len - i < rd->frame_left ? len - i
							    : (size_t)rd->frame_left;
			i += n;
			rd->frame_left -= n;
		}
		if (rd->hdr_have == 4 && rd->frame_left == 0) {
			rd->hdr_have = 0;
			rd->units++;
		}
	}
	return i;
}

static int emit_message(struct reader *rd, const void *p, size_t len)
{
	struct iovec iov[2];
	int n = 0;
	unsigned char be[4] = { (unsigned char)(len >> 24),
				(unsigned char)(len >> 16),
				(unsigned char)(len >> 8), (unsigned char)len };
	if (rd->o->framing == FRAME_LEN32)
		iov[n++] = (struct iovec){ be, 4 };
	iov[n++] = (struct iovec){ (void *)p, len };
	if (rd->o->framing == FRAME_LINES)
		iov[n++] = (struct iovec){ "\n", 1 };
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	ssize_t w = writev(1, iov, n);
	if (w == (ssize_t)total)
		return 0;
	if (w < 0 && errno != EINTR)
		return -errno;
	/* short write: finish it piece by piece */
	size_t off = w > 0 ? (size_t)w : 0;
	for (int i = 0; i < n; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		int r = cli_write_all(1, (char *)iov[i].iov_base + off,
				      iov[i].iov_len - off);
		if (r < 0)
			return r;
		off = 0;
	}
	return 0;
}

static int64_t ms_left(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (deadline->tv_sec - now.tv_sec) * 1000 +
		     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

static int read_loop(struct reader *rd)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += rd->o->timeout_ms / 1000;
	deadline.tv_nsec += (rd->o->timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	bool first = true; /* try of this unit (see progress_slice) */
	while (!rd->o->count || rd->units < rd->o->count) {
		int timeout =
			rd->o->timeout_ms < 0 ? -1 : (int)ms_left(&deadline);
		int slice = progress_slice(&rd->progress, timeout, first);
		const void *p;
		ssize_t n = shmpipe_peek(rd->pipe, &p, slice);
		if (n == 0)
			return EXIT_OK;
		if ((n == -ETIMEDOUT || n == -EAGAIN) && slice != timeout) {
			if (!first)
				progress_waited(&rd->progress);
			first = false;
			continue;
		}
		first = true;
		if (n == -ETIMEDOUT || n == -EAGAIN) {
			if (rd->units)
				return EXIT_OK;
			progress_clear(&rd->progress);
			fprintf(stderr,
				"shmpipe: read '%s': timed out with no data\n",
				rd->o->name);
			return EXIT_ERROR;
		}
		if (n < 0) {
			progress_clear(&rd->progress);
			cli_pipe_error((int)n, "read", rd->o->name);
			return EXIT_ERROR;
		}
		size_t take = (size_t)n, out = take;
		int r;
		if (rd->message) {
			r = emit_message(rd, p, (size_t)n);
			out += rd->o->framing == FRAME_LEN32   ? 4
			       : rd->o->framing == FRAME_LINES ? 1
							       : 0;
		} else {
			take = out = stream_take(rd, p, (size_t)n);
			r = cli_write_all(1, p, take);
		}
		if (r < 0) {
			shmpipe_release(rd->pipe, 0); /* stays in the pipe */
			progress_clear(&rd->progress);
			if (r != -EPIPE)
				cli_error(r, "read '%s': writing stdout",
					  rd->o->name);
			return EXIT_ERROR;
		}
		shmpipe_release(rd->pipe, take);
		if (rd->message)
			rd->units++;
		progress_count(&rd->progress, out);
	}
	return EXIT_OK;
}

int cmd_read(int argc, char **argv)
{
	struct io_opts o;
	int r = parse_io_opts("read", argc, argv, &o, read_usage);
	if (r)
		return r < 0 ? EXIT_OK : r;
	if (o.connect) {
		signal(SIGPIPE, SIG_IGN);
		return remote_read(&o);
	}
	struct reader rd = { .o = &o };
	r = shmpipe_open(&rd.pipe, o.name, SHMPIPE_READ);
	if (r < 0) {
		cli_pipe_error(r, "open", o.name);
		return EXIT_ERROR;
	}
	rd.message = shmpipe_kind(rd.pipe) == SHMPIPE_MESSAGE;
	signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error we handle */
	progress_start(&rd.progress, o.progress, "read", rd.pipe);
	int status = read_loop(&rd);
	progress_end(&rd.progress);
	shmpipe_close(rd.pipe);
	return status;
}
