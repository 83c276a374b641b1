/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The O_DIRECT descriptor of a device is the same file as its first one,
 * even when the path is replaced in between.  Deterministic: this program
 * defines open() and open64() itself (the library's calls land here, the
 * executable's symbols coming first), and the first O_DIRECT open it sees
 * renames another file over the path just before it opens.
 *  - the path replaced while kcopyd_bdev_open_ex(KCOPYD_BDEV_DIRECT) runs:
 *    the device still reads and writes the file that was opened: a copy
 *    from it gives its old bytes, a copy into it does not touch the file
 *    now at the path;
 *  - without /proc (a private mount namespace with an empty /proc): the
 *    second descriptor is opened by path and checked: replaced, the open
 *    fails with -ESTALE; not replaced, it succeeds, with O_DIRECT;
 *  - kcopyd_bdev_open_ex leaves errno as it found it, on success and on
 *    failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define LEN (64 * 1024u)

static const char *victim, *impostor;
static int armed, swapped;

static int open_hook(const char *path, int flags, va_list ap)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE))
		mode = (mode_t)va_arg(ap, int);
	if ((flags & O_DIRECT) && __atomic_exchange_n(&armed, 0, __ATOMIC_RELAXED)) {
		if (rename(impostor, victim) < 0)
			FAIL("rename %s %s: %s", impostor, victim, strerror(errno));
		swapped = 1;
	}
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

int test_open(const char *path, int flags, ...) __asm__("open")
	__attribute__((visibility("default")));
int test_open64(const char *path, int flags, ...) __asm__("open64")
	__attribute__((visibility("default")));

int test_open(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = open_hook(path, flags, ap);
	va_end(ap);
	return fd;
}

int test_open64(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = open_hook(path, flags, ap);
	va_end(ap);
	return fd;
}

static void fill(const char *path, int byte)
{
	uint8_t buf[LEN];

	memset(buf, byte, LEN);
	tu_write_file(path, buf, LEN);
}

static void expect_bytes(const char *path, int byte, const char *what)
{
	uint8_t got[LEN];

	tu_read_at(path, 0, got, LEN);
	if (tu_cmp_byte(got, byte, LEN, 0, what))
		FAIL("%s: %s does not hold the expected bytes", what, path);
}

static int open_swapped(struct block_device **bd)
{
	int ret;

	fill(victim, 'A');
	fill(impostor, 'B');
	swapped = 0;
	armed = 1;
	errno = 4242;
	ret = kcopyd_bdev_open_ex(victim, O_RDWR, KCOPYD_BDEV_DIRECT, bd);
	if (errno != 4242)
		FAIL("kcopyd_bdev_open_ex (returning %d) changed errno to %d", ret, errno);
	armed = 0;
	return ret;
}

/* In a child: /proc hidden, so the library reopens by path. */
static int without_proc(void)
{
	struct block_device *bd;
	int ret;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/proc", "tmpfs", 0, "size=4k") < 0) {
		fprintf(stderr, "cannot hide /proc: %s\n", strerror(errno));
		return TU_SKIP;
	}
	ret = open_swapped(&bd);
	if (!swapped || ret != -ESTALE) {
		fprintf(stderr, "without /proc, path replaced: returned %d (%s), expected -ESTALE\n",
			ret, strerror(-ret));
		return 1;
	}
	fill(victim, 'A');
	ret = kcopyd_bdev_open_ex(victim, O_RDWR, KCOPYD_BDEV_DIRECT, &bd);
	if (ret || !kcopyd_bdev_is_direct(bd)) {
		fprintf(stderr, "without /proc, path kept: returned %d (%s)\n", ret, strerror(-ret));
		return 1;
	}
	kcopyd_bdev_close(bd);
	return 0;
}

int main(void)
{
	const char *src = tu_path("src"), *dst = tu_path("dst");
	struct block_device *bd, *other;
	struct kcopyd_client *kc;
	struct io_region from, to;
	int fd, status;
	pid_t pid;

	tu_init("test-direct-reopen");
	victim = tu_path("victim");
	impostor = tu_path("impostor");
	fill(victim, 'A');
	fd = (int)syscall(SYS_openat, AT_FDCWD, victim, O_RDWR | O_DIRECT, 0);
	if (fd < 0)
		tu_skip("no O_DIRECT in %s: %s", tu_tmpdir(), strerror(errno));
	close(fd);

	CHECK_OK(open_swapped(&bd));
	CHECK(swapped);
	CHECK_EQ(kcopyd_bdev_is_direct(bd), 1);
	kc = tu_client(64);
	/* Reading: the opened file's bytes, 'A', not the impostor's. */
	fill(dst, 'x');
	other = tu_open(dst, O_RDWR);
	from = tu_region(bd, 0, LEN / 512);
	to = tu_region(other, 0, LEN / 512);
	tu_copy_ok(kc, &from, 1, &to, 0);
	kcopyd_bdev_close(other);
	expect_bytes(dst, 'A', "read from a device whose path was replaced");
	/* Writing: into the opened file, never into the one now at the path. */
	fill(src, 'C');
	other = tu_open(src, O_RDONLY);
	from = tu_region(other, 0, LEN / 512);
	to = tu_region(bd, 0, LEN / 512);
	tu_copy_ok(kc, &from, 1, &to, 0);
	kcopyd_bdev_close(other);
	expect_bytes(victim, 'B', "the file now at the path of a device written to");
	fill(dst, 'x');
	other = tu_open(dst, O_RDWR);
	from = tu_region(bd, 0, LEN / 512);
	to = tu_region(other, 0, LEN / 512);
	tu_copy_ok(kc, &from, 1, &to, 0);
	kcopyd_bdev_close(other);
	expect_bytes(dst, 'C', "the device written to, read back");
	kcopyd_bdev_close(bd);
	kcopyd_client_destroy(kc);

	/* errno on failure, too. */
	errno = 4243;
	CHECK_EQ(kcopyd_bdev_open(tu_path("missing"), O_RDONLY, &bd), -ENOENT);
	CHECK_EQ(errno, 4243);

	if (!tu_is_root()) {
		tu_log("not root: the case without /proc is left out");
		tu_pass();
	}
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(without_proc());
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == TU_SKIP)
		tu_log("the case without /proc is left out");
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("the case without /proc failed (status %#x)", status);
	tu_pass();
}
