#!/usr/bin/env bash
# "Does the run write its own source?" is a question about the ranges the
# run writes, not about storage shared anywhere.  The destination D is an
# image file; a loop device over D from 16 MiB on, 64 MiB long, holds an
# ext4 file system; the source S is a file in it.  The copy writes D only
# in [0, 8 MiB), outside the file system's bytes (set-up accepts it), so
# the run writes none of the source's bytes and every change of S is
# someone else's:
#  - a plain copy is ok (exit 0, no "CHANGED": the source's size is its
#    own, not D's), and D holds S's bytes;
#  - a same-size rewrite of S during the run is a change of the source
#    (mtime), exit 1;
#  - a run stopped by SIGINT with --log says it resumes, and it does;
#  - a run killed by SIGKILL with --log, S rewritten (same size, new
#    bytes), then rerun with the log: refused (the source changed since the
#    log was written), D's written range and the log left as they were.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.ext4

M=$((1024 * 1024))
truncate -s 96M D.img
loopdev L D.img --offset 16M --sizelimit 64M || fail "losetup"
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$L" || skip "mkfs.ext4 failed"
mkdir mnt
mount "$L" mnt 2>/dev/null && _mounts+=("$T/mnt") || skip "cannot mount ext4"
random mnt/S $((8 * M))
sync
size=$((8 * M))
range=(--dest-offset 0 --length 8M)

# The plain copy.
expect 0 copy --json "${range[@]}" mnt/S D.img
! grep -q CHANGED "$T/out" "$T/err" || fail "plain copy: a false change: $(cat "$T/out" "$T/err")"
! grep -q "changed during" "$T/err" || fail "plain copy: $(cat "$T/err")"
json_is 'j["source_changed"]' None
cmp -n "$size" mnt/S D.img || fail "plain copy: D.img does not hold the source"

# Rewritten in place during the run, same size: the source changed.
during 'flip mnt/S 100' copy --json --rate 4M "${range[@]}" mnt/S D.img
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "rewritten during the run: exit $rc, expected 1"; }
err_has "mnt/S: changed during the copy: it was modified (mtime)"
! grep -q "its size went from" "$T/err" || fail "rewritten during the run: a size change: $(cat "$T/err")"
json_is '"mtime" in j["source_changed"]' True

# Interrupted (SIGINT) with a log, nothing changed: resumable, and the
# rerun with the log resumes it.
random mnt/S "$size"
rm -f copy.log
"$KCOPYD" copy --rate 2M --log-interval 0.1 --log copy.log "${range[@]}" mnt/S D.img \
	>"$T/out" 2>"$T/err" </dev/null &
pid=$!
bg_pid "$pid"
signals_taken "$pid" || fail "SIGINT: the run did not start"
sleep 0.5
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || { cat "$T/err"; fail "SIGINT: exit $rc, expected 130"; }
err_has "rerun with the same --log to resume"
! grep -qi "refused\|changed" "$T/err" || fail "SIGINT: $(cat "$T/err")"
expect 0 copy -q --log copy.log "${range[@]}" mnt/S D.img
cmp -n "$size" mnt/S D.img || fail "SIGINT, resumed: D.img does not hold the source"

# Killed with a log, the source rewritten, rerun with the log: refused.
random mnt/S "$size"
rm -f copy.log
"$KCOPYD" copy -q --rate 2M --log-interval 0.1 --log copy.log "${range[@]}" mnt/S D.img \
	>run.out 2>run.err </dev/null &
pid=$!
bg_pid "$pid"
for ((i = 0; i < 500; i++)); do
	grep -q '^map 0 0x0 0x[0-9a-f]* +' copy.log 2>/dev/null && break
	sleep 0.01
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
grep -q '^state open' copy.log || fail "the killed run's log is not open: $(cat copy.log run.err)"
grep -q '+$' copy.log || fail "the killed run recorded no progress: $(cat copy.log)"
cmp -s -n "$size" mnt/S D.img && fail "the killed run copied everything: nothing to resume"
sleep 0.01                       # a later mtime, even on a coarse clock
random mnt/S "$size"             # same size, new bytes
sync
before=$(head -c "$size" D.img | sha256sum) log_before=$(digest copy.log)
expect 2 copy --log copy.log "${range[@]}" mnt/S D.img
err_has "--log copy.log: refused: the source changed since the log was written"
[ "$(head -c "$size" D.img | sha256sum)" = "$before" ] ||
	fail "the refused rerun wrote the destination"
[ "$(digest copy.log)" = "$log_before" ] || fail "the refused rerun changed the log"
# A run without the log copies the source as it is now.
expect 0 copy -q "${range[@]}" mnt/S D.img
cmp -n "$size" mnt/S D.img || fail "the fresh copy: D.img does not hold the source"
exit 0
