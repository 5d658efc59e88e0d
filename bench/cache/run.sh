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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_wrk() { # name url server-pid
  local r t0 t1
  t0=$(cpu_ticks "$3")
  r=$(wrk -t2 -c200 -d"${secs}s" --latency "$2")
  t1=$(cpu_ticks "$3")
  local rps p99 reqs cpu
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$r")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$r")
  reqs=$(awk '/requests in/ {print $1}' <<<"$r")
  # Server CPU per request: utime+stime ticks (1/100 s) over the run, in µs.
  cpu=$(awk -v t=$((t1 - t0)) -v n="$reqs" 'BEGIN {printf "%.2f", t * 10000 / n}')
  echo "| $1 | $rps | $p99 | $cpu |" | tee -a "$out.rows"
}

rm -f "$out.rows"
EMBER_LISTEN=127.0.0.1:8081 EMBER_WORKERS="$workers" ./target/release/bench-cache-ember 2>/dev/null &
pids+=($!)
LISTEN=127.0.0.1:8082 WORKERS="$workers" ./target/release/bench-cache-axum 2>/dev/null &
pids+=($!)
wait_port 8081
wait_port 8082

run_wrk "ember, no cache (/slow)" http://127.0.0.1:8081/slow "${pids[0]}"
run_wrk "ember, cache: hot (/slow-cached)" http://127.0.0.1:8081/slow-cached "${pids[0]}"
run_wrk "axum 0.8, no cache (/slow)" http://127.0.0.1:8082/slow "${pids[1]}"
run_wrk "axum 0.8 + moka get_with (/slow-cached)" http://127.0.0.1:8082/slow-cached "${pids[1]}"

{
  echo "# Cache benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "wrk -t2 -c200 -d${secs}s --latency, 127.0.0.1, $workers server workers, $(nproc) cores shared by wrk and the servers."
  echo
  echo "| scenario | requests/s | p99 | server CPU µs/request |"
  echo "| --- | ---: | ---: | ---: |"
  cat "$out.rows"
} > "$out"
rm -f "$out.rows"
cat "$out"
