/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd verify SOURCE DEST..., and the read-back of copy --verify: read
 * the source range once, chunk by chunk, and compare every destination's
 * range with it.  Plain pread is enough here; the destinations' cached
 * pages are dropped first so the comparison reads what the device holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

#define CHUNK (4u << 20)

/* Read up to len bytes; fewer only at the end of the file. */
static ssize_t read_upto(int fd, char *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static size_t first_diff(const char *a, const char *b, size_t len)
{
	size_t i = 0;

	/* Whole 4 KiB blocks with memcmp first; bytes only in the one that differs. */
	while (i + 4096 <= len && memcmp(a + i, b + i, 4096) == 0)
		i += 4096;
	while (i < len && a[i] == b[i])
		i++;
	return i;
}

static bool still_compared(const struct device *d)
{
	return !d->failed && !d->differs && !d->note;
}

static void compare_one(struct device *d, const char *want, char *buf, size_t len, uint64_t off)
{
	ssize_t got = read_upto(d->fd, buf, len, off);
	size_t at;

	if (got < 0) {
		device_fail(d, "reading back", (int)got, off);
		return;
	}
	at = first_diff(want, buf, (size_t)got);
	if (at < (size_t)got || (size_t)got < len) {     /* differs, or ends early */
		d->differs = true;
		d->diff_off = off + at;
	}
}

static void source_failed(struct device *src, struct device *dests, unsigned int n,
			  int errnum, uint64_t off)
{
	errmsg("%s: read failed at byte %llu: %s", src->path, (unsigned long long)off,
	       strerror(-errnum));
	for (unsigned int i = 0; i < n; i++)
		if (still_compared(&dests[i]))
			dests[i].note = "not verified: reading the source failed";
}

/* Returns 0 when every range was read (differences are in dests[]), -1 when
 * the source could not be read. */
int compare_ranges(struct device *src, uint64_t src_off, struct device *dests,
		   unsigned int n, uint64_t dst_off, uint64_t len, struct progress *p)
{
	char *want = malloc(CHUNK), *buf = malloc(CHUNK);
	int ret = 0;

	if (!want || !buf) {
		free(want);
		free(buf);
		errmsg("out of memory");
		return -1;
	}
	for (unsigned int i = 0; i < n; i++)
		posix_fadvise(dests[i].fd, 0, 0, POSIX_FADV_DONTNEED);
	for (uint64_t pos = 0; pos < len; pos += CHUNK) {
		size_t chunk = len - pos < CHUNK ? (size_t)(len - pos) : CHUNK;
		ssize_t got = read_upto(src->fd, want, chunk, src_off + pos);
		bool any = false;

		if (got < 0 || (size_t)got < chunk) {
			source_failed(src, dests, n, got < 0 ? (int)got : -ENODATA, src_off + pos);
			ret = -1;
			break;
		}
		for (unsigned int i = 0; i < n; i++) {
			if (still_compared(&dests[i])) {
				compare_one(&dests[i], want, buf, chunk, dst_off + pos);
				any = true;
			}
		}
		progress_update(p, pos + chunk, false);
		if (!any)
			break;
	}
	progress_end(p, len);
	free(want);
	free(buf);
	return ret;
}

/* ---- kcopyd verify --------------------------------------------------- */

static int setup(const struct options *o, struct device *src, struct device *dests,
		 unsigned int n, uint64_t *off, uint64_t *len)
{
	if (device_stat(src, false) || device_open_read(src) || device_lock(src, false))
		return -1;
	*off = o->offset == NOT_SET ? 0 : o->offset;
	if (o->length != NOT_SET)
		*len = o->length;
	else
		*len = *off <= src->size ? src->size - *off : 0;
	if (device_check_range(src, "--offset/--length", *off, *len, false))
		return -1;
	for (unsigned int i = 0; i < n; i++)
		if (device_stat(&dests[i], false) || device_open_read(&dests[i]) ||
		    device_lock(&dests[i], false))
			return -1;
	/* Our output written into what is compared would change it. */
	return device_check_output(src, *off, dests, n,
				   o->dest_offset == NOT_SET ? 0 : o->dest_offset, *len);
}

static const char *status_of(const struct device *d)
{
	return d->failed || d->note ? "failed" : d->differs ? "differ" : "match";
}

static void print_json(const struct device *src,
		       const struct device *dests, unsigned int n, uint64_t off, uint64_t dst_off,
		       uint64_t len, double secs, int code)
{
	char buf[256];
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "command", "verify");
	json_str(&j, "source", src->path);
	json_u64(&j, "offset", off);
	json_u64(&j, "dest_offset", dst_off);
	json_u64(&j, "bytes", len);
	json_double(&j, "seconds", secs);
	json_double(&j, "rate", secs > 0 ? (double)len / secs : 0);
	json_array(&j, "destinations");
	for (unsigned int i = 0; i < n; i++) {
		const struct device *d = &dests[i];

		json_object(&j, NULL);
		json_str(&j, "path", d->path);
		json_str(&j, "status", status_of(d));
		json_offset(&j, "first_difference", d->differs ? d->diff_off : NOT_SET);
		if (d->failed)
			snprintf(buf, sizeof(buf), "%s failed at byte %llu: %s", d->what,
				 (unsigned long long)d->err_off, strerror(-d->err));
		json_str(&j, "error", d->failed ? buf : d->note);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_int(&j, "exit_code", code);
	json_end(&j);
}

static int report(const struct options *o, const struct device *src, const struct device *dests,
		  unsigned int n, uint64_t len)
{
	char b[32];
	int code = EXIT_OK;

	for (unsigned int i = 0; i < n; i++) {
		const struct device *d = &dests[i];

		if (d->differs)
			errmsg("%s: differs from %s at byte %llu", d->path, src->path,
			       (unsigned long long)d->diff_off);
		else if (d->failed || d->note)
			device_print_failure(d);
		else if (!o->quiet && !o->json)
			printf("%s: matches %s (%s)\n", d->path, src->path,
			       human_size(len, b, sizeof(b)));
		if (strcmp(status_of(d), "match") != 0)
			code = EXIT_FAILED;
	}
	return code;
}

int cmd_verify(struct options *o)
{
	struct device src, dests[MAX_DESTS];
	unsigned int n = (unsigned int)o->npaths - 1;
	uint64_t off = 0, len = 0, dst_off = o->dest_offset == NOT_SET ? 0 : o->dest_offset;
	struct progress p;
	int code = EXIT_SETUP;
	double t0;

	if (n > MAX_DESTS) {
		errmsg("verify: at most %u destinations", MAX_DESTS);
		return setup_failed(o);
	}
	device_init(&src, o->paths[0]);
	for (unsigned int i = 0; i < n; i++)
		device_init(&dests[i], o->paths[i + 1]);
	if (setup(o, &src, dests, n, &off, &len)) {
		setup_failed(o);
	} else {
		t0 = now_seconds();
		progress_init(&p, progress_wanted(o), len);
		compare_ranges(&src, off, dests, n, dst_off, len, &p);
		code = report(o, &src, dests, n, len);
		if (o->json)
			print_json(&src, dests, n, off, dst_off, len, now_seconds() - t0, code);
	}
	device_close(&src);
	for (unsigned int i = 0; i < n; i++)
		device_close(&dests[i]);
	return code;
}
