/* SPDX-License-Identifier: MIT */
/*
 * names_valid - name validation: every call that takes a name refuses bad
 * names with -EINVAL and long ones with -ENAMETOOLONG, exactly as
 * shmpipe_name_check() says, and creates nothing; a name of exactly
 * SHMPIPE_NAME_MAX bytes works for regions, states and semaphores.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The longest name is too long for t_name(): remove it ourselves. */
static char long_name[SHMPIPE_NAME_MAX + 1];
static pid_t main_pid;

static void remove_long_name(void)
{
	if (getpid() != main_pid || !long_name[0])
		return;
	shmpipe_region_unlink(long_name);
	shmpipe_sem_unlink(long_name);
}

/* Every call that takes a name must fail on @name with @err. */
static void check_refused(const char *name, int err, int line)
{
	struct shmpipe_region_config cfg = {.size = 4096};
	shmpipe_region *r = (shmpipe_region *)1;
	shmpipe_state *st = (shmpipe_state *)1;
	shmpipe_sem *s = (shmpipe_sem *)1;
	int got[] = {
		shmpipe_name_check(name),
		shmpipe_region_create(&r, name, &cfg),
		shmpipe_region_open(&r, name),
		shmpipe_region_unlink(name),
		shmpipe_state_create(&st, name, 64, 0, 0),
		shmpipe_state_open(&st, name),
		shmpipe_state_unlink(name),
		shmpipe_sem_create(&s, name, 1, 0, 0),
		shmpipe_sem_create(&s, name, 1, 0, SHMPIPE_REPLACE),
		shmpipe_sem_open(&s, name),
		shmpipe_sem_unlink(name),
	};
	static const char *const what[] = {
		"name_check",	 "region_create", "region_open",
		"region_unlink", "state_create",  "state_open",
		"state_unlink",	 "sem_create",	  "sem_create(REPLACE)",
		"sem_open",	 "sem_unlink",
	};
	_Static_assert(sizeof(got) / sizeof(got[0]) ==
			       sizeof(what) / sizeof(what[0]),
		       "one label per call");
	for (size_t i = 0; i < sizeof(got) / sizeof(got[0]); i++)
		if (got[i] != -err)
			t_fail(__FILE__, line,
			       "%s(\"%.40s\"): want %s, got %d (%s)", what[i],
			       name ? name : "(null)", shmpipe_errname(-err),
			       got[i], shmpipe_errname(got[i]));
	T_ASSERT(r == NULL);
	T_ASSERT(st == NULL);
	T_ASSERT(s == NULL);
}

static void test_bad_names(void)
{
	static const char *const bad[] = {
		NULL,	 "",	  ".",	      "..",   "a/b",  "/a",
		"a/",	 "/",	  "\n",	      "a\nb", "a\tb", "\x01",
		"a\x1f", "a\x7f", "\x1b[31m", "a\rb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_refused(bad[i], EINVAL, __LINE__);
}

static void test_good_names(void)
{
	/* Only '/', control characters, "." and ".." are refused. */
	static const char *const good[] = {
		"a", "...",  ".a", "a.", "a b", "a-b_c.d", "\xc3\xa9t\xc3\xa9",
		"~", "a\\b", "*",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (shmpipe_name_check(good[i]) != 0)
			t_fail(__FILE__, __LINE__, "\"%s\" refused", good[i]);

	/* Dots and spaces make usable objects. */
	const char *name = t_name(". x .");
	struct shmpipe_region_config cfg = {.size = 100};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	T_ASSERT(t_shm_exists("shmpipe.", name));
	shmpipe_region_close(r);
	T_OK(shmpipe_region_open(&r, name));
	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(name));
}

static void test_lengths(void)
{
	/* A unique name of exactly SHMPIPE_NAME_MAX bytes. */
	const char *base = t_name("long");
	size_t n = strlen(base);
	memcpy(long_name, base, n);
	memset(long_name + n, 'x', SHMPIPE_NAME_MAX - n);
	long_name[SHMPIPE_NAME_MAX] = '\0';
	T_EQ(strlen(long_name), SHMPIPE_NAME_MAX);
	T_EQ(shmpipe_name_check(long_name), 0);

	struct shmpipe_region_config cfg = {.size = 100};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, long_name, &cfg));
	T_ASSERT(!strcmp(shmpipe_region_name(r), long_name));
	shmpipe_region_close(r);
	T_OK(shmpipe_region_open(&r, long_name));
	T_ASSERT(!strcmp(shmpipe_region_name(r), long_name));
	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(long_name));

	shmpipe_state *st;
	T_OK(shmpipe_state_create(&st, long_name, 8, 0, 0));
	shmpipe_state_close(st);
	T_OK(shmpipe_state_open(&st, long_name));
	shmpipe_state_close(st);
	T_OK(shmpipe_state_unlink(long_name));

	shmpipe_sem *s;
	T_OK(shmpipe_sem_create(&s, long_name, 1, 0, 0));
	T_ASSERT(t_shm_exists("sem.shmpipe.", long_name));
	shmpipe_sem_close(s);
	T_OK(shmpipe_sem_create(&s, long_name, 2, 0, SHMPIPE_REPLACE));
	shmpipe_sem_close(s);
	T_OK(shmpipe_sem_open(&s, long_name));
	T_EQ(shmpipe_sem_value(s), 2);
	shmpipe_sem_close(s);
	T_OK(shmpipe_sem_unlink(long_name));

	/* One byte more, and much more. */
	char longer[SHMPIPE_NAME_MAX + 2];
	memcpy(longer, long_name, SHMPIPE_NAME_MAX);
	longer[SHMPIPE_NAME_MAX] = 'y';
	longer[SHMPIPE_NAME_MAX + 1] = '\0';
	check_refused(longer, ENAMETOOLONG, __LINE__);

	static char huge[1 << 16];
	memset(huge, 'z', sizeof(huge) - 1);
	check_refused(huge, ENAMETOOLONG, __LINE__);
	T_ASSERT(!t_shm_exists("shmpipe.", long_name));
	T_ASSERT(!t_shm_exists("sem.shmpipe.", long_name));
}

int main(void)
{
	main_pid = getpid();
	atexit(remove_long_name);
	test_bad_names();
	test_good_names();
	test_lengths();
	return T_PASS;
}
