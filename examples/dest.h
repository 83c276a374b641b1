/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the example programs share around the copy itself (dest.c): opening
 * the source, creating the destinations and giving them the source's size,
 * reporting each destination's result, and flushing and closing at the end.
 *
 * Exit statuses, as for the kcopyd command: 0 everything copied, 1 an I/O
 * or set-up error (a destination that cannot be created or sized, a failed
 * read, write or flush), 2 a usage error or a source that cannot be opened
 * (then nothing has been created or changed).
 *
 * Unlike the kcopyd command, the examples do not check whether two of the
 * paths share their storage (the same file twice, a destination that is
 * the source): that is left to the caller.
 */
#ifndef KCOPYD_EXAMPLES_DEST_H
#define KCOPYD_EXAMPLES_DEST_H

#include <stdint.h>

#include <kcopyd.h>

struct copy_set {
	const char *prog;                          /* for messages */
	const char *src_path;
	const char *const *dst_path;               /* n of them */
	unsigned int n;
	uint64_t size;                             /* the source's, in bytes */
	struct block_device *src;
	struct block_device *dst[KCOPYD_MAX_REGIONS];
	struct io_region from;                     /* the whole source */
	struct io_region to[KCOPYD_MAX_REGIONS];   /* the same range of each destination */
};

/*
 * argv is PROG SRC DEST...: open the source, then create or open every
 * destination, check it can take the copy, and size it: a regular file is
 * cut or extended to the source's size; a block device must be at least as
 * large and is left as it is, and the source whole 512-byte sectors (the
 * library writes whole sectors: a partial last one would overwrite the
 * device's bytes after the copy).
 * Then open each for kcopyd.  No destination is resized unless all of them
 * could be opened.  Returns 0, or the exit status after saying why on
 * stderr (and closing what it opened).
 */
int copy_set_open(struct copy_set *cs, int argc, char **argv);

/*
 * After the job: fsync every destination, then say on stdout which ones got
 * the copy and on stderr what failed, from the job's read_err, its
 * write_err bitmask and, when not NULL, each destination's negative errno
 * (kcopyd_copy_ex()); then close everything.  Returns the exit status: 0
 * when every destination got the copy and was flushed, else 1.
 */
int copy_set_finish(struct copy_set *cs, int read_err, unsigned int write_err,
		    const int *dest_errno);

/* Close the devices without flushing, when no job ran.  (copy_set_open()
 * and copy_set_finish() close them themselves.) */
void copy_set_close(struct copy_set *cs);

/* When the call named what failed with the negative errno err: say so,
 * destroy kc (if not NULL) and close the devices.  Returns 1, the exit
 * status. */
int copy_set_abort(struct copy_set *cs, struct kcopyd_client *kc, const char *what, int err);

/* For the event-loop examples: CLOCK_MONOTONIC in nanoseconds, the clock of
 * kcopyd_client_next_deadline(), and a progress line on stderr from the
 * client's statistics. */
uint64_t now_ns(void);
void copy_set_progress(const struct copy_set *cs, const struct kcopyd_client *kc);

#endif /* KCOPYD_EXAMPLES_DEST_H */
