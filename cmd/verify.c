/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd verify SOURCE DEST..., and the read-back of copy --verify: read
 * the source range once, chunk by chunk, and compare every destination's
 * range with it.  Plain pread is enough here; the cached pages of the
 * source and the destinations are dropped first so the comparison reads
 * what the devices hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

#define CHUNK (4u << 20)
/* One pread at most this long, so that a stop signal is seen between two
 * reads of a slow device, not after a whole chunk of them. */
#define PIECE (256u << 10)

/* The comparison under way, for a status line asked for (SIGUSR1) in the
 * middle of a chunk's reads: a slow device takes long over one. */
static struct progress *status_prog;
static uint64_t status_at;

static void status_check(void)
{
	if (status_prog && status_requested())
		progress_status(status_prog, "compared", status_at);
}

/* Read up to len bytes; fewer only at the end of the file.  On an error
 * *got says how many were read before it: a read that fails as a whole (a
 * disk fails a whole request) is retried in halves, down to one sector, so
 * that *got ends at the first sector that cannot be read (the first byte
 * of it, for a read that ends unaligned before it), and what lies before
 * it is there to compare.  A stop signal ends it with -EINTR, *got bytes
 * read (callers tell it from a device's EINTR by signal_caught()).  A read
 * the device ends with EINTR is tried again, 10 times in a row at most,
 * after a pause that doubles, as the library does (eintr_again): then it
 * fails as with any other error, narrowed down the same way. */
ssize_t read_upto(int fd, char *buf, size_t len, uint64_t off, size_t *got)
{
	size_t step = len < PIECE ? len : PIECE;
	bool narrowing = false;
	unsigned int eintr = 0;

	*got = 0;
	while (*got < len) {
		if (signal_caught())
			return -EINTR;
		status_check();
		size_t want = len - *got < step ? len - *got : step;
		size_t mis = (size_t)((off + *got) % KCOPYD_SECTOR_SIZE);
		ssize_t n;

		/* Narrowing down: each piece a whole sector of the device. */
		if (narrowing && mis && want > KCOPYD_SECTOR_SIZE - mis)
			want = KCOPYD_SECTOR_SIZE - mis;
		n = pread(fd, buf + *got, want, (off_t)(off + *got));

		if (n < 0 && errno == EINTR && eintr_again(&eintr))
			continue;
		/* A signal of ours stops; a file system that keeps saying
		 * EINTR fails as with any other error, narrowed down. */
		if (n < 0 && errno == EINTR && signal_caught())
			return -EINTR;
		eintr = 0;
		if (n < 0 && step <= KCOPYD_SECTOR_SIZE)
			return -errno;
		if (n < 0) {
			/* The page cache keeps what a failed read left (a block
			 * device's large folio, 64 KiB and more, stays in error):
			 * dropped, the smaller reads below go to the device again
			 * rather than fail on the cached error. */
			(void)posix_fadvise(fd, (off_t)(off + *got), (off_t)want, POSIX_FADV_DONTNEED);
			narrowing = true;
			step = step / 2 - step / 2 % KCOPYD_SECTOR_SIZE;
			if (step < KCOPYD_SECTOR_SIZE)
				step = KCOPYD_SECTOR_SIZE;
			continue;
		}
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return (ssize_t)*got;
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

/* A block device whose size is not a whole number of its logical blocks:
 * the kernel reads nothing of the part-block at its end, and read-ahead
 * into it fails the reads before it too.  Each read only what it asks. */
static void no_readahead_past_blocks(const struct device *d)
{
	if (d->kind == DEV_BLOCK && d->lbs > KCOPYD_SECTOR_SIZE && d->size % d->lbs)
		(void)posix_fadvise(d->fd, 0, 0, POSIX_FADV_RANDOM);
}

/* copy --verify reads its destinations back; verify only reads them. */
static const char *read_what = "reading back";

static bool still_compared(const struct device *d)
{
	return !d->failed && !d->differs && !d->note;
}

/* Compare [off, off + len) of d with want.  A difference before a spot
 * that cannot be read is the one reported (the first bad byte); a
 * destination that ends early differs where it ends. */
static size_t compare_one(struct device *d, const char *want, char *buf, size_t len, uint64_t off)
{
	size_t before;
	ssize_t got = read_upto(d->fd, buf, len, off, &before);
	size_t at = first_diff(want, buf, before);

	if (at < before) {
		d->differs = true;
		d->diff_off = off + at;
	} else if (got == -EINTR && signal_caught()) {
		;       /* stopped: what was not read is not verified */
	} else if (got < 0) {
		device_fail(d, read_what, (int)got, off + before);
	} else if (before < len) {
		struct stat st;
		uint64_t size_now = d->size, bytes;

		/* A read that ended early where the device still has bytes
		 * showed no difference: that part is not verified.  Only a
		 * device that really ends there differs at its end.  Its size
		 * now: a block device's too (a loop device resized under the
		 * run, losetup -c). */
		if (fstat(d->fd, &st) == 0 && S_ISREG(st.st_mode))
			size_now = (uint64_t)st.st_size;
		else if (d->kind == DEV_BLOCK && ioctl(d->fd, BLKGETSIZE64, &bytes) == 0)
			size_now = bytes;
		if (size_now > off + before) {
			snprintf(d->note_buf, sizeof(d->note_buf),
				 "not verified: the read ended early at byte %llu (the %s "
				 "still has %llu bytes)", (unsigned long long)(off + before),
				 device_kind_name(d), (unsigned long long)size_now);
			d->note = d->note_buf;
		} else {
			/* It ends there now, or earlier: cut under the run after
			 * its bytes there were read, it differs where it ends. */
			d->differs = true;
			d->diff_off = size_now < off + before ? size_now : off + before;
			/* Not before the range: what is compared starts there. */
			if (d->diff_off < off)
				d->diff_off = off;
		}
	}
	return before;       /* read from both and compared */
}

const char *source_error_text(const struct device *src, int err, uint64_t off, uint64_t end_now,
			      char *buf, size_t size)
{
	if (err != -ENODATA)
		snprintf(buf, size, "read failed at byte %llu: %s", (unsigned long long)off,
			 strerror(-err));
	else if (end_now != NOT_SET && end_now > off && end_now == src->size)
		/* Not cut short: the size is what it was, the read just stopped. */
		snprintf(buf, size, "a read ended early at byte %llu (the file still has %llu "
			 "bytes)", (unsigned long long)off, (unsigned long long)end_now);
	else if (end_now != NOT_SET && end_now > off)
		/* Its size changed, but it still goes on past where the read stopped. */
		snprintf(buf, size, "a read ended early at byte %llu (the file still has %llu "
			 "bytes; it had %llu when the run began)", (unsigned long long)off,
			 (unsigned long long)end_now, (unsigned long long)src->size);
	else if (end_now == NOT_SET || end_now == off)   /* it ended early: it shrank under us */
		snprintf(buf, size, "read failed at byte %llu: the source ends there, before its size "
			 "of %llu bytes when the run began", (unsigned long long)off,
			 (unsigned long long)src->size);
	else     /* it now ends below off: what was read there came before the cut */
		snprintf(buf, size, "read failed at byte %llu: the source ended early there (cut "
			 "short under the run: it has %llu bytes now, %llu when the run began)",
			 (unsigned long long)off, (unsigned long long)end_now,
			 (unsigned long long)src->size);
	return buf;
}

void source_note_failure(struct device *src, int err, uint64_t off)
{
	struct stat st;

	if (src->failed && src->err_off <= off)
		return;                 /* the lowest failure is the one told */
	src->failed = true;
	src->err = err;
	src->err_off = off;
	src->what = "read";
	src->end_now = NOT_SET;
	if (err == -ENODATA && fstat(src->fd, &st) == 0 && S_ISREG(st.st_mode))
		src->end_now = (uint64_t)st.st_size;
}

void json_source_error(struct json *j, const struct device *src)
{
	char buf[256];

	if (!src->failed) {
		json_str(j, "source_error", NULL);
		return;
	}
	json_object(j, "source_error");
	json_str(j, "error", source_error_text(src, src->err, src->err_off, src->end_now,
					       buf, sizeof(buf)));
	json_u64(j, "offset", src->err_off);
	json_close(j, '}');
}

static void source_failed(struct device *src, struct device *dests, unsigned int n,
			  int errnum, uint64_t off)
{
	char buf[256];

	source_note_failure(src, errnum, off);
	errmsg("%s: %s", src->path,
	       source_error_text(src, src->err, src->err_off, src->end_now, buf, sizeof(buf)));
	for (unsigned int i = 0; i < n; i++)
		if (still_compared(&dests[i]))
			dests[i].note = "not verified: reading the source failed";
}

/* A stop signal: what was not compared yet is not verified. */
static int interrupted(struct device *dests, unsigned int n, int sig)
{
	static char note[64];

	snprintf(note, sizeof(note), "not verified: interrupted (%s)", signal_name(sig));
	for (unsigned int i = 0; i < n; i++)
		if (still_compared(&dests[i]))
			dests[i].note = note;
	return sig;
}

/* The comparison's buffers: taken by compare_reserve() at set-up, so that
 * too little memory is a set-up error (exit 2, nothing written), not found
 * after a whole copy. */
static void *cmp_mem;

uint64_t compare_bytes(void)
{
	return 2 * (uint64_t)CHUNK;
}

int compare_reserve(void)
{
	if (!cmp_mem && posix_memalign(&cmp_mem, 4096, 2 * (size_t)CHUNK)) {
		cmp_mem = NULL;
		errmsg("out of memory for the comparison's buffers (%u KiB)", 2 * CHUNK / 1024);
		return -1;
	}
	return 0;
}

/* Returns 0 when every range was read (differences are in dests[]), -1 when
 * the source could not be read, the signal when a stop signal came.  The
 * bytes compared are in p->moved. */
int compare_ranges(struct device *src, uint64_t src_off, struct device *dests,
		   unsigned int n, uint64_t dst_off, uint64_t len, struct progress *p)
{
	void *mem = NULL;
	char *want, *buf;
	int ret = 0;

	p->have_moved = true;
	p->moved = 0;
	/* A copy ends before its read-back: only the comparison is cut short. */
	signals_last_words("; the comparison was not finished: the destinations are not verified");
	/* Page-aligned: a read is split (by FUSE, say) where the device's
	 * pages are, not where a malloc header puts them. */
	mem = cmp_mem;
	cmp_mem = NULL;
	if (!mem && posix_memalign(&mem, 4096, 2 * (size_t)CHUNK)) {
		/* Every way out leaves each destination with its answer:
		 * none is "verified" by a comparison that never ran. */
		errmsg("out of memory for the comparison (%u KiB)", 2 * CHUNK / 1024);
		for (unsigned int i = 0; i < n; i++)
			if (still_compared(&dests[i]))
				dests[i].note = "not verified: out of memory";
		return -1;
	}
	want = mem;
	buf = want + CHUNK;
	/* What is compared is what the device holds: anything still dirty in
	 * the page cache (another program's buffered writes) is written back
	 * first, and a write-back that fails fails that destination; then the
	 * cached pages are dropped, so the reads go to the device. */
	for (unsigned int i = 0; i < n; i++) {
		int err = fsync(dests[i].fd) ? -errno : 0;

		if (err && err != -EINVAL && err != -EROFS && err != -EBADF && still_compared(&dests[i])) {
			dests[i].failed = true;
			dests[i].err = err;
			dests[i].what = "flush";
			errmsg("%s: flush before the comparison failed: %s", dests[i].path,
			       strerror(-err));
		}
		posix_fadvise(dests[i].fd, 0, 0, POSIX_FADV_DONTNEED);
		device_drop_lower_caches(&dests[i]);
		no_readahead_past_blocks(&dests[i]);
	}
	no_readahead_past_blocks(src);
	/* The source's clean cached pages too: a loop device's cache is not
	 * told when its file is written through the file's own name, and a
	 * copy reading with O_DIRECT saw the file; so does the comparison. */
	posix_fadvise(src->fd, 0, 0, POSIX_FADV_DONTNEED);
	for (uint64_t pos = 0; pos < len; pos += CHUNK) {
		size_t chunk = len - pos < CHUNK ? (size_t)(len - pos) : CHUNK, before;
		ssize_t got;
		bool any = false;

		for (unsigned int i = 0; i < n; i++)
			any |= still_compared(&dests[i]);
		if (!any)
			break;          /* every destination has its answer */
		if (signal_caught()) {
			ret = interrupted(dests, n, signal_caught());
			break;
		}
		status_prog = p;
		status_at = pos;
		status_check();
		got = read_upto(src->fd, want, chunk, src_off + pos, &before);
		if (got == -EINTR && signal_caught()) {
			ret = interrupted(dests, n, signal_caught());
			break;
		}
		/* What was read before a failure is compared first: a
		 * destination that differs there differs, whatever comes after.
		 * The bytes compared: the chunk, while any destination is still
		 * compared after it (one that ended or differed in it counts to
		 * there, and does not hold the others back); else as far as the
		 * last of them got. */
		size_t done = 0;
		bool going = false;

		for (unsigned int i = 0; i < n; i++)
			if (still_compared(&dests[i])) {
				size_t c = compare_one(&dests[i], want, buf, before, dst_off + pos);

				going |= still_compared(&dests[i]);
				if (c > done)
					done = c;
			}
		if (going)
			done = before;
		if (signal_caught()) {
			/* A destination's read cut short left the chunk unfinished. */
			ret = interrupted(dests, n, signal_caught());
			break;
		}
		p->moved = pos + done;
		if (got < 0 || before < chunk) {
			source_failed(src, dests, n, got < 0 ? (int)got : -ENODATA,
				      src_off + pos + before);
			ret = -1;
			break;
		}
		progress_update(p, pos + chunk, false);
	}
	for (unsigned int i = 0; i < n && ret == 0; i++)
		dests[i].verified = still_compared(&dests[i]);
	status_at = p->moved;
	status_check();         /* asked during the last reads: still answered */
	status_prog = NULL;
	/* A stop from now on comes after the comparison, not in it. */
	signals_last_words(ret ? "; the comparison was cut short: the destinations not compared are "
			   "not verified" : "; the comparison had finished; its result was not "
			   "reported (nor recorded in a log)");
	progress_end(p, p->moved);
	free(mem);
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
	if (*len > (uint64_t)INT64_MAX - (o->dest_offset == NOT_SET ? 0 : o->dest_offset)) {
		errmsg("%s: --dest-offset/--length: the range is too large",
		       n ? dests[0].path : src->path);
		return -1;
	}
	for (unsigned int i = 0; i < n; i++)
		if (device_stat(&dests[i], false) || device_open_read(&dests[i]) ||
		    device_lock(&dests[i], false) ||
		    device_check_part_block(&dests[i], "--dest-offset/--length",
					    o->dest_offset == NOT_SET ? 0 : o->dest_offset, *len))
			return -1;
	device_warn_userfs(src, false, "a difference may be missed, or seen where there is none");
	for (unsigned int i = 0; i < n; i++)
		device_warn_userfs(&dests[i], false,
				   "a difference may be missed, or seen where there is none");
	/* Our output written into what is compared would change it. */
	return device_check_output(src, *off, dests, n,
				   o->dest_offset == NOT_SET ? 0 : o->dest_offset, *len);
}

static const char *status_of(const struct device *d)
{
	return d->failed || d->note || d->changed[0] ? "failed" : d->differs ? "differ" : "match";
}

/* Both sides are only read here: any change of size or time during the
 * comparison makes its answer unsure. */
static bool check_changes(struct device *src, const struct dev_snap *ss, struct device *dests,
			  const struct dev_snap *ds, unsigned int n, char *src_change, size_t size)
{
	bool src_changed = snap_changed(src, ss, src->size, true, src_change, size);

	if (src_changed)
		errmsg("%s: changed during the verify: %s", src->path, src_change);
	for (unsigned int i = 0; i < n; i++)
		if (snap_changed(&dests[i], &ds[i], dests[i].size, true, dests[i].changed,
				 sizeof(dests[i].changed)))
			errmsg("%s: changed during the verify: %s", dests[i].path, dests[i].changed);
	return src_changed;
}

static void print_json(const struct device *src, const char *src_change,
		       const struct device *dests, unsigned int n, uint64_t off, uint64_t dst_off,
		       uint64_t len, uint64_t compared, double secs, int sig, int code)
{
	char buf[256];
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "command", "verify");
	json_str(&j, "source", src->path);
	json_u64(&j, "offset", off);
	json_u64(&j, "dest_offset", dst_off);
	json_u64(&j, "bytes", len);
	json_u64(&j, "bytes_compared", compared);
	json_double(&j, "seconds", secs);
	json_double(&j, "rate", compared && secs >= 0.001 ? (double)compared / secs : NAN);
	json_str(&j, "source_changed", src_change[0] ? src_change : NULL);
	json_source_error(&j, src);
	json_array(&j, "destinations");
	for (unsigned int i = 0; i < n; i++) {
		const struct device *d = &dests[i];

		json_object(&j, NULL);
		json_str(&j, "path", d->path);
		json_str(&j, "status", status_of(d));
		json_offset(&j, "first_difference", d->differs ? d->diff_off : NOT_SET);
		if (d->failed && d->err_off != NOT_SET)
			snprintf(buf, sizeof(buf), "%s failed at byte %llu: %s", d->what,
				 (unsigned long long)d->err_off, strerror(-d->err));
		else if (d->failed)     /* a flush: no byte of its own */
			snprintf(buf, sizeof(buf), "%s failed: %s", d->what, strerror(-d->err));
		else if (!d->note && d->changed[0])
			snprintf(buf, sizeof(buf), "changed during the verify: %s", d->changed);
		json_str(&j, "error", d->failed || (!d->note && d->changed[0]) ? buf : d->note);
		json_str(&j, "changed", d->changed[0] ? d->changed : NULL);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_str(&j, "signal", sig ? signal_name(sig) : NULL);
	json_exit_code(&j, code);
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
		else if (d->changed[0])
			;       /* said by check_changes */
		else if (!o->quiet && !o->json)
			tprintf("%s: matches %s (%s)\n", d->path, src->path,
			       human_size(len, b, sizeof(b)));
		if (strcmp(status_of(d), "match") != 0)
			code = EXIT_FAILED;
	}
	return code;
}

int cmd_verify(struct options *o)
{
	/* Static (one verify a process): on the stack MAX_DESTS of them
	 * would take 33 KiB, more than a small ulimit -s leaves. */
	static struct device src, dests[MAX_DESTS];
	static struct dev_snap ss, ds[MAX_DESTS];
	unsigned int n = (unsigned int)o->npaths - 1;
	uint64_t off = 0, len = 0, dst_off = o->dest_offset == NOT_SET ? 0 : o->dest_offset;
	char src_change[160] = "";
	struct progress p;
	int code = EXIT_SETUP, sig, cmp;
	bool changed;
	double t0;

	if (n > MAX_DESTS) {
		errmsg("verify: at most %u destinations", MAX_DESTS);
		return setup_failed(o);
	}
	device_init(&src, o->paths[0]);
	for (unsigned int i = 0; i < n; i++)
		device_init(&dests[i], o->paths[i + 1]);
	if (memory_check(o, false, true) || compare_reserve() || setup(o, &src, dests, n, &off, &len)) {
		setup_failed(o);
	} else {
		signals_setup_done();   /* the comparison answers signals itself */
		read_what = "reading";
		snap_take(&src, &ss);
		for (unsigned int i = 0; i < n; i++)
			snap_take(&dests[i], &ds[i]);
		t0 = now_seconds();
		progress_init(&p, progress_wanted(o), len);
		cmp = compare_ranges(&src, off, dests, n, dst_off, len, &p);
		changed = check_changes(&src, &ss, dests, ds, n, src_change, sizeof(src_change));
		code = report(o, &src, dests, n, len);
		if (changed)
			code = EXIT_FAILED;
		sig = signal_caught();
		if (sig && cmp > 0) {
			errmsg("interrupted by %s after %llu of %llu bytes compared", signal_name(sig),
			       (unsigned long long)p.moved, (unsigned long long)len);
			code = 128 + sig;
		} else if (sig) {
			/* It came once the answer was known: it stopped nothing,
			 * and the answer above and the exit code stand. */
			errmsg("%s came after the comparison had finished: the result stands",
			       signal_name(sig));
		}
		signal_answered();
		if (o->json)
			print_json(&src, src_change, dests, n, off, dst_off, len, p.moved,
				   now_seconds() - t0, sig, code);
	}
	device_close(&src);
	for (unsigned int i = 0; i < n; i++)
		device_close(&dests[i]);
	return code;
}
