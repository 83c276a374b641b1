/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The end of a copy or a zero: decide each destination's status, say what
 * failed where (on standard error, naming the device and the byte offset),
 * then print the summary, for people or as one JSON object.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kcopyd-cmd.h"

/* What went wrong with d, in words, or NULL when nothing did.  Every offset
 * is a byte offset in d itself, the same one the JSON gives.  A change
 * someone else made under the run is told with what else there is to say
 * (the verify pass's finding too: both are facts) when with_change. */
static const char *problem(const struct device *d, char *buf, size_t size, bool with_change)
{
	int n = 0;

	buf[0] = 0;
	if (d->failed && d->err_off != NOT_SET && d->short_why)
		n = snprintf(buf, size, "%s failed: %s; it holds the source only up to byte %llu (%s)",
			     d->what, strerror(-d->err), (unsigned long long)d->err_off, d->short_why);
	else if (d->failed && d->err_off != NOT_SET)
		n = snprintf(buf, size, "%s failed at byte %llu: %s", d->what,
			     (unsigned long long)d->err_off, strerror(-d->err));
	else if (d->failed)
		n = snprintf(buf, size, "%s failed: %s", d->what, strerror(-d->err));
	else if (d->differs)
		n = snprintf(buf, size, "differs from the source at byte %llu",
			     (unsigned long long)d->diff_off);
	else if (d->note && d->err_off != NOT_SET)
		n = snprintf(buf, size, "%s (from byte %llu on)", d->note,
			     (unsigned long long)d->err_off);
	else if (d->note)
		n = snprintf(buf, size, "%s", d->note);
	if (n < 0 || (size_t)n >= size)
		n = buf[0] ? (int)strlen(buf) : 0;
	if (d->changed[0] && (with_change || !n))
		snprintf(buf + n, size - (size_t)n, "%schanged during the run by someone else: %s%s",
			 n ? "; " : "", d->changed,
			 d->verified ? "; the verify pass found it matching the source" : "");
	return buf[0] ? buf : NULL;
}

static uint64_t first_bad_offset(const struct device *d)
{
	return d->failed ? d->err_off : d->differs ? d->diff_off : d->err_off;
}

/* On standard error: a change someone else made was said as it was seen
 * (runner_check_changes); the rest here. */
void device_print_failure(const struct device *d)
{
	char buf[384];

	if ((d->failed || d->differs || d->note) && problem(d, buf, sizeof(buf), false))
		errmsg("%s: %s", d->path, buf);
}

/* A run that stopped early (--fail-fast, a read error, all else failed)
 * left the healthy destinations incomplete: they fail too, but not those
 * that hold every byte of their range all the same (the stop came after
 * their last write).  Returns how many were left incomplete. */
static unsigned int mark_incomplete(const struct report *rep)
{
	struct runner *r = rep->r;
	static char interrupted[64];
	const char *why = r->read_failed ? "not completed: reading the source failed"
		: r->signal ? interrupted
		: r->fail_fast ? "not completed: stopped after another device failed (--fail-fast)"
		: "not completed: the run stopped early";

	snprintf(interrupted, sizeof(interrupted), "not completed: interrupted (%s)",
		 signal_name(r->signal));
	unsigned int n = 0;

	if (!r->stop && !r->read_failed && !r->internal_error)
		return 0;
	for (unsigned int i = 0; i < r->ndests; i++) {
		struct device *d = &r->dests[i];

		if (d->failed || d->differs || runner_holds_all(r, i))
			continue;
		d->note = why;
		n++;
		/* Where it stops holding the source: the start of the first
		 * sub-job it did not get, below the bad sector itself. */
		d->err_off = runner_first_lacking(r, i);
		if (d->err_off == NOT_SET && r->read_failed)
			d->err_off = rep->dst_off + (r->read_off - rep->src_off);
	}
	return n;
}

static bool dest_ok(const struct device *d)
{
	char buf[384];

	return !problem(d, buf, sizeof(buf), true);
}

static bool any_problem(const struct runner *r)
{
	if (r->read_failed || r->internal_error || r->src_changed || r->log_unclosed)
		return true;
	for (unsigned int i = 0; i < r->ndests; i++)
		if (!dest_ok(&r->dests[i]))
			return true;
	return false;
}

/* Bytes per second over what this run moved; NAN (no rate to give) when it
 * moved nothing or took no measurable time. */
static double run_rate(const struct report *rep)
{
	return rep->moved && rep->seconds >= 0.001 ? (double)rep->moved / rep->seconds : NAN;
}

/* " (12.3 MiB/s, engine io_uring)", or without the rate when there is none. */
static const char *rate_engine(const struct report *rep, char *buf, size_t size)
{
	char h[32];
	double rate = run_rate(rep);

	if (isnan(rate))
		snprintf(buf, size, "engine %s", rep->engine);
	else
		snprintf(buf, size, "%s/s, engine %s", human_size((uint64_t)rate, h, sizeof(h)),
			 rep->engine);
	return buf;
}

/* "; 2 failed: b, c" for the headline. */
static void failed_list(const struct runner *r, unsigned int nfailed, char *buf, size_t size)
{
	size_t len;

	buf[0] = 0;
	if (!nfailed)
		return;
	len = (size_t)snprintf(buf, size, "; %u failed:", nfailed);
	for (unsigned int i = 0, k = 0; i < r->ndests && len < size; i++)
		if (!dest_ok(&r->dests[i]))
			len += (size_t)snprintf(buf + len, size - len, "%s %s", k++ ? "," : "",
						r->dests[i].path);
}

/* "read failed at byte N: why", one wording for the message and the JSON;
 * a source that ended early says so. */
static const char *read_error_text(const struct report *rep, char *buf, size_t size)
{
	const struct runner *r = rep->r;

	return source_error_text(rep->src, r->read_err, r->read_off, rep->src->end_now, buf, size);
}

static void print_errors(const struct report *rep)
{
	struct runner *r = rep->r;
	char buf[256];

	if (r->read_failed)
		errmsg("%s: %s", rep->src->path, read_error_text(rep, buf, sizeof(buf)));
	for (unsigned int i = 0; i < r->ndests; i++)
		if (!r->dests[i].reported)
			device_print_failure(&r->dests[i]);
}

/* The headline counts only the destinations that got everything; the
 * failures are named, then each destination has its line. */
static void print_summary(const struct report *rep)
{
	const struct runner *r = rep->r;
	char b[32], re[64], buf[384], fl[1024];
	unsigned int ok = 0;
	uint64_t ok_bytes = 0;

	for (unsigned int i = 0; i < r->ndests; i++)
		if (dest_ok(&r->dests[i])) {
			ok++;
			ok_bytes += r->dests[i].len;
		}
	failed_list(r, r->ndests - ok, fl, sizeof(fl));
	rate_engine(rep, re, sizeof(re));
	if (rep->interrupted)
		tprintf("%s of %s interrupted by %s after %.2f s (%s)\n", rep->src ? "copy" : "zeroing",
		       human_size(rep->bytes, b, sizeof(b)), signal_name(r->signal), rep->seconds, re);
	else if (rep->src && ok == r->ndests)
		tprintf("copied %s from %s to %u destination%s in %.2f s (%s)\n",
		       human_size(rep->bytes, b, sizeof(b)), rep->src->path, r->ndests,
		       r->ndests == 1 ? "" : "s", rep->seconds, re);
	else if (rep->src && ok)
		tprintf("copied %s from %s to %u of %u destinations in %.2f s (%s)%s\n",
		       human_size(rep->bytes, b, sizeof(b)), rep->src->path, ok, r->ndests,
		       rep->seconds, re, fl);
	else if (rep->src && r->ndests == 1)
		tprintf("failed to copy %s from %s to %s in %.2f s (%s)\n",
		       human_size(rep->bytes, b, sizeof(b)), rep->src->path, r->dests[0].path,
		       rep->seconds, re);
	else if (rep->src)
		tprintf("failed to copy %s from %s to any of the %u destinations in %.2f s (%s)%s\n",
		       human_size(rep->bytes, b, sizeof(b)), rep->src->path, r->ndests,
		       rep->seconds, re, fl);
	else if (ok == r->ndests)
		tprintf("zeroed %s on %u destination%s in %.2f s (%s)\n",
		       human_size(ok_bytes, b, sizeof(b)), r->ndests, r->ndests == 1 ? "" : "s",
		       rep->seconds, re);
	else if (ok)
		tprintf("zeroed %s on %u of %u destinations in %.2f s (%s)%s\n",
		       human_size(ok_bytes, b, sizeof(b)), ok, r->ndests, rep->seconds, re, fl);
	else if (r->ndests == 1)
		tprintf("failed to zero %s in %.2f s (%s)\n", r->dests[0].path, rep->seconds, re);
	else
		tprintf("failed to zero any of the %u destinations in %.2f s (%s)%s\n", r->ndests,
		       rep->seconds, re, fl);
	/* (What was done is summed over the destinations; what a copy moves
	 * is of the source, read once for all of them.) */
	if (rep->log && rep->resumed && rep->src && r->ndests > 1)
		tprintf("  resumed with the log %s: %s of writes to the %u destinations were "
			"done already; this run read %s of the source\n",
			rep->log, human_size(rep->skipped_bytes, b, sizeof(b)), r->ndests,
			human_size(rep->moved, buf, sizeof(buf)));
	else if (rep->log && rep->resumed)
		tprintf("  resumed with the log %s: %s were done already; this run moved %s\n",
		       rep->log, human_size(rep->skipped_bytes, b, sizeof(b)),
		       human_size(rep->moved, buf, sizeof(buf)));
	if (r->src_changed)
		tprintf("  %s: CHANGED during the run: %s\n", rep->src->path, r->src_change);
	for (unsigned int i = 0; i < r->ndests; i++) {
		const struct device *d = &r->dests[i];

		if (problem(d, buf, sizeof(buf), true))
			tprintf("  %s: FAILED: %s\n", d->path, buf);
		else
			tprintf("  %s: ok%s\n", d->path, d->verified ? ", verified" : "");
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
	char buf[384];
	const char *p = problem(d, buf, sizeof(buf), true);

	json_object(j, NULL);
	json_str(j, "path", d->path);
	json_str(j, "type", device_kind_name(d));
	json_str(j, "status", p ? "failed" : "ok");
	json_str(j, "error", p);
	json_offset(j, "first_failing_offset", p ? first_bad_offset(d) : NOT_SET);
	json_str(j, "changed", d->changed[0] ? d->changed : NULL);
	json_bool(j, "created", d->created);
	json_bool(j, "verified", !p && d->verified);
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
	json_str(j, "source_changed", r->src_changed ? r->src_change : NULL);
	if (!r->read_failed) {
		/* A read of the source that failed in the verify pass. */
		json_source_error(j, rep->src);
		return;
	}
	read_error_text(rep, buf, sizeof(buf));
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
	json_u64(&j, "bytes_moved", rep->moved);
	json_double(&j, "rate", run_rate(rep));
	json_str(&j, "engine", rep->engine);
	/* Whether the destinations were flushed: --log and --verify flush
	 * them whatever --no-flush says. */
	json_bool(&j, "flush", rep->o->flush || rep->o->verify || rep->o->log);
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
		if (rep->log) {
			json_offset(&j, "resume_at", rep->resume_at);
			json_str(&j, "log_error", r->log_error[0] ? r->log_error : NULL);
		}
	}
	json_str(&j, "signal", r->signal ? signal_name(r->signal) : NULL);
	json_exit_code(&j, code);
	json_end(&j);
}

static bool verify_interrupted(const struct runner *r)
{
	for (unsigned int i = 0; i < r->ndests; i++)
		if (r->dests[i].note && !strncmp(r->dests[i].note, "not verified: interrupted", 25))
			return true;
	return false;
}

/* The bytes from the start of the range that every destination still
 * written holds: the lowest first byte lacking among the incomplete ones
 * (failed destinations aside: their failure is said on its own). */
static uint64_t held_by_all(const struct report *rep)
{
	const struct runner *r = rep->r;
	uint64_t held = rep->bytes;

	for (unsigned int i = 0; i < r->ndests; i++) {
		uint64_t at = runner_first_lacking(r, i);

		if (r->dests[i].failed || runner_holds_all(r, i))
			continue;
		if (at == NOT_SET)
			return r->done_bytes < held ? r->done_bytes : held;
		if (at - rep->dst_off < held)
			held = at - rep->dst_off;
	}
	return held;
}

#define LOG_SRC_CHANGED "the log cannot resume this copy: the source changed during the run, " \
	"and a rerun with the log would be refused (remove it to copy again)"

static void say_interrupted(const struct report *rep, unsigned int incomplete)
{
	const struct runner *r = rep->r;
	unsigned int failed = 0, not_ok = 0;

	/* "Nothing left to stop, complete" is said only of a run where each
	 * destination is ok: not failed, not found to differ, not "not
	 * verified". */
	for (unsigned int i = 0; i < r->ndests; i++) {
		failed += r->dests[i].failed || r->dests[i].differs;
		not_ok += !dest_ok(&r->dests[i]);
	}

	if (!r->stop && verify_interrupted(r))
		errmsg("interrupted by %s during the verify pass: the %s finished, but is not verified",
		       signal_name(r->signal), rep->src ? "copy" : "zeroing");
	else if (!incomplete && !failed && verify_interrupted(r))
		errmsg("interrupted by %s before the verify pass: the %s finished, but is not verified",
		       signal_name(r->signal), rep->src ? "copy" : "zeroing");
	else if (!rep->interrupted && !not_ok)
		errmsg("%s: the %s was complete on every destination before it could take "
		       "effect: it had nothing left to stop",
		       signal_name(r->signal), rep->src ? "copy" : "zeroing");
	else if (!rep->interrupted)
		errmsg("%s: the %s had ended before it could take effect (with the failures "
		       "above): it had nothing left to stop",
		       signal_name(r->signal), rep->src ? "copy" : "zeroing");
	else if (rep->log && r->src_changed)
		errmsg("interrupted; %s", LOG_SRC_CHANGED);
	else if (rep->log && !r->log_on_disk)
		errmsg("interrupted; no log was written (%s does not exist): a rerun starts from "
		       "the beginning", rep->log);
	else if (rep->log && rep->resume_at != NOT_SET)
		errmsg("interrupted at byte %llu; rerun with the same --log to resume",
		       (unsigned long long)rep->resume_at);
	else if (rep->log)
		errmsg("interrupted, but every chunk was already copied");
	else
		/* What every destination holds from the start of its range (a
		 * read is not a copy), as their failing offsets say. */
		errmsg("interrupted after %llu of %llu bytes; the %s is incomplete",
		       (unsigned long long)held_by_all(rep), (unsigned long long)rep->bytes,
		       rep->src ? "copy" : "zeroing");
}

int report_finish(struct report *rep)
{
	struct runner *r = rep->r;
	unsigned int incomplete;
	int code;

	/* A signal during the verify pass, or after the run, counts too. */
	if (!r->signal)
		r->signal = signal_caught();
	rep->moved = runner_moved(r, &rep->stats);
	runner_check_changes(r);
	/* A rerun with the log refuses a source changed since it was
	 * written: there is nothing to resume. */
	if (rep->log && (r->src_changed || !r->log_on_disk))
		rep->resume_at = NOT_SET;     /* nor with no log on disk */
	incomplete = mark_incomplete(rep);
	print_errors(rep);
	code = any_problem(r) ? EXIT_FAILED : EXIT_OK;
	/* Stopped on request: 128 + the signal, as the shell would say, when
	 * the stop left something undone (a destination incomplete, the verify
	 * pass cut short).  A signal that came once every destination held
	 * (and had flushed) all of its range stopped nothing: the run is what
	 * it was, and says so. */
	rep->interrupted = r->signal && ((r->stop && incomplete) || verify_interrupted(r));
	if (rep->interrupted)
		code = 128 + r->signal;
	if (r->signal) {
		say_interrupted(rep, incomplete);
		signal_answered();
	} else if (rep->log && r->src_changed && incomplete) {
		errmsg("%s", LOG_SRC_CHANGED);
	} else if (rep->log && !r->log_on_disk && incomplete) {
		errmsg("no log was written (%s does not exist): a rerun starts from the beginning",
		       rep->log);
	} else if (rep->log && rep->resume_at != NOT_SET && incomplete) {
		/* Stopped by an error (the log's own rewrite, a read): where a
		 * rerun starts, as the log on disk says. */
		errmsg("rerun with the same --log to resume at byte %llu",
		       (unsigned long long)rep->resume_at);
	}
	/* The run has ended with this status: a stop signal while its summary
	 * is written (a full pipe) ends it with the same, saying so. */
	signals_run_ended(code);
	if (rep->o->json)
		print_json(rep, code);
	else if (!rep->o->quiet)
		print_summary(rep);
	flush_stdout();
	return code;
}

void report_setup_error(const struct options *o, int sig)
{
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "command", o->cmd_name);
	json_str(&j, "error", first_error());
	json_str(&j, "signal", sig ? signal_name(sig) : NULL);
	json_exit_code(&j, sig ? 128 + sig : EXIT_SETUP);
	json_end(&j);
}
