/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib-copy: copy a file to N destination files with libkcopyd directly (one
 * kcopyd_copy() of the whole source), and report what it cost:
 *
 *     lib-copy [OPTIONS] SOURCE DEST [DEST...]
 *
 * Destinations are created, truncated to zero and sized to the source first
 * (so they start as holes), written, flushed (unless --no-flush) and cut to
 * the source's exact size.  One result line follows: key=value pairs, or a
 * JSON object with --json.  Wall time covers everything from opening the
 * source to the last flush; CPU time and peak RSS are the whole process's.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kcopyd.h>

#include "benchutil.h"

struct opts {
	unsigned int pages;
	unsigned int sub_job_size;    /* 0: the library's default */
	unsigned int depth;           /* 0: the library's default */
	unsigned int bdev_flags;
	unsigned int copy_flags;
	bool flush;
	bool json;
};

struct result {
	int read_err;
	unsigned int write_err;
};

static void usage(FILE *f)
{
	fputs("usage: lib-copy [OPTIONS] SOURCE DEST [DEST...]\n"
	      "  --pages N            page pool size in 4 KiB pages (default 1024)\n"
	      "  --sub-job-size SIZE  sub-job size (K, M suffixes; default: the library's)\n"
	      "  --depth N            sub-jobs in flight (default: the library's)\n"
	      "  --direct | --buffered  force or forbid O_DIRECT (default: automatic)\n"
	      "  --sparse             KCOPYD_SKIP_ZEROES: do not write all-zero blocks\n"
	      "  --no-flush           do not fsync the destinations\n"
	      "  --json               print the result as JSON\n", f);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "pages", required_argument, NULL, 'p' },
		{ "sub-job-size", required_argument, NULL, 's' },
		{ "depth", required_argument, NULL, 'd' },
		{ "direct", no_argument, NULL, 'D' },
		{ "buffered", no_argument, NULL, 'B' },
		{ "sparse", no_argument, NULL, 'S' },
		{ "no-flush", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	*o = (struct opts){ .pages = 1024, .flush = true };
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		int64_t v;

		switch (c) {
		case 'p': o->pages = (unsigned int)bu_parse_num("--pages", optarg, 1, 1u << 24); break;
		case 's':
			v = bu_parse_size(optarg);
			if (v < 4096 || v > (1 << 30) || v % 4096) {
				fprintf(stderr, "--sub-job-size: a multiple of 4K up to 1G\n");
				exit(2);
			}
			o->sub_job_size = (unsigned int)v;
			break;
		case 'd': o->depth = (unsigned int)bu_parse_num("--depth", optarg, 1, 4096); break;
		case 'D': o->bdev_flags = KCOPYD_BDEV_DIRECT; break;
		case 'B': o->bdev_flags = KCOPYD_BDEV_BUFFERED; break;
		case 'S': o->copy_flags |= KCOPYD_SKIP_ZEROES; break;
		case 'n': o->flush = false; break;
		case 'j': o->json = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (argc - optind < 2 || argc - optind - 1 > KCOPYD_MAX_REGIONS) {
		usage(stderr);
		exit(2);
	}
}

static void copy_done(int read_err, unsigned int write_err, void *context)
{
	struct result *r = context;

	r->read_err = read_err;
	r->write_err = write_err;
}

static int die(const char *what, const char *path, int err)
{
	fprintf(stderr, "lib-copy: %s %s: %s\n", what, path, strerror(-err));
	return 2;
}

static int tune(struct kcopyd_client *kc, const struct opts *o)
{
	int ret = 0;

	if (o->sub_job_size)
		ret = kcopyd_client_set_sub_job_size(kc, o->sub_job_size);
	if (!ret && o->depth)
		ret = kcopyd_client_set_queue_depth(kc, o->depth);
	return ret;
}

/* Cut each destination to the source's exact size (a tail that is not a
 * whole sector was written as a full one). */
static int trim(char **paths, unsigned int n, uint64_t size)
{
	for (unsigned int i = 0; i < n; i++)
		if (truncate(paths[i], (off_t)size) < 0)
			return die("truncate", paths[i], -errno);
	return 0;
}

int main(int argc, char **argv)
{
	struct block_device *src, *dst[KCOPYD_MAX_REGIONS] = { 0 };
	struct io_region from, to[KCOPYD_MAX_REGIONS];
	struct kcopyd_client *kc;
	struct kcopyd_stats st;
	struct result res = { 0 };
	struct opts o;
	struct bu_out out;
	unsigned int n;
	uint64_t t0, t1, size;
	double user, sys;
	const char *engine;
	int ret, status = 0;

	parse(argc, argv, &o);
	n = (unsigned int)(argc - optind - 1);
	char **dpaths = &argv[optind + 1];

	t0 = bu_now_ns();
	ret = kcopyd_bdev_open_ex(argv[optind], O_RDONLY, o.bdev_flags, &src);
	if (ret)
		return die("open", argv[optind], ret);
	size = kcopyd_bdev_size(src);
	from = (struct io_region){ src, 0, kcopyd_bdev_sectors(src) };
	for (unsigned int i = 0; i < n; i++) {
		ret = bu_prepare_dest(dpaths[i], from.count << KCOPYD_SECTOR_SHIFT, true);
		if (!ret)
			ret = kcopyd_bdev_open_ex(dpaths[i], O_RDWR, o.bdev_flags, &dst[i]);
		if (ret)
			return die("open", dpaths[i], ret);
		to[i] = (struct io_region){ dst[i], 0, from.count };
	}
	ret = kcopyd_client_create(o.pages, &kc);
	if (ret)
		return die("kcopyd_client_create", "", ret);
	ret = tune(kc, &o);
	if (ret)
		return die("tuning", "the client", ret);
	engine = kcopyd_client_engine(kc);

	ret = kcopyd_copy(kc, &from, n, to, o.copy_flags, copy_done, &res);
	if (ret)
		return die("kcopyd_copy", argv[optind], ret);
	kcopyd_client_wait(kc);
	kcopyd_client_stats(kc, &st, sizeof(st));
	kcopyd_client_destroy(kc);
	if (res.read_err || res.write_err) {
		fprintf(stderr, "lib-copy: read_err %d write_err %#x\n", res.read_err, res.write_err);
		status = 1;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (o.flush && (ret = kcopyd_bdev_flush(dst[i])) < 0) {
			fprintf(stderr, "lib-copy: fsync %s: %s\n", dpaths[i], strerror(-ret));
			status = 1;
		}
		kcopyd_bdev_close(dst[i]);
	}
	kcopyd_bdev_close(src);
	if (size % KCOPYD_SECTOR_SIZE && trim(dpaths, n, size))
		status = 2;
	t1 = bu_now_ns();

	bu_cpu_s(&user, &sys);
	double wall = (double)(t1 - t0) / 1e9;
	bu_out_begin(&out, stdout, o.json);
	bu_out_str(&out, "tool", "lib-copy");
	bu_out_str(&out, "engine", engine);
	bu_out_u64(&out, "dests", n);
	bu_out_u64(&out, "bytes", size);
	bu_out_u64(&out, "pages", o.pages);
	bu_out_u64(&out, "sub_jobs", st.sub_jobs);
	bu_out_u64(&out, "retries", st.retries);
	bu_out_dbl(&out, "wall_s", wall);
	bu_out_dbl(&out, "user_s", user);
	bu_out_dbl(&out, "sys_s", sys);
	bu_out_dbl(&out, "cpu_s", user + sys);
	bu_out_u64(&out, "maxrss_kb", (uint64_t)bu_peak_rss_kb());
	bu_out_dbl(&out, "MiB_per_s", wall > 0 ? (double)size / 1048576.0 / wall : 0);
	bu_out_u64(&out, "ok", status == 0);
	bu_out_end(&out);
	return status;
}
