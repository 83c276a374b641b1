#!/usr/bin/env bash
# A source truncated under the copy (issue 8, class 1), on both engines.  It
# must not be reported a success: a read that ends early, at a point that is
# not the end the copy started with, is a read error naming the source and
# the byte where it ended (exit 1, no destination ok, the bytes before it
# copied, nothing past it made up: a destination's old bytes stay or get
# the source's, never zeros the source did not have).
# faultfs makes the change deterministic: the first sub-job's read
# truncates the backing file just before it is served, and every later read
# waits 200 ms, so all of them see the new size.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random orig $((4 * M))

# change_at SIZE: the next copy of m/src sees it become SIZE bytes long
# at its first read.
change_at() {
	cp orig m.back/src
	ff_rule m "read src off=512K delay=200" "read src off=0 len=512K count=1 truncate=$1"
}

# Truncated to 1M+100K: the read at 1M ends 100K in.
c_mid_subjob() {
	change_at $((M + 102400))
	fk "$e" copy --json m/src d1
	ff_fires m 1
	[ "$rc" -eq 1 ] || fail "a source truncated mid-copy: exit $rc (output: $(cat "$T/out"))"
	err_has "m/src: read failed at byte $((M + 102400))"
	json_is 'j["source_error"]["offset"]' $((M + 102400))
	json_is 'j["destinations"][0]["status"]' failed
	same_range orig d1 0 "$M"
}

# Truncated to 2M (a sub-job boundary), onto two existing files: the
# reads from 2M on return nothing at all.
c_at_boundary() {
	change_at $((2 * M))
	random d1 $((4 * M)); cp d1 old1; random m.back/d2 $((4 * M)); cp m.back/d2 old2
	fk "$e" copy m/src d1 m/d2
	ff_fires m 1
	[ "$rc" -eq 1 ] || fail "a source truncated to 2M mid-copy: exit $rc (output: $(cat "$T/out"))"
	err_has "m/src: read failed at byte $((2 * M))"
	grep -q "d1: ok\|d2: ok" "$T/out" && fail "a destination reported ok"
	same_range orig d1 0 $((2 * M))
	same_range orig m.back/d2 0 $((2 * M))
	src_or_old d1 orig old1 524288 $((2 * M)) $((2 * M))
	src_or_old m.back/d2 orig old2 524288 $((2 * M)) $((2 * M))
}

# Truncated to nothing before the first byte is read.
c_to_zero() {
	change_at 0
	fk "$e" copy --json m/src d1
	ff_fires m 1
	[ "$rc" -eq 1 ] || fail "a source truncated to 0: exit $rc (output: $(cat "$T/out"))"
	err_has "m/src: read failed at byte 0"
	json_is 'j["source_error"]["offset"]' 0
}

# An odd-sized range (--length) of a source cut inside its last sector.
c_last_sector() {
	cp orig m.back/src
	ff_rule m "read src off=512K delay=200" \
		"read src off=0 len=512K count=1 truncate=$((3 * M + 700))"
	fk "$e" copy --json --length $((3 * M + 1000)) m/src d1
	ff_fires m 1
	[ "$rc" -eq 1 ] || fail "a source cut inside the last sector: exit $rc (output: $(cat "$T/out"))"
	# The library counts in sectors: the byte itself, or its sector's start.
	grep -qE "m/src: read failed at byte ($((3 * M + 700))|$((3 * M + 512)))" "$T/err" ||
		fail "the message does not name the byte where the source ended: $(cat "$T/err")"
	same_range orig d1 0 $((3 * M))
}

for e in "${ENGINES[@]}"; do
	for c in mid_subjob at_boundary to_zero last_sector; do
		ff_clear m; rm -f d1 m.back/d2
		run_case "$e/$c" "c_$c"
	done
done
cases_done
