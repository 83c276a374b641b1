#!/usr/bin/env bash
# verify against a destination that ends before, at the start of, or inside
# the range compared: the difference named is the first byte of the range
# the destination lacks, never a byte outside the range (it named the
# destination's end, before the range), in the text and the JSON; exit 1.
. "$(dirname "$0")/common.bash"
random a 3000000
head -c 1000000 a > b
check() { # WANT ARGS...
	local want=$1; shift
	expect 1 verify "$@" a b
	err_has "b: differs from a at byte $want"
	expect 1 verify --json "$@" a b
	python3 - "$T/out" "$want" <<'PY' || fail "verify --json $*: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
dests = d["destinations"]
assert dests[0]["first_difference"] == int(sys.argv[2]), dests
PY
}
check 2097152 --offset 2M --dest-offset 2M --length 1
check 2000000 --offset 2000000 --dest-offset 2000000 --length 4096
check 1000000 --offset 1000000 --dest-offset 1000000 --length 512
# Starts inside the destination: the bytes there match, it differs where it ends.
check 1000000 --offset 999000 --dest-offset 999000 --length 4096
expect 0 verify --offset 999000 --dest-offset 999000 --length 1000 a b
exit 0
