#!/usr/bin/env bash
# A file on a mounted file system and the storage that file system lives
# on (its device, a loop device under it, the image file) do not overlap
# where the file's bytes are not known: the command refuses to write under
# a mounted file system, and says that, not "the ranges overlap" (even with
# --force, which lets it write a mounted device elsewhere); a file inside
# the file system its source device holds is refused for what it is: writing
# it would change the source.  Nothing written.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.ext4

M=$((1024 * 1024))
random src $M
truncate -s 16M fs.img
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 fs.img || skip "mkfs.ext4 failed"
loopdev L fs.img || fail "losetup"
mkdir mnt
mount "$L" mnt 2>/dev/null && _mounts+=("$T/mnt") || skip "cannot mount ext4"
random mnt/f $M
sync
files=(fs.img src mnt/f)
msg="is a file on the file system that lives there; refusing to write under a mounted file system"

refused "file system's device" "$L: the source mnt/f $msg" copy --force --dest-offset 12M mnt/f "$L"
grep -q "overlap" "$T/err" && fail "still says the ranges overlap: $(cat "$T/err")"
refused "file system's image" "fs.img: the source mnt/f $msg" copy --force --dest-offset 12M mnt/f fs.img
grep -q "overlap" "$T/err" && fail "still says the ranges overlap: $(cat "$T/err")"
refused "file inside the source's file system" \
	"mnt/f: is a file on the file system that lives on the source $L; writing it would change the source" \
	copy --length 1M "$L" mnt/f
grep -q "overlap" "$T/err" && fail "still says the ranges overlap: $(cat "$T/err")"
refused "two destinations" "$L: the destination mnt/f $msg" \
	zero --force --offset 12M --length 64K mnt/f "$L"
grep -q "overlap" "$T/err" && fail "still says the ranges overlap: $(cat "$T/err")"
exit 0
