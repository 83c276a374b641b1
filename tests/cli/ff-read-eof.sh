#!/usr/bin/env bash
# A source whose read returns 0 bytes (an end of file) before its size,
# which stays as it was (faultfs eof=1), on both engines: in the last
# partial sector (the byte the command reads itself) and mid-file (a read
# of the library's).  Exit 1; the message and the JSON say a read ended
# early, at the right byte, with the file's size; never "the source ends
# there, before its size" (it used to name the file's size as the byte).
# verify says the same, either side.
. "$(dirname "$0")/faultfs.bash"
ff_begin
head -c 1000001 /dev/urandom > m.back/src
cp m.back/src full

c_tail() {
	ff_rule m "read src off=999999 eof=1"
	fexpect 1 "$e" copy --json m/src d1
	ff_fires m 0
	err_has "m/src: a read ended early at byte 999999 (the file still has 1000001 bytes)"
	! grep -q "ends there, before its size" "$T/err" || fail "the message says the source ends at its size"
	python3 - "$T/out" <<'PY' || fail "JSON: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
e = d["source_error"]
assert e["offset"] == 999999, e
assert "ended early at byte 999999" in e["error"], e
assert all(x["status"] != "ok" for x in d["destinations"]), d["destinations"]
PY
	same_range m.back/src d1 0 999936
}

c_middle() {
	ff_rule m "read src off=500000 eof=1"
	fexpect 1 "$e" copy m/src d1
	ff_fires m 0
	err_has "m/src: a read ended early at byte "
	err_has "(the file still has 1000001 bytes)"
	! grep -q "ends there, before its size" "$T/err" || fail "the message says the source ends at its size"
	local at
	at=$(sed -n 's/.*a read ended early at byte \([0-9]*\) .*/\1/p' "$T/err" | head -n1)
	[ "$at" -le 500000 ] && [ "$at" -gt $((500000 - 512)) ] || fail "the byte named, $at, is not in the sector of 500000"
}

c_verify() {
	ff_rule m "read src off=999999 eof=1"
	fexpect 1 "$e" verify m/src full
	err_has "m/src: a read ended early at byte 999999 (the file still has 1000001 bytes)"
	fexpect 1 "$e" verify full m/src
	err_has "m/src: not verified: the read ended early at byte 999999 (the regular file still has 1000001 bytes)"
}

for e in "${ENGINES[@]}"; do
	for c in tail middle verify; do
		ff_clear m; rm -f d1
		run_case "$e/$c" "c_$c"
	done
done
cases_done
