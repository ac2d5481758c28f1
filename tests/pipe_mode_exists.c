/* SPDX-License-Identifier: MIT */
/*
 * pipe_mode_exists.c - creating, opening and removing pipes by name:
 *  - under umask 000 and 077 a pipe gets exactly the mode asked for: 0600
 *    by default, 0640, 0666; a mode beyond 0777 is -EINVAL;
 *  - a pipe another process created is -EEXIST (and left as it was);
 *    SHMPIPE_REPLACE replaces it (a new, empty pipe of the new config under
 *    the name) while handles on the old one keep working;
 *  - shmpipe_open: a missing name -ENOENT; a plain region or a state of
 *    that name -EPROTO (shmpipe_stat too); bad flags (0, READ|WRITE,
 *    EXCLUSIVE alone, unknown bits) -EINVAL; *out is NULL on failure;
 *  - the wrong side: write/reserve on a reader, read/next_size/peek on a
 *    writer are -EBADF;
 *  - bad names -EINVAL, long names -ENAMETOOLONG, for create, open, stat
 *    and unlink; shmpipe_close(NULL) is fine;
 *  - unlink: a missing name -ENOENT; afterwards open is -ENOENT while open
 *    handles still pass data.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void create(const char *name, size_t capacity, unsigned kind,
		   mode_t mode, unsigned flags)
{
	struct shmpipe_config cfg = {
		.capacity = capacity, .kind = kind, .mode = mode, .flags = flags
	};
	T_OK(shmpipe_create(name, &cfg));
}

static void test_modes(const char *name, mode_t mask)
{
	static const mode_t modes[][2] = {
		{ 0, 0600 }, { 0640, 0640 }, { 0666, 0666 }, { 0400, 0400 }
	};
	mode_t old = umask(mask);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		create(name, 4096, SHMPIPE_STREAM, modes[i][0], 0);
		T_EQ(t_shm_mode("shmpipe.", name), modes[i][1]);
		T_OK(shmpipe_unlink(name));
	}
	struct shmpipe_config cfg = { .mode = 04600 };
	T_ERR(shmpipe_create(name, &cfg), EINVAL);
	cfg.mode = 01666;
	T_ERR(shmpipe_create(name, &cfg), EINVAL);
	T_ASSERT(!t_shm_exists("shmpipe.", name));
	umask(old);
}

static void test_exists_and_replace(const char *name)
{
	pid_t pid = t_spawn();
	if (pid == 0) {
		create(name, 100, SHMPIPE_STREAM, 0640, 0);
		shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
		T_EQ(shmpipe_write(w, "old", 3, 0), 3);
		shmpipe_close(w);
		_exit(T_PASS);
	}
	T_EQ(t_wait(pid), T_PASS);
	struct shmpipe_config cfg = { .capacity = 200 };
	T_ERR(shmpipe_create(name, &cfg), EEXIST);
	cfg.kind = SHMPIPE_MESSAGE;
	T_ERR(shmpipe_create(name, &cfg), EEXIST);
	T_EQ(t_shm_mode("shmpipe.", name), 0640);
	shmpipe *old_r = t_pipe_open(name, SHMPIPE_READ);
	T_EQ(shmpipe_capacity(old_r), 100);

	create(name, 200, SHMPIPE_MESSAGE, 0, SHMPIPE_REPLACE);
	T_EQ(t_shm_mode("shmpipe.", name), 0600);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	T_EQ(shmpipe_capacity(r), 200);
	T_EQ(shmpipe_kind(r), SHMPIPE_MESSAGE);
	char buf[8];
	T_ERR(shmpipe_read(r, buf, sizeof(buf), 0), EAGAIN); /* empty */
	struct shmpipe_stats st;
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.writers_ever, 0);
	/* The old pipe lives on for its handles: its data, then end of file
	 * (a writer once attached). */
	T_EQ(shmpipe_read(old_r, buf, sizeof(buf), 0), 3);
	T_ASSERT(memcmp(buf, "old", 3) == 0);
	T_EQ(shmpipe_read(old_r, buf, sizeof(buf), 0), 0);
	shmpipe_close(old_r);
	shmpipe_close(r);
	T_OK(shmpipe_unlink(name));
}

static void test_open_errors(const char *name)
{
	shmpipe *p = (shmpipe *)1;
	T_ERR(shmpipe_open(&p, name, SHMPIPE_READ), ENOENT);
	T_ASSERT(p == NULL);
	struct shmpipe_stats st;
	T_ERR(shmpipe_stat(name, &st), ENOENT);

	/* A plain region, then a state, under the name. */
	struct shmpipe_region_config rc = { .size = 4096 };
	shmpipe_region *region;
	T_OK(shmpipe_region_create(&region, name, &rc));
	p = (shmpipe *)1;
	T_ERR(shmpipe_open(&p, name, SHMPIPE_READ), EPROTO);
	T_ASSERT(p == NULL);
	T_ERR(shmpipe_open(&p, name, SHMPIPE_WRITE), EPROTO);
	T_ERR(shmpipe_stat(name, &st), EPROTO);
	shmpipe_region_close(region);
	T_OK(shmpipe_region_unlink(name));
	shmpipe_state *state;
	T_OK(shmpipe_state_create(&state, name, 64, 0, 0));
	T_ERR(shmpipe_open(&p, name, SHMPIPE_WRITE), EPROTO);
	T_ERR(shmpipe_stat(name, &st), EPROTO);
	shmpipe_state_close(state);
	T_OK(shmpipe_state_unlink(name));

	/* A pipe is not a region or a state either. */
	create(name, 4096, SHMPIPE_STREAM, 0, 0);
	T_ERR(shmpipe_region_open(&region, name), EPROTO);
	T_ERR(shmpipe_state_open(&state, name), EPROTO);

	static const unsigned bad_flags[] = {
		0,
		SHMPIPE_READ | SHMPIPE_WRITE,
		SHMPIPE_EXCLUSIVE,
		SHMPIPE_READ | SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE,
		SHMPIPE_READ | 0x8,
		SHMPIPE_WRITE | 0x80000000u,
		SHMPIPE_READ | 0x100,
	};
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		p = (shmpipe *)1;
		T_ERR(shmpipe_open(&p, name, bad_flags[i]), EINVAL);
		T_ASSERT(p == NULL);
	}
	T_ERR(shmpipe_open(NULL, name, SHMPIPE_READ), EINVAL);

	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	char buf[8];
	void *space;
	const void *ptr;
	T_ERR(shmpipe_write(r, "x", 1, 0), EBADF);
	T_ERR(shmpipe_reserve(r, &space, 1, 0), EBADF);
	T_ERR(shmpipe_read(w, buf, sizeof(buf), 0), EBADF);
	T_ERR(shmpipe_next_size(w, 0), EBADF);
	T_ERR(shmpipe_peek(w, &ptr, 0), EBADF);
	T_OK(shmpipe_stat(name, &st));
	T_EQ(st.bytes_in, 0);
	shmpipe_close(w);
	shmpipe_close(r);
	shmpipe_close(NULL);
	T_OK(shmpipe_unlink(name));
}

static void test_names(void)
{
	char longname[SHMPIPE_NAME_MAX + 2];
	memset(longname, 'p', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	static const char *const bad[] = { "",	 "a/b",	 "/x",	 ".",
					   "..", "x\ny", "tab\t" };
	shmpipe *p;
	struct shmpipe_stats st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_ERR(shmpipe_create(bad[i], NULL), EINVAL);
		T_ERR(shmpipe_open(&p, bad[i], SHMPIPE_READ), EINVAL);
		T_ERR(shmpipe_stat(bad[i], &st), EINVAL);
		T_ERR(shmpipe_unlink(bad[i]), EINVAL);
	}
	T_ERR(shmpipe_create(NULL, NULL), EINVAL);
	T_ERR(shmpipe_open(&p, NULL, SHMPIPE_READ), EINVAL);
	T_ERR(shmpipe_unlink(NULL), EINVAL);
	T_ERR(shmpipe_create(longname, NULL), ENAMETOOLONG);
	T_ERR(shmpipe_open(&p, longname, SHMPIPE_READ), ENAMETOOLONG);
	T_ERR(shmpipe_stat(longname, &st), ENAMETOOLONG);
	T_ERR(shmpipe_unlink(longname), ENAMETOOLONG);
}

static void test_unlink(const char *name)
{
	T_ERR(shmpipe_unlink(name), ENOENT);
	create(name, 100, SHMPIPE_STREAM, 0, 0);
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	shmpipe *r = t_pipe_open(name, SHMPIPE_READ);
	T_OK(shmpipe_unlink(name));
	T_ASSERT(!t_shm_exists("shmpipe.", name));
	T_ERR(shmpipe_unlink(name), ENOENT);
	shmpipe *p;
	T_ERR(shmpipe_open(&p, name, SHMPIPE_READ), ENOENT);
	T_EQ(shmpipe_write(w, "still", 5, 0), 5);
	char buf[8];
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 5);
	T_ASSERT(memcmp(buf, "still", 5) == 0);
	/* A new pipe of the name is another pipe. */
	create(name, 100, SHMPIPE_STREAM, 0, 0);
	shmpipe *r2 = t_pipe_open(name, SHMPIPE_READ);
	T_EQ(shmpipe_write(w, "old", 3, 0), 3);
	T_ERR(shmpipe_read(r2, buf, sizeof(buf), 0), EAGAIN);
	shmpipe_close(r2);
	shmpipe_close(r);
	shmpipe_close(w);
	T_OK(shmpipe_unlink(name));
}

int main(void)
{
	const char *name = t_name("mode");
	test_modes(name, 0);
	test_modes(name, 077);
	test_exists_and_replace(name);
	test_open_errors(name);
	test_names();
	test_unlink(name);
	return T_PASS;
}
