#!/usr/bin/env bash
# A stop signal during a comparison on slow storage (kcopyd verify's reads
# of the source, copy --verify's read-back of a destination) is answered
# within a second, not after the 4 MiB chunk being compared: exit 128 + the
# signal, the destination "not verified", never "matches" or "ok".
# The file system serves one request at a time and every read of the slow
# file takes 100 ms a FUSE request (128 KiB at most), so one chunk takes 3 s.
. "$(dirname "$0")/faultfs.bash"
ff_begin -s
random m.back/src $((16 * M))

ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }

# stop_after SIG SECONDS ARGS...: kcopyd ARGS in the background, SIG sent
# SECONDS after it took its signals (blocked, for its signal thread); sets rc and took (ms from the
# signal to the exit).
stop_after() {
	local sig=$1 after=$2 pid cgt i t0; shift 2
	KCOPYD_ENGINE=$e "$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	signals_taken $pid
	sleep "$after"
	t0=$(ms)
	kill -s "$sig" $pid
	wait $pid
	rc=$?
	took=$(($(ms) - t0))
}

c_verify() {
	cp m.back/src d1
	ff_rule m "read src delay=100"
	stop_after INT 0.7 verify m/src d1
	ff_fires m 0
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "verify: exit $rc, expected 130"; }
	[ "$took" -lt 1500 ] || fail "verify: SIGINT answered after $took ms"
	err_has "d1: not verified: interrupted (SIGINT)"
	grep -q matches "$T/out" && fail "verify said it matches: $(cat "$T/out")"
	true
}

c_verify_json() {
	cp m.back/src d1
	ff_rule m "read src delay=100"
	stop_after TERM 0.7 verify --json m/src d1
	[ "$rc" -eq 143 ] || { cat "$T/err"; fail "verify --json: exit $rc, expected 143"; }
	[ "$took" -lt 1500 ] || fail "verify --json: SIGTERM answered after $took ms"
	json_is 'j["destinations"][0]["status"]' failed
	json_is 'j["bytes_compared"] < j["bytes"]' True
	json_is 'j["exit_code"]' 143
}

# copy --verify: the copy to m/d1 is quick, its read-back is slow.
c_copy_verify() {
	ff_rule m "read d1 delay=100"
	stop_after INT 1.5 copy --verify m.back/src m/d1
	ff_fires m 0
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "copy --verify: exit $rc, expected 130"; }
	[ "$took" -lt 1500 ] || fail "copy --verify: SIGINT answered after $took ms"
	err_has "not verified: interrupted (SIGINT)"
	grep -q ": ok" "$T/out" && fail "copy --verify said ok: $(cat "$T/out")"
	same m.back/src m.back/d1            # the copy itself finished
}

for e in "${ENGINES[@]}"; do
	for c in verify verify_json copy_verify; do
		ff_clear m; rm -f d1 m.back/d1
		run_case "$e/$c" "c_$c"
	done
done
cases_done
