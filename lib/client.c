/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client: the public entry points.  Creating a client reserves its page
 * pool, picks an I/O backend and starts its thread; kcopyd_copy() and
 * kcopyd_zero() check every argument before anything is queued, copy the
 * regions into a job and hand it to that thread.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define JOB_FLAGS (KCOPYD_IGNORE_ERROR | KCOPYD_WRITE_SEQ | KCOPYD_SKIP_ZEROES)

static bool debug_on(void)
{
	const char *v = getenv("KCOPYD_DEBUG");

	return v && *v && strcmp(v, "0") != 0;
}

static bool env_is(const char *v, const char *want)
{
	return v && strcmp(v, want) == 0;
}

/* ---- create / destroy -------------------------------------------------- */

static unsigned int floor_log2(unsigned int v)
{
	unsigned int o = 0;

	while (v >> (o + 1))
		o++;
	return o;
}

/* Size sub-jobs: the largest power of two pages within both the wish and the pool. */
static int apply_sub_job_size(struct kcopyd_client *kc, unsigned int bytes)
{
	unsigned int pages = bytes >> KC_PAGE_SHIFT;

	if (pages > kc->pool.num_pages)
		pages = kc->pool.num_pages;
	kc->sub_job_order = floor_log2(pages);
	kc->sub_job_size = KCOPYD_PAGE_SIZE << kc->sub_job_order;
	kc_pool_reset(&kc->pool, kc->sub_job_order);
	return 0;
}

static int alloc_subjobs(struct kcopyd_client *kc, unsigned int depth)
{
	struct kc_subjob *sjs;

	/* Every I/O of every sub-job may wait for a retry at once. */
	if (kc_timers_reserve(&kc->timers, depth * (1 + KCOPYD_MAX_REGIONS) + KC_CLIENT_TIMERS +
			      kc->timers_extra))
		return -ENOMEM;
	sjs = calloc(depth, sizeof(*sjs));
	if (!sjs)
		return -ENOMEM;
	free(kc->subjobs);
	kc->subjobs = sjs;
	kc->depth = depth;
	kc->free_subjobs = NULL;
	for (unsigned int i = depth; i-- > 0;) {
		struct kc_subjob *sj = &sjs[i];

		sj->read.sj = sj;
		for (unsigned int d = 0; d < KCOPYD_MAX_REGIONS; d++)
			sj->write[d].sj = sj;
		sj->next = kc->free_subjobs;
		kc->free_subjobs = sj;
	}
	return 0;
}

/* KCOPYD_TEST_URING: a comma-separated list of the KC_TEST_* switches. */
static unsigned int test_uring_flags(void)
{
	static const struct { const char *name; unsigned int bit; } names[] = {
		{ "noextarg", KC_TEST_NOEXTARG }, { "cqsmall", KC_TEST_CQSMALL },
		{ "ebusy", KC_TEST_EBUSY }, { "nodrop", KC_TEST_NODROP },
		{ "noprobe", KC_TEST_NOPROBE }, { "userfs", KC_TEST_USERFS },
	};
	const char *v = getenv("KCOPYD_TEST_URING");
	unsigned int bits = 0;

	while (v && *v) {
		size_t n = strcspn(v, ",");

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && !strncmp(v, names[i].name, n))
				bits |= names[i].bit;
		v += n + (v[n] == ',');
	}
	return bits;
}

static int pick_backend(struct kcopyd_client *kc)
{
	const char *want = getenv("KCOPYD_ENGINE");
	int ret;

	if (want && *want && strcmp(want, "threads") != 0 && strcmp(want, "io_uring") != 0)
		return -EINVAL;
	/* Valgrind (3.19) holds its lock over a blocked io_uring_enter, so no
	 * other thread runs while the engine waits: use threads there. */
	if ((!want || !*want) && RUNNING_ON_VALGRIND) {
		if (debug_on())
			fprintf(stderr, "libkcopyd: running on valgrind, using threads\n");
		want = "threads";
	}
	if (!want || strcmp(want, "threads") != 0) {
		kc->backend = &kc_backend_uring;
		ret = kc->backend->init(kc);
		if (!ret || (want && *want))
			return ret;
		/* EPERM (seccomp, io_uring_disabled), ENOSYS (old kernel), or a
		 * memlock limit: the same semantics, on threads. */
		if (debug_on())
			fprintf(stderr, "libkcopyd: io_uring unavailable (%s), using threads\n",
				strerror(-ret));
	}
	kc->backend = &kc_backend_threads;
	return kc->backend->init(kc);
}

static void client_free(struct kcopyd_client *kc)
{
	kc_tpool_destroy(kc->offload);
	kc_tpool_destroy(kc->blocking);
	if (kc->backend && kc->backend_priv)
		kc->backend->fini(kc);
	kc_pool_fini(&kc->pool);
	free(kc->subjobs);
	kc_timers_fini(&kc->timers);
	while (kc->cancels) {           /* a cancel that came as the engine ended */
		struct kc_cancel *c = kc->cancels;

		kc->cancels = c->next;
		free(c);
	}
	pthread_mutex_destroy(&kc->lock);
	pthread_cond_destroy(&kc->idle_cond);
	free(kc);
}

static int start_thread(struct kcopyd_client *kc)
{
	sigset_t all, old;
	int ret;

	/* Signals are for the application's threads, not for the engine. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = kc_thread_start(&kc->thread, kc_engine_main, kc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -ret;
}

static int client_create(unsigned int num_pages, unsigned int flags, struct kcopyd_client **result)
{
	struct kcopyd_client *kc;
	int ret;

	if (!result || !num_pages || num_pages >= UINT32_MAX || (flags & ~KCOPYD_CLIENT_NO_THREAD))
		return -EINVAL;
	kc = calloc(1, sizeof(*kc));
	if (!kc)
		return -ENOMEM;
	kc->loop_mode = flags & KCOPYD_CLIENT_NO_THREAD;
	kc->io_percent = kc->io_percent_seen = 100;
	kc->test_uring = test_uring_flags();
	pthread_mutex_init(&kc->lock, NULL);
	pthread_cond_init(&kc->idle_cond, NULL);
	kc->incoming_tail = &kc->incoming;
	kc->queue_tail = &kc->queue;
	kc->done_tail = &kc->done;
	kc->ready_tail = &kc->ready;
	kc->sys_ready_tail = &kc->sys_ready;
	kc->offload_off = env_is(getenv("KCOPYD_OFFLOAD"), "0");
	kc->punt_writes = !env_is(getenv("KCOPYD_PUNT_WRITES"), "0");
	ret = kc_pool_init(&kc->pool, num_pages);
	if (!ret)
		ret = alloc_subjobs(kc, KC_DEFAULT_DEPTH);
	if (!ret)
		ret = pick_backend(kc);
	if (!ret)
		ret = apply_sub_job_size(kc, KC_DEFAULT_SUB_JOB);
	if (!ret && !kc->loop_mode)
		ret = start_thread(kc);
	if (kc->loop_mode) {
		/* The creating thread owns it, and it waits for a wake. */
		kc->thread = pthread_self();
		kc->sleeping = true;
	}
	if (ret) {
		client_free(kc);
		return ret;
	}
	*result = kc;
	return 0;
}

KC_EXPORT int kcopyd_client_create(unsigned int num_pages, struct kcopyd_client **result)
{
	KC_ERRNO_SAVE;
	int ret = client_create(num_pages, 0, result);

	KC_ERRNO_RESTORE;
	return ret;
}

KC_EXPORT int kcopyd_client_create_ex(unsigned int num_pages, unsigned int flags,
				      struct kcopyd_client **result)
{
	KC_ERRNO_SAVE;
	int ret = client_create(num_pages, flags, result);

	KC_ERRNO_RESTORE;
	return ret;
}

static bool on_engine_thread(const struct kcopyd_client *kc)
{
	return pthread_equal(pthread_self(), kc->thread);
}

/* Inside one of the client's callbacks: waiting there for the client would
 * wait for itself.  (A loop-mode client's owner thread is its engine
 * thread, but outside a callback it may wait: it drives the client.) */
static bool in_own_callback(const struct kcopyd_client *kc)
{
	return on_engine_thread(kc) && (!kc->loop_mode || kc->in_callback);
}

/* ---- event-loop mode ---------------------------------------------------- */

KC_EXPORT int kcopyd_client_get_fd(const struct kcopyd_client *kc)
{
	if (!kc)
		return -EINVAL;
	if (!kc->loop_mode)
		return -EOPNOTSUPP;
	return kc->backend->loop_fd(kc);
}

static int loop_check(const struct kcopyd_client *kc)
{
	if (!kc)
		return -EINVAL;
	if (!kc->loop_mode)
		return -EOPNOTSUPP;
	if (!on_engine_thread(kc))
		return -EPERM;
	if (kc->in_callback)
		return -EDEADLK;
	return 0;
}

KC_EXPORT int kcopyd_client_run_once(struct kcopyd_client *kc)
{
	KC_ERRNO_SAVE;
	int ret = loop_check(kc);

	if (!ret)
		kc_run_once(kc);
	KC_ERRNO_RESTORE;
	return ret;
}

KC_EXPORT int kcopyd_client_next_deadline(const struct kcopyd_client *kc, uint64_t *deadline_ns)
{
	uint64_t at;

	if (!kc || !deadline_ns)
		return -EINVAL;
	if (!kc->loop_mode)
		return -EOPNOTSUPP;
	if (!on_engine_thread(kc))
		return -EPERM;
	at = kc_next_deadline(kc);
	if (at == UINT64_MAX)
		return 0;
	*deadline_ns = at;
	return 1;
}

/* Loop mode, on the owner thread, kc->lock held: instead of sleeping on
 * idle_cond, drive the client once (wait on its descriptor until there is
 * work or its next deadline, then one pass). */
static void drive_locked(struct kcopyd_client *kc)
{
	uint64_t at = kc_next_deadline(kc), now = kc_now_ns();
	int ms = at == UINT64_MAX ? -1 : at <= now ? 0 :
		 (at - now) / 1000000 >= INT_MAX ? INT_MAX : (int)((at - now + 999999) / 1000000);
	struct pollfd pfd = { .fd = kc->backend->loop_fd(kc), .events = POLLIN };

	pthread_mutex_unlock(&kc->lock);
	if (ms)
		poll(&pfd, 1, ms);
	kc_run_once(kc);
	pthread_mutex_lock(&kc->lock);
}

/* Under kc->lock: wait for idle_cond to be signalled, or, for a loop-mode
 * client on its owner thread, make it happen. */
static void idle_wait(struct kcopyd_client *kc)
{
	if (kc->loop_mode && on_engine_thread(kc))
		drive_locked(kc);
	else
		pthread_cond_wait(&kc->idle_cond, &kc->lock);
}

/* Under kc->lock: the epoch a job submitted now counts in (see internal.h). */
static uint64_t join_epoch(struct kcopyd_client *kc)
{
	uint64_t e = on_engine_thread(kc) && kc->in_callback ? kc->cb_epoch : kc->wait_epoch;

	kc->epoch_jobs[e & 1]++;
	return e;
}

/* Under kc->lock: wait until every job of epoch e and before has called back. */
static void wait_epoch_locked(struct kcopyd_client *kc)
{
	uint64_t e = kc->wait_epoch;

	/* The older epoch first: its slot is the one the next epoch reuses. */
	while (kc->wait_epoch == e && kc->epoch_jobs[(e + 1) & 1])
		idle_wait(kc);
	if (kc->wait_epoch == e) {
		if (!kc->epoch_jobs[e & 1])
			return;
		kc->wait_epoch = e + 1;       /* later jobs count in the next one */
	}
	/* Epoch e + 2 opens only once e has drained. */
	while (kc->wait_epoch < e + 2 && kc->epoch_jobs[e & 1])
		idle_wait(kc);
}

KC_EXPORT int kcopyd_client_wait(struct kcopyd_client *kc)
{
	KC_ERRNO_SAVE;

	if (!kc)
		return -EINVAL;
	if (in_own_callback(kc))
		return -EDEADLK;
	pthread_mutex_lock(&kc->lock);
	wait_epoch_locked(kc);
	pthread_mutex_unlock(&kc->lock);
	KC_ERRNO_RESTORE;
	return 0;
}

KC_EXPORT void kcopyd_client_destroy(struct kcopyd_client *kc)
{
	KC_ERRNO_SAVE;

	if (!kc)
		return;
	if (in_own_callback(kc))
		kc_fail("kcopyd_client_destroy called from one of the client's own callbacks: "
			"it would wait for itself forever");
	pthread_mutex_lock(&kc->lock);
	while (kc->outstanding)
		idle_wait(kc);
	kc->exiting = true;
	if (kc->loop_mode) {
		pthread_mutex_unlock(&kc->lock);
		kc->backend->flush(kc);
	} else {
		kc->backend->wake(kc);
		pthread_mutex_unlock(&kc->lock);
		pthread_join(kc->thread, NULL);
	}
	client_free(kc);
	KC_ERRNO_RESTORE;
}

KC_EXPORT int kcopyd_client_cancel(struct kcopyd_client *kc)
{
	KC_ERRNO_SAVE;

	if (!kc)
		return -EINVAL;
	pthread_mutex_lock(&kc->lock);
	kc->cancel_upto = kc->submit_seq;
	kc_wake_locked(kc);
	pthread_mutex_unlock(&kc->lock);
	KC_ERRNO_RESTORE;
	return 0;
}

KC_EXPORT int kcopyd_cancel(struct kcopyd_client *kc, const void *context)
{
	KC_ERRNO_SAVE;
	struct kc_cancel *c;

	if (!kc)
		return -EINVAL;
	c = malloc(sizeof(*c));
	if (!c) {
		KC_ERRNO_RESTORE;
		return -ENOMEM;
	}
	c->context = context;
	pthread_mutex_lock(&kc->lock);
	c->upto = kc->submit_seq;
	c->next = kc->cancels;
	kc->cancels = c;
	kc_wake_locked(kc);
	pthread_mutex_unlock(&kc->lock);
	KC_ERRNO_RESTORE;
	return 0;
}

/* ---- job submission ---------------------------------------------------- */

static bool overlap(const struct io_region *a, const struct io_region *b)
{
	return kc_same_storage(a->bdev, b->bdev) && a->sector < b->sector + b->count &&
	       b->sector < a->sector + a->count;
}

static int check_region(const struct io_region *r)
{
	const struct kc_geom *g;
	unsigned int spb;

	if (!r->bdev)
		return -EINVAL;
	g = &r->bdev->geom;
	if (r->sector > g->sectors || r->count > g->sectors - r->sector)
		return -EINVAL;
	/* No read-modify-write: on a device of 4096-byte logical blocks a region
	 * must start and end on a block boundary. */
	spb = g->lbs >> KCOPYD_SECTOR_SHIFT;
	if (spb > 1 && (r->sector % spb || r->count % spb))
		return -EINVAL;
	return 0;
}

static int check_dests(const struct io_region *from, unsigned int num_dests,
		       const struct io_region *dests)
{
	for (unsigned int i = 0; i < num_dests; i++) {
		const struct io_region *d = &dests[i];
		int ret = check_region(d);

		if (ret)
			return ret;
		if (!d->bdev->geom.writable)
			return -EBADF;
		if (d->count != (from ? from->count : dests[0].count))
			return -EINVAL;
		for (unsigned int j = 0; j < i; j++)
			if (d->count && dests[j].count && overlap(d, &dests[j]))
				return -EINVAL;
	}
	return 0;
}

/* A destination over the source on the same device is copied as memmove
 * would: one sub-job at a time, from the end when it lies above.  Returns
 * -EINVAL when destinations overlap the source from both sides. */
static int plan_overlap(struct kc_job *job)
{
	bool up = false, down = false;

	for (unsigned int i = 0; i < job->num_dests; i++) {
		const struct io_region r = { job->dests[i].bdev, job->dests[i].sector,
					     job->from.count };
		const struct io_region *d = &r;

		if (!d->count || !overlap(d, &job->from) || d->sector == job->from.sector)
			continue;
		if (d->sector > job->from.sector)
			up = true;
		else
			down = true;
	}
	/* Both sides cannot be served by one direction; nor can a backward
	 * copy keep WRITE_SEQ's increasing offsets. */
	if ((up && down) || (up && (job->flags & KCOPYD_WRITE_SEQ)))
		return -EINVAL;
	job->serial = up || down;
	job->backward = up;
	return 0;
}

/* Copy in the kernel when both sides are buffered regular files anyway
 * (no O_DIRECT to honour), the job needs no look at the data (SKIP_ZEROES)
 * and no particular order (WRITE_SEQ, overlap).  One destination only: with
 * more, each in-kernel copy would read the source again, where read+write
 * reads it once.  Not for small jobs: for 4 KiB jobs the hand-off to a
 * worker made them 36-39% slower (bench case 5). */
static bool can_offload(const struct kcopyd_client *kc, const struct kc_job *job)
{
	if (__atomic_load_n(&kc->offload_off, __ATOMIC_RELAXED) || job->serial ||
	    job->num_dests != 1 || job->total < KC_OFFLOAD_MIN ||
	    (job->flags & (KCOPYD_SKIP_ZEROES | KCOPYD_WRITE_SEQ)) ||
	    !(kc_caps(job->from.bdev) & KC_CAP_COPY_FROM))
		return false;
	for (unsigned int i = 0; i < job->num_dests; i++) {
		const struct block_device *d = job->dests[i].bdev;

		if (d->ops != job->from.bdev->ops || !(kc_caps(d) & KC_CAP_COPY_FROM))
			return false;
	}
	return true;
}

static void enqueue(struct kcopyd_client *kc, struct kc_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&kc->lock);
	*kc->incoming_tail = job;
	kc->incoming_tail = &job->next;
	if (job->kind != KC_JOB_CALLBACK) {
		kc->outstanding++;
		job->seq = ++kc->submit_seq;
		job->epoch = join_epoch(kc);
	}
	kc_wake_locked(kc);
	pthread_mutex_unlock(&kc->lock);
}

static int submit_job(struct kcopyd_client *kc, struct io_region *from, unsigned int num_dests,
		      struct io_region *dests, unsigned int flags, void *fn, bool ex, void *context)
{
	struct kc_job *job;
	int ret;

	if (!kc || !dests || !fn || !num_dests || num_dests > KCOPYD_MAX_REGIONS ||
	    (flags & ~JOB_FLAGS))
		return -EINVAL;
	if (from && (ret = check_region(from)))
		return ret;
	ret = check_dests(from, num_dests, dests);
	if (ret)
		return ret;
	job = calloc(1, sizeof(*job) + num_dests * sizeof(job->dests[0]));
	if (!job)
		return -ENOMEM;
	job->kind = from ? KC_JOB_COPY : KC_JOB_ZERO;
	job->ex = ex;
	if (ex)
		job->fn.result = (kcopyd_result_fn)fn;
	else
		job->fn.notify = (kcopyd_notify_fn)fn;
	job->context = context;
	/* As the kernel does: a sequential stream must not get a hole where a
	 * read failed, so WRITE_SEQ stops at the first error. */
	if (flags & KCOPYD_WRITE_SEQ)
		flags &= ~KCOPYD_IGNORE_ERROR;
	job->flags = flags;
	job->num_dests = num_dests;
	job->live = num_dests == 32 ? ~0u : (1u << num_dests) - 1;
	for (unsigned int i = 0; i < num_dests; i++) {
		job->dests[i].bdev = dests[i].bdev;
		job->dests[i].sector = dests[i].sector;
		job->dests[i].hole = UINT64_MAX;
	}
	job->total = dests[0].count << KCOPYD_SECTOR_SHIFT;
	if (from) {
		job->from = *from;
		ret = plan_overlap(job);
		if (ret) {
			free(job);
			return ret;
		}
	}
	job->offload = from && can_offload(kc, job);
	__atomic_fetch_add(&kc->stats.jobs_submitted, 1, __ATOMIC_RELAXED);
	enqueue(kc, job);
	return 0;
}

static int submit(struct kcopyd_client *kc, struct io_region *from, unsigned int num_dests,
		  struct io_region *dests, unsigned int flags, void *fn, bool ex, void *context)
{
	KC_ERRNO_SAVE;
	int ret = submit_job(kc, from, num_dests, dests, flags, fn, ex, context);

	KC_ERRNO_RESTORE;
	return ret;
}

KC_EXPORT int kcopyd_copy(struct kcopyd_client *kc, struct io_region *from,
			  unsigned int num_dests, struct io_region *dests,
			  unsigned int flags, kcopyd_notify_fn fn, void *context)
{
	if (!from)
		return -EINVAL;
	return submit(kc, from, num_dests, dests, flags, (void *)fn, false, context);
}

KC_EXPORT int kcopyd_copy_ex(struct kcopyd_client *kc, struct io_region *from,
			     unsigned int num_dests, struct io_region *dests,
			     unsigned int flags, kcopyd_result_fn fn, void *context)
{
	if (!from)
		return -EINVAL;
	return submit(kc, from, num_dests, dests, flags, (void *)fn, true, context);
}

KC_EXPORT int kcopyd_zero(struct kcopyd_client *kc, unsigned int num_dests,
			  struct io_region *dests, unsigned int flags,
			  kcopyd_notify_fn fn, void *context)
{
	return submit(kc, NULL, num_dests, dests, flags, (void *)fn, false, context);
}

KC_EXPORT int kcopyd_zero_ex(struct kcopyd_client *kc, unsigned int num_dests,
			     struct io_region *dests, unsigned int flags,
			     kcopyd_result_fn fn, void *context)
{
	return submit(kc, NULL, num_dests, dests, flags, (void *)fn, true, context);
}

/* ---- prepared callbacks ------------------------------------------------ */

KC_EXPORT int kcopyd_prepare_callback(struct kcopyd_client *kc, kcopyd_notify_fn fn,
				      void *context, struct kcopyd_callback **result)
{
	KC_ERRNO_SAVE;
	struct kc_job *job;

	if (!kc || !fn || !result)
		return -EINVAL;
	job = calloc(1, sizeof(*job) + sizeof(kc));
	if (!job) {
		KC_ERRNO_RESTORE;
		return -ENOMEM;
	}
	memcpy(job->dests, &kc, sizeof(kc));
	job->kind = KC_JOB_CALLBACK;
	job->fn.notify = fn;
	job->context = context;
	pthread_mutex_lock(&kc->lock);
	kc->outstanding++;
	job->epoch = join_epoch(kc);
	pthread_mutex_unlock(&kc->lock);
	*result = (struct kcopyd_callback *)job;
	return 0;
}

KC_EXPORT void kcopyd_do_callback(struct kcopyd_callback *cb, int read_err, unsigned int write_err)
{
	KC_ERRNO_SAVE;
	struct kc_job *job = (struct kc_job *)cb;
	struct kcopyd_client *kc;

	if (!job)
		return;
	memcpy(&kc, job->dests, sizeof(kc));
	job->read_err = read_err;
	job->write_err = write_err;
	enqueue(kc, job);
	KC_ERRNO_RESTORE;
}

/* ---- tuning and queries ------------------------------------------------ */

/* Run fn on an idle client; the lock orders it against the engine thread,
 * whose last touch of these fields came before outstanding reached 0. */
static int while_idle(struct kcopyd_client *kc, int (*fn)(struct kcopyd_client *, unsigned int),
		      unsigned int arg)
{
	KC_ERRNO_SAVE;
	int ret;

	pthread_mutex_lock(&kc->lock);
	ret = kc->outstanding ? -EBUSY : fn(kc, arg);
	pthread_mutex_unlock(&kc->lock);
	KC_ERRNO_RESTORE;
	return ret;
}

KC_EXPORT int kcopyd_client_set_sub_job_size(struct kcopyd_client *kc, unsigned int bytes)
{
	if (!kc || bytes < KCOPYD_PAGE_SIZE || bytes % KCOPYD_PAGE_SIZE)
		return -EINVAL;
	return while_idle(kc, apply_sub_job_size, bytes);
}

KC_EXPORT int kcopyd_client_set_queue_depth(struct kcopyd_client *kc, unsigned int depth)
{
	if (!kc || !depth || depth > KC_MAX_DEPTH)
		return -EINVAL;
	return while_idle(kc, alloc_subjobs, depth);
}

KC_EXPORT int kcopyd_client_set_rate(struct kcopyd_client *kc, uint64_t bytes_per_sec)
{
	KC_ERRNO_SAVE;

	if (!kc)
		return -EINVAL;
	__atomic_store_n(&kc->rate, bytes_per_sec, __ATOMIC_RELAXED);
	kc_client_wake(kc);     /* a sleep on the old rate must not hold the new one back */
	KC_ERRNO_RESTORE;
	return 0;
}

KC_EXPORT int kcopyd_client_set_throttle(struct kcopyd_client *kc, unsigned int percent)
{
	KC_ERRNO_SAVE;

	if (!kc || !percent || percent > 100)
		return -EINVAL;
	__atomic_store_n(&kc->io_percent, percent, __ATOMIC_RELAXED);
	kc_client_wake(kc);     /* a sleep on the old share must not hold the new one back */
	KC_ERRNO_RESTORE;
	return 0;
}

KC_EXPORT const char *kcopyd_client_engine(const struct kcopyd_client *kc)
{
	return kc ? kc->backend->name : NULL;
}

KC_EXPORT int kcopyd_client_stats(const struct kcopyd_client *kc, struct kcopyd_stats *stats,
				  size_t size)
{
	struct kcopyd_stats s;
	const uint64_t *src;
	uint64_t *dst = (uint64_t *)&s;

	if (!kc || !stats)
		return -EINVAL;
	src = (const uint64_t *)&kc->stats;
	for (size_t i = 0; i < sizeof(s) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	memcpy(stats, &s, size < sizeof(s) ? size : sizeof(s));
	return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x)

KC_EXPORT const char *kcopyd_version(void)
{
	return STR(KCOPYD_VERSION_MAJOR) "." STR(KCOPYD_VERSION_MINOR) "." STR(KCOPYD_VERSION_MICRO);
}
