/* SPDX-License-Identifier: MIT */
/*
 * cmd_admin.c - `shmpipe create` and `shmpipe rm`.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void cli_pipe_error(int err, const char *verb, const char *name)
{
	const char *why = shmpipe_strerror(err);
	if ((err == -EINVAL || err == -ENAMETOOLONG) &&
	    shmpipe_name_check(name) < 0)
		why = "invalid name (it must be 1 to 200 bytes, not \".\" or "
		      "\"..\", without '/' or control characters)";
	else if (err == -ENOENT)
		why = "no such pipe";
	else if (err == -EPROTO)
		why = "not a pipe (another kind of shmpipe object, or another "
		      "version)";
	fprintf(stderr, "shmpipe: %s '%s': %s", verb, name, why);
	if (err == -EEXIST)
		fprintf(stderr, " (use --force to replace it)");
	if (err == -ENOSPC)
		fprintf(stderr, " (see `df -h /dev/shm`)");
	fputc('\n', stderr);
}

static void create_usage(FILE *f)
{
	fprintf(f,
		"Usage: shmpipe create NAME [--size L] [--message] [--mode OCTAL]\n"
		"                      [--force | --exist-ok]\n"
		"Create the buffered pipe NAME (/dev/shm/shmpipe.NAME), empty.\n\n"
		"  -s, --size L      capacity in bytes, with K, M, G suffixes (powers of\n"
		"                    1024): the pipe holds exactly L bytes (default 1M);\n"
		"                    its memory is reserved now, so a full /dev/shm fails\n"
		"                    here and never later; a size /dev/shm cannot hold\n"
		"                    is refused before anything is allocated, with the\n"
		"                    limit and how to raise it (see 'shmpipe doctor')\n"
		"  -m, --message     message pipe: each write is one message, each read\n"
		"                    returns one (each message takes 8 bytes more, rounded\n"
		"                    up to 8); default: a byte stream\n"
		"      --mode OCTAL  permissions, exactly, whatever the umask (default 600)\n"
		"  -f, --force       replace an existing pipe of that name\n"
		"      --exist-ok    succeed, keeping it and its data, if a pipe of that\n"
		"                    name exists with the same kind and capacity (for\n"
		"                    service start-up); any other object is an error\n"
		"  -h, --help        show this help\n\n"
		"Example: shmpipe create sensors --size 256M --message\n");
}

/*
 * Refuse, before anything is allocated, a pipe that /dev/shm cannot hold
 * (printing which limit and how to raise it). The library would fail with
 * -ENOSPC too, after reserving what it could; this names the limit. A bad
 * name, or an existing one without --force, is left to shmpipe_create()
 * to report: those are the more useful errors.
 */
static bool fits_before_create(const char *name, uint64_t need,
			       unsigned flags)
{
	char path[sizeof(CLI_SHM_DIR "/shmpipe.") + SHMPIPE_NAME_MAX];
	struct stat st;
	if (shmpipe_name_check(name) < 0)
		return true;
	snprintf(path, sizeof(path), "%s/shmpipe.%s", CLI_SHM_DIR, name);
	if (!(flags & SHMPIPE_REPLACE) && lstat(path, &st) == 0)
		return true;
	return cli_shm_check_fit("create", name, need) == 0;
}

/* --exist-ok: the pipe @name exists; fine if it is what was asked for. */
static int keep_existing(const char *name, const struct shmpipe_config *cfg)
{
	struct shmpipe_stats st;
	int r = shmpipe_stat(name, &st);
	if (r < 0) {
		cli_pipe_error(r, "create", name);
		return EXIT_ERROR;
	}
	if (st.kind == cfg->kind && st.capacity == cfg->capacity)
		return EXIT_OK;
	char have[32], want[32];
	fprintf(stderr,
		"shmpipe: create '%s': it exists as a %s pipe of %s, not a %s "
		"pipe of %s (remove it first, or use --force to replace it "
		"and its data)\n",
		name, st.kind == SHMPIPE_MESSAGE ? "message" : "stream",
		cli_human_size(st.capacity, have),
		cfg->kind == SHMPIPE_MESSAGE ? "message" : "stream",
		cli_human_size(cfg->capacity, want));
	return EXIT_ERROR;
}

int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "message", no_argument, NULL, 'm' },
		{ "mode", required_argument, NULL, 'M' },
		{ "force", no_argument, NULL, 'f' },
		{ "exist-ok", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool exist_ok = false;
	struct shmpipe_config cfg = { .capacity = SHMPIPE_DEFAULT_CAPACITY };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:mfh", opts, NULL)) != -1) {
		unsigned mode;
		switch (c) {
		case 's':
			if (cli_parse_size(optarg, &cfg.capacity) < 0 ||
			    cfg.capacity == 0)
				return cli_usage_error("create",
						       "bad size '%s' (e.g. 4096, 64K, 256M, 1G)",
						       optarg);
			break;
		case 'm':
			cfg.kind = SHMPIPE_MESSAGE;
			break;
		case 'M':
			/* Permission bits only: a pipe has no use for setuid,
			 * setgid or sticky, and the library refuses them. */
			if (cli_parse_mode(optarg, &mode) < 0 || !mode ||
			    mode > 0777)
				return cli_usage_error("create",
						       "bad mode '%s' (octal permission bits, e.g. 600 or 0640)",
						       optarg);
			cfg.mode = mode;
			break;
		case 'f':
			cfg.flags |= SHMPIPE_REPLACE;
			break;
		case 'E':
			exist_ok = true;
			break;
		case 'h':
			create_usage(stdout);
			return EXIT_OK;
		default:
			return cli_usage_error("create", "bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("create", "expected one pipe NAME");
	const char *name = argv[optind];
	if (exist_ok && (cfg.flags & SHMPIPE_REPLACE))
		return cli_usage_error("create",
				       "--force and --exist-ok contradict each other");
	if (cfg.kind == SHMPIPE_MESSAGE && cfg.capacity < 16)
		return cli_usage_error("create",
				       "bad size %zu: a message pipe needs at least 16 bytes (a message takes 8 bytes of header plus its length rounded up to 8)",
				       cfg.capacity);
	uint64_t need = cli_pipe_footprint(cfg.capacity);
	if (!fits_before_create(name, need, cfg.flags))
		return EXIT_ERROR;
	int r = shmpipe_create(name, &cfg);
	struct cli_shm_info info;
	if (r == -ENOSPC && cli_shm_info(&info) == 0) {
		cli_shm_refuse("create", name, need, &info);
		return EXIT_ERROR;
	}
	if (r == -ENOENT && cli_shm_info(&info) < 0 && !info.present) {
		char advice[320];
		cli_shm_advice(advice, sizeof(advice), &info, need);
		fprintf(stderr, "shmpipe: create '%s': no %s (%s); %s\n", name,
			CLI_SHM_DIR, shmpipe_strerror(info.err), advice);
		return EXIT_ERROR;
	}
	if (r == -EEXIST && exist_ok)
		return keep_existing(name, &cfg);
	if (r < 0) {
		cli_pipe_error(r, "create", name);
		return shmpipe_name_check(name) < 0 ? EXIT_USAGE : EXIT_ERROR;
	}
	return EXIT_OK;
}

int cmd_rm(int argc, char **argv)
{
	int force = 0, status = EXIT_OK, c;
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (c == 'f') {
			force = 1;
		} else if (c == 'h') {
			printf("Usage: shmpipe rm [--force] NAME...\n"
			       "Remove the names of pipes. Processes that have a pipe open keep\n"
			       "using it; its memory is freed when the last one closes it.\n\n"
			       "  -f, --force  no error for names that do not exist\n"
			       "  -h, --help   show this help\n");
			return EXIT_OK;
		} else {
			return cli_usage_error("rm", "bad option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("rm", "expected at least one pipe NAME");
	for (int i = optind; i < argc; i++) {
		struct shmpipe_stats st;
		int r = shmpipe_stat(argv[i], &st);
		/* Only pipes (corrupt ones too), never another object type. */
		if (r == 0 || r == -EBADMSG)
			r = shmpipe_unlink(argv[i]);
		if (r == -ENOENT && force)
			continue;
		if (r < 0) {
			cli_pipe_error(r, "rm", argv[i]);
			status = EXIT_ERROR;
		}
	}
	return status;
}
