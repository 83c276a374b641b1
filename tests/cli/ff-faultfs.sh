#!/usr/bin/env bash
# The test bed itself: faultfs does what tests/faultfs/faultfs.c documents,
# through real system calls (Python's os module), so the ff-*.sh scenarios
# test the command and not faultfs.  Pass-through (O_DIRECT opens, pread,
# pwrite, SEEK_DATA/SEEK_HOLE, fallocate, ftruncate, rename, unlink, statfs,
# flock), the control file (bad lines refused, counters), and each fault.
. "$(dirname "$0")/faultfs.bash"
need_faultfs
ff_mount m
M=1048576
random m.back/f $((4 * M))

# py CODE: run Python with os, errno and the mount in m.
py() { "$PY" -c "import os, errno, fcntl, sys
m = 'm'
def eq(a, b, what):
    if a != b:
        sys.exit('%s: %r, expected %r' % (what, a, b))
$1" || fail "faultfs: $2"; }

c_passthrough() {
	py '
fd = os.open(m + "/f", os.O_RDWR | os.O_DIRECT)
import mmap
buf = mmap.mmap(-1, 1 << 20)
eq(os.preadv(fd, [buf], 1 << 20), 1 << 20, "O_DIRECT read")
with open(m + ".back/f", "rb") as f:
    f.seek(1 << 20); eq(bytes(buf), f.read(1 << 20), "bytes read")
os.close(fd)
fd = os.open(m + "/g", os.O_RDWR | os.O_CREAT, 0o644)
eq(os.pwrite(fd, b"x" * 4096, 3 << 20), 4096, "pwrite")
eq(os.fstat(fd).st_size, (3 << 20) + 4096, "size after pwrite")
eq(os.lseek(fd, 0, os.SEEK_DATA), 3 << 20, "SEEK_DATA")
eq(os.lseek(fd, 3 << 20, os.SEEK_HOLE), (3 << 20) + 4096, "SEEK_HOLE")
b0 = os.stat(m + ".back/g").st_blocks
os.posix_fallocate(fd, 0, 8192)
eq(os.stat(m + ".back/g").st_blocks >= b0 + 16, True, "fallocate allocated")
os.ftruncate(fd, 100)
eq(os.stat(m + ".back/g").st_size, 100, "ftruncate")
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
fd2 = os.open(m + "/g", os.O_RDONLY)
try:
    fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB); sys.exit("second flock granted")
except BlockingIOError:
    pass
os.close(fd2); os.close(fd)
os.rename(m + "/g", m + "/h")
eq(os.path.exists(m + ".back/h"), True, "rename")
os.unlink(m + "/h")
eq(os.path.exists(m + ".back/h"), False, "unlink")
eq(os.statvfs(m).f_blocks, os.statvfs(m + ".back").f_blocks, "statfs")
eq(".faultfs" in os.listdir(m), False, "control file listed")
' "pass-through"
	# PUNCH_HOLE and ZERO_RANGE through fallocate(1).
	if command -v fallocate >/dev/null; then
		cp m.back/f m.back/p
		fallocate -p -o 1M -l 1M m/p || fail "punch hole"
		fallocate -z -o 2M -l 1M m/p || fail "zero range"
		cmp -s -i "$M:0" -n $((2 * M)) m.back/p /dev/zero || fail "punched or zeroed bytes not zero"
		same_range m.back/f m.back/p 0 "$M"
	fi
}

c_control() {
	for bad in "read" "read f" "read f off=1M" "reed f err=EIO" "read f err=EWHAT" \
		"read f off=1X err=EIO" "read f short=0" "read f bogus=1 err=EIO" "read f at=-1 err=EIO"; do
		printf '%s\n' "$bad" >m/.faultfs 2>/dev/null && fail "faultfs took the bad rule '$bad'"
	done
	[ -z "$(cat m/.faultfs)" ] || fail "a bad rule was added: $(cat m/.faultfs)"
	ff_rule m "# a comment" "read f off=1M+512 len=4K after=2 count=3 at=0.0 err=5 delay=1"
	[ "$(wc -l <m/.faultfs)" -eq 1 ] || fail "rules: $(cat m/.faultfs)"
	grep -q "^0 seen=0 fired=0: read f off=1M+512" m/.faultfs || fail "listing: $(cat m/.faultfs)"
	py '
fd = os.open(m + "/f", os.O_RDONLY)
res = []
for i in range(7):
    try:
        res.append(len(os.pread(fd, 4096, (1 << 20) + 512)))
    except OSError as e:
        res.append(-e.errno)
eq(res, [4096, 4096, -5, -5, -5, 4096, 4096], "after=2 count=3")
' "after and count"
	grep -q "^0 seen=7 fired=3:" m/.faultfs || fail "counters: $(cat m/.faultfs)"
	ff_clear m
	[ -z "$(cat m/.faultfs)" ] || fail "clear left rules"
}

c_faults() {
	ff_rule m "read f off=1M+4K len=4K err=EIO"
	py '
fd = os.open(m + "/f", os.O_RDONLY)
eq(len(os.pread(fd, 1 << 20, 1 << 20)), 4096, "read up to a bad range (a short read)")
try:
    os.pread(fd, 4096, (1 << 20) + 4096); sys.exit("bad range read")
except OSError as e:
    eq(e.errno, errno.EIO, "errno")
eq(len(os.pread(fd, 4096, (1 << 20) + 8192)), 4096, "read after the bad range")
' "read EIO"
	ff_clear m; ff_rule m "read f off=1M+4K len=4K err=EIO whole=1"
	py '
fd = os.open(m + "/f", os.O_RDONLY)
try:
    os.pread(fd, 65536, 1 << 20); sys.exit("whole=1 gave a short read")
except OSError as e:
    eq(e.errno, errno.EIO, "errno")
' "whole=1"
	ff_clear m; ff_rule m "write g off=8K err=ENOSPC" "write * short=1000" "fsync g err=EIO"
	py '
fd = os.open(m + "/g", os.O_RDWR | os.O_CREAT, 0o644)
eq(os.pwrite(fd, b"a" * 4096, 0), 1000, "short write")
try:
    os.pwrite(fd, b"a" * 4096, 8192); sys.exit("write ENOSPC")
except OSError as e:
    eq(e.errno, errno.ENOSPC, "errno")
try:
    os.fsync(fd); sys.exit("fsync EIO")
except OSError as e:
    eq(e.errno, errno.EIO, "errno")
' "write and fsync"
	ff_clear m; cp m.back/f m.back/t
	ff_rule m "read t after=1 count=1 truncate=1M+100"
	py '
fd = os.open(m + "/t", os.O_RDONLY)
eq(len(os.pread(fd, 4096, 2 << 20)), 4096, "first read")
eq(len(os.pread(fd, 4096, 2 << 20)), 0, "read past the new end")
eq(os.fstat(fd).st_size, (1 << 20) + 100, "size seen at once")
eq(len(os.pread(fd, 4096, 1 << 20)), 100, "read at the new end")
' "truncate"
	ff_clear m
	py '
import time
fd = os.open(m + "/t", os.O_RDONLY)
with open(m + "/.faultfs", "w") as c:
    c.write("read t at=0.5 err=EIO\n")
eq(len(os.pread(fd, 100, 0)), 100, "read before at=")
time.sleep(0.6)
try:
    os.pread(fd, 100, 0); sys.exit("read after at= succeeded")
except OSError as e:
    eq(e.errno, errno.EIO, "errno")
' "at="
	ff_clear m; ff_rule m "fallocate t err=EOPNOTSUPP" "open u err=EACCES"
	fallocate -p -o 0 -l 4096 m/t 2>/dev/null && fail "fallocate not refused"
	touch m.back/u
	cat m/u 2>/dev/null && fail "open not refused"
	ff_clear m
}

c_unmount() {
	ff_mount m2
	echo hi >m2/x
	ff_umount m2
	[ -e m2/x ] && fail "still mounted"
	[ "$(cat m2.back/x)" = hi ] || fail "backing file"
	return 0
}

for c in passthrough control faults unmount; do
	ff_clear m
	run_case "$c" "c_$c"
done
cases_done
