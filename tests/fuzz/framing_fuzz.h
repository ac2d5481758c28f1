/* SPDX-License-Identifier: MIT */
/*
 * framing_fuzz.h - the driver the two framing targets share
 * (framing_lines.c, framing_len32.c; input format and properties in
 * their top comments). A target defines FRAMING, includes this, and
 * defines the three hooks declared below: the checks of one decoder call,
 * the "scanned" hint to pass, and a plain model of the framing.
 */
#ifndef SHMPIPE_FRAMING_FUZZ_H
#define SHMPIPE_FRAMING_FUZZ_H

#include "bridge.h"
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#define MAX_PIECES 64

/* What a decoding found: the units, then how the stream ended. */
struct outcome {
	size_t n, cap;
	size_t *off, *size;
	int oversize;	/* refused a unit starting at @rest_at */
	size_t rest_at; /* start of what is left undecoded */
};

/* The target's hooks. check_frame: the properties of one decoder call on
 * @view (@len bytes) that returned @r and *@f. scanned_hint: what to pass
 * as "scanned" when @scanned bytes are known to hold no unit end, given
 * the input's flags byte (0: the one-piece decoding). model: the units a
 * plain reading of the framing finds in the whole stream. */
static void check_frame(const unsigned char *view, size_t len,
			size_t max_unit, int r, const struct shmpipe__frame *f);
static size_t scanned_hint(uint8_t flags, size_t scanned);
static void model(const uint8_t *stream, size_t len, size_t max_unit,
		  struct outcome *o);

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
	int r = shmpipe__frame_next(FRAMING, view, len, scanned, max_unit, f);
	check_frame(view, len, max_unit, r, f);
	free(view);
	return r;
}

/* Decode @stream arriving in the pieces @piece (then the rest in one, or
 * with @cycle the same pieces again until the end), keeping every
 * complete unit, as a connection of the bridge does. */
static void decode(const uint8_t *stream, size_t len, const size_t *piece,
		   size_t npieces, int cycle, uint8_t flags, size_t max_unit,
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
					 scanned_hint(flags, scanned), max_unit,
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
		return b % 8; /* tiny; 0 refuses every unit but an empty frame */
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
	int cycle = flags >> 1 & 1;
	const uint8_t *stream = data + at;
	size_t len = size - at;

	struct outcome whole, split, want;
	decode(stream, len, NULL, 0, 0, 0, max_unit, &whole);
	decode(stream, len, piece, npieces, cycle, flags, max_unit, &split);
	model(stream, len, max_unit, &want);
	same(&whole, &want);
	same(&split, &want);
	outcome_free(&whole);
	outcome_free(&split);
	outcome_free(&want);
	return 0;
}

#endif
