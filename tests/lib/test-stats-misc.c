/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The smaller extensions:
 *  - kcopyd_version() matches KCOPYD_VERSION_*;
 *  - kcopyd_client_stats: zeros on a new client, exact counts after a copy,
 *    a short size fills only that many bytes;
 *  - set_sub_job_size / set_queue_depth: range checks, -EBUSY while jobs run;
 *  - prepare_callback/do_callback: runs on the client's thread with the
 *    values given, counts as outstanding for kcopyd_client_wait;
 *  - set_rate: a 4 MiB copy (and a 4 MiB zero) at 8 MiB/s takes >= 0.35 s
 *    (0.5 s, less a burst of up to 1.2 MiB);
 *  - KCOPYD_SKIP_ZEROES: zero blocks (written or holes) become holes in a
 *    fresh sparse destination, the data is right, stats.bytes_skipped counts them;
 *  - kcopyd_bdev_* queries on a regular file, and open_ex BUFFERED/DIRECT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static const char *src;

static void version(void)
{
	char want[64];
	const char *v = kcopyd_version();

	snprintf(want, sizeof(want), "%d.%d.%d", KCOPYD_VERSION_MAJOR, KCOPYD_VERSION_MINOR,
		 KCOPYD_VERSION_MICRO);
	if (!v || strcmp(v, want) != 0)
		FAIL("kcopyd_version() is \"%s\", the header says %s", v ? v : "(null)", want);
}

static void stats(void)
{
	const uint64_t n = TU_MIB + 3 * 512;
	struct kcopyd_client *kc = tu_client(128);
	struct kcopyd_stats st, zero;
	struct block_device *s = tu_open(src, O_RDONLY), *d[2];
	struct io_region from = tu_region(s, 0, n / 512), to[2];
	unsigned char raw[sizeof(struct kcopyd_stats) + 16];
	size_t part = offsetof(struct kcopyd_stats, sub_jobs);
	size_t i;

	memset(&zero, 0, sizeof(zero));
	memset(&st, 0xff, sizeof(st));
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (memcmp(&st, &zero, sizeof(st)) != 0)
		FAIL("the stats of a new client are not all zero");

	tu_make_filled(tu_path("st0"), n, 0);
	tu_make_filled(tu_path("st1"), n, 0);
	d[0] = tu_open(tu_path("st0"), O_RDWR);
	d[1] = tu_open(tu_path("st1"), O_RDWR);
	to[0] = tu_region(d[0], 0, n / 512);
	to[1] = tu_region(d[1], 0, n / 512);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 65536));
	tu_copy_ok(kc, &from, 2, to, 0);
	CHECK_OK(kcopyd_client_wait(kc));
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	CHECK_EQ(st.jobs_submitted, 1);
	CHECK_EQ(st.jobs_completed, 1);
	CHECK_EQ(st.sub_jobs, (n + 65535) / 65536);
	CHECK_EQ(st.bytes_read, n);
	CHECK_EQ(st.bytes_written, 2 * n);
	CHECK_EQ(st.bytes_zeroed, 0);
	CHECK_EQ(st.bytes_skipped, 0);
	CHECK_EQ(st.read_errors, 0);
	CHECK_EQ(st.write_errors, 0);
	if (tu_cmp_files(tu_path("st0"), 0, src, 0, n) || tu_cmp_files(tu_path("st1"), 0, src, 0, n))
		FAIL("stats copy is wrong");

	/* A short size fills only that much. */
	memset(raw, 0xab, sizeof(raw));
	CHECK_OK(kcopyd_client_stats(kc, (struct kcopyd_stats *)(void *)raw, part));
	CHECK_EQ(((struct kcopyd_stats *)(void *)raw)->jobs_submitted, 1);
	for (i = part; i < sizeof(raw); i++)
		if (raw[i] != 0xab)
			FAIL("kcopyd_client_stats(size %zu) wrote byte %zu", part, i);

	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d[0]);
	kcopyd_bdev_close(d[1]);
}

static void tunables(void)
{
	struct kcopyd_client *kc = tu_client(64);
	struct block_device *s = tu_open(src, O_RDONLY), *d;
	const char *dst = tu_path("tun");
	struct io_region from, to;
	struct tu_event ev;
	int r;

	CHECK_EQ(kcopyd_client_set_sub_job_size(kc, 0), -EINVAL);
	CHECK_EQ(kcopyd_client_set_sub_job_size(kc, 1000), -EINVAL);
	CHECK_EQ(kcopyd_client_set_sub_job_size(kc, 4097), -EINVAL);
	CHECK_EQ(kcopyd_client_set_sub_job_size(kc, 4096 + 2048), -EINVAL);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 4096));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 3 * 4096));      /* rounded down */
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 64 * 1024 * 1024)); /* capped by the pool */
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 512 * 1024));
	CHECK_EQ(kcopyd_client_set_queue_depth(kc, 0), -EINVAL);
	CHECK_EQ(kcopyd_client_set_queue_depth(kc, 4097), -EINVAL);
	CHECK_EQ(kcopyd_client_set_queue_depth(kc, UINT32_MAX), -EINVAL);
	CHECK_OK(kcopyd_client_set_queue_depth(kc, 1));
	CHECK_OK(kcopyd_client_set_queue_depth(kc, 4096));
	CHECK_OK(kcopyd_client_set_queue_depth(kc, 3));

	/* A slow job: both tunables are -EBUSY until it is done. */
	tu_make_filled(dst, 2 * TU_MIB, 0);
	d = tu_open(dst, O_RDWR);
	from = tu_region(s, 0, 2 * TU_MIB / 512);
	to = tu_region(d, 0, 2 * TU_MIB / 512);
	CHECK_OK(kcopyd_client_set_rate(kc, TU_MIB));
	tu_event_init(&ev);
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, tu_event_notify, &ev));
	r = kcopyd_client_set_sub_job_size(kc, 65536);
	if (r != -EBUSY)
		FAIL("set_sub_job_size while a job runs returned %d, expected -EBUSY", r);
	r = kcopyd_client_set_queue_depth(kc, 8);
	if (r != -EBUSY)
		FAIL("set_queue_depth while a job runs returned %d, expected -EBUSY", r);
	CHECK_OK(kcopyd_client_set_rate(kc, 0));          /* unthrottle a running job */
	tu_event_wait(&ev);
	CHECK_EQ(ev.read_err, 0);
	CHECK_EQ(ev.write_err, 0);
	tu_event_destroy(&ev);
	if (tu_cmp_files(dst, 0, src, 0, 2 * TU_MIB))
		FAIL("the throttled copy is wrong");
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 65536));
	CHECK_OK(kcopyd_client_set_queue_depth(kc, 8));

	/* Depth 1 and 4 KiB sub-jobs still copy right. */
	CHECK_OK(kcopyd_client_set_queue_depth(kc, 1));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 4096));
	tu_make_filled(dst, 2 * TU_MIB, 0);
	from = tu_region(s, 1, 1001);
	to = tu_region(d, 3, 1001);
	tu_copy_ok(kc, &from, 1, &to, 0);
	if (tu_cmp_files(dst, 3 * 512, src, 512, 1001 * 512))
		FAIL("copy with depth 1, 4 KiB sub-jobs is wrong");
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
}

/* --- prepare_callback / do_callback -------------------------------------- */

struct prep {
	struct kcopyd_callback *cb;
	int ran;                                 /* atomic */
	int read_err;
	unsigned int write_err;
	pthread_t thread;
};

static void prep_done(int read_err, unsigned int write_err, void *context)
{
	struct prep *p = context;
	p->read_err = read_err;
	p->write_err = write_err;
	p->thread = pthread_self();
	__atomic_fetch_add(&p->ran, 1, __ATOMIC_RELEASE);
}

static void *trigger(void *arg)
{
	struct prep *p = arg;
	usleep(200 * 1000);
	kcopyd_do_callback(p->cb, -EIO, 5);
	return NULL;
}

static void prepared(void)
{
	struct kcopyd_client *kc = tu_client(4);
	struct block_device *s = tu_open(src, O_RDONLY), *d;
	struct io_region from, to;
	struct tu_event ev;
	struct prep p = { 0 };
	pthread_t t;

	/* The client's thread: where a copy's callback runs. */
	tu_make_filled(tu_path("prep"), 4096, 0);
	d = tu_open(tu_path("prep"), O_RDWR);
	from = tu_region(s, 0, 8);
	to = tu_region(d, 0, 8);
	tu_event_init(&ev);
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, tu_event_notify, &ev));
	tu_event_wait(&ev);

	CHECK_OK(kcopyd_prepare_callback(kc, prep_done, &p, &p.cb));
	CHECK(p.cb != NULL);
	usleep(50 * 1000);
	CHECK_EQ(__atomic_load_n(&p.ran, __ATOMIC_ACQUIRE), 0);  /* not before do_callback */
	if (pthread_create(&t, NULL, trigger, &p))
		FAIL("pthread_create");
	CHECK_OK(kcopyd_client_wait(kc));                         /* waits for it */
	if (__atomic_load_n(&p.ran, __ATOMIC_ACQUIRE) != 1)
		FAIL("kcopyd_client_wait returned before the prepared callback ran (ran %d)", p.ran);
	CHECK_EQ(p.read_err, -EIO);
	CHECK_EQ(p.write_err, 5);
	if (!pthread_equal(p.thread, ev.thread))
		FAIL("the prepared callback did not run on the client's thread");
	if (pthread_equal(p.thread, t) || pthread_equal(p.thread, pthread_self()))
		FAIL("the prepared callback ran on the triggering or the main thread");
	pthread_join(t, NULL);

	/* Triggered straight away, from this thread. */
	memset(&p, 0, sizeof(p));
	CHECK_OK(kcopyd_prepare_callback(kc, prep_done, &p, &p.cb));
	kcopyd_do_callback(p.cb, 0, 0);
	CHECK_OK(kcopyd_client_wait(kc));
	CHECK_EQ(__atomic_load_n(&p.ran, __ATOMIC_ACQUIRE), 1);
	if (!pthread_equal(p.thread, ev.thread))
		FAIL("the prepared callback did not run on the client's thread");
	tu_event_destroy(&ev);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
}

/* --- set_rate ------------------------------------------------------------- */

static void rate(void)
{
	const uint64_t n = 4 * TU_MIB;
	struct kcopyd_client *kc = tu_client(64);
	struct block_device *s = tu_open(src, O_RDONLY), *d;
	struct io_region from, to[2];
	double t0, copy_s, zero_s;

	tu_make_filled(tu_path("rate"), 2 * n, 0);
	d = tu_open(tu_path("rate"), O_RDWR);
	from = tu_region(s, 0, n / 512);
	to[0] = tu_region(d, 0, n / 512);
	to[1] = tu_region(d, n / 512, n / 512);
	CHECK_OK(kcopyd_client_set_rate(kc, 8 * TU_MIB));
	t0 = tu_now();
	tu_copy_ok(kc, &from, 2, to, 0);
	copy_s = tu_now() - t0;
	t0 = tu_now();
	CHECK_OK(tu_zero(kc, 1, to, 0, NULL, NULL));
	zero_s = tu_now() - t0;
	tu_log("4 MiB at 8 MiB/s: copy %.3f s, zero %.3f s", copy_s, zero_s);
	if (copy_s < 0.35)
		FAIL("a 4 MiB copy throttled to 8 MiB/s took %.3f s (expected >= 0.35 s)", copy_s);
	if (zero_s < 0.35)
		FAIL("a 4 MiB zero throttled to 8 MiB/s took %.3f s (expected >= 0.35 s)", zero_s);
	if (tu_cmp_files(tu_path("rate"), n, src, 0, n))
		FAIL("the throttled copy is wrong");
	CHECK_OK(kcopyd_client_set_rate(kc, 0));
	tu_copy_ok(kc, &from, 2, to, 0);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
}

/* --- KCOPYD_SKIP_ZEROES ---------------------------------------------------- */

static uint64_t data_from(const char *path, uint64_t off)
{
	int fd = open(path, O_RDONLY);
	off_t r;

	if (fd < 0)
		FAIL("open %s: %s", path, strerror(errno));
	r = lseek(fd, (off_t)off, SEEK_DATA);
	close(fd);
	return r < 0 ? UINT64_MAX : (uint64_t)r;
}

static void skip_zeroes(void)
{
	const uint64_t k = 256 * TU_KIB, n = 4 * k;
	const char *zsrc = tu_path("zsrc"), *zdst = tu_path("zdst"), *ctl = tu_path("zctl");
	struct kcopyd_client *kc = tu_client(64);
	struct block_device *s, *d;
	struct io_region from, to;
	struct kcopyd_stats st;
	uint8_t *data = malloc(n);
	uint64_t state = 3, ctl_data, dst_data;
	int fd;

	/* [0,k) random, [k,2k) written zeros, [2k,3k) a hole, [3k,4k) random. */
	if (!data)
		FAIL("out of memory");
	memset(data, 0, n);
	tu_random_fill(data, k, &state);
	tu_random_fill(data + 3 * k, k, &state);
	fd = open(zsrc, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || pwrite(fd, data, 2 * k, 0) != (ssize_t)(2 * k) ||
	    pwrite(fd, data + 3 * k, k, 3 * k) != (ssize_t)k)
		FAIL("writing %s: %s", zsrc, strerror(errno));
	close(fd);

	/* Control: without the flag, the zeros are written (allocated). */
	tu_make_filled(ctl, n, 0);
	s = tu_open(zsrc, O_RDONLY);
	d = tu_open(ctl, O_RDWR);
	from = tu_region(s, 0, n / 512);
	to = tu_region(d, 0, n / 512);
	tu_copy_ok(kc, &from, 1, &to, 0);
	kcopyd_bdev_close(d);
	ctl_data = data_from(ctl, k);

	tu_make_filled(zdst, n, 0);
	d = tu_open(zdst, O_RDWR);
	to = tu_region(d, 0, n / 512);
	tu_copy_ok(kc, &from, 1, &to, KCOPYD_SKIP_ZEROES);
	kcopyd_bdev_close(d);
	kcopyd_bdev_close(s);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	{
		uint8_t *got = tu_read_file(zdst, NULL);
		if (tu_cmp(got, data, n, 0, "SKIP_ZEROES copy"))
			FAIL("KCOPYD_SKIP_ZEROES: destination differs from the source");
		free(got);
	}
	if (st.bytes_skipped < 2 * k)
		FAIL("KCOPYD_SKIP_ZEROES: stats.bytes_skipped is %llu, expected >= %llu",
		     (unsigned long long)st.bytes_skipped, (unsigned long long)(2 * k));
	dst_data = data_from(zdst, k);
	if (ctl_data != k) {
		tu_log("this filesystem keeps written zeros as holes: hole check left out");
	} else if (dst_data < 3 * k) {
		FAIL("KCOPYD_SKIP_ZEROES: destination has data at %llu inside the zero range [%llu, %llu)",
		     (unsigned long long)dst_data, (unsigned long long)k, (unsigned long long)(3 * k));
	}
	kcopyd_client_destroy(kc);
	free(data);
}

static void bdev_queries(void)
{
	struct block_device *bd;
	const char *odd = tu_path("odd");

	free(tu_make_file(odd, 1000, 9, false));
	bd = tu_open(odd, O_RDWR);
	CHECK_EQ(kcopyd_bdev_size(bd), 1000);
	CHECK_EQ(kcopyd_bdev_sectors(bd), 2);
	CHECK_EQ(kcopyd_bdev_is_blockdev(bd), 0);
	CHECK(kcopyd_bdev_logical_block_size(bd) >= 512);
	CHECK(kcopyd_bdev_physical_block_size(bd) >= kcopyd_bdev_logical_block_size(bd));
	CHECK_OK(kcopyd_bdev_flush(bd));
	kcopyd_bdev_close(bd);

	CHECK_OK(kcopyd_bdev_open_ex(src, O_RDONLY, KCOPYD_BDEV_BUFFERED, &bd));
	CHECK_EQ(kcopyd_bdev_is_direct(bd), 0);
	kcopyd_bdev_close(bd);
	if (kcopyd_bdev_open_ex(src, O_RDONLY, KCOPYD_BDEV_DIRECT, &bd) == 0) {
		CHECK_EQ(kcopyd_bdev_is_direct(bd), 1);
		kcopyd_bdev_close(bd);
	} else {
		tu_log("O_DIRECT not supported in %s", tu_tmpdir());
	}
}

int main(void)
{
	tu_init("test-stats-misc");
	src = tu_path("src");
	free(tu_make_file(src, 4 * TU_MIB, 17, true));
	version();
	stats();
	tunables();
	prepared();
	rate();
	skip_zeroes();
	bdev_queries();
	tu_pass();
}
