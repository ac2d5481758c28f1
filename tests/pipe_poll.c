/* SPDX-License-Identifier: MIT */
/*
 * pipe_poll.c - shmpipe_fd() in an epoll loop:
 *  - reader handle: not readable while the pipe is empty (a writer
 *    attached); readable within a second after another process writes;
 *    not readable again within a second after this one drains it (and
 *    staying so); readable at end of file (the writer closed), where a
 *    read returns 0, or the writer was SIGKILLed (readable within two
 *    seconds); on a pipe no writer has opened, not readable until a writer
 *    has opened and closed;
 *  - writer handle: writable while there is room; not writable within a
 *    second after it fills the pipe (and staying so); writable again within
 *    a second after another process reads; in a message pipe, not writable
 *    while the room is less than a header plus one byte;
 *  - the fd is the same on every call, and closing the handle with the fd
 *    still in an epoll set is clean: 50 cycles of open, fd, epoll_ctl,
 *    close leave the number of open fds and of threads as they were.
 */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------- epoll */

/* The events epoll reports for its one fd within @ms, 0 if none. */
static unsigned events(int ep, int ms)
{
	struct epoll_event ev;
	int n;
	while ((n = epoll_wait(ep, &ev, 1, ms)) < 0 && errno == EINTR)
		;
	T_ASSERT(n >= 0);
	return n ? ev.events : 0;
}

/* Whether @mask becomes ready within @ms, polling as an event loop would. */
static int becomes(int ep, unsigned mask, int ms)
{
	return (events(ep, ms) & mask) != 0;
}

/* Whether @mask stops being reported within @ms. */
static int stops(int ep, unsigned mask, int ms)
{
	double end = t_now() + ms / 1000.0;
	do {
		if (!(events(ep, 0) & mask))
			return 1;
		t_sleep_ms(5);
	} while (t_now() < end);
	return 0;
}

static int epoll_for(int fd, unsigned mask)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	T_ASSERT(ep >= 0);
	struct epoll_event ev = { .events = mask, .data.fd = fd };
	T_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	return ep;
}

/* ---------------------------------------------------------------- tests */

/* The other side, in a child: does what the parent says, one letter at a
 * time ('w' write 100 bytes, 'r' read 100 bytes, 'c' close), answering
 * each with 'k'. */
static void servant(const char *name, unsigned flags, int fd)
{
	shmpipe *p = t_pipe_open(name, flags);
	t_say(fd, 'k');
	char buf[100];
	for (;;) {
		char c = t_hear(fd);
		switch (c) {
		case 'w':
			memset(buf, 'd', sizeof(buf));
			T_EQ(shmpipe_write(p, buf, sizeof(buf), 5000), 100);
			break;
		case 'r':
			T_EQ(shmpipe_read(p, buf, sizeof(buf), 5000), 100);
			break;
		case 'c':
			shmpipe_close(p);
			p = NULL;
			break;
		case 'q':
			shmpipe_close(p);
			_exit(T_PASS);
		default:
			_exit(T_FAIL);
		}
		t_say(fd, 'k');
	}
}

static pid_t start_servant(const char *name, unsigned flags, int *fd)
{
	int sv[2];
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid_t pid = t_spawn();
	if (pid == 0) {
		close(sv[0]);
		servant(name, flags, sv[1]);
	}
	close(sv[1]);
	*fd = sv[0];
	T_EQ(t_hear(*fd), 'k');
	return pid;
}

static void order(int fd, char c)
{
	t_say(fd, c);
	T_EQ(t_hear(fd), 'k');
}

static void test_reader(void)
{
	const char *name = t_pipe_create("rd", 1000, SHMPIPE_STREAM);
	int ctl;
	pid_t pid = start_servant(name, SHMPIPE_WRITE, &ctl);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	int fd = shmpipe_fd(r);
	T_ASSERT(fd >= 0);
	T_EQ(shmpipe_fd(r), fd);
	int ep = epoll_for(fd, EPOLLIN);
	T_ASSERT(!becomes(ep, EPOLLIN, 300));

	char buf[1000];
	for (int round = 0; round < 3; round++) {
		order(ctl, 'w');
		T_ASSERT(becomes(ep, EPOLLIN, 1000));
		T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 100);
		T_ASSERT(stops(ep, EPOLLIN, 1000));
		T_ASSERT(!becomes(ep, EPOLLIN, 200));
		T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN);
	}
	/* Readable while data is left, not only on arrival. */
	order(ctl, 'w');
	order(ctl, 'w');
	T_ASSERT(becomes(ep, EPOLLIN, 1000));
	T_EQ(shmpipe_read(r, buf, 150, 0), 150);
	t_sleep_ms(100);
	T_ASSERT(becomes(ep, EPOLLIN, 0));
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 50);
	T_ASSERT(stops(ep, EPOLLIN, 1000));

	/* End of file is readable. */
	order(ctl, 'c');
	T_ASSERT(becomes(ep, EPOLLIN, 1000));
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 0);
	t_sleep_ms(100);
	T_ASSERT(becomes(ep, EPOLLIN, 0)); /* and stays so */
	t_say(ctl, 'q');
	T_EQ(t_wait_within(pid, 5), T_PASS);
	close(ep);
	T_EQ(shmpipe_fd(r), fd);
	shmpipe_close(r);
	close(ctl);
}

/* A pipe no writer has opened is not at end of file: not readable, until a
 * writer has come and gone. */
static void test_reader_never_opened(void)
{
	const char *name = t_pipe_create("never", 100, SHMPIPE_STREAM);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	int ep = epoll_for(shmpipe_fd(r), EPOLLIN);
	T_ASSERT(!becomes(ep, EPOLLIN, 300));
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	T_ASSERT(!becomes(ep, EPOLLIN, 200));
	shmpipe_close(w);
	T_ASSERT(becomes(ep, EPOLLIN, 1000));
	char c;
	T_EQ(shmpipe_read(r, &c, 1, 0), 0);
	close(ep);
	shmpipe_close(r);
}

/* The only writer is SIGKILLed (and not reaped yet): end of file, so
 * readable, within a couple of seconds. */
static void test_reader_writer_killed(void)
{
	const char *name = t_pipe_create("killed", 100, SHMPIPE_STREAM);
	int ctl;
	pid_t pid = start_servant(name, SHMPIPE_WRITE, &ctl);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	int ep = epoll_for(shmpipe_fd(r), EPOLLIN);
	T_ASSERT(!becomes(ep, EPOLLIN, 300));
	T_EQ(kill(pid, SIGKILL), 0);
	T_ASSERT(becomes(ep, EPOLLIN, 2000));
	char c;
	T_EQ(shmpipe_read(r, &c, 1, 0), 0);
	T_EQ(t_wait_within(pid, 5), 128 + SIGKILL);
	close(ep);
	shmpipe_close(r);
	close(ctl);
}

static void test_writer(void)
{
	const char *name = t_pipe_create("wr", 1000, SHMPIPE_STREAM);
	int ctl;
	pid_t pid = start_servant(name, SHMPIPE_READ, &ctl);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	int fd = shmpipe_fd(w);
	T_ASSERT(fd >= 0);
	T_EQ(shmpipe_fd(w), fd);
	int ep = epoll_for(fd, EPOLLOUT);
	T_ASSERT(becomes(ep, EPOLLOUT, 1000));

	char buf[1000];
	memset(buf, 'x', sizeof(buf));
	for (int round = 0; round < 3; round++) {
		/* Full after several writes; the last byte counts. */
		T_EQ(shmpipe_write(w, buf, round ? 100 : 999, 0),
		     round ? 100 : 999);
		if (round == 0) {
			t_sleep_ms(100);
			T_ASSERT(becomes(ep, EPOLLOUT, 0));
			T_EQ(shmpipe_write(w, buf, 1, 0), 1);
		}
		T_ASSERT(stops(ep, EPOLLOUT, 1000));
		T_ASSERT(!becomes(ep, EPOLLOUT, 200));
		T_ERR(shmpipe_write(w, buf, 1, 0), EAGAIN);
		order(ctl, 'r');
		T_ASSERT(becomes(ep, EPOLLOUT, 1000));
	}
	t_say(ctl, 'q');
	T_EQ(t_wait_within(pid, 5), T_PASS);
	close(ep);
	shmpipe_close(w);
	close(ctl);
}

/* A message pipe is writable while a header and one byte fit. */
static void test_message_writer(void)
{
	const char *name = t_pipe_create("msg", 64, SHMPIPE_MESSAGE);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	int ep = epoll_for(shmpipe_fd(w), EPOLLOUT);
	T_ASSERT(becomes(ep, EPOLLOUT, 1000));
	char buf[64] = { 0 };
	T_EQ(shmpipe_write(w, buf, 40, 0), 40); /* 48 taken, 16 free */
	t_sleep_ms(100);
	T_ASSERT(becomes(ep, EPOLLOUT, 0));
	T_EQ(shmpipe_write(w, buf, 1, 0), 1); /* 64 taken */
	T_ASSERT(stops(ep, EPOLLOUT, 1000));
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 40);
	T_ASSERT(becomes(ep, EPOLLOUT, 1000));
	close(ep);
	shmpipe_close(r);
	shmpipe_close(w);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	T_ASSERT(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_close_registered(void)
{
	const char *name = t_pipe_create("leak", 100, SHMPIPE_STREAM);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	T_EQ(shmpipe_write(w, "z", 1, 0), 1);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	T_ASSERT(ep >= 0);
	int fds = count_entries("/proc/self/fd");
	int threads = count_entries("/proc/self/task");
	for (int i = 0; i < 50; i++) {
		shmpipe *p =
			t_pipe_open(name, i % 2 ? SHMPIPE_READ : SHMPIPE_WRITE);
		int fd = shmpipe_fd(p);
		T_ASSERT(fd >= 0);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
		T_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
		T_ASSERT(events(ep, 1000) != 0); /* data there, room there */
		shmpipe_close(p);		 /* still registered */
	}
	T_EQ(count_entries("/proc/self/fd"), fds);
	T_EQ(count_entries("/proc/self/task"), threads);
	T_EQ(events(ep, 0), 0); /* closed fds leave the set */
	close(ep);
	shmpipe_close(w);
}

int main(void)
{
	test_reader();
	test_reader_never_opened();
	test_reader_writer_killed();
	test_writer();
	test_message_writer();
	test_close_registered();
	return T_PASS;
}
