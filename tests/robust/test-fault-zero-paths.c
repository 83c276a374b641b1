/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The zeroing fast paths when some do not work, with many zeroing requests
 * in flight at once (64 sub-jobs of one client, or of two clients sharing
 * one device).  A fault device claims both PUNCH_HOLE and ZERO_RANGE; only
 * the ones given work (on the real file), the others fail with EOPNOTSUPP.
 * A request whose fast path fails must forget that path only -- not the
 * one another request already moved on to -- so:
 *  - only PUNCH_HOLE works: nothing is written (stats.bytes_written 0),
 *    everything is zeroed by the fast path, ZERO_RANGE is never tried;
 *  - only ZERO_RANGE works: every request that tried PUNCH_HOLE goes on to
 *    ZERO_RANGE, nothing is written; PUNCH_HOLE is tried at most once per
 *    request in flight;
 *  - neither works: every byte is written as zeros, each path tried at most
 *    once per request in flight, and kcopyd_bdev_can_zero() is then 0;
 *  - each of the three with two clients zeroing the two halves of one
 *    shared device at the same time (the capability flags are read and
 *    cleared by both engines: under TSan this is also the race check).
 * The file reads as zeros at the end in every case.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fault.h"
#include "rutil.h"

#define FILE_BYTES (4u * RU_MIB)
#define S 65536u
#define IN_FLIGHT (FILE_BYTES / S)

static char path[512];
static uint8_t *old, *zeros;

/* Whether the file system of the temp dir has this fallocate mode. */
static bool fs_has(int mode)
{
	char probe[600];
	bool ok;
	int fd;

	snprintf(probe, sizeof(probe), "%s.probe", path);
	ru_write_file(probe, old, 2 * S);
	fd = open(probe, O_RDWR);
	CHECK(fd >= 0);
	ok = fallocate(fd, mode | FALLOC_FL_KEEP_SIZE, 0, S) == 0;
	close(fd);
	unlink(probe);
	return ok;
}

static void run_case(unsigned int works, unsigned int nclients)
{
	struct kc_fault_config cfg = { .zero_offer = KC_FAULT_PUNCH_HOLE | KC_FAULT_ZERO_RANGE,
				       .zero_works = works, .delay_max_us = 200, .seed = works + 1 };
	struct kcopyd_client *kc[2];
	struct ru_done done[2];
	struct block_device *bd;
	uint64_t written = 0, zeroed = 0, punch, range;
	uint8_t *got = ru_malloc(FILE_BYTES);
	char what[96];

	snprintf(what, sizeof(what), "working paths %s%s, %u client(s)",
		 works & KC_FAULT_PUNCH_HOLE ? "punch-hole " : "",
		 works & KC_FAULT_ZERO_RANGE ? "zero-range" : works ? "" : "none", nclients);
	ru_set_context("%s", what);
	ru_write_file(path, old, FILE_BYTES);
	bd = ru_fault_open(path, O_RDWR, &cfg);
	CHECK_EQ(kcopyd_bdev_can_zero(bd), 1);
	for (unsigned int i = 0; i < nclients; i++) {
		CHECK_OK(kcopyd_client_create(FILE_BYTES / 4096, &kc[i]));
		CHECK_OK(kcopyd_client_set_sub_job_size(kc[i], S));
		ru_done_init(&done[i]);
	}
	for (unsigned int i = 0; i < nclients; i++) {
		sector_t part = FILE_BYTES / 512 / nclients;
		struct io_region r = { bd, i * part, part };

		CHECK_OK(kcopyd_zero_ex(kc[i], 1, &r, 0, ru_done_cb, &done[i]));
	}
	for (unsigned int i = 0; i < nclients; i++) {
		struct kcopyd_stats st;

		ru_counter_wait(&done[i].calls, 1, 60, "the zeroing callback");
		CHECK_OK(kcopyd_client_wait(kc[i]));
		if (done[i].res.read_err || done[i].res.write_err)
			FAIL("%s: client %u: read_err %d write_err %#x", what, i,
			     done[i].res.read_err, done[i].res.write_err);
		CHECK_OK(kcopyd_client_stats(kc[i], &st, sizeof(st)));
		written += st.bytes_written;
		zeroed += st.bytes_zeroed;
		kcopyd_client_destroy(kc[i]);
	}
	punch = kc_fault_zero_tries(bd, KC_FAULT_PUNCH_HOLE);
	range = kc_fault_zero_tries(bd, KC_FAULT_ZERO_RANGE);
	ru_log("%s: written %" PRIu64 ", zeroed %" PRIu64 ", punch-hole tried %" PRIu64
	       ", zero-range tried %" PRIu64, what, written, zeroed, punch, range);
	if (works) {
		if (written || zeroed != FILE_BYTES)
			FAIL("%s: %" PRIu64 " bytes written and %" PRIu64 " zeroed by a fast path:"
			     " a working fast path was given up", what, written, zeroed);
		CHECK_EQ(kcopyd_bdev_can_zero(bd), 1);
	} else {
		CHECK_EQ(written, FILE_BYTES);
		CHECK_EQ(zeroed, 0);
		CHECK_EQ(kcopyd_bdev_can_zero(bd), 0);
	}
	if (works & KC_FAULT_PUNCH_HOLE)
		CHECK_EQ(range, 0);
	else if (punch < 1 || punch > nclients * IN_FLIGHT)
		FAIL("%s: punch-hole tried %" PRIu64 " times", what, punch);
	if (!works && (range < 1 || range > nclients * IN_FLIGHT))
		FAIL("%s: zero-range tried %" PRIu64 " times", what, range);
	kcopyd_bdev_close(bd);
	ru_pread(path, got, FILE_BYTES, 0);
	if (ru_diff(got, zeros, FILE_BYTES) >= 0)
		FAIL("%s: byte %ld is not zero", what, ru_diff(got, zeros, FILE_BYTES));
	free(got);
}

int main(void)
{
	static const unsigned int modes[] = { KC_FAULT_PUNCH_HOLE, KC_FAULT_ZERO_RANGE, 0 };

	ru_init("test-fault-zero-paths", 120);
	snprintf(path, sizeof(path), "%s", ru_path("dst"));
	old = ru_malloc(FILE_BYTES);
	zeros = calloc(1, FILE_BYTES);
	CHECK(zeros);
	ru_fill_old(old, FILE_BYTES, 3);
	for (unsigned int m = 0; m < 3; m++) {
		if ((modes[m] & KC_FAULT_PUNCH_HOLE) && !fs_has(FALLOC_FL_PUNCH_HOLE)) {
			ru_log("the temp dir has no PUNCH_HOLE: that case left out");
			continue;
		}
		if ((modes[m] & KC_FAULT_ZERO_RANGE) && !fs_has(FALLOC_FL_ZERO_RANGE)) {
			ru_log("the temp dir has no ZERO_RANGE: that case left out");
			continue;
		}
		run_case(modes[m], 1);
		run_case(modes[m], 2);
	}
	free(old);
	free(zeros);
	ru_pass();
}
