/* SPDX-License-Identifier: MIT */
/*
 * stat.c - lock-free snapshots of a pipe's counters and attached processes.
 * A snapshot never attaches and never takes a lock, so it works on a pipe
 * whose lock holder is stuck or dead, and it cannot disturb the pipe.
 */
#define _GNU_SOURCE
#include "pipe.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int snapshot(const struct pipe_shared *sh, const struct pipe_geometry *g,
		    struct shmpipe_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->capacity = g->capacity;
	st->kind = g->kind;
	/* head before tail: tail only grows, so tail - head >= the true fill
	 * at the moment head was read, never negative for a sane pipe. */
	uint64_t head = atomic_load_explicit(&sh->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&sh->tail, memory_order_acquire);
	if (tail - head > g->capacity)
		return -EBADMSG;
	st->fill = tail - head;
	st->bytes_in = atomic_load_explicit(&sh->bytes_in, memory_order_relaxed);
	st->bytes_out = atomic_load_explicit(&sh->bytes_out, memory_order_relaxed);
	st->messages_in = atomic_load_explicit(&sh->messages_in,
					       memory_order_relaxed);
	st->messages_out = atomic_load_explicit(&sh->messages_out,
						memory_order_relaxed);
	/* The counters are updated just after the positions: clamp the
	 * differences so a snapshot taken in between is still sane. */
	st->bytes_buffered = st->bytes_in > st->bytes_out
				     ? st->bytes_in - st->bytes_out
				     : 0;
	if (g->kind == SHMPIPE_STREAM)
		st->bytes_buffered = tail - head;
	/* In a stream pipe messages_in/out count write and read calls, which
	 * need not match: nothing to subtract. */
	if (g->kind == SHMPIPE_MESSAGE && st->messages_in > st->messages_out)
		st->messages_buffered = st->messages_in - st->messages_out;
	/* A process killed between its position store and its counter
	 * update leaves a counter one unit behind for good: an empty pipe
	 * must still say that it holds nothing. */
	if (tail == head)
		st->bytes_buffered = st->messages_buffered = 0;
	st->high_water = atomic_load_explicit(&sh->high_water,
					      memory_order_relaxed);
	if (st->high_water > g->capacity)
		return -EBADMSG;
	st->writers_ever = atomic_load(&sh->writers_ever) != 0;
	st->writer_lock_holder = shmpipe__lock_holder(sh, &sh->writer_lock);
	st->reader_lock_holder = shmpipe__lock_holder(sh, &sh->reader_lock);
	const struct pipe_bridge_counters *bc = &sh->bridge;
	pid_t bpid = (pid_t)atomic_load(&bc->pid);
	if (bpid && shmpipe__proc_alive(bpid, 0)) {
		st->bridge_pid = bpid;
		st->bridge.accepted = atomic_load(&bc->accepted);
		st->bridge.refused = atomic_load(&bc->refused);
		st->bridge.active = atomic_load(&bc->active);
		st->bridge.units = atomic_load(&bc->units);
		st->bridge.bytes = atomic_load(&bc->bytes);
		st->bridge.partial_discarded = atomic_load(&bc->partial_discarded);
		st->bridge.token_failures = atomic_load(&bc->token_failures);
		st->bridge.oversize = atomic_load(&bc->oversize);
		st->bridge.idle_closed = atomic_load(&bc->idle_closed);
	}
	for (int i = 0; i < PIPE_SLOTS; i++) {
		uint64_t o = atomic_load(&sh->slots[i].owner);
		unsigned role = SLOT_ROLE(o);
		if (!o || (role != ROLE_READ && role != ROLE_WRITE))
			continue;
		struct shmpipe_proc *pr = &st->procs[st->nprocs++];
		pr->pid = SLOT_PID(o);
		pr->role = role == ROLE_READ ? SHMPIPE_READ : SHMPIPE_WRITE;
		pr->alive = shmpipe__proc_alive(
			pr->pid, atomic_load(&sh->slots[i].start_time));
		if (pr->alive && role == ROLE_READ)
			st->readers++;
		else if (pr->alive)
			st->writers++;
	}
	return 0;
}

SHMPIPE_API int shmpipe_stat(const char *name, struct shmpipe_stats *st)
{
	if (!st)
		return -EINVAL;
	shmpipe_region *region;
	int r = shmpipe__region_open(&region, name, SHMPIPE__TYPE_PIPE);
	if (r < 0)
		return r;
	shmpipe__region_guard(region);
	struct pipe_geometry g;
	r = shmpipe__pipe_geometry(region, &g);
	if (r == 0)
		r = snapshot(shmpipe_region_data(region), &g, st);
	if (atomic_load(shmpipe__region_truncated(region)))
		r = -EBADMSG;
	shmpipe_region_close(region);
	return r;
}

SHMPIPE_API int shmpipe_stat_handle(shmpipe *p, struct shmpipe_stats *st)
{
	if (!st)
		return -EINVAL;
	int r = snapshot(p->sh, &p->g, st);
	return atomic_load(p->truncated) ? -EBADMSG : r;
}

SHMPIPE_API int shmpipe_list(int (*fn)(const char *name, void *arg), void *arg)
{
	if (!fn)
		return -EINVAL;
	return shmpipe__shm_list(SHMPIPE__PREFIX, fn, arg);
}

void shmpipe__pipe_bridge_claim(shmpipe *p)
{
	atomic_store(&p->sh->bridge.pid, (uint32_t)getpid());
}

/* Relaxed: each counter is a figure on its own; readers want no order. */
void shmpipe__pipe_bridge_publish(shmpipe *p,
				  const struct shmpipe_bridge_stats *st)
{
	struct pipe_bridge_counters *bc = &p->sh->bridge;
	const memory_order o = memory_order_relaxed;
	atomic_store_explicit(&bc->accepted, st->accepted, o);
	atomic_store_explicit(&bc->refused, st->refused, o);
	atomic_store_explicit(&bc->active, st->active, o);
	atomic_store_explicit(&bc->units, st->units, o);
	atomic_store_explicit(&bc->bytes, st->bytes, o);
	atomic_store_explicit(&bc->partial_discarded, st->partial_discarded, o);
	atomic_store_explicit(&bc->token_failures, st->token_failures, o);
	atomic_store_explicit(&bc->oversize, st->oversize, o);
	atomic_store_explicit(&bc->idle_closed, st->idle_closed, o);
}

void shmpipe__pipe_bridge_release(shmpipe *p)
{
	uint32_t me = (uint32_t)getpid();
	atomic_compare_exchange_strong(&p->sh->bridge.pid, &me, 0);
}
