#!/usr/bin/env bash
# Two names of one file through different page caches (two loop devices
# over one image at different offsets, a loop device and the image itself):
# each block device's cache reads and writes back whole pages, so a write
# of part of a page through one would write back stale bytes over what was
# written through the other (and a direct write of the image must drop its
# pages, which fails for a page a loop device writes meanwhile).  Destinations whose ranges are disjoint in
# bytes but share a page of either's cache are refused (exit 2, nothing
# written), in either order, for the tail, --buffered and zero; ranges
# whose pages do not overlap are still written, and the bytes are right.
. "$(dirname "$0")/common.bash"
need_loop

random F $((8 * 1024 * 1024))
loopdev A F || fail "losetup"               # F from 0
loopdev B F -o 1024 || fail "losetup -o"    # F from 1024: A's first page holds B's bytes
loopdev C F -o 8192 || fail "losetup -o"    # F from 8192: no page of A's holds C's
random s 700                                # a tail only: no whole 4 KiB block
random s2 1024
random keep 4096
files=(F s s2 keep)
msg="are disjoint but share a page of the page cache of"

for order in "$B $A" "$A $B"; do
	refused "tail, $order" "$msg $A" copy s $order
	refused "--buffered, $order" "$msg $A" copy --buffered s2 $order
	refused "zero, $order" "$msg $A" zero --length 700 $order
	refused "among others, $order" "$msg $A" copy s keep $order
done
# The image itself and a loop device over it: B's page [0, 4 KiB) is the
# image's [1 KiB, 5 KiB), which holds the image's range [3584, 4284).
refused "file and loop" "$msg $B" copy --dest-offset 3584 s "$B" F
err_has "F: shares its storage with the destination $B"
# The image's own page [0, 4 KiB) holds B's first bytes: a direct write of
# the image's [0, 512) must drop that page from the image's cache while B
# writes through it (the kernel then fails the flush with EIO).
refused "file and loop, image's page" "$msg F" copy s F "$B"
refused "file and loop, image's page, zero" "$msg F" zero --length 700 F "$B"

# Not refused: pages that do not overlap.  The data is right.
expect 0 copy s "$B" "$C"
cmp -n 700 s "$B" || fail "B differs"
cmp -n 700 s "$C" || fail "C differs"
expect 0 copy s "$C" "$A"
cmp -n 700 s "$A" || fail "A differs"
cmp -n 700 s "$C" || fail "C differs (2)"
expect 0 copy --buffered s2 "$A" "$C"
cmp -n 1024 s2 "$A" || fail "A differs (--buffered)"
cmp -n 1024 s2 "$C" || fail "C differs (--buffered)"
cmp -n 1024 s2 F || fail "F differs (--buffered)"
cmp -i 0:8192 -n 1024 s2 F || fail "F at 8192 differs (--buffered)"
expect 0 zero --length 700 "$C" "$A"
cmp -n 700 "$A" /dev/zero || fail "A not zeroed"
cmp -n 700 "$C" /dev/zero || fail "C not zeroed"
# The image and C: the image's range [0, 700) is in no page of C's cache
# (C's first page is the image's [8 KiB, 12 KiB)).
expect 0 copy s F "$C"
cmp -n 700 s F || fail "F differs"
cmp -n 700 s "$C" || fail "C differs (with F)"
expect 0 copy --buffered s2 "$C" F
cmp -n 1024 s2 F || fail "F differs (--buffered, with C)"
cmp -n 1024 s2 "$C" || fail "C differs (--buffered, with F)"
exit 0
