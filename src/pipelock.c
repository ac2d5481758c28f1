/* SPDX-License-Identifier: MIT */
/*
 * pipelock.c - the writer and reader locks of a pipe.
 *
 * A futex lock word (Drepper's "mutex 2" with a waiters bit) whose value
 * names the holder's attachment slot and that slot's generation. Crash
 * recovery is ours, not the kernel's robust list: a locker that finds the
 * word taken checks the holder (the slot still attached with the same
 * generation, its process alive and not a reused pid) and, if the holder is
 * gone, takes the lock over with one compare-and-swap. Because a unit
 * becomes visible only by one store of the position (pipe.c), a dead
 * holder leaves nothing to repair.
 *
 * Liveness costs a kill(pid, 0) when a locker first meets a held lock and
 * a /proc read after every 20 ms slice of waiting; an uncontended lock is
 * one compare-and-swap and an unlock one exchange.
 */
#define _GNU_SOURCE
#include "pipe.h"

#include <errno.h>
#include <signal.h>

#define LOCK_SPINS 100
#define LOCK_SLICE_MS 20
#define LOCK_SLICE_NS (LOCK_SLICE_MS * 1000000ull)

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Whether the holder named by @v is still there. @thorough also compares
 * the process start time, to see through a reused pid. */
static int holder_alive(const struct pipe_shared *sh, uint32_t v, int thorough)
{
	unsigned slot = (v & LOCK_SLOT_MASK);
	if (slot == 0 || slot > PIPE_SLOTS)
		return 0; /* garbage: nobody can hold it */
	const struct pipe_slot *s = &sh->slots[slot - 1];
	uint64_t owner = atomic_load(&s->owner);
	if (!owner)
		return 0;
	uint32_t gen = atomic_load(&s->generation) & LOCK_GEN_MASK;
	if (gen != ((v & ~LOCK_WAITERS) >> LOCK_GEN_SHIFT))
		return 0; /* the slot was freed and taken again since */
	pid_t pid = SLOT_PID(owner);
	if (pid <= 0)
		return 0;
	if (thorough)
		return shmpipe__proc_alive(pid, atomic_load(&s->start_time));
	return !(kill(pid, 0) < 0 && errno == ESRCH);
}

static int take(struct pipe_lock *l, uint32_t seen, uint32_t me, pid_t pid)
{
	if (!atomic_compare_exchange_strong(&l->word, &seen, me))
		return 0;
	atomic_store_explicit(&l->holder_pid, (uint32_t)pid,
			      memory_order_relaxed);
	return 1;
}

int shmpipe__lock(struct pipe_shared *sh, struct pipe_lock *l, uint32_t me,
		  pid_t pid, const struct wait_ctx *w)
{
	for (int i = 0; i < LOCK_SPINS; i++) {
		if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
		    take(l, 0, me, pid))
			return 0;
		relax();
	}
	/* Look hard at the holder after every slice of waiting, by the clock:
	 * wake-ups and signals cut sleeps short and must not put it off. */
	uint64_t look_hard_at = shmpipe__now_ns() + LOCK_SLICE_NS;
	for (;;) {
		uint32_t v = atomic_load(&l->word);
		/* Others may be asleep: keep the waiters bit when we take it. */
		if (v == 0) {
			if (take(l, 0, me | LOCK_WAITERS, pid))
				return 0;
			continue;
		}
		uint64_t now = shmpipe__now_ns();
		int thorough = now >= look_hard_at;
		if (thorough)
			look_hard_at = now + LOCK_SLICE_NS;
		/* A word naming this very attachment is stale: we do not hold
		 * the lock, or we would not be asking for it. */
		int mine = (v & ~LOCK_WAITERS) == me;
		if (mine || !holder_alive(sh, v, thorough)) {
			if (take(l, v, me | LOCK_WAITERS, pid))
				return 1;
			continue; /* changed under us: look again */
		}
		if (w->timeout_ms == 0)
			return -EAGAIN;
		/* The deadline holds even when the word keeps changing and
		 * no sleep ever times out. */
		if (w->timeout_ms > 0 && !shmpipe__ms_left(&w->abs))
			return -ETIMEDOUT;
		if (!(v & LOCK_WAITERS) &&
		    !atomic_compare_exchange_strong(&l->word, &v,
						    v | LOCK_WAITERS))
			continue;
		struct timespec slice;
		shmpipe__deadline(&slice, LOCK_SLICE_MS);
		int last = w->timeout_ms > 0 &&
			   (w->abs.tv_sec < slice.tv_sec ||
			    (w->abs.tv_sec == slice.tv_sec &&
			     w->abs.tv_nsec <= slice.tv_nsec));
		int r = shmpipe__futex_wait(&l->word, v | LOCK_WAITERS,
					    last ? &w->abs : &slice);
		if (r == -ETIMEDOUT && last)
			return -ETIMEDOUT;
	}
}

void shmpipe__unlock(struct pipe_lock *l)
{
	atomic_store_explicit(&l->holder_pid, 0, memory_order_relaxed);
	uint32_t old = atomic_exchange_explicit(&l->word, 0,
						memory_order_release);
	if (old & LOCK_WAITERS)
		shmpipe__futex_wake(&l->word, 1);
}

pid_t shmpipe__lock_holder(const struct pipe_shared *sh,
			   const struct pipe_lock *l)
{
	uint32_t v = atomic_load(&l->word);
	unsigned slot = v & LOCK_SLOT_MASK;
	if (!v || slot == 0 || slot > PIPE_SLOTS)
		return 0;
	return SLOT_PID(atomic_load(&sh->slots[slot - 1].owner));
}
