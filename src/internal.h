/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the layers of libshmpipe share with each other and
 * nobody else. Names here are shmpipe__*; nothing here is exported.
 *
 * Layers (see DESIGN.md), each in its own file, arrows pointing down:
 *   error.c    shmpipe_strerror / shmpipe_errname (one X-macro table)
 *   sys.c      syscall wrappers returning -errno, name validation, paths,
 *              atomic creation of /dev/shm objects, futexes, clocks
 *   region.c   named shared-memory regions (header, validation)
 *   sem.c      named semaphores
 *   state.c    crash-safe shared state (robust mutex + generation)
 *   shutdown.c signals to an fd, removal of registered objects
 */
#ifndef SHMPIPE_INTERNAL_H
#define SHMPIPE_INTERNAL_H

#include "shmpipe.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define SHMPIPE__SHM_DIR "/dev/shm"
#define SHMPIPE__PREFIX "shmpipe."	   /* regions, states, pipes */
#define SHMPIPE__SEM_PREFIX "sem.shmpipe." /* glibc's sem_open() layout */
/* Longest path we build: dir + '/' + prefix + name + temp suffix. */
#define SHMPIPE__PATH_MAX 320

#define SHMPIPE__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ sys.c */

/* Validate @name (see shmpipe_name_check in shmpipe.h). */
int shmpipe__name_check(const char *name);

/* Write "/dev/shm/<prefix><name>" into @buf (SHMPIPE__PATH_MAX bytes).
 * Validates @name first; returns 0 or its error. */
int shmpipe__shm_path(char *buf, const char *prefix, const char *name);

/* Called on the zero-filled mapping of a new object before it is linked
 * under its name. Returns 0 or -errno (which aborts the creation). */
typedef int (*shmpipe__fill_fn)(void *map, size_t size, void *arg);

/*
 * Create the /dev/shm object @path of @size bytes with exactly @mode,
 * reserve its pages, map it, let @fill initialise it and only then give it
 * its name (exclusively, or replacing with SHMPIPE_REPLACE in @flags).
 * On success returns 0 and the shared read-write mapping in *@map (@size
 * bytes, to munmap by the caller); on failure nothing is left behind.
 */
int shmpipe__shm_create(const char *path, size_t size, mode_t mode,
			unsigned flags, shmpipe__fill_fn fill, void *arg,
			void **map);

/*
 * Open the existing /dev/shm object @path read-write without following
 * symlinks. Returns the fd (close-on-exec) and its size in *@size, or
 * -errno (-ENOENT, -ELOOP, -EACCES, -EBADMSG when not a regular file).
 */
int shmpipe__shm_open(const char *path, size_t *size);

/* Call @fn for every "<prefix>NAME" in /dev/shm with a valid NAME. */
int shmpipe__shm_list(const char *prefix,
		      int (*fn)(const char *name, void *arg), void *arg);

/* pread() all of @len bytes at @offset: 0, -EBADMSG when short, -errno. */
int shmpipe__pread_all(int fd, void *buf, size_t len, off_t offset);
/* mmap(@len) shared read-write of @fd at 0: 0 and *@map, or -errno. */
int shmpipe__map(int fd, size_t len, void **map);
/* Map @size bytes of @fd, then the part from @mirror_offset (page-aligned)
 * to the end a second time right after it: *@map covers
 * size + (size - mirror_offset) bytes, to munmap as one. */
int shmpipe__map_mirror(int fd, size_t size, size_t mirror_offset,
			void **map);
int shmpipe__close(int fd);
int shmpipe__unlink(const char *path);

/* sigbus.c: guard [@addr, @addr + @len) against truncation of the object
 * by another process: a SIGBUS there turns the range into private zero
 * pages and sets *@flag, instead of killing. Returns a slot for unguard,
 * or -ENOSPC (table full: not guarded), -errno (no handler). */
int shmpipe__sigbus_guard(void *addr, size_t len, _Atomic int *flag);
void shmpipe__sigbus_unguard(int slot);

/* Absolute CLOCK_MONOTONIC deadline @timeout_ms (> 0) from now. */
void shmpipe__deadline(struct timespec *abs, int timeout_ms);
/* Milliseconds left until @abs (0 when passed). */
int64_t shmpipe__ms_left(const struct timespec *abs);
uint64_t shmpipe__now_ns(void);

/* Shared (not private) futexes, so they work across processes.
 * wait: 0 woken (or spurious), -EAGAIN *@word != @expected, -ETIMEDOUT at
 * @abs (CLOCK_MONOTONIC, NULL = forever), -EINTR. */
int shmpipe__futex_wait(_Atomic uint32_t *word, uint32_t expected,
			const struct timespec *abs);
/* Wake up to @count waiters on @word; returns how many woke or -errno. */
int shmpipe__futex_wake(_Atomic uint32_t *word, int count);

/* --------------------------------------------------------------- region.c */

/* Region types: one region header format serves every shmpipe object, the
 * type says which layer owns the user data. */
enum {
	SHMPIPE__TYPE_REGION = 1, /* plain user region */
	SHMPIPE__TYPE_STATE = 2,  /* crash-safe shared state */
	SHMPIPE__TYPE_PIPE = 3,	  /* buffered pipe */
};

/* "SHMPIPE" + format byte; a different value is -EPROTO. */
#define SHMPIPE__REGION_MAGIC 0x0145504950484d53ull
#define SHMPIPE__REGION_VERSION 1u
#define SHMPIPE__REGION_HEADER_SIZE 128u

/* Lives at offset 0 of every shmpipe object. Written once by the creator
 * before the object is published; read-only afterwards. */
struct shmpipe__region_header {
	uint64_t magic;
	uint32_t version;
	uint32_t type;
	uint64_t header_size; /* == SHMPIPE__REGION_HEADER_SIZE */
	uint64_t data_size;   /* object size == header_size + data_size */
	/* Set to 1 last, with release order: a reader that sees 1 (acquire)
	 * sees the initialised data. Publication by link() already hides
	 * unfinished objects; this guards against objects made otherwise. */
	_Atomic uint32_t ready;
	uint32_t creator_pid;
	uint64_t created_realtime_ns;
	/* 0, or the page-aligned file offset from which the rest of the object
	 * is mapped twice, back to back, so that a ring buffer there can be
	 * read and written contiguously across its end. */
	uint64_t mirror_offset;
	uint8_t reserved[SHMPIPE__REGION_HEADER_SIZE - 56];
};
_Static_assert(sizeof(struct shmpipe__region_header) ==
		       SHMPIPE__REGION_HEADER_SIZE,
	       "region header size is part of the on-disk format");
_Static_assert(offsetof(struct shmpipe__region_header, ready) == 32,
	       "region header layout is part of the on-disk format");

/* Create a region of @type; @mirror_offset as in the header (0 = none). */
int shmpipe__region_create(shmpipe_region **out, const char *name,
			   const struct shmpipe_region_config *cfg,
			   uint32_t type, uint64_t mirror_offset);
/* Open a region that must be of @type (-EPROTO otherwise). */
int shmpipe__region_open(shmpipe_region **out, const char *name,
			 uint32_t type);
const struct shmpipe__region_header *
shmpipe__region_header(const shmpipe_region *r);
/* The object's own base address (the region header), and, for a mirrored
 * region, the start of the twice-mapped part (NULL otherwise). */
void *shmpipe__region_base(const shmpipe_region *r);
/* The mirror offset validated at open (0 for created or plain regions):
 * the mapping covers it plus twice (object size - mirror offset). */
size_t shmpipe__region_mirror_offset(const shmpipe_region *r);
/* Guard the mapping against truncation by another process (sigbus.c):
 * from then on a truncation turns it into zero pages and raises the flag
 * shmpipe__region_truncated() points at, instead of a SIGBUS. Best effort:
 * with the guard table full the mapping stays unguarded. */
void shmpipe__region_guard(shmpipe_region *r);
_Atomic int *shmpipe__region_truncated(shmpipe_region *r);
size_t shmpipe__page_size(void);

#endif /* SHMPIPE_INTERNAL_H */
