#!/usr/bin/env bash
# A file on btrfs has a device number of no block device (major 0, one of
# each subvolume): the block devices the file system lives on are found by
# its mount (its source in /proc/self/mountinfo) and, for btrfs, every
# member device sysfs lists, each followed down (the loop device, its image
# file).  So, as for ext4: a file inside the btrfs its source device holds
# is refused (writing it would change the source), a file on it is not
# written over that device even with --force (a mounted file system), a
# loop device over such a file neither, and --log in that btrfs is refused
# for a source or destination that holds it.  Exit 2, the message naming
# the device, nothing written or created.  A btrfs elsewhere is fine.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.btrfs

M=$((1024 * 1024))
random src $M
truncate -s 64M bt.img
mkfs.btrfs -q -M bt.img >/dev/null 2>&1 || skip "mkfs.btrfs failed"
loopdev L bt.img || fail "losetup"
mkdir mnt
# noatime: the copy's reads must not make the file system write.
mount -o noatime "$L" mnt 2>/dev/null && _mounts+=("$T/mnt") || skip "cannot mount btrfs"
random mnt/f $M
cp mnt/f f.orig
sync
files=(bt.img src mnt/f)
inside="is a file on the file system that lives on the source"
under="is a file on the file system that lives there; refusing to write under a mounted file system"

# A file in the btrfs as the destination of its own device or image.
refused "new file in the source's btrfs" "mnt/new: $inside $L; writing it would change the source" \
	copy --length 1M "$L" mnt/new
refused "file in the source's btrfs" "mnt/f: $inside $L; writing it would change the source" \
	copy --length 1M "$L" mnt/f
refused "file in the source image's btrfs" "mnt/f: $inside bt.img; writing it would change" \
	copy --length 1M bt.img mnt/f
refused "new file, source image" "mnt/new: $inside bt.img" copy --length 1M bt.img mnt/new
# A btrfs file written over the storage of its own file system: refused
# even with --force.
refused "onto its device" "$L: the source mnt/f $under" copy --force --dest-offset 40M mnt/f "$L"
refused "onto its image" "bt.img: the source mnt/f $under" \
	copy --force --dest-offset 40M mnt/f bt.img
refused "zero, two destinations" "$L: the destination mnt/f $under" \
	zero --force --offset 40M --length 64K mnt/f "$L"

# A subvolume has a device number of its own.
if command -v btrfs >/dev/null && btrfs -q subvolume create mnt/sv >/dev/null 2>&1; then
	random mnt/sv/g $M
	sync
	[ "$(stat -c %d mnt/sv/g)" != "$(stat -c %d mnt/f)" ] || echo "note: same st_dev"
	files=(bt.img src mnt/sv/g)
	refused "file in a subvolume" "mnt/sv/g: $inside $L" copy --length 1M "$L" mnt/sv/g
	refused "subvolume file onto its device" "$L: the source mnt/sv/g $under" \
		copy --force --dest-offset 40M mnt/sv/g "$L"
	files=(bt.img src mnt/f)
fi

# A loop device over a file in the btrfs lies on the btrfs's device too.
random mnt/lf.img $((2 * M))
sync
loopdev LF mnt/lf.img || fail "losetup (over a btrfs file)"
files=(bt.img src mnt/f mnt/lf.img)
refused "loop device over a btrfs file, onto the btrfs's device" "$L: the source $LF" \
	copy --force --dest-offset 40M --length 1M "$LF" "$L"
refused "the btrfs's device onto a loop device over a file in it" \
	"$LF: is a file on the file system that lives on the source $L" \
	copy --force --length 1M "$L" "$LF"
files=(bt.img src mnt/f)

# --log in the btrfs: inside the source, inside a destination.
SNAPSHOT_SKIP=mnt
log_refused mnt/copy.log "its directory $T/mnt is on a file system stored in the source $L; the log would be written inside the source" \
	"$L" copy
log_refused mnt/copy.log "stored in the source bt.img; the log would be written inside the source" \
	bt.img copy
log_refused mnt/copy.log "stored in the destination bt.img; the log would be written inside the destination" \
	-q --force --length 1M src bt.img --dest-offset 40M
log_refused mnt/copy.log "stored in the destination $L; the log would be written inside the destination" \
	-q --force --length 1M src copy "$L" --dest-offset 40M
[ ! -e mnt/copy.log ] || fail "the log was created"
cmp -n $M f.orig mnt/f || fail "mnt/f changed"

# Two devices (mkfs.btrfs -d single): each holds the file system.
truncate -s 48M a.img b.img
if mkfs.btrfs -q -M -d single -m single a.img b.img >/dev/null 2>&1; then
	loopdev LA a.img || fail "losetup"
	loopdev LB b.img || fail "losetup"
	btrfs device scan "$LA" "$LB" >/dev/null 2>&1
	mkdir mnt2
	if mount -o noatime,device="$LA",device="$LB" "$LA" mnt2 2>/dev/null; then
		_mounts+=("$T/mnt2")
		random mnt2/h $M
		sync
		files=(a.img b.img src mnt2/h)
		for dev in "$LA" "$LB"; do
			refused "two devices: $dev" "mnt2/h: $inside $dev" copy --length 1M "$dev" mnt2/h
			refused "two devices, new file: $dev" "mnt2/new: $inside $dev" \
				copy --length 1M "$dev" mnt2/new
			refused "two devices, onto $dev" "$dev: the source mnt2/h $under" \
				copy --force --dest-offset 40M mnt2/h "$dev"
		done
		refused "two devices, image" "mnt2/h: $inside b.img" copy --length 1M b.img mnt2/h
		# Another btrfs: not where the first one's files are.
		expect 0 copy -q --length 1M "$LB" mnt/g
		cmp -n $M "$LB" mnt/g || fail "the copy between two btrfs"
		rm mnt/g
	else
		echo "note: cannot mount a two-device btrfs; not tested"
	fi
fi

# Not refused: a btrfs file from elsewhere, a file of the btrfs read into
# a file outside it.
expect 0 copy -q src mnt/g
same src mnt/g
expect 0 copy -q mnt/f out2
same f.orig out2
exit 0
