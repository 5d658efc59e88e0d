#!/bin/sh
# Instructions per lookup for each router, counted by callgrind (repeatable, unlike time).
# Usage (from bench/router): scripts/count.sh [ITERS [FILTER [ROUTER[@SET]...]]]
#   FILTER: "" = all 130 paths, "static" / "param" = those of fully static routes / the
#   others, "=PATH" = that path, other text = the paths that contain it.
set -eu
iters=${1:-200}
filter=${2:-}
shift $(( $# < 2 ? $# : 2 ))
routers=${*:-ember ember-match ember-whole-path matchit path-tree}
cargo build --release --example count >/dev/null 2>&1 || cargo build --release --example count
out=$(mktemp -d)
for r in $routers; do
    lookups=$(valgrind --tool=callgrind --callgrind-out-file="$out/$r.out" \
        --toggle-collect='count::run_*' target/release/examples/count "$r" "$iters" "$filter" 2>/dev/null \
        | awk '{print $2}')
    ir=$(grep '^summary:' "$out/$r.out" | awk '{print $2}')
    echo "$r $ir $lookups" | awk '{printf "%-12s %7.1f instructions/lookup\n", $1, $2 / $3}'
done
rm -rf "$out"
