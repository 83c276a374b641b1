/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A test endpoint that talks to a server over a socket, as a remote
 * endpoint (NBD) does: the engine watches its descriptor, in the direction
 * it asks for; it sends what it queued from a hook before the engine
 * sleeps; a full send buffer makes it wait for POLLOUT; replies come back
 * in any order; a request deadline on the engine's timers ends a server
 * that stops answering.  The server is a thread of this library serving a
 * local file.  Test-only, like the fault endpoint.
 */
#ifndef KCOPYD_TEST_SOCK_H
#define KCOPYD_TEST_SOCK_H

#include <stdint.h>

#include "internal.h"

struct kc_sock_config {
	unsigned int sndbuf;          /* the endpoint's SO_SNDBUF (0: the default) */
	unsigned int reorder;         /* the server answers this many at a time, last first */
	unsigned int delay_us;        /* the server waits this long before each answer */
	unsigned int hang_after;      /* the server stops answering after this many (0: never) */
	unsigned int timeout_ms;      /* a request's deadline (0: none) */
};

struct kc_sock_stats {
	uint64_t requests;            /* sent to the server */
	uint64_t pollout_waits;       /* a send met a full buffer and waited for POLLOUT */
	uint64_t hook_sends;          /* sends made from the hook before the engine waits */
	uint64_t direction_changes;   /* the events it asked the engine for changed */
	uint64_t out_of_order;        /* answers that came before an older one's */
	uint64_t timeouts;            /* the deadline passed: the connection was dropped */
	uint64_t reentered;           /* submit() called while inside its own ready(): must be 0 */
	uint64_t attaches;            /* attach() calls */
};

/* Serve path (opened with acc: O_RDONLY or O_RDWR) through a new socket. */
int kc_sock_open(const char *path, int acc, const struct kc_sock_config *cfg,
		 struct block_device **result);
void kc_sock_stats(struct block_device *bd, struct kc_sock_stats *out);

#endif
