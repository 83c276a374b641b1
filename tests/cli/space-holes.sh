#!/usr/bin/env bash
# Free space counts what the copy must allocate: the destination range's
# holes as well as its growth.  On a 10 MiB tmpfs a 16 MiB source over a
# pre-sized (truncate -s) sparse 16 MiB destination is refused at set-up
# with --no-sparse (exit 2, the destination untouched, no blocks taken),
# like a new one, and the default sparse mode warns that it may need up to
# 16 MiB; a destination already allocated is not counted again (a 4 MiB
# copy over 4 MiB of written blocks fits); nor is a sparse copy copied
# again over itself (sparse-recopy.sh).
. "$(dirname "$0")/common.bash"
need_root

mib=$((1024 * 1024))
tmpfs small 10M
random s16 $((16 * mib))

expect 2 copy --no-sparse s16 small/new
err_has "small/new: needs 16777216 bytes more on its file system"
[ ! -e small/new ] || fail "a refused copy created small/new"

truncate -s $((16 * mib)) small/pre
expect 2 copy --no-sparse s16 small/pre
err_has "small/pre: needs 16777216 bytes more on its file system, which has"
err_has "refusing to start a copy that cannot fit"
[ "$(allocated small/pre)" -eq 0 ] || fail "a refused copy allocated $(allocated small/pre) bytes"
[ "$(stat -c %s small/pre)" -eq $((16 * mib)) ] || fail "a refused copy changed the size"

# Half of it written already: only the other half is missing.
random small/pre $((2 * mib)) 0
expect 2 copy --no-sparse s16 small/pre
err_has "small/pre: needs $((14 * mib)) bytes more on its file system"

# Sparse (the default): a warning up front, the failure itself later.
rm -f small/pre; truncate -s $((16 * mib)) small/pre
k copy s16 small/pre
err_has "small/pre: warning: may need up to 16777216 bytes more on its file system"
rm -f small/pre

# What is allocated already needs no room: 4 MiB over 4 MiB of blocks,
# with 5 MiB of the file system taken by another file.
random small/fill $((5 * mib))
random small/old $((4 * mib))
head -c $((4 * mib)) s16 >s4
expect 0 copy --no-sparse s4 small/old
[ ! -s "$T/err" ] || fail "a copy over allocated blocks warned: $(cat "$T/err")"
same s4 small/old
expect 0 copy s4 small/old
[ ! -s "$T/err" ] || fail "a sparse copy over allocated blocks warned: $(cat "$T/err")"
exit 0
