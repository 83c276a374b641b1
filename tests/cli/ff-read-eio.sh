#!/usr/bin/env bash
# A source on faultfs whose reads fail with EIO on a byte range, on both
# engines: exit 1, the message names the source and the first failing byte
# (inside the range), the JSON agrees, and every destination holds the
# source's bytes up to the sub-job that failed, and past it only the
# source's bytes or its own old ones (a read error stops the copy: the rest
# is not completed, see kcopyd(1)); none is reported ok.  A range that the
# copy does not cover is never read.
. "$(dirname "$0")/faultfs.bash"
ff_begin
SJ=524288
random m.back/src $((4 * M))
random m.back/odd $((3 * M + 1000))
random old $((4 * M))

# 8 KiB bad at 1M+128K, into a new file: the offset is exact.
c_new_file() {
	ff_rule m "read src off=1M+128K len=8K err=EIO"
	fexpect 1 "$e" copy --json m/src dst
	ff_fires m 0
	err_has "m/src: read failed at byte $((M + 131072)): Input/output error"
	json_is 'j["source_error"]["offset"]' $((M + 131072))
	json_is 'j["destinations"][0]["status"]' failed
	json_is 'j["exit_code"]' 1
	same_range m.back/src dst 0 "$M"
	src_or_old dst m.back/src /dev/null "$SJ" 0 $((4 * M))
}

# Two existing destinations full of old data, one of them on faultfs.
c_two_old() {
	cp old d1; cp old m.back/d2
	ff_rule m "read src off=1M+128K len=8K err=EIO"
	fexpect 1 "$e" copy m/src d1 m/d2
	ff_fires m 0
	err_has "m/src: read failed at byte $((M + 131072))"
	for d in d1 m.back/d2; do
		same_range m.back/src "$d" 0 "$M"
		src_or_old "$d" m.back/src old "$SJ" 0 $((4 * M))
		[ "$(stat -c %s "$d")" -eq $((4 * M)) ] || fail "$d changed size"
	done
	grep -q ": ok" "$T/out" && fail "a destination reported ok"
	return 0
}

# The very first byte is bad.
c_first_byte() {
	ff_rule m "read src off=0 len=4K err=EIO"
	fexpect 1 "$e" copy --json m/src dst
	ff_fires m 0
	err_has "m/src: read failed at byte 0: Input/output error"
	json_is 'j["source_error"]["offset"]' 0
	json_is 'j["destinations"][0]["status"]' failed
}

# The last, partial sector of an odd-sized file is bad.
c_odd_tail() {
	ff_rule m "read odd off=3M+512 len=488 err=EIO"
	fexpect 1 "$e" copy --json m/odd dst
	ff_fires m 0
	err_has "m/odd: read failed at byte $((3 * M + 512)): Input/output error"
	json_is 'j["source_error"]["offset"]' $((3 * M + 512))
	same_range m.back/odd dst 0 $((3 * M))
}

# A bad range outside --offset/--length is never read: exit 0, exact.
c_outside_range() {
	ff_rule m "read src off=3M len=4K err=EIO" "read src len=1M err=EIO"
	fexpect 0 "$e" copy --offset 1M --length 1M m/src dst
	[ "$(ff_fired m 0)" -eq 0 ] || fail "the copy read past its range"
	[ "$(ff_fired m 1)" -eq 0 ] || fail "the copy read before its range"
	cmp -s -i "$M:0" -n "$M" m.back/src dst || fail "ranged copy differs"
	[ "$(stat -c %s dst)" -eq "$M" ] || fail "ranged copy has the wrong size"
}

# --verify with a source read error: exit 1, never "verified".
c_with_verify() {
	cp old d1
	ff_rule m "read src off=2M+4K len=4K err=EIO"
	fexpect 1 "$e" copy --verify m/src d1
	ff_fires m 0
	err_has "m/src: read failed at byte $((2 * M + 4096))"
	grep -q "verified" "$T/out" && fail "reported verified"
	same_range m.back/src d1 0 $((2 * M))
	src_or_old d1 m.back/src old "$SJ" 0 $((4 * M))
}

# A bad range only ever read once (a transient error): still reported.
c_transient() {
	ff_rule m "read src off=1M len=4K count=1 err=EIO"
	fexpect 1 "$e" copy m/src dst
	ff_fires m 0
	err_has "m/src: read failed at byte $M: Input/output error"
	grep -q "dst: ok" "$T/out" && fail "dst reported ok"
	return 0
}

for e in "${ENGINES[@]}"; do
	for c in new_file two_old first_byte odd_tail outside_range with_verify transient; do
		ff_clear m; rm -f dst d1 m/d2
		run_case "$e/$c" "c_$c"
	done
done
cases_done
