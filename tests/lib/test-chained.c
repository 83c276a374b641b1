/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Copies chained from callbacks: each callback checks the range its job
 * copied and submits the next job of its chain.  Four chains are started by
 * four threads at once.  Checks:
 *  - every callback runs on one thread, the client's: not the main thread,
 *    not a submitting thread;
 *  - never inside kcopyd_copy (a thread-local flag is set around every call);
 *  - never two callbacks of one client at the same time (an atomic counter);
 *  - kcopyd_client_wait waits for the jobs submitted from callbacks too;
 *  - two clients submitting to each other (ping-pong): each client's
 *    callbacks run on that client's own thread.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

#define CHAINS 4
#define LINKS 150
#define UNIT 8                               /* sectors per link */
#define PINGPONG 100

static _Thread_local int in_submit;
static const char *src_path, *dst_path;
static uint8_t *src_data;
static struct block_device *src_bd, *dst_bd;

struct client_info {
	struct kcopyd_client *kc;
	int active;                          /* callbacks running now (atomic) */
	int have_thread;                     /* atomic */
	pthread_t thread;                    /* the thread its callbacks run on */
	unsigned int calls;                  /* atomic */
};

static struct client_info ci[2];
static pthread_t main_thread, submitters[CHAINS];
static int chains_done;                  /* atomic */

struct link {
	struct client_info *c;
	struct client_info *next_c;          /* ping-pong: the client of the next link */
	unsigned int chain, index, last;
};

static struct link links[CHAINS][LINKS];
static struct link pp_links[PINGPONG];

static void notify(int read_err, unsigned int write_err, void *context);

static void submit(struct link *l)
{
	sector_t sec = ((sector_t)l->chain * LINKS + l->index) * UNIT;
	struct io_region from = tu_region(src_bd, sec, UNIT), to = tu_region(dst_bd, sec, UNIT);
	int r;

	in_submit = 1;
	r = kcopyd_copy(l->c->kc, &from, 1, &to, 0, notify, l);
	in_submit = 0;
	if (r != 0)
		FAIL("chain %u link %u: kcopyd_copy returned %d", l->chain, l->index, r);
}

static void check_callback_thread(struct client_info *c)
{
	pthread_t self = pthread_self();
	int expected = 0;
	unsigned int i;

	if (in_submit)
		FAIL("a callback ran inside kcopyd_copy");
	if (pthread_equal(self, main_thread))
		FAIL("a callback ran on the main thread");
	for (i = 0; i < CHAINS; i++)
		if (pthread_equal(self, submitters[i]))
			FAIL("a callback ran on submitting thread %u", i);
	if (__atomic_compare_exchange_n(&c->have_thread, &expected, 2, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		c->thread = self;
		__atomic_store_n(&c->have_thread, 1, __ATOMIC_RELEASE);
	} else {
		while (__atomic_load_n(&c->have_thread, __ATOMIC_ACQUIRE) != 1)
			;
		if (!pthread_equal(c->thread, self))
			FAIL("callbacks of client %d ran on two different threads", (int)(c - ci));
	}
}

static void notify(int read_err, unsigned int write_err, void *context)
{
	struct link *l = context;
	struct client_info *c = l->c;
	sector_t sec = ((sector_t)l->chain * LINKS + l->index) * UNIT;
	uint8_t buf[UNIT * 512];

	if (__atomic_fetch_add(&c->active, 1, __ATOMIC_ACQ_REL) != 0)
		FAIL("two callbacks of client %d ran at the same time", (int)(c - ci));
	check_callback_thread(c);
	if (read_err || write_err)
		FAIL("chain %u link %u: read_err %d write_err %#x", l->chain, l->index,
		     read_err, write_err);
	tu_read_at(dst_path, sec * 512, buf, sizeof(buf));
	if (tu_cmp(buf, src_data + sec * 512, sizeof(buf), sec * 512, "chained link"))
		FAIL("chain %u link %u: data wrong when its callback ran", l->chain, l->index);
	if (l->index % 16 == 0)
		usleep(200);                 /* widen the window for an overlap */
	__atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
	if (!l->last)
		submit(l + 1);
	else
		__atomic_fetch_add(&chains_done, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_sub(&c->active, 1, __ATOMIC_ACQ_REL);
}

static pthread_barrier_t started, submitted, finish;

static void *submitter(void *arg)
{
	unsigned int chain = (unsigned int)(uintptr_t)arg;

	pthread_barrier_wait(&started);
	submit(&links[chain][0]);
	pthread_barrier_wait(&submitted);
	pthread_barrier_wait(&finish);        /* stay alive: thread ids stay distinct */
	return NULL;
}

static void chains(void)
{
	unsigned int c, i;

	for (c = 0; c < CHAINS; c++)
		for (i = 0; i < LINKS; i++)
			links[c][i] = (struct link){ .c = &ci[0], .chain = c, .index = i,
						     .last = i == LINKS - 1 };
	pthread_barrier_init(&started, NULL, CHAINS);
	pthread_barrier_init(&submitted, NULL, CHAINS + 1);
	pthread_barrier_init(&finish, NULL, CHAINS + 1);
	for (c = 0; c < CHAINS; c++)
		if (pthread_create(&submitters[c], NULL, submitter, (void *)(uintptr_t)c))
			FAIL("pthread_create");
	/* Once the four first links are in, wait for everything. */
	pthread_barrier_wait(&submitted);
	CHECK_OK(kcopyd_client_wait(ci[0].kc));
	CHECK_EQ(__atomic_load_n(&chains_done, __ATOMIC_ACQUIRE), CHAINS);
	CHECK_EQ(__atomic_load_n(&ci[0].calls, __ATOMIC_ACQUIRE), CHAINS * LINKS);
	pthread_barrier_wait(&finish);
	for (c = 0; c < CHAINS; c++)
		pthread_join(submitters[c], NULL);
	pthread_barrier_destroy(&started);
	pthread_barrier_destroy(&submitted);
	pthread_barrier_destroy(&finish);
	if (tu_cmp_files(dst_path, 0, src_path, 0, (uint64_t)CHAINS * LINKS * UNIT * 512))
		FAIL("chained copies: destination differs from source");
}

/* Ping-pong: link i runs on client i % 2, and its callback submits link i+1
 * to the other client. */
static struct tu_event pp_done;

static void pp_notify(int read_err, unsigned int write_err, void *context);

static void pp_submit(struct link *l)
{
	sector_t sec = (sector_t)l->index * UNIT;
	struct io_region from = tu_region(src_bd, sec, UNIT), to = tu_region(dst_bd, sec, UNIT);
	int r;

	in_submit = 1;
	r = kcopyd_copy(l->c->kc, &from, 1, &to, 0, pp_notify, l);
	in_submit = 0;
	if (r != 0)
		FAIL("ping-pong link %u: kcopyd_copy returned %d", l->index, r);
}

static void pp_notify(int read_err, unsigned int write_err, void *context)
{
	struct link *l = context;
	struct client_info *c = l->c;

	if (__atomic_fetch_add(&c->active, 1, __ATOMIC_ACQ_REL) != 0)
		FAIL("two callbacks of client %d ran at the same time", (int)(c - ci));
	check_callback_thread(c);
	if (read_err || write_err)
		FAIL("ping-pong link %u: read_err %d write_err %#x", l->index, read_err, write_err);
	__atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
	if (!l->last)
		pp_submit(l + 1);
	__atomic_fetch_sub(&c->active, 1, __ATOMIC_ACQ_REL);
	if (l->last)
		tu_event_notify(0, 0, &pp_done);
}

static void ping_pong(void)
{
	unsigned int i;

	tu_make_filled(dst_path, (uint64_t)CHAINS * LINKS * UNIT * 512, 0);
	__atomic_store_n(&ci[0].calls, 0, __ATOMIC_RELAXED);
	for (i = 0; i < PINGPONG; i++)
		pp_links[i] = (struct link){ .c = &ci[i % 2], .index = i, .last = i == PINGPONG - 1 };
	tu_event_init(&pp_done);
	pp_submit(&pp_links[0]);
	tu_event_wait(&pp_done);
	tu_event_destroy(&pp_done);
	CHECK_OK(kcopyd_client_wait(ci[0].kc));
	CHECK_OK(kcopyd_client_wait(ci[1].kc));
	CHECK_EQ(__atomic_load_n(&ci[0].calls, __ATOMIC_ACQUIRE), PINGPONG / 2);
	CHECK_EQ(__atomic_load_n(&ci[1].calls, __ATOMIC_ACQUIRE), PINGPONG / 2);
	if (pthread_equal(ci[0].thread, ci[1].thread))
		FAIL("two clients ran their callbacks on the same thread");
	if (tu_cmp_files(dst_path, 0, src_path, 0, (uint64_t)PINGPONG * UNIT * 512))
		FAIL("ping-pong copies: destination differs from source");
}

int main(void)
{
	const uint64_t size = (uint64_t)CHAINS * LINKS * UNIT * 512;

	tu_init("test-chained");
	main_thread = pthread_self();
	src_path = tu_path("src");
	dst_path = tu_path("dst");
	src_data = tu_make_file(src_path, size, 5, false);
	tu_make_filled(dst_path, size, 0);
	src_bd = tu_open(src_path, O_RDONLY);
	dst_bd = tu_open(dst_path, O_RDWR);
	ci[0].kc = tu_client(16);
	ci[1].kc = tu_client(16);

	chains();
	ping_pong();

	kcopyd_client_destroy(ci[0].kc);
	kcopyd_client_destroy(ci[1].kc);
	kcopyd_bdev_close(src_bd);
	kcopyd_bdev_close(dst_bd);
	free(src_data);
	tu_pass();
}
