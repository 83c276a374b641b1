/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * No public function changes errno (kcopyd(3): "none of them sets errno"):
 * errno is set to a sentinel before each call, on success and on failure
 * paths (a missing file, a directory, a character device, O_DIRECT refused,
 * a pool too large to map, an unknown engine, -EBUSY, -EINVAL), and must
 * still hold it after.  Every function of the API is called at least once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define SENTINEL 4242

/* Run call with errno set to the sentinel; it must leave it so. */
#define KEEPS(call) do {                                                     \
	errno = SENTINEL;                                                    \
	(void)(call);                                                        \
	if (errno != SENTINEL)                                               \
		FAIL("%s changed errno to %d (%s)", #call, errno, strerror(errno)); \
} while (0)

static int calls;

static void notify(int read_err, unsigned int write_err, void *context)
{
	(void)read_err;
	(void)write_err;
	(void)context;
	__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
}

static void result(const struct kcopyd_result *res, void *context)
{
	(void)res;
	(void)context;
	__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
}

static void create_failures(void)
{
	struct kcopyd_client *kc = NULL;
	const char *engine = getenv("KCOPYD_ENGINE");
	char *keep = engine ? strdup(engine) : NULL;

	KEEPS(kcopyd_client_create(0, &kc));
	KEEPS(kcopyd_client_create(1, NULL));
	/* 16 TiB of pool: the mapping fails (ENOMEM) and sets errno inside. */
	KEEPS(kcopyd_client_create(UINT32_MAX - 1, &kc));
	setenv("KCOPYD_ENGINE", "no-such-engine", 1);
	KEEPS(kcopyd_client_create(16, &kc));
	if (keep)
		setenv("KCOPYD_ENGINE", keep, 1);
	else
		unsetenv("KCOPYD_ENGINE");
	free(keep);
}

static void bdev_calls(const char *file, const char *ro)
{
	struct block_device *bd = NULL;
	const char *dir = tu_tmpdir();
	const char *shm = tu_mkdtemp("/dev/shm");

	KEEPS(kcopyd_bdev_open(tu_path("missing"), O_RDONLY, &bd));           /* -ENOENT */
	KEEPS(kcopyd_bdev_open(dir, O_RDONLY, &bd));                         /* -EISDIR */
	KEEPS(kcopyd_bdev_open("/dev/null", O_RDWR, &bd));                   /* -ENODEV */
	KEEPS(kcopyd_bdev_open(file, O_WRONLY, &bd));                        /* -EINVAL */
	KEEPS(kcopyd_bdev_open(NULL, O_RDONLY, &bd));
	if (!tu_is_root())
		KEEPS(kcopyd_bdev_open(ro, O_RDWR, &bd));                    /* -EACCES */
	if (shm) {
		const char *p = tu_path_in(shm, "f");

		tu_make_filled(p, 8192, 1);
		/* O_DIRECT may be refused on tmpfs (before Linux 6.6): -EINVAL
		 * after a failed open. */
		bd = NULL;
		KEEPS(kcopyd_bdev_open_ex(p, O_RDWR, KCOPYD_BDEV_DIRECT, &bd));
		kcopyd_bdev_close(bd);
		KEEPS(kcopyd_bdev_open_ex(p, O_RDWR, KCOPYD_BDEV_BUFFERED, &bd));
		KEEPS(kcopyd_bdev_close(bd));
	}
	KEEPS(kcopyd_bdev_open_ex(file, O_RDONLY, ~0u, &bd));
	KEEPS(kcopyd_bdev_open(file, O_RDWR, &bd));
	KEEPS(kcopyd_bdev_sectors(bd));
	KEEPS(kcopyd_bdev_size(bd));
	KEEPS(kcopyd_bdev_logical_block_size(bd));
	KEEPS(kcopyd_bdev_physical_block_size(bd));
	KEEPS(kcopyd_bdev_is_blockdev(bd));
	KEEPS(kcopyd_bdev_is_direct(bd));
	KEEPS(kcopyd_bdev_can_zero(bd));
	KEEPS(kcopyd_bdev_flush(bd));
	KEEPS(kcopyd_bdev_flush(NULL));
	KEEPS(kcopyd_bdev_close(bd));
	KEEPS(kcopyd_bdev_close(NULL));
	KEEPS(kcopyd_bdev_sectors(NULL));
}

static void client_calls(const char *file, const char *ro)
{
	struct kcopyd_client *kc = NULL;
	struct block_device *s = tu_open(file, O_RDONLY), *d, *r;
	struct io_region from, to, bad;
	struct kcopyd_callback *cb = NULL;
	struct kcopyd_stats st;

	tu_make_filled(tu_path("dst"), TU_MIB, 0);
	d = tu_open(tu_path("dst"), O_RDWR);
	r = tu_open(ro, O_RDONLY);
	from = tu_region(s, 0, TU_MIB / 512);
	to = tu_region(d, 0, TU_MIB / 512);
	bad = tu_region(r, 0, TU_MIB / 512);

	KEEPS(kcopyd_client_create(64, &kc));
	CHECK(kc != NULL);
	KEEPS(kcopyd_client_engine(kc));
	KEEPS(kcopyd_version());
	KEEPS(kcopyd_client_set_sub_job_size(kc, 64 * 1024));
	KEEPS(kcopyd_client_set_sub_job_size(kc, 1000));                    /* -EINVAL */
	KEEPS(kcopyd_client_set_queue_depth(kc, 8));
	KEEPS(kcopyd_client_set_queue_depth(kc, 0));
	KEEPS(kcopyd_client_set_rate(kc, 0));
	KEEPS(kcopyd_client_set_rate(NULL, 0));
	KEEPS(kcopyd_client_stats(kc, &st, sizeof(st)));
	KEEPS(kcopyd_client_stats(NULL, &st, sizeof(st)));

	KEEPS(kcopyd_copy(kc, &from, 1, &bad, 0, notify, NULL));            /* -EBADF */
	KEEPS(kcopyd_copy(kc, NULL, 1, &to, 0, notify, NULL));
	KEEPS(kcopyd_copy(kc, &from, 1, &to, 0, notify, NULL));
	KEEPS(kcopyd_copy_ex(kc, &from, 1, &to, 0, result, NULL));
	KEEPS(kcopyd_copy_ex(kc, &from, 1, &to, 1u << 30, result, NULL));    /* -EINVAL */
	KEEPS(kcopyd_zero(kc, 1, &to, 0, notify, NULL));
	KEEPS(kcopyd_zero(kc, 1, &bad, 0, notify, NULL));
	KEEPS(kcopyd_zero_ex(kc, 1, &to, 0, result, NULL));
	KEEPS(kcopyd_client_set_sub_job_size(kc, 4096));                   /* maybe -EBUSY */
	KEEPS(kcopyd_client_cancel(kc));
	KEEPS(kcopyd_client_cancel(NULL));
	KEEPS(kcopyd_prepare_callback(kc, notify, NULL, &cb));
	KEEPS(kcopyd_prepare_callback(kc, NULL, NULL, &cb));
	KEEPS(kcopyd_do_callback(cb, 0, 0));
	KEEPS(kcopyd_do_callback(NULL, 0, 0));
	KEEPS(kcopyd_client_wait(kc));
	KEEPS(kcopyd_client_wait(NULL));
	CHECK_EQ(__atomic_load_n(&calls, __ATOMIC_RELAXED), 5);
	KEEPS(kcopyd_client_destroy(kc));
	KEEPS(kcopyd_client_destroy(NULL));
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	kcopyd_bdev_close(r);
}

int main(void)
{
	const char *file, *ro;

	tu_init("test-errno");
	file = tu_path("src");
	ro = tu_path("ro");
	free(tu_make_file(file, TU_MIB, 7, false));
	tu_make_filled(ro, TU_MIB, 3);
	CHECK(chmod(ro, 0444) == 0);
	bdev_calls(file, ro);
	create_failures();
	client_calls(file, ro);
	tu_pass();
}
