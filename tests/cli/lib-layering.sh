#!/bin/bash
# The library's layers, read from what each object file calls: the engine
# (engine.c, client.c, bdev.c) does no I/O of its own and never touches a
# descriptor (devices are endpoints behind an ops table: it can drive any
# kind); the file endpoint (file.c) is the only one that opens, stats and
# ioctls devices; the backends run system calls and report them as such,
# without knowing the engine's I/Os.
. "$(dirname "$0")/common.bash"
need_cmd nm
need_cmd ar
: "${KCOPYD_BUILD:?}"
a=$KCOPYD_BUILD/lib/libkcopyd.a
[ -f "$a" ] || skip "no libkcopyd.a in $KCOPYD_BUILD/lib"
mkdir "$T/o"
(cd "$T/o" && ar x "$a") || fail "ar x $a"

calls() {       # calls OBJECT: the names it calls (undefined symbols)
	[ -f "$T/o/$1.c.o" ] || fail "no $1.c.o in $a (is the test reading the right archive?)"
	nm -u "$T/o/$1.c.o" | awk '{print $2}' | sed 's/@.*//'
}

io_calls='^(open|open64|openat|openat64|pread|pread64|pwrite|pwrite64|preadv.*|pwritev.*|read|fallocate|fallocate64|copy_file_range|ioctl|fsync|fdatasync|fstat|fstat64|stat|stat64|statx|fstatfs|fstatfs64|lseek|lseek64|io_uring_.*)$'
for o in engine client bdev; do
	bad=$(calls $o | grep -E "$io_calls" | tr '\n' ' ')
	[ -z "$bad" ] || fail "lib/$o.c does I/O of its own: $bad"
done
# The one write(2) the engine makes is to wake itself (kc_eventfd_signal).
calls engine | grep -qx write && ! grep -q 'write(efd' "$KCOPYD_SRC/lib/engine.c" &&
	fail "lib/engine.c calls write(2) for something other than its eventfd"

# The file endpoint does its device's work: it must show up here, or the
# checks above read the wrong files.
for f in open64 ioctl fsync; do
	calls file | grep -qx "$f" || fail "lib/file.c does not call $f: is the test reading the right objects?"
done

# The backends report system calls, never the engine's I/Os.
for o in backend_uring backend_threads; do
	bad=$(calls $o | grep -E '^kc_io_|^kc_.*subjob|^kc_job' | tr '\n' ' ')
	[ -z "$bad" ] || fail "lib/$o.c reaches into the engine: $bad"
	calls $o | grep -qx kc_sys_report || fail "lib/$o.c does not report through kc_sys_report"
done
exit 0
