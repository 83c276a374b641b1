#!/usr/bin/env bash
# Up to 32 destinations in one copy, each identical; 33 is refused.
. "$(dirname "$0")/common.bash"

sparse src
dests=()
for i in $(seq 32); do dests+=("d$i"); done
expect 0 copy --json src "${dests[@]}"
json_is 'len(j["destinations"])' 32
json_is 'all(d["status"] == "ok" for d in j["destinations"])' True
for d in "${dests[@]}"; do same src "$d"; done
rm -f d*
expect 2 copy src "${dests[@]}" d33
err_has "at most 32"
[ ! -e d1 ] || fail "d1 created"
exit 0
