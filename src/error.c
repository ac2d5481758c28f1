/* SPDX-License-Identifier: MIT */
/*
 * error.c - names and descriptions of the values the library returns.
 *
 * We have no private error space: our own conditions are mapped onto the
 * nearest errno. This one table gives those the text that says what they
 * mean here; every other errno gets the C library's name and description.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define SHMPIPE__ERRORS(X)                                                    \
	X(EBADMSG, "shared memory object is corrupt or truncated")            \
	X(EPROTO, "not a shmpipe object of this type or version")             \
	X(ETIMEDOUT, "timed out")                                             \
	X(EAGAIN, "would block")                                              \
	X(EMSGSIZE, "message too large")                                      \
	X(EPIPE, "no reader left")                                            \
	X(ENOTRECOVERABLE, "lock is not recoverable")                         \
	X(EEXIST, "already exists")                                           \
	X(ENOENT, "no such object")                                           \
	X(ENOSPC, "not enough space in /dev/shm")                             \
	X(ENAMETOOLONG, "name too long")

static const struct {
	int err;
	const char *name;
	const char *text;
} known[] = {
#define SHMPIPE__ERROR_ENTRY(e, text) { e, #e, text },
	SHMPIPE__ERRORS(SHMPIPE__ERROR_ENTRY)
#undef SHMPIPE__ERROR_ENTRY
};

static int positive(int err)
{
	/* -INT_MIN does not fit in an int; it is no errno either way. */
	if (err == INT_MIN)
		return INT_MAX;
	return err < 0 ? -err : err;
}

SHMPIPE_API const char *shmpipe_strerror(int err)
{
	err = positive(err);
	if (err == 0)
		return "Success";
	for (size_t i = 0; i < SHMPIPE__ARRAY_SIZE(known); i++)
		if (known[i].err == err)
			return known[i].text;
	const char *d = strerrordesc_np(err); /* thread-safe, static */
	return d ? d : "Unknown error";
}

SHMPIPE_API const char *shmpipe_errname(int err)
{
	err = positive(err);
	if (err == 0)
		return "OK";
	for (size_t i = 0; i < SHMPIPE__ARRAY_SIZE(known); i++)
		if (known[i].err == err)
			return known[i].name;
	const char *n = strerrorname_np(err);
	return n ? n : "EUNKNOWN";
}

SHMPIPE_API unsigned shmpipe_version(void)
{
	return SHMPIPE_VERSION_NUMBER;
}

SHMPIPE_API const char *shmpipe_version_string(void)
{
	return SHMPIPE_VERSION_STRING;
}
