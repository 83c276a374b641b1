#!/usr/bin/env bash
# A copy inside one file to beyond its end: set-up makes the file larger
# to hold the range, and that extension is the run's own, not a change of
# the source: exit 0, no "changed" line, source_changed null, the bytes
# where they belong, the rest of the file untouched.  Also through a hard
# link as the destination, and with --verify.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.bash"
M=1048576

check() {   # FILE ORIG DEST_OFFSET_IN_MIB
	local size
	size=$(stat -c %s "$1")
	[ "$size" -eq $((($3 + 1) * M)) ] || fail "$1 is $size bytes"
	cmp -n $((3 * M)) "$1" "$2" || fail "$1: its first 3 MiB changed"
	cmp -i $(($3 * M)):0 -n $M "$1" "$2" || fail "$1: the copied MiB is wrong"
}

for extra in "" --verify; do
	random orig $((3 * M))
	cp orig a
	expect 0 copy --json $extra --dest-offset 3M --length 1M a a
	json_is 'j["source_changed"]' None
	json_is 'j["destinations"][0]["status"]' ok
	json_is 'j["exit_code"]' 0
	grep -q "changed" "$T/err" && fail "a change reported: $(cat "$T/err")"
	check a orig 3

	cp orig b; rm -f b2; ln b b2
	expect 0 copy $extra --dest-offset 5M --length 1M b b2
	grep -qi "changed" "$T/out" "$T/err" && fail "a change reported: $(cat "$T/out" "$T/err")"
	grep -q "b2: ok" "$T/out" || fail "b2 not ok: $(cat "$T/out")"
	check b orig 5
done
echo ok
