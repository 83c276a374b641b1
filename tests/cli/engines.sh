#!/usr/bin/env bash
# Both I/O engines copy correctly, and --json says which one ran.
. "$(dirname "$0")/common.bash"

sparse src
for e in threads io_uring; do
	KCOPYD_ENGINE=$e "$KCOPYD" copy --json --verify src "out-$e" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$e" = io_uring ] && [ "$rc" -eq 2 ] && grep -q "copy engine" "$T/err"; then
		echo "io_uring unavailable here"; continue
	fi
	[ "$rc" -eq 0 ] || fail "engine $e: exit $rc: $(cat "$T/err")"
	json_is 'j["engine"]' "$e"
	same src "out-$e"
done
exit 0
