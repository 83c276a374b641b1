/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fault-injecting endpoint, for tests: it wraps a real device and fails
 * chosen requests, cuts transfers short and delays completions.  It is built
 * into the library but not exported from the shared object: tests link the
 * static library (libkcopyd_internal_dep) to use it.
 *
 * Every fault it injects is logged, so a test can check that each callback
 * reports exactly the faults that hit its job.
 */
#ifndef KCOPYD_FAULT_H
#define KCOPYD_FAULT_H

#include "kcopyd.h"

#define KC_FAULT_READ  (1u << 0)
#define KC_FAULT_WRITE (1u << 1)      /* writes and zeroing */

struct kc_fault_rule {
	unsigned int ops;       /* KC_FAULT_READ | KC_FAULT_WRITE */
	uint64_t start, end;    /* bytes [start, end): a request touching them fails */
	int error;              /* negative errno, such as -EIO or -ENOSPC */
};

struct kc_fault_config {
	const struct kc_fault_rule *rules;
	unsigned int num_rules;
	unsigned int fail_ppm;      /* also fail this many requests per million, at random */
	int fail_error;             /* with this error (default -EIO) */
	unsigned int fail_ops;      /* ...of these kinds (default both) */
	unsigned int short_pct;     /* cut this percentage of transfers short */
	unsigned int delay_max_us;  /* delay each completion by up to this much */
	uint64_t seed;
};

struct kc_fault_event {
	unsigned int op;            /* KC_FAULT_READ or KC_FAULT_WRITE */
	int error;
	uint64_t start, end;        /* bytes of the failed request */
};

/* Wrap inner (which the new device then owns: closing it closes inner). */
int kc_fault_open(struct block_device *inner, const struct kc_fault_config *cfg,
		  struct block_device **result);
/* Copy up to max logged faults into out; returns how many were logged in all. */
size_t kc_fault_events(struct block_device *bd, struct kc_fault_event *out, size_t max);
/* Requests cut short so far. */
uint64_t kc_fault_shorts(struct block_device *bd);

#endif
