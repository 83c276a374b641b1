#!/usr/bin/env bash
# Writes failing with EIO or ENOSPC on one of three destinations on faultfs,
# on both engines: exit 1, the failing one named with the first failing
# byte, the other two identical to the source and reported ok, the failing
# one holding the source's bytes before the failure, and what lies outside
# the copied range untouched.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((4 * M))
random odd $((3 * M + 1000))
random old $((8 * M))

# check3 SOURCE FAILING OFFSET ERRTEXT: the last run failed FAILING at
# OFFSET with ERRTEXT and completed the others.
check3() {
	local srcf=$1 bad=$2 off=$3 what=$4 i d
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc, expected 1"; }
	err_has "m/$bad: write failed at byte $off: $what"
	i=0
	for d in d1 d2 d3; do
		if [ "$d" = "$bad" ]; then
			json_is "j['destinations'][$i]['status']" failed
			json_is "j['destinations'][$i]['first_failing_offset']" "$off"
			same_range "$srcf" "m.back/$d" 0 "$off"
		else
			json_is "j['destinations'][$i]['status']" ok
			same "$srcf" "m.back/$d"
		fi
		i=$((i + 1))
	done
	json_is 'j["exit_code"]' 1
}

c_eio_middle() {
	ff_rule m "write d2 off=1M len=4K err=EIO"
	fk "$e" copy --json src m/d1 m/d2 m/d3
	ff_fires m 0
	check3 src d2 "$M" "Input/output error"
}

# A full file system from 2M on.
c_enospc() {
	ff_rule m "write d3 off=2M err=ENOSPC"
	fk "$e" copy --json src m/d1 m/d2 m/d3
	ff_fires m 0
	check3 src d3 $((2 * M)) "No space left on device"
}

c_enospc_first() {
	ff_rule m "write d1 off=0 len=512 err=ENOSPC"
	fk "$e" copy --json src m/d1 m/d2 m/d3
	ff_fires m 0
	check3 src d1 0 "No space left on device"
}

# The last, partial block of an odd-sized copy.
c_odd_tail() {
	ff_rule m "write d2 off=3M err=EIO"
	fk "$e" copy --json odd m/d1 m/d2 m/d3
	ff_fires m 0
	check3 odd d2 $((3 * M)) "Input/output error"
}

# Existing destinations, a range in the middle: what lies outside the
# range is untouched on all three, also on the one that failed.
c_range_untouched() {
	local d head_sum tail_sum
	for d in d1 d2 d3; do cp old "m.back/$d"; done
	head_sum=$(head -c "$M" old | sha256sum)
	tail_sum=$(tail -c $((5 * M)) old | sha256sum)
	ff_rule m "write d1 off=2M err=ENOSPC"
	fk "$e" copy --json --offset 1M --length 2M --dest-offset 1M src m/d1 m/d2 m/d3
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "ranged copy exit $rc"
	err_has "m/d1: write failed at byte $((2 * M)): No space left on device"
	json_is "j['destinations'][0]['first_failing_offset']" $((2 * M))
	for d in d1 d2 d3; do
		[ "$(head -c "$M" "m.back/$d" | sha256sum)" = "$head_sum" ] || fail "$d changed before the range"
		[ "$(tail -c $((5 * M)) "m.back/$d" | sha256sum)" = "$tail_sum" ] || fail "$d changed after the range"
		[ "$(stat -c %s "m.back/$d")" -eq $((8 * M)) ] || fail "$d changed size"
	done
	same_range src m.back/d1 "$M" "$M"
	same_range src m.back/d2 "$M" $((2 * M))
	same_range src m.back/d3 "$M" $((2 * M))
}

# --fail-fast: the failing one is named with its offset, and what is
# reported ok is complete.
c_fail_fast() {
	local i
	ff_rule m "write d2 off=1M err=EIO"
	fk "$e" copy --json --fail-fast src m/d1 m/d2 m/d3
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "--fail-fast exit $rc"
	err_has "m/d2: write failed at byte $M: Input/output error"
	json_is "j['destinations'][1]['first_failing_offset']" "$M"
	for i in 0 2; do
		[ "$(json "j['destinations'][$i]['status']")" = ok ] || continue
		same src "m.back/d$((i + 1))"
	done
}

# Every destination fails: nothing is reported ok, each is named.
c_all_fail() {
	local d
	ff_rule m "write d1 off=1M err=EIO" "write d2 off=2M err=ENOSPC" "write d3 off=3M err=EIO"
	fk "$e" copy src m/d1 m/d2 m/d3
	[ "$rc" -eq 1 ] || fail "all failing: exit $rc"
	err_has "m/d1: write failed at byte $M: Input/output error"
	err_has "m/d2: write failed at byte $((2 * M)): No space left on device"
	err_has "m/d3: write failed at byte $((3 * M)): Input/output error"
	grep -q ": ok" "$T/out" && fail "a destination reported ok"
	same_range src m.back/d1 0 "$M"
	same_range src m.back/d2 0 $((2 * M))
	same_range src m.back/d3 0 $((3 * M))
}

# The destination fails at 1.5M first, while the sub-job at 1M is still
# being read (its read waits 300 ms); that sub-job is then not written to
# the dead destination, so its first byte not holding the source's is 1M:
# that is the offset to report (bytes before the reported offset must be
# the source's), not 1.5M.
c_late_lower_subjob() {
	local off
	cp src m.back/s
	ff_rule m "read s off=1M len=512K delay=300" "write d1 off=1M err=EIO"
	fk "$e" copy --json m/s m/d1 m/d2
	ff_fires m 0; ff_fires m 1
	[ "$rc" -eq 1 ] || fail "exit $rc"
	off=$(json "j['destinations'][0]['first_failing_offset']")
	same_range src m.back/d1 0 "$off"
	[ "$off" -eq "$M" ] || fail "d1 reported failing at $off, but bytes from $M on were never written"
	err_has "m/d1: write failed at byte $M: Input/output error"
	json_is "j['destinations'][1]['status']" ok
	same src m.back/d2
}

for e in "${ENGINES[@]}"; do
	for c in eio_middle enospc enospc_first odd_tail range_untouched fail_fast all_fail late_lower_subjob; do
		ff_clear m; rm -f m.back/d1 m.back/d2 m.back/d3 m.back/s
		run_case "$e/$c" "c_$c"
	done
done
cases_done
