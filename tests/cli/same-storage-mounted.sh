#!/usr/bin/env bash
# Storage a mounted file system lives on is refused without --force however
# it is named, as a mounted block device is: the image file under a mounted
# loop device, a loop device under one (stacked) or over one, a mknod name
# of one, a file under a loop device another program holds (O_EXCL).  Exit 2, both
# paths named, nothing written; ranges outside the mounted device's bytes
# are fine, and --force writes anyway.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.ext4

M=$((1024 * 1024))

random src $M
# fs.img: 4 MiB of other data, then a 16 MiB file system from 4 MiB on.
random fs.img $((4 * M))
truncate -s 16M part.img
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 part.img || skip "mkfs.ext4 failed"
dd if=part.img of=fs.img bs=1M seek=4 conv=notrunc status=none
truncate -s $((24 * M)) fs.img
loopdev L1 fs.img || fail "losetup"
loopdev L2 "$L1" --offset 4M --sizelimit 16M || fail "losetup (stacked)"
mkdir mnt
mount "$L2" mnt 2>/dev/null && _mounts+=("$T/mnt") || skip "cannot mount ext4"
mknod alias b "$((0x$(stat -c %t "$L1")))" "$((0x$(stat -c %T "$L1")))" || skip "mknod failed"
files=(fs.img src)

refused "image file" "fs.img: lies under $L2, which is mounted" copy --dest-offset 4M src fs.img
refused "image file, inside the mounted range" "lies under $L2" copy --dest-offset 19M src fs.img
refused "image file, zero" "fs.img: lies under $L2" zero --offset 4M --length 1M fs.img
refused "image file, zero all" "lies under $L2" zero fs.img
refused "stacked device" "$L1: lies under $L2, which is mounted" copy --dest-offset 4M src "$L1"
refused "mknod name" "alias: lies under $L2" copy --dest-offset 8M src alias
refused "mounted device itself" "is mounted or in use" copy src "$L2"
# A loop device over the mounted device.
loopdev L4 "$L2" || fail "losetup (over the mounted device)"
refused "loop device over the mounted device" "$L4: lies on /dev/$(basename "$L2"), which is mounted" copy src "$L4"
refused "loop device over the mounted device, zero" "lies on" zero --length 1M "$L4"
# Outside the mounted file system's bytes: the first 4 MiB and the last.
expect 0 copy src fs.img
cmp -n $M src fs.img || fail "copy below the mounted range"
expect 0 copy --dest-offset 20M src "$L1"
cmp -i 0:$((20 * M)) -n $M src fs.img || fail "copy past the mounted range"
expect 0 zero --offset 22M fs.img
cmp -i $((22 * M)):0 -n $((2 * M)) fs.img /dev/zero || fail "zero past the mounted range"
# The file system is still whole.
umount mnt && _mounts=()
if command -v e2fsck >/dev/null; then
	e2fsck -fn "$L2" >/dev/null 2>&1 || fail "the file system was damaged"
fi

# Held O_EXCL by another program (as a mounted device is): a file under it.
random held.img $((4 * M))
loopdev H held.img || fail "losetup"
hold "$H"
files=(held.img)
refused "held device's file" "held.img: lies under $H, which is mounted or in use" copy src held.img
refused "held device's file, two destinations" "lies under $H" copy src other held.img
[ ! -e other ] || fail "other created"
expect 0 copy --force src held.img
cmp -n $M src held.img || fail "--force copy"
exit 0
