#!/usr/bin/env bash
# --json when kcopyd exits at once (a stop signal during set-up, a second
# stop signal, the end of the grace period): standard output still holds
# one JSON object, with the command, the error stderr gives, the signal and
# the exit status, not nothing.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/src $M
random src20 $((20 * M))
# jsonexit ACTION ARGS...: kcopyd ARGS in the background, ACTION run 0.5 s in.
jsonexit() {
	local action=$1 pid; shift
	"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	sleep 0.5
	eval "$action"
	wait $pid
	rc=$?
}
ff_rule m "open src delay=2000"
jsonexit 'kill -INT $pid' copy --json m/src d1
ff_clear m
[ "$rc" -eq 130 ] || { cat "$T/err"; fail "set-up: exit $rc, expected 130"; }
json_is "j['error']" "SIGINT during set-up: exiting; nothing was written"
json_is "j['signal']" SIGINT
json_is "j['exit_code']" 130
[ -e d1 ] && fail "set-up: d1 was created"

ff_rule m "fsync d2 delay=3000"
jsonexit 'kill -INT $pid; sleep 0.5; kill -TERM $pid' copy --json --rate 10M src20 m/d2
ff_clear m
[ "$rc" -eq 143 ] || { cat "$T/err"; fail "second signal: exit $rc, expected 143"; }
json "j['error']" | grep -q "^SIGTERM after SIGINT: exiting at once; left incomplete: m/d2" ||
	fail "second signal: the JSON's error is $(json "j['error']")"
json_is "j['exit_code']" 143

ff_rule m "fsync d3 delay=4500"
jsonexit 'kill -INT $pid' copy --json --rate 10M src20 m/d3
ff_clear m
[ "$rc" -eq 130 ] || { cat "$T/err"; fail "grace: exit $rc, expected 130"; }
json "j['error']" | grep -q "did not end within 3 s: exiting at once" ||
	fail "grace: the JSON's error is $(json "j['error']")"

# A stop while set-up writes the log (its first write, slow): set-up ends
# on it; the JSON says what the exit status is, 130, and names the signal.
ff_rule m "write l.tmp delay=1000"
jsonexit 'kill -INT $pid' copy --json --log m/l src20 d4
ff_clear m
[ "$rc" -eq 130 ] || { cat "$T/err"; fail "set-up in the log: exit $rc, expected 130"; }
json_is "j['exit_code']" 130
json_is "j['signal']" SIGINT
[ "$(grep -c 'interrupted by SIGINT' "$T/err")" -le 1 ] || fail "said twice: $(cat "$T/err")"
exit 0
