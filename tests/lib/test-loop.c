/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loop block devices (root only, else skip): a 512-byte and a 4096-byte
 * logical block device (losetup -b 4096).
 *  - kcopyd_bdev_is_blockdev, _sectors, _size, _logical_block_size;
 *  - copies loop -> loop, file -> loop, loop -> file at odd offsets on the
 *    512-byte device and aligned ones on the 4096-byte device;
 *  - a region not aligned to 4096 bytes on the 4096-byte device (as source
 *    or destination, start or length) is refused with -EINVAL, no callback,
 *    nothing written;
 *  - kcopyd_zero on both devices.
 * Every byte outside a destination range keeps its value.  The devices are
 * detached on every exit path (explicitly, at exit, or by autoclear).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define DEV_SIZE (4 * TU_MIB)
#define DEV_SECTORS (DEV_SIZE / 512)

static const char *file_path;
static const char *loop_src, *loop_512, *loop_4k;
static uint8_t *src_data, *file_data;

/* The expected contents of each device, updated as jobs run. */
static uint8_t *want_512, *want_4k, *want_file;

static void check_dev(const char *dev, const uint8_t *want, const char *what)
{
	uint64_t size;
	uint8_t *got = tu_read_file(dev, &size);

	CHECK_EQ(size, DEV_SIZE);
	if (tu_cmp(got, want, DEV_SIZE, 0, what))
		FAIL("%s: %s does not hold what it should", what, dev);
	free(got);
}

static int callbacks;

static void count_cb(int read_err, unsigned int write_err, void *context)
{
	(void)read_err; (void)write_err; (void)context;
	__atomic_fetch_add(&callbacks, 1, __ATOMIC_RELAXED);
}

static void copy_and_expect(struct kcopyd_client *kc, struct block_device *s, const uint8_t *sdata,
			    sector_t ssec, struct block_device *d, uint8_t *dwant, sector_t dsec,
			    sector_t count)
{
	struct io_region from = tu_region(s, ssec, count), to = tu_region(d, dsec, count);
	tu_copy_ok(kc, &from, 1, &to, 0);
	memmove(dwant + dsec * 512, sdata + ssec * 512, count * 512);
}

static void run(void)
{
	struct kcopyd_client *kc = tu_client(64);
	struct block_device *s = tu_open(loop_src, O_RDONLY);
	struct block_device *d512 = tu_open(loop_512, O_RDWR), *d4k = tu_open(loop_4k, O_RDWR);
	struct block_device *f = tu_open(file_path, O_RDWR);
	int re = -1;
	unsigned int we = ~0u;

	CHECK_EQ(kcopyd_bdev_is_blockdev(s), 1);
	CHECK_EQ(kcopyd_bdev_is_blockdev(d4k), 1);
	CHECK_EQ(kcopyd_bdev_is_blockdev(f), 0);
	CHECK_EQ(kcopyd_bdev_sectors(d512), DEV_SECTORS);
	CHECK_EQ(kcopyd_bdev_sectors(d4k), DEV_SECTORS);
	CHECK_EQ(kcopyd_bdev_size(d4k), DEV_SIZE);
	CHECK_EQ(kcopyd_bdev_logical_block_size(d512), 512);
	CHECK_EQ(kcopyd_bdev_logical_block_size(d4k), 4096);
	CHECK_EQ(kcopyd_bdev_logical_block_size(s), 512);

	/* loop -> loop (512), odd offsets and counts. */
	copy_and_expect(kc, s, src_data, 1, d512, want_512, 3, 1001);
	copy_and_expect(kc, s, src_data, 4097, d512, want_512, 2001, 3333);
	check_dev(loop_512, want_512, "loop -> loop, 512-byte blocks");

	/* loop -> loop (4096), aligned; two destinations. */
	{
		struct io_region from = tu_region(s, 16, 2048 + 8);
		struct io_region to[2] = { tu_region(d4k, 64, 2048 + 8), tu_region(d512, 5400, 2048 + 8) };
		tu_copy_ok(kc, &from, 2, to, 0);
		memcpy(want_4k + 64 * 512, src_data + 16 * 512, (2048 + 8) * 512);
		memcpy(want_512 + 5400 * 512, src_data + 16 * 512, (2048 + 8) * 512);
	}
	check_dev(loop_4k, want_4k, "loop -> 4096-byte loop");
	check_dev(loop_512, want_512, "loop -> two loops");

	/* file -> 4096-byte loop and 4096-byte loop -> file. */
	copy_and_expect(kc, f, file_data, 8, d4k, want_4k, 4096, 1024);
	check_dev(loop_4k, want_4k, "file -> 4096-byte loop");
	copy_and_expect(kc, d4k, want_4k, 64, f, want_file, 3, 800);
	{
		uint8_t *got = tu_read_file(file_path, NULL);
		if (tu_cmp(got, want_file, DEV_SIZE, 0, "4096-byte loop -> file"))
			FAIL("4096-byte loop -> file copy is wrong");
		free(got);
	}
	memcpy(file_data, want_file, DEV_SIZE);

	/* Unaligned regions on the 4096-byte device: -EINVAL, nothing called back. */
	{
		static const struct { sector_t sec, count; } bad[] = {
			{ 1, 8 }, { 8, 7 }, { 0, 1 }, { 4, 8 }, { 8, 9 }, { 7, 1 },
		};
		unsigned int i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct io_region from = tu_region(s, 0, bad[i].count);
			struct io_region to = tu_region(d4k, bad[i].sec, bad[i].count);
			struct io_region from4k = tu_region(d4k, bad[i].sec, bad[i].count);
			struct io_region to512 = tu_region(d512, 0, bad[i].count);
			int r;

			r = kcopyd_copy(kc, &from, 1, &to, 0, count_cb, NULL);
			if (r != -EINVAL)
				FAIL("copy to sector %llu count %llu of a 4096-byte device returned %d,"
				     " expected -EINVAL", (unsigned long long)bad[i].sec,
				     (unsigned long long)bad[i].count, r);
			r = kcopyd_copy(kc, &from4k, 1, &to512, 0, count_cb, NULL);
			if (r != -EINVAL)
				FAIL("copy from sector %llu count %llu of a 4096-byte device returned %d,"
				     " expected -EINVAL", (unsigned long long)bad[i].sec,
				     (unsigned long long)bad[i].count, r);
			r = kcopyd_zero(kc, 1, &to, 0, count_cb, NULL);
			if (r != -EINVAL)
				FAIL("zero of sector %llu count %llu of a 4096-byte device returned %d,"
				     " expected -EINVAL", (unsigned long long)bad[i].sec,
				     (unsigned long long)bad[i].count, r);
		}
		CHECK_OK(kcopyd_client_wait(kc));
		CHECK_EQ(__atomic_load_n(&callbacks, __ATOMIC_RELAXED), 0);
		check_dev(loop_4k, want_4k, "after refused unaligned jobs");
		check_dev(loop_512, want_512, "after refused unaligned jobs");
	}

	/* kcopyd_zero: odd range on the 512-byte device, aligned on the 4096-byte one. */
	{
		struct io_region z512 = tu_region(d512, 5, 1234), z4k[2] = {
			tu_region(d4k, 8, 1024 + 8), tu_region(d4k, 4096 + 512, 1024 + 8),
		};
		CHECK_OK(tu_zero(kc, 1, &z512, 0, &re, &we));
		CHECK_EQ(re, 0);
		CHECK_EQ(we, 0);
		memset(want_512 + 5 * 512, 0, 1234 * 512);
		CHECK_OK(tu_zero(kc, 2, z4k, 0, &re, &we));
		CHECK_EQ(re, 0);
		CHECK_EQ(we, 0);
		memset(want_4k + 8 * 512, 0, (1024 + 8) * 512);
		memset(want_4k + (4096 + 512) * 512, 0, (1024 + 8) * 512);
	}
	CHECK_OK(kcopyd_bdev_flush(d512));
	CHECK_OK(kcopyd_bdev_flush(d4k));
	check_dev(loop_512, want_512, "kcopyd_zero on a loop device");
	check_dev(loop_4k, want_4k, "kcopyd_zero on a 4096-byte loop device");

	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d512);
	kcopyd_bdev_close(d4k);
	kcopyd_bdev_close(f);
}

int main(void)
{
	const char *img_src, *img_512, *img_4k;

	tu_init("test-loop");
	if (!tu_is_root())
		tu_skip("loop devices need root");
	img_src = tu_path("src.img");
	img_512 = tu_path("d512.img");
	img_4k = tu_path("d4k.img");
	file_path = tu_path("file");
	src_data = tu_make_file(img_src, DEV_SIZE, 1, true);
	want_512 = tu_make_file(img_512, DEV_SIZE, 2, false);
	want_4k = tu_make_file(img_4k, DEV_SIZE, 3, false);
	file_data = tu_make_file(file_path, DEV_SIZE, 4, false);
	want_file = malloc(DEV_SIZE);
	if (!want_file)
		FAIL("out of memory");
	memcpy(want_file, file_data, DEV_SIZE);

	loop_src = tu_loop_attach(img_src, 0);
	if (!loop_src)
		tu_skip("cannot attach a loop device");
	loop_512 = tu_loop_attach(img_512, 0);
	loop_4k = tu_loop_attach(img_4k, 4096);
	if (!loop_512 || !loop_4k)
		tu_skip("cannot attach loop devices");
	check_dev(loop_src, src_data, "fresh source loop device");

	run();

	tu_loop_detach(loop_src);
	tu_loop_detach(loop_512);
	tu_loop_detach(loop_4k);
	free(src_data);
	free(want_512);
	free(want_4k);
	free(file_data);
	free(want_file);
	tu_pass();
}
