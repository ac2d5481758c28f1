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
 * shmpipe object of this type or version", and so on;
 * others get the C library's description. 0 gives "Success".
 */
SHMPIPE_API const char *shmpipe_strerror(int err);

/*
 * shmpipe_errname - the symbolic name of an error value ("EBADMSG").
 * @err: negative or positive errno. Returns a static string, never NULL
 * ("EUNKNOWN" for a value without a name, "OK" for 0).
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
 * -EINVAL a mode with bits beyond 0777 (no setuid, setgid or sticky);
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
 * -ELOOP the name is a symbolic link (never followed); -EISDIR the name
 * is a directory; -EACCES. The same errors for states and semaphores.
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
 * A waiter killed while waiting holds nothing and blocks nobody. An unlocker
 * killed between its commit and its wake-up wakes nobody: waiters then see
 * the change within a second (they look again at least once a second).
 */
SHMPIPE_API int shmpipe_state_wait(shmpipe_state *s, uint64_t seen,
				   int timeout_ms);

/* Close @s (NULL is fine). Closing while this thread holds the lock gives
 * it up without committing: the next locker is told SHMPIPE_STATE_TORN,
 * as if the holder had died. If another thread of this process holds it,
 * the handle stays mapped until that thread unlocks or the process exits
 * (the lock memory must outlive the holder). */
SHMPIPE_API void shmpipe_state_close(shmpipe_state *s);

/* shmpipe_state_unlink - remove the name (same as shmpipe_region_unlink). */
SHMPIPE_API int shmpipe_state_unlink(const char *name);

/* --------------------------------------------------------- clean shutdown
 *
 * Turns SIGINT, SIGTERM and SIGHUP into a readable file descriptor for an
 * event loop, and remembers named objects to remove on the way out, so
 * Ctrl-C never leaves stale objects in /dev/shm.
 *
 * One helper per process (a second open gives -EBUSY). It handles the three
 * signals even where they were ignored (a program that asks for a clean
 * shutdown wants it also as a background job of a script, which starts
 * with SIGINT ignored). A fork()ed child that inherits it reacts to these
 * signals as if they were not caught, and removes nothing on close.
 * It installs signal handlers without SA_RESTART, so a blocking system call in the main program
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
 * Errors: -EBUSY one is open already; -EINVAL unknown flags; -EMFILE,
 * -ENFILE, -ENOMEM.
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

/* ---------------------------------------------------------- buffered pipe
 *
 * A named pipe whose buffer holds exactly `capacity` bytes (L, from one
 * byte up to what /dev/shm can hold), living in a region, opened by name by
 * unrelated processes: many writers and many readers.
 *
 * Kinds:
 *  SHMPIPE_STREAM   bytes, like a pipe. A write of len <= capacity is
 *                   atomic: all of it goes in at once, after another
 *                   writer's whole write, never interleaved; if it cannot go
 *                   in before the timeout nothing is written. A longer write
 *                   goes in pieces and returns the count written. A read
 *                   returns 1..len bytes, as soon as any are there.
 *  SHMPIPE_MESSAGE  one write is one message; one read returns one whole
 *                   message. Each message occupies 8 bytes of header plus
 *                   its length rounded up to 8 in the buffer; a message
 *                   for which that sum exceeds the capacity can never fit
 *                   (-EMSGSIZE).
 *                   Writing 0 bytes writes nothing and returns 0, as on a
 *                   pipe: there are no empty messages (0 is end of file).
 *
 * Timeouts: -1 (any negative value) waits forever, 0 never waits (-EAGAIN),
 * > 0 milliseconds on CLOCK_MONOTONIC (-ETIMEDOUT). A full pipe blocks
 * writers: nothing is ever dropped. Signals do not interrupt waits (the
 * deadline still holds). With a spin budget (shmpipe_set_spin()) a wait may
 * overrun a shorter deadline by up to that budget.
 *
 * Persistence and end of file: data stays in the pipe until read, even
 * while no process has it open. A read of an empty pipe returns 0 (end of
 * file) once no writer is attached, whether the last one closed or died
 * (dead writers are noticed within about 50 ms by their pid, not only
 * counted). Exception, as with opening a FIFO: on a pipe that no writer has
 * ever opened, a reader waits for the first writer (within its timeout).
 * A writer is never told that readers are gone (no EPIPE): the data waits.
 *
 * Crash safety: a process killed at any instruction leaves the pipe usable.
 * Writers exclude each other with a lock word of our own that names the
 * holder (no pthread object lives in the pipe), as do readers; a dead
 * holder's lock is recovered by the next locker. A write becomes visible by
 * one store of the write position after all its bytes are in place, so a
 * half-written message is never seen and a committed one is never lost.
 * Delivery: shmpipe_read() is at-most-once (a reader killed after taking a
 * message but before using it loses that one message); shmpipe_peek() +
 * shmpipe_release() is at-least-once (a reader killed between them leaves
 * the message in the pipe for the next reader).
 *
 * Untrusted memory: every position and length read from the shared object is
 * checked before use; a corrupt or hostile object yields -EBADMSG, never an
 * access outside the mapping, an endless loop or a crash.
 * A peer that truncates the object (ftruncate by anyone with write access)
 * does not get a SIGBUS to you either: the first shmpipe_open() installs a
 * SIGBUS handler that turns a fault inside a pipe's mapping into zero pages
 * and makes every later call on that handle return -EBADMSG (memory you
 * touch between peek and release, or reserve and commit, reads zeros).
 * A SIGBUS anywhere else goes to the handler installed before (or kills,
 * by default); a program that installs its own SIGBUS handler afterwards
 * must likewise pass on the faults it does not own.
 *
 * Fast path: a handle opened with SHMPIPE_EXCLUSIVE holds its side's lock
 * for its whole life, so a single writer and a single reader opened that
 * way exchange data lock-free (one release store and one acquire load per
 * call, no atomic read-modify-write). Without it each call takes the side's
 * lock once (uncontended: one atomic compare-and-swap).
 *
 * A reader blocked waiting for data holds the reader lock meanwhile, as a
 * writer blocked on a full pipe holds the writer lock: the other readers
 * (writers) queue behind it, and time out on the lock if they must.
 *
 * Handles: one handle may be used by one thread at a time. Do not use, or
 * close, a handle in a child after fork() (closing would free the parent's
 * attachment): open a new one there.
 *
 * Every function below returns -EINVAL for a NULL pointer where it needs an
 * object, a name or a result.
 */
typedef struct shmpipe shmpipe;

#define SHMPIPE_STREAM 0u
#define SHMPIPE_MESSAGE 1u

/* Default capacity when shmpipe_config.capacity is 0: 1 MiB. */
#define SHMPIPE_DEFAULT_CAPACITY (1u << 20)

struct shmpipe_config {
	size_t capacity; /* L in bytes; 0 = SHMPIPE_DEFAULT_CAPACITY */
	unsigned kind;	 /* SHMPIPE_STREAM (0) or SHMPIPE_MESSAGE */
	mode_t mode;	 /* exact permission bits; 0 = 0600 */
	unsigned flags;	 /* SHMPIPE_REPLACE */
};

/*
 * shmpipe_create - create the pipe @name, empty, and publish it atomically.
 * @cfg may be NULL for all defaults. Its pages are reserved now.
 * Errors: -EEXIST it exists (without SHMPIPE_REPLACE); -ENOSPC /dev/shm
 * cannot hold it; -EINVAL bad kind, flags, or capacity (message pipes need
 * at least 16 bytes); -EFBIG capacity too large to map; -ENOENT no
 * /dev/shm; -EACCES, -EPERM (replacing another user's object); -EMFILE,
 * -ENFILE, -ENOMEM; -EOPNOTSUPP the object cannot be linked into place;
 * name errors. A creator killed mid-way leaves nothing under @name; with
 * SHMPIPE_REPLACE (or where /dev/shm lacks O_TMPFILE) it may leave a hidden
 * /dev/shm/.shmpipe-tmp.PID.* file.
 */
SHMPIPE_API int shmpipe_create(const char *name,
			       const struct shmpipe_config *cfg);

/* Flags for shmpipe_open(): exactly one of READ and WRITE, plus options. */
#define SHMPIPE_READ 0x1u
#define SHMPIPE_WRITE 0x2u
#define SHMPIPE_EXCLUSIVE 0x4u /* be the only reader (or writer): take the
				  side's lock for the handle's life; another
				  exclusive or plain handle of that side
				  waits for it (or times out) */

/*
 * shmpipe_open - attach to the pipe @name as a reader or a writer.
 * Errors: -ENOENT no such pipe; -EPROTO not a pipe (another object type,
 * magic or version); -EBADMSG corrupt header; -EUSERS all 64 attachment
 * slots are taken by live processes; -EINVAL bad flags; -EBUSY the side's
 * lock could not be had within about 1 s (an exclusive handle of that side
 * exists, or, with SHMPIPE_EXCLUSIVE, a plain handle is blocked in a call);
 * -EACCES; -ELOOP @name is a symbolic link; -EMFILE, -ENOMEM; name errors.
 */
SHMPIPE_API int shmpipe_open(shmpipe **out, const char *name, unsigned flags);

/* Detach and free the handle (NULL is fine). Closing the last writer lets
 * readers of an empty pipe see end of file. The data stays. */
SHMPIPE_API void shmpipe_close(shmpipe *p);

/* Remove the name of a pipe (open handles keep working). It removes the
 * shmpipe object of that name whatever its type. Errors: -ENOENT, -EACCES,
 * -EPERM, name errors. */
SHMPIPE_API int shmpipe_unlink(const char *name);

/*
 * shmpipe_write - write @len bytes (stream) or one message (message kind).
 * Returns the count written (len, or less only for a stream write longer
 * than the capacity that timed out part way); -EAGAIN / -ETIMEDOUT when
 * nothing could be written in time; -EMSGSIZE a message that can never fit;
 * -EBADF not a writer handle; -EBUSY this handle has a reservation open
 * (shmpipe_commit() it first); -EINVAL @len above SSIZE_MAX; -EBADMSG the
 * pipe is corrupt.
 */
SHMPIPE_API ssize_t shmpipe_write(shmpipe *p, const void *buf, size_t len,
				  int timeout_ms);

/*
 * shmpipe_read - read up to @len bytes (stream) or one whole message.
 * Returns the count read; 0 at end of file (and for @len 0, which reads
 * nothing); -EAGAIN / -ETIMEDOUT nothing in
 * time; -EMSGSIZE the next message is longer than @len (it stays in the
 * pipe: shmpipe_next_size() tells its size); -EBADF not a reader handle;
 * -EBUSY this handle has a peek open (shmpipe_release() first); -EBADMSG
 * corrupt.
 */
SHMPIPE_API ssize_t shmpipe_read(shmpipe *p, void *buf, size_t len,
				 int timeout_ms);

/*
 * shmpipe_next_size - wait (as a read would) for data and return the size of
 * the next message (message kind) or the bytes available (stream), without
 * consuming anything. 0 at end of file; errors as shmpipe_read().
 */
SHMPIPE_API ssize_t shmpipe_next_size(shmpipe *p, int timeout_ms);

/*
 * Zero-copy writing. shmpipe_reserve() waits for room for @len bytes (one
 * message of up to @len bytes in a message pipe) and points *@ptr at that
 * space inside the pipe, contiguous; nothing is visible to readers until
 * shmpipe_commit(@used) publishes the first @used bytes (@used <= len; 0
 * publishes nothing). Between the two the writer lock is held: commit
 * promptly. A writer killed in between commits nothing.
 * reserve returns @len, or errors as shmpipe_write() (-EINVAL if @len is 0
 * or more than the capacity, or @ptr is NULL); commit returns @used,
 * -EINVAL (more than reserved, nothing reserved, or a reader handle).
 */
SHMPIPE_API ssize_t shmpipe_reserve(shmpipe *p, void **ptr, size_t len,
				    int timeout_ms);
SHMPIPE_API ssize_t shmpipe_commit(shmpipe *p, size_t used);

/*
 * Zero-copy reading. shmpipe_peek() waits for data (as a read would) and
 * points *@ptr at it inside the pipe: every byte available (stream) or the
 * next whole message; it returns that length, 0 at end of file. The data
 * stays in the pipe until shmpipe_release(@len) consumes the first @len
 * bytes (stream) or, for any @len > 0, the message; release(0) keeps it.
 * The reader lock is held in between. Errors as shmpipe_read() (never
 * -EMSGSIZE: the whole message is shown), -EINVAL @ptr is NULL; release
 * gives -EINVAL for more than was peeked, with nothing peeked, or on a
 * writer handle.
 */
SHMPIPE_API ssize_t shmpipe_peek(shmpipe *p, const void **ptr, int timeout_ms);
SHMPIPE_API int shmpipe_release(shmpipe *p, size_t len);

/*
 * shmpipe_fd - a file descriptor that poll/epoll report readable (reader
 * handle: data or end of file is there) or writable (writer handle: there
 * is room for at least one byte, or one message header plus a byte). Level
 * triggered; like any readiness it may be spurious (another process took
 * the data or filled the pipe; the fd follows such changes within about
 * 50 ms, and at once when a call of this handle returns -EAGAIN for want
 * of data or room): read or write with timeout 0 and expect -EAGAIN. Owned
 * by the handle (do not close it); made on first call, served by a thread
 * of the handle. Errors: -EMFILE, -ENFILE, -ENODEV, -ENOMEM, -EAGAIN (no
 * thread).
 */
SHMPIPE_API int shmpipe_fd(shmpipe *p);

/*
 * shmpipe_set_spin - spin up to @spin_us microseconds, watching the pipe,
 * before sleeping in the kernel: lower latency for a waiting peer at the
 * price of CPU. 0 (default) sleeps at once. Returns 0.
 */
SHMPIPE_API int shmpipe_set_spin(shmpipe *p, unsigned spin_us);

/*
 * shmpipe_room - the largest unit a write could take right now without
 * waiting: the bytes free (stream) or the longest message that fits
 * (message), 0 when full. A snapshot: other writers may take it first.
 * -EBADMSG when the pipe is corrupt.
 */
SHMPIPE_API ssize_t shmpipe_room(shmpipe *p);

/* Capacity and kind of an open pipe. */
SHMPIPE_API size_t shmpipe_capacity(const shmpipe *p);
SHMPIPE_API unsigned shmpipe_kind(const shmpipe *p);

/* Counters of a bridge (shmpipe_bridge_stats(), and shmpipe_stats.bridge
 * for the bridge serving a pipe). */
struct shmpipe_bridge_stats {
	uint64_t accepted, refused, active;
	uint64_t units, bytes;	       /* committed (IN) or sent (OUT) */
	uint64_t partial_discarded;    /* units cut off by a disconnect */
	uint64_t token_failures, oversize, idle_closed;
};

#define SHMPIPE_STAT_MAX_PROCS 64

struct shmpipe_proc {
	pid_t pid;
	unsigned role; /* SHMPIPE_READ or SHMPIPE_WRITE */
	int alive;     /* 1 alive, 0 dead (attached but gone) */
};

struct shmpipe_stats {
	uint64_t capacity;
	unsigned kind;
	uint64_t bytes_in, bytes_out, bytes_buffered;
	/* Messages of a message pipe; in a stream pipe, the write and read
	 * calls (each piece of a write longer than the capacity counts),
	 * and messages_buffered is 0. */
	uint64_t messages_in, messages_out, messages_buffered;
	uint64_t fill;	     /* bytes of the capacity in use (a message pipe
				counts its 8-byte headers and padding) */
	uint64_t high_water; /* the most fill ever seen */
	unsigned writers, readers; /* live attached handles */
	unsigned writers_ever;	   /* 0: no writer has ever opened it */
	pid_t writer_lock_holder;  /* 0 when free */
	pid_t reader_lock_holder;
	unsigned nprocs;
	struct shmpipe_proc procs[SHMPIPE_STAT_MAX_PROCS];
	pid_t bridge_pid; /* a live bridge serving the pipe, 0 if none */
	struct shmpipe_bridge_stats bridge;
};

/*
 * shmpipe_stat - a snapshot of the pipe @name's counters and attached
 * processes, taken without locks (and without attaching). Errors: -ENOENT,
 * -EPROTO, -EBADMSG (corrupt, or counters inconsistent), -ELOOP, -EACCES
 * (it opens the object read-write: read permission is not enough), name
 * errors.
 */
SHMPIPE_API int shmpipe_stat(const char *name, struct shmpipe_stats *st);
/* The same for an open handle. Errors: -EBADMSG. */
SHMPIPE_API int shmpipe_stat_handle(shmpipe *p, struct shmpipe_stats *st);

/*
 * shmpipe_list - call @fn(name, @arg) for the name of every shmpipe object
 * in /dev/shm (pipes, states and regions: shmpipe_stat() tells pipes by
 * succeeding, other types give -EPROTO), in no particular order. Stops
 * early when @fn returns non-zero, and returns that value (return a
 * positive one, to tell it from an error); 0 otherwise. Errors: -ENOENT
 * /dev/shm is missing, -ENOTDIR, -EACCES, -EMFILE, -ENFILE, -ENOMEM.
 */
SHMPIPE_API int shmpipe_list(int (*fn)(const char *name, void *arg),
			     void *arg);

/* ------------------------------------------------------------------ bridge
 *
 * Sockets <-> a pipe: remote processes write into a pipe (or read from it)
 * over TCP or Unix stream sockets, with any ordinary client (nc, socat,
 * bash's /dev/tcp). One thread runs an epoll loop over every listener and
 * connection; `shmpipe serve` is a thin front to it.
 *
 * Direction SHMPIPE_BRIDGE_IN (default): each connection's bytes are
 * committed to the pipe in units of the framing, each unit with one atomic
 * write, so units of different connections never interleave:
 *   SHMPIPE_FRAMING_RAW    chunks as they arrive (zero-copy: received
 *                          straight into the pipe's reserved space)
 *   SHMPIPE_FRAMING_LINES  whole newline-terminated lines (a message pipe
 *                          gets each line without its newline)
 *   SHMPIPE_FRAMING_LEN32  frames of a 4-byte big-endian length and that
 *                          many bytes (a message pipe gets the bytes)
 * A unit cut off by a disconnect is discarded and counted, never committed.
 * A unit larger than max_unit is refused: the connection is closed and the
 * refusal logged. When the pipe is full the bridge stops reading sockets,
 * so TCP flow control pushes back to remote writers: nothing is dropped.
 * Memory stays bounded: each connection holds at most one unit.
 *
 * Direction SHMPIPE_BRIDGE_OUT: connections receive the pipe's units,
 * framed the same way (a message pipe's messages get a newline or a length
 * prefix), each unit going to exactly one connection (competing
 * consumers). A unit is taken from the pipe only when a connection can take
 * it; one cut off by a disconnect is lost with that connection
 * (at-most-once) and counted.
 *
 * Safety: a non-loopback listener needs a token unless SHMPIPE_BRIDGE_INSECURE
 * is set (-EPERM otherwise). With a token, each connection's first line must
 * be the token (compared in constant time), or it is closed with nothing
 * committed. Unix listeners may be restricted to uids (SO_PEERCRED).
 * Excess connections beyond max_conns are accepted and closed at once
 * (refused, not queued); a connection idle for idle_timeout_ms, or taking
 * longer than that to complete one unit, is closed.
 */
typedef struct shmpipe_bridge shmpipe_bridge;

#define SHMPIPE_BRIDGE_IN 0u
#define SHMPIPE_BRIDGE_OUT 1u

#define SHMPIPE_FRAMING_RAW 0u
#define SHMPIPE_FRAMING_LINES 1u
#define SHMPIPE_FRAMING_LEN32 2u

#define SHMPIPE_BRIDGE_INSECURE 0x1u /* allow non-loopback without token */

struct shmpipe_bridge_config {
	const char *pipe;	   /* the pipe's name (it must exist) */
	const char *const *listen; /* NULL-terminated: "tcp://HOST:PORT",
				      "tcp://[V6]:PORT", "tcp://:PORT"
				      (loopback), "unix:PATH"; port 0 takes
				      an ephemeral port */
	unsigned direction;	   /* SHMPIPE_BRIDGE_IN or _OUT */
	unsigned framing;	   /* SHMPIPE_FRAMING_* */
	const void *token;	   /* NULL: no token */
	size_t token_len;
	unsigned max_conns;	   /* 0: 1024 */
	int idle_timeout_ms;	   /* 0: 60000; -1: none */
	size_t max_unit;	   /* 0: what the pipe can hold, at most 1 MiB */
	const uid_t *allow_uids;   /* Unix listeners: only these uids */
	size_t allow_uids_count;
	const char *fifo;	   /* also expose the pipe as a FIFO here: IN:
				      fed from the pipe; OUT: feeds it */
	unsigned flags;		   /* SHMPIPE_BRIDGE_INSECURE */
	/* Called with a one-line message (no newline) for notable events:
	 * refusals, token failures, oversize units. NULL: silent. */
	void (*log)(void *arg, const char *msg);
	void *log_arg;
};


/*
 * shmpipe_bridge_open - open the pipe and bind every listener.
 * Errors: -EINVAL bad config or address (the log says which); -EPERM a
 * non-loopback address without token nor INSECURE; -EADDRINUSE (also a
 * live Unix socket at PATH: a stale one, where connect() is refused, is
 * replaced); -EADDRNOTAVAIL an address not of this host; -EAFNOSUPPORT
 * no IPv6; -ENAMETOOLONG a Unix socket or FIFO path too long; -EAGAIN
 * (OUT) the notification thread could not start; -EACCES; errors of
 * shmpipe_open(); -EEXIST fifo path exists.
 */
SHMPIPE_API int shmpipe_bridge_open(shmpipe_bridge **out,
				    const struct shmpipe_bridge_config *cfg);

/* How many listeners, and the address of listener @i as bound, e.g.
 * "tcp://127.0.0.1:43121" (static for the bridge's life; NULL when @i is
 * out of range). */
SHMPIPE_API size_t shmpipe_bridge_listener_count(const shmpipe_bridge *b);
SHMPIPE_API const char *shmpipe_bridge_listener(const shmpipe_bridge *b,
						size_t i);

/*
 * shmpipe_bridge_run - serve until @stop_fd becomes readable (e.g. the fd
 * of shmpipe_shutdown_fd()), then stop accepting, commit every complete
 * unit already received, close every connection and return 0. When
 * @report_fd (>= 0) becomes readable it is drained and the stats are
 * logged. The pipe and its data stay. Errors: -errno of epoll.
 */
SHMPIPE_API int shmpipe_bridge_run(shmpipe_bridge *b, int stop_fd,
				   int report_fd);

/* A snapshot of the counters (also published in the pipe for
 * `shmpipe stat` of other processes). */
SHMPIPE_API void shmpipe_bridge_stats(const shmpipe_bridge *b,
				      struct shmpipe_bridge_stats *st);

/* Close listeners (removing Unix socket files and the FIFO) and free @b
 * (NULL is fine). */
SHMPIPE_API void shmpipe_bridge_close(shmpipe_bridge *b);

/*
 * shmpipe_bridge_connect - the client side: connect to a bridge at @addr
 * (same forms as listen addresses) and send @token (if not NULL) as the
 * first line. Returns a connected blocking stream socket (close-on-exec),
 * to write units into (IN) or read units from (OUT). Errors: -EINVAL bad
 * address, -ECONNREFUSED, -ENOENT, -ETIMEDOUT and other connect() errors.
 */
SHMPIPE_API int shmpipe_bridge_connect(const char *addr, const void *token,
				       size_t token_len);

#ifdef __cplusplus
}
#endif
#endif /* SHMPIPE_H */
