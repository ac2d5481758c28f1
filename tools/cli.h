/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the subcommands of the shmpipe CLI share: exit codes and
 * the way errors are worded ("shmpipe: open 'sensors': no such pipe").
 */
#ifndef SHMPIPE_CLI_H
#define SHMPIPE_CLI_H

#include <stdbool.h>

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

#endif
