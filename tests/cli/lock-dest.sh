#!/usr/bin/env bash
# File destinations are locked (flock, exclusive) for the whole run and
# file sources shared: a second run writing a destination another run
# writes, or reading it, or writing its source, is refused (exit 2, a
# message saying another process holds it, nothing written); two runs
# reading one source are fine.  The same for a lock held by another
# program.
. "$(dirname "$0")/common.bash"
need_cmd flock

M=$((1024 * 1024))
random src $((4 * M))
random src2 $M
random dst $((4 * M))
random other $M
# hold MODE FILE: another program locks FILE (LOCK_EX or LOCK_SH) until killed.
hold() {
	"$PY" -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[2], os.O_RDONLY)
fcntl.flock(fd, getattr(fcntl, sys.argv[1]))
time.sleep(60)' "$1" "$2" &
	holder=$!
	bg_pid $holder
}
# wait_locked FILE: until someone holds a lock on FILE.
# (30 s: a hang guard for a loaded machine under a sanitizer, not a timing.)
wait_locked() {
	for _ in $(seq 300); do
		flocked "$1" WRITE && return 0
		sleep 0.1
	done
	[ -s first.err ] && cat first.err
	fail "$1 was never locked (holder ${holder:-none}: $(kill -0 "${holder:-0}" 2>/dev/null &&
		echo running || echo gone); first run: $(kill -0 "${first:-0}" 2>/dev/null &&
		echo running || echo gone))"
}

# Another program holds an exclusive lock on dst.
hold LOCK_EX dst
wait_locked dst
files=(dst src2 other)
refused "locked destination" "dst: another process is using it" copy src2 dst
refused "locked destination, among others" "dst: another process is using it" copy src2 new dst
refused "locked destination, zero" "dst: another process is using it" zero other dst
refused "locked source" "dst: another process is writing it" copy dst new
refused "locked, verify" "dst: another process is writing it" verify src dst
kill "$holder"; wait "$holder" 2>/dev/null

# A shared lock (a reader) keeps writers out, not readers.
hold LOCK_SH other
for _ in $(seq 100); do flocked other READ && break; sleep 0.1; done
flocked other READ || fail "the holder did not take its lock"
refused "read-locked destination" "other: another process is using it" copy src2 other
expect 0 copy other new
same other new
rm new
kill "$holder"; wait "$holder" 2>/dev/null

# Two kcopyd runs: the first copies src to dst slowly.
"$KCOPYD" copy --quiet --rate 512K src dst >first.out 2>first.err </dev/null &
first=$!
bg_pid $first
wait_locked dst
files=(src2 other)
k copy src2 dst
[ "$rc" -eq 2 ] || fail "a second writer of dst: exit $rc"
err_has "dst: another process is using it"
refused "second writer, zero" "dst: another process is using it" zero dst
refused "reading what another run writes" "dst: another process is writing it" copy dst new
files=(src src2 other)
refused "writing another run's source" "src: another process is using it" copy src2 src
# Reading the same source is fine.
expect 0 copy src new
same src new
kill -INT "$first"; wait "$first" 2>/dev/null
grep -q "another process" first.err && fail "the first run was refused: $(cat first.err)"
# The lock went with the first run: dst can be written now.
expect 0 copy src2 dst
cmp -n $M src2 dst || fail "copy after the first run ended"

# A file copied onto itself (disjoint ranges) takes one lock, not two.
expect 0 copy --length 1M --dest-offset 2M src src
cmp -i 0:$((2 * M)) -n $M src src || fail "copy within one file"
exit 0
