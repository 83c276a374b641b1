#!/usr/bin/env bash
# A loop device over a faultfs file: a block device with real I/O errors.
# Copies from it and to it, on both engines, report the loop device and
# the failing offset and exit 1.  Errors here fail the whole request
# (whole=1), as a disk does.  (verify against one: ff-verify-eio.sh.)
. "$(dirname "$0")/faultfs.bash"
need_loop
ff_begin
random m.back/img $((4 * M))
random m.back/dimg $((4 * M))
random src $((4 * M))
loopdev L m/img || fail "losetup on a faultfs file"
loopdev D m/dimg || fail "losetup on a faultfs file"
cmp -s "$L" m.back/img || fail "the loop device does not read as its file"

# Reading the device fails at 2M.
c_read_eio() {
	ff_rule m "read img off=2M len=64K err=EIO whole=1"
	fk "$e" copy --json "$L" d1
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "copy from a failing loop device: exit $rc"
	err_has "$L: read failed at byte $((2 * M)): Input/output error"
	json_is 'j["source_error"]["offset"]' $((2 * M))
	same_range m.back/img d1 0 $((2 * M))
	grep -q "d1: ok" "$T/out" && fail "d1 reported ok"
	return 0
}

# A range of the device that does not cover the bad spot copies fine.
c_read_around() {
	ff_rule m "read img off=2M len=64K err=EIO whole=1"
	fexpect 0 "$e" copy --length 2M "$L" d1
	[ "$(ff_fired m 0)" -eq 0 ] || fail "the bad range was read"
	same_range m.back/img d1 0 $((2 * M))
}

# Writing the device fails at 1M: the device is named, the other
# destination is complete, the device holds the source before 1M.
c_write_eio() {
	ff_rule m "write dimg off=1M err=EIO whole=1"
	fk "$e" copy --json src "$D" d2
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "copy to a failing loop device: exit $rc"
	err_has "$D: write failed at byte $M: Input/output error"
	json_is 'j["destinations"][0]["first_failing_offset"]' "$M"
	json_is 'j["destinations"][1]["status"]' ok
	same src d2
	same_range src m.back/dimg 0 "$M"
}

# Writing the device fails in its flush.
c_flush_eio() {
	ff_rule m "fsync dimg err=EIO"
	fk "$e" copy src "$D"
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "copy to a loop device whose flush fails: exit $rc"
	err_has "$D: flush failed"
}

# A slow backing file under the device (reads of one spot wait, so they
# complete out of order): exact.  (No short reads here: the loop driver
# zero-fills a short read of its backing file itself, see faultfs.c.)
c_slow() {
	ff_rule m "read img off=1M len=64K delay=20" "read img off=3M len=4K delay=200"
	fexpect 0 "$e" copy "$L" d1
	ff_fires m 0; ff_fires m 1
	same m.back/img d1
}

for e in "${ENGINES[@]}"; do
	for c in read_eio read_around write_eio flush_eio slow; do
		ff_clear m; rm -f d1 d2
		run_case "$e/$c" "c_$c"
	done
done
cases_done
