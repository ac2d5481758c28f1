/* SPDX-License-Identifier: MIT */
/*
 * main.c - the shmpipe command: dispatch to subcommands, --help, --version.
 * Exit status: 0 success, 1 error, 2 usage error.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct cli_command commands[] = {
	{ "create", "create a pipe of a given capacity", cmd_create },
	{ "write", "copy stdin into a pipe", cmd_write },
	{ "read", "copy a pipe to stdout until end of file", cmd_read },
	{ "stat", "show a pipe's counters and attached processes", cmd_stat },
	{ "ls", "list pipes", cmd_ls },
	{ "rm", "remove pipes", cmd_rm },
	{ "clean", "remove dead pipes and what crashed creators left", cmd_clean },
	{ "serve", "let remote processes write into (or read from) a pipe over sockets", cmd_serve },
	{ "doctor", "show what limits IPC on this machine and what it means", cmd_doctor },
	{ NULL, NULL, NULL },
};

void cli_error(int err, const char *fmt, ...)
{
	va_list ap;
	fputs("shmpipe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", shmpipe_strerror(err));
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "shmpipe%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'shmpipe%s%s --help'.\n", cmd ? " " : "",
		cmd ? cmd : "");
	return EXIT_USAGE;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shmpipe COMMAND [OPTION]...\n"
		"Buffered pipes of any size in POSIX shared memory, and the IPC\n"
		"building blocks around them.\n\n"
		"Commands:\n");
	for (const struct cli_command *c = commands; c->name; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->summary);
	fprintf(f,
		"\nOptions:\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show the version and exit\n\n"
		"Run 'shmpipe COMMAND --help' for the options of a command.\n"
		"Exit status: 0 success, 1 error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr), EXIT_USAGE;
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("shmpipe %s (library %s)\n", SHMPIPE_VERSION_STRING,
		       shmpipe_version_string());
		return EXIT_OK;
	}
	for (const struct cli_command *c = commands; c->name; c++)
		if (!strcmp(cmd, c->name))
			return c->run(argc - 1, argv + 1);
	return cli_usage_error(NULL, "unknown command '%s'", cmd);
}
