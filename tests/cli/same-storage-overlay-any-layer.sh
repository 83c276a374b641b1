#!/usr/bin/env bash
# A file on an overlay may be stored in any file of any of its layers:
# which one its name cannot tell once redirect_dir has renamed its
# directory, metacopy has renamed a file copied up for its metadata, xino
# has put the layer's number into its inode number, the layer is a
# data-only one, or the layer is itself an overlay.  A file under a layer directory is refused as the other side
# of a copy with it (exit 2, nothing written), and a new file or the log
# in an overlay lies in its upper layer's file system, whether its
# directory is in the upper layer yet or not.
. "$(dirname "$0")/common.bash"
need_root
M=$((1024 * 1024))

# redirect_dir: a directory renamed through the overlay is found in the
# lower layer by its old name.
mkdir -p r/lo/dA r/up r/w
random r/lo/dA/f $M
cp r/lo/dA/f f.orig
ovl "$T/r/m" "lowerdir=$T/r/lo,upperdir=$T/r/up,workdir=$T/r/w,redirect_dir=on" ||
	skip "cannot mount overlayfs with redirect_dir"
mv r/m/dA r/m/dB || fail "mv"
shares_refused --length 512K r/m/dB/f r/lo/dA/f
same f.orig r/lo/dA/f
# Written, the overlay's file is copied up: the lower one is only read.
random src $M
expect 0 copy -q --length 512K src r/m/dB/f
same f.orig r/lo/dA/f

# metacopy: copied up for its metadata, then renamed: its data is still
# the lower file's, under its old name.
mkdir -p c/lo c/up c/w
random c/lo/f $M
cp c/lo/f c.orig
if ovl "$T/c/m" "lowerdir=$T/c/lo,upperdir=$T/c/up,workdir=$T/c/w,redirect_dir=on,metacopy=on"; then
	chmod 600 c/m/f
	mv c/m/f c/m/g
	shares_refused --length 512K c/m/g c/lo/f
	same c.orig c/lo/f
fi

# A data-only layer ("::"): a metacopy file of the lower layer whose
# redirect names its data there, reached by no name of its own.
mkdir -p d/lo d/data d/up d/w
random d/data/blob $M
cp d/data/blob d.orig
truncate -s $M d/lo/g
if "$PY" -c 'import os, sys
os.setxattr(sys.argv[1], "trusted.overlay.metacopy", b"")
os.setxattr(sys.argv[1], "trusted.overlay.redirect", b"/blob")' d/lo/g 2>/dev/null &&
	ovl "$T/d/m" "lowerdir=$T/d/lo::$T/d/data,upperdir=$T/d/up,workdir=$T/d/w,metacopy=on,redirect_dir=on" &&
	cmp -s d/m/g d/data/blob; then
	shares_refused --length 512K d/m/g d/data/blob
	same d.orig d/data/blob
fi

# xino: layers on different file systems (two tmpfs): the overlay's inode
# number is not the layer file's.
tmpfs "$T/t1" 16M
tmpfs "$T/t2" 16M
mkdir -p t2/up t2/w
random t1/f $M
cp t1/f x.orig
if ovl "$T/x" "lowerdir=$T/t1,upperdir=$T/t2/up,workdir=$T/t2/w,xino=on"; then
	[ "$(stat -c %i x/f)" != "$(stat -c %i t1/f)" ] || echo "xino: the same inode number"
	shares_refused --length 512K x/f t1/f
	same x.orig t1/f
fi

# An overlay whose lower layer is an overlay: the inner one's layers.
mkdir -p n/A n/B n/up n/w
random n/A/f $M
cp n/A/f n.orig
if ovl "$T/n/imnt" "lowerdir=$T/n/A:$T/n/B" &&
	ovl "$T/n/omnt" "lowerdir=$T/n/imnt,upperdir=$T/n/up,workdir=$T/n/w"; then
	shares_refused --length 512K n/imnt/f n/A/f
	shares_refused --length 512K n/omnt/f n/A/f
	same n.orig n/A/f
fi

# A new file, or the log, in a directory only the lower layer has: made in
# the upper layer, on an ext4 on a loop device written by the same copy.
if command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null; then
	truncate -s 32M e.img
	mkfs.ext4 -q -E nodiscard e.img >/dev/null 2>&1 || fail "mkfs.ext4"
	if loopdev L e.img; then
		mkdir -p e o7/lo/sub
		if mount "$L" e 2>/dev/null; then
			_mounts+=("$T/e")
			mkdir -p e/up e/w
			ovl "$T/o7/mnt" "lowerdir=$T/o7/lo,upperdir=$T/e/up,workdir=$T/e/w" ||
				fail "overlay over ext4"
			random src512 512
			expect 2 copy --force --length 512 src512 "$L" o7/mnt/sub/new
			err_has "is a file on the file system that lives there"
			[ ! -e o7/mnt/sub/new ] || fail "o7/mnt/sub/new was created"
			expect 2 copy --force --length 512 --log o7/mnt/sub/log src512 "$L"
			err_has "the log would be written inside the destination"
			[ ! -e o7/mnt/sub/log ] || fail "the log was created"
		fi
	fi
fi
exit 0
