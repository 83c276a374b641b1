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

# --fail-fast: stop everything at the first error; nothing reports ok.
rm -f small/full a b
expect 1 copy --fail-fast --json src a small/full b
json_is '"ok" in [d["status"] for d in j["destinations"]]' False
json_is '"fail-fast" in j["destinations"][0]["error"]' True
exit 0
