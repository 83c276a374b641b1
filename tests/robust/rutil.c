/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define RU_SANITIZED 1
#endif
#endif
#ifndef RU_SANITIZED
#define RU_SANITIZED 0
#endif

static const char *ru_name = "test";
static pid_t ru_pid;
static char ru_dir[256];
static char ru_context[512];
static pthread_mutex_t ru_fail_lock = PTHREAD_MUTEX_INITIALIZER;

#define RU_MAX_FDS 256
static struct { char *path; int fd; } ru_fds[RU_MAX_FDS];
static unsigned int ru_nfds;
static pthread_mutex_t ru_fd_lock = PTHREAD_MUTEX_INITIALIZER;

static void ru_vlog(const char *prefix, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s: %s%s\n", ru_name, prefix, msg);
	fflush(stderr);
}

void ru_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ru_vlog("", fmt, ap);
	va_end(ap);
}

void ru_set_context(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ru_context, sizeof(ru_context), fmt, ap);
	va_end(ap);
}

void ru_fail_at(const char *file, int line, const char *fmt, ...)
{
	char where[300];
	va_list ap;

	pthread_mutex_lock(&ru_fail_lock);        /* one report; others wait here */
	snprintf(where, sizeof(where), "FAIL at %s:%d: ", file, line);
	va_start(ap, fmt);
	ru_vlog(where, fmt, ap);
	va_end(ap);
	if (ru_context[0])
		ru_log("  context: %s", ru_context);
	exit(1);
}

void ru_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ru_vlog("SKIP: ", fmt, ap);
	va_end(ap);
	exit(RU_SKIP);
}

void ru_pass(void)
{
	ru_log("PASS");
	exit(0);
}

static void watchdog(int sig)
{
	static const char msg[] = ": FAIL: watchdog expired (a hang?)\n";

	(void)sig;
	if (write(2, ru_name, strlen(ru_name)) < 0 || write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	if (ru_context[0] && (write(2, "  context: ", 11) < 0 ||
			      write(2, ru_context, strnlen(ru_context, sizeof(ru_context))) < 0 ||
			      write(2, "\n", 1) < 0))
		_exit(1);
	_exit(1);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)type; (void)ftw;
	remove(path);
	return 0;
}

static void cleanup(void)
{
	if (getpid() != ru_pid)
		return;
	for (unsigned int i = 0; i < ru_nfds; i++) {
		close(ru_fds[i].fd);
		free(ru_fds[i].path);
	}
	ru_nfds = 0;
	if (ru_dir[0])
		nftw(ru_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

bool ru_sanitized(void)
{
	return RU_SANITIZED;
}

double ru_scale(void)
{
	const char *v = getenv("KCOPYD_TEST_SCALE");

	if (v && *v) {
		char *end;
		double s = strtod(v, &end);

		if (*end || !(s > 0))
			FAIL("KCOPYD_TEST_SCALE=%s: expected a positive number", v);
		return s;
	}
	return RU_SANITIZED ? 0.2 : 1.0;
}

unsigned int ru_slow(void)
{
	return RU_SANITIZED ? 5 : 1;
}

void ru_init(const char *name, unsigned int watchdog_s)
{
	struct sigaction sa;
	const char *base = getenv("TMPDIR");

	ru_name = name;
	ru_pid = getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watchdog;
	sigaction(SIGALRM, &sa, NULL);
	alarm(watchdog_s * ru_slow());
	if (!base || !*base)
		base = "/tmp";
	snprintf(ru_dir, sizeof(ru_dir), "%s/kcopyd-robust-XXXXXX", base);
	if (!mkdtemp(ru_dir)) {
		ru_dir[0] = 0;
		FAIL("mkdtemp in %s: %s", base, strerror(errno));
	}
	atexit(cleanup);
}

const char *ru_tmpdir(void)
{
	return ru_dir;
}

char *ru_path(const char *name)
{
	static char bufs[16][512];
	static unsigned int next;
	char *b = bufs[__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % 16];

	snprintf(b, 512, "%s/%s", ru_dir, name);
	return b;
}

uint64_t ru_seed(uint64_t def)
{
	const char *v = getenv("KCOPYD_TEST_SEED");

	return v && *v ? strtoull(v, NULL, 0) : def;
}

double ru_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void *ru_malloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		FAIL("out of memory (%zu bytes)", len);
	return p;
}

int ru_fd(const char *path)
{
	int fd;

	pthread_mutex_lock(&ru_fd_lock);
	for (unsigned int i = 0; i < ru_nfds; i++) {
		if (strcmp(ru_fds[i].path, path) == 0) {
			fd = ru_fds[i].fd;
			pthread_mutex_unlock(&ru_fd_lock);
			return fd;
		}
	}
	if (ru_nfds == RU_MAX_FDS)
		FAIL("too many files");
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		FAIL("open %s: %s", path, strerror(errno));
	ru_fds[ru_nfds].path = strdup(path);
	if (!ru_fds[ru_nfds].path)
		FAIL("out of memory");
	ru_fds[ru_nfds++].fd = fd;
	pthread_mutex_unlock(&ru_fd_lock);
	return fd;
}

void ru_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = buf;

	if (fd < 0)
		FAIL("create %s: %s", path, strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			FAIL("write %s: %s", path, n < 0 ? strerror(errno) : "no progress");
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

void ru_pwrite(const char *path, const void *buf, size_t len, uint64_t off)
{
	int fd = ru_fd(path);
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n <= 0)
			FAIL("pwrite %s: %s", path, n < 0 ? strerror(errno) : "no progress");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
}

void ru_pread(const char *path, void *buf, size_t len, uint64_t off)
{
	int fd = ru_fd(path);
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0)
			FAIL("pread %s: %s", path, strerror(errno));
		if (n == 0) {                 /* past the end: zeros */
			memset(p, 0, len);
			return;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
}

long ru_diff(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;

	if (memcmp(a, b, len) == 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (x[i] != y[i])
			return (long)i;
	return -1;
}

bool ru_holds(const char *path, uint64_t off, const void *want, uint64_t len)
{
	uint8_t *got = ru_malloc(len ? len : 1);
	bool same;

	ru_pread(path, got, len, off);
	same = ru_diff(got, want, len) < 0;
	free(got);
	return same;
}

void ru_test_files(char *src, size_t size, char (*dst)[512], unsigned int n, uint8_t **src_data,
		   uint8_t **old_data, size_t bytes, uint64_t seed)
{
	snprintf(src, size, "%s", ru_path("src"));
	for (unsigned int d = 0; d < n; d++) {
		char name[16];

		snprintf(name, sizeof(name), "dst%u", d);
		snprintf(dst[d], 512, "%s", ru_path(name));
	}
	*src_data = ru_malloc(bytes);
	*old_data = ru_malloc(bytes);
	ru_fill_data(*src_data, bytes, seed);
	ru_fill_old(*old_data, bytes, seed + 1);
	ru_write_file(src, *src_data, bytes);
	for (unsigned int d = 0; d < n; d++)
		ru_write_file(dst[d], *old_data, bytes);
}

struct block_device *ru_open(const char *path, int open_flags, unsigned int bdev_flags)
{
	struct block_device *bd = NULL;
	int r = kcopyd_bdev_open_ex(path, open_flags, bdev_flags, &bd);

	if (r)
		FAIL("kcopyd_bdev_open_ex(%s): %s", path, strerror(-r));
	return bd;
}

struct block_device *ru_fault_open(const char *path, int open_flags,
				   const struct kc_fault_config *cfg)
{
	struct block_device *inner = ru_open(path, open_flags, KCOPYD_BDEV_BUFFERED), *bd = NULL;
	int r = kc_fault_open(inner, cfg, &bd);

	if (r)
		FAIL("kc_fault_open(%s): %s", path, strerror(-r));
	return bd;
}

void ru_counter_add(struct ru_counter *c)
{
	pthread_mutex_lock(&c->lock);
	c->n++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

int ru_counter_get(struct ru_counter *c)
{
	int n;

	pthread_mutex_lock(&c->lock);
	n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void ru_counter_reset(struct ru_counter *c)
{
	pthread_mutex_lock(&c->lock);
	c->n = 0;
	pthread_mutex_unlock(&c->lock);
}

void ru_counter_wait(struct ru_counter *c, int want, unsigned int timeout_s, const char *what)
{
	struct timespec dl;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += (time_t)(timeout_s * ru_slow());
	pthread_mutex_lock(&c->lock);
	while (c->n < want)
		if (pthread_cond_clockwait(&c->cond, &c->lock, CLOCK_MONOTONIC, &dl) == ETIMEDOUT)
			break;
	n = c->n;
	pthread_mutex_unlock(&c->lock);
	if (n < want)
		FAIL("%s: %d of %d callbacks after %u s: a job never called back", what, n, want,
		     timeout_s * ru_slow());
}

void ru_done_init(struct ru_done *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->calls.lock, NULL);
	pthread_cond_init(&d->calls.cond, NULL);
}

void ru_done_cb(const struct kcopyd_result *res, void *context)
{
	struct ru_done *d = context;

	pthread_mutex_lock(&d->calls.lock);
	d->res = *res;
	d->thread = pthread_self();
	d->calls.n++;
	pthread_cond_broadcast(&d->calls.cond);
	pthread_mutex_unlock(&d->calls.lock);
}

static int ru_job_sync(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
		       struct io_region *dests, unsigned int flags, struct kcopyd_result *res)
{
	struct ru_done d;
	int r;

	ru_done_init(&d);
	r = from ? kcopyd_copy_ex(kc, from, n, dests, flags, ru_done_cb, &d)
		 : kcopyd_zero_ex(kc, n, dests, flags, ru_done_cb, &d);
	if (r == 0) {
		ru_counter_wait(&d.calls, 1, 60, from ? "copy" : "zero");
		CHECK_OK(kcopyd_client_wait(kc));
		if (ru_counter_get(&d.calls) != 1)
			FAIL("the callback ran %d times", ru_counter_get(&d.calls));
		if (pthread_equal(d.thread, pthread_self()))
			FAIL("the callback ran on the submitting thread");
		if (res)
			*res = d.res;
	}
	pthread_mutex_destroy(&d.calls.lock);
	pthread_cond_destroy(&d.calls.cond);
	return r;
}

int ru_copy_sync(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
		 struct io_region *dests, unsigned int flags, struct kcopyd_result *res)
{
	if (!from)
		FAIL("ru_copy_sync without a source");
	return ru_job_sync(kc, from, n, dests, flags, res);
}

int ru_zero_sync(struct kcopyd_client *kc, unsigned int n, struct io_region *dests,
		 unsigned int flags, struct kcopyd_result *res)
{
	return ru_job_sync(kc, NULL, n, dests, flags, res);
}

static void fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t and, uint64_t or)
{
	uint64_t s = seed | 1;

	for (size_t b = 0; b < len; b += 8) {
		uint64_t v = (ru_rand(&s) & and) | or;

		memcpy(buf + b, &v, b + 8 <= len ? 8 : len - b);
	}
}

void ru_fill_data(uint8_t *buf, size_t len, uint64_t seed)
{
	fill(buf, len, seed, 0x7f7f7f7f7f7f7f7full, 0);
}

void ru_fill_old(uint8_t *buf, size_t len, uint64_t seed)
{
	fill(buf, len, seed, ~0ull, 0x8080808080808080ull);
}

struct kc_fault_event *ru_events(struct block_device *bd, size_t *n)
{
	size_t m = kc_fault_events(bd, NULL, 0);
	struct kc_fault_event *ev = ru_malloc((m ? m : 1) * sizeof(*ev));

	if (kc_fault_events(bd, ev, m) != m)
		FAIL("the fault log grew while nothing ran");
	*n = m;
	return ev;
}

void ru_check_first_missing(const char *path, sector_t sector, sector_t count,
			    const uint8_t *src, sector_t reported, const char *what)
{
	size_t len = (size_t)count * 512;
	uint8_t *got = ru_malloc(len ? len : 1);
	long diff;
	sector_t want;

	ru_pread(path, got, len, (uint64_t)sector * 512);
	diff = ru_diff(got, src, len);
	want = sector + (diff < 0 ? count : (sector_t)diff / 512);
	free(got);
	if (reported != want)
		FAIL("%s: dest_err_sector %llu, but the destination holds the source up to byte %llu "
		     "of its region (sectors %llu+%llu), so its first missing sector is %llu", what,
		     (unsigned long long)reported, (unsigned long long)(diff < 0 ? len : (size_t)diff),
		     (unsigned long long)sector, (unsigned long long)count, (unsigned long long)want);
}
