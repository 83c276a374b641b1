/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Byte-identical copies of a sparse source to 1, 3 and 32 destinations,
 * sizes that are not a multiple of the sub-job size, destinations at other
 * offsets (two of them in the same file), and a source whose size is not a
 * multiple of 512 (its last sector reads as zeros).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define SRC_SIZE (2 * TU_MIB + 3 * 4096 + 5 * 512)   /* not a multiple of 512 KiB or 4 KiB */

static void one_dest(struct kcopyd_client *kc, const char *dir)
{
	const char *src = tu_path_in(dir, "src1"), *dst = tu_path_in(dir, "dst1");
	struct block_device *s, *d;
	struct io_region from, to;
	uint8_t *data = tu_make_file(src, SRC_SIZE, 1, true);

	tu_make_filled(dst, SRC_SIZE, 0);
	s = tu_open(src, O_RDONLY);
	d = tu_open(dst, O_RDWR);
	CHECK_EQ(kcopyd_bdev_sectors(s), SRC_SIZE / 512);
	CHECK_EQ(kcopyd_bdev_size(s), SRC_SIZE);
	from = tu_region(s, 0, SRC_SIZE / 512);
	to = tu_region(d, 0, SRC_SIZE / 512);
	tu_copy_ok(kc, &from, 1, &to, 0);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	if (tu_cmp_files(dst, 0, src, 0, SRC_SIZE))
		FAIL("1 destination: copy differs from source");
	free(data);
}

static void three_dests(struct kcopyd_client *kc, const char *dir)
{
	const char *src = tu_path_in(dir, "src3"), *a = tu_path_in(dir, "dst3a"),
		   *b = tu_path_in(dir, "dst3b");
	const sector_t ssec = 3, count = (SRC_SIZE / 512) - 10;
	const sector_t b1 = 101, b2 = 101 + count + 3;
	const uint64_t bsize = (b2 + count + 7) * 512;
	struct block_device *s, *da, *db;
	struct io_region from, to[3];
	uint8_t *data = tu_make_file(src, SRC_SIZE, 3, true), *got;
	uint64_t got_size;
	uint64_t i;

	tu_make_filled(a, count * 512, 0);
	tu_make_filled(b, bsize, 0x5a);
	s = tu_open(src, O_RDONLY);
	da = tu_open(a, O_RDWR);
	db = tu_open(b, O_RDWR);
	from = tu_region(s, ssec, count);
	to[0] = tu_region(da, 0, count);
	to[1] = tu_region(db, b1, count);
	to[2] = tu_region(db, b2, count);
	tu_copy_ok(kc, &from, 3, to, 0);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(da);
	kcopyd_bdev_close(db);

	if (tu_cmp_files(a, 0, src, ssec * 512, count * 512))
		FAIL("3 destinations: destination 0 differs");
	got = tu_read_file(b, &got_size);
	CHECK_EQ(got_size, bsize);
	if (tu_cmp(got + b1 * 512, data + ssec * 512, count * 512, b1 * 512, "3 dests: dest 1"))
		FAIL("3 destinations: destination 1 differs");
	if (tu_cmp(got + b2 * 512, data + ssec * 512, count * 512, b2 * 512, "3 dests: dest 2"))
		FAIL("3 destinations: destination 2 differs");
	/* What lies around the two regions in the shared file is untouched. */
	for (i = 0; i < bsize; i++) {
		if ((i >= b1 * 512 && i < (b1 + count) * 512) || (i >= b2 * 512 && i < (b2 + count) * 512))
			continue;
		if (got[i] != 0x5a)
			FAIL("3 destinations: byte %llu outside both regions changed to 0x%02x",
			     (unsigned long long)i, got[i]);
	}
	free(got);
	free(data);
}

static void many_dests(struct kcopyd_client *kc, const char *dir)
{
	const char *src = tu_path_in(dir, "src32");
	const uint64_t size = TU_MIB + 9 * 512;
	const sector_t ssec = 9, count = size / 512 - ssec;
	struct block_device *s, *d[KCOPYD_MAX_REGIONS];
	struct io_region from, to[KCOPYD_MAX_REGIONS];
	const char *dst[KCOPYD_MAX_REGIONS];
	uint8_t *data = tu_make_file(src, size, 32, true);
	unsigned int i;

	s = tu_open(src, O_RDONLY);
	for (i = 0; i < KCOPYD_MAX_REGIONS; i++) {
		char name[32];
		sector_t off = (i * 7) % 13;

		snprintf(name, sizeof(name), "dst32-%u", i);
		dst[i] = tu_path_in(dir, name);
		tu_make_filled(dst[i], (off + count) * 512, 0);
		d[i] = tu_open(dst[i], O_RDWR);
		to[i] = tu_region(d[i], off, count);
	}
	from = tu_region(s, ssec, count);
	tu_copy_ok(kc, &from, KCOPYD_MAX_REGIONS, to, 0);
	kcopyd_bdev_close(s);
	for (i = 0; i < KCOPYD_MAX_REGIONS; i++) {
		kcopyd_bdev_close(d[i]);
		if (tu_cmp_files(dst[i], to[i].sector * 512, src, ssec * 512, count * 512))
			FAIL("32 destinations: destination %u differs", i);
	}
	free(data);
}

/* A 1000-byte source is 2 sectors; bytes past its end read as zeros. */
static void short_tail(struct kcopyd_client *kc, const char *dir)
{
	const char *src = tu_path_in(dir, "tail-src"), *dst = tu_path_in(dir, "tail-dst");
	uint8_t *data = tu_make_file(src, 1000, 7, false), got[4096];
	struct block_device *s, *d;
	struct io_region from, to;

	tu_make_filled(dst, sizeof(got), 0xee);
	s = tu_open(src, O_RDONLY);
	d = tu_open(dst, O_RDWR);
	CHECK_EQ(kcopyd_bdev_size(s), 1000);
	CHECK_EQ(kcopyd_bdev_sectors(s), 2);
	from = tu_region(s, 0, 2);
	to = tu_region(d, 1, 2);
	tu_copy_ok(kc, &from, 1, &to, 0);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	tu_read_at(dst, 0, got, sizeof(got));
	if (tu_cmp_byte(got, 0xee, 512, 0, "tail: before the region") ||
	    tu_cmp(got + 512, data, 1000, 512, "tail: data") ||
	    tu_cmp_byte(got + 1512, 0, 24, 1512, "tail: past the source's end") ||
	    tu_cmp_byte(got + 1536, 0xee, sizeof(got) - 1536, 1536, "tail: after the region"))
		FAIL("copy of a source whose size is not a multiple of 512");
	free(data);
}

int main(void)
{
	struct kcopyd_client *kc;
	const char *shm;

	tu_init("test-copy-dests");
	kc = tu_client(256);
	one_dest(kc, tu_tmpdir());
	three_dests(kc, tu_tmpdir());
	many_dests(kc, tu_tmpdir());
	short_tail(kc, tu_tmpdir());
	/* tmpfs: files where O_DIRECT may not be available. */
	if (tu_on_tmpfs("/dev/shm") && (shm = tu_mkdtemp("/dev/shm"))) {
		one_dest(kc, shm);
		three_dests(kc, shm);
	} else {
		tu_log("no tmpfs at /dev/shm: buffered-file pass left out");
	}
	CHECK_OK(kcopyd_client_wait(kc));
	kcopyd_client_destroy(kc);
	tu_pass();
}
