/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "helpers.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char names[32][64];
static int name_count;
static pid_t owner_pid;

void t_cleanup(void)
{
	if (getpid() != owner_pid)
		return; /* children do not remove the parent's objects */
	for (int i = 0; i < name_count; i++) {
		shmpipe_region_unlink(names[i]);
		shmpipe_sem_unlink(names[i]);
	}
}

const char *t_name(const char *tag)
{
	if (name_count == 0) {
		owner_pid = getpid();
		atexit(t_cleanup);
	}
	if (name_count == 32) {
		fprintf(stderr, "t_name: too many names\n");
		exit(T_FAIL);
	}
	char *n = names[name_count++];
	snprintf(n, sizeof(names[0]), "t-%ld-%s", (long)getpid(), tag);
	return n;
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(T_FAIL); /* atexit runs t_cleanup */
}

void t_skip(const char *why)
{
	fprintf(stderr, "SKIP: %s\n", why);
	exit(T_SKIP);
}

pid_t t_fork(void)
{
	fflush(NULL);
	pid_t p = fork();
	if (p < 0)
		t_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	return p;
}

int t_wait(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			t_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

double t_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void t_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int t_shm_mode(const char *prefix, const char *name)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "/dev/shm/%s%s", prefix, name);
	if (lstat(path, &st) < 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

int t_shm_exists(const char *prefix, const char *name)
{
	return t_shm_mode(prefix, name) >= 0;
}
