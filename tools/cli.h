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

int cmd_create(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* The first line of @path, without its newline: 0, -ENODATA (empty), or
 * -errno. */
int cli_read_token(const char *path, char *buf, size_t size, size_t *len);

#endif
