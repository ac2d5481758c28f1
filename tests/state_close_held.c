/* SPDX-License-Identifier: MIT */
/*
 * state_close_held.c - closing a state handle while holding its lock:
 *  - the same thread goes on locking other states (no crash: its robust
 *    list must not point into unmapped memory);
 *  - the next locker, in another process, is told SHMPIPE_STATE_TORN at
 *    once (not a timeout), sees the half-done update, repairs it, and the
 *    locker after that gets 0;
 *  - a handle closed without holding releases nothing it does not hold.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	const char *name = t_name("held"), *other = t_name("other");
	shmpipe_state *s, *o;
	T_OK(shmpipe_state_create(&s, name, 64, 0, 0));
	T_OK(shmpipe_state_create(&o, other, 64, 0, 0));
	T_EQ(shmpipe_state_lock(s, 1000), 0);
	T_EQ(shmpipe_state_unlock(s), 1);

	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		shmpipe_state *c;
		if (shmpipe_state_open(&c, name) < 0 ||
		    shmpipe_state_lock(c, 1000) != 0)
			_exit(2);
		strcpy(shmpipe_state_data(c), "half"); /* then walks away */
		shmpipe_state_close(c);
		/* This thread locks and unlocks another state: glibc walks
		 * its robust list here, which must not name the closed one. */
		shmpipe_state *d;
		if (shmpipe_state_open(&d, other) < 0 ||
		    shmpipe_state_lock(d, 1000) != 0 ||
		    shmpipe_state_unlock(d) < 0)
			_exit(3);
		shmpipe_state_close(d);
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		/* Stay alive: the verdict must not wait for this exit. */
		pause();
		_exit(0);
	}
	/* The child holds nothing once its close returned: the verdict comes
	 * at once, while it lives on. */
	char c;
	T_EQ(read(ready[0], &c, 1), 1);
	T_EQ(shmpipe_state_lock(s, 0), SHMPIPE_STATE_TORN);
	T_ASSERT(!strcmp(shmpipe_state_data(s), "half"));
	strcpy(shmpipe_state_data(s), "repaired");
	T_EQ(shmpipe_state_unlock(s), 2);
	T_EQ(shmpipe_state_lock(s, 1000), 0);
	T_ASSERT(!strcmp(shmpipe_state_data(s), "repaired"));
	T_EQ(shmpipe_state_unlock(s), 3);

	/* The child is alive and locked the other state fine. */
	int st;
	T_EQ(waitpid(pid, &st, WNOHANG), 0);
	T_EQ(shmpipe_state_lock(o, 1000), 0);
	T_EQ(shmpipe_state_unlock(o), 2);
	kill(pid, SIGKILL);
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFSIGNALED(st));

	/* Closing a handle that does not hold the lock leaves a holder be. */
	T_EQ(shmpipe_state_lock(s, 1000), 0);
	shmpipe_state *idle;
	T_OK(shmpipe_state_open(&idle, name));
	shmpipe_state_close(idle);
	T_EQ(shmpipe_state_unlock(s), 4);

	shmpipe_state_close(s);
	shmpipe_state_close(o);
	shmpipe_state_unlink(name);
	shmpipe_state_unlink(other);
	return 0;
}
