/* SPDX-License-Identifier: MIT */
/*
 * region_enospc - pages are reserved at creation: on a full tmpfs create
 * fails with -ENOSPC (not SIGBUS later), leaves no object and no space
 * used behind, and smaller regions still work. Runs in a child with its
 * own mount namespace and a 1 MiB tmpfs on /dev/shm, so the real /dev/shm
 * is never touched; skips where that is not permitted.
 */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define TMPFS_SIZE (1u << 20)

/* Entries in /dev/shm, "." and ".." aside. */
static int count_entries(void)
{
	DIR *d = opendir("/dev/shm");
	T_ASSERT(d != NULL);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		fprintf(stderr, "  /dev/shm/%s\n", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static unsigned long free_blocks(void)
{
	struct statvfs sv;
	T_EQ(statvfs("/dev/shm", &sv), 0);
	return sv.f_bfree;
}

/* In the child: make a private small /dev/shm, or exit 77. */
static void private_shm(void)
{
	if (unshare(CLONE_NEWNS) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNS): %s\n", strerror(errno));
		_exit(T_SKIP);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "make / private: %s\n", strerror(errno));
		_exit(T_SKIP);
	}
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%u,mode=1777", TMPFS_SIZE);
	if (mount("shmpipe-test", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
		  opts) < 0) {
		fprintf(stderr, "mount tmpfs: %s\n", strerror(errno));
		_exit(T_SKIP);
	}
}

static int child(const char *name, const char *big)
{
	private_shm();
	T_EQ(count_entries(), 0);
	unsigned long empty = free_blocks();
	T_ASSERT(empty > 0);

	/* Far too large: refused at once. */
	struct shmpipe_region_config cfg = {.size = 8u << 20};
	shmpipe_region *r = (shmpipe_region *)1;
	T_ERR(shmpipe_region_create(&r, name, &cfg), ENOSPC);
	T_ASSERT(r == NULL);
	T_EQ(count_entries(), 0);
	T_EQ(free_blocks(), empty);

	/* Fits the tmpfs but not what is left of it: fails part way
	 * through the reservation, which must be given back. */
	cfg.size = 64u << 10;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	memset(shmpipe_region_data(r), 0x11, cfg.size);
	unsigned long used = free_blocks();
	T_ASSERT(used < empty);
	struct shmpipe_region_config big_cfg = {.size = TMPFS_SIZE - 4096};
	shmpipe_region *b = (shmpipe_region *)1;
	T_ERR(shmpipe_region_create(&b, big, &big_cfg), ENOSPC);
	T_ASSERT(b == NULL);
	T_EQ(count_entries(), 1);
	T_EQ(free_blocks(), used);
	big_cfg.flags = SHMPIPE_REPLACE;
	T_ERR(shmpipe_region_create(&b, name, &big_cfg), ENOSPC);
	T_EQ(count_entries(), 1);
	T_EQ(free_blocks(), used);

	/* The small region is intact. */
	shmpipe_region *again;
	T_OK(shmpipe_region_open(&again, name));
	T_EQ(shmpipe_region_size(again), 64u << 10);
	T_EQ(((unsigned char *)shmpipe_region_data(again))[cfg.size - 1], 0x11);
	shmpipe_region_close(again);

	/* Semaphores need little, but not nothing. */
	shmpipe_sem *s;
	T_OK(shmpipe_sem_create(&s, name, 1, 0, 0));
	shmpipe_sem_close(s);
	T_OK(shmpipe_sem_unlink(name));

	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(name));
	T_EQ(count_entries(), 0);
	T_EQ(free_blocks(), empty);
	return T_PASS;
}

int main(void)
{
	const char *name = t_name("nospc");
	const char *big = t_name("big");
	pid_t pid = t_fork();
	if (pid == 0)
		_exit(child(name, big));
	int st = t_wait(pid);
	if (st == T_SKIP)
		t_skip("cannot mount a private tmpfs on /dev/shm");
	T_EQ(st, T_PASS);
	/* The real /dev/shm never saw it. */
	T_ASSERT(!t_shm_exists("shmpipe.", name));
	T_ASSERT(!t_shm_exists("shmpipe.", big));
	return T_PASS;
}
