/* SPDX-License-Identifier: MIT */
/*
 * remote_writer.c - send stdin into a shmpipe pipe on another machine,
 * through its bridge (`shmpipe serve`), with nothing but plain sockets: it
 * does not use libshmpipe, so it builds and runs where shmpipe is not
 * installed (copy this one file: cc -O2 -o remote_writer remote_writer.c).
 *
 * On the machine with the pipe:
 *
 *     shmpipe create sensors --size 64M --message
 *     shmpipe serve sensors --listen tcp://0.0.0.0:9000 --framing lines \
 *         --token-file /etc/shmpipe/token
 *
 * On the remote one:
 *
 *     sensor-program | remote_writer gateway 9000 --token-file token --lines
 *
 * The protocol is the bridge's: a TCP stream of bytes that it cuts into
 * units (its --framing), preceded, when it has a token, by one line
 * holding the token. The bridge never sends anything back; it closes the
 * connection once it has read it all, or resets it when it refused
 * something (a wrong token, a unit too large, a unit cut off by the end of
 * the stream: nothing of such a unit goes in).
 *
 * What it shows, in order of appearance below:
 *  1. signals without races: SIGINT, SIGTERM and SIGHUP are blocked, and
 *     let in only while waiting in ppoll(); every other call is
 *     non-blocking, so a stop request is seen at once, never after a
 *     blocked send() that a signal came just too early to interrupt;
 *  2. getaddrinfo() and every address it gives, IPv4 and IPv6 alike, each
 *     tried with a non-blocking connect() (which Ctrl-C can cut short);
 *  3. the token line first;
 *  4. a copy loop that handles short writes and EINTR, with MSG_NOSIGNAL
 *     so a closed connection is an error to report, not a silent death
 *     by SIGPIPE;
 *  5. delivery: half-close (shutdown SHUT_WR) and wait for the bridge to
 *     close: an orderly close means it has read everything and committed
 *     every whole unit, a reset means it refused something;
 *  6. on a stop signal: close (what was sent still goes out, the bridge
 *     discards a unit cut off), then die by the same signal, so that a
 *     calling shell sees it.
 *
 * Exit status: 0 everything was read by the bridge, 1 an error (reported
 * with HOST:PORT), 2 a usage error; killed by the signal on SIGINT,
 * SIGTERM or SIGHUP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOKEN_MAX 4096 /* the bridge's limit */

/* ------------------------------------------------------------- signals */

static volatile sig_atomic_t stop_signal;
static sigset_t wait_mask; /* the mask to wait with: stop signals let in */

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void catch_signals(void)
{
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGHUP);
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * The one place where we wait: until @fd is ready for @events. ppoll()
 * unblocks the stop signals for the wait only, atomically, so a signal
 * that came before it is pending and ends it at once. Returns 0 when
 * ready, -EINTR when asked to stop, or -errno.
 */
static int wait_for(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	for (;;) {
		if (stop_signal)
			return -EINTR;
		if (ppoll(&p, 1, NULL, &wait_mask) > 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* "host:port", or "[v6]:port", for messages. */
static char where[NI_MAXHOST + 16];

/* ------------------------------------------------------------- connect */

/* Connect to one address, non-blocking, waiting with wait_for(). Returns
 * the socket, or -errno. */
static int connect_one(const struct addrinfo *a)
{
	int fd = socket(a->ai_family,
			a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			a->ai_protocol);
	if (fd < 0)
		return -errno;
	int err = 0;
	if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
		err = errno == EINPROGRESS ? -wait_for(fd, POLLOUT) : errno;
		/* Ready: the outcome of the connect is in SO_ERROR. */
		socklen_t len = sizeof(err);
		if (!err)
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	}
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

/* Try every address of HOST, in the order getaddrinfo() prefers. Returns a
 * connected (non-blocking) socket, or -1 after saying why (nothing when
 * stopped by a signal). */
static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *list;
	int r = getaddrinfo(host, port, &hints, &list);
	if (r != 0) {
		fprintf(stderr, "remote_writer: %s: %s\n", where,
			r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	int fd = -ENOENT;
	for (struct addrinfo *a = list; a && fd < 0 && fd != -EINTR;
	     a = a->ai_next)
		fd = connect_one(a);
	freeaddrinfo(list);
	if (fd < 0 && fd != -EINTR)
		fprintf(stderr, "remote_writer: cannot connect to %s: %s\n",
			where, strerror(-fd));
	return fd < 0 ? -1 : fd;
}

/* ---------------------------------------------------------------- send */

/* Send all @len bytes. send() may take fewer (a short write): send the
 * rest; when the socket is full, wait for room. Returns 0, or -errno
 * (-EINTR when asked to stop). */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		if (stop_signal)
			return -EINTR;
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			int r = wait_for(fd, POLLOUT);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The first line of @path, without its line end, into @line (with a
 * newline added, as sent). Returns its length with the newline, or -1. */
static int read_token(const char *path, char *line, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "remote_writer: token file '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	bool got = fgets(line, (int)size - 1, f) != NULL;
	fclose(f);
	size_t n = got ? strcspn(line, "\r\n") : 0;
	if (n == 0) {
		fprintf(stderr,
			"remote_writer: token file '%s': its first "
			"line is empty\n",
			path);
		return -1;
	}
	line[n] = '\n';
	return (int)n + 1;
}

/* Copy stdin to @fd. With @lines, end with a newline: a bridge framing
 * lines discards a last line cut off by the end of the stream. */
static int copy_stdin(int fd, bool lines)
{
	static char buf[1 << 16];
	bool at_line_start = true;
	for (;;) {
		/* Wait first, so that read() does not block (stdin may be a
		 * pipe or a terminal with nothing to read yet). */
		int r = wait_for(STDIN_FILENO, POLLIN);
		if (r < 0)
			return r;
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			int err = errno;
			fprintf(stderr, "remote_writer: reading stdin: %s\n",
				strerror(err));
			return -err;
		}
		if (n == 0)
			break;
		r = send_all(fd, buf, (size_t)n);
		if (r < 0)
			return r;
		at_line_start = buf[n - 1] == '\n';
	}
	return lines && !at_line_start ? send_all(fd, "\n", 1) : 0;
}

/*
 * Half-close and wait for the bridge to close its side: only then do we
 * know that it has read everything we sent. It sends nothing; an orderly
 * close (0) is success, a reset (-ECONNRESET) a refusal. This may take a
 * while: the bridge reads no more while its pipe is full, which is the
 * pipe pushing back, not a failure.
 */
static int wait_for_close(int fd)
{
	if (shutdown(fd, SHUT_WR) < 0)
		return -errno;
	for (;;) {
		int r = wait_for(fd, POLLIN);
		if (r < 0)
			return r;
		char c;
		ssize_t got = recv(fd, &c, 1, 0);
		if (got == 0)
			return 0;
		if (got > 0)
			return -EPROTO; /* a bridge never talks back */
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

/* ---------------------------------------------------------------- main */

static const char usage[] =
	"usage: remote_writer HOST PORT [--token-file F] [--lines]\n"
	"Send stdin to `shmpipe serve` at HOST:PORT, and wait until it has\n"
	"read it all.\n"
	"  --token-file F  send the first line of F first (the bridge's "
	"token)\n"
	"  --lines         end the input with a newline if it has none, so a\n"
	"                  bridge framing lines keeps the last line\n";

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "token-file", required_argument, NULL, 't' },
		{ "lines", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *token_file = NULL;
	bool lines = false;
	int c;
	while ((c = getopt_long(argc, argv, "t:lh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			token_file = optarg;
			break;
		case 'l':
			lines = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *host = argv[optind], *port = argv[optind + 1];
	snprintf(where, sizeof(where), strchr(host, ':') ? "[%s]:%s" : "%s:%s",
		 host, port);

	/* Before connecting: a bad token file is found before the bridge
	 * counts a failed token. */
	char token[TOKEN_MAX + 2];
	int token_len = 0;
	if (token_file &&
	    (token_len = read_token(token_file, token, sizeof(token))) < 0)
		return 1;
	catch_signals();
	int fd = connect_to(host, port);
	if (fd < 0)
		goto stopped_or_failed;

	int r = token_len ? send_all(fd, token, (size_t)token_len) : 0;
	if (r == 0)
		r = copy_stdin(fd, lines);
	if (r == 0)
		r = wait_for_close(fd);
	/* On a stop signal too: what was sent still goes out (close() does
	 * not discard it); the bridge commits every whole unit of it. */
	close(fd);
	if (r == 0)
		return 0;
	if (r == -ECONNRESET || r == -EPIPE)
		fprintf(stderr,
			"remote_writer: %s reset the connection: not "
			"everything sent went in (a wrong token, or a "
			"unit too large or cut off: the bridge's log "
			"says which)\n",
			where);
	else if (r == -EPROTO)
		fprintf(stderr,
			"remote_writer: %s sent data back: not a "
			"bridge that takes writers (is it `shmpipe "
			"serve --out`?)\n",
			where);
	else if (r != -EINTR)
		fprintf(stderr, "remote_writer: sending to %s: %s\n", where,
			strerror(-r));

stopped_or_failed:
	if (!stop_signal)
		return 1;
	/* Die by the signal, as if it had not been caught: a shell running
	 * us in a loop then stops too, instead of carrying on. */
	fprintf(stderr, "remote_writer: stopped by %s\n",
		strsignal(stop_signal));
	signal(stop_signal, SIG_DFL);
	sigprocmask(SIG_SETMASK, &wait_mask, NULL);
	raise(stop_signal);
	return 1;
}
