#!/usr/bin/env bash
# Every signal whose default would end kcopyd, but for those a crash raises
# (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) and SIGKILL/SIGSTOP, stops a
# copy in order: exit 128 + the signal, a message naming it, the
# destination reported not completed and holding the source up to where it
# says.  (SIGINT, SIGTERM and the usual ones: signal-stop.sh.)  Signals 32
# and 33, which glibc keeps for itself (no program can block them or set
# their action), are ignored: the copy goes on and ends whole.
. "$(dirname "$0")/common.bash"
mib=$((1024 * 1024))
random src $((30 * mib))
fails=0
sigs="PROF VTALRM PWR IO SYS TRAP STKFLT RTMIN RTMIN+5 RTMAX USR2 ALRM"
# ThreadSanitizer's runtime takes SIGSYS as a synchronous signal and lets
# it kill the process whatever the mask: not kcopyd's behaviour, so not
# asked of the TSan build (the plain and ASan builds ask it).
[ -n "${TSAN_OPTIONS:-}" ] && sigs=${sigs/SYS /}
for sig in $sigs; do
	num=$(kill -l "$sig" 2>/dev/null || kill -l "SIG$sig")
	for after in 0.3 0.6 0.8; do      # again later if it came during set-up
		rm -f d
		"$KCOPYD" copy --json --rate 30M src d >"$T/out" 2>"$T/err" </dev/null &
		pid=$!
		signals_taken $pid
		sleep $after
		kill -s "$sig" $pid
		wait $pid
		rc=$?
		grep -q "during set-up: exiting; nothing was written" "$T/err" || break
	done
	if [ "$rc" -ne $((128 + num)) ]; then
		echo "SIG$sig: exit $rc, expected $((128 + num))"; cat "$T/err"; fails=1; continue
	fi
	grep -q "kcopyd: interrupted" "$T/err" || { echo "SIG$sig: no message"; cat "$T/err"; fails=1; }
	at=$(json "j['destinations'][0]['first_failing_offset']")
	cmp -s -n "$at" src d || { echo "SIG$sig: d does not hold the source up to $at"; fails=1; }
done
for num in 32 33; do
	rm -f d
	"$KCOPYD" copy --rate 30M src d >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	signals_taken $pid
	sleep 0.2
	kill -s $num $pid; sleep 0.1; kill -s $num $pid
	wait $pid
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "signal $num: exit $rc, expected 0 (ignored)"; cat "$T/err"; fails=1; continue
	fi
	cmp -s src d || { echo "signal $num: d differs from the source"; fails=1; }
done
[ "$fails" -eq 0 ] || fail "some signals were not answered in order"
exit 0
