/* SPDX-License-Identifier: MIT */
/*
 * region.c - named shared-memory regions.
 *
 * An object is [struct shmpipe__region_header][user data]. It is created
 * without a name, filled, and only then linked into /dev/shm (sys.c), so an
 * opener sees either nothing or a complete object. Open never trusts the
 * object: it reads the header with pread() and compares it with the real
 * size from fstat() before it maps anything.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct shmpipe_region {
	void *map;
	size_t map_size;
	size_t data_size;
	size_t mirror_offset; /* as validated at open; 0 when not mirrored */
	char name[SHMPIPE_NAME_MAX + 1];
	int guard;	       /* sigbus.c slot, -1 when not guarded */
	_Atomic int truncated; /* set by sigbus.c: the mapping is zero pages */
};

struct fill_args {
	const struct shmpipe_region_config *cfg;
	uint32_t type;
	size_t data_size;
	uint64_t mirror_offset;
};

static int fill_region(void *map, size_t size, void *arg)
{
	const struct fill_args *a = arg;
	struct shmpipe__region_header *h = map;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);

	h->magic = SHMPIPE__REGION_MAGIC;
	h->version = SHMPIPE__REGION_VERSION;
	h->type = a->type;
	h->header_size = SHMPIPE__REGION_HEADER_SIZE;
	h->data_size = a->data_size;
	h->mirror_offset = a->mirror_offset;
	h->creator_pid = (uint32_t)getpid();
	h->created_realtime_ns =
		(uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	if (a->cfg->init) {
		int r = a->cfg->init((char *)map + SHMPIPE__REGION_HEADER_SIZE,
				     a->data_size, a->cfg->init_arg);
		if (r < 0)
			return r;
	}
	(void)size;
	/* Release: whoever reads ready == 1 with acquire sees all of the above
	 * and everything init wrote. */
	atomic_store_explicit(&h->ready, 1, memory_order_release);
	return 0;
}

/* @size is the object's size, @map_size what is mapped (more if mirrored). */
static shmpipe_region *region_new(const char *name, void *map, size_t size,
				  size_t map_size)
{
	shmpipe_region *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->map = map;
	r->map_size = map_size;
	r->data_size = size - SHMPIPE__REGION_HEADER_SIZE;
	r->guard = -1;
	strcpy(r->name, name); /* validated: at most SHMPIPE_NAME_MAX */
	return r;
}

int shmpipe__region_create(shmpipe_region **out, const char *name,
			   const struct shmpipe_region_config *cfg,
			   uint32_t type, uint64_t mirror_offset)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	char path[SHMPIPE__PATH_MAX];
	int r = shmpipe__shm_path(path, SHMPIPE__PREFIX, name);
	if (r < 0)
		return r;
	if (!cfg || cfg->size == 0)
		return -EINVAL;
	if (cfg->size > (size_t)INT64_MAX - SHMPIPE__REGION_HEADER_SIZE)
		return -EFBIG;
	size_t total = SHMPIPE__REGION_HEADER_SIZE + cfg->size;
	if (mirror_offset && (mirror_offset % shmpipe__page_size() ||
			      mirror_offset >= total ||
			      (total - mirror_offset) % shmpipe__page_size()))
		return -EINVAL;
	struct fill_args args = { .cfg = cfg,
				  .type = type,
				  .data_size = cfg->size,
				  .mirror_offset = mirror_offset };
	void *map;
	r = shmpipe__shm_create(path, total, cfg->mode ? cfg->mode : 0600,
				cfg->flags, fill_region, &args, &map);
	if (r < 0)
		return r;
	*out = region_new(name, map, total, total);
	if (!*out) {
		munmap(map, total);
		shmpipe__unlink(path);
		return -ENOMEM;
	}
	return 0;
}

SHMPIPE_API int shmpipe_region_create(shmpipe_region **out, const char *name,
				      const struct shmpipe_region_config *cfg)
{
	return shmpipe__region_create(out, name, cfg, SHMPIPE__TYPE_REGION, 0);
}

/* Check the header read by pread() against the object's real size. */
static int check_header(const struct shmpipe__region_header *h, size_t size,
			uint32_t type)
{
	if (h->magic != SHMPIPE__REGION_MAGIC ||
	    h->version != SHMPIPE__REGION_VERSION)
		return -EPROTO;
	if (h->header_size != SHMPIPE__REGION_HEADER_SIZE ||
	    h->data_size == 0 ||
	    h->data_size != size - SHMPIPE__REGION_HEADER_SIZE)
		return -EBADMSG;
	if (atomic_load_explicit(&h->ready, memory_order_relaxed) != 1)
		return -EBADMSG; /* never finished initialising */
	size_t page = shmpipe__page_size();
	if (h->mirror_offset &&
	    (h->mirror_offset % page || h->mirror_offset >= size ||
	     (size - h->mirror_offset) % page))
		return -EBADMSG;
	if (h->type != type)
		return -EPROTO;
	return 0;
}

int shmpipe__region_open(shmpipe_region **out, const char *name,
			 uint32_t type)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	char path[SHMPIPE__PATH_MAX];
	int r = shmpipe__shm_path(path, SHMPIPE__PREFIX, name);
	if (r < 0)
		return r;
	size_t size;
	int fd = shmpipe__shm_open(path, &size);
	if (fd < 0)
		return fd;
	struct shmpipe__region_header h;
	r = size < sizeof(h) ? -EBADMSG : shmpipe__pread_all(fd, &h, sizeof(h), 0);
	if (r == 0)
		r = check_header(&h, size, type);
	void *map = NULL;
	size_t map_size = size;
	if (r == 0 && h.mirror_offset) {
		map_size = size + (size - h.mirror_offset);
		r = shmpipe__map_mirror(fd, size, h.mirror_offset, &map);
	} else if (r == 0) {
		r = shmpipe__map(fd, size, &map);
	}
	shmpipe__close(fd);
	if (r < 0)
		return r;
	/* The mapping now sees what pread() saw; pair with the creator's
	 * release store of ready. */
	const struct shmpipe__region_header *mh = map;
	if (atomic_load_explicit(&mh->ready, memory_order_acquire) != 1 ||
	    mh->data_size != h.data_size) {
		munmap(map, map_size);
		return -EBADMSG;
	}
	*out = region_new(name, map, size, map_size);
	if (!*out) {
		munmap(map, map_size);
		return -ENOMEM;
	}
	(*out)->mirror_offset = h.mirror_offset;
	return 0;
}

SHMPIPE_API int shmpipe_region_open(shmpipe_region **out, const char *name)
{
	return shmpipe__region_open(out, name, SHMPIPE__TYPE_REGION);
}

SHMPIPE_API void *shmpipe_region_data(const shmpipe_region *r)
{
	return (char *)r->map + SHMPIPE__REGION_HEADER_SIZE;
}

SHMPIPE_API size_t shmpipe_region_size(const shmpipe_region *r)
{
	return r->data_size;
}

SHMPIPE_API const char *shmpipe_region_name(const shmpipe_region *r)
{
	return r->name;
}

const struct shmpipe__region_header *
shmpipe__region_header(const shmpipe_region *r)
{
	return r->map;
}

void *shmpipe__region_base(const shmpipe_region *r)
{
	return r->map;
}

size_t shmpipe__region_mirror_offset(const shmpipe_region *r)
{
	return r->mirror_offset;
}

size_t shmpipe__page_size(void)
{
	/* Atomic: threads may make their first call at once (relaxed: any
	 * of them stores the same value). */
	static _Atomic size_t page;
	size_t p = atomic_load_explicit(&page, memory_order_relaxed);
	if (!p) {
		p = (size_t)sysconf(_SC_PAGESIZE);
		atomic_store_explicit(&page, p, memory_order_relaxed);
	}
	return p;
}

void shmpipe__region_guard(shmpipe_region *r)
{
	if (r->guard < 0)
		r->guard = shmpipe__sigbus_guard(r->map, r->map_size,
						 &r->truncated);
}

_Atomic int *shmpipe__region_truncated(shmpipe_region *r)
{
	return &r->truncated;
}

SHMPIPE_API void shmpipe_region_close(shmpipe_region *r)
{
	if (!r)
		return;
	shmpipe__sigbus_unguard(r->guard);
	munmap(r->map, r->map_size);
	free(r);
}

SHMPIPE_API int shmpipe_region_unlink(const char *name)
{
	char path[SHMPIPE__PATH_MAX];
	int r = shmpipe__shm_path(path, SHMPIPE__PREFIX, name);
	return r < 0 ? r : shmpipe__unlink(path);
}
