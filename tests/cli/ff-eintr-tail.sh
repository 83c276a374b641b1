#!/usr/bin/env bash
# The last bytes of a range that are not a whole block (the command reads
# and writes them itself): a file system that answers EINTR for them for
# ever is tried again a few times, then it is a write error (exit 1, named),
# not a loop that never ends; for copy and zero.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/src $((2 * M + 100))

c_copy_tail() {
	ff_rule m "write dst off=2M err=EINTR"
	fk "$e" copy m/src m/dst
	ff_fires m 0
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "copy: exit $rc, expected 1"; }
	err_has "Interrupted system call"
	cmp -n $((2 * M)) m.back/src m.back/dst || fail "the whole blocks before the tail differ"
}

c_zero_tail() {
	random m.back/z 10000
	ff_rule m "write z off=9728 err=EINTR"
	fk "$e" zero m/z
	ff_fires m 0
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "zero: exit $rc, expected 1"; }
	err_has "Interrupted system call"
}

for e in "${ENGINES[@]}"; do
	for c in copy_tail zero_tail; do
		ff_clear m; rm -f m.back/dst m.back/z
		run_case "$e/$c" "c_$c"
	done
done
cases_done
