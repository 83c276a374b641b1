#!/usr/bin/env bash
# An image with a file system mounted from a loop device at an offset that
# is not a whole page: a write to the image that ends just before the loop
# device's bytes but inside the same page of the image's page cache is
# refused like one into them (that page, written or dropped, would take
# the mounted file system's bytes with it: the kernel was seen to fail the
# write-back and abort the file system's journal); one a page away is not.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.ext4
truncate -s 96M img
loopdev L img --offset 33554944 --sizelimit 32M || fail "losetup"
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$L" || skip "mkfs.ext4"
mkdir mm
mount "$L" mm 2>/dev/null && _mounts+=("$T/mm") || skip "cannot mount ext4"
random s1 1049088                      # [31M, 33554944): up to the loop's first byte
random s2 1048576                      # [31M, 32M): a page (and more) before it
sync
before=$(dd if=img bs=4096 skip=8192 count=1 status=none | sha256sum)
expect 2 copy -q --dest-offset 31M s1 img
err_has "img: lies under $L, which is mounted"
[ "$(dd if=img bs=4096 skip=8192 count=1 status=none | sha256sum)" = "$before" ] ||
	fail "the page shared with the file system changed"
expect 0 copy -q --dest-offset 31M s2 img
cmp -n 1048576 s2 <(tail -c +$((31 * 1048576 + 1)) img) || fail "img does not hold s2 at 31M"
touch mm/alive || fail "the mounted file system went read-only"
exit 0
