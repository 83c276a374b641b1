#!/usr/bin/env bash
# A source or destination that changes during the run is reported, as tar
# reports "file changed as we read it": a message naming the device and
# what changed (size, mtime, ctime), exit 1, and the JSON says it.  A
# source cut short under the copy is a read error at the byte where it now
# ends (the tail the command reads itself), never zeros called data.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
size=$((4 * mib + 777))

# The tail (the 265 bytes after the last whole sector, at 4 MiB + 512) cut
# short: the bulk is read whole, the tail read ends early.
random src $size; cp src orig
bulk=$((4 * mib + 512)) cut=$((4 * mib + 600))
rm -f a
during 'truncate -s $cut src' copy --json --rate 4M src a
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "tail cut: exit $rc, expected 1"; }
err_has "src: read failed at byte $cut"
err_has "src: changed during the copy: its size went from $size to $cut bytes"
json_is 'j["source_error"]["offset"]' $cut
json_is 'j["source_changed"] is not None' True
json_is 'j["destinations"][0]["status"]' failed
json_is 'j["destinations"][0]["first_failing_offset"]' $bulk     # the tail was not written
cmp -n $bulk orig a || fail "tail cut: the whole blocks differ"
cmp -i $bulk:0 -n 265 a /dev/zero || fail "tail cut: a tail was written"

# Cut in the middle: whatever the engine does, the run is not "ok".
random src $size
rm -f a
during 'truncate -s $((2 * mib)) src' copy --rate 4M src a
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "cut in the middle: exit $rc, expected 1"; }
err_has "src: changed during the copy: its size went from $size to $((2 * mib)) bytes"
grep -q "src: CHANGED during the run" "$T/out" || fail "summary: $(cat "$T/out")"

# Rewritten in place, same size: mtime.
random src $((4 * mib))
rm -f a
during 'printf x | dd of=src bs=1 seek=100 conv=notrunc status=none' copy --json --rate 4M src a
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "rewritten: exit $rc, expected 1"; }
err_has "src: changed during the copy: it was modified (mtime)"
json_is '"mtime" in j["source_changed"]' True

# chmod: ctime.
rm -f a
during 'chmod 600 src' copy --rate 4M src a
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "chmod: exit $rc, expected 1"; }
err_has "src: changed during the copy: its status changed (ctime)"

# A destination cut short by someone else, then written again by us.
random src $((4 * mib))
random b $((4 * mib))
during 'truncate -s 1M b' copy --json --rate 4M src b
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "destination cut: exit $rc, expected 1"; }
err_has "b: changed during the copy by someone else: its size went from $((4 * mib))"
json_is 'j["destinations"][0]["status"]' failed
json_is 'j["destinations"][0]["changed"] is not None' True

# Zeroing: a destination that grows under it.
random z $((4 * mib))
during 'head -c 1M /dev/urandom >>z' zero --rate 4M z
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "zero, grown: exit $rc, expected 1"; }
err_has "z: changed during the zeroing by someone else: its size went from $((4 * mib)) to $((5 * mib)) bytes"

# kcopyd verify reads both sides: a change of either is reported (its reads
# slowed by strace, where there is one, so that the change falls inside).
if command -v strace >/dev/null &&
   strace -f -qq -o /dev/null -e trace=pread64 -e inject=pread64:delay_exit=1000 true 2>/dev/null; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # no LSan under ptrace
	random src $((4 * mib)); cp src same
	strace -f -qq -o /dev/null -e trace=pread64 -e inject=pread64:delay_exit=100000 \
		"$KCOPYD" verify --json src same >"$T/out" 2>"$T/err" &
	spid=$! pid=
	for ((i = 0; i < 500; i++)); do          # started: its signals are taken
		[ -n "$pid" ] || pid=$(pgrep -P "$spid" -x kcopyd)
		cgt=$([ -n "$pid" ] && sed -n 's/^SigBlk:[[:space:]]*//p' /proc/"$pid"/status 2>/dev/null)
		[ -n "$cgt" ] && (( 0x$cgt & 2 )) && break
		sleep 0.01
	done
	sleep 1
	touch same
	pid=$spid
	wait $pid
	rc=$?
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "verify, destination touched: exit $rc, expected 1"; }
	err_has "same: changed during the verify: it was modified (mtime)"
	json_is 'j["destinations"][0]["status"]' failed
	json_is 'j["destinations"][0]["changed"] is not None' True
else
	echo "verify: skipped (no strace)"
fi

# Nothing changed: no word of it, exit 0.
random src $size
rm -f a
expect 0 copy --rate 8M src a
grep -q changed "$T/err" && fail "unchanged: $(cat "$T/err")"
same src a
exit 0
