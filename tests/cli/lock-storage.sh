#!/usr/bin/env bash
# Locks follow storage, not names: a run that writes (or reads) a loop
# device also locks the file under it, as LOOP_GET_STATUS64 names it
# (device and inode, whatever its name says), followed down through stacked
# loops: exclusive to write, shared to read.  So a second run that writes
# or reads that file by any name while the first writes it is refused
# (exit 2, the message, nothing written), in either order, and the first
# run's result is exact.  A file under a loop device that no name reaches
# (deleted) cannot be locked: the run says so and goes on.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd flock

K=1024
random xx $((512 * K))
random yy $((512 * K))
random ca $((512 * K))
# wait_locked FILE [-x]: until someone holds a lock on FILE (with -x: any
# lock, a shared one too).
# A first run that ended before we saw its lock (a loaded machine) is run
# again, slower: it copies the same bytes, so the checks after hold as they
# were.
wait_locked() {
	local try
	for try in 1 2 3 4; do
		for _ in $(seq 400); do
			if [ "${2:-}" = -x ]; then flocked "$1" && return 0; else flocked "$1" WRITE && return 0; fi
			kill -0 "$fpid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$fpid" 2>/dev/null && break
		wait "$fpid"
		frate=$((frate / 2))
		first "${fargs[@]}"
	done
	cat first.err
	fail "$1 was never locked (by the first run, $(kill -0 "$fpid" 2>/dev/null && echo running || echo ended))"
}
# first ARGS...: a slow first run in the background (about 1 s, or more
# when run again by wait_locked).
frate=512
first() {
	fargs=("$@")
	"$KCOPYD" copy --quiet --rate "${frate}K" "$@" >first.out 2>first.err </dev/null &
	fpid=$!
	bg_pid $fpid
}
# first_ok SRC DST: the first run ended well and DST holds SRC exactly.
first_ok() {
	wait "$fpid"; local r=$?
	frate=512
	[ "$r" -eq 0 ] || { cat first.err; fail "the first run exited $r"; }
	cmp -- "$1" "$2" || fail "$2 does not hold $1 after the first run"
}
loopdev L ca || fail "losetup"
loopdev L2 "$L" || fail "losetup (stacked)"
n=$(basename "$L")

# Write, then write: the file first, then the loop device over it.
first xx ca
wait_locked ca
files=(yy)
refused "writing the loop device over a file another run writes" \
	"$L: lies on the file under /dev/$n (inode $(stat -c %i ca)), which another process is using" \
	copy yy "$L"
first_ok xx ca

# The loop device first, then the file.
first yy "$L"
wait_locked ca
refused "writing a file another run writes through a loop device" \
	"ca: another process is using it" copy xx ca
first_ok yy ca

# Write, then read: the loop device written, the file read; and the file
# written, the loop device read.
first xx "$L"
wait_locked ca
refused "reading a file another run writes through a loop device" \
	"ca: another process is writing it" copy ca new
first_ok xx ca
first yy ca
wait_locked ca
refused "reading the loop device over a file another run writes" \
	"$L: lies on the file under /dev/$n (inode $(stat -c %i ca)), which another process is writing" \
	copy "$L" new
first_ok yy ca

# Stacked: a loop device over the loop device over the file.
first xx ca
wait_locked ca
refused "writing a stacked loop device over a file another run writes" \
	"$(basename "$L2"): lies on the file under /dev/$n" copy yy "$L2"
first_ok xx ca
first yy "$L2"
wait_locked ca
refused "reading a file another run writes through stacked loop devices" \
	"ca: another process is writing it" copy ca new
first_ok yy ca

# A backing file whose name holds a newline: found by device and inode.
nl=$'c\nb'
random "$nl" $((512 * K))
loopdev L3 "$nl" || fail "losetup (newline)"
first xx "$nl"
wait_locked "$nl"
refused "writing a loop device over a file with a newline in its name" \
	"$L3: lies on the file under /dev/$(basename "$L3")" copy yy "$L3"
first_ok xx "$nl"

# One run reading a file and writing another range of it through a loop
# device: its lock on the file is exclusive (not the source's shared one).
random cb $((1024 * K))
loopdev L5 cb || fail "losetup (cb)"
"$KCOPYD" copy --quiet --rate 512K --length 512K --dest-offset 512K cb "$L5" \
	>first.out 2>first.err </dev/null &
fpid=$!
bg_pid $fpid
wait_locked cb
files=(cb)
refused "reading a file another run reads and writes through a loop device" \
	"cb: another process is writing it" copy cb new
wait "$fpid" || { cat first.err; fail "the run within cb failed"; }
cmp -n $((512 * K)) -i 0:$((512 * K)) cb cb || fail "the copy within cb is wrong"

# Two readers are fine: a run reads the loop device while another reads it.
first "$L" r1
wait_locked ca -x
expect 0 copy ca r2
wait "$fpid" || fail "the first reader failed"
same ca r1
same ca r2

# A deleted file under a loop device: nothing can lock it; said, not refused.
random gone $((512 * K))
loopdev L4 gone || fail "losetup (deleted)"
rm gone
expect 0 copy yy "$L4"
err_has "$L4: warning: the file under /dev/$(basename "$L4")"
err_has "has no name that reaches it (deleted or renamed); it is not locked"
cmp -n $((512 * K)) yy "$L4" || fail "copy onto the loop device over a deleted file"
exit 0
