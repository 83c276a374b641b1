#!/usr/bin/env bash
# copy --verify whose read-back does not run (the run was stopped first)
# never says "verified": not in the text, not in the JSON, not by exit 0.
#  - a stop signal during the last flush, after every byte was written,
#    while someone else changes a byte of the destination (which only the
#    read-back could see): exit 130, "not verified", JSON verified false;
#  - --fail-fast with a write error on another destination: the healthy
#    one got every byte but was not read back: not "ok, verified";
#  - without a stop, the same run reads back and finds the changed byte.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((4 * M))

# Wait until rule 0 has seen a request (the flush under way).
wait_seen() {
	local i
	for ((i = 0; i < 200; i++)); do
		sed -n 's/^0 seen=\([0-9]*\).*/\1/p' m/.faultfs | grep -qv '^0$' && return 0
		sleep 0.05
	done
	fail "rule 0 never saw a request"
}

c_signal_in_flush() {
	ff_rule m "fsync d1 delay=1500"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --json --verify src m/d1 >"$T/out" 2>"$T/err" </dev/null &
	local pid=$!
	wait_seen
	flip m.back/d1 1000              # someone else; the copy is written by now
	kill -INT $pid
	wait $pid
	rc=$?
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "exit $rc, expected 130"; }
	json_is 'j["destinations"][0]["verified"]' False
	json_is 'j["destinations"][0]["status"]' failed
	json_is '"not verified" in j["destinations"][0]["error"]' True
	json_is 'j["exit_code"]' 130
	err_has "m/d1: not verified: interrupted (SIGINT) before the verify pass"
	err_has "before the verify pass: the copy finished, but is not verified"
	cmp -s src m.back/d1 && fail "the byte was not changed: the case proves nothing"
	return 0
}

c_signal_in_flush_text() {
	ff_rule m "fsync d1 delay=1500"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --verify src m/d1 >"$T/out" 2>"$T/err" </dev/null &
	local pid=$!
	wait_seen
	kill -TERM $pid
	wait $pid
	rc=$?
	[ "$rc" -eq 143 ] || { cat "$T/err"; fail "exit $rc, expected 143"; }
	grep -q "verified" "$T/out" && ! grep -q "not verified" "$T/out" &&
		fail "said verified: $(cat "$T/out")"
	grep -q "m/d1: ok" "$T/out" && fail "said ok: $(cat "$T/out")"
	same src m.back/d1
}

c_fail_fast() {
	ff_rule m "write d1 off=0 len=1 err=EIO"
	fk "$e" copy --json --fail-fast --verify src m/d1 m/d2
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc"
	json_is 'j["destinations"][0]["status"]' failed
	json_is 'j["destinations"][1]["verified"]' False
	json_is 'j["destinations"][1]["status"]' failed
	json_is '"not verified" in j["destinations"][1]["error"] or "not completed" in j["destinations"][1]["error"]' True
	k copy --fail-fast --verify src m/d1 m/d3
	grep -q "m/d3: ok, verified" "$T/out" && fail "d3 said verified: $(cat "$T/out")"
	return 0
}

# The same change without a stop: the read-back finds it.
c_no_stop_finds() {
	ff_rule m "fsync d1 delay=800"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --json --verify src m/d1 >"$T/out" 2>"$T/err" </dev/null &
	local pid=$!
	wait_seen
	flip m.back/d1 1000
	wait $pid
	rc=$?
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc, expected 1 (it differs)"; }
	json_is 'j["destinations"][0]["verified"]' False
	json_is 'j["destinations"][0]["first_failing_offset"]' 1000
}

# The read-back finds a difference (the flush cuts d1 short, then regrows
# it), then a stop comes while the log records that: the run had ended
# with a failure, and is never said to be complete on every destination.
c_differs_then_signal() {
	ff_rule m "fsync d1 count=1 truncate=4194000" "fsync d1 count=1 truncate=4M" \
		"fsync l.tmp after=3 delay=1500"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --verify --log m/l src m/d1 >"$T/out" 2>"$T/err" </dev/null &
	local pid=$! i
	for ((i = 0; i < 400; i++)); do        # the log's slow flush has begun
		[ "$(ff_fired m 2)" -gt 0 ] 2>/dev/null && break
		sleep 0.02
	done
	kill -INT $pid
	wait $pid
	rc=$?
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc, expected 1 (d1 differs)"; }
	grep -q "complete on every destination" "$T/err" && { cat "$T/err"; fail "said complete"; }
	grep -q "m/d1: ok" "$T/out" && fail "d1 said ok: $(cat "$T/out")"
	return 0
}

for e in "${ENGINES[@]}"; do
	for c in signal_in_flush signal_in_flush_text fail_fast no_stop_finds differs_then_signal; do
		ff_clear m; rm -f m.back/d1 m.back/d2 m.back/d3 m.back/l m.back/l.tmp m.back/l.lock
		run_case "$e/$c" "c_$c"
	done
done
cases_done
