/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy log (cmd/copylog.c): what a resumed copy trusts.  A log must come
 * back exactly as written, remember only what was committed, and refuse to be
 * read for another copy, damaged, cut short at any byte, or malformed; it
 * must refuse a source that changed since it was written and forget what it
 * says of a destination that changed; it is locked while in use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copylog.h"

#define CHUNK 4096u
#define LEN (10 * CHUNK + 1024)          /* 11 chunks, the last one partial */

static int failures;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL line %d: ", __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

#define BOOT "0123abcd-4567"

static struct copylog_key key(void)
{
	struct copylog_key k = { .source = "/src img", .source_size = 1 << 20, .offset = 512,
				 .length = LEN, .dest_offset = 4096, .ndests = 2,
				 .dests = { "/d%0", "/d\n1" }, .boot = BOOT };

	k.source_id = (struct copylog_id){ .kind = COPYLOG_FILE, .dev = 8, .ino = 12, .size = 1 << 20,
					   .mtime_sec = 1000, .mtime_nsec = 5, .ctime_sec = 1000,
					   .ctime_nsec = 7 };
	for (int d = 0; d < 2; d++)
		k.dest_ids[d] = (struct copylog_id){ .kind = COPYLOG_FILE, .dev = 8, .ino = 20 + d,
						     .size = 1 << 20, .mtime_sec = 2000,
						     .ctime_sec = 2000, .ctime_nsec = 9 };
	return k;
}

static struct copylog *open_log(const char *path, const struct copylog_key *k, int *ret)
{
	struct copylog *l = NULL;
	char why[256];

	*ret = copylog_open(path, k, CHUNK, &l, why, sizeof(why));
	if (*ret)
		fprintf(stderr, "  (refused: %s)\n", why);
	return l;
}

static void roundtrip_and_resume(const char *path)
{
	struct copylog_key k = key();
	struct copylog *l;
	int ret;

	unlink(path);
	l = open_log(path, &k, &ret);
	CHECK(!ret && l, "a new log opens");
	if (!l)
		return;
	CHECK(copylog_chunks(l) == 11, "11 chunks, got %llu", (unsigned long long)copylog_chunks(l));
	CHECK(copylog_todo_bytes(l) == 2ull * LEN, "everything to do");
	copylog_mark(l, 0, 0);
	copylog_mark(l, 0, 1);
	copylog_mark(l, 1, 10);
	CHECK(!copylog_is_done(l, 0, 0), "marked is not done before the commit");
	CHECK(copylog_commit(l) == 0, "commit");
	copylog_mark(l, 0, 5);          /* copied, never committed: a crash now */
	copylog_free(l);

	l = open_log(path, &k, &ret);
	CHECK(!ret && l, "the log reopens");
	if (!l)
		return;
	CHECK(copylog_is_done(l, 0, 0) && copylog_is_done(l, 0, 1) && copylog_is_done(l, 1, 10),
	      "committed chunks are done");
	CHECK(!copylog_is_done(l, 0, 5), "an uncommitted chunk is not done after a crash");
	CHECK(!copylog_is_done(l, 1, 0) && !copylog_is_done(l, 0, 10), "others are not done");
	CHECK(copylog_todo_bytes(l) == 2ull * LEN - 2 * CHUNK - 1024, "bytes left");
	copylog_free(l);
}

static void stale(const char *path)
{
	struct copylog_key k;
	int ret;

	for (int i = 0; i < 7; i++) {
		k = key();
		switch (i) {
		case 0: k.source = "/other"; break;
		case 1: k.source_size++; break;
		case 2: k.offset += 512; break;
		case 3: k.length -= 512; break;
		case 4: k.dest_offset = 0; break;
		case 5: k.dests[1] = "/d2"; break;
		case 6: k.ndests = 1; break;
		}
		CHECK(!open_log(path, &k, &ret) && ret == -ESTALE, "case %d: another copy's log: %d",
		      i, ret);
	}
	k = key();
	k.ndests = 3;
	k.dests[2] = "/d3";
	CHECK(!open_log(path, &k, &ret) && ret == -ESTALE, "more destinations: %d", ret);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = f ? calloc(1, (1 << 16) + 1) : NULL;

	*len = 0;
	if (buf)
		*len = fread(buf, 1, 1 << 16, f);
	if (f)
		fclose(f);
	return buf;
}

static int parse(const char *text, size_t len)
{
	struct copylog_key k = key();
	struct copylog *l = NULL;
	char why[256];
	int ret = copylog_parse(text, len, &k, &l, why, sizeof(why));

	copylog_free(l);
	return ret;
}

static void damaged(const char *path)
{
	size_t len;
	char *text = slurp(path, &len);

	CHECK(parse(text, len) == 0, "the log parses");
	for (size_t cut = 0; cut < len; cut++)
		CHECK(parse(text, cut) != 0, "the log cut at byte %zu of %zu was accepted", cut, len);
	for (size_t i = 0; i < len; i++) {
		char *copy = malloc(len);

		memcpy(copy, text, len);
		copy[i] ^= 0x04;
		if (text[i] != '#' && memrchr(text, '#', i) <= memrchr(text, '\n', i))
			CHECK(parse(copy, len) != 0, "a flipped bit at byte %zu was accepted", i);
		free(copy);
	}
	free(text);
}

/* The dm-mirror case: a log written by hand (no checksum) that marks a dirty
 * region; only the chunks touching it are to be copied. */
static void hand_written(void)
{
	const char *good =
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\n"
		"map 0 0 10000 +\nmap 0 10000 100 ?\nmap 0 10100 31884 +\n"
		"map 1 0 41984 +\nend\n";
	const char *bad[] = {
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41984 +\nend\n",      /* dest 1 unmapped */
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41984 +\nmap 1 0 40984 +\nmap 1 40000 1984 +\nend\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41984 *\nmap 1 0 41984 +\nend\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41985 +\nmap 1 0 41984 +\nend\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img -1\nrange 512 41984 4096\nchunk 4096\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 0\n",
		"kcopyd-log 2\n",
		/* Identities that are not well formed. */
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 disk 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 none 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 file 0 0 0 0 1000000000 0 0 0 0 0 0 0 0 0\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 file 0 0 0 0 0 0 0 7 0 0 0 0 0 0\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 block 0 1 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 file 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 file 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 file 0 0 0 0 0 0 0 0 0 0 0 0 0 -1\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000 file 0 0 0 0 0 0 0 0 0 0 0 0 0 0x10000000000000000\n",
		"kcopyd-log 2\nboot -\nstate closed\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250 none 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		/* A header that is not well formed. */
		"kcopyd-log 2\nboot BOOT\nstate closed\n",
		"kcopyd-log 2\nboot 0123456789012345678901234567890123456789012345678901234567890123456789\n",
		"kcopyd-log 2\nboot -\nstate running\n",
		"kcopyd-log 2\nstate closed\n",
		"kcopyd-log 2\nboot -\nsource /src%20img 0x100000\n",
	};
	struct copylog_key k = key();
	struct copylog *l = NULL;
	char why[256];
	int ret;

	ret = copylog_parse(good, strlen(good), &k, &l, why, sizeof(why));
	CHECK(ret == 0, "a hand-written log is accepted: %s", why);
	if (l) {
		/* Chunks 2 (8192..12287) holds bytes 10000..10099: dirty. */
		for (uint64_t i = 0; i < 11; i++)
			CHECK(copylog_is_done(l, 0, i) == (i != 2), "dest 0 chunk %llu", (unsigned long long)i);
		CHECK(copylog_todo_bytes(l) == 4096, "one chunk to resync");
		copylog_free(l);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(parse(bad[i], strlen(bad[i])) == -EBADMSG, "bad log %zu accepted", i);
}

/* The text of a log for k, with the chunks given done on dest 0. */
static char *log_text(const struct copylog_key *k, bool closed, size_t *len)
{
	struct copylog *l = NULL;
	char why[256], *text;
	const char *blank =
		"kcopyd-log 2\nboot -\nstate open\nsource /src%20img 0x100000\nrange 512 41984 4096\n"
		"chunk 4096\ndest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41984 ?\nmap 1 0 41984 ?\nend\n";

	if (copylog_parse(blank, strlen(blank), k, &l, why, sizeof(why))) {
		fprintf(stderr, "  (refused: %s)\n", why);
		return NULL;
	}
	for (uint64_t i = 0; i < 11; i++)
		copylog_mark(l, 0, i);
	copylog_mark(l, 1, 3);
	if (closed)
		copylog_finish(l);
	else
		copylog_commit(l);
	text = copylog_format(l, len);
	copylog_free(l);
	return text;
}

static int parse_key(const char *text, size_t len, const struct copylog_key *k,
		     struct copylog **l, char *why)
{
	*l = NULL;
	return copylog_parse(text, len, k, l, why, 256);
}

/* A source that is not what the log was written for is refused, and the
 * message says what changed; within another boot, numbers handed out at
 * boot are not compared. */
static void source_changed(void)
{
	static const struct { int field; const char *what; } cases[] = {
		{ 0, "modification time" }, { 1, "modification time" }, { 2, "change time" },
		{ 3, "device and inode" }, { 4, "device and inode" }, { 5, "its type" },
	};
	struct copylog_key k = key(), now;
	struct copylog *l;
	char why[256], *text;
	size_t len;
	int ret;

	text = log_text(&k, true, &len);
	if (!text)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		now = key();
		switch (cases[i].field) {
		case 0: now.source_id.mtime_sec++; break;
		case 1: now.source_id.mtime_nsec++; break;
		case 2: now.source_id.ctime_nsec++; break;
		case 3: now.source_id.ino++; break;
		case 4: now.source_id.dev++; break;
		case 5: now.source_id.kind = COPYLOG_BLOCK; break;
		}
		ret = parse_key(text, len, &now, &l, why);
		CHECK(ret == -EUCLEAN && !l, "source case %zu: %d %s", i, ret, why);
		CHECK(strstr(why, "the source changed since the log was written") &&
		      strstr(why, cases[i].what), "source case %zu: message: %s", i, why);
		copylog_free(l);
	}
	/* Another boot: the device number may differ, the rest may not. */
	now = key();
	now.boot = "ffff";
	now.source_id.dev++;
	CHECK(parse_key(text, len, &now, &l, why) == 0, "another boot, another st_dev: %s", why);
	copylog_free(l);
	now.source_id.mtime_nsec++;
	CHECK(parse_key(text, len, &now, &l, why) == -EUCLEAN, "another boot, another mtime");
	copylog_free(l);
	free(text);

	/* Block devices: disk sequence number (within a boot), serial, loop. */
	k = key();
	k.source_id = (struct copylog_id){ .kind = COPYLOG_BLOCK, .dev = 0x700, .size = 1 << 20,
					   .diskseq = 40, .serial = 1ULL << 32 | 77, .lo_dev = 8,
					   .lo_ino = 99, .lo_sizelimit = 0 };
	text = log_text(&k, true, &len);
	if (!text)
		return;
	CHECK(parse_key(text, len, &k, &l, why) == 0, "the same block device: %s", why);
	copylog_free(l);
	for (int i = 0; i < 6; i++) {
		now = k;
		switch (i) {
		case 0: now.source_id.diskseq++; break;
		case 1: now.source_id.serial++; break;
		case 2: now.source_id.lo_ino++; break;
		case 3: now.source_id.lo_offset = 512; break;
		case 4: now.source_id.dev++; break;
		case 5: now.source_id.start = 4096; break;
		}
		CHECK(parse_key(text, len, &now, &l, why) == -EUCLEAN, "block case %d: %s", i, why);
		copylog_free(l);
	}
	now = k;
	now.boot = "ffff";                  /* after a reboot: a new diskseq, a new number */
	now.source_id.diskseq = 3;
	now.source_id.dev = 0x710;
	CHECK(parse_key(text, len, &now, &l, why) == 0, "block device after a reboot: %s", why);
	copylog_free(l);
	now.source_id.serial = 0;
	CHECK(parse_key(text, len, &now, &l, why) == -EUCLEAN && strstr(why, "serial"),
	      "another disk after a reboot: %s", why);
	copylog_free(l);
	free(text);
}

/* A destination that changed loses its progress in the log (and only it);
 * after a crash ("state open") a later change time is the run's own. */
static void dest_changed(void)
{
	struct copylog_key k = key(), now;
	struct copylog *l;
	char why[256], *open_text, *closed_text;
	size_t olen, clen;

	closed_text = log_text(&k, true, &clen);
	open_text = log_text(&k, false, &olen);
	if (!closed_text || !open_text)
		return;
	CHECK(strstr(closed_text, "\nstate closed\n") && strstr(open_text, "\nstate open\n"),
	      "the state is written");
	for (int state = 0; state < 2; state++) {
		const char *text = state ? closed_text : open_text;
		size_t len = state ? clen : olen;

		CHECK(parse_key(text, len, &k, &l, why) == 0 && copylog_is_done(l, 0, 4) &&
		      !copylog_dest_changed(l, 0), "state %d: the same destinations", state);
		copylog_free(l);
		for (int i = 0; i < 5; i++) {
			bool expected = true;

			now = key();
			switch (i) {
			case 0: now.dest_ids[0].ctime_nsec++; expected = state; break;
			case 1: now.dest_ids[0].ctime_sec--; break;
			case 2: now.dest_ids[0].ino++; break;
			case 3: now.dest_ids[0].size--; break;
			case 4: now.dest_ids[0].kind = COPYLOG_NONE; break;
			}
			CHECK(parse_key(text, len, &now, &l, why) == 0, "state %d case %d: %s", state, i,
			      why);
			if (!l)
				continue;
			CHECK(!copylog_dest_changed(l, 0) == !expected && copylog_is_done(l, 0, 4) == !expected,
			      "state %d case %d: destination 0 %s", state, i,
			      expected ? "kept its progress" : "lost its progress");
			CHECK(copylog_is_done(l, 1, 3) && !copylog_dest_changed(l, 1),
			      "state %d case %d: destination 1 keeps its progress", state, i);
			CHECK(copylog_todo_bytes(l) == 2ull * LEN - CHUNK - (expected ? 0 : LEN),
			      "state %d case %d: bytes to do", state, i);
			copylog_free(l);
		}
		/* Nothing done there: nothing to forget, nothing to say. */
		now = key();
		now.dest_ids[1].ino++;
		now.dest_ids[0].ino++;
		CHECK(parse_key(text, len, &now, &l, why) == 0 && copylog_dest_changed(l, 1) &&
		      copylog_dest_changed(l, 0), "state %d: both changed", state);
		copylog_free(l);
	}
	free(open_text);
	free(closed_text);
}

/* Logs of another format version are refused as such, after the checksum:
 * damage is called damage. */
static void versions(void)
{
	struct copylog_key k = key();
	struct copylog *l;
	char why[256], *text;
	size_t len;
	int ret;

	text = log_text(&k, true, &len);
	if (!text)
		return;
	for (int v = 0; v < 4; v++) {
		static const char *const other[] = { "1", "3", "02x", "999999999999999999999999" };
		char *copy = NULL;
		char *at = strstr(text, "kcopyd-log 2\n");
		int n;

		if (!at)
			break;
		/* The same text with another version, and a checksum that fits it. */
		n = asprintf(&copy, "%.*skcopyd-log %s\n%s", (int)(at - text), text, other[v],
			     at + strlen("kcopyd-log 2\n"));
		if (n < 0)
			break;
		*strstr(copy, "checksum") = 0;
		n = (int)strlen(copy);
		ret = parse_key(copy, (size_t)n, &k, &l, why);
		CHECK(ret == -EPROTO && strstr(why, "format"), "version %s: %d %s", other[v], ret, why);
		copylog_free(l);
		free(copy);
	}
	free(text);
	text = strdup("kcopyd-log 1\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		      "dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41984 +\nmap 1 0 41984 +\nend\n");
	ret = parse_key(text, strlen(text), &k, &l, why);
	CHECK(ret == -EPROTO && strstr(why, "format 1"), "a log of kcopyd 0.1: %d %s", ret, why);
	free(text);
}

/* What a log can make the command do is bounded: chunk counts, words. */
static void hostile(void)
{
	struct copylog_key k = key();
	struct copylog *l;
	char why[256], text[4096];
	int n, ret;

	k.length = 1ULL << 40;
	n = snprintf(text, sizeof(text), "kcopyd-log 2\nboot -\nstate open\nsource /src%%20img 0x100000\n"
		     "range 512 0x10000000000 4096\nchunk 512\n");
	ret = parse_key(text, (size_t)n, &k, &l, why);
	CHECK(ret == -EBADMSG && strstr(why, "chunk size"), "2^31 chunks: %d %s", ret, why);
	n = snprintf(text, sizeof(text), "kcopyd-log 2\nboot -\nstate open\nsource /src%%20img 0x100000\n"
		     "range 512 0x10000000000 4096\nchunk 0x100000\ndest 0 /d%%250\ndest 1 /d%%0A1\n"
		     "map 0 0 0x10000000000 ?\nmap 1 0 0x10000000000 ?\nend\n");
	ret = parse_key(text, (size_t)n, &k, &l, why);
	CHECK(ret == 0 && copylog_chunks(l) == COPYLOG_MAX_CHUNKS, "2^20 chunks: %d %s", ret, why);
	copylog_free(l);
	CHECK(copylog_open("/nonexistent-dir/x", &k, 512, &l, why, sizeof(why)) == -EINVAL,
	      "a new log with too many chunks");
	/* Paths from the log reach messages encoded: no terminal escapes. */
	k = key();
	for (int d = 0; d < 2; d++) {
		n = snprintf(text, sizeof(text), "kcopyd-log 2\nboot -\nstate open\nsource %s 0x100000\n"
			     "range 512 41984 4096\nchunk 4096\ndest 0 %s\n",
			     d ? "/src%20img" : "/%1B[2J%07%0A%7F",
			     "/%1B]0;owned%07%0D%0A%7F%25%0A");
		ret = parse_key(text, (size_t)n, &k, &l, why);
		CHECK(ret == -ESTALE, "another path %d: %d %s", d, ret, why);
		for (const char *c = why; *c; c++)
			CHECK((unsigned char)*c >= ' ' && *c != 0x7f, "a control character in \"%s\"", why);
		CHECK(strstr(why, "%1B") != NULL, "the path is shown encoded: %s", why);
	}
	for (size_t len = 1; len < 300; len += 7) {          /* long ones are cut short */
		char path[400] = "/";

		memset(path + 1, 'x', len);
		path[len + 1] = 0;
		n = snprintf(text, sizeof(text), "kcopyd-log 2\nboot -\nstate open\nsource %s 0x100000\n"
			     "range 512 41984 4096\nchunk 4096\n", path);
		CHECK(parse_key(text, (size_t)n, &k, &l, why) == -ESTALE && strlen(why) < 256,
		      "a long path: %zu", strlen(why));
	}
	n = snprintf(text, sizeof(text), "kcopyd-log \x1b[2J\x07\n");
	CHECK(parse_key(text, (size_t)n, &k, &l, why) == -EPROTO && !strchr(why, 0x1b),
	      "an escape in the version: %s", why);
	n = snprintf(text, sizeof(text), "kcopyd-log 2\nboot -\nstate open\nsource /src%%20img 0x100000\n"
		     "range 512 41984 4096\nchunk 4096\ndest 0 /d%%250\ndest 1 /d%%0A1\n"
		     "map 0 0 41984 \x1b\n");
	CHECK(parse_key(text, (size_t)n, &k, &l, why) == -EBADMSG && !strchr(why, 0x1b),
	      "an escape as a status: %s", why);
	n = snprintf(text, sizeof(text), "kcopyd-log 2 %s\n", "a b c d e f g h i j k l m n o p q r s t u");
	CHECK(parse_key(text, (size_t)n, &k, &l, why) == -EBADMSG, "too many words");
}

/* One run at a time: the log is locked from copylog_open to copylog_free,
 * and its lock file removed after. */
static void locked(const char *path)
{
	struct copylog_key k = key();
	struct copylog *a, *b = NULL;
	char why[256], lock[80];
	struct stat st;
	int ret;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	unlink(path);
	a = open_log(path, &k, &ret);
	CHECK(a && stat(lock, &st) == 0, "the first opens and holds %s", lock);
	ret = copylog_open(path, &k, CHUNK, &b, why, sizeof(why));
	CHECK(ret == -EBUSY && !b && strstr(why, "another kcopyd run"), "the second is refused: %d %s",
	      ret, why);
	copylog_free(a);
	CHECK(stat(lock, &st) < 0, "the lock file is removed");
	b = open_log(path, &k, &ret);
	CHECK(b && !ret, "then the log opens again");
	copylog_free(b);
	/* Opening writes nothing (a command refused after it leaves no trace:
	 * no new log, an existing one byte for byte as it was); copylog_begin
	 * writes it. */
	CHECK(stat(path, &st) < 0, "opening a new log did not create it");
	for (int i = 0; i < 3; i++) {
		size_t len, before_len = 0;
		char *text, *before = i == 2 ? slurp(path, &before_len) : NULL;

		b = open_log(path, &k, &ret);
		if (b && i == 1)
			CHECK(copylog_begin(b) == 0, "begin");
		copylog_free(b);
		if (!i) {
			CHECK(stat(path, &st) < 0, "a log only opened is not created");
			continue;
		}
		text = slurp(path, &len);
		CHECK(text && strstr(text, "\nstate open\n") != NULL, "state after %s: %s",
		      i == 1 ? "copylog_begin" : "opening again", text ? text : "(none)");
		if (i == 2)
			CHECK(before && text && len == before_len && !memcmp(before, text, len),
			      "opening an existing log left it byte for byte as it was");
		free(before);
		free(text);
	}
	unlink(path);
}

/* The destinations are identified again at each commit (they changed by
 * the writes), and the log is never written through a file that was at
 * its temporary name. */
static void commit_identifies(const char *dir, const char *path)
{
	struct copylog_key k = key();
	struct copylog *l;
	char file[80], tmp[80], victim[80], *text;
	struct copylog_id id = { 0 };
	int fd, ret;
	size_t len;

	snprintf(file, sizeof(file), "%s/dest", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && copylog_identify(fd, &id) == 0 && id.kind == COPYLOG_FILE, "identify");
	k.dest_fds[0] = &fd;
	k.dest_ids[0] = id;
	unlink(path);
	l = open_log(path, &k, &ret);
	if (!l)
		return;
	CHECK(write(fd, "data", 4) == 4, "write");
	copylog_mark(l, 0, 2);
	/* A file at the temporary name (a hard link to another file): never
	 * written, nor removed (through an overlay a link count proves
	 * nothing): the commit is refused until it is gone. */
	close(open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0644));
	CHECK(write(ret = open(victim, O_WRONLY), "keep", 4) == 4, "victim");
	close(ret);
	CHECK(link(victim, tmp) == 0, "link the temporary name");
	CHECK(copylog_finish(l) == -EEXIST, "a commit over someone's file at the temporary name");
	text = slurp(victim, &len);
	CHECK(len == 4 && !memcmp(text, "keep", 4), "the file at the temporary name is untouched");
	free(text);
	CHECK(access(tmp, F_OK) == 0, "the file at the temporary name is still there");
	unlink(tmp);
	copylog_mark(l, 0, 2);          /* a failed commit forgets what it was to record */
	CHECK(copylog_finish(l) == 0, "commit");
	copylog_free(l);
	/* Reopened with what the file is now: trusted; after one more write: not. */
	CHECK(copylog_identify(fd, &k.dest_ids[0]) == 0, "identify");
	l = open_log(path, &k, &ret);
	CHECK(l && copylog_is_done(l, 0, 2) && !copylog_dest_changed(l, 0),
	      "the destination as committed keeps its progress");
	if (l)
		copylog_finish(l);          /* the rerun ends, writing nothing */
	copylog_free(l);
	usleep(20000);
	CHECK(pwrite(fd, "x", 1, 0) == 1, "write");
	CHECK(copylog_identify(fd, &k.dest_ids[0]) == 0, "identify");
	l = open_log(path, &k, &ret);
	CHECK(l && !copylog_is_done(l, 0, 2) && copylog_dest_changed(l, 0) &&
	      strstr(copylog_dest_changed(l, 0), "time"),
	      "a destination written since is copied again: %s",
	      l && copylog_dest_changed(l, 0) ? copylog_dest_changed(l, 0) : "kept");
	copylog_free(l);
	close(fd);
	unlink(file);
	unlink(victim);
	unlink(path);
}

int main(void)
{
	char dir[] = "/tmp/kcopyd-copylog-XXXXXX", path[64];

	alarm(120);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/log", dir);
	roundtrip_and_resume(path);
	stale(path);
	damaged(path);
	hand_written();
	source_changed();
	dest_changed();
	versions();
	hostile();
	locked(path);
	commit_identifies(dir, path);
	unlink(path);
	rmdir(dir);
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	return failures ? 1 : 0;
}
