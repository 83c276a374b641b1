#!/usr/bin/env bash
# ulimit -f lowered (prlimit) while a copy runs, on both engines, direct and
# buffered: the write past the limit fails with "File too large" at the
# byte of the limit, in the text and the JSON, exit 1, and the bytes below
# the limit are the source's.  (O_DIRECT's write cut at the limit failed
# with EINVAL, "Invalid argument" at a byte below it; the sector's start
# was named for the limit.)
. "$(dirname "$0")/common.bash"
need_cmd prlimit
random src $((16 * 1024 * 1024))
lim=5000000
for e in io_uring threads; do
	for how in "" --buffered; do
		rm -f d
		KCOPYD_ENGINE=$e "$KCOPYD" copy --json --rate 8M $how src d >"$T/out" 2>"$T/err" &
		p=$!
		# Once set-up is over (it checks the limit: a lower one is
		# refused there), which made d; not a fixed time (a loaded
		# machine, a sanitizer build, may not be there yet).
		i=0
		while [ ! -e d ] && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		prlimit --pid "$p" --fsize=$lim || { kill "$p"; fail "prlimit"; }
		wait "$p"
		rc=$?
		[ "$rc" -eq 1 ] || fail "$e $how: exit $rc, not 1: $(cat "$T/err")"
		err_has "d: write failed at byte $lim: File too large"
		python3 - "$T/out" "$lim" <<'PY' || fail "$e $how: JSON: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
x = d["destinations"][0]
assert x["first_failing_offset"] == int(sys.argv[2]), x
PY
		cmp -n $lim src d || fail "$e $how: the bytes below the limit differ"
	done
done
exit 0
