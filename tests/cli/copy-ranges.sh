#!/usr/bin/env bash
# --offset, --length and --dest-offset with every unit, a length that is
# not a whole number of sectors (the tail), and the bytes around the range
# of an existing destination left untouched.
. "$(dirname "$0")/common.bash"

random src $((3 * 1024 * 1024 + 77))
random dst $((4 * 1024 * 1024))
cp dst dst.orig

# 1 MiB + 1000 bytes from byte 4096 (8s) of src to byte 512K of dst.
expect 0 copy --offset 8s --length 1025000 --dest-offset 512K src dst
cmp -i 4096:524288 -n 1025000 src dst || fail "range not copied"
cmp -n 524288 dst dst.orig || fail "bytes before the range changed"
end=$((524288 + 1025000))
cmp -i "$end:$end" dst dst.orig || fail "bytes after the range changed"

# Units: K M G T s and their spellings name the same thing.
expect 0 copy --offset 1M --length 1024K src u1
expect 0 copy --offset 2048s --length 1MiB src u2
same u1 u2
cmp -i 1048576:0 -n 1048576 src u1 || fail "--offset 1M wrong"
[ "$(stat -c %s u1)" -eq 1048576 ] || fail "u1 size"

# To the end of the source from an offset, into a new file at an offset.
expect 0 copy --offset 3M --dest-offset 1s src tailonly
[ "$(stat -c %s tailonly)" -eq $((512 + 77)) ] || fail "tailonly size $(stat -c %s tailonly)"
cmp -i $((3 * 1024 * 1024)):512 src tailonly || fail "tail copy differs"
cmp -n 512 tailonly /dev/zero || fail "head of new file is not zero"

# Zero length: nothing copied, the destination created empty.
expect 0 copy --length 0 src empty
[ -f empty ] && [ ! -s empty ] || fail "empty destination"
exit 0
