/* SPDX-License-Identifier: MIT */
/*
 * state.c - crash-safe shared state: a user struct in a region, guarded by
 * a process-shared robust mutex, with a generation counter.
 *
 * Torn-update detection uses two counters written only under the lock:
 * lock sets begun = committed + 1; unlock stores committed = begun, a single
 * store that is the commit point. When the kernel hands the lock to us with
 * EOWNERDEAD, begun != committed means the dead holder was between lock and
 * unlock (its update may be half done); equal means it was not.
 *
 * Waiting for a change uses a futex on wake_seq, bumped by every unlock: a
 * waiter holds nothing, so a waiter killed while waiting blocks nobody. An
 * unlocker killed between its commit and its wake-up wakes nobody, though
 * the generation moved; so a waiter never sleeps longer than WAIT_SLICE_MS
 * before it looks at the generation again.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define STATE_HEADER_SIZE 128u
/* The longest a waiter sleeps before it looks at the generation again. */
#define WAIT_SLICE_MS 1000

struct state_header {
	pthread_mutex_t lock; /* robust, process-shared */
	/* Both written only under the lock; atomics because snapshots are
	 * read without it (shmpipe_state_generation). */
	_Atomic uint64_t committed;
	_Atomic uint64_t begun;
	_Atomic uint32_t wake_seq; /* futex word: bumped by every unlock */
	_Atomic uint32_t holder_pid;
	uint64_t user_size;
};
_Static_assert(sizeof(struct state_header) <= STATE_HEADER_SIZE,
	       "state header must fit before the user data");

struct shmpipe_state {
	shmpipe_region *region;
	struct state_header *hdr;
	void *data;
	size_t size;
	/* Thread id of the thread of this process that holds the lock through
	 * this handle, 0 if none: unlock checks it before committing. */
	_Atomic pid_t holder_tid;
};

static int init_state(void *data, size_t size, void *arg)
{
	(void)arg;
	struct state_header *h = data;
	pthread_mutexattr_t a;
	int r = pthread_mutexattr_init(&a);
	if (r)
		return -r;
	r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	/* Error checking: relocking by the holder is -EDEADLK, not a hang. */
	if (!r)
		r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	if (!r)
		r = pthread_mutex_init(&h->lock, &a);
	pthread_mutexattr_destroy(&a);
	h->user_size = size - STATE_HEADER_SIZE;
	return -r;
}

static int state_new(shmpipe_state **out, shmpipe_region *region)
{
	shmpipe_state *s = calloc(1, sizeof(*s));
	if (!s) {
		shmpipe_region_close(region);
		return -ENOMEM;
	}
	s->region = region;
	s->hdr = shmpipe_region_data(region);
	s->data = (char *)s->hdr + STATE_HEADER_SIZE;
	s->size = shmpipe_region_size(region) - STATE_HEADER_SIZE;
	*out = s;
	return 0;
}

SHMPIPE_API int shmpipe_state_create(shmpipe_state **out, const char *name,
				     size_t size, mode_t mode, unsigned flags)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (size == 0 || size > SIZE_MAX / 2)
		return -EINVAL;
	struct shmpipe_region_config cfg = {
		.size = STATE_HEADER_SIZE + size,
		.mode = mode,
		.flags = flags,
		.init = init_state,
	};
	shmpipe_region *region;
	int r = shmpipe__region_create(&region, name, &cfg,
				       SHMPIPE__TYPE_STATE, 0);
	return r < 0 ? r : state_new(out, region);
}

SHMPIPE_API int shmpipe_state_open(shmpipe_state **out, const char *name)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	shmpipe_region *region;
	int r = shmpipe__region_open(&region, name, SHMPIPE__TYPE_STATE);
	if (r < 0)
		return r;
	const struct state_header *h = shmpipe_region_data(region);
	if (shmpipe_region_size(region) <= STATE_HEADER_SIZE ||
	    h->user_size != shmpipe_region_size(region) - STATE_HEADER_SIZE) {
		shmpipe_region_close(region);
		return -EBADMSG;
	}
	return state_new(out, region);
}

static int take_lock(pthread_mutex_t *m, int timeout_ms)
{
	if (timeout_ms == 0)
		return pthread_mutex_trylock(m);
	if (timeout_ms < 0)
		return pthread_mutex_lock(m);
	struct timespec abs;
	shmpipe__deadline(&abs, timeout_ms);
	return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &abs);
}

SHMPIPE_API int shmpipe_state_lock(shmpipe_state *s, int timeout_ms)
{
	struct state_header *h = s->hdr;
	int r = take_lock(&h->lock, timeout_ms);
	if (r == 0 || r == EOWNERDEAD)
		atomic_store(&s->holder_tid, gettid());
	int verdict = 0;
	if (r == EOWNERDEAD) {
		uint64_t begun = atomic_load_explicit(&h->begun,
						      memory_order_relaxed);
		uint64_t done = atomic_load_explicit(&h->committed,
						     memory_order_relaxed);
		verdict = begun != done ? SHMPIPE_STATE_TORN
					: SHMPIPE_STATE_OWNER_DIED;
		r = pthread_mutex_consistent(&h->lock);
		if (r) {
			atomic_store(&s->holder_tid, 0);
			pthread_mutex_unlock(&h->lock);
			return -r;
		}
		/* A TORN verdict stays until someone unlocks after repair:
		 * keep begun as it is so a second death is also reported. */
		if (verdict == SHMPIPE_STATE_TORN) {
			atomic_store_explicit(&h->holder_pid, (uint32_t)getpid(),
					      memory_order_relaxed);
			return verdict;
		}
	} else if (r) {
		return -r;
	}
	uint64_t done = atomic_load_explicit(&h->committed, memory_order_relaxed);
	if (!verdict && atomic_load_explicit(&h->begun, memory_order_relaxed) !=
				done) {
		/* A holder let go without committing: it closed its handle
		 * while holding (shmpipe_state_close()). Torn, as if it had
		 * died there; begun stays ahead until a repairer unlocks. */
		atomic_store_explicit(&h->holder_pid, (uint32_t)getpid(),
				      memory_order_relaxed);
		return SHMPIPE_STATE_TORN;
	}
	atomic_store_explicit(&h->begun, done + 1, memory_order_relaxed);
	atomic_store_explicit(&h->holder_pid, (uint32_t)getpid(),
			      memory_order_relaxed);
	return verdict;
}

SHMPIPE_API int shmpipe_state_unlock(shmpipe_state *s)
{
	struct state_header *h = s->hdr;
	/* Check ownership before committing anything: a stray unlock must not
	 * touch counters that another process's holder owns. */
	if (atomic_load(&s->holder_tid) != gettid())
		return -EPERM;
	atomic_store(&s->holder_tid, 0);
	uint64_t next = atomic_load_explicit(&h->begun, memory_order_relaxed);
	atomic_store_explicit(&h->holder_pid, 0, memory_order_relaxed);
	/* The commit point: release, so a snapshot reader that sees the new
	 * generation also sees the data written before it. */
	atomic_store_explicit(&h->committed, next, memory_order_release);
	int r = pthread_mutex_unlock(&h->lock);
	if (r)
		return -r;
	atomic_fetch_add_explicit(&h->wake_seq, 1, memory_order_release);
	shmpipe__futex_wake(&h->wake_seq, INT32_MAX);
	return (int)(next & 0x7fffffff);
}

SHMPIPE_API void *shmpipe_state_data(const shmpipe_state *s)
{
	return s->data;
}

SHMPIPE_API size_t shmpipe_state_size(const shmpipe_state *s)
{
	return s->size;
}

SHMPIPE_API uint64_t shmpipe_state_generation(const shmpipe_state *s)
{
	return atomic_load_explicit(&s->hdr->committed, memory_order_acquire);
}

static bool earlier(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

SHMPIPE_API int shmpipe_state_wait(shmpipe_state *s, uint64_t seen,
				   int timeout_ms)
{
	struct state_header *h = s->hdr;
	struct timespec abs;
	if (timeout_ms > 0)
		shmpipe__deadline(&abs, timeout_ms);
	for (;;) {
		/* Read the futex word before the generation: an unlock between
		 * the two changes the word, so the wait below returns. */
		uint32_t seq = atomic_load_explicit(&h->wake_seq,
						    memory_order_acquire);
		if (shmpipe_state_generation(s) != seen)
			return 0;
		if (timeout_ms == 0)
			return -ETIMEDOUT;
		struct timespec slice;
		shmpipe__deadline(&slice, WAIT_SLICE_MS);
		bool last = timeout_ms > 0 && !earlier(&slice, &abs);
		int r = shmpipe__futex_wait(&h->wake_seq, seq,
					    last ? &abs : &slice);
		if (r == -ETIMEDOUT && last)
			return shmpipe_state_generation(s) != seen ? 0 : r;
	}
}

SHMPIPE_API void shmpipe_state_close(shmpipe_state *s)
{
	if (!s)
		return;
	pid_t holder = atomic_load(&s->holder_tid);
	if (holder == gettid()) {
		/* Closing while holding: give the lock up without committing,
		 * so that begun stays ahead of committed and the next locker
		 * is told SHMPIPE_STATE_TORN. Unmapping a held robust mutex
		 * instead would leave this thread's robust list pointing into
		 * unmapped memory (glibc walks it at the next lock, the
		 * kernel at exit) and the lock held for good. */
		atomic_store_explicit(&s->hdr->holder_pid, 0,
				      memory_order_relaxed);
		pthread_mutex_unlock(&s->hdr->lock);
		atomic_fetch_add_explicit(&s->hdr->wake_seq, 1,
					  memory_order_release);
		shmpipe__futex_wake(&s->hdr->wake_seq, INT32_MAX);
	} else if (holder) {
		/* Another thread of this process holds it: its robust list
		 * needs the mutex mapped, so the mapping (and the handle) stay
		 * until the process exits, when the kernel releases the lock
		 * as the holder's death. */
		return;
	}
	shmpipe_region_close(s->region);
	free(s);
}

SHMPIPE_API int shmpipe_state_unlink(const char *name)
{
	return shmpipe_region_unlink(name);
}
