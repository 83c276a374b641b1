/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Worker threads running blocking I/O: pread, pwrite, fallocate and
 * copy_file_range.  They serve twice:
 *
 *  - as the fallback backend, for where io_uring is not available (a seccomp
 *    filter, kernel.io_uring_disabled, an old kernel);
 *  - as the offload pool of any client, for in-kernel copies
 *    (copy_file_range), which io_uring has no operation for.
 *
 * They run system calls (struct kc_sysreq) and know nothing of jobs or
 * devices.  A finished call goes back to the engine through
 * kc_sys_report_async(), so its issuer sees exactly what the io_uring
 * backend would give it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define MAX_WORKERS 8

struct kc_tpool {
	struct kcopyd_client *kc;
	pthread_mutex_t lock;
	pthread_cond_t work_cond;
	struct kc_sysreq *work, **work_tail;   /* calls not yet taken by a worker */
	bool stop;
	unsigned int nthreads;
	pthread_t threads[MAX_WORKERS];
};

int kc_sys_run(struct kc_sysreq *r)
{
	off_t off = (off_t)r->off, src = (off_t)r->src_off;
	ssize_t n;

	switch (r->op) {
	case KC_SYS_READ:
		n = pread(r->fd, r->buf, r->len, off);
		break;
	case KC_SYS_WRITE:
		n = pwrite(r->fd, r->buf, r->len, off);
		break;
	case KC_SYS_COPY_RANGE:
		n = copy_file_range(r->src_fd, &src, r->fd, &off, r->len, 0);
		break;
	default:
		n = fallocate(r->fd, r->mode, off, (off_t)r->len);
		break;
	}
	return n < 0 ? -errno : (int)n;
}

static void *worker(void *arg)
{
	struct kc_tpool *t = arg;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct kc_sysreq *r;

		while (!t->work && !t->stop)
			pthread_cond_wait(&t->work_cond, &t->lock);
		if (!t->work)
			break;
		r = t->work;
		t->work = r->next;
		if (!t->work)
			t->work_tail = &t->work;
		pthread_mutex_unlock(&t->lock);
		kc_sys_report_async(t->kc, r, kc_sys_run(r));
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

void kc_tpool_destroy(struct kc_tpool *t)
{
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
	free(t);
}

int kc_tpool_create(struct kcopyd_client *kc, unsigned int nthreads, struct kc_tpool **result)
{
	struct kc_tpool *t = calloc(1, sizeof(*t));
	sigset_t all, old;
	int ret = 0;

	if (!t)
		return -ENOMEM;
	t->kc = kc;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->work_cond, NULL);
	t->work_tail = &t->work;
	if (nthreads > MAX_WORKERS)
		nthreads = MAX_WORKERS;
	sigfillset(&all);       /* signals are for the application's threads */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; t->nthreads < nthreads && !ret; t->nthreads++) {
		ret = -kc_thread_start(&t->threads[t->nthreads], worker, t);
		if (ret)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		kc_tpool_destroy(t);
		return ret;
	}
	*result = t;
	return 0;
}

void kc_tpool_submit(struct kc_tpool *t, struct kc_sysreq *r)
{
	r->next = NULL;
	pthread_mutex_lock(&t->lock);
	*t->work_tail = r;
	t->work_tail = &r->next;
	pthread_cond_signal(&t->work_cond);
	pthread_mutex_unlock(&t->lock);
}

/* io_uring has no copy_file_range: those run on a pool of the client's own,
 * whichever its backend.  Made when first needed; if it cannot be, the
 * call fails with why, and its issuer goes the ordinary way.
 *
 * KC_SYS_BLOCKING calls never go through io_uring either (a file system
 * whose errors come from user space: io_uring reissues a read or write
 * that ends in -EAGAIN, in the kernel, for as long as the answer stays
 * -EAGAIN, where the engine would have tried a few times and said so).
 * On io_uring they run on a second pool, made when first needed; if it
 * cannot be (no thread can be started: a pids cgroup, ulimit -u), they
 * are made on the engine thread, blocking, from then on. */
void kc_sys_submit(struct kcopyd_client *kc, struct kc_sysreq *r)
{
	struct kc_tpool **pool;
	unsigned int nthreads;
	int err;

	if (r->op == KC_SYS_COPY_RANGE) {
		pool = &kc->offload;
		nthreads = 2;
	} else if ((r->flags & KC_SYS_BLOCKING) && kc->backend != &kc_backend_threads &&
		   !(kc->test_uring & KC_TEST_USERFS)) {
		if (kc->blocking_inline) {
			kc_sys_report(kc, r, kc_sys_run(r));
			return;
		}
		pool = &kc->blocking;
		nthreads = 4;
	} else {
		kc->backend->submit(kc, r);
		return;
	}
	if (!*pool) {
		err = kc_tpool_create(kc, nthreads, pool);
		if (err && r->op != KC_SYS_COPY_RANGE) {
			kc->blocking_inline = true;
			kc_sys_report(kc, r, kc_sys_run(r));
			return;
		}
		if (err) {
			/* No more in-kernel copies on this client. */
			__atomic_store_n(&kc->offload_off, true, __ATOMIC_RELAXED);
			kc_sys_report(kc, r, err);
			return;
		}
	}
	kc_tpool_submit(*pool, r);
}

/* ---- the fallback backend ---------------------------------------------- */

/* The engine waits in epoll: for the wake eventfd and every watched
 * descriptor (level-triggered: a watch stays in the set while it wants
 * something, and is changed only when what it wants changes). */
struct tbackend {
	struct kc_tpool *pool;
	int efd;                /* wakes the engine: kc_sys_report_async() and new jobs */
	int epfd;
};

static void threads_fini(struct kcopyd_client *kc)
{
	struct tbackend *b = kc->backend_priv;

	if (!b)
		return;
	kc_tpool_destroy(b->pool);
	close(b->efd);
	if (b->epfd >= 0)
		close(b->epfd);
	free(b);
	kc->backend_priv = NULL;
}

static int threads_init(struct kcopyd_client *kc)
{
	struct tbackend *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		return -ENOMEM;
	b->efd = eventfd(0, EFD_CLOEXEC);
	if (b->efd < 0) {
		ret = -errno;
		free(b);
		return ret;
	}
	kc->backend_priv = b;
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0 ||
	    epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->efd,
		      &(struct epoll_event){ .events = EPOLLIN, .data.ptr = NULL })) {
		ret = -errno;
		threads_fini(kc);
		return ret;
	}
	ret = kc_tpool_create(kc, 4, &b->pool);
	if (ret)
		threads_fini(kc);
	return ret;
}

static void threads_submit(struct kcopyd_client *kc, struct kc_sysreq *r)
{
	struct tbackend *b = kc->backend_priv;

	kc_tpool_submit(b->pool, r);
}

static void threads_flush(struct kcopyd_client *kc)
{
	(void)kc;       /* requests start as soon as they are queued */
}

/* Completions arrive on kc->sys_completed with a wake; the watches' events
 * are reported here. */
static void threads_wait(struct kcopyd_client *kc, int64_t timeout_ns)
{
	struct tbackend *b = kc->backend_priv;
	/* Rounded up, and capped: a throttle wait can be longer than INT_MAX ms. */
	int64_t ms64 = timeout_ns < 0 ? -1 : timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
	int ms = ms64 > INT_MAX ? INT_MAX : (int)ms64;
	struct epoll_event ev[16];
	int n = epoll_wait(b->epfd, ev, 16, ms);

	for (int i = 0; i < n; i++) {
		struct kc_watch *w = ev[i].data.ptr;
		uint64_t v;

		if (w)
			kc_watch_report(kc, w, ev[i].events & (POLLIN | POLLOUT | POLLERR | POLLHUP));
		else if (read(b->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			kc_fail("eventfd read failed: %s", strerror(errno));
	}
}

static void threads_poll(struct kcopyd_client *kc)
{
	/* Calls start when queued, their ends come on kc->sys_completed;
	 * only the watches have anything to look at, and in loop mode the
	 * wake, which the caller's poll saw. */
	if (kc->watches || kc->loop_mode)
		threads_wait(kc, 0);
}

static void threads_watch_update(struct kcopyd_client *kc, struct kc_watch *w)
{
	struct tbackend *b = kc->backend_priv;
	struct epoll_event ev = { .events = w->events, .data.ptr = w };
	int op = !w->events ? EPOLL_CTL_DEL : w->busy ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (!w->events && !w->busy) {
		w->armed = 0;
		return;
	}
	if (epoll_ctl(b->epfd, op, w->fd, &ev)) {
		/* A descriptor epoll will not take (closed under us, say): it
		 * is told so, as a poll would. */
		w->busy = false;
		w->armed = w->events;
		kc_watch_report(kc, w, POLLERR);
		return;
	}
	w->busy = w->events != 0;
	w->armed = w->events;
}

static void threads_watch_del(struct kcopyd_client *kc, struct kc_watch *w)
{
	struct tbackend *b = kc->backend_priv;

	if (w->busy)
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->busy = false;
	w->armed = w->events = 0;
}

static void threads_wake(struct kcopyd_client *kc)
{
	struct tbackend *b = kc->backend_priv;

	kc_eventfd_signal(b->efd);
}

/* Loop mode: the epoll descriptor stands for the wake and every watch. */
static int threads_loop_fd(const struct kcopyd_client *kc)
{
	const struct tbackend *b = kc->backend_priv;

	return b->epfd;
}

const struct kc_backend_ops kc_backend_threads = {
	.name = "threads",
	.init = threads_init,
	.fini = threads_fini,
	.submit = threads_submit,
	.flush = threads_flush,
	.wait = threads_wait,
	.poll = threads_poll,
	.wake = threads_wake,
	.watch_update = threads_watch_update,
	.watch_del = threads_watch_del,
	.loop_fd = threads_loop_fd,
};
