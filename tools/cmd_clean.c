/* SPDX-License-Identifier: MIT */
/*
 * cmd_clean.c - `shmpipe clean`: reclaim what crashed processes left in
 * /dev/shm, and nothing else:
 *  - dead pipes: every process attached to them has died (`shmpipe ls`
 *    shows them "dead"). A pipe nobody is attached to ("idle") is kept:
 *    its data waits for a reader by design. A pipe with one live process
 *    attached is live and kept.
 *  - hidden temporary files (.shmpipe-tmp.PID.*) of creators that died
 *    mid-creation, when PID is gone and the file is older than a minute
 *    (a creation takes milliseconds; the age also spares a live creator
 *    in another pid namespace sharing this /dev/shm).
 * Each pipe is looked at again right before it is removed. Removing only
 * unlinks the name, as `rm` does: a process that attaches in between keeps
 * working.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEMP_PREFIX ".shmpipe-tmp."
#define TEMP_MIN_AGE 60 /* seconds */

struct clean {
	bool dry_run, quiet;
	char **globs; /* only pipes whose name matches one (none: all) */
	int nglobs;
	unsigned pipes, temps, kept_live, kept_idle, errors;
	uint64_t bytes_lost;
};

/* Dead: attached processes, none of them alive. */
static bool is_dead(const struct shmpipe_stats *st)
{
	return st->nprocs > 0 && st->readers + st->writers == 0;
}

static int clean_pipe(const char *name, void *arg)
{
	struct clean *c = arg;
	bool match = c->nglobs == 0;
	for (int i = 0; i < c->nglobs && !match; i++)
		match = fnmatch(c->globs[i], name, 0) == 0;
	if (!match)
		return 0;
	struct shmpipe_stats st;
	if (shmpipe_stat(name, &st) < 0)
		return 0; /* not a pipe (a state, a region) or gone */
	if (!is_dead(&st)) {
		if (st.nprocs)
			c->kept_live++;
		else
			c->kept_idle++;
		return 0;
	}
	char size[32];
	cli_human_size(st.bytes_buffered, size);
	if (c->dry_run) {
		printf("would remove dead pipe '%s' (%u dead process%s, %s "
		       "buffered)\n", name, st.nprocs, st.nprocs == 1 ? "" : "es",
		       size);
		c->pipes++;
		c->bytes_lost += st.bytes_buffered;
		return 0;
	}
	/* Again, right before: someone may have attached meanwhile. */
	if (shmpipe_stat(name, &st) < 0 || !is_dead(&st))
		return 0;
	int r = shmpipe_unlink(name);
	if (r < 0 && r != -ENOENT) {
		cli_pipe_error(r, "clean", name);
		c->errors++;
		return 0;
	}
	if (r == 0) {
		c->pipes++;
		c->bytes_lost += st.bytes_buffered;
		if (!c->quiet)
			printf("removed dead pipe '%s' (%u dead process%s, %s "
			       "buffered)\n", name, st.nprocs,
			       st.nprocs == 1 ? "" : "es", size);
	}
	return 0;
}

/* The creator's pid in ".shmpipe-tmp.PID.N.T", or 0. */
static pid_t temp_pid(const char *file)
{
	if (strncmp(file, TEMP_PREFIX, strlen(TEMP_PREFIX)))
		return 0;
	char *end;
	long pid = strtol(file + strlen(TEMP_PREFIX), &end, 10);
	return *end == '.' && pid > 0 && pid < (1l << 30) ? (pid_t)pid : 0;
}

static void clean_temps(struct clean *c)
{
	DIR *d = opendir(CLI_SHM_DIR);
	if (!d)
		return;
	struct dirent *e;
	time_t now = time(NULL);
	while ((e = readdir(d))) {
		pid_t pid = temp_pid(e->d_name);
		struct stat st;
		if (!pid || kill(pid, 0) == 0 || errno != ESRCH)
			continue; /* its creator lives (or may: EPERM) */
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || now - st.st_mtime < TEMP_MIN_AGE)
			continue;
		if (c->dry_run) {
			printf("would remove %s/%s (its creator, pid %ld, died "
			       "while creating)\n", CLI_SHM_DIR, e->d_name,
			       (long)pid);
			c->temps++;
		} else if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			c->temps++;
			if (!c->quiet)
				printf("removed %s/%s (its creator, pid %ld, "
				       "died while creating)\n", CLI_SHM_DIR,
				       e->d_name, (long)pid);
		} else if (errno != ENOENT) {
			cli_error(-errno, "clean %s/%s", CLI_SHM_DIR, e->d_name);
			c->errors++;
		}
	}
	closedir(d);
}

static void clean_usage(FILE *f)
{
	fprintf(f,
		"Usage: shmpipe clean [--dry-run] [--quiet] [PATTERN]...\n"
		"Remove what crashed processes left in /dev/shm, and nothing else:\n"
		"  - dead pipes: every process attached to them has died ('dead' in\n"
		"    'shmpipe ls'); their buffered data goes with them;\n"
		"  - hidden .shmpipe-tmp.PID.* files of creators that died while\n"
		"    creating (PID gone, file older than a minute).\n"
		"Live pipes (a live process attached) and idle ones (nobody attached:\n"
		"their data waits for a reader) are never touched. PATTERNs (shell\n"
		"globs, quoted: 'sensor-*') limit the pipes looked at.\n\n"
		"  -n, --dry-run  say what would be removed, remove nothing\n"
		"  -q, --quiet    no line per object, only the summary\n"
		"  -h, --help     show this help\n");
}

int cmd_clean(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct clean c = { 0 };
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "nqh", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			c.dry_run = true;
			break;
		case 'q':
			c.quiet = true;
			break;
		case 'h':
			clean_usage(stdout);
			return EXIT_OK;
		default:
			return cli_usage_error("clean", "bad option");
		}
	}
	c.globs = argv + optind;
	c.nglobs = argc - optind;
	int r = shmpipe_list(clean_pipe, &c);
	if (r < 0) {
		cli_error(r, "clean: list %s", CLI_SHM_DIR);
		return EXIT_ERROR;
	}
	clean_temps(&c);
	char lost[32];
	printf("%s %u dead pipe%s (%s buffered) and %u temporary file%s; "
	       "kept %u live and %u idle pipe%s\n",
	       c.dry_run ? "would remove" : "removed", c.pipes,
	       c.pipes == 1 ? "" : "s", cli_human_size(c.bytes_lost, lost),
	       c.temps, c.temps == 1 ? "" : "s", c.kept_live, c.kept_idle,
	       c.kept_live + c.kept_idle == 1 ? "" : "s");
	return c.errors ? EXIT_ERROR : EXIT_OK;
}
