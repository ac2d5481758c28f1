/* SPDX-License-Identifier: MIT */
/*
 * sockfault.c - an LD_PRELOAD shim that makes socket calls misbehave the
 * way the kernel is allowed to: short counts, -1/EINTR, -1/EAGAIN. Loaded
 * into `shmpipe serve` by tests/torture/bridge_abuse.sh, it shows that the
 * bridge delivers every unit whole however its sockets answer.
 *
 * Wrapped: exactly the calls src/bridge.c makes on sockets (strace of a
 * serve in both directions shows recvfrom, sendto and accept4 on socket
 * fds; nm -D of the CLI shows them as recv, send and accept4):
 *   recv    short count (asks the kernel for fewer bytes), EINTR, EAGAIN
 *   send    short count (gives the kernel fewer bytes), EINTR, EAGAIN
 *   accept4 EINTR, EAGAIN (the connection stays in the backlog)
 * A fault is injected only when the fd is a socket (fstat S_ISSOCK): the
 * pipe's eventfd, /proc files and the FIFO front are never touched, and
 * read/write (which the bridge uses only on those) are not wrapped.
 * Faults never lose bytes: an injected error transfers nothing, a short
 * count transfers a prefix, exactly as a real call may.
 *
 * Environment:
 *   SOCKFAULT_RATE  percent of socket calls that fail or fall short (0-100;
 *                   unset or 0: the shim only passes calls through)
 *   SOCKFAULT_SEED  seed of the random choices (default 1)
 *   SOCKFAULT_LOG   at exit, append one line there:
 *                   "sockfault pid P calls C faults F short S eintr I eagain A"
 *
 * Build: cc -shared -fPIC -O2 -o sockfault.so tests/shim/sockfault.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);

static int rate = -1; /* percent; -1: not read yet */
static _Atomic uint64_t seed_state;
static _Atomic unsigned long n_calls, n_short, n_eintr, n_eagain;

static void init(void)
{
	if (rate >= 0)
		return;
	const char *r = getenv("SOCKFAULT_RATE");
	const char *s = getenv("SOCKFAULT_SEED");
	int v = r ? atoi(r) : 0;
	uint64_t seed = s ? strtoull(s, NULL, 0) : 1;
	atomic_store(&seed_state, seed * 0x9e3779b97f4a7c15ull + 1);
	real_recv = dlsym(RTLD_NEXT, "recv");
	real_send = dlsym(RTLD_NEXT, "send");
	real_accept4 = dlsym(RTLD_NEXT, "accept4");
	rate = v < 0 ? 0 : v > 100 ? 100 : v;
}

/* splitmix64 over one shared word: the bridge is one thread, and a
 * fetch_add keeps the sequence sane if that ever changes. */
static uint64_t next_random(void)
{
	uint64_t z = atomic_fetch_add(&seed_state, 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int is_socket(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

enum fault { NONE, SHORT, EINTR_, EAGAIN_ };

/* The fault for this call on @fd; @len the bytes asked for (0: no short
 * count possible). */
static enum fault pick(int fd, size_t len)
{
	init();
	if (!rate || !is_socket(fd))
		return NONE;
	atomic_fetch_add(&n_calls, 1);
	uint64_t x = next_random();
	if (x % 100 >= (uint64_t)rate)
		return NONE;
	switch ((x >> 32) % 3) {
	case 0:
		if (len > 1)
			return SHORT;
		/* one byte cannot be cut shorter */
		__attribute__((fallthrough));
	case 1:
		atomic_fetch_add(&n_eintr, 1);
		return EINTR_;
	default:
		atomic_fetch_add(&n_eagain, 1);
		return EAGAIN_;
	}
}

/* A shorter length for a call asked @len (> 1) bytes: often a few bytes
 * (cuts inside a line, a length prefix, a token), else anything below. */
static size_t short_len(size_t len)
{
	uint64_t x = next_random();
	size_t n = x & 1 ? 1 + (x >> 1) % 8 : 1 + (x >> 1) % (len - 1);
	return n < len ? n : len - 1;
}

/* Only a short count that took effect is counted (the kernel may have had
 * fewer bytes anyway, or none). */
static ssize_t count_short(ssize_t n, size_t asked)
{
	if (n > 0 && (size_t)n == asked)
		atomic_fetch_add(&n_short, 1);
	return n;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	switch (pick(fd, len)) {
	case SHORT: {
		size_t n = short_len(len);
		return count_short(real_recv(fd, buf, n, flags), n);
	}
	case EINTR_:
		errno = EINTR;
		return -1;
	case EAGAIN_:
		errno = EAGAIN;
		return -1;
	default:
		return real_recv(fd, buf, len, flags);
	}
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	switch (pick(fd, len)) {
	case SHORT: {
		size_t n = short_len(len);
		return count_short(real_send(fd, buf, n, flags), n);
	}
	case EINTR_:
		errno = EINTR;
		return -1;
	case EAGAIN_:
		errno = EAGAIN;
		return -1;
	default:
		return real_send(fd, buf, len, flags);
	}
}

int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	switch (pick(fd, 0)) {
	case EINTR_:
		errno = EINTR;
		return -1;
	case EAGAIN_:
		errno = EAGAIN;
		return -1;
	default:
		return real_accept4(fd, addr, addrlen, flags);
	}
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("SOCKFAULT_LOG");
	if (!path || rate <= 0)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	unsigned long s = n_short, i = n_eintr, a = n_eagain;
	dprintf(fd, "sockfault pid %d calls %lu faults %lu short %lu eintr %lu "
		    "eagain %lu\n",
		(int)getpid(), (unsigned long)n_calls, s + i + a, s, i, a);
	close(fd);
}
