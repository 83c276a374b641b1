/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fallback backend, for where io_uring is not available (a seccomp
 * filter, kernel.io_uring_disabled, an old kernel): a few worker threads run
 * pread, pwrite and fallocate and hand each finished request back to the
 * engine thread, which then sees exactly what the io_uring backend gives it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define WORKERS 4

struct tpool {
	pthread_mutex_t lock;
	pthread_cond_t work_cond;
	struct kc_io *work, **work_tail;   /* requests not yet taken by a worker */
	struct kc_io *done;                /* finished, for the engine (LIFO is fine) */
	bool stop;
	int efd;                           /* wakes the engine */
	unsigned int nthreads;
	pthread_t threads[WORKERS];
};

static void efd_signal(int efd)
{
	uint64_t one = 1;

	while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static int do_io(struct kc_io *io)
{
	ssize_t n;

	switch (io->op) {
	case KC_OP_READ:
		n = pread(io->fd, io->buf + io->done, io->len - io->done, (off_t)(io->off + io->done));
		break;
	case KC_OP_WRITE:
		n = pwrite(io->fd, io->buf + io->done, io->len - io->done, (off_t)(io->off + io->done));
		break;
	default:
		n = fallocate(io->fd, io->zero_mode, (off_t)io->off, (off_t)io->len);
		break;
	}
	return n < 0 ? -errno : (int)n;
}

static void *worker(void *arg)
{
	struct tpool *t = arg;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct kc_io *io;
		bool was_empty;

		while (!t->work && !t->stop)
			pthread_cond_wait(&t->work_cond, &t->lock);
		if (!t->work)
			break;
		io = t->work;
		t->work = io->next;
		if (!t->work)
			t->work_tail = &t->work;
		pthread_mutex_unlock(&t->lock);

		io->res = do_io(io);

		pthread_mutex_lock(&t->lock);
		was_empty = !t->done;
		io->next = t->done;
		t->done = io;
		if (was_empty)
			efd_signal(t->efd);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void threads_fini(struct kcopyd_client *kc)
{
	struct tpool *t = kc->backend_priv;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->work_cond);
	pthread_mutex_unlock(&t->lock);
	for (unsigned int i = 0; i < t->nthreads; i++)
		pthread_join(t->threads[i], NULL);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->work_cond);
	close(t->efd);
	free(t);
	kc->backend_priv = NULL;
}

static int threads_init(struct kcopyd_client *kc)
{
	struct tpool *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->efd = eventfd(0, EFD_CLOEXEC);
	if (t->efd < 0) {
		int err = -errno;

		free(t);
		return err;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->work_cond, NULL);
	t->work_tail = &t->work;
	kc->backend_priv = t;
	for (; t->nthreads < WORKERS; t->nthreads++) {
		int ret = pthread_create(&t->threads[t->nthreads], NULL, worker, t);

		if (ret) {
			threads_fini(kc);
			return -ret;
		}
	}
	return 0;
}

static void enqueue(struct kcopyd_client *kc, int fd, struct kc_io *io)
{
	struct tpool *t = kc->backend_priv;

	io->fd = fd;
	io->next = NULL;
	pthread_mutex_lock(&t->lock);
	*t->work_tail = io;
	t->work_tail = &io->next;
	pthread_cond_signal(&t->work_cond);
	pthread_mutex_unlock(&t->lock);
}

static void threads_fallocate(struct kcopyd_client *kc, int fd, struct kc_io *io, int mode)
{
	io->zero_mode = (uint8_t)mode;
	enqueue(kc, fd, io);
}

static void threads_flush(struct kcopyd_client *kc)
{
	(void)kc;       /* requests start as soon as they are queued */
}

static void threads_wait(struct kcopyd_client *kc, int64_t timeout_ns)
{
	struct tpool *t = kc->backend_priv;
	struct pollfd pfd = { .fd = t->efd, .events = POLLIN };
	struct kc_io *list;
	uint64_t v;

	pthread_mutex_lock(&t->lock);
	list = t->done;
	t->done = NULL;
	pthread_mutex_unlock(&t->lock);
	if (!list && timeout_ns != 0) {
		int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);

		if (poll(&pfd, 1, ms) > 0 && read(t->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			kc_fail("eventfd read failed: %s", strerror(errno));
		pthread_mutex_lock(&t->lock);
		list = t->done;
		t->done = NULL;
		pthread_mutex_unlock(&t->lock);
	}
	while (list) {
		struct kc_io *io = list;

		list = io->next;
		kc_io_complete(kc, io, io->res);
	}
}

static void threads_wake(struct kcopyd_client *kc)
{
	struct tpool *t = kc->backend_priv;

	efd_signal(t->efd);
}

const struct kc_backend_ops kc_backend_threads = {
	.name = "threads",
	.init = threads_init,
	.fini = threads_fini,
	.rw = enqueue,
	.fallocate = threads_fallocate,
	.flush = threads_flush,
	.wait = threads_wait,
	.wake = threads_wake,
};
