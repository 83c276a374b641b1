/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every test in event-loop mode: with KCOPYD_TEST_MODE=loop, the tests'
 * kcopyd_client_create() makes a client without a thread of its own
 * (KCOPYD_CLIENT_NO_THREAD), on a driver thread that polls its descriptor
 * and calls kcopyd_client_run_once() by its deadlines, as a program's loop
 * would; kcopyd_client_destroy() has the driver destroy it (the owner
 * thread drives it to the end) and ends the driver.  Otherwise both are the
 * library's own.  The test helpers' headers include this one after
 * kcopyd.h.
 */
#ifndef KCOPYD_TEST_LOOPDRIVE_H
#define KCOPYD_TEST_LOOPDRIVE_H

#include "kcopyd.h"

int ld_client_create(unsigned int num_pages, struct kcopyd_client **result);
void ld_client_destroy(struct kcopyd_client *kc);
/* True when KCOPYD_TEST_MODE=loop. */
int ld_loop_mode(void);

#ifndef LOOPDRIVE_IMPL
#define kcopyd_client_create(n, r) ld_client_create((n), (r))
#define kcopyd_client_destroy(kc) ld_client_destroy(kc)
#endif

#endif
