#!/usr/bin/env bash
# A stop signal during the comparison (copy --verify's read-back pass, and
# kcopyd verify) stops it within a second: exit 128 + the signal, a message,
# the destinations not compared reported "not verified", not "ok".
# Reads are slowed with strace's delay injection so the pass is long.
. "$(dirname "$0")/common.bash"
need_cmd strace
strace -f -qq -o /dev/null -e trace=pread64 -e inject=pread64:delay_exit=1000 true 2>/dev/null ||
	skip "strace cannot inject delays here"

# LeakSanitizer cannot run under ptrace: no leak check in an ASan build.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mib=$((1024 * 1024))
random src $((16 * mib))
cp src same

ms() { echo $(($(date +%s%N) / 1000000)); }

# slow SIGNAL AFTER ARGS...: kcopyd ARGS with every pread taking 0.4 s,
# SIGNAL sent after AFTER seconds; sets rc and took (ms after the signal).
slow() {
	local sig=$1 after=$2; shift 2
	strace -f -qq -o /dev/null -e trace=pread64 -e inject=pread64:delay_exit=400000 \
		"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	local spid=$! pid="" t0 i cgt
	for ((i = 0; i < 100; i++)); do
		[ -n "$pid" ] && break
		pid=$(pgrep -P "$spid" -x kcopyd); sleep 0.02
	done
	[ -n "$pid" ] || fail "kcopyd did not start under strace"
	# Started: its signals are taken (blocked, for its signal thread) (the dynamic loader's reads
	# are slowed too).
	signals_taken $pid 1000
	if [ "$after" = copied ]; then
		# copy --verify: the read-back starts once the copy is whole.
		for ((i = 0; i < 1000; i++)); do
			cmp -s src a && break
			sleep 0.03
		done
		after=0.3
	fi
	sleep "$after"
	t0=$(ms)
	kill -s "$sig" "$pid"
	wait "$spid"
	rc=$?
	took=$(($(ms) - t0))
}

slow INT 1.2 verify src same
[ "$rc" -eq 130 ] || { cat "$T/err"; fail "verify SIGINT: exit $rc"; }
[ "$took" -lt 3000 ] || fail "verify: SIGINT took $took ms"
err_has "same: not verified: interrupted (SIGINT)"
err_has "interrupted by SIGINT after"
grep -q "matches" "$T/out" && fail "verify: said it matches: $(cat "$T/out")"

slow TERM 1.2 verify --json src same
[ "$rc" -eq 143 ] || fail "verify --json SIGTERM: exit $rc"
json_is 'j["signal"]' SIGTERM
json_is 'j["destinations"][0]["status"]' failed
json_is 'j["bytes_compared"] < j["bytes"]' True

rm -f a
slow INT copied copy --verify src a
[ "$rc" -eq 130 ] || { cat "$T/err"; fail "copy --verify SIGINT: exit $rc"; }
[ "$took" -lt 3000 ] || fail "copy --verify: SIGINT took $took ms"
err_has "a: not verified: interrupted (SIGINT)"
err_has "during the verify pass"
grep -q "a: ok" "$T/out" && fail "copy --verify: said ok: $(cat "$T/out")"
same src a                       # the copy itself finished
exit 0
