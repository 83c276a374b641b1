#!/usr/bin/env bash
# What a run that stopped says about each destination, on faultfs, on both
# engines:
#  - --fail-fast: the destinations that hold every byte all the same (the
#    stop came after their last write) are "ok", with no failing offset;
#  - a destination whose write failed above a failed read of the source is
#    not said to have failed "at" the read's offset: it holds the source up
#    to there, because the read failed there;
#  - a stop signal that comes during the final flush, after every byte was
#    written, stopped nothing: exit 0, every line says so (with and without
#    --log), and the data is there.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((8 * M))
cp src m.back/src

c_fail_fast_ok() {
	ff_rule m "write d2 off=7M err=EIO"
	fk "$e" copy --json --fail-fast src m/d1 m/d2 m/d3
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc"
	err_has "m/d2: write failed at byte $((7 * M)): Input/output error"
	json_is 'j["destinations"][0]["status"]' ok
	json_is 'j["destinations"][0]["first_failing_offset"]' None
	json_is 'j["destinations"][2]["status"]' ok
	json_is 'j["destinations"][1]["first_failing_offset"]' $((7 * M))
	same src m.back/d1
	same src m.back/d3
	fk "$e" copy --fail-fast src m/d1 m/d2 m/d3
	grep -q "copied 8.00 MiB from src to 2 of 3 destinations" "$T/out" || fail "headline: $(cat "$T/out")"
	grep -q "m/d1: ok" "$T/out" || fail "d1 not ok: $(cat "$T/out")"
	grep -q "m/d3: ok" "$T/out" || fail "d3 not ok: $(cat "$T/out")"
}

c_write_below_read() {
	ff_rule m "read src off=2M len=4K err=EIO" "write d2 off=5M err=EIO"
	fk "$e" copy --json m/src m/d1 m/d2
	ff_fires m 0; ff_fires m 1
	[ "$rc" -eq 1 ] || fail "exit $rc"
	err_has "m/d2: write failed: Input/output error; it holds the source only up to byte $((2 * M)) (the source's read failed there)"
	grep -q "write failed at byte $((2 * M))" "$T/err" && fail "a write failure placed at the read's offset"
	json_is 'j["destinations"][1]["first_failing_offset"]' $((2 * M))
	cmp -n $((2 * M)) src m.back/d2 || fail "d2 does not hold the source up to 2 MiB"
}

# A SIGINT while the destination's fsync is held up, after every write.
flush_signal() {
	ff_rule m "fsync d1 delay=1000"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --json "$@" src m/d1 >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	for ((n = 0; n < 100; n++)); do
		[ "$(ff_fired m 0)" = 0 ] || break
		sleep 0.05
	done
	ff_fires m 0
	kill -INT $pid
	wait $pid
	rc=$?
	[ "$rc" -eq 0 ] || { cat "$T/out" "$T/err"; fail "exit $rc for a signal that stopped nothing"; }
	err_has "SIGINT: the copy was complete on every destination before it could take effect: it had nothing left to stop"
	grep -q "incomplete" "$T/err" && fail "said incomplete: $(cat "$T/err")"
	json_is 'j["signal"]' SIGINT
	json_is 'j["exit_code"]' 0
	json_is 'j["destinations"][0]["status"]' ok
	same src m.back/d1
}
c_flush_signal() { flush_signal; }
c_flush_signal_log() {
	flush_signal --log m/LG
	grep -q "^state closed" m.back/LG || grep -q "^state done" m.back/LG || { cat m.back/LG; fail "the log is not closed"; }
	grep -q " ?$" m.back/LG && { cat m.back/LG; fail "the log has chunks to do"; }
	true
}

for e in "${ENGINES[@]}"; do
	for c in fail_fast_ok write_below_read flush_signal flush_signal_log; do
		ff_clear m; rm -f m.back/d1 m.back/d2 m.back/d3 m.back/LG
		run_case "$e/$c" "c_$c"
	done
done
cases_done
