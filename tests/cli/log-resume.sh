#!/usr/bin/env bash
# copy --log survives kill -9: the copy is killed at random moments twenty
# times, resumed with the same log each time, then run to completion.  Both
# destinations end byte-identical to the source, and the bytes written over
# all the runs stay well below twenty full copies: a killed run loses only
# what it did since the log's last rewrite.
. "$(dirname "$0")/common.bash"

TRIALS=20
RATE=$((6 * 1024 * 1024))        # bytes read (or zeroed) per second: ~6 s for the whole copy

# A random, partly sparse source of 48 to 64 MiB, not a multiple of 512.
mib=$((1024 * 1024))
size=$(((48 + RANDOM % 17) * mib + RANDOM % 512 + 1))
truncate -s "$size" src
for ((at = 0; at < size - 4 * mib; at += (2 + RANDOM % 5) * mib)); do
	random src $(((1 + RANDOM % 3) * mib + RANDOM % 4096)) "$at"
done
random src 700 $((size - 700))
[ "$(stat -c %s src)" -eq "$size" ] || fail "source size"

# todo LOG: bytes still to copy over all destinations, from the log's map.
todo() {
	"$PY" - "$1" <<'EOF'
import sys
n = 0
for line in open(sys.argv[1]):
    w = line.split()
    if w and w[0] == "map" and w[4] != "+":
        n += int(w[3], 0)
print(n)
EOF
}

# How long a run takes to start copying here (much longer under a
# sanitizer): a tiny copy with a log.  Kills land at that plus a random
# moment.
t0=$(date +%s%N)
"$KCOPYD" copy -q --length 4K --log cal.log src cal || fail "calibration copy"
startup=$((($(date +%s%N) - t0) / 1000000))
rm -f cal cal.log

full=$((2 * size))               # one full copy: every byte to both destinations
bound=0                          # bytes the killed runs can have written, at most
progress=0                       # bytes the killed runs recorded as done
killed=0 finished_early=0
before=$full
for ((i = 1; i <= TRIALS; i++)); do
	t0=$(date +%s%N)
	"$KCOPYD" copy -q --rate "$RATE" --log-interval 0.1 --log copy.log src a b \
		>run.out 2>run.err </dev/null &
	pid=$!
	ms=$((startup + 50 + RANDOM % 250))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	t1=$(date +%s%N)
	case $rc in
	137) killed=$((killed + 1)) ;;
	0) finished_early=$((finished_early + 1)) ;;
	*) cat run.err; fail "trial $i: exit $rc" ;;
	esac
	# Reading (or zeroing) is throttled to RATE with a burst of RATE/8 (the
	# library's token bucket), and each byte read is written to both
	# destinations, plus a tail of less than a block.
	bound=$((bound + 2 * (RATE * (t1 - t0) / 1000000000 + RATE / 8 + 4096)))
	if [ -f copy.log ]; then
		after=$(todo copy.log)
		[ "$after" -le "$before" ] || fail "trial $i: the log lost progress ($before -> $after)"
		progress=$((progress + before - after))
		before=$after
	fi
done
[ -f copy.log ] || fail "no log after $TRIALS runs"

# The final run: completes, resumes, and copies only what was left.
expect 0 copy --json --log copy.log src a b
json_is 'j["resumed"]' True
skipped=$(json 'j["skipped_bytes"]')
final=$(json 'j["bytes_written"]')
[ "$skipped" -eq $((full - before)) ] || fail "skipped_bytes $skipped, the log said $((full - before))"
[ "$final" -le "$before" ] || fail "the final run wrote $final bytes, more than the $before left"
same src a
same src b
[ "$(todo copy.log)" -eq 0 ] || fail "the log is not complete after the final run"

total=$((bound + final))
echo "trials: $TRIALS ($killed killed mid-copy, $finished_early finished before the kill)"
echo "start-up ${startup} ms; kills at start-up + 50..300 ms"
echo "source: $size bytes; one full copy writes $full bytes (2 destinations)"
echo "progress recorded by killed runs: $progress bytes; left for the final run: $before"
echo "final run wrote $final bytes, skipped $skipped"
echo "total written over all runs <= $total bytes = $((total * 100 / full))% of one full copy"
[ "$killed" -ge $((TRIALS / 2)) ] || fail "only $killed of $TRIALS kills landed mid-copy"
[ "$progress" -gt 0 ] || fail "the killed runs recorded no progress"
[ "$total" -lt $((4 * full)) ] || fail "wrote up to $total bytes, more than 4 full copies"
# A rerun of a finished copy reads and writes nothing.
expect 0 copy --json --log copy.log src a b
json_is 'j["bytes_written"]' 0
json_is 'j["stats"]["bytes_read"]' 0
# Said in one unit: what was done, summed over the two destinations; what
# this run read, of the source.
expect 0 copy --no-progress --log copy.log src a b
grep -q "resumed with the log copy.log: .* of writes to the 2 destinations were done already; this run read 0 B of the source" out ||
	fail "the resume line: $(cat out)"
exit 0
