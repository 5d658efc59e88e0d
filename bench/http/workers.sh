#!/usr/bin/env bash
# 1 vs 2 workers in shared mode (server and wrk on the same two cores, no pinning): how
# the share-nothing workers scale on this machine. Ember's hello (release) on each backend,
# plaintext and pipelined, interleaved repetitions; prints RPS and server CPU per request.
# Only the PIDs started here are stopped. Usage: bench/http/workers.sh [REPS] [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REPS=${1:-3}; D=${2:-5}; PORT=18088
BIN=$ROOT/target/release/hello
run() { # backend workers scenario -> "rps cpu_us"
    EMBER_LISTEN=127.0.0.1:$PORT EMBER_WORKERS=$2 EMBER_BACKEND=$1 "$BIN" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/plaintext" >/dev/null && break; sleep 0.02; done
    local args="-t2 -c256 http://127.0.0.1:$PORT/plaintext"
    [[ $3 == pipelined ]] && args="-t2 -c256 -s $ROOT/bench/http/pipeline.lua http://127.0.0.1:$PORT/plaintext -- 16"
    wrk -d1s $args >/dev/null
    local t0 t1 out
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    out=$(timeout $((D + 10)) wrk -d${D}s $args)
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    awk -v t=$((t1 - t0)) -v n="$(awk '/requests in/ {print $1}' <<<"$out")" -v d="$D" \
        'BEGIN {printf "%.0f %.2f\n", n / d, t * 10000 / n}'
}
echo "| backend | scenario | workers | RPS (median of $REPS) | server CPU µs/req |"
echo "|---|---|---:|---:|---:|"
for be in io_uring tokio; do
  for sc in plaintext pipelined; do
    declare -A R=(); declare -A C=()
    for _ in $(seq "$REPS"); do
      for w in 1 2; do
        read -r rps cpu < <(run "$be" "$w" "$sc")
        R[$w]+="$rps "; C[$w]+="$cpu "
      done
    done
    for w in 1 2; do
      med() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
      echo "| $be | $sc c256 | $w | $(med "${R[$w]}") | $(med "${C[$w]}") |"
    done
    unset R C
  done
done
