#!/bin/bash
# The shipped library holds the engine and its public API, nothing of the
# tests: the fault endpoint lives in tests/fault/ and must not appear in the
# installed archive or the shared object.  Every name the version script
# exports has its own section in kcopyd(3).
. "$(dirname "$0")/common.bash"
need_cmd nm
: "${KCOPYD_BUILD:?}" "${KCOPYD_SRC:?}"
a=$KCOPYD_BUILD/lib/libkcopyd.a so=$KCOPYD_BUILD/lib/libkcopyd.so
[ -f "$a" ] && [ -f "$so" ] || skip "no libkcopyd.a/.so in $KCOPYD_BUILD/lib"

nm -g --defined-only "$a" >"$T/a.sym" || fail "nm $a"
nm -D --defined-only "$so" | sed "s/@.*//" >"$T/so.sym" || fail "nm -D $so"
grep -q ' T kcopyd_copy$' "$T/a.sym" || fail "nm finds no kcopyd_copy in $a (is the test reading the right file?)"
if grep -E ' (kc_fault_|kc_sock_)' "$T/a.sym" "$T/so.sym"; then
	fail "test endpoints are in the shipped library"
fi
# The shared object exports exactly the version script's names.
bad=$(awk '$2 == "T" && $3 !~ /^kcopyd_/ {print $3}' "$T/so.sym")
[ -z "$bad" ] || fail "libkcopyd.so exports names outside kcopyd_*: $bad"

map=$KCOPYD_SRC/lib/libkcopyd.map man=$KCOPYD_SRC/man/kcopyd.3
names=$(grep -oE '^[[:space:]]+kcopyd_[a-z0-9_]+;' "$map" | tr -d ' \t;')
[ -n "$names" ] || fail "no names read from $map"
missing=
for n in $names; do
	grep -q " T $n\$" "$T/so.sym" || fail "$n is in the version script but not exported by $so"
	# A section of its own, alone or in a list: .SS kcopyd_copy_ex, kcopyd_zero_ex
	grep -qE "^\.SS (.*[ ,])?$n(,|\$| )" "$man" || missing="$missing $n"
done
[ -z "$missing" ] || fail "kcopyd(3) has no .SS section for:$missing"
# The header's version is the project's (meson.build), which pkg-config
# and the command give.
hv=$(awk '/#define KCOPYD_VERSION_(MAJOR|MINOR|MICRO)/ {printf "%s%s", sep, $3; sep="."}' "$KCOPYD_SRC/include/kcopyd.h")
pv=$(sed -n "s/^  version : '\(.*\)',/\1/p" "$KCOPYD_SRC/meson.build" | head -n1)
[ -n "$pv" ] || fail "no version read from meson.build"
[ "$hv" = "$pv" ] || fail "include/kcopyd.h says version $hv, meson.build $pv"
echo "ok: $(echo "$names" | wc -w) exported names, each with a section; no test endpoint shipped"
