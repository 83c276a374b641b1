/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Any pool of num_pages >= 1 completes a job of any size: pools of 1, 2, 3,
 * 128 and 4096 pages copy a job many times their size to two destinations;
 * num_pages 0 is -EINVAL.  With a 1-page pool, a larger sub-job size request
 * is capped and still works, and several jobs queued at once all complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define SIZE (3 * TU_MIB + 5 * 512)

static const char *src, *dst[2];

static void reset_dests(void)
{
	tu_make_filled(dst[0], SIZE, 0x11);
	tu_make_filled(dst[1], SIZE + 4096, 0x22);
}

static void check_dests(unsigned int pages, sector_t ssec, sector_t count)
{
	uint8_t *d0, *d1, *s;
	uint64_t n0, n1, ns;

	d0 = tu_read_file(dst[0], &n0);
	d1 = tu_read_file(dst[1], &n1);
	s = tu_read_file(src, &ns);
	CHECK_EQ(n0, SIZE);
	CHECK_EQ(n1, SIZE + 4096);
	if (tu_cmp(d0, s + ssec * 512, count * 512, 0, "destination 0") ||
	    tu_cmp_byte(d0 + count * 512, 0x11, SIZE - count * 512, count * 512, "after destination 0") ||
	    tu_cmp_byte(d1, 0x22, 8 * 512, 0, "before destination 1") ||
	    tu_cmp(d1 + 8 * 512, s + ssec * 512, count * 512, 8 * 512, "destination 1") ||
	    tu_cmp_byte(d1 + (8 + count) * 512, 0x22, SIZE + 4096 - (8 + count) * 512,
			(8 + count) * 512, "after destination 1"))
		FAIL("pool of %u pages: copy of sector %llu count %llu is wrong", pages,
		     (unsigned long long)ssec, (unsigned long long)count);
	free(d0);
	free(d1);
	free(s);
}

static void copy_with_pool(unsigned int pages)
{
	struct kcopyd_client *kc = tu_client(pages);
	struct block_device *s = tu_open(src, O_RDONLY);
	struct block_device *d0 = tu_open(dst[0], O_RDWR), *d1 = tu_open(dst[1], O_RDWR);
	const sector_t ssec = 3, count = SIZE / 512 - 3;
	struct io_region from = tu_region(s, ssec, count);
	struct io_region to[2] = { tu_region(d0, 0, count), tu_region(d1, 8, count) };
	double t0 = tu_now();

	tu_copy_ok(kc, &from, 2, to, 0);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d0);
	kcopyd_bdev_close(d1);
	check_dests(pages, ssec, count);
	tu_log("pool of %u pages: %.3f s", pages, tu_now() - t0);
	reset_dests();
}

/* A 1-page pool asked for 1 MiB sub-jobs, with four jobs queued at once. */
static void one_page_many_jobs(void)
{
	struct kcopyd_client *kc = tu_client(1);
	struct block_device *s = tu_open(src, O_RDONLY);
	struct block_device *d0 = tu_open(dst[0], O_RDWR), *d1 = tu_open(dst[1], O_RDWR);
	const sector_t quarter = (SIZE / 512) / 4;
	struct tu_event ev[4];
	int r, i;

	r = kcopyd_client_set_sub_job_size(kc, 1024 * 1024);
	if (r != 0 && r != -EINVAL)
		FAIL("set_sub_job_size(1 MiB) on a 1-page pool returned %d", r);
	for (i = 0; i < 4; i++) {
		struct io_region from = tu_region(s, i * quarter, quarter);
		struct io_region to[2] = { tu_region(d0, i * quarter, quarter),
					   tu_region(d1, 8 + i * quarter, quarter) };
		tu_event_init(&ev[i]);
		CHECK_OK(kcopyd_copy(kc, &from, 2, to, 0, tu_event_notify, &ev[i]));
	}
	for (i = 0; i < 4; i++) {
		tu_event_wait(&ev[i]);
		if (ev[i].read_err || ev[i].write_err)
			FAIL("1-page pool, job %d: read_err %d write_err %#x", i,
			     ev[i].read_err, ev[i].write_err);
		tu_event_destroy(&ev[i]);
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d0);
	kcopyd_bdev_close(d1);
	check_dests(1, 0, 4 * quarter);
	reset_dests();
}

int main(void)
{
	static const unsigned int pools[] = { 1, 2, 3, 128, 4096 };
	struct kcopyd_client *kc = (struct kcopyd_client *)&pools;   /* a sentinel */
	unsigned int i;
	int r;

	tu_init("test-pool-sizes");
	src = tu_path("src");
	dst[0] = tu_path("dst0");
	dst[1] = tu_path("dst1");
	free(tu_make_file(src, SIZE, 42, true));
	reset_dests();

	r = kcopyd_client_create(0, &kc);
	if (r != -EINVAL)
		FAIL("kcopyd_client_create(0) returned %d, expected -EINVAL", r);
	r = kcopyd_client_create(1, NULL);
	if (r != -EINVAL && r != -EFAULT)
		FAIL("kcopyd_client_create(1, NULL) returned %d, expected -EINVAL", r);

	for (i = 0; i < sizeof(pools) / sizeof(pools[0]); i++)
		copy_with_pool(pools[i]);
	one_page_many_jobs();
	tu_pass();
}
