#!/usr/bin/env bash
# A source file truncated while it is being copied: exit 1 and a read error
# that names the source and the offset of its new end, never "ok" with
# zeros in place of the missing data.  With --sparse (the default) and
# --no-sparse, a data-only source and a sparse one (many small extents,
# so that the later ones are looked up after the truncation).  The copy is
# slowed with --rate so that the truncation (made as soon as the
# destination exists) lands long before the copy reaches the new end.
. "$(dirname "$0")/common.bash"

MiB=$((1024 * 1024))

# many_extents FILE: 4 MiB, 64 KiB of data every 128 KiB.
many_extents() {
	local i
	rm -f "$1"
	truncate -s $((4 * MiB)) "$1"
	for ((i = 0; i < 32; i++)); do random "$1" 65536 $((i * 131072)); done
}

cut_during_copy() {
	local kind=$1 cut=$2; shift 2
	rm -f src
	cp --sparse=always "$kind.orig" src
	rm -f dst
	(while [ ! -e dst ]; do sleep 0.005; done; truncate -s "$cut" src) &
	bg_pid $!
	k copy --rate 4M --sub-job-size 64K "$@" src dst
	wait
	if [ "$rc" -ne 1 ]; then
		cat "$T/out" "$T/err"
		fail "$kind source, $*: truncated during the copy, exit $rc, expected 1"
	fi
	err_has "src: read failed at byte $cut: the source ends there, before its size of"
	grep -q "dst: ok" "$T/out" && fail "$kind source, $*: destination reported ok"
	# What was there before the new end was copied (up to the 64 KiB
	# sub-job the new end falls in: that one failed to read).
	cmp -n $((cut - cut % 65536)) src dst || fail "$kind source, $*: data before the new end differs"
}

random data.orig $((4 * MiB))
many_extents sparse.orig
# The cut comes a quarter of a second at least before the copy reaches it
# (the rate's burst is an eighth of a second's worth).
cut_during_copy data $((2 * MiB))
cut_during_copy data $((2 * MiB)) --no-sparse
cut_during_copy sparse $((3 * MiB))
cut_during_copy sparse $((3 * MiB)) --no-sparse
# Cut inside a sector: the error is at the byte where it now ends.
cut_during_copy data $((2 * MiB + 100))
exit 0
