# Sourced by every test in tests/cli (this file is not a test: the runner
# only runs *.sh).  Gives each test a scratch directory, cleanup of loop
# devices and mounts however the test ends, and small helpers.
set -u
: "${KCOPYD:?KCOPYD must name the kcopyd executable}"
[ -x "$KCOPYD" ] || { echo "no executable at $KCOPYD"; exit 1; }
KCOPYD=$(realpath "$KCOPYD")
# The system's Python starts in a tenth of the time of a version manager's shim.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
T=$(mktemp -d "${TMPDIR:-/tmp}/kcopyd-cli.XXXXXX")
_loops=() _mounts=() _pids=()

_cleanup() {
	local i
	for i in "${_pids[@]}"; do kill "$i" 2>/dev/null; wait "$i" 2>/dev/null; done
	# Mounts may sit on loop devices and loop devices on files in mounts:
	# unmount, detach, then unmount what the loop devices kept busy.  A
	# read-only flag (blockdev --setro) outlives the detach: clear it, or
	# the next test to get this device finds it read-only.
	for ((i = ${#_mounts[@]} - 1; i >= 0; i--)); do umount "${_mounts[i]}" 2>/dev/null; done
	for i in "${_loops[@]}"; do blockdev --setrw "$i" 2>/dev/null; losetup -d "$i" 2>/dev/null; done
	for ((i = ${#_mounts[@]} - 1; i >= 0; i--)); do
		mountpoint -q "${_mounts[i]}" 2>/dev/null && umount "${_mounts[i]}" 2>/dev/null
	done
	rm -rf "$T"
}
trap _cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip "needs $1"; }

# k ARGS...: run kcopyd with stdout in $T/out and stderr in $T/err; sets rc.
k() {
	"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	return 0
}

# expect CODE ARGS...: kcopyd must exit with CODE.
expect() {
	local want=$1; shift
	k "$@"
	if [ "$rc" -ne "$want" ]; then
		echo "--- stdout"; cat "$T/out"; echo "--- stderr"; cat "$T/err"
		fail "kcopyd $* exited $rc, expected $want"
	fi
}

# err_has TEXT: the last run's stderr mentions TEXT.
err_has() { grep -qF -- "$1" "$T/err" || { cat "$T/err"; fail "stderr lacks '$1'"; }; }

# refused WHAT MSG ARGS...: kcopyd ARGS exits 2 (a set-up refusal) saying
# MSG, and changes none of the files named in the array files (their
# checksums), nor creates a file named new.
# (A file system writes its own device when a file on it is read: the
# access time.  The files are read once and everything synced before the
# first look, so that only a write of the run can differ.)
refused() {
	local what=$1 msg=$2 f i; shift 2
	local -a before=()
	for f in "${files[@]}"; do digest "$f" >/dev/null; done
	sync
	for f in "${files[@]}"; do before+=("$(digest "$f")"); done
	expect 2 "$@"
	err_has "$msg"
	sync
	for i in "${!files[@]}"; do
		[ "${before[i]}" = "$(digest "${files[i]}")" ] ||
			fail "$what: a refused run changed ${files[i]}"
	done
	[ ! -e new ] || fail "$what: new was created"
}

# refused_swap FILE N WHAT MSG ARGS...: refused, for a FILE that holds
# live swap, which the kernel may write at any time (memory pressure
# anywhere on the machine): exit 2, MSG, and FILE's first N bytes (those
# before the swap area and its header, which the kernel leaves alone;
# every refused case must write there, or only its exit code shows it)
# still as saved in FILE.head; src as $srcsum says; no new.
refused_swap() {
	local file=$1 n=$2 what=$3 msg=$4; shift 4
	expect 2 "$@"
	err_has "$msg"
	sync
	cmp -s "$file.head" <(head -c "$n" "$file") ||
		fail "$what: a refused run changed $file before or at the swap header"
	[ "$(digest src)" = "$srcsum" ] || fail "$what: a refused run changed src"
	[ ! -e new ] || fail "$what: new was created"
}

# snapshot: every name under the scratch directory (but the last command's
# out and err, and the directory named by $SNAPSHOT_SKIP, if any), and the
# checksum of every file.
snapshot() {
	local skip=./${SNAPSHOT_SKIP:-out}
	find . -path ./out -o -path ./err -o -path "$skip" -prune -o -print | sort
	find . -path "$skip" -prune -o -type f ! -path ./out ! -path ./err -print0 | sort -z |
		xargs -0 sha256sum
}

# log_refused LOG WHAT ARGS...: copy --log LOG ARGS exits 2, the message
# names LOG and WHAT, and no file changed (nor was created, nor removed).
# (Read once and synced first, as in refused: a file system mounted from
# a file here writes its image when its files are read.)
log_refused() {
	local log=$1 what=$2 before after; shift 2
	snapshot >/dev/null; sync
	before=$(snapshot)
	expect 2 copy --log "$log" "$@"
	err_has "--log $log: "
	err_has "$what"
	sync
	after=$(snapshot)
	[ "$before" = "$after" ] || fail "files changed: $(diff <(echo "$before") <(echo "$after"))"
}

same() { cmp -- "$1" "$2" || fail "$2 differs from $1"; }

digest() { if [ -e "$1" ]; then sha256sum <"$1"; else echo missing; fi; }

# random FILE BYTES [AT]: random bytes written into FILE at byte AT.
random() {
	head -c "$2" /dev/urandom |
		dd of="$1" bs=64K seek="${3:-0}" oflag=seek_bytes conv=notrunc iflag=fullblock status=none
}

# flip FILE AT: the byte at AT replaced by its complement, so it differs
# whatever it was (a fixed byte written over random data is the same one
# time in 256).
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 -- "$1" | tr -d ' ')
	[ -n "$b" ] || fail "flip: $1 has no byte $2"
	printf "\\$(printf %03o $((255 - b)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# sparse FILE: about 9 MiB of random data, holes, a block of written
# zeros, and a size that is not a multiple of 512.
sparse() {
	local f=$1
	rm -f "$f"
	random "$f" $((1024 * 1024)) 0                     # data
	truncate -s $((3 * 1024 * 1024)) "$f"              # hole
	random "$f" $((2 * 1024 * 1024 + 1000)) $((3 * 1024 * 1024))
	dd if=/dev/zero of="$f" bs=64K count=4 seek=$((6 * 16)) conv=notrunc status=none  # zeros, allocated
	truncate -s $((9 * 1024 * 1024)) "$f"              # hole
	random "$f" $((100 * 1024 + 333)) $((9 * 1024 * 1024))
}

# allocated FILE: blocks the file really has on disk, in bytes.
allocated() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }

# loopdev VAR FILE [losetup options]: attach FILE, device name in VAR.
# (A variable, not $(...): the list of devices to detach at exit must be
# kept by this shell, not by a subshell.)
loopdev() {
	local _var=$1 _file=$2 _dev; shift 2
	_dev=$(losetup -f --show "$@" "$_file" 2>/dev/null) || return 1
	_loops+=("$_dev")
	printf -v "$_var" %s "$_dev"
}
need_loop() {
	need_root
	need_cmd losetup
	truncate -s 1M "$T/.probe"
	local d
	d=$(losetup -f --show "$T/.probe" 2>/dev/null) || skip "losetup does not work here"
	losetup -d "$d"
	rm -f "$T/.probe"
}

# tmpfs DIR SIZE [options]: mount a tmpfs; unmounted at exit.
tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2${3:+,$3}" tmpfs "$1" 2>/dev/null || skip "cannot mount tmpfs"
	_mounts+=("$1")
}

# ovl DIR OPTIONS: mount an overlay on DIR with mount(2) (an option
# string); unmounted at exit.  Fails (1) if the kernel refuses it.
ovl() {
	mkdir -p "$1"
	mount -t overlay overlay -o "$2" "$1" 2>/dev/null || return 1
	_mounts+=("$1")
}
# shares_refused ARGS...: kcopyd copy ARGS is refused as the same storage.
shares_refused() {
	expect 2 copy "$@"
	err_has "shares its storage"
}

# flocked FILE [WRITE|READ]: someone holds a flock on FILE (of that kind),
# as /proc/locks says.  Asking without taking a lock ourselves: a probe
# with flock(1) would hold one for a moment, and could be what refuses the
# very run it waits for.
flocked() {
	local ino
	ino=$(stat -L -c %i -- "$1" 2>/dev/null) || return 1
	grep -qE "FLOCK +ADVISORY +${2:-(READ|WRITE)} +[0-9]+ [0-9a-f]+:[0-9a-f]+:$ino " /proc/locks
}

# signals_taken PID [TRIES]: wait (10 ms a try, default 500) until kcopyd
# PID has started, that is blocks its stop signals for its signal thread to
# take them: SIGINT, SIGUSR1 and SIGUSR2 in SigBlk.  (Not SIGINT alone: the
# shell's child blocks that for a moment before it runs kcopyd, and a
# signal then has the default action.)  Fails if it never does.
signals_taken() {
	local blk i
	for ((i = 0; i < ${2:-500}; i++)); do
		blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/"$1"/status 2>/dev/null)
		[ -n "$blk" ] && (( (0x$blk & 0xa02) == 0xa02 )) && return 0
		sleep 0.01
	done
	return 1
}

# background PID to kill at exit.
bg_pid() { _pids+=("$1"); }

# hold DEV: another program holds block device DEV open O_EXCL (as a
# mount does) until the test ends; skips the test if it cannot.
hold() {
	local out=$T/.hold.$RANDOM
	"$PY" -c 'import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL)
print("held", flush=True)
time.sleep(120)' "$1" >"$out" &
	bg_pid $!
	for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
	[ -s "$out" ] || skip "could not hold $1"
}

# json EXPR: evaluate a Python expression over the JSON on the last stdout
# (as j); prints the result.
json() {
	"$PY" -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$T/out" "$1" || fail "stdout is not the expected JSON: $(cat "$T/out")"
}

# json_is EXPR VALUE
json_is() {
	local got
	got=$(json "$1")
	[ "$got" = "$2" ] || fail "JSON $1 is '$got', expected '$2'"
}

cd "$T" || exit 1

# during ACTION ARGS...: kcopyd ARGS in the background, ACTION (a shell
# command) run $DURING_AFTER seconds in (default 0.3); sets rc.
during() {
	local action=$1 pid; shift
	"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	sleep "${DURING_AFTER:-0.3}"
	eval "$action"
	wait "$pid"
	rc=$?
}
