#!/usr/bin/env bash
# A loop device over a file opened through overlayfs: LOOP_GET_STATUS64
# gives the overlay's device and inode numbers, but the bytes are those of
# the file in the overlay's upper layer (or, read-only and not copied up,
# of its lower file).  That layer file is found through the backing file
# (sysfs's name, proved by fstat to be the loop device's file) and the
# overlay's layers, and lies under the loop device from its offset on: a
# copy between the loop device and the layer file whose ranges overlap
# there is refused (exit 2, the message naming both, nothing written), as
# is the layer file as the copy's log, and the layer file of a mounted
# loop device as a destination; disjoint ranges are copied.
. "$(dirname "$0")/common.bash"
need_loop

M=$((1024 * 1024))
mkdir lower upper work mg
mount -t overlay overlay -o "lowerdir=$T/lower,upperdir=$T/upper,workdir=$T/work" "$T/mg" \
	2>/dev/null && _mounts+=("$T/mg") || skip "cannot mount overlayfs"
random mg/k $((8 * M))
[ -f upper/k ] || fail "mg/k is not in the upper layer"
cp upper/k k.orig
loopdev L "$T/mg/k" || fail "losetup"
files=(upper/k)
shares="(or shares its storage) and the ranges overlap"

# The upper file and the loop device over its overlay name, both ways.
refused "loop source, upper destination" "upper/k: is the source $L $shares" \
	copy --length 1M --dest-offset 512K "$L" upper/k
refused "upper source, loop destination" "$L: is the source upper/k $shares" \
	copy --length 1M --dest-offset 512K upper/k "$L"
refused "control: the overlay name" "mg/k: is the source $L $shares" \
	copy --length 1M --dest-offset 512K "$L" mg/k
refused "two destinations" "upper/k: shares its storage with the destination $L" \
	zero --length 1M "$L" upper/k
# The upper file as the log of a copy from the loop device.
refused "the log" "--log upper/k: the log upper/k is the source $L" \
	copy --log upper/k --length 1M "$L" new

# From the loop device's offset on (losetup --offset), up to its size limit.
loopdev LO "$T/mg/k" --offset 2M --sizelimit 2M || fail "losetup --offset"
refused "offset: loop source" "upper/k: is the source $LO $shares" \
	copy --length 1M --dest-offset 1536K "$LO" upper/k
refused "offset: loop destination" "$LO: is the source upper/k $shares" \
	copy --length 1M --offset 2560K upper/k "$LO"

# Read-only and never copied up: the lower file holds the bytes.
random lower/r $((4 * M))
cp lower/r r.orig
loopdev LR "$T/mg/r" -r || fail "losetup -r"
[ ! -e upper/r ] || fail "mg/r was copied up"
files=(lower/r)
refused "read-only loop, lower file" "lower/r: is the source $LR $shares" \
	copy --length 1M --dest-offset 512K "$LR" lower/r
same r.orig lower/r

# A file system on a loop device over an overlay file: its upper file is
# storage a mounted file system lives on.
if command -v mkfs.ext4 >/dev/null; then
	truncate -s 16M mg/fs.img
	mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 mg/fs.img >/dev/null 2>&1 || fail "mkfs.ext4"
	loopdev LM "$T/mg/fs.img" || fail "losetup"
	mkdir mnt
	if mount "$LM" mnt 2>/dev/null; then
		_mounts+=("$T/mnt")
		random src $M
		sync
		files=(upper/fs.img src)
		refused "mounted" "upper/fs.img: lies under $LM, which is mounted" \
			copy --dest-offset 4M src upper/fs.img
		SNAPSHOT_SKIP=work
		log_refused mnt/copy.log "is on a file system stored in the source upper/fs.img" \
			--length 1M upper/fs.img copy
		[ ! -e mnt/copy.log ] || fail "the log was created"
	fi
fi

# Disjoint ranges are fine, and land where they should.
files=()
expect 0 copy -q --length 1M --dest-offset 2M "$L" upper/k
cmp -n $M k.orig upper/k || fail "first MiB changed"
cmp -i 0:$((2 * M)) -n $M k.orig upper/k || fail "the copy is not at 2 MiB"
cmp -i $((3 * M)):$((3 * M)) k.orig upper/k || fail "bytes past the copy changed"
cp upper/k k.orig
expect 0 copy -q --length 1M --dest-offset 1M "$LO" upper/k
cmp -i $((2 * M)):$((1 * M)) -n $M k.orig upper/k || fail "the offset copy"
exit 0
