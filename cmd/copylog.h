/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy log (kcopyd copy --log FILE): which chunks of the copied range
 * hold the source's data, durably, on each destination.  A rerun with the
 * same log copies only the rest.  The format is text, documented in
 * kcopyd(1) under THE COPY LOG, and written atomically (a new file, fsync,
 * rename, fsync of the directory), so a crash leaves the old log or the new
 * one, never a mix.
 */
#ifndef KCOPYD_COPYLOG_H
#define KCOPYD_COPYLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COPYLOG_MAX_DESTS 32

/* What a log is about; a log written for anything else is refused. */
struct copylog_key {
	const char *source;              /* path as given */
	uint64_t source_size;            /* bytes */
	uint64_t offset, length, dest_offset;
	unsigned int ndests;
	const char *dests[COPYLOG_MAX_DESTS];
};

struct copylog;

/* Open (or start) the log at path for key, with chunks of chunk bytes when
 * the log is new (an existing log keeps its own).  Returns 0, or a negative
 * errno with a message in why: -EBADMSG a damaged or malformed log,
 * -ESTALE a log for another source, range or destinations. */
int copylog_open(const char *path, const struct copylog_key *key, uint64_t chunk,
		 struct copylog **result, char *why, size_t whylen);
/* Parse text as a log for key, without touching any file (for tests and
 * fuzzing).  Same returns as copylog_open. */
int copylog_parse(const char *text, size_t len, const struct copylog_key *key,
		  struct copylog **result, char *why, size_t whylen);
void copylog_free(struct copylog *l);

uint64_t copylog_chunk(const struct copylog *l);
uint64_t copylog_chunks(const struct copylog *l);
bool copylog_is_done(const struct copylog *l, unsigned int dest, uint64_t chunk);
/* Bytes of the range still to copy, summed over destinations. */
uint64_t copylog_todo_bytes(const struct copylog *l);
/* A chunk's copy finished on dest; it becomes done at the next commit. */
void copylog_mark(struct copylog *l, unsigned int dest, uint64_t chunk);
/* The destinations are flushed: record every marked chunk as done and
 * rewrite the log.  Returns 0 or a negative errno. */
int copylog_commit(struct copylog *l);
/* The log's text as it would be written (malloc'd; for tests). */
char *copylog_format(const struct copylog *l, size_t *len);

#endif
