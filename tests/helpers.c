/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
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

pid_t t_spawn(void)
{
	pid_t parent = getpid();
	pid_t pid = t_fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The parent may have died before prctl(): then nobody would
		 * ever kill this child. */
		if (getppid() != parent)
			_exit(T_FAIL);
	}
	return pid;
}

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int t_wait(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			t_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
	}
	return status_of(st);
}

int t_wait_within(pid_t pid, double secs)
{
	double end = t_now() + secs;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return status_of(st);
		if (r < 0 && errno != EINTR)
			t_fail(__FILE__, __LINE__, "waitpid: %s",
			       strerror(errno));
		if (t_now() > end) {
			kill(pid, SIGKILL);
			t_wait(pid);
			t_fail(__FILE__, __LINE__,
			       "pid %d still running after %.1f s (killed)",
			       (int)pid, secs);
		}
		t_sleep_ms(5);
	}
}

int t_running(pid_t pid)
{
	siginfo_t si;
	si.si_pid = 0;
	T_EQ(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
	return si.si_pid == 0;
}

void t_kill_and_reap(pid_t pid)
{
	T_OK(kill(pid, SIGKILL));
	T_EQ(t_wait(pid), 128 + SIGKILL);
}

void t_say(int fd, char c)
{
	T_EQ(write(fd, &c, 1), 1);
}

char t_hear(int fd)
{
	double end = t_now() + 10;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;
	/* A test's own SIGALRMs must not pass for the other side's silence:
	 * poll again for what is left of the 10 s. */
	do {
		double left = end - t_now();
		n = poll(&p, 1, left > 0 ? (int)(left * 1000) : 0);
	} while (n < 0 && errno == EINTR);
	char c;
	if (n != 1 || read(fd, &c, 1) != 1)
		return 0;
	return c;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void set_alarm_timer(int first_ms, int every_ms)
{
	struct itimerval it = {
		.it_value = { first_ms / 1000, (first_ms % 1000) * 1000 },
		.it_interval = { every_ms / 1000, (every_ms % 1000) * 1000 },
	};
	T_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
}

void t_alarms_start(int first_ms, int every_ms)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = 0; /* no SA_RESTART: sleeping calls get EINTR */
	sigemptyset(&sa.sa_mask);
	T_EQ(sigaction(SIGALRM, &sa, NULL), 0);
	alarms = 0;
	set_alarm_timer(first_ms, every_ms);
}

void t_alarms_stop(void)
{
	set_alarm_timer(0, 0);
}

int t_alarms(void)
{
	return alarms;
}

const char *t_pipe_create(const char *tag, size_t capacity, unsigned kind)
{
	const char *name = t_name(tag);
	struct shmpipe_config cfg = { .capacity = capacity, .kind = kind };
	T_OK(shmpipe_create(name, &cfg));
	return name;
}

shmpipe *t_pipe_open(const char *name, unsigned flags)
{
	shmpipe *p;
	T_OK(shmpipe_open(&p, name, flags));
	return p;
}

uint64_t t_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
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
