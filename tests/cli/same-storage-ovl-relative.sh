#!/usr/bin/env bash
# An overlay mounted with relative layer paths (mount -o lowerdir=ov/lower,
# as given: mountinfo keeps them relative to where the mounter was).  The
# layers are looked for from every directory above the overlay: a file of
# the merged tree and its lower or upper file are the same storage, refused
# (it was only warned about, as "a mount of another namespace", and
# written); swap on a loop device over a merged file is its upper file's
# (--force zeroed the swap header through it, exit 0).  Other copies go on.
. "$(dirname "$0")/common.bash"
need_root
mkdir -p ov/lower ov/upper ov/work ov/merged
random ov/lower/a $((1024 * 1024))
random ov/lower/F $((16 * 1024 * 1024))
ovl ov/merged "lowerdir=ov/lower,upperdir=ov/upper,workdir=ov/work" || skip "no overlayfs here"
grep -q "lowerdir=ov/lower" /proc/self/mountinfo || skip "mountinfo does not keep the relative layer path here"
files=(ov/lower/a)
refused "the merged file to its lower file" "ov/lower/a: is the source ov/merged/a (or shares its storage)" \
	copy ov/merged/a ov/lower/a
! grep -q "another namespace" "$T/err" || fail "a layer in this namespace was called unreachable"
random x 65536
expect 0 copy x ov/merged/new
same x ov/merged/new
expect 0 copy ov/merged/a y
same ov/lower/a y
# Swap on a loop device over a merged file (copied up when written).
if (need_loop) >/dev/null 2>&1 && command -v mkswap >/dev/null && command -v swapon >/dev/null; then
	loopdev L ov/merged/F --offset 1M --sizelimit 8M || fail "losetup over the merged file"
	mkswap "$L" >/dev/null 2>&1 || skip "mkswap failed"
	sync
	if swapon "$L" 2>/dev/null; then
		trap 'swapoff "$L" 2>/dev/null; _cleanup' EXIT
		[ -f ov/upper/F ] || fail "the merged file was not copied up"
		expect 2 zero --force --offset 1M --length 4K "$T/ov/upper/F"
		err_has "is (or holds) swap space in use, $L"
		sig=$(dd if=ov/upper/F bs=1 skip=$((1024 * 1024 + 4086)) count=10 status=none)
		[ "$sig" = SWAPSPACE2 ] || fail "the swap header in the upper file was written"
		swapoff "$L" || fail "swapoff"
	else
		echo "note: no swap on a loop device over an overlay file here"
	fi
fi
exit 0
