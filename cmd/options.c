/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Command-line parsing: the subcommand, its options, and sizes with units.
 * Sizes are strict: digits and one optional unit, nothing else, so that a
 * typo ("10MB", "-1", "1e6", "0x10") is an error rather than a surprise.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kcopyd-cmd.h"

/* Options that take no short form get codes above the ASCII range. */
enum {
	OPT_OFFSET = 256, OPT_LENGTH, OPT_DEST_OFFSET, OPT_PAGES, OPT_SUB_JOB,
	OPT_DEPTH, OPT_RATE, OPT_DIRECT, OPT_BUFFERED, OPT_FLUSH, OPT_NO_FLUSH,
	OPT_SPARSE, OPT_NO_SPARSE, OPT_FAIL_FAST, OPT_PROGRESS, OPT_NO_PROGRESS,
	OPT_JSON, OPT_FORCE, OPT_VERIFY, OPT_LOG, OPT_LOG_INTERVAL, OPT_THROTTLE,
};

#define C_COPY   (1u << CMD_COPY)
#define C_ZERO   (1u << CMD_ZERO)
#define C_VERIFY (1u << CMD_VERIFY)
#define C_INFO   (1u << CMD_INFO)
#define C_ALL    (C_COPY | C_ZERO | C_VERIFY | C_INFO)
#define C_WRITE  (C_COPY | C_ZERO)

static const struct option long_opts[] = {
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "length", required_argument, NULL, OPT_LENGTH },
	{ "dest-offset", required_argument, NULL, OPT_DEST_OFFSET },
	{ "pages", required_argument, NULL, OPT_PAGES },
	{ "sub-job-size", required_argument, NULL, OPT_SUB_JOB },
	{ "queue-depth", required_argument, NULL, OPT_DEPTH },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "throttle", required_argument, NULL, OPT_THROTTLE },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "buffered", no_argument, NULL, OPT_BUFFERED },
	{ "flush", no_argument, NULL, OPT_FLUSH },
	{ "no-flush", no_argument, NULL, OPT_NO_FLUSH },
	{ "sparse", no_argument, NULL, OPT_SPARSE },
	{ "no-sparse", no_argument, NULL, OPT_NO_SPARSE },
	{ "fail-fast", no_argument, NULL, OPT_FAIL_FAST },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "log-interval", required_argument, NULL, OPT_LOG_INTERVAL },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Which subcommands accept each option: a stray option is an error, not
 * silently ignored, because ignoring --length on zero would zero too much. */
static unsigned int accepted_by(int code)
{
	switch (code) {
	case OPT_OFFSET: case OPT_LENGTH:
		return C_COPY | C_ZERO | C_VERIFY;
	case OPT_DEST_OFFSET:
		return C_COPY | C_ZERO | C_VERIFY;
	case OPT_SPARSE: case OPT_NO_SPARSE: case OPT_VERIFY: case OPT_LOG: case OPT_LOG_INTERVAL:
		return C_COPY;
	case OPT_PROGRESS: case OPT_NO_PROGRESS:
		return C_COPY | C_ZERO | C_VERIFY;
	case OPT_JSON: case 'q': case 'h': case 'V':
		return C_ALL;
	default:
		return C_WRITE;
	}
}

static const struct { const char *name; unsigned int shift; } units[] = {
	{ "", 0 }, { "s", 9 },
	{ "K", 10 }, { "k", 10 }, { "KiB", 10 },
	{ "M", 20 }, { "m", 20 }, { "MiB", 20 },
	{ "G", 30 }, { "g", 30 }, { "GiB", 30 },
	{ "T", 40 }, { "t", 40 }, { "TiB", 40 },
	{ "P", 50 }, { "p", 50 }, { "PiB", 50 },
	{ "E", 60 }, { "e", 60 }, { "EiB", 60 },
};

/* Parse SIZE: decimal digits and an optional unit (K M G T P E, powers of
 * 1024, or s for 512-byte sectors).  The result fits in an off_t.
 * Returns 0, or -EINVAL (malformed) or -ERANGE (too large). */
int parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int digit = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].name) != 0)
			continue;
		if (v > ((uint64_t)INT64_MAX >> units[i].shift))
			return -ERANGE;
		*out = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

/* A plain count between 1 and max. */
int parse_count(const char *s, unsigned int max, unsigned int *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -ERANGE;
	}
	if (v == 0)
		return -ERANGE;
	*out = (unsigned int)v;
	return 0;
}

static int size_arg(const char *name, const char *arg, uint64_t *out)
{
	int ret = parse_size(arg, out);

	if (ret == -ERANGE)
		errmsg("--%s: '%s' is too large", name, arg);
	else if (ret)
		errmsg("--%s: '%s' is not a size (digits, then optionally K, M, G, T, P, E or s)",
		       name, arg);
	return ret;
}

static int count_arg(const char *name, const char *arg, unsigned int max, unsigned int *out)
{
	int ret = parse_count(arg, max, out);

	if (ret)
		errmsg("--%s: '%s' must be a whole number from 1 to %u", name, arg, max);
	return ret;
}

/* The limits of the library's setters, checked here so the message names
 * the option. */
static int sub_job_arg(const char *arg, unsigned int *out)
{
	uint64_t v;

	if (size_arg("sub-job-size", arg, &v))
		return -EINVAL;
	if (v < KCOPYD_PAGE_SIZE || v % KCOPYD_PAGE_SIZE || v > (1u << 30)) {
		errmsg("--sub-job-size: '%s' must be a multiple of 4K from 4K to 1G", arg);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

/* --log-interval SECONDS: a number from 0.01 to 3600, in any form strtod
 * reads (.5, 1e3, 0x10). */
static int interval_arg(const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0.01) || !(v <= 3600)) {
		errmsg("--log-interval: '%s' must be a number of seconds from 0.01 to 3600", arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* --throttle 25 or 25%: the share of time with I/O in flight. */
static int throttle_arg(const char *arg, unsigned int *out)
{
	size_t n = strlen(arg);
	char num[16];

	if (n && arg[n - 1] == '%')
		n--;
	if (n >= sizeof(num) || (memcpy(num, arg, n), num[n] = 0, parse_count(num, 100, out))) {
		errmsg("--throttle: '%s' must be a per cent of the time from 1 to 100", arg);
		return -EINVAL;
	}
	return 0;
}

static int set_option(struct options *o, int code, const char *arg)
{
	switch (code) {
	case OPT_OFFSET: return size_arg("offset", arg, &o->offset);
	case OPT_LENGTH: return size_arg("length", arg, &o->length);
	case OPT_DEST_OFFSET: return size_arg("dest-offset", arg, &o->dest_offset);
	case OPT_RATE: return size_arg("rate", arg, &o->rate);
	case OPT_THROTTLE: return throttle_arg(arg, &o->throttle);
	case OPT_PAGES: return count_arg("pages", arg, 1u << 20, &o->pages);
	case OPT_DEPTH: return count_arg("queue-depth", arg, 4096, &o->queue_depth);
	case OPT_SUB_JOB: return sub_job_arg(arg, &o->sub_job_size);
	case OPT_DIRECT: o->direct = true; o->buffered = false; return 0;
	case OPT_BUFFERED: o->buffered = true; o->direct = false; return 0;
	case OPT_FLUSH: o->flush = true; return 0;
	case OPT_NO_FLUSH: o->flush = false; return 0;
	case OPT_SPARSE: o->sparse = true; return 0;
	case OPT_NO_SPARSE: o->sparse = false; return 0;
	case OPT_FAIL_FAST: o->fail_fast = true; return 0;
	case OPT_PROGRESS: o->progress = 1; return 0;
	case OPT_NO_PROGRESS: o->progress = 0; return 0;
	case OPT_JSON: o->json = true; return 0;
	case OPT_FORCE: o->force = true; return 0;
	case OPT_VERIFY: o->verify = true; return 0;
	case OPT_LOG:
		if (!*arg) {
			errmsg("--log: the file name is empty");
			return -EINVAL;
		}
		o->log = arg;
		return 0;
	case OPT_LOG_INTERVAL: o->log_interval_set = true; return interval_arg(arg, &o->log_interval);
	case 'q': o->quiet = true; o->progress = 0; return 0;  /* a later --progress wins */
	}
	return -EINVAL;
}

static const char *option_name(int code)
{
	for (const struct option *lo = long_opts; lo->name; lo++)
		if (lo->val == code)
			return lo->name;
	return "?";
}

static const struct { const char *name; enum command cmd; unsigned int min_paths; } commands[] = {
	{ "copy", CMD_COPY, 2 },
	{ "zero", CMD_ZERO, 1 },
	{ "verify", CMD_VERIFY, 2 },
	{ "info", CMD_INFO, 1 },
};

static void defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->offset = o->length = o->dest_offset = NOT_SET;
	o->pages = DEFAULT_PAGES;
	o->flush = true;
	o->sparse = true;
	o->progress = -1;
	o->log_interval = 2.0;
}

static int find_command(const char *name, struct options *o, unsigned int *min_paths)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) == 0) {
			o->cmd = commands[i].cmd;
			o->cmd_name = commands[i].name;
			*min_paths = commands[i].min_paths;
			return 0;
		}
	}
	errmsg("unknown command '%s' (try 'kcopyd --help')", name);
	return -EINVAL;
}

static void version(void)
{
	printf("kcopyd %s (libkcopyd %s)\n", KCOPYD_CMD_VERSION, kcopyd_version());
}

/* Returns 0 to run, 1 when --help or --version answered, -1 on a usage error. */
static int parse_command_options(int argc, char **argv, struct options *o)
{
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qhV", long_opts, NULL)) != -1) {
		if (c == '?') {
			/* Inside a group of short options ("-xq") getopt has not
			 * moved past the word yet. */
			const char *word = optopt && optind < argc && argv[optind][0] == '-' &&
					   argv[optind][1] != '-' && strchr(argv[optind], optopt) ?
					   argv[optind] : argv[optind - 1];

			errmsg("%s: unknown option or missing argument '%s'", o->cmd_name, word);
			return -1;
		}
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == 'V') {
			version();
			return 1;
		}
		if (!(accepted_by(c) & (1u << o->cmd))) {
			errmsg("%s: --%s does not apply to this command", o->cmd_name,
			       option_name(c));
			return -1;
		}
		if (set_option(o, c, optarg))
			return -1;
	}
	o->paths = argv + optind;
	o->npaths = argc - optind;
	return 0;
}

/* KCOPYD_ENGINE chooses the library's engine; a value it does not know
 * makes every client fail with EINVAL, which copy and zero would only see
 * when starting the engine, and could not tell from another cause. */
static int check_engine_env(const struct options *o)
{
	const char *e = getenv("KCOPYD_ENGINE");

	if ((o->cmd != CMD_COPY && o->cmd != CMD_ZERO) || !e || !*e ||
	    !strcmp(e, "threads") || !strcmp(e, "io_uring"))
		return 0;
	errmsg("%s: KCOPYD_ENGINE=%s is not a copy engine: it is io_uring, threads, or "
	       "unset (io_uring where the kernel allows it, else threads)", o->cmd_name, e);
	return -1;
}

/* Was --json asked for anywhere (before a "--")?  An option error that
 * comes before it on the line still answers in JSON. */
static bool json_asked(int argc, char **argv)
{
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			return true;
	return false;
}

int parse_options(int argc, char **argv, struct options *o)
{
	unsigned int min_paths;
	int ret;

	defaults(o);
	if (argc < 2) {
		errmsg("no command given");
		usage(stderr);
		return -1;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 1;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		version();
		return 1;
	}
	if (find_command(argv[1], o, &min_paths))
		return -1;
	ret = parse_command_options(argc - 1, argv + 1, o);
	if (ret < 0 && !o->json)
		o->json = json_asked(argc, argv);
	if (ret)
		return ret;
	if (o->log_interval_set && !o->log) {
		errmsg("%s: --log-interval applies to the log: it needs --log FILE", o->cmd_name);
		return -1;
	}
	if ((unsigned int)o->npaths < min_paths) {
		errmsg("%s: expected %s", o->cmd_name,
		       min_paths == 2 ? "SOURCE DEST [DEST...]" : "at least one DEVICE");
		return -1;
	}
	return check_engine_env(o);
}

void usage(FILE *f)
{
	fputs("Usage: kcopyd copy [OPTIONS] SOURCE DEST [DEST...]\n"
	      "       kcopyd zero [OPTIONS] DEST [DEST...]\n"
	      "       kcopyd verify [OPTIONS] SOURCE DEST [DEST...]\n"
	      "       kcopyd info [--json] DEVICE...\n"
	      "\n"
	      "Copy a file or block device to up to 32 others, reading it once.\n"
	      "\n"
	      "Ranges (SIZE: digits and a unit: K, M, G, T, P, E = powers of 1024,\n"
	      "        or s = 512-byte sectors):\n"
	      "  --offset SIZE        start in the source (zero: in each destination)\n"
	      "  --length SIZE        how much (default: to the end)\n"
	      "  --dest-offset SIZE   start in each destination\n"
	      "Copying:\n"
	      "  --pages N            buffer memory in 4 KiB pages (default 2048 = 8 MiB)\n"
	      "  --sub-job-size SIZE  bytes per I/O (default 512K)\n"
	      "  --queue-depth N      I/Os in flight (default 64)\n"
	      "  --rate SIZE          at most SIZE bytes per second\n"
	      "  --throttle PERCENT   I/O in flight at most PERCENT of the time\n"
	      "  --direct, --buffered use O_DIRECT, or never (default: where it works)\n"
	      "  --flush, --no-flush  fsync every destination before success (default on)\n"
	      "  --sparse, --no-sparse  skip holes and zero blocks for destinations known\n"
	      "                       to read as zero (default on)\n"
	      "  --fail-fast          stop at the first error (default: drop the failing\n"
	      "                       destination, complete the others)\n"
	      "  --verify             read every destination back and compare\n"
	      "  --log FILE           record the chunks done on each destination in FILE;\n"
	      "                       rerun with the same FILE to copy only the rest\n"
	      "  --log-interval SECONDS  flush and record progress this often (default 2)\n"
	      "  --force              write to a block device that is mounted or in use\n"
	      "Output:\n"
	      "  --progress, --no-progress  live progress line (default: on a terminal)\n"
	      "  --json               one JSON summary on standard output\n"
	      "  -q, --quiet          only errors\n"
	      "  -h, --help           this help\n"
	      "  -V, --version        the version\n"
	      "\n"
	      "Exit status: 0 success, 1 a device failed or differs, 2 usage or set-up\n"
	      "error (nothing was written), 128+N stopped by signal N (130 SIGINT,\n"
	      "143 SIGTERM).  SIGUSR1 prints a status line.\n"
	      "See kcopyd(1).\n", f);
}

/* "1.50 GiB": for people; the JSON carries exact byte counts. */
const char *human_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const suffix[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	unsigned int i = 0;

	while (v >= 1024 && i < 6) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.2f %s", v, suffix[i]);
	return buf;
}

double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
