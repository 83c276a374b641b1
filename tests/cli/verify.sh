#!/usr/bin/env bash
# verify: matching destinations exit 0; a changed byte, a short file and a
# range are reported with the first differing offset (exit 1); copy
# --verify reads every destination back.
. "$(dirname "$0")/common.bash"

sparse src
expect 0 copy --verify src a b c
grep -q "a: ok, verified" "$T/out" || fail "copy --verify summary: $(cat "$T/out")"

expect 0 verify src a b c
grep -q "^a: matches src" "$T/out" || fail "verify output: $(cat "$T/out")"

# Change one byte of b in the middle of a hole of the source.
printf 'X' | dd of=b bs=1 seek=2000000 conv=notrunc status=none
# Cut c short.
truncate -s 5000000 c
expect 1 verify --json src a b c
json_is '[d["status"] for d in j["destinations"]]' "['match', 'differ', 'differ']"
json_is 'j["destinations"][1]["first_difference"]' 2000000
json_is 'j["destinations"][2]["first_difference"]' 5000000
json_is 'j["exit_code"]' 1
expect 1 verify src b
err_has "b: differs from src at byte 2000000"

# Ranges: only the range is compared.
expect 0 verify --length 1M src b
expect 0 verify --offset 2M --length 1M src b --dest-offset 2M
expect 1 verify --offset 1M --dest-offset 1M --length 1M src b
err_has "at byte 2000000"

# Missing destination: a set-up error.
expect 2 verify src nothere
exit 0
