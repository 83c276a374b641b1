#!/usr/bin/env bash
# Loop block devices as source and destination, with 512- and 4096-byte
# logical blocks: files to devices, devices to devices, devices to files,
# a sparse source onto a device full of old data (holes must be zeroed),
# a file whose size is not a whole number of 4 KiB blocks, and offsets
# that a 4096-byte device cannot address refused.
. "$(dirname "$0")/common.bash"
need_loop

sparse src
size=$(stat -c %s src)
random d512.img $((12 * 1024 * 1024))
random d4k.img $((12 * 1024 * 1024))
loopdev dev512 d512.img || fail "losetup"
loopdev dev4k d4k.img -b 4096 || skip "losetup -b 4096 unsupported"
[ "$(blockdev --getss "$dev4k")" -eq 4096 ] || skip "no 4096-byte sectors"
cp d4k.img d4k.orig

expect 0 copy --verify src "$dev512" "$dev4k"
cmp -n "$size" src "$dev512" || fail "file -> 512 device"
cmp -n "$size" src "$dev4k" || fail "file -> 4096 device"
# Past the copied range the 4096-byte device keeps its old bytes, though
# the copy ended in the middle of one of its blocks.
cmp -i "$size:$size" "$dev4k" d4k.orig || fail "4096 device changed past the range"

# Device to device, device to file.
expect 0 copy "$dev512" "$dev4k"
cmp "$dev512" "$dev4k" || fail "512 device -> 4096 device"
expect 0 copy --length "$size" "$dev4k" back
same src back
expect 0 verify --length "$size" src "$dev4k" "$dev512"

# Offsets: a multiple of 4096 works, 512 is refused on the 4096 device.
expect 0 copy --offset 1M --length 1M --dest-offset 8M "$dev512" "$dev4k"
cmp -i 1048576:8388608 -n 1048576 "$dev512" "$dev4k" || fail "offset copy"
before=$(digest "$dev4k")
expect 2 copy --dest-offset 512 src "$dev4k"
err_has "logical block size"
expect 2 copy --offset 512 --length 4096 "$dev4k" x
[ "$(digest "$dev4k")" = "$before" ] || fail "refused copy changed the device"

# One device as source and destination: disjoint ranges are copied,
# overlapping ones refused; the same device named twice is refused.
expect 0 copy --length 1M --dest-offset 10M "$dev4k" "$dev4k"
cmp -i 0:10485760 -n 1048576 "$dev4k" "$dev4k" || fail "copy within one device"
before=$(digest "$dev4k")
expect 2 copy --length 2M --dest-offset 1M "$dev4k" "$dev4k"
err_has "is the source"
expect 2 copy src "$dev4k" "$dev4k"
err_has "named twice"
[ "$(digest "$dev4k")" = "$before" ] || fail "refused copies changed the device"

# Zeroing a device range, with a tail that is not a whole block.
expect 0 zero --offset 4096 --length 10000 "$dev4k"
cmp -i 4096:0 -n 10000 "$dev4k" /dev/zero || fail "zeroed range not zero"
cmp -n 4096 "$dev4k" "$dev512" || fail "zero touched bytes before the range"
dd if="$dev4k" bs=1 skip=14096 count=100 status=none >after.z
dd if="$dev512" bs=1 skip=14096 count=100 status=none >after.o
same after.o after.z
expect 0 zero "$dev512"
cmp -n $((12 * 1024 * 1024)) "$dev512" /dev/zero || fail "whole device not zeroed"
exit 0
