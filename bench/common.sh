# bench/common.sh: what bench/run.sh and bench/compare.sh share: logging,
# notes, free space, input files, and measuring runs in rounds.  Sourced, not
# run.  The caller sets RES (its results directory), ROUNDS (counted rounds)
# and TIMEOUT (seconds for any one run).
# shellcheck shell=bash

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
# A note shown under a case's table in BENCHMARKS.md (case 0: the header).
note() { printf '%s\t%s\n' "$1" "$2" >>"$RES/notes.tsv"; log "note (case $1): $2"; }

free_mib() { df -Pm "$1" | awk 'NR == 2 { print $4 }'; }

# enough_space CASE DIR MIB: false (with a note) when DIR has less free.
enough_space() {
	local have
	have=$(free_mib "$2")
	if [ "$have" -lt "$3" ]; then
		note "$1" "skipped: $2 has $have MiB free, the case needs $3 MiB."
		return 1
	fi
}

random_file() { # PATH MIB
	dd if=/dev/urandom of="$1" bs=1M count="$2" status=none
}

# sparse_image PATH GIB DATA: a GIB GiB file of holes but for 64 extents of
# 1 MiB, the first 64 MiB of DATA, at irregular offsets over the whole file.
sparse_image() {
	local i seg off
	seg=$(($2 * 1024 / 64))    # MiB per extent slot
	log "making a $2 GiB sparse image with 64 x 1 MiB of data"
	truncate -s "$2G" "$1"
	for ((i = 0; i < 64; i++)); do
		off=$((i * seg + (i * 7919) % (seg - 1)))
		dd if="$3" of="$1" bs=1M skip="$i" seek="$off" count=1 conv=notrunc status=none
	done
}

# ---- measuring ------------------------------------------------------------------

# timed CASE TOOL ROUND CMD...: run CMD under GNU time; sets T_WALL T_USER
# T_SYS T_RSS (seconds, seconds, seconds, KiB) and LOGBASE (its logs).
# Wall time is taken here to the microsecond; CPU and peak RSS come from
# time(1) (%M: the largest resident set of the command or any of its children).
timed() {
	local c=$1 t=$2 r=$3
	shift 3
	LOGBASE=$RES/logs/c$c-$t-r$r
	local tf=$LOGBASE.time start end
	start=$EPOCHREALTIME
	if ! timeout "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" \
		>"$LOGBASE.out" 2>"$LOGBASE.err"; then
		end=$EPOCHREALTIME
		log "case $c: $t failed in round $r (exit status in $tf, output in $LOGBASE.err)"
		return 1
	fi
	end=$EPOCHREALTIME
	read -r _ T_USER T_SYS T_RSS < <(tail -n 1 "$tf")
	T_WALL=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
}

# record CASE TOOL ROUND STATUS [EXTRA]: one line of results.tsv.
record() {
	[ "$3" -gt 0 ] || return 0      # round 0 is the warm-up
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" \
		"$T_WALL" "$T_USER" "$T_SYS" "$T_RSS" "${5:-}" >>"$RES/results.tsv"
}

# label CASE TOOL TEXT: how the tool was run, for the tables.
label() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES/labels.tsv"; }

# run_case CASE TOOL...: every round runs each tool once, in turn, through
# the case's functions: cN_prep TOOL, cN_run TOOL ROUND (timed), and
# cN_check TOOL ROUND (verifies the output; may set EXTRA).
run_case() {
	local c=$1 r t status
	shift
	local order=("$@")
	for ((r = 0; r <= ROUNDS; r++)); do
		log "case $c: round $r/$ROUNDS$([ "$r" = 0 ] && echo ' (warm-up)')"
		# A caller may define round_order ROUND TOOL... to print the
		# round's order, one tool a line (compare.sh swaps its pairs).
		declare -F round_order >/dev/null && mapfile -t order < <(round_order "$r" "$@")
		for t in "${order[@]}"; do
			EXTRA=
			T_WALL='' T_USER='' T_SYS='' T_RSS=''
			"c${c}_prep" "$t"
			if ! "c${c}_run" "$t" "$r"; then
				status=failed
			elif ! "c${c}_check" "$t" "$r" >"$LOGBASE.check" 2>&1; then
				status=wrong
				log "case $c: $t produced a WRONG result in round $r ($(head -c 300 "$LOGBASE.check"))"
			else
				status=ok
			fi
			record "$c" "$t" "$r" "$status" "$EXTRA"
		done
	done
	"c${c}_prep" none
}

# Outputs of the benchmark programs: the key=value line.
kv_line() { grep -m1 '^tool=' "$LOGBASE.out" || true; }
