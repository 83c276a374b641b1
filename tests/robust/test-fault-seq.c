/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read faults in the middle of a job, above all with KCOPYD_WRITE_SEQ, where
 * each sub-job waits for every earlier one before it writes: a chunk that
 * fails to read must still take its turn, or the job would hang.
 *
 * A 1 MiB job (odd source offset) to 3 destinations that are fault devices
 * with delayed completions (so sub-jobs finish out of order); the source
 * fails to read in chosen chunks, each with its own errno.  Pools of 1, 3
 * and 64 pages, queue depths 1, 2 and 64, with and without IGNORE_ERROR and
 * WRITE_SEQ; faults in the first chunk, the last, the middle, several, all.
 * Each case runs several times.  Checks:
 *  - the callback comes, once (a hang is caught by a 60 s limit per job);
 *  - read_err is the errno of the lowest failing chunk and read_err_sector
 *    that chunk's first sector; write_err and every dest_errno are 0;
 *  - the fault log: one event per failing chunk that was read, in that
 *    chunk; with IGNORE_ERROR every failing chunk was read;
 *  - stats: read_errors equals the events, write_errors 0;
 *  - bytes: a failing chunk holds the old contents in every destination;
 *    with IGNORE_ERROR every other chunk is the source; without it and with
 *    WRITE_SEQ every chunk from the first failing one on holds the old
 *    contents and the chunks written before it form the same prefix in every
 *    destination;
 *  - queue depth 1: the job stops right after the failing chunk (exactly
 *    first+1 sub-jobs, every chunk before it written) without IGNORE_ERROR,
 *    and runs all its sub-jobs with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault.h"
#include "rutil.h"

#define SRC_BYTES (2u * RU_MIB)
#define DST_BYTES (2u * RU_MIB)
#define NDESTS 3
#define JOB_SECTORS 2048u                /* 1 MiB */
#define SRC_SECTOR 5u
#define MAX_CHUNKS 256

static const sector_t dst_sector[NDESTS] = { 0, 7, 1000 };
static const int errs[] = { -EIO, -ENODATA, -EREMOTEIO, -EILSEQ, -EBADMSG };

static char src_path[512], dst_path[NDESTS][512];
static uint8_t *src_data;
static uint64_t seed;
static unsigned int cases, runs;

struct scase {
	const char *name;
	unsigned int pages, sub, depth, flags;
	unsigned int nfail;
	unsigned int fail[8];             /* failing chunks; 999: every chunk */
};

static uint64_t chunk_size(unsigned int sub, unsigned int pages)
{
	unsigned int p = sub / 4096 < pages ? sub / 4096 : pages, q = 1;

	while (q * 2 <= p)
		q *= 2;
	return (uint64_t)q * 4096;
}

static void run_case(const struct scase *c, unsigned int iter)
{
	const uint64_t S = chunk_size(c->sub, c->pages), total = JOB_SECTORS * 512ull;
	const unsigned int nchunks = (unsigned int)((total + S - 1) / S);
	/* WRITE_SEQ clears IGNORE_ERROR, as in the kernel. */
	const bool seq = c->flags & KCOPYD_WRITE_SEQ, ignore = (c->flags & KCOPYD_IGNORE_ERROR) && !seq;
	struct kc_fault_rule rules[MAX_CHUNKS];
	struct kc_fault_config scfg = { 0 }, dcfg = { 0 };
	bool failing[MAX_CHUNKS] = { false };
	int chunk_err[MAX_CHUNKS] = { 0 };
	unsigned int nrules = 0, first = MAX_CHUNKS, prefix = 0;
	struct block_device *src, *dst[NDESTS];
	struct io_region from, to[NDESTS];
	struct kcopyd_client *kc;
	struct kcopyd_result res;
	struct kcopyd_stats st;
	struct kc_fault_event *ev;
	uint8_t *old[NDESTS], *got = ru_malloc(total);
	size_t nev;

	ru_set_context("seed %#" PRIx64 " case %s, run %u", seed, c->name, iter);
	if (nchunks > MAX_CHUNKS)
		FAIL("internal: too many chunks");
	for (unsigned int i = 0; i < c->nfail; i++) {
		for (unsigned int k = 0; k < nchunks; k++) {
			if (c->fail[i] != 999 && c->fail[i] != k)
				continue;
			failing[k] = true;
			chunk_err[k] = errs[(k + iter) % (sizeof(errs) / sizeof(errs[0]))];
			/* One byte somewhere inside the chunk. */
			rules[nrules].ops = KC_FAULT_READ;
			rules[nrules].start = SRC_SECTOR * 512ull + k * S + (777 + 131 * iter) % S;
			rules[nrules].end = rules[nrules].start + 1;
			rules[nrules].error = chunk_err[k];
			nrules++;
			if (k < first)
				first = k;
		}
	}
	scfg.rules = rules;
	scfg.num_rules = nrules;
	scfg.delay_max_us = 300;
	scfg.seed = seed + iter * 2 + 1;
	dcfg.delay_max_us = 300;
	dcfg.seed = seed + iter * 2 + 2;

	src = ru_fault_open(src_path, O_RDONLY, &scfg);
	from = (struct io_region){ src, SRC_SECTOR, JOB_SECTORS };
	for (unsigned int d = 0; d < NDESTS; d++) {
		old[d] = ru_malloc(DST_BYTES);
		ru_fill_old(old[d], DST_BYTES, seed + 100 * iter + d);
		ru_write_file(dst_path[d], old[d], DST_BYTES);
		dcfg.seed++;
		dst[d] = ru_fault_open(dst_path[d], O_RDWR, &dcfg);
		to[d] = (struct io_region){ dst[d], dst_sector[d], JOB_SECTORS };
	}
	CHECK_OK(kcopyd_client_create(c->pages, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, c->sub));
	CHECK_OK(kcopyd_client_set_queue_depth(kc, c->depth));

	CHECK_OK(ru_copy_sync(kc, &from, NDESTS, to, c->flags, &res));

	/* The result. */
	if (first < MAX_CHUNKS) {
		if (res.read_err != chunk_err[first])
			FAIL("read_err %d, expected %d (chunk %u, the first that fails)", res.read_err,
			     chunk_err[first], first);
		if (res.read_err_sector != SRC_SECTOR + first * S / 512)
			FAIL("read_err_sector %" PRIu64 ", expected %" PRIu64 " (the start of chunk %u)",
			     (uint64_t)res.read_err_sector, SRC_SECTOR + first * S / 512, first);
	} else {
		CHECK_EQ(res.read_err, 0);
	}
	CHECK_EQ(res.write_err, 0);
	for (unsigned int d = 0; d < KCOPYD_MAX_REGIONS; d++)
		if (res.dest_errno[d])
			FAIL("dest_errno[%u] = %d with no write fault", d, res.dest_errno[d]);

	/* The fault log. */
	{
		bool seen[MAX_CHUNKS] = { false };

		ev = ru_events(src, &nev);
		for (size_t e = 0; e < nev; e++) {
			uint64_t rel = ev[e].start - SRC_SECTOR * 512ull, k = rel / S;

			if (ev[e].op != KC_FAULT_READ || ev[e].start < SRC_SECTOR * 512ull ||
			    k >= nchunks || !failing[k] || seen[k] || rel != k * S ||
			    ev[e].error != chunk_err[k])
				FAIL("unexpected fault event %zu: op %u [%" PRIu64 ", %" PRIu64 ") error %d",
				     e, ev[e].op, ev[e].start, ev[e].end, ev[e].error);
			seen[k] = true;
		}
		if (first < MAX_CHUNKS && !seen[first])
			FAIL("chunk %u, the first that fails, was never read", first);
		if (ignore)
			for (unsigned int k = 0; k < nchunks; k++)
				if (failing[k] && !seen[k])
					FAIL("IGNORE_ERROR: failing chunk %u was never read", k);
		free(ev);
		for (unsigned int d = 0; d < NDESTS; d++) {
			ev = ru_events(dst[d], &nev);
			if (nev)
				FAIL("destination %u logged %zu faults without any rule", d, nev);
			free(ev);
		}
	}
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	{
		size_t n;

		free(ru_events(src, &n));
		CHECK_EQ(st.read_errors, n);
	}
	CHECK_EQ(st.write_errors, 0);
	CHECK_EQ(st.jobs_completed, 1);
	if (c->depth == 1) {
		uint64_t want = ignore || first == MAX_CHUNKS ? nchunks : first + 1;

		if (st.sub_jobs != want)
			FAIL("queue depth 1: %" PRIu64 " sub-jobs ran, expected %" PRIu64, st.sub_jobs, want);
	}
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(src);
	for (unsigned int d = 0; d < NDESTS; d++)
		kcopyd_bdev_close(dst[d]);

	/* The bytes. */
	for (unsigned int d = 0; d < NDESTS; d++) {
		const uint64_t base = dst_sector[d] * 512;
		unsigned int written = 0;
		bool gap = false;

		ru_pread(dst_path[d], got, total, base);
		for (unsigned int k = 0; k < nchunks; k++) {
			const uint64_t lo = k * S, len = lo + S <= total ? S : total - lo;
			const uint8_t *s = src_data + SRC_SECTOR * 512 + lo, *o = old[d] + base + lo;
			bool is_src = memcmp(got + lo, s, len) == 0, is_old = memcmp(got + lo, o, len) == 0;

			if (!is_src && !is_old)
				FAIL("dest %u chunk %u is neither the source nor the old contents", d, k);
			if (failing[k] && !is_old)
				FAIL("dest %u chunk %u failed to read but was written", d, k);
			if (ignore && !failing[k] && !is_src)
				FAIL("IGNORE_ERROR: dest %u chunk %u (readable) was not written", d, k);
			if (seq && !ignore && k >= first && !is_old)
				FAIL("WRITE_SEQ: dest %u chunk %u was written after chunk %u failed", d, k,
				     first);
			if (!ignore && c->depth == 1 && k < first && !is_src)
				FAIL("queue depth 1: dest %u chunk %u, before the failing one, not written",
				     d, k);
			if (seq && !ignore) {
				if (is_src && gap)
					FAIL("WRITE_SEQ: dest %u chunk %u written after a chunk that was not", d, k);
				if (is_src)
					written++;
				else
					gap = true;
			}
		}
		if (seq && !ignore) {
			if (d == 0)
				prefix = written;
			else if (written != prefix)
				FAIL("WRITE_SEQ: dest 0 got the first %u chunks, dest %u the first %u",
				     prefix, d, written);
		}
		/* Outside the range: untouched. */
		ru_pread(dst_path[d], got, base, 0);
		if (memcmp(got, old[d], base) != 0)
			FAIL("dest %u changed before its range", d);
		ru_pread(dst_path[d], got, DST_BYTES - base - total, base + total);
		if (memcmp(got, old[d] + base + total, DST_BYTES - base - total) != 0)
			FAIL("dest %u changed after its range", d);
		free(old[d]);
	}
	free(got);
	runs++;
}

int main(void)
{
	static const struct scase table[] = {
		{ "seq, fault in the middle", 64, 65536, 64, KCOPYD_WRITE_SEQ, 1, { 5 } },
		{ "seq+ignore, fault in the middle", 64, 65536, 64,
		  KCOPYD_WRITE_SEQ | KCOPYD_IGNORE_ERROR, 1, { 5 } },
		{ "seq, fault in the first chunk", 64, 65536, 64, KCOPYD_WRITE_SEQ, 1, { 0 } },
		{ "seq+ignore, fault in the first chunk", 64, 65536, 64,
		  KCOPYD_WRITE_SEQ | KCOPYD_IGNORE_ERROR, 1, { 0 } },
		{ "seq, fault in the last chunk", 64, 65536, 64, KCOPYD_WRITE_SEQ, 1, { 15 } },
		{ "seq+ignore, faults in several chunks", 64, 65536, 64,
		  KCOPYD_WRITE_SEQ | KCOPYD_IGNORE_ERROR, 4, { 1, 2, 9, 15 } },
		{ "seq, faults in several chunks", 64, 65536, 64, KCOPYD_WRITE_SEQ, 4, { 9, 2, 15, 1 } },
		{ "seq, every chunk fails", 64, 65536, 64, KCOPYD_WRITE_SEQ, 1, { 999 } },
		{ "seq+ignore, every chunk fails", 64, 65536, 64,
		  KCOPYD_WRITE_SEQ | KCOPYD_IGNORE_ERROR, 1, { 999 } },
		{ "seq, 1-page pool", 1, 4096, 64, KCOPYD_WRITE_SEQ, 3, { 3, 100, 255 } },
		{ "seq+ignore, 1-page pool", 1, 4096, 64,
		  KCOPYD_WRITE_SEQ | KCOPYD_IGNORE_ERROR, 3, { 3, 100, 255 } },
		{ "seq, 3-page pool", 3, 65536, 64, KCOPYD_WRITE_SEQ, 2, { 40, 41 } },
		{ "seq+ignore, 3-page pool", 3, 65536, 64,
		  KCOPYD_WRITE_SEQ | KCOPYD_IGNORE_ERROR, 2, { 40, 41 } },
		{ "seq, depth 2", 64, 16384, 2, KCOPYD_WRITE_SEQ, 1, { 33 } },
		{ "seq, depth 1", 64, 65536, 1, KCOPYD_WRITE_SEQ, 1, { 6 } },
		{ "seq+ignore, depth 1", 64, 65536, 1, KCOPYD_WRITE_SEQ | KCOPYD_IGNORE_ERROR, 1, { 6 } },
		{ "plain, depth 1", 64, 65536, 1, 0, 2, { 6, 11 } },
		{ "ignore, depth 1", 64, 65536, 1, KCOPYD_IGNORE_ERROR, 2, { 6, 11 } },
		{ "plain, fault in the middle", 64, 65536, 64, 0, 1, { 7 } },
		{ "ignore, faults in several chunks", 64, 65536, 64, KCOPYD_IGNORE_ERROR, 3, { 0, 7, 15 } },
		{ "seq, no fault", 64, 65536, 64, KCOPYD_WRITE_SEQ, 0, { 0 } },
	};
	const unsigned int iters = ru_sanitized() ? 2 : 5;

	ru_init("test-fault-seq", 120);
	seed = ru_seed(0x5e9u);
	ru_log("seed %#" PRIx64, seed);
	snprintf(src_path, sizeof(src_path), "%s", ru_path("src"));
	src_data = ru_malloc(SRC_BYTES);
	ru_fill_data(src_data, SRC_BYTES, seed);
	ru_write_file(src_path, src_data, SRC_BYTES);
	for (unsigned int d = 0; d < NDESTS; d++) {
		char name[16];

		snprintf(name, sizeof(name), "dst%u", d);
		snprintf(dst_path[d], sizeof(dst_path[d]), "%s", ru_path(name));
	}
	for (unsigned int i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		for (unsigned int it = 0; it < iters; it++)
			run_case(&table[i], it);
		cases++;
		ru_log("ok: %s", table[i].name);
	}
	ru_set_context("%s", "");
	ru_log("%u cases, %u runs", cases, runs);
	free(src_data);
	ru_pass();
}
