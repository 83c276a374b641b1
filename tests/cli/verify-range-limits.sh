#!/usr/bin/env bash
# An offset plus a length past 2^63 (what no file offset can hold) is
# refused at set-up, before any I/O, by every command: exit 2 and "the
# range is too large", the files untouched; --offset and --dest-offset
# alike, verify as copy and zero.
. "$(dirname "$0")/common.bash"

random a $((1024 * 1024))
cp a b
files=(a b)
big=9223372036854775296          # 2^63 - 512: plus 1 MiB is past 2^63

refused "verify --dest-offset" "b: --dest-offset/--length: the range is too large" \
	verify --dest-offset $big a b
refused "verify --dest-offset --length" "the range is too large" \
	verify --dest-offset $big --length 1M a b
refused "verify --offset" "the range is too large" verify --offset $big --length 1M a b
refused "copy --dest-offset" "the range is too large" copy --dest-offset $big a b
refused "copy --offset" "the range is too large" copy --offset $big --length 1M a b
refused "zero --offset" "the range is too large" zero --offset $big --length 1M b
# JSON: the refusal is the set-up error.
refused "verify --json" "the range is too large" verify --json --dest-offset $big a b
json_is 'j["exit_code"]' 2
# No I/O: not a read of b was tried.
if command -v strace >/dev/null 2>&1 &&
   strace -f -o "$T/trace" -e trace=pread64,read "$KCOPYD" verify --dest-offset $big a b 2>/dev/null; then
	fail "strace run: exit 0"
fi
if [ -s "$T/trace" ]; then
	grep -q 'pread64(.*, 1048576, ' "$T/trace" && fail "a range read was tried: $(grep pread64 "$T/trace")"
fi
# Inside 2^63: not refused for the range (verify: past b's end it differs).
expect 1 verify --dest-offset 512K a b
exit 0
