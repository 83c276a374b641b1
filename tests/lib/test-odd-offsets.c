/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sub-ranges at odd sector offsets and counts, in the source and in the
 * destination, with the default sub-job size and with 8 KiB sub-jobs (so
 * that ranges cross many sub-job boundaries at odd places).  Every byte
 * outside the destination range keeps its old value.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define SRC_SIZE (2 * TU_MIB)
#define DST_SIZE (2 * TU_MIB + 64 * TU_KIB)
#define FILL 0xa5

struct range { sector_t src, dst, count; };

static const struct range ranges[] = {
	{ 0, 0, 1 }, { 1, 3, 1 }, { 7, 0, 13 }, { 3, 1001, 1023 }, { 511, 17, 1025 },
	{ 1, 2, 2047 }, { 4093, 4097, 3 }, { 9, 1, 2049 }, { 1023, 3839, 385 },
	{ 5, 7, SRC_SIZE / 512 - 5 },
};

static void check(const char *dst, const uint8_t *src, const struct range *r, const char *what)
{
	uint64_t size;
	uint8_t *got = tu_read_file(dst, &size);
	uint64_t lo = r->dst * 512, hi = (r->dst + r->count) * 512;

	CHECK_EQ(size, DST_SIZE);
	if (tu_cmp_byte(got, FILL, lo, 0, "before the destination range") ||
	    tu_cmp(got + lo, src + r->src * 512, hi - lo, lo, "destination range") ||
	    tu_cmp_byte(got + hi, FILL, size - hi, hi, "after the destination range"))
		FAIL("%s: copy of %llu sectors from sector %llu to sector %llu is wrong", what,
		     (unsigned long long)r->count, (unsigned long long)r->src,
		     (unsigned long long)r->dst);
	free(got);
}

static void run(unsigned int sub_job_size, unsigned int pages)
{
	const char *src = tu_path("src"), *dst = tu_path("dst"), *dst2 = tu_path("dst2");
	struct kcopyd_client *kc = tu_client(pages);
	uint8_t *data = tu_make_file(src, SRC_SIZE, sub_job_size, true);
	struct block_device *s = tu_open(src, O_RDONLY);
	char what[64];
	unsigned int i;

	if (sub_job_size)
		CHECK_OK(kcopyd_client_set_sub_job_size(kc, sub_job_size));
	snprintf(what, sizeof(what), "sub-job size %u, %u pages", sub_job_size, pages);
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		const struct range *r = &ranges[i];
		struct block_device *d;
		struct io_region from, to;

		tu_make_filled(dst, DST_SIZE, FILL);
		d = tu_open(dst, O_RDWR);
		from = tu_region(s, r->src, r->count);
		to = tu_region(d, r->dst, r->count);
		tu_copy_ok(kc, &from, 1, &to, 0);
		kcopyd_bdev_close(d);
		check(dst, data, r, what);
	}

	/* One job, two destinations at different odd offsets. */
	{
		const struct range r0 = { 13, 5, 3001 }, r1 = { 13, 1221, 3001 };
		struct block_device *d0, *d1;
		struct io_region from, to[2];

		tu_make_filled(dst, DST_SIZE, FILL);
		tu_make_filled(dst2, DST_SIZE, FILL);
		d0 = tu_open(dst, O_RDWR);
		d1 = tu_open(dst2, O_RDWR);
		from = tu_region(s, 13, 3001);
		to[0] = tu_region(d0, r0.dst, r0.count);
		to[1] = tu_region(d1, r1.dst, r1.count);
		tu_copy_ok(kc, &from, 2, to, 0);
		kcopyd_bdev_close(d0);
		kcopyd_bdev_close(d1);
		check(dst, data, &r0, what);
		check(dst2, data, &r1, what);
	}
	kcopyd_bdev_close(s);
	kcopyd_client_destroy(kc);
	free(data);
}

int main(void)
{
	tu_init("test-odd-offsets");
	run(0, 256);
	run(8192, 256);
	run(4096, 1);
	tu_pass();
}
