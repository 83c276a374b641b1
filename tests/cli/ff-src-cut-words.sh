#!/usr/bin/env bash
# A source read that fails is told truthfully, in the text and the JSON:
#  - a source cut short under the copy (to 2 MiB, by the read at 8 MiB)
#    fails where the read failed, and the words say where the source ends
#    now (not "it ends there"); what the destination holds below is the
#    source as it was;
#  - a read of the source that fails in copy --verify's read-back, or in
#    verify, is the JSON's source_error (error and offset), not null.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/s $((20 * M)); cp m.back/s orig
ff_rule m "read s off=8M count=1 truncate=2M"
k copy --json m/s d
ff_fires m 0
ff_clear m
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "cut short: exit $rc, expected 1"; }
err_has "it has 2097152 bytes now, 20971520 when the run began"
at=$(json "j['source_error']['offset']")
json "j['source_error']['error']" | grep -qF "it has 2097152 bytes now" || fail "the JSON's words differ"
held=$(json "j['destinations'][0]['first_failing_offset']")
[ "$held" -le "$at" ] || fail "d is said to hold up to $held, past the failed read at $at"
cmp -s -n "$held" orig d || fail "d does not hold the source as it was up to $held"

random m.back/s2 $((20 * M))
ff_rule m "read s2 off=10M len=4K after=1 err=EIO"
k copy --json --verify m/s2 d2
ff_clear m
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "copy --verify: exit $rc, expected 1"; }
json_is "j['source_error']['offset']" $((10 * M))
json_is "j['source_error']['error']" "read failed at byte $((10 * M)): Input/output error"
json_is "j['destinations'][0]['verified']" False
ff_rule m "read s2 off=10M len=4K err=EIO"
k verify --json m/s2 d2
ff_clear m
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "verify: exit $rc, expected 1"; }
json_is "j['source_error']['offset']" $((10 * M))
json_is "j['destinations'][0]['status']" failed
exit 0
