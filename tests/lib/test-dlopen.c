/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shared library loads with dlopen (RTLD_NOW: every symbol it needs
 * resolves), exports every public function of kcopyd.h, hides the internal
 * ones, and the loaded library reports the header's version.
 * The library is $KCOPYD_BUILD/lib/libkcopyd.so (set by tests/run-tests.sh),
 * else the path meson built it at; skipped if neither exists.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcopyd.h"

static const char *const public_functions[] = {
	"kcopyd_client_create", "kcopyd_copy", "kcopyd_zero", "kcopyd_client_destroy",
	"kcopyd_bdev_open", "kcopyd_bdev_close", "kcopyd_bdev_sectors",
	"kcopyd_bdev_open_ex", "kcopyd_bdev_size", "kcopyd_bdev_logical_block_size",
	"kcopyd_bdev_physical_block_size", "kcopyd_bdev_is_blockdev", "kcopyd_bdev_is_direct",
	"kcopyd_bdev_can_zero", "kcopyd_bdev_flush", "kcopyd_client_wait", "kcopyd_client_engine",
	"kcopyd_client_set_sub_job_size", "kcopyd_client_set_queue_depth",
	"kcopyd_client_set_rate", "kcopyd_client_stats", "kcopyd_copy_ex", "kcopyd_zero_ex",
	"kcopyd_prepare_callback", "kcopyd_do_callback", "kcopyd_version", "kcopyd_client_cancel",
};

/* Internal functions of lib/internal.h: never exported. */
static const char *const internal_functions[] = {
	"kc_pool_init", "kc_pool_alloc", "kc_pool_free", "kc_engine_main", "kc_io_report",
	"kc_fail", "kc_now_ns", "kc_backend_uring", "kc_backend_threads", "kc_endpoint_file",
	"kc_client_wake", "kc_uring_counts",
};

int main(void)
{
	const char *build = getenv("KCOPYD_BUILD");
	char path[4096], want[32];
	const char *(*version)(void);
	int (*create)(unsigned int, struct kcopyd_client **);
	struct kcopyd_client *kc = NULL;
	void *h;
	size_t i;
	int bad = 0;

	alarm(120);
	if (build && *build)
		snprintf(path, sizeof(path), "%s/lib/libkcopyd.so", build);
	else
#ifdef KCOPYD_SO_PATH
		snprintf(path, sizeof(path), "%s", KCOPYD_SO_PATH);
#else
		path[0] = 0;
#endif
	if (!path[0] || access(path, R_OK) != 0) {
		fprintf(stderr, "test-dlopen: SKIP: no shared library at '%s'\n", path);
		return 77;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "test-dlopen: FAIL: dlopen(%s): %s\n", path, dlerror());
		return 1;
	}
	for (i = 0; i < sizeof(public_functions) / sizeof(public_functions[0]); i++) {
		dlerror();
		if (!dlsym(h, public_functions[i])) {
			fprintf(stderr, "test-dlopen: FAIL: %s is not exported\n", public_functions[i]);
			bad = 1;
		}
	}
	for (i = 0; i < sizeof(internal_functions) / sizeof(internal_functions[0]); i++) {
		if (dlsym(h, internal_functions[i])) {
			fprintf(stderr, "test-dlopen: FAIL: internal %s is exported\n",
				internal_functions[i]);
			bad = 1;
		}
	}
	*(void **)&version = dlsym(h, "kcopyd_version");
	*(void **)&create = dlsym(h, "kcopyd_client_create");
	snprintf(want, sizeof(want), "%d.%d.%d", KCOPYD_VERSION_MAJOR, KCOPYD_VERSION_MINOR,
		 KCOPYD_VERSION_MICRO);
	if (version && strcmp(version(), want) != 0) {
		fprintf(stderr, "test-dlopen: FAIL: the library is %s, the header %s\n", version(), want);
		bad = 1;
	}
	if (create && create(0, &kc) >= 0) {
		fprintf(stderr, "test-dlopen: FAIL: kcopyd_client_create(0) succeeded\n");
		bad = 1;
	}
	if (dlclose(h) != 0) {
		fprintf(stderr, "test-dlopen: FAIL: dlclose: %s\n", dlerror());
		bad = 1;
	}
	if (!bad)
		printf("test-dlopen: PASS (%s)\n", path);
	return bad;
}
