#!/usr/bin/env bash
# Holes stay holes.  Copying a sparse image again over its sparse copy
# allocates nothing more (and does not run a small file system out of
# space): the destination's own holes are not zeroed again, and zeroing
# punches holes.  On a 6 MiB tmpfs and, where mkfs.ext4 exists, on an
# 8 MiB ext4 file system (loop-mounted), the image being 9 MiB with 3.4 MiB
# of data; also with --log; and a destination full of old data is zeroed
# where the image has holes, reads as the image and ends no larger than it.
# kcopyd zero of a full file on tmpfs leaves it without blocks, and of a
# loop device over a sparse file leaves the backing file sparse.
. "$(dirname "$0")/common.bash"
need_root

sparse img
img_alloc=$(allocated img)

recopy() {
	local dir=$1 a1 a2
	expect 0 copy img "$dir/copy"
	same img "$dir/copy"
	a1=$(allocated "$dir/copy")
	[ "$a1" -le $((img_alloc + 65536)) ] || fail "$dir: first copy has $a1 bytes allocated, the image $img_alloc"
	expect 0 copy --json img "$dir/copy"
	same img "$dir/copy"
	a2=$(allocated "$dir/copy")
	[ "$a2" -le "$a1" ] || fail "$dir: copied again, allocation grew from $a1 to $a2 bytes"
	json_is 'j["stats"]["bytes_zeroed"]' 0
	json_is 'j["destinations"][0]["status"]' ok
	expect 0 copy --log "$T/log" img "$dir/copy"
	same img "$dir/copy"
	a2=$(allocated "$dir/copy")
	[ "$a2" -le "$a1" ] || fail "$dir: copied again with --log, allocation grew from $a1 to $a2 bytes"
	rm -f "$T/log"
	# The same image again over a copy with some of its holes filled with
	# data: those are zeroed, the rest is left alone.
	random "$dir/copy" $((512 * 1024)) $((1536 * 1024))
	random "$dir/copy" 4096 $((8 * 1024 * 1024))
	expect 0 copy img "$dir/copy"
	same img "$dir/copy"
	a2=$(allocated "$dir/copy")
	[ "$a2" -le $((a1 + 65536)) ] || fail "$dir: holes filled then copied again: $a2 bytes allocated, first copy $a1"
	expect 0 zero "$dir/copy"
	cmp -n "$(stat -c %s img)" "$dir/copy" /dev/zero || fail "$dir: zeroed copy is not zeros"
	[ "$(allocated "$dir/copy")" -le 65536 ] || fail "$dir: zeroed copy keeps $(allocated "$dir/copy") bytes"
	rm -f "$dir/copy"
}

tmpfs small 6M
recopy small

if command -v mkfs.ext4 >/dev/null 2>&1; then
	truncate -s 8M fs.img
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 fs.img >/dev/null 2>&1 || fail "mkfs.ext4 failed"
	mkdir ext4
	if mount -o loop fs.img ext4 2>/dev/null; then
		_mounts+=("$T/ext4")
		recopy ext4
	else
		echo "cannot loop-mount an ext4 image: that part left out"
	fi
else
	echo "no mkfs.ext4: the ext4 part left out"
fi

# A destination full of old data: the image's holes are zeroed there.
random full $(stat -c %s img)
expect 0 copy img full
same img full
[ "$(allocated full)" -le $((img_alloc + 65536)) ] || fail "old destination: $(allocated full) bytes allocated, the image $img_alloc"

# A loop device over a sparse file, zeroed: the backing file stays sparse.
truncate -s 4M back
random back $((1024 * 1024)) $((1024 * 1024))
if ! command -v losetup >/dev/null 2>&1 || ! loopdev dev back; then
	echo "no loop device: the loop part left out"
elif [ "$(cat "/sys/block/${dev#/dev/}/queue/write_zeroes_max_bytes" 2>/dev/null || echo 0)" -eq 0 ]; then
	echo "$dev has no write-zeroes: the loop part left out"
else
	blockdev --setrw "$dev" 2>/dev/null   # a read-only flag left by an earlier user
	expect 0 zero "$dev"
	cmp -n $((4 * 1024 * 1024)) "$dev" /dev/zero || fail "$dev: not zeros"
	[ "$(allocated back)" -le 65536 ] || fail "loop device zeroed: its backing file has $(allocated back) bytes allocated"
fi
exit 0
