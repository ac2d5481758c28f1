/* SPDX-License-Identifier: MIT */
/*
 * framing_len32.c - libFuzzer target: the bridge's len32 decoder
 * (shmpipe__frame_next() with SHMPIPE_FRAMING_LEN32, src/framing.c: a
 * 4-byte big-endian length, then that many bytes) survives any bytes and
 * any split, and finds the same units whatever the split.
 *
 * Input: [limit class][limit byte][pieces n][n piece lengths][flags][data]
 *   The first two bytes choose max_unit (tiny, small, large, SIZE_MAX...),
 *   the next ones the lengths of the pieces in which the data arrives (as
 *   recv() would cut it; 0 is a call with nothing new; then the rest in
 *   one piece, or with flag 2 the same pieces again and again), flag 1
 *   passes a wrong "scanned" (the lines framing's hint, which len32 must
 *   ignore).
 * Properties, each an abort() for libFuzzer to report:
 *   - the units (offsets and sizes) and the end state (oversize unit at
 *     offset X, or N bytes of an unfinished unit) found when the data
 *     arrives in pieces equal those found in one piece, and those of a
 *     plain model of the framing (a frame whose length says more than
 *     max_unit is refused as soon as its length is there, whether or not
 *     its bytes are);
 *   - every unit is well formed (4 + its length, which is its payload
 *     after the 4 bytes, and fits in what was given);
 *   - no byte outside what was given is read: each call gets the pending
 *     bytes in a heap block of exactly that size (ASan).
 */
#define FRAMING SHMPIPE_FRAMING_LEN32
#include "framing_fuzz.h"

static size_t be32(const uint8_t *p)
{
	return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 |
	       p[3];
}

static void check_frame(const unsigned char *view, size_t len,
			size_t max_unit, int r, const struct shmpipe__frame *f)
{
	size_t n = len >= 4 ? be32(view) : 0;
	if (r == 1) {
		CHECK(len >= 4 && n <= max_unit);
		CHECK(f->size == 4 + n && f->size <= len);
		CHECK(f->payload == 4 && f->payload_len == n);
	} else if (r == 0) {
		CHECK(len < 4 || (n <= max_unit && len < 4 + n));
	} else {
		CHECK(r == -EMSGSIZE && len >= 4 && n > max_unit);
	}
}

/* The lines framing's hint, often wrong on purpose: len32 must not care. */
static size_t scanned_hint(uint8_t flags, size_t scanned)
{
	return flags & 1 ? scanned + (flags >> 2) : 0;
}

/* The model: a length, then that many bytes; a length over max_unit is
 * refused as soon as it is there. */
static void model(const uint8_t *stream, size_t len, size_t max_unit,
		  struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	size_t at = 0;
	while (len - at >= 4) {
		size_t n = be32(stream + at);
		if (n > max_unit) {
			o->oversize = 1;
			break;
		}
		if (len - at - 4 < n)
			break;
		add_unit(o, at, 4 + n);
		at += 4 + n;
	}
	o->rest_at = at;
}
