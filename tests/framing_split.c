/* SPDX-License-Identifier: MIT */
/*
 * framing_split.c - the bridge's unit decoder (src/framing.c) finds the
 * same units in the same bytes however they are split into reads, never
 * reads past what it was given (run under ASan: every chunk is a heap
 * block of exactly its size), refuses units over the limit, and the token
 * comparison is exact.
 */
#include "bridge.h"
#include "helpers.h"

#include <errno.h>
#include <string.h>

#define STREAM_MAX (1 << 16)

static unsigned rnd(void)
{
	static unsigned long long s = 88172645463325252ull;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (unsigned)s;
}

struct units {
	size_t n;
	size_t off[8192], len[8192];
};

/* Decode @buf as a connection would see it, arriving in @nsplit pieces at
 * random points: append each piece, take every complete unit. */
static int decode(unsigned framing, const unsigned char *buf, size_t len,
		  int nsplit, size_t max_unit, struct units *u)
{
	unsigned char *acc = malloc(len + 1);
	size_t have = 0, base = 0, scanned = 0, fed = 0;
	u->n = 0;
	while (fed < len) {
		size_t piece = nsplit ? 1 + rnd() % (len / (size_t)nsplit + 1)
				      : len;
		if (piece > len - fed)
			piece = len - fed;
		/* the piece comes in its own exactly-sized heap block */
		unsigned char *blk = malloc(piece);
		memcpy(blk, buf + fed, piece);
		memcpy(acc + have, blk, piece);
		free(blk);
		have += piece;
		fed += piece;
		for (;;) {
			struct shmpipe__frame f;
			unsigned char *view = malloc(have - base + 1);
			memcpy(view, acc + base, have - base);
			int r = shmpipe__frame_next(framing, view, have - base,
						    scanned, max_unit, &f);
			free(view);
			if (r < 0) {
				free(acc);
				return r;
			}
			if (r == 0) {
				scanned = have - base;
				break;
			}
			T_ASSERT(f.size <= have - base);
			T_ASSERT(f.payload + f.payload_len <= f.size);
			if (framing == SHMPIPE_FRAMING_RAW)
				break; /* raw: a unit is whatever came */
			T_ASSERT(u->n < 8192);
			u->off[u->n] = base + f.payload;
			u->len[u->n++] = f.payload_len;
			base += f.size;
			scanned = 0;
		}
	}
	free(acc);
	return 0;
}

static size_t make_lines(unsigned char *buf, size_t max)
{
	size_t len = 0;
	while (len + 200 < max) {
		size_t n = rnd() % 150;
		for (size_t i = 0; i < n; i++)
			buf[len++] = (unsigned char)('a' + rnd() % 26);
		buf[len++] = '\n';
	}
	return len;
}

static size_t make_frames(unsigned char *buf, size_t max)
{
	size_t len = 0;
	while (len + 4 + 600 < max) {
		size_t n = rnd() % 600;
		buf[len++] = 0;
		buf[len++] = 0;
		buf[len++] = (unsigned char)(n >> 8);
		buf[len++] = (unsigned char)n;
		for (size_t i = 0; i < n; i++)
			buf[len++] = (unsigned char)rnd();
	}
	return len;
}

static void same_units(unsigned framing, const unsigned char *buf,
		       size_t len)
{
	static struct units whole, split;
	T_OK(decode(framing, buf, len, 0, STREAM_MAX, &whole));
	T_ASSERT(whole.n > 50);
	for (int trial = 0; trial < 40; trial++) {
		int pieces = 1 + (int)(rnd() % 400);
		T_OK(decode(framing, buf, len, pieces, STREAM_MAX, &split));
		T_EQ(split.n, whole.n);
		for (size_t i = 0; i < whole.n; i++) {
			T_EQ(split.off[i], whole.off[i]);
			T_EQ(split.len[i], whole.len[i]);
		}
	}
}

int main(void)
{
	static unsigned char buf[STREAM_MAX];
	size_t len = make_lines(buf, sizeof(buf));
	same_units(SHMPIPE_FRAMING_LINES, buf, len);
	len = make_frames(buf, sizeof(buf));
	same_units(SHMPIPE_FRAMING_LEN32, buf, len);

	/* limits: a line or frame over max_unit is refused, also before it
	 * is complete (so a connection cannot grow its buffer forever) */
	struct shmpipe__frame f;
	unsigned char line[100];
	memset(line, 'x', sizeof(line));
	T_ERR(shmpipe__frame_next(SHMPIPE_FRAMING_LINES, line, 100, 0, 50, &f),
	      EMSGSIZE);
	line[40] = '\n';
	T_EQ(shmpipe__frame_next(SHMPIPE_FRAMING_LINES, line, 100, 0, 50, &f), 1);
	T_EQ(f.size, 41);
	line[40] = 'x';
	line[60] = '\n';
	T_ERR(shmpipe__frame_next(SHMPIPE_FRAMING_LINES, line, 100, 0, 50, &f),
	      EMSGSIZE);
	unsigned char hdr[4] = { 0xff, 0xff, 0xff, 0xff };
	T_ERR(shmpipe__frame_next(SHMPIPE_FRAMING_LEN32, hdr, 4, 0, 1 << 20, &f),
	      EMSGSIZE);
	T_EQ(shmpipe__frame_next(SHMPIPE_FRAMING_LEN32, hdr, 3, 0, 1 << 20, &f), 0);
	unsigned char empty[4] = { 0, 0, 0, 0 };
	T_EQ(shmpipe__frame_next(SHMPIPE_FRAMING_LEN32, empty, 4, 0, 10, &f), 1);
	T_EQ(f.size, 4);
	T_EQ(f.payload_len, 0);
	T_EQ(shmpipe__frame_next(SHMPIPE_FRAMING_RAW, line, 100, 0, 30, &f), 1);
	T_EQ(f.size, 30);
	T_EQ(shmpipe__frame_next(SHMPIPE_FRAMING_RAW, line, 0, 0, 30, &f), 0);
	T_ERR(shmpipe__frame_next(7, line, 10, 0, 30, &f), EINVAL);

	/* token comparison */
	const unsigned char *tok = (const unsigned char *)"s3cret";
	T_ASSERT(shmpipe__token_equal(tok, 6, tok, 6));
	T_ASSERT(!shmpipe__token_equal(tok, 5, tok, 6));
	T_ASSERT(!shmpipe__token_equal(tok, 6, tok, 5));
	T_ASSERT(!shmpipe__token_equal((const unsigned char *)"s3creT", 6, tok, 6));
	T_ASSERT(!shmpipe__token_equal((const unsigned char *)"", 0, tok, 6));
	T_ASSERT(shmpipe__token_equal((const unsigned char *)"", 0,
				      (const unsigned char *)"", 0));
	printf("lines and len32 units identical under 40 random splittings each\n");
	return T_PASS;
}
