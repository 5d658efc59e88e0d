#!/usr/bin/env bash
# The semantic cache's benchmark (issue 14, point 6), two parts:
#  1. lookup latency at 10k and 100k entries (embedding + exact scan, one thread):
#     the ignored release test ai::semantic::bench of ember-runtime;
#  2. through the gateway (examples/chat, `ember-chat`, embedded embedder): requests/s,
#     latency and the server's CPU per request for a semantic hit, a miss (a new prompt per
#     request: lookup, upstream call, fill) and an uncached request (temperature 0.7: no
#     lookup), CONNS keep-alive connections for SECS seconds each, a fresh server per mode.
#
#   bench/ai/semantic.sh                  # both parts
#   ONLY=gateway bench/ai/semantic.sh     # or ONLY=lookup
#
# Env: CONNS (32), SECS (10), EMBER_BACKENDS ("io_uring tokio"), WORKERS (2),
#      SEM_BENCH_SIZES ("10000,100000"). Results: bench/ai/results/semantic-STAMP.jsonl.
# Traffic goes to 127.0.0.1 only; only the processes this script started are stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CONNS=${CONNS:-32}
SECS=${SECS:-10}
WORKERS=${WORKERS:-2}
EMBER_BACKENDS=${EMBER_BACKENDS:-"io_uring tokio"}
ONLY=${ONLY:-"lookup gateway"}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUN_DIR=$(mktemp -d /tmp/ember-bench-sem.XXXXXX)
mkdir -p bench/ai/results
OUT=$ROOT/bench/ai/results/semantic-$(date -u +%Y%m%dT%H%M%SZ).jsonl
STARTED=()
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cleanup() { for p in "${STARTED[@]}"; do stop "$p"; done; }
trap cleanup EXIT

if [[ " $ONLY " == *" lookup "* ]]; then
  echo "== lookup latency (release test)" >&2
  SEM_BENCH_SIZES=${SEM_BENCH_SIZES:-10000,100000} \
    cargo test -q -p ember-runtime --release --lib ai::semantic::bench -- --ignored --nocapture \
    2>/dev/null | grep '"semantic_lookup"' | tee -a "$OUT"
fi

if [[ " $ONLY " == *" gateway "* ]]; then
  echo "== building (release)" >&2
  cargo build --release -q -p ember-tests --bin ai_upstream --bin chat_server
  (cd bench/ai && CARGO_TARGET_DIR=$TARGET/bench-ai cargo build --release -q --bin sem_load)
  LOAD=$TARGET/bench-ai/release/sem_load
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  "$TARGET/release/ai_upstream" --listen 127.0.0.1:0 --tokens 20 --token-interval-ms 0 \
    >"$RUN_DIR/upstream.out" 2>&1 &
  UP_PID=$!; STARTED+=("$UP_PID")
  for _ in $(seq 1 50); do grep -q "listening on" "$RUN_DIR/upstream.out" && break; sleep 0.1; done
  UP=$(sed -n 's/^listening on //p' "$RUN_DIR/upstream.out")
  for backend in $EMBER_BACKENDS; do
    for mode in hit miss uncached; do
      port=$(free_port)
      EMBER_LISTEN=127.0.0.1:$port EMBER_BACKEND=$backend EMBER_WORKERS=$WORKERS \
        CHAT_UPSTREAM_A=http://$UP/v1 CHAT_UPSTREAM_B=http://$UP/v1 \
        "$TARGET/release/chat_server" >"$RUN_DIR/ember-$backend-$mode.log" 2>&1 &
      pid=$!; STARTED+=("$pid")
      for _ in $(seq 1 100); do curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/v1/models" && break; sleep 0.1; done
      "$LOAD" --addr "127.0.0.1:$port" --mode "$mode" --conns "$CONNS" --secs "$SECS" \
        --pids "$pid" --label "ember-$backend" | tee -a "$OUT"
      stop "$pid"
    done
  done
fi
echo "== results: $OUT" >&2
