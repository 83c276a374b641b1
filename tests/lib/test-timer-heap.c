/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's timer heap (lib/timer.c) against a model: random arms,
 * re-arms (which move a timer), cancels and runs; every run must fire
 * exactly the timers due, earliest first, each once, and the next deadline
 * must be the model's earliest.  A timer's callback re-arming itself and
 * cancelling another is covered too.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define N 300

static struct kc_timer timers[N];
static uint64_t model[N];          /* deadline, or UINT64_MAX when idle */
static int fired[N];
static uint64_t last_fired_at;
static int failures;
static struct kc_timers heap;

#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

static void on_fire(struct kcopyd_client *kc, struct kc_timer *t)
{
	size_t i = (size_t)(t - timers);

	(void)kc;
	CHECK(t->slot == 0, "timer %zu fires while still in the heap", i);
	CHECK(model[i] != UINT64_MAX, "timer %zu fires while idle", i);
	CHECK(t->at >= last_fired_at, "timer %zu (at %llu) fires after one at %llu", i,
	      (unsigned long long)t->at, (unsigned long long)last_fired_at);
	last_fired_at = t->at;
	model[i] = UINT64_MAX;
	fired[i]++;
}

/* Fires once more, later, and cancels timer 1 the first time. */
static void on_fire_rearm(struct kcopyd_client *kc, struct kc_timer *t)
{
	static int times;

	on_fire(kc, t);
	if (times++ == 0) {
		kc_timer_cancel(&heap, &timers[1]);
		model[1] = UINT64_MAX;
		kc_timer_arm(&heap, t, t->at + 1000);
		model[t - timers] = t->at;
	}
}

static uint64_t rnd(void)
{
	static uint64_t s = 0x9e3779b97f4a7c15ull;

	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

static void check_next(void)
{
	uint64_t least = UINT64_MAX;
	uint32_t armed = 0;

	for (int i = 0; i < N; i++) {
		if (model[i] < least)
			least = model[i];
		armed += model[i] != UINT64_MAX;
		CHECK((timers[i].slot != 0) == (model[i] != UINT64_MAX), "timer %d armed state", i);
	}
	CHECK(kc_timer_next(&heap) == least, "next %llu, model %llu",
	      (unsigned long long)kc_timer_next(&heap), (unsigned long long)least);
	CHECK(heap.n == armed, "heap holds %u, model %u", heap.n, armed);
}

int main(void)
{
	uint64_t now = 1000;

	if (kc_timers_reserve(&heap, N)) {
		fprintf(stderr, "no memory\n");
		return 1;
	}
	for (int i = 0; i < N; i++) {
		timers[i].fn = on_fire;
		model[i] = UINT64_MAX;
	}
	CHECK(kc_timer_next(&heap) == UINT64_MAX, "empty heap has a deadline");
	kc_timer_cancel(&heap, &timers[0]);     /* idle: nothing */
	for (int round = 0; round < 20000; round++) {
		int i = (int)(rnd() % N);

		switch (rnd() % 4) {
		case 0: case 1: {       /* arm or re-arm, sometimes at equal times */
			uint64_t at = now + rnd() % 500;

			kc_timer_arm(&heap, &timers[i], at);
			model[i] = at;
			break;
		}
		case 2:
			kc_timer_cancel(&heap, &timers[i]);
			model[i] = UINT64_MAX;
			break;
		case 3: {
			int want[N], expect = 0, got = 0;

			now += rnd() % 100;
			for (int j = 0; j < N; j++) {
				want[j] = model[j] <= now;
				expect += want[j];
				fired[j] = 0;
			}
			last_fired_at = 0;
			kc_timers_run(NULL, &heap, now);
			for (int j = 0; j < N; j++) {
				CHECK(fired[j] == want[j], "timer %d fired %d times, expected %d", j,
				      fired[j], want[j]);
				got += fired[j];
			}
			CHECK(got == expect, "fired %d of %d due", got, expect);
			break;
		}
		}
		check_next();
		if (failures > 10)
			break;
	}
	/* A callback that re-arms itself and cancels another timer. */
	for (int i = 0; i < N; i++) {
		kc_timer_cancel(&heap, &timers[i]);
		model[i] = UINT64_MAX;
	}
	timers[0].fn = on_fire_rearm;
	kc_timer_arm(&heap, &timers[0], 10);
	kc_timer_arm(&heap, &timers[1], 20);
	model[0] = 10;
	model[1] = 20;
	fired[0] = fired[1] = 0;
	last_fired_at = 0;
	kc_timers_run(NULL, &heap, 15);
	CHECK(fired[0] == 1 && fired[1] == 0, "re-arm run: fired %d %d", fired[0], fired[1]);
	CHECK(kc_timer_next(&heap) == 1010, "re-armed for %llu",
	      (unsigned long long)kc_timer_next(&heap));
	kc_timers_run(NULL, &heap, 2000);
	CHECK(fired[0] == 2 && fired[1] == 0, "second run: fired %d %d", fired[0], fired[1]);
	check_next();
	kc_timers_fini(&heap);
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("ok: timer heap agrees with the model over 20000 operations\n");
	return 0;
}
