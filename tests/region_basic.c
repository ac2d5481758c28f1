/* SPDX-License-Identifier: MIT */
/*
 * region_basic - the life of a region: create, share with a forked child
 * that opens it by name, getters, the init callback (runs before the name
 * exists; a failure leaves nothing behind), argument errors, and a handle
 * that outlives its name.
 */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* Whether /dev/shm holds a hidden temporary file of this process. */
static int temp_files_of(pid_t pid)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), ".shmpipe-tmp.%ld.", (long)pid);
	DIR *d = opendir("/dev/shm");
	T_ASSERT(d != NULL);
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)))
			found++;
	closedir(d);
	return found;
}

static void test_create_share(void)
{
	const char *name = t_name("share");
	struct shmpipe_region_config cfg = {.size = 10000};
	shmpipe_region *r = (shmpipe_region *)1;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	T_ASSERT(r != NULL);
	T_ASSERT(t_shm_exists("shmpipe.", name));

	unsigned char *data = shmpipe_region_data(r);
	T_EQ((uintptr_t)data % 64, 0);
	T_EQ(shmpipe_region_size(r), 10000);
	T_ASSERT(!strcmp(shmpipe_region_name(r), name));
	for (size_t i = 0; i < cfg.size; i++)
		if (data[i] != 0)
			t_fail(__FILE__, __LINE__, "byte %zu not zero", i);
	/* The last byte is ours to use. */
	memcpy(data, "parent", 7);
	data[cfg.size - 1] = 0xa5;

	pid_t pid = t_fork();
	if (pid == 0) {
		shmpipe_region *c;
		T_OK(shmpipe_region_open(&c, name));
		unsigned char *cd = shmpipe_region_data(c);
		T_EQ((uintptr_t)cd % 64, 0);
		T_EQ(shmpipe_region_size(c), 10000);
		T_ASSERT(!strcmp(shmpipe_region_name(c), name));
		T_ASSERT(!memcmp(cd, "parent", 7));
		T_EQ(cd[cfg.size - 1], 0xa5);
		memcpy(cd + 100, "child", 6);
		shmpipe_region_close(c);
		_exit(T_PASS);
	}
	T_EQ(t_wait(pid), T_PASS);
	T_ASSERT(!memcmp(data + 100, "child", 6));

	/* A second handle in this process maps the same memory. */
	shmpipe_region *r2;
	T_OK(shmpipe_region_open(&r2, name));
	unsigned char *data2 = shmpipe_region_data(r2);
	T_ASSERT(data2 != data);
	data2[5000] = 42;
	T_EQ(data[5000], 42);
	shmpipe_region_close(r2);

	shmpipe_region_close(r);
	/* Closing leaves the object and its data. */
	T_ASSERT(t_shm_exists("shmpipe.", name));
	T_OK(shmpipe_region_open(&r, name));
	T_ASSERT(!memcmp((char *)shmpipe_region_data(r) + 100, "child", 6));
	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(name));
	T_ASSERT(!t_shm_exists("shmpipe.", name));
}

static void test_missing(void)
{
	const char *name = t_name("missing");
	shmpipe_region *r = (shmpipe_region *)1;
	T_ERR(shmpipe_region_open(&r, name), ENOENT);
	T_ASSERT(r == NULL);
	T_ERR(shmpipe_region_unlink(name), ENOENT);
	shmpipe_region_close(NULL);
}

static void test_bad_arguments(void)
{
	const char *name = t_name("args");
	struct shmpipe_region_config cfg = {.size = 0};
	shmpipe_region *r = (shmpipe_region *)1;
	T_ERR(shmpipe_region_create(&r, name, &cfg), EINVAL);
	T_ASSERT(r == NULL);
	T_ERR(shmpipe_region_create(&r, name, NULL), EINVAL);
	T_ERR(shmpipe_region_open(NULL, name), EINVAL);
	cfg.size = 4096;
	T_ERR(shmpipe_region_create(NULL, name, &cfg), EINVAL);
	cfg.flags = 0x80000000u;
	T_ERR(shmpipe_region_create(&r, name, &cfg), EINVAL);
	cfg.flags = 0;
	cfg.size = SIZE_MAX;
	r = (shmpipe_region *)1;
	int ret = shmpipe_region_create(&r, name, &cfg);
	if (ret != -EFBIG && ret != -EINVAL)
		t_fail(__FILE__, __LINE__, "SIZE_MAX: got %d (%s)", ret,
		       shmpipe_errname(ret));
	T_ASSERT(r == NULL);
	T_ASSERT(!t_shm_exists("shmpipe.", name));
	T_EQ(temp_files_of(getpid()), 0);
}

struct init_probe {
	const char *name;
	int calls;
	size_t size;
	int all_zero;
	int name_existed;
	int ret;
};

static int init_cb(void *data, size_t size, void *arg)
{
	struct init_probe *p = arg;
	unsigned char *d = data;
	p->calls++;
	p->size = size;
	p->all_zero = 1;
	for (size_t i = 0; i < size; i++)
		if (d[i])
			p->all_zero = 0;
	/* Not published yet: nobody can see it by name. */
	p->name_existed = t_shm_exists("shmpipe.", p->name);
	memcpy(d, "made by init", 13);
	d[size - 1] = 0x5a;
	return p->ret;
}

static void test_init(void)
{
	const char *name = t_name("init");
	struct init_probe p = {.name = name};
	struct shmpipe_region_config cfg = {
		.size = 3 * 4096 + 1,
		.init = init_cb,
		.init_arg = &p,
	};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	T_EQ(p.calls, 1);
	T_EQ(p.size, cfg.size);
	T_ASSERT(p.all_zero);
	T_EQ(p.name_existed, 0);

	pid_t pid = t_fork();
	if (pid == 0) {
		shmpipe_region *c;
		T_OK(shmpipe_region_open(&c, name));
		unsigned char *d = shmpipe_region_data(c);
		T_ASSERT(!memcmp(d, "made by init", 13));
		T_EQ(d[cfg.size - 1], 0x5a);
		shmpipe_region_close(c);
		_exit(T_PASS);
	}
	T_EQ(t_wait(pid), T_PASS);
	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(name));
}

static void test_init_fails(void)
{
	const char *name = t_name("initfail");
	const int errors[] = {-ENOTSUP, -EIO, -ENOMEM, -12345};
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		struct init_probe p = {.name = name, .ret = errors[i]};
		struct shmpipe_region_config cfg = {
			.size = 1 << 20,
			.init = init_cb,
			.init_arg = &p,
		};
		shmpipe_region *r = (shmpipe_region *)1;
		T_EQ(shmpipe_region_create(&r, name, &cfg), errors[i]);
		T_EQ(p.calls, 1);
		T_ASSERT(r == NULL);
		T_ASSERT(!t_shm_exists("shmpipe.", name));
		T_ERR(shmpipe_region_open(&r, name), ENOENT);
		T_EQ(temp_files_of(getpid()), 0);

		/* The same with SHMPIPE_REPLACE over an existing region: the
		 * old one stays as it was. */
		struct shmpipe_region_config old_cfg = {.size = 100};
		shmpipe_region *old;
		T_OK(shmpipe_region_create(&old, name, &old_cfg));
		memcpy(shmpipe_region_data(old), "old", 4);
		cfg.flags = SHMPIPE_REPLACE;
		p.calls = 0;
		T_EQ(shmpipe_region_create(&r, name, &cfg), errors[i]);
		T_EQ(p.calls, 1);
		T_EQ(temp_files_of(getpid()), 0);
		shmpipe_region_close(old);
		T_OK(shmpipe_region_open(&old, name));
		T_EQ(shmpipe_region_size(old), 100);
		T_ASSERT(!memcmp(shmpipe_region_data(old), "old", 4));
		shmpipe_region_close(old);
		T_OK(shmpipe_region_unlink(name));
	}
}

static void test_unlinked_handle(void)
{
	const char *name = t_name("unlinked");
	struct shmpipe_region_config cfg = {.size = 64 * 1024};
	shmpipe_region *r;
	T_OK(shmpipe_region_create(&r, name, &cfg));
	T_OK(shmpipe_region_unlink(name));
	T_ASSERT(!t_shm_exists("shmpipe.", name));
	shmpipe_region *again;
	T_ERR(shmpipe_region_open(&again, name), ENOENT);
	T_ERR(shmpipe_region_unlink(name), ENOENT);

	/* The handle still works, also in a child that inherited it. */
	char *d = shmpipe_region_data(r);
	memset(d, 'x', cfg.size);
	T_EQ(shmpipe_region_size(r), cfg.size);
	T_ASSERT(!strcmp(shmpipe_region_name(r), name));
	pid_t pid = t_fork();
	if (pid == 0) {
		T_EQ(d[cfg.size - 1], 'x');
		d[0] = 'y';
		_exit(T_PASS);
	}
	T_EQ(t_wait(pid), T_PASS);
	T_EQ(d[0], 'y');

	/* The name is free again for a new, different region. */
	shmpipe_region *fresh;
	T_OK(shmpipe_region_create(&fresh, name, &cfg));
	T_EQ(((char *)shmpipe_region_data(fresh))[0], 0);
	T_EQ(d[0], 'y');
	shmpipe_region_close(fresh);
	shmpipe_region_close(r);
	T_OK(shmpipe_region_unlink(name));
}

int main(void)
{
	test_create_share();
	test_missing();
	test_bad_arguments();
	test_init();
	test_init_fails();
	test_unlinked_handle();
	return T_PASS;
}
