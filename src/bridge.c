/* SPDX-License-Identifier: MIT */
/*
 * bridge.c - sockets <-> a pipe, in one thread with an epoll loop.
 *
 * Every fd is registered level-triggered with epoll.data.ptr pointing at
 * its endpoint. Backpressure is by interest, not by buffering: a
 * connection holds at most one unit (its buffer never grows past
 * max_unit + a read's worth), and when the pipe is full the connections
 * that have a unit to commit are taken out of the epoll set (they wait on
 * the `blocked` list) until the pipe's notify fd says there is room. Their
 * kernel socket buffers then fill, and TCP flow control pushes back to the
 * remote writers.
 *
 * IN, raw framing: bytes are received straight into space reserved in the
 * pipe (shmpipe_reserve + recv + shmpipe_commit): zero-copy. Lines and
 * len32 need the whole unit before its one atomic write, so they go through
 * the connection's buffer.
 *
 * OUT: a unit is peeked from the pipe, framed into the buffer of one
 * connection that has nothing in flight, released, then sent as the socket
 * takes it (EPOLLOUT while some is left).
 */
#define _GNU_SOURCE
#include "bridge.h"
#include "pipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_MAX_CONNS 1024
#define DEFAULT_IDLE_MS 60000
#define DEFAULT_MAX_UNIT (1u << 20)
#define RAW_CHUNK (256u << 10)
#define RAW_BATCH (1u << 20) /* IN: most bytes received per commit */
#define READ_SLACK (64u << 10)
#define MAX_LISTENERS 16
#define TOKEN_MAX 4096
#define EVENTS 256

enum ep_kind { EP_LISTENER, EP_CONN, EP_PIPE, EP_STOP, EP_REPORT, EP_FIFO };

struct endpoint {
	enum ep_kind kind;
};

struct listener {
	struct endpoint ep;
	int fd;
	int is_unix;
	char addr[160];
	char unix_path[108];
};

struct conn {
	struct endpoint ep;
	int fd;
	int is_fifo;	 /* the FIFO front, not a socket */
	int authed;
	int registered;	 /* in the epoll set */
	unsigned events; /* as registered */
	unsigned char *buf;
	size_t len, cap, scanned;
	size_t sent; /* OUT: bytes of buf already sent */
	uint64_t last_ns, unit_ns;
	struct conn *prev, *next; /* all connections */
	struct conn *next_blocked;
	int blocked;
	int rd_closed; /* OUT: the peer shut its sending side */
};

struct shmpipe_bridge {
	struct shmpipe_bridge_config cfg;
	unsigned char *token;
	shmpipe *pipe;	    /* writer (IN) or reader (OUT) */
	shmpipe *fifo_pipe; /* the other side, for the FIFO front */
	int epfd;
	struct listener listeners[MAX_LISTENERS];
	size_t nlisteners;
	struct endpoint pipe_ep, stop_ep, report_ep, fifo_ep;
	unsigned pipe_events; /* interest in the pipe's notify fd */
	int out_eof;
	size_t max_unit;
	int message;
	struct conn *conns;	  /* list of all, oldest first */
	struct conn *conns_tail;
	struct conn *blocked;	  /* IN: waiting for room in the pipe */
	struct conn *fifo;	  /* OUT: the FIFO front, read like a socket */
	char fifo_path[PATH_MAX];
	int fifo_made;
	/* IN: the FIFO front fed from the pipe through fifo_pipe */
	int fifo_fd;
	unsigned char *fifo_buf;
	size_t fifo_len, fifo_sent, fifo_cap;
	unsigned fifo_pipe_events, fifo_fd_events;
	struct endpoint fifo_pipe_ep, fifo_fd_ep;
	int stopping;
	uint64_t last_sweep_ns;
	struct shmpipe_bridge_stats st;
};

static void logf_(shmpipe_bridge *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static unsigned out_events(struct conn *c);
static void out_distribute(shmpipe_bridge *b);

static void logf_(shmpipe_bridge *b, const char *fmt, ...)
{
	if (!b->cfg.log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->cfg.log(b->cfg.log_arg, msg);
}

/* ------------------------------------------------------------ addresses */

struct parsed_addr {
	int family; /* AF_INET, AF_INET6, AF_UNIX */
	struct sockaddr_storage ss;
	socklen_t len;
	int loopback;
};

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_tcp(const char *spec, struct parsed_addr *a)
{
	char host[128];
	const char *port;
	if (spec[0] == '[') { /* [v6]:port */
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = '\0';
		port = end + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = colon + 1;
	}
	uint16_t p;
	if (parse_port(port, &p) < 0)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	struct sockaddr_in *in = (void *)&a->ss;
	struct sockaddr_in6 *in6 = (void *)&a->ss;
	if (!host[0] || !strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1"); /* safe default: loopback */
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		a->family = in->sin_family = AF_INET;
		in->sin_port = htons(p);
		a->len = sizeof(*in);
		a->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		a->family = in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p);
		a->len = sizeof(*in6);
		a->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		return 0;
	}
	return -EINVAL; /* host names are not resolved: say what you mean */
}

static int parse_addr(const char *spec, struct parsed_addr *a)
{
	if (!strncmp(spec, "tcp://", 6))
		return parse_tcp(spec + 6, a);
	if (!strncmp(spec, "unix:", 5)) {
		const char *path = spec + 5;
		struct sockaddr_un *un = (void *)&a->ss;
		memset(a, 0, sizeof(*a));
		if (!*path || strlen(path) >= sizeof(un->sun_path))
			return -EINVAL;
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, path);
		a->family = AF_UNIX;
		a->len = (socklen_t)sizeof(*un);
		a->loopback = 1;
		return 0;
	}
	return -EINVAL;
}

/* A Unix socket file that nothing answers on is stale: remove it. A live
 * one (connect succeeds) is never taken over. */
static int clear_stale_unix(const struct sockaddr_un *un)
{
	struct stat st;
	if (lstat(un->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EADDRINUSE;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)un, sizeof(*un));
	int e = errno;
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (e != ECONNREFUSED)
		return -e;
	return unlink(un->sun_path) < 0 ? -errno : 0;
}

static void describe(struct listener *l, const struct parsed_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	getsockname(l->fd, (struct sockaddr *)&ss, &len);
	char host[INET6_ADDRSTRLEN];
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (void *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(l->addr, sizeof(l->addr), "tcp://%s:%u", host,
			 ntohs(in->sin_port));
	} else if (a->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (void *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(l->addr, sizeof(l->addr), "tcp://[%s]:%u", host,
			 ntohs(in6->sin6_port));
	} else {
		char path[sizeof(l->unix_path)];
		memcpy(path, l->unix_path, sizeof(path));
		snprintf(l->addr, sizeof(l->addr), "unix:%s", path);
	}
}

static int open_listener(shmpipe_bridge *b, const char *spec)
{
	struct parsed_addr a;
	if (b->nlisteners == MAX_LISTENERS) {
		logf_(b, "at most %d addresses to listen on", MAX_LISTENERS);
		return -EINVAL; /* a bad config, as documented */
	}
	if (parse_addr(spec, &a) < 0) {
		logf_(b, "bad address '%s' (tcp://HOST:PORT, tcp://[V6]:PORT, "
			 "tcp://:PORT or unix:PATH; numeric hosts only)",
		      spec);
		return -EINVAL;
	}
	if (!a.loopback && !b->token &&
	    !(b->cfg.flags & SHMPIPE_BRIDGE_INSECURE)) {
		logf_(b, "refusing to listen on non-loopback '%s' without a "
			 "token (give one, or say insecure)",
		      spec);
		return -EPERM;
	}
	struct listener *l = &b->listeners[b->nlisteners];
	memset(l, 0, sizeof(*l));
	l->ep.kind = EP_LISTENER;
	if (a.family == AF_UNIX) {
		int r = clear_stale_unix((void *)&a.ss);
		if (r < 0) {
			logf_(b, "'%s': %s", spec,
			      r == -EADDRINUSE ? "in use by a live server"
					       : strerror(-r));
			return r;
		}
		l->is_unix = 1;
		strcpy(l->unix_path, ((struct sockaddr_un *)&a.ss)->sun_path);
	}
	l->fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (l->fd < 0)
		return -errno;
	int one = 1;
	if (a.family != AF_UNIX)
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a.family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&a.ss, a.len) < 0 ||
	    listen(l->fd, 512) < 0) {
		int r = -errno;
		logf_(b, "'%s': %s", spec, strerror(-r));
		close(l->fd);
		return r;
	}
	describe(l, &a);
	b->nlisteners++;
	return 0;
}

/* ------------------------------------------------------------ epoll */

static int ep_set(shmpipe_bridge *b, int fd, struct endpoint *ep,
		  unsigned events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = ep };
	return epoll_ctl(b->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

/* Make @c's interest @events (0: out of the set). */
static void conn_interest(shmpipe_bridge *b, struct conn *c, unsigned events)
{
	if (c->registered && c->events == events)
		return;
	/* An OUT reader stays registered with no events: epoll still reports
	 * its hang-up or error, so a peer that has gone is closed before
	 * another unit is sent into its socket. */
	bool keep = b->cfg.direction == SHMPIPE_BRIDGE_OUT && c->authed &&
		    !c->is_fifo;
	if (!events && !keep) {
		if (c->registered)
			epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->registered = 0;
		return;
	}
	ep_set(b, c->fd, &c->ep, events,
	       c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
	c->registered = 1;
	c->events = events;
}

/* ------------------------------------------------------- connections */

static void publish_stats(shmpipe_bridge *b)
{
	shmpipe__pipe_bridge_publish(b->pipe, &b->st);
}

static void list_remove(shmpipe_bridge *b, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		b->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		b->conns_tail = c->prev;
	c->prev = c->next = NULL;
}

static void list_append(shmpipe_bridge *b, struct conn *c)
{
	c->prev = b->conns_tail;
	c->next = NULL;
	if (b->conns_tail)
		b->conns_tail->next = c;
	else
		b->conns = c;
	b->conns_tail = c;
}

static void unblock(shmpipe_bridge *b, struct conn *c)
{
	struct conn **pp = &b->blocked;
	while (*pp && *pp != c)
		pp = &(*pp)->next_blocked;
	if (*pp)
		*pp = c->next_blocked;
	c->blocked = 0;
	c->next_blocked = NULL;
}

/* Close @c with a reset instead of an orderly end of stream: the client
 * (`shmpipe write --connect`) then knows that something it sent was not
 * committed (a wrong token, a unit too large or cut off). */
static void reset_on_close(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void conn_close(shmpipe_bridge *b, struct conn *c, const char *why)
{
	if (c->blocked)
		unblock(b, c);
	if (b->cfg.direction == SHMPIPE_BRIDGE_IN && c->authed && c->len &&
	    !c->is_fifo) {
		b->st.partial_discarded++;
		reset_on_close(c);
	} else if (b->cfg.direction == SHMPIPE_BRIDGE_OUT && c->sent < c->len)
		b->st.partial_discarded++;
	if (why)
		logf_(b, "connection closed: %s", why);
	conn_interest(b, c, 0);
	close(c->fd);
	list_remove(b, c);
	if (c == b->fifo)
		b->fifo = NULL;
	if (!c->is_fifo)
		b->st.active--;
	free(c->buf);
	free(c);
	publish_stats(b);
}

/* Make *@buf (of *@cap bytes) hold at least @want bytes. */
static int grow(unsigned char **buf, size_t *cap, size_t want)
{
	if (*cap >= want)
		return 0;
	size_t ncap = *cap ? *cap : 4096;
	while (ncap < want)
		ncap *= 2;
	unsigned char *nb = realloc(*buf, ncap);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = ncap;
	return 0;
}

static int conn_reserve(struct conn *c, size_t want)
{
	return grow(&c->buf, &c->cap, want);
}

static struct conn *conn_new(shmpipe_bridge *b, int fd, int is_fifo)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ep.kind = EP_CONN;
	c->fd = fd;
	c->is_fifo = is_fifo;
	c->authed = !b->token || is_fifo;
	c->last_ns = shmpipe__now_ns();
	list_append(b, c);
	return c;
}

static int uid_allowed(shmpipe_bridge *b, int fd)
{
	if (!b->cfg.allow_uids_count)
		return 1;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	for (size_t i = 0; i < b->cfg.allow_uids_count; i++)
		if (b->cfg.allow_uids[i] == cred.uid)
			return 1;
	logf_(b, "refused uid %u (not in the allowed uids)", (unsigned)cred.uid);
	return 0;
}

static void on_accept(shmpipe_bridge *b, struct listener *l)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(l->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or EMFILE: try at the next event */
		if (b->stopping || b->st.active >= b->cfg.max_conns ||
		    (l->is_unix && !uid_allowed(b, fd))) {
			b->st.refused++;
			if (!b->stopping && b->st.active >= b->cfg.max_conns)
				logf_(b, "refused a connection: %u connections "
					 "is the limit",
				      b->cfg.max_conns);
			close(fd);
			publish_stats(b);
			continue;
		}
		if (!l->is_unix) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		}
		struct conn *c = conn_new(b, fd, 0);
		if (!c) {
			close(fd);
			continue;
		}
		b->st.accepted++;
		b->st.active++;
		conn_interest(b, c, EPOLLIN | EPOLLRDHUP);
		if (b->cfg.direction == SHMPIPE_BRIDGE_OUT && c->authed)
			out_distribute(b); /* the pipe may hold units already */
		publish_stats(b);
	}
}

/* --------------------------------------------------------------- IN */

static void block(shmpipe_bridge *b, struct conn *c)
{
	if (c->is_fifo) { /* feeds fifo_pipe: retried by sweep() */
		c->blocked = 1;
		conn_interest(b, c, 0);
		return;
	}
	if (!c->blocked) {
		c->blocked = 1;
		c->next_blocked = b->blocked;
		b->blocked = c;
	}
	conn_interest(b, c, 0);
}

/* The largest unit as framed, so that what goes into the pipe is at most
 * max_unit: a stream pipe keeps a len32 frame's length prefix, which must
 * fit in the same atomic write; a message pipe gets a line without its
 * newline. */
static size_t frame_max(const shmpipe_bridge *b)
{
	if (!b->message && b->cfg.framing == SHMPIPE_FRAMING_LEN32)
		return b->max_unit > 4 ? b->max_unit - 4 : 0;
	if (b->message && b->cfg.framing == SHMPIPE_FRAMING_LINES)
		return b->max_unit + 1;
	return b->max_unit;
}

/* Commit the complete units at the start of c->buf. 1: all done (or no
 * complete unit left), 0: the pipe is full, <0: close the connection. */
static int commit_units(shmpipe_bridge *b, struct conn *c)
{
	size_t done = 0;
	int r = 1;
	while (done < c->len) {
		struct shmpipe__frame f;
		unsigned framing = b->cfg.framing;
		int k = shmpipe__frame_next(framing, c->buf + done,
					    c->len - done,
					    c->scanned > done ? c->scanned - done
							      : 0,
					    frame_max(b), &f);
		if (k == -EMSGSIZE) {
			b->st.oversize++;
			logf_(b, "refused a unit larger than %zu bytes; "
				 "connection closed",
			      b->max_unit);
			reset_on_close(c);
			r = -EMSGSIZE;
			break;
		}
		if (k <= 0)
			break;
		const unsigned char *unit = c->buf + done + f.payload;
		size_t len = f.payload_len, span = f.size;
		if (framing == SHMPIPE_FRAMING_LINES && b->message) {
			len--; /* a message pipe gets the line without \n */
		} else if (framing == SHMPIPE_FRAMING_LINES) {
			/* stream: the whole lines that fit in the room there
			 * is now (at least the first), in one write */
			ssize_t room = shmpipe_room(b->pipe);
			size_t lim = c->len - done < b->max_unit ? c->len - done
								 : b->max_unit;
			if (room > 0 && (size_t)room < lim)
				lim = (size_t)room > f.size ? (size_t)room : f.size;
			const unsigned char *last =
				memrchr(c->buf + done, '\n', lim);
			span = len = (size_t)(last - (c->buf + done)) + 1;
		} else if (framing == SHMPIPE_FRAMING_LEN32 && !b->message) {
			unit = c->buf + done;
			len = f.size; /* a stream keeps the length prefix */
		}
		if (len) {
			ssize_t n = shmpipe_write(c->is_fifo ? b->fifo_pipe
								     : b->pipe,
						  unit, len, 0);
			if (n == -EAGAIN) {
				r = 0;
				break;
			}
			if (n < 0) {
				logf_(b, "pipe write: %s", shmpipe_strerror((int)n));
				r = (int)n;
				break;
			}
			b->st.units++;
			b->st.bytes += len;
		}
		done += span;
		c->unit_ns = shmpipe__now_ns();
	}
	memmove(c->buf, c->buf + done, c->len - done);
	c->len -= done;
	if (r == -EMSGSIZE)
		c->len = 0; /* refused, not cut off: not a partial unit */
	/* Nothing left holds a whole unit, unless we stopped early. */
	c->scanned = r == 1 ? c->len : 0;
	publish_stats(b);
	return r;
}

/* The first line of a connection must be the token. 1 authenticated (the
 * line is consumed), 0 need more, -1 refused. */
static int check_token(shmpipe_bridge *b, struct conn *c)
{
	unsigned char *nl = memchr(c->buf, '\n', c->len);
	if (!nl)
		return c->len > b->cfg.token_len + 2 ? -1 : 0;
	size_t n = (size_t)(nl - c->buf);
	size_t cmp = n && c->buf[n - 1] == '\r' ? n - 1 : n; /* nc -C */
	if (!shmpipe__token_equal(c->buf, cmp, b->token, b->cfg.token_len))
		return -1;
	memmove(c->buf, nl + 1, c->len - n - 1);
	c->len -= n + 1;
	c->scanned = 0;
	c->authed = 1;
	return 1;
}

static int auth_step(shmpipe_bridge *b, struct conn *c)
{
	int r = check_token(b, c);
	if (r < 0) {
		b->st.token_failures++;
		logf_(b, "token check failed: connection closed, nothing "
			 "committed");
		reset_on_close(c);
		c->len = 0;
	}
	return r;
}

/* Raw framing: receive straight into the pipe. Every recv() the socket has
 * data for goes into one reservation (up to RAW_BATCH), committed once:
 * each commit wakes the pipe's sleeping readers (a futex wake and a
 * context switch each), so fewer, larger commits cost less CPU per byte.
 * No latency is added: the batch ends as soon as the socket is drained.
 * 1 go on, 0 blocked (pipe full), 2 drained for now, -1 end of input or
 * error (close; what came before it is committed). */
static int raw_recv_zero_copy(shmpipe_bridge *b, struct conn *c)
{
	size_t want = b->max_unit < RAW_BATCH ? b->max_unit : RAW_BATCH;
	void *dst;
	ssize_t room = shmpipe_reserve(b->pipe, &dst, want, 0);
	if (room == -EAGAIN) {
		/* Not a whole chunk free: take whatever fits, down to 1 byte,
		 * so a small pipe still moves (a raw unit is any chunk). */
		ssize_t freeb = shmpipe_room(b->pipe);
		if (freeb <= 0)
			return 0;
		room = shmpipe_reserve(b->pipe, &dst,
				       (size_t)freeb < want ? (size_t)freeb : want, 0);
		if (room == -EAGAIN)
			return 0;
	}
	if (room < 0)
		return -1;
	size_t got = 0;
	int r = 1;
	while (got < (size_t)room) {
		ssize_t n = recv(c->fd, (unsigned char *)dst + got,
				 (size_t)room - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		r = n < 0 && errno == EAGAIN ? 2 : -1;
		break;
	}
	shmpipe_commit(b->pipe, got);
	if (got) {
		b->st.units++;
		b->st.bytes += (uint64_t)got;
		publish_stats(b);
	}
	return r;
}

/* Read what the socket has for @c and commit its units. Returns 0 (still
 * open, possibly blocked) or -1 (closed and freed). */
static int service_in(shmpipe_bridge *b, struct conn *c)
{
	for (int round = 0; round < 8; round++) {
		if (c->authed && c->len) {
			int r = commit_units(b, c);
			if (r < 0)
				goto close;
			if (r == 0)
				goto blocked;
		}
		if (b->stopping)
			return 0;
		if (c->authed && b->cfg.framing == SHMPIPE_FRAMING_RAW &&
		    !c->len && !c->is_fifo) {
			int r = raw_recv_zero_copy(b, c);
			c->last_ns = shmpipe__now_ns();
			if (r == 0)
				goto blocked;
			if (r < 0)
				goto close;
			if (r == 2)
				break;
			continue;
		}
		size_t limit = c->authed ? b->max_unit + 4 : b->cfg.token_len + 2;
		if (c->len > limit) {
			b->st.oversize++;
			logf_(b, "refused a unit larger than %zu bytes; "
				 "connection closed",
			      b->max_unit);
			reset_on_close(c);
			c->len = 0;
			goto close;
		}
		size_t want = limit + 1 - c->len;
		if (want > READ_SLACK)
			want = READ_SLACK;
		if (conn_reserve(c, c->len + want) < 0)
			goto close;
		ssize_t n = c->is_fifo ? read(c->fd, c->buf + c->len, want)
				       : recv(c->fd, c->buf + c->len, want,
					      MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0)
			goto close; /* a partial unit is discarded, counted */
		if (!c->len)
			c->unit_ns = shmpipe__now_ns();
		c->len += (size_t)n;
		c->last_ns = shmpipe__now_ns();
		if (!c->authed) {
			int r = auth_step(b, c);
			if (r < 0)
				goto close;
		}
	}
	conn_interest(b, c, EPOLLIN | EPOLLRDHUP);
	return 0;
blocked:
	block(b, c);
	return 0;
close:
	conn_close(b, c, NULL);
	return -1;
}

/* Room in the pipe again: let the blocked connections commit and read,
 * oldest first, until the pipe is full again. */
static void on_pipe_writable(shmpipe_bridge *b)
{
	struct conn *list = b->blocked;
	b->blocked = NULL;
	/* the list was built by pushing: reverse it to serve oldest first */
	struct conn *rev = NULL;
	while (list) {
		struct conn *next = list->next_blocked;
		list->next_blocked = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct conn *c = rev;
		rev = c->next_blocked;
		c->blocked = 0;
		c->next_blocked = NULL;
		if (b->blocked) { /* full again: the rest keep waiting */
			block(b, c);
			continue;
		}
		service_in(b, c);
	}
}

/* -------------------------------------------------------------- OUT */

/* Send what @c has in flight. 0 all sent (or some left, EPOLLOUT armed),
 * -1 closed. */
static int out_send(shmpipe_bridge *b, struct conn *c)
{
	while (c->sent < c->len) {
		ssize_t n = send(c->fd, c->buf + c->sent, c->len - c->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			conn_interest(b, c, out_events(c));
			return 0;
		}
		if (n <= 0) {
			conn_close(b, c, NULL);
			return -1;
		}
		c->sent += (size_t)n;
		c->last_ns = shmpipe__now_ns();
	}
	c->len = c->sent = 0;
	conn_interest(b, c, out_events(c));
	return 0;
}

/* A stream goes out in pieces of up to RAW_CHUNK bytes (its bytes carry
 * their own framing): how many of the @n bytes at @p make the next piece.
 * With lines or len32 a piece ends at a unit's end, so that competing
 * connections never get halves of one unit; a unit larger than a piece,
 * or bytes of no such framing, go in plain chunks. */
static size_t stream_piece(const shmpipe_bridge *b, const unsigned char *p,
			   size_t n)
{
	size_t len = n < RAW_CHUNK ? n : RAW_CHUNK, whole = 0;
	struct shmpipe__frame f;
	if (b->cfg.framing == SHMPIPE_FRAMING_LINES) {
		const unsigned char *nl = memrchr(p, '\n', len);
		return nl ? (size_t)(nl - p) + 1 : len;
	}
	if (b->cfg.framing != SHMPIPE_FRAMING_LEN32)
		return len;
	while (shmpipe__frame_next(SHMPIPE_FRAMING_LEN32, p + whole, n - whole,
				   0, RAW_CHUNK, &f) == 1 &&
	       whole + f.size <= RAW_CHUNK)
		whole += f.size;
	return whole ? whole : len;
}

/* Move one unit from the pipe into @c (which has nothing in flight).
 * 1 moved, 0 the pipe has nothing, <0 error. */
/*
 * Take the next unit from @from, framed for an outgoing connection or the
 * FIFO (a message pipe's message gets its newline or length prefix; a
 * stream goes in pieces ending on whole units), into *@buf. Returns 1
 * with *@len the framed size and *@payload the unit's size, 0 when the
 * pipe has nothing, or an error.
 */
static int take_framed(shmpipe_bridge *b, shmpipe *from, unsigned char **buf,
		       size_t *cap, size_t *len, size_t *payload)
{
	const void *p;
	ssize_t n = shmpipe_peek(from, &p, 0);
	if (n == -EAGAIN || n == 0)
		return 0;
	if (n < 0)
		return (int)n;
	size_t unit = b->message ? (size_t)n : stream_piece(b, p, (size_t)n);
	size_t head = b->message && b->cfg.framing == SHMPIPE_FRAMING_LEN32;
	size_t tail = b->message && b->cfg.framing == SHMPIPE_FRAMING_LINES;
	head *= 4;
	if (grow(buf, cap, head + unit + tail) < 0) {
		shmpipe_release(from, 0);
		return -ENOMEM;
	}
	unsigned char *out = *buf;
	if (head) {
		out[0] = (unsigned char)(unit >> 24);
		out[1] = (unsigned char)(unit >> 16);
		out[2] = (unsigned char)(unit >> 8);
		out[3] = (unsigned char)unit;
	}
	memcpy(out + head, p, unit);
	if (tail)
		out[head + unit] = '\n';
	shmpipe_release(from, unit);
	*len = head + unit + tail;
	*payload = unit;
	return 1;
}

/* Move one unit from the pipe into @c (which has nothing in flight).
 * 1 moved, 0 the pipe has nothing, <0 error. */
static int out_take(shmpipe_bridge *b, struct conn *c)
{
	size_t payload;
	int r = take_framed(b, b->pipe, &c->buf, &c->cap, &c->len, &payload);
	if (r <= 0)
		return r;
	c->sent = 0;
	b->st.units++;
	b->st.bytes += payload;
	return 1;
}

static void pipe_interest(shmpipe_bridge *b, unsigned events);
static void fifo_tick(shmpipe_bridge *b);


/* Hand units to idle connections while the pipe has some. */
static void out_distribute(shmpipe_bridge *b)
{
	/* Round robin: a connection that got a unit goes to the end of the
	 * list, so units that come one at a time take turns. */
	for (;;) {
		struct conn *c = b->conns;
		while (c && (c->is_fifo || !c->authed || c->len))
			c = c->next;
		if (!c)
			break;
		int r = out_take(b, c);
		if (r == 0 && shmpipe_next_size(b->pipe, 0) == 0)
			b->out_eof = 1; /* no writer: look again later */
		if (r <= 0)
			break;
		list_remove(b, c);
		list_append(b, c);
		out_send(b, c); /* may close c */
	}
	/* Watch the pipe only while some connection can take a unit (and
	 * not at end of file, where it would stay readable). */
	int idle = 0;
	for (struct conn *c = b->conns; c && !idle; c = c->next)
		idle = !c->is_fifo && c->authed && !c->len;
	pipe_interest(b, idle && !b->out_eof ? EPOLLIN : 0);
	publish_stats(b);
}

/* ------------------------------------------------------------- loop */

static void pipe_interest(shmpipe_bridge *b, unsigned events)
{
	if (b->pipe_events == events)
		return;
	/* IN: made on the first wait for room, not before. Behind the fd is
	 * a thread that wakes at every commit while the pipe has room, a
	 * cost worth paying only once the pipe has been full. If it cannot
	 * be made, sweep() retries the waiting connections instead. */
	int fd = shmpipe_fd(b->pipe);
	if (fd < 0)
		return;
	if (!events)
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL);
	else
		ep_set(b, fd, &b->pipe_ep, events,
		       b->pipe_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
	b->pipe_events = events;
}

/* ------------------------------------------------------------- FIFO */

static void fd_interest(shmpipe_bridge *b, int fd, struct endpoint *ep,
			unsigned *cur, unsigned events)
{
	if (*cur == events || fd < 0)
		return;
	if (!events)
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL);
	else
		ep_set(b, fd, ep, events, *cur ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
	*cur = events;
}

static void fifo_close_writer(shmpipe_bridge *b)
{
	fd_interest(b, b->fifo_fd, &b->fifo_fd_ep, &b->fifo_fd_events, 0);
	fd_interest(b, shmpipe_fd(b->fifo_pipe), &b->fifo_pipe_ep,
		    &b->fifo_pipe_events, 0);
	close(b->fifo_fd);
	b->fifo_fd = -1;
	if (b->fifo_sent < b->fifo_len)
		b->st.partial_discarded++;
	b->fifo_len = b->fifo_sent = 0;
}

/* The FIFO is full: wait for it, not for the pipe. */
static void fifo_wait_writable(shmpipe_bridge *b)
{
	fd_interest(b, shmpipe_fd(b->fifo_pipe), &b->fifo_pipe_ep,
		    &b->fifo_pipe_events, 0);
	fd_interest(b, b->fifo_fd, &b->fifo_fd_ep, &b->fifo_fd_events,
		    EPOLLOUT);
}

/* A stream pipe's bytes go into the FIFO straight from the ring (peek),
 * and only what the FIFO took is released: nothing leaves the pipe that
 * is not in the FIFO, so stopping, or a reader leaving, loses nothing the
 * pipe held. 1 moved some, 0 nothing to move or the FIFO is full (then
 * *@full), <0 the reader went away. */
static int fifo_move_stream(shmpipe_bridge *b, bool *full)
{
	const void *p;
	ssize_t n = shmpipe_peek(b->fifo_pipe, &p, 0);
	if (n <= 0)
		return 0;
	ssize_t w = write(b->fifo_fd, p, (size_t)n);
	int err = errno;
	shmpipe_release(b->fifo_pipe, w > 0 ? (size_t)w : 0);
	if (w > 0)
		return 1;
	if (w < 0 && err == EINTR)
		return 1;
	if (w < 0 && err == EAGAIN) {
		*full = true;
		return 0;
	}
	return -1;
}

/* IN: move the pipe's data into the FIFO while a reader has it open and
 * takes it. A message pipe's units are framed as for --out connections,
 * one at a time through fifo_buf (what the FIFO has not taken yet waits
 * there; drain_and_close() flushes it at a stop). */
static void fifo_pump(shmpipe_bridge *b)
{
	if (b->fifo_fd < 0) {
		b->fifo_fd = open(b->fifo_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (b->fifo_fd < 0)
			return; /* ENXIO: no reader yet; sweep() tries again */
	}
	for (int i = 0; i < 64; i++) {
		bool full = false;
		if (!b->message) {
			int r = fifo_move_stream(b, &full);
			if (r < 0) {
				fifo_close_writer(b); /* the reader went away */
				return;
			}
			if (full)
				return fifo_wait_writable(b);
			if (!r)
				break;
			continue;
		}
		while (b->fifo_sent < b->fifo_len) {
			ssize_t n = write(b->fifo_fd, b->fifo_buf + b->fifo_sent,
					  b->fifo_len - b->fifo_sent);
			if (n < 0 && errno == EAGAIN)
				return fifo_wait_writable(b);
			if (n <= 0 && errno != EINTR) {
				fifo_close_writer(b); /* the reader went away */
				return;
			}
			if (n > 0)
				b->fifo_sent += (size_t)n;
		}
		b->fifo_len = b->fifo_sent = 0;
		size_t payload;
		if (take_framed(b, b->fifo_pipe, &b->fifo_buf, &b->fifo_cap,
				&b->fifo_len, &payload) <= 0)
			break;
	}
	fd_interest(b, b->fifo_fd, &b->fifo_fd_ep, &b->fifo_fd_events, 0);
	fd_interest(b, shmpipe_fd(b->fifo_pipe), &b->fifo_pipe_ep,
		    &b->fifo_pipe_events, EPOLLIN);
}

/* Stop: a message unit the FIFO has taken part of is finished (its reader
 * is there) until @deadline; the rest stays in the pipe. */
static void fifo_flush(shmpipe_bridge *b, uint64_t deadline)
{
	while (b->fifo_fd >= 0 && b->fifo_sent < b->fifo_len &&
	       shmpipe__now_ns() < deadline) {
		ssize_t n = write(b->fifo_fd, b->fifo_buf + b->fifo_sent,
				  b->fifo_len - b->fifo_sent);
		if (n > 0) {
			b->fifo_sent += (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = b->fifo_fd, .events = POLLOUT };
			poll(&pfd, 1, 100);
		} else if (n < 0 && errno != EINTR) {
			break;
		}
	}
}

static void fifo_tick(shmpipe_bridge *b)
{
	if (!b->fifo_made)
		return;
	if (b->cfg.direction == SHMPIPE_BRIDGE_IN) {
		if (b->fifo_fd < 0)
			fifo_pump(b);
	} else if (b->fifo && b->fifo->blocked) {
		b->fifo->blocked = 0;
		service_in(b, b->fifo);
	}
}

static int fifo_open(shmpipe_bridge *b)
{
	const char *path = b->cfg.fifo;
	if (strlen(path) >= sizeof(b->fifo_path))
		return -ENAMETOOLONG;
	strcpy(b->fifo_path, path);
	if (mkfifo(path, 0600) < 0) {
		int r = -errno;
		logf_(b, "fifo '%s': %s", path, strerror(-r));
		return r;
	}
	b->fifo_made = 1;
	b->fifo_pipe_ep.kind = b->fifo_fd_ep.kind = EP_FIFO;
	unsigned side = b->cfg.direction == SHMPIPE_BRIDGE_IN ? SHMPIPE_READ
							      : SHMPIPE_WRITE;
	int r = shmpipe_open(&b->fifo_pipe, b->cfg.pipe, side);
	if (r < 0)
		return r;
	if (b->cfg.direction == SHMPIPE_BRIDGE_IN)
		return 0; /* opened for writing when a reader appears */
	/* OUT: read what unmodified programs write into it; opened
	 * read-write so that it never reads end of file between writers */
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	b->fifo = conn_new(b, fd, 1);
	if (!b->fifo) {
		close(fd);
		return -ENOMEM;
	}
	conn_interest(b, b->fifo, EPOLLIN);
	return 0;
}

/* Close connections idle for too long, or too slow to finish a unit. */
static void sweep(shmpipe_bridge *b)
{
	uint64_t now = shmpipe__now_ns();
	if (now - b->last_sweep_ns < 100000000ull)
		return;
	b->last_sweep_ns = now;
	fifo_tick(b);
	if (b->out_eof) { /* a writer may have come: look again */
		b->out_eof = 0;
		if (b->cfg.direction == SHMPIPE_BRIDGE_OUT)
			out_distribute(b);
	}
	if (b->blocked && !b->pipe_events) /* no pipe fd: poll for room */
		on_pipe_writable(b);
	if (b->cfg.idle_timeout_ms < 0)
		return;
	uint64_t limit = (uint64_t)b->cfg.idle_timeout_ms * 1000000ull;
	/* Now again: the calls above may have stamped connections after the
	 * first reading, and an older now would make their age wrap around. */
	now = shmpipe__now_ns();
	for (struct conn *c = b->conns, *next; c; c = next) {
		next = c->next;
		if (c->is_fifo || c->blocked)
			continue; /* waiting for the pipe is not idleness */
		int out = b->cfg.direction == SHMPIPE_BRIDGE_OUT && c->authed;
		/* OUT: waiting for the pipe is not idleness; a unit the peer
		 * does not take is */
		int idle = now - c->last_ns > limit && (!out || c->len > c->sent);
		int slow = c->len && !out && now - c->unit_ns > limit;
		if (idle || slow) {
			b->st.idle_closed++;
			logf_(b, "closed a connection %s", idle ? "idle too long"
				 : "too slow to complete a unit");
			conn_close(b, c, NULL);
		}
	}
}

/* OUT: a connection only receives. What it sends is read and dropped; its
 * half-close (shutdown(SHUT_WR), as `shmpipe read --connect` does) is not
 * the end: the end is a failed send, or a hang-up. */
static void out_discard_input(shmpipe_bridge *b, struct conn *c)
{
	char sink[4096];
	ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
	if (n == 0) {
		c->rd_closed = 1;
		conn_interest(b, c, c->len > c->sent ? EPOLLOUT : 0);
	}
}

static unsigned out_events(struct conn *c)
{
	unsigned ev = c->len > c->sent ? EPOLLOUT : 0;
	return ev | (c->rd_closed ? 0 : EPOLLIN);
}

static void on_conn_event(shmpipe_bridge *b, struct conn *c, unsigned ev)
{
	if (b->cfg.direction == SHMPIPE_BRIDGE_IN || c->is_fifo || !c->authed) {
		if (service_in(b, c) < 0 || c->blocked)
			return;
		if (b->cfg.direction == SHMPIPE_BRIDGE_OUT && c->authed &&
		    !c->is_fifo) {
			c->len = 0; /* after the token, it only receives */
			conn_interest(b, c, out_events(c));
			out_distribute(b);
		}
		return;
	}
	if (ev & (EPOLLHUP | EPOLLERR)) {
		conn_close(b, c, NULL);
		return;
	}
	if (ev & EPOLLIN)
		out_discard_input(b, c);
	if ((ev & EPOLLOUT) && out_send(b, c) == 0 && !c->len)
		out_distribute(b);
}

static void report(shmpipe_bridge *b)
{
	logf_(b,
	      "stats: accepted %llu, refused %llu, active %llu, units %llu, "
	      "bytes %llu, partial units discarded %llu, token failures "
	      "%llu, oversize %llu, idle closed %llu",
	      (unsigned long long)b->st.accepted,
	      (unsigned long long)b->st.refused,
	      (unsigned long long)b->st.active, (unsigned long long)b->st.units,
	      (unsigned long long)b->st.bytes,
	      (unsigned long long)b->st.partial_discarded,
	      (unsigned long long)b->st.token_failures,
	      (unsigned long long)b->st.oversize,
	      (unsigned long long)b->st.idle_closed);
}

/* Bytes waiting in @c's socket. */
static int pending_bytes(struct conn *c)
{
	int n = 0;
	return ioctl(c->fd, FIONREAD, &n) < 0 ? 0 : n;
}

/* Stop: no more accepting. Every complete unit received goes into the
 * pipe: what is in our buffers and what already sits in the sockets,
 * waiting for room in the pipe for up to two seconds in all. */
static void drain_and_close(shmpipe_bridge *b)
{
	for (size_t i = 0; i < b->nlisteners; i++)
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->listeners[i].fd, NULL);
	uint64_t deadline = shmpipe__now_ns() + 2000000000ull;
	for (struct conn *c = b->conns, *next;
	     c && b->cfg.direction == SHMPIPE_BRIDGE_IN; c = next) {
		next = c->next;
		while (shmpipe__now_ns() < deadline) {
			if (service_in(b, c) < 0)
				break; /* end of input: closed */
			if (c->blocked) { /* wait for room, then go on */
				unblock(b, c);
				struct pollfd pfd = { .fd = shmpipe_fd(b->pipe),
						      .events = POLLOUT };
				poll(&pfd, 1, 100);
				continue;
			}
			if (!pending_bytes(c))
				break;
		}
	}
	if (b->cfg.direction == SHMPIPE_BRIDGE_IN)
		fifo_flush(b, deadline);
	b->stopping = 1;
	while (b->conns)
		conn_close(b, b->conns, NULL);
	report(b);
}

SHMPIPE_API int shmpipe_bridge_run(shmpipe_bridge *b, int stop_fd,
				   int report_fd)
{
	b->stop_ep.kind = EP_STOP;
	b->report_ep.kind = EP_REPORT;
	if (stop_fd >= 0 && ep_set(b, stop_fd, &b->stop_ep, EPOLLIN,
				   EPOLL_CTL_ADD) < 0)
		return -errno;
	if (report_fd >= 0)
		ep_set(b, report_fd, &b->report_ep, EPOLLIN, EPOLL_CTL_ADD);
	if (b->cfg.direction == SHMPIPE_BRIDGE_OUT)
		pipe_interest(b, EPOLLIN);
	struct epoll_event ev[EVENTS];
	for (;;) {
		/* the writable fd of the pipe matters only while some
		 * connection waits for room */
		if (b->cfg.direction == SHMPIPE_BRIDGE_IN)
			pipe_interest(b, b->blocked ? EPOLLOUT : 0);
		int n = epoll_wait(b->epfd, ev, EVENTS, 100);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			struct endpoint *ep = ev[i].data.ptr;
			switch (ep->kind) {
			case EP_LISTENER:
				on_accept(b, (struct listener *)ep);
				break;
			case EP_CONN:
				on_conn_event(b, (struct conn *)ep, ev[i].events);
				break;
			case EP_PIPE:
				if (b->cfg.direction == SHMPIPE_BRIDGE_IN)
					on_pipe_writable(b);
				else
					out_distribute(b);
				break;
			case EP_REPORT: {
				char drain[512];
				(void)!read(report_fd, drain, sizeof(drain));
				report(b);
				break;
			}
			case EP_STOP:
				drain_and_close(b);
				epoll_ctl(b->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
				if (report_fd >= 0)
					epoll_ctl(b->epfd, EPOLL_CTL_DEL,
						  report_fd, NULL);
				return 0;
			case EP_FIFO:
				fifo_pump(b);
				break;
			}
		}
		sweep(b);
	}
}

/* ------------------------------------------------------------ set-up */

SHMPIPE_API int shmpipe_bridge_open(shmpipe_bridge **out,
				    const struct shmpipe_bridge_config *cfg)
{
	if (!out || !cfg || !cfg->pipe || !cfg->listen || !cfg->listen[0] ||
	    cfg->direction > SHMPIPE_BRIDGE_OUT ||
	    cfg->framing > SHMPIPE_FRAMING_LEN32 ||
	    (cfg->flags & ~SHMPIPE_BRIDGE_INSECURE) ||
	    cfg->token_len > TOKEN_MAX || (cfg->token && !cfg->token_len))
		return -EINVAL;
	*out = NULL;
	shmpipe_bridge *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->epfd = -1;
	b->fifo_fd = -1;
	b->pipe_ep.kind = EP_PIPE;
	if (!b->cfg.max_conns)
		b->cfg.max_conns = DEFAULT_MAX_CONNS;
	if (!b->cfg.idle_timeout_ms)
		b->cfg.idle_timeout_ms = DEFAULT_IDLE_MS;
	int r = -ENOMEM;
	if (cfg->token) {
		b->token = malloc(cfg->token_len);
		if (!b->token)
			goto fail;
		memcpy(b->token, cfg->token, cfg->token_len);
	}
	r = shmpipe_open(&b->pipe, cfg->pipe,
			 cfg->direction == SHMPIPE_BRIDGE_IN ? SHMPIPE_WRITE
							     : SHMPIPE_READ);
	if (r < 0) {
		logf_(b, "open pipe '%s': %s", cfg->pipe, shmpipe_strerror(r));
		goto fail;
	}
	b->message = shmpipe_kind(b->pipe) == SHMPIPE_MESSAGE;
	size_t cap = shmpipe_capacity(b->pipe);
	size_t pipe_max = b->message ? (cap - 8) & ~(size_t)7 : cap;
	b->max_unit = cfg->max_unit ? cfg->max_unit : DEFAULT_MAX_UNIT;
	if (b->max_unit > pipe_max)
		b->max_unit = pipe_max;
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0) {
		r = -errno;
		goto fail;
	}
	r = cfg->direction == SHMPIPE_BRIDGE_OUT ? shmpipe_fd(b->pipe) : 0;
	if (r < 0)
		goto fail;
	for (const char *const *a = cfg->listen; *a; a++) {
		r = open_listener(b, *a);
		if (r < 0)
			goto fail;
		struct listener *l = &b->listeners[b->nlisteners - 1];
		r = ep_set(b, l->fd, &l->ep, EPOLLIN, EPOLL_CTL_ADD);
		if (r < 0)
			goto fail;
	}
	if (cfg->fifo) {
		r = fifo_open(b);
		if (r < 0)
			goto fail;
	}
	shmpipe__pipe_bridge_claim(b->pipe);
	publish_stats(b);
	*out = b;
	return 0;
fail:
	shmpipe_bridge_close(b);
	return r;
}

SHMPIPE_API size_t shmpipe_bridge_listener_count(const shmpipe_bridge *b)
{
	return b->nlisteners;
}

SHMPIPE_API const char *shmpipe_bridge_listener(const shmpipe_bridge *b,
						size_t i)
{
	return i < b->nlisteners ? b->listeners[i].addr : NULL;
}

SHMPIPE_API void shmpipe_bridge_stats(const shmpipe_bridge *b,
				      struct shmpipe_bridge_stats *st)
{
	*st = b->st;
}

SHMPIPE_API void shmpipe_bridge_close(shmpipe_bridge *b)
{
	if (!b)
		return;
	while (b->conns)
		conn_close(b, b->conns, NULL);
	for (size_t i = 0; i < b->nlisteners; i++) {
		close(b->listeners[i].fd);
		if (b->listeners[i].is_unix)
			unlink(b->listeners[i].unix_path);
	}
	if (b->pipe)
		shmpipe__pipe_bridge_release(b->pipe);
	if (b->fifo_fd >= 0)
		close(b->fifo_fd);
	if (b->fifo_made)
		unlink(b->fifo_path);
	free(b->fifo_buf);
	shmpipe_close(b->pipe);
	shmpipe_close(b->fifo_pipe);
	if (b->epfd >= 0)
		close(b->epfd);
	free(b->token);
	free(b);
}


SHMPIPE_API int shmpipe_bridge_connect(const char *addr, const void *token,
				       size_t token_len)
{
	struct parsed_addr a;
	if (!addr || parse_addr(addr, &a) < 0 || token_len > TOKEN_MAX)
		return -EINVAL;
	int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r;
	while ((r = connect(fd, (struct sockaddr *)&a.ss, a.len)) < 0 &&
	       errno == EINTR)
		;
	if (r < 0)
		goto fail;
	if (a.family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (token) {
		char line[TOKEN_MAX + 1];
		memcpy(line, token, token_len);
		line[token_len] = '\n';
		size_t done = 0;
		while (done < token_len + 1) {
			ssize_t n = send(fd, line + done, token_len + 1 - done,
					 MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto fail;
			done += (size_t)n;
		}
	}
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}
