#!/usr/bin/env bash
# A stop is answered even when the output cannot be written: standard error
# (or, with --json, standard output) is a pipe that someone holds open and
# never reads, already full.  The signal thread's last words wait for room
# a moment, then the exit goes on without them: SIGINT ends the run within
# the 3 s grace and a little more, and SIGINT then SIGTERM at once.  (It
# used to block in that write for ever.)
. "$(dirname "$0")/common.bash"
M=$((1024 * 1024))
random src $((32 * M))
ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }

full_fifo() {   # FIFO: made, held open on fd 3, filled
	rm -f "$1"; mkfifo "$1"
	exec 3<>"$1"
	"$PY" - "$1" <<'PYEOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
try:
    while True:
        os.write(fd, b"x" * 4096)
except BlockingIOError:
    pass
PYEOF
}

# stopped WHICH SIGNALS...: kcopyd with WHICH (stderr or stdout) the full
# pipe; the signals 50 ms apart after 1 s; it must exit within LIMIT ms.
stopped() {
	local which=$1 limit=$2 pid t0 s; shift 2
	full_fifo fifo
	rm -f d L
	if [ "$which" = stderr ]; then
		"$KCOPYD" copy --rate 4M --log L src d 2>fifo >"$T/out" </dev/null &
	else
		"$KCOPYD" copy --json --rate 4M --log L src d >fifo 2>"$T/err" </dev/null &
	fi
	pid=$!
	signals_taken $pid || fail "$which: kcopyd did not start"
	sleep 1
	t0=$(ms)
	for s in "$@"; do kill -"$s" $pid; sleep 0.05; done
	while kill -0 $pid 2>/dev/null && [ $(($(ms) - t0)) -lt $((limit + 3000)) ]; do sleep 0.05; done
	if kill -0 $pid 2>/dev/null; then
		kill -KILL $pid; wait $pid 2>/dev/null; exec 3<&-
		fail "$which full, $*: still running $((limit + 3000)) ms after the signal"
	fi
	wait $pid; rc=$?
	exec 3<&-
	[ $(($(ms) - t0)) -le "$limit" ] || fail "$which full, $*: exited after $(($(ms) - t0)) ms"
	[ "$rc" -ge 128 ] || fail "$which full, $*: exit $rc, expected 128 + the signal"
	cmp -s -n $M src d || fail "$which full, $*: d does not hold the first MiB"
}
stopped stderr 6500 INT
stopped stderr 3000 INT TERM
stopped stdout 3000 INT TERM
exit 0
