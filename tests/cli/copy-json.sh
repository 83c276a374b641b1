#!/usr/bin/env bash
# --json: one object on standard output, parsed by a real JSON parser, with
# the fields the man page promises; a set-up error gives an object too.
. "$(dirname "$0")/common.bash"

sparse src
size=$(stat -c %s src)
expect 0 copy --json src 'a "quoted" name' b
[ "$(wc -l <"$T/out")" -eq 1 ] || fail "more than one line of JSON"
json_is 'j["command"]' copy
json_is 'j["source"]' src
json_is 'j["bytes"]' "$size"
json_is 'j["exit_code"]' 0
json_is 'j["engine"] in ("io_uring", "threads")' True
json_is 'isinstance(j["seconds"], float) and j["seconds"] >= 0' True
json_is 'j["rate"] >= 0' True
json_is 'len(j["destinations"])' 2
json_is 'j["destinations"][0]["path"]' 'a "quoted" name'
json_is '[d["status"] for d in j["destinations"]]' "['ok', 'ok']"
json_is '[d["first_failing_offset"] for d in j["destinations"]]' "[None, None]"
json_is 'j["stats"]["bytes_read"] < j["bytes"]' True      # holes were not read
same src 'a "quoted" name'

# The same document through jq, as a script would read it.
if command -v jq >/dev/null; then
	[ "$(jq -r '.destinations[1].status' "$T/out")" = ok ] || fail "jq cannot read it"
fi

# A set-up error: exit 2, and the JSON says why.
expect 2 copy --json missing b
json_is 'j["exit_code"]' 2
json_is '"missing" in j["error"]' True

# An option error that comes before --json on the line: JSON all the same.
expect 2 copy --pages 0 --json src a
json_is 'j["exit_code"]' 2
json_is '"--pages" in j["error"]' True
expect 2 copy --json --pages 0 src a
json_is '"--pages" in j["error"]' True
# ...but not a --json that is an operand, after "--".
expect 2 copy --pages 0 src a -- --json
[ -s "$T/out" ] && fail "JSON for an operand named --json: $(cat "$T/out")"

# A path that is not UTF-8 still gives valid JSON.
name=$(printf 'bad\377name')
expect 0 copy --json src "$name"
json_is 'j["destinations"][0]["path"]' $'bad\ufffdname'
# flush says whether the destinations were flushed: --verify (and --log)
# flush them whatever --no-flush says.
expect 0 copy --json --no-flush src nf1
json_is 'j["flush"]' False
expect 0 copy --json --no-flush --verify src nf2
json_is 'j["flush"]' True
expect 0 copy --json --no-flush --log nf.log src nf3
json_is 'j["flush"]' True
exit 0
