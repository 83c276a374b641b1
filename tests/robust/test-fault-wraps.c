/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault endpoint wraps any endpoint, itself included: its requests go
 * to the device under it through that device's own ops, and the reports
 * come back through it.  Two fault devices stacked on a file:
 *  - a copy to the stack and to a plain file, the lower layer failing
 *    writes on one range and the upper cutting transfers short and
 *    delaying them: the write error bit and its sector are the lower
 *    one's; below that sector the stack holds the source's bytes, the bad
 *    range its old ones, and every byte is one or the other; the plain
 *    file got all of it; the upper one's short transfers were finished;
 *  - zeroing through both when both offer punching a hole: the file's own
 *    zeroing does it (its blocks are freed, no write of zeros);
 *  - zeroing when the lower one offers none: it says so, and the engine
 *    writes zeros through both;
 *  - the stack is still the file for the same-storage rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fault.h"
#include "rutil.h"

#define SIZE (2u << 20)
#define SUB (64u << 10)
#define BAD (512u << 10)                /* the lower device fails writes here */

static struct block_device *stack(const char *path, const struct kc_fault_config *lower,
				  const struct kc_fault_config *upper, struct block_device **mid)
{
	struct block_device *f1 = ru_fault_open(path, O_RDWR, lower), *f2 = NULL;
	int r = kc_fault_open(f1, upper, &f2);

	if (r)
		FAIL("kc_fault_open over a fault device: %s", strerror(-r));
	*mid = f1;
	return f2;
}

static uint64_t blocks(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		FAIL("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_blocks;
}

/* Zero [sector, +count) of the file at path (written with old first)
 * through a stack of two fault devices; check the bytes (old is updated),
 * and that blocks were freed (a hole punched) or not. */
static struct block_device *zero_through(struct kcopyd_client *kc, const char *path, uint8_t *old,
					 const struct kc_fault_config *lower,
					 const struct kc_fault_config *upper, sector_t sector,
					 sector_t count, struct block_device **mid, bool freed)
{
	uint8_t *got = ru_malloc(SIZE);
	struct kcopyd_result res;
	struct io_region to;
	struct block_device *f2;
	uint64_t before;

	ru_write_file(path, old, SIZE);
	f2 = stack(path, lower, upper, mid);
	CHECK_EQ(kcopyd_bdev_can_zero(f2), 1);
	to = (struct io_region){ .bdev = f2, .sector = sector, .count = count };
	before = blocks(path);
	CHECK_OK(ru_zero_sync(kc, 1, &to, 0, &res));
	CHECK_EQ(res.write_err, 0);
	ru_pread(path, got, SIZE, 0);
	memset(old + sector * 512, 0, count * 512);
	if (ru_diff(got, old, SIZE) >= 0)
		FAIL("zeroed through two layers: byte %ld is wrong", ru_diff(got, old, SIZE));
	if (freed && blocks(path) >= before)
		FAIL("the file kept its blocks (%llu, %llu before): zeros were written, no hole punched",
		     (unsigned long long)blocks(path), (unsigned long long)before);
	if (!freed && blocks(path) < before)
		FAIL("blocks were freed (%llu, %llu before) through a layer that offers no zeroing",
		     (unsigned long long)blocks(path), (unsigned long long)before);
	free(got);
	return f2;
}

int main(void)
{
	struct kcopyd_client *kc;
	struct kcopyd_result res;
	uint8_t *data = ru_malloc(SIZE), *old = ru_malloc(SIZE), *got = ru_malloc(SIZE);
	struct block_device *src, *f1, *f2;
	const char *spath, *dpath;
	size_t nev;

	ru_init("fault-wraps", 120);
	spath = ru_path("src");
	dpath = ru_path("dst");
	ru_fill_data(data, SIZE, 7);
	ru_fill_old(old, SIZE, 8);
	ru_write_file(spath, data, SIZE);
	ru_write_file(dpath, old, SIZE);
	src = ru_open(spath, O_RDONLY, KCOPYD_BDEV_BUFFERED);
	CHECK_OK(kcopyd_client_create(256, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, SUB));

	/* A copy through two layers of faults. */
	{
		struct kc_fault_rule rule = { KC_FAULT_WRITE, BAD + 8192, BAD + 12288, -EIO };
		struct kc_fault_config lower = { .rules = &rule, .num_rules = 1 };
		struct kc_fault_config upper = { .short_pct = 50, .delay_max_us = 300, .seed = 3 };
		struct io_region from = { .bdev = src, .sector = 0, .count = SIZE / 512 };
		struct io_region to[2];
		struct kc_fault_event *ev;
		const char *ppath = ru_path("plain");
		struct block_device *plain;
		long d;

		f2 = stack(dpath, &lower, &upper, &f1);
		ru_write_file(ppath, old, SIZE);
		plain = ru_open(ppath, O_RDWR, KCOPYD_BDEV_BUFFERED);
		to[0] = (struct io_region){ .bdev = f2, .sector = 0, .count = SIZE / 512 };
		to[1] = (struct io_region){ .bdev = plain, .sector = 0, .count = SIZE / 512 };
		CHECK_EQ(kcopyd_bdev_size(f2), SIZE);
		CHECK_OK(ru_copy_sync(kc, &from, 2, to, KCOPYD_IGNORE_ERROR, &res));
		CHECK_EQ(res.read_err, 0);
		CHECK_EQ(res.write_err, 1u);
		ev = ru_events(f1, &nev);
		if (!nev)
			FAIL("the lower device logged no fault");
		for (size_t i = 0; i < nev; i++)
			if (ev[i].error != -EIO || ev[i].end <= BAD + 8192 || ev[i].start >= BAD + 12288)
				FAIL("lower fault %zu: %d at [%llu, %llu)", i, ev[i].error,
				     (unsigned long long)ev[i].start, (unsigned long long)ev[i].end);
		/* The first failed write is the lower one's, at or before the bad range,
		 * inside its sub-job. */
		if (res.dest_errno[0] != -EIO || res.dest_err_sector[0] < BAD / 512 ||
		    res.dest_err_sector[0] > (BAD + 8192) / 512)
			FAIL("destination error %d at sector %llu, expected -EIO in [%u, %u]",
			     res.dest_errno[0], (unsigned long long)res.dest_err_sector[0],
			     BAD / 512, (BAD + 8192) / 512);
		if (!kc_fault_shorts(f2))
			FAIL("the upper device cut nothing short (the test proves nothing)");
		if (kc_fault_shorts(f1))
			FAIL("the lower device cut %llu transfers short with no short_pct",
			     (unsigned long long)kc_fault_shorts(f1));
		ru_pread(dpath, got, SIZE, 0);
		d = ru_diff(got, data, res.dest_err_sector[0] * 512);
		if (d >= 0)
			FAIL("byte %ld, below the first sector the stack lacks, is not the source's", d);
		d = ru_diff(got + BAD + 8192, old + BAD + 8192, 4096);
		if (d >= 0)
			FAIL("byte %ld, in the failing range, was written", d + (long)(BAD + 8192));
		for (size_t i = 0; i < SIZE; i++)
			if (got[i] != data[i] && got[i] != old[i])
				FAIL("byte %zu is neither the source's nor the old", i);
		ru_pread(ppath, got, SIZE, 0);
		if (ru_diff(got, data, SIZE) >= 0)
			FAIL("the plain destination: byte %ld is not the source's", ru_diff(got, data, SIZE));
		free(ev);
		kcopyd_bdev_close(plain);
		kcopyd_bdev_close(f2);          /* closes f1 and the file under it */
	}
	/* Zeroing through both, both punching holes: the file's own zeroing
	 * (its blocks are freed).  Then the lower one offers none: the engine
	 * writes zeros through both (no block is freed). */
	{
		struct kc_fault_config none = { 0 }, punch = {
			.zero_offer = KC_FAULT_PUNCH_HOLE, .zero_works = KC_FAULT_PUNCH_HOLE,
		};

		f2 = zero_through(kc, dpath, old, &punch, &punch, 256, 1024, &f1, true);
		if (kc_fault_zero_tries(f1, KC_FAULT_PUNCH_HOLE) < 1 ||
		    kc_fault_zero_tries(f2, KC_FAULT_PUNCH_HOLE) < 1)
			FAIL("a layer was not asked to zero: %llu, %llu",
			     (unsigned long long)kc_fault_zero_tries(f1, KC_FAULT_PUNCH_HOLE),
			     (unsigned long long)kc_fault_zero_tries(f2, KC_FAULT_PUNCH_HOLE));
		kcopyd_bdev_close(f2);
		ru_fill_old(old, SIZE, 9);
		f2 = zero_through(kc, dpath, old, &none, &punch, 100, 2000, &f1, false);
		CHECK_EQ(kcopyd_bdev_can_zero(f1), 0);
		/* Still the file, for the same-storage rules: a copy from the
		 * file onto the stack, overlapping, is a memmove. */
		{
			struct block_device *plain = ru_open(dpath, O_RDWR, KCOPYD_BDEV_BUFFERED);
			struct io_region from = { .bdev = plain, .sector = 0, .count = 64 };
			struct io_region onto[2] = {
				{ .bdev = f2, .sector = 2048, .count = 64 },
				{ .bdev = plain, .sector = 2080, .count = 64 },
			};

			CHECK_EQ(ru_copy_sync(kc, &from, 2, onto, 0, &res), -EINVAL);
			ru_pread(dpath, got, SIZE, 0);
			if (ru_diff(got, old, SIZE) >= 0)
				FAIL("a refused job wrote at byte %ld", ru_diff(got, old, SIZE));
			kcopyd_bdev_close(plain);
		}
		kcopyd_bdev_close(f2);
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	free(data);
	free(old);
	free(got);
	ru_log("ok: fault devices stack, and each passes its requests to the one under it");
	ru_pass();
}
