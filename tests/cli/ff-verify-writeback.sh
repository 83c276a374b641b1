#!/usr/bin/env bash
# copy --verify compares what the device holds: with buffered writes to a
# block device whose storage fails every write (a loop device over a
# faultfs file), the write-back fails after the copy's writes "succeeded"
# in the page cache.  --verify flushes before reading back, even with
# --no-flush, so the failure is seen (exit 1, the flush named) instead of
# the page cache being compared and the destination said verified.
. "$(dirname "$0")/faultfs.bash"
ff_begin
need_loop
random src $((8 * M))
truncate -s $((16 * M)) m/img
loopdev dev m/img || skip "no loop device over a faultfs file"
ff_rule m "write img err=EIO"
k copy --buffered --no-flush --verify --json src "$dev"
ff_fires m 0
ff_clear m
[ "$rc" -eq 1 ] || { cat "$T/err" "$T/out"; fail "exit $rc, expected 1"; }
json_is "j['destinations'][0]['status']" failed
json_is "j['destinations'][0]['verified']" False
err_has "flush failed: Input/output error"
exit 0
