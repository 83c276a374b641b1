#!/usr/bin/env bash
# A destination (or the source) that is also where the command writes its
# own output, standard output or standard error, under any name, is refused
# at set-up (exit 2): it never receives both the copy and the messages.
# The destination keeps its bytes (what the shell's redirection left): no
# byte of the source, not even the JSON summary or the refusal itself.
. "$(dirname "$0")/common.bash"

M=$((1024 * 1024))
random src $((2 * M))
random keep $M
ln -s dst dst.link
kk() { "$KCOPYD" "$@" 2>"$T/err" </dev/null; }
# untouched WHAT FILE ORIG: FILE begins with the bytes of ORIG
# and holds none of the source.
untouched() {
	local what=$1 f=$2 orig=$3
	cmp -n "$(stat -c %s "$orig")" "$orig" "$f" || fail "$what: $f lost its bytes"
	[ "$(stat -c %s "$f")" -lt $((M / 2)) ] || fail "$what: $f received the copy"
}

# Standard output is the destination: opened without truncating (1<>).
random dst $((64 * 1024))
cp dst dst.orig
kk copy src dst 1<>dst; rc=$?
[ "$rc" -eq 2 ] || fail "stdout: exit $rc"
err_has "dst: is also where the command's standard output goes"
cmp dst dst.orig || fail "stdout: dst changed"
kk copy --json src keep dst.link 1<>dst; rc=$?
[ "$rc" -eq 2 ] || fail "stdout, --json, a symlink: exit $rc"
err_has "dst.link: is also where the command's standard output goes"
cmp dst dst.orig || fail "stdout, --json: dst changed (not even the JSON goes there)"
kk copy --json src keep dst 1>>dst; rc=$?
[ "$rc" -eq 2 ] || fail "stdout, --json, appending: exit $rc"
cmp dst dst.orig || fail "stdout, --json, appending: dst changed"
cmp keep <(head -c $M keep) || fail "keep changed"
cp dst.orig dst
kk zero dst 1<>dst; rc=$?
[ "$rc" -eq 2 ] || fail "zero, stdout: exit $rc"
cmp dst dst.orig || fail "zero, stdout: dst changed"
kk copy src "$T/../$(basename "$T")/dst" 1<>dst; rc=$?
[ "$rc" -eq 2 ] || fail "stdout, another spelling: exit $rc"
cmp dst dst.orig || fail "stdout, another spelling: dst changed"

# Standard error is the destination: not even the refusal goes there (it
# used to be appended, or written over a device's first sector); with
# --json the JSON says it.
"$KCOPYD" copy src dst 2>>dst >/dev/null </dev/null; rc=$?
[ "$rc" -eq 2 ] || fail "stderr: exit $rc"
cmp dst dst.orig || fail "stderr: dst changed (the refusal was written into it)"
"$KCOPYD" copy --json src dst 2>>dst >"$T/out" </dev/null; rc=$?
[ "$rc" -eq 2 ] || fail "stderr, --json: exit $rc"
cmp dst dst.orig || fail "stderr, --json: dst changed"
json_is "'is also where the command\'s standard error goes' in j['error']" True
"$KCOPYD" zero --length 4096 dst 2>>dst >/dev/null </dev/null; rc=$?
[ "$rc" -eq 2 ] || fail "zero, stderr: exit $rc"
cmp dst dst.orig || fail "zero, stderr: dst changed"
# Standard error is the source.
cp src src.orig
"$KCOPYD" copy src other 2>>src >/dev/null </dev/null; rc=$?
[ "$rc" -eq 2 ] || fail "stderr is the source: exit $rc"
cmp src src.orig || fail "stderr is the source: the source changed"
[ ! -e other ] || fail "stderr is the source: other created"

# The source as standard output would change under the copy.
cp src src.orig
kk copy src other 1>>src; rc=$?
[ "$rc" -eq 2 ] || fail "stdout is the source: exit $rc"
err_has "src: is also where the command's standard output goes; refusing to use it as the source"
[ ! -e other ] || fail "other created"
cmp -n $((2 * M)) src.orig src || fail "the source changed"
cp src.orig src

# Verify: what is compared must not receive the messages either.
kk verify src dst 1>>dst; rc=$?
[ "$rc" -eq 2 ] || fail "verify, stdout: exit $rc"

# Output elsewhere, or to /dev/null, or a terminal-less pipe: fine.
kk copy src dst >out.txt; rc=$?
[ "$rc" -eq 0 ] || fail "stdout elsewhere: exit $rc"
same src dst
kk copy --json src dst2 | cat >/dev/null
same src dst2
exit 0
