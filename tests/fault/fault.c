/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault-injecting endpoint (see fault.h).  It wraps any endpoint.  Each
 * request goes to one of two threads of its own, which picks its fate
 * (an injected error, a shorter transfer, a delay); an error is reported
 * from there, through kc_io_report_async(), as a remote endpoint would.
 * The rest goes back to the engine thread and on to the wrapped endpoint,
 * as a request of the fault endpoint's own (struct fault_req), whose report
 * comes back here (kc_io.report_to) and is passed up: the engine cannot
 * tell it from a real device, and the device under it does its own I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "internal.h"

#define FAULT_WORKERS 2

struct fault_dev {
	struct block_device *inner;
	struct kc_fault_config cfg;
	struct kc_fault_rule *rules;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fault_req *queue, **queue_tail;
	bool stop;
	uint64_t rng;
	struct kc_fault_event *events;
	size_t num_events, cap_events;
	uint64_t shorts;
	uint64_t stutter_n;           /* requests seen by cfg.stutter */
	uint64_t eof;                 /* reads end here (kc_fault_set_eof) */
	uint64_t zero_tries[2];       /* punch hole, zero range */
	struct kc_paths zero;         /* zeroing paths still offered: bit 0 punch hole, 1 zero range */
	pthread_t threads[FAULT_WORKERS];
	unsigned int nthreads;
};

static uint64_t next_rand(struct fault_dev *f)
{
	/* xorshift64*: reproducible from the seed, good enough to pick faults. */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545F4914F6CDD1DULL;
}

static void log_event(struct fault_dev *f, unsigned int op, int error, uint64_t start, uint64_t end)
{
	if (f->num_events == f->cap_events) {
		size_t cap = f->cap_events ? 2 * f->cap_events : 64;
		struct kc_fault_event *ev = realloc(f->events, cap * sizeof(*ev));

		if (!ev)
			kc_fail("fault endpoint: out of memory for its log");
		f->events = ev;
		f->cap_events = cap;
	}
	f->events[f->num_events++] = (struct kc_fault_event){ op, error, start, end };
}

/* A request of the engine's, on its way: first to a worker, which picks
 * its fate, then (unless it fails there) to the wrapped device as child. */
struct fault_req {
	struct kc_io child;           /* to the inner device; report_to brings it back */
	struct kc_io *io;             /* the engine's */
	struct kcopyd_client *kc;
	struct fault_dev *f;
	struct fault_req *next;       /* on f->queue */
	bool sent;                    /* child went to the inner device */
};

/* Under f->lock: the error to inject into this request, or 0. */
static int pick_fault(struct fault_dev *f, struct kc_io *io)
{
	unsigned int op = io->op == KC_OP_READ ? KC_FAULT_READ : KC_FAULT_WRITE;
	uint64_t start = io->off + io->done, end = io->off + io->len;
	int err = 0;

	for (unsigned int i = 0; i < f->cfg.num_rules && !err; i++) {
		const struct kc_fault_rule *r = &f->rules[i];

		if ((r->ops & op) && start < r->end && r->start < end)
			err = r->error;
	}
	if (!err && f->cfg.stutter && (f->cfg.fail_ops & op) &&
	    f->stutter_n++ % (f->cfg.stutter + 1) < f->cfg.stutter)
		err = f->cfg.fail_error;
	if (!err && f->cfg.fail_ppm && (f->cfg.fail_ops & op) &&
	    next_rand(f) % 1000000 < f->cfg.fail_ppm)
		err = f->cfg.fail_error;
	if (err)
		log_event(f, op, err, start, end);
	return err;
}

/* Under f->lock: how much of the request to actually transfer. */
static uint32_t pick_length(struct fault_dev *f, struct kc_io *io)
{
	uint64_t at = io->off + io->done;
	uint32_t len = io->len - io->done;

	if (io->op == KC_OP_READ && at + len > f->eof)
		return at < f->eof ? (uint32_t)(f->eof - at) : 0;
	if (f->cfg.stutter && len > KCOPYD_SECTOR_SIZE) {
		f->shorts++;
		return KCOPYD_SECTOR_SIZE;
	}
	if (f->cfg.short_pct && len > KCOPYD_SECTOR_SIZE &&
	    next_rand(f) % 100 < f->cfg.short_pct) {
		len = (uint32_t)(1 + next_rand(f) % (len / KCOPYD_SECTOR_SIZE - 1)) * KCOPYD_SECTOR_SIZE;
		f->shorts++;
	}
	return len;
}

/* Zeroing: the paths the device still offers, in turn, as the file
 * endpoint does (punch a hole, then zero a range); one that does not work
 * (cfg.zero_works) fails as on a file system without it, and is dropped
 * (the one tried: another request may have dropped it already).  One that
 * works goes to the wrapped device's own zeroing: 0.  None left:
 * -EOPNOTSUPP, and the engine writes zeros. */
static int pick_zero(struct fault_dev *f)
{
	int path;

	while ((path = kc_paths_next(&f->zero)) >= 0) {
		__atomic_add_fetch(&f->zero_tries[path], 1, __ATOMIC_RELAXED);
		if (f->cfg.zero_works & (1u << path))
			return 0;
		kc_paths_drop(&f->zero, (unsigned int)path);
	}
	return -EOPNOTSUPP;
}

/* On the engine thread: the child's turn came (a worker sent it here), or
 * the wrapped device reported it.  Its result is the engine's request's. */
static void child_report(struct kcopyd_client *kc, struct kc_io *child, int res)
{
	struct fault_req *q = (struct fault_req *)((char *)child - offsetof(struct fault_req, child));
	struct kc_io *io = q->io;

	if (!q->sent) {
		q->sent = true;
		q->f->inner->ops->submit(kc, child);
		return;
	}
	free(q);
	kc_io_report(kc, io, res);
}

static void *fault_worker(void *arg)
{
	struct fault_dev *f = arg;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct fault_req *q;
		struct kc_io *io;
		uint32_t len = 0, delay = 0;
		int res;

		while (!f->queue && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (!f->queue)
			break;
		q = f->queue;
		f->queue = q->next;
		if (!f->queue)
			f->queue_tail = &f->queue;
		io = q->io;
		res = pick_fault(f, io);
		if (!res && io->op != KC_OP_ZERO)
			len = pick_length(f, io);
		if (f->cfg.delay_max_us)
			delay = (uint32_t)(next_rand(f) % f->cfg.delay_max_us);
		pthread_mutex_unlock(&f->lock);

		if (delay)
			usleep(delay);
		if (!res && io->op == KC_OP_ZERO)
			res = pick_zero(f);
		if (res || (!len && io->op != KC_OP_ZERO)) {
			/* Failed here, or past the end set by kc_fault_set_eof(). */
			kc_io_report_async(q->kc, io, res);
			free(q);
		} else {
			struct kc_io *c = &q->child;

			c->bd = f->inner;
			c->op = io->op;
			c->buf = io->buf ? io->buf + io->done : NULL;
			c->off = io->off + (io->op == KC_OP_ZERO ? 0 : io->done);
			c->len = io->op == KC_OP_ZERO ? io->len : len;
			c->report_to = child_report;
			kc_io_report_async(q->kc, c, 0);
		}
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static void fault_submit(struct kcopyd_client *kc, struct kc_io *io)
{
	struct fault_dev *f = io->bd->priv;
	struct fault_req *q = calloc(1, sizeof(*q));

	if (!q) {
		kc_io_report(kc, io, -ENOMEM);
		return;
	}
	q->io = io;
	q->kc = kc;
	q->f = f;
	pthread_mutex_lock(&f->lock);
	*f->queue_tail = q;
	f->queue_tail = &q->next;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static int fault_flush(struct block_device *bd)
{
	struct fault_dev *f = bd->priv;

	return f->inner->ops->flush(f->inner);
}

static void fault_free(struct fault_dev *f)
{
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	for (unsigned int i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	kcopyd_bdev_close(f->inner);
	free(f->rules);
	free(f->events);
	free(f);
}

static void fault_close(struct block_device *bd)
{
	fault_free(bd->priv);
}

/* What it offers is the configuration's: zeroing as claimed, never an
 * in-kernel copy or direct I/O; a block device if the inner one is. */
static unsigned int fault_caps(const struct block_device *bd)
{
	const struct fault_dev *f = bd->priv;

	return (kc_paths_any(&f->zero) ? KC_CAP_ZERO : 0) | (kc_caps(f->inner) & KC_CAP_BLOCKDEV);
}

/* It reaches the inner device's bytes at the same offsets. */
static const struct block_device *fault_base(const struct block_device *bd)
{
	return ((const struct fault_dev *)bd->priv)->inner;
}

/* A wrapped device that needs the engine's loop gets it through us (and
 * only then is the wrapper one that serves one client at a time). */
static int fault_attach(struct kcopyd_client *kc, struct block_device *bd)
{
	struct fault_dev *f = bd->priv;

	return kc_attach(kc, f->inner);
}

static void fault_detach(struct kcopyd_client *kc, struct block_device *bd)
{
	struct fault_dev *f = bd->priv;

	kc_detach(kc, f->inner);
}

#define FAULT_OPS                       \
	.name = "fault",                \
	.caps = fault_caps,             \
	.base = fault_base,             \
	.submit = fault_submit,         \
	.flush = fault_flush,           \
	.close = fault_close

static const struct kc_endpoint_ops fault_ops = { FAULT_OPS };
static const struct kc_endpoint_ops fault_ops_attach = {
	FAULT_OPS,
	.attach = fault_attach,
	.detach = fault_detach,
};

int kc_fault_open(struct block_device *inner, const struct kc_fault_config *cfg,
		  struct block_device **result)
{
	struct block_device *bd;
	struct fault_dev *f;

	if (!inner || !cfg || !result || (cfg->num_rules && !cfg->rules))
		return -EINVAL;
	bd = calloc(1, sizeof(*bd));
	f = calloc(1, sizeof(*f));
	if (!bd || !f)
		goto nomem;
	f->cfg = *cfg;
	if (!f->cfg.fail_error)
		f->cfg.fail_error = -EIO;
	if (!f->cfg.fail_ops)
		f->cfg.fail_ops = KC_FAULT_READ | KC_FAULT_WRITE;
	f->rng = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ULL;
	f->rules = calloc(cfg->num_rules + 1, sizeof(*f->rules));
	if (!f->rules)
		goto nomem;
	if (cfg->num_rules)
		memcpy(f->rules, cfg->rules, cfg->num_rules * sizeof(*f->rules));
	f->cfg.rules = f->rules;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->queue_tail = &f->queue;
	f->inner = inner;
	bd->ops = inner->ops->attach ? &fault_ops_attach : &fault_ops;
	bd->priv = f;
	bd->geom = inner->geom;         /* size, block sizes, writability */
	atomic_init(&f->zero.ok, cfg->zero_offer & (KC_FAULT_PUNCH_HOLE | KC_FAULT_ZERO_RANGE));
	f->eof = UINT64_MAX;
	for (; f->nthreads < FAULT_WORKERS; f->nthreads++) {
		if (pthread_create(&f->threads[f->nthreads], NULL, fault_worker, f)) {
			f->inner = NULL;        /* the caller keeps inner on failure */
			fault_free(f);
			free(bd);
			return -EAGAIN;
		}
	}
	*result = bd;
	return 0;
nomem:
	if (f)
		free(f->rules);
	free(f);
	free(bd);
	return -ENOMEM;
}

size_t kc_fault_events(struct block_device *bd, struct kc_fault_event *out, size_t max)
{
	struct fault_dev *f = bd->priv;
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->num_events;
	if (out && n && max)
		memcpy(out, f->events, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&f->lock);
	return n;
}

uint64_t kc_fault_shorts(struct block_device *bd)
{
	struct fault_dev *f = bd->priv;
	uint64_t n;

	pthread_mutex_lock(&f->lock);
	n = f->shorts;
	pthread_mutex_unlock(&f->lock);
	return n;
}

void kc_fault_set_eof(struct block_device *bd, uint64_t eof)
{
	struct fault_dev *f = bd->priv;

	pthread_mutex_lock(&f->lock);
	f->eof = eof;
	pthread_mutex_unlock(&f->lock);
}

uint64_t kc_fault_zero_tries(struct block_device *bd, unsigned int path)
{
	struct fault_dev *f = bd->priv;
	uint64_t n;

	n = __atomic_load_n(&f->zero_tries[path == KC_FAULT_PUNCH_HOLE ? 0 : 1], __ATOMIC_RELAXED);
	return n;
}
