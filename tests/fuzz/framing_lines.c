/* SPDX-License-Identifier: MIT */
/*
 * framing_lines.c - libFuzzer target: the bridge's line decoder
 * (shmpipe__frame_next() with SHMPIPE_FRAMING_LINES, src/framing.c)
 * survives any bytes and any split, and finds the same units whatever the
 * split.
 *
 * Input: [limit class][limit byte][pieces n][n piece lengths][flags][data]
 *   The first two bytes choose max_unit (tiny, small, large, SIZE_MAX...),
 *   the next ones the lengths of the pieces in which the data arrives (as
 *   recv() would cut it; 0 is a call with nothing new; then the rest in
 *   one piece, or with flag 2 the same pieces again and again), flag 1
 *   whether the decoder is told how far it already scanned (as the bridge
 *   does) or not.
 * Properties, each an abort() for libFuzzer to report:
 *   - the units (offsets and sizes) and the end state (oversize unit at
 *     offset X, or N bytes of an unfinished unit) found when the data
 *     arrives in pieces equal those found in one piece, and those of a
 *     plain model of the framing (a line ends at its first newline; one
 *     longer than max_unit, or an unfinished one already longer, is
 *     refused);
 *   - every unit is well formed (ends with its only newline, fits in what
 *     was given);
 *   - no byte outside what was given is read: each call gets the pending
 *     bytes in a heap block of exactly that size (ASan).
 */
#include "bridge.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PIECES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* What a decoding found: the units, then how the stream ended. */
struct outcome {
	size_t n, cap;
	size_t *off, *size;
	int oversize;	/* refused a unit starting at @rest_at */
	size_t rest_at; /* start of what is left undecoded */
};

static void add_unit(struct outcome *o, size_t off, size_t size)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 16;
		o->off = realloc(o->off, o->cap * sizeof(*o->off));
		o->size = realloc(o->size, o->cap * sizeof(*o->size));
		CHECK(o->off && o->size);
	}
	o->off[o->n] = off;
	o->size[o->n++] = size;
}

static void outcome_free(struct outcome *o)
{
	free(o->off);
	free(o->size);
}

/* Call the decoder on stream[base..have) copied into a heap block of
 * exactly that size. */
static int frame_at(const uint8_t *stream, size_t base, size_t have,
		    size_t scanned, size_t max_unit, struct shmpipe__frame *f)
{
	size_t len = have - base;
	unsigned char *view = malloc(len ? len : 1);
	CHECK(view);
	memcpy(view, stream + base, len);
	int r = shmpipe__frame_next(SHMPIPE_FRAMING_LINES, view, len, scanned,
				    max_unit, f);
	if (r == 1) {
		CHECK(f->size >= 1 && f->size <= len);
		CHECK(f->size <= max_unit);
		CHECK(f->payload == 0 && f->payload_len == f->size);
		CHECK(view[f->size - 1] == '\n');
		CHECK(!memchr(view, '\n', f->size - 1));
	} else if (r == 0) {
		CHECK(!memchr(view, '\n', len) && len <= max_unit);
	} else {
		CHECK(r == -EMSGSIZE);
	}
	free(view);
	return r;
}

/* Decode @stream arriving in the pieces @piece (then the rest in one, or
 * with @cycle the same pieces again until the end), keeping every
 * complete unit, as a connection of the bridge does. */
static void decode(const uint8_t *stream, size_t len, const size_t *piece,
		   size_t npieces, int cycle, int tell_scanned, size_t max_unit,
		   struct outcome *o)
{
	size_t have = 0, base = 0, scanned = 0, total = 0;
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < npieces; i++)
		total += piece[i];
	if (!total)
		cycle = 0;
	for (size_t i = 0; have < len || i <= npieces; i++) {
		size_t n = len - have;
		if (i < npieces || (cycle && npieces))
			n = piece[i % npieces];
		if (n > len - have)
			n = len - have;
		have += n;
		for (;;) {
			struct shmpipe__frame f;
			int r = frame_at(stream, base, have,
					 tell_scanned ? scanned : 0, max_unit,
					 &f);
			if (r < 0) {
				o->oversize = 1;
				o->rest_at = base;
				return; /* the connection is closed */
			}
			if (r == 0) {
				scanned = have - base;
				break;
			}
			add_unit(o, base, f.size);
			base += f.size;
			scanned = 0;
		}
	}
	o->rest_at = base;
}

/* The model: a line ends at its first newline; refused when longer than
 * max_unit, or when unfinished and already longer. */
static void model(const uint8_t *stream, size_t len, size_t max_unit,
		  struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	size_t at = 0;
	for (;;) {
		size_t end = at;
		while (end < len && stream[end] != '\n')
			end++;
		if (end == len) {
			o->oversize = len - at > max_unit;
			break;
		}
		if (end + 1 - at > max_unit) {
			o->oversize = 1;
			break;
		}
		add_unit(o, at, end + 1 - at);
		at = end + 1;
	}
	o->rest_at = at;
}

static void same(const struct outcome *a, const struct outcome *b)
{
	CHECK(a->n == b->n);
	for (size_t i = 0; i < a->n; i++) {
		CHECK(a->off[i] == b->off[i]);
		CHECK(a->size[i] == b->size[i]);
	}
	CHECK(a->oversize == b->oversize);
	CHECK(a->rest_at == b->rest_at);
}

static size_t limit_of(uint8_t class, uint8_t b)
{
	switch (class % 6) {
	case 0:
		return b % 8; /* tiny; 0: every line is too long */
	case 1:
		return 1 + b;
	case 2:
		return 1 + (size_t)b * 16;
	case 3:
		return SIZE_MAX;
	case 4:
		return UINT32_MAX;
	default:
		return 4096;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t max_unit = limit_of(data[0], data[1]);
	size_t npieces = data[2] % (MAX_PIECES + 1), at = 3;
	size_t piece[MAX_PIECES];
	for (size_t i = 0; i < npieces; i++)
		piece[i] = at < size ? data[at++] : 0;
	uint8_t flags = at < size ? data[at++] : 1;
	int tell_scanned = flags & 1, cycle = flags >> 1 & 1;
	const uint8_t *stream = data + at;
	size_t len = size - at;

	struct outcome whole, split, want;
	decode(stream, len, NULL, 0, 0, 0, max_unit, &whole);
	decode(stream, len, piece, npieces, cycle, tell_scanned, max_unit,
	       &split);
	model(stream, len, max_unit, &want);
	same(&whole, &want);
	same(&split, &want);
	outcome_free(&whole);
	outcome_free(&split);
	outcome_free(&want);
	return 0;
}
