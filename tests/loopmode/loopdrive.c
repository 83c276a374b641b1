/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The event-loop mode driver of the tests (loopdrive.h). */
#define LOOPDRIVE_IMPL
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loopdrive.h"

struct driver {
	struct driver *next;
	struct kcopyd_client *kc;
	unsigned int num_pages;
	int ret;                      /* of the create */
	int ctl;                      /* eventfd: destroy now */
	_Atomic int stop;
	sem_t created;
	pthread_t thread;
};

static pthread_mutex_t drivers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct driver *drivers;

int ld_loop_mode(void)
{
	const char *m = getenv("KCOPYD_TEST_MODE");

	return m && !strcmp(m, "loop");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *drive(void *arg)
{
	struct driver *d = arg;
	uint64_t v;

	d->ret = kcopyd_client_create_ex(d->num_pages, KCOPYD_CLIENT_NO_THREAD, &d->kc);
	sem_post(&d->created);
	if (d->ret)
		return NULL;
	while (!d->stop) {
		struct pollfd pfd[2] = {
			{ .fd = kcopyd_client_get_fd(d->kc), .events = POLLIN },
			{ .fd = d->ctl, .events = POLLIN },
		};
		uint64_t at, now;
		int ms = -1, err;

		if (kcopyd_client_next_deadline(d->kc, &at) == 1) {
			now = now_ns();
			ms = at <= now ? 0 : (at - now) / 1000000 >= INT_MAX ? INT_MAX :
			     (int)((at - now + 999999) / 1000000);
		}
		if (poll(pfd, 2, ms) < 0 && errno != EINTR) {
			perror("loopdrive: poll");
			abort();
		}
		if (pfd[1].revents && read(d->ctl, &v, sizeof(v)) < 0)
			abort();
		err = kcopyd_client_run_once(d->kc);
		if (err) {
			fprintf(stderr, "loopdrive: kcopyd_client_run_once: %s\n", strerror(-err));
			abort();
		}
	}
	kcopyd_client_destroy(d->kc);   /* drives the client to its end */
	return NULL;
}

int ld_client_create(unsigned int num_pages, struct kcopyd_client **result)
{
	struct driver *d;
	int ret;

	if (!ld_loop_mode())
		return kcopyd_client_create(num_pages, result);
	if (!result)
		return kcopyd_client_create_ex(num_pages, KCOPYD_CLIENT_NO_THREAD, result);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->num_pages = num_pages;
	d->ctl = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sem_init(&d->created, 0, 0);
	if (d->ctl < 0 || pthread_create(&d->thread, NULL, drive, d)) {
		if (d->ctl >= 0)
			close(d->ctl);
		free(d);
		return -EAGAIN;
	}
	while (sem_wait(&d->created) && errno == EINTR)
		;
	ret = d->ret;
	if (ret) {
		pthread_join(d->thread, NULL);
		close(d->ctl);
		free(d);
		return ret;
	}
	pthread_mutex_lock(&drivers_lock);
	d->next = drivers;
	drivers = d;
	pthread_mutex_unlock(&drivers_lock);
	*result = d->kc;
	return 0;
}

void ld_client_destroy(struct kcopyd_client *kc)
{
	struct driver **p, *d;
	uint64_t one = 1;

	pthread_mutex_lock(&drivers_lock);
	for (p = &drivers; *p && (*p)->kc != kc; p = &(*p)->next)
		;
	d = *p;
	if (d)
		*p = d->next;
	pthread_mutex_unlock(&drivers_lock);
	if (!d || pthread_equal(pthread_self(), d->thread)) {
		/* Not one of ours (NULL, a thread-mode client), or from one
		 * of its callbacks: the library's own answer. */
		kcopyd_client_destroy(kc);
		return;
	}
	d->stop = 1;
	if (write(d->ctl, &one, sizeof(one)) < 0)
		abort();
	pthread_join(d->thread, NULL);
	close(d->ctl);
	sem_destroy(&d->created);
	free(d);
}
