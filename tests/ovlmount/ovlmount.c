/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ovlmount TARGET KEY=VALUE|FLAG...: mount an overlayfs on TARGET through
 * the new mount API (fsopen, fsconfig, fsmount, move_mount), each option
 * given to fsconfig as it is (FSCONFIG_SET_STRING, or FSCONFIG_SET_FLAG
 * without '='): no option string is split or unescaped on the way, as
 * mount(8) with mount(2) would.  For the tests of tests/cli that need a
 * layer path with ',' or '\' in it.  Exit 0 mounted, 77 no new mount API
 * (or no overlayfs), 1 the kernel refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>

static int sys_fsopen(const char *fs, unsigned int flags)
{
	return (int)syscall(SYS_fsopen, fs, flags);
}

static int sys_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
	return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

static int sys_fsmount(int fd, unsigned int flags, unsigned int attr)
{
	return (int)syscall(SYS_fsmount, fd, flags, attr);
}

static int sys_move_mount(int from, const char *from_path, int to, const char *to_path,
			  unsigned int flags)
{
	return (int)syscall(SYS_move_mount, from, from_path, to, to_path, flags);
}

int main(int argc, char **argv)
{
	int fs, mnt;

	if (argc < 2) {
		fprintf(stderr, "usage: ovlmount TARGET KEY=VALUE|FLAG...\n");
		return 2;
	}
	fs = sys_fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		fprintf(stderr, "ovlmount: fsopen: %s\n", strerror(errno));
		return errno == ENOSYS || errno == ENODEV ? 77 : 1;
	}
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		int r;

		if (eq) {
			*eq = 0;
			r = sys_fsconfig(fs, FSCONFIG_SET_STRING, argv[i], eq + 1, 0);
		} else {
			r = sys_fsconfig(fs, FSCONFIG_SET_FLAG, argv[i], NULL, 0);
		}
		if (r) {
			fprintf(stderr, "ovlmount: fsconfig %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
	}
	if (sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)) {
		fprintf(stderr, "ovlmount: create: %s\n", strerror(errno));
		return 1;
	}
	mnt = sys_fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0 || sys_move_mount(mnt, "", AT_FDCWD, argv[1], MOVE_MOUNT_F_EMPTY_PATH)) {
		fprintf(stderr, "ovlmount: mount: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
