/* SPDX-License-Identifier: MIT */
/*
 * limits.c - what /dev/shm can still hold, what a pipe of a given capacity
 * takes there, and what to tell the user when it does not fit. Shared by
 * `shmpipe create` (which refuses a pipe that cannot fit before allocating
 * anything) and `shmpipe doctor`, so both say the same thing.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define TMPFS_MAGIC_NUMBER 0x01021994 /* linux/magic.h TMPFS_MAGIC */

/*
 * The part of a pipe object in front of its ring, before page rounding.
 * src/pipe.c lays a pipe out as the region header (128 bytes) and the
 * pipe's shared block (2688 bytes in this version), rounded up to whole
 * pages, then the ring: the capacity rounded up to whole pages. The CLI
 * sees only the public header, so it uses this bound; tests/cli_doctor.sh
 * checks it is exact (a pipe one page smaller than an empty tmpfs fills
 * it, one byte more is refused). Should the shared block ever outgrow it,
 * the library's own -ENOSPC still stops the creation, with the same advice.
 */
#define PIPE_HEADER_BYTES 4096u

static uint64_t round_up(uint64_t n, uint64_t unit)
{
	if (n > UINT64_MAX - unit)
		return UINT64_MAX;
	return (n + unit - 1) / unit * unit;
}

uint64_t cli_pipe_footprint(uint64_t capacity)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t ring = round_up(capacity, page);
	uint64_t header = round_up(PIPE_HEADER_BYTES, page);
	return ring > UINT64_MAX - header ? UINT64_MAX : header + ring;
}

/* Whether mount point @point holds @dir: equal, or a parent directory. */
static bool holds(const char *point, const char *dir)
{
	size_t n = strlen(point);
	if (!strcmp(point, "/"))
		return true;
	return !strncmp(point, dir, n) && (dir[n] == '/' || dir[n] == '\0');
}

/* The type of the filesystem that holds @dir (the longest mount point that
 * holds it; of equal ones the last line of mountinfo, a later mount hiding
 * an earlier one) into @fstype, and whether @dir is that mount point. */
static bool mount_of(const char *dir, char *fstype, size_t size,
		     bool *is_point)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[4096];
	size_t best = 0;
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE ...
		 * (a mount point with spaces is escaped: \040) */
		char point[PATH_MAX], type[32];
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(dash + 3, "%31s", type) != 1)
			continue;
		size_t n = strlen(point);
		if (!holds(point, dir) || n < best)
			continue;
		best = n;
		memcpy(fstype, type, size < sizeof(type) ? size : sizeof(type));
		fstype[size - 1] = '\0';
		*is_point = !strcmp(point, dir);
		found = true;
	}
	fclose(f);
	return found;
}

int cli_shm_info(struct cli_shm_info *info)
{
	memset(info, 0, sizeof(*info));
	struct stat st;
	if (stat(CLI_SHM_DIR, &st) < 0)
		return info->err = -errno;
	if (!S_ISDIR(st.st_mode))
		return info->err = -ENOTDIR;
	info->present = true;
	info->writable = access(CLI_SHM_DIR, W_OK | X_OK) == 0;
	/* /dev/shm may be a symbolic link (to /run/shm on old systems). */
	char real[PATH_MAX];
	const char *dir = realpath(CLI_SHM_DIR, real) ? real : CLI_SHM_DIR;
	struct statfs sf;
	if (statfs(CLI_SHM_DIR, &sf) == 0)
		info->tmpfs = sf.f_type == TMPFS_MAGIC_NUMBER;
	if (!mount_of(dir, info->fstype, sizeof(info->fstype), &info->mounted))
		snprintf(info->fstype, sizeof(info->fstype), "%s",
			 info->tmpfs ? "tmpfs" : "unknown");
	struct statvfs sv;
	if (statvfs(CLI_SHM_DIR, &sv) < 0)
		return info->err = -errno;
	/* A tmpfs mounted with size=0 has no limit and reports 0 blocks. */
	info->limited = sv.f_blocks != 0;
	info->size = (uint64_t)sv.f_blocks * sv.f_frsize;
	info->free = (uint64_t)sv.f_bavail * sv.f_frsize;
	info->inodes = sv.f_files;
	info->inodes_free = sv.f_favail;
	return 0;
}

/* The size to suggest for mount -o size=: a power of two that holds what
 * is used now plus @need, and at least CLI_SHM_SMALL. */
static uint64_t suggested_size(const struct cli_shm_info *info, uint64_t need)
{
	uint64_t used = info->size > info->free ? info->size - info->free : 0;
	uint64_t want = used > UINT64_MAX - need ? UINT64_MAX : used + need;
	uint64_t s = CLI_SHM_SMALL;
	while (s < want && s < (UINT64_MAX >> 1))
		s <<= 1;
	return s;
}

/* "2G" for mount(8), "2g" for docker --shm-size. */
static void mount_size(uint64_t s, char unit_g, char unit_m, char buf[32])
{
	if (s >= (1ull << 30))
		snprintf(buf, 32, "%" PRIu64 "%c", s >> 30, unit_g);
	else
		snprintf(buf, 32, "%" PRIu64 "%c", s >> 20, unit_m);
}

void cli_shm_advice(char *buf, size_t size, const struct cli_shm_info *info,
		    uint64_t need)
{
	char to[32], docker[32];
	uint64_t s = suggested_size(info, need);
	mount_size(s, 'G', 'M', to);
	mount_size(s, 'g', 'm', docker);
	if (!info->present)
		snprintf(buf, size,
			 "mount one: 'mount -t tmpfs -o size=%s,mode=1777 tmpfs %s' (as root)",
			 to, CLI_SHM_DIR);
	else if (!info->mounted || !info->tmpfs)
		snprintf(buf, size,
			 "mount a tmpfs there: 'mount -t tmpfs -o size=%s,mode=1777 tmpfs %s' (as root; in Docker: docker run --shm-size=%s)",
			 to, CLI_SHM_DIR, docker);
	else if (info->inodes && !info->inodes_free)
		snprintf(buf, size,
			 "remove unused objects, or raise it with 'mount -o remount,nr_inodes=%" PRIu64 " %s' (as root)",
			 info->inodes * 2, CLI_SHM_DIR);
	else
		snprintf(buf, size,
			 "raise it with 'mount -o remount,size=%s %s' (as root; in Docker: docker run --shm-size=%s)",
			 to, CLI_SHM_DIR, docker);
}

void cli_shm_describe(char *buf, size_t size, const struct cli_shm_info *info)
{
	char f[32], s[32];
	if (!info->limited)
		snprintf(buf, size, "%s, no size limit (bounded by memory)",
			 info->fstype);
	else
		snprintf(buf, size, "%s, %s free of %s", info->fstype,
			 cli_human_size(info->free, f),
			 cli_human_size(info->size, s));
}

bool cli_shm_fits(const struct cli_shm_info *info, uint64_t need)
{
	if (info->inodes && !info->inodes_free)
		return false;
	return !info->limited || need <= info->free;
}

void cli_shm_refuse(const char *verb, const char *name, uint64_t need,
		    const struct cli_shm_info *info)
{
	char n[32], where[128], advice[320];
	cli_human_size(need, n);
	cli_shm_describe(where, sizeof(where), info);
	cli_shm_advice(advice, sizeof(advice), info, need);
	fprintf(stderr, "shmpipe: %s '%s': not enough space in %s: ", verb, name,
		CLI_SHM_DIR);
	if (info->inodes && !info->inodes_free)
		fprintf(stderr, "no free inode (%s, all %" PRIu64 " inodes in use)",
			where, info->inodes);
	else if (cli_shm_fits(info, need)) /* it fitted a moment ago */
		fprintf(stderr, "could not reserve %s (%" PRIu64 " bytes) (%s)",
			n, need, where);
	else
		fprintf(stderr, "the pipe takes %s (%" PRIu64 " bytes), %s has %" PRIu64 " bytes free (%s)",
			n, need, CLI_SHM_DIR, info->free, where);
	fprintf(stderr, "; %s\n", advice);
}

int cli_shm_check_fit(const char *verb, const char *name, uint64_t need)
{
	struct cli_shm_info info;
	if (cli_shm_info(&info) < 0 || cli_shm_fits(&info, need))
		return 0; /* a missing /dev/shm: creation itself reports it */
	cli_shm_refuse(verb, name, need, &info);
	return -ENOSPC;
}
