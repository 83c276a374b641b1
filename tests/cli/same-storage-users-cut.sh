#!/usr/bin/env bash
# Storage under a mounted file system, where what kcopyd follows ends: a
# loop device stacked under more loop devices than are followed (seven,
# the top one mounted) is taken as covering its file, and a mounted
# partition of a loop device refuses a write to the loop's file that only
# shares a page of the page cache with the partition.  Refused (exit 2,
# nothing written); ranges away from them are copied.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.ext4
random src512 512

# Seven loop devices stacked over stackF, the top one mounted.
truncate -s 16M stackF
prev=$T/stackF
for i in 1 2 3 4 5 6 7; do
	loopdev S "$prev" || fail "losetup $i"
	prev=$S
done
mkfs.ext4 -q -E nodiscard "$S" >/dev/null 2>&1 || fail "mkfs.ext4"
mkdir top
mount "$S" top 2>/dev/null && _mounts+=("$T/top") || skip "cannot mount ext4"
# (The mounted ext4 may write its own blocks meanwhile: only the range
# the copy would write is compared.)
expect 2 copy src512 stackF --dest-offset 1M
err_has "which is mounted or in use"
! cmp -s -i 0:1M -n 512 src512 stackF || fail "stackF was written"
umount "$T/top"

# A partition of a loop device from sector 63 (byte 32256), mounted.
truncate -s 16M img1
loopdev L img1 || fail "losetup"
# The partition outlives the loop device's detach (and keeps the next
# user of its number from adding its own): deleted first, once unmounted.
_parts() {
	umount "$T/p1" 2>/dev/null
	[ -e "/sys/class/block/${L#/dev/}p1" ] &&
		for _ in $(seq 50); do delpart "$L" 1 2>/dev/null && break; sleep 0.1; done
	_cleanup
}
trap _parts EXIT
addpart "$L" 1 63 30000 2>/dev/null || skip "addpart does not work here"
for _ in $(seq 50); do [ -b "${L}p1" ] && break; sleep 0.1; done
[ -b "${L}p1" ] || skip "no ${L}p1"
mkfs.ext4 -q -E nodiscard "${L}p1" >/dev/null 2>&1 || fail "mkfs.ext4 on ${L}p1"
mkdir p1
mount "${L}p1" p1 2>/dev/null && _mounts+=("$T/p1") || fail "cannot mount ${L}p1"
for at in 31744 32768; do
	expect 2 copy src512 img1 --dest-offset "$at"
	err_has "which is mounted or in use"
	! cmp -s -i 0:"$at" -n 512 src512 img1 || fail "img1 was written at $at"
done
# A page away from the partition: copied.
expect 0 copy -q src512 img1 --dest-offset 16384
cmp -i 0:16384 -n 512 src512 img1 || fail "the copy is not at 16384"
exit 0
