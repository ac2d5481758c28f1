/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the subcommands of the shmpipe CLI share: exit codes and
 * the way errors are worded ("shmpipe: open 'sensors': no such pipe").
 */
#ifndef SHMPIPE_CLI_H
#define SHMPIPE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2 };

struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

/* "shmpipe: <what>: <cause>" on stderr, <cause> from shmpipe_strerror. */
void cli_error(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "shmpipe <cmd>: <message>\nTry 'shmpipe <cmd> --help'." and EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "shmpipe: <verb> '<name>': <cause>", with pipe-specific wording. */
void cli_pipe_error(int err, const char *verb, const char *name);

/* Parsers: 0 or -EINVAL/-ERANGE. Sizes take K/M/G/T suffixes (powers of
 * 1024, optionally followed by "B" or "iB"); modes are octal; seconds may
 * have a fraction. */
int cli_parse_size(const char *s, size_t *out);
int cli_parse_mode(const char *s, unsigned *out);
int cli_parse_seconds(const char *s, int *ms);
int cli_parse_count(const char *s, uint64_t *out);
/* "1.5 MiB" */
const char *cli_human_size(uint64_t n, char buf[32]);
/* write() all of it, retrying EINTR and short writes: 0 or -errno. */
int cli_write_all(int fd, const void *buf, size_t len);
/* A JSON string literal with escapes. */
void cli_json_string(FILE *f, const char *s);

/* term.c - for the live views (write/read --progress, stat --watch).
 * Lines are measured in bytes, which never take more columns than that. */
#define CLI_TERM_CLEAR_EOL "\033[K"	/* erase to the end of the line */
#define CLI_TERM_HOME "\033[H"		/* cursor to the top left */
#define CLI_TERM_CLEAR_EOS "\033[J"	/* erase to the end of the screen */
#define CLI_TERM_HIDE_CURSOR "\033[?25l"
#define CLI_TERM_SHOW_CURSOR "\033[?25h"
#define CLI_TERM_ALT_SCREEN "\033[?1049h"  /* save the screen, use another */
#define CLI_TERM_MAIN_SCREEN "\033[?1049l" /* and back, as it was */
bool cli_term_is_tty(int fd);
/* Columns and rows of the terminal on @fd (TIOCGWINSZ); 80x24 when it
 * does not say or is no terminal. */
void cli_term_size(int fd, unsigned *cols, unsigned *rows);
/* "[###.......]": @width bytes (and a NUL) showing @fraction of 0..1; ""
 * below 3. Anything above 0 shows at least one '#'. */
char *cli_term_bar(char *buf, size_t width, double fraction);
/* "12.3 MiB/s", "512 B/s" (powers of 1024, as cli_human_size) */
const char *cli_human_rate(double bytes_per_second, char buf[32]);
/* "4.2s" under a minute, then "3:07", "1:02:03" */
const char *cli_human_duration(double seconds, char buf[32]);
/* Cut @line to at most @width bytes (never inside a UTF-8 character);
 * returns its new length. */
size_t cli_term_fit(char *line, size_t width);
/* CLOCK_MONOTONIC in nanoseconds (the vDSO: no system call). */
uint64_t cli_now_ns(void);

int cmd_create(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_clean(int argc, char **argv);

/* The first line of @path, without its newline: 0, -ENODATA (empty), or
 * -errno. */
int cli_read_token(const char *path, char *buf, size_t size, size_t *len);

/* limits.c: what /dev/shm can hold, shared by create and doctor. */
#define CLI_SHM_DIR "/dev/shm"
#define CLI_SHM_SMALL (256ull << 20) /* doctor warns below this size */

struct cli_shm_info {
	int err;	  /* 0, or -errno when /dev/shm cannot be examined */
	bool present;	  /* /dev/shm exists and is a directory */
	bool writable;	  /* this process may create objects in it */
	bool mounted;	  /* a mount point of its own */
	bool tmpfs;
	bool limited;	  /* false: a tmpfs without a size limit */
	char fstype[32];  /* "tmpfs", ... */
	uint64_t size, free;		/* bytes (statvfs: f_blocks, f_bavail) */
	uint64_t inodes, inodes_free;	/* 0 inodes: no inode limit */
};

/* Examine /dev/shm: 0 or -errno (also in info->err). */
int cli_shm_info(struct cli_shm_info *info);
/* The bytes of /dev/shm a pipe of @capacity takes: header and ring, each
 * rounded up to whole pages (as src/pipe.c lays it out). */
uint64_t cli_pipe_footprint(uint64_t capacity);
/* Whether @need bytes (and an inode) fit in what @info saw free. */
bool cli_shm_fits(const struct cli_shm_info *info, uint64_t need);
/* "tmpfs, 8.0 MiB free of 64.0 MiB" */
void cli_shm_describe(char *buf, size_t size, const struct cli_shm_info *info);
/* How to make room for @need more bytes: "raise it with 'mount -o
 * remount,size=2G /dev/shm' (as root; in Docker: ...)". */
void cli_shm_advice(char *buf, size_t size, const struct cli_shm_info *info,
		    uint64_t need);
/* "shmpipe: <verb> '<name>': not enough space in /dev/shm: ...; <advice>" */
void cli_shm_refuse(const char *verb, const char *name, uint64_t need,
		    const struct cli_shm_info *info);
/* 0 when @need bytes fit in /dev/shm (or it cannot be examined: creation
 * then reports why); otherwise print the refusal and return -ENOSPC. */
int cli_shm_check_fit(const char *verb, const char *name, uint64_t need);

#endif
