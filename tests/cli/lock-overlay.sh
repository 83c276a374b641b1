#!/usr/bin/env bash
# Locks follow storage through overlayfs too: a run that writes a file
# through the overlay's merged name also locks the upper-layer file that
# holds its bytes, so a second run writing (or reading) that file by its
# upper name is refused (exit 2, nothing written), and the other way round;
# the first run's result is exact.
. "$(dirname "$0")/common.bash"
need_root
K=1024
mkdir lo up wk mg
mount -t overlay overlay -o "lowerdir=$T/lo,upperdir=$T/up,workdir=$T/wk" mg 2>/dev/null ||
	skip "cannot mount overlayfs"
_mounts+=("$T/mg")
random xx $((512 * K))
random yy $((512 * K))
random mg/f $((512 * K))              # made in the upper layer

# first ARGS: a slow first run (about 2 s) in the background.
first() {
	"$KCOPYD" copy --quiet --rate 256K "$@" >first.out 2>first.err </dev/null &
	fpid=$!
	bg_pid $fpid
}
wait_locked() {
	for _ in $(seq 400); do
		flocked "$1" WRITE && return 0
		kill -0 "$fpid" 2>/dev/null || break
		sleep 0.02
	done
	cat first.err
	fail "$1 was never locked by the first run"
}
first_ok() {
	wait "$fpid"; local r=$?
	[ "$r" -eq 0 ] || { cat first.err; fail "the first run exited $r"; }
	cmp -- "$1" "$2" || fail "$2 does not hold $1 after the first run"
}

# The merged name written first: its upper file is locked too.
first xx mg/f
wait_locked up/f
expect 2 copy yy up/f
err_has "up/f: another process is using it"
expect 2 copy up/f new
err_has "up/f: another process is writing it"
[ ! -e new ] || fail "new was created"
first_ok xx up/f

# The upper name first, then the merged one.
first yy up/f
wait_locked up/f
expect 2 copy xx mg/f
err_has "is a file of an overlayfs layer"
first_ok yy mg/f
exit 0
