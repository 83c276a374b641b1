#!/usr/bin/env bash
# Short reads and short writes everywhere, on both engines: the copy must
# still be exact and exit 0.  Source and destinations on faultfs; odd sizes,
# a sparse source (SEEK_DATA/SEEK_HOLE through FUSE), --verify, and verify.
# For an asynchronous write (io_uring) FUSE itself turns a short reply
# from the file system into EIO (the kernel's fuse_get_res_by_io), which the
# program cannot see as a short write: there the copy must either be exact
# or say, for each destination it did not complete, where it failed.
. "$(dirname "$0")/faultfs.bash"
ff_begin
# Small files: every short read or write is a round trip through FUSE.
random m.back/src $((2 * M))
random m.back/odd $((M + 1000))
sparse m.back/sp

# short_writes_done DEST...: the last copy with short writes was exact, or
# (io_uring only) it failed and said so for each destination not reported ok.
short_writes_done() {
	local d
	[ "$rc" -eq 0 ] && return 0
	[ "$e" = io_uring ] && [ "$rc" -eq 1 ] || { cat "$T/err"; fail "short writes: exit $rc"; }
	for d in "$@"; do
		if grep -q "m/$d: ok" "$T/out"; then
			same_range m.back/src "m.back/$d" 0 $((2 * M))
		else
			err_has "m/$d: write failed at byte "
		fi
	done
	return 1
}

# Reads of at most 1000 bytes (not even a sector), over the first MiB.
c_reads_1000() {
	ff_rule m "read src len=1M short=1000"
	fexpect 0 "$e" copy m/src d1
	ff_fires m 0
	same m.back/src d1
}

# Short reads and writes of 4 KiB, source and destinations on faultfs.
c_both_4k_buffered() {
	ff_rule m "read src short=4K" "write * short=4K"
	fk "$e" copy --buffered m/src m/d1 m/d2
	ff_fires m 0; ff_fires m 1
	if short_writes_done d1 d2; then
		same m.back/src m.back/d1
		same m.back/src m.back/d2
	fi
	return 0
}

# Writes of 3000 bytes onto existing destinations, --verify.
c_writes_3000() {
	local tail_sum
	random m.back/d1 $((3 * M)); random m.back/d2 "$M"
	tail_sum=$(tail -c "$M" m.back/d1 | sha256sum)
	ff_rule m "write * short=3000"
	fk "$e" copy --verify m/src m/d1 m/d2
	ff_fires m 0
	[ "$(tail -c "$M" m.back/d1 | sha256sum)" = "$tail_sum" ] || fail "d1 changed past the range"
	if short_writes_done d1 d2; then
		same_range m.back/src m.back/d1 0 $((2 * M))
		same m.back/src m.back/d2
	fi
	return 0
}

# An odd-sized source read 1000 bytes at a time, --verify.
c_odd_reads() {
	ff_rule m "read odd short=1000"
	fexpect 0 "$e" copy --verify m/odd d1
	ff_fires m 0
	same m.back/odd d1
}

# A sparse source with short reads onto a destination full of old data
# (its holes must be written as zeros there).
c_sparse_reads() {
	random d1 $((10 * M))
	ff_rule m "read sp short=60000"
	fexpect 0 "$e" copy m/sp d1
	ff_fires m 0
	same_range m.back/sp d1 0 "$(stat -c %s m.back/sp)"
}

# A sparse source through FUSE into a new file: holes kept, bytes exact.
c_sparse_new() {
	ff_rule m "read sp short=64K"
	fexpect 0 "$e" copy m/sp m/d1
	ff_fires m 0
	same m.back/sp m.back/d1
	[ "$(allocated m.back/d1)" -lt $((8 * M)) ] || fail "the holes were filled: $(allocated m.back/d1) bytes"
}

# verify with short reads on both sides says match.
c_verify_short() {
	cp m.back/src m.back/d1
	ff_rule m "read * short=7680"
	fexpect 0 "$e" verify m/src m/d1
	ff_fires m 0
	grep -q "match" "$T/out" || fail "verify did not say match: $(cat "$T/out")"
}

for e in "${ENGINES[@]}"; do
	for c in reads_1000 both_4k_buffered writes_3000 odd_reads sparse_reads sparse_new verify_short; do
		ff_clear m; rm -f m.back/d1 m.back/d2 d1
		run_case "$e/$c" "c_$c"
	done
done
cases_done
