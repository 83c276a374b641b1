/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd copy SOURCE DEST...: one read of the source, written to every
 * destination.
 *
 * The range is cut in three: the data extents of the source (copy jobs),
 * its holes (nothing for a destination known to read as zero, zero jobs
 * for the others), and a tail shorter than one block, which the library
 * cannot address and which run.c writes itself.
 *
 * With --log the range is walked chunk by chunk of the log instead: no job
 * straddles a chunk, so that each chunk's jobs tell whether it is done on
 * each destination; a chunk the log records as done on a destination is not
 * written there, and one done everywhere is not read at all.  run.c flushes
 * the destinations and then rewrites the log every --log-interval seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "copylog.h"
#include "kcopyd-cmd.h"

#define JOB_MAX (16u << 20)      /* bytes per job: progress moves smoothly, a signal stops soon */

struct copy {
	struct options *o;
	struct device src, dests[MAX_DESTS];
	unsigned int n;
	uint64_t off, len, dst_off, bulk;
	unsigned int align;          /* every block size involved divides it */
	struct kcopyd_client *kc;
	/* --log */
	struct copylog *log;
	bool log_existed;
	uint64_t skipped;            /* bytes done before this run, over destinations */
};

#define LOG_CHUNK (1u << 20)
#define LOG_MAX_CHUNKS (1u << 20) /* larger chunks beyond 1 TiB: a modest bitmap */

static int setup_source(struct copy *c)
{
	struct device *s = &c->src;

	if (device_stat(s, false) || device_open_read(s) || device_lock(s, false))
		return -1;
	c->off = c->o->offset == NOT_SET ? 0 : c->o->offset;
	if (device_check_align(s, "--offset", c->off))
		return -1;
	if (c->o->length != NOT_SET)
		c->len = c->o->length;
	else
		c->len = c->off <= s->size ? s->size - c->off : 0;
	if (device_check_range(s, "--offset/--length", c->off, c->len, false))
		return -1;
	return device_open_lib(s, O_RDONLY, c->o);
}

/* The source's shared lock is given up for a destination that is the
 * source's own file (disjoint ranges): the destination's exclusive lock
 * then covers both, where the two would conflict. */
static int lock_dest(struct copy *c, struct device *d)
{
	struct stat a, b;

	if (d->kind == DEV_FILE && c->src.kind == DEV_FILE && fstat(c->src.fd, &a) == 0 &&
	    fstat(d->fd, &b) == 0 && stat_same_file(&a, &b))
		flock(c->src.fd, LOCK_UN);
	return device_lock(d, true);
}

static int check_dest(struct copy *c, struct device *d)
{

	if (device_open_write(d, c->o) || device_check_align(d, "--dest-offset", c->dst_off) ||
	    device_check_range(d, "--dest-offset/--length", c->dst_off, c->len, true))
		return -1;
	d->len = c->len;
	/* An empty range writes nothing: no destination grows to its start. */
	d->need = c->len ? c->dst_off + c->len : 0;
	if (d->kind == DEV_BLOCK && d->lbs > c->align)
		c->align = d->lbs;
	if (lock_dest(c, d) || device_check_limits(d) ||
	    device_check_users(d, c->dst_off, c->len, c->o))
		return -1;
	return 0;
}

/* File systems that store every byte written (no compression, no
 * deduplication): there, too little free space is certain to fail. */
static bool stores_all(const struct statfs *f)
{
	return f->f_type == EXT4_SUPER_MAGIC || f->f_type == XFS_SUPER_MAGIC ||
	       f->f_type == TMPFS_MAGIC;
}

/* The file system a file destination is (or will be) on. */
static int dest_fs(const struct device *d, struct statvfs *v, struct statfs *f)
{
	char *dir;
	const char *parent;
	int ret;

	if (d->fd >= 0)
		return fstatvfs(d->fd, v) || fstatfs(d->fd, f) ? -1 : 0;
	if (!d->canon || !(dir = strdup(d->canon)))
		return -1;
	parent = dirname(dir);
	ret = statvfs(parent, v) || statfs(parent, f) ? -1 : 0;
	free(dir);
	return ret;
}

/* Bytes of destination d in [from, to) (absolute) that are not allocated
 * now: its holes below its end (SEEK_DATA/SEEK_HOLE) and all past its end.
 * Where the file system cannot tell, what lies below the end counts as
 * allocated. */
static uint64_t unallocated(int fd, uint64_t size, uint64_t from, uint64_t to)
{
	uint64_t in = to < size ? to : size, sum = 0;

	if (from >= to)
		return 0;
	if (to > size)
		sum = to - (from > size ? from : size);
	if (fd < 0)
		return in > from ? sum + (in - from) : sum;
	for (uint64_t at = from; at < in;) {
		off_t q = seek_data(fd, (off_t)at), h;

		if (q < 0 || (uint64_t)q >= in)
			return sum + (q >= 0 || errno == ENXIO ? in - at : 0);
		sum += (uint64_t)q - at;
		h = seek_hole(fd, q);
		if (h <= q)
			break;
		at = (uint64_t)h;
	}
	return sum;
}

/* What the copy allocates on destination d, at most: with --no-sparse
 * every byte of the range is written, so all of it that is not allocated
 * now; with --sparse the source's data (its holes are left as holes or
 * punched on the destination, which frees room), where it lands on what is
 * not allocated now. */
/* The same for the file fd (of size bytes) a destination's byte 0 is at
 * start of: the file itself (0), or the file under a loop device. */
static uint64_t new_bytes(const struct copy *c, int fd, uint64_t size, uint64_t start)
{
	struct extent_iter it;
	uint64_t off, len, sum = 0, at = start + c->dst_off;
	bool data;

	if (!c->o->sparse)
		return unallocated(fd, size, at, at + c->len);
	extent_init(&it, &c->src, true, c->off, c->len, KCOPYD_SECTOR_SIZE);
	while (extent_next(&it, &off, &len, &data))
		if (data)
			sum += unallocated(fd, size, at + off, at + off + len);
	return sum;
}

static uint64_t dest_new_bytes(const struct copy *c, const struct device *d)
{
	return new_bytes(c, d->fd, d->size, 0);
}

/* A loop device destination over a file: the kernel's loop driver takes a
 * short write of its file, where the file's file system is full, as done
 * (the bytes are lost, no error reaches the copy).  Too little room there
 * for what is certain is refused (--force: copied anyway, and verified);
 * for what is only possible, the copy is verified. */
static int check_loop_space(struct copy *c, struct device *d)
{
	uint64_t start = 0, sure, maybe, avail;
	struct statvfs v;
	struct statfs f;
	struct stat st;
	int fd = device_loop_file(d, &start), ret = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || fstatvfs(fd, &v) || fstatfs(fd, &f)) {
		close(fd);
		return 0;
	}
	maybe = new_bytes(c, fd, (uint64_t)st.st_size, start);
	sure = c->o->sparse ? 0 : maybe;
	close(fd);
	avail = (uint64_t)(geteuid() == 0 ? v.f_bfree : v.f_bavail) * v.f_frsize;
	if (maybe <= avail)
		return 0;
	if (sure > avail && stores_all(&f) && !c->o->force) {
		errmsg("%s: the file under it needs %llu bytes more on its file system, which has "
		       "%llu bytes free, and a loop device loses what does not fit without an "
		       "error; refusing to start a copy that cannot fit (--force to copy anyway, "
		       "verified)", d->path, (unsigned long long)sure, (unsigned long long)avail);
		return -1;
	}
	errmsg("%s: warning: the file under it may need up to %llu bytes more on its file "
	       "system, which has %llu bytes free, and a loop device loses what does not fit "
	       "without an error: the copy is verified", d->path, (unsigned long long)maybe,
	       (unsigned long long)avail);
	if (!c->o->verify) {
		c->o->verify = true;
		ret = compare_reserve();
	}
	return ret;
}

/* Free space: what a file destination must allocate (dest_new_bytes) is
 * written for certain with --no-sparse; with --sparse it is only possible
 * (all-zero blocks over holes are skipped).  Too little room for what is
 * certain is refused on a file system that stores every byte; what is
 * only possible, or on another file system, is a warning.  Destinations on
 * one file system share its free space. */
static int check_space(struct copy *c)
{
	bool done[MAX_DESTS] = { false };

	/* A loop device over a file on FUSE or 9p: what a short answer loses
	 * cannot be seen in the copy.  A destination is verified; of a source
	 * there is nothing to compare with but itself. */
	device_warn_userfs(&c->src, false, "read the file itself (with --offset) to be sure");
	for (unsigned int i = 0; i < c->n; i++) {
		device_warn_userfs(&c->dests[i], true, "the copy is verified");
		if (c->dests[i].loop_userfs && !c->o->verify) {
			c->o->verify = true;
			if (compare_reserve())
				return -1;
		}
	}

	for (unsigned int i = 0; i < c->n; i++)
		if (c->dests[i].kind == DEV_BLOCK && check_loop_space(c, &c->dests[i]))
			return -1;
	for (unsigned int i = 0; i < c->n; i++) {
		uint64_t sure = 0, maybe = 0, avail;
		unsigned int sharing = 0;
		struct statvfs v;
		struct statfs f;
		char who[64] = "";

		if (done[i] || c->dests[i].kind == DEV_BLOCK)
			continue;
		if (dest_fs(&c->dests[i], &v, &f))
			continue;
		for (unsigned int k = i; k < c->n; k++) {
			const struct device *d = &c->dests[k];
			struct statvfs w;
			struct statfs g;
			uint64_t need;

			if (done[k] || d->kind == DEV_BLOCK || dest_fs(d, &w, &g) ||
			    w.f_fsid != v.f_fsid)
				continue;
			done[k] = true;
			sharing++;
			need = dest_new_bytes(c, d);
			sure += c->o->sparse ? 0 : need;
			maybe += need;
		}
		avail = (uint64_t)(geteuid() == 0 ? v.f_bfree : v.f_bavail) * v.f_frsize;
		/* The figure is for every destination on that file system. */
		if (sharing > 1)
			snprintf(who, sizeof(who), " and %u other destination%s", sharing - 1,
				 sharing > 2 ? "s" : "");
		if (sure > avail && stores_all(&f)) {
			errmsg("%s%s: need%s %llu bytes more on %s file system, which has %llu "
			       "bytes free; refusing to start a copy that cannot fit",
			       c->dests[i].path, who, sharing > 1 ? "" : "s", (unsigned long long)sure,
			       sharing > 1 ? "their" : "its", (unsigned long long)avail);
			return -1;
		}
		if (maybe > avail)
			errmsg("%s%s: warning: may need up to %llu bytes more on %s file system, "
			       "which has %llu bytes free", c->dests[i].path, who,
			       (unsigned long long)maybe, sharing > 1 ? "their" : "its",
			       (unsigned long long)avail);
	}
	return 0;
}

/* A new file in /dev is almost always a mistyped device name (dd's
 * classic: /dev/sdbb filled with an image, in RAM); it takes --force.
 * File systems mounted below /dev, such as /dev/shm, are fair game. */
static int check_not_in_dev(const struct copy *c, const struct device *d)
{
	struct stat dev, parent;
	char *dir;
	int same;

	if (d->kind != DEV_NEW || c->o->force || strncmp(d->canon, "/dev/", 5) != 0)
		return 0;
	dir = strdup(d->canon);
	if (!dir)
		return 0;
	same = stat("/dev", &dev) == 0 && stat(dirname(dir), &parent) == 0 &&
	       dev.st_dev == parent.st_dev;
	free(dir);
	if (!same)
		return 0;
	errmsg("%s: no such device; refusing to create a regular file in /dev "
	       "(--force to create it anyway)", d->path);
	return -1;
}

/* The canonical name of a path that may not exist yet: its directory's real
 * path and its own name (malloc'd), or NULL with errno set. */
static char *canonical(const char *path)
{
	char *copy1 = strdup(path), *copy2 = strdup(path), *full = NULL;
	char dir[PATH_MAX];

	if (copy1 && copy2 && realpath(dirname(copy1), dir) &&
	    asprintf(&full, "%s/%s", strcmp(dir, "/") ? dir : "", basename(copy2)) < 0)
		full = NULL;
	free(copy1);
	free(copy2);
	return full;
}

/* A symbolic link to a file not made yet (links to links followed, up to
 * 40): the canonical name of the file it would be, or NULL (errno). */
static char *link_target(const char *path)
{
	char *cur = strdup(path);

	for (int n = 0; cur && n < 40; n++) {
		char target[PATH_MAX], *copy, *next = NULL;
		struct stat st;
		ssize_t len;

		if (lstat(cur, &st) < 0) {
			char *full = errno == ENOENT ? canonical(cur) : NULL;

			free(cur);
			return full;
		}
		if (!S_ISLNK(st.st_mode) || (len = readlink(cur, target, sizeof(target) - 1)) < 0) {
			char *full = realpath(cur, NULL);

			free(cur);
			return full;
		}
		target[len] = 0;
		copy = strdup(cur);
		if (copy && (target[0] == '/' ? !(next = strdup(target)) :
			     asprintf(&next, "%s/%s", dirname(copy), target) < 0))
			next = NULL;
		free(copy);
		free(cur);
		cur = next;
	}
	free(cur);
	errno = ELOOP;
	return NULL;
}

/* Why the log cannot name path by its real path (realpath failed). */
static void log_name_error(const char *path)
{
	struct stat st;
	int err = errno;

	if (err == ENOENT && stat(path, &st) == 0)
		errmsg("%s: --log needs the real path of each device, and this one has none "
		       "(a removed file, still open: reached through /proc/PID/fd)", path);
	else
		errmsg("%s: %s", path, strerror(err));
}

static char *dest_name(const struct device *d)
{
	return d->canon ? strdup(d->canon) : realpath(d->path, NULL);
}

/* Do canonical names a and b name one file (that may not exist yet): the
 * same name, or one names it through an overlayfs and the other in the
 * overlay's upper layer, where the overlay creates it? */
static bool same_new_name(const char *a, const char *b)
{
	char *ua, *ub;
	bool same;

	if (!strcmp(a, b))
		return true;
	ua = overlay_upper_name(a);
	ub = overlay_upper_name(b);
	same = (ua && !strcmp(ua, b)) || (ub && !strcmp(a, ub)) || (ua && ub && !strcmp(ua, ub));
	free(ua);
	free(ub);
	return same;
}

/* Do two paths name one entry of one directory (which may not exist yet)?
 * The same directory, however it is reached (a bind mount, a symbolic
 * link: by its inode), and the same last component. */
static bool same_entry(const char *a, const char *b)
{
	char *da = strdup(a), *db = strdup(b), *ba = strdup(a), *bb = strdup(b);
	struct stat x, y;
	bool same = da && db && ba && bb && !strcmp(basename(ba), basename(bb)) &&
		    !stat(dirname(da), &x) && !stat(dirname(db), &y) &&
		    x.st_dev == y.st_dev && x.st_ino == y.st_ino;

	free(da);
	free(db);
	free(ba);
	free(bb);
	return same;
}

/* Which device, if any, the log's file name (canonical: canon) is: by
 * what it is (through any symlink or hard link), or for a destination not
 * created yet, by its name. */
static const struct device *log_file_is(const struct copy *c, const char *name,
					const char *canon, const struct copylog_key *k)
{
	struct stat st;

	if (!strcmp(canon, k->source))
		return &c->src;
	for (unsigned int i = 0; i < k->ndests; i++)
		if (same_new_name(canon, k->dests[i]) ||
		    (c->dests[i].kind == DEV_NEW && same_entry(name, c->dests[i].path)))
			return &c->dests[i];
	if (stat(name, &st) || !S_ISREG(st.st_mode))
		return NULL;
	if (device_stores_file(&c->src, name))
		return &c->src;
	for (unsigned int i = 0; i < c->n; i++)
		if (device_stores_file(&c->dests[i], name))
			return &c->dests[i];
	return NULL;
}

/* The log's files go in the directory of logfile (canonical name:
 * logname): its file system must not live in the source's range (writing
 * the log would change the source under the copy; anywhere in a file
 * source, whose times then change) nor in a destination's (the copy would
 * overwrite the log, and the log the copy).  The directory is looked at
 * as the log will be opened, by the name given: a canonical name is only
 * text, and through /proc/PID/root of another mount namespace it names
 * another directory of ours. */
static int check_log_fs(const struct copy *c, const char *logfile, const char *logname)
{
	char *copy = strdup(logname), *open_copy = strdup(logfile);
	const char *dir, *at;
	int ret = 0;

	if (!copy || !open_copy) {
		errmsg("out of memory");
		free(copy);
		free(open_copy);
		return -1;
	}
	dir = dirname(copy);
	at = dirname(open_copy);
	for (unsigned int i = 0; i <= c->n && !ret; i++) {
		/* (The whole of a source file, and of the file under a loop
		 * device source: the log's writes there move its times, which
		 * the run takes for a change of the source.) */
		const struct device *d = i ? &c->dests[i - 1] : &c->src;
		bool whole = d->kind == DEV_FILE || device_has_file_under(d);
		int held = i ? device_holds_dir(d, c->dst_off, c->len, at) :
			device_holds_dir(d, whole ? 0 : c->off, whole ? UINT64_MAX : c->len, at);

		if (held < 0)
			errmsg("--log %s: cannot tell whether its directory %s lies in the %s %s: %s",
			       c->o->log, dir, i ? "destination" : "source", d->path,
			       held == -ELOOP ? "more storage lies under it than is followed" :
			       err_text(-held));
		else if (held && !i)
			errmsg("--log %s: its directory %s is on a file system stored in the source "
			       "%s; the log would be written inside the source", c->o->log, dir,
			       d->path);
		else if (held)
			errmsg("--log %s: its directory %s is on a file system stored in the "
			       "destination %s; the log would be written inside the destination, "
			       "which the copy overwrites", c->o->log, dir, d->path);
		if (held)
			ret = -1;
	}
	free(copy);
	free(open_copy);
	return ret;
}

/* The log's own files (the log, the temporary file it is rewritten
 * through, its lock file) must not be any device it describes, however
 * they are named; the log must be a regular file (or not exist yet), the
 * other two regular files that are not symbolic links. */
static int check_log_path(const struct copy *c, const char *logfile, const char *logname,
			  const struct copylog_key *k)
{
	static const char *const suffix[] = { "", ".tmp", ".lock" };
	static const char *const role[] = { "the log", "the log's temporary file",
					     "the log's lock file" };
	int ret = 0;

	for (int i = 0; i < 3 && !ret; i++) {
		const struct device *d;
		char *name = NULL, *canon = NULL;
		struct stat st;

		if (asprintf(&name, "%s%s", logfile, suffix[i]) < 0 ||
		    asprintf(&canon, "%s%s", logname, suffix[i]) < 0) {
			errmsg("out of memory");
			free(name);
			return -1;
		}
		d = log_file_is(c, name, canon, k);
		if (d) {
			errmsg("--log %s: %s %s is %s %s; the log cannot be the source or a "
			       "destination", c->o->log, role[i], name,
			       d == &c->src ? "the source" : "the destination", d->path);
			ret = -1;
		} else if ((i ? lstat(name, &st) : stat(name, &st)) == 0 && !S_ISREG(st.st_mode)) {
			errmsg("--log %s: %s %s is not a regular file", c->o->log, role[i], name);
			ret = -1;
		}
		free(name);
		free(canon);
	}
	return ret ? ret : check_log_fs(c, logfile, logname);
}

/* A file destination that was removed or cut short since the log was
 * written cannot hold what the log says it does: refuse the log. */
static int check_log_dests(const struct copy *c)
{
	uint64_t chunk = copylog_chunk(c->log), n = copylog_chunks(c->log);

	for (unsigned int d = 0; d < c->n; d++) {
		const struct device *dev = &c->dests[d];

		if (dev->kind == DEV_BLOCK)
			continue;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t end = (i + 1) * chunk < c->len ? (i + 1) * chunk : c->len;

			if (copylog_is_done(c->log, d, i) && c->dst_off + end > dev->size) {
				errmsg("--log %s: refused, it is the log of another copy: it records "
				       "bytes up to %llu as copied to %s, which %s", c->o->log,
				       (unsigned long long)(c->dst_off + end), dev->path,
				       dev->kind == DEV_NEW ? "does not exist" : "is shorter");
				return -1;
			}
		}
	}
	return 0;
}

/* --log: read (or start) the log, after every other check passed and before
 * anything is created or written, so that a refusal leaves no trace. */
static int open_log(struct copy *c)
{
	struct copylog_key k = { .source_size = c->src.size, .offset = c->off, .length = c->len,
				 .dest_offset = c->dst_off, .ndests = c->n };
	char *names[MAX_DESTS + 2] = { NULL }, why[512];
	const char *logfile = c->o->log;
	struct stat st = { 0 };
	uint64_t chunk = LOG_CHUNK;
	unsigned int nnames = 0;
	int ret = -1, err;

	if (!c->o->log)
		return 0;
	if (c->n > COPYLOG_MAX_DESTS) {
		errmsg("--log: at most %u destinations", COPYLOG_MAX_DESTS);
		return -1;
	}
	/* A log that is a symbolic link is the file it points to, and so are
	 * its temporary and lock files beside it: one lock, whatever the name. */
	names[nnames++] = lstat(c->o->log, &st) == 0 && S_ISLNK(st.st_mode) ?
			  realpath(c->o->log, NULL) : canonical(c->o->log);
	if (!names[0] && errno == ENOENT)
		names[0] = link_target(c->o->log);      /* a link to no file yet: made there */
	if (names[0] && S_ISLNK(st.st_mode))
		logfile = names[0];
	if (!names[0]) {
		errmsg("--log %s: cannot create it: %s", c->o->log, strerror(errno));
		return -1;
	}
	names[nnames] = realpath(c->src.path, NULL);
	if (!names[nnames]) {
		log_name_error(c->src.path);
		goto out;
	}
	k.source = names[nnames++];
	for (unsigned int i = 0; i < c->n; i++)
		/* (Or writes the file under a loop device source anywhere: the
		 * file's times, which the log keeps, are the run's own then.) */
		k.source_written |= c->len && (device_meet(&c->src, 0, UINT64_MAX, &c->dests[i],
							   c->dst_off, c->len, 0) != MEET_NONE ||
					       device_writes_file_under(&c->dests[i], &c->src));
	if ((err = copylog_identify(c->src.fd, &k.source_id))) {
		errmsg("%s: %s", c->src.path, strerror(-err));
		goto out;
	}
	for (unsigned int i = 0; i < c->n; i++) {
		names[nnames] = dest_name(&c->dests[i]);
		if (!names[nnames]) {
			log_name_error(c->dests[i].path);
			goto out;
		}
		k.dests[i] = names[nnames++];
		/* Files are identified again at each commit, once created. */
		k.dest_fds[i] = &c->dests[i].fd;
		if (c->dests[i].fd >= 0 && (err = copylog_identify(c->dests[i].fd, &k.dest_ids[i]))) {
			errmsg("%s: %s", c->dests[i].path, strerror(-err));
			goto out;
		}
	}
	if (check_log_path(c, logfile, names[0], &k))
		goto out;
	while (c->len / chunk >= LOG_MAX_CHUNKS)
		chunk *= 2;
	c->log_existed = access(logfile, F_OK) == 0;
	err = copylog_open(logfile, &k, chunk, &c->log, why, sizeof(why));
	if (err) {
		errmsg("--log %s: %s: %s", c->o->log,
		       err == -ESTALE ? "refused, it is the log of another copy" :
		       err == -EBADMSG ? "refused, it is damaged or not a copy log" :
		       err == -EUCLEAN || err == -EBUSY || err == -EPROTO ? "refused" : "unusable",
		       why);
		goto out;
	}
	/* A destination that is not what the log last saw (rewritten, replaced,
	 * another disk): what the log says it holds is not trusted, it is
	 * copied again from the start. */
	for (unsigned int i = 0; i < c->n; i++)
		if (copylog_dest_changed(c->log, i))
			fprintf(stderr, "kcopyd: %s: changed since the log was written (%s): "
				"copying all of it again\n", c->dests[i].path,
				copylog_dest_changed(c->log, i));
	if (copylog_chunk(c->log) % c->align) {
		errmsg("--log %s: its chunk size %llu is not a multiple of the block size %u",
		       c->o->log, (unsigned long long)copylog_chunk(c->log), c->align);
		copylog_free(c->log);
		c->log = NULL;
		if (!c->log_existed)
			unlink(c->o->log);
		goto out;
	}
	if (check_log_dests(c)) {
		copylog_free(c->log);
		c->log = NULL;
		goto out;
	}
	c->skipped = (uint64_t)c->n * c->len - copylog_todo_bytes(c->log);
	ret = 0;
out:
	for (unsigned int i = 0; i < nnames; i++)
		free(names[i]);
	return ret;
}

/* Every check before any change: exit 2 means nothing was written. */
static int setup_dests(struct copy *c)
{
	c->dst_off = c->o->dest_offset == NOT_SET ? 0 : c->o->dest_offset;
	c->align = c->src.kind == DEV_BLOCK && c->src.lbs > KCOPYD_SECTOR_SIZE ?
		c->src.lbs : KCOPYD_SECTOR_SIZE;
	for (unsigned int i = 0; i < c->n; i++)
		if (device_stat(&c->dests[i], true) || check_not_in_dev(c, &c->dests[i]))
			return -1;
	if (device_check_distinct(&c->src, c->off, c->dests, c->n, c->dst_off, c->len))
		return -1;
	for (unsigned int i = 0; i < c->n; i++)
		if (check_dest(c, &c->dests[i]))
			return -1;
	/* Again with what was opened, in case a path changed in between. */
	if (device_check_distinct(&c->src, c->off, c->dests, c->n, c->dst_off, c->len) ||
	    device_check_output(&c->src, c->off, c->dests, c->n, c->dst_off, c->len))
		return -1;
	c->bulk = c->len - c->len % c->align;
	if (check_space(c) || client_setup(c->o, &c->kc))
		return -1;
	/* From here on files are made (the log's, the destinations). */
	signals_setup_done();
	if (open_log(c))
		return -1;
	/* The flush opens the directory of a file this run creates: that
	 * descriptor is taken now, while a refusal leaves nothing behind. */
	int err = fd_reserve();

	if (err) {
		errmsg("out of file descriptors (ulimit -n?): %s", strerror(-err));
		goto undo_log;
	}
	if (device_prepare(c->dests, c->n))
		goto undo_log;
	bool failed = false;

	for (unsigned int i = 0; i < c->n && !failed; i++)
		failed = signal_caught() || device_open_lib(&c->dests[i], O_RDWR, c->o);
	if (failed)
		device_undo(c->dests, c->n);
	/* A stop signal before the first write (during the last open, too):
	 * undone, nothing written. */
	if (device_prepared(c->dests, c->n) || failed)
		goto undo_log;
	return 0;
undo_log:
	/* A log this command started records nothing: it goes too. */
	if (c->log && !c->log_existed)
		unlink(c->o->log);
	return -1;
}

#define MIN_HOLE (64u << 10)     /* a destination's smaller holes are written like data */

static uint64_t round_down(const struct copy *c, uint64_t v)
{
	return v - v % c->align;
}

static uint64_t round_up(const struct copy *c, uint64_t v)
{
	return v % c->align ? v + (c->align - v % c->align) : v;
}

/* Destination i over [p, end), in bytes from dst_off: how far from p it is
 * all known to read as zero (*zero set), or may hold data.  Known zero: past
 * zero_from (a file the command created or extended), and a hole of a file
 * (SEEK_DATA) of MIN_HOLE or more or reaching end, cut to whole blocks of
 * the copy.  A block device, or a file system that cannot tell, may hold
 * data anywhere.  Our own jobs write other ranges only, so what a range
 * holds before its own job is what it held at the start. */
static uint64_t dest_stretch(const struct copy *c, unsigned int i, uint64_t p, uint64_t end,
			     bool *zero)
{
	const struct device *d = &c->dests[i];
	uint64_t at = p, lim = end;

	*zero = c->dst_off + p >= d->zero_from;
	if (*zero)
		return end;
	if (d->zero_from - c->dst_off < end)
		lim = round_up(c, d->zero_from - c->dst_off) < end ?
			round_up(c, d->zero_from - c->dst_off) : end;
	if (d->kind == DEV_BLOCK || d->fd < 0)
		return lim;
	while (at < lim) {
		off_t q = seek_data(d->fd, (off_t)(c->dst_off + at)), h;
		uint64_t he;

		if (q < 0 && errno != ENXIO)
			return lim;
		he = q < 0 ? lim : round_down(c, (uint64_t)q - c->dst_off);
		if (he > lim)
			he = lim;
		if (he > at && (he - at >= MIN_HOLE || he == lim)) {
			if (at > p)
				return at;      /* data up to this hole */
			*zero = true;
			return he;
		}
		h = seek_hole(d->fd, q);
		if (h <= q)
			return lim;
		at = round_up(c, (uint64_t)h - c->dst_off);
	}
	return lim;
}

/* The destinations of want that may hold data at p (bytes from dst_off);
 * *next is where that may change, at most end. */
static uint32_t not_zero_mask(const struct copy *c, uint32_t want, uint64_t p, uint64_t end,
			      uint64_t *next)
{
	uint32_t mask = 0;

	*next = end;
	for (unsigned int i = 0; i < c->n; i++) {
		uint64_t e;
		bool zero;

		if (!(want & (1u << i)))
			continue;
		e = dest_stretch(c, i, p, end, &zero);
		if (!zero)
			mask |= 1u << i;
		if (e < *next)
			*next = e;
	}
	return mask;
}

static uint32_t all_mask(unsigned int n)
{
	return n >= 32 ? UINT32_MAX : (1u << n) - 1;
}

/* Submit span *sp (a source extent, data or hole) to the destinations in
 * want, cut where what the destinations hold changes.  A hole is zeroed
 * only on the destinations that may hold data there: a destination range
 * that is a hole already (a sparse copy copied again) is left alone, so it
 * stays sparse.  Data is written with KCOPYD_SKIP_ZEROES where every
 * destination reads as zero already.  Without --sparse every byte is
 * written.  Returns 0, or -1 when the run has stopped. */
static int submit_span(struct copy *c, struct runner *r, const struct span *sp, uint32_t want)
{
	uint64_t p = sp->dst_off - c->dst_off, end = p + sp->len, next;
	uint32_t nz;

	if (!c->o->sparse) {
		struct span all = *sp;

		all.mask = want;
		return runner_submit(r, &all);
	}
	nz = not_zero_mask(c, want, p, end, &next);
	while (p < end) {
		uint64_t q = next, qnext = end;
		uint32_t qnz = 0;
		struct span piece = *sp;

		/* Extend the piece while the next stretch is handled alike. */
		while (q < end) {
			qnz = not_zero_mask(c, want, q, end, &qnext);
			if (sp->zero ? qnz != nz : !qnz != !nz)
				break;
			q = qnext;
		}
		piece.src_off = sp->src_off + (p - (sp->dst_off - c->dst_off));
		piece.dst_off = c->dst_off + p;
		piece.len = q - p;
		if (!sp->zero) {
			piece.mask = want;
			piece.flags = nz ? 0 : KCOPYD_SKIP_ZEROES;
		} else {
			piece.mask = nz;
		}
		if (sp->zero && !nz)
			runner_note_done(r, piece.len);
		else if (runner_submit(r, &piece))
			return -1;
		p = q;
		nz = qnz;
		next = qnext;
	}
	return 0;
}

static int submit_piece(struct copy *c, struct runner *r, uint64_t rel, uint64_t len,
			bool data)
{
	struct span sp = { .zero = !data, .src_off = c->off + rel, .dst_off = c->dst_off + rel,
			   .len = len };

	return submit_span(c, r, &sp, all_mask(c->n));
}

static bool run_copy(struct copy *c, struct runner *r)
{
	struct extent_iter it;
	uint64_t eoff, elen;
	bool data;

	extent_init(&it, &c->src, c->o->sparse, c->off, c->bulk, c->align);
	while (extent_next(&it, &eoff, &elen, &data)) {
		for (uint64_t p = eoff; p < eoff + elen; p += JOB_MAX) {
			uint64_t n = eoff + elen - p < JOB_MAX ? eoff + elen - p : JOB_MAX;

			if (submit_piece(c, r, p, n, data))
				return false;
		}
	}
	return true;
}

/* Destinations that still need chunk i. */
static uint32_t chunk_todo(const struct copy *c, uint64_t i)
{
	uint32_t mask = 0;

	for (unsigned int d = 0; d < c->n; d++)
		if (!copylog_is_done(c->log, d, i))
			mask |= 1u << d;
	return mask;
}

/* With a log: chunk by chunk, each job inside one chunk, each chunk only to
 * the destinations that do not hold it yet.  The last chunk is closed by
 * run() after the tail.  Returns true when every chunk was submitted. */
static bool run_logged(struct copy *c, struct runner *r)
{
	uint64_t chunk = copylog_chunk(c->log), n = copylog_chunks(c->log);

	for (uint64_t i = 0; i < n; i++) {
		uint64_t start = i * chunk, end = start + chunk < c->len ? start + chunk : c->len;
		uint64_t bend = end < c->bulk ? end : c->bulk;
		uint32_t todo = chunk_todo(c, i) & runner_live(r);
		struct extent_iter it;
		uint64_t eoff, elen;
		bool data;

		if (!todo) {
			if (bend > start)
				runner_note_done(r, bend - start);
			continue;
		}
		if (bend > start) {
			extent_init(&it, &c->src, c->o->sparse, c->off + start, bend - start, c->align);
			while (extent_next(&it, &eoff, &elen, &data)) {
				struct span sp = { .zero = !data, .src_off = c->off + start + eoff,
						   .dst_off = c->dst_off + start + eoff, .len = elen,
						   .chunk = i };

				if (submit_span(c, r, &sp, todo))
					return false;
			}
		}
		if (i + 1 < n)
			runner_chunk_close(r, i, todo);
	}
	return true;
}

static void finish_engine(struct copy *c, struct report *rep)
{
	const char *engine = kcopyd_client_engine(c->kc);

	kcopyd_client_stats(c->kc, &rep->stats, sizeof(rep->stats));
	snprintf(rep->engine, sizeof(rep->engine), "%s", engine ? engine : "?");
	runner_end_engine(rep->r);      /* no stop signal cancels it any more */
	kcopyd_client_destroy(c->kc);
	c->kc = NULL;
}

/* --verify found that a destination does not hold what the log says it
 * does (a difference, or a read-back that failed): from the chunk of its
 * first bad byte on, the log forgets it, so that a rerun copies that part
 * again instead of trusting it. */
static void log_forget_unverified(struct copy *c, struct report *rep)
{
	uint64_t chunk = copylog_chunk(c->log), n = copylog_chunks(c->log);
	bool forgot = false;
	int err;

	for (unsigned int i = 0; i < c->n; i++) {
		const struct device *d = &c->dests[i];
		uint64_t at = d->differs ? d->diff_off : d->failed ? d->err_off : NOT_SET;

		if (!d->differs && !d->failed)
			continue;
		if (at == NOT_SET || at < c->dst_off)
			at = c->dst_off;
		copylog_forget(c->log, i, (at - c->dst_off) / chunk);
		forgot = true;
	}
	if (!forgot)
		return;
	rep->resume_at = NOT_SET;
	if ((err = copylog_finish(c->log))) {
		/* The log on disk still says those chunks were copied: a rerun
		 * would trust them.  Removed, a rerun copies everything again;
		 * if even that fails, the message says to remove it. */
		int gone = copylog_discard(c->log);

		snprintf(rep->r->log_error, sizeof(rep->r->log_error),
			 "cannot record that the verify pass found differences: %s; %s",
			 strerror(-err), gone ? "the log still says they were copied" :
			 "the log was removed");
		errmsg("--log %s: %s%s", c->o->log, rep->r->log_error,
		       gone ? ": remove it before a rerun, which would trust them" :
		       ": a rerun copies everything again");
		rep->r->log_unclosed = true;
		return;
	}
	for (uint64_t i = 0; i < n && rep->resume_at == NOT_SET; i++)
		if (chunk_todo(c, i))
			rep->resume_at = c->off + i * chunk;
}

/* --verify was asked for, but the run stopped (a stop signal, --fail-fast
 * after another device failed, an internal error) before its read-back:
 * no destination is verified, and none may be reported so, even one that
 * got every byte.  Those left incomplete are said so later, over this. */
static void mark_unverified(struct runner *r)
{
	static char why[96];

	if (r->signal)
		snprintf(why, sizeof(why), "not verified: interrupted (%s) before the verify pass",
			 signal_name(r->signal));
	else if (r->fail_fast && !r->internal_error)
		snprintf(why, sizeof(why), "not verified: the run stopped after another device "
			 "failed (--fail-fast)");
	else
		snprintf(why, sizeof(why), "not verified: the run stopped before the verify pass");
	for (unsigned int i = 0; i < r->ndests; i++) {
		struct device *d = &r->dests[i];

		d->verified = false;
		if (!d->failed && !d->differs && !d->note)
			d->note = why;
	}
}

static int run(struct copy *c)
{
	struct runner r;
	struct report rep = { .o = c->o, .r = &r, .src = &c->src, .src_off = c->off,
			      .dst_off = c->dst_off, .bytes = c->len };
	int code;

	uint32_t last_todo = all_mask(c->n);
	bool all_submitted = true, began = false;
	int err;

	runner_init(&r, c->kc, &c->src, c->dests, c->n, c->o, c->len);
	if (c->log) {
		rep.log = c->o->log;
		rep.resumed = c->log_existed;
		rep.skipped_bytes = c->skipped;
		if (c->log_existed)
			runner_log_on_disk(&r);
		/* From here the destinations change by our writes (copylog.h). */
		err = copylog_begin(c->log);
		if (!err)
			runner_log_on_disk(&r);

		if (err || runner_track(&r, c->log, c->o->log_interval)) {
			snprintf(r.log_error, sizeof(r.log_error), "%s%s",
				 err ? "cannot write the copy log: " : "", strerror(err ? -err : ENOMEM));
			errmsg("%s", r.log_error);
			r.stop = r.internal_error = true;
			all_submitted = false;
		} else {
			began = true;
			all_submitted = run_logged(c, &r);
		}
		if (copylog_chunks(c->log))
			last_todo = chunk_todo(c, copylog_chunks(c->log) - 1);
	} else {
		all_submitted = run_copy(c, &r);
	}
	r.submitted_all = all_submitted;
	runner_drain(&r);
	runner_narrow_read_error(&r, c->o->sub_job_size, c->off + c->len);
	runner_tail(&r, last_todo, c->off + c->bulk, c->dst_off + c->bulk, c->len - c->bulk);
	if (c->log) {
		uint64_t n = copylog_chunks(c->log);

		/* Stopped, the tail was not written: unless there is none. */
		if (all_submitted && n && (!r.stop || c->len == c->bulk))
			runner_chunk_close(&r, n - 1, last_todo & runner_live(&r));
		if (began && runner_checkpoint(&r, true) == 0 && (err = copylog_finish(c->log))) {
			/* The log stays as the last rewrite left it, open: a
			 * rerun takes the run for one that crashed. */
			snprintf(r.log_error, sizeof(r.log_error), "cannot close the copy log: %s",
				 strerror(-err));
			errmsg("--log %s: %s; a rerun with it takes this run for one that crashed",
			       c->o->log, r.log_error);
			r.log_unclosed = true;
		}
		rep.resume_at = NOT_SET;
		for (uint64_t i = 0; i < n && rep.resume_at == NOT_SET; i++)
			if (chunk_todo(c, i))
				rep.resume_at = c->off + i * copylog_chunk(c->log);
		runner_untrack(&r);
	} else if (c->o->flush || c->o->verify) {
		/* --verify compares what the device holds: with buffered
		 * writes, that is known only after the flush (the read-back
		 * would otherwise find the page cache, and a write-back that
		 * fails later would go unseen), so it flushes even with
		 * --no-flush. */
		runner_flush(&r);
	}
	progress_end(&r.prog, runner_progress(&r));
	rep.seconds = now_seconds() - r.started;
	finish_engine(c, &rep);
	if (c->o->verify && !r.stop && !r.internal_error) {
		struct progress p;

		progress_init(&p, progress_wanted(c->o), c->len);
		compare_ranges(&c->src, c->off, c->dests, c->n, c->dst_off, c->len, &p);
		if (c->log)
			log_forget_unverified(c, &rep);
	} else if (c->o->verify) {
		mark_unverified(&r);
	}
	code = report_finish(&rep);
	runner_fini(&r);
	return code;
}

static void cleanup(struct copy *c)
{
	copylog_free(c->log);
	kcopyd_client_destroy(c->kc);
	device_close(&c->src);
	for (unsigned int i = 0; i < c->n; i++)
		device_close(&c->dests[i]);
}

int cmd_copy(struct options *o)
{
	struct copy *c = calloc(1, sizeof(*c));
	int code;

	if (!c) {
		errmsg("out of memory");
		return EXIT_SETUP;
	}
	c->o = o;
	c->n = (unsigned int)o->npaths - 1;
	if (c->n > MAX_DESTS) {
		errmsg("copy: at most %u destinations", MAX_DESTS);
		free(c);
		return setup_failed(o);
	}
	device_init(&c->src, o->paths[0]);
	for (unsigned int i = 0; i < c->n; i++)
		device_init(&c->dests[i], o->paths[i + 1]);
	if ((o->verify && compare_reserve()) || setup_source(c) || setup_dests(c))
		code = setup_failed(o);
	else {
		/* An empty range: nothing is written (no destination grows to
		 * --dest-offset); a new destination is created empty. */
		if (!c->len && !o->quiet)
			fprintf(stderr, "kcopyd: the range is empty: nothing to copy\n");
		code = run(c);
	}
	cleanup(c);
	free(c);
	return code;
}
