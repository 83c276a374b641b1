#!/usr/bin/env bash
# kcopyd zero on faultfs files whose writes (or fallocate fast paths) fail,
# on both engines: the device and the offset are reported, exit 1, the
# range before the failure is zero, and nothing outside the range changes.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((4 * M))

# No fast path (fallocate refused) and writes failing at 2M.
c_write_eio() {
	cp src m.back/z
	ff_rule m "fallocate z err=EOPNOTSUPP" "write z off=2M err=EIO"
	fk "$e" zero --json --offset 1M --length 2M m/z
	ff_fires m 1
	[ "$rc" -eq 1 ] || fail "zero with write EIO: exit $rc"
	err_has "m/z: zeroing failed at byte $((2 * M)): Input/output error"
	json_is 'j["destinations"][0]["first_failing_offset"]' $((2 * M))
	same_range src m.back/z 0 "$M"
	same_range src m.back/z $((3 * M)) "$M"
	cmp -s -i "$M:0" -n "$M" m.back/z /dev/zero || fail "the range before the failure is not zero"
}

# The fast path fails with EIO (not "unsupported": no fallback hides it).
c_fallocate_eio() {
	cp src m.back/z
	ff_rule m "fallocate z off=1M err=EIO"
	fk "$e" zero m/z
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "zero with fallocate EIO: exit $rc"
	err_has "m/z: zeroing failed at byte $M: Input/output error"
	grep -q "m/z: ok" "$T/out" && fail "z reported ok"
	return 0
}

# Zeroing past a short file's end extends it first; the file system
# refusing that (EFBIG) is a set-up error: exit 2, the file unchanged.
c_extend_refused() {
	head -c "$M" src >m.back/z
	ff_rule m "fallocate z err=EOPNOTSUPP" "truncate z err=EFBIG"
	fk "$e" zero --offset 512K --length 3M m/z
	ff_fires m 1
	[ "$rc" -eq 2 ] || fail "zero refused its extension: exit $rc"
	err_has "m/z: "
	err_has "File too large"
	cmp -s m.back/z <(head -c "$M" src) || fail "z changed"
}

# Two files, one failing: the other is zeroed all through and ok.
c_two_files() {
	cp src m.back/z; cp src m.back/z2
	ff_rule m "fallocate z err=EOPNOTSUPP" "write z off=512K err=EIO"
	fk "$e" zero m/z m/z2
	[ "$rc" -eq 1 ] || fail "zero of two, one failing: exit $rc"
	err_has "m/z: zeroing failed at byte 524288"
	cmp -s -n $((4 * M)) m.back/z2 /dev/zero || fail "z2 not zeroed"
	grep -q "m/z2: ok" "$T/out" || fail "z2 not reported ok"
}

# Short writes on the fallback path still zero everything (threads: see
# ff-short.sh for what FUSE does to short asynchronous writes).
c_short_writes() {
	cp src m.back/z
	ff_rule m "fallocate z err=EOPNOTSUPP" "write z short=3000"
	fk "$e" zero m/z
	ff_fires m 1
	if [ "$rc" -eq 0 ]; then
		cmp -s -n $((4 * M)) m.back/z /dev/zero || fail "z not zeroed though reported ok"
	else
		[ "$e" = io_uring ] && [ "$rc" -eq 1 ] || fail "exit $rc"
		err_has "m/z: zeroing failed at byte "
	fi
}

for e in "${ENGINES[@]}"; do
	for c in write_eio fallocate_eio extend_refused two_files short_writes; do
		ff_clear m; rm -f m.back/z m.back/z2
		run_case "$e/$c" "c_$c"
	done
done
cases_done
