#!/usr/bin/env bash
# One storage under many names: a bind mount, a /proc/self/fd name, a
# block device node made with mknod under another name, a file through
# overlayfs and in its layer, and a file inside
# a file system whose device (or image file) is the source: all found by
# device and inode numbers, refused when the ranges overlap (exit 2, every
# file unchanged, both paths named) and copied exactly when they do not.
. "$(dirname "$0")/common.bash"
need_loop

M=$((1024 * 1024))

random src $((2 * M))
cp src src.orig
random other $M

# A bind mount of the directory: other names, the same inodes.
mkdir bind
mount --bind "$T" bind 2>/dev/null && _mounts+=("$T/bind") || skip "cannot bind-mount"
files=(src other)
refused "bind mount" "is the source src" copy --length 1M --dest-offset 512K src bind/src
refused "bind mount, named twice" "named twice" copy other src.copy bind/src.copy
[ ! -e src.copy ] || fail "src.copy created"
refused "bind mount, zero" "named twice" zero other bind/other
expect 0 copy --length 1M --dest-offset 1M src bind/src
cmp -i 0:$M -n $M src.orig src || fail "bind mount: disjoint copy"
cp src.orig src

# /proc/self/fd names (the command inherits descriptor 7).
exec 7<src
refused "/proc/self/fd" "is the source /proc/self/fd/7" copy --length 1M --dest-offset 512K /proc/self/fd/7 src
refused "/proc/self/fd, reversed" "is the source src" copy --length 1M --dest-offset 512K src /proc/self/fd/7
exec 7<&-

# A block device node under another name (mknod).
random dimg $((4 * M))
loopdev D dimg || fail "losetup"
mknod alias b "$(stat -c '%t' "$D" | xargs -I{} printf '%d' 0x{})" \
	"$(stat -c '%T' "$D" | xargs -I{} printf '%d' 0x{})" || skip "mknod failed"
files=(dimg src)
refused "mknod alias" "is the source $D" copy --length 1M --dest-offset 512K "$D" alias
refused "mknod alias, named twice" "named twice" copy src "$D" alias
refused "mknod alias of the backing" "is the source dimg" copy --length 1M --dest-offset 512K dimg alias
expect 0 copy --length 1M --dest-offset 2M "$D" alias
cmp -i 0:$((2 * M)) -n $M dimg dimg || fail "mknod alias: disjoint copy"

# overlayfs: a file read through the overlay is its lower file until it is
# copied up, then its upper file.
mkdir lower upper work ov
random lower/f $((2 * M))
cp lower/f f.orig
if mount -t overlay overlay -o "lowerdir=$T/lower,upperdir=$T/upper,workdir=$T/work" ov 2>/dev/null; then
	_mounts+=("$T/ov")
	files=(lower/f)
	refused "overlay, lower" "lower/f: is the source ov/f" copy --length 1M --dest-offset 512K ov/f lower/f
	# Writing through the overlay copies the file up: the lower one is
	# another file then, and stays as it was.
	expect 0 copy --length 1M --dest-offset 512K lower/f ov/f
	same f.orig lower/f
	cmp -i 0:524288 -n $M f.orig ov/f || fail "overlay: copy up"
	files=(upper/f lower/f)
	refused "overlay, upper" "upper/f: is the source ov/f" copy --length 1M --dest-offset 512K ov/f upper/f
	refused "overlay, upper, reversed" "ov/f: is the source upper/f" copy --length 1M --dest-offset 512K upper/f ov/f
fi

# A file inside a file system is part of the device the file system lives
# on, and of the image file under that device.
need_cmd mkfs.ext4
truncate -s 32M fs.img
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 fs.img || skip "mkfs.ext4 failed"
loopdev F fs.img || fail "losetup"
mkdir mnt
mount "$F" mnt 2>/dev/null && _mounts+=("$T/mnt") || skip "cannot mount ext4"
random mnt/inside $((2 * M))
sync
files=(fs.img mnt/inside)
refused "device under its file" "mnt/inside: is a file on the file system that lives on the source $F" copy "$F" mnt/inside
refused "device under a new file" "mnt/new: is a file on the file system that lives on the source $F" copy "$F" mnt/new
[ ! -e mnt/new ] || fail "mnt/new created"
refused "image under its file" "mnt/new: is a file on the file system that lives on the source fs.img" copy fs.img mnt/new
refused "image under its file, a range" "mnt/inside: is a file on the file system that lives on the source fs.img" copy --length 4M fs.img mnt/inside
# Files of one file system are different storage; so are other files.
expect 0 copy mnt/inside mnt/copy
same mnt/inside mnt/copy
expect 0 copy src mnt/from-outside
same src mnt/from-outside
exit 0
