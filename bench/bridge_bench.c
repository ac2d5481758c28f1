/* SPDX-License-Identifier: MIT */
/*
 * bridge_bench.c - the bridge against the relays people use today, side by
 * side in one run: N bytes (2 GiB; --quick: 256 MiB) over TCP loopback
 * into one reader through
 *   shmpipe  `shmpipe serve P --listen tcp://127.0.0.1:0` into a stream
 *            pipe of --capacity bytes, drained with shmpipe_read();
 *   socat    `socat -u TCP-LISTEN:PORT,reuseaddr,bind=127.0.0.1 PIPE:fifo`;
 *   mbuffer  `mbuffer -q -f -I 127.0.0.1:PORT -m 64M -o fifo`;
 *   nc       `nc -l -d 127.0.0.1 PORT > fifo` (OpenBSD netcat);
 * the FIFOs drained with read(). The same sender for all: one process
 * writing 1 MiB blocks of bench_pattern to a connected socket. Both kinds
 * of reader copy every byte into their own 1 MiB buffer and count it, so
 * neither is spared touching the data.
 *
 * Each relay is started afresh for every run (its pipe or FIFO too), and
 * bench_cell() (bench.h) alternates the relays run by run (A B C A B C ...)
 * so drift on a noisy machine hits all. A run is timed from just before
 * the sender starts to the reader's exit after the last byte (GB/s of the
 * whole pipeline); its CPU cost is user+sys of the relay and of the reader
 * (wait4 rusage), per GB; the sender's is kept apart. Every run checks the
 * reader got exactly N bytes (and, for shmpipe, that nothing more went
 * into the pipe); before the timed runs, one check run per relay sends a
 * non-repeating pseudo-random stream that the reader compares byte for
 * byte.
 *
 *   bridge_bench [--runs N] [--quick] [--pin] [--csv FILE] [--bytes N]
 *                [--check-bytes N] [--capacity N] [--shmpipe PATH]
 *                [--relays shmpipe,socat,mbuffer,nc] [--tuned | --idle N]
 * --tuned gives the competitors their best settings found here: the FIFO
 * grown to 1 MiB by its reader (F_SETPIPE_SZ) and `socat -b 1048576`
 * (mbuffer's -s did not help). --idle N measures instead the memory and
 * descriptors of `shmpipe serve` holding N idle connections. A relay whose
 * tool is missing is left out (and said so).
 *
 * --pin puts the relay on CPU 0 and the reader on CPU 1. Three processes
 * on two CPUs: one CPU must be shared, and the sender shares CPU 0 with
 * the relay. The sender stands in for the network: on loopback its
 * write()s do the TCP receive work that on a real host runs on the CPU of
 * the socket's reader (the relay: RFS steers it there), so that is where
 * it goes. The reader keeps CPU 1 to itself, and a relay that burns more
 * CPU per byte pays for it in throughput on CPU 0 (mbuffer's threads all
 * inherit CPU 0). Unpinned, the scheduler places all three.
 *
 * CSV rows (--csv, appended; bench.h): case "bridge" ("bridge-tuned" with
 * --tuned), transport the relay, param the bytes per run, metrics gbps,
 * cpu_s_per_gb (relay + reader), sender_cpu_s_per_gb, relay_maxrss_kib;
 * with --idle N: case "bridge-idle", transport "shmpipe", param N, metrics
 * rss_kib and fds, one run.
 *
 * Exit 0, or 1 when a run fails or delivers wrong bytes. Uses only the
 * public API.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "shmpipe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	     (1u << 20)
#define RUN_DEADLINE 180.0 /* seconds: a run taking longer has hung */
#define CPU_RELAY    0	   /* with --pin; the sender's too (see above) */
#define CPU_READER   1

enum relay_kind { R_SHMPIPE, R_SOCAT, R_MBUFFER, R_NC, R_COUNT };

struct relay {
	enum relay_kind kind;
	const char *key, *label, *tool, *missing;
};

static const struct relay relays[R_COUNT] = {
	{ R_SHMPIPE, "shmpipe", "shmpipe serve, stream pipe", "shmpipe",
	  "left out: the shmpipe CLI is missing" },
	{ R_SOCAT, "socat", "socat -u TCP-LISTEN PIPE:fifo", "socat",
	  "left out: socat is missing" },
	{ R_MBUFFER, "mbuffer", "mbuffer -m 64M -o fifo", "mbuffer",
	  "left out: mbuffer is missing" },
	{ R_NC, "nc", "nc -l > fifo (OpenBSD)", "nc",
	  "left out: OpenBSD nc is missing" },
};

/* The metrics of a run, in the order of the table's CSV names. */
enum { M_GBPS, M_CPU, M_SENDER_CPU, M_RELAY_RSS, M_COUNT };

static int tuned, idle_count;
static uint64_t total = 2ull << 30, check_total = 128ull << 20;
static size_t capacity = 64u << 20;
static const char *shmpipe_cli = "shmpipe";
static char tmpdir[] = "/tmp/bridge_bench.XXXXXX";
static char fifo_path[64], pipe_name[64], log_path[64];
static int have_tmpdir;

/* ------------------------------------------------------------ helpers */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Block @blk (CHUNK bytes) of the check runs' non-repeating stream:
 * unlike bench_pattern, it catches a block lost or sent twice. */
static void stream_block(uint64_t blk, unsigned char *buf)
{
	for (size_t i = 0; i < CHUNK / 8; i++) {
		uint64_t v = splitmix64(blk * (CHUNK / 8) + i);
		memcpy(buf + 8 * i, &v, 8);
	}
}

static void cleanup(void)
{
	if (fifo_path[0])
		unlink(fifo_path);
	if (log_path[0])
		unlink(log_path);
	if (pipe_name[0])
		shmpipe_unlink(pipe_name);
	if (have_tmpdir)
		rmdir(tmpdir);
}

/* Replaces bench.h's handler, which knows only the pipe: the FIFO, the
 * log and the directory go too. */
static void on_signal(int sig)
{
	cleanup(); /* children die with us: PR_SET_PDEATHSIG */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void print_log(void)
{
	FILE *f = fopen(log_path, "re");
	char line[512];
	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "    %s", line);
	if (f)
		fclose(f);
}

/* A child on CPU @cpu (with --pin) that dies with us, with SIGCHLD
 * unblocked again. */
static pid_t spawn(int cpu)
{
	pid_t pid = bench_fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		bench_place(cpu);
	}
	return pid;
}

/* Run @argv on the relay's CPU with stdin from /dev/null, stdout to
 * @out_fd (or to @out_path, opened for writing in the child: a FIFO
 * blocks there until its reader comes) and stderr to the log. */
static pid_t spawn_exec(char *const argv[], int out_fd, const char *out_path)
{
	pid_t pid = spawn(CPU_RELAY);
	if (pid != 0)
		return pid;
	int in = open("/dev/null", O_RDONLY);
	int err = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (out_path)
		out_fd = open(out_path, O_WRONLY);
	else if (out_fd < 0)
		out_fd = open("/dev/null", O_WRONLY);
	if (in < 0 || err < 0 || out_fd < 0)
		_exit(126);
	dup2(in, 0);
	dup2(out_fd, 1);
	dup2(err, 2);
	execvp(argv[0], argv);
	_exit(127);
}

/* Wait for @pid until @deadline (bench_now() time): 0 and its status and
 * rusage, or -1 on timeout (it is still running). SIGCHLD is blocked in
 * this process, so sigtimedwait wakes us the moment a child ends. */
static int wait_until(pid_t pid, double deadline, int *status,
		      struct rusage *ru)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		pid_t r = wait4(pid, status, WNOHANG, ru);
		if (r == pid)
			return 0;
		double left = deadline - bench_now();
		if (r < 0 || left <= 0)
			return -1;
		struct timespec ts = { (time_t)left,
				       (long)((left - (double)(time_t)left) *
					      1e9) };
		sigtimedwait(&chld, NULL, &ts);
	}
}

/* Kill and reap @pid (after a failure). */
static void reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static double cpu_of(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec +
	       (double)ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

/* A free loopback port, for the relays that cannot take port 0. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* Whether something listens on TCP @port (/proc/net/tcp and tcp6). */
static int listening(int port)
{
	static const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char want[16], line[512];
	snprintf(want, sizeof(want), ":%04X", port);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "re");
		while (f && fgets(line, sizeof(line), f)) {
			char local[80], remote[80], st[8];
			if (sscanf(line, "%*s %79s %79s %7s", local, remote,
				   st) == 3 &&
			    strstr(local, want) &&
			    !strcmp(local + strlen(local) - 5, want) &&
			    !strcmp(st, "0A")) {
				fclose(f);
				return 1;
			}
		}
		if (f)
			fclose(f);
	}
	return 0;
}

static int tool_exists(const char *tool)
{
	if (strchr(tool, '/'))
		return access(tool, X_OK) == 0;
	const char *path = getenv("PATH");
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
	for (char *save, *dir = strtok_r(buf, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		char full[4200];
		snprintf(full, sizeof(full), "%s/%s", dir, tool);
		if (access(full, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* Only OpenBSD's netcat takes `nc -l -d HOST PORT` and exits at EOF. */
static int openbsd_nc(void)
{
	FILE *f = popen("nc -h 2>&1", "r");
	char line[256];
	int yes = 0;
	while (f && fgets(line, sizeof(line), f))
		yes |= strstr(line, "OpenBSD") != NULL;
	if (f)
		pclose(f);
	return yes;
}

/* ------------------------------------------------------ sender, reader */

/* The sender: @n bytes to 127.0.0.1:@port in CHUNK writes, then a
 * half-close and a wait for the relay's close. */
static void sender(int port, uint64_t n, int check)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("bridge_bench: sender: connect");
		_exit(1);
	}
	unsigned char *buf = check ? malloc(CHUNK) : NULL;
	if (check && !buf)
		_exit(1);
	for (uint64_t off = 0; off < n;) {
		size_t len = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
		/* bench_pattern has 1 MiB in a row at any offset */
		const unsigned char *p = bench_pattern + off % BENCH_PATTERN;
		if (check) {
			stream_block(off / CHUNK, buf);
			p = buf;
		}
		for (size_t done = 0; done < len;) {
			ssize_t w = write(fd, p + done, len - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				perror("bridge_bench: sender: write");
				_exit(1);
			}
			done += (size_t)w;
		}
		off += len;
	}
	shutdown(fd, SHUT_WR);
	struct timeval tv = { .tv_sec = 60 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char sink[256];
	while (read(fd, sink, sizeof(sink)) > 0)
		;
	_exit(0);
}

/* Compare @len received bytes at stream offset @off with the check
 * stream (@exp caches block *@cur). */
static int check_bytes(const unsigned char *p, size_t len, uint64_t off,
		       unsigned char *exp, uint64_t *cur)
{
	while (len) {
		uint64_t blk = off / CHUNK;
		if (blk != *cur) {
			stream_block(blk, exp);
			*cur = blk;
		}
		size_t in = (size_t)(off % CHUNK), k = CHUNK - in;
		if (k > len)
			k = len;
		if (memcmp(p, exp + in, k))
			return -1;
		p += k;
		len -= k;
		off += k;
	}
	return 0;
}

/* The reader: from the FIFO (read() to end of file) or the pipe
 * (shmpipe_read() of exactly @n bytes: the bridge keeps it open). Exit
 * 0 when exactly @n bytes came (and, with @check, the right ones). */
static void reader(enum relay_kind kind, uint64_t n, int check)
{
	unsigned char *buf = malloc(CHUNK), *exp = check ? malloc(CHUNK) : NULL;
	uint64_t got = 0, cur = UINT64_MAX;
	if (!buf || (check && !exp))
		_exit(1);
	shmpipe *p = NULL;
	int fd = -1;
	if (kind == R_SHMPIPE) {
		int r = shmpipe_open(&p, pipe_name, SHMPIPE_READ);
		if (r < 0) {
			fprintf(stderr, "bridge_bench: open %s: %s\n",
				pipe_name, shmpipe_strerror(r));
			_exit(1);
		}
	} else if ((fd = open(fifo_path, O_RDONLY)) < 0) {
		perror("bridge_bench: open fifo");
		_exit(1);
	} else if (tuned && fcntl(fd, F_SETPIPE_SZ, 1 << 20) < 0) {
		perror("bridge_bench: F_SETPIPE_SZ");
		_exit(1);
	}
	for (;;) {
		ssize_t r;
		if (p) {
			if (got == n)
				break;
			size_t want =
				n - got < CHUNK ? (size_t)(n - got) : CHUNK;
			r = shmpipe_read(p, buf, want, 60000);
		} else {
			r = read(fd, buf, CHUNK);
			if (r < 0)
				r = errno == EINTR ? 0 : -errno;
		}
		if (r < 0) {
			fprintf(stderr,
				"bridge_bench: reader: %s after %llu bytes\n",
				shmpipe_strerror((int)r),
				(unsigned long long)got);
			_exit(1);
		}
		if (r == 0 && !p)
			break;
		if (check && check_bytes(buf, (size_t)r, got, exp, &cur) < 0) {
			fprintf(stderr,
				"bridge_bench: reader: wrong bytes near offset "
				"%llu\n",
				(unsigned long long)got);
			_exit(2);
		}
		got += (uint64_t)r;
	}
	if (got != n) {
		fprintf(stderr, "bridge_bench: reader: %llu bytes, want %llu\n",
			(unsigned long long)got, (unsigned long long)n);
		_exit(1);
	}
	_exit(0);
}

/* ------------------------------------------------------------ one run */

struct result {
	double seconds, relay_cpu, reader_cpu, sender_cpu;
	long relay_rss_kb;
};

/* Start the shmpipe bridge on a fresh pipe: its pid, and its port. */
static pid_t start_shmpipe(int *port)
{
	struct shmpipe_config c = { .capacity = capacity,
				    .kind = SHMPIPE_STREAM,
				    .flags = SHMPIPE_REPLACE };
	int r = shmpipe_create(pipe_name, &c);
	if (r < 0) {
		fprintf(stderr, "bridge_bench: create %s: %s\n", pipe_name,
			shmpipe_strerror(r));
		return -1;
	}
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return -1;
	char *argv[] = { (char *)shmpipe_cli, "serve",	 pipe_name, "--listen",
			 "tcp://127.0.0.1:0", "--quiet", NULL };
	pid_t pid = spawn_exec(argv, out[1], NULL);
	close(out[1]);
	/* its first line: "listening tcp://127.0.0.1:PORT" */
	char line[256];
	size_t len = 0;
	double deadline = bench_now() + 10;
	*port = -1;
	while (len < sizeof(line) - 1 && bench_now() < deadline) {
		ssize_t k = read(out[0], line + len, sizeof(line) - 1 - len);
		if (k <= 0)
			break;
		len += (size_t)k;
		line[len] = '\0';
		char *colon = strrchr(line, ':');
		if (strchr(line, '\n') && colon) {
			*port = atoi(colon + 1);
			break;
		}
	}
	close(out[0]);
	if (*port <= 0) {
		fprintf(stderr, "bridge_bench: shmpipe serve did not start\n");
		reap(pid);
		return -1;
	}
	return pid;
}

static pid_t start_fifo_relay(enum relay_kind kind, int *port)
{
	*port = free_port();
	char portarg[160], hostport[64];
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", *port);
	char pipearg[96];
	snprintf(portarg, sizeof(portarg),
		 "TCP-LISTEN:%d,reuseaddr,bind=127.0.0.1", *port);
	snprintf(pipearg, sizeof(pipearg), "PIPE:%s", fifo_path);
	char *socat_argv[] = { "socat", "-u", portarg, pipearg, NULL };
	char *socat_tuned_argv[] = { "socat", "-b",    "1048576", "-u",
				     portarg, pipearg, NULL };
	char *mbuffer_argv[] = { "mbuffer", "-q",  "-f", "-I",	    hostport,
				 "-m",	    "64M", "-o", fifo_path, NULL };
	char portnum[16];
	snprintf(portnum, sizeof(portnum), "%d", *port);
	char *nc_argv[] = { "nc", "-l", "-d", "127.0.0.1", portnum, NULL };
	switch (kind) {
	case R_SOCAT:
		return spawn_exec(tuned ? socat_tuned_argv : socat_argv, -1,
				  NULL);
	case R_MBUFFER:
		return spawn_exec(mbuffer_argv, -1, NULL);
	case R_NC:
		return spawn_exec(nc_argv, -1, fifo_path);
	default:
		return -1;
	}
}

/* One transfer of @n bytes through @kind. 0 and *@res, or -1. */
static int run_once(enum relay_kind kind, uint64_t n, int check,
		    struct result *res)
{
	int port = -1, st;
	pid_t relay = -1, rd = -1, snd = -1;
	struct rusage ru;
	const char *why = NULL;
	(void)!truncate(log_path, 0);
	if (kind == R_SHMPIPE) {
		relay = start_shmpipe(&port);
		if (relay < 0)
			return -1;
		rd = spawn(CPU_READER);
		if (rd == 0)
			reader(kind, n, check);
	} else {
		/* the reader first: it waits in open() for the relay */
		unlink(fifo_path);
		if (mkfifo(fifo_path, 0600) < 0) {
			perror("bridge_bench: mkfifo");
			return -1;
		}
		rd = spawn(CPU_READER);
		if (rd == 0)
			reader(kind, n, check);
		relay = start_fifo_relay(kind, &port);
		if (relay < 0) {
			why = "cannot start the relay";
			goto fail;
		}
	}
	double deadline = bench_now() + 10;
	while (!listening(port)) {
		if (bench_now() > deadline ||
		    waitpid(relay, NULL, WNOHANG) == relay) {
			relay = -1;
			why = "the relay is not listening";
			goto fail;
		}
		usleep(1000);
	}
	double t0 = bench_now();
	snd = spawn(CPU_RELAY);
	if (snd == 0)
		sender(port, n, check);
	if (wait_until(rd, t0 + RUN_DEADLINE, &st, &ru) < 0) {
		why = "timed out";
		goto fail;
	}
	res->seconds = bench_now() - t0;
	res->reader_cpu = cpu_of(&ru);
	rd = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		why = "the reader failed";
		goto fail;
	}
	if (wait_until(snd, bench_now() + 30, &st, &ru) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st)) {
		why = "the sender failed";
		goto fail;
	}
	snd = -1;
	res->sender_cpu = cpu_of(&ru);
	if (kind == R_SHMPIPE)
		kill(relay, SIGTERM);
	if (wait_until(relay, bench_now() + 30, &st, &ru) < 0 ||
	    !WIFEXITED(st) || WEXITSTATUS(st)) {
		why = "the relay failed";
		goto fail;
	}
	relay = -1;
	res->relay_cpu = cpu_of(&ru);
	res->relay_rss_kb = ru.ru_maxrss;
	if (kind == R_SHMPIPE) {
		struct shmpipe_stats s;
		if (shmpipe_stat(pipe_name, &s) < 0 || s.bytes_in != n ||
		    s.bytes_buffered || s.bridge.partial_discarded) {
			why = "the pipe's counters do not add up";
			goto fail;
		}
		shmpipe_unlink(pipe_name);
	} else {
		unlink(fifo_path);
	}
	return 0;
fail:
	fprintf(stderr, "bridge_bench: %s%s run: %s\n", relays[kind].key,
		check ? " check" : "", why);
	print_log();
	reap(snd);
	reap(rd);
	reap(relay);
	return -1;
}

/* A timed run for bench_cell(): @arg is the relay. */
static void run_relay(const void *arg, double *out)
{
	const struct relay *r = arg;
	struct result res;
	if (run_once(r->kind, total, 0, &res) < 0)
		exit(1); /* the reason is printed; exit() runs cleanup() */
	double gb = (double)total / 1e9;
	out[M_GBPS] = gb / res.seconds;
	out[M_CPU] = (res.relay_cpu + res.reader_cpu) / gb;
	out[M_SENDER_CPU] = res.sender_cpu / gb;
	out[M_RELAY_RSS] = (double)res.relay_rss_kb;
}

/* ------------------------------------------------- idle connections */

/* A "Key:   123 kB" line of /proc/@pid/status, in KiB (-1 if missing). */
static long status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	long v = -1;
	size_t klen = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':')
			v = atol(line + klen + 1);
	if (f)
		fclose(f);
	return v;
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static long idle_anon_kb;

/* The bridge's memory while it holds idle_count idle connections, for
 * bench_cell(): VmRSS in KiB and its open descriptors. */
static void run_idle(const void *arg, double *out)
{
	(void)arg;
	int n = idle_count, port = -1, *fds = calloc((size_t)n, sizeof(int));
	int made = 0, ok = 0;
	pid_t relay = fds ? start_shmpipe(&port) : -1;
	if (relay < 0)
		exit(1);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	for (; made < n; made++) {
		fds[made] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[made] < 0 ||
		    connect(fds[made], (struct sockaddr *)&a, sizeof(a)) < 0)
			break;
	}
	double deadline = bench_now() + 30;
	struct shmpipe_stats st;
	while (made == n && bench_now() < deadline) {
		if (shmpipe_stat(pipe_name, &st) == 0 &&
		    st.bridge.active == (uint64_t)n) {
			ok = 1;
			break;
		}
		usleep(10000);
	}
	long rss = status_kb(relay, "VmRSS");
	idle_anon_kb = status_kb(relay, "RssAnon");
	int nfds = count_fds(relay);
	for (int i = 0; i < made; i++)
		close(fds[i]);
	free(fds);
	kill(relay, SIGTERM);
	int status;
	struct rusage ru;
	if (wait_until(relay, bench_now() + 30, &status, &ru) < 0)
		reap(relay);
	shmpipe_unlink(pipe_name);
	if (!ok || rss < 0 || nfds < 0) {
		fprintf(stderr,
			"bridge_bench: the bridge did not take %d "
			"connections\n",
			n);
		exit(1);
	}
	out[0] = (double)rss;
	out[1] = nfds;
}

static void idle_connections(void)
{
	static char label[64], why[64];
	snprintf(label, sizeof(label), "shmpipe serve, %d idle conns",
		 idle_count);
	struct bench_entry e = { .transport = "shmpipe",
				 .label = label,
				 .run = run_idle };
	struct rlimit rl;
	rlim_t want = (rlim_t)idle_count + 64;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want) {
		snprintf(why, sizeof(why), "the fd limit is %llu",
			 (unsigned long long)rl.rlim_cur);
		e.skip = why;
	}
	if (!tool_exists(shmpipe_cli))
		e.skip = relays[R_SHMPIPE].missing;
	char title[96];
	snprintf(title, sizeof(title),
		 "Bridge: memory of shmpipe serve holding %d idle TCP "
		 "connections",
		 idle_count);
	struct bench_table t = { .title = title,
				 .csv_case = "bridge-idle",
				 .param = (uint64_t)idle_count,
				 .nmetrics = 2,
				 .metrics = { "rss_kib", "fds" },
				 .unit = "VmRSS KiB",
				 .higher_better = 0,
				 .baseline = 0 };
	bench_runs = 1;
	bench_cell(&t, &e, 1);
	if (!e.skip)
		printf("  VmRSS %.1f MiB (RssAnon %.1f MiB), %.0f fds\n",
		       e.v[0][0] / 1024, (double)idle_anon_kb / 1024,
		       e.v[0][1]);
}

/* ------------------------------------------------------------- report */

/* Median of metric @m over the runs of @e, and its extremes. */
static double spread(const struct bench_entry *e, int m, double *min,
		     double *max)
{
	double v[BENCH_MAX_RUNS];
	for (int r = 0; r < bench_runs; r++)
		v[r] = e->v[r][m];
	double median = bench_median(v, bench_runs);
	if (min)
		*min = v[0];
	if (max)
		*max = v[bench_runs - 1];
	return median;
}

static void ratio_line(const struct bench_entry *a, const struct bench_entry *b,
		       double target)
{
	if (!a || !b || a->skip || b->skip)
		return;
	double tp =
		spread(a, M_GBPS, NULL, NULL) / spread(b, M_GBPS, NULL, NULL);
	double cpu =
		spread(a, M_CPU, NULL, NULL) / spread(b, M_CPU, NULL, NULL);
	printf("  %s / %-8s throughput x%.2f (target >= %.1f: %s), CPU per GB "
	       "x%.2f (target < 1: %s)\n",
	       a->transport, b->transport, tp, target,
	       tp >= target ? "met" : "NOT met", cpu,
	       cpu < 1 ? "met" : "NOT met");
}

/* The 1, 5 and 15-minute load averages: other work on the machine shows
 * in the figures, and this says whether there was any. */
static void loadavg(char *buf, size_t size)
{
	FILE *f = fopen("/proc/loadavg", "re");
	double a = 0, b = 0, c = 0;
	if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
		a = b = c = 0;
	if (f)
		fclose(f);
	snprintf(buf, size, "%.2f %.2f %.2f", a, b, c);
}

/* What bench_cell's GB/s table leaves out: the method, the CPU per GB,
 * the relays' memory and the ratios against the targets. */
static void report(const struct bench_entry *e, int n,
		   const struct bench_entry *by_kind[R_COUNT],
		   const char *load_before)
{
	char load_after[64];
	loadavg(load_after, sizeof(load_after));
	printf("  competitors %s\n",
	       tuned ? "TUNED: the FIFO grown to 1 MiB (F_SETPIPE_SZ), socat "
		       "-b 1048576"
		     : "as they come: a FIFO of the default size, socat's "
		       "default -b");
	printf("  %s\n",
	       bench_pinned ? "pinned: relay and sender on CPU 0, reader on "
			      "CPU 1"
			    : "unpinned: the scheduler places sender, relay "
			      "and reader");
	printf("  same sender for all (1 MiB write()s); the reader copies "
	       "every byte (shmpipe_read / read of a FIFO);\n"
	       "  GB/s: first byte sent to last byte read; CPU: user+sys "
	       "seconds of relay + reader per GB (sender apart)\n");
	printf("  %-34s %23s  %8s %6s\n", "", "CPU s/GB, lower is better",
	       "sender", "relay");
	printf("  %-34s %7s %7s %7s  %8s %6s\n", "relay", "median", "min",
	       "max", "s/GB", "MiB");
	for (int i = 0; i < n; i++) {
		if (e[i].skip)
			continue;
		double min, max, median = spread(&e[i], M_CPU, &min, &max);
		double rss_max;
		spread(&e[i], M_RELAY_RSS, NULL, &rss_max);
		printf("  %-34s %7.3f %7.3f %7.3f  %8.3f %6.0f\n", e[i].label,
		       median, min, max,
		       spread(&e[i], M_SENDER_CPU, NULL, NULL), rss_max / 1024);
	}
	printf("  (relay MiB: its largest RSS; shmpipe's counts the pages of "
	       "the pipe it wrote)\n");
	ratio_line(by_kind[R_SHMPIPE], by_kind[R_SOCAT], 2.0);
	ratio_line(by_kind[R_SHMPIPE], by_kind[R_MBUFFER], 1.2);
	printf("  checked: %.0f MiB of non-repeating pseudo-random data "
	       "through each relay, byte for byte; every run's byte count\n",
	       (double)check_total / (1 << 20));
	printf("  %ld CPUs; load average (1, 5, 15 min) at the start %s, at "
	       "the end %s (the runs add ~2.5: other work disturbs them)\n",
	       sysconf(_SC_NPROCESSORS_ONLN), load_before, load_after);
	fflush(stdout);
}

/* --------------------------------------------------------------- main */

static int usage(void)
{
	fprintf(stderr,
		"usage: bridge_bench [--runs N] [--quick] [--pin] [--csv FILE] "
		"[--bytes N]\n"
		"                    [--check-bytes N] [--capacity N] "
		"[--shmpipe PATH]\n"
		"                    [--relays shmpipe,socat,mbuffer,nc] "
		"[--tuned | --idle N]\n");
	return 2;
}

/* The relays named in @list, as bench_cell() entries; a missing tool
 * makes its entry a skipped one. Returns how many. */
static int make_entries(const char *list, struct bench_entry *e,
			const struct bench_entry *by_kind[R_COUNT])
{
	static char shmpipe_label[64];
	snprintf(shmpipe_label, sizeof(shmpipe_label), "%s %zu MiB",
		 relays[R_SHMPIPE].label, capacity >> 20);
	char padded[128];
	snprintf(padded, sizeof(padded), ",%s,", list);
	int n = 0;
	for (int k = 0; k < R_COUNT; k++) {
		const struct relay *r = &relays[k];
		char key[32];
		snprintf(key, sizeof(key), ",%s,", r->key);
		if (!strstr(padded, key))
			continue;
		e[n] = (struct bench_entry){ .transport = r->key,
					     .label = r->label,
					     .run = run_relay,
					     .arg = r };
		if (k == R_SHMPIPE)
			e[n].label = shmpipe_label;
		const char *tool = k == R_SHMPIPE ? shmpipe_cli : r->tool;
		if (!tool_exists(tool) || (k == R_NC && !openbsd_nc()))
			e[n].skip = r->missing;
		by_kind[k] = &e[n++];
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *list = "shmpipe,socat,mbuffer,nc";
	int64_t bytes = -1, check_bytes_arg = -1;
	argc = bench_parse_common(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--tuned")) {
			tuned = 1;
			continue;
		}
		if (!v)
			return usage();
		if (!strcmp(a, "--bytes"))
			bytes = (int64_t)strtoull(v, NULL, 0);
		else if (!strcmp(a, "--check-bytes"))
			check_bytes_arg = (int64_t)strtoull(v, NULL, 0);
		else if (!strcmp(a, "--capacity"))
			capacity = (size_t)strtoull(v, NULL, 0);
		else if (!strcmp(a, "--relays"))
			list = v;
		else if (!strcmp(a, "--shmpipe"))
			shmpipe_cli = v;
		else if (!strcmp(a, "--idle"))
			idle_count = atoi(v);
		else
			return usage();
		i++;
	}
	if (bench_quick) {
		total = 256ull << 20;
		check_total = 32ull << 20;
	}
	if (bytes >= 0)
		total = (uint64_t)bytes;
	if (check_bytes_arg >= 0)
		check_total = (uint64_t)check_bytes_arg;
	if (!total || !capacity || idle_count < 0 || (idle_count && tuned))
		return usage();
	if (check_total > total)
		check_total = total;

	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if (!mkdtemp(tmpdir))
		bench_die("mkdtemp", 0);
	have_tmpdir = 1;
	snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", tmpdir);
	snprintf(log_path, sizeof(log_path), "%s/log", tmpdir);
	snprintf(pipe_name, sizeof(pipe_name), "bench-%ld-bridge",
		 (long)getpid());
	bench_cleanup_pipe(pipe_name);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal); /* whoever read our output is gone */

	if (idle_count) {
		idle_connections();
		return 0;
	}

	struct bench_entry e[R_COUNT];
	const struct bench_entry *by_kind[R_COUNT] = { NULL };
	int n = make_entries(list, e, by_kind);
	char load_before[64];
	loadavg(load_before, sizeof(load_before));
	struct result res;
	for (int i = 0; i < n; i++) {
		const struct relay *r = e[i].arg;
		if (!e[i].skip && run_once(r->kind, check_total, 1, &res) < 0)
			exit(1);
	}
	/* the ratios are against socat, or else the first relay there is */
	int baseline = -1;
	for (int i = 0; i < n; i++)
		if (!e[i].skip &&
		    (baseline < 0 || e[i].arg == &relays[R_SOCAT]))
			baseline = i;
	char title[160];
	snprintf(title, sizeof(title),
		 "Bridge: %.2f GiB over TCP loopback into one reader through "
		 "each relay, alternating",
		 (double)total / (1 << 30));
	struct bench_table t = {
		.title = title,
		.csv_case = tuned ? "bridge-tuned" : "bridge",
		.param = total,
		.nmetrics = M_COUNT,
		.metrics = { "gbps", "cpu_s_per_gb", "sender_cpu_s_per_gb",
			     "relay_maxrss_kib" },
		.unit = "GB/s",
		.higher_better = 1,
		.baseline = baseline < 0 ? 0 : baseline,
	};
	bench_cell(&t, e, n);
	report(e, n, by_kind, load_before);
	return 0;
}
