#!/usr/bin/env bash
# ulimit -f bounds where a write lands, not only how far a file grows: a
# copy or a zero whose range ends past the limit is refused at set-up
# (exit 2, the message naming the destination and the limit, the file
# untouched) even when the file is larger than the limit already; a range
# that ends within the limit is written as before.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random u1 $((8 * mib))
random u2 $((8 * mib))
cp u2 u2.orig
files=(u1 u2)

run_limited() { ( ulimit -f 4096; exec "$KCOPYD" "$@" ) >"$T/out" 2>"$T/err" </dev/null; rc=$?; }

for args in "copy u1 u2" "copy --length 1M --dest-offset 3584K u1 u2" "zero u2" \
	    "zero --offset 4M --length 512K u2" "copy --json --offset 4M --dest-offset 4M u1 u2"; do
	run_limited $args
	[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -f 4096, $args: exit $rc, expected 2"; }
	err_has "u2: needs "
	err_has "more than the file size limit of 4194304 bytes (ulimit -f); refusing to write it"
	same u2.orig u2
done

# Within the limit: written.
run_limited copy --length 1M --dest-offset 3M u1 u2
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "a copy below the limit: exit $rc"; }
cmp -n $mib u1 <(tail -c +$((3 * mib + 1)) u2) || fail "the copy below the limit is wrong"
cmp -n $((3 * mib)) u2.orig u2 || fail "bytes before the range changed"
cmp -i $((4 * mib)) u2.orig u2 || fail "bytes past the range changed"
run_limited zero --length 4M u2
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "a zero below the limit: exit $rc"; }
cmp -n $((4 * mib)) u2 /dev/zero || fail "not zeroed below the limit"
cmp -i $((4 * mib)) u2.orig u2 || fail "zero changed bytes past the limit"
exit 0
