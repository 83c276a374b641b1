#!/usr/bin/env bash
# Files whose size is not a multiple of 512 are copied whole, to the last
# byte, and the destination gets exactly that size.
. "$(dirname "$0")/common.bash"

for n in 0 1 511 512 513 4095 4097 65537 1048575; do
	rm -f s d
	if [ "$n" -gt 0 ]; then random s "$n"; else : >s; fi
	expect 0 copy s d
	same s d
	[ "$(stat -c %s d)" -eq "$n" ] || fail "size $n copied as $(stat -c %s d)"
	# Onto an existing larger file the bytes past the end stay.
	random e 70000
	cp e e.orig
	expect 0 copy s e
	cmp -n "$n" s e || fail "size $n into a larger file"
	cmp -i "$n:$n" e e.orig || fail "size $n: bytes past the end of the copy changed"
done
exit 0
