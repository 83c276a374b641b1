/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the command's option, size and range parsing
 * (cmd/options.c, and the range checks of cmd/device.c).
 *
 * The input is split at NUL bytes into an argv ("kcopyd" first, at most
 * MAX_ARGS arguments).  Any command line may be refused, but none may
 * crash, and:
 *   - parse_size() agrees with an independent reference on every argument
 *     (accepted, -EINVAL or -ERANGE, and the value); a plain decimal
 *     round-trips; "Ns" is N * 512; nothing accepted exceeds INT64_MAX;
 *   - parse_count() agrees with its reference;
 *   - parse_options() returns -1 only with a "kcopyd:" message (or the
 *     usage, for a bare "kcopyd"), 0 with none, and on 0 every field is
 *     sane: pages 1..2^20, sub_job_size 0 or a multiple of 4K in 4K..1G,
 *     queue_depth 0..4096, sizes NOT_SET or at most INT64_MAX, enough paths,
 *     options of other commands left at their defaults;
 *   - device_check_range(), device_check_align() and
 *     device_check_distinct() on hand-built devices agree with references
 *     computed in 128 bits, and what they accept cannot overflow an off_t
 *     later (dest_offset + length, offset + length).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcopyd-cmd.h"

#define MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- what main.c provides to options.c and device.c ------------------ */

static unsigned int nmsgs;
static char last_msg[512];

void errmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);   /* formats every argument */
	va_end(ap);
	nmsgs++;
}

const char *first_error(void)
{
	return nmsgs ? last_msg : NULL;
}

int setup_failed(const struct options *o)
{
	(void)o;
	return EXIT_SETUP;
}

/* device.c's output check reaches it; the ranges fuzzed here never do. */
int fd_to_null(int fd, int flags)
{
	(void)fd;
	(void)flags;
	return -ENOSYS;
}

/* device.c's set-up of the destinations reaches these; never fuzzed here. */
void signals_busy(const char *what)
{
	(void)what;
}

void signals_last_words(const char *fmt, ...)
{
	(void)fmt;
}

int signal_caught(void)
{
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* --help and --version print on stdout; libFuzzer talks on stderr. */
	if (!freopen("/dev/null", "w", stdout))
		abort();
	return 0;
}

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz-options: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

/* getopt_long keeps a pointer into the last argv (for clustered short
 * options such as -qX); the argv is freed after each input, so start glibc
 * afresh (optind = 0) before it can be dereferenced again. */
static void reset_getopt(void)
{
	static char arg0[] = "kcopyd";
	static char *dummy[] = { arg0, NULL };

	optind = 0;
	opterr = 0;
	(void)getopt_long(1, dummy, "", NULL, NULL);
	optind = 1;
}

/* ---- references -------------------------------------------------------- */

static const struct { const char *name; unsigned int shift; } ref_units[] = {
	{ "", 0 }, { "s", 9 },
	{ "K", 10 }, { "k", 10 }, { "KiB", 10 }, { "M", 20 }, { "m", 20 }, { "MiB", 20 },
	{ "G", 30 }, { "g", 30 }, { "GiB", 30 }, { "T", 40 }, { "t", 40 }, { "TiB", 40 },
	{ "P", 50 }, { "p", 50 }, { "PiB", 50 }, { "E", 60 }, { "e", 60 }, { "EiB", 60 },
};

/* Digits then a unit; the value saturates in 128 bits. */
static int ref_size(const char *s, uint64_t *out)
{
	unsigned __int128 v = 0, cap = (unsigned __int128)1 << 100;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned int)(*p - '0');
		if (v > cap)
			v = cap;
	}
	for (size_t i = 0; i < sizeof(ref_units) / sizeof(ref_units[0]); i++) {
		if (strcmp(p, ref_units[i].name))
			continue;
		/* A value above 2^64 - 1 is -ERANGE however its unit. */
		if (v > (unsigned __int128)INT64_MAX || (v << ref_units[i].shift) > INT64_MAX)
			return -ERANGE;
		*out = (uint64_t)(v << ref_units[i].shift);
		return 0;
	}
	/* parse_size() gives -ERANGE for digits past 2^64 - 1 before it looks at
	 * the unit: both answers are refusals, only their message differs. */
	return v > UINT64_MAX ? -ERANGE : -EINVAL;
}

static void check_size(const char *s)
{
	uint64_t got = 12345, want = 54321;
	int r = parse_size(s, &got), w = ref_size(s, &want);

	CHECK(r == w);
	if (r) {
		CHECK(got == 12345);        /* nothing stored on failure */
		return;
	}
	CHECK(got == want);
	CHECK(got <= (uint64_t)INT64_MAX);
	size_t n = strspn(s, "0123456789");
	if (s[n] == 0) {                    /* plain decimal: round-trips */
		char buf[32];
		const char *d = s + strspn(s, "0");

		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)got);
		CHECK(strcmp(buf, *d ? d : "0") == 0);
		CHECK(strtoull(s, NULL, 10) == got);
	} else if (!strcmp(s + n, "s")) {   /* sectors */
		unsigned long long sectors = strtoull(s, NULL, 10);

		CHECK(sectors <= (uint64_t)INT64_MAX / 512);
		CHECK(got == sectors * 512);
	}
}

static int ref_count(const char *s, unsigned int max, unsigned int *out)
{
	unsigned __int128 v = 0;

	if (!*s)
		return -EINVAL;
	if (s[strspn(s, "0123456789")])
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		v = v * 10 + (unsigned int)(*p - '0');
		if (v > max)
			return -ERANGE;
	}
	if (v == 0)
		return -ERANGE;
	*out = (unsigned int)v;
	return 0;
}

static void check_count(const char *s, unsigned int max)
{
	unsigned int got = 7, want = 9;
	int r = parse_count(s, max, &got), w = ref_count(s, max, &want);

	/* Both refuse (the kind of refusal may differ: parse_count stops at the
	 * first digit past max, before a later non-digit), or both accept. */
	CHECK((r == 0) == (w == 0));
	if (!r) {
		CHECK(got == want);
		CHECK(got >= 1 && got <= max);
	}
}

/* ---- parse_options ---------------------------------------------------- */

static void check_options(int argc, char **argv)
{
	struct options o;
	unsigned int before = nmsgs;
	int ret;

	reset_getopt();
	ret = parse_options(argc, argv, &o);
	reset_getopt();
	CHECK(ret >= -1 && ret <= 1);
	if (ret == -1) {
		CHECK(nmsgs > before || argc < 2);
		return;
	}
	CHECK(nmsgs == before);
	if (ret == 1)
		return;
	CHECK(o.cmd <= CMD_INFO && o.cmd_name);
	CHECK(o.npaths >= (o.cmd == CMD_COPY || o.cmd == CMD_VERIFY ? 2 : 1));
	CHECK(o.paths >= argv && o.paths + o.npaths <= argv + argc);
	for (int i = 0; i < o.npaths; i++)
		CHECK(o.paths[i] != NULL);
	CHECK(o.paths[o.npaths] == NULL);
	CHECK(o.pages >= 1 && o.pages <= (1u << 20));
	CHECK(o.sub_job_size == 0 || (o.sub_job_size % KCOPYD_PAGE_SIZE == 0 &&
				      o.sub_job_size >= KCOPYD_PAGE_SIZE &&
				      o.sub_job_size <= (1u << 30)));
	CHECK(o.queue_depth <= 4096);
	CHECK(o.offset == NOT_SET || o.offset <= (uint64_t)INT64_MAX);
	CHECK(o.length == NOT_SET || o.length <= (uint64_t)INT64_MAX);
	CHECK(o.dest_offset == NOT_SET || o.dest_offset <= (uint64_t)INT64_MAX);
	CHECK(o.rate <= (uint64_t)INT64_MAX);
	CHECK(!(o.direct && o.buffered));
	CHECK(o.progress >= -1 && o.progress <= 1);
	if (o.cmd == CMD_INFO) {        /* only --json, -q */
		CHECK(o.offset == NOT_SET && o.length == NOT_SET && o.dest_offset == NOT_SET);
		CHECK(o.progress <= 0);         /* -q sets it off */
	}
	if (o.cmd == CMD_VERIFY || o.cmd == CMD_INFO) {   /* nothing of the writers */
		CHECK(o.pages == DEFAULT_PAGES && !o.sub_job_size && !o.queue_depth && !o.rate);
		CHECK(!o.direct && !o.buffered && o.flush && !o.fail_fast && !o.force);
	}
	if (o.cmd != CMD_COPY)
		CHECK(o.sparse && !o.verify);
#ifdef FUZZ_HAVE_LOG
	/* copy --log FILE --log-interval SECONDS */
	CHECK(o.log == NULL || (o.cmd == CMD_COPY && o.log[0]));
	CHECK(o.log_interval >= 0.01 && o.log_interval <= 3600);
	if (o.cmd != CMD_COPY)
		CHECK(o.log_interval == 2.0);
#endif
}

/* ---- ranges --------------------------------------------------------------- */

static void check_range(uint64_t size, enum dev_kind kind, uint64_t off, uint64_t len,
			bool may_extend)
{
	struct device d;
	unsigned __int128 end = (unsigned __int128)off + len;
	bool want, got;

	device_init(&d, "fuzz");
	d.kind = kind;
	d.size = size;
	want = end <= (unsigned __int128)INT64_MAX &&
	       ((may_extend && kind != DEV_BLOCK) || end <= size);
	got = device_check_range(&d, "--offset/--length", off, len, may_extend) == 0;
	CHECK(got == want);
}

static void check_align(enum dev_kind kind, unsigned int lbs, uint64_t off)
{
	struct device d;
	unsigned int a = kind == DEV_BLOCK && lbs > 512 ? lbs : 512;

	device_init(&d, "fuzz");
	d.kind = kind;
	d.lbs = lbs;
	CHECK((device_check_align(&d, "--offset", off) == 0) == (off % a == 0));
}

/* The copy's set-up, as copy.c does it, on a source of src_size bytes and
 * an existing file destination of dst_size: what it accepts must give
 * ranges whose ends fit in an off_t. */
static void check_copy_plan(uint64_t src_size, uint64_t dst_size, const struct options *o)
{
	struct device s, d;
	uint64_t off = o->offset == NOT_SET ? 0 : o->offset, len, dst_off;

	device_init(&s, "src");
	s.kind = DEV_FILE;
	s.size = src_size;
	if (device_check_align(&s, "--offset", off))
		return;
	len = o->length != NOT_SET ? o->length : off <= s.size ? s.size - off : 0;
	if (device_check_range(&s, "--offset/--length", off, len, false))
		return;
	CHECK((unsigned __int128)off + len <= src_size);
	device_init(&d, "dst");
	d.kind = DEV_FILE;
	d.size = dst_size;
	dst_off = o->dest_offset == NOT_SET ? 0 : o->dest_offset;
	if (device_check_align(&d, "--dest-offset", dst_off) ||
	    device_check_range(&d, "--dest-offset/--length", dst_off, len, true))
		return;
	CHECK((unsigned __int128)dst_off + len <= (uint64_t)INT64_MAX);
}

/* device_check_distinct on two hand-built devices sharing an identity. */
static void check_distinct(uint64_t a_start, uint64_t b_start, uint64_t a_off, uint64_t b_off,
			   uint64_t len, bool same_ino)
{
	struct device src, dst[2];
	unsigned __int128 x = (unsigned __int128)a_start + a_off,
			  y = (unsigned __int128)b_start + b_off;
	bool meet = same_ino && len && (x <= y ? y - x < len : x - y < len);
	int got;

	device_init(&src, "src");
	device_init(&dst[0], "dst");
	src.kind = dst[0].kind = DEV_BLOCK;
	src.id[0] = (struct identity){ .dev = 7, .ino = 0, .start = a_start, .len = UINT64_MAX,
				       .valid = true };
	dst[0].id[0] = (struct identity){ .dev = same_ino ? 7 : 8, .ino = 0, .start = b_start,
					  .len = UINT64_MAX, .valid = true };
	got = device_check_distinct(&src, a_off, dst, 1, b_off, len);
	CHECK((got != 0) == meet);

	/* A destination named twice is refused whatever the length. */
	dst[1] = dst[0];
	dst[1].path = "dst2";
	CHECK(device_check_distinct(NULL, 0, dst, 2, b_off, len) != 0);
}

static uint64_t clamp63(uint64_t v)
{
	return v & (uint64_t)INT64_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *copy[MAX_ARGS + 2];
	uint64_t vals[MAX_ARGS];
	unsigned int nvals = 0;
	int argc = 1;
	size_t i = 0;

	argv[0] = copy[0] = strdup("kcopyd");
	if (!argv[0])
		return 0;
	/* Each argument in its own allocation, so ASan sees any overread. */
	while (i < size && argc <= MAX_ARGS) {
		const uint8_t *nul = memchr(data + i, 0, size - i);
		size_t n = nul ? (size_t)(nul - (data + i)) : size - i;
		char *a = malloc(n + 1);

		if (!a)
			break;
		memcpy(a, data + i, n);
		a[n] = 0;
		argv[argc] = copy[argc] = a;
		argc++;
		i += n + 1;
	}
	argv[argc] = NULL;

	for (int k = 1; k < argc; k++) {
		uint64_t v;

		check_size(argv[k]);
		check_count(argv[k], 1u << 20);
		check_count(argv[k], 4096);
		check_count(argv[k], UINT32_MAX);
		if (parse_size(argv[k], &v) == 0 && nvals < MAX_ARGS)
			vals[nvals++] = v;
	}

	check_options(argc, argv);

	/* Every triple of the sizes given (size, offset, length), both kinds. */
	for (unsigned int a = 0; a < nvals && a < 5; a++) {
		for (unsigned int b = 0; b < nvals && b < 5; b++) {
			for (unsigned int c = 0; c < nvals && c < 5; c++) {
				for (int ext = 0; ext < 2; ext++) {
					check_range(vals[a], DEV_FILE, vals[b], vals[c], ext);
					check_range(vals[a], DEV_BLOCK, vals[b], vals[c], ext);
				}
				check_distinct(vals[a], vals[b], vals[c], vals[a], vals[b],
					       (vals[c] & 1) == 0);
			}
			check_align(DEV_BLOCK, (unsigned int)(512u << (vals[a] % 4)), vals[b]);
			check_align(DEV_FILE, 4096, vals[b]);
		}
	}
	/* The edges, against whatever was parsed. */
	for (unsigned int a = 0; a < nvals; a++) {
		check_range((uint64_t)INT64_MAX, DEV_FILE, vals[a], (uint64_t)INT64_MAX - vals[a], false);
		check_range(vals[a], DEV_BLOCK, vals[a], 0, true);
		check_range(0, DEV_FILE, (uint64_t)INT64_MAX, vals[a], true);
	}

	/* A parsed command line's ranges through the copy's set-up. */
	{
		struct options o;

		reset_getopt();
		if (parse_options(argc, argv, &o) == 0 && o.cmd == CMD_COPY) {
			uint64_t s1 = nvals > 0 ? vals[0] : 1 << 20, s2 = nvals > 1 ? vals[1] : 0;

			check_copy_plan(s1, s2, &o);
			check_copy_plan(clamp63(s1 * 3), clamp63(s2 * 5), &o);
			check_copy_plan((uint64_t)INT64_MAX, (uint64_t)INT64_MAX, &o);
		}
		reset_getopt();
	}

	for (int k = 0; k < argc; k++)
		free(copy[k]);
	return 0;
}
