#!/usr/bin/env bash
# One storage reached through loop devices is found by what the kernel says
# (LOOP_GET_STATUS64: device, inode, offset, size limit; stacked devices
# followed down), not by the backing file's name in sysfs: a name with a
# newline, a deleted backing file reached by a hard link, a loop device over
# a loop device (two and three deep, with offsets), two loop devices over
# one file.  Overlapping ranges are refused (exit 2, every file unchanged,
# both paths named); ranges that do not overlap are copied exactly.
. "$(dirname "$0")/common.bash"
need_loop

M=$((1024 * 1024))

# A backing file whose name holds a newline (and a decoy where sysfs's
# text, cut at the newline, would lead).
nl=$'img\nx'
random "$nl" $((4 * M))
random img $((4 * M))
cp "$nl" nl.orig
loopdev Lnl "$nl" || fail "losetup"
files=("$nl" img)
refused "newline" "is the source $nl" copy --length 1M --dest-offset 512K "$nl" "$Lnl"
err_has "$Lnl"
refused "newline, reversed" "is the source $Lnl" copy --length 1M --dest-offset 512K "$Lnl" "$nl"
refused "newline, zero" "shares its storage with the destination $Lnl" zero --length 1M "$Lnl" "$nl"
# Disjoint ranges of the same file through its loop device are fine.
expect 0 copy --length 1M --dest-offset 2M "$nl" "$Lnl"
cmp -n $M nl.orig "$Lnl" || fail "newline: first MiB not copied"
cmp -i 0:$((2 * M)) -n $M nl.orig "$nl" || fail "newline: copy landed elsewhere"
cmp -i $((3 * M)):$((3 * M)) nl.orig "$nl" || fail "newline: bytes past the range changed"

# A deleted backing file, still reachable by a hard link.
random del $((2 * M))
ln del del.link
loopdev Ldel del || fail "losetup"
rm del
files=(del.link)
refused "deleted" "is the source del.link" copy --length 1M --dest-offset 512K del.link "$Ldel"
refused "deleted, as destination" "is the source $Ldel" copy --length 1M --dest-offset 512K "$Ldel" del.link
# A file named as sysfs names the deleted one is another file: no refusal.
random "del (deleted)" $M
expect 0 copy "del (deleted)" "$Ldel"
cmp -n $M "del (deleted)" del.link || fail "deleted: copy through the loop device"

# A loop device over a loop device over a file, each with an offset: byte
# 0 of the top one is byte 2 MiB of the file.
random base $((8 * M))
cp base base.orig
loopdev L1 base --offset $M || fail "losetup"
loopdev L2 "$L1" --offset $M || fail "losetup (stacked)"
loopdev L3 "$L2" || fail "losetup (three deep)"
files=(base)
refused "stacked" "is the source base" copy --offset 2M --length 1M base "$L2"
refused "stacked, partial overlap" "is the source base" copy --offset 2560K --length 1M base "$L2"
refused "three deep" "is the source base" copy --offset 2M --length 1M base "$L3"
refused "stacked, reversed" "is the source $L3" copy --length 1M --dest-offset 2M "$L3" base
refused "stacked, two names" "is the source $L1" copy --offset 1M --length 1M "$L1" "$L3"
random small $M
random twomeg $((2 * M))
refused "stacked, two destinations" "shares its storage with the destination $L1" \
	copy twomeg "$L1" "$L3"
# 1 MiB at the same offset of both lands 1 MiB apart in the file: disjoint.
expect 0 copy --dest-offset 1M small "$L1" "$L3"
cmp -i 0:$((2 * M)) -n $M small base || fail "stacked, two destinations: first"
cmp -i 0:$((3 * M)) -n $M small base || fail "stacked, two destinations: second"
cp base.orig base
# Disjoint: the file's first MiB onto the top device (file bytes 2..3 MiB).
expect 0 copy --length 1M base "$L3"
cmp -n $M base.orig "$L3" || fail "stacked: not copied"
cmp -i 0:$((2 * M)) -n $M base.orig base || fail "stacked: not where the offsets say"
cmp -n $((2 * M)) base.orig base || fail "stacked: bytes below the range changed"
cmp -i $((3 * M)):$((3 * M)) base.orig base || fail "stacked: bytes past the range changed"
cp base.orig base

# Offset and size limit: two loop devices over disjoint halves of one file
# are two storages: both zeroed or written in one run; overlapping ones not.
random two $((4 * M))
loopdev Ha two --sizelimit 2M || fail "losetup"
loopdev Hb two --offset 2M --sizelimit 2M || fail "losetup"
loopdev Hc two --offset 1M --sizelimit 2M || fail "losetup"
files=(two)
refused "overlapping halves" "shares its storage with the destination $Ha" zero "$Ha" "$Hc"
refused "overlapping halves, copy" "shares its storage with the destination $Hb" copy twomeg "$Hb" "$Hc"
refused "file and its second half" "is the source two" copy --offset 2M --length 1M two "$Hb"
expect 0 copy --offset 1M --length 1M two "$Hb"
cmp -i $M:$((2 * M)) -n $M two two || fail "file into its own second half"
expect 0 zero "$Ha" "$Hb"
cmp -n $((4 * M)) two /dev/zero || fail "both halves zeroed"
expect 0 copy small "$Ha" "$Hb"
cmp -n $M small two || fail "small onto first half"
cmp -i 0:$((2 * M)) -n $M small two || fail "small onto second half"

# Two loop devices over one file at the same offset: the same storage.
random one $((2 * M))
loopdev O1 one || fail "losetup"
loopdev O2 one || fail "losetup"
files=(one small)
refused "two devices, one file" "is the source $O1" copy --length 1M --dest-offset 512K "$O1" "$O2"
refused "two devices, one file, two destinations" "$O1" copy small "$O1" "$O2"
expect 0 copy --length 1M --dest-offset 1M "$O1" "$O2"
cmp -i 0:$M -n $M one one || fail "two devices: disjoint copy"
exit 0
