#!/usr/bin/env bash
# A source that grows (or changes) during the copy (issue 8, class 1: "a
# source whose size or modification time changed during the run is
# reported", as tar says "file changed as we read it"), on both engines:
# the range resolved at the start is copied exactly, and the change is
# reported: exit 1, the source named, the word "changed".
. "$(dirname "$0")/faultfs.bash"
ff_begin
random orig $((4 * M))

grows_to() {
	cp orig m.back/src
	ff_rule m "read src off=512K delay=200" "read src off=0 len=512K count=1 truncate=$1"
	fk "$e" copy m/src d1
	ff_fires m 1
	same_range orig d1 0 $((4 * M))
	[ "$(stat -c %s d1)" -eq $((4 * M)) ] || fail "d1 is not the size the copy started with"
	[ "$rc" -eq 1 ] || fail "a source that grew to $1 during the copy: exit $rc, not reported"
	err_has "m/src: "
	grep -qi "chang" "$T/err" || fail "the message does not say the source changed: $(cat "$T/err")"
}
c_grows_6m() { grows_to $((6 * M)); }
c_grows_1b() { grows_to $((4 * M + 1)); }

# Its modification time changes during the copy, not its size (faultfs
# truncates it to its own size, 50 ms into the copy).
c_touched() {
	cp orig m.back/src
	ff_rule m "read src off=512K delay=200" \
		"read src off=0 len=512K count=1 delay=50 truncate=$((4 * M))"
	fk "$e" copy m/src d1
	ff_fires m 1
	same orig d1
	[ "$rc" -eq 1 ] || fail "a source modified during the copy: exit $rc, not reported"
	err_has "m/src: "
	grep -qi "chang" "$T/err" || fail "the message does not say the source changed: $(cat "$T/err")"
}

for e in "${ENGINES[@]}"; do
	for c in grows_6m grows_1b touched; do
		ff_clear m; rm -f d1
		run_case "$e/$c" "c_$c"
	done
done
cases_done
