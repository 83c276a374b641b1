/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd zero DEST...: write zeros over whole devices or a range of them,
 * through the library's fast paths (fallocate, BLKZEROOUT).
 *
 * Without --length each destination is zeroed to its own end, so lengths
 * differ: every job has one destination, and the jobs of all destinations
 * are interleaved so they progress together.  A file extended to hold the
 * range reads as zero past its old end already; only the part below is
 * zeroed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

#define JOB_MAX (64u << 20)

struct zero {
	struct options *o;
	struct device dests[MAX_DESTS];
	unsigned int n;
	uint64_t off;
	uint64_t zlen[MAX_DESTS];    /* bytes to zero on each (below an old end) */
	struct kcopyd_client *kc;
};

/* In zero --offset and --dest-offset both name the start in the destinations. */
static int zero_offset(struct zero *z)
{
	const struct options *o = z->o;

	if (o->offset != NOT_SET && o->dest_offset != NOT_SET && o->offset != o->dest_offset) {
		errmsg("zero: --offset and --dest-offset both give the start in the destinations; "
		       "give one");
		return -1;
	}
	z->off = o->offset != NOT_SET ? o->offset : o->dest_offset != NOT_SET ? o->dest_offset : 0;
	return 0;
}

static int check_dest(struct zero *z, struct device *d)
{
	uint64_t len = z->o->length;

	if (device_open_write(d, z->o) || device_check_align(d, "--offset", z->off))
		return -1;
	if (len == NOT_SET) {
		if (z->off > d->size) {
			errmsg("%s: --offset %llu is past its end (%llu bytes)", d->path,
			       (unsigned long long)z->off, (unsigned long long)d->size);
			return -1;
		}
		len = d->size - z->off;
	}
	if (device_check_range(d, "--offset/--length", z->off, len, true))
		return -1;
	d->len = len;
	/* An empty range writes nothing: the file does not grow to its start. */
	d->need = len ? z->off + len : 0;
	if (device_lock(d, true) || device_check_limits(d) ||
	    device_check_users(d, z->off, len, z->o))
		return -1;
	return 0;
}

static bool any_userfs(const struct zero *z)
{
	for (unsigned int i = 0; i < z->n; i++)
		if (z->dests[i].loop_userfs)
			return true;
	return false;
}

static int setup(struct zero *z)
{
	uint64_t span = z->o->length != NOT_SET ? z->o->length : (uint64_t)INT64_MAX;

	if (zero_offset(z))
		return -1;
	for (unsigned int i = 0; i < z->n; i++)
		if (device_stat(&z->dests[i], false))
			return -1;
	if (device_check_distinct(NULL, 0, z->dests, z->n, z->off, span))
		return -1;
	for (unsigned int i = 0; i < z->n; i++)
		if (check_dest(z, &z->dests[i]))
			return -1;
	/* Again with what was opened, in case a path changed in between. */
	if (device_check_distinct(NULL, 0, z->dests, z->n, z->off, span) ||
	    device_check_output(NULL, 0, z->dests, z->n, z->off, span))
		return -1;
	for (unsigned int i = 0; i < z->n; i++)
		device_warn_userfs(&z->dests[i], true, "it is read back and compared with zeros");
	/* The read-back's buffers count, and are taken now, as copy's. */
	if (any_userfs(z) && (memory_check(z->o, true, true) || compare_reserve()))
		return -1;
	if (client_setup(z->o, &z->kc))
		return -1;
	signals_setup_done();   /* from here on destinations change */
	if (device_prepare(z->dests, z->n))
		return -1;
	bool failed = false;

	for (unsigned int i = 0; i < z->n && !failed; i++)
		failed = signal_caught() || device_open_lib(&z->dests[i], O_RDWR, z->o);
	if (failed)
		device_undo(z->dests, z->n);
	/* A stop signal meanwhile: undone, nothing written. */
	return device_prepared(z->dests, z->n) || failed ? -1 : 0;
}

static unsigned int block_of(const struct device *d)
{
	return d->kind == DEV_BLOCK && d->lbs > KCOPYD_SECTOR_SIZE ? d->lbs : KCOPYD_SECTOR_SIZE;
}

static uint64_t bulk_of(const struct zero *z, unsigned int i)
{
	return z->zlen[i] - z->zlen[i] % block_of(&z->dests[i]);
}

/* Round robin over the destinations, one job each per turn. */
static bool submit_all(struct zero *z, struct runner *r)
{
	for (uint64_t p = 0;; p += JOB_MAX) {
		bool any = false;

		for (unsigned int i = 0; i < z->n; i++) {
			uint64_t bulk = bulk_of(z, i);
			struct span sp = { .zero = true, .dst_off = z->off + p, .mask = 1u << i };

			if (p >= bulk)
				continue;
			sp.len = bulk - p < JOB_MAX ? bulk - p : JOB_MAX;
			if (runner_submit(r, &sp))
				return false;
			any = true;
		}
		if (!any)
			return true;
	}
}

static uint64_t plan(struct zero *z, uint64_t *bytes)
{
	uint64_t total = 0;

	*bytes = 0;
	for (unsigned int i = 0; i < z->n; i++) {
		const struct device *d = &z->dests[i];
		uint64_t below = d->kind == DEV_BLOCK || d->size >= d->need ? d->len
			: d->size > z->off ? d->size - z->off : 0;

		z->zlen[i] = below;
		total += below;
		*bytes += d->len;
	}
	return total;
}

/* A loop device over a file on FUSE or 9p may have lost what it was told
 * to write without an error (device_warn_userfs): such a destination is
 * read back and compared with zeros, as copy compares its destinations
 * with the source.  What reads back otherwise is said, and fails it. */
static void read_back(struct zero *z)
{
	struct device zeros;

	device_init(&zeros, "/dev/zero");
	zeros.fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	for (unsigned int i = 0; i < z->n; i++) {
		struct device *d = &z->dests[i];
		struct progress p;

		if (!d->loop_userfs || d->failed || d->note || !z->zlen[i])
			continue;
		if (zeros.fd < 0) {
			d->note = "not verified: /dev/zero cannot be opened";
			continue;
		}
		progress_init(&p, progress_wanted(z->o), z->zlen[i]);
		compare_ranges(&zeros, 0, d, 1, z->off, z->zlen[i], &p);
		if (d->differs) {
			snprintf(d->note_buf, sizeof(d->note_buf),
				 "read back, it is not all zeros");
			d->note = d->note_buf;
			d->err_off = d->diff_off;
			d->differs = false;
		}
	}
	if (zeros.fd >= 0)
		close(zeros.fd);
}

static int run(struct zero *z)
{
	struct runner r;
	struct report rep = { .o = z->o, .r = &r, .dst_off = z->off };
	const char *engine;
	int code;

	runner_init(&r, z->kc, NULL, z->dests, z->n, z->o, plan(z, &rep.bytes));
	r.submitted_all = submit_all(z, &r);
	runner_drain(&r);
	for (unsigned int i = 0; i < z->n; i++)
		runner_tail(&r, 1u << i, 0, z->off + bulk_of(z, i), z->zlen[i] - bulk_of(z, i));
	if (z->o->flush || any_userfs(z))
		runner_flush(&r);
	progress_end(&r.prog, runner_progress(&r));
	rep.seconds = now_seconds() - r.started;
	if (!r.stop && !r.internal_error)
		read_back(z);
	kcopyd_client_stats(z->kc, &rep.stats, sizeof(rep.stats));
	engine = kcopyd_client_engine(z->kc);
	snprintf(rep.engine, sizeof(rep.engine), "%s", engine ? engine : "?");
	code = report_finish(&rep);
	runner_fini(&r);
	return code;
}

int cmd_zero(struct options *o)
{
	struct zero *z = calloc(1, sizeof(*z));
	int code;

	if (!z) {
		errmsg("out of memory");
		return EXIT_SETUP;
	}
	z->o = o;
	z->n = (unsigned int)o->npaths;
	if (z->n > MAX_DESTS) {
		errmsg("zero: at most %u destinations", MAX_DESTS);
		free(z);
		return setup_failed(o);
	}
	for (unsigned int i = 0; i < z->n; i++)
		device_init(&z->dests[i], o->paths[i]);
	if (setup(z)) {
		code = setup_failed(o);
	} else {
		bool any = false;

		for (unsigned int i = 0; i < z->n; i++)
			any |= z->dests[i].len != 0;
		/* An empty range: nothing is written, no file grows to --offset. */
		if (!any && !o->quiet)
			fprintf(stderr, "kcopyd: the range is empty: nothing to zero\n");
		code = run(z);
	}
	kcopyd_client_destroy(z->kc);
	for (unsigned int i = 0; i < z->n; i++)
		device_close(&z->dests[i]);
	free(z);
	return code;
}
