/* SPDX-License-Identifier: MIT */
/*
 * bridge_api.c - the bridge's C API as its header documents it:
 * shmpipe_bridge_open() errors (bad configs and addresses -EINVAL with a
 * log line saying which; a missing pipe -ENOENT; a non-loopback address
 * without token nor SHMPIPE_BRIDGE_INSECURE -EPERM, before any bind; a
 * live Unix socket or a regular file at its path -EADDRINUSE; an existing
 * FIFO path -EEXIST), the listeners as bound (127.0.0.0/8 is loopback;
 * "tcp://:0" binds 127.0.0.1), shmpipe_bridge_connect() errors, and a run
 * in a thread: a token-authenticated client's lines arrive, the counters
 * are published for shmpipe_stat() (bridge_pid is ours while open),
 * shmpipe_bridge_run() returns 0 once the stop fd is readable, and
 * shmpipe_bridge_close() removes the Unix socket file and the FIFO.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char last_log[512];

static void keep_log(void *arg, const char *msg)
{
	(void)arg;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static int open_one(shmpipe_bridge **b, const char *pipe, const char *addr,
		    unsigned flags)
{
	const char *listen[] = { addr, NULL };
	struct shmpipe_bridge_config cfg = {
		.pipe = pipe, .listen = listen, .flags = flags,
		.log = keep_log,
	};
	last_log[0] = '\0';
	return shmpipe_bridge_open(b, &cfg);
}

static void expect_open_error(const char *pipe, const char *addr, int err,
			      const char *log_has)
{
	shmpipe_bridge *b = (void *)1;
	int r = open_one(&b, pipe, addr, 0);
	if (r != -err)
		t_fail(__FILE__, __LINE__, "open '%s': %d (%s), want -%d",
		       addr, r, shmpipe_strerror(r), err);
	if (!strstr(last_log, log_has))
		t_fail(__FILE__, __LINE__, "open '%s': log '%s', want '%s'",
		       addr, last_log, log_has);
}

static char dir[] = "/tmp/bridge_api.XXXXXX";

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* At exit, pass or fail: the temporary directory and what is in it. */
static void remove_dir(void)
{
	char p[sizeof(dir) + 8];
	const char *names[] = { "s", "fifo" };
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

struct runner {
	shmpipe_bridge *b;
	int stop_fd;
	int result;
};

static void *run(void *arg)
{
	struct runner *r = arg;
	r->result = shmpipe_bridge_run(r->b, r->stop_fd, -1);
	return NULL;
}

int main(void)
{
	const char *pipe = t_name("api");
	char path[128], fifo[128];
	struct shmpipe_config pc = { .capacity = 65536,
				     .kind = SHMPIPE_MESSAGE };
	T_OK(shmpipe_create(pipe, &pc));
	T_ASSERT(mkdtemp(dir));
	atexit(remove_dir);

	/* configs */
	shmpipe_bridge *b = NULL;
	const char *none[] = { NULL };
	const char *lo[] = { "tcp://:0", NULL };
	struct shmpipe_bridge_config cfg = { .pipe = pipe, .listen = none };
	T_ERR(shmpipe_bridge_open(&b, NULL), EINVAL);
	T_ERR(shmpipe_bridge_open(&b, &cfg), EINVAL);
	cfg.listen = lo;
	cfg.direction = 2;
	T_ERR(shmpipe_bridge_open(&b, &cfg), EINVAL);
	cfg.direction = SHMPIPE_BRIDGE_IN;
	cfg.framing = 3;
	T_ERR(shmpipe_bridge_open(&b, &cfg), EINVAL);
	cfg.framing = SHMPIPE_FRAMING_LINES;
	cfg.flags = 0x80;
	T_ERR(shmpipe_bridge_open(&b, &cfg), EINVAL);
	cfg.flags = 0;
	cfg.token = "x";
	T_ERR(shmpipe_bridge_open(&b, &cfg), EINVAL); /* token_len 0 */
	cfg.token = NULL;
	const char *many[18];
	for (int i = 0; i < 17; i++)
		many[i] = "tcp://:0";
	many[17] = NULL;
	cfg.listen = many;
	cfg.log = keep_log;
	T_ERR(shmpipe_bridge_open(&b, &cfg), EINVAL); /* 16 at most */
	T_ASSERT(strstr(last_log, "at most 16"));
	T_ASSERT(b == NULL);

	/* addresses */
	expect_open_error(pipe, "tcp://example.com:0", EINVAL, "bad address");
	expect_open_error(pipe, "tcp://127.0.0.1:65536", EINVAL, "bad address");
	expect_open_error(pipe, "tcp://127.0.0.1", EINVAL, "bad address");
	expect_open_error(pipe, "tcp://[::1]", EINVAL, "bad address");
	expect_open_error(pipe, "tcp://[::1:0", EINVAL, "bad address");
	expect_open_error(pipe, "udp://127.0.0.1:0", EINVAL, "bad address");
	expect_open_error(pipe, "unix:", EINVAL, "bad address");
	expect_open_error(t_name("none"), "tcp://:0", ENOENT, "open pipe");
	/* non-loopback, no token: refused before any socket exists */
	expect_open_error(pipe, "tcp://0.0.0.0:0", EPERM, "non-loopback");
	expect_open_error(pipe, "tcp://[::]:0", EPERM, "non-loopback");
	expect_open_error(pipe, "tcp://10.199.0.1:0", EPERM, "non-loopback");
	expect_open_error(pipe, "tcp://[::ffff:10.0.0.1]:0", EPERM,
			  "non-loopback");
	/* 127.0.0.0/8 is loopback; "tcp://:0" and localhost are 127.0.0.1 */
	T_OK(open_one(&b, pipe, "tcp://127.1.2.3:0", 0));
	T_EQ(shmpipe_bridge_listener_count(b), 1);
	T_ASSERT(!strncmp(shmpipe_bridge_listener(b, 0), "tcp://127.1.2.3:",
			  16));
	T_ASSERT(shmpipe_bridge_listener(b, 1) == NULL);
	shmpipe_bridge_close(b);
	T_OK(open_one(&b, pipe, "tcp://localhost:0", 0));
	T_ASSERT(!strncmp(shmpipe_bridge_listener(b, 0), "tcp://127.0.0.1:",
			  16));
	shmpipe_bridge_close(b);
	/* INSECURE lets a non-loopback address be bound (nothing talks to
	 * it: it is closed at once) */
	T_OK(open_one(&b, pipe, "tcp://0.0.0.0:0", SHMPIPE_BRIDGE_INSECURE));
	T_ASSERT(!strncmp(shmpipe_bridge_listener(b, 0), "tcp://0.0.0.0:", 14));
	shmpipe_bridge_close(b);
	shmpipe_bridge_close(NULL);

	/* Unix socket paths: a live socket and a regular file are never
	 * taken over; a stale socket is */
	snprintf(path, sizeof(path), "unix:%s/s", dir);
	shmpipe_bridge *live;
	T_OK(open_one(&live, pipe, path, 0));
	T_ASSERT(!strcmp(shmpipe_bridge_listener(live, 0), path));
	expect_open_error(pipe, path, EADDRINUSE, "in use by a live server");
	struct stat st;
	T_OK(stat(path + 5, &st));
	T_ASSERT(S_ISSOCK(st.st_mode));
	shmpipe_bridge_close(live);
	T_ASSERT(!exists(path + 5)); /* removed */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/s", dir);
	T_OK(bind(fd, (struct sockaddr *)&un, sizeof(un)));
	close(fd); /* a stale socket file: nothing answers */
	T_ERR(shmpipe_bridge_connect(path, NULL, 0), ECONNREFUSED);
	T_OK(open_one(&b, pipe, path, 0));
	shmpipe_bridge_close(b);
	FILE *f = fopen(un.sun_path, "w");
	T_ASSERT(f);
	fclose(f);
	expect_open_error(pipe, path, EADDRINUSE, "");
	T_OK(stat(un.sun_path, &st));
	T_ASSERT(S_ISREG(st.st_mode));
	T_OK(unlink(un.sun_path));

	/* shmpipe_bridge_connect errors */
	T_ERR(shmpipe_bridge_connect("nowhere", NULL, 0), EINVAL);
	T_ERR(shmpipe_bridge_connect(path, NULL, 0), ENOENT);
	static char big[5000];
	T_ERR(shmpipe_bridge_connect("tcp://127.0.0.1:1", big, sizeof(big)),
	      EINVAL);

	/* an existing FIFO path */
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	T_OK(mkfifo(fifo, 0600));
	const char *both[] = { "tcp://:0", path, NULL };
	struct shmpipe_bridge_config full = {
		.pipe = pipe, .listen = both, .framing = SHMPIPE_FRAMING_LINES,
		.token = "sesame", .token_len = 6, .fifo = fifo,
		.log = keep_log,
	};
	T_ERR(shmpipe_bridge_open(&b, &full), EEXIST);
	T_ASSERT(!exists(path + 5)); /* undone */
	T_OK(unlink(fifo));

	/* a run */
	struct runner r = { .stop_fd = eventfd(0, EFD_CLOEXEC) };
	T_ASSERT(r.stop_fd >= 0);
	T_OK(shmpipe_bridge_open(&r.b, &full));
	T_EQ(shmpipe_bridge_listener_count(r.b), 2);
	T_OK(stat(fifo, &st));
	T_ASSERT(S_ISFIFO(st.st_mode));
	struct shmpipe_stats ps;
	T_OK(shmpipe_stat(pipe, &ps));
	T_EQ(ps.bridge_pid, getpid());
	pthread_t th;
	T_EQ(pthread_create(&th, NULL, run, &r), 0);
	for (int i = 0; i < 2; i++) {
		const char *addr = shmpipe_bridge_listener(r.b, (size_t)i);
		int c = shmpipe_bridge_connect(addr, "sesame", 6);
		T_OK(c);
		const char *lines = i ? "unix-1\nunix-2\n" : "tcp-1\ntcp-2\n";
		T_EQ(write(c, lines, strlen(lines)), (long long)strlen(lines));
		shutdown(c, SHUT_WR);
		char tmp[16];
		T_EQ(read(c, tmp, sizeof(tmp)), 0); /* the bridge closes */
		close(c);
	}
	shmpipe *rd;
	T_OK(shmpipe_open(&rd, pipe, SHMPIPE_READ));
	const char *want[] = { "tcp-1", "tcp-2", "unix-1", "unix-2" };
	for (int i = 0; i < 4; i++) {
		char msg[64];
		ssize_t n = shmpipe_read(rd, msg, sizeof(msg), 5000);
		T_EQ(n, (long long)strlen(want[i]));
		T_ASSERT(!memcmp(msg, want[i], (size_t)n));
	}
	shmpipe_close(rd);
	T_OK(shmpipe_stat(pipe, &ps));
	T_EQ(ps.bridge.accepted, 2);
	T_EQ(ps.bridge.units, 4);
	T_EQ(ps.bridge.bytes, 22);
	uint64_t one = 1;
	T_EQ(write(r.stop_fd, &one, sizeof(one)), 8);
	T_EQ(pthread_join(th, NULL), 0);
	T_EQ(r.result, 0);
	struct shmpipe_bridge_stats bs;
	shmpipe_bridge_stats(r.b, &bs);
	T_EQ(bs.accepted, 2);
	T_EQ(bs.active, 0);
	T_EQ(bs.units, 4);
	T_EQ(bs.token_failures, 0);
	shmpipe_bridge_close(r.b);
	T_ASSERT(!exists(path + 5));
	T_ASSERT(!exists(fifo));
	T_OK(shmpipe_stat(pipe, &ps));
	T_EQ(ps.bridge_pid, 0);
	close(r.stop_fd);
	return T_PASS;
}
