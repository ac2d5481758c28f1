/* SPDX-License-Identifier: MIT */
/*
 * pipe_atomic_writers.c - concurrent writers never interleave inside one
 * write. Four writer processes, all attached before any writes, each write
 * 1500 records of 16 bytes to a third of the capacity (a third of them
 * longer than PIPE_BUF) into one 64 KiB pipe; a record is a header (magic,
 * writer id, sequence number, length) and bytes derived from (id, seq).
 * One reader (this process) reads in random sizes and checks:
 *  - stream pipe: parsed back to back, every record is whole and is the
 *    writer's own (a write interleaved with another, or torn, breaks the
 *    header or the bytes of the records around it);
 *  - message pipe: every read is exactly one record;
 *  - both: each writer's records arrive in order, none missing, none twice,
 *    and end of file comes after the last writer closed.
 */
#include "helpers.h"

#include <limits.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define WRITERS	 4
#define RECORDS	 1500
#define CAPACITY 65536
#define MAGIC	 0x52454344u /* "RECD" */

struct record_header {
	uint32_t magic;
	uint32_t id;
	uint32_t seq;
	uint32_t len; /* the whole record, header included */
};

/* --------------------------------------------------------------- records */

/* The length of record (id, seq): small, medium or large, up to @max. */
static size_t record_len(uint32_t id, uint32_t seq, size_t max)
{
	uint64_t s = (uint64_t)id << 32 | seq;
	const size_t bounds[3][2] = {
		{ sizeof(struct record_header), 512 },
		{ 513, PIPE_BUF },
		{ PIPE_BUF + 1, max },
	};
	const size_t *b = bounds[t_random(&s) % 3];
	return b[0] + (size_t)(t_random(&s) % (b[1] - b[0] + 1));
}

static unsigned char record_byte(uint32_t id, uint32_t seq, size_t i)
{
	return (unsigned char)(id * 0x3b + seq * 0x11 + i * 7 + (i >> 7));
}

static void record_make(unsigned char *buf, uint32_t id, uint32_t seq,
			size_t len)
{
	struct record_header h = { MAGIC, id, seq, (uint32_t)len };
	memcpy(buf, &h, sizeof(h));
	for (size_t i = sizeof(h); i < len; i++)
		buf[i] = record_byte(id, seq, i);
}

struct verifier {
	size_t max;
	uint32_t next[WRITERS]; /* the seq expected from each writer */
	unsigned long big;	/* records longer than PIPE_BUF seen */
};

/* Check the record at @buf (@have bytes there). Returns its length, or 0
 * when it is not all there yet (@have too short: stream only). */
static size_t record_check(struct verifier *v, const unsigned char *buf,
			   size_t have)
{
	struct record_header h;
	if (have < sizeof(h))
		return 0;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != MAGIC || h.id >= WRITERS)
		t_fail(__FILE__, __LINE__,
		       "not a record header: magic %#x id %u seq %u len %u",
		       h.magic, h.id, h.seq, h.len);
	if (h.seq != v->next[h.id])
		t_fail(__FILE__, __LINE__, "writer %u: record %u, want %u",
		       h.id, h.seq, v->next[h.id]);
	T_EQ(h.len, record_len(h.id, h.seq, v->max));
	if (have < h.len)
		return 0;
	for (size_t i = sizeof(h); i < h.len; i++)
		if (buf[i] != record_byte(h.id, h.seq, i))
			t_fail(__FILE__, __LINE__,
			       "writer %u record %u byte %zu: %u, want %u",
			       h.id, h.seq, i, buf[i],
			       record_byte(h.id, h.seq, i));
	v->next[h.id]++;
	v->big += h.len > PIPE_BUF;
	return h.len;
}

/* ----------------------------------------------------------------- test */

static void writer(const char *name, uint32_t id, size_t max, int ready_fd,
		   int go_fd)
{
	shmpipe *w;
	T_OK(shmpipe_open(&w, name, SHMPIPE_WRITE));
	T_EQ(write(ready_fd, "o", 1), 1);
	/* Go when the parent closes its end (read returns 0). */
	struct pollfd p = { .fd = go_fd, .events = POLLIN };
	T_EQ(poll(&p, 1, 10000), 1);
	char c;
	T_EQ(read(go_fd, &c, 1), 0);
	unsigned char *buf = malloc(max);
	T_ASSERT(buf);
	for (uint32_t seq = 0; seq < RECORDS; seq++) {
		size_t len = record_len(id, seq, max);
		record_make(buf, id, seq, len);
		T_EQ(shmpipe_write(w, buf, len, 20000), len);
	}
	free(buf);
	shmpipe_close(w);
}

static void run(unsigned kind)
{
	const char *name = t_name(kind == SHMPIPE_STREAM ? "stream" : "msg");
	struct shmpipe_config cfg = { .capacity = CAPACITY, .kind = kind };
	T_OK(shmpipe_create(name, &cfg));
	shmpipe *r;
	T_OK(shmpipe_open(&r, name, SHMPIPE_READ));
	struct verifier v = { .max = CAPACITY / 3 };

	int ready[2], go[2];
	T_OK(pipe(ready));
	T_OK(pipe(go));
	pid_t pids[WRITERS];
	for (uint32_t id = 0; id < WRITERS; id++) {
		pids[id] = t_spawn();
		if (pids[id] == 0) {
			close(go[1]);
			writer(name, id, v.max, ready[1], go[0]);
			_exit(T_PASS);
		}
	}
	close(go[0]);
	close(ready[1]);
	/* All attached before anyone writes: end of file cannot come early. */
	for (int i = 0; i < WRITERS; i++) {
		struct pollfd p = { .fd = ready[0], .events = POLLIN };
		char c;
		T_EQ(poll(&p, 1, 10000), 1);
		T_EQ(read(ready[0], &c, 1), 1);
	}
	close(go[1]);

	size_t size = 2 * CAPACITY, have = 0;
	unsigned char *buf = malloc(size);
	T_ASSERT(buf);
	uint64_t seed = kind + 1;
	unsigned long records = 0;
	for (;;) {
		size_t want = kind == SHMPIPE_MESSAGE
				      ? CAPACITY
				      : 1 + t_random(&seed) % CAPACITY;
		ssize_t got = shmpipe_read(r, buf + have, want, 10000);
		T_OK(got);
		if (got == 0)
			break;
		have += (size_t)got;
		if (kind == SHMPIPE_MESSAGE) { /* exactly one record */
			T_EQ(record_check(&v, buf, have), got);
			have = 0;
			records++;
			continue;
		}
		size_t at = 0, n;
		while ((n = record_check(&v, buf + at, have - at)) > 0) {
			at += n;
			records++;
		}
		memmove(buf, buf + at, have - at);
		have -= at;
	}
	T_EQ(have, 0); /* no torn record at the end */
	for (int id = 0; id < WRITERS; id++) {
		T_EQ(v.next[id], RECORDS);
		T_EQ(t_wait_within(pids[id], 10), T_PASS);
	}
	fprintf(stderr, "%s: %lu records, %lu longer than PIPE_BUF\n",
		kind == SHMPIPE_STREAM ? "stream" : "message", records, v.big);
	T_EQ(records, WRITERS * RECORDS);
	T_ASSERT(v.big >= WRITERS * RECORDS / 5);
	free(buf);
	close(ready[0]);
	shmpipe_close(r);
}

int main(void)
{
	run(SHMPIPE_STREAM);
	run(SHMPIPE_MESSAGE);
	return T_PASS;
}
