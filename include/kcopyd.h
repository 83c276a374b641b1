/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkcopyd: copy ranges of 512-byte sectors from one device to one or more
 * other devices, asynchronously, with memory reserved up front.
 *
 * The API keeps the names and signatures of the kernel's kcopyd as described
 * in Documentation/device-mapper/kcopyd.txt.  Every function that can fail
 * returns 0 (or a non-negative value) on success and a negative errno value
 * on failure; none of them sets errno.  See kcopyd(3).
 */
#ifndef KCOPYD_H
#define KCOPYD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KCOPYD_VERSION_MAJOR 0
#define KCOPYD_VERSION_MINOR 4
#define KCOPYD_VERSION_MICRO 0

typedef uint64_t sector_t;                 /* 512-byte sectors */

#define KCOPYD_SECTOR_SHIFT 9
#define KCOPYD_SECTOR_SIZE  512u
#define KCOPYD_PAGE_SIZE    4096u           /* the unit of num_pages */

struct block_device;                       /* opaque: a regular file or a block device */
struct kcopyd_client;                      /* opaque */

struct io_region {
	struct block_device *bdev;
	sector_t sector;
	sector_t count;
};

/* read_err: 0, or the negative errno of the first failed read of the source.
 * write_err: bit i set if writing destination i failed. */
typedef void (*kcopyd_notify_fn)(int read_err, unsigned int write_err, void *context);

/* Flags of kcopyd_copy() and kcopyd_zero(). */
#define KCOPYD_IGNORE_ERROR (1u << 0)      /* go on for the healthy destinations after an error */
#define KCOPYD_WRITE_SEQ    (1u << 1)      /* write each destination in increasing offset order;
					      clears KCOPYD_IGNORE_ERROR, as in the kernel */
#define KCOPYD_SKIP_ZEROES  (1u << 2)      /* copies: destinations already read as zero, so a
					      sub-job chunk that is all zeros is not written */
#define KCOPYD_MAX_REGIONS  32

/* The seed API. */
int  kcopyd_client_create(unsigned int num_pages, struct kcopyd_client **result);
int  kcopyd_copy(struct kcopyd_client *kc, struct io_region *from,
		 unsigned int num_dests, struct io_region *dests,
		 unsigned int flags, kcopyd_notify_fn fn, void *context);
int  kcopyd_zero(struct kcopyd_client *kc, unsigned int num_dests, struct io_region *dests,
		 unsigned int flags, kcopyd_notify_fn fn, void *context);
void kcopyd_client_destroy(struct kcopyd_client *kc);

/* Devices: regular files and block devices. */
int  kcopyd_bdev_open(const char *path, int open_flags /* O_RDONLY or O_RDWR */,
		      struct block_device **result);
void kcopyd_bdev_close(struct block_device *bdev);
sector_t kcopyd_bdev_sectors(const struct block_device *bdev);

/* ---- Extensions ---------------------------------------------------------- */

/* kcopyd_bdev_open_ex() flags. */
#define KCOPYD_BDEV_DIRECT   (1u << 0)     /* require O_DIRECT: fail with -EINVAL where unsupported */
#define KCOPYD_BDEV_BUFFERED (1u << 1)     /* never use O_DIRECT */
#define KCOPYD_BDEV_EXCL     (1u << 2)     /* block devices: open with O_EXCL (-EBUSY if mounted or held) */

int  kcopyd_bdev_open_ex(const char *path, int open_flags, unsigned int bdev_flags,
			 struct block_device **result);
/* Exact size in bytes (a regular file need not be a multiple of 512 bytes;
 * kcopyd_bdev_sectors() rounds it up, the tail reads as zeros and a regular
 * file is never written past its end). */
uint64_t kcopyd_bdev_size(const struct block_device *bdev);
unsigned int kcopyd_bdev_logical_block_size(const struct block_device *bdev);
unsigned int kcopyd_bdev_physical_block_size(const struct block_device *bdev);
int  kcopyd_bdev_is_blockdev(const struct block_device *bdev);   /* 1 or 0 */
int  kcopyd_bdev_is_direct(const struct block_device *bdev);     /* 1 if O_DIRECT is in use */
int  kcopyd_bdev_can_zero(const struct block_device *bdev);      /* 1 if a zeroing fast path may exist */
/* fsync the device: returns 0 or a negative errno. */
int  kcopyd_bdev_flush(struct block_device *bdev);

/* Block until every job submitted before the call (and any they submit from
 * their callbacks, and the callbacks prepared before the call) has called
 * back; jobs that other threads submit meanwhile are not waited for.
 * -EDEADLK from one of the client's callbacks. */
int  kcopyd_client_wait(struct kcopyd_client *kc);

/* Stop every job submitted before the call from starting new sub-jobs.
 * Sub-jobs already reading or writing finish; each such job's callback then
 * runs with read_err = -ECANCELED (unless an error was already recorded) and
 * write_err the bits of the destinations that failed.  Jobs submitted after
 * the call are not affected.  Safe from any thread, including from a
 * callback.  Returns 0, or -EINVAL when kc is NULL. */
int  kcopyd_client_cancel(struct kcopyd_client *kc);

/* The same for the jobs submitted before the call with this context (the
 * pointer given to kcopyd_copy and the others), and only those: the others
 * go on.  Safe from any thread, including from a callback.  Returns 0,
 * -EINVAL when kc is NULL, -ENOMEM.  (KCOPYD_0.3) */
int  kcopyd_cancel(struct kcopyd_client *kc, const void *context);

/* Event-loop mode (KCOPYD_0.3): a client without a thread of its own, for
 * programs that have their own loop.  kcopyd_client_create_ex() with
 * KCOPYD_CLIENT_NO_THREAD makes one; it belongs to the calling thread, and
 * its callbacks run there, from kcopyd_client_run_once().  Poll the
 * descriptor from kcopyd_client_get_fd() for reading; when it is readable,
 * or the deadline from kcopyd_client_next_deadline() has come, call
 * kcopyd_client_run_once().  Jobs may be submitted from any thread.  On the
 * owner thread (outside a callback) kcopyd_client_wait() and
 * kcopyd_client_destroy() drive the client themselves until they may
 * return; on another thread they wait for the owner's loop to get there.
 * create_ex with flags 0 is kcopyd_client_create(). */
#define KCOPYD_CLIENT_NO_THREAD (1u << 0)
int  kcopyd_client_create_ex(unsigned int num_pages, unsigned int flags,
			     struct kcopyd_client **result);
/* The descriptor to poll for POLLIN; or -EINVAL (kc NULL), -EOPNOTSUPP (a
 * client with its own thread).  It stays the same for the client's life. */
int  kcopyd_client_get_fd(const struct kcopyd_client *kc);
/* One pass, without blocking: reap completions, fire due timers, start
 * sub-jobs, submit their I/O, run the callbacks that are due.  0, or
 * -EINVAL, -EOPNOTSUPP, -EPERM (not the owner thread), -EDEADLK (from one
 * of the client's callbacks). */
int  kcopyd_client_run_once(struct kcopyd_client *kc);
/* 1 and *deadline_ns (CLOCK_MONOTONIC, in ns; at or before now: call
 * kcopyd_client_run_once() at once, work was left over) when run_once must
 * be called by then even with the descriptor quiet; 0 when nothing is due
 * but what the descriptor says; -EINVAL, -EOPNOTSUPP, -EPERM. */
int  kcopyd_client_next_deadline(const struct kcopyd_client *kc, uint64_t *deadline_ns);

/* The engine the client runs on: "io_uring" or "threads" (the fallback).
 * The environment variable KCOPYD_ENGINE=threads|io_uring forces one. */
const char *kcopyd_client_engine(const struct kcopyd_client *kc);

/* Sub-job size in bytes: a multiple of 4096, rounded down to a power of two
 * number of pages and capped by the pool.  Default 512 KiB.  -EBUSY while jobs run. */
int  kcopyd_client_set_sub_job_size(struct kcopyd_client *kc, unsigned int bytes);
/* How many sub-jobs may be in flight at once (1..4096, default 64). -EBUSY while jobs run. */
int  kcopyd_client_set_queue_depth(struct kcopyd_client *kc, unsigned int depth);
/* Throttle: at most bytes_per_sec bytes read or zeroed per second; 0 = unlimited.
 * Takes effect at once, also for sub-jobs the old rate is holding back. */
int  kcopyd_client_set_rate(struct kcopyd_client *kc, uint64_t bytes_per_sec);
/* The kernel's throttle (dm-kcopyd's "throttle" module parameters): I/O in
 * flight at most percent % of the time, over about the last second; 100 =
 * unlimited, the default.  No new sub-job starts while over it; the I/O
 * in flight and the callbacks are never delayed.  Takes effect at once; both
 * throttles may be set.  0, or -EINVAL (kc NULL, percent 0 or above 100).
 * (KCOPYD_0.4) */
int  kcopyd_client_set_throttle(struct kcopyd_client *kc, unsigned int percent);

struct kcopyd_stats {
	uint64_t jobs_submitted;
	uint64_t jobs_completed;
	uint64_t sub_jobs;
	uint64_t bytes_read;          /* from sources */
	uint64_t bytes_written;       /* to destinations, summed over destinations */
	uint64_t bytes_zeroed;        /* by fast paths (fallocate), summed over destinations */
	uint64_t bytes_skipped;       /* all-zero blocks not written (KCOPYD_SKIP_ZEROES) */
	uint64_t read_errors;
	uint64_t write_errors;
	uint64_t retries;             /* short transfers and -EAGAIN/-EINTR resubmitted */
	uint64_t throttled_ns;        /* time a throttle held back a sub-job that could have
					 started (KCOPYD_0.4) */
};
/* Fills up to size bytes of *stats (pass sizeof(struct kcopyd_stats)). */
int  kcopyd_client_stats(const struct kcopyd_client *kc, struct kcopyd_stats *stats, size_t size);

/* Detailed result of a job, for kcopyd_copy_ex() and kcopyd_zero_ex().
 * Sectors are counted from the start of their device.
 *
 * dest_err_sector[i], for every destination, failed or not: the first sector
 * of destination i that does not hold the source's data (zeros, for zeroing)
 * when the callback runs.  Every sector of its region below it holds exactly
 * the source's; it is the region's end (sector + count) when the destination
 * holds all of it.  It is the lowest of the destination's first failed write
 * and the first sector of each chunk it did not get (a chunk whose read
 * failed, one left out because the job stopped on an error or was
 * cancelled, the part no sub-job was started for).  A failed destination
 * still gets the chunks below its failure already in flight (with or
 * without IGNORE_ERROR; WRITE_SEQ wrote them before, in order), so for it
 * this is its first failed write unless a read failed below that.  (An in-kernel copy cut short by the source's end may have written
 * part of that chunk beyond it: the bytes below it are what is promised.)
 *
 * read_err_sector (valid if read_err): for a failed read, the lowest source
 * sector whose read failed (its chunk is written nowhere); for -ECANCELED,
 * the first source sector (zeroing: of dests[0]) of the first chunk the
 * cancel kept from being written. */
struct kcopyd_result {
	int read_err;                 /* 0, or the negative errno of the first failed read */
	unsigned int write_err;       /* bit i set: destination i failed */
	sector_t read_err_sector;     /* see above (valid if read_err) */
	int dest_errno[KCOPYD_MAX_REGIONS];          /* negative errno, 0 if fine */
	sector_t dest_err_sector[KCOPYD_MAX_REGIONS]; /* first sector destination i lacks */
};
typedef void (*kcopyd_result_fn)(const struct kcopyd_result *result, void *context);

int  kcopyd_copy_ex(struct kcopyd_client *kc, struct io_region *from,
		    unsigned int num_dests, struct io_region *dests,
		    unsigned int flags, kcopyd_result_fn fn, void *context);
int  kcopyd_zero_ex(struct kcopyd_client *kc, unsigned int num_dests, struct io_region *dests,
		    unsigned int flags, kcopyd_result_fn fn, void *context);

/* The kernel's prepare_callback/do_callback pair: reserve a callback now,
 * trigger it later from any thread; it then runs on the client's thread
 * like a job's callback.  A prepared callback counts as an outstanding job
 * until it is done. */
struct kcopyd_callback;
int  kcopyd_prepare_callback(struct kcopyd_client *kc, kcopyd_notify_fn fn, void *context,
			     struct kcopyd_callback **result);
void kcopyd_do_callback(struct kcopyd_callback *cb, int read_err, unsigned int write_err);

/* "MAJOR.MINOR.MICRO" of the library actually loaded. */
const char *kcopyd_version(void);

#ifdef __cplusplus
}
#endif

#endif /* KCOPYD_H */
