/* SPDX-License-Identifier: MIT */
/*
 * pipe.c - the buffered pipe: a ring of bytes in a mirrored region.
 *
 * Object layout (file offsets):
 *   0                 region header (region.c)
 *   128               struct pipe_shared: constants, positions, counters,
 *                     wait words, the two robust locks, attachment slots
 *   ring_offset       the ring, ring_size bytes (a whole number of pages),
 *                     mapped twice back to back (region mirror), so every
 *                     access of up to ring_size bytes at (pos % ring_size)
 *                     is contiguous: no record is ever split.
 *
 * Positions: tail (bytes ever committed) and head (bytes ever consumed) are
 * 64-bit counters that only grow; tail - head is the fill, at most
 * capacity (which may be less than ring_size: capacity is exactly L).
 * Writers exclude each other with writer_lock, readers with reader_lock
 * (pipelock.c: a dead holder's lock passes to the next locker). A write
 * copies its bytes, then publishes them with one release store of tail; a
 * read copies, then frees the space with one release store of head. A
 * process killed at any instruction has therefore either published its
 * whole unit or nothing, and there is nothing to repair after it.
 *
 * Message records: [u32 length][u32 ~length][payload, padded to 8]. Stream
 * bytes have no framing.
 *
 * Waiting: readers sleep on the futex word data_seq, writers on space_seq.
 * A sleeper announces itself in readers_waiting / writers_waiting (a
 * seq_cst increment) and re-checks the condition before sleeping; the
 * other side publishes its position, then (seq_cst) reads the counter and
 * only then bumps the word and calls FUTEX_WAKE. That Dekker pair means no
 * lost wake-up, and no system call at all when nobody sleeps. Sleeps are
 * cut into slices (readers: 50 ms, to notice dead writers and report end
 * of file; writers: 250 ms, for a reader killed between its position
 * store and its FUTEX_WAKE). The model in tests/model checks this
 * protocol, crashes included.
 *
 * Nothing read from shared memory is trusted: constants are validated once
 * at open and copied into the handle; positions and record lengths are
 * checked at every load (fill <= capacity, record fits in the fill); a
 * failed check is -EBADMSG.
 */
#define _GNU_SOURCE
#include "pipe.h"

#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MSG_HEADER 8u
#define READER_SLICE_MS 50
#define WRITER_SLICE_MS 250
#define LIVENESS_INTERVAL_NS (50ull * 1000 * 1000)

static uint64_t round8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

static uint64_t ring_offset_for(void)
{
	uint64_t page = shmpipe__page_size();
	uint64_t need = SHMPIPE__REGION_HEADER_SIZE + sizeof(struct pipe_shared);
	return (need + page - 1) / page * page;
}

/* ------------------------------------------------------------- creation */

struct create_args {
	uint64_t capacity, ring_size, ring_offset;
	unsigned kind;
};

static int init_pipe(void *data, size_t size, void *arg)
{
	const struct create_args *a = arg;
	struct pipe_shared *sh = data;
	(void)size;
	sh->kind = a->kind;
	sh->slot_count = PIPE_SLOTS;
	sh->capacity = a->capacity;
	sh->ring_size = a->ring_size;
	sh->ring_offset = a->ring_offset;
	return 0; /* the rest starts as zero: empty, unlocked, unattached */
}

SHMPIPE_API int shmpipe_create(const char *name,
			       const struct shmpipe_config *cfg)
{
	struct shmpipe_config c = { 0 };
	if (cfg)
		c = *cfg;
	if (!c.capacity)
		c.capacity = SHMPIPE_DEFAULT_CAPACITY;
	if (c.kind != SHMPIPE_STREAM && c.kind != SHMPIPE_MESSAGE)
		return -EINVAL;
	if (c.kind == SHMPIPE_MESSAGE && c.capacity < 2 * MSG_HEADER)
		return -EINVAL;
	uint64_t page = shmpipe__page_size();
	if (c.capacity > ((uint64_t)SSIZE_MAX / 4))
		return -EFBIG;
	struct create_args a = {
		.capacity = c.capacity,
		.ring_size = (c.capacity + page - 1) / page * page,
		.ring_offset = ring_offset_for(),
		.kind = c.kind,
	};
	struct shmpipe_region_config rc = {
		.size = a.ring_offset + a.ring_size - SHMPIPE__REGION_HEADER_SIZE,
		.mode = c.mode,
		.flags = c.flags,
		.init = init_pipe,
		.init_arg = &a,
	};
	shmpipe_region *r;
	int e = shmpipe__region_create(&r, name, &rc, SHMPIPE__TYPE_PIPE,
				       a.ring_offset);
	shmpipe_region_close(r);
	return e;
}

SHMPIPE_API int shmpipe_unlink(const char *name)
{
	return shmpipe_region_unlink(name);
}

/* Check the constants of the pipe in the object at @base (@object bytes,
 * ring mirrored from @ring_offset) and copy them into @g. */
static int geometry_at(char *base, uint64_t object, uint64_t ring_offset,
		       struct pipe_geometry *g)
{
	const struct pipe_shared *sh =
		(const void *)(base + SHMPIPE__REGION_HEADER_SIZE);
	if (!ring_offset ||
	    ring_offset < SHMPIPE__REGION_HEADER_SIZE + sizeof(*sh) ||
	    ring_offset >= object)
		return -EBADMSG;
	g->kind = sh->kind;
	g->capacity = sh->capacity;
	g->ring_size = sh->ring_size;
	if (sh->ring_offset != ring_offset ||
	    g->ring_size != object - ring_offset || sh->slot_count != PIPE_SLOTS)
		return -EBADMSG;
	if (g->kind != SHMPIPE_STREAM && g->kind != SHMPIPE_MESSAGE)
		return -EBADMSG;
	if (g->capacity == 0 || g->capacity > g->ring_size ||
	    (g->kind == SHMPIPE_MESSAGE && g->capacity < 2 * MSG_HEADER))
		return -EBADMSG;
	/* The creator made the ring the capacity rounded up to whole pages:
	 * anything else is a corrupt capacity or ring size. */
	uint64_t page = shmpipe__page_size();
	if ((g->capacity + page - 1) / page * page != g->ring_size)
		return -EBADMSG;
	g->ring = base + ring_offset;
	return 0;
}

int shmpipe__pipe_geometry(shmpipe_region *region, struct pipe_geometry *g)
{
	return geometry_at(shmpipe__region_base(region),
			   SHMPIPE__REGION_HEADER_SIZE +
				   shmpipe_region_size(region),
			   shmpipe__region_mirror_offset(region), g);
}

/* ------------------------------------------------------------ liveness */

/* Start time of @pid in clock ticks since boot (field 22 of
 * /proc/PID/stat), 0 if unknown: tells a live process from a new one that
 * reused a dead one's pid. *@exited is set for a process that has exited
 * and waits to be reaped (a zombie): state Z with no thread left. (A
 * thread-group leader that exited while other threads run is Z too, but
 * counts them: it is alive.) */
static uint64_t process_start_time(pid_t pid, int *exited)
{
	char path[64], buf[512];
	*exited = 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *s = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!s)
		return 0;
	char state;
	long threads;
	unsigned long long start = 0;
	/* after ")": state is field 3, num_threads 20, starttime 22 */
	if (sscanf(s + 1,
		   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
		   "%*d %*d %*d %ld %*d %llu",
		   &state, &threads, &start) != 3)
		return 0;
	*exited = state == 'Z' && threads <= 1;
	return start;
}

static uint64_t self_start_time(void)
{
	static _Atomic uint64_t cached;
	static _Atomic pid_t cached_pid;
	pid_t me = getpid();
	if (atomic_load(&cached_pid) != me) {
		int exited;
		atomic_store(&cached, process_start_time(me, &exited));
		atomic_store(&cached_pid, me);
	}
	return atomic_load(&cached);
}

int shmpipe__proc_alive(pid_t pid, uint64_t start_time)
{
	if (pid <= 0)
		return 0;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	/* kill() succeeds on a zombie, which holds nothing and never writes
	 * again: a SIGKILLed child of a reader blocked in shmpipe_read() stays
	 * one until that very reader reaps it. */
	int exited;
	uint64_t now = process_start_time(pid, &exited);
	if (exited)
		return 0;
	if (start_time && now && now != start_time)
		return 0; /* the pid was reused */
	return 1;
}

/* Free the slots of dead processes. Returns how many were freed. */
int shmpipe__pipe_reap(struct pipe_shared *sh)
{
	int freed = 0;
	for (int i = 0; i < PIPE_SLOTS; i++) {
		struct pipe_slot *s = &sh->slots[i];
		uint64_t owner = atomic_load_explicit(&s->owner,
						      memory_order_acquire);
		if (!owner)
			continue;
		uint64_t start = atomic_load_explicit(&s->start_time,
						      memory_order_relaxed);
		if (shmpipe__proc_alive(SLOT_PID(owner), start))
			continue;
		uint32_t was_waiting = atomic_load(&s->waiting);
		/* A free slot has start time 0 (unknown), never its last
		 * owner's: a process attaching to it would otherwise look, until
		 * it stores its own, like a reused pid, and have its slot reaped
		 * under it (and its lock taken over while it holds it). Zero it
		 * first, and only if the slot has not changed hands. */
		if (!atomic_compare_exchange_strong(&s->start_time, &start, 0))
			continue;
		if (!atomic_compare_exchange_strong(&s->owner, &owner, 0))
			continue;
		/* Its sleep was counted: uncount it (see "Waiting" above). */
		if (was_waiting == ROLE_READ)
			atomic_fetch_sub(&sh->readers_waiting, 1);
		else if (was_waiting == ROLE_WRITE)
			atomic_fetch_sub(&sh->writers_waiting, 1);
		atomic_store(&s->waiting, 0);
		freed++;
	}
	return freed;
}

unsigned shmpipe__pipe_count(const struct pipe_shared *sh, unsigned role)
{
	unsigned n = 0;
	for (int i = 0; i < PIPE_SLOTS; i++) {
		uint64_t o = atomic_load_explicit(&sh->slots[i].owner,
						  memory_order_acquire);
		n += o && SLOT_ROLE(o) == role;
	}
	return n;
}

/* The flag of handles on ordinary memory (tests): never raised. */
static _Atomic int never_truncated;

/* Whether another process truncated the object under @p (sigbus.c): the
 * mapping is then zero pages, and whatever was computed from it is void. */
static int truncated(const shmpipe *p)
{
	return atomic_load_explicit(p->truncated, memory_order_relaxed);
}

/* @r, unless the object was truncated while it was computed. */
static int64_t checked(const shmpipe *p, int64_t r)
{
	return truncated(p) ? -EBADMSG : r;
}

/* --------------------------------------------------------- wait / wake */

static void wake(_Atomic uint32_t *seq, _Atomic uint32_t *waiting)
{
	/* Pairs with the seq_cst increment of *waiting by a sleeper: either it
	 * sees our position store, or we see it waiting. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(waiting, memory_order_relaxed)) {
		atomic_fetch_add_explicit(seq, 1, memory_order_release);
		shmpipe__futex_wake(seq, INT_MAX);
	}
}

static void wake_readers(struct pipe_shared *sh)
{
	wake(&sh->data_seq, &sh->readers_waiting);
}

static void wake_writers(struct pipe_shared *sh)
{
	wake(&sh->space_seq, &sh->writers_waiting);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void wait_begin(struct wait_ctx *w, int timeout_ms)
{
	w->timeout_ms = timeout_ms;
	if (timeout_ms > 0)
		shmpipe__deadline(&w->abs, timeout_ms);
}

/*
 * Sleep until *@pos differs from @seen (or a slice passes, or the deadline).
 * Returns 0 to re-check, or -EAGAIN / -ETIMEDOUT at the deadline.
 */
static int wait_change(shmpipe *p, _Atomic uint64_t *pos, uint64_t seen,
		       _Atomic uint32_t *seq, uint32_t seq_seen,
		       _Atomic uint32_t *waiting,
		       unsigned role, int slice_ms, struct wait_ctx *w)
{
	if (truncated(p))
		return -EBADMSG; /* zero pages: nothing will ever change */
	if (w->timeout_ms == 0) {
		if (p->notify_fd >= 0) { /* the fd's readiness is stale */
			atomic_fetch_add(&p->notify_poke, 1);
			shmpipe__futex_wake(&p->notify_poke, 1);
		}
		return -EAGAIN;
	}
	if (w->timeout_ms > 0 && !shmpipe__ms_left(&w->abs))
		return -ETIMEDOUT; /* even if the word keeps changing */
	if (p->spin_us) {
		uint64_t until = shmpipe__now_ns() + p->spin_us * 1000ull;
		for (unsigned i = 0;; i++) {
			if (atomic_load_explicit(pos, memory_order_acquire) !=
			    seen)
				return 0;
			if ((i & 63) == 63) {
				if (shmpipe__now_ns() >= until)
					break;
				/* The peer may be waiting for this very CPU
				 * (unpinned processes often share one): let it
				 * run. Returns at once when nothing else is
				 * runnable here. Without it a ping-pong on one
				 * CPU burned the whole budget on each side
				 * (208 us a round trip, bench/lat_bench). */
				sched_yield();
				continue;
			}
			cpu_relax();
		}
	}
	struct timespec slice;
	shmpipe__deadline(&slice, slice_ms);
	const struct timespec *until = &slice;
	if (w->timeout_ms > 0 && (w->abs.tv_sec < slice.tv_sec ||
				  (w->abs.tv_sec == slice.tv_sec &&
				   w->abs.tv_nsec < slice.tv_nsec)))
		until = &w->abs;

	struct pipe_slot *me = &p->sh->slots[p->slot];
	uint32_t s = seq_seen; /* loaded by the caller before it looked */
	/* The count goes up before the slot's flag and down after it: a
	 * process killed in between leaves the count one too high (a spare
	 * wake-up per call, harmless), never too low (reap subtracts one for
	 * a dead slot's flag; too low would let a sleeper miss its wake-up
	 * and wait out its slice). */
	atomic_fetch_add(waiting, 1); /* seq_cst: see wake() */
	atomic_store(&me->waiting, role);
	int r = 0;
	if (atomic_load(pos) == seen)
		r = shmpipe__futex_wait(seq, s, until);
	atomic_store(&me->waiting, 0);
	atomic_fetch_sub(waiting, 1);
	if (r == -ETIMEDOUT && until == &w->abs)
		return -ETIMEDOUT;
	return 0;
}

/* ---------------------------------------------------------------- locks */

static struct pipe_lock *side_lock_of(shmpipe *p)
{
	return p->role == ROLE_WRITE ? &p->sh->writer_lock
				     : &p->sh->reader_lock;
}

/* Take this handle's side lock for one call (a no-op when exclusive). */
static int side_lock(shmpipe *p, const struct wait_ctx *w)
{
	if (p->exclusive)
		return 0;
	int r = shmpipe__lock(p->sh, side_lock_of(p), p->lock_me, p->pid, w);
	return r < 0 ? r : 0;
}

static void side_unlock(shmpipe *p)
{
	if (!p->exclusive)
		shmpipe__unlock(side_lock_of(p));
}

/* ------------------------------------------------------------ open/close */

static int attach(shmpipe *p)
{
	struct pipe_shared *sh = p->sh;
	uint64_t me = SLOT_OWNER(p->pid, p->role);
	uint64_t start = self_start_time(); /* a /proc read: not in the slot */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < PIPE_SLOTS; i++) {
			uint64_t expect = 0;
			if (atomic_compare_exchange_strong(&sh->slots[i].owner,
							   &expect, me)) {
				struct pipe_slot *s = &sh->slots[i];
				/* Free slots have start time 0 (see reap). */
				atomic_store(&s->start_time, start);
				atomic_store(&s->waiting, 0);
				uint32_t gen = atomic_fetch_add(&s->generation, 1) + 1;
				p->lock_me = LOCK_OWNER(i, gen);
				p->slot = i;
				p->slot_owner = me;
				return 0;
			}
		}
		if (!shmpipe__pipe_reap(sh))
			break;
	}
	return -EUSERS;
}

static void detach(shmpipe *p)
{
	struct pipe_slot *s = &p->sh->slots[p->slot];
	uint64_t me = p->slot_owner;
	if (atomic_load(&s->owner) == me)
		atomic_store(&s->start_time, 0); /* free slots have 0: see reap */
	atomic_compare_exchange_strong(&s->owner, &me, 0);
	if (p->role == ROLE_WRITE) {
		/* Readers of an empty pipe may now be at end of file. */
		atomic_fetch_add(&p->sh->data_seq, 1);
		shmpipe__futex_wake(&p->sh->data_seq, INT_MAX);
	}
}

static int check_open_flags(unsigned flags)
{
	unsigned side = flags & (SHMPIPE_READ | SHMPIPE_WRITE);
	if ((side != SHMPIPE_READ && side != SHMPIPE_WRITE) ||
	    (flags & ~(SHMPIPE_READ | SHMPIPE_WRITE | SHMPIPE_EXCLUSIVE)))
		return -EINVAL;
	return 0;
}

static shmpipe *handle_new(unsigned flags)
{
	shmpipe *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->truncated = &never_truncated;
	p->notify_fd = -1;
	p->pid = getpid();
	p->role = (flags & SHMPIPE_WRITE) ? ROLE_WRITE : ROLE_READ;
	return p;
}

/* Attach @p (geometry and sh set) and take the exclusive lock if asked. */
static int handle_attach(shmpipe *p, unsigned flags)
{
	int r = attach(p);
	if (r < 0)
		return r;
	if (flags & SHMPIPE_EXCLUSIVE) {
		struct wait_ctx w;
		wait_begin(&w, 1000);
		r = shmpipe__lock(p->sh, side_lock_of(p), p->lock_me, p->pid,
				  &w);
		if (r == -ETIMEDOUT || r == -EAGAIN)
			r = -EBUSY;
		if (r < 0) {
			detach(p);
			return r;
		}
		p->exclusive = 1;
	}
	if (p->role == ROLE_WRITE) {
		atomic_store(&p->sh->writers_ever, 1);
		/* A reader waiting for the first writer re-checks. */
		atomic_fetch_add(&p->sh->data_seq, 1);
		shmpipe__futex_wake(&p->sh->data_seq, INT_MAX);
	}
	return 0;
}

SHMPIPE_API int shmpipe_open(shmpipe **out, const char *name, unsigned flags)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	int r = check_open_flags(flags);
	if (r < 0)
		return r;
	shmpipe *p = handle_new(flags);
	if (!p)
		return -ENOMEM;
	r = shmpipe__region_open(&p->region, name, SHMPIPE__TYPE_PIPE);
	if (r < 0)
		goto fail_free;
	shmpipe__region_guard(p->region);
	p->truncated = shmpipe__region_truncated(p->region);
	r = shmpipe__pipe_geometry(p->region, &p->g);
	if (r < 0)
		goto fail_region;
	p->sh = shmpipe_region_data(p->region);
	r = handle_attach(p, flags);
	if (r < 0)
		goto fail_region;
	*out = p;
	return 0;

fail_region:
	shmpipe_region_close(p->region);
fail_free:
	free(p);
	return r;
}

int shmpipe__pipe_open_memory(shmpipe **out, void *mem, size_t object_size,
			      unsigned flags)
{
	*out = NULL;
	int r = check_open_flags(flags);
	if (r < 0)
		return r;
	const struct shmpipe__region_header *h = mem;
	if (object_size < SHMPIPE__REGION_HEADER_SIZE + sizeof(struct pipe_shared))
		return -EBADMSG;
	if (h->magic != SHMPIPE__REGION_MAGIC ||
	    h->version != SHMPIPE__REGION_VERSION ||
	    h->type != SHMPIPE__TYPE_PIPE)
		return -EPROTO;
	uint64_t mirror = h->mirror_offset; /* read once */
	if (h->header_size != SHMPIPE__REGION_HEADER_SIZE ||
	    h->data_size != object_size - SHMPIPE__REGION_HEADER_SIZE ||
	    mirror == 0 || mirror >= object_size)
		return -EBADMSG;
	shmpipe *p = handle_new(flags);
	if (!p)
		return -ENOMEM;
	r = geometry_at(mem, object_size, mirror, &p->g);
	if (r == 0) {
		p->sh = (void *)((char *)mem + SHMPIPE__REGION_HEADER_SIZE);
		r = handle_attach(p, flags);
	}
	if (r < 0) {
		free(p);
		return r;
	}
	*out = p;
	return 0;
}

SHMPIPE_API void shmpipe_close(shmpipe *p)
{
	if (!p)
		return;
	shmpipe__notify_stop(p);
	if (p->reserved || p->peeked_active) {
		p->reserved = 0;
		p->peeked_active = 0;
		side_unlock(p);
	}
	if (p->exclusive)
		shmpipe__unlock(side_lock_of(p));
	detach(p);
	shmpipe_region_close(p->region);
	free(p);
}

/* ----------------------------------------------------------- positions */

/* Load tail and head and check them: 0, or -EBADMSG. */
static int load_positions(shmpipe *p, uint64_t *tail, uint64_t *head)
{
	*tail = atomic_load_explicit(&p->sh->tail, memory_order_acquire);
	*head = atomic_load_explicit(&p->sh->head, memory_order_acquire);
	if (*tail - *head > p->g.capacity)
		return -EBADMSG;
	if (p->g.kind == SHMPIPE_MESSAGE && ((*tail | *head) & 7))
		return -EBADMSG;
	return 0;
}

/* End of file for a reader of an empty pipe: a writer has been attached
 * once and none is attached now (dead ones reaped, at most every 50 ms). */
int shmpipe__pipe_eof(struct pipe_shared *sh, uint64_t *last_reap_ns)
{
	if (!atomic_load(&sh->writers_ever))
		return 0;
	uint64_t now = shmpipe__now_ns();
	if (now - *last_reap_ns >= LIVENESS_INTERVAL_NS) {
		*last_reap_ns = now;
		shmpipe__pipe_reap(sh);
	}
	return shmpipe__pipe_count(sh, ROLE_WRITE) == 0;
}

static int at_eof(shmpipe *p)
{
	return shmpipe__pipe_eof(p->sh, &p->last_reap_ns);
}

int shmpipe__pipe_readable(shmpipe *p, uint64_t *last_reap_ns)
{
	uint64_t tail, head;
	if (load_positions(p, &tail, &head) < 0)
		return 1; /* let the read report the corruption */
	return tail != head || shmpipe__pipe_eof(p->sh, last_reap_ns);
}

int shmpipe__pipe_writable(shmpipe *p)
{
	uint64_t tail, head;
	if (load_positions(p, &tail, &head) < 0)
		return 1;
	uint64_t room = p->g.capacity - (tail - head);
	return p->g.kind == SHMPIPE_MESSAGE ? room >= MSG_HEADER + 8 : room > 0;
}

/*
 * The next unit readable at @head: *@payload its offset in the ring,
 * *@len its payload length, *@span the bytes it occupies. For a stream the
 * unit is all @avail bytes. Returns 0 or -EBADMSG.
 */
static int next_unit(shmpipe *p, uint64_t head, uint64_t avail,
		     uint64_t *payload, uint64_t *len, uint64_t *span)
{
	uint64_t off = head % p->g.ring_size;
	if (p->g.kind == SHMPIPE_STREAM) {
		*payload = off;
		*len = *span = avail;
		return 0;
	}
	if (avail < MSG_HEADER)
		return -EBADMSG;
	uint32_t hdr[2];
	memcpy(hdr, p->g.ring + off, sizeof(hdr));
	if (hdr[1] != ~hdr[0] || MSG_HEADER + round8(hdr[0]) > avail)
		return -EBADMSG;
	*payload = off + MSG_HEADER;
	*len = hdr[0];
	*span = MSG_HEADER + round8(hdr[0]);
	return 0;
}

/*
 * Reader side, lock held: wait until data is there. Returns the bytes
 * available (> 0) with *@head, 0 at end of file, or an error.
 */
static int64_t wait_for_data(shmpipe *p, uint64_t *head, uint64_t want,
			     struct wait_ctx *w)
{
	for (;;) {
		/* The other side's position, as last seen, first: it only
		 * grows, so a stale tail can only underestimate the data
		 * (whole records: a tail is only ever published at a record's
		 * end), and re-reading it (a cache miss while the writer works
		 * on that line) is needed only when it shows less than
		 * @want. */
		*head = atomic_load_explicit(&p->sh->head, memory_order_acquire);
		uint64_t tail = p->seen_tail;
		if (tail - *head - 1 < p->g.capacity && tail - *head >= want &&
		    !(p->g.kind == SHMPIPE_MESSAGE && ((tail | *head) & 7)))
			return (int64_t)(tail - *head);
		/* The sequence word before the positions and the writer count:
		 * a write or a writer's close after this changes it, so the
		 * wait below cannot sleep through it (found by the Spin model,
		 * tests/model: a close between the count and the load left the
		 * reader asleep for its whole slice). */
		uint32_t seq = atomic_load_explicit(&p->sh->data_seq,
						    memory_order_acquire);
		int r = load_positions(p, &tail, head);
		if (r < 0)
			return r;
		p->seen_tail = tail;
		if (tail != *head)
			return (int64_t)(tail - *head);
		if (at_eof(p)) {
			/* The last writer may have written and detached since
			 * the positions were loaded (its tail store comes
			 * before its detach, so a second look sees it): end
			 * of file only if the pipe is still empty now. */
			r = load_positions(p, &tail, head);
			if (r < 0)
				return r;
			p->seen_tail = tail;
			return (int64_t)(tail - *head);
		}
		r = wait_change(p, &p->sh->tail, tail, &p->sh->data_seq, seq,
				&p->sh->readers_waiting, ROLE_READ,
				READER_SLICE_MS, w);
		if (r < 0)
			return r;
	}
}

/*
 * Writer side, lock held: wait until @need bytes are free (or, with
 * @partial, any byte). Returns the bytes free (> 0) with *@tail.
 */
static int64_t wait_for_space(shmpipe *p, uint64_t need, int partial,
			      uint64_t *tail, struct wait_ctx *w)
{
	for (;;) {
		/* As for readers: the head as last seen first (see above). */
		*tail = atomic_load_explicit(&p->sh->tail, memory_order_acquire);
		uint64_t head = p->seen_head;
		uint64_t room = p->g.capacity - (*tail - head);
		if (*tail - head <= p->g.capacity &&
		    !(p->g.kind == SHMPIPE_MESSAGE && ((*tail | head) & 7)) &&
		    (room >= need || (partial && room > 0)))
			return (int64_t)room;
		uint32_t seq = atomic_load_explicit(&p->sh->space_seq,
						    memory_order_acquire);
		int r = load_positions(p, tail, &head);
		if (r < 0)
			return r;
		p->seen_head = head;
		room = p->g.capacity - (*tail - head);
		if (room >= need || (partial && room > 0))
			return (int64_t)room;
		r = wait_change(p, &p->sh->head, head, &p->sh->space_seq, seq,
				&p->sh->writers_waiting, ROLE_WRITE,
				WRITER_SLICE_MS, w);
		if (r < 0)
			return r;
	}
}

/* Add @n to a counter that only the holder of one side's lock writes
 * (a plain load and store: no atomic read-modify-write on the hot path;
 * readers of stats take snapshots). */
static void count(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_store_explicit(counter,
			      atomic_load_explicit(counter,
						   memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Publish @span bytes at @tail holding @payload_len bytes of payload. */
static void publish(shmpipe *p, uint64_t tail, uint64_t span,
		    uint64_t payload_len)
{
	struct pipe_shared *sh = p->sh;
	atomic_store_explicit(&sh->tail, tail + span, memory_order_release);
	count(&sh->messages_in, 1);
	count(&sh->bytes_in, payload_len);
	uint64_t fill = tail + span -
			atomic_load_explicit(&sh->head, memory_order_relaxed);
	if (fill <= p->g.capacity &&
	    fill > atomic_load_explicit(&sh->high_water, memory_order_relaxed))
		atomic_store_explicit(&sh->high_water, fill,
				      memory_order_relaxed);
	wake_readers(sh);
}

/* Free @span bytes at @head that held @payload_len bytes of payload. */
static void consume(shmpipe *p, uint64_t head, uint64_t span,
		    uint64_t payload_len)
{
	struct pipe_shared *sh = p->sh;
	atomic_store_explicit(&sh->head, head + span, memory_order_release);
	count(&sh->messages_out, 1);
	count(&sh->bytes_out, payload_len);
	wake_writers(sh);
}

/* --------------------------------------------------------------- write */

static void put_record(shmpipe *p, uint64_t tail, const void *buf,
		       size_t len)
{
	char *at = p->g.ring + tail % p->g.ring_size;
	if (p->g.kind == SHMPIPE_MESSAGE) {
		uint32_t hdr[2] = { (uint32_t)len, ~(uint32_t)len };
		memcpy(at, hdr, sizeof(hdr));
		at += MSG_HEADER;
	}
	memcpy(at, buf, len);
}

static uint64_t span_of(const shmpipe *p, size_t len)
{
	return p->g.kind == SHMPIPE_MESSAGE ? MSG_HEADER + round8(len) : len;
}

/* One atomic unit of @len <= capacity bytes. */
static ssize_t write_unit(shmpipe *p, const void *buf, size_t len,
			  struct wait_ctx *w)
{
	uint64_t span = span_of(p, len), tail;
	int64_t room = wait_for_space(p, span, 0, &tail, w);
	if (room < 0)
		return room;
	put_record(p, tail, buf, len);
	publish(p, tail, span, len);
	return (ssize_t)len;
}

/* A stream write longer than the capacity: in pieces, as room appears. */
static ssize_t write_pieces(shmpipe *p, const char *buf, size_t len,
			    struct wait_ctx *w)
{
	size_t done = 0;
	while (done < len) {
		uint64_t tail;
		int64_t room = wait_for_space(p, len - done, 1, &tail, w);
		if (room < 0)
			return done ? (ssize_t)done : room;
		size_t n = (size_t)room < len - done ? (size_t)room : len - done;
		put_record(p, tail, buf + done, n);
		publish(p, tail, n, n);
		done += n;
	}
	return (ssize_t)done;
}

static int check_role(const shmpipe *p, unsigned role)
{
	if (p->role != role)
		return -EBADF;
	if (p->reserved || p->peeked_active)
		return -EBUSY; /* finish the zero-copy operation first */
	return 0;
}

SHMPIPE_API ssize_t shmpipe_write(shmpipe *p, const void *buf, size_t len,
				  int timeout_ms)
{
	int r = check_role(p, ROLE_WRITE);
	if (r < 0)
		return r;
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		return -EINVAL;
	if (p->g.kind == SHMPIPE_MESSAGE &&
	    (len > UINT32_MAX || span_of(p, len) > p->g.capacity))
		return -EMSGSIZE;
	struct wait_ctx w;
	wait_begin(&w, timeout_ms);
	r = side_lock(p, &w);
	if (r < 0)
		return r;
	ssize_t n = len <= p->g.capacity ? write_unit(p, buf, len, &w)
					 : write_pieces(p, buf, len, &w);
	side_unlock(p);
	return checked(p, n);
}

SHMPIPE_API ssize_t shmpipe_reserve(shmpipe *p, void **ptr, size_t len,
				    int timeout_ms)
{
	int r = check_role(p, ROLE_WRITE);
	if (r < 0)
		return r;
	if (!ptr || len == 0 || len > p->g.capacity)
		return -EINVAL;
	if (p->g.kind == SHMPIPE_MESSAGE && span_of(p, len) > p->g.capacity)
		return -EMSGSIZE;
	struct wait_ctx w;
	wait_begin(&w, timeout_ms);
	r = side_lock(p, &w);
	if (r < 0)
		return r;
	uint64_t tail;
	int64_t room = wait_for_space(p, span_of(p, len), 0, &tail, &w);
	if (room < 0) {
		side_unlock(p);
		return room;
	}
	if (truncated(p)) {
		side_unlock(p);
		return -EBADMSG;
	}
	p->reserved = len;
	p->reserved_tail = tail;
	char *at = p->g.ring + tail % p->g.ring_size;
	*ptr = p->g.kind == SHMPIPE_MESSAGE ? at + MSG_HEADER : at;
	return (ssize_t)len;
}

SHMPIPE_API ssize_t shmpipe_commit(shmpipe *p, size_t used)
{
	if (p->role != ROLE_WRITE || !p->reserved || used > p->reserved)
		return -EINVAL;
	if (used) {
		uint64_t tail = p->reserved_tail;
		if (p->g.kind == SHMPIPE_MESSAGE) {
			uint32_t hdr[2] = { (uint32_t)used, ~(uint32_t)used };
			memcpy(p->g.ring + tail % p->g.ring_size, hdr,
			       sizeof(hdr));
		}
		publish(p, tail, span_of(p, used), used);
	}
	p->reserved = 0;
	side_unlock(p);
	return checked(p, (ssize_t)used);
}

/* ----------------------------------------------------------------- read */

/* Lock held: wait for the next unit. >0 its length (message) or bytes
 * available (stream), 0 end of file, <0 error. */
/* @want: for a stream, how many bytes the caller could take (a read
 * returns as many as are there, up to that); a message needs one. */
static int64_t next_readable(shmpipe *p, struct wait_ctx *w, uint64_t want,
			     uint64_t *head, uint64_t *payload, uint64_t *len,
			     uint64_t *span)
{
	if (p->g.kind == SHMPIPE_MESSAGE)
		want = 1;
	int64_t avail = wait_for_data(p, head, want, w);
	if (avail <= 0)
		return avail;
	int r = next_unit(p, *head, (uint64_t)avail, payload, len, span);
	if (r < 0)
		return r;
	/* An empty message cannot be written; its record is corrupt. */
	return *len ? (int64_t)*len : -EBADMSG;
}

/* The unit next_readable() found. */
struct unit {
	uint64_t head, payload, len, span;
};

/* Start a read of the reader handle @p: take the side lock and wait for
 * the next unit. Returns its length (> 0) with the lock held, or 0 (end
 * of file) / an error with the lock released. */
static int64_t read_begin(shmpipe *p, int timeout_ms, uint64_t want,
			  struct unit *u)
{
	int r = check_role(p, ROLE_READ);
	if (r < 0)
		return r;
	struct wait_ctx w;
	wait_begin(&w, timeout_ms);
	r = side_lock(p, &w);
	if (r < 0)
		return r;
	int64_t got = next_readable(p, &w, want, &u->head, &u->payload,
				    &u->len, &u->span);
	if (got <= 0)
		side_unlock(p);
	return got;
}

SHMPIPE_API ssize_t shmpipe_read(shmpipe *p, void *buf, size_t len,
				 int timeout_ms)
{
	if (len == 0)
		return check_role(p, ROLE_READ);
	struct unit u;
	int64_t got = read_begin(p, timeout_ms, len, &u);
	if (got <= 0)
		return (ssize_t)got;
	if (p->g.kind == SHMPIPE_MESSAGE && u.len > len) {
		got = -EMSGSIZE; /* stays in the pipe */
	} else {
		if (p->g.kind == SHMPIPE_STREAM && u.len > len)
			u.len = u.span = len;
		memcpy(buf, p->g.ring + u.payload, u.len);
		consume(p, u.head, u.span, u.len);
		got = (int64_t)u.len;
	}
	side_unlock(p);
	return checked(p, got);
}

SHMPIPE_API ssize_t shmpipe_next_size(shmpipe *p, int timeout_ms)
{
	struct unit u;
	int64_t got = read_begin(p, timeout_ms, UINT64_MAX, &u);
	if (got > 0)
		side_unlock(p);
	return checked(p, got);
}

SHMPIPE_API ssize_t shmpipe_peek(shmpipe *p, const void **ptr, int timeout_ms)
{
	if (!ptr) {
		int r = check_role(p, ROLE_READ);
		return r < 0 ? r : -EINVAL;
	}
	struct unit u;
	int64_t got = read_begin(p, timeout_ms, UINT64_MAX, &u);
	if (got > 0 && truncated(p))
		side_unlock(p);
	if (got <= 0 || truncated(p))
		return checked(p, got);
	p->peeked_active = 1;
	p->peeked_head = u.head;
	p->peeked_len = u.len;
	p->peeked_span = u.span;
	*ptr = p->g.ring + u.payload;
	return (ssize_t)u.len;
}

SHMPIPE_API int shmpipe_release(shmpipe *p, size_t len)
{
	if (p->role != ROLE_READ || !p->peeked_active || len > p->peeked_len)
		return -EINVAL;
	if (len) {
		uint64_t span = p->g.kind == SHMPIPE_STREAM ? len
							    : p->peeked_span;
		uint64_t payload = p->g.kind == SHMPIPE_STREAM ? len
							       : p->peeked_len;
		consume(p, p->peeked_head, span, payload);
	}
	p->peeked_active = 0;
	side_unlock(p);
	return (int)checked(p, 0);
}

/* ---------------------------------------------------------------- misc */

SHMPIPE_API int shmpipe_set_spin(shmpipe *p, unsigned spin_us)
{
	p->spin_us = spin_us;
	return 0;
}

SHMPIPE_API ssize_t shmpipe_room(shmpipe *p)
{
	uint64_t tail, head;
	int r = load_positions(p, &tail, &head);
	if (r < 0)
		return r;
	uint64_t room = p->g.capacity - (tail - head);
	if (p->g.kind == SHMPIPE_MESSAGE)
		room = room >= 2 * MSG_HEADER ? (room - MSG_HEADER) & ~7ull : 0;
	return checked(p, (ssize_t)room);
}

SHMPIPE_API size_t shmpipe_capacity(const shmpipe *p)
{
	return (size_t)p->g.capacity;
}

SHMPIPE_API unsigned shmpipe_kind(const shmpipe *p)
{
	return p->g.kind;
}
