/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A job stopped by a write error while its next chunk waits for pool
 * memory (a one-page pool: one 4 KiB buffer, every other sub-job waits):
 * the waiting chunk is not written, the job calls back exactly once, with
 * the destination's bit and the failed sector, and the destination holds
 * the source below it.  With WRITE_SEQ and without, with IGNORE_ERROR on
 * two destinations: the healthy one gets everything, or with WRITE_SEQ
 * (which clears IGNORE_ERROR, as in the kernel) the chunks up to the one
 * that failed on the other.  Twenty jobs in a row on one client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "fault.h"
#include "rutil.h"

#define SIZE (64 * 1024)

int main(void)
{
	struct kc_fault_rule rule = { .ops = KC_FAULT_WRITE, .start = 4096, .end = 8192, .error = -EIO };
	struct kc_fault_config cfg = { .rules = &rule, .num_rules = 1 };
	uint8_t *data = ru_malloc(SIZE), *old = ru_malloc(SIZE), *got = ru_malloc(SIZE);
	char *src, *bad, *good;
	struct block_device *s, *d, *g;
	struct kcopyd_client *kc;

	ru_init("mem-wait-stop", 120);
	src = strdup(ru_path("src"));
	bad = strdup(ru_path("bad"));
	good = strdup(ru_path("good"));
	ru_fill_data(data, SIZE, 3);
	ru_write_file(src, data, SIZE);
	s = ru_open(src, O_RDONLY, KCOPYD_BDEV_BUFFERED);
	CHECK_OK(kcopyd_client_create(1, &kc));
	for (int round = 0; round < 20; round++) {
		unsigned int flags = (round & 1 ? KCOPYD_WRITE_SEQ : 0) |
				     (round & 2 ? KCOPYD_IGNORE_ERROR : 0);
		unsigned int n = round & 2 ? 2 : 1;
		struct io_region from = { .bdev = s, .sector = 0, .count = SIZE / 512 }, to[2];
		struct kcopyd_result res;

		ru_set_context("round %d, flags %#x", round, flags);
		ru_fill_old(old, SIZE, (uint64_t)round);
		ru_write_file(bad, old, SIZE);
		ru_write_file(good, old, SIZE);
		d = ru_fault_open(bad, O_RDWR, &cfg);
		g = ru_open(good, O_RDWR, KCOPYD_BDEV_BUFFERED);
		to[0] = (struct io_region){ .bdev = d, .sector = 0, .count = SIZE / 512 };
		to[1] = (struct io_region){ .bdev = g, .sector = 0, .count = SIZE / 512 };
		CHECK_OK(ru_copy_sync(kc, &from, n, to, flags, &res));
		CHECK_EQ(res.read_err, 0);
		CHECK_EQ(res.write_err, 1);
		CHECK_EQ(res.dest_errno[0], -EIO);
		CHECK_EQ(res.dest_err_sector[0], 8);
		kcopyd_bdev_close(d);
		kcopyd_bdev_close(g);
		ru_pread(bad, got, SIZE, 0);
		if (ru_diff(got, data, 4096) >= 0)
			FAIL("the failed destination lacks its first chunk (byte %ld)", ru_diff(got, data, 4096));
		if (n == 2) {
			sector_t want = flags & KCOPYD_WRITE_SEQ ? 16 : SIZE / 512;

			CHECK_EQ(res.dest_err_sector[1], want);
			ru_pread(good, got, SIZE, 0);
			if (ru_diff(got, data, want * 512) >= 0)
				FAIL("the healthy destination is wrong at byte %ld",
				     ru_diff(got, data, want * 512));
			if (want < SIZE / 512 && ru_diff(got + want * 512, old + want * 512,
							 SIZE - want * 512) >= 0)
				FAIL("the healthy destination was written past its reported end");
		}
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	free(data);
	free(old);
	free(got);
	free(src);
	free(bad);
	free(good);
	ru_log("ok: a stop while a chunk waits for memory: one callback, the bytes as reported");
	ru_pass();
}
