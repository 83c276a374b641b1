/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The first line of a kernel text file (sysfs.h). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sysfs.h"

int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

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

int read_sysfs(const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX + 64];

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	return read_text(path, buf, size);
}

uint64_t sysfs_u64(const char *dir, const char *name)
{
	char buf[64];

	return read_sysfs(dir, name, buf, sizeof(buf)) ? 0 : strtoull(buf, NULL, 10);
}
