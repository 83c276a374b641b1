/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Set-up: find out what every path is, refuse what must not be written,
 * and only then create or extend destination files.
 *
 * Two paths are the same device when their bytes live in the same place,
 * as the kernel says for what was opened (never the names in sysfs): the
 * same inode of a file (through any symlink, hard link, bind mount or
 * /proc/self/fd name), the same block device (under any node), a partition
 * of it (its bytes are a range of the disk), a loop device over a file or
 * a device (LOOP_GET_STATUS64: its bytes are a range of that, from its
 * offset, up to its size limit, followed down through stacked loops), a
 * file through overlayfs (any file under any of its layer directories:
 * roots, met by the directories the other side's files lie in), and a
 * file inside a file
 * system (somewhere on the device the file system lives on: the one of its
 * device number, or for a number of no device, as btrfs gives, its mount's
 * source and the btrfs's member devices).  Each device
 * carries such identities, each with where the device starts inside it and
 * how much of it the device spans; only overlapping ranges meet.
 *
 * Destinations are also checked for what would fail only at the first
 * write (a read-only block device, the file size limit), for storage a
 * mounted or held device lies on (a loop device over it that is held), and
 * against the command's own standard output and error.  Files are locked
 * for the whole run: exclusive to write, shared to read (flock).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/statfs.h>
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
	d->end_now = NOT_SET;
}

const char *device_kind_name(const struct device *d)
{
	return d->kind == DEV_BLOCK ? "block device" : "regular file";
}

/* ---- identity -------------------------------------------------------- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Add an identity, or find the same one already there (merged: the
 * layers of an overlay, the partitions of one disk under a btrfs, reach
 * one file system or disk many times); its index, or -1 when id[] is full (then not all of where d lies
 * is known: ids_full, which checks refuse). */
static int add_id(struct device *d, dev_t dev, ino_t ino, uint64_t start, uint64_t len,
		  bool anywhere)
{
	for (int i = 0; i < MAX_IDS; i++) {
		struct identity *x = &d->id[i];

		if (x->valid && x->dev == dev && x->ino == ino && x->start == start &&
		    x->len == len && x->anywhere == anywhere && i > 0)
			return i;
		if (!x->valid) {
			*x = (struct identity){ .dev = dev, .ino = ino, .start = start, .len = len,
						.valid = true, .anywhere = anywhere };
			return i;
		}
	}
	d->ids_full = true;     /* not all of where it lies is known: checks refuse it */
	return -1;
}

/* Where d lies could not be followed: a system call failed with err
 * (0: no error to name). */
static void not_known(struct device *d, int err)
{
	d->ids_full = true;
	if (!d->ids_err)
		d->ids_err = err;
}

/* An overlay layer of d's, path, cannot be opened (err): when no name
 * reaches it here (another mount namespace's path), it is noted for a
 * warning; a failure of another kind leaves d not known. */
static void layer_unseen(struct device *d, const char *path, int err)
{
	if (err != ENOENT && err != ENOTDIR && err != EACCES && err != EPERM && err != ELOOP) {
		not_known(d, err == EMFILE || err == ENFILE || err == ENOMEM ? err : 0);
		return;
	}
	if (!d->unseen[0])
		snprintf(d->unseen, sizeof(d->unseen), "%s", path);
}

/* A directory of d's, in roots or anc (*vp, *n of them, room for *cap):
 * past max of them, ids_full. */
static void add_dir(struct device *d, struct dir_ref **vp, unsigned int *n, unsigned int *cap,
		    unsigned int max, dev_t dev, ino_t ino, dev_t tag_dev, ino_t tag_ino, bool lower)
{
	struct dir_ref *v = *vp;

	for (unsigned int i = 0; i < *n; i++)
		if (v[i].dev == dev && v[i].ino == ino && v[i].tag_dev == tag_dev &&
		    v[i].tag_ino == tag_ino) {
			v[i].lower = v[i].lower && lower;
			return;
		}
	if (*n == max) {
		d->ids_full = true;
		return;
	}
	if (*n == *cap) {
		unsigned int c = *cap ? 2 * *cap : 16;

		if (!(v = realloc(v, c * sizeof(*v)))) {
			not_known(d, ENOMEM);
			return;
		}
		*vp = v;
		*cap = c;
	}
	v[(*n)++] = (struct dir_ref){ dev, ino, tag_dev, tag_ino, lower };
}

#define ADD_ANC(d, ...) add_dir(d, &(d)->anc, &(d)->nanc, &(d)->anc_cap, MAX_ANC, __VA_ARGS__)
#define ADD_ROOT(d, ...) \
	add_dir(d, &(d)->roots, &(d)->nroots, &(d)->roots_cap, MAX_ROOTS, __VA_ARGS__)

/* Free the directories of d's identity (none after). */
static void free_dirs(struct device *d)
{
	free(d->roots);
	free(d->anc);
	d->roots = d->anc = NULL;
	d->nroots = d->roots_cap = d->nanc = d->anc_cap = 0;
}

/* The mount ID of descriptor fd. */
static bool mount_id(int fd, unsigned long long *id)
{
#ifdef STATX_MNT_ID
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) == 0 &&
	    (sx.stx_mask & STATX_MNT_ID)) {
		*id = sx.stx_mnt_id;
		return true;
	}
#else
	(void)fd;
	(void)id;
#endif
	return false;
}

/* strerror(errnum), and for too many open files the limit met. */
const char *err_text(int errnum)
{
	static char buf[160];
	struct rlimit rl;

	if (errnum == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		snprintf(buf, sizeof(buf), "%s (the limit of open files, ulimit -n, is %llu)",
			 strerror(errnum), (unsigned long long)rl.rlim_cur);
		return buf;
	}
	return strerror(errnum);
}

/* Field n (0-based, split at spaces) of a mountinfo line, in place: its
 * text up to the next space is cut there.  NULL if the line is shorter. */
static char *mi_field(char *line, int n)
{
	char *s = line;

	for (int i = 0; i < n && s; i++)
		if ((s = strchr(s, ' ')))
			s++;
	if (!s)
		return NULL;
	s[strcspn(s, " \n")] = 0;
	return s;
}

/* Is the mount that directory fd is the root of a bind mount of a
 * directory inside its file system (its root in mountinfo not "/"), so
 * that what lies above it there is not what ".." gives?  Unknown: yes. */
static bool partial_mount(int fd)
{
	unsigned long long want, id;
	bool partial = true;
	char *line = NULL;
	size_t cap = 0;
	FILE *mi;

	if (!mount_id(fd, &want) || !(mi = fopen("/proc/self/mountinfo", "re")))
		return true;
	while (getline(&line, &cap, mi) > 0) {
		char *root;

		if (sscanf(line, "%llu", &id) != 1 || id != want)
			continue;
		root = mi_field(line, 3);
		partial = !root || strcmp(root, "/") != 0;
		break;
	}
	free(line);
	fclose(mi);
	return partial;
}

/* Paths nested deeper than this are not walked up: kcopyd refuses them. */
#define MAX_WALK 4096

/* The directories that directory fd lies in, itself and up to the root
 * (by "..", not by name), into d->anc[] with tag.  Where ".." leaves a
 * mount that shows only a directory inside its file system (a bind mount,
 * a btrfs subvolume's), the directories above it there are unknown: any
 * of that device's (ino 0). */
static void dir_ancestors(struct device *d, int fd, dev_t tag_dev, ino_t tag_ino)
{
	int cur = openat(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (cur < 0)
		not_known(d, errno);
	for (int i = 0; cur >= 0; i++) {
		unsigned long long m1, m2;
		struct stat st, pst;
		int parent = -1;

		if (i == MAX_WALK || fstat(cur, &st) ||
		    (parent = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    fstat(parent, &pst)) {
			not_known(d, i == MAX_WALK ? 0 : errno);
			if (parent >= 0)
				close(parent);
			break;
		}
		ADD_ANC(d, st.st_dev, st.st_ino, tag_dev, tag_ino, false);
		if (pst.st_dev == st.st_dev && pst.st_ino == st.st_ino) {
			close(parent);
			break;
		}
		if ((!mount_id(cur, &m1) || !mount_id(parent, &m2) || m1 != m2) && partial_mount(cur))
			ADD_ANC(d, st.st_dev, 0, tag_dev, tag_ino, false);
		close(cur);
		cur = parent;
	}
	if (cur >= 0)
		close(cur);
}

/* The directories that the file of descriptor fd lies in (dir_ancestors
 * of a directory): found by the name the kernel gives fd, which fstatat
 * must prove holds it.  A file of more than one name, or of a name not
 * proved, lies in any directory of its device. */
static void file_ancestors(struct device *d, int fd)
{
	char self[64], *path = malloc(PATH_MAX + 1), *slash;
	struct stat st, in;
	ssize_t n;
	int dfd;

	if (!path || fstat(fd, &st)) {
		not_known(d, errno);
		free(path);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		dir_ancestors(d, fd, 0, 0);
		free(path);
		return;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	n = readlink(self, path, PATH_MAX);
	if (n > 0)
		path[n] = 0;
	if (st.st_nlink == 0) {
		free(path);             /* no name reaches it: in no directory */
		return;
	}
	if (n <= 0 || n >= PATH_MAX || path[0] != '/' || st.st_nlink > 1 ||
	    !(slash = strrchr(path, '/'))) {
		ADD_ANC(d, st.st_dev, 0, 0, 0, false);
		free(path);
		return;
	}
	*slash = 0;
	dfd = open(path[0] ? path : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && fstatat(dfd, slash + 1, &in, AT_SYMLINK_NOFOLLOW) == 0 &&
	    in.st_dev == st.st_dev && in.st_ino == st.st_ino)
		dir_ancestors(d, dfd, 0, 0);
	else
		ADD_ANC(d, st.st_dev, 0, 0, 0, false);
	if (dfd >= 0)
		close(dfd);
	free(path);
}

/* The sysfs directory of block device number dev (out: PATH_MAX bytes).
 * Its link in /sys/dev/block leads into /sys/devices, whose directories
 * are no links: read once, not a readlink(2) a component as realpath(3)
 * does (the set-up asks this of a device many times). */
static bool sysfs_dir(dev_t dev, char *out)
{
	char link[64], to[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	n = readlink(link, to, sizeof(to) - 1);
	if (n > 6 && n < PATH_MAX - 8 && !strncmp(to, "../../devices/", 14)) {
		to[n] = 0;
		if (!strstr(to + 5, "/../") && !strstr(to + 5, "/./")) {
			snprintf(out, PATH_MAX, "/sys/%s", to + 6);
			return true;
		}
	}
	return realpath(link, out) != NULL;
}

static int open_node(const char *path, dev_t dev)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISBLK(st.st_mode) || st.st_rdev != dev) {
		close(fd);
		return -1;
	}
	return fd;
}

/* What the last scans of /dev found (a device with neither of the usual
 * names, as a VM's root disk may be): its node's name there, or "" for
 * none.  The set-up asks of one device many times; a name is proved again
 * by open_node each time it is used. */
static struct devnum_seen {
	dev_t dev;
	char name[64];
	bool valid;
} devnum_seen[8];
static unsigned int devnum_next;

/* Open block device number dev for reading (to ask it LOOP_GET_STATUS64),
 * through any node that fstat proves to be it: a name only finds it. */
static int open_devnum(dev_t dev)
{
	char p[PATH_MAX], sys[PATH_MAX];
	struct devnum_seen *seen = NULL;
	struct dirent *e;
	DIR *dir;
	int fd;

	snprintf(p, sizeof(p), "/dev/block/%u:%u", major(dev), minor(dev));
	if ((fd = open_node(p, dev)) >= 0)
		return fd;
	if (sysfs_dir(dev, sys)) {
		snprintf(p, sizeof(p), "/dev/%s", basename(sys));
		if ((fd = open_node(p, dev)) >= 0)
			return fd;
	}
	for (unsigned int i = 0; i < sizeof(devnum_seen) / sizeof(devnum_seen[0]); i++)
		if (devnum_seen[i].valid && devnum_seen[i].dev == dev)
			seen = &devnum_seen[i];
	if (seen && !seen->name[0])
		return -1;
	if (seen) {
		snprintf(p, sizeof(p), "/dev/%s", seen->name);
		if ((fd = open_node(p, dev)) >= 0)
			return fd;
	}
	dir = opendir("/dev");
	if (!dir)
		return -1;
	while ((e = readdir(dir))) {
		struct stat st;

		if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISBLK(st.st_mode) ||
		    st.st_rdev != dev)
			continue;
		snprintf(p, sizeof(p), "/dev/%s", e->d_name);
		if ((fd = open_node(p, dev)) >= 0)
			break;
	}
	closedir(dir);
	if (!seen) {
		seen = &devnum_seen[devnum_next++ % (sizeof(devnum_seen) / sizeof(devnum_seen[0]))];
		seen->dev = dev;
		seen->valid = true;
	}
	/* (A name too long to keep is found by the next scan.) */
	seen->name[0] = 0;
	if (fd >= 0 && strlen(p + 5) < sizeof(seen->name))
		snprintf(seen->name, sizeof(seen->name), "%s", p + 5);
	else if (fd >= 0)
		seen->valid = false;
	return fd;
}

static int blockdev_chain(struct device *d, dev_t dev, uint64_t start, uint64_t len,
			  bool anywhere, int fd, int depth);
static void overlay_identity(struct device *d, int fd, const struct stat *st, uint64_t start,
			     uint64_t len, bool anywhere, int depth);
static void fs_chain(struct device *d, dev_t dev, int fd, int depth);
static int file_chain(struct device *d, dev_t dev, ino_t ino, uint64_t start, uint64_t len,
		      bool anywhere, int fd, int depth, bool walk);

/* The size of block device number dev, as sysfs says; false when sysfs
 * does not know the device. */
static bool blockdev_size(dev_t dev, uint64_t *size)
{
	char sys[PATH_MAX];

	if (!sysfs_dir(dev, sys))
		return false;
	*size = sysfs_u64(sys, "size") * KCOPYD_SECTOR_SIZE;
	return true;
}

/* mountinfo's octal escapes (\040 for a space...), in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o = *s;
		}
	}
	*o = 0;
}

#define MAX_FS_DEVS 16

/* The other member devices of the btrfs that has block device src among
 * its devices (/sys/fs/btrfs/FSID/devices/NAME, whose dev file is the
 * device's number), added to out[1...] (out[0] is src); the new count.
 * *more: there were more than max. */
static unsigned int btrfs_members(dev_t src, dev_t *out, unsigned int max, bool *more)
{
	char p[sizeof("/sys/fs/btrfs//devices/") + 2 * NAME_MAX], devno[32];
	struct dirent *f, *e;
	DIR *top = opendir("/sys/fs/btrfs"), *devs;
	unsigned int n = 1;
	bool found = false, over = false;

	if (!top)
		return 1;
	while (!found && (f = readdir(top))) {
		if (f->d_name[0] == '.' ||
		    snprintf(p, sizeof(p), "/sys/fs/btrfs/%s/devices", f->d_name) >= (int)sizeof(p) ||
		    !(devs = opendir(p)))
			continue;
		n = 1;
		over = false;           /* of this btrfs only */
		while ((e = readdir(devs))) {
			unsigned int maj, min;

			if (e->d_name[0] == '.' ||
			    snprintf(p, sizeof(p), "/sys/fs/btrfs/%s/devices/%s", f->d_name,
				     e->d_name) >= (int)sizeof(p) ||
			    read_sysfs(p, "dev", devno, sizeof(devno)) ||
			    sscanf(devno, "%u:%u", &maj, &min) != 2)
				continue;
			if (makedev(maj, min) == src)
				found = true;
			else if (n < max)
				out[n++] = makedev(maj, min);
			else
				over = true;
		}
		closedir(devs);
	}
	closedir(top);
	if (found && over)
		*more = true;
	return found ? n : 1;
}

/* The devices of the btrfs that descriptor fd is on, asked of the file
 * system itself (BTRFS_IOC_FS_INFO: its fsid, then its devices in
 * /sys/fs/btrfs/FSID/devices): no name of a mount or a device node is read,
 * so it holds for a device node since removed and for a mount of another
 * namespace.  How many into out (*more: there were more), or 0. */
static unsigned int btrfs_by_fd(int fd, dev_t *out, unsigned int max, bool *more)
{
	struct btrfs_ioctl_fs_info_args fi;
	char p[sizeof("/sys/fs/btrfs//devices/") + 40 + NAME_MAX], devno[32];
	const unsigned char *u = fi.fsid;
	unsigned int n = 0;
	struct statfs sf;
	struct dirent *e;
	DIR *devs;
	int rfd, r;

	if (fd < 0 || fstatfs(fd, &sf) || sf.f_type != BTRFS_SUPER_MAGIC)
		return 0;
	/* An O_PATH descriptor takes no ioctl: the same file, opened to read. */
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	rfd = open(p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (rfd < 0)
		return 0;
	memset(&fi, 0, sizeof(fi));
	r = ioctl(rfd, BTRFS_IOC_FS_INFO, &fi);
	close(rfd);
	if (r)
		return 0;
	snprintf(p, sizeof(p), "/sys/fs/btrfs/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x/devices", u[0], u[1], u[2], u[3], u[4], u[5], u[6],
		 u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	if (!(devs = opendir(p)))
		return 0;
	while ((e = readdir(devs))) {
		char dp[sizeof(p) + NAME_MAX + 2];
		unsigned int maj, min;

		if (e->d_name[0] == '.' ||
		    snprintf(dp, sizeof(dp), "%s/%s", p, e->d_name) >= (int)sizeof(dp) ||
		    read_sysfs(dp, "dev", devno, sizeof(devno)) ||
		    sscanf(devno, "%u:%u", &maj, &min) != 2)
			continue;
		if (n < max)
			out[n++] = makedev(maj, min);
		else
			*more = true;
	}
	closedir(devs);
	return n;
}

/* A mount's line of /proc/self/mountinfo, split: its file system type, its
 * source (unescaped) and its super options; line NULL: no such mount. */
struct mount_info {
	char *line, *type, *source, *opts;
};

/* The line of /proc/self/mountinfo of the mount that fd (a descriptor on
 * that file system, or -1) is on, as statx says, else the first of device
 * number dev: malloc'd, or NULL. */
static char *mount_line(dev_t dev, int fd)
{
	unsigned long long mnt_id = 0, id;
	bool by_id = false;
	char *line = NULL;
	size_t cap = 0;
	FILE *mi;
#ifdef STATX_MNT_ID
	struct statx sx;

	if (fd >= 0 && statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) == 0 &&
	    (sx.stx_mask & STATX_MNT_ID) && makedev(sx.stx_dev_major, sx.stx_dev_minor) == dev) {
		mnt_id = sx.stx_mnt_id;
		by_id = true;
	}
#endif
	if (!(mi = fopen("/proc/self/mountinfo", "re")))
		return NULL;
	while (getline(&line, &cap, mi) > 0) {
		unsigned int maj, min;

		if (sscanf(line, "%llu %*u %u:%u", &id, &maj, &min) == 3 &&
		    (by_id ? id == mnt_id : makedev(maj, min) == dev)) {
			fclose(mi);
			return line;
		}
	}
	free(line);
	fclose(mi);
	return NULL;
}

/* That mount's line, split into m (free(m->line) when done). */
static void mount_read(dev_t dev, int fd, struct mount_info *m)
{
	char *p;

	m->type = m->source = m->opts = NULL;
	if (!(m->line = mount_line(dev, fd)) || !(p = strstr(m->line, " - ")) ||
	    !(m->source = strchr(m->type = p + 3, ' ')))
		return;
	*m->source++ = 0;
	if ((m->opts = strchr(m->source, ' '))) {
		*m->opts++ = 0;
		m->opts[strcspn(m->opts, " \n")] = 0;
	}
	m->source[strcspn(m->source, " \n")] = 0;
	unescape(m->source);
}

/* The block devices a btrfs lives on (it gives its files a device number
 * of major 0, one of each subvolume): the source of its mount in
 * /proc/self/mountinfo, when that is a block device (as stat says: the
 * text only names it; btrfs opened that device to mount it), and every
 * device of the file system that has that one among its devices (sysfs).
 * Other file systems of major 0 (tmpfs, overlayfs, FUSE, NFS) live on no
 * block device, whatever their mount's source says.  Asked first of the
 * file system through fd (btrfs_by_fd), when there is one.  The mount is
 * the one that fd, a descriptor on that file system (or -1), is on, as
 * statx says; else the mount of number dev: m.  Into out (up to max); how many; *more:
 * there were more; *unknown: with no descriptor, no mount has number dev
 * (a btrfs subvolume's, not mounted on its own): where it lives is not
 * known. */
static unsigned int fs_devices(int fd, const struct mount_info *m, dev_t *out, unsigned int max,
			       bool *more, bool *unknown)
{
	unsigned int n = btrfs_by_fd(fd, out, max, more);
	struct stat st;

	if (n)
		return n;
	out[0] = 0;
	/* No descriptor to ask, and no mount of that number (a btrfs
	 * subvolume has a number of its own, and is not mounted on its own):
	 * where it lives is not known. */
	if (!m->line && fd < 0)
		*unknown = true;
	if (m->source && !strcmp(m->type, "btrfs") && m->source[0] == '/' &&
	    stat(m->source, &st) == 0 && S_ISBLK(st.st_mode))
		out[0] = st.st_rdev;
	if (!out[0])
		return 0;
	return btrfs_members(out[0], out, max, more);
}

/* The ext2/3/4 superblock's external journal device (s_journal_dev, with
 * no journal inode), read from the file system's own block device: the
 * journal is written with the file system, and is its storage too.  0: none. */
static dev_t ext4_journal_dev(dev_t dev)
{
	unsigned char sb[1024];
	int fd = open_devnum(dev);
	bool ok;
	uint32_t inum, jdev;

	if (fd < 0)
		return 0;
	ok = pread(fd, sb, sizeof(sb), 1024) == (ssize_t)sizeof(sb);
	close(fd);
	if (!ok || sb[0x38] != 0x53 || sb[0x39] != 0xef)
		return 0;
	inum = (uint32_t)sb[0xe0] | (uint32_t)sb[0xe1] << 8 | (uint32_t)sb[0xe2] << 16 |
	       (uint32_t)sb[0xe3] << 24;
	jdev = (uint32_t)sb[0xe4] | (uint32_t)sb[0xe5] << 8 | (uint32_t)sb[0xe6] << 16 |
	       (uint32_t)sb[0xe7] << 24;
	if (inum || !jdev)
		return 0;
	/* The kernel's new_encode_dev: minor's low byte, major, minor's rest. */
	return makedev((jdev & 0xfff00) >> 8, (jdev & 0xff) | ((jdev >> 12) & 0xfff00));
}

/* Storage a file system lives on besides its own device number: the file
 * a file-backed mount reads (erofs from an image file, no loop device), the
 * external log and realtime devices of XFS (logdev=, rtdev=), a journal
 * given by path (journal_path=), an ext4 external journal.  Each followed
 * down as the file system's own. */
static void fs_extra(struct device *d, dev_t dev, const struct mount_info *m, int depth)
{
	static const char *const keys[] = { "logdev=", "rtdev=", "journal_path=" };
	char *o, *save;
	struct stat st;
	dev_t j;

	if (!m->source)
		return;
	if (major(dev) == 0 && m->source[0] == '/' && stat(m->source, &st) == 0 &&
	    S_ISREG(st.st_mode))
		file_chain(d, st.st_dev, st.st_ino, 0, UINT64_MAX, true, -1, depth + 1, false);
	if (major(dev) != 0 && !strncmp(m->type, "ext", 3) && (j = ext4_journal_dev(dev)))
		fs_chain(d, j, -1, depth + 1);
	for (o = m->opts ? strtok_r(m->opts, ",", &save) : NULL; o; o = strtok_r(NULL, ",", &save))
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			if (strncmp(o, keys[k], strlen(keys[k])))
				continue;
			o += strlen(keys[k]);
			unescape(o);
			if (stat(o, &st) == 0 && S_ISBLK(st.st_mode))
				fs_chain(d, st.st_rdev, -1, depth + 1);
			else if (stat(o, &st) == 0 && S_ISREG(st.st_mode))
				file_chain(d, st.st_dev, st.st_ino, 0, UINT64_MAX, true, -1, depth + 1,
					   false);
			break;
		}
}

/* A file system's bytes lie somewhere on the block device of its number,
 * or (major 0) on those fs_devices() finds, each followed down; and on
 * what fs_extra() finds. */
static void fs_chain(struct device *d, dev_t dev, int fd, int depth)
{
	dev_t devs[MAX_FS_DEVS];
	bool more = false, unknown = false;
	struct mount_info m;
	unsigned int n = 1;
	uint64_t size;

	if (depth >= 6) {
		d->ids_full = true;     /* stacked deeper than we follow */
		return;
	}
	mount_read(dev, fd, &m);
	if (major(dev) != 0)
		devs[0] = dev;
	else
		n = fs_devices(fd, &m, devs, MAX_FS_DEVS, &more, &unknown);
	if (more || unknown)
		d->ids_full = true;
	for (unsigned int i = 0; i < n; i++)
		if (blockdev_size(devs[i], &size))
			blockdev_chain(d, devs[i], 0, size, true, -1, depth + 1);
	fs_extra(d, dev, &m, depth);
	free(m.line);
}

/* A file's bytes are its inode's; they also lie somewhere on the block
 * devices its file system lives on (none for tmpfs...).  fd: a descriptor
 * of the file, or -1. */
static int file_chain(struct device *d, dev_t dev, ino_t ino, uint64_t start, uint64_t len,
		      bool anywhere, int fd, int depth, bool walk)
{
	int k = add_id(d, dev, ino, start, len, anywhere);

	if (fd >= 0 && !anywhere && walk)
		file_ancestors(d, fd);
	fs_chain(d, dev, fd, depth);
	return k;
}

/* Open the file under loop device loop that LOOP_GET_STATUS64 says is
 * (dev, ino) (li: what it said, or NULL to ask it): a name only finds it
 * (the backing_file text in sysfs, which may hold any byte but the
 * kernel's final newline; the name the loop device was set up with), fstat
 * proves it.  flags: O_RDONLY to lock it, O_PATH to learn where it is. */
static int open_backing(dev_t loop, const struct loop_info64 *li, dev_t dev, ino_t ino,
			int flags)
{
	struct {
		char sys[PATH_MAX + 16], name[PATH_MAX + 2], lo_name[LO_NAME_SIZE];
		struct loop_info64 li;
	} *b = calloc(1, sizeof(*b));   /* not on the stack: blockdev_chain recurses */
	const char *names[2] = { NULL, NULL };
	int fd = -1, lfd;

	if (!b)
		return -1;
	if (sysfs_dir(loop, b->sys)) {
		size_t n;
		FILE *f;

		strcat(b->sys, "/loop/backing_file");
		if ((f = fopen(b->sys, "re"))) {
			n = fread(b->name, 1, sizeof(b->name) - 1, f);
			fclose(f);
			if (n > 0 && b->name[n - 1] == '\n')
				n--;
			b->name[n] = 0;
			names[0] = b->name;
		}
	}
	if (!li && (lfd = open_devnum(loop)) >= 0) {
		if (ioctl(lfd, LOOP_GET_STATUS64, &b->li) == 0)
			li = &b->li;
		close(lfd);
	}
	if (li) {
		memcpy(b->lo_name, li->lo_file_name, LO_NAME_SIZE - 1);
		names[1] = b->lo_name;
	}
	for (int i = 0; i < 2 && fd < 0; i++) {
		struct stat st;

		if (!names[i] || names[i][0] != '/')
			continue;
		fd = open(names[i], flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_dev != dev ||
				st.st_ino != ino)) {
			close(fd);
			fd = -1;
		}
	}
	free(b);
	return fd;
}

/* A block device's bytes: itself; a partition's are its disk's from the
 * partition's start on; a loop device's are its backing file's (or
 * device's, followed down) from the loop offset on, as LOOP_GET_STATUS64
 * says: device and inode numbers, not the path text in sysfs. */
static int blockdev_chain(struct device *d, dev_t dev, uint64_t start, uint64_t len,
			  bool anywhere, int fd, int depth)
{
	char sys[PATH_MAX], parent[PATH_MAX], devno[32];
	struct loop_info64 li = { 0 };   /* valgrind does not know this ioctl */
	unsigned int maj, min;
	int own = -1, self = add_id(d, dev, 0, start, len, anywhere);

	if (depth >= 6)
		d->ids_full = true;
	if (depth >= 6 || !sysfs_dir(dev, sys))
		return self;
	if (read_sysfs(sys, "partition", devno, sizeof(devno)) == 0) {
		uint64_t pstart = sysfs_u64(sys, "start") * KCOPYD_SECTOR_SIZE;

		snprintf(parent, sizeof(parent), "%s", sys);
		if (read_sysfs(dirname(parent), "dev", devno, sizeof(devno)) == 0 &&
		    sscanf(devno, "%u:%u", &maj, &min) == 2)
			blockdev_chain(d, makedev(maj, min), add_sat(pstart, start), len, anywhere,
				       -1, depth + 1);
		return self;
	}
	if (strncmp(basename(sys), "loop", 4) != 0)
		return self;
	if (fd < 0)
		fd = own = open_devnum(dev);
	if (fd >= 0 && ioctl(fd, LOOP_GET_STATUS64, &li) == 0) {
		uint64_t at = add_sat(li.lo_offset, start);

		if (li.lo_rdevice) {
			int k = blockdev_chain(d, loop_info_dev(li.lo_rdevice), at, len, anywhere, -1,
					       depth + 1);

			if (k >= 0)
				d->id[k].backing = true;
		} else {
			dev_t fdev = loop_info_dev(li.lo_device);
			struct statfs sfs;
			struct stat fst;
			int k, ffd;

			/* The file itself: the directories it lies in (an
			 * overlay's layer may hold it), and for a file system of
			 * no device number (btrfs, overlayfs...) the mount it is
			 * on, an overlay's layer file that holds its bytes. */
			ffd = open_backing(dev, &li, fdev, (ino_t)li.lo_inode, O_PATH);
			k = file_chain(d, fdev, (ino_t)li.lo_inode, at, len, anywhere, ffd, depth + 1,
				       true);
			if (k >= 0 && !d->id[k].loop)
				d->id[k].loop = dev;
			if (ffd >= 0 && fstat(ffd, &fst) == 0)
				overlay_identity(d, ffd, &fst, at, len, anywhere, depth + 1);
			if (ffd >= 0 && fstatfs(ffd, &sfs) == 0 &&
			    (sfs.f_type == FUSE_SUPER_MAGIC || sfs.f_type == V9FS_MAGIC))
				d->loop_userfs = true;
			if (ffd >= 0)
				close(ffd);
		}
	}
	if (own >= 0)
		close(own);
	return self;
}

/* ---- overlayfs ------------------------------------------------------- */

/* The layer directories of an overlay mount, as its options name them. */
enum ovl_kind { OVL_UPPER, OVL_WORK, OVL_LOWER };
struct ovl_layers {
	struct ovl_layer {
		char *path;
		enum ovl_kind kind;
	} *v;
	unsigned int n, cap;
	bool bad;                    /* out of memory: not all of them are known */
};

static void ovl_add(struct ovl_layers *l, const char *s, size_t n, enum ovl_kind kind)
{
	char *p;

	if (!n)
		return;
	if (l->n == l->cap) {
		unsigned int cap = l->cap ? 2 * l->cap : 16;
		struct ovl_layer *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->bad = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	if (!(p = strndup(s, n))) {
		l->bad = true;
		return;
	}
	l->v[l->n++] = (struct ovl_layer){ p, kind };
}

static void ovl_free(struct ovl_layers *l)
{
	for (unsigned int i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The layers of an overlay mount's super options (as mountinfo gives
 * them: every ',', '=', space and backslash of a value is an octal escape,
 * \054...).  The options are split at the raw ',' first, then each value's
 * octal escapes are undone.  Values of the legacy "lowerdir=" (a list at
 * ':', "::" before data-only layers) are what the mount(2) options said:
 * "\," "\:" "\\" are escapes there; so are those of "upperdir=" and
 * "workdir=" given to mount(2), but not when given to fsconfig, which the
 * text cannot tell apart: both readings are taken.  "lowerdir+=" and
 * "datadir+=" values are raw paths (a backslash is one). */
static void ovl_parse(const char *opts, struct ovl_layers *l)
{
	const char *s = opts;

	memset(l, 0, sizeof(*l));
	while (*s) {
		size_t n = strcspn(s, ",");
		char *item = strndup(s, n), *val, *o;

		s += n;
		if (*s == ',')
			s++;
		if (!item) {
			l->bad = true;
			break;
		}
		if (!(val = strchr(item, '='))) {
			free(item);
			continue;
		}
		*val++ = 0;
		unescape(val);
		if (!strcmp(item, "lowerdir")) {
			char *start = o = val;

			for (const char *c = val;; c++) {
				if (*c == '\\' && c[1]) {
					*o++ = *++c;
				} else if (*c == ':' || !*c) {
					ovl_add(l, start, (size_t)(o - start), OVL_LOWER);
					if (!*c)
						break;
					start = o;
				} else {
					*o++ = *c;
				}
			}
		} else if (!strcmp(item, "lowerdir+") || !strcmp(item, "datadir+")) {
			ovl_add(l, val, strlen(val), OVL_LOWER);
		} else if (!strcmp(item, "upperdir") || !strcmp(item, "workdir")) {
			enum ovl_kind kind = item[0] == 'u' ? OVL_UPPER : OVL_WORK;
			size_t len = strlen(val);

			ovl_add(l, val, len, kind);
			o = val;
			for (const char *c = val; *c; c++)
				*o++ = *c == '\\' && c[1] ? *++c : *c;
			if ((size_t)(o - val) != len)
				ovl_add(l, val, (size_t)(o - val), kind);
		}
		free(item);
	}
}

/* A layer mountinfo names by a relative path (mount -o lowerdir=lower, as
 * given) is relative to where the mounter was, which nobody records.  Any
 * directory that path names from a directory above the overlay's file
 * (path, as the kernel names it) may be it: each is taken as a layer too
 * (a layer too many only refuses more); none found, it stays unseen. */
static void ovl_relative(struct ovl_layers *l, const char *path)
{
	unsigned int n = l->n;

	for (unsigned int i = 0; i < n && !l->bad; i++) {
		char dir[PATH_MAX], cand[PATH_MAX * 2];
		char *slash;
		struct stat st;

		if (l->v[i].path[0] == '/' || snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
			continue;
		char *rel = l->v[i].path;
		bool found = false;

		while ((slash = strrchr(dir, '/'))) {
			*slash = 0;
			snprintf(cand, sizeof(cand), "%s/%s", dir, rel);
			if (stat(cand, &st) || !S_ISDIR(st.st_mode))
				continue;
			if (!found) {
				/* The first in place of the relative name. */
				char *c = strdup(cand);

				if (!c) {
					l->bad = true;
					break;
				}
				l->v[i].path = c;
				found = true;
			} else {
				ovl_add(l, cand, strlen(cand), l->v[i].kind);
			}
		}
		if (found)
			free(rel);
	}
}

/* The overlayfs mount that descriptor fd (of device dev) is on: by the
 * mount ID statx gives fd (an overlay whose layers lie on different file
 * systems gives its files the device number of their layer, not its own),
 * else by dev, the deepest one path (as the kernel names fd) is under.
 * Path relative to the overlay's root in rel (NULL: not asked), its super
 * options (malloc'ed, whole however long the line) in *opts. */
static bool overlay_mount(int fd, dev_t dev, const char *path, char *rel, size_t rsize,
			  char **opts)
{
	size_t best = 0, cap = 0;
	unsigned long long mnt_id = 0;
	bool by_id = fd >= 0 && mount_id(fd, &mnt_id), ok = true;
	char *line = NULL;
	FILE *mi;

	*opts = NULL;
	mi = fopen("/proc/self/mountinfo", "re");
	if (!mi)
		return false;
	while (getline(&line, &cap, mi) > 0) {
		char *root, *mnt, *sep, *o, *type;
		unsigned long long id;
		unsigned int maj, min;
		size_t len;

		if (sscanf(line, "%llu %*u %u:%u", &id, &maj, &min) != 3 ||
		    (by_id ? id != mnt_id : makedev(maj, min) != dev) ||
		    !(sep = strstr(line, " - ")))
			continue;
		*sep = 0;
		type = sep + 3;
		o = strchr(type, ' ');
		if (!o || (size_t)(o - type) != 7 || strncmp(type, "overlay", 7) ||
		    !(o = strchr(o + 1, ' ')))
			continue;
		o++;
		o[strcspn(o, "\n")] = 0;
		root = mi_field(line, 3);
		mnt = root ? mi_field(root + strlen(root) + 1, 0) : NULL;
		if (!mnt)
			continue;
		unescape(root);
		unescape(mnt);
		len = strcmp(mnt, "/") ? strlen(mnt) : 0;
		if (strncmp(path, mnt, len) || (path[len] != '/' && path[len]) || len < best)
			continue;
		best = len;
		free(*opts);
		*opts = strdup(o);
		ok = *opts && (!rel || snprintf(rel, rsize, "%s%s", strcmp(root, "/") ? root : "",
						path + len) < (int)rsize);
	}
	free(line);
	fclose(mi);
	if (*opts && !ok) {
		free(*opts);
		*opts = NULL;
	}
	return *opts != NULL;
}

/* What overlay_identity() works with: the overlay's file, where the
 * device lies in it (as file_chain()), and the names it finds (not on the
 * stack: a loop device over an overlay file is followed from inside
 * blockdev_chain(), which recurses). */
struct overlay_find {
	struct device *d;
	const struct stat *st;       /* the overlay's file */
	uint64_t start, len;
	bool anywhere;
	int depth;
	char path[PATH_MAX], rel[PATH_MAX], real[PATH_MAX];
	struct ovl_layers l;
};

/* Where the layer files found are (their names, proved by fstat when they
 * are opened to be locked: device_lock). */
static struct layer_name {
	dev_t dev;
	ino_t ino;
	char *path;
} *layers;
static unsigned int nlayers, layers_cap;

/* false: out of memory (the file then cannot be locked: refused). */
static bool remember_layer(dev_t dev, ino_t ino, const char *path)
{
	for (unsigned int i = 0; i < nlayers; i++)
		if (layers[i].dev == dev && layers[i].ino == ino)
			return true;
	if (nlayers == layers_cap) {
		unsigned int cap = layers_cap ? 2 * layers_cap : 64;
		struct layer_name *v = realloc(layers, cap * sizeof(*v));

		if (!v)
			return false;
		layers = v;
		layers_cap = cap;
	}
	if (!(layers[nlayers].path = strdup(path)))
		return false;
	layers[nlayers].dev = dev;
	layers[nlayers].ino = ino;
	nlayers++;
	return true;
}

/* Open the layer file (dev, ino) for a lock, by the name it was found
 * under, if that still is it; -1 if not. */
static int open_layer(dev_t dev, ino_t ino)
{
	for (unsigned int i = 0; i < nlayers; i++) {
		struct stat st;
		int fd;

		if (layers[i].dev != dev || layers[i].ino != ino)
			continue;
		fd = open(layers[i].path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0 && (fstat(fd, &st) || st.st_dev != dev || st.st_ino != ino)) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
	return -1;
}

/* Try one layer directory of an overlay for the file itself, by its path
 * there: the file in the upper layer is the one the overlay uses; one in
 * a lower layer when its inode number is the one the overlay reports (no
 * copy-up, or one of metadata only; layers without xino).  Its identity
 * is added, and the file locked as the overlay's (device_lock).  Only what
 * this finds is exact: every file of every layer counts anyway (the
 * overlay's roots, overlay_roots()). */
static bool overlay_layer(struct overlay_find *f, const char *layer, bool upper)
{
	struct stat real;
	int fd;

	if (layer[0] != '/' ||
	    snprintf(f->real, sizeof(f->real), "%s%s", layer, f->rel) >= (int)sizeof(f->real) ||
	    (fd = open(f->real, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return false;
	if (fstat(fd, &real) || !S_ISREG(real.st_mode)) {
		close(fd);
		return false;
	}
	if (upper || real.st_ino == f->st->st_ino) {
		/* (Not the directories it lies in: what lies there is
		 * another's only by the overlay's roots.) */
		int k = file_chain(f->d, real.st_dev, real.st_ino, f->start, f->len, f->anywhere, fd,
				   f->depth, false);

		if (k >= 0 && !f->anywhere) {
			f->d->id[k].layer = true;
			f->d->id[k].lower = f->d->id[k].lower || !upper;
			if (!remember_layer(real.st_dev, real.st_ino, f->real))
				f->d->ids_full = true;
		}
	}
	close(fd);
	return true;
}

/* Is the overlay's upper file path a copy-up of the metadata alone
 * (metacopy=on: its data is still the lower file's)?  The overlay marks it
 * with an extended attribute. */
static bool metacopy(const char *path)
{
	return lgetxattr(path, "trusted.overlay.metacopy", NULL, 0) >= 0 ||
	       lgetxattr(path, "user.overlay.metacopy", NULL, 0) >= 0;
}

/* The path the kernel gives descriptor fd, if it is on overlayfs. */
static bool overlay_fd_path(int fd, char *path, size_t size)
{
	char self[64];
	struct statfs sf;
	ssize_t n;

	if (fd < 0 || fstatfs(fd, &sf) || sf.f_type != OVERLAYFS_SUPER_MAGIC)
		return false;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	n = readlink(self, path, size - 1);
	if (n <= 0)
		return false;
	path[n] = 0;
	return true;
}

/* Overlays on overlays are followed this deep; deeper, kcopyd refuses. */
#define MAX_OVL_DEPTH 4

/* Descriptor fd is on an overlay (path: its name): every layer directory
 * of that overlay is one of d's roots, where its file may be stored; for a
 * new file (only_upper: it will be created in the upper layer) the upper
 * and work directories only.  Those also are directories d's bytes lie in
 * (written there: the upper layer's), and the file systems of the layers
 * are where d lies (fs_chain).  A layer directory on an overlay itself
 * brings that overlay's layers in.  Anything not found (the mount, a layer
 * directory no longer there, overlays nested too deep) leaves d not fully
 * known: ids_full, refused.  The layers into l (to be freed), if l. */
static bool overlay_parse_of(struct device *d, int fd, const struct stat *st, const char *path,
			     char *rel, size_t rsize, struct ovl_layers *l, int ovl_depth)
{
	char *opts;

	memset(l, 0, sizeof(*l));
	if (ovl_depth >= MAX_OVL_DEPTH || !overlay_mount(fd, st->st_dev, path, rel, rsize, &opts)) {
		d->ids_full = true;
		return false;
	}
	ovl_parse(opts, l);
	free(opts);
	ovl_relative(l, path);
	if (l->bad || !l->n)
		d->ids_full = true;
	return true;
}

static void overlay_roots(struct device *d, const struct ovl_layers *l, bool only_upper,
			  int depth, int ovl_depth)
{
	unsigned int readings[2] = { 0, 0 }, found[2] = { 0, 0 };
	const char *missing = NULL;
	int missing_err = 0;
	dev_t tag_dev = 0;
	ino_t tag_ino = 0;
	/* The upper directory first: it tags what comes from this overlay. */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned int i = 0; i < l->n; i++) {
			enum ovl_kind kind = l->v[i].kind;
			char sub[PATH_MAX];
			struct stat rst;
			int rfd;

			if ((pass == 0) != (kind == OVL_UPPER) || (only_upper && kind == OVL_LOWER))
				continue;
			rfd = l->v[i].path[0] == '/' ?
				open(l->v[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
			if (kind != OVL_LOWER)
				readings[kind]++;
			if (rfd < 0 || fstat(rfd, &rst)) {
				/* Of the two readings of an upper or work directory,
				 * one that names none is not it (counted below). */
				int err = l->v[i].path[0] == '/' ? errno : ENOENT;

				if (kind == OVL_LOWER) {
					layer_unseen(d, l->v[i].path, err);
				} else if (!missing) {
					missing = l->v[i].path;
					missing_err = err;
				}
				if (rfd >= 0)
					close(rfd);
				continue;
			}
			if (kind != OVL_LOWER)
				found[kind]++;
			if (kind == OVL_UPPER && !tag_dev && !tag_ino) {
				tag_dev = rst.st_dev;
				tag_ino = rst.st_ino;
			}
			if (!only_upper)
				ADD_ROOT(d, rst.st_dev, rst.st_ino, tag_dev, tag_ino,
					 kind == OVL_LOWER);
			/* What lies above a layer directory holds it: an
			 * upper one's, where the overlay writes, itself too. */
			if (kind != OVL_LOWER) {
				dir_ancestors(d, rfd, tag_dev, tag_ino);
			} else {
				int pfd = openat(rfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
				struct stat pst;

				if (pfd < 0 || fstat(pfd, &pst))
					not_known(d, errno);
				else if (pst.st_dev != rst.st_dev || pst.st_ino != rst.st_ino)
					dir_ancestors(d, pfd, tag_dev, tag_ino);
				if (pfd >= 0)
					close(pfd);
			}
			fs_chain(d, rst.st_dev, rfd, depth);
			if (overlay_fd_path(rfd, sub, sizeof(sub))) {
				struct ovl_layers inner;

				if (overlay_parse_of(d, rfd, &rst, sub, NULL, 0, &inner, ovl_depth + 1))
					overlay_roots(d, &inner, only_upper, depth, ovl_depth + 1);
				ovl_free(&inner);
			}
			close(rfd);
		}
	}
	if (found[OVL_UPPER] < !!readings[OVL_UPPER] || found[OVL_WORK] < !!readings[OVL_WORK])
		layer_unseen(d, missing ? missing : "?", missing ? missing_err : EIO);
}

/* A file opened through overlayfs reads (and, once copied up, writes) a
 * file of its upper or lower layer.  Which one the name cannot tell
 * (redirects, metacopy renames, data-only layers, xino inode numbers):
 * every file under every layer directory counts (overlay_roots), from
 * start on for len bytes.  A directory is where new files go: its upper
 * layer only.  The file itself, where it is found in the upper layer or
 * in a lower one with the inode number the overlay reports, is added as
 * file_chain() at depth would, and locked. */
static void overlay_identity(struct device *d, int fd, const struct stat *st, uint64_t start,
			     uint64_t len, bool anywhere, int depth)
{
	struct overlay_find *f = calloc(1, sizeof(*f));

	if (!f) {
		d->ids_full = true;
		return;
	}
	f->d = d;
	f->st = st;
	f->start = start;
	f->len = len;
	f->anywhere = anywhere;
	f->depth = depth;
	if (!overlay_fd_path(fd, f->path, sizeof(f->path)) ||
	    !overlay_parse_of(d, fd, st, f->path, f->rel, sizeof(f->rel), &f->l, 0))
		goto out;
	if (S_ISDIR(st->st_mode)) {
		overlay_roots(d, &f->l, true, depth, 0);
		goto out;
	}
	/* The upper layer first (what a copied-up file is): a file there
	 * with its data (not a copy-up of its metadata alone) is all of it.
	 * Else the lower layers, the first that has it, taken when its inode
	 * is the one the overlay reports: also when the upper one has it, as
	 * with metacopy a file copied up for its metadata alone reads its
	 * data from there (and the overlay reports the lower inode); and
	 * every file of every layer, as which one is not known. */
	{
		bool in_upper = false;

		for (unsigned int i = 0; i < f->l.n && !in_upper; i++)
			if (f->l.v[i].kind == OVL_UPPER)
				in_upper = overlay_layer(f, f->l.v[i].path, true);
		/* (f->real: the upper file, when in_upper.) */
		if (in_upper && !metacopy(f->real)) {
			overlay_roots(d, &f->l, true, depth, 0);
			goto out;
		}
		overlay_roots(d, &f->l, false, depth, 0);
		for (unsigned int i = 0; i < f->l.n; i++)
			if (f->l.v[i].kind == OVL_LOWER && overlay_layer(f, f->l.v[i].path, false))
				break;
	}
out:
	ovl_free(&f->l);
	free(f);
}

char *overlay_upper_name(const char *canon)
{
	char *copy = strdup(canon), *full = NULL, *base, *opts = NULL;
	char path[PATH_MAX], rel[PATH_MAX], upper[PATH_MAX];
	struct ovl_layers l = { 0 };
	struct stat st;
	int fd;

	if (!copy)
		return NULL;
	base = strrchr(copy, '/');
	if (!base || base == copy) {
		free(copy);
		return NULL;
	}
	*base++ = 0;
	fd = open(copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && overlay_fd_path(fd, path, sizeof(path)) &&
	    overlay_mount(fd, st.st_dev, path, rel, sizeof(rel), &opts)) {
		ovl_parse(opts, &l);
		/* Of the readings of the upper directory, one that names one. */
		for (unsigned int i = 0; i < l.n && !full; i++)
			if (l.v[i].kind == OVL_UPPER && l.v[i].path[0] == '/' &&
			    realpath(l.v[i].path, upper) &&
			    asprintf(&full, "%s%s/%s", strcmp(upper, "/") ? upper : "", rel, base) < 0)
				full = NULL;
	}
	ovl_free(&l);
	free(opts);
	if (fd >= 0)
		close(fd);
	free(copy);
	return full;
}

/* What fd is (fstat'ed into st): the identities replace any before. */
static void set_identity(struct device *d, int fd, const struct stat *st)
{
	uint64_t size = 0;

	char sys[PATH_MAX];

	memset(d->id, 0, sizeof(d->id));
	free_dirs(d);
	d->ids_full = false;
	d->ids_err = 0;
	if (S_ISBLK(st->st_mode)) {
		/* An O_PATH descriptor takes no ioctl (EBADF): a loop device's
		 * backing file would go unseen.  The device by its number. */
		if (fd >= 0 && (fcntl(fd, F_GETFL) & O_PATH))
			fd = -1;
		if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size))
			size = sysfs_dir(st->st_rdev, sys) ?
				sysfs_u64(sys, "size") * KCOPYD_SECTOR_SIZE : 0;
		if (!size)
			size = UINT64_MAX;              /* unknown: all of it */
		blockdev_chain(d, st->st_rdev, 0, size, false, fd, 0);
	} else {
		file_chain(d, st->st_dev, st->st_ino, 0, UINT64_MAX, false, fd, 0, true);
		overlay_identity(d, fd, st, 0, UINT64_MAX, false, 1);
	}
}

/* Where [off, off + len) of a device lies in storage x: [*s, *e). */
static bool id_range(const struct identity *x, uint64_t off, uint64_t len, uint64_t *s,
		     uint64_t *e)
{
	if (x->anywhere) {
		*s = x->start;
		*e = add_sat(x->start, x->len);
	} else {
		if (off >= x->len)
			return false;
		if (len > x->len - off)
			len = x->len - off;
		*s = add_sat(x->start, off);
		*e = add_sat(*s, len);
	}
	return *e > *s;
}

/* The unit in which d's own page cache reads and writes back what is
 * written through it: a block device's page (and at least its soft and
 * logical block size), in its own coordinates.  A file's page too: its
 * cache is shared by its every name and by a loop device over it (which
 * writes the file through it), but the run may write the file with direct
 * I/O, which must drop the pages it writes from that cache: a page that a
 * loop device's write holds meanwhile cannot be dropped (the kernel says
 * "Page cache invalidation failure on direct I/O", fails the next fsync
 * with EIO, and may write the page's stale bytes back over ours). */
static uint64_t device_cache_unit(const struct device *d)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t u = page > 0 ? (uint64_t)page : 4096;

	if (d->kind != DEV_BLOCK)
		return d->kind == DEV_FILE ? u : 0;
	if (!d->id[0].valid || d->id[0].ino)
		return 0;
	if (d->bsz > u)
		u = d->bsz;
	if (d->lbs > u)
		u = d->lbs;
	return u;
}

/* [*off, *off + *len) rounded out to whole units u (cut at UINT64_MAX). */
static void widen(uint64_t u, uint64_t *off, uint64_t *len)
{
	uint64_t s, e;

	if (!u || !*len)
		return;
	s = *off - *off % u;
	e = add_sat(*off, *len);
	if (e % u && e != UINT64_MAX)
		e = add_sat(e, u - e % u);
	*off = s;
	*len = e - s;
}

/* Where [off, off + len) of d lies in its storage x = d->id[i]: [*s, *e),
 * rounded out (pages) to whole units of every cache the bytes pass through
 * on their way there: d's own (device_cache_unit, in d's coordinates), then
 * the page cache of each storage under d down to x, in that storage's own
 * coordinates (a loop device writes its backing file or device through
 * that one's cache, or with direct I/O that must drop its pages: a loop
 * device at an offset that is not a whole page shares pages of its file
 * that its own page-aligned pages do not tell). */
static bool range_at(const struct device *d, int i, uint64_t off, uint64_t len, bool pages,
		     bool own, uint64_t *s, uint64_t *e)
{
	const struct identity *x = &d->id[i];
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t page = pg > 0 ? (uint64_t)pg : 4096;

	if (pages)
		widen(device_cache_unit(d), &off, &len);
	if (!id_range(x, off, len, s, e))
		return false;
	if (!pages || own || x->anywhere)
		return true;
	for (int j = 1; j <= i; j++) {
		const struct identity *y = &d->id[j];
		uint64_t shift, ys, ylen;

		/* (Storage j's byte t is x's byte t + shift.) */
		if (!y->valid || y->anywhere || y->start > x->start)
			continue;
		shift = x->start - y->start;
		if (*e <= shift)
			continue;
		ys = *s > shift ? *s - shift : 0;
		if (*e == UINT64_MAX) {
			*s = add_sat(ys - ys % page, shift);
			continue;
		}
		ylen = *e - shift - ys;
		widen(page, &ys, &ylen);
		*s = add_sat(ys, shift);
		*e = add_sat(*s, ylen);
	}
	return *e > *s;
}

static enum meet meet_ids(const struct device *a, uint64_t a_off, uint64_t a_len,
			  const struct device *b, uint64_t b_off, uint64_t b_len,
			  unsigned int flags)
{
	for (int i = 0; i < MAX_IDS; i++) {
		for (int k = flags & MEET_BELOW ? 1 : 0; k < MAX_IDS; k++) {
			const struct identity *x = &a->id[i], *y = &b->id[k];
			uint64_t s1, e1, s2, e2;

			/* (A destination's lower-layer file is only read: the
			 * overlay copies it up once it is opened to write.) */
			if (!x->valid || !y->valid || x->dev != y->dev || x->ino != y->ino ||
			    (x->lower && a->written) || (y->lower && b->written) ||
			    (x->anywhere && y->anywhere) ||
			    ((flags & MEET_PLACED) && (x->anywhere || y->anywhere)))
				continue;
			if ((flags & MEET_EXACT) && !x->anywhere && !y->anywhere && x->start == y->start)
				return i == 0 && k == 0 ? MEET_SAME : MEET_OVERLAP;
			if (range_at(a, i, a_off, a_len, flags & MEET_PAGES_A, flags & MEET_PAGES_OWN,
				     &s1, &e1) &&
			    range_at(b, k, b_off, b_len, flags & MEET_PAGES_B, flags & MEET_PAGES_OWN,
				     &s2, &e2) &&
			    s1 < e2 && s2 < e1)
				return MEET_OVERLAP;
		}
	}
	return MEET_NONE;
}

/* Does a file of r lie in a directory where one of f's bytes may be: one
 * of r's overlay layer directories is a directory f lies in (of f itself,
 * of a file under it, or where its overlay writes: not r's own overlay's
 * upper layer, which two files of one overlay both write)?  A lower layer
 * of r's counts when r is read: written, r is copied up. */
static bool roots_meet(const struct device *r, const struct device *f)
{
	for (unsigned int i = 0; i < r->nroots; i++) {
		const struct dir_ref *x = &r->roots[i];

		if (x->lower && r->written)
			continue;
		for (unsigned int k = 0; k < f->nanc; k++) {
			const struct dir_ref *y = &f->anc[k];

			if (x->dev == y->dev && (!y->ino || x->ino == y->ino) &&
			    !((y->tag_dev || y->tag_ino) && x->tag_dev == y->tag_dev &&
			      x->tag_ino == y->tag_ino))
				return true;
		}
	}
	return false;
}

/* Do [a_off, +a_len) of a and [b_off, +b_len) of b share bytes (each range
 * cut at its device's end)?  The one test of "the same storage" the command
 * makes, whatever the question (see kcopyd-cmd.h for the flags).  Two
 * devices that each only lie somewhere in one file system do not meet for
 * that alone.
 *
 * With MEET_PAGES, two names that reach one storage through different
 * block devices (two loop devices over one file, a loop device and its
 * file, a partition and its disk...) each have a page cache of their own
 * (or, for the file, one that direct I/O must drop pages of),
 * which reads whole pages of the storage and writes them back whole: a
 * write of part of a page through one writes back the rest of that page
 * as it was when it was read, over what was written through the other
 * meanwhile.  So each block device's range is first rounded out to its
 * cache's unit in its own coordinates, then mapped to the storage: ranges
 * that overlap only so are MEET_PAGE.  One device (the same cache) or two
 * names of one file (the file's own cache) are exact to the byte; two
 * different files never share storage (but for the file system both lie
 * in, which is not where their bytes are: MEET_PLACED). */
enum meet device_meet(const struct device *a, uint64_t a_off, uint64_t a_len,
		      const struct device *b, uint64_t b_off, uint64_t b_len, unsigned int flags)
{
	enum meet m = meet_ids(a, a_off, a_len, b, b_off, b_len, flags & ~MEET_PAGES);

	if (m != MEET_NONE)
		return m;
	/* A file of an overlay may be stored in any file of its layers. */
	if (roots_meet(a, b) || roots_meet(b, a))
		return MEET_OVERLAP;
	if (a->canon && b->canon && (strcmp(a->canon, b->canon) == 0 ||
				     (a->dir_ino && a->dir_dev == b->dir_dev && a->dir_ino == b->dir_ino &&
				      strcmp(strrchr(a->canon, '/'), strrchr(b->canon, '/')) == 0)))
		return MEET_SAME;
	/* A new file through an overlay is the one of its upper name. */
	if (a->canon && b->canon &&
	    ((a->upper_canon && (!strcmp(a->upper_canon, b->canon) ||
				 (b->upper_canon && !strcmp(a->upper_canon, b->upper_canon)))) ||
	     (b->upper_canon && !strcmp(b->upper_canon, a->canon))))
		return MEET_SAME;
	if ((flags & MEET_PAGES) && a->id[0].valid && b->id[0].valid &&
	    (a->id[0].dev != b->id[0].dev || a->id[0].ino != b->id[0].ino) &&
	    meet_ids(a, a_off, a_len, b, b_off, b_len, (flags & ~MEET_EXACT) | MEET_PLACED) != MEET_NONE)
		return MEET_PAGE;
	return MEET_NONE;
}

/* The file directly under loop device d, opened to read (or -1), and
 * where d's first byte lies in it. */
int device_loop_file(const struct device *d, uint64_t *start)
{
	if (d->kind != DEV_BLOCK || !d->id[0].valid)
		return -1;
	for (int k = 1; k < MAX_IDS; k++) {
		const struct identity *x = &d->id[k];
		int fd;

		if (!x->valid || !x->ino || x->anywhere || x->loop != d->id[0].dev)
			continue;
		fd = open_backing(x->loop, NULL, x->dev, x->ino, O_RDONLY);
		if (fd >= 0) {
			*start = x->start;
			return fd;
		}
	}
	return -1;
}

/* What lies under block device d, however deep (the block devices under
 * its loop devices, their files): flushed and its cached pages dropped,
 * top down, so that a read of d goes to the storage, not to a lower
 * device's cache (a loop device without direct I/O writes the one under
 * it through that one's page cache; read back, the cache would answer
 * for bytes the storage lost). */
void device_drop_lower_caches(const struct device *d)
{
	for (int k = 1; d->kind == DEV_BLOCK && k < MAX_IDS; k++) {
		const struct identity *x = &d->id[k];
		int fd = -1;

		if (!x->valid || x->anywhere)
			continue;
		if (x->backing && !x->ino)
			fd = open_devnum(x->dev);
		else if (x->ino && x->loop)
			fd = open_backing(x->loop, NULL, x->dev, x->ino, O_RDONLY);
		if (fd < 0)
			continue;
		(void)fsync(fd);
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* A loop device over a file on FUSE or 9p (d->loop_userfs): said, with
 * what it means for this use of it (after "...without an error"). */
void device_warn_userfs(const struct device *d, bool write, const char *so)
{
	if (d->loop_userfs)
		errmsg("%s: warning: the file under it is on a file system whose answers come "
		       "from user space (FUSE, 9p), and the loop driver takes a short %s there "
		       "as %s, without an error: %s", d->path, write ? "write" : "read",
		       write ? "written" : "zeros", so);
}

/* Is there a file under block device d (a loop device's, however deep)? */
bool device_has_file_under(const struct device *d)
{
	for (int k = 1; d->kind == DEV_BLOCK && k < MAX_IDS; k++)
		if (d->id[k].valid && d->id[k].ino && !d->id[k].anywhere)
			return true;
	return false;
}

/* Does d write a file under src (a loop device's backing file, however
 * deep), anywhere in it: the file's times move then, whatever the ranges? */
bool device_writes_file_under(const struct device *d, const struct device *src)
{
	for (int i = 0; i < MAX_IDS; i++)
		for (int k = 1; k < MAX_IDS; k++) {
			const struct identity *x = &d->id[i], *y = &src->id[k];

			if (x->valid && y->valid && !x->anywhere && !y->anywhere && x->ino &&
			    x->dev == y->dev && x->ino == y->ino && !(x->lower && d->written))
				return true;
		}
	return false;
}

bool device_shares_storage(const struct device *a, const struct device *b)
{
	return device_meet(a, 0, UINT64_MAX, b, 0, UINT64_MAX, 0) != MEET_NONE;
}

/* Is the regular file name where some of d's bytes really are (d itself,
 * the file under a loop device over it, however deep, the upper or lower
 * file an overlayfs name reaches)?  The file is opened (O_PATH: nothing is
 * read) for its identity: the overlay's layers are found through a
 * descriptor, a stat alone would see only the overlay's own inode. */
bool device_stores_file(const struct device *d, const char *name)
{
	struct device f;
	struct stat st;
	bool ret;
	int fd = open(name, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return false;
	}
	device_init(&f, "");
	set_identity(&f, fd, &st);
	close(fd);
	/* Not all known of where it lies: taken as meeting (refused). */
	ret = f.ids_full || device_meet(&f, 0, UINT64_MAX, d, 0, UINT64_MAX, MEET_PLACED) != MEET_NONE;
	free_dirs(&f);
	return ret;
}

/* Does the file system that holds directory dir live where some of
 * [off, off + len) of d's bytes are (d a loop device or its backing file,
 * the disk or partition under that file system...)?  A file written in dir
 * is then written into those bytes of d. */
int device_holds_dir(const struct device *d, uint64_t off, uint64_t len, const char *dir)
{
	struct device f;
	struct stat st;
	int ret, fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	device_init(&f, "");
	if (fstat(fd, &st)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	set_identity(&f, fd, &st);
	close(fd);
	/* Not all known (a system call failed, or more lies under it than
	 * is followed): neither yes nor no. */
	if (f.ids_full)
		ret = f.ids_err ? -f.ids_err : -ELOOP;
	else
		ret = device_meet(&f, 0, UINT64_MAX, d, off, len, 0) != MEET_NONE;
	free_dirs(&f);
	return ret;
}

bool stat_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_rdev == b->st_rdev &&
	       (a->st_mode & S_IFMT) == (b->st_mode & S_IFMT);
}

/* Do a and b meet only because one is a file on a file system that lives
 * on the other's storage (not where their bytes really are)? */
static bool fs_meet(const struct device *a, uint64_t a_off, uint64_t a_len,
		    const struct device *b, uint64_t b_off, uint64_t b_len, unsigned int flags)
{
	return device_meet(a, a_off, a_len, b, b_off, b_len, flags | MEET_PLACED) == MEET_NONE;
}

/* Is a a file on a file system that lives where some of b's bytes are? */
static bool on_fs_of(const struct device *a, const struct device *b)
{
	for (int i = 0; i < MAX_IDS; i++)
		for (int k = 0; k < MAX_IDS; k++)
			if (a->id[i].valid && a->id[i].anywhere && b->id[k].valid &&
			    !b->id[k].anywhere && a->id[i].dev == b->id[k].dev &&
			    a->id[i].ino == b->id[k].ino)
				return true;
	return false;
}

/* The source must not overlap any destination (we refuse rather than copy
 * memmove-style: a copy over its own source is almost always a mistake),
 * and no destination may appear twice or share storage with another.
 * Destinations are compared by the pages of their caches (device_meet,
 * MEET_PAGES); the source by its bytes only: it is only read, and a
 * destination's cache that holds a page of it writes back the source's
 * bytes there as it read them, unchanged, as nothing else writes them
 * (what a writer outside the run does is seen as a change under the run).
 * Nor can a stale page of the source's own cache give it wrong bytes: the
 * run writes none of the source's bytes, through any name. */
/* A device of which not all is known that lies under it (more than the
 * identities held, or stacked deeper than followed) cannot be proved apart
 * from the others: refused, said so. */
static bool ids_unknown(const struct device *d)
{
	if (!d->ids_full)
		return false;
	if (d->ids_err) {
		errmsg("%s: cannot follow where its bytes lie: %s; refusing", d->path,
		       err_text(d->ids_err));
		return true;
	}
	errmsg("%s: lies on more storage than kcopyd follows (more than %d devices and files "
	       "under it, stacked more than 6 deep, or an overlay whose layers are not all "
	       "known); it cannot be told apart from the other devices: refusing", d->path,
	       MAX_IDS);
	return true;
}

/* An overlay whose layers no name reaches from here (a container's root,
 * mounted in another namespace): what is stored in them cannot be told
 * apart from the other side, which is said, not refused (that would
 * refuse every copy of a container's files). */
static void warn_unseen(const struct device *d)
{
	if (d->unseen[0])
		errmsg("%s: warning: it is on an overlay whose layer %s no name reaches from "
		       "here (a mount of another namespace): kcopyd cannot check that the other "
		       "files are not stored in that layer", d->path, d->unseen);
}

int device_check_distinct(struct device *src, uint64_t src_off, struct device *dests,
			  unsigned int n, uint64_t dst_off, uint64_t len)
{
	if (src && ids_unknown(src))
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		dests[i].written = true;
		if (ids_unknown(&dests[i]))
			return -1;
	}
	if (src)
		warn_unseen(src);
	for (unsigned int i = 0; i < n; i++)
		warn_unseen(&dests[i]);
	for (unsigned int i = 0; i < n; i++) {
		if (src && device_meet(src, src_off, len, &dests[i], dst_off, len, 0)) {
			if (fs_meet(src, src_off, len, &dests[i], dst_off, len, 0) &&
			    on_fs_of(src, &dests[i]))
				errmsg("%s: the source %s is a file on the file system that lives "
				       "there; refusing to write under a mounted file system",
				       dests[i].path, src->path);
			else if (fs_meet(src, src_off, len, &dests[i], dst_off, len, 0))
				errmsg("%s: is a file on the file system that lives on the source "
				       "%s; writing it would change the source under the copy",
				       dests[i].path, src->path);
			else
				errmsg("%s: is the source %s (or shares its storage) and the "
				       "ranges overlap", dests[i].path, src->path);
			return -1;
		}
		for (unsigned int k = 0; k < i; k++) {
			enum meet m = device_meet(&dests[k], dst_off, len, &dests[i], dst_off, len,
						  MEET_EXACT | MEET_PAGES);

			if (m == MEET_SAME) {
				errmsg("%s: the same destination as %s (named twice)",
				       dests[i].path, dests[k].path);
				return -1;
			}
			if (m == MEET_OVERLAP && fs_meet(&dests[k], dst_off, len, &dests[i], dst_off,
							 len, MEET_EXACT)) {
				struct device *f = on_fs_of(&dests[k], &dests[i]) ? &dests[k] : &dests[i];

				errmsg("%s: the destination %s is a file on the file system that "
				       "lives there; refusing to write under a mounted file system",
				       f == &dests[i] ? dests[k].path : dests[i].path, f->path);
				return -1;
			}
			if (m == MEET_OVERLAP) {
				errmsg("%s: shares its storage with the destination %s and the "
				       "ranges overlap", dests[i].path, dests[k].path);
				return -1;
			}
			if (m == MEET_PAGE) {
				/* Whose cache: one's own, or else the file (or
				 * device) under both that their writes reach. */
				const struct device *c =
					device_meet(&dests[k], dst_off, len, &dests[i], dst_off, len,
						    MEET_PAGES_A | MEET_PAGES_OWN) == MEET_PAGE ?
						&dests[k] :
					device_meet(&dests[k], dst_off, len, &dests[i], dst_off, len,
						    MEET_PAGES_B | MEET_PAGES_OWN) == MEET_PAGE ?
						&dests[i] : NULL;
				char unit[PATH_MAX + 64];

				if (c)
					snprintf(unit, sizeof(unit), "%s (%llu-byte units)", c->path,
						 (unsigned long long)device_cache_unit(c));
				else
					snprintf(unit, sizeof(unit), "the file under both (%ld-byte "
						 "units)", sysconf(_SC_PAGESIZE));
				errmsg("%s: shares its storage with the destination %s; the ranges "
				       "are disjoint but share a page of the page cache of %s, "
				       "which would write back stale bytes over the other's; "
				       "refusing to write both", dests[i].path, dests[k].path, unit);
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
	struct stat now;
	int fd = -1;

	if (S_ISREG(st->st_mode)) {
		d->kind = DEV_FILE;
	} else if (S_ISBLK(st->st_mode)) {
		d->kind = DEV_BLOCK;
	} else {
		errmsg("%s: is %s; only regular files and block devices can be used",
		       d->path, unusable_type(st->st_mode));
		return -1;
	}
	/* A file through a descriptor of its own (O_PATH: nothing is read,
	 * nothing copied up), which finds its btrfs (whose files' device
	 * number is no mount's) and its overlay's layers; a block device by
	 * its number (an O_PATH descriptor takes no ioctl). */
	if (d->kind == DEV_FILE && (fd = open(d->path, O_PATH | O_CLOEXEC)) >= 0 &&
	    (fstat(fd, &now) || !stat_same_file(&now, st))) {
		close(fd);
		fd = -1;
	}
	set_identity(d, fd, st);
	if (fd >= 0)
		close(fd);
	return 0;
}

/* A destination that does not exist yet: its directory must let us create
 * it, and its canonical name finds the same new file named twice. */
static int probe_new(struct device *d)
{
	char *copy1 = strdup(d->path), *copy2 = strdup(d->path);
	static char dir[PATH_MAX];      /* set-up is single-threaded */
	const char *given;
	struct stat st;
	int ret = -1, fd;

	if (!copy1 || !copy2) {
		errmsg("out of memory");
		goto out;
	}
	/* The directory is looked at by the name given, as the file will be
	 * created; its canonical text is only a name to compare (through
	 * /proc/PID/root of another mount namespace it names another
	 * directory of ours). */
	given = dirname(copy1);
	if (!realpath(given, dir)) {
		errmsg("%s: cannot create: %s", d->path, err_text(errno));
		goto out;
	}
	if (faccessat(AT_FDCWD, given, W_OK | X_OK, AT_EACCESS)) {
		errmsg("%s: cannot create: %s", d->path, err_text(errno));
		goto out;
	}
	if (asprintf(&d->canon, "%s/%s", dir, basename(copy2)) < 0) {
		d->canon = NULL;
		errmsg("out of memory");
		goto out;
	}
	/* Its bytes will lie on the file system of its directory. */
	if ((fd = open(given, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0 && fstat(fd, &st) == 0) {
		d->dir_dev = st.st_dev;
		d->dir_ino = st.st_ino;
		fs_chain(d, st.st_dev, fd, 0);
		/* Its directory's, where its name lies; through an overlay,
		 * a new file goes into its upper layer, whether or not the
		 * directory is there yet (overlay_identity of a directory). */
		dir_ancestors(d, fd, 0, 0);
		d->upper_canon = overlay_upper_name(d->canon);
		overlay_identity(d, fd, &st, 0, UINT64_MAX, true, 1);
	}
	if (fd >= 0)
		close(fd);
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
	set_identity(d, d->fd, &st);
	if (d->kind == DEV_FILE) {
		d->size = (uint64_t)st.st_size;
		return 0;
	}
	if (ioctl(d->fd, BLKGETSIZE64, &d->size) || ioctl(d->fd, BLKSSZGET, &lbs))
		return -errno;
	d->lbs = (unsigned int)lbs;
	if (ioctl(d->fd, BLKBSZGET, &lbs) == 0 && lbs > 0)
		d->bsz = (unsigned int)lbs;
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

/* The block devices this run holds O_EXCL: not someone else's use. */
static dev_t held[MAX_DESTS];
static unsigned int nheld;

static bool held_by_us(dev_t dev)
{
	for (unsigned int i = 0; i < nheld; i++)
		if (held[i] == dev)
			return true;
	return false;
}

/* Why a file cannot be opened for writing, when its flags say it. */
static const char *file_flags_reason(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), flags = 0;
	bool ok;

	if (fd < 0)
		return NULL;
	ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
	close(fd);
	if (ok && (flags & FS_IMMUTABLE_FL))
		return "is immutable (chattr +i)";
	if (ok && (flags & FS_APPEND_FL))
		return "is append-only (chattr +a)";
	return NULL;
}

/* The name of the loop device that d is, or is a partition of, when that
 * was attached read-only (LO_FLAGS_READ_ONLY: losetup -r), else NULL. */
static const char *readonly_loop(const struct device *d)
{
	static char name[NAME_MAX + 1];
	char sys[PATH_MAX], devno[32];
	struct loop_info64 li = { 0 };
	unsigned int maj, min;
	dev_t dev = d->id[0].dev;
	bool ro;
	int fd;

	if (!sysfs_dir(dev, sys))
		return NULL;
	if (read_sysfs(sys, "partition", devno, sizeof(devno)) == 0) {
		if (read_sysfs(dirname(sys), "dev", devno, sizeof(devno)) ||
		    sscanf(devno, "%u:%u", &maj, &min) != 2)
			return NULL;
		dev = makedev(maj, min);
	}
	if (strncmp(basename(sys), "loop", 4) != 0)
		return NULL;
	snprintf(name, sizeof(name), "%s", basename(sys));
	fd = dev == d->id[0].dev ? d->fd : open_devnum(dev);
	if (fd < 0)
		return NULL;
	ro = ioctl(fd, LOOP_GET_STATUS64, &li) == 0 && (li.lo_flags & LO_FLAGS_READ_ONLY);
	if (fd != d->fd)
		close(fd);
	return ro ? name : NULL;
}

/* A block device is opened O_EXCL by us and kept so for the whole run:
 * that is what fails while it is mounted or claimed, and it keeps anyone
 * else from claiming it meanwhile.  The library then opens it without.
 * What the kernel would refuse only at the first write is refused here:
 * a read-only block device (blockdev --setro). */
static int check_swap(const struct device *d, uint64_t off, uint64_t len);
static int swap_meeting(const struct device *d, uint64_t off, uint64_t len);
static bool swap_is(int i, const struct device *d);
static bool swap_unknown(int i);
static const char *swap_name(int i);

int device_open_write(struct device *d, const struct options *o)
{
	int flags = O_RDWR, ret, ro = 0, swap = -1;
	const char *why;

	d->written = true;
	if (d->kind == DEV_NEW)
		return 0;
	if (d->kind == DEV_BLOCK && !o->force)
		flags |= O_EXCL;
	ret = open_existing(d, flags);
	if (ret == -EBUSY && d->kind == DEV_BLOCK)
		swap = swap_meeting(d, 0, UINT64_MAX);
	if (swap >= 0 && !swap_is(swap, d) && !swap_unknown(swap))
		/* Swap on a part of it (a partition): the rest is the user's
		 * to write, with --force; the swap area never (check_swap). */
		errmsg("%s: holds swap space in use, %s (/proc/swaps), and is held for it; "
		       "refusing to write to it (--force to write outside the swap area)",
		       d->path, swap_name(swap));
	else if (ret == -EBUSY && d->kind == DEV_BLOCK && check_swap(d, 0, UINT64_MAX))
		;       /* the kernel's swap device itself: said so, --force or not */
	else if (ret == -EBUSY && d->kind == DEV_BLOCK)
		errmsg("%s: is mounted or in use by another program; refusing to write to it "
		       "(--force to write anyway)", d->path);
	else if ((ret == -EPERM || ret == -EACCES) && d->kind == DEV_FILE &&
		 (why = file_flags_reason(d->path)))
		errmsg("%s: cannot open for writing: %s", d->path, why);
	else if (ret < 0)
		errmsg("%s: cannot open for writing: %s", d->path, err_text(-ret));
	if (ret)
		return -1;
	if ((flags & O_EXCL) && nheld < MAX_DESTS)
		held[nheld++] = d->id[0].dev;
	if (d->kind == DEV_BLOCK && ioctl(d->fd, BLKROGET, &ro) == 0 && ro) {
		const char *loop = readonly_loop(d);

		if (loop)
			errmsg("%s: is a read-only block device: the loop device /dev/%s was "
			       "attached read-only (losetup -r), which blockdev --setrw does not "
			       "change; detach it (losetup -d) and attach its file again without "
			       "-r to write to it; refusing to write to it", d->path, loop);
		else
			errmsg("%s: is a read-only block device (blockdev --setrw to make it "
			       "writable); refusing to write to it", d->path);
		return -1;
	}
	if (d->kind == DEV_FILE)
		d->zero_from = d->size;
	return 0;
}

/* Does any process but us hold a flock on file (dev, ino)?  /proc/locks
 * says; without it, assume another does. */
static bool locked_by_others(dev_t dev, ino_t ino)
{
	FILE *f = fopen("/proc/locks", "re");
	char line[256];
	bool others = false;
	long me = (long)getpid();

	if (!f)
		return true;
	while (!others && fgets(line, sizeof(line), f)) {
		unsigned int maj, min;
		unsigned long long i;
		long pid;
		char *p = strstr(line, "FLOCK");

		/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" ("-> " for waiters) */
		if (!p || sscanf(p, "FLOCK %*s %*s %ld %x:%x:%llu", &pid, &maj, &min, &i) != 4)
			continue;
		if (makedev(maj, min) == dev && (ino_t)i == ino && pid != me)
			others = true;
	}
	fclose(f);
	return others;
}

/* The descriptors this process has locked, to give up a shared lock of
 * ours for an exclusive one on the same file (a descriptor is checked to
 * be that file still before it is touched). */
#define MAX_OURS 64
static struct { dev_t dev; ino_t ino; int fd; } ours[MAX_OURS];
static unsigned int nours;

static void remember(int fd, const struct stat *st)
{
	for (unsigned int i = 0; i < nours; i++)
		if (ours[i].fd == fd) {
			ours[i].dev = st->st_dev;
			ours[i].ino = st->st_ino;
			return;
		}
	if (nours < MAX_OURS)
		ours[nours++] = (typeof(ours[0])){ st->st_dev, st->st_ino, fd };
}

/* Lock fd.  A conflict with our own lock on another descriptor of the file
 * (the source's file under a destination's loop device...) is none: for an
 * exclusive lock, ours are given up for it. */
static int try_flock(int fd, bool exclusive)
{
	int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB, err;
	struct stat st, o;

	if (fstat(fd, &st))
		return -errno;
	if (flock(fd, op) == 0)
		goto locked;
	err = errno;
	if (err == ENOLCK || err == EOPNOTSUPP || err == EINVAL)
		return 0;          /* a file system without locks: nothing to learn */
	if (err != EWOULDBLOCK || locked_by_others(st.st_dev, st.st_ino))
		return -err;
	if (!exclusive)
		return 0;          /* our own exclusive lock covers it */
	for (unsigned int i = 0; i < nours; i++)
		if (ours[i].fd != fd && ours[i].dev == st.st_dev && ours[i].ino == st.st_ino &&
		    fstat(ours[i].fd, &o) == 0 && o.st_dev == st.st_dev && o.st_ino == st.st_ino)
			flock(ours[i].fd, LOCK_UN);
	if (flock(fd, op))
		return errno == EWOULDBLOCK ? -EWOULDBLOCK : 0;
locked:
	remember(fd, &st);
	return 0;
}

/* The files under loop devices that this run holds locks on, for the whole
 * run (the descriptors close at exit). */
#define MAX_UNDER (MAX_DESTS * 4 + 8)
static struct under_lock {
	dev_t dev;
	ino_t ino;
	int fd;
	bool exclusive;
} unders[MAX_UNDER];
static unsigned int nunders;

/* Lock the file under a loop device that d lies on (x): what is written
 * through a loop device is written to that file, and the lock on it must
 * meet the lock of a run that names the file itself (or another loop
 * device over it).  A file that no name reaches any more (deleted, or
 * renamed since the loop device was set up) cannot be locked: the run
 * says so and goes on, as nothing can open that file by name to write it. */
static int lock_under(const struct device *d, const struct identity *x, bool exclusive)
{
	static char sys[PATH_MAX];      /* not on the stack; set-up is single-threaded */
	const char *loop = sysfs_dir(x->loop, sys) ? basename(sys) : "?";
	struct under_lock *u = NULL;
	int ret;

	for (unsigned int i = 0; i < nunders; i++)
		if (unders[i].dev == x->dev && unders[i].ino == x->ino)
			u = &unders[i];
	if (u && (u->exclusive || !exclusive))
		return 0;
	if (!u) {
		int fd = x->layer ? open_layer(x->dev, x->ino) :
				    open_backing(x->loop, NULL, x->dev, x->ino, O_RDONLY);

		if (fd < 0 && x->layer)
			return 0;       /* gone since: nothing there to lock */
		if (fd < 0) {
			fprintf(stderr, "kcopyd: %s: warning: the file under /dev/%s (inode %llu on "
				"device %u:%u) has no name that reaches it (deleted or renamed); "
				"it is not locked\n", d->path, loop, (unsigned long long)x->ino,
				major(x->dev), minor(x->dev));
			return 0;
		}
		if (nunders == MAX_UNDER) {
			close(fd);
			return 0;
		}
		u = &unders[nunders++];
		*u = (struct under_lock){ .dev = x->dev, .ino = x->ino, .fd = fd };
	}
	ret = try_flock(u->fd, exclusive);
	if (ret == 0) {
		u->exclusive = exclusive;
		return 0;
	}
	if (ret == -EWOULDBLOCK && x->layer)
		errmsg("%s: is a file of an overlayfs layer (inode %llu on device %u:%u), which "
		       "another process is %s (it holds a lock on it); refusing to %s it", d->path,
		       (unsigned long long)x->ino, major(x->dev), minor(x->dev),
		       exclusive ? "using" : "writing", exclusive ? "write" : "read");
	else if (ret == -EWOULDBLOCK)
		errmsg("%s: lies on the file under /dev/%s (inode %llu), which another process is "
		       "%s (it holds a lock on it); refusing to %s it", d->path, loop,
		       (unsigned long long)x->ino, exclusive ? "using" : "writing",
		       exclusive ? "write" : "read");
	else
		errmsg("%s: cannot lock the file under /dev/%s: %s", d->path, loop, strerror(-ret));
	return -1;
}

/* Lock a file for the whole run on our own descriptor (flock: it goes when
 * the descriptor closes): exclusive to write it, shared to read it, so that
 * two runs never write one file and none reads a file another writes.
 * Locks follow storage: the file under a loop device d lies on (followed
 * down through stacked loops) is locked the same way.  A block device
 * itself is not locked: a destination is held O_EXCL instead. */
int device_lock(struct device *d, bool exclusive)
{
	int ret;

	if (d->fd < 0)
		return 0;
	if (d->kind != DEV_BLOCK && (ret = try_flock(d->fd, exclusive))) {
		if (ret == -EWOULDBLOCK)
			errmsg("%s: another process is %s it (it holds a lock on it); refusing "
			       "to %s it", d->path, exclusive ? "using" : "writing",
			       exclusive ? "write" : "read");
		else
			errmsg("%s: cannot lock it: %s", d->path, strerror(-ret));
		return -1;
	}
	for (int i = 0; i < MAX_IDS; i++)
		if (d->id[i].valid && (d->id[i].loop || d->id[i].layer) && !d->id[i].anywhere &&
		    lock_under(d, &d->id[i], exclusive))
			return -1;
	return 0;
}

/* A destination file that the run would grow past the size limit
 * (ulimit -f) would be cut short by SIGXFSZ: refused here. */
int device_check_limits(const struct device *d)
{
	struct rlimit rl;

	/* The limit bounds where a write lands, not only growth: a range
	 * ending past it fails with EFBIG even in a file larger already. */
	if (d->kind == DEV_BLOCK || getrlimit(RLIMIT_FSIZE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    d->need <= (uint64_t)rl.rlim_cur)
		return 0;
	errmsg("%s: needs %llu bytes, more than the file size limit of %llu bytes (ulimit -f); "
	       "refusing to write it", d->path, (unsigned long long)d->need,
	       (unsigned long long)rl.rlim_cur);
	return -1;
}

/* The loop devices of the system, each given to fn with an open descriptor
 * and its number; fn returns non-zero to stop. */
static int each_loop(int (*fn)(void *arg, int fd, dev_t dev, const char *name), void *arg)
{
	struct dirent *e;
	DIR *dir = opendir("/sys/block");
	int ret = 0;

	if (!dir)
		return 0;
	while (!ret && (e = readdir(dir))) {
		char sys[PATH_MAX], devno[32];
		unsigned int maj, min;
		int fd;

		if (strncmp(e->d_name, "loop", 4) != 0)
			continue;
		snprintf(sys, sizeof(sys), "/sys/block/%s", e->d_name);
		if (sysfs_u64(sys, "size") == 0 || read_sysfs(sys, "dev", devno, sizeof(devno)) ||
		    sscanf(devno, "%u:%u", &maj, &min) != 2)
			continue;
		fd = open_devnum(makedev(maj, min));
		if (fd < 0)
			continue;
		ret = fn(arg, fd, makedev(maj, min), e->d_name);
		close(fd);
	}
	closedir(dir);
	return ret;
}

struct users {
	const struct device *d;
	uint64_t off, len;
};

bool device_claimed(int fd)
{
	char self[64];
	int x;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	x = open(self, O_RDONLY | O_CLOEXEC | O_EXCL | O_NONBLOCK);
	if (x < 0)
		return errno == EBUSY;
	close(x);
	return false;
}

/* Does the block device of sysfs directory sys have holders (device
 * mapper, md... over it)? */
static bool has_holders(const char *sys)
{
	char p[PATH_MAX];
	struct dirent *e;
	bool any = false;
	DIR *h;

	snprintf(p, sizeof(p), "%s/holders", sys);
	if (!(h = opendir(p)))
		return false;
	while ((e = readdir(h)))
		if (e->d_name[0] != '.')
			any = true;
	closedir(h);
	return any;
}

/* The partitions of disk name (in /sys/block): -1 when none is held (by
 * us or anyone), else 1 after saying which partition another program
 * holds over the range of u->d, or 0 when none does. */
static int part_users(struct users *u, const char *name)
{
	char sys[PATH_MAX], p[PATH_MAX + 256], devno[32];
	int held_parts = 0, busy = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(sys, sizeof(sys), "/sys/block/%s", name);
	if (!(dir = opendir(sys)))
		return -1;
	while (!busy && (e = readdir(dir))) {
		unsigned int maj, min;
		struct device *pd;
		struct stat st;
		bool claimed;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", sys, e->d_name);
		if (read_sysfs(p, "partition", devno, sizeof(devno)) ||
		    read_sysfs(p, "dev", devno, sizeof(devno)) ||
		    sscanf(devno, "%u:%u", &maj, &min) != 2)
			continue;
		if (held_by_us(makedev(maj, min))) {
			held_parts = 1;
			continue;
		}
		if ((fd = open_devnum(makedev(maj, min))) < 0)
			continue;
		claimed = device_claimed(fd);
		if (claimed)
			held_parts = 1;
		if ((claimed || has_holders(p)) && fstat(fd, &st) == 0 &&
		    (pd = calloc(1, sizeof(*pd)))) {
			device_init(pd, "");
			set_identity(pd, fd, &st);
			/* (As loop_user: d's range rounded out to its pages; a
			 * partition not fully known counts as covering it.) */
			if (pd->ids_full ||
			    device_meet(u->d, u->off, u->len, pd, 0, UINT64_MAX,
					MEET_PLACED | MEET_PAGES_A)) {
				errmsg("%s: lies under /dev/%s, which is mounted or in use by "
				       "another program; refusing to write to it (--force to "
				       "write anyway)", u->d->path, e->d_name);
				busy = 1;
			}
			free_dirs(pd);
			free(pd);
		}
		close(fd);
	}
	closedir(dir);
	return busy ? 1 : held_parts ? 0 : -1;
}

/* Do the bytes of loop device fd (its own name aside) cover the range of
 * u->d, where d's bytes really are (not the file system a file lives on),
 * or share a page of d's page cache with it (d's range rounded out to
 * whole pages: a page of d's cache written holds the loop's bytes too, and
 * writes them back, or fails to be dropped, under whatever uses it)?  Not
 * fully known: taken as covering it.  1, 0, or -1 when what lies under it
 * could not be followed for a system call's failure (said: the limit of
 * open files, say, not the loop device as a user). */
static int loop_covers(const struct users *u, int fd, const char *name)
{
	struct device *t = calloc(1, sizeof(*t));
	struct stat st;
	int covers = 0;

	if (!t || fstat(fd, &st)) {
		errmsg("%s: cannot tell whether /dev/%s lies over it: %s; refusing", u->d->path,
		       name, err_text(t ? errno : ENOMEM));
		free(t);
		return -1;
	}
	set_identity(t, fd, &st);
	if (t->ids_full && t->ids_err) {
		errmsg("%s: cannot tell whether /dev/%s lies over it: %s; refusing", u->d->path,
		       name, err_text(t->ids_err));
		covers = -1;
	} else {
		covers = t->ids_full || device_meet(u->d, u->off, u->len, t, 0, UINT64_MAX,
						    MEET_PLACED | MEET_BELOW | MEET_PAGES_A);
	}
	free_dirs(t);
	free(t);
	return covers;
}

/* Is this loop device, over the range of d, mounted or held? */
static int loop_user(void *arg, int fd, dev_t dev, const char *name)
{
	struct users *u = arg;
	char sys[PATH_MAX];
	int busy = 0, covers;

	if (held_by_us(dev))
		return 0;                        /* another we hold */
	covers = loop_covers(u, fd, name);
	if (covers <= 0)
		return covers;                   /* not over d's range (or said) */
	busy = device_claimed(fd);
	/* A disk is claimed whenever one of its partitions is, by whoever
	 * claims that (the kernel makes the disk's holder the partitions'),
	 * and then the disk itself is not claimed by anyone.  So when one of
	 * its partitions is held, by us or by another, the partitions that
	 * another holds and that cover d's range are its users (ours, and
	 * those that do not cover it, are none). */
	if (busy) {
		int part = part_users(u, name);

		if (part >= 0)
			return part;
	}
	snprintf(sys, sizeof(sys), "/sys/block/%s", name);
	busy = busy || has_holders(sys);
	if (busy)
		errmsg("%s: lies under /dev/%s, which is mounted or in use by another program; "
		       "refusing to write to it (--force to write anyway)", u->d->path, name);
	return busy;
}

/* The active swap areas (/proc/swaps: a file or a device, its name with
 * octal escapes), read once per run, on the first destination checked:
 * each as a device whose identity says where it lies. */
struct swap_area {
	struct device *d;
	char name[PATH_MAX + 128];     /* as /proc/swaps names it */
};
static struct swap_area *swaps;
static unsigned int nswaps;
static bool swaps_read;
/* The first swap device /proc/swaps names by a name that does not lead
 * to it here (removed: "(deleted)"; given in another mount namespace, a
 * container's /dev; now another device's): its swap is somewhere, unseen. */
static char swap_unseen[PATH_MAX + 128];

/* The device a swap file's file system is on, as a swap area of its own
 * (named after the file). */
static bool swap_add(int fd, const struct stat *st, const char *path, const char *name)
{
	/* A device is large: not on the stack. */
	struct swap_area *v = realloc(swaps, (nswaps + 1) * sizeof(*swaps));

	if (v)
		swaps = v;
	if (!v || !(v[nswaps].d = calloc(1, sizeof(*v[nswaps].d))))
		return false;
	snprintf(v[nswaps].name, sizeof(v[nswaps].name), "%s", name);
	device_init(v[nswaps].d, path);
	set_identity(v[nswaps].d, fd, st);
	nswaps++;
	return true;
}

static void add_swap_fs_device(dev_t dev, const char *file)
{
	char name[PATH_MAX + 128];
	struct stat st;
	int fd = open_devnum(dev);

	if (fd < 0)
		return;
	snprintf(name, sizeof(name), "%.*s, a swap file of the file system on it", PATH_MAX, file);
	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev)
		swap_add(fd, &st, file, name);
	close(fd);
}

/* Does block device fd (O_PATH) hold a swap area of kib KiB, as
 * /proc/swaps gives it (the pages after the header, less bad ones)?  At
 * least that large (a device grown after mkswap, mkswap given a size), and
 * the swap signature at the end of its first page. */
static bool holds_swap(int fd, unsigned long long kib)
{
	long page = sysconf(_SC_PAGESIZE);
	char self[64], sig[10];
	uint64_t bytes = 0;
	bool ok;
	int r;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	r = open(self, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (r < 0 || page < 4096)
		return r >= 0 ? (close(r), false) : false;
	ok = ioctl(r, BLKGETSIZE64, &bytes) == 0 && bytes / 1024 >= kib &&
	     pread(r, sig, sizeof(sig), page - (long)sizeof(sig)) == (ssize_t)sizeof(sig) &&
	     (!memcmp(sig, "SWAPSPACE2", 10) || !memcmp(sig, "SWAP-SPACE", 10));
	close(r);
	return ok;
}

static void read_swaps(void)
{
	FILE *f = fopen("/proc/swaps", "re");
	char line[PATH_MAX + 128];

	swaps_read = true;
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f)) {    /* the heading */
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		struct stat st;
		char *sp = strpbrk(line, " \t");
		int fd;

		bool part;
		unsigned long long kib = 0;
		char type[16] = "";

		if (!sp)
			continue;
		*sp = 0;
		if (sscanf(sp + 1, "%15s %llu", type, &kib) < 1)
			continue;
		part = strcmp(type, "partition") == 0;
		unescape(line);
		fd = open(line, O_PATH | O_CLOEXEC);
		/* The kernel holds a swap device exclusively: a name that does
		 * not open, or opens a device nobody holds, is not the one; nor
		 * is one that does not hold that swap (its size, its signature:
		 * a name from another mount namespace may open another device
		 * here, held by someone else). */
		if (part && (fd < 0 || fstat(fd, &st) || !S_ISBLK(st.st_mode) || !device_claimed(fd) ||
			     !holds_swap(fd, kib))) {
			if (!swap_unseen[0])
				snprintf(swap_unseen, sizeof(swap_unseen), "%s", line);
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (fd < 0)
			continue;
		if (fstat(fd, &st) || !swap_add(fd, &st, line, line)) {
			close(fd);
			continue;
		}
		close(fd);
		/* A swap file: the kernel writes its swap by its blocks' places
		 * on the device its file system is on.  That device, whole, and
		 * what lies under it (a loop device's file), hold swap too. */
		if (!part && S_ISREG(st.st_mode) && major(st.st_dev) != 0)
			add_swap_fs_device(st.st_dev, line);
	}
	fclose(f);
}

/* Is block device dev the device of a mount here? */
static bool dev_mounted(dev_t dev)
{
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	char line[PATH_MAX * 2], want[32];
	bool found = false;

	if (!mi)
		return false;
	snprintf(want, sizeof(want), "%u:%u", major(dev), minor(dev));
	while (!found && fgets(line, sizeof(line), mi)) {
		const char *f = mi_field(line, 2);

		found = f && strcmp(f, want) == 0;
	}
	fclose(mi);
	return found;
}

/* Could block device fd (number dev, sysfs name name) be the swap that
 * swap_unseen names?  It is, if it is claimed by someone (not us), and
 * neither mounted here nor held by a device over it: what swap looks like. */
static bool maybe_unseen_swap(int fd, dev_t dev, const char *sys)
{
	if (held_by_us(dev) || !device_claimed(fd) || dev_mounted(dev))
		return false;
	return !has_holders(sys);        /* sys: its sysfs directory (a partition's too) */
}

static int loop_unseen_swap(void *arg, int fd, dev_t dev, const char *name)
{
	struct users *u = arg;
	char sys[PATH_MAX];

	int covers;

	snprintf(sys, sizeof(sys), "/sys/block/%s", name);
	if (!maybe_unseen_swap(fd, dev, sys))
		return 0;
	covers = loop_covers(u, fd, name);
	if (covers < 0)
		return 1;                        /* said */
	if (!covers)
		return 0;
	errmsg("%s: lies under /dev/%s, which may be swap space in use (held by the kernel, not "
	       "mounted; /proc/swaps names swap that cannot be found here: %s); refusing to write "
	       "to it, even with --force (swapoff it, or detach /dev/%s, first)", u->d->path, name,
	       swap_unseen, name);
	return 1;
}

/* Active swap space where [off, off + len) of d lies: writing it would
 * corrupt the memory of running programs.  Refused even with --force.
 * When /proc/swaps names a swap device that cannot be found, a device
 * that may be it (claimed, not mounted, no holders), d itself or a loop
 * device over d's range, is refused too. */
/* The swap area [off, off + len) of d meets (or shares a page of d's page
 * cache with: a buffered write of part of a page writes all of it back),
 * or -1. */
static int swap_meeting(const struct device *d, uint64_t off, uint64_t len)
{
	if (!swaps_read)
		read_swaps();
	for (unsigned int i = 0; i < nswaps; i++) {
		struct device *sw = swaps[i].d;

		if (sw->ids_full || device_meet(sw, 0, UINT64_MAX, d, off, len,
						MEET_PLACED | MEET_PAGES_B) != MEET_NONE)
			return (int)i;
	}
	return -1;
}

/* Is swap area i block device d itself (not a part of it)? */
static bool swap_is(int i, const struct device *d)
{
	const struct device *sw = swaps[i].d;

	return sw->id[0].valid && sw->id[0].ino == 0 && d->id[0].valid &&
	       d->id[0].ino == 0 && sw->id[0].dev == d->id[0].dev;
}

/* Swap area i is not fully known (what lies under it): it meets anything. */
static bool swap_unknown(int i)
{
	return swaps[i].d->ids_full;
}

static const char *swap_name(int i)
{
	return swaps[i].name;
}

static int check_swap(const struct device *d, uint64_t off, uint64_t len)
{
	int i = swap_meeting(d, off, len);

	if (i >= 0) {
		errmsg("%s: is (or holds) swap space in use, %s (/proc/swaps); refusing "
		       "to write to it, even with --force (swapoff it first)", d->path,
		       swaps[i].name);
		return -1;
	}
	if (swap_unseen[0]) {
		struct users u = { .d = d, .off = off, .len = len };
		char sys[PATH_MAX];

		if (d->kind == DEV_BLOCK && d->id[0].valid) {
			int fd = open_devnum(d->id[0].dev);
			bool hit = fd >= 0 && sysfs_dir(d->id[0].dev, sys) &&
				   maybe_unseen_swap(fd, d->id[0].dev, sys);

			if (fd >= 0)
				close(fd);
			if (hit) {
				errmsg("%s: may be swap space in use (held by the kernel, not "
				       "mounted; /proc/swaps names swap that cannot be found here: "
				       "%s); refusing to write to it, even with --force (swapoff it "
				       "first)", d->path, swap_unseen);
				return -1;
			}
		}
		if (each_loop(loop_unseen_swap, &u))
			return -1;
	}
	return 0;
}

/* Storage that a mounted file system lives on is refused, however it is
 * named: a file or device under a loop device that is mounted or held.
 * Swap space in use, always. */
int device_check_users(const struct device *d, uint64_t off, uint64_t len,
		       const struct options *o)
{
	struct users u = { .d = d, .off = off, .len = len };

	if (d->kind == DEV_NEW || len == 0)
		return 0;
	if (check_swap(d, off, len))
		return -1;
	if (o->force)
		return 0;
	/* A block device a loop device (ours) lies on: itself mounted or held?
	 * (Not a partition's disk: that is held whenever another partition is.) */
	for (int i = 0; i < MAX_IDS; i++) {
		const struct identity *x = &d->id[i];
		char sys[PATH_MAX];
		bool busy;
		int fd;

		if (!x->valid || !x->backing || x->anywhere || held_by_us(x->dev))
			continue;
		fd = open_devnum(x->dev);
		if (fd < 0)
			continue;
		busy = device_claimed(fd);
		close(fd);
		if (busy) {
			errmsg("%s: lies on /dev/%s, which is mounted or in use by another program; "
			       "refusing to write to it (--force to write anyway)", d->path,
			       sysfs_dir(x->dev, sys) ? basename(sys) : "?");
			return -1;
		}
	}
	return each_loop(loop_user, &u) ? -1 : 0;
}

/* What the command writes its own output to (standard output and error)
 * must not be one of its devices: a destination would receive both, a
 * source would change under the copy. */
int device_check_output(struct device *src, uint64_t src_off, struct device *dests,
			unsigned int n, uint64_t dst_off, uint64_t len)
{
	static const char *const names[] = { NULL, "standard output", "standard error" };

	for (int fd = 1; fd <= 2; fd++) {
		struct device out;
		struct stat st;

		if (fstat(fd, &st) || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)))
			continue;
		device_init(&out, names[fd]);
		set_identity(&out, fd, &st);
		for (int k = 0; k < MAX_IDS; k++)
			out.id[k].anywhere = true;      /* it is written anywhere in it */
		for (unsigned int i = 0; i <= n; i++) {
			struct device *d = i < n ? &dests[i] : src;

			if (!d || d->kind == DEV_NEW)
				continue;
			/* (Where the output lies not fully known: taken as there.) */
			if (out.ids_full ||
			    device_meet(&out, 0, UINT64_MAX, d, i < n ? dst_off : src_off, len, 0)) {
				/* Not even this message goes there, when it is
				 * standard error (kept for the JSON): nothing written. */
				if (fd == 2) {
					fflush(stderr);
					fd_to_null(2, O_WRONLY);
				}
				errmsg("%s: is also where the command's %s goes; refusing to use it "
				       "as %s", d->path, names[fd], d == src ? "the source" :
				       "a destination");
				/* Not even the JSON summary goes there: nothing written. */
				if (fd == 1) {
					int err;

					fflush(stdout);
					if ((err = fd_to_null(1, O_WRONLY)))
						errmsg("cannot close standard output: %s",
						       strerror(-err));
				}
				free_dirs(&out);
				return -1;
			}
		}
		free_dirs(&out);
	}
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
	if (off > d->size) {
		/* The offset alone: its option is the first one opt names. */
		errmsg("%s: %.*s %llu is past the end of the %s (%s, %llu bytes)", d->path,
		       (int)strcspn(opt, "/"), opt, (unsigned long long)off, device_kind_name(d),
		       human_size(d->size, a, sizeof(a)), (unsigned long long)d->size);
		return -1;
	}
	if (len > d->size - off) {
		errmsg("%s: %s %llu plus %llu bytes ends past the end of the %s (%s, %llu bytes)",
		       d->path, opt, (unsigned long long)off, (unsigned long long)len,
		       device_kind_name(d), human_size(d->size, a, sizeof(a)),
		       (unsigned long long)d->size);
		return -1;
	}
	return device_check_part_block(d, opt, off, len);
}

/* A block device whose size is not a whole number of its logical blocks
 * (a loop device given a --sizelimit that is not): the kernel neither
 * reads nor writes the part-block at its end, by any means. */
int device_check_part_block(const struct device *d, const char *opt, uint64_t off, uint64_t len)
{
	if (d->kind == DEV_BLOCK && d->lbs > KCOPYD_SECTOR_SIZE && d->size % d->lbs && len &&
	    off < d->size && off + len > d->size - d->size % d->lbs) {
		uint64_t usable = d->size - d->size % d->lbs;

		errmsg("%s: its size, %llu bytes, is not a multiple of its logical block size "
		       "(%u bytes): the kernel can neither read nor write its last %llu bytes, "
		       "from byte %llu on, which %s %llu plus %llu bytes reaches; the range must "
		       "end by byte %llu", d->path, (unsigned long long)d->size, d->lbs,
		       (unsigned long long)(d->size - usable), (unsigned long long)usable, opt,
		       (unsigned long long)off, (unsigned long long)len,
		       (unsigned long long)usable);
		return -1;
	}
	/* The same for a block device under it (a loop device over such a
	 * one: its writes there are dropped, its reads fail). */
	for (int k = 1; d->kind == DEV_BLOCK && len && k < MAX_IDS; k++) {
		const struct identity *x = &d->id[k];
		char sys[PATH_MAX];
		uint64_t s, e, size, lbs, usable;

		if (!x->valid || x->ino || x->anywhere || !id_range(x, off, len, &s, &e) ||
		    !sysfs_dir(x->dev, sys))
			continue;
		size = sysfs_u64(sys, "size") * KCOPYD_SECTOR_SIZE;
		lbs = sysfs_u64(sys, "queue/logical_block_size");
		if (lbs <= KCOPYD_SECTOR_SIZE || !size || size % lbs == 0)
			continue;
		usable = size - size % lbs;
		if (e <= usable || s >= size)
			continue;
		errmsg("%s: lies on /dev/%s, whose size, %llu bytes, is not a multiple of its "
		       "logical block size (%llu bytes): the kernel can neither read nor write its "
		       "last %llu bytes, which %s %llu plus %llu bytes reaches; the range must end "
		       "by byte %llu", d->path, basename(sys), (unsigned long long)size,
		       (unsigned long long)lbs, (unsigned long long)(size - usable), opt,
		       (unsigned long long)off, (unsigned long long)len,
		       (unsigned long long)(usable > x->start ? usable - x->start : 0));
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
			errmsg("%s: cannot create: %s", d->path, err_text(errno));
			return -1;
		}
		d->created = true;
		if (device_lock(d, true))
			return -1;
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

/* What a stop that cannot wait for the set-up leaves: the files made or
 * grown so far, nothing written in them; busy: the one being set up now
 * (or -1), which may be; undoing: they are being put back, each may be
 * already. */
static void prepare_words(const struct device *dests, unsigned int n, int busy, bool undoing)
{
	char list[768];
	size_t len = 0;

	list[0] = 0;
	for (unsigned int i = 0; i < n && len < sizeof(list); i++) {
		const struct device *d = &dests[i];
		const char *how = d->created ? "created" : d->extended ? "extended" : NULL;
		int k;

		if (!how && (int)i == busy && (d->kind == DEV_NEW ||
					       (d->kind == DEV_FILE && d->need > d->size)))
			how = d->kind == DEV_NEW ? "being created" : "being extended";
		if (!how)
			continue;
		k = snprintf(list + len, sizeof(list) - len, "%s%s (%s by this run)", len ? ", " : "",
			     d->path, how);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (len)
		signals_last_words("; nothing was written, but these %s left as set up: %s",
				   undoing ? "may be" : "are", list);
	else
		signals_last_words("; nothing was written");
}

/* Create new files and extend short ones, all or none. */
int device_prepare(struct device *dests, unsigned int n)
{
	signals_busy("the set-up of the destinations (an open, a create) under way");
	for (unsigned int i = 0; i < n; i++) {
		prepare_words(dests, n, (int)i, false);
		if (prepare_one(&dests[i])) {
			device_undo(dests, n);
			signals_busy(NULL);
			signals_last_words(NULL);
			return -1;
		}
	}
	prepare_words(dests, n, -1, false);
	return 0;
}

/* The set-up of the destinations ended (device_prepare, their opens): a
 * stop signal that came meanwhile undoes it (0 when none came). */
int device_prepared(struct device *dests, unsigned int n)
{
	int stop = signal_caught();

	if (stop)
		device_undo(dests, n);
	signals_busy(NULL);
	signals_last_words(NULL);
	return stop ? -1 : 0;
}

/* Put back what device_prepare() did: nothing was written yet. */
void device_undo(struct device *dests, unsigned int n)
{
	bool any = false;

	for (unsigned int i = 0; i < n; i++)
		any |= dests[i].created || dests[i].extended;
	if (!any)
		return;
	/* A stop that cannot wait for it says what is still left. */
	signals_busy("the undoing of the set-up of the destinations (a remove, a truncate)");
	prepare_words(dests, n, -1, true);
	for (unsigned int i = 0; i < n; i++) {
		struct device *d = &dests[i];

		if (d->created && unlink(d->path))
			errmsg("%s: could not remove it (this run created it): %s", d->path,
			       strerror(errno));
		else if (!d->created && d->extended && ftruncate(d->fd, (off_t)d->size))
			errmsg("%s: could not shrink back to %llu bytes: %s", d->path,
			       (unsigned long long)d->size, strerror(errno));
		else
			d->created = d->extended = false;
		prepare_words(dests, n, -1, true);
	}
}

/* The library opens its own descriptors (and an O_DIRECT one) by name: it
 * is given our descriptor's name in /proc/self/fd, which reaches the file
 * we checked whatever the path names now.  Without /proc, the path, and
 * the check that it still names our file before and after. */
int device_open_lib(struct device *d, int acc, const struct options *o)
{
	char self[64];
	const char *name = d->path;
	unsigned int flags = 0;
	struct stat ours, st;
	int ret;

	if (o->direct)
		flags |= KCOPYD_BDEV_DIRECT;
	else if (o->buffered)
		flags |= KCOPYD_BDEV_BUFFERED;
	if (d->fd < 0 || fstat(d->fd, &ours)) {
		errmsg("%s: cannot open: %s", d->path, strerror(d->fd < 0 ? EBADF : errno));
		return -1;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", d->fd);
	if (stat(self, &st) == 0 && stat_same_file(&st, &ours))
		name = self;
	else if (stat(d->path, &st) || !stat_same_file(&st, &ours))
		goto changed;
	ret = kcopyd_bdev_open_ex(name, acc, flags, &d->bd);
	if (ret == -EINVAL && o->direct)
		errmsg("%s: does not support O_DIRECT (--direct); try without it", d->path);
	else if (ret)
		errmsg("%s: cannot open: %s", d->path, err_text(-ret));
	if (ret)
		return -1;
	if ((name == self || (stat(d->path, &st) == 0 && stat_same_file(&st, &ours))) &&
	    kcopyd_bdev_is_blockdev(d->bd) == (d->kind == DEV_BLOCK) &&
	    (d->kind != DEV_BLOCK || kcopyd_bdev_size(d->bd) == d->size))
		return 0;
	kcopyd_bdev_close(d->bd);
	d->bd = NULL;
changed:
	errmsg("%s: changed while it was being opened", d->path);
	return -1;
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
	free(d->upper_canon);
	d->upper_canon = NULL;
	free_dirs(d);
}

/* Keep a device's first failure; a later report of the same kind at a
 * lower offset (jobs finish out of order) replaces it. */
void device_fail(struct device *d, const char *what, int errnum, uint64_t off)
{
	struct rlimit rl;

	/* Past the file size limit (ulimit -f lowered during the run): the
	 * library names the sector the limit is in; the byte is the limit. */
	if (errnum == -EFBIG && getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur > off && rl.rlim_cur - off < KCOPYD_SECTOR_SIZE)
		off = (uint64_t)rl.rlim_cur;
	if (d->failed && !(strcmp(d->what, what) == 0 && off < d->err_off))
		return;
	d->failed = true;
	d->what = what;
	d->err = errnum;
	d->err_off = off;
}
