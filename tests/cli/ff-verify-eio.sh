#!/usr/bin/env bash
# verify (and copy --verify) against storage whose reads fail, on both
# engines: the failing device is reported failed with the byte where
# reading failed (inside the bad range, as for a copy), never "match",
# exit 1, while a good destination still matches ("reading failed" for
# verify, "reading back failed" for copy --verify).  Also through a loop
# device over a faultfs file.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((4 * M))

# bad_d1 RULE: d1 unreadable by RULE, d2 good: d1 failed, d2 matches, exit 1.
bad_d1() {
	cp src m.back/d1; cp src m.back/d2
	ff_rule m "$1"
	fk "$e" verify --json src m/d1 m/d2
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "verify with an unreadable destination ($1): exit $rc"
	json_is 'j["destinations"][0]["status"]' failed
	json_is 'j["destinations"][1]["status"]' match
	json_is 'j["exit_code"]' 1
}

# d1 unreadable at 1M+4K, d2 good.
c_dest_eio() {
	bad_d1 "read d1 off=1M+4K len=4K err=EIO"
	fk "$e" verify src m/d1 m/d2
	grep -q "m/d1: match" "$T/out" && fail "d1 said to match"
	err_has "m/d1: reading failed at byte $((M + 4096)): Input/output error"
}

# The source unreadable at 3M+512.
c_source_eio() {
	cp src m.back/s; cp src d1
	ff_rule m "read s off=3M+512 len=512 err=EIO"
	fk "$e" verify --json m/s d1
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "verify with an unreadable source: exit $rc"
	grep -q '"match"' "$T/out" && fail "verify said match: $(cat "$T/out")"
	fk "$e" verify m/s d1
	err_has "m/s: read failed at byte $((3 * M + 512)): Input/output error"
}

# A destination that differs before the bad range: the difference (the
# first bad byte) is what is reported, not the later read error.
c_differs_first() {
	cp src m.back/d1
	flip m.back/d1 1000
	ff_rule m "read d1 off=2M len=4K err=EIO"
	fk "$e" verify --json src m/d1
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc"
	json_is 'j["destinations"][0]["first_difference"]' 1000
}

# The disk fails the whole request (whole=1: no short read up to the bad
# spot): the byte reported is still the first unreadable sector, not the
# start of the request or of the compare chunk; for a destination and for
# the source.
c_whole_eio() {
	cp src m.back/d1; cp src m.back/s
	ff_rule m "read d1 off=1M+4K+512 len=512 err=EIO whole=1" \
		"read s off=3M+8K+1024 len=512 err=EIO whole=1"
	fk "$e" verify --json src m/d1
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc"
	json_is 'j["destinations"][0]["status"]' failed
	json_is 'j["destinations"][0]["error"]' "reading failed at byte $((M + 4096 + 512)): Input/output error"
	cp src d1
	fk "$e" verify m/s d1
	ff_fires m 1
	[ "$rc" -eq 1 ] || fail "source: exit $rc"
	err_has "m/s: read failed at byte $((3 * M + 8192 + 1024)): Input/output error"
}

# The same, with a difference inside the failing request, before the bad
# spot: the difference is found.
c_whole_differs_first() {
	cp src m.back/d1
	flip m.back/d1 $((M + 1000))
	ff_rule m "read d1 off=1M+4K len=4K err=EIO whole=1"
	fk "$e" verify --json src m/d1
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "exit $rc"
	json_is 'j["destinations"][0]["first_difference"]' $((M + 1000))
	json_is 'j["destinations"][0]["status"]' differ
}

# copy --verify: the read-back pass fails on one of two destinations.
c_copy_verify() {
	ff_rule m "read d1 off=2M+8K len=4K err=EIO"
	fk "$e" copy --json --verify src m/d1 m/d2
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "copy --verify with a failing read-back: exit $rc"
	json_is 'j["destinations"][0]["status"]' failed
	json_is 'j["destinations"][1]["status"]' ok
	err_has "m/d1: reading back failed at byte $((2 * M + 8192))"
	same src m.back/d2
}

# verify against a loop device over a faultfs file, failing at 3M.
c_loop() {
	L=
	[ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null || { echo "no loop devices: not run"; return 0; }
	cp src m.back/img
	loopdev L m/img || { echo "losetup failed: not run"; return 0; }
	trap '[ -n "$L" ] && losetup -d "$L"' EXIT     # this case's subshell: detach however it ends
	ff_rule m "read img off=3M len=4K err=EIO whole=1"
	fk "$e" verify src "$L"
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "verify against a failing loop device: exit $rc"
	grep -q "match" "$T/out" && fail "verify said match"
	err_has "$L: reading failed at byte $((3 * M))"
}

# The flush before the comparison fails on d1: said the same in the text
# and the JSON (a flush has no byte offset of its own).
c_flush_fails() {
	bad_d1 "fsync d1 err=EIO"
	json_is 'j["destinations"][0]["error"]' "flush failed: Input/output error"
	err_has "m/d1: flush before the comparison failed: Input/output error"
}

# A status line asked for (SIGUSR1) while a slow destination is read, in
# a range of one chunk (4 MiB): answered then, not lost.
c_status_slow() {
	cp src m.back/d1
	ff_rule m "read d1 delay=100"
	"$KCOPYD" verify src m/d1 >"$T/out" 2>"$T/err" </dev/null &
	local pid=$!
	sleep 0.5
	kill -USR1 $pid
	wait $pid
	rc=$?
	ff_fires m 0
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "verify: exit $rc"; }
	grep -qE '^kcopyd: [0-9]+ bytes .* compared, ' "$T/err" || { cat "$T/err"; fail "no status line"; }
}

# A destination whose reads always fail with EINTR: tried again a few
# times, then a read error (not retried for ever).
c_eintr_always() {
	bad_d1 "read d1 off=2M len=4K err=EINTR"
	json_is '"Interrupted system call" in j["destinations"][0]["error"]' True
}

# d1 cut to 500K after its first reads (768K read by then): it differs
# where it ends now, not where the next read found its end.
c_cut_mid() {
	cp src m.back/d1
	ff_rule m "read d1 after=3 truncate=500K"
	fk "$e" verify --json src m/d1
	ff_fires m 0
	[ "$rc" -eq 1 ] || fail "verify of a destination cut under it: exit $rc"
	json_is 'j["destinations"][0]["first_difference"]' $((500 * 1024))
}

for e in "${ENGINES[@]}"; do
	for c in cut_mid dest_eio source_eio differs_first whole_eio whole_differs_first copy_verify loop flush_fails status_slow eintr_always; do
		ff_clear m; rm -f m.back/d1 m.back/d2 m.back/s m.back/img d1
		run_case "$e/$c" "c_$c"
	done
done
cases_done
