/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The data and hole extents of a range of the source, found with
 * SEEK_DATA/SEEK_HOLE.  Extent edges are widened to the copy's alignment
 * (data start rounded down, data end rounded up): a little hole copied as
 * data costs nothing, while a block cut in two could not be submitted.
 * Where the file system cannot tell (or for a block device) the whole range
 * is one data extent.
 *
 * A hole is only ever reported inside the file as it is now: a source cut
 * short during the run has no hole past its new end, only missing data,
 * which is reported as data so that reading it fails (the library reports
 * a read that ends before the size the source had at open as an error)
 * rather than it turning into zeros on the destinations.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

void extent_init(struct extent_iter *it, const struct device *src, bool sparse,
		 uint64_t base, uint64_t len, unsigned int align)
{
	it->fd = src->fd;
	it->sparse = sparse && src->kind == DEV_FILE;
	it->base = base;
	it->pos = 0;
	it->end = len;
	it->align = align;
}

static uint64_t align_up(const struct extent_iter *it, uint64_t v)
{
	uint64_t r = v % it->align;

	v = r ? v + (it->align - r) : v;
	return v < it->end ? v : it->end;
}

/* Hand out [pos, to) and move on. */
static bool take(struct extent_iter *it, uint64_t to, bool is_data, uint64_t *off,
		 uint64_t *len, bool *data)
{
	*off = it->pos;
	*len = to - it->pos;
	*data = is_data;
	it->pos = to;
	return true;
}

/* The last bytes below 2^63 that SEEK_DATA is trusted with.  tmpfs (Linux
 * 6.x) rounds the size up to a page in a signed 64-bit offset: for a file
 * within a page of 2^63 bytes that overflows, and SEEK_DATA says there is
 * no data (ENXIO) where there is.  Past this point the file is read. */
#define SEEK_TRUSTED_END (INT64_MAX - (1 << 20) + 1)

off_t seek_data(int fd, off_t at)
{
	struct stat st;
	off_t q;

	if (at >= SEEK_TRUSTED_END)
		return at;              /* past what SEEK_DATA may be asked: data */
	q = lseek(fd, at, SEEK_DATA);
	if (q >= 0)
		return q > SEEK_TRUSTED_END ? SEEK_TRUSTED_END : q;
	if (errno != ENXIO)
		return -1;
	/* "No data" is believed only up to the trusted end. */
	if (fstat(fd, &st) == 0 && st.st_size > SEEK_TRUSTED_END)
		return SEEK_TRUSTED_END;
	errno = ENXIO;
	return -1;
}

off_t seek_hole(int fd, off_t at)
{
	struct stat st;

	if (at >= SEEK_TRUSTED_END)     /* data up to the end, as seek_data says */
		return fstat(fd, &st) == 0 && st.st_size > at ? st.st_size : INT64_MAX;
	return lseek(fd, at, SEEK_HOLE);
}

/* SEEK_DATA found no data from pos on: a hole up to the end of the file as
 * it is now (whole blocks of it), and past that end, data that is missing. */
static bool take_last_hole(struct extent_iter *it, uint64_t *off, uint64_t *len, bool *data)
{
	struct stat st;
	uint64_t eof, size;

	if (fstat(it->fd, &st) < 0)
		return take(it, it->end, true, off, len, data);
	size = (uint64_t)st.st_size < SEEK_TRUSTED_END ? (uint64_t)st.st_size : SEEK_TRUSTED_END;
	eof = size > it->base ? size - it->base : 0;
	eof -= eof % it->align;
	if (eof >= it->end)
		return take(it, it->end, false, off, len, data);
	if (eof > it->pos)
		return take(it, eof, false, off, len, data);
	return take(it, it->end, true, off, len, data);
}

bool extent_next(struct extent_iter *it, uint64_t *off, uint64_t *len, bool *data)
{
	off_t d, h;
	uint64_t start, end;

	if (it->pos >= it->end)
		return false;
	if (!it->sparse)
		return take(it, it->end, true, off, len, data);
	d = seek_data(it->fd, (off_t)(it->base + it->pos));
	if (d < 0 && errno == ENXIO)          /* no data from here to EOF */
		return take_last_hole(it, off, len, data);
	if (d < 0) {                          /* the file system cannot tell */
		it->sparse = false;
		return take(it, it->end, true, off, len, data);
	}
	start = (uint64_t)d - it->base;
	start -= start % it->align;
	if (start > it->pos)
		return take(it, start < it->end ? start : it->end, false, off, len, data);
	h = seek_hole(it->fd, d);
	if (h < 0)
		return take(it, it->end, true, off, len, data);
	end = align_up(it, (uint64_t)h - it->base);
	/* A file changing under us could report an empty extent: always move. */
	if (end <= it->pos)
		end = align_up(it, it->pos + it->align);
	return take(it, end, true, off, len, data);
}
