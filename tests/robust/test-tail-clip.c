/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A regular file whose size is not a multiple of 512 is never written past
 * its end, though kcopyd_bdev_sectors() rounds its size up: copying all the
 * sectors of a 1000-byte file onto a 1000-byte file leaves it 1000 bytes.
 *
 * For sizes 1, 511, 513, 1000, 4097, 65537 and 300001 bytes, on both
 * engines, with the default devices (O_DIRECT where it works), buffered
 * ones (the in-kernel copy for jobs of 256 KiB and more) and fault devices
 * (whose zeroing falls back to writing zeros):
 *  - a copy of the whole source onto a destination of the same size, and
 *    onto two at once (the same size, and one rounded up to a whole sector),
 *    and from a larger source (the tail of the rounded sector holds data);
 *  - zeroing the whole of a destination.
 * Each destination keeps its size and holds exactly what it must.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fault.h"
#include "rutil.h"

enum kind { PLAIN, BUFFERED, FAULT };
static const char *const kind_name[] = { "default", "buffered", "fault device" };

static struct block_device *open_dev(const char *path, int flags, enum kind k)
{
	static const struct kc_fault_config none;

	if (k == FAULT)
		return ru_fault_open(path, flags, &none);
	return ru_open(path, flags, k == BUFFERED ? KCOPYD_BDEV_BUFFERED : 0);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		FAIL("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

/* path must be exactly want (len bytes, and no byte more). */
static void expect_file(const char *path, const uint8_t *want, uint64_t len, const char *what)
{
	uint8_t *got;
	long at;

	if (file_size(path) != len)
		FAIL("%s: %s is %" PRIu64 " bytes, it was %" PRIu64, what, path, file_size(path), len);
	got = ru_malloc(len ? len : 1);
	ru_pread(path, got, len, 0);
	at = ru_diff(got, want, len);
	if (at >= 0)
		FAIL("%s: %s differs at byte %ld", what, path, at);
	free(got);
}

static void one(struct kcopyd_client *kc, uint64_t size, enum kind k)
{
	const uint64_t rounded = (size + 511) / 512 * 512;
	uint8_t *data = ru_malloc(rounded + 4096), *old = ru_malloc(rounded), *zeros;
	char *src = strdup(ru_path("src")), *big = strdup(ru_path("big"));
	char *d0 = strdup(ru_path("d0")), *d1 = strdup(ru_path("d1"));
	struct block_device *s, *b, *dev0, *dev1;
	struct io_region from, to[2];
	struct kcopyd_result res;
	char what[128];

	snprintf(what, sizeof(what), "%" PRIu64 " bytes, %s, %s", size, kind_name[k],
		 kcopyd_client_engine(kc));
	ru_set_context("%s", what);
	ru_fill_data(data, rounded + 4096, size);
	ru_fill_old(old, rounded, size + 1);
	zeros = calloc(1, rounded);
	if (!zeros)
		FAIL("out of memory");
	ru_write_file(src, data, size);
	ru_write_file(big, data, rounded + 4096);
	ru_write_file(d0, old, size);
	ru_write_file(d1, old, rounded);

	/* The whole source onto one file and two files of its size class. */
	s = open_dev(src, O_RDONLY, k);
	dev0 = open_dev(d0, O_RDWR, k);
	dev1 = open_dev(d1, O_RDWR, k);
	from = (struct io_region){ s, 0, kcopyd_bdev_sectors(s) };
	to[0] = (struct io_region){ dev0, 0, from.count };
	to[1] = (struct io_region){ dev1, 0, from.count };
	CHECK_OK(ru_copy_sync(kc, &from, 1, to, 0, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	expect_file(d0, data, size, what);
	ru_write_file(d0, old, size);
	CHECK_OK(ru_copy_sync(kc, &from, 2, to, 0, &res));
	CHECK_EQ(res.write_err, 0);
	expect_file(d0, data, size, what);
	{
		/* The rounded destination gets the source and zeros after its end. */
		uint8_t *want = calloc(1, rounded);

		if (!want)
			FAIL("out of memory");
		memcpy(want, data, size);
		expect_file(d1, want, rounded, what);
		free(want);
	}

	/* From a larger source: the rounded sector holds data past d0's end. */
	b = open_dev(big, O_RDONLY, k);
	from = (struct io_region){ b, 0, kcopyd_bdev_sectors(dev0) };
	ru_write_file(d0, old, size);
	CHECK_OK(ru_copy_sync(kc, &from, 1, to, 0, &res));
	CHECK_EQ(res.write_err, 0);
	expect_file(d0, data, size, what);

	/* Zeroing all of a destination's sectors. */
	CHECK_OK(ru_zero_sync(kc, 1, to, 0, &res));
	CHECK_EQ(res.write_err, 0);
	expect_file(d0, zeros, size, what);

	kcopyd_bdev_close(s);
	kcopyd_bdev_close(b);
	kcopyd_bdev_close(dev0);
	kcopyd_bdev_close(dev1);
	free(data);
	free(old);
	free(zeros);
	free(src);
	free(big);
	free(d0);
	free(d1);
}

int main(void)
{
	static const uint64_t sizes[] = { 1, 511, 513, 1000, 4097, 65537, 300001 };
	static const char *const engines[] = { "io_uring", "threads" };

	ru_init("test-tail-clip", 120);
	for (unsigned int e = 0; e < 2; e++) {
		struct kcopyd_client *kc;

		setenv("KCOPYD_ENGINE", engines[e], 1);
		if (kcopyd_client_create(256, &kc) < 0) {
			ru_log("no %s engine here", engines[e]);
			continue;
		}
		for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			for (int k = PLAIN; k <= FAULT; k++)
				one(kc, sizes[i], (enum kind)k);
		ru_log("ok: %s engine", kcopyd_client_engine(kc));
		kcopyd_client_destroy(kc);
	}
	ru_pass();
}
