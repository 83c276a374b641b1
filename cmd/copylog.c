/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy log: see copylog.h, and kcopyd(1) for the format.
 *
 * In memory, a log is two bitmaps per destination over the chunks of the
 * range: done (durable, as in the file) and marked (copied since the last
 * commit, not yet known durable).  The reader is strict: a log that does not
 * describe every byte of the range for every destination, in order, exactly
 * once, is refused rather than half trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copylog.h"

#define MAGIC "kcopyd-log 1"
#define MAX_LOG_BYTES (64u << 20)

struct copylog {
	char *path;                      /* NULL: parsed only, never written */
	uint64_t length, chunk, nchunks;
	unsigned int ndests;
	size_t words;                    /* per bitmap */
	uint64_t *done, *marked;         /* ndests bitmaps each */
	/* The key, to write it back. */
	char *source;
	uint64_t source_size, offset, dest_offset;
	char *dests[COPYLOG_MAX_DESTS];
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
	if (!l->done || !l->marked || !l->source) {
		copylog_free(l);
		return NULL;
	}
	for (unsigned int i = 0; i < key->ndests; i++) {
		l->dests[i] = strdup(key->dests[i]);
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
	for (unsigned int i = 0; i < COPYLOG_MAX_DESTS; i++)
		free(l->dests[i]);
	free(l->source);
	free(l->done);
	free(l->marked);
	free(l->path);
	free(l);
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

char *copylog_format(const struct copylog *l, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	uint32_t crc;

	if (!f)
		return NULL;
	fprintf(f, "# kcopyd copy log: the chunks of the range each destination holds durably.\n"
		   "# \"map DEST OFFSET LENGTH +\" copied, \"?\" still to copy; offsets are\n"
		   "# bytes from the start of the range.  See kcopyd(1), THE COPY LOG.\n");
	fprintf(f, "%s\nsource ", MAGIC);
	put_path(f, l->source);
	fprintf(f, " 0x%" PRIx64 "\nrange 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 "\nchunk 0x%" PRIx64 "\n",
		l->source_size, l->offset, l->length, l->dest_offset, l->chunk);
	for (unsigned int d = 0; d < l->ndests; d++) {
		fprintf(f, "dest %u ", d);
		put_path(f, l->dests[d]);
		fputc('\n', f);
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

enum { S_MAGIC, S_SOURCE, S_RANGE, S_CHUNK, S_DESTS, S_MAP, S_END, S_DONE };

struct parser {
	const struct copylog_key *key;
	struct copylog *l;
	char *why;
	size_t whylen;
	unsigned int lineno, state, ndests_seen;
	char *source;                            /* from the source line */
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

/* The header is read: is this log about this copy? */
static int check_key(struct parser *p, uint64_t chunk)
{
	const struct copylog_key *k = p->key;

	if (strcmp(p->source, k->source) != 0)
		return STALE("it was written for the source %s", p->source);
	if (p->size != k->source_size)
		return STALE("the source had %" PRIu64 " bytes then, %" PRIu64 " now", p->size,
			     k->source_size);
	if (p->offset != k->offset || p->length != k->length || p->dest_offset != k->dest_offset)
		return STALE("it was written for another range (offset %" PRIu64 ", length %" PRIu64
			     ", dest-offset %" PRIu64 ")", p->offset, p->length, p->dest_offset);
	if (!chunk || chunk % 512 || chunk > (1ULL << 40))
		return BAD("line %u: the chunk size %" PRIu64 " is not usable", p->lineno, chunk);
	p->l = alloc_log(k, chunk);
	if (!p->l)
		return fail(p->why, p->whylen, -ENOMEM, "out of memory");
	for (unsigned int d = 0; d < COPYLOG_MAX_DESTS; d++)
		p->run_start[d] = UINT64_MAX;
	return 0;
}

static int map_line(struct parser *p, char **w, int n)
{
	uint64_t d, off, len;

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
		return BAD("line %u: unknown status '%s'", p->lineno, w[4]);
	}
	p->next_off[d] = off + len;
	return 0;
}

static int end_maps(struct parser *p)
{
	for (unsigned int d = 0; d < p->l->ndests; d++) {
		if (p->next_off[d] != p->length)
			return BAD("destination %u is mapped up to %" PRIu64 " of %" PRIu64 " bytes",
				   d, p->next_off[d], p->length);
		if (p->run_start[d] != UINT64_MAX)
			apply_run(p, d, p->run_start[d], p->length);
	}
	return 0;
}

static int parse_line(struct parser *p, char *line, const char *text, const char *line_start)
{
	char *w[6], *save = NULL;
	uint64_t v[3];
	int n = 0;

	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 6)
			return BAD("line %u: too many words", p->lineno);
		w[n++] = t;
	}
	switch (p->state) {
	case S_MAGIC:
		if (n != 2 || strcmp(w[0], "kcopyd-log") || strcmp(w[1], "1"))
			return BAD("line %u: not a kcopyd log (no \"%s\" line)", p->lineno, MAGIC);
		break;
	case S_SOURCE:
		if (n != 3 || strcmp(w[0], "source") || !decode_path(w[1]) || !parse_u64(w[2], &p->size))
			return BAD("line %u: expected \"source PATH SIZE\"", p->lineno);
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
		if (n != 3 || strcmp(w[0], "dest") || !parse_u64(w[1], &v[0]) || !decode_path(w[2]))
			return n && !strcmp(w[0], "map") ?
			       STALE("it was written for %u destinations, not %u", p->ndests_seen,
				     p->key->ndests) :
			       BAD("line %u: expected \"dest INDEX PATH\"", p->lineno);
		if (v[0] != p->ndests_seen)
			return BAD("line %u: destination %" PRIu64 " out of order", p->lineno, v[0]);
		if (strcmp(w[2], p->key->dests[p->ndests_seen]) != 0)
			return STALE("destination %u was %s", p->ndests_seen, w[2]);
		if (++p->ndests_seen == p->key->ndests)
			p->state = S_MAP;
		return 0;
	case S_MAP:
		if (n && !strcmp(w[0], "map"))
			return map_line(p, w, n);
		if (n && !strcmp(w[0], "dest"))
			return STALE("it was written for more than %u destinations", p->key->ndests);
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

static int read_all(const char *path, char **text, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
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

int copylog_open(const char *path, const struct copylog_key *key, uint64_t chunk,
		 struct copylog **result, char *why, size_t whylen)
{
	struct copylog *l = NULL;
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (!chunk || chunk % 512)
		return fail(why, whylen, -EINVAL, "the chunk size must be a multiple of 512");
	ret = read_all(path, &text, &len);
	if (ret == -ENOENT) {
		l = alloc_log(key, chunk);
		if (!l)
			return fail(why, whylen, -ENOMEM, "out of memory");
	} else if (ret) {
		return fail(why, whylen, ret, "cannot read it: %s",
			    ret == -EBADMSG ? "not a regular file of a sane size" : strerror(-ret));
	} else {
		ret = copylog_parse(text, len, key, &l, why, whylen);
		free(text);
		if (ret)
			return ret;
	}
	l->path = strdup(path);
	if (!l->path) {
		copylog_free(l);
		return fail(why, whylen, -ENOMEM, "out of memory");
	}
	/* Write it now: a log that cannot be written is found before any copy. */
	ret = copylog_commit(l);
	if (ret) {
		copylog_free(l);
		return fail(why, whylen, ret, "cannot write it: %s", strerror(-ret));
	}
	*result = l;
	return 0;
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

static int write_file(const char *path, const char *buf, size_t len)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16), *dir;
	int fd, ret = 0;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, plen + 16, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		free(tmp);
		return ret;
	}
	for (size_t off = 0; off < len && !ret;) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno != EINTR)
			ret = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		free(tmp);
		return ret;
	}
	/* The rename is durable once the directory is. */
	strcpy(tmp, path);
	dir = dirname(tmp);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			ret = -errno;
		close(fd);
	}
	free(tmp);
	return ret;
}

int copylog_commit(struct copylog *l)
{
	size_t len;
	char *text;
	int ret;

	for (size_t i = 0; i < l->words * l->ndests; i++) {
		l->done[i] |= l->marked[i];
		l->marked[i] = 0;
	}
	if (!l->path)
		return 0;
	text = copylog_format(l, &len);
	if (!text)
		return -ENOMEM;
	ret = write_file(l->path, text, len);
	free(text);
	return ret;
}
