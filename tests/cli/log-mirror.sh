#!/usr/bin/env bash
# The dm-mirror case: a log written by hand (no checksum) that marks some
# regions dirty ('?') and the rest clean ('+') resyncs only the dirty
# regions, each on the destinations where it is dirty.  Clean regions are
# neither read nor written, which a destination region changed behind the
# log's back proves.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((16 * mib))
expect 0 copy --log mirror.log src a b
same src a
same src b
grep -q '^checksum' mirror.log || fail "the log has no checksum line"

# The source changes in chunks 3 and 10; a changes in chunk 6, which the
# log will call clean.
cp src src.old
random src 5000 $((3 * mib + 1000))
random src $mib $((10 * mib))
random a $mib $((6 * mib))
cp a a.before

# dump FILE MIB: that MiB of FILE.
dump() { dd if="$1" bs=1M skip="$2" count=1 status=none; }

# header FILE: a log's header as a person or a script writes it: without
# the identities of the devices (the source did change: the log says where).
header() { sed -n '/^kcopyd-log/,/^dest 1/p' "$1" | sed -E 's/^((source|dest) [^ ]+ [^ ]+) .*/\1/'; }

# A log as a person or a script would write it: same header, no checksum,
# chunk 3 dirty on a only, chunk 10 dirty on both.
{
	header mirror.log
	echo "map 0 0 $((3 * mib)) +"
	echo "map 0 $((3 * mib)) $mib ?"
	echo "map 0 $((4 * mib)) $((6 * mib)) +"
	echo "map 1 0 $((10 * mib)) +"
	echo "map 0 $((10 * mib)) $mib ?"
	echo "map 1 $((10 * mib)) $mib ?"
	echo "map 0 $((11 * mib)) $((5 * mib)) +"
	echo "map 1 $((11 * mib)) $((5 * mib)) +"
	echo "end"
} >hand.log
grep -q '^dest 1 ' hand.log || fail "no header in $(cat mirror.log)"
# With the identities kept, the same log is refused: the source changed.
{ sed -n '/^kcopyd-log/,/^dest 1/p' mirror.log; sed -n '/^map/,$p' hand.log; } >ids.log
cp a a.saved
expect 2 copy --log ids.log src a b
err_has "the source changed since the log was written (modification time)"
same a.saved a

expect 0 copy --json --log hand.log src a b
json_is 'j["resumed"]' True
json_is 'j["bytes_written"]' $((3 * mib))         # chunk 3 on a, chunk 10 on both
json_is 'j["stats"]["bytes_read"]' $((2 * mib))   # chunks 3 and 10, each read once
json_is 'j["skipped_bytes"]' $((2 * 16 * mib - 3 * mib))
for m in 3 10; do
	cmp -s <(dump src $m) <(dump a $m) || fail "a: dirty MiB $m was not resynced"
done
cmp -s <(dump src 10) <(dump b 10) || fail "b: dirty MiB 10 was not resynced"
cmp -s <(dump src.old 3) <(dump b 3) || fail "b: MiB 3, clean on b, was copied"
cmp -s <(dump a.before 6) <(dump a 6) || fail "a: clean MiB 6 was copied"
cmp -s <(dump src 6) <(dump a 6) && fail "a: MiB 6 should still differ from the source"
for m in 0 1 2 4 5 7 8 9 11 12 13 14 15; do
	cmp -s <(dump src $m) <(dump a $m) || fail "a: clean MiB $m changed"
done
# The log is now complete again, and written back with a checksum.
grep -q '^checksum' hand.log || fail "the log was not rewritten"
! grep -q '?$' hand.log || fail "the log still has dirty regions: $(cat hand.log)"

# '-' is also "to copy", and a region need not be chunk-aligned: a dirty
# region covering part of a chunk makes the whole chunk dirty.
random src 100 $((12 * mib + 4096))
{
	header mirror.log
	echo "map 0 0 $((12 * mib + 4096)) +"
	echo "map 0 $((12 * mib + 4096)) 512 -"
	echo "map 0 $((12 * mib + 4608)) $((4 * mib - 4608)) +"
	echo "map 1 0 $((16 * mib)) +"
	echo "end"
} >part.log
expect 0 copy --json --log part.log src a b
json_is 'j["bytes_written"]' $mib
cmp -s <(dump src 12) <(dump a 12) || fail "a: MiB 12 was not resynced"
exit 0
