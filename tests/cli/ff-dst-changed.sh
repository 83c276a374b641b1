#!/usr/bin/env bash
# A destination that changes under the copy (issue 8, class 1), on both
# engines.  With --verify the difference is found; without it, a
# destination left shorter than the copy made it must not be reported ok.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.bash"
. "$here/faultfs.bash"
need_faultfs
ff_engines
ff_mount m
M=1048576
random orig $((4 * M))

# Truncated to 1M while the writes past 2M wait (300 ms; those before
# 2M are done by then), with --verify.
c_verify_finds() {
	ff_rule m "write d1 off=2M delay=300" "write d1 off=2M count=1 truncate=1M"
	fk "$e" copy --json --verify orig m/d1
	ff_fires m 1
	[ "$rc" -eq 1 ] || fail "a destination truncated under --verify: exit $rc"
	err_has "m/d1: differs from the source at byte "
	json_is 'j["destinations"][0]["status"]' failed
	grep -q "m/d1: ok" "$T/out" && fail "d1 reported ok"
	return 0
}

# Cut to 1M just before its flush, without --verify: it ends shorter than
# the copy.
cut_before_flush() {
	ff_rule m "fsync d1 count=1 truncate=1M"
	fk "$e" copy "$@" orig m/d1
	ff_fires m 0
	[ "$(stat -c %s m.back/d1)" -eq "$M" ] || fail "faultfs did not truncate d1"
	[ "$rc" -eq 1 ] || fail "a destination cut short under the copy: exit $rc (output: $(cat "$T/out"))"
	err_has "m/d1: "
	grep -q "m/d1: ok" "$T/out" && fail "d1 reported ok"
	return 0
}
c_cut_new() { cut_before_flush; }
c_cut_existing() { random m.back/d1 $((4 * M)); cut_before_flush; }

for e in "${ENGINES[@]}"; do
	for c in verify_finds cut_new cut_existing; do
		ff_clear m; rm -f m.back/d1
		run_case "$e/$c" "c_$c"
	done
done
cases_done
