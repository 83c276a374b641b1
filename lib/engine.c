/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine: the client's own thread.  It works four lists, as the kernel's
 * kcopyd does; the first two are filled by other threads, under kc->lock:
 *
 *   incoming   jobs submitted by any thread (under kc->lock), not yet seen;
 *   queue      jobs with work left to hand out to sub-jobs;
 *   completed  I/Os and system calls that ended on another thread
 *              (kc_io_report_async, kc_sys_report_async: the thread
 *              workers, an injected fault);
 *   done       jobs whose last sub-job finished: their callbacks are due.
 *
 * and one of its own, ready: the same, ended on the engine thread
 * (kc_sys_report: io_uring's completions; kc_io_report: an endpoint's
 * report, an unsupported fast path).  A report only queues; the engine
 * handles the queues at fixed points of its turn, outside every call into
 * an endpoint or a backend, so a completion never runs inside the code
 * that produced it.  An ended system call goes to its issuer first (the
 * file endpoint, which may try its next fast path), which reports the I/O.
 *
 * A sub-job reads one chunk of the source into a pool buffer, then writes
 * that buffer to every live destination; when its last write completes the
 * buffer goes back to the pool.  Nothing on this path allocates.
 *
 * Besides, timers (timer.c): I/Os that failed with -EAGAIN or -EINTR wait
 * there for their retry, and the throttle for its next budget.  The engine
 * sleeps until the next timer, or until woken: a new job, a completion, a
 * new rate, a cancel.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void kc_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("libkcopyd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void kc_eventfd_signal(int efd)
{
	uint64_t one = 1;

	while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

uint64_t kc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned int order_for(uint32_t len)
{
	unsigned int pages = (len + KCOPYD_PAGE_SIZE - 1) >> KC_PAGE_SHIFT, order = 0;

	while ((1u << order) < pages)
		order++;
	return order;
}

static bool all_zero(const char *buf, uint32_t len)
{
	static const char zeros[16];

	if (len <= 16)
		return memcmp(buf, zeros, len) == 0;
	/* The first 16 bytes are zero and every byte equals the one 16 before it. */
	return memcmp(buf, zeros, 16) == 0 && memcmp(buf, buf + 16, len - 16) == 0;
}

/* ---- job completion -------------------------------------------------- */

static void job_done(struct kcopyd_client *kc, struct kc_job *job)
{
	job->next = NULL;
	*kc->done_tail = job;
	kc->done_tail = &job->next;
}

/* The first sector of destination d that does not hold the source's data
 * (see kcopyd.h): the lowest of its first failed write and of the chunks
 * not written to it, or the region's end when it holds all of it. */
static sector_t dest_first_missing(const struct kc_job *job, unsigned int d)
{
	const struct kc_dest *dest = &job->dests[d];
	sector_t s = dest->sector + (job->total >> KCOPYD_SECTOR_SHIFT);

	if (dest->err && dest->err_sector < s)
		s = dest->err_sector;
	if (dest->hole < s)
		s = dest->hole;
	return s;
}

static void run_callback(struct kc_job *job)
{
	struct kcopyd_result res;
	sector_t least = UINT64_MAX;

	if (!job->ex) {
		job->fn.notify(job->read_err, job->write_err, job->context);
		return;
	}
	memset(&res, 0, sizeof(res));
	res.read_err = job->read_err;
	res.write_err = job->write_err;
	res.read_err_sector = job->read_err_sector;
	for (unsigned int i = 0; i < job->num_dests; i++) {
		res.dest_errno[i] = job->dests[i].err;
		res.dest_err_sector[i] = dest_first_missing(job, i);
		if (job->dests[i].hole - job->dests[i].sector < least)
			least = job->dests[i].hole - job->dests[i].sector;
	}
	/* Cancelled: the first sector (of the source, or for zeroing of the
	 * first destination) of the first chunk the cancel kept from being
	 * written: one never handed out, or a WRITE_SEQ one left waiting. */
	if (job->read_err == -ECANCELED && least != UINT64_MAX)
		res.read_err_sector = (job->kind == KC_JOB_COPY ? job->from.sector :
				       job->dests[0].sector) + least;
	job->fn.result(&res, job->context);
}

/* Run the callbacks that are due, then tell waiters how many jobs are left. */
static void run_callbacks(struct kcopyd_client *kc)
{
	struct kc_job *list = kc->done;
	uint64_t n = 0, per_epoch[2] = { 0, 0 };

	if (!list)
		return;
	kc->done = NULL;
	kc->done_tail = &kc->done;
	while (list) {
		struct kc_job *job = list;

		list = job->next;
		/* Jobs its callback submits count where this one does, for
		 * kcopyd_client_wait (see internal.h). */
		kc->cb_epoch = job->epoch;
		kc->in_callback = true;
		run_callback(job);
		kc->in_callback = false;
		per_epoch[job->epoch & 1]++;
		free(job);
		n++;
	}
	kc_stat_add(&kc->stats.jobs_completed, n);
	pthread_mutex_lock(&kc->lock);
	kc->outstanding -= n;
	kc->epoch_jobs[0] -= per_epoch[0];
	kc->epoch_jobs[1] -= per_epoch[1];
	if (!kc->outstanding || (per_epoch[0] && !kc->epoch_jobs[0]) ||
	    (per_epoch[1] && !kc->epoch_jobs[1]))
		pthread_cond_broadcast(&kc->idle_cond);
	pthread_mutex_unlock(&kc->lock);
}

/* ---- sub-jobs ---------------------------------------------------------- */
/*
 * A sub-job's life is its state (enum kc_sj_state, internal.h), and only
 * sj_advance() changes it, once per event: its buffer came, its I/O in
 * flight (sj->pending) all ended, or its WRITE_SEQ turn came.
 *
 *   FREE      on kc->free_subjobs;
 *   WAIT_MEM  has its chunk of the job (and paid the throttle for it),
 *             waits for a pool buffer: kc->mem_wait, at most one, and no
 *             later sub-job takes memory before it;
 *   READING   reads the chunk from the source;
 *   COPYING   offload: each destination copies the chunk in the kernel;
 *             those that failed are redone by READING then WRITING;
 *   PARKED    WRITE_SEQ: read, waits until every earlier chunk is written;
 *   WRITING   writes (or zeroes) the chunk on every live destination;
 *   DONE      notes what the destinations lack, returns the buffer, ends.
 *
 * The per-operation completions (read_done, write_done, copy_done) only
 * record what happened and count pending down.
 */

static void io_start(struct kcopyd_client *kc, struct kc_io *io)
{
	io->bd->ops->submit(kc, io);
}

/* The job starts no new sub-job.  dispatch() takes it off the queue on
 * its next turn, even behind a job the throttle holds back, so that its
 * callback does not wait for the throttle. */
static void job_stop(struct kcopyd_client *kc, struct kc_job *job)
{
	job->stop = true;
	kc->retire = true;
}

static void record_write_error(struct kcopyd_client *kc, struct kc_job *job, unsigned int d,
			       int err, uint64_t off)
{
	struct kc_dest *dest = &job->dests[d];
	sector_t sector = off >> KCOPYD_SECTOR_SHIFT;

	if (!dest->err || sector < dest->err_sector) {
		dest->err = err;
		dest->err_sector = sector;
	}
	job->write_err |= 1u << d;
	job->live &= ~(1u << d);
	if (!(job->flags & KCOPYD_IGNORE_ERROR) || !job->live)
		job_stop(kc, job);
}

/* How much of len bytes at off may be written to bd: a regular file is never
 * written past its end (a region's last sector may reach past it, as
 * kcopyd_bdev_sectors() rounds the size up), so it keeps its size. */
static uint32_t clip_to_end(const struct block_device *bd, uint64_t off, uint32_t len)
{
	if (!bd->geom.clip_at_size || off + len <= bd->geom.size)
		return len;
	return off >= bd->geom.size ? 0 : (uint32_t)(bd->geom.size - off);
}

/* The destinations of the sub-job that failed since it started, at a
 * higher sector than this chunk.  They still get it, so that a destination
 * holds the source up to its first failed write whatever order the
 * sub-jobs end in. */
static unsigned int failed_above(const struct kc_job *job, const struct kc_subjob *sj)
{
	unsigned int m = sj->mask & ~job->live & job->write_err, out = 0;

	for (unsigned int d = 0; m; d++, m >>= 1) {
		const struct kc_dest *dest = &job->dests[d];

		if ((m & 1) && dest->sector + (sj->rel >> KCOPYD_SECTOR_SHIFT) < dest->err_sector)
			out |= 1u << d;
	}
	return out;
}

static void note_hole(struct kc_job *job, unsigned int d, uint64_t rel)
{
	struct kc_dest *dest = &job->dests[d];
	sector_t s = dest->sector + (rel >> KCOPYD_SECTOR_SHIFT);

	if (s < dest->hole)
		dest->hole = s;
}

/* A job's device i: a copy's source first, then its destinations. */
static struct block_device *job_dev(const struct kc_job *job, unsigned int i)
{
	const bool copy = job->kind == KC_JOB_COPY;

	return copy && !i ? job->from.bdev : job->dests[i - copy].bdev;
}

/* Attach the job's devices whose endpoints need the engine's loop (watch.c).
 * One that cannot serve now fails as any I/O error would: the source fails
 * the job, a destination its own bit (the others go on with IGNORE_ERROR). */
static void attach_job(struct kcopyd_client *kc, struct kc_job *job)
{
	const bool copy = job->kind == KC_JOB_COPY;

	for (unsigned int i = 0; i < job->num_dests + copy; i++) {
		struct block_device *bd = job_dev(job, i);
		int err;

		if (!bd->ops->attach || job->stop)
			continue;
		err = kc_attach(kc, bd);
		if (!err) {
			job->attached |= 1ull << i;
		} else if (copy && !i) {
			job->read_err = err;
			job->read_err_sector = job->from.sector;
			job_stop(kc, job);
		} else {
			record_write_error(kc, job, i - copy, err,
					   job->dests[i - copy].sector << KCOPYD_SECTOR_SHIFT);
		}
	}
}

static void detach_job(struct kcopyd_client *kc, struct kc_job *job)
{
	for (unsigned int i = 0; job->attached; i++, job->attached >>= 1)
		if (job->attached & 1)
			kc_detach(kc, job_dev(job, i));
}

static void job_maybe_done(struct kcopyd_client *kc, struct kc_job *job)
{
	if (!job->in_flight && !job->queued && (job->stop || job->issued == job->total)) {
		/* What was never handed out is missing everywhere: the end of
		 * a forward job, the start of a backward one. */
		if (job->issued < job->total)
			for (unsigned int d = 0; d < job->num_dests; d++)
				note_hole(job, d, job->backward ? 0 : job->issued);
		detach_job(kc, job);
		job_done(kc, job);
	}
}

/* READING: one read of the whole chunk. */
static void read_start(struct kcopyd_client *kc, struct kc_subjob *sj)
{
	struct kc_job *job = sj->job;

	sj->read.op = KC_OP_READ;
	sj->read.bd = job->from.bdev;
	sj->read.buf = sj->buf;
	sj->read.off = (job->from.sector << KCOPYD_SECTOR_SHIFT) + sj->rel;
	sj->read.len = sj->len;
	sj->read.done = 0;
	sj->read.retries = 0;
	sj->pending = 1;
	io_start(kc, &sj->read);
}

/* Offload may take the chunk: not the one holding the end of the source's
 * size at open, as past it the copy must give zeros, whatever the file
 * holds there now (it may have grown), which only the read path does. */
static bool copy_fits(const struct kc_job *job, const struct kc_subjob *sj)
{
	return (job->from.sector << KCOPYD_SECTOR_SHIFT) + sj->rel + sj->len <= job->from.bdev->geom.size;
}

/* COPYING: each destination copies its chunk in the kernel, from the
 * source's page cache, without a trip through our buffer.  Returns the
 * copies started (none: every destination ends before the chunk). */
static unsigned int copy_start(struct kcopyd_client *kc, struct kc_subjob *sj)
{
	struct kc_job *job = sj->job;
	unsigned int live = sj->mask;

	sj->redo = 0;
	sj->pending = 0;
	for (unsigned int d = 0; live; d++, live >>= 1) {
		struct kc_io *io = &sj->write[d];

		if (!(live & 1))
			continue;
		io->op = KC_OP_COPY;
		io->bd = job->dests[d].bdev;
		io->dest = (uint8_t)d;
		io->src = job->from.bdev;
		io->src_off = (job->from.sector << KCOPYD_SECTOR_SHIFT) + sj->rel;
		io->off = (job->dests[d].sector << KCOPYD_SECTOR_SHIFT) + sj->rel;
		io->len = clip_to_end(io->bd, io->off, sj->len);
		io->done = 0;
		io->retries = 0;
		if (!io->len)
			continue;
		sj->pending++;
		io_start(kc, io);
	}
	return sj->pending;
}

/* WRITING: the chunk goes to every live destination.  Returns the writes
 * started (none: a chunk that failed to read, all zeros skipped, or every
 * destination ends before it).
 *
 * A chunk that failed to read is never written.  Otherwise the healthy
 * destinations get it, and the failed ones too where it lies below their
 * failure: a job stopped by an error or a cancel starts no new sub-job,
 * but those under way finish, as in the kernel.  Except WRITE_SEQ's, once
 * the job stopped: a sequential stream must not get a hole, and a chunk
 * after one that failed would make one.  A destination that does not get
 * a chunk lacks it (sj_done). */
static unsigned int write_start(struct kcopyd_client *kc, struct kc_subjob *sj)
{
	struct kc_job *job = sj->job;
	unsigned int live = (job->live & sj->mask) | failed_above(job, sj);

	if (!sj->read_ok || (job->stop && (job->flags & KCOPYD_WRITE_SEQ)))
		live = 0;
	else if ((job->flags & KCOPYD_SKIP_ZEROES) && job->kind == KC_JOB_COPY &&
		 all_zero(sj->buf, sj->len)) {
		kc_stat_add(&kc->stats.bytes_skipped, (uint64_t)sj->len * (unsigned)__builtin_popcount(live));
		sj->held |= live;       /* destinations already read as zeros there */
		live = 0;
	}
	sj->pending = 0;
	for (unsigned int d = 0; live; d++, live >>= 1) {
		struct kc_io *io = &sj->write[d];

		if (!(live & 1))
			continue;
		io->op = job->kind == KC_JOB_ZERO ? KC_OP_ZERO : KC_OP_WRITE;
		io->bd = job->dests[d].bdev;
		io->dest = (uint8_t)d;
		io->off = (job->dests[d].sector << KCOPYD_SECTOR_SHIFT) + sj->rel;
		io->len = clip_to_end(io->bd, io->off, sj->len);
		io->done = 0;
		io->retries = 0;
		io->buf = sj->buf;
		if (!io->len) {
			sj->held |= 1u << d;    /* all of it past the end of the file */
			continue;
		}
		sj->pending++;
		io_start(kc, io);
	}
	return sj->pending;
}

/* After the read (or for zeroing, at once): WRITE_SEQ writes a chunk only
 * when every earlier one of its job has been written. */
static enum kc_sj_state write_turn(const struct kc_job *job, const struct kc_subjob *sj)
{
	if ((job->flags & KCOPYD_WRITE_SEQ) && sj->index != job->next_write)
		return KC_SJ_PARKED;
	return KC_SJ_WRITING;
}

static void sj_advance(struct kcopyd_client *kc, struct kc_subjob *sj);

/* Hand the buffer a sub-job waits for, if the pool has it now. */
static void give_memory(struct kcopyd_client *kc)
{
	struct kc_subjob *w = kc->mem_wait;

	if (!w || !(w->buf = kc_pool_alloc(&kc->pool, w->order)))
		return;
	kc->mem_wait = NULL;
	sj_advance(kc, w);
}

/* WRITE_SEQ: start the parked sub-job whose turn it is.  Returns true if
 * there was one: it then owns the job's completion check, which it may
 * already have made (and completed the job) before we return. */
static bool unpark_next(struct kcopyd_client *kc, struct kc_job *job)
{
	for (struct kc_subjob **pp = &job->parked; *pp; pp = &(*pp)->next) {
		struct kc_subjob *sj = *pp;

		if (sj->index == job->next_write) {
			*pp = sj->next;
			sj_advance(kc, sj);
			return true;
		}
	}
	return false;
}

/* The kernel's throttle keeps the share of time with I/O in flight at
 * most io_percent %.  The engine counts, on the nanosecond clock, the time
 * that passes (io_total_ns) and, of it, the time with at least one sub-job
 * in flight (io_busy_ns), brought up to date whenever a sub-job starts or
 * ends; both are halved as often as needed to keep the total to about a
 * second, so that the share is that of the recent past.  io_time_wait()
 * then holds back the next sub-job while the share is over the limit. */
#define IO_TIME_WINDOW_NS (1ull << 30)

static void io_time_account(struct kcopyd_client *kc)
{
	uint64_t now, d;

	if (kc->io_percent_seen >= 100)
		return;
	now = kc_now_ns();
	d = now > kc->io_stamp_ns ? now - kc->io_stamp_ns : 0;
	kc->io_stamp_ns = now;
	kc->io_total_ns += d;
	if (kc->busy_subjobs)
		kc->io_busy_ns += d;
	while (kc->io_total_ns > IO_TIME_WINDOW_NS) {
		kc->io_total_ns >>= 1;
		kc->io_busy_ns >>= 1;
	}
}

/* 0: the next sub-job may start; -1: not before a sub-job in flight ends
 * (the share only grows while one is in flight, and its end brings the
 * engine round); else the nanoseconds of idle time that bring the share
 * down to the limit. */
static int64_t io_time_wait(struct kcopyd_client *kc)
{
	unsigned int pct = __atomic_load_n(&kc->io_percent, __ATOMIC_RELAXED);
	uint64_t need;

	if (pct != kc->io_percent_seen) {
		/* A new share starts from a clean account. */
		kc->io_percent_seen = pct;
		kc->io_busy_ns = kc->io_total_ns = 0;
		kc->io_stamp_ns = kc_now_ns();
	}
	if (pct >= 100)
		return 0;
	io_time_account(kc);
	/* io_busy_ns <= io_total_ns <= 2^30 here: no overflow. */
	if (kc->io_busy_ns * 100 <= (uint64_t)pct * kc->io_total_ns)
		return 0;
	if (kc->busy_subjobs)
		return -1;
	need = (kc->io_busy_ns * 100 + pct - 1) / pct;
	return need > kc->io_total_ns ? (int64_t)(need - kc->io_total_ns) + 1 : 1;
}

/* A throttle stopped holding a sub-job back: the time it did is counted. */
static void hold_end(struct kcopyd_client *kc)
{
	if (kc->held_since_ns) {
		uint64_t now = kc_now_ns();

		kc_stat_add(&kc->stats.throttled_ns,
			    now > kc->held_since_ns ? now - kc->held_since_ns : 0);
		kc->held_since_ns = 0;
	}
}

/* DONE, then FREE. */
static void sj_done(struct kcopyd_client *kc, struct kc_subjob *sj)
{
	struct kc_job *job = sj->job;
	unsigned int all = job->num_dests == 32 ? ~0u : (1u << job->num_dests) - 1;

	/* Every destination whose write of this chunk did not end (a failed
	 * write counts in its err_sector) lacks the chunk from its start. */
	for (unsigned int d = 0, m = all & ~sj->held; m; d++, m >>= 1)
		if (m & 1)
			note_hole(job, d, sj->rel);

	kc_pool_free(&kc->pool, sj->buf, sj->order);
	sj->state = KC_SJ_FREE;
	sj->next = kc->free_subjobs;
	kc->free_subjobs = sj;
	io_time_account(kc);
	kc->busy_subjobs--;
	job->in_flight--;
	if (job->flags & KCOPYD_WRITE_SEQ)
		job->next_write++;
	/* WRITE_SEQ: the parked sub-job whose turn it is now, if there is
	 * one, owns the job's end. */
	if (!(job->flags & KCOPYD_WRITE_SEQ) || !unpark_next(kc, job))
		job_maybe_done(kc, job);
	/* Last: the sub-job waiting for memory may be of this job (it counts
	 * in in_flight, so the job did not end above), and may end at once. */
	give_memory(kc);
}

#ifndef NDEBUG
/* The moves sj_advance may make, checked in builds with assertions. */
static const uint8_t sj_moves[] = {
	[KC_SJ_FREE] = 1u << KC_SJ_WAIT_MEM,
	[KC_SJ_WAIT_MEM] = 1u << KC_SJ_READING | 1u << KC_SJ_COPYING | 1u << KC_SJ_PARKED |
			   1u << KC_SJ_WRITING,
	[KC_SJ_READING] = 1u << KC_SJ_PARKED | 1u << KC_SJ_WRITING,
	[KC_SJ_COPYING] = 1u << KC_SJ_READING | 1u << KC_SJ_DONE,
	[KC_SJ_PARKED] = 1u << KC_SJ_WRITING,
	[KC_SJ_WRITING] = 1u << KC_SJ_DONE,
	[KC_SJ_DONE] = 1u << KC_SJ_FREE,
};
#endif

/* The one place a sub-job moves on: from the state it is in, where it goes
 * next, then what it does there -- start its I/O and wait for it, or, with
 * nothing to wait for, move on at once. */
static void sj_advance(struct kcopyd_client *kc, struct kc_subjob *sj)
{
	struct kc_job *job = sj->job;

	for (;;) {
		enum kc_sj_state to;

		switch ((enum kc_sj_state)sj->state) {
		case KC_SJ_WAIT_MEM:            /* its buffer came */
			if (job->stop) {
				/* Stopped meanwhile: the chunk is not started,
				 * but keeps its WRITE_SEQ turn. */
				sj->read_ok = false;
				to = write_turn(job, sj);
			} else if (job->kind == KC_JOB_ZERO) {
				sj->read_ok = true;     /* nothing to read */
				to = write_turn(job, sj);
			} else {
				to = job->offload && copy_fits(job, sj) ? KC_SJ_COPYING : KC_SJ_READING;
			}
			break;
		case KC_SJ_READING:             /* the read ended: sj->read_ok */
			to = write_turn(job, sj);
			break;
		case KC_SJ_COPYING:             /* every copy ended */
			if (sj->redo)
				sj->mask = sj->redo;    /* those that failed: the ordinary way */
			to = sj->redo ? KC_SJ_READING : KC_SJ_DONE;
			break;
		case KC_SJ_PARKED:              /* its turn came */
			to = KC_SJ_WRITING;
			break;
		case KC_SJ_WRITING:             /* every write ended */
			to = KC_SJ_DONE;
			break;
		default:
			kc_fail("sub-job in state %u cannot move on", sj->state);
		}
#ifndef NDEBUG
		if (!(sj_moves[sj->state] & (1u << to)))
			kc_fail("sub-job: no move from state %u to %u", sj->state, to);
#endif
		sj->state = (uint8_t)to;
		switch (to) {
		case KC_SJ_READING:
			read_start(kc, sj);
			return;
		case KC_SJ_COPYING:
			if (copy_start(kc, sj))
				return;
			break;
		case KC_SJ_PARKED:
			sj->next = job->parked;
			job->parked = sj;
			return;
		case KC_SJ_WRITING:
			if (write_start(kc, sj))
				return;
			break;
		case KC_SJ_DONE:
			sj_done(kc, sj);
			return;
		default:
			break;
		}
	}
}

/* An offloaded copy ended.  Any failure, and any copy that ended short
 * (the end of the source file in its last sector, or a source cut short
 * since it was opened), is redone the ordinary way, read then write: that
 * tells a read error from a write error as the in-kernel copy cannot, and
 * the read applies the end-of-file rule of io_complete().  A short copy
 * never counts as done. */
static void copy_done(struct kcopyd_client *kc, struct kc_io *io, int res)
{
	struct kc_subjob *sj = io->sj;
	struct kc_job *job = sj->job;

	if (res < 0 || io->done < io->len) {
		/* The endpoint will not copy again (it dropped the cap), or
		 * this client cannot: the rest of the job goes the ordinary way. */
		if (res < 0 && (__atomic_load_n(&kc->offload_off, __ATOMIC_RELAXED) ||
				!(kc_caps(io->bd) & KC_CAP_COPY_FROM)))
			job->offload = false;
		sj->redo |= 1u << io->dest;
	} else {
		kc_stat_add(&kc->stats.bytes_written, io->len);
		sj->held |= 1u << io->dest;
	}
	if (--sj->pending)
		return;
	if (!sj->redo)
		kc_stat_add(&kc->stats.bytes_read, sj->len);
	sj_advance(kc, sj);
}

/* The read ended, ok or not (a failed chunk is never written). */
static void read_end(struct kcopyd_client *kc, struct kc_subjob *sj, bool ok)
{
	sj->read_ok = ok;
	sj->pending = 0;
	sj_advance(kc, sj);
}

static void read_done(struct kcopyd_client *kc, struct kc_io *io, int res)
{
	struct kc_subjob *sj = io->sj;
	struct kc_job *job = sj->job;

	/* Past the size the device had when it was opened, inside its last
	 * sector, a read gives zeros: whether the file ends there or has
	 * grown since. */
	if (!res && io->off + io->len > io->bd->geom.size) {
		uint32_t from = io->bd->geom.size > io->off ? (uint32_t)(io->bd->geom.size - io->off) : 0;

		memset(io->buf + from, 0, io->len - from);
	}
	if (res < 0) {
		sector_t sector = (io->off + io->done) >> KCOPYD_SECTOR_SHIFT;

		kc_stat_add(&kc->stats.read_errors, 1);
		if (!job->read_err || sector < job->read_err_sector) {
			job->read_err = res;
			job->read_err_sector = sector;
		}
		if (!(job->flags & KCOPYD_IGNORE_ERROR))
			job_stop(kc, job);
		read_end(kc, sj, false);
		return;
	}
	kc_stat_add(&kc->stats.bytes_read, sj->len);
	read_end(kc, sj, true);
}

static void write_done(struct kcopyd_client *kc, struct kc_io *io, int res)
{
	struct kc_subjob *sj = io->sj;

	sj->held |= 1u << io->dest;
	if (res < 0) {
		kc_stat_add(&kc->stats.write_errors, 1);
		record_write_error(kc, sj->job, io->dest, res, io->off + io->done);
	} else {
		kc_stat_add(io->op == KC_OP_ZERO ? &kc->stats.bytes_zeroed : &kc->stats.bytes_written,
			    io->len);
	}
	if (!--sj->pending)
		sj_advance(kc, sj);
}

/* The endpoint has no zeroing fast path left (it tried its own in turn):
 * the chunk is written from a zeroed buffer. */
static void write_zeros(struct kcopyd_client *kc, struct kc_io *io)
{
	struct kc_subjob *sj = io->sj;

	if (!sj->zeroed) {
		memset(sj->buf, 0, sj->len);
		sj->zeroed = true;
	}
	io->op = KC_OP_WRITE;
	io->done = 0;
	io->retries = 0;                /* a new request */
	io_start(kc, io);
}

static void retry_fire(struct kcopyd_client *kc, struct kc_timer *t)
{
	struct kc_io *io = (struct kc_io *)((char *)t - offsetof(struct kc_io, retry));

	io_start(kc, io);
}

/* Retry io after a pause that doubles with each retry, up to KC_RETRY_MAX_NS. */
static void retry_later(struct kcopyd_client *kc, struct kc_io *io)
{
	uint64_t delay = KC_RETRY_MIN_NS << (io->retries < 16 ? io->retries : 16);

	if (delay > KC_RETRY_MAX_NS)
		delay = KC_RETRY_MAX_NS;
	io->retries++;
	io->retry.fn = retry_fire;
	kc_timer_arm(&kc->timers, &io->retry, kc_now_ns() + delay);
}

/* What a request's result calls for: the policy, the same for every
 * endpoint.  -EAGAIN and -EINTR are retried after a pause that grows, a
 * bounded number of times in a row, then fail with that error.  A short transfer
 * goes on from where it stopped.  A transfer that ends early (0 bytes)
 * meets the end-of-file rule.  Everything else is final: for zeroing and
 * in-kernel copies too (the endpoint tried its own fast paths already;
 * zero_done writes zeros when none is left, copy_done redoes a failed copy
 * by read and write). */
enum kc_verdict { KC_AGAIN_NOW, KC_AGAIN_LATER, KC_FINAL };

/* A read or write that moved nothing before its end.  A write that makes
 * no progress fails.  A read ends early: a read error (the source is
 * shorter than its size at open), unless it is past that size, inside
 * the last sector, which reads as zeros (read_done).  An in-kernel copy
 * is left short: copy_done redoes it the ordinary way. */
static int eof_rule(struct kc_io *io)
{
	switch (io->op) {
	case KC_OP_WRITE:
		return -EIO;
	case KC_OP_READ:
		if (io->off + io->done < io->bd->geom.size)
			return -ENODATA;
		io->done = io->len;
		return 0;
	default:
		return 0;
	}
}

static enum kc_verdict io_policy(struct kcopyd_client *kc, struct kc_io *io, int *res)
{
	if ((*res == -EAGAIN || *res == -EINTR) && io->retries < KC_MAX_RETRIES)
		return KC_AGAIN_LATER;
	if (io->op == KC_OP_ZERO)       /* zeroing: 0 or an error */
		return KC_FINAL;
	if (*res > 0) {
		io->done += (uint32_t)*res;
		io->retries = 0;        /* it moved: the bound is on retries in a row */
		*res = 0;
		if (io->done < io->len) {
			if (io->op != KC_OP_COPY)
				kc_stat_add(&kc->stats.retries, 1);
			return KC_AGAIN_NOW;
		}
	} else if (*res == 0 && io->done < io->len) {
		*res = eof_rule(io);
	}
	return KC_FINAL;
}

static void zero_done(struct kcopyd_client *kc, struct kc_io *io, int res)
{
	if (res == -EOPNOTSUPP) {
		write_zeros(kc, io);
		return;
	}
	write_done(kc, io, res);
}

static void (*const op_done[])(struct kcopyd_client *, struct kc_io *, int) = {
	[KC_OP_READ] = read_done,
	[KC_OP_WRITE] = write_done,
	[KC_OP_ZERO] = zero_done,
	[KC_OP_COPY] = copy_done,
};

/* Every I/O ends here, from whichever backend or endpoint ran it, through
 * the ready or the completed list: the policy, then the completion of its
 * kind of operation. */
static void io_complete(struct kcopyd_client *kc, struct kc_io *io, int res)
{
	if (io->report_to) {            /* an endpoint's own request */
		io->report_to(kc, io, res);
		return;
	}
	switch (io_policy(kc, io, &res)) {
	case KC_AGAIN_LATER:
		if (io->op == KC_OP_READ && io->sj->job->cancelled) {
			/* Its chunk is never written anyway (apply_cancel). */
			read_end(kc, io->sj, false);
			return;
		}
		kc_stat_add(&kc->stats.retries, 1);
		retry_later(kc, io);
		return;
	case KC_AGAIN_NOW:
		io_start(kc, io);
		return;
	case KC_FINAL:
		break;
	}
	op_done[io->op](kc, io, res);
}

/* An I/O ended, on the engine thread: queue it (see the head comment). */
void kc_io_report(struct kcopyd_client *kc, struct kc_io *io, int res)
{
	io->res = res;
	io->next = NULL;
	*kc->ready_tail = io;
	kc->ready_tail = &io->next;
}

/* A system call ended, on the engine thread (io_uring's completions): queue
 * it for its issuer's done function, as kc_io_report does for I/Os. */
void kc_sys_report(struct kcopyd_client *kc, struct kc_sysreq *r, int res)
{
	r->res = res;
	r->next = NULL;
	*kc->sys_ready_tail = r;
	kc->sys_ready_tail = &r->next;
}

/* A system call ended on another thread (a worker): on the locked list. */
void kc_sys_report_async(struct kcopyd_client *kc, struct kc_sysreq *r, int res)
{
	r->res = res;
	pthread_mutex_lock(&kc->lock);
	r->next = kc->sys_completed;
	kc->sys_completed = r;
	kc_wake_locked(kc);
	pthread_mutex_unlock(&kc->lock);
}

/* The ended system calls go to their issuers, who report their I/Os (or
 * try again: the next fast path); then the I/Os reported on the engine
 * thread are handled, those that their handling reports included. */
static void drain_ready(struct kcopyd_client *kc)
{
	while (kc->sys_ready || kc->ready || kc->watch_ready) {
		kc_watches_run(kc);
		while (kc->sys_ready) {
			struct kc_sysreq *r = kc->sys_ready;

			kc->sys_ready = r->next;
			if (!kc->sys_ready)
				kc->sys_ready_tail = &kc->sys_ready;
			r->done(kc, r, r->res);
		}
		while (kc->ready) {
			struct kc_io *io = kc->ready;

			kc->ready = io->next;
			if (!kc->ready)
				kc->ready_tail = &kc->ready;
			io_complete(kc, io, io->res);
		}
	}
}

/* An I/O ended, on any thread: a worker's pread, an injected fault, a
 * remote server's reply.  It goes on the locked completed list and wakes
 * the engine. */
void kc_io_report_async(struct kcopyd_client *kc, struct kc_io *io, int res)
{
	io->res = res;
	pthread_mutex_lock(&kc->lock);
	io->next = kc->completed;
	kc->completed = io;
	kc_wake_locked(kc);
	pthread_mutex_unlock(&kc->lock);
}

/* Under kc->lock: wake the engine if it sleeps.  The wake is made before the
 * lock is dropped: once it is, the work just queued may complete and the
 * client be destroyed, eventfd and all. */
void kc_wake_locked(struct kcopyd_client *kc)
{
	if (kc->sleeping) {
		kc->sleeping = false;
		kc->backend->wake(kc);
	}
}

static void run_deferred(struct kcopyd_client *kc, struct kc_sysreq *calls, struct kc_io *list)
{
	while (calls) {
		struct kc_sysreq *r = calls;

		calls = r->next;
		r->done(kc, r, r->res);
	}
	while (list) {
		struct kc_io *io = list;

		list = io->next;
		io_complete(kc, io, io->res);
	}
}

/* ---- dispatch ---------------------------------------------------------- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Returns the nanoseconds to wait before the throttle lets len bytes go,
 * or 0 and takes them.  Any rate from 1 to UINT64_MAX bytes per second and
 * any len: the products are taken in 128 bits and everything saturates. */
static int64_t throttle(struct kcopyd_client *kc, uint32_t len)
{
	uint64_t now, rate = __atomic_load_n(&kc->rate, __ATOMIC_RELAXED), burst, gain;
	unsigned __int128 wait;

	if (!rate)
		return 0;
	now = kc_now_ns();
	burst = rate / 8 > len ? rate / 8 : len;
	/* A new rate (or the first) starts with an empty bucket: the first
	 * sub-job pays for itself like the others, or a short copy would run
	 * at many times the rate asked for. */
	if (rate != kc->rate_seen) {
		kc->rate_seen = rate;
		kc->rate_tokens = 0;
		kc->rate_stamp_ns = now;
	}
	if (now > kc->rate_stamp_ns) {
		unsigned __int128 g = (unsigned __int128)(now - kc->rate_stamp_ns) * rate / 1000000000u;

		gain = g > UINT64_MAX ? UINT64_MAX : (uint64_t)g;
		kc->rate_tokens = sat_add(kc->rate_tokens, gain);
		kc->rate_stamp_ns = now;
	}
	if (kc->rate_tokens > burst)
		kc->rate_tokens = burst;
	if (kc->rate_tokens >= len) {
		kc->rate_tokens -= len;
		return 0;
	}
	/* Round up, so that the wake-up finds the budget there. */
	wait = ((unsigned __int128)(len - kc->rate_tokens) * 1000000000u + rate - 1) / rate;
	return wait > INT64_MAX ? INT64_MAX : (int64_t)wait + 1;
}

/* FREE -> WAIT_MEM: a sub-job takes the job's next chunk, then its buffer
 * if the pool has one (else it waits in kc->mem_wait). */
static void subjob_start(struct kcopyd_client *kc, struct kc_job *job, uint32_t len)
{
	struct kc_subjob *sj = kc->free_subjobs;

	kc->free_subjobs = sj->next;
	io_time_account(kc);
	kc->busy_subjobs++;
	sj->state = KC_SJ_WAIT_MEM;
	sj->job = job;
	sj->order = order_for(len);
	sj->len = len;
	sj->zeroed = false;
	sj->held = 0;
	sj->index = job->next_index++;
	sj->rel = job->backward ? job->total - job->issued - len : job->issued;
	job->issued += len;
	job->in_flight++;
	kc_stat_add(&kc->stats.sub_jobs, 1);
	sj->mask = job->live;
	sj->buf = kc_pool_alloc(&kc->pool, sj->order);
	if (!sj->buf) {
		kc->mem_wait = sj;      /* sj_done hands it the next buffer freed */
		return;
	}
	sj_advance(kc, sj);
}

/* The throttle's timer only brings the engine round: dispatch() runs on
 * every turn, after the timers. */
static void throttle_fire(struct kcopyd_client *kc, struct kc_timer *t)
{
	(void)kc;
	(void)t;
}

/* Hand out sub-jobs while there are descriptors, throttle budget, and no
 * sub-job waiting for memory.  Jobs are served in order; memory is not
 * given to a later job while an earlier one waits for it, so a large job
 * cannot starve.  When the throttle holds a sub-job back, its timer is
 * armed for the time the budget will be there. */
/* Take the stopped jobs off the queue: those with nothing in flight end. */
static void retire_stopped(struct kcopyd_client *kc)
{
	struct kc_job **jp = &kc->queue;

	kc->retire = false;
	while (*jp) {
		struct kc_job *job = *jp;

		if (!job->stop) {
			jp = &job->next;
			continue;
		}
		*jp = job->next;
		if (!*jp)
			kc->queue_tail = jp;
		job->queued = false;
		job_maybe_done(kc, job);
	}
}

static void dispatch(struct kcopyd_client *kc)
{
	struct kc_job **jp = &kc->queue;

	if (kc->retire)
		retire_stopped(kc);

	while (*jp && kc->free_subjobs && !kc->mem_wait) {
		struct kc_job *job = *jp;
		uint64_t left = job->total - job->issued;
		uint32_t len;
		int64_t wait;

		if (job->stop || !left) {       /* nothing more to hand out */
			*jp = job->next;
			if (!*jp)
				kc->queue_tail = jp;
			job->queued = false;
			job_maybe_done(kc, job);
			continue;
		}
		if (job->serial && job->in_flight) {
			jp = &job->next;
			continue;
		}
		len = left < kc->sub_job_size ? (uint32_t)left : kc->sub_job_size;
		/* The time share first: the rate's budget is taken when it
		 * lets the sub-job go. */
		wait = io_time_wait(kc);
		if (!wait)
			wait = throttle(kc, len);
		if (wait) {
			uint64_t now = kc_now_ns();

			if (!kc->held_since_ns)
				kc->held_since_ns = now;
			if (wait > 0) {
				kc->throttle_timer.fn = throttle_fire;
				kc_timer_arm(&kc->timers, &kc->throttle_timer, now + (uint64_t)wait);
			} else {
				kc_timer_cancel(&kc->timers, &kc->throttle_timer);
			}
			return;
		}
		kc_timer_cancel(&kc->timers, &kc->throttle_timer);
		hold_end(kc);
		subjob_start(kc, job, len);
	}
	hold_end(kc);
}

/* kcopyd_client_cancel() (c NULL) and kcopyd_cancel() (c: its context):
 * every job submitted up to upto (with that context) that still has
 * sub-jobs to hand out starts no more; those in flight finish.  A job that
 * already stopped on an error, or has handed out all its work, ends as it
 * would have. */
static void apply_cancel(struct kcopyd_client *kc, uint64_t upto, const struct kc_cancel *c)
{
	struct kc_io *retry = NULL;

	for (struct kc_job *job = kc->queue; job; job = job->next) {
		if (job->seq > upto || (c && job->context != c->context) || job->stop ||
		    job->issued == job->total)
			continue;
		job_stop(kc, job);
		job->cancelled = true;
		if (!job->read_err) {
			/* The first sector of the source (or, for zeroing, of the
			 * first destination) that was not handed out. */
			sector_t first = job->kind == KC_JOB_COPY ? job->from.sector :
								    job->dests[0].sector;

			job->read_err = -ECANCELED;
			job->read_err_sector = first +
				(job->backward ? 0 : job->issued >> KCOPYD_SECTOR_SHIFT);
		}
	}
	/* A read of a cancelled job that waits for a retry (-EAGAIN) ends now
	 * rather than after its back-off: its chunk is never written anyway. */
	for (uint32_t i = 0; i < kc->timers.n; i++) {
		struct kc_timer *t = kc->timers.heap[i];
		struct kc_io *io = (struct kc_io *)((char *)t - offsetof(struct kc_io, retry));

		if (t->fn == retry_fire && io->op == KC_OP_READ && io->sj->job->cancelled) {
			io->next = retry;
			retry = io;
		}
	}
	while (retry) {
		struct kc_io *io = retry;

		retry = io->next;
		kc_timer_cancel(&kc->timers, &io->retry);
		read_end(kc, io->sj, false);            /* as a failed read, unrecorded */
	}
}

/* Move newly submitted jobs to the queue (or, for prepared callbacks that
 * were triggered, straight to the done list). */
static void take_incoming(struct kcopyd_client *kc, struct kc_job *list)
{
	while (list) {
		struct kc_job *job = list;

		list = job->next;
		if (job->kind == KC_JOB_CALLBACK) {
			job_done(kc, job);
			continue;
		}
		attach_job(kc, job);
		job->next = NULL;
		job->queued = true;
		*kc->queue_tail = job;
		kc->queue_tail = &job->next;
	}
}

/* Wake the engine from any thread: a setting it acts on has changed.  Also
 * when it is not asleep yet (it may be past its look at the setting, or
 * running the callback that made the change): kicked makes its next turn
 * come before it sleeps. */
void kc_client_wake(struct kcopyd_client *kc)
{
	pthread_mutex_lock(&kc->lock);
	kc->kicked = true;
	kc_wake_locked(kc);
	pthread_mutex_unlock(&kc->lock);
}

/* How long the engine may sleep: until the next timer (-1: until woken). */
static int64_t sleep_ns(struct kcopyd_client *kc)
{
	uint64_t next = kc_timer_next(&kc->timers), now;

	if (next == UINT64_MAX)
		return -1;
	now = kc_now_ns();
	return next <= now ? 0 : next - now > INT64_MAX ? INT64_MAX : (int64_t)(next - now);
}

/* One turn of the engine: take what other threads handed over, finish
 * what completed, fire due timers, start sub-jobs, run callbacks, then the
 * endpoints' hooks.  True when it may sleep (nothing to do until a wake, a
 * completion or a timer); *exit_now once destroy asked it to end and it
 * has.  The client's thread runs it in a loop; a client without one, from
 * kcopyd_client_run_once(). */
static bool kc_turn(struct kcopyd_client *kc, bool *exit_now)
{
	struct kc_job *incoming;
	struct kc_io *completed;
	struct kc_sysreq *sys_completed;
	struct kc_cancel *cancels;
	uint64_t cancel;
	bool sleep;

	pthread_mutex_lock(&kc->lock);
	incoming = kc->incoming;
	kc->incoming = NULL;
	kc->incoming_tail = &kc->incoming;
	completed = kc->completed;
	kc->completed = NULL;
	sys_completed = kc->sys_completed;
	kc->sys_completed = NULL;
	cancel = kc->cancel_upto;
	cancels = kc->cancels;
	kc->cancels = NULL;
	kc->kicked = false;
	pthread_mutex_unlock(&kc->lock);
	take_incoming(kc, incoming);
	if (cancel != kc->cancel_seen) {
		apply_cancel(kc, cancel, NULL);
		kc->cancel_seen = cancel;
	}
	while (cancels) {
		struct kc_cancel *c = cancels;

		cancels = c->next;
		apply_cancel(kc, c->upto, c);
		free(c);
	}
	run_deferred(kc, sys_completed, completed);
	drain_ready(kc);

	if (kc->timers.n)
		kc_timers_run(kc, &kc->timers, kc_now_ns());
	drain_ready(kc);
	dispatch(kc);
	run_callbacks(kc);
	if (kc->hooks || kc->watches)
		kc_before_wait(kc);

	pthread_mutex_lock(&kc->lock);
	*exit_now = kc->exiting && !kc->incoming && !kc->queue && !kc->busy_subjobs;
	/* Reports made while dispatching (a fast path refused at once) are
	 * handled on the next turn, before it dispatches. */
	sleep = !kc->incoming && !kc->completed && !kc->sys_completed && !kc->ready &&
		!kc->sys_ready && !kc->watch_ready && !kc->done && !*exit_now &&
		kc->cancel_upto == kc->cancel_seen && !kc->cancels && !kc->kicked;
	kc->sleeping = sleep;
	pthread_mutex_unlock(&kc->lock);
	return sleep;
}

/* The client's own thread. */
void *kc_engine_main(void *arg)
{
	struct kcopyd_client *kc = arg;

	for (;;) {
		bool exit_now, sleep = kc_turn(kc, &exit_now);

		if (exit_now)
			break;
		if (!sleep) {
			/* More work came (or a callback made some): the I/O
			 * queued so far must still go out and its completions
			 * be seen, or a client that is never idle never
			 * finishes a job (io_uring pushes and reaps only here
			 * and in wait). */
			kc->backend->poll(kc);
			continue;
		}
		kc->backend->wait(kc, sleep_ns(kc));
		pthread_mutex_lock(&kc->lock);
		kc->sleeping = false;
		pthread_mutex_unlock(&kc->lock);
	}
	kc->backend->flush(kc);
	return NULL;
}

/* A client without a thread (KCOPYD_CLIENT_NO_THREAD): one pass, in the
 * caller's thread.  The backend reaps what ended (and drains the wake of
 * the descriptor the caller polls), the turn runs, and what it queued is
 * pushed to the kernel.  kc->sleeping stays as the turn left it until a
 * wake: a submit from any thread then makes the descriptor readable. */
void kc_run_once(struct kcopyd_client *kc)
{
	bool exit_now;

	kc->backend->poll(kc);
	kc->loop_busy = !kc_turn(kc, &exit_now);
	kc->backend->flush(kc);
}

/* When kc_run_once must run again with the descriptor quiet: now when the
 * last pass left work, else the next timer (UINT64_MAX: none). */
uint64_t kc_next_deadline(const struct kcopyd_client *kc)
{
	return kc->loop_busy ? kc_now_ns() : kc_timer_next(&kc->timers);
}
