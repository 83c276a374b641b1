#!/usr/bin/env bash
# fsync failing on a destination on faultfs, on both engines: the flush
# that comes by default (and with --flush) is checked, the failing
# destination is named, the others are complete and ok, the exit status is
# 1; --no-flush does not fsync at all.  The directory of a created file is
# flushed too, and its failure is reported as that (not as the file's own).  A stop signal during a flush
# that then fails does not say the copy was complete on every destination.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((4 * M))

# fsync_d2 [--flush]: EIO on d2's fsync, of three.
fsync_d2() {
	ff_rule m "fsync d2 err=EIO"
	fk "$e" copy --json "$@" src m/d1 m/d2 m/d3
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc with a failing fsync"
	err_has "m/d2: flush failed: Input/output error"
	json_is 'j["destinations"][1]["status"]' failed
	json_is 'j["destinations"][0]["status"]' ok
	json_is 'j["destinations"][2]["status"]' ok
	json_is 'j["flush"]' True
	same src m.back/d1
	same src m.back/d3
	same src m.back/d2   # the data reached it; only the flush failed
}
c_default() { fsync_d2; }
c_flush() { fsync_d2 --flush; }

# ENOSPC from fsync (space found missing late, as on a thin or network
# file system) on an existing destination.
c_enospc() {
	cp src m.back/d1; random m.back/d2 $((4 * M))
	ff_rule m "fsync d2 err=ENOSPC"
	fk "$e" copy src m/d1 m/d2
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc with fsync ENOSPC"
	err_has "m/d2: flush failed: No space left on device"
	grep -q "m/d2: ok" "$T/out" && fail "d2 reported ok"
	same src m.back/d1
}

# --no-flush: no fsync is asked for, so none fails.
c_no_flush() {
	ff_rule m "fsync * err=EIO"
	fexpect 0 "$e" copy --no-flush src m/d1
	[ "$(ff_fired m 0)" -eq 0 ] || fail "--no-flush called fsync"
	same src m.back/d1
}

# The directory of a created destination fails to flush.
c_directory() {
	ff_rule m "fsync / err=EIO"
	fk "$e" copy src m/d1
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc with the directory's fsync failing"
	err_has "m/d1: flush of its directory (the new file's name) failed: Input/output error"
	grep -q "m/d1: ok" "$T/out" && fail "d1 reported ok"
	return 0
}

# The flush fails once, with --log: the log must not record the chunks
# as done, so a rerun copies them again and ends exact and ok.
c_log_rerun() {
	random m.back/d1 $((4 * M))
	ff_rule m "fsync d1 count=1 err=EIO"
	fk "$e" copy --log run.log src m/d1
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc with fsync EIO under --log"
	err_has "m/d1: "
	fexpect 0 "$e" copy --log run.log src m/d1
	same src m.back/d1
}

c_stop_in_failing_flush() {
	ff_rule m "fsync d2 delay=1500 err=EIO"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --json src m/d1 m/d2 >"$T/out" 2>"$T/err" </dev/null &
	local pid=$! i
	for ((i = 0; i < 100; i++)); do     # the flush of d2 has begun
		sed -n 's/^0 seen=\([0-9]*\).*/\1/p' m/.faultfs | grep -qv '^0$' && break
		sleep 0.05
	done
	kill -INT $pid
	wait $pid
	rc=$?
	ff_fires m 0
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc, expected 1 (a flush failed)"; }
	err_has "m/d2: flush failed: Input/output error"
	grep -q "complete on every destination" "$T/err" && { cat "$T/err"; fail "said complete on every destination"; }
	err_has "had ended before it could take effect (with the failures above)"
	json_is 'j["destinations"][1]["status"]' failed
	json_is 'j["destinations"][0]["status"]' ok
	json_is 'j["exit_code"]' 1
	same src m.back/d1
}

# EINTR from fsync is tried again, as a read or write is (it failed the
# destination at once: sweep 19a F11); for the log's fsync too.  One that
# stays EINTR fails, named.
c_eintr() {
	ff_rule m "fsync d2 err=EINTR count=2" "fsync lg.tmp err=EINTR count=2"
	fexpect 0 "$e" copy --log m/lg src m/d1 m/d2
	ff_fires m 0
	ff_fires m 1
	same src m.back/d2
	ff_clear m
	ff_rule m "fsync d1 err=EINTR"
	fexpect 1 "$e" copy src m/d1
	err_has "m/d1: flush failed: Interrupted system call"
}

for e in "${ENGINES[@]}"; do
	for c in default flush enospc no_flush directory log_rerun stop_in_failing_flush eintr; do
		ff_clear m; rm -f m.back/d1 m.back/d2 m.back/d3 run.log m.back/lg
		run_case "$e/$c" "c_$c"
	done
done
cases_done
