/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the library tests: failure reporting, a watchdog, a
 * temporary directory removed at exit, random partly sparse files, byte
 * comparisons that name the first differing offset, synchronous copy/zero,
 * loop devices and small tmpfs mounts.
 *
 * A test exits 0 on success, 1 on failure, 77 when it cannot run here.
 * FAIL() and CHECK() may be used from any thread, callbacks included.
 */
#ifndef KCOPYD_TESTUTIL_H
#define KCOPYD_TESTUTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kcopyd.h"
#include "loopdrive.h"

#define TU_SKIP 77
#define TU_KIB 1024ull
#define TU_MIB (1024ull * 1024)

void tu_init(const char *name);
void tu_pass(void) __attribute__((noreturn));
void tu_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void tu_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void tu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define FAIL(...) tu_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(c) do { if (!(c)) FAIL("CHECK(%s) failed", #c); } while (0)
#define CHECK_EQ(a, b) do {                                                  \
	long long a_ = (long long)(a), b_ = (long long)(b);                  \
	if (a_ != b_)                                                        \
		FAIL("%s is %lld, expected %s (%lld)", #a, a_, #b, b_);      \
} while (0)
/* expr must return 0 (a library call). */
#define CHECK_OK(expr) do {                                                  \
	int r_ = (expr);                                                     \
	if (r_ != 0)                                                         \
		FAIL("%s returned %d (%s)", #expr, r_, strerror(r_ < 0 ? -r_ : r_)); \
} while (0)

/* Temporary files: a directory under $TMPDIR or /tmp, removed at exit. */
const char *tu_tmpdir(void);
const char *tu_path(const char *name);          /* tmpdir/name, freed at exit */
const char *tu_path_in(const char *dir, const char *name);
/* Another temporary directory under base (e.g. /dev/shm), removed at exit;
 * NULL if it cannot be made. */
const char *tu_mkdtemp(const char *base);

/* Random data: xorshift, reproducible from the seed. */
void tu_random_fill(void *buf, size_t len, uint64_t *state);
/* A new file of size bytes of random data; with sparse, some 64 KiB
 * stretches (and the tail) are left as holes.  Returns the contents. */
uint8_t *tu_make_file(const char *path, uint64_t size, uint64_t seed, bool sparse);
/* A new file of size bytes, every byte set to byte (0: one sparse hole). */
void tu_make_filled(const char *path, uint64_t size, int byte);
/* Whole file contents (freed by the caller) and its size. */
uint8_t *tu_read_file(const char *path, uint64_t *size);
void tu_read_at(const char *path, uint64_t off, void *buf, size_t len);
void tu_write_file(const char *path, const void *buf, size_t len);

/* 0 if equal; else prints the first differing offset (off + index) and
 * the bytes there, and returns -1. */
int tu_cmp(const void *got, const void *want, size_t len, uint64_t off, const char *what);
/* 0 if every byte equals byte, else logs the first that does not. */
int tu_cmp_byte(const void *got, int byte, size_t len, uint64_t off, const char *what);
/* Compare len bytes of two files at offsets. */
int tu_cmp_files(const char *got, uint64_t goff, const char *want, uint64_t woff,
		 uint64_t len);

/* Library shorthands that fail the test on error. */
struct kcopyd_client *tu_client(unsigned int num_pages);
struct block_device *tu_open(const char *path, int open_flags);

/* Synchronous jobs: submit and wait for the callback.  Return the submit
 * call's return value; the callback's results go to *read_err and *write_err
 * (either may be NULL). */
int tu_copy(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
	    struct io_region *dests, unsigned int flags, int *read_err, unsigned int *write_err);
int tu_zero(struct kcopyd_client *kc, unsigned int n, struct io_region *dests,
	    unsigned int flags, int *read_err, unsigned int *write_err);
int tu_copy_ex(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
	       struct io_region *dests, unsigned int flags, struct kcopyd_result *res);
int tu_zero_ex(struct kcopyd_client *kc, unsigned int n, struct io_region *dests,
	       unsigned int flags, struct kcopyd_result *res);
/* Copy that must succeed with no error bits. */
void tu_copy_ok(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
		struct io_region *dests, unsigned int flags);

/* A one-shot completion for asynchronous use. */
struct tu_event {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int read_err;
	unsigned int write_err;
	pthread_t thread;             /* the thread the callback ran on */
};
void tu_event_init(struct tu_event *ev);
void tu_event_destroy(struct tu_event *ev);
void tu_event_notify(int read_err, unsigned int write_err, void *context);
void tu_event_wait(struct tu_event *ev);

static inline struct io_region tu_region(struct block_device *bd, sector_t sector, sector_t count)
{
	struct io_region r = { .bdev = bd, .sector = sector, .count = count };
	return r;
}

/* Time in seconds since an arbitrary point (CLOCK_MONOTONIC). */
double tu_now(void);

bool tu_is_root(void);
/* Attach file to a free loop device (block_size 0: default), returns
 * "/dev/loopN" or NULL (reason logged).  Detached by tu_loop_detach() or at
 * exit; also set to autoclear so it goes away if the test is killed. */
const char *tu_loop_attach(const char *file, unsigned int block_size);
void tu_loop_detach(const char *dev);
/* Mount a tmpfs (options such as "size=64k") in the temp dir, in a private
 * mount namespace when possible; call before starting threads.  Returns the
 * mount point or NULL (reason logged).  Unmounted at exit. */
const char *tu_tmpfs(const char *options);
/* 1 if path is on tmpfs. */
bool tu_on_tmpfs(const char *path);

#endif
