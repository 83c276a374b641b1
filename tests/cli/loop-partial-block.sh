#!/usr/bin/env bash
# A loop device of 4096-byte logical blocks whose size is not a whole
# number of them (--sizelimit 1000000: 999936 bytes): the kernel neither
# reads nor writes the part-block at its end, by any means.  A range that
# reaches it is refused at set-up, as source, destination, zeroed or
# verified: exit 2, the size, the block size and the last usable byte
# said, nothing written; a range that ends before it is copied exactly.
. "$(dirname "$0")/common.bash"
need_loop
random img $((4 * 1024 * 1024))
loopdev L img -b 4096 -o 1M --sizelimit 1000000 || skip "losetup -b 4096"
[ "$(blockdev --getsize64 "$L")" = 999936 ] || skip "the kernel sized it otherwise"
random s1 1000000
random keep 999936
files=(img s1 keep)
msg="$L: its size, 999936 bytes, is not a multiple of its logical block size (4096 bytes): the kernel can neither read nor write its last 512 bytes, from byte 999424 on"
refused "the whole device as source" "$msg" copy "$L" new
err_has "the range must end by byte 999424"
refused "its last block as source" "$msg" copy --offset 995328 "$L" new
refused "as destination" "$msg" copy --length 999936 keep "$L"
refused "as one destination of two" "$msg" copy --length 999936 keep new "$L"
refused "zeroed" "$msg" zero "$L"
refused "verified" "$msg" verify "$L" keep
# Up to the last whole block: exact, both ways.
expect 0 copy -q --length 999424 "$L" new
cmp -n 999424 new <(tail -c +$((1024 * 1024 + 1)) img) || fail "the copy of the device differs"
expect 0 copy -q --length 999424 s1 "$L"
cmp -n 999424 s1 "$L" || fail "the device does not hold s1"
expect 0 info "$L"

# Verified up to the last whole block: a match, both ways, and after a
# copy (read-ahead into the part-block failed the reads before it: "reading
# back failed at byte 1032192", exit 1).  A destination range that reaches
# the part-block is refused as a source's is.
truncate -s 2M G
loopdev Q G -b 4096 --sizelimit $((1048576 - 1000)) || skip "losetup -b 4096"
[ "$(blockdev --getsize64 "$Q")" = 1047552 ] || skip "the kernel sized it otherwise"
random s2 1044480
for engine in io_uring threads; do
	KCOPYD_ENGINE=$engine expect 0 copy -q --verify s2 "$Q"
	cmp -n 1044480 s2 G || fail "$engine: G does not hold s2"
done
expect 0 verify s2 "$Q"
expect 0 verify --length 1044480 "$Q" s2
expect 0 verify --length 1044480 G "$Q"
files=(G s2)
rm -f new
refused "verified against it" "$Q: its size, 1047552 bytes, is not a multiple of its logical block size (4096 bytes): the kernel can neither read nor write its last 3072 bytes, from byte 1044480 on, which --dest-offset/--length 0 plus 2097152 bytes reaches" \
	verify G "$Q"

# A loop device of 512-byte sectors over it: its own size is whole, but
# its last 3072 bytes lie in Q's part-block, where the kernel drops what
# is written (it was copied, "ok", exit 0, and those bytes were zeros).
loopdev UQ "$Q" || fail "losetup over $Q"
msg="$UQ: lies on $Q, whose size, 1047552 bytes, is not a multiple of its logical block size (4096 bytes): the kernel can neither read nor write its last 3072 bytes"
random s3 1047552
files=(G s2 s3)
refused "a loop over it, as destination" "$msg" copy s3 "$UQ"
refused "a loop over it, as source" "$msg" copy "$UQ" new
refused "a loop over it, zeroed" "$msg" zero "$UQ"
expect 0 copy -q --length 1044480 s3 "$UQ"
blockdev --flushbufs "$UQ" "$Q"
cmp -n 1044480 s3 G || fail "G does not hold s3 through the stack"
exit 0
