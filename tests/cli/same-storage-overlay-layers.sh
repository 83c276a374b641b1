#!/usr/bin/env bash
# Overlays in more shapes than the plain one, each file reached by its
# merged name and by its layer's name, refused as the same storage (exit 2,
# nothing written): layers on different file systems (the overlay then
# gives its files their layer's device number), "lowerdir+=" layers, a
# layer path with ',' and ':' in it, metacopy (a file copied up for its
# metadata only still has its data below); and a new file, or the log, in
# an overlay whose upper layer lies on a file system stored in the source.
. "$(dirname "$0")/common.bash"
need_root
need_loop
need_cmd mkfs.ext4
M=$((1024 * 1024))

# Layers on different file systems: the lower one a tmpfs.
tmpfs "$T/tl" 64M
mkdir u w
random tl/a $((8 * M))
cp tl/a a.orig
ovl "$T/m1" "lowerdir=$T/tl,upperdir=$T/u,workdir=$T/w" || skip "cannot mount overlayfs"
shares_refused --length 1M m1/a tl/a
loopdev L m1/a -r || fail "losetup"
shares_refused --length 4M --dest-offset 1M "$L" tl/a
same a.orig tl/a

# lowerdir+= layers (one each), and a layer path with ',' and ':' in it.
mkdir -p "l,2" "x:y" u2 w2
random "l,2/b" $((4 * M))
random "x:y/c" $((4 * M))
cp "l,2/b" b.orig
cp "x:y/c" c.orig
if ovl "$T/m2" "lowerdir+=$T/l\\,2,lowerdir+=$T/x\\:y,upperdir=$T/u2,workdir=$T/w2"; then
	shares_refused --length 2M --dest-offset 1M m2/b "l,2/b"
	shares_refused --length 2M --dest-offset 1M m2/c "x:y/c"
	same b.orig "l,2/b"
	same c.orig "x:y/c"
fi

# metacopy: after a chmod the upper file holds the metadata, the lower
# one still the data.
mkdir -p l3 u3 w3
random l3/d $((4 * M))
cp l3/d d.orig
if ovl "$T/m3" "lowerdir=$T/l3,upperdir=$T/u3,workdir=$T/w3,metacopy=on"; then
	chmod 600 m3/d
	shares_refused --length 2M --dest-offset 1M m3/d l3/d
	same d.orig l3/d
fi

# A new file, and the log, in an overlay whose upper layer is on a file
# system stored in the source.
truncate -s 64M e.img
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 e.img || skip "mkfs.ext4"
loopdev LE e.img || fail "losetup"
mkdir e
mount "$LE" e && _mounts+=("$T/e") || skip "cannot mount ext4"
mkdir -p e/l e/u e/w
ovl "$T/m4" "lowerdir=$T/e/l,upperdir=$T/e/u,workdir=$T/e/w" || fail "overlay over ext4"
expect 2 copy --length 1M "$LE" m4/newfile
err_has "is a file on the file system that lives on the source"
[ ! -e m4/newfile ] || fail "m4/newfile was created"
expect 2 copy --length 1M --log m4/L "$LE" d1
err_has "the log would be written inside the source"
[ ! -e d1 ] || fail "d1 was created"
exit 0
