/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A source that ends before the size it had when it was opened (a file cut
 * short under the reader, kc_fault_set_eof): the read is an error, -ENODATA,
 * at the first missing byte, never zeros reported as a success.
 *  - end at 0, 512, 300000 (inside a sector), 196608 (a sub-job boundary)
 *    and the last byte but one of a 1 MiB source, with short transfers and
 *    delays, with IGNORE_ERROR: read_err -ENODATA, read_err_sector the
 *    sector of the new end; every sub-job wholly before it is copied, the
 *    one holding it and all after it are not written (old contents stay);
 *  - the same without IGNORE_ERROR: -ENODATA, at or after the new end;
 *  - the end where it was at open (1 MiB): a plain success;
 *  - a 1000-byte source, copied as its 2 sectors: succeeds, bytes 1000-1023
 *    of the destination are zeros; the same with the end set at 1000; with
 *    the end at 999 or 400: -ENODATA at sector 1 or 0;
 *  - that source grown to 1024 bytes after it was opened: bytes 1000-1023
 *    still read as zeros (only what was there at open is the source).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault.h"
#include "rutil.h"

#define SRC_BYTES (1u * RU_MIB)
#define S 65536u

static char src_path[512], dst_path[512];
static uint8_t *src_data, *old;

static struct kcopyd_client *client(void)
{
	struct kcopyd_client *kc;

	CHECK_OK(kcopyd_client_create(256, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, S));
	return kc;
}

static void check_range(const char *what, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *got = ru_malloc(len ? len : 1);
	long d;

	ru_pread(dst_path, got, len, off);
	d = ru_diff(got, want, len);
	if (d >= 0)
		FAIL("%s: destination byte %" PRIu64 " is %#x, expected %#x", what,
		     off + (uint64_t)d, got[d], want[d]);
	free(got);
}

static void cut_short(uint64_t eof, unsigned int flags)
{
	struct kc_fault_config cfg = { .short_pct = 30, .delay_max_us = 300, .seed = eof + 1 };
	struct kcopyd_client *kc = client();
	uint64_t good = eof - eof % S;          /* sub-jobs wholly before the end */
	struct block_device *src, *dst;
	struct io_region from, to;
	struct kcopyd_result res;
	char what[96];

	snprintf(what, sizeof(what), "end at %" PRIu64 ", flags %#x", eof, flags);
	ru_set_context("%s", what);
	ru_write_file(dst_path, old, SRC_BYTES);
	src = ru_fault_open(src_path, O_RDONLY, &cfg);
	dst = ru_open(dst_path, O_RDWR, 0);
	from = (struct io_region){ src, 0, SRC_BYTES / 512 };
	to = (struct io_region){ dst, 0, SRC_BYTES / 512 };
	kc_fault_set_eof(src, eof);
	CHECK_OK(ru_copy_sync(kc, &from, 1, &to, flags, &res));
	if (eof >= SRC_BYTES) {
		if (res.read_err || res.write_err)
			FAIL("%s: read_err %d write_err %#x, expected success", what, res.read_err,
			     res.write_err);
		check_range(what, 0, src_data, SRC_BYTES);
	} else {
		if (res.read_err != -ENODATA)
			FAIL("%s: read_err %d (%s), expected -ENODATA: the source ended early", what,
			     res.read_err, strerror(-res.read_err));
		CHECK_EQ(res.write_err, 0);
		if (flags & KCOPYD_IGNORE_ERROR) {
			CHECK_EQ(res.read_err_sector, eof / 512);
			check_range(what, 0, src_data, good);
			check_range(what, good, old + good, SRC_BYTES - good);
		} else if (res.read_err_sector < eof / 512) {
			FAIL("%s: read_err_sector %llu, before the end", what,
			     (unsigned long long)res.read_err_sector);
		}
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
}

/* A 1000-byte source copied as 2 sectors onto a 1024-byte destination. */
static void tail(uint64_t eof, bool grow, int want_err, sector_t want_sector)
{
	static const uint8_t zeros[24];
	struct kc_fault_config cfg = { .short_pct = 0 };
	struct block_device *src, *dst;
	struct kcopyd_client *kc = client();
	struct io_region from, to;
	struct kcopyd_result res;
	char what[96];

	snprintf(what, sizeof(what), "1000-byte source, end at %" PRIu64 "%s", eof,
		 grow ? ", grown to 1024 bytes" : "");
	ru_set_context("%s", what);
	ru_write_file(src_path, src_data, 1000);
	ru_write_file(dst_path, old, 1024);
	src = ru_fault_open(src_path, O_RDONLY, &cfg);
	dst = ru_open(dst_path, O_RDWR, 0);
	CHECK_EQ(kcopyd_bdev_size(src), 1000);
	if (grow)
		ru_pwrite(src_path, src_data + 1000, 24, 1000);
	kc_fault_set_eof(src, eof);
	from = (struct io_region){ src, 0, 2 };
	to = (struct io_region){ dst, 0, 2 };
	CHECK_OK(ru_copy_sync(kc, &from, 1, &to, 0, &res));
	if (res.read_err != want_err)
		FAIL("%s: read_err %d, expected %d", what, res.read_err, want_err);
	if (want_err) {
		CHECK_EQ(res.read_err_sector, want_sector);
		check_range(what, 0, old, 1024);
	} else {
		check_range(what, 0, src_data, 1000);
		check_range(what, 1000, zeros, 24);
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
}

int main(void)
{
	static const uint64_t ends[] = { 0, 512, 300000, 3 * S, SRC_BYTES - 1, SRC_BYTES };

	ru_init("test-fault-eof", 120);
	snprintf(src_path, sizeof(src_path), "%s", ru_path("src"));
	snprintf(dst_path, sizeof(dst_path), "%s", ru_path("dst"));
	src_data = ru_malloc(SRC_BYTES);
	old = ru_malloc(SRC_BYTES);
	ru_fill_data(src_data, SRC_BYTES, 1);
	ru_fill_old(old, SRC_BYTES, 2);
	ru_write_file(src_path, src_data, SRC_BYTES);
	for (unsigned int i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		cut_short(ends[i], KCOPYD_IGNORE_ERROR);
		cut_short(ends[i], 0);
	}
	tail(UINT64_MAX, false, 0, 0);
	tail(1000, false, 0, 0);
	tail(999, false, -ENODATA, 1);
	tail(400, false, -ENODATA, 0);
	tail(UINT64_MAX, true, 0, 0);
	free(src_data);
	free(old);
	ru_pass();
}
