#!/usr/bin/env bash
# The README's first command: installs what is missing, builds kcopyd into
# build/, makes a sample disk image (random data with holes), copies it to
# three destinations with the progress line, verifies the copies and prints
# the summary.  Needs no input; removes its files when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing (scripts/deps.sh)"
bash scripts/deps.sh

build=${KCOPYD_BUILD_DIR:-build}
say "building into $build/"
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" >"$build.setup.log" 2>&1 || { cat "$build.setup.log"; exit 1; }
fi
ninja -C "$build" >"$build.ninja.log" 2>&1 || { tail -n 40 "$build.ninja.log"; exit 1; }
kcopyd=$PWD/$build/cmd/kcopyd
"$kcopyd" --version

work=$(mktemp -d "${TMPDIR:-/tmp}/kcopyd-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

say "making sample.img: 256 MiB, 128 MiB of random data in 8 pieces, holes between"
for i in 0 1 2 3 4 5 6 7; do
	head -c 16M /dev/urandom |
		dd of=sample.img bs=1M seek=$((i * 32)) conv=notrunc iflag=fullblock status=none
done
# A size that is not a multiple of 512 bytes: copied to the last byte too.
truncate -s 256M sample.img
head -c 1000 /dev/urandom >>sample.img
ls -ls sample.img

say "what kcopyd sees (kcopyd info)"
"$kcopyd" info sample.img

say "copying it to three destinations, reading it once"
echo "(throttled with --rate 96M so the progress line can be watched; without --rate it runs at full speed)"
"$kcopyd" copy --progress --rate 96M sample.img copy1.img copy2.img copy3.img

say "verifying the three copies against the source (kcopyd verify)"
"$kcopyd" verify sample.img copy1.img copy2.img copy3.img

say "holes stayed holes: apparent size and space used"
du -h --apparent-size sample.img copy1.img | sed 's/^/  apparent /'
du -h sample.img copy1.img copy2.img copy3.img | sed 's/^/  used     /'

say "the same copy at full speed, with --verify and the JSON summary"
rm -f copy1.img copy2.img copy3.img
"$kcopyd" copy --verify --json sample.img copy1.img copy2.img copy3.img >summary.json
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" - summary.json <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
mib = 1024 * 1024
print(f"  copied {j['bytes'] / mib:.1f} MiB to {len(j['destinations'])} destinations "
      f"in {j['seconds']:.2f} s ({j['rate'] / mib:.0f} MiB/s) on the {j['engine']} engine")
s = j["stats"]
print(f"  read {s['bytes_read'] / mib:.1f} MiB once (holes not read), "
      f"wrote {s['bytes_written'] / mib:.1f} MiB in all")
for d in j["destinations"]:
    print(f"  {d['path']}: {d['status']}{', verified' if d['verified'] else ''}")
print(f"  exit code {j['exit_code']}")
PY
say "done: see 'man -l man/kcopyd.1', and scripts/test.sh for the tests"
