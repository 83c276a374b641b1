#!/usr/bin/env bash
# verify on a block device whose read fails at one spot (a loop device over
# a faultfs file failing whole requests that touch byte 3000000): the page
# cache keeps the failed read's large folio in error, so every smaller read
# inside it failed too, and verify named a byte up to 128 KiB early and
# missed a difference just before the spot.  Now: the difference at
# 2990000 is the one reported; without it, the failure is named in the
# 4 KiB page of the spot (the cache's unit on a block device).
. "$(dirname "$0")/faultfs.bash"
need_loop
ff_begin
random m.back/disk $((4 * M))
cp m.back/disk want
cp m.back/disk wantx
printf Q | dd of=wantx bs=1 seek=2990000 conv=notrunc status=none
cmp -s want wantx && fail "the difference was not made"
ff_rule m "read disk off=3000000 len=1 err=EIO whole=1"
loopdev LF m/disk || skip "no loop device over a faultfs file"

expect 1 verify wantx "$LF"
ff_fires m 0
err_has "$LF: differs from wantx at byte 2990000"
blockdev --flushbufs "$LF"
expect 1 verify want "$LF"
err_has "$LF: reading failed at byte 2998272: Input/output error"
blockdev --flushbufs "$LF"
expect 1 verify --json "$LF" want
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" || fail "JSON: $(cat "$T/out")"
grep -q '2998272' "$T/out" || fail "the JSON does not name byte 2998272: $(cat "$T/out")"
exit 0
