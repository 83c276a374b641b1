/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's throttle (kcopyd_client_set_throttle): I/O in flight at
 * most a given share of the time.  The source is the socket test endpoint
 * (tests/fault/sock.h) whose server waits a fixed time before each answer,
 * so that the time with I/O in flight has a known lower bound: 32 sub-jobs
 * of 64 KiB, each at least D ms.  On whichever engine KCOPYD_ENGINE names:
 *  - unthrottled (100 %): the copy takes at least 32 D, no time is counted
 *    as throttled;
 *  - at 25 %, one sub-job in flight or four: the copy takes at least about
 *    four times its busy time (the first sub-job is free, every other waits
 *    for three times what the last took), and at least twice the
 *    unthrottled copy of the same run; the wait shows in throttled_ns;
 *  - at 1 % (a copy that would take 64 s), set to 100 % while it runs: it
 *    ends soon after, the change taking effect at once;
 *  - the callbacks are not delayed: at 1 %, a one-sub-job copy calls back
 *    as soon as its I/O is done, well before the throttle's wait; the next
 *    job's sub-job is the one held back;
 *  - the arguments: NULL, 0 and above 100 are -EINVAL;
 *  - every copy's bytes are the source's.
 * Timings are bounds only: lower bounds hold on any machine (a slow one
 * only makes the busy time longer), upper ones are generous.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rutil.h"
#include "sock.h"

#define SUB (64u * 1024)
#define FILE_BYTES (32u * SUB)
#define SECTORS (FILE_BYTES / 512)

static char src_path[512], dst_path[1][512];
static uint8_t *src_data, *old_data;

static struct block_device *slow_source(unsigned int delay_us)
{
	const struct kc_sock_config sc = { .delay_us = delay_us };
	struct block_device *bd;

	CHECK_OK(kc_sock_open(src_path, O_RDONLY, &sc, &bd));
	return bd;
}

static struct kcopyd_client *client(unsigned int depth)
{
	struct kcopyd_client *kc;

	CHECK_OK(kcopyd_client_create(256, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, SUB));
	CHECK_OK(kcopyd_client_set_queue_depth(kc, depth));
	return kc;
}

static uint64_t throttled_ns(struct kcopyd_client *kc)
{
	struct kcopyd_stats st;

	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	return st.throttled_ns;
}

/* Copy the whole source at percent, depth sub-jobs at once, each read
 * taking delay_us at least; returns the seconds it took. */
static double timed_copy(unsigned int percent, unsigned int depth, unsigned int delay_us,
			 uint64_t *throttled)
{
	struct kcopyd_client *kc = client(depth);
	struct block_device *src = slow_source(delay_us);
	struct block_device *dst = ru_open(dst_path[0], O_RDWR, 0);
	struct io_region from = { src, 0, SECTORS }, to = { dst, 0, SECTORS };
	struct kcopyd_result res;
	double t0, took;

	ru_set_context("%u %%, depth %u, reads of %u us", percent, depth, delay_us);
	ru_write_file(dst_path[0], old_data, FILE_BYTES);
	CHECK_OK(kcopyd_client_set_throttle(kc, percent));
	t0 = ru_now();
	CHECK_OK(ru_copy_sync(kc, &from, 1, &to, 0, &res));
	took = ru_now() - t0;
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	*throttled = throttled_ns(kc);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	if (!ru_holds(dst_path[0], 0, src_data, FILE_BYTES))
		FAIL("the destination does not hold the source");
	ru_log("%u %%, depth %u: %.2f s, %.2f s throttled", percent, depth, took,
	       (double)*throttled / 1e9);
	return took;
}

static void shares(void)
{
	const unsigned int d_us = 10000;          /* 32 reads: 0.32 s busy at least */
	const double busy = 32 * d_us / 1e6;
	uint64_t thr;
	double t100, t25, t25d4;

	t100 = timed_copy(100, 1, d_us, &thr);
	if (t100 < busy * 0.95)
		FAIL("the unthrottled copy took %.2f s: the server's delay did not hold (%.2f s)",
		     t100, busy);
	CHECK_EQ(thr, 0);
	t25 = timed_copy(25, 1, d_us, &thr);
	/* 32 reads of at least D, 31 waits of at least 3 D: 1.25 s. */
	if (t25 < busy * 3.5)
		FAIL("at 25 %% the copy took %.2f s: the reads alone take %.2f s, so at least "
		     "%.2f s was due", t25, busy, busy * 3.5);
	if (t25 < 2 * t100)
		FAIL("at 25 %% the copy took %.2f s, less than twice the unthrottled %.2f s", t25,
		     t100);
	if (thr < (uint64_t)(busy * 2.5 * 1e9))
		FAIL("at 25 %% only %.2f s counted as throttled", (double)thr / 1e9);
	if (t25 > 40 * ru_slow())
		FAIL("at 25 %% the copy took %.2f s", t25);
	/* Four in flight: the server answers one at a time, so the busy time
	 * is the same, and so is the bound. */
	t25d4 = timed_copy(25, 4, d_us, &thr);
	if (t25d4 < busy * 3.5)
		FAIL("at 25 %%, four in flight, the copy took %.2f s (at least %.2f s due)", t25d4,
		     busy * 3.5);
	ru_log("ok: 100 %% %.2f s, 25 %% %.2f s (%.1fx), 25 %% depth 4 %.2f s", t100, t25,
	       t25 / t100, t25d4);
}

/* At 1 % a copy of 32 reads of 20 ms would take 64 s; lifted to 100 %
 * after 300 ms, it ends soon after. */
static void lifted(void)
{
	struct kcopyd_client *kc = client(1);
	struct block_device *src = slow_source(20000);
	struct block_device *dst = ru_open(dst_path[0], O_RDWR, 0);
	struct io_region from = { src, 0, SECTORS }, to = { dst, 0, SECTORS };
	struct kcopyd_stats st;
	struct ru_done d;
	double t0;

	ru_set_context("1 %%, then 100 %%");
	ru_write_file(dst_path[0], old_data, FILE_BYTES);
	CHECK_OK(kcopyd_client_set_throttle(kc, 1));
	ru_done_init(&d);
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to, 0, ru_done_cb, &d));
	nanosleep(&(struct timespec){ 0, 300000000 }, NULL);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (st.bytes_read > SUB)
		FAIL("at 1 %% %" PRIu64 " bytes were read in 300 ms (reads take 20 ms each)",
		     st.bytes_read);
	t0 = ru_now();
	CHECK_OK(kcopyd_client_set_throttle(kc, 100));
	ru_counter_wait(&d.calls, 1, 20, "the copy after the throttle was lifted");
	CHECK_EQ(d.res.read_err, 0);
	CHECK_EQ(d.res.write_err, 0);
	CHECK_OK(kcopyd_client_wait(kc));
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	if (!ru_holds(dst_path[0], 0, src_data, FILE_BYTES))
		FAIL("the destination does not hold the source");
	ru_log("ok: lifted from 1 %% to 100 %%, the copy ended %.2f s later", ru_now() - t0);
}

/* At 1 %, a copy of one sub-job (one read of 20 ms) calls back at once: the
 * throttle holds back the next sub-job (of the next job), never a callback. */
static void callbacks_not_delayed(void)
{
	struct kcopyd_client *kc = client(4);
	struct block_device *src = slow_source(20000);
	struct block_device *dst = ru_open(dst_path[0], O_RDWR, 0);
	struct io_region from = { src, 0, SUB / 512 }, to = { dst, 0, SUB / 512 };
	struct io_region from2 = { src, SUB / 512, SUB / 512 }, to2 = { dst, SUB / 512, SUB / 512 };
	struct ru_done a, b;
	double t0, ta, tb;

	ru_set_context("callbacks at 1 %%");
	ru_write_file(dst_path[0], old_data, FILE_BYTES);
	CHECK_OK(kcopyd_client_set_throttle(kc, 1));
	ru_done_init(&a);
	ru_done_init(&b);
	t0 = ru_now();
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to, 0, ru_done_cb, &a));
	ru_counter_wait(&a.calls, 1, 20, "a one-sub-job copy at 1 %");
	ta = ru_now() - t0;
	CHECK_EQ(a.res.read_err | (int)a.res.write_err, 0);
	/* The throttle now wants 99 times the read's time idle: ~2 s. */
	t0 = ru_now();
	CHECK_OK(kcopyd_copy_ex(kc, &from2, 1, &to2, 0, ru_done_cb, &b));
	ru_counter_wait(&b.calls, 1, 60, "the next copy at 1 %");
	tb = ru_now() - t0;
	CHECK_EQ(b.res.read_err | (int)b.res.write_err, 0);
	if (ta > 1.0 * ru_slow())
		FAIL("the first copy's callback came %.2f s after its submission: delayed by the "
		     "throttle (its read takes 20 ms)", ta);
	if (tb < 1.5)
		FAIL("the next copy took %.2f s at 1 %%: not held back (~2 s due)", tb);
	if (throttled_ns(kc) < 1500000000u)
		FAIL("%.2f s counted as throttled, ~2 s due", (double)throttled_ns(kc) / 1e9);
	CHECK_OK(kcopyd_client_wait(kc));
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	if (!ru_holds(dst_path[0], 0, src_data, 2 * SUB))
		FAIL("the destination does not hold the source");
	ru_log("ok: at 1 %% a callback came %.3f s after its submission, the next job took %.2f s",
	       ta, tb);
}

static void bad_args(void)
{
	struct kcopyd_client *kc = client(1);

	ru_set_context("arguments");
	CHECK_EQ(kcopyd_client_set_throttle(NULL, 50), -EINVAL);
	CHECK_EQ(kcopyd_client_set_throttle(kc, 0), -EINVAL);
	CHECK_EQ(kcopyd_client_set_throttle(kc, 101), -EINVAL);
	CHECK_EQ(kcopyd_client_set_throttle(kc, UINT_MAX), -EINVAL);
	CHECK_EQ(kcopyd_client_set_throttle(kc, 1), 0);
	CHECK_EQ(kcopyd_client_set_throttle(kc, 100), 0);
	kcopyd_client_destroy(kc);
	ru_log("ok: NULL, 0, 101 and UINT_MAX refused with -EINVAL");
}

int main(void)
{
	ru_init("test-throttle-time", 240);
	ru_test_files(src_path, sizeof(src_path), dst_path, 1, &src_data, &old_data, FILE_BYTES, 7);
	bad_args();
	shares();
	lifted();
	callbacks_not_delayed();
	ru_pass();
}
