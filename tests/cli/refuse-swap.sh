#!/usr/bin/env bash
# Swap space in use (a swap file, /proc/swaps) is refused as a destination
# of copy and zero at set-up, exit 2, even with --force, and is left as it
# was (it used to fail at the first write, "Text file busy", exit 1).
. "$(dirname "$0")/common.bash"
need_root
need_cmd mkswap
need_cmd swapon
fallocate -l 16M swapf 2>/dev/null || skip "no fallocate here"
chmod 600 swapf
mkswap swapf >/dev/null 2>&1 || skip "mkswap failed"
swapon swapf 2>/dev/null || skip "cannot swapon a file here"
trap 'swapoff "$T/swapf" 2>/dev/null; _cleanup' EXIT
random src $((1024 * 1024))
files=(swapf src)
refused "copy" "swapf: is (or holds) swap space in use" copy --force src swapf
refused "zero" "swapf: is (or holds) swap space in use" zero --force --length 4096 swapf
exit 0
