/* SPDX-License-Identifier: MIT */
/*
 * xfer_bench.c - moving bytes and messages from one process to another:
 * shmpipe against the kernel's transports, side by side in one run.
 *
 *   xfer_bench [--runs N] [--quick] [--pin] [--csv FILE]
 *              [--case throughput|msgrate|growth|all] [--verbose]
 *
 * Method
 *  - One writer process (forked afresh for every run) and one reader (the
 *    bench itself). With --pin the reader runs on CPU 0 and the writer on
 *    CPU 1 (bench_place); without it the scheduler places them, which is
 *    what users get.
 *  - The transport is set up before the clock starts: the shmpipe created,
 *    the kernel pipe made, the sockets connected, the FIFO opened, the
 *    queue opened. A run is timed from just before fork() to the moment the
 *    reader has received and checked the last byte (or message); the same
 *    for every transport, so the writer's start (and, for shmpipe, both
 *    shmpipe_open calls) is inside the time. Then the reader waits for end
 *    of file and dies if anything more arrives.
 *  - Every byte is checked. A stream is compared with bench_pattern at its
 *    stream offset (the writer sends bench_pattern from pos % BENCH_PATTERN,
 *    a prime, so a lost, repeated or reordered write shows). A message
 *    carries its sequence number spread over all its 64 bytes. Any
 *    difference ends the bench (bench_die): a broken fast path never
 *    prints a figure.
 *  - Volume per run: before its cell, each contender is calibrated by runs
 *    of growing volume (not recorded) until one lasts a fifth of the target;
 *    its volume per run is then the one expected to last the target, 0.2 s
 *    (0.03 s with --quick), in whole writes or messages. So slow and fast
 *    transports run for about the same time, and small writes move fewer
 *    bytes. The calibration also warms every contender up. --verbose
 *    prints the volumes.
 *  - The contenders of a cell alternate run by run (bench_cell: A B C A B
 *    C ...); a table gives the median, min and max of the runs and the
 *    ratio of medians against the baseline.
 *
 * Cases and transports (CSV names):
 *  throughput  param = write size: 64, 4096, 65536, 1048576 bytes; metric
 *              gbps (10^9 bytes/s). Every reader reads into a buffer of
 *              max(size, 64 KiB) until end of file, except shmpipe-peek.
 *    shmpipe       stream pipe of 8 MiB, fresh for every run:
 *                  shmpipe_write() of the size, shmpipe_read() by the
 *                  reader. The time includes the first touch of the ring's
 *                  pages by both sides (a few ms: some 2% of a 0.2 s run,
 *                  more with --quick), as the kernel transports' times
 *                  include their own setup inside the kernel.
 *    shmpipe-peek  the same writer; the reader takes all that
 *                  shmpipe_peek() shows, checks it in place and
 *                  shmpipe_release()s it (zero-copy)
 *    pipe          pipe2(), default size: the baseline of the ratios
 *    pipe-1m       pipe2() grown to 1 MiB with F_SETPIPE_SZ (the baseline
 *                  of the target ">= 5x at 64 KiB writes into an 8 MiB
 *                  stream pipe")
 *    fifo          mkfifo() in a mkdtemp() directory under /tmp, default
 *                  size; both ends are opened before fork() and the name
 *                  and directory removed at once
 *    socketpair    AF_UNIX SOCK_STREAM socketpair
 *    tcp           TCP over 127.0.0.1: listen on an ephemeral port,
 *                  connect, accept; default buffers, Nagle on
 *    mq            POSIX message queue, one message per write (message
 *                  size = write size), queue depth fs.mqueue.msg_max,
 *                  a zero-length message as end of file. A size above
 *                  fs.mqueue.msgsize_max (the limit of unprivileged users;
 *                  root could go beyond it) or refused by mq_open is
 *                  "impossible", said so in the table and the CSV.
 *  msgrate     param 64, metric mmsgs (10^6 messages/s) of 64-byte
 *              messages, one write or send per message; the reader checks
 *              each message's sequence number and content.
 *    shmpipe       message pipe of 1 MiB, shmpipe_write/shmpipe_read
 *    shmpipe-excl  the same with SHMPIPE_EXCLUSIVE on both sides (the
 *                  lock-free single-writer single-reader path)
 *    pipe          one write() per message; the reader reads 64 KiB chunks
 *                  and splits them every 64 bytes: the baseline
 *    socketpair-seqpacket  AF_UNIX SOCK_SEQPACKET, one send()/recv() per
 *                  message
 *    tcp           127.0.0.1, Nagle on (no TCP_NODELAY), 64-byte sends,
 *                  the reader reads chunks and splits them
 *    mq            POSIX message queue of 64-byte messages
 *  growth      transport shmpipe, param = capacity L: 64 KiB, 1 MiB,
 *              16 MiB, 256 MiB; metric gbps of 64 KiB writes, shmpipe_read.
 *              Each L is a cell of its own (a one-row table), so the CSV
 *              rows are (growth, shmpipe, L) as the report plots them; the
 *              ratios against L = 64 KiB are printed after the four
 *              tables. (The price: runs of different L do not alternate.)
 *              Unlike the other cases, the clock starts once the reader
 *              has read the first L bytes: by then both sides have touched
 *              every page of the ring, so the figure is the steady state,
 *              not the first-touch page faults of a fresh pipe (one-time
 *              costs that would otherwise weigh more the larger L, and
 *              depend on the volume chosen). The rate is that of the bytes
 *              after that point; at least 3 L of them (1 L with --quick).
 *
 * Names and cleanup: the shmpipe is "bench-<pid>-xfer", created with
 * SHMPIPE_REPLACE, registered with bench_cleanup_pipe() (removed when the
 * bench dies or is interrupted) and unlinked after every run. The queue's
 * and the FIFO's names are removed as soon as both ends are open, before
 * anything can fail or block. Uses only shmpipe's public API.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "shmpipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define KIB		 ((size_t)1 << 10)
#define MIB		 ((size_t)1 << 20)
#define MSG_SIZE	 64
#define READ_MIN	 (64 * KIB) /* the readers' buffer: max(size, READ_MIN) */
#define MAX_STREAM_BYTES ((uint64_t)64 << 30) /* per run */
#define MAX_MESSAGES	 ((uint64_t)1000000000)

enum kind {
	K_SHMPIPE,
	K_SHMPIPE_PEEK,
	K_PIPE,
	K_FIFO,
	K_SOCKETPAIR,
	K_SEQPACKET,
	K_TCP,
	K_MQ,
};

/* One contender of a table row: what it is, and what calibrate() found. */
struct xfer {
	const char *transport; /* CSV name */
	enum kind kind;
	int messages;	 /* msgrate: units are numbered 64-byte messages */
	size_t size;	 /* bytes per write (or message) */
	size_t capacity; /* shmpipe capacity; pipe: F_SETPIPE_SZ, 0 default */
	unsigned flags;	 /* extra shmpipe_open() flags */
	uint64_t min_units;  /* per run, at least */
	uint64_t units;	     /* writes or messages per run */
	uint64_t warm_units; /* growth: writes before the clock starts */
};

/* A transport as the case tables list it. */
struct contender {
	const char *transport, *label;
	enum kind kind;
	size_t capacity;
	unsigned flags;
};

static char pipe_name[64], mq_name[64];
static long mq_depth = 10, mq_msgsize_max = 8192;
static int verbose;

static const char *human_size(size_t n, char *buf, size_t len)
{
	if (n >= MIB && n % MIB == 0)
		snprintf(buf, len, "%zu MiB", n / MIB);
	else if (n >= KIB && n % KIB == 0)
		snprintf(buf, len, "%zu KiB", n / KIB);
	else
		snprintf(buf, len, "%zu B", n);
	return buf;
}

/* Dies with what went wrong in the data of @x, and where. */
static void __attribute__((noreturn))
data_fail(const struct xfer *x, const char *what, uint64_t at)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "%s, %zu-byte %s: %s at %s %llu",
		 x->transport, x->size, x->messages ? "messages" : "writes",
		 what, x->messages ? "message" : "byte",
		 (unsigned long long)at);
	bench_die(msg, -EIO);
}

/* The stream offset of the first byte of the @n at @p (stream offset
 * @pos) that differs from the pattern: for the message of a failed check. */
static uint64_t first_difference(const unsigned char *p, size_t n, uint64_t pos)
{
	size_t i = 0;
	while (i < n && p[i] == bench_pattern[(pos + i) % BENCH_PATTERN])
		i++;
	return pos + i;
}

/* The bytes to write at stream offset @pos (the pattern has 1 MiB in a
 * row from any offset, and no write is longer). */
static const unsigned char *pattern_at(uint64_t pos)
{
	return bench_pattern + pos % BENCH_PATTERN;
}

/* Message @seq: its number, xored with a different constant in each of
 * the 8 words, so a torn, stale or misplaced message shows. */
static void msg_fill(unsigned char *m, uint64_t seq)
{
	for (uint64_t j = 0; j < MSG_SIZE / 8; j++) {
		uint64_t w = seq ^ (j * 0x9e3779b97f4a7c15ull);
		memcpy(m + 8 * j, &w, 8);
	}
}

static int msg_bad(const unsigned char *m, uint64_t seq)
{
	unsigned char want[MSG_SIZE];
	msg_fill(want, seq);
	return memcmp(m, want, MSG_SIZE) != 0;
}

static unsigned char read_buf[MIB + MSG_SIZE];

static size_t read_size(const struct xfer *x)
{
	return x->size > READ_MIN ? x->size : READ_MIN;
}

/* ------------------------------------------------------------- shmpipe */

static void shm_writer(const struct xfer *x, uint64_t units)
{
	shmpipe *w;
	int r = shmpipe_open(&w, pipe_name, SHMPIPE_WRITE | x->flags);
	if (r < 0)
		bench_die("writer: shmpipe_open", r);
	unsigned char msg[MSG_SIZE];
	for (uint64_t i = 0; i < x->warm_units + units; i++) {
		const void *p = pattern_at(i * x->size);
		if (x->messages) {
			msg_fill(msg, i);
			p = msg;
		}
		ssize_t n = shmpipe_write(w, p, x->size, -1);
		if (n != (ssize_t)x->size)
			bench_die("writer: shmpipe_write", n < 0 ? n : -EIO);
	}
	shmpipe_close(w);
}

/* Each reader returns the time at which it had checked the last unit,
 * after seeing end of file right behind it. This one also notes when it
 * had read @warm bytes or more (*@t_warm) and how many (*@got_warm). */
static double shm_read_stream(const struct xfer *x, shmpipe *rd, uint64_t total,
			      uint64_t warm, double *t_warm, uint64_t *got_warm)
{
	uint64_t got = 0;
	double t = 0;
	for (;;) {
		ssize_t n = shmpipe_read(rd, read_buf, read_size(x), -1);
		if (n < 0)
			bench_die("reader: shmpipe_read", n);
		if (n == 0)
			break;
		if ((uint64_t)n > total - got)
			data_fail(x, "more bytes than were sent", got);
		if (bench_check(read_buf, (size_t)n, got))
			data_fail(x, "bytes differ from those sent",
				  first_difference(read_buf, (size_t)n, got));
		got += (uint64_t)n;
		if (warm && !*got_warm && got >= warm) {
			*t_warm = bench_now();
			*got_warm = got;
		}
		if (got == total)
			t = bench_now();
	}
	if (got != total)
		data_fail(x, "end of file", got);
	return t;
}

static double shm_peek_stream(const struct xfer *x, shmpipe *rd, uint64_t total)
{
	uint64_t got = 0;
	double t = 0;
	for (;;) {
		const void *p;
		ssize_t n = shmpipe_peek(rd, &p, -1);
		if (n < 0)
			bench_die("reader: shmpipe_peek", n);
		if (n == 0)
			break;
		if ((uint64_t)n > total - got)
			data_fail(x, "more bytes than were sent", got);
		if (bench_check(p, (size_t)n, got))
			data_fail(x, "bytes differ from those sent",
				  first_difference(p, (size_t)n, got));
		int r = shmpipe_release(rd, (size_t)n);
		if (r < 0)
			bench_die("reader: shmpipe_release", r);
		got += (uint64_t)n;
		if (got == total)
			t = bench_now();
	}
	if (got != total)
		data_fail(x, "end of file", got);
	return t;
}

static double shm_read_messages(const struct xfer *x, shmpipe *rd,
				uint64_t count)
{
	unsigned char msg[MSG_SIZE];
	uint64_t seq = 0;
	double t = 0;
	for (;;) {
		ssize_t n = shmpipe_read(rd, msg, sizeof(msg), -1);
		if (n < 0)
			bench_die("reader: shmpipe_read", n);
		if (n == 0)
			break;
		if (seq == count)
			data_fail(x, "more messages than were sent", seq);
		if (n != MSG_SIZE || msg_bad(msg, seq))
			data_fail(x, "wrong message", seq);
		if (++seq == count)
			t = bench_now();
	}
	if (seq != count)
		data_fail(x, "end of file", seq);
	return t;
}

static double measure_shmpipe(const struct xfer *x, uint64_t units)
{
	struct shmpipe_config cfg = {
		.capacity = x->capacity,
		.kind = x->messages ? SHMPIPE_MESSAGE : SHMPIPE_STREAM,
		.flags = SHMPIPE_REPLACE,
	};
	int r = shmpipe_create(pipe_name, &cfg);
	if (r < 0)
		bench_die("shmpipe_create", r);
	double t0 = bench_now();
	pid_t pid = bench_fork();
	if (pid == 0) {
		bench_place(1);
		shm_writer(x, units);
		_exit(0);
	}
	shmpipe *rd;
	r = shmpipe_open(&rd, pipe_name, SHMPIPE_READ | x->flags);
	if (r < 0)
		bench_die("reader: shmpipe_open", r);
	uint64_t warm = x->warm_units * x->size, total = units * x->size + warm;
	uint64_t got_warm = 0;
	double t1, t_warm = 0;
	if (x->messages)
		t1 = shm_read_messages(x, rd, units);
	else if (x->kind == K_SHMPIPE_PEEK)
		t1 = shm_peek_stream(x, rd, total);
	else
		t1 = shm_read_stream(x, rd, total, warm, &t_warm, &got_warm);
	shmpipe_close(rd);
	bench_wait_ok(pid, "writer");
	shmpipe_unlink(pipe_name);
	if (!warm)
		return t1 - t0;
	if (got_warm >= total)
		bench_die("growth: nothing left to time after the warm-up",
			  -EIO);
	/* the time the @units writes took at the rate after the warm-up */
	return (t1 - t_warm) * (double)(total - warm) /
	       (double)(total - got_warm);
}

/* ------------------------------------------------ pipes, FIFO, sockets */

static void open_fifo(int fd[2])
{
	char dir[] = "/tmp/xfer_bench.XXXXXX", path[64];
	if (!mkdtemp(dir))
		bench_die("mkdtemp", 0);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	int err = mkfifo(path, 0600) < 0 ? errno : 0;
	/* The read end first, without waiting for a writer; then the write
	 * end finds a reader and opens at once. */
	fd[0] = err ? -1 : open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	err = err ? err : fd[0] < 0 ? errno : 0;
	fd[1] = err ? -1 : open(path, O_WRONLY | O_CLOEXEC);
	err = err ? err : fd[1] < 0 ? errno : 0;
	unlink(path);
	rmdir(dir);
	if (err) {
		errno = err;
		bench_die("FIFO", 0);
	}
	int fl = fcntl(fd[0], F_GETFL);
	if (fl < 0 || fcntl(fd[0], F_SETFL, fl & ~O_NONBLOCK) < 0)
		bench_die("FIFO: F_SETFL", 0); /* blocking reads again */
}

static void open_tcp(int fd[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &len) < 0)
		bench_die("TCP listen", 0);
	fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd[1] < 0 || connect(fd[1], (struct sockaddr *)&a, sizeof(a)) < 0)
		bench_die("TCP connect", 0);
	fd[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (fd[0] < 0)
		bench_die("TCP accept", 0);
	close(l);
}

/* fd[0] the reader's end, fd[1] the writer's. */
static void open_fds(const struct xfer *x, int fd[2])
{
	switch (x->kind) {
	case K_PIPE:
		if (pipe2(fd, O_CLOEXEC) < 0)
			bench_die("pipe", 0);
		if (x->capacity &&
		    fcntl(fd[1], F_SETPIPE_SZ, (int)x->capacity) < 0)
			bench_die("F_SETPIPE_SZ", 0);
		break;
	case K_FIFO:
		open_fifo(fd);
		break;
	case K_SOCKETPAIR:
	case K_SEQPACKET: {
		int type =
			x->kind == K_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
		if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fd) < 0)
			bench_die("socketpair", 0);
		break;
	}
	case K_TCP:
		open_tcp(fd);
		break;
	default:
		bench_die("open_fds: not an fd transport", -EINVAL);
	}
}

static void write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("writer: write", 0);
		p += n;
		len -= (size_t)n;
	}
}

static void fd_writer(const struct xfer *x, int fd, uint64_t units)
{
	unsigned char msg[MSG_SIZE];
	for (uint64_t i = 0; i < units; i++) {
		if (!x->messages) {
			write_all(fd, pattern_at(i * x->size), x->size);
			continue;
		}
		msg_fill(msg, i);
		if (x->kind != K_SEQPACKET) {
			write_all(fd, msg, sizeof(msg));
			continue;
		}
		ssize_t n;
		while ((n = send(fd, msg, sizeof(msg), 0)) < 0 &&
		       errno == EINTR)
			;
		if (n != (ssize_t)sizeof(msg))
			bench_die("writer: send", 0);
	}
}

static ssize_t read_some(int fd, void *buf, size_t len)
{
	ssize_t n;
	while ((n = read(fd, buf, len)) < 0 && errno == EINTR)
		;
	if (n < 0)
		bench_die("reader: read", 0);
	return n;
}

static double fd_read_stream(const struct xfer *x, int fd, uint64_t total)
{
	uint64_t got = 0;
	double t = 0;
	ssize_t n;
	while ((n = read_some(fd, read_buf, read_size(x))) > 0) {
		if ((uint64_t)n > total - got)
			data_fail(x, "more bytes than were sent", got);
		if (bench_check(read_buf, (size_t)n, got))
			data_fail(x, "bytes differ from those sent",
				  first_difference(read_buf, (size_t)n, got));
		got += (uint64_t)n;
		if (got == total)
			t = bench_now();
	}
	if (got != total)
		data_fail(x, "end of file", got);
	return t;
}

/* Messages from a byte stream (pipe, TCP): read chunks, split every 64
 * bytes, and carry a partial message over to the next chunk. */
static double fd_read_messages(const struct xfer *x, int fd, uint64_t count)
{
	uint64_t seq = 0;
	size_t carry = 0;
	double t = 0;
	ssize_t n;
	while ((n = read_some(fd, read_buf + carry, READ_MIN)) > 0) {
		size_t have = carry + (size_t)n, off = 0;
		for (; have - off >= MSG_SIZE; off += MSG_SIZE, seq++) {
			if (seq == count)
				data_fail(x, "more messages than were sent",
					  seq);
			if (msg_bad(read_buf + off, seq))
				data_fail(x, "wrong message", seq);
		}
		carry = have - off;
		memmove(read_buf, read_buf + off, carry);
		if (seq == count && !carry && t == 0)
			t = bench_now();
	}
	if (seq != count || carry)
		data_fail(x, "end of file", seq);
	return t;
}

/* Messages of a seqpacket socket: one recv() each; a buffer larger than
 * a message, so a wrong length shows. */
static double fd_read_packets(const struct xfer *x, int fd, uint64_t count)
{
	unsigned char msg[2 * MSG_SIZE];
	uint64_t seq = 0;
	double t = 0;
	for (;;) {
		ssize_t n = recv(fd, msg, sizeof(msg), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			bench_die("reader: recv", 0);
		if (n == 0)
			break;
		if (seq == count)
			data_fail(x, "more messages than were sent", seq);
		if (n != MSG_SIZE || msg_bad(msg, seq))
			data_fail(x, "wrong message", seq);
		if (++seq == count)
			t = bench_now();
	}
	if (seq != count)
		data_fail(x, "end of file", seq);
	return t;
}

static double measure_fd(const struct xfer *x, uint64_t units)
{
	int fd[2];
	open_fds(x, fd);
	double t0 = bench_now();
	pid_t pid = bench_fork();
	if (pid == 0) {
		bench_place(1);
		close(fd[0]);
		fd_writer(x, fd[1], units);
		close(fd[1]);
		_exit(0);
	}
	close(fd[1]);
	double t1;
	if (!x->messages)
		t1 = fd_read_stream(x, fd[0], units * x->size);
	else if (x->kind == K_SEQPACKET)
		t1 = fd_read_packets(x, fd[0], units);
	else
		t1 = fd_read_messages(x, fd[0], units);
	close(fd[0]);
	bench_wait_ok(pid, "writer");
	return t1 - t0;
}

/* ------------------------------------------------- POSIX message queue */

/* Opens a fresh queue for messages of @size bytes and removes its name at
 * once (the descriptor, inherited by the writer, keeps it alive). Returns
 * the queue, or -1 with errno. */
static mqd_t mq_fresh(size_t size)
{
	struct mq_attr a = { .mq_maxmsg = mq_depth, .mq_msgsize = (long)size };
	mq_unlink(mq_name); /* a leftover of an earlier process of our pid */
	mqd_t q = mq_open(mq_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600,
			  &a);
	if (q != (mqd_t)-1) {
		int err = errno;
		mq_unlink(mq_name);
		errno = err;
	}
	return q;
}

static void mq_send_all(mqd_t q, const void *p, size_t len)
{
	while (mq_send(q, p, len, 0) < 0)
		if (errno != EINTR)
			bench_die("writer: mq_send", 0);
}

static ssize_t mq_receive_one(mqd_t q, void *buf, size_t len)
{
	ssize_t n;
	while ((n = mq_receive(q, buf, len, NULL)) < 0 && errno == EINTR)
		;
	if (n < 0)
		bench_die("reader: mq_receive", 0);
	return n;
}

static double measure_mq(const struct xfer *x, uint64_t units)
{
	mqd_t q = mq_fresh(x->size);
	if (q == (mqd_t)-1)
		bench_die("mq_open", 0);
	double t0 = bench_now();
	pid_t pid = bench_fork();
	if (pid == 0) {
		bench_place(1);
		unsigned char msg[MSG_SIZE];
		for (uint64_t i = 0; i < units; i++) {
			if (x->messages) {
				msg_fill(msg, i);
				mq_send_all(q, msg, sizeof(msg));
			} else {
				mq_send_all(q, pattern_at(i * x->size),
					    x->size);
			}
		}
		mq_send_all(q, "", 0); /* end of file */
		mq_close(q);
		_exit(0);
	}
	uint64_t i = 0;
	double t = 0;
	ssize_t n;
	while ((n = mq_receive_one(q, read_buf, x->size)) > 0) {
		if (i == units)
			data_fail(x, "more messages than were sent", i);
		if (x->messages ? n != MSG_SIZE || msg_bad(read_buf, i)
				: (size_t)n != x->size ||
					  bench_check(read_buf, x->size,
						      i * x->size))
			data_fail(x, "wrong message", i);
		if (++i == units)
			t = bench_now();
	}
	if (i != units)
		data_fail(x, "end of file", i);
	mq_close(q);
	bench_wait_ok(pid, "writer");
	return t - t0;
}

/* NULL when messages of @size bytes can be queued, else why not. */
static const char *mq_skip(size_t size)
{
	static char why[8][96];
	static int used;
	char *w = why[used++ % 8];
	if ((long)size > mq_msgsize_max) {
		snprintf(w, sizeof(why[0]), "mq: msgsize_max is %ld bytes",
			 mq_msgsize_max);
		return w;
	}
	mqd_t q = mq_fresh(size);
	if (q != (mqd_t)-1) {
		mq_close(q);
		return NULL;
	}
	struct rlimit rl;
	if (errno == EMFILE && getrlimit(RLIMIT_MSGQUEUE, &rl) == 0)
		snprintf(w, sizeof(why[0]),
			 "mq: RLIMIT_MSGQUEUE of %llu bytes is too small",
			 (unsigned long long)rl.rlim_cur);
	else if (errno == EINVAL)
		snprintf(w, sizeof(why[0]),
			 "mq: mq_open refuses %zu-byte messages (EINVAL)",
			 size);
	else if (errno == ENOSYS)
		snprintf(w, sizeof(why[0]), "mq: not supported by this kernel");
	else
		bench_die("mq_open", 0);
	return w;
}

/* ------------------------------------------------------------ the runs */

static double measure(const struct xfer *x, uint64_t units)
{
	switch (x->kind) {
	case K_SHMPIPE:
	case K_SHMPIPE_PEEK:
		return measure_shmpipe(x, units);
	case K_MQ:
		return measure_mq(x, units);
	default:
		return measure_fd(x, units);
	}
}

static void run_entry(const void *arg, double *out)
{
	const struct xfer *x = arg;
	double dt = measure(x, x->units);
	out[0] = x->messages ? (double)x->units / dt / 1e6
			     : (double)x->units * (double)x->size / dt / 1e9;
}

/* Sets x->units so that a run lasts about the target time. */
static void calibrate(struct xfer *x)
{
	double target = bench_quick ? 0.03 : 0.2, dt;
	uint64_t max = x->messages ? MAX_MESSAGES : MAX_STREAM_BYTES / x->size;
	uint64_t units = x->messages ? 10000 : MIB / x->size;
	if (units < 16)
		units = 16;
	if (units < x->min_units / 4)
		units = x->min_units / 4;
	for (;;) {
		dt = measure(x, units);
		if (dt >= target / 5 || units >= max)
			break;
		double grow = dt > 0 ? target / 2 / dt : 16;
		grow = grow < 2 ? 2 : grow > 16 ? 16 : grow;
		units = (uint64_t)((double)units * grow);
	}
	double want = (double)units * target / dt + 1;
	units = want > (double)max ? max : (uint64_t)want;
	x->units = units < x->min_units ? x->min_units : units;
	if (verbose)
		fprintf(stderr,
			"xfer_bench: %-20s %8zu B x %10llu per run "
			"(%.3g MB, + %llu warm-up; last probe %.1f ms)\n",
			x->transport, x->size, (unsigned long long)x->units,
			(double)x->units * (double)x->size / 1e6,
			(unsigned long long)x->warm_units, dt * 1e3);
}

/* One table: the contenders @c (all moving @size-byte units) alternate. */
static void run_cell(const char *title, const char *csv_case, uint64_t param,
		     const struct contender *c, int n, size_t size,
		     uint64_t min_units, int baseline, struct bench_entry *e)
{
	int messages = !strcmp(csv_case, "msgrate");
	struct xfer x[8];
	for (int i = 0; i < n; i++) {
		x[i] = (struct xfer){ .transport = c[i].transport,
				      .kind = c[i].kind,
				      .messages = messages,
				      .size = size,
				      .capacity = c[i].capacity,
				      .flags = c[i].flags,
				      .min_units = min_units };
		/* growth: one ring's worth of writes before the clock starts,
		 * so every page has been touched by both sides */
		if (!strcmp(csv_case, "growth"))
			x[i].warm_units = c[i].capacity / size;
		e[i] = (struct bench_entry){ .transport = c[i].transport,
					     .label = c[i].label,
					     .run = run_entry,
					     .arg = &x[i] };
		if (c[i].kind == K_MQ)
			e[i].skip = mq_skip(size);
		if (!e[i].skip)
			calibrate(&x[i]);
	}
	struct bench_table t = {
		.title = title,
		.csv_case = csv_case,
		.param = param,
		.nmetrics = 1,
		.metrics = { messages ? "mmsgs" : "gbps" },
		.unit = messages ? "M msgs/s" : "GB/s",
		.higher_better = 1,
		.baseline = baseline,
	};
	bench_cell(&t, e, n);
}

static char pipe_label[48], mq_label[48];

static void case_throughput(void)
{
	const struct contender c[] = {
		{ "shmpipe", "shmpipe 8 MiB stream, shmpipe_read", K_SHMPIPE,
		  8 * MIB, 0 },
		{ "shmpipe-peek", "shmpipe 8 MiB stream, peek/release",
		  K_SHMPIPE_PEEK, 8 * MIB, 0 },
		{ "pipe", pipe_label, K_PIPE, 0, 0 },
		{ "pipe-1m", "pipe, F_SETPIPE_SZ 1 MiB", K_PIPE, MIB, 0 },
		{ "fifo", "FIFO (mkfifo), default size", K_FIFO, 0, 0 },
		{ "socketpair", "AF_UNIX stream socketpair", K_SOCKETPAIR, 0,
		  0 },
		{ "tcp", "TCP 127.0.0.1", K_TCP, 0, 0 },
		{ "mq", mq_label, K_MQ, 0, 0 },
	};
	static const size_t sizes[] = { 64, 4 * KIB, 64 * KIB, MIB };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char title[96], hs[32];
		snprintf(title, sizeof(title),
			 "Throughput, %s writes, one writer and one reader "
			 "process",
			 human_size(sizes[i], hs, sizeof(hs)));
		struct bench_entry e[8];
		run_cell(title, "throughput", sizes[i], c, 8, sizes[i], 0, 2,
			 e);
	}
}

static void case_msgrate(void)
{
	const struct contender c[] = {
		{ "shmpipe", "shmpipe 1 MiB message pipe", K_SHMPIPE, MIB, 0 },
		{ "shmpipe-excl", "shmpipe 1 MiB message, exclusive", K_SHMPIPE,
		  MIB, SHMPIPE_EXCLUSIVE },
		{ "pipe", "pipe, one write per message", K_PIPE, 0, 0 },
		{ "socketpair-seqpacket", "AF_UNIX seqpacket socketpair",
		  K_SEQPACKET, 0, 0 },
		{ "tcp", "TCP 127.0.0.1, Nagle on", K_TCP, 0, 0 },
		{ "mq", mq_label, K_MQ, 0, 0 },
	};
	struct bench_entry e[6];
	run_cell("Message rate, 64-byte messages, one write or send each",
		 "msgrate", MSG_SIZE, c, 6, MSG_SIZE, 0, 2, e);
}

static void case_growth(void)
{
	static const size_t caps[] = { 64 * KIB, MIB, 16 * MIB, 256 * MIB };
	enum { N = sizeof(caps) / sizeof(caps[0]) };
	const size_t size = 64 * KIB;
	double med[N];
	for (size_t i = 0; i < N; i++) {
		char title[112], label[64], hs[32];
		human_size(caps[i], hs, sizeof(hs));
		snprintf(title, sizeof(title),
			 "Growth, 64 KiB writes into a shmpipe of L = %s", hs);
		snprintf(label, sizeof(label), "shmpipe L = %s, shmpipe_read",
			 hs);
		const struct contender c = { "shmpipe", label, K_SHMPIPE,
					     caps[i], 0 };
		uint64_t min_units = (bench_quick ? 1 : 3) * caps[i] / size;
		struct bench_entry e;
		run_cell(title, "growth", caps[i], &c, 1, size, min_units, 0,
			 &e);
		double v[BENCH_MAX_RUNS];
		for (int r = 0; r < bench_runs; r++)
			v[r] = e.v[r][0];
		med[i] = bench_median(v, bench_runs);
	}
	printf("\nGrowth, median GB/s against L = 64 KiB:");
	for (size_t i = 0; i < N; i++) {
		char hs[32];
		printf(" %s x%.2f%s", human_size(caps[i], hs, sizeof(hs)),
		       med[i] / med[0], i + 1 < N ? "," : "\n");
	}
	fflush(stdout);
}

static long read_long(const char *path, long dflt)
{
	FILE *f = fopen(path, "re");
	long v;
	if (!f)
		return dflt;
	if (fscanf(f, "%ld", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

/* The text as printed, so not reflowed. */
/* clang-format off */
static void usage(FILE *f)
{
	fprintf(f,
"usage: xfer_bench [--runs N] [--quick] [--pin] [--csv FILE]\n"
"                  [--case throughput|msgrate|growth|all] [--verbose]\n"
"cases (default all):\n"
"  throughput  GB/s of 64 B, 4 KiB, 64 KiB and 1 MiB writes: shmpipe\n"
"              (shmpipe_read and peek/release), pipe, pipe-1m, fifo,\n"
"              socketpair, tcp, mq; ratios against pipe\n"
"  msgrate     millions of 64-byte messages per second: shmpipe,\n"
"              shmpipe-excl, pipe, socketpair-seqpacket, tcp, mq;\n"
"              ratios against pipe\n"
"  growth      GB/s of 64 KiB writes through a shmpipe of capacity\n"
"              64 KiB, 1 MiB, 16 MiB and 256 MiB\n"
"  all         the three, in that order\n"
"options:\n"
"  --runs N    runs per cell, 1-%d (default 5)\n"
"  --quick     runs of about 0.03 s instead of 0.2 s\n"
"  --pin       reader on CPU 0, writer on CPU 1 (default: unpinned)\n"
"  --csv FILE  append case,transport,param,placement,run,metric,value,note\n"
"  --verbose   print each contender's volume per run (stderr)\n",
		BENCH_MAX_RUNS);
}
/* clang-format on */

int main(int argc, char **argv)
{
	argc = bench_parse_common(argc, argv);
	const char *which = "all";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--case") && i + 1 < argc) {
			which = argv[++i];
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = 1;
		} else if (!strcmp(argv[i], "--help") ||
			   !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	int all = !strcmp(which, "all");
	if (!all && strcmp(which, "throughput") && strcmp(which, "msgrate") &&
	    strcmp(which, "growth")) {
		fprintf(stderr, "xfer_bench: unknown case '%s'\n", which);
		usage(stderr);
		return 2;
	}

	snprintf(pipe_name, sizeof(pipe_name), "bench-%ld-xfer",
		 (long)getpid());
	snprintf(mq_name, sizeof(mq_name), "/xfer_bench-%ld", (long)getpid());
	bench_cleanup_pipe(pipe_name);
	mq_depth = read_long("/proc/sys/fs/mqueue/msg_max", 10);
	mq_msgsize_max = read_long("/proc/sys/fs/mqueue/msgsize_max", 8192);
	snprintf(mq_label, sizeof(mq_label), "POSIX mq, %ld messages deep",
		 mq_depth);
	int fd[2], pipe_size = 0;
	if (pipe(fd) == 0) {
		pipe_size = fcntl(fd[0], F_GETPIPE_SZ);
		close(fd[0]);
		close(fd[1]);
	}
	char hs[32];
	snprintf(pipe_label, sizeof(pipe_label), "pipe, default size (%s)",
		 pipe_size > 0 ? human_size((size_t)pipe_size, hs, sizeof(hs))
			       : "?");
	bench_place(0); /* the reader; each writer moves to CPU 1 */

	if (all || !strcmp(which, "throughput"))
		case_throughput();
	if (all || !strcmp(which, "msgrate"))
		case_msgrate();
	if (all || !strcmp(which, "growth"))
		case_growth();
	return 0;
}
