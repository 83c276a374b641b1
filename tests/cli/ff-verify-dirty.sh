#!/usr/bin/env bash
# kcopyd verify compares what the device holds: a destination with another
# program's buffered writes still dirty in the page cache, whose write-back
# fails (a loop device over a faultfs file failing every write), is not
# said to match: verify flushes it first, and the failure (or, had the
# write-back already failed, the difference) fails it (exit 1).
. "$(dirname "$0")/faultfs.bash"
ff_begin
need_loop
random src $((4 * M))
truncate -s $((4 * M)) m/img
loopdev dev m/img || skip "no loop device over a faultfs file"
ff_rule m "write img err=EIO"
# Held open, so that dd's close is not the device's last one (which would
# write it back there and then).
exec 9<"$dev"
dd if=src of="$dev" bs=1M status=none || fail "the buffered write to $dev failed at once"
k verify src "$dev"
exec 9<&-
ff_clear m
[ "$rc" -eq 1 ] || { cat "$T/err" "$T/out"; fail "exit $rc, expected 1"; }
grep -q "matches" "$T/out" && fail "said it matches"
true
