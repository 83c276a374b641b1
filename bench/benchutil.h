/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the benchmark programs: clocks, resource usage, sizes,
 * and the one-line result format that bench/run.sh parses.
 */
#ifndef KCOPYD_BENCHUTIL_H
#define KCOPYD_BENCHUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bu_now_ns(void);

/* Process CPU seconds (all threads), user and system. */
void bu_cpu_s(double *user, double *sys);

/* Peak resident set of the process so far, KiB (ru_maxrss). */
long bu_peak_rss_kb(void);

/* Resident set right now, KiB (/proc/self/statm); -1 if unknown. */
long bu_rss_kb(void);

/* "4096", "512K", "1M", "2G", "8s" (sectors): bytes, or -1 if malformed. */
int64_t bu_parse_size(const char *s);

/* An unsigned decimal number within [min, max], or exit with a message. */
unsigned long bu_parse_num(const char *opt, const char *s, unsigned long min, unsigned long max);

/* Results: one line of key=value pairs, or one JSON object with --json. */
struct bu_out {
	FILE *f;
	bool json;
	bool first;
};
void bu_out_begin(struct bu_out *o, FILE *f, bool json);
void bu_out_str(struct bu_out *o, const char *key, const char *val);
void bu_out_u64(struct bu_out *o, const char *key, uint64_t val);
void bu_out_dbl(struct bu_out *o, const char *key, double val);
void bu_out_end(struct bu_out *o);

/* Create path if needed and make it at least (O_TRUNC: exactly) size bytes. */
int bu_prepare_dest(const char *path, uint64_t size, bool truncate);

#endif
