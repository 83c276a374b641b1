/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd_zero_ex through fault devices.  A fault device has no zeroing fast
 * path: the engine must fall back to writing a zeroed buffer, through the
 * device, and report the write faults injected there.
 *  - no fault (with short transfers and delays): every destination reads as
 *    zeros in its range and is untouched outside; stats.bytes_zeroed stays 0
 *    and bytes_written is the whole job times the destinations;
 *  - a plain file and a fault device in one job: both zero, the plain one
 *    through the fast path (bytes_zeroed), the other through writes;
 *  - an -EIO rule in the middle of destination 2 (0, IGNORE_ERROR,
 *    WRITE_SEQ, both): write_err exactly bit 2, read_err 0, dest_errno[2]
 *    -EIO at the first failed request (from the log); nothing from the
 *    failing chunk on is zeroed there; with IGNORE_ERROR the others are all
 *    zeros; with WRITE_SEQ a single write fails and everything before it is
 *    zeroed, and without IGNORE_ERROR the others are zeroed exactly up to
 *    the failing chunk;
 *  - random faults (3% of requests, several errnos) with IGNORE_ERROR, many
 *    rounds: write_err and every dest_errno / dest_err_sector equal the log,
 *    healthy destinations all zeros, failed ones zero or old per chunk and
 *    old from the failed request on;
 *  - kcopyd_zero (the notify form) gets the same bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault.h"
#include "rutil.h"

#define FILE_BYTES (2u * RU_MIB)
#define S 65536u
#define NDESTS 3

static uint64_t seed;
static char path[NDESTS][512];
static uint8_t *old[NDESTS], *zeros;

static const char *flag_str(unsigned int flags)
{
	static const char *names[] = { "0", "IGNORE_ERROR", "WRITE_SEQ", "IGNORE_ERROR|WRITE_SEQ" };

	return names[flags & 3];
}

static struct kcopyd_client *client(void)
{
	struct kcopyd_client *kc;

	CHECK_OK(kcopyd_client_create(64, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, S));
	return kc;
}

static void reset_files(uint64_t s)
{
	for (unsigned int d = 0; d < NDESTS; d++) {
		ru_fill_old(old[d], FILE_BYTES, s + d);
		ru_write_file(path[d], old[d], FILE_BYTES);
	}
}

static bool range_is(unsigned int d, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *got = ru_malloc(len);
	bool same;

	ru_pread(path[d], got, len, off);
	same = memcmp(got, want, len) == 0;
	free(got);
	return same;
}

static void check_outside(unsigned int d, const struct io_region *r)
{
	uint64_t lo = r->sector * 512, hi = lo + r->count * 512;

	if (!range_is(d, 0, old[d], lo) || !range_is(d, hi, old[d] + hi, FILE_BYTES - hi))
		FAIL("destination %u changed outside its range", d);
}

/* ---- no fault ------------------------------------------------------------ */

static void clean(void)
{
	struct kc_fault_config cfg = { .short_pct = 50, .delay_max_us = 100, .seed = seed };
	struct kcopyd_client *kc = client();
	struct block_device *bd[NDESTS];
	struct io_region to[NDESTS];
	struct kcopyd_result res;
	struct kcopyd_stats st;
	const sector_t count = 2001;

	ru_set_context("seed %#" PRIx64 " zero, no fault", seed);
	reset_files(seed);
	for (unsigned int d = 0; d < NDESTS; d++) {
		cfg.seed++;
		bd[d] = ru_fault_open(path[d], O_RDWR, &cfg);
		if (kcopyd_bdev_can_zero(bd[d]))
			FAIL("a fault device claims a zeroing fast path");
		to[d] = (struct io_region){ bd[d], 3 + d * 700, count };
	}
	CHECK_OK(ru_zero_sync(kc, NDESTS, to, 0, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	CHECK_EQ(st.bytes_zeroed, 0);
	CHECK_EQ(st.bytes_written, NDESTS * count * 512);
	CHECK_EQ(st.bytes_read, 0);
	kcopyd_client_destroy(kc);
	for (unsigned int d = 0; d < NDESTS; d++) {
		kcopyd_bdev_close(bd[d]);
		if (!range_is(d, to[d].sector * 512, zeros, count * 512))
			FAIL("destination %u does not read as zeros", d);
		check_outside(d, &to[d]);
	}
	ru_log("ok: zeroing through fault devices falls back to writes");
}

/* ---- a plain file and a fault device in one job ------------------------- */

static void mixed(void)
{
	struct kc_fault_config cfg = { .short_pct = 20, .seed = seed + 3 };
	struct kcopyd_client *kc = client();
	struct block_device *plain, *fault;
	struct io_region to[2];
	struct kcopyd_result res;
	struct kcopyd_stats st;
	const sector_t count = 1024;

	ru_set_context("seed %#" PRIx64 " zero, plain + fault", seed);
	reset_files(seed + 1);
	plain = ru_open(path[0], O_RDWR, 0);
	fault = ru_fault_open(path[1], O_RDWR, &cfg);
	to[0] = (struct io_region){ plain, 128, count };
	to[1] = (struct io_region){ fault, 128, count };
	CHECK_OK(ru_zero_sync(kc, 2, to, KCOPYD_IGNORE_ERROR, &res));
	CHECK_EQ(res.read_err, 0);
	CHECK_EQ(res.write_err, 0);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	/* The fault device: written.  The plain file: fast path where the
	 * file system has one (it may also fall back to writes). */
	if (st.bytes_zeroed + st.bytes_written != 2 * count * 512 ||
	    st.bytes_written < count * 512)
		FAIL("stats: %" PRIu64 " bytes zeroed, %" PRIu64 " written; expected %" PRIu64
		     " in all, at least %" PRIu64 " written", st.bytes_zeroed, st.bytes_written,
		     2 * count * 512, count * 512);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(plain);
	kcopyd_bdev_close(fault);
	for (unsigned int d = 0; d < 2; d++) {
		if (!range_is(d, 128 * 512, zeros, count * 512))
			FAIL("destination %u does not read as zeros", d);
		check_outside(d, &to[d]);
	}
	ru_log("ok: a plain file (%" PRIu64 " bytes by the fast path) and a fault device in one job",
	       st.bytes_zeroed);
}

/* ---- an -EIO rule in the middle of destination 2 ------------------------- */

static void rule_on_two(unsigned int flags)
{
	const sector_t count = 2048, dsec[NDESTS] = { 0, 1, 99 };
	const uint64_t total = count * 512, bad_rel = 9 * S + 4321, bad_chunk = bad_rel / S;
	/* WRITE_SEQ clears IGNORE_ERROR, as in the kernel. */
	const bool seq = flags & KCOPYD_WRITE_SEQ, ignore = (flags & KCOPYD_IGNORE_ERROR) && !seq;
	struct kc_fault_rule rule = { KC_FAULT_WRITE, dsec[2] * 512 + bad_rel, FILE_BYTES, -EIO };
	struct kc_fault_config good = { .short_pct = 30, .delay_max_us = 200 };
	struct kc_fault_config bad = { .rules = &rule, .num_rules = 1, .delay_max_us = 200 };
	struct kcopyd_client *kc = client();
	struct block_device *bd[NDESTS];
	struct io_region to[NDESTS];
	struct kcopyd_result res;
	struct kcopyd_stats st;
	struct kc_fault_event *ev;
	uint64_t first = UINT64_MAX;
	size_t nev;

	ru_set_context("seed %#" PRIx64 " zero, -EIO on dest 2, flags %s", seed, flag_str(flags));
	reset_files(seed + 10 + flags);
	good.seed = seed + 20;
	bad.seed = seed + 21;
	for (unsigned int d = 0; d < NDESTS; d++) {
		good.seed++;
		bd[d] = ru_fault_open(path[d], O_RDWR, d == 2 ? &bad : &good);
		to[d] = (struct io_region){ bd[d], dsec[d], count };
	}
	CHECK_OK(ru_zero_sync(kc, NDESTS, to, flags, &res));
	CHECK_EQ(res.read_err, 0);
	if (res.write_err != 4)
		FAIL("write_err %#x, expected exactly bit 2", res.write_err);
	CHECK_EQ(res.dest_errno[0], 0);
	CHECK_EQ(res.dest_errno[1], 0);
	CHECK_EQ(res.dest_errno[2], -EIO);
	ev = ru_events(bd[2], &nev);
	for (size_t e = 0; e < nev; e++) {
		if (ev[e].op != KC_FAULT_WRITE || ev[e].error != -EIO || ev[e].end <= rule.start ||
		    ev[e].end > (dsec[2] + count) * 512)
			FAIL("unexpected event [%" PRIu64 ", %" PRIu64 ") op %u error %d", ev[e].start,
			     ev[e].end, ev[e].op, ev[e].error);
		if (ev[e].start < first)
			first = ev[e].start;
	}
	free(ev);
	if (!nev)
		FAIL("bit 2 set but no fault was logged");
	CHECK_EQ(res.dest_err_sector[2], first / 512);
	if (seq && (nev != 1 || first != dsec[2] * 512 + bad_chunk * S))
		FAIL("WRITE_SEQ: %zu failed writes, the first at byte %" PRIu64 "; expected one, at %"
		     PRIu64, nev, first, dsec[2] * 512 + bad_chunk * S);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	CHECK_EQ(st.write_errors, nev);
	kcopyd_client_destroy(kc);
	for (unsigned int d = 0; d < NDESTS; d++) {
		const uint64_t base = dsec[d] * 512;

		kcopyd_bdev_close(bd[d]);
		check_outside(d, &to[d]);
		if (d == 2) {
			uint64_t cut = bad_chunk * S;

			if (!range_is(d, base + cut, old[d] + base + cut, total - cut))
				FAIL("destination 2 was zeroed from its failing chunk on");
			if (seq && !range_is(d, base, zeros, cut))
				FAIL("WRITE_SEQ: destination 2 lacks the chunks zeroed before the failure");
			continue;
		}
		if (ignore && !range_is(d, base, zeros, total))
			FAIL("IGNORE_ERROR: healthy destination %u is not all zeros", d);
		if (seq && !ignore) {
			uint64_t upto = (bad_chunk + 1) * S;

			if (!range_is(d, base, zeros, upto) ||
			    !range_is(d, base + upto, old[d] + base + upto, total - upto))
				FAIL("WRITE_SEQ without IGNORE_ERROR: destination %u should be zeroed in "
				     "exactly chunks 0..%" PRIu64, d, bad_chunk);
		}
	}
	ru_log("ok: zero with -EIO on destination 2, flags %s", flag_str(flags));
}

/* ---- random faults -------------------------------------------------------- */

static struct ru_counter notify_calls = RU_COUNTER_INIT;
static unsigned int notify_bits;
static int notify_read_err;

static void notify_cb(int read_err, unsigned int write_err, void *context)
{
	(void)context;
	notify_read_err = read_err;
	notify_bits = write_err;
	ru_counter_add(&notify_calls);
}

static void random_faults(unsigned int rounds)
{
	static const int errs[] = { -EIO, -ENOSPC, -EROFS, -EDQUOT };
	uint64_t rng = seed ^ 0x2e50, faults = 0, failed_jobs = 0;

	for (unsigned int round = 0; round < rounds; round++) {
		struct kc_fault_config cfg = { .fail_ppm = 30000, .short_pct = 20, .delay_max_us = 50 };
		struct kcopyd_client *kc = client();
		struct block_device *bd[NDESTS];
		struct io_region to[NDESTS];
		struct kcopyd_result res;
		const sector_t count = 1 + ru_below(&rng, 1500);
		const bool notify = round % 4 == 3;
		unsigned int want = 0;

		ru_set_context("seed %#" PRIx64 " zero, random faults, round %u", seed, round);
		reset_files(seed + 1000 + round);
		for (unsigned int d = 0; d < NDESTS; d++) {
			cfg.fail_error = errs[ru_below(&rng, 4)];
			cfg.seed = ru_rand(&rng) | 1;
			bd[d] = ru_fault_open(path[d], O_RDWR, &cfg);
			to[d] = (struct io_region){ bd[d], ru_below(&rng, FILE_BYTES / 512 - count), count };
		}
		if (notify) {
			ru_counter_reset(&notify_calls);
			CHECK_OK(kcopyd_zero(kc, NDESTS, to, KCOPYD_IGNORE_ERROR, notify_cb, NULL));
			ru_counter_wait(&notify_calls, 1, 60, "kcopyd_zero");
			CHECK_OK(kcopyd_client_wait(kc));
			CHECK_EQ(ru_counter_get(&notify_calls), 1);
			memset(&res, 0, sizeof(res));
			res.read_err = notify_read_err;
			res.write_err = notify_bits;
		} else {
			CHECK_OK(ru_zero_sync(kc, NDESTS, to, KCOPYD_IGNORE_ERROR, &res));
		}
		CHECK_EQ(res.read_err, 0);
		kcopyd_client_destroy(kc);
		for (unsigned int d = 0; d < NDESTS; d++) {
			const uint64_t base = to[d].sector * 512, total = count * 512;
			uint64_t first = UINT64_MAX;
			int first_err = 0;
			size_t nev;
			struct kc_fault_event *ev = ru_events(bd[d], &nev);
			uint8_t *got = ru_malloc(total);

			for (size_t e = 0; e < nev; e++) {
				if (ev[e].op != KC_FAULT_WRITE || ev[e].start < base ||
				    ev[e].end > base + total)
					FAIL("dest %u: event [%" PRIu64 ", %" PRIu64 ") outside its range", d,
					     ev[e].start, ev[e].end);
				if (ev[e].start < first) {
					first = ev[e].start;
					first_err = ev[e].error;
				}
			}
			faults += nev;
			if (nev)
				want |= 1u << d;
			if (!notify) {
				CHECK_EQ(res.dest_errno[d], first_err);
				if (nev)
					CHECK_EQ(res.dest_err_sector[d], first / 512);
			}
			kcopyd_bdev_close(bd[d]);
			check_outside(d, &to[d]);
			ru_pread(path[d], got, total, base);
			for (uint64_t lo = 0; lo < total; lo += S) {
				uint64_t len = lo + S <= total ? S : total - lo;
				bool z = memcmp(got + lo, zeros, len) == 0;
				bool o = memcmp(got + lo, old[d] + base + lo, len) == 0;
				bool hit = false;

				for (size_t e = 0; e < nev; e++)
					if (ev[e].start >= base + lo && ev[e].start < base + lo + len) {
						uint64_t cut = ev[e].start - base;

						hit = true;
						if (memcmp(got + lo, zeros, cut - lo) ||
						    memcmp(got + cut, old[d] + base + cut, lo + len - cut))
							FAIL("dest %u chunk at %" PRIu64 ": a write failed at %" PRIu64
							     "; expected zeros before, old contents after", d, lo, cut);
					}
				if (!hit && !z && !o)
					FAIL("dest %u chunk at %" PRIu64 " is torn or garbage", d, lo);
				if (!nev && !z)
					FAIL("IGNORE_ERROR: healthy dest %u chunk at %" PRIu64 " not zeroed", d, lo);
			}
			free(got);
			free(ev);
		}
		if (res.write_err != want)
			FAIL("write_err %#x, the fault log says %#x", res.write_err, want);
		if (want)
			failed_jobs++;
	}
	if (!faults || failed_jobs == rounds)
		FAIL("random zero faults: %" PRIu64 " faults, %" PRIu64 " of %u jobs failed: not a "
		     "useful mix", faults, failed_jobs, rounds);
	ru_log("ok: %u zero jobs with random faults: %" PRIu64 " faults injected and reported, %"
	       PRIu64 " jobs failed", rounds, faults, failed_jobs);
}

int main(void)
{

	ru_init("test-fault-zero", 120);
	seed = ru_seed(0x2e70u);
	ru_log("seed %#" PRIx64, seed);
	zeros = calloc(1, FILE_BYTES);
	if (!zeros)
		FAIL("out of memory");
	for (unsigned int d = 0; d < NDESTS; d++) {
		char name[16];

		snprintf(name, sizeof(name), "zdst%u", d);
		snprintf(path[d], sizeof(path[d]), "%s", ru_path(name));
		old[d] = ru_malloc(FILE_BYTES);
	}
	clean();
	mixed();
	rule_on_two(0);
	rule_on_two(KCOPYD_IGNORE_ERROR);
	rule_on_two(KCOPYD_WRITE_SEQ);
	rule_on_two(KCOPYD_IGNORE_ERROR | KCOPYD_WRITE_SEQ);
	random_faults(ru_sanitized() ? 20 : 60);
	ru_set_context("%s", "");
	for (unsigned int d = 0; d < NDESTS; d++)
		free(old[d]);
	free(zeros);
	ru_pass();
}
