/* SPDX-License-Identifier: MIT */
/*
 * pipe_threads.c - many writer and many reader threads of one process on
 * one pipe, built with -fsanitize=thread (`make tsan`): any data race in
 * the ring protocol, the lock words or the waits is a ThreadSanitizer
 * report, and tests/torture/tsan_run.sh fails on it.
 *
 * One mapping for all. TSan only sees races on the same virtual address,
 * and shmpipe_open() maps the object again for every handle: two handles
 * of one process touch the same byte at two addresses, and TSan would see
 * nothing between them. So the pipe is created by name, mapped once with
 * the library's own mirrored mapping (shmpipe__region_open(): the object,
 * then the ring a second time right after it, shmpipe__map_mirror()), its
 * name removed at once (nothing can be left in /dev/shm), and every thread
 * makes its own handle over that same memory with the internal
 * shmpipe__pipe_open_memory(). Its caveat ("the mirror not kept in sync,
 * for checking memory safety only") is about an object copied into
 * ordinary memory; here both views of the ring are MAP_SHARED mappings of
 * the same pages of the object, so the mirror is exactly what
 * shmpipe_open() gives. No library hook was needed. What TSan cannot see:
 * the part of a record that runs past the ring's end lives at the mirror's
 * addresses, so a race between that view and the first view of the same
 * bytes is invisible (never a false report: only fewer true ones). Every
 * handle is a separate attachment (slot and generation: its own lock
 * owner), as it would be in separate processes.
 *
 * The threads talk only through the pipe: the test adds no mutex, and its
 * own flags (pause/go, progress) are relaxed atomics, which give TSan no
 * happens-before edge, so every order the library relies on must come from
 * the library's own acquire/release operations. (Only the start gate,
 * before any data moves, is release/acquire.)
 *
 * For each kind, stream then message, WRITERS writer threads each write
 * RECORDS records and READERS reader threads read them until end of file:
 *  - writers pick per attempt: blocking write, timeout 0 (retried on
 *    -EAGAIN), 1..3 ms (retried on -ETIMEDOUT), or poll on shmpipe_fd()
 *    then timeout 0; or per record reserve/commit (reserving more than
 *    they commit; sometimes scribbling over the space and committing 0
 *    first: the next writer's bytes there must be ordered after that by
 *    the writer lock alone); readers per call: blocking read, timeout 0,
 *    1..3 ms, peek/release (checking the bytes in place; sometimes
 *    release(0)), next_size then read, a too-small buffer (-EMSGSIZE,
 *    message kind), poll then read;
 *  - stream: a record is n 8-byte words, each naming (writer, sequence,
 *    index) with a check field; every write and read is a multiple of 8
 *    bytes, so words are never split, while records (1..2*capacity/8 words,
 *    some longer than the capacity: write_pieces()) are split between
 *    reads and readers. Checked per read: every word valid, per writer in
 *    strictly increasing order, and a record of at most the capacity
 *    contiguous (a write of up to L bytes is atomic: no other word inside);
 *  - message: a message is one record (writer, sequence, length, FNV-1a
 *    checksum of its bytes); per reader, each writer's sequence increases;
 *  - end of file only after every writer began to close; at the end, every
 *    word or message was read exactly once over all readers, and the
 *    pipe's counters agree (bytes in == out == written, messages, fill 0).
 * Contention is made, and checked by watching the shared words (relaxed
 * loads): at the start and after 2/3 of the data the writers hold back
 * until a reader's call sleeps on the empty pipe (its slot's waiting word)
 * while another is queued on the reader lock word (its waiters bit); after
 * 1/3 the readers hold back until the same is seen of the writers on a
 * full pipe. Any of these not seen within PHASE_SECONDS fails the test.
 * Figures: tsan_units_verified (records and messages), tsan_timeouts (calls
 * that returned -EAGAIN/-ETIMEDOUT), tsan_contended_waits (the phases).
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "pipe.h" /* shmpipe__pipe_open_memory, struct pipe_shared */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITERS		 6
#define READERS		 5
#define STREAM_CAPACITY	 3000 /* ring 4096: capacity < ring, wraps */
#define MESSAGE_CAPACITY 4000
#define STREAM_RECORDS	 10000
#define MESSAGE_RECORDS	 20000
#define PHASE_SECONDS	 30 /* the longest wait for a contended state */
#define WATCHDOG_SECONDS 240
#define MSG_MAGIC	 0x4d534731u /* "MSG1" */

/* ------------------------------------------------------------ the run */

static struct run {
	unsigned kind;
	size_t capacity;
	uint32_t records; /* per writer */
	void *base;	  /* the one mirrored mapping of the object */
	size_t object_size;
	struct pipe_shared *sh;
	char *ring_lo, *ring_hi; /* where a reservation may point */
	/* stream: the word number of each record's first word, per writer;
	 * first[id][records] is the writer's word count */
	uint64_t *first[WRITERS];
	uint64_t units; /* words (stream) or messages over all writers */
	_Atomic unsigned attached;
	_Atomic int pause_readers, pause_writers;
	_Atomic unsigned writers_closing;
	_Atomic uint64_t progress; /* units read */
} run;

static _Atomic int finished; /* for the watchdog */

struct writer {
	pthread_t thread;
	uint32_t id;
	uint64_t bytes; /* payload written */
	unsigned long eagain, etimedout, reserves, commit0, polls;
};

struct reader {
	pthread_t thread;
	uint32_t id;
	uint8_t *seen[WRITERS]; /* bitmaps: words (stream) or messages */
	uint64_t next[WRITERS]; /* the least unit number still allowed */
	uint64_t bytes, units;
	unsigned long eagain, etimedout, emsgsize, peeks, release0, polls;
};

static struct writer writers[WRITERS];
static struct reader readers[READERS];

static void pause_while(_Atomic int *flag)
{
	while (atomic_load_explicit(flag, memory_order_relaxed))
		t_sleep_ms(1);
}

/* Return from the start gate when every thread has its handle (release /
 * acquire: all attachments are visible before any data moves, so end of
 * file cannot come before the last writer attached). */
static void start_gate(void)
{
	atomic_fetch_add_explicit(&run.attached, 1, memory_order_release);
	while (atomic_load_explicit(&run.attached, memory_order_acquire) <
	       WRITERS + READERS)
		t_sleep_ms(1);
}

static shmpipe *open_shared(unsigned flags)
{
	shmpipe *h;
	T_OK(shmpipe__pipe_open_memory(&h, run.base, run.object_size, flags));
	return h;
}

/* A timeout for one call: -1, 0 or 1..3 ms. */
static int pick_timeout(uint64_t *rng)
{
	uint64_t r = t_random(rng) % 4;
	return r == 0 ? -1 : r == 1 ? 0 : (int)(1 + t_random(rng) % 3);
}

/* A call that found nothing in time: the error must match the timeout. */
static void count_timeout(long long r, int timeout, unsigned long *eagain,
			  unsigned long *etimedout)
{
	if (timeout == -1)
		t_fail(__FILE__, __LINE__, "a call without timeout: %lld (%s)",
		       r, shmpipe_errname((int)r));
	if (timeout == 0) {
		T_EQ(r, -EAGAIN);
		(*eagain)++;
		sched_yield();
	} else {
		T_EQ(r, -ETIMEDOUT);
		(*etimedout)++;
	}
}

static void wait_ready(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;
	while ((n = poll(&p, 1, 1000)) < 0 && errno == EINTR)
		;
	T_ASSERT(n >= 0); /* 0: not ready in a second; the call will say */
}

/* ------------------------------------------------------------ records */

/* Stream: record (id, seq) is this many 8-byte words, up to twice the
 * capacity; a few are longer than the capacity. */
static uint32_t record_words(uint32_t id, uint32_t seq)
{
	uint64_t s = ((uint64_t)id << 32 | seq) ^ 0x7265636fu;
	uint64_t r = t_random(&s) % 100, x = t_random(&s);
	uint32_t cap = (uint32_t)(run.capacity / 8);
	if (r < 70)
		return 1 + (uint32_t)(x % 16);
	if (r < 96)
		return 17 + (uint32_t)(x % (cap - 16));
	return cap + 1 + (uint32_t)(x % cap);
}

/* A word: id (6 bits), seq (22), index (16), check (20). */
static uint64_t word_make(uint32_t id, uint32_t seq, uint32_t idx)
{
	uint64_t s = (uint64_t)id << 48 ^ (uint64_t)seq << 16 ^ idx;
	uint64_t check = t_random(&s) & 0xfffff;
	return (uint64_t)id << 58 | (uint64_t)seq << 36 | (uint64_t)idx << 20 |
	       check;
}

/* Message: the payload length of record (id, seq), 24 up to the largest
 * message that fits (capacity - 8), rarely a multiple of 8. */
static size_t message_len(uint32_t id, uint32_t seq)
{
	uint64_t s = ((uint64_t)id << 32 | seq) ^ 0x6d657373u;
	uint64_t r = t_random(&s) % 100, x = t_random(&s);
	size_t max = run.capacity - 8;
	if (r < 60)
		return 24 + x % 77;
	if (r < 90)
		return 101 + x % 900;
	return 1001 + x % (max - 1000);
}

struct message_header {
	uint32_t magic, id, seq, len;
	uint64_t checksum; /* FNV-1a of the bytes after the header */
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void message_make(uint8_t *buf, uint32_t id, uint32_t seq, size_t len)
{
	uint64_t s = (uint64_t)id << 32 | seq;
	for (size_t i = sizeof(struct message_header); i < len; i += 8) {
		uint64_t v = t_random(&s);
		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
	struct message_header h = { .magic = MSG_MAGIC, .id = id, .seq = seq };
	h.len = (uint32_t)len;
	h.checksum = fnv1a(buf + sizeof(h), len - sizeof(h));
	memcpy(buf, &h, sizeof(h));
}

/* The bytes of record (id, seq) into @buf; its length. */
static size_t record_make(uint8_t *buf, uint32_t id, uint32_t seq)
{
	if (run.kind == SHMPIPE_MESSAGE) {
		size_t len = message_len(id, seq);
		message_make(buf, id, seq, len);
		return len;
	}
	uint32_t n = record_words(id, seq);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t w = word_make(id, seq, i);
		memcpy(buf + 8 * (size_t)i, &w, 8);
	}
	return 8 * (size_t)n;
}

static void mark(struct reader *rd, uint32_t id, uint64_t unit)
{
	T_ASSERT(unit >= rd->next[id]); /* per writer, in order, once */
	rd->next[id] = unit + 1;
	rd->seen[id][unit / 8] |= (uint8_t)(1u << (unit % 8));
}

/* Check the @n bytes a stream read or peek gave. */
static void stream_check(struct reader *rd, const uint8_t *p, size_t n)
{
	T_EQ(n % 8, 0);
	size_t words = n / 8;
	for (size_t i = 0; i < words; i++) {
		uint64_t w;
		memcpy(&w, p + 8 * i, 8);
		uint32_t id = (uint32_t)(w >> 58),
			 seq = (uint32_t)(w >> 36) & 0x3fffff,
			 idx = (uint32_t)(w >> 20) & 0xffff;
		if (id >= WRITERS || seq >= run.records ||
		    w != word_make(id, seq, idx))
			t_fail(__FILE__, __LINE__,
			       "reader %u: bad word %#llx at byte %zu of %zu",
			       rd->id, (unsigned long long)w, 8 * i, n);
		uint32_t nw = record_words(id, seq);
		T_ASSERT(idx < nw);
		mark(rd, id, run.first[id][seq] + idx);
		/* A write of at most the capacity is atomic: within one read
		 * its words are contiguous. */
		if (8 * (size_t)nw > run.capacity) {
			continue;
		}
		if (idx + 1 < nw && i + 1 < words) {
			uint64_t next;
			memcpy(&next, p + 8 * (i + 1), 8);
			if (next != word_make(id, seq, idx + 1))
				t_fail(__FILE__, __LINE__,
				       "reader %u: writer %u record %u (%u "
				       "words) interleaved after word %u",
				       rd->id, id, seq, nw, idx);
		}
		if (idx > 0 && i > 0) {
			uint64_t prev;
			memcpy(&prev, p + 8 * (i - 1), 8);
			if (prev != word_make(id, seq, idx - 1))
				t_fail(__FILE__, __LINE__,
				       "reader %u: writer %u record %u (%u "
				       "words) interleaved before word %u",
				       rd->id, id, seq, nw, idx);
		}
	}
	rd->bytes += n;
	rd->units += words;
	atomic_fetch_add_explicit(&run.progress, words, memory_order_relaxed);
}

/* Check one message of @n bytes. */
static void message_check(struct reader *rd, const uint8_t *p, size_t n)
{
	struct message_header h;
	T_ASSERT(n >= sizeof(h));
	memcpy(&h, p, sizeof(h));
	if (h.magic != MSG_MAGIC || h.id >= WRITERS || h.seq >= run.records ||
	    h.len != n || n != message_len(h.id, h.seq) ||
	    h.checksum != fnv1a(p + sizeof(h), n - sizeof(h)))
		t_fail(__FILE__, __LINE__,
		       "reader %u: bad message of %zu bytes: magic %#x writer "
		       "%u seq %u len %u",
		       rd->id, n, h.magic, h.id, h.seq, h.len);
	mark(rd, h.id, h.seq);
	rd->bytes += n;
	rd->units++;
	atomic_fetch_add_explicit(&run.progress, 1, memory_order_relaxed);
}

/* Check bytes that stay in the pipe (peeked, released 0): valid, not
 * counted (another reader will count them). */
static void look(const uint8_t *p, size_t n)
{
	if (run.kind == SHMPIPE_MESSAGE) {
		struct message_header h;
		T_ASSERT(n >= sizeof(h));
		memcpy(&h, p, sizeof(h));
		T_ASSERT(h.magic == MSG_MAGIC && h.len == n);
		T_ASSERT(h.checksum == fnv1a(p + sizeof(h), n - sizeof(h)));
		return;
	}
	T_EQ(n % 8, 0);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		uint32_t id = (uint32_t)(w >> 58),
			 seq = (uint32_t)(w >> 36) & 0x3fffff,
			 idx = (uint32_t)(w >> 20) & 0xffff;
		T_ASSERT(w == word_make(id, seq, idx));
	}
}

static void check_unit(struct reader *rd, const uint8_t *p, size_t n)
{
	if (run.kind == SHMPIPE_STREAM)
		stream_check(rd, p, n);
	else
		message_check(rd, p, n);
}

/* ------------------------------------------------------------ writers */

/* Write @len bytes; a stream record longer than the capacity may go in
 * pieces when the call has a timeout. Each attempt picks its way anew (a
 * writer retrying with timeout 0 forever would never sleep): blocking,
 * timeout 0, 1..3 ms, or poll then timeout 0. */
static void write_record(struct writer *wr, shmpipe *h, const uint8_t *buf,
			 size_t len, uint64_t *rng)
{
	size_t done = 0;
	while (done < len) {
		uint64_t mode = t_random(rng) % 100;
		int timeout = mode < 35	  ? -1
			      : mode < 55 ? 0
					  : (int)(1 + mode % 3);
		if (mode >= 85) {
			int fd = shmpipe_fd(h);
			T_OK(fd);
			wait_ready(fd, POLLOUT);
			wr->polls++;
			timeout = 0;
		}
		ssize_t r = shmpipe_write(h, buf + done, len - done, timeout);
		if (r == -EAGAIN || r == -ETIMEDOUT) {
			count_timeout(r, timeout, &wr->eagain, &wr->etimedout);
			continue;
		}
		T_OK(r);
		T_ASSERT(r > 0);
		if (timeout == -1 || len - done <= run.capacity)
			T_EQ(r, len - done); /* all or nothing */
		if (run.kind == SHMPIPE_STREAM)
			T_EQ(r % 8, 0); /* whole words: room is too */
		done += (size_t)r;
	}
}

/* The longest reservation: the capacity, or the longest message (its
 * 8-byte header and padding must fit too; capacities are whole words). */
static size_t reserve_max(void)
{
	return run.kind == SHMPIPE_STREAM ? run.capacity : run.capacity - 8;
}

static void reserve_record(struct writer *wr, shmpipe *h, uint32_t seq,
			   size_t len, uint64_t *rng)
{
	size_t extra = (size_t)(t_random(rng) % (reserve_max() - len + 1));
	if (run.kind == SHMPIPE_STREAM)
		extra &= ~(size_t)7; /* keep the stream in whole words */
	size_t want = len + extra;
	int zero_first = t_random(rng) % 10 == 0;
	for (;;) {
		int timeout = pick_timeout(rng);
		void *ptr;
		ssize_t r = shmpipe_reserve(h, &ptr, want, timeout);
		if (r == -EAGAIN || r == -ETIMEDOUT) {
			count_timeout(r, timeout, &wr->eagain, &wr->etimedout);
			continue;
		}
		T_EQ(r, want);
		char *at = ptr;
		T_ASSERT(at >= run.ring_lo && at + want <= run.ring_hi);
		wr->reserves++;
		if (zero_first) { /* scribble, publish nothing, unlock */
			zero_first = 0;
			memset(ptr, 0xa5, want);
			T_EQ(shmpipe_commit(h, 0), 0);
			wr->commit0++;
			continue;
		}
		record_make(ptr, wr->id, seq);
		T_EQ(shmpipe_commit(h, len), len);
		return;
	}
}

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	shmpipe *h = open_shared(SHMPIPE_WRITE);
	if (wr->id == 0)
		shmpipe_set_spin(h, 20);
	uint64_t rng = 0x77726974ull + wr->id + 100 * run.kind;
	uint8_t *buf = malloc(2 * run.capacity + 8);
	T_ASSERT(buf);
	start_gate();
	for (uint32_t seq = 0; seq < run.records; seq++) {
		pause_while(&run.pause_writers);
		size_t len = record_make(buf, wr->id, seq);
		if (t_random(&rng) % 4 == 0 && len <= reserve_max())
			reserve_record(wr, h, seq, len, &rng);
		else
			write_record(wr, h, buf, len, &rng);
		wr->bytes += len;
	}
	free(buf);
	/* Before the detach that readers may see as end of file. */
	atomic_fetch_add_explicit(&run.writers_closing, 1,
				  memory_order_relaxed);
	shmpipe_close(h);
	return NULL;
}

/* ------------------------------------------------------------ readers */

/* A stream read size: whole words, 1 word up to twice the capacity. */
static size_t read_size(uint64_t *rng)
{
	if (run.kind == SHMPIPE_MESSAGE)
		return run.capacity;
	return 8 * (1 + (size_t)(t_random(rng) % (run.capacity / 4)));
}

/* One peek and release: >0 done, 0 end of file, <0 nothing in time. */
static ssize_t peek_release(struct reader *rd, shmpipe *h, int timeout,
			    uint64_t *rng)
{
	const void *ptr;
	ssize_t n = shmpipe_peek(h, &ptr, timeout);
	if (n <= 0)
		return n;
	rd->peeks++;
	const uint8_t *p = ptr;
	T_ASSERT((const char *)p >= run.ring_lo &&
		 (const char *)p + n <= run.ring_hi);
	if (t_random(rng) % 8 == 0) { /* look, keep: it stays for anyone */
		look(p, (size_t)n);
		T_EQ(shmpipe_release(h, 0), 0);
		rd->release0++;
		return n;
	}
	size_t take = (size_t)n;
	if (run.kind == SHMPIPE_STREAM)
		take = 8 * (1 + (size_t)(t_random(rng) % ((size_t)n / 8)));
	check_unit(rd, p, take); /* still in the pipe: our lock holds it */
	size_t rel = run.kind == SHMPIPE_STREAM
			     ? take
			     : 1 + (size_t)(t_random(rng) % take);
	T_EQ(shmpipe_release(h, rel), 0);
	return n;
}

/* One read step of mode @mode: >0 done, 0 end of file, <0 nothing. */
static ssize_t read_step(struct reader *rd, shmpipe *h, uint8_t *buf,
			 uint64_t mode, uint64_t *rng, int *timeout)
{
	size_t len = read_size(rng);
	ssize_t n;
	*timeout = mode < 25 ? -1 : mode < 40 ? 0 : (int)(1 + mode % 3);
	if (mode >= 55 && mode < 75) {
		*timeout = pick_timeout(rng);
		return peek_release(rd, h, *timeout, rng);
	}
	if (mode >= 75 && mode < 85) { /* size first, then take it */
		*timeout = -1;
		n = shmpipe_next_size(h, -1);
		if (n <= 0)
			return n;
		T_ASSERT((size_t)n <= run.capacity);
		len = (size_t)n;
		*timeout = 0; /* another reader may have taken it */
	} else if (mode >= 85 && mode < 92 && run.kind == SHMPIPE_MESSAGE) {
		len = 64; /* often too small: -EMSGSIZE, it stays */
		*timeout = -1;
	} else if (mode >= 92) {
		int fd = shmpipe_fd(h);
		T_OK(fd);
		wait_ready(fd, POLLIN);
		rd->polls++;
		*timeout = 0;
	}
	n = shmpipe_read(h, buf, len, *timeout);
	if (n == -EMSGSIZE) {
		T_EQ(run.kind, SHMPIPE_MESSAGE);
		rd->emsgsize++;
		/* Another reader may take it first: any size, or none. */
		n = shmpipe_next_size(h, 0);
		T_ASSERT(n >= 0 || n == -EAGAIN);
		T_ASSERT(n <= (ssize_t)run.capacity);
		return n == 0 ? 0 : 1; /* done: read it whole next time */
	}
	if (n > 0)
		check_unit(rd, buf, (size_t)n);
	return n;
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	shmpipe *h = open_shared(SHMPIPE_READ);
	if (rd->id == 0)
		shmpipe_set_spin(h, 20);
	uint64_t rng = 0x72656164ull + rd->id + 100 * run.kind;
	uint8_t *buf = malloc(2 * run.capacity + 8);
	T_ASSERT(buf);
	start_gate();
	for (;;) {
		pause_while(&run.pause_readers);
		int timeout;
		ssize_t n = read_step(rd, h, buf, t_random(&rng) % 100, &rng,
				      &timeout);
		if (n == 0)
			break;
		if (n < 0)
			count_timeout(n, timeout, &rd->eagain, &rd->etimedout);
	}
	/* End of file: every writer had begun to close (its count comes
	 * before its detach, which our end of file saw). */
	T_EQ(atomic_load_explicit(&run.writers_closing, memory_order_relaxed),
	     WRITERS);
	free(buf);
	shmpipe_close(h);
	return NULL;
}

/* ------------------------------------------------------------ monitor */

/* Whether a call of a @role handle sleeps in the pipe's wait (its slot's
 * waiting word: the notify threads do not set it) while the side's lock
 * word holds the waiters bit (another thread queued on it, on the slow
 * path of shmpipe__lock(), which sleeps on the futex). */
static int contended(unsigned role, const struct pipe_lock *l)
{
	int asleep = 0;
	for (int i = 0; i < PIPE_SLOTS; i++)
		asleep |= atomic_load_explicit(&run.sh->slots[i].waiting,
					       memory_order_relaxed) == role;
	return asleep && (atomic_load_explicit(&l->word, memory_order_relaxed) &
			  LOCK_WAITERS);
}

static int readers_contended(void)
{
	return contended(ROLE_READ, &run.sh->reader_lock);
}

static int writers_contended(void)
{
	return contended(ROLE_WRITE, &run.sh->writer_lock);
}

/* Hold one side back (@flag) until the other side is seen sleeping on
 * both its wait word and its lock word. */
static void contend(_Atomic int *flag, int (*contended)(void), const char *what)
{
	atomic_store_explicit(flag, 1, memory_order_relaxed);
	double end = t_now() + PHASE_SECONDS;
	while (!contended()) {
		if (t_now() > end)
			t_fail(__FILE__, __LINE__, "%s never seen within %d s",
			       what, PHASE_SECONDS);
		t_sleep_ms(1);
	}
	atomic_store_explicit(flag, 0, memory_order_relaxed);
}

static void wait_progress(uint64_t units)
{
	while (atomic_load_explicit(&run.progress, memory_order_relaxed) <
	       units)
		t_sleep_ms(2);
}

static void *watchdog_main(void *arg)
{
	(void)arg;
	double end = t_now() + WATCHDOG_SECONDS;
	while (!atomic_load_explicit(&finished, memory_order_relaxed)) {
		if (t_now() > end) {
			fprintf(stderr, "FAIL: still running after %d s\n",
				WATCHDOG_SECONDS);
			_exit(T_FAIL); /* the pipe's name is already gone */
		}
		t_sleep_ms(100);
	}
	return NULL;
}

/* ------------------------------------------------------------ prelude */

/* One thread, deterministic: timeouts on an empty and a full pipe, and
 * end of file once the only writer closed. Returns the 64-byte units
 * moved. */
static uint64_t prelude(shmpipe *r0)
{
	uint8_t buf[64] = { 0 }, in[4096];
	T_ERR(shmpipe_read(r0, in, sizeof(in), 0), EAGAIN); /* no writer yet */
	T_ERR(shmpipe_read(r0, in, sizeof(in), 20), ETIMEDOUT);
	shmpipe *w0 = open_shared(SHMPIPE_WRITE);
	T_ERR(shmpipe_read(r0, in, sizeof(in), 0), EAGAIN); /* not EOF */
	uint64_t units = 0;
	ssize_t r;
	while ((r = shmpipe_write(w0, buf, sizeof(buf), 0)) > 0) {
		T_EQ(r, sizeof(buf));
		units++;
	}
	T_EQ(r, -EAGAIN);
	T_ASSERT(units > 0);
	T_ERR(shmpipe_write(w0, buf, sizeof(buf), 20), ETIMEDOUT);
	void *ptr;
	T_ERR(shmpipe_reserve(w0, &ptr, sizeof(buf), 0), EAGAIN);
	shmpipe_close(w0);
	uint64_t got = 0;
	while ((r = shmpipe_read(r0, in, sizeof(in), 0)) > 0)
		got += (uint64_t)r;
	T_EQ(r, 0); /* drained, and the only writer is gone */
	T_EQ(got, units * sizeof(buf));
	return units;
}

/* ------------------------------------------------------------ one kind */

static void bitmap_alloc(void)
{
	run.units = 0;
	for (uint32_t id = 0; id < WRITERS; id++) {
		uint64_t *first = malloc((run.records + 1) * sizeof(*first));
		T_ASSERT(first);
		first[0] = 0;
		for (uint32_t s = 0; s < run.records; s++)
			first[s + 1] = first[s] + (run.kind == SHMPIPE_STREAM
							   ? record_words(id, s)
							   : 1);
		run.first[id] = first;
		run.units += first[run.records];
	}
	for (int i = 0; i < READERS; i++)
		for (uint32_t id = 0; id < WRITERS; id++) {
			readers[i].seen[id] =
				calloc(run.first[id][run.records] / 8 + 1, 1);
			T_ASSERT(readers[i].seen[id]);
		}
}

/* Every unit read by exactly one reader. */
static void check_totals(void)
{
	for (uint32_t id = 0; id < WRITERS; id++) {
		uint64_t n = run.first[id][run.records];
		for (uint64_t byte = 0; byte <= n / 8; byte++) {
			unsigned all = 0, twice = 0;
			for (int i = 0; i < READERS; i++) {
				unsigned b = readers[i].seen[id][byte];
				twice |= all & b;
				all |= b;
			}
			unsigned want =
				byte < n / 8 ? 0xffu : (1u << (n % 8)) - 1;
			unsigned long long unit = byte * 8;
			if (twice)
				t_fail(__FILE__, __LINE__,
				       "writer %u unit %llu read twice", id,
				       unit + (unsigned)__builtin_ctz(twice));
			if (all != want)
				t_fail(__FILE__, __LINE__,
				       "writer %u unit %llu never read", id,
				       unit + (unsigned)__builtin_ctz(want &
								      ~all));
		}
		free(run.first[id]);
		for (int i = 0; i < READERS; i++)
			free(readers[i].seen[id]);
	}
}

static unsigned long total_timeouts, total_units, total_contended;

static void run_kind(unsigned kind, size_t capacity, uint32_t records)
{
	double start = t_now();
	const char *name = t_pipe_create(
		kind == SHMPIPE_STREAM ? "stream" : "message", capacity, kind);
	shmpipe_region *region;
	T_OK(shmpipe__region_open(&region, name, SHMPIPE__TYPE_PIPE));
	T_OK(shmpipe_unlink(name)); /* the mapping is all we need */
	T_ASSERT(shmpipe__region_mirror_offset(region) > 0);

	memset(&run, 0, sizeof(run));
	memset(writers, 0, sizeof(writers));
	memset(readers, 0, sizeof(readers));
	run.kind = kind;
	run.capacity = capacity;
	run.records = records;
	run.base = shmpipe__region_base(region);
	run.object_size =
		SHMPIPE__REGION_HEADER_SIZE + shmpipe_region_size(region);
	run.sh = shmpipe_region_data(region);

	/* The handle of this thread: prelude, then stats at the end. */
	shmpipe *r0 = open_shared(SHMPIPE_READ);
	run.ring_lo = r0->g.ring;
	run.ring_hi = r0->g.ring + 2 * r0->g.ring_size;
	T_EQ(run.ring_hi,
	     (char *)run.base + run.object_size +
		     (run.object_size - shmpipe__region_mirror_offset(region)));
	uint64_t prelude_units = prelude(r0), bytes = prelude_units * 64;
	bitmap_alloc();

	/* Readers start on an empty pipe; writers hold back until readers
	 * sleep on it and on their lock. Readers hold back at 1/3 until
	 * writers sleep on the full pipe and on theirs; writers at 2/3. */
	atomic_store_explicit(&run.pause_writers, 1, memory_order_relaxed);

	for (uint32_t i = 0; i < WRITERS; i++) {
		writers[i].id = i;
		T_EQ(pthread_create(&writers[i].thread, NULL, writer_main,
				    &writers[i]),
		     0);
	}
	for (uint32_t i = 0; i < READERS; i++) {
		readers[i].id = i;
		T_EQ(pthread_create(&readers[i].thread, NULL, reader_main,
				    &readers[i]),
		     0);
	}
	contend(&run.pause_writers, readers_contended,
		"readers asleep on an empty pipe and on their lock");
	wait_progress(run.units / 3);
	contend(&run.pause_readers, writers_contended,
		"writers asleep on a full pipe and on their lock");
	wait_progress(run.units * 2 / 3);
	contend(&run.pause_writers, readers_contended,
		"readers asleep on an empty pipe and on their lock");
	total_contended += 3;

	unsigned long timeouts = 0, units = 0, polls = 0, peeks = 0,
		      reserves = 0, emsgsize = 0, commit0 = 0, release0 = 0;
	for (int i = 0; i < WRITERS; i++) {
		T_EQ(pthread_join(writers[i].thread, NULL), 0);
		bytes += writers[i].bytes;
		timeouts += writers[i].eagain + writers[i].etimedout;
		polls += writers[i].polls;
		reserves += writers[i].reserves;
		commit0 += writers[i].commit0;
	}
	uint64_t bytes_read = 0;
	for (int i = 0; i < READERS; i++) {
		T_EQ(pthread_join(readers[i].thread, NULL), 0);
		bytes_read += readers[i].bytes;
		units += readers[i].units;
		timeouts += readers[i].eagain + readers[i].etimedout;
		polls += readers[i].polls;
		peeks += readers[i].peeks;
		release0 += readers[i].release0;
		emsgsize += readers[i].emsgsize;
	}
	T_EQ(units, run.units);
	check_totals();

	struct shmpipe_stats st;
	T_OK(shmpipe_stat_handle(r0, &st));
	T_EQ(st.bytes_in, bytes);
	T_EQ(st.bytes_out, bytes);
	T_EQ(st.fill, 0);
	T_EQ(st.writers, 0);
	T_EQ(st.readers, 1); /* r0 */
	T_EQ(st.writer_lock_holder, 0);
	T_EQ(st.reader_lock_holder, 0);
	if (kind == SHMPIPE_MESSAGE) {
		T_EQ(st.messages_in,
		     prelude_units + (uint64_t)WRITERS * records);
		T_EQ(st.messages_out, st.messages_in);
	}
	shmpipe_close(r0);
	shmpipe_region_close(region);

	unsigned long records_verified = (unsigned long)WRITERS * records;
	fprintf(stderr,
		"%s: %u writers x %u records, %u readers: %lu units (%llu "
		"bytes) read once each, %lu timeouts, %lu polls, %lu peeks "
		"(%lu released 0), %lu reservations (%lu committed 0), %lu "
		"-EMSGSIZE, %.1f s\n",
		kind == SHMPIPE_STREAM ? "stream" : "message", WRITERS, records,
		READERS, units, (unsigned long long)bytes_read, timeouts, polls,
		peeks, release0, reserves, commit0, emsgsize, t_now() - start);
	T_ASSERT(peeks > 0 && reserves > 0 && polls > 0);
	total_timeouts += timeouts;
	total_units += records_verified;
}

int main(void)
{
	pthread_t watchdog;
	T_EQ(pthread_create(&watchdog, NULL, watchdog_main, NULL), 0);
	run_kind(SHMPIPE_STREAM, STREAM_CAPACITY, STREAM_RECORDS);
	run_kind(SHMPIPE_MESSAGE, MESSAGE_CAPACITY, MESSAGE_RECORDS);
	atomic_store(&finished, 1);
	T_EQ(pthread_join(watchdog, NULL), 0);
	printf("figure tsan_units_verified %lu\n", total_units);
	printf("figure tsan_timeouts %lu\n", total_timeouts);
	printf("figure tsan_contended_waits %lu\n", total_contended);
	return T_PASS;
}
