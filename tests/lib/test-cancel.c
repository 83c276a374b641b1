/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd_client_cancel():
 *  - while a copy, a second copy and a zeroing job are held back by the
 *    throttle at 1 byte/s: each calls back soon with read_err -ECANCELED and
 *    write_err 0, and each destination holds whole sub-jobs only (every
 *    64 KiB chunk is all source, or all zeros for the zeroing job, or all
 *    its old contents), the rest untouched;
 *  - a job submitted after the cancel (rate removed) runs normally;
 *  - with nothing in flight it returns 0 and later jobs run normally;
 *  - from a callback: the job still running stops with -ECANCELED, whole
 *    sub-jobs only, and a job the callback submits after cancelling runs
 *    to its end;
 *  - while sub-jobs are in flight (no throttle, 4 KiB sub-jobs, thirty
 *    runs): the job ends with -ECANCELED (or, had it finished first, 0),
 *    and its destination holds whole sub-jobs only;
 *  - in each case dest_err_sector is the first sector the destination does
 *    not hold (the sector of the first byte that differs from the source, or
 *    the end), and a cancelled job's read_err_sector the same sector;
 *  - cancel(NULL) is -EINVAL;
 *  - kcopyd_cancel(kc, context), three throttled copies: only the job with
 *    that context calls back, -ECANCELED, whole sub-jobs, dest_err_sector
 *    right; the other two go on and, the rate removed, end complete; a
 *    context no job has changes nothing; a job submitted after the call
 *    with the same context runs to its end; kcopyd_cancel(NULL, ...) is
 *    -EINVAL.
 * "Soon" is a 20 s limit, where the throttle would hold the jobs for days.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testutil.h"

#define SIZE (4 * TU_MIB)
#define SUB (64 * 1024)
#define OLD 0x5a
#define LIMIT_S 20

static const char *src;
static uint8_t *data;

struct done {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
	struct kcopyd_result res;
};

static void done_init(struct done *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
}

static void done_cb(const struct kcopyd_result *res, void *context)
{
	struct done *d = context;

	pthread_mutex_lock(&d->lock);
	d->calls++;
	d->res = *res;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void done_wait(struct done *d, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += LIMIT_S;
	pthread_mutex_lock(&d->lock);
	while (!d->calls && pthread_cond_clockwait(&d->cond, &d->lock, CLOCK_MONOTONIC, &ts) == 0)
		;
	if (!d->calls)
		FAIL("%s: no callback within %d s", what, LIMIT_S);
	if (d->calls != 1)
		FAIL("%s: %d callbacks", what, d->calls);
	pthread_mutex_unlock(&d->lock);
}

/* Every chunk of dst (len bytes) is all of want's chunk or all old bytes;
 * want NULL: zeros.  Returns how many chunks were written. */
static unsigned int whole_chunks(const char *dst, const uint8_t *want, uint64_t len,
				 unsigned int chunk, const char *what)
{
	uint64_t size;
	uint8_t *got = tu_read_file(dst, &size);
	unsigned int written = 0;

	CHECK_EQ(size, len);
	for (uint64_t off = 0; off < len; off += chunk) {
		const uint8_t *g = got + off;
		bool is_old = true, is_new = true;

		for (unsigned int i = 0; i < chunk && (is_old || is_new); i++) {
			is_old = is_old && g[i] == OLD;
			is_new = is_new && g[i] == (want ? want[off + i] : 0);
		}
		if (!is_old && !is_new)
			FAIL("%s: the chunk at byte %llu is partly written", what, (unsigned long long)off);
		written += is_new && !is_old;
	}
	free(got);
	return written;
}

/* res's dest_err_sector[0] (and, cancelled, read_err_sector) is the sector
 * of the first byte of dst (a region from 0) that is not want's (zeros if
 * NULL), or the end. */
static void check_first_missing(const char *dst, const uint8_t *want,
				const struct kcopyd_result *res, const char *what)
{
	uint64_t size, first = 0;
	uint8_t *got = tu_read_file(dst, &size);

	while (first < size && got[first] == (want ? want[first] : 0))
		first++;
	free(got);
	if (res->dest_err_sector[0] != first / 512)
		FAIL("%s: dest_err_sector %llu, but the destination holds the source up to byte %llu",
		     what, (unsigned long long)res->dest_err_sector[0], (unsigned long long)first);
	if (res->read_err == -ECANCELED && res->read_err_sector != first / 512)
		FAIL("%s: read_err_sector %llu, but the first chunk not written starts at byte %llu",
		     what, (unsigned long long)res->read_err_sector, (unsigned long long)first);
}

static struct block_device *fresh(const char *name, const char **path)
{
	*path = tu_path(name);
	tu_make_filled(*path, SIZE, OLD);
	return tu_open(*path, O_RDWR);
}

static void while_throttled(void)
{
	struct kcopyd_client *kc = tu_client(512);
	struct block_device *s = tu_open(src, O_RDONLY), *d[4];
	const char *path[4];
	struct io_region from = tu_region(s, 0, SIZE / 512), to[4];
	struct done dn[4];
	struct kcopyd_stats st;

	for (int i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "thr%d", i);
		d[i] = fresh(name, &path[i]);
		to[i] = tu_region(d[i], 0, SIZE / 512);
		done_init(&dn[i]);
	}
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, SUB));
	CHECK_OK(kcopyd_client_set_rate(kc, 1));
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to[0], 0, done_cb, &dn[0]));
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to[1], KCOPYD_WRITE_SEQ, done_cb, &dn[1]));
	CHECK_OK(kcopyd_zero_ex(kc, 1, &to[2], 0, done_cb, &dn[2]));
	nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	CHECK_OK(kcopyd_client_cancel(kc));
	done_wait(&dn[0], "a throttled copy, cancelled");
	done_wait(&dn[1], "a throttled WRITE_SEQ copy, cancelled");
	done_wait(&dn[2], "a throttled zeroing, cancelled");
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(dn[i].res.read_err, -ECANCELED);
		CHECK_EQ(dn[i].res.write_err, 0);
		CHECK_EQ(dn[i].res.dest_errno[0], 0);
	}
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (st.bytes_written % SUB || st.bytes_zeroed % SUB)
		FAIL("%llu bytes written, %llu zeroed: not whole sub-jobs",
		     (unsigned long long)st.bytes_written, (unsigned long long)st.bytes_zeroed);

	/* After the cancel: a new job runs to its end. */
	CHECK_OK(kcopyd_client_set_rate(kc, 0));
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to[3], 0, done_cb, &dn[3]));
	done_wait(&dn[3], "a copy submitted after the cancel");
	CHECK_EQ(dn[3].res.read_err, 0);
	CHECK_EQ(dn[3].res.write_err, 0);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	for (int i = 0; i < 4; i++)
		kcopyd_bdev_close(d[i]);
	whole_chunks(path[0], data, SIZE, SUB, "cancelled copy");
	whole_chunks(path[1], data, SIZE, SUB, "cancelled WRITE_SEQ copy");
	whole_chunks(path[2], NULL, SIZE, SUB, "cancelled zeroing");
	check_first_missing(path[0], data, &dn[0].res, "cancelled copy");
	check_first_missing(path[1], data, &dn[1].res, "cancelled WRITE_SEQ copy");
	check_first_missing(path[2], NULL, &dn[2].res, "cancelled zeroing");
	check_first_missing(path[3], data, &dn[3].res, "copy after the cancel");
	if (tu_cmp_files(path[3], 0, src, 0, SIZE))
		FAIL("the copy submitted after the cancel is wrong");
	tu_log("ok: cancel while throttled at 1 byte/s");
}

static void nothing_in_flight(void)
{
	struct kcopyd_client *kc = tu_client(512);
	struct block_device *s = tu_open(src, O_RDONLY), *d;
	const char *path;
	struct io_region from = tu_region(s, 0, SIZE / 512), to;

	CHECK_EQ(kcopyd_client_cancel(NULL), -EINVAL);
	CHECK_OK(kcopyd_client_cancel(kc));
	CHECK_OK(kcopyd_client_cancel(kc));
	d = fresh("idle", &path);
	to = tu_region(d, 0, SIZE / 512);
	tu_copy_ok(kc, &from, 1, &to, 0);
	CHECK_OK(kcopyd_client_cancel(kc));
	tu_copy_ok(kc, &from, 1, &to, 0);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	if (tu_cmp_files(path, 0, src, 0, SIZE))
		FAIL("a copy after a cancel with nothing in flight is wrong");
	tu_log("ok: cancel with nothing in flight");
}

/* From a callback: a prepared callback runs while a copy is held back at
 * 1 byte/s; it cancels, removes the rate and submits another copy. */
struct from_cb {
	struct kcopyd_client *kc;
	struct io_region from, to;
	struct done after;
	int cancel_ret, submit_ret;
};

static void cancel_cb(int read_err, unsigned int write_err, void *context)
{
	struct from_cb *f = context;

	(void)read_err;
	(void)write_err;
	f->cancel_ret = kcopyd_client_cancel(f->kc);
	f->cancel_ret |= kcopyd_client_set_rate(f->kc, 0);
	f->submit_ret = kcopyd_copy_ex(f->kc, &f->from, 1, &f->to, 0, done_cb, &f->after);
}

static void from_callback(void)
{
	struct kcopyd_client *kc = tu_client(512);
	struct block_device *s = tu_open(src, O_RDONLY), *d[2];
	const char *path[2];
	struct io_region from = tu_region(s, 0, SIZE / 512), to;
	struct kcopyd_callback *cb;
	struct from_cb f;
	struct done long_job;
	unsigned int written;

	d[0] = fresh("cb0", &path[0]);
	d[1] = fresh("cb1", &path[1]);
	to = tu_region(d[0], 0, SIZE / 512);
	memset(&f, 0, sizeof(f));
	f.kc = kc;
	f.from = from;
	f.to = tu_region(d[1], 0, SIZE / 512);
	done_init(&f.after);
	done_init(&long_job);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, SUB));
	CHECK_OK(kcopyd_client_set_rate(kc, 1));
	CHECK_OK(kcopyd_prepare_callback(kc, cancel_cb, &f, &cb));
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to, 0, done_cb, &long_job));
	nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
	kcopyd_do_callback(cb, 0, 0);
	done_wait(&long_job, "a copy cancelled from a callback");
	done_wait(&f.after, "a copy submitted by the callback after its cancel");
	CHECK_OK(kcopyd_client_wait(kc));
	CHECK_EQ(f.cancel_ret, 0);
	CHECK_EQ(f.submit_ret, 0);
	CHECK_EQ(long_job.res.read_err, -ECANCELED);
	CHECK_EQ(long_job.res.write_err, 0);
	CHECK_EQ(f.after.res.read_err, 0);
	CHECK_EQ(f.after.res.write_err, 0);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d[0]);
	kcopyd_bdev_close(d[1]);
	written = whole_chunks(path[0], data, SIZE, SUB, "copy cancelled from a callback");
	if (written == SIZE / SUB)
		FAIL("the cancelled copy was written to its end");
	if (tu_cmp_files(path[1], 0, src, 0, SIZE))
		FAIL("the copy submitted after the cancel is wrong");
	tu_log("ok: cancel from a callback (%u of %llu sub-jobs written)", written,
	       (unsigned long long)(SIZE / SUB));
}

static void mid_flight(void)
{
	struct kcopyd_client *kc = tu_client(512);
	struct block_device *s = tu_open(src, O_RDONLY), *d;
	const char *path;
	struct io_region from = tu_region(s, 0, SIZE / 512), to;
	unsigned int cancelled = 0;

	d = fresh("mid", &path);
	to = tu_region(d, 0, SIZE / 512);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 4096));
	for (int run = 0; run < 30; run++) {
		struct done dn;

		tu_make_filled(path, SIZE, OLD);
		done_init(&dn);
		CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to, 0, done_cb, &dn));
		if (run % 10)
			nanosleep(&(struct timespec){ 0, (run % 10) * 100000 }, NULL);
		CHECK_OK(kcopyd_client_cancel(kc));
		done_wait(&dn, "a copy cancelled in flight");
		CHECK_OK(kcopyd_client_wait(kc));
		if (dn.res.read_err != -ECANCELED && dn.res.read_err != 0)
			FAIL("run %d: read_err %d", run, dn.res.read_err);
		CHECK_EQ(dn.res.write_err, 0);
		if (whole_chunks(path, data, SIZE, 4096, "copy cancelled in flight") == SIZE / 4096 &&
		    dn.res.read_err)
			FAIL("run %d: -ECANCELED, but the whole copy was written", run);
		check_first_missing(path, data, &dn.res, "copy cancelled in flight");
		cancelled += dn.res.read_err != 0;
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	if (!cancelled)
		FAIL("no run was cancelled before it finished");
	tu_log("ok: cancel in flight, %u of 30 runs cancelled", cancelled);
}

static void by_context(void)
{
	struct kcopyd_client *kc = tu_client(512);
	struct block_device *s = tu_open(src, O_RDONLY), *d[4];
	const char *path[4];
	struct io_region from = tu_region(s, 0, SIZE / 512), to[4];
	struct done dn[4];
	int other;

	CHECK_EQ(kcopyd_cancel(NULL, &other), -EINVAL);
	for (int i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "ctx%d", i);
		d[i] = fresh(name, &path[i]);
		to[i] = tu_region(d[i], 0, SIZE / 512);
		done_init(&dn[i]);
	}
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, SUB));
	CHECK_OK(kcopyd_client_set_rate(kc, 1));
	for (int i = 0; i < 3; i++)
		CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to[i], 0, done_cb, &dn[i]));
	nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	CHECK_OK(kcopyd_cancel(kc, &other));            /* no job has it */
	CHECK_OK(kcopyd_cancel(kc, &dn[1]));
	done_wait(&dn[1], "the throttled copy cancelled by its context");
	CHECK_EQ(dn[1].res.read_err, -ECANCELED);
	CHECK_EQ(dn[1].res.write_err, 0);
	nanosleep(&(struct timespec){ 0, 200000000 }, NULL);
	for (int i = 0; i < 3; i += 2) {
		pthread_mutex_lock(&dn[i].lock);
		if (dn[i].calls)
			FAIL("job %d, of another context, called back (read_err %d) at a cancel",
			     i, dn[i].res.read_err);
		pthread_mutex_unlock(&dn[i].lock);
	}
	/* The same context again, after the call: not cancelled. */
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to[3], 0, done_cb, &dn[1]));
	dn[1].calls = 0;
	CHECK_OK(kcopyd_client_set_rate(kc, 0));
	done_wait(&dn[0], "a copy of another context");
	done_wait(&dn[2], "a copy of another context");
	done_wait(&dn[1], "a copy submitted with the cancelled context after the cancel");
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(dn[i].res.read_err, 0);
		CHECK_EQ(dn[i].res.write_err, 0);
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	for (int i = 0; i < 4; i++)
		kcopyd_bdev_close(d[i]);
	for (int i = 0; i < 4; i += (i == 0 ? 2 : 1))
		if (tu_cmp_files(path[i], 0, src, 0, SIZE))
			FAIL("copy %d, not cancelled, is wrong", i);
	whole_chunks(path[1], data, SIZE, SUB, "copy cancelled by context");
	if (!tu_cmp_files(path[1], 0, src, 0, SIZE))
		FAIL("the cancelled copy was completed after all");
	tu_log("ok: kcopyd_cancel stops the jobs of one context only");
}

int main(void)
{
	tu_init("test-cancel");
	src = tu_path("src");
	data = tu_make_file(src, SIZE, 11, false);
	while_throttled();
	nothing_in_flight();
	from_callback();
	mid_flight();
	by_context();
	tu_pass();
}
