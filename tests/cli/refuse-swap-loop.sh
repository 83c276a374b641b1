#!/usr/bin/env bash
# Swap space on a loop device over a file: the file, any name of it, and a
# second loop device over it hold the swap's bytes and are refused as a
# destination, exit 2, even with --force, with the swap message, and are
# left as they were.  (/proc/swaps names the loop device; the file behind
# it used to go unseen, and --force overwrote the swap area, exit 0.)
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkswap
need_cmd swapon
# The swap area is the file's bytes from 4 MiB on (an offset loop device);
# the bytes before it are random, so a write there shows.
truncate -s 20M swf
head -c 4M /dev/urandom | dd of=swf conv=notrunc status=none
chmod 600 swf
loopdev LA swf --offset 4M || skip "losetup failed"
mkswap "$LA" >/dev/null 2>&1 || skip "mkswap failed"
swapon "$LA" 2>/dev/null || skip "cannot swapon a loop device here"
trap 'swapoff "$LA" 2>/dev/null; _cleanup' EXIT
loopdev LB swf || fail "a second loop device over swf"
ln -s swf link
random src $((1024 * 1024))
# A refused run is checked on the bytes before the swap area and on its
# header (refused_swap): every case below writes there, or its exit code
# alone shows it refused.
head -c $((4 * 1024 * 1024 + 4096)) swf > swf.head
srcsum=$(digest src)
refused() { refused_swap swf $((4 * 1024 * 1024 + 4096)) "$@"; }
for f in "" --force; do
	refused "copy $f to the file" "swf: is (or holds) swap space in use" copy $f --dest-offset 4M src swf
	refused "copy $f to a symlink" "link: is (or holds) swap space in use" copy $f --dest-offset 4M src link
	refused "copy $f to a second loop device" \
		"$LB: is (or holds) swap space in use" copy $f --dest-offset 4M src "$LB"
	refused "copy $f to the swap's loop device" \
		"$LA: is (or holds) swap space in use" copy $f src "$LA"
	refused "zero $f the file" "swf: is (or holds) swap space in use" \
		zero $f --offset 5M --length 4096 swf
	refused "zero $f the file across the swap's start" \
		"swf: is (or holds) swap space in use" zero $f --offset 3M --length 2M swf
done
# The file's bytes before the swap area are not swap space: with --force
# (the file is under a loop device in use) they are written, the swap's
# header is not.
swap=$(tail -c +$((4 * 1024 * 1024 + 1)) swf | head -c 4096 | sha256sum)
head -c 1M /dev/urandom > head1
k copy --force --length 1M head1 swf
[ "$rc" -eq 0 ] || fail "copy --force to the bytes before the swap area: exit $rc: $(cat "$T/err")"
cmp -n $((1024 * 1024)) head1 swf || fail "the bytes before the swap area were not written"
[ "$swap" = "$(tail -c +$((4 * 1024 * 1024 + 1)) swf | head -c 4096 | sha256sum)" ] || fail "the swap header changed"
exit 0
