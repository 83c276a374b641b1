#!/usr/bin/env bash
# Swap on a loop device that /proc/swaps names by a name that does not lead
# to it here: the device node it was turned on through, removed ("(deleted)"),
# or one in another mount namespace's /dev (or one that there names the
# swap and here another device, held by someone).  The loop device, and the file
# under it where the swap lies, are refused even with --force, exit 2, with
# a message that says why, and left as they were (the file's bytes were
# written with --force, exit 0).  Bytes of the file outside the loop
# device, and other files, are written as asked.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkswap
need_cmd swapon
truncate -s 24M G
head -c 4M /dev/urandom | dd of=G conv=notrunc status=none
chmod 600 G
loopdev LS G --offset 4M --sizelimit 16M || skip "losetup failed"
mkswap "$LS" >/dev/null 2>&1 || skip "mkswap failed"
name=${LS#/dev/}
trap 'swapoff "$LS" 2>/dev/null; umount "$T/ns" 2>/dev/null; _cleanup' EXIT
random src $((1024 * 1024))
# A refused run is checked on the bytes before the swap area and on its
# header (refused_swap): each case writes there.
head -c $((4 * 1024 * 1024 + 4096)) G > G.head
srcsum=$(digest src)
refused() { refused_swap G $((4 * 1024 * 1024 + 4096)) "$@"; }
cases() {
	local how=$1 f
	for f in "" --force; do
		refused "$how: copy $f to the file" \
			"G: lies under $LS, which may be swap space in use" \
			copy $f --dest-offset 4M --length 1M src G
		refused "$how: copy $f to the loop device" \
			"$LS: may be swap space in use" copy $f --length 1M src "$LS"
		refused "$how: zero $f the file across the swap's start" \
			"G: lies under $LS, which may be swap space in use" \
			zero $f --offset 3M --length 2M G
	done
	# Before the loop device's range: not swap, written with --force.
	expect 0 copy --force --length 1M src G
	cmp -n $((1024 * 1024)) src G || fail "$how: the bytes before the swap were not written"
	head -c 1M src | dd of=G.head conv=notrunc status=none
	truncate -s 2M other
	expect 0 copy --force src other
	cmp -n $((1024 * 1024)) src other || fail "$how: another file was not written"
}

# Turned on through a node that was then removed.
read -r ma mi < <(stat -c '%t %T' "$LS")
mknod node b $((16#$ma)) $((16#$mi))
chmod 600 node
swapon node 2>/dev/null || skip "cannot swapon a loop device here"
rm node
grep -q '(deleted)' /proc/swaps || fail "/proc/swaps does not name a deleted node: $(cat /proc/swaps)"
cases "a removed node"
swapoff "$LS" || fail "swapoff"

# Turned on in another mount namespace, through its own /dev.
if command -v unshare >/dev/null; then
	mkdir ns
	if unshare -m sh -c "mount -t tmpfs none '$T/ns' && cp -a '$LS' '$T/ns/' && swapon '$T/ns/$name'" 2>/dev/null; then
		grep -q "^/$name[[:space:]]" /proc/swaps || echo "note: /proc/swaps says $(grep "$name" /proc/swaps)"
		cases "another namespace"
		swapoff "$LS" || fail "swapoff"
	else
		echo "note: no swapon in another mount namespace here"
	fi
fi

# Turned on in another mount namespace through a name that, here, is the
# node of another device, one someone holds: that device is not the swap
# (its size, its signature), so the swap is unseen and refused as above.
if command -v unshare >/dev/null && command -v python3 >/dev/null; then
	truncate -s 12M other3
	loopdev L3 other3 || fail "a third loop device"
	mkdir -p ns2
	read -r ma3 mi3 < <(stat -c '%t %T' "$L3")
	mknod ns2/X b $((16#$ma3)) $((16#$mi3))
	python3 -c "import os,time; fd=os.open('$L3', os.O_RDONLY|os.O_EXCL); time.sleep(60)" &
	holder=$!
	sleep 0.3
	# The namespace lives on while the cases run: its mount is the name's.
	unshare -m sh -c "mount --make-rprivate / && mount -t tmpfs none '$T/ns2' && mknod '$T/ns2/X' b $((16#$ma)) $((16#$mi)) && swapon '$T/ns2/X' && sleep 60" 2>/dev/null &
	nsp=$!
	for ((i = 0; i < 50; i++)); do
		grep -q "^$T/ns2/X[[:space:]]" /proc/swaps && break
		kill -0 "$nsp" 2>/dev/null || break
		sleep 0.1
	done
	if grep -q "^$T/ns2/X[[:space:]]" /proc/swaps; then
		cases "a name of another, held device"
		swapoff "$LS" || fail "swapoff"
	else
		echo "note: no swapon through a private node here: $(grep -v Filename /proc/swaps)"
		swapoff "$LS" 2>/dev/null
	fi
	kill "$nsp" 2>/dev/null
	wait "$nsp" 2>/dev/null
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
fi

# A swap area smaller than its device (mkswap given a size; a device grown
# after mkswap): the device is the swap /proc/swaps names, seen as such,
# not taken for unseen swap.
mkswap "$LS" 8192 >/dev/null 2>&1 || fail "mkswap with a size"
sync
head -c $((4 * 1024 * 1024 + 4096)) G > G.head
swapon "$LS" 2>/dev/null || fail "swapon $LS"
refused "a swap smaller than its device" "G: is (or holds) swap space in use, $LS (/proc/swaps)" \
	copy --force --dest-offset 4M --length 1M src G
swapoff "$LS" || fail "swapoff"
exit 0
