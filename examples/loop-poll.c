/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy of copy-file.c driven by the program's own poll() loop:
 *
 *     kcopyd-loop-poll SOURCE DEST [DEST...]
 *
 * The client is made with KCOPYD_CLIENT_NO_THREAD, so it has no thread of
 * its own: nothing happens unless this loop calls kcopyd_client_run_once(),
 * and the job's callback runs here, in main()'s thread, from that call.
 * The loop sleeps in poll() on the client's descriptor, at most until the
 * client's next deadline (kcopyd_client_next_deadline(): retries and
 * throttles fire on timers, not on the descriptor) or until the program's
 * own 500 ms progress tick, whichever comes first: the program keeps
 * control of its loop and does its own work between passes.
 *
 * The job is a kcopyd_copy_ex(), whose result gives each destination's
 * errno.  Exit status: 0 copied, 1 an I/O or set-up error, 2 a usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <kcopyd.h>

#include "dest.h"

#define TICK_NS 500000000ull    /* the progress tick: 500 ms */

struct job {
	bool done;
	struct kcopyd_result result;
};

/* Runs in main()'s thread, from kcopyd_client_run_once(). */
static void copy_done(const struct kcopyd_result *result, void *context)
{
	struct job *job = context;

	job->result = *result;
	job->done = true;
}

/* poll()'s timeout until the time at (ns), rounded up so as not to wake
 * before it; 0 when it has come. */
static int ms_until(uint64_t at, uint64_t now)
{
	uint64_t ms;

	if (at <= now)
		return 0;
	ms = (at - now + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

int main(int argc, char **argv)
{
	struct job job = { .done = false };
	struct kcopyd_client *kc;
	struct copy_set cs;
	struct pollfd pfd;
	uint64_t tick_at;
	bool broke = false;
	int err = copy_set_open(&cs, argc, argv);

	if (err)
		return err;
	err = kcopyd_client_create_ex(1024, KCOPYD_CLIENT_NO_THREAD, &kc);
	if (err < 0)
		return copy_set_abort(&cs, NULL, "kcopyd_client_create_ex", err);
	pfd = (struct pollfd){ .fd = kcopyd_client_get_fd(kc), .events = POLLIN };
	/* A destination that fails does not stop the others (dest.c says
	 * "copied" of each one not in write_err). */
	err = kcopyd_copy_ex(kc, &cs.from, cs.n, cs.to, KCOPYD_IGNORE_ERROR, copy_done, &job);
	if (err < 0)
		return copy_set_abort(&cs, kc, "kcopyd_copy_ex", err);

	tick_at = now_ns() + TICK_NS;
	while (!job.done) {
		uint64_t deadline, now = now_ns();
		int has_deadline = kcopyd_client_next_deadline(kc, &deadline);
		int timeout = ms_until(tick_at, now);
		int n;

		if (has_deadline < 0) {
			fprintf(stderr, "%s: kcopyd_client_next_deadline: %s\n", cs.prog,
				strerror(-has_deadline));
			broke = true;
			break;
		}
		if (has_deadline == 1 && ms_until(deadline, now) < timeout)
			timeout = ms_until(deadline, now);

		n = poll(&pfd, 1, timeout);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "%s: poll: %s\n", cs.prog, strerror(errno));
			broke = true;
			break;
		}

		now = now_ns();
		if (now >= tick_at) {           /* the program's own work */
			copy_set_progress(&cs, kc);
			tick_at = now + TICK_NS;
		}
		/* The client's work: when its descriptor says so or its deadline came. */
		if (n > 0 || (has_deadline == 1 && now >= deadline)) {
			err = kcopyd_client_run_once(kc);
			if (err < 0) {
				fprintf(stderr, "%s: kcopyd_client_run_once: %s\n", cs.prog,
					strerror(-err));
				broke = true;
				break;
			}
		}
	}
	/* On the owner thread, destroy drives the client itself until the job
	 * (if the loop broke off) has called back. */
	copy_set_progress(&cs, kc);
	kcopyd_client_destroy(kc);
	if (broke) {
		copy_set_close(&cs);
		return 1;
	}
	return copy_set_finish(&cs, job.result.read_err, job.result.write_err,
			       job.result.dest_errno);
}
