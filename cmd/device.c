/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Set-up: find out what every path is, refuse what must not be written,
 * and only then create or extend destination files.
 *
 * Two paths are the same device when their bytes live in the same place:
 * the same inode of a file (through any symlink or hard link), the same
 * block device, a partition of it (its bytes are a range of the disk), or a
 * loop device over a file (its bytes are a range of that file).  Each
 * device carries up to two such identities, each with the byte offset at
 * which the device starts inside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

void device_init(struct device *d, const char *path)
{
	memset(d, 0, sizeof(*d));
	d->path = path;
	d->fd = -1;
	d->lbs = KCOPYD_SECTOR_SIZE;
	d->zero_from = UINT64_MAX;
	d->err_off = NOT_SET;
	d->diff_off = NOT_SET;
}

const char *device_kind_name(const struct device *d)
{
	return d->kind == DEV_BLOCK ? "block device" : "regular file";
}

/* ---- identity -------------------------------------------------------- */

int read_sysfs(const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static uint64_t sysfs_u64(const char *dir, const char *name)
{
	char buf[64];

	return read_sysfs(dir, name, buf, sizeof(buf)) ? 0 : strtoull(buf, NULL, 10);
}

/* A loop device's bytes are its backing file's, from the loop offset on. */
static void loop_identity(struct identity *id, const char *disk, uint64_t start)
{
	char backing[PATH_MAX];
	struct stat st;

	if (read_sysfs(disk, "loop/backing_file", backing, sizeof(backing)) ||
	    stat(backing, &st) || !S_ISREG(st.st_mode))
		return;
	*id = (struct identity){ .dev = st.st_dev, .ino = st.st_ino,
				 .start = sysfs_u64(disk, "loop/offset") + start, .valid = true };
}

/* A partition's bytes are its disk's, from the partition's start on. */
static void blockdev_identity(struct device *d, dev_t rdev)
{
	char link[64], sys[PATH_MAX], disk[PATH_MAX], devno[32];
	unsigned int maj, min;
	uint64_t start = 0;

	d->id[0] = (struct identity){ .dev = rdev, .start = 0, .valid = true };
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(rdev), minor(rdev));
	if (!realpath(link, sys))
		return;
	snprintf(disk, sizeof(disk), "%s", sys);
	if (read_sysfs(sys, "partition", devno, sizeof(devno)) == 0) {
		start = sysfs_u64(sys, "start") * KCOPYD_SECTOR_SIZE;
		snprintf(disk, sizeof(disk), "%s", dirname(sys));
		if (read_sysfs(disk, "dev", devno, sizeof(devno)) == 0 &&
		    sscanf(devno, "%u:%u", &maj, &min) == 2)
			d->id[0] = (struct identity){ .dev = makedev(maj, min), .start = start,
						      .valid = true };
	}
	loop_identity(&d->id[1], disk, start);
}

static void set_identity(struct device *d, const struct stat *st)
{
	if (S_ISBLK(st->st_mode))
		blockdev_identity(d, st->st_rdev);
	else
		d->id[0] = (struct identity){ .dev = st->st_dev, .ino = st->st_ino, .valid = true };
}

/* Do [a, a + len) and [b, b + len) share a byte?  (No sum can overflow.) */
static bool ranges_meet(uint64_t a, uint64_t b, uint64_t len)
{
	return a <= b ? b - a < len : a - b < len;
}

/* Do the ranges [a_off, +len) of a and [b_off, +len) of b share bytes?
 * With exact set, any shared identity at the same start counts, even for
 * an empty range: a destination named twice. */
static bool devices_meet(const struct device *a, uint64_t a_off, const struct device *b,
			 uint64_t b_off, uint64_t len, bool exact)
{
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 2; k++) {
			const struct identity *x = &a->id[i], *y = &b->id[k];

			if (!x->valid || !y->valid || x->dev != y->dev || x->ino != y->ino)
				continue;
			if (exact && x->start == y->start)
				return true;
			if (ranges_meet(x->start + a_off, y->start + b_off, len))
				return true;
		}
	}
	return a->canon && b->canon && strcmp(a->canon, b->canon) == 0;
}

/* The source must not overlap any destination (we refuse rather than copy
 * memmove-style: a copy over its own source is almost always a mistake),
 * and no destination may appear twice. */
int device_check_distinct(struct device *src, uint64_t src_off, struct device *dests,
			  unsigned int n, uint64_t dst_off, uint64_t len)
{
	for (unsigned int i = 0; i < n; i++) {
		if (src && devices_meet(src, src_off, &dests[i], dst_off, len, false)) {
			errmsg("%s: is the source %s (or shares its storage) and the ranges "
			       "overlap", dests[i].path, src->path);
			return -1;
		}
		for (unsigned int k = 0; k < i; k++) {
			if (devices_meet(&dests[k], dst_off, &dests[i], dst_off, len, true)) {
				errmsg("%s: the same destination as %s (named twice)",
				       dests[i].path, dests[k].path);
				return -1;
			}
		}
	}
	return 0;
}

/* ---- probing --------------------------------------------------------- */

/* "a directory", "a FIFO"...: what a path is that cannot be copied. */
const char *unusable_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "of an unknown type";
}

static int classify(struct device *d, const struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		d->kind = DEV_FILE;
	} else if (S_ISBLK(st->st_mode)) {
		d->kind = DEV_BLOCK;
	} else {
		errmsg("%s: is %s; only regular files and block devices can be used",
		       d->path, unusable_type(st->st_mode));
		return -1;
	}
	set_identity(d, st);
	return 0;
}

/* A destination that does not exist yet: its directory must let us create
 * it, and its canonical name finds the same new file named twice. */
static int probe_new(struct device *d)
{
	char *copy1 = strdup(d->path), *copy2 = strdup(d->path);
	char dir[PATH_MAX];
	int ret = -1;

	if (!copy1 || !copy2) {
		errmsg("out of memory");
		goto out;
	}
	if (!realpath(dirname(copy1), dir)) {
		errmsg("%s: cannot create: %s", d->path, strerror(errno));
		goto out;
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS)) {
		errmsg("%s: cannot create: %s", d->path, strerror(errno));
		goto out;
	}
	if (asprintf(&d->canon, "%s/%s", dir, basename(copy2)) < 0) {
		d->canon = NULL;
		errmsg("out of memory");
		goto out;
	}
	d->kind = DEV_NEW;
	d->size = 0;
	d->zero_from = 0;
	ret = 0;
out:
	free(copy1);
	free(copy2);
	return ret;
}

static int stat_path(struct device *d, bool may_create)
{
	struct stat st;

	if (stat(d->path, &st) == 0)
		return classify(d, &st);
	if (errno == ENOENT && may_create) {
		if (lstat(d->path, &st) == 0) {
			errmsg("%s: is a symbolic link to nothing; refusing to create its target",
			       d->path);
			return -1;
		}
		return probe_new(d);
	}
	errmsg("%s: %s", d->path, strerror(errno));
	return -1;
}

static int probe_size(struct device *d)
{
	struct stat st;
	int lbs;

	if (fstat(d->fd, &st))
		return -errno;
	/* What was opened is what counts: its identity replaces the stat's. */
	if (d->kind == DEV_FILE ? !S_ISREG(st.st_mode) : !S_ISBLK(st.st_mode))
		return -EAGAIN;
	set_identity(d, &st);
	if (d->kind == DEV_FILE) {
		d->size = (uint64_t)st.st_size;
		return 0;
	}
	if (ioctl(d->fd, BLKGETSIZE64, &d->size) || ioctl(d->fd, BLKSSZGET, &lbs))
		return -errno;
	d->lbs = (unsigned int)lbs;
	return 0;
}

static int open_existing(struct device *d, int flags)
{
	int ret;

	d->fd = open(d->path, flags | O_CLOEXEC | O_NOCTTY);
	if (d->fd < 0)
		return -errno;
	ret = probe_size(d);
	if (ret == -EAGAIN)
		errmsg("%s: changed while it was being opened", d->path);
	else if (ret)
		errmsg("%s: cannot find its size: %s", d->path, strerror(-ret));
	return ret ? 1 : 0;
}

/* What is at d->path: a file, a block device, or (when may_create) a file
 * to create.  Everything else is refused. */
int device_stat(struct device *d, bool may_create)
{
	return stat_path(d, may_create);
}

int device_open_read(struct device *d)
{
	int ret = open_existing(d, O_RDONLY);

	if (ret < 0)
		errmsg("%s: cannot open for reading: %s", d->path, strerror(-ret));
	return ret ? -1 : 0;
}

/* A block device is opened O_EXCL by us and kept so for the whole run:
 * that is what fails while it is mounted or claimed, and it keeps anyone
 * else from claiming it meanwhile.  The library then opens it without. */
int device_open_write(struct device *d, const struct options *o)
{
	int flags = O_RDWR, ret;

	if (d->kind == DEV_NEW)
		return 0;
	if (d->kind == DEV_BLOCK && !o->force)
		flags |= O_EXCL;
	ret = open_existing(d, flags);
	if (ret == -EBUSY && d->kind == DEV_BLOCK)
		errmsg("%s: is mounted or in use by another program; refusing to write to it "
		       "(--force to write anyway)", d->path);
	else if (ret < 0)
		errmsg("%s: cannot open for writing: %s", d->path, strerror(-ret));
	if (ret)
		return -1;
	if (d->kind == DEV_FILE)
		d->zero_from = d->size;
	return 0;
}

/* ---- ranges ---------------------------------------------------------- */

/* off + len must fit in an off_t, and lie inside the device unless it is a
 * file the run may extend. */
int device_check_range(const struct device *d, const char *opt, uint64_t off, uint64_t len,
		       bool may_extend)
{
	char a[32];

	if (len > (uint64_t)INT64_MAX - off) {
		errmsg("%s: %s: the range is too large", d->path, opt);
		return -1;
	}
	if (may_extend && d->kind != DEV_BLOCK)
		return 0;
	if (off > d->size || len > d->size - off) {
		errmsg("%s: %s %llu plus %llu bytes ends past the end of the %s (%s, %llu bytes)",
		       d->path, opt, (unsigned long long)off, (unsigned long long)len,
		       device_kind_name(d), human_size(d->size, a, sizeof(a)),
		       (unsigned long long)d->size);
		return -1;
	}
	return 0;
}

/* The library works in 512-byte sectors, and on a block device in whole
 * logical blocks: a start that is not on such a boundary is refused. */
int device_check_align(const struct device *d, const char *opt, uint64_t off)
{
	unsigned int a = d->kind == DEV_BLOCK ? d->lbs : KCOPYD_SECTOR_SIZE;

	if (a < KCOPYD_SECTOR_SIZE)
		a = KCOPYD_SECTOR_SIZE;
	if (off % a == 0)
		return 0;
	errmsg("%s: %s %llu is not a multiple of %u bytes (the %s)", d->path, opt,
	       (unsigned long long)off, a,
	       d->kind == DEV_BLOCK ? "device's logical block size" : "sector size");
	return -1;
}

/* ---- creating, opening, undoing -------------------------------------- */

static int prepare_one(struct device *d)
{
	if (d->kind == DEV_NEW) {
		d->fd = open(d->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (d->fd < 0) {
			errmsg("%s: cannot create: %s", d->path, strerror(errno));
			return -1;
		}
		d->created = true;
	}
	if (d->kind == DEV_BLOCK || d->need <= d->size)
		return 0;
	if (ftruncate(d->fd, (off_t)d->need)) {
		errmsg("%s: cannot extend to %llu bytes: %s", d->path,
		       (unsigned long long)d->need, strerror(errno));
		return -1;
	}
	d->extended = d->kind == DEV_FILE;
	return 0;
}

/* Create new files and extend short ones, all or none. */
int device_prepare(struct device *dests, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (prepare_one(&dests[i])) {
			device_undo(dests, n);
			return -1;
		}
	}
	return 0;
}

/* Put back what device_prepare() did: nothing was written yet. */
void device_undo(struct device *dests, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct device *d = &dests[i];

		if (d->created)
			unlink(d->path);
		else if (d->extended && ftruncate(d->fd, (off_t)d->size))
			errmsg("%s: could not shrink back to %llu bytes: %s", d->path,
			       (unsigned long long)d->size, strerror(errno));
		d->created = d->extended = false;
	}
}

int device_open_lib(struct device *d, int acc, const struct options *o)
{
	unsigned int flags = 0;
	int ret;

	if (o->direct)
		flags |= KCOPYD_BDEV_DIRECT;
	else if (o->buffered)
		flags |= KCOPYD_BDEV_BUFFERED;
	ret = kcopyd_bdev_open_ex(d->path, acc, flags, &d->bd);
	if (ret == -EINVAL && o->direct)
		errmsg("%s: does not support O_DIRECT (--direct); try without it", d->path);
	else if (ret)
		errmsg("%s: cannot open: %s", d->path, strerror(-ret));
	return ret ? -1 : 0;
}

void device_close(struct device *d)
{
	kcopyd_bdev_close(d->bd);
	d->bd = NULL;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	free(d->canon);
	d->canon = NULL;
}

/* Keep a device's first failure; a later report of the same kind at a
 * lower offset (jobs finish out of order) replaces it. */
void device_fail(struct device *d, const char *what, int errnum, uint64_t off)
{
	if (d->failed && !(strcmp(d->what, what) == 0 && off < d->err_off))
		return;
	d->failed = true;
	d->what = what;
	d->err = errnum;
	d->err_off = off;
}
