#!/usr/bin/env bash
# verify's JSON bytes_compared is the bytes compared with every
# destination compared, not the source bytes read: when a destination's
# read fails inside the first 4 MiB piece (every read from some point on
# fails: strace), it is where that read failed, not 4 MiB; a
# full match counts the whole range.  A destination that ends (or fails)
# early does not hold back another compared to the end, in whichever piece
# it ends: the whole range (it was where the short one ended when that was
# in the last piece).
. "$(dirname "$0")/common.bash"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # no LSan under ptrace
need_cmd strace

mib=$((1024 * 1024))
random a $((8 * mib))
cp a b
strace -f -o /dev/null -e inject=pread64:error=EIO:when=100 true 2>/dev/null ||
	skip "strace cannot inject here"

expect 0 verify --json a b
json_is 'j["bytes_compared"]' $((8 * mib))
expect 0 verify --json --length 3M a b
json_is 'j["bytes_compared"]' $((3 * mib))

head -c $((3 * mib)) a >a3; cp a3 full3; head -c $mib a3 >short1
k verify --json a3 full3 short1
json_is 'j["bytes_compared"]' $((3 * mib))
json_is 'j["destinations"][0]["status"]' match
k verify --json a full3 short1 b
json_is 'j["bytes_compared"]' $((8 * mib))
k verify --json a3 short1
json_is 'j["bytes_compared"]' $mib

hit=0
for n in $(seq 3 2 31); do
	strace -f -o /dev/null -e inject=pread64:error=EIO:when="$n+" "$KCOPYD" verify --json a b \
		>"$T/out" 2>"$T/err" </dev/null
	grep -q "error while loading" "$T/err" && continue
	# Only runs where the destination's read failed and the source's did not.
	$PY - "$T/out" <<'PYEOF' || continue
import json, re, sys
j = json.load(open(sys.argv[1]))
d = j["destinations"][0]
sys.exit(0 if j["source_error"] is None and d["status"] == "failed" else 1)
PYEOF
	at=$($PY -c 'import json,re,sys; d=json.load(open(sys.argv[1]))["destinations"][0]; print(re.match(r"reading failed at byte (\d+)", d["error"]).group(1))' "$T/out") ||
		fail "when=$n: error $(cat "$T/out")"
	json_is 'j["bytes_compared"]' "$at"
	[ "$at" -lt $((4 * mib)) ] && [ "$at" -gt 0 ] && hit=1
done
[ "$hit" = 1 ] || fail "no injection hit a destination's read inside the first piece"
exit 0
