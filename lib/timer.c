/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's timers: a binary min-heap of struct kc_timer pointers on
 * kc_now_ns().  One facility for everything that waits: an I/O's retry
 * after -EAGAIN, the throttle's next budget, an endpoint's request
 * deadlines.  Delays range from a millisecond to hours (a throttle of a few
 * bytes a second), which a heap takes in O(log n) with no levels to tune.
 *
 * The heap's room is reserved in advance (kc_timers_reserve), for every
 * timer that can be armed at once, so arming never allocates and never
 * fails.  Engine thread only.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

int kc_timers_reserve(struct kc_timers *h, uint32_t cap)
{
	struct kc_timer **heap;

	if (cap < h->n)
		cap = h->n;
	if (cap == h->cap)
		return 0;
	heap = realloc(h->heap, (cap ? cap : 1) * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	h->heap = heap;
	h->cap = cap;
	return 0;
}

void kc_timers_fini(struct kc_timers *h)
{
	free(h->heap);
	h->heap = NULL;
	h->n = h->cap = 0;
}

static void place(struct kc_timers *h, uint32_t i, struct kc_timer *t)
{
	h->heap[i] = t;
	t->slot = i + 1;
}

/* Move t, which belongs at index i, up or down to where the order holds. */
static void settle(struct kc_timers *h, uint32_t i, struct kc_timer *t)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->heap[parent]->at <= t->at)
			break;
		place(h, i, h->heap[parent]);
		i = parent;
	}
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->heap[c + 1]->at < h->heap[c]->at)
			c++;
		if (t->at <= h->heap[c]->at)
			break;
		place(h, i, h->heap[c]);
		i = c;
	}
	place(h, i, t);
}

void kc_timer_arm(struct kc_timers *h, struct kc_timer *t, uint64_t at)
{
	t->at = at;
	if (t->slot) {          /* armed already: it moves */
		settle(h, t->slot - 1, t);
		return;
	}
	if (h->n == h->cap)
		kc_fail("timer heap full (%u): a timer was armed that no reservation counted", h->cap);
	settle(h, h->n++, t);
}

void kc_timer_cancel(struct kc_timers *h, struct kc_timer *t)
{
	uint32_t i = t->slot;
	struct kc_timer *last;

	if (!i)
		return;
	t->slot = 0;
	last = h->heap[--h->n];
	if (last != t)
		settle(h, i - 1, last);
}

uint64_t kc_timer_next(const struct kc_timers *h)
{
	return h->n ? h->heap[0]->at : UINT64_MAX;
}

void kc_timers_run(struct kcopyd_client *kc, struct kc_timers *h, uint64_t now)
{
	while (h->n && h->heap[0]->at <= now) {
		struct kc_timer *t = h->heap[0];

		kc_timer_cancel(h, t);
		t->fn(kc, t);
	}
}
