#!/usr/bin/env bash
# A read that returns 0 before the end of a file whose size did not change
# (strace injects it) is told as what it is: on the source, "a read ended
# early at byte N (the file still has S bytes)", never "cut short under the
# run" with two equal sizes; on a destination, the destination is "failed"
# (not verified: the read ended early), exit 1, never "differ" (nothing was
# shown to differ).  copy says the same of its source.  A destination that
# really is shorter still differs at its end (verify.sh).
. "$(dirname "$0")/common.bash"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # no LSan under ptrace
need_cmd strace

mib=$((1024 * 1024))
random a $mib
cp a b
# Is injection possible here (ptrace may be forbidden)?
strace -f -o /dev/null -e inject=pread64:retval=0:when=100 true 2>/dev/null ||
	skip "strace cannot inject here"

# inject N ARGS...: kcopyd ARGS with the Nth pread64 of each thread returning 0.
inject() {
	local n=$1; shift
	strace -f -o /dev/null -e inject=pread64:retval=0:when="$n" "$KCOPYD" "$@" \
		>"$T/out" 2>"$T/err" </dev/null
	rc=$?
}

src_hit=0 dst_hit=0
for n in $(seq 3 14); do
	inject "$n" verify --json a b
	grep -q "error while loading" "$T/err" && continue     # the loader's read
	grep -q "cut short under the run" "$T/out" "$T/err" && fail "when=$n: cut short: $(cat "$T/err")"
	$PY - "$T/out" "$rc" "$mib" >"$T/what" <<'PYEOF' || { cat "$T/out" "$T/err"; fail "when=$n: JSON"; }
import json, re, sys
j = json.load(open(sys.argv[1])); rc = int(sys.argv[2]); size = int(sys.argv[3])
d = j["destinations"][0]
assert d["status"] != "differ", "a read that ended early is no difference"
assert d["first_difference"] is None
assert j["exit_code"] == rc
se = j["source_error"]
if se:
    m = re.fullmatch(r"a read ended early at byte (\d+) \(the file still has (\d+) bytes\)", se["error"])
    assert m and int(m.group(1)) == se["offset"] and int(m.group(2)) == size, se
    assert d["status"] == "failed" and rc == 1
    assert j["bytes_compared"] <= se["offset"]
    print("src")
elif d["status"] == "failed":
    m = re.fullmatch(r"not verified: the read ended early at byte (\d+) \(the regular file still has (\d+) bytes\)", d["error"])
    assert m and int(m.group(2)) == size, d
    assert rc == 1
    assert j["bytes_compared"] == int(m.group(1)), (j["bytes_compared"], d)
    print("dst")
else:
    assert d["status"] == "match" and rc == 0
    print("none")
PYEOF
	case $(cat "$T/what") in
	src) src_hit=1
	     inject "$n" verify a b
	     [ "$rc" -eq 1 ] || fail "when=$n text: exit $rc"
	     err_has "a: a read ended early at byte "
	     err_has "(the file still has $mib bytes)" ;;
	dst) dst_hit=1
	     inject "$n" verify a b
	     [ "$rc" -eq 1 ] || fail "when=$n text: exit $rc"
	     err_has "b: not verified: the read ended early at byte "
	     grep -q "differs" "$T/err" && fail "when=$n: says differs: $(cat "$T/err")" ;;
	esac
done
[ "$src_hit" = 1 ] || fail "no injection hit the source's read"
[ "$dst_hit" = 1 ] || fail "no injection hit the destination's read"

# copy, the threads engine (pread64 in its workers): the same words.
random big $((16 * mib))
hit=0
for n in 3 4 5; do
	rm -f c
	KCOPYD_ENGINE=threads inject "$n" copy --json --buffered big c
	grep -q "error while loading" "$T/err" && continue
	grep -q "cut short under the run" "$T/out" "$T/err" && fail "copy when=$n: cut short: $(cat "$T/err")"
	[ "$rc" -eq 0 ] && continue
	[ "$rc" -eq 1 ] || fail "copy when=$n: exit $rc"
	$PY -c 'import json,re,sys; e=json.load(open(sys.argv[1]))["source_error"]["error"]; sys.exit(0 if re.fullmatch(r"a read ended early at byte \d+ \(the file still has 16777216 bytes\)", e) else 1)' "$T/out" ||
		fail "copy when=$n: source_error $(cat "$T/out")"
	err_has "big: a read ended early at byte "
	hit=1
done
[ "$hit" = 1 ] || fail "no injection hit copy's read"
exit 0
