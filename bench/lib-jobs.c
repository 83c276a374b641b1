/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib-jobs: many small jobs through libkcopyd (benchmark cases 5 and 6).
 *
 *   lib-jobs cow [OPTIONS] SOURCE DEST
 *     --jobs N (default 100000) copies of one block (--block, default 4K)
 *     from a random block-aligned offset of SOURCE to the same offset of
 *     DEST, each with its own callback: the copy-on-write pattern of
 *     dm-snapshot.  With --window W (default 32) the main thread keeps at
 *     most W jobs outstanding; with --all it submits every job at once.
 *     Reports jobs per second and the submit-to-callback latency
 *     percentiles.  Before the run the verified blocks of DEST are
 *     overwritten with a pattern, so a copy that did nothing cannot pass.
 *
 *   lib-jobs queue [OPTIONS] SOURCE DEST
 *     --jobs N (default 1000000) jobs of --job-sectors (default 1) sectors
 *     queued at once on a client with a --pages (default 1024) page pool.
 *     A prepared callback holds the client's thread while they are
 *     submitted, so all of them really are queued when the resident set is
 *     sampled; then they run.  Reports the memory per queued job.
 *
 * One result line: key=value pairs, or a JSON object with --json.  The exit
 * status is 0 only if every job succeeded and the destination verified.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kcopyd.h>

#include "benchutil.h"

struct opts {
	bool queue_mode;
	unsigned long jobs;
	unsigned int block;           /* cow: bytes per job */
	unsigned int job_sectors;     /* queue: sectors per job */
	unsigned int window;          /* cow: 0 = submit all at once */
	unsigned int pages;
	unsigned int bdev_flags;
	unsigned long verify;         /* cow: jobs to verify; ULONG_MAX = all */
	uint64_t seed;
	bool gate;
	bool json;
	const char *src, *dst;
};

/* Shared with the callbacks, which run on the client's thread. */
struct run {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int inflight;
	bool waiting;                 /* the main thread sleeps on cond */
	bool locked;                  /* window mode: callbacks take the lock */
	uint64_t *t_submit, *t_done;  /* per job, ns */
	unsigned long errors;
};

static struct run run = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static void usage(FILE *f)
{
	fputs("usage: lib-jobs cow   [--jobs N] [--block SIZE] [--window W | --all] [--pages N]\n"
	      "                      [--seed S] [--verify N|all] [--direct|--buffered] [--json] SRC DST\n"
	      "       lib-jobs queue [--jobs N] [--job-sectors N] [--pages N] [--no-gate]\n"
	      "                      [--json] SRC DST\n", f);
}

static unsigned long parse_verify(const char *s)
{
	return strcmp(s, "all") == 0 ? (unsigned long)-1 : bu_parse_num("--verify", s, 0, 1ul << 40);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "jobs", required_argument, NULL, 'n' },
		{ "block", required_argument, NULL, 'b' },
		{ "job-sectors", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "all", no_argument, NULL, 'a' },
		{ "pages", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "verify", required_argument, NULL, 'v' },
		{ "direct", no_argument, NULL, 'D' },
		{ "buffered", no_argument, NULL, 'B' },
		{ "no-gate", no_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;
	int64_t v;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		exit(0);
	}
	if (argc < 2 || (strcmp(argv[1], "cow") && strcmp(argv[1], "queue"))) {
		usage(stderr);
		exit(2);
	}
	o->queue_mode = strcmp(argv[1], "queue") == 0;
	o->jobs = o->queue_mode ? 1000000 : 100000;
	o->block = 4096;
	o->job_sectors = 1;
	o->window = 32;
	o->pages = 1024;
	o->verify = 4096;
	o->seed = 1;
	o->gate = true;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->jobs = bu_parse_num("--jobs", optarg, 1, 1ul << 32); break;
		case 'b':
			v = bu_parse_size(optarg);
			if (v < 512 || v > (64 << 20) || v % 512) {
				fprintf(stderr, "--block: a multiple of 512 up to 64M\n");
				exit(2);
			}
			o->block = (unsigned int)v;
			break;
		case 'c': o->job_sectors = (unsigned int)bu_parse_num("--job-sectors", optarg, 1, 2048); break;
		case 'w': o->window = (unsigned int)bu_parse_num("--window", optarg, 1, 1u << 30); break;
		case 'a': o->window = 0; break;
		case 'p': o->pages = (unsigned int)bu_parse_num("--pages", optarg, 1, 1u << 24); break;
		case 's': o->seed = bu_parse_num("--seed", optarg, 0, (unsigned long)-1); break;
		case 'v': o->verify = parse_verify(optarg); break;
		case 'D': o->bdev_flags = KCOPYD_BDEV_DIRECT; break;
		case 'B': o->bdev_flags = KCOPYD_BDEV_BUFFERED; break;
		case 'g': o->gate = false; break;
		case 'j': o->json = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		exit(2);
	}
	o->src = argv[optind];
	o->dst = argv[optind + 1];
}

static void die(const char *what, const char *path, int err)
{
	fprintf(stderr, "lib-jobs: %s %s: %s\n", what, path, strerror(err < 0 ? -err : err));
	exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("calloc", "", ENOMEM);
	return p;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: plenty for spreading offsets. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void open_pair(const struct opts *o, bool trunc, struct block_device **src,
		      struct block_device **dst)
{
	int ret = kcopyd_bdev_open_ex(o->src, O_RDONLY, o->bdev_flags, src);

	if (ret)
		die("open", o->src, ret);
	ret = bu_prepare_dest(o->dst, kcopyd_bdev_sectors(*src) << KCOPYD_SECTOR_SHIFT, trunc);
	if (!ret)
		ret = kcopyd_bdev_open_ex(o->dst, O_RDWR, o->bdev_flags, dst);
	if (ret)
		die("open", o->dst, ret);
}

static struct kcopyd_client *make_client(unsigned int pages)
{
	struct kcopyd_client *kc;
	int ret = kcopyd_client_create(pages, &kc);

	if (ret)
		die("kcopyd_client_create", "", ret);
	return kc;
}

/* ---- cow: random single-block copies ------------------------------------ */

static void cow_done(int read_err, unsigned int write_err, void *context)
{
	unsigned long i = (unsigned long)(uintptr_t)context;

	run.t_done[i] = bu_now_ns();
	if (read_err || write_err)
		__atomic_fetch_add(&run.errors, 1, __ATOMIC_RELAXED);
	if (!run.locked)
		return;
	pthread_mutex_lock(&run.lock);
	run.inflight--;
	if (run.waiting)
		pthread_cond_signal(&run.cond);
	pthread_mutex_unlock(&run.lock);
}

static void window_enter(unsigned int window)
{
	pthread_mutex_lock(&run.lock);
	while (run.inflight >= window) {
		run.waiting = true;
		pthread_cond_wait(&run.cond, &run.lock);
	}
	run.waiting = false;
	run.inflight++;
	pthread_mutex_unlock(&run.lock);
}

/* Which jobs to verify: every step-th one. */
static unsigned long verify_step(const struct opts *o)
{
	if (!o->verify)
		return 0;
	return o->verify >= o->jobs ? 1 : o->jobs / o->verify;
}

/* Fill the blocks to verify with a pattern the source almost surely lacks. */
static void poison(const struct opts *o, const uint64_t *blk, unsigned long step)
{
	char *pat = xcalloc(1, o->block);
	int fd = open(o->dst, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		die("open", o->dst, errno);
	memset(pat, 0x5a, o->block);
	for (unsigned long i = 0; step && i < o->jobs; i += step)
		if (pwrite(fd, pat, o->block, (off_t)(blk[i] * o->block)) != (ssize_t)o->block)
			die("pwrite", o->dst, errno ? errno : EIO);
	if (fdatasync(fd) < 0)
		die("fdatasync", o->dst, errno);
	close(fd);
	free(pat);
}

/* Returns how many verified blocks differ from the source. */
static unsigned long check(const struct opts *o, const uint64_t *blk, unsigned long step,
			   unsigned long *checked)
{
	char *a = xcalloc(2, o->block), *b = a + o->block;
	int sfd = open(o->src, O_RDONLY | O_CLOEXEC), dfd = open(o->dst, O_RDONLY | O_CLOEXEC);
	unsigned long bad = 0;

	if (sfd < 0 || dfd < 0)
		die("open", "for verification", errno);
	posix_fadvise(dfd, 0, 0, POSIX_FADV_DONTNEED);
	*checked = 0;
	for (unsigned long i = 0; step && i < o->jobs; i += step) {
		off_t off = (off_t)(blk[i] * o->block);

		if (pread(sfd, a, o->block, off) != (ssize_t)o->block ||
		    pread(dfd, b, o->block, off) != (ssize_t)o->block)
			die("pread", "for verification", errno ? errno : EIO);
		bad += memcmp(a, b, o->block) != 0;
		(*checked)++;
	}
	close(sfd);
	close(dfd);
	free(a);
	return bad;
}

static void latencies(unsigned long n, uint64_t *p50, uint64_t *p99, uint64_t *max)
{
	uint64_t *lat = xcalloc(n, sizeof(*lat));

	for (unsigned long i = 0; i < n; i++)
		lat[i] = run.t_done[i] - run.t_submit[i];
	qsort(lat, n, sizeof(*lat), cmp_u64);
	*p50 = lat[n / 2];
	*p99 = lat[n * 99 / 100 < n ? n * 99 / 100 : n - 1];
	*max = lat[n - 1];
	free(lat);
}

static int run_cow(const struct opts *o)
{
	struct block_device *src, *dst;
	struct kcopyd_client *kc;
	struct bu_out out;
	uint64_t *blk, nblocks, seed = o->seed ? o->seed : 1, t0, t1, p50, p99, max;
	unsigned long step = verify_step(o), checked, bad;
	double u0, s0, u1, s1;
	int ret;

	open_pair(o, false, &src, &dst);
	nblocks = kcopyd_bdev_size(src) / o->block;
	if (!nblocks)
		die("source smaller than one block:", o->src, EINVAL);
	blk = xcalloc(o->jobs, sizeof(*blk));
	for (unsigned long i = 0; i < o->jobs; i++)
		blk[i] = rng_next(&seed) % nblocks;
	run.t_submit = xcalloc(o->jobs, sizeof(uint64_t));
	run.t_done = xcalloc(o->jobs, sizeof(uint64_t));
	run.locked = o->window != 0;
	poison(o, blk, step);
	kc = make_client(o->pages);

	bu_cpu_s(&u0, &s0);
	t0 = bu_now_ns();
	for (unsigned long i = 0; i < o->jobs; i++) {
		sector_t sec = blk[i] * (o->block >> KCOPYD_SECTOR_SHIFT);
		struct io_region from = { src, sec, o->block >> KCOPYD_SECTOR_SHIFT };
		struct io_region to = { dst, sec, from.count };

		if (o->window)
			window_enter(o->window);
		run.t_submit[i] = bu_now_ns();
		ret = kcopyd_copy(kc, &from, 1, &to, 0, cow_done, (void *)(uintptr_t)i);
		if (ret)
			die("kcopyd_copy", "", ret);
	}
	kcopyd_client_wait(kc);
	t1 = bu_now_ns();
	bu_cpu_s(&u1, &s1);
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(dst);
	kcopyd_bdev_close(src);

	bad = check(o, blk, step, &checked);
	latencies(o->jobs, &p50, &p99, &max);
	double wall = (double)(t1 - t0) / 1e9;
	bu_out_begin(&out, stdout, o->json);
	bu_out_str(&out, "tool", "lib-jobs");
	bu_out_str(&out, "mode", o->window ? "window" : "all");
	bu_out_u64(&out, "jobs", o->jobs);
	bu_out_u64(&out, "block", o->block);
	bu_out_u64(&out, "window", o->window);
	bu_out_dbl(&out, "wall_s", wall);
	bu_out_dbl(&out, "jobs_per_s", (double)o->jobs / wall);
	bu_out_dbl(&out, "lat_p50_us", (double)p50 / 1e3);
	bu_out_dbl(&out, "lat_p99_us", (double)p99 / 1e3);
	bu_out_dbl(&out, "lat_max_us", (double)max / 1e3);
	bu_out_dbl(&out, "user_s", u1 - u0);
	bu_out_dbl(&out, "sys_s", s1 - s0);
	bu_out_dbl(&out, "cpu_s", u1 - u0 + s1 - s0);
	bu_out_u64(&out, "maxrss_kb", (uint64_t)bu_peak_rss_kb());
	bu_out_u64(&out, "errors", run.errors);
	bu_out_u64(&out, "verified", checked);
	bu_out_u64(&out, "mismatches", bad);
	bu_out_u64(&out, "ok", !run.errors && !bad);
	bu_out_end(&out);
	free(blk);
	free(run.t_submit);
	free(run.t_done);
	return run.errors || bad ? 1 : 0;
}

/* ---- queue: a million jobs waiting at once --------------------------------- */

struct gate {
	bool entered, released;
};

static void gate_fn(int read_err, unsigned int write_err, void *context)
{
	struct gate *g = context;

	(void)read_err;
	(void)write_err;
	pthread_mutex_lock(&run.lock);
	g->entered = true;
	pthread_cond_broadcast(&run.cond);
	while (!g->released)
		pthread_cond_wait(&run.cond, &run.lock);
	pthread_mutex_unlock(&run.lock);
}

static void gate_set(struct gate *g, bool *flag, bool wait_entered)
{
	pthread_mutex_lock(&run.lock);
	if (flag)
		*flag = true;
	pthread_cond_broadcast(&run.cond);
	while (wait_entered && !g->entered)
		pthread_cond_wait(&run.cond, &run.lock);
	pthread_mutex_unlock(&run.lock);
}

static void queue_done(int read_err, unsigned int write_err, void *context)
{
	(void)context;
	if (read_err || write_err)
		__atomic_fetch_add(&run.errors, 1, __ATOMIC_RELAXED);
}

/* A stride that visits every slot before repeating one. */
static uint64_t pick_stride(uint64_t nslots)
{
	static const uint64_t primes[] = { 7919, 6007, 4099, 1031, 13, 7, 1 };

	for (unsigned int i = 0; i < sizeof(primes) / sizeof(primes[0]); i++)
		if (nslots % primes[i])
			return primes[i] % nslots ? primes[i] : 1;
	return 1;
}

/* Compare every slot the jobs wrote with the source. */
static unsigned long check_slots(const struct opts *o, uint64_t nslots)
{
	size_t len = (size_t)o->job_sectors << KCOPYD_SECTOR_SHIFT;
	uint64_t n = o->jobs < nslots ? o->jobs : nslots, stride = pick_stride(nslots);
	char *a = xcalloc(2, len), *b = a + len;
	int sfd = open(o->src, O_RDONLY | O_CLOEXEC), dfd = open(o->dst, O_RDONLY | O_CLOEXEC);
	unsigned long bad = 0;

	if (sfd < 0 || dfd < 0)
		die("open", "for verification", errno);
	for (uint64_t i = 0; i < n; i++) {
		off_t off = (off_t)((i * stride) % nslots * len);

		if (pread(sfd, a, len, off) != (ssize_t)len || pread(dfd, b, len, off) != (ssize_t)len)
			die("pread", "for verification", errno ? errno : EIO);
		bad += memcmp(a, b, len) != 0;
	}
	close(sfd);
	close(dfd);
	free(a);
	return bad;
}

static void submit_queue(const struct opts *o, struct kcopyd_client *kc, struct block_device *src,
			 struct block_device *dst, uint64_t nslots)
{
	uint64_t stride = pick_stride(nslots);

	for (unsigned long i = 0; i < o->jobs; i++) {
		sector_t sec = (i * stride) % nslots * o->job_sectors;
		struct io_region from = { src, sec, o->job_sectors };
		struct io_region to = { dst, sec, o->job_sectors };
		int ret = kcopyd_copy(kc, &from, 1, &to, 0, queue_done, NULL);

		if (ret)
			die("kcopyd_copy", "", ret);
	}
}

static int run_queue(const struct opts *o)
{
	struct block_device *src, *dst;
	struct kcopyd_client *kc;
	struct kcopyd_callback *cb;
	struct gate g = { 0 };
	struct bu_out out;
	long rss0, rss1, rss2;
	uint64_t nslots, t0, t1, t2;
	double user, sys;
	unsigned long bad;
	int ret;

	rss0 = bu_rss_kb();
	open_pair(o, true, &src, &dst);
	nslots = kcopyd_bdev_sectors(src) / o->job_sectors;
	if (!nslots)
		die("source smaller than one job:", o->src, EINVAL);
	kc = make_client(o->pages);
	if (o->gate) {
		ret = kcopyd_prepare_callback(kc, gate_fn, &g, &cb);
		if (ret)
			die("kcopyd_prepare_callback", "", ret);
		kcopyd_do_callback(cb, 0, 0);
		gate_set(&g, NULL, true);       /* the client's thread is now held */
	}
	rss1 = bu_rss_kb();
	t0 = bu_now_ns();
	submit_queue(o, kc, src, dst, nslots);
	t1 = bu_now_ns();
	rss2 = bu_rss_kb();
	if (o->gate)
		gate_set(&g, &g.released, false);
	kcopyd_client_wait(kc);
	t2 = bu_now_ns();
	kcopyd_client_destroy(kc);
	kcopyd_bdev_close(dst);
	kcopyd_bdev_close(src);
	bu_cpu_s(&user, &sys);
	bad = check_slots(o, nslots);

	long pool_kb = (long)o->pages * 4;
	bu_out_begin(&out, stdout, o->json);
	bu_out_str(&out, "tool", "lib-jobs");
	bu_out_str(&out, "mode", o->gate ? "queue" : "queue-nogate");
	bu_out_u64(&out, "jobs", o->jobs);
	bu_out_u64(&out, "job_bytes", (uint64_t)o->job_sectors << KCOPYD_SECTOR_SHIFT);
	bu_out_u64(&out, "pool_kb", (uint64_t)pool_kb);
	bu_out_u64(&out, "rss_start_kb", (uint64_t)rss0);
	bu_out_u64(&out, "rss_client_kb", (uint64_t)rss1);
	bu_out_u64(&out, "rss_queued_kb", (uint64_t)rss2);
	bu_out_u64(&out, "maxrss_kb", (uint64_t)bu_peak_rss_kb());
	bu_out_dbl(&out, "client_overhead_kb", (double)(rss1 - rss0 - pool_kb));
	bu_out_dbl(&out, "bytes_per_job", (double)(rss2 - rss1) * 1024.0 / (double)o->jobs);
	bu_out_dbl(&out, "peak_bytes_per_job",
		   (double)(bu_peak_rss_kb() - rss0 - pool_kb) * 1024.0 / (double)o->jobs);
	bu_out_dbl(&out, "submit_s", (double)(t1 - t0) / 1e9);
	bu_out_dbl(&out, "drain_s", (double)(t2 - t1) / 1e9);
	/* Held jobs only start when the gate opens: their rate is the drain's. */
	bu_out_dbl(&out, "jobs_per_s", (double)o->jobs * 1e9 / (double)(o->gate ? t2 - t1 : t2 - t0));
	bu_out_dbl(&out, "user_s", user);
	bu_out_dbl(&out, "sys_s", sys);
	bu_out_dbl(&out, "cpu_s", user + sys);
	bu_out_u64(&out, "errors", run.errors);
	bu_out_u64(&out, "mismatches", bad);
	bu_out_u64(&out, "ok", !run.errors && !bad);
	bu_out_end(&out);
	return run.errors || bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };

	parse(argc, argv, &o);
	return o.queue_mode ? run_queue(&o) : run_cow(&o);
}
