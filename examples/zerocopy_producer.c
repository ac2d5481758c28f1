/* SPDX-License-Identifier: MIT */
/*
 * zerocopy_producer.c - records built straight in the pipe's ring, and
 * checked straight in it: no staging buffer, no memcpy on either side.
 *
 * In two terminals (either may start first; the first creates the pipe):
 *
 *     build/examples/zerocopy_producer --consume records 1000000
 *     build/examples/zerocopy_producer records 1000000
 *
 * The producer asks for room for a batch of records with shmpipe_reserve(),
 * fills them in place and publishes them with shmpipe_commit(): the batch
 * becomes one message. The consumer looks at each message in place with
 * shmpipe_peek(), checks every record and only then consumes the message
 * with shmpipe_release(). The consumer removes the pipe when it is done.
 *
 * What it shows, in order of appearance below:
 *  1. a record filled in shared memory: fixed-width fields, 8-byte aligned
 *     because the pipe puts every message payload on an 8-byte boundary;
 *  2. reserving less than a whole batch on purpose: when the ring has room
 *     for only some records, take those now (shmpipe_room() says how many)
 *     instead of waiting for room for the whole batch;
 *  3. committing less than was reserved: when the source runs dry part way
 *     (here: a stop signal), publish what was filled; the rest of the
 *     reservation is given back;
 *  4. the wrap: there is none to handle. A reservation that runs past the
 *     end of the ring is contiguous all the same (the ring is mapped twice,
 *     back to back), so a record is never split; both sides count the wraps
 *     they saw, to show that they happen;
 *  5. at-least-once reading: a consumer killed between peek and release
 *     leaves the message in the pipe for the next consumer;
 *  6. clean shutdown on Ctrl-C / SIGTERM: every wait has a timeout, after
 *     which the loop looks at the shmpipe_shutdown helper.
 *
 * Exit status: 0 COUNT records written (producer) or verified (consumer),
 * 1 otherwise (an error, a bad record, a signal), 2 on a usage error.
 */
#define _GNU_SOURCE
#include "shmpipe.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the record */

struct record {
	uint64_t sequence; /* 0, 1, 2, ... */
	uint64_t check;	   /* sequence * CHECK_FACTOR: a record torn or left
			      over from an earlier lap of the ring fails it */
	char text[48];	   /* "record 42", NUL-padded */
};
_Static_assert(sizeof(struct record) == 64,
	       "the record's layout is shared by both processes");

#define CHECK_FACTOR UINT64_C(0x9e3779b97f4a7c15)

/* Every wait is cut into slices this long, to look at the signals. */
#define SLICE_MS 250

/* Build record @seq in place: @rec points into the ring. */
static void fill_record(struct record *rec, uint64_t seq)
{
	rec->sequence = seq;
	rec->check = seq * CHECK_FACTOR;
	/* The ring holds old bytes: clear the whole field, not just up to
	 * the text's end, so the consumer can compare all of it. */
	memset(rec->text, 0, sizeof(rec->text));
	snprintf(rec->text, sizeof(rec->text), "record %" PRIu64, seq);
}

static bool record_ok(const struct record *rec, uint64_t seq)
{
	struct record want;
	fill_record(&want, seq);
	return memcmp(rec, &want, sizeof(want)) == 0;
}

/* ---------------------------------------------------------- create or open */

/*
 * The first of the two processes creates the pipe, the other opens it. The
 * loop covers a race: the pipe may be removed between our create (-EEXIST)
 * and our open (-ENOENT). Then check that it is a pipe we can use.
 */
static int open_pipe(shmpipe **p, const char *name, unsigned flags,
		     size_t capacity)
{
	struct shmpipe_config cfg = { .capacity = capacity,
				      .kind = SHMPIPE_MESSAGE };
	int r = -EAGAIN;
	for (int tries = 0; tries < 5 && r == -EAGAIN; tries++) {
		r = shmpipe_create(name, &cfg);
		if (r < 0 && r != -EEXIST)
			return r;
		r = shmpipe_open(p, name, flags);
		if (r == -ENOENT)
			r = -EAGAIN;
	}
	if (r < 0)
		return r;
	/* A stream pipe would work too, but a consumer would then have to
	 * cope with a peek that ends in the middle of a record. */
	if (shmpipe_kind(*p) != SHMPIPE_MESSAGE ||
	    shmpipe_capacity(*p) < 8 + sizeof(struct record)) {
		shmpipe_close(*p);
		return -EPROTOTYPE;
	}
	return 0;
}

/* ---------------------------------------------------------- the producer */

struct counts {
	uint64_t records, messages, short_reservations, wraps;
};

static int produce(shmpipe *w, shmpipe_shutdown *sd, uint64_t count,
		   size_t batch, struct counts *n)
{
	/* The largest message the pipe can ever hold (8 bytes of header). */
	size_t most = (shmpipe_capacity(w) - 8) / sizeof(struct record);
	if (batch > most)
		batch = most;
	const char *last_end = NULL;
	while (n->records < count) {
		if (shmpipe_shutdown_signal(sd))
			return -EINTR;
		size_t want = batch;
		if (count - n->records < want)
			want = (size_t)(count - n->records);
		/*
		 * Shorter than a batch, on purpose: if the ring has room for
		 * some records but not for the batch, take those now rather
		 * than wait; the consumer gets them sooner. With no room at
		 * all, wait for a whole batch: fewer wake-ups. We are the
		 * only writer, so the room can only grow before we reserve.
		 */
		ssize_t room = shmpipe_room(w);
		if (room < 0)
			return (int)room;
		size_t fits = (size_t)room / sizeof(struct record);
		if (fits && fits < want) {
			want = fits;
			n->short_reservations++;
		}
		void *space;
		ssize_t got = shmpipe_reserve(
			w, &space, want * sizeof(struct record), SLICE_MS);
		if (got == -ETIMEDOUT)
			continue; /* still full: signals, then wait again */
		if (got < 0)
			return (int)got;
		/*
		 * reserve() gives the whole length asked for, or an error:
		 * never less. The space is contiguous even where it runs past
		 * the ring's end (it is mapped twice, back to back): fill it
		 * as one array. Seeing the next space start below the last
		 * one is how we notice that the ring wrapped.
		 */
		if (last_end && (const char *)space < last_end)
			n->wraps++;
		/* Never true (payloads are 8-aligned), but cheap to check
		 * before casting the space to a struct. */
		if ((uintptr_t)space % _Alignof(struct record)) {
			shmpipe_commit(w, 0);
			return -EFAULT;
		}
		struct record *rec = space;
		size_t filled = 0;
		for (; filled < (size_t)got / sizeof(*rec); filled++) {
			/* A real source may run dry part way through (a
			 * socket, a sensor); here a stop signal does. */
			if (shmpipe_shutdown_signal(sd))
				break;
			fill_record(&rec[filled], n->records + filled);
		}
		/* Publish what was filled, the rest of the space goes back:
		 * one store makes the whole batch visible to the consumer,
		 * and commit(0) publishes nothing at all. */
		ssize_t r = shmpipe_commit(w, filled * sizeof(*rec));
		if (r < 0)
			return (int)r;
		n->records += filled;
		n->messages += filled > 0;
		last_end = (const char *)space + filled * sizeof(*rec);
	}
	return 0;
}

/* ---------------------------------------------------------- the consumer */

static int consume(shmpipe *r, shmpipe_shutdown *sd, struct counts *n,
		   uint64_t *bad)
{
	const char *last = NULL;
	for (;;) {
		const void *msg;
		/* peek: the next whole message, in place in the ring. */
		ssize_t len = shmpipe_peek(r, &msg, SLICE_MS);
		if (len == -ETIMEDOUT) {
			if (shmpipe_shutdown_signal(sd))
				return -EINTR;
			continue;
		}
		if (len < 0)
			return (int)len;
		if (len == 0)
			return 0; /* end of file: the producer has gone */
		if (last && (const char *)msg < last)
			n->wraps++;
		last = msg;
		const struct record *rec = msg;
		size_t records = (size_t)len / sizeof(*rec);
		if ((size_t)len % sizeof(*rec) ||
		    (uintptr_t)msg % _Alignof(struct record)) {
			fprintf(stderr,
				"zerocopy_producer: a message of %zd "
				"bytes is not a batch of records\n",
				len);
			(*bad)++;
			records = 0;
		}
		for (size_t i = 0; i < records; i++) {
			if (record_ok(&rec[i], n->records))
				n->records++;
			else if ((*bad)++ < 5)
				fprintf(stderr,
					"zerocopy_producer: record "
					"%" PRIu64 " is wrong: found "
					"sequence %" PRIu64 "\n",
					n->records, rec[i].sequence);
		}
		/* Consumed only now, after the check: a consumer killed
		 * before this line leaves the message in the pipe for the
		 * next one (at-least-once). Any length > 0 releases the
		 * whole message. */
		int rr = shmpipe_release(r, (size_t)len);
		if (rr < 0)
			return rr;
		n->messages++;
	}
}

/* ---------------------------------------------------------------- main */

static const char usage[] =
	"usage: zerocopy_producer [--capacity BYTES] [--batch N] PIPE COUNT\n"
	"       zerocopy_producer --consume [--capacity BYTES] PIPE COUNT\n"
	"Write COUNT records into the message pipe PIPE, built in place with\n"
	"shmpipe_reserve/shmpipe_commit; with --consume, read them in place\n"
	"with shmpipe_peek/shmpipe_release and check every one (the consumer\n"
	"removes the pipe at the end). Whichever starts first creates PIPE.\n"
	"  --capacity BYTES  the pipe's size when creating it (default 65536)\n"
	"  --batch N         records per message, at most (default 64)\n";

static bool parse_number(const char *s, unsigned long long max,
			 unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v == 0 || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "consume", no_argument, NULL, 'c' },
		{ "capacity", required_argument, NULL, 'C' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool consumer = false;
	unsigned long long capacity = 65536, batch = 64, count_arg;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			consumer = true;
			break;
		case 'C':
			if (!parse_number(optarg, SIZE_MAX / 2, &capacity))
				goto usage_error;
			break;
		case 'b':
			if (!parse_number(optarg, 1 << 20, &batch))
				goto usage_error;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			goto usage_error;
		}
	}
	if (argc - optind != 2 ||
	    !parse_number(argv[optind + 1], UINT64_MAX, &count_arg))
		goto usage_error;
	uint64_t count = count_arg;
	const char *name = argv[optind];
	const char *role = consumer ? "consumer" : "producer";

	/* First, so that a signal from now on is caught, never fatal. */
	shmpipe_shutdown *sd;
	int r = shmpipe_shutdown_open(&sd, 0);
	if (r < 0) {
		fprintf(stderr, "zerocopy_producer: cannot catch signals: %s\n",
			shmpipe_strerror(r));
		return 1;
	}
	/* EXCLUSIVE on both sides: one writer and one reader exchange
	 * data without taking a lock per call (the fast path). */
	shmpipe *p;
	r = open_pipe(&p, name,
		      (consumer ? SHMPIPE_READ : SHMPIPE_WRITE) |
			      SHMPIPE_EXCLUSIVE,
		      (size_t)capacity);
	if (r == -EPROTOTYPE) {
		fprintf(stderr,
			"zerocopy_producer: pipe '%s' is not a "
			"message pipe of at least %zu bytes\n",
			name, 8 + sizeof(struct record));
		goto fail_shutdown;
	}
	if (r < 0) {
		fprintf(stderr,
			"zerocopy_producer: cannot open pipe '%s': "
			"%s\n",
			name, shmpipe_strerror(r));
		goto fail_shutdown;
	}
	/* The consumer is the end of the line: it removes the pipe when it
	 * stops, whatever the reason. The producer leaves it: its data waits
	 * in the pipe for a consumer. */
	if (consumer && (r = shmpipe_shutdown_register(
				 sd, name, SHMPIPE_OBJECT_REGION)) < 0) {
		fprintf(stderr,
			"zerocopy_producer: cannot register pipe '%s' "
			"for removal: %s\n",
			name, shmpipe_strerror(r));
		goto fail_pipe;
	}

	struct counts n = { 0 };
	uint64_t bad = 0;
	r = consumer ? consume(p, sd, &n, &bad)
		     : produce(p, sd, count, (size_t)batch, &n);
	shmpipe_close(p); /* the producer's close is the consumer's EOF */
	int status = 0;
	if (r == -EINTR) {
		fprintf(stderr, "zerocopy_producer: %s stopped by a signal\n",
			role);
		status = 1;
	} else if (r < 0) {
		fprintf(stderr, "zerocopy_producer: %s: pipe '%s': %s\n", role,
			name, shmpipe_strerror(r));
		status = 1;
	}
	printf("%s: %" PRIu64 " records in %" PRIu64 " messages", role,
	       n.records, n.messages);
	if (!consumer)
		printf(" (%" PRIu64 " reservations shorter than a batch)",
		       n.short_reservations);
	printf("; the ring wrapped %" PRIu64 " times\n", n.wraps);
	if (consumer && !status) {
		if (bad || n.records != count) {
			printf("consumer: FAILED: %" PRIu64 " of %" PRIu64
			       " records verified, %" PRIu64 " bad\n",
			       n.records, count, bad);
			status = 1;
		} else {
			printf("consumer: all %" PRIu64 " records verified, "
			       "in order\n",
			       count);
		}
	}
	shmpipe_shutdown_close(sd); /* the consumer: removes the pipe */
	return status;

fail_pipe:
	shmpipe_close(p);
fail_shutdown:
	shmpipe_shutdown_close(sd);
	return 1;

usage_error:
	fputs(usage, stderr);
	return 2;
}
