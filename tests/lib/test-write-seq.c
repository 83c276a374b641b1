/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KCOPYD_WRITE_SEQ copies correctly: one and three destinations (odd
 * offsets), a 1-page pool, small sub-jobs with a deep queue, a 32-destination
 * job, several WRITE_SEQ jobs at once, WRITE_SEQ with SKIP_ZEROES over a
 * sparse source (all-zero sub-jobs write nothing), and kcopyd_zero with
 * WRITE_SEQ.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define SIZE (3 * TU_MIB + 7 * 512)
#define SECTORS (SIZE / 512)

static const char *src;
static uint8_t *data;

static void seq_copy_flags(struct kcopyd_client *kc, unsigned int ndests, sector_t ssec,
			   sector_t count, unsigned int flags, const char *what)
{
	/* SKIP_ZEROES needs destinations that read as zeros. */
	const int fill = flags & KCOPYD_SKIP_ZEROES ? 0 : 0x3c;
	struct block_device *s = tu_open(src, O_RDONLY), *d[KCOPYD_MAX_REGIONS];
	struct io_region from = tu_region(s, ssec, count), to[KCOPYD_MAX_REGIONS];
	const char *path[KCOPYD_MAX_REGIONS];
	unsigned int i;

	for (i = 0; i < ndests; i++) {
		char name[32];
		snprintf(name, sizeof(name), "seq-%u", i);
		path[i] = tu_path(name);
		tu_make_filled(path[i], SIZE + 64 * 512, fill);
		d[i] = tu_open(path[i], O_RDWR);
		to[i] = tu_region(d[i], (i * 13) % 64, count);
	}
	tu_copy_ok(kc, &from, ndests, to, KCOPYD_WRITE_SEQ | flags);
	kcopyd_bdev_close(s);
	for (i = 0; i < ndests; i++) {
		uint64_t size;
		uint8_t *got;
		uint64_t lo = to[i].sector * 512, hi = lo + count * 512;

		kcopyd_bdev_close(d[i]);
		got = tu_read_file(path[i], &size);
		if (tu_cmp_byte(got, fill, lo, 0, "before the region") ||
		    tu_cmp(got + lo, data + ssec * 512, count * 512, lo, "region") ||
		    tu_cmp_byte(got + hi, fill, size - hi, hi, "after the region"))
			FAIL("%s: WRITE_SEQ destination %u of %u is wrong", what, i, ndests);
		free(got);
	}
}

static void seq_copy(struct kcopyd_client *kc, unsigned int ndests, sector_t ssec, sector_t count,
		     const char *what)
{
	seq_copy_flags(kc, ndests, ssec, count, 0, what);
}

static void concurrent_seq_jobs(struct kcopyd_client *kc)
{
	const char *dst = tu_path("conc");
	struct block_device *s = tu_open(src, O_RDONLY), *d;
	const sector_t part = SECTORS / 4;
	struct tu_event ev[4];
	unsigned int i;

	tu_make_filled(dst, SIZE, 0);
	d = tu_open(dst, O_RDWR);
	for (i = 0; i < 4; i++) {
		/* Reversed order, so jobs do not line up with the file. */
		struct io_region from = tu_region(s, i * part, part);
		struct io_region to = tu_region(d, (3 - i) * part, part);
		tu_event_init(&ev[i]);
		CHECK_OK(kcopyd_copy(kc, &from, 1, &to, KCOPYD_WRITE_SEQ, tu_event_notify, &ev[i]));
	}
	for (i = 0; i < 4; i++) {
		tu_event_wait(&ev[i]);
		if (ev[i].read_err || ev[i].write_err)
			FAIL("concurrent WRITE_SEQ job %u: read_err %d write_err %#x", i,
			     ev[i].read_err, ev[i].write_err);
		tu_event_destroy(&ev[i]);
	}
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	for (i = 0; i < 4; i++)
		if (tu_cmp_files(dst, (3 - i) * part * 512, src, i * part * 512, part * 512))
			FAIL("concurrent WRITE_SEQ job %u is wrong", i);
}

static void seq_zero(struct kcopyd_client *kc)
{
	const char *dst = tu_path("zero");
	struct block_device *d;
	struct io_region r[2];
	int re = -1;
	unsigned int we = ~0u;
	uint8_t *got;

	tu_write_file(dst, data, SIZE);
	d = tu_open(dst, O_RDWR);
	r[0] = tu_region(d, 3, 1500);
	r[1] = tu_region(d, 2001, 1500);
	CHECK_OK(tu_zero(kc, 2, r, KCOPYD_WRITE_SEQ, &re, &we));
	CHECK_EQ(re, 0);
	CHECK_EQ(we, 0);
	kcopyd_bdev_close(d);
	got = tu_read_file(dst, NULL);
	if (tu_cmp(got, data, 3 * 512, 0, "before zero 1") ||
	    tu_cmp_byte(got + 3 * 512, 0, 1500 * 512, 3 * 512, "zero 1") ||
	    tu_cmp(got + 1503 * 512, data + 1503 * 512, 498 * 512, 1503 * 512, "between") ||
	    tu_cmp_byte(got + 2001 * 512, 0, 1500 * 512, 2001 * 512, "zero 2") ||
	    tu_cmp(got + 3501 * 512, data + 3501 * 512, SIZE - 3501 * 512, 3501 * 512, "after"))
		FAIL("kcopyd_zero with WRITE_SEQ is wrong");
	free(got);
}

int main(void)
{
	struct kcopyd_client *kc;

	tu_init("test-write-seq");
	src = tu_path("src");
	data = tu_make_file(src, SIZE, 31, true);

	kc = tu_client(256);
	seq_copy(kc, 1, 0, SECTORS, "default pool, 1 destination");
	seq_copy(kc, 3, 5, SECTORS - 9, "default pool, 3 destinations");
	concurrent_seq_jobs(kc);
	seq_zero(kc);
	kcopyd_client_destroy(kc);

	kc = tu_client(1);
	seq_copy(kc, 1, 1, SECTORS - 1, "1-page pool, 1 destination");
	seq_copy(kc, 3, 3, 3001, "1-page pool, 3 destinations");
	kcopyd_client_destroy(kc);

	kc = tu_client(64);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 8192));
	CHECK_OK(kcopyd_client_set_queue_depth(kc, 256));
	seq_copy(kc, 3, 7, SECTORS - 7, "8 KiB sub-jobs, depth 256");
	seq_copy(kc, KCOPYD_MAX_REGIONS, 0, 2048 + 3, "8 KiB sub-jobs, 32 destinations");
	/* The sparse source has all-zero sub-jobs: skipped, in order. */
	seq_copy_flags(kc, 3, 0, SECTORS, KCOPYD_SKIP_ZEROES, "8 KiB sub-jobs, SKIP_ZEROES");
	concurrent_seq_jobs(kc);
	kcopyd_client_destroy(kc);

	free(data);
	tu_pass();
}
