#!/usr/bin/env bash
# Where a source read fails, on both engines: a whole request failed for
# one bad spot (faultfs whole=1, as a disk fails a request) used to be
# named at the start of the library's 512 KiB read, a byte that reads
# fine; now the command narrows it down and names the first byte that
# fails: the spot's 4 KiB page on a loop device over the file (read
# through the page cache), its 512-byte sector on the file itself, the
# byte itself where the file system fails only from there (EINTR too).  The text and
# the JSON agree; the destination is said to lack the bytes from the
# failed chunk's start, and holds the source below it; exit 1.  An error
# that passes (it fires once) is named where the failed read began.
. "$(dirname "$0")/faultfs.bash"
need_loop
ff_begin
random m.back/disk $((4 * M))
loopdev LF m/disk || skip "no loop device over a faultfs file"
chunk=2621440                    # 5 x 512 KiB: the sub-job holding byte 3000000

where() { # WANT SRC [OPTS]...
	local want=$1 src=$2; shift 2
	rm -f d1
	fexpect 1 "$e" copy --json "$@" "$src" d1
	err_has "$src: read failed at byte $want: Input/output error"
	err_has "d1: not completed: reading the source failed (from byte $chunk on)"
	python3 - "$T/out" "$want" <<'PY' || fail "JSON: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["source_error"]["offset"] == int(sys.argv[2]), d["source_error"]
PY
	same_range m.back/disk d1 0 "$chunk"
}

c_loop_direct() {
	ff_rule m "read disk off=3000000 len=1 err=EIO whole=1"
	blockdev --flushbufs "$LF"
	where 2998272 "$LF"
	ff_fires m 0
}
c_loop_buffered() {
	ff_rule m "read disk off=3000000 len=1 err=EIO whole=1"
	blockdev --flushbufs "$LF"
	where 2998272 "$LF" --buffered
}
c_file_whole() {
	ff_rule m "read disk off=3000000 len=1 err=EIO whole=1"
	where 2999808 m/disk
}
c_file_byte() {
	ff_rule m "read disk off=3000000 len=1 err=EIO"
	where 3000000 m/disk
}
# Small sub-jobs: a 4 KiB read that failed merged with its neighbour's
# (the block layer joins them) is not where the spot is: the next MiB is
# read to find it.
c_small_subjobs() {
	ff_rule m "read disk off=3000000 len=1 err=EIO whole=1"
	blockdev --flushbufs "$LF"
	rm -f d1
	fexpect 1 "$e" copy --sub-job-size 4K "$LF" d1
	err_has "$LF: read failed at byte 2998272: Input/output error"
}
# A file system that keeps answering EINTR there: named at the byte too
# (it was named where the library's read began, as for a passing error).
c_file_eintr() {
	ff_rule m "read disk off=3000000 len=1 err=EINTR"
	rm -f d1
	fexpect 1 "$e" copy --json m/disk d1
	err_has "m/disk: read failed at byte 3000000: Interrupted system call"
	json_is 'j["source_error"]["offset"]' 3000000
	same_range m.back/disk d1 0 "$chunk"
}
c_passing() {
	ff_rule m "read disk off=3000000 len=1 err=EIO whole=1 count=1"
	where "$chunk" m/disk
	ff_fires m 0
}

for e in "${ENGINES[@]}"; do
	for c in loop_direct loop_buffered file_whole file_byte file_eintr small_subjobs passing; do
		ff_clear m
		run_case "$e/$c" "c_$c"
	done
done
cases_done
