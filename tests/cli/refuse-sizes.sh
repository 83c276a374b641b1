#!/usr/bin/env bash
# Sizes and counts that overflow, are negative, have unknown units or make
# no sense for the devices: a clear message, exit 2, nothing written.
. "$(dirname "$0")/common.bash"

random src $((1024 * 1024))
random dst 4096
before=$(digest dst)

bad() {
	expect 2 "$@"
	[ "$(digest dst)" = "$before" ] || fail "dst changed by: $*"
	[ ! -e new ] || fail "new created by: $*"
	[ -s "$T/err" ] || fail "no message for: $*"
}

for v in -1 '' ' 1' 1x 1.5M 0x10 10MB 1e6 1KB K 99999999999999999999 18446744073709551616 16E 8E 9223372036854775807K; do
	bad copy --length "$v" src dst new
done
err_has "--length"
bad copy --length 9223372036854775807K src dst new
err_has "too large"
bad copy --length 1x src dst new
err_has "is not a size"
for v in 0 -1 x 1048577 99999999999; do
	bad copy --pages "$v" src dst new
done
bad copy --sub-job-size 1000 src dst new
bad copy --sub-job-size 0 src dst new
bad copy --sub-job-size 2G src dst new
bad copy --queue-depth 0 src dst new
bad copy --queue-depth 4097 src dst new
bad copy --rate 1.5M src dst new
# Ranges that make no sense for these devices.
bad copy --offset 100 src dst new
err_has "not a multiple of 512"
bad copy --dest-offset 100 src dst new
bad copy --offset 2M src dst new
bad copy --length 2M src dst new
err_has "past the end"
bad copy --offset 1M --length 1 src dst new
bad copy --offset 4611686018427387904 src dst new
bad copy --dest-offset 9223372036854775296 src dst new
err_has "too large"
bad zero --offset 8K dst
bad zero --offset 512 --dest-offset 1024 dst
bad zero --offset 100 --length 512 dst
# Usage errors.
bad copy src
bad copy --no-such-option src dst new
bad copy --length src dst new
bad info --length 1M dst
bad zero --verify dst
bad frobnicate src dst
exit 0
