// SPDX-License-Identifier: LGPL-2.1-or-later
// The public header from C++: it compiles, its declarations have C linkage
// (this links against libkcopyd), and its types work in C++.
#include <kcopyd.h>

#include <cstdio>
#include <cstring>

static void notify(int, unsigned int, void *) {}

int main()
{
	struct kcopyd_client *kc = nullptr;
	kcopyd_notify_fn fn = notify;
	struct io_region r = { nullptr, 0, 0 };
	struct kcopyd_stats st = {};
	int bad = 0;

	(void)fn;
	(void)r;
	if (kcopyd_client_create(0, &kc) >= 0) {
		std::fprintf(stderr, "kcopyd_client_create(0) succeeded\n");
		bad = 1;
	}
	if (kcopyd_client_stats(nullptr, &st, sizeof(st)) >= 0)
		bad = 1;
	kcopyd_client_destroy(nullptr);
	kcopyd_bdev_close(nullptr);
	char want[32];
	std::snprintf(want, sizeof(want), "%d.%d.%d", KCOPYD_VERSION_MAJOR, KCOPYD_VERSION_MINOR,
		      KCOPYD_VERSION_MICRO);
	if (std::strcmp(kcopyd_version(), want) != 0)
		bad = 1;
	if (!bad)
		std::printf("test-header-cxx: PASS\n");
	return bad;
}
