/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy log (kcopyd copy --log FILE): which chunks of the copied range
 * hold the source's data, durably, on each destination.  A rerun with the
 * same log copies only the rest.  The format is text, documented in
 * kcopyd(1) under THE COPY LOG, and written atomically (a new file, fsync,
 * rename, fsync of the directory), so a crash leaves the old log or the new
 * one, never a mix.
 *
 * A log names its devices by path, and also records what identifies each
 * one (struct copylog_id): a rerun refuses a log whose source is not the
 * one it was written for, and forgets the progress of a destination that is
 * not what the log last saw.  For the whole of a run the log is locked
 * (FILE.lock): a second run with the same log is refused.
 */
#ifndef KCOPYD_COPYLOG_H
#define KCOPYD_COPYLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COPYLOG_MAX_DESTS 32
#define COPYLOG_MAX_CHUNKS (1u << 20)    /* a log with more chunks is refused */
/* The largest chunk: a range of up to 2^63 bytes in COPYLOG_MAX_CHUNKS. */
#define COPYLOG_MAX_CHUNK (1ULL << 43)
#define COPYLOG_VERSION 2

/* What a device was when it was looked at.  Files: their inode and times,
 * and where the file system tells them, their birth time and inode
 * generation (a file removed and made again can get the same inode number,
 * and even the same size, but not the same birth time or generation);
 * block devices: their number, size, the kernel's disk sequence number
 * (new for every medium or loop attachment, within one boot), a checksum of
 * the serial number or WWID, the partition's start, and for a loop device
 * its backing file. */
enum { COPYLOG_NONE, COPYLOG_FILE, COPYLOG_BLOCK };
/* copylog_id.known: a file's birth time, its generation; a loop device's
 * backing file's modification and change times (in mtime, ctime). */
enum { COPYLOG_HAS_BTIME = 1, COPYLOG_HAS_GENERATION = 2, COPYLOG_HAS_LOOP_TIMES = 4 };
struct copylog_id {
	uint64_t kind;
	uint64_t dev, ino, size;         /* block: st_rdev, 0, bytes */
	int64_t mtime_sec, ctime_sec;    /* files; loop devices: their files' (known) */
	uint64_t mtime_nsec, ctime_nsec;
	uint64_t diskseq, serial, start; /* block devices; 0: unknown */
	uint64_t lo_dev, lo_ino, lo_offset, lo_sizelimit;  /* loop devices */
	/* Files, each only where known says so (statx STATX_BTIME,
	 * FS_IOC_GETVERSION); a log of an older kcopyd knows neither. */
	int64_t btime_sec;
	uint64_t btime_nsec, generation;
	uint64_t known;                  /* COPYLOG_HAS_* */
};

/* What a log is about; a log written for anything else is refused. */
struct copylog_key {
	const char *source;              /* path as given */
	uint64_t source_size;            /* bytes */
	struct copylog_id source_id;     /* as it is now */
	/* The source shares storage with a destination (a copy inside one
	 * file, or onto a loop device over it): the run's own writes change its
	 * size and times, so only which file it is is checked, and a size grown
	 * since is accepted. */
	bool source_written;
	uint64_t offset, length, dest_offset;
	unsigned int ndests;
	const char *dests[COPYLOG_MAX_DESTS];
	struct copylog_id dest_ids[COPYLOG_MAX_DESTS];  /* as they are now */
	/* Where each destination's descriptor will be (NULL, or -1 until it is
	 * open): identified again at every commit, after the flush. */
	const int *dest_fds[COPYLOG_MAX_DESTS];
	const char *boot;                /* this boot's id (NULL: unknown) */
};

struct copylog;

/* What is open on fd, for a copylog_key.  Returns 0 or a negative errno. */
int copylog_identify(int fd, struct copylog_id *id);

/* Open (or start) the log at path for key, with chunks of chunk bytes when
 * the log is new (an existing log keeps its own), and lock it until
 * copylog_free.  Returns 0, or a negative errno with a message in why:
 * -EBUSY another run holds the lock, -EBADMSG a damaged or malformed log,
 * -EPROTO a log of another format version, -ESTALE a log for another
 * source, range or destinations, -EUCLEAN the source changed since the log
 * was written. */
int copylog_open(const char *path, const struct copylog_key *key, uint64_t chunk,
		 struct copylog **result, char *why, size_t whylen);
/* Parse text as a log for key, without touching any file (for tests and
 * fuzzing).  Same returns as copylog_open. */
int copylog_parse(const char *text, size_t len, const struct copylog_key *key,
		  struct copylog **result, char *why, size_t whylen);
/* Unlocks the log (and removes its lock file). */
void copylog_free(struct copylog *l);

uint64_t copylog_chunk(const struct copylog *l);
uint64_t copylog_chunks(const struct copylog *l);
bool copylog_is_done(const struct copylog *l, unsigned int dest, uint64_t chunk);
/* Why the log's progress on dest was forgotten when it was read (dest is
 * not what the log last saw: "change time", "inode"...), or NULL. */
const char *copylog_dest_changed(const struct copylog *l, unsigned int dest);
/* Bytes of the range still to copy, summed over destinations. */
uint64_t copylog_todo_bytes(const struct copylog *l);
/* A chunk's copy finished on dest; it becomes done at the next commit. */
void copylog_mark(struct copylog *l, unsigned int dest, uint64_t chunk);
/* Chunks from from on are not done on dest after all (a verify pass found
 * otherwise): the next commit records them as to copy. */
void copylog_forget(struct copylog *l, unsigned int dest, uint64_t from);
/* The destinations are flushed: record every marked chunk as done, what
 * each destination is now, and rewrite the log.  Returns 0 or a negative
 * errno. */
int copylog_commit(struct copylog *l);
/* The run is about to write the destinations: record that (until
 * copylog_finish, a destination's later change time may be the run's own).
 * Returns 0 or a negative errno. */
int copylog_begin(struct copylog *l);
/* The run wrote its last byte and committed: record that (a rerun then
 * expects each destination exactly as recorded; after a crash, a
 * destination may have changed since the last commit by the run's own
 * writes).  Returns 0 or a negative errno. */
int copylog_finish(struct copylog *l);
/* Remove the log file (not its lock: still held until copylog_free), when
 * what it says can no longer be trusted and it cannot be rewritten: a rerun
 * then starts afresh.  Returns 0 or a negative errno. */
int copylog_discard(struct copylog *l);
/* The log's text as it would be written (malloc'd; for tests). */
char *copylog_format(const struct copylog *l, size_t *len);

#endif
