/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KCOPYD_WRITE_SEQ clears KCOPYD_IGNORE_ERROR, as the kernel does: a
 * sequential stream never gets a hole.  With both flags:
 *  - a read error in chunk 5 of 16: read_err is that error at that chunk's
 *    first sector, and every destination holds a prefix of the source that
 *    ends at or before chunk 5, then its old contents: nothing after the
 *    failed chunk was written;
 *  - a write error on destination 1 in chunk 3: the job stops as without
 *    IGNORE_ERROR: destination 0 holds a prefix of at most 4 chunks;
 *  - zeroing with a write error on destination 1 in chunk 3: the same.
 * Delayed completions make sub-jobs finish out of order; each case runs
 * several times.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault.h"
#include "rutil.h"

#define CHUNK (64u * 1024)
#define CHUNKS 16u
#define BYTES (CHUNK * CHUNKS)
#define FLAGS (KCOPYD_WRITE_SEQ | KCOPYD_IGNORE_ERROR)

static char src_path[512], dst_path[2][512];
static uint8_t *src_data, *old_data, *zeros;

static struct kcopyd_client *client(void)
{
	struct kcopyd_client *kc;

	CHECK_OK(kcopyd_client_create(1024, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, CHUNK));
	return kc;
}

/* The destination is want for chunks [0, p) and old from there on;
 * returns p. */
static unsigned int prefix(const char *path, const uint8_t *want, const char *what)
{
	uint8_t *got = ru_malloc(BYTES);
	unsigned int p = 0;

	ru_pread(path, got, BYTES, 0);
	while (p < CHUNKS && !memcmp(got + p * CHUNK, want + p * CHUNK, CHUNK))
		p++;
	for (unsigned int k = p; k < CHUNKS; k++)
		if (memcmp(got + k * CHUNK, old_data + k * CHUNK, CHUNK))
			FAIL("%s: %s holds chunks 0..%u, then chunk %u is written: a hole in a "
			     "WRITE_SEQ stream", what, path, p, k);
	free(got);
	return p;
}

static void reset(void)
{
	ru_write_file(dst_path[0], old_data, BYTES);
	ru_write_file(dst_path[1], old_data, BYTES);
}

static void read_error(unsigned int run)
{
	const struct kc_fault_rule rule = { KC_FAULT_READ, 5 * CHUNK + 512, 5 * CHUNK + 1024, -EIO };
	const struct kc_fault_config scfg = { .rules = &rule, .num_rules = 1, .delay_max_us = 300,
					      .seed = run + 1 };
	const struct kc_fault_config dcfg = { .delay_max_us = 300, .seed = run + 100 };
	struct kcopyd_client *kc = client();
	struct block_device *src, *d[2];
	struct io_region from, to[2];
	struct kcopyd_result res;

	ru_set_context("read error in chunk 5, run %u", run);
	reset();
	src = ru_fault_open(src_path, O_RDONLY, &scfg);
	d[0] = ru_open(dst_path[0], O_RDWR, 0);
	d[1] = ru_fault_open(dst_path[1], O_RDWR, &dcfg);
	from = (struct io_region){ src, 0, BYTES / 512 };
	to[0] = (struct io_region){ d[0], 0, BYTES / 512 };
	to[1] = (struct io_region){ d[1], 0, BYTES / 512 };
	CHECK_OK(ru_copy_sync(kc, &from, 2, to, FLAGS, &res));
	CHECK_EQ(res.read_err, -EIO);
	CHECK_EQ(res.read_err_sector, 5 * CHUNK / 512);
	CHECK_EQ(res.write_err, 0);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(d[0]);
	kcopyd_bdev_close(d[1]);
	for (unsigned int i = 0; i < 2; i++)
		if (prefix(dst_path[i], src_data, "read error") > 5)
			FAIL("destination %u holds the failed chunk 5", i);
}

static void write_error(unsigned int run, bool zero)
{
	const struct kc_fault_rule rule = { KC_FAULT_WRITE, 3 * CHUNK, 3 * CHUNK + 512, -EIO };
	const struct kc_fault_config bad = { .rules = &rule, .num_rules = 1, .delay_max_us = 300,
					     .seed = run + 7 };
	const struct kc_fault_config good = { .delay_max_us = 300, .seed = run + 70 };
	struct kcopyd_client *kc = client();
	struct block_device *src, *d[2];
	struct io_region from, to[2];
	struct kcopyd_result res;
	const char *what = zero ? "zeroing, write error" : "copy, write error";
	unsigned int p;

	ru_set_context("%s in chunk 3 of destination 1, run %u", what, run);
	reset();
	src = ru_open(src_path, O_RDONLY, 0);
	d[0] = ru_fault_open(dst_path[0], O_RDWR, &good);
	d[1] = ru_fault_open(dst_path[1], O_RDWR, &bad);
	from = (struct io_region){ src, 0, BYTES / 512 };
	to[0] = (struct io_region){ d[0], 0, BYTES / 512 };
	to[1] = (struct io_region){ d[1], 0, BYTES / 512 };
	if (zero)
		CHECK_OK(ru_zero_sync(kc, 2, to, FLAGS, &res));
	else
		CHECK_OK(ru_copy_sync(kc, &from, 2, to, FLAGS, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 2);
	CHECK_EQ(res.dest_err_sector[1], 3 * CHUNK / 512);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(d[0]);
	kcopyd_bdev_close(d[1]);
	p = prefix(dst_path[0], zero ? zeros : src_data, what);
	if (p > 4)
		FAIL("%s: the healthy destination got %u chunks: the job went on after the error",
		     what, p);
	if (prefix(dst_path[1], zero ? zeros : src_data, what) > 3)
		FAIL("%s: the failed chunk 3 of destination 1 is written", what);
}

int main(void)
{
	const unsigned int runs = ru_sanitized() ? 2 : 5;

	ru_init("test-seq-ignore", 120);
	snprintf(src_path, sizeof(src_path), "%s", ru_path("src"));
	snprintf(dst_path[0], sizeof(dst_path[0]), "%s", ru_path("d0"));
	snprintf(dst_path[1], sizeof(dst_path[1]), "%s", ru_path("d1"));
	src_data = ru_malloc(BYTES);
	old_data = ru_malloc(BYTES);
	zeros = calloc(1, BYTES);
	if (!zeros)
		FAIL("out of memory");
	ru_fill_data(src_data, BYTES, 3);
	ru_fill_old(old_data, BYTES, 4);
	ru_write_file(src_path, src_data, BYTES);
	for (unsigned int r = 0; r < runs; r++) {
		read_error(r);
		write_error(r, false);
		write_error(r, true);
	}
	ru_log("ok: WRITE_SEQ with IGNORE_ERROR stops at the first error, %u runs", runs);
	ru_pass();
}
