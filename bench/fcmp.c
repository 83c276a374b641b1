/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fcmp: check that each COPY is byte-identical to SOURCE, fast enough to run
 * after every benchmark run (cmp(1) manages about 0.7 GB/s):
 *
 *     fcmp [--sample N] SOURCE COPY [COPY...]
 *
 * Sizes must match.  The source is read once, in 1 MiB chunks, and each
 * chunk is compared with every copy.  A range that is a hole in the source
 * and in every copy (SEEK_DATA) is skipped, so sparse images cost only
 * their data.  --sample N compares N chunks spread over the file plus the
 * first and the last instead of all of them.  Exit 0: identical; 1: a
 * difference (the first offset is printed); 2: an error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* SEEK_DATA */
#endif
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define MAX_FILES 33

struct file {
	const char *path;
	int fd;
	bool seek_data;       /* SEEK_DATA works here */
};

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "fcmp: %s %s: %s\n", what, path, strerror(errno ? errno : EIO));
	return 2;
}

/* Start of the next data at or after off, or size if none (or unknown: off). */
static uint64_t next_data(struct file *f, uint64_t off, uint64_t size)
{
	off_t d;

	if (!f->seek_data)
		return off;
	d = lseek(f->fd, (off_t)off, SEEK_DATA);
	if (d >= 0)
		return (uint64_t)d;
	if (errno == ENXIO)
		return size;
	f->seek_data = false;   /* EINVAL: no SEEK_DATA on this file system */
	return off;
}

/* Where comparing must go on: the first byte at or after off that is data
 * in at least one of the files (holes read as zeros everywhere). */
static uint64_t skip_common_holes(struct file *fs, unsigned int n, uint64_t off, uint64_t size)
{
	uint64_t next = size;

	for (unsigned int i = 0; i < n && next > off; i++) {
		uint64_t d = next_data(&fs[i], off, size);

		if (d < next)
			next = d;
	}
	next &= ~(uint64_t)(CHUNK - 1);
	return next > off ? next : off;
}

static int read_full(struct file *f, char *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(f->fd, buf + done, len - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static uint64_t first_diff(const char *a, const char *b, size_t len)
{
	size_t i = 0;

	while (i < len && a[i] == b[i])
		i++;
	return i;
}

/* Compare one chunk of the source with every copy: 0 same, 1 differs, 2 error. */
static int compare_chunk(struct file *fs, unsigned int n, char *a, char *b, uint64_t off,
			 size_t len)
{
	if (read_full(&fs[0], a, len, off))
		return fail("read", fs[0].path);
	for (unsigned int i = 1; i < n; i++) {
		if (read_full(&fs[i], b, len, off))
			return fail("read", fs[i].path);
		if (memcmp(a, b, len)) {
			printf("fcmp: %s %s differ: byte %llu\n", fs[0].path, fs[i].path,
			       (unsigned long long)(off + first_diff(a, b, len) + 1));
			return 1;
		}
	}
	return 0;
}

static int open_all(struct file *fs, unsigned int n, uint64_t *size)
{
	for (unsigned int i = 0; i < n; i++) {
		struct stat st;

		fs[i].fd = open(fs[i].path, O_RDONLY | O_CLOEXEC);
		if (fs[i].fd < 0 || fstat(fs[i].fd, &st) < 0)
			return fail("open", fs[i].path);
		fs[i].seek_data = S_ISREG(st.st_mode);
		if (i == 0) {
			*size = (uint64_t)st.st_size;
		} else if ((uint64_t)st.st_size != *size) {
			printf("fcmp: %s is %llu bytes, %s is %llu\n", fs[0].path,
			       (unsigned long long)*size, fs[i].path,
			       (unsigned long long)st.st_size);
			return 1;
		}
	}
	return 0;
}

static int compare(struct file *fs, unsigned int n, unsigned long sample)
{
	uint64_t size = 0, nchunks, step, off;
	char *a, *b;
	int ret = open_all(fs, n, &size);

	if (ret)
		return ret;
	a = malloc(CHUNK);
	b = malloc(CHUNK);
	if (!a || !b)
		return fail("malloc", "");
	nchunks = (size + CHUNK - 1) / CHUNK;
	step = sample && sample < nchunks ? nchunks / sample : 1;
	for (uint64_t c = 0; c < nchunks && !ret; c++) {
		if (step > 1 && c % step && c != nchunks - 1)
			continue;
		off = c * CHUNK;
		if (step == 1) {
			off = skip_common_holes(fs, n, off, size);
			c = off / CHUNK;
			if (off >= size)
				break;
		}
		ret = compare_chunk(fs, n, a, b, off, size - off < CHUNK ? size - off : CHUNK);
	}
	free(a);
	free(b);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "sample", required_argument, NULL, 's' },
		{ 0 }
	};
	struct file fs[MAX_FILES];
	unsigned long sample = 0;
	unsigned int n;
	int c;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		if (c != 's')
			goto usage;
		sample = strtoul(optarg, NULL, 10);
	}
	if (argc - optind < 2 || argc - optind > MAX_FILES)
		goto usage;
	n = (unsigned int)(argc - optind);
	for (unsigned int i = 0; i < n; i++)
		fs[i] = (struct file){ .path = argv[optind + i], .fd = -1 };
	return compare(fs, n, sample);
usage:
	fputs("usage: fcmp [--sample N] SOURCE COPY [COPY...]\n", stderr);
	return 2;
}
