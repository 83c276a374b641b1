#!/usr/bin/env bash
# bench/run.sh: the benchmark suite of issue 4 (see bench/README.md).
#
#   bash bench/run.sh [--quick] [--cases 1,2,cli,...] [--rounds N] [--out FILE]
#                     [--no-deps] [--keep]
#
# Installs what it needs (scripts/deps.sh --bench), builds into build-bench/,
# makes its input files, runs every case with the tools alternating run by
# run (one warm-up round, then N counted rounds), checks every output, and
# writes BENCHMARKS.md through bench/report.py.  Raw results and each run's
# output stay in build-bench/bench-results/<date>/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-bench
QUICK=0
CASES=1,2,cli,3,4,5,6
ROUNDS=
OUT=$ROOT/BENCHMARKS.md
DEPS=1
KEEP=0
TIMEOUT=600              # seconds for any one run
KCOPYD=()                # the command and its options, if it is there
KCOPYD_DIRECT=()

usage() {
	sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--cases) CASES=${2:?--cases needs a list}; shift ;;
	--cases=*) CASES=${1#*=} ;;
	--rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
	--rounds=*) ROUNDS=${1#*=} ;;
	--out) OUT=${2:?--out needs a file}; shift ;;
	--out=*) OUT=${1#*=} ;;
	--no-deps) DEPS=0 ;;
	--keep) KEEP=1 ;;
	-h|--help) usage 0 ;;
	*) echo "run.sh: unknown option $1" >&2; usage 2 ;;
	esac
	shift
done
[[ $CASES =~ ^([1-6]|cli)(,([1-6]|cli))*$ ]] ||
	{ echo "run.sh: --cases takes 1-6 and cli (issue 3's comparison), like 1,2,cli" >&2; exit 2; }
[ -z "$ROUNDS" ] && ROUNDS=$((QUICK ? 3 : 5))
if ! [[ $ROUNDS =~ ^[0-9]+$ ]] || [ "$ROUNDS" -lt 1 ]; then
	echo "run.sh: --rounds must be a number >= 1" >&2
	exit 2
fi

# Sizes: --quick shrinks where it does not change what a case shows.
C3_SIZE_MIB=$((QUICK ? 1024 : 2048))   # case 3 source on the disk
C4_VIRT_GIB=$((QUICK ? 2 : 8))          # case 4 sparse image (64 MiB of data either way)
C5_JOBS=$((QUICK ? 50000 : 100000))
C6_JOBS=1000000

STAMP=$(date +%Y%m%d-%H%M%S)
RES=$BUILD/bench-results/$STAMP
SHM=/dev/shm/kcopyd-bench.$$
DISK=/var/tmp/kcopyd-bench.$$
T0=$SECONDS

# log, note, free_mib, enough_space, random_file, sparse_image, timed,
# record, label, run_case, kv_line.
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"

has_case() { [[ ,$CASES, == *,$1,* ]]; }

cleanup() {
	local rc=$?
	if [ "$KEEP" = 1 ]; then
		log "keeping $SHM and $DISK (--keep)"
	else
		rm -rf "$SHM" "$DISK"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- set-up -------------------------------------------------------------------

install_deps() {
	[ "$DEPS" = 1 ] || return 0
	log "installing dependencies (scripts/deps.sh --bench)"
	bash "$ROOT/scripts/deps.sh" --bench
}

build() {
	log "building into $BUILD"
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$ROOT" >"$RES/meson-setup.log" 2>&1 ||
			{ cat "$RES/meson-setup.log" >&2; exit 1; }
	fi
	ninja -C "$BUILD" bench/lib-copy bench/lib-jobs bench/fcmp >"$RES/build.log" 2>&1 ||
		{ cat "$RES/build.log" >&2; exit 1; }
	LIBCOPY=$BUILD/bench/lib-copy
	LIBJOBS=$BUILD/bench/lib-jobs
	FCMP=$BUILD/bench/fcmp
	KCOPYD=()
	# The command is optional: it may not exist (or build) yet.
	if ! ninja -C "$BUILD" cmd/kcopyd >"$RES/build-cmd.log" 2>&1; then
		note 0 "kcopyd command not benchmarked: \`ninja -C build-bench cmd/kcopyd\` failed or has no such target yet (build-bench/bench-results/$STAMP/build-cmd.log); its rows are missing and the ratios use bench/lib-copy (the library) instead."
		return 0
	fi
	local help opts=()
	help=$(KCOPYD_HELP)
	[[ $help == *--no-progress* ]] && opts+=(--no-progress)
	KCOPYD=("$BUILD/cmd/kcopyd" copy "${opts[@]}")
	[[ $help == *--direct* ]] && KCOPYD_DIRECT=(--direct) || KCOPYD_DIRECT=()
	smoke_test_cli
}

# The command must copy a small file correctly, on /dev/shm where most cases
# run, before it is timed.  Early versions refused to create files under /dev
# without --force (a guard against mistyped device names, which /dev/shm
# tripped); the current one only refuses in /dev itself.  --force changes
# nothing else for regular files, so it is added, with a note, only if the
# command asks for it.
smoke_test_cli() {
	local d=$SHM/smoke log=$RES/smoke.log
	mkdir -p "$d"
	head -c $((3 * 1024 * 1024 + 512)) /dev/urandom >"$d/in"
	if ! cli_copies "$d" >"$log" 2>&1 && grep -q -- '--force' "$log" &&
		[[ $(KCOPYD_HELP) == *--force* ]]; then
		KCOPYD+=(--force)
		note 0 "\`kcopyd copy\` refuses to create a new file under /dev (so in /dev/shm) without --force; the benchmark passes --force, which changes nothing else for regular files."
	fi
	if cli_copies "$d" >>"$log" 2>&1; then
		rm -rf "$d"
		return 0
	fi
	rm -rf "$d"
	note 0 "kcopyd command not benchmarked: it failed a smoke test (copy of a 3 MiB file to two new files on /dev/shm, then compare; log in build-bench/bench-results/$STAMP/smoke.log)."
	KCOPYD=()
}

cli_copies() {
	rm -f "$1/out1" "$1/out2"
	timeout 60 "${KCOPYD[@]}" "$1/in" "$1/out1" "$1/out2" && "$FCMP" "$1/in" "$1/out1" "$1/out2"
}

KCOPYD_HELP() { "$BUILD/cmd/kcopyd" copy --help 2>&1 || "$BUILD/cmd/kcopyd" --help 2>&1 || true; }

drop_caches() {
	sync
	if [ -w /proc/sys/vm/drop_caches ]; then
		echo 3 >/proc/sys/vm/drop_caches
	elif [ -z "${WARNED_DROP:-}" ]; then
		WARNED_DROP=1
		note 3 "could not drop the page cache (not root?): reads may come from memory."
	fi
}

machine_info() {
	{
		printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
		printf 'nproc\t%s\n' "$(nproc)"
		printf 'memory\t%s\n' "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
		printf 'kernel\t%s\n' "$(uname -r)"
		printf 'cpu\t%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
		# shellcheck disable=SC1091
		printf 'os\t%s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")"
		printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
		printf 'shm_fs\t%s\n' "$(findmnt -no FSTYPE -T /dev/shm)"
		printf 'disk_fs\t%s\n' "$(findmnt -no SOURCE,FSTYPE -T /var/tmp | tr -s ' ')"
		printf 'rev\t%s\n' "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
		printf 'mode\t%s\n' "$([ "$QUICK" = 1 ] && echo quick || echo full)"
		printf 'rounds\t%s\n' "$ROUNDS"
		printf 'cases\t%s\n' "$CASES"
		printf 'versions\t%s\n' "$(tool_versions)"
		printf 'size_mib_1\t1024\nsize_mib_2\t1024\nsize_mib_3\t%s\n' "$C3_SIZE_MIB"
		printf 'c4_virt_gib\t%s\nc5_jobs\t%s\nc6_jobs\t%s\n' "$C4_VIRT_GIB" "$C5_JOBS" "$C6_JOBS"
	} >"$RES/machine.tsv"
}

tool_versions() {
	local v=()
	v+=("coreutils $(cp --version | awk 'NR == 1 { print $NF }')")
	v+=("$(dcfldd --version 2>&1 | awk 'NR == 1 { print $1, $NF }')")
	v+=("$(nbdcopy --version 2>&1 | head -1)")
	v+=("$(qemu-img --version | awk 'NR == 1 { print $1, $3 }')")
	v+=("$(fio --version)")
	v+=("liburing $(pkg-config --modversion liburing 2>/dev/null || echo '?')")
	local IFS=';'
	echo "${v[*]}"
}

# ---- measuring (timed, record, label, run_case, kv_line: bench/common.sh) ----------

# The rows of the command (kcopyd, then its other rows ARGS), if there is one.
with_cli() { [ ${#KCOPYD[@]} -eq 0 ] || echo kcopyd "$@"; }
# Rows of bench/lib-copy in cases 3 and 4: --quick leaves them out when the
# command, which runs the same engine, is measured.
lib_rows() { [ "$QUICK" = 1 ] && [ ${#KCOPYD[@]} -gt 0 ] || echo "$@"; }

# ---- case 1: 1 GiB on /dev/shm -> one new file --------------------------------

IN1G=
make_in1g() {
	[ -n "$IN1G" ] && return 0
	IN1G=$SHM/in-1g
	log "making 1 GiB of random data in $IN1G"
	random_file "$IN1G" 1024
}

c1_prep() { rm -f "$SHM/out1"; }
c1_run() {
	local o=$SHM/out1
	case $1 in
	kcopyd) timed 1 "$1" "$2" "${KCOPYD[@]}" "$IN1G" "$o" ;;
	lib-copy) timed 1 "$1" "$2" "$LIBCOPY" "$IN1G" "$o" ;;
	cp) timed 1 "$1" "$2" cp "$IN1G" "$o" ;;
	nbdcopy) timed 1 "$1" "$2" nbdcopy "$IN1G" "$o" ;;
	qemu-img) timed 1 "$1" "$2" qemu-img convert -W -m 16 -f raw -O raw "$IN1G" "$o" ;;
	dd) timed 1 "$1" "$2" dd if="$IN1G" of="$o" bs=1M status=none ;;
	esac
}
c1_check() { "$FCMP" "$IN1G" "$SHM/out1"; }

case1() {
	enough_space 1 /dev/shm $((2048 + 1024)) || return 0
	make_in1g
	label 1 kcopyd "\`kcopyd copy --no-progress SRC DST\` (flushes)"
	label 1 lib-copy "\`bench/lib-copy SRC DST\`: the library, one kcopyd_copy(), 1024 pages, flushes"
	label 1 cp "\`cp SRC DST\`"
	label 1 nbdcopy "\`nbdcopy SRC DST\` (local files)"
	label 1 qemu-img "\`qemu-img convert -W -m 16 -f raw -O raw SRC DST\`"
	label 1 dd "\`dd if=SRC of=DST bs=1M\`"
	# shellcheck disable=SC2046
	run_case 1 $(with_cli) lib-copy cp nbdcopy qemu-img dd
}

# ---- case 2: the same -> 4 new files ----------------------------------------------

C2_OUTS=()
c2_prep() { rm -f "${C2_OUTS[@]}"; }
c2_run() {
	local outs=("${C2_OUTS[@]}")
	# shellcheck disable=SC2016 # the loops are for the inner bash
	case $1 in
	kcopyd) timed 2 "$1" "$2" "${KCOPYD[@]}" "$IN1G" "${outs[@]}" ;;
	lib-copy) timed 2 "$1" "$2" "$LIBCOPY" "$IN1G" "${outs[@]}" ;;
	dcfldd) timed 2 "$1" "$2" dcfldd if="$IN1G" of="${outs[0]}" of="${outs[1]}" of="${outs[2]}" \
		of="${outs[3]}" bs=1M status=off ;;
	nbdcopy-x4) timed 2 "$1" "$2" bash -c 'src=$1; shift; for o; do nbdcopy "$src" "$o" || exit; done' \
		_ "$IN1G" "${outs[@]}" ;;
	cp-x4) timed 2 "$1" "$2" bash -c 'src=$1; shift; for o; do cp "$src" "$o" || exit; done' \
		_ "$IN1G" "${outs[@]}" ;;
	esac
}
c2_check() { "$FCMP" "$IN1G" "${C2_OUTS[@]}"; }

case2() {
	enough_space 2 /dev/shm $((1024 * 5 + 1024)) || return 0
	make_in1g
	C2_OUTS=("$SHM/out1" "$SHM/out2" "$SHM/out3" "$SHM/out4")
	label 2 kcopyd "\`kcopyd copy --no-progress SRC D1 D2 D3 D4\` (reads once, flushes)"
	label 2 lib-copy "\`bench/lib-copy SRC D1 D2 D3 D4\`: the library, one kcopyd_copy() to 4 destinations"
	label 2 dcfldd "\`dcfldd if=SRC of=D1 of=D2 of=D3 of=D4 bs=1M status=off\`"
	label 2 nbdcopy-x4 "\`nbdcopy SRC Di\` four times, one after another"
	label 2 cp-x4 "\`cp SRC Di\` four times, one after another (for reference)"
	local extra=cp-x4
	[ "$QUICK" = 1 ] && extra=
	# shellcheck disable=SC2046
	run_case 2 $(with_cli) lib-copy dcfldd nbdcopy-x4 $extra
}

# ---- case cli (issue 3): the command next to the usual tools ---------------------

# Issue 3's "Done when": `kcopyd copy` next to dd bs=1M, cp, nbdcopy,
# qemu-img convert -W -m 16 and dcfldd with 3 of=, on the same 1 GiB file on
# /dev/shm.  Three-destination rows (kcopyd-3d, dcfldd-3d) are compared with
# each other, single-destination rows with kcopyd.
CLI_OUTS=()
ccli_prep() { rm -f "${CLI_OUTS[@]}"; }
ccli_run() {
	local outs=("${CLI_OUTS[@]}")
	case $1 in
	kcopyd-3d) timed cli "$1" "$2" "${KCOPYD[@]}" "$IN1G" "${outs[@]}" ;;
	dcfldd-3d) timed cli "$1" "$2" dcfldd if="$IN1G" of="${outs[0]}" of="${outs[1]}" of="${outs[2]}" bs=1M status=off ;;
	kcopyd) timed cli "$1" "$2" "${KCOPYD[@]}" "$IN1G" "${outs[0]}" ;;
	dd) timed cli "$1" "$2" dd if="$IN1G" of="${outs[0]}" bs=1M status=none ;;
	cp) timed cli "$1" "$2" cp "$IN1G" "${outs[0]}" ;;
	nbdcopy) timed cli "$1" "$2" nbdcopy "$IN1G" "${outs[0]}" ;;
	qemu-img) timed cli "$1" "$2" qemu-img convert -W -m 16 -f raw -O raw "$IN1G" "${outs[0]}" ;;
	esac
}
ccli_check() {
	case $1 in
	*-3d) "$FCMP" "$IN1G" "${CLI_OUTS[@]}" ;;
	*) "$FCMP" "$IN1G" "${CLI_OUTS[0]}" ;;
	esac
}

casecli() {
	if [ ${#KCOPYD[@]} -eq 0 ]; then
		note cli "skipped: the kcopyd command is not benchmarked in this run (see the note at the top)."
		return 0
	fi
	enough_space cli /dev/shm $((1024 * 4 + 1024)) || return 0
	make_in1g
	CLI_OUTS=("$SHM/cli-out1" "$SHM/cli-out2" "$SHM/cli-out3")
	local f=""
	[[ " ${KCOPYD[*]} " == *" --force "* ]] && f=" --force"
	label cli kcopyd-3d "\`kcopyd copy --no-progress$f SRC D1 D2 D3\` (reads once, flushes)"
	label cli dcfldd-3d "\`dcfldd if=SRC of=D1 of=D2 of=D3 bs=1M status=off\`"
	label cli kcopyd "\`kcopyd copy --no-progress$f SRC DST\` (flushes)"
	label cli dd "\`dd if=SRC of=DST bs=1M\`"
	label cli cp "\`cp SRC DST\`"
	label cli nbdcopy "\`nbdcopy SRC DST\` (local files)"
	label cli qemu-img "\`qemu-img convert -W -m 16 -f raw -O raw SRC DST\`"
	note cli "SRC: 1 GiB of random data on /dev/shm (the file of cases 1 and 2); every destination a new file on /dev/shm, deleted between runs. All seven commands alternate in every round. kcopyd flushes its destinations (the default), the others do not (on tmpfs a flush costs nothing)."
	run_case cli kcopyd-3d dcfldd-3d kcopyd dd cp nbdcopy qemu-img
}

# ---- case 3: 2 GiB on the disk, direct, flushed ------------------------------------

C3_IN=
fio_runtimes() { # LOGBASE.out (fio JSON) -> "read_ms=... write_ms=..."
	python3 - "$LOGBASE.out" <<'EOF2'
import json, sys
jobs = json.load(open(sys.argv[1]))["jobs"]
print(" ".join("%s_ms=%d" % (j["jobname"], j["job_runtime"]) for j in jobs))
EOF2
}
c3_prep() { rm -f "$DISK/out" "$DISK/fio-out"; [ "$1" = none ] || drop_caches; }
c3_run() {
	local i=$C3_IN o=$DISK/out
	case $1 in
	kcopyd) timed 3 "$1" "$2" "${KCOPYD[@]}" "${KCOPYD_DIRECT[@]}" "$i" "$o" ;;
	lib-copy) timed 3 "$1" "$2" "$LIBCOPY" --direct "$i" "$o" ;;
	dd) timed 3 "$1" "$2" dd if="$i" of="$o" iflag=direct oflag=direct bs=4M conv=fsync status=none ;;
	qemu-img) timed 3 "$1" "$2" qemu-img convert -W -m 16 -t none -T none -f raw -O raw "$i" "$o" ;;
	nbdcopy) timed 3 "$1" "$2" nbdcopy --flush "$i" "$o" ;;
	fio) timed 3 "$1" "$2" fio --output-format=json --ioengine=io_uring --direct=1 --bs=1M \
		--iodepth=16 --size="${C3_SIZE_MIB}M" \
		--name=read --rw=read --filename="$i" \
		--name=write --rw=write --filename="$DISK/fio-out" --end_fsync=1 ;;
	esac
}
c3_check() {
	# fio writes its own data: there is nothing to compare.
	if [ "$1" = fio ]; then
		EXTRA=$(fio_runtimes)
		return 0
	fi
	# The warm-up round compares everything; counted rounds 64 chunks + the ends.
	if [ "$2" = 0 ]; then "$FCMP" "$C3_IN" "$DISK/out"; else "$FCMP" --sample 64 "$C3_IN" "$DISK/out"; fi
}

case3() {
	mkdir -p "$DISK"
	enough_space 3 "$DISK" $((C3_SIZE_MIB * 3 + 1024)) || return 0
	C3_IN=$DISK/in-${C3_SIZE_MIB}m
	log "making $C3_SIZE_MIB MiB of random data in $C3_IN"
	random_file "$C3_IN" "$C3_SIZE_MIB"
	sync
	local f=--direct
	[ ${#KCOPYD_DIRECT[@]} -gt 0 ] || f="(no --direct option)"
	label 3 kcopyd "\`kcopyd copy --no-progress $f SRC DST\` (flushes)"
	label 3 lib-copy "\`bench/lib-copy --direct SRC DST\` (flushes)"
	label 3 dd "\`dd iflag=direct oflag=direct bs=4M conv=fsync\`"
	label 3 qemu-img "\`qemu-img convert -W -m 16 -t none -T none -f raw -O raw\`"
	label 3 nbdcopy "\`nbdcopy --flush SRC DST\`"
	label 3 fio "the limit: fio reading SRC and writing another file at once, 1 MiB, iodepth 16, direct, io_uring, end_fsync"
	note 3 "Source and destination on $(findmnt -no SOURCE,FSTYPE -T "$DISK" | tr -s ' '); \`sync; echo 3 > /proc/sys/vm/drop_caches\` before every run. Outputs compared in full in the warm-up round, on 64 spread 1 MiB chunks plus both ends in counted rounds."
	[ "$QUICK" = 1 ] && note 3 "--quick: a ${C3_SIZE_MIB} MiB source instead of 2 GiB."
	# shellcheck disable=SC2046
	run_case 3 $(with_cli) $(lib_rows lib-copy) dd qemu-img nbdcopy fio
	rm -f "$C3_IN"
}

# ---- case 4: a sparse image -> a new file ------------------------------------------

C4_SPARSE='' C4_DENSE=''
make_sparse() {
	C4_SPARSE=$SHM/sparse-${C4_VIRT_GIB}g
	C4_DENSE=$SHM/dense-64m
	sparse_image "$C4_SPARSE" "$C4_VIRT_GIB" "$IN1G"
	dd if="$IN1G" of="$C4_DENSE" bs=1M count=64 status=none
}

c4_prep() { rm -f "$SHM/out-sparse"; }
c4_run() {
	local s=$C4_SPARSE o=$SHM/out-sparse
	case $1 in
	kcopyd) timed 4 "$1" "$2" "${KCOPYD[@]}" "$s" "$o" ;;
	kcopyd-dense) timed 4 "$1" "$2" "${KCOPYD[@]}" "$C4_DENSE" "$o" ;;
	lib-copy) timed 4 "$1" "$2" "$LIBCOPY" --sparse "$s" "$o" ;;
	lib-copy-dense) timed 4 "$1" "$2" "$LIBCOPY" "$C4_DENSE" "$o" ;;
	cp) timed 4 "$1" "$2" cp --sparse=always "$s" "$o" ;;
	nbdcopy) timed 4 "$1" "$2" nbdcopy "$s" "$o" ;;
	qemu-img) timed 4 "$1" "$2" qemu-img convert -W -m 16 -f raw -O raw "$s" "$o" ;;
	esac
}
c4_check() {
	local src=$C4_SPARSE
	[[ $1 == *dense ]] && src=$C4_DENSE
	EXTRA="alloc_kb=$(du -k "$SHM/out-sparse" | cut -f1)"
	"$FCMP" "$src" "$SHM/out-sparse"
}

case4() {
	# Every output should be sparse; the margin covers one that is not.
	enough_space 4 /dev/shm $((C4_VIRT_GIB * 1024 + 2048)) || return 0
	make_in1g
	make_sparse
	label 4 kcopyd "\`kcopyd copy --no-progress IMG DST\` (sparse by default, flushes)"
	label 4 kcopyd-dense "\`kcopyd copy --no-progress DENSE64M DST\`: the goal's yardstick"
	label 4 lib-copy "\`bench/lib-copy --sparse IMG DST\`: the library alone (KCOPYD_SKIP_ZEROES; it reads every hole)"
	label 4 lib-copy-dense "\`bench/lib-copy DENSE64M DST\`"
	label 4 cp "\`cp --sparse=always IMG DST\`"
	label 4 nbdcopy "\`nbdcopy IMG DST\`"
	label 4 qemu-img "\`qemu-img convert -W -m 16 -f raw -O raw IMG DST\`"
	note 4 "IMG: ${C4_VIRT_GIB} GiB, 64 extents of 1 MiB of random data spread over it, the rest holes, on /dev/shm; DENSE64M: a 64 MiB file of random data. \"Output allocated\" is what du reports for the copy."
	[ "$QUICK" = 1 ] && note 4 "--quick: a ${C4_VIRT_GIB} GiB image instead of 8 GiB."
	# shellcheck disable=SC2046
	run_case 4 $(with_cli kcopyd-dense) $(lib_rows lib-copy lib-copy-dense) cp nbdcopy qemu-img
	rm -f "$C4_SPARSE" "$C4_DENSE"
}

# ---- case 5: 4 KiB copy-on-write jobs through the library ----------------------------

# Case 5 runs twice: "5" on /dev/shm (the engine's own cost) and "5d" on
# the disk with O_DIRECT (the device's).  C5_* describe the current one.
C5_SRC='' C5_DST='' C5_DIRECT='' C5_CASE=''
c5_prep() { :; }
fio_iops() { # LOGBASE.out (fio JSON) -> "iops=... cpu_us_per_io=..."
	python3 - "$LOGBASE.out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = j["read"] if j["read"]["io_bytes"] else j["write"]
ios = side["total_ios"]
cpu_s = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * j["job_runtime"] / 1000.0
print("iops=%.1f ios=%d cpu_us_per_io=%.3f runtime_ms=%d"
      % (side["iops"], ios, cpu_s * 1e6 / max(ios, 1), j["job_runtime"]))
EOF
}
c5_fio() { # CASE TOOL ROUND RW FILE
	timed "$1" "$2" "$3" fio --output-format=json --name="$4" --filename="$5" --rw="$4" --bs=4k \
		--iodepth=32 --ioengine=io_uring --direct="$C5_DIRECT" --number_ios="$C5_JOBS" \
		--randrepeat=0
}
c5_run() {
	local c=$C5_CASE f=()
	[ "$C5_DIRECT" = 1 ] && f=(--direct)
	case $1 in
	lib-window32) timed "$c" "$1" "$2" "$LIBJOBS" cow --jobs "$C5_JOBS" --window 32 --seed $(($2 + 1)) \
		"${f[@]}" "$C5_SRC" "$C5_DST" ;;
	lib-all) timed "$c" "$1" "$2" "$LIBJOBS" cow --jobs "$C5_JOBS" --all --seed $(($2 + 101)) \
		"${f[@]}" "$C5_SRC" "$C5_DST" ;;
	fio-randread) c5_fio "$c" "$1" "$2" randread "$C5_SRC" ;;
	fio-randwrite) c5_fio "$c" "$1" "$2" randwrite "$C5_DST" ;;
	esac
}
c5_check() {
	case $1 in
	lib-*) EXTRA=$(kv_line); [[ $EXTRA == *" ok=1"* ]] ;;
	fio-*) EXTRA=$(fio_iops) ;;
	esac
}
# run_case calls c5d_* for case 5d.
c5d_prep() { c5_prep "$@"; }
c5d_run() { c5_run "$@"; }
c5d_check() { c5_check "$@"; }

case5_on() { # CASE DIR DIRECT
	C5_CASE=$1 C5_DIRECT=$3
	C5_SRC=$2/c5-src C5_DST=$2/c5-dst
	log "case $1: 1 GiB source and destination in $2"
	dd if="$IN1G" of="$C5_SRC" bs=1M status=none conv=fsync
	dd if=/dev/zero of="$C5_DST" bs=1M count=1024 status=none conv=fsync
	local t
	for t in lib-window32 lib-all fio-randread fio-randwrite; do
		case $t in
		lib-window32) label "$1" "$t" "\`bench/lib-jobs cow --window 32\`: $C5_JOBS jobs, at most 32 outstanding" ;;
		lib-all) label "$1" "$t" "\`bench/lib-jobs cow --all\`: $C5_JOBS jobs submitted at once" ;;
		fio-*) label "$1" "$t" "\`fio --rw=${t#fio-} --bs=4k --iodepth=32 --ioengine=io_uring --direct=$3 --number_ios=$C5_JOBS\`" ;;
		esac
	done
	run_case "$1" lib-window32 lib-all fio-randread fio-randwrite
	rm -f "$C5_SRC" "$C5_DST"
}

case5() {
	make_in1g
	if enough_space 5 /dev/shm 3072; then
		note 5 "On /dev/shm: what the engine itself costs per job. $C5_JOBS jobs of 4 KiB, each from a random 4 KiB-aligned offset of a 1 GiB random file to the same offset of a 1 GiB file, one callback each; latency is submit to callback. Every run writes a pattern over 4096 of its blocks first and checks them against the source afterwards."
		case5_on 5 "$SHM" 0
	fi
	mkdir -p "$DISK"
	if enough_space 5d "$DISK" 3072; then
		note 5d "The same on $(findmnt -no SOURCE,FSTYPE -T "$DISK" | tr -s ' ') with O_DIRECT (fio --direct=1): what the device allows."
		case5_on 5d "$DISK" 1
	fi
}

# ---- case 6: a million queued jobs ----------------------------------------------------

c6_prep() { rm -f "$SHM/c6-dst"; }
c6_run() {
	local g=()
	[ "$1" = lib-queue-nogate ] && g=(--no-gate)
	timed 6 "$1" "$2" "$LIBJOBS" queue --jobs "$C6_JOBS" --pages 1024 --job-sectors 1 "${g[@]}" \
		"$SHM/c6-src" "$SHM/c6-dst"
}
c6_check() { EXTRA=$(kv_line); [[ $EXTRA == *" ok=1"* ]]; }

case6() {
	enough_space 6 /dev/shm 512 || return 0
	make_in1g
	dd if="$IN1G" of="$SHM/c6-src" bs=1M count=64 status=none
	label 6 lib-queue "\`bench/lib-jobs queue\`: $C6_JOBS jobs of 1 sector queued while a prepared callback holds the client's thread, 1024-page (4 MiB) pool"
	label 6 lib-queue-nogate "\`bench/lib-jobs queue --no-gate\`: the same submitted while the engine runs"
	note 6 "bytes/job = (RSS with every job queued - RSS after kcopyd_client_create, which includes the populated pool) / jobs. client = RSS after create - RSS before - pool. The destination is compared with the source afterwards."
	local tools=(lib-queue lib-queue-nogate)
	[ "$QUICK" = 1 ] && tools=(lib-queue)
	run_case 6 "${tools[@]}"
	rm -f "$SHM/c6-src"
}

# ---- main -------------------------------------------------------------------------------

mkdir -p "$BUILD/bench-results"
mkdir -p "$RES/logs" "$SHM"
: >"$RES/results.tsv"
: >"$RES/notes.tsv"
: >"$RES/labels.tsv"
install_deps
build
machine_info
log "results in $RES"
for c in 1 2 cli 3 4 5 6; do
	if has_case "$c"; then
		"case$c"
	fi
done
printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/machine.tsv"
printf 'duration\t%s s\n' "$((SECONDS - T0))" >>"$RES/machine.tsv"
python3 "$ROOT/bench/report.py" "$RES" "$OUT"
log "wrote $OUT in $((SECONDS - T0)) s"
