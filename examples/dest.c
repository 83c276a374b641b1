/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The example programs' set-up and finish around the copy: see dest.h.
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, ftruncate(), clock_gettime() under -std=c11 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dest.h"

/* "PROG: PATH: WHAT: error text" on stderr. */
static void say(const struct copy_set *cs, const char *path, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s: %s\n", cs->prog, path, what, strerror(err));
}

/*
 * Create or open destination i for writing (O_NONBLOCK: a FIFO is refused
 * at once instead of blocking until someone reads it) and check that it
 * can take the copy.  Returns the descriptor, or -1 after saying why.
 */
static int open_dest(const struct copy_set *cs, unsigned int i, bool *regular)
{
	const char *path = cs->dst_path[i];
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0666);

	if (fd < 0) {
		say(cs, path, "cannot create or open", errno);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		say(cs, path, "cannot stat", errno);
		goto fail;
	}
	*regular = S_ISREG(st.st_mode);
	if (S_ISBLK(st.st_mode)) {
		/* Never resized: it must hold the whole copy already. */
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0) {
			say(cs, path, "cannot find its size", errno);
			goto fail;
		}
		if ((uint64_t)end < cs->size) {
			fprintf(stderr, "%s: %s: a block device of %lld bytes, smaller than the source (%llu bytes)\n",
				cs->prog, path, (long long)end, (unsigned long long)cs->size);
			goto fail;
		}
		/* The library writes whole sectors: the source's partial last
		 * one would overwrite the device's bytes after the copy. */
		if (cs->size % 512) {
			fprintf(stderr, "%s: %s: the source's %llu bytes are not whole 512-byte "
				"sectors: the last one would overwrite the device's bytes after "
				"them (kcopyd copy writes just those bytes)\n", cs->prog, path,
				(unsigned long long)cs->size);
			goto fail;
		}
	} else if (!*regular) {
		fprintf(stderr, "%s: %s: not a regular file or a block device\n", cs->prog, path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int copy_set_open(struct copy_set *cs, int argc, char **argv)
{
	int fds[KCOPYD_MAX_REGIONS];
	bool regular[KCOPYD_MAX_REGIONS];
	unsigned int i, opened = 0;
	int err, status = 1;

	*cs = (struct copy_set){ .prog = argc > 0 ? argv[0] : "kcopyd-example" };
	if (argc < 3 || argc - 2 > KCOPYD_MAX_REGIONS) {
		fprintf(stderr, "usage: %s SOURCE DEST [DEST...] (at most %d destinations)\n",
			cs->prog, KCOPYD_MAX_REGIONS);
		return 2;
	}
	cs->src_path = argv[1];
	cs->dst_path = (const char *const *)argv + 2;
	cs->n = (unsigned int)argc - 2;

	err = kcopyd_bdev_open(cs->src_path, O_RDONLY, &cs->src);
	if (err < 0) {
		say(cs, cs->src_path, "cannot open the source", -err);
		return 2;
	}
	cs->size = kcopyd_bdev_size(cs->src);
	/* Whole sectors: a regular file's partial last sector reads as zeros
	 * past its end, and a regular file is never written past its end. */
	cs->from = (struct io_region){ .bdev = cs->src, .sector = 0,
				       .count = kcopyd_bdev_sectors(cs->src) };

	/* Every destination opened and checked before any is resized... */
	for (; opened < cs->n; opened++) {
		fds[opened] = open_dest(cs, opened, &regular[opened]);
		if (fds[opened] < 0)
			goto out;
	}
	/* ...then sized (before kcopyd opens it: it takes the size then). */
	for (i = 0; i < cs->n; i++) {
		const char *path = cs->dst_path[i];

		if (regular[i] && ftruncate(fds[i], (off_t)cs->size) < 0) {
			say(cs, path, "cannot set its size", errno);
			goto out;
		}
		/* A block device exclusively: -EBUSY if it is mounted. */
		err = kcopyd_bdev_open_ex(path, O_RDWR, regular[i] ? 0 : KCOPYD_BDEV_EXCL, &cs->dst[i]);
		if (err < 0) {
			say(cs, path, "cannot open", -err);
			goto out;
		}
		cs->to[i] = (struct io_region){ .bdev = cs->dst[i], .sector = 0, .count = cs->from.count };
	}
	status = 0;
out:
	for (i = 0; i < opened; i++)
		close(fds[i]);
	if (status)
		copy_set_close(cs);
	return status;
}

int copy_set_finish(struct copy_set *cs, int read_err, unsigned int write_err,
		    const int *dest_errno)
{
	int status = 0;
	unsigned int i;

	if (read_err) {
		say(cs, cs->src_path, "read failed", -read_err);
		status = 1;
	}
	for (i = 0; i < cs->n; i++) {
		const char *path = cs->dst_path[i];
		/* Durable before it is said to be there; a failed one too, for
		 * what it did get. */
		int err = kcopyd_bdev_flush(cs->dst[i]);

		if (write_err & (1u << i)) {
			if (dest_errno && dest_errno[i])
				say(cs, path, "write failed", -dest_errno[i]);
			else
				fprintf(stderr, "%s: %s: write failed\n", cs->prog, path);
			status = 1;
		} else if (err < 0) {
			say(cs, path, "fsync failed", -err);
			status = 1;
		} else if (read_err) {
			fprintf(stderr, "%s: %s: not all copied (the source's read failed)\n",
				cs->prog, path);
		} else {
			printf("%s: copied %llu bytes\n", path, (unsigned long long)cs->size);
		}
	}
	copy_set_close(cs);
	return status;
}

void copy_set_close(struct copy_set *cs)
{
	unsigned int i;

	for (i = 0; i < cs->n; i++) {
		kcopyd_bdev_close(cs->dst[i]);
		cs->dst[i] = NULL;
	}
	kcopyd_bdev_close(cs->src);
	cs->src = NULL;
}

int copy_set_abort(struct copy_set *cs, struct kcopyd_client *kc, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", cs->prog, what, strerror(-err));
	kcopyd_client_destroy(kc);
	copy_set_close(cs);
	return 1;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void copy_set_progress(const struct copy_set *cs, const struct kcopyd_client *kc)
{
	struct kcopyd_stats st;

	if (kcopyd_client_stats(kc, &st, sizeof(st)) < 0)
		return;
	/* bytes_read counts whole sectors: a source whose size is not a
	 * multiple of 512 ends with a partial one, counted whole. */
	if (st.bytes_read > cs->size)
		st.bytes_read = cs->size;
	fprintf(stderr, "%s: %llu of %llu bytes read, %llu written over %u destination%s\n",
		cs->prog, (unsigned long long)st.bytes_read, (unsigned long long)cs->size,
		(unsigned long long)st.bytes_written, cs->n, cs->n == 1 ? "" : "s");
}
