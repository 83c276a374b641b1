/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy log: see copylog.h, and kcopyd(1) for the format.
 *
 * In memory, a log is two bitmaps per destination over the chunks of the
 * range: done (durable, as in the file) and marked (copied since the last
 * commit, not yet known durable).  The reader is strict: a log that does not
 * describe every byte of the range for every destination, in order, exactly
 * once, is refused rather than half trusted.
 *
 * Each device's identity is recorded beside its path.  The source's must be
 * unchanged since the log was started (it is only read: any change is
 * someone else's).  A file's identity holds its birth time and inode
 * generation where the file system tells them: a file removed and made
 * again at the same path (after a crash, say) often gets the same inode
 * number back, and can be given the same size, but it is born anew, so it
 * is another file even after a crash.  A destination's is recorded again
 * at every commit, after the flush; the run's own writes then change a
 * file's change time, so after a crash (the log says "state open") a
 * destination whose change time is later than recorded is trusted, while
 * after a run that ended ("state closed") it must be exactly as recorded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "copylog.h"
#include "sysfs.h"

#define MAGIC_WORD "kcopyd-log"
#define MAGIC "kcopyd-log 2"
#define HEAD "# kcopyd copy log:"          /* the first bytes copylog_format writes */
#define MAX_LOG_BYTES (64u << 20)
#define MAX_WORDS 24
/* Numbers after an identity's kind word: 18, or 14 in the logs of kcopyd
 * before the birth time and generation (read as not knowing them). */
#define ID_NUMBERS 18
#define ID_NUMBERS_OLD 14
#define MAX_BOOT 64

struct copylog {
	char *path;                      /* NULL: parsed only, never written; for messages */
	/* Every file of the log is reached through the directory opened at
	 * set-up, by its name in it: a directory renamed or replaced during
	 * the run (or a symbolic link in the path changed) never moves the
	 * log's rewrites onto another file of the same name. */
	int dirfd;
	char *base;                      /* the log's name in dirfd */
	char *lock_path;                 /* path.lock, held while lock_fd >= 0 */
	char *lock_name;                 /* base.lock */
	int lock_fd;
	int spare_fd;                    /* /dev/null, given up for each rewrite: ulimit -n is met at set-up */
	bool lock_created;               /* lock_path was created by this run: removed at the end */
	uint64_t length, chunk, nchunks;
	unsigned int ndests;
	size_t words;                    /* per bitmap */
	uint64_t *done, *marked;         /* ndests bitmaps each */
	/* The key, to write it back. */
	char *source;
	uint64_t source_size, offset, dest_offset;
	char *dests[COPYLOG_MAX_DESTS];
	struct copylog_id source_id, dest_ids[COPYLOG_MAX_DESTS];
	const int *dest_fds[COPYLOG_MAX_DESTS];
	const char *changed[COPYLOG_MAX_DESTS];  /* why a destination's progress was forgotten */
	char boot[MAX_BOOT + 1];         /* "-": unknown */
	bool closed;                     /* the run that wrote it ended */
};

static int fail(char *why, size_t whylen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return err;
}

static uint32_t crc32_of(const char *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++) {
		crc ^= (unsigned char)p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* ---- bitmaps ----------------------------------------------------------- */

static uint64_t *bitmap(uint64_t *base, const struct copylog *l, unsigned int dest)
{
	return base + (size_t)dest * l->words;
}

static bool test_bit(const uint64_t *map, uint64_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

static void set_bit(uint64_t *map, uint64_t i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

static void clear_bit(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(1ULL << (i % 64));
}

static uint64_t chunk_len(const struct copylog *l, uint64_t i)
{
	uint64_t start = i * l->chunk;

	return l->length - start < l->chunk ? l->length - start : l->chunk;
}

static struct copylog *alloc_log(const struct copylog_key *key, uint64_t chunk)
{
	struct copylog *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->length = key->length;
	l->chunk = chunk;
	l->nchunks = (key->length + chunk - 1) / chunk;
	l->ndests = key->ndests;
	l->words = (size_t)((l->nchunks + 63) / 64) + 1;
	l->done = calloc(l->words * key->ndests, sizeof(uint64_t));
	l->marked = calloc(l->words * key->ndests, sizeof(uint64_t));
	l->source = strdup(key->source);
	l->source_size = key->source_size;
	l->offset = key->offset;
	l->dest_offset = key->dest_offset;
	l->lock_fd = -1;
	l->spare_fd = -1;
	l->dirfd = -1;
	l->source_id = key->source_id;
	snprintf(l->boot, sizeof(l->boot), "%s", key->boot ? key->boot : "-");
	if (!l->done || !l->marked || !l->source) {
		copylog_free(l);
		return NULL;
	}
	for (unsigned int i = 0; i < key->ndests; i++) {
		l->dests[i] = strdup(key->dests[i]);
		l->dest_ids[i] = key->dest_ids[i];
		l->dest_fds[i] = key->dest_fds[i];
		if (!l->dests[i]) {
			copylog_free(l);
			return NULL;
		}
	}
	return l;
}

void copylog_free(struct copylog *l)
{
	if (!l)
		return;
	if (l->lock_fd >= 0) {
		/* Still holding the lock: no other run can be using the file;
		 * but one that was there before this run is not ours to remove. */
		if (l->lock_created)
			unlinkat(l->dirfd, l->lock_name, 0);
		close(l->lock_fd);
	}
	if (l->dirfd >= 0)
		close(l->dirfd);
	free(l->base);
	free(l->lock_name);
	if (l->spare_fd >= 0)
		close(l->spare_fd);
	free(l->lock_path);
	for (unsigned int i = 0; i < COPYLOG_MAX_DESTS; i++)
		free(l->dests[i]);
	free(l->source);
	free(l->done);
	free(l->marked);
	free(l->path);
	free(l);
}

/* ---- identity ----------------------------------------------------------- */

/* The disk's serial number or WWID, as a checksum (0: it has none). */
static uint64_t disk_serial(const char *disk)
{
	static const char *const names[] = { "wwid", "device/wwid", "serial", "device/serial" };
	char path[PATH_MAX + 64], buf[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", disk, names[i]);
		if (read_text(path, buf, sizeof(buf)) == 0 && buf[0])
			return 1ULL << 32 | crc32_of(buf, strlen(buf));
	}
	return 0;
}

/* A loop device's backing file's modification and change times, where a
 * name of it is found (the path in sysfs, or the one the loop device was
 * set up with) that is the very file (device and inode numbers): a block
 * device has no times of its own, but the file under a loop device does,
 * and they tell that it was written since.  A loop device over another
 * loop device: that one's file, followed down. */
static void loop_file_times(const char *disk, const struct loop_info64 *lo,
			    struct copylog_id *id, int depth)
{
	struct {
		char name[PATH_MAX + 64], link[64], sys[PATH_MAX];
		struct loop_info64 li;
	} *b = calloc(1, sizeof(*b));   /* not on the stack: it recurses */
	const char *names[2] = { NULL, (const char *)lo->lo_file_name };
	dev_t dev = loop_info_dev(lo->lo_device);
	struct stat st;

	if (!b)
		return;
	if (read_sysfs(disk, "loop/backing_file", b->name, sizeof(b->name)) == 0)
		names[0] = b->name;
	for (int i = 0; i < 2; i++) {
		int fd;

		if (!names[i] || names[i][0] != '/' || strnlen(names[i], LO_NAME_SIZE) == 0 ||
		    stat(names[i], &st) || st.st_dev != dev || st.st_ino != (ino_t)lo->lo_inode)
			continue;
		if (S_ISREG(st.st_mode)) {
			id->mtime_sec = st.st_mtim.tv_sec;
			id->mtime_nsec = (uint64_t)st.st_mtim.tv_nsec;
			id->ctime_sec = st.st_ctim.tv_sec;
			id->ctime_nsec = (uint64_t)st.st_ctim.tv_nsec;
			id->known |= COPYLOG_HAS_LOOP_TIMES;
			break;
		}
		if (!S_ISBLK(st.st_mode) || depth >= 6 ||
		    (fd = open(names[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0)
			break;
		snprintf(b->link, sizeof(b->link), "/sys/dev/block/%u:%u/loop", major(st.st_rdev),
			 minor(st.st_rdev));
		if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && access(b->link, F_OK) == 0 &&
		    ioctl(fd, LOOP_GET_STATUS64, &b->li) == 0 && b->li.lo_inode) {
			*strrchr(b->link, '/') = 0;
			if (realpath(b->link, b->sys))
				loop_file_times(b->sys, &b->li, id, depth + 1);
		}
		close(fd);
		break;
	}
	free(b);
}

static void block_identity(int fd, const struct stat *st, struct copylog_id *id)
{
	/* Static (only the main thread opens a log): 12 KiB off the stack. */
	static char sys[PATH_MAX], disk[PATH_MAX], sub[PATH_MAX + 64];
	char link[64], *slash;
	struct loop_info64 lo = { 0 };   /* valgrind does not know this ioctl */
	uint64_t seq = 0;

	id->kind = COPYLOG_BLOCK;
	id->dev = st->st_rdev;
	if (ioctl(fd, BLKGETSIZE64, &id->size))
		id->size = 0;
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(st->st_rdev), minor(st->st_rdev));
	if (!realpath(link, sys))
		return;
	memcpy(disk, sys, sizeof(disk));
	snprintf(sub, sizeof(sub), "%s/partition", sys);
	if (access(sub, F_OK) == 0) {
		id->start = sysfs_u64(sys, "start") * 512;
		slash = strrchr(disk, '/');
		if (slash)
			*slash = 0;
	}
#ifdef BLKGETDISKSEQ
	if (ioctl(fd, BLKGETDISKSEQ, &seq))
		seq = 0;
#endif
	id->diskseq = seq ? seq : sysfs_u64(disk, "diskseq");
	id->serial = disk_serial(disk);
	snprintf(sub, sizeof(sub), "%s/loop", disk);
	if (access(sub, F_OK) == 0 && ioctl(fd, LOOP_GET_STATUS64, &lo) == 0) {
		id->lo_dev = lo.lo_device;
		id->lo_ino = lo.lo_inode;
		id->lo_offset = lo.lo_offset;
		id->lo_sizelimit = lo.lo_sizelimit;
		if (lo.lo_inode)
			loop_file_times(disk, &lo, id, 0);
	}
}

/* What tells a file from one made later at the same path with the same
 * inode number: its birth time and inode generation, each only where the
 * file system gives it. */
static void file_birth(int fd, struct copylog_id *id)
{
	struct statx stx;
	/* FS_IOC_GETVERSION is declared with a long, but file systems store an
	 * int: room for either, read as the int. */
	union { long l; int i; } gen = { 0 };

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BTIME, &stx) == 0 &&
	    (stx.stx_mask & STATX_BTIME) && stx.stx_btime.tv_nsec < 1000000000) {
		id->btime_sec = stx.stx_btime.tv_sec;
		id->btime_nsec = stx.stx_btime.tv_nsec;
		id->known |= COPYLOG_HAS_BTIME;
	}
	if (ioctl(fd, FS_IOC_GETVERSION, &gen) == 0) {
		id->generation = (uint32_t)gen.i;
		id->known |= COPYLOG_HAS_GENERATION;
	}
}

int copylog_identify(int fd, struct copylog_id *id)
{
	int saved = errno, ret = 0;
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (fstat(fd, &st)) {
		ret = -errno;
	} else if (S_ISREG(st.st_mode)) {
		*id = (struct copylog_id){ .kind = COPYLOG_FILE, .dev = st.st_dev, .ino = st.st_ino,
					   .size = (uint64_t)st.st_size,
					   .mtime_sec = st.st_mtim.tv_sec,
					   .mtime_nsec = (uint64_t)st.st_mtim.tv_nsec,
					   .ctime_sec = st.st_ctim.tv_sec,
					   .ctime_nsec = (uint64_t)st.st_ctim.tv_nsec };
		file_birth(fd, id);
	} else if (S_ISBLK(st.st_mode)) {
		block_identity(fd, &st, id);
	} else {
		ret = -EINVAL;
	}
	errno = saved;
	return ret;
}

/* Do b's times differ from a's: a settled file's not at all, else only a
 * change time later than recorded (the run's own writes) is expected. */
static const char *times_change(const struct copylog_id *a, const struct copylog_id *b,
				bool settled, const char *mtime, const char *ctime)
{
	if (settled && (a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec))
		return mtime;
	if (settled ? a->ctime_sec != b->ctime_sec || a->ctime_nsec != b->ctime_nsec :
	    b->ctime_sec < a->ctime_sec ||
	    (b->ctime_sec == a->ctime_sec && b->ctime_nsec < a->ctime_nsec))
		return ctime;
	return NULL;
}

/* What differs between the identity a log recorded and the one there now,
 * or NULL.  Without the same boot, numbers the kernel hands out afresh at
 * every boot (device numbers, disk sequence numbers) are not compared.
 * Unless settled, a change time later than recorded is expected. */
static const char *id_change(const struct copylog_id *a, const struct copylog_id *b,
			     bool same_boot, bool settled)
{
	if (a->kind != b->kind)
		return a->kind == COPYLOG_NONE ? "it did not exist" :
		       b->kind == COPYLOG_NONE ? "it does not exist" : "its type";
	if (a->kind == COPYLOG_FILE) {
		if ((same_boot && a->dev != b->dev) || a->ino != b->ino)
			return "another file: device and inode number";
		/* The same inode number, given again to a new file. */
		if ((a->known & b->known & COPYLOG_HAS_BTIME) &&
		    (a->btime_sec != b->btime_sec || a->btime_nsec != b->btime_nsec))
			return "another file: birth time";
		if ((a->known & b->known & COPYLOG_HAS_GENERATION) && a->generation != b->generation)
			return "another file: inode generation";
		if (a->size != b->size)
			return "size";
		return times_change(a, b, settled, "modification time", "change time");
	}
	if (a->kind != COPYLOG_BLOCK)
		return NULL;
	if (same_boot && a->dev != b->dev)
		return "device number";
	if (a->size != b->size)
		return "size";
	if (a->serial != b->serial)
		return "serial number";
	if (a->start != b->start)
		return "partition start";
	if (same_boot && a->diskseq != b->diskseq)
		return "disk sequence number: another medium or loop attachment";
	if ((same_boot && a->lo_dev != b->lo_dev) || a->lo_ino != b->lo_ino ||
	    a->lo_offset != b->lo_offset || a->lo_sizelimit != b->lo_sizelimit)
		return "the loop device's backing file";
	if (a->known & b->known & COPYLOG_HAS_LOOP_TIMES)
		return times_change(a, b, settled, "the loop device's backing file's modification time",
				    "the loop device's backing file's change time");
	/* Kept, and now not to be read (the file removed, or no name reaches
	 * it here): what it holds can no longer be vouched for. */
	if ((a->known & COPYLOG_HAS_LOOP_TIMES) && !(b->known & COPYLOG_HAS_LOOP_TIMES))
		return "the loop device's backing file's times can no longer be read (removed, or "
		       "no name reaches it)";
	return NULL;
}

/* ---- text -------------------------------------------------------------- */

/* Paths are written with every byte outside '!'..'~', and '%', as %XX. */
static void put_path(FILE *f, const char *p)
{
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c > ' ' && c < 0x7f && c != '%')
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

/* A path from a log, fit for a message: encoded as in the log (a hostile
 * log must not put control characters on the user's terminal), cut short
 * to fit buf. */
static const char *shown(const char *p, char *buf, size_t size)
{
	size_t n = 0;

	for (; *p && n + 4 < size; p++) {
		unsigned char c = (unsigned char)*p;

		if (c > ' ' && c < 0x7f && c != '%')
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, size - n, "%%%02X", c);
	}
	if (*p && size > 4)
		memcpy(buf + (n < size - 4 ? n : size - 4), "...", 4);
	else
		buf[n < size ? n : size - 1] = 0;
	return buf;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode an encoded path in place; false if malformed. */
static bool decode_path(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (*s != '%') {
			*out++ = *s;
			continue;
		}
		if (hexval(s[1]) < 0 || hexval(s[2]) < 0 || (hexval(s[1]) == 0 && hexval(s[2]) == 0))
			return false;
		*out++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
		s += 2;
	}
	*out = 0;
	return true;
}

/* A number: decimal, or hexadecimal with 0x; no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *v)
{
	int base = 10;
	uint64_t x = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		int d = hexval(*s);

		if (d < 0 || d >= base || x > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return false;
		x = x * (uint64_t)base + (uint64_t)d;
	}
	*v = x;
	return true;
}

static const char *const kind_names[] = { "none", "file", "block" };

static void put_id(FILE *f, const struct copylog_id *id)
{
	const uint64_t v[ID_NUMBERS] = { id->dev, id->ino, id->size, (uint64_t)id->mtime_sec,
					 id->mtime_nsec, (uint64_t)id->ctime_sec, id->ctime_nsec,
					 id->diskseq, id->serial, id->start, id->lo_dev, id->lo_ino,
					 id->lo_offset, id->lo_sizelimit, (uint64_t)id->btime_sec,
					 id->btime_nsec, id->generation, id->known };

	fprintf(f, " %s", kind_names[id->kind < 3 ? id->kind : 0]);
	for (int i = 0; i < ID_NUMBERS; i++)
		fprintf(f, " 0x%" PRIx64, v[i]);
	fputc('\n', f);
}

char *copylog_format(const struct copylog *l, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	uint32_t crc;

	if (!f)
		return NULL;
	fprintf(f, HEAD " the chunks of the range each destination holds durably.\n"
		   "# \"map DEST OFFSET LENGTH +\" copied, \"?\" still to copy; offsets are\n"
		   "# bytes from the start of the range.  See kcopyd(1), THE COPY LOG.\n");
	fprintf(f, "%s\nboot %s\nstate %s\nsource ", MAGIC, l->boot, l->closed ? "closed" : "open");
	put_path(f, l->source);
	fprintf(f, " 0x%" PRIx64, l->source_size);
	put_id(f, &l->source_id);
	fprintf(f, "range 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 "\nchunk 0x%" PRIx64 "\n",
		l->offset, l->length, l->dest_offset, l->chunk);
	for (unsigned int d = 0; d < l->ndests; d++) {
		fprintf(f, "dest %u ", d);
		put_path(f, l->dests[d]);
		put_id(f, &l->dest_ids[d]);
	}
	for (unsigned int d = 0; d < l->ndests; d++) {
		const uint64_t *done = bitmap(l->done, l, d);
		uint64_t i = 0;

		while (i < l->nchunks || (i == 0 && l->length == 0)) {
			bool state = l->nchunks ? test_bit(done, i) : false;
			uint64_t j = i;

			while (j < l->nchunks && test_bit(done, j) == state)
				j++;
			fprintf(f, "map %u 0x%" PRIx64 " 0x%" PRIx64 " %c\n", d, i * l->chunk,
				(j < l->nchunks ? j * l->chunk : l->length) - i * l->chunk,
				state ? '+' : '?');
			if (!l->nchunks)
				break;
			i = j;
		}
	}
	fflush(f);
	crc = crc32_of(buf, size);
	fprintf(f, "checksum 0x%08" PRIx32 "\nend\n", crc);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

/* ---- reading ----------------------------------------------------------- */

enum { S_MAGIC, S_BOOT, S_STATE, S_SOURCE, S_RANGE, S_CHUNK, S_DESTS, S_MAP, S_END, S_DONE };

struct parser {
	const struct copylog_key *key;
	struct copylog *l;
	char *why;
	size_t whylen;
	unsigned int lineno, state, ndests_seen;
	char boot[MAX_BOOT + 1];
	bool closed;
	char *source;                            /* from the source line */
	struct copylog_id source_id;
	bool source_unchecked;                   /* written by hand, without an identity */
	uint64_t size, offset, length, dest_offset;
	uint64_t next_off[COPYLOG_MAX_DESTS];    /* where each destination's map goes on */
	uint64_t run_start[COPYLOG_MAX_DESTS];   /* start of the current '+' run, or UINT64_MAX */
};

#define BAD(...) fail(p->why, p->whylen, -EBADMSG, __VA_ARGS__)
#define STALE(...) fail(p->why, p->whylen, -ESTALE, __VA_ARGS__)

/* Record a run of '+' bytes [a, b) of dest: the chunks wholly inside are done. */
static void apply_run(struct parser *p, unsigned int d, uint64_t a, uint64_t b)
{
	struct copylog *l = p->l;

	for (uint64_t i = (a + l->chunk - 1) / l->chunk; i < l->nchunks; i++) {
		if (i * l->chunk + chunk_len(l, i) > b)
			break;
		set_bit(bitmap(l->done, l, d), i);
	}
}

/* Does a source or dest line of n words end in an identity? */
static bool has_id(int n)
{
	return n == 4 + ID_NUMBERS || n == 4 + ID_NUMBERS_OLD;
}

/* "KIND N1 ... N18" (or N14: an older log, which knows no birth time or
 * generation), count numbers: an identity, with nothing set that its kind
 * lacks. */
static bool parse_id(char **w, int count, struct copylog_id *id)
{
	uint64_t v[ID_NUMBERS] = { 0 };
	unsigned int kind;

	for (kind = 0; kind < 3; kind++)
		if (!strcmp(w[0], kind_names[kind]))
			break;
	if (kind == 3)
		return false;
	for (int i = 0; i < count; i++)
		if (!parse_u64(w[i + 1], &v[i]))
			return false;
	*id = (struct copylog_id){ .kind = kind, .dev = v[0], .ino = v[1], .size = v[2],
				   .mtime_sec = (int64_t)v[3], .mtime_nsec = v[4],
				   .ctime_sec = (int64_t)v[5], .ctime_nsec = v[6], .diskseq = v[7],
				   .serial = v[8], .start = v[9], .lo_dev = v[10], .lo_ino = v[11],
				   .lo_offset = v[12], .lo_sizelimit = v[13],
				   .btime_sec = (int64_t)v[14], .btime_nsec = v[15],
				   .generation = v[16], .known = v[17] };
	if (id->mtime_nsec >= 1000000000 || id->ctime_nsec >= 1000000000 ||
	    id->btime_nsec >= 1000000000)
		return false;
	switch (kind) {
	case COPYLOG_NONE:
		for (int i = 0; i < ID_NUMBERS; i++)
			if (v[i])
				return false;
		return true;
	case COPYLOG_FILE:
		for (int i = 7; i < 14; i++)
			if (v[i])
				return false;
		/* What is not known is zero; a generation is 32 bits. */
		return !(id->known & ~(uint64_t)(COPYLOG_HAS_BTIME | COPYLOG_HAS_GENERATION)) &&
		       ((id->known & COPYLOG_HAS_BTIME) || (!v[14] && !v[15])) &&
		       ((id->known & COPYLOG_HAS_GENERATION) || !v[16]) && v[16] <= UINT32_MAX;
	default:
		for (int i = 14; i < ID_NUMBERS - 1; i++)
			if (v[i])
				return false;
		/* Times only of a loop device's file, where known. */
		return !v[1] && !(id->known & ~(uint64_t)COPYLOG_HAS_LOOP_TIMES) &&
		       ((id->known & COPYLOG_HAS_LOOP_TIMES) || (!v[3] && !v[4] && !v[5] && !v[6]));
	}
}

static bool same_boot(const struct parser *p)
{
	return p->key->boot && strcmp(p->boot, "-") != 0 && strcmp(p->boot, p->key->boot) == 0;
}

/* The header is read: is this log about this copy? */
static int check_key(struct parser *p, uint64_t chunk)
{
	const struct copylog_key *k = p->key;
	const char *what;
	char buf[256];

	if (strcmp(p->source, k->source) != 0)
		return STALE("it was written for the source %s", shown(p->source, buf, sizeof(buf)));
	if (k->source_written ? p->size > k->source_size : p->size != k->source_size)
		return STALE("the source had %" PRIu64 " bytes then, %" PRIu64 " now", p->size,
			     k->source_size);
	if (p->offset != k->offset || p->length != k->length || p->dest_offset != k->dest_offset)
		return STALE("it was written for another range (offset %" PRIu64 ", length %" PRIu64
			     ", dest-offset %" PRIu64 ")", p->offset, p->length, p->dest_offset);
	if (!chunk || chunk % 512 || chunk > COPYLOG_MAX_CHUNK ||
	    (p->length + chunk - 1) / chunk > COPYLOG_MAX_CHUNKS)
		return BAD("line %u: the chunk size %" PRIu64 " is not usable", p->lineno, chunk);
	/* The source is only read: any change since the log began is not ours
	 * (but for a source we write too: then only which file it is). */
	if (p->source_unchecked) {
		what = NULL;
	} else if (k->source_written) {
		struct copylog_id then = p->source_id, now = k->source_id;

		then.size = now.size;
		then.mtime_sec = now.mtime_sec;
		then.mtime_nsec = now.mtime_nsec;
		then.ctime_sec = now.ctime_sec;
		then.ctime_nsec = now.ctime_nsec;
		what = id_change(&then, &now, same_boot(p), true);
	} else {
		what = id_change(&p->source_id, &k->source_id, same_boot(p), true);
	}
	if (what)
		return fail(p->why, p->whylen, -EUCLEAN,
			    "the source changed since the log was written (%s)", what);
	p->l = alloc_log(k, chunk);
	if (!p->l)
		return fail(p->why, p->whylen, -ENOMEM, "out of memory");
	p->l->closed = p->closed;
	for (unsigned int d = 0; d < COPYLOG_MAX_DESTS; d++)
		p->run_start[d] = UINT64_MAX;
	return 0;
}

static int dest_line(struct parser *p, char **w, int n)
{
	unsigned int d = p->ndests_seen;
	struct copylog_id id;
	char buf[256];
	uint64_t v;

	if ((n != 3 && !has_id(n)) || strcmp(w[0], "dest") || !parse_u64(w[1], &v) ||
	    !decode_path(w[2]) || (n > 3 && !parse_id(w + 3, n - 4, &id)))
		return n && !strcmp(w[0], "map") ?
		       STALE("it was written for %u destinations, not %u", d, p->key->ndests) :
		       BAD("line %u: expected \"dest INDEX PATH IDENTITY\"", p->lineno);
	if (v != d)
		return BAD("line %u: destination %" PRIu64 " out of order", p->lineno, v);
	if (strcmp(w[2], p->key->dests[d]) != 0)
		return STALE("destination %u was %s", d, shown(w[2], buf, sizeof(buf)));
	/* Not what the log last saw: its progress is forgotten (end_maps).
	 * A log written by hand may leave the identity out: it vouches for
	 * the destination itself. */
	if (n > 3)
		p->l->changed[d] = id_change(&id, &p->key->dest_ids[d], same_boot(p), p->closed);
	if (++p->ndests_seen == p->key->ndests)
		p->state = S_MAP;
	return 0;
}

static int map_line(struct parser *p, char **w, int n)
{
	uint64_t d, off, len;
	char buf[8];

	if (n != 5 || !parse_u64(w[1], &d) || !parse_u64(w[2], &off) || !parse_u64(w[3], &len) ||
	    strlen(w[4]) != 1)
		return BAD("line %u: expected \"map DEST OFFSET LENGTH STATUS\"", p->lineno);
	if (d >= p->l->ndests)
		return BAD("line %u: there is no destination %" PRIu64, p->lineno, d);
	if (off != p->next_off[d])
		return BAD("line %u: destination %" PRIu64 " is mapped out of order or twice at %" PRIu64,
			   p->lineno, d, off);
	if ((!len && p->length) || len > p->length - off)
		return BAD("line %u: the region %" PRIu64 "+%" PRIu64 " is not inside the range",
			   p->lineno, off, len);
	switch (w[4][0]) {
	case '+':
		if (p->run_start[d] == UINT64_MAX)
			p->run_start[d] = off;
		break;
	case '?':
	case '-':
		if (p->run_start[d] != UINT64_MAX)
			apply_run(p, (unsigned int)d, p->run_start[d], off);
		p->run_start[d] = UINT64_MAX;
		break;
	default:
		return BAD("line %u: unknown status '%s'", p->lineno, shown(w[4], buf, sizeof(buf)));
	}
	p->next_off[d] = off + len;
	return 0;
}

static int end_maps(struct parser *p)
{
	struct copylog *l = p->l;

	for (unsigned int d = 0; d < l->ndests; d++) {
		uint64_t *done = bitmap(l->done, l, d);
		bool any = false;

		if (p->next_off[d] != p->length)
			return BAD("destination %u is mapped up to %" PRIu64 " of %" PRIu64 " bytes",
				   d, p->next_off[d], p->length);
		if (p->run_start[d] != UINT64_MAX)
			apply_run(p, d, p->run_start[d], p->length);
		if (!l->changed[d])
			continue;
		for (size_t i = 0; i < l->words; i++) {
			any |= done[i] != 0;
			done[i] = 0;
		}
		if (!any)
			l->changed[d] = NULL;       /* nothing to forget */
	}
	return 0;
}

/* "boot ID": this boot's id, or "-". */
static bool parse_boot(struct parser *p, char **w, int n)
{
	size_t len;

	if (n != 2 || strcmp(w[0], "boot"))
		return false;
	len = strlen(w[1]);
	if (len > MAX_BOOT || strspn(w[1], "0123456789abcdef-") != len)
		return false;
	memcpy(p->boot, w[1], len + 1);
	return true;
}

static int parse_line(struct parser *p, char *line, const char *text, const char *line_start)
{
	char *w[MAX_WORDS], *save = NULL, buf[24];
	uint64_t v[3];
	int n = 0;

	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == MAX_WORDS)
			return BAD("line %u: too many words", p->lineno);
		w[n++] = t;
	}
	switch (p->state) {
	case S_MAGIC:
		if (n != 2 || strcmp(w[0], MAGIC_WORD))
			return BAD("line %u: not a kcopyd log (no \"%s\" line)", p->lineno, MAGIC);
		if (!parse_u64(w[1], &v[0]) || v[0] != COPYLOG_VERSION)
			return fail(p->why, p->whylen, -EPROTO,
				    "it is in format %s of the copy log, and this kcopyd reads "
				    "only format %d (remove it to copy everything again)",
				    shown(w[1], buf, sizeof(buf)),
				    COPYLOG_VERSION);
		break;
	case S_BOOT:
		if (!parse_boot(p, w, n))
			return BAD("line %u: expected \"boot ID\"", p->lineno);
		break;
	case S_STATE:
		if (n != 2 || strcmp(w[0], "state") || (strcmp(w[1], "open") && strcmp(w[1], "closed")))
			return BAD("line %u: expected \"state open\" or \"state closed\"", p->lineno);
		p->closed = !strcmp(w[1], "closed");
		break;
	case S_SOURCE:
		if ((n != 3 && !has_id(n)) || strcmp(w[0], "source") || !decode_path(w[1]) ||
		    !parse_u64(w[2], &p->size) ||
		    (n > 3 && (!parse_id(w + 3, n - 4, &p->source_id) ||
			       p->source_id.kind == COPYLOG_NONE)))
			return BAD("line %u: expected \"source PATH SIZE IDENTITY\"", p->lineno);
		p->source_unchecked = n == 3;
		p->source = strdup(w[1]);
		if (!p->source)
			return fail(p->why, p->whylen, -ENOMEM, "out of memory");
		break;
	case S_RANGE:
		if (n != 4 || strcmp(w[0], "range") || !parse_u64(w[1], &p->offset) ||
		    !parse_u64(w[2], &p->length) || !parse_u64(w[3], &p->dest_offset))
			return BAD("line %u: expected \"range OFFSET LENGTH DEST-OFFSET\"", p->lineno);
		break;
	case S_CHUNK:
		if (n != 2 || strcmp(w[0], "chunk") || !parse_u64(w[1], &v[0]))
			return BAD("line %u: expected \"chunk SIZE\"", p->lineno);
		n = check_key(p, v[0]);
		if (n)
			return n;
		p->state = p->key->ndests ? S_DESTS : S_MAP;
		return 0;
	case S_DESTS:
		return dest_line(p, w, n);
	case S_MAP:
		if (n && !strcmp(w[0], "map"))
			return map_line(p, w, n);
		if (n && !strcmp(w[0], "dest"))
			return STALE("it was written for more than %u destination%s", p->key->ndests,
				     p->key->ndests == 1 ? "" : "s");
		if (n == 2 && !strcmp(w[0], "checksum")) {
			if (!parse_u64(w[1], &v[0]) || v[0] != crc32_of(text, (size_t)(line_start - text)))
				return BAD("line %u: the checksum does not match: the log is damaged",
					   p->lineno);
			p->state = S_END;
			return end_maps(p);
		}
		if (n == 1 && !strcmp(w[0], "end")) {
			p->state = S_DONE;
			return end_maps(p);
		}
		return BAD("line %u: expected \"map\", \"checksum\" or \"end\"", p->lineno);
	case S_END:
		if (n != 1 || strcmp(w[0], "end"))
			return BAD("line %u: expected \"end\"", p->lineno);
		p->state = S_DONE;
		return 0;
	default:
		return BAD("line %u: text after the end line", p->lineno);
	}
	p->state++;
	return 0;
}

/* A damaged log is called damaged, whatever line the damage is in: the
 * checksum line, if there is one, is checked before anything is read. */
static int check_sum_first(const char *text, size_t len, char *why, size_t whylen)
{
	unsigned int lineno = 0;

	for (size_t pos = 0; pos < len;) {
		const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		char word[32];
		uint64_t v;

		lineno++;
		pos += n + 1;
		if (n < 10 || n >= 9 + sizeof(word) || memcmp(start, "checksum ", 9))
			continue;
		memcpy(word, start + 9, n - 9);
		word[n - 9] = 0;
		if (!parse_u64(word, &v) || v != crc32_of(text, (size_t)(start - text)))
			return fail(why, whylen, -EBADMSG,
				    "line %u: the checksum does not match: the log is damaged", lineno);
		return 0;
	}
	return 0;
}

int copylog_parse(const char *text, size_t len, const struct copylog_key *key,
		  struct copylog **result, char *why, size_t whylen)
{
	struct parser p = { .key = key, .why = why, .whylen = whylen };
	char *line = malloc(len + 1);
	size_t pos = 0;
	int ret = 0;

	why[0] = 0;
	if (!line)
		return fail(why, whylen, -ENOMEM, "out of memory");
	if (key->ndests > COPYLOG_MAX_DESTS || memchr(text, 0, len))
		ret = fail(why, whylen, -EBADMSG, "not a text file");
	if (!ret)
		ret = check_sum_first(text, len, why, whylen);
	while (!ret && pos < len) {
		const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;

		if (!nl) {
			ret = fail(why, whylen, -EBADMSG, "line %u: cut short (no newline)", p.lineno + 1);
			break;
		}
		p.lineno++;
		pos += n + 1;
		memcpy(line, start, n);
		line[n] = 0;
		if (n == 0 || line[0] == '#')
			continue;
		ret = parse_line(&p, line, text, start);
	}
	if (!ret && p.state != S_DONE)
		ret = fail(why, whylen, -EBADMSG, "the log ends early (line %u): it is incomplete",
			   p.lineno);
	free(line);
	free(p.source);
	if (ret) {
		copylog_free(p.l);
		return ret;
	}
	*result = p.l;
	return 0;
}

/* ---- files --------------------------------------------------------------- */

static int read_all(int dirfd, const char *name, char **text, size_t *len)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC), ret = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_LOG_BYTES) {
		close(fd);
		return -EBADMSG;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (!*text) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, *text, (size_t)st.st_size, 0);
	if (n < 0)
		ret = -errno;
	else
		*len = (size_t)n;
	close(fd);
	if (ret)
		free(*text);
	return ret;
}

/* Lock path.lock for the whole run (until copylog_free).  The lock file is
 * removed by the run holding it; one found removed or replaced after
 * locking it is not the current one: try again. */
static int lock_log(struct copylog *l, const char *path, char *why, size_t whylen)
{
	struct stat a, b;

	if (asprintf(&l->lock_path, "%s.lock", path) < 0) {
		l->lock_path = NULL;
		return fail(why, whylen, -ENOMEM, "out of memory");
	}
	if (asprintf(&l->lock_name, "%s.lock", l->base) < 0) {
		l->lock_name = NULL;
		return fail(why, whylen, -ENOMEM, "out of memory");
	}
	for (int tries = 0; tries < 100; tries++) {
		/* Made here, or found: only one made here is removed at the end. */
		int fd = openat(l->dirfd, l->lock_name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
				O_NOCTTY | O_CLOEXEC, 0644);

		int create_err = fd < 0 ? errno : 0;

		l->lock_created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = openat(l->dirfd, l->lock_name, O_RDWR | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 && errno == EACCES)  /* another user's: locking needs no write */
			fd = openat(l->dirfd, l->lock_name, O_RDONLY | O_NOFOLLOW | O_NOCTTY |
				    O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create_err && create_err != EEXIST)
			/* Not there, and it cannot be made (a directory we may not
			 * write, /sys, /proc): why it cannot, not "another run". */
			return fail(why, whylen, -create_err, "cannot create its lock file %s: %s",
				    l->lock_path, strerror(create_err));
		if (fd < 0 && errno == ENOENT)  /* removed in between: again */
			continue;
		if (fd < 0)
			return fail(why, whylen, -errno, "cannot create its lock file %s: %s",
				    l->lock_path, strerror(errno));
		if (fstat(fd, &a) || !S_ISREG(a.st_mode)) {
			close(fd);
			return fail(why, whylen, -EBADMSG, "its lock file %s is not a regular file",
				    l->lock_path);
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			int err = errno;

			close(fd);
			if (err == EWOULDBLOCK)
				return fail(why, whylen, -EBUSY, "another kcopyd run is using it "
					    "(%s is locked)", l->lock_path);
			return fail(why, whylen, -err, "cannot lock %s: %s", l->lock_path,
				    strerror(err));
		}
		if (fstatat(l->dirfd, l->lock_name, &b, 0) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino) {
			l->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	return fail(why, whylen, -EBUSY, "another kcopyd run is using it (%s keeps changing)",
		    l->lock_path);
}

static int write_file(struct copylog *l, const char *buf, size_t len);
static int commit(struct copylog *l, bool closed);

/* The inode flags that forbid what the log's rewrites do (replace the
 * file, make and remove LOG.tmp and LOG.lock beside it): "" or why not.
 * A file system without the flags (FS_IOC_GETFLAGS unsupported) has none. */
static const char *frozen(int dirfd, const char *name)
{
	int fd = name ? openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY |
			       O_CLOEXEC) : dup(dirfd);
	int flags = 0;
	const char *why = "";

	if (fd < 0)
		return why;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		if (flags & FS_IMMUTABLE_FL)
			why = "immutable (chattr +i)";
		else if (flags & FS_APPEND_FL)
			why = "append-only (chattr +a)";
	}
	close(fd);
	return why;
}

/* Can the log be replaced, and its files beside it made and removed?
 * Asked before anything is created. */
static int check_replaceable(int dirfd, const char *path, const char *base, char *why,
			     size_t whylen)
{
	char *copy = strdup(path);
	const char *f;

	if (!copy)
		return fail(why, whylen, -ENOMEM, "out of memory");
	f = frozen(dirfd, base);
	if (f[0]) {
		free(copy);
		return fail(why, whylen, -EPERM, "cannot write it: it is %s", f);
	}
	f = frozen(dirfd, NULL);
	if (f[0]) {
		fail(why, whylen, -EPERM, "cannot write it: its directory %s is %s", dirname(copy), f);
		free(copy);
		return -EPERM;
	}
	free(copy);
	return 0;
}

/* Is name in dirfd the root of a mount (a file bind-mounted there)? */
static bool mount_point(int dirfd, const char *name)
{
	struct statx stx;

	return statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* The directory the log is in, opened once, and the log's name there. */
static int open_dir(const char *path, int *dirfd, char **base, char *why, size_t whylen)
{
	char *d = strdup(path), *b = strdup(path), *name;
	int ret = 0;

	if (!d || !b) {
		free(d);
		free(b);
		return fail(why, whylen, -ENOMEM, "out of memory");
	}
	name = basename(b);
	if (path[strlen(path) - 1] == '/' || !strcmp(name, ".") || !strcmp(name, "..") ||
	    !strcmp(name, "/")) {
		ret = fail(why, whylen, -EISDIR, "it names a directory: --log takes the name of "
			   "a file (made if it is not there)");
	} else {
		*dirfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*dirfd < 0)
			ret = fail(why, whylen, -errno, "cannot open its directory %s: %s", d,
				   strerror(errno));
		else if (!(*base = strdup(name)))
			ret = fail(why, whylen, -ENOMEM, "out of memory");
		else if (mount_point(*dirfd, name))
			ret = fail(why, whylen, -EBUSY, "it is a mount point (a bind mount of a "
				   "file): its rewrites replace it by renaming, which a mount "
				   "point refuses");
	}
	if (ret && *dirfd >= 0) {
		close(*dirfd);
		*dirfd = -1;
	}
	free(d);
	free(b);
	return ret;
}
static int probe_writable(struct copylog *l);

int copylog_open(const char *path, const struct copylog_key *key, uint64_t chunk,
		 struct copylog **result, char *why, size_t whylen)
{
	struct copylog *l = NULL, *lock = NULL;
	struct copylog_key k = *key;
	char boot[MAX_BOOT + 1];
	char *text = NULL;
	size_t len = 0;
	int ret;

	/* What copylog_parse accepts, so that a log written is a log read. */
	if (!chunk || chunk % 512 || chunk > COPYLOG_MAX_CHUNK ||
	    (key->length + chunk - 1) / chunk > COPYLOG_MAX_CHUNKS)
		return fail(why, whylen, -EINVAL, "the chunk size must be a multiple of 512 up to "
			    "2^43 and divide the range into at most %u chunks", COPYLOG_MAX_CHUNKS);
	if (!k.boot && read_text("/proc/sys/kernel/random/boot_id", boot, sizeof(boot)) == 0 &&
	    boot[0] && strspn(boot, "0123456789abcdef-") == strlen(boot))
		k.boot = boot;
	/* The lock comes first: a log in use by another run is not even read. */
	lock = calloc(1, sizeof(*lock));
	if (!lock)
		return fail(why, whylen, -ENOMEM, "out of memory");
	lock->lock_fd = -1;
	lock->spare_fd = -1;
	lock->dirfd = -1;
	ret = open_dir(path, &lock->dirfd, &lock->base, why, whylen);
	if (!ret)
		ret = check_replaceable(lock->dirfd, path, lock->base, why, whylen);
	if (ret) {
		copylog_free(lock);
		return ret;
	}
	ret = lock_log(lock, path, why, whylen);
	if (ret) {
		copylog_free(lock);
		return ret;
	}
	ret = read_all(lock->dirfd, lock->base, &text, &len);
	if (ret == -ENOENT) {
		l = alloc_log(&k, chunk);
		if (!l) {
			copylog_free(lock);
			return fail(why, whylen, -ENOMEM, "out of memory");
		}
		l->closed = true;               /* no run has written anything yet */
	} else if (ret) {
		copylog_free(lock);
		return fail(why, whylen, ret, "cannot read it: %s",
			    ret == -EBADMSG ? "not a regular file of a sane size" : strerror(-ret));
	} else {
		ret = copylog_parse(text, len, &k, &l, why, whylen);
		free(text);
		if (ret) {
			copylog_free(lock);
			return ret;
		}
	}
	l->lock_fd = lock->lock_fd;
	l->lock_path = lock->lock_path;
	l->lock_name = lock->lock_name;
	l->lock_created = lock->lock_created;
	l->dirfd = lock->dirfd;
	l->base = lock->base;
	free(lock);
	l->path = strdup(path);
	if (!l->path) {
		copylog_free(l);
		return fail(why, whylen, -ENOMEM, "out of memory");
	}
	/* A log that cannot be written is found before any copy; but it is
	 * first written by copylog_begin, so that a command refused after
	 * this point (by the caller's own checks) leaves it as it was. */
	ret = probe_writable(l);
	if (ret == -EEXIST) {
		copylog_free(l);
		return fail(why, whylen, ret, "its temporary file %s.tmp is there and is not a "
			    "left-over of a kcopyd log; it is not removed (it may be another name "
			    "of someone's data): remove it, or give another --log", path);
	}
	if (ret) {
		copylog_free(l);
		return fail(why, whylen, ret, "cannot write it: %s", strerror(-ret));
	}
	/* The descriptor each rewrite of the log will need, held from now. */
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (l->spare_fd < 0) {
		ret = -errno;
		copylog_free(l);
		return fail(why, whylen, ret, "cannot keep a descriptor for its rewrites "
			    "(ulimit -n?): %s", strerror(-ret));
	}
	*result = l;
	return 0;
}

const char *copylog_dest_changed(const struct copylog *l, unsigned int dest)
{
	return dest < l->ndests ? l->changed[dest] : NULL;
}

uint64_t copylog_chunk(const struct copylog *l)
{
	return l->chunk;
}

uint64_t copylog_chunks(const struct copylog *l)
{
	return l->nchunks;
}

bool copylog_is_done(const struct copylog *l, unsigned int dest, uint64_t chunk)
{
	return dest < l->ndests && chunk < l->nchunks && test_bit(bitmap(l->done, l, dest), chunk);
}

uint64_t copylog_todo_bytes(const struct copylog *l)
{
	uint64_t todo = 0;

	for (unsigned int d = 0; d < l->ndests; d++)
		for (uint64_t i = 0; i < l->nchunks; i++)
			if (!copylog_is_done(l, d, i))
				todo += chunk_len(l, i);
	return todo;
}

void copylog_mark(struct copylog *l, unsigned int dest, uint64_t chunk)
{
	if (dest < l->ndests && chunk < l->nchunks)
		set_bit(bitmap(l->marked, l, dest), chunk);
}

/* May what is at tmp be removed, losing nothing?  A left-over of one of
 * our rewrites, which a crash left there: it begins as copylog_format's
 * text does (HEAD; or, without the comment lines, with the magic word; the
 * probe at set-up writes the log's text too), or is empty (a crash just
 * after making it).  Or a symbolic link: removing it leaves the file it
 * names.  Nothing else: not even a hard link, whose count of names says
 * nothing certain through an overlay (its index, with index=on, is one). */
static bool our_leftover(int dirfd, const char *tmp)
{
	char head[sizeof(HEAD) - 1];
	ssize_t n;
	struct stat st;
	bool ours;
	int fd;

	if (fstatat(dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW))
		return false;
	if (S_ISLNK(st.st_mode))
		return true;
	if (!S_ISREG(st.st_mode))
		return false;           /* not opened: a device node, a FIFO */
	fd = openat(dirfd, tmp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (ours && st.st_size) {
		n = pread(fd, head, sizeof(head), 0);
		ours = (n > 0 && (size_t)n <= sizeof(head) && n == st.st_size &&
			!memcmp(head, HEAD, (size_t)n)) ||      /* cut short within it */
		       (n == (ssize_t)sizeof(head) && !memcmp(head, HEAD, sizeof(head))) ||
		       (n >= (ssize_t)sizeof(MAGIC_WORD) - 1 &&
			!memcmp(head, MAGIC_WORD, sizeof(MAGIC_WORD) - 1));
	}
	close(fd);
	return ours;
}

/* Create the log's temporary file LOG.tmp afresh, beside it: a new file (O_EXCL),
 * never one found under that name.  One that is there is removed only if
 * that loses nothing (our_leftover): anything else may be the only name of
 * someone's data (a file of an overlayfs layer, say, which no name check
 * can tell for sure), and is never touched: -EEXIST.  Returns the descriptor and
 * sets *tmpp (malloc'd), or a negative errno. */
static int create_tmp(const struct copylog *l, char **tmpp)
{
	size_t plen = strlen(l->base);
	char *tmp = malloc(plen + 16);
	int fd = -EEXIST;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, plen + 16, "%s.tmp", l->base);
	for (int tries = 0; tries < 3 && fd == -EEXIST; tries++) {
		fd = openat(l->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			fd = -errno;
		if (fd != -EEXIST)
			break;
		if (!our_leftover(l->dirfd, tmp))
			break;          /* -EEXIST: not ours, left alone */
		if (unlinkat(l->dirfd, tmp, 0) < 0 && errno != ENOENT) {
			fd = -errno;    /* ours, but it cannot be removed: why */
			break;
		}
	}
	if (fd < 0)
		free(tmp);
	else
		*tmpp = tmp;
	return fd;
}

/* Can the log be written (its temporary file made, beside it)?  Asked at
 * set-up, when nothing may change yet: the log itself is left as it is. */
/* Can the log be rewritten (LOG.tmp made beside it, as long as the log
 * will be, and renamed)?  Writing that much, now, finds a file system too
 * full for the log before any destination is created, not at the first
 * commit.  The margin is for what the log's text gains during the run (the
 * identities of the files it creates). */
#define PROBE_MARGIN 4096u
static int probe_writable(struct copylog *l)
{
	size_t len = 0, want;
	struct rlimit rl;
	char *tmp, *text = copylog_format(l, &len);
	int fd, ret = 0;

	if (!text)
		return -ENOMEM;
	want = len + PROBE_MARGIN;
	/* Not past ulimit -f when the log itself fits under it: the margin
	 * must not refuse a log that can be written. */
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur >= len && rl.rlim_cur < want)
		want = (size_t)rl.rlim_cur;
	fd = create_tmp(l, &tmp);
	if (fd < 0) {
		free(text);
		return fd;
	}
	/* The log's text, then zeros: a crash leaves a file that says whose. */
	{
		char *pad = calloc(1, want);

		if (pad)
			memcpy(pad, text, len < want ? len : want);
		free(text);
		text = pad;
	}
	if (!text)
		ret = -ENOMEM;
	for (size_t off = 0; off < want && !ret;) {
		ssize_t n = write(fd, text + off, want - off);

		if (n < 0 && errno != EINTR)
			ret = -errno;
		else if (n == 0)
			ret = -ENOSPC;
		else if (n > 0)
			off += (size_t)n;
	}
	free(text);
	close(fd);
	unlinkat(l->dirfd, tmp, 0);
	free(tmp);
	return ret;
}

/* fsync, tried again when the file system answers EINTR (as the library
 * does): 0 or -errno. */
static int fsync_again(int fd)
{
	for (unsigned int tries = 0;; tries++) {
		if (fsync(fd) == 0)
			return 0;
		if (errno != EINTR || tries >= 10)
			return -errno;
		usleep(1000u << (tries < 7 ? tries : 7));
	}
}

/* fsync the log's directory: what was renamed or removed there is
 * durable.  Returns 0 or a negative errno. */
static int sync_dir(const struct copylog *l)
{
	return fsync_again(l->dirfd);
}

static int write_file(struct copylog *l, const char *buf, size_t len)
{
	char *tmp;
	int fd, ret = 0;

	fd = create_tmp(l, &tmp);
	if (fd < 0)
		return fd;
	for (size_t off = 0; off < len && !ret;) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno != EINTR)
			ret = -errno;
		else if (n == 0)
			ret = -EIO;     /* no progress: never loop on it */
		else if (n > 0)
			off += (size_t)n;
	}
	if (!ret)
		ret = fsync_again(fd);
	close(fd);
	if (!ret && renameat(l->dirfd, tmp, l->dirfd, l->base) < 0)
		ret = -errno;
	if (ret) {
		unlinkat(l->dirfd, tmp, 0);
		free(tmp);
		return ret;
	}
	/* The rename is durable once the directory is. */
	free(tmp);
	return sync_dir(l);
}

static int commit(struct copylog *l, bool closed)
{
	size_t len;
	char *text;
	int ret;

	/* The marks join what is done only once the file says so: a write
	 * that fails leaves in memory what the log on disk holds, so that the
	 * summary's resume point is the one a rerun will take. */
	for (size_t i = 0; i < l->words * l->ndests; i++) {
		l->marked[i] &= ~l->done[i];
		l->done[i] |= l->marked[i];
	}
	/* After the flush: what each destination is, holding what it holds. */
	for (unsigned int d = 0; d < l->ndests; d++)
		if (l->dest_fds[d] && *l->dest_fds[d] >= 0 &&
		    copylog_identify(*l->dest_fds[d], &l->dest_ids[d]))
			l->dest_ids[d] = (struct copylog_id){ .kind = COPYLOG_NONE };
	l->closed = closed;
	text = l->path ? copylog_format(l, &len) : NULL;
	if (l->spare_fd >= 0) {       /* the descriptor kept for this */
		close(l->spare_fd);
		l->spare_fd = -1;
	}
	ret = !l->path ? 0 : text ? write_file(l, text, len) : -ENOMEM;
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	free(text);
	for (size_t i = 0; i < l->words * l->ndests; i++) {
		if (ret)
			l->done[i] &= ~l->marked[i];
		l->marked[i] = 0;
	}
	return ret;
}

void copylog_forget(struct copylog *l, unsigned int dest, uint64_t from)
{
	if (dest >= l->ndests)
		return;
	for (uint64_t i = from; i < l->nchunks; i++) {
		clear_bit(bitmap(l->done, l, dest), i);
		clear_bit(bitmap(l->marked, l, dest), i);
	}
}

int copylog_commit(struct copylog *l)
{
	return commit(l, false);
}

int copylog_begin(struct copylog *l)
{
	return commit(l, false);
}

int copylog_finish(struct copylog *l)
{
	return commit(l, true);
}

int copylog_discard(struct copylog *l)
{
	if (!l->path)
		return 0;
	if (unlinkat(l->dirfd, l->base, 0) < 0 && errno != ENOENT)
		return -errno;
	return sync_dir(l);               /* gone for good once it is durable */
}
