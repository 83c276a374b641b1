#!/usr/bin/env bash
# copy: a partly sparse file to three new destinations; every one is
# byte-identical, keeps the source's holes, and the summary names them all.
. "$(dirname "$0")/common.bash"

sparse src
expect 0 copy src a b c
for d in a b c; do
	same src "$d"
	[ "$(stat -c %s "$d")" -eq "$(stat -c %s src)" ] || fail "$d has the wrong size"
	# Holes stay holes: the source has about 5.4 MiB of data in 9.1 MiB.
	[ "$(allocated "$d")" -lt $((7 * 1024 * 1024)) ] || fail "$d is not sparse: $(allocated "$d") bytes"
	grep -q "^  $d: ok" "$T/out" || fail "summary lacks $d"
done
grep -q "^copied 9.10 MiB from src to 3 destinations" "$T/out" || fail "summary: $(cat "$T/out")"
[ ! -s "$T/err" ] || fail "stderr not empty on a pipe: $(cat "$T/err")"

# Destinations in another directory, through relative and absolute paths.
mkdir sub
expect 0 copy -q src sub/x "$T/sub/y"
same src sub/x
same src sub/y
[ ! -s "$T/out" ] || fail "-q printed: $(cat "$T/out")"

# New files in /dev are refused as mistyped device names (refuse-types.sh),
# but not on a file system mounted below it, such as /dev/shm.
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d /dev)" ]; then
	shm=/dev/shm/kcopyd-test.$$
	expect 0 copy src "$shm"
	cmp src "$shm" || { rm -f "$shm"; fail "/dev/shm copy differs"; }
	rm -f "$shm"
fi
exit 0
