#!/usr/bin/env bash
# Fuzz longer by hand:  bash fuzz/run.sh [SECONDS] [TARGET...]
# Builds the targets with clang, ASan and UBSan into build-fuzz, then runs each
# for SECONDS (default 600) from a copy of its seed corpus in fuzz/corpus/,
# keeping new corpus entries in fuzz/corpus-new/NAME and crashes in fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}; shift || true
[ -f build-fuzz/build.ninja ] ||
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-fuzz
names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(ls fuzz/corpus))
mkdir -p fuzz/crashes
for n in "${names[@]}"; do
	mkdir -p "fuzz/corpus-new/$n"
	cp -n "fuzz/corpus/$n"/* "fuzz/corpus-new/$n/"
	"build-fuzz/fuzz/fuzz-$n" -max_total_time="$secs" -artifact_prefix=fuzz/crashes/ \
		"fuzz/corpus-new/$n"
done
