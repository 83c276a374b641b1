/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kcopyd command's internal header.
 *
 * Every subcommand runs in two phases.  Set-up (device.c) stats, opens and
 * checks every device and every range; only when all of it passes are
 * destination files created or extended, so that an exit code of 2 always
 * means nothing was written.  The run (run.c) then streams jobs into the
 * library a bounded window at a time, records each destination's first
 * failure from the job callbacks, and finishes with the tail that is not a
 * whole number of blocks, the flush and the report (report.c).
 * Stop signals (main.c: SIGINT, SIGTERM, SIGHUP, ...) only set a flag that
 * the run polls: it stops submitting, cancels the library's queued jobs
 * (kcopyd_client_cancel, so --rate does not delay the stop), lets the
 * sub-jobs in flight finish, flushes, saves the copy log (copy --log,
 * copylog.c) and exits 128 + the signal; a second one exits at once.
 * At every tick and at the end the run also looks for a source or a
 * destination changed under it (snap_take/snap_changed, run.c).
 */
#ifndef KCOPYD_CMD_H
#define KCOPYD_CMD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "kcopyd.h"
#include "sysfs.h"

/* Exit codes. */
#define EXIT_OK     0
#define EXIT_FAILED 1        /* ran, but a device failed or differs */
#define EXIT_SETUP  2        /* usage or set-up error: nothing written */

#define NOT_SET UINT64_MAX   /* an option not given */
#define MAX_DESTS KCOPYD_MAX_REGIONS
#define DEFAULT_PAGES 2048u  /* 8 MiB of buffers */

enum command { CMD_COPY, CMD_ZERO, CMD_VERIFY, CMD_INFO };

struct options {
	enum command cmd;
	const char *cmd_name;
	uint64_t offset, length, dest_offset;   /* bytes, or NOT_SET */
	uint64_t rate;                          /* bytes per second, 0 = unlimited */
	unsigned int throttle;                  /* per cent of the time with I/O in flight, 0 = unset */
	unsigned int pages;
	unsigned int sub_job_size;              /* 0: the library's default */
	unsigned int queue_depth;               /* 0: the library's default */
	bool direct, buffered;
	bool flush, sparse, fail_fast, verify, force;
	bool json, quiet;
	int progress;                           /* -1 automatic, 0 off, 1 on */
	const char *log;                        /* copy --log FILE, or NULL */
	double log_interval;                    /* seconds between log commits */
	bool log_interval_set;                  /* given: it needs --log */
	char **paths;
	int npaths;
};

/* main.c: messages.  errmsg() prints "kcopyd: ..." on stderr and keeps the
 * first message of a set-up error for the JSON summary. */
void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *first_error(void);
int setup_failed(const struct options *o);
/* fflush(stdout), keeping the errno of its first failure for the message
 * main() gives at the end. */
void flush_stdout(void);
/* SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGUSR2 and SIGXCPU stop a run
 * cleanly: the handler only records the signal; the run polls it.  A second
 * one exits at once with the last words set here ("" or NULL: none).
 * SIGUSR1 asks for a status line (status_requested() says so once).
 * signal_caught() returns the first signal caught, or 0. */
int signals_install(void);
int signal_caught(void);
/* verify.c: read up to len bytes at off, a failed read narrowed down to
 * where it fails (*got: the bytes read before it). */
ssize_t read_upto(int fd, char *buf, size_t len, uint64_t off, size_t *got);
/* The run's report has answered the stop signal caught (with its exit
 * status, 128 + the signal or not): main does not add its own. */
void signal_answered(void);
const char *signal_name(int sig);
bool status_requested(void);
/* A system call failed with EINTR that no signal of ours caused (a file
 * system that says so): true, after a pause that doubles, while it may be
 * tried again (*tries counts, at most 10 in a row); false: give up. */
bool eintr_again(unsigned int *tries);
void signals_last_words(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Until signals_setup_done(), nothing has been written or created: a stop
 * signal exits at once, saying so.  Called just before a command first
 * changes anything (creates, locks, writes). */
void signals_setup_done(void);
/* What a stop's grace period waits for now, as its end says it ("the
 * opening of the destinations"); NULL: the run's I/O, flush or log. */
void signals_busy(const char *what);
/* A stop must end within STOP_GRACE seconds of the first stop signal
 * (the I/O in flight, the flush, the log's last rewrite: a device that
 * does not answer must not make it wait forever); then the signal thread
 * exits at once, as on a second signal. */
#define STOP_GRACE 3
/* fn(arg) is called by the signal thread at the first stop signal, whatever
 * the main thread is doing (stuck in a flush or a write of the log): the
 * run cancels its jobs there.  fn NULL: none; once this returns, fn is not
 * running and will not be called. */
void signals_on_stop(void (*fn)(void *), void *arg);
/* --json: standard output gets one JSON document, whole, from one writer:
 * the command's (json_end, which builds it in memory and writes it at
 * once after signals_json_claim) or, if an exit at once (a stop signal
 * during set-up, a second one, the grace period's end) comes first, the
 * exit's own (command, error, signal, exit_code).  signals_json_claim is
 * false when the exit has it: the command then writes none. */
void signals_json(const char *cmd_name);
bool signals_json_claim(void);
/* The command's JSON, with its exit status (-1: none), is out: a stop
 * signal from now on exits with that status, saying the run had ended. */
void signals_json_done(int code);
/* The run has ended with status code; only its summary is left to write. */
void signals_run_ended(int code);
/* A write to standard output made without stdio failed with err. */
void stdout_failed(int err);

/* Point descriptor fd at /dev/null opened with flags (a closed standard
 * descriptor filled, an output that must not be written); 0 or -errno. */
int fd_to_null(int fd, int flags);

/* options.c */
int parse_size(const char *s, uint64_t *out);
int parse_count(const char *s, unsigned int max, unsigned int *out);
int parse_options(int argc, char **argv, struct options *o);
void usage(FILE *f);
const char *human_size(uint64_t bytes, char *buf, size_t size);
double now_seconds(void);

/* One device as the command sees it: what it was before we touched it, our
 * own descriptor (for checks, tails and verify), the library's handle, and
 * how the run went for it. */
enum dev_kind { DEV_NEW, DEV_FILE, DEV_BLOCK };

/* Where a device's bytes really live, as the kernel says (device and inode
 * numbers, LOOP_GET_STATUS64): the device itself, the disk of a partition,
 * the file or device under a loop device (followed down), the block device
 * a file's file system lives on.  Repeated entries are merged: 96 is room
 * for a btrfs of 16 members, each a partition of a loop device over a file. */
#define MAX_IDS 96
/* An overlayfs file may be stored in any file under any of its layer
 * directories (redirects, metacopy, data-only layers, xino inode numbers
 * make the one file unknowable): those directories are its roots.  The
 * directories a file lies in (its ancestors, walked up with "..") are what
 * is compared with them.  tag: the upper layer directory of the overlay
 * the entry comes from (0 0: none, or not an overlay's), so that two files
 * of one overlay do not meet only because both write its upper layer.
 * ino 0 in an ancestor: somewhere on that device (a file with more than
 * one name, or reached through a bind mount of a directory inside its
 * file system: every directory is possible).  A lower layer's root counts
 * only for a device that is read: a destination on an overlay is written
 * in its upper layer (copied up when opened), not in the lower ones. */
#define MAX_ROOTS 640
#define MAX_ANC 1024
struct dir_ref {
	dev_t dev;
	ino_t ino;
	dev_t tag_dev;
	ino_t tag_ino;
	bool lower;                  /* a root: an overlay's lower layer, read only */
};
struct identity {
	dev_t dev;
	ino_t ino;                   /* 0 for a block device */
	uint64_t start;              /* byte offset of this device inside it */
	uint64_t len;                /* bytes of it there (UINT64_MAX: a file, unbounded) */
	bool valid;
	bool anywhere;               /* somewhere in [start, start + len): a file's file system */
	bool backing;                /* a block device under a loop device */
	dev_t loop;                  /* a file under a loop device: that loop device (else 0) */
	bool layer;                  /* the file of an overlayfs layer a name reaches */
	bool lower;                  /* that of a lower layer: a destination is copied up */
};

struct device {
	const char *path;
	enum dev_kind kind;
	int fd;                      /* ours: buffered, -1 when closed */
	struct block_device *bd;     /* the library's */
	struct identity id[MAX_IDS]; /* itself and what lies under it */
	bool ids_full;               /* more lay under it than id[] holds: not all is known */
	int ids_err;                 /* why not, when a system call failed (errno), or 0 */
	/* A layer of an overlay it is on that no name reaches from here (the
	 * overlay was mounted in another mount namespace: a container's root):
	 * the first such layer's path, warned about, not refused. */
	char unseen[256];
	struct dir_ref *roots;       /* overlayfs layer directories it may be stored in */
	unsigned int nroots, roots_cap;
	struct dir_ref *anc;         /* directories its files lie in (malloc'ed, both) */
	unsigned int nanc, anc_cap;
	bool written;                /* a destination: its overlay's lower layers are only read */
	/* A loop device over a file (however deep) on a file system whose
	 * answers come from user space (FUSE, 9p): the loop driver takes a
	 * short answer as done, without an error (a short read as zeros, a
	 * short write as written).  Its path, warned about (copy.c). */
	bool loop_userfs;
	char *canon;                 /* DEV_NEW: canonical path, to find duplicates */
	char *upper_canon;           /* DEV_NEW on an overlay: its name in the upper layer */
	dev_t dir_dev;               /* DEV_NEW: its directory (any name of it) */
	ino_t dir_ino;
	uint64_t size;               /* bytes, as found */
	unsigned int lbs;            /* logical block size (512 for files) */
	unsigned int bsz;            /* block devices: soft block size (BLKBSZGET), 0 unknown */
	uint64_t zero_from;          /* bytes at or past this read as zero (UINT64_MAX: unknown) */
	uint64_t need;               /* DEV_FILE/DEV_NEW: size the run needs */
	uint64_t len;                /* bytes of the range on this device */
	bool created, extended;      /* what set-up did, to undo it */

	/* Outcome. */
	bool failed;
	int err;                     /* negative errno, or 0 */
	const char *what;            /* "write", "flush", "read", ... */
	uint64_t err_off;            /* first failing byte offset, or NOT_SET */
	bool differs;                /* verify found a difference */
	bool verified;               /* verify compared all of it: it matched */
	uint64_t diff_off;
	const char *note;            /* why it did not complete, when no errno */
	char note_buf[128];          /* room for a note made up at run time */
	/* Set when err_off, the first byte it does not hold, is not where
	 * its own write failed but where something else left it short (the
	 * source's read failed there, or the run stopped): says what. */
	const char *short_why;
	bool reported;               /* its failure was printed already */
	char changed[160];           /* what changed under the run, or "" */
	/* A source read that failed (err, err_off and failed say so) by
	 * ending early: the size the file had then (NOT_SET: not a file). */
	uint64_t end_now;
};

/* What a device looked like, to tell at the end whether it changed during
 * the run ("file changed as we read it").  Sizes of every device; times of
 * files that the run does not write itself. */
struct dev_snap {
	bool valid;
	uint64_t size;
	struct timespec mtime, ctime;
	bool is_file;
	dev_t dev, rdev;                 /* what the descriptor is */
	ino_t ino;
	nlink_t nlink;
	bool lo_times;                   /* a loop device: mtime, ctime are its file's */
};
void snap_take(const struct device *d, struct dev_snap *s);
/* Describe in buf what differs now from s (size against expect_size unless
 * that is NOT_SET, times only with times); returns true if anything does. */
bool snap_changed(const struct device *d, const struct dev_snap *s, uint64_t expect_size,
		  bool times, char *buf, size_t size);

/* device.c */
/* Where two devices' ranges meet (device_meet).  MEET_SAME: the same device
 * named twice; MEET_OVERLAP: ranges that share bytes of one storage;
 * MEET_PAGE: disjoint ranges whose pages in one device's cache overlap. */
enum meet { MEET_NONE, MEET_SAME, MEET_OVERLAP, MEET_PAGE };
#define MEET_EXACT  1u   /* the same storage at the same start counts, even for an empty range */
#define MEET_PLACED 2u   /* only where bytes really are: not "somewhere in a file system" */
#define MEET_BELOW  4u   /* b's own identity aside: only what lies under it */
/* Disjoint bytes that share a page of a block device's own page cache
 * (device_cache_unit), or of that of a file or device under it that its
 * writes pass through (a loop device's), meet too, as MEET_PAGE: a's
 * pages, b's, or both; with MEET_PAGES_OWN, only those of its own cache. */
#define MEET_PAGES_A 8u
#define MEET_PAGES_B 16u
#define MEET_PAGES  (MEET_PAGES_A | MEET_PAGES_B)
#define MEET_PAGES_OWN 32u
enum meet device_meet(const struct device *a, uint64_t a_off, uint64_t a_len,
		      const struct device *b, uint64_t b_off, uint64_t b_len, unsigned int flags);
/* Any of a's bytes are b's: our writes to one change the other. */
bool device_shares_storage(const struct device *a, const struct device *b);
bool device_writes_file_under(const struct device *d, const struct device *src);
int device_loop_file(const struct device *d, uint64_t *start);
/* Flush and drop the caches of what lies under block device d. */
void device_drop_lower_caches(const struct device *d);
/* d->loop_userfs said: write (else read), and so: what follows for this run. */
void device_warn_userfs(const struct device *d, bool write, const char *so);
bool device_has_file_under(const struct device *d);
struct stat;
bool device_stores_file(const struct device *d, const char *name);
/* The name a file canon (a canonical path; it may not exist yet) has, or
 * would have once created, in the upper layer of the overlayfs its
 * directory is on (malloc'd), or NULL when it is on none. */
char *overlay_upper_name(const char *canon);
/* 1 if dir lies in [off, +len) of d, 0 if not, -errno when that cannot be
 * told (-ELOOP: more lies under it than is followed). */
int device_holds_dir(const struct device *d, uint64_t off, uint64_t len, const char *dir);
/* Is the block device open on fd mounted or claimed by someone (an
 * exclusive open of it fails with EBUSY)? */
bool device_claimed(int fd);
/* Two stats of one file (device, inode, type): a path still names it. */
bool stat_same_file(const struct stat *a, const struct stat *b);
void device_init(struct device *d, const char *path);
int device_stat(struct device *d, bool may_create);
int device_open_read(struct device *d);
const char *err_text(int errnum);
/* printf for the text on standard output: the control bytes of names
 * written as \xNN (main.c). */
void tprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int device_open_write(struct device *d, const struct options *o);
int device_check_distinct(struct device *src, uint64_t src_off, struct device *dests,
			  unsigned int n, uint64_t dst_off, uint64_t len);
/* Refuse a range that reaches the part-block at the end of a block device
 * whose size is not a whole number of its logical blocks. */
int device_check_part_block(const struct device *d, const char *opt, uint64_t off, uint64_t len);
int device_check_range(const struct device *d, const char *opt, uint64_t off, uint64_t len,
		       bool may_extend);
int device_check_users(const struct device *d, uint64_t off, uint64_t len,
		       const struct options *o);
int device_check_limits(const struct device *d);
int device_check_output(struct device *src, uint64_t src_off, struct device *dests,
			unsigned int n, uint64_t dst_off, uint64_t len);
int device_lock(struct device *d, bool exclusive);
int device_check_align(const struct device *d, const char *opt, uint64_t off);
int device_prepare(struct device *dests, unsigned int n);
/* After device_prepare() and the destinations' opens: undone if a stop
 * signal came meanwhile (-1), else 0. */
int device_prepared(struct device *dests, unsigned int n);
int device_open_lib(struct device *d, int acc, const struct options *o);
void device_undo(struct device *dests, unsigned int n);
void device_close(struct device *d);
void device_fail(struct device *d, const char *what, int err, uint64_t off);
const char *device_kind_name(const struct device *d);
const char *unusable_type(mode_t mode);

/* progress.c */
struct progress {
	bool on;
	bool stopped;                            /* the drawing failed: stderr is gone */
	uint64_t total;
	double start, last_draw, last_t, rate;
	uint64_t last_bytes;
	int drawn;
	/* Set by whoever knows it (runner_progress): bytes really moved so
	 * far, which the rate is computed over (not a resume's skipped part). */
	bool have_moved;
	uint64_t moved;
};
bool progress_wanted(const struct options *o);
void progress_init(struct progress *p, bool on, uint64_t total);
void progress_update(struct progress *p, uint64_t done, bool force);
void progress_end(struct progress *p, uint64_t done);
void progress_clear(struct progress *p);
/* SIGUSR1: one dd-style line, "N bytes (H) VERB, S s, R/s", on stderr. */
void progress_status(struct progress *p, const char *verb, uint64_t done);

/* run.c: streams jobs into the library and gathers their results. */
struct runner {
	struct kcopyd_client *kc;
	struct device *src;                      /* NULL when zeroing */
	struct device *dests;
	unsigned int ndests;
	bool fail_fast;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int in_flight, window;
	uint64_t in_flight_bytes;
	uint64_t done_bytes;                     /* range bytes finished */
	uint64_t hole_bytes;                     /* copy: holes finished (not read) */
	bool stop;
	bool internal_error;                     /* a job refused, out of memory */
	bool log_unclosed;                       /* copy --log: the closing rewrite failed */
	char log_error[160];                     /* copy --log: why the log could not be written */
	bool read_failed;
	int read_err;
	uint64_t read_off;
	bool read_in_chunk;                      /* read_off is where the library's failed
						    read began, not the failing byte */
	struct progress prog;
	double started;
	int signal;                              /* the stop signal that ended the run, or 0 */
	bool cancel_asked;                       /* runner_cancel ran (__atomic: any thread) */
	uint64_t tail_written;                   /* bytes runner_tail wrote, over destinations */
	uint64_t tail_range;                     /* range bytes runner_tail did */
	uint64_t zeroed_range;                   /* copy: range bytes of zero jobs completed */
	unsigned int dest_jobs[MAX_DESTS];       /* jobs in flight per destination */
	struct tracker *tk;                      /* copy --log: chunks done, or NULL */
	const char *log_path;                    /* copy --log FILE, or NULL */
	bool log_on_disk;                        /* FILE exists: a rerun resumes from it */
	struct dev_snap src_snap, dest_snap[MAX_DESTS];
	bool src_changed;
	char src_change[160];                    /* what changed in the source, or "" */
	double last_watch;                       /* when the devices were last looked at */
	/* Does a destination hold all of its range once the run ends, even a
	 * run that stopped (--fail-fast, a signal)?  Yes when every span was
	 * submitted, no job left part of it out, and its tail was written. */
	bool submitted_all;                      /* set by the submitter at its end */
	uint32_t short_mask;                     /* destinations a job left short */
	uint32_t tail_missing;                   /* destinations whose tail is not written */
	uint64_t tail_off;                       /* where the tail starts in the destinations */
	/* The lowest byte of each destination known not to hold the source's
	 * (from the jobs' results, and where submitting stopped), or NOT_SET. */
	uint64_t lacks[MAX_DESTS];
};
/* The first byte of destination i's range that it does not hold: where an
 * incomplete destination's failure is reported. */
uint64_t runner_first_lacking(const struct runner *r, unsigned int i);
/* Destination i holds every byte of its range (its own failure aside). */
bool runner_holds_all(const struct runner *r, unsigned int i);
struct span {
	bool zero;
	uint64_t src_off, dst_off, len;          /* bytes */
	uint32_t mask;                           /* destinations taking part */
	unsigned int flags;
	uint64_t chunk;                          /* with a tracker: the log chunk it lies in */
};
int client_setup(const struct options *o, struct kcopyd_client **kc);
/* Whether the run's memory fits in its memory cgroup's limit: the copy
 * engine's (engine), the comparison's (compare).  0, or -1 (said). */
int memory_check(const struct options *o, bool engine, bool compare);
/* Descriptors the run will need after set-up (the log's rewrites, the
 * directory of a created file at the flush), held open from set-up so that
 * ulimit -n is met there, with nothing written: fd_reserve takes one more
 * (0, or a negative errno); fd_borrow gives one back to the caller's next
 * open, fd_return takes it again after. */
int fd_reserve(void);
void fd_borrow(void);
void fd_return(void);
void runner_init(struct runner *r, struct kcopyd_client *kc, struct device *src,
		 struct device *dests, unsigned int n, const struct options *o, uint64_t total);
void runner_fini(struct runner *r);
/* Before the client is destroyed: a stop signal no longer cancels its jobs. */
void runner_end_engine(struct runner *r);
uint32_t runner_live(struct runner *r);
int runner_submit(struct runner *r, const struct span *sp);
void runner_note_done(struct runner *r, uint64_t hole_bytes);
void runner_drain(struct runner *r);
void runner_tick(struct runner *r);
uint64_t runner_progress(struct runner *r);
void runner_narrow_read_error(struct runner *r, unsigned int sub_job_size, uint64_t range_end);
void runner_tail(struct runner *r, uint32_t mask, uint64_t src_off, uint64_t dst_off,
		 uint64_t len);
void runner_flush(struct runner *r);
/* Bytes this run moved: a copy's range bytes read or zeroed (not skipped,
 * not done before a resume); zeroing's bytes zeroed over destinations. */
uint64_t runner_moved(struct runner *r, const struct kcopyd_stats *st);
/* At the end: did the source or a destination change under the run?  Says
 * so (errmsg), fills r->src_change and each device's changed. */
void runner_check_changes(struct runner *r);
/* Lock not needed: the signal, if one came, that ends the run now. */
int runner_stop_signal(struct runner *r);
/* copy --log: follow which chunks of chunk bytes complete on which
 * destination; every interval seconds (and by runner_checkpoint(r, true))
 * flush the destinations, then record them in the log. */
struct copylog;
int runner_track(struct runner *r, struct copylog *log, double interval);
/* The log is on disk now (it existed, or its first write is done): what an
 * exit at once says changes from "no log yet" to "the log resumes it". */
void runner_log_on_disk(struct runner *r);
void runner_chunk_close(struct runner *r, uint64_t chunk, uint32_t want);
int runner_checkpoint(struct runner *r, bool force);
void runner_untrack(struct runner *r);

/* extent.c: the data and hole extents of a source range. */
struct extent_iter {
	int fd;
	bool sparse;                 /* SEEK_DATA/SEEK_HOLE usable */
	uint64_t base;               /* source offset of the range */
	uint64_t pos, end;           /* relative to base */
	unsigned int align;
};
void extent_init(struct extent_iter *it, const struct device *src, bool sparse,
		 uint64_t base, uint64_t len, unsigned int align);
bool extent_next(struct extent_iter *it, uint64_t *off, uint64_t *len, bool *data);
/* lseek(fd, at, SEEK_DATA / SEEK_HOLE) where the file system is trusted
 * with them: the next data at or after at, or -1 with errno (ENXIO: no
 * data from at on); the next hole after data at at (the file's end at the
 * latest), or -1.  Every look at a file's holes, source or destination,
 * goes through them. */
off_t seek_data(int fd, off_t at);
off_t seek_hole(int fd, off_t at);

/* verify.c */
/* Returns 0, -1 when the source could not be read, or a stop signal's
 * number when one ended it (the destinations not yet compared get a note). */
/* The words for a failed read of the source (err, err_off, end_now), the
 * same in the text, the JSON, copy and verify. */
const char *source_error_text(const struct device *src, int err, uint64_t off, uint64_t end_now,
			      char *buf, size_t size);
/* Notes a failed read of the source at byte off in src (the size the file
 * has now, when it ended early). */
void source_note_failure(struct device *src, int err, uint64_t off);
int compare_ranges(struct device *src, uint64_t src_off, struct device *dests,
		   unsigned int n, uint64_t dst_off, uint64_t len, struct progress *p);
/* The comparison's buffers, taken at set-up (before anything is written):
 * 0, or -1 with the error said (out of memory: a set-up error). */
int compare_reserve(void);
/* The bytes compare_reserve() takes. */
uint64_t compare_bytes(void);

/* json.c: a small streaming writer, one line per document. */
#define JSON_MAX_DEPTH 8
struct json {
	FILE *f;
	FILE *out;                    /* where it goes: stdout is written whole at the end */
	char *mem;                    /* the document, built in memory for stdout */
	size_t memlen;
	int depth;
	int exit_code;                /* json_exit_code's, or -1 */
	bool need_comma[JSON_MAX_DEPTH];
};
void json_begin(struct json *j, FILE *f);
void json_end(struct json *j);
/* The "exit_code" field: once the object is out on standard output, a
 * later stop signal exits with this status (signals_json_done). */
void json_exit_code(struct json *j, int code);
void json_object(struct json *j, const char *key);
void json_array(struct json *j, const char *key);
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *v);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_offset(struct json *j, const char *key, uint64_t v);   /* NOT_SET: null */
void json_double(struct json *j, const char *key, double v);
void json_bool(struct json *j, const char *key, bool v);
/* "source_error": null, or the source's failed read (source_note_failure)
 * as {"error": TEXT, "offset": N}. */
void json_source_error(struct json *j, const struct device *src);
void json_int(struct json *j, const char *key, int64_t v);

/* report.c: the end of copy and zero. */
struct report {
	const struct options *o;
	struct runner *r;
	struct device *src;              /* NULL when zeroing */
	uint64_t src_off, dst_off, bytes;
	double seconds;
	char engine[16];
	struct kcopyd_stats stats;
	/* copy --log */
	const char *log;                 /* NULL: no log */
	bool resumed;                    /* the log existed */
	uint64_t skipped_bytes;          /* done before this run, over destinations */
	uint64_t resume_at;              /* first source byte not done everywhere (NOT_SET: all done) */
	uint64_t moved;                  /* set by report_finish: bytes this run moved */
	bool interrupted;                /* set by report_finish: a signal left work undone */
};
int report_finish(struct report *rep);
void report_setup_error(const struct options *o, int sig);
void device_print_failure(const struct device *d);

/* The subcommands. */
int cmd_copy(struct options *o);
int cmd_zero(struct options *o);
int cmd_verify(struct options *o);
int cmd_info(struct options *o);

#endif
