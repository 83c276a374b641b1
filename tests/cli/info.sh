#!/usr/bin/env bash
# info: size, block sizes, O_DIRECT, zeroing and the engine, as text and
# as JSON, for a file and (when root) a 4096-byte-sector loop device; a
# path that is not a device is an error (exit 2) while the others print.
. "$(dirname "$0")/common.bash"

random f 12345
expect 0 info f
grep -q "^engine: " "$T/out" || fail "no engine line"
grep -q "size  *12345 bytes" "$T/out" || fail "no size: $(cat "$T/out")"
grep -q "logical block size   512" "$T/out" || fail "no logical block size"
grep -q "direct I/O" "$T/out" || fail "no direct I/O line"

expect 0 info --json f
json_is 'j["command"]' info
json_is 'j["engine"] in ("io_uring", "threads")' True
json_is 'j["devices"][0]["size"]' 12345
json_is 'j["devices"][0]["type"]' "regular file"
json_is 'j["devices"][0]["logical_block_size"]' 512
json_is 'type(j["devices"][0]["direct_io"]).__name__' bool
json_is 'j["exit_code"]' 0

mkdir dir
expect 2 info --json f dir missing
json_is 'j["devices"][0]["error"]' None
json_is 'j["devices"][1]["error"] is not None' True
json_is '"No such file" in j["devices"][2]["error"]' True
json_is 'j["exit_code"]' 2

KCOPYD_ENGINE=threads "$KCOPYD" info --json f >"$T/out" || fail "info with the thread engine"
json_is 'j["engine"]' threads

if [ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null; then
	truncate -s 8M img
	if loopdev dev img -b 4096; then
		expect 0 info --json "$dev"
		json_is 'j["devices"][0]["type"]' "block device"
		json_is 'j["devices"][0]["size"]' 8388608
		json_is 'j["devices"][0]["logical_block_size"]' 4096
		json_is 'j["devices"][0]["in_use"]' False
		expect 0 info "$dev"
		grep -q "logical block size   4096" "$T/out" || fail "text: $(cat "$T/out")"
	fi
fi
exit 0
