/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * -EAGAIN and -EINTR are retried a bounded number of times, after a pause
 * that grows, on the engine's timer; then the I/O fails with that error:
 *  - a source whose every read fails with -EAGAIN: the job ends (no spin)
 *    with read_err -EAGAIN at the first sector, nothing written, and the
 *    retries counter is exactly KC_MAX_RETRIES for its one sub-job (at most
 *    that per sub-job for a job of several);
 *  - a destination whose every write fails with -EINTR: its bit in
 *    write_err, dest_errno -EINTR, the healthy destination written;
 *  - a source and a destination that fail a fifth of their requests with
 *    -EAGAIN, at random: the copy succeeds, byte for byte, with retries;
 *  - the bound is on retries in a row: a source and a destination that
 *    say -EAGAIN three times before each sector they move (far more than
 *    KC_MAX_RETRIES in one request) copy, and zero, without an error;
 *  - kcopyd_client_cancel() while a read waits for its retry: the job ends
 *    with -ECANCELED without waiting out the back-off (fewer than
 *    KC_MAX_RETRIES retries when the cancel came within 100 ms of the first
 *    retry, which is checked only then), nothing written.
 * A hang is caught by a 20 s limit per job.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault.h"
#include "internal.h"
#include "rutil.h"

#define FILE_BYTES (2u * RU_MIB)
#define SUB (64u * 1024)

static char src_path[512], dst_path[2][512];
static uint8_t *src_data, *old_data;

static struct kcopyd_client *client(void)
{
	struct kcopyd_client *kc;

	CHECK_OK(kcopyd_client_create(64, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, SUB));
	return kc;
}

static void job(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
		struct io_region *to, struct kcopyd_result *res, const char *what)
{
	struct ru_done d;

	ru_done_init(&d);
	CHECK_OK(kcopyd_copy_ex(kc, from, n, to, 0, ru_done_cb, &d));
	ru_counter_wait(&d.calls, 1, 20, what);
	*res = d.res;
}

static void reset_dests(void)
{
	for (unsigned int d = 0; d < 2; d++)
		ru_write_file(dst_path[d], old_data, FILE_BYTES);
}

static void source_always_eagain(unsigned int chunks)
{
	const struct kc_fault_rule rule = { KC_FAULT_READ, 0, FILE_BYTES, -EAGAIN };
	const struct kc_fault_config cfg = { .rules = &rule, .num_rules = 1 };
	struct kcopyd_client *kc = client();
	struct block_device *src = ru_fault_open(src_path, O_RDONLY, &cfg);
	struct block_device *dst = ru_open(dst_path[0], O_RDWR, 0);
	struct io_region from = { src, 8, chunks * SUB / 512 }, to = { dst, 0, from.count };
	struct kcopyd_result res;
	struct kcopyd_stats st;

	ru_set_context("source always -EAGAIN, %u sub-jobs", chunks);
	reset_dests();
	job(kc, &from, 1, &to, &res, "a copy from a source that always says -EAGAIN");
	CHECK_EQ(res.read_err, -EAGAIN);
	CHECK_EQ(res.read_err_sector, 8);
	CHECK_EQ(res.write_err, 0);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (chunks == 1 && st.retries != KC_MAX_RETRIES)
		FAIL("%" PRIu64 " retries of one read, expected %d", st.retries, KC_MAX_RETRIES);
	if (st.retries > (uint64_t)chunks * KC_MAX_RETRIES || st.retries < KC_MAX_RETRIES)
		FAIL("%" PRIu64 " retries for %u sub-jobs", st.retries, chunks);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	if (!ru_holds(dst_path[0], 0, old_data, FILE_BYTES))
		FAIL("the destination was written although no read succeeded");
	ru_log("ok: a source that always says -EAGAIN, %u sub-jobs: %" PRIu64 " retries", chunks,
	       st.retries);
}

static void dest_always_eintr(void)
{
	const struct kc_fault_rule rule = { KC_FAULT_WRITE, 0, FILE_BYTES, -EINTR };
	const struct kc_fault_config cfg = { .rules = &rule, .num_rules = 1 };
	struct kcopyd_client *kc = client();
	struct block_device *src = ru_open(src_path, O_RDONLY, 0);
	struct block_device *d0 = ru_open(dst_path[0], O_RDWR, 0);
	struct block_device *d1 = ru_fault_open(dst_path[1], O_RDWR, &cfg);
	struct io_region from = { src, 0, SUB / 512 }, to[2] = { { d0, 0, SUB / 512 },
								  { d1, 16, SUB / 512 } };
	struct kcopyd_result res;
	struct kcopyd_stats st;

	ru_set_context("destination 1 always -EINTR");
	reset_dests();
	job(kc, &from, 2, to, &res, "a copy to a destination that always says -EINTR");
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 2);
	CHECK_EQ(res.dest_errno[1], -EINTR);
	CHECK_EQ(res.dest_err_sector[1], 16);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	CHECK_EQ(st.retries, KC_MAX_RETRIES);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(d0);
	kcopyd_bdev_close(d1);
	if (!ru_holds(dst_path[0], 0, src_data, SUB))
		FAIL("the healthy destination does not hold the source");
	if (!ru_holds(dst_path[1], 0, old_data, FILE_BYTES))
		FAIL("the failing destination was written");
	ru_log("ok: a destination that always says -EINTR");
}

static void transient(void)
{
	struct kc_fault_config cfg = { .fail_ppm = 200000, .fail_error = -EAGAIN, .seed = 77 };
	struct kcopyd_client *kc = client();
	struct block_device *src = ru_fault_open(src_path, O_RDONLY, &cfg), *dst;
	struct io_region from = { src, 0, FILE_BYTES / 512 }, to;
	struct kcopyd_result res;
	struct kcopyd_stats st;

	cfg.seed = 78;
	dst = ru_fault_open(dst_path[0], O_RDWR, &cfg);
	to = (struct io_region){ dst, 0, FILE_BYTES / 512 };
	ru_set_context("a fifth of the requests -EAGAIN");
	reset_dests();
	job(kc, &from, 1, &to, &res, "a copy with transient -EAGAIN");
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (!st.retries)
		FAIL("no retries, though a fifth of the requests failed");
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	if (!ru_holds(dst_path[0], 0, src_data, FILE_BYTES))
		FAIL("the destination does not hold the source");
	ru_log("ok: transient -EAGAIN: %" PRIu64 " retries", st.retries);
}

static void stutter(void)
{
	const struct kc_fault_config cfg = { .stutter = 3, .fail_error = -EAGAIN };
	const uint32_t sectors = 12;
	struct kcopyd_client *kc = client();
	struct block_device *src = ru_fault_open(src_path, O_RDONLY, &cfg);
	struct block_device *dst = ru_fault_open(dst_path[0], O_RDWR, &cfg);
	struct io_region from = { src, 3, sectors }, to = { dst, 7, sectors };
	struct kcopyd_result res;
	struct kcopyd_stats st;
	uint8_t *zeros = calloc(1, sectors * 512);
	struct ru_done d;

	ru_set_context("-EAGAIN three times before every sector");
	if (!zeros)
		FAIL("out of memory");
	reset_dests();
	job(kc, &from, 1, &to, &res, "a copy that stutters");
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	/* 3 -EAGAIN before each sector read and written, and the short
	 * transfers of all but the last sector of each. */
	CHECK_EQ(st.retries, 2 * (3 * sectors + sectors - 1));
	if (!ru_holds(dst_path[0], 7 * 512, src_data + 3 * 512, sectors * 512) ||
	    !ru_holds(dst_path[0], 0, old_data, 7 * 512) ||
	    !ru_holds(dst_path[0], (7 + sectors) * 512, old_data + (7 + sectors) * 512,
		   FILE_BYTES - (7 + sectors) * 512))
		FAIL("the destination does not hold the source where it should, or only there");

	ru_done_init(&d);
	CHECK_OK(kcopyd_zero_ex(kc, 1, &to, 0, ru_done_cb, &d));
	ru_counter_wait(&d.calls, 1, 20, "zeroing that stutters");
	CHECK_EQ(d.res.write_err, 0);
	if (!ru_holds(dst_path[0], 7 * 512, zeros, sectors * 512))
		FAIL("the zeroed range is not zero");
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	free(zeros);
	ru_log("ok: -EAGAIN before every sector: copied and zeroed");
}

static void cancel_while_retrying(void)
{
	const struct kc_fault_rule rule = { KC_FAULT_READ, 0, FILE_BYTES, -EAGAIN };
	const struct kc_fault_config cfg = { .rules = &rule, .num_rules = 1 };
	struct kcopyd_client *kc;
	struct block_device *src = ru_fault_open(src_path, O_RDONLY, &cfg);
	struct block_device *dst = ru_open(dst_path[0], O_RDWR, 0);
	struct io_region from = { src, 0, 4 * SUB / 512 }, to = { dst, 0, from.count };
	struct kcopyd_stats st;
	struct ru_done d;
	double seen, cancelled;

	ru_set_context("cancel while a read waits for its retry");
	CHECK_OK(kcopyd_client_create(SUB / 4096, &kc));         /* one sub-job at a time */
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, SUB));
	reset_dests();
	ru_done_init(&d);
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to, 0, ru_done_cb, &d));
	do {
		CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
		seen = ru_now();
	} while (!st.retries);
	CHECK_OK(kcopyd_client_cancel(kc));
	cancelled = ru_now();
	ru_counter_wait(&d.calls, 1, 20, "a copy cancelled while it retries");
	CHECK_EQ(d.res.read_err, -ECANCELED);
	CHECK_EQ(d.res.write_err, 0);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (cancelled - seen < 0.1 && st.retries >= KC_MAX_RETRIES)
		FAIL("%" PRIu64 " retries after a cancel within 100 ms of the first", st.retries);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	if (!ru_holds(dst_path[0], 0, old_data, FILE_BYTES))
		FAIL("the destination was written");
	ru_log("ok: cancel while retrying: %" PRIu64 " retries", st.retries);
}

int main(void)
{
	ru_init("test-retry-eagain", 120);
	ru_test_files(src_path, sizeof(src_path), dst_path, 2, &src_data, &old_data, FILE_BYTES, 1);
	reset_dests();
	source_always_eagain(1);
	source_always_eagain(4);
	dest_always_eintr();
	transient();
	stutter();
	cancel_while_retrying();
	ru_pass();
}
