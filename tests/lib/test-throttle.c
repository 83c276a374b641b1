/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The throttle (kcopyd_client_set_rate) at its limits:
 *  - huge rates (UINT64_MAX, 7 EiB/s, UINT64_MAX / 3, 2^63) let a copy and a
 *    zeroing job through at once, with sub-jobs of 4 KiB and of 1 MiB (the
 *    token arithmetic must saturate, not overflow);
 *  - a copy held back at 1 byte/s (its second sub-job would wait 18 hours)
 *    completes soon after the rate is removed (0) or raised to UINT64_MAX:
 *    set_rate wakes the engine, which sleeps on the old rate;
 *  - the same when the rate is raised from a callback (on the engine's own
 *    thread, between its look at the throttle and its sleep): a copy held
 *    back behind a first one, whose callback lifts the rate, completes;
 *  - the rate holds from the first byte (a lower bound on the time taken),
 *    and the time it held sub-jobs back shows in the throttled_ns statistic;
 *  - every copy's bytes are compared with the source.
 * "Soon" is a 20 s limit: far below what the old rate would take, far above
 * what a loaded machine needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testutil.h"

#define SIZE (4 * TU_MIB)
#define LIMIT_S 20

static const char *src;

/* Wait for ev at most limit_s seconds; false if it did not come. */
static bool wait_for(struct tu_event *ev, int limit_s)
{
	struct timespec ts;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += limit_s;
	pthread_mutex_lock(&ev->lock);
	while (!ev->done && pthread_cond_clockwait(&ev->cond, &ev->lock, CLOCK_MONOTONIC, &ts) == 0)
		;
	done = ev->done;
	pthread_mutex_unlock(&ev->lock);
	return done;
}

static void check_copy(const char *dst, const char *what)
{
	if (tu_cmp_files(dst, 0, src, 0, SIZE))
		FAIL("%s: the destination differs from the source", what);
}

static void huge_rate(uint64_t rate, unsigned int sub, const char *what)
{
	struct kcopyd_client *kc = tu_client(1024);
	const char *dst = tu_path("huge");
	struct block_device *s, *d;
	struct io_region from, to;
	struct tu_event ev;

	tu_make_filled(dst, SIZE, 0x5a);
	s = tu_open(src, O_RDONLY);
	d = tu_open(dst, O_RDWR);
	from = tu_region(s, 0, SIZE / 512);
	to = tu_region(d, 0, SIZE / 512);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, sub));
	CHECK_OK(kcopyd_client_set_rate(kc, rate));
	tu_event_init(&ev);
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, tu_event_notify, &ev));
	if (!wait_for(&ev, LIMIT_S))
		FAIL("%s, sub-jobs of %u: a copy at %llu bytes/s did not finish in %d s", what, sub,
		     (unsigned long long)rate, LIMIT_S);
	CHECK_EQ(ev.read_err, 0);
	CHECK_EQ(ev.write_err, 0);
	tu_event_destroy(&ev);
	check_copy(dst, what);

	tu_event_init(&ev);
	CHECK_OK(kcopyd_zero(kc, 1, &to, 0, tu_event_notify, &ev));
	if (!wait_for(&ev, LIMIT_S))
		FAIL("%s, sub-jobs of %u: zeroing at %llu bytes/s did not finish in %d s", what, sub,
		     (unsigned long long)rate, LIMIT_S);
	CHECK_EQ(ev.write_err, 0);
	tu_event_destroy(&ev);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	{
		uint64_t size;
		uint8_t *got = tu_read_file(dst, &size);

		CHECK_EQ(size, SIZE);
		if (tu_cmp_byte(got, 0, SIZE, 0, "zeroed destination"))
			FAIL("%s: zeroing at a huge rate left data behind", what);
		free(got);
	}
	tu_log("ok: %s (%llu bytes/s), sub-jobs of %u", what, (unsigned long long)rate, sub);
}

/* Start a copy at 1 byte/s, wait until its first sub-job (the burst) is
 * written, then change the rate: the copy must end soon. */
static void slow_then(uint64_t new_rate, const char *what)
{
	struct kcopyd_client *kc = tu_client(256);
	const char *dst = tu_path("slow");
	struct block_device *s, *d;
	struct io_region from, to;
	struct kcopyd_stats st;
	struct tu_event ev;
	double t0;

	tu_make_filled(dst, SIZE, 0x5a);
	s = tu_open(src, O_RDONLY);
	d = tu_open(dst, O_RDWR);
	from = tu_region(s, 0, SIZE / 512);
	to = tu_region(d, 0, SIZE / 512);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 64 * 1024));
	CHECK_OK(kcopyd_client_set_rate(kc, 1));
	tu_event_init(&ev);
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, tu_event_notify, &ev));
	/* The bucket starts with what the rate gave since the clock's start
	 * (at most one sub-job): wait for that much, or 200 ms. */
	t0 = tu_now();
	do {
		CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	} while (st.bytes_written < 64 * 1024 && tu_now() - t0 < 0.2);
	/* Now the engine sleeps on the throttle, for about 65536 s. */
	nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (st.bytes_read > 64 * 1024)
		FAIL("%s: %llu bytes read at 1 byte/s", what, (unsigned long long)st.bytes_read);
	if (wait_for(&ev, 0))
		FAIL("%s: the copy finished at 1 byte/s", what);
	CHECK_OK(kcopyd_client_set_rate(kc, new_rate));
	if (!wait_for(&ev, LIMIT_S))
		FAIL("%s: a copy held back at 1 byte/s did not finish within %d s of set_rate(%llu)",
		     what, LIMIT_S, (unsigned long long)new_rate);
	CHECK_EQ(ev.read_err, 0);
	CHECK_EQ(ev.write_err, 0);
	tu_event_destroy(&ev);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	check_copy(dst, what);
	tu_log("ok: %s", what);
}

static struct kcopyd_client *lift_kc;
static struct io_region lift_none, lift_none_to, lift_from, lift_to;
static struct tu_event lift_a, lift_b;

static void lift_rate_cb(int read_err, unsigned int write_err, void *context)
{
	CHECK_OK(kcopyd_client_set_rate(lift_kc, 0));
	tu_event_notify(read_err, write_err, context);
}

/* From a callback, so that the engine takes both in one turn: A, empty,
 * whose callback lifts the rate, and B, which the throttle holds back. */
static void lift_submit_cb(int read_err, unsigned int write_err, void *context)
{
	(void)context;
	CHECK_EQ(read_err | (int)write_err, 0);
	CHECK_OK(kcopyd_copy(lift_kc, &lift_none, 1, &lift_none_to, 0, lift_rate_cb, &lift_a));
	CHECK_OK(kcopyd_copy(lift_kc, &lift_from, 1, &lift_to, 0, tu_event_notify, &lift_b));
}

/* At 1 byte/s (the bucket holds less than a sub-job unless the machine has
 * been up for 18 hours), the engine looks at the throttle for B, then runs
 * A's callback, which lifts the rate, then sleeps: on what B needed at the
 * old rate, unless set_rate's wake-up is kept for it. */
static void lift_from_callback(void)
{
	struct kcopyd_client *kc = tu_client(256);
	const char *dst = tu_path("lift");
	struct block_device *s, *d;
	struct tu_event z;

	tu_make_filled(dst, SIZE, 0x5a);
	s = tu_open(src, O_RDONLY);
	d = tu_open(dst, O_RDWR);
	lift_none = tu_region(s, 0, 0);
	lift_none_to = tu_region(d, 0, 0);
	lift_from = tu_region(s, 0, SIZE / 512);
	lift_to = tu_region(d, 0, SIZE / 512);
	lift_kc = kc;
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 64 * 1024));
	CHECK_OK(kcopyd_client_set_rate(kc, 1));
	tu_event_init(&z);
	tu_event_init(&lift_a);
	tu_event_init(&lift_b);
	CHECK_OK(kcopyd_copy(kc, &lift_none, 1, &lift_none_to, 0, lift_submit_cb, &z));
	if (!wait_for(&lift_a, LIMIT_S))
		FAIL("an empty copy did not call back within %d s", LIMIT_S);
	if (!wait_for(&lift_b, LIMIT_S))
		FAIL("a copy held back at 1 byte/s did not finish within %d s of a callback's "
		     "set_rate(0)", LIMIT_S);
	CHECK_EQ(lift_b.read_err, 0);
	CHECK_EQ(lift_b.write_err, 0);
	CHECK_OK(kcopyd_client_wait(kc));
	tu_event_destroy(&z);
	tu_event_destroy(&lift_a);
	tu_event_destroy(&lift_b);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	check_copy(dst, "rate lifted from a callback");
	tu_log("ok: the rate lifted from a callback");
}

/* The rate holds from the first byte: len bytes at rate bytes/s take at
 * least len / rate seconds, a single sub-job too (the bucket starts empty).
 * A lower bound only: a loaded machine makes it slower, never faster. */
static void rate_holds(uint64_t len, uint64_t rate, unsigned int sub)
{
	struct kcopyd_client *kc = tu_client(256);
	const char *dst = tu_path("held");
	struct block_device *s, *d;
	struct io_region from, to;
	struct tu_event ev;
	double t0, took, want = (double)len / (double)rate;

	tu_make_filled(dst, SIZE, 0x5a);
	s = tu_open(src, O_RDONLY);
	d = tu_open(dst, O_RDWR);
	from = tu_region(s, 0, len / 512);
	to = tu_region(d, 0, len / 512);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, sub));
	CHECK_OK(kcopyd_client_set_rate(kc, rate));
	tu_event_init(&ev);
	t0 = tu_now();
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, tu_event_notify, &ev));
	if (!wait_for(&ev, LIMIT_S))
		FAIL("%llu bytes at %llu bytes/s did not finish in %d s", (unsigned long long)len,
		     (unsigned long long)rate, LIMIT_S);
	took = tu_now() - t0;
	CHECK_EQ(ev.read_err, 0);
	CHECK_EQ(ev.write_err, 0);
	{
		struct kcopyd_stats st;

		/* The rate held the copy back about the whole time: at
		 * least half of it shows in throttled_ns. */
		CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
		if ((double)st.throttled_ns < want * 0.5e9)
			FAIL("%llu bytes at %llu bytes/s: %.2f s counted as throttled, about %.2f s due",
			     (unsigned long long)len, (unsigned long long)rate,
			     (double)st.throttled_ns / 1e9, want);
	}
	if (took < want * 0.95)
		FAIL("%llu bytes at %llu bytes/s in sub-jobs of %u took %.2f s: faster than the "
		     "rate (%.2f s)", (unsigned long long)len, (unsigned long long)rate, sub, took, want);
	tu_event_destroy(&ev);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	if (tu_cmp_files(dst, 0, src, 0, len))
		FAIL("rate %llu: the destination differs from the source", (unsigned long long)rate);
	tu_log("ok: %llu bytes at %llu bytes/s in sub-jobs of %u took %.2f s (at least %.2f)",
	       (unsigned long long)len, (unsigned long long)rate, sub, took, want);
}

int main(void)
{
	tu_init("test-throttle");
	src = tu_path("src");
	free(tu_make_file(src, SIZE, 42, false));

	huge_rate(UINT64_MAX, 4096, "UINT64_MAX");
	huge_rate(UINT64_MAX, 1024 * 1024, "UINT64_MAX");
	huge_rate(7ull << 60, 512 * 1024, "7 EiB/s");
	huge_rate(UINT64_MAX / 3, 64 * 1024, "UINT64_MAX / 3");
	huge_rate(1ull << 63, 4096, "2^63");
	slow_then(0, "1 byte/s, then unlimited");
	slow_then(UINT64_MAX, "1 byte/s, then UINT64_MAX");
	lift_from_callback();
	rate_holds(256 * 1024, 128 * 1024, 256 * 1024);
	rate_holds(512 * 1024, 256 * 1024, 128 * 1024);
	tu_pass();
}
