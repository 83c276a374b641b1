/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fault-injecting endpoint, for tests: it wraps any device (a file, a
 * block device, another fault device) and fails chosen requests, cuts
 * transfers short and delays completions; what it lets through goes to the
 * wrapped device's own I/O.  A test-only
 * library (tests/fault/meson.build: fault_dep), never part of libkcopyd; it
 * reaches the engine through lib/internal.h.  It stands for its inner device
 * in the same-storage checks (ops->base).
 *
 * Every fault it injects is logged, so a test can check that each callback
 * reports exactly the faults that hit its job.
 */
#ifndef KCOPYD_FAULT_H
#define KCOPYD_FAULT_H

#include "kcopyd.h"

#define KC_FAULT_READ  (1u << 0)
#define KC_FAULT_WRITE (1u << 1)      /* writes and zeroing */

/* Zeroing fast paths (kc_fault_config.zero_offer, zero_works). */
#define KC_FAULT_PUNCH_HOLE (1u << 0)
#define KC_FAULT_ZERO_RANGE (1u << 1)

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
	/* Stutter: requests of the kinds in fail_ops fail this many times in
	 * a row with fail_error, then one moves a single sector (the rest
	 * cut short), and so on: progress with a retry before every step. */
	unsigned int stutter;
	uint64_t seed;
	/* Zeroing fast paths the device claims (KC_FAULT_PUNCH_HOLE,
	 * KC_FAULT_ZERO_RANGE; 0: none, the engine writes zeros), and which
	 * of them really work: those pass the request to the wrapped
	 * device's own zeroing, the others fail with -EOPNOTSUPP, as a file
	 * system without them. */
	unsigned int zero_offer, zero_works;
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
/* From now on the wrapped device ends at byte eof, as a file truncated
 * under the reader: reads stop there (a read crossing it is cut short, one
 * at or past it returns 0 bytes).  UINT64_MAX (the default): no end but the
 * wrapped device's own.  The device's recorded size does not change. */
void kc_fault_set_eof(struct block_device *bd, uint64_t eof);
/* fallocate(2) calls tried with a zeroing fast path (KC_FAULT_PUNCH_HOLE or
 * KC_FAULT_ZERO_RANGE), working or not. */
uint64_t kc_fault_zero_tries(struct block_device *bd, unsigned int path);

#endif
