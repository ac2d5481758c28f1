/* SPDX-License-Identifier: MIT */
/*
 * region_creator_killed - a creator SIGKILLed at any point of creating a
 * large region leaves either nothing or a complete region: open returns
 * -ENOENT or a valid region (right size, good header, zeroed data) at
 * once, and no temporary or half-built object remains in /dev/shm.
 */
#include "helpers.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define REGION_SIZE (256u << 20)
#define ITERATIONS  30

/* Entries of /dev/shm that mention @name or are temporaries of @pid. */
static int leftovers(const char *name, pid_t pid)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".shmpipe-tmp.%ld.", (long)pid);
	DIR *d = opendir("/dev/shm");
	T_ASSERT(d != NULL);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strstr(e->d_name, name) ||
		    !strncmp(e->d_name, tmp, strlen(tmp))) {
			fprintf(stderr, "left: /dev/shm/%s\n", e->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

static void check_complete(shmpipe_region *r, pid_t creator)
{
	const struct shmpipe__region_header *h = shmpipe__region_header(r);
	T_EQ(shmpipe_region_size(r), REGION_SIZE);
	T_EQ(h->magic, SHMPIPE__REGION_MAGIC);
	T_EQ(h->version, SHMPIPE__REGION_VERSION);
	T_EQ(h->type, SHMPIPE__TYPE_REGION);
	T_EQ(h->header_size, SHMPIPE__REGION_HEADER_SIZE);
	T_EQ(h->data_size, REGION_SIZE);
	T_EQ(atomic_load(&h->ready), 1);
	T_EQ(h->creator_pid, creator);
	const unsigned char *d = shmpipe_region_data(r);
	/* The init callback's mark, then zeroes (a few pages, not all). */
	T_ASSERT(!memcmp(d, "init", 4));
	for (size_t off = 4; off < REGION_SIZE; off += REGION_SIZE / 7)
		T_EQ(d[off], 0);
	T_EQ(d[REGION_SIZE - 1], 0);
}

static int mark(void *data, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	memcpy(data, "init", 4);
	return 0;
}

static void creator(const char *name, int ready_fd)
{
	struct shmpipe_region_config cfg = {.size = REGION_SIZE, .init = mark};
	shmpipe_region *r;
	t_say(ready_fd, 's');
	int ret = shmpipe_region_create(&r, name, &cfg);
	if (ret < 0) {
		fprintf(stderr, "create: %s\n", shmpipe_strerror(ret));
		_exit(T_FAIL);
	}
	for (;;)
		pause(); /* until killed */
}

/* How long one creation takes here, in milliseconds (at least 1). */
static int creation_ms(const char *name)
{
	struct shmpipe_region_config cfg = {.size = REGION_SIZE};
	shmpipe_region *r;
	double t0 = t_now();
	T_OK(shmpipe_region_create(&r, name, &cfg));
	int ms = (int)((t_now() - t0) * 1000) + 1;
	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(name));
	return ms;
}

int main(void)
{
	const char *name = t_name("killed");
	unsigned seed = (unsigned)getpid() ^ (unsigned)(t_now() * 1000);
	srand(seed);
	/* Kill anywhere from before the call to well after it returned. */
	int max_delay = 2 * creation_ms(name) + 5;
	fprintf(stderr, "seed %u, delays 0..%d ms\n", seed, max_delay);

	int complete = 0, absent = 0;
	for (int i = 0; i < ITERATIONS; i++) {
		int fds[2];
		T_EQ(pipe(fds), 0);
		pid_t pid = t_fork();
		if (pid == 0) {
			close(fds[0]);
			creator(name, fds[1]);
		}
		close(fds[1]);
		T_EQ(t_hear(fds[0]), 's');
		close(fds[0]);
		t_sleep_ms(rand() % (max_delay + 1));
		t_kill_and_reap(pid);

		shmpipe_region *r;
		double t0 = t_now();
		int ret = shmpipe_region_open(&r, name);
		double took = t_now() - t0;
		if (took >= 1.0)
			t_fail(__FILE__, __LINE__, "open took %.2f s", took);
		if (ret == 0) {
			check_complete(r, pid);
			shmpipe_region_close(r);
			T_OK(shmpipe_region_unlink(name));
			complete++;
		} else {
			T_ERR(ret, ENOENT);
			absent++;
		}
		T_EQ(leftovers(name, pid), 0);
	}
	fprintf(stderr, "%d complete, %d absent\n", complete, absent);
	T_EQ(complete + absent, ITERATIONS);
	return T_PASS;
}
