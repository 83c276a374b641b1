/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd_client_destroy right after submitting many jobs: it returns only
 * after every callback has returned (each exactly once, without error), and
 * every job's data is in place.  Several rounds with different pool sizes,
 * and once with a prepared callback triggered from another thread while
 * destroy waits.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

#define JOBS 200
#define UNIT 64                               /* sectors per job: 32 KiB */
#define SIZE ((uint64_t)JOBS * UNIT * 512)

static int calls[JOBS];                      /* atomic */
static int returned[JOBS];                   /* atomic: set as the callback returns */
static int errors;                           /* atomic */

static void done(int read_err, unsigned int write_err, void *context)
{
	unsigned int i = (unsigned int)(uintptr_t)context;

	if (read_err || write_err)
		__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&calls[i], 1, __ATOMIC_RELAXED);
	if (i % 20 == 0)
		usleep(2000);                /* a slow callback: destroy must wait for it */
	__atomic_store_n(&returned[i], 1, __ATOMIC_RELEASE);
}

struct trigger {
	struct kcopyd_callback *cb;
};

static void *trigger_later(void *arg)
{
	struct trigger *t = arg;
	usleep(200 * 1000);
	kcopyd_do_callback(t->cb, 0, 0);
	return NULL;
}

static int prepared_ran;                     /* atomic */

static void prepared_done(int read_err, unsigned int write_err, void *context)
{
	(void)context;
	if (read_err != 0 || write_err != 0)
		__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
	usleep(10000);
	__atomic_store_n(&prepared_ran, 1, __ATOMIC_RELEASE);
}

static void round_(const char *src, const char *dst, unsigned int pages, bool with_prepared)
{
	struct kcopyd_client *kc = tu_client(pages);
	struct block_device *s = tu_open(src, O_RDONLY), *d;
	struct trigger trig = { NULL };
	pthread_t thread;
	unsigned int i;
	double t0;

	tu_make_filled(dst, SIZE, 0);
	d = tu_open(dst, O_RDWR);
	memset(calls, 0, sizeof(calls));
	memset(returned, 0, sizeof(returned));
	__atomic_store_n(&prepared_ran, 0, __ATOMIC_RELAXED);
	if (with_prepared) {
		CHECK_OK(kcopyd_prepare_callback(kc, prepared_done, NULL, &trig.cb));
		if (pthread_create(&thread, NULL, trigger_later, &trig))
			FAIL("pthread_create");
	}
	for (i = 0; i < JOBS; i++) {
		/* Job i copies source unit JOBS-1-i to destination unit i. */
		struct io_region from = tu_region(s, (sector_t)(JOBS - 1 - i) * UNIT, UNIT);
		struct io_region to = tu_region(d, (sector_t)i * UNIT, UNIT);
		CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, done, (void *)(uintptr_t)i));
	}
	t0 = tu_now();
	kcopyd_client_destroy(kc);
	for (i = 0; i < JOBS; i++) {
		if (__atomic_load_n(&calls[i], __ATOMIC_RELAXED) != 1)
			FAIL("pool %u: job %u's callback ran %d times before destroy returned",
			     pages, i, calls[i]);
		if (!__atomic_load_n(&returned[i], __ATOMIC_ACQUIRE))
			FAIL("pool %u: destroy returned while job %u's callback was running", pages, i);
	}
	if (with_prepared) {
		if (!__atomic_load_n(&prepared_ran, __ATOMIC_ACQUIRE))
			FAIL("destroy returned before a prepared callback ran (%.3f s)", tu_now() - t0);
		pthread_join(thread, NULL);
	}
	CHECK_EQ(__atomic_load_n(&errors, __ATOMIC_RELAXED), 0);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	for (i = 0; i < JOBS; i++)
		if (tu_cmp_files(dst, (uint64_t)i * UNIT * 512, src,
				 (uint64_t)(JOBS - 1 - i) * UNIT * 512, UNIT * 512))
			FAIL("pool %u: job %u's data is wrong after destroy", pages, i);
}

int main(void)
{
	const char *src, *dst;

	tu_init("test-destroy-drain");
	src = tu_path("src");
	dst = tu_path("dst");
	free(tu_make_file(src, SIZE, 8, true));
	round_(src, dst, 256, false);
	round_(src, dst, 1, false);
	round_(src, dst, 16, false);
	round_(src, dst, 64, true);
	tu_pass();
}
