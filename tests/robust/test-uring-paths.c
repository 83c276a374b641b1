/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The io_uring paths that only older kernels take, forced with
 * KCOPYD_TEST_URING (read when a client is created):
 *   noextarg  no IORING_FEAT_EXT_ARG: a timed wait is a wait for a
 *             timerfd read armed on the ring, whose completions the
 *             engine must skip (they are no I/O of ours);
 *   cqsmall   a ring of 4 SQ and 8 CQ entries under 64 sub-jobs to 3
 *             destinations: the CQ overflows;
 *   ebusy     every other io_uring_enter that submits fails with -EBUSY
 *             first, in the wait and with the SQ full;
 *   nodrop    no IORING_FEAT_NODROP: requests beyond the CQ's room are
 *             held back (with cqsmall, checked: almost all the time);
 * and all of them at once; and
 *   noprobe   no opcode probe (kernels before 5.6, which lack the plain
 *             read and write): the client falls back to the thread engine
 *             by itself, and a forced io_uring engine is -ENOSYS.  Each runs a throttled copy to 3 destinations
 * (timed waits), an unthrottled one, a zeroing job and a copy whose reads
 * fail with -EAGAIN a fifth of the time (the retry timer), compares every
 * byte, and checks that the forced path was taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault.h"
#include "internal.h"
#include "rutil.h"

/* What it checks is how the client's own thread waits: never in loop mode. */
#undef kcopyd_client_create
#undef kcopyd_client_destroy

#define BYTES (3u * RU_MIB)
#define SUB (64u * 1024)

static char src_path[512], dst_path[3][512];
static uint8_t *src_data, *old_data, *zeros;

static void expect(const char *path, const uint8_t *want, const char *what)
{
	uint8_t *got = ru_malloc(BYTES);
	long at;

	ru_pread(path, got, BYTES, 0);
	at = ru_diff(got, want, BYTES);
	if (at >= 0)
		FAIL("%s: %s differs at byte %ld", what, path, at);
	free(got);
}

static void copy3(struct kcopyd_client *kc, struct block_device *src, const char *what)
{
	struct block_device *d[3];
	struct io_region from = { src, 0, BYTES / 512 }, to[3];
	struct kcopyd_result res;

	for (unsigned int i = 0; i < 3; i++) {
		ru_write_file(dst_path[i], old_data, BYTES);
		d[i] = ru_open(dst_path[i], O_RDWR, 0);
		to[i] = (struct io_region){ d[i], 0, BYTES / 512 };
	}
	CHECK_OK(ru_copy_sync(kc, &from, 3, to, 0, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	for (unsigned int i = 0; i < 3; i++) {
		kcopyd_bdev_close(d[i]);
		expect(dst_path[i], src_data, what);
	}
}

static void run(const char *mode)
{
	struct kcopyd_client *kc;
	struct block_device *src, *fsrc, *d[3];
	struct io_region to[3];
	struct kcopyd_result res;
	struct kc_uring_counts n;
	struct kc_fault_config cfg = { .fail_ppm = 200000, .fail_error = -EAGAIN, .seed = 9 };
	int ret;

	ru_set_context("KCOPYD_TEST_URING=%s", mode);
	setenv("KCOPYD_TEST_URING", mode, 1);
	setenv("KCOPYD_ENGINE", "io_uring", 1);
	ret = kcopyd_client_create(2048, &kc);
	unsetenv("KCOPYD_TEST_URING");
	if (ret == -EPERM || ret == -ENOSYS)
		ru_skip("no io_uring here (%s)", strerror(-ret));
	CHECK_OK(ret);
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, SUB));
	src = ru_open(src_path, O_RDONLY, 0);

	CHECK_OK(kcopyd_client_set_rate(kc, 12 * RU_MIB));     /* about 0.25 s: timed waits */
	copy3(kc, src, "throttled copy");
	CHECK_OK(kcopyd_client_set_rate(kc, 0));
	copy3(kc, src, "copy");

	fsrc = ru_fault_open(src_path, O_RDONLY, &cfg);
	copy3(kc, fsrc, "copy with transient -EAGAIN");
	kcopyd_bdev_close(fsrc);

	for (unsigned int i = 0; i < 3; i++) {
		d[i] = ru_open(dst_path[i], O_RDWR, 0);
		to[i] = (struct io_region){ d[i], 0, BYTES / 512 };
	}
	CHECK_OK(ru_zero_sync(kc, 3, to, 0, &res));
	CHECK_EQ(res.write_err, 0);
	for (unsigned int i = 0; i < 3; i++) {
		kcopyd_bdev_close(d[i]);
		expect(dst_path[i], zeros, "zeroing");
	}

	kc_uring_counts(kc, &n);
	ru_log("%s: %" PRIu64 " -EBUSY, %" PRIu64 " held, %" PRIu64 " timed waits, %" PRIu64
	       " timer reads, %" PRIu64 " overflows", mode, n.ebusy, n.held,
	       n.timed_waits, n.timeout_cqes, n.overflows);
	if (strstr(mode, "ebusy") && !n.ebusy)
		FAIL("ebusy: no submit failed with -EBUSY");
	if (strstr(mode, "nodrop") && strstr(mode, "cqsmall") && !n.held)
		FAIL("nodrop with cqsmall: no request was held back");
	if (strstr(mode, "noextarg") && !n.timeout_cqes)
		FAIL("noextarg: no timer read completed");
	if (strstr(mode, "noextarg") && !n.timed_waits)
		FAIL("noextarg: no timed wait");
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	ru_log("ok: %s", mode);
}

static void no_probe(void)
{
	struct kcopyd_client *kc;
	struct block_device *src;

	ru_set_context("KCOPYD_TEST_URING=noprobe");
	setenv("KCOPYD_TEST_URING", "noprobe", 1);
	setenv("KCOPYD_ENGINE", "io_uring", 1);
	CHECK_EQ(kcopyd_client_create(64, &kc), -ENOSYS);
	unsetenv("KCOPYD_ENGINE");
	CHECK_OK(kcopyd_client_create(2048, &kc));
	unsetenv("KCOPYD_TEST_URING");
	if (strcmp(kcopyd_client_engine(kc), "threads") != 0)
		FAIL("noprobe: the engine is %s, expected threads", kcopyd_client_engine(kc));
	src = ru_open(src_path, O_RDONLY, 0);
	copy3(kc, src, "copy on the fallback engine");
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	ru_log("ok: noprobe");
}

int main(void)
{
	ru_init("test-uring-paths", 120);
	snprintf(src_path, sizeof(src_path), "%s", ru_path("src"));
	for (unsigned int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "d%u", i);
		snprintf(dst_path[i], sizeof(dst_path[i]), "%s", ru_path(name));
	}
	src_data = ru_malloc(BYTES);
	old_data = ru_malloc(BYTES);
	zeros = calloc(1, BYTES);
	if (!zeros)
		FAIL("out of memory");
	ru_fill_data(src_data, BYTES, 5);
	ru_fill_old(old_data, BYTES, 6);
	ru_write_file(src_path, src_data, BYTES);
	run("noextarg");
	run("cqsmall");
	run("ebusy");
	run("nodrop");
	run("cqsmall,nodrop");
	run("noextarg,cqsmall,ebusy,nodrop");
	no_probe();
	ru_pass();
}
