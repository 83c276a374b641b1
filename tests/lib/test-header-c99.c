/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The public header on its own, compiled as strict C99 (-std=c99 -pedantic,
 * see meson.build): it must need no other header, no GNU extension, and
 * declare everything with the types programs expect.
 */
#include <kcopyd.h>
#include <kcopyd.h>   /* include guard */

#include <stdio.h>
#include <string.h>

static void notify(int read_err, unsigned int write_err, void *context)
{
	(void)read_err; (void)write_err; (void)context;
}

static void result(const struct kcopyd_result *res, void *context)
{
	(void)res; (void)context;
}

int main(void)
{
	/* The seed's signatures, exactly. */
	int (*create)(unsigned int, struct kcopyd_client **) = kcopyd_client_create;
	int (*copy)(struct kcopyd_client *, struct io_region *, unsigned int, struct io_region *,
		    unsigned int, kcopyd_notify_fn, void *) = kcopyd_copy;
	int (*zero)(struct kcopyd_client *, unsigned int, struct io_region *, unsigned int,
		    kcopyd_notify_fn, void *) = kcopyd_zero;
	void (*destroy)(struct kcopyd_client *) = kcopyd_client_destroy;
	int (*copy_ex)(struct kcopyd_client *, struct io_region *, unsigned int, struct io_region *,
		       unsigned int, kcopyd_result_fn, void *) = kcopyd_copy_ex;
	kcopyd_notify_fn nf = notify;
	kcopyd_result_fn rf = result;
	struct io_region r = { NULL, 0, 0 };
	sector_t s = (sector_t)-1;
	char want[32];
	int bad = 0;

	(void)create; (void)copy; (void)zero; (void)destroy; (void)copy_ex; (void)nf; (void)rf;
	if (sizeof(s) != 8 || s < 1) {
		fprintf(stderr, "sector_t is not a 64-bit unsigned type\n");
		bad = 1;
	}
	if (KCOPYD_MAX_REGIONS != 32 || KCOPYD_SECTOR_SIZE != 512 || KCOPYD_PAGE_SIZE != 4096 ||
	    (1u << KCOPYD_SECTOR_SHIFT) != KCOPYD_SECTOR_SIZE) {
		fprintf(stderr, "constants are wrong\n");
		bad = 1;
	}
	if ((KCOPYD_IGNORE_ERROR & KCOPYD_WRITE_SEQ) || (KCOPYD_IGNORE_ERROR & KCOPYD_SKIP_ZEROES) ||
	    (KCOPYD_WRITE_SEQ & KCOPYD_SKIP_ZEROES) || KCOPYD_IGNORE_ERROR != 1u ||
	    KCOPYD_WRITE_SEQ != 2u) {
		fprintf(stderr, "flags overlap or differ from the seed's\n");
		bad = 1;
	}
	if (r.bdev != NULL || r.sector != 0 || r.count != 0)
		bad = 1;
	sprintf(want, "%d.%d.%d", KCOPYD_VERSION_MAJOR, KCOPYD_VERSION_MINOR, KCOPYD_VERSION_MICRO);
	if (strcmp(kcopyd_version(), want) != 0) {
		fprintf(stderr, "kcopyd_version() %s != %s\n", kcopyd_version(), want);
		bad = 1;
	}
	if (!bad)
		printf("test-header-c99: PASS\n");
	return bad;
}
