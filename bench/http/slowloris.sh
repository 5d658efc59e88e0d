#!/usr/bin/env bash
# wrk at 256 connections while 1,000 slowloris connections trickle request heads.
# Normal clients must see 0 errors; the slow ones must be closed at the header timeout
# (10 s by default). Loopback only; stops only the server it started.
#   bench/http/slowloris.sh [io_uring|tokio]
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-io_uring}
port=18190
cargo build --release -q -p hello
ulimit -n 4096
EMBER_BACKEND=$backend EMBER_WORKERS=2 EMBER_LISTEN=127.0.0.1:$port target/release/hello 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 0.5
python3 bench/http/slowloris.py $port 1000 20 &
slow=$!
sleep 1
wrk -t2 -c256 -d15s --latency http://127.0.0.1:$port/plaintext | grep -E "Requests/sec|Latency|errors|Non-2xx|99%"
wait $slow
echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2}') kB (backend=$backend)"
