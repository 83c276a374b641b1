/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * no-uring: run a command where io_uring is denied by a seccomp filter.
 *
 *   no-uring [-e EPERM|ENOSYS] COMMAND [ARG...]
 *
 * Installs a filter that makes io_uring_setup, io_uring_enter and
 * io_uring_register fail with the given errno (default EPERM, as a
 * container runtime's profile or kernel.io_uring_disabled would; ENOSYS is
 * a kernel without io_uring), checks that it took effect, then execs the
 * command, which inherits the filter.  For the CLI tests:
 * `no-uring kcopyd copy ...` must fall back to the thread engine by itself.
 * Exit status: the command's, or 125 if the filter could not be set up,
 * 126/127 if the command could not be run.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int deny_io_uring(int err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r;

	if (!ctx)
		return -ENOMEM;
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_setup), 0);
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_enter), 0);
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_register), 0);
	if (!r)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	int err = EPERM, argi = 1, r;
	long fd;

	if (argc > 2 && strcmp(argv[1], "-e") == 0) {
		if (strcmp(argv[2], "EPERM") == 0)
			err = EPERM;
		else if (strcmp(argv[2], "ENOSYS") == 0)
			err = ENOSYS;
		else {
			fprintf(stderr, "no-uring: -e takes EPERM or ENOSYS\n");
			return 125;
		}
		argi = 3;
	}
	if (argi >= argc) {
		fprintf(stderr, "usage: no-uring [-e EPERM|ENOSYS] COMMAND [ARG...]\n");
		return 125;
	}
	r = deny_io_uring(err);
	if (r) {
		fprintf(stderr, "no-uring: cannot install the seccomp filter: %s\n", strerror(-r));
		return 125;
	}
	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd >= 0 || errno != err) {
		fprintf(stderr, "no-uring: the filter is not in effect (io_uring_setup: %ld, %s)\n", fd,
			strerror(errno));
		return 125;
	}
	execvp(argv[argi], argv + argi);
	fprintf(stderr, "no-uring: %s: %s\n", argv[argi], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
