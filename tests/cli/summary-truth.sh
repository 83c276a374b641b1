#!/usr/bin/env bash
# Every line tells the truth: the headline counts only the destinations
# that got everything and names the failures; a failure has one offset (its
# first failing byte, in that destination's own coordinates) in the line
# said during the run, in the summary and in the JSON; a rate is given only
# over bytes this run moved (none for a resume that had nothing left, or a
# zeroing with nothing to zero).  Full tmpfs file systems and a loop device
# over a tiny one give real ENOSPC (to copies: zeroing punches holes, and
# is checked to succeed there without allocating).
. "$(dirname "$0")/common.bash"
need_root

mib=$((1024 * 1024))
random src $((4 * mib))
tmpfs t1 1M
tmpfs t2 2M

# offset_in FILE DEV: the offset FILE gives for DEV's failure.
offset_in() { grep -oE "$2: (FAILED: )?(write|zeroing) failed at byte [0-9]+" "$1" | grep -oE '[0-9]+$'; }

check_offsets() {          # DEV...: stderr, stdout and the destination agree
	local d at1 at2
	for d in "$@"; do
		at1=$(offset_in "$T/err" "$d") at2=$(offset_in "$T/out" "$d")
		[ -n "$at1" ] && [ "$at1" = "$at2" ] || fail "$d: said byte '$at1' during the run, '$at2' in the summary"
		cmp -n "$at1" src "$d" || fail "$d: the bytes before its first failure at $at1 differ"
	done
}

# Two of three fail.
expect 1 copy src t1/x t2/y ok
grep -q "^copied 4.00 MiB from src to 1 of 3 destinations in .*; 2 failed: t1/x, t2/y$" "$T/out" ||
	fail "headline: $(head -1 "$T/out")"
check_offsets t1/x t2/y
same src ok
rm -f t1/* t2/*

# All fail: no "copied ... to 2 destinations".
expect 1 copy src t1/x t2/y
grep -q "^failed to copy 4.00 MiB from src to any of the 2 destinations in .*; 2 failed: t1/x, t2/y$" "$T/out" ||
	fail "headline: $(head -1 "$T/out")"
check_offsets t1/x t2/y
rm -f t1/* t2/*

# The JSON gives the same offsets as stderr.
expect 1 copy --json src t1/x t2/y ok
for i in 0 1; do
	d=$(json "j['destinations'][$i]['path']")
	[ "$(json "j['destinations'][$i]['first_failing_offset']")" = "$(offset_in "$T/err" "$d")" ] ||
		fail "$d: the JSON and stderr give different offsets"
	json_is "'at byte %d:' % j['destinations'][$i]['first_failing_offset'] in j['destinations'][$i]['error']" True
done
json_is 'j["destinations"][2]["status"]' ok
rm -f t1/* t2/*

# A loop device over a file on a tiny tmpfs: a copy of random data runs
# out of space (headline, offsets in stderr, summary and JSON agree); then
# zeroing it succeeds without allocating (it punches holes, and so frees
# what the copy took), and the copy fails again, in JSON.
need_loop
truncate -s $((4 * mib)) t1/back
loopdev L t1/back || fail "losetup"
expect 1 copy src "$L"
grep -q "^failed to copy 4.00 MiB from src to $L in" "$T/out" || fail "headline: $(head -1 "$T/out")"
check_offsets "$L"
expect 0 zero --json "$L"
json_is 'j["destinations"][0]["status"]' ok
# (Its output to a file, not read by grep -q from a pipe: grep ends at the
# line it wants, and the next copy met the zero still ending, which held
# the lock on the loop device's file: a refusal, exit 2.)
"$KCOPYD" zero "$L" >"$T/zout" 2>&1 </dev/null
grep -q "^zeroed 4.00 MiB on 1 destination" "$T/zout" || fail "zero headline: $(cat "$T/zout")"
cmp -n $((4 * mib)) "$L" /dev/zero || fail "zero: not all zeros"
[ "$(allocated t1/back)" -eq 0 ] || fail "zero allocated $(allocated t1/back) bytes of t1/back"
expect 1 copy --json src "$L"
at=$(offset_in "$T/err" "$L")
[ -n "$at" ] || fail "copy --json: no failing offset on stderr: $(cat "$T/err")"
json_is 'j["destinations"][0]["first_failing_offset"]' "$at"
json_is 'j["destinations"][0]["status"]' failed
json_is '"No space left on device" in j["destinations"][0]["error"]' True
cmp -n "$at" src "$L" || fail "copy --json: the bytes before $at differ"
losetup -d "$L"              # before the tmpfs under it is unmounted

# A resume with nothing left moved nothing: no rate.
rm -f a c.log
expect 0 copy --log c.log src a
expect 0 copy --log c.log src a
grep -q "/s" "$T/out" && fail "a resume that moved nothing gives a rate: $(cat "$T/out")"
grep -q "this run moved 0 B" "$T/out" || fail "resume: $(cat "$T/out")"
expect 0 copy --json --log c.log src a
json_is 'j["bytes_moved"]' 0
json_is 'j["rate"]' None
same src a

# Zeroing with nothing to zero (a file extended: it reads as zero already).
: >e
expect 0 zero --json --length 8M e
json_is 'j["bytes_moved"]' 0
json_is 'j["rate"]' None
: >e2
expect 0 zero --length 16M e2
grep -q "/s" "$T/out" && fail "zero that moved nothing gives a rate: $(cat "$T/out")"

# verify: the rate is over what was compared (it stops at a difference).
random other $((16 * mib)); cp other o2; flip o2 0
k verify --json other o2
json_is 'j["bytes_compared"] < j["bytes"]' True
exit 0
