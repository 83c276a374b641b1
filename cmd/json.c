/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small streaming JSON writer: one document per line, commas placed by
 * the writer, strings escaped.  Paths are bytes, not text: any byte that
 * is not part of valid UTF-8 becomes U+FFFD so the output always parses.
 */
#include <inttypes.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

void json_begin(struct json *j, FILE *f)
{
	j->out = f;
	j->mem = NULL;
	j->memlen = 0;
	/* Standard output's document is built in memory and written whole
	 * (json_end): an exit at once from another thread then finds it
	 * either out or not begun, never half in stdout's buffer. */
	if (f == stdout && !(f = open_memstream(&j->mem, &j->memlen)))
		f = stdout;
	j->f = f;
	j->depth = 0;
	j->exit_code = -1;
	j->need_comma[0] = false;
	fputc('{', f);
}

void json_end(struct json *j)
{
	fputs("}\n", j->f);
	if (j->out != stdout) {
		fflush(j->f);
		return;
	}
	if (j->f != stdout) {
		bool ok = fclose(j->f) == 0 && j->mem, mine = false;

		j->f = stdout;
		flush_stdout();         /* what went before, in order */
		if (!ok)
			stdout_failed(ENOMEM);
		else if ((mine = signals_json_claim()))
			for (size_t off = 0; off < j->memlen;) {
				ssize_t n = write(STDOUT_FILENO, j->mem + off, j->memlen - off);

				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					stdout_failed(n < 0 ? errno : EIO);
					break;
				}
				off += (size_t)n;
			}
		free(j->mem);
		j->mem = NULL;
		if (ok && !mine)
			return;         /* the exit at once has standard output */
	} else if (!signals_json_claim()) {
		return;                 /* (no memory stream) the exit at once has it */
	} else {
		flush_stdout();
	}
	signals_json_done(j->exit_code);
}

void json_exit_code(struct json *j, int code)
{
	j->exit_code = code;
	json_int(j, "exit_code", code);
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int n;
	unsigned int c = s[0], min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000;
	else
		return 0;
	c &= 0x3fu >> (n - 1);
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

static void put_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		int n = utf8_len(s);

		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if (*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else if (n)
			fwrite(s, 1, (size_t)n, f);
		else
			fputs("\\ufffd", f);
		s += n ? n : 1;
	}
	fputc('"', f);
}

static void key(struct json *j, const char *k)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	if (k) {
		put_string(j->f, k);
		fputc(':', j->f);
	}
}

static void open_nested(struct json *j, const char *k, char bracket)
{
	key(j, k);
	fputc(bracket, j->f);
	if (j->depth < JSON_MAX_DEPTH - 1)
		j->depth++;
	j->need_comma[j->depth] = false;
}

void json_object(struct json *j, const char *k)
{
	open_nested(j, k, '{');
}

void json_array(struct json *j, const char *k)
{
	open_nested(j, k, '[');
}

void json_close(struct json *j, char bracket)
{
	fputc(bracket, j->f);
	if (j->depth > 0)
		j->depth--;
}

void json_str(struct json *j, const char *k, const char *v)
{
	key(j, k);
	if (v)
		put_string(j->f, v);
	else
		fputs("null", j->f);
}

void json_u64(struct json *j, const char *k, uint64_t v)
{
	key(j, k);
	fprintf(j->f, "%" PRIu64, v);
}

void json_offset(struct json *j, const char *k, uint64_t v)
{
	if (v == NOT_SET)
		json_str(j, k, NULL);
	else
		json_u64(j, k, v);
}

void json_int(struct json *j, const char *k, int64_t v)
{
	key(j, k);
	fprintf(j->f, "%" PRId64, v);
}

void json_double(struct json *j, const char *k, double v)
{
	key(j, k);
	if (isfinite(v))
		fprintf(j->f, "%.6f", v);
	else
		fputs("null", j->f);
}

void json_bool(struct json *j, const char *k, bool v)
{
	key(j, k);
	fputs(v ? "true" : "false", j->f);
}
