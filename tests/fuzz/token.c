/* SPDX-License-Identifier: MIT */
/*
 * token.c - libFuzzer target: the bridge's token comparison
 * (shmpipe__token_equal(), src/framing.c) says equal exactly when the two
 * strings have the same length and the same bytes (memcmp semantics),
 * whatever the bytes (NULs, newlines, high bytes) and lengths (0, one
 * longer than the other by one), and reads neither string past its length
 * (each in a heap block of exactly that size, for ASan).
 *
 * Input: [split byte][a and b]: the split byte cuts the rest into a and
 * b. Besides a against b, each string is compared with an exact copy of
 * itself, with itself one byte shorter and one byte longer, and with a
 * copy that differs in one byte (chosen by the split byte).
 */
#include "bridge.h"

#include "fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* A heap copy of exactly @len bytes (a 1-byte block for 0, never read). */
static unsigned char *dup_exact(const uint8_t *p, size_t len)
{
	unsigned char *q = malloc(len ? len : 1);
	CHECK(q);
	if (len)
		memcpy(q, p, len);
	return q;
}

static int model_equal(const unsigned char *a, size_t alen,
		       const unsigned char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Compare @a and @b both ways, each in its own exact block. */
static void compare(const uint8_t *a, size_t alen, const uint8_t *b,
		    size_t blen)
{
	unsigned char *x = dup_exact(a, alen), *y = dup_exact(b, blen);
	int want = model_equal(x, alen, y, blen);
	int r = shmpipe__token_equal(x, alen, y, blen);
	CHECK(r == 0 || r == 1);
	CHECK(r == want);
	CHECK(shmpipe__token_equal(y, blen, x, alen) == want);
	free(x);
	free(y);
}

/* @s against copies of itself: equal, shorter, longer, one byte off. */
static void against_itself(const uint8_t *s, size_t len, uint8_t pick)
{
	compare(s, len, s, len);
	if (len)
		compare(s, len, s, len - 1);
	unsigned char *longer = malloc(len + 1);
	CHECK(longer);
	if (len)
		memcpy(longer, s, len);
	longer[len] = pick; /* also a NUL: lengths count, not terminators */
	compare(s, len, longer, len + 1);
	if (len) {
		memcpy(longer, s, len);
		longer[pick % len] ^= (unsigned char)(1u << (pick % 8));
		compare(s, len, longer, len);
	}
	free(longer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t pick = data[0];
	const uint8_t *rest = data + 1;
	size_t n = size - 1;
	/* the split: halves when pick is even (equal lengths: the case
	 * where the bytes decide), else pick bytes for a */
	size_t alen = pick % 2 == 0 ? n / 2 : (size_t)pick / 2 % (n + 1);
	const uint8_t *a = rest, *b = rest + alen;
	size_t blen = n - alen;
	compare(a, alen, b, blen);
	against_itself(a, alen, pick);
	against_itself(b, blen, pick);
	return 0;
}
