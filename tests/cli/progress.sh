#!/usr/bin/env bash
# Progress: nothing on a pipe by default, the line with --progress, the
# line on a terminal (under script(1)), none with --no-progress or -q.
. "$(dirname "$0")/common.bash"

random src $((4 * 1024 * 1024))
expect 0 copy src a
[ ! -s "$T/err" ] || fail "progress on a pipe: $(cat "$T/err")"
expect 0 copy --progress src b
grep -q "100%" "$T/err" || fail "--progress: $(cat "$T/err")"
grep -q "4.00 MiB / 4.00 MiB" "$T/err" || fail "--progress: $(cat "$T/err")"
expect 0 zero --progress a
grep -q "100%" "$T/err" || fail "zero --progress"
expect 0 verify --progress src b
grep -q "100%" "$T/err" || fail "verify --progress"

# A slow copy draws the line more than once, with time left.
expect 0 copy --progress --rate 4M src c
[ "$(tr '\r' '\n' <"$T/err" | grep -c "MiB /")" -ge 3 ] || fail "not redrawn: $(cat "$T/err")"
grep -q "left" "$T/err" || fail "no time left shown"

if command -v script >/dev/null; then
	script -qec "'$KCOPYD' copy src d" /dev/null >tty.out 2>&1 </dev/null
	grep -q "100%" tty.out || fail "no progress on a terminal: $(cat tty.out)"
	script -qec "'$KCOPYD' copy --no-progress src e" /dev/null >tty.out 2>&1 </dev/null
	! grep -q "100%" tty.out || fail "progress despite --no-progress"
	script -qec "'$KCOPYD' copy -q src f" /dev/null >tty.out 2>&1 </dev/null
	[ ! -s tty.out ] || fail "-q printed on a terminal: $(cat tty.out)"
	same src f
fi
exit 0
