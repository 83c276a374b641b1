/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local endpoint: a regular file or a block device.
 *
 * Each device keeps a buffered descriptor and, where the file system or
 * device accepts it, an O_DIRECT one; every request goes through the direct
 * one when its offset, length and buffer are aligned for it, else through
 * the buffered one (odd sector offsets on a file, the tail of a file whose
 * size is not a multiple of the direct I/O alignment).
 *
 * Its requests are system calls (struct kc_sysreq) that the client's
 * backend runs: io_uring, or the thread workers.  Each ends in one of the
 * done functions here, on the engine thread, which may try the next fast
 * path (zeroing: punch a hole, then zero a range) before it reports the
 * request to the engine.  The engine never sees a descriptor, an fallocate
 * mode or one of these flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"

/* The zeroing fast paths, in the order they are tried.  PUNCH_HOLE first:
 * on a file it frees the blocks, so zeroing never allocates (a sparse
 * destination stays sparse, a nearly full file system does not fill up);
 * on a block device the kernel turns it into a write-zeroes that may unmap
 * and never falls back to writing zeros (a loop device punches a hole in
 * its backing file; a device without write-zeroes says EOPNOTSUPP).  Then
 * ZERO_RANGE: on a file it allocates zeroed blocks; on a block device it is
 * BLKZEROOUT, which writes zeros where the device cannot do better.  Both
 * read back as zeros.  None left: the engine writes a zeroed buffer. */
static const int zero_modes[] = {
	FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
};

struct file_dev {
	int fd;                       /* buffered (always open) */
	int fd_direct;                /* -1 when O_DIRECT is not used */
	unsigned int dio_align;       /* O_DIRECT offset/length/memory alignment */
	bool blockdev;
	bool blocking;                /* requests go as KC_SYS_BLOCKING (user_errors) */
	dev_t id_dev;                 /* identity, to find overlaps: */
	ino_t id_ino;                 /* st_dev/st_ino, or st_rdev/0 */
	struct kc_paths zero;         /* zero_modes[] not refused yet */
	/* copy_file_range not refused yet (a buffered regular file).  Every
	 * client using the device reads and clears it from its own engine
	 * thread: an atomic, that only ever goes from true to false. */
	atomic_bool can_copy;
};

static struct file_dev *dev_of(const struct block_device *bd)
{
	return bd->priv;
}

static struct kc_io *io_of(struct kc_sysreq *r)
{
	return (struct kc_io *)((char *)r - offsetof(struct kc_io, ep.sys));
}

static bool aligned(uint64_t v, unsigned int a)
{
	return (v & (a - 1)) == 0;
}

static void rw_done(struct kcopyd_client *kc, struct kc_sysreq *r, int res)
{
	struct kc_io *io = io_of(r);
	struct file_dev *f = dev_of(io->bd);

	/* O_DIRECT refused a request its alignment allows: the kernel cut it
	 * to a length it cannot take direct (a file size limit, RLIMIT_FSIZE,
	 * inside it), or the file system will not take this one direct.  Once
	 * more through the buffered descriptor, which does it, or says what is
	 * wrong (EFBIG at the limit). */
	if (res == -EINVAL && f->fd_direct >= 0 && r->fd == f->fd_direct && f->fd >= 0) {
		r->fd = f->fd;
		r->flags = f->blocking ? KC_SYS_BLOCKING :
			   r->op == KC_SYS_WRITE && kc->punt_writes ? KC_SYS_ASYNC : 0;
		kc_sys_submit(kc, r);
		return;
	}
	kc_io_report(kc, io, res);
}

static void start_rw(struct kcopyd_client *kc, struct kc_io *io)
{
	struct file_dev *f = dev_of(io->bd);
	struct kc_sysreq *r = &io->ep.sys;
	bool direct = f->fd_direct >= 0 && aligned(io->off + io->done, f->dio_align) &&
		      aligned(io->len - io->done, f->dio_align) &&
		      aligned((uintptr_t)(io->buf + io->done), f->dio_align);

	r->op = io->op == KC_OP_READ ? KC_SYS_READ : KC_SYS_WRITE;
	r->fd = direct ? f->fd_direct : f->fd;
	r->buf = io->buf + io->done;
	r->off = io->off + io->done;
	r->len = io->len - io->done;
	/* A buffered write is a memcpy into the page cache that io_uring would
	 * do inline, on the engine thread, one destination after another; on
	 * io_uring's workers the destinations are written in parallel while
	 * the engine goes on reading.  Direct I/O is asynchronous already, and
	 * only it gains from the pool being registered with the kernel. */
	r->flags = f->blocking ? KC_SYS_BLOCKING : direct ? KC_SYS_FIXED_OK :
		   r->op == KC_SYS_WRITE && kc->punt_writes ? KC_SYS_ASYNC : 0;
	r->done = rw_done;
	kc_sys_submit(kc, r);
}

static void start_zero(struct kcopyd_client *kc, struct kc_io *io);

/* A zeroing path that is not supported here is forgotten (the one this
 * request tried, not whichever is first now: other requests, of this
 * client or another, may have failed it already and moved on), and the
 * next is tried.  On a block device held exclusively (O_EXCL), the
 * kernel cannot drop the cached pages of the range (our own buffered
 * writes' dirty pages in the same page, say): EBUSY, and writes do it. */
static void zero_done(struct kcopyd_client *kc, struct kc_sysreq *r, int res)
{
	struct kc_io *io = io_of(r);

	if (res == -EOPNOTSUPP || res == -EINVAL || res == -ENOTTY || res == -ENODEV ||
	    (res == -EBUSY && dev_of(io->bd)->blockdev)) {
		kc_paths_drop(&dev_of(io->bd)->zero, r->tag);
		start_zero(kc, io);
		return;
	}
	kc_io_report(kc, io, res);
}

static void start_zero(struct kcopyd_client *kc, struct kc_io *io)
{
	struct file_dev *f = dev_of(io->bd);
	struct kc_sysreq *r = &io->ep.sys;
	int path = kc_paths_next(&f->zero);

	if (path < 0) {
		kc_io_report(kc, io, -EOPNOTSUPP);
		return;
	}
	r->op = KC_SYS_FALLOCATE;
	r->fd = f->fd;
	r->mode = zero_modes[path];
	r->tag = (uint8_t)path;       /* zero_done drops it if refused */
	r->buf = NULL;
	r->off = io->off;
	r->len = io->len;
	r->flags = f->blocking ? KC_SYS_BLOCKING : 0;
	r->done = zero_done;
	kc_sys_submit(kc, r);
}

/* copy_file_range refused for these two files: not again on this one. */
static void copy_done(struct kcopyd_client *kc, struct kc_sysreq *r, int res)
{
	struct kc_io *io = io_of(r);

	if (res == -EXDEV || res == -EOPNOTSUPP || res == -EINVAL || res == -ENOSYS)
		atomic_store_explicit(&dev_of(io->bd)->can_copy, false, memory_order_relaxed);
	kc_io_report(kc, io, res);
}

static void start_copy(struct kcopyd_client *kc, struct kc_io *io)
{
	struct kc_sysreq *r = &io->ep.sys;

	r->op = KC_SYS_COPY_RANGE;
	r->fd = dev_of(io->bd)->fd;
	r->src_fd = dev_of(io->src)->fd;
	r->off = io->off + io->done;
	r->src_off = io->src_off + io->done;
	r->len = io->len - io->done;
	r->flags = 0;
	r->done = copy_done;
	kc_sys_submit(kc, r);
}

static void file_submit(struct kcopyd_client *kc, struct kc_io *io)
{
	switch (io->op) {
	case KC_OP_ZERO:
		start_zero(kc, io);
		break;
	case KC_OP_COPY:
		/* The engine asks only when both sides are of these ops and
		 * offer KC_CAP_COPY_FROM (kcopyd_copy's can_offload). */
		start_copy(kc, io);
		break;
	default:
		start_rw(kc, io);
		break;
	}
}

/* An fsync the file system answers EINTR (a FUSE server may) is tried
 * again, as the engine tries a read or write again: 10 times in a row at
 * most, after a pause that doubles from 1 ms. */
static int file_flush(struct block_device *bd)
{
	for (unsigned int tries = 0;; tries++) {
		if (fsync(dev_of(bd)->fd) == 0)
			return 0;
		if (errno != EINTR || tries >= 10)
			return -errno;
		usleep(1000u << (tries < 7 ? tries : 7));
	}
}

static void file_close(struct block_device *bd)
{
	struct file_dev *f = dev_of(bd);

	if (f->fd_direct >= 0)
		close(f->fd_direct);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
	bd->priv = NULL;
}

static unsigned int file_caps(const struct block_device *bd)
{
	struct file_dev *f = dev_of(bd);

	return (kc_paths_any(&f->zero) ? KC_CAP_ZERO : 0) |
	       (atomic_load_explicit(&f->can_copy, memory_order_relaxed) ? KC_CAP_COPY_FROM : 0) |
	       (f->fd_direct >= 0 ? KC_CAP_DIRECT : 0) | (f->blockdev ? KC_CAP_BLOCKDEV : 0);
}

/* One file (st_dev, st_ino) or one block device (st_rdev): a block device
 * and a file are distinct here, as are a loop device and its backing file
 * (the command's set-up checks see through those). */
static bool file_same_storage(const struct block_device *a, const struct block_device *b)
{
	const struct file_dev *fa = dev_of(a), *fb = dev_of(b);

	return fa->blockdev == fb->blockdev && fa->id_dev == fb->id_dev && fa->id_ino == fb->id_ino;
}

static const struct kc_endpoint_ops file_ops = {
	.name = "file",
	.caps = file_caps,
	.same_storage = file_same_storage,
	.submit = file_submit,
	.flush = file_flush,
	.close = file_close,
};

static int probe_blockdev(struct block_device *bd, struct file_dev *f)
{
	uint64_t bytes;
	int lbs, pbs;

	if (ioctl(f->fd, BLKGETSIZE64, &bytes) < 0 || ioctl(f->fd, BLKSSZGET, &lbs) < 0)
		return -errno;
	if (ioctl(f->fd, BLKPBSZGET, &pbs) < 0)
		pbs = lbs;
	bd->geom.size = bytes;
	bd->geom.lbs = (unsigned int)lbs;
	bd->geom.pbs = (unsigned int)pbs;
	return 0;
}

/* Whether two stats describe the same file or device node. */
static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_rdev == b->st_rdev &&
	       (a->st_mode & S_IFMT) == (b->st_mode & S_IFMT);
}

/* Open the O_DIRECT descriptor and learn its alignment.  It is opened from
 * the first descriptor, through /proc/self/fd, not by its path again: by now
 * the path may name another file (renamed or replaced), and the two
 * descriptors of one device must reach the same bytes.  Where /proc is not
 * mounted it is opened by path, and it must then be the same file as the
 * first descriptor (st is its fstat), else -ESTALE.  Returns 0 when there
 * is none (the file system refuses O_DIRECT) unless it is required. */
static int open_direct(struct block_device *bd, struct file_dev *f, const struct stat *st,
		       const char *path, int acc, bool required)
{
	char self[40];
	struct statx stx;
	struct stat dst;
	unsigned int align;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", f->fd);
	f->fd_direct = open(self, acc | O_DIRECT | O_CLOEXEC);
	if (f->fd_direct < 0 && errno == ENOENT)
		f->fd_direct = open(path, acc | O_DIRECT | O_CLOEXEC);
	if (f->fd_direct < 0) {
		int err = errno;

		if (err == EINVAL && !required)
			return 0;
		return -err;
	}
	if (fstat(f->fd_direct, &dst) < 0)
		return -errno;
	if (!same_file(st, &dst))
		return -ESTALE;
	align = f->blockdev ? bd->geom.lbs : 4096;
	if (statx(f->fd_direct, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		align = stx.stx_dio_offset_align;
		if (stx.stx_dio_mem_align > align)
			align = stx.stx_dio_mem_align;
	}
	f->dio_align = align;
	return 0;
}

static bool in_memory_fs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 &&
	       (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

/* Whether copy_file_range here tells the truth as a read does.  Not on
 * FUSE: there the kernel copies through the page cache, takes a short
 * reply of the daemon's for the end of the file, fills the rest with
 * zeros and says it copied it all (a read error inside the range is lost
 * the same way); a read says how short it was, and the engine goes on. */
static bool copy_truthful(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && sfs.f_type != FUSE_SUPER_MAGIC;
}

/* Whether the file system's errors come from user space (a FUSE daemon, a
 * 9p server), which may answer any errno, -EAGAIN too: io_uring reissues
 * a read or write that ends so, in the kernel, for as long as the answer
 * stays the same, and the copy would hang.  Their requests go to worker
 * threads (KC_SYS_BLOCKING), where a -EAGAIN comes back to the engine,
 * which retries a few times, then says so. */
static bool user_errors(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 &&
	       (sfs.f_type == FUSE_SUPER_MAGIC || sfs.f_type == V9FS_MAGIC);
}

static int open_dev(const char *path, int acc, unsigned int bflags, struct block_device *bd,
		    struct file_dev *f)
{
	struct stat st;
	int ret;

	/* stat first: opening a FIFO would block, and O_EXCL is only for
	 * block devices. */
	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -ENODEV;
	f->blockdev = S_ISBLK(st.st_mode);
	f->fd = open(path, acc | O_CLOEXEC |
		     (f->blockdev && (bflags & KCOPYD_BDEV_EXCL) ? O_EXCL : 0));
	if (f->fd < 0)
		return -errno;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode) != f->blockdev || (!f->blockdev && !S_ISREG(st.st_mode)))
		return -EAGAIN;         /* replaced between stat and open */
	if (f->blockdev) {
		ret = probe_blockdev(bd, f);
		if (ret)
			return ret;
		f->id_dev = st.st_rdev;
		f->id_ino = 0;
	} else {
		bd->geom.size = (uint64_t)st.st_size;
		bd->geom.lbs = KCOPYD_SECTOR_SIZE;
		bd->geom.pbs = st.st_blksize > 0 ? (unsigned int)st.st_blksize : 4096;
		f->id_dev = st.st_dev;
		f->id_ino = st.st_ino;
	}
	kc_paths_init(&f->zero, sizeof(zero_modes) / sizeof(zero_modes[0]));
	bd->geom.sectors = (bd->geom.size + KCOPYD_SECTOR_SIZE - 1) >> KCOPYD_SECTOR_SHIFT;
	bd->geom.writable = acc == O_RDWR;
	bd->geom.clip_at_size = !f->blockdev;
	/* Memory file systems: O_DIRECT means nothing there, so do not pretend. */
	if (!(bflags & KCOPYD_BDEV_DIRECT) && !f->blockdev && in_memory_fs(f->fd))
		bflags |= KCOPYD_BDEV_BUFFERED;
	if (!(bflags & KCOPYD_BDEV_BUFFERED)) {
		ret = open_direct(bd, f, &st, path, acc, bflags & KCOPYD_BDEV_DIRECT);
		if (ret)
			return ret;
	}
	f->can_copy = !f->blockdev && f->fd_direct < 0 && copy_truthful(f->fd);
	f->blocking = !f->blockdev && user_errors(f->fd);
	return 0;
}

int kc_file_open(const char *path, int acc, unsigned int bflags, struct block_device *bd)
{
	struct file_dev *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	f->fd = f->fd_direct = -1;
	f->dio_align = 4096;
	bd->ops = &file_ops;
	bd->priv = f;
	ret = open_dev(path, acc, bflags, bd, f);
	if (ret)
		file_close(bd);
	return ret;
}
