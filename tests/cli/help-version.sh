#!/usr/bin/env bash
# --help and --version, everywhere they can be given; usage errors exit 2.
. "$(dirname "$0")/common.bash"

for args in "--help" "-h" "help" "copy --help" "zero -h" "info --help"; do
	# shellcheck disable=SC2086
	expect 0 $args
	grep -q "^Usage: kcopyd copy" "$T/out" || fail "$args: no usage"
	grep -q -- "--dest-offset" "$T/out" || fail "$args: options missing"
done
want=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "${KCOPYD_SRC:-$(dirname "$0")/../..}/meson.build")
for args in "--version" "-V" "copy --version"; do
	# shellcheck disable=SC2086
	expect 0 $args
	grep -q "^kcopyd $want (libkcopyd [0-9.]*)$" "$T/out" || fail "$args: $(cat "$T/out")"
done
expect 2
grep -q "Usage" "$T/err" || fail "no usage on stderr"
expect 2 nonsense
err_has "unknown command"
expect 2 copy onlyone
expect 2 zero
expect 2 info
expect 2 copy --bogus a b
err_has "unknown option"
expect 2 info --rate 1M x
err_has "does not apply"
exit 0
