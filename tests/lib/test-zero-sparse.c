/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Zeroing never allocates: a zeroed range of a file is a hole afterwards,
 * on tmpfs and on the disk file system of the temp dir, with many
 * sub-jobs in flight (where a failing fast path must not switch off the
 * one that works), and with two clients zeroing the two halves of one
 * shared device at once (run it under TSan: the capability flags).
 *  - a 4 MiB file full of data, zeroed by one client and by two clients:
 *    it reads as zeros and holds at most 64 KiB of blocks afterwards;
 *  - a sparse file whose holes are zeroed: it does not grow;
 *  - (root) a loop device over a sparse 4 MiB file with 1 MiB of data,
 *    zeroed whole: it reads as zeros, and its backing file keeps no more
 *    than 64 KiB of blocks (the kernel's write-zeroes with unmap: a hole
 *    punched in the backing file) -- left out where the loop device has no
 *    write-zeroes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define SIZE (4 * TU_MIB)
#define S (64 * 1024u)
#define SLACK (64 * 1024u)       /* metadata blocks a file system may keep */

static uint8_t *data, *zeros;

static uint64_t allocated(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		FAIL("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_blocks * 512;
}

static struct kcopyd_client *client(void)
{
	struct kcopyd_client *kc = tu_client(SIZE / 4096);

	CHECK_OK(kcopyd_client_set_sub_job_size(kc, S));
	return kc;
}

struct zjob {
	struct tu_event ev;
	struct kcopyd_result res;
};

static void zjob_done(const struct kcopyd_result *res, void *context)
{
	struct zjob *z = context;

	z->res = *res;
	tu_event_notify(res->read_err, res->write_err, &z->ev);
}

/* Zero [off, off + len) of bd with nclients clients at once, each a share. */
static void zero_shared(struct block_device *bd, uint64_t off, uint64_t len, unsigned int nclients,
			const char *what)
{
	struct kcopyd_client *kc[2];
	struct zjob z[2];

	for (unsigned int i = 0; i < nclients; i++) {
		kc[i] = client();
		tu_event_init(&z[i].ev);
	}
	for (unsigned int i = 0; i < nclients; i++) {
		uint64_t part = len / nclients;
		struct io_region r = tu_region(bd, (off + i * part) / 512, part / 512);

		CHECK_OK(kcopyd_zero_ex(kc[i], 1, &r, 0, zjob_done, &z[i]));
	}
	for (unsigned int i = 0; i < nclients; i++) {
		tu_event_wait(&z[i].ev);
		if (z[i].res.read_err || z[i].res.write_err)
			FAIL("%s: client %u: read_err %d write_err %#x (%s at sector %llu)", what, i,
			     z[i].res.read_err, z[i].res.write_err, strerror(-z[i].res.dest_errno[0]),
			     (unsigned long long)z[i].res.dest_err_sector[0]);
		tu_event_destroy(&z[i].ev);
		kcopyd_client_destroy(kc[i]);
	}
}

static void check_zeros(const char *path, uint64_t off, uint64_t len, const char *what)
{
	uint8_t *got = malloc(len);

	CHECK(got);
	tu_read_at(path, off, got, len);
	if (tu_cmp(got, zeros, len, off, what))
		FAIL("%s: the zeroed range does not read as zeros", what);
	free(got);
}

static bool has_punch(const char *dir)
{
	const char *p = tu_path_in(dir, "probe");
	bool ok;
	int fd;

	tu_write_file(p, data, 8192);
	fd = open(p, O_RDWR);
	CHECK(fd >= 0);
	ok = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
	close(fd);
	unlink(p);
	return ok;
}

static void run(const char *dir, const char *fs)
{
	const char *f = tu_path_in(dir, "f");
	char what[128];

	if (!has_punch(dir)) {
		tu_log("%s: no PUNCH_HOLE there: left out", fs);
		return;
	}
	for (unsigned int n = 1; n <= 2; n++) {
		struct block_device *bd;

		snprintf(what, sizeof(what), "%s: a full file zeroed by %u client(s)", fs, n);
		tu_write_file(f, data, SIZE);
		bd = tu_open(f, O_RDWR);
		zero_shared(bd, 0, SIZE, n, what);
		kcopyd_bdev_close(bd);
		check_zeros(f, 0, SIZE, what);
		if (allocated(f) > SLACK)
			FAIL("%s: %llu bytes allocated after zeroing, expected a hole", what,
			     (unsigned long long)allocated(f));
	}
	{
		struct block_device *bd;
		uint64_t before;
		int fd;

		snprintf(what, sizeof(what), "%s: the holes of a sparse file zeroed", fs);
		tu_write_file(f, data, SIZE);
		fd = open(f, O_RDWR);
		CHECK(fd >= 0);
		CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, SIZE / 2, SIZE / 2) == 0);
		close(fd);
		before = allocated(f);
		bd = tu_open(f, O_RDWR);
		zero_shared(bd, SIZE / 2, SIZE / 2, 2, what);
		kcopyd_bdev_close(bd);
		check_zeros(f, SIZE / 2, SIZE / 2, what);
		if (allocated(f) > before)
			FAIL("%s: it grew from %llu to %llu allocated bytes", what,
			     (unsigned long long)before, (unsigned long long)allocated(f));
	}
}

static void loop_case(void)
{
	const char *back = tu_path("back"), *dev;
	char sys[128], buf[32] = "";
	struct block_device *bd;
	FILE *fp;
	int fd;

	if (!tu_is_root() || !has_punch(tu_tmpdir())) {
		tu_log("not root, or no PUNCH_HOLE in the temp dir: the loop case is left out");
		return;
	}
	fd = open(back, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, SIZE) == 0);
	CHECK(pwrite(fd, data, TU_MIB, TU_MIB) == (ssize_t)TU_MIB);
	close(fd);
	dev = tu_loop_attach(back, 0);
	if (!dev) {
		tu_log("no loop device: the loop case is left out");
		return;
	}
	snprintf(sys, sizeof(sys), "/sys/block/%s/queue/write_zeroes_max_bytes", dev + 5);
	fp = fopen(sys, "r");
	if (!fp || !fgets(buf, sizeof(buf), fp) || strtoull(buf, NULL, 10) == 0) {
		tu_log("%s has no write-zeroes: the loop case is left out", dev);
		if (fp)
			fclose(fp);
		tu_loop_detach(dev);
		return;
	}
	fclose(fp);
	/* A read-only flag set on this loop device by an earlier user stays
	 * across detach and attach: it is ours now. */
	fd = open(dev, O_RDONLY);
	CHECK(fd >= 0);
	if (ioctl(fd, BLKROSET, &(int){ 0 }) < 0)
		FAIL("BLKROSET %s: %s", dev, strerror(errno));
	close(fd);
	bd = tu_open(dev, O_RDWR);
	zero_shared(bd, 0, SIZE, 2, "loop device");
	kcopyd_bdev_close(bd);
	check_zeros(dev, 0, SIZE, "loop device");
	tu_loop_detach(dev);
	if (allocated(back) > SLACK)
		FAIL("loop device zeroed: its backing file has %llu bytes allocated, expected holes",
		     (unsigned long long)allocated(back));
}

int main(void)
{
	const char *shm = NULL;
	uint64_t seed = 9;

	tu_init("test-zero-sparse");
	data = malloc(SIZE);
	zeros = calloc(1, SIZE);
	CHECK(data && zeros);
	tu_random_fill(data, SIZE, &seed);
	run(tu_tmpdir(), "temp dir");
	if (tu_on_tmpfs("/dev/shm"))
		shm = tu_mkdtemp("/dev/shm");
	if (!shm)
		shm = tu_tmpfs("size=16m");
	if (shm)
		run(shm, "tmpfs");
	else
		tu_log("no tmpfs available: tmpfs pass left out");
	loop_case();
	free(data);
	free(zeros);
	tu_pass();
}
