/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd copy SOURCE DEST...: one read of the source, written to every
 * destination.
 *
 * The range is cut in three: the data extents of the source (copy jobs),
 * its holes (nothing for a destination known to read as zero, zero jobs
 * for the others), and a tail shorter than one block, which the library
 * cannot address and which run.c writes itself.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kcopyd-cmd.h"

#define JOB_MAX (64u << 20)      /* bytes per job: progress moves smoothly */

struct copy {
	struct options *o;
	struct device src, dests[MAX_DESTS];
	unsigned int n;
	uint64_t off, len, dst_off, bulk;
	unsigned int align;          /* every block size involved divides it */
	struct kcopyd_client *kc;
};

static int setup_source(struct copy *c)
{
	struct device *s = &c->src;

	if (device_stat(s, false) || device_open_read(s))
		return -1;
	c->off = c->o->offset == NOT_SET ? 0 : c->o->offset;
	if (device_check_align(s, "--offset", c->off))
		return -1;
	if (c->o->length != NOT_SET)
		c->len = c->o->length;
	else
		c->len = c->off <= s->size ? s->size - c->off : 0;
	if (device_check_range(s, "--offset/--length", c->off, c->len, false))
		return -1;
	return device_open_lib(s, O_RDONLY, c->o);
}

static int check_dest(struct copy *c, struct device *d)
{
	if (device_open_write(d, c->o) || device_check_align(d, "--dest-offset", c->dst_off) ||
	    device_check_range(d, "--dest-offset/--length", c->dst_off, c->len, true))
		return -1;
	d->len = c->len;
	d->need = c->dst_off + c->len;
	if (d->kind == DEV_BLOCK && d->lbs > c->align)
		c->align = d->lbs;
	return 0;
}

/* A new file in /dev is almost always a mistyped device name (dd's
 * classic: /dev/sdbb filled with an image, in RAM); it takes --force.
 * File systems mounted below /dev, such as /dev/shm, are fair game. */
static int check_not_in_dev(const struct copy *c, const struct device *d)
{
	struct stat dev, parent;
	char *dir;
	int same;

	if (d->kind != DEV_NEW || c->o->force || strncmp(d->canon, "/dev/", 5) != 0)
		return 0;
	dir = strdup(d->canon);
	if (!dir)
		return 0;
	same = stat("/dev", &dev) == 0 && stat(dirname(dir), &parent) == 0 &&
	       dev.st_dev == parent.st_dev;
	free(dir);
	if (!same)
		return 0;
	errmsg("%s: no such device; refusing to create a regular file in /dev "
	       "(--force to create it anyway)", d->path);
	return -1;
}

/* Every check before any change: exit 2 means nothing was written. */
static int setup_dests(struct copy *c)
{
	c->dst_off = c->o->dest_offset == NOT_SET ? 0 : c->o->dest_offset;
	c->align = c->src.kind == DEV_BLOCK && c->src.lbs > KCOPYD_SECTOR_SIZE ?
		c->src.lbs : KCOPYD_SECTOR_SIZE;
	for (unsigned int i = 0; i < c->n; i++)
		if (device_stat(&c->dests[i], true) || check_not_in_dev(c, &c->dests[i]))
			return -1;
	if (device_check_distinct(&c->src, c->off, c->dests, c->n, c->dst_off, c->len))
		return -1;
	for (unsigned int i = 0; i < c->n; i++)
		if (check_dest(c, &c->dests[i]))
			return -1;
	/* Again with what was opened, in case a path changed in between. */
	if (device_check_distinct(&c->src, c->off, c->dests, c->n, c->dst_off, c->len))
		return -1;
	c->bulk = c->len - c->len % c->align;
	if (client_setup(c->o, &c->kc) || device_prepare(c->dests, c->n))
		return -1;
	for (unsigned int i = 0; i < c->n; i++) {
		if (device_open_lib(&c->dests[i], O_RDWR, c->o)) {
			device_undo(c->dests, c->n);
			return -1;
		}
	}
	return 0;
}

/* Destinations that may hold old data at dst_off (not known to read as zero). */
static uint32_t not_zero_mask(const struct copy *c, uint64_t dst_off)
{
	uint32_t mask = 0;

	for (unsigned int i = 0; i < c->n; i++)
		if (dst_off < c->dests[i].zero_from)
			mask |= 1u << i;
	return mask;
}

static uint32_t all_mask(unsigned int n)
{
	return n >= 32 ? UINT32_MAX : (1u << n) - 1;
}

static int submit_piece(struct copy *c, struct runner *r, uint64_t rel, uint64_t len,
			bool data)
{
	struct span sp = { .zero = !data, .src_off = c->off + rel, .dst_off = c->dst_off + rel,
			   .len = len };
	uint32_t unknown = not_zero_mask(c, sp.dst_off);

	if (data) {
		sp.mask = all_mask(c->n);
		if (c->o->sparse && !unknown)
			sp.flags = KCOPYD_SKIP_ZEROES;
	} else if (!unknown) {
		runner_note_done(r, len);
		return 0;
	} else {
		sp.mask = unknown;
	}
	return runner_submit(r, &sp);
}

static void run_copy(struct copy *c, struct runner *r)
{
	struct extent_iter it;
	uint64_t eoff, elen;
	bool data;

	extent_init(&it, &c->src, c->o->sparse, c->off, c->bulk, c->align);
	while (extent_next(&it, &eoff, &elen, &data)) {
		for (uint64_t p = eoff; p < eoff + elen; p += JOB_MAX) {
			uint64_t n = eoff + elen - p < JOB_MAX ? eoff + elen - p : JOB_MAX;

			if (submit_piece(c, r, p, n, data))
				return;
		}
	}
}

static void finish_engine(struct copy *c, struct report *rep)
{
	const char *engine = kcopyd_client_engine(c->kc);

	kcopyd_client_stats(c->kc, &rep->stats, sizeof(rep->stats));
	snprintf(rep->engine, sizeof(rep->engine), "%s", engine ? engine : "?");
	kcopyd_client_destroy(c->kc);
	c->kc = NULL;
}

static int run(struct copy *c)
{
	struct runner r;
	struct report rep = { .o = c->o, .r = &r, .src = &c->src, .src_off = c->off,
			      .dst_off = c->dst_off, .bytes = c->len };
	int code;

	runner_init(&r, c->kc, &c->src, c->dests, c->n, c->o, c->len);
	run_copy(c, &r);
	runner_drain(&r);
	runner_tail(&r, all_mask(c->n), c->off + c->bulk, c->dst_off + c->bulk,
		    c->len - c->bulk);
	if (c->o->flush)
		runner_flush(&r);
	progress_end(&r.prog, runner_progress(&r));
	rep.seconds = now_seconds() - r.started;
	finish_engine(c, &rep);
	if (c->o->verify && !r.stop && !r.internal_error) {
		struct progress p;

		progress_init(&p, progress_wanted(c->o), c->len);
		compare_ranges(&c->src, c->off, c->dests, c->n, c->dst_off, c->len, &p);
	}
	code = report_finish(&rep);
	runner_fini(&r);
	return code;
}

static void cleanup(struct copy *c)
{
	kcopyd_client_destroy(c->kc);
	device_close(&c->src);
	for (unsigned int i = 0; i < c->n; i++)
		device_close(&c->dests[i]);
}

int cmd_copy(struct options *o)
{
	struct copy *c = calloc(1, sizeof(*c));
	int code;

	if (!c) {
		errmsg("out of memory");
		return EXIT_SETUP;
	}
	c->o = o;
	c->n = (unsigned int)o->npaths - 1;
	if (c->n > MAX_DESTS) {
		errmsg("copy: at most %u destinations", MAX_DESTS);
		free(c);
		return setup_failed(o);
	}
	device_init(&c->src, o->paths[0]);
	for (unsigned int i = 0; i < c->n; i++)
		device_init(&c->dests[i], o->paths[i + 1]);
	if (setup_source(c) || setup_dests(c))
		code = setup_failed(o);
	else
		code = run(c);
	cleanup(c);
	free(c);
	return code;
}
