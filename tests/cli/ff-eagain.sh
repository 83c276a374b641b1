#!/usr/bin/env bash
# A file system whose answers come from user space may answer EAGAIN (or
# EINTR) to a blocking read, write or fallocate.  io_uring reissues a read or
# write that ends so, in the kernel, for as long as the answer stays the
# same: before, a source on faultfs answering EAGAIN at one range hung the
# copy on io_uring for ever (the thread engine said so after a few tries).
# On both engines now: an answer that stays EAGAIN ends the copy within
# seconds, exit 1, with the device, the byte and the error named, and
# nothing reported ok; one that passes after a try or two is retried and
# the copy is exact.  Each run has 60 s: a hang fails the case, not the
# suite.
. "$(dirname "$0")/faultfs.bash"
ff_begin
unset KCOPYD_TEST_URING         # what users get: see faultfs.bash
random m.back/src $((4 * M))
random src2 $((4 * M))

run60() {
	local code=$1 e=$2; shift 2
	KCOPYD_ENGINE=$e timeout -k 5 60 "$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	[ "$rc" -ne 124 ] || fail "kcopyd $* ($e) still running after 60 s"
	[ "$rc" -eq "$code" ] || { cat "$T/out" "$T/err"; fail "kcopyd $* ($e) exited $rc, expected $code"; }
}

c_read_stays() {
	ff_rule m "read src off=1M len=4K err=EAGAIN"
	run60 1 "$e" copy --json m/src dst
	err_has "m/src: read failed at byte $M: Resource temporarily unavailable"
	json_is 'j["source_error"]["offset"]' "$M"
	json_is 'j["destinations"][0]["status"]' failed
	same_range m.back/src dst 0 "$M"
}

c_write_stays() {
	ff_rule m "write d off=2M len=4K err=EAGAIN"
	run60 1 "$e" copy src2 m/d
	err_has "m/d: write failed at byte $((2 * M)): Resource temporarily unavailable"
	grep -q ": ok" "$T/out" && fail "a destination reported ok"
	return 0
}

c_eintr_stays() {
	ff_rule m "read src off=3M len=4K err=EINTR"
	run60 1 "$e" copy m/src dst
	err_has "m/src: read failed at byte $((3 * M))"
}

c_zero_stays() {
	head -c $((4 * M)) /dev/urandom > m.back/d
	ff_rule m "fallocate d err=EAGAIN" "write d off=1M len=4K err=EAGAIN"
	run60 1 "$e" zero --offset 1M --length 1M m/d
	err_has "m/d:"
	err_has "Resource temporarily unavailable"
}

c_read_passes() {
	ff_rule m "read src off=1M len=4K count=2 err=EAGAIN"
	run60 0 "$e" copy m/src dst
	ff_fires m 0
	cmp -s m.back/src dst || fail "dst differs from the source after a retried read"
}

c_write_passes() {
	ff_rule m "write d off=1M len=4K count=2 err=EAGAIN"
	run60 0 "$e" copy --verify src2 m/d
	ff_fires m 0
	cmp -s src2 m.back/d || fail "m/d differs from the source after a retried write"
}

for e in "${ENGINES[@]}"; do
	for c in read_stays write_stays eintr_stays zero_stays read_passes write_passes; do
		ff_clear m; rm -f dst m/d
		run_case "$e/$c" "c_$c"
	done
done
cases_done
