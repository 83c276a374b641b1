/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extent iterator (cmd/extent.c) over a sparse source, and over one
 * that changes size while it is walked.  A hole is only what reads as
 * zeros in the file as it is now: past the end of a file cut short there
 * is missing data, which must come out as data (its read then fails),
 * never as a hole (which would silently become zeros on the destination).
 *  - 4 MiB: data [0, 1M), hole [1M, 3M), data [3M, 4M): three extents;
 *  - cut to 2 MiB after the first extent: hole [1M, 2M), then data up to
 *    the end of the range;
 *  - cut to 1.5 MiB + 100 with 4 KiB alignment: the hole ends at the last
 *    whole block before the new end;
 *  - cut to 0 before the walk: one data extent, the whole range;
 *  - cut inside the first data extent: data to the end of the range;
 *  - grown past the range with data after it: the hole inside the range
 *    is still a hole, the range ends where it did.
 * Exit 77 where the file system cannot report holes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

#define MIB (1024u * 1024u)

static char path[256];
static int failed;

struct ext { uint64_t off, len; bool data; };

static void make_file(void)
{
	static char buf[MIB];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	memset(buf, 'x', sizeof(buf));
	if (fd < 0 || pwrite(fd, buf, MIB, 0) != MIB || pwrite(fd, buf, MIB, 3 * MIB) != MIB) {
		perror(path);
		exit(1);
	}
	close(fd);
}

#define GROW (UINT64_MAX - 1)

/* Walk [0, 4M) with a cut (truncate to cut_to after `after` extents, or
 * before the walk when after is 0; UINT64_MAX: no cut; GROW: write a byte
 * at 6 MiB instead) and compare. */
static void walk(const char *what, unsigned int align, uint64_t cut_to, unsigned int after,
		 const struct ext *want, unsigned int nwant)
{
	struct device dev = { .kind = DEV_FILE };
	struct extent_iter it;
	struct ext got[16];
	unsigned int n = 0;
	uint64_t off, len;
	bool data;

	make_file();
	dev.fd = open(path, O_RDONLY);
	if (dev.fd < 0) {
		perror(path);
		exit(1);
	}
	if (cut_to != UINT64_MAX && !after && truncate(path, (off_t)cut_to) < 0)
		exit(1);
	extent_init(&it, &dev, true, 0, 4 * MIB, align);
	while (n < 16 && extent_next(&it, &off, &len, &data)) {
		got[n++] = (struct ext){ off, len, data };
		if (cut_to == GROW && n == after) {
			int fd = open(path, O_WRONLY);

			if (fd < 0 || pwrite(fd, "y", 1, 6 * MIB) != 1)
				exit(1);
			close(fd);
		} else if (cut_to != UINT64_MAX && after && n == after &&
			   truncate(path, (off_t)cut_to) < 0) {
			exit(1);
		}
	}
	close(dev.fd);
	if (n != nwant)
		goto bad;
	for (unsigned int i = 0; i < n; i++)
		if (got[i].off != want[i].off || got[i].len != want[i].len ||
		    got[i].data != want[i].data)
			goto bad;
	return;
bad:
	fprintf(stderr, "FAIL: %s: got", what);
	for (unsigned int i = 0; i < n; i++)
		fprintf(stderr, " [%llu+%llu %s]", (unsigned long long)got[i].off,
			(unsigned long long)got[i].len, got[i].data ? "data" : "hole");
	fprintf(stderr, ", expected");
	for (unsigned int i = 0; i < nwant; i++)
		fprintf(stderr, " [%llu+%llu %s]", (unsigned long long)want[i].off,
			(unsigned long long)want[i].len, want[i].data ? "data" : "hole");
	fprintf(stderr, "\n");
	failed = 1;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct device dev = { .kind = DEV_FILE };
	struct extent_iter it;
	uint64_t off, len;
	bool data;

	snprintf(path, sizeof(path), "%s/kcopyd-test-extent.%d", tmp ? tmp : "/tmp", (int)getpid());
	make_file();
	dev.fd = open(path, O_RDONLY);
	extent_init(&it, &dev, true, 0, 4 * MIB, 512);
	if (dev.fd < 0 || !extent_next(&it, &off, &len, &data) || len != MIB) {
		printf("SKIP: no SEEK_HOLE in %s\n", tmp ? tmp : "/tmp");
		unlink(path);
		return 77;
	}
	close(dev.fd);

	walk("unchanged", 512, UINT64_MAX, 0, (const struct ext[]){
		{ 0, MIB, true }, { MIB, 2 * MIB, false }, { 3 * MIB, MIB, true } }, 3);
	walk("cut to 2 MiB after the first extent", 512, 2 * MIB, 1, (const struct ext[]){
		{ 0, MIB, true }, { MIB, MIB, false }, { 2 * MIB, 2 * MIB, true } }, 3);
	walk("cut to 1.5 MiB + 100, 4 KiB blocks", 4096, 3 * MIB / 2 + 100, 1, (const struct ext[]){
		{ 0, MIB, true }, { MIB, MIB / 2, false }, { 3 * MIB / 2, 5 * MIB / 2, true } }, 3);
	walk("cut to 0 before the walk", 512, 0, 0, (const struct ext[]){
		{ 0, 4 * MIB, true } }, 1);
	walk("cut to 512 KiB before the walk", 512, MIB / 2, 0, (const struct ext[]){
		{ 0, MIB / 2, true }, { MIB / 2, 7 * MIB / 2, true } }, 2);
	walk("grown past the range after the first extent", 512, GROW, 1, (const struct ext[]){
		{ 0, MIB, true }, { MIB, 2 * MIB, false }, { 3 * MIB, MIB, true } }, 3);
	unlink(path);
	if (!failed)
		printf("PASS\n");
	return failed;
}
