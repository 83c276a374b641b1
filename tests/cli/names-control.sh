#!/usr/bin/env bash
# File names holding terminal control bytes (ESC and a screen-clearing
# sequence, a newline, a carriage return, DEL): the text on standard output
# and the messages on standard error show them as \xNN, never raw (they
# were written raw: a name could clear the screen or forge a line); the
# JSON keeps the names exactly (escaped as JSON does).
. "$(dirname "$0")/common.bash"
n1=$'a\e[2Jb'
n2=$'c\nd\re\x7f'
random "$n1" 5000
no_raw() { # FILE WHAT
	if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$1"; then
		fail "$2: raw control bytes: $(od -c "$1" | head -5)"
	fi
	# Newlines only between lines: no line holds a piece of a name.
	if grep -q '^d' "$1"; then fail "$2: a name's newline started a line"; fi
}
expect 0 copy "$n1" "$n2"
same "$n1" "$n2"
no_raw "$T/out" "copy, standard output"
grep -qF 'a\x1b[2Jb' "$T/out" || fail "the source is not named as a\\x1b[2Jb: $(cat "$T/out")"
grep -qF 'c\x0ad\x0de\x7f' "$T/out" || fail "the destination is not named escaped: $(cat "$T/out")"
expect 0 verify "$n1" "$n2"
no_raw "$T/out" "verify"
expect 0 info "$n2"
no_raw "$T/out" "info"
expect 2 copy "missing$n2" new
no_raw "$T/err" "a missing source's message"
err_has 'missingc\x0ad\x0de\x7f'
expect 0 copy --json "$n1" "$n2"
python3 - "$T/out" "$n1" "$n2" <<'PY' || fail "JSON: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["source"] == sys.argv[2], d["source"]
assert d["destinations"][0]["path"] == sys.argv[3], d["destinations"]
PY
exit 0
