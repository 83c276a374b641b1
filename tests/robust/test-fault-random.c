/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * 10 000 random jobs (2 000 under a sanitizer; KCOPYD_TEST_SCALE scales)
 * through fault-injecting devices, each result checked against the log of
 * the faults that were injected.
 *
 * A 4 MiB + 300 byte source file and 8 destination files of 4 MiB are
 * wrapped, per epoch, in fault devices (a few are left plain) with random
 * fault settings: rules by byte range, random failures per million with a
 * chosen errno, short transfers, delayed completions.  Each epoch has its
 * own client (random pool size, sub-job size and queue depth).  Jobs run in
 * waves: the jobs of a wave are in flight together and the byte ranges they
 * touch on any one device are disjoint, so every logged fault belongs to
 * exactly one job (and to one destination of it).  Each job copies a random
 * sector range (aligned or odd, 0 to 1024 sectors, at most 32 sub-jobs) to 1..8 destinations
 * (two may share a file), with random KCOPYD_IGNORE_ERROR / KCOPYD_WRITE_SEQ.
 *
 * For every job (kcopyd_copy_ex):
 *  - the callback runs exactly once;
 *  - every fault event lies inside that job's range on that device, in one
 *    sub-job chunk, and ends at the chunk's end (the request it failed);
 *  - read_err / read_err_sector are the errno and first sector of the
 *    lowest read fault in the source range, or 0; bit i of write_err is set
 *    exactly when a write fault hit destination i's range, and
 *    dest_errno[i] is that of its lowest fault; nothing is reported for
 *    destinations (or slots) without faults;
 *  - dest_err_sector[i], for every destination, failed or not: the
 *    destination holds exactly the source below it, and the byte at its
 *    first sector differs (the region's end when the destination holds
 *    all of it).  That is at or below its first write fault, and below it
 *    where a chunk failed to read, or the job stopped or left a chunk out;
 *  - the bytes, per destination and per chunk (the destination range was
 *    filled with a known pattern that no source byte can equal):
 *      a chunk with a read fault holds the pattern in every destination
 *      (never written anywhere), and no write fault hit it;
 *      a chunk with a write fault on destination i holds the source before
 *      the failed offset and the pattern from it on;
 *      any other chunk is all source or all pattern (never torn, never
 *      garbage), and all source when the job had no fault, or it has
 *      IGNORE_ERROR and the destination did not fail; and (not WRITE_SEQ)
 *      all source below the job's first faulty chunk, and on a failed
 *      destination below its first write fault;
 *      WRITE_SEQ: nothing of a failed destination after its failing chunk,
 *      at most one write fault per destination, and with IGNORE_ERROR every
 *      readable chunk before it is there; without IGNORE_ERROR the chunks
 *      written form a prefix and nothing after the first faulty chunk is
 *      written;
 *  - at the end of each epoch: bytes outside every job's ranges unchanged,
 *    the source unchanged, the client's read_errors / write_errors equal the
 *    logged faults, retries >= the short transfers, jobs_completed equal.
 *
 * The seed (KCOPYD_TEST_SEED, default fixed) is printed; jobs and fault
 * settings follow from it, the interleaving of threads does not.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fault.h"
#include "rutil.h"

#define NDEV 8
#define SRC_BYTES (4ull * RU_MIB + 300)
#define SRC_SECTORS ((SRC_BYTES + 511) / 512)
#define DST_BYTES (4ull * RU_MIB)
#define DST_SECTORS (DST_BYTES / 512)
#define MAX_DESTS 8
#define MAX_WAVE 16
#define JOBS_PER_EPOCH 250
#define MAX_RULES 4
#define DEFAULT_SEED 0x6b636f7079643035ull

static const int errs[] = { -EIO, -ENOSPC, -EROFS, -EREMOTEIO, -ENODATA, -EILSEQ,
			    -EDQUOT, -EFBIG, -ENXIO, -EBADMSG, -ENOMEM, -EPERM };
#define NERRS (sizeof(errs) / sizeof(errs[0]))

static char src_path[512], dst_path[NDEV][512];
static uint8_t *src_data;                 /* SRC_SECTORS * 512: the file, then zeros */
static uint8_t *shadow[NDEV];             /* what each destination file should hold */

/* A device of the epoch: index 0..NDEV-1 destinations, NDEV the source. */
struct dev {
	struct block_device *bd;
	bool fault;
	struct kc_fault_config cfg;
	struct kc_fault_rule rules[MAX_RULES];
	size_t seen;                      /* events already attributed */
	struct kc_fault_event *ev;
	size_t ev_cap;
};
static struct dev devs[NDEV + 1];

struct dest_exp {
	int err;                          /* lowest write fault: errno, start byte */
	uint64_t err_start;
	unsigned int nevents;
};

struct job {
	sector_t src, count;
	unsigned int ndests, flags;
	unsigned int dev[MAX_DESTS];
	sector_t sector[MAX_DESTS];
	int calls;                        /* atomic */
	struct kcopyd_result res;
	/* From the fault log. */
	int read_err;
	uint64_t read_start;
	unsigned int read_events;
	struct dest_exp d[MAX_DESTS];
	uint8_t *chunk_read_fault;        /* per chunk */
	uint64_t *chunk_write_fault;      /* per dest * chunk: event start + 1, or 0 */
};

/* Figures for the report. */
static struct {
	uint64_t jobs, jobs_clean, jobs_read_err, jobs_write_err, jobs_zero;
	uint64_t by_flags[4];
	uint64_t read_events, write_events, shorts, retries;
	uint64_t chunks_exact, chunks_either, chunks_pattern_checked, bytes_checked;
	uint64_t dests, waves, epochs, sub_jobs;
	double t_fill, t_io, t_check;
} fig;

static struct ru_counter wave_calls = RU_COUNTER_INIT;   /* callbacks of the current wave */
static uint64_t seed;

static void job_cb(const struct kcopyd_result *res, void *context)
{
	struct job *j = context;

	j->res = *res;
	__atomic_fetch_add(&j->calls, 1, __ATOMIC_RELEASE);
	ru_counter_add(&wave_calls);
}

/* ---- the epoch's devices and client ------------------------------------ */

static void random_cfg(uint64_t *rng, struct dev *d, uint64_t bytes, bool source)
{
	static const unsigned int ppm[] = { 0, 0, 0, 2000, 10000, 30000, 100000, 300000 };
	static const unsigned int shorts[] = { 0, 0, 5, 30, 100 };
	static const unsigned int delays[] = { 0, 0, 0, 0, 0, 20, 100 };
	unsigned int nrules = ru_below(rng, 3) ? 0 : 1 + (unsigned int)ru_below(rng, MAX_RULES);

	memset(&d->cfg, 0, sizeof(d->cfg));
	for (unsigned int i = 0; i < nrules; i++) {
		struct kc_fault_rule *r = &d->rules[i];
		uint64_t len = ru_below(rng, 2) ? 1 + ru_below(rng, 4096) : 512 * (1 + ru_below(rng, 128));

		r->start = ru_below(rng, bytes);
		if (ru_below(rng, 2))
			r->start &= ~511ull;
		r->end = r->start + len < bytes ? r->start + len : bytes;
		/* Mostly the op that can happen on this device; sometimes the
		 * other one too, or only it (which must never fire). */
		switch (ru_below(rng, 6)) {
		case 0: r->ops = KC_FAULT_READ | KC_FAULT_WRITE; break;
		case 1: r->ops = source ? KC_FAULT_WRITE : KC_FAULT_READ; break;
		default: r->ops = source ? KC_FAULT_READ : KC_FAULT_WRITE; break;
		}
		r->error = errs[ru_below(rng, NERRS)];
	}
	d->cfg.rules = d->rules;
	d->cfg.num_rules = nrules;
	d->cfg.fail_ppm = ppm[ru_below(rng, sizeof(ppm) / sizeof(ppm[0]))];
	d->cfg.fail_error = ru_below(rng, 3) ? errs[ru_below(rng, NERRS)] : 0;   /* 0: -EIO */
	d->cfg.fail_ops = (unsigned int)ru_below(rng, 4);                       /* 0: both */
	d->cfg.short_pct = shorts[ru_below(rng, sizeof(shorts) / sizeof(shorts[0]))];
	d->cfg.delay_max_us = delays[ru_below(rng, sizeof(delays) / sizeof(delays[0]))];
	d->cfg.seed = ru_rand(rng) | 1;
}

static void open_devs(uint64_t *rng)
{
	for (unsigned int i = 0; i <= NDEV; i++) {
		struct dev *d = &devs[i];
		bool source = i == NDEV;
		const char *path = source ? src_path : dst_path[i];
		int mode = source ? O_RDONLY : O_RDWR;

		d->seen = 0;
		/* Mostly fault devices; a few plain ones, which must never fail. */
		d->fault = ru_below(rng, 8) != 0;
		if (d->fault) {
			random_cfg(rng, d, source ? SRC_SECTORS * 512 : DST_BYTES, source);
			d->bd = ru_fault_open(path, mode, &d->cfg);
		} else {
			d->bd = ru_open(path, mode, 0);
		}
	}
}

static void describe_devs(char *buf, size_t size)
{
	size_t n = 0;

	for (unsigned int i = 0; i <= NDEV && n < size; i++) {
		const struct dev *d = &devs[i];

		if (!d->fault) {
			n += (size_t)snprintf(buf + n, size - n, " %s%u:plain", i == NDEV ? "src" : "d",
					      i == NDEV ? 0 : i);
			continue;
		}
		n += (size_t)snprintf(buf + n, size - n, " %s%u:{rules %u ppm %u err %d ops %u short %u%% delay %u}",
				      i == NDEV ? "src" : "d", i == NDEV ? 0 : i, d->cfg.num_rules,
				      d->cfg.fail_ppm, d->cfg.fail_error, d->cfg.fail_ops,
				      d->cfg.short_pct, d->cfg.delay_max_us);
	}
}

/* The sub-job size the documentation promises: pages rounded down to a
 * power of two after capping by the pool. */
static uint64_t chunk_size(unsigned int bytes, unsigned int num_pages)
{
	unsigned int pages = bytes / 4096, p = 1;

	if (pages > num_pages)
		pages = num_pages;
	while (p * 2 <= pages)
		p *= 2;
	return (uint64_t)p * 4096;
}

/* Fetch the events a device logged since last time. */
static size_t new_events(struct dev *d, struct kc_fault_event **out)
{
	size_t n = kc_fault_events(d->bd, NULL, 0), first = d->seen;

	*out = NULL;
	if (n == first)                   /* (and d->ev may still be NULL) */
		return 0;
	if (n > d->ev_cap) {
		d->ev_cap = n * 2;
		d->ev = realloc(d->ev, d->ev_cap * sizeof(*d->ev));
		if (!d->ev)
			FAIL("out of memory");
	}
	if (kc_fault_events(d->bd, d->ev, n) != n)
		FAIL("the fault log of a device grew while no job was running");
	d->seen = n;
	*out = d->ev + first;
	return n - first;
}

/* ---- waves --------------------------------------------------------------- */

struct span { uint64_t lo, hi; };          /* sectors */

static bool free_span(const struct span *s, unsigned int n, uint64_t lo, uint64_t hi)
{
	for (unsigned int i = 0; i < n; i++)
		if (lo < s[i].hi && s[i].lo < hi)
			return false;
	return true;
}

static sector_t pick_start(uint64_t *rng, sector_t dev_sectors, sector_t count, bool aligned)
{
	sector_t s = ru_below(rng, dev_sectors - count + 1);

	if (aligned && s >= 8)
		s &= ~(sector_t)7;
	return s;
}

/* Make up to n jobs whose ranges per device do not overlap. */
static unsigned int make_wave(uint64_t *rng, struct job *jobs, unsigned int n, uint64_t S)
{
	/* Large jobs: up to 1024 sectors, or 32 chunks where chunks are small
	 * (the time goes into the number of requests). */
	const sector_t max_big = 32 * S / 512 < 1024 ? 32 * S / 512 : 1024;
	struct span used[NDEV + 1][MAX_WAVE * MAX_DESTS];
	unsigned int nused[NDEV + 1] = { 0 }, made = 0;

	for (unsigned int t = 0; t < n; t++) {
		struct job *j = &jobs[made];
		uint64_t r = ru_below(rng, 100);
		bool aligned = ru_below(rng, 2);
		sector_t count;
		unsigned int tries;

		memset(j, 0, sizeof(*j));
		if (r < 2)
			count = 0;
		else if (r < 40)
			count = 1 + ru_below(rng, 16);
		else if (r < 87)
			count = 1 + ru_below(rng, 128);
		else
			count = 1 + ru_below(rng, max_big);
		if (aligned)
			count = (count + 7) & ~(sector_t)7;
		j->count = count;
		j->flags = (ru_below(rng, 2) ? KCOPYD_IGNORE_ERROR : 0) |
			   (ru_below(rng, 3) == 0 ? KCOPYD_WRITE_SEQ : 0);
		j->ndests = 1 + (unsigned int)ru_below(rng, MAX_DESTS);
		for (tries = 0; tries < 20; tries++) {
			j->src = pick_start(rng, SRC_SECTORS, count, aligned);
			if (free_span(used[NDEV], nused[NDEV], j->src, j->src + count))
				break;
		}
		if (tries == 20)
			continue;
		used[NDEV][nused[NDEV]++] = (struct span){ j->src, j->src + count };
		for (unsigned int i = 0; i < j->ndests; i++) {
			unsigned int dv = (unsigned int)ru_below(rng, NDEV);

			for (tries = 0; tries < 20; tries++) {
				j->sector[i] = pick_start(rng, DST_SECTORS, count, aligned);
				if (free_span(used[dv], nused[dv], j->sector[i], j->sector[i] + count))
					break;
			}
			if (tries == 20) {    /* no room: fewer destinations */
				j->ndests = i;
				break;
			}
			j->dev[i] = dv;
			used[dv][nused[dv]++] = (struct span){ j->sector[i], j->sector[i] + count };
		}
		if (!j->ndests) {
			nused[NDEV]--;
			continue;
		}
		made++;
	}
	return made;
}

static void fill_patterns(uint64_t *rng, struct job *jobs, unsigned int n)
{
	for (unsigned int k = 0; k < n; k++) {
		struct job *j = &jobs[k];

		for (unsigned int i = 0; i < j->ndests; i++) {
			uint8_t *p = shadow[j->dev[i]] + j->sector[i] * 512;
			size_t len = j->count * 512;

			for (size_t b = 0; b < len; b += 8) {
				uint64_t v = ru_rand(rng) | 0x8080808080808080ull;

				memcpy(p + b, &v, 8);
			}
			ru_pwrite(dst_path[j->dev[i]], p, len, j->sector[i] * 512);
		}
	}
}

static const char *flag_str(unsigned int flags)
{
	static const char *names[] = { "0", "IGNORE_ERROR", "WRITE_SEQ", "IGNORE_ERROR|WRITE_SEQ" };

	return names[flags & 3];
}

static void set_job_context(uint64_t epoch, uint64_t wave, unsigned int k, const struct job *j)
{
	char dests[512];
	size_t n = 0;

	dests[0] = 0;
	for (unsigned int i = 0; i < j->ndests && n < sizeof(dests); i++)
		n += (size_t)snprintf(dests + n, sizeof(dests) - n, " d%u:%" PRIu64,
				      j->dev[i], (uint64_t)j->sector[i]);
	ru_set_context("seed %#" PRIx64 " epoch %" PRIu64 " wave %" PRIu64 " job %u: src %" PRIu64
		       " count %" PRIu64 " flags %s dests%s", seed, epoch, wave, k,
		       (uint64_t)j->src, (uint64_t)j->count, flag_str(j->flags), dests);
}

/* Give each logged event to the one job (and destination) whose range it is in. */
static void attribute(struct job *jobs, unsigned int n, uint64_t S)
{
	for (unsigned int dv = 0; dv <= NDEV; dv++) {
		struct kc_fault_event *ev;
		size_t m;

		if (!devs[dv].fault)
			continue;
		m = new_events(&devs[dv], &ev);
		for (size_t e = 0; e < m; e++) {
			const struct kc_fault_event *x = &ev[e];
			bool found = false;

			if (x->start >= x->end || !x->error)
				FAIL("malformed fault event [%" PRIu64 ", %" PRIu64 ") error %d",
				     x->start, x->end, x->error);
			for (unsigned int k = 0; k < n && !found; k++) {
				struct job *j = &jobs[k];
				unsigned int nd = dv == NDEV ? 1 : j->ndests;

				for (unsigned int i = 0; i < nd && !found; i++) {
					uint64_t lo, hi, chunk, chunk_end;

					if (dv != NDEV && j->dev[i] != dv)
						continue;
					lo = (dv == NDEV ? j->src : j->sector[i]) * 512;
					hi = lo + j->count * 512;
					if (!(x->start < hi && lo < x->end))
						continue;
					found = true;
					if (x->start < lo || x->end > hi)
						FAIL("fault event [%" PRIu64 ", %" PRIu64 ") on %s%u reaches "
						     "outside job %u's range [%" PRIu64 ", %" PRIu64 ")",
						     x->start, x->end, dv == NDEV ? "src" : "d",
						     dv == NDEV ? 0 : dv, k, lo, hi);
					chunk = (x->start - lo) / S;
					chunk_end = lo + ((chunk + 1) * S < j->count * 512 ?
							  (chunk + 1) * S : j->count * 512);
					if (x->end != chunk_end)
						FAIL("fault event [%" PRIu64 ", %" PRIu64 ") on %s%u: expected "
						     "a request ending at its sub-job's end %" PRIu64
						     " (sub-job size %" PRIu64 ")", x->start, x->end,
						     dv == NDEV ? "src" : "d", dv == NDEV ? 0 : dv, chunk_end, S);
					if (dv == NDEV) {
						if (x->op != KC_FAULT_READ)
							FAIL("a write fault on the source");
						fig.read_events++;
						if (j->chunk_read_fault[chunk]++)
							FAIL("two read faults in chunk %" PRIu64 " of job %u",
							     chunk, k);
						j->read_events++;
						if (!j->read_err || x->start < j->read_start) {
							j->read_err = x->error;
							j->read_start = x->start;
						}
					} else {
						struct dest_exp *de = &j->d[i];
						uint64_t *slot;

						if (x->op != KC_FAULT_WRITE)
							FAIL("a read fault on destination device %u", dv);
						fig.write_events++;
						slot = &j->chunk_write_fault[(uint64_t)i * ((j->count * 512 + S - 1) / S) + chunk];
						if (*slot)
							FAIL("two write faults in chunk %" PRIu64 " of dest %u of job %u",
							     chunk, i, k);
						*slot = x->start + 1;
						de->nevents++;
						if (!de->err || x->start < de->err_start) {
							de->err = x->error;
							de->err_start = x->start;
						}
					}
				}
			}
			if (!found)
				FAIL("fault event %s [%" PRIu64 ", %" PRIu64 ") error %d on %s%u is in "
				     "no range of any job of the wave", x->op == KC_FAULT_READ ? "read" : "write",
				     x->start, x->end, x->error, dv == NDEV ? "src" : "d",
				     dv == NDEV ? 0 : dv);
		}
	}
}

static void check_result(const struct job *j)
{
	const struct kcopyd_result *r = &j->res;
	unsigned int want_bits = 0;

	if (r->read_err != j->read_err)
		FAIL("read_err %d, but the fault log has %d (%u read faults)", r->read_err,
		     j->read_err, j->read_events);
	if (j->read_err && r->read_err_sector != j->read_start / 512)
		FAIL("read_err_sector %" PRIu64 ", but the first read fault is at byte %" PRIu64
		     " (sector %" PRIu64 ")", (uint64_t)r->read_err_sector, j->read_start,
		     j->read_start / 512);
	for (unsigned int i = 0; i < j->ndests; i++) {
		const struct dest_exp *de = &j->d[i];

		if (de->nevents)
			want_bits |= 1u << i;
		if (r->dest_errno[i] != de->err)
			FAIL("dest_errno[%u] %d, but the fault log has %d (%u write faults)", i,
			     r->dest_errno[i], de->err, de->nevents);
		if (de->err && r->dest_err_sector[i] > de->err_start / 512)
			FAIL("dest_err_sector[%u] %" PRIu64 ", above its first write fault at "
			     "byte %" PRIu64, i, (uint64_t)r->dest_err_sector[i], de->err_start);
		/* check_data checks it against the bytes. */
	}
	if (r->write_err != want_bits)
		FAIL("write_err %#x, but the fault log says %#x", r->write_err, want_bits);
	for (unsigned int i = j->ndests; i < KCOPYD_MAX_REGIONS; i++)
		if (r->dest_errno[i])
			FAIL("dest_errno[%u] is %d for a job of %u destinations", i,
			     r->dest_errno[i], j->ndests);
}

enum { ALL_SRC, ALL_PAT, MIXED };

/* Classify got against src and pat; any other byte is garbage. */
static int classify(const uint8_t *got, const uint8_t *src, const uint8_t *pat, size_t len,
		    uint64_t where, unsigned int dest)
{
	size_t nsrc = 0;

	if (memcmp(got, src, len) == 0)
		return ALL_SRC;
	if (memcmp(got, pat, len) == 0)
		return ALL_PAT;
	for (size_t b = 0; b < len; b++) {
		if (got[b] == src[b])
			nsrc++;
		else if (got[b] != pat[b])
			FAIL("dest %u byte %" PRIu64 " of the job is %#x: neither the source's %#x "
			     "nor the old contents %#x", dest, where + b, got[b], src[b], pat[b]);
	}
	return MIXED;
}

static const char *cls_str(int c)
{
	return c == ALL_SRC ? "all source" : c == ALL_PAT ? "all old contents" : "torn";
}

static void check_data(struct job *j, uint64_t S)
{
	const uint64_t total = j->count * 512, nchunks = (total + S - 1) / S;
	/* WRITE_SEQ clears IGNORE_ERROR, as in the kernel. */
	const bool seq = j->flags & KCOPYD_WRITE_SEQ, ignore = (j->flags & KCOPYD_IGNORE_ERROR) && !seq;
	bool any_fault = j->read_events != 0;
	uint64_t first_fault_chunk = nchunks;     /* lowest chunk with any fault */
	uint8_t *got = ru_malloc(total);
	int *cls = ru_malloc(nchunks * sizeof(int));

	for (uint64_t c = 0; c < nchunks; c++) {
		bool f = j->chunk_read_fault[c];

		for (unsigned int i = 0; i < j->ndests; i++)
			f = f || j->chunk_write_fault[i * nchunks + c];
		if (f && c < first_fault_chunk)
			first_fault_chunk = c;
	}
	for (unsigned int i = 0; i < j->ndests; i++)
		any_fault = any_fault || j->d[i].nevents;

	for (unsigned int i = 0; i < j->ndests; i++) {
		const uint8_t *src = src_data + j->src * 512;
		uint8_t *pat = shadow[j->dev[i]] + j->sector[i] * 512;
		const bool failed = j->d[i].nevents != 0;
		const uint64_t fail_chunk = failed ? (j->d[i].err_start - j->sector[i] * 512) / S : 0;
		uint64_t first_not_src = nchunks;

		ru_pread(dst_path[j->dev[i]], got, total, j->sector[i] * 512);
		fig.bytes_checked += total;
		{
			/* The pattern never equals a source byte: the first
			 * byte that differs is the first one not written. */
			long diff = ru_diff(got, src, total);
			sector_t want = j->sector[i] + (diff < 0 ? j->count : (sector_t)diff / 512);

			if (j->res.dest_err_sector[i] != want)
				FAIL("dest %u (%s): dest_err_sector %" PRIu64 ", but it holds the source "
				     "up to byte %" PRIu64 " of the job, so its first missing sector is %"
				     PRIu64, i, failed ? "failed" : "healthy",
				     (uint64_t)j->res.dest_err_sector[i],
				     (uint64_t)(diff < 0 ? (long)total : diff), (uint64_t)want);
		}
		if (seq && j->d[i].nevents > 1)
			FAIL("WRITE_SEQ: %u write faults on dest %u: writes went on after the first failed",
			     j->d[i].nevents, i);
		for (uint64_t c = 0; c < nchunks; c++) {
			const uint64_t lo = c * S, len = (lo + S < total ? S : total - lo);
			const uint64_t wf = j->chunk_write_fault[i * nchunks + c];

			cls[c] = classify(got + lo, src + lo, pat + lo, len, lo, i);
			if (cls[c] != ALL_SRC && first_not_src == nchunks)
				first_not_src = c;
			if (j->chunk_read_fault[c]) {
				if (cls[c] != ALL_PAT)
					FAIL("chunk %" PRIu64 " (bytes %" PRIu64 "+%" PRIu64 ") failed to read "
					     "but dest %u holds %s there", c, lo, len, i, cls_str(cls[c]));
				if (wf)
					FAIL("chunk %" PRIu64 " failed to read but was written to dest %u", c, i);
				fig.chunks_exact++;
				fig.chunks_pattern_checked++;
				continue;
			}
			if (wf) {
				/* Source up to the failed request, old contents from it on. */
				if (seq && !ignore && c > first_fault_chunk)
					FAIL("WRITE_SEQ: dest %u chunk %" PRIu64 " was written (and failed) "
					     "after a fault in chunk %" PRIu64 " had stopped the job", i, c,
					     first_fault_chunk);
				uint64_t cut = wf - 1 - j->sector[i] * 512;

				if (cut < lo || cut >= lo + len)
					FAIL("internal: write fault outside its chunk");
				if (ru_diff(got + lo, src + lo, cut - lo) >= 0 ||
				    ru_diff(got + cut, pat + cut, lo + len - cut) >= 0)
					FAIL("dest %u chunk %" PRIu64 " (bytes %" PRIu64 "+%" PRIu64 "): a "
					     "write failed at byte %" PRIu64 ", expected the source before it "
					     "and the old contents from it on, got %s", i, c, lo, len, cut,
					     cls_str(cls[c]));
				fig.chunks_exact++;
				continue;
			}
			if (cls[c] == MIXED)
				FAIL("dest %u chunk %" PRIu64 " (bytes %" PRIu64 "+%" PRIu64 ") is torn: part "
				     "source, part old contents, without a write fault there", i, c, lo, len);
			{
				int want = -1;       /* -1: either */

				if (!any_fault || (ignore && !failed))
					want = ALL_SRC;
				if (seq && failed && c > fail_chunk)
					want = ALL_PAT;
				/* Not WRITE_SEQ: the chunks below the first fault
				 * were handed out before it, so they finish and
				 * are written everywhere, and a failed destination
				 * still gets the chunks below its own first
				 * failure. */
				if (!seq && (c < first_fault_chunk || (failed && c < fail_chunk)))
					want = ALL_SRC;
				if (seq && !ignore && c > first_fault_chunk)
					want = ALL_PAT;
				if (want >= 0 && cls[c] != want)
					FAIL("dest %u (%s) chunk %" PRIu64 " (bytes %" PRIu64 "+%" PRIu64 ") "
					     "holds %s, expected %s (first fault in chunk %" PRIu64 ")",
					     i, failed ? "failed" : "healthy", c, lo, len, cls_str(cls[c]),
					     cls_str(want), first_fault_chunk);
				if (want >= 0)
					fig.chunks_exact++;
				else
					fig.chunks_either++;
				if (cls[c] == ALL_PAT)
					fig.chunks_pattern_checked++;
			}
		}
		/* WRITE_SEQ without IGNORE_ERROR: what was written is a prefix. */
		if (seq && !ignore)
			for (uint64_t c = first_not_src + 1; c < nchunks; c++)
				if (cls[c] != ALL_PAT)
					FAIL("WRITE_SEQ: dest %u chunk %" PRIu64 " holds %s although chunk %"
					     PRIu64 " before it was not written", i, c, cls_str(cls[c]),
					     first_not_src);
		memcpy(pat, got, total);          /* the shadow follows the file */
	}
	free(cls);
	free(got);
}

static void run_wave(struct kcopyd_client *kc, uint64_t *rng, uint64_t epoch, uint64_t wave,
		     unsigned int want, uint64_t S, unsigned int *done_jobs)
{
	struct job jobs[MAX_WAVE];
	unsigned int n = make_wave(rng, jobs, want, S);
	double t0 = ru_now(), t1, t2;

	fill_patterns(rng, jobs, n);
	t1 = ru_now();
	ru_counter_reset(&wave_calls);
	for (unsigned int k = 0; k < n; k++) {
		struct job *j = &jobs[k];
		struct io_region from = { devs[NDEV].bd, j->src, j->count }, to[MAX_DESTS];
		uint64_t nchunks = (j->count * 512 + S - 1) / S;
		int r;

		j->chunk_read_fault = calloc(nchunks ? nchunks : 1, 1);
		j->chunk_write_fault = calloc(nchunks ? nchunks * j->ndests : 1, sizeof(uint64_t));
		if (!j->chunk_read_fault || !j->chunk_write_fault)
			FAIL("out of memory");
		for (unsigned int i = 0; i < j->ndests; i++)
			to[i] = (struct io_region){ devs[j->dev[i]].bd, j->sector[i], j->count };
		set_job_context(epoch, wave, k, j);
		r = kcopyd_copy_ex(kc, &from, j->ndests, to, j->flags, job_cb, j);
		if (r)
			FAIL("kcopyd_copy_ex of a valid job returned %d (%s)", r, strerror(-r));
	}
	ru_set_context("seed %#" PRIx64 " epoch %" PRIu64 " wave %" PRIu64 " (%u jobs)",
		       seed, epoch, wave, n);
	ru_counter_wait(&wave_calls, (int)n, 60, "wave");
	CHECK_OK(kcopyd_client_wait(kc));
	t2 = ru_now();
	attribute(jobs, n, S);
	for (unsigned int k = 0; k < n; k++) {
		struct job *j = &jobs[k];

		set_job_context(epoch, wave, k, j);
		if (__atomic_load_n(&j->calls, __ATOMIC_ACQUIRE) != 1)
			FAIL("callback ran %d times", j->calls);
		check_result(j);
		check_data(j, S);
		fig.jobs++;
		fig.dests += j->ndests;
		fig.by_flags[j->flags & 3]++;
		if (!j->count)
			fig.jobs_zero++;
		if (j->res.read_err)
			fig.jobs_read_err++;
		if (j->res.write_err)
			fig.jobs_write_err++;
		if (!j->res.read_err && !j->res.write_err)
			fig.jobs_clean++;
		free(j->chunk_read_fault);
		free(j->chunk_write_fault);
	}
	*done_jobs += n;
	fig.t_fill += t1 - t0;
	fig.t_io += t2 - t1;
	fig.t_check += ru_now() - t2;
}

static void run_epoch(uint64_t epoch, unsigned int njobs)
{
	static const unsigned int pages[] = { 1, 2, 3, 6, 16, 64, 128, 256 };
	static const unsigned int sizes[] = { 4096, 16384, 65536, 131072, 524288 };
	static const unsigned int depths[] = { 1, 4, 16, 64, 64 };
	uint64_t rng = seed ^ (0x9E3779B97F4A7C15ull * (epoch + 1)), wave = 0;
	unsigned int num_pages, sub, depth, done = 0;
	uint64_t S, reads = 0, writes = 0, shorts = 0;
	struct kcopyd_client *kc;
	struct kcopyd_stats st;
	char desc[2048];
	double t0 = ru_now();

	ru_rand(&rng);
	num_pages = pages[ru_below(&rng, sizeof(pages) / sizeof(pages[0]))];
	sub = sizes[ru_below(&rng, sizeof(sizes) / sizeof(sizes[0]))];
	depth = depths[ru_below(&rng, sizeof(depths) / sizeof(depths[0]))];
	S = chunk_size(sub, num_pages);
	open_devs(&rng);
	describe_devs(desc, sizeof(desc));
	ru_set_context("seed %#" PRIx64 " epoch %" PRIu64 ": creating the client", seed, epoch);
	CHECK_OK(kcopyd_client_create(num_pages, &kc));
	CHECK_OK(kcopyd_client_set_sub_job_size(kc, sub));
	CHECK_OK(kcopyd_client_set_queue_depth(kc, depth));
	if (epoch == 0)
		ru_log("engine %s", kcopyd_client_engine(kc));
	ru_log("epoch %" PRIu64 ": pages %u sub-job %u (chunks of %" PRIu64 ") depth %u;%s",
	       epoch, num_pages, sub, S, depth, desc);

	while (done < njobs) {
		unsigned int want = 1 + (unsigned int)ru_below(&rng, MAX_WAVE);

		if (want > njobs - done)
			want = njobs - done;
		run_wave(kc, &rng, epoch, wave++, want, S, &done);
		fig.waves++;
	}

	ru_set_context("seed %#" PRIx64 " epoch %" PRIu64 ": end of epoch", seed, epoch);
	CHECK_OK(kcopyd_client_stats(kc, &st, sizeof(st)));
	for (unsigned int i = 0; i <= NDEV; i++) {
		if (!devs[i].fault)
			continue;
		for (size_t e = 0; e < devs[i].seen; e++) {
			if (devs[i].ev[e].op == KC_FAULT_READ)
				reads++;
			else
				writes++;
		}
		shorts += kc_fault_shorts(devs[i].bd);
	}
	CHECK_EQ(st.jobs_submitted, done);
	CHECK_EQ(st.jobs_completed, done);
	if (st.read_errors != reads || st.write_errors != writes)
		FAIL("stats: read_errors %" PRIu64 " write_errors %" PRIu64 ", but %" PRIu64
		     " read and %" PRIu64 " write faults were injected", st.read_errors,
		     st.write_errors, reads, writes);
	if (st.retries < shorts)
		FAIL("stats: retries %" PRIu64 " < %" PRIu64 " short transfers injected",
		     st.retries, shorts);
	fig.shorts += shorts;
	fig.sub_jobs += st.sub_jobs;
	fig.retries += st.retries;
	kcopyd_client_destroy(kc);
	for (unsigned int i = 0; i <= NDEV; i++) {
		kcopyd_bdev_close(devs[i].bd);
		devs[i].bd = NULL;
	}

	/* Nothing outside the jobs' ranges changed, nor the source. */
	{
		uint8_t *buf = ru_malloc(SRC_SECTORS * 512);
		long at;

		for (unsigned int i = 0; i < NDEV; i++) {
			ru_pread(dst_path[i], buf, DST_BYTES, 0);
			at = ru_diff(buf, shadow[i], DST_BYTES);
			if (at >= 0)
				FAIL("destination file %u differs at byte %ld (%#x, expected %#x): "
				     "written outside the ranges of its jobs", i, at, buf[at], shadow[i][at]);
		}
		ru_pread(src_path, buf, SRC_BYTES, 0);
		if (ru_diff(buf, src_data, SRC_BYTES) >= 0)
			FAIL("the source file changed");
		free(buf);
	}
	fig.epochs++;
	ru_log("epoch %" PRIu64 " done in %.2f s, %" PRIu64 " sub-jobs", epoch, ru_now() - t0,
	       st.sub_jobs);
}

int main(void)
{
	unsigned int total;
	uint64_t rng;

	ru_init("test-fault-random", 150);
	seed = ru_seed(DEFAULT_SEED);
	total = (unsigned int)(10000 * ru_scale());
	if (total < 100)
		total = 100;
	ru_log("seed %#" PRIx64 " (KCOPYD_TEST_SEED=%#" PRIx64 " to repeat), %u jobs", seed, seed,
	       total);

	rng = seed;
	snprintf(src_path, sizeof(src_path), "%s", ru_path("src"));
	src_data = calloc(SRC_SECTORS, 512);
	if (!src_data)
		FAIL("out of memory");
	for (size_t b = 0; b < SRC_BYTES; b += 8) {
		uint64_t v = ru_rand(&rng) & 0x7f7f7f7f7f7f7f7full;   /* never a pattern byte */

		memcpy(src_data + b, &v, b + 8 <= SRC_BYTES ? 8 : SRC_BYTES - b);
	}
	ru_write_file(src_path, src_data, SRC_BYTES);
	for (unsigned int i = 0; i < NDEV; i++) {
		char name[16];

		snprintf(name, sizeof(name), "dst%u", i);
		snprintf(dst_path[i], sizeof(dst_path[i]), "%s", ru_path(name));
		shadow[i] = ru_malloc(DST_BYTES);
		for (size_t b = 0; b < DST_BYTES; b += 8) {
			uint64_t v = ru_rand(&rng) | 0x8080808080808080ull;

			memcpy(shadow[i] + b, &v, 8);
		}
		ru_write_file(dst_path[i], shadow[i], DST_BYTES);
	}

	for (uint64_t epoch = 0, done = 0; done < total; epoch++) {
		unsigned int n = total - done < JOBS_PER_EPOCH ? (unsigned int)(total - done) : JOBS_PER_EPOCH;

		run_epoch(epoch, n);
		done += n;
	}

	ru_set_context("%s", "");
	ru_log("%" PRIu64 " jobs in %" PRIu64 " waves over %" PRIu64 " epochs, %" PRIu64
	       " destinations: %" PRIu64 " clean, %" PRIu64 " with read_err, %" PRIu64
	       " with write_err, %" PRIu64 " of 0 sectors",
	       fig.jobs, fig.waves, fig.epochs, fig.dests, fig.jobs_clean, fig.jobs_read_err,
	       fig.jobs_write_err, fig.jobs_zero);
	ru_log("flags: none %" PRIu64 ", IGNORE_ERROR %" PRIu64 ", WRITE_SEQ %" PRIu64
	       ", both %" PRIu64, fig.by_flags[0], fig.by_flags[1], fig.by_flags[2], fig.by_flags[3]);
	ru_log("faults injected and verified: %" PRIu64 " read, %" PRIu64 " write; %" PRIu64
	       " short transfers injected (%" PRIu64 " retries counted)",
	       fig.read_events, fig.write_events, fig.shorts, fig.retries);
	ru_log("%" PRIu64 " sub-jobs", fig.sub_jobs);
	ru_log("chunks checked: %" PRIu64 " with an exact expectation, %" PRIu64
	       " written-or-not (%" PRIu64 " found holding the old contents); %.1f MiB compared",
	       fig.chunks_exact, fig.chunks_either, fig.chunks_pattern_checked,
	       (double)fig.bytes_checked / RU_MIB);
	ru_log("time: %.1f s filling patterns, %.1f s copying, %.1f s checking",
	       fig.t_fill, fig.t_io, fig.t_check);
	for (unsigned int i = 0; i < NDEV; i++)
		free(shadow[i]);
	for (unsigned int i = 0; i <= NDEV; i++)
		free(devs[i].ev);
	free(src_data);
	ru_pass();
}
