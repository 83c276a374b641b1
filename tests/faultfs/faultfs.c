/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * faultfs: a FUSE file system for kcopyd's tests that passes a backing
 * directory through and injects faults into it, through real system calls.
 *
 *   faultfs BACKING_DIR MOUNTPOINT [FUSE OPTIONS]   (e.g. -f to stay in front)
 *
 * Every file is opened with direct_io and attribute and entry timeouts are 0,
 * so every read and write reaches this program and a size change made here
 * is seen by the next stat.  O_DIRECT opens on the mount succeed (the kernel
 * sends the I/O straight here, as with direct_io); the backing file itself
 * is opened without O_DIRECT, which this program's buffers could not honour.
 * File locks (flock, fcntl) are left to the kernel's local emulation.
 *
 * THE CONTROL FILE.  The mount root holds a file named .faultfs that the
 * backing directory does not show.  Each write(2) to it holds one or more
 * whole lines (> and >> alike: it is never truncated); each line is applied
 * at once, in order (a line that cannot be parsed makes the write fail with
 * EINVAL; the lines before it stay applied):
 *
 *   OP PATH [KEY=VALUE ...]     add a rule
 *   clear                       remove every rule
 *   # anything                  a comment
 *
 * Reading it lists the rules, one a line, numbered from 0 in the order they
 * were added:  "N seen=S fired=F: THE RULE AS WRITTEN".
 *
 * OP is read, write, fsync (fsync and fdatasync, also of a directory),
 * fallocate, truncate (truncate and ftruncate), open, or io (read or write).
 * PATH is a file's path from the mount root (with or without the leading
 * /; / or . is the root directory itself), or * for every file.  The keys:
 *
 *   off=SIZE len=SIZE  the byte range the rule covers (default: all of the
 *                      file; len=0 means to the end).  A read, write or
 *                      fallocate matches when its range overlaps; fsync,
 *                      truncate and open always match.
 *   after=N            the first N matching operations pass untouched (they
 *                      are counted in seen); the rule fires from the next.
 *   count=N            fire at most N times (default: no limit).
 *   at=SECONDS         fire only from SECONDS (a decimal number) after the
 *                      rule was added.
 * and the actions (at least one):
 *   err=NAME           fail with this errno (EIO, ENOSPC, EOPNOTSUPP, EINVAL,
 *                      EROFS, EDQUOT, EFBIG, EPERM, EAGAIN, EINTR, ENXIO, or
 *                      a number).  A read or write that starts before the
 *                      range first transfers the bytes before it and returns
 *                      that short count, as read(2) on a file system does;
 *                      the next call, at the range, fails.  With whole=1 the
 *                      whole overlapping request fails instead, as a disk
 *                      fails a whole request.
 *   short=N            transfer at most N bytes (a short read or write).
 *   eof=1              a read returns 0 bytes, an end of file where the file
 *                      goes on (its size unchanged), as a remote file system
 *                      may answer; like err=, a read that starts before the
 *                      range first returns the bytes before it.
 *   delay=MS           sleep MS milliseconds before doing the operation.
 *   truncate=SIZE      set the backing file's size to SIZE (smaller or
 *                      larger) when the rule fires; the operation then goes on
 *                      against the new size (a read past it returns 0 bytes).
 *
 * SIZE is a number with an optional K, M or G (powers of 1024), or a sum of
 * such numbers with + (off=1M+128K).  Every matching rule acts on an
 * operation: delays add up, the smallest short= wins, the first err= (in rule
 * order) wins, truncations are done in rule order; the delay comes first,
 * then the truncations, then the error or the (possibly short) transfer.
 * The short transfer before an err= range (above) counts in neither seen
 * nor fired.  At most 64 rules.
 *
 *   echo 'read src.img off=1M len=4K err=EIO' >MNT/.faultfs
 *   echo 'write * short=4096' >MNT/.faultfs
 *   echo 'read src.img after=2 count=1 truncate=1M' >MNT/.faultfs
 *   echo clear >MNT/.faultfs
 *
 * Unmount with fusermount3 -u MOUNTPOINT; the program then exits.
 *
 * WHAT THE KERNEL MAKES OF IT (Linux 6.x FUSE).  A short reply to a read
 * reaches the program as a short read.  A short reply to a write reaches it
 * as a short write only for synchronous writes (write, pwrite); for an
 * asynchronous one (io_uring, aio) the kernel reports EIO for the whole
 * request instead.  An error reply fails the request, which for a request
 * the kernel split in pieces (max_write, max_read) means a short transfer
 * if an earlier piece succeeded.  A loop device over a file here issues
 * the file's reads and writes itself: errors reach the loop device's user
 * as EIO for the whole block request; but a short read there is taken by
 * the loop driver for the end of the file and zero-filled (the device
 * reads zeros where the file had data), so short= on reads under a loop
 * device tests the kernel, not the program reading the device.
 */
#define FUSE_USE_VERSION 314
#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CTL_NAME "/.faultfs"
#define MAX_RULES 64
#define RULE_TEXT 256

enum op { OP_READ = 1, OP_WRITE = 2, OP_FSYNC = 4, OP_FALLOC = 8, OP_TRUNC = 16, OP_OPEN = 32 };

struct rule {
	unsigned int ops;       /* OP_* mask */
	char path[PATH_MAX];    /* without the leading '/'; "*" for any */
	uint64_t off, len;      /* len 0: to the end */
	uint64_t after, count;  /* count 0: no limit */
	double at;              /* seconds after added */
	double added;
	int err;                /* 0: none */
	bool whole;
	uint64_t shrt;          /* 0: none */
	bool eof;               /* a read returns 0 bytes (eof=1) */
	unsigned int delay_ms;
	int64_t trunc;          /* -1: none */
	uint64_t seen, fired;
	char text[RULE_TEXT];
};

static int backing = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct rule rules[MAX_RULES];
static unsigned int nrules;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The path in the backing directory, relative to its descriptor. */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static bool is_ctl(const char *path)
{
	return path && strcmp(path, CTL_NAME) == 0;
}

/* ---- rules ---- */

static const struct { const char *name; int err; } errnames[] = {
	{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EOPNOTSUPP", EOPNOTSUPP },
	{ "EINVAL", EINVAL }, { "EROFS", EROFS }, { "EDQUOT", EDQUOT },
	{ "EFBIG", EFBIG }, { "EPERM", EPERM }, { "EAGAIN", EAGAIN },
	{ "EINTR", EINTR }, { "ENXIO", ENXIO }, { "EACCES", EACCES },
	{ "ENOMEM", ENOMEM }, { "ENODEV", ENODEV },
};

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* SIZE: terms of digits with an optional K/M/G, joined by '+'. */
static bool parse_size(const char *s, uint64_t *out)
{
	uint64_t total = 0;

	for (;;) {
		char *end;
		uint64_t mult = 1;

		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);
		if (errno)
			return false;
		switch (*end) {
		case 'K': case 'k': mult = 1ULL << 10; end++; break;
		case 'M': case 'm': mult = 1ULL << 20; end++; break;
		case 'G': case 'g': mult = 1ULL << 30; end++; break;
		default: break;
		}
		if (v > UINT64_MAX / mult || total + v * mult < total)
			return false;
		total += v * mult;
		if (*end == '\0')
			break;
		if (*end != '+')
			return false;
		s = end + 1;
	}
	*out = total;
	return true;
}

static bool parse_err(const char *s, int *out)
{
	uint64_t v;

	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (strcmp(s, errnames[i].name) == 0) {
			*out = errnames[i].err;
			return true;
		}
	if (!parse_u64(s, &v) || v == 0 || v > 4095)
		return false;
	*out = (int)v;
	return true;
}

static unsigned int parse_op(const char *s)
{
	static const struct { const char *name; unsigned int ops; } names[] = {
		{ "read", OP_READ }, { "write", OP_WRITE }, { "io", OP_READ | OP_WRITE },
		{ "fsync", OP_FSYNC }, { "fallocate", OP_FALLOC }, { "truncate", OP_TRUNC },
		{ "open", OP_OPEN },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].ops;
	return 0;
}

/* Parse one line (modified in place) into r.  Returns 0, or -EINVAL. */
static int parse_rule(char *line, struct rule *r)
{
	char *save = NULL, *w;
	bool action = false;

	memset(r, 0, sizeof(*r));
	r->trunc = -1;
	snprintf(r->text, sizeof(r->text), "%s", line);
	w = strtok_r(line, " \t", &save);
	if (!w || !(r->ops = parse_op(w)))
		return -EINVAL;
	w = strtok_r(NULL, " \t", &save);
	if (!w)
		return -EINVAL;
	while (*w == '/')
		w++;
	if (strlen(w) >= sizeof(r->path))
		return -EINVAL;
	strcpy(r->path, *w ? w : ".");  /* the root directory is "." (see rel()) */
	while ((w = strtok_r(NULL, " \t", &save))) {
		char *v = strchr(w, '=');
		uint64_t n;
		bool ok;

		if (!v)
			return -EINVAL;
		*v++ = '\0';
		if (strcmp(w, "off") == 0) {
			ok = parse_size(v, &r->off);
		} else if (strcmp(w, "len") == 0) {
			ok = parse_size(v, &r->len);
		} else if (strcmp(w, "after") == 0) {
			ok = parse_u64(v, &r->after);
		} else if (strcmp(w, "count") == 0) {
			ok = parse_u64(v, &r->count);
		} else if (strcmp(w, "at") == 0) {
			char *end;

			errno = 0;
			r->at = strtod(v, &end);
			ok = !errno && *v && !*end && r->at >= 0;
		} else if (strcmp(w, "whole") == 0) {
			ok = parse_u64(v, &n) && n <= 1;
			r->whole = n;
		} else if (strcmp(w, "err") == 0) {
			ok = action = parse_err(v, &r->err);
		} else if (strcmp(w, "short") == 0) {
			ok = action = parse_size(v, &r->shrt) && r->shrt > 0;
		} else if (strcmp(w, "eof") == 0) {
			ok = action = parse_u64(v, &n) && n == 1;
			r->eof = true;
		} else if (strcmp(w, "delay") == 0) {
			ok = action = parse_u64(v, &n) && n <= 600000;
			r->delay_ms = (unsigned int)n;
		} else if (strcmp(w, "truncate") == 0) {
			ok = action = parse_size(v, &n) && n <= INT64_MAX;
			r->trunc = (int64_t)n;
		} else {
			ok = false;
		}
		if (!ok)
			return -EINVAL;
	}
	return action ? 0 : -EINVAL;
}

static int apply_line(char *line)
{
	struct rule r;
	int res;

	while (*line == ' ' || *line == '\t')
		line++;
	if (!*line || *line == '#')
		return 0;
	if (strcmp(line, "clear") == 0) {
		pthread_mutex_lock(&lock);
		nrules = 0;
		pthread_mutex_unlock(&lock);
		return 0;
	}
	res = parse_rule(line, &r);
	if (res)
		return res;
	r.added = now();
	pthread_mutex_lock(&lock);
	if (nrules < MAX_RULES)
		rules[nrules++] = r;
	else
		res = -ENOSPC;
	pthread_mutex_unlock(&lock);
	return res;
}

/* The listing read from the control file, in a malloc'd buffer. */
static char *listing(size_t *lenp)
{
	size_t cap = 256, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	buf[0] = '\0';
	pthread_mutex_lock(&lock);
	for (unsigned int i = 0; i < nrules; i++) {
		char line[RULE_TEXT + 64];
		int n = snprintf(line, sizeof(line), "%u seen=%" PRIu64 " fired=%" PRIu64 ": %s\n",
				 i, rules[i].seen, rules[i].fired, rules[i].text);
		if (n < 0)
			continue;
		if (len + (size_t)n + 1 > cap) {
			char *nb;

			while (len + (size_t)n + 1 > cap)
				cap *= 2;
			nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		memcpy(buf + len, line, (size_t)n + 1);
		len += (size_t)n;
	}
	pthread_mutex_unlock(&lock);
	*lenp = len;
	return buf;
}

/* What the matching rules make of one operation. */
struct verdict {
	int err;                /* fail with -err */
	uint64_t size;          /* bytes to transfer (read, write) */
	unsigned int delay_ms;
	int64_t trunc[8];
	unsigned int ntrunc;
};

static bool path_matches(const struct rule *r, const char *path)
{
	if (strcmp(r->path, "*") == 0)
		return true;
	return path && strcmp(r->path, rel(path)) == 0;
}

/* Decide, under the lock, what happens to operation op on path for the
 * bytes [off, off+size) (size 0 for operations without a range). */
static void judge(unsigned int op, const char *path, uint64_t off, uint64_t size,
		  struct verdict *v)
{
	double t = now();
	uint64_t limit = size;

	memset(v, 0, sizeof(*v));
	v->size = size;
	pthread_mutex_lock(&lock);
	for (unsigned int i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];
		bool ranged = op & (OP_READ | OP_WRITE | OP_FALLOC);
		uint64_t rend = r->len ? r->off + r->len : UINT64_MAX;

		if (!(r->ops & op) || !path_matches(r, path))
			continue;
		if (ranged && (off + size <= r->off || off >= rend))
			continue;
		/* An error whose range starts inside this request, after its
		 * start: transfer the bytes before it first, uncounted. */
		if (ranged && (r->err || r->eof) && !r->whole && off < r->off &&
		    (op & (OP_READ | OP_WRITE)) && t - r->added >= r->at &&
		    r->seen >= r->after && (!r->count || r->fired < r->count)) {
			if (r->off - off < limit)
				limit = r->off - off;
			continue;
		}
		r->seen++;
		if (r->seen <= r->after || (r->count && r->fired >= r->count) ||
		    t - r->added < r->at)
			continue;
		r->fired++;
		if (r->err && !v->err)
			v->err = r->err;
		if (r->shrt && r->shrt < limit)
			limit = r->shrt;
		if (r->eof && (op & OP_READ))
			limit = 0;
		v->delay_ms += r->delay_ms;
		if (r->trunc >= 0 && v->ntrunc < sizeof(v->trunc) / sizeof(v->trunc[0]))
			v->trunc[v->ntrunc++] = r->trunc;
	}
	pthread_mutex_unlock(&lock);
	if (limit < v->size)
		v->size = limit;
}

/* Delay, then truncate; returns the error the operation must fail with
 * (negative) or 0 to go on. */
static int act(const struct verdict *v, int fd)
{
	if (v->delay_ms) {
		struct timespec ts = { v->delay_ms / 1000, (long)(v->delay_ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	for (unsigned int i = 0; i < v->ntrunc && fd >= 0; i++) {
		/* fd may be read-only: truncate through a writable reopening. */
		char name[64];
		int wfd, e = 0;

		snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
		wfd = open(name, O_WRONLY | O_CLOEXEC);
		if (wfd < 0)
			return -errno;
		if (ftruncate(wfd, v->trunc[i]) < 0)
			e = -errno;
		close(wfd);
		if (e)
			return e;
	}
	return v->err ? -v->err : 0;
}

/* ---- the file system ---- */

static void *ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->hard_remove = 1;   /* no .fuse_hidden files in the backing directory */
	return NULL;
}

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (is_ctl(path)) {
		size_t len;
		char *buf = listing(&len);

		free(buf);
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFREG | 0666;
		st->st_nlink = 1;
		st->st_size = (off_t)len;
		st->st_blksize = 4096;
		return 0;
	}
	if (fi && fi->fh != (uint64_t)-1)
		return fstat((int)fi->fh, st) < 0 ? -errno : 0;
	if (!path)
		return -ENOENT;
	return fstatat(backing, rel(path), st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int ff_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlinkat(backing, rel(path), buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int ff_mknod(const char *path, mode_t mode, dev_t rdev)
{
	if (is_ctl(path))
		return -EEXIST;
	return mknodat(backing, rel(path), mode, rdev) < 0 ? -errno : 0;
}

static int ff_mkdir(const char *path, mode_t mode)
{
	return mkdirat(backing, rel(path), mode) < 0 ? -errno : 0;
}

static int ff_unlink(const char *path)
{
	if (is_ctl(path))
		return -EPERM;
	return unlinkat(backing, rel(path), 0) < 0 ? -errno : 0;
}

static int ff_rmdir(const char *path)
{
	return unlinkat(backing, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int ff_symlink(const char *target, const char *path)
{
	return symlinkat(target, backing, rel(path)) < 0 ? -errno : 0;
}

static int ff_rename(const char *from, const char *to, unsigned int flags)
{
	if (is_ctl(from) || is_ctl(to))
		return -EPERM;
	return renameat2(backing, rel(from), backing, rel(to), flags) < 0 ? -errno : 0;
}

static int ff_link(const char *from, const char *to)
{
	if (is_ctl(from) || is_ctl(to))
		return -EPERM;
	return linkat(backing, rel(from), backing, rel(to), 0) < 0 ? -errno : 0;
}

static int ff_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	if (fi && fi->fh != (uint64_t)-1)
		return fchmod((int)fi->fh, mode) < 0 ? -errno : 0;
	return fchmodat(backing, rel(path), mode, 0) < 0 ? -errno : 0;
}

static int ff_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	if (fi && fi->fh != (uint64_t)-1)
		return fchown((int)fi->fh, uid, gid) < 0 ? -errno : 0;
	return fchownat(backing, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct verdict v;
	int fd, res;

	if (is_ctl(path))
		return 0;
	judge(OP_TRUNC, path, 0, 0, &v);
	if (fi && fi->fh != (uint64_t)-1) {
		fd = (int)fi->fh;
		res = act(&v, fd);
		if (!res && ftruncate(fd, size) < 0)
			res = -errno;
		return res;
	}
	fd = openat(backing, rel(path), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	res = act(&v, fd);
	if (!res && ftruncate(fd, size) < 0)
		res = -errno;
	close(fd);
	return res;
}

static int ff_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	if (fi && fi->fh != (uint64_t)-1)
		return futimens((int)fi->fh, tv) < 0 ? -errno : 0;
	return utimensat(backing, rel(path), tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* The backing file is opened without O_DIRECT (see the top). */
static int backing_flags(int flags)
{
	return (flags & ~(O_DIRECT | O_NOFOLLOW)) | O_CLOEXEC;
}

static void file_info(struct fuse_file_info *fi)
{
	fi->direct_io = 1;
	fi->keep_cache = 0;
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	struct verdict v;
	int fd, res;

	if (is_ctl(path)) {
		fi->fh = (uint64_t)-1;
		fi->direct_io = 1;
		return 0;
	}
	judge(OP_OPEN, path, 0, 0, &v);
	res = act(&v, -1);
	if (res)
		return res;
	fd = openat(backing, rel(path), backing_flags(fi->flags));
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	file_info(fi);
	return 0;
}

static int ff_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd;

	if (is_ctl(path))
		return ff_open(path, fi);
	fd = openat(backing, rel(path), backing_flags(fi->flags) | O_CREAT, mode);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	file_info(fi);
	return 0;
}

static int ff_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct verdict v;
	ssize_t n;
	int res;

	if (fi->fh == (uint64_t)-1) {
		size_t len;
		char *text = listing(&len);

		if (!text)
			return -ENOMEM;
		if ((uint64_t)off >= len) {
			free(text);
			return 0;
		}
		if (size > len - (size_t)off)
			size = len - (size_t)off;
		memcpy(buf, text + off, size);
		free(text);
		return (int)size;
	}
	judge(OP_READ, path, (uint64_t)off, size, &v);
	res = act(&v, (int)fi->fh);
	if (res)
		return res;
	if (v.size == 0)
		return 0;
	n = pread((int)fi->fh, buf, v.size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct verdict v;
	ssize_t n;
	int res;

	if (fi->fh == (uint64_t)-1) {
		char *text = malloc(size + 1), *line, *save = NULL;

		if (!text)
			return -ENOMEM;
		memcpy(text, buf, size);
		text[size] = '\0';
		res = 0;
		for (line = strtok_r(text, "\n", &save); line && !res;
		     line = strtok_r(NULL, "\n", &save))
			res = apply_line(line);
		free(text);
		return res ? res : (int)size;
	}
	judge(OP_WRITE, path, (uint64_t)off, size, &v);
	res = act(&v, (int)fi->fh);
	if (res)
		return res;
	if (v.size == 0)
		return 0;
	n = pwrite((int)fi->fh, buf, v.size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	return fstatvfs(backing, st) < 0 ? -errno : 0;
}

static int ff_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	if (fi->fh != (uint64_t)-1)
		close((int)fi->fh);
	return 0;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct verdict v;
	int res;

	if (fi->fh == (uint64_t)-1)
		return 0;
	judge(OP_FSYNC, path, 0, 0, &v);
	res = act(&v, (int)fi->fh);
	if (res)
		return res;
	res = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	return res < 0 ? -errno : 0;
}

static int ff_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	struct verdict v;
	int res;

	if (fi->fh == (uint64_t)-1)
		return -EOPNOTSUPP;
	judge(OP_FALLOC, path, (uint64_t)off, (uint64_t)len, &v);
	res = act(&v, (int)fi->fh);
	if (res)
		return res;
	return fallocate((int)fi->fh, mode, off, len) < 0 ? -errno : 0;
}

static off_t ff_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
	off_t res;

	(void)path;
	if (fi->fh == (uint64_t)-1)
		return -ESPIPE;
	res = lseek((int)fi->fh, off, whence);
	return res < 0 ? -errno : res;
}

static int ff_opendir(const char *path, struct fuse_file_info *fi)
{
	int fd = openat(backing, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		return -e;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	return 0;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	struct dirent *e;

	(void)path;
	(void)flags;
	if (off == 0)
		rewinddir(d);
	else
		seekdir(d, off);
	while ((e = readdir(d))) {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = e->d_ino;
		st.st_mode = (mode_t)DTTOIF(e->d_type);
		if (fill(buf, e->d_name, &st, telldir(d), 0))
			break;
	}
	return 0;
}

static int ff_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int ff_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct verdict v;
	int res;

	judge(OP_FSYNC, path, 0, 0, &v);
	res = act(&v, -1);
	if (res)
		return res;
	res = datasync ? fdatasync(dirfd((DIR *)(uintptr_t)fi->fh))
		       : fsync(dirfd((DIR *)(uintptr_t)fi->fh));
	return res < 0 ? -errno : 0;
}

static int ff_access(const char *path, int mask)
{
	if (is_ctl(path))
		return 0;
	return faccessat(backing, rel(path), mask, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static const struct fuse_operations ops = {
	.init = ff_init,
	.getattr = ff_getattr,
	.readlink = ff_readlink,
	.mknod = ff_mknod,
	.mkdir = ff_mkdir,
	.unlink = ff_unlink,
	.rmdir = ff_rmdir,
	.symlink = ff_symlink,
	.rename = ff_rename,
	.link = ff_link,
	.chmod = ff_chmod,
	.chown = ff_chown,
	.truncate = ff_truncate,
	.utimens = ff_utimens,
	.open = ff_open,
	.create = ff_create,
	.read = ff_read,
	.write = ff_write,
	.statfs = ff_statfs,
	.release = ff_release,
	.fsync = ff_fsync,
	.fallocate = ff_fallocate,
	.lseek = ff_lseek,
	.opendir = ff_opendir,
	.readdir = ff_readdir,
	.releasedir = ff_releasedir,
	.fsyncdir = ff_fsyncdir,
	.access = ff_access,
};

int main(int argc, char **argv)
{
	if (argc < 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s BACKING_DIR MOUNTPOINT [FUSE OPTIONS]\n", argv[0]);
		return 2;
	}
	backing = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (backing < 0) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], strerror(errno));
		return 2;
	}
	argv[1] = argv[0];
	umask(0);
	return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
