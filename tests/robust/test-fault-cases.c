/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Targeted fault cases, each with an exact expectation:
 *  - ENOSPC on one of three destinations, from the middle of the job to the
 *    end of its file (0, IGNORE_ERROR, WRITE_SEQ, both): write_err is exactly
 *    bit 1, dest_errno[1] -ENOSPC at the first failed request, which starts
 *    in the chunk holding the first bad byte; nothing from that byte on is
 *    written; with IGNORE_ERROR the other two are byte-identical; with
 *    WRITE_SEQ one single write fails and everything before is written
 *    (without IGNORE_ERROR: the other destinations got exactly the chunks
 *    up to the failing one);
 *  - -EAGAIN and -EINTR injected at random (30% of requests) with short
 *    transfers: retried, never errors: the copy and a zero succeed,
 *    byte-identical, and stats.retries equals the retried faults plus the
 *    short transfers;
 *  - every destination fails (4 and 32 destinations, each its own errno):
 *    the job ends (without IGNORE_ERROR at the first error, with it once no
 *    destination is left: queue depth 1 runs exactly one sub-job) and
 *    reports every bit, every errno and sector; nothing is written;
 *  - 32 destinations, the first and the last failing: write_err is exactly
 *    bits 0 and 31, the 30 others are identical;
 *  - a read fault and a write fault in one job: both reported, the failed
 *    chunk is nowhere, the failed destination stops there;
 *  - kcopyd_client_destroy with faulty, delayed jobs in flight runs every
 *    callback once before it returns;
 *  - kc_fault_open: bad arguments are refused and leave the inner device
 *    to the caller; no rules (rules NULL) is valid, and an empty log can be
 *    read into a buffer (both were memcpy()s from NULL, caught by UBSan).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault.h"
#include "rutil.h"

#define FILE_BYTES (2u * RU_MIB)
#define S 65536u                          /* sub-job size used here */

static char src_path[512];
static uint8_t *src_data;
static uint64_t seed;

static struct kcopyd_client *client(unsigned int pages, unsigned int sub, unsigned int depth)
{
	struct kcopyd_client *kc;

	CHECK_OK(kcopyd_client_create(pages, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, sub));
	CHECK_OK(kcopyd_client_set_queue_depth(kc, depth));
	return kc;
}

/* A destination file full of old contents; returns them. */
static uint8_t *old_file(const char *path, size_t size, uint64_t s)
{
	uint8_t *old = ru_malloc(size);

	ru_fill_old(old, size, s);
	ru_write_file(path, old, size);
	return old;
}

static bool range_is(const char *path, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *got = ru_malloc(len ? len : 1);
	bool same;

	ru_pread(path, got, len, off);
	same = memcmp(got, want, len) == 0;
	free(got);
	return same;
}

static const char *flag_str(unsigned int flags)
{
	static const char *names[] = { "0", "IGNORE_ERROR", "WRITE_SEQ", "IGNORE_ERROR|WRITE_SEQ" };

	return names[flags & 3];
}

/* Byte where the first logged fault of a device starts (fails if none). */
static uint64_t first_fault(struct block_device *bd)
{
	uint64_t first = UINT64_MAX;
	size_t n;
	struct kc_fault_event *ev = ru_events(bd, &n);

	for (size_t e = 0; e < n; e++)
		if (ev[e].start < first)
			first = ev[e].start;
	free(ev);
	if (!n)
		FAIL("no fault was logged on a device that reported one");
	return first;
}

/* ---- ENOSPC on one destination of three --------------------------------- */

static void enospc_one_of_three(unsigned int flags, unsigned int iter)
{
	const sector_t ssec = 3, count = 3000, dsec[3] = { 11, 0, 500 };
	const uint64_t total = count * 512;
	const uint64_t bad_rel = 700 * 1024 + 1234;              /* first bad byte, in the job */
	const uint64_t bad_chunk = bad_rel / S;
	/* WRITE_SEQ clears IGNORE_ERROR, as in the kernel. */
	const bool seq = flags & KCOPYD_WRITE_SEQ, ignore = (flags & KCOPYD_IGNORE_ERROR) && !seq;
	struct kc_fault_rule rule = { KC_FAULT_WRITE, dsec[1] * 512 + bad_rel, FILE_BYTES, -ENOSPC };
	struct kc_fault_config good = { .short_pct = 30, .delay_max_us = 200 };
	struct kc_fault_config bad = { .rules = &rule, .num_rules = 1, .delay_max_us = 200 };
	struct block_device *src, *dst[3];
	struct io_region from, to[3];
	struct kcopyd_client *kc = client(64, S, 64);
	struct kcopyd_result res;
	struct kcopyd_stats st;
	struct kc_fault_event *ev;
	const char *path[3];
	uint8_t *old[3];
	size_t nev;

	ru_set_context("seed %#" PRIx64 " ENOSPC on 1 of 3, flags %s, run %u", seed, flag_str(flags),
		       iter);
	good.seed = seed + iter;
	bad.seed = seed + iter + 7;
	src = ru_fault_open(src_path, O_RDONLY, &good);
	from = (struct io_region){ src, ssec, count };
	for (unsigned int d = 0; d < 3; d++) {
		char name[32];

		snprintf(name, sizeof(name), "enospc%u", d);
		path[d] = strdup(ru_path(name));
		if (!path[d])
			FAIL("out of memory");
		old[d] = old_file(path[d], FILE_BYTES, seed * 3 + d + iter);
		dst[d] = ru_fault_open(path[d], O_RDWR, d == 1 ? &bad : &good);
		to[d] = (struct io_region){ dst[d], dsec[d], count };
	}
	CHECK_OK(ru_copy_sync(kc, &from, 3, to, flags, &res));

	CHECK_EQ(res.read_err, 0);
	if (res.write_err != 2)
		FAIL("write_err %#x, expected exactly bit 1 (0x2)", res.write_err);
	CHECK_EQ(res.dest_errno[0], 0);
	CHECK_EQ(res.dest_errno[1], -ENOSPC);
	CHECK_EQ(res.dest_errno[2], 0);
	ev = ru_events(dst[1], &nev);
	if (!nev)
		FAIL("no fault was logged, yet write_err has bit 1");
	{
		uint64_t first = UINT64_MAX;

		for (size_t e = 0; e < nev; e++) {
			if (ev[e].op != KC_FAULT_WRITE || ev[e].error != -ENOSPC ||
			    ev[e].end > (dsec[1] + count) * 512 || ev[e].end <= rule.start)
				FAIL("unexpected event [%" PRIu64 ", %" PRIu64 ") op %u error %d", ev[e].start,
				     ev[e].end, ev[e].op, ev[e].error);
			if (ev[e].start < first)
				first = ev[e].start;
		}
		/* At or below its first failed write; where exactly, the bytes
		 * say (below, after the files are closed). */
		if (res.dest_err_sector[1] > first / 512)
			FAIL("dest_err_sector[1] %" PRIu64 ", above the first failed request at "
			     "sector %" PRIu64, (uint64_t)res.dest_err_sector[1], first / 512);
		/* No short transfers on this one: a failed request is a whole
		 * chunk, the one holding the first bad byte: with WRITE_SEQ
		 * in order, and otherwise because a chunk below a failure,
		 * already handed out, is still written to the failed
		 * destination. */
		if ((first - dsec[1] * 512) % S || first != dsec[1] * 512 + bad_chunk * S)
			FAIL("the first failed write starts at byte %" PRIu64 ", expected %s%" PRIu64
			     " (the chunk holding byte %" PRIu64 ")", first, seq ? "" : "a chunk from ",
			     dsec[1] * 512 + bad_chunk * S, rule.start);
	}
	if (seq && nev != 1)
		FAIL("WRITE_SEQ: %zu writes failed on destination 1; after the first, no more "
		     "should have been issued", nev);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	CHECK_EQ(st.write_errors, nev);
	CHECK_EQ(st.read_errors, 0);
	free(ev);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	for (unsigned int d = 0; d < 3; d++)
		kcopyd_bdev_close(dst[d]);

	/* Every destination, failed or not: exactly the source below its
	 * dest_err_sector (the region's end when it holds all of it). */
	for (unsigned int d = 0; d < 3; d++) {
		char what[32];

		snprintf(what, sizeof(what), "destination %u", d);
		ru_check_first_missing(path[d], dsec[d], count, src_data + ssec * 512,
				       res.dest_err_sector[d], what);
	}
	if (res.dest_err_sector[1] != dsec[1] + bad_chunk * S / 512)
		FAIL("dest_err_sector[1] %" PRIu64 ", expected the failing chunk's start %" PRIu64,
		     (uint64_t)res.dest_err_sector[1], dsec[1] + bad_chunk * S / 512);

	/* Destination 1: nothing from the failing chunk on. */
	{
		uint64_t cut = bad_chunk * S, base = dsec[1] * 512;

		if (!range_is(path[1], base + cut, old[1] + base + cut, total - cut))
			FAIL("destination 1 was written from byte %" PRIu64 " of the job on, where every "
			     "write fails", cut);
		if (seq && !range_is(path[1], base, src_data + ssec * 512, cut))
			FAIL("WRITE_SEQ: destination 1 lacks chunks written before the failure");
	}
	for (unsigned int d = 0; d < 3; d++) {
		const uint64_t base = dsec[d] * 512;

		if (!range_is(path[d], 0, old[d], base) ||
		    !range_is(path[d], base + total, old[d] + base + total, FILE_BYTES - base - total))
			FAIL("destination %u changed outside its range", d);
		if (d == 1)
			continue;
		if (ignore && !range_is(path[d], base, src_data + ssec * 512, total))
			FAIL("IGNORE_ERROR: healthy destination %u is not byte-identical", d);
		if (seq && !ignore) {
			/* Chunks up to the failing one were written, none after. */
			uint64_t upto = (bad_chunk + 1) * S;

			if (!range_is(path[d], base, src_data + ssec * 512, upto) ||
			    !range_is(path[d], base + upto, old[d] + base + upto, total - upto))
				FAIL("WRITE_SEQ without IGNORE_ERROR: destination %u should hold exactly "
				     "chunks 0..%" PRIu64, d, bad_chunk);
		}
		if (!ignore && !seq) {
			for (uint64_t lo = 0; lo < total; lo += S) {
				uint64_t len = lo + S <= total ? S : total - lo;

				if (!range_is(path[d], base + lo, src_data + ssec * 512 + lo, len) &&
				    !range_is(path[d], base + lo, old[d] + base + lo, len))
					FAIL("destination %u chunk %" PRIu64 " is torn or garbage", d, lo / S);
			}
		}
	}
	for (unsigned int d = 0; d < 3; d++) {
		free(old[d]);
		free((void *)path[d]);
	}
}

/* ---- EAGAIN / EINTR: retried, not errors --------------------------------- */

static void count_faults(struct block_device *src, struct block_device **dst, uint64_t *events,
			 uint64_t *shorts)
{
	*events = *shorts = 0;
	for (unsigned int d = 0; d <= 3; d++) {
		struct block_device *bd = d == 3 ? src : dst[d];
		size_t n;

		free(ru_events(bd, &n));
		*events += n;
		*shorts += kc_fault_shorts(bd);
	}
}

static void retried_errors(int error)
{
	struct kc_fault_config cfg = { .fail_ppm = 300000, .fail_error = error, .short_pct = 30 };
	const sector_t count = 2048;
	struct block_device *src, *dst[3];
	struct io_region from, to[3];
	struct kcopyd_client *kc = client(64, 16384, 64);
	struct kcopyd_result res;
	struct kcopyd_stats st;
	uint64_t events = 0, shorts = 0, copy_events, retries0;
	const char *path[3];
	uint8_t *zeros = calloc(1, count * 512);

	ru_set_context("seed %#" PRIx64 " injected %d", seed, error);
	if (!zeros)
		FAIL("out of memory");
	cfg.seed = seed + 11;
	src = ru_fault_open(src_path, O_RDONLY, &cfg);
	from = (struct io_region){ src, 1, count };
	for (unsigned int d = 0; d < 3; d++) {
		char name[32];

		snprintf(name, sizeof(name), "again%u", d);
		path[d] = strdup(ru_path(name));
		if (!path[d])
			FAIL("out of memory");
		free(old_file(path[d], FILE_BYTES, seed + d));
		cfg.seed++;
		dst[d] = ru_fault_open(path[d], O_RDWR, &cfg);
		to[d] = (struct io_region){ dst[d], 5 + d * 100, count };
	}
	CHECK_OK(ru_copy_sync(kc, &from, 3, to, 0, &res));
	if (res.read_err || res.write_err)
		FAIL("injected %d (retryable): read_err %d write_err %#x", error, res.read_err,
		     res.write_err);
	for (unsigned int d = 0; d < 3; d++)
		if (!range_is(path[d], to[d].sector * 512, src_data + 512, count * 512))
			FAIL("injected %d: destination %u is not identical", error, d);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	count_faults(src, dst, &events, &shorts);
	if (events < 20)
		FAIL("only %" PRIu64 " faults injected: the test would prove nothing", events);
	CHECK_EQ(st.read_errors, 0);
	CHECK_EQ(st.write_errors, 0);
	if (st.retries != events + shorts)
		FAIL("stats.retries %" PRIu64 ", expected %" PRIu64 " retried faults + %" PRIu64
		     " short transfers", st.retries, events, shorts);
	copy_events = events;

	/* Zeroing goes through the same retries.  (The fault endpoint counts
	 * a "short" for a zeroing request it then refuses as unsupported, so
	 * only bounds here.) */
	CHECK_OK(ru_zero_sync(kc, 3, to, 0, &res));
	if (res.read_err || res.write_err)
		FAIL("zero, injected %d: read_err %d write_err %#x", error, res.read_err, res.write_err);
	for (unsigned int d = 0; d < 3; d++)
		if (!range_is(path[d], to[d].sector * 512, zeros, count * 512))
			FAIL("zero, injected %d: destination %u is not zero", error, d);
	retries0 = st.retries;
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	count_faults(src, dst, &events, &shorts);
	CHECK_EQ(st.read_errors, 0);
	CHECK_EQ(st.write_errors, 0);
	if (events - copy_events < 10)
		FAIL("zero: only %" PRIu64 " faults injected", events - copy_events);
	if (st.retries - retries0 < events - copy_events)
		FAIL("zero: %" PRIu64 " retries for %" PRIu64 " retryable faults",
		     st.retries - retries0, events - copy_events);
	ru_log("ok: %d injected %" PRIu64 " times with %" PRIu64 " short transfers: all retried",
	       error, events, shorts);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	for (unsigned int d = 0; d < 3; d++) {
		kcopyd_bdev_close(dst[d]);
		free((void *)path[d]);
	}
	free(zeros);
}

/* ---- every destination fails -------------------------------------------- */

static void all_fail(unsigned int ndests, unsigned int flags, unsigned int depth)
{
	static const int errs[] = { -EIO, -ENOSPC, -EROFS, -EDQUOT, -EFBIG, -ENXIO };
	const sector_t count = 2048;                 /* 16 chunks */
	struct kc_fault_rule rules[KCOPYD_MAX_REGIONS];
	struct kc_fault_config good = { .delay_max_us = 100 }, cfg[KCOPYD_MAX_REGIONS];
	struct block_device *src, *dst[KCOPYD_MAX_REGIONS];
	struct io_region from, to[KCOPYD_MAX_REGIONS];
	struct kcopyd_client *kc = client(64, S, depth);
	struct kcopyd_result res;
	struct kcopyd_stats st;
	char *path[KCOPYD_MAX_REGIONS];
	uint8_t *old[KCOPYD_MAX_REGIONS];
	const uint64_t file = 2 * count * 512;

	ru_set_context("seed %#" PRIx64 " all %u destinations fail, flags %s, depth %u", seed, ndests,
		       flag_str(flags), depth);
	good.seed = seed + 5;
	src = ru_fault_open(src_path, O_RDONLY, &good);
	from = (struct io_region){ src, 0, count };
	for (unsigned int d = 0; d < ndests; d++) {
		char name[32];
		sector_t at = (d * 37) % count;

		snprintf(name, sizeof(name), "allfail%u", d);
		path[d] = strdup(ru_path(name));
		if (!path[d])
			FAIL("out of memory");
		old[d] = old_file(path[d], file, seed + 50 + d);
		rules[d] = (struct kc_fault_rule){ KC_FAULT_WRITE, 0, file, errs[d % 6] };
		cfg[d] = (struct kc_fault_config){ .rules = &rules[d], .num_rules = 1,
						   .delay_max_us = 100, .seed = seed + d };
		dst[d] = ru_fault_open(path[d], O_RDWR, &cfg[d]);
		to[d] = (struct io_region){ dst[d], at, count };
	}
	CHECK_OK(ru_copy_sync(kc, &from, ndests, to, flags, &res));
	CHECK_EQ(res.read_err, 0);
	{
		unsigned int all = ndests == 32 ? ~0u : (1u << ndests) - 1;

		if (res.write_err != all)
			FAIL("write_err %#x, expected %#x", res.write_err, all);
	}
	for (unsigned int d = 0; d < ndests; d++) {
		uint64_t first = first_fault(dst[d]);

		if (res.dest_errno[d] != errs[d % 6])
			FAIL("dest_errno[%u] %d, expected %d", d, res.dest_errno[d], errs[d % 6]);
		if (res.dest_err_sector[d] > first / 512)
			FAIL("dest_err_sector[%u] %" PRIu64 ", above its first fault at byte %" PRIu64, d,
			     (uint64_t)res.dest_err_sector[d], first);
		/* Nothing of it was written (checked below): the first missing
		 * sector is its first, whichever chunk failed first. */
		if (res.dest_err_sector[d] != to[d].sector)
			FAIL("dest_err_sector[%u] %" PRIu64 ", expected %" PRIu64 " (nothing written)", d,
			     (uint64_t)res.dest_err_sector[d], (uint64_t)to[d].sector);
	}
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	if (depth == 1 && st.sub_jobs != 1)
		FAIL("queue depth 1: %" PRIu64 " sub-jobs ran after every destination failed in the "
		     "first one", st.sub_jobs);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	for (unsigned int d = 0; d < ndests; d++) {
		kcopyd_bdev_close(dst[d]);
		if (!range_is(path[d], 0, old[d], file))
			FAIL("destination %u was written although every write to it fails", d);
		free(old[d]);
		free(path[d]);
	}
	ru_log("ok: %u destinations all failing, flags %s, depth %u", ndests, flag_str(flags), depth);
}

/* ---- 32 destinations, first and last failing ----------------------------- */

static void thirty_two(unsigned int flags)
{
	const sector_t count = 400;
	const uint64_t file = 512 * 1024;
	struct kc_fault_rule r0 = { KC_FAULT_WRITE, 0, file, -EIO }, r31 = { KC_FAULT_WRITE, 0, file, -ENOSPC };
	struct kc_fault_config cfg[KCOPYD_MAX_REGIONS];
	struct block_device *src, *dst[KCOPYD_MAX_REGIONS];
	struct io_region from, to[KCOPYD_MAX_REGIONS];
	struct kcopyd_client *kc = client(16, 16384, 64);
	struct kcopyd_result res;
	char *path[KCOPYD_MAX_REGIONS];
	uint8_t *old[KCOPYD_MAX_REGIONS];

	ru_set_context("seed %#" PRIx64 " 32 destinations, flags %s", seed, flag_str(flags));
	src = ru_open(src_path, O_RDONLY, 0);
	from = (struct io_region){ src, 77, count };
	for (unsigned int d = 0; d < 32; d++) {
		char name[32];

		snprintf(name, sizeof(name), "d32-%u", d);
		path[d] = strdup(ru_path(name));
		if (!path[d])
			FAIL("out of memory");
		old[d] = old_file(path[d], file, seed + 300 + d);
		cfg[d] = (struct kc_fault_config){ .delay_max_us = 50, .short_pct = 10, .seed = seed + d + 1 };
		if (d == 0) {
			cfg[d].rules = &r0;
			cfg[d].num_rules = 1;
		} else if (d == 31) {
			cfg[d].rules = &r31;
			cfg[d].num_rules = 1;
		}
		dst[d] = ru_fault_open(path[d], O_RDWR, &cfg[d]);
		to[d] = (struct io_region){ dst[d], d, count };
	}
	CHECK_OK(ru_copy_sync(kc, &from, 32, to, flags, &res));
	CHECK_EQ(res.read_err, 0);
	if (res.write_err != 0x80000001u)
		FAIL("write_err %#x, expected 0x80000001", res.write_err);
	CHECK_EQ(res.dest_errno[0], -EIO);
	CHECK_EQ(res.dest_errno[31], -ENOSPC);
	/* Every write to them fails: nothing of them is held. */
	CHECK_EQ(res.dest_err_sector[0], 0);
	CHECK_EQ(res.dest_err_sector[31], 31);
	if (first_fault(dst[0]) / 512 < res.dest_err_sector[0] ||
	    first_fault(dst[31]) / 512 < res.dest_err_sector[31])
		FAIL("a dest_err_sector above the first fault");
	for (unsigned int d = 1; d < 31; d++)
		if (res.dest_errno[d])
			FAIL("dest_errno[%u] = %d", d, res.dest_errno[d]);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	for (unsigned int d = 0; d < 32; d++) {
		kcopyd_bdev_close(dst[d]);
		if ((flags & KCOPYD_IGNORE_ERROR) && d && d < 31 &&
		    !range_is(path[d], d * 512, src_data + 77 * 512, count * 512))
			FAIL("IGNORE_ERROR: destination %u of 32 is not identical", d);
		if ((d == 0 || d == 31) && !range_is(path[d], 0, old[d], file))
			FAIL("failing destination %u was written", d);
		free(old[d]);
		free(path[d]);
	}
	ru_log("ok: 32 destinations, 0 and 31 failing, flags %s", flag_str(flags));
}

/* ---- a read fault and a write fault in one job --------------------------- */

static void read_and_write(void)
{
	const sector_t count = 1024;                 /* 8 chunks of 64 KiB */
	/* Not WRITE_SEQ, which clears IGNORE_ERROR: then the other chunks of
	 * destination 1 may or may not have been written before chunk 5 failed.
	 * With IGNORE_ERROR those below chunk 5 are written (but chunk 2, which
	 * failed to read, nowhere): every destination's first missing sector is
	 * chunk 2's first. */
	const unsigned int flags = KCOPYD_IGNORE_ERROR;
	struct kc_fault_rule rr = { KC_FAULT_READ, 2 * S + 100, 2 * S + 101, -EILSEQ };
	struct kc_fault_rule wr = { KC_FAULT_WRITE, 5 * S + 4096, 5 * S + 4097, -EDQUOT };
	struct kc_fault_config scfg = { .rules = &rr, .num_rules = 1, .delay_max_us = 200 };
	struct kc_fault_config dcfg = { .delay_max_us = 200 }, bcfg = { .rules = &wr, .num_rules = 1 };
	struct block_device *src, *dst[3];
	struct io_region from, to[3];
	struct kcopyd_client *kc = client(64, S, 64);
	struct kcopyd_result res;
	const char *path[3];
	uint8_t *old[3];

	ru_set_context("seed %#" PRIx64 " read and write fault in one job", seed);
	scfg.seed = seed + 1;
	dcfg.seed = seed + 2;
	bcfg.seed = seed + 3;
	src = ru_fault_open(src_path, O_RDONLY, &scfg);
	from = (struct io_region){ src, 0, count };
	for (unsigned int d = 0; d < 3; d++) {
		char name[32];

		snprintf(name, sizeof(name), "rw%u", d);
		path[d] = strdup(ru_path(name));
		if (!path[d])
			FAIL("out of memory");
		old[d] = old_file(path[d], count * 512, seed + 70 + d);
		dst[d] = ru_fault_open(path[d], O_RDWR, d == 1 ? &bcfg : &dcfg);
		to[d] = (struct io_region){ dst[d], 0, count };
	}
	CHECK_OK(ru_copy_sync(kc, &from, 3, to, flags, &res));
	CHECK_EQ(res.read_err, -EILSEQ);
	CHECK_EQ(res.read_err_sector, 2 * S / 512);
	CHECK_EQ(res.write_err, 2);
	CHECK_EQ(res.dest_errno[1], -EDQUOT);
	for (unsigned int d = 0; d < 3; d++)
		CHECK_EQ(res.dest_err_sector[d], 2 * S / 512);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	for (unsigned int d = 0; d < 3; d++) {
		kcopyd_bdev_close(dst[d]);
		for (unsigned int k = 0; k < 8; k++) {
			bool want_old = k == 2 || (d == 1 && k == 5);
			const uint8_t *want = want_old ? old[d] + k * S : src_data + k * S;

			if (d == 1 && k > 5 && range_is(path[d], k * S, old[d] + k * S, S))
				continue;
			if (!range_is(path[d], k * S, want, S))
				FAIL("destination %u chunk %u should hold the %s", d, k,
				     want_old ? "old contents" : "source");
		}
		free(old[d]);
		free((void *)path[d]);
	}
	ru_log("ok: a read fault and a write fault in one job");
}

/* ---- destroy with faulty jobs in flight ----------------------------------- */

static int destroy_calls;                  /* atomic */

static void count_cb(const struct kcopyd_result *res, void *context)
{
	(void)res;
	(void)context;
	__atomic_fetch_add(&destroy_calls, 1, __ATOMIC_RELAXED);
}

static void destroy_in_flight(void)
{
	const unsigned int njobs = 40;
	struct kc_fault_config cfg = { .fail_ppm = 100000, .short_pct = 20, .delay_max_us = 500 };
	struct block_device *src, *dst;
	struct kcopyd_client *kc = client(8, 8192, 64);
	uint64_t rng = seed ^ 0xd35;
	const char *path = ru_path("destroy");

	ru_set_context("seed %#" PRIx64 " destroy in flight", seed);
	cfg.seed = seed + 9;
	free(old_file(path, FILE_BYTES, seed));
	src = ru_fault_open(src_path, O_RDONLY, &cfg);
	cfg.seed++;
	dst = ru_fault_open(path, O_RDWR, &cfg);
	for (unsigned int j = 0; j < njobs; j++) {
		struct io_region from = { src, ru_below(&rng, 2048), 1 + ru_below(&rng, 64) };
		struct io_region to = { dst, j * 64, from.count };

		CHECK_OK(kcopyd_copy_ex(kc, &from, 1, &to, j % 2 ? KCOPYD_IGNORE_ERROR : 0, count_cb,
					NULL));
	}
	kcopyd_client_destroy(kc);
	if (__atomic_load_n(&destroy_calls, __ATOMIC_RELAXED) != (int)njobs)
		FAIL("kcopyd_client_destroy returned after %d of %u callbacks", destroy_calls, njobs);
	kcopyd_bdev_close(src);
	kcopyd_bdev_close(dst);
	ru_log("ok: destroy with %u faulty jobs in flight ran every callback", njobs);
}

/* ---- kc_fault_open's own checks ------------------------------------------ */

static void fault_open_args(void)
{
	struct block_device *inner = ru_open(src_path, O_RDONLY, 0), *bd = NULL;
	struct kc_fault_config cfg = { 0 }, bad = { .num_rules = 1 };

	ru_set_context("kc_fault_open arguments");
	/* The log of a device that logged nothing, read into a buffer. */
	{
		struct kc_fault_rule never = { KC_FAULT_WRITE, 0, 512, -EIO };
		struct kc_fault_config one = { .rules = &never, .num_rules = 1 };
		struct kc_fault_event out[4];

		CHECK_OK(kc_fault_open(inner, &one, &bd));
		CHECK_EQ(kc_fault_events(bd, out, 4), 0);
		kcopyd_bdev_close(bd);               /* closes inner too */
		bd = NULL;
		inner = ru_open(src_path, O_RDONLY, 0);
	}
	CHECK_EQ(kc_fault_open(NULL, &cfg, &bd), -EINVAL);
	CHECK_EQ(kc_fault_open(inner, NULL, &bd), -EINVAL);
	CHECK_EQ(kc_fault_open(inner, &cfg, NULL), -EINVAL);
	CHECK_EQ(kc_fault_open(inner, &bad, &bd), -EINVAL);
	CHECK(bd == NULL);
	/* No rules at all (rules NULL, num_rules 0) is a valid config. */
	CHECK_OK(kc_fault_open(inner, &cfg, &bd));
	CHECK(bd != NULL);
	CHECK_EQ(kcopyd_bdev_sectors(bd), kcopyd_bdev_sectors(inner));
	CHECK_EQ(kc_fault_events(bd, NULL, 0), 0);
	CHECK_EQ(kc_fault_shorts(bd), 0);
	kcopyd_bdev_close(bd);                   /* closes inner too */
	ru_log("ok: kc_fault_open argument checks");
}

int main(void)
{
	const unsigned int iters = ru_sanitized() ? 1 : 3;
	static const unsigned int flagset[] = { 0, KCOPYD_IGNORE_ERROR, KCOPYD_WRITE_SEQ,
						 KCOPYD_IGNORE_ERROR | KCOPYD_WRITE_SEQ };

	ru_init("test-fault-cases", 120);
	seed = ru_seed(0xca5e5u);
	ru_log("seed %#" PRIx64, seed);
	snprintf(src_path, sizeof(src_path), "%s", ru_path("src"));
	src_data = ru_malloc(FILE_BYTES);
	ru_fill_data(src_data, FILE_BYTES, seed);
	ru_write_file(src_path, src_data, FILE_BYTES);

	for (unsigned int f = 0; f < 4; f++) {
		for (unsigned int i = 0; i < iters; i++)
			enospc_one_of_three(flagset[f], i);
		ru_log("ok: ENOSPC on 1 of 3 destinations, flags %s", flag_str(flagset[f]));
	}
	retried_errors(-EAGAIN);
	retried_errors(-EINTR);
	all_fail(4, 0, 1);
	all_fail(4, KCOPYD_IGNORE_ERROR, 1);
	all_fail(4, KCOPYD_IGNORE_ERROR | KCOPYD_WRITE_SEQ, 64);
	all_fail(4, 0, 64);
	all_fail(32, KCOPYD_IGNORE_ERROR, 64);
	thirty_two(KCOPYD_IGNORE_ERROR);
	thirty_two(0);
	read_and_write();
	destroy_in_flight();
	fault_open_args();
	ru_set_context("%s", "");
	free(src_data);
	ru_pass();
}
