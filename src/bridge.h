/* SPDX-License-Identifier: MIT */
/*
 * bridge.h - internals of the bridge layer shared by bridge.c and
 * framing.c (and the framing tests and fuzzers). Not installed.
 */
#ifndef SHMPIPE_BRIDGE_H
#define SHMPIPE_BRIDGE_H

#include "internal.h"

/* A unit found in a buffer: @size bytes from the start, of which
 * [payload, payload + payload_len) is the content (len32: after the
 * length; lines: the whole line with its newline). */
struct shmpipe__frame {
	size_t size;
	size_t payload;
	size_t payload_len;
};

/*
 * The first unit of @framing in buf[0..len). @scanned: bytes already known
 * to hold no newline (lines), to avoid scanning them again. Returns 1 and
 * *@f, 0 when more bytes are needed, -EMSGSIZE when the unit is (or will
 * be) larger than @max_unit bytes, -EINVAL for an unknown framing.
 */
int shmpipe__frame_next(unsigned framing, const unsigned char *buf,
			size_t len, size_t scanned, size_t max_unit,
			struct shmpipe__frame *f);

/* Whether the two byte strings are equal, in time that depends only on
 * their lengths. */
int shmpipe__token_equal(const unsigned char *a, size_t alen,
			 const unsigned char *b, size_t blen);

#endif
