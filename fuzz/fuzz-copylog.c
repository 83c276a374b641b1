/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the copy log reader (cmd/copylog.c), which a resumed
 * copy trusts.  Any input may be refused, but none may crash it, and a log it
 * accepts must come back identical through the writer and the reader again.
 * Each input is read for two copies: one from a file, one from a loop
 * device, so that mutations reach the identities of both kinds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copylog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The keys of the seed corpus's logs, so mutations reach the map lines. */
static struct copylog_key key(int block)
{
	struct copylog_key k = { .source = "/src img", .source_size = 1 << 20, .offset = 512,
				 .length = 41984, .dest_offset = 4096, .ndests = 2,
				 .dests = { "/d%0", "/d\n1" }, .boot = "0123abcd-4567" };

	if (block)
		k.source_id = (struct copylog_id){ .kind = COPYLOG_BLOCK, .dev = 0x700,
						   .size = 1 << 20, .diskseq = 40,
						   .serial = 1ULL << 32 | 77, .lo_dev = 8,
						   .lo_ino = 99 };
	else
		k.source_id = (struct copylog_id){ .kind = COPYLOG_FILE, .dev = 8, .ino = 12,
						   .size = 1 << 20, .mtime_sec = 1000,
						   .mtime_nsec = 5, .ctime_sec = 1000,
						   .ctime_nsec = 7 };
	for (int d = 0; d < 2; d++)
		k.dest_ids[d] = (struct copylog_id){ .kind = COPYLOG_FILE, .dev = 8, .ino = 20 + d,
						     .size = 1 << 20, .mtime_sec = 2000,
						     .ctime_sec = 2000, .ctime_nsec = 9 };
	return k;
}

static void one(const uint8_t *data, size_t size, const struct copylog_key *k)
{
	struct copylog *a = NULL, *b = NULL;
	char why[256], *text;
	size_t len;

	if (copylog_parse((const char *)data, size, k, &a, why, sizeof(why)))
		return;
	text = copylog_format(a, &len);
	if (!text || copylog_parse(text, len, k, &b, why, sizeof(why)))
		abort();        /* what we write, we must read */
	if (copylog_chunk(a) != copylog_chunk(b) || copylog_chunks(a) != copylog_chunks(b) ||
	    copylog_chunks(a) > COPYLOG_MAX_CHUNKS)
		abort();
	for (unsigned int d = 0; d < k->ndests; d++) {
		/* Written back with what the destinations are now: the same. */
		if (copylog_dest_changed(b, d))
			abort();
		for (uint64_t i = 0; i < copylog_chunks(a); i++) {
			if (copylog_is_done(a, d, i) != copylog_is_done(b, d, i))
				abort();
			if (copylog_dest_changed(a, d) && copylog_is_done(a, d, i))
				abort();        /* a changed destination keeps nothing */
		}
	}
	free(text);
	copylog_free(a);
	copylog_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int block = 0; block < 2; block++) {
		struct copylog_key k = key(block);

		one(data, size, &k);
	}
	return 0;
}
