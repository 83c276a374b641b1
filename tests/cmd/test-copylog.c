/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy log (cmd/copylog.c): what a resumed copy trusts.  A log must come
 * back exactly as written, remember only what was committed, and refuse to be
 * read for another copy, damaged, cut short at any byte, or malformed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copylog.h"

#define CHUNK 4096u
#define LEN (10 * CHUNK + 1024)          /* 11 chunks, the last one partial */

static int failures;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL line %d: ", __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

static struct copylog_key key(void)
{
	struct copylog_key k = { .source = "/src img", .source_size = 1 << 20, .offset = 512,
				 .length = LEN, .dest_offset = 4096, .ndests = 2,
				 .dests = { "/d%0", "/d\n1" } };
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
	char *buf = malloc(1 << 16);

	*len = fread(buf, 1, 1 << 16, f);
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
		"kcopyd-log 1\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\n"
		"map 0 0 10000 +\nmap 0 10000 100 ?\nmap 0 10100 31884 +\n"
		"map 1 0 41984 +\nend\n";
	const char *bad[] = {
		"kcopyd-log 1\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41984 +\nend\n",      /* dest 1 unmapped */
		"kcopyd-log 1\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41984 +\nmap 1 0 40984 +\nmap 1 40000 1984 +\nend\n",
		"kcopyd-log 1\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41984 *\nmap 1 0 41984 +\nend\n",
		"kcopyd-log 1\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 4096\n"
		"dest 0 /d%250\ndest 1 /d%0A1\nmap 0 0 41985 +\nmap 1 0 41984 +\nend\n",
		"kcopyd-log 1\nsource /src%20img -1\nrange 512 41984 4096\nchunk 4096\n",
		"kcopyd-log 1\nsource /src%20img 0x100000\nrange 512 41984 4096\nchunk 0\n",
		"kcopyd-log 2\n",
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
	unlink(path);
	rmdir(dir);
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	return failures ? 1 : 0;
}
