/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd: copy, zero, verify and inspect files and block devices with
 * libkcopyd.  See kcopyd(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

static char first_msg[512];

/* Text for a terminal: the bytes of names (a file name may hold any byte
 * but '/' and NUL) that would move the cursor, clear the screen or start
 * an escape sequence are written as \xNN; a last newline is kept. */
static void put_text(FILE *f, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && !(c == '\n' && i == n - 1) && c != '\t') || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

void tprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0) {
		put_text(stdout, s);
		free(s);
	}
	va_end(ap);
}

void errmsg(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (!first_msg[0]) {
		va_list copy;

		va_copy(copy, ap);
		vsnprintf(first_msg, sizeof(first_msg), fmt, copy);
		va_end(copy);
		/* A warning is not the error a JSON error object names. */
		if (!strncmp(first_msg, "warning: ", 9) || strstr(first_msg, ": warning: "))
			first_msg[0] = 0;
	}
	fputs("kcopyd: ", stderr);
	{
		va_list copy;

		va_copy(copy, ap);
		if (vasprintf(&s, fmt, copy) >= 0) {
			put_text(stderr, s);
			free(s);
		} else {
			vfprintf(stderr, fmt, ap);      /* out of memory: as it is */
		}
		va_end(copy);
	}
	fputc('\n', stderr);
	va_end(ap);
}

const char *first_error(void)
{
	return first_msg[0] ? first_msg : NULL;
}

/* Every set-up error ends here: with --json the summary still comes, so a
 * script reading standard output learns what went wrong.  A set-up cut
 * short by a stop signal is answered here, the exit status and the JSON
 * alike: 128 + the signal. */
int setup_failed(const struct options *o)
{
	int sig = signal_caught();

	if (sig) {
		errmsg("interrupted by %s during set-up: nothing was written", signal_name(sig));
		signal_answered();
	}
	if (o->json)
		report_setup_error(o, sig);
	return sig ? 128 + sig : EXIT_SETUP;
}

/* ---- signals ---------------------------------------------------------- */

/* Signals that stop a run: the first one is only recorded; the run polls
 * it, cancels the library's jobs, saves what can be saved and exits 128 +
 * the signal.  A second one exits at once (the user wants out now), saying
 * what is left.  SIGUSR1 asks for a status line, as dd's users expect;
 * SIGXFSZ, SIGPIPE, SIGTTOU and SIGTTIN are ignored, so that a write past
 * ulimit -f fails with EFBIG, a closed pipe with EPIPE, and a background
 * job writing to its terminal is not stopped.
 *
 * They are blocked in every thread and taken by one thread of their own
 * (sigtimedwait), which never does I/O: a thread stuck in a slow fsync or
 * read cannot keep a second signal, or the grace period's end, from
 * taking effect.  Every signal whose default is to end the process is a
 * stop signal, but for those a crash raises (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGABRT), which keep their default. */
static const int stop_signals[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGUSR2, SIGXCPU, SIGPROF, SIGVTALRM,
	SIGPWR, SIGIO, SIGSYS, SIGTRAP, SIGSTKFLT,
};
static _Atomic int caught, status_asked;      /* set by the signal thread */
static char last_words[1024];
static int last_words_len;               /* under words_lock */
static pthread_mutex_t words_lock = PTHREAD_MUTEX_INITIALIZER;
static bool stderr_tty;
static sigset_t taken;                  /* the signals the thread takes */
static pthread_t sig_thread;
static bool sig_thread_made;
static _Atomic bool sig_quit;           /* signals_end: the thread returns */
static sem_t sig_ready;

const char *signal_name(int sig)
{
	static char rt[16];

	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	case SIGALRM: return "SIGALRM";
	case SIGUSR2: return "SIGUSR2";
	case SIGXCPU: return "SIGXCPU";
	case SIGPROF: return "SIGPROF";
	case SIGVTALRM: return "SIGVTALRM";
	case SIGPWR: return "SIGPWR";
	case SIGIO: return "SIGIO";
	case SIGSYS: return "SIGSYS";
	case SIGTRAP: return "SIGTRAP";
	case SIGSTKFLT: return "SIGSTKFLT";
	default:
		if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
			snprintf(rt, sizeof(rt), "SIGRTMIN+%d", sig - SIGRTMIN);
			return rt;
		}
		return "a signal";
	}
}

/* The signal thread's last words go out only while the descriptor takes
 * them: a pipe that nobody reads must not keep an exit at once from
 * happening.  Until say_until (now_seconds()), each piece waits for room
 * (POLLOUT: a pipe then takes a piece of up to PIPE_BUF bytes whole);
 * after it, what is left is dropped. */
static double say_until;

static void write_bounded(int fd, const char *s, size_t len)
{
	while (len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		double left = say_until - now_seconds();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0 ||
		    (p.revents & (POLLERR | POLLNVAL)))
			return;
		n = write(fd, s, len < PIPE_BUF ? len : PIPE_BUF);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void say(const char *s, size_t len)
{
	write_bounded(STDERR_FILENO, s, len);
}

static _Atomic int in_setup = 1;

/* --json: the command's name (NULL: no JSON), and who writes standard
 * output's one document: nobody yet, the command (writing, then done), or
 * an exit at once. */
static const char *json_cmd;
enum { JSON_FREE, JSON_COMMAND, JSON_COMMAND_DONE, JSON_EXIT };
static _Atomic int json_owner = JSON_FREE;

void signals_json(const char *cmd_name)
{
	json_cmd = cmd_name;
}

bool signals_json_claim(void)
{
	int free_ = JSON_FREE;

	return atomic_compare_exchange_strong(&json_owner, &free_, JSON_COMMAND);
}

static _Atomic int json_done_code = -1;

void signals_run_ended(int code)
{
	json_done_code = code;
}

void signals_json_done(int code)
{
	if (code >= 0)
		json_done_code = code;
	json_owner = JSON_COMMAND_DONE;
}

/* The JSON of an exit at once: the command, the error (what stderr says),
 * the signal and the exit status.  Written with write(2) whole, not through
 * stdout's buffer, which the main thread owns. */
static void say_json(int code, int sig, const char *error)
{
	static char buf[4096];
	struct json j;
	FILE *f;
	long n;

	if (!json_cmd)
		return;
	f = fmemopen(buf, sizeof(buf), "w");
	if (!f)
		return;
	json_begin(&j, f);
	json_str(&j, "command", json_cmd);
	json_str(&j, "error", error);
	json_str(&j, "signal", signal_name(sig));
	json_int(&j, "exit_code", code);
	json_end(&j);
	fflush(f);
	n = ftell(f);
	fclose(f);
	if (n > 0 && n < (long)sizeof(buf))
		write_bounded(STDOUT_FILENO, buf, (size_t)n);
}

/* Exit now, with 128 + sig (code), saying the signal's name, then what
 * (" again: exiting at once", ...), then the last words; in the JSON too. */
static _Noreturn void exit_now(int code, int sig, const char *what, bool last)
{
	static char msg[1600];

	int free_ = JSON_FREE, done;
	bool own_json = atomic_compare_exchange_strong(&json_owner, &free_, JSON_EXIT);

	say_until = now_seconds() + 2;  /* then exit, said or not */

	/* The command is writing its document (one write of it whole): let
	 * it end, a moment, so that standard output holds it complete. */
	for (int i = 0; !own_json && json_owner == JSON_COMMAND && i < 100; i++)
		usleep(10000);
	done = json_done_code;
	if (last)
		pthread_mutex_lock(&words_lock);    /* never unlocked: we end here */
	if (done >= 0) {
		/* The JSON said how the run ended: the status stays its. */
		snprintf(msg, sizeof(msg), "%s after the run had ended: exiting with its status %d",
			 signal_name(sig), done);
		code = done;
	} else {
		snprintf(msg, sizeof(msg), "%s%s%.*s", signal_name(sig), what,
			 last ? last_words_len : 0, last_words);
	}
	if (stderr_tty)
		say("\r\033[K", 4);         /* rub out a progress line */
	say("kcopyd: ", 8);
	say(msg, strlen(msg));
	say("\n", 1);
	if (own_json)
		say_json(code, sig, msg);
	_exit(code);
}

#define STR_(x) #x
#define STRINGIFY(x) STR_(x)
/* The grace period's end, in now_seconds() (0: none: no stop signal yet),
 * and what the first stop signal calls (signals_on_stop). */
static _Atomic double grace_end;
static void (*stop_hook)(void *);       /* under hook_lock */
static void *stop_hook_arg;
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;

/* What the grace period waits for, said when it ends (NULL: the run's I/O). */
static const char *_Atomic busy_what;

void signals_busy(const char *what)
{
	busy_what = what;
}

static void signals_grace(void)
{
	grace_end = now_seconds() + STOP_GRACE;
}

void signals_on_stop(void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&hook_lock);
	stop_hook = fn;
	stop_hook_arg = arg;
	pthread_mutex_unlock(&hook_lock);
}

static void *signal_thread(void *arg)
{
	const struct timespec tick = { .tv_nsec = 100000000 };

	(void)arg;
	sem_post(&sig_ready);
	for (;;) {
		double end = grace_end;
		int sig = sigtimedwait(&taken, NULL, &tick);

		if (sig_quit)
			return NULL;
		if (sig < 0) {
			if (end > 0 && now_seconds() >= end && caught) {
				static char what[160];
				const char *busy = busy_what;

				snprintf(what, sizeof(what), ": %s did not end within "
					 STRINGIFY(STOP_GRACE) " s: exiting at once",
					 busy ? busy : "the I/O, flush or log rewrite under way");
				exit_now(128 + caught, caught, what, true);
			}
			continue;
		}
		if (sig == SIGUSR1) {
			status_asked = 1;
			continue;
		}
		if (in_setup)
			exit_now(128 + sig, sig, " during set-up: exiting; nothing was written", false);
		if (caught) {
			char what[64];

			snprintf(what, sizeof(what), " %s%s: exiting at once",
				 sig == caught ? "again" : "after ",
				 sig == caught ? "" : signal_name(caught));
			exit_now(128 + sig, sig, what, true);
		}
		caught = sig;
		signals_grace();
		pthread_mutex_lock(&hook_lock);
		if (stop_hook)
			stop_hook(stop_hook_arg);
		pthread_mutex_unlock(&hook_lock);
	}
	return NULL;
}

void signals_setup_done(void)
{
	in_setup = 0;
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

/* First thing of all, before a word is written (--help into a closed pipe
 * or a file past ulimit -f): the write fails and says so, rather than a
 * signal ending the program without a word. */
static void ignore_write_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);
	sigaction(SIGTTOU, &sa, NULL);
	sigaction(SIGTTIN, &sa, NULL);
}

/* Signal 32 is glibc's own (SIGCANCEL): sigaction() refuses it, and until
 * a first pthread_cancel (which installs glibc's handler) its action is the
 * default, which ends the process, so one sent from outside killed
 * kcopyd.  kcopyd cancels no thread: the kernel is told to ignore it,
 * directly.  (A pthread_cancel of our own would do, but glibc loads
 * libgcc_s for it, and under a low ulimit -v that fails and it aborts.) */
static void ignore_sigcancel(void)
{
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} ksa = { .handler = SIG_IGN };

	syscall(SYS_rt_sigaction, 32, &ksa, NULL, sizeof(ksa.mask));
}

/* Before any other thread exists, so that every thread inherits the mask.
 * Returns 0, or -1 (said) when the signal thread cannot be started. */
int signals_install(void)
{
	struct sigaction old;
	pthread_attr_t attr;
	pthread_t t;
	int err;

	sigemptyset(&taken);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		/* nohup: a hang-up that was ignored stays ignored. */
		if (stop_signals[i] == SIGHUP && sigaction(SIGHUP, NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaddset(&taken, stop_signals[i]);
	}
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(&taken, sig);
	sigaddset(&taken, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &taken, NULL);
	cpu_limit_margin();
	stderr_tty = isatty(STDERR_FILENO);
	sem_init(&sig_ready, 0, 0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	err = pthread_create(&t, &attr, signal_thread, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		/* Nothing has been touched yet: a set-up error, as for the
		 * engine's own threads. */
		pthread_sigmask(SIG_UNBLOCK, &taken, NULL);
		errmsg("cannot start the thread that answers signals (ulimit -u?): %s",
		       strerror(err));
		return -1;
	}
	sig_thread = t;
	sig_thread_made = true;
	while (sem_wait(&sig_ready) && errno == EINTR)
		;                       /* signal 32 is safe from here on */
	return 0;
}

/* At the end of main: the signal thread is ended and joined, so that
 * nothing of it is left at exit (valgrind counts a live thread's memory). */
static void signals_end(void)
{
	if (!sig_thread_made)
		return;
	sig_quit = true;
	pthread_kill(sig_thread, SIGUSR1);      /* ends its sigtimedwait now */
	pthread_join(sig_thread, NULL);
	sig_thread_made = false;
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

bool eintr_again(unsigned int *tries)
{
	if (*tries >= 10)
		return false;
	usleep(1000u << (*tries < 7 ? *tries : 7));
	++*tries;
	return true;
}

bool status_requested(void)
{
	if (!status_asked)
		return false;
	status_asked = 0;
	return true;
}

/* What a second stop signal prints after "exiting at once": set under a
 * lock the signal thread takes to print them, so it never sees half. */
void signals_last_words(const char *fmt, ...)
{
	va_list ap;
	int n;

	pthread_mutex_lock(&words_lock);
	va_start(ap, fmt);
	n = fmt ? vsnprintf(last_words, sizeof(last_words), fmt, ap) : 0;
	va_end(ap);
	last_words_len = n < 0 ? 0 : n >= (int)sizeof(last_words) ? (int)sizeof(last_words) - 1 : n;
	pthread_mutex_unlock(&words_lock);
}

/* Standard output is where the summary and the JSON go: a failure to write
 * it (a closed pipe, a full disk) is said, and the exit code is not 0. */
static int stdout_errno;

void stdout_failed(int err)
{
	if (!stdout_errno)
		stdout_errno = err;
}

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

/* The main thread's stack is what RLIMIT_STACK allows (the other threads
 * have theirs set).  Measured (copy to a new and an existing file, with
 * --verify and --log, verify, zero, info): 80 KiB is the smallest ulimit -s
 * at which all work; this asks for three times that.  A soft limit below
 * it is raised (the stack grows up to the limit in force at the time); a
 * hard limit below it is refused before anything is touched, rather than
 * a SIGSEGV part way.  Returns 0, or -1 (said). */
#define MIN_STACK_KIB 256u

static int stack_limit(void)
{
	struct rlimit rl;
	const rlim_t need = (rlim_t)MIN_STACK_KIB << 10;

	if (getrlimit(RLIMIT_STACK, &rl) || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		errmsg("the stack limit (ulimit -s) is %llu KiB; kcopyd needs at least %u KiB",
		       (unsigned long long)(rl.rlim_max >> 10), MIN_STACK_KIB);
		return -1;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_STACK, &rl)) {
		errmsg("the stack limit (ulimit -s) is %llu KiB and could not be raised to the "
		       "%u KiB kcopyd needs: %s", (unsigned long long)(rl.rlim_max >> 10),
		       MIN_STACK_KIB, strerror(errno));
		return -1;
	}
	return 0;
}

/* Before anything else runs: a soft stack limit below what kcopyd needs,
 * with room under the hard one, is raised at once (stack_limit() says so
 * if that fails); a hard limit so small (a few tens of KiB) that even
 * formatting a message may not fit is said with write(2) and a static
 * text, and the exit is a set-up error. */
#define TINY_STACK_KIB 64u
static void tiny_stack(void)
{
	static const char head[] = "kcopyd: the stack limit (ulimit -s) is ";
	static const char tail[] = " KiB; kcopyd needs at least 256 KiB\n";
	const rlim_t need = (rlim_t)MIN_STACK_KIB << 10;
	char num[24], *p = num + sizeof(num);
	struct rlimit rl;
	unsigned long long kib;

	if (getrlimit(RLIMIT_STACK, &rl))
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need &&
	    (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need)) {
		rl.rlim_cur = need;
		(void)setrlimit(RLIMIT_STACK, &rl);
	}
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)TINY_STACK_KIB << 10)
		return;
	kib = (unsigned long long)(rl.rlim_max >> 10);
	do
		*--p = (char)('0' + kib % 10);
	while (kib /= 10);
	if (write(STDERR_FILENO, head, sizeof(head) - 1) < 0 ||
	    write(STDERR_FILENO, p, (size_t)(num + sizeof(num) - p)) < 0 ||
	    write(STDERR_FILENO, tail, sizeof(tail) - 1) < 0)
		_exit(EXIT_SETUP);
	_exit(EXIT_SETUP);
}

int main(int argc, char **argv)
{
	struct options o;
	int ret;

	tiny_stack();
	ignore_write_signals();
	ignore_sigcancel();
	fill_std_fds();
	ret = parse_options(argc, argv, &o);

	if (ret > 0)            /* --help, --version: written, if standard output takes it */
		return check_stdout(EXIT_OK);
	if (ret < 0 || stack_limit())
		return setup_failed(&o);
	if (o.json)
		signals_json(o.cmd_name);
	if (signals_install())
		return setup_failed(&o);
	switch (o.cmd) {
	case CMD_COPY: ret = cmd_copy(&o); break;
	case CMD_ZERO: ret = cmd_zero(&o); break;
	case CMD_VERIFY: ret = cmd_verify(&o); break;
	case CMD_INFO: ret = cmd_info(&o); break;
	default: ret = EXIT_SETUP; break;
	}
	/* info is too quick to poll: a stop signal is answered at its end;
	 * after the JSON said how the run ended, its status stays. */
	if (signal_caught() && !answered && ret < 128 && json_done_code >= 0) {
		errmsg("%s after the run had ended: exiting with its status %d",
		       signal_name(signal_caught()), ret);
	} else if (signal_caught() && !answered && ret < 128) {
		errmsg("interrupted by %s%s", signal_name(signal_caught()),
		       ret == EXIT_SETUP ? " during set-up: nothing was written" : "");
		ret = 128 + signal_caught();
	}
	ret = check_stdout(ret);
	signals_end();
	return ret;
}
