# Sourced by the tests that run the command over faultfs (it sources
# common.bash first; tests/faultfs/faultfs.c's header documents the rule
# lines).  Not a test itself: the runner runs only *.sh.
#
#   ff_begin [FUSE OPTS...]   the usual start: need_faultfs, ff_engines, ff_mount m
#                             (with the options), and M (1 MiB)
#   need_faultfs              skip (77) without /dev/fuse, fusermount3 or the binary
#   ff_mount DIR              mount a faultfs of DIR.back (created) on DIR (created);
#                             unmounted at exit however the test ends
#   ff_rule DIR LINE...       add rules (one LINE each) to the mount DIR
#   ff_clear DIR              remove every rule
#   ff_fired DIR N            how many times rule N (from 0) fired
#   ff_umount DIR             unmount now
#   ff_engines                the engines to run every case with: threads, and
#                             io_uring where it works (in $ENGINES)
#   same_range A B OFF LEN    bytes OFF..OFF+LEN of A and B are equal
#   src_or_old DEST SRC OLD BS OFF LEN
#                             every BS-byte block of DEST in OFF..OFF+LEN equals
#                             the same block of SRC or of OLD (never a mix, never
#                             anything else)
#   fk ENGINE ARGS...         k with KCOPYD_ENGINE=ENGINE
#   fexpect CODE ENGINE ARGS...  expect with KCOPYD_ENGINE=ENGINE
#   run_case NAME FUNCTION    one case in a subshell: "ok NAME" or "FAIL NAME"
#   cases_done                the tally; exit 1 if a case failed
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
FAULTFS=${FAULTFS:-${KCOPYD_BUILD:-}/tests/faultfs/faultfs}
_ff_mounts=() _ff_pids=()

ff_begin() {
	# The io_uring engine reads and writes a FUSE file through threads of
	# its own (kcopyd(3), KCOPYD_ENGINE); these tests are for its own
	# handling of the errors, which it meets on local disks too: files on
	# faultfs go through io_uring as any other (ff-eagain.sh runs without).
	export KCOPYD_TEST_URING=${KCOPYD_TEST_URING:+$KCOPYD_TEST_URING,}userfs
	need_faultfs
	ff_engines
	ff_mount m "$@"
	M=1048576
}

need_faultfs() {
	[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] || skip "no usable /dev/fuse"
	[ -x "$FAULTFS" ] || skip "no faultfs binary at $FAULTFS (libfuse3-dev missing at build time?)"
	need_cmd fusermount3
	need_cmd mountpoint
}

# Runs before common.bash's _cleanup: loop devices over faultfs files go
# first (a mount with a loop device on it is busy), then the mounts, then
# the daemons, which exit by themselves once unmounted.
_ff_cleanup() {
	local i n dev back
	for i in "${_loops[@]}"; do losetup -d "$i" 2>/dev/null; done
	# Also those attached in a case's subshell, which this shell does not
	# know of: every loop device whose backing file is in one of our mounts.
	if [ ${#_ff_mounts[@]} -gt 0 ] && command -v losetup >/dev/null; then
		while read -r dev back; do
			for i in "${_ff_mounts[@]}"; do
				case $back in "$i"/*) losetup -d "$dev" 2>/dev/null ;; esac
			done
		done < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null)
	fi
	for ((i = ${#_ff_mounts[@]} - 1; i >= 0; i--)); do
		mountpoint -q "${_ff_mounts[i]}" || continue
		fusermount3 -u "${_ff_mounts[i]}" 2>/dev/null ||
			fusermount3 -uz "${_ff_mounts[i]}" 2>/dev/null ||
			umount -l "${_ff_mounts[i]}" 2>/dev/null
	done
	for i in "${_ff_pids[@]}"; do
		for ((n = 0; n < 50; n++)); do
			kill -0 "$i" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$i" 2>/dev/null
		wait "$i" 2>/dev/null
	done
	_ff_mounts=() _ff_pids=()
}
trap '_ff_cleanup; _cleanup' EXIT
# A test killed by the runner's timeout still unmounts.
trap 'exit 143' TERM
trap 'exit 130' INT

# ff_mount DIR [FUSE OPTIONS...]: mount faultfs on DIR over DIR.back
# (16 threads unless the options say otherwise: -s serves one request at a
# time, as a slow device does).
ff_mount() {
	local dir=$1 n pid opts=(-o max_threads=16); shift
	[ $# -gt 0 ] && opts=("$@")
	mkdir -p "$dir" "$dir.back"
	# Under a sanitizer build the daemon must not stop at a report (its
	# reports, in DIR.log, are not the command's).
	TSAN_OPTIONS="halt_on_error=0 exitcode=0" ASAN_OPTIONS="detect_leaks=0" \
	UBSAN_OPTIONS="halt_on_error=0" \
		"$FAULTFS" "$dir.back" "$dir" -f "${opts[@]}" 2>>"$dir.log" &
	pid=$!
	_ff_pids+=("$pid")
	_ff_mounts+=("$(realpath "$dir")")
	for ((n = 0; n < 100; n++)); do
		mountpoint -q "$dir" && [ -e "$dir/.faultfs" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$dir.log" >&2
	skip "faultfs did not mount on $dir"
}

ff_umount() {
	local dir i
	dir=$(realpath "$1")
	fusermount3 -u "$dir" || fail "fusermount3 -u $dir"
	for ((i = 0; i < 50; i++)); do
		mountpoint -q "$dir" || return 0
		sleep 0.1
	done
	fail "$dir still mounted"
}

ff_rule() {
	local dir=$1 line; shift
	for line in "$@"; do
		printf '%s\n' "$line" >"$dir/.faultfs" || fail "faultfs refused the rule '$line'"
	done
}
ff_clear() { printf 'clear\n' >"$1/.faultfs" || fail "faultfs clear"; }
ff_fired() {
	sed -n "s/^$2 seen=[0-9]* fired=\([0-9]*\):.*/\1/p" "$1/.faultfs"
}
# ff_fires DIR N: rule N fired at least once (a fault that never fired
# proves nothing).
ff_fires() {
	local n
	n=$(ff_fired "$1" "$2")
	[ "${n:-0}" -gt 0 ] || { cat "$1/.faultfs"; fail "rule $2 on $1 never fired"; }
}

ff_engines() {
	ENGINES=(threads)
	head -c 4096 /dev/urandom >"$T/.eng"
	KCOPYD_ENGINE=io_uring "$KCOPYD" copy -q "$T/.eng" "$T/.eng2" >/dev/null 2>&1 && ENGINES+=(io_uring)
	rm -f "$T/.eng" "$T/.eng2"
}

fk() { local e=$1; shift; KCOPYD_ENGINE=$e k "$@"; }
fexpect() {
	local code=$1 e=$2; shift 2
	KCOPYD_ENGINE=$e expect "$code" "$@"
}

same_range() {
	cmp -s -i "$3:$3" -n "$4" -- "$1" "$2" ||
		fail "$2 differs from $1 in bytes $3..$(($3 + $4))"
}

src_or_old() {
	"$PY" - "$@" <<'EOF' || fail "$1 holds bytes that are neither the source's nor its old ones"
import sys
dest, src, old, bs, off, length = sys.argv[1:4] + [int(x) for x in sys.argv[4:7]]
def rd(p, o, n):
    with open(p, 'rb') as f:
        f.seek(o)
        b = f.read(n)
    return b + bytes(n - len(b))
end = off + length
bad = 0
for o in range(off, end, bs):
    n = min(bs, end - o)
    d = rd(dest, o, n)
    if d != rd(src, o, n) and d != rd(old, o, n):
        print("block at %d is neither" % o, file=sys.stderr)
        bad = 1
sys.exit(bad)
EOF
}

# run_case NAME FUNCTION: run one case in a subshell, so that a failing
# case (fail exits) ends only itself; print "ok NAME" or "FAIL NAME".
# cases_done: print the tally and exit 1 if any case failed.
_ff_failed=() _ff_ran=0
run_case() {
	local name=$1 t0=${EPOCHREALTIME/[.,]/} ms; shift
	_ff_ran=$((_ff_ran + 1))
	if ("$@"); then
		ms=$(((${EPOCHREALTIME/[.,]/} - t0) / 1000))
		echo "ok   $name (${ms} ms)"
	else
		echo "FAIL $name"
		_ff_failed+=("$name")
	fi
}
cases_done() {
	echo "$_ff_ran cases, ${#_ff_failed[@]} failed${_ff_failed[*]:+: ${_ff_failed[*]}}"
	[ ${#_ff_failed[@]} -eq 0 ] && exit 0
	exit 1
}
