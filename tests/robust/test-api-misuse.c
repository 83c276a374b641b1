/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * API misuse beyond tests/lib/test-bad-args (which covers NULL client,
 * source, destinations and callback, counts, ranges, overlaps, read-only
 * destinations and a few unknown flag bits):
 *  - NULL into every other public function that takes a pointer: the
 *    queries return 0 (or NULL), kcopyd_bdev_flush -EINVAL, the _ex forms
 *    -EINVAL, kcopyd_do_callback / kcopyd_bdev_close / kcopyd_client_destroy
 *    do nothing; kcopyd_client_stats with size 0 writes nothing; none crash;
 *  - every unknown flag bit (3..31), one at a time, for kcopyd_copy,
 *    kcopyd_copy_ex, kcopyd_zero and kcopyd_zero_ex: -EINVAL, no callback,
 *    nothing written; SKIP_ZEROES on a zero job is accepted (ignored);
 *  - kcopyd_bdev_open_ex: every unknown bdev flag bit, DIRECT|BUFFERED, and
 *    open flags other than O_RDONLY/O_RDWR (O_WRONLY, O_ACCMODE, O_TRUNC,
 *    O_CREAT, O_APPEND, O_DIRECT, O_EXCL): -EINVAL, and an existing file is
 *    not truncated, a missing one not created; hostile paths: a FIFO (must
 *    not block), a character device and a socket give -ENODEV, a symlink
 *    loop -ELOOP, a dangling link and "" -ENOENT, a file used as a directory
 *    -ENOTDIR, an over-long name -ENAMETOOLONG; a symlink to a file works;
 *  - KCOPYD_ENGINE=bogus: kcopyd_client_create -EINVAL, *result untouched;
 *    num_pages of 16 TiB: -ENOMEM, not a crash (where overcommit is not
 *    unlimited);
 *  - kcopyd_client_destroy from a callback (kcopyd_copy, _copy_ex, _zero_ex,
 *    and a prepared callback): the child is killed by SIGABRT and its
 *    stderr names kcopyd_client_destroy;
 *  - kcopyd_client_wait from an _ex callback, a zero callback and a
 *    prepared callback: -EDEADLK; but destroying, or waiting for, another
 *    client from a callback works;
 *  - prepared callbacks triggered by 8 threads at once (and from inside
 *    other callbacks) each run once, with their values, on the client's
 *    thread, never inside kcopyd_do_callback, never two callbacks at once;
 *  - the region arrays may be freed as soon as the submit call returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rutil.h"

#define SIZE (1u * RU_MIB)
#define SECTORS (SIZE / 512)

static char src_path[512], dst_path[512];
static uint8_t *src_data, *dst_orig;
static int stray_calls;                      /* atomic: callbacks that must not happen */

static void stray_cb(int read_err, unsigned int write_err, void *context)
{
	(void)read_err; (void)write_err; (void)context;
	__atomic_fetch_add(&stray_calls, 1, __ATOMIC_RELAXED);
}

static void stray_ex_cb(const struct kcopyd_result *res, void *context)
{
	(void)res; (void)context;
	__atomic_fetch_add(&stray_calls, 1, __ATOMIC_RELAXED);
}

static void dst_untouched(const char *when)
{
	uint8_t *got = ru_malloc(SIZE);

	ru_pread(dst_path, got, SIZE, 0);
	if (memcmp(got, dst_orig, SIZE))
		FAIL("%s: the destination changed", when);
	free(got);
}

/* ---- fork helpers ------------------------------------------------------- */

/* Run fn in a child with stderr on a pipe; returns the wait status and the
 * child's stderr in buf. */
static int in_child(void (*fn)(void), char *buf, size_t size)
{
	int fds[2], status;
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
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		alarm(30 * ru_slow());
		close(fds[0]);
		if (dup2(fds[1], 2) < 0)
			_exit(3);
		fn();
		_exit(0);
	}
	close(fds[1]);
	while (len < size - 1 && (n = read(fds[0], buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		FAIL("waitpid: %s", strerror(errno));
	return status;
}

/* ---- destroy from a callback: abort with a message ----------------------- */

static struct kcopyd_client *child_kc;

static void destroy_notify(int read_err, unsigned int write_err, void *context)
{
	(void)read_err; (void)write_err; (void)context;
	kcopyd_client_destroy(child_kc);
	fprintf(stderr, "RETURNED: kcopyd_client_destroy returned inside a callback\n");
	_exit(2);
}

static void destroy_result(const struct kcopyd_result *res, void *context)
{
	(void)res; (void)context;
	kcopyd_client_destroy(child_kc);
	fprintf(stderr, "RETURNED: kcopyd_client_destroy returned inside a callback\n");
	_exit(2);
}

static void child_setup(struct block_device **s, struct block_device **d, struct io_region *from,
			struct io_region *to)
{
	if (kcopyd_client_create(4, &child_kc) || kcopyd_bdev_open(src_path, O_RDONLY, s) ||
	    kcopyd_bdev_open(dst_path, O_RDWR, d))
		_exit(4);
	*from = (struct io_region){ *s, 0, 16 };
	*to = (struct io_region){ *d, 0, 16 };
}

static void child_destroy_copy(void)
{
	struct block_device *s, *d;
	struct io_region from, to;

	child_setup(&s, &d, &from, &to);
	if (kcopyd_copy(child_kc, &from, 1, &to, 0, destroy_notify, NULL))
		_exit(5);
	for (;;)
		pause();
}

static void child_destroy_copy_ex(void)
{
	struct block_device *s, *d;
	struct io_region from, to;

	child_setup(&s, &d, &from, &to);
	if (kcopyd_copy_ex(child_kc, &from, 1, &to, KCOPYD_IGNORE_ERROR, destroy_result, NULL))
		_exit(5);
	for (;;)
		pause();
}

static void child_destroy_zero_ex(void)
{
	struct block_device *s, *d;
	struct io_region from, to;

	child_setup(&s, &d, &from, &to);
	if (kcopyd_zero_ex(child_kc, 1, &to, 0, destroy_result, NULL))
		_exit(5);
	for (;;)
		pause();
}

static void child_destroy_prepared(void)
{
	struct kcopyd_callback *cb;

	if (kcopyd_client_create(4, &child_kc))
		_exit(4);
	if (kcopyd_prepare_callback(child_kc, destroy_notify, NULL, &cb))
		_exit(5);
	kcopyd_do_callback(cb, 0, 0);
	for (;;)
		pause();
}

static void destroy_from_callbacks(void)
{
	static const struct { const char *what; void (*fn)(void); } cases[] = {
		{ "kcopyd_copy callback", child_destroy_copy },
		{ "kcopyd_copy_ex callback", child_destroy_copy_ex },
		{ "kcopyd_zero_ex callback", child_destroy_zero_ex },
		{ "prepared callback", child_destroy_prepared },
	};
	char buf[8192];

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = in_child(cases[i].fn, buf, sizeof(buf));

		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
			FAIL("kcopyd_client_destroy from a %s: child %s %d, expected SIGABRT; stderr: %s",
			     cases[i].what, WIFSIGNALED(status) ? "killed by signal" : "exited with",
			     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), buf);
		if (!strstr(buf, "kcopyd_client_destroy"))
			FAIL("kcopyd_client_destroy from a %s aborted without naming the function on "
			     "stderr; stderr: \"%s\"", cases[i].what, buf);
		ru_log("ok: kcopyd_client_destroy from a %s aborts: %.*s", cases[i].what,
		       (int)strcspn(buf, "\n"), buf);
	}
	ru_write_file(dst_path, dst_orig, SIZE);      /* the children may have copied */
}

/* ---- client creation ------------------------------------------------------ */

static void create_misuse(void)
{
	struct kcopyd_client *kc = (struct kcopyd_client *)&kc, *sentinel = kc;
	char mode[16] = "";
	FILE *f;
	int r;

	setenv("KCOPYD_ENGINE", "bogus", 1);
	r = kcopyd_client_create(4, &kc);
	if (r != -EINVAL)
		FAIL("KCOPYD_ENGINE=bogus: kcopyd_client_create returned %d, expected -EINVAL", r);
	if (kc != sentinel)
		FAIL("a failed kcopyd_client_create wrote *result");
	unsetenv("KCOPYD_ENGINE");
	ru_log("ok: KCOPYD_ENGINE=bogus is refused with -EINVAL");

	f = fopen("/proc/sys/vm/overcommit_memory", "r");
	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = 0;
		fclose(f);
	}
	if (mode[0] == '0' || mode[0] == '2') {
		r = kcopyd_client_create(0xfffffffeu, &kc);
		if (r != -ENOMEM)
			FAIL("kcopyd_client_create with a 16 TiB pool returned %d, expected -ENOMEM", r);
		if (kc != sentinel)
			FAIL("a failed kcopyd_client_create wrote *result");
		ru_log("ok: a 16 TiB pool is -ENOMEM");
	} else {
		ru_log("overcommit_memory is %.1s: the 16 TiB pool is left out", mode);
	}
	r = kcopyd_client_create(UINT_MAX, &kc);
	if (r != -EINVAL && r != -ENOMEM)
		FAIL("kcopyd_client_create(UINT_MAX pages) returned %d, expected -EINVAL or -ENOMEM", r);
}

/* ---- NULL pointers --------------------------------------------------------- */

static void null_pointers(struct kcopyd_client *kc, struct block_device *s, struct block_device *d)
{
	struct io_region from = { s, 0, 8 }, to = { d, 0, 8 };
	struct block_device *bd = (struct block_device *)&bd;
	struct kcopyd_stats st;

	CHECK_EQ(kcopyd_bdev_sectors(NULL), 0);
	CHECK_EQ(kcopyd_bdev_size(NULL), 0);
	CHECK_EQ(kcopyd_bdev_logical_block_size(NULL), 0);
	CHECK_EQ(kcopyd_bdev_physical_block_size(NULL), 0);
	CHECK_EQ(kcopyd_bdev_is_blockdev(NULL), 0);
	CHECK_EQ(kcopyd_bdev_is_direct(NULL), 0);
	CHECK_EQ(kcopyd_bdev_can_zero(NULL), 0);
	CHECK_EQ(kcopyd_bdev_flush(NULL), -EINVAL);
	CHECK(kcopyd_client_engine(NULL) == NULL);
	kcopyd_do_callback(NULL, -EIO, 1);
	kcopyd_bdev_close(NULL);
	kcopyd_client_destroy(NULL);
	CHECK_EQ(kcopyd_bdev_open_ex(NULL, O_RDONLY, 0, &bd), -EINVAL);
	CHECK_EQ(kcopyd_bdev_open_ex(src_path, O_RDONLY, 0, NULL), -EINVAL);
	CHECK(bd == (struct block_device *)&bd);
	CHECK_EQ(kcopyd_copy_ex(kc, NULL, 1, &to, 0, stray_ex_cb, NULL), -EINVAL);
	CHECK_EQ(kcopyd_copy_ex(kc, &from, 1, NULL, 0, stray_ex_cb, NULL), -EINVAL);
	CHECK_EQ(kcopyd_zero_ex(kc, 1, NULL, 0, stray_ex_cb, NULL), -EINVAL);
	CHECK_EQ(kcopyd_zero_ex(NULL, 1, &to, 0, stray_ex_cb, NULL), -EINVAL);
	CHECK_EQ(kcopyd_zero(kc, 1, &to, 0, NULL, NULL), -EINVAL);
	memset(&st, 0xa5, sizeof(st));
	CHECK_OK(kcopyd_client_stats(kc, &st, 0));
	for (size_t i = 0; i < sizeof(st); i++)
		if (((unsigned char *)&st)[i] != 0xa5)
			FAIL("kcopyd_client_stats with size 0 wrote byte %zu", i);
	ru_log("ok: NULL pointers into the queries, flush, engine, do_callback, open_ex and the _ex "
	       "forms");
}

/* ---- unknown flags ---------------------------------------------------------- */

static void unknown_flags(struct kcopyd_client *kc, struct block_device *s, struct block_device *d)
{
	struct io_region from = { s, 0, 64 }, to = { d, 0, 64 };
	unsigned int n = 0;

	for (unsigned int bit = 3; bit < 32; bit++) {
		unsigned int f = 1u << bit;

		CHECK_EQ(kcopyd_copy(kc, &from, 1, &to, f, stray_cb, NULL), -EINVAL);
		CHECK_EQ(kcopyd_copy_ex(kc, &from, 1, &to, f | KCOPYD_IGNORE_ERROR, stray_ex_cb, NULL),
			 -EINVAL);
		CHECK_EQ(kcopyd_zero(kc, 1, &to, f, stray_cb, NULL), -EINVAL);
		CHECK_EQ(kcopyd_zero_ex(kc, 1, &to, f | KCOPYD_WRITE_SEQ, stray_ex_cb, NULL), -EINVAL);
		n += 4;
	}
	CHECK_EQ(kcopyd_copy(kc, &from, 1, &to, ~0u, stray_cb, NULL), -EINVAL);
	CHECK_EQ(kcopyd_zero(kc, 1, &to, ~0u, stray_cb, NULL), -EINVAL);
	CHECK_OK(kcopyd_client_wait(kc));
	if (__atomic_load_n(&stray_calls, __ATOMIC_RELAXED))
		FAIL("%d callbacks ran for refused jobs", stray_calls);
	dst_untouched("after jobs with unknown flags");
	ru_log("ok: %u submissions with an unknown flag bit refused, nothing called back or written",
	       n + 2);
}

static void zero_skip_zeroes(struct kcopyd_client *kc, struct block_device *d)
{
	struct io_region to = { d, 3, 100 };
	struct kcopyd_result res;
	uint8_t *want = ru_malloc(SIZE);

	CHECK_OK(ru_zero_sync(kc, 1, &to, KCOPYD_SKIP_ZEROES, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	memcpy(want, dst_orig, SIZE);
	memset(want + 3 * 512, 0, 100 * 512);
	{
		uint8_t *got = ru_malloc(SIZE);

		ru_pread(dst_path, got, SIZE, 0);
		if (memcmp(got, want, SIZE))
			FAIL("a zero job with SKIP_ZEROES (ignored for zeroing) did not zero its range");
		free(got);
	}
	free(want);
	ru_write_file(dst_path, dst_orig, SIZE);
	ru_log("ok: SKIP_ZEROES on a zero job is accepted and ignored");
}

/* ---- kcopyd_bdev_open_ex --------------------------------------------------- */

static void open_misuse(void)
{
	struct block_device *bd = NULL;
	const char *missing = ru_path("missing"), *fifo = ru_path("fifo"), *sock = ru_path("sock");
	char loop_a[512], loop_b[512], dangling[512], link_ok[512], notdir[600], longname[PATH_MAX + 64];
	struct stat st;
	int r;
	static const struct { int flags; const char *name; } bad_open[] = {
		{ O_WRONLY, "O_WRONLY" },
		{ O_ACCMODE, "O_ACCMODE" },
		{ O_RDWR | O_TRUNC, "O_RDWR|O_TRUNC" },
		{ O_RDWR | O_CREAT, "O_RDWR|O_CREAT" },
		{ O_RDWR | O_CREAT | O_EXCL, "O_RDWR|O_CREAT|O_EXCL" },
		{ O_RDONLY | O_APPEND, "O_RDONLY|O_APPEND" },
		{ O_RDWR | O_DIRECT, "O_RDWR|O_DIRECT" },
		{ O_RDONLY | O_NONBLOCK, "O_RDONLY|O_NONBLOCK" },
	};

	for (unsigned int bit = 3; bit < 32; bit++)
		CHECK_EQ(kcopyd_bdev_open_ex(src_path, O_RDONLY, 1u << bit, &bd), -EINVAL);
	CHECK_EQ(kcopyd_bdev_open_ex(src_path, O_RDONLY, KCOPYD_BDEV_DIRECT | KCOPYD_BDEV_BUFFERED, &bd),
		 -EINVAL);
	for (unsigned int i = 0; i < sizeof(bad_open) / sizeof(bad_open[0]); i++) {
		r = kcopyd_bdev_open_ex(dst_path, bad_open[i].flags, 0, &bd);
		if (r != -EINVAL)
			FAIL("kcopyd_bdev_open_ex(existing file, %s) returned %d, expected -EINVAL",
			     bad_open[i].name, r);
		r = kcopyd_bdev_open_ex(missing, bad_open[i].flags, 0, &bd);
		if (r != -EINVAL)
			FAIL("kcopyd_bdev_open_ex(missing file, %s) returned %d, expected -EINVAL",
			     bad_open[i].name, r);
	}
	if (stat(missing, &st) == 0)
		FAIL("kcopyd_bdev_open_ex created a file");
	CHECK(bd == NULL);
	dst_untouched("after opens with bad flags");
	ru_log("ok: unknown device flags and %zu kinds of bad open flags refused; nothing truncated "
	       "or created", sizeof(bad_open) / sizeof(bad_open[0]));

	/* Hostile paths. */
	if (mkfifo(fifo, 0600))
		FAIL("mkfifo: %s", strerror(errno));
	CHECK_EQ(kcopyd_bdev_open_ex(fifo, O_RDONLY, 0, &bd), -ENODEV);     /* would block if opened */
	CHECK_EQ(kcopyd_bdev_open_ex(fifo, O_RDWR, 0, &bd), -ENODEV);
	CHECK_EQ(kcopyd_bdev_open_ex("/dev/null", O_RDONLY, 0, &bd), -ENODEV);
	CHECK_EQ(kcopyd_bdev_open_ex("/dev/zero", O_RDWR, 0, &bd), -ENODEV);
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (fd >= 0 && strlen(sock) < sizeof(a.sun_path)) {
			memcpy(a.sun_path, sock, strlen(sock) + 1);
			if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
				CHECK_EQ(kcopyd_bdev_open_ex(sock, O_RDONLY, 0, &bd), -ENODEV);
			close(fd);
		}
	}
	snprintf(loop_a, sizeof(loop_a), "%s", ru_path("loop-a"));
	snprintf(loop_b, sizeof(loop_b), "%s", ru_path("loop-b"));
	snprintf(dangling, sizeof(dangling), "%s", ru_path("dangling"));
	snprintf(link_ok, sizeof(link_ok), "%s", ru_path("link-ok"));
	snprintf(notdir, sizeof(notdir), "%s/x", dst_path);
	if (symlink(loop_b, loop_a) || symlink(loop_a, loop_b) || symlink(missing, dangling) ||
	    symlink(src_path, link_ok))
		FAIL("symlink: %s", strerror(errno));
	CHECK_EQ(kcopyd_bdev_open_ex(loop_a, O_RDONLY, 0, &bd), -ELOOP);
	CHECK_EQ(kcopyd_bdev_open_ex(dangling, O_RDWR, 0, &bd), -ENOENT);
	CHECK_EQ(kcopyd_bdev_open_ex("", O_RDONLY, 0, &bd), -ENOENT);
	CHECK_EQ(kcopyd_bdev_open_ex(notdir, O_RDONLY, 0, &bd), -ENOTDIR);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = 0;
	CHECK_EQ(kcopyd_bdev_open_ex(longname, O_RDONLY, 0, &bd), -ENAMETOOLONG);
	if (stat(missing, &st) == 0)
		FAIL("opening a dangling link created its target");
	CHECK(bd == NULL);
	CHECK_OK(kcopyd_bdev_open_ex(link_ok, O_RDONLY, 0, &bd));
	CHECK_EQ(kcopyd_bdev_size(bd), SIZE);
	kcopyd_bdev_close(bd);
	ru_log("ok: a FIFO, character devices and a socket -ENODEV; a symlink loop -ELOOP, a dangling "
	       "link and \"\" -ENOENT, -ENOTDIR, -ENAMETOOLONG; a link to a file opens");
}

/* ---- waiting from callbacks ------------------------------------------------- */

struct waiter {
	struct kcopyd_client *kc, *other;
	struct ru_counter done;
	int wait_ret, other_ret;
	bool destroy_other;
};

static void wait_in_result(const struct kcopyd_result *res, void *context)
{
	struct waiter *w = context;

	(void)res;
	w->wait_ret = kcopyd_client_wait(w->kc);
	if (w->other) {
		w->other_ret = kcopyd_client_wait(w->other);
		if (w->destroy_other) {
			kcopyd_client_destroy(w->other);
			w->other = NULL;
		}
	}
	ru_counter_add(&w->done);
}

static void wait_in_notify(int read_err, unsigned int write_err, void *context)
{
	struct waiter *w = context;

	(void)read_err; (void)write_err;
	w->wait_ret = kcopyd_client_wait(w->kc);
	ru_counter_add(&w->done);
}

static void wait_from_callbacks(struct kcopyd_client *kc, struct block_device *s,
				struct block_device *d)
{
	struct io_region from = { s, 0, 16 }, to = { d, 0, 16 };
	struct kcopyd_callback *cb;
	struct waiter w;

	/* _ex copy callback, also waiting for and destroying another client. */
	memset(&w, 0, sizeof(w));
	w.kc = kc;
	w.wait_ret = w.other_ret = 12345;
	w.destroy_other = true;
	CHECK_OK(kcopyd_client_create(2, &w.other));
	pthread_mutex_init(&w.done.lock, NULL);
	pthread_cond_init(&w.done.cond, NULL);
	CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to, 0, wait_in_result, &w));
	ru_counter_wait(&w.done, 1, 30, "copy_ex callback that waits");
	CHECK_OK(kcopyd_client_wait(kc));
	if (w.wait_ret != -EDEADLK)
		FAIL("kcopyd_client_wait from an _ex callback returned %d, expected -EDEADLK", w.wait_ret);
	if (w.other_ret != 0)
		FAIL("kcopyd_client_wait on another (idle) client from a callback returned %d",
		     w.other_ret);
	if (w.other)
		FAIL("kcopyd_client_destroy of another client from a callback did not happen");

	/* zero_ex callback. */
	w.wait_ret = 12345;
	w.destroy_other = false;
	CHECK_OK(kcopyd_zero_ex(kc, 1, &to, 0, wait_in_result, &w));
	ru_counter_wait(&w.done, 2, 30, "zero_ex callback that waits");
	CHECK_OK(kcopyd_client_wait(kc));
	if (w.wait_ret != -EDEADLK)
		FAIL("kcopyd_client_wait from a zero callback returned %d, expected -EDEADLK", w.wait_ret);

	/* A prepared callback. */
	w.wait_ret = 12345;
	CHECK_OK(kcopyd_prepare_callback(kc, wait_in_notify, &w, &cb));
	kcopyd_do_callback(cb, 0, 0);
	ru_counter_wait(&w.done, 3, 30, "prepared callback that waits");
	CHECK_OK(kcopyd_client_wait(kc));
	if (w.wait_ret != -EDEADLK)
		FAIL("kcopyd_client_wait from a prepared callback returned %d, expected -EDEADLK",
		     w.wait_ret);
	pthread_mutex_destroy(&w.done.lock);
	pthread_cond_destroy(&w.done.cond);
	ru_write_file(dst_path, dst_orig, SIZE);
	ru_log("ok: kcopyd_client_wait from _ex, zero and prepared callbacks is -EDEADLK; another "
	       "client can be waited for and destroyed from a callback");
}

/* ---- prepared callbacks from many threads ------------------------------------ */

#define TRIG_THREADS 8
#define TRIG_EACH 100

static struct kcopyd_client *prep_kc;
static int in_callback, overlap_seen;        /* atomic */
static pthread_t engine_thread;
static int engine_known, wrong_thread;       /* atomic */
static int prep_ran[TRIG_THREADS * TRIG_EACH];
static int prep_bad_values;
static int inside_do_callback;               /* set around a do_callback made in a callback */
static int ran_inside;                       /* atomic */

static void enter_cb(void)
{
	if (__atomic_fetch_add(&in_callback, 1, __ATOMIC_ACQ_REL) != 0)
		__atomic_store_n(&overlap_seen, 1, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&engine_known, __ATOMIC_ACQUIRE)) {
		engine_thread = pthread_self();
		__atomic_store_n(&engine_known, 1, __ATOMIC_RELEASE);
	} else if (!pthread_equal(engine_thread, pthread_self())) {
		__atomic_store_n(&wrong_thread, 1, __ATOMIC_RELAXED);
	}
}

static void leave_cb(void)
{
	__atomic_fetch_sub(&in_callback, 1, __ATOMIC_ACQ_REL);
}

static void prep_fn(int read_err, unsigned int write_err, void *context)
{
	uintptr_t id = (uintptr_t)context;

	enter_cb();
	if (inside_do_callback)
		__atomic_store_n(&ran_inside, 1, __ATOMIC_RELAXED);
	if (read_err != -(int)(id % 200 + 1) || write_err != (unsigned int)id)
		prep_bad_values++;
	prep_ran[id]++;
	usleep(20);                          /* widen the window for overlap */
	leave_cb();
}

static void *trigger_thread(void *arg)
{
	uintptr_t t = (uintptr_t)arg;

	for (uintptr_t i = 0; i < TRIG_EACH; i++) {
		uintptr_t id = t * TRIG_EACH + i;
		struct kcopyd_callback *cb;

		if (kcopyd_prepare_callback(prep_kc, prep_fn, (void *)id, &cb))
			FAIL("kcopyd_prepare_callback failed");
		kcopyd_do_callback(cb, -(int)(id % 200 + 1), (unsigned int)id);
	}
	return NULL;
}

struct chain { struct kcopyd_callback *cb; int ran; };

static void copy_cb_triggers(int read_err, unsigned int write_err, void *context)
{
	struct chain *c = context;

	enter_cb();
	(void)read_err; (void)write_err;
	if (c->cb) {
		inside_do_callback = 1;
		kcopyd_do_callback(c->cb, -1, 0);  /* id 0: read_err -1, write_err 0 */
		inside_do_callback = 0;
	}
	c->ran++;
	usleep(20);
	leave_cb();
}

static void prepared_many_threads(struct block_device *s, struct block_device *d)
{
	pthread_t th[TRIG_THREADS];
	struct chain chains[64];
	unsigned int nchains = 0;

	CHECK_OK(kcopyd_client_create(8, &prep_kc));
	/* Copy jobs whose callbacks run alongside; the first triggers id 0. */
	for (unsigned int i = 0; i < 64; i++) {
		struct io_region from = { s, i * 8, 8 }, to = { d, i * 8, 8 };

		chains[i].cb = NULL;
		chains[i].ran = 0;
		nchains++;
		if (i == 0)
			CHECK_OK(kcopyd_prepare_callback(prep_kc, prep_fn, (void *)(uintptr_t)0,
							 &chains[i].cb));
		CHECK_OK(kcopyd_copy(prep_kc, &from, 1, &to, 0, copy_cb_triggers, &chains[i]));
	}
	for (uintptr_t t = 0; t < TRIG_THREADS; t++)
		if (pthread_create(&th[t], NULL, trigger_thread, (void *)t))
			FAIL("pthread_create");
	for (unsigned int t = 0; t < TRIG_THREADS; t++)
		pthread_join(th[t], NULL);
	CHECK_OK(kcopyd_client_wait(prep_kc));
	for (unsigned int i = 0; i < nchains; i++)
		if (chains[i].ran != 1)
			FAIL("copy job %u called back %d times", i, chains[i].ran);
	/* id 0 was prepared twice (by the first copy job and thread 0). */
	if (prep_ran[0] != 2)
		FAIL("prepared callback id 0 ran %d times, expected 2", prep_ran[0]);
	for (unsigned int i = 1; i < TRIG_THREADS * TRIG_EACH; i++)
		if (prep_ran[i] != 1)
			FAIL("prepared callback %u ran %d times", i, prep_ran[i]);
	if (prep_bad_values)
		FAIL("%d prepared callbacks got other read_err/write_err than given", prep_bad_values);
	if (__atomic_load_n(&ran_inside, __ATOMIC_RELAXED))
		FAIL("a prepared callback ran inside kcopyd_do_callback");
	if (__atomic_load_n(&overlap_seen, __ATOMIC_RELAXED))
		FAIL("two callbacks of one client ran at the same time");
	if (__atomic_load_n(&wrong_thread, __ATOMIC_RELAXED))
		FAIL("callbacks ran on more than one thread");
	if (pthread_equal(engine_thread, pthread_self()))
		FAIL("callbacks ran on the main thread");
	for (unsigned int t = 0; t < TRIG_THREADS; t++)
		if (pthread_equal(engine_thread, th[t]))
			FAIL("callbacks ran on a triggering thread");
	kcopyd_client_destroy(prep_kc);
	ru_write_file(dst_path, dst_orig, SIZE);
	ru_log("ok: %u prepared callbacks from %u threads and from callbacks: each once, with its "
	       "values, on the client's thread, one at a time", TRIG_THREADS * TRIG_EACH + 1,
	       TRIG_THREADS);
}

/* ---- region arrays freed right after the call ------------------------------ */

static void arrays_freed(struct kcopyd_client *kc, struct block_device *s, struct block_device *d)
{
	struct io_region *from = ru_malloc(sizeof(*from)), *to = ru_malloc(2 * sizeof(*to));
	struct ru_done done;
	uint8_t *got = ru_malloc(SIZE);

	*from = (struct io_region){ s, 7, 500 };
	to[0] = (struct io_region){ d, 0, 500 };
	to[1] = (struct io_region){ d, 1000, 500 };
	ru_done_init(&done);
	CHECK_OK(kcopyd_copy_ex(kc, from, 2, to, 0, ru_done_cb, &done));
	memset(from, 0xff, sizeof(*from));
	memset(to, 0xff, 2 * sizeof(*to));
	free(from);
	free(to);
	ru_counter_wait(&done.calls, 1, 30, "copy with freed arrays");
	CHECK_OK(kcopyd_client_wait(kc));
	CHECK_EQ(done.res.read_err, 0);
	CHECK_EQ(done.res.write_err, 0);
	ru_pread(dst_path, got, SIZE, 0);
	if (memcmp(got, src_data + 7 * 512, 500 * 512) || memcmp(got + 1000 * 512, src_data + 7 * 512, 500 * 512))
		FAIL("a copy whose region arrays were freed after the call is wrong");
	pthread_mutex_destroy(&done.calls.lock);
	pthread_cond_destroy(&done.calls.cond);
	free(got);
	ru_write_file(dst_path, dst_orig, SIZE);
	ru_log("ok: region arrays freed and overwritten right after the call");
}

int main(void)
{
	struct kcopyd_client *kc;
	struct block_device *s, *d;

	ru_init("test-api-misuse", 90);
	src_data = ru_malloc(SIZE);
	dst_orig = ru_malloc(SIZE);
	ru_fill_data(src_data, SIZE, 0xa51);
	ru_fill_old(dst_orig, SIZE, 0xa52);
	snprintf(src_path, sizeof(src_path), "%s", ru_path("src"));
	snprintf(dst_path, sizeof(dst_path), "%s", ru_path("dst"));
	ru_write_file(src_path, src_data, SIZE);
	ru_write_file(dst_path, dst_orig, SIZE);

	/* Children first, while this process has no other thread. */
	destroy_from_callbacks();

	open_misuse();
	create_misuse();
	CHECK_OK(kcopyd_client_create(16, &kc));
	s = ru_open(src_path, O_RDONLY, 0);
	d = ru_open(dst_path, O_RDWR, 0);
	null_pointers(kc, s, d);
	unknown_flags(kc, s, d);
	zero_skip_zeroes(kc, d);
	wait_from_callbacks(kc, s, d);
	arrays_freed(kc, s, d);
	prepared_many_threads(s, d);
	CHECK_OK(kcopyd_client_wait(kc));
	if (__atomic_load_n(&stray_calls, __ATOMIC_RELAXED))
		FAIL("%d callbacks ran for refused jobs", stray_calls);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(s);
	kcopyd_bdev_close(d);
	free(src_data);
	free(dst_orig);
	ru_pass();
}
