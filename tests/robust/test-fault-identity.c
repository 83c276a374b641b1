/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A wrapping endpoint is the device it wraps, for the same-storage rules:
 * a fault device over file F and F itself (or a second fault device over
 * another descriptor of F) reach the same bytes.
 *  - two destinations, F and fault(F), with overlapping ranges: -EINVAL,
 *    nothing written; with ranges apart: accepted and both written;
 *  - source F, destination fault(F) overlapping it from above: copied as
 *    memmove would (the bytes prove it was not a forward copy);
 *  - the wrapper's geometry and capabilities come from the inner device
 *    and its own configuration (size, sectors, block sizes; no direct
 *    I/O; zeroing only if it offers some).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "fault.h"
#include "rutil.h"

#define SIZE (1024 * 1024)

int main(void)
{
	struct kcopyd_client *kc;
	struct block_device *f, *ff, *ff2;
	struct kc_fault_config cfg = { 0 }, zcfg = { .zero_offer = KC_FAULT_PUNCH_HOLE };
	struct kcopyd_result res;
	uint8_t *data = ru_malloc(SIZE), *got = ru_malloc(SIZE), *want = ru_malloc(SIZE);
	const char *path;

	ru_init("fault-identity", 60);
	path = ru_path("f");
	ru_fill_data(data, SIZE, 1);
	ru_write_file(path, data, SIZE);
	f = ru_open(path, O_RDWR, KCOPYD_BDEV_BUFFERED);
	ff = ru_fault_open(path, O_RDWR, &cfg);
	ff2 = ru_fault_open(path, O_RDWR, &zcfg);
	CHECK_OK(kcopyd_client_create(256, &kc));

	/* What the wrapper says it is. */
	CHECK_EQ(kcopyd_bdev_size(ff), SIZE);
	CHECK_EQ(kcopyd_bdev_sectors(ff), SIZE / 512);
	CHECK_EQ(kcopyd_bdev_logical_block_size(ff), kcopyd_bdev_logical_block_size(f));
	CHECK_EQ(kcopyd_bdev_is_blockdev(ff), 0);
	CHECK_EQ(kcopyd_bdev_is_direct(ff), 0);
	CHECK_EQ(kcopyd_bdev_can_zero(ff), 0);
	CHECK_EQ(kcopyd_bdev_can_zero(ff2), 1);

	/* Two destinations on one file, by two names, overlapping. */
	{
		struct io_region from = { .bdev = ff2, .sector = 0, .count = 64 };
		struct io_region to[2] = {
			{ .bdev = f, .sector = 1000, .count = 64 },
			{ .bdev = ff, .sector = 1032, .count = 64 },
		};

		CHECK_EQ(ru_copy_sync(kc, &from, 2, to, 0, &res), -EINVAL);
		ru_pread(path, got, SIZE, 0);
		if (ru_diff(got, data, SIZE) >= 0)
			FAIL("a refused job wrote at byte %ld", ru_diff(got, data, SIZE));
		to[1].sector = 1064;    /* apart: fine */
		CHECK_OK(ru_copy_sync(kc, &from, 2, to, 0, &res));
		CHECK_EQ(res.read_err, 0);
		CHECK_EQ(res.write_err, 0);
		memcpy(data + 1000 * 512, data, 64 * 512);
		memcpy(data + 1064 * 512, data, 64 * 512);
		ru_pread(path, got, SIZE, 0);
		if (ru_diff(got, data, SIZE) >= 0)
			FAIL("two destinations apart: byte %ld is wrong", ru_diff(got, data, SIZE));
	}
	/* Source F, destination fault(F) 100 sectors above, overlapping: a
	 * memmove.  A forward copy in several sub-jobs would copy bytes it had
	 * already overwritten. */
	{
		struct io_region from = { .bdev = f, .sector = 0, .count = 1024 };
		struct io_region to = { .bdev = ff, .sector = 100, .count = 1024 };

		CHECK_OK(kcopyd_client_set_sub_job_size(kc, 16 * 1024));
		memcpy(want, data, SIZE);
		memmove(want + 100 * 512, want, 1024 * 512);
		CHECK_OK(ru_copy_sync(kc, &from, 1, &to, 0, &res));
		CHECK_EQ(res.read_err, 0);
		CHECK_EQ(res.write_err, 0);
		ru_pread(path, got, SIZE, 0);
		if (ru_diff(got, want, SIZE) >= 0)
			FAIL("overlapping copy through a wrapper: byte %ld is not what memmove gives",
			     ru_diff(got, want, SIZE));
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(ff2);
	kcopyd_bdev_close(ff);
	kcopyd_bdev_close(f);
	free(data);
	free(got);
	free(want);
	ru_log("ok: a fault device and the file it wraps are one storage");
	ru_pass();
}
