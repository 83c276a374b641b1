/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the robustness tests (tests/robust): failure reporting from
 * any thread, a watchdog, a temporary directory removed at exit, a
 * reproducible random generator, whole-file I/O, a test scale for
 * sanitizer builds, and fault-endpoint devices over files.
 *
 * A test exits 0 on success, 1 on failure, 77 when it cannot run here.
 */
#ifndef KCOPYD_RUTIL_H
#define KCOPYD_RUTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kcopyd.h"
#include "loopdrive.h"

#define RU_SKIP 77
#define RU_MIB (1024u * 1024u)

/* Name the test, arm the watchdog (seconds, scaled by ru_slow()). */
void ru_init(const char *name, unsigned int watchdog_s);
void ru_pass(void) __attribute__((noreturn));
void ru_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void ru_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void ru_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Extra context printed with a failure (the seed, the job...). */
void ru_set_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define FAIL(...) ru_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(c) do { if (!(c)) FAIL("CHECK(%s) failed", #c); } while (0)
#define CHECK_EQ(a, b) do {                                                  \
	long long a_ = (long long)(a), b_ = (long long)(b);                  \
	if (a_ != b_)                                                        \
		FAIL("%s is %lld, expected %s (%lld)", #a, a_, #b, b_);      \
} while (0)
#define CHECK_OK(expr) do {                                                  \
	int r_ = (expr);                                                     \
	if (r_ != 0)                                                         \
		FAIL("%s returned %d (%s)", #expr, r_, strerror(r_ < 0 ? -r_ : r_)); \
} while (0)

/* True when built with a sanitizer (ASan, TSan, ...): tests do less. */
bool ru_sanitized(void);
/* Scale factor for the amount of work: KCOPYD_TEST_SCALE if set (a
 * positive decimal such as 0.2), else 0.2 under a sanitizer, else 1. */
double ru_scale(void);
/* How slow the build is: 1, or 5 under a sanitizer (for timeouts). */
unsigned int ru_slow(void);

/* Seconds since an arbitrary point (CLOCK_MONOTONIC). */
double ru_now(void);

/* Temporary files. */
const char *ru_tmpdir(void);
/* tmpdir/name in a static ring of buffers: copy it if you keep many. */
char *ru_path(const char *name);

/* xorshift64*, reproducible from the seed. */
static inline uint64_t ru_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}
static inline uint64_t ru_below(uint64_t *s, uint64_t n)      /* [0, n) */
{
	return n ? ru_rand(s) % n : 0;
}
/* The seed: $KCOPYD_TEST_SEED if set (decimal or 0x...), else the test's
 * fixed default; tests print it. */
uint64_t ru_seed(uint64_t def);

/* Files. */
void ru_write_file(const char *path, const void *buf, size_t len);
void ru_pwrite(const char *path, const void *buf, size_t len, uint64_t off);
void ru_pread(const char *path, void *buf, size_t len, uint64_t off);
/* Open an fd once per path and keep it (closed at exit). */
int ru_fd(const char *path);
void *ru_malloc(size_t len);
/* The first differing index, or -1. */
long ru_diff(const void *a, const void *b, size_t len);
/* The file at path holds want at off. */
bool ru_holds(const char *path, uint64_t off, const void *want, uint64_t len);
/* A test's files: src (path in src, size bytes of room) holding
 * ru_fill_data(seed), n destinations dst0... (paths in dst) holding
 * ru_fill_old(seed + 1); both contents returned, bytes long. */
void ru_test_files(char *src, size_t size, char (*dst)[512], unsigned int n, uint8_t **src_data,
		   uint8_t **old_data, size_t bytes, uint64_t seed);

/* The meaning of dest_err_sector (kcopyd.h), checked on the bytes: the
 * region of count sectors at sector of the file at path holds exactly src
 * below reported, and reported is the sector of the first byte that
 * differs (the region's end when none does).  The old contents must differ
 * from the source in every sector.  what names the destination. */
void ru_check_first_missing(const char *path, sector_t sector, sector_t count,
			    const uint8_t *src, sector_t reported, const char *what);

/* Devices. */
struct block_device *ru_open(const char *path, int open_flags, unsigned int bdev_flags);
struct kc_fault_config;
/* A fault device over path (the inner device is opened buffered). */
struct block_device *ru_fault_open(const char *path, int open_flags,
				   const struct kc_fault_config *cfg);

/* A counter of callbacks that a thread can wait on, with a time limit. */
struct ru_counter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int n;
};
#define RU_COUNTER_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }
void ru_counter_add(struct ru_counter *c);
int ru_counter_get(struct ru_counter *c);
void ru_counter_reset(struct ru_counter *c);
/* Wait until the counter reaches want; fails the test after timeout_s
 * (scaled by ru_slow()) naming what. */
void ru_counter_wait(struct ru_counter *c, int want, unsigned int timeout_s, const char *what);

/* A completion for one job: the full _ex result. */
struct ru_done {
	struct ru_counter calls;
	struct kcopyd_result res;
	pthread_t thread;                 /* where the callback ran */
};
void ru_done_init(struct ru_done *d);
void ru_done_cb(const struct kcopyd_result *res, void *context);

/* Submit a job, wait for its callback (at most timeout_s), check that it
 * ran once, on another thread, and that kcopyd_client_wait() then returns
 * 0.  Returns the submit call's return value (no wait if it failed). */
int ru_copy_sync(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
		 struct io_region *dests, unsigned int flags, struct kcopyd_result *res);
int ru_zero_sync(struct kcopyd_client *kc, unsigned int n, struct io_region *dests,
		 unsigned int flags, struct kcopyd_result *res);

/* Source-like data: bytes 0..0x7f.  Old contents: bytes 0x80..0xff, so no
 * byte of one can equal a byte of the other.  Both reproducible. */
void ru_fill_data(uint8_t *buf, size_t len, uint64_t seed);
void ru_fill_old(uint8_t *buf, size_t len, uint64_t seed);

/* The fault log of a fault device (malloc'ed, *n events). */
struct kc_fault_event;
struct kc_fault_event *ru_events(struct block_device *bd, size_t *n);

#endif
