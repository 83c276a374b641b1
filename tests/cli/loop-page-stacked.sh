#!/usr/bin/env bash
# A loop device over a file writes that file through the file's page cache
# (or with direct I/O, which must drop its pages), page by page in the
# file's coordinates.  So a loop device at an offset that is not a whole
# page shares pages of its file that its own page-aligned pages do not
# tell: a write through loop device B (over F from 1 KiB on) of F's bytes
# [4M, 4M + 512) lies in B's page [4M - 1K, 4M + 3K) of F, away from F's
# 4M + 2K, but in F's page [4M, 4M + 4K), which holds F's 4M + 2K too.
# Another loop device over F from 4M + 2K, held by a program (as a mounted
# one) or swapped on, is then refused like a write into its bytes: exit 2,
# nothing written; a page of F away, the write is made.
. "$(dirname "$0")/common.bash"
need_loop
M=$((1024 * 1024))

random F $((8 * M))
random src 512
loopdev B F -o 1024 || fail "losetup -o 1024"
loopdev H F -o $((4 * M + 2048)) --sizelimit $((2 * M)) || fail "losetup -o 4M+2K"
hold "$H"
files=(F src)
msg="lies under $H, which is mounted or in use"
refused "B's bytes in F's page of H's first byte" "$msg" \
	copy --length 512 --dest-offset $((4 * M - 1024)) src "$B"
refused "the same, --buffered" "$msg" \
	copy --buffered --length 512 --dest-offset $((4 * M - 1024)) src "$B"
refused "the same, zero" "$msg" zero --length 512 --offset $((4 * M - 1024)) "$B"
# F itself there: its own page (this held before).
refused "F's page of H's first byte" "$msg" copy --length 512 --dest-offset $((4 * M)) src F
# A page of F away: written, and the bytes are right.
expect 0 copy --length 512 --dest-offset $((4 * M - 1024 - 4096)) src "$B"
cmp -n 512 src <(tail -c +$((4 * M - 4096 + 1)) F) || fail "B's write a page away is not in F"
kill "${_pids[@]}" 2>/dev/null; wait 2>/dev/null

# The same with swap on a loop device (direct I/O) over F from 4M + 2K:
# refused even with --force.
need_cmd mkswap
need_cmd swapon
chmod 600 F
loopdev LS F --direct-io=on -o $((4 * M + 2048)) --sizelimit $((2 * M)) ||
	skip "losetup --direct-io failed"
mkswap "$LS" >/dev/null 2>&1 || skip "mkswap failed"
swapon "$LS" 2>/dev/null || skip "cannot swapon a loop device here"
trap 'swapoff "$LS" 2>/dev/null; _cleanup' EXIT
head -c $((4 * M + 2048)) F >F.head
srcsum=$(digest src)
msg="$B: is (or holds) swap space in use, $LS (/proc/swaps)"
refused_swap F $((4 * M + 2048)) "B's bytes in F's page of the swap's first byte" "$msg" \
	copy --force --buffered --length 512 --dest-offset $((4 * M - 1024)) src "$B"
refused_swap F $((4 * M + 2048)) "the same, direct" "$msg" \
	copy --force --length 512 --dest-offset $((4 * M - 1024)) src "$B"
swapoff "$LS" || fail "swapoff"
exit 0
