/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The run: jobs go to the library a bounded window at a time, so that a
 * huge sparse source does not queue millions of jobs, --fail-fast can stop
 * submitting at the first error, and the main thread wakes every 200 ms to
 * draw progress.  Callbacks run on the library's thread and only record
 * results under the runner's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

#define WINDOW 32                /* jobs in flight */
#define TICK_NS 200000000L       /* progress refresh */

struct job {
	struct runner *r;
	uint64_t len;
	bool zero;
	unsigned int n;
	uint8_t idx[MAX_DESTS];      /* job's destination i is dests[idx[i]] */
};

int client_setup(const struct options *o, struct kcopyd_client **kc)
{
	int ret = kcopyd_client_create(o->pages, kc);

	if (ret) {
		errmsg("cannot start the copy engine (--pages %u): %s", o->pages, strerror(-ret));
		return -1;
	}
	if (o->sub_job_size && (ret = kcopyd_client_set_sub_job_size(*kc, o->sub_job_size)))
		errmsg("--sub-job-size %u: %s", o->sub_job_size, strerror(-ret));
	else if (o->queue_depth && (ret = kcopyd_client_set_queue_depth(*kc, o->queue_depth)))
		errmsg("--queue-depth %u: %s", o->queue_depth, strerror(-ret));
	else if ((ret = kcopyd_client_set_rate(*kc, o->rate)))
		errmsg("--rate: %s", strerror(-ret));
	if (ret) {
		kcopyd_client_destroy(*kc);
		*kc = NULL;
		return -1;
	}
	return 0;
}

void runner_init(struct runner *r, struct kcopyd_client *kc, struct device *src,
		 struct device *dests, unsigned int n, const struct options *o, uint64_t total)
{
	pthread_condattr_t attr;

	memset(r, 0, sizeof(*r));
	r->kc = kc;
	r->src = src;
	r->dests = dests;
	r->ndests = n;
	r->fail_fast = o->fail_fast;
	r->window = WINDOW;
	r->read_off = NOT_SET;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &attr);
	pthread_condattr_destroy(&attr);
	progress_init(&r->prog, progress_wanted(o), total);
	r->started = now_seconds();
}

void runner_fini(struct runner *r)
{
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
}

static uint32_t live_locked(const struct runner *r)
{
	uint32_t mask = 0;

	for (unsigned int i = 0; i < r->ndests; i++)
		if (!r->dests[i].failed)
			mask |= 1u << i;
	return mask;
}

uint32_t runner_live(struct runner *r)
{
	uint32_t mask;

	pthread_mutex_lock(&r->lock);
	mask = live_locked(r);
	pthread_mutex_unlock(&r->lock);
	return mask;
}

static void note_read_error(struct runner *r, int errnum, uint64_t off)
{
	if (!r->read_failed || off < r->read_off) {
		r->read_err = errnum;
		r->read_off = off;
	}
	r->read_failed = true;
	r->stop = true;          /* what follows could not be copied either */
}

static void job_done(const struct kcopyd_result *res, void *context)
{
	struct job *j = context;
	struct runner *r = j->r;
	bool failed = false;

	pthread_mutex_lock(&r->lock);
	if (res->read_err) {
		note_read_error(r, res->read_err, res->read_err_sector << KCOPYD_SECTOR_SHIFT);
		failed = true;
	}
	for (unsigned int i = 0; i < j->n; i++) {
		if (!(res->write_err & (1u << i)))
			continue;
		device_fail(&r->dests[j->idx[i]], j->zero ? "zeroing" : "write",
			    res->dest_errno[i], res->dest_err_sector[i] << KCOPYD_SECTOR_SHIFT);
		failed = true;
	}
	if ((failed && r->fail_fast) || !live_locked(r))
		r->stop = true;
	r->done_bytes += j->len;
	if (j->zero && r->src)
		r->hole_bytes += j->len;
	r->in_flight--;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	free(j);
}

/* Wait (lock held) up to one tick for a callback; draw progress meanwhile. */
static void wait_tick(struct runner *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += TICK_NS;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	pthread_mutex_unlock(&r->lock);
	runner_tick(r);
	pthread_mutex_lock(&r->lock);
}

static struct job *new_job(struct runner *r, const struct span *sp, uint32_t mask,
			   struct io_region *regions)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->r = r;
	j->len = sp->len;
	j->zero = sp->zero;
	for (unsigned int i = 0; i < r->ndests; i++) {
		if (!(mask & (1u << i)))
			continue;
		regions[j->n] = (struct io_region){ .bdev = r->dests[i].bd,
			.sector = sp->dst_off >> KCOPYD_SECTOR_SHIFT,
			.count = sp->len >> KCOPYD_SECTOR_SHIFT };
		j->idx[j->n++] = (uint8_t)i;
	}
	return j;
}

/* Wait for room in the window; returns the destinations still taking
 * part (0 when there is nothing to do) with a slot taken, or -1 once the
 * run has stopped. */
static int64_t reserve_slot(struct runner *r, uint32_t want)
{
	uint32_t mask;

	pthread_mutex_lock(&r->lock);
	while (r->in_flight >= r->window && !r->stop)
		wait_tick(r);
	mask = want & live_locked(r);
	if (r->stop || !mask) {
		pthread_mutex_unlock(&r->lock);
		return r->stop ? -1 : 0;
	}
	r->in_flight++;
	pthread_mutex_unlock(&r->lock);
	return mask;
}

static int start_job(struct runner *r, const struct span *sp, uint32_t mask)
{
	struct io_region from, regions[MAX_DESTS];
	unsigned int flags = sp->flags | (r->fail_fast ? 0 : KCOPYD_IGNORE_ERROR);
	struct job *j = new_job(r, sp, mask, regions);
	int ret;

	if (!j)
		return -ENOMEM;
	if (sp->zero) {
		ret = kcopyd_zero_ex(r->kc, j->n, regions, flags, job_done, j);
	} else {
		from = (struct io_region){ .bdev = r->src->bd,
			.sector = sp->src_off >> KCOPYD_SECTOR_SHIFT,
			.count = sp->len >> KCOPYD_SECTOR_SHIFT };
		ret = kcopyd_copy_ex(r->kc, &from, j->n, regions, flags, job_done, j);
	}
	if (ret)
		free(j);
	return ret;
}

/* Hand one span to the library.  Returns 0, or -1 when the run has stopped
 * (an error, or a job the library refused). */
int runner_submit(struct runner *r, const struct span *sp)
{
	int64_t mask = reserve_slot(r, sp->mask);
	int ret;

	if (mask <= 0)
		return (int)mask;
	ret = start_job(r, sp, (uint32_t)mask);
	if (ret) {
		/* Set-up checked every range, so this is a bug or a device that
		 * changed size under us; stop rather than skip data. */
		errmsg("the library refused a job (%s of %llu bytes at byte %llu): %s",
		       sp->zero ? "zero" : "copy", (unsigned long long)sp->len,
		       (unsigned long long)sp->dst_off, strerror(-ret));
		pthread_mutex_lock(&r->lock);
		r->in_flight--;
		r->stop = true;
		r->internal_error = true;
		pthread_mutex_unlock(&r->lock);
		return -1;
	}
	runner_tick(r);
	return 0;
}

/* Account for a range that needed no job (a hole already reading as zero). */
void runner_note_done(struct runner *r, uint64_t bytes)
{
	pthread_mutex_lock(&r->lock);
	r->done_bytes += bytes;
	r->hole_bytes += bytes;
	pthread_mutex_unlock(&r->lock);
}

void runner_drain(struct runner *r)
{
	pthread_mutex_lock(&r->lock);
	while (r->in_flight)
		wait_tick(r);
	pthread_mutex_unlock(&r->lock);
	kcopyd_client_wait(r->kc);
	runner_tick(r);
}

/* Bytes of the range done: for a copy what the library has read plus the
 * holes and tails done without reading, for zeroing the finished jobs. */
uint64_t runner_progress(struct runner *r)
{
	struct kcopyd_stats st;
	uint64_t done;

	pthread_mutex_lock(&r->lock);
	done = r->src ? r->hole_bytes : r->done_bytes;
	pthread_mutex_unlock(&r->lock);
	if (r->src && kcopyd_client_stats(r->kc, &st, sizeof(st)) == 0)
		done += st.bytes_read;
	return done < r->prog.total ? done : r->prog.total;
}

/* Say at once that a destination failed, rather than at the end of a long
 * run; the report leaves out what was said here. */
static void report_new_failures(struct runner *r)
{
	pthread_mutex_lock(&r->lock);
	for (unsigned int i = 0; i < r->ndests; i++) {
		struct device *d = &r->dests[i];

		if (d->failed && !d->reported) {
			d->reported = true;
			progress_clear(&r->prog);
			device_print_failure(d);
		}
	}
	pthread_mutex_unlock(&r->lock);
}

void runner_tick(struct runner *r)
{
	report_new_failures(r);
	if (r->prog.on)
		progress_update(&r->prog, runner_progress(r), false);
}

static int pread_full(int fd, char *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENODATA;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const char *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The last bytes of a range that are not a whole block, which the library
 * cannot take: read (or zeros) and written here, after every job is done so
 * that no write of ours races one of the library's over the same block. */
void runner_tail(struct runner *r, uint32_t mask, uint64_t src_off, uint64_t dst_off,
		 uint64_t len)
{
	char *buf;
	bool stopped;
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	stopped = r->stop;
	mask &= live_locked(r);
	pthread_mutex_unlock(&r->lock);
	if (!len || stopped || !mask)
		return;
	buf = calloc(1, len);
	if (!buf) {
		errmsg("out of memory");
		pthread_mutex_lock(&r->lock);
		r->stop = r->internal_error = true;
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (r->src)
		ret = pread_full(r->src->fd, buf, len, src_off);
	pthread_mutex_lock(&r->lock);
	if (ret)
		note_read_error(r, ret, src_off);
	for (unsigned int i = 0; i < r->ndests && !ret; i++) {
		int wret = mask & (1u << i) ? pwrite_full(r->dests[i].fd, buf, len, dst_off) : 0;

		if (wret)
			device_fail(&r->dests[i], r->src ? "write" : "zeroing", wret, dst_off);
	}
	r->done_bytes += len;
	r->hole_bytes += len;
	pthread_mutex_unlock(&r->lock);
	free(buf);
}

/* A new file's name is durable only once its directory is. */
static int sync_parent(const struct device *d)
{
	char *copy = strdup(d->canon ? d->canon : d->path);
	int fd, ret = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) && errno != EINVAL)
			ret = -errno;
		close(fd);
	}
	free(copy);
	return ret;
}

void runner_flush(struct runner *r)
{
	for (unsigned int i = 0; i < r->ndests; i++) {
		struct device *d = &r->dests[i];
		int ret;

		if (d->failed)
			continue;
		ret = kcopyd_bdev_flush(d->bd);
		if (!ret && d->created)
			ret = sync_parent(d);
		if (ret) {
			pthread_mutex_lock(&r->lock);
			device_fail(d, "flush", ret, NOT_SET);
			pthread_mutex_unlock(&r->lock);
		}
	}
	runner_tick(r);
}
