/* SPDX-License-Identifier: MIT */
/*
 * region_corrupt - open never trusts what is in /dev/shm: a wrong magic or
 * version is -EPROTO, a header that does not match the object (sizes,
 * truncation, not ready) is -EBADMSG, an object of another type is -EPROTO,
 * a directory or FIFO is an error (not a crash or a hang) and a symlink is
 * never followed (-ELOOP on open, never written through on create).
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir_path[512];
static pid_t main_pid;

static void remove_dir(void)
{
	if (getpid() == main_pid && dir_path[0])
		rmdir(dir_path);
}

static void shm_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/dev/shm/shmpipe.%s", name);
}

/* Create a valid region of @size bytes and return an fd on its file. */
static int make_region(const char *name, size_t size)
{
	struct shmpipe_region_config cfg = {.size = size};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	memset(shmpipe_region_data(r), 0xee, size);
	shmpipe_region_close(r);
	char path[512];
	shm_path(path, sizeof(path), name);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	T_ASSERT(fd >= 0);
	return fd;
}

static void poke(int fd, const void *buf, size_t len, off_t off)
{
	T_EQ(pwrite(fd, buf, len, off), (ssize_t)len);
}

static void poke32(int fd, uint32_t v, size_t off)
{
	poke(fd, &v, sizeof(v), (off_t)off);
}

static void poke64(int fd, uint64_t v, size_t off)
{
	poke(fd, &v, sizeof(v), (off_t)off);
}

/* Open must fail with exactly -@err; the state opener too (with -@err or,
 * when the object is otherwise fine, -EPROTO for the type). */
static void expect_open(const char *name, int err, int line)
{
	shmpipe_region *r = (shmpipe_region *)1;
	int ret = shmpipe_region_open(&r, name);
	if (ret != -err)
		t_fail(__FILE__, line, "region_open: want %s, got %d (%s)",
		       shmpipe_errname(-err), ret, shmpipe_errname(ret));
	if (r != NULL)
		t_fail(__FILE__, line, "region_open left a handle");
	shmpipe_state *s = (shmpipe_state *)1;
	ret = shmpipe_state_open(&s, name);
	if (ret != -err)
		t_fail(__FILE__, line, "state_open: want %s, got %d (%s)",
		       shmpipe_errname(-err), ret, shmpipe_errname(ret));
	if (s != NULL)
		t_fail(__FILE__, line, "state_open left a handle");
}

static void test_header_fields(void)
{
	const char *name = t_name("hdr");
	const size_t size = 8192;
	const size_t total = SHMPIPE__REGION_HEADER_SIZE + size;
	struct shmpipe__region_header good;
	int fd = make_region(name, size);
	T_EQ(pread(fd, &good, sizeof(good), 0), (ssize_t)sizeof(good));
	T_EQ(good.magic, SHMPIPE__REGION_MAGIC);
	T_EQ(good.version, SHMPIPE__REGION_VERSION);
	T_EQ(good.type, SHMPIPE__TYPE_REGION);
	T_EQ(good.header_size, SHMPIPE__REGION_HEADER_SIZE);
	T_EQ(good.data_size, size);
	T_EQ(good.ready, 1);
	T_EQ(good.creator_pid, getpid());

	/* Each case breaks one field, checks, and puts it back. */
#define FIELD(f)                                                               \
	offsetof(struct shmpipe__region_header, f),                            \
		sizeof(((struct shmpipe__region_header *)0)->f)
	const struct {
		size_t off;
		size_t width;
		uint64_t value;
		int err;
	} cases[] = {
		{FIELD(magic), 0, EPROTO},
		{FIELD(magic), SHMPIPE__REGION_MAGIC ^ 1, EPROTO},
		{FIELD(magic), ~0ull, EPROTO},
		{FIELD(version), 0, EPROTO},
		{FIELD(version), SHMPIPE__REGION_VERSION + 1, EPROTO},
		{FIELD(version), 0xffffffffu, EPROTO},
		{FIELD(header_size), 64, EBADMSG},
		{FIELD(header_size), 4096, EBADMSG},
		{FIELD(data_size), size - 1, EBADMSG},
		{FIELD(data_size), size + 1, EBADMSG},
		{FIELD(data_size), total, EBADMSG},
		{FIELD(data_size), 0, EBADMSG},
		{FIELD(data_size), 1ull << 40, EBADMSG},
		{FIELD(data_size), ~0ull, EBADMSG},
		{FIELD(ready), 0, EBADMSG},
		{FIELD(ready), 2, EBADMSG},
		{FIELD(type), 0, EPROTO},
		{FIELD(type), 99, EPROTO},
	};
#undef FIELD
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].width == 8)
			poke64(fd, cases[i].value, cases[i].off);
		else
			poke32(fd, (uint32_t)cases[i].value, cases[i].off);
		fprintf(stderr, "case %zu: offset %zu = %#llx\n", i,
			cases[i].off, (unsigned long long)cases[i].value);
		expect_open(name, cases[i].err, __LINE__);
		poke(fd, &good, sizeof(good), 0);
		shmpipe_region *r;
		T_OK(shmpipe_region_open(&r, name));
		shmpipe_region_close(r);
	}

	/* The object itself shorter or longer than the header says. */
	const off_t lengths[] = {(off_t)total - 1,
				 (off_t)total - 4096,
				 SHMPIPE__REGION_HEADER_SIZE + 1,
				 SHMPIPE__REGION_HEADER_SIZE,
				 (off_t)total + 1,
				 (off_t)total * 2};
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		T_EQ(ftruncate(fd, lengths[i]), 0);
		expect_open(name, EBADMSG, __LINE__);
	}
	T_EQ(ftruncate(fd, (off_t)total), 0);
	shmpipe_region *r;
	T_OK(shmpipe_region_open(&r, name));
	T_EQ(shmpipe_region_size(r), size);
	shmpipe_region_close(r);

	/* Shorter than a header, down to empty. */
	const off_t short_lengths[] = {SHMPIPE__REGION_HEADER_SIZE - 1, 40, 8,
				       1, 0};
	for (size_t i = 0; i < sizeof(short_lengths) / sizeof(short_lengths[0]);
	     i++) {
		T_EQ(ftruncate(fd, short_lengths[i]), 0);
		expect_open(name, EBADMSG, __LINE__);
	}
	close(fd);
	T_OK(shmpipe_region_unlink(name));
}

/* Objects written from scratch, never touched by the library. */
static void test_hand_made(void)
{
	const char *name = t_name("hand");
	char path[512];
	shm_path(path, sizeof(path), name);

	/* Empty file. */
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0);
	expect_open(name, EBADMSG, __LINE__);

	/* Text. */
	const char text[] = "hello, I am not a region\n";
	poke(fd, text, sizeof(text), 0);
	expect_open(name, EBADMSG, __LINE__);
	T_EQ(ftruncate(fd, 1 << 20), 0);
	expect_open(name, EPROTO, __LINE__);

	/* A perfect header written by hand opens; then with ready 0. */
	struct shmpipe__region_header h;
	memset(&h, 0, sizeof(h));
	h.magic = SHMPIPE__REGION_MAGIC;
	h.version = SHMPIPE__REGION_VERSION;
	h.type = SHMPIPE__TYPE_REGION;
	h.header_size = SHMPIPE__REGION_HEADER_SIZE;
	h.data_size = (1 << 20) - SHMPIPE__REGION_HEADER_SIZE;
	h.ready = 1;
	poke(fd, &h, sizeof(h), 0);
	shmpipe_region *r;
	T_OK(shmpipe_region_open(&r, name));
	T_EQ(shmpipe_region_size(r), h.data_size);
	shmpipe_region_close(r);
	h.ready = 0;
	poke(fd, &h, sizeof(h), 0);
	expect_open(name, EBADMSG, __LINE__);

	/* A valid header in a file cut inside the header. */
	h.ready = 1;
	poke(fd, &h, sizeof(h), 0);
	T_EQ(ftruncate(fd, 64), 0);
	expect_open(name, EBADMSG, __LINE__);
	close(fd);
	T_OK(shmpipe_region_unlink(name));
}

static void test_types(void)
{
	const char *name = t_name("types");
	struct shmpipe_region_config cfg = {.size = 4096};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	shmpipe_state *s = (shmpipe_state *)1;
	T_ERR(shmpipe_state_open(&s, name), EPROTO);
	T_ASSERT(s == NULL);
	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(name));

	T_OK(shmpipe_state_create(&s, name, 4096, 0, 0));
	r = (shmpipe_region *)1;
	T_ERR(shmpipe_region_open(&r, name), EPROTO);
	T_ASSERT(r == NULL);
	shmpipe_state_close(s);
	T_OK(shmpipe_state_open(&s, name));
	shmpipe_state_close(s);
	T_OK(shmpipe_state_unlink(name));
}

static void test_not_files(void)
{
	const char *name = t_name("notfile");
	char path[512];
	shm_path(path, sizeof(path), name);
	shmpipe_region *r = (shmpipe_region *)1;
	shmpipe_state *s = (shmpipe_state *)1;
	struct shmpipe_region_config cfg = {.size = 4096};

	/* A directory. */
	snprintf(dir_path, sizeof(dir_path), "%s", path);
	T_EQ(mkdir(path, 0700), 0);
	int ret = shmpipe_region_open(&r, name);
	T_ASSERT(ret < 0);
	T_ASSERT(r == NULL);
	fprintf(stderr, "directory: %s\n", shmpipe_errname(ret));
	T_ASSERT(shmpipe_state_open(&s, name) < 0);
	T_ASSERT(s == NULL);
	T_ERR(shmpipe_region_create(&r, name, &cfg), EEXIST);
	cfg.flags = SHMPIPE_REPLACE;
	T_ASSERT(shmpipe_region_create(&r, name, &cfg) < 0);
	T_ASSERT(r == NULL);
	cfg.flags = 0;
	struct stat st;
	T_EQ(lstat(path, &st), 0);
	T_ASSERT(S_ISDIR(st.st_mode));
	T_EQ(rmdir(path), 0);
	dir_path[0] = '\0';

	/* A FIFO: no process writes to it, so an open that blocks or reads
	 * from it would hang; alarm() turns a hang into a failure. */
	T_EQ(mkfifo(path, 0600), 0);
	alarm(30);
	ret = shmpipe_region_open(&r, name);
	T_ASSERT(ret < 0);
	T_ASSERT(r == NULL);
	fprintf(stderr, "fifo: %s\n", shmpipe_errname(ret));
	T_ASSERT(shmpipe_state_open(&s, name) < 0);
	T_ERR(shmpipe_region_create(&r, name, &cfg), EEXIST);
	alarm(0);
	T_EQ(lstat(path, &st), 0);
	T_ASSERT(S_ISFIFO(st.st_mode));
	T_OK(shmpipe_region_unlink(name));
}

static void test_symlinks(void)
{
	const char *name = t_name("link");
	const char *target = t_name("target");
	char path[512], target_path[512];
	shm_path(path, sizeof(path), name);
	shm_path(target_path, sizeof(target_path), target);

	/* A link to a perfectly good region is still refused. */
	struct shmpipe_region_config cfg = {.size = 4096};
	shmpipe_region *t;
	T_OK(shmpipe_region_create(&t, target, &cfg));
	strcpy(shmpipe_region_data(t), "target");
	T_EQ(symlink(target_path, path), 0);
	shmpipe_region *r = (shmpipe_region *)1;
	T_ERR(shmpipe_region_open(&r, name), ELOOP);
	T_ASSERT(r == NULL);
	shmpipe_state *s;
	T_ERR(shmpipe_state_open(&s, name), ELOOP);
	/* Relative links too. */
	T_EQ(unlink(path), 0);
	T_EQ(symlink(target_path + strlen("/dev/shm/"), path), 0);
	T_ERR(shmpipe_region_open(&r, name), ELOOP);

	/* Create does not write through it... */
	T_ERR(shmpipe_region_create(&r, name, &cfg), EEXIST);
	/* ...and replace replaces the link, not its target. */
	cfg.flags = SHMPIPE_REPLACE;
	cfg.size = 100;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	struct stat st;
	T_EQ(lstat(path, &st), 0);
	T_ASSERT(S_ISREG(st.st_mode));
	shmpipe_region_close(r);
	shmpipe_region_close(t);
	T_OK(shmpipe_region_open(&t, target));
	T_EQ(shmpipe_region_size(t), 4096);
	T_ASSERT(!strcmp(shmpipe_region_data(t), "target"));
	shmpipe_region_close(t);
	T_OK(shmpipe_region_unlink(name));

	/* Dangling and looping links. */
	T_EQ(symlink("/nonexistent/shmpipe-test", path), 0);
	T_ERR(shmpipe_region_open(&r, name), ELOOP);
	cfg.flags = 0;
	T_ERR(shmpipe_region_create(&r, name, &cfg), EEXIST);
	T_EQ(lstat("/nonexistent/shmpipe-test", &st), -1);
	T_OK(shmpipe_region_unlink(name));
	T_EQ(symlink(path, path), 0);
	T_ERR(shmpipe_region_open(&r, name), ELOOP);

	/* Unlink removes the link only. */
	T_EQ(unlink(path), 0);
	T_EQ(symlink(target_path, path), 0);
	T_OK(shmpipe_region_unlink(name));
	T_EQ(lstat(path, &st), -1);
	T_OK(shmpipe_region_open(&t, target));
	shmpipe_region_close(t);
	T_OK(shmpipe_region_unlink(target));
}

int main(void)
{
	main_pid = getpid();
	atexit(remove_dir);
	test_header_fields();
	test_hand_made();
	test_types();
	test_not_files();
	test_symlinks();
	return T_PASS;
}
