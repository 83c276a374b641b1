#!/usr/bin/env bash
# bench/compare.sh: two builds of kcopyd side by side in one run (see
# bench/README.md): the current tree and an earlier revision.
#
#   bash bench/compare.sh [--base REV] [--rounds N] [--quick] [--out FILE]
#                         [--no-deps] [--cases 1,2,4,5,6]
#
# REV (default 6e0894a, the tree before the engine redesign of issue 9) is
# checked out in a detached worktree under build-bench-base/src (removed at
# exit) and built into build-bench-base/build with the options of
# build-bench/, where the current tree is built.  Cases 1, 2, 4, 5 and 6 run
# both builds' tools in every round, every output is checked, and the
# section between <!-- compare: begin --> and <!-- compare: end --> of
# BENCHMARKS.md is rewritten by bench/compare.py.  Raw results stay in
# build-bench/compare-results/<date>/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-bench                 # the current tree, as run.sh builds it
BASE_DIR=$ROOT/build-bench-base
BASE_SRC=$BASE_DIR/src
BASE_BUILD=$BASE_DIR/build
BASE_REV=6e0894a
QUICK=0
CASES=1,2,4,5,6
ROUNDS=
OUT=$ROOT/BENCHMARKS.md
DEPS=1
TIMEOUT=600                             # seconds for any one run

usage() {
	sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--base) BASE_REV=${2:?--base needs a revision}; shift ;;
	--base=*) BASE_REV=${1#*=} ;;
	--rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
	--rounds=*) ROUNDS=${1#*=} ;;
	--quick) QUICK=1 ;;
	--cases) CASES=${2:?--cases needs a list}; shift ;;
	--cases=*) CASES=${1#*=} ;;
	--out) OUT=${2:?--out needs a file}; shift ;;
	--out=*) OUT=${1#*=} ;;
	--no-deps) DEPS=0 ;;
	-h|--help) usage 0 ;;
	*) echo "compare.sh: unknown option $1" >&2; usage 2 ;;
	esac
	shift
done
[[ $CASES =~ ^[12456](,[12456])*$ ]] ||
	{ echo "compare.sh: --cases takes 1, 2, 4, 5 and 6, like 4,6" >&2; exit 2; }
[ -z "$ROUNDS" ] && ROUNDS=$((QUICK ? 3 : 5))
if ! [[ $ROUNDS =~ ^[0-9]+$ ]] || [ "$ROUNDS" -lt 1 ]; then
	echo "compare.sh: --rounds must be a number >= 1" >&2
	exit 2
fi
OUT=$(realpath -m "$OUT")
BASE_FULL=$(git -C "$ROOT" rev-parse --verify --quiet "$BASE_REV^{commit}") ||
	{ echo "compare.sh: $BASE_REV is not a revision of $ROOT" >&2; exit 2; }

# Sizes: --quick shrinks case 4 only (as run.sh does); the others are short.
C4_VIRT_GIB=$((QUICK ? 2 : 8))
C5_JOBS=100000
C6_JOBS=1000000

STAMP=$(date +%Y%m%d-%H%M%S)
RES=$BUILD/compare-results/$STAMP
SHM=/dev/shm/kcopyd-compare.$$
DISK=/var/tmp/kcopyd-compare.$$         # not used by these cases; removed anyway
T0=$SECONDS
WORKTREE_ADDED=0

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"

cleanup() {
	local rc=$?
	rm -rf "$SHM" "$DISK"
	if [ "$WORKTREE_ADDED" = 1 ]; then
		git -C "$ROOT" worktree remove --force "$BASE_SRC" 2>/dev/null || rm -rf "$BASE_SRC"
		git -C "$ROOT" worktree prune 2>/dev/null || true
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- set-up: the two builds -------------------------------------------------------

# The options build-bench/ was set up with (run.sh's plain `meson setup`,
# the project's defaults unless someone changed them), as -D arguments, so
# that the base is built exactly alike.
SAME_OPTS=(buildtype optimization debug b_ndebug b_lto b_sanitize b_pie werror warning_level c_std c_args
	c_link_args)
build_opts() {
	meson introspect --buildoptions "$BUILD" | python3 -c '
import json, sys
want = sys.argv[1:]
for o in json.load(sys.stdin):
    if o["name"] in want:
        v = o["value"]
        if isinstance(v, list):
            v = ",".join(v)
        elif isinstance(v, bool):
            v = "true" if v else "false"
        print("-D%s=%s" % (o["name"], v))
' "${SAME_OPTS[@]}"
}

build_new() {
	log "building the current tree into $BUILD"
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$ROOT" >"$RES/meson-setup-new.log" 2>&1 ||
			{ cat "$RES/meson-setup-new.log" >&2; exit 1; }
	fi
	ninja -C "$BUILD" bench/fcmp >"$RES/build-new.log" 2>&1 ||
		{ cat "$RES/build-new.log" >&2; exit 1; }
	FCMP=$BUILD/bench/fcmp
	build_tools new "$BUILD"
}

build_base() {
	local opts
	BASE_DESC=$(git -C "$ROOT" log -1 --format='%h %s' "$BASE_FULL" | cut -c1-100)
	mkdir -p "$BASE_DIR"
	# What an interrupted run left behind.
	if [ -e "$BASE_SRC" ]; then
		git -C "$ROOT" worktree remove --force "$BASE_SRC" 2>/dev/null || rm -rf "$BASE_SRC"
	fi
	git -C "$ROOT" worktree prune
	log "checking out $BASE_REV in $BASE_SRC"
	git -C "$ROOT" worktree add --detach "$BASE_SRC" "$BASE_FULL" >"$RES/worktree.log" 2>&1 ||
		{ cat "$RES/worktree.log" >&2; exit 1; }
	WORKTREE_ADDED=1
	mapfile -t opts < <(build_opts)
	printf '%s\n' "${opts[@]}" >"$RES/build-options.txt"
	log "building $BASE_REV into $BASE_BUILD (${opts[*]})"
	rm -rf "$BASE_BUILD"
	meson setup "${opts[@]}" "$BASE_BUILD" "$BASE_SRC" >"$RES/meson-setup-base.log" 2>&1 ||
		{ cat "$RES/meson-setup-base.log" >&2; exit 1; }
	build_tools base "$BASE_BUILD"
	note 0 "Both builds: \`meson setup ${opts[*]}\` (the options of build-bench/, which run.sh sets up with the project's defaults), the same compiler; the base in build-bench-base/build from a worktree of $BASE_REV."
}

# build_tools NAME DIR: builds the command and the bench programs of one
# build, each on its own, and sets HAVE[tool@NAME] for what built and takes
# the options the cases use.
declare -A HAVE=()
# shellcheck disable=SC2034 # set and read through local -n kc=KC_<build>
KC_new=() KC_base=()
build_tools() {
	local b=$1 dir=$2 t
	for t in cmd/kcopyd bench/lib-copy bench/lib-jobs; do
		if ! ninja -C "$dir" "$t" >>"$RES/build-$b.log" 2>&1; then
			note 0 "$b build: \`ninja $t\` failed (build-$b.log): its rows are missing."
			continue
		fi
		case $t in
		cmd/kcopyd) cli_for "$b" "$dir/cmd/kcopyd" && HAVE[kcopyd@$b]=1 ;;
		bench/lib-copy) takes "$b" "$dir/$t" --sparse && HAVE[lib-copy@$b]=1 ;;
		bench/lib-jobs)
			takes "$b" "$dir/$t" cow --window --seed queue --job-sectors --pages && HAVE[lib-jobs@$b]=1 ;;
		esac
	done
}

# takes BUILD PROG WORD...: the help of PROG names every WORD (else a note).
takes() {
	local b=$1 p=$2 help w
	shift 2
	help=$("$p" --help 2>&1 || true)
	for w; do
		if [[ $help != *"$w"* ]]; then
			note 0 "$b build: ${p##*/} has no $w (its --help): its rows are missing."
			return 1
		fi
	done
}

# cli_for BUILD PROG: KC_<BUILD> is how that build's command copies, after a
# smoke test (3 MiB to two new files on /dev/shm, compared).  As in run.sh,
# --force is added, with a note, only if the command asks for it to create
# files under /dev (early versions did).
cli_for() {
	local b=$1 p=$2 help d=$SHM/smoke-$1 log=$RES/smoke-$1.log
	local -n kc=KC_$b
	help=$("$p" copy --help 2>&1 || true)
	kc=("$p" copy)
	[[ $help == *--no-progress* ]] && kc+=(--no-progress)
	mkdir -p "$d"
	head -c $((3 * 1024 * 1024 + 512)) /dev/urandom >"$d/in"
	if ! smoke "$d" "${kc[@]}" >"$log" 2>&1 && grep -q -- '--force' "$log" && [[ $help == *--force* ]]; then
		kc+=(--force)
		note 0 "$b build: \`kcopyd copy\` refuses to create a new file under /dev (so in /dev/shm) without --force; its runs pass --force, which changes nothing else for regular files."
	fi
	if ! smoke "$d" "${kc[@]}" >>"$log" 2>&1; then
		note 0 "$b build: the kcopyd command failed its smoke test (smoke-$b.log): its rows are missing."
		rm -rf "$d"
		return 1
	fi
	rm -rf "$d"
}
smoke() { # DIR CMD...
	local d=$1
	shift
	rm -f "$d/out1" "$d/out2"
	timeout 60 "$@" "$d/in" "$d/out1" "$d/out2" && "$FCMP" "$d/in" "$d/out1" "$d/out2"
}

# tool_cmd TOOL@BUILD: CMD is the program (and options) of that build.
tool_cmd() {
	local b=${1#*@} dir=$BUILD
	[ "$b" = base ] && dir=$BASE_BUILD
	case ${1%@*} in
	kcopyd)
		# shellcheck disable=SC2178 # kc names the array KC_<build>
		local -n kc=KC_$b
		CMD=("${kc[@]}") ;;
	lib-copy) CMD=("$dir/bench/lib-copy") ;;
	lib-*) CMD=("$dir/bench/lib-jobs") ;;
	esac
}

# pairs PROG NAME...: NAME@base NAME@new for each NAME, leaving out a build
# whose PROG is missing (a note says so at the top).
pairs() {
	local p=$1 n b
	shift
	for n; do
		for b in base new; do
			[ -n "${HAVE[$p@$b]:-}" ] && echo "$n@$b"
		done
	done
	return 0
}

# Each round runs the two builds of a tool back to back; which goes first
# alternates from round to round (round 1 base first, round 2 new first...),
# so that neither always follows the same run.
round_order() {
	local r=$1
	shift
	while [ $# -gt 0 ]; do
		if ((r % 2 == 0)) && [[ $1 == *@base && ${2:-} == "${1%@base}@new" ]]; then
			printf '%s\n%s\n' "$2" "$1"
			shift 2
		else
			printf '%s\n' "$1"
			shift
		fi
	done
}

machine_info() {
	{
		printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
		printf 'nproc\t%s\n' "$(nproc)"
		printf 'cpu\t%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
		printf 'kernel\t%s\n' "$(uname -r)"
		printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
		printf 'base\t%s\n' "$BASE_DESC"
		printf 'new\t%s\n' "$(git -C "$ROOT" log -1 --format='%h %s' | cut -c1-100)$(
			git -C "$ROOT" diff --quiet HEAD -- lib include cmd 'bench/*.c' 'bench/*.h' || echo ' (with uncommitted changes)')"
		printf 'mode\t%s\n' "$([ "$QUICK" = 1 ] && echo quick || echo full)"
		printf 'rounds\t%s\n' "$ROUNDS"
		printf 'cases\t%s\n' "$CASES"
		printf 'c4_virt_gib\t%s\nc5_jobs\t%s\nc6_jobs\t%s\n' "$C4_VIRT_GIB" "$C5_JOBS" "$C6_JOBS"
	} >"$RES/machine.tsv"
}

# ---- the inputs ---------------------------------------------------------------------

IN1G=$SHM/in-1g
make_inputs() {
	log "making 1 GiB of random data in $IN1G"
	random_file "$IN1G" 1024
}

# ---- case 1: 1 GiB on /dev/shm -> one new file; the limit: cp, dd --------------------

c1_prep() { rm -f "$SHM/out1"; }
c1_run() {
	case $1 in
	cp) timed 1 "$1" "$2" cp "$IN1G" "$SHM/out1" ;;
	dd) timed 1 "$1" "$2" dd if="$IN1G" of="$SHM/out1" bs=1M status=none ;;
	*) tool_cmd "$1"; timed 1 "$1" "$2" "${CMD[@]}" "$IN1G" "$SHM/out1" ;;
	esac
}
c1_check() { "$FCMP" "$IN1G" "$SHM/out1"; }

case1() {
	enough_space 1 /dev/shm $((1024 * 2 + 1024)) || return 0
	label 1 kcopyd "\`kcopyd copy --no-progress SRC DST\` (flushes)"
	label 1 lib-copy "\`bench/lib-copy SRC DST\`: the library, one kcopyd_copy(), 1024 pages, flushes"
	label 1 cp "the limit: \`cp SRC DST\` (no flush), the fastest peer in BENCHMARKS.md"
	label 1 dd "the limit as a plain read + write: \`dd if=SRC of=DST bs=1M\` (no flush)"
	# shellcheck disable=SC2046
	run_case 1 $(pairs kcopyd kcopyd) $(pairs lib-copy lib-copy) cp dd
}

# ---- case 2: the same -> 4 new files ------------------------------------------------

C2_OUTS=()
c2_prep() { rm -f "${C2_OUTS[@]}"; }
c2_run() { tool_cmd "$1"; timed 2 "$1" "$2" "${CMD[@]}" "$IN1G" "${C2_OUTS[@]}"; }
c2_check() { "$FCMP" "$IN1G" "${C2_OUTS[@]}"; }

case2() {
	enough_space 2 /dev/shm $((1024 * 5 + 1024)) || return 0
	C2_OUTS=("$SHM/out1" "$SHM/out2" "$SHM/out3" "$SHM/out4")
	label 2 kcopyd "\`kcopyd copy --no-progress SRC D1 D2 D3 D4\` (reads once, flushes)"
	label 2 lib-copy "\`bench/lib-copy SRC D1 D2 D3 D4\`: one kcopyd_copy() to 4 destinations"
	# shellcheck disable=SC2046
	run_case 2 $(pairs kcopyd kcopyd) $(pairs lib-copy lib-copy)
}

# ---- case 4: a sparse image -> a new file -------------------------------------------

C4_SPARSE=$SHM/sparse
c4_prep() { rm -f "$SHM/out-sparse"; }
c4_run() {
	tool_cmd "$1"
	[[ $1 == lib-copy@* ]] && CMD+=(--sparse)
	timed 4 "$1" "$2" "${CMD[@]}" "$C4_SPARSE" "$SHM/out-sparse"
}
c4_check() {
	EXTRA="alloc_kb=$(du -k "$SHM/out-sparse" | cut -f1)"
	"$FCMP" "$C4_SPARSE" "$SHM/out-sparse"
}

case4() {
	enough_space 4 /dev/shm $((C4_VIRT_GIB * 1024 + 2048)) || return 0
	sparse_image "$C4_SPARSE" "$C4_VIRT_GIB" "$IN1G"     # the image of run.sh's case 4
	label 4 kcopyd "\`kcopyd copy --no-progress IMG DST\` (sparse by default, flushes)"
	label 4 lib-copy "\`bench/lib-copy --sparse IMG DST\`: the library alone (KCOPYD_SKIP_ZEROES; it reads every hole)"
	note 4 "IMG: ${C4_VIRT_GIB} GiB, 64 extents of 1 MiB of random data spread over it (as in run.sh's case 4), the rest holes, on /dev/shm."
	[ "$QUICK" = 1 ] && note 4 "--quick: a ${C4_VIRT_GIB} GiB image instead of 8 GiB."
	# shellcheck disable=SC2046
	run_case 4 $(pairs kcopyd kcopyd) $(pairs lib-copy lib-copy)
	rm -f "$C4_SPARSE"
}

# ---- case 5: 4 KiB copy-on-write jobs through the library ---------------------------

c5_prep() { :; }
c5_run() {
	# Both builds copy the same random blocks in a round (the same seed).
	tool_cmd "$1"
	timed 5 "$1" "$2" "${CMD[@]}" cow --jobs "$C5_JOBS" --window 32 --seed $(($2 + 1)) \
		"$SHM/c5-src" "$SHM/c5-dst"
}
c5_check() { EXTRA=$(kv_line); [[ $EXTRA == *" ok=1"* ]]; }

case5() {
	enough_space 5 /dev/shm 3072 || return 0
	cp "$IN1G" "$SHM/c5-src"
	dd if=/dev/zero of="$SHM/c5-dst" bs=1M count=1024 status=none
	label 5 lib-jobs-cow "\`bench/lib-jobs cow --jobs $C5_JOBS --window 32 --seed ROUND\`: 4 KiB jobs at random offsets of a 1 GiB file, at most 32 outstanding; checks 4096 of them"
	note 5 "The wall time includes writing and checking the 4096 patterned blocks; jobs/s is the copying phase alone (lib-jobs' own figure)."
	# shellcheck disable=SC2046
	run_case 5 $(pairs lib-jobs lib-jobs-cow)
	rm -f "$SHM/c5-src" "$SHM/c5-dst"
}

# ---- case 6: a million queued jobs ------------------------------------------------------

c6_prep() { rm -f "$SHM/c6-dst"; }
c6_run() {
	tool_cmd "$1"
	timed 6 "$1" "$2" "${CMD[@]}" queue --jobs "$C6_JOBS" --pages 1024 --job-sectors 1 \
		"$SHM/c6-src" "$SHM/c6-dst"
}
c6_check() { EXTRA=$(kv_line); [[ $EXTRA == *" ok=1"* ]]; }

case6() {
	enough_space 6 /dev/shm 512 || return 0
	dd if="$IN1G" of="$SHM/c6-src" bs=1M count=64 status=none
	label 6 lib-jobs-queue "\`bench/lib-jobs queue --jobs $C6_JOBS --pages 1024 --job-sectors 1\`: every job queued while a prepared callback holds the client's thread, then run"
	# shellcheck disable=SC2046
	run_case 6 $(pairs lib-jobs lib-jobs-queue)
	rm -f "$SHM/c6-src"
}

# ---- main ---------------------------------------------------------------------------------

mkdir -p "$RES/logs" "$SHM"
: >"$RES/results.tsv"
: >"$RES/notes.tsv"
: >"$RES/labels.tsv"
if [ "$DEPS" = 1 ]; then
	log "installing dependencies (scripts/deps.sh --bench)"
	bash "$ROOT/scripts/deps.sh" --bench
fi
build_new
build_base
if git -C "$ROOT" diff --quiet "$BASE_REV" -- bench/lib-copy.c bench/lib-jobs.c bench/benchutil.c \
	bench/benchutil.h bench/meson.build; then
	note 0 "bench/lib-copy and bench/lib-jobs have the same source in both trees; each is built against its own tree's library. Every output is checked with the current tree's bench/fcmp."
else
	note 0 "bench/lib-copy or bench/lib-jobs differ between $BASE_REV and the current tree (\`git diff $BASE_REV -- bench/*.c\`): each build runs its own, with the options both take. Every output is checked with the current tree's bench/fcmp."
fi
machine_info
log "results in $RES"
make_inputs
for c in 1 2 4 5 6; do
	if [[ ,$CASES, == *,$c,* ]]; then "case$c"; fi
done
printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/machine.tsv"
printf 'duration\t%s s\n' "$((SECONDS - T0))" >>"$RES/machine.tsv"
python3 "$ROOT/bench/compare.py" "$RES" "$OUT"
log "wrote the comparison into $OUT in $((SECONDS - T0)) s"
