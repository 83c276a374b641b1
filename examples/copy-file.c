/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Copy one file (or block device) to one or more destination files with
 * libkcopyd, reading the source once:
 *
 *     kcopyd-example SOURCE DEST [DEST...]
 *
 * The copy itself uses only the kernel's kcopyd API: one kcopyd_copy() and a
 * callback, which runs on the client's thread; main() waits for it with a
 * mutex and a condition variable.  The callback gets read_err (the source's
 * first read error) and write_err, a bitmask of the destinations that
 * failed.  dest.c opens the devices and gives each destination the
 * source's size first, because kcopyd never writes past a device's end,
 * and flushes them afterwards (kcopyd_bdev_size(), kcopyd_bdev_open_ex()
 * and kcopyd_bdev_flush() are the only extensions used).
 *
 * Exit status: 0 copied, 1 an I/O or set-up error, 2 a usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>

#include <kcopyd.h>

#include "dest.h"

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

int main(int argc, char **argv)
{
	struct completion c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0 };
	struct kcopyd_client *kc;
	struct copy_set cs;
	int err = copy_set_open(&cs, argc, argv);

	if (err)
		return err;

	/* 1024 pages: 4 MiB, eight sub-jobs of 512 KiB in flight. */
	err = kcopyd_client_create(1024, &kc);
	if (err < 0)
		return copy_set_abort(&cs, NULL, "kcopyd_client_create", err);
	/* An empty source too: a job of 0 sectors calls back at once.
	 * KCOPYD_IGNORE_ERROR: a destination that fails does not stop the
	 * copy to the others (without it the job stops at the first error,
	 * and a destination not in write_err may lack the rest). */
	err = kcopyd_copy(kc, &cs.from, cs.n, cs.to, KCOPYD_IGNORE_ERROR, copy_done, &c);
	if (err < 0)
		return copy_set_abort(&cs, kc, "kcopyd_copy", err);

	pthread_mutex_lock(&c.lock);
	while (!c.done)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	kcopyd_client_destroy(kc);

	return copy_set_finish(&cs, c.read_err, c.write_err, NULL);
}
