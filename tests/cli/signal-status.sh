#!/usr/bin/env bash
# SIGUSR1 asks for a status line, as dd's users expect: one line on stderr
# ("N bytes (H) copied, S s, R/s"), and the copy, zero or verify goes on to
# finish exactly as without it.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((4 * mib))

# poke ARGS...: run kcopyd ARGS, send SIGUSR1 twice while it runs; sets rc.
poke() {
	"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	local pid=$!
	sleep 0.3; kill -USR1 "$pid" 2>/dev/null
	sleep 0.3; kill -USR1 "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
}

line='^kcopyd: [0-9]+ bytes \([0-9.]+ [KMG]?i?B\) %s, [0-9.]+ s(, [0-9.]+ [KMG]?i?B/s)?$'

rm -f a
poke copy --rate 4M src a
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "copy with SIGUSR1: exit $rc"; }
same src a
n=$(grep -cE "$(printf "$line" copied)" "$T/err")
[ "$n" -eq 2 ] || { cat "$T/err"; fail "copy: $n status lines, expected 2"; }
# The bytes said grow, and are within the copy.
b1=$(grep -oE '^kcopyd: [0-9]+' "$T/err" | sed -n 1p | grep -oE '[0-9]+$')
b2=$(grep -oE '^kcopyd: [0-9]+' "$T/err" | sed -n 2p | grep -oE '[0-9]+$')
[ "$b1" -le "$b2" ] && [ "$b2" -le $((4 * mib)) ] || fail "status bytes $b1 then $b2"
grep -q "^copied 4.00 MiB" "$T/out" || fail "summary: $(cat "$T/out")"

cp src z
cp src z2
poke zero --rate 4M z
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "zero with SIGUSR1: exit $rc"; }
cmp -n $((4 * mib)) z /dev/zero || fail "zero: not all zeros"
grep -qE "$(printf "$line" zeroed)" "$T/err" || { cat "$T/err"; fail "zero: no status line"; }
# The zeroing is one job: its progress is what its sub-jobs did, not 0
# until it ends (0.3 s in at 4 MiB/s: about 1 MiB).
b1=$(grep -oE '^kcopyd: [0-9]+' "$T/err" | sed -n 1p | grep -oE '[0-9]+$')
b2=$(grep -oE '^kcopyd: [0-9]+' "$T/err" | sed -n 2p | grep -oE '[0-9]+$')
[ "${b2:-0}" -gt 0 ] && [ "$b1" -le "$b2" ] && [ "$b2" -le $((4 * mib)) ] ||
	{ cat "$T/err"; fail "zero: status bytes $b1 then $b2"; }
# Two destinations under one rate: the bytes said are over both, so the
# rate said is the rate asked for (about 4 MiB/s), not half of it.
poke zero --rate 4M z z2
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "zero z z2 with SIGUSR1: exit $rc"; }
# The second status line's rate (its bytes over its seconds, start-up
# included): about 4, never about 2 as it would be divided by the two.
r2=$(grep -oE '[0-9.]+ MiB/s$' "$T/err" | sed -n 2p | cut -d' ' -f1)
"$PY" -c "import sys; sys.exit(0 if float('${r2:-0}') >= 2.4 else 1)" ||
	{ cat "$T/err"; fail "zero z z2: status rate ${r2:-none} MiB/s, expected about 4"; }

# --progress and the status line do not mix on one line.
rm -f a
poke copy --progress --rate 4M src a
[ "$rc" -eq 0 ] || fail "copy --progress with SIGUSR1: exit $rc"
tr '\r' '\n' <"$T/err" | sed 's/\x1b\[K//g' | grep -qE "$(printf "$line" copied)" || { cat -A "$T/err"; fail "--progress: no clean status line"; }
same src a
exit 0
