/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Copy one file (or block device) to one or more destination files with
 * libkcopyd, reading the source once:
 *
 *     kcopyd-example SOURCE DEST [DEST...]
 *
 * The copy itself uses only the kernel's kcopyd API: one kcopyd_copy() and a
 * callback, which runs on the client's thread; main() waits for it with a
 * mutex and a condition variable.  Destinations are created or resized to
 * the source's size first, because kcopyd never writes past a device's end;
 * afterwards they are cut to the exact size and flushed (kcopyd_bdev_size()
 * and kcopyd_bdev_flush() are the only extensions used).
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, ftruncate() under -std=c11 too */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kcopyd.h>

struct completion {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int read_err;
	unsigned int write_err;
};

/* Runs on the client's thread, once, when the whole job is over. */
static void copy_done(int read_err, unsigned int write_err, void *context)
{
	struct completion *c = context;

	pthread_mutex_lock(&c->lock);
	c->read_err = read_err;
	c->write_err = write_err;
	c->done = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Create path if needed and give a regular file the size of the copy. */
static int prepare_dest(const char *path, uint64_t size)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && ftruncate(fd, (off_t)size) < 0)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct completion c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0 };
	struct io_region from, dests[KCOPYD_MAX_REGIONS];
	struct block_device *src = NULL, *dst[KCOPYD_MAX_REGIONS] = { NULL };
	struct kcopyd_client *kc = NULL;
	int fds[KCOPYD_MAX_REGIONS];
	unsigned int n = argc > 2 ? (unsigned int)argc - 2 : 0;
	unsigned int i, opened = 0;
	uint64_t size;
	int err, status = 1;

	if (n == 0 || n > KCOPYD_MAX_REGIONS) {
		fprintf(stderr, "usage: %s SOURCE DEST [DEST...] (at most %d destinations)\n",
			argv[0], KCOPYD_MAX_REGIONS);
		return 2;
	}
	err = kcopyd_bdev_open(argv[1], O_RDONLY, &src);
	if (err < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-err));
		return 2;
	}
	size = kcopyd_bdev_size(src);
	from = (struct io_region){ .bdev = src, .sector = 0, .count = kcopyd_bdev_sectors(src) };

	for (; opened < n; opened++) {
		const char *path = argv[opened + 2];

		fds[opened] = prepare_dest(path, size);
		if (fds[opened] < 0) {
			err = fds[opened];
			fprintf(stderr, "%s: %s\n", path, strerror(-err));
			goto out;
		}
		err = kcopyd_bdev_open(path, O_RDWR, &dst[opened]);
		if (err < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(-err));
			close(fds[opened]);
			goto out;
		}
		dests[opened] = (struct io_region){ .bdev = dst[opened], .sector = 0, .count = from.count };
	}

	/* 1024 pages: 4 MiB, eight sub-jobs of 512 KiB in flight. */
	err = kcopyd_client_create(1024, &kc);
	if (err < 0) {
		fprintf(stderr, "kcopyd_client_create: %s\n", strerror(-err));
		goto out;
	}
	if (from.count == 0) {
		status = 0;             /* an empty source: nothing to copy */
		goto out;
	}
	err = kcopyd_copy(kc, &from, n, dests, 0, copy_done, &c);
	if (err < 0) {
		fprintf(stderr, "kcopyd_copy: %s\n", strerror(-err));
		goto out;
	}

	pthread_mutex_lock(&c.lock);
	while (!c.done)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);

	printf("read_err %d, write_err %#x\n", c.read_err, c.write_err);
	status = c.read_err || c.write_err;
	for (i = 0; i < n; i++) {
		if (c.read_err || (c.write_err & (1u << i)))
			printf("%s: failed\n", argv[i + 2]);
		else
			printf("%s: copied %llu bytes\n", argv[i + 2], (unsigned long long)size);
	}

out:
	kcopyd_client_destroy(kc);
	for (i = 0; i < opened; i++) {
		struct stat st;

		/* The last, partial sector made the file a whole sector long. */
		if (fstat(fds[i], &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size != size &&
		    ftruncate(fds[i], (off_t)size) < 0)
			status = 1;
		/* Make the data durable before saying it is there. */
		if (kcopyd_bdev_flush(dst[i]) < 0)
			status = 1;
		kcopyd_bdev_close(dst[i]);
		close(fds[i]);
	}
	kcopyd_bdev_close(src);
	return status;
}
