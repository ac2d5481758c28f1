/* SPDX-License-Identifier: MIT */
/*
 * sem.c - named semaphores.
 *
 * The object is laid out exactly as glibc's sem_open() expects
 * (/dev/shm/sem.<name>, holding one process-shared sem_t), so other
 * programs can sem_open("/shmpipe.NAME") it. We create it ourselves rather
 * than through sem_open(O_CREAT) for two reasons: sem_open applies the
 * umask (we want the exact mode), and we want the same atomic
 * build-then-link publication as regions.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/mman.h>

struct shmpipe_sem {
	sem_t *sem;
};

static int fill_sem(void *map, size_t size, void *arg)
{
	(void)size;
	return sem_init(map, 1, *(unsigned *)arg) < 0 ? -EINVAL : 0;
}

static int sem_new(shmpipe_sem **out, void *map)
{
	*out = calloc(1, sizeof(**out));
	if (!*out) {
		munmap(map, sizeof(sem_t));
		return -ENOMEM;
	}
	(*out)->sem = map;
	return 0;
}

SHMPIPE_API int shmpipe_sem_create(shmpipe_sem **out, const char *name,
				   unsigned value, mode_t mode, unsigned flags)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	char path[SHMPIPE__PATH_MAX];
	int r = shmpipe__shm_path(path, SHMPIPE__SEM_PREFIX, name);
	if (r < 0)
		return r;
	if (value > SEM_VALUE_MAX)
		return -EINVAL;
	void *map;
	r = shmpipe__shm_create(path, sizeof(sem_t), mode ? mode : 0600, flags,
				fill_sem, &value, &map);
	return r < 0 ? r : sem_new(out, map);
}

SHMPIPE_API int shmpipe_sem_open(shmpipe_sem **out, const char *name)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	char path[SHMPIPE__PATH_MAX];
	int r = shmpipe__shm_path(path, SHMPIPE__SEM_PREFIX, name);
	if (r < 0)
		return r;
	size_t size;
	int fd = shmpipe__shm_open(path, &size);
	if (fd < 0)
		return fd;
	void *map = NULL;
	r = size == sizeof(sem_t) ? shmpipe__map(fd, size, &map) : -EBADMSG;
	shmpipe__close(fd);
	return r < 0 ? r : sem_new(out, map);
}

SHMPIPE_API int shmpipe_sem_trywait(shmpipe_sem *s)
{
	while (sem_trywait(s->sem) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

SHMPIPE_API int shmpipe_sem_wait(shmpipe_sem *s, int timeout_ms)
{
	if (timeout_ms == 0)
		return shmpipe_sem_trywait(s);
	if (timeout_ms < 0) {
		while (sem_wait(s->sem) < 0) {
			if (errno != EINTR)
				return -errno;
		}
		return 0;
	}
	struct timespec abs;
	shmpipe__deadline(&abs, timeout_ms);
	/* Same absolute deadline after EINTR, so signals do not stretch it. */
	while (sem_clockwait(s->sem, CLOCK_MONOTONIC, &abs) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

SHMPIPE_API int shmpipe_sem_post(shmpipe_sem *s)
{
	return sem_post(s->sem) < 0 ? -errno : 0;
}

SHMPIPE_API int shmpipe_sem_value(shmpipe_sem *s)
{
	int v = 0;
	if (sem_getvalue(s->sem, &v) < 0)
		return -errno;
	return v < 0 ? 0 : v;
}

SHMPIPE_API void shmpipe_sem_close(shmpipe_sem *s)
{
	if (!s)
		return;
	munmap(s->sem, sizeof(sem_t));
	free(s);
}

SHMPIPE_API int shmpipe_sem_unlink(const char *name)
{
	char path[SHMPIPE__PATH_MAX];
	int r = shmpipe__shm_path(path, SHMPIPE__SEM_PREFIX, name);
	return r < 0 ? r : shmpipe__unlink(path);
}
