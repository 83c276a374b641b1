/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Thousands of small jobs from several threads at once on one client:
 * 8 threads x 1000 jobs of 1..8 sectors.  Half of the threads submit all
 * their jobs and then wait for the callbacks; the other half copy and wait
 * one job at a time and check each destination range as soon as it is done.
 * At the end every job's range is checked against the source again, and
 * every callback must have run exactly once with no error.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define THREADS 8
#define JOBS 1000
#define SLOT 8                              /* sectors reserved per job in the destination */
#define SRC_SECTORS 4096                    /* 2 MiB source */

static struct kcopyd_client *kc;
static struct block_device *src_bd, *dst_bd;
static uint8_t *src_data;
static const char *dst_path;

struct job {
	sector_t src, dst, count;
	int called;
	int read_err;
	unsigned int write_err;
	struct worker *w;
};

struct worker {
	pthread_t thread;
	unsigned int index;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int done;
	struct job jobs[JOBS];
};

static struct worker workers[THREADS];

static void job_done(int read_err, unsigned int write_err, void *context)
{
	struct job *j = context;
	struct worker *w = j->w;

	pthread_mutex_lock(&w->lock);
	j->called++;
	j->read_err = read_err;
	j->write_err = write_err;
	w->done++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void verify(const struct job *j, const char *when)
{
	uint8_t buf[SLOT * 512];

	tu_read_at(dst_path, j->dst * 512, buf, j->count * 512);
	if (tu_cmp(buf, src_data + j->src * 512, j->count * 512, j->dst * 512, when))
		FAIL("%s: job copying %llu sectors from %llu to %llu is wrong", when,
		     (unsigned long long)j->count, (unsigned long long)j->src,
		     (unsigned long long)j->dst);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	bool sync_mode = w->index & 1;
	unsigned int i;

	for (i = 0; i < JOBS; i++) {
		struct job *j = &w->jobs[i];
		struct io_region from = tu_region(src_bd, j->src, j->count);
		struct io_region to = tu_region(dst_bd, j->dst, j->count);
		int r = kcopyd_copy(kc, &from, 1, &to, 0, job_done, j);

		if (r != 0)
			FAIL("thread %u job %u: kcopyd_copy returned %d", w->index, i, r);
		if (!sync_mode)
			continue;
		pthread_mutex_lock(&w->lock);
		while (w->done < i + 1)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
		if (j->called != 1 || j->read_err || j->write_err)
			FAIL("thread %u job %u: called %d times, read_err %d write_err %#x",
			     w->index, i, j->called, j->read_err, j->write_err);
		verify(j, "synchronous job");
	}
	pthread_mutex_lock(&w->lock);
	while (w->done < JOBS)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int main(void)
{
	const char *src_path = tu_path("src");
	uint64_t state = 12345;
	struct kcopyd_stats st;
	double t0;
	unsigned int t, i;

	tu_init("test-threads");
	dst_path = tu_path("dst");
	src_data = tu_make_file(src_path, SRC_SECTORS * 512, 99, false);
	tu_make_filled(dst_path, (uint64_t)THREADS * JOBS * SLOT * 512, 0);
	src_bd = tu_open(src_path, O_RDONLY);
	dst_bd = tu_open(dst_path, O_RDWR);
	kc = tu_client(64);

	for (t = 0; t < THREADS; t++) {
		struct worker *w = &workers[t];
		w->index = t;
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		for (i = 0; i < JOBS; i++) {
			struct job *j = &w->jobs[i];
			uint64_t rnd;

			tu_random_fill(&rnd, sizeof(rnd), &state);
			j->w = w;
			j->count = 1 + rnd % SLOT;
			j->src = (rnd >> 8) % (SRC_SECTORS - j->count + 1);
			j->dst = ((sector_t)t * JOBS + i) * SLOT + (rnd >> 40) % (SLOT - j->count + 1);
		}
	}
	t0 = tu_now();
	for (t = 0; t < THREADS; t++)
		if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]))
			FAIL("pthread_create");
	for (t = 0; t < THREADS; t++)
		pthread_join(workers[t].thread, NULL);
	tu_log("%u jobs from %u threads: %.2f s", THREADS * JOBS, THREADS, tu_now() - t0);

	CHECK_OK(kcopyd_client_wait(kc));
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	CHECK_EQ(st.jobs_submitted, THREADS * JOBS);
	CHECK_EQ(st.jobs_completed, THREADS * JOBS);
	CHECK_EQ(st.read_errors, 0);
	CHECK_EQ(st.write_errors, 0);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src_bd);
	kcopyd_bdev_close(dst_bd);

	for (t = 0; t < THREADS; t++) {
		for (i = 0; i < JOBS; i++) {
			const struct job *j = &workers[t].jobs[i];
			if (j->called != 1 || j->read_err || j->write_err)
				FAIL("thread %u job %u: called %d times, read_err %d write_err %#x",
				     t, i, j->called, j->read_err, j->write_err);
			verify(j, "all jobs");
		}
		pthread_mutex_destroy(&workers[t].lock);
		pthread_cond_destroy(&workers[t].cond);
	}
	free(src_data);
	tu_pass();
}
