/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy of loop-poll.c on a libuv loop:
 *
 *     kcopyd-loop-uv SOURCE DEST [DEST...]
 *
 * A client made with KCOPYD_CLIENT_NO_THREAD is driven by three handles of
 * the program's loop: a uv_poll_t on the client's descriptor, a one-shot
 * uv_timer_t re-armed after every kcopyd_client_run_once() from
 * kcopyd_client_next_deadline() (retries and throttles fire on timers, not
 * on the descriptor), and the program's own uv_timer_t, a 500 ms progress
 * tick.  The job's callback runs in the loop's thread, from run_once; once
 * it has, the handles are closed and uv_run() returns.
 *
 * Exit status: 0 copied, 1 an I/O or set-up error, 2 a usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include <kcopyd.h>

#include "dest.h"

#define TICK_MS 500

struct prog {
	struct copy_set cs;
	struct kcopyd_client *kc;
	uv_poll_t readable;
	uv_timer_t deadline;
	uv_timer_t tick;
	bool done, failed;
	struct kcopyd_result result;
};

/* Runs in the loop's thread, from kcopyd_client_run_once(). */
static void copy_done(const struct kcopyd_result *result, void *context)
{
	struct prog *p = context;

	p->result = *result;
	p->done = true;
}

static void stop(struct prog *p)
{
	uv_close((uv_handle_t *)&p->readable, NULL);
	uv_close((uv_handle_t *)&p->deadline, NULL);
	uv_close((uv_handle_t *)&p->tick, NULL);
}

static void on_deadline(uv_timer_t *t);

/* One pass of the client, then the deadline timer set for the next one. */
static void run_client(struct prog *p)
{
	uint64_t at, now;
	int err = kcopyd_client_run_once(p->kc);

	if (err < 0) {
		fprintf(stderr, "%s: kcopyd_client_run_once: %s\n", p->cs.prog, strerror(-err));
		p->failed = true;
	} else if (!p->done) {
		err = kcopyd_client_next_deadline(p->kc, &at);
		if (err < 0) {
			fprintf(stderr, "%s: kcopyd_client_next_deadline: %s\n", p->cs.prog,
				strerror(-err));
			p->failed = true;
		} else if (err == 1) {
			/* libuv's timers count from the loop's cached time:
			 * bring it up to date; round up so as not to fire early. */
			uv_update_time(p->readable.loop);
			now = now_ns();
			uv_timer_start(&p->deadline, on_deadline,
				       at > now ? (at - now + 999999) / 1000000 : 0, 0);
		} else {
			uv_timer_stop(&p->deadline);
		}
	}
	if (p->done || p->failed)
		stop(p);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct prog *p = h->data;

	(void)events;
	if (status < 0) {
		fprintf(stderr, "%s: uv_poll: %s\n", p->cs.prog, uv_strerror(status));
		p->failed = true;
		stop(p);
		return;
	}
	run_client(p);
}

static void on_deadline(uv_timer_t *t)
{
	run_client(t->data);
}

/* The program's own work, on its own timer. */
static void on_tick(uv_timer_t *t)
{
	struct prog *p = t->data;

	copy_set_progress(&p->cs, p->kc);
}

int main(int argc, char **argv)
{
	static struct prog p;
	uv_loop_t *loop = uv_default_loop();
	int err = copy_set_open(&p.cs, argc, argv);

	if (err)
		return err;
	err = kcopyd_client_create_ex(1024, KCOPYD_CLIENT_NO_THREAD, &p.kc);
	if (err < 0)
		return copy_set_abort(&p.cs, NULL, "kcopyd_client_create_ex", err);
	/* libuv's errors are negative errno values on Unix, as kcopyd's. */
	err = uv_poll_init(loop, &p.readable, kcopyd_client_get_fd(p.kc));
	if (err < 0)
		return copy_set_abort(&p.cs, p.kc, "uv_poll_init", err);
	uv_timer_init(loop, &p.deadline);
	uv_timer_init(loop, &p.tick);
	p.readable.data = p.deadline.data = p.tick.data = &p;

	/* A destination that fails does not stop the others (dest.c says
	 * "copied" of each one not in write_err). */
	err = kcopyd_copy_ex(p.kc, &p.cs.from, p.cs.n, p.cs.to, KCOPYD_IGNORE_ERROR, copy_done,
			     &p);
	if (err < 0) {
		fprintf(stderr, "%s: kcopyd_copy_ex: %s\n", p.cs.prog, strerror(-err));
		p.failed = true;
		stop(&p);
	} else {
		uv_poll_start(&p.readable, UV_READABLE, on_readable);
		uv_timer_start(&p.tick, on_tick, TICK_MS, TICK_MS);
		run_client(&p);         /* the first pass starts the job */
	}
	uv_run(loop, UV_RUN_DEFAULT);   /* until stop()'s handles are closed */
	uv_loop_close(loop);

	if (p.done)
		copy_set_progress(&p.cs, p.kc);
	/* Drives the client itself until a job left by a failed loop calls back. */
	kcopyd_client_destroy(p.kc);
	if (p.failed) {
		copy_set_close(&p.cs);
		return 1;
	}
	return copy_set_finish(&p.cs, p.result.read_err, p.result.write_err, p.result.dest_errno);
}
