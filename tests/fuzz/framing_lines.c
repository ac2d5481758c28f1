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
#define FRAMING SHMPIPE_FRAMING_LINES
#include "framing_fuzz.h"

static void check_frame(const unsigned char *view, size_t len,
			size_t max_unit, int r, const struct shmpipe__frame *f)
{
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
}

/* Told how far it already scanned, as the bridge does, or not. */
static size_t scanned_hint(uint8_t flags, size_t scanned)
{
	return flags & 1 ? scanned : 0;
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
