/* SPDX-License-Identifier: MIT */
/*
 * cmd_doctor.c - `shmpipe doctor`: what limits IPC on this machine, and
 * what it means for shmpipe. Each check gets a value, a status (ok, warn,
 * fail) and, when not ok, one line of meaning or advice; --json gives the
 * same data with the raw numbers. Nothing here changes the machine: the
 * only objects made (a robust mutex in anonymous shared memory, a memfd)
 * are private to this process and gone when it exits.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "shmpipe.h"

#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* logind leaves users up to this uid alone (systemd's SYSTEM_UID_MAX). */
#define SYSTEM_UID_MAX 999

enum status { OK, WARN, FAIL };
static const char *const status_names[] = { "ok", "warn", "fail" };

enum field_type { FIELD_NUMBER, FIELD_STRING, FIELD_BOOL, FIELD_NULL };

/* One raw datum of a check, for --json. */
struct field {
	const char *key;
	enum field_type type;
	uint64_t number; /* FIELD_NUMBER, and FIELD_BOOL (0 or 1) */
	char string[128];
};

#define MAX_FIELDS 10

struct check {
	const char *key;   /* JSON key */
	const char *label; /* text column */
	enum status status;
	char value[256];
	char advice[512]; /* empty when there is nothing to say */
	unsigned nfields;
	struct field fields[MAX_FIELDS];
};

static struct field *add_field(struct check *c, const char *key,
			       enum field_type type)
{
	struct field *f = &c->fields[c->nfields < MAX_FIELDS ? c->nfields++
							     : MAX_FIELDS - 1];
	memset(f, 0, sizeof(*f));
	f->key = key;
	f->type = type;
	return f;
}

static void field_number(struct check *c, const char *key, uint64_t n)
{
	add_field(c, key, FIELD_NUMBER)->number = n;
}

static void field_bool(struct check *c, const char *key, bool b)
{
	add_field(c, key, FIELD_BOOL)->number = b;
}

/* A string, or null for NULL. */
static void field_string(struct check *c, const char *key, const char *s)
{
	struct field *f = add_field(c, key, s ? FIELD_STRING : FIELD_NULL);
	if (s)
		snprintf(f->string, sizeof(f->string), "%s", s);
}

/* A resource limit: a number, or null for RLIM_INFINITY. */
static void field_limit(struct check *c, const char *key, rlim_t v)
{
	if (v == RLIM_INFINITY)
		add_field(c, key, FIELD_NULL);
	else
		field_number(c, key, (uint64_t)v);
}

static void set_value(struct check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_value(struct check *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->value, sizeof(c->value), fmt, ap);
	va_end(ap);
}

static void set_advice(struct check *c, enum status s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_advice(struct check *c, enum status s, const char *fmt, ...)
{
	va_list ap;
	c->status = s;
	va_start(ap, fmt);
	vsnprintf(c->advice, sizeof(c->advice), fmt, ap);
	va_end(ap);
}

/* A number from the first line of @path: 0 or -errno. */
static int read_number(const char *path, uint64_t *out)
{
	char buf[64];
	size_t len;
	int r = cli_read_token(path, buf, sizeof(buf), &len);
	if (r < 0)
		return r;
	return cli_parse_count(buf, out);
}

/* ------------------------------------------------------------- /dev/shm */

static void check_dev_shm(struct check *c)
{
	struct cli_shm_info info;
	int r = cli_shm_info(&info);
	char where[128], advice[320], n[32];
	cli_shm_advice(advice, sizeof(advice), &info, 0);
	field_bool(c, "present", info.present);
	if (!info.present) {
		set_value(c, "missing (%s)", shmpipe_strerror(r));
		set_advice(c, FAIL,
			   "no pipe can be created or opened without it; %s",
			   advice);
		return;
	}
	if (r < 0) {
		set_value(c, "cannot examine it (%s)", shmpipe_strerror(r));
		set_advice(c, FAIL, "statvfs(/dev/shm) failed: %s",
			   shmpipe_strerror(r));
		return;
	}
	field_bool(c, "mounted", info.mounted);
	field_string(c, "fstype", info.fstype);
	field_bool(c, "writable", info.writable);
	field_bool(c, "limited", info.limited);
	field_number(c, "size", info.size);
	field_number(c, "free", info.free);
	field_number(c, "inodes", info.inodes);
	field_number(c, "inodes_free", info.inodes_free);
	cli_shm_describe(where, sizeof(where), &info);
	if (info.mounted)
		set_value(c, "%s", where);
	else
		set_value(c, "not a mount of its own: %s", where);

	if (info.inodes && !info.inodes_free)
		set_advice(c, FAIL,
			   "no free inode: no object can be created; %s",
			   advice);
	else if (!info.writable)
		set_advice(c, WARN,
			   "this user cannot create objects here (only open "
			   "others'); /dev/shm is normally mode 1777: 'chmod "
			   "1777 /dev/shm' (as root)");
	else if (!info.mounted || !info.tmpfs)
		set_advice(c, WARN,
			   "objects share the space (and, if not tmpfs, the "
			   "disk) of the filesystem %s is on; %s",
			   CLI_SHM_DIR, advice);
	else if (info.limited && info.size < CLI_SHM_SMALL)
		set_advice(c, WARN,
			   "small (%s): each pipe takes its whole capacity "
			   "here, so all pipes together hold at most that "
			   "(Docker's default is 64 MiB); %s",
			   cli_human_size(info.size, n), advice);
	else if (info.limited && info.free < CLI_SHM_SMALL)
		set_advice(c, WARN,
			   "only %s free: remove unused objects ('shmpipe ls', "
			   "'shmpipe rm'), or %s",
			   cli_human_size(info.free, n), advice);
}

/* ------------------------------------------------------- kernel pipes */

static void check_sysctl(struct check *c, const char *path,
			 const char *field, bool pages)
{
	uint64_t v;
	int r = read_number(path, &v);
	if (r < 0) {
		set_value(c, "unknown (%s: %s)", path, shmpipe_strerror(r));
		set_advice(c, WARN,
			   "cannot tell this limit of kernel pipes (shmpipe "
			   "pipes do not depend on it)");
		return;
	}
	field_number(c, field, v);
	char h[32];
	if (!pages)
		set_value(c, "%" PRIu64 " bytes (%s)", v, cli_human_size(v, h));
	else if (v == 0)
		set_value(c, "0 (no limit)");
	else
		set_value(c, "%" PRIu64 " pages (%s)", v,
			  cli_human_size(v * (uint64_t)sysconf(_SC_PAGESIZE),
					 h));
}

/* --------------------------------------------------- POSIX mq limits */

static void check_mqueue(struct check *c)
{
	static const char *const names[] = { "msg_max", "msgsize_max",
					     "queues_max" };
	uint64_t v[3];
	for (int i = 0; i < 3; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/sys/fs/mqueue/%s",
			 names[i]);
		int r = read_number(path, &v[i]);
		if (r < 0) {
			set_value(c, "unknown (%s: %s)", path,
				  shmpipe_strerror(r));
			set_advice(c, WARN,
				   "POSIX message queues may be missing "
				   "(kernel without CONFIG_POSIX_MQUEUE); "
				   "shmpipe does not use them");
			return;
		}
		field_number(c, names[i], v[i]);
	}
	set_value(c, "msg_max %" PRIu64 ", msgsize_max %" PRIu64
		  ", queues_max %" PRIu64, v[0], v[1], v[2]);
}

static void check_rlimit(struct check *c, int resource)
{
	struct rlimit rl;
	if (getrlimit(resource, &rl) < 0) {
		set_value(c, "unknown (%s)", strerror(errno));
		c->status = WARN;
		return;
	}
	field_limit(c, "soft", rl.rlim_cur);
	field_limit(c, "hard", rl.rlim_max);
	char soft[48], hard[48], h[32];
	if (rl.rlim_cur == RLIM_INFINITY)
		snprintf(soft, sizeof(soft), "unlimited");
	else
		snprintf(soft, sizeof(soft), "%" PRIu64 " bytes (%s)",
			 (uint64_t)rl.rlim_cur,
			 cli_human_size(rl.rlim_cur, h));
	if (rl.rlim_max == RLIM_INFINITY)
		snprintf(hard, sizeof(hard), "unlimited");
	else
		snprintf(hard, sizeof(hard), "%s",
			 cli_human_size(rl.rlim_max, h));
	set_value(c, "%s, hard %s", soft, hard);
}

/* ------------------------------------------------ robust futex, memfd */

/* A robust process-shared mutex locked by a child that then dies must
 * come back to the next locker with EOWNERDEAD: shmpipe_state relies on
 * it to tell that a holder died. */
static void check_robust_futex(struct check *c)
{
	pthread_mutex_t *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		set_value(c, "not tested (mmap: %s)", strerror(errno));
		set_advice(c, FAIL, "no shared memory at all");
		return;
	}
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	int r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (r == 0)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (r == 0)
		r = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	if (r) {
		set_value(c, "no robust shared mutex (%s)", strerror(r));
		set_advice(c, FAIL,
			   "shmpipe_state cannot work: a lock held by a killed "
			   "process could never be recovered");
		munmap(m, sizeof(*m));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(pthread_mutex_lock(m) == 0 ? 0 : 1);
	int st = 0;
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		set_value(c, "not tested (%s)",
			  pid < 0 ? strerror(errno) : "the child could not lock");
		set_advice(c, WARN, "could not run the test");
	} else {
		r = pthread_mutex_trylock(m);
		if (r == EOWNERDEAD) {
			pthread_mutex_consistent(m);
			pthread_mutex_unlock(m);
			set_value(c, "a dead holder's lock came back with "
				     "EOWNERDEAD");
		} else {
			if (r == 0)
				pthread_mutex_unlock(m);
			set_value(c, "a dead holder's lock %s",
				  r == 0 ? "was free, without EOWNERDEAD"
					 : "stayed locked");
			set_advice(c, FAIL,
				   "robust futexes do not work here (an "
				   "emulated kernel?): shmpipe_state cannot "
				   "recover a lock whose holder died");
		}
	}
	pthread_mutex_destroy(m);
	munmap(m, sizeof(*m));
}

static void check_memfd(struct check *c)
{
	int fd = memfd_create("shmpipe-doctor", MFD_CLOEXEC);
	if (fd < 0) {
		set_value(c, "fails (%s)", strerror(errno));
		set_advice(c, WARN,
			   "programs that share anonymous memory by passing a "
			   "memfd cannot; shmpipe itself does not need it");
		return;
	}
	int r = ftruncate(fd, (off_t)sysconf(_SC_PAGESIZE));
	int e = errno;
	close(fd);
	if (r < 0) {
		set_value(c, "created, but cannot be sized (%s)", strerror(e));
		set_advice(c, WARN, "memfds are unusable here; shmpipe itself "
				    "does not need them");
		return;
	}
	set_value(c, "works");
}

/* ----------------------------------------------- namespaces, container */

/* readlink() of /proc/PID/ns/NAME: 0 or -errno. */
static int ns_id(const char *pid, const char *name, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, name);
	ssize_t n = readlink(path, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Whether this process's namespace @name is PID 1's: "same as PID 1",
 * "differs from PID 1", or NULL (unknown: *@err says why). */
static const char *compare_ns(struct check *c, const char *name,
			      const char *same_key, int *err)
{
	char self[64], init[64];
	*err = ns_id("self", name, self, sizeof(self));
	if (*err == 0)
		*err = ns_id("1", name, init, sizeof(init));
	if (*err) {
		add_field(c, same_key, FIELD_NULL);
		return NULL;
	}
	field_bool(c, same_key, !strcmp(self, init));
	return strcmp(self, init) ? "differs from PID 1" : "same as PID 1";
}

static void check_namespaces(struct check *c)
{
	int ipc_err, mnt_err;
	const char *ipc = compare_ns(c, "ipc", "ipc_same_as_pid1", &ipc_err);
	const char *mnt = compare_ns(c, "mnt", "mnt_same_as_pid1", &mnt_err);
	int err = ipc_err ? ipc_err : mnt_err;
	if (err && !ipc && !mnt)
		set_value(c, "unknown (cannot read /proc/1/ns: %s)",
			  shmpipe_strerror(err));
	else
		set_value(c, "ipc %s, mnt %s", ipc ? ipc : "unknown",
			  mnt ? mnt : "unknown");
	if (mnt && strcmp(mnt, "same as PID 1"))
		set_advice(c, WARN,
			   "this process has a mount namespace of its own: "
			   "pipes are visible only to processes that share "
			   "this /dev/shm");
	else if (ipc && strcmp(ipc, "same as PID 1"))
		set_advice(c, WARN,
			   "this process has an ipc namespace of its own "
			   "(its POSIX message queues and System V IPC are "
			   "private); pipes are visible to every process that "
			   "shares this /dev/shm");
	else if (err)
		set_advice(c, WARN,
			   "cannot compare with PID 1: if its namespaces "
			   "differ, pipes are visible only to processes that "
			   "share this /dev/shm");
}

/* The value of "container=" in PID 1's environment into @buf: 0,
 * -ENOENT (not set) or -errno (unreadable). */
static int init_container_var(char *buf, size_t size)
{
	FILE *f = fopen("/proc/1/environ", "re");
	if (!f)
		return -errno;
	char var[256];
	size_t n = 0;
	int ch, r = -ENOENT;
	while ((ch = getc(f)) != EOF) {
		if (ch != '\0') {
			if (n < sizeof(var) - 1)
				var[n++] = (char)ch;
			continue;
		}
		var[n] = '\0';
		n = 0;
		if (!strncmp(var, "container=", 10)) {
			snprintf(buf, size, "%s", var + 10);
			r = 0;
		}
	}
	fclose(f);
	return r;
}

static void check_container(struct check *c)
{
	char evidence[320] = "", var[256];
	int r = init_container_var(var, sizeof(var));
	if (access("/.dockerenv", F_OK) == 0)
		snprintf(evidence, sizeof(evidence), "/.dockerenv");
	else if (access("/run/.containerenv", F_OK) == 0)
		snprintf(evidence, sizeof(evidence), "/run/.containerenv");
	else if (r == 0)
		snprintf(evidence, sizeof(evidence),
			 "container=%s in PID 1's environment", var);
	field_bool(c, "detected", evidence[0] != '\0');
	field_string(c, "evidence", evidence[0] ? evidence : NULL);
	if (!evidence[0]) {
		set_value(c, "no sign of one%s",
			  r < 0 && r != -ENOENT
				  ? " (PID 1's environment is unreadable)"
				  : "");
		return;
	}
	set_value(c, "yes (%s)", evidence);
	set_advice(c, WARN,
		   "pipes are visible only to processes sharing this "
		   "/dev/shm: other containers and the host see them only "
		   "with a shared /dev/shm (docker run --ipc=host or "
		   "--ipc=container:NAME)");
}

/* ------------------------------------------------------------ RemoveIPC */

/* The last RemoveIPC= in the [Login] section of @path: 1, 0, or -1 when
 * not set; *@exists tells whether the file could be read. */
static int removeipc_in(const char *path, bool *exists)
{
	FILE *f = fopen(path, "re");
	*exists = f != NULL;
	if (!f)
		return -1;
	char line[512];
	int value = -1;
	bool login = false;
	while (fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t");
		s[strcspn(s, "\r\n")] = '\0';
		if (*s == '[') {
			login = !strncmp(s, "[Login]", 7);
			continue;
		}
		if (!login || strncmp(s, "RemoveIPC", 9))
			continue;
		s += 9 + strspn(s + 9, " \t");
		if (*s++ != '=')
			continue;
		s += strspn(s, " \t");
		s[strcspn(s, " \t")] = '\0';
		if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") ||
		    !strcasecmp(s, "on") || !strcmp(s, "1"))
			value = 1;
		else if (!strcasecmp(s, "no") || !strcasecmp(s, "false") ||
			 !strcasecmp(s, "off") || !strcmp(s, "0"))
			value = 0;
	}
	fclose(f);
	return value;
}

static void check_removeipc(struct check *c)
{
	char source[PATH_MAX] = "";
	bool any = false, exists;
	int value = removeipc_in("/etc/systemd/logind.conf", &exists);
	any |= exists;
	if (value >= 0)
		snprintf(source, sizeof(source), "/etc/systemd/logind.conf");
	/* Drop-ins in name order, the last setting winning. */
	glob_t g;
	if (glob("/etc/systemd/logind.conf.d/*.conf", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			int v = removeipc_in(g.gl_pathv[i], &exists);
			any |= exists;
			if (v >= 0) {
				value = v;
				snprintf(source, sizeof(source), "%s",
					 g.gl_pathv[i]);
			}
		}
		globfree(&g);
	}
	bool running = access("/run/systemd/system", F_OK) == 0;
	uid_t uid = getuid();
	bool system_user = uid <= SYSTEM_UID_MAX;
	field_bool(c, "config_found", any);
	field_bool(c, "systemd_running", running);
	field_number(c, "uid", uid);
	if (!any) {
		add_field(c, "remove_ipc", FIELD_NULL);
		field_string(c, "source", NULL);
		set_value(c, "not found (no /etc/systemd/logind.conf)");
		return;
	}
	bool yes = value != 0; /* logind's default is yes */
	field_bool(c, "remove_ipc", yes);
	field_string(c, "source", value >= 0 ? source : "default");
	char where[PATH_MAX + 32];
	if (value >= 0)
		snprintf(where, sizeof(where), "set in %s", source);
	else
		snprintf(where, sizeof(where), "logind's default");
	const char *note = !yes	     ? ""
			   : !running    ? "; systemd is not running here"
			   : system_user ? "; this uid is a system user"
					 : "";
	set_value(c, "%s (%s)%s", yes ? "yes" : "no", where, note);
	if (yes && running && !system_user)
		set_advice(c, WARN,
			   "logind removes the POSIX shared memory of uid %u, "
			   "its pipes too, when its last session ends: set "
			   "RemoveIPC=no in /etc/systemd/logind.conf (and "
			   "restart systemd-logind) or run the pipe's "
			   "processes as a system user",
			   (unsigned)uid);
}

/* ------------------------------------------------------ shmpipe objects */

struct usage {
	uint64_t objects, pipes, bytes;
};

static int count_object(const char *name, void *arg)
{
	struct usage *u = arg;
	char path[sizeof(CLI_SHM_DIR "/shmpipe.") + SHMPIPE_NAME_MAX];
	snprintf(path, sizeof(path), "%s/shmpipe.%s", CLI_SHM_DIR, name);
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0; /* removed meanwhile */
	u->objects++;
	u->bytes += (uint64_t)st.st_blocks * 512;
	struct shmpipe_stats ps;
	int r = shmpipe_stat(name, &ps);
	u->pipes += r == 0 || r == -EBADMSG;
	return 0;
}

static void check_objects(struct check *c)
{
	struct usage u = { 0 };
	int r = shmpipe_list(count_object, &u);
	if (r < 0) {
		set_value(c, "unknown (%s)", shmpipe_strerror(r));
		c->status = WARN;
		return;
	}
	field_number(c, "objects", u.objects);
	field_number(c, "pipes", u.pipes);
	field_number(c, "bytes", u.bytes);
	char h[32];
	set_value(c, "%" PRIu64 " object%s (%" PRIu64 " pipe%s), %s of %s",
		  u.objects, u.objects == 1 ? "" : "s", u.pipes,
		  u.pipes == 1 ? "" : "s", cli_human_size(u.bytes, h),
		  CLI_SHM_DIR);
	struct cli_shm_info info;
	if (cli_shm_info(&info) == 0 && info.limited &&
	    u.bytes > info.size / 2)
		set_advice(c, WARN,
			   "they take over half of /dev/shm: remove the "
			   "unused ones ('shmpipe ls' shows dead and idle "
			   "pipes, 'shmpipe rm' removes them)");
}

/* --------------------------------------------------------------- output */

static void print_text(const struct check *checks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct check *c = &checks[i];
		printf("%-20s  %-4s  %s\n", c->label, status_names[c->status],
		       c->value);
		if (c->advice[0])
			printf("%-20s  %-4s  %s\n", "", "", c->advice);
	}
}

static void print_json(const struct check *checks, size_t n,
		       enum status worst)
{
	printf("{\"status\":\"%s\",\"checks\":{", status_names[worst]);
	for (size_t i = 0; i < n; i++) {
		const struct check *c = &checks[i];
		printf("%s\"%s\":{\"label\":", i ? "," : "", c->key);
		cli_json_string(stdout, c->label);
		printf(",\"status\":\"%s\",\"value\":", status_names[c->status]);
		cli_json_string(stdout, c->value);
		printf(",\"advice\":");
		if (c->advice[0])
			cli_json_string(stdout, c->advice);
		else
			printf("null");
		for (unsigned j = 0; j < c->nfields; j++) {
			const struct field *f = &c->fields[j];
			printf(",\"%s\":", f->key);
			switch (f->type) {
			case FIELD_NUMBER:
				printf("%" PRIu64, f->number);
				break;
			case FIELD_BOOL:
				printf(f->number ? "true" : "false");
				break;
			case FIELD_STRING:
				cli_json_string(stdout, f->string);
				break;
			case FIELD_NULL:
				printf("null");
				break;
			}
		}
		printf("}");
	}
	printf("}}\n");
}

static void doctor_usage(FILE *f)
{
	fprintf(f,
		"Usage: shmpipe doctor [--json]\n"
		"Show what limits IPC on this machine and what it means for shmpipe.\n"
		"Each line is a check, its status (ok, warn or fail) and its value;\n"
		"a line of meaning or advice follows a check that is not ok.\n\n"
		"  -j, --json  one JSON object: {\"status\", \"checks\": {KEY: {\"label\",\n"
		"              \"status\", \"value\", \"advice\", and the raw numbers}}}\n"
		"  -h, --help  show this help\n\n"
		"Checks:\n"
		"  /dev/shm          where every pipe lives: a pipe takes its whole\n"
		"                    capacity there, reserved at creation. Filesystem,\n"
		"                    size and free space (statvfs). Warns when it is\n"
		"                    small (under 256 MiB: Docker gives containers\n"
		"                    64 MiB), nearly full, not a tmpfs of its own, or\n"
		"                    not writable; fails when missing or out of inodes.\n"
		"                    Raise it with 'mount -o remount,size=2G /dev/shm'\n"
		"                    (as root), in Docker with 'docker run --shm-size'.\n"
		"  pipe-max-size     /proc/sys/fs/pipe-max-size: the largest buffer an\n"
		"                    unprivileged process may give a kernel pipe with\n"
		"                    fcntl(F_SETPIPE_SZ). shmpipe pipes are not bound\n"
		"                    by it, nor by the two limits below.\n"
		"  pipe-user-pages-soft  /proc/sys/fs/pipe-user-pages-soft: once the\n"
		"                    kernel pipes of an unprivileged user hold this many\n"
		"                    pages, its new pipes get a minimal buffer (0: no\n"
		"                    limit).\n"
		"  pipe-user-pages-hard  /proc/sys/fs/pipe-user-pages-hard: beyond it\n"
		"                    such a user can neither create nor grow pipe\n"
		"                    buffers (0: no limit).\n"
		"  mqueue            /proc/sys/fs/mqueue: msg_max (messages per POSIX\n"
		"                    message queue), msgsize_max (bytes per message),\n"
		"                    queues_max (queues on the system): the ceiling of\n"
		"                    mq_open(3) queues, for comparison.\n"
		"  RLIMIT_MSGQUEUE   bytes of POSIX message queues this user may have\n"
		"                    (ulimit -q), soft and hard.\n"
		"  RLIMIT_MEMLOCK    bytes this process may lock in RAM with mlock(2)\n"
		"                    or MAP_LOCKED (ulimit -l), soft and hard. shmpipe\n"
		"                    locks nothing; it bounds a program that mlock()s a\n"
		"                    pipe's mapping to keep it out of swap.\n"
		"  robust futex      a robust process-shared mutex in shared memory,\n"
		"                    locked by a child that exits, must come back with\n"
		"                    EOWNERDEAD: shmpipe_state(3) relies on it. Fails\n"
		"                    otherwise.\n"
		"  memfd_create      whether anonymous memory files can be made (for\n"
		"                    programs that pass them; shmpipe does not).\n"
		"  namespaces        whether this process's ipc and mnt namespaces are\n"
		"                    PID 1's (unknown when /proc/1/ns is unreadable).\n"
		"                    Pipes live in /dev/shm, so they are visible only to\n"
		"                    processes that share this /dev/shm mount.\n"
		"  container         signs of a container: /.dockerenv,\n"
		"                    /run/.containerenv, container= in PID 1's\n"
		"                    environment. Other containers and the host see its\n"
		"                    pipes only through a shared /dev/shm (docker run\n"
		"                    --ipc=host or --ipc=container:NAME).\n"
		"  RemoveIPC         systemd-logind's setting, from\n"
		"                    /etc/systemd/logind.conf and then\n"
		"                    /etc/systemd/logind.conf.d/*.conf (the last one\n"
		"                    wins; logind's default is yes). With yes, logind\n"
		"                    removes a login user's (uid above %d) POSIX shared\n"
		"                    memory, pipes included, when the user's last session\n"
		"                    ends. Warns when that applies to this process: set\n"
		"                    RemoveIPC=no, or run as a system user. \"not found\"\n"
		"                    without a logind configuration.\n"
		"  shmpipe objects   the shmpipe objects in /dev/shm now, how many are\n"
		"                    pipes, and the space they take. Warns above half\n"
		"                    of /dev/shm.\n\n"
		"Exit status: 0 when no check fails (warnings included), 1 when one\n"
		"fails, 2 on a usage error.\n",
		SYSTEM_UID_MAX);
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'h') {
			doctor_usage(stdout);
			return EXIT_OK;
		} else {
			return cli_usage_error("doctor", "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error("doctor", "takes no arguments");

	struct check checks[] = {
		{ .key = "dev_shm", .label = "/dev/shm" },
		{ .key = "pipe_max_size", .label = "pipe-max-size" },
		{ .key = "pipe_user_pages_soft", .label = "pipe-user-pages-soft" },
		{ .key = "pipe_user_pages_hard", .label = "pipe-user-pages-hard" },
		{ .key = "mqueue", .label = "mqueue" },
		{ .key = "rlimit_msgqueue", .label = "RLIMIT_MSGQUEUE" },
		{ .key = "rlimit_memlock", .label = "RLIMIT_MEMLOCK" },
		{ .key = "robust_futex", .label = "robust futex" },
		{ .key = "memfd_create", .label = "memfd_create" },
		{ .key = "namespaces", .label = "namespaces" },
		{ .key = "container", .label = "container" },
		{ .key = "remove_ipc", .label = "RemoveIPC" },
		{ .key = "shmpipe_objects", .label = "shmpipe objects" },
	};
	check_dev_shm(&checks[0]);
	check_sysctl(&checks[1], "/proc/sys/fs/pipe-max-size", "bytes", false);
	check_sysctl(&checks[2], "/proc/sys/fs/pipe-user-pages-soft", "pages",
		     true);
	check_sysctl(&checks[3], "/proc/sys/fs/pipe-user-pages-hard", "pages",
		     true);
	check_mqueue(&checks[4]);
	check_rlimit(&checks[5], RLIMIT_MSGQUEUE);
	check_rlimit(&checks[6], RLIMIT_MEMLOCK);
	check_robust_futex(&checks[7]);
	check_memfd(&checks[8]);
	check_namespaces(&checks[9]);
	check_container(&checks[10]);
	check_removeipc(&checks[11]);
	check_objects(&checks[12]);

	size_t n = sizeof(checks) / sizeof(checks[0]);
	enum status worst = OK;
	for (size_t i = 0; i < n; i++)
		if (checks[i].status > worst)
			worst = checks[i].status;
	if (json)
		print_json(checks, n, worst);
	else
		print_text(checks, n);
	return worst == FAIL ? EXIT_ERROR : EXIT_OK;
}
