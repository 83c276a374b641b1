/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A real write error on one destination of three: destination 1 lives on a
 * 64 KiB tmpfs, sized (sparse) to the full job, so its writes fail with
 * ENOSPC once the tmpfs is full.
 *  - With KCOPYD_IGNORE_ERROR: destinations 0 and 2 are byte-identical to
 *    the source, write_err is exactly bit 1, read_err 0, and the _ex result
 *    has dest_errno[1] == -ENOSPC and 0 for the others.
 *  - Without it: the callback still arrives (nothing hangs), with bit 1 set
 *    and no other bit, read_err 0.
 * Also with a 1-page pool and with KCOPYD_WRITE_SEQ; the client keeps working
 * after the errors, and its stats count the write errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

#define SIZE (2 * TU_MIB + 3 * 512)
#define SECTORS (SIZE / 512)

static const char *src, *dst0, *dst2, *full;

static void reset(void)
{
	int fd;

	tu_make_filled(dst0, SIZE, 0x77);
	tu_make_filled(dst2, SIZE, 0x77);
	unlink(full);
	fd = open(full, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		FAIL("create %s: %s", full, strerror(errno));
	if (ftruncate(fd, SIZE) < 0)
		FAIL("truncate %s to %llu: %s", full, (unsigned long long)SIZE, strerror(errno));
	close(fd);
}

struct devs { struct block_device *s, *d[3]; };

static struct devs open_all(void)
{
	struct devs v;
	v.s = tu_open(src, O_RDONLY);
	v.d[0] = tu_open(dst0, O_RDWR);
	v.d[1] = tu_open(full, O_RDWR);
	v.d[2] = tu_open(dst2, O_RDWR);
	return v;
}

static void close_all(struct devs *v)
{
	unsigned int i;
	kcopyd_bdev_close(v->s);
	for (i = 0; i < 3; i++)
		kcopyd_bdev_close(v->d[i]);
}

static void with_ignore(struct kcopyd_client *kc, unsigned int flags, const char *what)
{
	struct devs v;
	struct io_region from, to[3];
	struct kcopyd_result res;
	unsigned int i;
	int re = -1;
	unsigned int we = 0;

	/* The notify API. */
	reset();
	v = open_all();
	from = tu_region(v.s, 0, SECTORS);
	for (i = 0; i < 3; i++)
		to[i] = tu_region(v.d[i], 0, SECTORS);
	CHECK_OK(tu_copy(kc, &from, 3, to, KCOPYD_IGNORE_ERROR | flags, &re, &we));
	close_all(&v);
	if (re != 0 || we != 2u)
		FAIL("%s, IGNORE_ERROR: read_err %d write_err %#x, expected 0 and 0x2", what, re, we);
	if (tu_cmp_files(dst0, 0, src, 0, SIZE) || tu_cmp_files(dst2, 0, src, 0, SIZE))
		FAIL("%s, IGNORE_ERROR: a healthy destination is not identical to the source", what);

	/* The _ex API: which errno, where. */
	reset();
	v = open_all();
	from = tu_region(v.s, 0, SECTORS);
	for (i = 0; i < 3; i++)
		to[i] = tu_region(v.d[i], 0, SECTORS);
	memset(&res, 0x55, sizeof(res));
	CHECK_OK(tu_copy_ex(kc, &from, 3, to, KCOPYD_IGNORE_ERROR | flags, &res));
	close_all(&v);
	if (res.read_err != 0 || res.write_err != 2u)
		FAIL("%s, IGNORE_ERROR, _ex: read_err %d write_err %#x, expected 0 and 0x2", what,
		     res.read_err, res.write_err);
	if (res.dest_errno[0] != 0 || res.dest_errno[1] != -ENOSPC || res.dest_errno[2] != 0)
		FAIL("%s, IGNORE_ERROR, _ex: dest_errno %d %d %d, expected 0 %d 0", what,
		     res.dest_errno[0], res.dest_errno[1], res.dest_errno[2], -ENOSPC);
	if (res.dest_err_sector[1] >= SECTORS)
		FAIL("%s: dest_err_sector[1] %llu is outside the region", what,
		     (unsigned long long)res.dest_err_sector[1]);
	tu_log("%s: destination 1 failed at sector %llu (tmpfs of 64 KiB)", what,
	       (unsigned long long)res.dest_err_sector[1]);
	if (tu_cmp_files(dst0, 0, src, 0, SIZE) || tu_cmp_files(dst2, 0, src, 0, SIZE))
		FAIL("%s, IGNORE_ERROR, _ex: a healthy destination is not identical", what);
}

static void without_ignore(struct kcopyd_client *kc, unsigned int flags, const char *what)
{
	struct devs v;
	struct io_region from, to[3];
	struct kcopyd_result res;
	unsigned int i;
	int re = -1;
	unsigned int we = 0;

	reset();
	v = open_all();
	from = tu_region(v.s, 0, SECTORS);
	for (i = 0; i < 3; i++)
		to[i] = tu_region(v.d[i], 0, SECTORS);
	CHECK_OK(tu_copy(kc, &from, 3, to, flags, &re, &we));
	if (re != 0 || we != 2u)
		FAIL("%s, no IGNORE_ERROR: read_err %d write_err %#x, expected 0 and 0x2",
		     what, re, we);

	memset(&res, 0x55, sizeof(res));
	CHECK_OK(tu_copy_ex(kc, &from, 3, to, flags, &res));
	close_all(&v);
	if (res.read_err != 0 || res.write_err != 2u || res.dest_errno[1] != -ENOSPC ||
	    res.dest_errno[0] != 0 || res.dest_errno[2] != 0)
		FAIL("%s, no IGNORE_ERROR, _ex: read_err %d write_err %#x dest_errno %d %d %d",
		     what, res.read_err, res.write_err, res.dest_errno[0], res.dest_errno[1],
		     res.dest_errno[2]);
}

static void still_works(struct kcopyd_client *kc)
{
	struct block_device *s = tu_open(src, O_RDONLY), *d = tu_open(dst0, O_RDWR);
	struct io_region from = tu_region(s, 5, 1000), to = tu_region(d, 9, 1000);
	struct kcopyd_stats st;

	tu_make_filled(dst0, SIZE, 0);
	tu_copy_ok(kc, &from, 1, &to, 0);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	if (tu_cmp_files(dst0, 9 * 512, src, 5 * 512, 1000 * 512))
		FAIL("a copy after the failed ones is wrong");
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (st.write_errors == 0)
		FAIL("stats.write_errors is 0 after failed writes");
	CHECK_EQ(st.read_errors, 0);
}

int main(void)
{
	struct kcopyd_client *kc;
	const char *mnt;

	tu_init("test-write-error");
	if (!tu_is_root())
		tu_skip("needs root to mount a small tmpfs");
	mnt = tu_tmpfs("size=64k");
	if (!mnt)
		tu_skip("cannot mount a tmpfs");
	src = tu_path("src");
	dst0 = tu_path("dst0");
	dst2 = tu_path("dst2");
	full = tu_path_in(mnt, "full");
	free(tu_make_file(src, SIZE, 21, false));

	kc = tu_client(256);
	with_ignore(kc, 0, "default pool");
	without_ignore(kc, 0, "default pool");
	/* WRITE_SEQ clears IGNORE_ERROR: it stops at the first error (test-write-seq-ignore). */
	without_ignore(kc, KCOPYD_WRITE_SEQ, "WRITE_SEQ");
	still_works(kc);
	kcopyd_client_destroy(kc);

	kc = tu_client(1);
	with_ignore(kc, 0, "1-page pool");
	without_ignore(kc, 0, "1-page pool");
	still_works(kc);
	kcopyd_client_destroy(kc);

	tu_pass();
}
