#!/usr/bin/env bash
# Storage a mounted file system lives on besides its own device is known
# too, and written neither as a destination (not even with --force) nor by
# the run's own files when it is the source:
#  - the external log device of an XFS (logdev=), and its image file;
#  - the external journal device of an ext4 (mkfs -J device=);
#  - the image file an erofs is mounted from with no loop device (a file-
#    backed mount, Linux 6.12+).
# (They were written, exit 0: the journal or the file system overwritten.)
. "$(dirname "$0")/common.bash"
need_loop
M=$((1024 * 1024))
random src $M
ran=0

if command -v mkfs.xfs >/dev/null; then
	truncate -s 300M xd.img; truncate -s 80M xl.img
	loopdev XD xd.img && loopdev XL xl.img || fail "losetup"
	mkdir xm
	if mkfs.xfs -q -f -l logdev="$XL",size=64m "$XD" 2>/dev/null &&
	   mount -o logdev="$XL" "$XD" xm 2>/dev/null; then
		_mounts+=("$T/xm")
		random xm/f $((2 * M)); sync
		files=(xl.img xm/f)
		refused "xfs log device" "refusing to write under a mounted file system" \
			copy --force --length 1M xm/f "$XL"
		refused "xfs log image" "refusing to write under a mounted file system" \
			copy --force --length 1M xm/f xl.img
		refused "--log on the xfs, its log device the source" "stored in the source" \
			copy --length 1M --log xm/cp.log "$XL" d.out
		refused "a new file on the xfs, its log device the source" "" \
			copy --length 1M "$XL" xm/new.out
		[ ! -e xm/new.out ] || fail "xm/new.out was created"
		ran=1
	fi
fi

if command -v mke2fs >/dev/null; then
	truncate -s 64M ed.img; truncate -s 16M ej.img
	loopdev ED ed.img && loopdev EJ ej.img || fail "losetup"
	mkdir em
	if mke2fs -q -F -O journal_dev -b 4096 "$EJ" 2>/dev/null &&
	   mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 -J device="$EJ" "$ED" \
		2>/dev/null && mount "$ED" em 2>/dev/null; then
		_mounts+=("$T/em")
		random em/f $((2 * M)); sync
		files=(ej.img em/f)
		refused "ext4 journal device" "refusing to write under a mounted file system" \
			copy --force --length 1M em/f "$EJ"
		ran=1
	fi
fi

if command -v mkfs.erofs >/dev/null; then
	mkdir -p ein erm
	random ein/file $((3 * M))
	if mkfs.erofs -q eimg ein >/dev/null 2>&1 &&
	   "$PY" -c "import ctypes,sys; sys.exit(ctypes.CDLL(None).mount(b'$T/eimg', b'$T/erm', b'erofs', 1, None))" \
		2>/dev/null; then
		_mounts+=("$T/erm")
		files=(eimg)
		refused "erofs image file" "refusing to write under a mounted file system" \
			copy erm/file eimg
		refused "erofs image file, zero" "" zero --force erm/file eimg
		ran=1
	fi
fi
[ "$ran" = 1 ] || skip "no XFS, ext4 external journal or file-backed erofs here"
exit 0
