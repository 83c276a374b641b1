/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local endpoint: a regular file or a block device.
 *
 * Each device keeps a buffered descriptor and, where the file system or
 * device accepts it, an O_DIRECT one; every request goes through the direct
 * one when its offset, length and buffer are aligned for it, else through
 * the buffered one (odd sector offsets on a file, the tail of a file whose
 * size is not a multiple of the direct I/O alignment).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"

#define BDEV_FLAGS (KCOPYD_BDEV_DIRECT | KCOPYD_BDEV_BUFFERED | KCOPYD_BDEV_EXCL)

static bool aligned(uint64_t v, unsigned int a)
{
	return (v & (a - 1)) == 0;
}

static void file_submit(struct kcopyd_client *kc, struct kc_io *io)
{
	struct block_device *bd = io->bd;
	int fd = bd->fd;

	if (io->op == KC_OP_COPY) {
		kc_tpool_submit(kc->offload, bd->fd, io);
		return;
	}
	if (io->op == KC_OP_ZERO) {
		/* The order of the fast paths: kc_zero_mode().  zero_fallback()
		 * clears the one this request tried if it is not supported. */
		io->zero_mode = (uint8_t)kc_zero_mode(bd);
		if (!io->zero_mode) {
			kc_io_report(kc, io, -EOPNOTSUPP);
			return;
		}
		kc->backend->fallocate(kc, fd, io, io->zero_mode);
		return;
	}
	if (bd->fd_direct >= 0 && aligned(io->off + io->done, bd->dio_align) &&
	    aligned(io->len - io->done, bd->dio_align) &&
	    aligned((uintptr_t)(io->buf + io->done), bd->dio_align))
		fd = bd->fd_direct;
	/* A buffered write is a memcpy into the page cache that io_uring would
	 * do inline, on the engine thread, one destination after another; on
	 * io_uring's workers the destinations are written in parallel while
	 * the engine goes on reading.  Direct I/O is asynchronous already. */
	io->direct = fd == bd->fd_direct;
	io->punt = io->op == KC_OP_WRITE && !io->direct && kc->punt_writes;
	kc->backend->rw(kc, fd, io);
}

static int file_flush(struct block_device *bd)
{
	return fsync(bd->fd) < 0 ? -errno : 0;
}

static void file_close(struct block_device *bd)
{
	if (bd->fd_direct >= 0)
		close(bd->fd_direct);
	close(bd->fd);
}

static unsigned int file_caps(const struct block_device *bd)
{
	return (kc_cap(&bd->can_zero_range) || kc_cap(&bd->can_punch_hole) ? KC_CAP_ZERO : 0) |
	       (kc_cap(&bd->can_offload) ? KC_CAP_COPY_FROM : 0) |
	       (bd->fd_direct >= 0 ? KC_CAP_DIRECT : 0) | (bd->blockdev ? KC_CAP_BLOCKDEV : 0);
}

/* One file (st_dev, st_ino) or one block device (st_rdev): a block device
 * and a file are distinct here, as are a loop device and its backing file
 * (the command's set-up checks see through those). */
static bool file_same_storage(const struct block_device *a, const struct block_device *b)
{
	return a->blockdev == b->blockdev && a->id_dev == b->id_dev && a->id_ino == b->id_ino;
}

const struct kc_endpoint_ops kc_endpoint_file = {
	.name = "file",
	.caps = file_caps,
	.same_storage = file_same_storage,
	.submit = file_submit,
	.flush = file_flush,
	.close = file_close,
};

static int probe_blockdev(struct block_device *bd)
{
	uint64_t bytes;
	int lbs, pbs;

	if (ioctl(bd->fd, BLKGETSIZE64, &bytes) < 0 || ioctl(bd->fd, BLKSSZGET, &lbs) < 0)
		return -errno;
	if (ioctl(bd->fd, BLKPBSZGET, &pbs) < 0)
		pbs = lbs;
	bd->geom.size = bytes;
	bd->geom.lbs = (unsigned int)lbs;
	bd->geom.pbs = (unsigned int)pbs;
	bd->can_zero_range = bd->can_punch_hole = true;
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
static int open_direct(struct block_device *bd, const struct stat *st, const char *path,
		       int acc, bool required)
{
	char self[40];
	struct statx stx;
	struct stat dst;
	unsigned int align;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", bd->fd);
	bd->fd_direct = open(self, acc | O_DIRECT | O_CLOEXEC);
	if (bd->fd_direct < 0 && errno == ENOENT)
		bd->fd_direct = open(path, acc | O_DIRECT | O_CLOEXEC);
	if (bd->fd_direct < 0) {
		int err = errno;

		if (err == EINVAL && !required)
			return 0;
		return -err;
	}
	if (fstat(bd->fd_direct, &dst) < 0)
		return -errno;
	if (!same_file(st, &dst))
		return -ESTALE;
	align = bd->blockdev ? bd->geom.lbs : 4096;
	if (statx(bd->fd_direct, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		align = stx.stx_dio_offset_align;
		if (stx.stx_dio_mem_align > align)
			align = stx.stx_dio_mem_align;
	}
	bd->dio_align = align;
	return 0;
}

static bool in_memory_fs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 &&
	       (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

static int bdev_open(const char *path, int acc, unsigned int bflags, struct block_device *bd)
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
	bd->blockdev = S_ISBLK(st.st_mode);
	bd->fd = open(path, acc | O_CLOEXEC |
		      (bd->blockdev && (bflags & KCOPYD_BDEV_EXCL) ? O_EXCL : 0));
	if (bd->fd < 0)
		return -errno;
	if (fstat(bd->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode) != bd->blockdev || (!bd->blockdev && !S_ISREG(st.st_mode)))
		return -EAGAIN;         /* replaced between stat and open */
	if (bd->blockdev) {
		ret = probe_blockdev(bd);
		if (ret)
			return ret;
		bd->id_dev = st.st_rdev;
		bd->id_ino = 0;
	} else {
		bd->geom.size = (uint64_t)st.st_size;
		bd->geom.lbs = KCOPYD_SECTOR_SIZE;
		bd->geom.pbs = st.st_blksize > 0 ? (unsigned int)st.st_blksize : 4096;
		bd->can_zero_range = bd->can_punch_hole = true;
		bd->id_dev = st.st_dev;
		bd->id_ino = st.st_ino;
	}
	bd->geom.sectors = (bd->geom.size + KCOPYD_SECTOR_SIZE - 1) >> KCOPYD_SECTOR_SHIFT;
	bd->geom.writable = acc == O_RDWR;
	bd->geom.clip_at_size = !bd->blockdev;
	/* Memory file systems: O_DIRECT means nothing there, so do not pretend. */
	if (!(bflags & KCOPYD_BDEV_DIRECT) && !bd->blockdev && in_memory_fs(bd->fd))
		bflags |= KCOPYD_BDEV_BUFFERED;
	if (!(bflags & KCOPYD_BDEV_BUFFERED)) {
		ret = open_direct(bd, &st, path, acc, bflags & KCOPYD_BDEV_DIRECT);
		if (ret)
			return ret;
	}
	bd->can_offload = !bd->blockdev && bd->fd_direct < 0;
	return 0;
}

static int bdev_open_ex(const char *path, int open_flags, unsigned int bdev_flags,
			struct block_device **result)
{
	struct block_device *bd;
	int acc = open_flags & O_ACCMODE, ret;

	if (!path || !result || (open_flags & ~O_ACCMODE) ||
	    (acc != O_RDONLY && acc != O_RDWR) || (bdev_flags & ~BDEV_FLAGS) ||
	    ((bdev_flags & KCOPYD_BDEV_DIRECT) && (bdev_flags & KCOPYD_BDEV_BUFFERED)))
		return -EINVAL;
	bd = calloc(1, sizeof(*bd));
	if (!bd)
		return -ENOMEM;
	bd->ops = &kc_endpoint_file;
	bd->fd = bd->fd_direct = -1;
	bd->dio_align = 4096;
	ret = bdev_open(path, acc, bdev_flags, bd);
	if (ret) {
		if (bd->fd_direct >= 0)
			close(bd->fd_direct);
		if (bd->fd >= 0)
			close(bd->fd);
		free(bd);
		return ret;
	}
	*result = bd;
	return 0;
}

static const struct block_device *unwrap(const struct block_device *bd)
{
	while (bd->ops->base)
		bd = bd->ops->base(bd);
	return bd;
}

bool kc_same_storage(const struct block_device *a, const struct block_device *b)
{
	a = unwrap(a);
	b = unwrap(b);
	return a == b || (a->ops == b->ops && a->ops->same_storage && a->ops->same_storage(a, b));
}

/* The public entry points keep errno as they found it. */
KC_EXPORT int kcopyd_bdev_open_ex(const char *path, int open_flags, unsigned int bdev_flags,
				  struct block_device **result)
{
	KC_ERRNO_SAVE;
	int ret = bdev_open_ex(path, open_flags, bdev_flags, result);

	KC_ERRNO_RESTORE;
	return ret;
}

KC_EXPORT int kcopyd_bdev_open(const char *path, int open_flags, struct block_device **result)
{
	return kcopyd_bdev_open_ex(path, open_flags, 0, result);
}

KC_EXPORT void kcopyd_bdev_close(struct block_device *bdev)
{
	KC_ERRNO_SAVE;

	if (!bdev)
		return;
	bdev->ops->close(bdev);
	free(bdev);
	KC_ERRNO_RESTORE;
}

KC_EXPORT sector_t kcopyd_bdev_sectors(const struct block_device *bdev)
{
	return bdev ? bdev->geom.sectors : 0;
}

KC_EXPORT uint64_t kcopyd_bdev_size(const struct block_device *bdev)
{
	return bdev ? bdev->geom.size : 0;
}

KC_EXPORT unsigned int kcopyd_bdev_logical_block_size(const struct block_device *bdev)
{
	return bdev ? bdev->geom.lbs : 0;
}

KC_EXPORT unsigned int kcopyd_bdev_physical_block_size(const struct block_device *bdev)
{
	return bdev ? bdev->geom.pbs : 0;
}

KC_EXPORT int kcopyd_bdev_is_blockdev(const struct block_device *bdev)
{
	return bdev && (kc_caps(bdev) & KC_CAP_BLOCKDEV);
}

KC_EXPORT int kcopyd_bdev_is_direct(const struct block_device *bdev)
{
	return bdev && (kc_caps(bdev) & KC_CAP_DIRECT);
}

KC_EXPORT int kcopyd_bdev_can_zero(const struct block_device *bdev)
{
	return bdev && (kc_caps(bdev) & KC_CAP_ZERO);
}

KC_EXPORT int kcopyd_bdev_flush(struct block_device *bdev)
{
	KC_ERRNO_SAVE;
	int ret;

	if (!bdev)
		return -EINVAL;
	ret = bdev->ops->flush(bdev);
	KC_ERRNO_RESTORE;
	return ret;
}
