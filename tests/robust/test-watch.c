/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's event sources, through the socket test endpoint
 * (tests/fault/sock.h), a stand-in for a remote device: the engine watches
 * its descriptor in the direction it asks for, runs its hook before it
 * waits, and its timers give its requests a deadline.  On whichever engine
 * KCOPYD_ENGINE names:
 *  - a copy to a socket with a small send buffer (back-pressure: sends
 *    wait for POLLOUT, the direction flips) and from one whose server
 *    answers out of order: the bytes are the source's, and the endpoint was
 *    never called from inside its own ready();
 *  - socket to socket and a file at once, and zeroing over a socket;
 *  - the fault endpoint over a socket (short transfers, -EAGAIN);
 *  - a server that stops answering: its destination fails with -ETIMEDOUT
 *    within the deadline, the file destination of the same job is whole;
 *  - a device in use by one client fails a job of another with -EBUSY, and
 *    serves it once the first is done;
 *  - the same copies on io_uring's small-ring, no-NODROP paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault.h"
#include "rutil.h"
#include "sock.h"

#define FILE_BYTES (4u * RU_MIB)
#define SECTORS (FILE_BYTES / 512)

static char src_path[512], dst_path[3][512];
static uint8_t *src_data, *old_data;

static struct block_device *sock_open(const char *path, int acc, const struct kc_sock_config *cfg)
{
	struct block_device *bd;

	CHECK_OK(kc_sock_open(path, acc, cfg, &bd));
	return bd;
}

static void reset_dests(void)
{
	for (unsigned int d = 0; d < 3; d++)
		ru_write_file(dst_path[d], old_data, FILE_BYTES);
}

static void check_dest(unsigned int d, sector_t at, const uint8_t *want, sector_t count)
{
	if (!ru_holds(dst_path[d], 0, old_data, at * 512) ||
	    !ru_holds(dst_path[d], at * 512, want, count * 512) ||
	    !ru_holds(dst_path[d], (at + count) * 512, old_data + (at + count) * 512,
		   FILE_BYTES - (at + count) * 512))
		FAIL("destination %u does not hold what it should, or only there", d);
}

static void no_reentry(struct block_device *bd, const char *what)
{
	struct kc_sock_stats st;

	kc_sock_stats(bd, &st);
	if (st.reentered)
		FAIL("%s: the endpoint was called %" PRIu64 " times from inside its own ready()",
		     what, st.reentered);
}

/* A file to a socket that takes 4 KiB at a time, then a socket whose
 * server answers four at a time, last first, to a file. */
static void back_pressure_and_order(void)
{
	const struct kc_sock_config slow_in = { .sndbuf = 4096, .delay_us = 2000 },
				     reorder = { .reorder = 4 };
	struct kcopyd_client *kc;
	struct block_device *src = ru_open(src_path, O_RDONLY, 0);
	struct block_device *dst = sock_open(dst_path[0], O_RDWR, &slow_in);
	struct io_region from = { src, 8, SECTORS - 16 }, to = { dst, 8, SECTORS - 16 };
	struct kcopyd_result res;
	struct kc_sock_stats st;

	ru_set_context("file to socket, back-pressure");
	reset_dests();
	CHECK_OK(kcopyd_client_create(256, &kc));
	CHECK_OK(ru_copy_sync(kc, &from, 1, &to, 0, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	check_dest(0, 8, src_data + 8 * 512, SECTORS - 16);
	kc_sock_stats(dst, &st);
	if (!st.pollout_waits || !st.hook_sends || st.direction_changes < 2)
		FAIL("no back-pressure seen: %" PRIu64 " POLLOUT waits, %" PRIu64
		     " hook sends, %" PRIu64 " direction changes", st.pollout_waits, st.hook_sends,
		     st.direction_changes);
	no_reentry(dst, "file to socket");
	ru_log("ok: file to socket: %" PRIu64 " requests, %" PRIu64 " POLLOUT waits, %" PRIu64
	       " direction changes", st.requests, st.pollout_waits, st.direction_changes);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);

	ru_set_context("socket to file, answers out of order");
	reset_dests();
	src = sock_open(src_path, O_RDONLY, &reorder);
	dst = ru_open(dst_path[1], O_RDWR, 0);
	from = (struct io_region){ src, 0, SECTORS };
	to = (struct io_region){ dst, 0, SECTORS };
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 64 * 1024));
	CHECK_OK(ru_copy_sync(kc, &from, 1, &to, 0, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	check_dest(1, 0, src_data, SECTORS);
	kc_sock_stats(src, &st);
	if (!st.out_of_order)
		FAIL("no answer came out of order: the case proves nothing");
	no_reentry(src, "socket to file");
	ru_log("ok: socket to file: %" PRIu64 " answers out of order", st.out_of_order);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	kcopyd_client_destroy(kc);
}

/* A socket source to a socket and a file, then zeroing over the socket. */
static void sockets_and_zero(void)
{
	const struct kc_sock_config a = { .sndbuf = 8192, .reorder = 3 }, b = { .sndbuf = 16384 };
	struct kcopyd_client *kc;
	struct block_device *src = sock_open(src_path, O_RDONLY, &a);
	struct block_device *d0 = sock_open(dst_path[0], O_RDWR, &b);
	struct block_device *d1 = ru_open(dst_path[1], O_RDWR, 0);
	struct io_region from = { src, 100, 3000 };
	struct io_region to[2] = { { d0, 5, 3000 }, { d1, 900, 3000 } };
	struct kcopyd_result res;
	uint8_t *zeros = calloc(1, 3000 * 512);

	ru_set_context("socket to socket and file");
	if (!zeros)
		FAIL("out of memory");
	reset_dests();
	CHECK_OK(kcopyd_client_create(64, &kc));
	CHECK_OK(ru_copy_sync(kc, &from, 2, to, 0, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	check_dest(0, 5, src_data + 100 * 512, 3000);
	check_dest(1, 900, src_data + 100 * 512, 3000);

	ru_set_context("zeroing over a socket");
	CHECK_OK(ru_zero_sync(kc, 1, to, 0, &res));
	CHECK_EQ(res.write_err, 0);
	check_dest(0, 5, zeros, 3000);
	no_reentry(src, "socket source");
	no_reentry(d0, "socket destination");
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(d0);
	kcopyd_bdev_close(d1);
	free(zeros);
	ru_log("ok: socket to socket and file; zeroing over a socket");
}

static void fault_over_socket(void)
{
	const struct kc_sock_config sc = { .sndbuf = 8192, .reorder = 2 };
	const struct kc_fault_config fc = { .fail_ppm = 100000, .fail_error = -EAGAIN,
					    .short_pct = 30, .seed = 9 };
	struct kcopyd_client *kc;
	struct block_device *src = ru_open(src_path, O_RDONLY, 0), *sock, *dst;
	struct io_region from = { src, 0, SECTORS }, to;
	struct kcopyd_result res;
	struct kc_sock_stats st;

	ru_set_context("the fault endpoint over a socket");
	reset_dests();
	sock = sock_open(dst_path[2], O_RDWR, &sc);
	CHECK_OK(kc_fault_open(sock, &fc, &dst));
	to = (struct io_region){ dst, 0, SECTORS };
	CHECK_OK(kcopyd_client_create(64, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 64 * 1024));
	CHECK_OK(ru_copy_sync(kc, &from, 1, &to, 0, &res));
	CHECK_EQ(res.write_err, 0);
	check_dest(2, 0, src_data, SECTORS);
	kc_sock_stats(sock, &st);
	if (!st.attaches)
		FAIL("the socket under the fault endpoint was never attached");
	if (!kc_fault_shorts(dst))
		FAIL("no short transfer injected: the case proves nothing");
	no_reentry(sock, "fault over socket");
	ru_log("ok: fault endpoint over a socket: %" PRIu64 " short transfers", kc_fault_shorts(dst));
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
}

/* The server answers three requests, then nothing: with a deadline of
 * 300 ms the socket's bit is set with -ETIMEDOUT, and the file gets it all. */
static void hung_server(unsigned int flags)
{
	const struct kc_sock_config sc = { .hang_after = 3, .timeout_ms = 300 };
	struct kcopyd_client *kc;
	struct block_device *src = ru_open(src_path, O_RDONLY, 0);
	struct block_device *d0 = sock_open(dst_path[0], O_RDWR, &sc);
	struct block_device *d1 = ru_open(dst_path[1], O_RDWR, 0);
	struct io_region from = { src, 0, SECTORS };
	struct io_region to[2] = { { d0, 0, SECTORS }, { d1, 0, SECTORS } };
	struct kcopyd_result res;
	struct kc_sock_stats st;
	double t0, took;

	ru_set_context("a server that stops answering, flags %#x", flags);
	reset_dests();
	CHECK_OK(kcopyd_client_create(64, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, 64 * 1024));
	t0 = ru_now();
	CHECK_OK(ru_copy_sync(kc, &from, 2, to, flags, &res));
	took = ru_now() - t0;
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 1);
	CHECK_EQ(res.dest_errno[0], -ETIMEDOUT);
	if (res.dest_err_sector[0] > 3 * 128)
		FAIL("the hung destination is said to hold up to sector %" PRIu64
		     ", past what its server answered", (uint64_t)res.dest_err_sector[0]);
	kc_sock_stats(d0, &st);
	CHECK_EQ(st.timeouts, 1);
	if (took > 10.0 * ru_slow())
		FAIL("the job took %.1f s with a 300 ms deadline", took);
	if (flags & KCOPYD_IGNORE_ERROR)
		check_dest(1, 0, src_data, SECTORS);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(d0);
	kcopyd_bdev_close(d1);
	ru_log("ok: a hung server ends in -ETIMEDOUT after %.2f s (flags %#x)", took, flags);
}

/* One client's job holds the socket device: another's fails with -EBUSY. */
static void two_clients(void)
{
	const struct kc_sock_config sc = { .delay_us = 20000 };   /* 8 requests: 160 ms at least */
	struct kcopyd_client *kc1, *kc2;
	struct block_device *src = ru_open(src_path, O_RDONLY, 0);
	struct block_device *sock = sock_open(dst_path[0], O_RDWR, &sc);
	struct block_device *d1 = ru_open(dst_path[1], O_RDWR, 0);
	struct io_region from = { src, 0, SECTORS }, to = { sock, 0, SECTORS };
	struct io_region from2 = { src, 0, 64 }, to2[2] = { { d1, 0, 64 }, { sock, 0, 64 } };
	struct kcopyd_result res;
	struct kc_sock_stats st;
	struct ru_done d;

	ru_set_context("two clients, one socket device");
	reset_dests();
	CHECK_OK(kcopyd_client_create(64, &kc1));
	CHECK_OK(kcopyd_client_create(64, &kc2));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc1, 64 * 1024));
	ru_done_init(&d);
	CHECK_OK(kcopyd_copy_ex(kc1, &from, 1, &to, 0, ru_done_cb, &d));
	do {                    /* the first job has started on the socket */
		kc_sock_stats(sock, &st);
	} while (!st.requests && ru_counter_get(&d.calls) == 0);
	CHECK_OK(ru_copy_sync(kc2, &from2, 2, to2, KCOPYD_IGNORE_ERROR, &res));
	if (ru_counter_get(&d.calls) != 0)
		FAIL("the first job ended before the second was tried: the case proves nothing");
	CHECK_EQ(res.write_err, 2);
	CHECK_EQ(res.dest_errno[1], -EBUSY);
	if (!ru_holds(dst_path[1], 0, src_data, 64 * 512))
		FAIL("the other destination of the refused job was not written");
	ru_counter_wait(&d.calls, 1, 60, "the first client's job");
	CHECK_EQ(d.res.write_err, 0);
	check_dest(0, 0, src_data, SECTORS);
	CHECK_OK(ru_copy_sync(kc2, &from2, 2, to2, 0, &res));
	CHECK_EQ(res.write_err, 0);
	kc_sock_stats(sock, &st);
	CHECK_EQ(st.attaches, 2);
	kcopyd_client_destroy(kc1);
	kcopyd_client_destroy(kc2);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(sock);
	kcopyd_bdev_close(d1);
	ru_log("ok: a device in use by one client is refused to another, then serves it");
}

int main(void)
{
	ru_init("test-watch", 240);
	ru_test_files(src_path, sizeof(src_path), dst_path, 3, &src_data, &old_data, FILE_BYTES, 5);
	reset_dests();
	back_pressure_and_order();
	sockets_and_zero();
	fault_over_socket();
	hung_server(0);
	hung_server(KCOPYD_IGNORE_ERROR);
	two_clients();
	/* io_uring's paths for old kernels: a ring too small for the work,
	 * no NODROP (the engine ignores this on the thread backend). */
	setenv("KCOPYD_TEST_URING", "cqsmall,nodrop", 1);
	ru_log("with KCOPYD_TEST_URING=cqsmall,nodrop:");
	back_pressure_and_order();
	sockets_and_zero();
	hung_server(KCOPYD_IGNORE_ERROR);
	ru_pass();
}
