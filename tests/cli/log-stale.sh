#!/usr/bin/env bash
# copy --log never trusts a stale log.  The log records what identifies
# each device (a file's device, inode, size, modification and change time;
# a block device's number, size, disk sequence number, serial, and a loop
# device's backing file), so a rerun after any of these is not fooled:
#   - the source rewritten with other bytes of the same size, or touched,
#     or its mode changed: the log is refused (exit 2, nothing written);
#   - a destination overwritten, or replaced by another file of the same
#     name: its progress is forgotten and it is copied again, the other
#     destinations are not;
#   - a loop device source re-attached to another file: refused;
#   - a block device destination that is now another device (a loop device
#     re-attached to another file): copied again.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
size=$((2 * mib + 1000))
random src $size

# fresh: a finished copy of src to a and b with the log x.log.
fresh() {
	rm -f a b x.log
	expect 0 copy -q --log x.log src a b
	same src a
	same src b
	sleep 0.02      # past a coarse clock's tick: what follows has a later time
}
# refused_source WHAT: the rerun refuses the log because the source
# changed (WHAT), and writes nothing: a, b and the log are as they were.
refused_source() {
	local da db dl
	da=$(digest a) db=$(digest b) dl=$(digest x.log)
	expect 2 copy --log x.log src a b
	err_has "--log x.log: refused: the source changed since the log was written ($1"
	[ "$(digest a)" = "$da" ] && [ "$(digest b)" = "$db" ] || fail "a destination was written"
	[ "$(digest x.log)" = "$dl" ] || fail "the refused log was rewritten"
	[ ! -e x.log.lock ] || fail "a refused run left its lock file"
}

# The source rewritten in place with other bytes, same size.
fresh
random src2 $size
cp src2 src                                 # same inode, same size, new bytes
refused_source "modification time"
# The same with the modification time put back (touch -r): the change time
# still tells.
fresh
cp -p src src.saved
random src 4096 $mib
touch -r src.saved src
refused_source "change time"
# Only touched: the bytes may be the same, the log cannot know.
fresh
touch -d '+1 hour' src
refused_source "modification time"
# Its mode changed: a change of the file, refused too (as tar would).
fresh
chmod 600 src
refused_source "change time"
# Replaced by another file with the same name and size.
fresh
cp src2 src.new && mv src.new src
refused_source "another file"
# An unchanged source after all of that is trusted again.
fresh
expect 0 copy --json --log x.log src a b
json_is 'j["bytes_written"]' 0
# Fewer destinations than the log was written for (one: said in the singular).
expect 2 copy --log x.log src a
err_has "--log x.log: refused, it is the log of another copy: it was written for more than 1 destination"
! grep -q "1 destinations" "$T/err" || fail "1 destinations"

# A destination overwritten after the log was written: copied again, and
# only it (b keeps its progress).
fresh
random a 4096 $((mib + 512))
expect 0 copy --json --log x.log src a b
err_has "a: changed since the log was written"
json_is 'j["resumed"]' True
json_is 'j["bytes_written"]' $size
json_is 'j["skipped_bytes"]' $size
same src a
same src b
# ... then the log is complete and trusted again.
expect 0 copy --json --log x.log src a b
json_is 'j["bytes_written"]' 0
! grep -q "changed" "$T/err" || fail "an unchanged destination was called changed"
# Overwritten with the same size and its times put back: the change time.
fresh
cp -p b b.saved
random b 100 0
touch -r b.saved b
expect 0 copy --json --log x.log src a b
err_has "b: changed since the log was written"
json_is 'j["bytes_written"]' $size
same src a
same src b
# Replaced by another file with the same name.
fresh
random a.new $size
mv a.new a
expect 0 copy --json --log x.log src a b
err_has "a: changed since the log was written (another file: device and inode number)"
json_is 'j["bytes_written"]' $size
same src a
same src b
# Removed: created again and copied in full.
fresh
rm b
expect 0 copy --json --log x.log src a b
err_has "b: changed since the log was written (it does not exist)"
json_is 'j["bytes_written"]' $size
same src b

# After a crash (kill -9 mid-copy: the log says "state open"), a
# destination's later change time is the run's own writes, but another
# file under its name is still noticed.
rm -f a b x.log
"$KCOPYD" copy -q --rate 1M --log-interval 0.1 --log x.log src a b >/dev/null 2>&1 &
pid=$!
bg_pid "$pid"
for ((i = 0; i < 100; i++)); do grep -q '^map 0 0x0 0x[0-9a-f]* +' x.log 2>/dev/null && break; sleep 0.05; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
grep -q '^state open' x.log || fail "the killed run's log is not open: $(cat x.log)"
grep -q '+$' x.log || fail "the killed run recorded no progress"
random a.new $size && mv a.new a
expect 0 copy --json --log x.log src a b
err_has "a: changed since the log was written (another file"
! grep -q "b: changed" "$T/err" || fail "b, written by the killed run, was called changed"
same src a
same src b

# Block devices: loop devices re-attached to another file.
need_loop
bsize=$((2 * mib))
random f1 $bsize
random f2 $bsize
random g1 $bsize
random g2 $bsize
cp g1 g1.orig
loopdev sdev f1 || skip "cannot attach a loop device"
loopdev ddev g1 || skip "cannot attach a loop device"
# reattach DEV FILE: DEV shows FILE from now on (the same device name).
# If another process took the device meanwhile, it is not ours to detach.
reattach() {
	local i
	losetup -d "$1" || fail "cannot detach $1"
	losetup "$1" "$2" 2>/dev/null && return 0
	for i in "${!_loops[@]}"; do [ "${_loops[i]}" = "$1" ] && unset "_loops[i]"; done
	skip "$1 was taken by another process meanwhile"
}

# The source: a loop device over f1, then over f2 (same size, same name).
rm -f x.log
expect 0 copy -q --log x.log "$sdev" sdst
same f1 sdst
reattach "$sdev" f2
dout=$(digest sdst) dl=$(digest x.log)
expect 2 copy --log x.log "$sdev" sdst
err_has "--log x.log: refused: the source changed since the log was written (disk sequence number"
[ "$(digest sdst)" = "$dout" ] || fail "sdst was written"
[ "$(digest x.log)" = "$dl" ] || fail "the refused log was rewritten"
reattach "$sdev" f1                         # f1 again: a new attachment all the same
expect 2 copy --log x.log "$sdev" sdst
err_has "the source changed since the log was written"

# A destination: a loop device over g1, then over g2.
rm -f x.log
expect 0 copy -q --log x.log f2 "$ddev"
cmp -n "$bsize" f2 g1 || fail "g1 does not hold the copy"
reattach "$ddev" g2
expect 0 copy --json --log x.log f2 "$ddev"
err_has "$ddev: changed since the log was written (disk sequence number"
json_is 'j["bytes_written"]' "$bsize"
cmp -n "$bsize" f2 g2 || fail "g2 (the device now) was not copied to"
expect 0 copy --json --log x.log f2 "$ddev"
json_is 'j["bytes_written"]' 0
exit 0
