#!/usr/bin/env bash
# The cache benchmark: a ~1 ms handler with and without `cache: hot` in Ember, and the same
# through moka's get_with (1 s TTL) in axum 0.8. wrk on 127.0.0.1 only, 200 connections,
# a bounded duration; every server is started here and stopped by its own PID.
#
#   bench/cache/run.sh [SECONDS]        # default 10 s per scenario; writes results/latest.md
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-10}"
workers="${WORKERS:-2}"
cargo build --release --quiet
mkdir -p results
out=results/latest.md

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 did not open" >&2
  return 1
}

run_wrk() { # name url
  local r
  r=$(wrk -t2 -c200 -d"${secs}s" --latency "$2")
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$r")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$r")
  echo "| $1 | $rps | $p99 |" | tee -a "$out.rows"
}

rm -f "$out.rows"
EMBER_LISTEN=127.0.0.1:8081 EMBER_WORKERS="$workers" ./target/release/bench-cache-ember 2>/dev/null &
pids+=($!)
LISTEN=127.0.0.1:8082 WORKERS="$workers" ./target/release/bench-cache-axum 2>/dev/null &
pids+=($!)
wait_port 8081
wait_port 8082

run_wrk "ember, no cache (/slow)" http://127.0.0.1:8081/slow
run_wrk "ember, cache: hot (/slow-cached)" http://127.0.0.1:8081/slow-cached
run_wrk "axum 0.8, no cache (/slow)" http://127.0.0.1:8082/slow
run_wrk "axum 0.8 + moka get_with (/slow-cached)" http://127.0.0.1:8082/slow-cached

{
  echo "# Cache benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "wrk -t2 -c200 -d${secs}s --latency, 127.0.0.1, $workers server workers, $(nproc) cores shared by wrk and the servers."
  echo
  echo "| scenario | requests/s | p99 |"
  echo "| --- | ---: | ---: |"
  cat "$out.rows"
} > "$out"
rm -f "$out.rows"
cat "$out"
