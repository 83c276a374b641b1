/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkcopyd internals.
 *
 * Data flow: kcopyd_copy() validates a job and appends it to the client's
 * incoming list.  The client's own thread (engine.c) moves incoming jobs to
 * its job queue, cuts them into sub-jobs, takes each sub-job's buffer from the
 * page pool (pool.c), reads the source once and writes every destination from
 * the same buffer, then returns the buffer.  When a job's last sub-job is done
 * its callback runs, on that same thread.
 *
 * Devices are endpoints behind an ops table (struct kc_endpoint_ops): the
 * engine hands them struct kc_io requests and they report each one back with
 * kc_io_report() (on the engine thread) or kc_io_report_async() (any
 * thread): a report only queues it for the engine.  The file endpoint
 * (file.c) turns its requests into system calls (struct kc_sysreq) that the
 * client's I/O backend runs: io_uring (backend_uring.c) or, where io_uring
 * is not available, a small pool of threads (backend_threads.c).  An
 * endpoint that talks to a server (watch.c) attaches to the client while
 * its jobs run: the engine then waits on its socket with the I/O, runs its
 * hook before each wait, and its timers give its requests deadlines.
 */
#ifndef KCOPYD_INTERNAL_H
#define KCOPYD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kcopyd.h"

/* Every thread the library starts gets this stack, not the C library's
 * default, which is the soft RLIMIT_STACK: tiny under ulimit -s 64, huge
 * when it is large.  The deepest frame chain measured (gcc -fstack-usage)
 * is a few KiB; this leaves room for sanitizers' runtimes. */
#define KC_THREAD_STACK (512u << 10)

static inline int kc_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int ret = pthread_attr_init(&attr);

	if (ret)
		return ret;
	ret = pthread_attr_setstacksize(&attr, KC_THREAD_STACK);
	if (!ret)
		ret = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return ret;
}

#define KC_EXPORT __attribute__((visibility("default")))

#define KC_PAGE_SHIFT 12
#define KC_DEFAULT_SUB_JOB (512u * 1024)
#define KC_DEFAULT_DEPTH 64
#define KC_MAX_DEPTH 4096
#define KC_OFFLOAD_MIN (256u * 1024)  /* smaller jobs: a thread hand-off costs more than it saves */

struct kcopyd_client;
struct kc_io;
struct kc_job;
struct kc_timer;

enum kc_op {
	KC_OP_READ,
	KC_OP_WRITE,
	KC_OP_ZERO,
	KC_OP_COPY,     /* in-kernel copy from io->src at io->src_off */
};

/* What a device is, set when it is opened and read-only after. */
struct kc_geom {
	uint64_t size;                /* bytes at open: the end-of-file rules are against it */
	sector_t sectors;             /* size rounded up to sectors */
	unsigned int lbs, pbs;        /* logical and physical block size (regions: lbs-aligned) */
	bool writable;                /* destinations need it (-EBADF) */
	bool clip_at_size;            /* never written past size (a regular file keeps its size) */
};

/* What a device can do now (kc_endpoint_ops.caps): fast paths drop out
 * after their first "not supported". */
#define KC_CAP_ZERO      (1u << 0)    /* zeroing may beat writing zeros: kcopyd_bdev_can_zero */
#define KC_CAP_COPY_FROM (1u << 1)    /* in-kernel copies with another of its kind */
#define KC_CAP_DIRECT    (1u << 2)    /* bypasses the page cache: kcopyd_bdev_is_direct */
#define KC_CAP_BLOCKDEV  (1u << 3)    /* kcopyd_bdev_is_blockdev */

/* An endpoint: what the engine talks to, without knowing what it is. */
struct kc_endpoint_ops {
	const char *name;
	/* KC_CAP_* bits; any thread, never blocks. */
	unsigned int (*caps)(const struct block_device *bd);
	/* The device a wrapper sits on (a fault endpoint over a file), or
	 * NULL: it is its own.  The same-storage test unwraps both sides. */
	const struct block_device *(*base)(const struct block_device *bd);
	/* Called only for two unwrapped devices of these ops: true when they
	 * may reach the same bytes at the same offsets.  Devices of different
	 * kinds are taken as distinct. */
	bool (*same_storage)(const struct block_device *a, const struct block_device *b);
	/* Start io (on the engine thread).  Its completion is reported
	 * exactly once, with kc_io_report() on the engine thread (from a
	 * system call's done function, or from inside submit itself) or
	 * kc_io_report_async() from any thread.  A positive result is the
	 * bytes moved (short is fine: the engine asks for the rest), 0 no
	 * more data.  KC_OP_ZERO: 0, or -EOPNOTSUPP when no fast path is left
	 * (the endpoint tries its own in turn), and the engine writes zeros.
	 * KC_OP_COPY (asked only where both sides have these ops and
	 * KC_CAP_COPY_FROM): any failure makes the engine redo the chunk by
	 * read and write; an endpoint that will not copy again drops the cap. */
	void (*submit)(struct kcopyd_client *kc, struct kc_io *io);
	int (*flush)(struct block_device *bd);
	void (*close)(struct block_device *bd);
	/* Optional, for an endpoint that needs the engine's loop (a socket it
	 * watches, a hook before the engine sleeps, timers): on the engine
	 * thread, before the first job of a client that uses the device
	 * starts (attach: 0 or a negative errno, which fails that job), and
	 * after the last one ends, before its callback (detach).  A device
	 * with attach serves one client at a time: a job of another client
	 * meanwhile fails with -EBUSY. */
	int (*attach)(struct kcopyd_client *kc, struct block_device *bd);
	void (*detach)(struct kcopyd_client *kc, struct block_device *bd);
};

struct block_device {
	const struct kc_endpoint_ops *ops;
	void *priv;                   /* the endpoint's own state */
	struct kc_geom geom;
	struct kcopyd_client *attached;   /* ops->attach: the client it serves (kc_attach_lock) */
	unsigned int attached_jobs;       /* ...for this many of its jobs */
};

/* ---- watch.c: descriptors the engine watches, hooks before it sleeps ----
 *
 * An endpoint fills a struct kc_watch (fd, events, ready) and adds it from
 * attach; the engine waits on it with the I/O (io_uring: a one-shot poll
 * request; the thread backend: epoll).  events may change at any time on the
 * engine thread (kc_watch_set: 0 pauses it); the change is made before the
 * engine next waits.  ready() runs on the engine thread, from the engine's
 * turn, never from inside a call into the endpoint: a completion it reports
 * is handled after it returns.  A hook's fn runs on every turn before the
 * engine waits (where an endpoint pushes what it queued, as libnbd wants).
 * kc_watch_del and kc_hook_del (from detach, say) end the engine's use of
 * them at once. */
struct kc_watch {
	int fd;
	unsigned int events;          /* POLLIN | POLLOUT wanted; 0: not now */
	void (*ready)(struct kcopyd_client *kc, struct kc_watch *w, unsigned int revents);
	/* The engine's and its backend's: */
	unsigned int armed;           /* events the backend waits for now */
	unsigned int revents;         /* seen, for ready() */
	bool busy;                    /* io_uring: its poll request is in flight */
	bool removing;                /* io_uring: a poll remove is on its way */
	bool queued;                  /* on kc->watch_ready */
	struct kc_watch *next;        /* kc->watches */
	struct kc_watch *next_ready;  /* kc->watch_ready */
};
struct kc_hook {
	void (*fn)(struct kcopyd_client *kc, struct kc_hook *h);
	struct kc_hook *next;
};
void kc_watch_add(struct kcopyd_client *kc, struct kc_watch *w);
void kc_watch_set(struct kcopyd_client *kc, struct kc_watch *w, unsigned int events);
void kc_watch_del(struct kcopyd_client *kc, struct kc_watch *w);
void kc_hook_add(struct kcopyd_client *kc, struct kc_hook *h);
void kc_hook_del(struct kcopyd_client *kc, struct kc_hook *h);
/* The backend saw w ready (revents: POLLIN, POLLOUT, POLLERR, POLLHUP). */
void kc_watch_report(struct kcopyd_client *kc, struct kc_watch *w, unsigned int revents);
/* The engine's side: attach a device for one more job (0 or why not; a
 * device without ops->attach must not be given), detach it after, run
 * ready watches, and before it waits: the hooks, then every watch whose
 * events changed. */
int kc_attach(struct kcopyd_client *kc, struct block_device *bd);
void kc_detach(struct kcopyd_client *kc, struct block_device *bd);
bool kc_watches_run(struct kcopyd_client *kc);
void kc_before_wait(struct kcopyd_client *kc);
/* The engine's timers, for an endpoint (from attach: reserve room for the
 * timers it will arm, as arming never allocates). */
int kc_client_timers_reserve(struct kcopyd_client *kc, uint32_t more);
void kc_client_timers_release(struct kcopyd_client *kc, uint32_t n);
void kc_client_timer_arm(struct kcopyd_client *kc, struct kc_timer *t, uint64_t at_ns);
void kc_client_timer_cancel(struct kcopyd_client *kc, struct kc_timer *t);

static inline unsigned int kc_caps(const struct block_device *bd)
{
	return bd->ops->caps ? bd->ops->caps(bd) : 0;
}

/* bdev.c: whether a and b may reach the same bytes (see same_storage). */
bool kc_same_storage(const struct block_device *a, const struct block_device *b);

/* An endpoint's cascade of fast paths (zeroing, say), tried in order, each
 * dropped after its first "not supported" so that it is tried once.  Every
 * client using the device reads and drops them from its own engine thread,
 * and submitters read them: an atomic (relaxed is enough, paths only ever
 * go away).  A request drops the path it tried, not whichever is first
 * now: another may have dropped that one already and moved on. */
struct kc_paths {
	atomic_uint ok;               /* bit i: path i may work */
};

static inline void kc_paths_init(struct kc_paths *p, unsigned int n)
{
	atomic_init(&p->ok, (1u << n) - 1);
}

static inline int kc_paths_next(const struct kc_paths *p)     /* -1: none left */
{
	unsigned int ok = atomic_load_explicit(&p->ok, memory_order_relaxed);

	return ok ? __builtin_ctz(ok) : -1;
}

static inline bool kc_paths_any(const struct kc_paths *p)
{
	return atomic_load_explicit(&p->ok, memory_order_relaxed) != 0;
}

static inline void kc_paths_drop(struct kc_paths *p, unsigned int path)
{
	atomic_fetch_and_explicit(&p->ok, ~(1u << path), memory_order_relaxed);
}

/* A system call for the client's backend to run (the file endpoint's
 * requests): it ends in done(), on the engine thread, called at a fixed
 * point of the engine's turn (never inside the backend's own code). */
enum kc_sys_op {
	KC_SYS_READ,          /* pread(fd, buf, len, off) */
	KC_SYS_WRITE,         /* pwrite(fd, buf, len, off) */
	KC_SYS_FALLOCATE,     /* fallocate(fd, mode, off, len): 0 or -errno */
	KC_SYS_COPY_RANGE,    /* copy_file_range(src_fd, src_off, fd, off, len): on a thread pool */
};
#define KC_SYS_ASYNC    (1u << 0)     /* on io_uring's workers, not inline */
#define KC_SYS_FIXED_OK (1u << 1)     /* O_DIRECT: the pool may go as a registered buffer */
#define KC_SYS_BLOCKING (1u << 2)     /* never through io_uring: on the client's blocking pool */
struct kc_sysreq {
	uint8_t op;                   /* enum kc_sys_op */
	uint8_t flags;                /* KC_SYS_* */
	uint8_t tag;                  /* the issuer's own */
	int fd, src_fd;
	int mode;
	char *buf;
	uint64_t off, src_off;
	uint32_t len;
	int res;
	struct kc_sysreq *next;       /* on a backend's or the client's lists */
	void (*done)(struct kcopyd_client *kc, struct kc_sysreq *r, int res);
};

/* The engine's timers (timer.c): a min-heap on kc_now_ns(), with room
 * reserved for every timer that can be armed at once, so arming never
 * allocates.  fn runs on the engine thread when the time comes, once per
 * arming; the timer is idle again when it runs. */
struct kc_timer {
	uint64_t at;                  /* kc_now_ns() when it fires */
	uint32_t slot;                /* 1 + its index in the heap, 0 when idle */
	void (*fn)(struct kcopyd_client *kc, struct kc_timer *t);
};
struct kc_timers {
	struct kc_timer **heap;
	uint32_t n, cap;
};
int kc_timers_reserve(struct kc_timers *h, uint32_t cap);
void kc_timers_fini(struct kc_timers *h);
void kc_timer_arm(struct kc_timers *h, struct kc_timer *t, uint64_t at);  /* re-arming moves it */
void kc_timer_cancel(struct kc_timers *h, struct kc_timer *t);           /* idle: nothing */
uint64_t kc_timer_next(const struct kc_timers *h);                        /* UINT64_MAX: none */
void kc_timers_run(struct kcopyd_client *kc, struct kc_timers *h, uint64_t now);
#define KC_CLIENT_TIMERS 1            /* the client's own: the throttle's wake-up */

/* One I/O: the read of a sub-job, or its write (or zero) of one destination. */
struct kc_io {
	struct kc_subjob *sj;
	struct block_device *bd;
	char *buf;
	uint64_t off;                 /* bytes */
	uint32_t len, done;
	uint8_t op;                   /* enum kc_op */
	uint8_t dest;                 /* destination index for writes */
	uint8_t retries;              /* -EAGAIN/-EINTR resubmissions since it last moved */
	const struct block_device *src;   /* KC_OP_COPY: the source, */
	uint64_t src_off;                 /* and where in it (bytes) */
	int res;                      /* completion result, from the report */
	struct kc_io *next;           /* on the client's completion lists */
	/* Who is told when it ends: NULL, the engine; else the endpoint that
	 * made this request of another (a wrapper, of the device it wraps).
	 * Called where the engine would take it, on the engine thread. */
	void (*report_to)(struct kcopyd_client *kc, struct kc_io *io, int res);
	struct kc_timer retry;        /* armed while it waits for its retry */
	/* The endpoint's own, per request: the file endpoint's system call,
	 * or any endpoint's scratch. */
	union {
		struct kc_sysreq sys;
		uint64_t u64[4];
		struct {                      /* an endpoint's own queues */
			struct kc_io *next;
			uint64_t seq;
		} list;
	} ep;
};

/* -EAGAIN and -EINTR are retried at most this many times in a row per I/O
 * (a transfer that moves bytes starts the count again), after a back-off
 * that doubles from KC_RETRY_MIN_NS up to KC_RETRY_MAX_NS; then the I/O
 * fails with that error. */
#define KC_MAX_RETRIES 10
#define KC_RETRY_MIN_NS 1000000ull       /* 1 ms */
#define KC_RETRY_MAX_NS 100000000ull     /* 100 ms */

struct kc_job {
	struct kc_job *next;
	union {
		kcopyd_notify_fn notify;
		kcopyd_result_fn result;
	} fn;
	void *context;
	unsigned int flags;
	unsigned int in_flight;       /* sub-jobs of this job not yet finished */
	uint8_t kind;                 /* KC_JOB_COPY, KC_JOB_ZERO, KC_JOB_CALLBACK */
	uint8_t ex;                   /* fn.result rather than fn.notify */
	bool serial;                  /* one sub-job at a time (source/dest overlap) */
	bool backward;                /* overlap with dest above source: last chunk first */
	bool stop;                    /* an error without IGNORE_ERROR: start nothing new */
	bool queued;                  /* on the client's queue */
	bool offload;                 /* sub-jobs copy in the kernel (copy_file_range) */
	bool cancelled;               /* stopped by kcopyd_client_cancel() */
	uint64_t seq;                 /* submission number (kc->submit_seq), for cancel */
	uint64_t epoch;               /* kc->wait_epoch it counts in, for kcopyd_client_wait */
	uint64_t attached;            /* devices attached for it (bit 0 source, 1+d dest d) */
	unsigned int num_dests;
	unsigned int live;            /* mask of destinations still written */
	unsigned int write_err;
	int read_err;
	sector_t read_err_sector;
	uint64_t total, issued;       /* bytes of the job, bytes handed to sub-jobs */
	/* Sub-job sequence numbers, compared for equality only (modulo 2^32:
	 * far fewer sub-jobs are ever in flight): next to create, next
	 * allowed to write (WRITE_SEQ). */
	uint32_t next_index, next_write;
	struct kc_subjob *parked;     /* WRITE_SEQ: read, waiting for their turn */
	struct io_region from;
	/* Its destinations: each as many sectors as the job (total). */
	struct kc_dest {
		struct block_device *bdev;
		sector_t sector;
		int err;
		sector_t err_sector;  /* the first failed write's sector (valid if err) */
		sector_t hole;        /* the lowest chunk not written to it, or UINT64_MAX */
	} dests[];
};

/* A job of kcopyd_prepare_callback() has no destinations: where they would
 * be, it keeps the client it is queued on by kcopyd_do_callback(). */

enum { KC_JOB_COPY, KC_JOB_ZERO, KC_JOB_CALLBACK };

/* A sub-job's state: see engine.c, where sj_advance() alone changes it. */
enum kc_sj_state {
	KC_SJ_FREE,
	KC_SJ_WAIT_MEM,
	KC_SJ_READING,
	KC_SJ_COPYING,
	KC_SJ_PARKED,
	KC_SJ_WRITING,
	KC_SJ_DONE,
};

/* A sub-job: one chunk of a job, with its buffer and its I/Os. */
struct kc_subjob {
	struct kc_subjob *next;       /* free list, or a job's parked list */
	struct kc_job *job;
	uint8_t state;                /* enum kc_sj_state */
	char *buf;
	unsigned int order;           /* buffer size is PAGE << order */
	uint32_t index;               /* job->next_index when it was made */
	uint64_t rel;                 /* byte offset inside the job */
	uint32_t len;
	unsigned int pending;         /* I/Os outstanding */
	unsigned int mask;            /* destinations this sub-job writes */
	unsigned int redo;            /* offloaded copies that failed: redo by read+write */
	unsigned int held;            /* destinations whose write of this chunk ended (done, failed,
					 skipped as zeros or past a file's end): the others lack it */
	bool zeroed;                  /* buf holds zeros (zero fallback) */
	bool read_ok;                 /* the chunk is in buf (read, or zeroing: nothing to read) */
	struct kc_io read;
	struct kc_io write[KCOPYD_MAX_REGIONS];
};

/* The buddy allocator of the page pool. */
struct kc_pool {
	char *base;
	unsigned int num_pages;
	unsigned int max_order;
	uint32_t *free_head;          /* per order: first free block (page index) or UINT32_MAX */
	uint32_t *links;              /* per page: next free block of its order */
	uint8_t *state;               /* per page: order+1 if it heads a free block, else 0 */
};
int kc_pool_init(struct kc_pool *p, unsigned int num_pages);
void kc_pool_fini(struct kc_pool *p);
void kc_pool_reset(struct kc_pool *p, unsigned int max_order);
char *kc_pool_alloc(struct kc_pool *p, unsigned int order);
void kc_pool_free(struct kc_pool *p, char *buf, unsigned int order);

/* I/O backends. */
struct kc_backend_ops {
	const char *name;
	int (*init)(struct kcopyd_client *kc);
	void (*fini)(struct kcopyd_client *kc);
	/* Start a read, write or fallocate (never COPY_RANGE: kc_sys_submit
	 * runs those on its pool); its end is reported with kc_sys_report()
	 * or kc_sys_report_async(). */
	void (*submit)(struct kcopyd_client *kc, struct kc_sysreq *r);
	/* Push queued requests to the kernel (or the workers). */
	void (*flush)(struct kcopyd_client *kc);
	/* Wait for completions (or a wake-up) for at most timeout_ns (<0: forever),
	 * and report every completion. */
	void (*wait)(struct kcopyd_client *kc, int64_t timeout_ns);
	/* Push queued requests and handle the completions already there,
	 * without waiting: the engine calls it on every turn it does not
	 * sleep, so I/O moves on while new work keeps it busy. */
	void (*poll)(struct kcopyd_client *kc);
	/* Wake the waiting engine thread from another thread. */
	void (*wake)(struct kcopyd_client *kc);
	/* Make the backend wait for w->events (0: not at all) from now on;
	 * readiness is reported with kc_watch_report(). */
	void (*watch_update)(struct kcopyd_client *kc, struct kc_watch *w);
	/* Forget w: after it returns, the backend has no hold on it. */
	void (*watch_del)(struct kcopyd_client *kc, struct kc_watch *w);
	/* Loop mode (set up by init when kc->loop_mode): the descriptor that
	 * becomes readable when the engine has work (completions, a wake). */
	int (*loop_fd)(const struct kcopyd_client *kc);
};
extern const struct kc_backend_ops kc_backend_uring;
extern const struct kc_backend_ops kc_backend_threads;

/* Worker threads for blocking system calls (backend_threads.c); their ends
 * go through kc_sys_report_async(). */
struct kc_tpool;
int kc_tpool_create(struct kcopyd_client *kc, unsigned int nthreads, struct kc_tpool **result);
void kc_tpool_destroy(struct kc_tpool *t);
void kc_tpool_submit(struct kc_tpool *t, struct kc_sysreq *r);
/* Make r's system call here, blocking: its result (-errno on failure). */
int kc_sys_run(struct kc_sysreq *r);
/* Run r on the client's backend, or a copy_file_range on the client's copy
 * pool (made when first needed). */
void kc_sys_submit(struct kcopyd_client *kc, struct kc_sysreq *r);

struct kcopyd_client {
	pthread_t thread;
	pthread_mutex_t lock;         /* guards everything below up to 'engine' */
	pthread_cond_t idle_cond;     /* outstanding reached 0 */
	struct kc_job *incoming, **incoming_tail;   /* submitted, not yet seen by the engine */
	uint64_t outstanding;         /* jobs submitted whose callback has not returned */
	struct kc_io *completed;      /* I/Os reported from other threads (kc_io_report_async) */
	struct kc_sysreq *sys_completed;  /* system calls ended on other threads (kc_sys_report_async) */
	bool sleeping;                /* engine is (about to be) blocked in wait() */
	bool kicked;                  /* a setting changed since the engine's last turn began */
	bool exiting;
	/* kcopyd_client_wait() waits for "every job submitted before the call":
	 * jobs count in the epoch current when they were submitted (a job
	 * submitted from a callback counts in its parent's), and a waiter
	 * closes the current epoch and waits for it to drain.  At most two
	 * epochs are open at once: a waiter first waits for the older one. */
	uint64_t wait_epoch;
	uint64_t epoch_jobs[2];       /* outstanding jobs of epochs wait_epoch-1, wait_epoch (by parity) */
	uint64_t submit_seq;          /* jobs (not prepared callbacks) submitted so far */
	uint64_t cancel_upto;         /* kcopyd_client_cancel: jobs with seq <= this stop */
	struct kc_cancel {            /* kcopyd_cancel: not yet applied, newest first */
		struct kc_cancel *next;
		const void *context;
		uint64_t upto;        /* jobs with seq <= this and this context stop */
	} *cancels;

	/* --- owned by the engine thread --- */
	const struct kc_backend_ops *backend;
	void *backend_priv;
	struct kc_pool pool;
	unsigned int sub_job_size;    /* bytes, PAGE << sub_job_order */
	unsigned int sub_job_order;
	unsigned int depth;
	struct kc_subjob *subjobs;    /* depth descriptors */
	struct kc_subjob *free_subjobs;
	struct kc_subjob *mem_wait;   /* the sub-job waiting for a pool buffer, or NULL */
	bool retire;                  /* a queued job stopped: dispatch takes it off */
	unsigned int busy_subjobs;
	struct kc_job *queue, **queue_tail;   /* jobs with work left to hand out */
	struct kc_job *done, **done_tail;     /* callbacks to run */
	struct kc_io *ready, **ready_tail;    /* I/Os reported on this thread (kc_io_report) */
	struct kc_sysreq *sys_ready, **sys_ready_tail;  /* system calls ended (kc_sys_report) */
	struct kc_watch *watches;             /* watch.c: the descriptors watched */
	struct kc_watch *watch_ready;         /* ...that the backend saw ready */
	struct kc_hook *hooks;                /* run before each wait */
	struct kc_tpool *offload;             /* copy_file_range workers, made when first needed */
	struct kc_tpool *blocking;            /* io_uring: KC_SYS_BLOCKING's workers, the same */
	bool blocking_inline;                 /* ...could not be made: those calls run here */
	bool offload_off;                     /* KCOPYD_OFFLOAD=0, or no copy pool: read with
						 __atomic loads, it is set on the engine thread
						 and read by submitters */
	bool punt_writes;                     /* buffered writes on io_uring's workers */
	uint64_t rate;                        /* bytes per second, 0 = unlimited */
	uint64_t rate_tokens;                 /* bytes the throttle lets go now */
	uint64_t rate_stamp_ns;
	uint64_t rate_seen;                   /* the rate the bucket was filled at */
	/* The kernel's throttle (kcopyd_client_set_throttle): at most
	 * io_percent % of the time with a sub-job in flight, over about the
	 * last second (engine.c, io_time_wait). */
	unsigned int io_percent;              /* 1..100, 100 = no limit; set with atomics */
	unsigned int io_percent_seen;         /* the one the times below were taken for */
	uint64_t io_busy_ns;                  /* of io_total_ns, the time with a sub-job in flight */
	uint64_t io_total_ns;
	uint64_t io_stamp_ns;                 /* when they were last brought up to date */
	uint64_t held_since_ns;               /* a throttle holds a sub-job back since then; 0: none */
	struct kc_timers timers;              /* retries, the throttle's wake-up (timer.c) */
	struct kc_timer throttle_timer;       /* armed while the throttle holds a sub-job back */
	uint32_t timers_extra;                /* room the attached endpoints reserved */
	uint64_t cancel_seen;                 /* the cancel_upto last applied */
	uint64_t cb_epoch;                    /* epoch of the job whose callback runs */
	bool in_callback;
	bool loop_mode;                       /* KCOPYD_CLIENT_NO_THREAD: the caller's loop drives it */
	bool loop_busy;                       /* loop mode: the last pass left work to do now */
	unsigned int test_uring;              /* KCOPYD_TEST_URING: KC_TEST_* bits */

	struct kcopyd_stats stats;    /* written by the engine, read with atomics */
};

/* KCOPYD_TEST_URING=noextarg,cqsmall,ebusy,nodrop,noprobe,userfs (tests only,
 * undocumented for users): force the io_uring paths that only older kernels
 * take; userfs: files on FUSE go through io_uring as any other (the tests'
 * faultfs, to see io_uring's own handling of its errors). */
#define KC_TEST_NOEXTARG (1u << 0)    /* act as if IORING_FEAT_EXT_ARG were missing */
#define KC_TEST_CQSMALL  (1u << 1)    /* a tiny ring: the CQ overflows */
#define KC_TEST_EBUSY    (1u << 2)    /* every other submit fails with -EBUSY first */
#define KC_TEST_NODROP   (1u << 3)    /* act as if IORING_FEAT_NODROP were missing */
#define KC_TEST_NOPROBE  (1u << 4)    /* act as if the kernel had no opcode probe (< 5.6) */
#define KC_TEST_USERFS   (1u << 5)    /* no KC_SYS_BLOCKING pool */

/* What the io_uring backend went through, for the tests of those paths
 * (all 0 on the thread engine). */
struct kc_uring_counts {
	uint64_t ebusy;               /* submits that failed with -EBUSY */
	uint64_t held;                /* requests held back for room in the CQ */
	uint64_t timed_waits;         /* waits with a timeout */
	uint64_t timeout_cqes;        /* timerfd reads completed (no EXT_ARG) */
	uint64_t overflows;           /* reaps that found the CQ overflowed */
	uint64_t inline_runs;         /* -ECANCELED calls made again on the engine thread */
};
void kc_uring_counts(const struct kcopyd_client *kc, struct kc_uring_counts *out);

/* errno is the caller's: every public function keeps it as it found it. */
#define KC_ERRNO_SAVE int kc_saved_errno_ = errno
#define KC_ERRNO_RESTORE (errno = kc_saved_errno_)

/* engine.c */
void kc_client_wake(struct kcopyd_client *kc);
void *kc_engine_main(void *arg);
void kc_run_once(struct kcopyd_client *kc);
uint64_t kc_next_deadline(const struct kcopyd_client *kc);
void kc_io_report(struct kcopyd_client *kc, struct kc_io *io, int res);
void kc_io_report_async(struct kcopyd_client *kc, struct kc_io *io, int res);
void kc_sys_report(struct kcopyd_client *kc, struct kc_sysreq *r, int res);
void kc_sys_report_async(struct kcopyd_client *kc, struct kc_sysreq *r, int res);
void kc_wake_locked(struct kcopyd_client *kc);
void kc_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* file.c: the local file / block device endpoint.  kc_file_open fills bd
 * (acc: O_RDONLY or O_RDWR; bflags: KCOPYD_BDEV_*), leaving nothing open
 * on failure. */
int kc_file_open(const char *path, int acc, unsigned int bflags, struct block_device *bd);

static inline void kc_stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

uint64_t kc_now_ns(void);
void kc_eventfd_signal(int efd);

#endif
