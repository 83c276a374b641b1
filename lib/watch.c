/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What an endpoint that talks to a server needs of the engine's loop:
 * descriptors watched with the I/O, hooks run before the engine waits,
 * the engine's timers, and attach/detach around the jobs that use it.
 * File endpoints need none of it: for them a turn costs a test of three
 * empty lists.  Engine thread only, except kc_attach_lock.
 */
#include <errno.h>
#include <poll.h>

#include "internal.h"

/* A device with attach serves one client at a time: its record of which
 * is shared by every client's engine thread.  Recursive: a wrapper's
 * attach attaches the device it wraps. */
static pthread_mutex_t kc_attach_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

/* 0, or why bd cannot serve kc now. */
int kc_attach(struct kcopyd_client *kc, struct block_device *bd)
{
	int err = 0;

	pthread_mutex_lock(&kc_attach_lock);
	if (bd->attached && bd->attached != kc) {
		err = -EBUSY;
	} else if (!bd->attached) {
		err = bd->ops->attach(kc, bd);
		if (!err)
			bd->attached = kc;
	}
	if (!err)
		bd->attached_jobs++;
	pthread_mutex_unlock(&kc_attach_lock);
	return err;
}

void kc_detach(struct kcopyd_client *kc, struct block_device *bd)
{
	pthread_mutex_lock(&kc_attach_lock);
	if (--bd->attached_jobs == 0) {
		bd->ops->detach(kc, bd);
		bd->attached = NULL;
	}
	pthread_mutex_unlock(&kc_attach_lock);
}

void kc_watch_add(struct kcopyd_client *kc, struct kc_watch *w)
{
	w->armed = w->revents = 0;
	w->busy = w->removing = w->queued = false;
	w->next = kc->watches;
	kc->watches = w;
}

void kc_watch_set(struct kcopyd_client *kc, struct kc_watch *w, unsigned int events)
{
	(void)kc;
	w->events = events & (POLLIN | POLLOUT);
}

void kc_watch_del(struct kcopyd_client *kc, struct kc_watch *w)
{
	struct kc_watch **p;

	for (p = &kc->watches; *p && *p != w; p = &(*p)->next)
		;
	if (!*p)
		return;
	*p = w->next;
	kc->backend->watch_del(kc, w);
	if (w->queued) {
		for (p = &kc->watch_ready; *p != w; p = &(*p)->next_ready)
			;
		*p = w->next_ready;
		w->queued = false;
	}
}

void kc_watch_report(struct kcopyd_client *kc, struct kc_watch *w, unsigned int revents)
{
	w->revents |= revents;
	if (w->queued)
		return;
	w->queued = true;
	w->next_ready = kc->watch_ready;
	kc->watch_ready = w;
}

/* Run ready() of every watch the backend saw ready.  True if any ran. */
bool kc_watches_run(struct kcopyd_client *kc)
{
	bool ran = false;

	while (kc->watch_ready) {
		struct kc_watch *w = kc->watch_ready;
		unsigned int revents = w->revents;

		kc->watch_ready = w->next_ready;
		w->queued = false;
		w->revents = 0;
		ran = true;
		w->ready(kc, w, revents);
	}
	return ran;
}

void kc_hook_add(struct kcopyd_client *kc, struct kc_hook *h)
{
	h->next = kc->hooks;
	kc->hooks = h;
}

void kc_hook_del(struct kcopyd_client *kc, struct kc_hook *h)
{
	for (struct kc_hook **p = &kc->hooks; *p; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			return;
		}
}

void kc_before_wait(struct kcopyd_client *kc)
{
	for (struct kc_hook *h = kc->hooks, *next; h; h = next) {
		next = h->next;         /* a hook may delete itself */
		h->fn(kc, h);
	}
	for (struct kc_watch *w = kc->watches; w; w = w->next)
		if (w->events != w->armed)
			kc->backend->watch_update(kc, w);
}

int kc_client_timers_reserve(struct kcopyd_client *kc, uint32_t more)
{
	int err = kc_timers_reserve(&kc->timers, kc->timers.cap + more);

	if (!err)
		kc->timers_extra += more;
	return err;
}

void kc_client_timers_release(struct kcopyd_client *kc, uint32_t n)
{
	kc->timers_extra -= n;          /* the room itself stays until the next resize */
}

void kc_client_timer_arm(struct kcopyd_client *kc, struct kc_timer *t, uint64_t at_ns)
{
	kc_timer_arm(&kc->timers, t, at_ns);
}

void kc_client_timer_cancel(struct kcopyd_client *kc, struct kc_timer *t)
{
	kc_timer_cancel(&kc->timers, t);
}
