#!/usr/bin/env bash
# copy onto existing files: a larger file keeps its bytes past the copied
# range (nothing is truncated), the source's holes overwrite old data with
# zeros, and a smaller file is extended.
. "$(dirname "$0")/common.bash"

sparse src
size=$(stat -c %s src)
random big $((12 * 1024 * 1024))
cp big big.orig
random small 4096

expect 0 copy src big small
cmp -n "$size" src big || fail "big: copied range differs (old data left in a hole?)"
cmp -i "$size:$size" big big.orig || fail "big: bytes past the range changed"
[ "$(stat -c %s big)" -eq $((12 * 1024 * 1024)) ] || fail "big was truncated"
same src small

# --no-sparse too: same result, holes read and written.
cp big.orig big2
expect 0 copy --no-sparse src big2
cmp -n "$size" src big2 || fail "big2 differs"
cmp -i "$size:$size" big2 big.orig || fail "big2: bytes past the range changed"
exit 0
