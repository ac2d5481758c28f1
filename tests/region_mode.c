/* SPDX-License-Identifier: MIT */
/*
 * region_mode - regions, states and semaphores get exactly the mode asked
 * for (0600 when 0) whatever the umask, also when they replace an old
 * object; and, when we can drop privileges, the mode is what lets another
 * user in or keeps them out.
 */
#include "helpers.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static const mode_t modes[] = {0, 0640, 0666, 0604, 0600, 0660, 0644};

static void check_mode(const char *prefix, const char *name, mode_t asked,
		       mode_t mask, int line)
{
	int want = asked ? (int)asked : 0600;
	int got = t_shm_mode(prefix, name);
	if (got != want)
		t_fail(__FILE__, line, "%s%s asked %04o umask %03o: mode %04o",
		       prefix, name, (unsigned)asked, (unsigned)mask,
		       (unsigned)got);
}

static void test_modes(mode_t mask)
{
	umask(mask);
	const char *name = t_name("mode");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		mode_t m = modes[i];
		struct shmpipe_region_config cfg = {.size = 4096, .mode = m};
		shmpipe_region *r;
		T_OK(shmpipe_region_create(&r, name, &cfg));
		check_mode("shmpipe.", name, m, mask, __LINE__);
		shmpipe_region_close(r);
		/* Replacing gives the new object the new mode. */
		cfg.mode = m == 0666 ? 0600 : 0666;
		cfg.flags = SHMPIPE_REPLACE;
		T_OK(shmpipe_region_create(&r, name, &cfg));
		check_mode("shmpipe.", name, cfg.mode, mask, __LINE__);
		shmpipe_region_close(r);
		T_OK(shmpipe_region_unlink(name));

		shmpipe_state *st;
		T_OK(shmpipe_state_create(&st, name, 16, m, 0));
		check_mode("shmpipe.", name, m, mask, __LINE__);
		shmpipe_state_close(st);
		T_OK(shmpipe_state_create(&st, name, 16, m ? 0 : 0640,
					  SHMPIPE_REPLACE));
		check_mode("shmpipe.", name, m ? 0 : 0640, mask, __LINE__);
		shmpipe_state_close(st);
		T_OK(shmpipe_state_unlink(name));

		shmpipe_sem *s;
		T_OK(shmpipe_sem_create(&s, name, 0, m, 0));
		check_mode("sem.shmpipe.", name, m, mask, __LINE__);
		shmpipe_sem_close(s);
		T_OK(shmpipe_sem_create(&s, name, 0, m == 0604 ? 0 : 0604,
					SHMPIPE_REPLACE));
		check_mode("sem.shmpipe.", name, m == 0604 ? 0 : 0604, mask,
			   __LINE__);
		shmpipe_sem_close(s);
		T_OK(shmpipe_sem_unlink(name));
	}
	/* The umask of the process is left as it was. */
	T_EQ(umask(022), mask);
}

/*
 * As root, check that the modes mean what they say for another user: a
 * child that becomes nobody may open a 0666 object but not a 0600 one
 * (open is read-write, so 0604 does not let it in either).
 */
static void test_other_user(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "not root: other-user checks skipped\n");
		return;
	}
	umask(077);
	const char *open_name = t_name("open");
	const char *closed_name = t_name("closed");
	const char *ro_name = t_name("readonly");
	struct shmpipe_region_config cfg = {.size = 4096, .mode = 0666};
	shmpipe_region *r[3];
	T_OK(shmpipe_region_create(&r[0], open_name, &cfg));
	cfg.mode = 0;
	T_OK(shmpipe_region_create(&r[1], closed_name, &cfg));
	cfg.mode = 0604;
	T_OK(shmpipe_region_create(&r[2], ro_name, &cfg));
	shmpipe_sem *s[2];
	T_OK(shmpipe_sem_create(&s[0], open_name, 1, 0666, 0));
	T_OK(shmpipe_sem_create(&s[1], closed_name, 1, 0, 0));

	pid_t pid = t_fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(T_SKIP);
		shmpipe_region *c;
		T_OK(shmpipe_region_open(&c, open_name));
		((char *)shmpipe_region_data(c))[0] = 'n';
		shmpipe_region_close(c);
		T_ERR(shmpipe_region_open(&c, closed_name), EACCES);
		T_ERR(shmpipe_region_open(&c, ro_name), EACCES);
		shmpipe_sem *cs;
		T_OK(shmpipe_sem_open(&cs, open_name));
		T_OK(shmpipe_sem_trywait(cs));
		shmpipe_sem_close(cs);
		T_ERR(shmpipe_sem_open(&cs, closed_name), EACCES);
		_exit(T_PASS);
	}
	int st = t_wait(pid);
	if (st == T_SKIP)
		fprintf(stderr, "cannot become nobody: checks skipped\n");
	else
		T_EQ(st, T_PASS);
	if (st == T_PASS) {
		T_EQ(((char *)shmpipe_region_data(r[0]))[0], 'n');
		T_EQ(shmpipe_sem_value(s[0]), 0);
	}
	for (int i = 0; i < 3; i++)
		shmpipe_region_close(r[i]);
	for (int i = 0; i < 2; i++)
		shmpipe_sem_close(s[i]);
	T_OK(shmpipe_region_unlink(open_name));
	T_OK(shmpipe_region_unlink(closed_name));
	T_OK(shmpipe_region_unlink(ro_name));
	T_OK(shmpipe_sem_unlink(open_name));
	T_OK(shmpipe_sem_unlink(closed_name));
}

int main(void)
{
	test_modes(000);
	test_modes(077);
	test_modes(027);
	test_other_user();
	return T_PASS;
}
