/* SPDX-License-Identifier: MIT */
/*
 * term.c - terminal helpers for the live views (`write/read --progress`,
 * `stat --watch`): is a descriptor a terminal, how wide is it, a fill bar,
 * rates and durations for humans, and fitting a line to a width.
 *
 * Every line these views draw is measured in bytes: a byte never takes
 * more than one column (UTF-8 takes at most two columns for three or four
 * bytes), so a line of at most N bytes never wraps on N columns.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

bool cli_term_is_tty(int fd)
{
	return isatty(fd) == 1;
}

void cli_term_size(int fd, unsigned *cols, unsigned *rows)
{
	struct winsize ws = { 0 };
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_col || !ws.ws_row) {
		ws.ws_col = 80; /* a terminal that does not say */
		ws.ws_row = 24;
	}
	if (cols)
		*cols = ws.ws_col;
	if (rows)
		*rows = ws.ws_row;
}

char *cli_term_bar(char *buf, size_t width, double fraction)
{
	if (width < 3) {
		buf[0] = '\0';
		return buf;
	}
	size_t inside = width - 2;
	if (fraction < 0 || fraction != fraction)
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	size_t full = (size_t)(fraction * (double)inside + 0.5);
	/* anything at all in the pipe shows as at least one mark */
	if (!full && fraction > 0)
		full = 1;
	buf[0] = '[';
	memset(buf + 1, '#', full);
	memset(buf + 1 + full, '.', inside - full);
	buf[width - 1] = ']';
	buf[width] = '\0';
	return buf;
}

const char *cli_human_rate(double bytes_per_second, char buf[32])
{
	static const char *units[] = { "KiB/s", "MiB/s", "GiB/s", "TiB/s" };
	double v = bytes_per_second > 0 ? bytes_per_second : 0;
	if (v < 1024) {
		snprintf(buf, 32, "%.0f B/s", v);
		return buf;
	}
	unsigned u = 0;
	for (v /= 1024; v >= 1024 && u < 3; u++)
		v /= 1024;
	snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

const char *cli_human_duration(double seconds, char buf[32])
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 60) {
		snprintf(buf, 32, "%.1fs", seconds);
		return buf;
	}
	uint64_t s = (uint64_t)seconds;
	if (s < 3600)
		snprintf(buf, 32, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
	else
		snprintf(buf, 32, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
			 s / 3600, s / 60 % 60, s % 60);
	return buf;
}

size_t cli_term_fit(char *line, size_t width)
{
	size_t len = strlen(line);
	if (len <= width)
		return len;
	/* cut before a UTF-8 continuation byte, never inside a character */
	while (width && ((unsigned char)line[width] & 0xc0) == 0x80)
		width--;
	line[width] = '\0';
	return width;
}

uint64_t cli_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
