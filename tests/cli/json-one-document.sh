#!/usr/bin/env bash
# --json with two stop signals close together near the end of a run (the
# second one exits at once): standard output always holds exactly one
# whole JSON document, the command's or the exit's own, and its exit_code
# is the process's exit status.  (The command's document used to be lost
# in stdout's buffer, or a second one written.)  Many tries, at random
# moments around the end.
. "$(dirname "$0")/common.bash"
M=$((1024 * 1024))
random src $((8 * M))
tries=${KCOPYD_TEST_TRIES:-40}
for ((i = 0; i < tries; i++)); do
	rm -f d l
	"$KCOPYD" copy --json --rate 200M --log-interval 0.05 --log l src d >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	signals_taken $pid              # past the start-up window (no handlers yet)
	sleep "0.0$((RANDOM % 5))"
	kill -QUIT $pid 2>/dev/null
	sleep "0.00$((RANDOM % 10))"
	kill -USR2 $pid 2>/dev/null
	wait $pid
	rc=$?
	"$PY" - "$T/out" "$rc" <<'PYEOF' || { cat "$T/err"; fail "try $i: $(cat "$T/out")"; }
import json, sys
text = open(sys.argv[1]).read()
lines = [l for l in text.split("\n") if l]
if len(lines) != 1:
    sys.exit("%d JSON lines on stdout, expected 1" % len(lines))
j = json.loads(lines[0])
if j["exit_code"] != int(sys.argv[2]):
    sys.exit("JSON exit_code %s, the process exited %s" % (j["exit_code"], sys.argv[2]))
PYEOF
done
exit 0
