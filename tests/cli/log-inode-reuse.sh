#!/usr/bin/env bash
# copy --log after a crash (kill -9): a destination removed and made again
# at the same path, with the same size, often gets its inode number back
# (ext4 hands out the lowest free one).  The log tells the new file from the
# one it recorded by its birth time, or by its inode generation where the
# file system keeps no birth time (ext4 with 128-byte inodes): the rerun
# forgets that destination's progress, says so, and copies it whole, as for
# any destination replaced by another file; it never says "ok" over the new
# file's bytes.  Run on the test's own directory when its file system gives
# the number back (no root needed), and as root on loop-mounted ext4 with
# and without room for a birth time in its inodes.
. "$(dirname "$0")/common.bash"
mib=$((1024 * 1024))
random src $((8 * mib))
ran=0

# reuse PATH INO: create PATH until it is inode INO (the misses are kept,
# as PATH.keepN, so that the next try gets another number).  Fails when it
# never is.
reuse() {
	"$PY" - "$1" "$2" <<'EOF'
import os, sys
path, want = sys.argv[1], int(sys.argv[2])
for i in range(5000):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    ino = os.fstat(fd).st_ino
    os.close(fd)
    if ino == want:
        sys.exit(0)
    os.rename(path, "%s.keep%d" % (path, i))
sys.exit(1)
EOF
}

# tells_birth FILE: the file system tells FILE's birth time (statx) or
# inode generation (FS_IOC_GETVERSION, as lsattr -v shows it).
tells_birth() {
	local w
	w=$(stat -c %W -- "$1" 2>/dev/null)
	[ -n "$w" ] && [ "$w" != 0 ] && [ "$w" != - ] && return 0
	command -v lsattr >/dev/null && lsattr -v -- "$1" >/dev/null 2>&1
}

# scenario NAME DIR WHAT: a copy to DIR/d with a log, killed once the log
# records progress; DIR/d replaced by a new file of the same size and inode
# number; the rerun must say "another file: WHAT" (a pattern) and copy it
# all.  Returns 1 (not run) when the inode number cannot be had again, or
# the file system tells nothing of a file's birth.
scenario() {
	local name=$1 d=$2/d what=$3 pid i old size
	rm -f "$d" lg
	"$KCOPYD" copy -q --log lg --log-interval 0.05 --rate 4M src "$d" \
		>run.out 2>run.err </dev/null &
	pid=$!
	bg_pid "$pid"
	for ((i = 0; i < 1000; i++)); do
		grep -q '^map 0 0x0 0x[0-9a-f]* +$' lg 2>/dev/null && break
		sleep 0.01
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	grep -q '^state open$' lg || fail "$name: no open log after the kill: $(cat lg run.err)"
	grep -q '^map 0 0x0 0x[0-9a-f]* +$' lg || fail "$name: no progress in the log: $(cat lg)"
	if ! tells_birth "$d"; then
		echo "$name: the file system tells neither birth time nor generation: not run"
		return 1
	fi
	old=$(stat -c %i "$d") size=$(stat -c %s "$d")
	rm "$d"
	if ! reuse "$d" "$old"; then
		echo "$name: inode $old not given again: not run"
		return 1
	fi
	truncate -s "$size" "$d"     # zeros: not the source's bytes
	cmp -s src "$d" && fail "$name: the new file already holds the copy"
	k copy --json --log lg src "$d"
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "$name: rerun exit $rc, expected 0"; }
	grep -Eq "d: changed since the log was written \(another file: ($what)\): copying all of it again" \
		"$T/err" || fail "$name: the rerun trusted the log: $(cat "$T/err") $(cat "$T/out")"
	json_is "j['skipped_bytes']" 0
	json_is "j['bytes_written']" $((8 * mib))
	cmp -s src "$d" || fail "$name: the destination differs from the source after the rerun"
	# The log now records the new file: another run is a resume of nothing.
	k copy --json --log lg src "$d"
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "$name: third run exit $rc"; }
	json_is "j['skipped_bytes']" $((8 * mib))
	same src "$d"
	echo "$name: ok"
	ran=$((ran + 1))
}

mkdir here
scenario "test directory" "$T/here" "birth time|inode generation"

if [ "$(id -u)" -eq 0 ] && command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null; then
	for isize in 256 128; do
		truncate -s 64M fs$isize.img
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -I $isize fs$isize.img >/dev/null 2>&1 || skip "mkfs.ext4 -I $isize failed"
		loopdev dev fs$isize.img || skip "losetup does not work here"
		mkdir m$isize
		mount "$dev" m$isize 2>/dev/null || skip "cannot mount ext4"
		_mounts+=("$T/m$isize")
		# 128-byte inodes have no room for a birth time: the generation tells.
		if [ $isize = 256 ]; then want="birth time"; else want="inode generation"; fi
		scenario "ext4, $isize-byte inodes" "$T/m$isize" "$want" || fail "ext4, $isize-byte inodes: not run"
	done
fi
[ "$ran" -gt 0 ] || skip "no file system here gives an inode number again (ext4 needs root)"
exit 0
