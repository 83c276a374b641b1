/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A source that is cut short after it was opened is a read error
 * (-ENODATA at its new end), not zeros reported as a success; only the
 * part of its last sector past the size it had at open reads as zeros.
 * Each through the read-then-write path (two destinations) and through the
 * in-kernel copy (one destination, buffered files: copy_file_range):
 *  - a file truncated to 300000 bytes between open and copy, IGNORE_ERROR:
 *    read_err -ENODATA at sector 585, whole sub-jobs before it copied,
 *    everything from the new end on keeps its old contents;
 *  - a file truncated to 512 KiB by another thread while the copy runs
 *    (slowly: kcopyd_client_set_rate): -ENODATA, at sector 1024 when the
 *    truncation came before that part was read (it always does at this
 *    rate unless the machine stalls for a quarter of a second);
 *  - a 1000-byte file grown to 1024 bytes after open, copied as 2 sectors:
 *    succeeds, bytes 1000-1023 of the destination are zeros;
 *  - the end of file against the size at open, every way round, through
 *    both paths: a file now shorter inside its last sector, at its last
 *    sector's start, inside the whole sector before it, a range that ends
 *    before the size at open (and past or before the new end), a file
 *    grown inside its last sector or past it, one unchanged.  Shorter
 *    before the range's end: -ENODATA at the new end, the destinations
 *    hold the source below their dest_err_sector, nothing past the new
 *    end; else success, the range's bytes past the size at open zeros
 *    (the in-kernel copy must not copy what the file grew by);
 *  - (root) a loop device whose backing file is cut to 300 KiB and whose
 *    capacity is then updated (LOOP_SET_CAPACITY): -ENODATA at sector 600.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "testutil.h"

#define SIZE (1 * TU_MIB)
#define S (64 * 1024u)

static const char *src_path, *dst_path[2];
static uint8_t *src_data, *old;

static struct kcopyd_client *client(uint64_t rate)
{
	struct kcopyd_client *kc = tu_client(256);

	CHECK_OK(kcopyd_client_set_sub_job_size(kc, S));
	CHECK_OK(kcopyd_client_set_rate(kc, rate));
	return kc;
}

static struct block_device *open_buffered(const char *path, int acc)
{
	struct block_device *bd;

	CHECK_OK(kcopyd_bdev_open_ex(path, acc, KCOPYD_BDEV_BUFFERED, &bd));
	return bd;
}

static void check_dest(const char *what, unsigned int d, uint64_t good, uint64_t old_from)
{
	uint8_t *got = malloc(SIZE);

	CHECK(got);
	tu_read_at(dst_path[d], 0, got, SIZE);
	if (tu_cmp(got, src_data, good, 0, what))
		FAIL("%s: destination %u lacks the data before the new end", what, d);
	if (tu_cmp(got + old_from, old + old_from, SIZE - old_from, old_from, what))
		FAIL("%s: destination %u was written past the source's new end", what, d);
	free(got);
}

struct truncator {
	struct kcopyd_client *kc;
	const char *path;
	uint64_t at;            /* truncate to this size... */
	uint64_t after;         /* ...once this much was read */
	uint64_t read_then;     /* bytes read when it truncated */
	bool stop;
};

static void *truncate_later(void *arg)
{
	struct truncator *t = arg;
	struct kcopyd_stats st;

	for (;;) {
		CHECK_OK(kcopyd_client_stats(t->kc, &st, sizeof(st)));
		if (st.bytes_read >= t->after || __atomic_load_n(&t->stop, __ATOMIC_RELAXED))
			break;
		usleep(1000);
	}
	if (truncate(t->path, (off_t)t->at) < 0)
		FAIL("truncate %s: %s", t->path, strerror(errno));
	t->read_then = st.bytes_read;
	return NULL;
}

/* ndests 1: the in-kernel copy; 2: read then write. */
static void shrink(unsigned int ndests, bool mid_copy)
{
	uint64_t cut = mid_copy ? 512 * 1024 : 300000;
	struct kcopyd_client *kc = client(mid_copy ? TU_MIB : 0);
	struct truncator t = { .kc = kc, .at = cut, .after = S };
	struct block_device *src, *dst[2];
	struct io_region from, to[2];
	struct kcopyd_result res;
	pthread_t thread;
	char what[128];

	snprintf(what, sizeof(what), "%s, source truncated to %llu %s",
		 ndests == 1 ? "in-kernel copy" : "read and write", (unsigned long long)cut,
		 mid_copy ? "during the copy" : "after open");
	tu_write_file(src_path, src_data, SIZE);
	src = open_buffered(src_path, O_RDONLY);
	from = tu_region(src, 0, SIZE / 512);
	for (unsigned int d = 0; d < ndests; d++) {
		tu_write_file(dst_path[d], old, SIZE);
		dst[d] = open_buffered(dst_path[d], O_RDWR);
		to[d] = tu_region(dst[d], 0, SIZE / 512);
	}
	t.path = src_path;
	if (!mid_copy)
		CHECK(truncate(src_path, (off_t)cut) == 0);
	else if (pthread_create(&thread, NULL, truncate_later, &t))
		FAIL("pthread_create");
	CHECK_OK(tu_copy_ex(kc, &from, ndests, to, KCOPYD_IGNORE_ERROR, &res));
	if (mid_copy) {
		__atomic_store_n(&t.stop, true, __ATOMIC_RELAXED);
		pthread_join(thread, NULL);
		tu_log("%s: %llu bytes read when it was truncated", what,
		       (unsigned long long)t.read_then);
	}
	if (res.read_err != -ENODATA)
		FAIL("%s: read_err %d (%s), expected -ENODATA", what, res.read_err,
		     strerror(-res.read_err));
	CHECK_EQ(res.write_err, 0);
	/* Every sub-job below the new end reads; the one holding it (here or
	 * a little past it) and those after do not. */
	if (!mid_copy || t.read_then + 4 * S <= cut) {
		CHECK_EQ(res.read_err_sector, cut / 512);
		for (unsigned int d = 0; d < ndests; d++)
			check_dest(what, d, cut - cut % S, cut);
	}
	for (unsigned int d = 0; d < ndests; d++)
		kcopyd_bdev_close(dst[d]);
	kcopyd_bdev_close(src);
	kcopyd_client_destroy(kc);
}

static void grown(void)
{
	static const uint8_t zeros[24];
	struct kcopyd_client *kc = client(0);
	struct block_device *src, *dst;
	struct io_region from, to;
	struct kcopyd_result res;
	uint8_t got[1024];

	tu_write_file(src_path, src_data, 1000);
	tu_write_file(dst_path[0], old, 1024);
	src = tu_open(src_path, O_RDONLY);
	dst = tu_open(dst_path[0], O_RDWR);
	tu_write_file(src_path, src_data, 1024);
	from = tu_region(src, 0, 2);
	to = tu_region(dst, 0, 2);
	CHECK_OK(tu_copy_ex(kc, &from, 1, &to, 0, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	tu_read_at(dst_path[0], 0, got, 1024);
	if (tu_cmp(got, src_data, 1000, 0, "grown source") ||
	    tu_cmp(got + 1000, zeros, 24, 1000, "grown source, past its size at open"))
		FAIL("a source grown after open: its last sector is not what it was at open");
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	kcopyd_client_destroy(kc);
}

struct eof_case {
	uint64_t at_open, now;  /* the file's size when opened, when copied */
	uint64_t end;           /* the range read: [0, end), sectors; 0: all of them */
};

static void eof_case(const struct eof_case *c, unsigned int ndests, const uint8_t *big,
		     const uint8_t *old2)
{
	static const uint8_t zeros[1024];
	const uint64_t file = 2 * TU_MIB;
	struct kcopyd_client *kc = client(0);
	struct block_device *src, *dst[2];
	struct io_region from, to[2];
	struct kcopyd_result res;
	uint64_t end = c->end ? c->end : (c->at_open + 511) / 512 * 512;
	uint64_t held = c->at_open < end ? c->at_open : end;
	bool short_read = c->now < held;
	uint8_t *got = malloc(file);
	char what[160];

	CHECK(got);
	snprintf(what, sizeof(what), "%s, size %llu at open, %llu now, range of %llu bytes",
		 ndests == 1 ? "in-kernel copy" : "read and write", (unsigned long long)c->at_open,
		 (unsigned long long)c->now, (unsigned long long)end);
	tu_write_file(src_path, big, c->at_open);
	src = open_buffered(src_path, O_RDONLY);
	tu_write_file(src_path, big, c->now);
	from = tu_region(src, 0, end / 512);
	for (unsigned int d = 0; d < ndests; d++) {
		tu_write_file(dst_path[d], old2, file);
		dst[d] = open_buffered(dst_path[d], O_RDWR);
		to[d] = tu_region(dst[d], 0, end / 512);
	}
	CHECK_OK(tu_copy_ex(kc, &from, ndests, to, KCOPYD_IGNORE_ERROR, &res));
	CHECK_EQ(res.write_err, 0);
	if (short_read) {
		if (res.read_err != -ENODATA)
			FAIL("%s: read_err %d (%s), expected -ENODATA", what, res.read_err,
			     strerror(-res.read_err));
		CHECK_EQ(res.read_err_sector, c->now / 512);
	} else if (res.read_err) {
		FAIL("%s: read_err %d (%s), expected success", what, res.read_err,
		     strerror(-res.read_err));
	}
	for (unsigned int d = 0; d < ndests; d++) {
		uint64_t ok_to = short_read ? res.dest_err_sector[d] * 512 : end;
		/* Read then write: nothing of the chunk holding the new end.
		 * The in-kernel copy may have copied up to the new end. */
		uint64_t old_from = !short_read ? end : ndests == 1 ? c->now : c->now - c->now % S;

		tu_read_at(dst_path[d], 0, got, file);
		if (short_read && (res.dest_err_sector[d] > c->now / 512 ||
				   res.dest_err_sector[d] < (c->now - c->now % S) / 512))
			FAIL("%s: dest_err_sector[%u] %llu, expected the start of the chunk holding "
			     "the new end", what, d, (unsigned long long)res.dest_err_sector[d]);
		if (!short_read)
			CHECK_EQ(res.dest_err_sector[d], end / 512);
		if (tu_cmp(got, big, ok_to < held ? ok_to : held, 0, what) ||
		    (!short_read && tu_cmp(got + held, zeros, end - held, held, what)) ||
		    tu_cmp(got + old_from, old2 + old_from, file - old_from, old_from, what))
			FAIL("%s: destination %u holds the wrong bytes", what, d);
	}
	for (unsigned int d = 0; d < ndests; d++)
		kcopyd_bdev_close(dst[d]);
	kcopyd_bdev_close(src);
	kcopyd_client_destroy(kc);
	free(got);
}

static void eof_matrix(void)
{
	const uint64_t M = TU_MIB;
	static const struct eof_case cases[] = {
		{ TU_MIB + 1000, TU_MIB + 600, 0 },     /* shorter, inside the last sector */
		{ TU_MIB + 1000, TU_MIB + 512, 0 },     /* shorter, at the last sector's start */
		{ TU_MIB + 1000, TU_MIB + 300, 0 },     /* shorter, inside the whole sector before */
		{ 2 * TU_MIB, TU_MIB + 600, TU_MIB + 1024 },   /* range ends before the size at open */
		{ 2 * TU_MIB, TU_MIB + 600, TU_MIB + 512 },    /* ...and before the new end */
		{ TU_MIB + 600, TU_MIB + 1000, 0 },     /* grown inside the last sector */
		{ TU_MIB + 1000, 2 * TU_MIB, 0 },       /* grown past it */
		{ TU_MIB + 1000, TU_MIB + 1000, 0 },    /* unchanged */
	};
	uint64_t seed = 11;
	uint8_t *big = malloc(2 * M), *old2 = malloc(2 * M);

	CHECK(big && old2);
	tu_random_fill(big, 2 * M, &seed);
	tu_random_fill(old2, 2 * M, &seed);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (unsigned int n = 1; n <= 2; n++)
			eof_case(&cases[i], n, big, old2);
	free(big);
	free(old2);
	tu_log("ok: end of file against the size at open, %zu cases, both paths",
	       sizeof(cases) / sizeof(cases[0]));
}

static void loop_shrinks(void)
{
	const char *back = tu_path("back"), *dev;
	struct kcopyd_client *kc;
	struct block_device *src, *dst;
	struct io_region from, to;
	struct kcopyd_result res;
	uint64_t bytes = 0;
	int fd;

	if (!tu_is_root()) {
		tu_log("not root: the loop device case is left out");
		return;
	}
	tu_write_file(back, src_data, SIZE);
	dev = tu_loop_attach(back, 0);
	if (!dev) {
		tu_log("no loop device: that case is left out");
		return;
	}
	src = tu_open(dev, O_RDONLY);
	CHECK_EQ(kcopyd_bdev_size(src), SIZE);
	CHECK(truncate(back, 300 * 1024) == 0);
	fd = open(dev, O_RDONLY);
	CHECK(fd >= 0);
	if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0)
		FAIL("LOOP_SET_CAPACITY %s: %s", dev, strerror(errno));
	CHECK(ioctl(fd, BLKGETSIZE64, &bytes) == 0);
	CHECK_EQ(bytes, 300 * 1024);
	close(fd);
	tu_write_file(dst_path[0], old, SIZE);
	dst = tu_open(dst_path[0], O_RDWR);
	kc = client(0);
	from = tu_region(src, 0, SIZE / 512);
	to = tu_region(dst, 0, SIZE / 512);
	CHECK_OK(tu_copy_ex(kc, &from, 1, &to, KCOPYD_IGNORE_ERROR, &res));
	if (res.read_err != -ENODATA)
		FAIL("a loop device that shrank: read_err %d (%s), expected -ENODATA",
		     res.read_err, strerror(-res.read_err));
	CHECK_EQ(res.read_err_sector, 600);
	CHECK_EQ(res.write_err, 0);
	check_dest("loop device that shrank", 0, 256 * 1024, 300 * 1024);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	tu_loop_detach(dev);
}

int main(void)
{
	uint64_t seed = 5;

	tu_init("test-source-shrinks");
	src_path = tu_path("src");
	dst_path[0] = tu_path("dst0");
	dst_path[1] = tu_path("dst1");
	src_data = malloc(SIZE);
	old = malloc(SIZE);
	CHECK(src_data && old);
	tu_random_fill(src_data, SIZE, &seed);
	tu_random_fill(old, SIZE, &seed);
	for (unsigned int n = 1; n <= 2; n++) {
		shrink(n, false);
		shrink(n, true);
	}
	grown();
	eof_matrix();
	loop_shrinks();
	free(src_data);
	free(old);
	tu_pass();
}
