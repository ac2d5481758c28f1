/* SPDX-License-Identifier: MIT */
/*
 * error_strings - shmpipe_strerror and shmpipe_errname: specific texts for
 * the conditions the library maps onto errno, the C library's for the
 * rest, never NULL or empty whatever the value; and the version calls
 * agree with the header.
 */
#include "helpers.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static void check_text(int err, int line)
{
	const char *s = shmpipe_strerror(err);
	if (!s || !*s)
		t_fail(__FILE__, line, "strerror(%d) is %s", err,
		       s ? "empty" : "NULL");
	const char *n = shmpipe_errname(err);
	if (!n || !*n)
		t_fail(__FILE__, line, "errname(%d) is %s", err,
		       n ? "empty" : "NULL");
}

static void test_specific(void)
{
	/* Our own meanings, named as the header says. */
	T_ASSERT(strstr(shmpipe_strerror(-EBADMSG), "corrupt") != NULL);
	T_ASSERT(strstr(shmpipe_strerror(-EPROTO), "shmpipe") != NULL);
	T_ASSERT(strstr(shmpipe_strerror(-ETIMEDOUT), "timed out") != NULL);
	/* Either sign. */
	T_ASSERT(
		!strcmp(shmpipe_strerror(EBADMSG), shmpipe_strerror(-EBADMSG)));
	T_ASSERT(!strcmp(shmpipe_strerror(EPROTO), shmpipe_strerror(-EPROTO)));
	T_ASSERT(!strcmp(shmpipe_strerror(0), "Success"));
	/* Distinct conditions, distinct texts. */
	T_ASSERT(strcmp(shmpipe_strerror(-EBADMSG), shmpipe_strerror(-EPROTO)));

	T_ASSERT(!strcmp(shmpipe_errname(-EBADMSG), "EBADMSG"));
	T_ASSERT(!strcmp(shmpipe_errname(EBADMSG), "EBADMSG"));
	T_ASSERT(!strcmp(shmpipe_errname(-EPROTO), "EPROTO"));
	T_ASSERT(!strcmp(shmpipe_errname(-ENOENT), "ENOENT"));
	T_ASSERT(!strcmp(shmpipe_errname(-ETIMEDOUT), "ETIMEDOUT"));
	T_ASSERT(!strcmp(shmpipe_errname(-EEXIST), "EEXIST"));
	T_ASSERT(!strcmp(shmpipe_errname(-ENAMETOOLONG), "ENAMETOOLONG"));
	T_ASSERT(!strcmp(shmpipe_errname(-ELOOP), "ELOOP"));
	T_ASSERT(!strcmp(shmpipe_errname(-EACCES), "EACCES"));
	T_ASSERT(!strcmp(shmpipe_errname(-ENOSPC), "ENOSPC"));

	/* Others come from the C library. */
	T_ASSERT(!strcmp(shmpipe_strerror(-ELOOP), strerror(ELOOP)));
	T_ASSERT(!strcmp(shmpipe_strerror(-EACCES), strerror(EACCES)));
}

static void test_unknown(void)
{
	const int values[] = {4095,    -4095,	 100000,  -100000,
			      INT_MAX, -INT_MAX, INT_MIN, INT_MIN + 1};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		check_text(values[i], __LINE__);
		if (strcmp(shmpipe_errname(values[i]), "EUNKNOWN"))
			t_fail(__FILE__, __LINE__, "errname(%d) = %s",
			       values[i], shmpipe_errname(values[i]));
	}
	/* Every value an errno can take has a name and a text. */
	for (int e = -4096; e <= 4096; e++)
		check_text(e, __LINE__);
}

static void test_version(void)
{
	T_EQ(shmpipe_version(), SHMPIPE_VERSION_NUMBER);
	T_EQ(SHMPIPE_VERSION_NUMBER, SHMPIPE_VERSION_MAJOR * 10000 +
					     SHMPIPE_VERSION_MINOR * 100 +
					     SHMPIPE_VERSION_PATCH);
	T_ASSERT(shmpipe_version_string() != NULL);
	T_ASSERT(!strcmp(shmpipe_version_string(), SHMPIPE_VERSION_STRING));
	char built[32];
	snprintf(built, sizeof(built), "%d.%d.%d", SHMPIPE_VERSION_MAJOR,
		 SHMPIPE_VERSION_MINOR, SHMPIPE_VERSION_PATCH);
	T_ASSERT(!strcmp(shmpipe_version_string(), built));
}

int main(void)
{
	test_specific();
	test_unknown();
	test_version();
	return T_PASS;
}
