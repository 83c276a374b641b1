#!/usr/bin/env bash
# copy --log: a write(2) of the log's new text that returns 0 (no error,
# no progress) is a failed rewrite of the log, not a loop without end: the
# run stops (exit 1), saying the log cannot be written.  The 0 is injected
# with strace (skipped without one that can inject).
. "$(dirname "$0")/common.bash"
need_cmd strace
strace -f -qq -o /dev/null -e trace=write -e inject=write:retval=0:when=2+ true 2>/dev/null ||
	skip "this strace cannot inject return values"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # no LSan under ptrace
random src $((4 * 1024 * 1024))
timeout 60 strace -f -qq -o /dev/null -P "$T/lg.tmp" -e trace=write \
	-e inject=write:retval=0:when=2+ "$KCOPYD" copy --log "$T/lg" src d >"$T/out" 2>"$T/err" </dev/null
rc=$?
[ "$rc" -ne 124 ] || fail "a write of the log that returns 0 made kcopyd loop (timed out)"
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc, expected 1"; }
err_has "cannot write the copy log"
exit 0
