#!/usr/bin/env bash
# No io_uring: the kcopyd command under a real seccomp filter that denies
# io_uring_setup/enter/register (tests/robust/no-uring, with EPERM and with
# ENOSYS), with KCOPYD_ENGINE unset:
#  - `kcopyd copy --json SRC DST1 DST2` succeeds by itself on the thread
#    engine: exit 0, both destinations identical (cmp), and the JSON says
#    "engine": "threads", "exit_code": 0, every destination "ok";
#  - `kcopyd zero --json` likewise reports threads and zeroes;
#  - `kcopyd info --json FILE` reports "engine": "threads", and the text
#    form says "engine: threads";
#  - KCOPYD_ENGINE=io_uring under the filter: the engine cannot start, so
#    exit 2, an existing destination unchanged and a new one not created.
# Without the filter, where the kernel allows io_uring, info says io_uring
# (so the filter is what made the difference).
# Skips (77) while kcopyd or the no-uring helper (needs libseccomp) is not built.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

[ -n "${KCOPYD:-}" ] && [ -x "$KCOPYD" ] || skip "kcopyd is not built (KCOPYD=${KCOPYD:-unset})"
nou=${KCOPYD_BUILD:-}/tests/robust/no-uring
[ -x "$nou" ] || skip "the no-uring helper is not built at $nou (libseccomp missing?)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip "needs python3"
unset KCOPYD_ENGINE KCOPYD_DEBUG

T=$(mktemp -d "${TMPDIR:-/tmp}/kcopyd-robust.XXXXXX")
trap 'rm -rf "$T"' EXIT

# json FILE EXPR: evaluate a Python expression on the parsed JSON (as j).
json() {
	"$PY" -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}
# expect_json FILE EXPR WANT WHAT
expect_json() {
	local got
	got=$(json "$1" "$2")
	[ "$got" = "$3" ] || fail "$4: $2 is '$got', expected '$3'; output: $(head -c 2000 "$1")"
}

head -c 3000077 /dev/urandom >"$T/src"                   # not a multiple of 512

for e in EPERM ENOSYS; do
	# copy
	"$nou" -e "$e" "$KCOPYD" copy --json --no-progress "$T/src" "$T/d1-$e" "$T/d2-$e" \
		>"$T/copy.json" 2>"$T/copy.err" </dev/null
	rc=$?
	[ $rc -eq 0 ] || fail "$e: kcopyd copy exited $rc: $(cat "$T/copy.err")"
	cmp "$T/src" "$T/d1-$e" || fail "$e: destination 1 differs"
	cmp "$T/src" "$T/d2-$e" || fail "$e: destination 2 differs"
	expect_json "$T/copy.json" 'j["engine"]' threads "$e: copy --json"
	expect_json "$T/copy.json" 'j["exit_code"]' 0 "$e: copy --json"
	expect_json "$T/copy.json" 'len(j["destinations"])' 2 "$e: copy --json"
	expect_json "$T/copy.json" 'all(d["status"] == "ok" for d in j["destinations"])' True "$e: copy --json"

	# zero
	"$nou" -e "$e" "$KCOPYD" zero --json --no-progress --offset 4096 --length 1M "$T/d1-$e" \
		>"$T/zero.json" 2>"$T/zero.err" </dev/null
	rc=$?
	[ $rc -eq 0 ] || fail "$e: kcopyd zero exited $rc: $(cat "$T/zero.err")"
	expect_json "$T/zero.json" 'j["engine"]' threads "$e: zero --json"
	cmp -n 4096 "$T/src" "$T/d1-$e" || fail "$e: zero changed bytes before its range"
	cmp -n 1048576 -i 4096:0 "$T/d1-$e" /dev/zero || fail "$e: zero left non-zero bytes"
	cmp -i $((4096 + 1048576)) "$T/src" "$T/d1-$e" || fail "$e: zero changed bytes after its range"

	# info
	"$nou" -e "$e" "$KCOPYD" info --json "$T/src" >"$T/info.json" 2>"$T/info.err" </dev/null
	rc=$?
	[ $rc -eq 0 ] || fail "$e: kcopyd info exited $rc: $(cat "$T/info.err")"
	expect_json "$T/info.json" 'j["engine"]' threads "$e: info --json"
	"$nou" -e "$e" "$KCOPYD" info "$T/src" >"$T/info.txt" 2>&1 </dev/null ||
		fail "$e: kcopyd info (text) failed: $(cat "$T/info.txt")"
	grep -q '^engine: threads' "$T/info.txt" || fail "$e: info text does not say 'engine: threads': $(cat "$T/info.txt")"

	# io_uring forced where it is denied: a set-up error, nothing written.
	head -c 8192 /dev/urandom >"$T/keep"
	cp "$T/keep" "$T/keep.orig"
	KCOPYD_ENGINE=io_uring "$nou" -e "$e" "$KCOPYD" copy --no-progress "$T/src" "$T/keep" "$T/new-$e" \
		>"$T/forced.out" 2>"$T/forced.err" </dev/null
	rc=$?
	[ $rc -eq 2 ] || fail "$e: KCOPYD_ENGINE=io_uring under the filter: exit $rc, expected 2: $(cat "$T/forced.err")"
	cmp "$T/keep" "$T/keep.orig" || fail "$e: a refused copy changed an existing destination"
	[ ! -e "$T/new-$e" ] || fail "$e: a refused copy created its destination"
	[ -s "$T/forced.err" ] || fail "$e: a refused copy said nothing on stderr"
	echo "ok: io_uring denied with $e: copy, zero and info on threads; forced io_uring refused (exit 2)"
done

# The control, without the filter.
"$KCOPYD" info --json "$T/src" >"$T/info.json" 2>"$T/info.err" </dev/null || fail "info without the filter failed"
engine=$(json "$T/info.json" 'j["engine"]')
case $engine in
io_uring) echo "ok: without the filter the engine is io_uring" ;;
threads) echo "note: io_uring is unavailable here even without the filter" ;;
*) fail "info without the filter: engine '$engine'" ;;
esac
echo PASS
