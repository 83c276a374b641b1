/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The io_uring backend: one ring per client, driven by the client's thread.
 * Requests are queued as SQEs and pushed with the wait, so one
 * io_uring_enter carries every request prepared since the last one.
 * An eventfd read stays armed on the ring so that another thread can wake
 * the engine (a new job) without a second wait primitive.
 *
 * Older kernels: without IORING_FEAT_EXT_ARG io_uring_enter takes no
 * timeout, and a timed wait is a wait for a timerfd read that stays armed
 * on the ring (liburing's own way, a timeout request counting completions,
 * was seen to end with no timeout armed: its count is met by other timeout
 * completions, which liburing swallows, and the wait slept on with nothing
 * to wake it); without IORING_FEAT_NODROP a full CQ
 * drops completions, so no more requests are in flight than the CQ holds
 * (the rest wait on a list here); io_uring_enter may fail with -EBUSY while
 * completions overflow the CQ, and then we reap before submitting again.
 * Watched descriptors (watch.c) are one-shot poll requests, armed again
 * before each wait while their endpoint wants them; a change of the
 * direction wanted sends a poll remove, and the poll's end (cancelled or
 * not) lets it be armed anew with the new one.
 * A kernel without the plain read and write operations (before 5.6, which
 * also has no opcode probe) gets the thread engine instead.
 * KCOPYD_TEST_URING forces each of these paths, for the tests.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "internal.h"

#define RING_SQ 256
#define RING_CQ 8192
#define SMALL_SQ 4      /* KC_TEST_CQSMALL */
#define SMALL_CQ 8
/* CQ entries kept for the wake and timer reads, and a poll and a poll
 * remove for each of a few watches. */
#define CQ_SLACK (8 + 2 * 8)
/* user_data: kc_sysreq and kc_watch pointers are 8-byte aligned, so the low
 * three bits tell what a completion is. */
#define WAKE_TAG 1ULL   /* the eventfd read */
#define TIMER_TAG 2ULL  /* the timerfd read */
#define WATCH_TAG 3ULL  /* (struct kc_watch *) | 3: its poll */
#define REMOVE_TAG 4ULL /* (struct kc_watch *) | 4: the remove of its poll */
#define TAG_BITS 7ULL

struct uring {
	struct io_uring ring;
	int efd;
	uint64_t efd_buf;
	/* The pool, registered as one fixed buffer when the kernel lets us:
	 * O_DIRECT requests then skip pinning its pages every time. */
	char *fixed_base;
	size_t fixed_len;
	unsigned int test;            /* KC_TEST_* */
	unsigned int submits;         /* KC_TEST_EBUSY: every other one fails */
	bool rearm;                   /* the wake read completed while we could not re-arm it */
	/* No IORING_FEAT_EXT_ARG (or KC_TEST_NOEXTARG): timed waits on a
	 * timerfd (-1 until the first), its read armed or not. */
	bool ext_arg;
	int tfd;
	bool tfd_armed;
	uint64_t tfd_buf;
	uint64_t failing_since;       /* io_uring_enter failing (enter_failed), or 0 */
	/* No IORING_FEAT_NODROP: requests in flight are capped at cap. */
	unsigned int cap, inflight;
	struct kc_sysreq *held, **held_tail;
	struct kc_uring_counts counts;
};

void kc_uring_counts(const struct kcopyd_client *kc, struct kc_uring_counts *out)
{
	const struct uring *u = kc->backend == &kc_backend_uring ? kc->backend_priv : NULL;

	memset(out, 0, sizeof(*out));
	if (!u)
		return;
	out->ebusy = __atomic_load_n(&u->counts.ebusy, __ATOMIC_RELAXED);
	out->held = __atomic_load_n(&u->counts.held, __ATOMIC_RELAXED);
	out->timed_waits = __atomic_load_n(&u->counts.timed_waits, __ATOMIC_RELAXED);
	out->timeout_cqes = __atomic_load_n(&u->counts.timeout_cqes, __ATOMIC_RELAXED);
	out->overflows = __atomic_load_n(&u->counts.overflows, __ATOMIC_RELAXED);
	out->inline_runs = __atomic_load_n(&u->counts.inline_runs, __ATOMIC_RELAXED);
}

/* io_uring_submit, or -EBUSY as an old kernel gives it with an overflowing CQ. */
static int ring_submit(struct uring *u, unsigned int wait_nr)
{
	int ret;

	if ((u->test & KC_TEST_EBUSY) && (++u->submits & 1)) {
		kc_stat_add(&u->counts.ebusy, 1);
		return -EBUSY;
	}
	ret = wait_nr ? io_uring_submit_and_wait(&u->ring, wait_nr) : io_uring_submit(&u->ring);
	if (ret >= 0)
		u->failing_since = 0;
	return ret;
}

static bool expected_error(int ret)
{
	return ret == -EINTR || ret == -ETIME || ret == -EAGAIN || ret == -EBUSY;
}

/* The requests still in the SQ, which the kernel has not taken (an
 * io_uring_enter that fails takes none), fail with err: the SQ is rewound
 * to where the kernel is.  The wake and timer reads are armed again later. */
static void fail_unsubmitted(struct kcopyd_client *kc, struct uring *u, int err)
{
	struct io_uring_sq *sq = &u->ring.sq;
	unsigned int head = IO_URING_READ_ONCE(*sq->khead);

	for (unsigned int i = head; i != sq->sqe_tail; i++) {
		uint64_t tag = sq->sqes[i & sq->ring_mask].user_data;

		if (tag == WAKE_TAG) {
			u->rearm = true;
		} else if (tag == TIMER_TAG) {
			u->tfd_armed = false;
		} else if ((tag & TAG_BITS) == WATCH_TAG) {
			struct kc_watch *w = (struct kc_watch *)(uintptr_t)(tag & ~TAG_BITS);

			w->busy = false;        /* armed again before the next wait */
			w->armed = 0;
		} else if ((tag & TAG_BITS) == REMOVE_TAG) {
			((struct kc_watch *)(uintptr_t)(tag & ~TAG_BITS))->removing = false;
		} else {
			u->inflight--;
			kc_sys_report(kc, (struct kc_sysreq *)(uintptr_t)tag, err);
		}
	}
	sq->sqe_head = sq->sqe_tail = head;
	IO_URING_WRITE_ONCE(*sq->ktail, head);
}

/* io_uring_enter failed with an error it should not give (-ENOMEM under
 * memory pressure, say).  That is no reason to end the program: the
 * requests stay in the SQ and the next submit offers them again, after a
 * pause; only when it has gone on failing for URING_GIVE_UP_NS do they fail
 * with that error (their jobs report it, as for any I/O error). */
#define URING_GIVE_UP_NS (2 * 1000000000ULL)
static void enter_failed(struct kcopyd_client *kc, struct uring *u, int err)
{
	uint64_t now = kc_now_ns();

	if (!u->failing_since)
		u->failing_since = now;
	if (now - u->failing_since >= URING_GIVE_UP_NS) {
		fail_unsubmitted(kc, u, err);
		u->failing_since = 0;
		return;
	}
	usleep(1000);
}

/* A watch's poll ended: ready (res: the events), cancelled by a remove or
 * failed.  It is armed again, with what is wanted then, before the next
 * wait.  A poll that fails on its descriptor says so as POLLERR. */
static void watch_ended(struct kcopyd_client *kc, struct kc_watch *w, int res)
{
	w->busy = w->removing = false;
	w->armed = 0;
	if (res > 0)
		kc_watch_report(kc, w, (unsigned int)res);
	else if (res < 0 && res != -ECANCELED)
		kc_watch_report(kc, w, POLLERR);
}

/* Take every completion off the CQ and report it (to the engine's ready
 * list: it may run in the middle of submitting).  Returns how many it took. */
static unsigned int reap_some(struct kcopyd_client *kc, struct uring *u)
{
	struct io_uring_cqe *cqes[64];
	unsigned int n, total = 0;

	while ((n = io_uring_peek_batch_cqe(&u->ring, cqes, 64)) > 0) {
		for (unsigned int i = 0; i < n; i++) {
			uint64_t tag = io_uring_cqe_get_data64(cqes[i]);

			if (tag == WAKE_TAG) {
				u->rearm = true;
			} else if (tag == TIMER_TAG) {
				u->tfd_armed = false;
				kc_stat_add(&u->counts.timeout_cqes, 1);
			} else if ((tag & TAG_BITS) == WATCH_TAG) {
				watch_ended(kc, (struct kc_watch *)(uintptr_t)(tag & ~TAG_BITS),
					    cqes[i]->res);
			} else if ((tag & TAG_BITS) == REMOVE_TAG) {
				/* Nothing: the poll's own end says it is gone (and
				 * the watch may be gone too). */
			} else {
				struct kc_sysreq *r = (struct kc_sysreq *)(uintptr_t)tag;
				int res = cqes[i]->res;

				u->inflight--;
				/* The engine never cancels a call: -ECANCELED is
				 * io_uring's own, when the kernel could not start
				 * a worker thread for it (a pids cgroup, ulimit -u).
				 * Made again here, blocking: what it answers then
				 * is the device's (which may be ECANCELED too). */
				if (res == -ECANCELED) {
					res = kc_sys_run(r);
					kc_stat_add(&u->counts.inline_runs, 1);
				}
				kc_sys_report(kc, r, res);
			}
		}
		io_uring_cq_advance(&u->ring, n);
		total += n;
	}
	return total;
}

/* Register the pool as fixed buffer 0 (at most 1 GiB, the kernel's limit for
 * one buffer; a larger pool just goes without). */
static void register_pool(struct kcopyd_client *kc, struct uring *u)
{
	struct iovec iov = {
		.iov_base = kc->pool.base,
		.iov_len = (size_t)kc->pool.num_pages << KC_PAGE_SHIFT,
	};

	if (iov.iov_len > (1u << 30) || getenv("KCOPYD_NO_FIXED"))
		return;
	if (io_uring_register_buffers(&u->ring, &iov, 1) == 0) {
		u->fixed_base = iov.iov_base;
		u->fixed_len = iov.iov_len;
	}
}

static struct io_uring_sqe *get_sqe(struct kcopyd_client *kc, struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	while (!sqe) {          /* SQ full: hand it to the kernel, then go on */
		int ret = ring_submit(u, 0);

		sqe = io_uring_get_sqe(&u->ring);
		if (sqe)
			break;
		if (ret < 0 && !expected_error(ret)) {
			enter_failed(kc, u, ret);
			continue;
		}
		/* -EBUSY: the kernel takes nothing more until the CQ has room. */
		if (!reap_some(kc, u) && ret < 0)
			usleep(100);
	}
	return sqe;
}

static void arm_wake(struct kcopyd_client *kc, struct uring *u)
{
	struct io_uring_sqe *sqe = get_sqe(kc, u);

	io_uring_prep_read(sqe, u->efd, &u->efd_buf, sizeof(u->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, WAKE_TAG);
}

static bool ops_supported(struct io_uring *ring, bool pretend_none)
{
	struct io_uring_probe *probe = pretend_none ? NULL : io_uring_get_probe_ring(ring);
	bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_READ) &&
		  io_uring_opcode_supported(probe, IORING_OP_WRITE);

	if (probe)
		io_uring_free_probe(probe);
	return ok;
}

static void uring_fini(struct kcopyd_client *kc);

static int uring_init(struct kcopyd_client *kc)
{
	/* COOP_TASKRUN: completions need no interrupt of the engine thread,
	 * which reaps them when it waits anyway (5.19+; retried without). */
	const bool small = kc->test_uring & KC_TEST_CQSMALL;
	const unsigned int sq = small ? SMALL_SQ : RING_SQ, cq = small ? SMALL_CQ : RING_CQ;
	/* Not in loop mode: there the caller sleeps in its own poll(), and
	 * completions left as task work would never be posted to wake it. */
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE | (kc->loop_mode ? 0 : IORING_SETUP_COOP_TASKRUN),
		.cq_entries = cq,
	};
	struct uring *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	u->test = kc->test_uring;
	u->held_tail = &u->held;
	u->tfd = -1;
	ret = io_uring_queue_init_params(sq, &u->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = cq;
		ret = io_uring_queue_init_params(sq, &u->ring, &p);
	}
	if (ret < 0) {
		free(u);
		return ret;
	}
	u->efd = eventfd(0, EFD_CLOEXEC | (kc->loop_mode ? EFD_NONBLOCK : 0));
	if (u->efd < 0) {
		ret = -errno;
		io_uring_queue_exit(&u->ring);
		free(u);
		return ret;
	}
	/* Reads and writes without an iovec came with 5.6, as did the probe:
	 * without them, the thread engine does the same work. */
	if (!ops_supported(&u->ring, u->test & KC_TEST_NOPROBE)) {
		io_uring_queue_exit(&u->ring);
		free(u);
		return -ENOSYS;
	}
	u->ext_arg = (u->ring.features & IORING_FEAT_EXT_ARG) && !(u->test & KC_TEST_NOEXTARG);
	if (!(p.features & IORING_FEAT_NODROP) || (u->test & KC_TEST_NODROP))
		u->cap = p.cq_entries > 2 * CQ_SLACK ? p.cq_entries - CQ_SLACK : p.cq_entries / 2;
	kc->backend_priv = u;
	register_pool(kc, u);
	if (!kc->loop_mode) {
		arm_wake(kc, u);
		return 0;
	}
	/* Loop mode: the kernel signals the eventfd at every completion, and
	 * a wake writes it: readable whenever there is work.  No read of it
	 * stays armed on the ring (its own completion would signal it). */
	ret = io_uring_register_eventfd(&u->ring, u->efd);
	if (ret < 0) {
		uring_fini(kc);
		return ret;
	}
	return 0;
}

static void uring_fini(struct kcopyd_client *kc)
{
	struct uring *u = kc->backend_priv;

	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	if (u->tfd >= 0)
		close(u->tfd);
	free(u);
	kc->backend_priv = NULL;
}

/* No IORING_FEAT_NODROP and the CQ could fill: hold the request back. */
static bool hold(struct uring *u, struct kc_sysreq *r)
{
	if (!u->cap || u->inflight < u->cap)
		return false;
	r->next = NULL;
	kc_stat_add(&u->counts.held, 1);
	*u->held_tail = r;
	u->held_tail = &r->next;
	return true;
}

static void uring_submit(struct kcopyd_client *kc, struct kc_sysreq *r)
{
	struct uring *u = kc->backend_priv;
	struct io_uring_sqe *sqe;

	if (hold(u, r))
		return;
	sqe = get_sqe(kc, u);
	u->inflight++;
	switch (r->op) {
	case KC_SYS_FALLOCATE:
		io_uring_prep_fallocate(sqe, r->fd, r->mode, r->off, r->len);
		break;
	case KC_SYS_READ:
	case KC_SYS_WRITE:
		/* Fixed buffers for O_DIRECT only: for buffered I/O the kernel
		 * copies from a fixed buffer by a slower path (measured: ~35%
		 * more copy time). */
		if ((r->flags & KC_SYS_FIXED_OK) &&
		    (uintptr_t)r->buf - (uintptr_t)u->fixed_base < u->fixed_len) {
			if (r->op == KC_SYS_READ)
				io_uring_prep_read_fixed(sqe, r->fd, r->buf, r->len, r->off, 0);
			else
				io_uring_prep_write_fixed(sqe, r->fd, r->buf, r->len, r->off, 0);
		} else if (r->op == KC_SYS_READ) {
			io_uring_prep_read(sqe, r->fd, r->buf, r->len, r->off);
		} else {
			io_uring_prep_write(sqe, r->fd, r->buf, r->len, r->off);
		}
		break;
	default:
		kc_fail("io_uring backend: system call %u is not one of its own", r->op);
	}
	if (r->flags & KC_SYS_ASYNC)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, r);
}

/* Start the held requests the CQ has room for now. */
static void release_held(struct kcopyd_client *kc, struct uring *u)
{
	while (u->held && u->inflight < u->cap) {
		struct kc_sysreq *r = u->held;

		u->held = r->next;
		if (!u->held)
			u->held_tail = &u->held;
		uring_submit(kc, r);
	}
}

static void uring_flush(struct kcopyd_client *kc)
{
	struct uring *u = kc->backend_priv;

	while (ring_submit(u, 0) == -EBUSY)
		reap_some(kc, u);
}

/* Report every completion, re-arm the wake read, start what was held. */
static void reap(struct kcopyd_client *kc, struct uring *u)
{
	if (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
		kc_stat_add(&u->counts.overflows, 1);
	reap_some(kc, u);
	if (u->rearm) {
		u->rearm = false;
		arm_wake(kc, u);
	}
	release_held(kc, u);
}

/* A timed wait without IORING_FEAT_EXT_ARG: the timerfd is set to the
 * deadline (a later wait sets it again: one deadline, never a stale one)
 * and its read armed if it is not; the caller then waits for one
 * completion.  False when no timerfd could be had (the caller then does
 * not sleep, and the engine comes round again). */
static bool timer_set(struct kcopyd_client *kc, struct uring *u, int64_t timeout_ns)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 },
	};

	if (u->tfd < 0)
		u->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (u->tfd < 0 || timerfd_settime(u->tfd, 0, &its, NULL))
		return false;
	if (!u->tfd_armed) {
		struct io_uring_sqe *sqe = get_sqe(kc, u);

		io_uring_prep_read(sqe, u->tfd, &u->tfd_buf, sizeof(u->tfd_buf), 0);
		io_uring_sqe_set_data64(sqe, TIMER_TAG);
		u->tfd_armed = true;
	}
	return true;
}

static void uring_wait(struct kcopyd_client *kc, int64_t timeout_ns)
{
	struct uring *u = kc->backend_priv;
	struct io_uring_cqe *cqe;
	int ret;

	if (timeout_ns < 0) {
		ret = ring_submit(u, 1);
	} else if (timeout_ns && !u->ext_arg) {
		kc_stat_add(&u->counts.timed_waits, 1);
		ret = ring_submit(u, timer_set(kc, u, timeout_ns) ? 1 : 0);
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000,
		};

		ret = ring_submit(u, 0);
		if (ret >= 0 && timeout_ns) {
			kc_stat_add(&u->counts.timed_waits, 1);
			ret = io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		}
	}
	if (ret < 0 && !expected_error(ret))
		enter_failed(kc, u, ret);
	reap(kc, u);
}

static void uring_poll(struct kcopyd_client *kc)
{
	struct uring *u = kc->backend_priv;
	uint64_t v;
	int ret;

	if (kc->loop_mode && read(u->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		kc_fail("eventfd read failed: %s", strerror(errno));
	ret = ring_submit(u, 0);

	if (ret < 0 && !expected_error(ret))
		enter_failed(kc, u, ret);
	reap(kc, u);
}

static void uring_watch_update(struct kcopyd_client *kc, struct kc_watch *w)
{
	struct uring *u = kc->backend_priv;
	struct io_uring_sqe *sqe;

	if (w->busy) {
		if (w->events != w->armed && !w->removing) {
			sqe = get_sqe(kc, u);
			io_uring_prep_poll_remove(sqe, (uintptr_t)w | WATCH_TAG);
			io_uring_sqe_set_data64(sqe, (uintptr_t)w | REMOVE_TAG);
			w->removing = true;
		}
		return;
	}
	if (!w->events) {
		w->armed = 0;
		return;
	}
	sqe = get_sqe(kc, u);
	io_uring_prep_poll_add(sqe, w->fd, w->events);
	io_uring_sqe_set_data64(sqe, (uintptr_t)w | WATCH_TAG);
	w->busy = true;
	w->armed = w->events;
}

/* Until its poll has ended, the ring holds w: remove it and wait for that. */
static void uring_watch_del(struct kcopyd_client *kc, struct kc_watch *w)
{
	struct uring *u = kc->backend_priv;

	w->events = 0;
	while (w->busy) {
		int ret;

		uring_watch_update(kc, w);
		ret = ring_submit(u, 1);
		if (ret < 0 && !expected_error(ret))
			enter_failed(kc, u, ret);
		reap_some(kc, u);
	}
}

static void uring_wake(struct kcopyd_client *kc)
{
	struct uring *u = kc->backend_priv;

	kc_eventfd_signal(u->efd);
}

static int uring_loop_fd(const struct kcopyd_client *kc)
{
	const struct uring *u = kc->backend_priv;

	return u->efd;
}

const struct kc_backend_ops kc_backend_uring = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.submit = uring_submit,
	.flush = uring_flush,
	.wait = uring_wait,
	.poll = uring_poll,
	.wake = uring_wake,
	.watch_update = uring_watch_update,
	.watch_del = uring_watch_del,
	.loop_fd = uring_loop_fd,
};
