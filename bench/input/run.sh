#!/usr/bin/env bash
# The typed-input benchmark (issue 15): `POST` of a 1 KiB JSON body into a struct, Ember's
# typed `body:` against axum 0.8's `Json<T>` (and Ember parsing the same body by hand in a
# route without declared input), plus `GET /plaintext` on every server, including Ember
# built from an older checkout (BASE, a route without declared input) to show that
# plaintext did not get slower.
#
# House method (bench/http): each server one worker pinned to CPU 1, `wrk -t1 -c64` pinned
# to CPU 0, 127.0.0.1 only; server CPU per request = Δ(utime+stime of the server, from
# /proc/PID/stat) ÷ requests; ROUNDS interleaved rounds (every server and scenario once
# per round), medians. Every server is started here and stopped by its own PID.
#
#   bench/input/run.sh [--duration S] [--warmup S] [--rounds N] [--base DIR] [--no-build]
#
# --base DIR: a checkout of an older Ember (its bench/input/ember-app is this one's, built
# there with BENCH_INPUT_SPEC=plain.yaml). Writes results/latest.md.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
dur=5 warm=1 rounds=3 base="" build=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) dur=$2; shift 2 ;;
    --warmup) warm=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in wrk taskset awk getconf; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
CLK_TCK=$(getconf CLK_TCK)
target=${CARGO_TARGET_DIR:-$here/target}
if [[ $build == 1 ]]; then
  if [[ -n $base ]]; then
    # The baseline shares the target directory (its dependencies are the same builds);
    # its binary is kept as bench-input-ember-base, then this one is relinked.
    mkdir -p "$base/bench/input"
    cp -r "$here/Cargo.toml" "$here/Cargo.lock" "$here/ember-app" "$here/axum" "$base/bench/input/"
    (cd "$base/bench/input" && BENCH_INPUT_SPEC=plain.yaml CARGO_TARGET_DIR="$target" \
      cargo build --release --quiet -p bench-input-ember)
    cp "$target/release/bench-input-ember" "$target/release/bench-input-ember-base"
    touch ember-app/src/main.rs
  fi
  cargo build --release --quiet
fi
mkdir -p results/logs
out=results/latest.md
runs=results/logs/runs.tsv
: >"$runs"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cpu_us() { # utime+stime of PID in microseconds
  local stat
  stat=$(cat "/proc/$1/stat") || return 1
  stat=${stat##*) }
  awk -v tck="$CLK_TCK" '{ printf "%d\n", ($12 + $13) * 1000000 / tck }' <<<"$stat"
}

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 did not open" >&2
  return 1
}

# name → command, port, scenarios
declare -A cmd port scen
cmd[ember-io_uring]="env EMBER_BACKEND=io_uring EMBER_WORKERS=1 EMBER_LISTEN=127.0.0.1:18481 $target/release/bench-input-ember"
port[ember-io_uring]=18481; scen[ember-io_uring]="json json-raw plaintext"
cmd[ember-tokio]="env EMBER_BACKEND=tokio EMBER_WORKERS=1 EMBER_LISTEN=127.0.0.1:18482 $target/release/bench-input-ember"
port[ember-tokio]=18482; scen[ember-tokio]="json json-raw plaintext"
cmd[axum]="env WORKERS=1 LISTEN=127.0.0.1:18483 $target/release/bench-input-axum"
port[axum]=18483; scen[axum]="json plaintext"
names=(ember-io_uring ember-tokio axum)
if [[ -n $base ]]; then
  cmd[ember-base-io_uring]="env EMBER_BACKEND=io_uring EMBER_WORKERS=1 EMBER_LISTEN=127.0.0.1:18484 $target/release/bench-input-ember-base"
  port[ember-base-io_uring]=18484; scen[ember-base-io_uring]="plaintext"
  cmd[ember-base-tokio]="env EMBER_BACKEND=tokio EMBER_WORKERS=1 EMBER_LISTEN=127.0.0.1:18485 $target/release/bench-input-ember-base"
  port[ember-base-tokio]=18485; scen[ember-base-tokio]="plaintext"
  names+=(ember-base-io_uring ember-base-tokio)
fi

one() { # server scenario round
  local name=$1 sc=$2 r=$3 url args=()
  case $sc in
    json) url=/json; args=(-s post.lua) ;;
    json-raw) url=/json-raw; args=(-s post.lua) ;;
    plaintext) url=/plaintext ;;
  esac
  taskset -c 1 ${cmd[$name]} >"results/logs/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_port "${port[$name]}"
  local full="http://127.0.0.1:${port[$name]}$url"
  [[ $warm != 0 ]] && taskset -c 0 wrk -t1 -c64 -d"${warm}s" "${args[@]}" "$full" >/dev/null
  local c0 c1 w
  c0=$(cpu_us "$pid")
  w=$(taskset -c 0 wrk -t1 -c64 -d"${dur}s" "${args[@]}" "$full")
  c1=$(cpu_us "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local reqs rps errs
  reqs=$(awk '/requests in/ {print $1}' <<<"$w")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$w" | tr '\n' ' ')
  local us
  us=$(awk -v c=$((c1 - c0)) -v n="$reqs" 'BEGIN { printf "%.3f", c / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$name" "$sc" "$us" "$rps" "${errs:-0 errors}" | tee -a "$runs"
}

for r in $(seq 1 "$rounds"); do
  for name in "${names[@]}"; do
    for sc in ${scen[$name]}; do
      one "$name" "$sc" "$r"
    done
  done
done

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
cell() { # name scenario → "µs / rps"
  local us rps
  us=$(awk -F'\t' -v n="$1" -v s="$2" '$2 == n && $3 == s { print $4 }' "$runs" | median)
  rps=$(awk -F'\t' -v n="$1" -v s="$2" '$2 == n && $3 == s { print $5 }' "$runs" | median)
  [[ -z $us ]] && { echo "–"; return; }
  printf '%s / %.1fk' "$us" "$(awk -v r="$rps" 'BEGIN { print r / 1000 }')"
}
{
  echo "# Typed-input benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`bench/input/run.sh --duration $dur --warmup $warm --rounds $rounds${base:+ --base BASE}\`: one server"
  echo "worker on CPU 1, \`wrk -t1 -c64\` on CPU 0, 127.0.0.1; $(nproc) cores, load average"
  echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end. Server CPU per request (µs) / requests per second,"
  echo "medians of $rounds interleaved rounds. \`json\`: \`POST\` of the 1 KiB body.json into a struct."
  echo
  echo "| server | json (typed) | json-raw (by hand) | plaintext |"
  echo "| --- | ---: | ---: | ---: |"
  for name in "${names[@]}"; do
    echo "| $name | $(cell "$name" json) | $(cell "$name" json-raw) | $(cell "$name" plaintext) |"
  done
  echo
  echo "Every run (round, server, scenario, µs/request, requests/s, wrk errors):"
  echo
  echo '```'
  cat "$runs"
  echo '```'
} >"$out"
cat "$out"
