/* SPDX-License-Identifier: MIT */
/*
 * region_exists - creation is exclusive: a region (or semaphore) made by
 * another process is refused with -EEXIST and left untouched; with
 * SHMPIPE_REPLACE a new one takes the name atomically, new openers see the
 * new one, and processes holding the old one keep seeing the old data.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* A child and the parent take turns: each waits for a byte from the other. */
struct turns {
	int to_child[2];
	int to_parent[2];
};

static void turns_init(struct turns *t)
{
	T_ASSERT(pipe(t->to_child) == 0);
	T_ASSERT(pipe(t->to_parent) == 0);
}

/* After fork: each side keeps only its own ends, so that the death of the
 * other side reads as end-of-file instead of a hang. */
static void turns_split(struct turns *t, int child)
{
	close(child ? t->to_child[1] : t->to_child[0]);
	close(child ? t->to_parent[0] : t->to_parent[1]);
	if (child) {
		t->to_child[1] = -1;
		t->to_parent[0] = -1;
	} else {
		t->to_child[0] = -1;
		t->to_parent[1] = -1;
	}
}

static void turns_close(struct turns *t)
{
	close(t->to_child[1]);
	close(t->to_parent[0]);
}

static void test_region(void)
{
	const char *name = t_name("region");
	struct turns t;
	turns_init(&t);
	pid_t pid = t_fork();
	turns_split(&t, pid == 0);
	if (pid == 0) {
		alarm(60);
		struct shmpipe_region_config cfg = {.size = 5000};
		shmpipe_region *r;
		T_OK(shmpipe_region_create(&r, name, &cfg));
		strcpy(shmpipe_region_data(r), "old");
		t_say(t.to_parent[1], 'x');
		T_EQ(t_hear(t.to_child[0]), 'x'); /* the parent replaced it */
		T_EQ(shmpipe_region_size(r), 5000);
		T_ASSERT(!strcmp(shmpipe_region_data(r), "old2"));
		shmpipe_region_close(r);
		_exit(T_PASS);
	}
	T_EQ(t_hear(t.to_parent[0]), 'x');

	/* Refused, with the old region untouched. */
	struct shmpipe_region_config cfg = {.size = 9000};
	shmpipe_region *r = (shmpipe_region *)1;
	T_ERR(shmpipe_region_create(&r, name, &cfg), EEXIST);
	T_ASSERT(r == NULL);
	shmpipe_region *old;
	T_OK(shmpipe_region_open(&old, name));
	T_EQ(shmpipe_region_size(old), 5000);
	char *old_data = shmpipe_region_data(old);
	T_ASSERT(!strcmp(old_data, "old"));
	/* A state or a semaphore of that name is refused too: one namespace
	 * for regions and states, semaphores have their own. */
	shmpipe_state *st;
	T_ERR(shmpipe_state_create(&st, name, 8, 0, 0), EEXIST);

	/* Replaced: new size, new (zeroed, then written) data. */
	cfg.flags = SHMPIPE_REPLACE;
	shmpipe_region *fresh;
	T_OK(shmpipe_region_create(&fresh, name, &cfg));
	T_EQ(shmpipe_region_size(fresh), 9000);
	T_EQ(((char *)shmpipe_region_data(fresh))[0], 0);
	strcpy(shmpipe_region_data(fresh), "new");
	strcpy(old_data, "old2");

	/* A new opener, in another process, gets the new one. */
	pid_t opener = t_fork();
	if (opener == 0) {
		shmpipe_region *n;
		T_OK(shmpipe_region_open(&n, name));
		T_EQ(shmpipe_region_size(n), 9000);
		T_ASSERT(!strcmp(shmpipe_region_data(n), "new"));
		shmpipe_region_close(n);
		_exit(T_PASS);
	}
	T_EQ(t_wait(opener), T_PASS);

	/* The creator of the old one still sees the old one. */
	t_say(t.to_child[1], 'x');
	T_EQ(t_wait(pid), T_PASS);
	T_ASSERT(!strcmp(old_data, "old2"));
	T_ASSERT(!strcmp(shmpipe_region_data(fresh), "new"));

	/* Replacing when nothing is there just creates. */
	shmpipe_region_close(fresh);
	shmpipe_region_close(old);
	T_OK(shmpipe_region_unlink(name));
	cfg.size = 10;
	T_OK(shmpipe_region_create(&fresh, name, &cfg));
	T_EQ(shmpipe_region_size(fresh), 10);
	shmpipe_region_close(fresh);
	T_OK(shmpipe_region_unlink(name));
	turns_close(&t);
}

static void test_sem(void)
{
	const char *name = t_name("sem");
	struct turns t;
	turns_init(&t);
	pid_t pid = t_fork();
	turns_split(&t, pid == 0);
	if (pid == 0) {
		alarm(60);
		shmpipe_sem *s;
		T_OK(shmpipe_sem_create(&s, name, 3, 0, 0));
		t_say(t.to_parent[1], 'x');
		T_EQ(t_hear(t.to_child[0]), 'x');
		/* The parent took one from the old semaphore only. */
		T_EQ(shmpipe_sem_value(s), 2);
		shmpipe_sem_close(s);
		_exit(T_PASS);
	}
	T_EQ(t_hear(t.to_parent[0]), 'x');

	shmpipe_sem *s = (shmpipe_sem *)1;
	T_ERR(shmpipe_sem_create(&s, name, 0, 0, 0), EEXIST);
	T_ASSERT(s == NULL);
	shmpipe_sem *old;
	T_OK(shmpipe_sem_open(&old, name));
	T_EQ(shmpipe_sem_value(old), 3);

	/* A region of the same name is another namespace. */
	struct shmpipe_region_config cfg = {.size = 16};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(name));

	shmpipe_sem *fresh;
	T_OK(shmpipe_sem_create(&fresh, name, 7, 0, SHMPIPE_REPLACE));
	T_EQ(shmpipe_sem_value(fresh), 7);
	T_EQ(shmpipe_sem_value(old), 3);
	T_OK(shmpipe_sem_trywait(old));

	pid_t opener = t_fork();
	if (opener == 0) {
		shmpipe_sem *n;
		T_OK(shmpipe_sem_open(&n, name));
		T_EQ(shmpipe_sem_value(n), 7);
		T_OK(shmpipe_sem_wait(n, 1000));
		shmpipe_sem_close(n);
		_exit(T_PASS);
	}
	T_EQ(t_wait(opener), T_PASS);
	T_EQ(shmpipe_sem_value(fresh), 6);

	t_say(t.to_child[1], 'x');
	T_EQ(t_wait(pid), T_PASS);
	T_EQ(shmpipe_sem_value(old), 2);
	shmpipe_sem_close(old);
	shmpipe_sem_close(fresh);
	T_OK(shmpipe_sem_unlink(name));

	/* Replacing when nothing is there just creates. */
	T_OK(shmpipe_sem_create(&fresh, name, 1, 0, SHMPIPE_REPLACE));
	T_EQ(shmpipe_sem_value(fresh), 1);
	shmpipe_sem_close(fresh);
	T_OK(shmpipe_sem_unlink(name));
	turns_close(&t);
}

int main(void)
{
	test_region();
	test_sem();
	return T_PASS;
}
