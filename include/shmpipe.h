/* SPDX-License-Identifier: MIT */
/*
 * shmpipe.h - the one public header of libshmpipe.
 *
 * shmpipe is a C11 library for Linux interprocess communication: shared
 * memory regions, named semaphores, crash-safe shared state and clean
 * shutdown on signals (the POSIX building blocks), and on top of them the
 * buffered pipe.
 *
 * Conventions, for every function below:
 *  - Success returns 0 or a non-negative count; failure returns a negative
 *    errno value (-ENOENT, -EBADMSG, ...). errno itself is not a channel:
 *    it may be changed by any call. shmpipe_strerror() names each value.
 *  - The library never prints and never exits.
 *  - Objects are opaque handles with an _open/_create that fills *out and a
 *    NULL-safe _close. Removing the name (_unlink) is separate from closing
 *    the handle, as in POSIX: a handle keeps working after its name is gone.
 *  - Names are short strings such as "sensors". They are validated like
 *    shm_open() names: not empty, no '/', not "." or "..", no control
 *    characters, at most SHMPIPE_NAME_MAX bytes. A bad name gives -EINVAL,
 *    a long one -ENAMETOOLONG. Objects live in /dev/shm as "shmpipe.NAME"
 *    (semaphores as "sem.shmpipe.NAME"), so `ls /dev/shm` shows them.
 *  - Thread safety: different handles may be used from different threads at
 *    once. One handle is safe to share between threads where its comment
 *    says so. After fork() a child may use the parent's handles (the
 *    mappings are shared), except where noted.
 *
 * Errors shared by every function that takes a name:
 *   -EINVAL        the name is NULL, empty, ".", "..", has '/' or a control
 *                  character; or another argument is out of range
 *   -ENAMETOOLONG  the name is longer than SHMPIPE_NAME_MAX
 *   -ENOMEM        out of memory for the handle
 *   -EACCES        the object's permissions refuse this process
 *   -EMFILE/-ENFILE  out of file descriptors
 */
#ifndef SHMPIPE_H
#define SHMPIPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMPIPE_BUILDING) && defined(__GNUC__)
#define SHMPIPE_API __attribute__((visibility("default")))
#else
#define SHMPIPE_API
#endif

/* ---------------------------------------------------------------- version */

#define SHMPIPE_VERSION_MAJOR 0
#define SHMPIPE_VERSION_MINOR 1
#define SHMPIPE_VERSION_PATCH 0
#define SHMPIPE_VERSION_STRING "0.1.0"
/* One number that grows with every release: major*10000 + minor*100 + patch. */
#define SHMPIPE_VERSION_NUMBER                                      \
	(SHMPIPE_VERSION_MAJOR * 10000 + SHMPIPE_VERSION_MINOR * 100 + \
	 SHMPIPE_VERSION_PATCH)

/* The version of the library actually loaded, as SHMPIPE_VERSION_NUMBER. */
SHMPIPE_API unsigned shmpipe_version(void);
/* The same as a static string such as "0.1.0". */
SHMPIPE_API const char *shmpipe_version_string(void);

/* ----------------------------------------------------------------- errors */

/*
 * shmpipe_strerror - describe a value returned by this library.
 * @err: a negative errno as returned (a positive errno is accepted too).
 *
 * Returns a static string, never NULL, safe to call from any thread. The
 * conditions this library maps onto errno values get a specific text:
 * EBADMSG "shared memory object is corrupt or truncated", EPROTO "not a
 * shmpipe object of this version (bad magic or version)", and so on;
 * others get the C library's description. 0 gives "Success".
 */
SHMPIPE_API const char *shmpipe_strerror(int err);

/*
 * shmpipe_errname - the symbolic name of an error value ("EBADMSG").
 * @err: negative or positive errno. Returns a static string, never NULL
 * ("EUNKNOWN" for a value without a name).
 */
SHMPIPE_API const char *shmpipe_errname(int err);

/* ------------------------------------------------------------------ names */

/* Longest name accepted, in bytes (without the terminating NUL). It leaves
 * room in NAME_MAX for the "sem.shmpipe." prefix and temporary suffixes. */
#define SHMPIPE_NAME_MAX 200

/*
 * shmpipe_name_check - validate a name without creating anything.
 * Returns 0 if @name is acceptable, -EINVAL or -ENAMETOOLONG otherwise.
 */
SHMPIPE_API int shmpipe_name_check(const char *name);

/* ---------------------------------------------------- shared-memory regions
 *
 * A region is a named POSIX shared memory object holding a small header
 * (magic, version, size, type and a ready word) followed by @size bytes of
 * user data, zero-filled at creation.
 *
 * Creation is atomic: the object is built and initialised without a name
 * (O_TMPFILE in /dev/shm) and only then linked under its name, so no other
 * process can ever open a half-built region, and a creator killed at any
 * point leaves nothing behind. Its pages are reserved (fallocate) before it
 * is published, so a full /dev/shm gives -ENOSPC from create, never SIGBUS
 * on a later access. The mode is exactly the one asked for, whatever the
 * process umask. Open checks the header and the object's real size with
 * pread() before it maps anything.
 */
typedef struct shmpipe_region shmpipe_region;

/* Flags for shmpipe_region_config.flags (and the other _create calls). */
#define SHMPIPE_REPLACE 0x1u /* replace an existing object of the name
				(atomically, by rename); without it an
				existing name gives -EEXIST */

struct shmpipe_region_config {
	size_t size;   /* bytes of user data, > 0 (required) */
	mode_t mode;   /* permission bits; 0 means 0600 */
	unsigned flags;	/* SHMPIPE_REPLACE */
	/* Optional: called once on the zero-filled user data before the region
	 * becomes visible to anyone; a negative return aborts the creation
	 * and is returned by shmpipe_region_create(). */
	int (*init)(void *data, size_t size, void *arg);
	void *init_arg;
};

/*
 * shmpipe_region_create - create, initialise, publish and map a region.
 * @out:  receives the handle (NULL on failure); close with
 *        shmpipe_region_close().
 * @name: the region's name.
 * @cfg:  size, mode, flags and optional init callback.
 *
 * Errors: -EEXIST the name exists (and SHMPIPE_REPLACE was not given);
 * -ENOSPC /dev/shm cannot hold @size; -EFBIG/-EINVAL size 0 or too large;
 * -EOPNOTSUPP /dev/shm does not support O_TMPFILE or linking; whatever the
 * init callback returned; and the name errors above.
 * Thread-safe. The handle may be used by a fork()ed child.
 */
SHMPIPE_API int shmpipe_region_create(shmpipe_region **out, const char *name,
				      const struct shmpipe_region_config *cfg);

/*
 * shmpipe_region_open - open and map an existing region read-write.
 *
 * Errors: -ENOENT no such region; -EPROTO the object is not a shmpipe region
 * of this version (magic or version mismatch), or has another type than
 * expected; -EBADMSG the header is corrupt (size field does not match the
 * object's real size, truncated object, never finished initialising);
 * -ELOOP the name is a symbolic link (never followed); -EACCES.
 * Thread-safe.
 */
SHMPIPE_API int shmpipe_region_open(shmpipe_region **out, const char *name);

/* The user data of @r (page-aligned plus the header, 64-byte aligned). */
SHMPIPE_API void *shmpipe_region_data(const shmpipe_region *r);
/* The size of the user data, in bytes. */
SHMPIPE_API size_t shmpipe_region_size(const shmpipe_region *r);
/* The region's name, as given to create/open. */
SHMPIPE_API const char *shmpipe_region_name(const shmpipe_region *r);

/* Unmap and close @r. NULL is fine. The object and its data stay. */
SHMPIPE_API void shmpipe_region_close(shmpipe_region *r);

/*
 * shmpipe_region_unlink - remove the name of a region (or of any shmpipe
 * object in /dev/shm, pipes included). Processes that have it open keep
 * working on it; the memory is freed when the last one closes.
 * Errors: -ENOENT, -EACCES/-EPERM, the name errors.
 */
SHMPIPE_API int shmpipe_region_unlink(const char *name);

/* ------------------------------------------------------ named semaphores
 *
 * A counting semaphore that unrelated processes open by name; the object is
 * a POSIX named semaphore, so another program can sem_open("/shmpipe.NAME").
 *
 * WARNING: a semaphore used as a lock cannot recover when its holder dies:
 * the count it took is never given back and every other process waits
 * forever. For mutual exclusion between processes use the crash-safe shared
 * state below (shmpipe_state_*), which tells the next locker that the owner
 * died and whether its update was complete.
 */
typedef struct shmpipe_sem shmpipe_sem;

/*
 * shmpipe_sem_create - create a named semaphore with initial @value.
 * @mode: exact permission bits (0 means 0600), whatever the umask.
 * @flags: SHMPIPE_REPLACE to replace an existing one.
 * Creation is atomic like a region's. Errors: -EEXIST, -EINVAL (value above
 * SEM_VALUE_MAX), -ENOSPC, the name errors. Thread-safe.
 */
SHMPIPE_API int shmpipe_sem_create(shmpipe_sem **out, const char *name,
				   unsigned value, mode_t mode,
				   unsigned flags);

/* shmpipe_sem_open - open an existing semaphore. Errors: -ENOENT, -EBADMSG
 * (object of the wrong size: not a semaphore), -ELOOP, -EACCES, the name
 * errors. */
SHMPIPE_API int shmpipe_sem_open(shmpipe_sem **out, const char *name);

/*
 * shmpipe_sem_wait - decrement, waiting while the value is 0.
 * @timeout_ms: -1 waits forever, 0 does not wait (like trywait), else the
 * longest wait in milliseconds, measured on CLOCK_MONOTONIC (so changing
 * the wall clock does not shorten or stretch it). Interrupted system calls
 * are resumed with the same deadline.
 * Errors: -ETIMEDOUT the time ran out; -EAGAIN value 0 and timeout_ms 0.
 * Thread-safe.
 */
SHMPIPE_API int shmpipe_sem_wait(shmpipe_sem *s, int timeout_ms);
/* shmpipe_sem_trywait - decrement if the value is above 0, else -EAGAIN. */
SHMPIPE_API int shmpipe_sem_trywait(shmpipe_sem *s);
/* shmpipe_sem_post - increment, waking one waiter. -EOVERFLOW at
 * SEM_VALUE_MAX. Async-signal-safe. */
SHMPIPE_API int shmpipe_sem_post(shmpipe_sem *s);
/* shmpipe_sem_value - the current value (>= 0); a snapshot. */
SHMPIPE_API int shmpipe_sem_value(shmpipe_sem *s);
/* Close @s (NULL is fine); the semaphore itself stays. */
SHMPIPE_API void shmpipe_sem_close(shmpipe_sem *s);
/* Remove the name of a semaphore. Errors: -ENOENT, -EACCES, name errors. */
SHMPIPE_API int shmpipe_sem_unlink(const char *name);

/* ------------------------------------------------- crash-safe shared state
 *
 * A fixed-size user struct in a region, guarded by a process-shared robust
 * mutex, plus a generation counter that counts completed updates.
 *
 * Protocol: shmpipe_state_lock(), change shmpipe_state_data(), then
 * shmpipe_state_unlock(), which completes the update (generation + 1) and
 * wakes shmpipe_state_wait()ers. When a holder dies (even by SIGKILL) while
 * holding the lock, the kernel releases it and the next locker is told so
 * with a positive return:
 *   SHMPIPE_STATE_OWNER_DIED  the dead holder had not modified anything it
 *                             declared (it died before shmpipe_state_lock
 *                             returned to it, or after its update completed)
 *   SHMPIPE_STATE_TORN        the dead holder died between lock and unlock:
 *                             its update may be half done; the caller holds
 *                             the lock and should check or repair the data.
 * In both cases the lock is made consistent and works normally afterwards.
 * If a caller told SHMPIPE_STATE_TORN dies too, the next is told again.
 * Blocking uses the robust mutex and futexes only: no pthread_cond_t or
 * sem_t in shared memory (those lose wake-ups or deadlock when a waiter is
 * SIGKILLed).
 */
typedef struct shmpipe_state shmpipe_state;

#define SHMPIPE_STATE_OWNER_DIED 1
#define SHMPIPE_STATE_TORN 2

/*
 * shmpipe_state_create - create a state region with @size bytes of user
 * data (zero-filled), @mode exact (0 = 0600), @flags SHMPIPE_REPLACE.
 * Errors: as shmpipe_region_create(). Thread-safe.
 */
SHMPIPE_API int shmpipe_state_create(shmpipe_state **out, const char *name,
				     size_t size, mode_t mode, unsigned flags);

/* shmpipe_state_open - open an existing state region. Errors: as
 * shmpipe_region_open(); -EPROTO when the region is not a state region. */
SHMPIPE_API int shmpipe_state_open(shmpipe_state **out, const char *name);

/*
 * shmpipe_state_lock - take the lock.
 * @timeout_ms: -1 forever, 0 try once, else milliseconds (CLOCK_MONOTONIC).
 * Returns 0, SHMPIPE_STATE_OWNER_DIED or SHMPIPE_STATE_TORN (lock held in
 * all three cases); -ETIMEDOUT; -EBUSY (timeout_ms 0 and the lock is
 * held); -EDEADLK this thread holds it already; -ENOTRECOVERABLE the lock
 * was left unrecoverable by a foreign program. The lock belongs to the
 * calling thread. Thread-safe.
 */
SHMPIPE_API int shmpipe_state_lock(shmpipe_state *s, int timeout_ms);

/*
 * shmpipe_state_unlock - complete the update and release the lock.
 * Returns the new generation's low 31 bits (>= 0), or -EPERM when the
 * calling thread does not hold the lock.
 */
SHMPIPE_API int shmpipe_state_unlock(shmpipe_state *s);

/* The user data (size bytes, 64-byte aligned). Read or write it only while
 * holding the lock. */
SHMPIPE_API void *shmpipe_state_data(const shmpipe_state *s);
SHMPIPE_API size_t shmpipe_state_size(const shmpipe_state *s);

/* The number of completed updates so far (a snapshot, no lock needed). */
SHMPIPE_API uint64_t shmpipe_state_generation(const shmpipe_state *s);

/*
 * shmpipe_state_wait - wait until the generation differs from @seen.
 * @timeout_ms: -1, 0 or milliseconds, as for lock.
 * Returns 0 once it differs (at once if it already does), -ETIMEDOUT.
 * A waiter killed while waiting holds nothing and blocks nobody.
 */
SHMPIPE_API int shmpipe_state_wait(shmpipe_state *s, uint64_t seen,
				   int timeout_ms);

/* Close @s (NULL is fine). Closing while holding the lock releases nothing:
 * the next locker is told SHMPIPE_STATE_TORN only once this process exits,
 * so unlock first. */
SHMPIPE_API void shmpipe_state_close(shmpipe_state *s);

/* shmpipe_state_unlink - remove the name (same as shmpipe_region_unlink). */
SHMPIPE_API int shmpipe_state_unlink(const char *name);

/* --------------------------------------------------------- clean shutdown
 *
 * Turns SIGINT, SIGTERM and SIGHUP into a readable file descriptor for an
 * event loop, and remembers named objects to remove on the way out, so
 * Ctrl-C never leaves stale objects in /dev/shm.
 *
 * One helper per process (a second open gives -EBUSY). It installs signal
 * handlers without SA_RESTART, so a blocking system call in the main program
 * returns EINTR when a signal arrives (library waits with a timeout return
 * at their deadline at the latest; poll the fd between them).
 */
typedef struct shmpipe_shutdown shmpipe_shutdown;

/* Flags for shmpipe_shutdown_open(). */
#define SHMPIPE_SHUTDOWN_EXIT 0x1u /* the signal handler itself removes the
				      registered objects and then ends the
				      process with the signal, as if it had
				      not been caught (for programs without
				      an event loop) */

/*
 * shmpipe_shutdown_open - install the handlers for SIGINT, SIGTERM, SIGHUP.
 * Errors: -EBUSY one is open already; -EINVAL unknown flags; -EMFILE.
 * Call from the main thread, before creating threads.
 */
SHMPIPE_API int shmpipe_shutdown_open(shmpipe_shutdown **out, unsigned flags);

/* The fd that becomes readable when a signal has arrived (close-on-exec,
 * non-blocking; do not read it yourself: use shmpipe_shutdown_signal). */
SHMPIPE_API int shmpipe_shutdown_fd(const shmpipe_shutdown *h);

/* shmpipe_shutdown_signal - the first signal received (SIGINT, SIGTERM or
 * SIGHUP), or 0 if none has arrived yet. Never blocks. */
SHMPIPE_API int shmpipe_shutdown_signal(shmpipe_shutdown *h);

/* Kinds of object for shmpipe_shutdown_register(). */
#define SHMPIPE_OBJECT_REGION 1 /* a region, state or pipe */
#define SHMPIPE_OBJECT_SEM 2	/* a named semaphore */

/*
 * shmpipe_shutdown_register - remove the object @name of @kind when the
 * helper is closed (or, with SHMPIPE_SHUTDOWN_EXIT, when a signal arrives).
 * Up to 64 names. Errors: -EINVAL bad kind, -ENOSPC list full, name errors.
 */
SHMPIPE_API int shmpipe_shutdown_register(shmpipe_shutdown *h,
					  const char *name, int kind);

/*
 * shmpipe_shutdown_close - remove every registered object, restore the
 * previous signal dispositions and free @h (NULL is fine). Returns the
 * number of objects removed (those already gone are not counted).
 */
SHMPIPE_API int shmpipe_shutdown_close(shmpipe_shutdown *h);

#ifdef __cplusplus
}
#endif
#endif /* SHMPIPE_H */
