#!/usr/bin/env bash
# A loop device over a file on FUSE (faultfs here; 9p the same): the loop
# driver takes a short answer of the file system as done, without an error
# (a short write as written, a short read as zeros), with direct I/O or
# without.  Before, a copy to such a loop device whose file system wrote
# short said "ok", exit 0, with bytes missing (sweep 18a F1).  Now:
#  - a destination is verified, with a warning that says why: the copy
#    exits 1 naming the first byte that differs, and is "ok, verified"
#    where nothing was lost;
#  - zero's destinations are read back and compared with zeros;
#  - a source, which nothing can be compared with but itself, is warned
#    about, and so are verify's devices;
#  - a loop device over a file elsewhere (here: the test's directory)
#    gets no such warning and no read-back.
. "$(dirname "$0")/faultfs.bash"
need_loop
ff_begin
random src $((4 * M))
random m.back/img $((4 * M))
truncate -s $((4 * M)) m.back/dimg plain.img
loopdev L m/img || fail "losetup on a faultfs file"
loopdev D m/dimg || fail "losetup on a faultfs file"
loopdev DD m/dimg --direct-io=on || fail "losetup --direct-io=on on a faultfs file"
loopdev P plain.img || fail "losetup on a plain file"
loopdev S "$D" || fail "losetup on a loop device"
warn_w="warning: the file under it is on a file system whose answers come from user space (FUSE, 9p), and the loop driver takes a short write there as written, without an error"
warn_r="warning: the file under it is on a file system whose answers come from user space (FUSE, 9p), and the loop driver takes a short read there as zeros, without an error"

# lost_or_said DEV: the last run either failed (exit 1, DEV not ok) or
# said ok with every byte there (the loop driver may also have written
# the rest itself): never ok with a byte missing.
lost_or_said() {
	case $rc in
	1) grep -q "\"status\":\"ok\"" "$T/out" && fail "$1 reported ok: $(cat "$T/out")"
	   grep -q "differs from the source at byte\|write failed" "$T/err" ||
		fail "no difference or write error named: $(cat "$T/err")" ;;
	0) cmp -s src m.back/dimg || fail "exit 0, and the file under $1 differs from the source" ;;
	*) fail "exit $rc: $(cat "$T/err")" ;;
	esac
}

c_dest_short() {
	ff_rule m "write dimg off=1M len=4K short=1000"
	fk "$e" copy --json src "$D"
	ff_fires m 0
	err_has "$D: $warn_w: the copy is verified"
	json_is 'j["verify"]' True
	lost_or_said "$D"
}

c_dest_ok() {
	fexpect 0 "$e" copy src "$D"
	err_has "$D: $warn_w: the copy is verified"
	grep -q "$D: ok, verified" "$T/out" || fail "not verified: $(cat "$T/out")"
	cmp -s src m.back/dimg || fail "the file under $D differs from the source"
}

c_source_warned() {
	fexpect 0 "$e" copy "$L" d1
	err_has "$L: $warn_r: read the file itself (with --offset) to be sure"
	cmp -s m.back/img d1 || fail "d1 differs from the file under $L"
	fexpect 0 "$e" verify "$L" d1
	err_has "$L: $warn_r: a difference may be missed, or seen where there is none"
	fexpect 0 "$e" zero --length 64K "$D"
	err_has "$D: $warn_w: it is read back and compared with zeros"
	grep -q "$D: ok, verified" "$T/out" || fail "zero: not verified: $(cat "$T/out")"
}

# zero writes zeros where the device cannot zero otherwise; written short,
# they are read back and found missing (it said ok, exit 0: sweep 19a F1).
c_zero_short() {
	random m.back/dimg $((4 * M))
	ff_rule m "write dimg short=4096" "fallocate dimg err=EOPNOTSUPP"
	fexpect 1 "$e" zero --json "$D"
	ff_fires m 0
	err_has "$D: read back, it is not all zeros (from byte 4096 on)"
	json_is 'j["destinations"][0]["first_failing_offset"]' 4096
	json_is 'j["destinations"][0]["status"]' failed
}

# A loop device over that loop device: the read-back went to the lower
# loop device's page cache, which held what its file lost, and said "ok,
# verified", exit 0 (sweep 19a F7); the caches under it are dropped first.
c_stacked_short() {
	ff_rule m "write dimg off=1M len=4K short=1000"
	fk "$e" copy --json src "$S"
	ff_fires m 0
	err_has "$S: $warn_w: the copy is verified"
	lost_or_said "$S"
}

c_dio_short() {
	fk "$e" copy --json src "$DD"
	ff_fires m 0
	err_has "$DD: $warn_w: the copy is verified"
	lost_or_said "$DD"
}

c_plain_not() {
	fexpect 0 "$e" copy src "$P"
	grep -q "user space" "$T/err" && fail "warned about a loop device over a plain file: $(cat "$T/err")"
	grep -q "verified" "$T/out" && fail "verified a loop device over a plain file"
	cmp -s src plain.img || fail "plain.img differs from the source"
}

for e in "${ENGINES[@]}"; do
	for c in dest_short dest_ok source_warned zero_short stacked_short plain_not; do
		ff_clear m; rm -f d1
		run_case "$e/$c" "c_$c"
	done
	ff_clear m
	ff_rule m "write dimg off=2M len=4K short=1000"
	run_case "$e/dest_short_dio" c_dio_short
done
cases_done
