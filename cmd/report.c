/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The end of a copy or a zero: decide each destination's status, say what
 * failed where (on standard error, naming the device and the byte offset),
 * then print the summary, for people or as one JSON object.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kcopyd-cmd.h"

/* What went wrong with d, in words, or NULL when nothing did. */
static const char *problem(const struct device *d, char *buf, size_t size)
{
	if (d->failed && d->err_off != NOT_SET)
		snprintf(buf, size, "%s failed at byte %llu: %s", d->what,
			 (unsigned long long)d->err_off, strerror(-d->err));
	else if (d->failed)
		snprintf(buf, size, "%s failed: %s", d->what, strerror(-d->err));
	else if (d->differs)
		snprintf(buf, size, "differs from the source at byte %llu",
			 (unsigned long long)d->diff_off);
	else if (d->note)
		snprintf(buf, size, "%s", d->note);
	else
		return NULL;
	return buf;
}

static uint64_t first_bad_offset(const struct device *d)
{
	return d->failed ? d->err_off : d->differs ? d->diff_off : d->err_off;
}

void device_print_failure(const struct device *d)
{
	char buf[256];

	if (problem(d, buf, sizeof(buf)))
		errmsg("%s: %s", d->path, buf);
}

/* A run that stopped early (--fail-fast, a read error, all else failed)
 * left the healthy destinations incomplete: they fail too. */
static void mark_incomplete(const struct report *rep)
{
	struct runner *r = rep->r;
	const char *why = r->read_failed ? "not completed: reading the source failed"
		: r->signal == SIGINT ? "not completed: interrupted (SIGINT)"
		: r->signal ? "not completed: interrupted (SIGTERM)"
		: r->fail_fast ? "not completed: stopped after another device failed (--fail-fast)"
		: "not completed: the run stopped early";

	if (!r->stop && !r->read_failed && !r->internal_error)
		return;
	for (unsigned int i = 0; i < r->ndests; i++) {
		struct device *d = &r->dests[i];

		if (d->failed || d->differs)
			continue;
		d->note = why;
		if (r->read_failed)
			d->err_off = rep->dst_off + (r->read_off - rep->src_off);
	}
}

static bool any_problem(const struct runner *r)
{
	if (r->read_failed || r->internal_error)
		return true;
	for (unsigned int i = 0; i < r->ndests; i++)
		if (r->dests[i].failed || r->dests[i].differs || r->dests[i].note)
			return true;
	return false;
}

static void print_errors(const struct report *rep)
{
	struct runner *r = rep->r;

	if (r->read_failed)
		errmsg("%s: read failed at byte %llu: %s", rep->src->path,
		       (unsigned long long)r->read_off, strerror(-r->read_err));
	for (unsigned int i = 0; i < r->ndests; i++)
		if (!r->dests[i].reported)
			device_print_failure(&r->dests[i]);
}

static void print_summary(const struct report *rep)
{
	const struct runner *r = rep->r;
	char b[32], rate[32], buf[256];
	double secs = rep->seconds > 0 ? rep->seconds : 1e-9;

	if (r->signal)
		printf("%s of %s %s after %.2f s (engine %s)\n", rep->src ? "copy" : "zeroing",
		       human_size(rep->bytes, b, sizeof(b)),
		       r->signal == SIGINT ? "interrupted by SIGINT" : "stopped by SIGTERM",
		       rep->seconds, rep->engine);
	else if (rep->src)
		printf("copied %s from %s to %u destination%s in %.2f s (%s/s, engine %s)\n",
		       human_size(rep->bytes, b, sizeof(b)), rep->src->path, r->ndests,
		       r->ndests == 1 ? "" : "s", rep->seconds,
		       human_size((uint64_t)((double)rep->bytes / secs), rate, sizeof(rate)),
		       rep->engine);
	else
		printf("zeroed %s on %u destination%s in %.2f s (%s/s, engine %s)\n",
		       human_size(rep->bytes, b, sizeof(b)), r->ndests, r->ndests == 1 ? "" : "s",
		       rep->seconds,
		       human_size((uint64_t)((double)rep->bytes / secs), rate, sizeof(rate)),
		       rep->engine);
	if (rep->log && rep->resumed)
		printf("  resumed with the log %s: %s were done already\n", rep->log,
		       human_size(rep->skipped_bytes, b, sizeof(b)));
	for (unsigned int i = 0; i < r->ndests; i++) {
		const struct device *d = &r->dests[i];

		if (problem(d, buf, sizeof(buf)))
			printf("  %s: FAILED: %s\n", d->path, buf);
		else
			printf("  %s: ok%s\n", d->path, rep->o->verify ? ", verified" : "");
	}
}

static void json_stats(struct json *j, const struct kcopyd_stats *st)
{
	json_object(j, "stats");
	json_u64(j, "bytes_read", st->bytes_read);
	json_u64(j, "bytes_written", st->bytes_written);
	json_u64(j, "bytes_zeroed", st->bytes_zeroed);
	json_u64(j, "bytes_skipped", st->bytes_skipped);
	json_u64(j, "jobs", st->jobs_completed);
	json_u64(j, "sub_jobs", st->sub_jobs);
	json_u64(j, "retries", st->retries);
	json_close(j, '}');
}

static void json_dest(struct json *j, const struct report *rep, const struct device *d)
{
	char buf[256];
	const char *p = problem(d, buf, sizeof(buf));

	json_object(j, NULL);
	json_str(j, "path", d->path);
	json_str(j, "type", device_kind_name(d));
	json_str(j, "status", p ? "failed" : "ok");
	json_str(j, "error", p);
	json_offset(j, "first_failing_offset", p ? first_bad_offset(d) : NOT_SET);
	json_bool(j, "created", d->created);
	json_bool(j, "verified", !p && rep->o->verify);
	if (!rep->src)
		json_u64(j, "bytes", d->len);
	json_close(j, '}');
}

static void json_source(struct json *j, const struct report *rep)
{
	const struct runner *r = rep->r;
	char buf[256];

	json_bool(j, "sparse", rep->o->sparse);
	json_bool(j, "verify", rep->o->verify);
	if (!r->read_failed) {
		json_str(j, "source_error", NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "read failed at byte %llu: %s",
		 (unsigned long long)r->read_off, strerror(-r->read_err));
	json_object(j, "source_error");
	json_str(j, "error", buf);
	json_u64(j, "offset", r->read_off);
	json_close(j, '}');
}

static void print_json(const struct report *rep, int code)
{
	const struct runner *r = rep->r;
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "command", rep->o->cmd_name);
	if (rep->src) {
		json_str(&j, "source", rep->src->path);
		json_u64(&j, "offset", rep->src_off);
		json_u64(&j, "dest_offset", rep->dst_off);
	} else {
		json_u64(&j, "offset", rep->dst_off);
	}
	json_u64(&j, "bytes", rep->bytes);
	json_double(&j, "seconds", rep->seconds);
	json_double(&j, "rate", rep->seconds > 0 ? (double)rep->bytes / rep->seconds : 0);
	json_str(&j, "engine", rep->engine);
	json_bool(&j, "flush", rep->o->flush);
	if (rep->src)
		json_source(&j, rep);
	json_array(&j, "destinations");
	for (unsigned int i = 0; i < r->ndests; i++)
		json_dest(&j, rep, &r->dests[i]);
	json_close(&j, ']');
	json_stats(&j, &rep->stats);
	/* What this run really wrote, over destinations: the library's writes
	 * and zeroing, and the tail written here. */
	json_u64(&j, "bytes_written", rep->stats.bytes_written + rep->stats.bytes_zeroed +
		 r->tail_written);
	if (rep->src) {
		json_str(&j, "log", rep->log);
		json_bool(&j, "resumed", rep->resumed);
		json_u64(&j, "skipped_bytes", rep->skipped_bytes);
		if (rep->log)
			json_offset(&j, "resume_at", rep->resume_at);
	}
	json_str(&j, "signal", r->signal == SIGINT ? "SIGINT" : r->signal ? "SIGTERM" : NULL);
	json_int(&j, "exit_code", code);
	json_end(&j);
}

int report_finish(const struct report *rep)
{
	int code;

	mark_incomplete(rep);
	print_errors(rep);
	code = any_problem(rep->r) ? EXIT_FAILED : EXIT_OK;
	if (rep->r->signal) {
		/* Stopped on request: 128 + the signal, as the shell would say. */
		code = 128 + rep->r->signal;
		if (rep->log && rep->resume_at != NOT_SET)
			errmsg("interrupted at byte %llu; rerun with the same --log to resume",
			       (unsigned long long)rep->resume_at);
		else if (rep->log)
			errmsg("interrupted, but every chunk was already copied");
		else
			errmsg("interrupted after %llu of %llu bytes; the %s is incomplete",
			       (unsigned long long)(rep->src ? rep->r->hole_bytes +
						    rep->stats.bytes_read : rep->r->done_bytes),
			       (unsigned long long)rep->bytes, rep->src ? "copy" : "zeroing");
	}
	if (rep->o->json)
		print_json(rep, code);
	else if (!rep->o->quiet)
		print_summary(rep);
	fflush(stdout);
	return code;
}

void report_setup_error(const struct options *o)
{
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "command", o->cmd_name);
	json_str(&j, "error", first_error());
	json_int(&j, "exit_code", EXIT_SETUP);
	json_end(&j);
}
