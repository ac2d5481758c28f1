/* SPDX-License-Identifier: MIT */
/*
 * cmd_serve.c - `shmpipe serve`: the bridge between sockets and a pipe,
 * and the token-file and address helpers that `write/read --connect` use.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

static void serve_usage(void)
{
	printf("Usage: shmpipe serve NAME --listen ADDR [--listen ADDR]... [OPTION]...\n"
	       "Let remote processes write into the pipe NAME (or, with --out, read\n"
	       "from it) over TCP or Unix stream sockets, with any client (nc, socat,\n"
	       "bash's /dev/tcp). The first lines on stdout say where it listens:\n"
	       "  listening tcp://127.0.0.1:43121\n\n"
	       "  -l, --listen ADDR      tcp://HOST:PORT, tcp://[IPV6]:PORT, tcp://:PORT\n"
	       "                         (loopback), unix:PATH; port 0 picks a free one\n"
	       "      --out              connections read the pipe (each unit goes to\n"
	       "                         one of them); default: they write into it\n"
	       "  -f, --framing F        raw (chunks as they come, the default), lines\n"
	       "                         (whole newline-ended lines) or len32 (4-byte\n"
	       "                         big-endian length + bytes): the unit that is\n"
	       "                         committed atomically; a unit cut off by a\n"
	       "                         disconnect is discarded\n"
	       "  -t, --token-file F     each connection must first send the first line\n"
	       "                         of F; required for a non-loopback address\n"
	       "      --insecure         allow a non-loopback address without a token\n"
	       "      --allow-uid U,...  Unix sockets: only these user ids\n"
	       "      --max-conns N      more connections are refused (default 1024)\n"
	       "      --idle-timeout S   close a connection idle, or slower than S to\n"
	       "                         send one unit, for S seconds (default 60; 0 never)\n"
	       "      --max-unit L       largest unit (default: what the pipe holds, at\n"
	       "                         most 1M); larger ones close the connection\n"
	       "      --fifo PATH        also make PATH a FIFO: fed from the pipe (or, with\n"
	       "                         --out, feeding it) for unmodified programs\n"
	       "  -q, --quiet            no log lines on stderr\n"
	       "  -h, --help             show this help\n\n"
	       "When the pipe is full the bridge stops reading (TCP pushes back on the\n"
	       "writers): nothing is dropped. SIGINT, SIGTERM, SIGHUP: stop accepting,\n"
	       "commit every complete unit received, exit 0 (the pipe and its data\n"
	       "stay). SIGUSR1 logs the counters; `shmpipe stat NAME` shows them too.\n\n"
	       "Example:\n"
	       "  shmpipe serve sensors --listen tcp://0.0.0.0:9000 --framing lines \\\n"
	       "      --token-file /etc/shmpipe/token\n"
	       "  # remote:  (cat token; sensor-feed) | nc gateway 9000\n");
}

int cli_read_token(const char *path, char *buf, size_t size, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)size, f)) {
		fclose(f);
		return -ENODATA;
	}
	fclose(f);
	size_t n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (!n)
		return -ENODATA;
	*len = n;
	return 0;
}

static int parse_uids(const char *s, uid_t *uids, size_t max, size_t *n)
{
	*n = 0;
	while (*s) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(s, &end, 10);
		if (errno || end == s || (*end && *end != ',') || *n == max)
			return -EINVAL;
		uids[(*n)++] = (uid_t)v;
		s = *end ? end + 1 : end;
	}
	return *n ? 0 : -EINVAL;
}

static const char *serve_name;
static int serve_quiet;

static void serve_log(void *arg, const char *msg)
{
	(void)arg;
	if (!serve_quiet)
		fprintf(stderr, "shmpipe serve %s: %s\n", serve_name, msg);
}

struct serve_opts {
	struct shmpipe_bridge_config cfg;
	const char *listen[17];
	size_t nlisten;
	char token[4097];
	uid_t uids[64];
};

static int parse_serve(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "out", no_argument, NULL, 'O' },
		{ "framing", required_argument, NULL, 'f' },
		{ "token-file", required_argument, NULL, 't' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "allow-uid", required_argument, NULL, 'u' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "max-unit", required_argument, NULL, 'U' },
		{ "fifo", required_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "l:f:t:qh", opts, NULL)) != -1) {
		uint64_t v;
		int ms, r;
		switch (c) {
		case 'l':
			if (o->nlisten == 16)
				return cli_usage_error("serve", "at most 16 --listen");
			o->listen[o->nlisten++] = optarg;
			break;
		case 'O':
			o->cfg.direction = SHMPIPE_BRIDGE_OUT;
			break;
		case 'f':
			if (!strcmp(optarg, "raw"))
				o->cfg.framing = SHMPIPE_FRAMING_RAW;
			else if (!strcmp(optarg, "lines"))
				o->cfg.framing = SHMPIPE_FRAMING_LINES;
			else if (!strcmp(optarg, "len32"))
				o->cfg.framing = SHMPIPE_FRAMING_LEN32;
			else
				return cli_usage_error("serve", "bad framing '%s' (raw, lines or len32)", optarg);
			break;
		case 't':
			r = cli_read_token(optarg, o->token, sizeof(o->token),
					   &o->cfg.token_len);
			if (r < 0) {
				cli_error(r == -ENODATA ? 0 : r,
					  "serve: token file '%s'%s", optarg,
					  r == -ENODATA ? ": its first line is empty" : "");
				return EXIT_ERROR;
			}
			o->cfg.token = o->token;
			break;
		case 'I':
			o->cfg.flags |= SHMPIPE_BRIDGE_INSECURE;
			break;
		case 'u':
			if (parse_uids(optarg, o->uids, 64, &o->cfg.allow_uids_count) < 0)
				return cli_usage_error("serve", "bad uid list '%s'", optarg);
			o->cfg.allow_uids = o->uids;
			break;
		case 'm':
			if (cli_parse_count(optarg, &v) < 0 || !v || v > 1000000)
				return cli_usage_error("serve", "bad --max-conns '%s'", optarg);
			o->cfg.max_conns = (unsigned)v;
			break;
		case 'i':
			if (cli_parse_seconds(optarg, &ms) < 0)
				return cli_usage_error("serve", "bad --idle-timeout '%s' (seconds)", optarg);
			o->cfg.idle_timeout_ms = ms ? ms : -1;
			break;
		case 'U':
			if (cli_parse_size(optarg, &o->cfg.max_unit) < 0 ||
			    !o->cfg.max_unit)
				return cli_usage_error("serve", "bad --max-unit '%s'", optarg);
			break;
		case 'F':
			o->cfg.fifo = optarg;
			break;
		case 'q':
			serve_quiet = 1;
			break;
		case 'h':
			serve_usage();
			return -1;
		default:
			return cli_usage_error("serve", "bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("serve", "expected one pipe NAME");
	if (!o->nlisten)
		return cli_usage_error("serve", "expected at least one --listen ADDR (e.g. tcp://:9000)");
	o->listen[o->nlisten] = NULL;
	o->cfg.listen = o->listen;
	o->cfg.pipe = serve_name = argv[optind];
	o->cfg.log = serve_log;
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	memset(&o, 0, sizeof(o));
	int r = parse_serve(argc, argv, &o);
	if (r)
		return r < 0 ? EXIT_OK : r;
	signal(SIGPIPE, SIG_IGN);
	shmpipe_shutdown *sd;
	r = shmpipe_shutdown_open(&sd, 0);
	if (r < 0) {
		cli_error(r, "serve '%s': signal handling", serve_name);
		return EXIT_ERROR;
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	int report_fd = signalfd(-1, &usr1, SFD_CLOEXEC | SFD_NONBLOCK);
	shmpipe_bridge *b;
	r = shmpipe_bridge_open(&b, &o.cfg);
	if (r < 0) {
		if (r == -ENOENT || r == -EPROTO)
			cli_pipe_error(r, "serve", serve_name);
		else if (r == -EPERM) /* the log line names the address */
			fprintf(stderr, "shmpipe: serve '%s': a non-loopback "
					"address needs --token-file F (or "
					"--insecure)\n",
				serve_name);
		else
			fprintf(stderr, "shmpipe: serve '%s': %s\n", serve_name,
				shmpipe_strerror(r));
		shmpipe_shutdown_close(sd);
		return r == -EINVAL || r == -EPERM ? EXIT_USAGE : EXIT_ERROR;
	}
	for (size_t i = 0; i < shmpipe_bridge_listener_count(b); i++)
		printf("listening %s\n", shmpipe_bridge_listener(b, i));
	fflush(stdout);
	r = shmpipe_bridge_run(b, shmpipe_shutdown_fd(sd), report_fd);
	shmpipe_bridge_close(b);
	shmpipe_shutdown_close(sd);
	if (report_fd >= 0)
		close(report_fd);
	if (r < 0) {
		cli_error(r, "serve '%s'", serve_name);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}
