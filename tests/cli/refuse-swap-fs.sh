#!/usr/bin/env bash
# A swap file in use inside a file system on a loop device: the kernel
# writes that swap by its blocks' places on the device, so the device, the
# image under it and another loop device over the image hold swap space
# and are refused even with --force, exit 2, left as they were (--force
# zeroed the swap file's header through them, exit 0).  Other files of that
# file system are written as usual.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.ext4
need_cmd mkswap
need_cmd swapon
need_cmd filefrag
truncate -s 64M fsimg
mkfs.ext4 -q -F -b 4096 fsimg >/dev/null 2>&1 || skip "mkfs.ext4 failed"
loopdev LX fsimg || skip "losetup failed"
loopdev LY fsimg || fail "a second loop device"
mkdir mnt
mount "$LX" mnt || skip "cannot mount ext4 here"
trap 'swapoff "$T/mnt/swf" 2>/dev/null; umount "$T/mnt" 2>/dev/null; _cleanup' EXIT
dd if=/dev/zero of=mnt/swf bs=1M count=8 status=none
chmod 600 mnt/swf
mkswap mnt/swf >/dev/null 2>&1 || skip "mkswap failed"
sync
blk=$(filefrag -v mnt/swf | awk '$1 == "0:" { sub(/\.\..*/, "", $4); print $4 }')
[ -n "$blk" ] || skip "no extent from filefrag"
e0=$((blk * 4096))
swapon mnt/swf 2>/dev/null || skip "cannot swapon a file on this ext4"
random src 4096
sig() { dd if="$1" bs=1 skip=$((e0 + 4086)) count=10 status=none; }
[ "$(sig fsimg)" = SWAPSPACE2 ] || fail "no swap signature at byte $((e0 + 4086)) of fsimg"
msg="is (or holds) swap space in use, $T/mnt/swf, a swap file of the file system on it"
for dev in fsimg "$LX" "$LY"; do
	expect 2 zero --force --offset "$e0" --length 4K "$dev"
	err_has "$dev: $msg"
	expect 2 copy --force --dest-offset "$e0" src "$dev"
	err_has "$dev: $msg"
done
sync
[ "$(sig fsimg)" = SWAPSPACE2 ] || fail "the swap file's header was written"
random mnt/a 65536
expect 0 copy mnt/a mnt/b
same mnt/a mnt/b
exit 0
