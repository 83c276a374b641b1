#!/usr/bin/env bash
# io_uring_enter failing with an error it should not give (ENOMEM, injected
# with strace) does not abort the program: once, the requests are offered
# again and the copy is whole (exit 0); for good, they fail after a while
# with that error, reported as I/O errors (exit 1), never a SIGABRT.
. "$(dirname "$0")/common.bash"
need_cmd strace
strace -f -qq -o /dev/null -e inject=io_uring_enter:error=ENOMEM:when=1 true 2>/dev/null ||
	skip "this strace cannot inject errors"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # no LSan under ptrace
random src $((10 * 1024 * 1024))
KCOPYD_ENGINE=io_uring "$KCOPYD" copy -q src probe >/dev/null 2>&1 || skip "no io_uring engine here"
rm -f d
KCOPYD_ENGINE=io_uring timeout 60 strace -f -qq -o /dev/null -e inject=io_uring_enter:error=ENOMEM:when=3 \
	"$KCOPYD" copy src d >"$T/out" 2>"$T/err" </dev/null
rc=$?
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "one failed io_uring_enter: exit $rc, expected 0"; }
same src d
rm -f d
KCOPYD_ENGINE=io_uring timeout 60 strace -f -qq -o /dev/null -e inject=io_uring_enter:error=ENOMEM:when=3+ \
	"$KCOPYD" copy src d >"$T/out" 2>"$T/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "io_uring_enter failing for good: exit $rc, expected 1"; }
err_has "Cannot allocate memory"
exit 0
