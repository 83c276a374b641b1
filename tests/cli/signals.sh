#!/usr/bin/env bash
# SIGINT and SIGTERM stop copy and zero cleanly: exit 130 or 143, a message
# saying where, the jobs in flight completed and the log saved, and a rerun
# with the same log finishes the copy byte-identical.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((64 * mib))
truncate -s $((64 * mib + 777)) src                  # a tail past the last block
RATE=16M                                             # about 4 s for the whole copy

# stop SIGNAL FILE ARGS...: start kcopyd ARGS..., wait until it is copying
# (FILE, a new destination, has data on disk, or a moment), send SIGNAL;
# sets rc.
stop() {
	local sig=$1 file=$2 i; shift 2
	"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	local pid=$!
	[ -n "$file" ] || sleep 0.5          # past start-up, even under a sanitizer
	for ((i = 0; i < 200; i++)); do
		[ -n "$file" ] || break
		[ -f "$file" ] && [ "$(allocated "$file")" -ge $((2 * mib)) ] && break
		sleep 0.05
	done
	sleep 0.3
	kill -s "$sig" "$pid"
	wait "$pid"
	rc=$?
}

# todo LOG: bytes still to copy, over destinations; first LOG: where the
# first region still to copy starts.
logsum() {
	"$PY" - "$@" <<'EOF'
import sys
todo = [(int(w[2], 0), int(w[3], 0)) for w in map(str.split, open(sys.argv[1]))
        if w and w[0] == "map" and w[4] != "+"]
print(sum(n for _, n in todo) if sys.argv[2] == "todo" else min(o for o, _ in todo))
EOF
}
todo() { logsum "$1" todo; }
first() { logsum "$1" first; }

for sig in INT TERM; do
	want=$([ $sig = INT ] && echo 130 || echo 143)
	rm -f a b c.log
	stop $sig a copy --rate $RATE --log c.log src a b
	[ "$rc" -eq "$want" ] || { cat "$T/err"; fail "SIG$sig: exit $rc, expected $want"; }
	err_has "interrupted at byte"
	err_has "rerun with the same --log to resume"
	err_has "not completed: interrupted (SIG$sig)"
	sigrc=$rc left=$(todo c.log)
	[ "$left" -gt 0 ] || fail "SIG$sig: the copy was not interrupted (nothing left)"
	[ "$left" -lt $((2 * 64 * mib + 2 * 777)) ] || fail "SIG$sig: the log recorded nothing"
	# The offset said is where the log's first chunk still to copy starts.
	at=$(grep -o 'interrupted at byte [0-9]*' "$T/err" | grep -o '[0-9]*$')
	first=$(first c.log)
	[ "$at" -eq "$first" ] || fail "SIG$sig: said byte $at, the log says $first"
	expect 0 copy --json --log c.log src a b
	json_is 'j["resumed"]' True
	json_is 'j["skipped_bytes"]' $((2 * (64 * mib + 777) - left))
	json_is 'j["bytes_written"] <= '"$left" True
	same src a
	same src b
	echo "SIG$sig: exit $sigrc, $left bytes left to the resume"
done

# --json says so too.
rm -f a c.log
stop INT a copy --json --rate $RATE --log c.log src a
[ "$rc" -eq 130 ] || fail "--json SIGINT: exit $rc"
json_is 'j["signal"]' SIGINT
json_is 'j["exit_code"]' 130
json_is 'j["resume_at"] is not None' True
json_is 'j["destinations"][0]["status"]' failed

# Without a log: 143, and how far it got.
rm -f a
stop TERM a copy --rate $RATE src a
[ "$rc" -eq 143 ] || { cat "$T/err"; fail "SIGTERM without --log: exit $rc"; }
err_has "interrupted after"
err_has "the copy is incomplete"
expect 0 copy src a
same src a

# zero stops too.
stop TERM "" zero --rate 8M a
[ "$rc" -eq 143 ] || { cat "$T/err"; fail "zero SIGTERM: exit $rc"; }
err_has "the zeroing is incomplete"

# A second signal exits at once (signal-twice.sh checks its message).
rm -f a c.log
"$KCOPYD" copy --rate 4M --log c.log src a >/dev/null 2>&1 </dev/null &
pid=$!
sleep 0.5
kill -s INT "$pid"; kill -s INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "two SIGINTs: exit $rc"
exit 0
