/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define TU_WATCHDOG_S 120
#define TU_TMPFS_MAGIC 0x01021994

static const char *tu_name = "test";
static pid_t tu_pid;
static pthread_mutex_t tu_fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char tu_dir[256];

/* Strings freed at exit, loop devices and mounts undone at exit. */
#define TU_MAX_THINGS 64
static pthread_mutex_t tu_things_lock = PTHREAD_MUTEX_INITIALIZER;
static char *tu_strings[1024];
static unsigned int tu_nstrings;
static struct { char *dev; int fd; } tu_loops[TU_MAX_THINGS];
static char *tu_mounts[TU_MAX_THINGS];
static char *tu_dirs[TU_MAX_THINGS];

static void tu_vlog(const char *prefix, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s: %s%s\n", tu_name, prefix, msg);
	fflush(stderr);
}

void tu_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tu_vlog("", fmt, ap);
	va_end(ap);
}

void tu_fail_at(const char *file, int line, const char *fmt, ...)
{
	char where[300];
	va_list ap;

	/* One failure reports and exits; a second thread failing waits here. */
	pthread_mutex_lock(&tu_fail_lock);
	snprintf(where, sizeof(where), "FAIL at %s:%d: ", file, line);
	va_start(ap, fmt);
	tu_vlog(where, fmt, ap);
	va_end(ap);
	exit(1);
}

void tu_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tu_vlog("SKIP: ", fmt, ap);
	va_end(ap);
	exit(TU_SKIP);
}

void tu_pass(void)
{
	tu_log("PASS");
	exit(0);
}

static void tu_watchdog(int sig)
{
	static const char msg[] = "watchdog: the test did not finish in time (hang?)\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(1);
}

static int tu_rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void tu_cleanup(void)
{
	unsigned int i;

	if (getpid() != tu_pid)
		return;
	for (i = 0; i < TU_MAX_THINGS; i++)
		if (tu_loops[i].dev)
			tu_loop_detach(tu_loops[i].dev);
	for (i = 0; i < TU_MAX_THINGS; i++) {
		if (!tu_mounts[i])
			continue;
		umount2(tu_mounts[i], MNT_DETACH);
		free(tu_mounts[i]);
		tu_mounts[i] = NULL;
	}
	if (tu_dir[0] && !getenv("KCOPYD_TEST_KEEP"))
		nftw(tu_dir, tu_rm, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	for (i = 0; i < TU_MAX_THINGS; i++) {
		if (!tu_dirs[i])
			continue;
		if (!getenv("KCOPYD_TEST_KEEP"))
			nftw(tu_dirs[i], tu_rm, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		free(tu_dirs[i]);
		tu_dirs[i] = NULL;
	}
	for (i = 0; i < tu_nstrings; i++)
		free(tu_strings[i]);
	tu_nstrings = 0;
}

void tu_init(const char *name)
{
	struct sigaction sa;

	tu_name = name;
	tu_pid = getpid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tu_watchdog;
	sigaction(SIGALRM, &sa, NULL);
	alarm(TU_WATCHDOG_S);
	atexit(tu_cleanup);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static char *tu_keep(char *s)
{
	if (!s)
		FAIL("out of memory");
	pthread_mutex_lock(&tu_things_lock);
	if (tu_nstrings == sizeof(tu_strings) / sizeof(tu_strings[0]))
		FAIL("too many temporary names");
	tu_strings[tu_nstrings++] = s;
	pthread_mutex_unlock(&tu_things_lock);
	return s;
}

const char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tu_dir[0])
		return tu_dir;
	if (!base || !*base)
		base = "/tmp";
	snprintf(tu_dir, sizeof(tu_dir), "%s/kcopyd-%s-XXXXXX", base, tu_name);
	if (!mkdtemp(tu_dir)) {
		int e = errno;
		tu_dir[0] = 0;
		FAIL("mkdtemp in %s: %s", base, strerror(e));
	}
	return tu_dir;
}

const char *tu_mkdtemp(const char *base)
{
	char dir[300];
	int slot;

	for (slot = 0; slot < TU_MAX_THINGS && tu_dirs[slot]; slot++)
		;
	if (slot == TU_MAX_THINGS)
		FAIL("too many temporary directories");
	snprintf(dir, sizeof(dir), "%s/kcopyd-%s-XXXXXX", base, tu_name);
	if (!mkdtemp(dir)) {
		tu_log("mkdtemp in %s: %s", base, strerror(errno));
		return NULL;
	}
	tu_dirs[slot] = strdup(dir);
	if (!tu_dirs[slot])
		FAIL("out of memory");
	return tu_dirs[slot];
}

const char *tu_path_in(const char *dir, const char *name)
{
	char *s;
	if (asprintf(&s, "%s/%s", dir, name) < 0)
		s = NULL;
	return tu_keep(s);
}

const char *tu_path(const char *name)
{
	return tu_path_in(tu_tmpdir(), name);
}

void tu_random_fill(void *buf, size_t len, uint64_t *state)
{
	uint8_t *p = buf;
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	while (len) {
		uint64_t v;
		size_t n = len < 8 ? len : 8;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = x * 0x2545f4914f6cdd1dull;
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
	*state = x;
}

static void tu_pwrite_all(int fd, const void *buf, size_t len, uint64_t off, const char *path)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			FAIL("write %s at %llu: %s", path, (unsigned long long)off,
			     n < 0 ? strerror(errno) : "wrote nothing");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
}

static void tu_pread_all(int fd, void *buf, size_t len, uint64_t off, const char *path)
{
	char *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			FAIL("read %s at %llu: %s", path, (unsigned long long)off, strerror(errno));
		if (n == 0)
			FAIL("read %s at %llu: unexpected end of file", path, (unsigned long long)off);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
}

uint8_t *tu_make_file(const char *path, uint64_t size, uint64_t seed, bool sparse)
{
	const uint64_t chunk = 64 * TU_KIB;
	uint8_t *data = calloc(1, size ? size : 1);
	uint64_t state = seed * 2654435761u + 1, off;
	int fd;

	if (!data)
		FAIL("out of memory (%llu bytes)", (unsigned long long)size);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		FAIL("create %s: %s", path, strerror(errno));
	for (off = 0; off < size; off += chunk) {
		uint64_t n = size - off < chunk ? size - off : chunk;
		uint64_t i = off / chunk;
		/* Holes: every fourth chunk, and the last chunk when it is partial. */
		if (sparse && (i % 4 == 2 || (n < chunk && i > 0)))
			continue;
		tu_random_fill(data + off, n, &state);
		tu_pwrite_all(fd, data + off, n, off, path);
	}
	if (ftruncate(fd, (off_t)size) < 0)
		FAIL("truncate %s: %s", path, strerror(errno));
	close(fd);
	return data;
}

void tu_make_filled(const char *path, uint64_t size, int byte)
{
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	uint64_t off;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || !buf)
		FAIL("create %s: %s", path, strerror(errno));
	memset(buf, byte, bufsz);
	for (off = 0; byte && off < size; off += bufsz) {
		size_t n = size - off < bufsz ? (size_t)(size - off) : bufsz;
		tu_pwrite_all(fd, buf, n, off, path);
	}
	if (ftruncate(fd, (off_t)size) < 0)
		FAIL("truncate %s: %s", path, strerror(errno));
	close(fd);
	free(buf);
}

uint8_t *tu_read_file(const char *path, uint64_t *size)
{
	struct stat st;
	uint8_t *buf;
	uint64_t sz;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		FAIL("open %s: %s", path, strerror(errno));
	sz = S_ISBLK(st.st_mode) ? (uint64_t)lseek(fd, 0, SEEK_END) : (uint64_t)st.st_size;
	buf = malloc(sz ? sz : 1);
	if (!buf)
		FAIL("out of memory");
	tu_pread_all(fd, buf, sz, 0, path);
	close(fd);
	if (size)
		*size = sz;
	return buf;
}

void tu_read_at(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		FAIL("open %s: %s", path, strerror(errno));
	tu_pread_all(fd, buf, len, off, path);
	close(fd);
}

void tu_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		FAIL("create %s: %s", path, strerror(errno));
	tu_pwrite_all(fd, buf, len, 0, path);
	close(fd);
}

int tu_cmp(const void *got, const void *want, size_t len, uint64_t off, const char *what)
{
	const uint8_t *g = got, *w = want;
	size_t i, ndiff = 0, first = 0;

	if (memcmp(got, want, len) == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (g[i] != w[i] && ndiff++ == 0)
			first = i;
	tu_log("%s: first difference at byte offset %llu (sector %llu): got 0x%02x, expected 0x%02x;"
	       " %zu of %zu bytes differ", what, (unsigned long long)(off + first),
	       (unsigned long long)((off + first) >> 9), g[first], w[first], ndiff, len);
	return -1;
}

int tu_cmp_byte(const void *got, int byte, size_t len, uint64_t off, const char *what)
{
	const uint8_t *g = got;
	size_t i;

	for (i = 0; i < len; i++)
		if (g[i] != (uint8_t)byte)
			break;
	if (i == len)
		return 0;
	tu_log("%s: byte offset %llu (sector %llu) is 0x%02x, expected 0x%02x",
	       what, (unsigned long long)(off + i), (unsigned long long)((off + i) >> 9),
	       g[i], (uint8_t)byte);
	return -1;
}

int tu_cmp_files(const char *got, uint64_t goff, const char *want, uint64_t woff, uint64_t len)
{
	uint8_t *g = malloc(len ? len : 1), *w = malloc(len ? len : 1);
	char what[600];
	int r;

	if (!g || !w)
		FAIL("out of memory");
	tu_read_at(got, goff, g, len);
	tu_read_at(want, woff, w, len);
	snprintf(what, sizeof(what), "%s@%llu vs %s@%llu", got, (unsigned long long)goff,
		 want, (unsigned long long)woff);
	r = tu_cmp(g, w, len, goff, what);
	free(g);
	free(w);
	return r;
}

struct kcopyd_client *tu_client(unsigned int num_pages)
{
	struct kcopyd_client *kc = NULL;
	CHECK_OK(kcopyd_client_create(num_pages, &kc));
	CHECK(kc != NULL);
	return kc;
}

struct block_device *tu_open(const char *path, int open_flags)
{
	struct block_device *bd = NULL;
	int r = kcopyd_bdev_open(path, open_flags, &bd);
	if (r != 0)
		FAIL("kcopyd_bdev_open(%s) returned %d (%s)", path, r, strerror(-r));
	CHECK(bd != NULL);
	return bd;
}

void tu_event_init(struct tu_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->cond, NULL);
}

void tu_event_destroy(struct tu_event *ev)
{
	pthread_mutex_destroy(&ev->lock);
	pthread_cond_destroy(&ev->cond);
}

void tu_event_notify(int read_err, unsigned int write_err, void *context)
{
	struct tu_event *ev = context;
	pthread_mutex_lock(&ev->lock);
	if (ev->done)
		FAIL("a job's callback ran twice");
	ev->read_err = read_err;
	ev->write_err = write_err;
	ev->thread = pthread_self();
	ev->done = 1;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

void tu_event_wait(struct tu_event *ev)
{
	pthread_mutex_lock(&ev->lock);
	while (!ev->done)
		pthread_cond_wait(&ev->cond, &ev->lock);
	pthread_mutex_unlock(&ev->lock);
}

int tu_copy(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
	    struct io_region *dests, unsigned int flags, int *read_err, unsigned int *write_err)
{
	struct tu_event ev;
	int r;

	tu_event_init(&ev);
	r = kcopyd_copy(kc, from, n, dests, flags, tu_event_notify, &ev);
	if (r == 0) {
		tu_event_wait(&ev);
		if (read_err)
			*read_err = ev.read_err;
		if (write_err)
			*write_err = ev.write_err;
	}
	tu_event_destroy(&ev);
	return r;
}

int tu_zero(struct kcopyd_client *kc, unsigned int n, struct io_region *dests,
	    unsigned int flags, int *read_err, unsigned int *write_err)
{
	struct tu_event ev;
	int r;

	tu_event_init(&ev);
	r = kcopyd_zero(kc, n, dests, flags, tu_event_notify, &ev);
	if (r == 0) {
		tu_event_wait(&ev);
		if (read_err)
			*read_err = ev.read_err;
		if (write_err)
			*write_err = ev.write_err;
	}
	tu_event_destroy(&ev);
	return r;
}

struct tu_ex {
	struct tu_event ev;
	struct kcopyd_result *res;
};

static void tu_ex_notify(const struct kcopyd_result *result, void *context)
{
	struct tu_ex *ex = context;
	*ex->res = *result;
	tu_event_notify(result->read_err, result->write_err, &ex->ev);
}

int tu_copy_ex(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
	       struct io_region *dests, unsigned int flags, struct kcopyd_result *res)
{
	struct tu_ex ex = { .res = res };
	int r;

	tu_event_init(&ex.ev);
	r = kcopyd_copy_ex(kc, from, n, dests, flags, tu_ex_notify, &ex);
	if (r == 0)
		tu_event_wait(&ex.ev);
	tu_event_destroy(&ex.ev);
	return r;
}

int tu_zero_ex(struct kcopyd_client *kc, unsigned int n, struct io_region *dests,
	       unsigned int flags, struct kcopyd_result *res)
{
	struct tu_ex ex = { .res = res };
	int r;

	tu_event_init(&ex.ev);
	r = kcopyd_zero_ex(kc, n, dests, flags, tu_ex_notify, &ex);
	if (r == 0)
		tu_event_wait(&ex.ev);
	tu_event_destroy(&ex.ev);
	return r;
}

void tu_copy_ok(struct kcopyd_client *kc, struct io_region *from, unsigned int n,
		struct io_region *dests, unsigned int flags)
{
	int re = -1;
	unsigned int we = ~0u;
	int r = tu_copy(kc, from, n, dests, flags, &re, &we);

	if (r != 0)
		FAIL("kcopyd_copy(%u dests, sector %llu count %llu, flags %#x) returned %d (%s)",
		     n, (unsigned long long)from->sector, (unsigned long long)from->count,
		     flags, r, strerror(-r));
	if (re != 0 || we != 0)
		FAIL("copy of sector %llu count %llu to %u dests: read_err %d write_err %#x",
		     (unsigned long long)from->sector, (unsigned long long)from->count, n, re, we);
}

double tu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool tu_is_root(void)
{
	return geteuid() == 0;
}

const char *tu_loop_attach(const char *file, unsigned int block_size)
{
	char cmd[600], dev[128];
	struct loop_info64 info;
	int attempt, slot, fd;

	for (slot = 0; slot < TU_MAX_THINGS && tu_loops[slot].dev; slot++)
		;
	if (slot == TU_MAX_THINGS)
		FAIL("too many loop devices");
	if (block_size)
		snprintf(cmd, sizeof(cmd), "losetup --find --show -b %u '%s' 2>&1", block_size, file);
	else
		snprintf(cmd, sizeof(cmd), "losetup --find --show '%s' 2>&1", file);
	/* Another process may take the device losetup found: try again. */
	for (attempt = 0; attempt < 5; attempt++) {
		FILE *p = popen(cmd, "r");
		int status;
		size_t len;

		if (!p)
			FAIL("popen losetup: %s", strerror(errno));
		dev[0] = 0;
		if (!fgets(dev, sizeof(dev), p))
			dev[0] = 0;
		status = pclose(p);
		len = strlen(dev);
		while (len && (dev[len - 1] == '\n' || dev[len - 1] == ' '))
			dev[--len] = 0;
		if (status == 0 && strncmp(dev, "/dev/", 5) == 0)
			break;
		tu_log("%s failed (status %d): %s", cmd, status, dev);
		dev[0] = 0;
		usleep(100000);
	}
	if (!dev[0])
		return NULL;
	/* Hold the device open with autoclear set: if the test dies, the
	 * kernel detaches it when the last descriptor closes. */
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		FAIL("open %s: %s", dev, strerror(errno));
	if (ioctl(fd, LOOP_GET_STATUS64, &info) == 0) {
		info.lo_flags |= LO_FLAGS_AUTOCLEAR;
		if (ioctl(fd, LOOP_SET_STATUS64, &info) < 0)
			tu_log("%s: cannot set autoclear: %s", dev, strerror(errno));
	}
	pthread_mutex_lock(&tu_things_lock);
	tu_loops[slot].dev = strdup(dev);
	tu_loops[slot].fd = fd;
	pthread_mutex_unlock(&tu_things_lock);
	if (!tu_loops[slot].dev)
		FAIL("out of memory");
	return tu_loops[slot].dev;
}

void tu_loop_detach(const char *dev)
{
	char cmd[300];
	int i;

	for (i = 0; i < TU_MAX_THINGS; i++)
		if (tu_loops[i].dev && (tu_loops[i].dev == dev || strcmp(tu_loops[i].dev, dev) == 0))
			break;
	if (i == TU_MAX_THINGS)
		return;
	close(tu_loops[i].fd);
	/* Usually already gone through autoclear; then losetup -d just fails. */
	snprintf(cmd, sizeof(cmd), "losetup -d '%s' >/dev/null 2>&1", tu_loops[i].dev);
	if (system(cmd) != 0) {
		/* autocleared */
	}
	free(tu_loops[i].dev);
	tu_loops[i].dev = NULL;
}

const char *tu_tmpfs(const char *options)
{
	static bool ns_tried;
	char name[32];
	const char *dir;
	int slot;

	if (!tu_is_root()) {
		tu_log("not root: cannot mount a tmpfs");
		return NULL;
	}
	if (!ns_tried) {
		/* A private mount namespace: the mount vanishes with the process. */
		ns_tried = true;
		if (unshare(CLONE_NEWNS) == 0)
			mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	}
	for (slot = 0; slot < TU_MAX_THINGS && tu_mounts[slot]; slot++)
		;
	if (slot == TU_MAX_THINGS)
		FAIL("too many mounts");
	snprintf(name, sizeof(name), "tmpfs-%d", slot);
	dir = tu_path(name);
	if (mkdir(dir, 0755) < 0)
		FAIL("mkdir %s: %s", dir, strerror(errno));
	if (mount("tmpfs", dir, "tmpfs", 0, options) < 0) {
		tu_log("mount -t tmpfs -o %s %s: %s", options, dir, strerror(errno));
		return NULL;
	}
	tu_mounts[slot] = strdup(dir);
	return dir;
}

bool tu_on_tmpfs(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == TU_TMPFS_MAGIC;
}
