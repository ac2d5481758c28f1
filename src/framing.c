/* SPDX-License-Identifier: MIT */
/*
 * framing.c - finding units in a byte stream: raw chunks, newline-ended
 * lines, or frames of a 4-byte big-endian length and that many bytes.
 * Pure functions over a buffer, so every split of the same bytes yields
 * the same units (tests/framing_split.c) and fuzzers can drive them.
 */
#define _GNU_SOURCE
#include "bridge.h"

#include <errno.h>
#include <string.h>

int shmpipe__frame_next(unsigned framing, const unsigned char *buf,
			size_t len, size_t scanned, size_t max_unit,
			struct shmpipe__frame *f)
{
	switch (framing) {
	case SHMPIPE_FRAMING_RAW:
		if (!len)
			return 0;
		f->size = len < max_unit ? len : max_unit;
		f->payload = 0;
		f->payload_len = f->size;
		return 1;
	case SHMPIPE_FRAMING_LINES: {
		if (scanned > len)
			scanned = len;
		const unsigned char *nl = memchr(buf + scanned, '\n',
						 len - scanned);
		if (!nl)
			return len > max_unit ? -EMSGSIZE : 0;
		f->size = (size_t)(nl - buf) + 1;
		if (f->size > max_unit)
			return -EMSGSIZE;
		f->payload = 0;
		f->payload_len = f->size;
		return 1;
	}
	case SHMPIPE_FRAMING_LEN32: {
		if (len < 4)
			return 0;
		size_t n = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
			   (size_t)buf[2] << 8 | buf[3];
		if (n > max_unit || n > SIZE_MAX - 4)
			return -EMSGSIZE;
		if (len < 4 + n)
			return 0;
		f->size = 4 + n;
		f->payload = 4;
		f->payload_len = n;
		return 1;
	}
	}
	return -EINVAL;
}

int shmpipe__token_equal(const unsigned char *a, size_t alen,
			 const unsigned char *b, size_t blen)
{
	/* Constant time in the contents: every byte of the longer one is
	 * looked at whatever matched before. */
	size_t n = alen > blen ? alen : blen;
	unsigned char diff = alen != blen;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < alen ? a[i] : 0;
		unsigned char y = i < blen ? b[i] : 0;
		diff |= (unsigned char)(x ^ y);
	}
	return diff == 0;
}
