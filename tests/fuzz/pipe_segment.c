/* SPDX-License-Identifier: MIT */
/*
 * pipe_segment.c - libFuzzer target: a hostile or corrupt pipe object never
 * makes the pipe layer access memory outside it, loop forever or crash;
 * every call returns a valid result or one of its documented errors.
 *
 * The object is a heap block of exactly the object's size plus its mirror
 * (so ASan sees any overrun), opened with shmpipe__pipe_open_memory()
 * (src/pipe.h: the mirror is not kept in sync, so this checks memory
 * safety, not data). Input:
 *   [base][flags][ops n][pre n][n op pairs][patches... | raw object]
 *   base   0-127 chooses a valid object made at start-up by a real pipe
 *          (stream or message, capacities 1 to 8192, fresh, partly full,
 *          full, wrapped, with live writers and readers holding their
 *          locks); 128-255 is "raw": the rest of the input is the object;
 *   flags  bit 0 open a reader, 1 a writer, 2 and 3 exclusive, 4 the
 *          reader first, 5 spin before sleeping;
 *   pre    how many patches are applied before opening; the others are
 *          applied by PATCH ops, between calls, while handles are open;
 *   ops    read, write, peek, release, next_size, stat, room, reserve,
 *          commit, reopen, patch, calls on the wrong side, each with an
 *          argument byte (sizes, timeout 0, or 3 ms for a few calls);
 *   patch  bytes at an offset, or a known field (positions, constants,
 *          lock words, slots, the record header at head or tail) set to an
 *          interesting value, moved by a small delta, all slots taken, or
 *          a record header that is consistent but lies about its length.
 * Checked after every call (abort() otherwise, for libFuzzer to report):
 * the result is a valid count within its bounds or one of the call's
 * documented errors; the exact result where the API fixes it (EBUSY,
 * EBADF, EINVAL, commit and reserve counts, a message too large); a unit
 * read fits in the fill the object showed, and the positions moved by
 * exactly the unit reported (one thread, no other process: nothing else
 * moves them); a handle's geometry lies inside the block; pointers from
 * peek and reserve lie inside the ring and their bytes are all touched
 * (ASan); stats are sane; the library never wrote the region header or
 * the pipe's constants. Timeouts are 0 or 3 ms and exclusive opens are
 * only tried on a free lock, so an input runs in milliseconds: libFuzzer's
 * -timeout reports an endless loop.
 *
 * The corpus (tests/fuzz/corpus/pipe_segment) names bases by their index
 * in make_bases(): append new bases there, do not reorder them.
 */
#define _GNU_SOURCE
#include "pipe.h"

#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* @r is >= 0 or one of the errors listed after it. */
#define CHECK_RESULT(r, ...)                                                   \
	do {                                                                   \
		long long r_ = (long long)(r);                                 \
		if (r_ < 0 && !one_of(-r_, (const int[]){ __VA_ARGS__, 0 })) { \
			fprintf(stderr, "%s:%d: %s: unexpected %lld (%s)\n",   \
				__FILE__, __LINE__, #r, r_,                    \
				shmpipe_errname((int)r_));                     \
			abort();                                               \
		}                                                              \
	} while (0)

static int one_of(long long e, const int *list)
{
	for (; *list; list++)
		if (e == *list)
			return 1;
	return 0;
}

#define HDR		SHMPIPE__REGION_HEADER_SIZE
#define SH(field)	(HDR + offsetof(struct pipe_shared, field))
#define RH(field)	offsetof(struct shmpipe__region_header, field)
#define MAX_TIMED_CALLS 3
#define COUNT(a)	(sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ the bases */

struct base {
	unsigned char *bytes;
	size_t size;
};
static struct base bases[16];
static int nbases;

static void fill_pattern(unsigned char *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(seed + i * 7 + (i >> 8));
}

static void put(shmpipe *w, size_t len)
{
	static unsigned char buf[8192];
	fill_pattern(buf, len, (unsigned)len);
	CHECK(shmpipe_write(w, buf, len, 0) == (ssize_t)len);
}

static void take(shmpipe *r, size_t len)
{
	static unsigned char buf[8192];
	CHECK(shmpipe_read(r, buf, len, 0) > 0);
}

/* The bytes of the object @name as they are now. */
static void copy_object(const char *name)
{
	char path[SHMPIPE__PATH_MAX];
	CHECK(shmpipe__shm_path(path, SHMPIPE__PREFIX, name) == 0);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	off_t size = lseek(fd, 0, SEEK_END);
	CHECK(size > 0);
	struct base *b = &bases[nbases++];
	b->size = (size_t)size;
	b->bytes = malloc(b->size);
	CHECK(b->bytes && pread(fd, b->bytes, b->size, 0) == size);
	close(fd);
}

/* One base: a pipe of @capacity and @kind, into which @recipe writes and
 * reads. Recipes below 8 close their handles before the copy (the writer
 * gone: end of file once empty); 8 and 9 are copied with their handles
 * attached and their locks held, by a process that is alive (this one). */
static void make_base(int tag, size_t capacity, unsigned kind, int recipe)
{
	char name[64];
	snprintf(name, sizeof(name), "t-%ld-fuzzseg%d", (long)getpid(), tag);
	struct shmpipe_config cfg = { .capacity = capacity,
				      .kind = kind,
				      .flags = SHMPIPE_REPLACE };
	CHECK(shmpipe_create(name, &cfg) == 0);
	shmpipe *w = NULL, *r = NULL;
	if (recipe) {
		unsigned excl = recipe == 9 ? SHMPIPE_EXCLUSIVE : 0;
		CHECK(shmpipe_open(&w, name, SHMPIPE_WRITE | excl) == 0);
		CHECK(shmpipe_open(&r, name, SHMPIPE_READ | excl) == 0);
	}
	void *wp = NULL;
	const void *rp;
	switch (recipe) {
	case 1: /* partly full, read from */
		put(w, kind ? 100 : 1000);
		put(w, 7);
		put(w, 1);
		take(r, kind ? 100 : 300);
		break;
	case 2: /* the data wraps around the ring's end */
		for (int i = 0; i < 2; i++) {
			put(w, capacity * 3 / 4);
			take(r, capacity);
		}
		put(w, capacity * 2 / 3 - 8);
		break;
	case 3: /* full */
		if (kind == SHMPIPE_STREAM)
			put(w, capacity);
		while (kind == SHMPIPE_MESSAGE && shmpipe_room(w) >= 1)
			put(w, 1 + (size_t)shmpipe_room(w) % 5);
		break;
	case 4: /* many small messages, wrapped */
		for (int i = 0; i < 600; i++) {
			put(w, 1 + (size_t)i % 13);
			if (i % 2)
				take(r, 64);
		}
		break;
	case 8: /* live: writer in a reservation, reader in a peek */
		put(w, 500);
		CHECK(shmpipe_reserve(w, &wp, 100, 0) == 100);
		CHECK(shmpipe_peek(r, &rp, 0) > 0);
		copy_object(name);
		CHECK(shmpipe_commit(w, 0) == 0);
		CHECK(shmpipe_release(r, 0) == 0);
		break;
	case 9: /* live exclusive handles, some data */
		put(w, 10);
		put(w, 20);
		copy_object(name);
		break;
	}
	shmpipe_close(w);
	shmpipe_close(r);
	if (recipe < 8)
		copy_object(name);
	CHECK(shmpipe_unlink(name) == 0);
}

static void make_bases(void)
{
	static const struct {
		size_t capacity;
		unsigned kind;
		int recipe;
	} list[] = {
		{ 4096, SHMPIPE_STREAM, 0 },  { 4096, SHMPIPE_STREAM, 1 },
		{ 4096, SHMPIPE_STREAM, 2 },  { 4096, SHMPIPE_STREAM, 3 },
		{ 5000, SHMPIPE_STREAM, 2 },  { 1, SHMPIPE_STREAM, 3 },
		{ 4096, SHMPIPE_MESSAGE, 1 }, { 4096, SHMPIPE_MESSAGE, 2 },
		{ 100, SHMPIPE_MESSAGE, 3 },  { 16, SHMPIPE_MESSAGE, 3 },
		{ 8192, SHMPIPE_MESSAGE, 4 }, { 4096, SHMPIPE_STREAM, 8 },
		{ 4096, SHMPIPE_MESSAGE, 9 }, { 4096, SHMPIPE_MESSAGE, 0 },
	};
	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
		make_base((int)i, list[i].capacity, list[i].kind,
			  list[i].recipe);
}

/* ------------------------------------------------------------ an object */

struct seg {
	unsigned char *mem; /* the object, then its mirror's room */
	size_t object;	    /* the object's size */
	size_t mirror;	    /* its mirror offset, 0 if not sane */
	size_t block;	    /* object + object - mirror */
	/* the region header and the pipe's constants, as last patched */
	unsigned char kept[HDR + 32];
	int keep;
};

/* Lay out the object @bytes in an exact heap block with its mirror. */
static void seg_init(struct seg *s, const uint8_t *bytes, size_t size)
{
	uint64_t mirror = 0;
	if (size >= HDR)
		memcpy(&mirror, bytes + RH(mirror_offset), sizeof(mirror));
	s->object = size;
	s->mirror = mirror && mirror < size ? (size_t)mirror : 0;
	s->block = size + (s->mirror ? size - s->mirror : 0);
	s->mem = malloc(s->block ? s->block : 1);
	CHECK(s->mem);
	memcpy(s->mem, bytes, size);
	if (s->mirror)
		memcpy(s->mem + size, s->mem + s->mirror, size - s->mirror);
	s->keep = size >= sizeof(s->kept);
}

/* Set the byte at @off of the object (or of its mirror: the same byte in
 * a real mapping), in both views. */
static void poke(struct seg *s, size_t off, unsigned char v)
{
	if (off >= s->object) {
		if (!s->mirror)
			return;
		off = (off - s->object) % (s->object - s->mirror) + s->mirror;
	}
	s->mem[off] = v;
	if (s->mirror && off >= s->mirror)
		s->mem[s->object + off - s->mirror] = v;
}

static uint64_t peek_word(const struct seg *s, size_t off, unsigned width)
{
	uint64_t v = 0; /* little-endian, as the machines this runs on */
	if (off + width <= s->object)
		memcpy(&v, s->mem + off, width);
	return v;
}

static void poke_word(struct seg *s, size_t off, unsigned width, uint64_t v)
{
	for (unsigned i = 0; i < width; i++)
		poke(s, off + i, (unsigned char)(v >> (8 * i)));
}

/* What the library may never write: the region header and the constants
 * (kind, slot count, capacity, ring size and offset) of the pipe. */
static void keep_now(struct seg *s)
{
	if (s->keep)
		memcpy(s->kept, s->mem, sizeof(s->kept));
}

static void check_kept(const struct seg *s)
{
	if (s->keep)
		CHECK(memcmp(s->kept, s->mem, sizeof(s->kept)) == 0);
}

/* -------------------------------------------------------------- patches */

struct field {
	size_t off;
	unsigned width;
};

/* The fields a patch may name: the region header's and the pipe's own,
 * then those of a few slots, the bridge's, and the record header (length,
 * check word) at head and at tail, wherever they are now. */
static const struct field fields[] = {
	{ RH(magic), 8 },
	{ RH(version), 4 },
	{ RH(type), 4 },
	{ RH(header_size), 8 },
	{ RH(data_size), 8 },
	{ RH(mirror_offset), 8 },
	{ SH(kind), 4 },
	{ SH(slot_count), 4 },
	{ SH(capacity), 8 },
	{ SH(ring_size), 8 },
	{ SH(ring_offset), 8 },
	{ SH(tail), 8 },
	{ SH(messages_in), 8 },
	{ SH(bytes_in), 8 },
	{ SH(high_water), 8 },
	{ SH(head), 8 },
	{ SH(messages_out), 8 },
	{ SH(bytes_out), 8 },
	{ SH(data_seq), 4 },
	{ SH(readers_waiting), 4 },
	{ SH(space_seq), 4 },
	{ SH(writers_waiting), 4 },
	{ SH(writers_ever), 4 },
	{ SH(writer_lock.word), 4 },
	{ SH(writer_lock.holder_pid), 4 },
	{ SH(reader_lock.word), 4 },
	{ SH(reader_lock.holder_pid), 4 },
};
static const unsigned patched_slots[] = { 0, 1, 2, 3, PIPE_SLOTS - 1 };
static const struct field slot_fields[] = {
	{ offsetof(struct pipe_slot, owner), 8 },
	{ offsetof(struct pipe_slot, start_time), 8 },
	{ offsetof(struct pipe_slot, waiting), 4 },
	{ offsetof(struct pipe_slot, generation), 4 },
};
static const struct field bridge_fields[] = {
	{ SH(bridge.pid), 4 },
	{ SH(bridge.active), 8 },
};
#define SLOT_FIELDS_AT COUNT(fields)
#define BRIDGE_FIELDS_AT                                                       \
	(SLOT_FIELDS_AT + COUNT(patched_slots) * COUNT(slot_fields))
#define RECORD_FIELDS_AT (BRIDGE_FIELDS_AT + COUNT(bridge_fields))
#define NFIELDS		 (RECORD_FIELDS_AT + 4)

static struct field field_of(const struct seg *s, unsigned i)
{
	i %= NFIELDS;
	if (i < SLOT_FIELDS_AT)
		return fields[i];
	if (i < BRIDGE_FIELDS_AT) {
		unsigned k = i - (unsigned)SLOT_FIELDS_AT;
		struct field f = slot_fields[k % COUNT(slot_fields)];
		f.off += SH(slots[patched_slots[k / COUNT(slot_fields)]]);
		return f;
	}
	if (i < RECORD_FIELDS_AT)
		return bridge_fields[i - BRIDGE_FIELDS_AT];
	size_t ring = s->mirror ? s->object - s->mirror : 0;
	if (!ring)
		return fields[0];
	i -= (unsigned)RECORD_FIELDS_AT;
	uint64_t pos = peek_word(s, i < 2 ? SH(head) : SH(tail), 8);
	struct field f = { s->mirror + pos % ring + 4 * (i % 2), 4 };
	return f;
}

/* The first attached slot, for values that name a live holder. */
static unsigned first_slot(const struct seg *s)
{
	for (unsigned i = 0; i < PIPE_SLOTS; i++)
		if (peek_word(s, SH(slots[i].owner), 8))
			return i;
	return 0;
}

static uint64_t interesting(const struct seg *s, uint8_t which, uint64_t cur)
{
	uint64_t cap = peek_word(s, SH(capacity), 8);
	uint64_t tail = peek_word(s, SH(tail), 8);
	uint64_t head = peek_word(s, SH(head), 8);
	unsigned slot = first_slot(s);
	uint32_t gen = (uint32_t)peek_word(s, SH(slots[slot].generation), 4);
	const uint64_t values[] = {
		0,
		1,
		UINT64_MAX,
		cap,
		cap + 1,
		cap - 1,
		peek_word(s, SH(ring_size), 8),
		tail,
		head,
		head + cap,
		tail - cap,
		1ull << 63,
		1ull << 31,
		UINT32_MAX,
		(uint64_t)getpid(),
		LOCK_OWNER(slot, gen), /* the first attached slot holds it */
		~cur,
		cur + 8,
		cur - 8,
		8,
		7,
		SLOT_OWNER(getpid(), ROLE_WRITE),
		SLOT_OWNER(getpid(), ROLE_READ),
		cur | LOCK_WAITERS,
		tail + 8,
		head - 8,
		SLOT_OWNER(0x3ffffff0, ROLE_WRITE), /* no such pid */
		tail - head,
	};
	return values[which % COUNT(values)];
}

/* Apply the patch at *@at in @p (@len bytes), moving *@at past it. */
static void apply_patch(struct seg *s, const uint8_t *p, size_t len, size_t *at)
{
	if (*at >= len || !s->object)
		return;
	uint8_t kind = p[(*at)++];
	size_t left = len - *at;
	const uint8_t *q = p + *at;
	switch (kind % 6) {
	case 0: { /* bytes at an offset */
		if (left < 2) {
			*at = len;
			return;
		}
		size_t off = (size_t)(q[0] | q[1] << 8) % s->object;
		size_t n = 1 + (size_t)(kind >> 3) % 8;
		if (n > left - 2)
			n = left - 2;
		for (size_t i = 0; i < n; i++)
			poke(s, off + i, q[2 + i]);
		*at += 2 + n;
		break;
	}
	case 1:	  /* a field set to an interesting value */
	case 2: { /* a field moved by a small delta */
		if (left < 2) {
			*at = len;
			return;
		}
		struct field f = field_of(s, q[0]);
		uint64_t cur = peek_word(s, f.off, f.width);
		uint64_t v = kind % 6 == 1
				     ? interesting(s, q[1], cur)
				     : cur + (uint64_t)(int64_t)(int8_t)q[1];
		poke_word(s, f.off, f.width, v);
		*at += 2;
		break;
	}
	case 3: { /* a field set to any value */
		if (left < 1 + 8) {
			*at = len;
			return;
		}
		struct field f = field_of(s, q[0]);
		uint64_t v;
		memcpy(&v, q + 1, 8);
		poke_word(s, f.off, f.width, v);
		*at += 9;
		break;
	}
	case 5: { /* a record header at head or tail that is consistent
		   * (length, ~length) but says what the fuzzer likes */
		if (left < 2) {
			*at = len;
			return;
		}
		struct field f = field_of(s, RECORD_FIELDS_AT + 2 * (q[0] & 1));
		uint32_t n = (uint32_t)(interesting(s, q[1], 0) + (q[0] >> 1));
		if (f.off != fields[0].off) {
			poke_word(s, f.off, 4, n);
			poke_word(s, f.off + 4, 4, ~n);
		}
		*at += 2;
		break;
	}
	default: { /* every slot taken (or freed) */
		if (left < 1) {
			*at = len;
			return;
		}
		static const pid_t pids[] = { 0, 0, 1, 0x3ffffff0 };
		pid_t pid = pids[q[0] % 4] ? pids[q[0] % 4] : getpid();
		uint64_t owner = q[0] % 4 == 0
					 ? 0
					 : SLOT_OWNER(pid, 1 + (q[0] >> 2) % 2);
		for (unsigned i = 0; i < PIPE_SLOTS; i++)
			poke_word(s, SH(slots[i].owner), 8, owner);
		*at += 1;
		break;
	}
	}
}

/* ------------------------------------------------------------------ ops */

enum {
	OP_READ,
	OP_WRITE,
	OP_PEEK,
	OP_RELEASE,
	OP_NEXT_SIZE,
	OP_STAT,
	OP_ROOM,
	OP_RESERVE,
	OP_COMMIT,
	OP_REOPEN,
	OP_PATCH,
	OP_WRONG_SIDE,
	OP_COUNT
};

struct run {
	struct seg s;
	shmpipe *rd, *wr;
	size_t peeked;	 /* the reader's peek open: its length, else 0 */
	size_t reserved; /* the writer's reservation open: its length */
	uint64_t peek_head, reserve_tail; /* positions when they began */
	int timed_left;			  /* calls that may still wait */
	const uint8_t *patches;
	size_t patches_len, patch_at;
};

/* 0, or for a few calls 3 ms: long enough to really sleep (pipe.c
 * counts the time left in whole milliseconds, so 1 ms never waits). */
static int timeout_of(struct run *run, uint8_t arg)
{
	if (!(arg & 0x80) || run->timed_left <= 0)
		return 0;
	run->timed_left--;
	return 3;
}

/* A length: small, around the capacities, or around the room now (at
 * most 128 KiB: the buffers are ours). */
static size_t length_of(shmpipe *p, uint8_t arg)
{
	static const size_t sizes[] = { 0,    1,    2,	  7,	8,
					9,    15,   16,	  17,	100,
					1000, 4088, 4095, 4096, 4097,
					5000, 8192, 8193, 65536 };
	unsigned i = (arg & 0x7f) % 24;
	if (i < sizeof(sizes) / sizeof(sizes[0]))
		return sizes[i];
	size_t cap = shmpipe_capacity(p), len;
	ssize_t room = shmpipe_room(p);
	switch (i) {
	case 19:
		len = cap;
		break;
	case 20:
		len = cap - 8;
		break;
	case 21:
		len = cap + 1;
		break;
	case 22:
		len = room > 0 ? (size_t)room : 1;
		break;
	default:
		len = room >= 0 ? (size_t)room + 1 : 2;
		break;
	}
	return len < (1u << 17) ? len : 1u << 17;
}

static uint64_t round8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* @ptr and the @len bytes from it lie inside @p's ring and its mirror. */
static void check_in_ring(const shmpipe *p, const void *ptr, size_t len)
{
	const char *c = ptr, *ring = p->g.ring;
	CHECK(c >= ring && c <= ring + 2 * p->g.ring_size);
	CHECK(len <= (size_t)(ring + 2 * p->g.ring_size - c));
}

/* The geometry a handle took from the object lies inside the block. */
static void check_handle(const struct run *run, const shmpipe *p)
{
	const struct seg *s = &run->s;
	CHECK(p->g.kind == SHMPIPE_STREAM || p->g.kind == SHMPIPE_MESSAGE);
	CHECK(p->g.capacity >= 1 && p->g.capacity <= p->g.ring_size);
	CHECK(s->mirror && p->g.ring == (char *)s->mem + s->mirror);
	CHECK(p->g.ring_size == s->object - s->mirror);
	CHECK(shmpipe_capacity(p) == p->g.capacity);
	CHECK(shmpipe_kind(p) == p->g.kind);
}

static void close_side(struct run *run, int writer)
{
	if (writer) {
		shmpipe_close(run->wr);
		run->wr = NULL;
		run->reserved = 0;
	} else {
		shmpipe_close(run->rd);
		run->rd = NULL;
		run->peeked = 0;
	}
}

/* (Re)open a side; exclusive only while its lock is free, so that an
 * input never waits the second that an exclusive open may take. */
static void open_side(struct run *run, int writer, int exclusive, int spin)
{
	struct seg *s = &run->s;
	close_side(run, writer);
	unsigned flags = writer ? SHMPIPE_WRITE : SHMPIPE_READ;
	size_t word = writer ? SH(writer_lock.word) : SH(reader_lock.word);
	if (exclusive && peek_word(s, word, 4) == 0)
		flags |= SHMPIPE_EXCLUSIVE;
	shmpipe *p = (shmpipe *)&run->s; /* must be overwritten */
	int r = shmpipe__pipe_open_memory(&p, s->mem, s->object, flags);
	CHECK_RESULT(r, EBADMSG, EPROTO, EUSERS, EBUSY, ENOMEM);
	if (r < 0) {
		CHECK(p == NULL);
		return;
	}
	CHECK(r == 0 && p);
	check_handle(run, p);
	if (spin)
		CHECK(shmpipe_set_spin(p, 20) == 0); /* waits spin first */
	if (writer)
		run->wr = p;
	else
		run->rd = p;
}

/* The positions as the object holds them now. One thread, no other
 * process: a call sees exactly these, and must move them by exactly the
 * unit it reports. */
static uint64_t tail_now(const struct run *run)
{
	return peek_word(&run->s, SH(tail), 8);
}

static uint64_t head_now(const struct run *run)
{
	return peek_word(&run->s, SH(head), 8);
}

/* The bytes a unit of @len occupies (record header and padding). */
static uint64_t span_of(const shmpipe *p, uint64_t len)
{
	return p->g.kind == SHMPIPE_MESSAGE ? 8 + round8(len) : len;
}

/* What a reader may find at @head: the object's tail - head, or more if
 * the tail it saw in an earlier call (positions only grow, so pipe.c may
 * trust it) is further on: a PATCH may have moved the tail back since. */
static uint64_t reader_fill(const struct run *run, const shmpipe *p,
			    uint64_t head)
{
	uint64_t fill = tail_now(run) - head;
	uint64_t seen = p->seen_tail - head;
	return seen <= p->g.capacity && (fill > p->g.capacity || seen > fill)
		       ? seen
		       : fill;
}

/* A unit of @len reported to a reader fits in what was there. */
static void check_unit(const shmpipe *p, uint64_t len, uint64_t fill)
{
	CHECK(len >= 1 && len <= p->g.capacity);
	CHECK(span_of(p, len) <= fill);
}

static void op_read(struct run *run, uint8_t arg)
{
	shmpipe *p = run->rd;
	size_t len = length_of(p, arg);
	int t = timeout_of(run, arg);
	unsigned char *buf = malloc(len ? len : 1);
	CHECK(buf);
	uint64_t head = head_now(run), fill = reader_fill(run, p, head);
	ssize_t r = shmpipe_read(p, buf, len, t);
	if (run->peeked) {
		CHECK(r == -EBUSY);
	} else if (len == 0) {
		CHECK(r == 0);
	} else {
		CHECK_RESULT(r, EAGAIN, ETIMEDOUT, EMSGSIZE, EBADMSG);
		CHECK(r <= (ssize_t)len);
		if (p->g.kind == SHMPIPE_STREAM)
			CHECK(r != -EMSGSIZE);
		if (r > 0) {
			check_unit(p, (uint64_t)r, fill);
			CHECK(head_now(run) == head + span_of(p, (uint64_t)r));
		}
	}
	free(buf);
}

static void op_write(struct run *run, uint8_t arg)
{
	shmpipe *p = run->wr;
	size_t len = length_of(p, arg);
	int t = timeout_of(run, arg);
	unsigned char *buf = malloc(len ? len : 1);
	CHECK(buf);
	fill_pattern(buf, len, arg);
	uint64_t tail = tail_now(run);
	ssize_t r = shmpipe_write(p, buf, len, t);
	int message = p->g.kind == SHMPIPE_MESSAGE;
	if (run->reserved) {
		CHECK(r == -EBUSY);
	} else if (len == 0) {
		CHECK(r == 0);
	} else if (message && 8 + round8(len) > p->g.capacity) {
		CHECK(r == -EMSGSIZE);
	} else {
		CHECK_RESULT(r, EAGAIN, ETIMEDOUT, EBADMSG);
		if (r >= 0 && (message || len <= p->g.capacity))
			CHECK(r == (ssize_t)len); /* atomic: all or nothing */
		CHECK(r != 0 && r <= (ssize_t)len);
		if (r > 0)
			CHECK(tail_now(run) == tail + span_of(p, (uint64_t)r));
		if (r < 0)
			CHECK(tail_now(run) == tail); /* nothing written */
	}
	free(buf);
}

/* Bytes peeked are read into here, so none of the reads is optimised away. */
static volatile unsigned char peek_sink;

static void op_peek(struct run *run, uint8_t arg)
{
	shmpipe *p = run->rd;
	const void *ptr = NULL;
	uint64_t head = head_now(run), fill = reader_fill(run, p, head);
	ssize_t r =
		shmpipe_peek(p, arg & 1 ? NULL : &ptr, timeout_of(run, arg));
	if (run->peeked) {
		CHECK(r == -EBUSY);
		return;
	}
	if (arg & 1) {
		CHECK(r == -EINVAL);
		return;
	}
	CHECK_RESULT(r, EAGAIN, ETIMEDOUT, EBADMSG);
	if (r <= 0)
		return;
	check_unit(p, (uint64_t)r, fill);
	check_in_ring(p, ptr, (size_t)r);
	for (ssize_t i = 0; i < r; i++) /* all there to read (ASan) */
		peek_sink ^= ((const unsigned char *)ptr)[i];
	CHECK(head_now(run) == head); /* nothing consumed yet */
	run->peeked = (size_t)r;
	run->peek_head = head;
}

static void op_release(struct run *run, uint8_t arg)
{
	shmpipe *p = run->rd;
	size_t peeked = run->peeked, n;
	switch (arg % 4) {
	case 0:
		n = 0;
		break;
	case 1:
		n = peeked;
		break;
	case 2:
		n = peeked + 1;
		break;
	default:
		n = (size_t)(arg >> 2) % (peeked + 1);
		break;
	}
	uint64_t head = head_now(run);
	int r = shmpipe_release(p, n);
	if (!peeked || n > peeked) {
		CHECK(r == -EINVAL); /* and a peek open stays open */
		CHECK(head_now(run) == head);
		return;
	}
	CHECK(r == 0);
	/* consumed from where the peek was, whatever the object says now */
	if (n == 0)
		CHECK(head_now(run) == head);
	else if (p->g.kind == SHMPIPE_STREAM)
		CHECK(head_now(run) == run->peek_head + n);
	else
		CHECK(head_now(run) == run->peek_head + span_of(p, peeked));
	run->peeked = 0;
}

static void op_next_size(struct run *run, uint8_t arg)
{
	shmpipe *p = run->rd;
	uint64_t head = head_now(run), fill = reader_fill(run, p, head);
	ssize_t r = shmpipe_next_size(p, timeout_of(run, arg));
	if (run->peeked) {
		CHECK(r == -EBUSY);
		return;
	}
	CHECK_RESULT(r, EAGAIN, ETIMEDOUT, EBADMSG);
	if (r > 0)
		check_unit(p, (uint64_t)r, fill);
	CHECK(head_now(run) == head);
}

static void op_stat(shmpipe *p, uint8_t arg)
{
	struct shmpipe_stats st;
	int r = shmpipe_stat_handle(p, arg & 2 ? NULL : &st);
	if (arg & 2) {
		CHECK(r == -EINVAL);
		return;
	}
	CHECK_RESULT(r, EBADMSG);
	if (r < 0)
		return;
	CHECK(r == 0);
	CHECK(st.capacity == p->g.capacity && st.kind == p->g.kind);
	CHECK(st.fill <= st.capacity && st.high_water <= st.capacity);
	CHECK(st.nprocs <= SHMPIPE_STAT_MAX_PROCS);
	CHECK(st.readers + st.writers <= st.nprocs);
	if (st.kind == SHMPIPE_STREAM)
		CHECK(st.bytes_buffered == st.fill);
}

static void op_room(const struct run *run, shmpipe *p)
{
	uint64_t fill = tail_now(run) - head_now(run);
	ssize_t r = shmpipe_room(p);
	CHECK_RESULT(r, EBADMSG);
	if (r < 0)
		return;
	CHECK(fill <= p->g.capacity && (uint64_t)r <= p->g.capacity - fill);
	if (r > 0 && p->g.kind == SHMPIPE_MESSAGE)
		CHECK(r % 8 == 0 &&
		      span_of(p, (uint64_t)r) <= p->g.capacity - fill);
}

static void op_reserve(struct run *run, uint8_t arg)
{
	shmpipe *p = run->wr;
	size_t len = length_of(p, arg);
	void *ptr = NULL;
	int null = (arg & 0x7f) == 0x7f;
	uint64_t tail = tail_now(run);
	ssize_t r = shmpipe_reserve(p, null ? NULL : &ptr, len,
				    timeout_of(run, arg));
	CHECK(tail_now(run) == tail); /* nothing visible yet */
	if (run->reserved) {
		CHECK(r == -EBUSY);
	} else if (null || len == 0 || len > p->g.capacity) {
		CHECK(r == -EINVAL);
	} else if (p->g.kind == SHMPIPE_MESSAGE &&
		   8 + round8(len) > p->g.capacity) {
		CHECK(r == -EMSGSIZE);
	} else {
		CHECK_RESULT(r, EAGAIN, ETIMEDOUT, EBADMSG);
		if (r < 0)
			return;
		CHECK(r == (ssize_t)len);
		check_in_ring(p, ptr, len);
		if (p->g.kind == SHMPIPE_MESSAGE) /* its header goes before */
			check_in_ring(p, (char *)ptr - 8, len + 8);
		memset(ptr, 0x5a, len); /* all of it is ours to write (ASan) */
		run->reserved = len;
		run->reserve_tail = tail;
	}
}

static void op_commit(struct run *run, uint8_t arg)
{
	shmpipe *p = run->wr;
	size_t reserved = run->reserved, used;
	switch (arg % 4) {
	case 0:
		used = 0;
		break;
	case 1:
		used = reserved;
		break;
	case 2:
		used = reserved + 1;
		break;
	default:
		used = (size_t)(arg >> 2) % (reserved + 1);
		break;
	}
	uint64_t tail = tail_now(run);
	ssize_t r = shmpipe_commit(p, used);
	if (!reserved || used > reserved) {
		CHECK(r == -EINVAL); /* and a reservation stays open */
		CHECK(tail_now(run) == tail);
		return;
	}
	CHECK(r == (ssize_t)used);
	/* published where the reservation was, whatever the object says */
	if (used)
		CHECK(tail_now(run) == run->reserve_tail + span_of(p, used));
	else
		CHECK(tail_now(run) == tail);
	run->reserved = 0;
}

/* Calls on the wrong side of the pipe, or with bad flags. */
static void op_wrong_side(struct run *run)
{
	unsigned char b[8] = { 0 };
	const void *cp;
	void *vp;
	if (run->wr) {
		CHECK(shmpipe_read(run->wr, b, sizeof(b), 0) == -EBADF);
		CHECK(shmpipe_read(run->wr, b, 0, 0) == -EBADF);
		CHECK(shmpipe_peek(run->wr, &cp, 0) == -EBADF);
		CHECK(shmpipe_next_size(run->wr, 0) == -EBADF);
		CHECK(shmpipe_release(run->wr, 0) == -EINVAL);
	}
	if (run->rd) {
		CHECK(shmpipe_write(run->rd, b, sizeof(b), 0) == -EBADF);
		CHECK(shmpipe_reserve(run->rd, &vp, 1, 0) == -EBADF);
		CHECK(shmpipe_commit(run->rd, 0) == -EINVAL);
	}
	shmpipe *p = (shmpipe *)b;
	int r = shmpipe__pipe_open_memory(&p, run->s.mem, run->s.object,
					  SHMPIPE_READ | SHMPIPE_WRITE);
	CHECK(r == -EINVAL && p == NULL);
}

static void run_op(struct run *run, uint8_t op, uint8_t arg)
{
	switch (op % OP_COUNT) {
	case OP_READ:
		if (run->rd)
			op_read(run, arg);
		break;
	case OP_WRITE:
		if (run->wr)
			op_write(run, arg);
		break;
	case OP_PEEK:
		if (run->rd)
			op_peek(run, arg);
		break;
	case OP_RELEASE:
		if (run->rd)
			op_release(run, arg);
		break;
	case OP_NEXT_SIZE:
		if (run->rd)
			op_next_size(run, arg);
		break;
	case OP_STAT:
		if (arg & 1 ? run->wr : run->rd)
			op_stat(arg & 1 ? run->wr : run->rd, arg);
		break;
	case OP_ROOM:
		if (arg & 1 ? run->wr : run->rd)
			op_room(run, arg & 1 ? run->wr : run->rd);
		break;
	case OP_RESERVE:
		if (run->wr)
			op_reserve(run, arg);
		break;
	case OP_COMMIT:
		if (run->wr)
			op_commit(run, arg);
		break;
	case OP_REOPEN:
		if (arg & 4)
			close_side(run, arg & 1);
		else
			open_side(run, arg & 1, arg & 2, arg & 8);
		break;
	case OP_PATCH:
		for (int i = 0; i <= arg % 4; i++)
			apply_patch(&run->s, run->patches, run->patches_len,
				    &run->patch_at);
		keep_now(&run->s);
		break;
	default:
		op_wrong_side(run);
		break;
	}
	check_kept(&run->s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		make_bases();
		ready = 1;
	}
	if (size < 4)
		return 0;
	int raw = data[0] & 0x80;
	unsigned base = (data[0] & 0x7f) % (unsigned)nbases;
	uint8_t flags = data[1];
	size_t nops = data[2] % 65, npre = data[3], at = 4;
	const uint8_t *ops = data + at;
	if (nops > (size - at) / 2)
		nops = (size - at) / 2;
	at += 2 * nops;

	struct run run = { .timed_left = MAX_TIMED_CALLS };
	if (raw) { /* the rest is the object itself */
		seg_init(&run.s, data + at, size - at);
	} else {
		seg_init(&run.s, bases[base].bytes, bases[base].size);
		run.patches = data + at;
		run.patches_len = size - at;
		for (size_t i = 0; i < npre; i++)
			apply_patch(&run.s, run.patches, run.patches_len,
				    &run.patch_at);
	}
	keep_now(&run.s);

	/* flags: which sides open, exclusive or not, in which order */
	int writer_first = !(flags & 0x10);
	for (int i = 0; i < 2; i++) {
		int writer = writer_first ? !i : i;
		if (flags & (writer ? 2 : 1))
			open_side(&run, writer, flags & (writer ? 8 : 4),
				  flags & 0x20);
	}
	check_kept(&run.s);
	for (size_t i = 0; i < nops; i++)
		run_op(&run, ops[2 * i], ops[2 * i + 1]);
	close_side(&run, 0);
	close_side(&run, 1);
	check_kept(&run.s);
	free(run.s.mem);
	return 0;
}
