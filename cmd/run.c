/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The run: jobs go to the library a bounded window at a time, so that a
 * huge sparse source does not queue millions of jobs, --fail-fast can stop
 * submitting at the first error, and the main thread wakes every 200 ms to
 * draw progress.  Callbacks run on the library's thread and only record
 * results under the runner's lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "copylog.h"
#include "kcopyd-cmd.h"

#define WINDOW 32                /* jobs in flight */
#define WINDOW_BYTES (64u << 20) /* and their bytes: a signal stops the run soon */
#define TICK_NS 200000000L       /* progress refresh */
#define NO_CHUNK UINT64_MAX

/* copy --log: the state of each chunk of the range.  A chunk is OPEN while
 * its jobs are being submitted, READY once they are all submitted and have
 * all called back, SNAP when a checkpoint has seen it ready and is flushing
 * the destinations, and RECORDED once marked in the log. */
enum { CK_OPEN, CK_READY, CK_SNAP, CK_RECORDED };
struct chunk_state {
	uint32_t pending;            /* jobs submitted, not called back */
	uint32_t failed;             /* destinations with an error in it */
	uint32_t want;               /* destinations it was copied to */
	uint8_t state;
	bool closed;
};
struct tracker {
	struct copylog *log;
	uint64_t n;
	struct chunk_state *st;
	double interval, last;
	bool broken;                 /* a commit failed: the log is left as it was */
};

struct job {
	struct runner *r;
	uint64_t chunk;              /* NO_CHUNK without a tracker */
	uint64_t len, src_off, dst_off;
	bool zero;
	unsigned int n;
	uint8_t idx[MAX_DESTS];      /* job's destination i is dests[idx[i]] */
};

/* Does cgroup directory dir hold this process (its procs file: v2
 * cgroup.procs, v1 tasks, lists the pid)? */
static bool cgroup_holds_self(const char *dir, const char *procs)
{
	char p[PATH_MAX + 160], v[32];
	long self = (long)getpid();
	bool found = false;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, procs);
	if (!(f = fopen(p, "re")))
		return false;
	while (!found && fgets(v, sizeof(v), f))
		found = strtol(v, NULL, 10) == self;
	fclose(f);
	return found;
}

/* Find the directory of this process's cgroup under dir (into out, PATH_MAX
 * + 64 bytes), depth first, at most *budget directories looked at. */
static bool cgroup_find_self(const char *dir, const char *procs, char *out, int depth,
			     int *budget)
{
	struct dirent *e;
	bool found = false;
	DIR *d;

	if (--*budget < 0 || depth > 16)
		return false;
	if (cgroup_holds_self(dir, procs)) {
		snprintf(out, PATH_MAX + 64, "%s", dir);
		return true;
	}
	if (!(d = opendir(dir)))
		return false;
	while (!found && (e = readdir(d))) {
		char sub[PATH_MAX + 64];

		if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
		    snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) >= (int)sizeof(sub))
			continue;
		found = cgroup_find_self(sub, procs, out, depth + 1, budget);
	}
	closedir(d);
	return found;
}

/* The lowest memory limit of the cgroups this process is in (v2:
 * memory.max, v1: memory.limit_in_bytes, of its cgroup and every one
 * above it), or UINT64_MAX; *file: where it was read. */
static uint64_t cgroup_memory_limit(char *file, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 64];
	uint64_t low = UINT64_MAX;

	if (!f)
		return low;
	while (fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
		const char *base, *name, *procs;
		char dir[PATH_MAX + 64], own[PATH_MAX + 64];
		int budget = 20000;

		if (!path)
			continue;
		*path++ = 0;
		path[strcspn(path, "\n")] = 0;
		ctl++;
		if (!strcmp(ctl, "")) {
			base = "/sys/fs/cgroup";
			name = "memory.max";
			procs = "cgroup.procs";
		} else if (!strcmp(ctl, "memory")) {
			base = "/sys/fs/cgroup/memory";
			name = "memory.limit_in_bytes";
			procs = "tasks";
		} else {
			continue;
		}
		/* In a cgroup namespace the path is from the namespace's root,
		 * which the hierarchy mounted here need not be (a namespace
		 * made without mounting its own): the process's cgroup is then
		 * found where its procs file lists it. */
		snprintf(dir, sizeof(dir), "%s%s", base, strcmp(path, "/") ? path : "");
		if (!cgroup_holds_self(dir, procs)) {
			if (!cgroup_find_self(base, procs, own, 0, &budget))
				continue;
			path = own + strlen(base);
		}
		if (!*path)
			path = "/";
		/* From the process's cgroup up to the root. */
		for (;;) {
			char p[PATH_MAX + 128], v[32];
			FILE *lf;
			unsigned long long n;

			snprintf(dir, sizeof(dir), "%s%s", base, strcmp(path, "/") ? path : "");
			snprintf(p, sizeof(p), "%s/%s", dir, name);
			if ((lf = fopen(p, "re"))) {
				if (fgets(v, sizeof(v), lf) && sscanf(v, "%llu", &n) == 1 && n < low) {
					low = n;
					snprintf(file, size, "%s", p);
				}
				fclose(lf);
			}
			char *slash = strrchr(path, '/');

			if (!slash || slash == path)
				break;
			*slash = 0;
		}
	}
	fclose(f);
	return low;
}

/* What the command needs beside its pool of buffers, in a memory cgroup:
 * 6 MiB, and 8 KiB for each I/O it keeps in flight (--queue-depth: its
 * sub-job and its io_uring entries; measured, 5.9 KiB; the library's
 * default depth is 64); and, when it compares, the comparison's buffers
 * (verify.c: with them, verify peaks at about 10 MiB). */
#define CGROUP_RESERVE_BASE (6u << 20)
#define CGROUP_RESERVE_PER_IO (8u << 10)

/* The memory a run holds is reserved at set-up (the pool is touched, the
 * comparison's buffers are taken): over a cgroup's memory limit, the
 * kernel's out-of-memory killer ends the process before it can say
 * anything, part way through a copy or a comparison.  Said here instead,
 * with room for the rest (the command alone, with one page of buffers,
 * peaks at about 2.5 MiB; page cache counts in the limit but is
 * reclaimed).  engine: the copy engine's pool (--pages) and I/O are
 * counted; compare: the comparison's buffers.  Returns 0, or -1 (said). */
int memory_check(const struct options *o, bool engine, bool compare)
{
	char cgfile[PATH_MAX + 128] = "", fix[128], bufs[160];
	uint64_t cg = cgroup_memory_limit(cgfile, sizeof(cgfile));
	uint64_t pool = engine ? (uint64_t)o->pages * KCOPYD_PAGE_SIZE : 0;
	uint64_t cmp = compare ? compare_bytes() : 0;
	uint64_t reserve = CGROUP_RESERVE_BASE + cmp +
		(engine ? (uint64_t)(o->queue_depth ? o->queue_depth : 64) * CGROUP_RESERVE_PER_IO : 0);

	if (cg == UINT64_MAX || pool + reserve <= cg)
		return 0;
	if (engine && cg > reserve + KCOPYD_PAGE_SIZE)
		snprintf(fix, sizeof(fix), "--pages %llu at most",
			 (unsigned long long)((cg - reserve) / KCOPYD_PAGE_SIZE));
	else if (engine && o->pages > 1)
		snprintf(fix, sizeof(fix), "a limit above %llu KiB (above %llu KiB with fewer "
			 "--pages)%s", (unsigned long long)((pool + reserve) >> 10),
			 (unsigned long long)((reserve + KCOPYD_PAGE_SIZE) >> 10),
			 o->queue_depth > 64 ? ", or a smaller --queue-depth" : "");
	else
		snprintf(fix, sizeof(fix), "a limit above %llu KiB%s",
			 (unsigned long long)((pool + reserve) >> 10),
			 engine && o->queue_depth > 64 ? ", or a smaller --queue-depth" : "");
	if (engine)
		snprintf(bufs, sizeof(bufs), "its %u page%s of buffers (%llu KiB)%s", o->pages,
			 o->pages == 1 ? "" : "s", (unsigned long long)(pool >> 10),
			 compare ? ", the comparison's buffers" : "");
	else
		snprintf(bufs, sizeof(bufs), "the comparison's buffers");
	if (compare)
		snprintf(bufs + strlen(bufs), sizeof(bufs) - strlen(bufs), " (%llu KiB)",
			 (unsigned long long)(cmp >> 10));
	if (engine)
		errmsg("cannot start the copy engine: %s, and %llu KiB for the rest (with "
		       "--queue-depth %u), do not fit in the memory limit of its cgroup, %llu KiB "
		       "(%s); %s?", bufs, (unsigned long long)((reserve - cmp) >> 10),
		       o->queue_depth ? o->queue_depth : 64, (unsigned long long)(cg >> 10), cgfile,
		       fix);
	else
		errmsg("cannot compare: %s, and %llu KiB for the rest, do not fit in the memory "
		       "limit of its cgroup, %llu KiB (%s); %s?", bufs,
		       (unsigned long long)((reserve - cmp) >> 10), (unsigned long long)(cg >> 10),
		       cgfile, fix);
	return -1;
}

int client_setup(const struct options *o, struct kcopyd_client **kc)
{
	int ret;

	if (memory_check(o, true, o->verify))
		return -1;
	ret = kcopyd_client_create(o->pages, kc);

	/* Resource limits a shell user meets here, named as such. */
	if (ret == -ENOMEM)
		errmsg("cannot start the copy engine: no memory for its %u pages of buffers "
		       "(%u KiB; ulimit -v? a smaller --pages?): %s", o->pages, o->pages * 4,
		       strerror(-ret));
	else if (ret == -EAGAIN)
		errmsg("cannot start the copy engine: it cannot create its thread "
		       "(ulimit -u or -v?): %s", strerror(-ret));
	else if (ret == -EMFILE || ret == -ENFILE)
		errmsg("cannot start the copy engine: out of file descriptors (ulimit -n?): %s",
		       strerror(-ret));
	else if (ret)
		errmsg("cannot start the copy engine (--pages %u): %s", o->pages, strerror(-ret));
	if (ret)
		return -1;
	if (o->sub_job_size && (ret = kcopyd_client_set_sub_job_size(*kc, o->sub_job_size)))
		errmsg("--sub-job-size %u: %s", o->sub_job_size, strerror(-ret));
	else if (o->queue_depth && (ret = kcopyd_client_set_queue_depth(*kc, o->queue_depth)))
		errmsg("--queue-depth %u: %s", o->queue_depth, strerror(-ret));
	else if ((ret = kcopyd_client_set_rate(*kc, o->rate)))
		errmsg("--rate: %s", strerror(-ret));
	else if (o->throttle && (ret = kcopyd_client_set_throttle(*kc, o->throttle)))
		errmsg("--throttle %u: %s", o->throttle, strerror(-ret));
	if (ret) {
		kcopyd_client_destroy(*kc);
		*kc = NULL;
		return -1;
	}
	return 0;
}

/* What a second stop signal, which exits at once, leaves behind. */
static void set_last_words(struct runner *r)
{
	char list[768];
	size_t len = 0;

	list[0] = 0;
	for (unsigned int i = 0; i < r->ndests && len < sizeof(list); i++) {
		int n = snprintf(list + len, sizeof(list) - len, "%s%s%s", i ? ", " : "",
				 r->dests[i].path, r->dests[i].created ? " (created by this run)" : "");

		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (r->log_path && r->src && r->src_changed)
		signals_last_words("; the copy is incomplete: %s; the log %s cannot resume it: the "
				   "source changed during the run", list, r->log_path);
	else if (r->log_path && r->log_on_disk)
		signals_last_words("; %s incomplete: %s; the log %s resumes it from its last record",
				   r->src ? "the copy is" : "the zeroing is", list, r->log_path);
	else if (r->log_path)
		signals_last_words("; %s incomplete: %s; no log was written yet (%s does not exist): "
				   "a rerun starts from the beginning",
				   r->src ? "the copy is" : "the zeroing is", list, r->log_path);
	else
		signals_last_words("; left incomplete: %s", list);
}

void runner_log_on_disk(struct runner *r)
{
	r->log_on_disk = true;
	set_last_words(r);
}

/* Cancel the jobs queued in the library, once, from any thread (so does
 * kcopyd_client_cancel): from then on a job's -ECANCELED is ours. */
static void runner_cancel(struct runner *r)
{
	if (!__atomic_exchange_n(&r->cancel_asked, true, __ATOMIC_ACQ_REL))
		kcopyd_client_cancel(r->kc);
}

/* The signal thread, at the first stop signal: no new chunk starts, even
 * while the main thread is stuck in a flush or a rewrite of the log (it
 * learns of the stop when it polls). */
static void stop_hook(void *arg)
{
	runner_cancel(arg);
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
	r->tail_off = NOT_SET;
	for (unsigned int i = 0; i < MAX_DESTS; i++)
		r->lacks[i] = NOT_SET;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &attr);
	pthread_condattr_destroy(&attr);
	r->log_path = o->log;
	progress_init(&r->prog, progress_wanted(o), total);
	if (src)
		snap_take(src, &r->src_snap);
	for (unsigned int i = 0; i < n; i++)
		snap_take(&dests[i], &r->dest_snap[i]);
	set_last_words(r);
	r->started = now_seconds();
	signals_on_stop(stop_hook, r);
}

void runner_fini(struct runner *r)
{
	runner_end_engine(r);
	signals_last_words(NULL);
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

/* off is the library's (the first byte of the sector where the read
 * failed) when in_sector, else the exact byte. */
static void note_read_error(struct runner *r, int errnum, uint64_t off, bool in_sector)
{
	struct stat st;
	uint64_t end_now = NOT_SET;

	/* It ended early: when the file shrank under us into the sector the
	 * library names, the byte is where the file ends now.  (A file that
	 * did not shrink ended a read early by itself: that is where.) */
	if (errnum == -ENODATA && r->src && fstat(r->src->fd, &st) == 0 && S_ISREG(st.st_mode)) {
		end_now = (uint64_t)st.st_size;
		if (in_sector && end_now < r->src->size && end_now >= off &&
		    end_now < off + KCOPYD_SECTOR_SIZE)
			off = end_now;
	}
	if (!r->read_failed || off < r->read_off) {
		r->read_err = errnum;
		r->read_off = off;
		r->read_in_chunk = in_sector;
		if (r->src)     /* which the words say when it is not off */
			r->src->end_now = end_now;
	}
	r->read_failed = true;
	r->stop = true;          /* what follows could not be copied either */
}

static void job_done(const struct kcopyd_result *res, void *context)
{
	struct job *j = context;
	struct runner *r = j->r;
	/* Cancelled (a stop signal): the job did not complete its range, but
	 * that is no read error.  Only when we asked for it: a read that the
	 * kernel failed with ECANCELED (io_uring does, when it cannot start a
	 * worker thread) is a read error like any other. */
	bool cancelled = res->read_err == -ECANCELED &&
			 __atomic_load_n(&r->cancel_asked, __ATOMIC_ACQUIRE);
	bool failed = false;
	uint32_t lacking = 0;          /* job-local bits: short of the job's end */

	pthread_mutex_lock(&r->lock);
	if (res->read_err && !cancelled) {
		note_read_error(r, res->read_err, res->read_err_sector << KCOPYD_SECTOR_SHIFT, true);
		failed = true;
	}
	for (unsigned int i = 0; i < j->n; i++) {
		r->dest_jobs[j->idx[i]]--;
		/* The library says, for every destination, where what it holds
		 * of this job's region ends. */
		if ((res->dest_err_sector[i] << KCOPYD_SECTOR_SHIFT) < j->dst_off + j->len) {
			uint64_t *lacks = &r->lacks[j->idx[i]];

			lacking |= 1u << i;
			r->short_mask |= 1u << j->idx[i];
			if (*lacks == NOT_SET || (res->dest_err_sector[i] << KCOPYD_SECTOR_SHIFT) < *lacks)
				*lacks = res->dest_err_sector[i] << KCOPYD_SECTOR_SHIFT;
		}
		if (!(res->write_err & (1u << i)))
			continue;
		/* One name for a copy's writes, zeroed holes included, so that
		 * the lowest failing offset is the one kept.  That offset is the
		 * first byte the destination lacks: below its failed write when
		 * a read failed (or the run stopped) lower in the job. */
		struct device *d = &r->dests[j->idx[i]];
		uint64_t at = res->dest_err_sector[i] << KCOPYD_SECTOR_SHIFT;
		const char *why = NULL;

		if (res->read_err && !j->zero && r->src &&
		    j->dst_off + ((res->read_err_sector << KCOPYD_SECTOR_SHIFT) - j->src_off) <= at)
			why = cancelled ? "the run stopped there" : "the source's read failed there";
		device_fail(d, j->zero && !r->src ? "zeroing" : "write", res->dest_errno[i], at);
		if (d->err_off == at)
			d->short_why = why;
		failed = true;
	}
	if ((failed && r->fail_fast) || !live_locked(r))
		r->stop = true;
	if (r->tk && j->chunk != NO_CHUNK) {
		struct chunk_state *c = &r->tk->st[j->chunk];

		/* A destination that lacks any of the job's region (its write
		 * failed, the read did, or the job stopped before its turn, as
		 * --fail-fast stops it at another destination's error) has not
		 * got the chunk, whatever its write bit says. */
		for (unsigned int i = 0; i < j->n; i++)
			if (res->read_err || ((res->write_err | lacking) & (1u << i)))
				c->failed |= 1u << j->idx[i];
		if (--c->pending == 0 && c->closed && c->state == CK_OPEN)
			c->state = CK_READY;
	}
	if (!cancelled) {
		r->done_bytes += j->len;
		if (j->zero && r->src) {
			r->hole_bytes += j->len;
			r->zeroed_range += j->len;
		}
	}
	r->in_flight--;
	r->in_flight_bytes -= j->len;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	free(j);
}

/* Lock held: a stop signal ends submitting, and cancels the jobs queued in
 * the library, so that the stop takes effect at once whatever --rate says;
 * the sub-jobs already reading or writing finish. */
static void check_signal(struct runner *r)
{
	int sig = signal_caught();

	if (!sig || r->signal)
		return;
	r->signal = sig;
	r->stop = true;
	runner_cancel(r);
}

void runner_end_engine(struct runner *r)
{
	(void)r;
	signals_on_stop(NULL, NULL);
}

int runner_stop_signal(struct runner *r)
{
	pthread_mutex_lock(&r->lock);
	check_signal(r);
	pthread_mutex_unlock(&r->lock);
	return r->signal;
}

bool runner_holds_all(const struct runner *r, unsigned int i)
{
	return r->submitted_all && !r->read_failed && !r->internal_error &&
	       !(r->short_mask & (1u << i)) && !(r->tail_missing & (1u << i)) &&
	       !r->dests[i].failed;
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
	check_signal(r);
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
	j->chunk = r->tk ? sp->chunk : NO_CHUNK;
	j->len = sp->len;
	j->dst_off = sp->dst_off;
	j->src_off = sp->src_off;
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
static int64_t reserve_slot(struct runner *r, uint32_t want, uint64_t len)
{
	uint32_t mask;

	pthread_mutex_lock(&r->lock);
	check_signal(r);
	while ((r->in_flight >= r->window ||
		(r->in_flight && r->in_flight_bytes + len > WINDOW_BYTES)) && !r->stop)
		wait_tick(r);
	mask = want & live_locked(r);
	if (r->stop || !mask) {
		pthread_mutex_unlock(&r->lock);
		return r->stop ? -1 : 0;
	}
	r->in_flight++;
	r->in_flight_bytes += len;
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
	pthread_mutex_lock(&r->lock);    /* before: the callback may come at once */
	if (j->chunk != NO_CHUNK)
		r->tk->st[j->chunk].pending++;
	for (unsigned int i = 0; i < j->n; i++)
		r->dest_jobs[j->idx[i]]++;
	pthread_mutex_unlock(&r->lock);
	if (sp->zero) {
		ret = kcopyd_zero_ex(r->kc, j->n, regions, flags, job_done, j);
	} else {
		from = (struct io_region){ .bdev = r->src->bd,
			.sector = sp->src_off >> KCOPYD_SECTOR_SHIFT,
			.count = sp->len >> KCOPYD_SECTOR_SHIFT };
		ret = kcopyd_copy_ex(r->kc, &from, j->n, regions, flags, job_done, j);
	}
	if (ret) {
		pthread_mutex_lock(&r->lock);
		if (j->chunk != NO_CHUNK)
			r->tk->st[j->chunk].pending--;
		for (unsigned int i = 0; i < j->n; i++)
			r->dest_jobs[j->idx[i]]--;
		pthread_mutex_unlock(&r->lock);
		free(j);
	}
	return ret;
}

/* The run stopped before the span at dst_off was submitted: spans go in
 * the order of their offsets, so no destination holds all from there on.
 * (One that held that span from an earlier run may hold more: it is said
 * to lack it, which understates what it holds, never overstates.) */
static void note_unsubmitted(struct runner *r, uint64_t dst_off)
{
	pthread_mutex_lock(&r->lock);
	for (unsigned int i = 0; i < r->ndests; i++)
		if (r->lacks[i] == NOT_SET || dst_off < r->lacks[i])
			r->lacks[i] = dst_off;
	pthread_mutex_unlock(&r->lock);
}

uint64_t runner_first_lacking(const struct runner *r, unsigned int i)
{
	uint64_t at = r->lacks[i];

	if ((r->tail_missing & (1u << i)) && (at == NOT_SET || r->tail_off < at))
		at = r->tail_off;
	return at;
}

/* Hand one span to the library.  Returns 0, or -1 when the run has stopped
 * (an error, or a job the library refused). */
int runner_submit(struct runner *r, const struct span *sp)
{
	int64_t mask = reserve_slot(r, sp->mask, sp->len);
	int ret;

	if (mask < 0)
		note_unsubmitted(r, sp->dst_off);
	if (mask <= 0)
		return (int)mask;
	ret = start_job(r, sp, (uint32_t)mask);
	if (ret) {
		note_unsubmitted(r, sp->dst_off);
		/* Set-up checked every range, so this is a bug or a device that
		 * changed size under us; stop rather than skip data. */
		errmsg("the library refused a job (%s of %llu bytes at byte %llu): %s",
		       sp->zero ? "zero" : "copy", (unsigned long long)sp->len,
		       (unsigned long long)sp->dst_off, strerror(-ret));
		pthread_mutex_lock(&r->lock);
		r->in_flight--;
		r->in_flight_bytes -= sp->len;
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
 * holes and tails done without reading, for zeroing the finished jobs.
 * Also records in r->prog the bytes moved, for its rate. */
uint64_t runner_progress(struct runner *r)
{
	struct kcopyd_stats st;
	uint64_t done;

	pthread_mutex_lock(&r->lock);
	done = r->src ? r->hole_bytes : r->done_bytes;
	pthread_mutex_unlock(&r->lock);
	if (kcopyd_client_stats(r->kc, &st, sizeof(st)) == 0) {
		if (r->src) {
			done += st.bytes_read;
		} else {
			/* Zeroing: one job per destination and 64 MiB, and the
			 * total is over every destination: what the sub-jobs
			 * zeroed (or wrote as zeros) so far, over all of them. */
			uint64_t inflight = st.bytes_zeroed + st.bytes_written;

			if (inflight > done)
				done = inflight;
		}
		r->prog.moved = runner_moved(r, &st);
		r->prog.have_moved = true;
	}
	return done < r->prog.total ? done : r->prog.total;
}

/* Say soon that a destination failed, rather than at the end of a long
 * run; the report leaves out what was said here.  Not before every job that
 * was writing it has called back: one of them may fail lower down, and the
 * offset said must be the first failing one, the same as in the summary
 * and the JSON (no new job goes to a failed destination). */
static void report_new_failures(struct runner *r)
{
	pthread_mutex_lock(&r->lock);
	for (unsigned int i = 0; i < r->ndests; i++) {
		struct device *d = &r->dests[i];

		if (d->failed && !d->reported && !r->dest_jobs[i]) {
			d->reported = true;
			progress_clear(&r->prog);
			device_print_failure(d);
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static void watch(struct runner *r, bool say);

void runner_tick(struct runner *r)
{
	pthread_mutex_lock(&r->lock);
	check_signal(r);
	pthread_mutex_unlock(&r->lock);
	double now = now_seconds();

	if (r->tk)
		runner_checkpoint(r, false);
	report_new_failures(r);
	if (now - r->last_watch >= TICK_NS / 1e9) {
		r->last_watch = now;
		watch(r, false);
	}
	if (status_requested())
		progress_status(&r->prog, r->src ? "copied" : "zeroed", runner_progress(r));
	if (r->prog.on)
		progress_update(&r->prog, runner_progress(r), false);
}

uint64_t runner_moved(struct runner *r, const struct kcopyd_stats *st)
{
	uint64_t moved;

	pthread_mutex_lock(&r->lock);
	moved = r->src ? st->bytes_read + r->zeroed_range + r->tail_range
		: st->bytes_zeroed + st->bytes_written + r->tail_written;
	pthread_mutex_unlock(&r->lock);
	return moved;
}

/* Read or write all of len bytes at *off; *off is left where it stopped.
 * A read that ends early is an error: the range lies inside the source's
 * recorded size, so an early end means the source shrank under us. */
static int pread_full(int fd, char *buf, size_t len, uint64_t *off)
{
	unsigned int eintr = 0;

	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)*off);

		if (n < 0 && errno == EINTR && eintr_again(&eintr))
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENODATA;
		buf += n;
		len -= (size_t)n;
		*off += (uint64_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const char *buf, size_t len, uint64_t *off)
{
	unsigned int eintr = 0;

	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)*off);

		if (n < 0 && errno == EINTR && eintr_again(&eintr))
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		*off += (uint64_t)n;
	}
	return 0;
}

/* The library says where a failed read began: a whole sub-job's read may
 * fail for one bad spot in it (a disk fails the whole request).  Once
 * every job is done, the command reads from there itself, narrowing a
 * failure down (read_upto) to the first byte, sector or page it cannot
 * read, so that the byte the message names is one that fails (at or
 * after the library's: the next 1 MiB at least, or the sub-job size).  A read
 * that now goes through (the error was passing), and a stop signal, leave
 * the offset as the library gave it. */
void runner_narrow_read_error(struct runner *r, unsigned int sub_job_size, uint64_t range_end)
{
	uint64_t off, end;
	size_t len, before = 0;
	ssize_t got;
	char *buf;

	pthread_mutex_lock(&r->lock);
	off = r->read_off;
	if (!r->read_failed || !r->read_in_chunk || r->read_err == -ENODATA ||
	    r->read_err == -ECANCELED || !r->src || r->src->fd < 0) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	pthread_mutex_unlock(&r->lock);
	/* Not past the range copied, nor the source's end. */
	end = r->src->size < range_end ? r->src->size : range_end;
	if (end < off)
		end = off;
	len = sub_job_size ? sub_job_size : 512 * 1024;
	/* At least 1 MiB: small requests may have failed merged with a
	 * neighbour (the block layer joins them), the bad spot in that one. */
	if (len < 1u << 20)
		len = 1u << 20;
	if (len > 8u << 20)
		len = 8u << 20;
	if (end - off < len)
		len = (size_t)(end - off);
	if (!len || signal_caught() || !(buf = malloc(len)))
		return;
	got = read_upto(r->src->fd, buf, len, off, &before);
	free(buf);
	if (got >= 0 || signal_caught() || before == 0)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->read_off == off) {
		r->read_off = off + before;
		r->read_err = (int)got;
	}
	pthread_mutex_unlock(&r->lock);
}

/* The last bytes of a range that are not a whole block, which the library
 * cannot take: read (or zeros) and written here, after every job is done so
 * that no write of ours races one of the library's over the same block. */
void runner_tail(struct runner *r, uint32_t mask, uint64_t src_off, uint64_t dst_off,
		 uint64_t len)
{
	char *buf;
	bool stopped;
	uint64_t at = src_off;
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	stopped = r->stop;
	if (len) {
		r->tail_missing |= mask;
		r->tail_off = dst_off;
	}
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
		ret = pread_full(r->src->fd, buf, len, &at);
	pthread_mutex_lock(&r->lock);
	if (ret)
		note_read_error(r, ret, at, false);
	for (unsigned int i = 0; i < r->ndests && !ret; i++) {
		uint64_t wat = dst_off;
		int wret = mask & (1u << i) ? pwrite_full(r->dests[i].fd, buf, len, &wat) : 0;

		if (wret) {
			device_fail(&r->dests[i], r->src ? "write" : "zeroing", wret, wat);
		} else if (mask & (1u << i)) {
			r->tail_written += len;
			r->tail_missing &= ~(1u << i);
		}
	}
	if (!ret) {
		r->done_bytes += len;
		r->hole_bytes += len;
		r->tail_range += len;
	}
	pthread_mutex_unlock(&r->lock);
	free(buf);
}

#define MAX_SPARE 4
static int spare_fds[MAX_SPARE], nspare, nborrowed;

int fd_reserve(void)
{
	int fd;

	if (nspare == MAX_SPARE)
		return 0;
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	spare_fds[nspare++] = fd;
	return 0;
}

void fd_borrow(void)
{
	if (nborrowed < nspare)
		close(spare_fds[nborrowed++]);
}

void fd_return(void)
{
	if (nborrowed) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		/* Lost to someone else meanwhile: there is one fewer. */
		nborrowed--;
		if (fd >= 0) {
			spare_fds[nborrowed] = fd;
		} else {
			nspare--;
			if (nborrowed < nspare)
				spare_fds[nborrowed] = spare_fds[nspare];
		}
	}
}

/* A new file's name is durable only once its directory is. */
static int sync_parent(const struct device *d)
{
	char *copy = strdup(d->canon ? d->canon : d->path);
	int fd, ret = 0;

	if (!copy)
		return -ENOMEM;
	fd_borrow();
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) && errno != EINVAL)
			ret = -errno;
		close(fd);
	}
	fd_return();
	free(copy);
	return ret;
}

static void flush_all(struct runner *r)
{
	for (unsigned int i = 0; i < r->ndests; i++) {
		struct device *d = &r->dests[i];
		int ret;

		if (d->failed)
			continue;
		const char *what = "flush";

		ret = kcopyd_bdev_flush(d->bd);
		if (!ret && d->created) {
			ret = sync_parent(d);
			what = "flush of its directory (the new file's name)";
		}
		if (ret) {
			pthread_mutex_lock(&r->lock);
			device_fail(d, what, ret, NOT_SET);
			pthread_mutex_unlock(&r->lock);
		}
	}
}

void runner_flush(struct runner *r)
{
	flush_all(r);
	runner_tick(r);
}

/* ---- copy --log ---------------------------------------------------------- */

/* ---- did anything change under the run? ------------------------------ */

void snap_take(const struct device *d, struct dev_snap *s)
{
	struct stat st;
	uint64_t bytes;

	memset(s, 0, sizeof(*s));
	if (d->fd < 0 || fstat(d->fd, &st))
		return;
	if (S_ISBLK(st.st_mode)) {
		struct copylog_id id;

		if (ioctl(d->fd, BLKGETSIZE64, &bytes))
			return;
		s->size = bytes;
		/* A loop device over a file: that file's times (the copy
		 * log's identity finds it, however deep). */
		if (copylog_identify(d->fd, &id) == 0 && (id.known & COPYLOG_HAS_LOOP_TIMES)) {
			s->mtime = (struct timespec){ (time_t)id.mtime_sec, (long)id.mtime_nsec };
			s->ctime = (struct timespec){ (time_t)id.ctime_sec, (long)id.ctime_nsec };
			s->lo_times = true;
		}
	} else {
		s->size = (uint64_t)st.st_size;
		s->mtime = st.st_mtim;
		s->ctime = st.st_ctim;
		s->is_file = true;
	}
	s->dev = st.st_dev;
	s->rdev = st.st_rdev;
	s->ino = st.st_ino;
	s->nlink = st.st_nlink;
	s->valid = true;
}

/* Does d's name still reach what d's descriptor is?  A file removed, or
 * renamed over by another, leaves the run writing (or reading) storage
 * that the name no longer gives: "" when it still does, else what became
 * of the name. */
static const char *name_moved(const struct device *d, const struct dev_snap *then,
			      const struct dev_snap *now)
{
	struct stat st;

	/* A file that had no name when the run began (reached through
	 * /proc/PID/fd/N) has lost none since. */
	if (then->is_file && then->nlink == 0)
		return "";
	if (stat(d->path, &st) != 0)
		return errno != ENOENT && errno != ENOTDIR ? "" : now->is_file && now->nlink ?
			"its name was removed or renamed (the name no longer reaches what the run "
			"had open)" : "it was removed (no name reaches what the run had open)";
	if (now->is_file ? st.st_dev != now->dev || st.st_ino != now->ino
			 : !S_ISBLK(st.st_mode) || st.st_rdev != now->rdev)
		return "its name now gives another file (it was replaced or renamed)";
	if (now->is_file && now->nlink == 0)
		return "it was removed (no name reaches what the run had open)";
	return "";
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool snap_changed(const struct device *d, const struct dev_snap *s, uint64_t expect_size,
		  bool times, char *buf, size_t size)
{
	struct dev_snap now;
	const char *moved;
	size_t len = 0;
	uint64_t was = expect_size != NOT_SET ? expect_size : s->size;

	buf[0] = 0;
	if (!s->valid)
		return false;
	snap_take(d, &now);
	if (!now.valid)
		return false;
	moved = name_moved(d, s, &now);
	if (moved[0])
		len += (size_t)snprintf(buf + len, size - len, "%s", moved);
	if (now.size != was && len < size)
		len += (size_t)snprintf(buf + len, size - len, "%sits size went from %llu to %llu bytes",
					len ? ", " : "", (unsigned long long)was,
					(unsigned long long)now.size);
	if (times && s->is_file && !same_time(&s->mtime, &now.mtime) && len < size)
		len += (size_t)snprintf(buf + len, size - len, "%sit was modified (mtime)",
					len ? ", " : "");
	else if (times && s->is_file && !same_time(&s->ctime, &now.ctime) && len < size)
		len += (size_t)snprintf(buf + len, size - len, "%sits status changed (ctime)",
					len ? ", " : "");
	else if (times && s->lo_times && now.lo_times && !same_time(&s->mtime, &now.mtime) &&
		 len < size)
		len += (size_t)snprintf(buf + len, size - len,
					"%sthe file under the loop device was modified (mtime)",
					len ? ", " : "");
	else if (times && s->lo_times && now.lo_times && !same_time(&s->ctime, &now.ctime) &&
		 len < size)
		len += (size_t)snprintf(buf + len, size - len,
					"%sthe status of the file under the loop device changed (ctime)",
					len ? ", " : "");
	return len > 0;
}

/* Where the range the run writes on destination d starts: it is
 * [that, + d->len).  Set-up (check_dest) made d->need that offset plus
 * d->len, the range's length. */
static uint64_t dest_written_off(const struct device *d)
{
	return d->len && d->need >= d->len ? d->need - d->len : 0;
}

/* A range the run writes meets the source's bytes (a copy inside one file,
 * onto a loop device over it, however deep, or over the file system the
 * source lives in): our own writes may change its times then.  Sharing
 * storage elsewhere, outside the written ranges, does not count: the
 * source's every change is then someone else's. */
static bool source_written(const struct runner *r)
{
	for (unsigned int i = 0; i < r->ndests; i++)
		if (r->dests[i].len &&
		    (device_meet(r->src, 0, UINT64_MAX, &r->dests[i], dest_written_off(&r->dests[i]),
				 r->dests[i].len, 0) != MEET_NONE ||
		     device_writes_file_under(&r->dests[i], r->src)))
			return true;
	return false;
}

/* Destination i is the source's own file (by its identity, through any
 * name of it: not a file merely stored near it, nor one on a file system
 * that shares its storage). */
static bool source_file_is(const struct runner *r, unsigned int i)
{
	return r->src_snap.is_file && r->dest_snap[i].is_file && r->dest_snap[i].valid &&
	       device_meet(r->src, 0, UINT64_MAX, &r->dests[i], 0, UINT64_MAX, MEET_PLACED) !=
		       MEET_NONE;
}

/* Look for changes: at every tick (a file cut short and then rewritten by
 * our own later writes would look whole at the end) and at the end.  The
 * first change seen of each device is kept; say tells it now. */
static void watch(struct runner *r, bool say)
{
	const char *during = r->src ? "the copy" : "the zeroing";
	uint64_t src_size = r->src ? r->src->size : 0;

	/* A destination that is the source's own file, which set-up made
	 * larger to hold the range: that size is ours, not a change. */
	for (unsigned int i = 0; r->src && i < r->ndests; i++)
		if (source_file_is(r, i) && r->dest_snap[i].size > src_size)
			src_size = r->dest_snap[i].size;
	if (r->src && !r->src_changed &&
	    snap_changed(r->src, &r->src_snap, src_size, !source_written(r), r->src_change,
			 sizeof(r->src_change))) {
		r->src_changed = true;
		set_last_words(r);      /* a second stop signal must not offer to resume */
	}
	/* We write the destinations, so only their sizes are ours to know:
	 * a file ends as large as set-up made it. */
	for (unsigned int i = 0; i < r->ndests; i++) {
		struct device *d = &r->dests[i];

		if (!d->changed[0])
			snap_changed(d, &r->dest_snap[i], NOT_SET, false, d->changed,
				     sizeof(d->changed));
	}
	if (!say)
		return;
	if (r->src_changed)
		errmsg("%s: changed during %s: %s; the copy may not match it", r->src->path, during,
		       r->src_change);
	for (unsigned int i = 0; i < r->ndests; i++)
		if (r->dests[i].changed[0])
			errmsg("%s: changed during %s by someone else: %s", r->dests[i].path, during,
			       r->dests[i].changed);
}

void runner_check_changes(struct runner *r)
{
	watch(r, true);
}

int runner_track(struct runner *r, struct copylog *log, double interval)
{
	struct tracker *tk = calloc(1, sizeof(*tk));

	if (!tk)
		return -ENOMEM;
	tk->log = log;
	tk->n = copylog_chunks(log);
	tk->st = calloc(tk->n ? tk->n : 1, sizeof(*tk->st));
	if (!tk->st) {
		free(tk);
		return -ENOMEM;
	}
	tk->interval = interval;
	tk->last = now_seconds();
	r->tk = tk;
	return 0;
}

void runner_untrack(struct runner *r)
{
	if (!r->tk)
		return;
	free(r->tk->st);
	free(r->tk);
	r->tk = NULL;
}

/* Every job of the chunk was submitted (to the destinations in want). */
void runner_chunk_close(struct runner *r, uint64_t chunk, uint32_t want)
{
	struct chunk_state *c;

	if (!r->tk || chunk >= r->tk->n)
		return;
	pthread_mutex_lock(&r->lock);
	c = &r->tk->st[chunk];
	c->want = want;
	c->closed = true;
	if (!c->pending && c->state == CK_OPEN)
		c->state = CK_READY;
	pthread_mutex_unlock(&r->lock);
}

/* Chunks whose jobs had all completed before the flush began are durable
 * once it ends: only those are marked, and only for destinations that
 * neither failed in them nor failed since (a failed destination is not
 * flushed).  Then the log is rewritten.  Returns 0 or a negative errno. */
int runner_checkpoint(struct runner *r, bool force)
{
	struct tracker *tk = r->tk;
	uint64_t snapped = 0;
	uint32_t changed = 0;
	int ret;

	if (!tk || tk->broken || (!force && now_seconds() - tk->last < tk->interval))
		return tk && tk->broken ? -EIO : 0;
	pthread_mutex_lock(&r->lock);
	for (uint64_t i = 0; i < tk->n; i++)
		if (tk->st[i].state == CK_READY) {
			tk->st[i].state = CK_SNAP;
			snapped++;
		}
	pthread_mutex_unlock(&r->lock);
	if (!snapped && !force) {
		tk->last = now_seconds();
		return 0;
	}
	if (snapped)
		flush_all(r);
	/* A destination changed by someone else holds nothing the log can
	 * vouch for, whatever we wrote: it forgets that destination, so that
	 * a rerun copies all of it again. */
	watch(r, false);
	for (unsigned int d = 0; d < r->ndests; d++)
		if (r->dests[d].changed[0])
			changed |= 1u << d;
	pthread_mutex_lock(&r->lock);
	for (uint64_t i = 0; i < tk->n && snapped; i++) {
		struct chunk_state *c = &tk->st[i];
		uint32_t ok;

		if (c->state != CK_SNAP)
			continue;
		ok = c->want & ~c->failed & live_locked(r) & ~changed;
		for (unsigned int d = 0; d < r->ndests; d++)
			if (ok & (1u << d))
				copylog_mark(tk->log, d, i);
		c->state = CK_RECORDED;
		snapped--;
	}
	pthread_mutex_unlock(&r->lock);
	for (unsigned int d = 0; d < r->ndests; d++)
		if (changed & (1u << d))
			copylog_forget(tk->log, d, 0);
	ret = copylog_commit(tk->log);
	tk->last = now_seconds();
	if (ret) {
		tk->broken = true;
		progress_clear(&r->prog);
		snprintf(r->log_error, sizeof(r->log_error), "cannot write the copy log: %s",
			 strerror(-ret));
		errmsg("%s; stopping", r->log_error);
		/* Stopping means what a stop signal means: the jobs queued in
		 * the library are cancelled, not left to run to the end. */
		pthread_mutex_lock(&r->lock);
		r->stop = r->internal_error = true;
		runner_cancel(r);
		pthread_mutex_unlock(&r->lock);
	}
	return ret;
}
