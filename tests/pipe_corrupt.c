/* SPDX-License-Identifier: MIT */
/*
 * pipe_corrupt.c - a pipe whose shared memory holds garbage is reported,
 * never followed: no access outside the object, no crash, no endless wait.
 *
 * (a) Heap copies. A real pipe object (written to, partly read, its ring
 *     wrapped) is copied from /dev/shm into a heap buffer of exactly the
 *     documented size (object plus mirror room) and opened with
 *     shmpipe__pipe_open_memory(). Header words, positions, record length
 *     words, counters, lock words and attachment slots are overwritten,
 *     before and after opening, with random and boundary values; every
 *     call (read, peek/release, next_size, write, reserve/commit,
 *     stat_handle; timeouts 0 or a few ms) must return a sane value or
 *     -EBADMSG/-EAGAIN/-ETIMEDOUT, and a pointer it hands out must lie
 *     inside the buffer (the test touches every byte of it). Built with
 *     SANITIZE=1, AddressSanitizer reports any access past the buffer.
 * (b) A real pipe in /dev/shm. A scribbler thread rewrites header, lock,
 *     slot and record words at random for about 2 s while a reader thread
 *     and a writer thread loop on it with small timeouts: no crash, every
 *     call returns within its timeout (plus slack), and afterwards every
 *     call returns a value or -EBADMSG.
 * (c) Open-time checks: a pipe whose constants (kind, capacity, ring_size,
 *     ring_offset, slot_count) or region mirror_offset are corrupt is
 *     refused by shmpipe_open() and shmpipe_stat() with -EBADMSG, and
 *     opens again once the word is restored.
 */
#include "helpers.h"
#include "pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRIALS	      2500 /* random trials per pipe kind */
#define STEPS	      8	   /* calls per trial */
#define SCRIBBLE_MS   2000 /* part (b) */
#define CALL_SLACK_MS 2500 /* a call may overrun its timeout this much */

#define SH_OFF(field)                                                          \
	(SHMPIPE__REGION_HEADER_SIZE + offsetof(struct pipe_shared, field))
#define HDR_OFF(field) offsetof(struct shmpipe__region_header, field)

/* Per thread (part (b) runs three), seeded by seed(). */
static _Thread_local uint64_t rng_state;
static uint64_t rng_seed;

static void seed(unsigned stream)
{
	rng_state = rng_seed ^ (uint64_t)(stream + 1) * 0x9e3779b97f4a7c15ull;
}

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static void put64(char *mem, size_t off, uint64_t v)
{
	memcpy(mem + off, &v, sizeof(v));
}

static void put32(char *mem, size_t off, uint32_t v)
{
	memcpy(mem + off, &v, sizeof(v));
}

static uint64_t get64(const char *mem, size_t off)
{
	uint64_t v;
	memcpy(&v, mem + off, sizeof(v));
	return v;
}

/* ------------------------------------------------------- the templates */

struct tmpl {
	unsigned kind;
	char *data; /* the object as it is in /dev/shm */
	size_t object, mirror;
	uint64_t capacity, ring_size;
};

/* A pipe with data in it, its ring wrapped, copied out of /dev/shm. */
static void make_template(struct tmpl *t, unsigned kind, const char *name)
{
	struct shmpipe_config cfg = { .capacity = kind ? 6000 : 5000,
				      .kind = kind };
	T_OK(shmpipe_create(name, &cfg));
	shmpipe *w, *r;
	T_OK(shmpipe_open(&w, name, SHMPIPE_WRITE));
	T_OK(shmpipe_open(&r, name, SHMPIPE_READ));
	char buf[6000];
	memset(buf, 'x', sizeof(buf));
	for (int round = 0; round < 10; round++) {
		while (shmpipe_write(w, buf, 1 + pick(300), 0) > 0)
			;
		for (int i = 0; i < 12; i++)
			T_ASSERT(
				shmpipe_read(r, buf,
					     kind ? sizeof(buf) : 1 + pick(300),
					     0) > 0);
	}
	shmpipe_close(r);
	shmpipe_close(w);

	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/shmpipe.%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	T_ASSERT(fd >= 0);
	struct stat st;
	T_OK(fstat(fd, &st));
	t->object = (size_t)st.st_size;
	t->data = malloc(t->object);
	T_ASSERT(t->data);
	T_EQ(pread(fd, t->data, t->object, 0), (ssize_t)t->object);
	close(fd);
	T_OK(shmpipe_unlink(name));
	t->kind = kind;
	t->mirror = get64(t->data, HDR_OFF(mirror_offset));
	t->capacity = get64(t->data, SH_OFF(capacity));
	t->ring_size = get64(t->data, SH_OFF(ring_size));
	T_EQ(t->capacity, cfg.capacity);
	T_EQ(t->ring_size, t->object - t->mirror);
	T_ASSERT(get64(t->data, SH_OFF(head)) > t->ring_size); /* wrapped */
}

/* --------------------------------------------------------- garbage */

/* A position or length: random, or one of the values that break things. */
static uint64_t boundary(uint64_t cap, uint64_t ring)
{
	const uint64_t v[] = {
		0,
		1,
		4,
		7,
		8,
		16,
		cap - 8,
		cap - 1,
		cap,
		cap + 1,
		cap + 8,
		ring - 8,
		ring - 4,
		ring,
		ring + 4,
		2 * ring,
		1ull << 32,
		1ull << 63,
		UINT64_MAX,
		UINT64_MAX - 7,
		UINT64_MAX - cap + 1,
		rnd(),
		rnd() & ~7ull,
		rnd() % (4 * ring),
		(rnd() % (4 * ring)) & ~7ull,
	};
	return v[pick(sizeof(v) / sizeof(v[0]))];
}

/* Write @n bytes at ring offset @o, in the ring and in its mirror copy. */
static void put_ring(char *mem, size_t ring_off, uint64_t ring, uint64_t o,
		     const void *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t pos = (o + i) % ring;
		mem[ring_off + pos] = ((const char *)bytes)[i];
		mem[ring_off + ring + pos] = ((const char *)bytes)[i];
	}
}

/* A record header at the current head: a length whose complement check
 * passes (mostly) but which does not fit, or barely does. */
static void corrupt_record(char *mem, const struct tmpl *t, size_t ring_off,
			   uint64_t ring)
{
	uint64_t head = get64(mem, SH_OFF(head));
	uint64_t tail = get64(mem, SH_OFF(tail));
	uint64_t fill = tail - head;
	const uint64_t lens[] = {
		0,
		1,
		7,
		8,
		fill - 8,
		fill - 7,
		fill - 9,
		fill,
		fill + 1,
		t->capacity - 8,
		t->capacity,
		UINT32_MAX,
		UINT32_MAX - 7,
		rnd(),
	};
	uint32_t len = (uint32_t)lens[pick(sizeof(lens) / sizeof(lens[0]))];
	uint32_t hdr[2] = { len, pick(4) ? ~len : (uint32_t)rnd() };
	put_ring(mem, ring_off, ring, head % ring, hdr, sizeof(hdr));
}

static uint32_t lock_garbage(const shmpipe *rd, const shmpipe *wr)
{
	const uint32_t v[] = {
		0,
		1,
		LOCK_WAITERS,
		UINT32_MAX,
		LOCK_OWNER(PIPE_SLOTS, 1), /* slot 65: out of range */
		LOCK_OWNER(pick(PIPE_SLOTS), rnd()),
		rd ? rd->lock_me : 1,
		wr ? wr->lock_me | LOCK_WAITERS : 2,
		(uint32_t)rnd(),
	};
	return v[pick(sizeof(v) / sizeof(v[0]))];
}

/* Overwrite something in the pipe object at @mem. */
static void corrupt(char *mem, const struct tmpl *t, size_t ring_off,
		    uint64_t ring, const shmpipe *rd, const shmpipe *wr)
{
	uint64_t cap = t->capacity;
	switch (pick(12)) {
	case 0: { /* both positions, tail - head chosen */
		uint64_t head = boundary(cap, ring);
		put64(mem, SH_OFF(head), head);
		put64(mem, SH_OFF(tail), head + boundary(cap, ring));
		break;
	}
	case 1:
		put64(mem, pick(2) ? SH_OFF(head) : SH_OFF(tail),
		      boundary(cap, ring));
		break;
	case 2:
	case 3:
		corrupt_record(mem, t, ring_off, ring);
		break;
	case 4:
		put32(mem,
		      pick(2) ? SH_OFF(writer_lock.word)
			      : SH_OFF(reader_lock.word),
		      lock_garbage(rd, wr));
		break;
	case 5: { /* an attachment slot */
		size_t s = SH_OFF(slots) +
			   pick(PIPE_SLOTS) * sizeof(struct pipe_slot);
		const uint64_t owners[] = { 0, SLOT_OWNER(getpid(), pick(4)),
					    SLOT_OWNER(-1, ROLE_WRITE),
					    SLOT_OWNER(0, ROLE_READ), rnd() };
		put64(mem, s, owners[pick(5)]);
		put64(mem, s + 8, pick(2) ? 0 : rnd());
		put32(mem, s + 16, (uint32_t)rnd());
		put32(mem, s + 20, (uint32_t)rnd());
		break;
	}
	case 6: { /* counters and wait words */
		const size_t words[] = {
			SH_OFF(messages_in), SH_OFF(bytes_in),
			SH_OFF(high_water),  SH_OFF(messages_out),
			SH_OFF(bytes_out),
		};
		put64(mem, words[pick(5)],
		      pick(2) ? boundary(cap, ring) : rnd());
		break;
	}
	case 7: {
		const size_t words[] = {
			SH_OFF(data_seq),
			SH_OFF(readers_waiting),
			SH_OFF(space_seq),
			SH_OFF(writers_waiting),
			SH_OFF(writers_ever),
			SH_OFF(writer_lock.holder_pid),
			SH_OFF(reader_lock.holder_pid),
		};
		put32(mem, words[pick(7)],
		      (uint32_t)(pick(2) ? rnd() : UINT32_MAX));
		break;
	}
	case 8: /* the constants: read only at open */
		put64(mem, SH_OFF(capacity) + 8 * pick(3), boundary(cap, ring));
		put32(mem, SH_OFF(kind) + 4 * pick(2), (uint32_t)rnd());
		break;
	case 9: /* the region header */
		put64(mem, 8 * pick(SHMPIPE__REGION_HEADER_SIZE / 8), rnd());
		break;
	case 10: /* a word in the ring */
		put_ring(mem, ring_off, ring, rnd() % ring,
			 &(uint64_t){ rnd() }, 8);
		break;
	default: /* any byte of the object */
		mem[rnd() % t->object] = (char)rnd();
		break;
	}
}

/* Corruptions that only make sense before open: the header and the
 * constants, including a whole consistent but shifted geometry. */
static void corrupt_before_open(char *obj, const struct tmpl *t)
{
	uint64_t cap = t->capacity, ring = t->ring_size;
	switch (pick(8)) {
	case 0: {
		const size_t words[] = { HDR_OFF(magic), HDR_OFF(header_size),
					 HDR_OFF(data_size),
					 HDR_OFF(mirror_offset) };
		put64(obj, words[pick(4)], boundary(cap, ring));
		break;
	}
	case 1:
		put32(obj, pick(2) ? HDR_OFF(version) : HDR_OFF(type),
		      (uint32_t)rnd());
		break;
	case 2:
		put32(obj, SH_OFF(kind), pick(3));
		break;
	case 3:
		put32(obj, SH_OFF(slot_count), (uint32_t)boundary(cap, ring));
		break;
	case 4:
	case 5: {
		const size_t words[] = { SH_OFF(capacity), SH_OFF(ring_size),
					 SH_OFF(ring_offset) };
		put64(obj, words[pick(3)], boundary(cap, ring));
		break;
	}
	default: { /* another ring: the open check must hold it in bounds */
		uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
		uint64_t lo = SHMPIPE__REGION_HEADER_SIZE +
			      sizeof(struct pipe_shared);
		uint64_t at = lo + rnd() % (t->object - lo - 1);
		if (pick(2)) /* whole pages: a geometry that passes */
			at = (at + page - 1) / page * page;
		if (at >= t->object)
			at = t->object - page;
		uint64_t size = t->object - at;
		put64(obj, HDR_OFF(mirror_offset), at);
		put64(obj, SH_OFF(ring_offset), at);
		put64(obj, SH_OFF(ring_size), size);
		put64(obj, SH_OFF(capacity),
		      pick(2) ? size
			      : size - rnd() % (size < page ? size : page));
		break;
	}
	}
}

/* -------------------------------------------------------- the checks */

static unsigned long ok_calls, badmsg_calls, opened;

static void expect(long long r, int line, const char *what)
{
	if (r >= 0) {
		ok_calls++;
		return;
	}
	if (r == -EBADMSG)
		badmsg_calls++;
	if (r != -EBADMSG && r != -EAGAIN && r != -ETIMEDOUT)
		t_fail(__FILE__, line, "%s returned %lld (%s)", what, r,
		       shmpipe_errname((int)r));
}

/* @p..@p+@n must lie inside the handle's ring and its mirror; touch it. */
static void check_span(const shmpipe *p, const void *ptr, size_t n, int line)
{
	const char *lo = p->g.ring, *hi = p->g.ring + 2 * p->g.ring_size;
	const char *c = ptr;
	if (c < lo || c > hi || n > (size_t)(hi - c))
		t_fail(__FILE__, line, "pointer %p + %zu outside [%p, %p)", ptr,
		       n, (const void *)lo, (const void *)hi);
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (unsigned char)c[i];
	__asm__ __volatile__("" : : "r"(sum)); /* keep the reads */
}

static int small_timeout(void)
{
	return pick(8) ? 0 : 1 + (int)pick(3);
}

static void reader_step(shmpipe *rd)
{
	uint64_t cap = rd->g.capacity;
	switch (pick(4)) {
	case 0: {
		size_t len = 1 + pick((unsigned)cap + 16);
		char *buf = malloc(len); /* exact: ASan sees an overrun */
		T_ASSERT(buf);
		ssize_t n = shmpipe_read(rd, buf, len, small_timeout());
		if (n != -EMSGSIZE)
			expect(n, __LINE__, "read");
		T_ASSERT(n <= (ssize_t)len && n <= (ssize_t)cap);
		free(buf);
		break;
	}
	case 1: {
		const void *at;
		ssize_t n = shmpipe_peek(rd, &at, small_timeout());
		expect(n, __LINE__, "peek");
		if (n <= 0)
			break;
		T_ASSERT(n <= (ssize_t)cap);
		check_span(rd, at, (size_t)n, __LINE__);
		T_ERR(shmpipe_release(rd, (size_t)n + 1), EINVAL);
		T_OK(shmpipe_release(rd,
				     pick(3) ? (size_t)n : pick((unsigned)n)));
		break;
	}
	case 2: {
		ssize_t n = shmpipe_next_size(rd, small_timeout());
		expect(n, __LINE__, "next_size");
		T_ASSERT(n <= (ssize_t)cap);
		break;
	}
	default: {
		struct shmpipe_stats st;
		int r = shmpipe_stat_handle(rd, &st);
		expect(r, __LINE__, "stat_handle");
		if (r == 0) {
			T_ASSERT(st.nprocs <= SHMPIPE_STAT_MAX_PROCS);
			T_EQ(st.capacity, cap);
		}
		break;
	}
	}
}

static void writer_step(shmpipe *wr)
{
	uint64_t cap = wr->g.capacity;
	size_t len = 1 + pick(cap < 600 ? (unsigned)cap : 600);
	char buf[600];
	memset(buf, 'w', sizeof(buf));
	if (pick(2)) {
		ssize_t n = shmpipe_write(wr, buf, len, small_timeout());
		if (n != -EMSGSIZE)
			expect(n, __LINE__, "write");
		/* a stream write longer than the capacity may go in part */
		T_ASSERT(n < 0 || n == (ssize_t)len ||
			 (len > cap && n <= (ssize_t)len));
		return;
	}
	void *at;
	ssize_t n = shmpipe_reserve(wr, &at, len, small_timeout());
	if (n == -EMSGSIZE || n == -EINVAL)
		return; /* a message that can never fit this (shifted) ring */
	expect(n, __LINE__, "reserve");
	if (n < 0)
		return;
	T_EQ(n, len);
	check_span(wr, at, len, __LINE__);
	memset(at, 'r', len);
	size_t used = pick(2) ? len : pick((unsigned)len + 1);
	T_EQ(shmpipe_commit(wr, used), used);
}

/* ------------------------------------------------------ (a) heap copies */

static void open_checked(shmpipe **p, char *mem, size_t object, unsigned flags)
{
	int r = shmpipe__pipe_open_memory(p, mem, object, flags);
	if (r == 0) {
		opened++;
		return;
	}
	if (r != -EBADMSG && r != -EPROTO && r != -EUSERS)
		t_fail(__FILE__, __LINE__, "open_memory returned %d (%s)", r,
		       shmpipe_errname(r));
	*p = NULL;
}

static void heap_trial(const struct tmpl *t)
{
	/* Corrupt a scratch copy first: the mirror room the buffer needs
	 * depends on the (maybe corrupted) mirror_offset in its header. */
	char *obj = malloc(t->object);
	T_ASSERT(obj);
	memcpy(obj, t->data, t->object);
	int before = pick(3) == 0;
	if (before)
		corrupt_before_open(obj, t);
	uint64_t mirror = get64(obj, HDR_OFF(mirror_offset));
	if (mirror == 0 || mirror >= t->object)
		mirror = t->mirror; /* open refuses it anyway */
	size_t room = t->object - mirror;
	char *mem;
	T_EQ(posix_memalign((void **)&mem, CACHELINE, t->object + room), 0);
	memcpy(mem, obj, t->object);
	memcpy(mem + t->object, obj + mirror, room); /* the mirror, in sync */
	free(obj);
	if (before && pick(2))
		corrupt(mem, t, mirror, room, NULL, NULL);

	shmpipe *rd, *wr;
	open_checked(&rd, mem, t->object, SHMPIPE_READ);
	open_checked(&wr, mem, t->object, SHMPIPE_WRITE);
	for (int step = 0; step < STEPS; step++) {
		if (pick(2))
			corrupt(mem, t, mirror, room, rd, wr);
		if (rd && pick(2))
			reader_step(rd);
		if (wr && pick(2))
			writer_step(wr);
	}
	shmpipe_close(rd);
	shmpipe_close(wr);
	free(mem);
}

/* Every pair of boundary positions, with every call, on a fresh copy. */
static void heap_sweep(const struct tmpl *t)
{
	for (int i = 0; i < 400; i++) {
		char *mem;
		size_t room = t->object - t->mirror;
		T_EQ(posix_memalign((void **)&mem, CACHELINE, t->object + room),
		     0);
		memcpy(mem, t->data, t->object);
		memcpy(mem + t->object, t->data + t->mirror, room);
		shmpipe *rd, *wr;
		T_OK(shmpipe__pipe_open_memory(&rd, mem, t->object,
					       SHMPIPE_READ));
		T_OK(shmpipe__pipe_open_memory(&wr, mem, t->object,
					       SHMPIPE_WRITE));
		uint64_t head = boundary(t->capacity, room);
		put64(mem, SH_OFF(head), head);
		put64(mem, SH_OFF(tail), head + boundary(t->capacity, room));
		if (t->kind == SHMPIPE_MESSAGE && pick(2))
			corrupt_record(mem, t, t->mirror, room);
		for (int k = 0; k < 4; k++) {
			reader_step(rd);
			writer_step(wr);
		}
		shmpipe_close(rd);
		shmpipe_close(wr);
		free(mem);
	}
}

static void part_a(void)
{
	for (unsigned kind = 0; kind < 2; kind++) {
		struct tmpl t;
		make_template(&t, kind, t_name(kind ? "a-msg" : "a-stream"));
		unsigned long ok0 = ok_calls, bad0 = badmsg_calls,
			      open0 = opened;
		heap_sweep(&t);
		for (int i = 0; i < TRIALS; i++)
			heap_trial(&t);
		printf("(a) %s: %lu handles opened, %lu calls returned a "
		       "value, "
		       "%lu -EBADMSG\n",
		       kind ? "message" : "stream", opened - open0,
		       ok_calls - ok0, badmsg_calls - bad0);
		/* The garbage reached deep and was reported, both. */
		T_ASSERT(opened - open0 > TRIALS);
		T_ASSERT(ok_calls - ok0 > 1000);
		T_ASSERT(badmsg_calls - bad0 > 100);
		free(t.data);
	}
}

/* ------------------------------------------------ (b) live scribbling */

struct live {
	const char *name;
	shmpipe *rd, *wr;
	struct tmpl t; /* capacity, ring size, kind of the live pipe */
	_Atomic int stop;
	_Atomic unsigned long beats[3];
	_Atomic unsigned long ok, badmsg;
	_Atomic int failed;
	char why[256];
};

static void live_fail(struct live *l, const char *what, long long r, double ms)
{
	int expected = 0;
	if (atomic_compare_exchange_strong(&l->failed, &expected, 1))
		snprintf(l->why, sizeof(l->why),
			 "%s returned %lld (%s) after "
			 "%.0f ms",
			 what, r, r < 0 ? shmpipe_errname((int)r) : "ok", ms);
	atomic_store(&l->stop, 1);
}

/* Record the result of a call that began at @t0 with @timeout. */
static void live_check(struct live *l, const char *what, long long r, double t0,
		       int timeout, int allow_msgsize)
{
	double ms = (t_now() - t0) * 1000;
	if (ms > timeout + CALL_SLACK_MS)
		live_fail(l, what, r, ms);
	else if (r >= 0)
		atomic_fetch_add(&l->ok, 1);
	else if (r == -EBADMSG)
		atomic_fetch_add(&l->badmsg, 1);
	else if (r != -EAGAIN && r != -ETIMEDOUT &&
		 !(allow_msgsize && r == -EMSGSIZE))
		live_fail(l, what, r, ms);
}

static void *live_reader(void *arg)
{
	struct live *l = arg;
	shmpipe *rd = l->rd;
	static char buf[8192];
	seed(1);
	while (!atomic_load(&l->stop)) {
		int timeout = (int)pick(20);
		double t0 = t_now();
		const void *at;
		ssize_t n;
		switch (pick(4)) {
		case 0:
			n = shmpipe_read(rd, buf, 1 + pick(sizeof(buf)),
					 timeout);
			live_check(l, "read", n, t0, timeout, 1);
			break;
		case 1:
			n = shmpipe_peek(rd, &at, timeout);
			live_check(l, "peek", n, t0, timeout, 0);
			if (n > 0) {
				check_span(rd, at, (size_t)n, __LINE__);
				shmpipe_release(rd, (size_t)n);
			}
			break;
		case 2:
			n = shmpipe_next_size(rd, timeout);
			live_check(l, "next_size", n, t0, timeout, 0);
			break;
		default: {
			struct shmpipe_stats st;
			live_check(l, "stat_handle",
				   shmpipe_stat_handle(rd, &st), t0, 0, 0);
			break;
		}
		}
		atomic_fetch_add(&l->beats[0], 1);
	}
	return NULL;
}

static void *live_writer(void *arg)
{
	struct live *l = arg;
	shmpipe *wr = l->wr;
	char buf[512];
	seed(2);
	memset(buf, 'w', sizeof(buf));
	for (unsigned long i = 0; !atomic_load(&l->stop); i++) {
		int timeout = (int)pick(20);
		size_t len = 1 + pick(sizeof(buf));
		double t0 = t_now();
		if (i % 64 == 63) { /* the by-name paths */
			struct shmpipe_stats st;
			int r = shmpipe_stat(l->name, &st);
			if (r == -EPROTO)
				r = -EBADMSG; /* a scribbled magic or version */
			live_check(l, "stat", r, t0, 0, 0);
			continue;
		}
		if (pick(2)) {
			ssize_t n = shmpipe_write(wr, buf, len, timeout);
			live_check(l, "write", n, t0, timeout, 0);
		} else {
			void *at;
			ssize_t n = shmpipe_reserve(wr, &at, len, timeout);
			live_check(l, "reserve", n, t0, timeout, 0);
			if (n > 0) {
				check_span(wr, at, len, __LINE__);
				memset(at, 'r', len);
				shmpipe_commit(wr, len);
			}
		}
		atomic_fetch_add(&l->beats[1], 1);
	}
	return NULL;
}

/* Rewrites words of the live object; every few ms puts the positions and
 * locks back in order so that traffic flows between the attacks. */
static void *live_scribbler(void *arg)
{
	struct live *l = arg;
	char *base = (char *)l->rd->sh - SHMPIPE__REGION_HEADER_SIZE;
	seed(3);
	size_t ring_off = (size_t)(l->rd->g.ring - base);
	for (unsigned long i = 0; !atomic_load(&l->stop); i++) {
		if (i % 32 == 0) {
			struct pipe_shared *sh = l->rd->sh;
			uint64_t tail = atomic_load(&sh->tail) & ~7ull;
			atomic_store(&sh->tail, tail);
			atomic_store(&sh->head, tail);
			atomic_store(&sh->writer_lock.word, 0);
			atomic_store(&sh->reader_lock.word, 0);
		} else if (pick(4) == 0) {
			corrupt_record(base, &l->t, ring_off, l->t.ring_size);
		} else {
			corrupt(base, &l->t, ring_off, l->t.ring_size, l->rd,
				l->wr);
		}
		if (i % 8 == 0)
			t_sleep_ms(1);
		atomic_fetch_add(&l->beats[2], 1);
	}
	return NULL;
}

static void part_b(unsigned kind)
{
	struct live *l = calloc(1, sizeof(*l));
	T_ASSERT(l);
	l->name = t_name(kind ? "b-msg" : "b-stream");
	struct shmpipe_config cfg = { .capacity = 3000, .kind = kind };
	T_OK(shmpipe_create(l->name, &cfg));
	T_OK(shmpipe_open(&l->wr, l->name, SHMPIPE_WRITE));
	T_OK(shmpipe_open(&l->rd, l->name, SHMPIPE_READ));
	l->t = (struct tmpl){ .kind = kind,
			      .capacity = l->rd->g.capacity,
			      .ring_size = l->rd->g.ring_size,
			      .object =
				      (size_t)(l->rd->g.ring -
					       ((char *)l->rd->sh -
						SHMPIPE__REGION_HEADER_SIZE)) };
	/* corrupt() picks "any byte of the object" below object: keep it to
	 * the shared struct and the ring's first copy. */
	l->t.object += l->t.ring_size;

	pthread_t th[3];
	T_EQ(pthread_create(&th[0], NULL, live_reader, l), 0);
	T_EQ(pthread_create(&th[1], NULL, live_writer, l), 0);
	T_EQ(pthread_create(&th[2], NULL, live_scribbler, l), 0);
	unsigned long last[3] = { 0 };
	double last_change[3];
	for (int i = 0; i < 3; i++)
		last_change[i] = t_now();
	double end = t_now() + SCRIBBLE_MS / 1000.0;
	while (t_now() < end && !atomic_load(&l->stop)) {
		t_sleep_ms(50);
		for (int i = 0; i < 3; i++) {
			unsigned long b = atomic_load(&l->beats[i]);
			if (b != last[i]) {
				last[i] = b;
				last_change[i] = t_now();
			} else if (t_now() - last_change[i] > 5) {
				/* A thread stuck in a call: fail now, the
				 * process exit ends the threads. */
				t_fail(__FILE__, __LINE__,
				       "thread %d made no call for 5 s", i);
			}
		}
	}
	atomic_store(&l->stop, 1);
	for (int i = 0; i < 3; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		if (pthread_timedjoin_np(th[i], NULL, &ts) != 0)
			t_fail(__FILE__, __LINE__, "thread %d did not stop", i);
	}
	if (atomic_load(&l->failed))
		t_fail(__FILE__, __LINE__, "%s", l->why);
	printf("(b) %s: %lu reader, %lu writer calls, %lu scribbles; %lu "
	       "values, %lu -EBADMSG\n",
	       kind ? "message" : "stream", last[0], last[1], last[2],
	       atomic_load(&l->ok), atomic_load(&l->badmsg));
	T_ASSERT(atomic_load(&l->beats[0]) > 100);
	T_ASSERT(atomic_load(&l->beats[1]) > 100);
	T_ASSERT(atomic_load(&l->ok) > 0);
	T_ASSERT(atomic_load(&l->badmsg) > 0);

	/* Afterwards, whatever state it was left in: values or -EBADMSG. */
	char buf[4096];
	const void *at;
	void *wat;
	expect(shmpipe_read(l->rd, buf, sizeof(buf), 0), __LINE__, "read");
	ssize_t n = shmpipe_peek(l->rd, &at, 0);
	expect(n, __LINE__, "peek");
	if (n > 0) {
		check_span(l->rd, at, (size_t)n, __LINE__);
		T_OK(shmpipe_release(l->rd, 0));
	}
	expect(shmpipe_next_size(l->rd, 0), __LINE__, "next_size");
	expect(shmpipe_write(l->wr, "x", 1, 0), __LINE__, "write");
	n = shmpipe_reserve(l->wr, &wat, 8, 0);
	expect(n, __LINE__, "reserve");
	if (n > 0)
		T_EQ(shmpipe_commit(l->wr, 8), 8);
	struct shmpipe_stats st;
	expect(shmpipe_stat_handle(l->rd, &st), __LINE__, "stat_handle");
	shmpipe_close(l->rd);
	shmpipe_close(l->wr);
	T_OK(shmpipe_unlink(l->name));
	free(l);
}

/* --------------------------------------------------- (c) open-time checks */

struct field {
	const char *what;
	size_t off, size;
	uint64_t values[6];
	int nvalues;
};

static void pwrite_word(const char *path, size_t off, size_t size, uint64_t v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	T_ASSERT(fd >= 0);
	T_EQ(pwrite(fd, &v, size, (off_t)off), (ssize_t)size); /* little end. */
	close(fd);
}

static void part_c(unsigned kind)
{
	const char *name = t_name(kind ? "c-msg" : "c-stream");
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	/* A ring of 4 pages, so that shifted offsets stay inside the object. */
	struct shmpipe_config cfg = { .capacity = 3 * page + 100,
				      .kind = kind };
	T_OK(shmpipe_create(name, &cfg));
	shmpipe *w;
	T_OK(shmpipe_open(&w, name, SHMPIPE_WRITE));
	T_EQ(shmpipe_write(w, "hello", 5, 0), 5);
	uint64_t ring = w->g.ring_size, cap = w->g.capacity;
	uint64_t ring_off =
		(uint64_t)(w->g.ring -
			   ((char *)w->sh - SHMPIPE__REGION_HEADER_SIZE));
	shmpipe_close(w);
	T_EQ(ring, 4 * page);
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/shmpipe.%s", name);

	const struct field fields[] = {
		{ "kind", SH_OFF(kind), 4, { 2, 3, UINT32_MAX }, 3 },
		{ "slot_count",
		  SH_OFF(slot_count),
		  4,
		  { 0, PIPE_SLOTS - 1, PIPE_SLOTS + 1, UINT32_MAX },
		  4 },
		{ "capacity",
		  SH_OFF(capacity),
		  8,
		  { 0, ring + 1, UINT64_MAX, kind ? 15 : ring + page,
		    cap - page, 1 },
		  6 },
		{ "ring_size",
		  SH_OFF(ring_size),
		  8,
		  { 0, ring - page, ring + page, UINT64_MAX, ring - 8 },
		  5 },
		{ "ring_offset",
		  SH_OFF(ring_offset),
		  8,
		  { 0, ring_off + page, ring_off + 8, ring_off - 8,
		    UINT64_MAX },
		  5 },
		{ "mirror_offset",
		  HDR_OFF(mirror_offset),
		  8,
		  { 0, 1, ring_off - 8, ring_off + page, ring_off + ring,
		    UINT64_MAX },
		  6 },
	};
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		const struct field *fd = &fields[f];
		uint64_t orig = 0;
		int rfd = open(path, O_RDONLY | O_CLOEXEC);
		T_ASSERT(rfd >= 0);
		T_EQ(pread(rfd, &orig, fd->size, (off_t)fd->off),
		     (ssize_t)fd->size);
		close(rfd);
		for (int v = 0; v < fd->nvalues; v++) {
			pwrite_word(path, fd->off, fd->size, fd->values[v]);
			shmpipe *p;
			struct shmpipe_stats st;
			int r = shmpipe_open(&p, name, SHMPIPE_READ);
			if (r != -EBADMSG)
				t_fail(__FILE__, __LINE__,
				       "%s pipe, %s = %llu: open gave %d (%s), "
				       "want -EBADMSG",
				       kind ? "message" : "stream", fd->what,
				       (unsigned long long)fd->values[v], r,
				       shmpipe_errname(r));
			T_ERR(shmpipe_open(&p, name, SHMPIPE_WRITE), EBADMSG);
			T_ERR(shmpipe_stat(name, &st), EBADMSG);
			pwrite_word(path, fd->off, fd->size, orig);
			T_OK(shmpipe_stat(name, &st));
		}
	}
	/* Restored: it works, and the data is still there. */
	shmpipe *r;
	char buf[16];
	T_OK(shmpipe_open(&r, name, SHMPIPE_READ));
	T_EQ(shmpipe_read(r, buf, sizeof(buf), 0), 5);
	T_ASSERT(memcmp(buf, "hello", 5) == 0);
	shmpipe_close(r);
	T_OK(shmpipe_unlink(name));
}

int main(void)
{
	rng_seed = 0x2545f4914f6cdd1dull ^ (uint64_t)getpid() << 20;
	printf("seed %llu\n", (unsigned long long)rng_seed);
	seed(0);
	part_c(SHMPIPE_STREAM);
	part_c(SHMPIPE_MESSAGE);
	part_a();
	part_b(SHMPIPE_STREAM);
	part_b(SHMPIPE_MESSAGE);
	return T_PASS;
}
