/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A destination overlapping the source on the same device is copied as
 * memmove would: destination above and below the source, by less and more
 * than one sub-job, identical regions; through one handle and through two
 * handles of the same file; with the default pool, a 1-page pool and small
 * sub-jobs.  With a second destination in another file, that one receives
 * the source as it was before the job.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define SIZE (2 * TU_MIB)
#define SECTORS (SIZE / 512)

struct ov { sector_t src, dst, count; };

static const struct ov cases[] = {
	{ 0, 7, 2000 }, { 0, 1100, 2996 }, { 7, 0, 2000 }, { 1100, 0, 2996 },
	{ 100, 100, 500 }, { 0, 1, SECTORS - 1 }, { 1, 0, SECTORS - 1 },
	{ 3, 11, 1 }, { 11, 3, 9 }, { 8, 0, 4000 }, { 0, 8, 4000 },
};

static const char *path, *other;
static uint8_t *orig;

static void run(struct kcopyd_client *kc, bool twin, const char *what)
{
	uint8_t *want = malloc(SIZE), *got;
	unsigned int i;

	if (!want)
		FAIL("out of memory");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ov *c = &cases[i];
		struct block_device *rw, *ro = NULL;
		struct io_region from, to;

		tu_write_file(path, orig, SIZE);
		rw = tu_open(path, O_RDWR);
		if (twin)
			ro = tu_open(path, O_RDONLY);
		from = tu_region(twin ? ro : rw, c->src, c->count);
		to = tu_region(rw, c->dst, c->count);
		tu_copy_ok(kc, &from, 1, &to, 0);
		kcopyd_bdev_close(rw);
		kcopyd_bdev_close(ro);

		memcpy(want, orig, SIZE);
		memmove(want + c->dst * 512, want + c->src * 512, c->count * 512);
		got = tu_read_file(path, NULL);
		if (tu_cmp(got, want, SIZE, 0, what))
			FAIL("%s: %llu sectors from %llu to %llu: not what memmove gives", what,
			     (unsigned long long)c->count, (unsigned long long)c->src,
			     (unsigned long long)c->dst);
		free(got);
	}

	/* Two destinations: one overlapping the source, one elsewhere. */
	{
		struct block_device *rw, *od;
		struct io_region from, to[2];

		tu_write_file(path, orig, SIZE);
		tu_make_filled(other, SIZE, 0);
		rw = tu_open(path, O_RDWR);
		od = tu_open(other, O_RDWR);
		from = tu_region(rw, 0, 2000);
		to[0] = tu_region(rw, 500, 2000);
		to[1] = tu_region(od, 0, 2000);
		tu_copy_ok(kc, &from, 2, to, 0);
		kcopyd_bdev_close(rw);
		kcopyd_bdev_close(od);
		memcpy(want, orig, SIZE);
		memmove(want + 500 * 512, want, 2000 * 512);
		got = tu_read_file(path, NULL);
		if (tu_cmp(got, want, SIZE, 0, what))
			FAIL("%s: overlapping destination of a 2-destination job is wrong", what);
		free(got);
		if (tu_cmp_files(other, 0, tu_path("orig"), 0, 2000 * 512))
			FAIL("%s: the other destination did not get the source as it was", what);
	}
	free(want);
}

int main(void)
{
	struct kcopyd_client *kc;

	tu_init("test-overlap");
	path = tu_path("f");
	other = tu_path("g");
	orig = tu_make_file(tu_path("orig"), SIZE, 11, false);

	kc = tu_client(256);
	run(kc, false, "one handle");
	run(kc, true, "two handles");
	kcopyd_client_destroy(kc);

	kc = tu_client(1);
	run(kc, false, "1-page pool");
	kcopyd_client_destroy(kc);

	kc = tu_client(256);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 8192));
	run(kc, true, "8 KiB sub-jobs, two handles");
	kcopyd_client_destroy(kc);
	free(orig);
	tu_pass();
}
