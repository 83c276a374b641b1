/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd: copy, zero, verify and inspect files and block devices with
 * libkcopyd.  See kcopyd(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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

/* ---- signals ---------------------------------------------------------- */

/* Signals that stop a run: the handler only records the first one; the run
 * polls it, cancels the library's jobs, saves what can be saved and exits
 * 128 + the signal.  A second one exits at once (the user wants out now),
 * saying what is left.  SIGUSR1 asks for a status line, as dd's users
 * expect; SIGXFSZ, SIGPIPE, SIGTTOU and SIGTTIN are ignored, so that a
 * write past ulimit -f fails with EFBIG, a closed pipe with EPIPE, and a
 * background job writing to its terminal is not stopped. */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGUSR2, SIGXCPU };
static volatile sig_atomic_t caught, status_asked;
static char last_words[1024];
static volatile sig_atomic_t last_words_len;
static bool stderr_tty;

const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	case SIGALRM: return "SIGALRM";
	case SIGUSR2: return "SIGUSR2";
	case SIGXCPU: return "SIGXCPU";
	default: return "a signal";
	}
}

static void say(const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(STDERR_FILENO, s, len);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static volatile sig_atomic_t in_setup = 1;

static void say_name(int sig)
{
	const char *name = signal_name(sig);

	if (stderr_tty)
		say("\r\033[K", 4);         /* rub out a progress line */
	say("kcopyd: ", 8);
	say(name, strlen(name));
}

static void on_stop(int sig)
{
	int saved = errno;

	if (in_setup) {
		static const char msg[] = " during set-up: exiting; nothing was written\n";

		say_name(sig);
		say(msg, sizeof(msg) - 1);
		_exit(128 + sig);
	}
	if (caught) {
		say_name(sig);
		if (sig == caught) {
			say(" again", 6);
		} else {
			say(" after ", 7);
			say(signal_name(caught), strlen(signal_name(caught)));
		}
		say(": exiting at once", 17);
		say(last_words, (size_t)last_words_len);
		say("\n", 1);
		_exit(128 + sig);
	}
	caught = sig;
	errno = saved;
}

/* The grace timer: what was in flight at the stop did not end in time. */
#define STR_(x) #x
#define STRINGIFY(x) STR_(x)
#define GRACE_SIGNAL (SIGRTMIN + 1)
static timer_t grace_timer;
static bool grace_made;

static void on_grace(int sig)
{
	static const char msg[] = ": the I/O in flight did not end within "
		STRINGIFY(STOP_GRACE) " s: exiting at once";

	(void)sig;
	if (!caught)
		return;
	say_name(caught);
	say(msg, sizeof(msg) - 1);
	say(last_words, (size_t)last_words_len);
	say("\n", 1);
	_exit(128 + caught);
}

void signals_setup_done(void)
{
	in_setup = 0;
}

void signals_grace(bool on)
{
	struct itimerspec t = { .it_value = { .tv_sec = on ? STOP_GRACE : 0 } };

	if (grace_made)
		timer_settime(grace_timer, 0, &t, NULL);
}

static void on_status(int sig)
{
	(void)sig;
	status_asked = 1;
}

/* ulimit -t sets the soft and the hard CPU limit alike, and the kernel's
 * SIGKILL at the hard limit cannot be caught: a soft limit one second below
 * it gives a SIGXCPU, and so an orderly stop, first. */
static void cpu_limit_margin(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_CPU, &rl) || rl.rlim_max == RLIM_INFINITY)
		return;
	if (rl.rlim_max < 2) {
		/* No room for a SIGXCPU before it: say so before anything. */
		errmsg("warning: the CPU time limit (ulimit -t) is %llu s: the kernel kills "
		       "kcopyd (SIGKILL, which no program can catch) once it has used that much, "
		       "leaving the run incomplete; with 2 s or more it stops in order",
		       (unsigned long long)rl.rlim_max);
		return;
	}
	if (rl.rlim_cur < rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max - 1;
	setrlimit(RLIMIT_CPU, &rl);
}

void signals_install(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&sa.sa_mask, stop_signals[i]);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_stop;
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		/* nohup: a hang-up that was ignored stays ignored. */
		if (stop_signals[i] == SIGHUP && sigaction(SIGHUP, NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(stop_signals[i], &sa, NULL);
	}
	sa.sa_handler = on_status;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_grace;
	sigaction(GRACE_SIGNAL, &sa, NULL);
	{
		struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = GRACE_SIGNAL };

		grace_made = timer_create(CLOCK_MONOTONIC, &ev, &grace_timer) == 0;
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);
	sigaction(SIGTTOU, &sa, NULL);
	sigaction(SIGTTIN, &sa, NULL);
	cpu_limit_margin();
	stderr_tty = isatty(STDERR_FILENO);
}

int signal_caught(void)
{
	return caught;
}

static bool answered;

void signal_answered(void)
{
	answered = true;
}

bool status_requested(void)
{
	if (!status_asked)
		return false;
	status_asked = 0;
	return true;
}

/* What a second stop signal prints after "exiting at once": set while the
 * stop signals are blocked, so the handler never sees half a string. */
void signals_last_words(const char *fmt, ...)
{
	sigset_t block, old;
	va_list ap;
	int n;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&block, stop_signals[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	va_start(ap, fmt);
	n = fmt ? vsnprintf(last_words, sizeof(last_words), fmt, ap) : 0;
	va_end(ap);
	last_words_len = n < 0 ? 0 : n >= (int)sizeof(last_words) ? (int)sizeof(last_words) - 1 : n;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Standard output is where the summary and the JSON go: a failure to write
 * it (a closed pipe, a full disk) is said, and the exit code is not 0. */
static int stdout_errno;

void flush_stdout(void)
{
	if (fflush(stdout) && !stdout_errno)
		stdout_errno = errno;
}

static int check_stdout(int code)
{
	int err;

	flush_stdout();
	err = stdout_errno;
	if (!err && !ferror(stdout))
		return code;
	errmsg("standard output: cannot write the %s: %s", code == EXIT_SETUP ? "error" : "summary",
	       err ? strerror(err) : "write error");
	return code == EXIT_OK ? EXIT_FAILED : code;
}

int fd_to_null(int fd, int flags)
{
	int nfd = open("/dev/null", flags | O_CLOEXEC), ret = 0;

	if (nfd < 0)
		return -errno;
	if (nfd != fd && dup2(nfd, fd) < 0)      /* dup2's copy is not close-on-exec */
		ret = -errno;
	if (nfd != fd)
		close(nfd);
	return ret;
}

/* Started with standard input, output or error closed, the first devices
 * opened would take their numbers, and the summary would be written into
 * one.  /dev/null read-only fills them: output to it fails, and is said
 * (and, being no file nor block device, it is never taken for a device by
 * device_check_output). */
static void fill_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			fd_to_null(fd, O_RDONLY);
}

int main(int argc, char **argv)
{
	struct options o;
	int ret;

	fill_std_fds();
	ret = parse_options(argc, argv, &o);

	if (ret > 0)
		return EXIT_OK;
	if (ret < 0)
		return setup_failed(&o);
	signals_install();
	switch (o.cmd) {
	case CMD_COPY: ret = cmd_copy(&o); break;
	case CMD_ZERO: ret = cmd_zero(&o); break;
	case CMD_VERIFY: ret = cmd_verify(&o); break;
	case CMD_INFO: ret = cmd_info(&o); break;
	default: ret = EXIT_SETUP; break;
	}
	/* info is too quick to poll: a stop signal is answered at its end. */
	if (signal_caught() && !answered && ret < 128) {
		errmsg("interrupted by %s%s", signal_name(signal_caught()),
		       ret == EXIT_SETUP ? " during set-up: nothing was written" : "");
		ret = 128 + signal_caught();
	}
	return check_stdout(ret);
}
