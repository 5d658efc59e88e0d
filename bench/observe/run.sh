#!/usr/bin/env bash
# Observability overhead (issue 16, point 7): `/plaintext` on one worker with metrics and
# the access log off, metrics on, the access log on (JSON, to a file) and both on. Server
# CPU per request (utime+stime from /proc/PID/stat around each wrk run, divided by the
# requests wrk counted), measured in the same run: the variants take turns, round after
# round, and the median of the rounds is reported with its overhead against `off`.
#
# One binary (bench/observe/app, whose spec declares `metrics:` and `access_log:`); the
# variants differ only by EMBER_METRICS, EMBER_ACCESS_LOG and EMBER_ACCESS_LOG_PATH. The
# server is pinned to CPU 1 and wrk (1 thread, 64 connections) to CPU 0. Only PIDs this
# script started are signalled.
#
# Usage: bench/observe/run.sh [--duration SECS] [--rounds N] [--port PORT] [--no-build]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DURATION=8
ROUNDS=3
PORT=18090
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) DURATION=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --port) PORT=${2:?}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
for tool in wrk taskset curl awk getconf; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
done

TARGET=${CARGO_TARGET_DIR:-$HERE/target}
BIN="$TARGET/release/bench-observe-ember"
CLK_TCK=$(getconf CLK_TCK)
ADDR="127.0.0.1:$PORT"
WORK=$(mktemp -d)
OUT="$HERE/results.md"
SERVER_PID=""

cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ $BUILD == 1 ]]; then
    (cd "$HERE" && CARGO_TARGET_DIR="$TARGET" cargo build --release --locked)
fi
if curl -s -o /dev/null --max-time 1 "http://$ADDR/"; then
    echo "run.sh: something already answers on $ADDR" >&2
    exit 1
fi

cpu_us() {
    local stat
    stat=$(cat "/proc/$1/stat") || return 1
    stat=${stat##*) }
    awk -v tck="$CLK_TCK" '{ printf "%d\n", ($12 + $13) * 1000000 / tck }' <<<"$stat"
}

# Prints the variant's environment.
variant_env() {
    case "$1" in
        off) echo "EMBER_METRICS=off EMBER_ACCESS_LOG=off" ;;
        metrics) echo "EMBER_METRICS=on EMBER_ACCESS_LOG=off" ;;
        log) echo "EMBER_METRICS=off EMBER_ACCESS_LOG=json EMBER_ACCESS_LOG_PATH=$WORK/access.log" ;;
        both) echo "EMBER_METRICS=on EMBER_ACCESS_LOG=json EMBER_ACCESS_LOG_PATH=$WORK/access.log" ;;
    esac
}

# One measured run: prints "cpu_us requests rps".
measure() { # $1 = variant
    rm -f "$WORK/access.log"
    # shellcheck disable=SC2046
    env $(variant_env "$1") EMBER_LISTEN="$ADDR" EMBER_WORKERS=1 taskset -c 1 "$BIN" \
        >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "http://$ADDR/plaintext" && break
        sleep 0.05
    done
    taskset -c 0 wrk -t1 -c64 -d2s "http://$ADDR/plaintext" >/dev/null # warm-up
    local before after
    before=$(cpu_us "$SERVER_PID")
    taskset -c 0 timeout $((DURATION + 10)) wrk -t1 -c64 -d"${DURATION}s" "http://$ADDR/plaintext" >"$WORK/wrk.out"
    after=$(cpu_us "$SERVER_PID")
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    local req rps
    req=$(awk '/ requests in / { print $1 }' "$WORK/wrk.out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out")
    if [[ $1 == log || $1 == both ]]; then
        local lines
        lines=$(wc -l <"$WORK/access.log")
        # Every request of warm-up, probe and run is logged.
        (( lines >= req )) || echo "run.sh: $1: only $lines log lines for $req requests" >&2
    fi
    echo "$((after - before)) $req $rps"
}

VARIANTS=(off metrics log both)
declare -A PER
for round in $(seq "$ROUNDS"); do
    for v in "${VARIANTS[@]}"; do
        read -r cpu req rps <<<"$(measure "$v")"
        per=$(awk -v c="$cpu" -v r="$req" 'BEGIN { printf "%.3f", c / r }')
        echo "round $round $v: $req requests, $rps req/s, $per µs CPU/request"
        PER[$v]+="$per "
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
base=$(median <<<"${PER[off]}")
{
    echo "| variant | server CPU per request (median of $ROUNDS) | overhead vs off |"
    echo "| --- | --- | --- |"
    for v in "${VARIANTS[@]}"; do
        m=$(median <<<"${PER[$v]}")
        o=$(awk -v m="$m" -v b="$base" 'BEGIN { printf "%+.1f %%", (m / b - 1) * 100 }')
        echo "| $v | $m µs | $o |"
    done
    echo
    echo "Rounds (µs per request): off: ${PER[off]}; metrics: ${PER[metrics]}; log: ${PER[log]}; both: ${PER[both]}"
} | tee "$OUT"
