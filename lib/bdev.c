/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices, whatever their endpoint: the public kcopyd_bdev_* calls, over
 * the ops table, the geometry and the capabilities (internal.h).  The local
 * file / block device endpoint is file.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "internal.h"

#define BDEV_FLAGS (KCOPYD_BDEV_DIRECT | KCOPYD_BDEV_BUFFERED | KCOPYD_BDEV_EXCL)

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
	ret = kc_file_open(path, acc, bdev_flags, bd);
	if (ret) {
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
