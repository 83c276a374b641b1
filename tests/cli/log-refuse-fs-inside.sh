#!/usr/bin/env bash
# copy --log FILE: FILE's directory must not be on a file system stored in
# the bytes the copy reads (the log's writes would change the source under
# the copy) or writes (the copy would overwrite the log, the log the copy):
# the source or a destination a loop device holding that file system, its
# backing file, or a loop device stacked under it.  Refused at set-up
# (exit 2, a message naming the log and the device), nothing written or
# created; a range of a block device or a destination outside the file
# system's bytes is fine.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.ext4

M=$((1024 * 1024))
# fs.img: 4 MiB of other data, then a 32 MiB file system from 4 MiB on.
random fs.img $((4 * M))
truncate -s 32M part.img
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 part.img || skip "mkfs.ext4 failed"
dd if=part.img of=fs.img bs=1M seek=4 conv=notrunc status=none
rm part.img
loopdev L1 fs.img || fail "losetup"
loopdev L2 "$L1" --offset 4M || fail "losetup (stacked)"
mkdir mnt
mount "$L2" mnt 2>/dev/null && _mounts+=("$T/mnt") || skip "cannot mount ext4"
random src $M

# unchanged: fs.img (the file system's bytes) as it was, no log and no
# destination created.
refused() {
	local what=$1 before; shift
	sync
	before=$(digest fs.img)
	expect 2 copy "$@"
	err_has "--log mnt/copy.log: its directory $T/mnt is on a file system stored in $what"
	sync
	[ "$(digest fs.img)" = "$before" ] || fail "$*: the file system's storage changed"
	[ ! -e mnt/copy.log ] && [ ! -e mnt/copy.log.tmp ] && [ ! -e mnt/copy.log.lock ] ||
		fail "$*: the log was written"
	[ ! -e copy ] || fail "$*: copy was created"
	return 0
}
inside_src="; the log would be written inside the source"
inside_dst="; the log would be written inside the destination"
# The source: the mounted device, the device under it, its backing file.
refused "the source $L2$inside_src" --log mnt/copy.log "$L2" copy
refused "the source $L1$inside_src" --log mnt/copy.log "$L1" copy
refused "the source fs.img$inside_src" --log mnt/copy.log fs.img copy
refused "the source fs.img$inside_src" --log mnt/copy.log --offset 6M --length 1M fs.img copy
# A destination (written anyway with --force), the second one too.
refused "the destination fs.img$inside_dst" --force --log mnt/copy.log --dest-offset 5M src fs.img
refused "the destination $L2$inside_dst" --force --log mnt/copy.log src "$L2"
refused "the destination $L1$inside_dst" --force --log mnt/copy.log --dest-offset 8M src copy "$L1"

# A file source outside the file system's bytes too: the log's writes
# change the file's times, which the copy takes for a change under it; so
# for a loop device over that file (the copy reads the file's times too).
refused "the source fs.img$inside_src" --log mnt/copy.log --length 4M fs.img copy
refused "the source $L1$inside_src" --log mnt/copy.log --length 4M "$L1" copy

# Outside the file system's bytes: its first 4 MiB, read through the loop
# device with the log elsewhere, and written into the file.
expect 0 copy -q --log copy.log --length 4M "$L1" copy
cmp -n $((4 * M)) fs.img copy || fail "the copy below the file system"
rm -f copy copy.log
expect 0 copy -q --log mnt/copy.log src fs.img
cmp -n $M src fs.img || fail "the copy below the file system, as a destination"
exit 0
