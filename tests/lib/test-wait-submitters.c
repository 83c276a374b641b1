/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd_client_wait() waits for every job submitted before the call (and
 * the jobs their callbacks submit, and the callbacks prepared before it),
 * not for the jobs other threads submit while it waits:
 *  - a thread keeps submitting copies and keeps one prepared callback
 *    pending at every moment, so the client is never idle: wait() (from
 *    two threads at once, several times) still returns, and by then every
 *    job submitted before it has called back, including a chain of jobs
 *    that submit the next from their callbacks;
 *  - wait() does not return while a callback prepared before the call has
 *    not been triggered, and returns once it is;
 *  - a callback that triggers the next one from itself keeps the engine
 *    from ever finding nothing to do: a copy submitted meanwhile still
 *    completes (the engine must push and reap I/O on its busy turns too,
 *    not only when it sleeps).
 * The background submitter keeps at most BG_CBS triggered callbacks queued,
 * so that a loaded machine slows it down rather than filling memory.
 * A wait that does not return is caught by a 20 s limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testutil.h"

#define LIMIT_S 20
#define MINE 16
#define CHAIN 8
#define BG_CBS 256

static struct kcopyd_client *kc;
static struct io_region from, to_bg, to_mine;
static int stop_bg;                       /* atomic */
static int bg_outstanding;                /* atomic */
static int mine_done[MINE];               /* atomic */
static int chain_left;                    /* atomic */
static int bg_cbs;                        /* atomic: triggered, not yet run */
static int tick_stop, tick_ended;         /* atomic */

static void bg_cb(int read_err, unsigned int write_err, void *context)
{
	(void)context;
	if (read_err || write_err)
		FAIL("a background copy failed: %d %#x", read_err, write_err);
	__atomic_fetch_sub(&bg_outstanding, 1, __ATOMIC_RELAXED);
}

static void noop_cb(int read_err, unsigned int write_err, void *context)
{
	(void)read_err;
	(void)write_err;
	(void)context;
}

static void bg_noop_cb(int read_err, unsigned int write_err, void *context)
{
	(void)read_err;
	(void)write_err;
	(void)context;
	__atomic_fetch_sub(&bg_cbs, 1, __ATOMIC_RELAXED);
}

static void tu_pause_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

/* Submits copies without a pause and keeps a prepared callback pending
 * at all times (the next is prepared before the last is triggered). */
static void *submitter(void *arg)
{
	struct kcopyd_callback *pending;

	(void)arg;
	CHECK_OK(kcopyd_prepare_callback(kc, bg_noop_cb, NULL, &pending));
	while (!__atomic_load_n(&stop_bg, __ATOMIC_RELAXED)) {
		struct kcopyd_callback *next;

		if (__atomic_load_n(&bg_cbs, __ATOMIC_RELAXED) >= BG_CBS) {
			tu_pause_us(50);        /* the pending one stays pending */
			continue;
		}
		CHECK_OK(kcopyd_prepare_callback(kc, bg_noop_cb, NULL, &next));
		if (__atomic_load_n(&bg_outstanding, __ATOMIC_RELAXED) < 32) {
			__atomic_fetch_add(&bg_outstanding, 1, __ATOMIC_RELAXED);
			CHECK_OK(kcopyd_copy(kc, &from, 1, &to_bg, 0, bg_cb, NULL));
		}
		__atomic_fetch_add(&bg_cbs, 1, __ATOMIC_RELAXED);
		kcopyd_do_callback(pending, 0, 0);
		pending = next;
	}
	__atomic_fetch_add(&bg_cbs, 1, __ATOMIC_RELAXED);
	kcopyd_do_callback(pending, 0, 0);
	return NULL;
}

static void mine_cb(int read_err, unsigned int write_err, void *context)
{
	int *flag = context;

	if (read_err || write_err)
		FAIL("a copy failed: %d %#x", read_err, write_err);
	__atomic_store_n(flag, 1, __ATOMIC_RELAXED);
}

static void chain_cb(int read_err, unsigned int write_err, void *context)
{
	(void)context;
	if (read_err || write_err)
		FAIL("a chained copy failed: %d %#x", read_err, write_err);
	if (__atomic_sub_fetch(&chain_left, 1, __ATOMIC_RELAXED) > 0)
		CHECK_OK(kcopyd_copy(kc, &from, 1, &to_mine, 0, chain_cb, NULL));
}

struct waiter {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool returned;
	int ret;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	int ret = kcopyd_client_wait(kc);

	pthread_mutex_lock(&w->lock);
	w->ret = ret;
	w->returned = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void waiter_start(struct waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	CHECK(pthread_create(&w->thread, NULL, wait_thread, w) == 0);
}

/* Has the waiter returned within limit_s seconds? */
static bool waiter_done(struct waiter *w, int limit_s)
{
	struct timespec ts;
	bool r;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += limit_s;
	pthread_mutex_lock(&w->lock);
	while (!w->returned &&
	       pthread_cond_clockwait(&w->cond, &w->lock, CLOCK_MONOTONIC, &ts) == 0)
		;
	r = w->returned;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void waiter_join(struct waiter *w)
{
	pthread_join(w->thread, NULL);
	CHECK_EQ(w->ret, 0);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}

static void busy_client(void)
{
	pthread_t bg;

	CHECK(pthread_create(&bg, NULL, submitter, NULL) == 0);
	for (int round = 0; round < 3; round++) {
		struct waiter w[2];

		memset(mine_done, 0, sizeof(mine_done));
		__atomic_store_n(&chain_left, CHAIN, __ATOMIC_RELAXED);
		for (int i = 0; i < MINE; i++)
			CHECK_OK(kcopyd_copy(kc, &from, 1, &to_mine, 0, mine_cb, &mine_done[i]));
		CHECK_OK(kcopyd_copy(kc, &from, 1, &to_mine, 0, chain_cb, NULL));
		waiter_start(&w[0]);
		waiter_start(&w[1]);
		for (int i = 0; i < 2; i++) {
			if (!waiter_done(&w[i], LIMIT_S))
				FAIL("round %d: kcopyd_client_wait() did not return within %d s while "
				     "another thread kept submitting", round, LIMIT_S);
			waiter_join(&w[i]);
		}
		for (int i = 0; i < MINE; i++)
			if (!__atomic_load_n(&mine_done[i], __ATOMIC_RELAXED))
				FAIL("round %d: wait() returned before job %d, submitted before it, "
				     "called back", round, i);
		if (__atomic_load_n(&chain_left, __ATOMIC_RELAXED))
			FAIL("round %d: wait() returned with %d jobs of a callback chain to go", round,
			     __atomic_load_n(&chain_left, __ATOMIC_RELAXED));
	}
	__atomic_store_n(&stop_bg, 1, __ATOMIC_RELAXED);
	pthread_join(bg, NULL);
	CHECK_OK(kcopyd_client_wait(kc));
	CHECK_EQ(__atomic_load_n(&bg_outstanding, __ATOMIC_RELAXED), 0);
	tu_log("ok: wait() returns while another thread keeps the client busy");
}

static void prepared_before(void)
{
	struct kcopyd_callback *cb;
	struct waiter w;

	CHECK_OK(kcopyd_prepare_callback(kc, noop_cb, NULL, &cb));
	waiter_start(&w);
	if (waiter_done(&w, 1))
		FAIL("wait() returned with a callback prepared before it not yet triggered");
	kcopyd_do_callback(cb, 0, 0);
	if (!waiter_done(&w, LIMIT_S))
		FAIL("wait() did not return after the prepared callback ran");
	waiter_join(&w);
	tu_log("ok: wait() waits for a callback prepared before it");
}

/* Triggers the next of itself from the callback, until told to stop. */
static void tick_cb(int read_err, unsigned int write_err, void *context)
{
	struct kcopyd_callback *next;

	(void)read_err;
	(void)write_err;
	(void)context;
	if (__atomic_load_n(&tick_stop, __ATOMIC_RELAXED)) {
		__atomic_store_n(&tick_ended, 1, __ATOMIC_RELAXED);
		return;
	}
	CHECK_OK(kcopyd_prepare_callback(kc, tick_cb, NULL, &next));
	kcopyd_do_callback(next, 0, 0);
}

static void never_idle(void)
{
	struct kcopyd_callback *first;
	int done = 0;

	CHECK_OK(kcopyd_prepare_callback(kc, tick_cb, NULL, &first));
	kcopyd_do_callback(first, 0, 0);
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to_mine, 0, mine_cb, &done));
	for (int i = 0; i < LIMIT_S * 100 && !__atomic_load_n(&done, __ATOMIC_RELAXED); i++)
		tu_pause_us(10000);
	__atomic_store_n(&tick_stop, 1, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&done, __ATOMIC_RELAXED))
		FAIL("a copy did not complete within %d s while a callback kept triggering the next",
		     LIMIT_S);
	CHECK_OK(kcopyd_client_wait(kc));
	CHECK_EQ(__atomic_load_n(&tick_ended, __ATOMIC_RELAXED), 1);
	tu_log("ok: a copy completes while callbacks keep the engine busy");
}

int main(void)
{
	const char *src, *dbg, *dmine;
	struct block_device *s, *b, *m;

	tu_init("test-wait-submitters");
	src = tu_path("src");
	dbg = tu_path("bg");
	dmine = tu_path("mine");
	free(tu_make_file(src, 64 * TU_KIB, 5, false));
	tu_make_filled(dbg, 64 * TU_KIB, 0);
	tu_make_filled(dmine, 64 * TU_KIB, 0);
	s = tu_open(src, O_RDONLY);
	b = tu_open(dbg, O_RDWR);
	m = tu_open(dmine, O_RDWR);
	from = tu_region(s, 0, 128);
	to_bg = tu_region(b, 0, 128);
	to_mine = tu_region(m, 0, 128);
	kc = tu_client(256);
	never_idle();
	busy_client();
	prepared_before();
	kcopyd_client_destroy(kc);
	if (tu_cmp_files(dmine, 0, src, 0, 64 * TU_KIB) || tu_cmp_files(dbg, 0, src, 0, 64 * TU_KIB))
		FAIL("a destination differs from the source");
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(b);
	kcopyd_bdev_close(m);
	tu_pass();
}
