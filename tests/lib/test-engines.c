/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Both I/O engines: with KCOPYD_ENGINE=threads and =io_uring set before
 * kcopyd_client_create, kcopyd_client_engine() names that engine and a copy
 * (3 destinations, odd offsets, a sparse source), a zero and a write-error
 * free multi-job run give identical bytes.  Without the variable, a client
 * uses io_uring where the kernel allows it.  io_uring parts are skipped (not
 * failed) where io_uring_setup is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testutil.h"

#define SIZE (2 * TU_MIB + 5 * 512)
#define SECTORS (SIZE / 512)

static const char *src;
static uint8_t *data;

static bool io_uring_usable(void)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0) {
		tu_log("io_uring_setup: %s", strerror(errno));
		return false;
	}
	close((int)fd);
	return true;
}

static void copy_and_check(struct kcopyd_client *kc, const char *engine)
{
	struct block_device *s = tu_open(src, O_RDONLY), *d[3];
	struct io_region from = tu_region(s, 3, SECTORS - 3), to[3];
	const char *path[3];
	char name[64];
	unsigned int i;
	int re = -1;
	unsigned int we = ~0u;

	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%s-%u", engine, i);
		path[i] = tu_path(name);
		tu_make_filled(path[i], SIZE + 4096, 0x44);
		d[i] = tu_open(path[i], O_RDWR);
		to[i] = tu_region(d[i], i * 3, SECTORS - 3);
	}
	tu_copy_ok(kc, &from, 3, to, 0);
	for (i = 0; i < 3; i++) {
		uint8_t *got = tu_read_file(path[i], NULL);
		uint64_t lo = i * 3 * 512, hi = lo + (SECTORS - 3) * 512;
		if (tu_cmp_byte(got, 0x44, lo, 0, "before") ||
		    tu_cmp(got + lo, data + 3 * 512, hi - lo, lo, "copy") ||
		    tu_cmp_byte(got + hi, 0x44, SIZE + 4096 - hi, hi, "after"))
			FAIL("engine %s: destination %u is wrong", engine, i);
		free(got);
	}

	/* Zero an odd range of destination 0 and check it. */
	{
		struct io_region z = tu_region(d[0], 11, 2011);
		uint8_t *got;

		CHECK_OK(tu_zero(kc, 1, &z, 0, &re, &we));
		CHECK_EQ(re, 0);
		CHECK_EQ(we, 0);
		got = tu_read_file(path[0], NULL);
		if (tu_cmp(got, data + 3 * 512, 11 * 512, 0, "before zero") ||
		    tu_cmp_byte(got + 11 * 512, 0, 2011 * 512, 11 * 512, "zeroed") ||
		    tu_cmp(got + 2022 * 512, data + (2022 + 3) * 512, (SECTORS - 3 - 2022) * 512,
			   2022 * 512, "after zero"))
			FAIL("engine %s: kcopyd_zero is wrong", engine);
		free(got);
	}
	kcopyd_bdev_close(s);
	for (i = 0; i < 3; i++)
		kcopyd_bdev_close(d[i]);
}

static void with_engine(const char *engine)
{
	struct kcopyd_client *kc;
	const char *got;

	if (setenv("KCOPYD_ENGINE", engine, 1) != 0)
		FAIL("setenv");
	kc = tu_client(32);
	got = kcopyd_client_engine(kc);
	if (!got || strcmp(got, engine) != 0)
		FAIL("KCOPYD_ENGINE=%s: kcopyd_client_engine() says %s", engine, got ? got : "(null)");
	copy_and_check(kc, engine);
	kcopyd_client_destroy(kc);
	tu_log("engine %s: ok", engine);
}

int main(void)
{
	const char *saved = getenv("KCOPYD_ENGINE");
	char *restore = saved ? strdup(saved) : NULL;
	struct kcopyd_client *kc;
	const char *got;
	bool uring;

	tu_init("test-engines");
	uring = io_uring_usable();
	src = tu_path("src");
	data = tu_make_file(src, SIZE, 6, true);

	with_engine("threads");
	if (uring)
		with_engine("io_uring");
	else
		tu_log("io_uring is not available here: io_uring engine left out");

	/* The default. */
	unsetenv("KCOPYD_ENGINE");
	kc = tu_client(8);
	got = kcopyd_client_engine(kc);
	if (!got || strcmp(got, uring ? "io_uring" : "threads") != 0)
		FAIL("default engine is %s, expected %s", got ? got : "(null)",
		     uring ? "io_uring" : "threads");
	copy_and_check(kc, "default");
	kcopyd_client_destroy(kc);

	if (restore)
		setenv("KCOPYD_ENGINE", restore, 1);
	free(restore);
	free(data);
	tu_pass();
}
