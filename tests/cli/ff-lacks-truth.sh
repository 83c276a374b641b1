#!/usr/bin/env bash
# A destination left incomplete (the source's read failed, a stop signal,
# --fail-fast) is said to hold the source up to a byte, in the message and
# as first_failing_offset in the JSON: it does hold every byte below it
# (cmp), and that byte is no later than where it stops holding it.  On
# faultfs, both engines.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/src $((8 * M))

# holds_upto DEST F: DEST holds the source's bytes [0, F), and F is a number.
holds_upto() {
	[[ $2 =~ ^[0-9]+$ ]] || fail "$1: no failing offset ($2)"
	cmp -s -n "$2" m.back/src "$1" || fail "$1 does not hold the source up to byte $2: $(cmp m.back/src "$1" | head -1)"
}
offset_of() { json "j['destinations'][$1]['first_failing_offset']"; }

# The bad sector lies inside a sub-job: the readable bytes before it in that
# sub-job are not written, so the offset is that sub-job's start.
c_read_error() {
	ff_rule m "read src off=1M+300K len=4K err=EIO"
	fk "$e" copy --json --sub-job-size 512K m/src d1 d2
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc"
	for i in 0 1; do
		f=$(offset_of $i)
		holds_upto d$((i + 1)) "$f"
		[ "$f" -le $((M + 300 * 1024)) ] || fail "offset $f past the bad sector"
	done
	fk "$e" copy --sub-job-size 512K m/src d1
	f=$(sed -n 's/.*d1: not completed: reading the source failed (from byte \([0-9]*\) on).*/\1/p' "$T/err")
	holds_upto d1 "$f"
}

# A stop signal while a slow source is read, one sub-job at a time.
c_signal() {
	ff_rule m "read src off=3M len=0 delay=1500"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --json --queue-depth 1 --sub-job-size 256K m/src d1 \
		>"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	sleep 1
	kill -INT $pid
	wait $pid
	rc=$?
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "exit $rc"; }
	ff_fires m 0
	f=$(offset_of 0)
	holds_upto d1 "$f"
	[ "$f" -ge $((2 * M)) ] || fail "d1 said to hold only $f bytes"
	err_has "interrupted after $f of $((8 * M)) bytes"     # the same figure
}

# --fail-fast: d2's write fails at 6M; d1 stops with it.
c_fail_fast() {
	ff_rule m "write d2 off=6M len=0 err=EIO" "read src off=6M len=0 delay=300"
	fk "$e" copy --json --fail-fast --sub-job-size 256K m/src d1 m/d2
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc"
	st=$(json "j['destinations'][0]['status']")
	if [ "$st" != ok ]; then
		holds_upto d1 "$(offset_of 0)"
	else
		same m.back/src d1
	fi
	holds_upto m.back/d2 "$(offset_of 1)"
}

for e in "${ENGINES[@]}"; do
	for c in read_error signal fail_fast; do
		ff_clear m; rm -f d1 d2 m.back/d2
		run_case "$e/$c" "c_$c"
	done
done
cases_done
