#!/usr/bin/env bash
# Swap on a loop device (direct I/O) over a file at an offset that is not
# a page's: a buffered write of the file's bytes just before or after the
# swap area, in a page that holds swap bytes too, would write that whole
# page back (the swap's bytes as the cache had them), so it is refused
# even with --force, exit 2, like the swap area itself; a page away, it is
# written.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkswap
need_cmd swapon
truncate -s 24M E
head -c 4M /dev/urandom | dd of=E conv=notrunc status=none
chmod 600 E
loopdev LS E --direct-io=on --offset $((4 * 1024 * 1024 + 512)) --sizelimit 16M ||
	skip "losetup --direct-io failed"
mkswap "$LS" >/dev/null 2>&1 || skip "mkswap failed"
swapon "$LS" 2>/dev/null || skip "cannot swapon a loop device here"
trap 'swapoff "$LS" 2>/dev/null; _cleanup' EXIT
random src 4096
head -c $((4 * 1024 * 1024)) E > E.head
srcsum=$(digest src)
refused() { refused_swap E $((4 * 1024 * 1024)) "$@"; }
msg="E: is (or holds) swap space in use, $LS (/proc/swaps)"
refused "512 bytes before the swap, in its first page" "$msg" \
	copy --force --buffered --length 512 --dest-offset 4M src E
refused "the page before, and into the swap" "$msg" \
	copy --force --buffered --length 4096 --dest-offset $((4 * 1024 * 1024 - 3584)) src E
refused "a page after the swap's end, sharing its last page" "$msg" \
	copy --force --buffered --length 4096 --dest-offset $((20 * 1024 * 1024 + 512)) src E
# A page away from the swap: written.
expect 0 copy --force --length 512 --dest-offset $((4 * 1024 * 1024 - 4096)) src E
cmp -n 512 src <(tail -c +$((4 * 1024 * 1024 - 4096 + 1)) E) || fail "the bytes a page before the swap were not written"
exit 0
