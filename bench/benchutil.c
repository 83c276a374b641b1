/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

uint64_t bu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void bu_cpu_s(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = tv_s(ru.ru_utime);
	*sys = tv_s(ru.ru_stime);
}

long bu_peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

long bu_rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, resident = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int64_t bu_parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0': break;
	case 's': shift = 9; break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > (unsigned long long)INT64_MAX >> shift)
		return -1;
	return (int64_t)(v << shift);
}

unsigned long bu_parse_num(const char *opt, const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s ? s : "", &end, 10);
	if (!s || !*s || *s == '-' || *end || errno || v < min || v > max) {
		fprintf(stderr, "%s: expected a number from %lu to %lu, got '%s'\n",
			opt, min, max, s ? s : "");
		exit(2);
	}
	return v;
}

void bu_out_begin(struct bu_out *o, FILE *f, bool json)
{
	o->f = f;
	o->json = json;
	o->first = true;
	if (json)
		fputc('{', f);
}

static void key(struct bu_out *o, const char *k)
{
	if (o->json)
		fprintf(o->f, "%s\"%s\": ", o->first ? "" : ", ", k);
	else
		fprintf(o->f, "%s%s=", o->first ? "" : " ", k);
	o->first = false;
}

void bu_out_str(struct bu_out *o, const char *k, const char *val)
{
	key(o, k);
	fprintf(o->f, o->json ? "\"%s\"" : "%s", val);
}

void bu_out_u64(struct bu_out *o, const char *k, uint64_t val)
{
	key(o, k);
	fprintf(o->f, "%llu", (unsigned long long)val);
}

void bu_out_dbl(struct bu_out *o, const char *k, double val)
{
	key(o, k);
	fprintf(o->f, "%.6g", val);
}

void bu_out_end(struct bu_out *o)
{
	fputs(o->json ? "}\n" : "\n", o->f);
	fflush(o->f);
}

int bu_prepare_dest(const char *path, uint64_t size, bool truncate)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < size &&
		 ftruncate(fd, (off_t)size) < 0)
		ret = -errno;
	close(fd);
	return ret;
}
