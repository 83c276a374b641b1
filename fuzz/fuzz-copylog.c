/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the copy log reader (cmd/copylog.c), which a resumed
 * copy trusts.  Any input may be refused, but none may crash it, and a log it
 * accepts must come back identical through the writer and the reader again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copylog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The key of the seed corpus's logs, so mutations reach the map lines. */
	struct copylog_key k = { .source = "/src img", .source_size = 1 << 20, .offset = 512,
				 .length = 41984, .dest_offset = 4096, .ndests = 2,
				 .dests = { "/d%0", "/d\n1" } };
	struct copylog *a = NULL, *b = NULL;
	char why[256], *text;
	size_t len;

	if (copylog_parse((const char *)data, size, &k, &a, why, sizeof(why)))
		return 0;
	text = copylog_format(a, &len);
	if (!text || copylog_parse(text, len, &k, &b, why, sizeof(why)))
		abort();        /* what we write, we must read */
	if (copylog_chunk(a) != copylog_chunk(b) || copylog_chunks(a) != copylog_chunks(b))
		abort();
	for (unsigned int d = 0; d < k.ndests; d++)
		for (uint64_t i = 0; i < copylog_chunks(a); i++)
			if (copylog_is_done(a, d, i) != copylog_is_done(b, d, i))
				abort();
	free(text);
	copylog_free(a);
	copylog_free(b);
	return 0;
}
