#!/usr/bin/env bash
# One destination of three runs out of space mid-copy (a 1 MiB tmpfs): it
# is reported with its path and the first failing offset, exit 1, and the
# other two are complete.  With --fail-fast the others are stopped too.
. "$(dirname "$0")/common.bash"
need_root

tmpfs small 1m
random src $((4 * 1024 * 1024))

expect 1 copy --json src a small/full b
same src a
same src b
err_has "small/full: write failed at byte "
err_has "No space left on device"
json_is '[d["status"] for d in j["destinations"]]' "['ok', 'failed', 'ok']"
json_is 'isinstance(j["destinations"][1]["first_failing_offset"], int)' True
# Sub-jobs finish out of order, so the first failure seen may lie past 1 MiB.
json_is '0 <= j["destinations"][1]["first_failing_offset"] < 4194304' True
json_is '"No space left" in j["destinations"][1]["error"]' True
json_is 'j["exit_code"]' 1

# Without --json, the summary says the same for people.
rm -f small/full a b
expect 1 copy src a small/full b
grep -q "small/full: FAILED: write failed at byte" "$T/out" || fail "summary: $(cat "$T/out")"
same src a

# --fail-fast: stop at the first error.  Sub-jobs already in flight still
# finish, so a healthy destination may hold every byte by then: it is "ok"
# exactly when it does, and otherwise says the fail-fast stopped it.
rm -f small/full a b
expect 1 copy --fail-fast --json src a small/full b
json_is 'j["destinations"][1]["status"]' failed
for i in 0 2; do
	f=$( [ $i -eq 0 ] && echo a || echo b )
	st=$(json "j['destinations'][$i]['status']")
	if [ "$st" = ok ]; then
		cmp -s src "$f" || fail "$f is reported ok after --fail-fast but differs from src"
	else
		json_is "'fail-fast' in j['destinations'][$i]['error']" True
		! cmp -s src "$f" || fail "$f holds all of src but is reported '$st'"
	fi
done
exit 0
