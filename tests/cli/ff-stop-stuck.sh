#!/usr/bin/env bash
# A stop must not wait forever on storage that never answers:
#  - a stop signal during set-up (an open that takes 3 s) exits at once,
#    saying nothing was written, and nothing was (the destination is not
#    created);
#  - a stop signal while a request is stuck in the kernel (faultfs answers
#    EAGAIN forever, which io_uring's workers retry without end; the thread
#    engine gives up after its retries) exits within the grace period with
#    128 + the signal and a message naming what is left incomplete;
#  - a second stop signal exits at once even while a thread is stuck in a
#    5 s fsync (the signals have a thread of their own);
#  - verify, which has nothing to save, gives a read that does not end the
#    same grace period from the first signal;
#  - the grace period counts from the first signal whatever is under way:
#    a flush of the destination that takes 5 s, a rewrite of the log that
#    takes 5 s (the main thread is stuck in it: the signal thread cancels
#    the jobs itself, and the copy does not run on to its end);
#  - a stop while the log's first write is stuck says no log was written
#    yet (a rerun starts over), not that the log resumes the copy: there
#    is no log file, and there is none after the exit either.
# (A request the FUSE daemon is serving is waited out by the kernel before
# the process can end: for those two, what is timed is the message that
# says kcopyd exits, and the exit status once it has.)
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/src $((4 * M))

ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }
# stop_after SECONDS ARGS...: kcopyd ARGS, SIGINT after SECONDS; sets rc
# and took (ms from the signal to the exit).
stop_after() {
	local after=$1 pid t0; shift
	KCOPYD_ENGINE=$e "$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	sleep "$after"
	t0=$(ms)
	kill -INT $pid 2>/dev/null
	wait $pid
	rc=$?
	took=$(($(ms) - t0))
}

# Every open of the (existing) destination takes 3 s, and set-up opens it
# more than once: the signal is answered once the open under way ends,
# not after the others, and the destination is left as it was.
c_setup() {
	ff_rule m "open d1 delay=3000"
	random m.back/d1 $M; cp m.back/d1 old
	stop_after 0.5 copy src0 m/d1
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "exit $rc, expected 130"; }
	[ "$took" -lt 4000 ] || fail "SIGINT during set-up answered after $took ms"
	err_has "SIGINT during set-up: exiting; nothing was written"
	same old m.back/d1
}

c_stuck() {
	ff_rule m "read src off=1M len=0 err=EAGAIN"
	stop_after 1 copy m/src d1
	ff_fires m 0
	if [ "$rc" -eq 1 ]; then
		# The engine gave up by itself: a read error at 1M, before the signal.
		err_has "read failed at byte $M"
	else
		[ "$rc" -eq 130 ] || { cat "$T/err"; fail "exit $rc, expected 130"; }
		[ "$took" -lt 4500 ] || fail "SIGINT answered after $took ms"
		grep -q "interrupted\|did not end within" "$T/err" || { cat "$T/err"; fail "no message"; }
	fi
	cmp -s -n $M m.back/src d1 || fail "d1 does not hold the first MiB"
}

c_fsync_second() {
	ff_rule m "fsync d1 delay=5000"
	KCOPYD_ENGINE=$e "$KCOPYD" copy src0 m/d1 >"$T/out" 2>"$T/err" </dev/null &
	local pid=$! t0 i
	for ((i = 0; i < 200; i++)); do       # the flush has begun
		[ "$(ff_fired m 0)" -gt 0 ] 2>/dev/null && break
		sed -n 's/^0 seen=\([0-9]*\).*/\1/p' m/.faultfs | grep -qv '^0$' && break
		sleep 0.05
	done
	kill -INT $pid; sleep 0.5
	t0=$(ms)
	kill -INT $pid
	said_within 1500 "SIGINT again: exiting at once" || fail "the second SIGINT was not answered"
	wait $pid
	rc=$?
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "exit $rc, expected 130"; }
}

# said_within MS TEXT: stderr says TEXT within MS ms of t0.
said_within() {
	while [ $(($(ms) - t0)) -lt "$1" ]; do
		grep -qF -- "$2" "$T/err" && return 0
		sleep 0.05
	done
	cat "$T/err"
	return 1
}

c_verify_stuck() {
	cp m.back/src d1
	ff_rule m "read src off=2M len=0 count=1 delay=6000"
	KCOPYD_ENGINE=$e "$KCOPYD" verify m/src d1 >"$T/out" 2>"$T/err" </dev/null &
	local pid=$! t0
	sleep 1
	t0=$(ms)
	kill -INT $pid
	said_within 4500 "did not end within 3 s: exiting at once" || fail "the stop was not answered"
	wait $pid
	rc=$?
	ff_fires m 0
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "exit $rc, expected 130"; }
	grep -q matches "$T/out" && fail "said it matches"
	true
}

# stop_stuck ARGS...: kcopyd ARGS (a copy slowed by --rate), SIGINT at 1.5 s,
# while what the rules slow is under way: the exit is announced within the
# grace period, and the status is 130.
stop_stuck() {
	KCOPYD_ENGINE=$e "$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	local pid=$! t0
	sleep 1.5
	t0=$(ms)
	kill -INT $pid
	said_within 4500 "did not end within 3 s: exiting at once" || fail "the stop was not answered"
	wait $pid
	rc=$?
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "exit $rc, expected 130"; }
}

c_stop_flush() {
	ff_rule m "fsync d1 delay=5000"
	stop_stuck copy --rate 4M src1 m/d1
	ff_fires m 0
}

c_stop_logwrite() {
	ff_rule m "write lg.tmp after=2 delay=5000"
	stop_stuck copy --log m/lg --log-interval 0.5 --rate 8M src1 d1
	ff_fires m 0
	grep -q "complete on every destination" "$T/err" && fail "the copy ran on to its end"
	true
}

c_stop_logfirst() {
	ff_rule m "fsync lg.tmp count=1 delay=5000"
	stop_stuck copy --log m/lg --rate 8M src1 d1
	ff_fires m 0
	err_has "no log was written yet (m/lg does not exist): a rerun starts from the beginning"
	grep -q "resumes it" "$T/err" && fail "said the log resumes the copy"
	sleep 2        # the daemon finishes the stuck fsync
	[ -e m.back/lg ] && fail "a log exists after all: the message was wrong"
	true
}

random src0 $((1 * M))
random src1 $((20 * M))
for e in "${ENGINES[@]}"; do
	for c in setup stuck; do
		ff_clear m; rm -f d1 m.back/d1
		run_case "$e/$c" "c_$c"
	done
done
# Signal handling does not depend on the engine: these run on one.
e=${ENGINES[-1]}
for c in fsync_second verify_stuck stop_flush stop_logwrite stop_logfirst; do
	ff_clear m; rm -f d1 m.back/d1 m.back/lg m.back/lg.lock m.back/lg.tmp
	run_case "$e/$c" "c_$c"
done
cases_done
