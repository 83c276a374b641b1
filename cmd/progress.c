/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live progress line on standard error: bytes done, percent, rate and
 * time left, redrawn in place at most five times a second.  Only on a
 * terminal unless --progress asks for it, so logs and pipes stay clean.
 */
#include <stdio.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

#define REDRAW_S 0.2

bool progress_wanted(const struct options *o)
{
	if (o->progress >= 0)
		return o->progress;
	return !o->quiet && isatty(STDERR_FILENO);
}

void progress_init(struct progress *p, bool on, uint64_t total)
{
	double now = now_seconds();

	/* The first line after one redraw period: a copy shorter than that
	 * shows only its final line. */
	*p = (struct progress){ .on = on, .total = total, .start = now, .last_t = now,
				.last_draw = now };
}

static void format_eta(char *buf, size_t size, double seconds)
{
	unsigned long s;

	if (seconds < 0 || seconds > 359999) {
		snprintf(buf, size, "--:--");
		return;
	}
	s = (unsigned long)(seconds + 0.5);
	if (s >= 3600)
		snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%lu:%02lu", s / 60, s % 60);
}

/* The rate is smoothed so that one slow tick does not make the estimate
 * jump about; the first ticks use the average since the start. */
static void update_rate(struct progress *p, uint64_t done, double now)
{
	double dt = now - p->last_t, inst;

	if (dt <= 0 || done < p->last_bytes)
		return;
	inst = (double)(done - p->last_bytes) / dt;
	if (now - p->start < 1.0 || p->rate == 0)
		p->rate = (double)done / (now - p->start);
	else
		p->rate = 0.8 * p->rate + 0.2 * inst;
	p->last_t = now;
	p->last_bytes = done;
}

/* A job in the background of its terminal does not draw (and, SIGTTOU
 * being ignored, is never stopped for drawing); brought back to the
 * foreground it draws again. */
static bool in_background(void)
{
	pid_t fg = tcgetpgrp(STDERR_FILENO);

	return fg >= 0 && fg != getpgrp();
}

/* A progress line that cannot be written (the terminal closed, a pipe
 * gone) is given up; the run goes on. */
static void drawn(struct progress *p)
{
	if (fflush(stderr) || ferror(stderr)) {
		clearerr(stderr);
		p->on = false;
		p->stopped = true;
	}
}

void progress_update(struct progress *p, uint64_t done, bool force)
{
	char d[32], t[32], r[32], eta[32];
	double now = now_seconds();
	unsigned int pct;

	if (!p->on || (!force && now - p->last_draw < REDRAW_S))
		return;
	if (in_background()) {
		p->last_draw = now;
		return;
	}
	update_rate(p, p->have_moved ? p->moved : done, now);
	p->last_draw = now;
	pct = p->total ? (unsigned int)((double)done * 100.0 / (double)p->total) : 100;
	format_eta(eta, sizeof(eta),
		   p->rate > 0 ? (double)(p->total - done) / p->rate : -1);
	fprintf(stderr, "\r%s / %s  %3u%%  %s/s  %s left\033[K",
		human_size(done, d, sizeof(d)), human_size(p->total, t, sizeof(t)), pct,
		human_size((uint64_t)p->rate, r, sizeof(r)), eta);
	p->drawn = 1;
	drawn(p);
}

/* Rub the line out before a message, so the two do not mix. */
void progress_clear(struct progress *p)
{
	if (!p->on || !p->drawn)
		return;
	fputs("\r\033[K", stderr);
	p->drawn = 0;
	drawn(p);
}

void progress_status(struct progress *p, const char *verb, uint64_t done)
{
	char h[32], r[32];
	double secs = now_seconds() - p->start;
	uint64_t moved = p->have_moved ? p->moved : done;   /* the rate: not what a resume skipped */

	progress_clear(p);
	if (moved && secs >= 0.001)
		fprintf(stderr, "kcopyd: %llu bytes (%s) %s, %.3f s, %s/s\n",
			(unsigned long long)done, human_size(done, h, sizeof(h)), verb, secs,
			human_size((uint64_t)((double)moved / secs), r, sizeof(r)));
	else
		fprintf(stderr, "kcopyd: %llu bytes (%s) %s, %.3f s\n", (unsigned long long)done,
			human_size(done, h, sizeof(h)), verb, secs);
	fflush(stderr);
	clearerr(stderr);
}

/* Leave a final line standing, with the average rate and the time taken:
 * it is the run's record on a terminal. */
void progress_end(struct progress *p, uint64_t done)
{
	char d[32], t[32], r[32], el[32];
	uint64_t moved = p->have_moved ? p->moved : done;
	double secs;

	if (!p->on)
		return;
	if (in_background()) {
		p->on = false;
		return;
	}
	secs = now_seconds() - p->start;
	if (secs < 60)
		snprintf(el, sizeof(el), "%.1f s", secs);
	else
		format_eta(el, sizeof(el), secs);
	fprintf(stderr, "\r%s / %s  %3u%%  %s/s  %s elapsed\033[K\n",
		human_size(done, d, sizeof(d)), human_size(p->total, t, sizeof(t)),
		p->total ? (unsigned int)((double)done * 100.0 / (double)p->total) : 100,
		human_size(secs >= 0.001 ? (uint64_t)((double)moved / secs) : 0, r, sizeof(r)), el);
	drawn(p);
	p->on = false;
}
