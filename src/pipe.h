/* SPDX-License-Identifier: MIT */
/*
 * pipe.h - the shared layout of a buffered pipe and the handle, shared by
 * pipe.c (the ring protocol), notify.c (the pollable fd) and stat.c.
 * Not installed; see pipe.c for the protocol.
 */
#ifndef SHMPIPE_PIPE_H
#define SHMPIPE_PIPE_H

#include "internal.h"

#include <pthread.h>

#define PIPE_SLOTS 64
#define CACHELINE 64

enum { ROLE_READ = 1, ROLE_WRITE = 2 };

/* An attachment: owner = pid | role << 32 (0: free), changed only by CAS. */
#define SLOT_OWNER(pid, role) ((uint64_t)(uint32_t)(pid) | (uint64_t)(role) << 32)
#define SLOT_PID(owner) ((pid_t)(uint32_t)(owner))
#define SLOT_ROLE(owner) ((unsigned)((owner) >> 32))

struct pipe_slot {
	_Atomic uint64_t owner;
	_Atomic uint64_t start_time; /* owner's start, clock ticks; 0 unknown */
	_Atomic uint32_t waiting;    /* ROLE_* while counted as a sleeper */
	_Atomic uint32_t generation; /* bumped by every attach: see LOCK_* */
	uint32_t reserved[2];
};
_Static_assert(sizeof(struct pipe_slot) == 32, "slot layout");

/*
 * A lock word of our own rather than a pthread mutex: a hostile or corrupt
 * segment can then only make us wait (bounded by the caller's timeout),
 * never make the C library follow a pointer stored in shared memory (the
 * robust list of a pthread mutex). The word names its holder by attachment
 * slot and that slot's generation; a waiter that finds the slot freed,
 * re-attached, or its process dead takes the lock over (see pipelock.c).
 */
struct pipe_lock {
	_Alignas(CACHELINE) _Atomic uint32_t word; /* 0 free, see LOCK_* */
	_Atomic uint32_t holder_pid;		   /* for stats only */
};
#define LOCK_WAITERS 0x80000000u
#define LOCK_SLOT_MASK 0x7fu /* slot + 1 */
#define LOCK_GEN_SHIFT 7
#define LOCK_GEN_MASK 0xffffffu
#define LOCK_OWNER(slot, gen)                                                 \
	((uint32_t)((slot) + 1) | ((uint32_t)(gen)&LOCK_GEN_MASK) << LOCK_GEN_SHIFT)

/* At the start of the region data. Each group on its own cache line, so a
 * writer and a reader never write to the same line on the hot path. */
struct pipe_shared {
	/* Constants, written by the creator. Validated at open and copied
	 * into the handle; never read again. */
	uint32_t kind;
	uint32_t slot_count;
	uint64_t capacity;
	uint64_t ring_size;
	uint64_t ring_offset;

	/* Writer side: written under the writer lock. */
	_Alignas(CACHELINE) _Atomic uint64_t tail;
	_Atomic uint64_t messages_in;
	_Atomic uint64_t bytes_in; /* payload bytes */
	_Atomic uint64_t high_water;

	/* Reader side: written under the reader lock. */
	_Alignas(CACHELINE) _Atomic uint64_t head;
	_Atomic uint64_t messages_out;
	_Atomic uint64_t bytes_out;

	/* Readers sleep on data_seq, writers on space_seq. */
	_Alignas(CACHELINE) _Atomic uint32_t data_seq;
	_Atomic uint32_t readers_waiting;
	_Alignas(CACHELINE) _Atomic uint32_t space_seq;
	_Atomic uint32_t writers_waiting;

	_Alignas(CACHELINE) _Atomic uint32_t writers_ever;

	struct pipe_lock writer_lock;
	struct pipe_lock reader_lock;

	_Alignas(CACHELINE) struct pipe_slot slots[PIPE_SLOTS];

	/* Counters of the bridge serving this pipe, if any (the bridge
	 * publishes them through shmpipe__pipe_bridge_publish(), `shmpipe
	 * stat` shows them while pid is alive). idle_closed came in 0.2.0,
	 * after the others, so that older segments keep their layout. */
	struct pipe_bridge_counters {
		_Alignas(CACHELINE) _Atomic uint32_t pid;
		_Atomic uint64_t accepted, refused, active, units, bytes;
		_Atomic uint64_t partial_discarded, token_failures, oversize;
		_Atomic uint64_t idle_closed;
	} bridge;
};
_Static_assert(offsetof(struct pipe_shared, tail) == 64, "pipe layout");
_Static_assert(offsetof(struct pipe_shared, head) == 128, "pipe layout");

/* Deadline bookkeeping for one call. */
struct wait_ctx {
	int timeout_ms; /* -1 forever, 0 never wait, else ms */
	struct timespec abs;
};

/* Take @l for the attachment @me (LOCK_OWNER). 0, or 1 when it was taken
 * over from a dead holder; -EAGAIN (timeout 0) / -ETIMEDOUT. */
int shmpipe__lock(struct pipe_shared *sh, struct pipe_lock *l, uint32_t me,
		  pid_t pid, const struct wait_ctx *w);
void shmpipe__unlock(struct pipe_lock *l);
/* The pid holding @l, 0 if free (a snapshot). */
pid_t shmpipe__lock_holder(const struct pipe_shared *sh,
			   const struct pipe_lock *l);

/* The validated constants of an open pipe. */
struct pipe_geometry {
	unsigned kind;
	uint64_t capacity;
	uint64_t ring_size;
	char *ring; /* 2 * ring_size bytes are mapped (mirror) */
};

struct shmpipe {
	shmpipe_region *region;
	/* Raised when another process truncated the object under us (see
	 * sigbus.c): the mapping is zero pages, every result is -EBADMSG. */
	_Atomic int *truncated;
	struct pipe_shared *sh;
	struct pipe_geometry g;
	unsigned role;	/* ROLE_READ or ROLE_WRITE */
	int exclusive;	/* holds the side lock for its whole life */
	pid_t pid; /* getpid() at open: glibc no longer caches it */
	int slot;
	uint64_t slot_owner;
	uint32_t lock_me; /* LOCK_OWNER(slot, generation) */
	unsigned spin_us;
	uint64_t last_reap_ns;
	/* The other side's position as this handle last read it (wait_for_*
	 * in pipe.c): positions only grow, so it is a safe lower bound. */
	uint64_t seen_tail, seen_head;
	/* zero-copy state */
	size_t reserved;
	uint64_t reserved_tail;
	int peeked_active;
	uint64_t peeked_head, peeked_len, peeked_span;
	/* pollable fd (notify.c) */
	int notify_fd;
	pthread_t notify_thread;
	_Atomic int notify_stop;
	int notify_level; /* readiness when the thread started */
	_Atomic(_Atomic uint32_t *) notify_waiting_on;
	/* Bumped when a call of this handle found nothing to do (-EAGAIN):
	 * the thread then looks again at once (see notify.c). */
	_Atomic uint32_t notify_poke;
	uint64_t notify_last_reap_ns;
};

int shmpipe__pipe_geometry(shmpipe_region *region, struct pipe_geometry *g);
/*
 * For tests and fuzzers: a handle on a pipe object held in ordinary memory.
 * @mem holds the whole object (@object_size bytes, as in /dev/shm) followed
 * by room for the mirror (object_size - mirror_offset more bytes). In
 * ordinary memory the mirror is not kept in sync: for checking memory
 * safety only (fuzzers). On a real mirrored mapping (the base of a region
 * opened with shmpipe__region_open()) it is a working handle, which the
 * TSan tests use to let threads share one mapping; it has no SIGBUS guard.
 * Errors as shmpipe_open().
 */
int shmpipe__pipe_open_memory(shmpipe **out, void *mem, size_t object_size,
			      unsigned flags);
/* Free the slots of dead processes; how many were freed. */
int shmpipe__pipe_reap(struct pipe_shared *sh);
/* Whether @pid (started at @start_time, 0 = unknown) is alive. */
int shmpipe__proc_alive(pid_t pid, uint64_t start_time);
/* Count attached slots of @role (ROLE_*). */
unsigned shmpipe__pipe_count(const struct pipe_shared *sh, unsigned role);
/* End of file for a reader of an empty pipe; *@last_reap_ns rate-limits
 * the liveness checks of writers. */
int shmpipe__pipe_eof(struct pipe_shared *sh, uint64_t *last_reap_ns);
/* Room for one more unit (writer readiness) / data or EOF (reader). */
int shmpipe__pipe_writable(shmpipe *p);
int shmpipe__pipe_readable(shmpipe *p, uint64_t *last_reap_ns);
void shmpipe__notify_stop(shmpipe *p);

/* The bridge serving @p (stat.c): claim the pipe's bridge counters for
 * this process, publish its counters there, and give them up (only if
 * still ours). */
void shmpipe__pipe_bridge_claim(shmpipe *p);
void shmpipe__pipe_bridge_publish(shmpipe *p,
				  const struct shmpipe_bridge_stats *st);
void shmpipe__pipe_bridge_release(shmpipe *p);

#endif
