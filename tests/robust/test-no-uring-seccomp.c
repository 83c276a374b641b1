/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * No io_uring: a real seccomp filter (libseccomp) makes io_uring_setup,
 * io_uring_enter and io_uring_register fail with EPERM (as a container
 * profile or kernel.io_uring_disabled do) or ENOSYS (a kernel without
 * io_uring).  In a forked child under that filter, with KCOPYD_ENGINE unset
 * (the suite may run with KCOPYD_ENGINE=threads in the environment):
 *  - the filter is in effect (io_uring_setup fails with that errno);
 *  - kcopyd_client_create succeeds and kcopyd_client_engine() is "threads";
 *  - a copy of an odd-sized file to 2 destinations (one at an odd offset)
 *    and a zero job succeed and the bytes are right;
 *  - KCOPYD_ENGINE=io_uring: kcopyd_client_create fails with that errno
 *    (no silent fallback when the engine is forced), and creates nothing;
 *    KCOPYD_ENGINE=threads still works;
 *  - with KCOPYD_DEBUG=1 the library says on stderr that it uses threads.
 * The parent checks each child's exit status.  Without the filter, where
 * the kernel allows io_uring, the default engine is io_uring (so the filter
 * is what made the difference).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rutil.h"

#define SRC_BYTES (3u * RU_MIB + 777)
#define SRC_SECTORS ((SRC_BYTES + 511) / 512)
#define DST_BYTES (4u * RU_MIB)

static char src_path[512], dst_path[2][512];
static uint8_t *src_data;

static void deny_io_uring(int err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (!ctx)
		FAIL("seccomp_init failed");
	CHECK_OK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_setup), 0));
	CHECK_OK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_enter), 0));
	CHECK_OK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_register), 0));
	CHECK_OK(seccomp_load(ctx));
	seccomp_release(ctx);
}

/* 0, or the errno io_uring_setup fails with. */
static int io_uring_setup_errno(void)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd >= 0) {
		close((int)fd);
		return 0;
	}
	return errno;
}

static void copy_and_check(struct kcopyd_client *kc)
{
	struct block_device *src = ru_open(src_path, O_RDONLY, 0), *d0, *d1;
	struct io_region from = { src, 0, SRC_SECTORS }, to[2];
	struct kcopyd_result res;
	uint8_t *got = ru_malloc(DST_BYTES), *want = calloc(1, SRC_SECTORS * 512);

	if (!want)
		FAIL("out of memory");
	memcpy(want, src_data, SRC_BYTES);       /* the tail of the last sector reads as zeros */
	d0 = ru_open(dst_path[0], O_RDWR, 0);
	d1 = ru_open(dst_path[1], O_RDWR, 0);
	to[0] = (struct io_region){ d0, 0, SRC_SECTORS };
	to[1] = (struct io_region){ d1, 13, SRC_SECTORS };
	CHECK_OK(ru_copy_sync(kc, &from, 2, to, 0, &res));
	if (res.read_err || res.write_err)
		FAIL("copy under the filter: read_err %d write_err %#x", res.read_err, res.write_err);
	ru_pread(dst_path[0], got, SRC_SECTORS * 512, 0);
	if (memcmp(got, want, SRC_SECTORS * 512))
		FAIL("destination 0 differs from the source");
	ru_pread(dst_path[1], got, SRC_SECTORS * 512, 13 * 512);
	if (memcmp(got, want, SRC_SECTORS * 512))
		FAIL("destination 1 differs from the source");
	/* A zero job too. */
	to[0] = (struct io_region){ d0, 5, 300 };
	CHECK_OK(ru_zero_sync(kc, 1, to, 0, &res));
	if (res.read_err || res.write_err)
		FAIL("zero under the filter: read_err %d write_err %#x", res.read_err, res.write_err);
	memset(want + 5 * 512, 0, 300 * 512);
	ru_pread(dst_path[0], got, SRC_SECTORS * 512, 0);
	if (memcmp(got, want, SRC_SECTORS * 512))
		FAIL("destination 0 is wrong after the zero job");
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(d0);
	kcopyd_bdev_close(d1);
	free(got);
	free(want);
}

static void child(int err)
{
	struct kcopyd_client *kc = NULL, *none = (struct kcopyd_client *)&kc;
	const char *engine;
	int r, got;

	alarm(60 * ru_slow());
	deny_io_uring(err);
	got = io_uring_setup_errno();
	if (got != err)
		FAIL("the seccomp filter is not in effect: io_uring_setup gave errno %d, expected %d",
		     got, err);

	if (unsetenv("KCOPYD_ENGINE"))
		FAIL("unsetenv");
	CHECK_OK(kcopyd_client_create(16, &kc));
	engine = kcopyd_client_engine(kc);
	if (!engine || strcmp(engine, "threads") != 0)
		FAIL("under the filter (%s) the engine is %s, expected threads", strerror(err),
		     engine ? engine : "(null)");
	copy_and_check(kc);
	kcopyd_client_destroy(kc);

	/* Forcing io_uring where it is denied: an error, not a fallback. */
	setenv("KCOPYD_ENGINE", "io_uring", 1);
	r = kcopyd_client_create(16, &none);
	if (r != -err)
		FAIL("KCOPYD_ENGINE=io_uring under the filter: kcopyd_client_create returned %d (%s), "
		     "expected %d", r, r < 0 ? strerror(-r) : "success", -err);
	if (none != (struct kcopyd_client *)&kc)
		FAIL("a failed kcopyd_client_create wrote *result");
	setenv("KCOPYD_ENGINE", "threads", 1);
	CHECK_OK(kcopyd_client_create(4, &kc));
	CHECK(strcmp(kcopyd_client_engine(kc), "threads") == 0);
	copy_and_check(kc);
	kcopyd_client_destroy(kc);
	exit(0);
}

static void run_child(int err)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0)
		child(err);
	if (waitpid(pid, &status, 0) != pid)
		FAIL("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("the child under a filter denying io_uring with %s %s %d", strerror(err),
		     WIFEXITED(status) ? "exited with" : "was killed by signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	ru_log("ok: io_uring denied with %s: the thread engine, by itself, and the copy is right",
	       strerror(err));
}

/* KCOPYD_DEBUG=1 under the filter: the library tells which engine it took. */
static void debug_message(void)
{
	int fds[2], status;
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(fds))
		FAIL("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		struct kcopyd_client *kc;

		alarm(30 * ru_slow());
		close(fds[0]);
		deny_io_uring(EPERM);
		unsetenv("KCOPYD_ENGINE");
		setenv("KCOPYD_DEBUG", "1", 1);
		if (dup2(fds[1], 2) < 0)
			_exit(3);
		if (kcopyd_client_create(4, &kc))
			_exit(4);
		kcopyd_client_destroy(kc);
		_exit(0);
	}
	close(fds[1]);
	while (len < sizeof(buf) - 1 && (n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("KCOPYD_DEBUG child failed (status %#x), stderr: %s", status, buf);
	if (!strstr(buf, "threads"))
		FAIL("KCOPYD_DEBUG=1: nothing on stderr says the thread engine was chosen; got: \"%s\"",
		     buf);
	ru_log("ok: KCOPYD_DEBUG=1 says: %.*s", (int)strcspn(buf, "\n"), buf);
}

int main(void)
{
	struct kcopyd_client *kc;
	int before;

	ru_init("test-no-uring-seccomp", 60);
	src_data = ru_malloc(SRC_BYTES);
	ru_fill_data(src_data, SRC_BYTES, 0x5ecc);
	snprintf(src_path, sizeof(src_path), "%s", ru_path("src"));
	ru_write_file(src_path, src_data, SRC_BYTES);
	for (unsigned int d = 0; d < 2; d++) {
		char name[16];
		uint8_t *old = ru_malloc(DST_BYTES);

		snprintf(name, sizeof(name), "dst%u", d);
		snprintf(dst_path[d], sizeof(dst_path[d]), "%s", ru_path(name));
		ru_fill_old(old, DST_BYTES, d + 1);
		ru_write_file(dst_path[d], old, DST_BYTES);
		free(old);
	}
	before = io_uring_setup_errno();

	/* Children first, while this process has no thread of its own. */
	run_child(EPERM);
	run_child(ENOSYS);
	debug_message();

	/* The control: no filter, no KCOPYD_ENGINE. */
	unsetenv("KCOPYD_ENGINE");
	CHECK_OK(kcopyd_client_create(4, &kc));
	if (before == 0) {
		if (strcmp(kcopyd_client_engine(kc), "io_uring") != 0)
			FAIL("without the filter io_uring works here, yet the engine is %s",
			     kcopyd_client_engine(kc));
		ru_log("ok: without the filter the engine is io_uring");
	} else {
		ru_log("io_uring is not available here even without the filter (%s): the "
		       "control proves less", strerror(before));
	}
	kcopyd_client_destroy(kc);
	free(src_data);
	ru_pass();
}
