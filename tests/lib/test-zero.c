/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd_zero on files on a disk filesystem (fallocate fast path) and on
 * tmpfs: odd and aligned ranges, the whole file, several destinations in one
 * job (two in the same file).  Zeroed ranges read as zeros, every other byte
 * keeps its value, the file size does not change, an aligned range goes
 * through the fast path (stats.bytes_zeroed grows).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define SIZE (2 * TU_MIB)

struct zr { sector_t sector, count; };

/* Check file against orig with the given ranges zeroed. */
static void check_zeroed(const char *path, const uint8_t *orig, const struct zr *z, unsigned int n,
			 const char *what)
{
	uint64_t size;
	uint8_t *got = tu_read_file(path, &size), *want = malloc(SIZE);
	unsigned int i;

	if (!want)
		FAIL("out of memory");
	if (size != SIZE)
		FAIL("%s: file size changed from %llu to %llu", what, SIZE, (unsigned long long)size);
	memcpy(want, orig, SIZE);
	for (i = 0; i < n; i++)
		memset(want + z[i].sector * 512, 0, z[i].count * 512);
	if (tu_cmp(got, want, SIZE, 0, what))
		FAIL("%s: wrong contents after kcopyd_zero", what);
	free(got);
	free(want);
}

static uint64_t zeroed_bytes(struct kcopyd_client *kc)
{
	struct kcopyd_stats st;
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	return st.bytes_zeroed;
}

static void zero_one(struct kcopyd_client *kc, const char *path, const uint8_t *orig,
		     struct zr z, const char *what)
{
	struct block_device *bd;
	struct io_region r;
	int re = -1;
	unsigned int we = ~0u;

	tu_write_file(path, orig, SIZE);
	bd = tu_open(path, O_RDWR);
	r = tu_region(bd, z.sector, z.count);
	CHECK_OK(tu_zero(kc, 1, &r, 0, &re, &we));
	if (re || we)
		FAIL("%s: zero of sector %llu count %llu: read_err %d write_err %#x", what,
		     (unsigned long long)z.sector, (unsigned long long)z.count, re, we);
	kcopyd_bdev_close(bd);
	check_zeroed(path, orig, &z, 1, what);
}

static void run(const char *dir, const char *fs)
{
	const char *a = tu_path_in(dir, "a"), *b = tu_path_in(dir, "b");
	struct kcopyd_client *kc = tu_client(64);
	uint8_t *orig = tu_make_file(a, SIZE, 77, false);
	struct block_device *bd, *bda, *bdb;
	struct kcopyd_result res;
	char what[128];
	uint64_t before;
	unsigned int i;

	bd = tu_open(a, O_RDWR);
	CHECK_EQ(kcopyd_bdev_can_zero(bd), 1);
	kcopyd_bdev_close(bd);

	snprintf(what, sizeof(what), "%s: odd range", fs);
	zero_one(kc, a, orig, (struct zr){ 3, 1001 }, what);
	snprintf(what, sizeof(what), "%s: one sector", fs);
	zero_one(kc, a, orig, (struct zr){ 4095, 1 }, what);

	snprintf(what, sizeof(what), "%s: aligned range", fs);
	before = zeroed_bytes(kc);
	zero_one(kc, a, orig, (struct zr){ 64, 1024 }, what);
	if (zeroed_bytes(kc) <= before)
		FAIL("%s: zeroing an aligned 512 KiB range did not use the fast path"
		     " (stats.bytes_zeroed %llu -> %llu)", fs, (unsigned long long)before,
		     (unsigned long long)zeroed_bytes(kc));

	snprintf(what, sizeof(what), "%s: whole file", fs);
	zero_one(kc, a, orig, (struct zr){ 0, SIZE / 512 }, what);

	/* Three destinations in one job, two of them in the same file. */
	{
		const struct zr za[2] = { { 1, 777 }, { 2000, 777 } }, zb = { 100, 777 };
		struct io_region r[3];

		tu_write_file(a, orig, SIZE);
		tu_write_file(b, orig, SIZE);
		bda = tu_open(a, O_RDWR);
		bdb = tu_open(b, O_RDWR);
		r[0] = tu_region(bda, za[0].sector, za[0].count);
		r[1] = tu_region(bdb, zb.sector, zb.count);
		r[2] = tu_region(bda, za[1].sector, za[1].count);
		memset(&res, 0x55, sizeof(res));
		CHECK_OK(tu_zero_ex(kc, 3, r, 0, &res));
		CHECK_EQ(res.read_err, 0);
		CHECK_EQ(res.write_err, 0);
		for (i = 0; i < 3; i++)
			CHECK_EQ(res.dest_errno[i], 0);
		kcopyd_bdev_close(bda);
		kcopyd_bdev_close(bdb);
		snprintf(what, sizeof(what), "%s: 3 destinations, file a", fs);
		check_zeroed(a, orig, za, 2, what);
		snprintf(what, sizeof(what), "%s: 3 destinations, file b", fs);
		check_zeroed(b, orig, &zb, 1, what);
	}

	/* A 1-page pool: many one-page sub-jobs over an odd range. */
	{
		struct kcopyd_client *small = tu_client(1);
		const struct zr z = { 9, 3333 };
		struct tu_event ev;
		struct io_region r;

		tu_write_file(a, orig, SIZE);
		bda = tu_open(a, O_RDWR);
		r = tu_region(bda, z.sector, z.count);
		tu_event_init(&ev);
		CHECK_OK(kcopyd_zero(small, 1, &r, 0, tu_event_notify, &ev));
		tu_event_wait(&ev);
		CHECK_EQ(ev.read_err, 0);
		CHECK_EQ(ev.write_err, 0);
		tu_event_destroy(&ev);
		kcopyd_client_destroy(small);
		kcopyd_bdev_close(bda);
		snprintf(what, sizeof(what), "%s: 1-page pool", fs);
		check_zeroed(a, orig, &z, 1, what);
	}

	kcopyd_client_destroy(kc);
	free(orig);
}

int main(void)
{
	const char *shm = NULL;

	tu_init("test-zero");
	run(tu_tmpdir(), "disk filesystem");
	if (tu_on_tmpfs("/dev/shm"))
		shm = tu_mkdtemp("/dev/shm");
	if (!shm)
		shm = tu_tmpfs("size=16m");
	if (shm)
		run(shm, "tmpfs");
	else
		tu_log("no tmpfs available: tmpfs pass left out");
	tu_pass();
}
