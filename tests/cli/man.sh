#!/usr/bin/env bash
# kcopyd(1) documents every option --help lists, has its EXAMPLES and EXIT
# STATUS sections, and renders without warnings.
. "$(dirname "$0")/common.bash"

page=${KCOPYD_SRC:-$(dirname "$0")/../..}/man/kcopyd.1
[ -f "$page" ] || fail "no man page at $page"
"$KCOPYD" --help >help.txt || fail "--help failed"
opts=$(grep -o -- '--[a-z][a-z-]*' help.txt | sort -u)
[ -n "$opts" ] || fail "no options in --help"
sed 's/\\//g' "$page" >plain.txt     # \-\-dest\-offset -> --dest-offset
for o in $opts; do
	grep -qF -- "$o" plain.txt || fail "$o is not in kcopyd(1)"
done
for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	grep -q "^\.SH \"\?$s\"\?$" "$page" || fail "kcopyd(1) lacks $s"
done
if command -v groff >/dev/null; then
	groff -man -Tutf8 -ww -z "$page" 2>warn.txt
	[ ! -s warn.txt ] || fail "groff warnings: $(cat warn.txt)"
fi
exit 0
