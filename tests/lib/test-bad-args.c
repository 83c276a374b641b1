/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bad arguments: each call returns a negative errno of a sensible kind, no
 * callback ever runs (checked after kcopyd_client_wait) and no byte of any
 * destination changes.  The client still works afterwards.  Also:
 * destroy(NULL) and bdev_close(NULL) are no-ops, kcopyd_bdev_open fails on
 * missing paths and directories, kcopyd_client_wait from a callback returns
 * -EDEADLK, and kcopyd_client_destroy from a callback aborts (in a child).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define SIZE TU_MIB
#define SECTORS (SIZE / 512)

static const char *src_path, *dst_path, *dst2_path;
static uint8_t *src_orig, *dst_orig, *dst2_orig;
static int calls;                        /* callbacks that ran (atomic) */
static unsigned int nchecks;

static void count_cb(int read_err, unsigned int write_err, void *context)
{
	(void)read_err; (void)write_err; (void)context;
	__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
}

static void count_ex_cb(const struct kcopyd_result *res, void *context)
{
	(void)res; (void)context;
	__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
}

/* r must be one of the negative errnos listed (0-terminated). */
static void expect_errs(int r, const char *what, const int *allowed)
{
	char list[256] = "";
	size_t len = 0;
	int i;

	nchecks++;
	for (i = 0; allowed[i]; i++) {
		if (r == -allowed[i]) {
			tu_log("ok: %s -> %d (%s)", what, r, strerror(-r));
			return;
		}
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s-%d (%s)",
					i ? ", " : "", allowed[i], strerror(allowed[i]));
	}
	FAIL("%s returned %d%s%s, expected one of: %s", what, r, r < 0 ? " " : "",
	     r < 0 ? strerror(-r) : "", list);
}

#define EXPECT(expr, ...) do {                                          \
	static const int allowed_[] = { __VA_ARGS__, 0 };                \
	expect_errs((expr), #expr, allowed_);                            \
} while (0)

#define E_ARG EINVAL, EFAULT                                     /* NULL pointers */
#define E_RANGE EINVAL, ERANGE, EOVERFLOW, ENOSPC, ENXIO         /* past the end */
#define E_RO EBADF, EPERM, EACCES, EROFS, EINVAL                 /* read-only destination */

static void check_untouched(const char *when)
{
	uint8_t *s = tu_read_file(src_path, NULL), *d = tu_read_file(dst_path, NULL),
		*d2 = tu_read_file(dst2_path, NULL);

	if (tu_cmp(s, src_orig, SIZE, 0, "source") || tu_cmp(d, dst_orig, SIZE, 0, "destination") ||
	    tu_cmp(d2, dst2_orig, SIZE, 0, "destination 2"))
		FAIL("%s: a file was changed by a call that failed", when);
	free(s);
	free(d);
	free(d2);
}

/* --- kcopyd_client_destroy from a callback: message and abort ------------ */

static struct kcopyd_client *child_kc;

static void destroy_from_callback(int read_err, unsigned int write_err, void *context)
{
	(void)read_err; (void)write_err; (void)context;
	kcopyd_client_destroy(child_kc);
	fprintf(stderr, "kcopyd_client_destroy returned inside a callback\n");
	_exit(2);
}

static void destroy_in_callback_aborts(void)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		struct block_device *s, *d;
		struct io_region from, to;

		alarm(60);
		if (kcopyd_client_create(4, &child_kc) != 0 ||
		    kcopyd_bdev_open(src_path, O_RDONLY, &s) != 0 ||
		    kcopyd_bdev_open(dst2_path, O_RDWR, &d) != 0)
			_exit(3);
		from = tu_region(s, 0, 8);
		to = tu_region(d, 0, 8);
		if (kcopyd_copy(child_kc, &from, 1, &to, 0, destroy_from_callback, NULL) != 0)
			_exit(4);
		for (;;)
			pause();
	}
	if (waitpid(pid, &status, 0) != pid)
		FAIL("waitpid: %s", strerror(errno));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
		if (WIFSIGNALED(status))
			FAIL("kcopyd_client_destroy in a callback: child killed by signal %d,"
			     " expected SIGABRT", WTERMSIG(status));
		FAIL("kcopyd_client_destroy in a callback: child exited with status %d"
		     " (2: destroy returned, 1: hang caught by its watchdog), expected SIGABRT",
		     WEXITSTATUS(status));
	}
	tu_log("ok: kcopyd_client_destroy in a callback aborts");
	/* The child wrote sectors 0..7 of dst2 before aborting, maybe. */
	tu_write_file(dst2_path, dst2_orig, SIZE);
}

/* --- kcopyd_client_wait from a callback: -EDEADLK ------------------------ */

struct wait_ctx {
	struct kcopyd_client *kc;
	struct tu_event ev;
	int r;
};

static void wait_from_callback(int read_err, unsigned int write_err, void *context)
{
	struct wait_ctx *w = context;
	w->r = kcopyd_client_wait(w->kc);
	tu_event_notify(read_err, write_err, &w->ev);
}

static void wait_in_callback(struct kcopyd_client *kc, struct block_device *s,
			     struct block_device *d2)
{
	struct wait_ctx w = { .kc = kc, .r = 12345 };
	struct io_region from = tu_region(s, 0, 8), to = tu_region(d2, 0, 8);

	tu_event_init(&w.ev);
	CHECK_OK(kcopyd_copy(kc, &from, 1, &to, 0, wait_from_callback, &w));
	tu_event_wait(&w.ev);
	tu_event_destroy(&w.ev);
	if (w.r != -EDEADLK)
		FAIL("kcopyd_client_wait from a callback returned %d, expected -EDEADLK", w.r);
	tu_log("ok: kcopyd_client_wait in a callback -> -EDEADLK");
	CHECK_OK(kcopyd_client_wait(kc));
	tu_write_file(dst2_path, dst2_orig, SIZE);
}

static void bdev_open_errors(void)
{
	struct block_device *bd = NULL;
	const char *missing = tu_path("does-not-exist");

	EXPECT(kcopyd_bdev_open(missing, O_RDONLY, &bd), ENOENT);
	EXPECT(kcopyd_bdev_open(missing, O_RDWR, &bd), ENOENT);
	EXPECT(kcopyd_bdev_open(tu_tmpdir(), O_RDONLY, &bd), EISDIR, EINVAL, ENOTBLK, ENODEV);
	EXPECT(kcopyd_bdev_open(tu_tmpdir(), O_RDWR, &bd), EISDIR, EINVAL, ENOTBLK, ENODEV);
	EXPECT(kcopyd_bdev_open(NULL, O_RDONLY, &bd), E_ARG);
	EXPECT(kcopyd_bdev_open(src_path, O_RDONLY, NULL), E_ARG);
	EXPECT(kcopyd_bdev_open_ex(src_path, O_RDONLY, 1u << 20, &bd), EINVAL);
	EXPECT(kcopyd_bdev_open_ex(missing, O_RDWR, 0, &bd), ENOENT);
}

static void copy_errors(struct kcopyd_client *kc, struct block_device *s, struct block_device *d,
			struct block_device *d2, struct block_device *d_ro, struct block_device *d_twin)
{
	struct io_region from = tu_region(s, 0, 100), to = tu_region(d, 0, 100), nul = { NULL, 0, 100 };
	struct io_region from8 = tu_region(s, 0, 8);
	struct io_region many[KCOPYD_MAX_REGIONS + 1], three[3], two[2];
	unsigned int i;

	/* 33 destinations, each valid on its own. */
	for (i = 0; i < KCOPYD_MAX_REGIONS + 1; i++)
		many[i] = tu_region(d, i * 16, 8);

	EXPECT(kcopyd_copy(NULL, &from, 1, &to, 0, count_cb, NULL), E_ARG);
	EXPECT(kcopyd_copy(kc, NULL, 1, &to, 0, count_cb, NULL), E_ARG);
	EXPECT(kcopyd_copy(kc, &from, 1, NULL, 0, count_cb, NULL), E_ARG);
	EXPECT(kcopyd_copy(kc, &from, 1, &to, 0, NULL, NULL), E_ARG);
	EXPECT(kcopyd_copy(kc, &nul, 1, &to, 0, count_cb, NULL), E_ARG, EBADF);
	EXPECT(kcopyd_copy(kc, &from, 1, &nul, 0, count_cb, NULL), E_ARG, EBADF);
	EXPECT(kcopyd_copy(kc, &from, 0, &to, 0, count_cb, NULL), EINVAL);
	EXPECT(kcopyd_copy(kc, &from8, KCOPYD_MAX_REGIONS + 1, many, 0, count_cb, NULL), EINVAL, E2BIG);
	EXPECT(kcopyd_copy(kc, &from8, 1000, many, 0, count_cb, NULL), EINVAL, E2BIG);

	/* Regions past the end: source, destination, wrapping around. */
	{
		struct io_region f1 = tu_region(s, SECTORS - 1, 2), t1 = tu_region(d, 0, 2);
		struct io_region f2 = tu_region(s, SECTORS + 10, 1), t2 = tu_region(d, 0, 1);
		struct io_region f3 = tu_region(s, UINT64_MAX - 1, 4), t3 = tu_region(d, 0, 4);
		struct io_region f4 = tu_region(s, 0, 2), t4 = tu_region(d, SECTORS - 1, 2);
		struct io_region f5 = tu_region(s, 0, 4), t5 = tu_region(d, UINT64_MAX - 1, 4);
		struct io_region f6 = tu_region(s, 0, SECTORS + 1), t6 = tu_region(d, 0, SECTORS + 1);
		struct io_region f7 = tu_region(s, 0, UINT64_MAX), t7 = tu_region(d, 0, UINT64_MAX);

		EXPECT(kcopyd_copy(kc, &f1, 1, &t1, 0, count_cb, NULL), E_RANGE);
		EXPECT(kcopyd_copy(kc, &f2, 1, &t2, 0, count_cb, NULL), E_RANGE);
		EXPECT(kcopyd_copy(kc, &f3, 1, &t3, 0, count_cb, NULL), E_RANGE);
		EXPECT(kcopyd_copy(kc, &f4, 1, &t4, 0, count_cb, NULL), E_RANGE);
		EXPECT(kcopyd_copy(kc, &f5, 1, &t5, 0, count_cb, NULL), E_RANGE);
		EXPECT(kcopyd_copy(kc, &f6, 1, &t6, 0, count_cb, NULL), E_RANGE);
		EXPECT(kcopyd_copy(kc, &f7, 1, &t7, 0, count_cb, NULL), E_RANGE);
	}

	/* Destination count different from the source count. */
	{
		struct io_region shorter = tu_region(d, 0, 99), longer = tu_region(d, 0, 101);
		EXPECT(kcopyd_copy(kc, &from, 1, &shorter, 0, count_cb, NULL), EINVAL);
		EXPECT(kcopyd_copy(kc, &from, 1, &longer, 0, count_cb, NULL), EINVAL);
		three[0] = tu_region(d, 0, 100);
		three[1] = tu_region(d2, 0, 100);
		three[2] = tu_region(d, 200, 50);
		EXPECT(kcopyd_copy(kc, &from, 3, three, 0, count_cb, NULL), EINVAL);
	}

	/* A destination opened read-only, alone and as the 2nd of 3. */
	{
		struct io_region ro = tu_region(d_ro, 0, 100);
		EXPECT(kcopyd_copy(kc, &from, 1, &ro, 0, count_cb, NULL), E_RO);
		three[0] = tu_region(d, 0, 100);
		three[1] = tu_region(d_ro, 200, 100);
		three[2] = tu_region(d2, 0, 100);
		EXPECT(kcopyd_copy(kc, &from, 3, three, 0, count_cb, NULL), E_RO);
	}

	/* The last of three destinations past its end: nothing written to the others. */
	three[0] = tu_region(d, 0, 100);
	three[1] = tu_region(d2, 0, 100);
	three[2] = tu_region(d2, SECTORS - 50, 100);
	EXPECT(kcopyd_copy(kc, &from, 3, three, 0, count_cb, NULL), E_RANGE);

	/* Unknown flag bits. */
	EXPECT(kcopyd_copy(kc, &from, 1, &to, 1u << 3, count_cb, NULL), EINVAL);
	EXPECT(kcopyd_copy(kc, &from, 1, &to, 1u << 31, count_cb, NULL), EINVAL);
	EXPECT(kcopyd_copy(kc, &from, 1, &to, KCOPYD_IGNORE_ERROR | (1u << 9), count_cb, NULL), EINVAL);

	/* Destinations that overlap each other: same handle, a second handle
	 * of the same file, identical regions, one sector of overlap. */
	two[0] = tu_region(d, 0, 100);
	two[1] = tu_region(d, 50, 100);
	EXPECT(kcopyd_copy(kc, &from, 2, two, 0, count_cb, NULL), EINVAL);
	two[1] = tu_region(d, 0, 100);
	EXPECT(kcopyd_copy(kc, &from, 2, two, 0, count_cb, NULL), EINVAL);
	two[1] = tu_region(d, 99, 100);
	EXPECT(kcopyd_copy(kc, &from, 2, two, 0, count_cb, NULL), EINVAL);
	two[0] = tu_region(d, 500, 100);
	two[1] = tu_region(d_twin, 450, 100);
	EXPECT(kcopyd_copy(kc, &from, 2, two, 0, count_cb, NULL), EINVAL);
	three[0] = tu_region(d2, 0, 100);
	three[1] = tu_region(d, 1000, 100);
	three[2] = tu_region(d_twin, 1099, 100);
	EXPECT(kcopyd_copy(kc, &from, 3, three, KCOPYD_IGNORE_ERROR, count_cb, NULL), EINVAL);

	/* The _ex variants. */
	EXPECT(kcopyd_copy_ex(kc, &from, 1, &to, 0, NULL, NULL), E_ARG);
	EXPECT(kcopyd_copy_ex(NULL, &from, 1, &to, 0, count_ex_cb, NULL), E_ARG);
	EXPECT(kcopyd_copy_ex(kc, &from, 0, &to, 0, count_ex_cb, NULL), EINVAL);
	EXPECT(kcopyd_copy_ex(kc, &from8, KCOPYD_MAX_REGIONS + 1, many, 0, count_ex_cb, NULL), EINVAL, E2BIG);
	EXPECT(kcopyd_copy_ex(kc, &from, 1, &to, 1u << 3, count_ex_cb, NULL), EINVAL);
}

static void zero_errors(struct kcopyd_client *kc, struct block_device *d, struct block_device *d2,
			struct block_device *d_ro, struct block_device *d_twin)
{
	struct io_region to = tu_region(d, 0, 100), nul = { NULL, 0, 100 };
	struct io_region many[KCOPYD_MAX_REGIONS + 1], two[2], three[3];
	struct io_region past = tu_region(d, SECTORS - 1, 2), wrap = tu_region(d, UINT64_MAX, 2);
	struct io_region ro = tu_region(d_ro, 0, 100);
	unsigned int i;

	for (i = 0; i < KCOPYD_MAX_REGIONS + 1; i++)
		many[i] = tu_region(d, i * 16, 8);
	EXPECT(kcopyd_zero(NULL, 1, &to, 0, count_cb, NULL), E_ARG);
	EXPECT(kcopyd_zero(kc, 1, NULL, 0, count_cb, NULL), E_ARG);
	EXPECT(kcopyd_zero(kc, 1, &to, 0, NULL, NULL), E_ARG);
	EXPECT(kcopyd_zero(kc, 1, &nul, 0, count_cb, NULL), E_ARG, EBADF);
	EXPECT(kcopyd_zero(kc, 0, &to, 0, count_cb, NULL), EINVAL);
	EXPECT(kcopyd_zero(kc, KCOPYD_MAX_REGIONS + 1, many, 0, count_cb, NULL), EINVAL, E2BIG);
	EXPECT(kcopyd_zero(kc, 1, &past, 0, count_cb, NULL), E_RANGE);
	EXPECT(kcopyd_zero(kc, 1, &wrap, 0, count_cb, NULL), E_RANGE);
	EXPECT(kcopyd_zero(kc, 1, &ro, 0, count_cb, NULL), E_RO);
	EXPECT(kcopyd_zero(kc, 1, &to, 1u << 3, count_cb, NULL), EINVAL);
	EXPECT(kcopyd_zero(kc, 1, &to, 1u << 31, count_cb, NULL), EINVAL);
	two[0] = tu_region(d, 0, 100);
	two[1] = tu_region(d_twin, 99, 100);
	EXPECT(kcopyd_zero(kc, 2, two, 0, count_cb, NULL), EINVAL);
	three[0] = tu_region(d2, 0, 100);
	three[1] = tu_region(d, 0, 100);
	three[2] = tu_region(d2, SECTORS - 99, 100);
	EXPECT(kcopyd_zero(kc, 3, three, KCOPYD_IGNORE_ERROR, count_cb, NULL), E_RANGE);
	three[2] = tu_region(d_ro, 500, 100);
	EXPECT(kcopyd_zero(kc, 3, three, KCOPYD_IGNORE_ERROR, count_cb, NULL), E_RO);
	/* Zero destinations of different sizes: the job's size would be ambiguous. */
	three[2] = tu_region(d2, 500, 99);
	EXPECT(kcopyd_zero(kc, 3, three, 0, count_cb, NULL), EINVAL);
	EXPECT(kcopyd_zero_ex(kc, 1, &to, 0, NULL, NULL), E_ARG);
	EXPECT(kcopyd_zero_ex(NULL, 1, &to, 0, count_ex_cb, NULL), E_ARG);
	EXPECT(kcopyd_zero_ex(kc, 1, &past, 0, count_ex_cb, NULL), E_RANGE);
}

static void client_errors(struct kcopyd_client *kc)
{
	struct kcopyd_client *none = NULL;
	struct kcopyd_callback *cb = NULL;
	struct kcopyd_stats st;

	EXPECT(kcopyd_client_create(0, &none), EINVAL);
	CHECK(none == NULL);
	EXPECT(kcopyd_client_create(4, NULL), E_ARG);
	EXPECT(kcopyd_client_wait(NULL), E_ARG);
	EXPECT(kcopyd_client_stats(NULL, &st, sizeof(st)), E_ARG);
	EXPECT(kcopyd_client_stats(kc, NULL, sizeof(st)), E_ARG);
	EXPECT(kcopyd_client_set_sub_job_size(NULL, 65536), E_ARG);
	EXPECT(kcopyd_client_set_queue_depth(NULL, 8), E_ARG);
	EXPECT(kcopyd_client_set_rate(NULL, 1000000), E_ARG);
	EXPECT(kcopyd_prepare_callback(NULL, count_cb, NULL, &cb), E_ARG);
	EXPECT(kcopyd_prepare_callback(kc, NULL, NULL, &cb), E_ARG);
	EXPECT(kcopyd_prepare_callback(kc, count_cb, NULL, NULL), E_ARG);
	kcopyd_client_destroy(NULL);
	kcopyd_bdev_close(NULL);
	tu_log("ok: kcopyd_client_destroy(NULL) and kcopyd_bdev_close(NULL) are no-ops");
}

int main(void)
{
	struct kcopyd_client *kc;
	struct block_device *s, *d, *d2, *d_ro, *d_twin;

	tu_init("test-bad-args");
	src_path = tu_path("src");
	dst_path = tu_path("dst");
	dst2_path = tu_path("dst2");
	src_orig = tu_make_file(src_path, SIZE, 1, true);
	dst_orig = tu_make_file(dst_path, SIZE, 2, false);
	dst2_orig = tu_make_file(dst2_path, SIZE, 3, false);

	/* Before this process has any thread: fork() then is clean. */
	destroy_in_callback_aborts();

	bdev_open_errors();
	kc = tu_client(16);
	s = tu_open(src_path, O_RDONLY);
	d = tu_open(dst_path, O_RDWR);
	d2 = tu_open(dst2_path, O_RDWR);
	d_ro = tu_open(dst_path, O_RDONLY);
	d_twin = tu_open(dst_path, O_RDWR);

	client_errors(kc);
	copy_errors(kc, s, d, d2, d_ro, d_twin);
	zero_errors(kc, d, d2, d_ro, d_twin);

	CHECK_OK(kcopyd_client_wait(kc));
	usleep(100 * 1000);                   /* a late callback would show up here */
	CHECK_OK(kcopyd_client_wait(kc));
	if (__atomic_load_n(&calls, __ATOMIC_RELAXED) != 0)
		FAIL("%d callbacks ran for calls that returned an error", calls);
	check_untouched("after every bad call");
	tu_log("%u bad calls refused, no callback, nothing written", nchecks);

	wait_in_callback(kc, s, d2);

	/* The client still works after all of that. */
	{
		struct io_region from = tu_region(s, 10, 300), to = tu_region(d2, 20, 300);
		tu_copy_ok(kc, &from, 1, &to, 0);
		if (tu_cmp_files(dst2_path, 20 * 512, src_path, 10 * 512, 300 * 512))
			FAIL("a good copy after the bad ones is wrong");
	}

	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	kcopyd_bdev_close(d2);
	kcopyd_bdev_close(d_ro);
	kcopyd_bdev_close(d_twin);
	free(src_orig);
	free(dst_orig);
	free(dst2_orig);
	tu_pass();
}
