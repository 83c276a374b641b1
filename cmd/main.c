/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd: copy, zero, verify and inspect files and block devices with
 * libkcopyd.  See kcopyd(1).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kcopyd-cmd.h"

static char first_msg[512];

void errmsg(const char *fmt, ...)
	    {
	    va_list ap;

	va_start(ap, fmt);
	if (!first_msg[0]) {
		va_list copy;

		va_copy(copy, ap);
		vsnprintf(first_msg, sizeof(first_msg), fmt, copy);
		va_end(copy);
	}
	fputs("kcopyd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const char *first_error(void)
{
	return first_msg[0] ? first_msg : NULL;
}

/* Every set-up error ends here: with --json the summary still comes, so a
 * script reading standard output learns what went wrong. */
int setup_failed(const struct options *o)
{
	if (o->json)
		report_setup_error(o);
	return EXIT_SETUP;
}

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
	caught = sig;
}

void signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART | SA_RESETHAND;   /* a second signal kills */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int signal_caught(void)
{
	return caught;
}

int main(int argc, char **argv)
{
	struct options o;
	int ret = parse_options(argc, argv, &o);

	if (ret > 0)
		return EXIT_OK;
	if (ret < 0)
		return setup_failed(&o);
	/* A closed pipe on standard output must not kill a copy halfway. */
	signal(SIGPIPE, SIG_IGN);
	if (o.cmd == CMD_COPY || o.cmd == CMD_ZERO)
		signals_install();
	switch (o.cmd) {
	case CMD_COPY: return cmd_copy(&o);
	case CMD_ZERO: return cmd_zero(&o);
	case CMD_VERIFY: return cmd_verify(&o);
	case CMD_INFO: return cmd_info(&o);
	}
	return EXIT_SETUP;
}
