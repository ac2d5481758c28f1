/* SPDX-License-Identifier: MIT */
/*
 * sys.c - the only file that talks to the kernel directly. Every wrapper
 * returns 0 (or a count) or -errno, so no other file reads errno.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

int shmpipe__name_check(const char *name)
{
	if (!name || !*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	size_t len = strnlen(name, SHMPIPE_NAME_MAX + 1);
	if (len > SHMPIPE_NAME_MAX)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '/' || c < 0x20 || c == 0x7f)
			return -EINVAL;
	}
	return 0;
}

SHMPIPE_API int shmpipe_name_check(const char *name)
{
	return shmpipe__name_check(name);
}

int shmpipe__shm_path(char *buf, const char *prefix, const char *name)
{
	int r = shmpipe__name_check(name);
	if (r < 0)
		return r;
	int n = snprintf(buf, SHMPIPE__PATH_MAX, "%s/%s%s", SHMPIPE__SHM_DIR,
			 prefix, name);
	return n > 0 && n < SHMPIPE__PATH_MAX - 32 ? 0 : -ENAMETOOLONG;
}

/* A unique hidden name beside @path, for the replace and fallback paths. */
static void temp_path(char *buf)
{
	static _Atomic unsigned counter;
	snprintf(buf, SHMPIPE__PATH_MAX, "%s/.shmpipe-tmp.%ld.%u.%llx",
		 SHMPIPE__SHM_DIR, (long)getpid(), atomic_fetch_add(&counter, 1),
		 (unsigned long long)shmpipe__now_ns());
}

/*
 * An unnamed file in /dev/shm: the kernel frees it if we die before it is
 * linked, so a creator killed mid-creation leaves nothing behind. Where
 * O_TMPFILE is not supported we fall back to a hidden temporary name
 * (@tmp_name is then set and must be unlinked).
 */
static int open_unnamed(mode_t mode, char *tmp_name)
{
	tmp_name[0] = '\0';
	int fd = open(SHMPIPE__SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return neg_errno();
	temp_path(tmp_name);
	fd = open(tmp_name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0) {
		tmp_name[0] = '\0';
		return neg_errno();
	}
	return fd;
}

/* Give the unnamed file @fd the name @path; -EEXIST if it is taken. */
static int link_unnamed(int fd, const char *tmp_name, const char *path)
{
	if (tmp_name[0])
		return link(tmp_name, path) < 0 ? neg_errno() : 0;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno == EEXIST)
		return -EEXIST;
	/* No /proc: AT_EMPTY_PATH works where we have CAP_DAC_READ_SEARCH. */
	if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
		return 0;
	return errno == ENOENT ? -EOPNOTSUPP : neg_errno();
}

static int publish(int fd, const char *tmp_name, const char *path,
		   unsigned flags)
{
	if (!(flags & SHMPIPE_REPLACE))
		return link_unnamed(fd, tmp_name, path);
	/* Replace atomically: link under a hidden name, then rename over. */
	char hidden[SHMPIPE__PATH_MAX];
	temp_path(hidden);
	int r = link_unnamed(fd, tmp_name, hidden);
	if (r < 0)
		return r;
	if (rename(hidden, path) < 0) {
		r = neg_errno();
		unlink(hidden);
	}
	return r;
}

/* Reserve every page now, so a full tmpfs fails here, not with SIGBUS. */
static int reserve(int fd, size_t size)
{
	int r;
	while ((r = fallocate(fd, 0, 0, (off_t)size)) < 0 && errno == EINTR)
		;
	if (r == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return neg_errno();
	return -posix_fallocate(fd, 0, (off_t)size);
}

int shmpipe__shm_create(const char *path, size_t size, mode_t mode,
			unsigned flags, shmpipe__fill_fn fill, void *arg,
			void **map)
{
	*map = NULL;
	if (size == 0 || size > (size_t)LONG_MAX)
		return -EINVAL;
	if (flags & ~SHMPIPE_REPLACE)
		return -EINVAL;
	if (mode & ~(mode_t)0777) /* no setuid, setgid or sticky bits */
		return -EINVAL;
	char tmp_name[SHMPIPE__PATH_MAX];
	int fd = open_unnamed(mode, tmp_name);
	if (fd < 0)
		return fd;
	int r = 0;
	/* open() applied the umask; fchmod() does not, so the mode is exact. */
	if (fchmod(fd, mode) < 0) {
		r = neg_errno();
		goto fail_close;
	}
	r = reserve(fd, size);
	if (r < 0)
		goto fail_close;
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		r = neg_errno();
		goto fail_close;
	}
	r = fill ? fill(m, size, arg) : 0;
	if (r < 0)
		goto fail_unmap;
	r = publish(fd, tmp_name, path, flags);
	if (r < 0)
		goto fail_unmap;
	if (tmp_name[0])
		unlink(tmp_name);
	close(fd);
	*map = m;
	return 0;

fail_unmap:
	munmap(m, size);
fail_close:
	if (tmp_name[0])
		unlink(tmp_name);
	close(fd);
	return r;
}

int shmpipe__shm_open(const char *path, size_t *size)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = neg_errno();
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADMSG;
	}
	*size = (size_t)st.st_size;
	return fd;
}

int shmpipe__shm_list(const char *prefix,
		      int (*fn)(const char *name, void *arg), void *arg)
{
	DIR *d = opendir(SHMPIPE__SHM_DIR);
	if (!d)
		return neg_errno();
	size_t plen = strlen(prefix);
	int r = 0;
	struct dirent *e;
	while (!r && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, plen) ||
		    shmpipe__name_check(e->d_name + plen) < 0)
			continue;
		r = fn(e->d_name + plen, arg);
	}
	closedir(d);
	return r;
}

int shmpipe__pread_all(int fd, void *buf, size_t len, off_t offset)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  offset + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return neg_errno();
		if (n == 0)
			return -EBADMSG;
		done += (size_t)n;
	}
	return 0;
}

int shmpipe__map(int fd, size_t len, void **map)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return neg_errno();
	*map = m;
	return 0;
}

int shmpipe__map_mirror(int fd, size_t size, size_t mirror_offset, void **map)
{
	size_t tail = size - mirror_offset;
	size_t total = size + tail;
	/* Reserve the whole range first so both mappings land back to back. */
	char *base = mmap(NULL, total, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return neg_errno();
	if (mmap(base, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		 0) == MAP_FAILED ||
	    mmap(base + size, tail, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, (off_t)mirror_offset) == MAP_FAILED) {
		int r = neg_errno();
		munmap(base, total);
		return r;
	}
	*map = base;
	return 0;
}

int shmpipe__close(int fd)
{
	return close(fd) < 0 && errno != EINTR ? neg_errno() : 0;
}

int shmpipe__unlink(const char *path)
{
	return unlink(path) < 0 ? neg_errno() : 0;
}

uint64_t shmpipe__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void shmpipe__deadline(struct timespec *abs, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, abs);
	abs->tv_sec += timeout_ms / 1000;
	abs->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (abs->tv_nsec >= 1000000000L) {
		abs->tv_sec++;
		abs->tv_nsec -= 1000000000L;
	}
}

int64_t shmpipe__ms_left(const struct timespec *abs)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (int64_t)(abs->tv_sec - now.tv_sec) * 1000 +
		     (abs->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

int shmpipe__futex_wait(_Atomic uint32_t *word, uint32_t expected,
			const struct timespec *abs)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout. Not
	 * FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, abs,
			 NULL, FUTEX_BITSET_MATCH_ANY);
	if (r == 0)
		return 0;
	return errno == EWOULDBLOCK ? -EAGAIN : neg_errno();
}

int shmpipe__futex_wake(_Atomic uint32_t *word, int count)
{
	long r = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
	return r < 0 ? neg_errno() : (int)r;
}
