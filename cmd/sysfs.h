/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small text files of the kernel (sysfs, /proc): the first line of one;
 * and the kernel's encoding of device numbers in its loop device ioctls.
 * Shared by set-up (device.c, info.c) and the copy log (copylog.c).
 */
#ifndef KCOPYD_SYSFS_H
#define KCOPYD_SYSFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/sysmacros.h>

/* The first line of path, without its newline, in buf; 0, or -1 when it
 * cannot be read or is empty. */
int read_text(const char *path, char *buf, size_t size);
/* The same for dir/name. */
int read_sysfs(const char *dir, const char *name, char *buf, size_t size);
/* dir/name as a decimal number; 0 when it cannot be read. */
uint64_t sysfs_u64(const char *dir, const char *name);

/* A device number as loop_info64 gives it (lo_device, lo_rdevice): the
 * kernel's old 32-bit encoding. */
static inline dev_t loop_info_dev(uint64_t v)
{
	return makedev((unsigned int)((v & 0xfff00) >> 8),
		       (unsigned int)((v & 0xff) | ((v >> 12) & 0xfff00)));
}

#endif
