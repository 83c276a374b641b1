/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Event-loop mode (KCOPYD_CLIENT_NO_THREAD), driven by this test's own poll
 * loop, on whichever engine KCOPYD_ENGINE names:
 *  - the errors: an unknown flag (-EINVAL), NULL (-EINVAL), a client with its
 *    own thread (-EOPNOTSUPP), run_once and next_deadline from a thread that
 *    is not the owner (-EPERM), run_once and wait from a callback (-EDEADLK);
 *  - a copy driven by poll + run_once: the destination holds the source,
 *    and the callback ran on the owner thread, inside run_once;
 *  - a job submitted from another thread wakes the owner asleep in poll()
 *    with no deadline (a 10 s poll timeout would be a failure);
 *  - the deadline follows the throttle: at 1 MiB/s a 2 MiB copy shows a
 *    deadline in the future and takes about a second;
 *  - kcopyd_client_wait() and kcopyd_client_destroy() on the owner thread
 *    drive the client to the end themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define SIZE (2 * TU_MIB)

static const char *src_path, *dst_path;
static uint8_t *src_data;
static pthread_t owner;

struct job {
	int calls;
	int read_err;
	unsigned int write_err;
	bool on_owner;
	struct kcopyd_client *kc;
	int run_once_ret, wait_ret;   /* from inside the callback */
};

static void done_cb(int read_err, unsigned int write_err, void *context)
{
	struct job *j = context;

	j->calls++;
	j->read_err = read_err;
	j->write_err = write_err;
	j->on_owner = pthread_equal(pthread_self(), owner);
	if (j->kc) {
		j->run_once_ret = kcopyd_client_run_once(j->kc);
		j->wait_ret = kcopyd_client_wait(j->kc);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One turn of the loop: poll until readable or the deadline (at most
 * limit_ms with no deadline: more is a failure), then run_once.  Returns
 * the deadline's distance from now in ms, or -1 for none. */
static long turn(struct kcopyd_client *kc, int limit_ms)
{
	struct pollfd p = { .fd = kcopyd_client_get_fd(kc), .events = POLLIN };
	uint64_t at, now = now_ns();
	long ms = -1;
	int n, wait;

	CHECK(p.fd >= 0);
	n = kcopyd_client_next_deadline(kc, &at);
	CHECK(n == 0 || n == 1);
	if (n == 1)
		ms = at <= now ? 0 : (long)((at - now + 999999) / 1000000);
	wait = ms < 0 || ms > limit_ms ? limit_ms : (int)ms;
	n = poll(&p, 1, wait);
	if (n == 0 && ms < 0)
		FAIL("poll slept %d ms with no deadline: nothing woke it", limit_ms);
	CHECK_OK(kcopyd_client_run_once(kc));
	return ms;
}

static void *other_thread(void *arg)
{
	struct kcopyd_client *kc = arg;
	uint64_t at;

	CHECK_EQ(kcopyd_client_run_once(kc), -EPERM);
	CHECK_EQ(kcopyd_client_next_deadline(kc, &at), -EPERM);
	return NULL;
}

static void errors(void)
{
	struct kcopyd_client *kc;
	uint64_t at;
	pthread_t t;

	CHECK_EQ(kcopyd_client_create_ex(16, 2, &kc), -EINVAL);
	CHECK_EQ(kcopyd_client_create_ex(0, KCOPYD_CLIENT_NO_THREAD, &kc), -EINVAL);
	CHECK_EQ(kcopyd_client_get_fd(NULL), -EINVAL);
	CHECK_EQ(kcopyd_client_run_once(NULL), -EINVAL);
	CHECK_EQ(kcopyd_client_next_deadline(NULL, &at), -EINVAL);
	CHECK_OK(kcopyd_client_create_ex(16, 0, &kc));         /* its own thread */
	CHECK_EQ(kcopyd_client_get_fd(kc), -EOPNOTSUPP);
	CHECK_EQ(kcopyd_client_run_once(kc), -EOPNOTSUPP);
	CHECK_EQ(kcopyd_client_next_deadline(kc, &at), -EOPNOTSUPP);
	kcopyd_client_destroy(kc);
	CHECK_OK(kcopyd_client_create_ex(16, KCOPYD_CLIENT_NO_THREAD, &kc));
	CHECK(kcopyd_client_get_fd(kc) >= 0);
	CHECK_EQ(kcopyd_client_next_deadline(kc, NULL), -EINVAL);
	CHECK_OK(pthread_create(&t, NULL, other_thread, kc));
	CHECK_OK(pthread_join(t, NULL));
	CHECK_OK(kcopyd_client_run_once(kc));
	kcopyd_client_destroy(kc);
	tu_log("ok: errors");
}

static void check_dest(const char *what)
{
	uint8_t *got = tu_read_file(dst_path, NULL);

	if (tu_cmp(got, src_data, SIZE, 0, what))
		FAIL("%s: the destination does not hold the source", what);
	free(got);
}

static void driven_copy(void)
{
	struct kcopyd_client *kc;
	struct block_device *src = tu_open(src_path, O_RDONLY), *dst;
	struct io_region from, to;
	struct job j = { 0 };

	tu_make_filled(dst_path, SIZE, 0x5a);
	dst = tu_open(dst_path, O_RDWR);
	from = tu_region(src, 0, SIZE / 512);
	to = tu_region(dst, 0, SIZE / 512);
	CHECK_OK(kcopyd_client_create_ex(64, KCOPYD_CLIENT_NO_THREAD, &kc));
	j.kc = kc;
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, done_cb, &j));
	for (int i = 0; !j.calls; i++) {
		if (i > 100000)
			FAIL("the copy did not end in 100000 turns");
		turn(kc, 10000);
	}
	CHECK_EQ(j.calls, 1);
	CHECK_EQ(j.read_err, 0);
	CHECK_EQ(j.write_err, 0);
	CHECK(j.on_owner);
	CHECK_EQ(j.run_once_ret, -EDEADLK);
	CHECK_EQ(j.wait_ret, -EDEADLK);
	check_dest("driven copy");
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	tu_log("ok: a copy driven by poll and run_once; -EDEADLK from its callback");
}

struct submitter {
	struct kcopyd_client *kc;
	struct io_region from, to;
	struct job *j;
};

static void *submit_later(void *arg)
{
	struct submitter *s = arg;

	usleep(200000);                 /* the owner is asleep in poll by now */
	CHECK_OK(kcopyd_copy(s->kc, &s->from, 1, &s->to, 0, done_cb, s->j));
	return NULL;
}

static void woken_by_other_thread(void)
{
	struct kcopyd_client *kc;
	struct block_device *src = tu_open(src_path, O_RDONLY), *dst;
	struct job j = { 0 };
	struct submitter s;
	pthread_t t;

	tu_make_filled(dst_path, SIZE, 0x5a);
	dst = tu_open(dst_path, O_RDWR);
	CHECK_OK(kcopyd_client_create_ex(64, KCOPYD_CLIENT_NO_THREAD, &kc));
	CHECK_OK(kcopyd_client_run_once(kc));   /* idle: no deadline left */
	s = (struct submitter){ kc, tu_region(src, 0, SIZE / 512), tu_region(dst, 0, SIZE / 512), &j };
	CHECK_OK(pthread_create(&t, NULL, submit_later, &s));
	while (!j.calls)
		turn(kc, 10000);
	CHECK_OK(pthread_join(t, NULL));
	CHECK_EQ(j.read_err, 0);
	CHECK_EQ(j.write_err, 0);
	check_dest("woken copy");
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	tu_log("ok: a job from another thread wakes the owner in poll");
}

static void throttled(void)
{
	struct kcopyd_client *kc;
	struct block_device *src = tu_open(src_path, O_RDONLY), *dst;
	struct io_region from, to;
	struct job j = { 0 };
	long future = 0;
	double t0, took;

	tu_make_filled(dst_path, SIZE, 0x5a);
	dst = tu_open(dst_path, O_RDWR);
	from = tu_region(src, 0, SIZE / 512);
	to = tu_region(dst, 0, SIZE / 512);
	CHECK_OK(kcopyd_client_create_ex(64, KCOPYD_CLIENT_NO_THREAD, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 64 * 1024));
	CHECK_OK(kcopyd_client_set_rate(kc, TU_MIB));
	t0 = tu_now();
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, done_cb, &j));
	while (!j.calls) {
		long ms = turn(kc, 10000);

		if (ms > future)
			future = ms;
		if (tu_now() - t0 > 30)
			FAIL("a 2 MiB copy at 1 MiB/s took more than 30 s");
	}
	took = tu_now() - t0;
	CHECK_EQ(j.write_err, 0);
	check_dest("throttled copy");
	if (future < 5)
		FAIL("no deadline in the future while the throttle held the copy back");
	if (took < 0.7)
		FAIL("a 2 MiB copy at 1 MiB/s took %.2f s", took);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	tu_log("ok: throttled: deadlines up to %ld ms ahead, %.2f s", future, took);
}

static void wait_and_destroy_drive(void)
{
	struct kcopyd_client *kc;
	struct block_device *src = tu_open(src_path, O_RDONLY), *dst;
	struct io_region from, to;
	struct job j = { 0 }, k = { 0 };

	tu_make_filled(dst_path, SIZE, 0x5a);
	dst = tu_open(dst_path, O_RDWR);
	from = tu_region(src, 0, SIZE / 512);
	to = tu_region(dst, 0, SIZE / 512);
	CHECK_OK(kcopyd_client_create_ex(64, KCOPYD_CLIENT_NO_THREAD, &kc));
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, done_cb, &j));
	CHECK_OK(kcopyd_client_wait(kc));       /* drives it */
	CHECK_EQ(j.calls, 1);
	CHECK_EQ(j.write_err, 0);
	check_dest("copy waited for");
	tu_make_filled(dst_path, SIZE, 0x5a);
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, done_cb, &k));
	kcopyd_client_destroy(kc);              /* drives it too */
	CHECK_EQ(k.calls, 1);
	CHECK_EQ(k.write_err, 0);
	check_dest("copy destroyed");
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	tu_log("ok: wait and destroy on the owner thread drive the client");
}

int main(void)
{
	tu_init("test-evloop-api");
	owner = pthread_self();
	src_path = tu_path("src");
	dst_path = tu_path("dst");
	src_data = tu_make_file(src_path, SIZE, 7, true);
	errors();
	driven_copy();
	woken_by_other_thread();
	throttled();
	wait_and_destroy_drive();
	tu_pass();
}
